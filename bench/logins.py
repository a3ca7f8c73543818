#!/usr/bin/env python3
"""In-process cost of a guest's connect and login, without sockets.

The test suite's ``World`` (``tests/fakes.py`` of the tree given by ``--source``: the real
portal, checkers, realm, directory and core) takes ``--logins`` guests, each a new line
(or ``--protocol irc``) connection on a ``StringTransport`` that sends ``/nick idleN`` (or
``NICK``/``USER``) and reads its greeting and welcome, the fake clock ending the reactor turn
after each, as ``chatbench.py capacity`` does over sockets. The guests stay logged in, so the
look-alike checks run against everyone online, as in the daemon. ``--warm`` logins come
first, unmeasured; then, as the daemon does once it runs, the heap is frozen out of garbage
collection with the daemon's thresholds (``chatd.tap.GC_THRESHOLDS``). The connections come
from an address in an ``exempt`` network as chatbench's do (``--not-exempt``: the per-address
limits and probe counts apply). It prints the CPU time per login; twisted.logger has an
observer that drops every event (``--log FILE`` writes them as the daemon's text log does).

Its steady use is under callgrind, whose instruction counts the machine's load does not move;
the slope between two login counts is the cost of one login:

    for n in 500 1500; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/lg.$n \\
          python bench/logins.py --logins $n --source DIR
    done
    bench/logins.py --slope /tmp/lg.500 /tmp/lg.1500      # instructions per login

``--profile FILE`` writes a cProfile of the measured logins (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

from callgrind import slope


def setup(source: Path, log_file: str | None, exempt: bool):
    for sub in ("tests", "clients", ""):
        sys.path.insert(0, str(source / sub) if sub else str(source))
    from twisted.logger import globalLogBeginner, textFileLogObserver

    if log_file:
        out = open(log_file, "a")  # noqa: SIM115  (open until the process ends)
        globalLogBeginner.beginLoggingTo([textFileLogObserver(out)], redirectStandardIO=False)
    else:
        globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    from fakes import World  # type: ignore[import-not-found]

    scratch = tempfile.mkdtemp(prefix="chatbench-logins-")
    atexit.register(shutil.rmtree, scratch, True)
    world = World(Path(scratch))
    if exempt:  # StringTransport's peer is 192.168.1.1
        from chatd.frontends.admission import parse_networks

        world.admission.exempt = parse_networks(["192.168.0.0/16"])
    return world


def logins(factory, clock, hello, welcome: bytes):
    """A function that connects one client to ``factory`` and logs it in as ``name``: it
    sends ``hello(name)`` and expects ``welcome`` in the reply, as chatbench's capacity."""
    from twisted.internet.testing import StringTransport

    def login(name: str):
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(hello(name.encode()))
        clock.advance(0)
        if welcome not in transport.value():
            raise SystemExit(f"{name} was not logged in: {transport.value()!r}")
        transport.clear()
        return protocol

    return login


def line_login(world):
    return logins(world.factory, world.clock, lambda nick: b"/nick " + nick + b"\r\n", b"201 ")


def irc_login(world):
    from chatd.frontends.irc import IRCFactory, Options  # type: ignore[import]

    factory = IRCFactory(world.portal, Options(), world.clock, world.admission,
                         world.server.stats)
    return logins(factory, world.clock,
                  lambda nick: b"NICK " + nick + b"\r\nUSER " + nick + b" 0 * :" + nick + b"\r\n",
                  b" 001 ")


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--source", default=str(Path(__file__).resolve().parent.parent))
    top.add_argument("--protocol", choices=("line", "irc"), default="line")
    top.add_argument("--logins", type=int, default=3000)
    top.add_argument("--warm", type=int, default=200, help="unmeasured logins first")
    top.add_argument("--log", metavar="FILE", help="write the log events to FILE")
    top.add_argument("--not-exempt", action="store_true",
                     help="the per-address limits apply to the connections")
    top.add_argument("--profile", metavar="FILE", help="cProfile the measured logins")
    top.add_argument("--slope", nargs=2, metavar=("SMALL", "LARGE"),
                     help="two callgrind files: instructions per login between them")
    args = top.parse_args()
    if args.slope:
        print(f"{slope(*args.slope):,.0f} instructions per login")
        return
    world = setup(Path(args.source), args.log, not args.not_exempt)
    login = (irc_login if args.protocol == "irc" else line_login)(world)
    kept = [login(f"warm{i}") for i in range(min(args.warm, 100_000))]
    try:
        from chatd.tap import GC_THRESHOLDS  # type: ignore[import]
    except ImportError:
        GC_THRESHOLDS = (20_000, 20, 20)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    count = max(1, min(args.logins, 100_000))
    names = [f"idle{i}" for i in range(count)]
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.process_time()
    kept.extend(login(name) for name in names)
    spent = time.process_time() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"{args.source} {args.protocol}: {spent / count * 1e6:.1f} us CPU per login "
          f"({count} logins, {len(kept)} online)")


if __name__ == "__main__":
    main()
