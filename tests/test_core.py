"""The core alone: ChatServer and Session with a fake clock, the local bus and delivery, and
no frontend, no bytes. What the core publishes is watched on the bus itself; what a session
receives is watched through a RecordingMind attached to delivery, as the realm attaches a
connection."""

from __future__ import annotations

import json
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.bus.local import LocalBus
from chatd.core.departures import Departures
from chatd.core.service import ChatServer, Limits
from chatd.core.session import Session
from chatd.delivery import Delivery
from chatd.kernel import errors
from chatd.kernel.events import (
    EVENT_TYPES,
    Announcement,
    AwayChanged,
    Event,
    FileShared,
    Inactive,
    Invited,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    NickChanged,
    Notice,
    PresenceChanged,
    Private,
    ReadMoved,
    RealNameChanged,
    Redacted,
    Returned,
    Said,
    SessionEnded,
    Tagged,
    TopicSet,
    Wallops,
    from_dict,
    to_dict,
)
from chatd.kernel.views import DepartureView, Ident, MemberView
from chatd.members.local import LocalDirectory

from fakes import FakeHasher, MemoryRoomStore, RecordingMind, keyed_file


def plain(*events: Event) -> list[dict[str, object]]:
    """Events as comparable values (events compare by identity), without ids and time."""
    return [{k: v for k, v in to_dict(e).items() if k not in ("id", "at", "room_id")}
            for e in events]


