"""What a node makes of messages from Redis that no node sent: each is dropped and counted,
and the next good one is delivered (the nodes in memory of tests.test_cluster_bus)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from chatd.bus.redis import PRESENCE, node_channel, room_channel
from chatd.bus.wire import LOG_EVERY, Drops, Malformed, decode
from chatd.kernel.events import Event, NickChanged, Private, Said, TopicSet, to_dict

from tests.test_cluster_bus import Broker, Node, said

SAID = to_dict(Said("lobby", "eve", "hello", id="c-1", at=1.0))
TOPIC = to_dict(TopicSet("lobby", "eve", "calm", id="c-2", at=1.0))
PRIVATE = to_dict(Private("eve", "bob", "psst", id="c-3", at=1.0))


def envelope(event: dict[str, Any], **changes: Any) -> str:
    return json.dumps({"n": "c", "r": "lobby", "e": {**event, **changes}})


ROOM = room_channel("lobby")
# (channel, data): what each shape of bad message looks like.
MALFORMED: list[tuple[str, object]] = [
    # not JSON, or JSON that is not an object
    (ROOM, "not json {"), (ROOM, b"\xff\xfe"), (ROOM, "[1, 2]"), (ROOM, '"text"'),
    (ROOM, 5), (ROOM, "null"), (PRESENCE, "[" * 100_000),
    # missing fields
    (ROOM, '{"n": "c", "r": "lobby"}'), (ROOM, json.dumps({"r": "lobby", "e": SAID})),
    (ROOM, envelope({"type": "Said", "room": "lobby", "id": "c-1", "at": 1.0})),
    (ROOM, envelope({k: v for k, v in SAID.items() if k != "id"})),
    # fields of the wrong type
    (ROOM, envelope(SAID, text=5)), (ROOM, envelope(SAID, at="soon")),
    (ROOM, envelope(SAID, action="yes")), (ROOM, envelope(SAID, id=["c-1"])),
    (ROOM, json.dumps({"n": 5, "r": "lobby", "e": SAID})),
    (ROOM, json.dumps({"n": "c", "r": ["lobby"], "e": SAID})),
    (PRESENCE, json.dumps({"n": "c", "p": 5})),
    (PRESENCE, json.dumps({"n": "c", "p": {"k": "sess", "u": {"name": "eve"}, "c": "2"}})),
    (PRESENCE, json.dumps({"n": "c", "p": {"k": "hello", "s": {"users": {"eve": 1}}}})),
    (PRESENCE, json.dumps({"n": "c", "r": "lobby", "e": TOPIC, "x": {"room": [1]}})),
    # times that are no time
    (ROOM, envelope(SAID, at=float("nan"))), (ROOM, envelope(SAID, at=float("inf"))),
    (ROOM, envelope(SAID, at=-1)),
    # huge strings
    (ROOM, envelope(SAID, text="a" * 100_000)), (ROOM, envelope(SAID, sender="e" * 10_000)),
    (ROOM, envelope(SAID, id="c" * 10_000)),
    (ROOM, json.dumps({"n": "c" * 10_000, "r": "lobby", "e": SAID})),
    # control characters in text
    (ROOM, envelope(SAID, text="hi\r\nQUIT :forged")), (ROOM, envelope(SAID, text="\x1b[2J")),
    (ROOM, envelope(SAID, text="\u202eevil")),
    (PRESENCE, envelope(TOPIC, topic="new\nline")),
    (node_channel("b"), json.dumps({"n": "c", "u": "bob", "e": {**PRIVATE, "text": "\x1b]0;x"}})),
    # unknown kinds of event and of note
    (ROOM, envelope(SAID, type="Notice")), (ROOM, envelope(SAID, type="Bogus")),
    (PRESENCE, json.dumps({"n": "c", "p": {"k": "bogus"}})),
    # bad names and keys
    (ROOM, envelope(SAID, sender="two words")), (ROOM, envelope(SAID, sender="eve\r\n")),
    (ROOM, envelope(SAID, room="#a b")), (ROOM, json.dumps({"n": "c", "r": "Lobby", "e": SAID})),
    (ROOM, json.dumps({"n": "bad node", "r": "lobby", "e": SAID})),
    (node_channel("b"), json.dumps({"n": "c", "u": "bob\x00", "e": PRIVATE})),
    # an event on a channel no node publishes it on
    (PRESENCE, envelope(SAID)), (ROOM, json.dumps({"n": "c", "r": "other", "e": SAID})),
    (node_channel("b"), envelope(SAID)),
]


def strings(event: Event) -> list[str]:
    return [value for f in fields(event) if isinstance(value := getattr(event, f.name), str)]


class MalformedMessageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = Broker()
        path = Path(self.mktemp()).absolute()
        (path / "a").mkdir(parents=True)
        (path / "b").mkdir()
        self.a = Node("a", path / "a", self.broker)
        self.b = Node("b", path / "b", self.broker)
        self.ann, _ = self.a.guest("ann")
        self.bob, self.bob_sees = self.b.guest("bob")
        self.broker.pump()
        self.ann.join("lobby")
        self.broker.pump()
        self.bob.join("lobby")
        self.broker.pump()

    def test_after_each_malformed_message_the_next_good_one_is_delivered(self) -> None:
        for number, (channel, data) in enumerate(MALFORMED):
            self.broker.publish(self.a, channel, data)  # type: ignore[arg-type]
            self.ann.say(f"good {number}")
            self.broker.pump()
        self.assertEqual(said(self.bob_sees), [f"ann: good {n}" for n in range(len(MALFORMED))])
        drops = self.b.presence.bus.drops.counts
        self.assertEqual(sum(drops.values()), len(MALFORMED), drops)
        self.assertEqual(sorted(drops), ["node", "presence", "room"])

    def test_no_forged_control_character_reaches_a_client(self) -> None:
        for channel, data in MALFORMED:
            self.broker.publish(self.a, channel, data)  # type: ignore[arg-type]
        self.broker.pump()
        seen = [text for event in self.bob_sees.events for text in strings(event)]
        self.assertFalse([text for text in seen if set(text) & set("\r\n\x1b\u202e")], seen)
        self.assertEqual(self.b.server.rooms["lobby"].topic, "")
        self.assertEqual(sorted(self.b.server.users), ["ann", "bob"])

    def test_a_good_message_of_another_node_is_taken(self) -> None:
        self.broker.publish(self.a, ROOM, envelope(SAID, text="tab\there"))
        self.broker.pump()
        self.assertEqual(said(self.bob_sees), ["eve: tab here"])
        self.assertEqual(self.b.presence.bus.drops.counts, {})


class DecodeTests(SynchronousTestCase):
    def test_what_a_node_publishes_decodes_to_itself(self) -> None:
        event = Said("lobby", "ann", "hi", action=True, origin="a-1", id="a-2", at=3.5)
        found = decode(json.dumps({"n": "a", "r": "lobby", "e": to_dict(event)}))
        self.assertEqual((found.node, found.room), ("a", "lobby"))
        self.assertEqual(to_dict(found.event), to_dict(event))  # type: ignore[arg-type]

    def test_a_login_while_connected_crosses_as_such(self) -> None:
        event = NickChanged("ann", "owner", account=True, id="a-3", at=3.5)
        found = decode(json.dumps({"n": "a", "u": "bob", "e": to_dict(event)}))
        self.assertEqual(to_dict(found.event), to_dict(event))  # type: ignore[arg-type]

    def test_malformed_says_which_field_is_wrong(self) -> None:
        with self.assertRaises(Malformed) as caught:
            decode(envelope(SAID, text="a\nb"))
        self.assertIn("text: control character U+000A", str(caught.exception))


class DropsTests(SynchronousTestCase):
    def test_drops_are_counted_each_and_logged_once_a_minute(self) -> None:
        clock = Clock()
        drops = Drops(clock.seconds)
        with capturedLogs() as logged:
            for _ in range(5):
                drops.drop("room", "text: bad\x1b[2J")
            clock.advance(LOG_EVERY)
            drops.drop("presence", "no node name")
        self.assertEqual(drops.counts, {"room": 5, "presence": 1})
        lines = [event["log_format"].format(**event) for event in logged]
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("dropped 1 malformed message(s) from Redis, the last on room", lines[0])
        self.assertIn("dropped 5 malformed message(s) from Redis, the last on presence", lines[1])
        self.assertNotIn("\x1b", "".join(lines))
