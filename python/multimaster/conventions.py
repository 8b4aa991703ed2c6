"""The OpenTelemetry database conventions as multimaster fills them in, shared by
`multimaster.otel` and `multimaster.prometheus` (each fact once): attribute names and values,
and the counters both read from `stats()`.

The spec: open-telemetry/semantic-conventions, docs/database/database-metrics.md
(`db.client.operation.duration`: seconds, the bucket bounds below). `error.type` is the
server's error code when it answered with one (as `db.response.status_code`), else what failed
on the client side: `connection` (lost or refused), `timeout`, `driver` or `client`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from multimaster._native import parse_address

if TYPE_CHECKING:
    from multimaster.records import NodeStats

#: `db.client.operation.duration`'s bucket bounds, in seconds, as the conventions advise (the
#: core counts the same ones: `src/core/node/latency.rs`, SPEC_BOUNDS).
DURATION_BOUNDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
DURATION = "db.client.operation.duration"
DURATION_HELP = "Duration of database client operations."

#: multimaster's own counters: (name, description, how to read it from one node's stats).
COUNTERS: List[Tuple[str, str, str]] = [
    ("multimaster.failovers", "Statements that left a node because it failed.", "failovers"),
    ("multimaster.node.down", "Times a node was taken for dead.", "events.node_down"),
    ("multimaster.ambiguous.resolved", "Lost replies settled by key or commit marker.", "events.ambiguous_resolved"),
    ("multimaster.statements.retried", "Statements retried after a failure on a node.", "events.retry"),
]


def counter_value(stats: NodeStats, source: str) -> int:
    if source.startswith("events."):
        return int(stats.get("events", {}).get(source[len("events.") :], 0))
    value: object = stats.get(source, 0)
    return int(value) if isinstance(value, (int, float)) else 0


def system_name(flavour: Optional[str]) -> str:
    """`db.system.name`: Galera here is MariaDB's (the lab's, and the flavour MariaDB ships);
    the other flavours are MySQL's."""
    return "mariadb" if flavour in (None, "galera") else "mysql"


def server(node: str) -> Tuple[str, int]:
    """`server.address` and `server.port` of a node named `host:port`."""
    return parse_address(node)


def node_attributes(node: str, flavour: Optional[str], namespace: Optional[str]) -> Dict[str, object]:
    """The attributes every metric of node `node` carries."""
    host, port = server(node)
    attrs: Dict[str, object] = {"db.system.name": system_name(flavour), "server.address": host, "server.port": port}
    if namespace:
        attrs["db.namespace"] = namespace
    return attrs


def error_attributes(code: Optional[int], error_class: Optional[str]) -> Dict[str, object]:
    """`error.type` (and `db.response.status_code` when the server answered) of a failed
    statement; nothing for one that succeeded."""
    if code is not None:
        return {"error.type": str(code), "db.response.status_code": str(code)}
    if error_class is not None:
        return {"error.type": error_class}
    return {}
