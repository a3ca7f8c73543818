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
from chatd.frontends.connection import PAUSE_DISK, PAUSE_HELD, ChatConnection, FrontendFactory
from chatd.frontends.entry import Frontend
from chatd.frontends.interpreter import ICommandClient, LineInterpreter, Reply
from chatd.frontends.line_codec import DEFAULT_PORT, Code, TooLong, render_event, reply
from chatd.frontends.policy import Counters
from chatd.kernel import errors
from chatd.kernel.events import Event, LeaveReason, SessionEnded
from chatd.kernel.interfaces import IChatMind, IChatSession, IUpload
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Settings, listeners
from chatd.kernel.text import for_log

log = Logger()

# Where a connection is after an upload: none just ended; its bytes are all in and nothing
# has come past them (yet); bytes came past them before the final reply, so the next line
# is the tail of a file sent with more than its SIZE unless it is a command.
NO_UPLOAD, UPLOADED, EXCESS = 0, 1, 2
# Bytes of an upload waiting for the disk before reading from its client pauses.
UPLOAD_BACKLOG = 1024 * 1024


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
        )


@implementer(IChatMind, IHalfCloseableProtocol, ICommandClient)
class LineProtocol(ChatConnection, TimeoutMixin):
    """One telnet/netcat connection.

    Half-closes are honoured: ``printf '/nick a\\n/join x\\nhi\\n' | nc HOST PORT`` ends its
    input before the replies come back, and every queued line is still run and answered
    before the connection closes.
    """

    __slots__ = ("_after_upload", "_interpreter", "_portal", "_upload", "callLater")
    kind = "line"
    render = staticmethod(render_event)
    echo = True  # the sender sees its own message, in order with everyone else's

    def __init__(self, home: LineFactory) -> None:
        super().__init__(home, home.options.max_line, starts_upload)
        self._portal = home.portal
        self._upload: tuple[IUpload, Deferred[Reply]] | None = None
        self._after_upload = NO_UPLOAD
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
        if self._upload is not None:
            upload, done = self._upload
            self._end_upload()
            upload.abort()
            done.errback(errors.BadUpload(
                f"the input ended after {upload.received} of {upload.size} bytes; "
                "the file was not stored"))
        self.policy.end_of_input()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def gone(self) -> None:
        self.setTimeout(None)
        if self._upload is not None:
            upload, _ = self._upload
            self._end_upload()
            upload.abort()
            log.info("{peer} went {received} bytes into an upload of {size}; it was removed",
                     peer=self.peer, received=upload.received, size=upload.size)

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
        if self._after_upload == EXCESS:
            self._after_upload = NO_UPLOAD
            if item and not item.startswith(b"/"):
                # The tail of a file sent with more bytes than its SIZE: never said in a room.
                self._home.stats.rejected["BadUpload"] += 1
                self.send(Code.BAD_UPLOAD, "that line came straight after an upload and is "
                          "not a command: more bytes than SIZE were sent? it was ignored")
                return None
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError:
            self._home.stats.rejected["BadEncoding"] += 1
            self.send(Code.BAD_ENCODING, "that line is not valid UTF-8; it was ignored")
            return None
        answer = self._interpreter.feed(self, text)
        # The line the framer stopped at (a /send): once it is answered, what was held after
        # it is lines again. Any other line leaves the framer as it is.
        stopped = self._framer.holding and starts_upload(item)
        if isinstance(answer, Deferred):
            answered: Deferred[None] = answer.addCallback(self._answer)
            if stopped:
                answered.addBoth(self._frame_again)
            return None if answered.called else answered
        if answer is not None:
            self._answer(answer)
        if stopped:
            self._frame_again(None)
        return None

    def _frame_again(self, result: Any) -> Any:
        """A /send has its final reply: what the client sent after it is lines again."""
        framer = self._framer
        if framer.holding:
            # Only bytes that came before the final reply can be a file's excess: a line
            # typed after it is the user's.
            if self._after_upload == UPLOADED:
                self._after_upload = EXCESS if framer.held else NO_UPLOAD
            self.resume_reading(PAUSE_HELD)
            self.policy.push(framer.release(), drain=False)
        return result

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

    # -- files -------------------------------------------------------------------------

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        """``/send``: 350, then the next ``size`` bytes the client sends are the file's."""
        assert self.session is not None
        upload = self.session.send_file(name, room, size, sha256)
        done: Deferred[Reply] = Deferred()
        self._upload = (upload, done)
        self.send(Code.SEND_BYTES, f"send {size} bytes")
        self.divert(self._take_bytes)
        # What the client sent ahead of the 350 is the file's start (SMTP's BDAT). Reading
        # may have paused for it (PAUSE_HELD): the rest of the file must come in now.
        self._framer.feed(self._take_bytes(self._framer.take()))
        self.resume_reading(PAUSE_HELD)
        return done

    def _take_bytes(self, data: bytes) -> bytes:
        """The upload's share of ``data``; what is past its SIZE is given back."""
        assert self._upload is not None
        upload, done = self._upload
        wanted = upload.size - upload.received
        if data:
            upload.write(data[:wanted])
        if upload.pending > UPLOAD_BACKLOG:
            self.pause_reading(PAUSE_DISK)
            upload.drained().addCallback(lambda _: self.resume_reading(PAUSE_DISK))
        if upload.received == upload.size:
            self._end_upload()
            self._after_upload = EXCESS if len(data) > wanted else UPLOADED
            upload.finish().addCallbacks(
                lambda view: done.callback(Reply(
                    Code.FILE_STORED, f"{view.id} {view.size} {view.sha256} {view.name}")),
                done.errback)
        return data[wanted:]

    def _end_upload(self) -> None:
        self._upload = None
        self.divert(None)
        self.resume_reading(PAUSE_DISK)

    def download_file(self, file_id: str) -> Deferred[Reply]:
        """``/get``: 351 SIZE NAME, the raw bytes, then 251."""
        assert self.session is not None
        view, source = self.session.open_file(file_id)
        self.send(Code.BYTES_FOLLOW, f"{view.size} {view.name}")
        log.info("{peer} fetching {id} ({size} bytes)", peer=self.peer, id=view.id,
                 size=view.size)
        return self.outbox.send_raw(source, view.size).addCallback(
            lambda _: Reply(Code.FILE_SENT, f"{view.id} {view.size} {view.sha256}"))

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


def starts_upload(line: bytes) -> bool:
    """Whether raw bytes may follow this line (``/send``): the framer stops after it."""
    return line[:6].lower() == b"/send "


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
