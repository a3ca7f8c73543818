"""The bundled client's UDP channel (``--udp``): its datagram codec, the cookie answer, and
datagrams shown as the lines TCP would carry, over a fake transport and a task.Clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatd_client.udp import KEEPALIVE, UdpChannel, as_line, decode, encode

TOKEN = "q2bc8vS1n4wE0xyfK7dRzT3u"


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((data, address))


class ClientDatagrams(SynchronousTestCase):
    def test_encode_and_decode_as_the_protocol_doc_says(self) -> None:
        self.assertEqual(encode("lobby", "ann", "hi"), b"\x05\x03lobbyannhi")
        self.assertEqual(decode(b"\x05\x03lobbyannhi"), ("lobby", "ann", "hi"))
        self.assertIsNone(decode(b"\x05"))
        self.assertIsNone(decode(b"\x05\x09lobby"))
        self.assertIsNone(decode(b"\x01\x00\xff"))

    def test_datagrams_become_the_lines_tcp_would_carry(self) -> None:
        self.assertEqual(as_line("lobby", "ann", "hi"), "101 [lobby] <ann> hi")
        self.assertEqual(as_line("lobby", "ann", "/me waves"), "107 [lobby] * ann waves")
        self.assertEqual(as_line("lobby", "", "bob joined"), "100 [lobby] bob joined")


class Channel(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.shown: list[str] = []
        self.expired: list[str] = []
        self.channel = UdpChannel(self.clock, "127.0.0.1", self.shown.append,
                                  self.expired.append)
        self.transport = FakeTransport()
        self.channel.makeConnection(self.transport)  # type: ignore[arg-type]

    def hear(self, room: str, sender: str, message: str) -> None:
        self.channel.datagramReceived(encode(room, sender, message), ("127.0.0.1", 7778))

    def test_it_answers_the_challenge_then_speaks_once_in(self) -> None:
        self.channel.start("lobby", TOKEN, 7778)
        self.assertEqual(self.transport.sent, [(encode("lobby", TOKEN), ("127.0.0.1", 7778))])
        self.assertFalse(self.channel.say("lobby", "too early"))
        self.hear("lobby", "", "\x00cookie")
        self.assertEqual(self.transport.sent[-1][0], encode("lobby", TOKEN, "\x00cookie"))
        self.hear("lobby", "", "you are in lobby over UDP")
        self.assertTrue(self.channel.say("lobby", "hello"))
        self.assertEqual(self.transport.sent[-1][0], encode("lobby", TOKEN, "hello"))
        self.hear("lobby", "ann", "hi")
        self.assertEqual(self.shown, ["100 [lobby] you are in lobby over UDP",
                                      "101 [lobby] <ann> hi"])

    def test_keep_alives_and_the_end_of_a_token(self) -> None:
        self.channel.start("lobby", TOKEN, 7778)
        self.hear("lobby", "", "you are in lobby over UDP")
        before = len(self.transport.sent)
        self.clock.advance(KEEPALIVE)
        self.assertEqual(self.transport.sent[before:], [(encode("lobby", TOKEN),
                                                        ("127.0.0.1", 7778))])
        self.hear("lobby", "", "the token expired")
        self.assertEqual(self.expired, ["lobby"])
        self.assertFalse(self.channel.say("lobby", "x"))
        self.hear("lobby", "", "you are no longer in lobby (left)")
        self.clock.advance(KEEPALIVE)
        self.assertEqual(len(self.transport.sent), before + 1)
        self.channel.stop()
