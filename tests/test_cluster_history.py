"""The cluster's shared history without Redis: a fake command connection keeps the streams."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatd.cluster.history import STREAM, SharedHistory
from chatd.history.memory import Retention
from chatd.kernel.events import Joined, Said, to_dict
from chatd.kernel.history import HistoryQuery


class FakeStreams:
    """PUBLISH_KEEP (the publish recorded, the entry added) and XREVRANGE, on lists."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, list[str]]]] = {}
        self.published: list[str] = []

    def eval(self, script: str, keys: list[str], args: list[Any]) -> Deferred[None]:
        self.published.append(keys[0])
        entries = self.streams.setdefault(keys[1], [])
        entries.append((f"{len(entries) + 1}-0", ["m", args[0]]))
        del entries[:-int(args[1])]
        return succeed(None)

    def execute_command(self, *args: Any) -> Deferred[Any]:
        assert args[0] == "XREVRANGE"
        return succeed(list(reversed(self.streams.get(args[1], [])))[:int(args[5])])


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
        envelope = json.dumps({"n": "a", "r": "lobby", "e": to_dict(event)})
        history.publish("chatd:room:lobby", envelope, "lobby")
        history.room_event("lobby", event)

    def test_a_room_message_is_published_and_kept_in_one_command(self) -> None:
        self.publish(self.a, said("a", 1, "mine"))
        self.a.room_event("lobby", said("b", 2, "theirs"))  # b keeps its own
        self.a.room_event("lobby", Joined("lobby", "ann", id="a-3", at=3.0))
        self.assertEqual(self.redis.published, ["chatd:room:lobby"])
        stream = self.redis.streams[STREAM + "lobby"]
        self.assertEqual([json.loads(fields[1])["e"]["text"] for _, fields in stream], ["mine"])
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

    def test_without_redis_a_node_keeps_what_it_hears(self) -> None:
        self.b.commands = lambda: None
        self.successResultOf(self.b.backfill("lobby"))
        self.assertIsNone(self.b.publish("chatd:room:lobby", "{}", "lobby"))
        self.b.room_event("lobby", said("b", 1, "alone"))
        self.assertEqual(self.texts(self.b), ["alone"])
        self.assertEqual(self.redis.streams, {})

    def test_what_is_not_an_event_in_the_stream_is_skipped(self) -> None:
        good = json.dumps({"n": "a", "r": "lobby", "e": to_dict(said("a", 2, "ok"))})
        self.redis.streams[STREAM + "lobby"] = [("1-0", ["m", "not json"]), ("2-0", ["m", good])]
        self.successResultOf(self.b.backfill("lobby"))
        self.assertEqual(self.texts(self.b), ["ok"])
