"""`multimaster notebook [DIR]`: writes the course demo as a Jupyter notebook, course-demo.ipynb.

The notebook tells the course's story and runs it for real on the local lab: bring the cluster
up, connect, schedule node 1 and later node 2 to be crashed with kill -9 and restarted in the
middle of the run, insert the rows with a live view, then show the report and its failover
timeline, the events and the stats, check the count (every row exactly once), count again with
jupysql's `%sql` through the `mysql+multimaster://` engine, and bring the lab down. `make test`
executes it headless (tests/lab/test_notebook.py) and checks its saved outputs.

The file is nbformat 4 JSON written with the standard library, so the package needs nothing
more to write it; running it needs Jupyter (`pip install 'multimaster[notebook]'`). No cell
holds the lab's password: the connection takes it from `lab.credentials()`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

NAME = "course-demo.ipynb"
ROWS = 100  # the course's scale: 100 rows, 0.5 s apart
INTERVAL = 0.5
NBFORMAT, NBFORMAT_MINOR = 4, 5


def _source(text: str) -> List[str]:
    return text.strip("\n").splitlines(keepends=True)


def _markdown(cell_id: str, text: str) -> Dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": _source(text)}


def _code(cell_id: str, text: str, tags: Optional[List[str]] = None) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"tags": tags} if tags else {}
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": metadata,
        "execution_count": None,
        "outputs": [],
        "source": _source(text),
    }


INTRO = """
# The course demo, for real

A well-known course demo has two Aurora multi-master writer nodes and a script, `insert-test.py`,
that inserts 100 rows into a `course` table, one every half second, alternating between the two
writers (`x % 2`). A second terminal pane runs `SELECT COUNT(*) FROM course` in a loop and
watches the count climb; from a third, each node is crashed in turn. The count reaches 100, and
the demo concludes that multi-master writes ride through a node crash.

This notebook runs the same demo for real, on a local MariaDB Galera cluster (two data nodes and
the `garbd` arbitrator, on loopback addresses) and through `multimaster`: the insert loop runs
while node 1, then node 2, is killed with `kill -9` and restarted; you watch it live, then as a
picture; and the count at the end is *checked*, not eyeballed.
"""

WRONG = """
## What the original script got wrong

- **It swallows every insert error.** A row whose insert failed is simply gone, and nothing
  says so. Run for real with each node crashed once, it ended at **90 of 100** rows: the count
  pane only looked right because nobody compared it with 100.
- **Its failover branch calls a function that does not exist**: the code meant to switch
  writers could never have worked.
- **It has no timeouts.** A node that hangs (frozen rather than dead: its socket open, nothing
  answering) hangs the script forever.
- **The obvious fix writes rows twice.** "On error, retry on the other node" repeats a row whose
  connection died *after* the server had committed it: the client cannot tell a lost insert from
  a lost reply.

`multimaster` spreads the rows the same way (row *x* goes to node *x* mod 2 first), notices a
dead or hung node within bounded timeouts and skips it, takes it back once it has rejoined, and
never blindly repeats a write whose reply was lost: it first looks the row up by its key (the
`title`) on a live node. Every row ends up written exactly once.
"""

PARAMETERS_NOTE = """
## Parameters

The course's scale: 100 rows, half a second apart. The crashes follow the rows written, not the
clock (node 1 once a fifth of the rows are in, node 2 once node 1 is back and more than half are
in), so they land in the middle of the run on a fast machine and on a slow one alike.
"""

PARAMETERS = """
ROWS = {rows!r}  # rows to insert: Title0 ... Title{last}
INTERVAL = {interval!r}  # seconds between two rows
"""

LAB_NOTE = """
## 1. Bring up the lab

`Lab(**LAB)` is two Galera data nodes plus `garbd` on 127.0.10.1 and 127.0.10.2 (or the addresses in
`$MULTIMASTER_LAB_HOSTS`) with the course's database, user and table, its files under
/tmp/multimaster-lab (`$MULTIMASTER_LAB_DIR`).
`up()` returns once both nodes are Synced; the first time takes a minute or so. It needs root
(the nodes run as the `mysql` user) and `apt-get install mariadb-server galera-4
galera-arbitrator-4 rsync`. From a shell, the same lab is `multimaster lab up | status | down`.
"""

LAB_UP = """
import time

from multimaster import MultiMaster
from multimaster_lab.coursedata import COLUMNS, CREATE_TABLE, LAB, TABLE, course_row
from multimaster_lab.demo import crash_schedule
from multimaster_lab.lab import Lab, Step

