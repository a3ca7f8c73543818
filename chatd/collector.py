"""The cyclic garbage collector, kept out of the latency tail once the daemon has started."""

from __future__ import annotations

import gc

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorCore
from twisted.logger import Logger

log = Logger()

# The collector's generation thresholds: a young collection every 20,000 allocations rather
# than 700 (each one's cost grows with the young objects, not the heap), older ones rarer.
GC_THRESHOLDS = (20_000, 20, 20)


class Collector(Service):
    """Keeps the cyclic garbage collector out of the latency tail.

    Start-up leaves some hundred thousand long-lived objects (Twisted, zope, the settings,
    the loaded rooms and history); a full collection walks all of them, a pause of tens of
    milliseconds in the middle of a reactor turn. Once the reactor runs they are moved to
    the permanent generation (``gc.freeze``), which collections never walk, and the
    thresholds are raised (``GC_THRESHOLDS``). Chat makes few cycles: its garbage goes by
    reference counting, so collecting less often costs memory only for cycles.
    """

    def __init__(self, reactor: IReactorCore) -> None:
        self.reactor = reactor

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(self.freeze)

    def freeze(self) -> None:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info("{count} objects from start-up frozen out of garbage collection",
                 count=gc.get_freeze_count())
