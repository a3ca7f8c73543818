"""A blocking UDP client of the daemon's message channel, for the integration tests.

The datagram format is written here again on purpose instead of imported from ``chatd``:
these tests check the wire as a client sees it (docs/protocol.md), so a codec bug can't hide
by agreeing with itself.
"""

from __future__ import annotations

import contextlib
import socket
import time

from tests.integration.harness import READ_TIMEOUT


def free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 right now (the daemon is told it; udp:0 would not say)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def encode(room: str, field: str | bytes, message: str | bytes = b"") -> bytes:
    room_bytes = room.encode()
    field_bytes = field.encode() if isinstance(field, str) else field
    body = message.encode() if isinstance(message, str) else message
    return bytes([len(room_bytes), len(field_bytes)]) + room_bytes + field_bytes + body


def decode(data: bytes) -> tuple[str, str, str]:
    """(room, sender or "" for the server, message) of a server datagram."""
    room_end = 2 + data[0]
    name_end = room_end + data[1]
    return (data[2:room_end].decode(), data[room_end:name_end].decode(),
            data[name_end:].decode())


class UdpClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.server = ("127.0.0.1", port)
        self.sent: list[int] = []  # the size of every datagram sent
        self.received: list[bytes] = []  # every datagram received, in order

    def send_raw(self, data: bytes) -> None:
        self.sent.append(len(data))
        self.sock.sendto(data, self.server)

    def send(self, room: str, token: str, message: str | bytes = b"") -> None:
        self.send_raw(encode(room, token, message))

    def recv(self, timeout: float = READ_TIMEOUT) -> bytes | None:
        """The next datagram, or None after ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except TimeoutError:
            return None
        self.received.append(data)
        return data

    def wait(self, room: str, sender: str, message: str, timeout: float = READ_TIMEOUT
             ) -> list[tuple[str, str, str]]:
        """Read until (room, sender, message) arrives; everything read on the way."""
        deadline = time.monotonic() + timeout
        seen: list[tuple[str, str, str]] = []
        while (remaining := deadline - time.monotonic()) > 0:
            data = self.recv(remaining)
            if data is None:
                break
            seen.append(decode(data))
            if seen[-1] == (room, sender, message):
                return seen
        raise AssertionError(f"no {(room, sender, message)!r} within {timeout}s; saw {seen}")

    def quiet(self, seconds: float) -> list[bytes]:
        """Everything that arrives within ``seconds`` (for checking nothing does)."""
        deadline = time.monotonic() + seconds
        got: list[bytes] = []
        while (remaining := deadline - time.monotonic()) > 0:
            data = self.recv(remaining)
            if data is not None:
                got.append(data)
        return got

    def validate(self, room: str, token: str) -> None:
        """The cookie round trip: a keep-alive, the challenge back, the cookie echoed."""
        self.send(room, token)
        challenge = self.recv()
        assert challenge is not None, "no challenge"
        assert len(challenge) <= self.sent[-1], "a challenge larger than what asked for it"
        got_room, sender, message = decode(challenge)
        assert (got_room, sender) == (room, "") and message.startswith("\0"), challenge
        self.send(room, token, message.encode())
        self.wait(room, "", f"you are in {room} over UDP")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
