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
from twisted.internet.interfaces import IDelayedCall, IHalfCloseableProtocol, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.admission import Admission
from chatd.frontends.codes import DEFAULT_PORT, Code, multiline, reply
from chatd.frontends.connection import (
    PAUSE_DISK,
    PAUSE_HELD,
    PAUSE_PASTE,
    ChatConnection,
    FrontendFactory,
)
from chatd.frontends.entry import NO_FACTS, Facts, Frontend
from chatd.frontends.framing import TooLong
from chatd.frontends.interpreter import (
    ICommandClient,
    LineInterpreter,
    Reply,
    is_message,
    replay_on_join,
)
from chatd.frontends.line_codec import edit_line
from chatd.frontends.policy import Counters
from chatd.frontends.rendering import render_event, render_history
from chatd.frontends.telnet import DISCARD, IAC, TelnetFilter
from chatd.frontends.upload_deadline import DEFAULT_PACE, UploadDeadline, UploadPace
from chatd.kernel import errors
from chatd.kernel.errors import UploadTooSlow
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
# Telnet's IAC as an int: ``IAC_BYTE in data`` is a memchr, ``IAC in data`` (bytes) a
# substring search, about seven times the instructions, on every read.
IAC_BYTE = IAC[0]
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
    # Messages of a room's history replayed (110) to a member who joins it (0: none).
    replay: int = DEFAULTS["history-replay"]
    udp_port: int | None = None  # the UDP channel's, for /token; None: off
    # Text lines over the message rate held back and sent at the rate before 429 (0: none).
    paste_queue: int = DEFAULTS["paste-queue"]
    upload_pace: UploadPace = DEFAULT_PACE

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        return cls(
            max_line=settings.max_line,
            idle_timeout=settings.idle_timeout,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            direct_send=settings.direct_send,
            replay=settings.history_replay if settings.history_max_count else 0,
            udp_port=facts.udp_port,
            paste_queue=settings.paste_queue,
            upload_pace=UploadPace.from_settings(settings),
        )


