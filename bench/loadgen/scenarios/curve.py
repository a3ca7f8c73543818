"""``curve``: the cost curve, deliveries per server CPU-second for one room of ``--sizes``
members and for ``--room-counts`` rooms of ``--room-members``; ``--peers`` adds the installed
C servers' IRC curves, ``--plot FILE.png`` draws it. Flat is the goal."""

from __future__ import annotations

import argparse
import json
import sys

from ..peers import installed_peers
from ..runs import forwarded, measured
from ..scenario import Scenario


def arguments(p: argparse.ArgumentParser) -> None:
    """The protocols, the two series' points, and the plot."""
    p.add_argument("--protocols", default="line,irc", help="comma-separated")
    p.add_argument("--sizes", default="10,100,1000,5000", help="members of the one room")
    p.add_argument("--room-counts", dest="room_counts", default="1,10,100",
                   help="rooms, one sender each")
    p.add_argument("--room-members", dest="room_members", type=int, default=10,
                   help="members of each room in the rooms series")
    p.add_argument("--senders", type=int, default=1, help="senders in the one room")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--peers", action="store_true", help="ngircd's IRC curve too")
    p.add_argument("--plot", help="write a PNG of the curve (needs matplotlib)")


def point(series: str, x: int, server: str, protocol: str, argv: list[str], runs: int) -> dict:
    """One point of the curve, printed as it is made. A peer's failure (ngircd refusing a
    5,000-member room's registrations) is recorded and the curve goes on; chatd's is not
    caught."""
    try:
        m = measured(argv, runs)
    except (TimeoutError, RuntimeError, OSError) as error:
        if server == "chatd":
            raise
        m = {"server": server, "protocol": protocol, "failed": str(error) or type(error).__name__}
    result = {"series": series, "x": x, **m}
    print(json.dumps(result), flush=True)
    return result


def run(args: argparse.Namespace) -> list[dict]:
    """Deliveries per server CPU-second as the work grows: one room of each of ``--sizes``
    members, then each of ``--room-counts`` rooms of ``--room-members``, one closed-loop
    sender per room (``--senders`` in the one room). Flat is the goal."""
    sizes = [int(x) for x in args.sizes.split(",") if x]
    counts = [int(x) for x in args.room_counts.split(",") if x]
    points = []
    for protocol in args.protocols.split(","):
        servers = ["chatd"] + (installed_peers() if protocol == "irc" and args.peers else [])
        for server in servers:
            common = ["--protocol", protocol, "--server", server, "--duration",
                      str(args.duration), *forwarded(args)]
            points += [point(series, x, server, protocol, argv, args.runs)
                       for series, x, argv in (
                           *(("members", size, ["fanout", "--members", str(size), "--senders",
                                                str(min(args.senders, size - 1)), *common])
                             for size in sizes),
                           *(("rooms", count, ["fanout", "--rooms", str(count), "--members",
                                               str(args.room_members), "--senders", str(count),
                                               *common])
                             for count in counts))]
    print("\n| series | x | server | protocol | deliveries per server CPU-s | deliveries/s |")
    print("|---|---|---|---|---|---|")
    for p in points:
        figures = (f"{p['deliveries_per_cpu_s']:,.0f} | {p['deliveries_per_s']:,.0f}"
                   if "failed" not in p else f"(failed: {p['failed']}) |")
        print(f"| {p['series']} | {p['x']:,} | {p['server']} | {p['protocol']} | {figures} |")
    if args.plot:
        plot_curve(points, args.plot)
    return points


def plot_curve(points: list[dict], path: str) -> None:
    """Two panels (members per room; rooms), one line per server and protocol."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    titles = {"members": "one room of N members", "rooms": "N rooms"}
    for ax, series in zip(axes, ("members", "rooms"), strict=True):
        lines: dict[str, list[tuple[int, float]]] = {}
        for p in points:
            if p["series"] == series and p.get("deliveries_per_cpu_s"):
                label = f"{p['server']} {p['protocol']}"
                lines.setdefault(label, []).append((p["x"], p["deliveries_per_cpu_s"] / 1e6))
        for label, xy in sorted(lines.items()):
            xs, ys = zip(*sorted(xy), strict=True)
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel(titles[series])
        ax.set_ylabel("million deliveries per server CPU-second")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("chatd fan-out cost curve (bench/chatbench.py curve)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}", file=sys.stderr)


SCENARIO = Scenario("curve", "fan-out cost as rooms grow", arguments, run, repeated=False)
