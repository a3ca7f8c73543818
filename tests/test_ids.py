"""Ids (chatd.core.ids): ULIDs from the injected clock, unique and in the order made."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.core.ids import CROCKFORD, LENGTH, Ids


def _ms(ulid: str) -> int:
    """The milliseconds an id's first ten characters hold."""
    value = 0
    for char in ulid[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


class IdsTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
        self.ids = Ids(self.clock)

    def test_an_id_is_26_crockford_characters_starting_with_the_clocks_milliseconds(self) -> None:
        made = self.ids()
        self.assertEqual(len(made), LENGTH)
        self.assertTrue(set(made) <= set(CROCKFORD))
        self.assertEqual(_ms(made), int(self.clock.seconds() * 1000))

    def test_ids_in_one_millisecond_are_distinct_and_in_order(self) -> None:
        made = [self.ids() for _ in range(10_000)]
        self.assertEqual(len(set(made)), len(made))
        self.assertEqual(made, sorted(made))

    def test_ids_across_milliseconds_are_in_order(self) -> None:
        made = []
        for _ in range(200):
            made.append(self.ids())
            self.clock.advance(0.0007)
        self.assertEqual(len(set(made)), len(made))
        self.assertEqual(made, sorted(made))

    def test_a_clock_stepping_back_never_repeats_or_reorders_ids(self) -> None:
        before = [self.ids() for _ in range(50)]
        self.clock.advance(-3600.0)
        after = [self.ids() for _ in range(50)]
        made = before + after
        self.assertEqual(len(set(made)), len(made))
        self.assertEqual(made, sorted(made))
        # Once the clock passes the last millisecond again, ids take its time.
        self.clock.advance(3601.0)
        self.assertEqual(_ms(self.ids()), int(self.clock.seconds() * 1000))

    def test_two_processes_at_the_same_time_make_different_ids(self) -> None:
        """A restart (or another node) in the same millisecond starts from other bits."""
        first = [Ids(self.clock)() for _ in range(1_000)]
        self.assertEqual(len(set(first)), len(first))
