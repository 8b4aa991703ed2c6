"""Ambiguous outcomes made to happen on purpose with a fault-injecting proxy in front of node 1:
the write applied and its reply lost, the connection lost before the write, unkeyed and
idempotent writes, a hung node, and a key check that cannot run. Every test checks that its
fault fired (`proxy.drops`), so none can pass on a run where nothing went wrong.

Liveness is judged apart from statements (README "Failure semantics"): the library checks a
node on a separate connection, and the proxy is all it knows of node 1, so its checks go
through the proxy too. What a cut connection means then depends on the proxy's mode:

- the node dies with the request (`crash=True`: as kill -9 would, the proxy refuses every
  connect from then on and cuts every connection): a reply lost on a dead node. The node is
  marked down, the lost session is fenced ("process gone": refused), a keyed write is checked
  for by key and written again elsewhere only if missing, an unkeyed one raises
  AmbiguousCommitError, an idempotent write, a read and a transaction are retried elsewhere;
- the node still answers (a plain drop: new connections pass, so the liveness check succeeds):
  to the client the node dropped a connection while alive, as a server-side KILL CONNECTION
  does. The statement is not carried to another node and no node is marked down: a keyed write
  is checked by key (found: it returns normally; not found: OperationalError "still answers",
  nothing written), an unkeyed one raises AmbiguousCommitError;
- the node hangs (`delay_after_request`: every reply held back, new handshakes too): liveness
  checks fail, so it is declared down within failure_detection. Its lost session can be fenced
  only once it answers again: it is neither refused nor evicted (the real node behind the
  proxy is alive and in the cluster), so the key check waits for that.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows

from support.bounds import SLACK, liveness_bound, wait_for
from support.faultproxy import FaultProxy
from support.labs import count_titles, course_options, node_downs, report_of
from support.threads import Call

# The key check's SQL (src/core/cluster.rs, KeyCheck::sql): `SELECT COUNT(*) FROM <table> WHERE
# <column> = ?`. It is sent as a prepared statement, so this text travels only in the
# COM_STMT_PREPARE (the COM_STMT_EXECUTE carries a statement id and the value); every
# connection a dropped request cuts is a new one, which prepares it again.
KEY_CHECK = b"SELECT COUNT(DISTINCT "  # the key check (core/request.rs KeyCheck::sql)

NODE = [pytest.param(True, id="node-dies"), pytest.param(False, id="node-answers")]


@pytest.fixture
def proxy(cluster):
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


def kinds(mm) -> list:
    return [e["kind"] for e in mm.events()]


def details(mm, kind: str) -> list:
    return [e["detail"] for e in mm.events() if e["kind"] == kind]


def check_node_fate(mm, proxy: FaultProxy, dies: bool) -> None:
    """A dead node is marked down and its lost session fenced because its process is gone (the
    proxy refuses); a node that still answers is not marked down."""
    if dies:
        assert node_downs(mm, proxy.endpoint) >= 1, mm.events()
        fences = details(mm, "ambiguous")
        assert fences and all(" fenced: process gone" in d for d in fences), fences
    else:
        assert node_downs(mm, proxy.endpoint) == 0, mm.events()
        assert [s["state"] for s in mm.stats()] == ["up", "up"]


@pytest.mark.parametrize("dies", NODE)
def test_reply_lost_after_commit_is_written_once(make_mm, table, cluster, proxy, dies):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"Title4", crash=dies)  # Title4 goes to node 0 (the proxy) first
    report = mm.insert_many(table, COLUMNS, course_rows(10), key="title")
    assert proxy.drops == 1
    assert report.rows == 10 and report.ambiguous_resolved == 1
    assert count_titles(cluster, table) == (10, 10)
    assert "ambiguous_resolved" in kinds(mm)
    assert any("title='Title4' found: the write had committed" in d for d in details(mm, "ambiguous_resolved"))
    check_node_fate(mm, proxy, dies)


def test_connection_lost_before_write_on_a_dead_node_is_written_once_elsewhere(make_mm, table, cluster, proxy):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"Title4", crash=True)
    done: dict = {}
    report = mm.insert_many(
        table,
        COLUMNS,
        course_rows(10),
        key="title",
        on_row=lambda i, node, rerouted: done.setdefault(i, (node, rerouted)),
    )
    assert proxy.drops == 1
    assert report.rows == 10 and report.ambiguous_resolved == 0 and report.failovers >= 1
    assert count_titles(cluster, table) == (10, 10)
    assert any("not found: writing it again" in d for d in details(mm, "ambiguous_resolved"))
    # Even rows go to the proxy first (Title2 did, untouched); Title4 was written by node 2.
    # (Counting the row on node 2 would prove nothing: Galera puts it on every node.)
    assert done[2] == (proxy.endpoint, False)
    assert done[4] == (cluster.addresses[1], True)
    check_node_fate(mm, proxy, dies=True)


def test_connection_cut_before_a_keyed_write_on_a_live_node_raises(make_mm, table, cluster, proxy):
    """The connection is cut before the INSERT reaches node 1, which still answers: the
    statement broke a live node's connection, so it is not carried to node 2. The key check
    finds nothing and the loop stops with OperationalError "still answers": the rows before it
    written, Title4 nowhere, no node marked down. (Carry it to node 2, the old rule, and
    insert_many returns with 10 rows.)"""
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"Title4")
    with pytest.raises(multimaster.OperationalError) as e:
        mm.insert_many(table, COLUMNS, course_rows(10), key="title")
    assert proxy.drops == 1
    assert type(e.value) is multimaster.OperationalError, repr(e.value)
    assert "still answers" in str(e.value)
    assert report_of(e.value).rows == 4
    assert count_titles(cluster, table) == (4, 4)
    assert "failover" not in kinds(mm)
    check_node_fate(mm, proxy, dies=False)


@pytest.mark.parametrize("dies", NODE)
def test_unkeyed_write_with_lost_reply_raises_ambiguous(make_mm, table, cluster, proxy, dies):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    sql = f"INSERT INTO {table} (title) VALUES ('only-once')"
    proxy.drop_after_request(match=b"only-once", crash=dies)
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        mm.execute(sql)
    assert proxy.drops == 1
    assert e.value.node == proxy.endpoint
    assert e.value.statement == sql
    assert e.value.errno is None
    # It had committed, and was not repeated.
    assert count_titles(cluster, table) == (1, 1)
    if not dies:
        check_node_fate(mm, proxy, dies=False)
    else:
        assert node_downs(mm, proxy.endpoint) >= 1


def test_idempotent_write_on_a_dead_node_is_retried(make_mm, table, cluster, proxy):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"retry-me", crash=True)
    assert mm.execute(f"INSERT INTO {table} (title) VALUES ('retry-me')", idempotent=True).rowcount == 1
    assert proxy.drops == 1
    assert count_titles(cluster, table) == (1, 1)
    assert node_downs(mm, proxy.endpoint) >= 1


def test_keyed_execute_with_lost_reply_on_a_live_node_returns_normally(make_mm, table, cluster, proxy):
    """README: a statement whose connection a live node closed is checked by key, and found."""
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"keyed-1")
    n = mm.execute(f"INSERT INTO {table} (title) VALUES (?)", ("keyed-1",), key=(table, "title", "keyed-1")).rowcount
    assert proxy.drops == 1
    assert n == 1
    assert count_titles(cluster, table) == (1, 1)
    assert any(
        e["kind"] == "ambiguous_resolved" and e["detail"] == "title='keyed-1' found: the write had committed"
        for e in mm.events()
    )
    check_node_fate(mm, proxy, dies=False)


def test_a_coalesced_insert_whose_reply_is_lost_is_settled_by_its_keys(table, cluster, proxy):
    """AsyncMultiMaster(coalesce=True): eight keyed INSERTs wait behind a busy call and go as one
    statement, whose connection the (live) node closes after it committed: the statement is
    settled by its eight keys, found, so each call answers its own row and nothing is written
    twice."""
    amm = multimaster.AsyncMultiMaster([proxy.endpoint], max_in_flight=1, coalesce=True, **course_options({}))
    sql = f"INSERT INTO {table} (title, duration) VALUES (?, ?)"
    proxy.drop_after_request(match=b"grouped-0")

    async def main() -> list:
        blocker = asyncio.get_running_loop().create_task(amm.query("SELECT SLEEP(1)"))
        calls = (amm.execute(sql, (f"grouped-{n}", n), key=(table, "title", f"grouped-{n}")) for n in range(8))
        answers = await asyncio.gather(*calls)
        await blocker
        await amm.close()
        return answers

    try:
        answers = asyncio.run(main())
    finally:
        amm.sync.close()
    assert proxy.drops == 1
    assert [a.rowcount for a in answers] == [1] * 8 and all(a.ambiguous_resolved for a in answers), answers
    assert count_titles(cluster, table) == (8, 8)
    assert "title='grouped-0'..'grouped-7' (8 keys) found: the write had committed" in details(
        amm.sync, "ambiguous_resolved"
    )


def test_nothing_written_until_a_check_succeeds(make_mm, table, cluster, proxy):
    """Node 1 applies the write and dies before its reply (fenced at once: its process is gone);
    node 2 accepts writes but cannot run the key check. The write must not be repeated: the call
    raises, and the one row is the original. A blind retry would have written a second row
    through node 2 (the INSERT passes its proxy) and returned normally."""
    host, port = cluster.addresses[1].split(":")
    with FaultProxy((host, int(port))) as proxy2:
        ft, fd, ct = 2.0, 1.0, 0.5
        mm = make_mm([proxy.endpoint, proxy2.endpoint], failure_detection=fd, connect_timeout=ct, failover_timeout=ft)
        # No parameters: one text-protocol request, applied at once, its reply lost.
        sql = f"INSERT INTO {table} (title) VALUES ('checked')"
        proxy.drop_after_request(match=b"'checked'", crash=True)
        proxy2.drop_before_request(match=KEY_CHECK, count=1_000_000)
        t = time.monotonic()
        # Whichever way the library gives up on the check (no node could run it within
        # failover_timeout: AllNodesDownError; or node 2, alive, cut the check's connection:
        # "still answers"), it is an OperationalError and nothing is written.
        with pytest.raises(multimaster.OperationalError):
            mm.execute(sql, key=(table, "title", "checked"))  # request 0: node 1 first
        elapsed = time.monotonic() - t
        assert proxy.drops == 1  # the write reached node 1, and its reply was lost
        assert proxy2.drops >= 1  # node 2 was asked to run the check and could not
        # ... while node 2 took writes all along: a blind retry would have gone through.
        make_mm([proxy2.endpoint]).execute(f"INSERT INTO {table} (title) VALUES ('via-node-2')")
    # failover_timeout to find a node for the write, a connect per node, the key check's own
    # failover_timeout (the fence costs nothing: node 1 refuses).
    assert elapsed < 2 * ft + fd + 4 * 1.5 * ct + SLACK, elapsed
    assert cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM {DATABASE}.{table} ORDER BY title") == [
        ("checked",),
        ("via-node-2",),
    ]
    assert any(
        e["kind"] == "ambiguous"
        and e["node"] == proxy.endpoint
        and e["detail"].startswith("reply lost, session ")
        and " fenced: process gone" in e["detail"]
        and e["detail"].endswith("checking title='checked'")
        for e in mm.events()
    ), mm.events()
    assert "ambiguous_resolved" not in kinds(mm)


def test_causal_read_flavour_detected_at_connect(make_mm):
    mm = make_mm()
    mm.query("SELECT 1")
    mm.query("SELECT 1")
    assert [s["flavour"] for s in mm.stats()] == ["galera", "galera"]


def test_write_on_a_hung_node_is_checked_only_once_its_session_is_fenced(make_mm, table, cluster, proxy):
    """Node 1 applies Title2 and then hangs: the proxy holds back every reply, new connections'
    handshakes too, so the liveness checks through it fail and node 1 is declared down within
    failure_detection. Its session cannot be fenced yet: the proxy holds the KILL's connection
    too, connects are not refused, and the real node is not evicted. So the key check waits: the
    call is still running well after the node was declared down (the old rule, "not fenced (node
    unreachable)", checked at once). Once the proxy passes traffic again, the session is fenced,
    the key check finds Title2, and the loop goes on: every row once."""
    fd, connect = 1.0, 0.5
    mm = make_mm([proxy.endpoint, cluster.addresses[1]], failure_detection=fd, connect_timeout=connect)
    # Title2 is the proxy's second row: the INSERT is prepared by then, so the matched request
    # is the execution itself, and the node hangs only from that request on.
    proxy.delay_after_request(600, match=b"Title2")
    call = Call(lambda: mm.insert_many(table, COLUMNS, course_rows(6), key="title")).start()
    wait_for(lambda: proxy.drops == 1 or not call.running(), 30, "Title2 sent to node 1")
    hung_at = time.time()
    wait_for(
        lambda: node_downs(mm, proxy.endpoint, hung_at) > 0 or not call.running(),
        liveness_bound(fd, connect),
        "node 1 declared down",
    )
    # As long again as the detection took at most: a key check that did not wait for the fence
    # would have run on node 2 (which answers at once) and the call returned meanwhile.
    time.sleep(liveness_bound(fd, connect) - SLACK)
    assert call.running(), f"the call ended while node 1's session could not be fenced: {call.error!r}"
    assert "ambiguous_resolved" not in kinds(mm)
    proxy.pass_through()
    report = call.result(30)
    assert proxy.drops == 1
    assert report.rows == 6 and report.ambiguous_resolved == 1
    assert count_titles(cluster, table) == (6, 6)
    assert any(e["detail"] == "title='Title2' found: the write had committed" for e in mm.events())
    fences = details(mm, "ambiguous")
    assert len(fences) == 1 and " fenced: " in fences[0] and "not fenced" not in fences[0], fences


# --- transactions ----------------------------------------------------------------------------
# Node 1 dies with the statement (crash=True): the transaction's rules for a lost connection.


def insert_two(table: str, tag: str):
    def body(tx):
        tx.execute(f"INSERT INTO {table} (title) VALUES (?)", (f"{tag}-1",))
        tx.execute(f"INSERT INTO {table} (title) VALUES (?)", (f"{tag}-2",))
        return tx.node

    return body


def test_transaction_lost_before_commit_is_replayed_elsewhere(make_mm, table, cluster, proxy):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"lost-2", crash=True)
    result = mm.transaction(insert_two(table, "lost"))
    assert proxy.drops == 1
    assert result.attempts == 2
    assert result.node == result.value == cluster.addresses[1]
    assert count_titles(cluster, table) == (2, 2)


def test_transaction_lost_during_commit_is_ambiguous(make_mm, table, cluster, proxy):
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_after_request(match=b"COMMIT", crash=True)
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        mm.transaction(insert_two(table, "amb"))
    assert proxy.drops == 1
    assert e.value.statement == "COMMIT" and e.value.node == proxy.endpoint
    assert count_titles(cluster, table) == (2, 2)  # it had committed; nothing was replayed


def test_transaction_commit_check_resolves_both_ways(make_mm, table, cluster, proxy):
    def committed(mm, tag):
        return lambda: mm.query(f"SELECT COUNT(*) FROM {table} WHERE title = ?", (f"{tag}-1",), causal=True)[0][0] == 1

    # Applied, reply lost: the check finds it committed.
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])  # its first transaction starts on the proxy
    proxy.drop_after_request(match=b"COMMIT", crash=True)
    assert mm.transaction(insert_two(table, "after"), check=committed(mm, "after")).attempts == 1
    proxy.pass_through()  # node 1 "restarted"
    # Never applied: the check says so, and the transaction is replayed.
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"COMMIT", crash=True)
    assert mm.transaction(insert_two(table, "before"), check=committed(mm, "before")).attempts == 2
    assert proxy.drops == 2
    assert count_titles(cluster, table) == (4, 4)
