"""Every limit of the hardening issue, sans-IO: the offender gets the documented reply and
everyone else carries on."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.core.service import Limits
from chatd.frontends.admission import (
    EXEMPT_ANSWERS,
    Admission,
    AdmissionLimits,
    parse_networks,
)
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions

from fakes import Client, World


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


class LimitsTestCase(TestCase):
    def world(self, **kwargs: object) -> World:
        return World(Path(self.mktemp()).absolute().parent, **kwargs)  # type: ignore[arg-type]

    def guest(self, world: World, name: str, room: str | None = None) -> Client:
        client = world.connect()
        client.send(f"/nick {name}")
        if room:
            client.send(f"/join {room}")
        return client


class MessageRate(LimitsTestCase):
    def test_burst_then_rate_then_flood_without_a_paste_queue(self) -> None:
        world = self.world(limits=Limits(messages_burst=3, messages_per_second=1,
                                         flood_strikes=4),
                           options=Options(ConnectionOptions(paste_queue=0)))
        ann = self.guest(world, "ann", "lobby")
        bea = self.guest(world, "bea", "lobby")
        ann.read()
        self.assertEqual(codes(ann.send("1", "2", "3")), ["101", "101", "101"])
        refused = ann.send("4")
        self.assertEqual(refused, ["429 slow down: at most 1 messages a second (bursts of 3); "
                                   'that one was not sent: "4"'])
        world.clock.advance(1)
        self.assertEqual(codes(ann.send("5")), ["101"], "a token came back after a second")
        self.assertEqual([line[-1] for line in bea.read()], ["1", "2", "3", "5"])
        self.assertEqual(codes(ann.send("a", "b", "c")), ["429", "429", "429"])
        lines = ann.send("d")
        self.assertEqual(lines, ["429 disconnected for flooding (4 messages too fast)",
                                 "109 disconnected for flooding"])
        self.assertTrue(ann.transport.disconnecting)
        ann.drop()
        self.assertEqual(bea.read(), ["104 [lobby] ann was disconnected for flooding"])

    def test_private_messages_count_too(self) -> None:
        world = self.world(limits=Limits(messages_burst=1, messages_per_second=0.1))
        ann, bea = self.guest(world, "ann"), self.guest(world, "bea")
        self.assertEqual(codes(ann.send("/msg bea one", "/msg bea two")), ["200", "429"])
        self.assertEqual(bea.read(), ["102 *ann* one"])

    def test_exempt_addresses_are_not_limited(self) -> None:
        world = self.world(limits=Limits(messages_burst=1, messages_per_second=0.1))
        world.admission.exempt = parse_networks(["192.168.0.0/16"])  # StringTransport's peer
        ann = self.guest(world, "ann", "lobby")
        ann.read()
        self.assertEqual(codes(ann.send(*[str(i) for i in range(50)])), ["101"] * 50)


class Pasting(LimitsTestCase):
    """Fakelag: a paste's lines past the burst wait for the rate instead of getting 429."""

    def paster(self, paste_queue: int = 20, flood_strikes: int = 20) -> tuple[World, Client,
                                                                             Client]:
        world = self.world(limits=Limits(messages_burst=10, messages_per_second=2,
                                         flood_strikes=flood_strikes),
                           options=Options(ConnectionOptions(paste_queue=paste_queue)))
        ann = self.guest(world, "ann", "lobby")
        bea = self.guest(world, "bea", "lobby")
        ann.read()
        return world, ann, bea

    def step(self, world: World, seconds: float) -> None:
        """Time passing as it does, a quarter of a second at a time."""
        for _ in range(int(seconds * 4)):
            world.clock.advance(0.25)

    def test_a_paste_of_thirty_lines_is_all_said_in_order_at_the_rate(self) -> None:
        world, ann, bea = self.paster()
        lines = [f"line {i}" for i in range(30)]
        said = ann.send_bytes("".join(f"{line}\r\n" for line in lines).encode())
        self.assertEqual(len(bea.read()), 10, "the burst goes out at once")
        said, told = said[:10] + said[11:], said[10]
        self.assertEqual(told, "115 pasting: 20 lines wait and go out at 2 a second; past 20 "
                               "in a row, lines are refused (429)", "told once, when it starts")
        self.assertTrue(ann.protocol._paused_by, "reading pauses while a line waits")
        heard_at = []
        for step in range(40):
            world.clock.advance(0.25)
            heard = bea.read()
            heard_at += [(step + 1) * 0.25] * len(heard)
        self.assertEqual(len(heard_at), 20)
        self.assertEqual(heard_at, [0.5 * (i + 1) for i in range(20)], "two a second")
        said = [line.split("> ", 1)[1] for line in said + ann.read()]
        self.assertEqual(said, lines, "the sender sees every line, in order, no 429")
        self.assertFalse(ann.protocol._paused_by, "reading resumes once the paste is out")

    def test_commands_in_a_paste_wait_their_turn_but_are_never_held_back(self) -> None:
        world, ann, _bea = self.paster()
        burst = ann.send_bytes(b"".join(b"%d\r\n" % i for i in range(11)) + b"/who\r\n")
        self.assertEqual(codes(burst), ["101"] * 10 + ["115"], "the /who waits behind line 10")
        world.clock.advance(0.5)
        self.assertEqual(codes(ann.read())[:2], ["101", "211"])

    def test_past_the_paste_queue_lines_get_429(self) -> None:
        world, ann, bea = self.paster(paste_queue=5)
        burst = ann.send_bytes(b"".join(b"line %d\r\n" % i for i in range(20)))
        self.assertEqual(codes(burst), ["101"] * 10 + ["115"])
        self.assertEqual(burst[-1], "115 pasting: 10 lines wait and go out at 2 a second; the "
                                    "last 5 will be refused (429)")
        self.step(world, 10)
        replies = ann.read()
        self.assertEqual(codes(replies), ["101"] * 5 + ["429"] * 5)
        self.assertEqual(replies[5], "429 slow down: at most 2 messages a second (bursts of "
                                     '10); that one was not sent: "line 15"',
                         "each refusal quotes the line it refused")
        self.assertEqual([line[-2:] for line in bea.read()][-5:],
                         ["10", "11", "12", "13", "14"])

    def test_a_flood_still_disconnects(self) -> None:
        world, ann, _bea = self.paster(paste_queue=5, flood_strikes=4)
        replies = ann.send_bytes(b"".join(b"%d\r\n" % i for i in range(40)))
        self.step(world, 10)
        replies += ann.read()
        self.assertEqual(replies[-2:], ["429 disconnected for flooding (4 messages too fast)",
                                        "109 disconnected for flooding"])
        self.assertEqual(codes(replies), ["101"] * 10 + ["115"] + ["101"] * 5 + ["429"] * 4
                         + ["109"])
        self.assertTrue(ann.transport.disconnecting)

    def test_a_line_after_a_pause_goes_out_at_once_again(self) -> None:
        world, ann, _bea = self.paster(paste_queue=2)
        replies = ann.send_bytes(b"".join(b"%d\r\n" % i for i in range(12)))
        world.clock.advance(1)
        self.assertEqual(codes(replies + ann.read()), ["101"] * 10 + ["115"] + ["101"] * 2)
        world.clock.advance(60)
        self.assertEqual(codes(ann.send(*[str(i) for i in range(12)])), ["101"] * 10 + ["115"],
                         "a new paste: its burst, then two held back (and told again)")
        world.clock.advance(1)
        self.assertEqual(codes(ann.read()), ["101"] * 2)

    def test_a_refused_line_is_quoted_to_forty_characters_unprintables_escaped(self) -> None:
        _world, ann, _bea = self.paster(paste_queue=0)
        ann.send(*[str(i) for i in range(10)])
        refused = ann.send("\u200b" + "x" * 60)
        self.assertEqual(refused, ["429 slow down: at most 2 messages a second (bursts of 10); "
                                   f'that one was not sent: "\\x200b{"x" * 39}..."'])

    def test_a_client_that_leaves_while_a_line_waits_leaves_no_timer(self) -> None:
        world, ann, _bea = self.paster()
        ann.send(*[str(i) for i in range(12)])
        ann.drop()
        self.assertEqual([call for call in world.clock.getDelayedCalls()
                          if "_say_held" in repr(call)], [])


