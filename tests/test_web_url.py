"""The web frontend's public URL, which download links start with: ``web-url`` as given,
checked, or else the first web listener's own address, and no links where it has none."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.trial.unittest import SynchronousTestCase

from chatd.files.service import FileLinks
from chatd.frontends.web.options import base_url
from chatd.kernel.settings import Current, Settings


class Port:
    def __init__(self, address: Any) -> None:
        self.address = address

    def getHost(self) -> Any:
        return self.address


def links(url: str = "") -> FileLinks:
    return FileLinks(None, None, Current(Settings({"web-url": url})),  # type: ignore[arg-type]
                     None, [])  # type: ignore[arg-type]


class WebUrlTests(SynchronousTestCase):
    def test_a_given_url_loses_its_trailing_slash(self) -> None:
        self.assertEqual(base_url("https://chat.example.org/"), "https://chat.example.org")
        self.assertEqual(base_url("http://h:8080/chat"), "http://h:8080/chat")
        self.assertEqual(base_url(""), "")

    def test_anything_but_an_http_url_is_refused(self) -> None:
        for bad in ("chat.example.org", "ftp://h", "https://", "https://h/?a=1", "https://h/#x"):
            self.assertRaises(ValueError, base_url, bad)

    def test_without_web_url_the_listeners_address_is_the_url(self) -> None:
        found = links()
        found.heard(Port(IPv4Address("TCP", "127.0.0.1", 8080)), "http")
        self.assertEqual(found.url, "http://127.0.0.1:8080")
        found = links()
        found.heard(Port(IPv6Address("TCP", "::1", 8443)), "https")
        self.assertEqual(found.url, "https://[::1]:8443")

    def test_a_listener_on_every_interface_gives_no_links(self) -> None:
        for address in (IPv4Address("TCP", "0.0.0.0", 80), IPv6Address("TCP", "::", 80)):
            found = links()
            found.heard(Port(address), "http")
            self.assertEqual(found.url, "")

    def test_web_url_wins_over_the_listener(self) -> None:
        found = links("https://chat.example.org")
        found.heard(Port(IPv4Address("TCP", "127.0.0.1", 8080)), "http")
        self.assertEqual(found.url, "https://chat.example.org")
