"""A node cut off from its peers but not from the client (`lab.isolate`, a netns lab): it keeps
answering the client, lands in a non-Primary component of its own and refuses statements with
1047. It leaves rotation (README "Cluster states and membership"), the keyed write in flight on
it when it lost its majority lands exactly once, and it returns after the heal. A write whose
write set reached the survivors just before its node lost the Primary component (1180 there,
committed by them) lands exactly once too, or raises AmbiguousCommitError without a key.

Needs root (network namespaces) and nftables; skipped, with the reason, where missing."""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterator

import pytest

from multimaster import AmbiguousCommitError, MultiMaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
from multimaster_lab.lab import Lab, LabError, _check_installed, netns_unavailable
from multimaster_lab.lab.netns import run_cmd
from multimaster_lab.lab.procs import send_signal, which

from support.bounds import GALERA_PAUSE, LAB_WAIT, SLACK, wait_for
from support.labs import COURSE_DDL, count_titles, heal, running_lab, sql_string
from support.threads import Call, Writer

# Its own lab and subnet: distinct from test_partition.py's (10.213.<k>.0/24).
LAB_DIR = os.environ.get("MULTIMASTER_TEST_ISOLATE_DIR", "/tmp/mm-lab-isolate")
SUBNET = os.environ.get("MULTIMASTER_TEST_ISOLATE_SUBNET", "10.214.18.0/24")
# Galera takes its suspect timeout to leave the isolated node in a minority (GALERA_PAUSE);
# then one read of its state (every 2 s) or its next statement's 1047 takes it out.
OUT_BOUND = GALERA_PAUSE + 2.0 + 1.0 + SLACK


@pytest.fixture(scope="module")
def netlab() -> Iterator[Lab]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(f"isolating a node needs network namespaces: {reason}")
    if which("nft") is None:
        pytest.skip("isolating a node needs nftables")
    try:
        _check_installed()
    except LabError as e:
        pytest.skip(f"the lab cannot run here: {e}")
    with running_lab(2, base_dir=LAB_DIR, netns=True, subnet=SUBNET) as lab:
        yield lab


def test_an_isolated_node_leaves_rotation_and_returns(netlab):
    lab = netlab
    table = f"iso{os.getpid()}"
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = MultiMaster(
        lab.addresses, database=DATABASE, user=USER, password=PASSWORD, connect_timeout=1.0, backoff_cap=1.0
    )
    node1 = lab.addresses[0]
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(20, "rows before the isolation")
        lab.isolate(1)
        assert lab.partitioned(1) == "isolated"
        wait_for(lambda: mm.stats()[0]["state"] != "up", OUT_BOUND, "node 1 out of rotation")
        # It answers the client all along, and refuses statements (1047): a minority.
        with pytest.raises(LabError, match="1047"):
            lab.sql(1, f"SELECT COUNT(*) FROM {DATABASE}.{table}")
        since = writer.rows
        writer.wait_rows(20, "rows while node 1 is isolated")
        assert node1 not in writer.nodes[since:]
        lab.heal(1)
        since = writer.rows
        writer.wait_node(node1, since, "rows through node 1 after the heal", timeout=LAB_WAIT)
    finally:
        writer.stop()
        heal_at = time.monotonic()
        lab.heal(1)
        heal(lab)
        assert time.monotonic() - heal_at < 2 * LAB_WAIT
    writer.check()
    # Every row exactly once, the write in flight on node 1 when it lost its majority too.
    assert count_titles(lab, table) == (writer.written, writer.written)
    mm.close()


def _unread_from(lab: Lab, key: str, host: str) -> int:
    """Bytes that process `key` ("node2", "garbd") has not read from its TCP sockets to `host`:
    what its kernel accepted while the process is frozen."""
    assert lab.net is not None
    out = run_cmd(
        ["ip", "netns", "exec", lab.net.namespace(key), "ss", "-tnH", "dst", host], f"reading {key}'s sockets"
    )
    return sum(int(line.split()[1]) for line in out.splitlines() if line.strip())


def _certifying(lab: Lab, statement: str) -> bool:
    """Node 1 runs `statement` and waits for its write set to be ordered by the cluster."""
    rows = lab.sql(1, f"SELECT STATE FROM information_schema.PROCESSLIST WHERE INFO = {sql_string(statement)}")
    return ("Waiting for certification",) in rows


