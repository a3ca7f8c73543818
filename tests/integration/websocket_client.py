"""A WebSocket client for tests: autobahn's Twisted client, on trial's reactor.

(autobahn's asyncio flavour would switch txaio, process-wide, away from Twisted, which the
daemon's own modules use; so the tests speak Twisted too.) ``connect(port)`` does the opening
handshake (with an Origin, or none); ``send(line)`` sends ``{"line": ...}``; ``read()`` fires
with the next JSON message, ``reply()`` with the next one that is not an event,
``wait_event(pred)`` with the first event that matches, ``closed()`` with what came before
the server closed and its close code. Every wait has a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, inlineCallbacks
from twisted.internet.ssl import Certificate, optionsForClientTLS

TIMEOUT = 5.0


class HandshakeRefused(Exception):
    """The server did not accept the opening handshake."""


class _Protocol(WebSocketClientProtocol):
    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.inbox.put(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.factory.opened.called:
            self.factory.opened.errback(HandshakeRefused(f"{code} {reason}"))
        self.factory.inbox.put(("closed", code, reason))


class WebSocketClient:
    def __init__(self, protocol: _Protocol, inbox: DeferredQueue[Any]) -> None:
        self.protocol = protocol
        self.inbox = inbox

    @staticmethod
    def connect(port: int, origin: str | None = None, ca: Path | None = None
                ) -> Deferred[WebSocketClient]:
        """Over TLS (wss) when given the CA that signed the server's certificate."""
        scheme = "ws" if ca is None else "wss"
        factory = WebSocketClientFactory(f"{scheme}://127.0.0.1:{port}/ws", origin=origin)
        factory.protocol = _Protocol
        factory.opened = Deferred()
        factory.inbox = DeferredQueue()
        if ca is None:
            reactor.connectTCP("127.0.0.1", port, factory, timeout=TIMEOUT)  # type: ignore[attr-defined]
        else:
            trust = Certificate.loadPEM(ca.read_bytes())
            reactor.connectSSL("127.0.0.1", port, factory,  # type: ignore[attr-defined]
                               optionsForClientTLS("127.0.0.1", trust), timeout=TIMEOUT)
        opened: Deferred[Any] = factory.opened
        return opened.addTimeout(TIMEOUT, reactor).addCallback(
            lambda protocol: WebSocketClient(protocol, factory.inbox))

    def send(self, line: str, request: object = None) -> None:
        message: dict[str, Any] = {"line": line}
        if request is not None:
            message["id"] = request
        self.send_raw(json.dumps(message).encode())

    def send_raw(self, payload: bytes, binary: bool = False) -> None:
        self.protocol.sendMessage(payload, isBinary=binary)

    def read(self) -> Deferred[Any]:
        return self.inbox.get().addTimeout(TIMEOUT, reactor)

    @inlineCallbacks
    def reply(self) -> Generator[Deferred[Any], Any, dict[str, Any]]:
        """The next message that is not an event (1xx)."""
        while True:
            message = yield self.read()
            if isinstance(message, tuple):
                raise AssertionError(f"closed while waiting for a reply: {message}")
            if not 100 <= message["code"] < 200:
                return dict(message)

    def command(self, line: str) -> Deferred[dict[str, Any]]:
        self.send(line)
        return self.reply()

    @inlineCallbacks
    def wait_event(self, matches: Callable[[dict[str, Any]], bool]
                   ) -> Generator[Deferred[Any], Any, dict[str, Any]]:
        while True:
            message = yield self.read()
            if isinstance(message, tuple):
                raise AssertionError(f"closed while waiting for an event: {message}")
            if 100 <= message["code"] < 200 and matches(message):
                return dict(message)

    @inlineCallbacks
    def closed(self) -> Generator[Deferred[Any], Any, tuple[list[Any], int | None]]:
        """Everything read until the server closed, and the close code."""
        seen = []
        while True:
            message = yield self.read()
            if isinstance(message, tuple):
                return seen, message[1]
            seen.append(message)

    def close(self) -> None:
        self.protocol.dropConnection(abort=True)
