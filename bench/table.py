#!/usr/bin/env python3
"""Markdown rows of the medians in run_all.sh output: python bench/table.py results.jsonl"""

from __future__ import annotations

import json
import sys

COLUMNS = {
    "fanout": ("deliveries_per_cpu_s", "deliveries_per_s", "server_cpu_util", "bench_cpu_util",
               "delivery_ratio", "order_violations"),
    "latency": ("p50_ms", "p99_ms", "max_ms", "server_cpu_util", "delivery_ratio",
                "order_violations"),
    "capacity": ("connect_login_s", "rss_kib_per_conn", "server_cpu_ms_per_conn", "alive"),
    "loginstorm": ("before_p99_ms", "during_p99_ms", "p99_ratio", "during_max_ms", "storm_s",
                   "logins_ok", "logins_per_s", "login_max_ms", "delivery_ratio"),
    "auths": ("auths_per_s", "login_p50_ms", "chatd_cpu_s", "members_cpu_s", "ok"),
}


def main() -> None:
    with open(sys.argv[1]) as f:
        medians = [json.loads(line)["median"] for line in f if line.startswith('{"median"')]
    for m in medians:
        kind = m["scenario"].split()[0]
        cells = ", ".join(f"{key}={m[key]}" for key in COLUMNS[kind] if key in m)
        print(f"| {m['scenario']} | {m['protocol']} | {cells} |")


if __name__ == "__main__":
    main()
