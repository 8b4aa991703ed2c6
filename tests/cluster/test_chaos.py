"""The chaos suite: thousands of keyed rows at full speed while nodes are killed with kill -9
and restarted at random, plus a SIGSTOP/SIGCONT episode. Every key must exist exactly once.
Also: flapping nodes cause no busy loop and no unbounded memory."""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, Dict

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_rows
from multimaster_lab.lab import Lab

from support.bounds import rejoin_bound, wait_for
from support.faultproxy import FaultProxy
from support.labs import COURSE_DDL, heal

BATCH = 250
MIN_ROWS = 2000
CRASHES = 4
RUN_BOUND = 420  # seconds for one chaos run: crashes, rejoins and 2000+ rows


def synced(lab: Lab) -> bool:
    """Every node ready (the lab's check: Synced, wsrep_ready, Primary) and seeing every member
    (data nodes and arbitrator)."""
    members = len(lab.nodes) + (1 if lab.arbitrator else 0)
    try:
        return all(s["ready"] and s["cluster_size"] == members for s in lab.status())
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


def chaos(lab: Lab, rng: random.Random, log: list, crashes: list, done: threading.Event, failed: list) -> None:
    """kill -9 a random node and restart it, CRASHES times, with one SIGSTOP episode midway.
    One node at a time: the cluster keeps its majority. Each crash is recorded in `crashes`
    as (time.time() just before the kill, node index)."""
    t0 = time.monotonic()
    try:
        for k in range(CRASHES):
            wait_synced(lab, 120)
            time.sleep(rng.uniform(1.0, 3.0))
            i = rng.randint(1, len(lab.nodes))
            log.append(f"{time.monotonic() - t0:.1f}s crash {i}")
            crashes.append((time.time(), i))
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


EVENTS = 100_000  # room for every event of a run: the counts below must be complete


def run_chaos(lab: Lab, table: str, concurrency: int = 1, batch: int = 1, interval: float = 0.0) -> None:
    """Writes keyed rows until the chaos thread is done: one at a time at full speed, or with
    `concurrency` statements in flight and `batch` rows in each (paced by `interval`, so that
    a batched run does not grow the table past what a rejoining node can catch up with)."""
    per_call = BATCH * batch
    seed = int(os.environ.get("CHAOS_SEED", time.time()))
    rng = random.Random(seed)
    print(f"chaos seed {seed}")
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = multimaster.MultiMaster(
        lab.addresses,
        DATABASE,
        USER,
        PASSWORD,
        connect_timeout=1.0,
        backoff_cap=1.0,
        failover_timeout=60,
        event_capacity=EVENTS,
    )
    log: list = []
    crashes: list = []
    failed: list = []
    done = threading.Event()
    thread = threading.Thread(target=chaos, args=(lab, rng, log, crashes, done, failed), daemon=True)
    totals = {"failovers": 0, "ambiguous_resolved": 0, "rerouted": 0, "retries": 0}
    started = time.monotonic()
    thread.start()
    written = 0
    try:
        while written < MIN_ROWS or not done.is_set():
            assert time.monotonic() - started < RUN_BOUND, f"chaos run over {RUN_BOUND} s: {log}"
            try:
                report = mm.insert_many(
                    table,
                    COLUMNS,
                    course_rows(per_call, start=written),
                    key="title",
                    concurrency=concurrency,
                    batch=batch,
                    interval=interval,
                )
            except multimaster.Error as e:
                raise AssertionError(f"{e!r} after {log}; lab {describe(lab)}") from e
            assert report.rows == per_call
            for name in totals:
                totals[name] += getattr(report, name)
            written += per_call
        thread.join(timeout=60)
        assert not failed, failed
        assert len(crashes) == CRASHES and len([x for x in log if "freeze" in x]) == 1, log
        ((rows, distinct, dup),) = lab.sql(
            1,
            f"""SET SESSION wsrep_sync_wait=1;
            SELECT COUNT(*), COUNT(DISTINCT title),
                   (SELECT COUNT(*) FROM (SELECT title FROM {DATABASE}.{table}
                                          GROUP BY title HAVING COUNT(*) > 1) d)
            FROM {DATABASE}.{table}""",
        )
        assert (int(rows or 0), int(distinct or 0), int(dup or 0)) == (written, written, 0), log
        # ...and they are exactly the keys written: Title0 .. Title{written - 1}.
        ((expected,),) = lab.sql(
            1,
            f"SELECT COUNT(DISTINCT title) FROM {DATABASE}.{table} "
            f"WHERE CAST(SUBSTRING(title, 6) AS UNSIGNED) < {written}",
        )
        assert int(expected or 0) == written
        # Every fault fired and was seen: the loop writes through every node at full speed,
        # so each kill -9 shows as a node_down event for that node, after the kill and
        # before the next one (the next comes only once the cluster is whole again).
        events = mm.events()
        assert len(events) < EVENTS, "the event ring overflowed: the counts would be partial"
        downs = [e for e in events if e["kind"] == "node_down"]
        assert len(downs) >= CRASHES, (downs, log)
        for k, (at, i) in enumerate(crashes):
            until = crashes[k + 1][0] if k + 1 < len(crashes) else float("inf")
            assert any(e["node"] == lab.addresses[i - 1] and at <= e["time"] < until for e in downs), (
                f"crash {k + 1} (node {i}) never seen: {log}; {downs}"
            )
        assert totals["failovers"] >= CRASHES and totals["rerouted"] >= CRASHES, totals
        assert sum(s["failovers"] for s in mm.stats()) >= CRASHES
        print(
            f"chaos: {written} rows in {time.monotonic() - started:.0f} s; {log}; "
            f"node_down {len(downs)}, summed reports {totals}; stats {mm.stats()}"
        )
    finally:
        mm.close()
        done.wait(timeout=300)
        heal(lab)
        lab.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")


