"""Persistent rooms' definitions as the store and the member service give them.

Owns what happens to the rooms here when their definitions come from elsewhere: loading
them at start, taking a room created, changed or deleted by another chat daemon (or by
chatd-admin), a full resync after the member service was out of reach, and the migration
of rooms stored before account ids (``resolve_owners``), which resolves each old owner's
name to an account id once the directory can answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger

from chatd.core.rooms import Room
from chatd.kernel.events import LeaveReason
from chatd.kernel.names import fold
from chatd.kernel.records import NO_OWNER, Account, RoomRecord

if TYPE_CHECKING:
    from chatd.core.registry import Registry

log = Logger()

# Seconds between tries to resolve old rooms' owners while the directory can't answer.
RESOLVE_RETRY = (1.0, 60.0)


class Definitions:
    """Takes room definitions into a server's registry (the member service's listener)."""

    def __init__(self, server: Registry) -> None:
        self.server = server
        # Seconds before the next try at resolve_owners, while the directory can't answer.
        self._resolve_delay = RESOLVE_RETRY[0]

    def load_rooms(self) -> None:
        """Bring back the persistent rooms (empty, since membership is never stored)."""
        rooms = self.server.rooms
        records = self.server.store.load()
        for record in records:
            rooms[record.key] = Room.from_record(record)
        # Not len(rooms): in a cluster, temporary rooms heard of from Redis come first.
        log.info("loaded {count} persistent rooms", count=len(records))
        self.resolve_owners()

    def resolve_owners(self) -> None:
        """Give each room stored before account ids the id of the account that has its
        owner's name now (the best the old records allow), or NO_OWNER if none has, so that
        a name registered later gets nothing. The embedded directory answers at once; a
        member service once it is reachable (tried again, with back-off, until then). Until
        resolved, a room is owned by nobody."""
        server = self.server
        waiting = [room for room in server.rooms.values()
                   if room.owner is not None and not room.owner_id]
        if not waiting:
            return
        answers = [server.directory.lookup(room.owner).addCallback(self._resolved, room)
                   for room in waiting if room.owner is not None]

        def retry(results: list[tuple[bool, Any]]) -> None:
            failed = [result for ok, result in results if not ok]
            if not failed:
                return
            delay = self._resolve_delay
            self._resolve_delay = min(delay * 2, RESOLVE_RETRY[1])
            log.warn("the owners of {count} rooms from before account ids are not resolved "
                     "({why}); nobody owns them yet; trying again in {delay:g} s",
                     count=len(failed), why=failed[0].getErrorMessage(), delay=delay)
            server.clock.callLater(delay, self.resolve_owners)

        DeferredList(answers, consumeErrors=True).addCallback(retry)

    def _resolved(self, account: Account | None, room: Room) -> Deferred[None] | None:
        assert room.owner is not None
        if account is not None and not account.id:
            log.warn("the member service gives no account ids (an older version): room "
                     "{room} is owned by nobody until it is upgraded", room=room.name)
            return None
        found = account is not None and account.key == fold(room.owner)
        owner_id = account.id if account is not None and found else NO_OWNER
        server = self.server

        def work() -> Deferred[None]:
            if server.rooms.get(room.key) is not room or room.owner_id:
                return succeed(None)
            return server.store.save(replace(room.record(), owner_id=owner_id)).addCallback(
                apply)

        def apply(_: object) -> None:
            room.owner_id = owner_id
            log.info("room {room} from before account ids: {whose}", room=room.name,
                     whose=f"owned by the account {room.owner} ({owner_id})" if found
                     else f"its owner {room.owner} has no account now, so nobody owns it")

        return server.changes.run(work)

    # -- room definitions changed elsewhere (another chat daemon, chatd-admin) ----------

    def room_defined(self, record: RoomRecord) -> None:
        """A persistent room was created or changed elsewhere (the member service says so,
        once it is durable): take its definition. A room of that name here, persistent or
        temporary, keeps its members and their operator and voice status. Nobody here is
        told: the chat daemon that made the change published its events on the bus."""
        server = self.server
        room = server.rooms.get(record.key)
        if room is None:
            server.rooms[record.key] = Room.from_record(record)
            return
        if room.id != record.id and server.history is not None:
            # Another room of this name now (deleted and made again, or made over a
            # temporary room here): what was said in the one before is not its to show.
            server.history.forget(room.conversation)
        room.redefine(record)

    def room_undefined(self, key: str) -> None:
        """A persistent room was deleted elsewhere: its members here leave it (deleted) and
        it is gone."""
        server = self.server
        room = server.rooms.get(key)
        if room is None or not room.persistent:
            return
        for user in list(room.members.values()):
            server.remove(user, room, LeaveReason.DELETED)
        server.end_room(room)
        log.info("room {room} was deleted elsewhere", room=room.name)

    def sync_rooms(self, records: list[RoomRecord]) -> None:
        """Every persistent room's definition, read again (after a lost connection to the
        member service, during which changes were not heard of): take each, and close the
        persistent rooms no longer defined (except one being created here)."""
        server = self.server
        defined = {record.key for record in records}
        for record in records:
            self.room_defined(record)
        for room in list(server.rooms.values()):
            if (room.persistent and room.key not in defined
                    and not server.changes.creating(room.key)):
                self.room_undefined(room.key)
        server.prune_history()
