"""Plain-text transcripts of chosen rooms, for archiving: one timestamped line per event.

An operator names the rooms (``transcripts``: names, or ``*`` for every room); each gets a
directory under ``transcripts-dir`` and one file per UTC day, named ``YYYY-MM-DD.log`` after
the day of the event's own time (``at``, from the core's clock), so the files rotate at
midnight UTC by themselves. Lines are UTF-8; a control or format character (a newline, an
escape, a bidi override) and the backslash are written as escapes (``\\x1b``, ``\\u202e``,
``\\\\``), so one event is always one line and a terminal showing the file is not driven by it.

Writes are batched like history's: lines are queued on the reactor thread and appended by the
history writer thread every ``window`` seconds.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from chatd.kernel.events import Event, Joined, Left, ModeChanged, Said, TopicSet
from chatd.kernel.interfaces import IBusListener
from chatd.kernel.names import fold

log = Logger()

ALL = "*"
_ESCAPED = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                      r"\ufeff\ufff9-\ufffb]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with every control and format character (and ``\\``) as an escape."""
    return _ESCAPED.sub(_escape, text)


def describe(event: Event) -> str | None:
    """An event as a transcript line's text, or None for events transcripts skip."""
    match event:
        case Said(sender=sender, text=text, action=False):
            return f"<{sender}> {text}"
        case Said(sender=sender, text=text):
            return f"* {sender} {text}"
        case Joined(who=who):
            return f"-- {who} joined"
        case Left(who=who, reason=reason, message=message, by=by):
            said = f": {message}" if message else ""
            kicker = f" by {by}" if by else ""
            return f"-- {who} left ({reason.value}{kicker}{said})"
        case TopicSet(who=who, topic=topic):
            return f"-- {who} set the topic: {topic}" if topic else f"-- {who} cleared the topic"
        case ModeChanged(who=who, mode=mode, arg=""):
            return f"-- {who} set {mode}"
        case ModeChanged(who=who, mode=mode) if mode[1:] == "k":
            # A +k carries the room's password: an archive kept for years must not hold it.
            return f"-- {who} set {mode} (a password, not written here)"
        case ModeChanged(who=who, mode=mode, arg=arg):
            return f"-- {who} set {mode} {arg}"
    return None


def line(event: Event) -> tuple[str, bytes] | None:
    """The day (``YYYY-MM-DD``, UTC) and the line an event makes, or None."""
    text = describe(event)
    if text is None:
        return None
    moment = time.gmtime(event.at)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)
    return stamp[:10], f"{stamp} {escape(text)}\n".encode()


def append_lines(directory: Path, batch: dict[tuple[str, str], list[bytes]]) -> None:
    """The writer thread's work: each room's day file gets its lines."""
    for (room_key, day), lines in batch.items():
        folder = directory / quote(room_key, safe="")
        folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(folder / f"{day}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        with os.fdopen(fd, "ab") as f:
            f.write(b"".join(lines))


@implementer(IBusListener)
class Transcripts:
    """Writes the transcripts of ``rooms`` (names, or ``*``) into ``directory``."""

    def __init__(self, directory: Path, rooms: Iterable[str], clock: IReactorTime,
                 reactor: IReactorFromThreads, pool: ThreadPool, window: float = 0.2) -> None:
        self.directory = directory
        names = set(rooms)
        self.every_room = ALL in names
        self.rooms = {fold(name.lstrip("#")) for name in names - {ALL}}
        self.clock = clock
        self.window = window
        self._reactor = reactor
        self._pool = pool
        self._pending: dict[tuple[str, str], list[bytes]] = {}
        self._timer: IDelayedCall | None = None
        self._writing: Deferred[None] | None = None

    def room_event(self, room_key: str, event: Event) -> None:
        if not (self.every_room or room_key in self.rooms):
            return
        made = line(event)
        if made is None:
            return
        day, data = made
        self._pending.setdefault((room_key, day), []).append(data)
        self._schedule()

    def user_event(self, user_key: str, event: Event) -> None:
        """Private messages are never transcribed."""

    def _schedule(self) -> None:
        if self._timer is None and self._writing is None:
            self._timer = self.clock.callLater(self.window, self.flush)

    def flush(self) -> Deferred[None]:
        self._timer = None
        if self._writing is not None:
            return self._writing
        if not self._pending:
            return succeed(None)
        batch, self._pending = self._pending, {}
        done: Deferred[None] = deferToThreadPool(self._reactor, self._pool, append_lines,
                                                 self.directory, batch)
        self._writing = done

        def finished(result: Any) -> None:
            self._writing = None
            if isinstance(result, Failure):
                log.failure("transcripts: a write failed", result)
            if self._pending:
                self._schedule()

        done.addBoth(finished)
        return done

    def stop(self) -> Deferred[None]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            return self._writing.addCallback(lambda _: self.flush())
        return self.flush()
