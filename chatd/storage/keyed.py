"""A durable map from keys to JSON records, on top of a Journal.

The in-memory map changes as soon as a put or delete is asked for, so a second request for the
same key sees the first (a signup can't be taken twice while its fsync runs); the Deferred
fires when the change is durable. A failed write puts the old value back. When the journal
holds many more records than there are live keys it is compacted, in the same ordered queue
as the appends, from a snapshot that already includes every queued change.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.internet.defer import Deferred

from chatd.storage.journal import Journal, Record


class Writer(Protocol):
    """Where a KeyedFile's writes go: JournalWriter (a thread) or SyncJournalWriter."""

    def append(self, record: Record) -> Deferred[None]: ...

    def rewrite(self, records: list[Record]) -> Deferred[None]: ...

_MISSING: Any = object()


class KeyedFile:
    def __init__(self, journal: Journal, writer: Writer, slack: int = 256) -> None:
        self._journal = journal
        self._writer = writer
        self._slack = slack
        self.live: dict[str, Record] = {}
        # Records in the file once every queued write is done; counted on the reactor thread.
        self._records = 0

    def load(self) -> dict[str, Record]:
        """Replay the journal into ``live`` (synchronously: this runs before serving)."""
        entries = self._journal.load()
        self._records = len(entries)
        for entry in entries:
            key = entry.get("key")
            if not isinstance(key, str):
                continue
            if entry.get("op") == "put" and isinstance(entry.get("value"), dict):
                self.live[key] = entry["value"]
            elif entry.get("op") == "del":
                self.live.pop(key, None)
        if self._needs_compaction():
            self._journal.rewrite(self._snapshot())
            self._records = len(self.live)
        return self.live

    def _needs_compaction(self) -> bool:
        return self._records > 2 * len(self.live) + self._slack

    def _snapshot(self) -> list[Record]:
        return [{"op": "put", "key": k, "value": v} for k, v in self.live.items()]

    def _write(self, key: str, entry: Record, previous: Record) -> Deferred[None]:
        def undo(failure: Any) -> Any:
            if previous is _MISSING:
                self.live.pop(key, None)
            else:
                self.live[key] = previous
            return failure

        done = self._writer.append(entry).addErrback(undo)
        self._records += 1
        if self._needs_compaction():
            self._records = len(self.live)
            # A failed compaction leaves the old journal in place and is logged by the writer.
            self._writer.rewrite(self._snapshot()).addErrback(lambda _: None)
        return done

    def put(self, key: str, value: Record) -> Deferred[None]:
        previous = self.live.get(key, _MISSING)
        self.live[key] = value
        return self._write(key, {"op": "put", "key": key, "value": value}, previous)

    def delete(self, key: str) -> Deferred[None]:
        previous = self.live.pop(key, _MISSING)
        return self._write(key, {"op": "del", "key": key}, previous)
