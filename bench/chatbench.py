#!/usr/bin/env python3
"""chatbench: a load generator for chatd that opens real loopback sockets and prints figures.

Not part of the test run. See ``bench/README.md`` and ``docs/performance.md`` for how to run
it and what the figures mean. Scenarios (one subcommand each, ``--protocol line|irc|web``):

* ``fanout``     R rooms x M members, S closed-loop senders with W messages in flight each:
                 deliveries/s, server CPU-seconds (``/proc/PID/stat``), deliveries per server
                 CPU-second, delivery ratio and per-sender order.
* ``latency``    a paced rate of messages into one room, a send timestamp in each payload:
                 p50, p99, max of send -> receive.
* ``capacity``   N idle logged-in guests: time to connect and log in all, server RSS and
                 CPU per connection.
* ``loginstorm`` a room chats at a paced rate; then N account logins at once: chat p99
                 before vs during, and how long the logins took.
* ``udpfanout``  one room of M members who chat over the UDP channel (each a line guest
                 with a /token, validated by the cookie round trip), S closed-loop line
                 senders: datagrams delivered per second and per server CPU-second, delivery
                 ratio (UDP may drop; loopback rarely does).
* ``auths``      account logins (fresh connection, login, close) through the embedded or the
                 remote member service: authentications per second.
* ``cluster``    ``fanout`` on one node, then on ``--nodes`` (2) nodes sharing a redis-server
                 and one chatd-members, the room's members and senders spread over them:
                 deliveries per CPU-second of the nodes and Redis together, next to one
                 node's, and Redis PUBLISH commands per room message (from INFO).
* ``files``      one file of --size MiB sent with /send and fetched with /get over loopback:
                 MiB/s each way (upload: 350 to 250, so the fsync counts), next to
                 ``cat FILE | nc`` into ``nc -l`` as the physical reference.

Receivers are cheap on purpose: most connections only count newlines in whatever the kernel
hands them; a few "checker" connections per room parse every line to verify order and to
release the senders' windows. Every wait is bounded in time; every loop in count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
CACHE = Path(tempfile.gettempdir()) / "chatbench-cache"
PASSWORD = "bench-password-{}"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def proc_times(pid: int) -> tuple[float, float]:
    """utime and stime of ``pid`` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    return sum(proc_times(pid))


def proc_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the daemon ------------------------------------------------------------------------------


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
        self.members_data: Path | None = None

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

    def start_members(self, data: Path, extra: list[str] = ()) -> str:
        """Start ``twistd chatd-members`` on ``data``; the client endpoint for ``--members``."""
        self.members_data = data
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
        self.command = command
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
        if self.args.py_spy:
            # Sampling profiler attached from outside: collapsed stacks to the given file.
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(self.pid),
                 "--format", "raw", "--rate", "250", "--nonblocking", "--output",
                 self.args.py_spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        for proc in (self.proc, self.members):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if getattr(self, "spy", None) is not None:
            self.spy.wait(30)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"# kept {self.dir}", file=sys.stderr)


NGIRCD_CONF = """\
[Global]
    Name = bench.chatd.invalid
    Info = chatbench peer
    Listen = {host}
    Ports = {port}
    PidFile = {dir}/ngircd.pid
    MotdPhrase = chatbench
[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxNickLength = 30
    MaxPenaltyTime = 0
    PingTimeout = 600
    PongTimeout = 600
[Options]
    DNS = no
    Ident = no
    PAM = no
"""


