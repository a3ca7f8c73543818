"""Counters the daemon keeps about itself, read by the metrics endpoint.

Plain integers bumped on the reactor thread: no locks, no dependency on a metrics library in
the core. ``deliveries`` counts room events times the users they reached (an account's
sessions count once), so the count costs one addition per event, not one per recipient.
"""

from __future__ import annotations

from collections import Counter


class Stats:
    __slots__ = ("deliveries", "login_failures", "messages_in", "operator_actions", "rejected")

    def __init__(self) -> None:
        self.messages_in = 0
        self.deliveries = 0
        self.login_failures = 0
        self.rejected: Counter[str] = Counter()
        # Server operators' actions by kind (oper, kill, kline, ...; "kill-refused" for a
        # non-operator's try): chatd.core.operators counts them.
        self.operator_actions: Counter[str] = Counter()
