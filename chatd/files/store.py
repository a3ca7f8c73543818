"""The file store: shared files on disk under the data directory, their metadata in a journal.

Layout, under ``DATA/files/``::

    <id>        a stored file; <id> is 32 random hex digits, never anything a user typed
    <id>.part   an upload in progress (removed at start: an interrupted upload)

and ``DATA/files.journal``, a ``KeyedFile`` of each file's metadata (room, sender, sanitised
name, size, SHA-256, time). An upload is written through ``run`` (the files thread pool in
the daemon), one batch at a time, so neither the writes nor the fsyncs stall the reactor and
at most what the connection let through waits in memory. ``finish`` fsyncs the file, renames
``.part`` to its id, fsyncs the directory, then appends the metadata (fsync'ed) and only then
fires: an acknowledged file survives a crash. A crash between the rename and the metadata
leaves a file without a record, which ``load`` removes, as it removes records without files.

Quotas count stored files plus the declared sizes of uploads in progress, per sender, per
room and in all, so two uploads at once can't both pass a quota that only one fits in.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.kernel.errors import (
    BadUpload,
    FileTooLarge,
    NoSuchFile,
    QuotaExceeded,
    StorageFailed,
)
from chatd.kernel.interfaces import IFileStore, IUpload
from chatd.kernel.keys import shared
from chatd.kernel.views import FileView
from chatd.storage.journal import fsync_directory
from chatd.storage.keyed import KeyedFile, fields_problem

log = Logger()

# Runs a blocking call off the reactor: ``partial(deferToThreadPool, reactor, pool)`` in the
# daemon, a synchronous stand-in in tests.
Runner = Callable[..., Deferred[Any]]

_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")

_FIELDS = {"room": (str,), "room_key": (str,), "sender": (str,), "sender_key": (str,),
           "name": (str,), "size": (int,), "sha256": (str,), "at": (int, float)}


def file_problem(value: dict[str, Any]) -> str | None:
    return fields_problem(value, "file", _FIELDS)


def is_file_id(text: str) -> bool:
    """Whether ``text`` has the shape of a file id (checked before any path is built)."""
    return _ID.fullmatch(text) is not None


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError


def _over(size: int, most: int) -> tuple[str, str]:
    """``size`` and the ``most`` it is over, each rounded unless both round to the same
    figure ("976.6 KiB; the most is 976.6 KiB" says nothing): then both exactly, in bytes."""
    shown = _size(size), _size(most)
    return shown if shown[0] != shown[1] else (f"{size} bytes", f"{most} bytes")


@dataclass(frozen=True, slots=True)
class FileLimits:
    """The store's limits (``chatd.kernel.keys.FILES``), in bytes and days."""

    max_file_size: int = shared("max-file-size")
    per_user: int = shared("file-quota-per-user")
    per_room: int = shared("file-quota-per-room")
    total: int = shared("file-store-size")
    retention_days: int = shared("file-retention-days")


