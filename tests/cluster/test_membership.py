"""Membership at run time (README "Cluster states and membership"): `add_node` puts a node in
rotation while a long `insert_many` runs, `remove_node` takes one out while a keyed writer
runs; every row lands exactly once and the writer sees no error. Bad addresses, an unknown
node and the last node in rotation are refused with a `ValueError`."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, USER, course_rows
from multimaster_lab.lab import Lab

from support.bounds import LAB_WAIT, SLACK, wait_for
from support.labs import COURSE_DDL, count_titles, course_options, heal
from support.threads import Call, Writer

# An added node takes statements after one connect (connect_timeout 1 s here) and one read of
# its state, both started by add_node itself.
ADD_BOUND = 1.0 + 1.0 + SLACK
EVENTS = ("node_down", "failover", "retry", "ambiguous")


@pytest.fixture
def table(lab3: Lab) -> Iterator[str]:
    heal(lab3)
    name = f"members{int(time.time() * 1000)}"
    lab3.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{name}"))
    yield name
    heal(lab3)
    lab3.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")


def sessions(lab: Lab, i: int) -> int:
    """The course account's sessions on node i, besides the one asking (the lab's own client
    uses the same account and ends with its question)."""
    ((n,),) = lab.sql(
        i, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{USER}' AND ID <> CONNECTION_ID()"
    )
    return int(n or 0)


def test_an_added_node_takes_rows_of_a_running_insert_many(lab3, table):
    first_two, third = lab3.addresses[:2], lab3.addresses[2]
    mm = multimaster.MultiMaster(first_two, **course_options({"backoff_cap": 1.0}))
    try:
        assert mm.nodes == first_two and [n.known_by for n in mm.nodes] == ["given", "given"]
        started = time.time()
        nodes: list = []
        rows = 1500
        run = Call(
            lambda: mm.insert_many(
                table, COLUMNS, course_rows(rows), key="title", interval=0.005, on_row=lambda i, n, r: nodes.append(n)
            ),
            "insert_many",
        ).start()
        wait_for(lambda: len(nodes) >= 100, LAB_WAIT, "rows before add_node")
        mm.add_node(third)
        added_at, since = time.monotonic(), len(nodes)
        wait_for(lambda: third in nodes[since:], ADD_BOUND, "a row through the added node")
        took = time.monotonic() - added_at
        report = run.result(LAB_WAIT)
        assert report.rows == rows and report.per_node[third] > 0, (report.per_node, took)
        assert sum(report.per_node.values()) == rows
        assert count_titles(lab3, table) == (rows, rows)
        assert mm.nodes == lab3.addresses
        assert [n.known_by for n in mm.nodes] == ["given", "given", "added"]
        assert [s["known_by"] for s in mm.stats()] == ["given", "given", "added"]
        kinds = [e["kind"] for e in mm.events() if e["time"] >= started]
        assert [k for k in kinds if k in EVENTS] == [] and kinds.count("node_added") == 1
        assert sum(s["errors"] for s in mm.stats()) == 0
        # Added again while in rotation: nothing changes.
        mm.add_node(third)
        assert mm.nodes == lab3.addresses
    finally:
        mm.close()


def test_a_removed_node_gets_no_new_statement_and_a_readded_one_returns(lab3, table):
    mm = multimaster.MultiMaster(lab3.addresses, **course_options({"backoff_cap": 1.0}))
    gone = lab3.addresses[2]
    try:
        started = time.time()
        writer = Writer(mm, table, batch=10, interval=0.01).start()
        try:
            writer.wait_node(gone, 0, "rows through node 3 before its removal")
            assert sessions(lab3, 3) > 0
            mm.remove_node(gone)
            # The statement in flight there finishes, then the instance holds no session on
            # it (pool, monitor and kill connections dropped), and opens none while it writes on.
            wait_for(lambda: sessions(lab3, 3) == 0, SLACK, "the removed node's sessions to close")
            since = writer.rows
            writer.wait_rows(200, "rows after the removal")
            assert sessions(lab3, 3) == 0
            assert gone not in writer.nodes[since:]
            assert mm.nodes == lab3.addresses[:2]
            assert [s["state"] for s in mm.stats()] == ["up", "up", "removed"]
            # Back with the same index and counters.
            mm.add_node(gone)
            since = writer.rows
            writer.wait_node(gone, since, "rows through node 3 added again", timeout=ADD_BOUND)
            assert mm.nodes == lab3.addresses and mm.stats()[2]["statements"] > 0
        finally:
            writer.stop()
        writer.check()
        assert count_titles(lab3, table) == (writer.written, writer.written)
        assert [e for e in mm.events() if e["kind"] in EVENTS and e["time"] >= started] == []
        assert sum(s["errors"] for s in mm.stats()) == 0
    finally:
        mm.close()


def test_bad_membership_changes_are_refused_and_change_nothing(lab3):
    mm = multimaster.MultiMaster(lab3.addresses[:2], **course_options({}))
    try:
        with pytest.raises(ValueError, match=r"127\.\S+:4444: not a node in rotation \(nodes: .*:3306, .*:3306\)"):
            mm.remove_node(lab3.addresses[0].rsplit(":", 1)[0] + ":4444")
        with pytest.raises(ValueError, match="bad node address"):
            mm.add_node("db1:notaport")
        with pytest.raises(ValueError, match="not a URL") as url:
            mm.add_node("mysql://u:secret@db1")
        assert "secret" not in str(url.value)
        mm.remove_node(lab3.addresses[1])
        with pytest.raises(ValueError, match="last node in rotation"):
            mm.remove_node(lab3.addresses[0])
        assert mm.nodes == lab3.addresses[:1]
        assert mm.execute("SELECT 1").node == lab3.addresses[0]
        assert [s["state"] for s in mm.stats()] == ["up", "removed"]
        assert not any(e["kind"] == "node_down" for e in mm.events())
    finally:
        mm.close()
    # The asyncio face passes the calls through.
    amm = multimaster.AsyncMultiMaster(lab3.addresses[:2], **course_options({}))
    try:
        amm.remove_node(lab3.addresses[1])
        assert amm.nodes == lab3.addresses[:1]
        with pytest.raises(ValueError, match="last node"):
            amm.remove_node(lab3.addresses[0])
    finally:
        asyncio.run(amm.close())
