"""The line protocol's wire format, with no transport: framing, reply codes, event rendering.

Every line the server sends is ``CODE TEXT`` (or ``CODE-TEXT`` on all but the last line of a
multi-line reply, as SMTP does). 1xx lines are events and may arrive at any time; 2xx, 4xx
and 5xx lines are the one final reply to a command. ``docs/protocol.md`` is the reference.
The bundled client imports this module to frame and read the server's lines.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from chatd.kernel.events import (
    AwayChanged,
    Event,
    FileShared,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    Notice,
    Private,
    Said,
    TopicSet,
)

DEFAULT_PORT = 7777


class Code(enum.IntEnum):
    # Events: never a reply to a command.
    NOTICE = 100
    SAID = 101
    PRIVATE = 102
    JOINED = 103
    LEFT = 104
    TOPIC = 105
    ROOM_CHANGED = 106
    ACTION = 107
    IN_ROOM = 108
    CLOSING = 109
    HISTORY = 110
    FILE_SHARED = 111
    NOTICE_SAID = 112
    INVITED = 113
    NICK_CHANGED = 114
    PACING = 115
    AWAY = 120
    # Replies: done.
    OK = 200
    WELCOME = 201
    ROOMS = 210
    MEMBERS = 211
    WHOIS = 212
    BANS = 213
    HELP = 214
    TOKEN = 230
    GREETING = 220
    BYE = 221
    FILE_STORED = 250
    FILE_SENT = 251
    FILE_LINK = 252
    # Intermediate replies: the command goes on with raw bytes (see docs/protocol.md).
    SEND_BYTES = 350
    BYTES_FOLLOW = 351
    # Replies: the client's mistake.
    BAD_SYNTAX = 400
    NOT_NAMED = 401
    ALREADY_NAMED = 402
    NOT_ALLOWED = 403
    NO_SUCH_ROOM = 404
    NO_SUCH_USER = 405
    NOT_IN_ROOM = 406
    UPLOAD_TOO_SLOW = 408
    NAME_TAKEN = 409
    BAD_NAME = 410
    BAD_PASSWORD = 411
    BAD_TEXT = 412
    LINE_TOO_LONG = 413
    BAD_ENCODING = 414
    BAD_UPLOAD = 415
    NO_SUCH_FILE = 416
    FILE_TOO_LARGE = 417
    QUOTA_EXCEEDED = 418
    RATE_LIMITED = 429
    WRONG_CREDENTIALS = 430
    WRONG_ROOM_PASSWORD = 431
    ROOM_FULL = 432
    TOO_MANY_SESSIONS = 433
    GUESTS_DISABLED = 434
    ACCOUNT_LOCKED = 435
    BANNED = 436
    INVITE_ONLY = 437
    ALREADY_IN_ROOM = 438
    # Replies: the server's fault or state.
    INTERNAL_ERROR = 500
    STORAGE_FAILED = 501
    ACCOUNTS_UNAVAILABLE = 502
    BUSY = 503
    SERVER_FULL = 504


def reply(code: Code, text: str) -> bytes:
    return f"{code:03d} {text}\r\n".encode()


def multiline(code: Code, lines: Iterable[str], last: str) -> bytes:
    """``lines`` as ``CODE-...`` continuation lines, then ``CODE last``."""
    return "".join(f"{code:03d}-{line}\r\n" for line in lines).encode() + reply(code, last)


_LEFT_WORDS = {
    LeaveReason.LEFT: "left",
    LeaveReason.QUIT: "quit",
    LeaveReason.LOST: "lost connection",
    LeaveReason.TIMEOUT: "timed out",
    LeaveReason.DELETED: "was removed: the room was deleted",
    LeaveReason.SLOW: "was dropped: not reading",
    LeaveReason.FLOOD: "was disconnected for flooding",
    LeaveReason.KICKED: "was kicked",
}

# A mode change as the line protocol says it, after "[room] who: ".
_MODE_WORDS = {
    "+o": "made {arg} an operator",
    "-o": "{arg} is no longer an operator",
    "+v": "gave {arg} voice",
    "-v": "took {arg}'s voice",
    "+b": "banned {arg}",
    "-b": "lifted the ban on {arg}",
    "+i": "made the room invite-only",
    "-i": "opened the room to everyone",
    "+m": "moderated the room: only operators and voiced members talk",
    "-m": "unmoderated the room",
    "+t": "locked the topic: only operators set it",
    "-t": "unlocked the topic: any member sets it",
    "+l": "member limit is now {arg}",
    "+k": "locked with a password",
    "-k": "unlocked",
}


def mode_words(mode: str, arg: str) -> str:
    """A ModeChanged as a phrase (never the room password a +k carries)."""
    return _MODE_WORDS.get(mode, "changed the mode {mode} {arg}").format(mode=mode, arg=arg)


def render_event(event: Event) -> bytes:
    """An event as one line. Pass this function itself to ``Event.encoded``."""
    match event:
        case Said(room=room, sender=sender, text=text, notice=True):
            return reply(Code.NOTICE_SAID, f"[{room}] -{sender}- {text}")
        case Said(room=room, sender=sender, text=text, action=False):
            return reply(Code.SAID, f"[{room}] <{sender}> {text}")
        case Said(room=room, sender=sender, text=text):
            return reply(Code.ACTION, f"[{room}] * {sender} {text}")
        case Private(sender=sender, text=text, notice=True):
            return reply(Code.NOTICE_SAID, f"-{sender}- {text}")
        case Private(sender=sender, text=text):
            return reply(Code.PRIVATE, f"*{sender}* {text}")
        case Joined(room=room, who=who):
            return reply(Code.JOINED, f"[{room}] {who} joined")
        case Left(room=room, who=who, reason=LeaveReason.KICKED, message=message, by=by):
            said = f": {message}" if message else ""
            return reply(Code.LEFT, f"[{room}] {who} was kicked by {by}{said}")
        case Left(room=room, who=who, reason=reason, message=message):
            said = f": {message}" if message else ""
            return reply(Code.LEFT, f"[{room}] {who} {_LEFT_WORDS[reason]}{said}")
        case ModeChanged(room=room, who=who, mode=mode, arg=arg):
            return reply(Code.ROOM_CHANGED, f"[{room}] {who}: {mode_words(mode, arg)}")
        case Invited(room=room, by=by):
            return reply(Code.INVITED, f"[{room}] {by} invites you; /join {room}")
        case NickChanged(old=old, new=new):
            return reply(Code.NICK_CHANGED, f"{old} is now called {new}")
        case AwayChanged(who=who, away=away):
            return reply(Code.AWAY, f"{who} is away: {away}" if away else f"{who} is back")
        case TopicSet(room=room, who=who, topic=topic):
            if topic:
                return reply(Code.TOPIC, f"[{room}] {who} set the topic: {topic}")
            return reply(Code.TOPIC, f"[{room}] {who} cleared the topic")
        case FileShared(room=room, sender=sender, name=name, size=size, file_id=file_id):
            return reply(Code.FILE_SHARED, f"[{room}] {sender} shared {file_id} {size} {name}")
        case Notice(text=text):
            return reply(Code.NOTICE, text)
    raise TypeError(f"no line rendering for {event!r}")


# What a terminal's keys send: CSI (arrow keys ``ESC [ A``, Home, Delete ``ESC [ 3 ~``; also a
# sequence cut off by the end of the line) and SS3 (arrow keys in application mode,
# ``ESC O A``). Any other escape is left for the text rules to refuse (412).
_KEYS = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*(?:[@-~]|$)|O(?:[@-~]|$))")
_ERASE = (0x08, 0x7F)  # ^H and DEL: what a terminal's backspace key sends


def edit_line(line: bytes) -> bytes:
    """A line as a terminal in raw mode would have shown it: escape sequences (arrow keys)
    dropped, each ^H or DEL erasing the character before it (a whole UTF-8 character)."""
    # Bytes looked for as ints: ``0x1B in line`` is a memchr, ``b"\x1b" in line`` a
    # substring search, about seven times the instructions, on every line received.
    if 0x1B in line:
        line = _KEYS.sub(b"", line)
    if 0x08 not in line and 0x7F not in line:
        return line
    out = bytearray()
    for byte in line:
        if byte in _ERASE:
            while out and 0x80 <= out[-1] < 0xC0:  # UTF-8 continuation bytes
                out.pop()
            if out:
                out.pop()
        else:
            out.append(byte)
    return bytes(out)

def timestamp(at: float) -> str:
    """An event's time as IRCv3 server-time writes it: ``2025-01-02T03:04:05.678Z`` (UTC)."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch from ``timestamp``'s format (or without fraction or Z, read
    as UTC); None if ``text`` is not such a time."""
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z").removesuffix("z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def render_history(event: Event) -> bytes:
    """A kept message as a ``110`` line: its time, its id, then the text of the live line
    (``[room] <sender> text``, ``[room] * sender text`` or ``*sender* text``, with ``->
    recipient`` after a private message's sender)."""
    if isinstance(event, Private):
        text = f"*{event.sender}* -> {event.recipient} {event.text}"
    else:
        text = render_event(event).decode()[4:].removesuffix("\r\n")
    return reply(Code.HISTORY, f"{timestamp(event.at)} {event.id} {text}")


class TooLong(enum.Enum):
    """Marks, in the framer's output, where a line over the limit was thrown away."""

    LINE = "line"


class LineFramer:
    """Splits a byte stream into lines of at most ``max_length`` bytes.

    LF ends a line; a CR before it is dropped. A line longer than the limit yields one
    ``TooLong.LINE`` and everything up to its LF is discarded, however many reads that takes,
    so the tail of an over-long line is never taken as a command. Memory stays bounded by the
    limit. (LineOnlyReceiver drops the connection instead, and LineReceiver would run the tail.)

    A line that ``stop_at`` picks (the line protocol's ``/send``, which raw bytes may follow)
    is the last one framed: the bytes after it are held, unframed (``holding``), until the
    protocol either takes them as raw bytes (``take``) or lets them be framed (``release``).
    """

    __slots__ = ("_buffer", "_discarding", "holding", "max_length", "stop_at")

    def __init__(self, max_length: int,
                 stop_at: Callable[[bytes], bool] | None = None) -> None:
        self.max_length = max_length
        self.stop_at = stop_at
        self._buffer = b""
        self._discarding = False
        self.holding = False

    @property
    def held(self) -> int:
        """Bytes waiting here unframed."""
        return len(self._buffer)

    def take(self) -> bytes:
        """The bytes held, handed over raw."""
        data, self._buffer = self._buffer, b""
        return data

    def release(self) -> list[bytes | TooLong]:
        """Frame again, starting with the bytes held."""
        self.holding = False
        return self.feed(b"")

    def discard(self) -> None:
        """Abandon the line being typed (telnet's Interrupt Process)."""
        self._buffer = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        out: list[bytes | TooLong] = []
        buffer = self._buffer + data
        if self.holding:
            self._buffer = buffer
            return out
        start = 0
        stop_at = self.stop_at
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_length:
                out.append(TooLong.LINE)
                continue
            out.append(line)
            if stop_at is not None and stop_at(line):
                self.holding = True
                self._buffer = buffer[start:]
                return out
        rest = buffer[start:]
        # +1 leaves room for a CR that may still be followed by its LF.
        if len(rest) > self.max_length + 1:
            if not self._discarding:
                out.append(TooLong.LINE)
                self._discarding = True
            rest = b""
        self._buffer = rest
        return out


@dataclass(frozen=True, slots=True)
class ServerLine:
    """One line from the server, as a client reads it."""

    code: int
    final: bool
    text: str

    @property
    def is_event(self) -> bool:
        return 100 <= self.code < 200


def parse_server_line(line: str) -> ServerLine | None:
    """Read ``CODE TEXT`` / ``CODE-TEXT``; None if the line is not in that form."""
    if len(line) < 3 or not line[:3].isdigit():
        return None
    separator = line[3:4]
    if separator not in ("", " ", "-"):
        return None
    return ServerLine(int(line[:3]), separator != "-", line[4:])
