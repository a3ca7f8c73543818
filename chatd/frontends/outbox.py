"""The stream sink: what a connection has still to send, one write per reactor turn, and a
bound on slow readers.

Every stream frontend writes through an ``Outbox`` (an ``ISink``) instead of
``transport.write``:

* **Coalescing.** Lines written during one reactor turn (a burst of room messages, an event
  and the reply that follows it) are joined and handed to the transport once, when the shared
  ``Flusher`` runs at the end of the turn. One send() per member per turn instead of one per
  line is most of the cost of fan-out.
* **Straight to the socket.** On a plain TCP or unix transport with nothing buffered, the
  joined bytes are sent at once (``send_now``); only what the kernel does not take goes
  through the transport's buffer.
* **Back-pressure.** The outbox is the transport's streaming producer. When the client stops
  reading, the transport's buffer fills and it pauses us; from then on lines wait here, and
  once more than ``limit`` bytes wait, its owner's ``output_overflowed`` is called (the
  frontend drops the client with a reason). Memory per connection is bounded by the
  transport's buffer plus ``limit``, and everyone else is unaffected.
* **Raw bytes.** ``send_raw`` streams a file after what is queued (a download): chunks are
  read only when the transport wants more, so a download holds one chunk in memory however
  large the file. Lines written meanwhile (events) wait until the file is out, and count
  against ``limit`` as they do while the client is not reading: a client that stops reading
  mid-download is dropped by the same rule, with the same bound.
* **Closing.** ``close`` hands what waits to the transport, asks it to close once that is
  sent, and tells its owner (``output_closing``), which bounds how long that may take;
  ``abort`` drops the connection at once.

Thousands of idle connections each have one, so it keeps nothing it can do without: the
owner instead of two bound methods. Its list of what waits is kept, emptied, between turns:
making one per turn and dropping it costs more per delivery than the list costs an idle
connection (both measured: docs/performance.md, "Figures behind the code").
"""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol

from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTime
from zope.interface import implementer

from chatd.frontends.sink import ISink
from chatd.twisted_private import send_now

# Bytes of a raw send read and handed to the transport at a time.
RAW_CHUNK = 64 * 1024


class Owner(Protocol):
    """Whom an outbox tells when its client must be dropped, and when it begins to close."""

    def output_overflowed(self) -> None: ...

    def output_closing(self) -> None: ...


class RawSend:
    """A raw send in progress: where its bytes come from, how many are left, who waits."""

    __slots__ = ("done", "head", "left", "source")

    def __init__(self, source: BinaryIO, left: int, done: Deferred[None], head: bytes) -> None:
        self.head = head
        self.source = source
        self.left = left
        self.done = done




