"""The dicts of `MultiMaster.stats()` and `MultiMaster.events()` (built in `src/py/display.rs`),
as `TypedDict`s: at run time they are plain dicts."""

from __future__ import annotations

from typing import Optional, TypedDict

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


class Event(TypedDict):
    """One entry of `MultiMaster.events()`."""

    #: When, in seconds since the epoch (`time.time()`).
    time: float
    #: "node_down", "node_up", "failover", "retry", "ambiguous" or "ambiguous_resolved".
    kind: str
    node: str
    detail: str
