"""Transactions through the DB-API (autocommit off, the default) against the real lab: a
transaction interrupted by kill -9 between its statements is replayed on the survivor and
commits once; a COMMIT whose reply is lost raises AmbiguousCommitError and is never repeated; a
hot row updated from two connections pinned to two nodes ends with the exact count (its 1213
conflicts replayed); a replay whose read differs raises TransactionReplayError and commits
nothing; rollback after the node died raises nothing; autocommit=True is as before. Every test
checks what is in the database afterwards."""

from __future__ import annotations

import threading
from typing import Iterator, List

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE

from support.bounds import SLACK, wait_for
from support.faultproxy import FaultProxy
from support.interrupt import CTRL_C_PRELUDE, interrupt
from support.labs import count_titles, heal

MARKER = "multimaster_commit_marker"  # the table commit_marker=True writes (dbapi.connect)


@pytest.fixture
def hot(cluster) -> Iterator[str]:
    """A one-row counter table (a primary key, so that Galera certifies by row)."""
    name = f"hot_{threading.get_ident() % 100000}"
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    cluster.sql(1, f"CREATE TABLE {DATABASE}.{name} (id INT PRIMARY KEY, n INT NOT NULL)")
    cluster.sql(1, f"INSERT INTO {DATABASE}.{name} VALUES (1, 0)")
    yield name
    try:
        cluster.sql(2, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    except Exception:
        pass


def counter(cluster, hot: str) -> int:
    """The counter, read causally on a live node."""
    for i in (1, 2):
        if cluster.pid(i) is None:
            continue
        ((n,),) = cluster.sql(i, f"SET SESSION wsrep_sync_wait=1; SELECT n FROM {DATABASE}.{hot} WHERE id = 1")
        return int(n)
    raise AssertionError("no node could read the counter")


def insert(cur, table: str, title: str) -> None:
    cur.execute(f"INSERT INTO {table} (title) VALUES (?)", (title,))
    assert cur.rowcount == 1


def test_default_is_a_transaction_and_rollback_undoes_it(make_mm, table, cluster) -> None:
    conn = multimaster.connect(make_mm())
    assert conn.autocommit is False and not conn.in_transaction
    cur = conn.cursor()
    insert(cur, table, "rolled-back")
    assert conn.in_transaction
    assert count_titles(cluster, table) == (0, 0)  # not committed yet
    conn.rollback()
    assert not conn.in_transaction and count_titles(cluster, table) == (0, 0)
    insert(cur, table, "kept")
    cur.execute(f"SELECT title FROM {table}")
    assert cur.fetchall() == [("kept",)]  # its own uncommitted row, in its session
    conn.commit()
    assert count_titles(cluster, table) == (1, 1)
    # Sent as text, COMMIT and ROLLBACK do what the methods do: the session follows.
    insert(cur, table, "text-rollback")
    cur.execute("ROLLBACK")
    assert not conn.in_transaction
    insert(cur, table, "text-commit")
    cur.execute("COMMIT")
    assert not conn.in_transaction and count_titles(cluster, table) == (2, 2)
    conn.ping()
    assert conn.character_set_name() == "utf8mb4"
    assert "MariaDB" in conn.get_server_info()
    conn.close()
    assert conn.closed


def test_a_transaction_begins_causally_and_then_reads_its_snapshot(make_mm, table, cluster) -> None:
    """START TRANSACTION waits until its node has applied every write committed before it (the
    node counts the wait in wsrep_causal_reads), and inside the transaction the session is back
    at wsrep_sync_wait=0: its reads are the snapshot, with nothing to wait for."""

    def waits(i: int) -> int:
        ((_, n),) = cluster.sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_causal_reads'")
        return int(n)

    conn = multimaster.connect(make_mm())
    before = {i: waits(i) for i in (1, 2)}
    cur = conn.cursor()
    insert(cur, table, "causal")
    i = cluster.addresses.index(conn.node) + 1
    assert waits(i) > before[i]
    assert cur.execute("SELECT @@SESSION.wsrep_sync_wait").fetchone() == (0,)
    conn.commit()
    assert count_titles(cluster, table) == (1, 1)
    # Without causal reads the begin does not wait.
    fast = multimaster.connect(make_mm(), causal_reads=False)
    before = {i: waits(i) for i in (1, 2)}
    insert(fast.cursor(), table, "not-causal")
    i = cluster.addresses.index(fast.node) + 1
    assert waits(i) == before[i]
    fast.commit()
    assert count_titles(cluster, table) == (2, 2)


def test_autocommit_true_is_unchanged(make_mm, table, cluster) -> None:
    conn = multimaster.connect(make_mm(), autocommit=True)
    insert(conn.cursor(), table, "at-once")
    assert not conn.in_transaction and count_titles(cluster, table) == (1, 1)
    with pytest.raises(multimaster.NotSupportedError):
        conn.rollback()
    # Turning autocommit on commits the open transaction, as MySQL's SET autocommit=1 does.
    off = multimaster.connect(make_mm())
    insert(off.cursor(), table, "then-on")
    off.autocommit = True
    assert count_titles(cluster, table) == (2, 2)


def test_kill_between_statements_replays_and_commits_once(make_mm, table, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))  # pinned to node 1
    cur = conn.cursor()
    insert(cur, table, "a")
    insert(cur, table, "b")
    cluster.crash(1)
    insert(cur, table, "c")  # node 1 is gone: replayed on node 2, then run there
    conn.commit()
    assert count_titles(cluster, table) == (3, 3)
    retries = [e for e in conn.multimaster.events() if e["kind"] == "retry"]
    assert any("transaction replayed" in e["detail"] for e in retries), retries


