"""``udp:PORT[:interface=ADDRESS]``: the UDP channel's listener strings, parsed here.

Twisted's endpoint strings name stream endpoints, and a datagram port is not one; so the UDP
frontend parses its own listener strings (``parse``, its registry entry's ``endpoint``) and
the daemon validates and listens on what that gives as it does any listener. Listening asks
the factory (``UdpFrontend``) for a datagram protocol and binds it with
``reactor.listenUDP``; the port it gives stops as a stream port does.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import Deferred, execute
from twisted.internet.interfaces import IListeningPort
from zope.interface import Interface, implementer

PREFIX = "udp"
# A colon inside a field (an IPv6 interface) is written ``\:``, as in Twisted's strings.
_FIELD_END = re.compile(r"(?<!\\):")


class IDatagramServerEndpoint(Interface):
    """A datagram port to listen on: what ``IStreamServerEndpoint`` is for streams."""

    def listen(factory: Any) -> Deferred[IListeningPort]:
        """Bind the port to ``factory.datagram_protocol()``; fires with the listening port."""


@implementer(IDatagramServerEndpoint)
class UDPDatagramEndpoint:
    def __init__(self, reactor: Any, port: int, interface: str = "") -> None:
        self.reactor = reactor
        self.port = port
        self.interface = interface

    def listen(self, factory: Any) -> Deferred[IListeningPort]:
        make = getattr(factory, "datagram_protocol", None)
        if make is None:
            raise TypeError(f"{factory!r} can't serve datagrams (udp: endpoint)")
        listening: Deferred[IListeningPort] = execute(
            self.reactor.listenUDP, self.port, make(), interface=self.interface)
        return listening


def _fields(description: str) -> list[str]:
    return [field.replace("\\:", ":") for field in _FIELD_END.split(description)]


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ValueError(f"udp: the port must be a number from 0 to 65535, not {text!r}")
    return int(text)


def parse(reactor: Any, description: str) -> UDPDatagramEndpoint:
    """The endpoint a ``udp:`` listener string names; ValueError says what is wrong."""
    kind, *fields = _fields(description)
    if kind != PREFIX:
        raise ValueError(f"the UDP channel listens on udp:PORT, not {description!r}")
    args = [field for field in fields if "=" not in field]
    options = dict(field.split("=", 1) for field in fields if "=" in field)
    if len(args) != 1 or set(options) - {"interface"}:
        raise ValueError("expected udp:PORT or udp:PORT:interface=ADDRESS")
    return UDPDatagramEndpoint(reactor, _port(args[0]), options.get("interface", ""))


def udp_port(description: str) -> int:
    """The port of a ``udp:`` endpoint string (what a /token reply tells the client)."""
    fields = _fields(description)
    if fields[0] != PREFIX or len(fields) < 2:
        raise ValueError(f"not a udp: endpoint: {description!r}")
    return _port(fields[1])
