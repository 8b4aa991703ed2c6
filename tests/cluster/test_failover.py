"""Nodes crashed with kill -9 under a running MultiMaster: failover, rejoin, all down, Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, course_rows

from support.bounds import SLACK, wait_for
from support.interrupt import CTRL_C_BOUND, CTRL_C_PRELUDE, Child, interrupt
from support.labs import count_titles, node_downs, running
from support.threads import Call, Writer, crash_and_rejoin_each


def test_insert_many_survives_each_node_crashed(make_mm, table, cluster, caplog):
    """kill -9 node 1 under the running loop and restart it, then node 2: each crash is seen
    (a node_down event for that node while it is dead), each node takes rows again after its
    restart, and every row exists exactly once. The loop runs until the test stops it, so it
    cannot end before its faults on a slow machine."""
    caplog.set_level(logging.INFO, logger="multimaster")
    mm = make_mm(backoff_cap=1.0)
    connect = 1.0  # make_mm's connect_timeout
    writer = Writer(mm, table).start()
    try:
        crash_and_rejoin_each(cluster, mm, writer, connect, backoff_cap=1.0)
    finally:
        writer.stop()
    writer.check()
    assert count_titles(cluster, table) == (writer.written, writer.written)
    assert writer.total("failovers") >= 2 and writer.total("rerouted") >= 2
    assert mm.stats()[0]["reconnects"] >= 1 and mm.stats()[1]["reconnects"] >= 1
    # Logged through Python logging at WARNING, naming the node.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for address in cluster.addresses:
        assert any(f"node {address} down" in m for m in warnings), warnings


def test_killed_node_rejoins_rotation(make_mm, table, cluster):
    mm = make_mm(backoff_cap=1.0)
    cluster.crash(1)
    report = mm.insert_many(table, COLUMNS, course_rows(6), key="title")
    assert report.per_node == {cluster.addresses[0]: 0, cluster.addresses[1]: 6}
    assert mm.stats()[0]["state"] == "down"
    cluster.start(1)
    wait_for(lambda: mm.query("SELECT 1") and mm.stats()[0]["state"] == "up", 30, "node 1 back up")
    report = mm.insert_many(table, COLUMNS, course_rows(6, start=6), key="title")
    assert report.per_node[cluster.addresses[0]] == 3
    assert mm.stats()[0]["reconnects"] == 1
    assert count_titles(cluster, table) == (12, 12)
    assert [e["kind"] for e in mm.events()].count("node_up") == 1


def test_long_read_on_a_crashed_node_is_retried_at_once(make_mm, cluster):
    """A crashed node is declared down at once, even with a long statement in flight on it (its
    connection is reset, and the liveness check is refused): kill -9 node 1 while a 4 s read
    runs there, and node_down comes within SLACK, not after any statement or detection time;
    the read is run again on node 2 and returns its result."""
    mm = make_mm(failure_detection=3.0, backoff_cap=1.0)
    statement = "SELECT SLEEP(4) AS crashed_mid_read"
    call = Call(lambda: mm.query(statement)).start()  # request 0: node 1
    wait_for(lambda: running(cluster, 1, statement) or not call.running(), 30, "the read to run on node 1")
    crashed_at = time.time()
    cluster.crash(1)
    wait_for(lambda: node_downs(mm, cluster.addresses[0], crashed_at) > 0, SLACK, "node 1 declared down at once")
    assert call.result(4 + SLACK + 10) == [(0,)]
    assert [e["node"] for e in mm.events() if e["kind"] == "failover"] == [cluster.addresses[1]]
    assert mm.stats()[1]["state"] == "up"


def test_all_nodes_down_then_back(make_mm, table, cluster):
    mm = make_mm(failover_timeout=3.0, connect_timeout=0.5)
    mm.query("SELECT 1")
    cluster.crash(1)
    cluster.crash(2)
    t = time.monotonic()
    with pytest.raises(multimaster.AllNodesDownError) as e:
        mm.execute(f"INSERT INTO {table} (title) VALUES ('x')", key=(table, "title", "x"))
    waited = time.monotonic() - t
    # Bound: failover_timeout plus at most one connect attempt (and the lost-reply check).
    assert 2.5 < waited < 3.0 + 2 * 0.75 + SLACK
    assert e.value.waited >= 3.0
    assert "all nodes down" in str(e.value)
    cluster.start(1)
    cluster.start(2)
    wait_for(lambda: _works(mm), 60, "a statement to work again")
    mm.execute(f"INSERT INTO {table} (title) VALUES ('y')", key=(table, "title", "y"))
    assert count_titles(cluster, table)[0] == 1


def _works(mm) -> bool:
    try:
        return mm.query("SELECT 1") == [(1,)]
    except multimaster.Error:
        return False


# --- Ctrl-C ------------------------------------------------------------------------------
# README: insert_many stops within half a second on Ctrl-C; execute, query and transaction
# stop as quickly while they wait for a node (and while a statement runs: tests/cluster/test_slow.py).
# The latency is measured inside the child, from the moment SIGINT arrived (support.interrupt's
# CTRL_C_PRELUDE). Each interrupted wait would otherwise last seconds (interval=5, or
# failover_timeout=60), so a loop that noticed Ctrl-C only when its sleep or wait ended fails.

INSERT_SCRIPT = (
    CTRL_C_PRELUDE
    + """
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_rows
mm = multimaster.MultiMaster(sys.argv[1].split(","), DATABASE, USER, PASSWORD, failover_timeout=60)
try:
    mm.insert_many(sys.argv[2], COLUMNS, course_rows(1000),
                   key="title", interval=5, on_row=lambda i, node, rerouted: print("row", i, flush=True))
