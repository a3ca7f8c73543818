"""The WebSocket sink: a browser's output, whole WebSocket frames made once per broadcast,
written through the stream ``Outbox``.

The web format renders an event straight into its frame (``frames``: a server's frames are
unmasked, so one frame serves every browser), and delivery hands every member of a room the
same frame bytes, made once per message. A browser's ``write`` is its ``Outbox``'s own, as a
line or IRC connection's is: an append while the browser reads; the frames of one reactor
turn go out in one send, straight to the socket when nothing is buffered, with no autobahn
call per delivery; and the outbox is the transport's producer, so a browser that stops
reading has its frames held, and is dropped (``on_overflow``) once more than ``limit`` bytes
wait. Frames are whole messages, so joining them never splits one, and a control frame
autobahn sends itself (a ping, a pong) may come between them, as the WebSocket protocol
allows. Its close frame must come last: ``WebProtocol`` calls ``release`` before sending one,
which hands over what waits and takes no more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from chatd.frontends.outbox import Flusher, Outbox, Owner
from chatd.frontends.sink import ISink


@implementer(ISink)
class WebSink:
    __slots__ = ("_outbox", "_owner", "_protocol", "write")

    def __init__(
        self,
        protocol: Any,
        flusher: Flusher,
        limit: int,
        owner: Owner,
        direct: bool = True,
    ) -> None:
        self._protocol = protocol  # an open autobahn WebSocketServerProtocol
        # Told of an overflow by the outbox, and of the close by ``close`` here: the outbox's
        # own ``close`` is never used, as a WebSocket ends with its close frame.
        self._owner = owner
        transport = protocol.transport
        # twisted.web's HTTP channel registered itself for the upgrade request; the
        # WebSocket has taken the transport over, so the outbox is its producer from now on.
        transport.unregisterProducer()
        outbox = self._outbox = Outbox(transport, flusher, limit, owner, direct=direct)
        # ISink.write: whole frames (``frames``), taken as they are; delivery calls it once
        # per browser per message, so it is the outbox's own, with no call in between.
        self.write: Callable[[bytes], None] = outbox.write

    @property
    def closed(self) -> bool:
        return self._outbox.closed

    @property
    def queued(self) -> int:
        return self._outbox.queued

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
