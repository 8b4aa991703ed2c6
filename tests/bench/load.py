"""The load bench (issue 20): N course rows into a keyed table (UNIQUE title) through both
nodes, by insert_many from a list, a generator and Arrow frames (pyarrow, polars), against
PyMySQL executemany in 1,000-row chunks, pandas to_sql(method="multi", chunksize=1000) over
SQLAlchemy + PyMySQL, and the `mariadb` client's LOAD DATA LOCAL INFILE of the same rows as a
CSV file (the server's bulk-load floor; one connection, node 1).

Each case runs in a child process of its own, on a fresh table, its input built before the
clock starts: so its client CPU (user + system, the `mariadb` client's for LOAD DATA) and its
peak RSS growth (VmHWM reset through /proc/self/clear_refs once the input is built) are its
own. The servers' CPU is read from /proc for both mariadbd over the child's run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, Optional

from multimaster_lab.coursedata import DATABASE, DEFINITION
from multimaster_lab.lab import Lab

from bench.figures import server_cpu

LOAD_TABLE = "bench_load"
LOAD_DDL = f"DROP TABLE IF EXISTS {DATABASE}.{{t}}; CREATE TABLE {DATABASE}.{{t}} ({DEFINITION}, UNIQUE KEY (title))"
# insert_many's settings in every case: today's fastest (README "Speed").
BATCH, CONCURRENCY = 1000, 2

# Row labels, in the order printed (tests/cluster/test_bench_smoke.py checks each appears).
LOAD_DATA = "mariadb LOAD DATA LOCAL INFILE (CSV)"
EXECUTEMANY = "executemany (PyMySQL), 1000-row chunks"
TO_SQL = "pandas to_sql(method=multi, chunksize=1000)"
LIST = "insert_many, list of tuples"
GENERATOR = "insert_many, generator"
GENERATOR_SMALL = "insert_many, generator (1/10 the rows)"
PYARROW = "insert_many, pyarrow Table"
POLARS = "insert_many, polars DataFrame"
LOAD_LABELS = [LOAD_DATA, EXECUTEMANY, TO_SQL, LIST, GENERATOR, GENERATOR_SMALL, PYARROW, POLARS]
CASES = {
    LOAD_DATA: "load_data",
    EXECUTEMANY: "executemany",
    TO_SQL: "to_sql",
    LIST: "list",
    GENERATOR: "generator",
    GENERATOR_SMALL: "generator",
    PYARROW: "pyarrow",
    POLARS: "polars",
}

CHILD = r"""
import json, os, resource, subprocess, sys, tempfile, time
case, n, hosts, table, user = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4], sys.argv[5]
password = os.environ["MYSQL_PWD"]
from multimaster_lab.coursedata import COLUMNS, DATABASE, titled_row

def rows():
    return (titled_row(f"L{x}") for x in range(n))

def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

def columns():
    data = [[] for _ in COLUMNS]
    for r in rows():
        for c, v in zip(data, r):
            c.append(v)
    return dict(zip(COLUMNS, data))

size = None
if case in ("list", "executemany"):
    data = list(rows())
elif case in ("pyarrow", "polars", "to_sql"):
    import pyarrow as pa
    data = pa.table(columns())
    size = data.nbytes
    if case == "polars":
        import polars as pl
        data = pl.from_arrow(data)
        size = data.estimated_size()
    elif case == "to_sql":
        data = data.to_pandas()
elif case == "load_data":
    import csv
    f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="")
    csv.writer(f).writerows(rows())
    f.close()
    size = os.path.getsize(f.name)

if case in ("list", "generator", "pyarrow", "polars"):
    import multimaster
    mm = multimaster.MultiMaster(hosts, DATABASE, user, password)
    mm.query("SELECT 1")
    def run():
        src = rows() if case == "generator" else data
        r = mm.insert_many(table, None if case in ("pyarrow", "polars") else COLUMNS, src, key="title",
                           batch=1000, concurrency=2)
        assert r.rows == n, r
elif case == "executemany":
    import pymysql
    host, port = hosts[0].split(":")
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=DATABASE, autocommit=True)
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    def run():
        cur = conn.cursor()
        for i in range(0, n, 1000):
            cur.executemany(sql, data[i:i + 1000])
elif case == "to_sql":
    import sqlalchemy
    host, port = hosts[0].split(":")
    engine = sqlalchemy.create_engine(
        sqlalchemy.URL.create("mysql+pymysql", user, password, host, int(port), DATABASE))
    def run():
        data.to_sql(table, engine, if_exists="append", index=False, method="multi", chunksize=1000)
