"""History on disk: one append-only file per conversation under ``DATA/history/``.

Each file starts with ``chatd-history 1`` (kind and format version); each later line is one
message as a journal record (``<crc32> <JSON of kernel.events.to_dict>``), so a message keeps
its ``id``, ``at``, sender and text. The retained messages live in memory too
(``MemoryHistory``), which answers every read.

Writes are batched: a kept message is queued, and every ``window`` seconds the queue goes to
one worker thread that appends each conversation's new lines and fsyncs the file. The reactor
never touches the disk, a message costs an append to a list, and a crash loses at most the
messages of the last window (and of a write still in progress), never older history.

At start-up each file is read whole: a torn last line (a crash in mid-write) is cut off;
another damaged line is skipped and logged (history is not worth refusing to start for). An end
that holds NUL bytes is no crash's tear but pages zeroed by a power loss or a torn page, which
can take messages written long before: it is logged as an error, not cut off as a tear.
Compaction is a rewrite of the retained messages, done by the same thread (to a temporary
file, fsync'ed, renamed over the old one), when a file holds more than twice what is retained
(plus ``SLACK`` lines) or messages aged out; a conversation with nothing left loses its file.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorFromThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import Event, Said, from_dict, to_dict
from chatd.storage.journal import decode_record, fsync_directory, unfinished_append

log = Logger()

HEADER = b"chatd-history 1\n"
SUFFIX = ".history"
# Lines a file may hold beyond twice what is retained before it is compacted.
SLACK = 100
# Seconds between sweeps for messages past the age limit.
SWEEP = 3600.0


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
# json's own string escaper (C), as _JSON uses it: a room message's record is formatted
# around it, the bytes _JSON would give, at a third of the cost.
_string = json.encoder.encode_basestring
_SAID = ('{"type":"Said","id":%s,"at":%s,"room":%s,"sender":%s,"text":%s,"action":%s,'
         '"origin":%s,"room_id":%s}')


def encode(event: Event) -> bytes:
    """One message as a record line: what ``to_dict`` gives, checksummed as the journals
    are (``decode_record`` reads it). Room messages, nearly all of history, take a short
    path: this runs for every message said. Pass this function itself to
    ``Event.encoded``: a message's record is then made once, kept with the event, and a
    rewrite of the file does not make it again."""
    if type(event) is Said:
        assert isinstance(event, Said)
        text = _SAID % (_string(event.id), float.__repr__(event.at), _string(event.room),
                        _string(event.sender), _string(event.text),
                        "true" if event.action else "false", _string(event.origin),
                        _string(event.room_id))
    else:
        text = _JSON.encode(to_dict(event))
    data = text.encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def file_name(key: str) -> str:
    return quote(key, safe="") + SUFFIX


@dataclass(frozen=True, slots=True)
class Job:
    """One conversation's work for the writer thread: append ``events``, or (``rewrite``)
    replace the file with them (none: remove it)."""

    key: str
    events: list[Event]
    rewrite: bool


@dataclass(slots=True)
class Loaded:
    events: list[Event]
    lines: int
    torn: bool
    damaged: int
    # Bytes at the end that hold no message and are more than a torn last line.
    lost: int = 0


def read_file(path: Path) -> Loaded | None:
    """A history file's messages; its torn tail cut off. None if it is not a history file."""
    with path.open("rb") as f:
        data = f.read()
    if not data.startswith(HEADER):
        return None
    events: list[Event] = []
    damaged = 0
    offset = len(HEADER)
    torn = False
    lost = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        line = data[offset:] if end < 0 else data[offset:end]
        record = decode_record(line) if end >= 0 else None
        event = None
        if record is not None:
            try:
                event = from_dict(record)
            except ValueError:
                event = None
        if event is None and (end < 0 or end + 1 == len(data)):
            if not unfinished_append(data[offset:], version=1):
                lost = len(data) - offset
                break
            # The last line, incomplete or unreadable: the trace of a crash in mid-write.
            with path.open("r+b") as f:
                f.truncate(offset)
                os.fsync(f.fileno())
            torn = True
            break
        if event is None:
            damaged += 1
        else:
            events.append(event)
        offset = end + 1
    return Loaded(events, len(events), torn, damaged, lost)


