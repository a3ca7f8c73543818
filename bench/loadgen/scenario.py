"""What a subcommand is: a name, its options and how one run of it goes. Most scenarios
measure one server through a ``Target``; ``one_server`` turns such a measurement into a run
by starting and stopping that server, so a scenario module holds only its own logic."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .daemon import Daemon
from .peers import PEERS, Ngircd
from .target import Target

try:
    import uvloop
except ImportError:  # plain asyncio works, a little slower
    uvloop = None

Measure = Callable[[argparse.Namespace, Target], Coroutine[Any, Any, dict]]
Spawn = Callable[[argparse.Namespace, list[str]], Daemon]


@dataclass(frozen=True)
class Scenario:
    """One subcommand. ``run`` is one run (its result printed, ``--runs`` repeat it), unless
    ``repeated`` is false: then it repeats itself and prints its own tables (curve, compare)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]
    repeated: bool = True


def install_uvloop() -> None:
    """Use uvloop for the clients' event loop when it is installed."""
    if uvloop is not None:
        uvloop.install()


def start_daemon(args: argparse.Namespace, extra: list[str]) -> Daemon:
    """A started chatd with the benchmark's options and ``extra``."""
    daemon = Daemon(args, extra)
    daemon.start()
    return daemon


def one_server(measure: Measure, spawn: Spawn = start_daemon,
               peers: bool = False) -> Callable[[argparse.Namespace], dict]:
    """One run of ``measure`` against the server the options name: a chatd started by
    ``spawn`` (given ``--daemon-arg``s), a C IRC server (``--server``, where ``peers``), or
    the daemon already running at ``--pid``/``--port``. Bounded at 300 s."""

    def run(args: argparse.Namespace) -> dict:
        daemon: Daemon | Ngircd | None = None
        if args.server in PEERS:
            if not peers or args.protocol != "irc":
                raise SystemExit(f"--server {args.server}: fanout, latency or capacity, "
                                 "--protocol irc")
            daemon = PEERS[args.server](args)
            daemon.start()
        elif args.pid is None and args.port is None:
            daemon = spawn(args, list(args.daemon_arg))
        elif args.pid is None or args.port is None:
            raise SystemExit("--pid and --port go together")
        target = Target(args, daemon)
        try:
            install_uvloop()
            result = asyncio.run(asyncio.wait_for(measure(args, target), 300))
            return {"server": args.server, **result}
        finally:
            if daemon is not None:
                daemon.stop()

    return run
