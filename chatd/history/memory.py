"""History kept in memory: the retained messages of every conversation, and the rules of
retention (by count and by age). The file store is this plus persistence; tests use this
alone.

Only messages are kept: ``Said`` in rooms and, with ``keep_private``, ``Private`` between
accounts (one copy per account party, see ``private_key``). Joins, parts and topic changes
belong to transcripts, not to "what did I miss". Appending is a deque append, so keeping
history costs a room message one call and no per-recipient work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from chatd.kernel.events import Event, Private, Redacted, Said
from chatd.kernel.history import HistoryQuery, private_key, room_conversation, select
from chatd.kernel.interfaces import IHistoryStore
from chatd.kernel.keys import shared
from chatd.kernel.names import fold


@dataclass(frozen=True, slots=True)
class Retention:
    """How much is kept: ``count`` messages per conversation, none older than ``age``
    seconds (0: no age limit); private messages only with ``private``."""

    count: int = shared("history-max-count")
    age: float = shared("history-max-age")
    private: bool = shared("history-private")


@implementer(IHistoryStore)
class MemoryHistory:
    def __init__(self, clock: IReactorTime, retention: Retention) -> None:
        self.clock = clock
        self.retention = retention
        self.kept: dict[str, deque[Event]] = {}

    # -- the bus -----------------------------------------------------------------------

    def room_event(self, room_key: str, event: Event) -> None:
        if type(event) is Said:
            # ``_keep`` written out: this runs for every message said. Kept under the room
            # it was said in, not under its name (``room_conversation``).
            key = room_conversation(room_key, event.room_id)
            events = self.kept.get(key)
            if events is None:
                events = self.kept[key] = deque(maxlen=self.retention.count)
            events.append(event)
            self.kept_one(key, event)
        elif type(event) is Redacted:
            assert isinstance(event, Redacted)
            self.remove(room_conversation(room_key, event.room_id), event.message_id)

    def user_event(self, user_key: str, event: Event) -> None:
        if type(event) is Private and self.retention.private:
            assert isinstance(event, Private)
            for key in self._copies(event.sender_id, event.sender, event.recipient_id,
                                    event.recipient):
                self._keep(key, event)
        elif type(event) is Redacted:
            assert isinstance(event, Redacted)
            for key in self._copies(event.sender_id, event.sender, event.recipient_id,
                                    event.recipient):
                self.remove(key, event.message_id)

    @staticmethod
    def _copies(sender_id: str, sender: str, recipient_id: str, recipient: str) -> set[str]:
        """The keys a private message is kept under: each account party's own copy, one
        copy when a user wrote to itself (both parties' keys are the same key)."""
        keys = set()
        if sender_id:
            keys.add(private_key(sender_id, fold(recipient)))
        if recipient_id:
            keys.add(private_key(recipient_id, fold(sender)))
        return keys

    def _keep(self, key: str, event: Event) -> None:
        events = self.kept.get(key)
        if events is None:
            events = self.kept[key] = deque(maxlen=self.retention.count)
        events.append(event)
        self.kept_one(key, event)

    def kept_one(self, key: str, event: Event) -> None:
        """Called after each message is kept (the file store queues its write here)."""

    def remove(self, key: str, message_id: str) -> bool:
        """Drop a redacted message (``Redacted``); whether it was kept."""
        events = self.kept.get(key)
        if not events:
            return False
        for index, event in enumerate(events):
            if event.id == message_id:
                del events[index]
                self.removed(key)
                return True
        return False

    def removed(self, key: str) -> None:
        """Called after a message of ``key`` was redacted (the file store rewrites it)."""

    # -- retention ---------------------------------------------------------------------

    def forget(self, key: str) -> None:
        self.kept.pop(key, None)

    def retain_rooms(self, keys: set[str]) -> None:
        # Private conversations' keys start with "~" (``private_key``); room keys never do.
        for key in [key for key in self.kept if not key.startswith("~") and key not in keys]:
            self.forget(key)

    def expire(self, key: str) -> int:
        """Drop the messages of ``key`` older than the age limit; how many went."""
        events = self.kept.get(key)
        if not events or not self.retention.age:
            return 0
        oldest = self.clock.seconds() - self.retention.age
        dropped = 0
        while events and events[0].at < oldest:
            events.popleft()
            dropped += 1
        if not events:
            del self.kept[key]
        return dropped

    # -- reading -----------------------------------------------------------------------

    def find(self, key: str, message_id: str) -> Event | None:
        self.expire(key)
        return next((event for event in self.kept.get(key, ()) if event.id == message_id),
                    None)

    def query(self, key: str, query: HistoryQuery) -> list[Event]:
        self.expire(key)
        events = self.kept.get(key)
        return select(list(events), query) if events else []

    def latest(self, keys: list[str], prefix: str) -> dict[str, float]:
        wanted: Iterable[str] = keys
        if prefix:
            wanted = [*keys, *(key for key in self.kept if key.startswith(prefix))]
        out: dict[str, float] = {}
        for key in wanted:
            self.expire(key)
            events = self.kept.get(key)
            if events:
                out[key] = events[-1].at
        return out