@pytest.mark.slow
@pytest.mark.parametrize("keyed", [pytest.param(True, id="keyed"), pytest.param(False, id="unkeyed")])
def test_a_write_replicated_as_its_node_loses_the_primary_component(netlab: Lab, keyed: bool) -> None:
    """Node 1 replicates an INSERT's write set and loses the Primary component before it hears
    that the write set was ordered: it answers 1180, yet the survivors commit the write.

    How: node 2 and garbd are frozen (SIGSTOP: their kernels still ACK TCP, so what node 1 sends
    them waits in their socket buffers); the INSERT goes to node 1 (policy "sequential"), which
    executes it, sends its write set and waits for it to be ordered; node 1 is isolated from its
    peers (not from the client); node 2 and garbd are thawed within a second, before they suspect
    each other. They read node 1's write set from their buffers and, once they evict node 1
    (virtual synchrony: a message every survivor received is delivered), commit it. Node 1 hears
    nothing more from them, goes non-Primary after its suspect timeout and fails the commit with
    1180. So 1180 is not "refused, nothing applied": the keyed write must be fenced (the
    survivors' view without node 1) and found by its key, once; the unkeyed one must raise
    AmbiguousCommitError. Either way the row is in the table exactly once."""
    lab = netlab
    table = f"unsettled{os.getpid()}_{'k' if keyed else 'u'}"
    title = "replicated-then-1180"
    insert = f"INSERT INTO {table} (title) VALUES ('{title}')"
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = MultiMaster(
        lab.addresses,
        database=DATABASE,
        user=USER,
        password=PASSWORD,
        connect_timeout=1.0,
        backoff_cap=1.0,
        policy="sequential",  # node 1 first
    )
    node1 = lab.addresses[0]
    mm.query("SELECT 1")  # a pooled connection to node 1: the INSERT is sent at once
    peers = [pid for pid in (lab.pid(2), lab.arbitrator_pid()) if pid is not None]
    assert len(peers) == 2, "node 2 and garbd should run"
    options: Any = {"key": (table, "title", title)} if keyed else {}
    started = time.time()
    call = Call(lambda: mm.execute(insert, **options))
    node1_host = node1.rsplit(":", 1)[0]
    frozen = time.monotonic()
    for pid in peers:
        send_signal(pid, signal.SIGSTOP)
    try:
        unread = {key: _unread_from(lab, key, node1_host) for key in ("node2", "garbd")}
        call.start()
        # Executed, its write set sent to the frozen peers' kernels: node 1 waits for it to be
        # ordered, which needs them.
        wait_for(lambda: _certifying(lab, insert) or not call.running(), SLACK, "the INSERT to wait for certification")
        assert call.running(), f"the INSERT ended with its node's peers frozen: {call.error!r}"
        wait_for(
            lambda: all(_unread_from(lab, key, node1_host) > unread[key] for key in unread),
            SLACK,
            "node 1's write set in its peers' socket buffers",
        )
        lab.isolate(1)
    finally:
        for pid in peers:
            send_signal(pid, signal.SIGCONT)
        thawed = time.monotonic() - frozen
    try:
        call.wait(LAB_WAIT, "the INSERT to be settled")
        took = call.took
    finally:
        mm.close()
        lab.heal(1)
        heal(lab)
    node1_events = [(e["kind"], e["detail"]) for e in mm.events() if e["node"] == node1 and e["time"] >= started]
    print(
        f"\n({'keyed' if keyed else 'unkeyed'}) peers thawed {thawed:.2f} s after the freeze; the call took "
        f"{took:.2f} s and {'raised ' + repr(call.error) if call.error else 'returned ' + repr(call.value)}; "
        f"count {count_titles(lab, table)}; events on node 1: {node1_events}"
    )
    assert count_titles(lab, table) == (1, 1), "the write committed by the survivors was written again"
    # Node 1 answered once its suspect timeout ran out after the freeze, and the survivors
    # evicted it as long after the isolation (GALERA_PAUSE each; the isolation came `thawed`
    # after the freeze at most); then one key check and no second write. A SLACK for each:
    # far below failover_timeout (20 s), which a fence that never held would wait out.
    assert took < GALERA_PAUSE + thawed + 2 * SLACK, took
    if keyed:
        # Fenced by node 1's absence from the survivors' view (its session could not stop a
        # write set already handed on), then found by its key: not written again.
        assert call.error is None, repr(call.error)
        assert call.value.rowcount == 1 and call.value.ambiguous_resolved, call.value
        assert [detail for kind, detail in node1_events if kind == "ambiguous" and "fenced: node evicted" in detail]
        assert ("ambiguous_resolved", f"title='{title}' found: the write had committed") in node1_events
    else:
        assert isinstance(call.error, AmbiguousCommitError), repr(call.error)
        assert call.error.node == node1 and call.error.statement == insert, repr(call.error)
        assert "refused the commit after it may have replicated: (1180)" in str(call.error), str(call.error)