elif case == "load_data":
    host, port = hosts[0].split(":")
    def run():
        subprocess.run(
            ["mariadb", "--local-infile=1", "-h", host, "-P", port, "-u", user, DATABASE, "-e",
             f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {table} FIELDS TERMINATED BY ',' "
             f"OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\r\\n' ({', '.join(COLUMNS)})"],
            check=True)

with open("/proc/self/clear_refs", "w") as f_:
    f_.write("5")  # VmHWM := the RSS now, input built
before = hwm()
t0, c0 = time.perf_counter(), os.times()
run()
t1, c1 = time.perf_counter(), os.times()
cpu = sum(c1[:4]) - sum(c0[:4])  # user, system, and the mariadb client's (children)
print(json.dumps({"seconds": t1 - t0, "cpu": cpu, "growth": hwm() - before, "size": size}))
"""


@dataclass
class Result:
    rows: int
    seconds: float
    client_cpu: float
    server_cpu: float
    growth: int
    size: Optional[int]

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_one(lab: Lab, case: str, n: int) -> Result:
    creds = lab.credentials()
    lab.sql(1, LOAD_DDL.format(t=LOAD_TABLE))
    # Node 2 applies the DDL after node 1 answers: wait for it there (an empty, fresh table).
    lab.sql(2, f"SET SESSION wsrep_sync_wait=15; SELECT COUNT(*) FROM {DATABASE}.{LOAD_TABLE}")
    pids = [lab.pid(i) for i in (1, 2)]
    s0 = server_cpu(pids)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(n), ",".join(lab.addresses), LOAD_TABLE, creds["user"]],
        env={**os.environ, "MYSQL_PWD": creds["password"]},  # not on a command line
        capture_output=True,
        text=True,
        timeout=1800,
    )
    s1 = server_cpu(pids)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    m = json.loads(out.stdout.strip().splitlines()[-1])
    ((count,),) = lab.sql(
        1, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(DISTINCT title) FROM {DATABASE}.{LOAD_TABLE}"
    )
    if int(count or 0) != n:
        raise RuntimeError(f"{count} distinct rows in the table, not {n}")
    return Result(n, m["seconds"], m["cpu"], s1 - s0, m["growth"], m["size"])


def load_bench(lab: Lab, n: int) -> bool:
    """Runs every case once with `n` rows (a tenth for the small generator) and prints the
    table; true when a case failed."""
    print(f"\nload: {n:,} course rows into a keyed table (UNIQUE title), each case in a child process", flush=True)
    results: Dict[str, Result] = {}
    errors: Dict[str, str] = {}
    for label in LOAD_LABELS:
        rows = max(1, n // 10) if label == GENERATOR_SMALL else n
        try:
            results[label] = run_one(lab, CASES[label], rows)
        except Exception as e:  # the row says why; the bench goes on
            errors[label] = f"{type(e).__name__}: {e}"
        print(
            f"  {label}: " + (f"{results[label].rate:,.0f} rows/s" if label in results else errors[label]), flush=True
        )
    lab.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{LOAD_TABLE}")
    print_load(results, errors)
    return bool(errors)


def print_load(results: Dict[str, Result], errors: Dict[str, str]) -> None:
    base = {k: results[k].rate for k in (LOAD_DATA, EXECUTEMANY, TO_SQL) if k in results}
    head = (
        f"{'case':46} {'rows':>9} {'rows/s':>9} {'xLOAD':>6} {'xexecm':>6} {'xto_sql':>7} "
        f"{'client us/row':>13} {'servers us/row':>14} {'RSS growth':>10} {'input':>9}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for label in LOAD_LABELS:
        if label not in results:
            print(f"{label:46} {errors.get(label, 'not run')}")
            continue
        r = results[label]

        def ratio(k: str) -> str:
            return f"{r.rate / base[k]:.2f}" if k in base else "-"

        mib = r.growth / 2**20
        size = f"{r.size / 2**20:.1f} MiB" if r.size else "-"
        print(
            f"{label:46} {r.rows:>9,} {r.rate:>9,.0f} {ratio(LOAD_DATA):>6} {ratio(EXECUTEMANY):>6} {ratio(TO_SQL):>7} "
            f"{1e6 * r.client_cpu / r.rows:>13.1f} {1e6 * r.server_cpu / r.rows:>14.1f} {mib:>7.1f} MiB {size:>9}"
        )
    print(
        "xLOAD, xexecm, xto_sql: rows/s over LOAD DATA's, executemany's, to_sql's; RSS growth: the client's peak "
        "over its RSS once the input was built; input: the frame's Arrow size (CSV file's for LOAD DATA)"
    )
