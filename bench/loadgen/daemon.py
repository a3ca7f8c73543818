"""chatd (and chatd-members) started by the benchmark itself, with the options that make the
figures those of an exempt peer, so its PID, and with it its CPU and RSS, are ours to read."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .loopback import HOST, free_port, raise_fd_limit


class Daemon:
    """A chatd (and optionally a chatd-members) started by us, so its PID and CPU are ours."""

    def __init__(self, args: argparse.Namespace, extra: list[str], data: Path | None = None):
        self.args = args
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix="chatbench-"))
        self.data = data or self.dir / "data"
        self.line_port = free_port()
        self.irc_port = free_port()
        self.web_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.members: subprocess.Popen[bytes] | None = None
        self.spy: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def port(self, protocol: str) -> int:
        return {"irc": self.irc_port, "web": self.web_port}.get(protocol, self.line_port)

    def _env(self) -> dict[str, str]:
        source = Path(self.args.source).resolve()
        env = dict(os.environ)
        env["PYTHONPATH"] = f"{source}:{source / 'clients'}"
        return env

    def _twistd(self) -> str:
        return str(Path(sys.executable).with_name("twistd"))

    def start_members(self, data: Path, extra: Sequence[str] = ()) -> str:
        """Start ``twistd chatd-members`` on ``data``; the client endpoint for ``--members``."""
        # chatd-members does not create a missing data directory before it listens there.
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.dir / "members.log"
        command = [self._twistd(), "-n", "--pidfile=", "--logfile", str(log), "chatd-members",
                   "--data", str(data), *extra]
        self.members = subprocess.Popen(command, env=self._env(), cwd=self.dir,
                                        stdin=subprocess.DEVNULL)
        sock = data / "members.sock"
        deadline = time.monotonic() + 20
        while not sock.exists():
            if time.monotonic() > deadline or self.members.poll() is not None:
                raise SystemExit(f"chatd-members did not start; see {log}")
            time.sleep(0.1)
        return f"unix:{sock}"

    def start(self, members: str = "") -> None:
        """Start chatd (``members``: a chatd-members endpoint); return once it listens."""
        log = self.dir / "chatd.log"
        backlog = "backlog=1024"
        command = [self._twistd(), "-n", "--pidfile=", "--logfile", str(log)]
        if self.args.profile:
            command += [f"--profile={self.args.profile}", "--profiler=cprofile", "--savestats"]
        # Older trees (before the web frontend) are measured too, without it.
        web = (Path(self.args.source) / "chatd" / "frontends" / "web").is_dir()
        command += [
            "chatd", "--data", str(self.data),
            "--line", f"tcp:{self.line_port}:interface={HOST}:{backlog}",
            "--irc", f"tcp:{self.irc_port}:interface={HOST}:{backlog}",
            *(["--web", f"tcp:{self.web_port}:interface={HOST}:{backlog}"] if web else []),
            "--exempt", "127.0.0.0/8",
            "--default-room-limit", "10000", "--max-room-limit", "10000",
            "--signups-total", "1000000",
        ]
        if members:
            command += ["--members", members]
        command += self.extra
        self.proc = subprocess.Popen(command, env=self._env(), cwd=self.dir,
                                     stdin=subprocess.DEVNULL, preexec_fn=raise_fd_limit)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"chatd exited at start; see {log}")
            try:
                socket.create_connection((HOST, self.line_port), timeout=1).close()
                socket.create_connection((HOST, self.irc_port), timeout=1).close()
                if web:
                    socket.create_connection((HOST, self.web_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"chatd did not listen within 20 s; see {log}") from None
                time.sleep(0.1)
        if members:
            self._wait_for_members(log)
        if self.args.py_spy:
            # Sampling profiler attached from outside: collapsed stacks to the given file.
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(self.pid),
                 "--format", "raw", "--rate", "250", "--nonblocking", "--output",
                 self.args.py_spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_for_members(self, log: Path) -> None:
        """Return once chatd has read the room definitions from chatd-members: until then
        it answers every signup, login and guest nick with 502, which would count as refused
        logins (or fail the account set-up). A guest nick is the probe."""
        deadline = time.monotonic() + 20
        attempt = 0
        while True:
            with socket.create_connection((HOST, self.line_port), timeout=5) as sock:
                replies = sock.makefile("rb")
                replies.readline()  # the greeting
                sock.sendall(f"/nick probe{self.line_port}n{attempt}\r\n".encode())
                reply = replies.readline()
                while reply[:1] == b"1":  # events
                    reply = replies.readline()
            if reply.startswith(b"201 "):
                return
            if not reply.startswith(b"502 ") or time.monotonic() > deadline:
                raise SystemExit(f"chatd is not ready for logins ({reply!r}); see {log}")
            attempt += 1
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in (self.proc, self.members):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if self.spy is not None:
            self.spy.wait(30)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"# kept {self.dir}", file=sys.stderr)