lab = Lab(**LAB)
started = time.monotonic()
lab.up()
print(f"lab up in {time.monotonic() - started:.0f} s")
lab
"""

CONNECT_NOTE = """
## 2. Connect, and an empty course table

The course's database, user and password come from the lab (`lab.credentials()`), so no cell
holds the password and no output shows it. `mm`, the last expression of the cell, shows one row
per node: its state, what it has done, its last error.
"""

CONNECT = """
mm = MultiMaster(lab.addresses, **lab.credentials())
mm.execute(CREATE_TABLE.format(table=TABLE), idempotent=True)
mm.execute(f"DELETE FROM {TABLE}", idempotent=True)  # this run's rows only
mm
"""

CHAOS_NOTE = """
## 3. The third pane: crash each node in the middle of the run

One call schedules it in a background thread and returns at once, so the next cell's insert loop
runs while it happens. Node 1 is killed with `kill -9` once a fifth of the rows are in, and
started again a second later: it waits for the survivor to evict its dead incarnation, then
rejoins by IST (an incremental state transfer). Then node 2, once node 1 is back and more than
half of the rows are in. (`lab.crash(1, after=10, restart_after=1)` is the one-line,
clock-driven version.)
"""

CHAOS = """
node1_at, node2_at = crash_schedule(ROWS)
chaos = lab.schedule(
    Step("crash", 1, after=lab.when_rows(node1_at)),
    Step("start", 1, after=1.0),
    Step("crash", 2, after=lab.when_rows(node2_at)),
    Step("start", 2, after=1.0),
)
chaos
"""

INSERT_NOTE = """
## 4. The insert loop, live

`insert_many` is the course's loop, in Rust: row *x* goes to node *x* mod 2 first; a dead node is
skipped and probed in the background until it is back; a row whose reply was lost is looked up by
its title before being written again. `progress=True` shows it as it runs: rows done, rows per
node, and the node-down and failover events as they happen. Expect a pause of about 6 s after
each crash: Galera holds writes on the survivor until it has evicted the dead node.
"""

INSERT = """
rows = [course_row(x) for x in range(ROWS)]
report = mm.insert_many(TABLE, COLUMNS, rows, key="title", interval=INTERVAL, progress=True)
"""

CHAOS_DONE_NOTE = """
The crashes and restarts as they happened (`wait()` raises the error of a step that failed):
"""

CHAOS_DONE = """
chaos.wait(timeout=300)
"""

REPORT_NOTE = """
## 5. The report and its failover timeline

Rows per node, failovers, rows rerouted to the other node, writes whose outcome was unknown and
was resolved by their key. The timeline draws rows/s per node over the run, with node-down,
node-up and failover marks: at each crash one line drops to zero, both stall while Galera evicts
the dead node, the survivor takes every row, and the restarted node picks up its share again.
"""

REPORT = """
report
"""

TIMELINE = """
timeline = report.timeline()  # timeline.save("timeline.svg") writes it to a file
timeline
"""

EVENTS_NOTE = """
## 6. What the library saw

`mm.events()`: each node going down and coming back, each failover, each ambiguous write and how
it was resolved, with wall-clock times. `mm.stats()`: per node counters. Both are lists of dicts
(`.to_pandas()` and `.to_polars()` turn them into data frames).
"""

EVENTS = """
mm.events()
"""

STATS = """
mm.stats()
"""

COUNT_NOTE = """
## 7. The count pane, checked

