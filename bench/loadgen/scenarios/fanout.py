"""``fanout``: R rooms x M members, S closed-loop senders with W messages in flight each:
deliveries/s, server CPU-seconds, deliveries per server CPU-second, delivery ratio and
per-sender order. The cost of a room message is what chatd is tuned for."""

from __future__ import annotations

import argparse
import asyncio
import time

from ..conn import bounded_gather, guest_in_room, settle
from ..measure import own_cpu
from ..scenario import Scenario, one_server
from ..target import Target
from ..traffic import Checker, Sender
from ..wires import WIRES


def arguments(p: argparse.ArgumentParser, senders: int = 1) -> None:
    """The room layout and the senders (cluster takes them too, with more senders)."""
    p.add_argument("--rooms", type=int, default=1)
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=senders)
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    p.add_argument("--duration", type=float, default=10.0)


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """One fan-out run against ``target`` (whose ``ports`` the members are spread over)."""
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


SCENARIO = Scenario("fanout", "deliveries per server CPU-second", arguments,
                    one_server(measure, peers=True))
