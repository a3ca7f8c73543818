"""A crash-safe file of records: append-only, checksummed, replayed at start, compacted by rename.

The file's first line names its kind and format version. Each later line is one record::

    <length of the rest of the line, 8 hex digits> <crc32 of the JSON, 8 hex digits> <JSON>\\n

An append is written and fsync'ed before it is acknowledged; one that fails (disk full, I/O
error) is cut off again before the error is reported, so the file ends on a record boundary
and the next append is not glued to half a record. A crash can only leave the one append in
progress unfinished: at load, a last line shorter than the length it begins with is logged and
cut off; every earlier record is intact. Anything else is not the trace of a crash: a flipped
bit or a record of the wrong shape anywhere, or an end that holds no record and is more than
one unfinished append (the last pages zeroed by a power loss on some file systems, or
overwritten), which means acknowledged records were lost. The load refuses, naming the file
and byte offset, and leaves the file untouched, because cutting there would delete records or
hide their loss. ``repair``, run offline by an operator, keeps a copy of the file and rewrites
it without the damaged records. Compaction writes the live records to a temporary file, fsyncs
it, renames it over the journal and fsyncs the directory, so at every instant one complete
file is in place.

Version 1 lines had no length (``<crc32> <JSON>``, the line history files still use): there a
torn last line is told from a zeroed end by its bytes alone (an append leaves no NUL byte, as
JSON escapes it). A version 1 file loads, and the load rewrites it in the current version.

``Journal`` is synchronous; ``JournalWriter`` runs its writes, in order, on one worker thread,
so fsync never stalls the reactor.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
# Says what is wrong with a record whose checksum is right (wrong types, say), or None.
Check = Callable[[Record], str | None]

VERSION = 2
# A version 2 line's length field, and what a crash may leave of it.
_LENGTH = re.compile(rb"([0-9a-f]{8}) ")
_LENGTH_PREFIX = re.compile(rb"[0-9a-f]{0,8}")
# Where a record may begin inside a damaged line, per version: a failed append of an older
# version left half a record, and the next append was glued to it on the same line.
_RECORD_START = {1: re.compile(rb"[0-9a-f]{8} \{"), 2: re.compile(rb"[0-9a-f]{8} [0-9a-f]{8} \{")}


def checksummed_line(record: Record) -> bytes:
    """``<crc32> <JSON>\\n``: a version 1 journal line, and the rest of a version 2 one."""
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = body.encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def encode_record(record: Record) -> bytes:
    """A line of the current version: the length lets a load tell an unfinished append."""
    rest = checksummed_line(record)
    return b"%08x %s" % (len(rest), rest)


def decode_framed(line: bytes) -> Record | None:
    """The record on a complete current-version line (newline stripped), or None."""
    length = _LENGTH.match(line)
    if length is None or int(length.group(1), 16) != len(line) - length.end() + 1:
        return None
    return decode_record(line[length.end():])


def decode_record(line: bytes) -> Record | None:
    """The record on a complete checksummed line (newline stripped), or None if it is
    damaged: a version 1 journal's line, or a history file's."""
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


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes of a journal that hold no usable record."""

    offset: int
    size: int
    reason: str


@dataclass(slots=True)
class Scan:
    """A journal read from end to end, without stopping at damage."""

    records: list[Record] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    # A record recovered from the end of a damaged line (see _RECORD_START), per damage.
    salvaged: int = 0
    # Where an incomplete or unreadable last line begins, if there is one.
    torn_tail: int | None = None
    # Where an end that holds no record, and is more than a torn tail, begins.
    lost_tail: int | None = None


def unfinished_append(tail: bytes, version: int = VERSION) -> bool:
    """Whether ``tail``, the end of a file after its last complete line, can be what a crash
    left of one append. Version 2: the start of a line, shorter than the length it begins
    with (a zeroed or overwritten end has no length, or is longer than it says). Version 1
    and history files, without a length: no NUL byte."""
    if version == 1:
        return b"\0" not in tail
    length = _LENGTH.match(tail)
    if length is None:
        return _LENGTH_PREFIX.fullmatch(tail) is not None
    return len(tail) < length.end() + int(length.group(1), 16)


def _decode(line: bytes, version: int) -> Record | None:
    return decode_record(line) if version == 1 else decode_framed(line)


def _problem(line: bytes, version: int, check: Check | None) -> tuple[Record | None, str]:
    record = _decode(line, version)
    if record is None:
        return None, "checksum or format is wrong"
    problem = check(record) if check is not None else None
    return (None, problem) if problem else (record, "")


def _salvage(line: bytes, version: int, check: Check | None) -> Record | None:
    """A whole record at the end of a damaged line, or None."""
    for start in _RECORD_START[version].finditer(line, 1):
        record, _ = _problem(line[start.start():], version, check)
        if record is not None:
            return record
    return None


def _lost(size: int) -> str:
    return (f"the last {size} bytes hold no record and are more than an unfinished append "
            f"leaves (zeroed or overwritten): acknowledged records were lost")