class Ngircd:
    """ngIRCd (Debian's ``ngircd``) as the peer to compare with: our own instance on a free
    loopback port with its own config (never the system service), flood penalties off
    (``MaxPenaltyTime = 0``, the counterpart of chatd's ``--exempt``), no per-address
    limits, no DNS or ident look-ups. IRC only."""

    members = None
    name = "ngircd"
    config = NGIRCD_CONF

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix=f"chatbench-{self.name}-"))
        self.irc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def binary(cls) -> str | None:
        return shutil.which(cls.name) or next(
            (p for p in (f"/usr/sbin/{cls.name}", f"/usr/local/sbin/{cls.name}")
             if Path(p).exists()), None)

    def command(self, binary: str, conf: Path) -> list[str]:
        return [binary, "--nodaemon", "--config", str(conf)]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def port(self, protocol: str) -> int:
        if protocol != "irc":
            raise SystemExit(f"{self.name} speaks IRC only: --protocol irc")
        return self.irc_port

    def start(self) -> None:
        binary = self.binary()
        if binary is None:
            raise SystemExit(f"{self.name} is not installed (Debian: apt-get install {self.name})")
        conf = self.dir / f"{self.name}.conf"
        conf.write_text(self.config.format(host=HOST, port=self.irc_port, dir=self.dir))
        log_path = self.dir / f"{self.name}.out"
        self.proc = subprocess.Popen(self.command(binary, conf), stdout=log_path.open("wb"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_fd_limit, cwd=self.dir)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited at start; see {log_path}")
            try:
                socket.create_connection((HOST, self.irc_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} did not listen within 20 s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


INSPIRCD_CONF = """\
<server name="bench.local" description="chatbench peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="{host}" port="{port}" type="clients">
<connect allow="*" timeout="60" pingfreq="600" hardsendq="1048576" softsendq="1048576"
         recvq="65536" threshold="1000000" commandrate="1000000000" fakelag="no"
         localmax="1000000" globalmax="1000000" limit="1000000" maxconnwarn="no"
         resolvehostnames="no" useident="no" uniqueusernames="no">
<channels users="100" opers="100">
<performance softlimit="100000" somaxconn="1024" clonesonconnect="no" quietbursts="yes">
<pid file="{dir}/inspircd.pid">
<files motd="{dir}/motd">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{dir}/inspircd.log">
"""


class Inspircd(Ngircd):
    """InspIRCd 3 (Debian's ``inspircd``), set up like ngircd: its own instance and config,
    fake lag off and command rates unbounded (the counterpart of ``--exempt``), no
    per-address limits, no DNS or ident look-ups. As root it needs ``--runasroot``."""

    name = "inspircd"
    config = INSPIRCD_CONF

    def command(self, binary: str, conf: Path) -> list[str]:
        (self.dir / "motd").write_text("chatbench\n")
        root = ["--runasroot"] if os.geteuid() == 0 else []
        return [binary, "--nofork", *root, f"--config={conf}"]


PEERS: dict[str, type[Ngircd]] = {"ngircd": Ngircd, "inspircd": Inspircd}


class Target:
    """Where the clients connect and whose CPU is read: a spawned daemon or ``--pid/--port``."""

    def __init__(self, args: argparse.Namespace, daemon: Daemon | Ngircd | None):
        self.daemon = daemon
        self.args = args

    def port(self, protocol: str) -> int:
        if self.daemon is not None:
            return self.daemon.port(protocol)
        return int(self.args.port)

    def ports(self, protocol: str) -> list[int]:
        """Where the members connect, in turn (several nodes of a cluster: spread over them)."""
        return [self.port(protocol)]

    def counters(self) -> dict[str, float]:
        """More figures read at the start and the end of a measured phase (their change is
        reported)."""
        return {}

    @property
    def pid(self) -> int | None:
        return self.daemon.pid if self.daemon is not None else self.args.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid) if self.pid else float("nan")

    def times(self) -> tuple[float, float]:
        return proc_times(self.pid) if self.pid else (float("nan"), float("nan"))

    def members_cpu(self) -> float:
        if self.daemon is not None and self.daemon.members is not None:
            return proc_cpu(self.daemon.members.pid)
        return 0.0

    def rss(self) -> int:
        return proc_rss(self.pid) if self.pid else 0


# -- protocols -------------------------------------------------------------------------------


class LineWire:
    """chatd's line protocol: replies start with a three-digit code."""

    name = "line"
    echo = True  # the sender receives its own message

    @staticmethod
    def is_error(line: bytes) -> bool:
        return line[:1] in (b"4", b"5")

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return f"/nick {nick}\r\n".encode(), b"201 "

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"/login {name} {password}\r\n".encode(), b"201 "

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"/signup {name} {password}\r\n".encode(), b"201 "

    def join(self, room: str) -> tuple[bytes, bytes]:
        return f"/join {room}\r\n".encode(), b"200 "

    def say(self, room: str, text: str) -> bytes:
        return f"{text}\r\n".encode()

    @staticmethod
    def said(line: bytes) -> bytes | None:
        """The text of a room message, or None for any other line."""
        if not line.startswith(b"101 "):
            return None
        return line.split(b"> ", 1)[1]


class IrcWire:
    """The IRC frontend: NICK/USER (PASS for accounts), JOIN, PRIVMSG; no echo to the sender."""

    name = "irc"
    echo = False

    @staticmethod
    def is_error(line: bytes) -> bool:
        parts = line.split(b" ", 2)
        return len(parts) > 1 and parts[1][:1] in (b"4", b"5") and parts[1].isdigit()

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode(), b" 001 "

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return f"PASS {password}\r\nNICK {name}\r\nUSER {name} 0 * :{name}\r\n".encode(), b" 001 "

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        raise SystemExit("accounts are created over the line protocol")

    def join(self, room: str) -> tuple[bytes, bytes]:
        return f"JOIN #{room}\r\n".encode(), b" 366 "

    def say(self, room: str, text: str) -> bytes:
        return f"PRIVMSG #{room} :{text}\r\n".encode()

    @staticmethod
    def said(line: bytes) -> bytes | None:
        if b" PRIVMSG " not in line:
            return None
        return line.split(b" :", 1)[1]


class WebWire(LineWire):
    """The web frontend: the line protocol as JSON over a WebSocket (``/ws``). ``WebConn``
    turns each server frame into one "line" (its JSON payload), so the line logic applies."""

    name = "web"
    echo = True

    @staticmethod
    def is_error(line: bytes) -> bool:
        return line[:9] in (b'{"code":4', b'{"code":5')

    @staticmethod
    def frame(text: str) -> bytes:
        """A masked client text frame of ``{"line": text}`` (the zero mask: XOR is a no-op)."""
        payload = json.dumps({"line": text}).encode()
        size = len(payload)
        header = bytes([0x81, 0x80 | size]) if size < 126 else (
            bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big"))
        return header + b"\0\0\0\0" + payload

    def guest(self, nick: str) -> tuple[bytes, bytes]:
        return self.frame(f"/nick {nick}"), b'"code":201'

    def login(self, name: str, password: str) -> tuple[bytes, bytes]:
        return self.frame(f"/login {name} {password}"), b'"code":201'

    def signup(self, name: str, password: str) -> tuple[bytes, bytes]:
        return self.frame(f"/signup {name} {password}"), b'"code":201'

    def join(self, room: str) -> tuple[bytes, bytes]:
        return self.frame(f"/join {room}"), b'"code":200'

    def say(self, room: str, text: str) -> bytes:
        return self.frame(text)

    @staticmethod
    def said(line: bytes) -> bytes | None:
        if not line.startswith(b'{"code":101'):
            return None
        return json.loads(line)["event"]["text"].encode()


WIRES = {"line": LineWire(), "irc": IrcWire(), "web": WebWire()}


# -- client connections ----------------------------------------------------------------------


class Conn(asyncio.Protocol):
    """One client socket. Modes: ``lines`` (setup: keep lines for ``expect``), ``count``
    (measured phase: count newlines only), ``parse`` (call ``handler`` with each line)."""

    def __init__(self, wire: LineWire | IrcWire) -> None:
        self.wire = wire
        self.mode = "lines"
        self.buf = b""
        self.lines: list[bytes] = []
        self.count = 0
        self.waiter: asyncio.Future[None] | None = None
        self.handler: Callable[[bytes], None] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.last_data = time.monotonic()
        self.raw = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self.wire.name == "web":
            data = self._unframe(data)
        if self.mode == "count":
            self.count += data.count(b"\n")
            return
        self.last_data = time.monotonic()
        *lines, self.buf = (self.buf + data).split(b"\n")
        if self.mode == "parse":
            assert self.handler is not None
            self.count += len(lines)
            for line in lines:
                self.handler(line)
            return
        for line in lines:
            if line.startswith(b"PING "):
                self.write(b"PONG " + line[5:].rstrip(b"\r") + b"\r\n")
        self.lines.extend(lines)
        self._wake()

    def _unframe(self, data: bytes) -> bytes:
        """WebSocket: the 101 response dropped, each server frame's payload as one line."""
        self.raw += data
        out = []
        if not self.upgraded:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return b""
            self.upgraded = True
            self.raw = self.raw[end + 4:]
        raw, at = self.raw, 0
        while len(raw) - at >= 2:
            size, start = raw[at + 1] & 0x7F, at + 2
            if size == 126:
                if len(raw) - at < 4:
                    break
                size, start = int.from_bytes(raw[at + 2:at + 4], "big"), at + 4
            elif size == 127:
                if len(raw) - at < 10:
                    break
                size, start = int.from_bytes(raw[at + 2:at + 10], "big"), at + 10
            if len(raw) - start < size:
                break
            if raw[at] & 0x0F == 0x9:  # a ping: answer with a (masked) pong
                self.write(bytes([0x8A, 0x80 | size]) + b"\0\0\0\0" + raw[start:start + size])
            else:
                out.append(raw[start:start + size])
            at = start + size
        self.raw = raw[at:]
        return b"".join(line + b"\n" for line in out)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def expect(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """The first kept line containing ``marker``; an error reply raises."""
        deadline = time.monotonic() + timeout
        while True:
            while self.lines:
                line = self.lines.pop(0)
                if marker in line:
                    return line
                if self.wire.is_error(line):
                    raise RuntimeError(line.decode(errors="replace").strip())
            if self.lost:
                raise RuntimeError("connection closed by the server")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} within {timeout} s")
            self.waiter = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.waiter, left)

    async def request(self, command: tuple[bytes, bytes], timeout: float = 30.0) -> bytes:
        data, marker = command
        self.write(data)
        return await self.expect(marker, timeout)

    def to_count(self) -> None:
        self.mode = "count"
        self.buf = b""
        self.lines.clear()
        self.count = 0

    def to_parse(self, handler: Callable[[bytes], None]) -> None:
        self.mode = "parse"
        self.buf = b""
        self.lines.clear()
        self.handler = handler
        self.count = 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(wire: LineWire | IrcWire, port: int, greeting: bool = True) -> Conn:
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: Conn(wire), HOST, port), 30
    )
    if wire.name == "web":
        conn.write(f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        await conn.expect(b'"code":220')
    if greeting and wire.name == "line":
        await conn.expect(b"220 ")
    return conn


async def bounded_gather(count: int, make: Callable[[int], object], concurrency: int) -> list:
    """``make(i)`` for i in range(count), at most ``concurrency`` at a time, in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> object:
        async with gate:
            return await make(i)  # type: ignore[misc]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def guest_in_room(wire, port: int, nick: str, room: str | None) -> Conn:
    conn = await connect(wire, port)
    await conn.request(wire.guest(nick))
    if room is not None:
        await conn.request(wire.join(room))
    return conn


async def settle(conns: list[Conn], quiet: float = 0.5, limit: float = 60.0) -> None:
    """Wait until no connection has received anything for ``quiet`` seconds (at most ``limit``)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        newest = max(c.last_data for c in conns)
        if time.monotonic() - newest >= quiet:
            return
        await asyncio.sleep(0.1)


# -- fan-out ---------------------------------------------------------------------------------


class Checker:
    """Parses every line of one room: per-sender order, and acknowledgements for the senders."""

    def __init__(self, wire, senders: dict[bytes, Sender]) -> None:
        self.wire = wire
        self.senders = senders
        self.next: dict[bytes, int] = {}
        self.disorder = 0
        self.said = 0
        self.stamps: list[int] | None = None

    def line(self, line: bytes) -> None:
        text = self.wire.said(line)
        if text is None:
            return
        self.said += 1
        parts = text.split()
        tag, seq = parts[0], int(parts[1])
        if self.stamps is not None:
            self.stamps.append(time.monotonic_ns() - int(parts[2]))
        expected = self.next.get(tag, 0)
        if seq != expected:
            self.disorder += 1
        self.next[tag] = seq + 1
        sender = self.senders.get(tag)
        if sender is not None:
            sender.acked()


class Sender:
    """A closed-loop sender: ``window`` messages in flight, the next sent on each arrival."""

    PAD = "x" * 24

    def __init__(self, conn: Conn, tag: str, room: str, window: int) -> None:
        self.conn = conn
        self.tag = tag
        self.room = room
        self.window = window
        self.seq = 0
        self.inflight = 0
        self.running = False
        self.idle: asyncio.Future[None] | None = None

    def send(self) -> None:
        self.conn.write(self.conn.wire.say(self.room, f"{self.tag} {self.seq} {self.PAD}"))
        self.seq += 1
        self.inflight += 1

    def start(self) -> None:
        self.running = True
        while self.inflight < self.window:
            self.send()

    def acked(self) -> None:
        self.inflight -= 1
        if self.running:
            self.send()
        elif self.inflight == 0 and self.idle is not None and not self.idle.done():
            self.idle.set_result(None)

    async def stop(self, timeout: float) -> None:
        self.running = False
        if self.inflight:
            self.idle = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle, timeout)


