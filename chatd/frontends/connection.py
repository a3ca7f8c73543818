"""What every stream frontend's connections share, whatever their wire format.

``FrontendFactory`` holds what a frontend's connections have in common (the portal, the
settings, the clock, admission, counters, the flusher and the registry used at shutdown).
``ChatConnection`` is a stream connection's life outside its protocol, put together from
three parts that know no stream of their own:

* the ``ConnectionPolicy`` (``chatd.frontends.policy``): admission, the login timer and the
  bytes-before-login cap, the TLS handshake deadline and the bound on every close, and input
  handled strictly one line at a time;
* the ``Outbox`` (``chatd.frontends.outbox``), the stream sink: coalesced output, sent
  straight to the socket when it can, slow readers dropped past ``max_output``;
* the ``LineFramer``, which cuts the byte stream into bounded lines.

What is left here is the glue to a Twisted stream transport (its address, TLS handshake,
pause and resume of reading) and logging the session out, with the reason its rooms hear,
when the connection goes.

A frontend subclasses it and supplies ``handle`` (one framed line), ``close`` (tell the client
why, in its own format, then close) and the texts of its own refusals.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHandshakeListener, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.admission import Admission
from chatd.frontends.connections import Connections
from chatd.frontends.framing import LineFramer, TooLong
from chatd.frontends.outbox import Flusher, Outbox
from chatd.frontends.policy import CLOSE_GRACE, HANDSHAKE_TIMEOUT, ConnectionPolicy, Counters
from chatd.kernel.events import LeaveReason
from chatd.kernel.interfaces import IChatSession

log = Logger()

# Why reading from a client is paused (bits): its queue of lines is long (the policy's), an
# upload waits on the disk, bytes after a /send wait unframed for its answer, or a pasted
# line waits for the message rate.
PAUSE_QUEUE = 1
PAUSE_DISK = 2
PAUSE_HELD = 4
PAUSE_PASTE = 8
# Bytes held unframed after a /send before reading pauses: a client should send none before
# the 350 reply, so this is only what a pipelining client sent ahead.
HOLD_LIMIT = 64 * 1024


class FrontendFactory(ServerFactory):
    def __init__(
        self,
        portal: Portal,
        options: Any,
        clock: IReactorTime,
        admission: Admission,
        stats: Counters,
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
    # Thousands of idle connections are the common case: slots keep each one small, down
    # to what Twisted sets on a protocol (``transport``, ``connected``), which would
    # otherwise fill each connection's __dict__ (Twisted's Protocol has no slots, so the
    # empty __dict__ itself stays). ``factory`` is not set: ``_home`` is it.
    __slots__ = (
        "_clock", "_closed", "_framer", "_home", "_intake", "_options",
        "_paused_by", "connected", "host", "leave_reason", "outbox", "policy", "quit_message",
        "session", "transport",
    )
    # A TCP or TLS transport: ITransport, IPushProducer, and ``disconnecting``.
    transport: Any
    kind = "?"  # the protocol's name, for logs

    def __init__(self, home: FrontendFactory, max_line: int,
                 stop_at: Callable[[bytes], bool] | None = None) -> None:
        self._home = home
        self.transport = None
        self.connected = 0
        self._options = home.options
        self._clock = home.clock
        self._framer = LineFramer(max_line, stop_at)
        # While set, what the client sends goes here first, raw (an upload's bytes); it gives
        # back what is past its end, which is framed as lines again.
        self._intake: Callable[[bytes], bytes] | None = None
        self._paused_by = 0  # the PAUSE_* reasons reading is paused for
        self._closed = False
        self.leave_reason = LeaveReason.LOST
        self.quit_message = ""
        self.session: IChatSession | None = None
        self.outbox: Outbox
        self.policy: ConnectionPolicy[bytes | TooLong]
        self.host = ""  # the address alone: what per-address limits count by

    @property
    def peer(self) -> str:
        """host:port, for logs: made when a line is logged, not kept by each connection."""
        return f"{self.host}:{getattr(self.transport.getPeer(), 'port', '')}"

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
        # Not logged here: the login (or the close of a connection that never logged in)
        # says where it came from. One line per connection, not three, at 9,000 connects.
        home = self._home
        self.outbox = Outbox(self.transport, home.flusher, self._options.max_output, self,
                             direct=self._options.direct_send)
        self.policy = ConnectionPolicy(home, self._options, self, self.outbox, self.host)
        home.connections.add(self)
        # Twisted calls connectionMade before the TLS handshake starts.
        tls = isinstance(self.transport, TLSMemoryBIOProtocol)
        if self.policy.open("TLS" if tls else None):
            self.admitted()

    def handshakeCompleted(self) -> None:
        """The TLS layer is up: the client can now read what it is sent, goodbyes included."""
        self.policy.handshaken()

    def output_closing(self) -> None:
        """The outbox has asked the transport to close: the policy makes sure that it does."""
        self.policy.closing()

    def output_overflowed(self) -> None:
        """The client stopped reading and too much piled up: drop it, tell its rooms."""
        log.warn("dropping {kind} {peer} ({name}): it stopped reading and over {limit} bytes "
                 "queued", kind=self.kind, peer=self.peer,
                 name=self.session.name if self.session else "anonymous",
                 limit=self._options.max_output)
        self.leave_reason = LeaveReason.SLOW
        self.outbox.abort()

    def logged_in(self, session: IChatSession) -> None:
        """The portal's login succeeded. Its logout is the session's ``quit`` (see
        ``chatd.auth.realm``), which ``connectionLost`` calls with the reason."""
        self.session = session
        self.policy.logged_in()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._home.connections.remove(self)
        self.policy.lost()
        self._closed = True
        self.outbox.stopProducing()
        self.gone()
        if self.session is not None:
            self.session.quit(self.leave_reason, self.quit_message)
        log.info("{kind} connection from {peer} closed ({who})", kind=self.kind, peer=self.peer,
                 who=f"{self.session.name} logged out: {self.leave_reason.value}"
                 if self.session else "never logged in")

    # -- input -------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        policy = self.policy
        if not policy.named and not policy.received(len(data)):
            return
        self.activity()
        intake = self._intake
        if intake is not None:
            data = intake(data)
            if not data:
                return
        framer = self._framer
        policy.push(self.frame(data))
        if framer.holding and framer.held > HOLD_LIMIT:
            self.pause_reading(PAUSE_HELD)

    def frame(self, data: bytes) -> list[bytes | TooLong]:
        """The lines ``data`` completes (a frontend may first take out what is not text)."""
        return self._framer.feed(data)

    def divert(self, intake: Callable[[bytes], bytes] | None) -> None:
        """Send what the client sends to ``intake`` first (None: lines only again)."""
        self._intake = intake

    def pause_reading(self, why: int = 1) -> None:
        """Stop reading from the client for ``why`` (a PAUSE_* bit), until it is resumed
        for every reason it was paused for."""
        if not self._paused_by:
            self.transport.pauseProducing()
        self._paused_by |= why

    def resume_reading(self, why: int = 1) -> None:
        if not self._paused_by & why:
            return
        self._paused_by &= ~why
        if not self._paused_by:
            self.transport.resumeProducing()

    def drain(self) -> None:
        """Handle the lines that can be handled now."""
        self.policy.drain()

    def idle(self) -> bool:
        """No line waiting and none being handled."""
        return self.policy.idle()
