"""``latency``: a paced rate of messages into one room, a send timestamp in each payload:
p50, p90, p99, max of send -> receive at a few sampling members."""

from __future__ import annotations

import argparse
import time

from ..measure import ms_summary
from ..scenario import Scenario, one_server
from ..target import Target
from ..traffic import paced_room


def arguments(p: argparse.ArgumentParser) -> None:
    """The room, its senders and samplers, and the rate."""
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--samplers", type=int, default=10, help="members that time each message")
    p.add_argument("--rate", type=float, default=1000.0, help="messages per second, all senders")
    p.add_argument("--duration", type=float, default=10.0)


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """One second of warm-up, then ``--duration`` seconds timed at ``--rate``."""
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


SCENARIO = Scenario("latency", "p50/p99/max at a paced rate", arguments,
                    one_server(measure, peers=True))
