"""The server a scenario measures: where its clients connect and whose CPU and RSS are read,
a daemon the benchmark started or one already running (``--pid``/``--port``)."""

from __future__ import annotations

import argparse

from .daemon import Daemon
from .measure import proc_cpu, proc_rss, proc_times
from .peers import Ngircd


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
