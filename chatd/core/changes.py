"""What is under way on the rooms: creations, keys being set, and durable changes.

A persistent room changes in the store first and in memory after, so several operations
can be in flight for one room at once. This module owns the rules that keep them apart:
a name being created can't be joined or created again, a join waits while the room's key
is being hashed and saved, and durable changes run one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet.defer import Deferred, DeferredLock

from chatd.core.rooms import Room
from chatd.kernel.errors import NoSuchRoom
from chatd.kernel.interfaces import IRoomStore
from chatd.kernel.records import RoomRecord

T = TypeVar("T")


class RoomChanges:
    """The rooms' work in flight, shared by every session of a server."""

    def __init__(self, rooms: dict[str, Room], store: IRoomStore) -> None:
        self._rooms = rooms
        self._store = store
        # Room keys whose /create is waiting on a hash or a durable write.
        self._creating: set[str] = set()
        # Changes to persistent rooms, one at a time (see ``change``).
        self._lock = DeferredLock()
        # Rooms whose key is being set (hashed, then saved): room key -> how many keys are
        # under way, and the joins waiting for the last of them.
        self._keying: dict[str, int] = {}
        self._key_waiters: dict[str, list[Deferred[None]]] = {}

    def creating(self, room_key: str) -> bool:
        """Whether a room of that key is being created here."""
        return room_key in self._creating

    def create(self, room_key: str, start: Callable[[], Deferred[T]]) -> Deferred[T]:
        """Run ``start`` (hash, then store a new room) with ``room_key`` held as being
        created until its Deferred fires, so nobody joins or creates it meanwhile."""
        self._creating.add(room_key)
        try:
            made = start()
        except BaseException:
            self._creating.discard(room_key)
            raise

        def release(result: object) -> object:
            self._creating.discard(room_key)
            return result

        return made.addBoth(release)

    def keying(self, room_key: str, change: Deferred[None]) -> Deferred[None]:
        """Hold joins to ``room_key`` while ``change`` (a new key, being hashed and saved)
        is under way: once the operator's command is accepted, the room counts as locked,
        and a join is checked against the new key when it is in place (or the old one, if
        setting it failed)."""
        self._keying[room_key] = self._keying.get(room_key, 0) + 1

        def done(result: object) -> object:
            left = self._keying.pop(room_key) - 1
            if left:
                self._keying[room_key] = left
            else:
                for waiter in self._key_waiters.pop(room_key, ()):
                    waiter.callback(None)
            return result

        return change.addBoth(done)

    def is_keying(self, room_key: str) -> bool:
        """Whether a key of ``room_key`` is being set."""
        return room_key in self._keying

    def key_settled(self, room_key: str) -> Deferred[None] | None:
        """A Deferred that fires once no key of ``room_key`` is under way; None if none is."""
        if room_key not in self._keying:
            return None
        waiter: Deferred[None] = Deferred()
        self._key_waiters.setdefault(room_key, []).append(waiter)
        return waiter

    def run(self, work: Callable[[], Deferred[None]]) -> Deferred[None]:
        """Run ``work`` (a durable write of a room) once the changes before it are done."""
        return self._lock.run(work)

    def change(
        self,
        room: Room,
        updated: Callable[[RoomRecord], RoomRecord | None],
        apply: Callable[[], None],
    ) -> Deferred[None]:
        """Change a persistent room: durable first, then in memory, then the members told.

        Changes run one at a time, and each builds its record from the room as the previous
        change left it, so no write can undo another's. ``updated`` returning None deletes
        the room. A failed write changes nothing. Once saved, the room takes the saved
        definition whole (so it is what the store has, even if another node's change came
        in meanwhile), then ``apply`` tells the members.
        """

        def done(record: RoomRecord | None) -> None:
            if record is not None:
                room.redefine(record)
            apply()

        def work() -> Deferred[None]:
            if self._rooms.get(room.key) is not room:
                raise NoSuchRoom(f"{room.name} was deleted")
            record = updated(room.record())
            store = self._store
            saved = store.delete(room.key) if record is None else store.save(record)
            return saved.addCallback(lambda _: done(record))

        return self.run(work)