async def fanout(args: argparse.Namespace, target: Target) -> dict:
    wire = WIRES[args.protocol]
    ports = target.ports(args.protocol)
    rooms, members, total_senders = args.rooms, args.members, args.senders
    per_room = [total_senders // rooms + (1 if r < total_senders % rooms else 0)
                for r in range(rooms)]
    if max(per_room) + 1 > members:
        raise SystemExit("more senders than members")
    t_setup = time.monotonic()
    layout = [(r, i) for r in range(rooms) for i in range(members)]
    conns = await bounded_gather(
        len(layout),
        lambda k: guest_in_room(wire, ports[k % len(ports)], f"r{layout[k][0]}m{layout[k][1]}",
                                f"bench{layout[k][0]}"),
        args.concurrency,
    )
    await settle(conns)
    setup = time.monotonic() - t_setup
    # Member 0 of each room checks order and acknowledges; members 1..S send.
    checkers, senders = [], []
    for r in range(rooms):
        room_senders: dict[bytes, Sender] = {}
        for i in range(1, per_room[r] + 1):
            tag = f"s{r}.{i}"
            sender = Sender(conns[r * members + i], tag, f"bench{r}", args.window)
            room_senders[tag.encode()] = sender
            senders.append(sender)
        checker = Checker(wire, room_senders)
        checkers.append(checker)
        conns[r * members].to_parse(checker.line)
    for r in range(rooms):
        for i in range(1, members):
            conns[r * members + i].to_count()
    counters0 = target.counters()
    cpu0, own0, t0, sys0 = target.cpu(), own_cpu(), time.monotonic(), target.times()[1]
    for sender in senders:
        sender.start()
    await asyncio.sleep(args.duration)
    await asyncio.gather(*(s.stop(30) for s in senders))
    receivers = members if wire.echo else members - 1
    expected = sum(s.seq for s in senders) * receivers

    def delivered() -> int:
        return sum(c.count for c in conns if c.mode == "count") + sum(k.said for k in checkers)

    deadline = time.monotonic() + 30
    while delivered() < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    t1, cpu1, own1, sys1 = time.monotonic(), target.cpu(), own_cpu(), target.times()[1]
    counters = {key: round(value - counters0[key], 3)
                for key, value in target.counters().items()}
    got = delivered()
    lost = sum(c.lost for c in conns)
    for conn in conns:
        conn.close()
    wall, cpu = t1 - t0, cpu1 - cpu0
    return {
        **counters,
        "scenario": f"fanout {rooms}x{members} {total_senders} senders",
        "protocol": wire.name,
        "messages": sum(s.seq for s in senders),
        "deliveries": got,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        "deliveries_per_s": round(got / wall),
        "deliveries_per_cpu_s": round(got / cpu) if cpu else None,
        "server_cpu_util": round(cpu / wall, 3),
        "server_sys_share": round((sys1 - sys0) / cpu, 2) if cpu else None,
        "bench_cpu_util": round((own1 - own0) / wall, 3),
        "delivery_ratio": round(got / expected, 6) if expected else None,
        "order_violations": sum(k.disorder for k in checkers),
        "dropped_connections": lost,
        "setup_s": round(setup, 2),
    }


# -- paced chat with timestamps (latency, login storm) ---------------------------------------