def write_jobs(directory: Path, jobs: list[Job]) -> None:
    """The writer thread's work: each job's lines, durable before it returns."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    renamed = False
    for job in jobs:
        path = directory / file_name(job.key)
        body = b"".join(event.encoded(encode) for event in job.events)
        if job.rewrite:
            if not job.events:
                path.unlink(missing_ok=True)
                renamed = True
                continue
            temporary = path.with_name(path.name + ".new")
            with open(temporary, "wb") as f:
                f.write(HEADER + body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
            renamed = True
            continue
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as f:
            if f.tell() == 0:
                body = HEADER + body
                renamed = True  # a new file: its directory entry must be durable too
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
    if renamed:
        fsync_directory(directory)


class FileHistory(MemoryHistory):
    """``MemoryHistory`` kept in ``directory``, written in batches every ``window`` s."""

    def __init__(self, directory: Path, clock: IReactorTime, retention: Retention,
                 reactor: IReactorFromThreads, pool: ThreadPool, window: float = 0.2,
                 write: Callable[[Path, list[Job]], None] = write_jobs) -> None:
        super().__init__(clock, retention)
        self.directory = directory
        self.window = window
        self._reactor = reactor
        self._pool = pool
        self._write = write
        self._pending: dict[str, list[Event]] = {}
        self._rewrite: set[str] = set()
        self._on_disk: dict[str, int] = {}
        self._timer: IDelayedCall | None = None
        self._flushing: Deferred[None] | None = None
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = clock
        self.writes = 0  # batches written, for tests and metrics
        self.stopped = False

    # -- start-up ----------------------------------------------------------------------

    def load(self) -> int:
        """Read every history file (at start-up, before any client); the message count."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            key = unquote(path.name[:-len(SUFFIX)])
            loaded = read_file(path)
            if loaded is None:
                aside = path.with_name(path.name + ".unreadable")
                os.replace(path, aside)
                log.error("{path} is not a history file; moved aside to {aside}",
                          path=str(path), aside=aside.name)
                continue
            if loaded.torn:
                log.warn("{path}: cut off a torn last line (a crash in mid-write)",
                         path=str(path))
            if loaded.damaged:
                log.warn("{path}: skipped {count} damaged lines", path=str(path),
                         count=loaded.damaged)
            if loaded.lost:
                log.error("{path}: the last {size} bytes hold no message (zeroed or "
                          "overwritten, more than a crash in mid-write leaves): messages "
                          "written before them were lost; every intact one was kept",
                          path=str(path), size=loaded.lost)
            self.kept[key] = deque(loaded.events, maxlen=self.retention.count)
            self._on_disk[key] = loaded.lines
            if (self.expire(key) or loaded.lines > len(self.kept.get(key, ())) or loaded.damaged
                    or loaded.lost):
                self._rewrite.add(key)
            total += len(self.kept.get(key, ()))
        if self._rewrite:
            self._schedule()
        log.info("history: {count} messages in {files} conversations", count=total,
                 files=len(self.kept))
        return total

    def start(self) -> None:
        """Once loaded: sweep for messages past the age limit from now on."""
        if self.retention.age:
            self._sweeper.start(min(SWEEP, self.retention.age / 10), now=False)

    # -- writing -----------------------------------------------------------------------

    def kept_one(self, key: str, event: Event) -> None:
        # The record is made here, on the reactor thread, a message at a time: the writer
        # thread then only joins bytes, so it never holds the GIL for long while chat
        # runs (made there, a busy room's batch of records took the GIL from the reactor
        # at each of its system calls).
        event.encoded(encode)
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [event]
            if self._timer is None and self._flushing is None:
                self._timer = self.clock.callLater(self.window, self.flush)
        else:
            pending.append(event)

    def forget(self, key: str) -> None:
        """Gone from memory now, and its file removed by the next write. (Rooms that end as
        the daemon stops, once their history was written, keep their files until the next
        start drops them: the history of rooms that are gone, see ChatServer.prune_history.)"""
        super().forget(key)
        self._pending.pop(key, None)
        if key in self._on_disk:
            self._rewrite.add(key)
            if not self.stopped:
                self._schedule()

    def removed(self, key: str) -> None:
        """A redacted message: the file is rewritten without it (its text must not stay on
        disk), by the next write."""
        self._rewrite.add(key)
        if not self.stopped:
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._flushing is None:
            self._timer = self.clock.callLater(self.window, self.flush)

    def sweep(self) -> None:
        """Drop messages past the age limit, and compact the files that held them."""
        for key in list(self.kept):
            if self.expire(key):
                self._rewrite.add(key)
        if self._rewrite:
            self._schedule()

    def _jobs(self) -> list[Job]:
        jobs = []
        pending, self._pending = self._pending, {}
        for key in pending.keys() | self._rewrite:
            kept = self.kept.get(key, ())
            on_disk = self._on_disk.get(key, 0) + len(pending.get(key, ()))
            if key in self._rewrite or on_disk > 2 * len(kept) + SLACK:
                jobs.append(Job(key, list(kept), rewrite=True))
                on_disk = len(kept)
            else:
                jobs.append(Job(key, pending[key], rewrite=False))
            if on_disk:
                self._on_disk[key] = on_disk
            else:
                self._on_disk.pop(key, None)
        self._rewrite.clear()
        return jobs

    def flush(self) -> Deferred[None]:
        """Hand what is queued to the writer thread; fires when it is durable."""
        self._timer = None
        if self._flushing is not None:
            return self._flushing
        jobs = self._jobs()
        if not jobs:
            return succeed(None)
        done: Deferred[None] = deferToThreadPool(self._reactor, self._pool, self._write,
                                                 self.directory, jobs)
        self._flushing = done

        def finished(result: Any) -> None:
            self._flushing = None
            self.writes += 1
            if isinstance(result, Failure):
                log.failure("history: a write failed; those messages are not on disk",
                            result)
            if self._pending or self._rewrite:
                self._schedule()

        done.addBoth(finished)
        return done

    def stop(self) -> Deferred[None]:
        """At shutdown: everything queued, written."""
        self.stopped = True
        if self._sweeper.running:
            self._sweeper.stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

        def rest(_: object) -> Deferred[None]:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return self.flush() if (self._pending or self._rewrite) else succeed(None)

        if self._flushing is not None:
            return self._flushing.addCallback(rest)
        return rest(None)
