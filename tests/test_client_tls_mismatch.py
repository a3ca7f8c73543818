"""A client pointed at the wrong kind of port says so: TLS against a plain port, plain against
a TLS port. Real listeners on 127.0.0.1 in this process, with a certificate made here."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IListeningPort, IReactorSSL, IReactorTCP
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.internet.ssl import PrivateCertificate
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from chatd_client.client import Client
from chatd_client.connection import ServerConnection, client_endpoint, describe_failure
from chatd_client.options import ClientOptions
from chatd_client.transcript import Transcript

from tests.integration.harness import make_tls_files
from tests.test_client_session import RecordingDisplay

# A TLS alert record (fatal, protocol_version), what many TLS servers answer plain text with.
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x46"


class Greeter(Protocol):
    """A plain chatd's first move: greet at once."""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"220 chatd ready\r\n")


class Alerter(Protocol):
    """A TLS server's answer to a line that is not a ClientHello: an alert, then goodbye."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(TLS_ALERT)
        self.transport.loseConnection()


class Silent(Protocol):
    """A TLS server's protocol: it never gets a handshake, so it never gets a byte."""


class Tracked(ServerFactory):
    """Builds ``kind`` and remembers each connection, so a test can wait for them to close."""

    def __init__(self, kind: type[Protocol]) -> None:
        self.kind = kind
        self.closed: list[Deferred[None]] = []

    def buildProtocol(self, addr: object) -> Protocol:
        protocol = self.kind()
        closed: Deferred[None] = Deferred()
        self.closed.append(closed)
        lost = protocol.connectionLost

        def connection_lost(reason: Failure = connectionDone) -> None:
            lost(reason)
            closed.callback(None)

        protocol.connectionLost = connection_lost  # type: ignore[method-assign]
        return protocol


@pytest.mark.daemon
class MismatchTests(TestCase):
    timeout = 15

    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir(parents=True)
        self.ca, key, cert = make_tls_files(directory)
        self.certificate = PrivateCertificate.loadPEM(key.read_bytes() + cert.read_bytes())
        self.display = RecordingDisplay()

    def listen(self, kind: type[Protocol], tls: bool = False) -> int:
        factory = Tracked(kind)
        port: IListeningPort
        if tls:
            port = cast(IReactorSSL, reactor).listenSSL(
                0, factory, self.certificate.options(), interface="127.0.0.1")
        else:
            port = cast(IReactorTCP, reactor).listenTCP(0, factory, interface="127.0.0.1")

        # Trial fails a test that leaves a connection open: wait for the server's side too.
        def stop() -> Deferred[list[None]]:
            stopping = port.stopListening()
            return gatherResults([stopping or succeed(None), *factory.closed])

        self.addCleanup(stop)
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        return address.port

    def client(self, options: ClientOptions) -> Client:
        return Client(reactor, options, client_endpoint(reactor, options), self.display,
                      Transcript(), stay_on_loss=False)

    @inlineCallbacks
    def test_tls_at_a_plain_port(self) -> Generator[Deferred[Any], Any, None]:
        port = self.listen(Greeter)
        client = self.client(ClientOptions(host="127.0.0.1", port=port, tls=True, ca=self.ca))
        connected = yield client.connect()
        self.assertIs(connected, False)
        self.assertEqual((yield client.finished), 1)
        self.assertRegex(self.display.notes[-1], rf"^\* TLS: 127\.0\.0\.1:{port} does not "
                                                 r"speak TLS \(.+\); try without --tls$")

    @inlineCallbacks
    def test_plain_at_a_tls_port_that_hangs_up(self) -> Generator[Deferred[Any], Any, None]:
        port = self.listen(Silent, tls=True)
        client = self.client(ClientOptions(host="127.0.0.1", port=port))
        self.assertIs((yield client.connect()), True)
        client.handle_input("/nick tess")
        self.assertEqual((yield client.finished), 1)
        self.assertEqual(self.display.notes[-1],
                         f"* 127.0.0.1:{port} closed the connection without a greeting: that "
                         "port probably expects TLS; try --tls")

    @inlineCallbacks
    def test_plain_at_a_tls_port_that_sends_an_alert(self) -> Generator[Deferred[Any], Any, None]:
        port = self.listen(Alerter)
        client = self.client(ClientOptions(host="127.0.0.1", port=port))
        self.assertIs((yield client.connect()), True)
        client.handle_input("/nick tess")
        self.assertEqual((yield client.finished), 1)
        self.assertEqual(self.display.notes[-1],
                         f"* 127.0.0.1:{port} answered with TLS: that port expects TLS; "
                         "try --tls")
        self.assertEqual(self.display.lines, [])  # the alert's bytes are not shown as a line

    @inlineCallbacks
    def test_plain_at_a_tls_port_when_quitting(self) -> Generator[Deferred[Any], Any, None]:
        # A script with nothing to say sends only /quit; the status still says it failed.
        port = self.listen(Silent, tls=True)
        client = self.client(ClientOptions(host="127.0.0.1", port=port))
        self.assertIs((yield client.connect()), True)
        client.quit()
        self.assertEqual((yield client.finished), 1)
        self.assertIn("that port probably expects TLS", self.display.notes[-1])


class DetectionTests(TestCase):
    def connection(self, tls: bool = False) -> tuple[ServerConnection, list[Failure],
                                                     list[str], StringTransport]:
        lost: list[Failure] = []
        lines: list[str] = []
        connection = ServerConnection(tls, lines.append, lambda: None, lost.append)
        transport = StringTransport()
        connection.makeConnection(transport)
        return connection, lost, lines, transport

    def words(self, failure: Failure, tls: bool = False) -> str:
        return describe_failure(failure, ClientOptions(host="h", port=1, tls=tls))

    def test_a_tls_record_split_across_reads(self) -> None:
        connection, lost, lines, transport = self.connection()
        connection.dataReceived(b"\x16")
        connection.dataReceived(b"\x03\x01\x00")
        self.assertTrue(transport.disconnected)
        connection.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.words(lost[0]),
                         "h:1 answered with TLS: that port expects TLS; try --tls")
        self.assertEqual(lines, [])

    def test_a_greeting_is_not_mistaken_for_tls(self) -> None:
        connection, lost, lines, transport = self.connection()
        connection.dataReceived(b"2")
        connection.dataReceived(b"20 ready\r\n\x15\x03")
        self.assertFalse(transport.disconnected)
        self.assertEqual(lines, ["220 ready"])
        connection.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.words(lost[0]), "the server closed the connection")

    def test_openssl_words_for_a_peer_that_is_not_tls(self) -> None:
        for reason in ["wrong version number", "unknown protocol", "http request",
                       "packet length too long", "record layer failure"]:
            words = self.words(Failure(SSL.Error([("SSL routines", "", reason)])), tls=True)
            self.assertEqual(words, f"TLS: h:1 does not speak TLS ({reason}); "
                                    "try without --tls")