class PacedRoom:
    """One room: ``senders`` members sending ``rate`` messages/s in total, a timestamp in each;
    ``samplers`` members parse and record latencies; the rest count."""

    def __init__(self, wire, conns: list[Conn], room: str, senders: int, samplers: int):
        self.wire = wire
        self.room = room
        self.conns = conns
        self.senders = conns[1:1 + senders]
        self.sampler_conns = conns[1 + senders:1 + senders + samplers]
        self.checkers = []
        for conn in self.sampler_conns:
            checker = Checker(wire, {})
            checker.stamps = []
            conn.to_parse(checker.line)
            self.checkers.append(checker)
        for conn in conns:
            if conn.mode != "parse":
                conn.to_count()
        self.sent = 0
        self.seqs = [0] * len(self.senders)

    def take_samples(self) -> list[int]:
        samples: list[int] = []
        for checker in self.checkers:
            assert checker.stamps is not None
            samples.extend(checker.stamps)
            checker.stamps = []
        return samples

    async def run(self, rate: float, seconds: float, until: asyncio.Future | None = None) -> None:
        """Send at ``rate`` for ``seconds`` (or until ``until`` is done, at most ``seconds``)."""
        start = time.monotonic()
        base = self.sent
        while True:
            now = time.monotonic()
            if now - start >= seconds or (until is not None and until.done()):
                return
            due = base + int((now - start) * rate)
            stamp = time.monotonic_ns()
            while self.sent < due:
                k = self.sent % len(self.senders)
                text = f"p{k} {self.seqs[k]} {stamp}"
                self.seqs[k] += 1
                self.senders[k].write(self.wire.say(self.room, text))
                self.sent += 1
            await asyncio.sleep(0.001)

    def expected(self) -> int:
        receivers = len(self.conns) if self.wire.echo else len(self.conns) - 1
        return self.sent * receivers

    def delivered(self) -> int:
        return sum(c.count for c in self.conns if c.mode == "count") + sum(
            k.said for k in self.checkers)

    async def drain(self, timeout: float = 15) -> float:
        deadline = time.monotonic() + timeout
        while self.delivered() < self.expected() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.delivered() / self.expected() if self.expected() else float("nan")


def ms_summary(samples: list[int], prefix: str) -> dict:
    values = [s / 1e6 for s in samples]
    return {
        f"{prefix}p50_ms": round(percentile(values, 50), 3),
        f"{prefix}p90_ms": round(percentile(values, 90), 3),
        f"{prefix}p99_ms": round(percentile(values, 99), 3),
        f"{prefix}max_ms": round(max(values), 3) if values else None,
        f"{prefix}samples": len(values),
    }


async def paced_room(args, target: Target, name: str) -> PacedRoom:
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    conns = await bounded_gather(
        args.members, lambda i: guest_in_room(wire, port, f"{name}{i}", name), args.concurrency)
    await settle(conns)
    return PacedRoom(wire, conns, name, args.senders, args.samplers)


async def latency(args: argparse.Namespace, target: Target) -> dict:
    room = await paced_room(args, target, "lat")
    await room.run(args.rate, 1.0)  # warm up
    await room.drain()
    room.take_samples()
    cpu0, t0 = target.cpu(), time.monotonic()
    await room.run(args.rate, args.duration)
    ratio = await room.drain()
    cpu, wall = target.cpu() - cpu0, time.monotonic() - t0
    samples = room.take_samples()
    disorder = sum(k.disorder for k in room.checkers)
    for conn in room.conns:
        conn.close()
    return {
        "scenario": f"latency {args.rate:g} msg/s into 1x{args.members}",
        "protocol": args.protocol,
        **ms_summary(samples, ""),
        "server_cpu_util": round(cpu / wall, 3),
        "delivery_ratio": round(ratio, 6),
        "order_violations": disorder,
    }


# -- capacity --------------------------------------------------------------------------------


async def capacity(args: argparse.Namespace, target: Target) -> dict:
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    await asyncio.sleep(0.5)
    rss0, times0, t0 = target.rss(), target.times(), time.monotonic()
    conns = await bounded_gather(
        args.connections, lambda i: guest_in_room(wire, port, f"idle{i}", None), args.concurrency)
    elapsed = time.monotonic() - t0
    user, system = (b - a for a, b in zip(times0, target.times(), strict=True))
    cpu = user + system
    await asyncio.sleep(1.0)
    rss1 = target.rss()
    alive = sum(not c.lost for c in conns)
    for conn in conns:
        conn.close()
    n = args.connections
    return {
        "scenario": f"capacity {n} idle logged-in guests",
        "protocol": args.protocol,
        "connect_login_s": round(elapsed, 2),
        "logins_per_s": round(n / elapsed),
        "server_cpu_ms_per_conn": round(cpu / n * 1000, 3),
        "server_sys_share": round(system / cpu, 2) if cpu else None,
        "rss_before_mib": round(rss0 / 2**20, 1),
        "rss_after_mib": round(rss1 / 2**20, 1),
        "rss_kib_per_conn": round((rss1 - rss0) / n / 1024, 2),
        "alive": alive,
    }


# -- accounts --------------------------------------------------------------------------------


def account(i: int) -> tuple[str, str]:
    return f"storm{i}", PASSWORD.format(i)


async def create_accounts(args, target: Target, count: int) -> None:
    wire = WIRES["line"]
    port = target.port("line")

    async def one(i: int) -> None:
        conn = await connect(wire, port)
        try:
            await conn.request(wire.signup(*account(i)), timeout=120)
        except RuntimeError as error:
            if "409" not in str(error):  # already there
                raise
        conn.close()

    await bounded_gather(count, one, 4)


def accounts_data(args: argparse.Namespace, count: int) -> Path:
    """A data directory holding ``count`` accounts, created once (signup costs a hash each) and
    copied for every run, so account creation is never inside a measured phase."""
    kind = args.members_service
    cached = CACHE / f"{kind}-{count}"
    for done in CACHE.glob(f"{kind}-*/done"):  # a cache with more accounts will do
        if int(done.parent.name.split("-")[1]) >= count:
            return done.parent
    if not (cached / "done").exists():
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        print(f"# creating {count} accounts in {cached} (once)", file=sys.stderr)
        daemon = Daemon(args, [], data=cached / "chatd")
        try:
            members = daemon.start_members(cached / "members") if kind == "remote" else ""
            daemon.start(members)
            asyncio.run(create_accounts(args, Target(args, daemon), count))
        finally:
            daemon.stop()
        (cached / "done").touch()
    return cached


def spawn_with_accounts(args: argparse.Namespace, extra: list[str], count: int) -> Daemon:
    cached = accounts_data(args, count)
    daemon = Daemon(args, extra)
    shutil.copytree(cached / "chatd", daemon.data, ignore=shutil.ignore_patterns("lock", "*.lock"))
    members = ""
    if args.members_service == "remote":
        data = daemon.dir / "members"
        shutil.copytree(cached / "members", data,
                        ignore=shutil.ignore_patterns("lock", "*.lock", "members.sock"))
        members = daemon.start_members(data, ["--hash-queue", str(max(64, args.logins + 16))])
    daemon.start(members)
    return daemon


