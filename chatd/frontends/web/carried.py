"""Another frontend's stream protocol carried over this site's WebSocket, one line per
message: how web IRC clients (gamja, Kiwi IRC) speak IRC to chatd directly.

The IRCv3 WebSocket transport (https://ircv3.net/specs/extensions/websocket) names two
subprotocols: ``text.ircv3.net`` (text messages, UTF-8) and ``binary.ircv3.net`` (binary
messages, any bytes). Each message is one IRC line without its CRLF, both ways. The daemon
hands the web frontend the stream factories it may carry (``WebFactory.carry``: IRC's, for
those two names), so this module knows no IRC: it runs the stream protocol the factory
builds over a ``FrameTransport``, which turns each line the protocol writes into one
message and each message received into one line. The stream protocol keeps everything
else of its own (admission and the per-address limits, the login timer, fakelag, output
bounds, keep-alive); the WebSocket keeps the Origin rule and the client's address behind a
trusted proxy (``protocol.WebProtocol.onConnect``), which the stream protocol is given as
its peer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

# The subprotocols of the IRCv3 WebSocket transport, and whether each one's messages are
# binary; the first one a client offers that the server carries is chosen.
BINARY = {"text.ircv3.net": False, "binary.ircv3.net": True}


def address(host: str, port: object) -> IPv4Address | IPv6Address:
    """The peer a carried protocol sees: the client's address (a trusted proxy's
    X-Forwarded-For already applied) and the socket's port."""
    number = port if isinstance(port, int) else 0
    if ":" in host:
        return IPv6Address("TCP", host, number)
    return IPv4Address("TCP", host, number)


class FrameTransport:
    """A stream transport whose lines are WebSocket messages.

    ``write`` takes bytes as a stream protocol writes them (whole CRLF-ended lines, several at
    once, as an ``Outbox`` coalesces them) and sends each line as one message; a text
    message is made valid UTF-8 (an invalid byte becomes U+FFFD). Pausing reading and the
    output's back-pressure are the socket's: the protocol's producer is registered on the
    WebSocket's own transport. Closing sends the WebSocket close.
    """

    def __init__(self, websocket: Any, binary: bool, peer: IPv4Address | IPv6Address) -> None:
        self._websocket = websocket  # an open autobahn WebSocketServerProtocol
        self._binary = binary
        self._peer = peer
        self._partial = b""
        self.disconnecting = False

    @property
    def _socket(self) -> Any:
        return self._websocket.transport

    def write(self, data: bytes) -> None:
        if self.disconnecting:
            return
        *lines, self._partial = (self._partial + data).split(b"\r\n")
        send = self._websocket.sendMessage
        for line in lines:
            if self._binary:
                send(line, isBinary=True)
            else:
                send(line.decode("utf-8", "replace").encode(), isBinary=False)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self.disconnecting = True
            self._websocket.sendClose(1000)

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._socket.abortConnection()

    def getPeer(self) -> IPv4Address | IPv6Address:
        return self._peer

    def getHost(self) -> Any:
        return self._socket.getHost()

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        # twisted.web's HTTP channel registered itself for the upgrade request; the carried
        # protocol's output is the socket's producer from now on.
        self._socket.unregisterProducer()
        self._socket.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._socket.unregisterProducer()

    def pauseProducing(self) -> None:
        self._socket.pauseProducing()

    def resumeProducing(self) -> None:
        self._socket.resumeProducing()

    def stopProducing(self) -> None:
        self._socket.stopProducing()


class Carried:
    """One carried stream protocol over one open WebSocket."""

    def __init__(self, websocket: Any, protocol: Protocol, binary: bool,
                 peer: IPv4Address | IPv6Address) -> None:
        self.protocol = protocol
        protocol.makeConnection(FrameTransport(websocket, binary, peer))

    def received(self, payload: bytes) -> None:
        """One message: one line. A CR, LF or NUL ends it (one line per message; what
        follows is not read as another)."""
        for end in (b"\r", b"\n", b"\0"):
            payload = payload.split(end, 1)[0]
        self.protocol.dataReceived(payload + b"\r\n")

    def closed(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))
