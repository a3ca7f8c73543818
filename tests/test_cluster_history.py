"""The cluster's shared history without Redis: a fake command connection keeps the streams."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from txredisapi import ResponseError

from chatd.bus.wire import decode, encode_event, event_row
from chatd.cluster.history import PUBLISH_KEEP, PUBLISH_KEEP_SHA, STREAM, SharedHistory
from chatd.history.memory import Retention
from chatd.kernel.events import Joined, Said
from chatd.kernel.history import HistoryQuery


class FakeStreams:
    """A command connection as ``chatd.cluster.link.post`` uses it: frames written to its
    transport are run at once (EVALSHA of PUBLISH_KEEP: the publish recorded, the entry
    added), their replies handed to what waits for them as it is queued; and XREVRANGE."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, list[str]]]] = {}
        self.published: list[str] = []
        self.replies: list[object] = []
        self.scripts = True  # False: Redis lost its scripts (NOSCRIPT) until an EVAL
        self.transport = self
        self.replyQueue = self
        self.waiting = _Answered(self.replies)

    def write(self, frame: bytes) -> None:
        parts = frame.split(b"\r\n")
        args = [part.decode() for part in parts[2::2] if part]
        assert parts[0] == b"*%d" % len(args), frame
        assert args[0] == "EVALSHA" and args[1] == PUBLISH_KEEP_SHA.decode(), args
        if not self.scripts:
            self.replies.append(ResponseError("NOSCRIPT No matching script."))
            return
        self.run(args[3], args[4], args[5], int(args[6]))

    def eval(self, script: str, keys: list[str], args: list[Any]) -> Deferred[None]:
        assert script == PUBLISH_KEEP
        self.scripts = True
        self.run(keys[0], keys[1], args[0], int(args[1]))
        return succeed(self.replies.pop())

    def run(self, channel: str, stream: str, data: str, count: int) -> None:
        self.published.append(channel)
        entries = self.streams.setdefault(stream, [])
        entries.append((f"{len(entries) + 1}-0", ["m", data]))
        del entries[:-count]
        self.replies.append(None)

    def execute_command(self, *args: Any) -> Deferred[Any]:
        assert args[0] == "XREVRANGE"
        return succeed(list(reversed(self.streams.get(args[1], [])))[:int(args[5])])


class _Answered:
    """The queue of what waits for a reply: answered with the oldest reply as it joins."""

    def __init__(self, replies: list[object]) -> None:
        self.replies = replies

    def append(self, waiter: Any) -> None:
        waiter.callback(self.replies.pop(0))


def said(node: str, number: int, text: str) -> Said:
    return Said("lobby", "ann", text, id=f"{node}-{number:x}", at=float(number))


class SharedHistoryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.redis = FakeStreams()
        self.a = self.node("a")
        self.b = self.node("b")

    def node(self, name: str) -> SharedHistory:
        history = SharedHistory(Clock(), Retention(count=3))
        history.commands = lambda: self.redis
        return history

    def texts(self, history: SharedHistory) -> list[str]:
        return [event.text for event in history.query("lobby", HistoryQuery("latest", 10))]  # type: ignore[attr-defined]

    def publish(self, history: SharedHistory, event: Said) -> None:
        """What the bus does with a room message: publish (and keep), then, back from
        Redis, deliver it to the listeners."""
        envelope = encode_event("a", "r", "lobby", event)
        history.publish("chatd:room:lobby", envelope, "lobby")
        history.room_event("lobby", event)

    def test_a_room_message_is_published_and_kept_in_one_command(self) -> None:
        self.publish(self.a, said("a", 1, "mine"))
        self.a.room_event("lobby", said("b", 2, "theirs"))  # b keeps its own
        self.a.room_event("lobby", Joined("lobby", "ann", id="a-3", at=3.0))
        self.assertEqual(self.redis.published, ["chatd:room:lobby"])
        stream = self.redis.streams[STREAM + "lobby"]
        self.assertEqual([decode(fields[1]).event.text for _, fields in stream], ["mine"])  # type: ignore[union-attr]
        self.assertEqual(self.texts(self.a), ["mine", "theirs"])

    def test_a_node_reads_the_stream_and_keeps_each_message_once(self) -> None:
        for number, text in enumerate(("one", "two", "three", "four"), 1):
            self.publish(self.a, said("a", number, text))
        # b heard "four" live before it read the stream: it is kept once, in order.
        self.b.room_event("lobby", said("a", 4, "four"))
        self.successResultOf(self.b.backfill("lobby"))
        self.assertEqual(self.texts(self.b), ["two", "three", "four"])
        self.assertEqual(self.texts(self.a), ["two", "three", "four"])
        self.successResultOf(self.b.backfill("lobby"))
        self.b.room_event("lobby", said("a", 4, "four"))
        self.assertEqual(self.texts(self.b), ["two", "three", "four"])

    def test_a_redis_that_lost_the_script_is_sent_it_whole(self) -> None:
        self.redis.scripts = False
        self.publish(self.a, said("a", 1, "after a restart"))
        self.assertEqual(self.redis.published, ["chatd:room:lobby"])
        self.successResultOf(self.b.backfill("lobby"))
        self.assertEqual(self.texts(self.b), ["after a restart"])

    def test_without_redis_a_node_keeps_what_it_hears(self) -> None:
        self.b.commands = lambda: None
        self.successResultOf(self.b.backfill("lobby"))
        self.assertFalse(self.b.publish("chatd:room:lobby", "{}", "lobby"))
        self.b.room_event("lobby", said("b", 1, "alone"))
        self.assertEqual(self.texts(self.b), ["alone"])
        self.assertEqual(self.redis.streams, {})

    def test_what_is_not_an_event_in_the_stream_is_skipped(self) -> None:
        good = encode_event("a", "r", "lobby", said("a", 2, "ok"))
        self.redis.streams[STREAM + "lobby"] = [("1-0", ["m", "not json"]), ("2-0", ["m", good])]
        self.successResultOf(self.b.backfill("lobby"))
        self.assertEqual(self.texts(self.b), ["ok"])

    def test_what_no_node_wrote_in_the_stream_is_dropped_and_counted(self) -> None:
        def entry(event: Any, room: str = "lobby") -> list[str]:
            return ["m", json.dumps([2, "c", "r", room, None, *event])]

        good = event_row(said("a", 5, "ok"))
        self.redis.streams[STREAM + "lobby"] = [
            ("1-0", entry([*good[:5], "forged\r\nQUIT", *good[6:]])),
            ("2-0", entry([*good[:2], "soon", *good[3:]])),
            ("3-0", entry(good, room="other")),
            ("4-0", entry(event_row(Joined("lobby", "ann", id="c-4", at=4.0)))),
            ("5-0", ["m"]), "not an entry",  # type: ignore[list-item]
            ("6-0", entry(good)),
        ]
        reader = SharedHistory(Clock(), Retention(count=10))
        reader.commands = lambda: self.redis
        self.successResultOf(reader.backfill("lobby"))
        self.assertEqual(self.texts(reader), ["ok"])
        self.assertEqual(reader.drops.counts, {"history": 6})
