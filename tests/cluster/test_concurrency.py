"""insert_many through every master at once (issue 9): `concurrency=N` statements in flight,
`batch=K` rows per multi-row INSERT, and each row still written exactly once. Every test counts
what is in the table afterwards; the fault tests use the proxy of tests/support/faultproxy.py to lose a
batch's connection on purpose (`crash=True`: the node dies with it, as kill -9 would)."""

from __future__ import annotations

import time

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows

from support.faultproxy import FaultProxy
from support.interrupt import CTRL_C_PRELUDE, interrupt
from support.labs import count_titles, node_downs, report_of

ROWS = 2000


@pytest.fixture
def proxy(cluster):
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


def details(mm, kind: str) -> list:
    return [e["detail"] for e in mm.events() if e["kind"] == kind]


@pytest.mark.parametrize("concurrency,batch", [(2, 1), (4, 1), (1, 100), (4, 100), (2, 1000)])
def test_every_mode_writes_every_row_once_on_its_node(make_mm, cluster, table, concurrency, batch):
    """Statement n goes first to node n mod 2 (a statement is one row, or one batch), whatever
    the concurrency: with no fault, every row is on its node and in the table once."""
    mm = make_mm()
    where: dict = {}
    report = mm.insert_many(
        table,
        COLUMNS,
        course_rows(ROWS),
        key="title",
        concurrency=concurrency,
        batch=batch,
        on_row=lambda i, node, rerouted: where.setdefault(i, (node, rerouted)),
    )
    assert report.rows == ROWS
    assert count_titles(cluster, table) == (ROWS, ROWS)
    assert sorted(where) == list(range(ROWS)), "on_row once per row"
    assert all(where[x] == (cluster.addresses[(x // batch) % 2], False) for x in range(ROWS)), [
        (x, where[x]) for x in range(ROWS) if where[x][0] != cluster.addresses[(x // batch) % 2]
    ][:5]
    assert sorted(report.per_node.values()) == [ROWS // 2, ROWS // 2]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_refused_row_stops_the_run_naming_the_row(make_mm, cluster, table, concurrency):
    """Row 57's title is too long (VARCHAR(40)): its batch (rows 50..59) is refused whole, the
    error names row 57, and the report says what was written: exactly what the table holds."""
    mm = make_mm()
    rows = course_rows(100)
    rows[57] = ("T" * 50,) + rows[57][1:]
    with pytest.raises(multimaster.DataError) as e:
        mm.insert_many(table, COLUMNS, rows, key="title", batch=10, concurrency=concurrency)
    assert e.value.row == 57 and e.value.errno == 1406
    assert "(row 57 of the rows given)" in str(e.value)
    written = report_of(e.value).rows
    assert count_titles(cluster, table) == (written, written)
    ((present,),) = cluster.sql(
        1,
        f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {DATABASE}.{table} "
        f"WHERE title IN ('Title50', 'Title56', 'Title58', 'Title59')",
    )
    assert int(present) == 0, "the refused batch wrote none of its rows"
    if concurrency == 1:
        assert written == 50  # batches 0..4; the run stopped at batch 5
    else:
        assert written >= 50 and written % 10 == 0


@pytest.mark.parametrize("committed", [True, False], ids=["reply-lost", "lost-before-write"])
def test_a_lost_batch_is_settled_by_all_its_keys(make_mm, cluster, table, proxy, committed):
    """Batch 4 (rows 40..49) goes to the proxied node first and its node dies with it, after
    the INSERT reached the server or before. Its ten keys are looked up after the fence: all
    there (it had committed) or none (written again elsewhere). Every row once either way."""
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    drop = proxy.drop_after_request if committed else proxy.drop_before_request
    drop(match=b"Title45", crash=True)
    report = mm.insert_many(table, COLUMNS, course_rows(100), key="title", batch=10, concurrency=2)
    assert proxy.drops == 1
    assert report.rows == 100
    assert count_titles(cluster, table) == (100, 100)
    verdict = "found: the write had committed" if committed else "not found: writing it again"
    assert any(
        d.startswith("title='Title40'..'Title49' (10 keys)") and verdict in d for d in details(mm, "ambiguous_resolved")
    ), mm.events()
    assert node_downs(mm, proxy.endpoint) >= 1
    # Batches are resolved whole. (The other worker's batch in flight on the dying node, if it
    # had one, was lost with it too, and settled by its own keys.)
    assert report.ambiguous_resolved % 10 == 0
    assert report.ambiguous_resolved >= (10 if committed else 0)


def test_a_lost_batch_found_in_part_raises_internal_error(make_mm, cluster, table, proxy):
    """Another writer put Title45 in the table; batch 4 (rows 40..49) is lost before it reached
    its dying node. The key check finds 1 of its 10 keys, which one statement cannot have done:
    InternalError, and nothing written again (rows 0..39, and the other writer's Title45)."""
    cluster.sql(2, f"INSERT INTO {DATABASE}.{table} (title) VALUES ('Title45')")
    mm = make_mm([proxy.endpoint, cluster.addresses[1]])
    proxy.drop_before_request(match=b"Title45", crash=True)
    with pytest.raises(multimaster.InternalError) as e:
        mm.insert_many(table, COLUMNS, course_rows(100), key="title", batch=10)
    assert proxy.drops == 1
    assert (e.value.found, e.value.expected) == (1, 10)
    assert "1 of 10 keys" in str(e.value) and "nothing was written again" in str(e.value)
    assert report_of(e.value).rows == 40
    assert count_titles(cluster, table) == (41, 41)


def test_a_batch_over_the_packet_limit_is_split_to_fit(make_mm, cluster):
    """40 rows of 1 MB in one batch is 40 MB, over the nodes' max_allowed_packet: the batch is
    split until each statement fits, on a fresh instance (the limit not yet known: the first
    statement is refused before it is sent, then halved) and on one that knows it."""
    table = f"blobs_{int(time.time() * 1000) % 10**8}"
    cluster.sql(1, f"CREATE TABLE {DATABASE}.{table} (title VARCHAR(40), body MEDIUMBLOB, KEY (title))")
    try:
        ((limit,),) = cluster.sql(1, "SELECT @@max_allowed_packet")
        body = b"x" * 2**20
        assert 40 * len(body) > int(limit)
        for run in range(2):
            mm = make_mm()
            rows = [(f"R{run}-{x}", body) for x in range(40)]
            report = mm.insert_many(table, ["title", "body"], rows, key="title", batch=40)
            assert report.rows == 40
            again = mm.insert_many(
                table,
                ["title", "body"],
                [(f"S{run}-{x}", body) for x in range(40)],
                key="title",
                batch=40,
                concurrency=2,
            )
            assert again.rows == 40
        ((n, distinct),) = cluster.sql(
            1, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}"
        )
        assert (int(n), int(distinct)) == (160, 160)
    finally:
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{table}")


def test_bad_concurrency_and_batch_are_refused_before_anything_is_sent(make_mm, cluster, table):
    mm = make_mm()
    for options, words in [
        ({"concurrency": 0}, "concurrency must be between 1 and 256"),
        ({"concurrency": 1000}, "concurrency must be between 1 and 256"),
        ({"batch": 0}, "batch must be at least 1"),
    ]:
        with pytest.raises(multimaster.InterfaceError, match=words):
            mm.insert_many(table, COLUMNS, course_rows(5), key="title", **options)
    assert count_titles(cluster, table) == (0, 0)


# Four workers, each sleeping a 5 s interval after its first statement: Ctrl-C must stop them
# all within half a second of the signal, and the report must say what the table holds.
CONCURRENT_SCRIPT = (
    CTRL_C_PRELUDE
    + """
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_rows
mm = multimaster.MultiMaster(sys.argv[1].split(","), DATABASE, USER, PASSWORD)
try:
    mm.insert_many(sys.argv[2], COLUMNS, course_rows(400),
                   key="title", interval=5, concurrency=4, batch=10,
                   on_row=lambda i, node, rerouted: print("row", i, flush=True))
    print("returned", flush=True)
except KeyboardInterrupt as e:
    interrupted(e.report.rows)
"""
)


def test_ctrl_c_stops_every_worker_within_half_a_second(cluster, table):
    # Each of the four workers wrote its first batch (40 rows), then sleeps its 5 s interval.
    words, _ = interrupt(
        [CONCURRENT_SCRIPT, ",".join(cluster.addresses), table], lambda text: text.startswith("row"), 0.5, count=40
    )
    written = int(words[3])
    assert written == 40, "four batches, then every worker stopped in its interval"
    assert count_titles(cluster, table) == (40, 40)
