"""A durable map from keys to JSON records, on top of a Journal.

The in-memory map changes as soon as a put or delete is asked for, so a second request for the
same key sees the first (a signup can't be taken twice while its fsync runs); the Deferred
fires when the change is durable. A failed write puts the old value back. When the journal
holds many more records than there are live keys it is compacted, in the same ordered queue
as the appends, from a snapshot that already includes every queued change.

Each reader passes a check of its values (the right keys, the right types) to ``load``; an
entry that fails it counts as a damaged record of the journal, like one whose checksum is wrong,
so a hand-edited or buggy value stops the start with its byte offset rather than a TypeError
somewhere later.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from chatd.storage.journal import Check, Journal, Record, Scan


class Writer(Protocol):
    """Where a KeyedFile's writes go: JournalWriter (a thread) or SyncJournalWriter."""

    def append(self, record: Record) -> Deferred[None]: ...

    def rewrite(self, records: list[Record]) -> Deferred[None]: ...

_MISSING: Any = object()

# A value's fields and the types each may have.
Fields = dict[str, tuple[type, ...]]


def fields_problem(
    value: Record, what: str, required: Fields, optional: Fields | None = None
) -> str | None:
    """What is wrong with the fields of a stored ``what`` (a missing one, a wrong type)."""
    for name, expected in [*required.items(), *(optional or {}).items()]:
        if name not in value:
            if name in required:
                return f"the {what} has no {name}"
            continue
        field = value[name]
        # bool is an int to isinstance, but a limit of true is as wrong as a name of 5.
        if not isinstance(field, expected) or (isinstance(field, bool) and bool not in expected):
            return f"the {what}'s {name} is {field!r:.40}"
    return None


def entry_problem(entry: Record, value_problem: Check | None = None) -> str | None:
    """What is wrong with one journal entry of a KeyedFile, or None."""
    if not isinstance(entry.get("key"), str):
        return "its key is not a string"
    op = entry.get("op")
    if op == "del":
        return None
    if op != "put":
        return f"unknown operation {op!r}"
    value = entry.get("value")
    if not isinstance(value, dict):
        return "a put without a value object"
    return value_problem(value) if value_problem is not None else None


class KeyedFile:
    def __init__(self, journal: Journal, writer: Writer, slack: int = 256) -> None:
        self._journal = journal
        self._writer = writer
        self._slack = slack
        self.live: dict[str, Record] = {}
        # Records in the file once every queued write is done; counted on the reactor thread.
        self._records = 0

    def load(self, value_problem: Check | None = None) -> dict[str, Record]:
        """Replay the journal into ``live`` (synchronously: this runs before serving).

        ``value_problem`` says what is wrong with a stored value, or None if it is usable.
        """
        entries = self._journal.load(partial(entry_problem, value_problem=value_problem))
        self._records = len(entries)
        for entry in entries:
            if entry["op"] == "put":
                self.live[entry["key"]] = entry["value"]
            else:
                self.live.pop(entry["key"], None)
        if self._needs_compaction():
            self._journal.rewrite(self._snapshot())
            self._records = len(self.live)
        return self.live

    def repair(self, value_problem: Check | None = None) -> tuple[Scan, Path | None]:
        """Offline: drop damaged entries from the journal, keeping a copy (Journal.repair)."""
        return self._journal.repair(partial(entry_problem, value_problem=value_problem))

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
