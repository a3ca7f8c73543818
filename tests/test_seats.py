"""Seats (chatd.core.seats): a dropped connection keeps its place for ``seat-grace``, a login
within it resumes the seat with exactly what it missed; on the fake clock, over the line
protocol and IRC (StringTransport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_irc_caps import CapsTestCase, iso, read, send, untagged
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.core.declarations import OperatorSettings
from chatd.core.service import Limits
from chatd.delivery import Delivery
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.shutdown import ShutdownNotice
from chatd.frontends.udp.member import describe
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.errors import ServerFull
from chatd.kernel.events import Inactive, LeaveReason, Left, Returned, Said

from fakes import Client, RecordingMind, World

GRACE = 60.0


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


class SeatsTestCase(TestCase):
    limits: dict[str, Any] = {}

    def setUp(self) -> None:
        path = Path(self.mktemp()).absolute().parent
        self.clock = Clock()
        self.history = MemoryHistory(self.clock, Retention(private=True))
        limits = {"messages_burst": 1_000_000, "seat_grace": GRACE, **self.limits}
        self.world = World(path, Limits(**limits), history=self.history, clock=self.clock)

    def account(self, name: str, room: str | None = "lobby", signup: bool = True) -> Client:
        client = self.world.connect()
        verb = "signup" if signup else "login"
        self.assertEqual(codes(client.send(f"/{verb} {name} password1"))[-1], "201")
        if room:
            self.assertEqual(client.send(f"/join {room}")[-1][:3], "200")
        return client

    def guest(self, name: str, room: str | None = "lobby") -> tuple[Client, list[str]]:
        client = self.world.connect()
        lines = client.send(f"/nick {name}")
        if room:
            client.send(f"/join {room}")
        return client, lines


class Holding(SeatsTestCase):
    def test_a_drop_keeps_the_seat_and_the_rooms_hear_inactive_once(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.read()
        alice.drop()
        self.assertEqual(bob.read(), ["124 [lobby] alice is inactive (lost connection)"])
        who = bob.send("/who lobby")
        self.assertIn("alice", " ".join(who))
        self.assertEqual(who, ["211-@alice(inactive) bob", "211 2 members in lobby"])
        self.assertIn("lobby 2/", " ".join(bob.send("/rooms")))
        self.assertEqual(len(self.world.server.seats), 1)

    def test_the_rooms_are_told_in_each_room_and_away_is_the_mark(self) -> None:
        alice = self.account("alice")
        alice.send("/join kitchen")
        bob, _ = self.guest("bob")
        bob.send("/join kitchen")
        alice.drop()
        self.assertEqual(sorted(bob.read()),
                         ["124 [kitchen] alice is inactive (lost connection)",
                          "124 [lobby] alice is inactive (lost connection)"])
        self.assertEqual(self.world.server.users["alice"].away, "inactive (lost connection)")

    def test_a_quit_is_a_departure(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.send("/quit bye")
        alice.drop()
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: bye"])
        self.assertEqual(len(self.world.server.seats), 0)

    def test_the_grace_ends_the_seat_as_a_departure(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.drop()
        bob.read()
        self.clock.advance(GRACE - 1)
        self.assertEqual(bob.read(), [])
        self.clock.advance(1)
        self.assertEqual(bob.read(), ["104 [lobby] alice timed out"])
        self.assertNotIn("alice", self.world.server.users)
        again = self.account("alice", room=None, signup=False)
        self.assertEqual(again.send("/who lobby")[-1][:3], "211")
        self.assertEqual([line for line in again.send("/rooms") if "alice" in line], [])

    def test_a_session_that_never_joined_keeps_no_seat(self) -> None:
        alice = self.account("alice", room=None)
        alice.drop()
        self.assertEqual(len(self.world.server.seats), 0)
        self.assertNotIn("alice", self.world.server.users)


class NoGrace(SeatsTestCase):
    limits = {"seat_grace": 0}

    def test_with_no_grace_a_drop_is_a_departure_as_before(self) -> None:
        alice = self.account("alice")
        bob, lines = self.guest("bob")
        self.assertEqual(codes(lines), ["201"], "no resume token without seats")
        alice.drop()
        self.assertEqual(bob.read(), ["104 [lobby] alice lost connection"])


class Resuming(SeatsTestCase):
    def test_a_login_within_the_grace_resumes_with_exactly_what_was_missed(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        bob.send("before the drop")
        alice.read()
        alice.drop()
        bob.send("one", "two")
        bob.read()
        phone = self.world.connect()
        lines = phone.send("/login alice password1")
        self.assertEqual(codes(lines), ["108", "110", "110", "201"])
        self.assertTrue(lines[1].endswith("[lobby] <bob> one"), lines)
        self.assertTrue(lines[2].endswith("[lobby] <bob> two"), lines)
        self.assertEqual(bob.read(), ["125 [lobby] alice is back"])
        bob.send("three")
        self.assertEqual(phone.read(), ["101 [lobby] <bob> three"])
        self.assertEqual(self.world.server.users["alice"].away, "")
        self.assertEqual(len(self.world.server.seats), 0)

    def test_the_away_message_from_before_the_drop_comes_back(self) -> None:
        alice = self.account("alice")
        alice.send("/away lunch")
        alice.drop()
        self.assertEqual(self.world.server.users["alice"].away, "inactive (lost connection)")
        self.account("alice", room=None, signup=False)
        self.assertEqual(self.world.server.users["alice"].away, "lunch")

    def test_private_messages_missed_come_as_110s(self) -> None:
        alice = self.account("alice")
        bob = self.account("bob", room=None)
        bob.send("/msg alice before")
        alice.read()
        alice.drop()
        bob.send("/msg alice while away")
        lines = self.world.connect().send("/login alice password1")
        self.assertEqual(codes(lines), ["108", "110", "201"])
        self.assertTrue(lines[1].endswith("*bob* -> alice while away"), lines)

    def test_more_missed_than_the_replay_shows_says_how_many(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.drop()
        bob.send(*[f"m{n}" for n in range(105)])
        lines = self.world.connect().send("/login alice password1")
        self.assertEqual(lines[1], "100 5 earlier missed messages lobby not shown; /history "
                                   "reads them")
        self.assertTrue(lines[2].endswith("<bob> m5"))
        self.assertEqual(codes(lines).count("110"), 100)

    def test_with_another_session_live_the_rooms_hear_nothing(self) -> None:
        laptop = self.account("alice")
        phone = self.account("alice", room=None, signup=False)
        bob, _ = self.guest("bob")
        laptop.drop()
        self.assertEqual(bob.read(), [])
        bob.send("while the laptop was away")
        phone.read()
        tablet = self.world.connect().send("/login alice password1")
        self.assertEqual(codes(tablet), ["108", "110", "201"], "the laptop's seat, resumed")
        self.assertEqual(bob.read(), [])


class Limiting(SeatsTestCase):
    limits = {"max_users": 2, "max_sessions_per_account": 1}

    def test_a_seat_counts_against_max_users(self) -> None:
        alice = self.account("alice")
        self.guest("bob")
        alice.drop()
        self.assertRaises(ServerFull, self.world.server.connect, "carol", True)
        self.assertEqual(codes(self.world.connect().send("/login alice password1")),
                         ["108", "201"], "resuming takes no new place")

    def test_a_seat_resumes_even_at_one_session_per_account(self) -> None:
        alice = self.account("alice")
        alice.drop()
        again = self.world.connect()
        self.assertEqual(codes(again.send("/login alice password1")), ["108", "201"])
        self.assertEqual(codes(self.world.connect().send("/login alice password1")), ["433"])

    def test_a_rooms_member_limit_counts_seated_members(self) -> None:
        alice = self.account("alice")
        alice.send("/create club 1")
        alice.drop()
        bob, _ = self.guest("bob", room=None)
        self.assertEqual(codes(bob.send("/join club")), ["432"])


class AlwaysOn(SeatsTestCase):
    limits = {"always_on": True}

    def test_an_always_on_seat_has_no_end_of_grace(self) -> None:
        alice = self.account("alice")
        alice.drop()
        self.clock.advance(30 * 86400)
        self.assertIn("alice", self.world.server.users)
        self.assertEqual(codes(self.world.connect().send("/login alice password1")),
                         ["108", "201"])

    def test_quit_still_ends_it(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.send("/quit")
        alice.drop()
        self.assertEqual(bob.read(), ["104 [lobby] alice quit"])


class AccountAlwaysOn(SeatsTestCase):
    """``/set always-on``: the account's own choice, kept by the member directory, over the
    server's ``always-on`` (off here)."""

    def test_set_on_keeps_the_seat_past_the_grace(self) -> None:
        alice = self.account("alice")
        self.assertEqual(alice.send("/set always-on on"),
                         ["200 always-on is on: your seat is kept after a drop until /quit"])
        alice.drop()
        self.clock.advance(GRACE * 100)
        self.assertIn("alice", self.world.server.users)
        self.assertEqual(codes(self.world.connect().send("/login alice password1")),
                         ["108", "201"])

    def test_the_choice_is_stored_with_the_account_and_read_at_the_next_login(self) -> None:
        alice = self.account("alice")
        self.assertEqual(codes(alice.send("/set always-on on")), ["200"])
        account = self.successResultOf(self.world.directory.lookup("alice"))
        assert account is not None
        self.assertIs(self.successResultOf(
            self.world.directory.always_on(account.key, account.id)), True)
        alice.send("/quit")
        alice.drop()
        self.assertNotIn("alice", self.world.server.users)
        again = self.account("alice", signup=False)
        self.assertEqual(again.send("/set always-on"),
                         ["200 always-on is on: your seat is kept after a drop until /quit"])
        again.drop()
        self.clock.advance(GRACE * 100)
        self.assertEqual(len(self.world.server.seats), 1)

    def test_set_off_over_a_server_default_of_on(self) -> None:
        self.world.server.limits = Limits(messages_burst=1_000_000, seat_grace=GRACE,
                                          always_on=True)
        alice = self.account("alice")
        self.assertEqual(codes(alice.send("/set always-on off")), ["200"])
        alice.drop()
        self.clock.advance(GRACE)
        self.assertNotIn("alice", self.world.server.users)

    def test_a_seat_held_now_follows_the_choice(self) -> None:
        laptop = self.account("alice")
        phone = self.account("alice", room=None, signup=False)
        laptop.drop()
        phone.send("/set always-on on")
        self.clock.advance(GRACE * 2)
        self.assertEqual(len(self.world.server.seats), 1)
        phone.send("/set always-on off")
        self.clock.advance(GRACE)
        self.assertEqual(len(self.world.server.seats), 0)

    def test_private_messages_to_an_absent_always_on_user_are_kept_for_its_return(self) -> None:
        alice = self.account("alice", room=None)
        alice.send("/set always-on on")
        bob = self.account("bob", room=None)
        alice.drop()
        self.clock.advance(GRACE * 10)
        self.assertEqual(codes(bob.send("/msg alice are you there")), ["200"],
                         "accepted, not refused as not online")
        lines = self.world.connect().send("/login alice password1")
        self.assertEqual(codes(lines), ["110", "201"])
        self.assertTrue(lines[0].endswith("*bob* -> alice are you there"), lines)

    def test_quit_still_ends_it(self) -> None:
        alice = self.account("alice")
        alice.send("/set always-on on")
        alice.send("/quit")
        alice.drop()
        self.assertNotIn("alice", self.world.server.users)

    def test_a_guest_has_no_always_on(self) -> None:
        ann, _ = self.guest("ann")
        self.assertEqual(codes(ann.send("/set always-on on")), ["403"])

    def test_an_unknown_setting_or_value_is_a_syntax_error(self) -> None:
        alice = self.account("alice")
        self.assertEqual(codes(alice.send("/set colour red", "/set always-on maybe")),
                         ["400", "400"])


