"""``udp:PORT[:interface=ADDRESS]``: Twisted has no server endpoint for UDP, so chatd adds
one (found by ``serverFromString`` through the plugin in ``twisted/plugins/chatd_udp.py``).

Listening on it asks the factory (``UdpFrontend``) for a datagram protocol and binds it with
``reactor.listenUDP``; the port it gives stops as a stream port does, so the daemon serves,
validates and closes a ``udp:`` listener like any other.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, execute
from twisted.internet.interfaces import IStreamServerEndpoint, IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from zope.interface import implementer

PREFIX = "udp"


@implementer(IStreamServerEndpoint)
class UDPServerEndpoint:
    def __init__(self, reactor: Any, port: int, interface: str = "") -> None:
        self.reactor = reactor
        self.port = port
        self.interface = interface

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        make = getattr(protocolFactory, "datagram_protocol", None)
        if make is None:
            raise TypeError(f"{protocolFactory!r} can't serve datagrams (udp: endpoint)")
        return execute(self.reactor.listenUDP, self.port, make(), interface=self.interface)


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ValueError(f"udp: the port must be a number from 0 to 65535, not {text!r}")
    return int(text)


@implementer(IPlugin, IStreamServerEndpointStringParser)
class UDPServerParser:
    prefix = PREFIX

    def parseStreamServer(  # type: ignore[override]
        self, reactor: Any, *args: str, **kwargs: str
    ) -> UDPServerEndpoint:
        if len(args) != 1 or set(kwargs) - {"interface"}:
            raise ValueError("expected udp:PORT or udp:PORT:interface=ADDRESS")
        return UDPServerEndpoint(reactor, _port(args[0]), kwargs.get("interface", ""))


def udp_port(description: str) -> int:
    """The port of a ``udp:`` endpoint string (what a /token reply tells the client)."""
    parts = description.split(":")
    if parts[0] != PREFIX or len(parts) < 2:
        raise ValueError(f"not a udp: endpoint: {description!r}")
    return _port(parts[1])
