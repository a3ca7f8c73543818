"""Files shared from the page: a one-use token over the WebSocket, the bytes over HTTP.

A browser can't put raw bytes between its JSON messages the way a line client does after
``/send``, and a file in WebSocket frames would hold the browser's one request queue (and
everyone's messages to it) for as long as it takes. So over the web protocol ``/send ROOM
NAME SIZE [SHA256]`` does everything the line protocol's does before the bytes (the session
checks membership, the name, the size and the quotas, and reserves the space: ``IUpload``),
and answers at once, ``350 send SIZE bytes: POST them to /upload with the header
X-Chatd-Upload: TOKEN within SECONDS seconds``. The browser then POSTs the file there with
``fetch``; the answer is the line protocol's final reply as JSON (``{"code": 250, "text":
"ID SIZE SHA256 NAME"}``, or the 4xx/5xx), and the room hears ``111`` as from any protocol.

* **The token** is random, good for one POST, for ``UPLOAD_WINDOW`` seconds, and only while
  its browser's WebSocket is open; an unused one gives its reservation back. It travels in
  a header (not the URL, which access logs keep), which a page on another site can't set
  on a request here without a CORS preflight that this site never grants.
* **Streamed to disk**: the body is written into the upload as it arrives (``UploadBody``,
  the request's ``content``), never held whole in memory nor in a temporary file, and
  reading from the browser pauses while more than ``UPLOAD_BACKLOG`` bytes wait for the
  disk. Its size is the ``Content-Length``, which must be the SIZE given to ``/send``.
* **A deadline** from the start of the POST (``chatd.frontends.upload_deadline``, the line
  protocol's rule too): a body not all in by then is cut, answered ``408`` and closed, and
  its upload aborted, so a browser that stalls or dribbles can't hold its quota.
* **Any other request body** (no page needs one), and a refused upload's, is capped at
  ``MAX_OTHER_BODY`` bytes; past that it is answered at once (``413``, or the upload's
  refusal) and the connection closed, so nobody can fill a temporary file with a POST.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from chatd.frontends.codes import Code
from chatd.frontends.interpreter import CODES
from chatd.frontends.upload_deadline import UploadDeadline, UploadPace
from chatd.kernel import errors
from chatd.kernel.interfaces import IUpload
from chatd.kernel.views import FileView

log = Logger()

UPLOAD_PATH = b"upload"
TOKEN_HEADER = b"X-Chatd-Upload"
# Seconds a browser has, after the 350, to start sending the file.
UPLOAD_WINDOW = 60.0
# Tokens one browser may hold unused at once.
MAX_PENDING = 4
# Bytes of an upload waiting for the disk before reading from the browser pauses.
UPLOAD_BACKLOG = 1024 * 1024
# Bytes of the body of any request that is not an upload (and of a refused upload).
MAX_OTHER_BODY = 64 * 1024
# Seconds a client answered before its body is all in has to read the answer, while what it
# still sends is discarded: closing with its bytes unread would reset the connection (RST),
# and the answer with it.
LINGER = 5.0


@dataclass(slots=True)
class _Pending:
    upload: IUpload
    forget: Callable[[str], None]
    call: IDelayedCall
    pace: UploadPace


class Uploads:
    """The tokens given out and not yet used, of one web frontend."""

    def __init__(self, clock: IReactorTime, window: float = UPLOAD_WINDOW) -> None:
        self.clock = clock
        self.window = window
        self._pending: dict[str, _Pending] = {}

    def issue(self, upload: IUpload, forget: Callable[[str], None], pace: UploadPace) -> str:
        """A token for ``upload``, whose bytes must come at ``pace``; ``forget(token)`` is
        called once it is used or void."""
        token = secrets.token_urlsafe(24)
        call = self.clock.callLater(self.window, self._expired, token)
        self._pending[token] = _Pending(upload, forget, call, pace)
        return token

    def claim(self, token: str) -> tuple[IUpload, UploadPace] | None:
        """The upload a token is for and its pace, once; None for a token unknown, used or
        expired."""
        pending = self._pending.pop(token, None)
        if pending is None:
            return None
        pending.call.cancel()
        pending.forget(token)
        return pending.upload, pending.pace

    def cancel(self, token: str) -> None:
        """Void a token (its browser went): the upload gives its reservation back."""
        pending = self._pending.pop(token, None)
        if pending is not None:
            pending.call.cancel()
            pending.upload.abort()

    def _expired(self, token: str) -> None:
        pending = self._pending.pop(token, None)
        if pending is not None:
            pending.forget(token)
            pending.upload.abort()

    def __len__(self) -> int:
        return len(self._pending)


class UploadBody:
    """A request's ``content`` that streams into an upload, or, refused, takes nothing.

    twisted.web writes the body here as it arrives and asks ``tell`` (how much there is to
    parse as a form: nothing, since nothing is kept) and ``seek`` once it is all in."""

    def __init__(self, request: Request, clock: IReactorTime, upload: IUpload | None = None,
                 refusal: errors.ChatError | None = None) -> None:
        self._request = request
        self._clock = clock
        self._transport: Any = request.channel.transport  # TCP or TLS: a push producer
        self.upload = upload
        self.refusal = refusal
        self.finishing = False
        self.deadline: UploadDeadline | None = None
        self._discarded = 0

    def write(self, data: bytes) -> None:
        upload = self.upload
        if upload is None:
            self._discarded += len(data)
            if self._discarded > MAX_OTHER_BODY and self.refusal is not None:
                refusal, self.refusal = self.refusal, None
                answer_now(self._request, self._clock, *_refusal(refusal))
            return
        upload.write(data)
        if upload.received == upload.size and self.deadline is not None:
            self.deadline.cancel()
        if upload.pending > UPLOAD_BACKLOG:
            self._transport.pauseProducing()
            upload.drained().addCallback(lambda _: self._transport.resumeProducing())

    def too_slow(self, error: errors.UploadTooSlow) -> None:
        """The deadline passed (the upload is aborted): answer with why, now, and close."""
        self.upload = None
        log.info("{peer} sent an upload from the web too slowly; it was cut",
                 peer=self._request.getClientAddress())
        answer_now(self._request, self._clock, *_refusal(error))

    def done(self, _: object = None) -> None:
        """The request is over: an upload it did not finish is given up."""
        if self.deadline is not None:
            self.deadline.cancel()
        if self.upload is not None and not self.finishing:
            self.finishing = True
            self.upload.abort()

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        return None


class CappedBody:
    """Any other request's ``content``: kept in memory, up to ``MAX_OTHER_BODY`` bytes."""

    def __init__(self, request: Request, clock: IReactorTime) -> None:
        self._request = request
        self._clock = clock
        self._chunks: list[bytes] = []
        self._size = 0
        self._read = False

    def write(self, data: bytes) -> None:
        if self._size > MAX_OTHER_BODY:
            return  # answered already: the rest is discarded
        self._size += len(data)
        if self._size > MAX_OTHER_BODY:
            self._chunks.clear()
            answer_now(self._request, self._clock, Code.LINE_TOO_LONG,
                       f"a request body may be at most {MAX_OTHER_BODY} bytes, but for an "
                       "upload's; it was not read", status=413)
            return
        self._chunks.append(data)

    def tell(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        self._read = False
        return 0

    def read(self, size: int = -1) -> bytes:
        if self._read:
            return b""
        self._read = True
        return b"".join(self._chunks)

    def close(self) -> None:
        self._chunks.clear()


def request_body(request: Request, length: int | None, uploads: Uploads
                 ) -> UploadBody | CappedBody:
    """Where a request's body goes, decided once its headers are in (``gotLength``)."""
    clock = uploads.clock
    tokens = request.requestHeaders.getRawHeaders(TOKEN_HEADER)
    if not tokens:
        return CappedBody(request, clock)
    claimed = uploads.claim(tokens[0].decode("ascii", "replace"))
    if claimed is None:
        return UploadBody(request, clock, refusal=errors.NotAllowed(
            "that upload token is unknown, used or expired; /send again for a new one"))
    upload, pace = claimed
    body = UploadBody(request, clock, upload)
    request.notifyFinish().addBoth(body.done)
    if length != upload.size:
        body.done()
        body.upload = None
        body.refusal = errors.BadUpload(
            f"the body must be the {upload.size} bytes declared (Content-Length), "
            f"not {'unknown' if length is None else length}; the file was not stored")
    elif upload.size:
        body.deadline = UploadDeadline(clock, pace, upload, body.too_slow)
    return body


def answer_now(request: Request, clock: IReactorTime, code: Code, text: str,
               status: int | None = None) -> None:
    """Answer ``request`` before its body is all in (too large, too slow), and close.

    twisted.web answers only once a body is in, so the answer is written here, whole, with
    the headers a JSON answer needs (no page: nosniff keeps it from being read as one). The
    channel then reads nothing more (twisted.web's own
    way, as after a request that is not persistent: its instance's methods are replaced),
    and the connection closes once the client has closed its side, or after ``LINGER``."""
    status = status or _status(code)
    body = json.dumps({"code": int(code), "text": text}).encode()
    head = [b"HTTP/1.1 %d %s" % (status, RESPONSES.get(status, b"Error")),
            b"Content-Type: application/json", b"Content-Length: %d" % len(body),
            b"X-Content-Type-Options: nosniff", b"Cache-Control: no-store",
            b"Connection: close"]
    channel: Any = request.channel
    channel.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    channel.dataReceived = _discard
    channel.allContentReceived = _nothing
    closing = clock.callLater(LINGER, channel.loseConnection)

    def closed(_: object) -> None:
        if closing.active():
            closing.cancel()

    request.notifyFinish().addBoth(closed)


def _discard(data: bytes) -> None:
    """Reads nothing of what a client answered early still sends."""


def _nothing() -> None:
    """Its request's body is over: it is answered already."""


def _status(code: Code) -> int:
    """The HTTP status of an answer with ``code``."""
    return 200 if code < 300 else 403 if code == Code.NOT_ALLOWED else \
        408 if code == Code.UPLOAD_TOO_SLOW else 400 if code < 500 else 500


def _answer(request: Request, code: Code, text: str) -> bytes:
    """The line protocol's final reply, as the web protocol writes a reply."""
    request.setResponseCode(_status(code))
    request.setHeader(b"Content-Type", b"application/json")
    return json.dumps({"code": int(code), "text": text}).encode()


def _refusal(error: errors.ChatError) -> tuple[Code, str]:
    return CODES.get(type(error), Code.BAD_UPLOAD), str(error)


class UploadResource(Resource):
    """``/upload``: the POST of a file whose ``/send`` was answered 350."""

    isLeaf = True

    def render_POST(self, request: Request) -> bytes | int:
        body = request.content
        if not isinstance(body, UploadBody):
            return _answer(request, Code.BAD_SYNTAX, "POST a file here with the token of "
                           f"its /send in {TOKEN_HEADER.decode()}")
        upload = body.upload
        if upload is None:
            assert body.refusal is not None
            return _answer(request, *_refusal(body.refusal))
        if upload.received != upload.size:  # the connection's own length check failed
            body.done()
            return _answer(request, Code.BAD_UPLOAD, f"{upload.received} of {upload.size} "
                           "bytes came; the file was not stored")
        body.finishing = True

        def stored(view: FileView) -> None:
            log.info("{peer} uploaded {name} ({size} bytes) from the web", name=view.name,
                     size=view.size, peer=request.getClientAddress())
            respond(Code.FILE_STORED, f"{view.id} {view.size} {view.sha256} {view.name}")

        def failed(failure: Failure) -> None:
            if failure.check(errors.ChatError):
                assert isinstance(failure.value, errors.ChatError)
                respond(*_refusal(failure.value))
            else:
                log.failure("storing an upload from the web failed", failure)
                respond(Code.STORAGE_FAILED, "the file could not be stored (server error)")

        def respond(code: Code, text: str) -> None:
            if not gone:
                request.write(_answer(request, code, text))
                request.finish()

        gone: list[object] = []  # the browser went before the answer (nobody to tell)
        request.notifyFinish().addBoth(gone.append)
        upload.finish().addCallbacks(stored, failed)
        return NOT_DONE_YET
