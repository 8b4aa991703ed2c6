"""Certification conflicts (1213), a node outside the Primary component (1047), and
transactions pinned to one node and replayed."""

from __future__ import annotations

import threading

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows

from support.bounds import wait_for
from support.labs import count_titles


@pytest.fixture
def counters(cluster, table):
    cluster.sql(1, f"CREATE TABLE {DATABASE}.{table}_c (k INT PRIMARY KEY, n INT NOT NULL)")
    cluster.sql(1, f"INSERT INTO {DATABASE}.{table}_c VALUES (1, 0), (2, 0)")
    yield f"{table}_c"
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}_c")


def test_conflicting_writes_through_two_nodes_all_land(make_mm, counters, cluster):
    """Two instances increment the same row through different nodes at once: Galera rejects
    one of each colliding pair at certification (1213); each is retried, none is lost."""
    a = make_mm([cluster.addresses[0]], max_retries=50, backoff_base=0.01, backoff_cap=0.1)
    b = make_mm([cluster.addresses[1]], max_retries=50, backoff_base=0.01, backoff_cap=0.1)
    errors: list = []

    def bump(mm) -> None:
        try:
            for _ in range(150):
                mm.execute(f"UPDATE {counters} SET n = n + 1 WHERE k = 1")
        except Exception as e:  # asserted below
            errors.append(e)

    threads = [threading.Thread(target=bump, args=(mm,)) for mm in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors
    ((n,),) = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT n FROM {DATABASE}.{counters} WHERE k = 1")
    assert n == "300"
    retries = [e for mm in (a, b) for e in mm.events() if e["kind"] == "retry"]
    assert retries and all("1213" in e["detail"] for e in retries)


def test_transaction_conflict_is_replayed(make_mm, counters, cluster):
    """A transaction on node 1 loses certification to a write committed through node 2 while it
    was open: it is rolled back and replayed, and both writes count."""
    mm = make_mm([cluster.addresses[0]])
    other = make_mm([cluster.addresses[1]])

    def body(tx):
        ((n,),) = tx.query(f"SELECT n FROM {counters} WHERE k = 2 FOR UPDATE")
        tx.execute(f"UPDATE {counters} SET n = ? WHERE k = 2", (n + 10,))
        if tx.attempt == 1:
            other.execute(f"UPDATE {counters} SET n = n + 1 WHERE k = 2")
        return n

    result = mm.transaction(body)
    assert result.attempts == 2
    assert result.value == 1 and result.node == cluster.addresses[0]
    ((n,),) = mm.query(f"SELECT n FROM {counters} WHERE k = 2", causal=True)
    assert n == 11
    assert any("transaction replayed" in e["detail"] for e in mm.events())


def test_transaction_commits_all_or_nothing(make_mm, table, cluster):
    mm = make_mm()

    def body(tx):
        tx.execute(f"INSERT INTO {table} (title) VALUES ('a')")
        tx.execute(f"INSERT INTO {table} (title) VALUES (?)", ("x" * 41,))  # DataError

    with pytest.raises(multimaster.DataError):
        mm.transaction(body)
    assert count_titles(cluster, table) == (0, 0)

    result = mm.transaction(
        lambda tx: [tx.execute(f"INSERT INTO {table} (title) VALUES (?)", (t,)) for t in ("b", "c")]
    )
    assert result.value == [1, 1] and result.attempts == 1
    assert count_titles(cluster, table) == (2, 2)


def test_transaction_handle_is_closed_after_the_body(make_mm, table):
    mm = make_mm()
    kept = []
    mm.transaction(lambda tx: kept.append(tx))
    with pytest.raises(multimaster.InterfaceError, match="over"):
        kept[0].execute("SELECT 1")


def test_transaction_gives_up_after_its_attempts(make_mm, counters, cluster):
    mm = make_mm([cluster.addresses[0]], backoff_base=0.01)
    other = make_mm([cluster.addresses[1]])

    def always_conflicts(tx):
        tx.query(f"SELECT n FROM {counters} WHERE k = 2 FOR UPDATE")
        tx.execute(f"UPDATE {counters} SET n = n + 100 WHERE k = 2")
        other.execute(f"UPDATE {counters} SET n = n + 1 WHERE k = 2")

    with pytest.raises(multimaster.OperationalError) as e:
        mm.transaction(always_conflicts, attempts=3)
    assert e.value.attempts == 3 and "gave up after 3 attempts" in str(e.value)
    ((n,),) = mm.query(f"SELECT n FROM {counters} WHERE k = 2", causal=True)
    assert n == 3  # only the other instance's increments committed


def test_non_primary_node_is_skipped_until_ready(make_mm, table, cluster):
    """Node 2 isolated from the group answers 1047: it drains, writes go to node 1 until it is
    back."""
    mm = make_mm(backoff_cap=0.5)
    mm.query("SELECT 1")
    mm.query("SELECT 1")
    isolate = "SET GLOBAL wsrep_provider_options='gmcast.isolate={}'"
    cluster.sql(2, isolate.format(1))
    try:
        wait_for(lambda: _ready(cluster, 2) is False, 30, "node 2 to leave the Primary component")
        report = mm.insert_many(table, COLUMNS, course_rows(10), key="title")
        assert report.per_node == {cluster.addresses[0]: 10, cluster.addresses[1]: 0}
        # A refusal is not death: the node is drained by its own state (README "Cluster
        # states and membership"), read at its first 1047 or by the periodic read.
        assert mm.stats()[1]["state"] == "draining"
        assert "wsrep_cluster_status=non-Primary" in (mm.stats()[1]["state_reason"] or "")
    finally:
        cluster.sql(2, isolate.format(0))
    wait_for(lambda: _ready(cluster, 2), 60, "node 2 to rejoin")
    wait_for(lambda: mm.query("SELECT 1") and mm.stats()[1]["state"] == "up", 30, "node 2 back in rotation")
    report = mm.insert_many(table, COLUMNS, course_rows(10, start=10), key="title")
    assert report.per_node[cluster.addresses[1]] == 5
    assert count_titles(cluster, table) == (20, 20)


def _ready(cluster, i):
    try:
        ((value,),) = cluster.sql(
            i, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY'"
        )
        return value == "ON"
    except Exception:
        return None
