"""The web site's HTTP connections in memory, on a fake clock: admitted like any connection
(per address and in total), cut at their deadlines however often their bytes come, handed to
the WebSocket's own policy by an upgrade; the Origin a handshake may come from; and a
``Server`` header that names no version."""

from __future__ import annotations

from collections import Counter
from typing import Any

import txaio
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from chatd.frontends.admission import Admission, AdmissionLimits, parse_networks
from chatd.frontends.upload_deadline import DEFAULT_PACE
from chatd.frontends.web.options import Options
from chatd.frontends.web.site import WebFactory

LOCAL = ("127.0.0.1", 8080)
HEADER_TIMEOUT = 10.0  # chatd.frontends.web.channel's defaults, seen from outside
REQUEST_TIMEOUT = 30.0


class Stats:
    def __init__(self) -> None:
        self.login_failures = 0
        self.rejected: Counter[str] = Counter()


class FakeUpload:
    """An upload reserved by ``/send``, taking its bytes (``IUpload``'s side that HTTP uses)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.received = 0
        self.pending = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.received += len(data)

    def drained(self) -> Deferred[None]:
        return succeed(None)

    def abort(self) -> None:
        self.aborted = True


class Transport(StringTransportWithDisconnection):
    def setTcpNoDelay(self, enabled: bool) -> None:
        """A TLS transport is a TCP one too (``ISSLTransport``), which twisted.web tunes."""


class Connection:
    """One HTTP connection to the factory's site, over a StringTransport."""

    def __init__(self, factory: WebFactory, peer: str, local: tuple[str, int] = LOCAL,
                 tls: bool = False) -> None:
        address = IPv4Address("TCP", peer, 40000)
        self.protocol = factory.buildProtocol(address)
        self.transport = Transport(
            hostAddress=IPv4Address("TCP", *local), peerAddress=address)
        if tls:
            directlyProvides(self.transport, ISSLTransport)
        self.transport.protocol = self.protocol
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def read(self) -> bytes:
        data: bytes = self.transport.value()
        self.transport.clear()
        return data

    @property
    def open(self) -> bool:
        return bool(self.transport.connected) and not self.transport.disconnecting


def get(path: str = "/", host: str = "127.0.0.1:8080") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def upgrade(origin: str | None = None, host: str = "127.0.0.1:8080") -> bytes:
    lines = ["GET /ws HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class SiteTestCase(SynchronousTestCase):
    limits = AdmissionLimits(max_connections=1000, per_address=4, new_per_address=1000,
                             unnamed_per_address=1000)
    options = Options()

    def setUp(self) -> None:
        self.clock = Clock()
        # autobahn's timers (handshake, pings) go through txaio, onto this clock too.
        self.patch(txaio.config, "loop", self.clock)
        self.admission = Admission(self.clock, self.limits)
        self.factory = WebFactory(None, self.options, self.clock,  # type: ignore[arg-type]
                                  self.admission, Stats())
        self.factory.startFactory()
        self.addCleanup(self.factory.stopFactory)

    def connect(self, peer: str = "192.0.2.1", **kwargs: Any) -> Connection:
        connection = Connection(self.factory, peer, **kwargs)
        self.addCleanup(connection.transport.loseConnection)
        return connection

    def dribble(self, connection: Connection, data: bytes, every: float, until: float
                ) -> float:
        """Send ``data`` a byte at a time, one every ``every`` seconds, while the
        connection stays open and for at most ``until`` seconds; the seconds it was open."""
        elapsed = 0.0
        for byte in data:
            if not connection.open or elapsed >= until:
                break
            connection.send(bytes([byte]))
            self.clock.advance(every)
            elapsed += every
        return elapsed


class DeadlineTests(SiteTestCase):
    def test_a_client_dribbling_its_headers_is_cut_at_the_header_deadline(self) -> None:
        connection = self.connect()
        headers = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Slow: " + b"a" * 100
        open_for = self.dribble(connection, headers, every=2.0, until=65.0)
        self.assertFalse(connection.open, "a byte every 2 s kept the connection for 65 s")
        self.assertEqual(open_for, HEADER_TIMEOUT)
        self.assertTrue(connection.transport.disconnected)  # aborted, not a polite close
        self.assertEqual(self.admission.total, 0)

    def test_a_dribbled_request_body_is_cut_at_the_request_deadline(self) -> None:
        connection = self.connect()
        connection.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 1000"
                        b"\r\n\r\n")
        open_for = self.dribble(connection, b"x" * 1000, every=2.0, until=65.0)
        self.assertFalse(connection.open)
        self.assertEqual(open_for, REQUEST_TIMEOUT)

    def test_an_upload_whose_headers_came_is_not_cut_by_the_request_deadline(self) -> None:
        upload = FakeUpload(size=40 * 16384)
        token = self.factory.uploads.issue(upload, lambda _: None,  # type: ignore[arg-type]
                                           DEFAULT_PACE)
        connection = self.connect()
        connection.send(f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                        f"X-Chatd-Upload: {token}\r\nContent-Length: {upload.size}\r\n\r\n"
                        .encode())
        for _ in range(39):  # 16 KiB a second, for longer than the request deadline
            connection.send(b"u" * 16384)
            self.clock.advance(1.0)
        self.assertTrue(connection.open)
        self.assertEqual(upload.received, 39 * 16384)
        self.assertFalse(upload.aborted)

    def test_a_kept_alive_connection_left_idle_is_closed_at_the_header_deadline(self) -> None:
        connection = self.connect()
        self.clock.advance(HEADER_TIMEOUT - 1)
        connection.send(get())
        self.assertIn(b" 200 OK\r\n", connection.read())
        self.clock.advance(HEADER_TIMEOUT - 1)  # the deadline started again at the response
        self.assertTrue(connection.open)
        connection.send(get("/app.js"))
        self.assertIn(b" 200 OK\r\n", connection.read())
        self.clock.advance(HEADER_TIMEOUT)
        self.assertFalse(connection.open)

    def test_a_connection_that_will_not_take_its_last_response_is_aborted(self) -> None:
        connection = self.connect()
        connection.transport.loseConnection = lambda: None  # the client never reads
        connection.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n")
        self.clock.advance(9)
        self.assertFalse(connection.transport.disconnected)
        self.clock.advance(1)
        self.assertTrue(connection.transport.disconnected)


