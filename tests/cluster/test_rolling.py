"""A rolling restart of a 3-node lab under a keyed writer (README "Cluster states and
membership"): each node drained (wsrep_desync=ON), restarted gracefully, undrained, in turn:
the writer sees no error and every row lands exactly once. A graceful stop without draining
(SIGTERM: sessions closed with 1053 / 2013) fails the writer over like a crash, once."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
from multimaster_lab.lab import Lab

from support.bounds import LAB_WAIT, SLACK, detect_bound, rejoin_bound, wait_for
from support.labs import COURSE_DDL, count_titles, heal, node_downs
from support.threads import Writer

# README: node states are read every 2 s; one read on top.
STATE_BOUND = 2.0 + 1.0 + SLACK
EVENTS = ("node_down", "failover", "retry", "ambiguous")


@pytest.fixture
def setup(lab3: Lab) -> Iterator[tuple]:
    heal(lab3)
    table = f"rolling{int(time.time())}"
    lab3.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = multimaster.MultiMaster(
        lab3.addresses, database=DATABASE, user=USER, password=PASSWORD, connect_timeout=1.0, backoff_cap=1.0
    )
    try:
        yield lab3, mm, table
    finally:
        mm.close()
        heal(lab3)
        lab3.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")


def test_rolling_restart_without_an_error(setup):
    lab, mm, table = setup
    started = time.time()
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(20, "rows before the first drain")
        for i, address in enumerate(lab.addresses, 1):
            lab.drain(i)
            wait_for(lambda: mm.stats()[i - 1]["state"] == "draining", STATE_BOUND, f"node {i} draining")
            lab.drain(i)  # what the client had started before it saw the drain has finished
            lab.restart(i)  # SIGTERM, then started again; done once Synced
            lab.undrain(i)
            since = writer.rows
            wait_for(lambda: mm.stats()[i - 1]["state"] == "up", STATE_BOUND, f"node {i} ready")
            writer.wait_node(address, since, f"rows through node {i} after its restart")
            writer.wait_rows(10, f"rows after node {i}'s restart")
    finally:
        writer.stop()
    writer.check()
    assert count_titles(lab, table) == (writer.written, writer.written)
    # Not one error, failover, retry or lost reply: the nodes were drained, not failed.
    assert [e for e in mm.events() if e["kind"] in EVENTS and e["time"] >= started] == []
    assert sum(s["errors"] for s in mm.stats()) == 0
    kinds = [e["kind"] for e in mm.events() if e["time"] >= started]
    assert kinds.count("node_draining") == 3 and kinds.count("node_ready") == 3


def test_sigterm_without_draining_fails_over_once(setup):
    lab, mm, table = setup
    address = lab.addresses[1]
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(20, "rows before the stop")
        stopped_at = time.time()
        lab.stop(2)
        # Down when a statement met the closed session first; draining when the state read saw
        # it leave the cluster first. Either way nothing new goes there.
        wait_for(lambda: mm.stats()[1]["state"] != "up", detect_bound(1.0), "the writer to leave node 2")
        lab.start(2, timeout=LAB_WAIT)
        since = writer.rows
        writer.wait_node(
            address, since, "rows through node 2 after its start", timeout=rejoin_bound(1.0, 1.0) + LAB_WAIT
        )
    finally:
        writer.stop()
    writer.check()
    assert count_titles(lab, table) == (writer.written, writer.written)
    assert node_downs(mm, address, stopped_at) <= 1
