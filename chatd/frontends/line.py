"""The line protocol: what a person types into telnet or netcat, and the bundled client.

Thin glue over a stream: ``ChatConnection`` frames the bytes and applies the connection
policy (lines strictly one at a time, so a pasted ``/login`` then ``/join`` behaves as
typed), this module decodes each line and hands it to the ``LineInterpreter``
(``chatd.frontends.interpreter``), which owns the command language, and writes the reply it
gives to the outbox. What is the stream's alone stays here: the greeting, refusals of lines
that are too long or not UTF-8, the idle timer, half-closes, and the 109 notice before a close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IHalfCloseableProtocol, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chatd.frontends.admission import Admission
from chatd.frontends.client import CommandClient, Format
from chatd.frontends.codes import DEFAULT_PORT, Code, multiline, reply
from chatd.frontends.connection import ChatConnection, FrontendFactory
from chatd.frontends.entry import NO_FACTS, Facts, Frontend
from chatd.frontends.framing import TooLong
from chatd.frontends.interpreter import LineInterpreter, Reply
from chatd.frontends.line_codec import edit_line
from chatd.frontends.options import DEFAULT_CONNECTION, ConnectionOptions
from chatd.frontends.policy import ConnectionPolicy, Counters
from chatd.frontends.rendering import render_event, render_history
from chatd.frontends.telnet import DISCARD, IAC, TelnetFilter
from chatd.frontends.upload_intake import (
    EXCESS,
    HOLD_LIMIT,
    PAUSE_HELD,
    UPLOADED,
    UploadIntake,
)
from chatd.kernel.events import LeaveReason
from chatd.kernel.interfaces import IChatSession
from chatd.kernel.settings import Settings, listeners

log = Logger()

# Telnet's IAC as an int: ``IAC_BYTE in data`` is a memchr, ``IAC in data`` (bytes) a
# substring search, several times dearer, on every read (docs/performance.md).
IAC_BYTE = IAC[0]


@dataclass(frozen=True, slots=True)
class Options:
    """The line frontend's settings: the shared ones (``ConnectionOptions``) are all it has."""

    connection: ConnectionOptions = DEFAULT_CONNECTION

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        return cls(ConnectionOptions.from_settings(settings, facts))


def encode_reply(answer: Reply, request: object = None) -> bytes:
    """A final reply in the line protocol: ``CODE text``, after ``CODE-line`` for each of its
    lines (no request ids; a reply's kept messages go before it as 110 lines, written by the
    command client). The interpreter gives replies; the stream alone speaks in these bytes."""
    if answer.lines:
        return multiline(answer.code, answer.lines, answer.text)
    return reply(answer.code, answer.text)


LINE_FORMAT = Format(render=render_event, history=render_history, reply=encode_reply,
                     notice=reply)