# The loop one row at a time, four rows in flight, and batches of 100 rows two at a time.
MODES: Dict[str, Dict[str, Any]] = {
    "sequential": {},
    "concurrency4": {"concurrency": 4},
    "batch100": {"concurrency": 2, "batch": 100, "interval": 0.1},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_chaos_two_nodes_and_arbitrator(lab, mode):
    heal(lab)
    wait_synced(lab, 120)
    run_chaos(lab, f"chaos2_{mode}_{os.getpid()}", **MODES[mode])


def test_chaos_three_nodes(lab3):
    run_chaos(lab3, f"chaos3_{os.getpid()}")


def test_all_down_waits_without_spinning():
    """With every node refusing, a call waits out failover_timeout on backoff, not on the CPU."""
    mm = multimaster.MultiMaster(
        ["127.0.99.1:9", "127.0.99.2:9"],
        user="u",
        password="p",
        failover_timeout=3.0,
        backoff_base=0.05,
        backoff_cap=0.5,
    )
    cpu, wall = time.process_time(), time.monotonic()
    with pytest.raises(multimaster.AllNodesDownError):
        mm.query("SELECT 1")
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert wall >= 3.0
    assert cpu < 0.25 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"


FLAPS = 25
WARMUP = 5  # flaps before the first memory reading: pools, threads and caches are in place


def rss() -> int:
    """This process's resident memory, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_flapping_node_is_counted_each_time_and_memory_stays_bounded(make_mm, cluster):
    """A node that goes down and comes back FLAPS times: each flap is seen (down, then up
    again: one reconnect each), the event log stays a ring of event_capacity, and the
    process's memory does not grow with the flaps."""
    host, port = cluster.addresses[0].split(":")
    connect, cap = 1.0, 0.05
    # Each state is reached by the next request or probe: a connect and a backoff, twice.
    flap_bound = rejoin_bound(cap, connect)
    with FaultProxy((host, int(port))) as proxy:
        proxied = proxy.endpoint
        mm = make_mm(
            [proxied, cluster.addresses[1]],
            backoff_base=0.01,
            backoff_cap=cap,
            connect_timeout=connect,
            event_capacity=20,
        )

        def reaches(state: str) -> bool:
            mm.query("SELECT 1")  # requests alternate between the nodes and drive the probes
            return mm.stats()[0]["state"] == state

        before = 0  # the RSS after WARMUP flaps
        for flap in range(FLAPS):
            if flap == WARMUP:
                before = rss()
            proxy.kill_connections()
            proxy.refuse()
            wait_for(lambda: reaches("down"), flap_bound, f"flap {flap}: the node seen down", every=0.01)
            proxy.pass_through()
            wait_for(lambda: reaches("up"), flap_bound, f"flap {flap}: the node back up", every=0.01)
        after = rss()
        events = mm.events()
        stats = mm.stats()
    assert stats[0]["reconnects"] == FLAPS, stats
    assert stats[1]["state"] == "up" and stats[1]["reconnects"] == 0, stats
    # At least 2 * FLAPS events happened (a node_down and a node_up each); the newest 20 stay.
    assert len(events) == 20
    assert {e["kind"] for e in events} >= {"node_down", "node_up"}
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    grown = after - before
    print(f"rss {before / 2**20:.1f} MB after {WARMUP} flaps, {after / 2**20:.1f} MB after {FLAPS}")
    assert grown < 64 * 2**20, f"memory grew by {grown / 2**20:.1f} MB over {FLAPS - WARMUP} flaps"
