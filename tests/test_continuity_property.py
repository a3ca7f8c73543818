"""A state machine over continuity as a whole: two devices of one account, random drops
(the seat held), resumes, reads (``/read``, to a message or the newest) and messages from a
third user. At every resume, what the device had been delivered plus what the resume gave
it is every message it should have, once: all that was said since it began, except what was
said while it was away and read meanwhile on the other device (the read marker). And the
unread count of every live device always agrees with the account's read marker."""

from __future__ import annotations

from pathlib import Path
from tempfile import mkdtemp
from typing import TypeVar

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.core.reading import load_markers
from chatd.core.service import Limits
from chatd.core.session import Session
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import LeaveReason, Said
from chatd.kernel.history import HistoryQuery

from fakes import RecordingMind, World

GRACE = 100.0
T = TypeVar("T")


def result_of(deferred: Deferred[T]) -> T:
    """What a Deferred that has fired gave (every write here is synchronous)."""
    results: list[T] = []
    failures: list[object] = []
    deferred.addCallbacks(results.append, failures.append)
    assert results, failures
    return results[0]


class Device:
    """One device's line of attention: a session, the seat it left, the session that took
    that seat back... ``seen`` is every room message it was shown (live or replayed),
    ``expected`` every one it should have been."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.expected: list[str] = []
        self.dropped_at = 0  # how many messages had been said when its seat was left
        self.mind: RecordingMind | None = None
        self.session: Session | None = None

    def take_live(self) -> None:
        if self.mind is not None:
            self.seen += [event.id for event in self.mind.events if isinstance(event, Said)]
            self.mind.events.clear()


class Continuity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.history = MemoryHistory(self.clock, Retention(count=10_000))
        self.world = World(Path(mkdtemp()), Limits(messages_burst=10**9, seat_grace=GRACE,
                                                   max_sessions_per_account=2),
                           history=self.history, clock=self.clock)
        self.server = self.world.server
        self.account_id = result_of(self.world.directory.signup("alice", "password1")).id
        self.said: list[str] = []
        self.marker: str | None = None  # the account's read marker of lobby, as modelled
        self.talker, _ = self.world.spy("bob")
        self.talker.join("lobby")
        self.live: list[Device] = []
        self.held: list[Device] = []  # oldest first, as the core resumes them
        self.log_in()

    # -- the rules -----------------------------------------------------------------------

    @precondition(lambda self: len(self.live) + len(self.held) < 2 or self.held)
    @rule()
    def log_in(self) -> None:
        session = self.server.connect("alice", False, account_id=self.account_id)
        load_markers(self.server, session.user)  # as the realm does at a login
        mind = RecordingMind()
        self.world.delivery.attach(session.key, session.id, mind)
        if self.held:
            device = self.held.pop(0)
            for missed in session.missed():
                assert missed.more == 0
                device.seen += [event.id for event in missed.events]
            # The seam: what it was delivered, then the missed messages not read elsewhere.
            read = sum(1 for message in self.said if self.marker and message <= self.marker)
            device.expected += self.said[max(device.dropped_at, read):]
            assert device.seen == device.expected, (device.seen, device.expected, self.said)
        else:
            device = Device()
            assert session.missed() == ()
            if "lobby" not in session.user.rooms:  # every seat ended: a fresh start
                session.join("lobby")
        device.mind, device.session = mind, session
        self.live.append(device)

    @rule(text=st.text(min_size=1, max_size=5).filter(str.isprintable).filter(str.strip))
    def say(self, text: str) -> None:
        self.talker.say(text, "lobby")
        room = self.server.rooms["lobby"]
        said = self.history.query(room.conversation, HistoryQuery("latest", 1))[0].id
        self.said.append(said)
        for device in self.live:
            device.expected.append(said)

    @precondition(lambda self: self.live)
    @rule(which=st.integers(0, 1), reason=st.sampled_from([LeaveReason.LOST,
                                                          LeaveReason.TIMEOUT]))
    def drop(self, which: int, reason: LeaveReason) -> None:
        device = self.live.pop(which % len(self.live))
        device.take_live()
        assert device.session is not None
        device.session.quit(reason)
        self.world.delivery.detach("alice", device.session.id)
        device.mind = device.session = None
        device.dropped_at = len(self.said)
        self.held.append(device)

    @precondition(lambda self: self.live)
    @rule(which=st.integers(0, 1), upto=st.one_of(st.none(), st.integers(0, 10_000)))
    def read(self, which: int, upto: int | None) -> None:
        """A device reads lobby up to a message said (or the newest: None)."""
        session = self.live[which % len(self.live)].session
        assert session is not None
        if upto is None:
            marker = self.said[-1] if self.said else None
            kept = session.mark_read("lobby")
        else:
            if not self.said:
                return
            marker = self.said[upto % len(self.said)]
            kept = session.mark_read("lobby", marker)
        if marker is not None and (self.marker is None or marker > self.marker):
            self.marker = marker
        # Markers only move forward; the answer is the one kept, once durable.
        assert result_of(kept) == self.marker

    @rule(seconds=st.floats(0, GRACE / 2))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        # The seats whose grace passed (the oldest) end, in the core and in the model.
        left = len(self.server.seats.held.get("alice", ()))
        self.held = self.held[len(self.held) - left:]

    # -- what must always hold -----------------------------------------------------------

    @invariant()
    def every_message_once_and_in_order(self) -> None:
        for device in self.live:
            device.take_live()
            assert device.seen == device.expected, (device.seen, device.expected)
            assert len(set(device.seen)) == len(device.seen)

    @invariant()
    def the_unread_count_agrees_with_the_marker(self) -> None:
        for device in self.live:
            assert device.session is not None
            assert device.session.read_marker("lobby") == self.marker
            if self.marker is None:
                continue  # nothing read: the replay is the last messages, not "unread"
            events, more = device.session.unread_messages("lobby", 10_000)
            assert more == 0
            unread = [event.id for event in events if isinstance(event, Said)]
            assert unread == [message for message in self.said if message > self.marker]


class ContinuityTests(TestCase):
    def test_drops_resumes_reads_and_messages_never_gap_duplicate_or_miscount(self) -> None:
        machine = Continuity.TestCase
        machine.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
        machine().runTest()
