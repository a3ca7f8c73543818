"""A state machine over seats: random drops, resumes, logins and messages across two sessions
of one account never leave a gap or a duplicate at the seam between what a seat saw, what
its resume replayed, and the live traffic after it."""

from __future__ import annotations

from pathlib import Path
from tempfile import mkdtemp

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.core.service import Limits
from chatd.core.session import Session
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import LeaveReason, Said
from chatd.kernel.history import HistoryQuery

from fakes import RecordingMind, World

GRACE = 100.0


class Lineage:
    """One line of a user's attention: a session, the seat it left, the session that took
    that seat... ``seen`` is every room message it was shown, live or replayed."""

    def __init__(self, start: int) -> None:
        self.start = start  # how many room messages were said before it began
        self.seen: list[str] = []
        self.mind: RecordingMind | None = None
        self.session: Session | None = None

    def take_live(self) -> None:
        """Move what its mind got live into ``seen``."""
        if self.mind is not None:
            self.seen += [event.id for event in self.mind.events if isinstance(event, Said)]
            self.mind.events.clear()


class Seams(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        history = self.history = MemoryHistory(self.clock, Retention(count=10_000))
        self.world = World(Path(mkdtemp()), Limits(messages_burst=10**9, seat_grace=GRACE,
                                                   max_sessions_per_account=2),
                           history=history, clock=self.clock)
        self.server = self.world.server
        self.said: list[str] = []
        self.talker, _ = self.world.spy("bob")
        self.talker.join("lobby")
        self.live: list[Lineage] = []
        self.held: list[Lineage] = []  # oldest first, as the core resumes them
        self.login()

    def login(self) -> Lineage:
        session = self.server.connect("alice", False, account_id="a1")
        mind = RecordingMind()
        self.world.delivery.attach(session.key, session.id, mind)
        if self.held:
            lineage = self.held.pop(0)
            for missed in session.missed():
                assert missed.more == 0
                lineage.seen += [event.id for event in missed.events]
        else:
            lineage = Lineage(len(self.said))
            assert session.missed() == ()
            if "lobby" not in session.user.rooms:  # every seat ended: a fresh start
                session.join("lobby")
        lineage.mind, lineage.session = mind, session
        self.live.append(lineage)
        return lineage

    @rule(text=st.text(min_size=1, max_size=5).filter(str.isprintable).filter(str.strip))
    def say(self, text: str) -> None:
        self.talker.say(text, "lobby")
        room = self.server.rooms["lobby"]
        self.said.append(self.history.query(room.conversation, HistoryQuery("latest", 1))[0].id)

    @precondition(lambda self: self.live)
    @rule(which=st.integers(0, 1), reason=st.sampled_from([LeaveReason.LOST,
                                                          LeaveReason.TIMEOUT]))
    def drop(self, which: int, reason: LeaveReason) -> None:
        lineage = self.live.pop(which % len(self.live))
        lineage.take_live()
        assert lineage.session is not None
        lineage.session.quit(reason)
        self.world.delivery.detach("alice", lineage.session.id)
        lineage.mind = lineage.session = None
        self.held.append(lineage)

    @precondition(lambda self: len(self.live) + len(self.held) < 2 or self.held)
    @rule()
    def log_in(self) -> None:
        self.login()

    @rule(seconds=st.floats(0, GRACE / 2))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        # The seats whose grace passed (the oldest) end, in the core and in the model.
        left = len(self.server.seats.held.get("alice", ()))
        self.held = self.held[len(self.held) - left:]

    @invariant()
    def no_gap_and_no_duplicate(self) -> None:
        for lineage in self.live:
            lineage.take_live()
            assert lineage.seen == self.said[lineage.start:], (lineage.start, lineage.seen,
                                                               self.said)
        if self.live or self.held:
            assert "alice" in self.server.rooms["lobby"].members


class SeamTests(TestCase):
    def test_random_drops_resumes_and_messages_keep_the_seam(self) -> None:
        machine = Seams.TestCase
        machine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
        machine().runTest()