The course watched the count climb to 100. Here the cell checks it, and fails if any row is
missing or doubled: every title present, each exactly once. The read is causal (it sees every
write committed on any node before it).
"""

COUNT = """
(found, distinct), = mm.query(f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {TABLE}", causal=True)
print(f"rows: {found} of {ROWS} ({100 * found / ROWS:.0f} %), "
      f"distinct titles: {distinct} of {ROWS} ({100 * distinct / ROWS:.0f} %)")
assert found == distinct == ROWS, f"expected {ROWS} rows, each once: {found} rows, {distinct} distinct"
print("OK: every row written exactly once")
"""

SQL_NOTE = """
## 8. The same count with `%sql`

The rest of the Python data stack runs on the cluster too: SQLAlchemy's
`mysql+multimaster://` engine (both nodes in one URL), and on it jupysql's `%sql` magic,
pandas' `read_sql`/`to_sql`, Alembic. The URL is built from `lab.credentials()`, so the
password is in no cell, and SQLAlchemy masks it in what `%sql` shows.
"""

SQL_CONNECT = """
import sqlalchemy

credentials = lab.credentials()
engine = sqlalchemy.create_engine(
    sqlalchemy.URL.create(
        "mysql+multimaster",
        username=credentials["user"],
        password=credentials["password"],
        database=credentials["database"],
        query={"host": lab.addresses},
    )
)
%load_ext sql
%sql engine --alias course
"""

SQL_COUNT = """
%sql SELECT COUNT(*) AS found, COUNT(DISTINCT title) AS distinct_titles FROM course
"""

DOWN_NOTE = """
## 9. Bring the lab down

Stops the nodes and `garbd` and removes their files; anything still scheduled is cancelled first.
From a shell: `multimaster lab down`.
"""

DOWN = """
%sql --close course
engine.dispose()
mm.close()
lab.down()
"""


def build(rows: int = ROWS, interval: float = INTERVAL) -> Dict[str, Any]:
    """The course demo notebook as an nbformat 4 dict: `rows` rows, `interval` seconds apart
    (the course: 100 and 0.5; CI uses a smaller, faster run, the crashes still mid-run)."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a whole number from 1, not {rows!r}")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval < 3600:
        raise ValueError(f"interval must be 0 or more seconds, not {interval!r}")
    cells = [
        _markdown("intro", INTRO),
        _markdown("what-went-wrong", WRONG),
        _markdown("parameters-note", PARAMETERS_NOTE),
        _code("parameters", PARAMETERS.format(rows=rows, last=rows - 1, interval=float(interval)), tags=["parameters"]),
        _markdown("lab-note", LAB_NOTE),
        _code("lab-up", LAB_UP),
        _markdown("connect-note", CONNECT_NOTE),
        _code("connect", CONNECT),
        _markdown("chaos-note", CHAOS_NOTE),
        _code("chaos", CHAOS),
        _markdown("insert-note", INSERT_NOTE),
        _code("insert", INSERT),
        _markdown("chaos-done-note", CHAOS_DONE_NOTE),
        _code("chaos-done", CHAOS_DONE),
        _markdown("report-note", REPORT_NOTE),
        _code("report", REPORT),
        _code("timeline", TIMELINE),
        _markdown("events-note", EVENTS_NOTE),
        _code("events", EVENTS),
        _code("stats", STATS),
        _markdown("count-note", COUNT_NOTE),
        _code("count", COUNT),
        _markdown("sql-note", SQL_NOTE),
        _code("sql-connect", SQL_CONNECT),
        _code("sql-count", SQL_COUNT),
        _markdown("down-note", DOWN_NOTE),
        _code("down", DOWN),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {
                "name": "python",
                "file_extension": ".py",
                "mimetype": "text/x-python",
                "pygments_lexer": "ipython3",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "nbconvert_exporter": "python",
            },
            "multimaster": {"rows": rows, "interval": float(interval)},
        },
        "nbformat": NBFORMAT,
        "nbformat_minor": NBFORMAT_MINOR,
    }


def write(target: Union[str, Path] = ".", *, rows: int = ROWS, interval: float = INTERVAL, force: bool = False) -> Path:
    """Write the notebook into directory `target` as course-demo.ipynb (or to `target` itself
    when it ends in .ipynb), creating the directory if needed; return its path.

    An existing file is kept (FileExistsError) unless `force`."""
    path = Path(target)
    if path.suffix != ".ipynb":
        path = path / NAME
    notebook = build(rows, interval)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (--force overwrites it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: Optional[List[str]] = None) -> int:
    """`multimaster notebook [DIR] [--force] [--rows N] [--interval S]`; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="multimaster notebook",
        description="Write the course demo as a Jupyter notebook, DIR/course-demo.ipynb: the lab "
        "up, the insert loop live with each node crashed mid-run, the failover "
        "timeline, the count checked, the lab down.",
    )
    p.add_argument(
        "dir",
        nargs="?",
        default=".",
        metavar="DIR",
        help="where to write it (default: here); a path ending in .ipynb names the file",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing notebook")
    p.add_argument("--rows", type=int, default=ROWS, help=f"rows to insert (default {ROWS})")
    p.add_argument("--interval", type=float, default=INTERVAL, help=f"seconds between rows (default {INTERVAL:g})")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed
        return int(e.code or 0)
    try:
        path = write(args.dir, rows=args.rows, interval=args.interval, force=args.force)
    except (ValueError, OSError) as e:  # FileExistsError is an OSError
        print(f"multimaster notebook: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) else 1
    print(f"wrote {path}")
    print(
        f"open it with `jupyter lab {path}` (pip install 'multimaster[notebook]'); it needs root "
        "and the lab's packages, like `multimaster lab`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
