"""The rate limiters on a fake clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chatd.kernel.ratelimit import FailureLimiter, WindowCounter


class WindowCounterTests(SynchronousTestCase):
    def test_take_counts_until_the_limit_then_says_how_long_to_wait(self) -> None:
        clock = Clock()
        counter = WindowCounter(clock, limit=2, window=10.0)
        self.assertEqual(counter.take("a"), 0.0)
        clock.advance(4)
        self.assertEqual(counter.take("a"), 0.0)
        self.assertEqual(counter.take("a"), 6.0)
        self.assertEqual(counter.wait("a"), 6.0, "a refused take is not counted")
        self.assertEqual(counter.take("b"), 0.0, "per key")
        clock.advance(6)
        self.assertEqual(counter.take("a"), 0.0)
        self.assertEqual(counter.take("a"), 4.0)

    def test_take_and_record_count_alike(self) -> None:
        clock = Clock()
        counter = WindowCounter(clock, limit=3, window=10.0)
        counter.record("a")
        counter.take("a")
        counter.record("a")
        self.assertEqual(counter.take("a"), 10.0)

    def test_keys_past_the_bound_that_hold_nothing_back_are_forgotten(self) -> None:
        clock = Clock()
        counter = WindowCounter(clock, limit=1, window=10.0, max_keys=2)
        counter.take("a")
        clock.advance(10)
        counter.take("b")
        counter.take("c")
        self.assertEqual(counter.take("b"), 10.0)
        self.assertEqual(counter.take("a"), 0.0)


class FailureLimiterTests(SynchronousTestCase):
    def test_a_key_that_never_failed_waits_for_nothing(self) -> None:
        limiter = FailureLimiter(Clock(), burst=2, interval=30.0)
        self.assertEqual(limiter.wait("10.0.0.1"), 0.0)

    def test_failures_past_the_burst_wait_an_interval_each(self) -> None:
        clock = Clock()
        limiter = FailureLimiter(clock, burst=2, interval=30.0)
        limiter.failed("k")
        self.assertEqual(limiter.wait("k"), 0.0)
        limiter.failed("k")
        self.assertEqual(limiter.wait("k"), 30.0)
        clock.advance(20)
        self.assertAlmostEqual(limiter.wait("k"), 10.0)
        clock.advance(10)
        self.assertEqual(limiter.wait("k"), 0.0)

    def test_no_burst_holds_back_even_a_key_that_never_failed(self) -> None:
        self.assertEqual(FailureLimiter(Clock(), burst=0, interval=30.0).wait("k"), 30.0)
