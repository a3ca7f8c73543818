"""``--udp``: the room's messages over the server's UDP channel (docs/protocol.md).

The session stays on TCP (log in, join, ``/token ROOM``); a room whose token came back
(``230 ROOM TOKEN PORT SECONDS``) is then spoken in over UDP: the client sends a keep-alive,
echoes the cookie the server challenges it with, and once the server says the room is open
("you are in ROOM over UDP") the text typed for that room goes as datagrams, and the room's
messages come back as datagrams. Those are turned into the very lines the TCP session would
show (``101 [room] <who> text``, ``107`` for an action, ``100`` for the server's notices),
so they are shown, and kept in the transcript, the same way.

The datagram format is written here (the client imports only the line codec from chatd):
one byte room-name length, one byte token (or sender) length, the room name, the token,
the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall

# Seconds between keep-alives (the server drops a silent member; a room not yet open asks
# for its challenge again).
KEEPALIVE = 20.0
OPEN = "you are in {room} over UDP"
ACTION = "/me "


def encode(room: str, field: str, message: str = "") -> bytes:
    room_bytes, field_bytes = room.encode(), field.encode()
    return bytes((len(room_bytes), len(field_bytes))) + room_bytes + field_bytes + \
        message.encode()


def decode(data: bytes) -> tuple[str, str, str] | None:
    """(room, sender or "" for the server, message), or None for a malformed datagram."""
    if len(data) < 2 or 2 + data[0] + data[1] > len(data):
        return None
    room_end = 2 + data[0]
    name_end = room_end + data[1]
    try:
        return (data[2:room_end].decode(), data[room_end:name_end].decode(),
                data[name_end:].decode())
    except UnicodeDecodeError:
        return None


def as_line(room: str, sender: str, message: str) -> str:
    """A datagram as the line-protocol line that says the same."""
    if not sender:
        return f"100 [{room}] {message}"
    if message.startswith(ACTION):
        return f"107 [{room}] * {sender} {message[len(ACTION):]}"
    return f"101 [{room}] <{sender}> {message}"


class UdpChannel(DatagramProtocol):
    """The client's UDP socket: one token per room, rooms open once validated."""

    def __init__(self, clock: IReactorTime, host: str, show: Callable[[str], None],
                 expired: Callable[[str], None]) -> None:
        self._clock = clock
        self._host = host
        self._show = show
        self._expired = expired
        self._tokens: dict[str, tuple[str, int]] = {}  # room -> (token, port)
        self.open: set[str] = set()
        self._keepalive = LoopingCall(self._keep)
        self._keepalive.clock = clock

    def start(self, room: str, token: str, port: int) -> None:
        """A token for ``room``: ask to be let in (the server answers with a challenge)."""
        self._tokens[room] = (token, port)
        self.open.discard(room)
        self._send(room, "")
        if not self._keepalive.running:
            self._keepalive.start(KEEPALIVE, now=False)

    def has(self, room: str) -> bool:
        """Whether ``room`` has a token (open, or being let in)."""
        return room in self._tokens

    def say(self, room: str, text: str) -> bool:
        """Send ``text`` to an open room; False if the room is not open over UDP."""
        if room not in self.open:
            return False
        self._send(room, text)
        return True

    def stop(self) -> None:
        self._tokens.clear()
        self.open.clear()
        if self._keepalive.running:
            self._keepalive.stop()

    def _send(self, room: str, message: str) -> None:
        token, port = self._tokens[room]
        if self.transport is not None:
            self.transport.write(encode(room, token, message), (self._host, port))

    def _keep(self) -> None:
        """A keep-alive for every room with a token: for an open room it keeps the member;
        for one not open yet (the challenge or its answer lost) it asks again."""
        for room in list(self._tokens):
            self._send(room, "")

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        fields = decode(datagram)
        if fields is None:
            return
        room, sender, message = fields
        if room not in self._tokens:
            return
        if not sender and message.startswith("\0"):
            self._send(room, message)  # the cookie, back to where it came from
            return
        if not sender and message == OPEN.format(room=room):
            self.open.add(room)
        self._show(as_line(room, sender, message))
        if not sender and message == "the token expired":
            self.open.discard(room)
            self._expired(room)  # still in the room: the client asks for a new token
        elif not sender and message.startswith(("you are no longer in", "you logged out",
                                                "closed by the server")):
            self.open.discard(room)
            self._tokens.pop(room, None)
