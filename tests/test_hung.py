"""Hung nodes: frozen with SIGSTOP, or blackholed by the proxy. The statement in flight costs
at most the read timeout; the node is then skipped, and rejoins once it answers again."""

from __future__ import annotations

import time

from conftest import (GALERA_PAUSE, READ_TIMEOUT, SLACK, Writer, count_titles, detect_bound, max_gap,
                      node_downs, rejoin_bound, wait_for)
from faultproxy import FaultProxy


def test_blackholed_node_costs_one_read_timeout(make_mm, table, cluster):
    """The proxy swallows everything for node 1: the statement in flight waits out the read
    timeout (the lower bound on the gap that only the blackhole explains), the fence's connect
    and the key check, no more (the README's bound); the node is marked down and skipped, and
    taken back once the proxy passes traffic again."""
    host, port = cluster.addresses[0].split(":")
    read, connect, interval = 2.0, 0.5, 0.05
    with FaultProxy((host, int(port))) as proxy:
        proxied = "%s:%d" % proxy.address
        mm = make_mm([proxied, cluster.addresses[1]], read_timeout=read, connect_timeout=connect,
                     backoff_cap=1.0)
        writer = Writer(mm, table, interval=interval).start()
        try:
            writer.wait_rows(6, "6 rows before the blackhole")
            blackholed_at = time.time()
            proxy.blackhole()
            wait_for(lambda: node_downs(mm, proxied, blackholed_at) > 0, read + 1.5 * connect + SLACK,
                     "the proxied node seen down")
            writer.wait_rows(10, "10 rows while the node is blackholed: it is skipped")
            proxy.pass_through()
            since = writer.rows
            writer.wait_node(proxied, since, "the proxied node to take rows again",
                             timeout=rejoin_bound(1.0, connect))
        finally:
            writer.stop()
    writer.check()
    assert count_titles(cluster, table) == (writer.written, writer.written)
    gap = max_gap(writer.times)
    print(f"blackhole: {writer.written} rows, longest gap {gap:.2f} s")
    # A hung statement costs read_timeout, then the fence's connect through the blackhole
    # (1.5 x connect_timeout) and the key check on node 2: the README's bound plus SLACK.
    # (5 % spares the timer's granularity; rows are 0.05 s apart otherwise.)
    assert 0.95 * read <= gap < read + 1.5 * connect + interval + SLACK, gap
    assert writer.total("failovers") >= 1 and writer.total("rerouted") >= 1


def test_frozen_node_is_skipped_and_rejoins(make_mm, table, cluster):
    """Node 1 frozen with SIGSTOP under the loop, and kept frozen until the loop has seen it
    down and written rows without it: the statement in flight on it cost one read timeout
    (the gap only the freeze explains), nothing after. Thawed, node 1 (evicted meanwhile)
    rejoins and takes rows again by itself. Every row exists exactly once."""
    connect = 1.0  # make_mm's
    mm = make_mm(backoff_cap=1.0)
    address = cluster.addresses[0]
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(10, "10 rows before the freeze")
        frozen_at = time.time()
        cluster.freeze(1)
        try:
            wait_for(lambda: node_downs(mm, address, frozen_at) > 0, detect_bound(connect),
                     "the loop to see the frozen node down")
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
    # Rows are 0.1 s apart otherwise; the statement sent to the frozen node waited out the
    # read timeout (5 % spares the timer's granularity)...
    assert gap >= 0.95 * READ_TIMEOUT, gap
    # ...and no more than the README's bound: read_timeout, the fence's connect to the frozen
    # node, and the survivor's own pause until node 1 was evicted, plus SLACK.
    assert gap < READ_TIMEOUT + 1.5 * connect + GALERA_PAUSE + SLACK, gap
    assert writer.total("failovers") >= 1
    assert mm.stats()[0]["reconnects"] >= 1
