"""Throttles on failed logins, per account and per source address.

A token bucket per key: ``burst`` failures are allowed at once, then one more per
``interval`` seconds. Only failures take tokens, so a user who types the password right is
never slowed; a guesser is held to about one guess a minute per account and per address,
and is refused without a password hash being spent on the guess. The clock is injected so
tests can step through time. Memory is bounded: past ``max_keys`` keys, the buckets that
have refilled completely are forgotten (they hold no information).
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime


class FailureLimiter:
    __slots__ = ("_buckets", "burst", "clock", "interval", "max_keys")

    def __init__(
        self, clock: IReactorTime, burst: int, interval: float, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.burst = burst
        self.interval = interval
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - since) / self.interval)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 if it may try now."""
        tokens = self._tokens(key, self.clock.seconds())
        return 0.0 if tokens >= 1 else (1 - tokens) * self.interval

    def failed(self, key: str) -> None:
        now = self.clock.seconds()
        self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)
        if len(self._buckets) > self.max_keys:
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.burst
            }
