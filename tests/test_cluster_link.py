"""The node's Redis connections (chatd.cluster.link) on a StringTransport, fed Redis's bytes:
pub/sub messages go straight to the bus, and a posted command's reply, taken without a
Deferred, keeps its place among the others'."""

from __future__ import annotations

from typing import Any

import txredisapi
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from chatd.cluster import link


class FakeLink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, object]] = []
        self.gone: list[object] = []

    def on_message(self, channel: str, data: object) -> None:
        if data == b"boom":
            raise RuntimeError("a bug of ours")
        self.messages.append((channel, data))

    def _gone(self, protocol: object) -> None:
        self.gone.append(protocol)


def connected(kind: type, fake: FakeLink) -> Any:
    class Factory:
        link = fake

    protocol = kind(charset="utf-8", replyTimeout=None)
    protocol.factory = Factory()
    protocol.makeConnection(StringTransport())
    return protocol


def message(channel: bytes, data: bytes) -> bytes:
    return link.command(b"message", channel, data)


class SubscriberTests(SynchronousTestCase):
    def test_messages_reach_the_bus_in_order_and_acknowledgements_their_callers(self) -> None:
        fake = FakeLink()
        subscriber = connected(link._Subscriber, fake)
        acknowledged = subscriber.subscribe("chatd:room:lobby")
        subscriber.dataReceived(
            b"*3\r\n$9\r\nsubscribe\r\n$16\r\nchatd:room:lobby\r\n:1\r\n"
            + message(b"chatd:room:lobby", b'[2,"a"]')
            + message(b"chatd:presence", b"\xff not utf-8"))
        self.assertEqual(self.successResultOf(acknowledged), ["subscribe", "chatd:room:lobby", 1])
        self.assertEqual(fake.messages, [("chatd:room:lobby", b'[2,"a"]'),
                                         ("chatd:presence", b"\xff not utf-8")])

    def test_a_message_the_bus_fails_on_is_logged_and_the_next_delivered(self) -> None:
        fake = FakeLink()
        subscriber = connected(link._Subscriber, fake)
        with capturedLogs() as logged:
            subscriber.dataReceived(message(b"chatd:presence", b"boom")
                                    + message(b"chatd:presence", b"after"))
        self.assertEqual(fake.messages, [("chatd:presence", b"after")])
        self.assertEqual(len([event for event in logged if "log_failure" in event]), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PostTests(SynchronousTestCase):
    def test_a_posted_command_s_reply_keeps_its_place_among_the_others(self) -> None:
        fake = FakeLink()
        commands = connected(link._Commands, fake)
        failed: list[Exception] = []
        link.post(commands, link.Quiet(failed.append), link.command(b"PUBLISH", b"c", b"x"))
        got = commands.get("key")
        link.post(commands, link.Quiet(failed.append), link.command(b"PUBLISH", b"c", b"y"))
        self.assertTrue(commands.transport.value().startswith(
            b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$1\r\nx\r\n*2\r\n$3\r\nGET\r\n"))
        commands.dataReceived(b":1\r\n$5\r\nvalue\r\n-ERR refused\r\n")
        self.assertEqual(self.successResultOf(got), "value")
        self.assertEqual([str(error) for error in failed], ["ERR refused"])

    def test_a_lost_connection_fails_what_waits_for_a_reply(self) -> None:
        fake = FakeLink()
        commands = connected(link._Commands, fake)
        failed: list[Exception] = []
        link.post(commands, link.Quiet(failed.append), link.command(b"PUBLISH", b"c", b"x"))
        commands.transport.loseConnection()
        commands.connectionLost(txredisapi.ConnectionError("gone"))
        self.assertEqual([type(error) for error in failed], [txredisapi.ConnectionError])
        self.assertEqual(fake.gone, [commands])
