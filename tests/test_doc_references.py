"""What the docs name exists in the code: every ``--option``, every config key, every reply code.

The option lists come from the programs themselves (``twistd chatd``'s and ``twistd
chatd-members``'s ``Options``, twistd's own, and ``chatd-admin``'s and ``chatd-client``'s
argparse help), the keys from ``chatd.config.KEYS`` and ``chatd.members.tap.KEYS``, the
reply codes from ``chatd.frontends.codes.Code``. A failure lists every offender with
its file and line. The sample sessions themselves are replayed by
``tests/integration/test_doc_sessions.py``.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

from twisted.scripts.twistd import ServerOptions
from twisted.trial.unittest import SynchronousTestCase

from chatd.config import KEYS as CHATD_KEYS
from chatd.frontends.codes import Code
from chatd.members import admin
from chatd.members.tap import KEYS as MEMBERS_KEYS
from chatd.members.tap import Options as MembersOptions
from chatd.tap import Options as ChatdOptions
from chatd_client.options import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *(ROOT / "docs" / name for name in
        ("operations.md", "protocol.md", "irc.md", "members.md"))]
EXAMPLES = sorted((ROOT / "etc").rglob("*.toml*")) + sorted((ROOT / "etc").rglob("*.service"))

# Options of programs that are not ours, named in the docs' command lines (useradd,
# systemctl, certbot).
FOREIGN = {"system", "home-dir", "shell", "now", "deploy-hook"}
# Three-digit numbers in code spans that are not line-protocol codes: IRC numerics (001-004,
# RPL_AWAY 301, ERR_SASLFAIL 904) and a number of seconds.
NOT_CODES = {
    "README.md": {"001", "004", "300"},
    "protocol.md": {"301"},
    "members.md": {"904"},
}

_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])")
# A plugin's name counts only after twistd (a bare "chatd" is prose about the daemon).
_PROGRAM = re.compile(r"(?<![\w/.-])(chatd-admin|chatd-client|twistd)(?![\w.-])"
                      r"|(?<=twistd)(?:\s+-\S+)*\s+(chatd-members|chatd)(?![\w.-])")
_SPAN = re.compile(r"`([^`]+)`")
_CODE_SPAN = re.compile(r"`(\d{3})(?:[ -][^`]*)?`")
_TABLE_CODE = re.compile(r"^\| (\d{3}) \|", re.MULTILINE)
_TOML_KEY = re.compile(r"^#?\s*([a-z][a-z0-9-]*)\s*=\s", re.MULTILINE)


def _twisted_options(options: object) -> set[str]:
    return {name.rstrip("=") for name in options.longOpt}  # type: ignore[attr-defined]


def _admin_options() -> set[str]:
    """chatd-admin's options, from its help and each subcommand's."""

    def help_text(argv: list[str]) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            admin.parse(argv)
        return out.getvalue()

    top = help_text(["--help"])
    commands = re.search(r"\{([a-z,-]+)\}", top)
    assert commands is not None, top
    texts = [top, *(help_text([command, "--help"]) for command in commands.group(1).split(","))]
    return {name for text in texts for name in re.findall(r"--([a-z][a-z-]*)", text)}


def program_options() -> dict[str, set[str]]:
    return {
        "chatd": _twisted_options(ChatdOptions()),
        "chatd-members": _twisted_options(MembersOptions()),
        "twistd": _twisted_options(ServerOptions()),
        "chatd-admin": _admin_options(),
        "chatd-client": set(re.findall(r"--([a-z][a-z-]*)", build_parser().format_help())),
    }


def _contexts(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each command a reader would run: a line of a fenced block, a
    code span of prose, and what prose says outside its code spans."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or path.suffix != ".md":
            yield number, line
            continue
        spans = _SPAN.findall(line)
        yield from ((number, span) for span in spans)
        yield number, _SPAN.sub(" ", line)


def unknown_options(path: Path, programs: dict[str, set[str]]) -> list[str]:
    """``--options`` in ``path`` that the program they follow does not have.

    In one command (see ``_contexts``), an option after ``chatd-admin`` or ``chatd-client``
    must be that program's; after ``twistd``, twistd's, or once the plugin is named
    (``twistd -n chatd``, ``twistd chatd-members``) the plugin's. One with no program before
    it (a table of options, prose) must be some program's.
    """
    anyone = set().union(*programs.values()) | FOREIGN
    twistd = programs["twistd"] | programs["chatd"] | programs["chatd-members"]
    found = []
    for number, text in _contexts(path):
        # The program's own group: a plugin's match starts at the space after twistd.
        marks = [(match.start(match.lastindex or 0), match.group(match.lastindex or 0))
                 for match in _PROGRAM.finditer(text)]
        for option in _OPTION.finditer(text):
            program = next((name for start, name in reversed(marks)
                            if start < option.start()), None)
            if program is None:
                allowed = anyone
            elif program == "twistd":
                allowed = twistd  # the plugin may be named further on, or in prose nearby
            else:
                allowed = programs[program] | FOREIGN
            if option.group(1) not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{number}: --{option.group(1)}"
                             f" (after {program or 'no program'})")
    return found


class OptionTests(SynchronousTestCase):
    def test_every_option_the_docs_name_exists(self) -> None:
        programs = program_options()
        found = [offender for path in DOCS + EXAMPLES
                 for offender in unknown_options(path, programs)]
        self.assertEqual(found, [], "options no program has:\n" + "\n".join(found))

    def test_the_option_lists_are_read(self) -> None:
        """A guard on the guard: empty lists would let anything through."""
        programs = program_options()
        self.assertIn("max-users", programs["chatd"])
        self.assertIn("listen", programs["chatd-members"])
        self.assertIn("pidfile", programs["twistd"])
        self.assertIn("to", programs["chatd-admin"])
        self.assertIn("remember", programs["chatd-client"])

    def test_every_key_of_the_toml_examples_exists(self) -> None:
        found = []
        for path, keys in ((ROOT / "etc" / "chatd.toml.example", CHATD_KEYS),
                           (ROOT / "etc" / "chatd-members.toml.example", MEMBERS_KEYS)):
            text = path.read_text(encoding="utf-8")
            for match in _TOML_KEY.finditer(text):
                if match.group(1) not in keys:
                    number = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)}")
        self.assertEqual(found, [], "keys the daemon does not read:\n" + "\n".join(found))

    def test_the_toml_examples_document_every_key(self) -> None:
        for path, keys in ((ROOT / "etc" / "chatd.toml.example", CHATD_KEYS),
                           (ROOT / "etc" / "chatd-members.toml.example", MEMBERS_KEYS)):
            named = set(_TOML_KEY.findall(path.read_text(encoding="utf-8")))
            self.assertEqual(sorted(set(keys) - named), [], path.name)

    def test_the_readme_lists_every_chatd_option(self) -> None:
        text = (ROOT / "README.md").read_text(encoding="utf-8")
        listed = set(re.findall(r"^\| `--([a-z0-9-]+)", text, re.MULTILINE))
        self.assertEqual(sorted(set(CHATD_KEYS) - listed), [])


class ReplyCodeTests(SynchronousTestCase):
    def test_every_reply_code_the_docs_name_exists(self) -> None:
        codes = {f"{code:03d}" for code in Code}
        found = []
        for path in DOCS:
            if path.name == "irc.md":
                continue  # IRC numerics
            text = path.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                for match in _CODE_SPAN.finditer(line):
                    code = match.group(1)
                    if code not in codes and code not in NOT_CODES.get(path.name, set()):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
        self.assertEqual(found, [], "codes the line protocol does not have:\n" + "\n".join(found))

    def test_the_protocol_table_is_the_code_table(self) -> None:
        text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
        reply_codes = text[text.index("## Reply codes"):text.index("## Commands")]
        table = {int(code) for code in _TABLE_CODE.findall(reply_codes)}
        self.assertEqual(sorted(table ^ {int(code) for code in Code}), [])


class AdminOutputTests(SynchronousTestCase):
    def test_chatd_admin_rooms_examples_have_todays_columns(self) -> None:
        """The rows of ``chatd-admin rooms`` in the docs line up under today's header."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            # The header alone: the public command needs a stopped daemon's data directory.
            admin._print_rooms([], None)
        header = out.getvalue().splitlines()[0]
        columns = [header.index(title) for title in ("OWNER ", "OWNER ID", "OWNED BY")]
        found, checked = [], 0
        for path in DOCS:
            lines = path.read_text(encoding="utf-8").splitlines()
            for number, line in enumerate(lines, 1):
                if not line.startswith("ROOM "):
                    continue
                checked += 1
                if line != header:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line!r} != {header!r}")
                for offset, row in enumerate(lines[number:], number + 1):
                    if re.fullmatch(r"\d+ rooms?", row):
                        break
                    if any(row[at - 1] != " " or row[at] == " " for at in columns):
                        found.append(f"{path.relative_to(ROOT)}:{offset}: {row!r}")
        self.assertTrue(checked)
        self.assertEqual(found, [], "\n".join(found))
