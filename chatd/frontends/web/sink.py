"""The WebSocket sink: a browser's output, as WebSocket frames prepared once per broadcast,
written through the stream ``Outbox``.

Delivery hands every member of a room the same payload bytes (``render_payload``, made once
per event). ``Prepared`` turns those bytes into one whole WebSocket frame (header included,
by autobahn's ``prepareMessage``) the first time a sink sees them, and every other sink
handed the same bytes gets the same frame: a message to 1,000 browsers is encoded and
framed once.

Each browser then writes the frame's bytes into an ``Outbox`` over its transport, as a line
or IRC connection writes its lines: the frames of one reactor turn go out in one send,
straight to the socket when nothing is buffered, and the outbox is the transport's
producer, so a browser that stops reading has its frames held, and is dropped
(``on_overflow``) once more than ``limit`` bytes wait. Frames are whole messages, so joining
them never splits one, and a control frame autobahn sends itself (a ping, a pong) may come
between them, as the WebSocket protocol allows. Its close frame must come last:
``WebProtocol`` calls ``release`` before sending one, which hands over what waits and takes
no more.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from chatd.frontends.outbox import Flusher, Outbox, Owner
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
        self._frame = b""
        self.made = 0  # frames prepared so far, for tests and the benchmark

    def __call__(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            # A server's frame is not masked, so its bytes are the same for every browser.
            self._frame = self._factory.prepareMessage(payload).payloadHybi
            self._payload = payload
            self.made += 1
        return self._frame


@implementer(ISink)
class WebSink:
    __slots__ = ("_outbox", "_owner", "_prepared", "_protocol")

    def __init__(
        self,
        protocol: Any,
        prepared: Prepared,
        flusher: Flusher,
        limit: int,
        owner: Owner,
        direct: bool = True,
    ) -> None:
        self._protocol = protocol  # an open autobahn WebSocketServerProtocol
        self._prepared = prepared
        # Told of an overflow by the outbox, and of the close by ``close`` here: the outbox's
        # own ``close`` is never used, as a WebSocket ends with its close frame.
        self._owner = owner
        transport = protocol.transport
        # twisted.web's HTTP channel registered itself for the upgrade request; the
        # WebSocket has taken the transport over, so the outbox is its producer from now on.
        transport.unregisterProducer()
        self._outbox = Outbox(transport, flusher, limit, owner, direct=direct)

    @property
    def closed(self) -> bool:
        return self._outbox.closed

    @property
    def queued(self) -> int:
        return self._outbox.queued

    def write(self, data: bytes) -> None:
        self._outbox.write(self._prepared(data))

    def release(self) -> None:
        """Hand what waits to the transport and take no more: a close frame comes next."""
        self._outbox.release()

    def close(self) -> None:
        """Send what waits, then the WebSocket close; the policy bounds the rest."""
        if self._outbox.closed:
            return
        self._outbox.release()
        self._protocol.sendClose(1000)
        self._owner.output_closing()

    def abort(self) -> None:
        self._outbox.abort()

    def stopProducing(self) -> None:
        """The connection is gone: drop what waits."""
        self._outbox.stopProducing()
