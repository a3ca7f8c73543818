"""The web frontend's handshake rules, as pure functions: which Origin may open the
WebSocket (the page as served, and the configured ones; never what the Host header claims),
and which address a browser behind a proxy is counted as."""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial import unittest

from chatd.frontends.admission import parse_networks
from chatd.frontends.web.options import Options, origins
from chatd.frontends.web.protocol import client_address, origin_allowed, page_origins
from chatd.tap import Options as DaemonOptions


class OriginTests(unittest.TestCase):
    own = page_origins(False, IPv4Address("TCP", "192.0.2.10", 8080))

    def test_without_a_setting_only_the_page_as_served_is_allowed(self) -> None:
        self.assertEqual(self.own, ("http://192.0.2.10:8080",))
        self.assertTrue(origin_allowed("http://192.0.2.10:8080", self.own, ()))
        self.assertTrue(origin_allowed("HTTP://192.0.2.10:8080/", self.own, ()))
        self.assertFalse(origin_allowed("http://192.0.2.10:8081", self.own, ()))
        self.assertFalse(origin_allowed("http://evil.example", self.own, ()))
        self.assertFalse(origin_allowed("null", self.own, ()))

    def test_a_name_rebound_to_this_address_is_not_the_page(self) -> None:
        # The attacker's page at http://evil.example:8080, its name now resolving here:
        # the browser's Host and Origin agree, and neither is the page's.
        self.assertFalse(origin_allowed("http://evil.example:8080", self.own, ()))

    def test_an_https_origin_is_not_an_http_listeners_page(self) -> None:
        self.assertFalse(origin_allowed("https://192.0.2.10:8080", self.own, ()))
        secure = page_origins(True, IPv4Address("TCP", "192.0.2.10", 8443))
        self.assertTrue(origin_allowed("https://192.0.2.10:8443", secure, ()))
        self.assertFalse(origin_allowed("http://192.0.2.10:8443", secure, ()))

    def test_loopback_is_also_localhost_and_ipv6_is_bracketed(self) -> None:
        self.assertEqual(page_origins(False, IPv4Address("TCP", "127.0.0.1", 80)),
                         ("http://127.0.0.1:80", "http://localhost:80"))
        self.assertTrue(origin_allowed("http://localhost", page_origins(
            False, IPv4Address("TCP", "127.0.0.1", 80)), ()))
        self.assertEqual(page_origins(True, IPv6Address("TCP", "::1", 8443)),
                         ("https://[::1]:8443", "https://localhost:8443"))
        self.assertEqual(page_origins(False, IPv6Address("TCP", "::ffff:192.0.2.10", 80)),
                         ("http://192.0.2.10:80",))
        self.assertEqual(page_origins(False, UNIXAddress(b"/run/chatd.sock")), ())

    def test_the_configured_origins_are_allowed_too(self) -> None:
        allowed = origins(["https://chat.example.org/", "http://Other.Example:8000"])
        self.assertEqual(allowed, ("https://chat.example.org:443", "http://other.example:8000"))
        self.assertTrue(origin_allowed("https://chat.example.org", self.own, allowed))
        self.assertTrue(origin_allowed("http://other.example:8000", self.own, allowed))
        self.assertTrue(origin_allowed("http://192.0.2.10:8080", self.own, allowed))
        self.assertFalse(origin_allowed("http://chat.example.org", self.own, allowed))

    def test_web_origin_and_web_url_are_the_allowed_origins(self) -> None:
        daemon = DaemonOptions()
        daemon.parseOptions(["--web-url", "https://chat.example.org/chat",
                             "--web-origin", "https://Mirror.Example:8443/"])
        self.assertEqual(Options.from_settings(daemon.settings).origins,
                         ("https://mirror.example:8443", "https://chat.example.org:443"))

    def test_a_setting_that_is_no_origin_is_refused(self) -> None:
        for value in ("chat.example.org", "ftp://chat.example.org", "http://h:99999"):
            with self.assertRaises(ValueError):
                origins([value])

    def test_a_client_that_sends_no_origin_is_not_a_browser_and_is_let_in(self) -> None:
        self.assertTrue(origin_allowed(None, self.own, ()))
        self.assertTrue(origin_allowed("", self.own, ()))


class ForwardedForTests(unittest.TestCase):
    proxies = parse_networks(["10.0.0.0/8"])

    def test_the_header_is_ignored_unless_the_peer_is_a_trusted_proxy(self) -> None:
        self.assertEqual(client_address("192.0.2.9", "198.51.100.1", ()), "192.0.2.9")
        self.assertEqual(client_address("192.0.2.9", "198.51.100.1", self.proxies), "192.0.2.9")

    def test_the_client_is_the_last_address_no_trusted_proxy_wrote(self) -> None:
        self.assertEqual(client_address("10.0.0.2", "203.0.113.5, 198.51.100.1, 10.0.0.3",
                                        self.proxies), "198.51.100.1")

    def test_a_garbled_header_is_not_believed(self) -> None:
        self.assertEqual(client_address("10.0.0.2", "203.0.113.5, nonsense", self.proxies),
                         "10.0.0.2")
