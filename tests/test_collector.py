"""chatd.collector.Collector: the start-up heap is frozen out of garbage collection once the
reactor runs, and the thresholds are raised."""

from __future__ import annotations

import gc
from collections.abc import Callable

from twisted.trial.unittest import TestCase

from chatd.collector import GC_THRESHOLDS, Collector


class Reactor:
    def __init__(self) -> None:
        self.when_running: list[Callable[[], None]] = []

    def callWhenRunning(self, call: Callable[[], None]) -> None:
        self.when_running.append(call)


class TheCollector(TestCase):
    def setUp(self) -> None:
        thresholds = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *thresholds)
        self.addCleanup(gc.unfreeze)

    def test_nothing_is_frozen_before_the_reactor_runs(self) -> None:
        gc.unfreeze()
        reactor = Reactor()
        Collector(reactor).startService()
        self.assertEqual(gc.get_freeze_count(), 0)
        self.assertEqual(len(reactor.when_running), 1)

    def test_once_running_the_heap_is_frozen_and_the_thresholds_raised(self) -> None:
        gc.unfreeze()
        reactor = Reactor()
        Collector(reactor).startService()
        reactor.when_running[0]()
        self.assertGreater(gc.get_freeze_count(), 0)
        self.assertEqual(gc.get_threshold(), GC_THRESHOLDS)