class AdmissionTests(SiteTestCase):
    def test_connections_over_the_per_address_limit_get_503_and_are_closed(self) -> None:
        admitted = [self.connect() for _ in range(4)]
        refused = self.connect()
        answer = refused.read()
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer)
        self.assertIn(b"too many connections from 192.0.2.1 (4 at once)", answer)
        self.assertFalse(refused.open)
        self.assertTrue(all(connection.open for connection in admitted))
        self.assertTrue(self.connect(peer="192.0.2.2").open)  # another address gets in
        admitted[0].transport.loseConnection()
        self.assertTrue(self.connect().open)  # a slot came back
        self.assertEqual(self.admission.total, 5)

    def test_a_refused_tls_connection_is_closed_without_a_word(self) -> None:
        for _ in range(4):
            self.connect(tls=True)
        refused = self.connect(tls=True)
        self.assertEqual(refused.read(), b"")
        self.assertTrue(refused.transport.disconnected)

    def test_an_upgrade_gives_its_slot_to_the_websockets_own_admission(self) -> None:
        connections = [self.connect() for _ in range(3)]
        browser = self.connect()
        browser.send(upgrade(origin="http://127.0.0.1:8080"))
        self.clock.advance(0)
        self.assertIn(b"HTTP/1.1 101 Switching Protocols\r\n", browser.read())
        # One slot for the browser, as a chat client now, not two.
        self.assertEqual(self.admission.total, 4)
        self.assertEqual(len(list(self.factory.connections)), 1)
        self.assertTrue(browser.open)
        self.clock.advance(HEADER_TIMEOUT + REQUEST_TIMEOUT)  # HTTP's deadlines are gone
        self.assertTrue(browser.open)
        self.assertFalse(any(connection.open for connection in connections))


class GlobalLimitTests(SiteTestCase):
    limits = AdmissionLimits(max_connections=3, per_address=100, new_per_address=1000,
                             unnamed_per_address=1000)

    def test_connections_over_the_total_are_refused_whatever_their_address(self) -> None:
        for number in range(3):
            self.assertTrue(self.connect(peer=f"192.0.2.{number}").open)
        refused = self.connect(peer="198.51.100.7")
        self.assertIn(b"the server is full (3 connections)", refused.read())
        self.assertFalse(refused.open)


class ProxyTests(SiteTestCase):
    options = Options(trusted_proxies=parse_networks(["10.0.0.0/8"]))

    def test_a_trusted_proxy_carries_more_browsers_than_one_address_may(self) -> None:
        self.assertTrue(all(self.connect(peer="10.0.0.2").open for _ in range(8)))


class OriginHandshakeTests(SiteTestCase):
    """Without web-origin or web-url: only the page as this connection reached it."""

    def handshake(self, origin: str, host: str = "127.0.0.1:8080") -> bytes:
        browser = self.connect()
        browser.send(upgrade(origin=origin, host=host))
        return browser.read().split(b"\r\n", 1)[0]

    def test_a_rebound_name_is_refused_though_its_origin_names_its_host(self) -> None:
        self.assertEqual(self.handshake("http://evil.example:8080", host="evil.example:8080"),
                         b"HTTP/1.1 403 origin not allowed")
        self.assertEqual(self.factory.stats.rejected["WebOrigin"], 1)

    def test_an_https_origin_is_refused_on_an_http_listener(self) -> None:
        self.assertEqual(self.handshake("https://127.0.0.1:8080"),
                         b"HTTP/1.1 403 origin not allowed")

    def test_the_page_as_served_is_let_in(self) -> None:
        self.assertEqual(self.handshake("http://127.0.0.1:8080"),
                         b"HTTP/1.1 101 Switching Protocols")
        self.assertEqual(self.handshake("http://localhost:8080", host="localhost:8080"),
                         b"HTTP/1.1 101 Switching Protocols")


class ConfiguredOriginTests(OriginHandshakeTests):
    """With web-url (https://chat.example.org) and a web-origin besides."""

    options = Options(origins=("https://other.example:8443", "https://chat.example.org:443"))

    def test_the_configured_origins_are_let_in_behind_any_host(self) -> None:
        for origin in ("https://chat.example.org", "https://Other.Example:8443/"):
            self.assertEqual(self.handshake(origin, host="internal:8080"),
                             b"HTTP/1.1 101 Switching Protocols")


class ServerHeaderTests(SiteTestCase):
    def test_no_response_names_twisted_or_its_version(self) -> None:
        answers = []
        for request in (get(), get("/no-such-page"), get("/ws"),
                        upgrade(origin="http://127.0.0.1:8080")):
            connection = self.connect()
            connection.send(request)
            answers.append(connection.read().split(b"\r\n\r\n", 1)[0])
        answers.append(self.connect().read().split(b"\r\n\r\n", 1)[0])  # a 503
        for answer in answers:
            self.assertNotIn(b"twisted", answer.lower())
            self.assertIn(b"\r\nServer: chatd\r\n", answer)
        self.assertEqual([answer.split(b"\r\n", 1)[0] for answer in answers], [
            b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 426 Upgrade Required",
            b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 503 Service Unavailable"])