@implementer(IHalfCloseableProtocol)
class LineProtocol(ChatConnection):
    """One telnet/netcat connection: line framing, telnet, an upload's bytes. Its
    ``client`` (a ``CommandClient``) is everything else.

    Half-closes are honoured: ``printf '/nick a\\n/join x\\nhi\\n' | nc HOST PORT`` ends its
    input before the replies come back, and every queued line is still run and answered
    before the connection closes.
    """

    # Its idle timer is its own (``_idle``), not Twisted's TimeoutMixin, whose class has no
    # slots and would give every connection a __dict__.
    __slots__ = ("_idle", "_telnet", "_upload", "client")
    kind = "line"
    _home: LineFactory

    def __init__(self, home: LineFactory) -> None:
        super().__init__(home, home.options.connection.max_line, starts_upload)
        # The /send whose bytes are being taken (or whose next line may be its tail).
        self._upload: UploadIntake | None = None
        self._telnet: TelnetFilter | None = None  # made at the first IAC, if one ever comes
        self._idle: IDelayedCall | None = None  # with ``idle-timeout``: closes a silent client
        self.client: CommandClient

    @property
    def session(self) -> IChatSession | None:
        """The client's session, as the metrics count every frontend's connections."""
        return self.client.session

    @property
    def where(self) -> str:
        """The client's ``peer``, as its ``CommandClient`` logs it."""
        return self.peer

    # -- connection --------------------------------------------------------------------

    def guard(self) -> ConnectionPolicy[bytes | TooLong]:
        self.client = CommandClient(self._home, self, self.outbox, self.host)
        return self.client.policy

    def admitted(self) -> None:
        self.client.greet()
        idle = self._options.connection.idle_timeout
        if idle:
            self._idle = self._clock.callLater(idle, self.timeoutConnection)

    def activity(self) -> None:
        """Input arrived: the idle timer starts again."""
        if self._idle is not None:
            self._idle.reset(self._options.connection.idle_timeout)

    def timeoutConnection(self) -> None:
        self._idle = None
        self.client.leave_reason = LeaveReason.TIMEOUT
        self.close(f"idle for {self._options.connection.idle_timeout:g} seconds; goodbye")

    def close(self, why: str) -> None:
        """Tell the client why (109), and close once what is queued has been sent."""
        self.client.close(why)

    def output_overflowed(self) -> None:
        self.client.output_overflowed()

    def readConnectionLost(self) -> None:
        if self._upload is not None:
            self._upload.input_ended()
        self.policy.end_of_input()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def gone(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._upload is not None:
            self._upload.lost()
        self.client.lost()

    # -- input -------------------------------------------------------------------------

    def frame(self, data: bytes) -> list[bytes | TooLong]:
        """Lines, with an upload's bytes and telnet's commands (answered) taken out first.

        The raw bytes of an upload are never read as telnet: once the framer holds what
        follows a ``/send`` line, and from the end of such a line within ``data``, bytes go
        to the framer as they came (a file may hold any byte, 0xFF included)."""
        upload = self._upload
        if upload is not None and upload.taking:
            data = upload.take(data)
            if not data:
                return []
        framer = self  # the connection is its own framer (ChatConnection)
        if framer.holding or (self._telnet is None and IAC_BYTE not in data):
            lines = framer.feed(data)  # an upload's bytes, or text without telnet (nearly all)
        elif IAC_BYTE in data and 0 <= (cut := _after_upload_line(data)) < len(data):
            lines = self._frame_text(data[:cut]) + framer.feed(data[cut:])
        else:
            lines = self._frame_text(data)
        if framer.holding and framer.held > HOLD_LIMIT:
            self.pause_reading(PAUSE_HELD)
        return lines

    def _frame_text(self, data: bytes) -> list[bytes | TooLong]:
        telnet = self._telnet
        if telnet is None:
            if IAC_BYTE not in data:
                return self.feed(data)
            telnet = self._telnet = TelnetFilter(
                self.outbox.write, lambda: self.close("telnet subnegotiation too long"))
        elif telnet.passes(data):
            return self.feed(data)
        lines: list[bytes | TooLong] = []
        for piece in telnet.feed(data):
            if piece is DISCARD:
                self.discard()
            else:
                assert isinstance(piece, bytes)
                lines.extend(self.feed(piece))
        return lines

    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Decode one line for the client; a Deferred if its reply is still to come."""
        if item is TooLong.LINE:
            self._home.stats.rejected["LineTooLong"] += 1
            self.client.notice(Code.LINE_TOO_LONG, f"line too long (over "
                               f"{self._options.connection.max_line} bytes); it was ignored")
            return None
        assert isinstance(item, bytes)
        upload = self._upload
        if upload is not None and upload.state == EXCESS:
            self._upload = None
            if item and not item.startswith(b"/"):
                # The tail of a file sent with more bytes than its SIZE: never said in a room.
                self._home.stats.rejected["BadUpload"] += 1
                self.client.notice(Code.BAD_UPLOAD, "that line came straight after an upload "
                                   "and is not a command: more bytes than SIZE were sent? it "
                                   "was ignored")
                return None
        try:
            text = edit_line(item).decode("utf-8")
        except UnicodeDecodeError:
            self._home.stats.rejected["BadEncoding"] += 1
            self.client.notice(Code.BAD_ENCODING, "that line is not valid UTF-8; it was ignored")
            return None
        # The line the framer stopped at (a /send): once it is answered, what was held after
        # it is lines again. Any other line leaves the framer as it is.
        if not self.holding or not starts_upload(item):
            return self.client.command(text)
        answered = self.client.command(text)
        if answered is None:
            self._frame_again(None)
            return None
        return answered.addBoth(self._frame_again)

    def _frame_again(self, result: Any) -> Any:
        """A /send has its final reply: what the client sent after it is lines again."""
        framer = self  # the connection is its own framer (ChatConnection)
        if framer.holding:
            upload = self._upload
            if upload is not None:
                upload.answered(framer.held)
                if upload.state == UPLOADED:
                    self._upload = None
            self.resume_reading(PAUSE_HELD)
            self.policy.push(framer.release(), drain=False)
        return result

    # -- files (the wire's part of ICommandClient) -------------------------------------

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        """``/send``: 350, then the next ``size`` bytes the client sends are the file's."""
        session = self.client.session
        assert session is not None
        upload = UploadIntake(session.send_file(name, room, size, sha256), self, self._clock,
                              self._options.connection.upload_pace)
        self._upload = upload
        self.client.notice(Code.SEND_BYTES, f"send {size} bytes")
        # What the client sent ahead of the 350 is the file's start (SMTP's BDAT). Reading
        # may have paused for it (PAUSE_HELD): the rest of the file must come in now.
        self.feed(upload.take(self.take()))
        self.resume_reading(PAUSE_HELD)
        return upload.done

    def upload_cut(self) -> None:
        self.client.leave_reason = LeaveReason.TIMEOUT
        self.close("the upload was too slow; goodbye")

    def download_file(self, file_id: str) -> Deferred[Reply]:
        """``/get``: 351 SIZE NAME, the raw bytes, then 251."""
        session = self.client.session
        assert session is not None
        view, source = session.open_file(file_id)
        self.client.notice(Code.BYTES_FOLLOW, f"{view.size} {view.name}")
        log.info("{peer} fetching {id} ({size} bytes)", peer=self.peer, id=view.id,
                 size=view.size)
        return self.outbox.send_raw(source, view.size).addCallback(
            lambda _: Reply(Code.FILE_SENT, f"{view.id} {view.size} {view.sha256}"))


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
        self.format = LINE_FORMAT

    def buildProtocol(self, addr: Any) -> LineProtocol:  # type: ignore[override]  # an IProtocol
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