class Flusher:
    """Flushes every outbox written to during a reactor turn, once, at the end of it."""

    __slots__ = ("_clock", "_pending", "_scheduled")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._pending: list[Outbox] = []
        self._scheduled = False

    def schedule(self, outbox: Outbox) -> None:
        self._pending.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._clock.callLater(0, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for outbox in pending:
            outbox.flush()


@implementer(IPushProducer, ISink)
class Outbox:
    __slots__ = (
        "_chunks",
        "_direct",
        "_flusher",
        "_hold",
        "_paused",
        "_raw",
        "_scheduled",
        "_size",
        "closed",
        "limit",
        "owner",
        "transport",
    )

    def __init__(
        self,
        transport: Any,
        flusher: Flusher,
        limit: int,
        owner: Owner,
        pause_at: int = 16 * 1024,
        direct: bool = True,
    ) -> None:
        self.transport = transport
        self._flusher = flusher
        self.limit = limit
        self.owner = owner
        self._chunks: list[bytes] = []
        self._size = 0
        self._paused = False
        self._scheduled = False
        self._raw: RawSend | None = None
        self.closed = False
        # Writes wait (counted against ``limit``) rather than go out: paused, closed, or a
        # raw send in progress. One flag for the three, kept by ``_rehold``: every delivery
        # reads it.
        self._hold = False
        # ``direct-send = false`` keeps every write on Twisted's buffered path.
        self._direct = direct and isinstance(transport, tcp.Connection)
        if hasattr(transport, "bufferSize"):
            # A plain TCP transport pauses its producer past bufferSize (64 KiB by default).
            transport.bufferSize = pause_at
        transport.registerProducer(self, True)

    @property
    def queued(self) -> int:
        """Bytes waiting here (not yet handed to the transport)."""
        return sum(map(len, self._chunks))

    def _rehold(self) -> None:
        self._hold = self._paused or self.closed or self._raw is not None

    def write(self, data: bytes) -> None:
        # The hot path of every delivery: nothing but an append while the client reads.
        if self._hold:
            self._held(data)
            return
        self._chunks.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)

    def mark(self) -> int:
        """Where the next write goes among what waits: ``since`` takes back what follows.
        Nothing is flushed within a reactor turn, so a mark holds for the rest of it."""
        return len(self._chunks)

    def since(self, mark: int) -> list[bytes]:
        """Take back what was written since ``mark`` in this turn, to be rewritten (IRC's
        labeled-response gathers a command's replies so)."""
        taken = self._chunks[mark:]
        del self._chunks[mark:]
        if self._hold and taken:
            self._size = max(0, self._size - sum(map(len, taken)))
        return taken

    def _held(self, data: bytes) -> None:
        """A write while the client is not reading: counted against ``limit``."""
        if self.closed:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.limit:
            self.closed = self._hold = True
            self._chunks.clear()
            self._size = 0
            self.owner.output_overflowed()

    def flush(self) -> None:
        """Hand everything waiting to the transport (unless the client is not reading)."""
        self._scheduled = False
        chunks = self._chunks
        if self._hold or not chunks:
            return
        data = b"".join(chunks) if len(chunks) > 1 else chunks[0]
        chunks.clear()
        if self._direct:
            data = send_now(self.transport, data)
            if not data:
                return
        self.transport.write(data)

    def send_raw(self, source: BinaryIO, size: int) -> Deferred[None]:
        """Send ``size`` bytes read from ``source`` after what is queued; fires once the last
        is handed to the transport. ``source`` is closed when done or when the client goes.
        Reads are of ``RAW_CHUNK`` bytes, from the page cache in the common case: a short
        synchronous read, like twisted.protocols.basic.FileSender's."""
        assert self._raw is None, "one raw send at a time"
        done: Deferred[None] = Deferred()
        if self.closed:
            source.close()
            return done
        # What is queued (the reply announcing the bytes) goes first.
        head = b"".join(self._chunks)
        self._chunks.clear()
        self._size = len(head)
        self._raw = RawSend(source, size, done, head)
        self._hold = True
        self._pump()
        return done

    def _pump(self) -> None:
        """Hand the transport chunks of the raw send until it pauses us or the file is out."""
        raw = self._raw
        while raw is not None and not self._paused and not self.closed:
            if raw.head:
                head, raw.head = raw.head, b""
                self._size = 0
                self.transport.write(head)
            elif raw.left:
                chunk = raw.source.read(min(RAW_CHUNK, raw.left))
                if not chunk:  # the file shrank under us: the client can't be told in-band
                    self._end_raw()
                    self.abort()
                    return
                raw.left -= len(chunk)
                self.transport.write(chunk)
            if not raw.left:
                self._end_raw()
                self._size = self.queued if self._paused else 0
                if self._chunks and not self._scheduled:
                    self._scheduled = True
                    self._flusher.schedule(self)
                raw.done.callback(None)
                return

    def _end_raw(self) -> None:
        raw, self._raw = self._raw, None
        self._rehold()
        if raw is not None:
            raw.source.close()

    def close(self) -> None:
        """Send what waits, then close the connection once the transport has sent it too.

        Every way a connection closes itself comes here, so ``on_close`` is where it can be
        bounded: the transport's "once sent" waits on the client (to read, or to finish a
        TLS handshake), which may never come.
        """
        if self.closed:
            return
        self.release()
        self.transport.loseConnection()
        self.owner.output_closing()

    def release(self) -> None:
        """Hand what waits to the transport, reading or not, and take no more writes: the
        first half of ``close``, for a protocol that ends with a goodbye of its own (the
        WebSocket's close frame, ``chatd.frontends.web.sink``)."""
        if self.closed:
            return
        if self._raw is not None:
            # Mid-file, a goodbye would be read as the file's bytes: the client sees the
            # file cut short by the close instead.
            self._end_raw()
            self._chunks.clear()
        if self._chunks:
            self.transport.write(b"".join(self._chunks))
            self._chunks.clear()
        self.closed = self._hold = True
        self.transport.unregisterProducer()

    def abort(self) -> None:
        """Drop the connection now: nothing that waits is sent."""
        self._end_raw()
        self.closed = self._hold = True
        self._chunks.clear()
        self._size = 0
        self.transport.abortConnection()

    def pauseProducing(self) -> None:
        self._paused = self._hold = True
        self._size = self.queued

    def resumeProducing(self) -> None:
        self._paused = False
        self._rehold()
        if self._raw is not None:
            self._pump()
            return
        if self._chunks and not self._scheduled and not self.closed:
            self._scheduled = True
            self._flusher.schedule(self)

    def stopProducing(self) -> None:
        self._end_raw()
        self.closed = self._hold = True
        self._chunks.clear()
        self._size = 0
