"""The C IRC servers chatd is compared with (Debian's ngircd and InspIRCd 3): our own
instance of each on a free loopback port with a config of our own, never the system service,
set up like chatd's ``--exempt`` so neither side is measured against its flood limits."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .loopback import HOST, free_port, raise_fd_limit

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
            shutil.rmtree(self.dir, ignore_errors=True)  # empty yet: nothing to keep
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


def installed_peers() -> list[str]:
    """The names of the peers whose binary is installed here."""
    return [name for name, peer in PEERS.items() if peer.binary() is not None]
