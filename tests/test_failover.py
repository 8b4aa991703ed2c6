"""Nodes crashed with kill -9 under a running MultiMaster: failover, rejoin, all down, Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import multimaster
from conftest import COLUMNS, count_titles, course_rows, crash_and_restart_each, wait_for


def test_insert_many_survives_each_node_crashed(make_mm, table, cluster, caplog):
    caplog.set_level(logging.INFO, logger="multimaster")
    mm = make_mm()
    result: dict = {}

    def loop() -> None:
        try:
            result["report"] = mm.insert_many(table, COLUMNS, course_rows(120), key="title", interval=0.1)
        except Exception as e:  # asserted below
            result["error"] = e

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(1.5)
    crash_and_restart_each(cluster)
    t.join(timeout=240)
    assert not t.is_alive() and "error" not in result, result
    report = result["report"]
    assert report.rows == 120
    assert count_titles(cluster, table) == (120, 120)
    kinds = [e["kind"] for e in mm.events()]
    downs = {e["node"] for e in mm.events() if e["kind"] == "node_down"}
    assert downs == set(cluster.addresses)
    assert "failover" in kinds or report.rerouted > 0
    assert report.failovers >= 2 and report.rerouted > 0
    # Logged through Python logging at WARNING.
    assert any(r.levelno == logging.WARNING and "down" in r.getMessage() for r in caplog.records)


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
    assert 2.5 < waited < 3.0 + 2 * 0.75 + 1.0
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


CTRL_C_SCRIPT = """
import sys, time, multimaster
mm = multimaster.MultiMaster(sys.argv[1].split(","), "demo", "admin", "cloudacademy")
rows = [(f"Title{x}", "Jeremy Cook", 100, "1999-03-30", "http://here.com") for x in range(1000)]
print("ready", flush=True)
try:
    mm.insert_many(sys.argv[2], ["title", "instructor", "duration", "created", "url"], rows,
                   key="title", interval=0.2)
except KeyboardInterrupt as e:
    print("interrupted", time.monotonic(), e.report.rows, flush=True)
"""


def interrupt(args: list, after: float) -> "tuple[list, float]":
    """Runs a script that prints "ready", sends it SIGINT `after` seconds later, and returns
    the words of the line it prints next and when the signal was sent."""
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(after)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().split()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return line, sent


def test_ctrl_c_stops_the_loop_promptly_keeping_rows(cluster, table):
    line, sent = interrupt([CTRL_C_SCRIPT, ",".join(cluster.addresses), table], after=1.5)
    assert line[0] == "interrupted"
    assert float(line[1]) - sent < 0.5
    written = int(line[2])
    assert 3 <= written < 1000
    assert count_titles(cluster, table) == (written, written)


WAITING_SCRIPT = """
import sys, time, multimaster
mm = multimaster.MultiMaster(["127.0.99.1:9", "127.0.99.2:9"], user="u", password="p",
                             failover_timeout=60)
print("ready", flush=True)
try:
    mm.execute("SELECT 1")
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
"""


def test_ctrl_c_stops_a_call_waiting_for_a_live_node():
    """execute() waiting out failover_timeout (every node down) stops on Ctrl-C too."""
    line, sent = interrupt([WAITING_SCRIPT], after=1.0)
    assert line[0] == "interrupted"
    assert float(line[1]) - sent < 0.5
