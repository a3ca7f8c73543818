"""Persistent room definitions in ``rooms.journal`` under the data directory."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import implementer

from chatd.kernel.interfaces import IRoomStore
from chatd.kernel.records import RoomRecord
from chatd.storage.keyed import KeyedFile


@implementer(IRoomStore)
class FileRoomStore:
    def __init__(self, file: KeyedFile) -> None:
        self._file = file

    def load(self) -> list[RoomRecord]:
        return [
            RoomRecord(
                key=key,
                name=value["name"],
                owner=value["owner"],
                limit=value["limit"],
                password_hash=value.get("password_hash"),
                topic=value.get("topic", ""),
            )
            for key, value in self._file.load().items()
        ]

    def save(self, record: RoomRecord) -> Deferred[None]:
        return self._file.put(
            record.key,
            {
                "name": record.name,
                "owner": record.owner,
                "limit": record.limit,
                "password_hash": record.password_hash,
                "topic": record.topic,
            },
        )

    def delete(self, key: str) -> Deferred[None]:
        return self._file.delete(key)
