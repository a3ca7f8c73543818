"""What every stream frontend's connections share, whatever their wire format.

``FrontendFactory`` holds what a frontend's connections have in common (the portal, the
settings, the clock, admission, counters, the flusher and the registry used at shutdown).
``ChatConnection`` is a stream connection's glue to a Twisted stream transport, put
together from parts that know no stream of their own:

* a ``ConnectionPolicy`` (``chatd.frontends.policy``): admission, the login timer and the
  bytes-before-login cap, the TLS handshake deadline and the bound on every close, input
  handled strictly one line at a time, and fakelag. The line protocol's comes with its
  ``CommandClient`` (``chatd.frontends.client``); IRC guards itself;
* the ``Outbox`` (``chatd.frontends.outbox``), the stream sink: coalesced output, sent
  straight to the socket when it can, slow readers dropped past ``max_output``;
* the ``LineFramer``, which cuts the byte stream into bounded lines: a base class of the
  connection, not an object it holds (an idle connection keeps the framer's few slots, not
  one more object with its headers and a reference to it).

What is left here is the transport's: its address, the TLS handshake, and pausing and
resuming reading for each reason a part has (the policy's, an upload's).

A frontend subclasses it and supplies ``guard`` (its policy), ``handle`` (one framed line),
``close`` (tell the client why, in its own format, then close), ``output_overflowed``
and ``gone``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IHandshakeListener,
    ILoggingContext,
    IProtocol,
    IReactorTime,
)
from twisted.internet.protocol import ServerFactory, connectionDone
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
from chatd.twisted_private import share_names

log = Logger()

# Why reading from a client is paused (bits): the policy's reasons (a long queue, a line
# waiting for the message rate); the upload intake has its own (``upload_intake``).
PAUSE_POLICY = 1


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


@implementer(IProtocol, ILoggingContext, IHandshakeListener)
class ChatConnection(LineFramer, metaclass=ABCMeta):
    # Thousands of idle connections are the common case: slots keep each one small, down
    # to what Twisted sets on a protocol (``transport``, ``connected``). It is an IProtocol
    # of its own rather than a Twisted ``Protocol``, which has no slots: a subclass would
    # carry a __dict__ (and its values) it never uses. ``factory`` is not set: ``_home``
    # is it.
    __slots__ = (
        "_clock", "_home", "_options", "_paused_by", "connected", "host", "outbox", "policy",
        "transport",
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
        LineFramer.__init__(self, max_line, stop_at)
        self._paused_by = 0  # the PAUSE_* reasons reading is paused for
        self.outbox: Outbox
        self.policy: ConnectionPolicy[bytes | TooLong]
        self.host = ""  # the address alone: what per-address limits count by

    @property
    def peer(self) -> str:
        """host:port, for logs: made when a line is logged, not kept by each connection."""
        return f"{self.host}:{getattr(self.transport.getPeer(), 'port', '')}"

    # -- what a frontend supplies -----------------------------------------------------

    @abstractmethod
    def guard(self) -> ConnectionPolicy[bytes | TooLong]:
        """The connection's policy, made once its address and outbox are known."""

    @abstractmethod
    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one framed line; a Deferred if its reply is still to come."""

    @abstractmethod
    def close(self, why: str) -> None:
        """Tell the client why, in the frontend's format; close once the output is sent."""

    @abstractmethod
    def output_overflowed(self) -> None:
        """The client stopped reading and too much piled up: drop it, tell its rooms."""

    @abstractmethod
    def gone(self) -> None:
        """The connection is closed: log out, release the frontend's own state."""

    def admitted(self) -> None:
        """The connection was let in: greet, start timers."""

    def activity(self) -> None:
        """Input arrived (for idle and keep-alive timers)."""

    # -- connection --------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        """Twisted hands the connection its transport (IProtocol)."""
        self.connected = 1
        self.transport = transport
        self.connectionMade()

    def logPrefix(self) -> str:
        """What Twisted's log lines about the connection start with (ILoggingContext)."""
        return type(self).__name__

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.host = str(getattr(address, "host", address))
        # Not logged here: the login (or the close of a connection that never logged in)
        # says where it came from. One line per connection, not three, at 9,000 connects.
        home = self._home
        share_names(self.transport, type(self).__name__)
        self.outbox = Outbox(self.transport, home.flusher, self._options.connection.max_output,
                             self, direct=self._options.connection.direct_send)
        self.policy = self.guard()
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

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._home.connections.remove(self)
        self.outbox.stopProducing()
        self.gone()

    # -- input -------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        policy = self.policy
        if not policy.named and not policy.received(len(data)):
            return
        self.activity()
        policy.push(self.frame(data))

    def frame(self, data: bytes) -> list[bytes | TooLong]:
        """The lines ``data`` completes (a frontend may first take out what is not text)."""
        return self.feed(data)

    def pause_reading(self, why: int = PAUSE_POLICY) -> None:
        """Stop reading from the client for ``why`` (a PAUSE_* bit), until it is resumed
        for every reason it was paused for."""
        if not self._paused_by:
            self.transport.pauseProducing()
        self._paused_by |= why

    def resume_reading(self, why: int = PAUSE_POLICY) -> None:
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


def logged_out(kind: str, peer: str, session: IChatSession | None, reason: LeaveReason,
               message: str) -> None:
    """A connection is gone: its session (if any) quits with the reason its rooms hear
    (the portal's logout, ``chatd.auth.realm``), and one line says so."""
    if session is not None:
        session.quit(reason, message)
    log.info("{kind} connection from {peer} closed ({who})", kind=kind, peer=peer,
             who=f"{session.name} logged out: {reason.value}" if session else "never logged in")


def dropped_slow(kind: str, peer: str, session: IChatSession | None, limit: int) -> None:
    """Log a client dropped because it stopped reading."""
    log.warn("dropping {kind} {peer} ({name}): it stopped reading and over {limit} bytes "
             "queued", kind=kind, peer=peer, name=session.name if session else "anonymous",
             limit=limit)