@implementer(IChatMind, IHalfCloseableProtocol, ICommandClient)
class LineProtocol(ChatConnection, TimeoutMixin):
    """One telnet/netcat connection.

    Half-closes are honoured: ``printf '/nick a\\n/join x\\nhi\\n' | nc HOST PORT`` ends its
    input before the replies come back, and every queued line is still run and answered
    before the connection closes.
    """

    __slots__ = ("_after_upload", "_held_back", "_interpreter", "_paste_call", "_portal",
                 "_telnet", "_upload")
    kind = "line"
    render = staticmethod(render_event)
    echo = True  # the sender sees its own message, in order with everyone else's
    seat = None  # a connection, not a seat in one room (IChatMind.seat)
    attached = None  # its format never changes while attached (IChatMind.attached)

    def __init__(self, home: LineFactory) -> None:
        super().__init__(home, home.options.max_line, starts_upload)
        self._portal = home.portal
        self._upload: tuple[IUpload, Deferred[Reply], UploadDeadline] | None = None
        self._after_upload = NO_UPLOAD
        self._interpreter = home.interpreter
        self._telnet: TelnetFilter | None = None  # made at the first IAC, if one ever comes
        # Text lines held back for the message rate since one last went out at once (a
        # paste's lines past the burst), and the timer of the one waiting now.
        self._held_back = 0
        self._paste_call: IDelayedCall | None = None

    # -- connection --------------------------------------------------------------------

    def callLater(self, period: float, func: Callable[[], object]) -> IDelayedCall:
        """TimeoutMixin's clock: the factory's, so tests can pass a task.Clock (a method,
        not a bound method kept on each connection)."""
        return self._clock.callLater(period, func)

    def admitted(self) -> None:
        guests = "/nick NAME to chat as a guest, " if self._options.guests else ""
        limit = self._options.login_timeout
        within = f" (log in within {limit:g} seconds; /help gives you longer)" if limit else ""
        self.send(
            Code.GREETING,
            f"chatd ready. {guests}/signup NAME PASSWORD or /login NAME PASSWORD for an "
            f"account, /help for all commands{within}",
        )
        if self._options.idle_timeout:
            self.setTimeout(self._options.idle_timeout)

    # Input arrived: the idle timer starts again (no wrapper: it runs for every read).
    activity = TimeoutMixin.resetTimeout

    @property
    def udp_port(self) -> int | None:
        port: int | None = self._options.udp_port
        return port

    def too_much_text(self) -> str:
        return super().too_much_text() + "; goodbye"

    def login_timeout_text(self) -> str:
        return super().login_timeout_text() + " (connect again to start over)"

    def timeoutConnection(self) -> None:
        self.leave_reason = LeaveReason.TIMEOUT
        self.close(f"idle for {self._options.idle_timeout:g} seconds; goodbye")

    def close(self, why: str) -> None:
        """Tell the client why (109), and close once what is queued has been sent."""
        self.send(Code.CLOSING, why)
        self.outbox.close()

    def readConnectionLost(self) -> None:
        if self._upload is not None:
            upload, done, _ = self._upload
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
        if self._paste_call is not None and self._paste_call.active():
            self._paste_call.cancel()
        self._paste_call = None
        if self._upload is not None:
            upload, _, _ = self._upload
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
        for kept in replay_on_join(self.session, event, self._options.replay):
            self.outbox.write(render_history(kept))

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.outbox.write

    # -- input -------------------------------------------------------------------------

    def frame(self, data: bytes) -> list[bytes | TooLong]:
        """Lines, with telnet's commands taken out (and answered) first, if there are any.

        The raw bytes of an upload are never read as telnet: once the framer holds what
        follows a ``/send`` line, and from the end of such a line within ``data``, bytes go
        to the framer as they came (a file may hold any byte, 0xFF included)."""
        framer = self._framer
        if framer.holding or (self._telnet is None and IAC_BYTE not in data):
            return framer.feed(data)  # an upload's bytes, or text without telnet (nearly all)
        if IAC_BYTE in data:
            cut = _after_upload_line(data)
            if 0 <= cut < len(data):
                return self._frame_text(data[:cut]) + self._framer.feed(data[cut:])
        return self._frame_text(data)

    def _frame_text(self, data: bytes) -> list[bytes | TooLong]:
        telnet = self._telnet
        if telnet is None:
            if IAC_BYTE not in data:
                return self._framer.feed(data)
            telnet = self._telnet = TelnetFilter(
                self.outbox.write, lambda: self.close("telnet subnegotiation too long"))
        elif telnet.passes(data):
            return self._framer.feed(data)
        lines: list[bytes | TooLong] = []
        for piece in telnet.feed(data):
            if piece is DISCARD:
                self._framer.discard()
            else:
                assert isinstance(piece, bytes)
                lines.extend(self._framer.feed(piece))
        return lines

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
            text = edit_line(item).decode("utf-8")
        except UnicodeDecodeError:
            self._home.stats.rejected["BadEncoding"] += 1
            self.send(Code.BAD_ENCODING, "that line is not valid UTF-8; it was ignored")
            return None
        session = self.session
        if session is not None and is_message(text):
            # Never a Deferred, never a /send.
            if self._options.paste_queue:
                held = self._hold_back(session, text)
                if held is not None:
                    return held
            said = self._interpreter.say(self, text)
            if said is not None:
                self._answer(said)
            return None
        if session is None and text.lstrip(" \t")[:5].lower() == "/help":
            self.policy.more_time()  # someone reading the help before logging in
        answer = self._interpreter.feed(self, text)
        # The line the framer stopped at (a /send): once it is answered, what was held after
        # it is lines again. Any other line leaves the framer as it is.
        stopped = self._framer.holding and starts_upload(item)
        if answer is None:
            if stopped:
                self._frame_again(None)
            return None
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

    def _hold_back(self, session: IChatSession, text: str) -> Deferred[None] | None:
        """Fakelag: a text line (``text``, from a logged-in ``session``) over the message
        rate waits for it (a Deferred that fires once it is said), with reading paused and
        the lines after it queued behind it, up to ``paste-queue`` lines in a row; past
        that it is refused (429) as ever. None: the line is handled now."""
        delay = session.send_delay()
        if delay <= 0:
            self._held_back = 0
            return None
        if self._held_back >= self._options.paste_queue or delay == float("inf"):
            return None
        self._held_back += 1
        self.pause_reading(PAUSE_PASTE)
        said: Deferred[None] = Deferred()
        self._paste_call = self._home.clock.callLater(delay, self._say_held, text, said)
        return said

    def _say_held(self, text: str, said: Deferred[None]) -> None:
        """A held line's time has come (or, by a rounding error, nearly: then wait on)."""
        self._paste_call = None
        session = self.session
        delay = session.send_delay() if session is not None else 0.0
        if 0 < delay < float("inf"):
            self._paste_call = self._home.clock.callLater(delay, self._say_held, text, said)
            return
        self.resume_reading(PAUSE_PASTE)
        self._answer(self._interpreter.say(self, text))
        said.callback(None)

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
        self.outbox.write(encode_reply(answer))
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
        deadline = UploadDeadline(self._clock, self._options.upload_pace, upload,
                                  self._too_slow)
        self._upload = (upload, done, deadline)
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
        upload, done, _ = self._upload
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
        if self._upload is not None:
            self._upload[2].cancel()
        self._upload = None
        self.divert(None)
        self.resume_reading(PAUSE_DISK)

    def _too_slow(self, error: UploadTooSlow) -> None:
        """The upload's deadline passed (it is aborted): answer the ``/send`` with why, and
        close. What the client sends from now on is discarded, never read as lines: the rest
        of a file, said in a room, would be worse than the cut."""
        assert self._upload is not None
        upload, done, _ = self._upload
        self._end_upload()
        self.divert(_discard)
        log.info("{peer} sent {received} bytes of an upload of {size} too slowly; it was cut",
                 peer=self.peer, received=upload.received, size=upload.size)
        done.errback(error)
        self.leave_reason = LeaveReason.TIMEOUT
        self.close("the upload was too slow; goodbye")

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

    def _tell_rooms(self, session: IChatSession) -> None:
        """A session of an account already in rooms (another session joined them) is in
        them too: one 108 per room, the one plain text goes to marked, before the welcome."""
        for name in session.my_rooms():
            room = session.room(name)
            members = f"{room.count} member{'' if room.count == 1 else 's'}"
            here = "; you talk here" if name == session.current else ""
            topic = f"; topic: {room.topic}" if room.topic else ""
            self.send(Code.IN_ROOM, f"[{room.name}] you are in {room.name} ({members}){here}"
                                    f"{topic}")

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Portal login; the session is kept, or given back if the client left meanwhile."""

        def logged_in(result: tuple[Any, IChatSession, Callable[[], None]]
                      ) -> IChatSession | None:
            _, session, logout = result
            if self._closed:
                logout()
                return None
            self.logged_in(session)
            self._tell_rooms(session)
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


def encode_reply(answer: Reply) -> bytes:
    """A reply in the line protocol: ``CODE text``, after ``CODE-line`` for each of its
    lines, after its kept messages as 110 lines. The interpreter gives replies; the stream
    alone speaks in these bytes."""
    encoded = (multiline(answer.code, answer.lines, answer.text) if answer.lines
               else reply(answer.code, answer.text))
    if answer.history:  # rarely: no generator and join for every other reply
        return b"".join(render_history(event) for event in answer.history) + encoded
    return encoded


def _discard(data: bytes) -> bytes:
    """An intake that takes everything: a connection's input after its upload was cut."""
    return b""


def starts_upload(line: bytes) -> bool:
    """Whether raw bytes may follow this line (``/send``): the framer stops after it."""
    return line[:6].lower() == b"/send "


def _after_upload_line(data: bytes) -> int:
    """Where the bytes after the first ``/send`` line in ``data`` start, or -1."""
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return -1
        if starts_upload(data[start:end]):
            return end + 1
        start = end + 1


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
        return LineProtocol(self)


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
