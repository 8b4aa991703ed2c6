"""insert-test, the course's command, run as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from multimaster_lab.coursedata import DATABASE

from support.bounds import LAB_WAIT, detect_bound, rejoin_bound, wait_for
from support.interrupt import Child
from support.labs import count_titles
from support.scripts import insert_test

TIMEOUT = 240


def test_course_rows_exactly_once(cluster, table):
    done = insert_test(cluster.env(), "--count", "12", "--interval", "0.05", "--table", table)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    inserted = [line for line in lines if "1 record inserted successfully" in line]
    assert len(inserted) == 12
    assert inserted[0].startswith("Title0: ") and f"[{cluster.addresses[0]}]" in inserted[0]
    assert f"[{cluster.addresses[1]}]" in inserted[1]
    assert "Summary: expected 12, found 12, distinct 12, lost 0, duplicated 0" in done.stdout
    assert count_titles(cluster, table) == (12, 12)


def test_course_demo_with_each_node_crashed_and_restarted(cluster, table):
    """The course scenario, 100 rows: node 1 killed partway and restarted, then node 2. Driven
    by what insert-test prints: each crash waits until it reported that node down, and the
    command is paused (SIGSTOP) while the node restarts, so it cannot run out of rows before
    both faults, however slow the machine. Every row exists exactly once."""
    count = 100
    child = Child(
        [sys.executable, "-m", "multimaster_lab.course", "--count", str(count), "--interval", "0.1", "--table", table],
        env={**os.environ, **cluster.env()},
    )

    def inserted() -> int:
        return sum("inserted successfully" in line for line in child.lines)

    try:
        wait_for(lambda: inserted() >= 10, LAB_WAIT, "10 rows before crashing node 1")
        for i, address in enumerate(cluster.addresses, 1):
            # Each step costs the command a few rows at most; most are still to come.
            assert inserted() <= count - 30 and child.proc.poll() is None, child.stdout()
            mark = len(child.lines)
            cluster.crash(i)
            child.wait_line(
                lambda text: text.startswith(f"*** node {address} down"),
                detect_bound(),
                f"insert-test to report node {i} down",
                start=mark,
            )
            child.signal(signal.SIGSTOP)
            try:
                cluster.start(i)
            finally:
                child.signal(signal.SIGCONT)
            mark = len(child.lines)
            child.wait_line(
                lambda text: text.startswith(f"*** node {address} back up"),
                rejoin_bound(),
                f"insert-test to take node {i} back",
                start=mark,
            )
            child.wait_line(
                lambda text: "inserted successfully" in text and f"[{address}]" in text,
                LAB_WAIT,
                f"a row through node {i} after its restart",
                start=mark,
            )
        rc = child.finish(TIMEOUT)
    finally:
        child.close()
    stdout = child.stdout()
    print("\n".join(line for line in child.lines if line.startswith(("***", "Summary", "  "))))
    assert rc == 0, stdout + child.stderr()
    assert f"Summary: expected {count}, found {count}, distinct {count}, lost 0, duplicated 0" in stdout
    assert count_titles(cluster, table) == (count, count)


def test_missing_variable_names_it(cluster):
    done = insert_test({"AURORA_NODE1": "127.0.40.1"}, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "insert-test: AURORA_NODE2 is not set (the address of writer node 2: host or host:port)"
    )


def test_malformed_variable_names_it(cluster):
    done = insert_test({"AURORA_NODE1": "127.0.40.1", "AURORA_NODE2": "127.0.40.2:notaport"}, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("insert-test: AURORA_NODE2: bad node address")
    assert len(done.stderr.strip().splitlines()) == 1


def test_wrong_password_is_one_line_and_fast(cluster, table):
    t = time.monotonic()
    done = insert_test({**cluster.env(), "MYSQL_PWD": "wrong"}, "--table", table, timeout=30)
    assert time.monotonic() - t < 15
    assert done.returncode == 1
    assert "OperationalError [1045]" in done.stderr and "wrong" not in done.stderr
    assert count_titles(cluster, table) == (0, 0)


def test_nothing_reachable_within_bound():
    t = time.monotonic()
    done = insert_test(
        {"AURORA_NODE1": "127.0.99.1:9", "AURORA_NODE2": "127.0.99.2:9"}, "--failover-timeout", "2", timeout=30
    )
    assert time.monotonic() - t < 12
    assert done.returncode == 3
    assert "no node reachable: all nodes down after" in done.stderr


def test_rerun_refuses_to_duplicate_then_clears(cluster, table):
    assert insert_test(cluster.env(), "--count", "4", "--interval", "0", "--table", table).returncode == 0
    again = insert_test(cluster.env(), "--count", "4", "--interval", "0", "--table", table)
    assert again.returncode == 2 and "pass --clear" in again.stderr
    assert count_titles(cluster, table) == (4, 4)
    cleared = insert_test(cluster.env(), "--count", "4", "--interval", "0", "--table", table, "--clear")
    assert cleared.returncode == 0
    assert count_titles(cluster, table) == (4, 4)


def test_create_table_option(cluster):
    name = f"created_{os.getpid()}"
    try:
        done = insert_test(cluster.env(), "--count", "3", "--interval", "0", "--table", name, "--create-table")
        assert done.returncode == 0, done.stderr
        assert count_titles(cluster, name) == (3, 3)
    finally:
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")


def test_nodes_from_environment():
    from multimaster_lab.course import UsageError, nodes_from_env

    env = {
        "AURORA_NODE1": "127.0.40.1",
        "AURORA_NODE2": "127.0.40.2:3307",
        "AURORA_NODE3": "[::1]:3306",
        "AURORA_NODE5": "ignored: after a gap",
    }
    assert nodes_from_env(env) == ["127.0.40.1", "127.0.40.2:3307", "[::1]:3306"]
    with pytest.raises(UsageError, match="AURORA_NODE2 is not set"):
        nodes_from_env({"AURORA_NODE1": "a", "AURORA_NODE3": "c"})
    with pytest.raises(UsageError, match="AURORA_NODE1: bad node address"):
        nodes_from_env({"AURORA_NODE1": " ", "AURORA_NODE2": "b"})


def test_progress_draws_a_live_line_on_a_terminal(cluster, table):
    """--progress on a terminal: the live line (rows done of total) on stderr instead of a line
    per row; the summary on stdout as always."""
    import pty

    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURORA_NODE", "MYSQL_PWD", "DB_"))}
    env.update(cluster.env())
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "multimaster_lab.course",
                "--count",
                "12",
                "--interval",
                "0.05",
                "--table",
                table,
                "--progress",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=child,
            text=True,
            timeout=TIMEOUT,
        )
        os.close(child)
        child = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the terminal is closed once read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if child >= 0:
            os.close(child)
        os.close(parent)
    assert done.returncode == 0, done.stdout
    assert "12/12" in drawn.decode(errors="replace")
    assert "record inserted successfully" not in done.stdout
    assert "Summary: expected 12, found 12, distinct 12, lost 0, duplicated 0" in done.stdout
    assert count_titles(cluster, table) == (12, 12)
