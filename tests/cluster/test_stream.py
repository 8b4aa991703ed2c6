"""insert_many streams its input (issue 20): rows are read a chunk at a time while earlier
chunks are written, so a generator's load holds what is in flight plus a bounded read-ahead.
Every test counts what is in the table afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Iterator

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, course_row

from support.interrupt import CTRL_C_PRELUDE, interrupt
from support.labs import count_titles, report_of

# The README's bound ("Speed"): a load holds at most (concurrency + read-ahead + 1) chunks of
# `batch` rows; the read-ahead is `concurrency` chunks, at least 1,000 rows.
CONCURRENCY, BATCH = 2, 1000
IN_FLIGHT_ROWS = (CONCURRENCY + max(CONCURRENCY, 1000 // BATCH) + 1) * BATCH
# What one in-flight course row may cost, generously: its Rust values (~170 bytes, measured),
# its copy in the statement's parameters and packet, and the allocator's slack.
BYTES_PER_ROW = 2048
# Costs that do not grow with the input, beyond the warm-up's: allocator arenas, buffers.
FIXED = 8 << 20

MEMORY_SCRIPT = """
import json, resource, sys
import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_row
mm = multimaster.MultiMaster(sys.argv[1].split(","), DATABASE, USER, PASSWORD)
table, rows, concurrency, batch = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
# Warm up (connections, threads, the statement's buffers) on rows the load does not repeat.
mm.insert_many(table, COLUMNS, (course_row(-1 - x) for x in range(4 * batch)), key="title",
               concurrency=concurrency, batch=batch)
before = peak()
report = mm.insert_many(table, COLUMNS, (course_row(x) for x in range(rows)), key="title",
                        concurrency=concurrency, batch=batch)
print(json.dumps({"growth": peak() - before, "rows": report.rows}), flush=True)
"""


def test_a_generator_loads_in_memory_bounded_by_what_is_in_flight(cluster, table):
    """200,000 rows from a generator: every row written once, and the process's peak RSS grows
    by less than what the in-flight limits allow (a list of these rows alone takes ~60 MB)."""
    rows = 200_000
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT,
            ",".join(cluster.addresses),
            table,
            str(rows),
            str(CONCURRENCY),
            str(BATCH),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    measured = json.loads(out.stdout.splitlines()[-1])
    assert measured["rows"] == rows
    assert count_titles(cluster, table) == (rows + 4 * BATCH, rows + 4 * BATCH)
    bound = IN_FLIGHT_ROWS * BYTES_PER_ROW + FIXED
    print(f"peak RSS growth {measured['growth'] / 2**20:.1f} MiB (bound {bound / 2**20:.1f} MiB)")
    assert measured["growth"] < bound


def raising_after(n: int) -> Iterator[tuple]:
    for x in range(n):
        yield course_row(x)
    raise ValueError("the source broke")


@pytest.mark.parametrize("concurrency,batch", [(1, 1), (2, 100)])
def test_an_input_iterator_raising_stops_the_load_with_its_exception(make_mm, cluster, table, concurrency, batch):
    """The iterator's own exception, raised once the chunks in flight are written, with the
    report of what was: exactly what the table holds, and never a row after the failure."""
    mm = make_mm()
    with pytest.raises(ValueError, match="the source broke") as e:
        mm.insert_many(table, COLUMNS, raising_after(2_550), key="title", concurrency=concurrency, batch=batch)
    written = report_of(e.value).rows
    assert count_titles(cluster, table) == (written, written)
    assert written <= 2_550 and written % batch == 0


def test_a_malformed_row_midway_names_its_index(make_mm, cluster, table):
    mm = make_mm()

    def rows() -> Iterator[tuple]:
        for x in range(3_000):
            yield course_row(x) if x != 2_345 else course_row(x)[:3]

    with pytest.raises(multimaster.InterfaceError, match="row 2345 has 3 values for 5 columns") as e:
        mm.insert_many(table, COLUMNS, rows(), key="title", concurrency=2, batch=100)
    written = report_of(e.value).rows
    assert count_titles(cluster, table) == (written, written) and written <= 2_300


def test_bad_input_is_refused_before_anything_is_written(make_mm, cluster, table):
    mm = make_mm()
    with pytest.raises(TypeError, match="rows must be an iterable of sequences .* not int"):
        mm.insert_many(table, COLUMNS, 5)  # type: ignore[arg-type]
    with pytest.raises(multimaster.InterfaceError, match='row 0 has no value \\(NULL\\) in the key column "title"'):
        mm.insert_many(table, COLUMNS, [(None,) + course_row(0)[1:]], key="title")
    with pytest.raises(TypeError, match="row 1: cannot bind a value of type object"):
        mm.insert_many(table, COLUMNS, [course_row(0), (object(),) + course_row(1)[1:]], batch=10)
    assert count_titles(cluster, table) == (0, 0)


def test_progress_of_a_stream_of_unknown_length(make_mm, cluster, table):
    """A generator has no length: the snapshots say so (total None) and count what is done."""
    mm = make_mm()
    snapshots: list = []
    mm.insert_many(
        table, COLUMNS, (course_row(x) for x in range(3_000)), key="title", batch=100, progress=snapshots.append
    )
    assert snapshots and all(s["total"] is None for s in snapshots)
    assert snapshots[-1]["finished"] and snapshots[-1]["done"] == 3_000
    assert count_titles(cluster, table) == (3_000, 3_000)


STREAM_CTRL_C_SCRIPT = (
    CTRL_C_PRELUDE
    + """
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_row
mm = multimaster.MultiMaster(sys.argv[1].split(","), DATABASE, USER, PASSWORD)
def slow_source():
    for x in range(100_000):
        if x >= 200:
            time.sleep(0.01)  # a slow source: Ctrl-C arrives while it is being read
        yield course_row(x)
try:
    mm.insert_many(sys.argv[2], COLUMNS, slow_source(), key="title", concurrency=2, batch=10,
                   on_row=lambda i, node, rerouted: print("row", i, flush=True))
    print("returned", flush=True)
except KeyboardInterrupt as e:
    interrupted(e.report.rows)
"""
)


def test_ctrl_c_stops_a_stream_within_half_a_second(cluster, table):
    words, _ = interrupt(
        [STREAM_CTRL_C_SCRIPT, ",".join(cluster.addresses), table], lambda t: t.startswith("row"), 0.3, count=200
    )
    written = int(words[3])
    assert written >= 200
    assert count_titles(cluster, table) == (written, written)
