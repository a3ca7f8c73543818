#!/usr/bin/env python3
"""Before and after in one run: the same chatbench scenarios against several chatd trees.

Each ``--config LABEL=DIR[:DAEMON-ARG...]`` is a source tree (``git archive COMMIT | tar -x
-C DIR``) and the daemon arguments it runs with. Runs alternate between the configurations
(run 1 of each, then run 2 of each, ...), so a change in the machine's load touches all of
them alike; the table gives each one's median and its ratio to the first configuration.

    python bench/ab.py --config before=/tmp/c191 --config now=/tmp/cnow \\
        --config now-nohist=/tmp/cnow:--history-max-count=0 --runs 3

Scenarios: issue 10's fan-out cells on ``--protocols``, optionally ``--latency`` (1,000
msg/s into 100 members) and ``--capacity N`` (idle guests: RSS and CPU per connection).
JSON lines of every run go to stderr; the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chatbench
from loadgen.runs import run_once
from loadgen.scenarios.compare import CELLS


def config(text: str) -> tuple[str, str, list[str]]:
    label, _, rest = text.partition("=")
    source, *extra = rest.split(":")
    if not label or not Path(source).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: LABEL=DIR[:DAEMON-ARG...]")
    return label, source, extra


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--config", type=config, action="append", required=True)
    top.add_argument("--runs", type=int, default=3)
    top.add_argument("--protocols", default="line,irc")
    top.add_argument("--duration", type=float, default=5.0)
    top.add_argument("--no-fanout", dest="fanout", action="store_false")
    top.add_argument("--latency", action="store_true")
    top.add_argument("--capacity", type=int, default=0, help="idle connections (0: skip)")
    args = top.parse_args()
    jobs: list[tuple[str, list[str], str]] = []  # (row name, chatbench argv, key)
    for protocol in args.protocols.split(","):
        if args.fanout:
            for rooms, members, senders in CELLS:
                jobs.append((f"{protocol} fan-out {rooms} x {members}, {senders} senders",
                             ["fanout", "--rooms", str(rooms), "--members", str(members),
                              "--senders", str(senders), "--duration", str(args.duration),
                              "--protocol", protocol], "deliveries_per_cpu_s"))
        if args.latency:
            jobs.append((f"{protocol} latency p50/p90/p99/max ms",
                         ["latency", "--duration", "10", "--protocol", protocol], "p99_ms"))
        if args.capacity:
            jobs.append((f"{protocol} capacity {args.capacity}: KiB, ms per connection",
                         ["capacity", "--connections", str(args.capacity), "--protocol",
                          protocol], "rss_kib_per_conn"))
    table: list[tuple[str, str, dict[str, list[dict]]]] = []
    for name, argv, key in jobs:
        results: dict[str, list[dict]] = {label: [] for label, _, _ in args.config}
        for _ in range(max(1, min(args.runs, 9))):
            for label, source, extra in args.config:
                sub = chatbench.parser().parse_args(
                    [*argv, "--source", source, *(f"--daemon-arg={a}" for a in extra)])
                result = run_once(sub)
                print(json.dumps({"config": label, **result}), file=sys.stderr, flush=True)
                results[label].append(result)
        table.append((name, key, results))
        print(json.dumps({"row": name, **{label: statistics.median(r[key] for r in rs)
                                          for label, rs in results.items()}}), flush=True)
    labels = [label for label, _, _ in args.config]
    first = labels[0]
    print(f"\n| scenario | {' | '.join(labels)} | "
          + " | ".join(f"{label}/{first}" for label in labels[1:]) + " |")
    print("|---" * (1 + 2 * len(labels) - 1) + "|")
    for name, key, results in table:
        def med(label: str, field: str, results: dict[str, list[dict]] = results) -> float:
            return statistics.median(r[field] for r in results[label])

        if key == "p99_ms":
            cells = [" / ".join(f"{med(label, f):.1f}" for f in
                                ("p50_ms", "p90_ms", "p99_ms", "max_ms")) for label in labels]
        elif key == "rss_kib_per_conn":
            cells = [f"{med(label, key):.2f} KiB, {med(label, 'server_cpu_ms_per_conn'):.3f} ms"
                     for label in labels]
        else:
            cells = [f"{med(label, key):,.0f}" for label in labels]
        ratios = [f"{med(label, key) / med(first, key):.2f}" for label in labels[1:]]
        print(f"| {name} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
