"""Branches of the request loop that only a fault reaches, each made to happen on the real lab:
a duplicate key on the retry of a lost write, a read retried elsewhere, an idempotent write
whose reply was lost after it committed, a statement that exhausts max_retries, causal reads
(and the session they must leave as they found it). The fence has its own test, test_fence.py.

Each test checks that its fault fired, and its outcome check fails if the mechanism it guards
is removed (the docstrings say how). A reply lost on a dead node is made with the proxy's
`crash=True` (the node dies with the request: every later connect refused), since a connection
dropped by a node that still answers is another case (test_ambiguous.py, test_slow.py)."""

from __future__ import annotations

import itertools
import os
import threading
from typing import Callable, Iterator, List

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE

from support.bounds import wait_for
from support.faultproxy import FaultProxy

_names = itertools.count()


@pytest.fixture
def proxy(cluster) -> Iterator[FaultProxy]:
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


@pytest.fixture
def new_table(cluster) -> Iterator[Callable[[str], str]]:
    """Creates tables of a given shape (`new_table("k INT PRIMARY KEY, v INT")`), dropped
    afterwards."""
    made: List[str] = []

    def make(columns: str) -> str:
        name = f"b{os.getpid()}_{next(_names)}"
        cluster.sql(1, f"CREATE TABLE {DATABASE}.{name} ({columns})")
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
        except Exception:
            pass


def causal_rows(cluster, i: int, sql: str) -> list:
    """Rows of `sql` on node i, read causally (they include every commit in the cluster)."""
    return cluster.sql(i, f"SET SESSION wsrep_sync_wait=1; {sql}")


def events(mm, kind: str) -> List[dict]:
    return [e for e in mm.events() if e["kind"] == kind]


def test_duplicate_key_on_the_retry_means_the_lost_write_committed(make_mm, cluster, proxy, new_table):
    """Remove the "duplicate key after ambiguity" branch and the retry raises IntegrityError;
    make every 1062 a success and the last, plain duplicate stops raising."""
    table = new_table("k VARCHAR(40), v VARCHAR(40), UNIQUE KEY (k)")
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    sql = f"INSERT INTO {table} (k, v) VALUES (?, ?)"
    proxy.drop_after_request(match=b"dup-1", crash=True)  # applied on node 1, which dies
    # The key points elsewhere on purpose: with the row's own key the check would find the
    # committed row and never write again. Here it looks for v='nowhere', so it stands for any
    # check that misses a committed row (a key that does not quite identify the row, a
    # statement that commits after its check); the write is then repeated (request 0: the
    # proxy first, then node 2) and the unique index on k refuses it with 1062, which can
    # only mean the lost write had committed.
    n = mm.execute(sql, ("dup-1", "first"), key=(table, "v", "nowhere")).rowcount
    assert proxy.drops == 1
    assert n == 1
    assert causal_rows(cluster, 2, f"SELECT k, v FROM {DATABASE}.{table}") == [("dup-1", "first")]
    resolved = [(e["node"], e["detail"]) for e in events(mm, "ambiguous_resolved")]
    assert resolved == [
        (proxy.endpoint, "v='nowhere' not found: writing it again"),
        (cluster.addresses[1], "duplicate key on the retry: the lost write had committed"),
    ]
    # Without a lost reply before it, a duplicate is the caller's error, as always.
    with pytest.raises(multimaster.IntegrityError) as e:
        mm.execute(sql, ("dup-1", "second"))
    assert e.value.errno == 1062
    assert causal_rows(cluster, 2, f"SELECT k, v FROM {DATABASE}.{table}") == [("dup-1", "first")]


def test_read_whose_connection_is_lost_is_retried_on_the_other_node(make_mm, cluster, proxy, table):
    """Node 1 dies with the read in flight. Treat a lost read like an unkeyed write and it
    raises AmbiguousCommitError instead."""
    # Written on node 2 itself, so node 2 answers with both rows without waiting for anything.
    cluster.sql(2, f"INSERT INTO {DATABASE}.{table} (title) VALUES ('read-1'), ('read-2')")
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"LIKE 'read-%'", crash=True)
    rows = mm.query(f"SELECT title FROM {table} WHERE title LIKE 'read-%' ORDER BY title")  # request 0: the proxy
    assert proxy.drops == 1
    assert rows == [("read-1",), ("read-2",)]
    assert [e["node"] for e in events(mm, "node_down")] == [proxy.endpoint]
    assert [(e["node"], e["detail"]) for e in events(mm, "failover")] == [
        (cluster.addresses[1], f"statement failed over from {proxy.endpoint}")
    ]


