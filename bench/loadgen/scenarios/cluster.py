"""``cluster``: ``fanout`` on one node, then on ``--nodes`` nodes sharing a redis-server and
one chatd-members, the room's members and senders spread over them: deliveries per CPU-second
of the nodes and Redis together, next to one node's, and Redis PUBLISH commands per room
message (must be 1). It starts all its servers itself, so it takes no ``--pid``/``--port``."""

from __future__ import annotations

import argparse
import asyncio
import time

from ..daemon import Daemon
from ..measure import proc_cpu
from ..redis_server import Redis
from ..scenario import Scenario, install_uvloop
from ..target import Target
from . import fanout


def arguments(p: argparse.ArgumentParser) -> None:
    """The nodes, then fanout's options (16 senders by default)."""
    p.add_argument("--nodes", type=int, default=2)
    fanout.arguments(p, senders=16)


class ClusterTarget(Target):
    """Several nodes: members connect to each in turn; CPU is the nodes' and Redis's."""

    def __init__(self, args: argparse.Namespace, nodes: list[Daemon], redis: Redis):
        super().__init__(args, nodes[0])
        self.nodes = nodes
        self.redis = redis

    def ports(self, protocol: str) -> list[int]:
        return [node.port(protocol) for node in self.nodes]

    def cpu(self) -> float:
        return sum(proc_cpu(node.pid) for node in self.nodes) + proc_cpu(self.redis.proc.pid)

    def counters(self) -> dict[str, float]:
        return {"redis_publishes": self.redis.publishes(),
                "redis_cpu_s": proc_cpu(self.redis.proc.pid)}


def run(args: argparse.Namespace) -> dict:
    """The same fanout on one node, then on ``--nodes`` nodes sharing Redis and one member
    service, the room's members (senders included) spread over them in turn."""
    if args.pid is not None or args.port is not None:
        raise SystemExit("the cluster scenario starts its own nodes")
    install_uvloop()
    extra = list(args.daemon_arg)
    single = Daemon(args, extra)
    single.start()
    try:
        alone = asyncio.run(asyncio.wait_for(fanout.measure(args, Target(args, single)), 300))
    finally:
        single.stop()
    redis = Redis()
    nodes: list[Daemon] = []
    try:
        members = ""
        for index in range(args.nodes):
            node = Daemon(args, [*extra, "--cluster", redis.url, "--node-name", f"bench-{index}"])
            nodes.append(node)
            if not members:
                members = node.start_members(node.dir / "members")
            node.start(members)
            log = node.dir / "chatd.log"
            deadline = time.monotonic() + 20
            while "in step with the others" not in log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"node {index} did not reach Redis; see {log}")
                time.sleep(0.1)
        together = asyncio.run(asyncio.wait_for(
            fanout.measure(args, ClusterTarget(args, nodes, redis)), 300))
    finally:
        for node in reversed(nodes):  # the first stops the member service too
            node.stop()
        redis.stop()
    messages = together["messages"]
    return {
        "scenario": f"cluster {args.nodes} nodes, 1x{args.members} {args.senders} senders",
        "protocol": together["protocol"],
        "one_node_deliveries_per_cpu_s": alone["deliveries_per_cpu_s"],
        "one_node_deliveries_per_s": alone["deliveries_per_s"],
        "cluster_deliveries_per_cpu_s": together["deliveries_per_cpu_s"],
        "cluster_deliveries_per_s": together["deliveries_per_s"],
        "cluster_server_cpu_s": together["server_cpu_s"],
        "cluster_redis_cpu_s": together["redis_cpu_s"],
        "cluster_messages": messages,
        "redis_publishes_per_message": round(together["redis_publishes"] / messages, 4)
        if messages else None,
        "cluster_delivery_ratio": together["delivery_ratio"],
        "cluster_order_violations": together["order_violations"],
        "one_node_delivery_ratio": alone["delivery_ratio"],
    }


SCENARIO = Scenario("cluster", "fanout on one node, then on several sharing Redis", arguments,
                    run)