class Connections(LimitsTestCase):
    def test_per_address(self) -> None:
        world = self.world(admission=AdmissionLimits(per_address=3, unnamed_per_address=3))
        clients = [world.connect() for _ in range(3)]
        refused = world.connect()
        self.assertTrue(refused.transport.disconnecting)
        self.assertFalse(any(c.transport.disconnecting for c in clients))
        clients[0].drop()
        self.assertFalse(world.connect().transport.disconnecting, "a place came free")

    def test_unnamed_per_address(self) -> None:
        world = self.world(admission=AdmissionLimits(unnamed_per_address=2))
        first, second = world.connect(), world.connect()
        self.assertTrue(world.connect().transport.disconnecting)
        first.send("/nick ann")
        self.assertFalse(world.connect().transport.disconnecting, "ann logged in")
        self.assertFalse(second.transport.disconnecting)

    def test_new_connections_per_window(self) -> None:
        world = self.world(admission=AdmissionLimits(new_per_address=3, new_window=600))
        for _ in range(3):
            world.connect().drop()
        self.assertTrue(world.connect().transport.disconnecting)
        world.clock.advance(600)
        self.assertFalse(world.connect().transport.disconnecting)

    def test_refusal_says_why(self) -> None:
        world = self.world(admission=AdmissionLimits(unnamed_per_address=1))
        world.connect()
        refused = world.factory.buildProtocol(None)
        from twisted.internet.testing import StringTransport

        transport = StringTransport()
        refused.makeConnection(transport)
        world.clock.advance(0)
        self.assertEqual(transport.value().decode().splitlines(), [
            "109 too many connections from 192.168.1.1 that have not logged in (1); "
            "log in on those first",
        ])
        self.assertTrue(transport.disconnecting)

    def test_total(self) -> None:
        admission = Admission(World(Path(self.mktemp()).absolute().parent).clock,
                              AdmissionLimits(max_connections=2), parse_networks(["10.0.0.0/8"]))
        self.assertIsNone(admission.admit("10.0.0.1"))
        self.assertIsNone(admission.admit("10.0.0.2"))
        self.assertIn("the server is full", admission.admit("10.0.0.3") or "")
        admission.release("10.0.0.1", named=False)
        self.assertIsNone(admission.admit("10.0.0.3"))

    def test_exempt_skips_per_address_limits(self) -> None:
        admission = Admission(World(Path(self.mktemp()).absolute().parent).clock,
                              AdmissionLimits(per_address=1, unnamed_per_address=1),
                              parse_networks(["127.0.0.0/8", "::1"]))
        for _ in range(10):
            self.assertIsNone(admission.admit("127.0.0.1"))
            self.assertIsNone(admission.admit("::1"))
        self.assertIsNone(admission.admit("192.0.2.1"))
        self.assertIsNotNone(admission.admit("192.0.2.1"))

    def test_exempt_answers_follow_the_networks_and_stay_bounded(self) -> None:
        admission = Admission(World(Path(self.mktemp()).absolute().parent).clock,
                              AdmissionLimits(), parse_networks(["10.0.0.0/8"]))
        self.assertTrue(admission.is_exempt("10.1.2.3"))
        self.assertFalse(admission.is_exempt("192.0.2.1"))
        admission.exempt = parse_networks(["192.0.2.0/24"])
        self.assertFalse(admission.is_exempt("10.1.2.3"), "answers kept for the old networks")
        self.assertTrue(admission.is_exempt("192.0.2.1"))
        self.assertTrue(admission.is_exempt("/tmp/chatd.sock"), "a unix socket's peer")
        for i in range(EXEMPT_ANSWERS + 10):
            self.assertEqual(admission.is_exempt(f"192.0.{2 + i // 256}.{i % 256}"),
                             i < 256)
        self.assertLessEqual(len(admission._exempt_answers), EXEMPT_ANSWERS)

    def test_bad_network(self) -> None:
        self.assertRaises(ValueError, parse_networks, ["10.0.0.0/33"])


