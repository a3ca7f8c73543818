"""The UDP channel in memory: the datagram codec (with a hypothesis fuzz of the parser), the
cookie round trip, tokens ending, the idle drop and the limits, over a fake transport and a
task.Clock with the whole server of ``fakes.World``."""

from __future__ import annotations

import errno
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from test_irc import IRCClient, find
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IrcOptions
from chatd.frontends.line import Options as LineOptions
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.udp import FRONTEND as UDP_FRONTEND
from chatd.frontends.udp import Options, UdpFrontend, token_port
from chatd.frontends.udp.codec import (
    Datagram,
    Invalid,
    Kind,
    challenge,
    encode,
    parse,
)
from chatd.frontends.udp.endpoint import IDatagramServerEndpoint, udp_port
from chatd.frontends.udp.endpoint import parse as parse_endpoint
from chatd.kernel.settings import Settings
from chatd.metrics import ChatCollector

from fakes import Client, World
from tests.fuzz_support import CONTROL

TOKEN = "A" * 24
ADDRESS = ("192.0.2.7", 40000)


class FakeUdpTransport:
    """What the frontend writes, datagram by datagram, with the address."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((data, address))

    def take(self) -> list[tuple[bytes, tuple[str, int]]]:
        sent, self.sent = self.sent, []
        return sent


class FakeSocket:
    """A port's socket: each ``sendto``, or the error the kernel would give."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.error = 0

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        if self.error:
            raise OSError(self.error, "fake")
        self.sent.append((data, address))
        return len(data)


class SocketUdpTransport(FakeUdpTransport):
    """Twisted's UDP port as members see it: its ``write`` and its ``socket``."""

    def __init__(self) -> None:
        super().__init__()
        self.socket = FakeSocket()


def fields(data: bytes) -> tuple[str, str, str]:
    room_end = 2 + data[0]
    name_end = room_end + data[1]
    return data[2:room_end].decode(), data[room_end:name_end].decode(), data[name_end:].decode()


class DatagramCodec(TestCase):
    def test_a_message_parses_into_room_token_and_text(self) -> None:
        data = b"\x05\x18lobby" + TOKEN.encode() + "hé there".encode()
        self.assertEqual(parse(data, 1200), Datagram("lobby", TOKEN, Kind.MESSAGE, "hé there"))

    def test_an_empty_message_is_a_keep_alive_and_nul_starts_a_cookie(self) -> None:
        self.assertEqual(parse(encode("lobby", TOKEN, ""), 1200).kind, Kind.KEEPALIVE)
        cookie = parse(encode("lobby", TOKEN, "\x00abc"), 1200)
        self.assertEqual((cookie.kind, cookie.text), (Kind.COOKIE, "abc"))

    def test_each_kind_of_garbage_is_named(self) -> None:
        cases = {
            b"\x05": "Short",
            b"\x00\x18" + TOKEN.encode(): "Lengths",
            b"\x05\x18lob": "Lengths",
            encode("lobby", "x" * 24, "") + b"y" * 1200: "TooLong",
            encode("lobby", "short", "hi"): "TokenShape",
            encode("lobby", "a b" * 8, "hi"): "TokenShape",
            encode("lobby", TOKEN, "") + b"\xff": "BadEncoding",
            encode("lob\x07", TOKEN, "hi"): "Control",
            encode("lobby", TOKEN, "a\x1bb"): "Control",
            encode("lobby", TOKEN, "\x00"): "Control",
        }
        for data, reason in cases.items():
            with self.assertRaises(Invalid) as raised:
                parse(data, 1200)
            self.assertEqual(raised.exception.reason, reason, data)

    def test_the_byte_level_example_of_the_protocol_doc(self) -> None:
        self.assertEqual(encode("lobby", "ann", "hi"), b"\x05\x03lobbyannhi")

    @given(st.binary(max_size=400))
    @example(b"\x01\x10a" + b"A" * 16)
    @example(b"\x01\x10\xff" + b"A" * 16)
    def test_any_bytes_parse_or_are_refused_with_a_reason(self, data: bytes) -> None:
        try:
            datagram = parse(data, 300)
        except Invalid as error:
            self.assertTrue(error.reason.isalpha())
            return
        self.assertLessEqual(len(data), 300)
        self.assertFalse(CONTROL.search(datagram.room + datagram.token))
        if datagram.kind is not Kind.COOKIE:
            self.assertFalse(CONTROL.search(datagram.text))
        self.assertEqual(parse(encode(datagram.room, datagram.token,
                                      ("\x00" if datagram.kind is Kind.COOKIE else "")
                                      + datagram.text), 300), datagram)

    @given(st.text(min_size=1, max_size=40), st.from_regex(r"[A-Za-z0-9_-]{16,64}",
                                                            fullmatch=True),
           st.text(max_size=200))
    def test_what_a_client_encodes_parses_back(self, room: str, token: str, text: str) -> None:
        data = encode(room, token, text)
        if CONTROL.search(room) or CONTROL.search(text) or len(room.encode()) > 255:
            return
        self.assertEqual(parse(data, 65507), Datagram(room, token,
                                                      Kind.MESSAGE if text else Kind.KEEPALIVE,
                                                      text))