def test_read_whose_connection_a_live_node_drops_is_not_retried(make_mm, cluster, proxy, table):
    """Node 1 drops the read's connection but still answers (its liveness check through the
    proxy succeeds): the read broke a live node's connection, so it raises OperationalError
    "still answers" at once, is not run on node 2, and no node is marked down. Keep the old
    rule (a lost read is retried elsewhere) and it returns the rows, with a failover event."""
    cluster.sql(2, f"INSERT INTO {DATABASE}.{table} (title) VALUES ('read-1'), ('read-2')")
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"LIKE 'read-%'")
    with pytest.raises(multimaster.OperationalError) as e:
        mm.query(f"SELECT title FROM {table} WHERE title LIKE 'read-%' ORDER BY title")  # request 0: the proxy
    assert proxy.drops == 1
    assert type(e.value) is multimaster.OperationalError and "still answers" in str(e.value), repr(e.value)
    assert events(mm, "node_down") == [] and events(mm, "failover") == []
    assert [s["state"] for s in mm.stats()] == ["up", "up"]
    assert mm.stats()[1]["statements"] == 0  # never sent to node 2


def test_idempotent_write_with_reply_lost_after_commit_is_applied_once(make_mm, cluster, proxy, new_table):
    """Ignore idempotent=True and the lost reply raises AmbiguousCommitError; had the write not
    committed before its reply was lost, the retry would report 1 row inserted, not 0."""
    table = new_table("k INT PRIMARY KEY, v INT")
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"ON DUPLICATE KEY", crash=True)
    n = mm.execute(
        f"INSERT INTO {table} (k, v) VALUES (1, 5) ON DUPLICATE KEY UPDATE v = 5", idempotent=True
    ).rowcount  # request 0: the proxy first
    assert proxy.drops == 1
    # The retry found the row the lost write had inserted and changed nothing. (It runs on
    # node 2; should it meet the write being applied there, it gets a certification conflict,
    # 1213, and runs again: the same answer.)
    assert n == 0
    assert causal_rows(cluster, 2, f"SELECT k, v FROM {DATABASE}.{table}") == [("1", "5")]
    assert [e["node"] for e in events(mm, "node_down")] == [proxy.endpoint]


def test_execute_gives_up_after_max_retries(make_mm, cluster, new_table):
    """Retry without a bound and the call waits out the lock instead (and updates the row);
    do not retry 1205 at all and it raises after one attempt, without `.attempts == 3`."""
    table = new_table("k INT PRIMARY KEY, v INT")
    cluster.sql(1, f"INSERT INTO {DATABASE}.{table} VALUES (1, 0)")
    hold = 120  # seconds; the locker is killed as soon as the test is done with it
    sleeper = f"DO SLEEP({hold})"
    failures: list = []

    def lock_row() -> None:
        try:
            cluster.sql(
                1,
                f"BEGIN; SELECT v FROM {DATABASE}.{table} WHERE k = 1 FOR UPDATE; {sleeper}; ROLLBACK",
                timeout=hold + 30,
            )
        except Exception as e:  # killed below: the client reports the lost connection
            failures.append(e)

    def locker() -> List[str]:
        # The locker's transaction holds the row lock once it sleeps.
        return [
            tid
            for (tid,) in cluster.sql(
                1,
                "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX "
                f"WHERE trx_query = '{sleeper}' AND trx_rows_locked > 0",
            )
        ]

    thread = threading.Thread(target=lock_row, daemon=True)
    thread.start()
    try:
        wait_for(lambda: locker(), 30, "another session to hold the row lock on node 1")
        mm = make_mm([cluster.addresses[0]], max_retries=2)
        with pytest.raises(multimaster.OperationalError) as e:
            mm.execute(f"SET STATEMENT innodb_lock_wait_timeout=1 FOR UPDATE {table} SET v = 7 WHERE k = 1")
        assert locker(), "the lock was released before the statement gave up"
    finally:
        for tid in locker():
            cluster.sql(1, f"KILL {tid}")
        thread.join(timeout=60)
    assert type(e.value) is multimaster.OperationalError
    assert e.value.attempts == 3 and e.value.errno == 1205
    assert "gave up after 3 attempts" in str(e.value)
    retries = events(mm, "retry")
    assert len(retries) == 2 and all(r["detail"].startswith("(1205)") for r in retries)
    assert causal_rows(cluster, 1, f"SELECT v FROM {DATABASE}.{table} WHERE k = 1") == [("0",)]


def test_causal_read_sees_sync_wait_then_resets_it(make_mm, cluster):
    """Drop the SET before a causal read and the first answer is 0; drop the reset after it and
    the plain read on the same (only) pooled connection answers 1."""
    mm = make_mm([cluster.addresses[0]])
    assert mm.query("SELECT @@session.wsrep_sync_wait", causal=True) == [(1,)]
    assert mm.query("SELECT @@session.wsrep_sync_wait") == [(0,)]
    assert mm.stats()[0]["flavour"] == "galera"


def test_failed_causal_read_does_not_leave_the_session_causal(make_mm, cluster):
    """A causal read that fails must still reset its session: left causal in the pool, the
    connection would make every later read on it wait for the cluster to sync."""
    mm = make_mm([cluster.addresses[0]])
    with pytest.raises(multimaster.ProgrammingError) as e:
        mm.query("SELEC broken", causal=True)
    assert e.value.errno == 1064
    assert mm.query("SELECT @@session.wsrep_sync_wait") == [(0,)]
