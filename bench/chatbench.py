#!/usr/bin/env python3
"""chatbench: a load generator for chatd that opens real loopback sockets and prints figures.

Not part of the test run. See ``bench/README.md`` and ``docs/performance.md`` for how to run
it and what the figures mean. Scenarios (one subcommand each, ``--protocol line|irc|web``):

* ``fanout``     R rooms x M members, S closed-loop senders with W messages in flight each:
                 deliveries/s, server CPU-seconds (``/proc/PID/stat``), deliveries per server
                 CPU-second, delivery ratio and per-sender order.
* ``latency``    a paced rate of messages into one room, a send timestamp in each payload:
                 p50, p99, max of send -> receive.
* ``capacity``   N idle logged-in guests: time to connect and log in all, server RSS and
                 CPU per connection.
* ``loginstorm`` a room chats at a paced rate; then N account logins at once: chat p99
                 before vs during, and how long the logins took.
* ``udpfanout``  one room of M members who chat over the UDP channel (each a line guest
                 with a /token, validated by the cookie round trip), S closed-loop line
                 senders: datagrams delivered per second and per server CPU-second, delivery
                 ratio (UDP may drop; loopback rarely does).
* ``auths``      account logins (fresh connection, login, close) through the embedded or the
                 remote member service: authentications per second.
* ``cluster``    ``fanout`` on one node, then on ``--nodes`` (2) nodes sharing a redis-server
                 and one chatd-members, the room's members and senders spread over them:
                 deliveries per CPU-second of the nodes and Redis together, next to one
                 node's, and Redis PUBLISH commands per room message (from INFO).
* ``files``      one file of --size MiB sent with /send and fetched with /get over loopback:
                 MiB/s each way (upload: 350 to 250, so the fsync counts), next to
                 ``cat FILE | nc`` into ``nc -l`` as the physical reference.

Receivers are cheap on purpose: most connections only count newlines in whatever the kernel
hands them; a few "checker" connections per room parse every line to verify order and to
release the senders' windows. Every wait is bounded in time; every loop in count.

This file is the entry point only: it builds the command line from the scenario modules in
``bench/loadgen/scenarios/`` (one per subcommand) and runs the one named; bench/ab.py
builds its runs with ``parser`` too.
"""

from __future__ import annotations

import argparse
import json

from loadgen.loopback import raise_fd_limit
from loadgen.measure import median_of
from loadgen.runs import build_parser
from loadgen.scenarios import (
    auths,
    capacity,
    cluster,
    compare,
    curve,
    fanout,
    files,
    latency,
    loginstorm,
    udpfanout,
)

# The subcommands, in the order --help lists them.
SCENARIOS = [s.SCENARIO for s in (fanout, cluster, latency, udpfanout, capacity, loginstorm,
                                  auths, curve, compare, files)]


def parser() -> argparse.ArgumentParser:
    """The command line: the common options and one subcommand per scenario."""
    return build_parser(__doc__.split("\n\n")[0], SCENARIOS)


def main(argv: list[str] | None = None) -> None:
    """Run the scenario named on the command line: ``--runs`` times, each result and their
    median printed as JSON lines (curve and compare repeat themselves and print tables)."""
    args = parser().parse_args(argv)
    raise_fd_limit()
    scenario = next(s for s in SCENARIOS if s.name == args.scenario)
    if not scenario.repeated:
        scenario.run(args)
        return
    results = []
    for _ in range(args.runs):
        result = scenario.run(args)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.runs > 1:
        print(json.dumps({"median": median_of(results)}), flush=True)


if __name__ == "__main__":
    main()
