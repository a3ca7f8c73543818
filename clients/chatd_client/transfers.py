"""File transfers of the bundled client: ``/send PATH`` and ``/get ID [DIR]``.

``/send PATH`` sends ``/send ROOM NAME SIZE SHA256`` for the current room; once the server
answers 350 the file's bytes are streamed to the connection (a producer, so a large file is
never read whole), and the 250 (or 4xx) that follows ends the transfer. ``/get ID [DIR]``
sends ``/get ID``; the server's 351 SIZE NAME is followed by SIZE raw bytes, which the
connection hands to the download (``ServerConnection`` leaves line framing for them) and
which are written to a new file in DIR (default: the current directory): an existing file
is never overwritten, a suffix `` (1)``, `` (2)``... is added instead. Both show a progress
bar, a note at every tenth of the way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred
from twisted.protocols.basic import FileSender

# How many names with a suffix a download tries before giving up.
MAX_SUFFIX = 1000
BAR_WIDTH = 20


def progress_bar(done: int, total: int) -> str:
    """``[#####...............]  25% 1.0 of 4.0 MiB``"""
    fraction = 1.0 if not total else done / total
    filled = int(fraction * BAR_WIDTH)
    return (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%} "
            f"{_size(done)} of {_size(total)}")


def _size(count: int) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


class Progress:
    """Calls ``show`` with a bar whenever another tenth of ``total`` is done."""

    def __init__(self, total: int, show: Callable[[str], None]) -> None:
        self.total = total
        self.done = 0
        self._show = show
        self._tenths = -1

    def add(self, count: int) -> None:
        self.done += count
        tenths = 10 if not self.total else self.done * 10 // self.total
        if tenths != self._tenths:
            self._tenths = tenths
            self._show(progress_bar(self.done, self.total))


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

    def __init__(self, path: Path, note: Callable[[str], None]) -> None:
        self.path = path
        self._note = note
        self.size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
        self.sha256 = digest.hexdigest()
        self.sending = False
        self._source: BinaryIO | None = None

    def command(self, room: str) -> str:
        return f"/send {room} {wire_name(self.path)} {self.size} {self.sha256}"

    def go_ahead(self, transport: Any) -> Deferred[Any]:
        """The 350 came: stream the bytes to ``transport``."""
        self.sending = True
        progress = Progress(self.size, self._note)
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

    def __init__(self, file_id: str, directory: Path, note: Callable[[str], None]) -> None:
        self.file_id = file_id
        self.directory = directory
        self._note = note
        self.path: Path | None = None
        self._file: BinaryIO | None = None
        self._progress: Progress | None = None

    def begin(self, size: int, name: str) -> None:
        self.path, self._file = create_new(self.directory, local_name(name))
        self._progress = Progress(size, self._note)
        if not size:
            self._progress.add(0)

    def bytes(self, data: bytes | None) -> None:
        """Some of the file's bytes; None once they are all in."""
        assert self._file is not None and self._progress is not None
        if data is None:
            self._file.close()
            return
        self._file.write(data)
        self._progress.add(len(data))

    def abandon(self) -> None:
        """The connection went mid-file: remove what was written."""
        if self._file is not None and not self._file.closed:
            self._file.close()
            if self.path is not None:
                self.path.unlink(missing_ok=True)
