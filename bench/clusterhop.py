#!/usr/bin/env python3
"""The cluster hop's fixed cost per message, in process, without Redis or sockets.

Two nodes, ``a`` and ``b`` (the test suite's ``World`` of ``tests/fakes.py`` from the tree
given by ``--source``, each with its RedisBus, Presence and SharedHistory), each with the
real Redis client protocols of chatd.cluster.link on a ``StringTransport``; a stand-in for
Redis here in the script reads what the command connections wrote and writes the replies
and the pub/sub messages into the subscriber connections, as Redis would, in bytes. One
member of the room on each node, plus the sender on ``a``, on the line protocol. Each
reactor turn ``--batch`` messages are said on ``a``; the CPU time of three steps is timed
apart (what Redis's stand-in does is not):

* ``publish``: the sender's lines into ``a`` up to the bytes written for Redis, and the
  replies to those commands read back;
* ``own``: ``a`` reads its own messages back from pub/sub and delivers them;
* ``remote``: ``b`` reads the same messages and delivers them.

With ``--local`` the same lines go through one node on a LocalBus instead (``publish`` is
then the whole of a message). Under callgrind (``PYTHONHASHSEED=0 valgrind --tool=callgrind
... --messages N``), the slope between two message counts is one message's instructions
(``bench/callgrind.py``).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LINE = b"s1 17 xxxxxxxxxxxxxxxxxxxxxxxx\r\n"


def _bulk(*parts: bytes) -> bytes:
    return b"*%d\r\n%s" % (len(parts), b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))


class FakeRedis:
    """What the nodes wrote to Redis, answered; the pub/sub frames to hand out."""

    def __init__(self) -> None:
        import hiredis

        self.reader = hiredis.Reader
        self.nodes: dict[str, Any] = {}
        self.channels: dict[str, set[str]] = {}
        self.out: dict[str, list[bytes]] = {}

    def serve(self, name: str) -> bytes:
        """Read node ``name``'s commands; its replies; queue the pub/sub frames."""
        node = self.nodes[name]
        data = node.cmd.transport.value()
        node.cmd.transport.clear()
        reader = self.reader()
        reader.feed(data)
        replies = []
        while (command := reader.gets()) is not False:
            verb = command[0].upper()
            if verb == b"PUBLISH":
                channel, message = command[1], command[2]
            elif verb == b"EVALSHA":
                channel, message = command[3], command[5]
            else:
                replies.append(b"+OK\r\n")
                continue
            subscribers = self.channels.get(channel.decode(), set())
            for subscriber in subscribers:
                self.out.setdefault(subscriber, []).append(_bulk(b"message", channel, message))
            replies.append(b"$-1\r\n" if verb == b"EVALSHA" else b":%d\r\n" % len(subscribers))
        return b"".join(replies)

    def pending(self, name: str) -> bytes:
        return b"".join(self.out.pop(name, []))


class Node:
    def __init__(self, name: str, redis: FakeRedis, scratch: Path) -> None:
        from functools import partial

        from twisted.internet.defer import succeed
        from twisted.internet.testing import StringTransport

        from chatd.bus.redis import PRESENCE, node_channel  # type: ignore[import]
        from chatd.cluster import link  # type: ignore[import]
        from chatd.cluster.history import SharedHistory  # type: ignore[import]
        from chatd.cluster.node import _publish  # type: ignore[import]
        from chatd.cluster.presence import Presence  # type: ignore[import]
        from chatd.history.memory import Retention  # type: ignore[import]

        from fakes import World  # type: ignore[import-not-found]

        self.name = name
        (scratch / name).mkdir()
        world = self.world = World(scratch / name)
        history = SharedHistory(world.clock, Retention())
        self.presence = Presence(name, world.delivery, world.clock.seconds)
        self.presence.follow(world.server)
        world.server.bus = self.presence.bus
        world.server.history = history
        self.presence.bus.listen(world.delivery)
        self.presence.bus.listen(history)

        class Link:
            def __init__(self) -> None:
                self.on_message = self.presence_bus.received

            presence_bus = self.presence.bus

            def _gone(self, protocol: object) -> None:
                pass

        class Factory:
            link = Link()

        def protocol(kind: type) -> Any:
            made = kind(charset="utf-8", replyTimeout=None)
            made.factory = Factory()
            made.makeConnection(StringTransport())
            return made

        self.cmd = protocol(link._Commands)
        self.sub = protocol(link._Subscriber)
        history.commands = lambda: self.cmd
        redis.nodes[name] = self

        def subscribe(channel: str) -> Any:
            redis.channels.setdefault(channel, set()).add(name)
            return succeed(["subscribe", channel, 1])

        def unsubscribe(channel: str) -> Any:
            redis.channels.get(channel, set()).discard(name)
            return succeed(["unsubscribe", channel, 0])

        subscribe(PRESENCE)
        subscribe(node_channel(name))
        self.presence.bus.connected(partial(_publish, self.cmd), subscribe, unsubscribe,
                                    history.publish)