async def login_all(wire, port: int, indices: range, concurrency: int) -> dict:
    """Log each account in on a fresh connection (then close it); latencies and outcomes."""
    times: list[float] = []
    refused: dict[str, int] = {}

    async def one(i: int) -> None:
        conn = await connect(wire, port)
        start = time.monotonic()
        try:
            await conn.request(wire.login(*account(i)), timeout=120)
            times.append(time.monotonic() - start)
        except (RuntimeError, TimeoutError) as error:
            key = str(error)[:3] if str(error)[:3].isdigit() else type(error).__name__
            refused[key] = refused.get(key, 0) + 1
        conn.close()

    t0 = time.monotonic()
    await bounded_gather(len(indices), lambda k: one(indices[k]), concurrency)
    return {"wall": time.monotonic() - t0, "times": times, "refused": refused}


async def auths(args: argparse.Namespace, target: Target) -> dict:
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    cpu0, mcpu0 = target.cpu(), target.members_cpu()
    result = await login_all(wire, port, range(args.logins), args.concurrency)
    wall = result["wall"]
    ok = len(result["times"])
    return {
        "scenario": f"auths {args.logins} logins, {args.concurrency} at a time, "
                    f"{args.members_service} member service",
        "protocol": args.protocol,
        "auths_per_s": round(ok / wall, 2),
        "login_p50_ms": round(percentile(result["times"], 50) * 1000, 1),
        "login_max_ms": round(max(result["times"]) * 1000, 1) if ok else None,
        "chatd_cpu_s": round(target.cpu() - cpu0, 3),
        "members_cpu_s": round(target.members_cpu() - mcpu0, 3),
        "ok": ok,
        "refused": result["refused"],
    }


async def loginstorm(args: argparse.Namespace, target: Target) -> dict:
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    room = await paced_room(args, target, "chat")
    await room.run(args.rate, 1.0)
    await room.drain()
    room.take_samples()
    await room.run(args.rate, args.before)
    before = room.take_samples()
    # Connect the storm first (greetings read), then send every login in one turn.
    storm = await bounded_gather(args.logins, lambda i: connect(wire, port), args.concurrency)
    times: list[float] = []
    refused: dict[str, int] = {}
    done = asyncio.get_running_loop().create_future()
    remaining = [len(storm)]

    async def one(i: int, conn: Conn, start: float) -> None:
        try:
            await conn.expect(wire.login(*account(i))[1], timeout=args.storm_limit)
            times.append(time.monotonic() - start)
        except (RuntimeError, TimeoutError) as error:
            key = str(error)[:3] if str(error)[:3].isdigit() else type(error).__name__
            refused[key] = refused.get(key, 0) + 1
        remaining[0] -= 1
        if not remaining[0] and not done.done():
            done.set_result(None)

    cpu0, mcpu0, t0 = target.cpu(), target.members_cpu(), time.monotonic()
    for i, conn in enumerate(storm):
        conn.write(wire.login(*account(i))[0])
    waits = [asyncio.ensure_future(one(i, c, t0)) for i, c in enumerate(storm)]
    await room.run(args.rate, args.storm_limit, until=done)
    storm_wall = time.monotonic() - t0
    cpu, mcpu = target.cpu() - cpu0, target.members_cpu() - mcpu0
    during = room.take_samples()
    ratio = await room.drain()
    for w in waits:
        w.cancel()
    for conn in storm + room.conns:
        conn.close()
    b99 = percentile(before, 99)
    d99 = percentile(during, 99)
    return {
        "scenario": f"loginstorm {args.logins} logins while 1x{args.members} chats at "
                    f"{args.rate:g} msg/s, {args.members_service} member service",
        "protocol": args.protocol,
        **ms_summary(before, "before_"),
        **ms_summary(during, "during_"),
        "p99_ratio": round(d99 / b99, 2) if b99 else None,
        "storm_s": round(storm_wall, 2),
        "logins_ok": len(times),
        "logins_per_s": round(len(times) / storm_wall, 2),
        "login_p50_ms": round(percentile(times, 50) * 1000, 1),
        "login_max_ms": round(max(times) * 1000, 1) if times else None,
        "refused": refused,
        "chatd_cpu_s": round(cpu, 3),
        "members_cpu_s": round(mcpu, 3),
        "delivery_ratio": round(ratio, 6),
        "order_violations": sum(k.disorder for k in room.checkers),
    }


class UdpMember(asyncio.DatagramProtocol):
    """One UDP member: validates its token, then counts the room's datagrams (the first
    member also parses them, to acknowledge the senders)."""

    def __init__(self, room: str, token: str, port: int) -> None:
        self.room, self.token, self.port = room.encode(), token.encode(), port
        self.transport: asyncio.DatagramTransport | None = None
        self.validated: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.count = 0
        self.checker: Checker | None = None

    def frame(self, message: bytes) -> bytes:
        return bytes((len(self.room), len(self.token))) + self.room + self.token + message

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.sendto(self.frame(b""), (HOST, self.port))

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.validated.done():
            start = 2 + data[0] + data[1]
            if data[1] == 0 and data[start:start + 1] == b"\0":
                assert self.transport is not None
                self.transport.sendto(self.frame(data[start:]), (HOST, self.port))
            elif data[1] == 0 and data[start:].startswith(b"you are in"):
                self.validated.set_result(None)
            return
        self.count += 1
        if self.checker is not None:
            start = 2 + data[0]
            name_end = start + data[1]
            self.checker.line(b"101 [x] <" + data[start:name_end] + b"> " + data[name_end:])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def udp_member(wire, port: int, udp_port: int, nick: str) -> tuple[Conn, UdpMember]:
    conn = await guest_in_room(wire, port, nick, "bench")
    reply = await conn.request((b"/token bench\r\n", b"230 "))
    _, room, token, _port, _ = reply.decode().split(" ")
    loop = asyncio.get_running_loop()
    _, member = await loop.create_datagram_endpoint(
        lambda: UdpMember(room, token, udp_port), local_addr=(HOST, 0))
    await asyncio.wait_for(member.validated, 30)
    return conn, member


async def udpfanout(args: argparse.Namespace, target: Target) -> dict:
    wire = WIRES["line"]
    port = target.port("line")
    pairs = await bounded_gather(
        args.members, lambda i: udp_member(wire, port, args.udp_port, f"u{i}"), args.concurrency)
    members = [member for _, member in pairs]
    tcp = [conn for conn, _ in pairs]
    senders_conns = [await guest_in_room(wire, port, f"s{i}", "bench")
                     for i in range(args.senders)]
    await settle(tcp + senders_conns)
    senders = {f"s{i}".encode(): Sender(conn, f"s{i}", "bench", args.window)
               for i, conn in enumerate(senders_conns)}
    checker = Checker(wire, senders)
    members[0].checker = checker
    for conn in tcp + senders_conns:
        conn.to_count()  # the members' TCP sessions: other events only
    for member in members:
        member.count = 0
    cpu0, t0 = target.cpu(), time.monotonic()
    for sender in senders.values():
        sender.start()
    await asyncio.sleep(args.duration)
    await asyncio.gather(*(s.stop(30) for s in senders.values()))
    expected = sum(s.seq for s in senders.values()) * len(members)
    deadline = time.monotonic() + 10
    while sum(m.count for m in members) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    t1, cpu1 = time.monotonic(), target.cpu()
    got = sum(m.count for m in members)
    for conn in tcp + senders_conns:
        conn.close()
    for member in members:
        member.close()
    wall, cpu = t1 - t0, cpu1 - cpu0
    return {
        "scenario": f"udpfanout 1x{args.members} UDP members, {args.senders} line senders",
        "messages": sum(s.seq for s in senders.values()),
        "datagrams": got,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        "datagrams_per_s": round(got / wall),
        "datagrams_per_cpu_s": round(got / cpu) if cpu else None,
        "delivery_ratio": round(got / expected, 6) if expected else None,
        "order_violations": checker.disorder,
    }


