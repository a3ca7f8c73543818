"""``capacity``: N idle logged-in guests: time to connect and log in all, server RSS and CPU
per connection (what an idle connection costs the server)."""

from __future__ import annotations

import argparse
import asyncio
import time

from ..conn import bounded_gather, guest_in_room
from ..scenario import Scenario, one_server
from ..target import Target
from ..wires import WIRES


def arguments(p: argparse.ArgumentParser) -> None:
    """How many guests."""
    p.add_argument("--connections", type=int, default=9000)


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """Log ``--connections`` guests in, then read the RSS a second later."""
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


SCENARIO = Scenario("capacity", "idle logged-in connections", arguments,
                    one_server(measure, peers=True))
