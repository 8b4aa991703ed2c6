"""Behaviour with every node up: balancing, values, errors for bad input, secrets, threads."""

from __future__ import annotations

import datetime
import decimal
import logging
import threading
import time

import pytest

import multimaster
from multimaster import MultiMaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_rows

from support.bounds import SLACK, wait_for
from support.labs import count_titles, report_of


def node_names(mm: MultiMaster, n: int) -> list:
    return [mm.query("SELECT @@wsrep_node_name")[0][0] for _ in range(n)]


def test_parity_alternates_like_the_course(make_mm, table):
    mm = make_mm()
    mm.execute(f"ALTER TABLE {table} ADD COLUMN node VARCHAR(20)", idempotent=True)
    for x in range(10):
        mm.execute(f"INSERT INTO {table} (title, node) VALUES (?, @@wsrep_node_name)", (f"Title{x}",))
    rows = mm.query(f"SELECT title, node FROM {table}", causal=True)
    by_title = {t: n for t, n in rows}
    # Requests alternate between the nodes; the DDL above was request 0 on node1.
    nodes = [by_title[f"Title{x}"] for x in range(10)]
    assert nodes[0::2] == [nodes[0]] * 5 and nodes[1::2] == [nodes[1]] * 5
    assert set(nodes) == {"node1", "node2"}
    # 12 requests in all (ALTER, 10 INSERTs, SELECT), 6 on each node.
    assert [s["statements"] for s in mm.stats()] == [6, 6]


def test_sequential_uses_the_first_node(make_mm, table, cluster):
    mm = make_mm(policy="sequential")
    assert set(node_names(mm, 6)) == {"node1"}
    report = mm.insert_many(table, COLUMNS, course_rows(8), key="title")
    assert report.per_node == {cluster.addresses[0]: 8, cluster.addresses[1]: 0}


def test_insert_many_splits_rows_by_parity(make_mm, table, cluster):
    mm = make_mm()
    report = mm.insert_many(table, COLUMNS, course_rows(20), key="title")
    assert report.rows == 20
    assert sorted(report.per_node.values()) == [10, 10]
    assert (report.failovers, report.retries, report.ambiguous_resolved) == (0, 0, 0)
    assert count_titles(cluster, table) == (20, 20)


def test_values_round_trip(make_mm):
    mm = make_mm()
    row = mm.query("SELECT ?, ?, ?, ?, ?, ?, ?, ?", (1, -(2**63), 2**64 - 1, 1.5, "héllo", b"\x00\xff", None, True))[0]
    assert row == (1, -(2**63), 2**64 - 1, 1.5, "héllo", b"\x00\xff", None, 1)
    day = datetime.date(1999, 3, 30)
    stamp = datetime.datetime(2024, 1, 2, 3, 4, 5, 600000)
    ((d, ts, dec, td),) = mm.query(
        "SELECT CAST(? AS DATE), CAST(? AS DATETIME(6)), CAST(? AS DECIMAL(10,2)), CAST(? AS TIME)",
        (day, stamp, decimal.Decimal("12.34"), datetime.timedelta(hours=-1, minutes=30)),
    )
    assert (d, ts, dec, td) == (day, stamp, decimal.Decimal("12.34"), datetime.timedelta(minutes=-30))
    # The text protocol (no parameters) gives the same types.
    ((d2, n2),) = mm.query("SELECT CAST('1999-03-30' AS DATE), 42")
    assert (d2, n2) == (day, 42)


def test_execute_returns_rows_affected_and_insert_id(make_mm, table):
    # One node: with parity the UPDATE would run on node 1 right after the INSERT committed on
    # node 2, and Galera applies it on node 1 asynchronously (the UPDATE could see no rows yet).
    mm = make_mm(policy="sequential")
    mm.execute(f"ALTER TABLE {table} ADD COLUMN id INT AUTO_INCREMENT PRIMARY KEY", idempotent=True)
    done = mm.execute(f"INSERT INTO {table} (title) VALUES (?), (?)", ("a", "b"), idempotent=True)
    assert done.rowcount == 2
    assert done.last_insert_id is not None and done.last_insert_id > 0
    assert mm.execute(f"UPDATE {table} SET duration = 5", idempotent=True).rowcount == 2


def test_named_parameters(make_mm):
    assert make_mm().query("SELECT :a + :b", {"a": 1, "b": 2}) == [(3,)]


def test_unbindable_parameter_is_a_type_error(make_mm):
    with pytest.raises(TypeError, match="object"):
        make_mm().query("SELECT ?", (object(),))


# --- bad input: each its specific exception, fast, no failover -----------------------------


def test_wrong_password_fails_fast_and_once(cluster):
    t = time.monotonic()
    with MultiMaster(cluster.addresses, DATABASE, USER, "not-the-password", connect_timeout=1) as mm:
        with pytest.raises(multimaster.OperationalError) as e:
            mm.execute("SELECT 1")
        stats = mm.stats()
    assert time.monotonic() - t < 5
    assert e.value.errno == 1045 and "Access denied" in str(e.value)
    assert e.value.node == cluster.addresses[0]
    # Authentication is not a node failure: no failover, no node marked down.
    assert [s["state"] for s in stats] == ["up", "up"]
    assert sum(s["failovers"] for s in stats) == 0


def test_unknown_database(cluster):
    with MultiMaster(cluster.addresses, "no_such_db", USER, PASSWORD) as mm:
        with pytest.raises(multimaster.OperationalError) as e:
            mm.query("SELECT 1")
    assert e.value.errno == 1049


