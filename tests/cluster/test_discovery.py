"""Discovery (README "Cluster states and membership"): an instance given one address of a
3-node lab (with garbd, whose empty entry in `wsrep_incoming_addresses` is skipped), and one
where nothing listens, writes through all three and keeps the dead given one; it follows the
cluster while a keyed writer runs: a node that joins (`lab add`) is in rotation within
discover_interval plus a connect, a discovered node that crashes stays known and returns, a
node that leaves gracefully (`lab remove`) is retired. Every row lands exactly once and the
writer sees no error."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Iterator, List

import pytest

import multimaster
from multimaster import Event
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
# README: a discovered address not reached for 30 s is reported once; from its first failure it
# waits the backoff's ceiling between tries, spread by the jitter over [backoff_cap / 2,
# backoff_cap) (5 s here: a doubling backoff would try it far more often).
REPORT_UNREACHABLE = 30.0
CAP = 5.0


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


class Listener:
    """A TCP listener that takes each connect and hangs up at once, counting them: an address a
    cluster member advertises but no MySQL client can use (an internal one behind a NAT)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self.accepts = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepts += 1
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_member_advertising_an_address_no_client_can_use(lab: Lab) -> None:
    """Node 3 advertises an address where a listener takes the TCP connect and hangs up:
    discovery lists it as a down discovered node, reports it once (a `node_unreachable` event)
    after REPORT_UNREACHABLE unreached, tries it at most once per `backoff_cap` / 2 (the jitter's
    floor) from its first failure, and no statement goes there or waits for it."""
    heal(lab)
    table = f"advertised{int(time.time())}"
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    node3 = lab.nodes[2]
    fake = DISCOVER_HOSTS[0].rpartition(".")[0] + ".98:3306"
    written = node3.cnf.read_text()
    line = f"wsrep_node_incoming_address = {node3.address}"
    assert line in written
    listener = Listener(fake.split(":")[0], 3306)
    try:
        lab.stop(3)
        node3.cnf.write_text(written.replace(line, f"wsrep_node_incoming_address = {fake}"))
        lab.start(3)
        wait_for(lambda: fake in incoming(lab), LAB_WAIT, "node 3 to advertise the unusable address")
        mm = multimaster.MultiMaster(
            [lab.addresses[0]],
            **course_options({"discover": True, "discover_interval": INTERVAL, "backoff_cap": CAP}),
        )
        writer = Writer(mm, table)
        started = time.monotonic()
        try:
            writer.start()

            def reported() -> List[Event]:
                return [e for e in mm.events() if e["kind"] == "node_unreachable" and e["node"] == fake]

            wait_for(lambda: reported(), REPORT_UNREACHABLE + JOIN_BOUND, "the unusable address to be reported")
            writer.wait_rows(20, "rows after the report")
            nodes = mm.nodes
        finally:
            writer.stop()
            mm.close()
        # Every try, until the close, over the whole time the instance knew the address.
        watched, accepts = time.monotonic() - started, listener.accepts
        assert len(reported()) == 1
        assert [(n.known_by, n.state) for n in nodes if n == fake] == [("discovered", "down")]
        # Tried at the backoff's ceiling from the first failure (not doubling up from its base):
        # the first try, then one per wait of at least CAP / 2 (the jitter's floor).
        assert 1 <= accepts <= watched / (CAP / 2) + 1, (accepts, watched)
        writer.check()
        assert fake not in writer.nodes
        assert count_titles(lab, table) == (writer.written, writer.written)
    finally:
        listener.close()
        lab.stop(3)
        node3.cnf.write_text(written)
        lab.start(3)
        lab.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")