def test_rollback_after_the_node_died_raises_nothing(make_mm, table, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))
    cur = conn.cursor()
    insert(cur, table, "gone")
    cluster.crash(1)
    conn.rollback()  # the transaction died with its node: nothing to raise
    assert not conn.in_transaction
    insert(cur, table, "next")  # a new transaction, on node 2
    conn.commit()
    assert count_titles(cluster, table) == (1, 1)


@pytest.fixture
def proxy(cluster) -> Iterator[FaultProxy]:
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


def markers(cluster) -> int:
    ((n,),) = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {DATABASE}.{MARKER}")
    return int(n)


@pytest.mark.parametrize("marker", [False, True], ids=["no-marker", "marker"])
@pytest.mark.parametrize("applied", [True, False], ids=["reply-lost", "request-lost"])
def test_lost_commit_commits_once_or_is_ambiguous(make_mm, table, cluster, proxy, applied, marker) -> None:
    """A COMMIT lost on its way (request-lost) or on its way back (reply-lost), node 1 gone
    with it. Its session is fenced first (its process gone: the proxy refuses). Without a
    marker: AmbiguousCommitError, nothing replayed, the rows there once or not at all. With
    commit_marker=True the marker row written inside the transaction settles it: found, it
    had committed (done); absent, it had not (replayed on node 2, committed). Either way the
    rows are there once; the next transaction and close() delete the markers."""
    if marker:
        cluster.sql(2, f"DROP TABLE IF EXISTS {DATABASE}.{MARKER}")  # created again on first use
    mm = make_mm([proxy.endpoint, cluster.addresses[1]], policy="sequential")
    conn = multimaster.connect(mm, commit_marker=marker)
    cur = conn.cursor()
    # The marker stays in the connection's database whatever the session USEs.
    cluster.sql(2, "CREATE DATABASE IF NOT EXISTS mm_marker_other")
    cur.execute("USE mm_marker_other")
    qualified = f"{DATABASE}.{table}"
    insert(cur, qualified, "x1")
    insert(cur, qualified, "x2")
    if applied:
        proxy.drop_after_request(match=b"COMMIT", crash=True)
    else:
        proxy.drop_before_request(match=b"COMMIT", crash=True)
    if not marker:
        with pytest.raises(multimaster.AmbiguousCommitError) as e:
            conn.commit()
        assert proxy.drops == 1
        assert e.value.statement == "COMMIT" and e.value.node == proxy.endpoint
        assert not conn.in_transaction
        assert count_titles(cluster, table) == ((2, 2) if applied else (0, 0))
        return
    conn.commit()
    assert proxy.drops == 1 and not conn.in_transaction
    assert count_titles(cluster, table) == (2, 2)
    verdict = "found: committed" if applied else "absent: replaying"
    resolved = [e["detail"] for e in mm.events() if e["kind"] == "ambiguous_resolved"]
    assert any(verdict in d for d in resolved), resolved
    insert(cur, qualified, "x3")  # a second transaction deletes the first one's marker
    conn.commit()
    assert markers(cluster) == 1
    conn.close()
    assert markers(cluster) == 0 and count_titles(cluster, table) == (3, 3)