def test_syntax_error_is_programming_error_without_failover(make_mm):
    mm = make_mm()
    with pytest.raises(multimaster.ProgrammingError) as e:
        mm.execute("INSERT INTO nowhere VALUES (")
    assert e.value.errno == 1064 and e.value.sqlstate == "42000"
    stats = mm.stats()
    assert [s["statements"] for s in stats] == [1, 0]  # ran once, on one node
    assert all(s["state"] == "up" and s["failovers"] == 0 for s in stats)


def test_title_too_long_is_data_error_and_nothing_written(make_mm, table, cluster):
    mm = make_mm()
    rows = course_rows(3)
    rows[1] = ("x" * 41,) + rows[1][1:]
    with pytest.raises(multimaster.DataError) as e:
        mm.insert_many(table, COLUMNS, rows, key="title")
    assert e.value.errno == 1406
    assert report_of(e.value).rows == 1  # the partial report: the row before the bad one
    assert count_titles(cluster, table) == (1, 1)


def test_duplicate_key_is_integrity_error(make_mm, table):
    mm = make_mm()
    mm.execute(f"ALTER TABLE {table} ADD UNIQUE KEY (title)", idempotent=True)
    mm.execute(f"INSERT INTO {table} (title) VALUES ('a')")
    with pytest.raises(multimaster.IntegrityError) as e:
        mm.execute(f"INSERT INTO {table} (title) VALUES ('a')")
    assert e.value.errno == 1062


def test_closed_instance_refuses_work(make_mm):
    mm = make_mm()
    mm.close()
    mm.close()
    assert mm.closed
    with pytest.raises(multimaster.InterfaceError, match="closed"):
        mm.query("SELECT 1")


# --- secrets -------------------------------------------------------------------------------


def test_password_never_shown(cluster, caplog):
    secret = "s3cret-Pa55word"
    caplog.set_level(logging.DEBUG, logger="multimaster")
    texts = []
    with MultiMaster(cluster.addresses, DATABASE, USER, secret) as mm:
        texts.append(repr(mm))
        with pytest.raises(multimaster.Error) as e:
            mm.query("SELECT 1")
        texts += [str(e.value), repr(e.value), repr(mm.stats()), repr(mm.events())]
    with MultiMaster(
        ["127.0.99.1:1", "127.0.99.2:1"], DATABASE, USER, secret, connect_timeout=0.5, failover_timeout=1
    ) as mm:
        with pytest.raises(multimaster.AllNodesDownError) as e:
            mm.query("SELECT 1")
        texts += [str(e.value), repr(mm), repr(mm.stats()), repr(mm.events())]
    texts += [r.getMessage() for r in caplog.records]
    assert any("node_down" in t or "down" in t for t in texts)
    assert not [t for t in texts if secret in t]


# --- threads and logging ---------------------------------------------------------------------


def test_one_instance_shared_by_threads(make_mm, table, cluster):
    mm = make_mm()
    errors = []

    def worker(k: int) -> None:
        try:
            mm.insert_many(table, COLUMNS, course_rows(50, start=k * 50), key="title")
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert count_titles(cluster, table) == (200, 200)


SLEEP = 3.0


@pytest.mark.parametrize("call, statement", [("query", "SELECT SLEEP(3)"), ("execute", "DO SLEEP(3)")])
def test_a_statement_on_the_wire_releases_the_gil(make_mm, cluster, call, statement):
    """While one thread waits for a 3 s statement, the main thread runs: it looks at the
    server's processlist, sees the statement running, then starts another look and still sees
    it. Were the GIL held during the call, the main thread could start nothing between the
    statement's start and its end (a look begun just before the call might still catch it
    once, never twice in a row)."""
    mm = make_mm([cluster.addresses[0]])
    mm.query("SELECT 1")  # connected already: the thread's call goes straight to the wire
    returned = threading.Event()
    errors: list = []

    def run() -> None:
        try:
            getattr(mm, call)(statement)
        except Exception as e:  # asserted below
            errors.append(e)
        finally:
            returned.set()

    looks: list = []

    def seen_twice() -> bool:
        ((n,),) = cluster.sql(1, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = '{statement}'")
        looks.append(int(n) > 0)
        return looks[-2:] == [True, True] or returned.is_set()

    t = threading.Thread(target=run)
    t.start()
    try:
        wait_for(seen_twice, SLEEP + SLACK + 10, f"{statement} to run and return", every=0.01)
    finally:
        t.join(timeout=SLEEP + 10)
    assert not t.is_alive() and not errors, errors
    assert looks[-2:] == [True, True], f"never seen running twice in a row while the call waited: {looks}"


def test_repr_shows_nodes_and_states(make_mm, cluster):
    mm = make_mm()
    assert repr(mm) == (
        f'<MultiMaster [{cluster.addresses[0]} up, {cluster.addresses[1]} up] user="admin" '
        'database="demo" policy=parity>'
    )


def test_on_row_error_stops_the_loop_with_its_report(make_mm, table, cluster):
    mm = make_mm()

    def on_row(index, node, rerouted):
        if index == 2:
            raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here") as e:
        mm.insert_many(table, COLUMNS, course_rows(10), key="title", on_row=on_row)
    assert report_of(e.value).rows == 3
    assert count_titles(cluster, table) == (3, 3)


def test_insert_many_rejects_bad_arguments(make_mm, table):
    mm = make_mm()
    with pytest.raises(multimaster.InterfaceError, match="not one of the columns"):
        mm.insert_many(table, COLUMNS, course_rows(1), key="nope")
    with pytest.raises(multimaster.InterfaceError, match="row 0 has 2 values for 5 columns"):
        mm.insert_many(table, COLUMNS, [("a", "b")])
    with pytest.raises(multimaster.InterfaceError, match="interval"):
        mm.insert_many(table, COLUMNS, course_rows(1), interval=-1)
