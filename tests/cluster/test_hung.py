"""Hung nodes: frozen with SIGSTOP, or blackholed by the proxy. A node that stops answering is
declared down within failure_detection of its last answer (README "Failure semantics": liveness
is checked on a separate connection while a statement runs), even with a long statement in
flight on it; it is then skipped, and rejoins once it answers again."""

from __future__ import annotations

import time

from support.bounds import (
    FAILURE_DETECTION,
    GALERA_PAUSE,
    SLACK,
    detect_bound,
    liveness_bound,
    max_gap,
    rejoin_bound,
    wait_for,
)
from support.faultproxy import FaultProxy
from support.labs import count_titles, node_downs, running
from support.threads import Call, Reader, Writer


def test_blackholed_node_costs_one_failure_detection(make_mm, cluster):
    """The proxy swallows everything for node 1 (a hung node: TCP connects accepted, nothing
    answered, the liveness checks included). The read in flight on it waits until node 1 is
    declared down, failure_detection after its last answer (the lower bound on the gap that only
    the blackhole explains), plus the check under way (the upper bound), and is then run again on
    node 2. Reads, not writes: a write in flight on the blackholed node could not be fenced until
    the proxy passes traffic again (test_ambiguous.py has that case). Once the proxy passes
    traffic, node 1 is taken back."""
    host, port = cluster.addresses[0].split(":")
    fd, connect, interval = 2.0, 0.5, 0.05
    with FaultProxy((host, int(port))) as proxy:
        proxied = proxy.endpoint
        mm = make_mm([proxied, cluster.addresses[1]], failure_detection=fd, connect_timeout=connect, backoff_cap=1.0)
        reader = Reader(mm, interval).start()
        try:
            reader.wait_reads(6, "6 reads before the blackhole")
            blackholed_at = time.time()
            proxy.blackhole()
            wait_for(
                lambda: node_downs(mm, proxied, blackholed_at) > 0,
                liveness_bound(fd, connect),
                "the proxied node seen down",
            )
            reader.wait_reads(10, "10 reads while the node is blackholed: it is skipped")
            down_statements = mm.stats()[0]["statements"]
            proxy.pass_through()
            wait_for(
                lambda: mm.stats()[0]["state"] == "up" and mm.stats()[0]["statements"] > down_statements,
                rejoin_bound(1.0, connect),
                "the proxied node to answer reads again",
            )
            reader.wait_reads(4, "4 reads after the node came back")
        finally:
            reader.stop()
    gap = max_gap(reader.times)
    print(f"blackhole: {len(reader.times)} reads, longest gap {gap:.2f} s")
    # The last answer came from the read before the one sent into the blackhole (at most two
    # intervals earlier); the node is declared down failure_detection after it, and no sooner...
    assert gap >= 0.95 * fd - 2 * interval, gap
    # ...and no later than the check under way then (1.5 x connect_timeout) plus SLACK.
    assert gap < liveness_bound(fd, connect) + interval, gap
    assert [e["node"] for e in mm.events() if e["kind"] == "failover"] == [cluster.addresses[1]]


def test_long_read_on_a_node_frozen_mid_statement_is_retried_elsewhere(make_mm, cluster):
    """A 4 s read runs on node 1 (alive: it answers its liveness checks), and node 1 is frozen
    with SIGSTOP halfway. Node 1 is declared down within failure_detection of its last answer,
    while the statement is still in flight (no statement or read timeout involved), and the read
    is run again on node 2, which returns its result. Node 1 is thawed at once, long before
    Galera would evict it."""
    fd, connect = 1.0, 1.0  # connect: make_mm's
    mm = make_mm(failure_detection=fd, backoff_cap=1.0)
    statement = "SELECT SLEEP(4) AS frozen_mid_read"
    call = Call(lambda: mm.query(statement)).start()  # request 0: node 1
    wait_for(lambda: running(cluster, 1, statement) or not call.running(), 30, "the read to run on node 1")
    time.sleep(fd)  # past the grace: node 1 answers liveness checks while the read runs
    frozen_at = time.time()
    cluster.freeze(1)
    try:
        wait_for(
            lambda: node_downs(mm, cluster.addresses[0], frozen_at) > 0 or not call.running(),
            liveness_bound(fd, connect),
            "node 1 declared down while the read is in flight",
        )
    finally:
        cluster.thaw(1)
    downs = [e["time"] for e in mm.events() if e["kind"] == "node_down" and e["node"] == cluster.addresses[0]]
    assert downs, f"node 1 was not declared down while frozen: {mm.events()}"
    detected = downs[0] - frozen_at
    assert call.result(4 + SLACK + 10) == [(0,)]
    print(f"frozen mid-statement: declared down {detected:.2f} s after SIGSTOP")
    assert detected < liveness_bound(fd, connect)
    assert [e["node"] for e in mm.events() if e["kind"] == "failover"] == [cluster.addresses[1]]


def test_frozen_node_is_skipped_and_rejoins(make_mm, table, cluster):
    """Node 1 frozen with SIGSTOP under the loop, and kept frozen until the loop has seen it
    down and written rows without it: the statement in flight on it cost one failure detection
    and the wait for its fence (Galera's eviction), the gap only the freeze explains, nothing
    after. Thawed, node 1 (evicted meanwhile) rejoins and takes rows again by itself. Every row
    exists exactly once."""
    connect = 1.0  # make_mm's
    mm = make_mm(backoff_cap=1.0)  # the default failure_detection
    address = cluster.addresses[0]
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(10, "10 rows before the freeze")
        frozen_at = time.time()
        cluster.freeze(1)
        try:
            wait_for(
                lambda: node_downs(mm, address, frozen_at) > 0,
                detect_bound(connect),
                "the loop to see the frozen node down",
            )
            writer.wait_rows(10, "10 rows while node 1 is still frozen: it is skipped")
        finally:
            cluster.thaw(1)
        since = writer.rows
        writer.wait_node(address, since, "node 1 to rejoin and take rows again after SIGCONT")
    finally:
        writer.stop()
    writer.check()
    assert count_titles(cluster, table) == (writer.written, writer.written)
    gap = max_gap(writer.times)
    print(f"freeze: {writer.written} rows, longest gap {gap:.2f} s")
    # Rows are 0.1 s apart otherwise. Whichever node had the row in flight, it waited at least
    # failure_detection: on node 1, until node 1 was declared down (and then for its fence); on
    # node 2, for Galera's pause, which is longer (5 % spares the timer's granularity)...
    assert gap >= 0.95 * FAILURE_DETECTION, gap
    # ...and no more than the README's bound: node 1 declared down (failure detection and the
    # check under way), the fence's wait for Galera to evict it, plus SLACK.
    assert gap < FAILURE_DETECTION + 1.5 * connect + GALERA_PAUSE + SLACK, gap
    assert writer.total("failovers") >= 1
    assert mm.stats()[0]["reconnects"] >= 1
    # A write lost on the frozen node was checked for only once its session was fenced.
    fences = [e["detail"] for e in mm.events() if e["kind"] == "ambiguous"]
    assert all(" fenced: " in d and "not fenced" not in d for d in fences), fences
