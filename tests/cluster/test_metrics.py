"""Metrics where operators collect them: OpenTelemetry (`multimaster.instrument`) read back
through the SDK's in-memory reader after a node crash, and the Prometheus collector's text
output parsed by prometheus_client's own parser."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import multimaster
from multimaster.conventions import DURATION, DURATION_BOUNDS
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows

from support.labs import count_titles

BAD = "INSERT INTO no_such_table_for_metrics VALUES (1)"  # 1146: the server names the error


def points(reader: Any) -> Dict[str, List[Any]]:
    """Metric name -> its data points, from an InMemoryMetricReader."""
    out: Dict[str, List[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(m.data.data_points)
    return out


def test_otel_metrics_after_a_node_crash(make_mm, table, cluster):
    """Rows through both nodes, a statement the server refuses, node 1 crashed, rows again:
    the duration histogram has points per node with the conventions' attributes and bounds,
    the refused statement carries its error attributes, and node 1's failover and down are
    counted. After uninstrument() nothing more is recorded."""
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    reader = export.InMemoryMetricReader()
    mm = make_mm(backoff_cap=1.0)
    instrumentation = multimaster.instrument(mm, meter_provider=sdk_metrics.MeterProvider(metric_readers=[reader]))
    mm.insert_many(table, COLUMNS, course_rows(4), key="title")
    with pytest.raises(multimaster.ProgrammingError):
        mm.execute(BAD)
    cluster.crash(1)
    mm.insert_many(table, COLUMNS, course_rows(6, start=4), key="title")
    assert count_titles(cluster, table) == (10, 10)

    got = points(reader)
    hosts = [multimaster.parse_address(a) for a in cluster.addresses]
    durations = got[DURATION]

    def at(p: Any) -> Any:
        return (p.attributes["server.address"], p.attributes["server.port"])

    per_node = {h: sum(p.count for p in durations if at(p) == h) for h in hosts}
    assert all(n > 0 for n in per_node.values()), per_node
    assert sum(per_node.values()) == sum(s["statements"] for s in mm.stats())
    for p in durations:
        assert tuple(p.explicit_bounds) == DURATION_BOUNDS
        assert p.attributes["db.system.name"] == "mariadb"
        assert p.attributes["db.namespace"] == DATABASE
    inserts = [p for p in durations if p.attributes.get("db.operation.name") == "INSERT"]
    refused = [p for p in inserts if p.attributes.get("error.type") == "1146"]
    assert len(refused) == 1 and refused[0].count == 1
    assert refused[0].attributes["db.response.status_code"] == "1146"
    assert sum(p.count for p in inserts if "error.type" not in p.attributes) >= 10

    def counted(name: str, node: int) -> int:
        host = hosts[node - 1]
        return sum(int(p.value) for p in got[name] if at(p) == host)

    assert counted("multimaster.failovers", 1) >= 1
    assert counted("multimaster.node.down", 1) >= 1
    assert counted("multimaster.node.down", 2) == 0

    instrumentation.uninstrument()
    before = sum(p.count for p in points(reader).get(DURATION, []))
    mm.query("SELECT 1")
    assert sum(p.count for p in points(reader).get(DURATION, [])) == before


def test_prometheus_text_parsed_back(make_mm, table, cluster):
    """The collector's scrape, parsed by prometheus_client: per node a duration histogram whose
    count is the node's statements, its error counted, the counters at stats()' values."""
    client = pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from multimaster.prometheus import Collector

    mm = make_mm()
    mm.insert_many(table, COLUMNS, course_rows(6), key="title")
    with pytest.raises(multimaster.ProgrammingError):
        mm.execute(BAD)
    registry = client.CollectorRegistry()
    registry.register(Collector(mm))
    families = {f.name: f for f in text_string_to_metric_families(client.generate_latest(registry).decode())}
    stats = {multimaster.parse_address(s["address"]): s for s in mm.stats()}

    def node(sample: Any) -> Any:
        return (sample.labels["server_address"], int(sample.labels["server_port"]))

    histogram = families["db_client_operation_duration_seconds"]
    assert histogram.type == "histogram"
    counts = {node(s): s.value for s in histogram.samples if s.name.endswith("_count")}
    assert counts == {h: s["statements"] for h, s in stats.items()} and all(counts.values())
    infs = {node(s): s.value for s in histogram.samples if s.name.endswith("_bucket") and s.labels["le"] == "+Inf"}
    assert infs == counts
    les = sorted({float(s.labels["le"]) for s in histogram.samples if s.name.endswith("_bucket")})
    assert les[:-1] == list(DURATION_BOUNDS)
    assert {s.labels["db_system_name"] for s in histogram.samples} == {"mariadb"}
    errors = {node(s): s.value for s in families["multimaster_errors"].samples}
    assert sorted(errors.values()) == [0, 1]
    failovers = {node(s): s.value for s in families["multimaster_failovers"].samples}
    assert failovers == {h: s["failovers"] for h, s in stats.items()}
    assert {s.value for s in families["multimaster_node_up"].samples} == {1.0}
    mm.close()
    assert not [s for f in text_string_to_metric_families(client.generate_latest(registry).decode()) for s in f.samples]
