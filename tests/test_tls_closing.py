"""No connection outlives its welcome: TLS handshakes and closes are bounded in time.

The server side is chatd's real factories behind Twisted's TLS layer on a StringTransport;
the client side, where one is needed, is Twisted's TLS layer too, and the test carries bytes
between the two. Time is a ``task.Clock``.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.trial.unittest import TestCase

from chatd.frontends.admission import AdmissionLimits
from chatd.frontends.connection import CLOSE_GRACE, HANDSHAKE_TIMEOUT, FrontendFactory
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import LineFactory, Options
from chatd.frontends.options import ConnectionOptions
from chatd.tls import ReloadableTLS

from fakes import World
from tests.integration.harness import make_tls_files


class Reader(Protocol):
    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class TLSClient:
    """A TLS client wired to one server connection by hand: ``pump`` carries the bytes."""

    def __init__(self, options: object, server: TLSMemoryBIOProtocol, socket: StringTransport,
                 factory: FrontendFactory) -> None:
        self.clock = factory.clock
        self.reader = Reader()
        tls = TLSMemoryBIOFactory(options, True, Factory.forProtocol(lambda: self.reader),
                                  self.clock)
        self.protocol = tls.buildProtocol(None)
        self.socket = StringTransport()
        self.server, self.server_socket = server, socket
        self.protocol.makeConnection(self.socket)

    def pump(self) -> None:
        for _ in range(50):
            self.clock.advance(0)  # outboxes and Twisted's TLS write buffers flush
            to_client, to_server = self.server_socket.value(), self.socket.value()
            if not to_client and not to_server:
                return
            self.server_socket.clear()
            self.socket.clear()
            if to_client:
                self.protocol.dataReceived(to_client)
            if to_server:
                self.server.dataReceived(to_server)
        raise AssertionError("the two sides never stopped talking")

    def lines(self) -> list[str]:
        return self.reader.received.decode().splitlines()


class TLSTestCase(TestCase):
    def setUp(self) -> None:
        directory = Path(self.mktemp()).absolute()
        directory.mkdir(parents=True)
        ca, key, cert = make_tls_files(directory)
        # The daemon's own TLS settings for an ``ssl:`` listener.
        self.server_tls = ReloadableTLS(None, f"ssl:0:privateKey={key}:certKey={cert}")
        self.client_tls = optionsForClientTLS(
            "localhost", trustRoot=Certificate.loadPEM(ca.read_bytes()))

    def world(self, **kwargs: object) -> World:
        return World(Path(self.mktemp()).absolute().parent, **kwargs)  # type: ignore[arg-type]

    def irc_factory(self, world: World, **kwargs: object) -> IRCFactory:
        return IRCFactory(world.portal, IRCOptions(ConnectionOptions(**kwargs)),  # type: ignore[arg-type]
                          world.clock, world.admission, world.server.stats)

    def serve(self, factory: FrontendFactory) -> tuple[TLSMemoryBIOProtocol, StringTransport]:
        """A TCP connect to a TLS listener: the TLS layer and the socket under it."""
        tls = TLSMemoryBIOFactory(self.server_tls, False, factory, factory.clock)
        server = tls.buildProtocol(None)
        socket = StringTransport()
        server.makeConnection(socket)
        return server, socket

    def client(self, factory: FrontendFactory) -> TLSClient:
        server, socket = self.serve(factory)
        client = TLSClient(self.client_tls, server, socket, factory)
        client.pump()
        return client


class BeforeTheHandshake(TLSTestCase):
    def test_a_silent_client_is_aborted_when_the_handshake_deadline_passes(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=0)))
        for factory in (world.factory, self.irc_factory(world, login_timeout=0)):
            _, socket = self.serve(factory)
            world.clock.advance(HANDSHAKE_TIMEOUT - 0.1)
            self.assertFalse(socket.disconnected)
            world.clock.advance(0.1)
            self.assertTrue(socket.disconnected, f"{type(factory).__name__}: not aborted")
            self.assertEqual(socket.value(), b"", "nothing to say before the handshake")

    def test_the_handshake_deadline_is_a_factory_setting(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=0)))
        factory = LineFactory(world.portal, Options(ConnectionOptions(login_timeout=0)),
                              world.clock, world.admission, world.server.stats, handshake_timeout=2)
        _, socket = self.serve(factory)
        world.clock.advance(2)
        self.assertTrue(socket.disconnected)

    def test_a_shorter_login_timeout_closes_a_silent_client_first(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=3)))
        _, socket = self.serve(world.factory)
        world.clock.advance(3)
        self.assertTrue(socket.disconnected)

    def test_a_refused_connection_is_aborted_at_once(self) -> None:
        world = self.world(admission=AdmissionLimits(unnamed_per_address=1))
        for factory in (world.factory, self.irc_factory(world)):
            first, admitted = self.serve(factory)
            _, refused = self.serve(factory)
            self.assertTrue(refused.disconnected, f"{type(factory).__name__}: still open")
            self.assertFalse(admitted.disconnected)
            first.connectionLost(None)  # type: ignore[arg-type]

    def test_a_slot_is_freed_when_the_aborted_connection_is_lost(self) -> None:
        world = self.world(admission=AdmissionLimits(unnamed_per_address=1),
                           options=Options(ConnectionOptions(login_timeout=0)))
        server, socket = self.serve(world.factory)
        world.clock.advance(HANDSHAKE_TIMEOUT)
        self.assertTrue(socket.disconnected)
        server.connectionLost(None)  # type: ignore[arg-type]
        _, again = self.serve(world.factory)
        self.assertFalse(again.disconnected, "the aborted connection still held its slot")


class AfterTheHandshake(TLSTestCase):
    def test_a_client_that_finishes_the_handshake_is_greeted_and_kept(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=0)))
        client = self.client(world.factory)
        self.assertTrue(client.lines()[0].startswith("220 chatd ready."))
        world.clock.advance(HANDSHAKE_TIMEOUT * 10)
        self.assertFalse(client.server_socket.disconnecting or client.server_socket.disconnected)

    def test_the_login_timeout_goodbye_arrives_and_the_close_is_clean(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=30)))
        client = self.client(world.factory)
        world.clock.advance(30)
        client.pump()
        self.assertEqual(client.lines()[-1], "109 no login within 30 seconds; goodbye "
                                             "(connect again to start over)")
        self.assertTrue(client.server_socket.disconnecting, "closed after TLS close_notify")
        self.assertFalse(client.server_socket.disconnected, "not aborted")

    def test_a_client_that_never_answers_the_close_is_aborted_after_the_grace(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=30)))
        client = self.client(world.factory)
        world.clock.advance(30)  # the goodbye and close_notify wait; the client reads none
        self.assertFalse(client.server_socket.disconnecting)
        world.clock.advance(CLOSE_GRACE)
        self.assertTrue(client.server_socket.disconnected)


class PlainTCPCloses(TestCase):
    def world(self) -> World:
        return World(Path(self.mktemp()).absolute().parent)

    def test_a_client_that_never_reads_its_goodbye_is_aborted_after_the_grace(self) -> None:
        world = self.world()
        client = world.connect()
        self.assertEqual(client.send("/quit"), ["221 bye"])
        self.assertTrue(client.transport.disconnecting)
        world.clock.advance(CLOSE_GRACE - 0.1)
        self.assertFalse(client.transport.disconnected)
        world.clock.advance(0.1)
        self.assertTrue(client.transport.disconnected)

    def test_a_connection_that_closes_in_time_is_not_aborted(self) -> None:
        world = self.world()
        client = world.connect()
        client.send("/quit")
        client.drop()
        world.clock.advance(CLOSE_GRACE)
        self.assertFalse(client.transport.disconnected)
