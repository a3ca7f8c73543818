"""History: the query semantics (IRCv3 chathistory's), the stores (memory; files with a
torn tail, a restart, compaction), retention by count and age on a fake clock, the access
rules, replay and /history on the line protocol, CHATHISTORY and replay over IRC, and
transcripts rotating at midnight UTC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.rendering import timestamp
from chatd.history.files import HEADER, FileHistory, file_name
from chatd.history.memory import MemoryHistory, Retention
from chatd.history.transcripts import Transcripts, describe, escape
from chatd.kernel.errors import NotInRoom
from chatd.kernel.events import (
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    Private,
    Redacted,
    Said,
    TopicSet,
)
from chatd.kernel.history import HistoryQuery, private_key, select

from fakes import Client, RawIRC, World

DAY = 86400.0


class Here:
    def here(self: Any) -> Path:
        return Path(self.mktemp()).absolute().parent
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def said(n: int, at: float | None = None, room: str = "lobby") -> Said:
    return Said(room, "ann", f"m{n}", id=f"id{n}", at=T0 + n if at is None else at)


def texts(events: list[Any]) -> list[str]:
    return [event.text for event in events]


class SelectTests(TestCase):
    """The subcommands as the draft/chathistory spec defines them: references exclusive,
    results oldest first, at most ``limit``."""

    events = [said(n) for n in range(10)]

    def ask(self, kind: str, limit: int, ref: Any = None, ref2: Any = None) -> list[str]:
        return texts(select(self.events, HistoryQuery(kind, limit, ref, ref2)))  # type: ignore[arg-type]

    def test_latest_star_is_the_newest_oldest_first(self) -> None:
        self.assertEqual(self.ask("latest", 3), ["m7", "m8", "m9"])

    def test_latest_after_a_reference_excludes_it_and_what_came_before(self) -> None:
        self.assertEqual(self.ask("latest", 50, "id7"), ["m8", "m9"])
        self.assertEqual(self.ask("latest", 1, T0 + 5), ["m9"])

    def test_before_and_after_are_exclusive_and_nearest_the_reference(self) -> None:
        self.assertEqual(self.ask("before", 2, "id5"), ["m3", "m4"])
        self.assertEqual(self.ask("after", 2, "id5"), ["m6", "m7"])
        self.assertEqual(self.ask("before", 2, T0 + 5), ["m3", "m4"])
        self.assertEqual(self.ask("after", 2, T0 + 5), ["m6", "m7"])

    def test_around_stays_within_the_limit(self) -> None:
        self.assertEqual(self.ask("around", 3, "id5"), ["m4", "m5", "m6"])
        self.assertEqual(self.ask("around", 4, "id0"), ["m0", "m1", "m2", "m3"])

    def test_between_counts_from_the_first_reference_either_way(self) -> None:
        self.assertEqual(self.ask("between", 2, "id2", "id8"), ["m3", "m4"])
        self.assertEqual(self.ask("between", 2, "id8", "id2"), ["m6", "m7"])
        self.assertEqual(self.ask("between", 50, T0 + 2, T0 + 5), ["m3", "m4"])

    def test_an_unknown_message_id_gives_nothing(self) -> None:
        self.assertEqual(self.ask("before", 5, "nope"), [])

    def test_a_messages_own_time_tag_names_it_though_it_has_microseconds(self) -> None:
        # A client has a message's time to the millisecond (its server-time tag): after
        # that time is after the message, not the message itself said 400 us later.
        events = [said(n, at=T0 + n + 0.0004) for n in range(3)]
        after = select(events, HistoryQuery("after", 5, T0 + 1))
        before = select(events, HistoryQuery("before", 5, T0 + 1))
        self.assertEqual(texts(after), ["m2"])
        self.assertEqual(texts(before), ["m0"])


class RetentionTests(TestCase):
    def test_retention_by_count_keeps_the_newest(self) -> None:
        store = MemoryHistory(Clock(), Retention(count=3))
        for n in range(5):
            store.room_event("lobby", said(n))
        self.assertEqual(texts(store.query("lobby", HistoryQuery("latest", 10))),
                         ["m2", "m3", "m4"])

    def test_retention_by_age_drops_what_is_older_on_the_fake_clock(self) -> None:
        clock = Clock()
        clock.advance(T0)
        store = MemoryHistory(clock, Retention(count=100, age=DAY))
        store.room_event("lobby", said(0, at=T0))
        clock.advance(DAY / 2)
        store.room_event("lobby", said(1, at=clock.seconds()))
        clock.advance(DAY / 2 + 1)
        self.assertEqual(texts(store.query("lobby", HistoryQuery("latest", 10))), ["m1"])
        clock.advance(DAY)
        self.assertEqual(store.query("lobby", HistoryQuery("latest", 10)), [])
        self.assertEqual(store.latest(["lobby"], ""), {})

    def test_private_messages_are_kept_only_if_configured_and_only_for_accounts(self) -> None:
        event = Private("ann", "bob", "psst", "id-ann", "id-bob", id="p1", at=T0)
        off = MemoryHistory(Clock(), Retention())
        off.user_event("bob", event)
        self.assertEqual(off.kept, {})
        on = MemoryHistory(Clock(), Retention(private=True))
        on.user_event("bob", event)
        on.user_event("bob", Private("guest", "bob", "hi", "", "id-bob", id="p2", at=T0))
        self.assertEqual(sorted(on.kept), [private_key("id-ann", "bob"),
                                           private_key("id-bob", "ann"),
                                           private_key("id-bob", "guest")])

    def test_a_message_to_oneself_is_kept_once_and_redacted_once(self) -> None:
        store = MemoryHistory(Clock(), Retention(private=True))
        store.user_event("ann", Private("ann", "Ann", "note", "id-ann", "id-ann", id="p1",
                                        at=T0))
        query = HistoryQuery("latest", 10)
        self.assertEqual([event.id for event in store.query(private_key("id-ann", "ann"),
                                                            query)], ["p1"])
        store.user_event("ann", Redacted("p1", "ann", sender="ann", recipient="ann",
                                         sender_id="id-ann", recipient_id="id-ann"))
        self.assertEqual(store.query(private_key("id-ann", "ann"), query), [])


class SyncPool:
    """Runs the 'thread' work at once, on the calling thread."""

    def callInThreadWithCallback(self, done: Callable[..., None], work: Callable[..., Any],
                                 *args: Any) -> None:
        try:
            result = work(*args)
        except Exception as error:  # reported as the real pool would
            done(False, error)
        else:
            done(True, result)


class SyncReactor:
    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        f(*args)


class FileHistoryTests(TestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.clock = Clock()
        self.clock.advance(T0 + 100)

    def store(self, **retention: Any) -> FileHistory:
        return FileHistory(self.directory, self.clock, Retention(**retention), SyncReactor(),
                           SyncPool(), window=0.2)  # type: ignore[arg-type]

    def test_writes_wait_for_the_batch_window_then_survive_a_restart(self) -> None:
        store = self.store()
        for n in range(3):
            store.room_event("lobby", said(n))
        self.assertFalse((self.directory / file_name("lobby")).exists())
        self.clock.advance(0.2)
        self.assertEqual(store.writes, 1)
        again = self.store()
        self.assertEqual(again.load(), 3)
        kept = again.query("lobby", HistoryQuery("latest", 10))
        self.assertEqual([(e.id, e.at, e.sender, e.text) for e in kept],  # type: ignore[attr-defined]
                         [(f"id{n}", T0 + n, "ann", f"m{n}") for n in range(3)])

    def test_a_torn_last_line_is_cut_and_every_earlier_message_kept(self) -> None:
        store = self.store()
        store.room_event("lobby", said(0))
        store.room_event("lobby", said(1))
        self.clock.advance(0.2)
        path = self.directory / file_name("lobby")
        whole = path.read_bytes()
        with path.open("ab") as f:
            f.write(b'0badc0de {"type":"Said","room":"lob')
        again = self.store()
        self.assertEqual(again.load(), 2)
        self.assertEqual(path.read_bytes(), whole)
        again.room_event("lobby", said(2))
        self.clock.advance(0.2)
        third = self.store()
        self.assertEqual(third.load(), 3)

    def test_a_zeroed_end_is_lost_messages_logged_as_an_error_not_cut_as_a_tear(
        self
    ) -> None:
        store = self.store()
        for n in range(60):
            store.room_event("lobby", said(n))
        self.clock.advance(0.2)
        path = self.directory / file_name("lobby")
        whole = path.read_bytes()
        path.write_bytes(whole[:-1024] + bytes(1024))
        intact = whole[:-1024].count(b"\n") - 1  # lines wholly before the zeros, less the header
        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)

        again = self.store()

        self.assertEqual(again.load(), intact)
        self.assertEqual(texts(again.query("lobby", HistoryQuery("latest", 99))),
                         [f"m{n}" for n in range(intact)])
        said_so = [formatEvent(e) for e in logged if e.get("log_level") == LogLevel.error]
        self.assertEqual(len(said_so), 1, [formatEvent(e) for e in logged])
        self.assertIn("messages written before them were lost", said_so[0])
        self.assertFalse(any("torn" in formatEvent(e) for e in logged))
        self.clock.advance(0.2)
        self.assertNotIn(b"\0", path.read_bytes(), "the file is rewritten without the zeros")
        self.assertEqual(self.store().load(), intact)

    def test_a_damaged_line_inside_is_skipped_not_fatal(self) -> None:
        store = self.store()
        for n in range(3):
            store.room_event("lobby", said(n))
        self.clock.advance(0.2)
        path = self.directory / file_name("lobby")
        lines = path.read_bytes().split(b"\n")
        lines[2] = lines[2].replace(b"m1", b"mX")  # the checksum no longer matches
        path.write_bytes(b"\n".join(lines))
        again = self.store()
        self.assertEqual(again.load(), 2)
        self.assertEqual(texts(again.query("lobby", HistoryQuery("latest", 9))), ["m0", "m2"])

    def test_the_file_names_its_format_and_version(self) -> None:
        store = self.store()
        store.room_event("lobby", said(0))
        self.clock.advance(0.2)
        self.assertTrue((self.directory / file_name("lobby")).read_bytes().startswith(HEADER))

    def test_a_file_past_twice_its_retention_is_compacted(self) -> None:
        store = self.store(count=10)
        for n in range(150):
            store.room_event("lobby", said(n))
            self.clock.advance(0.2)
        lines = (self.directory / file_name("lobby")).read_bytes().count(b"\n") - 1
        self.assertLessEqual(lines, 2 * 10 + 100 + 1)
        again = self.store(count=10)
        self.assertEqual(again.load(), 10)

    def test_messages_past_their_age_are_dropped_from_disk_at_load(self) -> None:
        store = self.store()
        store.room_event("lobby", said(0, at=T0 - 2 * DAY))
        store.room_event("lobby", said(1, at=T0 + 50))
        self.clock.advance(0.2)
        again = self.store(age=DAY)
        self.assertEqual(again.load(), 1)
        self.clock.advance(0.2)  # the rewrite
        self.assertEqual(self.directory.joinpath(file_name("lobby")).read_bytes().count(b"\n"),
                         2)

    def test_stop_writes_what_is_queued(self) -> None:
        store = self.store()
        store.room_event("lobby", said(0))
        self.successResultOf(store.stop())
        self.assertEqual(self.store().load(), 1)


class AccessTests(TestCase, Here):
    def setUp(self) -> None:
        self.world = World(self.here(), options=Options(ConnectionOptions(replay=5)),
                           history=MemoryHistory(Clock(), Retention(private=True)))

    def account(self, name: str) -> Client:
        client = self.world.connect()
        client.send(f"/signup {name} password-{name}")
        return client

    def test_a_non_member_reads_no_history(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")
        ann.send("/join lobby", "secret plans")
        self.assertEqual(bob.send("/history lobby")[-1],
                         "406 you are not in lobby")

    def test_a_member_banned_since_it_joined_reads_no_history(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")
        ann.send("/join lobby", "before the ban")
        bob.send("/join lobby")
        self.assertIn("before the ban", " ".join(bob.send("/history lobby")))
        ann.send("/ban bob")
        self.assertEqual(bob.send("/history lobby")[-1][:3], "436")

    def test_a_locked_rooms_history_is_not_for_those_who_cant_join(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")
        ann.send("/create vault 10 sesame", "the code is 42")
        self.assertTrue(bob.send("/history vault 5")[-1].startswith("406"))
        self.assertTrue(bob.send("/join vault wrong")[-1].startswith("431"))
        self.assertTrue(bob.send("/history vault 5")[-1].startswith("406"))
        lines = bob.send("/join vault sesame")
        self.assertTrue(any("the code is 42" in line for line in lines))

    def test_the_rule_is_in_the_core_for_every_frontend(self) -> None:
        ann, _ = self.world.spy("ann")
        self.successResultOf(ann.join("lobby"))
        ann.say("hello")
        session, _ = self.world.spy("eve")
        with self.assertRaises(NotInRoom):
            session.history("lobby", HistoryQuery("latest", 5))

    def test_private_history_is_for_the_two_parties_only(self) -> None:
        ann, bob, cat = self.account("ann"), self.account("bob"), self.account("cat")
        ann.send("/msg bob psst")
        bob.read()
        self.assertIn("psst", bob.send("/history ann")[-2])
        self.assertIn("psst", ann.send("/history bob")[-2])
        self.assertEqual(cat.send("/history bob"), ["200 0 messages of history in bob"])
        self.assertEqual(cat.send("/history ann"), ["200 0 messages of history in ann"])

    def test_a_guest_taking_a_name_later_reads_none_of_its_conversations(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")
        ann.send("/msg bob psst")
        bob.send("/quit")
        guest = self.world.connect()
        # The account's name is taken, so a guest can't have it; a guest has no private
        # history at all, whatever its name.
        guest.send("/nick bobby")
        self.assertEqual(guest.send("/history ann"), ["200 0 messages of history in ann"])


class LineReplayTests(TestCase, Here):
    def setUp(self) -> None:
        self.clock = Clock()
        self.world = World(self.here(), options=Options(ConnectionOptions(replay=2)),
                           history=MemoryHistory(Clock(), Retention()))

    def test_replay_after_reconnect_comes_after_the_join_with_time_and_sender(self) -> None:
        ann = self.world.connect()
        ann.send("/nick ann", "/join lobby")
        self.world.clock.advance(T0)
        ann.send("one", "two", "three")
        bob = self.world.connect()
        bob.send("/nick bob")
        lines = bob.send("/join lobby")
        stamp = timestamp(self.world.clock.seconds())
        self.assertEqual(lines[0], "103 [lobby] bob joined (2 members)")
        self.assertRegex(lines[1], rf"^110 {stamp} \S+ \[lobby\] <ann> two$")
        self.assertRegex(lines[2], rf"^110 {stamp} \S+ \[lobby\] <ann> three$")
        self.assertTrue(lines[3].startswith("200 joined lobby: you are in lobby"))
        bob.drop()
        again = self.world.connect()
        again.send("/nick bob")
        self.assertEqual(len([line for line in again.send("/join lobby")
                              if line.startswith("110 ")]), 2)

    def test_history_with_a_count_and_from_a_message_id(self) -> None:
        ann = self.world.connect()
        ann.send("/nick ann", "/join lobby", "a", "b", "c", "d")
        lines = ann.send("/history lobby 3")
        self.assertEqual([line.rsplit(" ", 1)[1] for line in lines[:-1]], ["b", "c", "d"])
        self.assertEqual(lines[-1], "200 3 messages of history in lobby")
        msgid = lines[1].split()[2]  # c's id
        before = ann.send(f"/history lobby before {msgid} 5")
        self.assertEqual([line.rsplit(" ", 1)[1] for line in before[:-1]], ["a", "b"])
        self.assertEqual(ann.send("/history 1")[0].rsplit(" ", 1)[1], "d")
        self.assertTrue(ann.send("/history lobby sideways x 5")[-1].startswith("400"))

    def test_replay_off_sends_no_110(self) -> None:
        world = World(self.here(), history=MemoryHistory(Clock(), Retention()),
                      options=Options(ConnectionOptions(replay=0)))
        ann = world.connect()
        ann.send("/nick ann", "/join lobby", "hello")
        bob = world.connect()
        bob.send("/nick bob")
        self.assertFalse([line for line in bob.send("/join lobby") if line.startswith("110")])


class IRCHistoryTests(TestCase, Here):
    def setUp(self) -> None:
        self.world = World(self.here(), history=MemoryHistory(Clock(), Retention()))
        self.world.clock.advance(T0)
        self.factory = IRCFactory(self.world.portal, IRCOptions(ConnectionOptions(replay=5)),
                                  self.world.clock, self.world.admission, self.world.server.stats)
        talker = self.world.connect()
        talker.send("/nick ann", "/join lobby")
        for n in range(4):
            talker.send(f"m{n}")
            self.world.clock.advance(1)
        self.talker = talker

    def irc(self, nick: str, caps: str = "") -> RawIRC:
        client = RawIRC(self.factory)
        lines = [f"CAP REQ :{caps}", "CAP END"] if caps else []
        client.send(*lines, f"NICK {nick}", f"USER {nick} 0 * :x")
        return client

    def test_replay_on_join_has_server_time_and_a_batch(self) -> None:
        client = self.irc("bob", "server-time batch message-tags")
        lines = client.send("JOIN #lobby")
        start = next(i for i, line in enumerate(lines) if " BATCH +" in line)
        ref = lines[start].split(" BATCH +")[1].split()[0]
        self.assertTrue(lines[start].endswith(f"BATCH +{ref} chathistory #lobby"))
        self.assertEqual(lines[start + 1],
                         f"@batch={ref};msgid={self.id_of('m0')};time={timestamp(T0)} "
                         ":ann!ann@chatd PRIVMSG #lobby :m0")
        self.assertEqual(lines[start + 5], f":chatd BATCH -{ref}")

    def id_of(self, text: str) -> str:
        conversation = self.world.server.rooms["lobby"].conversation
        events = self.world.server.history.query(conversation, HistoryQuery("latest", 100))  # type: ignore[union-attr]
        return next(event.id for event in events if event.text == text)  # type: ignore[attr-defined]

    def test_a_client_without_server_time_gets_the_time_in_the_text(self) -> None:
        lines = self.irc("bob").send("JOIN #lobby")
        self.assertIn(":ann!ann@chatd PRIVMSG #lobby :[2023-11-14 22:13:20 UTC] m0", lines)

    def test_irssis_caps_get_the_time_in_the_text_besides_the_tag(self) -> None:
        # irssi 1.4 acknowledges server-time but shows it only with show_server_time on
        # (off by default): without the time in the text, old lines look just said.
        lines = self.irc("bob", "multi-prefix extended-join away-notify server-time").send(
            "JOIN #lobby")
        self.assertIn(f"@time={timestamp(T0)} :ann!ann@chatd PRIVMSG #lobby "
                      ":[2023-11-14 22:13:20 UTC] m0", lines)

    def test_a_client_with_message_tags_reads_the_tag_alone(self) -> None:
        lines = self.irc("bob", "server-time message-tags").send("JOIN #lobby")
        self.assertIn(f"@msgid={self.id_of('m0')};time={timestamp(T0)} "
                      ":ann!ann@chatd PRIVMSG #lobby :m0", lines)

    def test_neither_replay_nor_chathistory_shows_the_room_s_key(self) -> None:
        self.assertEqual(self.talker.send("/lock lobby sesame")[-1], "200 room locked")
        self.talker.send("said after the lock")
        replayed = self.irc("bob", "server-time").send("JOIN #lobby sesame")
        self.assertIn("said after the lock", replayed[-1])
        client = self.irc("cy", "draft/chathistory batch server-time message-tags")
        client.send("JOIN #lobby sesame")
        kept = client.send("CHATHISTORY LATEST #lobby * 50")
        self.assertIn("said after the lock", kept[-2])
        self.assertFalse([line for line in replayed + kept if "sesame" in line])

    def test_a_chathistory_client_gets_no_automatic_replay(self) -> None:
        lines = self.irc("bob", "draft/chathistory batch server-time").send("JOIN #lobby")
        self.assertFalse([line for line in lines if "PRIVMSG" in line])

    def test_chathistory_latest_before_after_around_between(self) -> None:
        client = self.irc("bob", "draft/chathistory batch server-time message-tags")
        client.send("JOIN #lobby")

        def texts_of(command: str) -> list[str]:
            lines = client.send(command)
            self.assertIn("BATCH +", lines[0])
            self.assertIn("BATCH -", lines[-1])
            return [line.rsplit(" :", 1)[1] for line in lines[1:-1]]

        self.assertEqual(texts_of("CHATHISTORY LATEST #lobby * 2"), ["m2", "m3"])
        m2 = self.id_of("m2")
        self.assertEqual(texts_of(f"CHATHISTORY BEFORE #lobby msgid={m2} 5"), ["m0", "m1"])
        self.assertEqual(texts_of(f"CHATHISTORY AFTER #lobby msgid={m2} 5"), ["m3"])
        self.assertEqual(texts_of(f"CHATHISTORY AROUND #lobby msgid={m2} 1"), ["m2"])
        self.assertEqual(
            texts_of(f"CHATHISTORY BETWEEN #lobby timestamp={timestamp(T0 + 3)} "
                     f"timestamp={timestamp(T0 - 1)} 2"), ["m1", "m2"])
        self.assertEqual(texts_of(f"CHATHISTORY LATEST #lobby timestamp={timestamp(T0 + 2)} 9"),
                         ["m3"])

    def test_chathistory_errors_follow_the_spec(self) -> None:
        client = self.irc("bob", "draft/chathistory batch")
        self.assertEqual(client.send("CHATHISTORY LATEST #lobby * 5"),
                         [":chatd FAIL CHATHISTORY INVALID_TARGET LATEST #lobby "
                          ":Messages could not be retrieved"])
        self.assertEqual(client.send("CHATHISTORY SIDEWAYS #lobby * 5"),
                         [":chatd FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS :Unknown command"])
        self.assertEqual(client.send("CHATHISTORY BEFORE #lobby 5"),
                         [":chatd FAIL CHATHISTORY INVALID_PARAMS BEFORE "
                          ":Insufficient parameters"])
        self.assertIn("INVALID_PARAMS BEFORE timestamp=yesterday",
                      client.send("CHATHISTORY BEFORE #lobby timestamp=yesterday 5")[0])

    def test_chathistory_targets_lists_rooms_with_their_latest_time(self) -> None:
        client = self.irc("bob", "draft/chathistory batch")
        client.send("JOIN #lobby")
        lines = client.send(f"CHATHISTORY TARGETS timestamp={timestamp(T0 - 10)} "
                            f"timestamp={timestamp(T0 + 100)} 10")
        self.assertIn("BATCH +", lines[0])
        self.assertTrue(lines[0].endswith("draft/chathistory-targets"))
        self.assertTrue(lines[1].endswith(f":chatd CHATHISTORY TARGETS #lobby {timestamp(T0 + 3)}"))

    def test_caps_are_offered(self) -> None:
        client = RawIRC(self.factory)
        offered = client.send("CAP LS 302")[0]
        for cap in ("server-time", "batch", "message-tags", "draft/chathistory"):
            self.assertIn(cap, offered.split(":", 2)[-1].split())


class TranscriptTests(TestCase):
    def test_one_line_per_event_rotated_at_midnight_utc_on_the_fake_clock(self) -> None:
        directory = Path(self.mktemp())
        clock = Clock()
        transcripts = Transcripts(directory, ["Lobby"], clock, SyncReactor(),  # type: ignore[arg-type]
                                  SyncPool(), window=0.2)  # type: ignore[arg-type]
        midnight = 1_700_006_400.0  # 2023-11-15T00:00:00Z
        transcripts.room_event("lobby", Joined("Lobby", "ann", id="1", at=midnight - 1))
        transcripts.room_event("lobby", Said("Lobby", "ann", "late \x1b[31m\u202e",
                                             at=midnight - 1))
        transcripts.room_event("other", Said("other", "ann", "not kept", at=midnight))
        clock.advance(0.2)
        transcripts.room_event("lobby", Said("Lobby", "ann", "early", action=True, at=midnight))
        clock.advance(0.2)
        first = (directory / "lobby" / "2023-11-14.log").read_text("utf-8")
        second = (directory / "lobby" / "2023-11-15.log").read_text("utf-8")
        self.assertEqual(first, "2023-11-14T23:59:59Z -- ann joined\n"
                                "2023-11-14T23:59:59Z <ann> late \\x1b[31m\\u202e\n")
        self.assertEqual(second, "2023-11-15T00:00:00Z * ann early\n")
        self.assertFalse((directory / "other").exists())

    def test_setting_changes_and_kicks_are_written_but_never_a_room_password(self) -> None:
        """What docs/operations.md says a transcript holds: "topic and setting changes"."""
        at = T0
        written = [describe(event) for event in (
            TopicSet("Lobby", "ann", "knitting", at=at),
            ModeChanged("Lobby", "ann", "+l", "5", at=at),
            ModeChanged("Lobby", "ann", "+b", "bob", at=at),
            ModeChanged("Lobby", "ann", "+k", "s3cret", at=at),
            ModeChanged("Lobby", "ann", "-k", "", at=at),
            ModeChanged("Lobby", "ann", "+i", at=at),
            Left("Lobby", "bob", LeaveReason.KICKED, "spam", by="ann", at=at),
        )]
        self.assertEqual(written, ["-- ann set the topic: knitting",
                                   "-- ann set +l 5",
                                   "-- ann set +b bob",
                                   "-- ann set +k (a password, not written here)",
                                   "-- ann set -k",
                                   "-- ann set +i",
                                   "-- bob left (kicked by ann: spam)"])

    def test_escaping_keeps_one_event_on_one_line(self) -> None:
        self.assertEqual(escape("a\nb\\c\x7f"), "a\\x0ab\\\\c\\x7f")
