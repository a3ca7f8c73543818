"""The connection policy with no stream under it, as a datagram peer or a WebSocket protocol
would use it; and the stream sink's abort."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from chatd.frontends.admission import Admission, AdmissionLimits
from chatd.frontends.outbox import Flusher, Outbox
from chatd.frontends.policy import QUEUE_PAUSE, ConnectionPolicy
from chatd.frontends.sink import ISink
from chatd.kernel.events import LeaveReason

from fakes import OutboxOwner


@implementer(ISink)
class ListSink:
    """Output kept in a list; closing tells the policy, as every sink must."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.queued = 0
        self.policy: ConnectionPolicy[str] | None = None

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.sent.append(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        assert self.policy is not None
        self.policy.closing()

    def abort(self) -> None:
        self.closed = True
        self.aborted = True


class Peer:
    """A client that sends datagrams of text: each one is an item."""

    kind = "test"
    peer = "192.0.2.7:9"

    def __init__(self, sink: ListSink) -> None:
        self.sink = sink
        self.leave_reason = LeaveReason.LOST
        self.handled: list[str] = []
        self.slow: dict[str, Deferred[None]] = {}
        self.reading = True

    def handle(self, item: str) -> Deferred[None] | None:
        self.handled.append(item)
        self.sink.write(f"ok {item}".encode())
        return self.slow.get(item)

    def close(self, why: str) -> None:
        self.sink.write(f"bye: {why}".encode())
        self.sink.close()

    def login_timeout_text(self) -> str:
        return "too slow"

    def too_much_text(self) -> str:
        return "too much"

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Home:
    """What a datagram frontend would share among its peers."""

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.clock = Clock()
        self.admission = Admission(self.clock, limits or AdmissionLimits())
        self.handshake_timeout = 10.0
        self.close_grace = 5.0


class Settings:
    login_timeout = 30.0
    max_bytes_before_login = 100


class PolicyTestCase(TestCase):
    def setUp(self) -> None:
        self.home = Home()

    def open(self, handshake: str | None = None,
             home: Home | None = None) -> tuple[ConnectionPolicy[str], Peer, ListSink, bool]:
        home = home or self.home
        sink = ListSink()
        peer = Peer(sink)
        policy: ConnectionPolicy[str] = ConnectionPolicy(home, Settings(), peer, sink,
                                                         "192.0.2.7")
        sink.policy = policy
        return policy, peer, sink, policy.open(handshake)


class Admitting(PolicyTestCase):
    def test_a_refused_peer_is_told_why_and_holds_no_slot(self) -> None:
        home = Home(AdmissionLimits(per_address=1))
        _, _, _, first = self.open(home=home)
        _, _, sink, second = self.open(home=home)
        self.assertEqual((first, second), (True, False))
        self.assertEqual(sink.sent, [b"bye: too many connections from 192.0.2.7 (1 at once)"])
        self.assertEqual(home.admission.total, 1)

    def test_a_lost_peer_gives_its_slot_back_and_leaves_no_timer(self) -> None:
        policy, _, _, _ = self.open()
        policy.logged_in()
        policy.lost()
        self.assertEqual(self.home.admission.total, 0)
        self.assertEqual(self.home.clock.getDelayedCalls(), [])


class BeforeLogin(PolicyTestCase):
    def test_the_login_timer_closes_with_the_peers_own_words(self) -> None:
        _, peer, sink, _ = self.open()
        self.home.clock.advance(30)
        self.assertEqual(sink.sent, [b"bye: too slow"])
        self.assertEqual(peer.leave_reason, LeaveReason.TIMEOUT)

    def test_logging_in_stops_the_login_timer(self) -> None:
        policy, _, sink, _ = self.open()
        policy.logged_in()
        self.home.clock.advance(30)
        self.assertFalse(sink.closed)

    def test_too_many_bytes_before_login_close_the_peer_and_are_ignored(self) -> None:
        policy, peer, sink, _ = self.open()
        self.assertTrue(policy.received(100))
        self.assertFalse(policy.received(1))
        self.assertEqual(sink.sent, [b"bye: too much"])
        self.assertEqual(peer.handled, [])

    def test_the_byte_cap_is_for_anonymous_peers(self) -> None:
        policy, _, _, _ = self.open()
        policy.logged_in()
        self.assertTrue(policy.received(10_000))


class OneAtATime(PolicyTestCase):
    def test_items_behind_a_slow_one_wait_and_run_in_order(self) -> None:
        policy, peer, sink, _ = self.open()
        peer.slow["login"] = Deferred()
        policy.push(["login", "join", "hi"])
        self.assertEqual(peer.handled, ["login"])
        self.assertFalse(policy.idle())
        peer.slow["login"].callback(None)
        self.assertEqual(peer.handled, ["login", "join", "hi"])
        self.assertEqual(sink.sent, [b"ok login", b"ok join", b"ok hi"])
        self.assertTrue(policy.idle())

    def test_reading_pauses_behind_a_long_queue_and_resumes_once_drained(self) -> None:
        policy, peer, _, _ = self.open()
        peer.slow["login"] = Deferred()
        policy.push(["login"] + ["x"] * QUEUE_PAUSE)
        self.assertTrue(peer.reading, "a queue of QUEUE_PAUSE does not pause")
        policy.push(["x"])
        self.assertFalse(peer.reading)
        peer.slow["login"].callback(None)
        self.assertTrue(peer.reading)

    def test_the_end_of_input_closes_once_the_last_reply_is_out(self) -> None:
        policy, peer, sink, _ = self.open()
        peer.slow["login"] = Deferred()
        policy.push(["login", "hi"])
        policy.end_of_input()
        self.assertFalse(sink.closed, "a reply is still owed")
        peer.slow["login"].callback(None)
        self.assertEqual(sink.sent, [b"ok login", b"ok hi"])
        self.assertTrue(sink.closed)

    def test_nothing_is_handled_once_the_sink_is_closed(self) -> None:
        policy, peer, sink, _ = self.open()
        sink.close()
        policy.push(["hi"])
        self.assertEqual(peer.handled, [])


class BoundedHandshakeAndClose(PolicyTestCase):
    def test_a_peer_that_never_finishes_its_handshake_is_aborted(self) -> None:
        _, _, sink, admitted = self.open(handshake="WebSocket")
        self.assertTrue(admitted)
        self.home.clock.advance(9.9)
        self.assertFalse(sink.aborted)
        self.home.clock.advance(0.1)
        self.assertTrue(sink.aborted)

    def test_a_close_before_the_handshake_is_an_abort(self) -> None:
        _, peer, sink, _ = self.open(handshake="WebSocket")
        peer.close("no")
        self.assertTrue(sink.aborted)

    def test_a_close_that_never_ends_is_aborted_after_the_grace(self) -> None:
        policy, _, sink, _ = self.open(handshake="WebSocket")
        policy.handshaken()
        self.home.clock.advance(30)  # no handshake deadline left; the login timer fires
        self.assertTrue(sink.closed)
        self.assertFalse(sink.aborted)
        self.home.clock.advance(5)
        self.assertTrue(sink.aborted)


class TheStreamSink(TestCase):
    def test_abort_sends_nothing_that_waits_and_drops_the_connection(self) -> None:
        clock, transport = Clock(), StringTransport()
        outbox = Outbox(transport, Flusher(clock), 1024, OutboxOwner())
        outbox.write(b"never sent\r\n")
        outbox.abort()
        clock.advance(0)
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnected)
        self.assertTrue(outbox.closed)


class ConnectionShapeTests(TestCase):
    def test_stream_connections_have_no_dict(self) -> None:
        """Thousands of idle connections: every byte of one is in its slots, none in a
        __dict__ (a base class without slots, such as Twisted's Protocol or TimeoutMixin,
        would bring one back: docs/performance.md, "Round three")."""
        from chatd.frontends.irc.protocol import IRCProtocol
        from chatd.frontends.line import LineProtocol

        for cls in (IRCProtocol, LineProtocol, ConnectionPolicy):
            self.assertEqual(cls.__dictoffset__, 0, cls.__name__)
