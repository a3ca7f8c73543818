"""What a node makes of messages from Redis that no node sent: each is dropped and counted,
and the next good one is delivered (the nodes in memory of tests.test_cluster_bus)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from chatd.bus.redis import PRESENCE, node_channel, room_channel
from chatd.bus.wire import (
    KNOWN_NAMES,
    LOG_EVERY,
    ROWS,
    WIRE_VERSION,
    Drops,
    Malformed,
    decode,
    encode_event,
    event_row,
    flag,
    user_key,
    user_name,
)
from chatd.kernel.events import (
    Event,
    LeaveReason,
    NickChanged,
    Private,
    Said,
    TopicSet,
    to_dict,
)

from tests.test_cluster_bus import Broker, Node, said

SAID = event_row(Said("lobby", "eve", "hello", id="c-1", at=1.0))
TOPIC = event_row(TopicSet("lobby", "eve", "calm", id="c-2", at=1.0))
PRIVATE = event_row(Private("eve", "bob", "psst", id="c-3", at=1.0))


def envelope(row: list[Any], kind: str = "r", key: str = "lobby", extra: Any = None,
             **changes: Any) -> str:
    """A node's envelope of ``row`` (chatd.bus.wire's version 2), some fields changed."""
    names = ("type", "id", "at", *ROWS[row[0]].names)
    row = [changes.get(name, value) for name, value in zip(names, row, strict=False)]
    return json.dumps([WIRE_VERSION, "c", kind, key, extra, *row])


def raw(*items: Any) -> str:
    return json.dumps([WIRE_VERSION, *items])


ROOM = room_channel("lobby")
# (channel, data): what each shape of bad message looks like.
MALFORMED: list[tuple[str, object]] = [
    # not JSON, or JSON that is not an envelope
    (ROOM, "not json {"), (ROOM, b"\xff\xfe"), (ROOM, "[1, 2]"), (ROOM, '"text"'),
    (ROOM, 5), (ROOM, "null"), (PRESENCE, "[" * 100_000), (ROOM, "{}"),
    # another version of the wire format: an older node's object, a newer node's array
    (ROOM, json.dumps({"n": "c", "r": "lobby", "e": to_dict(Said("lobby", "eve", "hello",
                                                                    id="c-1", at=1.0))})),
    (ROOM, json.dumps([3, "c", "r", "lobby", None, *SAID])),
    (ROOM, json.dumps([True, "c", "r", "lobby", None, *SAID])),
    # missing fields
    (ROOM, raw("c", "r", "lobby")), (ROOM, raw("r", "lobby", None, *SAID)),
    (ROOM, envelope(["Said", "c-1", 1.0, "lobby"])),
    (ROOM, raw("c", "r", "lobby", None, "Said", 1.0, "lobby", "eve", "hello")),
    # fields of the wrong type
    (ROOM, envelope(SAID, text=5)), (ROOM, envelope(SAID, at="soon")),
    (ROOM, envelope(SAID, action="yes")), (ROOM, envelope(SAID, id=["c-1"])),
    (ROOM, raw(5, "r", "lobby", None, *SAID)),
    (ROOM, raw("c", "r", ["lobby"], None, *SAID)),
    (ROOM, raw("c", "r", "lobby", [], *SAID)),
    (PRESENCE, raw("c", "p", 5)), (PRESENCE, raw("c", "p", {"k": "ask"}, 1)),
    (PRESENCE, raw("c", "p", {"k": "sess", "u": {"name": "eve"}, "c": "2"})),
    (PRESENCE, raw("c", "p", {"k": "hello", "s": {"users": {"eve": 1}}})),
    (PRESENCE, envelope(TOPIC, extra={"room": [1]})),
    (node_channel("b"), envelope(PRIVATE, kind="u", key="bob", extra={"room": {}})),
    (ROOM, raw("c", "x", "lobby", None, *SAID)),
    # times that are no time
    (ROOM, envelope(SAID, at=float("nan"))), (ROOM, envelope(SAID, at=float("inf"))),
    (ROOM, envelope(SAID, at=-1)),
    # huge strings
    (ROOM, envelope(SAID, text="a" * 100_000)), (ROOM, envelope(SAID, sender="e" * 10_000)),
    (ROOM, envelope(SAID, id="c" * 10_000)),
    (ROOM, raw("c" * 10_000, "r", "lobby", None, *SAID)),
    # control characters in text and words
    (ROOM, envelope(SAID, text="hi\r\nQUIT :forged")), (ROOM, envelope(SAID, text="\x1b[2J")),
    (ROOM, envelope(SAID, text="\u202eevil")), (ROOM, envelope(SAID, origin="a b")),
    (ROOM, envelope(SAID, room_id="r\x00")), (ROOM, envelope(SAID, origin="\u2028")),
    (PRESENCE, envelope(TOPIC, topic="new\nline")),
    (node_channel("b"), envelope(PRIVATE, kind="u", key="bob", text="\x1b]0;x")),
    # unknown kinds of event and of note
    (ROOM, envelope(SAID, type="Notice")), (ROOM, envelope(SAID, type="Bogus")),
    (ROOM, envelope(SAID, type=["Said"])),
    (PRESENCE, raw("c", "p", {"k": "bogus"})),
    # bad names and keys
    (ROOM, envelope(SAID, sender="two words")), (ROOM, envelope(SAID, sender="eve\r\n")),
    (ROOM, envelope(SAID, room="#a b")), (ROOM, envelope(SAID, key="Lobby")),
    (ROOM, raw("bad node", "r", "lobby", None, *SAID)),
    (node_channel("b"), envelope(PRIVATE, kind="u", key="bob\x00")),
    # an event on a channel no node publishes it on
    (PRESENCE, envelope(SAID)), (ROOM, envelope(SAID, key="other")),
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

    def test_a_node_of_another_wire_format_is_refused_loudly(self) -> None:
        old = json.dumps({"n": "c", "r": "lobby", "e": to_dict(
            Said("lobby", "eve", "hello", id="c-1", at=1.0))})
        with capturedLogs() as logged:
            for number in range(3):
                self.broker.publish(self.a, ROOM, old)
                self.ann.say(f"good {number}")
            self.broker.pump()
        self.assertEqual(said(self.bob_sees), [f"ann: good {n}" for n in range(3)])
        for node in (self.a, self.b):
            self.assertEqual(node.presence.bus.drops.counts, {"room": 3})
        # One line on each node (both hear the room), not one per message.
        lines = [event["log_format"].format(**event) for event in logged
                 if "dropped" in event.get("log_format", "")]
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertIn("wire format 1 (a JSON object); this node reads 2", line)

    def test_a_good_message_of_another_node_is_taken(self) -> None:
        self.broker.publish(self.a, ROOM, envelope(SAID, text="tab\there"))
        self.broker.pump()
        self.assertEqual(said(self.bob_sees), ["eve: tab here"])
        self.assertEqual(self.b.presence.bus.drops.counts, {})


class DecodeTests(SynchronousTestCase):
    def test_what_a_node_publishes_decodes_to_itself(self) -> None:
        event = Said("lobby", "ann", "hi", action=True, origin="a-1", id="a-2", at=3.5,
                     tags={"+draft/reply": "x"})
        found = decode(encode_event("a", "r", "lobby", event))
        self.assertEqual((found.node, found.room, found.extra), ("a", "lobby", {}))
        self.assertEqual(to_dict(found.event), to_dict(event))  # type: ignore[arg-type]

    def test_every_kind_of_event_crosses_whole(self) -> None:
        for name, row in ROWS.items():
            # Each field set to what its check takes (the class's own defaults are not all
            # valid on the wire: an empty name), so a field left out would show.
            samples = {"room": "lobby", "who": "ann", "sender": "ann", "recipient": "bob",
                       "text": "hi", "by": "bob", "old": "ann", "new": "ann2", "user": "ann",
                       "reason": LeaveReason.KICKED, "mode": "+k", "name": "a.txt",
                       "target": "lobby", "marker": "m1", "message_id": "m2",
                       "file_id": "f1", "tags": {"+x": "y"}, "members": 2, "size": 3}
            values = {field: samples.get(field, True if check is flag else "x1")
                      for field, check in zip(row.names, row.checks, strict=True)}
            event = row.cls(**values, id="a-9", at=2.0)  # type: ignore[arg-type]
            found = decode(encode_event("a", "u", "bob", event)).event
            self.assertEqual(to_dict(found), to_dict(event), name)  # type: ignore[arg-type]

    def test_a_login_while_connected_crosses_as_such(self) -> None:
        event = NickChanged("ann", "owner", account=True, id="a-3", at=3.5)
        found = decode(encode_event("a", "u", "bob", event))
        self.assertEqual(to_dict(found.event), to_dict(event))  # type: ignore[arg-type]

    def test_any_item_of_an_envelope_replaced_by_junk_is_malformed_or_checked(self) -> None:
        junk: list[Any] = [None, 0, -1, 1.5, True, "", "x" * 300, "a\x00", [], [1], {},
                           {"k": "ask"}, "Said", "r", "u", "p", 2]
        good = json.loads(encode_event("a", "r", "lobby", Said(
            "lobby", "ann", "hi", origin="a-1", id="a-2", at=1.0, tags={"+a": "b"})))
        for index in range(len(good) + 1):
            for value in junk:
                for data in ([*good[:index], value, *good[index + 1:]],
                             [*good[:index], value], good[:index]):
                    with contextlib.suppress(Malformed):
                        decode(json.dumps(data))

    def test_a_name_remembered_as_valid_is_so_for_its_own_check_only(self) -> None:
        for _ in range(2):
            self.assertEqual(user_name("Ann"), "Ann")
            with self.assertRaises(Malformed):
                user_key("Ann")  # a name, but not folded: not a key
            with self.assertRaises(Malformed):
                user_name("a b")
        for number in range(KNOWN_NAMES + 10):  # the memory is bounded, and forgets
            user_name(f"n{number}")
        self.assertEqual(user_key("ann"), "ann")

    def test_a_newer_node_s_further_fields_are_ignored(self) -> None:
        data = json.loads(encode_event("a", "r", "lobby", Said("lobby", "ann", "hi", id="a-4",
                                                               at=1.0)))
        found = decode(json.dumps([*data, "a field of a later version"]))
        self.assertEqual(found.event.text, "hi")  # type: ignore[union-attr]

    def test_another_version_of_the_wire_format_is_named(self) -> None:
        event = Said("lobby", "ann", "hi", id="a-5", at=1.0)
        with self.assertRaises(Malformed) as old:
            decode(json.dumps({"n": "a", "r": "lobby", "e": to_dict(event)}))
        self.assertIn("wire format 1", str(old.exception))
        with self.assertRaises(Malformed) as new:
            decode(json.dumps([3, "a", "r", "lobby", None, *event_row(event)]))
        self.assertIn("wire format 3; this node reads 2", str(new.exception))

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
