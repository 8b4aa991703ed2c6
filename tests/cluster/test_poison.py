"""A statement the server would refuse by dropping the connection (larger than its
max_allowed_packet) is refused before it is sent: a clear error at once, nothing written, no
node taken for dead, and not carried to the next node."""

from __future__ import annotations

import time

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows, titled_row

from support.bounds import SLACK
from support.labs import report_of


@pytest.fixture
def blobs(cluster, table):
    name = f"{table}_blob"
    cluster.sql(1, f"CREATE TABLE {DATABASE}.{name} (k VARCHAR(20), b LONGBLOB)")
    yield name
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")


def test_oversize_statement_is_refused_before_it_is_sent(make_mm, cluster, blobs):
    mm = make_mm()
    ((limit,),) = mm.query("SELECT @@max_allowed_packet")
    insert = f"INSERT INTO {blobs} (k, b) VALUES (?, ?)"
    big = b"x" * (limit + 1024)
    calls = [
        ("unkeyed", lambda: mm.execute(insert, ("big", big))),
        ("keyed", lambda: mm.execute(insert, ("big", big), key=(blobs, "k", "big"))),
        ("idempotent", lambda: mm.execute(insert, ("big", big), idempotent=True)),
        ("transaction", lambda: mm.transaction(lambda tx: tx.execute(insert, ("big", big)))),
    ]
    for what, call in calls:
        started = time.monotonic()
        with pytest.raises(multimaster.OperationalError) as e:
            call()
        # Refused at once: not sent, so neither ambiguous nor retried around the cluster.
        assert time.monotonic() - started < SLACK, what
        assert type(e.value) is multimaster.OperationalError, (what, repr(e.value))
        assert e.value.errno == 1153, what
        assert f"larger than the node's max_allowed_packet ({limit} bytes)" in str(e.value), what
    # Just under the limit is written as usual.
    assert mm.execute(insert, ("fits", b"y" * (limit // 2))).rowcount == 1
    ((rows,),) = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {DATABASE}.{blobs}")
    assert rows == "1"
    assert [e for e in mm.events() if e["kind"] in ("node_down", "ambiguous", "failover")] == []
    assert [s["state"] for s in mm.stats()] == ["up", "up"]


def test_oversize_row_stops_insert_many_with_its_report(make_mm, cluster, table):
    """The course's columns are small; a title of the limit's size is refused for that row."""
    mm = make_mm()
    ((limit,),) = mm.query("SELECT @@max_allowed_packet")
    rows = course_rows(4) + [titled_row("x" * (limit + 1))]
    with pytest.raises(multimaster.OperationalError) as e:
        mm.insert_many(table, COLUMNS, rows, key="title")
    assert e.value.errno == 1153
    assert report_of(e.value).rows == 4
    ((n,),) = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {DATABASE}.{table}")
    assert n == "4"
    assert [s["state"] for s in mm.stats()] == ["up", "up"]
