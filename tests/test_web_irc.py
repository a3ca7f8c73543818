"""IRC over the web listener's WebSocket (the IRCv3 WebSocket transport): in memory, over a
StringTransport, the IRC frontend carried by the web frontend as the daemon puts them
together (``WebFactory.carry``), against a real core."""

from __future__ import annotations

import struct
from pathlib import Path

import txaio
from twisted.trial.unittest import SynchronousTestCase

from chatd.frontends.irc import FRONTEND as IRC
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.web.carried import FrameTransport
from chatd.frontends.web.options import Options
from chatd.frontends.web.site import WebFactory

from tests.fakes import World
from tests.test_web_site import Connection


def upgrade(path: str = "/", protocols: str = "text.ircv3.net", origin: str = "") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1:8080", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    if origin:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(payload: bytes, binary: bool = False) -> bytes:
    """A client's frame: masked, as a client's must be (a zero mask: the same bytes)."""
    head = 0x82 if binary else 0x81
    size = len(payload)
    start = bytes([head, 0x80 | size]) if size < 126 else struct.pack("!BBH", head, 0xFE, size)
    return start + b"\0\0\0\0" + payload


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """The server's frames (unmasked) in ``data``: (opcode, payload)."""
    found = []
    while data:
        opcode, size, data = data[0] & 0x0F, data[1] & 0x7F, data[2:]
        if size == 126:
            size, data = struct.unpack("!H", data[:2])[0], data[2:]
        found.append((opcode, data[:size]))
        data = data[size:]
    return found


class WebIRCTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        # autobahn's timers (handshake, pings) go through txaio, onto this clock too.
        self.patch(txaio.config, "loop", self.world.clock)
        self.irc = IRCFactory(self.world.portal, IRCOptions(), self.world.clock,
                              self.world.admission, self.world.server.stats)
        self.web = WebFactory(self.world.portal, Options(), self.world.clock,
                              self.world.admission, self.world.server.stats)
        self.web.carry(IRC.subprotocols, self.irc)
        self.web.startFactory()
        self.addCleanup(self.web.stopFactory)

    def open(self, protocols: str = "text.ircv3.net", path: str = "/",
             origin: str = "") -> tuple[Connection, bytes]:
        connection = Connection(self.web, "192.0.2.1")
        self.addCleanup(connection.transport.loseConnection)
        connection.send(upgrade(path, protocols, origin))
        return connection, connection.read()

    def send(self, connection: Connection, *lines: bytes, binary: bool = False
             ) -> list[tuple[int, bytes]]:
        for line in lines:
            connection.transport.protocol.dataReceived(frame(line, binary))
        self.world.clock.advance(0)  # the outbox writes once per reactor turn
        return frames(connection.read())

    def test_text_ircv3_net_is_chosen_and_each_line_is_one_text_message(self) -> None:
        connection, head = self.open("text.ircv3.net, binary.ircv3.net")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertIn(b"Sec-WebSocket-Protocol: text.ircv3.net", head)
        sent = self.send(connection, b"NICK ann", b"USER ann 0 * :Ann")
        self.assertEqual({opcode for opcode, _ in sent}, {1})
        self.assertTrue(sent[0][1].startswith(b":chatd 001 ann "), sent[0])
        self.assertFalse(any(b"\r" in payload or b"\n" in payload for _, payload in sent))
        self.assertTrue(self.world.server.is_online("ann"))

    def test_binary_ircv3_net_sends_binary_messages(self) -> None:
        connection, head = self.open("binary.ircv3.net, text.ircv3.net")
        self.assertIn(b"Sec-WebSocket-Protocol: binary.ircv3.net", head)
        sent = self.send(connection, b"NICK ann", b"USER ann 0 * :Ann", binary=True)
        self.assertEqual({opcode for opcode, _ in sent}, {2})

    def test_a_web_irc_user_talks_with_a_line_user(self) -> None:
        connection, _ = self.open()
        self.send(connection, b"NICK ann", b"USER ann 0 * :Ann", b"JOIN #lobby")
        bob = self.world.connect()
        bob.send("/nick bob", "/join lobby")
        self.send(connection, b"PRIVMSG #lobby :hello")
        self.assertIn("101 [lobby] <ann> hello", bob.read())
        bob.send("hi ann")
        self.assertIn((1, b":bob!bob@chatd PRIVMSG #lobby :hi ann"),
                      self.send(connection))

    def test_one_line_per_message_what_follows_a_newline_is_not_read(self) -> None:
        connection, _ = self.open()
        self.send(connection, b"NICK ann", b"USER ann 0 * :Ann")
        sent = self.send(connection, b"PING one\r\nQUIT")
        self.assertEqual(sent, [(1, b":chatd PONG chatd one")])
        self.assertTrue(self.world.server.is_online("ann"))

    def test_quit_closes_the_websocket_and_logs_out(self) -> None:
        connection, _ = self.open()
        self.send(connection, b"NICK ann", b"USER ann 0 * :Ann")
        sent = self.send(connection, b"QUIT :bye")
        self.assertEqual(sent[0][0], 1)
        self.assertTrue(sent[0][1].startswith(b"ERROR :Closing link"), sent)
        self.assertEqual(sent[-1][0], 8)  # the close frame
        connection.transport.loseConnection()
        connection.protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertFalse(self.world.server.is_online("ann"))

    def test_no_subprotocol_is_the_json_protocol_and_a_foreign_origin_is_refused(self) -> None:
        _, head = self.open("")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertNotIn(b"Sec-WebSocket-Protocol", head)
        _, head = self.open(origin="https://evil.example")
        self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)

    def test_the_page_is_still_served_at_the_root(self) -> None:
        connection = Connection(self.web, "192.0.2.1")
        self.addCleanup(connection.transport.loseConnection)
        connection.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
        answer = connection.read()
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:40])
        self.assertIn(b"<html", answer.lower())


class FrameTransportTests(SynchronousTestCase):
    def test_lines_split_across_writes_are_sent_whole_and_text_is_made_utf8(self) -> None:
        sent: list[tuple[bytes, bool]] = []

        class WebSocket:
            def sendMessage(self, payload: bytes, isBinary: bool) -> None:
                sent.append((payload, isBinary))

        transport = FrameTransport(WebSocket(), False, None)  # type: ignore[arg-type]
        transport.write(b"one\r\ntw")
        transport.write(b"o caf\xe9\r\n")
        self.assertEqual(sent, [(b"one", False), ("two caf\N{REPLACEMENT CHARACTER}".encode(),
                                                    False)])
