"""The web frontend's handshake rules, as pure functions: which Origin may open the
WebSocket, and which address a browser behind a proxy is counted as."""

from __future__ import annotations

from twisted.trial import unittest

from chatd.frontends.admission import parse_networks
from chatd.frontends.web.protocol import client_address, origin_allowed


class OriginTests(unittest.TestCase):
    def test_without_a_setting_only_the_pages_own_host_is_allowed(self) -> None:
        self.assertTrue(origin_allowed("http://chat.example:8080", "chat.example:8080", ()))
        self.assertTrue(origin_allowed("HTTPS://Chat.Example", "chat.example", ()))
        self.assertFalse(origin_allowed("http://evil.example", "chat.example", ()))
        self.assertFalse(origin_allowed("http://chat.example:8081", "chat.example:8080", ()))
        self.assertFalse(origin_allowed("null", "chat.example", ()))
        self.assertFalse(origin_allowed("http://chat.example", None, ()))

    def test_with_a_setting_only_the_listed_origins_are_allowed(self) -> None:
        allowed = ("https://chat.example.org",)
        self.assertTrue(origin_allowed("https://chat.example.org/", "internal:8080", allowed))
        self.assertFalse(origin_allowed("http://internal:8080", "internal:8080", allowed))

    def test_a_client_that_sends_no_origin_is_not_a_browser_and_is_let_in(self) -> None:
        self.assertTrue(origin_allowed(None, "chat.example", ()))
        self.assertTrue(origin_allowed("", "chat.example", ()))


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
