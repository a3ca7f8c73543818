"""The member service's room definitions: the one durable copy every chat daemon shares.

Chat daemons started with ``--members`` keep no room file of their own: they load the
definitions from here at start and send every creation, change and deletion here. Each one is
made durable (the journal's fsync) before it is acknowledged, and then the watchers (the AMP
server, which tells every other chat daemon) hear of it, in the order the writes were made, so
every daemon that applies them in the order it hears them ends with the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from chatd.kernel.records import RoomRecord
from chatd.storage.rooms import FileRoomStore

log = Logger()

# A room's key, its new definition (None: deleted), and who asked (told by another route).
Changed = Callable[[str, RoomRecord | None, object], None]


class RoomBook:
    def __init__(self, store: FileRoomStore) -> None:
        self._store = store
        self._watchers: list[Changed] = []

    def load(self) -> int:
        """Read the room file (at start, before serving)."""
        return len(self._store.load())

    def records(self) -> list[RoomRecord]:
        return self._store.records()

    def watch(self, changed: Changed) -> None:
        self._watchers.append(changed)

    def _tell(self, key: str, record: RoomRecord | None, origin: object) -> None:
        for changed in self._watchers:
            try:
                changed(key, record, origin)
            except Exception:  # the change is durable: say so, and log what failed after it
                log.failure("telling of the change to room {key} failed", key=key)

    def create(self, record: RoomRecord, origin: object = None) -> Deferred[None]:
        """Store a new room (NameTaken if there is one), then tell the watchers."""
        def made(_: object) -> None:
            log.info("room {name} created, owned by {owner}", name=record.name,
                     owner=record.owner)
            self._tell(record.key, record, origin)

        return self._store.create(record).addCallback(made)

    def save(self, record: RoomRecord, origin: object = None) -> Deferred[None]:
        """Store a room's new definition (NoSuchRoom if it is gone), then tell the watchers."""
        return self._store.save(record).addCallback(
            lambda _: self._tell(record.key, record, origin))

    def delete(self, key: str, origin: object = None) -> Deferred[None]:
        """Forget a room (NoSuchRoom if it is gone), then tell the watchers."""
        def gone(_: object) -> None:
            log.info("room {key} deleted", key=key)
            self._tell(key, None, origin)

        return self._store.delete(key).addCallback(gone)
