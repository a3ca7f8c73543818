"""Ids for events, sessions and rooms: unique for the life of the data, in time order.

An id names a message in history, an IRC ``msgid``, a ``CHATHISTORY`` reference, a room's
identity; a counter that starts again at each restart gave two messages one id. So an id is a
ULID (https://github.com/ulid/spec): 26 characters of Crockford base32, the first 10 the
milliseconds since the epoch (48 bits, from the injected clock), the last 16 eighty bits that
start at random in each millisecond and count up within it. Ids made by one process sort in
the order they were made, even if the clock steps back (the last millisecond is kept until
the clock passes it); two processes collide only if they draw the same 79 random bits in the
same millisecond.

Ids are on every message's path, so the random bits come from a Mersenne Twister seeded once
from the system's entropy (an id is a name, not a secret: nothing is guarded by guessing one),
drawn once per millisecond, and the characters are looked up ten bits at a time (what an
id costs against the counter it replaced: docs/performance.md).
"""

from __future__ import annotations

import random

from twisted.internet.interfaces import IReactorTime

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of base32 characters, by the ten bits they stand for.
_PAIRS = [a + b for a in CROCKFORD for b in CROCKFORD]
# The random part starts below 2**79, so a million ids in one millisecond can't overflow it.
_START_BITS = 79
_MASK = 1023
LENGTH = 26


def _time_part(ms: int) -> str:
    """48 bits of milliseconds as 10 characters (the first holds 3 bits: 0 to 7)."""
    pairs = _PAIRS
    return (CROCKFORD[(ms >> 45) & 7] + CROCKFORD[(ms >> 40) & 31] + pairs[(ms >> 30) & _MASK]
            + pairs[(ms >> 20) & _MASK] + pairs[(ms >> 10) & _MASK] + pairs[ms & _MASK])


class Ids:
    """Makes ULIDs from ``clock``; ``rng`` for tests (default: seeded from os.urandom)."""

    __slots__ = ("_clock", "_ms", "_n", "_random", "_stem")

    def __init__(self, clock: IReactorTime, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._random = rng or random.Random()
        self._ms = -1
        self._n = 0
        # The id's first 24 characters, the same for the next ids until the low ten bits
        # carry over: most ids in a busy millisecond cost one lookup.
        self._stem = ""

    def __call__(self) -> str:
        ms = int(self._clock.seconds() * 1000)
        if ms > self._ms:
            self._ms = ms
            n = self._n = self._random.getrandbits(_START_BITS)
        else:
            # The same millisecond, or the clock went back: count on from the last id.
            n = self._n = self._n + 1
            if n & _MASK:
                return self._stem + _PAIRS[n & _MASK]
        pairs = _PAIRS
        stem = self._stem = (
            _time_part(self._ms) + pairs[n >> 70] + pairs[(n >> 60) & _MASK]
            + pairs[(n >> 50) & _MASK] + pairs[(n >> 40) & _MASK] + pairs[(n >> 30) & _MASK]
            + pairs[(n >> 20) & _MASK] + pairs[(n >> 10) & _MASK])
        return stem + pairs[n & _MASK]
