"""At start, before the reactor runs: is this node's name free in the cluster?

A node's name is held by its heartbeat key (``hb:NAME``, see chatd.cluster.node). A node
starting takes the key if nobody holds it. If somebody does, it may be this node's own
previous life, killed moments ago, whose key has not expired yet: the claim waits up to one
heartbeat timeout for it to expire, and refuses the name only if the key is still held at the
end (a live node refreshes it). So a node restarted under its name takes its place, and two
live nodes never share one.

This is the one exchange with Redis made without txredisapi: a few blocking commands on a
socket before twistd starts the reactor, so that a refusal is one line and a non-zero exit,
as every other refusal at start is. Redis out of reach is not a refusal: the node starts,
serves its own members, and joins the others when Redis is back.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from collections.abc import Callable

from chatd.cluster.url import RedisURL

PREFIX = "chatd:hb:"
# Seconds between two tries while the name is held.
RETRY = 0.25


class NameHeld(Exception):
    """A live node holds the name."""


def _command(*args: str | bytes) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Blocking:
    def __init__(self, url: RedisURL, timeout: float) -> None:
        sock = socket.create_connection((url.host, url.port), timeout=timeout)
        if url.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=url.host)
        self.sock = sock
        self.buffer = b""
        if url.password is not None:
            args = ["AUTH", url.username, url.password] if url.username else ["AUTH", url.password]
            self.call(*args)
        if url.db:
            self.call("SELECT", str(url.db))

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("Redis closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def call(self, *args: str) -> bytes | None:
        """One command; its simple or bulk reply (None for nil)."""
        self.sock.sendall(_command(*args))
        line = self._line()
        if line.startswith(b"-"):
            raise OSError(f"Redis: {line[1:].decode(errors='replace')}")
        if line.startswith(b"$"):
            size = int(line[1:])
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise OSError("Redis closed the connection")
                self.buffer += chunk
            data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return data
        return line[1:]

    def close(self) -> None:
        self.sock.close()


def claim(url: RedisURL, name: str, heartbeat: float,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> bool:
    """Take ``name``'s heartbeat key; True if taken, False if Redis is out of reach.
    NameHeld if a live node keeps it past one heartbeat timeout."""
    token = "starting-" + secrets.token_hex(8)
    expire = str(int(heartbeat * 1000))
    try:
        link = _Blocking(url, timeout=max(1.0, heartbeat))
    except OSError:
        return False
    try:
        deadline = clock() + heartbeat + 1.0
        while True:
            if link.call("SET", PREFIX + name, token, "NX", "PX", expire) is not None:
                return True
            if clock() >= deadline:
                raise NameHeld(f"a live node is called {name} in the cluster at {url.shown}; "
                               "give this one another --node-name")
            sleep(RETRY)
    except OSError:
        return False
    finally:
        link.close()