def pump(redis: FakeRedis, nodes: list[Node]) -> None:
    for _ in range(100):
        moved = False
        for node in nodes:
            replies = redis.serve(node.name)
            if replies:
                node.cmd.dataReceived(replies)
                moved = True
        for node in nodes:
            frames = redis.pending(node.name)
            if frames:
                node.sub.dataReceived(frames)
                moved = True
            node.world.clock.advance(0)
        if not moved:
            return


def cluster(source: Path, messages: int, batch: int) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="chatbench-hop-"))
    atexit.register(shutil.rmtree, scratch, True)
    redis = FakeRedis()
    a, b = Node("a", redis, scratch), Node("b", redis, scratch)
    for node in (a, b):
        node.presence.hello()
    pump(redis, [a, b])
    sender, checker = a.world.connect(), a.world.connect()
    watcher = b.world.connect()
    for i, client in enumerate((sender, checker, watcher)):
        client.send(f"/nick u{i}", "/join lobby")
        node = a if client is not watcher else b
        node.presence.sessions_changed(f"u{i}")
        pump(redis, [a, b])
    for client in (sender, checker, watcher):
        client.read()
    clients = (sender, checker, watcher)
    spent = {"publish": 0.0, "own": 0.0, "remote": 0.0}
    clock = time.process_time
    for start in range(0, messages, batch):
        count = min(batch, messages - start)
        began = clock()
        for _ in range(count):
            sender.protocol.dataReceived(LINE)
        a.world.clock.advance(0)
        spent["publish"] += clock() - began
        replies = redis.serve("a")
        frames_a, frames_b = redis.pending("a"), redis.pending("b")
        began = clock()
        a.cmd.dataReceived(replies)
        spent["publish"] += clock() - began
        began = clock()
        a.sub.dataReceived(frames_a)
        a.world.clock.advance(0)
        spent["own"] += clock() - began
        began = clock()
        b.sub.dataReceived(frames_b)
        b.world.clock.advance(0)
        spent["remote"] += clock() - began
        for client in clients:
            client.transport.clear()
    seen = watcher.protocol.transport  # cleared each turn: count from the bus's stats
    del seen
    if b.presence.bus.stats.receives < messages:
        raise SystemExit(f"b received {b.presence.bus.stats.receives} of {messages}")
    return spent


def local(source: Path, messages: int, batch: int) -> dict[str, float]:
    from fakes import World  # type: ignore[import-not-found]

    scratch = Path(tempfile.mkdtemp(prefix="chatbench-hop-"))
    atexit.register(shutil.rmtree, scratch, True)
    world = World(scratch)
    clients = [world.connect() for _ in range(3)]
    for i, client in enumerate(clients):
        client.send(f"/nick u{i}", "/join lobby")
    world.clock.advance(0)
    began = time.process_time()
    for start in range(0, messages, batch):
        for _ in range(min(batch, messages - start)):
            clients[0].protocol.dataReceived(LINE)
        world.clock.advance(0)
        for client in clients:
            client.transport.clear()
    return {"publish": time.process_time() - began}


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--source", default=str(Path(__file__).resolve().parent.parent))
    top.add_argument("--messages", type=int, default=20_000)
    top.add_argument("--batch", type=int, default=8, help="messages per reactor turn")
    top.add_argument("--repeat", type=int, default=3, help="timed repeats (best is printed)")
    top.add_argument("--local", action="store_true", help="one node on a LocalBus instead")
    args = top.parse_args()
    source = Path(args.source).resolve()
    for sub in ("tests", "clients", ""):
        sys.path.insert(0, str(source / sub) if sub else str(source))
    best: dict[str, float] = {}
    for _ in range(max(1, min(args.repeat, 20))):
        spent = (local if args.local else cluster)(source, args.messages, args.batch)
        for step, seconds in spent.items():
            best[step] = min(best.get(step, float("inf")), seconds)
    shown = ", ".join(f"{step} {seconds / args.messages * 1e6:.1f}"
                      for step, seconds in best.items())
    total = sum(best.values()) / args.messages * 1e6
    print(f"{args.source}: us per message: {shown}; all {total:.1f}")


if __name__ == "__main__":
    main()
