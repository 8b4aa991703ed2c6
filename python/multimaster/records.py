"""The dicts of `MultiMaster.stats()` and `MultiMaster.events()` (built in `src/py/display.rs`),
as `TypedDict`s: at run time they are plain dicts."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, TypedDict

__all__ = ["Event", "Node", "NodeStats"]


class NodeStats(TypedDict):
    """One node in `MultiMaster.stats()`."""

    address: str
    #: "up"; "draining" while its own state says it takes no new statements (desynced,
    #: rejecting queries, read-only, far behind, not in the primary component); "down" while
    #: it is taken for dead (probed in the background); "removed" once `remove_node` took it
    #: out of rotation for good.
    state: str
    #: How it became known: "given" (the constructor's addresses), "added" (`add_node`) or
    #: "discovered".
    known_by: str
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
    #: Why it is draining ("wsrep_desync=ON"), or why its state cannot be read; else None.
    state_reason: Optional[str]


class Node(str):
    """One node of `MultiMaster.nodes`: its address as `host:port` (it compares and hashes as
    that string), with how it became known and its state when the list was read."""

    #: "given" (the constructor's addresses), "added" (`add_node`) or "discovered".
    known_by: str
    #: "up", "down" or "draining", as in `NodeStats.state`.
    state: str

    def __new__(cls, address: str, known_by: str, state: str) -> Node:
        node = super().__new__(cls, address)
        node.known_by, node.state = known_by, state
        return node

    def __repr__(self) -> str:
        return f"Node({str.__repr__(self)}, known_by={self.known_by!r}, state={self.state!r})"


class Event(TypedDict):
    """One entry of `MultiMaster.events()`."""

    #: When, in seconds since the epoch (`time.time()`).
    time: float
    #: "node_down", "node_up", "failover", "retry", "ambiguous", "ambiguous_resolved",
    #: "node_draining", "node_ready", "node_added" or "node_removed".
    kind: str
    node: str
    detail: str