class BeforeLogin(LimitsTestCase):
    def test_login_timeout(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=30)))
        slow, quick = world.connect(), world.connect()
        quick.send("/nick quick")
        world.clock.advance(30)
        self.assertEqual(slow.read(), ["109 no login within 30 seconds; goodbye "
                                       "(connect again to start over)"])
        self.assertTrue(slow.transport.disconnecting)
        self.assertFalse(quick.transport.disconnecting)

    def test_reading_the_help_before_login_gives_more_time(self) -> None:
        world = self.world(options=Options(ConnectionOptions(login_timeout=30)))
        reader = world.connect()
        world.clock.advance(25)
        self.assertEqual(reader.send(" /HELP")[-1], "214 end of help")
        world.clock.advance(25)
        self.assertFalse(reader.transport.disconnecting)
        world.clock.advance(5)
        self.assertTrue(reader.transport.disconnecting)

    def test_bytes_before_login(self) -> None:
        world = self.world(options=Options(ConnectionOptions(max_bytes_before_login=300)))
        talker = world.connect()
        lines = talker.send(*["/help"] * 60)
        self.assertEqual(lines[-1], "109 more than 300 bytes before logging in; goodbye")
        self.assertTrue(talker.transport.disconnecting)
        named = world.connect()
        named.send("/nick ann")
        named.send(*["/help"] * 60)
        self.assertFalse(named.transport.disconnecting, "the cap is for anonymous connections")