@implementer(IFileStore)
class FileStore:
    """Shared files under ``directory``, their metadata in a journal, within ``limits``
    (``configure`` gives new ones on a reload)."""

    def __init__(self, directory: Path, metadata: KeyedFile, run: Runner, clock: IReactorTime,
                 limits: FileLimits) -> None:
        self.directory = directory
        self._metadata = metadata
        self._run = run
        self._clock = clock
        self.limits = limits
        self.files: dict[str, FileView] = {}
        # Bytes counted against each quota: stored files plus uploads in progress.
        self.by_user: Counter[str] = Counter()
        self.by_room: Counter[str] = Counter()
        self.total = 0

    # -- start -------------------------------------------------------------------------

    def configure(self, limits: FileLimits) -> None:
        """New limits (a reload): uploads from now on are held to them."""
        self.limits = limits

    def load(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for id, value in self._metadata.load(file_problem).items():
            self._count(FileView(id=id, **value), +1)
        present = set()
        for path in self.directory.iterdir():
            if path.name.endswith(".part"):
                log.info("removing {path}: an upload interrupted by a stop or crash",
                         path=str(path))
                path.unlink()
            elif path.name in self.files:
                present.add(path.name)
            else:
                log.warn("removing {path}: a stored file without metadata", path=str(path))
                path.unlink()
        for id in set(self.files) - present:
            log.warn("forgetting file {id}: its data is missing", id=id)
            self._forget(id)
        log.info("{count} shared files ({size})", count=len(self.files), size=_size(self.total))
        self.expire()

    def _count(self, view: FileView, sign: int) -> None:
        if sign > 0:
            self.files[view.id] = view
        else:
            del self.files[view.id]
        self._reserve(view.sender_key, view.room_key, sign * view.size)

    def _reserve(self, user: str, room: str, size: int) -> None:
        self.by_user[user] += size
        self.by_room[room] += size
        self.total += size

    def _forget(self, id: str) -> Deferred[None]:
        view = self.files.get(id)
        if view is None:
            return succeed(None)
        self._count(view, -1)
        path = self.directory / id
        return self._metadata.delete(id).addCallback(
            lambda _: self._run(path.unlink, missing_ok=True))

    # -- uploads -----------------------------------------------------------------------

    def begin(self, room_key: str, room: str, sender_key: str, sender: str, name: str,
              size: int, sha256: str | None) -> Upload:
        limits = self.limits
        if not limits.max_file_size:
            raise FileTooLarge("file sharing is off on this server")
        if size > limits.max_file_size:
            shown, most = _over(size, limits.max_file_size)
            raise FileTooLarge(f"that file is {shown}; the most is {most}")
        if sha256 is not None and not _SHA256.fullmatch(sha256):
            raise BadUpload("SHA256 is 64 lowercase hex digits")
        for used, quota, whose in ((self.by_user[sender_key], limits.per_user, "your"),
                                   (self.by_room[room_key], limits.per_room, f"{room}'s"),
                                   (self.total, limits.total, "the server's")):
            if used + size > quota:
                raise QuotaExceeded(f"{whose} file quota is {_size(quota)}, {_size(used)} used; "
                                    f"{_size(size)} more does not fit")
        id = secrets.token_hex(16)
        meta = FileView(id, room, room_key, sender, sender_key, name, size, sha256 or "", 0.0)
        upload = Upload(self, meta)
        self._reserve(sender_key, room_key, size)
        return upload

    def _stored(self, view: FileView) -> Deferred[FileView]:
        """The upload's file is in place: record it durably, then it is the store's."""
        self.files[view.id] = view
        value = asdict(view)
        del value["id"]
        return self._metadata.put(view.id, value).addCallback(lambda _: view)

    def _released(self, view: FileView) -> None:
        self._reserve(view.sender_key, view.room_key, -view.size)

    # -- reading -----------------------------------------------------------------------

    def find(self, file_id: str) -> FileView | None:
        return self.files.get(file_id) if is_file_id(file_id) else None

    def open(self, file_id: str) -> BinaryIO:
        if self.find(file_id) is None:
            raise NoSuchFile(f"no file {file_id[:40]}")
        try:
            return (self.directory / file_id).open("rb")
        except OSError as error:
            log.error("shared file {id} can't be read: {error}", id=file_id, error=str(error))
            raise NoSuchFile(f"file {file_id} can't be read") from None

    def usage(self) -> tuple[int, int]:
        """How many files are stored, and their bytes (with uploads in progress)."""
        return len(self.files), self.total

    # -- retention ---------------------------------------------------------------------

    def expire(self) -> Deferred[None]:
        days = self.limits.retention_days
        if not days:
            return succeed(None)
        oldest = self._clock.seconds() - days * 86400
        old = [id for id, view in self.files.items() if view.at < oldest]
        if old:
            log.info("deleting {count} shared files older than {days} days", count=len(old),
                     days=days)
        done = DeferredList([self._forget(id) for id in old], consumeErrors=True)

        def report(results: list[tuple[bool, Any]]) -> None:
            for ok, result in results:
                if not ok:
                    log.failure("expiring a file failed", result)

        return done.addCallback(report)


@implementer(IUpload)
class Upload:
    """One upload's file, written in order, one batch at a time, through the store's runner."""

    def __init__(self, store: FileStore, meta: FileView) -> None:
        self._store = store
        self._meta = meta
        self.size = meta.size
        self.received = 0
        self.pending = 0
        self._queue: list[bytes] = []
        self._busy = False
        self._waiting: list[Deferred[None]] = []
        self._failure: Failure | None = None
        self._ended = False
        self._part = store.directory / f"{meta.id}.part"
        self._final = store.directory / meta.id
        self._hash = hashlib.sha256()
        try:
            self._fd = os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            store._released(meta)
            log.error("can't create {path}: {error}", path=str(self._part), error=str(error))
            raise StorageFailed("the file can't be stored (server storage error)") from None

    @property
    def id(self) -> str:
        return self._meta.id

    def write(self, data: bytes) -> None:
        if len(data) > self.size - self.received:
            raise BadUpload(f"more than the {self.size} bytes declared")
        self.received += len(data)
        if self._failure is not None or self._ended:
            return
        self.pending += len(data)
        self._queue.append(data)
        self._kick()

    def _kick(self) -> None:
        if self._busy or not self._queue:
            if not self._busy and not self.pending:
                waiting, self._waiting = self._waiting, []
                for waiter in waiting:
                    waiter.callback(None)
            return
        batch = b"".join(self._queue)
        self._queue.clear()
        self._busy = True
        self._store._run(self._write_now, batch).addCallbacks(
            self._wrote, self._write_failed, callbackArgs=(len(batch),))

    def _write_now(self, data: bytes) -> None:
        """On the files thread: hash and write one batch."""
        self._hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _wrote(self, _: object, count: int) -> None:
        self._busy = False
        self.pending -= count
        self._kick()

    def _write_failed(self, failure: Failure) -> None:
        log.failure("writing {path} failed", failure, path=str(self._part))
        self._failure = failure
        self._busy = False
        self.pending = 0
        self._queue.clear()
        self._kick()

    def drained(self) -> Deferred[None]:
        if not self._busy and not self.pending:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiting.append(waiter)
        return waiter

    def finish(self) -> Deferred[FileView]:
        assert self.received == self.size, "finish before every byte was written"
        self._ended = True
        store = self._store
        meta = self._meta

        def seal(_: object) -> Deferred[None]:
            if self._failure is not None:
                raise StorageFailed("the file could not be stored (server storage error)")
            return store._run(self._seal)

        def stored(_: object) -> Deferred[FileView]:
            sha = self._hash.hexdigest()
            view = replace(meta, sha256=sha, at=store._clock.seconds())
            return store._stored(view)

        def failed(failure: Failure) -> Failure:
            store._released(meta)
            store.files.pop(meta.id, None)
            store._run(self._remove)
            if not failure.check(BadUpload, StorageFailed):
                log.failure("storing {path} failed", failure, path=str(self._final))
                return Failure(StorageFailed("the file could not be stored (server storage "
                                             "error)"))
            return failure

        return self.drained().addCallback(seal).addCallback(stored).addErrback(failed)

    def _seal(self) -> None:
        """On the files thread: check, fsync, put in place, fsync the directory."""
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1
        if self._meta.sha256 and self._hash.hexdigest() != self._meta.sha256:
            raise BadUpload("the bytes received do not have the SHA-256 declared; "
                            "the file was not stored")
        os.rename(self._part, self._final)
        fsync_directory(self._part.parent)

    def abort(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._store._released(self._meta)
        self.pending -= sum(map(len, self._queue))
        self._queue.clear()
        self.drained().addCallback(lambda _: self._store._run(self._remove))

    def _remove(self) -> None:
        """On the files thread: close and delete what was written."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for path in (self._part, self._final):
            path.unlink(missing_ok=True)
