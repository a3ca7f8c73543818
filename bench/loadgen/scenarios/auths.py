"""``auths``: account logins (fresh connection, login, close) through the embedded or the
remote member service, ``--concurrency`` at a time: authentications per second."""

from __future__ import annotations

import argparse

from .. import accounts
from ..measure import percentile
from ..scenario import Scenario, one_server
from ..target import Target
from ..wires import WIRES


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """``--logins`` logins; the CPU of chatd and of the member service while they run."""
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    cpu0, mcpu0 = target.cpu(), target.members_cpu()
    result = await accounts.login_all(wire, port, range(args.logins), args.concurrency)
    wall = result["wall"]
    ok = len(result["times"])
    return {
        "scenario": f"auths {args.logins} logins, {args.concurrency} at a time, "
                    f"{args.members_service} member service",
        "protocol": args.protocol,
        "auths_per_s": round(ok / wall, 2),
        "login_p50_ms": round(percentile(result["times"], 50) * 1000, 1),
        "login_max_ms": round(max(result["times"]) * 1000, 1) if ok else None,
        "chatd_cpu_s": round(target.cpu() - cpu0, 3),
        "members_cpu_s": round(target.members_cpu() - mcpu0, 3),
        "ok": ok,
        "refused": result["refused"],
    }


SCENARIO = Scenario("auths", "account logins per second", accounts.arguments,
                    one_server(measure, spawn=accounts.spawn_with_accounts))
