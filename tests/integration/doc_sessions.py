"""Sample sessions in the Markdown docs, read out and replayed against a real daemon.

A sample session is one or more fenced code blocks, each what one terminal showed: lines
starting with ``> `` were typed, every other line is what the server sent. An HTML comment
just before a block (invisible on the rendered page) says which session and terminal it is::

    <!-- session: first
    terminal: alice -->

and may add, one per line:

- ``daemon: ARGS``: options the session's daemon gets (besides a fresh data directory, a port
  and cheap hashing);
- ``setup NAME: LINE``: a line terminal NAME types before the shown part begins, its answers
  not shown (a terminal with only setup lines is never shown: the other people in the room).

Every session gets a daemon of its own. Each terminal connects at the start, in the order it
is first named; setup lines run first, in order. Then the terminals take turns, as the
transcripts read: the terminal whose turn it is types its lines one after the other, each
once every line shown before it has arrived, and after each one waits for its answer (the
final reply; for a message, its echo). When the next line it shows is one it has not been
sent yet, the turn goes to the next terminal (in the order they were named) that is not
waiting. Whether a line is on its way is known, not guessed: a ``/help`` round trip (its
``214`` lines are dropped) proves everything sent before it has been read. So every line
each terminal shows is checked, in order, and no line it does not show may arrive.

A block whose first line is ``$ printf '...' | nc -N 127.0.0.1 7777`` is a pipeline: the
printf text is sent at once, the sending side closed, and everything up to the close is
compared.

Times, ids and ports may differ (``normalize``); nothing else may.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.harness import ConnectionClosed, Daemon, Line, LineClient

_MARKER = re.compile(r"<!--\s*session:(.*?)-->", re.DOTALL)
_FENCE = re.compile(r"^(\s*)```")
_PIPE = re.compile(r"^\$ printf '([^']*)' \| nc -N \S+ \d+$")

_NORMALIZE = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"), "<time>"),
    (re.compile(r"\b\d\d:\d\d(?::\d\d)?\b"), "<hh:mm>"),
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<id>"),
    (re.compile(r"\bchatd-\d+\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+\b"), r"\1:<port>"),
)


def normalize(line: str) -> str:
    """``line`` with what differs from run to run (times, ids, ports) replaced by a tag."""
    for pattern, tag in _NORMALIZE:
        line = pattern.sub(tag, line)
    return line


@dataclass(frozen=True, slots=True)
class Item:
    typed: bool
    text: str
    where: str  # file:line, for the failure message


@dataclass(slots=True)
class Terminal:
    name: str
    setup: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    pipe: bytes | None = None
    shown: bool = False


@dataclass(slots=True)
class Session:
    doc: str
    name: str
    where: str
    daemon_args: list[str] = field(default_factory=list)
    terminals: dict[str, Terminal] = field(default_factory=dict)

    def terminal(self, name: str) -> Terminal:
        return self.terminals.setdefault(name, Terminal(name))


def _block_after(lines: list[str], start: int) -> tuple[int, list[str]]:
    """The fenced block starting at or after line ``start``: (its first line's index, lines)."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    opening = _FENCE.match(lines[index]) if index < len(lines) else None
    if opening is None:
        raise ValueError(f"line {start + 1}: a session marker must be followed by a ``` block")
    indent = len(opening.group(1))
    body: list[str] = []
    for line in lines[index + 1:]:
        if _FENCE.match(line):
            return index + 1, body
        body.append(line[indent:] if line[:indent].isspace() else line)
    raise ValueError(f"line {index + 1}: the block is not closed")


def sessions(path: Path) -> list[Session]:
    """Every marked session of the Markdown file ``path``, in the order they begin."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: dict[str, Session] = {}
    for marker in _MARKER.finditer(text):
        marker_line = text.count("\n", 0, marker.start()) + 1
        end_line = text.count("\n", 0, marker.end()) + 1
        head, *rest = marker.group(1).strip().splitlines()
        session = found.setdefault(
            head.strip(), Session(path.name, head.strip(), f"{path.name}:{marker_line}"))
        shown = ""
        for entry in rest:
            key, _, value = entry.strip().partition(":")
            key, value = key.strip(), value.strip()
            if key == "terminal":
                shown = value
                session.terminal(value)
            elif key == "daemon":
                session.daemon_args.extend(value.split())
            elif key.startswith("setup "):
                session.terminal(key.removeprefix("setup ").strip()).setup.append(value)
            else:
                raise ValueError(f"{path.name}:{marker_line}: unknown marker key {key!r}")
        if not shown:
            raise ValueError(f"{path.name}:{marker_line}: the marker names no terminal")
        first, body = _block_after(lines, end_line)
        terminal = session.terminal(shown)
        if terminal.shown:
            raise ValueError(f"{path.name}:{marker_line}: {shown} is shown twice in {head}")
        terminal.shown = True
        for offset, line in enumerate(body):
            where = f"{path.name}:{first + 1 + offset}"
            pipe = _PIPE.match(line)
            if pipe and offset == 0:
                terminal.pipe = pipe.group(1).replace("\\n", "\n").encode()
            elif line.startswith("> "):
                terminal.items.append(Item(True, line[2:], where))
            elif line.strip():
                terminal.items.append(Item(False, line.rstrip(), where))
    return list(found.values())


class Mismatch(AssertionError):
    pass


def _is_message(typed: str) -> bool:
    """A line that is said (its echo answers it) rather than a command (its reply does)."""
    return not typed.startswith("/") or typed.startswith(("//", "/me "))


class _Player:
    """One terminal during a replay: its connection and how far along its transcript it is."""

    def __init__(self, terminal: Terminal, client: LineClient) -> None:
        self.terminal = terminal
        self.client = client
        self.at = 0
        self.closed = False
        self.seen: list[str] = []

    @property
    def items(self) -> list[Item]:
        return self.terminal.items

    def done(self) -> bool:
        return self.at >= len(self.items)

    def typing_next(self) -> bool:
        return not self.done() and self.items[self.at].typed

    def fail(self, problem: str) -> Mismatch:
        where = self.items[min(self.at, len(self.items) - 1)].where if self.items else "?"
        seen = "\n".join(f"    {line}" for line in self.seen[-15:])
        return Mismatch(f"{where}: {self.terminal.name}: {problem}\n  lines so far:\n{seen}")

    def take(self, line: Line) -> Item:
        """Check ``line`` against the next line shown, and move past it."""
        got = str(line)
        self.seen.append(got)
        if self.done() or self.items[self.at].typed:
            following = "the end" if self.done() else f"> {self.items[self.at].text}"
            raise self.fail(f"the server sent {got!r}, but the doc shows {following} next")
        wanted = self.items[self.at]
        if normalize(got) != normalize(wanted.text):
            raise self.fail(f"the doc shows\n    {wanted.text!r}\n  the server sent\n    {got!r}")
        self.at += 1
        return wanted

    def read(self) -> Line:
        try:
            return self.client.read_line()
        except (TimeoutError, ConnectionClosed) as error:
            wanted = "nothing" if self.done() else repr(self.items[self.at].text)
            raise self.fail(f"waiting for {wanted}: {error}") from None

    def type_next(self) -> None:
        """Type the next line and read up to its answer."""
        typed = self.items[self.at]
        self.seen.append(f"> {typed.text}")
        self.at += 1
        self.client.send(typed.text)
        if self.done() or self.items[self.at].typed:
            return  # nothing shown for it: the next round trip checks nothing came
        while True:
            line = self.take(self.read())
            if _is_message(typed.text) or (line.text[3:4] != "-" and line.text[:1] in "2345"):
                break
        if typed.text.split(" ", 1)[0].lower() == "/quit":
            self.closed = True

    def catch_up(self) -> bool:
        """Read whatever the server has sent this terminal; whether it may type now."""
        if self.closed:
            if not self.done():
                raise self.fail("the connection closed, but the doc shows more")
            return False
        self.client.send("/help")
        while True:
            line = self.read()
            if line.code == 214:
                if line.final:
                    break
                continue
            self.take(line)
        return self.typing_next()


def _run_pipe(daemon: Daemon, terminal: Terminal) -> None:
    assert terminal.pipe is not None
    client = daemon.connect(greet=False)
    player = _Player(terminal, client)
    try:
        client.send_raw(terminal.pipe)
        client.sock.shutdown(socket.SHUT_WR)
        for line in client.wait_closed():
            player.take(line)
        if not player.done():
            raise player.fail("the server closed the connection, but the doc shows more")
    finally:
        client.close()


def replay(session: Session, daemon: Daemon) -> None:
    """Replay ``session`` against the running ``daemon``; Mismatch on the first difference."""
    players: list[_Player] = []
    try:
        for terminal in session.terminals.values():
            if terminal.pipe is not None:
                continue
            client = daemon.connect(greet=False)
            player = _Player(terminal, client)
            players.append(player)
            shows_greeting = (not terminal.setup and terminal.items
                              and not terminal.items[0].typed
                              and terminal.items[0].text.startswith("220"))
            if not shows_greeting:
                client.read_line()
        _setup(players)
        for terminal in session.terminals.values():
            if terminal.pipe is not None:
                _run_pipe(daemon, terminal)
        _take_turns([player for player in players if player.terminal.shown])
    finally:
        for player in players:
            player.client.close()


def _setup(players: list[_Player]) -> None:
    """Type every setup line, in order; then forget all they caused (it is not shown)."""
    for player in players:
        client = player.client
        for typed in player.terminal.setup:
            client.send(typed)
            while True:
                line = client.read_line()
                if line.final and (_is_message(typed) or line.code >= 200):
                    break
            player.closed = line.code == 221
    for player in players:
        if player.terminal.setup and not player.closed:
            player.client.sync()
            player.client.events.clear()


def _take_turns(players: list[_Player]) -> None:
    turn = 0
    while not all(player.done() for player in players):
        for step in range(len(players)):
            player = players[(turn + step) % len(players)]
            if player.done() or not (player.typing_next() or player.catch_up()):
                continue
            turn = (turn + step) % len(players)
            while True:
                player.type_next()
                if not (player.typing_next() or (not player.done() and player.catch_up())):
                    break
            break
        else:
            waiting = "; ".join(f"{p.terminal.name} waits for {p.items[p.at].text!r} "
                                f"({p.items[p.at].where})" for p in players if not p.done())
            raise Mismatch(f"nobody can type: {waiting}")
        turn = (turn + 1) % len(players)
    for player in players:
        if not player.closed:
            player.catch_up()  # nothing more may have come