# -- command line ----------------------------------------------------------------------------

def _read_line(sock: socket.socket, buffer: bytearray, deadline: float) -> bytes:
    """One server line (CRLF stripped); ``buffer`` keeps what came after it."""
    while b"\n" not in buffer:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed; have {bytes(buffer[:200])!r}")
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.rstrip(b"\r")


def _reply(sock: socket.socket, buffer: bytearray, deadline: float) -> bytes:
    """The next line that is not an event (1xx)."""
    while True:
        line = _read_line(sock, buffer, deadline)
        if line[:1] != b"1":
            return line


def _files_blocking(args: argparse.Namespace, port: int) -> dict:
    size = args.size * 1024 * 1024
    deadline = time.monotonic() + 240
    with tempfile.TemporaryDirectory(prefix="chatbench-files-") as scratch:
        path = Path(scratch) / "payload.bin"
        with path.open("wb") as out:
            for _ in range(args.size):
                out.write(os.urandom(1024 * 1024))
        result: dict = {"scenario": "files", "size_mib": args.size}
        nc = shutil.which("nc")
        if nc is not None:
            listen_port = free_port()
            listener = subprocess.Popen([nc, "-l", "127.0.0.1", str(listen_port)],
                                        stdout=subprocess.DEVNULL)
            time.sleep(0.3)
            start = time.monotonic()
            subprocess.run(f"cat {path} | {nc} -N 127.0.0.1 {listen_port}", shell=True,
                           check=True, timeout=120)
            listener.wait(120)
            result["nc_mib_s"] = round(args.size / (time.monotonic() - start), 1)

        def guest(nick: str) -> tuple[socket.socket, bytearray]:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            buffer = bytearray()
            _read_line(sock, buffer, deadline)  # greeting
            for line in (f"/nick {nick}", "/join benchfiles"):
                sock.sendall(line.encode() + b"\r\n")
                _reply(sock, buffer, deadline)
            return sock, buffer

        up, up_buffer = guest("uploader")
        up.sendall(f"/send benchfiles payload.bin {size}\r\n".encode())
        assert _reply(up, up_buffer, deadline).startswith(b"350 ")
        start = time.monotonic()
        with path.open("rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                up.sendall(block)
        stored = _reply(up, up_buffer, deadline)
        result["upload_mib_s"] = round(args.size / (time.monotonic() - start), 1)
        assert stored.startswith(b"250 "), stored
        file_id = stored.split()[1].decode()

        down, down_buffer = guest("downloader")
        down.sendall(f"/get {file_id}\r\n".encode())
        head = _reply(down, down_buffer, deadline)
        assert head.startswith(b"351 "), head
        start = time.monotonic()
        got = len(down_buffer)
        down_buffer.clear()
        chunk = bytearray(1 << 20)
        while got < size:
            got += down.recv_into(chunk)
        result["download_mib_s"] = round(args.size / (time.monotonic() - start), 1)
        for sock in (up, down):
            sock.close()
        return result


async def files(args: argparse.Namespace, target: Target) -> dict:
    return await asyncio.to_thread(_files_blocking, args, target.port("line"))


SCENARIOS = {
    "fanout": fanout,
    "latency": latency,
    "capacity": capacity,
    "loginstorm": loginstorm,
    "auths": auths,
    "udpfanout": udpfanout,
    "files": files,
}


# -- several nodes through Redis ---------------------------------------------------------------


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


class ClusterTarget(Target):
    """Several nodes: members connect to each in turn; CPU is the nodes' and Redis's."""

    def __init__(self, args: argparse.Namespace, nodes: list[Daemon], redis: Redis):
        super().__init__(args, nodes[0])
        self.nodes = nodes
        self.redis = redis

    def ports(self, protocol: str) -> list[int]:
        return [node.port(protocol) for node in self.nodes]

    def cpu(self) -> float:
        return sum(proc_cpu(node.pid) for node in self.nodes) + proc_cpu(self.redis.proc.pid)

    def counters(self) -> dict[str, float]:
        return {"redis_publishes": self.redis.publishes(),
                "redis_cpu_s": proc_cpu(self.redis.proc.pid)}


def run_cluster(args: argparse.Namespace) -> dict:
    """The same fanout on one node, then on ``--nodes`` nodes sharing Redis and one member
    service, the room's members (senders included) spread over them in turn."""
    extra = list(args.daemon_arg)
    single = Daemon(args, extra)
    single.start()
    try:
        alone = asyncio.run(asyncio.wait_for(fanout(args, Target(args, single)), 300))
    finally:
        single.stop()
    redis = Redis()
    nodes: list[Daemon] = []
    try:
        members = ""
        for index in range(args.nodes):
            node = Daemon(args, [*extra, "--cluster", redis.url, "--node-name", f"bench-{index}"])
            nodes.append(node)
            if not members:
                members = node.start_members(node.dir / "members")
            node.start(members)
            log = node.dir / "chatd.log"
            deadline = time.monotonic() + 20
            while "in step with the others" not in log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"node {index} did not reach Redis; see {log}")
                time.sleep(0.1)
        together = asyncio.run(asyncio.wait_for(
            fanout(args, ClusterTarget(args, nodes, redis)), 300))
    finally:
        for node in reversed(nodes):  # the first stops the member service too
            node.stop()
        redis.stop()
    messages = together["messages"]
    return {
        "scenario": f"cluster {args.nodes} nodes, 1x{args.members} {args.senders} senders",
        "protocol": together["protocol"],
        "one_node_deliveries_per_cpu_s": alone["deliveries_per_cpu_s"],
        "one_node_deliveries_per_s": alone["deliveries_per_s"],
        "cluster_deliveries_per_cpu_s": together["deliveries_per_cpu_s"],
        "cluster_deliveries_per_s": together["deliveries_per_s"],
        "cluster_server_cpu_s": together["server_cpu_s"],
        "cluster_redis_cpu_s": together["redis_cpu_s"],
        "cluster_messages": messages,
        "redis_publishes_per_message": round(together["redis_publishes"] / messages, 4)
        if messages else None,
        "cluster_delivery_ratio": together["delivery_ratio"],
        "cluster_order_violations": together["order_violations"],
        "one_node_delivery_ratio": alone["delivery_ratio"],
    }


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--protocol", choices=WIRES, default="line")
    common.add_argument("--server", choices=("chatd", *PEERS), default="chatd",
                        help="the daemon to spawn: chatd, or a C IRC server to compare with "
                        "(ngircd, inspircd; IRC only)")
    common.add_argument("--runs", type=int, default=1, help="repeat, print each and the median")
    common.add_argument("--pid", type=int, help="target a running daemon: its PID (for CPU)")
    common.add_argument("--port", type=int, help="target a running daemon: the protocol's port")
    common.add_argument("--source", default=str(HERE.parent),
                        help="chatd source tree to run (PYTHONPATH) [default: this checkout]")
    common.add_argument("--daemon-arg", action="append", default=[],
                        help="extra argument for the spawned chatd (repeatable)")
    common.add_argument("--profile", help="run the spawned chatd under cProfile, stats to FILE")
    common.add_argument("--py-spy", help="sample the spawned chatd with py-spy, collapsed "
                        "stacks to FILE (see bench/profile_summary.py)")
    common.add_argument("--keep", action="store_true", help="keep the daemon's temp directory")
    common.add_argument("--concurrency", type=int, default=100,
                        help="connections being set up at once")
    common.add_argument("--json", action="store_true", help="print JSON lines only")
    sub = top.add_subparsers(dest="scenario", required=True)

    p = sub.add_parser("fanout", parents=[common], help="deliveries per server CPU-second")
    p.add_argument("--rooms", type=int, default=1)
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=1)
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    p.add_argument("--duration", type=float, default=10.0)

    p = sub.add_parser("cluster", parents=[common],
                       help="fanout on one node, then on several sharing Redis")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--rooms", type=int, default=1)
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=16)
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    p.add_argument("--duration", type=float, default=10.0)

    p = sub.add_parser("latency", parents=[common], help="p50/p99/max at a paced rate")
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--samplers", type=int, default=10, help="members that time each message")
    p.add_argument("--rate", type=float, default=1000.0, help="messages per second, all senders")
    p.add_argument("--duration", type=float, default=10.0)

    p = sub.add_parser("udpfanout", parents=[common], help="datagrams per server CPU-second")
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=1)
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--udp-port", type=int, help="target a running daemon: its UDP port")

    p = sub.add_parser("capacity", parents=[common], help="idle logged-in connections")
    p.add_argument("--connections", type=int, default=9000)

    for name, help_ in (("loginstorm", "chat latency during a burst of logins"),
                        ("auths", "account logins per second")):
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("--members-service", dest="members_service", choices=("embedded", "remote"),
                       default="embedded", help="accounts in chatd, or in twistd chatd-members")
        p.add_argument("--logins", type=int, default=200)
        if name == "loginstorm":
            p.add_argument("--members", type=int, default=100)
            p.add_argument("--senders", type=int, default=10)
            p.add_argument("--samplers", type=int, default=10)
            p.add_argument("--rate", type=float, default=200.0)
            p.add_argument("--before", type=float, default=5.0, help="seconds measured before")
            p.add_argument("--storm-limit", type=float, default=60.0,
                           help="longest the storm is watched, seconds")
    p = sub.add_parser("curve", parents=[common], help="fan-out cost as rooms grow")
    p.add_argument("--protocols", default="line,irc", help="comma-separated")
    p.add_argument("--sizes", default="10,100,1000,5000", help="members of the one room")
    p.add_argument("--room-counts", dest="room_counts", default="1,10,100",
                   help="rooms, one sender each")
    p.add_argument("--room-members", dest="room_members", type=int, default=10,
                   help="members of each room in the rooms series")
    p.add_argument("--senders", type=int, default=1, help="senders in the one room")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--peers", action="store_true", help="ngircd's IRC curve too")
    p.add_argument("--plot", help="write a PNG of the curve (needs matplotlib)")

    p = sub.add_parser("compare", parents=[common], help="chatd against ngircd, same run")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=1000.0, help="latency: messages per second")
    p.add_argument("--latency-duration", dest="latency_duration", type=float, default=10.0)
    p.add_argument("--no-peer", dest="no_peer", action="store_true", help="chatd only")
    p.add_argument("--plot", help="write a PNG bar chart (needs matplotlib)")

    p = sub.add_parser("files", parents=[common], help="upload and download MiB/s")
    p.add_argument("--size", type=int, default=256, help="the file's size, MiB")
    return top


