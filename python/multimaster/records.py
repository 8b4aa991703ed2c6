"""The dicts of `MultiMaster.stats()` and `MultiMaster.events()` (built in `src/py/display.rs`),
as `TypedDict`s: at run time they are plain dicts."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, TypedDict

__all__ = ["Event", "NodeStats"]


class NodeStats(TypedDict):
    """One node in `MultiMaster.stats()`."""

    address: str
    #: "up", or "down" while the node is taken for dead (probed in the background).
    state: str
    statements: int
    errors: int
    failovers: int
    reconnects: int
    last_error: Optional[str]
    #: The engine detected at connect ("galera", "aurora-mm", "group-replication", "mysql"),
    #: None before the first connection.
    flavour: Optional[str]
    #: Statement time on this node since the start, in seconds (None before the first): the
    #: median, the 99th percentile (each within 12.5 %, never above max) and the longest.
    p50: Optional[float]
    p99: Optional[float]
    max: Optional[float]
    #: The same times by the OpenTelemetry database bounds (0.001 … 10 s): cumulative
    #: `(le, count)` pairs ending with `(inf, total)`, and their sum in seconds.
    duration_buckets: List[Tuple[float, int]]
    duration_sum: float
    #: Events of each kind on this node since the start (`Event.kind` → count): the events
    #: ring forgets, these do not.
    events: Dict[str, int]


class Event(TypedDict):
    """One entry of `MultiMaster.events()`."""

    #: When, in seconds since the epoch (`time.time()`).
    time: float
    #: "node_down", "node_up", "failover", "retry", "ambiguous" or "ambiguous_resolved".
    kind: str
    node: str
    detail: str
