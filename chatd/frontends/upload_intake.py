"""Upload intake: the raw bytes of one ``/send`` on a stream of lines.

After the ``350`` the next SIZE bytes a line client sends are the file's, not lines. An
``UploadIntake`` takes them from the connection's input before its framer sees any: it
counts them into the upload, pauses reading while the disk is behind, holds the upload to
its deadline (``chatd.frontends.upload_deadline``), answers the ``/send`` once the file is
stored, and gives back whatever came past its end, which is lines again. It then remembers,
until the next line, whether that line may be the tail of a file sent with more bytes than
its SIZE. The connection keeps one only while an upload runs (and for that next line), so
an idle connection pays a slot for it, not an object.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chatd.frontends.codes import Code
from chatd.frontends.interpreter import Reply
from chatd.frontends.upload_deadline import UploadDeadline, UploadPace
from chatd.kernel import errors
from chatd.kernel.errors import UploadTooSlow
from chatd.kernel.interfaces import IUpload

log = Logger()

# Why reading is paused for an upload (the connection's PAUSE_* bits): its bytes wait on the
# disk, or bytes after a /send wait unframed for its answer.
PAUSE_DISK = 2
PAUSE_HELD = 4
# Bytes held unframed after a /send before reading pauses: a client should send none before
# the 350 reply, so this is only what a pipelining client sent ahead.
HOLD_LIMIT = 64 * 1024
# Bytes of an upload waiting for the disk before reading from its client pauses.
UPLOAD_BACKLOG = 1024 * 1024
# Where the intake is: taking the file's bytes; all of them are in and nothing has come past
# them (yet); bytes came past them before the final reply, so the next line is the tail of a
# file sent with more than its SIZE unless it is a command; cut (too slow): what the client
# sends is discarded, never read as lines.
TAKING, UPLOADED, EXCESS, CUT = 0, 1, 2, 3


class Reader(Protocol):
    """The connection an intake reads for."""

    @property
    def peer(self) -> str:
        """Where the client is, for logs."""

    def pause_reading(self, why: int) -> None: ...

    def resume_reading(self, why: int) -> None: ...

    def upload_cut(self) -> None:
        """The upload was too slow and is cut: say so, and close."""


class UploadIntake:
    __slots__ = ("_deadline", "_reader", "done", "state", "upload")

    def __init__(self, upload: IUpload, reader: Reader, clock: IReactorTime,
                 pace: UploadPace) -> None:
        self.upload = upload
        self._reader = reader
        self.state = TAKING
        # The /send's final reply: 250 once the file is stored, or why it was not.
        self.done: Deferred[Reply] = Deferred()
        self._deadline = UploadDeadline(clock, pace, upload, self._too_slow)

    @property
    def taking(self) -> bool:
        """Whether the client's bytes are this intake's (the file's, or discarded)."""
        return self.state in (TAKING, CUT)

    def take(self, data: bytes) -> bytes:
        """The upload's share of ``data``; what is past its SIZE is given back."""
        if self.state == CUT:
            return b""
        upload = self.upload
        wanted = upload.size - upload.received
        if data:
            upload.write(data[:wanted])
        if upload.pending > UPLOAD_BACKLOG:
            self._reader.pause_reading(PAUSE_DISK)
            upload.drained().addCallback(lambda _: self._reader.resume_reading(PAUSE_DISK))
        if upload.received == upload.size:
            self._end()
            self.state = EXCESS if len(data) > wanted else UPLOADED
            done = self.done
            upload.finish().addCallbacks(
                lambda view: done.callback(Reply(
                    Code.FILE_STORED, f"{view.id} {view.size} {view.sha256} {view.name}")),
                done.errback)
        return data[wanted:]

    def answered(self, held: int) -> None:
        """The ``/send`` has its final reply, with ``held`` bytes framed after it: only bytes
        that came before that reply can be a file's excess, a line typed after it is the
        user's."""
        if self.state == UPLOADED and held:
            self.state = EXCESS

    def input_ended(self) -> None:
        """The client's input ended (a half-close) before the file's end."""
        if self.state != TAKING:
            return
        upload = self.upload
        self._end()
        upload.abort()
        self.done.errback(errors.BadUpload(
            f"the input ended after {upload.received} of {upload.size} bytes; "
            "the file was not stored"))

    def lost(self) -> None:
        """The connection is gone: an upload still taking bytes is removed."""
        if self.state != TAKING:
            return
        upload = self.upload
        self._end()
        upload.abort()
        log.info("{peer} went {received} bytes into an upload of {size}; it was removed",
                 peer=self._reader.peer, received=upload.received, size=upload.size)

    def _end(self) -> None:
        self._deadline.cancel()
        self.state = UPLOADED
        self._reader.resume_reading(PAUSE_DISK)

    def _too_slow(self, error: UploadTooSlow) -> None:
        """The deadline passed (the upload is aborted): answer the ``/send`` with why, and
        cut. What the client sends from now on is discarded, never read as lines: the rest
        of a file, said in a room, would be worse than the cut."""
        upload = self.upload
        self._end()
        self.state = CUT
        log.info("{peer} sent {received} bytes of an upload of {size} too slowly; it was cut",
                 peer=self._reader.peer, received=upload.received, size=upload.size)
        self.done.errback(error)
        self._reader.upload_cut()