def test_hot_row_from_two_nodes_ends_with_the_exact_count(make_mm, hot, cluster) -> None:
    """Two connections pinned to the two nodes (round robin: one slot each) add 1 to the same
    row in transactions: Galera's certification aborts one side again and again (1213, at a
    statement or at COMMIT), each is replayed, and no increment is lost or doubled."""
    mm = make_mm()
    conns = [multimaster.connect(mm), multimaster.connect(mm)]
    each = 40
    errors: List[BaseException] = []

    def bump(conn) -> None:
        try:
            cur = conn.cursor()
            for _ in range(each):
                cur.execute(f"UPDATE {hot} SET n = n + 1 WHERE id = 1")
                assert cur.rowcount == 1
                conn.commit()
        except BaseException as e:  # asserted below
            errors.append(e)

    threads = [threading.Thread(target=bump, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert counter(cluster, hot) == 2 * each
    replays = [e for e in mm.events() if e["kind"] == "retry" and "transaction replayed" in e["detail"]]
    assert replays, "no certification conflict happened: the test proved nothing"
    assert all("1213" in e["detail"] or "conflict" in e["detail"].lower() for e in replays), replays


def test_replay_whose_read_differs_raises_and_commits_nothing(make_mm, hot, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    read = f"SELECT n FROM {hot} WHERE id = 1"
    assert cur.execute(read).fetchall() == [(0,)]
    other = make_mm([cluster.addresses[1]])
    other.execute(f"UPDATE {hot} SET n = 5 WHERE id = 1")  # committed through node 2
    cluster.crash(1)
    with pytest.raises(multimaster.TransactionReplayError) as e:
        cur.execute(f"UPDATE {hot} SET n = n + 100 WHERE id = 1")
    assert e.value.statement == read and "rolled back" in str(e.value)
    assert isinstance(e.value, multimaster.OperationalError)
    assert not conn.in_transaction
    assert counter(cluster, hot) == 5  # the other writer's value; nothing of the transaction


def test_session_state_survives_a_failover(make_mm, table, cluster) -> None:
    """SET @v, SET SESSION sql_mode, the isolation level and USE are recorded and run again
    before each transaction begins, so a transaction replayed on node 2 after node 1 died
    sees them: the INSERT quoted in ANSI style fails without ANSI_QUOTES."""
    other = "mm_session_other"
    cluster.sql(1, f"CREATE DATABASE IF NOT EXISTS {other}")
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    cur.execute("SET @v = 42")
    cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cur.execute(f"USE {other}")
    state = "SELECT @v, @@SESSION.sql_mode, @@SESSION.tx_isolation, DATABASE()"
    expected = ["42", "ANSI_QUOTES", "READ-COMMITTED", other]
    assert [str(v) for v in cur.execute(state).fetchall()[0]] == expected
    conn.commit()
    cur.execute(f'INSERT INTO {DATABASE}.{table} ("title") VALUES (?)', ("q1",))
    cluster.crash(1)
    cur.execute(f"INSERT INTO {DATABASE}.{table} (\"title\") VALUES (CONCAT('v', @v))")  # replayed on node 2
    assert [str(v) for v in cur.execute(state).fetchall()[0]] == expected
    conn.commit()
    assert count_titles(cluster, table) == (2, 2)
    rows = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM {DATABASE}.{table} ORDER BY title")
    assert [r[0] for r in rows] == ["q1", "v42"]
    cluster.sql(2, f"DROP DATABASE IF EXISTS {other}")


@pytest.mark.parametrize(
    "statement, named",
    [
        ("CREATE TEMPORARY TABLE scratch (a INT)", "a temporary table"),
        ("SELECT GET_LOCK('mm_dbapi_lock', 5)", "GET_LOCK"),
    ],
    ids=["temporary-table", "get-lock"],
)
def test_state_that_cannot_move_closes_the_connection(make_mm, table, cluster, statement, named) -> None:
    """A temporary table or a named lock lives in one server session: usable in its
    transaction, then the connection's next use raises a disconnect error (2006), so that a
    pool throws it away; its server session is closed, not pooled (the lock is released)."""
    conn = multimaster.connect(make_mm(policy="sequential"))
    cur = conn.cursor()
    cur.execute(statement)
    insert(cur, table, "with-state")
    conn.commit()
    assert count_titles(cluster, table) == (1, 1)
    with pytest.raises(multimaster.OperationalError) as e:
        cur.execute("SELECT 1")
    assert e.value.errno == 2006 and named in str(e.value)
    conn.rollback()  # never raises
    free = "SELECT IS_FREE_LOCK('mm_dbapi_lock')"
    wait_for(lambda: cluster.sql(1, free) == [("1",)], SLACK, "the named lock released with its session")
    with pytest.raises(multimaster.InterfaceError):
        multimaster.connect(make_mm()).cursor().execute("SET autocommit = 1")


def test_replay_with_another_generated_id_raises(make_mm, cluster) -> None:
    """Each Galera node hands out its own AUTO_INCREMENT values: an INSERT replayed on node 2
    generates another id than the lastrowid the application saw on node 1, so the replay
    raises (naming that INSERT) rather than commit rows with ids the application never saw."""
    name = f"{DATABASE}.auto_{threading.get_ident() % 100000}"
    cluster.sql(1, f"DROP TABLE IF EXISTS {name}")
    cluster.sql(1, f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    try:
        conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
        cur = conn.cursor()
        sql = f"INSERT INTO {name} (v) VALUES (1)"
        cur.execute(sql)
        assert isinstance(cur.lastrowid, int) and cur.lastrowid > 0
        cluster.crash(1)
        with pytest.raises(multimaster.TransactionReplayError) as e:
            cur.execute(f"INSERT INTO {name} (v) VALUES (2)")
        assert e.value.statement == sql
        ((rows,),) = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {name}")
        assert rows == "0"
    finally:
        cluster.sql(2, f"DROP TABLE IF EXISTS {name}")


def test_a_transaction_past_the_replay_log_is_not_replayed(make_mm, table, cluster) -> None:
    """1,000 statements are kept for a replay; the 1,001st turns replay off, so an interruption
    after it raises TransactionReplayError (rolled back) instead of replaying part of it."""
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    insert(cur, table, "long")
    for _ in range(1000):
        cur.execute("SELECT 1")
    cluster.crash(1)
    with pytest.raises(multimaster.TransactionReplayError) as e:
        insert(cur, table, "after")
    assert "outgrew the replay log" in str(e.value)
    assert not conn.in_transaction and count_titles(cluster, table) == (0, 0)


def test_temporary_table_then_failover_discards_the_connection(make_mm, table, cluster) -> None:
    """A temporary table made in a transaction whose node then dies: the transaction is
    replayed on node 2 (the table with it), and a DDL's implicit commit commits it, after which
    the table's session is gone: the DDL raises 2006 (pools discard the connection), never
    1146 from a node that never had the table."""
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    cur.execute("CREATE TEMPORARY TABLE scratch (a INT)")
    cur.execute("INSERT INTO scratch VALUES (1)")
    insert(cur, table, "with-temp")
    cluster.crash(1)
    assert cur.execute("SELECT a FROM scratch").fetchall() == [(1,)]  # replayed on node 2
    with pytest.raises(multimaster.OperationalError) as e:
        cur.execute("CREATE INDEX scratch_a ON scratch (a)")
    assert e.value.errno == 2006 and "temporary table" in str(e.value)
    assert count_titles(cluster, table) == (1, 1)  # committed once, before the DDL, as a server would
    with pytest.raises(multimaster.OperationalError) as e:
        cur.executemany(f"INSERT INTO {table} (title) VALUES (?)", [("x",), ("y",)])
    assert e.value.errno == 2006
    conn.rollback()  # never raises


def test_executemany_of_an_insert_is_written_in_multi_row_statements(make_mm, table, cluster) -> None:
    """executemany() of a plain INSERT writes 1,000 rows a statement (as insert_many(batch=)),
    in a transaction and in autocommit; rowcount is the total. Counted by the session's own
    Com_insert: 3 statements for 2,500 rows, not 2,500."""
    rows = [(f"many-{i}",) for i in range(2500)]
    conn = multimaster.connect(make_mm())
    cur = conn.cursor()
    status = "SHOW SESSION STATUS LIKE 'Com_insert'"
    before = int(cur.execute(status).fetchall()[0][1])  # begins the transaction on its session
    cur.executemany(f"INSERT INTO {table} (title) VALUES (?)", rows)
    assert cur.rowcount == 2500
    assert int(cur.execute(status).fetchall()[0][1]) - before == 3
    conn.rollback()
    assert count_titles(cluster, table) == (0, 0)
    cur.executemany(f"INSERT INTO `{table}` ( `title` ) VALUES ( ? );", rows[:1500])
    conn.commit()
    assert cur.rowcount == 1500 and count_titles(cluster, table) == (1500, 1500)
    auto = multimaster.connect(make_mm(policy="sequential"), autocommit=True).cursor()
    auto.executemany(f"INSERT INTO {table} (title) VALUES (?)", rows[1500:])
    assert auto.rowcount == 1000 and count_titles(cluster, table) == (2500, 2500)
    # Anything else runs once per parameter set, its rowcount the total as before.
    auto.executemany(f"UPDATE {table} SET title = CONCAT(title, '!') WHERE title = ?", [("many-1",), ("many-2",)])
    assert auto.rowcount == 2


def test_executemany_replayed_after_a_kill_commits_every_row_once(make_mm, table, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    cur.executemany(f"INSERT INTO {table} (title) VALUES (?)", [(f"a-{i}",) for i in range(1200)])
    cluster.crash(1)
    cur.executemany(f"INSERT INTO {table} (title) VALUES (?)", [(f"b-{i}",) for i in range(800)])
    conn.commit()
    assert cur.rowcount == 800 and count_titles(cluster, table) == (2000, 2000)


def test_savepoint_rolled_back_then_a_kill_commits_what_it_should(make_mm, table, cluster) -> None:
    """SAVEPOINT / ROLLBACK TO SAVEPOINT / RELEASE SAVEPOINT (SQLAlchemy's begin_nested) are
    statements of the transaction and of its replay: after the node dies, the replay on node 2
    rolls back to the savepoint again, and the read after it still matches."""
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    insert(cur, table, "outer-1")
    cur.execute("SAVEPOINT sp1")
    insert(cur, table, "nested")
    cur.execute("ROLLBACK TO SAVEPOINT sp1")
    assert cur.execute(f"SELECT title FROM {table}").fetchall() == [("outer-1",)]
    cur.execute("SAVEPOINT sp2")
    insert(cur, table, "nested-kept")
    cur.execute("RELEASE SAVEPOINT sp2")
    cluster.crash(1)
    insert(cur, table, "outer-2")  # replayed on node 2, then run there
    conn.commit()
    rows = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM {DATABASE}.{table} ORDER BY title")
    assert [r[0] for r in rows] == ["nested-kept", "outer-1", "outer-2"]


@pytest.fixture
def returning(cluster) -> Iterator[str]:
    name = f"{DATABASE}.ret_{threading.get_ident() % 100000}"
    cluster.sql(1, f"DROP TABLE IF EXISTS {name}")
    cluster.sql(1, f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(20) UNIQUE, v INT)")
    yield name
    try:
        heal(cluster)
        cluster.sql(1, f"DROP TABLE IF EXISTS {name}")
    except Exception:
        pass


def test_insert_returning_in_a_transaction_is_replayed_when_it_matches(make_mm, returning, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {returning} (id, k, v) VALUES (7, 'a', 1) RETURNING id, k, v")
    assert cur.fetchall() == [(7, "a", 1)]
    cluster.crash(1)
    cur.execute(f"INSERT INTO {returning} (id, k, v) VALUES (8, 'b', 2) RETURNING id, k")
    assert cur.fetchall() == [(8, "b")]
    conn.commit()
    rows = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT id, k FROM {returning} ORDER BY id")
    assert rows == [("7", "a"), ("8", "b")]


def test_insert_returning_a_generated_id_that_differs_on_replay_raises(make_mm, returning, cluster) -> None:
    conn = multimaster.connect(make_mm(policy="sequential"))  # node 1
    cur = conn.cursor()
    sql = f"INSERT INTO {returning} (k, v) VALUES ('gen', 1) RETURNING id"
    cur.execute(sql)
    (seen,) = cur.fetchall()
    cluster.crash(1)
    with pytest.raises(multimaster.TransactionReplayError) as e:
        cur.execute(f"INSERT INTO {returning} (k, v) VALUES ('gen2', 2)")
    assert e.value.statement == sql and "rolled back" in str(e.value)
    assert not conn.in_transaction
    ((n,),) = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {returning}")
    assert n == "0", seen


# A transaction that wrote a row, then Ctrl-C during its next statement (a long SLEEP).
CTRL_C_SCRIPT = (
    CTRL_C_PRELUDE
    + """
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
conn = multimaster.connect(sys.argv[1].split(","), DATABASE, USER, PASSWORD)
cur = conn.cursor()
cur.execute(f"INSERT INTO {sys.argv[2]} (title) VALUES ('before-ctrl-c')")
print("ready", flush=True)
try:
    cur.execute("SELECT SLEEP(60) AS mm_ctrl_c_sleep")
    print("returned", flush=True)
except KeyboardInterrupt:
    interrupted(conn.in_transaction)
conn.commit()  # nothing is left to commit
conn.close()
"""
)


def test_ctrl_c_in_a_transaction_kills_the_statement_and_commits_nothing(cluster, table) -> None:
    words, _ = interrupt([CTRL_C_SCRIPT, ",".join(cluster.addresses), table], lambda text: text == "ready", after=0.5)
    assert words[3] == "False"  # the transaction was rolled back with its statement
    assert count_titles(cluster, table) == (0, 0)
    sleeping = "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(60) AS mm_ctrl_c%'"

    def killed() -> bool:
        return all(cluster.sql(i, sleeping) == [("0",)] for i in (1, 2))

    wait_for(killed, SLACK, "the interrupted SLEEP(60) killed on the server")
