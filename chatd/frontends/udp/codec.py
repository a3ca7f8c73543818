"""The datagram format of the UDP channel, both directions, and nothing else (sans-IO).

Every datagram is::

    1 byte   room-name length (bytes)
    1 byte   second-field length (bytes)
    ...      the room name, UTF-8
    ...      the second field: the token (client to server), the sender's name (server to
             client; empty for the server's own notices)
    ...      the message, UTF-8, to the end of the datagram

From a client, the message is one of: text to say (``/me TEXT`` for an action); nothing, a
keep-alive; or a NUL byte and a cookie, the answer to the server's challenge. The server's
challenge is a notice whose message is a NUL byte and the cookie. ``parse`` is the one
judge of a client's datagram: whatever it refuses is dropped and counted by ``Invalid.reason``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from chatd.kernel.events import Event, Said

# C0 and C1 controls and DEL: never in a room name, a token or a message.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# What the server's tokens look like (``secrets.token_urlsafe``): anything else is refused
# here, before the token is looked up.
_TOKEN = re.compile(rb"[A-Za-z0-9_-]{16,64}")
COOKIE_MARK = "\x00"
ACTION = "/me "


class Kind(enum.Enum):
    MESSAGE = "message"
    KEEPALIVE = "keep-alive"
    COOKIE = "cookie"


class Invalid(Exception):
    """A datagram that is not one; ``reason`` is its metrics label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Datagram:
    """A client's datagram, parsed: its room, token, kind, and text (the message, or the
    cookie)."""

    room: str
    token: str
    kind: Kind
    text: str


def parse(data: bytes, max_size: int) -> Datagram:
    """The client datagram in ``data``, or Invalid with why."""
    size = len(data)
    if size > max_size:
        raise Invalid("TooLong")
    if size < 2:
        raise Invalid("Short")
    room_length, token_length = data[0], data[1]
    end = 2 + room_length + token_length
    if room_length == 0 or token_length == 0 or end > size:
        raise Invalid("Lengths")
    token_bytes = data[2 + room_length:end]
    if _TOKEN.fullmatch(token_bytes) is None:
        raise Invalid("TokenShape")
    try:
        room = data[2:2 + room_length].decode("utf-8")
        text = data[end:].decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("BadEncoding") from None
    if _CONTROL.search(room):
        raise Invalid("Control")
    token = token_bytes.decode("ascii")
    if text.startswith(COOKIE_MARK):
        cookie = text[1:]
        if not cookie or _CONTROL.search(cookie):
            raise Invalid("Control")
        return Datagram(room, token, Kind.COOKIE, cookie)
    if _CONTROL.search(text):
        raise Invalid("Control")
    return Datagram(room, token, Kind.KEEPALIVE if not text else Kind.MESSAGE, text)


def encode(room: str, field: str, text: str) -> bytes:
    """One datagram: ``field`` is a token (client), a sender's name or "" (server)."""
    room_bytes, field_bytes = room.encode(), field.encode()
    if len(room_bytes) > 255 or len(field_bytes) > 255:
        raise ValueError("a room name or token/name field has at most 255 bytes")
    return bytes((len(room_bytes), len(field_bytes))) + room_bytes + field_bytes + text.encode()


def notice(room: str, text: str) -> bytes:
    """A notice from the server (no sender) about ``room``."""
    return encode(room, "", text)


def challenge(room: str, cookie: str) -> bytes:
    return encode(room, "", COOKIE_MARK + cookie)


def render_datagram(event: Event) -> bytes:
    """A room message as every UDP member gets it: rendered once per message (delivery)."""
    assert isinstance(event, Said)
    return encode(event.room, event.sender, ACTION + event.text if event.action else event.text)
