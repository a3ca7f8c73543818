"""``--metrics`` for a node of a cluster: what its bus and its link to Redis are doing.

Read at scrape time on the reactor thread, like chatd.metrics's collector. Lag is the time
from an event being made (on whichever node) to its delivery here, as a sum and a count, so
``rate(sum)/rate(count)`` is the mean; it includes clock differences between machines.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from chatd.cluster.node import ClusterNode


class ClusterCollector:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        stats = node.bus.stats
        yield GaugeMetricFamily("chatd_cluster_up", "1 while this node is in step with the "
                                "others through Redis, 0 while Redis is out of reach",
                                value=1 if node.ready else 0)
        yield CounterMetricFamily("chatd_cluster_publishes", "PUBLISH commands sent to Redis",
                                  value=stats.publishes)
        yield CounterMetricFamily("chatd_cluster_receives", "Messages received from Redis",
                                  value=stats.receives)
        malformed = CounterMetricFamily("chatd_cluster_malformed", "Messages from Redis dropped "
                                        "as not what a node sends, by where they came from "
                                        "(presence, room, node, history)", labels=["source"])
        for source, count in sorted(node.bus.drops.counts.items()):
            malformed.add_metric([source], count)
        yield malformed
        yield CounterMetricFamily("chatd_cluster_local_deliveries", "Events delivered here "
                                  "without Redis, while it was out of reach", value=stats.local)
        yield CounterMetricFamily("chatd_cluster_lag_seconds_sum", "Seconds from events being "
                                  "made to their delivery here, summed", value=stats.lag)
        yield CounterMetricFamily("chatd_cluster_lag_seconds_count", "Events whose lag is in "
                                  "the sum", value=stats.lag_count)
        yield CounterMetricFamily("chatd_cluster_reconnects", "Times the link to Redis came "
                                  "back after it was lost", value=node.link.reconnects)
        yield GaugeMetricFamily("chatd_cluster_in_flight", "Events this node published and "
                                "Redis has not handed back yet", value=len(node.bus.in_flight))
        yield GaugeMetricFamily("chatd_cluster_nodes", "Other live nodes this node knows of",
                                value=len(node.presence.known()))
        yield GaugeMetricFamily("chatd_cluster_remote_sessions", "Sessions on the other nodes",
                                value=node.server.remote_sessions)
