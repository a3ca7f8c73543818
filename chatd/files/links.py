"""Short-lived signed download links, for HTTP (the web frontend mounts ``chatd.files.web``).

A link names a file and when it stops working, and carries an HMAC-SHA256 of both under a
secret only the daemon knows (``DATA/files.secret``, made on first use, mode 0600)::

    /files/<id>?expires=<unix seconds>&sig=<64 hex digits>

So a member can hand a browser (or an IRC user's client) a URL that needs no session cookie,
is useless once it has expired, and can't be altered to name another file or live longer.
The membership rule is applied when the link is made (``IChatSession.open_file``): make one
only for a session that may fetch the file now.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from twisted.internet.interfaces import IReactorTime

from chatd.kernel.keys import DEFAULTS

SECRET_BYTES = 32


def link_secret(path: Path) -> bytes:
    """The signing secret kept in ``path``, made (0600) if there is none yet."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(SECRET_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secret)
            os.fsync(fd)
        finally:
            os.close(fd)
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path} holds {len(secret)} bytes; a link secret needs "
                         f"{SECRET_BYTES}")
    return secret


class LinkSigner:
    """Makes and checks signed links."""

    def __init__(self, secret: bytes, clock: IReactorTime,
                 lifetime: int = DEFAULTS["file-link-lifetime"], prefix: str = "/files/"
                 ) -> None:
        self._secret = secret
        self._clock = clock
        self.lifetime = lifetime
        self.prefix = prefix

    def _signature(self, file_id: str, expires: int) -> str:
        message = f"{file_id}.{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def make(self, file_id: str) -> str:
        """A path and query good for ``lifetime`` seconds from now."""
        expires = int(self._clock.seconds()) + self.lifetime
        return (f"{self.prefix}{quote(file_id, safe='')}?expires={expires}"
                f"&sig={self._signature(file_id, expires)}")

    def check(self, file_id: str, expires: str, signature: str) -> str | None:
        """Why the link is refused, or None if it is good."""
        if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
            return "a malformed link"
        if not hmac.compare_digest(self._signature(file_id, int(expires)), signature):
            return "a link that was not made here (or was altered)"
        if int(expires) < self._clock.seconds():
            return "an expired link"
        return None
