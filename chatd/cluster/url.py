"""``--cluster redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` (``rediss://`` for TLS), parsed
once, and its password read from ``cluster-password-file``. No Redis client: the settings
check it before anything of Redis is imported.

A password in the URL on the command line is in every user's ``ps``; one in a file (the
TOML file, or the password file, which systemd's ``LoadCredential`` can hand over) is not.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

DEFAULT_PORT = 6379


@dataclass(frozen=True, slots=True)
class RedisURL:
    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def shown(self) -> str:
        """Where it is, without the password (for logs)."""
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/{self.db}"


def parse_redis_url(value: Any) -> RedisURL:
    """A ``redis://`` or ``rediss://`` URL; ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError("expected a redis:// or rediss:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"expected a redis:// or rediss:// URL, got {value!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("the URL names no host")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database is a number (redis://HOST:PORT/0), got {path!r}")
    if parts.query or parts.fragment:
        raise ValueError("the URL takes no ?query or #fragment")
    return RedisURL(
        parts.hostname, port, int(path or 0), parts.scheme == "rediss",
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def read_password(path: Path) -> str:
    """The Redis password in ``path`` (its first line); ValueError for a file group or others
    can read, an unreadable or an empty one."""
    try:
        mode = path.stat().st_mode
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others; chmod 600 it")
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty")
    return lines[0].strip()


def with_password(value: str, password: str) -> str:
    """The URL ``value`` (which gives no password) with ``password`` in it."""
    parts = urlsplit(value)
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}:{quote(password, safe='')}@{host}"
    return parts._replace(netloc=netloc).geturl()
