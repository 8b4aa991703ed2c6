"""The chaos suite: thousands of keyed rows at full speed while nodes are killed with kill -9
and restarted at random, plus a SIGSTOP/SIGCONT episode. Every key must exist exactly once.
Also: flapping nodes cause no busy loop and no unbounded memory."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

import multimaster
from conftest import COLUMNS, PASSWORD, USER, DATABASE, COURSE_DDL, course_rows, heal
from faultproxy import FaultProxy
from multimaster.lab import Lab

BATCH = 250
MIN_ROWS = 2000
CRASHES = 4
RUN_BOUND = 420  # seconds for one chaos run: crashes, rejoins and 2000+ rows


@pytest.fixture(scope="module")
def lab3():
    """3 data nodes, no arbitrator: one crash leaves a majority of 2."""
    path = os.environ.get("MULTIMASTER_TEST_LAB3_DIR", "/tmp/multimaster-pytest-lab3")
    try:
        Lab.load(path).down()
    except Exception:
        pass
    lab = Lab(3, base_dir=path, hosts=["127.0.50.1", "127.0.50.2", "127.0.50.3"], arbitrator=False)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def synced(lab: Lab) -> bool:
    """Every node Synced, ready, and seeing every member (data nodes and arbitrator)."""
    members = len(lab.nodes) + (1 if lab.arbitrator else 0)
    try:
        return all(s["state"] == "Synced" and s["ready"] and s["cluster_size"] == members
                   for s in lab.status())
    except Exception:
        return False


def wait_synced(lab: Lab, timeout: float, hold: float = 3.0) -> None:
    """Until the cluster has been whole for `hold` seconds: a node thawed after eviction
    still reports Synced for a moment before it finds out and rejoins."""
    deadline = time.monotonic() + timeout
    whole_since = None
    while True:
        now = time.monotonic()
        if synced(lab):
            whole_since = whole_since or now
            if now - whole_since >= hold:
                return
        else:
            whole_since = None
        if now > deadline:
            raise AssertionError(f"cluster not Synced after {timeout} s: {describe(lab)}")
        time.sleep(0.5)


def describe(lab: Lab) -> str:
    try:
        return f"{lab.status()} arbitrator pid {lab.arbitrator_pid()}"
    except Exception as e:
        return repr(e)


def chaos(lab: Lab, rng: random.Random, log: list, done: threading.Event, failed: list) -> None:
    """kill -9 a random node and restart it, CRASHES times, with one SIGSTOP episode midway.
    One node at a time: the cluster keeps its majority."""
    t0 = time.monotonic()
    try:
        for k in range(CRASHES):
            wait_synced(lab, 120)
            time.sleep(rng.uniform(1.0, 3.0))
            i = rng.randint(1, len(lab.nodes))
            log.append(f"{time.monotonic() - t0:.1f}s crash {i}")
            lab.crash(i)
            time.sleep(rng.uniform(0.5, 2.0))
            lab.start(i)
            log.append(f"{time.monotonic() - t0:.1f}s started {i}")
            if k == 1:
                wait_synced(lab, 120)
                i = rng.randint(1, len(lab.nodes))
                log.append(f"{time.monotonic() - t0:.1f}s freeze {i}")
                lab.freeze(i)
                time.sleep(8)  # past Galera's suspect timeout: the node is evicted
                lab.thaw(i)
                log.append(f"{time.monotonic() - t0:.1f}s thawed {i}")
                time.sleep(5)  # let it find out it was evicted before judging the cluster
        wait_synced(lab, 180)
    except Exception as e:  # reported by the test
        failed.append(repr(e))
    finally:
        done.set()


def run_chaos(lab: Lab, table: str) -> None:
    seed = int(os.environ.get("CHAOS_SEED", time.time()))
    rng = random.Random(seed)
    print(f"chaos seed {seed}")
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = multimaster.MultiMaster(lab.addresses, DATABASE, USER, PASSWORD, connect_timeout=1.0,
                                 backoff_cap=1.0, failover_timeout=60, event_capacity=200)
    log: list = []
    failed: list = []
    done = threading.Event()
    thread = threading.Thread(target=chaos, args=(lab, rng, log, done, failed), daemon=True)
    started = time.monotonic()
    thread.start()
    written = 0
    try:
        while written < MIN_ROWS or not done.is_set():
            assert time.monotonic() - started < RUN_BOUND, f"chaos run over {RUN_BOUND} s: {log}"
            try:
                report = mm.insert_many(table, COLUMNS, course_rows(BATCH, start=written), key="title")
            except multimaster.Error as e:
                raise AssertionError(f"{e!r} after {log}; lab {describe(lab)}") from e
            assert report.rows == BATCH
            written += BATCH
        thread.join(timeout=60)
        assert not failed, failed
        assert len([x for x in log if 'crash' in x or 'freeze' in x]) == CRASHES + 1, log
        (rows, distinct, dup), = lab.sql(1, f"""SET SESSION wsrep_sync_wait=1;
            SELECT COUNT(*), COUNT(DISTINCT title),
                   (SELECT COUNT(*) FROM (SELECT title FROM {DATABASE}.{table}
                                          GROUP BY title HAVING COUNT(*) > 1) d)
            FROM {DATABASE}.{table}""")
        assert (int(rows), int(distinct), int(dup)) == (written, written, 0), log
        # ...and they are exactly the keys written: Title0 .. Title{written - 1}.
        (expected,), = lab.sql(1, f"SELECT COUNT(DISTINCT title) FROM {DATABASE}.{table} "
                                  f"WHERE CAST(SUBSTRING(title, 6) AS UNSIGNED) < {written}")
        assert int(expected) == written
        events = mm.events()
        assert len(events) <= 200
        assert {e["kind"] for e in events} >= {"node_down", "node_up"}
        print(f"chaos: {written} rows in {time.monotonic() - started:.0f} s; {log}; "
              f"stats {mm.stats()}")
    finally:
        mm.close()
        done.wait(timeout=300)
        heal(lab)
        lab.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")


def test_chaos_two_nodes_and_arbitrator(lab):
    heal(lab)
    wait_synced(lab, 120)
    run_chaos(lab, f"chaos2_{os.getpid()}")


def test_chaos_three_nodes(lab3):
    run_chaos(lab3, f"chaos3_{os.getpid()}")


def test_all_down_waits_without_spinning():
    """With every node refusing, a call waits out failover_timeout on backoff, not on the CPU."""
    mm = multimaster.MultiMaster(["127.0.99.1:9", "127.0.99.2:9"], user="u", password="p",
                                 failover_timeout=3.0, backoff_base=0.05, backoff_cap=0.5)
    cpu, wall = time.process_time(), time.monotonic()
    with pytest.raises(multimaster.AllNodesDownError):
        mm.query("SELECT 1")
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert wall >= 3.0
    assert cpu < 0.25 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"


def test_flapping_node_keeps_memory_bounded(make_mm, cluster):
    """A node that goes down and up dozens of times: the event log stays a bounded ring."""
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as proxy:
        mm = make_mm(["%s:%d" % proxy.address, cluster.addresses[1]], backoff_base=0.01,
                     backoff_cap=0.05, event_capacity=20)
        deadline = time.monotonic() + 8
        flaps = 0
        while time.monotonic() < deadline:
            proxy.kill_connections()
            proxy.refuse()
            for _ in range(3):
                mm.query("SELECT 1")
            proxy.pass_through()
            time.sleep(0.1)
            for _ in range(3):
                mm.query("SELECT 1")
            flaps += 1
        events = mm.events()
        downs = [e for e in events if e["kind"] == "node_down"]
    assert flaps > 20
    assert len(events) == 20 and downs
    assert mm.stats()[0]["reconnects"] > 10
