"""The import rules of docs/design.md, checked on the source: which part may import which.

A rule broken here is a seam leaking: the core reaching for a frontend, a frontend for the
concrete core or for a sibling frontend, the member service for chat. The check reads every
module's imports with ``ast`` (TYPE_CHECKING imports included), so it needs nothing imported.
Each rule is written once, in ``ALLOWED``; the cycle checks need no list of their own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[1]

# The protocol frontends: siblings that never import each other. Each is a package, but the
# line protocol is three modules (its glue, its terminal editing, telnet).
LINE_MODULES = {"line", "line_codec", "telnet"}
SIBLINGS = ("chatd.frontends.line", "chatd.frontends.irc", "chatd.frontends.web",
            "chatd.frontends.udp")
# What every frontend shares: the rest of chatd.frontends (connection, policy, interpreter,
# reply codes, rendering, framing, sinks), and the shared leaf.
SHARED = {"chatd.frontends", "chatd.kernel", "chatd.twisted_private"}

# Part -> the parts it may import (itself always). A part is the first package level under
# chatd (chatd.kernel, chatd.core, ...), a top-level module (chatd.delivery), or one of the
# frontends above.
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
    **{sibling: SHARED for sibling in SIBLINGS},
    # The list of frontends the tap walks: the one module that names every sibling.
    "chatd.frontends.registry": {"chatd.frontends", *SIBLINGS},
    # Accounts sit below the Portal: the password KDF is theirs (chatd.members.passwords).
    "chatd.members": {"chatd.kernel", "chatd.storage", "chatd.threads", "chatd.tls",
                      "chatd.twisted_private", "chatd.listening", "chatd.control"},
    # The chat daemon's control socket (its AMP commands, for the daemon and chatd-admin):
    # the core's seats only through a shape the tap hands in.
    "chatd.control": {"chatd.kernel"},
    # The realm turns an identity into a core session: the one place outside the tap that
    # knows the concrete core. Accounts only through the kernel's interfaces.
    "chatd.auth": {"chatd.kernel", "chatd.core"},
    "chatd.threads": set(),
    "chatd.tls": {"chatd.twisted_private"},
    # What a listener that can't be had says, for both daemons' taps.
    "chatd.listening": set(),
    # SIGHUP: the settings swapped whole, the certificates re-read.
    "chatd.reload": {"chatd.kernel", "chatd.tls"},
    "chatd.collector": set(),
    "chatd.metrics": {"chatd.kernel", "chatd.core"},
    # A node of a cluster: the Redis link and presence, applied to the core through
    # chatd.core.replica; imported by the tap only with --cluster.
    "chatd.cluster": {"chatd.kernel", "chatd.core", "chatd.bus", "chatd.history"},
}
# May import anything: they assemble the parts.
ASSEMBLERS = {"chatd.tap", "chatd.config", "chatd.__init__"}
# The bundled client speaks the wire protocol: the shared codec (reply codes and the shape
# of lines, framing) and the one rule for names.
CLIENT_MAY_IMPORT = {"chatd.frontends.codes", "chatd.frontends.framing", "chatd.kernel.names"}


def part_of(module: str) -> str:
    pieces = module.split(".")
    if pieces[:2] == ["chatd", "frontends"] and len(pieces) > 2:
        if pieces[2] in LINE_MODULES:
            return "chatd.frontends.line"
        if ".".join(pieces[:3]) in ALLOWED:
            return ".".join(pieces[:3])
    return ".".join(pieces[:2])


def _module_or_package(package: str, name: str) -> str:
    """``from package import name``: the module ``package.name`` if there is one, else
    ``package`` (the name is a class or function in it)."""
    candidate = ROOT.joinpath(*package.split("."), name)
    if candidate.is_dir() or candidate.with_suffix(".py").exists():
        return f"{package}.{name}"
    return package


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "chatd" or node.module.startswith("chatd."):
                found.update(_module_or_package(node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("chatd."))
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in sorted((ROOT / "chatd").rglob("*.py"))}


def part_cycles(modules: dict[str, set[str]]) -> list[list[str]]:
    """Groups of parts that import each other, through any modules (each group sorted)."""
    edges: dict[str, set[str]] = {}
    for module, targets in modules.items():
        if module in ASSEMBLERS:
            continue
        part = part_of(module)
        edges.setdefault(part, set()).update(
            part_of(target) for target in targets
            if target not in ASSEMBLERS and part_of(target) != part)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reached = {part: reach(part) for part in edges}
    groups = {tuple(sorted(part for part in reached if part in reached[start]
                           and start in reached[part]))
              for start in reached if start in reached[start]}
    return sorted(list(group) for group in groups)


def _names_only_service_makers(tree: ast.Module) -> Iterable[str]:
    """What in a plugin file is more than ``name = ServiceMaker(...)``."""
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "twisted.application.service" \
                and [alias.name for alias in node.names] == ["ServiceMaker"]:
            continue
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "ServiceMaker"
                and all(isinstance(arg, ast.Constant) for arg in node.value.args)):
            continue
        yield ast.unparse(node).splitlines()[0]


class ImportRules(SynchronousTestCase):
    def broken(self, modules: dict[str, set[str]]) -> list[str]:
        problems = []
        for module, targets in modules.items():
            if module in ASSEMBLERS:
                continue
            part = part_of(module)
            allowed = ALLOWED.get(part)
            if allowed is None:
                problems.append(f"{module}: its part {part} has no rule in this test")
                continue
            for target in sorted(targets):
                if part_of(target) == part or part_of(target) in allowed:
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

    def test_no_two_parts_import_each_other_through_any_modules(self) -> None:
        self.assertEqual(part_cycles(graph()), [])

    def test_the_bundled_client_imports_only_the_shared_codec_and_names(self) -> None:
        for path in sorted((ROOT / "clients").rglob("*.py")):
            for target in imports(path):
                self.assertIn(target, CLIENT_MAY_IMPORT, f"{path}: {target}")

    def test_plugins_only_name_service_makers(self) -> None:
        for path in sorted((ROOT / "twisted" / "plugins").glob("*.py")):
            self.assertEqual(list(_names_only_service_makers(ast.parse(path.read_text()))), [],
                             path)

    def test_the_rules_catch_a_leak(self) -> None:
        # The checker itself: a frontend importing the concrete core, the core a frontend, or
        # one frontend another (or its module that the shared part does not own), is reported.
        leaks = {"chatd.frontends.leak": {"chatd.core.service"},
                 "chatd.core.leak": {"chatd.frontends.line"},
                 "chatd.frontends.irc.leak": {"chatd.frontends.line_codec"},
                 "chatd.frontends.web.leak": {"chatd.frontends.udp.endpoint"},
                 "chatd.frontends.udp.fine": {"chatd.frontends.codes", "chatd.kernel.names"}}
        self.assertEqual(self.broken(leaks), [
            "chatd.frontends.leak imports chatd.core.service",
            "chatd.core.leak imports chatd.frontends.line",
            "chatd.frontends.irc.leak imports chatd.frontends.line_codec",
            "chatd.frontends.web.leak imports chatd.frontends.udp.endpoint",
        ])

    def test_a_cycle_between_parts_is_caught_through_any_modules(self) -> None:
        modules = {"chatd.bus.a": {"chatd.history.b"}, "chatd.history.c": {"chatd.bus.d"},
                   "chatd.core.x": {"chatd.kernel.y"}}
        self.assertEqual(part_cycles(modules), [["chatd.bus", "chatd.history"]])

    def test_a_plugin_with_more_than_service_makers_is_caught(self) -> None:
        tree = ast.parse('from chatd.frontends.udp.endpoint import parse\nudp = parse\n')
        self.assertEqual(list(_names_only_service_makers(tree)), [
            "from chatd.frontends.udp.endpoint import parse", "udp = parse"])
