"""Rate limits, all on an injected clock so tests step through time.

``TokenBucket``: ``burst`` at once, then ``rate`` per second (a session's messages).
``FailureLimiter``: a token bucket per key that only failures drain (failed logins per
account and per address, wrong room passwords per user and room): a user who gets it right
is never slowed, a guesser is held to about one guess per ``interval``. ``WindowCounter``:
at most ``limit`` events per key in any ``window`` seconds (new connections and signups per
address). Keyed limiters bound their memory: past ``max_keys`` keys, entries that no longer
hold anything back are forgotten. ``LoginThrottle``: the failed-login limits, read by the
accounts (per account and address) and the Portal (guest nicks that hit a registered name).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from chatd.kernel.keys import shared


class TokenBucket:
    __slots__ = ("_stamp", "_tokens")

    def __init__(self, burst: float, now: float) -> None:
        self._tokens = burst
        self._stamp = now

    def take(self, burst: float, rate: float, now: float) -> bool:
        """Spend a token if there is one. The parameters are passed in, not kept, so a
        reloaded configuration applies to every existing bucket at once."""
        tokens = min(burst, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if tokens < 1:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1
        return True

    def wait(self, burst: float, rate: float, now: float) -> float:
        """Seconds until ``take`` would succeed, spending nothing; 0 if now (infinite with
        no rate): what a sender that holds its lines back instead of losing them waits."""
        tokens = min(burst, self._tokens + (now - self._stamp) * rate)
        if tokens >= 1:
            return 0.0
        return (1 - tokens) / rate if rate > 0 else float("inf")


class WindowCounter:
    """At most ``limit`` events per key in any ``window`` seconds."""

    __slots__ = ("_events", "clock", "limit", "max_keys", "window")

    def __init__(
        self, clock: IReactorTime, limit: int, window: float, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def wait(self, key: str) -> float:
        """Seconds until another event is allowed for ``key``; 0 if now."""
        now = self.clock.seconds()
        events = self._recent(key, now)
        return 0.0 if len(events) < self.limit else events[0] + self.window - now

    def record(self, key: str) -> None:
        now = self.clock.seconds()
        self._add(key, self._recent(key, now), now)

    def take(self, key: str) -> float:
        """``wait``, and if that is 0 the event recorded: one look at the key's events, for
        a limit checked and counted at once (a new connection)."""
        now = self.clock.seconds()
        events = self._recent(key, now)
        if len(events) >= self.limit:
            return events[0] + self.window - now
        self._add(key, events, now)
        return 0.0

    def _add(self, key: str, events: deque[float], now: float) -> None:
        events.append(now)
        self._events[key] = events
        if len(self._events) > self.max_keys:
            self._events = {k: v for k, v in self._events.items() if self._recent(k, now)}


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

    def configure(self, burst: int, interval: float) -> None:
        """New limits (a reload); what each key has used so far is kept."""
        self.burst, self.interval = burst, interval

    def _tokens(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - since) / self.interval)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 if it may try now."""
        if key not in self._buckets and self.burst >= 1:
            return 0.0  # never failed (or long forgotten): nearly every guest's address
        tokens = self._tokens(key, self.clock.seconds())
        return 0.0 if tokens >= 1 else (1 - tokens) * self.interval

    def failed(self, key: str) -> None:
        now = self.clock.seconds()
        self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)
        if len(self._buckets) > self.max_keys:
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.burst
            }


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Failed logins allowed at once, and seconds per further one, per account and address."""

    account_burst: int = shared("login-failures-per-account")
    account_interval: float = 60.0
    address_burst: int = shared("login-failures-per-address")
    address_interval: float = 30.0