class Rooms(LimitsTestCase):
    def test_rooms_per_user(self) -> None:
        world = self.world(limits=Limits(max_rooms_per_user=2, messages_burst=100))
        ann = self.guest(world, "ann")
        ann.send("/join a", "/join b")
        lines = ann.send("/join c")
        self.assertEqual(lines, ["403 you are in 2 rooms, the most allowed; /leave one first"])
        self.assertEqual(codes(ann.send("/join a")), ["200"], "rejoining one is fine")
        ann.send("/leave b")
        self.assertEqual(codes(ann.send("/join c")), ["103", "200"])

    def test_wrong_room_passwords(self) -> None:
        world = self.world(limits=Limits(room_password_burst=2, room_password_interval=60))
        alice = world.connect()
        alice.send("/signup alice password1", "/create club 5 sesame")
        bea = self.guest(world, "bea")
        self.assertEqual(codes(bea.send("/join club x", "/join club y")), ["431", "431"])
        lines = bea.send("/join club sesame")
        self.assertEqual(lines, ["429 too many wrong passwords for club; try again in 60 seconds"])
        cid = self.guest(world, "cid")
        self.assertEqual(codes(cid.send("/join club sesame")), ["103", "200"], "per user")
        world.clock.advance(60)
        self.assertEqual(codes(bea.send("/join club sesame")), ["103", "200"])


class Signups(LimitsTestCase):
    def test_per_address_and_overall(self) -> None:
        from chatd.auth.checkers import SignupLimits
        from chatd.auth.realm import make_portal

        world = self.world()
        world.portal = make_portal(world.server, world.delivery, world.directory, lambda: True,
                                   SignupLimits(world.clock, per_address=2, overall=3),
                                   exempt=world.admission.is_exempt)
        world.factory.portal = world.portal
        for i in range(2):
            self.assertEqual(codes(world.connect().send(f"/signup user{i} password1")), ["201"])
        self.assertEqual(codes(world.connect().send("/signup user2 password1")), ["429"])
        world.clock.advance(600)
        self.assertEqual(codes(world.connect().send("/signup user3 password1")), ["201"])
        self.assertEqual(codes(world.connect().send("/signup user4 password1")), ["201"])
        # 3 overall in the last 10 minutes: two from before are gone, so 2 of 3 used now
        world.admission.exempt = parse_networks(["192.168.0.0/16"])
        self.assertEqual(codes(world.connect().send("/signup user5 password1")), ["201"])
        self.assertEqual(codes(world.connect().send("/signup user6 password1")), ["429"],
                         "the overall limit applies to exempt addresses too")


class RefusedSignupsAreFree(LimitsTestCase):
    def test_refused_signups_do_not_count(self) -> None:
        from chatd.auth.checkers import SignupLimits
        from chatd.auth.realm import make_portal

        world = self.world()
        world.portal = make_portal(world.server, world.delivery, world.directory, lambda: True,
                                   SignupLimits(world.clock, per_address=2, overall=10))
        world.factory.portal = world.portal
        self.assertEqual(codes(world.connect().send("/signup ann short")), ["411"])
        world.connect().send("/signup bea password1")
        self.assertEqual(codes(world.connect().send("/signup BEA password1")), ["409"])
        self.assertEqual(codes(world.connect().send("/signup cid password1")), ["201"])
        self.assertEqual(codes(world.connect().send("/signup dee password1")), ["429"])
