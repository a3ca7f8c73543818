"""IRC keep-alive: PING a silent client, close it if it does not answer, for every IRC
connection of a frontend in one sweep a second.

A timer per connection, reset on every line it sends, cost each line a timer reset (and,
under ``task.Clock``, a re-sort of every timer) and each connection a ``DelayedCall``. Here a
line costs storing the next sweep's time on the connection (``soon``: one float shared by
every connection, none made per line or kept by each), and one ``LoopingCall`` (running only
while there are connections) looks at them all: a PING goes at the first sweep after
``ping_interval`` seconds of silence, the close at the first sweep after ``ping_timeout``
more, so each at most a second later than its deadline.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

# Seconds between sweeps: how late a PING or a close may be.
SWEEP_INTERVAL = 1.0


class Pingable(Protocol):
    """What the sweep needs of a connection."""

    # When the client last sent anything (or rather the next sweep's time then, ``soon``;
    # or when it was let in), and when it was last pinged; a PING is unanswered while
    # ``pinged_at > heard``.
    heard: float
    pinged_at: float

    def ping(self) -> None:
        """Send the client a PING."""

    def timed_out(self) -> None:
        """No answer to the PING: close the connection."""


class KeepAlive:
    __slots__ = ("_clock", "_interval", "_live", "_sweep", "_timeout", "soon")

    def __init__(self, clock: IReactorTime, interval: float, timeout: float) -> None:
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._live: dict[Pingable, None] = {}
        # When the next sweep runs: what a connection that sent something stores as ``heard``
        # (no earlier than it spoke, at most a sweep later: the sweep's resolution anyway).
        self.soon = clock.seconds() + SWEEP_INTERVAL
        self._sweep = LoopingCall(self.sweep)
        self._sweep.clock = clock

    def add(self, connection: Pingable) -> None:
        """Watch ``connection``, silent from now on until it sends something."""
        now = self._clock.seconds()
        connection.heard = now
        if not self._live:
            self.soon = now + SWEEP_INTERVAL
        self._live[connection] = None
        if not self._sweep.running:
            self._sweep.start(SWEEP_INTERVAL, now=False)

    def remove(self, connection: Pingable) -> None:
        self._live.pop(connection, None)
        if not self._live and self._sweep.running:
            self._sweep.stop()

    def sweep(self) -> None:
        """PING who has been silent for ``interval``; close who has not answered one within
        ``timeout``."""
        now = self._clock.seconds()
        self.soon = now + SWEEP_INTERVAL
        quiet, late = now - self._interval, now - self._timeout
        for connection in list(self._live):
            if connection.pinged_at > connection.heard:  # pinged, no answer yet
                if connection.pinged_at <= late:
                    self.remove(connection)
                    connection.timed_out()
            elif connection.heard <= quiet:
                connection.pinged_at = now
                connection.ping()
