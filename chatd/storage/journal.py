"""A crash-safe file of records: append-only, checksummed, replayed at start, compacted by rename.

The file's first line names its kind and format version. Each later line is one record::

    <crc32 of the JSON, 8 hex digits> <JSON object>\\n

An append is written and fsync'ed before it is acknowledged. A crash can only tear the last
line; at load a line that is incomplete or fails its checksum ends the replay, is logged, and
is cut off so the next append starts on a clean line. Every earlier record is intact. Compaction
writes the live records to a temporary file, fsyncs it, renames it over the journal and fsyncs
the directory, so at every instant one complete file is in place.

``Journal`` is synchronous; ``JournalWriter`` runs its writes, in order, on one worker thread,
so fsync never stalls the reactor.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from chatd.kernel.errors import StartupError, StorageFailed

log = Logger()

Record = dict[str, Any]


def encode_record(record: Record) -> bytes:
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = body.encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def decode_record(line: bytes) -> Record | None:
    """The record on a complete line (newline stripped), or None if it is damaged."""
    crc, _, data = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(data):
            return None
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _open_private(path: Path, flags: int) -> BinaryIO:
    """Open for writing, creating the file readable by its owner only: it holds hashes."""
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """One journal file of one kind (``chatd-members``, ``chatd-rooms``)."""

    VERSION = 1

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.header = f"{kind} {self.VERSION}\n".encode()

    def load(self) -> list[Record]:
        """Replay the file (creating it if missing); cut a torn tail."""
        if not self.path.exists():
            self.rewrite([])
            return []
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)  # made by an older version, or copied in by hand
        with self.path.open("rb") as f:
            data = f.read()
        if not data.startswith(self.header):
            first = data.split(b"\n", 1)[0][:60]
            raise StartupError(
                f"{self.path} is not a {self.header.decode().strip()} file (it starts {first!r})"
            )
        records: list[Record] = []
        offset = len(self.header)
        while offset < len(data):
            end = data.find(b"\n", offset)
            record = None if end < 0 else decode_record(data[offset:end])
            if record is None:
                log.warn(
                    "{path}: damaged record at byte {offset} ({size} bytes to the end of the "
                    "file) skipped; every record before it was kept",
                    path=str(self.path), offset=offset, size=len(data) - offset,
                )
                with self.path.open("r+b") as f:
                    f.truncate(offset)
                    os.fsync(f.fileno())
                break
            records.append(record)
            offset = end + 1
        return records

    def append(self, record: Record) -> None:
        """Write one record durably."""
        with _open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT) as f:
            f.write(encode_record(record))
            f.flush()
            os.fsync(f.fileno())

    def rewrite(self, records: Iterable[Record]) -> None:
        """Replace the whole file with ``records``, atomically and durably."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        with _open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) as f:
            f.write(self.header)
            for record in records:
                f.write(encode_record(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)
        fsync_directory(self.path.parent)


class JournalWriter:
    """Runs a journal's appends and rewrites in order on a one-thread pool.

    A failed write is logged and turned into StorageFailed, so the user hears that the
    change was not saved.
    """

    def __init__(self, journal: Journal, reactor: IReactorFromThreads, pool: ThreadPool) -> None:
        self.journal = journal
        self._reactor = reactor
        self._pool = pool

    def _failed(self, failure: Any) -> None:
        log.failure("writing {path} failed", failure, path=str(self.journal.path))
        raise StorageFailed("the change could not be saved (server storage error); retry later")

    def append(self, record: Record) -> Deferred[None]:
        return deferToThreadPool(
            self._reactor, self._pool, self.journal.append, record
        ).addErrback(self._failed)

    def rewrite(self, records: list[Record]) -> Deferred[None]:
        return deferToThreadPool(
            self._reactor, self._pool, self.journal.rewrite, records
        ).addErrback(self._failed)


class SyncJournalWriter:
    """JournalWriter's interface, writing on the calling thread: for tools that run alone
    (chatd-admin offline) and for tests."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def append(self, record: Record) -> Deferred[None]:
        return maybeDeferred(self.journal.append, record)

    def rewrite(self, records: list[Record]) -> Deferred[None]:
        return maybeDeferred(self.journal.rewrite, records)


class DirectoryLock:
    """An exclusive lock on a data directory, so two daemons never share one."""

    def __init__(self, directory: Path, name: str = "lock") -> None:
        self.path = directory / name
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StartupError(
                f"{self.path.parent} is in use by another daemon (lock {self.path} is held); "
                "stop it or choose another data directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
