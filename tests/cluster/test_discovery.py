"""Discovery (README "Cluster states and membership"): an instance given one address of a
3-node lab (with garbd, whose empty entry in `wsrep_incoming_addresses` is skipped), and one
where nothing listens, writes through all three and keeps the dead given one; it follows the
cluster while a keyed writer runs: a node that joins (`lab add`) is in rotation within
discover_interval plus a connect, a discovered node that crashes stays known and returns, a
node that leaves gracefully (`lab remove`) is retired. Every row lands exactly once and the
writer sees no error."""

from __future__ import annotations

import os
import time
from typing import Iterator, List

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE
from multimaster_lab.lab import Lab

from support.bounds import LAB_WAIT, SLACK, wait_for
from support.labs import COURSE_DDL, count_titles, course_options, heal, running_lab
from support.threads import Writer

DISCOVER_DIR = os.environ.get("MULTIMASTER_TEST_DISCOVER_DIR", "/tmp/multimaster-pytest-discover")
# Three for the lab, the fourth for the node `lab add` starts.
DISCOVER_HOSTS = os.environ.get("MULTIMASTER_TEST_DISCOVER_HOSTS", "127.0.71.1,127.0.71.2,127.0.71.3,127.0.71.4").split(
    ","
)
INTERVAL = 1.0
# A member is in rotation within one read of the members, a connect (1 s here) and a read
# of its state.
JOIN_BOUND = INTERVAL + 1.0 + 1.0 + SLACK


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab(3, base_dir=DISCOVER_DIR, hosts=DISCOVER_HOSTS[:3]) as lab:
        yield lab


def incoming(lab: Lab) -> List[str]:
    """The members node 1 lists (garbd's empty entry left out)."""
    ((_, value),) = lab.sql(1, "SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'")
    return [a for a in (value or "").split(",") if a]


def state(mm: multimaster.MultiMaster, address: str) -> str:
    return next(s["state"] for s in mm.stats() if s["address"] == address)


def test_discovery_follows_the_cluster_under_a_keyed_writer(lab: Lab) -> None:
    heal(lab)
    table = f"discover{int(time.time())}"
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    first, second, third = lab.addresses
    # A given address where nothing listens (a node cut off): discovery reads the members on
    # the live one, and a given node is never dropped.
    cut = DISCOVER_HOSTS[0].rpartition(".")[0] + ".9:3306"
    mm = multimaster.MultiMaster(
        [first, cut], **course_options({"discover": True, "discover_interval": INTERVAL, "backoff_cap": 1.0})
    )
    writer = Writer(mm, table)
    try:
        wait_for(lambda: sorted(mm.nodes) == sorted([*lab.addresses, cut]), JOIN_BOUND, "the members discovered")
        known_by = {first: "given", cut: "given", second: "discovered", third: "discovered"}
        assert {n: n.known_by for n in mm.nodes} == known_by
        writer.start()
        for address in lab.addresses:
            writer.wait_node(address, 0, f"rows through {address}")

        # A node joins the cluster: in rotation within one interval and a connect.
        fourth = lab.add(DISCOVER_HOSTS[3]).address
        joined = time.monotonic()
        since = writer.rows
        writer.wait_node(fourth, since, "rows through the node that joined", timeout=JOIN_BOUND)
        took = time.monotonic() - joined
        assert mm.nodes[-1] == fourth and mm.nodes[-1].known_by == "discovered", took
        assert cut not in writer.nodes

        # A discovered node crashes: still listed when the client finds it down, so kept,
        # even once the cluster has evicted it, and used again when it returns.
        lab.crash(3)
        wait_for(lambda: third not in incoming(lab), LAB_WAIT, "the cluster to evict node 3")
        wait_for(lambda: state(mm, third) == "down", LAB_WAIT, "the client to find node 3 down")
        writer.wait_rows(20, "rows while node 3 is down")
        assert third in mm.nodes and state(mm, third) == "down"
        lab.start(3)
        since = writer.rows
        writer.wait_node(third, since, "rows through node 3 after its restart")

        # A node leaves gracefully: retired, no longer probed or written to.
        lab.remove(4)
        wait_for(lambda: state(mm, fourth) == "removed", LAB_WAIT, "the node that left to be retired")
        assert fourth not in mm.nodes
        left = [e for e in mm.events() if e["kind"] == "node_removed" and e["node"] == fourth]
        assert [e["detail"] for e in left] == ["left the cluster"]
        since = writer.rows
        writer.wait_rows(30, "rows after the node left")
        assert fourth not in writer.nodes[since:]
        assert cut in mm.nodes and state(mm, cut) == "down"
    finally:
        writer.stop()
        mm.close()
    writer.check()
    # A crash and a graceful stop without draining fail statements over (README "Failure
    # semantics"): keyed rows land exactly once, the writer sees no error.
    assert count_titles(lab, table) == (writer.written, writer.written)
    lab.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")
