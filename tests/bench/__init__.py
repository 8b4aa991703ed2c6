"""`make bench`: multimaster's insert loops side by side with bare clients, in one run, on a
local Galera lab (2 data nodes + garbd on 127.0.60.x; its own directory).

Every figure is a median over interleaved rounds (the clients take turns, in reverse order
every other round, each on an empty table, so a slow moment of the cluster does not land on
one of them), printed with its min-max, and every ratio compares two figures of the same run:

  inserts, one autocommit row per statement (the course's INSERT, the course's row):
    insert_many (sequential)     vs a bare Rust `mysql` loop (tests/bench/bare_loop.rs: one
                                    connection, one prepared statement), PyMySQL's loop and
                                    mysql-connector-python's loop, all on node 1; and the same
                                    loop through both nodes (row x on node x mod 2)
    MultiMaster.execute() from a Python loop (keyed)   vs PyMySQL's loop
    insert_many concurrency=2, 4 vs PyMySQL threads, one connection each, row x on node x mod 2
  multi-row INSERTs:
    insert_many batch=100, 1000  vs the sequential loop, and PyMySQL executemany (which
                                    rewrites to multi-row INSERTs) in 1,000-row chunks
  latency per call (p50, p99): the INSERTs of execute() and of PyMySQL's loop, and SELECT 1
  the per-node latency histogram's cost: ns per statement, and the single-row loop's time with
    and without it (tests/bench/latency.py)
  SQLAlchemy (tests/bench/sqla.py): mysql+multimaster vs mysql+pymysql and mysql+mysqlconnector
    engines: ORM add_all and bulk insert of 10,000 objects, pandas to_sql of 100,000 rows
    (method=None and "multi"), a 3-statement transaction's p50/p99; client CPU per row
  the failover stall: kill -9 of node 1 mid-loop (rows paced 2 ms apart; the lab's crash API,
    on a row count), for insert_many sequential and concurrency=2, against the cluster's
    floor: a PyMySQL writer on the survivor alone, running beside the loop through the same
    crash (Galera's pause varies by some 100 ms from one crash to the next, so the two are
    compared crash by crash). A stall is the longest gap between two consecutive row commits
    around the crash; lost and duplicated rows are counted by a table audit (COUNT(*),
    COUNT(DISTINCT title) against the rows meant). Node 1 is started again, and rejoins,
    before the next run.
  the rejoin gap: kill -9 of node 2 mid-loop, started again at once (tests/bench/failover.py),
    one run a round: for sequential insert_many and a PyMySQL writer on node 1 beside it, the
    longest gap between commits after the stall (the joiner entering the cluster) and when
    it began after the kill; lost and duplicated rows by the same audit.

Beside each throughput figure, the CPU it took in cores busy: this process (the client;
for the bare loop, its child) and the two mariadbd (the servers), which share the machine.

    make bench                            # installs the `bench` extra, builds the bare loop
    cd tests && ../.venv/bin/python -m bench [--rows N] [--rounds N] [--sqla-rounds N] [--failover-rounds N]
                                    [--failover-only] [--keep] [--tls] [--smoke] [--hosts A,B] [--lab-dir DIR]

--rows: rows per client per round of the single-row cases (concurrent cases 2x, batched
cases 20x); --failover-only: the failover stall and the rejoin gap alone; --sqla-rounds:
rounds of the SQLAlchemy cases (default 3); --keep leaves the lab
up (a later run reuses it); --tls adds a second lab that requires TLS (127.0.61.x) and
compares insert_many and SELECT 1 over VERIFY_IDENTITY (it doubles the time the labs take to
come up); --smoke: tiny counts, one round, every case and
one failover run of each kind, figures meaningless (tests/cluster/test_bench_smoke.py runs it in
`make test`). Exits 1 if a case failed, a row count was off, or a failover run lost or
duplicated a row; a client that cannot run here (mysql-connector-python not installed, an
insert_many without concurrency=/batch=) is skipped with the reason printed.
"""

# mysql-connector-python's C extension, where its wheel ships one, links the OpenSSL the wheel
# bundles; once Python's ssl module has loaded the system's (PyMySQL imports it), the extension
# no longer loads and the driver falls back to pure Python. So it is loaded first, here, before
# any module of the bench; the bench's heading says which of the two the loop used.
try:
    import _mysql_connector  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    pass
