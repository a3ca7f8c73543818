#!/usr/bin/env python3
"""In-process fan-out cost, without sockets: a steadier figure than wall or CPU time.

One room of ``--members`` line clients on ``StringTransport`` (the test suite's ``World``
from ``tests/fakes.py`` of the tree given by ``--source``), one of them says ``--messages``
room messages, each one line fed to ``dataReceived``; the fake clock ends a reactor turn
every ``--batch`` messages (the outboxes flush). It prints the CPU time per message and per
delivery. Its real use is under callgrind, whose instruction counts do not move with the
machine's load; the slope between two message counts is the cost of one message:

    for n in 200 800; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
          python bench/inproc.py --messages $n --source DIR
    done
    bench/inproc.py --slope /tmp/cg.200 /tmp/cg.800     # instructions per message

``--gc`` times every garbage collection during the messages (``gc.callbacks``): how many
of each generation, the longest and the total, the pauses behind a latency tail; with
``--idle N`` idle logged-in connections first (a bigger heap), and ``--freeze`` to apply
the daemon's start-up ``gc.freeze()`` and thresholds (``chatd.tap.Collector``) first.

``--history`` keeps room history in memory (``MemoryHistory``), on trees that have it;
``--history file`` as the daemon does by default (``FileHistory``: each message's record is
made on the reactor thread as it is kept; the batch the writer thread would write every 0.2
s is never handed over, as the fake clock never gets there).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path

from callgrind import slope


class IrcClient:
    """An IRC connection on a StringTransport, as ``World.connect`` gives a line one."""

    def __init__(self, factory) -> None:
        from twisted.internet.testing import StringTransport

        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, *lines: str) -> None:
        self.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())

    def read(self) -> None:
        self.transport.clear()


def setup(source: Path, members: int, history: str | None, protocol: str = "line"):
    for sub in ("tests", "clients", ""):
        sys.path.insert(0, str(source / sub) if sub else str(source))
    from fakes import World  # type: ignore[import-not-found]

    kwargs = {}
    if history:
        from twisted.internet.task import Clock

        from chatd.history.memory import MemoryHistory, Retention  # type: ignore[import]

        kwargs["history"] = MemoryHistory(Clock(), Retention())
        if history == "file":
            from chatd.history.files import FileHistory  # type: ignore[import]

            history_dir = tempfile.mkdtemp(prefix="chatbench-inproc-history-")
            atexit.register(shutil.rmtree, history_dir, True)
            kwargs["history"] = FileHistory(Path(history_dir), Clock(), Retention(), None,
                                            None)  # type: ignore[arg-type]
    scratch = tempfile.mkdtemp(prefix="chatbench-inproc-")
    atexit.register(shutil.rmtree, scratch, True)
    world = World(Path(scratch), **kwargs)
    clients = []
    if protocol == "irc":
        from chatd.frontends.irc import IRCFactory, Options  # type: ignore[import]

        factory = IRCFactory(world.portal, Options(), world.clock, world.admission,
                             world.server.stats)
        for i in range(members):
            irc = IrcClient(factory)
            irc.send(f"NICK u{i}", f"USER u{i} 0 * :u{i}", "JOIN #lobby")
            world.clock.advance(0)
            clients.append(irc)
    else:
        for i in range(members):
            client = world.connect()
            client.send(f"/nick u{i}", "/join lobby")
            clients.append(client)
    world.clock.advance(0)
    for client in clients:
        client.read()
    world.line = (b"PRIVMSG #lobby :" if protocol == "irc" else b"") + LINE
    return world, clients


LINE = b"s1 17 xxxxxxxxxxxxxxxxxxxxxxxx\r\n"


def gc_stats(collect: bool) -> dict[int, list[float]]:
    """Start timing collections: generation -> pause seconds, filled in as they happen."""
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def timing(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    if collect:
        gc.callbacks.append(timing)
    return pauses


def run(world, clients, messages: int, batch: int) -> None:
    sender = clients[0].protocol
    line = world.line
    for i in range(messages):
        sender.dataReceived(line)
        if i % batch == batch - 1:
            world.clock.advance(0)
            for client in clients:
                client.transport.clear()
    world.clock.advance(0)
    for client in clients:
        client.transport.clear()


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--source", default=str(Path(__file__).resolve().parent.parent))
    top.add_argument("--members", type=int, default=100)
    top.add_argument("--messages", type=int, default=2000)
    top.add_argument("--batch", type=int, default=1, help="messages per reactor turn")
    top.add_argument("--history", nargs="?", const="memory", choices=("memory", "file"))
    top.add_argument("--protocol", choices=("line", "irc"), default="line")
    top.add_argument("--gc", action="store_true", help="time each garbage collection")
    top.add_argument("--idle", type=int, default=0, help="idle logged-in connections first")
    top.add_argument("--freeze", action="store_true",
                     help="the daemon's gc.freeze() and thresholds after set-up")
    top.add_argument("--repeat", type=int, default=1, help="timed repeats (best is printed)")
    top.add_argument("--slope", nargs=2, metavar=("SMALL", "LARGE"),
                     help="two callgrind files: instructions per message between them")
    args = top.parse_args()
    if args.slope:
        print(f"{slope(*args.slope):,.0f} instructions per message")
        return
    world, clients = setup(Path(args.source), args.members, args.history, args.protocol)
    idle = []
    for i in range(min(args.idle, 20_000)):
        client = world.connect()
        client.send(f"/nick idle{i}")
        idle.append(client)
    if args.freeze:
        import gc

        from chatd.tap import GC_THRESHOLDS  # type: ignore[import]

        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    pauses = gc_stats(args.gc)
    best = float("inf")
    for _ in range(max(1, min(args.repeat, 20))):
        start = time.process_time()
        run(world, clients, args.messages, args.batch)
        best = min(best, time.process_time() - start)
    if args.gc:
        for generation, times in pauses.items():
            if times:
                print(f"generation {generation}: {len(times)} collections, longest "
                      f"{max(times) * 1e3:.2f} ms, total {sum(times) * 1e3:.1f} ms")
    per_message = best / args.messages
    print(f"{args.source}: {per_message * 1e6:.1f} us per message, "
          f"{args.messages * args.members / best / 1e6:.2f} M deliveries per CPU-s")


if __name__ == "__main__":
    main()
