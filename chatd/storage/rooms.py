"""Persistent room definitions in ``rooms.journal`` under the data directory.

A room names its owner twice: ``owner``, the display name, and ``owner_id``, the account id
that owns it. Rooms stored before account ids have no ``owner_id``; the core gives them one at
start-up (see Definitions.resolve_owners). ``bans`` and ``modes`` (moderation) are absent from
rooms stored before them: no bans, topic locked to operators. ``id`` (the room's identity,
what its history and files are kept under) is absent from rooms stored before room ids: such
a room keeps the id "" and, with it, the history and files kept under its name.

``create`` refuses a key that is stored, ``save`` and ``delete`` one that is not: where several
chat daemons share one file through the member service, a room made or deleted on one of them
can't be overwritten or brought back by another that had not heard of it yet."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from chatd.kernel.errors import NameTaken, NoSuchRoom
from chatd.kernel.interfaces import IRoomStore
from chatd.kernel.records import RoomRecord
from chatd.storage.keyed import Fields, KeyedFile, fields_problem

# Absent optional fields mean no password, an empty topic and an owner not yet resolved.
_ROOM_REQUIRED: Fields = {"name": (str,), "owner": (str,), "limit": (int,)}
_ROOM_OPTIONAL: Fields = {"password_hash": (str, type(None)), "topic": (str,),
                          "owner_id": (str,), "bans": (list,), "modes": (str,), "id": (str,)}


def room_problem(value: dict[str, Any]) -> str | None:
    """What makes a stored room unusable (a missing or mistyped field), or None."""
    problem = fields_problem(value, "room", _ROOM_REQUIRED, _ROOM_OPTIONAL)
    if problem is None and not all(isinstance(ban, str) for ban in value.get("bans", [])):
        return f"the room's bans are {value['bans']!r:.40}"
    return problem


@implementer(IRoomStore)
class FileRoomStore:
    def __init__(self, file: KeyedFile) -> None:
        self._file = file

    def load(self) -> list[RoomRecord]:
        """Read the journal (at start-up) and return every room."""
        self._file.load(room_problem)
        return self.records()

    def records(self) -> list[RoomRecord]:
        """Every room as stored now (or queued to be), in key order."""
        return [
            RoomRecord(
                key=key,
                name=value["name"],
                owner=value["owner"],
                limit=value["limit"],
                password_hash=value.get("password_hash"),
                topic=value.get("topic", ""),
                owner_id=value.get("owner_id", ""),
                bans=tuple(value.get("bans", ())),
                modes=value.get("modes", "t"),
                id=value.get("id", ""),
            )
            for key, value in sorted(self._file.live.items())
        ]

    def create(self, record: RoomRecord) -> Deferred[None]:
        if record.key in self._file.live:
            return fail(NameTaken(f"a room called {record.name} already exists"))
        return self._put(record)

    def save(self, record: RoomRecord) -> Deferred[None]:
        if record.key not in self._file.live:
            return fail(NoSuchRoom(f"{record.name} was deleted"))
        return self._put(record)

    def _put(self, record: RoomRecord) -> Deferred[None]:
        return self._file.put(
            record.key,
            {
                "name": record.name,
                "owner": record.owner,
                "limit": record.limit,
                "password_hash": record.password_hash,
                "topic": record.topic,
                "owner_id": record.owner_id,
                "bans": list(record.bans),
                "modes": record.modes,
                "id": record.id,
            },
        )

    def delete(self, key: str) -> Deferred[None]:
        if key not in self._file.live:
            return fail(NoSuchRoom("that room was deleted already"))
        return self._file.delete(key)