class Guests(SeatsTestCase):
    def token(self, lines: list[str]) -> str:
        line = next(line for line in lines if line.startswith("123 "))
        return line.split()[1]

    def test_a_guest_gets_a_token_and_resumes_with_it_once(self) -> None:
        ann, lines = self.guest("ann")
        self.assertEqual(codes(lines), ["123", "201"])
        token = self.token(lines)
        bob, _ = self.guest("bob")
        ann.drop()
        self.assertEqual(bob.read(), ["124 [lobby] ann is inactive (lost connection)"])
        bob.send("missed")
        self.assertEqual(codes(self.world.connect().send("/nick ann")), ["409"],
                         "the name is held with the seat")
        again = self.world.connect()
        lines = again.send(f"/resume {token}")
        self.assertEqual(codes(lines), ["108", "110", "123", "201"])
        self.assertEqual(lines[-1], "201 welcome guest ann: your seat was kept")
        self.assertNotEqual(self.token(lines), token, "a new token for the next drop")
        again.drop()
        self.assertEqual(codes(self.world.connect().send(f"/resume {token}")), ["430"])

    def test_a_wrong_token_is_refused(self) -> None:
        self.assertEqual(codes(self.world.connect().send("/resume nonsense")), ["430"])

    def test_a_guest_without_a_token_departs(self) -> None:
        server = self.world.server
        session = server.connect("irc-guest", True)
        mind = RecordingMind()
        self.world.delivery.attach(session.key, session.id, mind)
        self.successResultOf(session.join("lobby"))
        session.quit(LeaveReason.LOST)
        self.assertEqual(len(server.seats), 0)
        self.assertNotIn("irc-guest", server.users)