def median_of(results: list[dict]) -> dict:
    out: dict = {}
    for key, value in results[0].items():
        values = [r[key] for r in results]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and all(
                isinstance(v, (int, float)) for v in values):
            out[key] = statistics.median(values)
        else:
            out[key] = value
    out["runs"] = len(results)
    return out


def run_once(args: argparse.Namespace) -> dict:
    if args.scenario == "cluster":
        if args.pid is not None or args.port is not None:
            raise SystemExit("the cluster scenario starts its own nodes")
        if uvloop is not None:
            uvloop.install()
        return run_cluster(args)
    daemon: Daemon | Ngircd | None = None
    extra = list(args.daemon_arg)
    if args.server in PEERS:
        if args.scenario not in ("fanout", "latency", "capacity") or args.protocol != "irc":
            raise SystemExit(f"--server {args.server}: fanout, latency or capacity, "
                             "--protocol irc")
        daemon = PEERS[args.server](args)
        daemon.start()
    elif args.pid is None and args.port is None:
        if args.scenario in ("loginstorm", "auths"):
            # Every login of the storm is queued for a hash rather than refused with 503, and
            # waits for it rather than being closed by the 30 s login timeout.
            if not any(a.startswith("--hash-queue") for a in extra):
                extra += ["--hash-queue", str(max(64, args.logins + 16))]
            if not any(a.startswith("--login-timeout") for a in extra):
                extra += ["--login-timeout", "0"]
            daemon = spawn_with_accounts(args, extra, args.logins)
        else:
            if args.scenario == "udpfanout":
                args.udp_port = free_udp_port()
                extra += ["--udp", f"udp:{args.udp_port}:interface={HOST}",
                          "--udp-idle-timeout", "0", "--udp-members-per-address", "100000"]
            if args.scenario == "files":
                limit = str(args.size * 1024 * 1024 * 4)
                extra += ["--max-file-size", limit, "--file-quota-per-user", limit,
                          "--file-quota-per-room", limit, "--file-store-size", limit]
            daemon = Daemon(args, extra)
            daemon.start()
    elif args.pid is None or args.port is None:
        raise SystemExit("--pid and --port go together")
    target = Target(args, daemon)
    try:
        if uvloop is not None:
            uvloop.install()
        result = asyncio.run(asyncio.wait_for(SCENARIOS[args.scenario](args, target), 300))
        return {"server": args.server, **result}
    finally:
        if daemon is not None:
            daemon.stop()


# -- several runs in one: the cost curve, and chatd against ngircd -----------------------

