"""One chat session as the person sees it, whatever shows it: connecting, reconnecting,
client commands, the transcript, and when the session is over.

The terminal and the non-interactive front ends differ only in their ``Display`` and in
whether a dropped connection ends the session (a script has nobody to watch it come back).

At a terminal, a connection that drops after the server greeted is retried by itself, after
1 s, then 2, 4 ... up to 30 s between attempts, until it is back, the person presses Ctrl-C
(``interrupt``) or quits. A connection that never greeted is not: that is a wrong port or a
TLS mismatch, which retrying will not mend. Once connected again (by itself or by
``/reconnect``) the client restores the session: after the greeting it logs in again (a
guest's nick always; an account only with a password remembered under ``--remember``, else
it asks the person to), and once welcomed it rejoins the rooms it was in, the current one
last so that it stays current, then sends the lines typed meanwhile. Those are held, at most
``MAX_HELD``, from the drop until the session is back; the server runs a connection's lines
in order, so they reach the rooms after the rejoins. Held lines that can't be sent (Ctrl-C,
/quit, a failed attempt with nobody retrying) are reported as not sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure

from chatd.frontends.codes import Code, ServerLine, parse_server_line
from chatd_client.commands import (
    CLIENT_HELP,
    GetFile,
    Mistake,
    Reconnect,
    Save,
    Send,
    SendFile,
    help_line,
    interpret,
)
from chatd_client.connection import (
    MAX_SERVER_LINE,
    ConnectionFactory,
    NoGreeting,
    ServerConnection,
    Sink,
    SpeaksTLS,
    describe_failure,
)
from chatd_client.memory import Memory
from chatd_client.options import ClientOptions
from chatd_client.render import (
    Fragments,
    LocalTime,
    client_note,
    human_size,
    plain,
    render,
    render_text,
    welcome_name,
)
from chatd_client.rooms import Rooms, room_key
from chatd_client.transcript import Transcript
from chatd_client.transfers import Download, Upload
from chatd_client.udp import UdpChannel

# How long the server gets to answer /quit before the client hangs up by itself.
QUIT_TIMEOUT = 5.0
# The wait before the first automatic reconnection attempt; it doubles after each failure.
FIRST_RETRY = 1.0
LONGEST_RETRY = 30.0
# Lines typed while the session is away, kept to send once it is back.
MAX_HELD = 50
# Seconds after a room's message is shown before the client tells the server it was read
# (/read ROOM): one /read for a burst of messages, not one each.
READ_DELAY = 1.0
# The server's answer to a /read the client sent by itself, which the person is not shown.
_READ_REPLY = re.compile(r"(?:read \S+ up to \S+|nothing to read in \S+)")
# A file shared with a room (111), for --auto-get.
_SHARED = re.compile(r"\[[^\]\s]+\] (?P<nick>\S+) shared (?P<id>\S+) [0-9]+ .+", re.DOTALL)
# What is read when shown: messages (live and from history) and files shared, by room.
_ROOM_OF = re.compile(r"(?:\S+ \S+ )?\[(?P<room>[^\]\s]+)\] ")
_SHOWN = (Code.SAID, Code.ACTION, Code.NOTICE_SAID, Code.HISTORY, Code.FILE_SHARED)
# Words of a 109 after which the server does not want the client straight back (idle, no
# login, too much before login, flooding).
_SENT_AWAY = ("goodbye", "flooding")


class Display(Protocol):
    def server_line(self, raw: str, fragments: Fragments) -> None:
        """Show one line from the server (``raw`` as received, ``fragments`` rendered)."""

    def note(self, fragments: Fragments) -> None:
        """Show something the client itself has to say."""

    def progress(self, text: str | None) -> None:
        """Show how a transfer is going, in place of what this showed last; None: it is
        over (a note says how it went)."""


def _lines(count: int) -> str:
    return "1 line" if count == 1 else f"{count} lines"


class Client:
    """Drives one session; ``finished`` fires with the process's exit status when it is over."""

    def __init__(
        self,
        clock: IReactorTime,
        options: ClientOptions,
        endpoint: IStreamClientEndpoint,
        display: Display,
        transcript: Transcript,
        *,
        stay_on_loss: bool,
    ) -> None:
        self._clock = clock
        self._options = options
        self._endpoint = endpoint
        self._display = display
        self.transcript = transcript
        self._stay_on_loss = stay_on_loss
        self._connection: ServerConnection | None = None
        self._connecting = False
        self._quitting = False
        self._reconnecting = False
        self._quit_timer: IDelayedCall | None = None
        # Automatic reconnection: on while retrying, the pending attempt, the next wait.
        self._auto = False
        self._retry: IDelayedCall | None = None
        self._retry_delay = FIRST_RETRY
        self._sent_away = False
        # Restoring the session on a new connection: None, "greeting" or "login".
        self._restoring: str | None = None
        self._rejoin: list[str] | None = None
        self._held: list[str] = []
        self.memory = Memory(options.remember)
        self.rooms = Rooms()
        self.nick: str | None = None
        self.finished: Deferred[int] = Deferred()
        # --udp: the channel the rooms' messages take once their tokens are validated.
        self.udp: UdpChannel | None = None
        if options.udp:  # the front end binds it (listen_udp)
            self.udp = UdpChannel(clock, options.host, self._udp_line, self._token)
        # The file being sent or fetched: one at a time.
        self.transfer: Upload | Download | None = None
        # --auto-get: the ids of files shared since, waiting for the transfer before them.
        self._auto_get: list[str] = []
        # Rooms whose messages were shown since the last /read, its timer, and how many of
        # the client's own /read answers are still to come (not shown).
        self._unread_rooms: set[str] = set()
        self._read_timer: IDelayedCall | None = None
        self._read_answers = 0

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def waiting(self) -> bool:
        """Connecting, or about to try again: what the person types is held for later."""
        return self._connection is None and (self._connecting or self._retry is not None)

    # -- connecting ----------------------------------------------------------------------

    def connect(self) -> Deferred[bool]:
        """Connect; fires True once chat can flow, False (after saying why) if it can't."""
        self._connecting = True
        self._quitting = False
        d = self._endpoint.connect(ConnectionFactory(self._build))
        d.addCallback(self._handshake)
        return d.addCallbacks(self._connected, self._not_connected)

    def _handshake(self, connection: object) -> Deferred[ServerConnection]:
        assert isinstance(connection, ServerConnection)
        return connection.ready.addCallback(lambda _: connection)

    def _build(self) -> ServerConnection:
        return ServerConnection(self._options.tls, self._line, self._too_long, self._lost,
                                self._bytes_follow)

    def _connected(self, connection: ServerConnection) -> bool:
        self._connecting = False
        self._connection = connection
        self._auto = False
        self._retry_delay = FIRST_RETRY
        how = " with TLS, certificate verified" if self._options.tls else ""
        self.note(f"connected to {self._options.host}:{self._options.port}{how}")
        if self.memory.identity is not None:
            self._restoring = "greeting"
        else:
            self._send_held()
        return True

    def _not_connected(self, failure: Failure) -> bool:
        self._connecting = False
        self.note(describe_failure(failure, self._options))
        if self._auto:
            self._schedule_retry()
        elif self._stay_on_loss:
            self.note("type /reconnect to try again, Ctrl-D to exit")
            self._drop_held()
        else:
            self._finish(1)
        return False

    def _lost(self, reason: Failure) -> None:
        greeted = (self._connection is not None and self._connection.received
                   and not reason.check(NoGreeting, SpeaksTLS))
        self._connection = None
        self._read_answers = 0
        transfer = self._end_transfer()
        if transfer is not None:
            if isinstance(transfer, Download):
                transfer.abandon()
            self.note("the connection went before the file was through; it was not "
                      + ("saved" if isinstance(transfer, Download) else "shared"))
        if self._rejoin is None and self.memory.identity is not None:
            self._rejoin = self.rooms.rejoin_order()
        self.rooms = Rooms()
        self.nick = None
        self._restoring = None
        sent_away, self._sent_away = self._sent_away, False
        if self._quit_timer is not None and self._quit_timer.active():
            self._quit_timer.cancel()
        if self._reconnecting:
            self._reconnecting = False
            self.note("disconnected; connecting again")
            self.connect()
        elif self._quitting and greeted:
            self.note("disconnected")
            self._finish(0)
        else:
            self.note(describe_failure(reason, self._options))
            if not self._stay_on_loss or self._quitting:
                self._finish(1)
            elif greeted and not sent_away:
                self._auto = True
                self._schedule_retry()
            else:
                self.note("type /reconnect to connect again, Ctrl-D to exit")

    def _schedule_retry(self) -> None:
        delay = self._retry_delay
        self._retry_delay = min(delay * 2, LONGEST_RETRY)
        self.note(f"connecting again in {delay:g} s (Ctrl-C to stop trying, Ctrl-D to exit)")
        self._retry = self._clock.callLater(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self.connect()

    def reconnect(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry_now()
        elif self._connecting:
            self.note("already connecting; wait for it")
        elif self._connection is not None:
            self._reconnecting = True
            self._connection.close()
        else:
            self.connect()

    def interrupt(self) -> None:
        """Ctrl-C: stop reconnecting by itself, if it is (the terminal clears the line)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        elif not (self._auto and self._connecting):
            return
        self._auto = False
        self._retry_delay = FIRST_RETRY
        if self._connecting:
            self.note("not trying again after this attempt")
        else:
            self.note("stopped trying; type /reconnect to connect, Ctrl-D to exit")
        self._drop_held()

    def quit(self) -> None:
        """End the session politely: /quit if connected (the server answers every line sent
        before it first), else at once."""
        self._drop_held()
        if self._connection is None:
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            self._finish(0)
        elif not self._quitting:
            self._transmit("/quit")

    def _finish(self, status: int) -> None:
        if not self.finished.called:
            self.finished.callback(status)

    # -- restoring the session after a reconnect -----------------------------------------

    def _restore(self, line: ServerLine) -> None:
        """Take the next step of logging in and rejoining, after the server's ``line``."""
        identity = self.memory.identity
        if self._restoring == "greeting" and line.code == Code.GREETING and identity:
            login = identity.login_line(self.memory.token)
            if login is None:
                self._restoring = None
                self.note(f"log in again with /login {identity.name} PASSWORD"
                          f"{self._afterwards()} (start chatd-client with --remember to "
                          "have that done for you)")
            else:
                self._restoring = "login"
                self.note(f"taking the seat of {identity.name} back" if login.startswith(
                    "/resume ") else f"logging in again as {identity.name}")
                self._transmit(login)
        elif line.code == Code.WELCOME and (self._restoring or self._rejoin is not None):
            self._restoring = None
            rooms, self._rejoin = self._rejoin or [], None
            # A resumed seat is in its rooms again (its 108s): only the current one is
            # joined, to be current again, and any the seat was not in.
            kept = set(map(room_key, self.rooms.names()))
            if kept:
                rooms = [room for room in rooms if room_key(room) not in kept] + [
                    room for room in rooms[-1:] if room_key(room) in kept]
            if rooms:
                self.note(f"joining {', '.join(rooms)} again")
            for room in rooms:
                self._transmit(self.memory.join_line(room))
            self._send_held()
        elif (self._restoring == "login" and line.code == Code.WRONG_CREDENTIALS and identity
              and identity.guest and self.memory.token):
            # The seat ended (its grace, an operator): the name is free again, or not.
            self.memory.token = None
            self.note(f"the seat of {identity.name} was not kept; logging in again")
            self._transmit(f"/nick {identity.name}")
        elif self._restoring == "login" and line.final and line.code >= 400 and identity:
            self._restoring = None
            if line.code == Code.WRONG_CREDENTIALS:
                self.memory.forget_password()
            self.note(f"could not log in again as {identity.name}; log in yourself"
                      f"{self._afterwards()}")

    def _afterwards(self) -> str:
        """What the client will do once the person has logged in, for the note asking them."""
        rooms = self._rejoin or []
        parts = [f"join {', '.join(rooms)} again"] if rooms else []
        if self._held:
            parts.append(f"send the {_lines(len(self._held))} typed meanwhile")
        return f", and the client will {' and '.join(parts)}" if parts else ""

    def _send_held(self) -> None:
        held, self._held = self._held, []
        if held:
            self.note(f"sending the {_lines(len(held))} typed while disconnected")
        for line in held:
            self._transmit(line)

    def _drop_held(self) -> None:
        if self._held:
            self.note(f"the {_lines(len(self._held))} typed while disconnected "
                      f"{'was' if len(self._held) == 1 else 'were'} not sent")
            self._held = []

    # -- lines ---------------------------------------------------------------------------

    def handle_input(self, line: str) -> None:
        """Act on one line the person typed."""
        match interpret(line):
            case None:
                pass
            case Mistake(message=message):
                self.note(message)
            case Save(path=path):
                self.transcript.sent(line)
                try:
                    count = self.transcript.save(path)
                except OSError as problem:
                    self.note(f"can't save the transcript to {path}: {problem.strerror}")
                else:
                    self.note(f"saved the transcript ({count} lines) to {path}")
            case Reconnect():
                self.transcript.sent(line)
                self.reconnect()
            case Send() as send:
                self.send(send.line)
            case SendFile(path=path):
                self.transcript.sent(line)
                self._send_file(path)
            case GetFile(file_id=file_id, directory=directory):
                self.transcript.sent(line)
                self._get_file(file_id, directory)

    # -- files ---------------------------------------------------------------------------

    def _can_transfer(self) -> bool:
        if self._connection is None or self._restoring:
            self.note("not connected: files can be sent and fetched once the session is back")
            return False
        if self.transfer is not None:
            self.note("a file is already on its way; wait for it to finish")
            return False
        return True

    def _send_file(self, path: Path) -> None:
        if not self._can_transfer():
            return
        room = self.rooms.current
        if room is None:
            self.note("join a room first: a file is shared with the current room")
            return
        try:
            upload = Upload(path, room, self._clock, self._display.progress)
        except OSError as problem:
            self.note(f"can't send {path}: {problem.strerror or problem}")
            return
        self.transfer = upload
        self._display.progress(f"offering {path.name} ({human_size(upload.size)}) to {room}")
        self._transmit(upload.command())

    def _get_file(self, file_id: str, directory: Path) -> None:
        if not self._can_transfer():
            return
        if not directory.is_dir():
            self.note(f"can't fetch into {directory}: not a directory")
            return
        self.transfer = Download(file_id, directory, self._clock, self._display.progress)
        self._transmit(f"/get {file_id}")

    def _bytes_follow(self, size: int, name: str) -> Sink | None:
        """A 351: where its raw bytes go (nowhere if no /get of ours asked for them)."""
        download = self.transfer
        if not isinstance(download, Download) or download.path is not None:
            return None
        try:
            download.begin(size, name)
        except OSError as problem:
            self._end_transfer()
            self.note(f"can't save {name}: {problem.strerror or problem}; discarding it")
            return None
        return download.bytes

    def _end_transfer(self) -> Upload | Download | None:
        """The transfer is over, however it went: take its bar away (and with --auto-get,
        fetch the next file waiting, once this reply is dealt with)."""
        transfer, self.transfer = self.transfer, None
        if transfer is not None:
            self._display.progress(None)
            if self._auto_get:
                self._clock.callLater(0, self._next_auto_get)
        return transfer

    # -- what is shown is read, and what is shared is saved ------------------------------

    def _follow_shown(self, line: ServerLine) -> None:
        """A message or a file of a room was shown: it is read (one /read per room, soon),
        and with --auto-get a file shared by someone else is fetched."""
        if line.code not in _SHOWN:
            return
        directory = self._options.auto_get
        if directory is not None and line.code == Code.FILE_SHARED and (
                shared := _SHARED.fullmatch(line.text)) and shared["nick"] != self.nick:
            self._auto_get.append(shared["id"])
            if self.transfer is None:
                self._next_auto_get()
        room = _ROOM_OF.match(line.text)
        if room is None:
            return
        self._unread_rooms.add(room["room"])
        if self._read_timer is None:
            self._read_timer = self._clock.callLater(READ_DELAY, self._send_reads)

    def _send_reads(self) -> None:
        self._read_timer = None
        rooms, self._unread_rooms = self._unread_rooms, set()
        connection = self._connection
        if connection is None:
            return  # a new connection replays what is unread, which is shown (and read) then
        if self._restoring or isinstance(self.transfer, Upload):
            # Later: no line may go between an upload's bytes, nor before the login.
            self._unread_rooms |= rooms
            self._read_timer = self._clock.callLater(READ_DELAY, self._send_reads)
            return
        for room in sorted(rooms & set(self.rooms.names())):
            self._read_answers += 1
            connection.send_line(f"/read {room}")

    def _next_auto_get(self) -> None:
        directory = self._options.auto_get
        if (not self._auto_get or directory is None or self.transfer is not None
                or self._connection is None or self._restoring):
            return
        file_id = self._auto_get.pop(0)
        self.note(f"saving shared file {file_id} into {directory} (--auto-get)")
        self._get_file(file_id, directory)

    def _transfer_reply(self, raw: str, line: ServerLine) -> bool:
        """Follow a transfer through the server's replies; True if ``line`` was taken care
        of here: the transfer's own business (350, 351, the 250 or 251 that ends it, said
        in the client's words instead), or a refusal shown before what it means."""
        transfer = self.transfer
        if transfer is None or line.is_event or not line.final:
            return False
        if isinstance(transfer, Upload) and not transfer.sending and line.code == Code.SEND_BYTES:
            assert self._connection is not None
            transfer.go_ahead(self._connection.transport)
            return True
        if isinstance(transfer, Download) and transfer.path is None and \
                line.code == Code.BYTES_FOLLOW:
            return True  # its bytes follow: _bytes_follow starts the download
        self._end_transfer()
        if isinstance(transfer, Upload) and line.code == Code.FILE_STORED:
            self.note(transfer.result(line.text))
            return True
        if isinstance(transfer, Download) and line.code == Code.FILE_SENT and \
                transfer.path is not None:
            self.note(transfer.result(line.text))
            return True
        self._show(raw)
        if line.code >= 400:
            if isinstance(transfer, Download):
                transfer.abandon()
            self.note("the transfer did not happen (see the reply above)")
        return True

    def send(self, line: str) -> None:
        """Send a typed line now, or hold it while the session is away."""
        if Send(line).verb == "quit" and (self._connection is None or self._restoring):
            self.quit()
        elif self.waiting or (self._connection is not None and self._restoring):
            if len(self._held) >= MAX_HELD:
                self.note(f"not sent: {MAX_HELD} lines are already waiting for the connection")
                return
            if not self._held:
                self.note("not connected: what you type is kept and sent once the session "
                          "is back")
            self._held.append(line)
        elif self._connection is None:
            self.note("not connected; type /reconnect to connect")
        elif self._by_udp(line):
            pass
        elif isinstance(self.transfer, Upload):
            # Until the 250, the server reads a line as part of the file (even one sent
            # before the 350), or refuses it as having come with the file's bytes.
            self.note("not sent: a file is on its way, and the server would take the line "
                      "for part of it; send it again once the bar is gone")
        else:
            self._transmit(line)

    def _by_udp(self, line: str) -> bool:
        """With --udp, text for an open room goes as a datagram (it comes back as one)."""
        udp, room = self.udp, self.rooms.current
        if udp is None or room is None or (line.startswith("/") and not line.startswith(
                ("//", "/me "))):
            return False
        text = line[1:] if line.startswith("//") else line
        if not udp.say(room, text):
            return False
        self.transcript.sent(line)
        return True

    def _token(self, room: str) -> None:
        if self._connection is not None and room in self.rooms.names():
            self._transmit(f"/token {room}")

    def _udp_line(self, raw: str) -> None:
        """A datagram, as the line it would have been on TCP."""
        self._show(raw)

    def _udp_follow(self, line: ServerLine) -> None:
        """With --udp: ask for a token for each room entered, and start the channel with
        each token. (While a room is open over UDP, the server sends its messages there and
        not on TCP.)"""
        udp = self.udp
        if udp is None:
            return
        if line.code == Code.TOKEN:
            room, token, port = line.text.split(" ")[:3]
            udp.start(room, token, int(port))
        elif ((entered := Rooms.entered(line)) is not None and self._connection is not None
              and not udp.has(entered)):
            self._transmit(f"/token {entered}")

    def _transmit(self, line: str) -> None:
        assert self._connection is not None
        self.transcript.sent(line)
        self.memory.sent(line)
        self._connection.send_line(line)
        if Send(line).verb == "quit":
            self._quitting = True
            self._quit_timer = self._clock.callLater(QUIT_TIMEOUT, self._connection.abort)

    def _line(self, raw: str) -> None:
        line = parse_server_line(raw)
        if line is not None:
            name = welcome_name(line)
            if name is not None:
                self.nick = name
            self.memory.received(line)
            self.rooms.follow(line, self.nick)
            if line.code == Code.CLOSING and any(word in line.text for word in _SENT_AWAY):
                self._sent_away = True
            self._udp_follow(line)
            if self._transfer_reply(raw, line):
                return
            if (self._read_answers and line.final and line.code == Code.OK
                    and _READ_REPLY.fullmatch(line.text)):
                self._read_answers -= 1
                return
        if line is not None and line.code == Code.HELP and not line.final:
            self._show(raw, ServerLine(line.code, line.final, help_line(line.text)))
        else:
            self._show(raw)
        if line is not None and line.code == Code.HELP and line.final:
            for text in CLIENT_HELP:
                self.note(text)
        if line is not None:
            self._follow_shown(line)
        if line is not None and self._connection is not None:
            self._restore(line)

    def _show(self, raw: str, line: ServerLine | None = None) -> None:
        """Show a server line as received (``raw``), rendered as ``line`` if given."""
        local = LocalTime(self._clock.seconds())
        fragments = render_text(raw, self.nick, local) if line is None else \
            render(line, self.nick, local)
        self.transcript.received(plain(fragments))
        self._display.server_line(raw, fragments)

    def _too_long(self) -> None:
        self.note(f"the server sent a line over {MAX_SERVER_LINE} bytes; it was dropped")

    def note(self, text: str) -> None:
        self.transcript.note(text)
        self._display.note(client_note(text))
