"""The Twisted private attributes chatd relies on (chatd/twisted_private.py) still exist.

When a Twisted release renames one, this fails naming it, before anything subtler breaks.
"""

from __future__ import annotations

import socket

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import reactor, tcp
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.trial.unittest import TestCase

from chatd.twisted_private import USED, nothing_buffered, send_now, share_names


class PrivateAttributesTests(TestCase):
    def instances(self) -> dict[type, object]:
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        connection = tcp.Connection(a, Protocol(), reactor)  # type: ignore[arg-type]
        endpoint = SSL4ServerEndpoint(reactor, 0, CertificateOptions())  # type: ignore[arg-type]
        service = StreamServerEndpointService(
            TCP4ServerEndpoint(reactor, 0), Factory.forProtocol(Protocol)
        )
        return {tcp.Connection: connection, SSL4ServerEndpoint: endpoint,
                StreamServerEndpointService: service, tcp.Server: self.server()}

    def server(self) -> tcp.Server:
        """An accepted connection, as a port makes it (reading from its socket until the
        test ends)."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        port = tcp.Port(0, Factory.forProtocol(Protocol))
        port._realPortNumber = 1
        server = tcp.Server(a, Protocol(), ("127.0.0.1", 2), port, 7, reactor)
        self.addCleanup(server.stopReading)
        return server

    def test_every_attribute_used_exists(self) -> None:
        instances = self.instances()
        for cls, name in USED:
            self.assertTrue(hasattr(instances[cls], name),
                            f"Twisted's {cls.__name__} has no {name} any more: see "
                            "chatd/twisted_private.py")

    def test_a_fresh_connection_has_nothing_buffered(self) -> None:
        connection = self.instances()[tcp.Connection]
        connection.connected = True  # type: ignore[attr-defined]
        self.assertTrue(nothing_buffered(connection))  # type: ignore[arg-type]
        connection._tempDataLen = 1  # what write() does before the reactor's next pass
        self.assertFalse(nothing_buffered(connection))  # type: ignore[arg-type]

    def test_send_now_sends_only_when_nothing_is_buffered(self) -> None:
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(False)
        connection = tcp.Connection(a, Protocol(), reactor)  # type: ignore[arg-type]
        connection.connected = True  # type: ignore[attr-defined]
        self.assertEqual(send_now(connection, b"now\r\n"), b"")  # type: ignore[arg-type]
        self.assertEqual(b.recv(100), b"now\r\n")
        connection._tempDataLen = 1
        self.assertEqual(send_now(connection, b"later\r\n"), b"later\r\n")  # type: ignore[arg-type]


    def test_share_names(self) -> None:
        """An accepted connection's log prefix and repr become the one string given, and a
        TLS (or any other) transport is left as it is."""
        server = self.server()
        self.assertIn("127.0.0.1", server.logPrefix())
        name = "ChatConnection"
        share_names(server, name)
        self.assertIs(server.logPrefix(), name)
        self.assertIs(repr(server), name)
        other = Protocol()
        share_names(other, name)
        self.assertFalse(hasattr(other, "logstr"))
