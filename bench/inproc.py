#!/usr/bin/env python3
"""In-process fan-out cost, without sockets: a steadier figure than wall or CPU time.

One room of ``--members`` line clients on ``StringTransport`` (the test suite's ``World``
from ``tests/fakes.py`` of the tree given by ``--source``), one of them says ``--messages``
room messages, each one line fed to ``dataReceived``; the fake clock ends a reactor turn
every ``--batch`` messages (the outboxes flush). ``--protocol irc`` does the same with IRC
clients; ``--protocol web`` with browsers (the web frontend's WebSocket after the HTTP
upgrade, the sender's messages masked text frames); ``--protocol udp`` with line guests
whose room traffic goes to their UDP members (validated over a real, bound Twisted UDP port,
every datagram a real ``sendto`` to one loopback socket nobody reads; the sender is one
more line guest in the room). It prints the CPU time per message and per
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
    if protocol == "udp":  # /token names the UDP port
        from chatd.core.service import Limits  # type: ignore[import]
        from chatd.frontends.line import Options as LineOptions  # type: ignore[import]
        from chatd.frontends.options import ConnectionOptions  # type: ignore[import]

        kwargs["options"] = LineOptions(ConnectionOptions(udp_port=7778))
        # The line sender is one more member: the room holds it besides the UDP members.
        kwargs["limits"] = Limits(messages_burst=1_000_000, seat_grace=0,
                                  default_room_limit=members + 1, max_room_limit=members + 1)
    scratch = tempfile.mkdtemp(prefix="chatbench-inproc-")
    atexit.register(shutil.rmtree, scratch, True)
    world = World(Path(scratch), **kwargs)
    clients = []
    if protocol == "web":
        clients = web_clients(world, members)
    elif protocol == "udp":
        clients = udp_clients(world, members)
    elif protocol == "irc":
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
    if protocol == "web":
        world.line = web_frame(b'{"line":"' + LINE.rstrip() + b'"}')
    return world, clients


def web_frame(payload: bytes) -> bytes:
    """A browser's text frame of a short payload: masked, as a client's must be (a zero
    mask: the same bytes)."""
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


class Browser:
    """A browser with its WebSocket open, as ``World.connect`` gives a line client."""

    def __init__(self, world, factory, number: int) -> None:
        from test_web_site import Connection, upgrade  # type: ignore[import-not-found]

        self.connection = Connection(factory, f"10.{number // 65536 % 256}.{number // 256 % 256}"
                                     f".{number % 256}")
        self.connection.send(upgrade())
        self.transport = self.connection.transport
        self.protocol = self.transport.protocol  # the WebSocket's, after the upgrade
        self.world = world

    def send(self, *lines: str) -> None:
        for line in lines:
            self.protocol.dataReceived(web_frame(f'{{"line":"{line}"}}'.encode()))
            self.world.clock.advance(0)

    def read(self) -> None:
        self.transport.clear()


def web_clients(world, members: int) -> list:
    import txaio

    from chatd.frontends.web.options import Options  # type: ignore[import]
    from chatd.frontends.web.site import WebFactory  # type: ignore[import]

    txaio.config.loop = world.clock  # autobahn's timers (pings) on the fake clock
    factory = WebFactory(world.portal, Options(), world.clock, world.admission,
                         world.server.stats)
    factory.startFactory()
    clients = []
    for i in range(members):
        browser = Browser(world, factory, i)
        browser.send(f"/nick u{i}", "/join lobby")
        clients.append(browser)
    return clients


class UdpSender:
    """A line guest in the room whose protocol ``run`` feeds; the members are UDP."""

    def __init__(self, client, members: list) -> None:
        self.protocol = client.protocol
        self.transport = client.transport
        self.members = members

    def read(self) -> None:
        self.transport.clear()


def udp_clients(world, members: int) -> list:
    import socket

    from twisted.internet import reactor
    from twisted.internet.protocol import DatagramProtocol

    from chatd.frontends.udp import Options, UdpFrontend  # type: ignore[import]
    from chatd.frontends.udp.codec import COOKIE_MARK, encode  # type: ignore[import]

    frontend = UdpFrontend(world.portal, Options(idle_timeout=0, max_members=members + 1,
                                                 members_per_address=members + 1),
                           world.clock, world.admission, world.server.stats)
    port = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
    # Where every datagram goes: a socket nobody reads (the kernel drops what overflows).
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    address = sink.getsockname()
    tcp = []
    for i in range(members):
        client = world.connect()
        client.send(f"/nick u{i}", "/join lobby")
        [reply] = [line for line in client.send("/token lobby") if line.startswith("230 ")]
        token = reply.split(" ")[2]
        cookie = COOKIE_MARK + frontend.cookies.make(address, token)
        frontend.received(encode("lobby", token, cookie), address, port)
        tcp.append(client)
    world.clock.advance(0)
    if len(frontend.members) != members:
        raise SystemExit(f"only {len(frontend.members)} of {members} UDP members validated")
    sender = world.connect()
    sender.send("/nick sender", "/join lobby")
    world.sink = sink  # kept open for the run
    return [UdpSender(sender, tcp), *tcp]


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
    top.add_argument("--protocol", choices=("line", "irc", "web", "udp"), default="line")
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