class Endpoint(TestCase):
    def test_udp_endpoint_strings(self) -> None:
        from twisted.internet import reactor

        endpoint = parse_endpoint(reactor, "udp:7778:interface=127.0.0.1")
        self.assertEqual((endpoint.port, endpoint.interface), (7778, "127.0.0.1"))
        self.assertTrue(IDatagramServerEndpoint.providedBy(parse_endpoint(reactor, "udp:7779")))
        self.assertFalse(IStreamServerEndpoint.providedBy(parse_endpoint(reactor, "udp:7779")))
        self.assertEqual(parse_endpoint(reactor, r"udp:7778:interface=\:\:1").interface, "::1")
        self.assertEqual(udp_port("udp:7778:interface=::1"), 7778)
        for bad in ("udp:http", "udp:70000", "tcp:7778"):
            self.assertRaises(ValueError, udp_port, bad)
            self.assertRaises(ValueError, parse_endpoint, reactor, bad)
        self.assertRaises(ValueError, parse_endpoint, reactor, "udp:1:x=y")

    def test_the_udp_frontend_parses_its_own_listeners_and_twisted_knows_no_udp_strings(
            self) -> None:
        from twisted.internet import reactor

        self.assertIs(UDP_FRONTEND.endpoint, parse_endpoint)
        self.assertRaises(ValueError, serverFromString, reactor, "udp:7779")

    def test_the_token_port_is_the_first_udp_listener(self) -> None:
        self.assertEqual(token_port(Settings({"udp": ("udp:7778", "udp:7779")})), 7778)
        self.assertIsNone(token_port(Settings({"udp": ()})))
        self.assertIsNone(token_port(Settings({})))


