"""Hung nodes: frozen with SIGSTOP, or blackholed by the proxy. The statement in flight costs
at most the read timeout; the node is then skipped, and rejoins once it answers again."""

from __future__ import annotations

import threading
import time

from conftest import COLUMNS, count_titles, course_rows, wait_for
from faultproxy import FaultProxy


def run_loop(mm, table, rows, interval):
    """insert_many on a thread; returns (thread, result dict with 'times' per row)."""
    result: dict = {"times": []}

    def loop() -> None:
        try:
            result["report"] = mm.insert_many(
                table, COLUMNS, rows, key="title", interval=interval,
                on_row=lambda i, node, rerouted: result["times"].append(time.monotonic()))
        except Exception as e:  # asserted by the caller
            result["error"] = e

    t = threading.Thread(target=loop)
    t.start()
    return t, result


def max_gap(times) -> float:
    return max(b - a for a, b in zip(times, times[1:]))


def test_blackholed_node_costs_one_read_timeout(make_mm, table, cluster):
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as proxy:
        mm = make_mm(["%s:%d" % proxy.address, cluster.addresses[1]], read_timeout=2.0, connect_timeout=0.5)
        t, result = run_loop(mm, table, course_rows(40), 0.05)
        wait_for(lambda: len(result["times"]) >= 5, 30, "5 rows")
        proxy.blackhole()
        wait_for(lambda: len(result["times"]) >= 25, 60, "rows past the blackhole")
        proxy.pass_through()
        t.join(timeout=120)
        assert not t.is_alive() and "error" not in result, result
    assert count_titles(cluster, table) == (40, 40)
    # One read timeout (2 s), a failed fence connect (0.75 s) and the check: well under 6 s.
    assert max_gap(result["times"]) < 6
    assert result["report"].failovers >= 1


def test_frozen_node_is_skipped_and_rejoins(make_mm, table, cluster):
    mm = make_mm(backoff_cap=1.0)
    t, result = run_loop(mm, table, course_rows(120), 0.1)
    try:
        wait_for(lambda: len(result["times"]) >= 10, 30, "10 rows")
        cluster.freeze(1)
        time.sleep(8)  # longer than Galera's suspect timeout: node 1 is evicted
        cluster.thaw(1)
        t.join(timeout=180)
    finally:
        cluster.thaw(1)
    assert not t.is_alive() and "error" not in result, result
    assert count_titles(cluster, table) == (120, 120)
    # The statement in flight on the frozen node waited one read timeout (10 s) at most,
    # plus the survivor's own pause until node 1 was evicted.
    assert max_gap(result["times"]) < 10 + 8
    # Node 1 comes back into rotation by itself once it has rejoined.
    wait_for(lambda: _node_synced(cluster, 1), 120, "node 1 to rejoin after SIGCONT", every=1)
    wait_for(lambda: mm.query("SELECT 1") and mm.stats()[0]["state"] == "up", 30, "node 1 back in rotation")
    report = mm.insert_many(table, COLUMNS, course_rows(6, start=120), key="title")
    assert report.per_node[cluster.addresses[0]] == 3


def _node_synced(cluster, i) -> bool:
    try:
        return cluster.status()[i - 1]["state"] == "Synced"
    except Exception:
        return False
