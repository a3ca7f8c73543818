"""One client socket on asyncio, cheap on purpose: in the measured phase most connections
only count newlines; setup waits for replies; a few connections parse every line."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .loopback import HOST
from .wires import Wire

T = TypeVar("T")


class Conn(asyncio.Protocol):
    """One client socket. Modes: ``lines`` (setup: keep lines for ``expect``), ``count``
    (measured phase: count newlines only), ``parse`` (call ``handler`` with each line)."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.mode = "lines"
        self.buf = b""
        self.lines: list[bytes] = []
        self.count = 0
        self.waiter: asyncio.Future[None] | None = None
        self.handler: Callable[[bytes], None] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.last_data = time.monotonic()
        self.raw = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self.wire.name == "web":
            data = self._unframe(data)
        if self.mode == "count":
            self.count += data.count(b"\n")
            return
        self.last_data = time.monotonic()
        *lines, self.buf = (self.buf + data).split(b"\n")
        if self.mode == "parse":
            assert self.handler is not None
            self.count += len(lines)
            for line in lines:
                self.handler(line)
            return
        for line in lines:
            if line.startswith(b"PING "):
                self.write(b"PONG " + line[5:].rstrip(b"\r") + b"\r\n")
        self.lines.extend(lines)
        self._wake()

    def _unframe(self, data: bytes) -> bytes:
        """WebSocket: the 101 response dropped, each server frame's payload as one line."""
        self.raw += data
        out = []
        if not self.upgraded:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return b""
            self.upgraded = True
            self.raw = self.raw[end + 4:]
        raw, at = self.raw, 0
        while len(raw) - at >= 2:
            size, start = raw[at + 1] & 0x7F, at + 2
            if size == 126:
                if len(raw) - at < 4:
                    break
                size, start = int.from_bytes(raw[at + 2:at + 4], "big"), at + 4
            elif size == 127:
                if len(raw) - at < 10:
                    break
                size, start = int.from_bytes(raw[at + 2:at + 10], "big"), at + 10
            if len(raw) - start < size:
                break
            if raw[at] & 0x0F == 0x9:  # a ping: answer with a (masked) pong
                self.write(bytes([0x8A, 0x80 | size]) + b"\0\0\0\0" + raw[start:start + size])
            else:
                out.append(raw[start:start + size])
            at = start + size
        self.raw = raw[at:]
        return b"".join(line + b"\n" for line in out)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def expect(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """The first kept line containing ``marker``; an error reply raises."""
        deadline = time.monotonic() + timeout
        while True:
            while self.lines:
                line = self.lines.pop(0)
                if marker in line:
                    return line
                if self.wire.is_error(line):
                    raise RuntimeError(line.decode(errors="replace").strip())
            if self.lost:
                raise RuntimeError("connection closed by the server")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} within {timeout} s")
            self.waiter = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.waiter, left)

    async def request(self, command: tuple[bytes, bytes], timeout: float = 30.0) -> bytes:
        data, marker = command
        self.write(data)
        return await self.expect(marker, timeout)

    def to_count(self) -> None:
        self.mode = "count"
        self.buf = b""
        self.lines.clear()
        self.count = 0

    def to_parse(self, handler: Callable[[bytes], None]) -> None:
        self.mode = "parse"
        self.buf = b""
        self.lines.clear()
        self.handler = handler
        self.count = 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(wire: Wire, port: int, greeting: bool = True) -> Conn:
    """A connection to ``port`` past the greeting (and, for web, the WebSocket upgrade)."""
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: Conn(wire), HOST, port), 30
    )
    if wire.name == "web":
        conn.write(f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        await conn.expect(b'"code":220')
    if greeting and wire.name == "line":
        await conn.expect(b"220 ")
    return conn


async def bounded_gather(count: int, make: Callable[[int], Awaitable[T]],
                         concurrency: int) -> list[T]:
    """``make(i)`` for i in range(count), at most ``concurrency`` at a time, in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> T:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def guest_in_room(wire: Wire, port: int, nick: str, room: str | None) -> Conn:
    """A connection logged in as guest ``nick``, in ``room`` unless that is None."""
    conn = await connect(wire, port)
    await conn.request(wire.guest(nick))
    if room is not None:
        await conn.request(wire.join(room))
    return conn


async def settle(conns: list[Conn], quiet: float = 0.5, limit: float = 60.0) -> None:
    """Wait until no connection has received anything for ``quiet`` seconds (at most ``limit``)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        newest = max(c.last_data for c in conns)
        if time.monotonic() - newest >= quiet:
            return
        await asyncio.sleep(0.1)