class UdpChannel(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent,
                           options=LineOptions(ConnectionOptions(udp_port=7778)))
        self.frontend = self.make(Options(idle_timeout=0))
        self.transport = FakeUdpTransport()

    def make(self, options: Options) -> UdpFrontend:
        world = self.world
        return UdpFrontend(world.portal, options, world.clock, world.admission,
                           world.server.stats)

    def member(self, name: str, room: str = "lobby") -> tuple[Client, str]:
        client = self.world.connect()
        client.send(f"/nick {name}", f"/join {room}")
        reply = client.send(f"/token {room}")
        self.assertEqual(reply[0].split(" ")[0], "230", reply)
        _, got_room, token, port, lifetime = reply[0].split(" ")
        self.assertEqual((got_room, port, lifetime), (room, "7778", "3600"))
        return client, token

    def send(self, data: bytes, address: tuple[str, int] = ADDRESS,
             frontend: UdpFrontend | None = None) -> list[tuple[bytes, tuple[str, int]]]:
        (frontend or self.frontend).received(data, address, self.transport)
        return self.transport.take()

    def validate(self, token: str, room: str = "lobby", address: tuple[str, int] = ADDRESS,
                 frontend: UdpFrontend | None = None) -> None:
        [(answer, to)] = self.send(encode(room, token, ""), address, frontend)
        self.assertEqual(to, address)
        self.assertLessEqual(len(answer), len(encode(room, token, "")))
        _, sender, cookie = fields(answer)
        self.assertEqual(sender, "")
        sent = self.send(encode(room, token, cookie), address, frontend)
        self.assertEqual([fields(data) for data, _ in sent],
                         [(room, "", f"you are in {room} over UDP")])

    def test_a_validated_member_talks_with_a_line_member_both_ways(self) -> None:
        _, token = self.member("uma")
        other = self.world.connect()
        other.send("/nick lena", "/join lobby")
        self.validate(token)
        self.send(encode("lobby", token, "hi from UDP"))
        self.assertIn("101 [lobby] <uma> hi from UDP", other.read())
        other.send("hi from the line")
        self.assertIn((b"\x05\x04lobbylenahi from the line", ADDRESS), self.transport.take())
        self.send(encode("lobby", token, "/me waves"))
        self.assertIn("107 [lobby] * uma waves", other.read())
        self.assertIn("uma", [c.session.name for c in self.frontend.connections])

    def test_a_member_sends_with_the_port_s_socket_and_counts_what_it_loses(self) -> None:
        self.transport = transport = SocketUdpTransport()
        _, token = self.member("uma")
        other = self.world.connect()
        other.send("/nick lena", "/join lobby")
        [(answer, _)] = self.send(encode("lobby", token, ""))  # the frontend's own write
        self.send(encode("lobby", token, fields(answer)[2]))
        other.send("one", "two")
        # Straight to the socket, in order; nothing through the port's checking write.
        self.assertEqual([fields(data) for data, _ in transport.socket.sent], [
            ("lobby", "", "you are in lobby over UDP"), ("lobby", "lena", "one"),
            ("lobby", "lena", "two")])
        self.assertEqual({to for _, to in transport.socket.sent}, {ADDRESS})
        self.assertEqual(transport.take(), [])
        rejected = self.world.server.stats.rejected
        transport.socket.error = errno.EAGAIN  # the socket's buffer is full: it is lost
        other.send("three")
        self.assertEqual(rejected["UdpSendFailed"], 1)
        transport.socket.error = errno.ECONNREFUSED  # an earlier ICMP: not the member's loss
        other.send("four")
        self.assertEqual(rejected["UdpSendFailed"], 1)

    def test_only_its_own_room_reaches_a_member(self) -> None:
        line, token = self.member("uma")
        line.send("/join elsewhere")
        self.validate(token)
        line.send("/join lobby", "in lobby", "/join elsewhere", "in elsewhere")
        said = [fields(data)[2] for data, _ in self.transport.take()]
        self.assertIn("in lobby", said)
        self.assertNotIn("in elsewhere", said)

    def test_nothing_but_a_smaller_challenge_before_the_cookie(self) -> None:
        line, token = self.member("uma")
        for text in ("", "hello", "x" * 300):
            data = encode("lobby", token, text)
            [(answer, _)] = self.send(data)
            self.assertLessEqual(len(answer), len(data))
        line.send("room traffic")
        self.assertEqual(self.transport.take(), [])
        self.assertNotIn("101 [lobby] <uma> hello", line.read())

    def test_a_cookie_is_good_only_for_its_address_and_its_time(self) -> None:
        _, token = self.member("uma")
        [(answer, _)] = self.send(encode("lobby", token, ""))
        cookie = fields(answer)[2]
        self.assertEqual(self.send(encode("lobby", token, cookie), ("192.0.2.8", 40000)), [])
        self.assertEqual(self.send(encode("lobby", token, cookie), (ADDRESS[0], 40001)), [])
        self.world.clock.advance(61)
        self.assertEqual(self.send(encode("lobby", token, cookie)), [])
        self.assertEqual(self.world.server.stats.rejected["UdpBadCookie"], 3)

    def test_unknown_tokens_and_garbage_are_dropped_and_counted(self) -> None:
        _, token = self.member("uma")
        self.assertEqual(self.send(encode("lobby", "B" * 24, "hi")), [])
        self.assertEqual(self.send(encode("other", token, "hi")), [])
        self.assertEqual(self.send(b"\x01"), [])
        rejected = self.world.server.stats.rejected
        self.assertEqual((rejected["UdpBadToken"], rejected["UdpShort"]), (2, 1))

    def test_leave_expiry_and_logout_end_the_member(self) -> None:
        line, token = self.member("uma")
        self.validate(token)
        line.send("/leave lobby")
        self.assertEqual([fields(data) for data, _ in self.transport.take()][-1],
                         ("lobby", "", "you are no longer in lobby (left)"))
        self.assertEqual(list(self.frontend.connections), [])
        self.assertEqual(self.send(encode("lobby", token, "hi")), [])

        line.send("/join lobby")
        token = line.send("/token lobby")[0].split(" ")[2]
        self.validate(token)
        self.world.clock.advance(3600)
        self.assertEqual(fields(self.transport.take()[-1][0])[2], "the token expired")
        self.assertEqual(self.send(encode("lobby", token, "replayed")), [])

        token = line.send("/token lobby")[0].split(" ")[2]
        self.validate(token)
        line.send("/quit")
        line.drop()  # the transport closes: the session logs out
        self.assertEqual(fields(self.transport.take()[-1][0])[2], "you logged out")
        self.assertEqual(self.send(encode("lobby", token, "hi")), [])

    def test_a_kicked_member_s_token_ends_with_its_membership(self) -> None:
        operator = self.world.connect()
        operator.send("/nick opal", "/join lobby")
        _, token = self.member("uma")
        self.validate(token)
        operator.send("/kick uma")
        self.assertEqual([fields(data) for data, _ in self.transport.take()][-1],
                         ("lobby", "", "you are no longer in lobby (kicked)"))
        self.assertEqual(list(self.frontend.connections), [])
        self.assertEqual(self.send(encode("lobby", token, "hi")), [])

    def test_a_silent_member_leaves_the_room_and_the_room_is_told(self) -> None:
        frontend = self.make(Options(idle_timeout=30))
        _, token = self.member("uma")
        other = self.world.connect()
        other.send("/nick lena", "/join lobby")
        self.validate(token, frontend=frontend)
        self.world.clock.advance(20)
        self.send(encode("lobby", token, ""), frontend=frontend)  # a keep-alive
        self.world.clock.advance(20)
        self.assertNotIn("104 [lobby] uma timed out: UDP silent for 30 s", other.read())
        self.world.clock.advance(10)
        self.assertIn("104 [lobby] uma timed out: UDP silent for 30 s", other.read())
        self.assertEqual(list(frontend.connections), [])
        self.assertEqual(frontend.per_host, {})

    def test_per_address_and_total_limits(self) -> None:
        frontend = self.make(Options(idle_timeout=0, members_per_address=1, max_members=2))
        tokens = [self.member(name)[1] for name in ("ann", "bob", "cid")]
        self.validate(tokens[0], frontend=frontend)
        [(answer, _)] = self.send(encode("lobby", tokens[1], ""), (ADDRESS[0], 2), frontend)
        self.assertEqual(self.send(encode("lobby", tokens[1], fields(answer)[2]),
                                   (ADDRESS[0], 2), frontend), [])
        self.validate(tokens[1], address=("192.0.2.9", 1), frontend=frontend)
        [(answer, _)] = self.send(encode("lobby", tokens[2], ""), ("192.0.2.10", 1), frontend)
        self.assertEqual(self.send(encode("lobby", tokens[2], fields(answer)[2]),
                                   ("192.0.2.10", 1), frontend), [])
        self.assertEqual(self.world.server.stats.rejected["UdpFull"], 2)

    def test_a_message_too_fast_is_refused_with_a_notice(self) -> None:
        self.world.server.limits = type(self.world.server.limits)(messages_burst=1)
        _, token = self.member("uma")
        self.validate(token)
        self.send(encode("lobby", token, "one"))
        sent = self.send(encode("lobby", token, "two"))
        self.assertTrue(any(fields(data)[2].startswith("slow down") for data, _ in sent), sent)

    def test_challenge_is_no_larger_than_a_keep_alive_with_a_real_token(self) -> None:
        _, token = self.member("uma")
        self.assertLessEqual(len(challenge("lobby", "c" * 22)), len(encode("lobby", token, "")))

    def test_token_without_udp_is_refused_and_needs_a_room_one_is_in(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        client = world.connect()
        client.send("/nick uma", "/join lobby")
        self.assertEqual(client.send("/token lobby")[0].split(" ")[0], "403")
        line, _ = self.member("ann")
        self.assertEqual(line.send("/token elsewhere")[0].split(" ")[0], "404")
        line.send("/join other", "/leave other")
        self.assertEqual(line.send("/token lobby2")[0].split(" ")[0], "404")

    def test_a_validated_address_can_not_speak_in_another_room_with_its_token(self) -> None:
        line, token = self.member("uma")
        line.send("/join other")
        other = self.world.connect()
        other.send("/nick lena", "/join lobby", "/join other")
        self.validate(token)
        self.send(encode("other", token, "wrong room"))
        self.assertNotIn("101 [other] <uma> wrong room", other.read())
        self.assertEqual(self.world.server.stats.rejected["UdpWrongRoom"], 1)
        self.send(encode("LOBBY", token, "folded name"))
        self.assertIn("101 [lobby] <uma> folded name", other.read())

    def test_a_cookie_sent_again_is_answered_again(self) -> None:
        _, token = self.member("uma")
        self.validate(token)
        sent = self.send(encode("lobby", token, "\x00whatever"))
        self.assertEqual([fields(data) for data, _ in sent],
                         [("lobby", "", "you are in lobby over UDP")])

    def test_the_metrics_count_udp_members_and_dropped_datagrams(self) -> None:
        _, token = self.member("uma")
        self.validate(token)
        self.send(b"\x01")
        registry = CollectorRegistry()
        registry.register(ChatCollector(self.world.server, {"udp": self.frontend}))
        text = generate_latest(registry).decode()
        self.assertIn('chatd_connections{protocol="udp"} 1.0', text)
        self.assertIn('chatd_sessions{protocol="udp"} 1.0', text)
        self.assertIn('chatd_rejected_inputs_total{reason="UdpShort"} 1.0', text)

    def test_at_shutdown_each_member_is_told_why(self) -> None:
        _, token = self.member("uma")
        self.validate(token)
        done = self.frontend.connections.shutdown("the server is shutting down")
        self.assertEqual(fields(self.transport.take()[-1][0])[2], "the server is shutting down")
        self.assertTrue(done.called)
        self.assertEqual(self.frontend.members, {})

    def test_irc_token_is_answered_with_a_notice(self) -> None:
        world = self.world
        for port in (7778, None):
            factory = IRCFactory(world.portal, IrcOptions(ConnectionOptions(udp_port=port)),
                                 world.clock, world.admission, world.server.stats)
            irc = IRCClient(factory)
            nick = f"ivan{port or 0}"
            irc.send(f"NICK {nick}", f"USER {nick} 0 * :Ivan", "JOIN #lobby")
            lines = irc.send("TOKEN #lobby")
            if port is None:
                self.assertNotIn("NOTICE", [command for _, command, _ in lines])
                continue
            word, channel, token, got_port, lifetime = find(lines, "NOTICE")[1].split(" ")
            self.assertEqual((word, channel, got_port, lifetime),
                             ("TOKEN", "#lobby", "7778", "3600"))
            self.validate(token)
            irc.send("PRIVMSG #elsewhere :x")
            self.assertEqual(find(irc.send("TOKEN #elsewhere"), "403")[1], "#elsewhere")

    def test_a_seat_validated_from_a_new_address_or_token_moves_there(self) -> None:
        line, token = self.member("uma")
        self.validate(token)
        moved = (ADDRESS[0], 40001)  # the NAT gave the client another port
        [(answer, _)] = self.send(encode("lobby", token, ""), moved)
        sent = self.send(encode("lobby", token, fields(answer)[2]), moved)
        self.assertEqual([(fields(data)[2], to) for data, to in sent],
                         [(f"you speak in lobby from {moved[0]}:{moved[1]} now", ADDRESS),
                          ("you are in lobby over UDP", moved)])
        self.assertEqual([m.address for m in self.frontend.connections], [moved])
        line.send("still one copy")
        self.assertEqual([to for _, to in self.transport.take()], [moved])
        newer = line.send("/token lobby")[0].split(" ")[2]
        [(answer, _)] = self.send(encode("lobby", newer, ""), moved)
        sent = self.send(encode("lobby", newer, fields(answer)[2]), moved)
        self.assertEqual([fields(data)[2] for data, _ in sent],
                         [f"you speak in lobby from {moved[0]}:{moved[1]} now",
                          "you are in lobby over UDP"])
        self.assertEqual([m.token for m in self.frontend.connections], [newer])

    def test_while_a_member_speaks_over_udp_its_tcp_session_gets_no_messages(self) -> None:
        line, token = self.member("uma")
        other = self.world.connect()
        other.send("/nick lena", "/join lobby")
        line.read()
        self.validate(token)
        other.send("to the room")
        self.assertNotIn("101 [lobby] <lena> to the room", line.read())
        self.assertIn((b"\x05\x04lobbylenato the room", ADDRESS), self.transport.take())
        other.send("/topic lobby hello")  # other events still come over TCP
        self.assertIn("105 [lobby] lena set the topic: hello", line.read())
        self.world.clock.advance(3600)  # the token ends: messages come over TCP again
        other.send("back on TCP")
        self.assertIn("101 [lobby] <lena> back on TCP", line.read())

    def test_dropped_datagrams_are_logged_once_per_interval_with_their_count(self) -> None:
        seen: list[dict] = []
        globalLogPublisher.addObserver(seen.append)
        self.addCleanup(globalLogPublisher.removeObserver, seen.append)

        def dropped() -> list[int]:
            return [event["count"] for event in seen
                    if "invalid UDP datagrams" in event.get("log_format", "")]

        for _ in range(1000):
            self.send(b"\x01")
        self.assertEqual(dropped(), [1])
        self.world.clock.advance(10)
        self.assertEqual(dropped(), [1, 999])
        self.world.clock.advance(60)
        self.assertEqual(dropped(), [1, 999])