class BusRecorder:
    """Every (topic, key, event) published, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Event]] = []

    def room_event(self, room_key: str, event: Event) -> None:
        self.seen.append(("room", room_key, event))

    def user_event(self, user_key: str, event: Event) -> None:
        self.seen.append(("user", user_key, event))


class CoreTestCase(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000)
        self.hasher = FakeHasher()
        self.store = MemoryRoomStore()
        directory = LocalDirectory(keyed_file(Path(self.mktemp())), self.hasher, self.clock)
        directory.load()
        self.bus = LocalBus()
        self.delivery = Delivery()
        self.bus.listen(self.delivery)
        self.recorder = BusRecorder()
        self.bus.listen(self.recorder)
        self.server = ChatServer(self.store, self.hasher, directory,
                                 Limits(messages_burst=1_000_000), self.clock, self.bus)

    def login(self, name: str, guest: bool = True) -> tuple[Session, RecordingMind]:
        # An account's id stands in for the one its directory would give (one per name here).
        session = self.server.connect(name, guest, account_id="" if guest else f"id-{name}")
        mind = RecordingMind()
        self.delivery.attach(session.key, session.id, mind)
        return session, mind

    def published(self) -> list[tuple[str, str, type]]:
        seen = [(topic, key, type(event)) for topic, key, event in self.recorder.seen]
        self.recorder.seen.clear()
        return seen


class Publishing(CoreTestCase):
    def test_a_join_publishes_one_event_to_the_room(self) -> None:
        ann, mind = self.login("Ann")
        room = self.successResultOf(ann.join("Lobby"))
        self.assertEqual((room.name, room.key, room.count), ("Lobby", "lobby", 1))
        self.assertEqual(self.published(), [("room", "lobby", Joined)])
        self.assertEqual(plain(*mind.events), plain(Joined("Lobby", "Ann", members=1)))

    def test_events_have_time_ordered_unique_ids_and_the_clocks_time(self) -> None:
        ann, _ = self.login("ann")
        self.successResultOf(ann.join("lobby"))
        self.clock.advance(2.5)
        ann.say("hi")
        joined, said = (event for _, _, event in self.recorder.seen)
        self.assertEqual((len(joined.id), len(said.id), len(ann.id)), (26, 26, 26))
        self.assertLess(ann.id, joined.id)
        self.assertLess(joined.id, said.id)
        self.assertEqual((joined.at, said.at), (1000.0, 1002.5))

    def test_a_message_names_its_sending_session(self) -> None:
        ann, _ = self.login("ann")
        self.successResultOf(ann.join("lobby"))
        self.published()
        ann.say("hello", action=True)
        [(topic, key, event)] = self.recorder.seen
        self.assertEqual((topic, key), ("room", "lobby"))
        assert isinstance(event, Said)
        self.assertEqual((event.room, event.sender, event.text, event.action, event.origin),
                         ("lobby", "ann", "hello", True, ann.id))

    def test_a_private_message_goes_to_the_users_topic_and_every_session(self) -> None:
        _, gina_mind = self.login("gina", guest=False)
        _, gina2_mind = self.login("gina", guest=False)
        bob, _ = self.login("bob")
        self.published()
        view = bob.message("GINA", "psst")
        self.assertEqual((view.name, view.sessions), ("gina", 2))
        self.assertEqual(self.published(), [("user", "gina", Private)])
        self.assertEqual(gina_mind.events, gina2_mind.events)  # the very same event
        self.assertEqual(plain(*gina_mind.events),
                         plain(Private("bob", "gina", "psst", "", "id-gina")))

    def test_leaving_tells_the_room_and_the_leaver_then_the_empty_room_goes(self) -> None:
        ann, ann_mind = self.login("ann")
        bob, bob_mind = self.login("bob")
        self.successResultOf(ann.join("lobby"))
        self.successResultOf(bob.join("lobby"))
        ann.leave()
        self.assertIs(ann_mind.events[-1], bob_mind.events[-1])
        self.assertEqual(plain(ann_mind.events[-1]), plain(Left("lobby", "ann", LeaveReason.LEFT)))
        bob.quit(LeaveReason.QUIT, "bye")
        self.assertEqual(plain(bob_mind.events[-1]),
                         plain(Left("lobby", "bob", LeaveReason.QUIT, "bye")))
        self.assertNotIn("lobby", self.server.rooms)

    def test_a_topic_and_a_settings_change_are_published(self) -> None:
        owner, mind = self.login("owner", guest=False)
        self.successResultOf(owner.create("club", 10, None))
        self.successResultOf(owner.set_topic("club", "about clubs"))
        self.successResultOf(owner.set_limit("club", 5))
        self.assertEqual(plain(*mind.events[-2:]),
                         plain(TopicSet("club", "owner", "about clubs"),
                               ModeChanged("club", "owner", "+l", "5")))
        self.assertEqual(self.store.rooms["club"].limit, 5)


class Views(CoreTestCase):
    def test_who_lists_members_with_the_owner_marked(self) -> None:
        owner, _ = self.login("owner", guest=False)
        self.successResultOf(owner.create("club", 10, None))
        bea, _ = self.login("bea")
        self.successResultOf(bea.join("club"))
        view = bea.who("club")
        self.assertEqual(view.members, (MemberView("bea", "bea", True, False),
                                        MemberView("owner", "owner", False, True, operator=True)))
        self.assertEqual((view.count, view.limit, view.persistent), (2, 10, True))

    def test_a_locked_rooms_members_are_for_its_members(self) -> None:
        owner, _ = self.login("owner", guest=False)
        self.successResultOf(owner.create("den", 10, "sesame"))
        self.successResultOf(owner.join("lobby"))
        bea, _ = self.login("bea")
        self.assertRaises(errors.NotAllowed, bea.who, "den")
        self.assertEqual([m.room for m in bea.whois("owner").rooms], ["lobby"])
        self.assertTrue(bea.room("den").locked)  # that it exists is public
        self.successResultOf(bea.join("den", "sesame"))
        self.assertEqual(len(bea.who("den").members), 2)
        self.assertEqual(sorted(m.room for m in bea.whois("owner").rooms), ["den", "lobby"])

    def test_rooms_and_server_counts(self) -> None:
        ann, _ = self.login("ann")
        self.successResultOf(ann.join("b"))
        self.successResultOf(ann.join("a"))
        self.assertEqual([room.name for room in ann.rooms()], ["a", "b"])
        self.assertEqual(ann.my_rooms(), ["b", "a"])
        self.assertEqual(ann.current, "a")
        info = ann.server_info()
        self.assertEqual((info.sessions, info.users, info.rooms), (1, 1, 2))

    def test_server_counts_keep_the_peak(self) -> None:
        ann, _ = self.login("ann")
        bob, _ = self.login("bob")
        bob.quit()
        info = ann.server_info()
        self.assertEqual((info.sessions, info.local, info.peak, info.local_peak), (1, 1, 2, 2))

    def test_ident_is_shown_in_views_and_remembered_by_whowas(self) -> None:
        ann, _ = self.login("ann")
        bob, _ = self.login("bob")
        self.successResultOf(bob.join("lobby"))
        bob.describe("bobby", "Bob Real")
        self.assertEqual(ann.whois("bob").ident, Ident("bobby", "Bob Real"))
        self.assertEqual(ann.who("lobby").members[0].ident, Ident("bobby", "Bob Real"))
        self.assertEqual(ann.whowas("bob"), [])
        self.clock.advance(5)
        bob.quit()
        self.assertEqual(ann.whowas("BOB"), [
            DepartureView("bob", Ident("bobby", "Bob Real"), True, 1_000, 1_005)])
        again, _ = self.login("bob")
        self.successResultOf(again.rename("rob"))  # a rename leaves the old name too
        self.assertEqual([d.ident for d in ann.whowas("bob")], [Ident(), Ident("bobby",
                                                                             "Bob Real")])
        self.assertEqual(len(ann.whowas("bob", 1)), 1)

    def test_departures_are_bounded(self) -> None:
        departures = Departures(per_name=2, names=2)
        for name in ("a", "a", "a", "b", "c"):
            departures.record(DepartureView(name, Ident(), True, 0, 0))
        self.assertEqual(departures.lookup("a"), [])  # the least recently recorded name
        self.assertEqual(len(departures.lookup("b")), 1)
        departures.record(DepartureView("b", Ident(), True, 0, 0))
        departures.record(DepartureView("b", Ident(), True, 0, 1))
        self.assertEqual([d.left for d in departures.lookup("b")], [1, 0])

    def test_views_are_snapshots(self) -> None:
        ann, _ = self.login("ann")
        before = self.successResultOf(ann.join("lobby"))
        bob, _ = self.login("bob")
        self.successResultOf(bob.join("lobby"))
        self.assertEqual(before.count, 1)
        self.assertEqual(ann.room("lobby").count, 2)

    def test_shares_room_besides_one(self) -> None:
        ann, _ = self.login("ann")
        bob, _ = self.login("bob")
        for name in ("a", "b"):
            self.successResultOf(ann.join(name))
            self.successResultOf(bob.join(name))
        self.assertTrue(ann.shares_room("bob", besides="a"))
        bob.leave("b")
        self.assertFalse(ann.shares_room("bob", besides="a"))


class Sessions(CoreTestCase):
    def test_a_second_session_of_an_account_talks_in_its_rooms(self) -> None:
        gina, _ = self.login("gina", guest=False)
        self.successResultOf(gina.join("lobby"))
        gina2, mind2 = self.login("gina", guest=False)
        self.assertEqual(gina2.current, "lobby")
        gina.say("from the first")
        self.assertEqual(plain(mind2.events[-1]),
                         plain(Said("lobby", "gina", "from the first", False, gina.id,
                                    account=True)))

    def test_a_logged_out_session_gets_nothing_more(self) -> None:
        gina, mind = self.login("gina", guest=False)
        gina2, _ = self.login("gina", guest=False)
        self.successResultOf(gina.join("lobby"))
        gina.quit()
        self.delivery.detach(gina.key, gina.id)
        count = len(mind.events)
        gina2.say("still here")
        self.assertEqual(len(mind.events), count)
        self.assertIn("gina", self.server.rooms["lobby"].members)  # the user stays

    def test_a_join_from_one_session_gives_the_others_a_room_to_talk_in(self) -> None:
        gina, _ = self.login("gina", guest=False)
        gina2, _ = self.login("gina", guest=False)
        self.assertIsNone(gina2.current)
        self.successResultOf(gina.join("lobby"))
        self.assertEqual(gina2.current, "lobby")
        self.successResultOf(gina2.join("den"))
        self.assertEqual((gina.current, gina2.current), ("lobby", "den"))

    def test_guest_names_and_look_alikes_are_taken_while_online(self) -> None:
        self.login("paypal")
        self.assertTrue(self.server.is_online("PAYPA1"))
        self.assertRaises(errors.NameTaken, self.server.connect, "PayPal", True)

    def test_the_message_rate_is_a_token_bucket_then_a_flood(self) -> None:
        self.server.limits = Limits(messages_burst=2, messages_per_second=1, flood_strikes=3)
        ann, _ = self.login("ann")
        self.successResultOf(ann.join("lobby"))
        ann.say("1")
        ann.say("2")
        self.assertRaises(errors.RateLimited, ann.say, "3")
        self.clock.advance(1)
        ann.say("4")
        self.assertRaises(errors.RateLimited, ann.say, "5")
        self.assertRaises(errors.RateLimited, ann.say, "6")
        self.assertRaises(errors.Flooding, ann.say, "7")

    def test_deleting_a_room_removes_its_members(self) -> None:
        owner, _ = self.login("owner", guest=False)
        self.successResultOf(owner.create("club", 10, None))
        bea, bea_mind = self.login("bea")
        self.successResultOf(bea.join("club"))
        self.successResultOf(owner.delete("club"))
        self.assertEqual(plain(bea_mind.events[-1]),
                         plain(Left("club", "bea", LeaveReason.DELETED)))
        self.assertIsNone(bea.current)
        self.assertNotIn("club", self.store.rooms)


class Serialisation(TestCase):
    def test_every_event_type_round_trips_through_json(self) -> None:
        examples = [
            Said("r", "ann", "hi", True, "n1-5", id="n1-6", at=12.5),
            Private("ann", "bob", "psst", id="n2-1", at=1.0),
            Joined("r", "ann", id="a", at=2.0),
            Left("r", "ann", LeaveReason.QUIT, "bye", id="b", at=3.0),
            TopicSet("r", "ann", "t", id="c", at=4.0),
            AwayChanged("ann", "lunch", id="d", at=5.0),
            ModeChanged("r", "ann", "+o", "bob", id="d2", at=5.5),
            Invited("r", "bob", "ann", id="d3", at=5.6),
            NickChanged("ann", "anna", id="d4", at=5.7),
            Left("r", "bob", LeaveReason.KICKED, "spam", "ann", id="d5", at=5.8),
            Notice("maintenance", id="e", at=6.0),
            SessionEnded("ann", "account deleted by an operator", id="f", at=7.0),
            FileShared("r", "ann", "a.txt", 3, "f" * 32, id="g", at=8.0),
            Redacted("n1-6", "ann", room="r", room_id="x", why="oops", id="h", at=9.0),
            Wallops("boss", "restart at noon", id="g", at=8.5),
            Announcement("boss", "maintenance", id="i", at=10.0),
            Left("r", "bob", LeaveReason.KILLED, "boss (spam)", id="j", at=11.0),
            ReadMoved("r", "01HF7YATZ8E0C15CN86CR0FEVE", False, "s1", id="k", at=12.0),
            Inactive("r", "ann", "lost connection", id="l", at=13.0),
            Returned("r", "ann", id="m", at=14.0),
            Tagged("ann", {"+typing": "active"}, room="r", origin="n1-5", id="n", at=15.0),
            Said("r", "ann", "yes", tags={"+draft/reply": "n1-6"}, id="o", at=15.5),
            PresenceChanged("bob", True, "n1-5", id="p", at=15.7),
            RealNameChanged("ann", "Ann Example", id="q", at=15.8),
        ]
        self.assertEqual({type(e) for e in examples}, set(EVENT_TYPES.values()))
        for event in examples:
            data = json.loads(json.dumps(to_dict(event)))
            back = from_dict(data)
            self.assertIs(type(back), type(event))
            self.assertEqual(to_dict(back), to_dict(event))
            self.assertEqual((back.id, back.at), (event.id, event.at))

    def test_the_rendering_cache_is_not_serialised(self) -> None:
        event = Joined("r", "ann")
        event.encoded(lambda e: b"x")
        self.assertNotIn("wire", to_dict(event))

    def test_garbage_is_not_an_event(self) -> None:
        for data in ({}, {"type": "Nope"}, {"type": "Joined", "room": "r"}):
            self.assertRaises(ValueError, from_dict, data)
