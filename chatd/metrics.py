"""``--metrics ENDPOINT``: Prometheus text about the running daemon.

A custom collector reads the live state (sessions per protocol, rooms, queued output) and
the core's counters (chatd.core.stats) at scrape time, on the reactor thread: the web
resource renders synchronously, so no thread ever reads the core while the reactor changes
it (prometheus_client's own Twisted resource renders in a thread pool).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from chatd.core.service import ChatServer


class ChatCollector:
    def __init__(self, server: ChatServer, frontends: dict[str, Any]) -> None:
        self.server = server
        self.frontends = frontends  # protocol name -> factory with .connections

    def collect(self) -> Iterator[Metric]:
        server = self.server
        stats = server.stats
        connections = GaugeMetricFamily(
            "chatd_connections", "Open connections, by protocol", labels=["protocol"])
        queued = GaugeMetricFamily(
            "chatd_output_queued_bytes", "Output waiting for clients that read slowly",
            labels=["protocol"])
        for name, factory in self.frontends.items():
            live = list(factory.connections)
            connections.add_metric([name], len(live))
            queued.add_metric([name], sum(c.outbox.queued for c in live))
        yield connections
        yield queued
        users = GaugeMetricFamily("chatd_sessions", "Logged-in sessions, by protocol",
                                  labels=["protocol"])
        for name, factory in self.frontends.items():
            users.add_metric([name], sum(1 for c in factory.connections if c.session))
        yield users
        yield GaugeMetricFamily("chatd_users", "Distinct users online",
                                value=len(server.users))
        yield GaugeMetricFamily("chatd_rooms", "Rooms that exist", value=len(server.rooms))
        yield CounterMetricFamily("chatd_messages_in", "Messages received (rooms and private)",
                                  value=stats.messages_in)
        yield CounterMetricFamily("chatd_deliveries", "Messages delivered to users",
                                  value=stats.deliveries)
        yield CounterMetricFamily("chatd_login_failures", "Logins refused for a wrong password",
                                  value=stats.login_failures)
        rejected = CounterMetricFamily("chatd_rejected_inputs", "Commands and lines refused",
                                       labels=["reason"])
        for reason, count in sorted(stats.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        acted = CounterMetricFamily("chatd_operator_actions",
                                    "Server operators' actions (oper, kill, kline, ...; "
                                    "ACTION-refused: a non-operator's try)", labels=["action"])
        for action, count in sorted(stats.operator_actions.items()):
            acted.add_metric([action], count)
        yield acted


class MetricsPage(Resource):
    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self.registry)


def metrics_site(server: ChatServer, frontends: dict[str, Any],
                 more: Iterable[Any] = ()) -> Site:
    """The /metrics page: the chat collector and ``more`` (the cluster's, with --cluster)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ChatCollector(server, frontends))
    for collector in more:
        registry.register(collector)
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry))
    return Site(root)


