"""``compare``: chatd (line and IRC) and the installed C servers (ngircd, InspIRCd) in the
same run: issue 18's fan-out cells and the latency at ``--rate`` into 100 members, medians of
``--runs``, with the ratios; ``--plot FILE.png`` draws the cells."""

from __future__ import annotations

import argparse
import json
import sys

from ..peers import installed_peers
from ..runs import forwarded, measured
from ..scenario import Scenario

# The fan-out cells of issue 18's table: (rooms, members per room, senders in all).
CELLS = ((1, 100, 1), (1, 100, 16), (1, 1000, 10), (10, 100, 10))


def arguments(p: argparse.ArgumentParser) -> None:
    """The fan-out duration, the latency rate and duration, and the plot."""
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=1000.0, help="latency: messages per second")
    p.add_argument("--latency-duration", dest="latency_duration", type=float, default=10.0)
    p.add_argument("--no-peer", dest="no_peer", action="store_true", help="chatd only")
    p.add_argument("--plot", help="write a PNG bar chart (needs matplotlib)")


def run(args: argparse.Namespace) -> list[dict]:
    """chatd (line and IRC) and the installed C servers (ngircd, inspircd) in the same run:
    issue 18's fan-out cells and the latency at ``--rate`` into 100 members, medians of
    ``--runs``, with the ratios to each C server."""
    peers = [] if args.no_peer else installed_peers()
    if not peers:
        print("# no C IRC server installed: chatd only", file=sys.stderr)
    columns = [("chatd", "line"), ("chatd", "irc")] + [(peer, "irc") for peer in peers]
    rows = []
    for rooms, members, senders in CELLS:
        row: dict = {"cell": f"{rooms} x {members}, {senders} sender{'s' * (senders > 1)}"}
        for server, protocol in columns:
            m = measured(["fanout", "--rooms", str(rooms), "--members", str(members),
                          "--senders", str(senders), "--duration", str(args.duration),
                          "--protocol", protocol, "--server", server, *forwarded(args)],
                         args.runs)
            row[f"{server} {protocol}"] = m["deliveries_per_cpu_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    latencies = {}
    for server, protocol in columns:
        m = measured(["latency", "--rate", str(args.rate), "--members", "100", "--duration",
                      str(args.latency_duration), "--protocol", protocol, "--server", server,
                      *forwarded(args)], args.runs)
        latencies[f"{server} {protocol}"] = m
        print(json.dumps({"latency": f"{server} {protocol}", **m}), flush=True)
    names = [f"{server} {protocol}" for server, protocol in columns]
    head = "| cell | " + " | ".join(names)
    for peer in peers:
        head += f" | line / {peer} | IRC / {peer}"
    head += " | IRC / line"
    print("\nDeliveries per server CPU-second, medians of", args.runs)
    print(head + " |")
    print("|---" * (head.count("|")) + "|")
    for row in rows:
        cells = [f"{row[n] / 1e6:.2f} M" if row[n] else "-" for n in names]
        for peer in peers:
            theirs = row[f"{peer} irc"] or float("nan")
            cells += [f"{row['chatd line'] / theirs:.2f}", f"{row['chatd irc'] / theirs:.2f}"]
        cells.append(f"{row['chatd irc'] / row['chatd line']:.2f}")
        print(f"| {row['cell']} | " + " | ".join(cells) + " |")
    print(f"\nLatency at {args.rate:g} msg/s into 100 members, ms (p50 / p90 / p99 / max)")
    for name, m in latencies.items():
        print(f"| {name} | {m['p50_ms']} / {m['p90_ms']} / {m['p99_ms']} / {m['max_ms']} |")
    if args.plot:
        plot_compare(rows, names, args.plot)
    return rows


def plot_compare(rows: list[dict], names: list[str], path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([k + i * width for k in range(len(rows))],
               [(row[name] or 0) / 1e6 for row in rows], width, label=name)
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(rows))],
                  [row["cell"] for row in rows])
    ax.set_ylabel("million deliveries per server CPU-second")
    ax.set_title("fan-out, same run (bench/chatbench.py compare)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}", file=sys.stderr)


SCENARIO = Scenario("compare", "chatd against ngircd, same run", arguments, run, repeated=False)
