"""What every frontend's connections share, whatever their wire format.

``FrontendFactory`` holds what a frontend's connections have in common (the portal, the
settings, the clock, admission, counters, the flusher and the registry used at shutdown).
``ChatConnection`` is the connection's life outside its protocol:

* admission at connect, the time and byte limits before login, and release at close;
* bounded closing: a TLS connection must finish its handshake within ``handshake_timeout``,
  one closed before its handshake is aborted, and any close that takes longer than
  ``close_grace`` (a client that stops reading) is aborted, so no socket outlives its
  welcome;
* the ``Outbox`` (coalesced output, slow readers dropped past ``max_output``);
* input framed by ``LineFramer`` and handled strictly one line at a time: while one line's
  reply waits on a password hash or a durable write, later lines queue, and reading pauses
  once the queue is long, so pasted commands behave as typed;
* logging the session out, with the reason its rooms hear, when the connection goes.

A frontend subclasses it and supplies ``handle`` (one framed line), ``close`` (tell the client
why, in its own format, then close) and the texts of its own refusals.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.core.stats import Stats
from chatd.frontends.admission import Admission
from chatd.frontends.connections import Connections
from chatd.frontends.line_codec import LineFramer, TooLong
from chatd.frontends.outbox import Flusher, Outbox
from chatd.kernel.events import LeaveReason
from chatd.kernel.interfaces import IChatSession

log = Logger()

# Lines queued behind a slow command before reading from the socket pauses.
QUEUE_PAUSE = 32
# Seconds a TLS client has, from its connect, to finish the handshake. Until it does, the
# connection holds a descriptor and an admission slot and can be told nothing.
HANDSHAKE_TIMEOUT = 10.0
# Seconds a closing connection has to take its goodbye before it is aborted. Closing waits
# for the client to read what is queued (and, over TLS, to answer the close_notify); one
# that never does would otherwise keep its socket for good.
CLOSE_GRACE = 10.0


class FrontendFactory(ServerFactory):
    def __init__(
        self,
        portal: Portal,
        options: Any,
        clock: IReactorTime,
        admission: Admission,
        stats: Stats,
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        close_grace: float = CLOSE_GRACE,
    ) -> None:
        self.portal = portal
        self.options = options  # the frontend's Options: read by each new connection
        self.clock = clock
        self.admission = admission
        self.stats = stats
        self.handshake_timeout = handshake_timeout
        self.close_grace = close_grace
        self.flusher = Flusher(clock)
        self.connections = Connections(clock)


@implementer(IHandshakeListener)
class ChatConnection(Protocol, metaclass=ABCMeta):
    # Thousands of idle connections are the common case: slots keep each one small.
    __slots__ = (
        "_admitted", "_before_login", "_busy", "_clock", "_closed", "_deadline", "_framer",
        "_handshaken", "_home", "_login_timer", "_logout", "_options", "_paused", "_queue",
        "host", "leave_reason", "outbox", "peer", "quit_message", "session",
    )
    # A TCP or TLS transport: ITransport, IPushProducer, and ``disconnecting``.
    transport: Any
    kind = "?"  # the protocol's name, for logs

    def __init__(self, home: FrontendFactory, max_line: int) -> None:
        self._home = home
        self._options = home.options
        self._clock = home.clock
        self._framer = LineFramer(max_line)
        # A list, not a deque: an empty deque costs 760 bytes on each idle connection.
        self._queue: list[bytes | TooLong] = []
        self._busy = False
        self._paused = False
        self._closed = False
        self._admitted = False
        self._before_login = 0  # bytes received while anonymous
        self._login_timer: IDelayedCall | None = None
        # False from a TLS connect until its handshake is done; True at once without TLS.
        self._handshaken = True
        # When the connection is aborted unless it first gets past where it is: the TLS
        # handshake, then (once closing) the close.
        self._deadline: IDelayedCall | None = None
        self.leave_reason = LeaveReason.LOST
        self.quit_message = ""
        self.session: IChatSession | None = None
        self._logout: Callable[[], None] | None = None
        self.outbox: Outbox
        self.peer = ""  # host:port, for logs
        self.host = ""  # the address alone: what per-address limits count by

    # -- what a frontend supplies -----------------------------------------------------

    @abstractmethod
    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one framed line; a Deferred if its reply is still to come."""

    @abstractmethod
    def close(self, why: str) -> None:
        """Tell the client why, in the frontend's format; close once the output is sent."""

    def admitted(self) -> None:
        """The connection was let in: greet, start timers."""

    def activity(self) -> None:
        """Input arrived (for idle and keep-alive timers)."""

    def login_timeout_text(self) -> str:
        return f"no login within {self._options.login_timeout:g} seconds; goodbye"

    def too_much_text(self) -> str:
        return f"more than {self._options.max_bytes_before_login} bytes before logging in"

    def gone(self) -> None:
        """The connection is closed; release the frontend's own state."""

    # -- connection --------------------------------------------------------------------

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.host = str(getattr(address, "host", address))
        self.peer = f"{self.host}:{getattr(address, 'port', '')}"
        # Not logged here: the login (or the close of a connection that never logged in)
        # says where it came from. One line per connection, not three, at 9,000 connects.
        home = self._home
        self.outbox = Outbox(self.transport, home.flusher, self._options.max_output,
                             self._overflowed, self._closing)
        home.connections.add(self, self.close)
        # Twisted calls connectionMade before the TLS handshake starts: the deadline runs
        # from the connect, like the login timer, and a refusal below is an abort.
        if isinstance(self.transport, TLSMemoryBIOProtocol):
            self._handshaken = False
            self._deadline = self._clock.callLater(
                home.handshake_timeout, self._abort,
                f"no TLS handshake within {home.handshake_timeout:g} seconds")
        refused = home.admission.admit(self.host)
        if refused is not None:
            log.info("refused {kind} connection from {peer}: {why}", kind=self.kind,
                     peer=self.peer, why=refused)
            self.close(refused)
            return
        self._admitted = True
        if self._options.login_timeout:
            self._login_timer = self._clock.callLater(
                self._options.login_timeout, self._login_too_slow
            )
        self.admitted()

    def _login_too_slow(self) -> None:
        self._login_timer = None
        self.leave_reason = LeaveReason.TIMEOUT
        self.close(self.login_timeout_text())

    def handshakeCompleted(self) -> None:
        """The TLS layer is up: the client can now read what it is sent, goodbyes included."""
        self._handshaken = True
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _closing(self) -> None:
        """The outbox has asked the transport to close: make sure that it does.

        Before a TLS handshake, Twisted's ``loseConnection`` keeps the socket until the
        handshake completes so that the goodbye can be encrypted; a client that sends
        nothing never completes it. Such a client could not read the goodbye anyway, so the
        connection is aborted now. Otherwise the client gets ``close_grace`` seconds to
        read what is queued.
        """
        if not self._handshaken:
            self.transport.abortConnection()
            return
        grace = self._home.close_grace
        self._deadline = self._clock.callLater(
            grace, self._abort, f"still not closed {grace:g} seconds after its goodbye")

    def _abort(self, why: str) -> None:
        self._deadline = None
        log.info("aborting {kind} connection from {peer}: {why}", kind=self.kind,
                 peer=self.peer, why=why)
        self.transport.abortConnection()

    def _overflowed(self) -> None:
        """The client stopped reading and too much piled up: drop it, tell its rooms."""
        log.warn("dropping {kind} {peer} ({name}): it stopped reading and over {limit} bytes "
                 "queued", kind=self.kind, peer=self.peer,
                 name=self.session.name if self.session else "anonymous",
                 limit=self._options.max_output)
        self.leave_reason = LeaveReason.SLOW
        self.transport.abortConnection()

    def logged_in(self, session: IChatSession, logout: Callable[[], None]) -> None:
        self.session = session
        self._logout = logout
        self._home.admission.named(self.host)
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._home.connections.remove(self)
        if self._admitted:
            self._home.admission.release(self.host, named=self.session is not None)
        if self._login_timer is not None:
            self._login_timer.cancel()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._closed = True
        self.outbox.stopProducing()
        self._queue.clear()
        self.gone()
        if self.session is not None and self._logout is not None:
            self.session.quit(self.leave_reason, self.quit_message)
            self._logout()
        log.info("{kind} connection from {peer} closed ({who})", kind=self.kind, peer=self.peer,
                 who=self.session.name if self.session else "never logged in")

    # -- input -------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.session is None:
            self._before_login += len(data)
            if self._before_login > self._options.max_bytes_before_login and not self._busy:
                self.close(self.too_much_text())
                return
        self.activity()
        self._queue.extend(self._framer.feed(data))
        self.drain()

    def drain(self) -> None:
        queue = self._queue
        done = 0
        while done < len(queue) and not self._busy and not self.outbox.closed:
            result = self.handle(queue[done])
            done += 1
            if result is not None:
                self._busy = True
                result.addBoth(self._finished)
        del queue[:done]
        if self.outbox.closed:
            return
        if len(self._queue) > QUEUE_PAUSE and not self._paused:
            self._paused = True
            self.transport.pauseProducing()
        elif self._paused and not self._queue:
            self._paused = False
            self.transport.resumeProducing()

    def idle(self) -> bool:
        """No line waiting and none being handled."""
        return not self._queue and not self._busy

    def _finished(self, _: object) -> None:
        self._busy = False
        self.drain()
