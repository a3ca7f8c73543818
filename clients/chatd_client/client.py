"""One chat session as the person sees it, whatever shows it: connecting, reconnecting,
client commands, the transcript, and when the session is over.

The terminal and the non-interactive front ends differ only in their ``Display`` and in
whether a dropped connection ends the session (a script has nobody to type /reconnect).
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure

from chatd.frontends.line_codec import Code, parse_server_line
from chatd_client.commands import CLIENT_HELP, Mistake, Reconnect, Save, Send, interpret
from chatd_client.connection import (
    MAX_SERVER_LINE,
    ConnectionFactory,
    ServerConnection,
    describe_failure,
)
from chatd_client.options import ClientOptions
from chatd_client.render import Fragments, client_note, plain, render_text, welcome_name
from chatd_client.transcript import Transcript

# How long the server gets to answer /quit before the client hangs up by itself.
QUIT_TIMEOUT = 5.0


class Display(Protocol):
    def server_line(self, raw: str, fragments: Fragments) -> None:
        """Show one line from the server (``raw`` as received, ``fragments`` rendered)."""

    def note(self, fragments: Fragments) -> None:
        """Show something the client itself has to say."""


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
        self.nick: str | None = None
        self.finished: Deferred[int] = Deferred()

    @property
    def connected(self) -> bool:
        return self._connection is not None

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
        return ServerConnection(self._options.tls, self._line, self._too_long, self._lost)

    def _connected(self, connection: ServerConnection) -> bool:
        self._connecting = False
        self._connection = connection
        how = " with TLS, certificate verified" if self._options.tls else ""
        self.note(f"connected to {self._options.host}:{self._options.port}{how}")
        return True

    def _not_connected(self, failure: Failure) -> bool:
        self._connecting = False
        self.note(describe_failure(failure, self._options))
        if self._stay_on_loss:
            self.note("type /reconnect to try again, Ctrl-D to exit")
        else:
            self._finish(1)
        return False

    def _lost(self, reason: Failure) -> None:
        self._connection = None
        self.nick = None
        if self._quit_timer is not None and self._quit_timer.active():
            self._quit_timer.cancel()
        if self._reconnecting:
            self._reconnecting = False
            self.note("disconnected; connecting again")
            self.connect()
        elif self._quitting:
            self.note("disconnected")
            self._finish(0)
        else:
            self.note(describe_failure(reason, self._options))
            if self._stay_on_loss:
                self.note("type /reconnect to connect again, Ctrl-D to exit")
            else:
                self._finish(1)

    def reconnect(self) -> None:
        if self._connecting:
            self.note("already connecting; wait for it")
        elif self._connection is not None:
            self._reconnecting = True
            self._connection.close()
        else:
            self.connect()

    def quit(self) -> None:
        """End the session politely: /quit if connected (the server answers every line sent
        before it first), else at once."""
        if self._connection is None:
            self._finish(0)
        elif not self._quitting:
            self.send("/quit")

    def _finish(self, status: int) -> None:
        if not self.finished.called:
            self.finished.callback(status)

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

    def send(self, line: str) -> None:
        if self._connection is None:
            self.note("not connected; type /reconnect to connect")
            return
        self.transcript.sent(line)
        self._connection.send_line(line)
        if Send(line).verb == "quit":
            self._quitting = True
            self._quit_timer = self._clock.callLater(QUIT_TIMEOUT, self._connection.abort)

    def _line(self, raw: str) -> None:
        line = parse_server_line(raw)
        name = None if line is None else welcome_name(line)
        if name is not None:
            self.nick = name
        fragments = render_text(raw, self.nick)
        self.transcript.received(plain(fragments))
        self._display.server_line(raw, fragments)
        if line is not None and line.code == Code.HELP and line.final:
            for text in CLIENT_HELP:
                self.note(text)

    def _too_long(self) -> None:
        self.note(f"the server sent a line over {MAX_SERVER_LINE} bytes; it was dropped")

    def note(self, text: str) -> None:
        self.transcript.note(text)
        self._display.note(client_note(text))
