"""The line protocol: what a person types into telnet or netcat, and the bundled client.

Thin glue over a stream: ``ChatConnection`` frames the bytes and applies the connection
policy (lines strictly one at a time, so a pasted ``/login`` then ``/join`` behaves as
typed), this module decodes each line and hands it to the ``LineInterpreter``
(``chatd.frontends.interpreter``), which owns the command language, and writes the reply it
gives to the outbox. What is the stream's alone stays here: the greeting, refusals of lines
that are too long or not UTF-8, the idle timer, half-closes, and the 109 notice before a close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.admission import Admission
from chatd.frontends.connection import ChatConnection, FrontendFactory
from chatd.frontends.entry import Frontend
from chatd.frontends.interpreter import ICommandClient, LineInterpreter, Reply
from chatd.frontends.line_codec import DEFAULT_PORT, Code, TooLong, render_event, reply
from chatd.frontends.policy import Counters
from chatd.frontends.udp import token_port
from chatd.kernel import errors
from chatd.kernel.events import Event, LeaveReason, SessionEnded
from chatd.kernel.interfaces import IChatMind, IChatSession
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Settings, listeners
from chatd.kernel.text import for_log

log = Logger()


@dataclass(frozen=True, slots=True)
class Options:
    """The line frontend's settings (defaults: the shared keys', ``chatd.kernel.keys``)."""

    max_line: int = DEFAULTS["max-line"]
    idle_timeout: float = DEFAULTS["idle-timeout"]
    max_output: int = DEFAULTS["max-output"]
    guests: bool = not DEFAULTS["require-account"]
    login_timeout: float = DEFAULTS["login-timeout"]
    max_bytes_before_login: int = DEFAULTS["max-bytes-before-login"]
    direct_send: bool = DEFAULTS["direct-send"]
    udp_port: int | None = None  # the UDP channel's, for /token; None: off

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            max_line=settings.max_line,
            idle_timeout=settings.idle_timeout,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            direct_send=settings.direct_send,
            udp_port=token_port(settings),
        )


@implementer(IChatMind, IHalfCloseableProtocol, ICommandClient)
class LineProtocol(ChatConnection, TimeoutMixin):
    """One telnet/netcat connection.

    Half-closes are honoured: ``printf '/nick a\\n/join x\\nhi\\n' | nc HOST PORT`` ends its
    input before the replies come back, and every queued line is still run and answered
    before the connection closes.
    """

    __slots__ = ("_interpreter", "_portal", "callLater")
    kind = "line"
    render = staticmethod(render_event)
    echo = True  # the sender sees its own message, in order with everyone else's
    seat = None  # a connection, not a seat in one room (IChatMind.seat)

    def __init__(self, home: LineFactory) -> None:
        super().__init__(home, home.options.max_line)
        self._portal = home.portal
        # TimeoutMixin reads its clock from here, so tests can pass a task.Clock.
        self.callLater = home.clock.callLater  # type: ignore[method-assign, assignment]
        self._interpreter = home.interpreter

    # -- connection --------------------------------------------------------------------

    def admitted(self) -> None:
        guests = "/nick NAME to chat as a guest, " if self._options.guests else ""
        self.send(
            Code.GREETING,
            f"chatd ready. {guests}/signup NAME PASSWORD or /login NAME PASSWORD for an "
            "account, /help for all commands",
        )
        if self._options.idle_timeout:
            self.setTimeout(self._options.idle_timeout)

    def activity(self) -> None:
        self.resetTimeout()

    @property
    def udp_port(self) -> int | None:
        port: int | None = self._options.udp_port
        return port

    def too_much_text(self) -> str:
        return super().too_much_text() + "; goodbye"

    def timeoutConnection(self) -> None:
        self.leave_reason = LeaveReason.TIMEOUT
        self.close(f"idle for {self._options.idle_timeout:g} seconds; goodbye")

    def close(self, why: str) -> None:
        """Tell the client why (109), and close once what is queued has been sent."""
        self.send(Code.CLOSING, why)
        self.outbox.close()

    def readConnectionLost(self) -> None:
        self.policy.end_of_input()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def gone(self) -> None:
        self.setTimeout(None)

    def deliver(self, event: Event) -> None:
        if type(event) is SessionEnded:
            # The server ended this session (account deleted or locked): say why (109), then
            # close; connectionLost logs out as for any close.
            self.close(event.why)
            return
        self.outbox.write(event.encoded(render_event))

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.outbox.write

    # -- input -------------------------------------------------------------------------

    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one line; a Deferred if its reply is still to come."""
        if item is TooLong.LINE:
            self._home.stats.rejected["LineTooLong"] += 1
            self.send(Code.LINE_TOO_LONG,
                      f"line too long (over {self._options.max_line} bytes); it was ignored")
            return None
        assert isinstance(item, bytes)
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError:
            self._home.stats.rejected["BadEncoding"] += 1
            self.send(Code.BAD_ENCODING, "that line is not valid UTF-8; it was ignored")
            return None
        answer = self._interpreter.feed(self, text)
        if isinstance(answer, Deferred):
            answered = answer.addCallback(self._answer)
            return None if answered.called else answered
        if answer is not None:
            self._answer(answer)
        return None

    def _answer(self, answer: Reply | None) -> None:
        """Write the reply; close the connection after it if it says so."""
        if answer is None:
            return
        self.outbox.write(answer.encode())
        end = answer.end
        if end is not None:
            self.leave_reason, self.quit_message = end.reason, end.message
            if end.notice:
                self.close(end.notice)
            else:
                self.outbox.close()

    def send(self, code: Code, text: str) -> None:
        self.outbox.write(reply(code, text))

    # -- logging in --------------------------------------------------------------------

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Portal login; the session is kept, or given back if the client left meanwhile."""

        def logged_in(result: tuple[Any, IChatSession, Callable[[], None]]
                      ) -> IChatSession | None:
            _, session, logout = result
            if self._closed:
                logout()
                return None
            self.logged_in(session, logout)
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in ({kind}) from {peer}", name=session.name, kind=kind,
                     peer=self.peer)
            return session

        def refused(failure: Failure) -> Failure:
            if failure.check(errors.WrongCredentials):
                self._home.stats.login_failures += 1
            log.info("login refused from {peer}: {why}", peer=self.peer,
                     why=for_log(failure.getErrorMessage(), 200))
            return failure

        return self._portal.login(credentials, self, IChatSession).addCallbacks(
            logged_in, refused
        )


class LineFactory(FrontendFactory):
    options: Options

    def __init__(
        self,
        portal: Portal,
        options: Options,
        clock: IReactorTime,
        admission: Admission,
        stats: Counters,
        **limits: float,
    ) -> None:
        super().__init__(portal, options, clock, admission, stats, **limits)
        self.interpreter = LineInterpreter(stats)  # one for every connection

    def buildProtocol(self, addr: Any) -> LineProtocol:
        protocol = LineProtocol(self)
        protocol.factory = self
        return protocol


# The default accepts connections from this host only.
DEFAULT_LINE = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"

FRONTEND = Frontend(
    name="line",
    keys={
        "line": listeners("line-protocol listener, a Twisted endpoint string (repeatable; "
                          "ssl:PORT:privateKey=KEY:certKey=CERT for TLS)", (DEFAULT_LINE,)),
    },
    options=Options.from_settings,
    factory=LineFactory,
)
