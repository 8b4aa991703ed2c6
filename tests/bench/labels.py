"""The bench's lab addresses, tables and pacing, and the labels of its rows: what the report
prints and tests/cluster/test_bench_smoke.py checks."""

from __future__ import annotations

import os
from pathlib import Path

from multimaster_lab.coursedata import COLUMNS, DATABASE, DEFINITION

REPO = Path(__file__).resolve().parents[2]
HOSTS = "127.0.60.1,127.0.60.2"
TLS_HOSTS = "127.0.61.1,127.0.61.2"
LAB_DIR = os.environ.get("MULTIMASTER_BENCH_LAB_DIR", "/tmp/multimaster-bench-lab")
TABLE = "bench"  # the throughput cases
FAILOVER_TABLE = "bench_fo"  # the failover runs' loops
FLOOR_TABLE = "bench_floor"  # the writer on the survivor beside them
# The course's table, with an index on its key for the clients that look rows up by it.
DDL = f"CREATE TABLE IF NOT EXISTS {DATABASE}.{{t}} ({DEFINITION}, KEY (title))"
INSERT = f"INSERT INTO {{t}} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"

# The failover runs: statements paced this far apart (per worker), the crash once this long of
# rows is written, and enough rows after it for the loop to run on this long past the stall.
FAILOVER_INTERVAL = 0.002
FAILOVER_BEFORE = 0.5  # seconds of rows before the crash (the crash condition is polled every 0.25 s)
FAILOVER_AFTER = 1.5  # seconds of rows after it, at the fastest the pacing allows
# The rejoin runs: node 2 killed after this long of rows and started at once; the rows stop this
# long after the kill, past the second gap (the joiner entering the cluster, ~7.5 s after it).
REJOIN_BEFORE = 1.0
REJOIN_AFTER = 10.0
REJOIN_MAX_ROWS = 20_000  # a bound on the loop should the crash never come (>= 40 s of rows)
STALL_TARGET = 0.050  # the target: stall <= floor + 50 ms

# Row labels, in the order printed: tests/cluster/test_bench_smoke.py checks each appears.
SEQ = "insert_many, sequential"
SEQ_BOTH = "insert_many, sequential, both nodes"
BARE = "bare Rust mysql loop"
PYMYSQL = "PyMySQL loop"
CONNECTOR = "mysql-connector-python loop"
EXECUTE = "MultiMaster.execute, Python loop"
CONC = {2: "insert_many, concurrency=2", 4: "insert_many, concurrency=4"}
THREADS = {2: "PyMySQL, 2 threads", 4: "PyMySQL, 4 threads"}
BATCH = {100: "insert_many, batch=100", 1000: "insert_many, batch=1000"}
BATCH_CONC = "insert_many, batch=1000, concurrency=2"
EXECUTEMANY = {100: "PyMySQL executemany, 100-row chunks", 1000: "PyMySQL executemany, 1000-row chunks"}
SEQ_TLS = "insert_many, sequential, TLS"
LAT_PYMYSQL_INSERT = "INSERT: PyMySQL loop"
LAT_EXECUTE = "INSERT: MultiMaster.execute"
LAT_PYMYSQL_SELECT = "SELECT 1: PyMySQL"
LAT_QUERY = "SELECT 1: MultiMaster.query"
LAT_QUERY_TLS = "SELECT 1: MultiMaster.query, TLS"
FO_FLOOR = "floor: PyMySQL on the survivor only"
FO_SEQ = "insert_many, sequential, kill -9"
FO_CONC = "insert_many, concurrency=2, kill -9"
FO_REJOIN_FLOOR = "rejoin: PyMySQL on the survivor only"
FO_REJOIN = "rejoin: insert_many, sequential"
# The SQLAlchemy figures (tests/bench/sqla.py): a row per workload and driver, `workload: driver`.
MULTI_CHUNK = 1000  # to_sql(method="multi")'s chunksize
ORM_ADD_ALL = "ORM Session.add_all + commit (ids read back)"
ORM_BULK = "ORM bulk session.execute(insert(Model), dicts)"
TO_SQL_NONE = "to_sql method=None, chunksize=None"
TO_SQL_MULTI = f"to_sql method='multi', chunksize={MULTI_CHUNK}"
TX_WORKLOAD = "3-statement transaction"
SQLA_WORKLOADS = [ORM_ADD_ALL, ORM_BULK, TO_SQL_NONE, TO_SQL_MULTI, TX_WORKLOAD]
SQLA_MM = "mysql+multimaster"
SQLA_PYMYSQL = "mysql+pymysql"
SQLA_CONNECTOR = "mysql+mysqlconnector"
SQLA_DRIVERS = [SQLA_MM, SQLA_PYMYSQL, SQLA_CONNECTOR]
# The transaction once more without the causal wait at START TRANSACTION: what that wait costs.
SQLA_MM_NOCAUSAL = "mysql+multimaster, causal_reads=false"
SQLA_TX_DRIVERS = [SQLA_MM, SQLA_MM_NOCAUSAL, SQLA_PYMYSQL, SQLA_CONNECTOR]


def sqla_label(workload: str, driver: str) -> str:
    return f"{workload}: {driver}"


THROUGHPUT_HEADER = "== Throughput"
LATENCY_HEADER = "== Latency per call"
FAILOVER_HEADER = "== Failover stall"
SQLA_THROUGHPUT_HEADER = "== SQLAlchemy throughput"
SQLA_TX_HEADER = "== SQLAlchemy transaction latency"
COLUMNS_HEADER = "client"
HEADERS = [THROUGHPUT_HEADER, LATENCY_HEADER, SQLA_THROUGHPUT_HEADER, SQLA_TX_HEADER, FAILOVER_HEADER]
ROW_LABELS = (
    [SEQ, SEQ_BOTH, BARE, PYMYSQL, CONNECTOR, EXECUTE]
    + [CONC[2], THREADS[2], CONC[4], THREADS[4]]
    + [BATCH[100], BATCH[1000], BATCH_CONC, EXECUTEMANY[100], EXECUTEMANY[1000]]
    + [LAT_PYMYSQL_INSERT, LAT_EXECUTE, LAT_PYMYSQL_SELECT, LAT_QUERY]
    + [sqla_label(workload, driver) for workload in SQLA_WORKLOADS for driver in SQLA_DRIVERS]
    + [sqla_label(TX_WORKLOAD, SQLA_MM_NOCAUSAL)]
    + [FO_FLOOR, FO_SEQ, FO_CONC, FO_REJOIN_FLOOR, FO_REJOIN]
)
TLS_LABELS = [SEQ_TLS, LAT_QUERY_TLS]
