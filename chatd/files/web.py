"""The HTTP resource that serves a shared file given a valid signed link (``links``).

Mounted by the web frontend at ``/files`` (``root.putChild(b"files", FileResource(...))``),
it answers ``GET /files/<id>?expires=..&sig=..`` with the file's bytes, streamed from disk
with back-pressure, and headers that keep a browser from ever running an uploaded file: it
is an attachment, of type ``application/octet-stream``, with ``X-Content-Type-Options:
nosniff`` and a Content-Security-Policy that allows nothing and sandboxes the document.
A bad or expired link gets 403, an unknown file 404, with a plain-text body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.logger import Logger
from twisted.protocols.basic import FileSender
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from chatd.files.links import LinkSigner
from chatd.kernel.errors import NoSuchFile
from chatd.kernel.interfaces import IFileStore

log = Logger()

# What every answer of this resource carries.
SAFETY_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"Content-Security-Policy": b"default-src 'none'; sandbox",
    b"Referrer-Policy": b"no-referrer",
    b"Cache-Control": b"private, no-store",
}


def _ascii_fallback(name: str) -> str:
    """A filename for clients that ignore ``filename*``: printable ASCII, no quotes."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                   for c in name) or "file"


class FileResource(Resource):
    """``/files``: one child per file id."""

    def __init__(self, store: IFileStore, signer: LinkSigner) -> None:
        super().__init__()
        self._store = store
        self._signer = signer

    def getChild(self, path: bytes, request: Any) -> Resource:
        return _SharedFile(self._store, self._signer, path.decode("ascii", "replace"))


class _SharedFile(Resource):
    isLeaf = True

    def __init__(self, store: IFileStore, signer: LinkSigner, file_id: str) -> None:
        super().__init__()
        self._store = store
        self._signer = signer
        self._file_id = file_id

    def _refuse(self, request: Request, code: int, text: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return text.encode() + b"\n"

    def render_GET(self, request: Request) -> bytes | int:
        for name, value in SAFETY_HEADERS.items():
            request.setHeader(name, value)
        args = request.args or {}
        expires = (args.get(b"expires") or [b""])[0].decode("ascii", "replace")
        signature = (args.get(b"sig") or [b""])[0].decode("ascii", "replace")
        why = self._signer.check(self._file_id, expires, signature)
        if why is not None:
            return self._refuse(request, 403, f"refused: {why}")
        view = self._store.find(self._file_id)
        try:
            if view is None:
                raise NoSuchFile(self._file_id)
            source = self._store.open(self._file_id)
        except NoSuchFile:
            return self._refuse(request, 404, "no such file (it may have expired)")
        request.setHeader(b"Content-Type", b"application/octet-stream")
        request.setHeader(b"Content-Length", str(view.size).encode())
        request.setHeader(b"Content-Disposition", (
            f'attachment; filename="{_ascii_fallback(view.name)}"; '
            f"filename*=UTF-8''{quote(view.name, safe='')}").encode("ascii"))
        if request.method == b"HEAD":
            source.close()
            return b""
        sent = FileSender().beginFileTransfer(source, request)

        def done(_: object) -> None:
            source.close()
            if not request.finished and not request._disconnected:
                request.finish()

        sent.addBoth(done)
        return NOT_DONE_YET

    render_HEAD = render_GET
