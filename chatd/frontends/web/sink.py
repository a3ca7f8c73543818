"""The WebSocket sink: a browser's output, as prepared WebSocket messages, and a bound on
browsers that stop reading.

Delivery hands every member of a room the same payload bytes (``render_payload``, made once
per event). ``Prepared`` turns those bytes into one autobahn ``PreparedMessage`` (the whole
frame, header included) the first time a sink sees them, and every other sink handed the
same bytes gets the same frame: a message to 1,000 browsers is encoded and framed once, and
each browser costs one ``sendPreparedMessage``.

Like the stream ``Outbox``, the sink is its transport's streaming producer: when a browser
stops reading, the transport's buffer fills and pauses the sink; from then on frames wait
here, and past ``limit`` bytes the browser is dropped (``on_overflow``), so memory per
browser is bounded and nobody else waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autobahn.websocket.protocol import PreparedMessage
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from chatd.frontends.sink import ISink


class Prepared:
    """The frame of the payload written last, shared by every sink of one frontend.

    Delivery writes one payload to every member before the next, so one entry is enough.
    The payload is compared by identity (it is kept alive here, so its id cannot be reused).
    """

    __slots__ = ("_factory", "_frame", "_payload", "made")

    def __init__(self, factory: Any) -> None:
        self._factory = factory  # autobahn's WebSocketServerFactory: it frames for servers
        self._payload: bytes | None = None
        self._frame: PreparedMessage | None = None
        self.made = 0  # frames prepared so far, for tests and the benchmark

    def __call__(self, payload: bytes) -> PreparedMessage:
        if payload is not self._payload or self._frame is None:
            self._frame = self._factory.prepareMessage(payload)
            self._payload = payload
            self.made += 1
        return self._frame


@implementer(IPushProducer, ISink)
class WebSink:
    __slots__ = ("_held", "_paused", "_prepared", "_protocol", "_size", "closed", "limit",
                 "on_close", "on_overflow")

    def __init__(
        self,
        protocol: Any,
        prepared: Prepared,
        limit: int,
        on_overflow: Callable[[], None],
        on_close: Callable[[], None],
        pause_at: int = 16 * 1024,
    ) -> None:
        self._protocol = protocol  # an open autobahn WebSocketServerProtocol
        self._prepared = prepared
        self.limit = limit
        self.on_overflow = on_overflow
        self.on_close = on_close
        self._held: list[PreparedMessage] = []
        self._size = 0
        self._paused = False
        self.closed = False
        transport = protocol.transport
        if hasattr(transport, "bufferSize"):
            transport.bufferSize = pause_at  # a plain TCP transport pauses past this
        # twisted.web's HTTP channel registered itself for the upgrade request; the
        # WebSocket has taken the transport over, so the sink is its producer from now on.
        transport.unregisterProducer()
        transport.registerProducer(self, True)

    @property
    def queued(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        frame = self._prepared(data)
        if self._paused:
            self._held.append(frame)
            self._size += len(frame.payloadHybi)
            if self._size > self.limit:
                self.closed = True
                self._held.clear()
                self._size = 0
                self.on_overflow()
            return
        self._protocol.sendPreparedMessage(frame)

    def close(self) -> None:
        """Send what waits, then the WebSocket close; the policy bounds the rest."""
        if self.closed:
            return
        self._send_held()
        self.closed = True
        self._protocol.transport.unregisterProducer()
        self._protocol.sendClose(1000)
        self.on_close()

    def abort(self) -> None:
        self.closed = True
        self._held.clear()
        self._size = 0
        self._protocol.transport.abortConnection()

    def _send_held(self) -> None:
        held, self._held, self._size = self._held, [], 0
        for frame in held:
            self._protocol.sendPreparedMessage(frame)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if not self.closed:
            self._send_held()

    def stopProducing(self) -> None:
        self.closed = True
        self._held.clear()
        self._size = 0