except KeyboardInterrupt as e:
    interrupted(e.report.rows)
"""
)

# Every node refuses: the call waits up to failover_timeout for a live node. The script also
# prints when the call began, to show the signal came during the wait.
WAITING_SCRIPT = (
    CTRL_C_PRELUDE
    + """
mm = multimaster.MultiMaster(["127.0.99.1:9", "127.0.99.2:9"], user="u", password="p",
                             failover_timeout=60)
call = {
    "execute": lambda: mm.execute("SELECT 1"),
    "query": lambda: mm.query("SELECT 1"),
    "transaction": lambda: mm.transaction(lambda tx: tx.execute("SELECT 1")),
}[sys.argv[1]]
print("ready", flush=True)
entered = time.monotonic()
try:
    call()
    print("returned", flush=True)
except KeyboardInterrupt:
    interrupted(entered)
"""
)


def test_ctrl_c_stops_the_loop_promptly_keeping_rows(cluster, table):
    line, sent = interrupt([INSERT_SCRIPT, ",".join(cluster.addresses), table], lambda text: text == "row 0", after=0.5)
    # Row 0 only: the signal came inside the 5 s interval that follows it.
    written = int(line[3])
    assert written == 1
    assert count_titles(cluster, table) == (written, written)


@pytest.mark.parametrize("call", ["execute", "query", "transaction"])
def test_ctrl_c_stops_a_call_waiting_for_a_live_node(call):
    """Every node down, failover_timeout=60: the call waits for a live node, and stops on Ctrl-C."""
    line, sent = interrupt([WAITING_SCRIPT, call], lambda text: text == "ready", after=1.0)
    entered = float(line[3])
    assert float(line[1]) - entered > 0.5  # the signal came while the call was waiting


def test_insert_test_interrupted_exits_130_keeping_rows(cluster, table):
    """insert-test (python -m multimaster_lab.course) on SIGINT: exit 130, says how many rows it
    wrote, and exactly those rows exist."""
    env = {**os.environ, **cluster.env()}
    child = Child(
        [sys.executable, "-m", "multimaster_lab.course", "--count", "1000", "--interval", "5", "--table", table],
        env=env,
    )
    try:
        child.wait_line(lambda text: text.startswith("Title0: 1 record inserted successfully"), 60, "the first row")
        time.sleep(0.5)  # into the 5 s interval
        sent = time.monotonic()
        child.signal(signal.SIGINT)
        rc = child.finish(60)
        exited = time.monotonic() - sent
    finally:
        child.close()
    assert rc == 130, child.stdout() + child.stderr()
    # From the parent's kill() to the exit: the loop's bound plus SLACK (it was inside a 5 s
    # interval, so a loop that waited for the interval to end would fail).
    assert exited < CTRL_C_BOUND, f"exited {exited:.2f} s after SIGINT"
    last = child.stderr().strip().splitlines()[-1]
    assert last.startswith("insert-test: interrupted after "), child.stderr()
    written = int(last.split()[3])
    assert written == 1  # Title0, then the signal inside the 5 s interval
    assert count_titles(cluster, table) == (written, written)
    print(f"insert-test exited {exited:.2f} s after SIGINT")
