"""A blocking WebSocket client for tests: autobahn's asyncio client on a private event loop.

``WebSocketClient.connect(port)`` does the opening handshake (with an Origin, or none);
``send(line)`` sends ``{"line": ...}``; ``read()`` returns the next JSON message the server
sent, ``reply()`` the next one that is not an event, ``wait_event(pred)`` the first event
that matches. Every wait has a deadline, and ``closed()`` waits for the server to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import txaio
from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

TIMEOUT = 5.0


class _Protocol(WebSocketClientProtocol):
    inbox: asyncio.Queue[Any]

    def onOpen(self) -> None:
        self.factory.opened.set_result(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.inbox.put_nowait(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.factory.opened.done():
            self.factory.opened.set_exception(ConnectionRefusedError(f"{code} {reason}"))
        self.inbox.put_nowait(("closed", code, reason))


class HandshakeRefused(Exception):
    """The server did not accept the opening handshake."""


class WebSocketClient:
    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: _Protocol) -> None:
        self.loop = loop
        self.protocol = protocol

    @classmethod
    def connect(cls, port: int, origin: str | None = None, path: str = "/ws",
                max_message: int = 0) -> WebSocketClient:
        loop = asyncio.new_event_loop()
        # autobahn schedules its timers through txaio, on txaio's loop: make it this one.
        txaio.use_asyncio()
        txaio.config.loop = loop
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}{path}", origin=origin,
                                         loop=loop)
        factory.protocol = _Protocol
        factory.setProtocolOptions(maxFramePayloadSize=max_message,
                                   maxMessagePayloadSize=max_message)
        factory.opened = loop.create_future()

        def build() -> _Protocol:
            protocol = _Protocol()
            protocol.factory = factory
            protocol.inbox = asyncio.Queue()
            return protocol

        async def open_() -> _Protocol:
            await loop.create_connection(build, "127.0.0.1", port)
            try:
                return await asyncio.wait_for(factory.opened, TIMEOUT)
            except ConnectionRefusedError as error:
                raise HandshakeRefused(str(error)) from None

        try:
            protocol = loop.run_until_complete(open_())
        except BaseException:
            loop.close()
            raise
        return cls(loop, protocol)

    def send(self, line: str, request: object = None) -> None:
        message: dict[str, Any] = {"line": line}
        if request is not None:
            message["id"] = request
        self.send_raw(json.dumps(message).encode())

    def send_raw(self, payload: bytes, binary: bool = False) -> None:
        self.protocol.sendMessage(payload, isBinary=binary)
        self.loop.run_until_complete(asyncio.sleep(0))

    def read(self, timeout: float = TIMEOUT) -> Any:
        return self.loop.run_until_complete(
            asyncio.wait_for(self.protocol.inbox.get(), timeout))

    def reply(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message that is not an event (1xx)."""
        while True:
            message = self.read(timeout)
            if isinstance(message, tuple):
                raise AssertionError(f"closed while waiting for a reply: {message}")
            if not 100 <= message["code"] < 200:
                return dict(message)

    def command(self, line: str) -> dict[str, Any]:
        self.send(line)
        return self.reply()

    def wait_event(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message = self.read()
            if isinstance(message, tuple):
                raise AssertionError(f"closed while waiting for an event: {message}")
            if 100 <= message["code"] < 200 and matches(message):
                return dict(message)

    def closed(self) -> tuple[list[Any], int | None]:
        """Everything read until the server closed, and the close code."""
        seen = []
        while True:
            message = self.read()
            if isinstance(message, tuple):
                return seen, message[1]
            seen.append(message)

    def close(self) -> None:
        if self.protocol.state != self.protocol.STATE_CLOSED:
            self.protocol.sendClose(1000)
            with contextlib.suppress(TimeoutError):
                self.closed()
        self.loop.close()
