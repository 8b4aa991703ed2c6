"""Ambiguous outcomes made to happen on purpose with a fault-injecting proxy in front of node 1:
the write applied and its reply lost, the connection lost before the write, unkeyed and
idempotent writes, and a key check that cannot run."""

from __future__ import annotations

import time

import pytest

import multimaster
from conftest import COLUMNS, count_titles, course_rows
from faultproxy import FaultProxy


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
    report = mm.insert_many(table, COLUMNS, course_rows(10), key="title")
    assert proxy.drops == 1
    assert report.rows == 10 and report.ambiguous_resolved == 0 and report.failovers >= 1
    assert count_titles(cluster, table) == (10, 10)
    assert any("not found: writing it again" in e["detail"] for e in mm.events())
    (node,), = cluster.sql(2, f"SELECT COUNT(*) FROM demo.{table} WHERE title = 'Title4'")
    assert node == "1"


def test_unkeyed_write_with_lost_reply_raises_ambiguous(make_mm, table, cluster, proxy):
    mm = make_mm([proxied(proxy), cluster.addresses[1]])
    sql = f"INSERT INTO {table} (title) VALUES ('only-once')"
    proxy.drop_after_request(match=b"only-once")
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        mm.execute(sql)
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
    assert n == 1
    assert count_titles(cluster, table) == (1, 1)


def test_nothing_written_until_a_check_succeeds(make_mm, table, cluster, proxy):
    """The reply is lost (delayed past read_timeout) and no node can answer the key check:
    the write must not be repeated blindly."""
    host, port = cluster.addresses[1].split(":")
    with FaultProxy((host, int(port))) as proxy2:
        mm = make_mm([proxied(proxy), proxied(proxy2)], read_timeout=1.0, connect_timeout=0.5,
                     failover_timeout=2.0)
        mm.query("SELECT 1")  # warm both
        proxy.delay_replies(30)
        proxy2.refuse()
        t = time.monotonic()
        with pytest.raises(multimaster.AllNodesDownError):
            # No parameters: one text-protocol request, applied at once, its reply held back.
            mm.execute(f"INSERT INTO {table} (title) VALUES ('checked')", key=(table, "title", "checked"))
        assert time.monotonic() - t < 15
        proxy.pass_through()
    assert count_titles(cluster, table) == (1, 1)


def test_causal_read_flavour_detected_at_connect(make_mm):
    mm = make_mm()
    mm.query("SELECT 1")
    mm.query("SELECT 1")
    assert [s["flavour"] for s in mm.stats()] == ["galera", "galera"]


def test_delayed_reply_is_resolved_not_duplicated(make_mm, table, cluster, proxy):
    """A slow node (reply delayed past read_timeout): the session is fenced, then the key is
    checked; the row is there once."""
    mm = make_mm([proxied(proxy), cluster.addresses[1]], read_timeout=1.0, connect_timeout=1.0)
    # Two rows first, so the INSERT is already prepared on the proxied connection: the
    # delayed reply is then that of the execution itself.
    mm.insert_many(table, COLUMNS, course_rows(2), key="title")
    proxy.delay_replies(3)
    report = mm.insert_many(table, COLUMNS, course_rows(4, start=2), key="title")
    proxy.pass_through()
    assert report.rows == 4 and report.ambiguous_resolved == 1
    assert count_titles(cluster, table) == (6, 6)


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
