"""The non-interactive client: stdin lines go to the server, server lines go to stdout.

For scripts and tests: ``printf '/nick a\\n/join x\\nhi\\n' | chatd-client localhost``.
stdout carries only the server's lines (rendered plainly, or verbatim with ``--raw``); the
client's own remarks go to stderr. When stdin ends the client listens ``--wait`` seconds
more, then sends /quit, whose reply the server sends after every earlier one, and exits when
the server hangs up: status 0 after /quit, 1 if the connection failed or dropped (or the
server hung up without ever greeting, as a TLS port does). A script is not reconnected.

Lines are sent as they are read, without waiting for replies (chat lines get none to wait
for), so a ``/save`` in a script holds what had arrived when it was read, not the replies to
the lines just before it. ``--raw`` means verbatim: control characters are not escaped.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.stdio import StandardIO
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.framing import LineFramer, TooLong
from chatd_client.client import Client
from chatd_client.connection import client_endpoint
from chatd_client.options import ClientOptions
from chatd_client.render import Fragments, plain
from chatd_client.transcript import Transcript

# Longer than any line the server accepts; a longer one is reported and skipped, not sent.
MAX_INPUT_LINE = 64 * 1024


class StreamDisplay:
    """Server lines to the stdio transport, client remarks to stderr."""

    def __init__(self, stdio: StandardIO | None, raw: bool, errors: TextIO) -> None:
        self.stdio = stdio
        self._raw = raw
        self._errors = errors

    def server_line(self, raw: str, fragments: Fragments) -> None:
        if self.stdio is not None:
            text = raw if self._raw else plain(fragments)
            self.stdio.write(text.encode("utf-8", errors="replace") + b"\n")

    def note(self, fragments: Fragments) -> None:
        self._errors.write(plain(fragments) + "\n")
        self._errors.flush()

    def progress(self, text: str | None) -> None:
        """Nothing: a stream can't redraw a line, and a log of bars helps nobody; the note
        that ends a transfer says how it went."""


@implementer(IHalfCloseableProtocol)
class InputLines(Protocol):
    """stdin as lines for the client; the end of stdin starts the goodbye."""

    def __init__(self, client: Client, clock: IReactorTime, wait: float) -> None:
        self._client = client
        self._clock = clock
        self._wait = wait
        self._framer = LineFramer(MAX_INPUT_LINE)
        self.done: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if item is TooLong.LINE:
                self._client.note(f"an input line over {MAX_INPUT_LINE} bytes was not sent")
                continue
            assert isinstance(item, bytes)
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError:
                self._client.note("an input line is not valid UTF-8; it was not sent")
                continue
            self._client.handle_input(text)

    def readConnectionLost(self) -> None:
        self._clock.callLater(self._wait, self._client.quit)

    def writeConnectionLost(self) -> None:
        # stdout closed (say, `| head`): nobody reads any more, so end the session.
        self._client.quit()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(None)


def run(reactor: Any, options: ClientOptions) -> Deferred[int]:
    """Run the session; fires with the exit status once stdout is flushed."""
    transcript = Transcript()
    display = StreamDisplay(None, options.raw, sys.stderr)
    client = Client(reactor, options, client_endpoint(reactor, options), display, transcript,
                    stay_on_loss=False)
    if client.udp is not None:
        reactor.listenUDP(0, client.udp)
    lines = InputLines(client, reactor, options.wait)
    stdio = StandardIO(lines, reactor=reactor)
    display.stdio = stdio
    # Nothing typed ahead may reach the server before it is there to take it.
    stdio.pauseProducing()
    client.connect().addCallback(lambda connected: connected and stdio.resumeProducing())

    def flush(status: int) -> Deferred[int]:
        stdio.loseConnection()
        return lines.done.addCallback(lambda _: status)

    return client.finished.addCallback(flush)
