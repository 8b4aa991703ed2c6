"""A node's own state takes it out of rotation and brings it back (README "Cluster states and
membership"): desynced, rejecting queries, read-only. Nothing new goes to a draining node, no
statement fails, and it takes work again by itself once fit."""

from __future__ import annotations

import time
from typing import List

import pytest

from support.bounds import SLACK, wait_for
from support.labs import count_titles

# README: states are read every 2 s on the monitor connection; one read, and a statement that
# started just before, on top.
STATE_BOUND = 2.0 + 1.0 + SLACK

STATES = [
    ("wsrep_desync", "ON", "OFF"),
    ("wsrep_reject_queries", "ALL", "NONE"),
    ("read_only", "ON", "OFF"),
]


def write(mm, table: str, title: str) -> str:
    """One keyed row; the node that took it."""
    sql = f"INSERT INTO {table} (title, instructor, duration, created, url) VALUES (?, 'x', 1, '2020-01-01', 'u')"
    return mm.execute(sql, (title,), key=(table, "title", title)).node


def events_of(mm, kind: str, node: str, since: float) -> List[dict]:
    return [e for e in mm.events() if e["kind"] == kind and e["node"] == node and e["time"] >= since]


@pytest.mark.parametrize("variable,on,off", STATES, ids=[s[0] for s in STATES])
def test_a_node_drains_and_returns(make_mm, table, cluster, variable, on, off):
    mm = make_mm(backoff_cap=1.0)
    node1, node2 = cluster.addresses
    written = [write(mm, table, f"before{i}") for i in range(4)]
    assert set(written) == {node1, node2}
    since = time.time()
    cluster.sql(2, f"SET GLOBAL {variable} = {on}")
    try:
        n = 0

        def drained() -> bool:
            nonlocal n
            n += 1
            write(mm, table, f"while{n}")
            return mm.stats()[1]["state"] == "draining"

        wait_for(drained, STATE_BOUND, f"{node2} draining after {variable}={on}")
        stats = mm.stats()[1]
        assert stats["state_reason"] is not None and f"{variable}={on}" in stats["state_reason"]
        (event,) = events_of(mm, "node_draining", node2, since)
        assert f"{variable}={on}" in event["detail"]
        # Nothing new goes there; every statement succeeds on the other node.
        assert {write(mm, table, f"drained{i}") for i in range(6)} == {node1}
    finally:
        cluster.sql(2, f"SET GLOBAL {variable} = {off}")
    wait_for(lambda: mm.stats()[1]["state"] == "up", STATE_BOUND, f"{node2} ready after {variable}={off}")
    assert len(events_of(mm, "node_ready", node2, since)) == 1
    assert node2 in {write(mm, table, f"after{i}") for i in range(4)}
    # No node was taken for dead, and every row is there once. wsrep_reject_queries refuses at
    # once (1047): a statement sent there before the next state read fails over, and that
    # refusal drains the node (its state is read at once) instead of taking it for dead.
    moved = ("node_down",) if variable == "wsrep_reject_queries" else ("node_down", "failover")
    assert not [e for e in mm.events() if e["kind"] in moved and e["time"] >= since]
    # That one refusal (if a statement met it) is the only error: it is node 2's, a 1047.
    stats = mm.stats()
    refused = 1 if variable == "wsrep_reject_queries" else 0
    assert stats[0]["errors"] == 0 and stats[1]["errors"] <= refused, stats
    assert stats[1]["errors"] == 0 or stats[1]["last_error"].startswith("(1047)"), stats
    rows = 4 + n + 6 + 4
    assert count_titles(cluster, table) == (rows, rows)


def test_an_idle_instance_reads_states_too(make_mm, table, cluster):
    """States are read while nothing runs: the first statement after a node was desynced does
    not go there."""
    mm = make_mm()
    node1, node2 = cluster.addresses
    assert {write(mm, table, f"warm{i}") for i in range(2)} == {node1, node2}
    cluster.sql(2, "SET GLOBAL wsrep_desync = ON")
    try:
        wait_for(lambda: mm.stats()[1]["state"] == "draining", STATE_BOUND, "an idle instance to see the drain")
        assert {write(mm, table, f"next{i}") for i in range(2)} == {node1}
    finally:
        cluster.sql(2, "SET GLOBAL wsrep_desync = OFF")
    wait_for(lambda: mm.stats()[1]["state"] == "up", STATE_BOUND, f"{node2} ready")
