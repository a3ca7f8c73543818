"""The client's session logic against an in-memory connection: no sockets, no terminal."""

from __future__ import annotations

from pathlib import Path

from OpenSSL import SSL
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch
from service_identity.hazmat import DNS_ID
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from chatd_client.client import QUIT_TIMEOUT, Client
from chatd_client.connection import (
    ServerConnection,
    TrustError,
    describe_failure,
    load_trust_root,
)
from chatd_client.options import ClientOptions
from chatd_client.render import Fragments, plain
from chatd_client.transcript import Transcript

OPTIONS = ClientOptions(host="chat.example", port=7777)


class FakeEndpoint:
    """Connection attempts that the test answers, one at a time."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Factory, Deferred[object]]] = []

    def connect(self, factory: Factory) -> Deferred[object]:
        d: Deferred[object] = Deferred()
        self.attempts.append((factory, d))
        return d

    def accept(self, handshake: bool = True) -> tuple[ServerConnection, StringTransport]:
        factory, d = self.attempts.pop(0)
        protocol = factory.buildProtocol(None)
        assert isinstance(protocol, ServerConnection)
        transport = StringTransport()
        protocol.makeConnection(transport)
        if handshake and protocol._tls:
            protocol.handshakeCompleted()
        d.callback(protocol)
        return protocol, transport

    def refuse(self) -> None:
        _, d = self.attempts.pop(0)
        d.errback(ConnectionRefusedError())


class RecordingDisplay:
    def __init__(self) -> None:
        self.lines: list[tuple[str, Fragments]] = []
        self.notes: list[str] = []
        self.bars: list[str | None] = []
        # Server lines and notes as plain text, in the order they were shown.
        self.shown: list[str] = []

    def server_line(self, raw: str, fragments: Fragments) -> None:
        self.lines.append((raw, fragments))
        self.shown.append(plain(fragments))

    def note(self, fragments: Fragments) -> None:
        self.notes.append(plain(fragments))
        self.shown.append(plain(fragments))

    def progress(self, text: str | None) -> None:
        self.bars.append(text)


class SessionTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = FakeEndpoint()
        self.display = RecordingDisplay()

    def client(self, stay_on_loss: bool = True, options: ClientOptions = OPTIONS) -> Client:
        return Client(self.clock, options, self.endpoint, self.display,  # type: ignore[arg-type]
                      Transcript(clock=self.clock.seconds), stay_on_loss=stay_on_loss)

    def connected(self, client: Client) -> tuple[ServerConnection, StringTransport]:
        d = client.connect()
        protocol, transport = self.endpoint.accept()
        self.assertIs(self.successResultOf(d), True)
        return protocol, transport

    def test_lines_both_ways(self) -> None:
        client = self.client()
        protocol, transport = self.connected(client)
        self.assertEqual(self.display.notes, ["* connected to chat.example:7777"])
        protocol.dataReceived(b"220 chatd ready\r\n201 welcome guest al")
        protocol.dataReceived(b"ice: you are a guest\r\n101 [x] <alice> h\xc3\xa9\r\n")
        self.assertEqual([raw for raw, _ in self.display.lines],
                         ["220 chatd ready", "201 welcome guest alice: you are a guest",
                          "101 [x] <alice> hé"])
        # The welcome told the client its name, so its own line is marked as such.
        self.assertIn(("class:own", "<alice>"), self.display.lines[-1][1])
        client.handle_input("/join x")
        client.handle_input("   ")
        self.assertEqual(transport.value(), b"/join x\r\n")
        self.assertIn("> /join x", client.transcript.render())
        self.assertIn("< [x] <alice> hé", client.transcript.render())

    def test_client_commands_are_not_sent(self) -> None:
        client = self.client()
        _, transport = self.connected(client)
        path = Path(self.mktemp())
        client.handle_input(f"/save {path}")
        client.handle_input("/save")
        self.assertEqual(transport.value(), b"")
        self.assertIn(f"> /save {path}", path.read_text(encoding="utf-8"))
        self.assertEqual(self.display.notes[-2:], [
            f"* saved the transcript (2 lines) to {path}", "* usage: /save FILE"])

    def test_save_failure_is_reported(self) -> None:
        client = self.client()
        target = Path(self.mktemp()) / "missing-directory" / "log.txt"
        client.handle_input(f"/save {target}")
        self.assertIn(f"can't save the transcript to {target}", self.display.notes[-1])

    def test_help_adds_the_client_commands_after_the_servers(self) -> None:
        client = self.client()
        protocol, _ = self.connected(client)
        protocol.dataReceived(b"214-/help  this list\r\n")
        self.assertEqual(len(self.display.notes), 1)
        protocol.dataReceived(b"214 end of help\r\n")
        self.assertIn("/reconnect", "\n".join(self.display.notes))

    def test_typing_while_disconnected(self) -> None:
        client = self.client()
        client.handle_input("hello")
        self.assertEqual(self.display.notes, ["* not connected; type /reconnect to connect"])

    def test_a_connection_closed_before_the_greeting_offers_reconnect(self) -> None:
        client = self.client()
        protocol, _ = self.connected(client)
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertFalse(client.connected)
        self.assertNoResult(client.finished)
        # Nothing was said: a wrong port or a TLS port, which retrying would not mend.
        self.assertEqual(self.display.notes[-2:], [
            "* chat.example:7777 closed the connection without a greeting: that port "
            "probably expects TLS; try --tls",
            "* type /reconnect to connect again, Ctrl-D to exit"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        client.handle_input("/reconnect")
        self.connected_again()
        self.assertTrue(client.connected)

    def connected_again(self) -> None:
        self.assertEqual(len(self.endpoint.attempts), 1)
        self.endpoint.accept()

    def test_reconnect_while_connected_closes_first(self) -> None:
        client = self.client()
        protocol, transport = self.connected(client)
        client.handle_input("/reconnect")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.endpoint.attempts, [])
        protocol.connectionLost(Failure(ConnectionDone()))
        self.connected_again()
        self.assertNoResult(client.finished)
        self.assertEqual(self.display.notes[-2:], ["* disconnected; connecting again",
                                                   "* connected to chat.example:7777"])

    def test_reconnect_while_connecting_waits(self) -> None:
        client = self.client()
        client.connect()
        client.handle_input("/reconnect")
        self.assertEqual(len(self.endpoint.attempts), 1)
        self.assertEqual(self.display.notes, ["* already connecting; wait for it"])

    def test_refused_connection(self) -> None:
        client = self.client()
        d = client.connect()
        self.endpoint.refuse()
        self.assertIs(self.successResultOf(d), False)
        self.assertIn("refused the connection", self.display.notes[0])
        self.assertNoResult(client.finished)

    def test_without_a_person_a_refused_connection_ends_the_session(self) -> None:
        client = self.client(stay_on_loss=False)
        client.connect()
        self.endpoint.refuse()
        self.assertEqual(self.successResultOf(client.finished), 1)

    def test_without_a_person_a_dropped_connection_ends_the_session(self) -> None:
        client = self.client(stay_on_loss=False)
        protocol, _ = self.connected(client)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.successResultOf(client.finished), 1)

    def test_quit_ends_when_the_server_hangs_up(self) -> None:
        client = self.client()
        protocol, transport = self.connected(client)
        client.quit()
        self.assertEqual(transport.value(), b"/quit\r\n")
        client.quit()  # a second Ctrl-D does not send another /quit
        self.assertEqual(transport.value(), b"/quit\r\n")
        protocol.dataReceived(b"221 bye\r\n")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.successResultOf(client.finished), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_quit_hangs_up_if_the_server_does_not(self) -> None:
        client = self.client()
        protocol, transport = self.connected(client)
        protocol.dataReceived(b"220 chatd ready\r\n")
        client.handle_input("/QUIT see you")
        self.clock.advance(QUIT_TIMEOUT - 0.1)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.2)
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.successResultOf(client.finished), 0)

    def test_quit_while_disconnected_ends_at_once(self) -> None:
        client = self.client()
        client.quit()
        self.assertEqual(self.successResultOf(client.finished), 0)

    def test_tls_is_ready_only_after_the_handshake(self) -> None:
        client = self.client(options=ClientOptions(host="chat.example", tls=True))
        d = client.connect()
        protocol, _ = self.endpoint.accept(handshake=False)
        self.assertNoResult(d)
        protocol.handshakeCompleted()
        self.assertIs(self.successResultOf(d), True)
        self.assertIn("certificate verified", self.display.notes[-1])

    def test_a_failed_handshake_is_a_failed_connection(self) -> None:
        client = self.client(options=ClientOptions(host="chat.example", tls=True))
        d = client.connect()
        protocol, _ = self.endpoint.accept(handshake=False)
        protocol.connectionLost(Failure(SSL.Error([(
            "SSL routines", "", "certificate verify failed")])))
        self.assertIs(self.successResultOf(d), False)
        self.assertFalse(client.connected)
        self.assertIn("certificate verify failed", self.display.notes[0])

    def test_server_lines_over_the_limit_are_dropped(self) -> None:
        client = self.client()
        protocol, _ = self.connected(client)
        protocol.dataReceived(b"x" * 70_000)
        protocol.dataReceived(b"\r\n200 after\r\n")
        self.assertEqual([raw for raw, _ in self.display.lines], ["200 after"])
        self.assertIn("was dropped", self.display.notes[-1])


class FailureWordsTests(TestCase):
    def describe(self, error: BaseException, options: ClientOptions = OPTIONS) -> str:
        return describe_failure(Failure(error), options)

    def test_words(self) -> None:
        self.assertEqual(self.describe(ConnectionRefusedError()),
                         "chat.example:7777 refused the connection; is chatd running there?")
        self.assertEqual(self.describe(ConnectionDone()), "the server closed the connection")

    def test_certificate_not_trusted(self) -> None:
        error = SSL.Error([("SSL routines", "", "certificate verify failed")])
        self.assertEqual(
            self.describe(error, ClientOptions(host="h", tls=True)),
            "TLS: the certificate of h could not be verified (certificate verify failed); "
            "if the server's certificate comes from a private CA, pass it with --ca FILE")
        with_ca = self.describe(error, ClientOptions(host="h", tls=True, ca=Path("my.pem")))
        self.assertIn("is my.pem the CA that signed the server's certificate?", with_ca)

    def test_certificate_for_another_host(self) -> None:
        mismatch = DNSMismatch(mismatched_id=DNS_ID("h"))
        words = self.describe(VerificationError(errors=[mismatch]),
                              ClientOptions(host="h", tls=True))
        self.assertTrue(words.startswith("TLS: the server's certificate is not valid for 'h'"),
                        words)


class TrustRootTests(TestCase):
    def test_missing_file(self) -> None:
        with self.assertRaises(TrustError) as caught:
            load_trust_root(Path(self.mktemp()))
        self.assertIn("can't read CA file", str(caught.exception))

    def test_not_pem(self) -> None:
        path = Path(self.mktemp())
        path.write_text("not a certificate")
        with self.assertRaises(TrustError) as caught:
            load_trust_root(path)
        self.assertIn("holds no PEM certificate", str(caught.exception))

    def test_broken_pem(self) -> None:
        path = Path(self.mktemp())
        path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        with self.assertRaises(TrustError) as caught:
            load_trust_root(path)
        self.assertIn("can't be read", str(caught.exception))
