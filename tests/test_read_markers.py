"""Read markers: forward only, shared by an account's sessions, kept with the account across
a restart of the member store, and the replay on join of what is unread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import Said
from chatd.kernel.history import HistoryQuery
from chatd.kernel.markers import is_marker, later, marker_at, marker_ms, unread
from chatd.members.local import MAX_MARKERS, LocalDirectory

from fakes import Client, FakeHasher, RawIRC, World, keyed_file

T0 = 1_700_000_000.0


class Here:
    def here(self: Any) -> Path:
        if not hasattr(self, "_here"):
            self._here = Path(self.mktemp()).absolute().parent
        return Path(self._here)


class MarkerTests(TestCase, Here):
    def test_a_time_marker_reads_back_to_the_millisecond(self) -> None:
        marker = marker_at(1_546_612_406_123)
        self.assertTrue(is_marker(marker))
        self.assertEqual(marker_ms(marker), 1_546_612_406_123)

    def test_a_time_marker_is_after_every_id_of_its_millisecond(self) -> None:
        world = World(self.here())
        world.clock.advance(T0)
        first = world.server.next_id()
        self.assertLess(first, marker_at(marker_ms(first)))
        self.assertGreater(first, marker_at(marker_ms(first) - 1))

    def test_later_keeps_the_further_marker(self) -> None:
        self.assertEqual(later(None, "B"), "B")
        self.assertEqual(later("C", "B"), "C")
        self.assertIsNone(later(None, None))

    def test_unread_is_what_comes_after_the_marker(self) -> None:
        events = [Said("r", "a", str(n), id=f"0{n}") for n in range(4)]
        self.assertEqual([e.id for e in unread(events, "01")], ["02", "03"])
        self.assertEqual(len(unread(events, None)), 4)


class StoredMarkerTests(TestCase, Here):
    def directory(self) -> LocalDirectory:
        directory = LocalDirectory(keyed_file(self.here() / "members.journal"), FakeHasher(),
                                   Clock())
        directory.load()
        return directory

    def test_markers_move_forward_only_and_survive_a_restart(self) -> None:
        directory = self.directory()
        account = self.successResultOf(directory.signup("ann", "password-ann"))
        later_one, earlier = marker_at(2_000), marker_at(1_000)
        self.assertEqual(self.successResultOf(
            directory.mark_read(account.key, account.id, "lobby", later_one)), later_one)
        self.assertEqual(self.successResultOf(
            directory.mark_read(account.key, account.id, "lobby", earlier)), later_one)
        again = self.directory()
        self.assertEqual(self.successResultOf(again.read_markers(account.key, account.id)),
                         {"lobby": later_one})
        # Another account of that name (deleted and registered again) has none of them.
        self.assertEqual(self.successResultOf(again.read_markers(account.key, "other")), {})

    def test_always_on_is_kept_with_the_account_across_a_restart(self) -> None:
        directory = self.directory()
        account = self.successResultOf(directory.signup("ann", "password-ann"))
        self.assertIsNone(self.successResultOf(directory.always_on(account.key, account.id)))
        self.successResultOf(directory.set_always_on(account.key, account.id, True))
        again = self.directory()
        self.assertIs(self.successResultOf(again.always_on(account.key, account.id)), True)
        self.assertIsNone(self.successResultOf(again.always_on(account.key, "other")))

    def test_the_stalest_markers_go_beyond_the_limit(self) -> None:
        directory = self.directory()
        account = self.successResultOf(directory.signup("ann", "password-ann"))
        for n in range(MAX_MARKERS + 1):
            directory.mark_read(account.key, account.id, f"room{n}", marker_at(1_000 + n))
        markers = self.successResultOf(directory.read_markers(account.key, account.id))
        self.assertEqual(len(markers), MAX_MARKERS)
        self.assertNotIn("room0", markers)


class LineMarkerTests(TestCase, Here):
    def setUp(self) -> None:
        self.world = World(self.here(), options=Options(ConnectionOptions(replay=2)),
                           history=MemoryHistory(Clock(), Retention()))
        self.world.clock.advance(T0)
        self.talker = self.world.connect()
        self.talker.send("/nick zed", "/join lobby")

    def account(self, name: str = "ann", signup: bool = True) -> Client:
        client = self.world.connect()
        verb = "signup" if signup else "login"
        client.send(f"/{verb} {name} password-{name}")
        return client

    def say(self, *texts: str) -> list[str]:
        ids = []
        for text in texts:
            self.world.clock.advance(1)
            self.talker.send(text)
            ids.append(self.newest())
        return ids

    def newest(self) -> str:
        room = self.world.server.rooms["lobby"]
        history = self.world.server.history
        assert history is not None
        return history.query(room.conversation, HistoryQuery("latest", 1))[0].id

    def test_read_tells_the_other_sessions_and_answers_the_reader(self) -> None:
        phone = self.account()
        laptop = self.account(signup=False)
        phone.send("/join lobby")
        (first,) = self.say("hello")
        phone.read()
        laptop.read()
        self.assertEqual(phone.send("/read lobby"), [f"200 read lobby up to {first}"])
        self.assertEqual(laptop.read(), [f"121 [lobby] read up to {first}"])

    def test_a_marker_never_moves_back(self) -> None:
        ann = self.account()
        ann.send("/join lobby")
        first, second = self.say("one", "two")
        ann.send(f"/read lobby {second}")
        self.assertEqual(ann.send(f"/read lobby {first}"), [f"200 read lobby up to {second}"])
        self.assertEqual(ann.send("/read lobby nonsense")[0][:3], "400")

    def test_replay_on_join_is_the_unread_with_a_line_for_the_rest(self) -> None:
        ann = self.account()
        ann.send("/join lobby")
        (read,) = self.say("read already")
        ann.send("/read lobby")
        ann.send("/leave lobby")
        unread_ids = self.say("u1", "u2", "u3", "u4")
        lines = ann.send("/join lobby")
        replayed = [line for line in lines if line.startswith("110 ")]
        self.assertEqual([line.rsplit(" ", 1)[1] for line in replayed], ["u1", "u2"])
        self.assertIn(f"122 [lobby] 2 more unread; /history lobby after {unread_ids[1]} 2",
                      lines)
        self.assertNotIn(read, "".join(replayed))

    def test_without_a_marker_the_last_messages_are_replayed(self) -> None:
        self.say("a", "b", "c")
        ann = self.account()
        lines = ann.send("/join lobby")
        self.assertEqual([line.rsplit(" ", 1)[1] for line in lines if line.startswith("110")],
                         ["b", "c"])
        self.assertFalse([line for line in lines if line.startswith("122")])

    def test_markers_are_kept_with_the_account_across_logins(self) -> None:
        ann = self.account()
        ann.send("/join lobby")
        self.say("a", "b")
        ann.send("/read lobby")
        ann.send("/quit")
        ann.drop()
        self.say("c")
        again = self.account(signup=False)
        lines = again.send("/join lobby")
        self.assertEqual([line.rsplit(" ", 1)[1] for line in lines if line.startswith("110")],
                         ["c"])

    def test_a_guest_reads_only_while_online(self) -> None:
        guest = self.world.connect()
        guest.send("/nick gus", "/join lobby")
        (first,) = self.say("hi")
        guest.read()
        self.assertEqual(guest.send("/read lobby"), [f"200 read lobby up to {first}"])
        session = self.world.server.users["gus"].sessions[0]
        self.assertEqual(session.read_marker("lobby"), first)  # type: ignore[attr-defined]

    def test_reading_a_room_one_is_not_in_is_refused(self) -> None:
        ann = self.account()
        self.assertEqual(ann.send("/read lobby")[0][:3], "406")


class IRCMarkerTests(TestCase, Here):
    def setUp(self) -> None:
        self.world = World(self.here(), history=MemoryHistory(Clock(), Retention()))
        self.world.clock.advance(T0)
        self.factory = IRCFactory(self.world.portal, IRCOptions(ConnectionOptions(replay=5)),
                                  self.world.clock, self.world.admission, self.world.server.stats)
        signup = self.world.connect()
        signup.send("/signup ann password-ann")
        signup.send("/quit")

    def irc(self, nick: str, password: str = "") -> RawIRC:
        client = RawIRC(self.factory)
        login = [f"PASS {password}"] if password else []
        client.send("CAP REQ :draft/read-marker", "CAP END", *login, f"NICK {nick}",
                    f"USER {nick} 0 * :x")
        return client

    def test_markread_moves_forward_and_tells_the_other_sessions(self) -> None:
        one, two = self.irc("ann", "password-ann"), self.irc("ann", "password-ann")
        joined = one.send("JOIN #lobby")
        self.assertIn(":chatd MARKREAD #lobby *", joined)
        two.send()
        stamp = "2024-01-02T03:04:05.678Z"
        self.assertEqual(one.send(f"MARKREAD #lobby timestamp={stamp}"),
                         [f":chatd MARKREAD #lobby timestamp={stamp}"])
        self.assertEqual([line for line in two.send() if "MARKREAD" in line],
                         [f":chatd MARKREAD #lobby timestamp={stamp}"])
        self.assertEqual(one.send("MARKREAD #lobby timestamp=2020-01-01T00:00:00.000Z"),
                         [f":chatd MARKREAD #lobby timestamp={stamp}"])

    def test_markread_errors(self) -> None:
        client = self.irc("bob")
        self.assertIn("FAIL MARKREAD NEED_MORE_PARAMS", client.send("MARKREAD")[0])
        client.send("JOIN #lobby")
        self.assertIn("FAIL MARKREAD INVALID_PARAMS", client.send("MARKREAD #lobby *")[0])
        self.assertEqual(client.send("MARKREAD #nowhere"), [":chatd MARKREAD #nowhere *"])


class UnreadAgreesWithMarkers(TestCase, Here):
    """Random messages and reads across two sessions of one account: each session's unread
    count is the messages after the account's one marker, which only moves forward."""

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["say", "read", "read-id"]),
                              st.integers(0, 1), st.integers(0, 20)), max_size=25))
    def test_unread_counts_follow_the_markers(self, steps: list[tuple[str, int, int]]) -> None:
        path = Path(self.mktemp())
        path.mkdir(parents=True)
        world = World(path, history=MemoryHistory(Clock(), Retention()))
        world.clock.advance(T0)
        talker = world.connect()
        talker.send("/nick zed", "/join lobby")
        sessions = [world.connect(), world.connect()]
        sessions[0].send("/signup ann password-ann", "/join lobby")
        sessions[1].send("/login ann password-ann")
        user = world.server.users["ann"]
        room = world.server.rooms["lobby"]
        history = world.server.history
        assert history is not None
        said: list[str] = []
        previous = None
        for action, who, pick in steps:
            world.clock.advance(0.0005)  # some messages share a millisecond
            if action == "say":
                talker.send(f"m{len(said)}")
                said.append(history.query(room.conversation, HistoryQuery("latest", 1))[0].id)
            elif action == "read":
                sessions[who].send("/read lobby")
            elif said:
                sessions[who].send(f"/read lobby {said[pick % len(said)]}")
            marker = user.markers.get("lobby")
            if previous is not None:
                self.assertGreaterEqual(marker, previous)
            previous = marker
            expected = len([i for i in said if marker is None or i > marker])
            for seat in user.sessions:
                _, more = seat.unread_messages("lobby", 0)  # type: ignore[attr-defined]
                self.assertEqual(more, expected if marker is not None else 0)
