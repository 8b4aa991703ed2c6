"""Ambiguous outcomes made to happen on purpose with a fault-injecting proxy in front of node 1:
the write applied and its reply lost, the connection lost before the write, unkeyed and
idempotent writes, and a key check that cannot run. Every test checks that its fault fired
(`proxy.drops`), so none can pass on a run where nothing went wrong."""

from __future__ import annotations

import time

import pytest

import multimaster
from conftest import COLUMNS, SLACK, count_titles, course_rows
from faultproxy import FaultProxy

# The key check's SQL (src/core/cluster.rs, KeyCheck::sql): `SELECT COUNT(*) FROM <table> WHERE
# <column> = ?`. It is sent as a prepared statement, so this text travels only in the
# COM_STMT_PREPARE (the COM_STMT_EXECUTE carries a statement id and the value); every
# connection a dropped request cuts is a new one, which prepares it again.
KEY_CHECK = b"SELECT COUNT(*) FROM"


@pytest.fixture
def proxy(cluster):
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


def proxied(proxy: FaultProxy) -> str:
    return "%s:%d" % proxy.address


def kinds(mm) -> list:
    return [e["kind"] for e in mm.events()]


def test_reply_lost_after_commit_is_written_once(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_after_request(match=b"Title4")  # Title4 goes to node 0 (the proxy) first
    report = mm.insert_many(table, COLUMNS, course_rows(10), key="title")
    assert proxy.drops == 1
    assert report.rows == 10 and report.ambiguous_resolved == 1
    assert count_titles(cluster, table) == (10, 10)
    assert "ambiguous" in kinds(mm) and "ambiguous_resolved" in kinds(mm)
    assert any("found: the write had committed" in e["detail"] for e in mm.events())


def test_connection_lost_before_write_is_written_once_elsewhere(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_before_request(match=b"Title4")
    done: dict = {}
    report = mm.insert_many(table, COLUMNS, course_rows(10), key="title",
                            on_row=lambda i, node, rerouted: done.setdefault(i, (node, rerouted)))
    assert proxy.drops == 1
    assert report.rows == 10 and report.ambiguous_resolved == 0 and report.failovers >= 1
    assert count_titles(cluster, table) == (10, 10)
    assert any("not found: writing it again" in e["detail"] for e in mm.events())
    # Even rows go to the proxy first (Title2 did, untouched); Title4 was written by node 2.
    # (Counting the row on node 2 would prove nothing: Galera puts it on every node.)
    assert done[2] == (proxied(proxy), False)
    assert done[4] == (cluster.addresses[1], True)


def test_unkeyed_write_with_lost_reply_raises_ambiguous(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    sql = f"INSERT INTO {table} (title) VALUES ('only-once')"
    proxy.drop_after_request(match=b"only-once")
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        mm.execute(sql)
    assert proxy.drops == 1
    assert e.value.node == proxied(proxy)
    assert e.value.statement == sql
    assert e.value.errno is None
    # It had committed, and was not repeated.
    assert count_titles(cluster, table) == (1, 1)


def test_idempotent_write_is_retried(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_before_request(match=b"retry-me")
    assert mm.execute(f"INSERT INTO {table} (title) VALUES ('retry-me')", idempotent=True) == 1
    assert proxy.drops == 1
    assert count_titles(cluster, table) == (1, 1)


def test_keyed_execute_with_lost_reply_returns_normally(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_after_request(match=b"keyed-1")
    n = mm.execute(f"INSERT INTO {table} (title) VALUES (?)", ("keyed-1",), key=(table, "title", "keyed-1"))
    assert proxy.drops == 1
    assert n == 1
    assert count_titles(cluster, table) == (1, 1)
    assert any(e["kind"] == "ambiguous_resolved" and e["detail"] == "title='keyed-1' found: the write had committed"
               for e in mm.events())


def test_nothing_written_until_a_check_succeeds(make_mm, table, cluster, proxy):
    """Node 1 applies the write and hangs (its replies held past read_timeout); node 2 accepts
    writes but cannot run the key check. The write must not be repeated: AllNodesDownError,
    and the one row is the original. A blind retry would have written a second row through
    node 2 (the INSERT passes its proxy) and returned normally."""
    host, port = cluster.addresses[1].split(":")
    with FaultProxy((host, int(port))) as proxy2:
        ft, rt, ct = 2.0, 1.0, 0.5
        mm = make_mm([proxied(proxy), proxied(proxy2)], read_timeout=rt, connect_timeout=ct,
                     failover_timeout=ft)
        # No parameters: one text-protocol request, applied at once, its reply held back.
        sql = f"INSERT INTO {table} (title) VALUES ('checked')"
        proxy.delay_after_request(30, match=b"'checked'")
        proxy2.drop_before_request(match=KEY_CHECK, count=1_000_000)
        t = time.monotonic()
        with pytest.raises(multimaster.AllNodesDownError):
            mm.execute(sql, key=(table, "title", "checked"))  # request 0: node 1 first
        elapsed = time.monotonic() - t
        proxy.pass_through()
        assert proxy.drops == 1  # the write reached node 1 and its reply was held
        assert proxy2.drops >= 1  # node 2 was asked to run the check and could not
        # ... while node 2 took writes all along: a blind retry would have gone through.
        make_mm([proxied(proxy2)]).execute(f"INSERT INTO {table} (title) VALUES ('via-node-2')")
    # The README's bound: failover_timeout + read_timeout + 1.5 x connect_timeout per node,
    # plus the fence (1.5 x connect_timeout) and the key check's own failover_timeout.
    assert elapsed < ft + rt + 2 * 1.5 * ct + 1.5 * ct + ft + SLACK
    assert cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM demo.{table} ORDER BY title") \
        == [("checked",), ("via-node-2",)]
    assert any(e["kind"] == "ambiguous" and e["node"] == proxied(proxy)
               and e["detail"].startswith("reply lost, session ")
               # node 1 holds every reply, a new connection's handshake too: no fence either
               and e["detail"].endswith(" not fenced (node unreachable), checking title='checked'")
               for e in mm.events())
    assert "ambiguous_resolved" not in kinds(mm)


def test_causal_read_flavour_detected_at_connect(make_mm):
    mm = make_mm()
    mm.query("SELECT 1")
    mm.query("SELECT 1")
    assert [s["flavour"] for s in mm.stats()] == ["galera", "galera"]


def test_delayed_reply_is_resolved_not_duplicated(make_mm, table, cluster, proxy):
    """A node that hangs right after applying a write (its replies held past read_timeout):
    the key is checked on the other node, which finds the row; it is there once."""
    mm = make_mm([proxied(proxy), cluster.addresses[1]], read_timeout=1.0, connect_timeout=1.0)
    # Title2 is the proxy's second row: the INSERT is prepared by then, so the matched request
    # is the execution itself, and the node hangs only from that request on.
    proxy.delay_after_request(3, match=b"Title2")
    report = mm.insert_many(table, COLUMNS, course_rows(6), key="title")
    proxy.pass_through()
    assert proxy.drops == 1
    assert report.rows == 6 and report.ambiguous_resolved == 1
    assert count_titles(cluster, table) == (6, 6)
    assert any(e["detail"] == "title='Title2' found: the write had committed" for e in mm.events())


# --- transactions ----------------------------------------------------------------------------

def insert_two(table: str, tag: str):
    def body(tx):
        tx.execute(f"INSERT INTO {table} (title) VALUES (?)", (f"{tag}-1",))
        tx.execute(f"INSERT INTO {table} (title) VALUES (?)", (f"{tag}-2",))
        return tx.node
    return body


def test_transaction_lost_before_commit_is_replayed_elsewhere(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_before_request(match=b"lost-2")
    result = mm.transaction(insert_two(table, "lost"))
    assert proxy.drops == 1
    assert result.attempts == 2
    assert result.node == result.value == cluster.addresses[1]
    assert count_titles(cluster, table) == (2, 2)


def test_transaction_lost_during_commit_is_ambiguous(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_after_request(match=b"COMMIT")
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        mm.transaction(insert_two(table, "amb"))
    assert proxy.drops == 1
    assert e.value.statement == "COMMIT" and e.value.node == proxied(proxy)
    assert count_titles(cluster, table) == (2, 2)  # it had committed; nothing was replayed


def test_transaction_commit_check_resolves_both_ways(make_mm, table, cluster, proxy):
    def committed(mm, tag):
        return lambda: mm.query(f"SELECT COUNT(*) FROM {table} WHERE title = ?", (f"{tag}-1",),
                                causal=True)[0][0] == 1

    # Applied, reply lost: the check finds it committed.
    mm = make_mm([proxied(proxy), cluster.addresses[1]])  # its first transaction starts on the proxy
    proxy.drop_after_request(match=b"COMMIT")
    assert mm.transaction(insert_two(table, "after"), check=committed(mm, "after")).attempts == 1
    # Never applied: the check says so, and the transaction is replayed.
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    proxy.drop_before_request(match=b"COMMIT")
    assert mm.transaction(insert_two(table, "before"), check=committed(mm, "before")).attempts == 2
    assert proxy.drops == 2
    assert count_titles(cluster, table) == (4, 4)
