"""The member service's shared secret: a file of mode 0600 that the service and every client
(chat daemons, chatd-admin) read. Kept apart from both daemons' taps, which both need it."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from twisted.logger import Logger

from chatd.kernel.errors import StartupError

log = Logger()


def read_secret(path: Path, create: bool = False) -> str:
    """The shared secret in ``path``, refusing a file that group or others can read; with
    ``create``, a missing file is made with a random secret first."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        log.info("created a new member-service secret in {path}", path=str(path))
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as error:
        raise StartupError(f"secret file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(f"secret file {path} is readable by others; chmod 600 it")
    if len(text) < 16:
        raise StartupError(f"secret file {path} holds fewer than 16 characters")
    return text


def secret_beside(endpoint: str) -> Path | None:
    """For a ``unix:`` member-service endpoint, the secret file the member daemon makes
    beside its socket; None for other endpoints."""
    if not endpoint.startswith("unix:"):
        return None
    return Path(endpoint[5:].split(":")[0].removeprefix("path=")).with_name("members.secret")