class Journal:
    """One journal file of one kind (``chatd-members``, ``chatd-rooms``)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.header = f"{kind} {VERSION}\n".encode()
        # The length the file must be cut back to before anything more is appended: set when
        # a failed append could not even be cut off, cleared once it has been.
        self._cut_to: int | None = None

    def _read(self) -> tuple[bytes, int]:
        """The file's bytes and its format version."""
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)  # made by an older version, or copied in by hand
        with self.path.open("rb") as f:
            data = f.read()
        for version in (VERSION, 1):
            if data.startswith(f"{self.kind} {version}\n".encode()):
                return data, version
        first = data.split(b"\n", 1)[0][:60]
        raise StartupError(
            f"{self.path} is not a {self.header.decode().strip()} file (it starts {first!r})"
        )

    def _scan(self, data: bytes, version: int, check: Check | None) -> Scan:
        scan = Scan()
        offset = data.index(b"\n") + 1
        while offset < len(data):
            end = data.find(b"\n", offset)
            if end < 0:
                size = len(data) - offset
                if unfinished_append(data[offset:], version):
                    scan.torn_tail = offset
                    scan.damaged.append(Damage(offset, size, "incomplete last line"))
                else:
                    scan.lost_tail = offset
                    scan.damaged.append(Damage(offset, size, _lost(size)))
                break
            line = data[offset:end]
            record, reason = _problem(line, version, check)
            if record is not None:
                scan.records.append(record)
            elif (version == 1 and end + 1 == len(data) and decode_record(line) is None
                  and unfinished_append(line, version)):
                # Version 1 has no length: a bad checksum last may be a write in progress.
                scan.torn_tail = offset
                scan.damaged.append(Damage(offset, end + 1 - offset, reason))
            else:
                scan.damaged.append(Damage(offset, end + 1 - offset, reason))
                salvaged = _salvage(line, version, check)
                if salvaged is not None:
                    scan.records.append(salvaged)
                    scan.salvaged += 1
            offset = end + 1
        return scan

    def load(self, check: Check | None = None) -> list[Record]:
        """Replay the file (creating it if missing); cut a torn tail, refuse other damage.

        ``check`` says what is wrong with a record that has the right checksum but not the
        shape its reader needs; such a record counts as damaged. A file of an older version
        is rewritten in the current one.
        """
        if not self.path.exists():
            self.rewrite([])
            return []
        data, version = self._read()
        scan = self._scan(data, version, check)
        damaged = [d for d in scan.damaged if d.offset != scan.torn_tail]
        if damaged:
            first = damaged[0]
            follow = len(data) - first.offset - first.size
            found = (f"from byte {first.offset}, {first.reason}"
                     if first.offset == scan.lost_tail else
                     f"damaged record at byte {first.offset} ({first.reason})"
                     + (f"; {follow} bytes of records follow it" if follow else ""))
            raise StartupError(
                f"{self.path}: {found}, so the file was left as it is. Restore it from a "
                f"backup, or run 'chatd-admin --data {self.path.parent} repair', which keeps "
                f"a copy and every intact record"
            )
        if scan.torn_tail is not None:
            log.warn(
                "{path}: incomplete last record at byte {offset} ({size} bytes, left by a "
                "crash) cut off; every record before it was kept",
                path=str(self.path), offset=scan.torn_tail, size=len(data) - scan.torn_tail,
            )
            with self.path.open("r+b") as f:
                f.truncate(scan.torn_tail)
                os.fsync(f.fileno())
        if version != VERSION:
            log.info("{path}: rewritten from format version {old} to {new}",
                     path=str(self.path), old=version, new=VERSION)
            self.rewrite(scan.records)
        return scan.records

    def repair(self, check: Check | None = None) -> tuple[Scan, Path | None]:
        """Rewrite the file without its damaged records, after copying it aside.

        For an operator, on a stopped daemon's data directory. Returns what was found and
        the copy of the original (None when nothing was damaged and nothing was changed).
        """
        data, version = self._read()
        scan = self._scan(data, version, check)
        if not scan.damaged:
            return scan, None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        copy = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        with _open_private(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.rewrite(scan.records)
        return scan, copy

    def _open_for_append(self) -> BinaryIO:
        """The file, unbuffered, positioned at its end."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "wb", buffering=0)

    def _cut(self, f: BinaryIO, size: int) -> None:
        try:
            f.truncate(size)
            os.fsync(f.fileno())
        except OSError as error:
            self._cut_to = size
            log.error(
                "{path}: could not cut a failed write back to {size} bytes ({error}); "
                "nothing more is written to it until that works",
                path=str(self.path), size=size, error=str(error),
            )
        else:
            self._cut_to = None

    def append(self, record: Record) -> None:
        """Write one record durably, or leave the file as it was and raise."""
        line = encode_record(record)
        with self._open_for_append() as f:
            if self._cut_to is not None:
                self._cut(f, self._cut_to)
                if self._cut_to is not None:
                    raise StorageFailed(
                        f"{self.path} ends in a failed write that can't be cut off"
                    )
            start = os.fstat(f.fileno()).st_size
            try:
                written = 0
                while written < len(line):
                    written += f.write(line[written:]) or 0
                os.fsync(f.fileno())
            except OSError:
                self._cut(f, start)
                raise

    def rewrite(self, records: Iterable[Record]) -> None:
        """Replace the whole file with ``records``, atomically and durably."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with _open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) as f:
                f.write(self.header)
                for record in records:
                    f.write(encode_record(record))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)  # its space is wanted back on a full disk
            raise
        self._cut_to = None  # the file that needed it is gone
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
