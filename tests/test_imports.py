"""The import rules of docs/design.md, checked on the source: which part may import which.

A rule broken here is a seam leaking: the core reaching for a frontend, a frontend for the
concrete core, the member service for chat. The check reads every module's imports with
``ast`` (TYPE_CHECKING imports included), so it needs nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[1]

# Part -> the parts it may import (itself always). A part is the first package level under
# chatd (chatd.kernel, chatd.core, ...), or a top-level module (chatd.delivery).
ALLOWED: dict[str, set[str]] = {
    "chatd.kernel": set(),
    "chatd.core": {"chatd.kernel"},
    "chatd.bus": {"chatd.kernel"},
    "chatd.delivery": {"chatd.kernel"},
    "chatd.storage": {"chatd.kernel"},
    "chatd.history": {"chatd.kernel", "chatd.storage"},
    "chatd.files": {"chatd.kernel", "chatd.storage"},
    "chatd.twisted_private": set(),
    "chatd.frontends": {"chatd.kernel", "chatd.twisted_private"},
    "chatd.members": {"chatd.kernel", "chatd.storage", "chatd.auth.passwords", "chatd.threads",
                      "chatd.tls", "chatd.twisted_private", "chatd.listening"},
    # The realm turns an identity into a core session: the one place outside the tap that
    # knows the concrete core.
    "chatd.auth": {"chatd.kernel", "chatd.members", "chatd.core"},
    "chatd.threads": set(),
    "chatd.tls": {"chatd.twisted_private"},
    # What a listener that can't be had says, for both daemons' taps.
    "chatd.listening": set(),
    "chatd.metrics": {"chatd.kernel", "chatd.core"},
    # A node of a cluster: the Redis link and presence, applied to the core through
    # chatd.core.replica; imported by the tap only with --cluster.
    "chatd.cluster": {"chatd.kernel", "chatd.core", "chatd.bus", "chatd.history"},
}
# May import anything: they assemble the parts.
ASSEMBLERS = {"chatd.tap", "chatd.config", "chatd.__init__"}


def part_of(module: str) -> str:
    pieces = module.split(".")
    if pieces[:2] == ["chatd", "auth"] and len(pieces) > 2 and pieces[2] == "passwords":
        return "chatd.auth.passwords"
    return ".".join(pieces[:2])


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "chatd":
                found.update(f"chatd.{alias.name}" for alias in node.names)
            elif node.module.startswith("chatd."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("chatd."))
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in sorted((ROOT / "chatd").rglob("*.py"))}


class ImportRules(SynchronousTestCase):
    def broken(self, modules: dict[str, set[str]]) -> list[str]:
        problems = []
        for module, targets in modules.items():
            if module in ASSEMBLERS:
                continue
            part = part_of(module)
            if part == "chatd.auth.passwords":
                part = "chatd.auth"
            allowed = ALLOWED.get(part)
            if allowed is None:
                problems.append(f"{module}: its part {part} has no rule in this test")
                continue
            for target in sorted(targets):
                target_part = part_of(target)
                if target_part == part or target_part in allowed or any(
                    target.startswith(a + ".") or target == a for a in allowed
                ):
                    continue
                problems.append(f"{module} imports {target}")
        return problems

    def test_every_import_follows_the_rules(self) -> None:
        self.assertEqual(self.broken(graph()), [])

    def test_no_two_modules_import_each_other(self) -> None:
        modules = graph()
        pairs = sorted(
            (a, b) for a, targets in modules.items() for b in targets
            if a < b and a in modules.get(b, set())
        )
        self.assertEqual(pairs, [])

    def test_the_bundled_client_imports_only_the_shared_codec(self) -> None:
        for path in sorted((ROOT / "clients").rglob("*.py")):
            for target in imports(path):
                self.assertIn(target, {"chatd.frontends.codes", "chatd.frontends.framing"},
                              f"{path}: {target}")

    def test_the_rules_catch_a_leak(self) -> None:
        # The checker itself: a frontend importing the concrete core, or the core a
        # frontend, is reported.
        leaks = {"chatd.frontends.leak": {"chatd.core.service"},
                 "chatd.core.leak": {"chatd.frontends.line"}}
        self.assertEqual(self.broken(leaks), [
            "chatd.frontends.leak imports chatd.core.service",
            "chatd.core.leak imports chatd.frontends.line",
        ])
