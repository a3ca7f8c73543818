"""A redis-server of the benchmark's own for the cluster scenario, and the one figure read
from it: PUBLISH commands (``INFO commandstats``), spoken in raw RESP so no client library is
needed."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .loopback import HOST, free_port


class Redis:
    """A redis-server of our own on a free loopback port, persistence off, with a password
    (a node refuses a Redis without one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.password = secrets.token_hex(8)
        self.dir = Path(tempfile.mkdtemp(prefix="chatbench-redis-"))
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("the cluster scenario needs redis-server (apt-get install "
                             "redis-server)")
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly",
             "no", "--dir", str(self.dir), "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.info("server")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    def info(self, section: str) -> str:
        with socket.create_connection((HOST, self.port), timeout=5) as sock:
            sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n"
                         b"*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n"
                         % (len(self.password), self.password.encode(), len(section),
                            section.encode()))
            data = b""
            while data.count(b"\r\n") < 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise OSError("redis closed")
                data += chunk
            authenticated, _, data = data.partition(b"\r\n")
            if authenticated != b"+OK":
                raise OSError(authenticated.decode(errors="replace"))
            head, _, data = data.partition(b"\r\n")
            while len(data) < int(head[1:]):
                data += sock.recv(65536)
        return data.decode()

    def publishes(self) -> int:
        for line in self.info("commandstats").splitlines():
            if line.startswith("cmdstat_publish:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
