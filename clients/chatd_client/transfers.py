"""File transfers of the bundled client: ``/send PATH`` and ``/get ID [DIR]``.

``/send PATH`` sends ``/send ROOM NAME SIZE SHA256`` for the current room; once the server
answers 350 the file's bytes are streamed to the connection (a producer, so a large file is
never read whole), and the 250 (or 4xx) that follows ends the transfer. ``/get ID [DIR]``
sends ``/get ID``; the server's 351 SIZE NAME is followed by SIZE raw bytes, which the
connection hands to the download (``ServerConnection`` leaves line framing for them) and
which are written to a new file in DIR (default: the current directory): an existing file
is never overwritten, a suffix `` (1)``, `` (2)``... is added instead; the 251 that follows
gives the SHA-256 the download is checked against.

Both show one progress bar, redrawn in place (``show``) whenever the percentage changes, so
at most 101 times whatever the size; the client ends it with one line saying how it went.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.protocols.basic import FileSender

from chatd_client.render import human_size

# How many names with a suffix a download tries before giving up.
MAX_SUFFIX = 1000
BAR_WIDTH = 20


def progress_bar(done: int, total: int) -> str:
    """``[#####...............]  25% 1.0 of 4.0 MiB``"""
    fraction = 1.0 if not total else done / total
    filled = int(fraction * BAR_WIDTH)
    return (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%} "
            f"{human_size(done)} of {human_size(total)}")


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 20 s``, ``2 h 5 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


class Progress:
    """How far a transfer of ``total`` bytes is, how fast it goes, how long it has to go;
    calls ``show`` with the bar whenever another whole percent is done."""

    def __init__(self, what: str, total: int, clock: IReactorTime,
                 show: Callable[[str], None]) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._clock = clock
        self._started = clock.seconds()
        self._show = show
        self._percent = -1

    def add(self, count: int) -> None:
        self.done += count
        percent = 100 if not self.total else self.done * 100 // self.total
        if percent != self._percent:
            self._percent = percent
            self._show(self.bar())

    def bar(self) -> str:
        """``sending a.bin [#####...............]  25% 1.0 of 4.0 MiB, 2.0 MiB/s, 1.5 s left``"""
        line = f"{self.what} {progress_bar(self.done, self.total)}"
        elapsed = self._clock.seconds() - self._started
        if elapsed <= 0 or not self.done:
            return line
        speed = self.done / elapsed
        line += f", {human_size(int(speed))}/s"
        if self.done < self.total:
            line += f", {duration((self.total - self.done) / speed)} left"
        return line

    def summary(self) -> str:
        """``3.0 MiB in 1.5 s, 2.0 MiB/s``: the whole transfer, once it is over."""
        elapsed = self._clock.seconds() - self._started
        said = f"{human_size(self.total)} in {duration(elapsed)}"
        if elapsed > 0:
            said += f", {human_size(int(self.done / elapsed))}/s"
        return said


def wire_name(path: Path) -> str:
    """The name a file is offered under: one word (the server splits on spaces)."""
    return path.name.replace(" ", "_") or "file"


def local_name(name: str) -> str:
    """A name safe to create in the download directory, whatever the server said."""
    name = "".join("_" if c in "/\\\0" or not c.isprintable() else c for c in name)
    name = name.strip().lstrip(".")
    return name or "download"


def create_new(directory: Path, name: str) -> tuple[Path, BinaryIO]:
    """Open a file that did not exist: ``name``, else ``name (1)``, ``name (2)``..."""
    stem, dot, extension = name.rpartition(".")
    if not stem:
        stem, dot, extension = name, "", ""
    for number in range(MAX_SUFFIX):
        candidate = name if not number else f"{stem} ({number}){dot}{extension}"
        path = directory / candidate
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "wb")
    raise FileExistsError(f"{MAX_SUFFIX} files named like {name} exist in {directory}")


class Upload:
    """``/send PATH``: waits for the 350, streams the file, waits for the final reply."""

    def __init__(self, path: Path, room: str, clock: IReactorTime,
                 show: Callable[[str], None]) -> None:
        self.path = path
        self.room = room
        self._clock = clock
        self._show = show
        self.size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
        self.sha256 = digest.hexdigest()
        self.progress: Progress | None = None
        self._source: BinaryIO | None = None

    @property
    def sending(self) -> bool:
        return self.progress is not None

    def command(self) -> str:
        return f"/send {self.room} {wire_name(self.path)} {self.size} {self.sha256}"

    def result(self, stored: str) -> str:
        """What to say once the server's ``250 ID SIZE SHA256 NAME`` (``stored``) came."""
        assert self.progress is not None
        return (f"shared {self.path.name} with {self.room} as {stored.split(' ')[0]} "
                f"({self.progress.summary()})")

    def go_ahead(self, transport: Any) -> Deferred[Any]:
        """The 350 came: stream the bytes to ``transport``."""
        progress = self.progress = Progress(f"sending {self.path.name}", self.size,
                                            self._clock, self._show)
        self._source = self.path.open("rb")

        def counted(chunk: bytes) -> bytes:
            progress.add(len(chunk))
            return chunk

        if not self.size:
            progress.add(0)
        sent: Deferred[Any] = FileSender().beginFileTransfer(self._source, transport, counted)
        return sent.addBoth(self._close)

    def _close(self, result: object) -> object:
        if self._source is not None:
            self._source.close()
            self._source = None
        return result


class Download:
    """``/get ID [DIR]``: the raw bytes after a 351, into a file that did not exist."""

    def __init__(self, file_id: str, directory: Path, clock: IReactorTime,
                 show: Callable[[str], None]) -> None:
        self.file_id = file_id
        self.directory = directory
        self._clock = clock
        self._show = show
        self.path: Path | None = None
        self.progress: Progress | None = None
        self._file: BinaryIO | None = None
        self._digest = hashlib.sha256()

    def begin(self, size: int, name: str) -> None:
        self.path, self._file = create_new(self.directory, local_name(name))
        self.progress = Progress(f"fetching {name}", size, self._clock, self._show)
        if not size:
            self.progress.add(0)

    def bytes(self, data: bytes | None) -> None:
        """Some of the file's bytes; None once they are all in."""
        assert self._file is not None and self.progress is not None
        if data is None:
            self._file.close()
            return
        self._file.write(data)
        self._digest.update(data)
        self.progress.add(len(data))

    def result(self, sent: str) -> str:
        """What to say once the server's ``251 ID SIZE SHA256`` (``sent``) came."""
        assert self.path is not None and self.progress is not None
        words = sent.split(" ")
        said = f"saved {self.path.name} to {self.path.parent} ({self.progress.summary()})"
        if len(words) >= 3 and words[2] != self._digest.hexdigest():
            said += ("; its SHA-256 is not the one the server gave: the file is damaged, "
                     "fetch it again")
        return said

    def abandon(self) -> None:
        """The connection went mid-file: remove what was written."""
        if self._file is not None and not self._file.closed:
            self._file.close()
            if self.path is not None:
                self.path.unlink(missing_ok=True)