class Ending(SeatsTestCase):
    def test_end_all_ends_every_seat_with_the_reason(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.drop()
        bob.read()
        self.assertEqual(self.world.server.seats.end_all("the server is shutting down"), 1)
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: the server is shutting down"])

    def test_after_end_all_a_drop_is_a_departure(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        self.world.server.seats.end_all("the server is shutting down")
        alice.drop()
        self.assertEqual(bob.read(), ["104 [lobby] alice lost connection"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_an_operator_ends_one_users_seat(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.drop()
        bob.read()
        self.assertEqual(self.world.server.seats.end_user("alice", "ended by an operator"), 1)
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: ended by an operator"])
        self.assertEqual(self.world.server.seats.end_user("alice", "again"), 0)

    def test_an_operator_kills_a_user_with_only_a_held_seat(self) -> None:
        self.world.server.operators.configure(
            OperatorSettings(blocks=(("boss", "fake$secret"),)))
        alice = self.account("alice")
        boss, _ = self.guest("boss")
        self.assertEqual(codes(boss.send("/oper boss secret")), ["200"])
        alice.drop()
        boss.read()
        self.assertEqual(boss.send("/kill alice idle"),
                         ["104 [lobby] alice was killed by boss (idle)", "200 killed alice"])
        self.assertEqual(len(self.world.server.seats), 0)
        self.assertNotIn("alice", self.world.server.users)

    def test_a_deleted_account_loses_its_seat(self) -> None:
        alice = self.account("alice")
        bob, _ = self.guest("bob")
        alice.drop()
        bob.read()
        self.successResultOf(self.world.directory.delete("alice"))
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: account deleted by an operator"])
        self.assertEqual(len(self.world.server.seats), 0)


class CoreEvents(TestCase):
    """The events a seat publishes, as delivery's minds see them."""

    def test_inactive_then_returned(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      Limits(messages_burst=1_000_000, seat_grace=GRACE))
        server = world.server
        alice = server.connect("alice", False, account_id="a1")
        self.successResultOf(alice.join("lobby"))
        bob, mind = world.spy("bob")
        self.successResultOf(bob.join("lobby"))
        mind.events.clear()
        alice.quit(LeaveReason.TIMEOUT)
        kinds = [type(event) for event in mind.events]
        self.assertEqual(kinds[0], Inactive)
        self.assertEqual(mind.events[0].why, "timed out")  # type: ignore[attr-defined]
        mind.events.clear()
        server.connect("alice", False, account_id="a1")
        self.assertEqual(type(mind.events[0]), Returned)
        self.assertFalse(any(isinstance(event, (Left, Said)) for event in mind.events))
        self.assertIsInstance(world.delivery, Delivery)


class IRCSeats(CapsTestCase):
    """Over IRC: a seat's inactive mark is an away (WHO's G, away-notify), and a resume gets
    the JOINs, topic and names, then the backlog in a chathistory batch with server-time."""

    def setUp(self) -> None:
        path = Path(self.mktemp()).absolute().parent
        self.clock = Clock()
        self.clock.advance(1_764_453_121.5)
        history = MemoryHistory(self.clock, Retention())
        self.world = World(path, Limits(messages_burst=1_000_000, seat_grace=GRACE),
                           history=history, clock=self.clock)
        self.factory = IRCFactory(self.world.portal, IRCOptions(), self.clock,
                                  self.world.admission, self.world.server.stats)

    def test_peers_with_away_notify_see_an_away_once_and_who_shows_g(self) -> None:
        watcher = self.irc("wat", "away-notify", "#lobby", "#kitchen")
        alice = self.account("alice", "", "#lobby", "#kitchen")
        read(watcher)
        alice.protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(untagged(read(watcher)),
                         [("alice!alice@chatd", "AWAY", ["inactive (lost connection)"])])
        who = untagged(send(watcher, "WHO #lobby"))
        flags = {params[5]: params[6] for _, command, params in who if command == "352"}
        self.assertTrue(flags["alice"].startswith("G"), flags)
        self.world.connect().send("/login alice password1")
        self.assertEqual(untagged(read(watcher)), [("alice!alice@chatd", "AWAY", [])])

    def test_a_resumed_irc_client_gets_its_rooms_then_the_backlog_in_a_batch(self) -> None:
        alice = self.account("alice", "", "#lobby")
        bob = self.world.connect()
        bob.send("/nick bob", "/join lobby", "/topic lobby the plan")
        alice.protocol.connectionLost(None)  # type: ignore[arg-type]
        self.clock.advance(5)
        bob.send("one")
        self.clock.advance(1)
        bob.send("two")
        client = self.connect()
        lines = send(client, "CAP LS 302", "CAP REQ :batch server-time", "PASS password1",
                     "NICK alice", "USER alice 0 * :Alice", "CAP END")
        got = [(command, params) for _, _, command, params in lines]
        commands_seen = [command for command, _ in got]
        start = commands_seen.index("JOIN")
        # The channel greeting as after any JOIN (channels.greet: 333 is not sent today).
        self.assertEqual(commands_seen[start:start + 6],
                         ["JOIN", "332", "333", "353", "366", "BATCH"])
        batch = [line for line in lines if line[2] == "BATCH" or "batch" in line[0]]
        self.assertEqual(batch[0][2:], ("BATCH", [batch[0][3][0], "chathistory", "#lobby"]))
        ref = batch[0][3][0][1:]
        said = [(tags["time"], params) for tags, _, command, params in batch
                if command == "PRIVMSG"]
        self.assertEqual([params for _, params in said], [["#lobby", "one"], ["#lobby", "two"]])
        self.assertEqual(said[0][0], iso(1_764_453_121.5 + 5))
        self.assertTrue(all(tags.get("batch") == ref for tags, _, command, _ in batch
                            if command == "PRIVMSG"))
        self.assertEqual(batch[-1][2:], ("BATCH", [f"-{ref}"]))
        bob.send("three")
        self.assertEqual([params for _, _, command, params in read(client)
                          if command == "PRIVMSG"], [["#lobby", "three"]])


class Wiring(TestCase):
    def test_the_shutdown_notice_ends_the_seats_before_closing_connections(self) -> None:
        calls: list[str] = []
        notice = ShutdownNotice([], lambda: calls.append("seats ended"))
        notice.startService()
        self.successResultOf(notice.stopService())
        self.assertEqual(calls, ["seats ended"])

    def test_udp_members_are_told_in_words(self) -> None:
        self.assertEqual(describe(Inactive("lobby", "ann", "timed out")),
                         "ann is inactive (timed out)")
        self.assertEqual(describe(Returned("lobby", "ann")), "ann is back")
