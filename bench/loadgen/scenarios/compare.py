"""``compare``: chatd (line, IRC, browsers over WebSocket, UDP members) and the installed C
servers (ngircd, InspIRCd) in the same run: issue 18's fan-out cells and the latency at
``--rate`` into 100 members, medians of ``--runs``, with the ratios; ``--plot FILE.png`` draws
the cells.

The UDP column is ``udpfanout`` (datagrams per server CPU-second: each member a UDP member,
the senders line clients) in the one-room cells; it has no many-room form, so its
``10 x 100`` cell is empty, and no latency row. ``--transports`` picks chatd's columns."""

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
    p.add_argument("--transports", default="line,irc,web,udp",
                   help="chatd's columns, of line,irc,web,udp (the ratios to line need line)")
    p.add_argument("--plot", help="write a PNG bar chart (needs matplotlib)")


def run(args: argparse.Namespace) -> list[dict]:
    """chatd (``--transports``) and the installed C servers (ngircd, inspircd) in the same
    run: issue 18's fan-out cells and the latency at ``--rate`` into 100 members, medians of
    ``--runs``, with the ratios to each C server and to chatd's line protocol."""
    peers = [] if args.no_peer else installed_peers()
    if not peers:
        print("# no C IRC server installed: chatd only", file=sys.stderr)
    transports = [t for t in ("line", "irc", "web", "udp") if t in args.transports.split(",")]
    columns = [("chatd", t) for t in transports] + [(peer, "irc") for peer in peers]
    rows = []
    for rooms, members, senders in CELLS:
        row: dict = {"cell": f"{rooms} x {members}, {senders} sender{'s' * (senders > 1)}"}
        for server, protocol in columns:
            row[f"{server} {protocol}"] = fanout_cell(args, server, protocol, rooms, members,
                                                      senders)
        rows.append(row)
        print(json.dumps(row), flush=True)
    latencies = {}
    for server, protocol in columns:
        if protocol == "udp":
            continue
        m = measured(["latency", "--rate", str(args.rate), "--members", "100", "--duration",
                      str(args.latency_duration), "--protocol", protocol, "--server", server,
                      *forwarded(args)], args.runs)
        latencies[f"{server} {protocol}"] = m
        print(json.dumps({"latency": f"{server} {protocol}", **m}), flush=True)
    names = [f"{server} {protocol}" for server, protocol in columns]
    own = [t for t in transports if t != "line"] if "line" in transports else []
    head = "| cell | " + " | ".join(names)
    for peer in peers:
        head += "".join(f" | {t} / {peer}" for t in transports if t in ("line", "irc"))
    head += "".join(f" | {t} / line" for t in own)
    print("\nDeliveries (UDP: datagrams) per server CPU-second, medians of", args.runs)
    print(head + " |")
    print("|---" * (head.count("|")) + "|")
    for row in rows:
        cells = [f"{row[n] / 1e6:.2f} M" if row[n] else "-" for n in names]
        for peer in peers:
            cells += [ratio(row[f"chatd {t}"], row[f"{peer} irc"])
                      for t in transports if t in ("line", "irc")]
        cells += [ratio(row[f"chatd {t}"], row["chatd line"]) for t in own]
        print(f"| {row['cell']} | " + " | ".join(cells) + " |")
    print(f"\nLatency at {args.rate:g} msg/s into 100 members, ms (p50 / p90 / p99 / max)")
    for name, m in latencies.items():
        print(f"| {name} | {m['p50_ms']} / {m['p90_ms']} / {m['p99_ms']} / {m['max_ms']} |")
    if args.plot:
        plot_compare(rows, names, args.plot)
    return rows


def fanout_cell(args: argparse.Namespace, server: str, protocol: str, rooms: int,
                members: int, senders: int) -> float | None:
    """One cell's median: deliveries per server CPU-second (datagrams, for UDP members);
    None where the scenario has no such cell (UDP in more than one room)."""
    if protocol == "udp":
        if rooms != 1:
            return None
        m = measured(["udpfanout", "--members", str(members), "--senders", str(senders),
                      "--duration", str(args.duration), *forwarded(args)], args.runs)
        return m["datagrams_per_cpu_s"]
    m = measured(["fanout", "--rooms", str(rooms), "--members", str(members),
                  "--senders", str(senders), "--duration", str(args.duration),
                  "--protocol", protocol, "--server", server, *forwarded(args)], args.runs)
    return m["deliveries_per_cpu_s"]


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}" if ours and theirs else "-"


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
