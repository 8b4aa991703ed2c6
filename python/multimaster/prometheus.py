"""`multimaster.prometheus.Collector(mm)`: the metrics of `multimaster.otel`, for Prometheus,
read from `stats()` at scrape time: nothing is recorded per statement. Needs the `prometheus`
extra. Names follow Prometheus' translation of the OpenTelemetry ones (dots to underscores,
the unit and `_total` appended):

    from prometheus_client import REGISTRY, start_http_server
    REGISTRY.register(multimaster.prometheus.Collector(mm))

The duration histogram is the core's count by the conventions' bounds
(`src/core/node/latency.rs`), so it is exact, like a client-side histogram."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, Iterator, List

from multimaster import conventions as cv

if TYPE_CHECKING:
    from multimaster.client import MultiMaster

__all__ = ["Collector"]


def _client() -> Any:
    try:
        import prometheus_client.core as core
    except ImportError:
        raise ImportError(
            "multimaster.prometheus needs prometheus_client: pip install multimaster[prometheus]"
        ) from None
    return core


def _name(otel: str) -> str:
    return otel.replace(".", "_")


class Collector:
    """A Prometheus collector over one MultiMaster (register it with a registry)."""

    def __init__(self, mm: MultiMaster) -> None:
        self._core = _client()
        self._native = mm._native

    def collect(self) -> Iterator[Any]:
        core = self._core
        stats = [] if self._native.closed else self._native.stats()
        names = ["db_system_name", "db_namespace", "server_address", "server_port"]
        namespace = self._native.database or ""

        def labels(s: Any) -> List[str]:
            host, port = cv.server(s["address"])
            return [cv.system_name(s.get("flavour")), namespace, host, str(port)]

        duration = core.HistogramMetricFamily(_name(cv.DURATION) + "_seconds", cv.DURATION_HELP, labels=names)
        for s in stats:
            buckets = [("+Inf" if math.isinf(le) else repr(le), n) for le, n in s["duration_buckets"]]
            duration.add_metric(labels(s), buckets, s["duration_sum"])
        yield duration
        up = core.GaugeMetricFamily("multimaster_node_up", "1 while the node takes statements.", labels=names)
        for s in stats:
            up.add_metric(labels(s), 1.0 if s["state"] == "up" else 0.0)
        yield up
        plain: Dict[str, Any] = {
            "multimaster.statements": ("Statements sent to the node.", "statements"),
            "multimaster.errors": ("Statements that failed on the node.", "errors"),
        }
        for name, (description, source) in plain.items():
            yield self._counter(core, name, description, source, names, stats, labels)
        for name, description, source in cv.COUNTERS:
            yield self._counter(core, name, description, source, names, stats, labels)

    @staticmethod
    def _counter(core: Any, name: str, description: str, source: str, names: Any, stats: Any, labels: Any) -> Any:
        family = core.CounterMetricFamily(_name(name), description, labels=names)
        for s in stats:
            family.add_metric(labels(s), cv.counter_value(s, source))
        return family
