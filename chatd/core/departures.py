"""Who was online under a name (WHOWAS): a bounded memory of departures, newest first.

A name is recorded when its user goes offline or is renamed, with how the user described
itself (``Ident``) and when it logged in. Memory is bounded twice: a few departures per
name, and a fixed number of names, the least recently recorded forgotten first; nothing is
persisted (a restart forgets, as IRC servers do).
"""

from __future__ import annotations

from collections import OrderedDict, deque

from chatd.kernel.names import fold
from chatd.kernel.views import DepartureView

# Departures kept per name, and names kept in all.
PER_NAME = 8
NAMES = 2048


class Departures:
    """The recent departures, by folded name."""

    __slots__ = ("_by_name", "names", "per_name")

    def __init__(self, per_name: int = PER_NAME, names: int = NAMES) -> None:
        self.per_name = per_name
        self.names = names
        self._by_name: OrderedDict[str, deque[DepartureView]] = OrderedDict()

    def record(self, departure: DepartureView) -> None:
        key = fold(departure.name)
        kept = self._by_name.pop(key, None)
        if kept is None:
            kept = deque(maxlen=self.per_name)
        kept.appendleft(departure)
        self._by_name[key] = kept
        while len(self._by_name) > self.names:
            self._by_name.popitem(last=False)

    def lookup(self, name: str, count: int = 0) -> list[DepartureView]:
        """The departures of ``name``, newest first; at most ``count`` if it is above 0."""
        kept = list(self._by_name.get(fold(name), ()))
        return kept[:count] if count > 0 else kept
