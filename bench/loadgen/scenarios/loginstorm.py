"""``loginstorm``: a room chats at a paced rate; then N account logins at once: chat p99
before vs during, and how long the logins took (hashing must not stall the chat)."""

from __future__ import annotations

import argparse
import asyncio
import time

from .. import accounts
from ..conn import Conn, bounded_gather, connect
from ..measure import ms_summary, percentile
from ..scenario import Scenario, one_server
from ..target import Target
from ..traffic import paced_room
from ..wires import WIRES


def arguments(p: argparse.ArgumentParser) -> None:
    """The accounts, then the chatting room and the storm's bounds."""
    accounts.arguments(p)
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--samplers", type=int, default=10)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--before", type=float, default=5.0, help="seconds measured before")
    p.add_argument("--storm-limit", type=float, default=60.0,
                   help="longest the storm is watched, seconds")


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """Chat p99 for ``--before`` seconds, then during the storm of ``--logins`` logins."""
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    room = await paced_room(args, target, "chat")
    await room.run(args.rate, 1.0)
    await room.drain()
    room.take_samples()
    await room.run(args.rate, args.before)
    before = room.take_samples()
    # Connect the storm first (greetings read), then send every login in one turn.
    storm = await bounded_gather(args.logins, lambda i: connect(wire, port), args.concurrency)
    times: list[float] = []
    refused: dict[str, int] = {}
    done = asyncio.get_running_loop().create_future()
    remaining = [len(storm)]

    async def one(i: int, conn: Conn, start: float) -> None:
        try:
            await conn.expect(wire.login(*accounts.account(i))[1], timeout=args.storm_limit)
            times.append(time.monotonic() - start)
        except (RuntimeError, TimeoutError) as error:
            key = accounts.refusal(error)
            refused[key] = refused.get(key, 0) + 1
        remaining[0] -= 1
        if not remaining[0] and not done.done():
            done.set_result(None)

    cpu0, mcpu0, t0 = target.cpu(), target.members_cpu(), time.monotonic()
    for i, conn in enumerate(storm):
        conn.write(wire.login(*accounts.account(i))[0])
    waits = [asyncio.ensure_future(one(i, c, t0)) for i, c in enumerate(storm)]
    await room.run(args.rate, args.storm_limit, until=done)
    storm_wall = time.monotonic() - t0
    cpu, mcpu = target.cpu() - cpu0, target.members_cpu() - mcpu0
    during = room.take_samples()
    ratio = await room.drain()
    for w in waits:
        w.cancel()
    for conn in storm + room.conns:
        conn.close()
    b99 = percentile(before, 99)
    d99 = percentile(during, 99)
    return {
        "scenario": f"loginstorm {args.logins} logins while 1x{args.members} chats at "
                    f"{args.rate:g} msg/s, {args.members_service} member service",
        "protocol": args.protocol,
        **ms_summary(before, "before_"),
        **ms_summary(during, "during_"),
        "p99_ratio": round(d99 / b99, 2) if b99 else None,
        "storm_s": round(storm_wall, 2),
        "logins_ok": len(times),
        "logins_per_s": round(len(times) / storm_wall, 2),
        "login_p50_ms": round(percentile(times, 50) * 1000, 1),
        "login_max_ms": round(max(times) * 1000, 1) if times else None,
        "refused": refused,
        "chatd_cpu_s": round(cpu, 3),
        "members_cpu_s": round(mcpu, 3),
        "delivery_ratio": round(ratio, 6),
        "order_violations": sum(k.disorder for k in room.checkers),
    }


SCENARIO = Scenario("loginstorm", "chat latency during a burst of logins", arguments,
                    one_server(measure, spawn=accounts.spawn_with_accounts))
