"""The line protocol's reply codes and the shape of its lines, written and read.

Every line the server sends is ``CODE TEXT`` (or ``CODE-TEXT`` on all but the last line of a
multi-line reply, as SMTP does). 1xx lines are events and may arrive at any time; 2xx, 4xx
and 5xx lines are the one final reply to a command. ``docs/protocol.md`` is the reference.

One table of codes serves every frontend that can say them (line, web, the UDP channel's
notices) and the bundled client, which reads the server's lines with ``parse_server_line``;
so this module is shared, not the line frontend's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

# The line protocol's port: the server's default listener and the bundled client's default.
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
    REDACTED = 116
    AWAY = 120
    # Read markers: another session of the account read up to a message; replay's remainder.
    READ = 121
    UNREAD = 122
    ANNOUNCEMENT = 130
    WALLOPS = 131
    # Seats (chatd.core.seats): a member's connection dropped and its seat is held; it came back;
    # a guest's resume token.
    RESUME_TOKEN = 123
    INACTIVE = 124
    BACK = 125
    # Replies: done.
    OK = 200
    WELCOME = 201
    ROOMS = 210
    MEMBERS = 211
    WHOIS = 212
    BANS = 213
    HELP = 214
    WHOWAS = 215
    TOKEN = 230
    GREETING = 220
    BYE = 221
    FILE_STORED = 250
    FILE_SENT = 251
    FILE_LINK = 252
    KLINES = 260
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
    NO_SUCH_MESSAGE = 419
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
