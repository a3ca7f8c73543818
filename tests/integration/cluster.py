"""A real cluster on loopback for the tests: ``redis-server`` (Debian's), one member service
and chatd nodes sharing both, plus a blocking IRC client.

Redis runs on a free loopback port with no persistence and a password (a node refuses a
Redis without one), never as the system's service; it can be stopped and started again on
the same port (``Redis.stop``/``start``).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.integration.harness import READ_TIMEOUT, Daemon
from tests.test_members_daemon import MembersDaemon

REDIS = shutil.which("redis-server")
# Short, so that a dead node's members leave within a test's patience.
HEARTBEAT = 1.5
_IRC_PORT = re.compile(r"IRCFactory(?: \(TLS\))? starting on (\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """One redis-server on 127.0.0.1, persistence off, asking for ``password``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.password = secrets.token_hex(8)
        self.dir = tempfile.mkdtemp(prefix="chatd-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        assert REDIS is not None
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.call("PING") == b"+PONG":
                    return self
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def call(self, *args: str) -> bytes:
        """One command, after AUTH; the first line of its reply."""
        with self._authenticated() as (sock, reply):
            sock.sendall(_command(*args))
            while b"\r\n" not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
            return reply.split(b"\r\n", 1)[0]

    @contextlib.contextmanager
    def _authenticated(self) -> Iterator[tuple[socket.socket, bytes]]:
        """A connection that passed AUTH, and what was read after its reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=READ_TIMEOUT) as sock:
            sock.sendall(_command("AUTH", self.password))
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    raise OSError("redis closed")
                reply += chunk
            authenticated, _, reply = reply.partition(b"\r\n")
            if authenticated != b"+OK":
                raise OSError(authenticated.decode(errors="replace"))
            yield sock, reply

    def publishes(self) -> int:
        """PUBLISH commands Redis has run."""
        return self.stat("cmdstat_publish:calls", "commandstats")

    def stat(self, name: str, section: str = "stats") -> int:
        """A number from INFO (``name:NUMBER``)."""
        with self._authenticated() as (sock, reply):
            sock.sendall(_command("INFO", section))
            while b"\r\n" not in reply:
                reply += sock.recv(65536)
            head, _, reply = reply.partition(b"\r\n")
            size = int(head[1:])
            while len(reply) < size:
                reply += sock.recv(65536)
        found = re.search(rb"%s[:=](\d+)" % re.escape(name.encode()), reply)
        return int(found.group(1)) if found else 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _command(*args: str) -> bytes:
    return b"".join([f"*{len(args)}\r\n".encode(),
                     *(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)])


class Node(Daemon):
    """A chatd node of the cluster, with a line and an IRC listener."""

    def __init__(self, data: Path, name: str, redis: Redis, members: MembersDaemon,
                 extra: Sequence[str] = ()) -> None:
        super().__init__(data, [
            "--irc", "tcp:0:interface=127.0.0.1",
            "--cluster", redis.url, "--node-name", name,
            "--cluster-heartbeat", str(HEARTBEAT),
            "--members", f"tcp:127.0.0.1:{members.port}",
            "--members-secret", str(members.data / "members.secret"),
            *extra,
        ])
        self.name = name
        self.irc_port = 0

    def start(self) -> Node:
        super().start()
        found = _IRC_PORT.search(self.run_log())
        assert found, self.run_log()
        self.irc_port = int(found.group(1))
        return self

    def wait_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.run_log():
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {text!r} in the log:\n{self.run_log()}")


class IrcClient:
    """A blocking IRC client: register, send lines, wait for a line that matches."""

    def __init__(self, port: int, nick: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.buffer = b""
        self.lines: list[str] = []
        self.nick = nick
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.wait(lambda line: " 001 " in line)

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def _read(self, deadline: float) -> str:
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError from None
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\r\n")
        line = raw.decode("utf-8", "replace")
        if line.startswith("PING "):
            self.send("PONG " + line[5:])
        return line

    def wait(self, want: Callable[[str], bool], timeout: float = READ_TIMEOUT) -> str:
        """The first line (already read or arriving) matching ``want``; it is consumed."""
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.lines):
                if want(line):
                    del self.lines[index]
                    return line
            try:
                self.lines.append(self._read(deadline))
            except (TimeoutError, ConnectionError) as error:
                raise AssertionError(f"{self.nick}: no matching line ({error!r}); "
                                     f"read: {self.lines[-20:]}") from None

    def names(self, channel: str) -> set[str]:
        """NAMES of ``channel``, as a set of nicks without their prefixes."""
        self.send(f"NAMES {channel}")
        found: set[str] = set()
        while True:
            line = self.wait(lambda line: " 353 " in line or " 366 " in line)
            if " 366 " in line:
                return found
            found.update(nick.lstrip("@+") for nick in line.split(" :", 1)[1].split())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        with contextlib.suppress(OSError):
            self.sock.close()
