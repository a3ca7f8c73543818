"""The command line every subcommand shares and one run of a single scenario: ``run_once``
(what ``--runs`` and bench/ab.py repeat) and ``measured``, the median of several runs that
curve and compare are made of. Curve and compare are not single runs, so they are not here:
they build on this module, and the entry point adds them to the parser."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .measure import median_of
from .peers import PEERS
from .scenario import Scenario
from .scenarios import auths, capacity, cluster, fanout, files, latency, loginstorm, udpfanout
from .wires import WIRES

CHECKOUT = Path(__file__).resolve().parents[2]

# The scenarios one run of which is one result, by name.
SINGLE: dict[str, Scenario] = {s.SCENARIO.name: s.SCENARIO for s in (
    fanout, cluster, latency, udpfanout, capacity, loginstorm, auths, files)}


def common_options() -> argparse.ArgumentParser:
    """The options of every subcommand (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--protocol", choices=WIRES, default="line")
    common.add_argument("--server", choices=("chatd", *PEERS), default="chatd",
                        help="the daemon to spawn: chatd, or a C IRC server to compare with "
                        "(ngircd, inspircd; IRC only)")
    common.add_argument("--runs", type=int, default=1, help="repeat, print each and the median")
    common.add_argument("--pid", type=int, help="target a running daemon: its PID (for CPU)")
    common.add_argument("--port", type=int, help="target a running daemon: the protocol's port")
    common.add_argument("--source", default=str(CHECKOUT),
                        help="chatd source tree to run (PYTHONPATH) [default: this checkout]")
    common.add_argument("--daemon-arg", action="append", default=[],
                        help="extra argument for the spawned chatd (repeatable)")
    common.add_argument("--profile", help="run the spawned chatd under cProfile, stats to FILE")
    common.add_argument("--py-spy", help="sample the spawned chatd with py-spy, collapsed "
                        "stacks to FILE (see bench/profile_summary.py)")
    common.add_argument("--keep", action="store_true", help="keep the daemon's temp directory")
    common.add_argument("--concurrency", type=int, default=100,
                        help="connections being set up at once")
    common.add_argument("--json", action="store_true", help="print JSON lines only")
    return common


def build_parser(description: str, scenarios: Sequence[Scenario]) -> argparse.ArgumentParser:
    """A parser with one subcommand per scenario, in the given order."""
    top = argparse.ArgumentParser(description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    common = common_options()
    sub = top.add_subparsers(dest="scenario", required=True)
    for scenario in scenarios:
        scenario.arguments(sub.add_parser(scenario.name, parents=[common], help=scenario.help))
    return top


def run_once(args: argparse.Namespace) -> dict:
    """One run of a single scenario (servers started and stopped); its result."""
    return SINGLE[args.scenario].run(args)


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options of a curve or compare run that each of its single runs gets too."""
    out = ["--source", args.source, "--concurrency", str(args.concurrency)]
    for extra in args.daemon_arg:
        out.append(f"--daemon-arg={extra}")
    if args.keep:
        out.append("--keep")
    return out


def measured(argv: list[str], runs: int) -> dict:
    """The median of ``runs`` single runs of ``argv`` (each printed to stderr)."""
    sub = build_parser("", list(SINGLE.values())).parse_args(argv)
    results = []
    for _ in range(runs):
        result = run_once(sub)
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    return median_of(results)
