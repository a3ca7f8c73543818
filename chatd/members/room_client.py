"""Room definitions kept by the member service: ``IRoomStore`` over the remote directory's AMP
connection, for chat daemons started with ``--members``.

Several chat daemons share one member service, and through it one set of persistent rooms.
Each creation, change and deletion is sent to the service, which makes it durable before it
answers, so a change is applied here (and its events published) only once it is safe; the
service then tells every other chat daemon (``RoomDefined``, ``RoomDeleted``), and each applies
the new definition to its core in the order the service wrote them. A change that can't be
sent (no connection) fails at once with a 502 and changes nothing; one sent but unanswered is
reported as a 502 only once the service may no longer make it (as a signup is, see
chatd.members.client).

At start the definitions are read from the service (``LoadRooms``, in pages) as soon as the
connection is up; until then the core has no persistent rooms, so the remote directory
refuses every login, signup and guest nick (a 502 that says why): nobody can be in a room
before the rooms are known. After a lost connection, changes made
meanwhile were not heard of: the definitions are read again and the core brought in line
(``sync_rooms``). A change heard of (pushed, or acknowledged to this daemon) while the pages
are read is newer than the page that holds its room, so it wins over that page.

Every definition the service sends is checked as the service checks what it is sent
(chatd.members.rooms.check_definition); one that fails is dropped with a log line, so a bad
store or something posing as the service can't put control characters in ``/rooms``.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.kernel.errors import ChatError
from chatd.kernel.interfaces import IRoomStore
from chatd.kernel.records import RoomRecord
from chatd.members import commands
from chatd.members.client import RemoteDirectory
from chatd.members.rooms import check_definition

log = Logger()

_DOWN = ("room settings can't be changed right now (the member service is unreachable); "
         "nothing changed; try again soon")
_NOT_MADE = ("the member service did not answer in time, so the room was not changed; "
             "try again soon")


def _usable(record: RoomRecord) -> bool:
    """Whether a definition from the service passes the checks; one that fails is logged."""
    try:
        check_definition(record)
    except ChatError as error:
        log.error("dropped a room definition from the member service: {why}", why=str(error))
        return False
    return True


class RoomListener(Protocol):
    """What hears of the definitions: the core (chatd.core.service.ChatServer)."""

    def load_rooms(self) -> None: ...

    def room_defined(self, record: RoomRecord) -> None: ...

    def room_undefined(self, key: str) -> None: ...

    def sync_rooms(self, records: list[RoomRecord]) -> None: ...


@implementer(IRoomStore)
class RemoteRooms:
    def __init__(self, directory: RemoteDirectory) -> None:
        self._directory = directory
        directory.rooms = True
        directory.ready = self.ready
        directory.room_watchers.append(self._pushed)
        directory.connected.append(self._connected)
        self._listener: RoomListener | None = None
        # Fires once the definitions were read the first time and the core has them.
        self.loaded: Deferred[None] = Deferred()
        self._records: list[RoomRecord] = []
        # While the pages are read: the changes heard of meanwhile (None: deleted).
        self._heard: dict[str, RoomRecord | None] | None = None
        self._reading = False
        self._warning: IDelayedCall | None = None
        self._ready = False

    def follow(self, listener: RoomListener) -> None:
        """``listener`` is to hear of the definitions."""
        self._listener = listener

    def started(self) -> None:
        """The daemon starts: if the definitions are not read within the deadline, say so
        once (nobody logs in until they are)."""
        directory = self._directory
        if not self.loaded.called:
            self._warning = directory.clock.callLater(directory.deadline, self._late)

    def stopped(self) -> None:
        if self._warning is not None and self._warning.active():
            self._warning.cancel()

    def _late(self) -> None:
        self._warning = None
        log.warn("room definitions not loaded from the member service within {deadline} s; "
                 "logins and guest nicks get 502 until they are (is chatd-members running, "
                 "and are --members and the secret right?)", deadline=self._directory.deadline)

    # -- reading ------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the core has the definitions (so users may log in)."""
        return self._ready

    def _connected(self) -> None:
        if not self._reading:
            self._read().addErrback(self._unread)

    @inlineCallbacks
    def _read(self) -> Any:
        self._reading = True
        self._heard = {}
        try:
            found: dict[str, RoomRecord] = {}
            after = ""
            while True:
                page = yield self._directory.send(commands.LoadRooms, self._directory.deadline,
                                                  after=after)
                for box in page["rooms"]:
                    record = commands.room_record(box)
                    after = record.key
                    if _usable(record):
                        found[record.key] = record
                if not page["more"]:
                    break
            for key, heard in self._heard.items():
                if heard is None:
                    found.pop(key, None)
                else:
                    found[key] = heard
        finally:
            self._reading = False
            self._heard = None
        self._records = sorted(found.values(), key=lambda record: record.key)
        listener = self._listener
        if listener is None:
            return
        if self.loaded.called:
            listener.sync_rooms(self._records)
            log.info("room definitions read again: {count} rooms", count=len(self._records))
            return
        # Ready first: the core resolves old rooms' owners through the directory at once.
        self._ready = True
        listener.load_rooms()
        self.stopped()
        self.loaded.callback(None)

    def _unread(self, failure: Failure) -> None:
        """Read again with the next connection (a lost one is made again by itself)."""
        log.warn("reading the room definitions from the member service failed: {why}; "
                 "trying again when it is reachable", why=failure.getErrorMessage())

    def _pushed(self, key: str, record: RoomRecord | None) -> None:
        if record is not None and not _usable(record):
            return
        self._heard_of(key, record)
        if self._listener is None or not self._ready:
            return
        if record is None:
            self._listener.room_undefined(key)
        else:
            self._listener.room_defined(record)

    def _heard_of(self, key: str, record: RoomRecord | None) -> None:
        if self._heard is not None:
            self._heard[key] = record

    # -- IRoomStore ---------------------------------------------------------------------

    def load(self) -> list[RoomRecord]:
        """The definitions as first read (the core asks once ``loaded`` is near)."""
        return list(self._records)

    def _change(self, command: type[Any], room_key: str, record: RoomRecord | None,
                **arguments: Any) -> Deferred[None]:
        def made(_: object) -> None:
            self._heard_of(room_key, record)

        # A Deferred of our own: AMP drops the connection when a command's error is still
        # unhandled at the end of its Deferred's callbacks, and callers may add theirs later.
        answer: Deferred[None] = Deferred()
        self._directory.change(command, _DOWN, _NOT_MADE, **arguments).addCallback(
            made).chainDeferred(answer)
        return answer

    def create(self, record: RoomRecord) -> Deferred[None]:
        return self._change(commands.CreateRoom, record.key, record,
                            **commands.room_arguments(record))

    def save(self, record: RoomRecord) -> Deferred[None]:
        return self._change(commands.SaveRoom, record.key, record,
                            **commands.room_arguments(record))

    def delete(self, key: str) -> Deferred[None]:
        return self._change(commands.DeleteRoom, key, None, key=key)


class RoomsWarning(Service):
    """The daemon's start and stop, told to ``rooms``: one warning if the room definitions
    are not read within the member service's deadline (nobody logs in until they are)."""

    def __init__(self, rooms: RemoteRooms) -> None:
        self.rooms = rooms

    def startService(self) -> None:
        super().startService()
        self.rooms.started()

    def stopService(self) -> None:
        super().stopService()
        self.rooms.stopped()
