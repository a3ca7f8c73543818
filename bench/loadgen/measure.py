"""The figures: a process's CPU and RSS read from ``/proc`` (so the server's own cost is
measured, not the benchmark's), the benchmark's own CPU, percentiles and medians of runs."""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import Sequence

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_times(pid: int) -> tuple[float, float]:
    """utime and stime of ``pid`` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    return sum(proc_times(pid))


def proc_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def own_cpu() -> float:
    """This process's CPU seconds: the clients' cost, to show they are not the bottleneck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms_summary(samples: list[int], prefix: str) -> dict:
    """p50/p90/p99/max in milliseconds of latencies in nanoseconds, keys prefixed."""
    values = [s / 1e6 for s in samples]
    return {
        f"{prefix}p50_ms": round(percentile(values, 50), 3),
        f"{prefix}p90_ms": round(percentile(values, 90), 3),
        f"{prefix}p99_ms": round(percentile(values, 99), 3),
        f"{prefix}max_ms": round(max(values), 3) if values else None,
        f"{prefix}samples": len(values),
    }


def median_of(results: list[dict]) -> dict:
    """One result of several runs: the median of each number, the first run's other fields."""
    out: dict = {}
    for key, value in results[0].items():
        values = [r[key] for r in results]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and all(
                isinstance(v, (int, float)) for v in values):
            out[key] = statistics.median(values)
        else:
            out[key] = value
    out["runs"] = len(results)
    return out
