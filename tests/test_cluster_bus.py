"""Nodes of a cluster in memory: the RedisBus and Presence of each, over a fake Redis.

``Broker`` is Redis as the bus sees it: one queue of commands run in order by ``pump`` (a
PUBLISH goes to whoever is subscribed when it runs; a SUBSCRIBE is acknowledged in turn), so
the tests see what the order and the subscriptions do without a network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from chatd.bus.redis import PRESENCE, node_channel, room_channel
from chatd.cluster.presence import Presence
from chatd.kernel.events import (
    AwayChanged,
    Joined,
    LeaveReason,
    Left,
    NickChanged,
    Private,
    Said,
    TopicSet,
)
from chatd.kernel.interfaces import IChatSession
from chatd.kernel.records import RoomRecord

from fakes import RecordingMind, World


class Broker:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[Node]] = {}
        self.queue: deque[Callable[[], None]] = deque()
        self.publishes: list[str] = []

    def pump(self) -> None:
        for _ in range(100_000):
            if not self.queue:
                return
            self.queue.popleft()()
        raise AssertionError("the broker never went quiet")

    def publish(self, node: Node, channel: str, data: str) -> None:
        self.publishes.append(channel)

        def run() -> None:
            for subscriber in sorted(self.subscribers.get(channel, ()), key=lambda n: n.name):
                subscriber.presence.bus.received(channel, data)

        self.queue.append(run)

    def subscribe(self, node: Node, channel: str) -> Deferred[Any]:
        acknowledged: Deferred[Any] = Deferred()

        def run() -> None:
            self.subscribers.setdefault(channel, set()).add(node)
            acknowledged.callback(["subscribe", channel, 1])

        self.queue.append(run)
        return acknowledged

    def unsubscribe(self, node: Node, channel: str) -> Deferred[Any]:
        done: Deferred[Any] = Deferred()

        def run() -> None:
            self.subscribers.get(channel, set()).discard(node)
            done.callback(["unsubscribe", channel, 0])

        self.queue.append(run)
        return done

    def subscribed(self, node: Node) -> set[str]:
        return {channel for channel, nodes in self.subscribers.items() if node in nodes}


class Node:
    """One chatd node (a World) whose bus is a RedisBus on ``broker``."""

    def __init__(self, name: str, path: Path, broker: Broker) -> None:
        self.name = name
        self.broker = broker
        self.world = World(path)
        self.server = self.world.server
        self.presence = Presence(name, self.world.delivery, self.world.clock.seconds)
        self.presence.follow(self.server)
        self.server.bus = self.presence.bus
        self.presence.bus.listen(self.world.delivery)
        self.connect()

    def connect(self) -> None:
        broker = self.broker
        for channel in (PRESENCE, node_channel(self.name)):
            broker.subscribe(self, channel)
        broker.pump()
        self.presence.bus.connected(
            lambda channel, data: broker.publish(self, channel, data),
            lambda channel: broker.subscribe(self, channel),
            lambda channel: broker.unsubscribe(self, channel))
        for room in list(self.server.rooms.values()):
            self.presence.bus.interest(room.key)
        self.presence.hello()
        self.presence.bus.note({"k": "ask"})
        broker.pump()

    def disconnect(self) -> None:
        for nodes in self.broker.subscribers.values():
            nodes.discard(self)
        self.presence.bus.disconnected()

    def guest(self, name: str) -> tuple[IChatSession, RecordingMind]:
        session, mind = self.world.spy(name)
        self.presence.sessions_changed(session.key)
        return session, mind

    def account(self, name: str) -> tuple[IChatSession, RecordingMind]:
        session = self.server.connect(name, False, account_id=f"id-{name}")
        mind = RecordingMind()
        self.world.delivery.attach(session.key, session.id, mind)
        self.presence.sessions_changed(session.key)
        return session, mind

    def quit(self, session: IChatSession) -> None:
        session.quit(LeaveReason.QUIT)
        self.world.delivery.detach(session.key, session.id)
        self.presence.sessions_changed(session.key)


def said(mind: RecordingMind) -> list[str]:
    return [f"{e.sender}: {e.text}" for e in mind.events if isinstance(e, Said)]


class ClusterBusTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = Broker()
        self.a = Node("a", self.directory(), self.broker)
        self.b = Node("b", self.directory(), self.broker)

    def directory(self) -> Path:
        path = Path(self.mktemp()).absolute()
        path.mkdir(parents=True)
        return path

    def pump(self) -> None:
        self.broker.pump()

    def lobby(self) -> tuple[IChatSession, RecordingMind, IChatSession, RecordingMind]:
        ann, ann_sees = self.a.guest("ann")
        bob, bob_sees = self.b.guest("bob")
        self.pump()
        ann.join("lobby")
        self.pump()
        bob.join("lobby")
        self.pump()
        return ann, ann_sees, bob, bob_sees

    def test_each_node_sees_every_member_of_a_room(self) -> None:
        ann, _, bob, _ = self.lobby()
        for node in (self.a, self.b):
            view = node.server.rooms["lobby"]
            self.assertEqual(sorted(view.members), ["ann", "bob"], node.name)
        self.assertEqual([m.name for m in ann.who("lobby").members], ["ann", "bob"])
        self.assertEqual(ann.server_info().sessions, 2)
        self.assertEqual(bob.whois("ann").sessions, 1)

    def test_a_room_message_is_one_publish_delivered_once_on_every_node(self) -> None:
        ann, ann_sees, _, bob_sees = self.lobby()
        before = len(self.broker.publishes)
        ann.say("hello")
        self.pump()
        self.assertEqual(self.broker.publishes[before:], [room_channel("lobby")])
        self.assertEqual(said(ann_sees), ["ann: hello"])
        self.assertEqual(said(bob_sees), ["ann: hello"])

    def test_a_node_delivers_its_own_message_when_redis_hands_it_back(self) -> None:
        ann, ann_sees, bob, bob_sees = self.lobby()
        ann.say("first")
        bob.say("second")
        self.assertEqual(said(ann_sees), [])
        self.pump()
        # One order, Redis's, on both nodes.
        self.assertEqual(said(ann_sees), ["ann: first", "bob: second"])
        self.assertEqual(said(bob_sees), ["ann: first", "bob: second"])

    def test_a_node_knows_its_own_message_by_its_bytes_and_delivers_the_event_it_made(
            self) -> None:
        ann, ann_sees, _, bob_sees = self.lobby()
        ann.say("mine")
        [(channel, data)] = self.a.presence.bus.in_flight
        [(_, _, made)] = self.a.presence.bus.in_flight.values()
        # Another message in a's name that a did not publish: a delivers nothing of it.
        forged = data.replace("mine", "forged")
        self.broker.publish(self.a, channel, forged)
        self.pump()
        [own] = [event for event in ann_sees.events if isinstance(event, Said)]
        self.assertIs(own, made)  # not read back from the message: nothing to check
        self.assertEqual(said(bob_sees), ["ann: mine", "ann: forged"])
        self.assertEqual(self.a.presence.bus.in_flight, {})

    def test_a_node_listens_only_to_rooms_with_members_on_it(self) -> None:
        ann, _ = self.a.guest("ann")
        ann.join("quiet")
        self.pump()
        self.assertIn(room_channel("quiet"), self.broker.subscribed(self.a))
        self.assertNotIn(room_channel("quiet"), self.broker.subscribed(self.b))
        # ... yet knows who is in it.
        self.assertEqual(sorted(self.b.server.rooms["quiet"].members), ["ann"])
        ann.leave("quiet")
        self.pump()
        self.assertNotIn(room_channel("quiet"), self.broker.subscribed(self.a))
        self.assertNotIn("quiet", self.b.server.rooms)

    def test_the_first_member_s_first_line_waits_for_the_subscription(self) -> None:
        ann, ann_sees = self.a.guest("ann")
        ann.join("new")
        ann.say("am I here?")  # before any pump: the SUBSCRIBE is not acknowledged yet
        self.pump()
        self.assertEqual(said(ann_sees), ["ann: am I here?"])

    def test_a_private_message_reaches_a_user_on_another_node(self) -> None:
        ann, ann_sees = self.a.guest("ann")
        _, bob_sees = self.b.guest("bob")
        self.pump()
        ann.message("bob", "psst")
        self.pump()
        self.assertEqual([(e.sender, e.text) for e in bob_sees.events if isinstance(e, Private)],
                         [("ann", "psst")])
        self.assertEqual(self.broker.publishes[-1], node_channel("b"))
        self.assertEqual([e for e in ann_sees.events if isinstance(e, Private)], [])

    def test_a_guest_name_is_taken_on_every_node(self) -> None:
        self.a.guest("ann")
        self.pump()
        self.assertTrue(self.b.server.guest_online("ANN"))

    def test_a_user_who_quits_leaves_every_node(self) -> None:
        ann, _, _, bob_sees = self.lobby()
        self.a.quit(ann)
        self.pump()
        self.assertNotIn("ann", self.b.server.users)
        self.assertEqual(sorted(self.b.server.rooms["lobby"].members), ["bob"])
        self.assertEqual(self.b.server.remote_sessions, 0)
        left = [e for e in bob_sees.events if isinstance(e, Left)]
        self.assertEqual([(e.who, e.reason) for e in left], [("ann", LeaveReason.QUIT)])

    def test_a_dead_node_s_members_leave_the_others_rooms(self) -> None:
        _, _, _, bob_sees = self.lobby()
        self.a.disconnect()
        self.b.presence.node_gone("a")
        self.assertNotIn("ann", self.b.server.users)
        self.assertEqual(sorted(self.b.server.rooms["lobby"].members), ["bob"])
        left = [e for e in bob_sees.events if isinstance(e, Left)]
        self.assertEqual([(e.who, e.reason) for e in left], [("ann", LeaveReason.LOST)])

    def test_out_of_reach_a_node_serves_its_own_and_resynchronises_after(self) -> None:
        ann, ann_sees, bob, bob_sees = self.lobby()
        ann.say("in flight")  # published, not back yet when the link drops
        self.a.disconnect()
        self.assertEqual(said(ann_sees), ["ann: in flight"])
        amy, amy_sees = self.a.guest("amy")
        amy.join("lobby")
        ann.leave("lobby")
        amy.say("just us")
        self.assertEqual(said(amy_sees), ["amy: just us"])
        self.pump()  # what was queued before the drop still reaches b
        self.assertEqual(said(bob_sees), ["ann: in flight"])

        self.a.connect()
        self.assertEqual(sorted(self.b.server.rooms["lobby"].members), ["amy", "bob"])
        self.assertEqual(sorted(self.a.server.rooms["lobby"].members), ["amy", "bob"])
        seen = [(type(e).__name__, e.who) for e in bob_sees.events
                if isinstance(e, Joined | Left) and e.who != "bob"]
        # Bob hears what changed while a was out of reach: ann left (the Left a made only for
        # its own members) and amy came; nobody twice.
        self.assertEqual(seen, [("Left", "ann"), ("Joined", "amy")])
        amy.say("back")
        bob.say("welcome")
        self.pump()
        self.assertEqual(said(bob_sees)[-2:], ["amy: back", "bob: welcome"])
        self.assertEqual(said(amy_sees)[-2:], ["amy: back", "bob: welcome"])

    def test_a_node_s_persistent_room_count_leaves_out_temporary_rooms_heard_of(self) -> None:
        self.lobby()
        self.assertIn("lobby", self.b.server.rooms)  # temporary, heard of through Redis
        self.b.world.store.rooms["club"] = RoomRecord("club", "club", "ann", 10, None, "", "x")
        with capturedLogs() as logged:
            self.b.server.load_rooms()  # as the member service's rooms arrive, after Redis
        self.assertIn("loaded 1 persistent rooms", [formatEvent(event) for event in logged])
        self.assertEqual(sorted(self.b.server.rooms), ["club", "lobby"])

    def test_a_rename_reaches_every_node(self) -> None:
        ann, ann_sees, _, bob_sees = self.lobby()
        self.successResultOf(ann.rename("anne"))
        self.pump()
        self.assertIn("anne", self.b.server.users)
        self.assertNotIn("ann", self.b.server.users)
        self.assertEqual(sorted(self.b.server.rooms["lobby"].members), ["anne", "bob"])
        for sees in (ann_sees, bob_sees):
            renames = [(e.old, e.new) for e in sees.events if isinstance(e, NickChanged)]
            self.assertEqual(renames, [("ann", "anne")])
        self.a.quit(ann)
        self.pump()
        self.assertNotIn("anne", self.b.server.users)

    def test_a_room_s_settings_cross_with_its_events(self) -> None:
        ann, _, _, bob_sees = self.lobby()
        self.successResultOf(ann.set_topic("lobby", "welcome"))
        self.successResultOf(ann.set_limit("lobby", 7))
        self.pump()
        room = self.b.server.rooms["lobby"]
        self.assertEqual((room.topic, room.limit), ("welcome", 7))
        self.assertIn("ann", room.operators)  # the first member of a temporary room
        self.assertEqual([e.topic for e in bob_sees.events if isinstance(e, TopicSet)],
                         ["welcome"])

    def test_an_account_on_two_nodes_is_one_member_heard_on_both(self) -> None:
        amy, amy_on_a = self.a.account("amy")
        amy.join("both")
        self.pump()
        # Logged in on b too, after it joined through a: b takes the room's messages now.
        amy_b, amy_on_b = self.b.account("amy")
        self.pump()
        self.assertEqual(amy_b.my_rooms(), ["both"])
        self.assertEqual(amy.whois("amy").sessions, 2)
        amy_b.say("from b")
        self.pump()
        self.assertEqual(said(amy_on_a), ["amy: from b"])
        self.assertEqual(said(amy_on_b), ["amy: from b"])
        # Its session on a ends: it stays in the room, through b.
        self.a.quit(amy)
        self.pump()
        for node in (self.a, self.b):
            self.assertEqual(sorted(node.server.rooms["both"].members), ["amy"], node.name)
        self.b.quit(amy_b)
        self.pump()
        for node in (self.a, self.b):
            self.assertNotIn("both", node.server.rooms, node.name)
            self.assertNotIn("amy", node.server.users, node.name)

    def test_an_away_status_reaches_every_node_once(self) -> None:
        ann, ann_sees, bob, bob_sees = self.lobby()
        before = len(self.broker.publishes)
        ann.set_away("lunch")
        self.pump()
        self.assertEqual(self.broker.publishes[before:], [PRESENCE])
        self.assertEqual(bob.whois("ann").away, "lunch")
        self.assertEqual([(e.who, e.away) for e in bob_sees.events if isinstance(e, AwayChanged)],
                         [("ann", "lunch")])
        self.assertEqual([e for e in ann_sees.events if isinstance(e, AwayChanged)], [])