# The fan-out cells of issue 18's table: (rooms, members per room, senders in all).
CELLS = ((1, 100, 1), (1, 100, 16), (1, 1000, 10), (10, 100, 10))


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options of a curve or compare run that each of its single runs gets too."""
    out = ["--source", args.source, "--concurrency", str(args.concurrency)]
    for extra in args.daemon_arg:
        out.append(f"--daemon-arg={extra}")
    if args.keep:
        out.append("--keep")
    return out


def measured(argv: list[str], runs: int) -> dict:
    """The median of ``runs`` single runs of ``argv`` (each printed to stderr)."""
    sub = parser().parse_args(argv)
    results = []
    for _ in range(runs):
        result = run_once(sub)
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    return median_of(results)


def point(series: str, x: int, server: str, protocol: str, argv: list[str], runs: int) -> dict:
    """One point of the curve, printed as it is made. A peer's failure (ngircd refusing a
    5,000-member room's registrations) is recorded and the curve goes on; chatd's is not
    caught."""
    try:
        m = measured(argv, runs)
    except (TimeoutError, RuntimeError, OSError) as error:
        if server == "chatd":
            raise
        m = {"server": server, "protocol": protocol, "failed": str(error) or type(error).__name__}
    result = {"series": series, "x": x, **m}
    print(json.dumps(result), flush=True)
    return result


def curve(args: argparse.Namespace) -> list[dict]:
    """Deliveries per server CPU-second as the work grows: one room of each of ``--sizes``
    members, then each of ``--room-counts`` rooms of ``--room-members``, one closed-loop
    sender per room (``--senders`` in the one room). Flat is the goal."""
    sizes = [int(x) for x in args.sizes.split(",") if x]
    counts = [int(x) for x in args.room_counts.split(",") if x]
    points = []
    for protocol in args.protocols.split(","):
        servers = ["chatd"] + (installed_peers() if protocol == "irc" and args.peers else [])
        for server in servers:
            common = ["--protocol", protocol, "--server", server, "--duration",
                      str(args.duration), *forwarded(args)]
            points += [point(series, x, server, protocol, argv, args.runs)
                       for series, x, argv in (
                           *(("members", size, ["fanout", "--members", str(size), "--senders",
                                                str(min(args.senders, size - 1)), *common])
                             for size in sizes),
                           *(("rooms", count, ["fanout", "--rooms", str(count), "--members",
                                               str(args.room_members), "--senders", str(count),
                                               *common])
                             for count in counts))]
    print("\n| series | x | server | protocol | deliveries per server CPU-s | deliveries/s |")
    print("|---|---|---|---|---|---|")
    for p in points:
        figures = (f"{p['deliveries_per_cpu_s']:,.0f} | {p['deliveries_per_s']:,.0f}"
                   if "failed" not in p else f"(failed: {p['failed']}) |")
        print(f"| {p['series']} | {p['x']:,} | {p['server']} | {p['protocol']} | {figures} |")
    if args.plot:
        plot_curve(points, args.plot)
    return points


def plot_curve(points: list[dict], path: str) -> None:
    """Two panels (members per room; rooms), one line per server and protocol."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    titles = {"members": "one room of N members", "rooms": "N rooms"}
    for ax, series in zip(axes, ("members", "rooms"), strict=True):
        lines: dict[str, list[tuple[int, float]]] = {}
        for p in points:
            if p["series"] == series and p.get("deliveries_per_cpu_s"):
                label = f"{p['server']} {p['protocol']}"
                lines.setdefault(label, []).append((p["x"], p["deliveries_per_cpu_s"] / 1e6))
        for label, xy in sorted(lines.items()):
            xs, ys = zip(*sorted(xy), strict=True)
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel(titles[series])
        ax.set_ylabel("million deliveries per server CPU-second")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("chatd fan-out cost curve (bench/chatbench.py curve)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}", file=sys.stderr)


def installed_peers() -> list[str]:
    return [name for name, peer in PEERS.items() if peer.binary() is not None]


def compare(args: argparse.Namespace) -> list[dict]:
    """chatd (line and IRC) and the installed C servers (ngircd, inspircd) in the same run:
    issue 18's fan-out cells and the latency at ``--rate`` into 100 members, medians of
    ``--runs``, with the ratios to each C server."""
    peers = [] if args.no_peer else installed_peers()
    if not peers:
        print("# no C IRC server installed: chatd only", file=sys.stderr)
    columns = [("chatd", "line"), ("chatd", "irc")] + [(peer, "irc") for peer in peers]
    rows = []
    for rooms, members, senders in CELLS:
        row: dict = {"cell": f"{rooms} x {members}, {senders} sender{'s' * (senders > 1)}"}
        for server, protocol in columns:
            m = measured(["fanout", "--rooms", str(rooms), "--members", str(members),
                          "--senders", str(senders), "--duration", str(args.duration),
                          "--protocol", protocol, "--server", server, *forwarded(args)],
                         args.runs)
            row[f"{server} {protocol}"] = m["deliveries_per_cpu_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    latencies = {}
    for server, protocol in columns:
        m = measured(["latency", "--rate", str(args.rate), "--members", "100", "--duration",
                      str(args.latency_duration), "--protocol", protocol, "--server", server,
                      *forwarded(args)], args.runs)
        latencies[f"{server} {protocol}"] = m
        print(json.dumps({"latency": f"{server} {protocol}", **m}), flush=True)
    names = [f"{server} {protocol}" for server, protocol in columns]
    head = "| cell | " + " | ".join(names)
    for peer in peers:
        head += f" | line / {peer} | IRC / {peer}"
    head += " | IRC / line"
    print("\nDeliveries per server CPU-second, medians of", args.runs)
    print(head + " |")
    print("|---" * (head.count("|")) + "|")
    for row in rows:
        cells = [f"{row[n] / 1e6:.2f} M" if row[n] else "-" for n in names]
        for peer in peers:
            theirs = row[f"{peer} irc"] or float("nan")
            cells += [f"{row['chatd line'] / theirs:.2f}", f"{row['chatd irc'] / theirs:.2f}"]
        cells.append(f"{row['chatd irc'] / row['chatd line']:.2f}")
        print(f"| {row['cell']} | " + " | ".join(cells) + " |")
    print(f"\nLatency at {args.rate:g} msg/s into 100 members, ms (p50 / p90 / p99 / max)")
    for name, m in latencies.items():
        print(f"| {name} | {m['p50_ms']} / {m['p90_ms']} / {m['p99_ms']} / {m['max_ms']} |")
    if args.plot:
        plot_compare(rows, names, args.plot)
    return rows


def plot_compare(rows: list[dict], names: list[str], path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([k + i * width for k in range(len(rows))],
               [(row[name] or 0) / 1e6 for row in rows], width, label=name)
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(rows))],
                  [row["cell"] for row in rows])
    ax.set_ylabel("million deliveries per server CPU-second")
    ax.set_title("fan-out, same run (bench/chatbench.py compare)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    raise_fd_limit()
    if args.scenario == "curve":
        curve(args)
        return
    if args.scenario == "compare":
        compare(args)
        return
    results = []
    for _ in range(args.runs):
        result = run_once(args)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.runs > 1:
        print(json.dumps({"median": median_of(results)}), flush=True)


try:
    import uvloop
except ImportError:  # plain asyncio works, a little slower
    uvloop = None  # type: ignore[assignment]

if __name__ == "__main__":
    main()
