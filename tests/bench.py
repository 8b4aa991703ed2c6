"""`make bench`: multimaster's insert loops side by side with bare clients, in one run, on a
local Galera lab (2 data nodes + garbd on 127.0.60.x; its own directory).

Every figure is a median over interleaved rounds (the clients take turns, in reverse order
every other round, each on an empty table, so a slow moment of the cluster does not land on
one of them), printed with its min-max, and every ratio compares two figures of the same run:

  inserts, one autocommit row per statement (the course's INSERT, the course's row):
    insert_many (sequential)     vs a bare Rust `mysql` loop (examples/bare_loop.rs: one
                                    connection, one prepared statement), PyMySQL's loop and
                                    mysql-connector-python's loop, all on node 1; and the same
                                    loop through both nodes (row x on node x mod 2)
    MultiMaster.execute() from a Python loop (keyed)   vs PyMySQL's loop
    insert_many concurrency=2, 4 vs PyMySQL threads, one connection each, row x on node x mod 2
  multi-row INSERTs:
    insert_many batch=100, 1000  vs the sequential loop, and PyMySQL executemany (which
                                    rewrites to multi-row INSERTs) in 1,000-row chunks
  latency per call (p50, p99): the INSERTs of execute() and of PyMySQL's loop, and SELECT 1
  the failover stall: kill -9 of node 1 mid-loop (rows paced 2 ms apart; the lab's crash API,
    on a row count), for insert_many sequential and concurrency=2, against the cluster's
    floor: a PyMySQL writer on the survivor alone, running beside the loop through the same
    crash (Galera's pause varies by some 100 ms from one crash to the next, so the two are
    compared crash by crash). A stall is the longest gap between two consecutive row commits
    around the crash; lost and duplicated rows are counted by a table audit (COUNT(*),
    COUNT(DISTINCT title) against the rows meant). Node 1 is started again, and rejoins,
    before the next run.

Beside each throughput figure, the CPU it took in cores busy: this process (the client;
for the bare loop, its child) and the two mariadbd (the servers), which share the machine.

    make bench                            # installs the `bench` extra, builds the bare loop
    .venv/bin/python tests/bench.py [--rows N] [--rounds N] [--failover-rounds N] [--keep]
                                    [--tls] [--smoke] [--hosts A,B] [--lab-dir DIR]

--rows: rows per client per round of the single-row cases (concurrent cases 2x, batched
cases 20x); --keep leaves the lab up (a later run reuses it); --tls adds a second lab that
requires TLS (127.0.61.x) and compares insert_many and SELECT 1 over VERIFY_IDENTITY (it
doubles the time the labs take to come up); --smoke: tiny counts, one round, every case and
one failover run of each kind, figures meaningless (tests/test_bench_smoke.py runs it in
`make test`). Exits 1 if a case failed, a row count was off, or a failover run lost or
duplicated a row; a client that cannot run here (mysql-connector-python not installed, an
insert_many without concurrency=/batch=) is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

# mysql-connector-python's C extension, where its wheel ships one, links the OpenSSL the wheel
# bundles; once Python's ssl module has loaded the system's (PyMySQL imports it), the extension
# no longer loads and the driver falls back to pure Python. So it is loaded first; the bench's
# heading says which of the two the loop used.
try:
    import _mysql_connector  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    pass

import pymysql

import multimaster
from multimaster import MultiMaster
from multimaster.coursedata import COLUMNS, DATABASE, DEFINITION, Row, titled_row
from multimaster.lab import Lab, LabError

REPO = Path(__file__).resolve().parent.parent
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
STALL_TARGET = 0.050  # the target: stall <= floor + 50 ms

# Row labels, in the order printed: tests/test_bench_smoke.py checks each appears.
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

THROUGHPUT_HEADER = "== Throughput"
LATENCY_HEADER = "== Latency per call"
FAILOVER_HEADER = "== Failover stall"
COLUMNS_HEADER = "client"
HEADERS = [THROUGHPUT_HEADER, LATENCY_HEADER, FAILOVER_HEADER]
ROW_LABELS = (
    [SEQ, SEQ_BOTH, BARE, PYMYSQL, CONNECTOR, EXECUTE]
    + [CONC[2], THREADS[2], CONC[4], THREADS[4]]
    + [BATCH[100], BATCH[1000], BATCH_CONC, EXECUTEMANY[100], EXECUTEMANY[1000]]
    + [LAT_PYMYSQL_INSERT, LAT_EXECUTE, LAT_PYMYSQL_SELECT, LAT_QUERY]
    + [FO_FLOOR, FO_SEQ, FO_CONC]
)
TLS_LABELS = [SEQ_TLS, LAT_QUERY_TLS]


class Skip(Exception):
    """This client cannot run here (not installed, not in this build): its row says why."""


def rows_for(n: int, tag: str) -> List[Row]:
    """The course's row, titled `<tag><x>`."""
    return [titled_row(f"{tag}{x}") for x in range(n)]


def pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def median_range(xs: Sequence[float]) -> Tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def server_cpu(pids: Sequence[Optional[int]]) -> float:
    """CPU seconds (user + system) the given processes have used so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        if pid is None:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every core, every process, interrupts)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def client_cpu() -> float:
    """CPU seconds of this process (every thread, the Rust workers too) and of its reaped
    children (the bare Rust loop)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Admin:
    """A plain connection to one node for setting up and auditing (never timed); reconnects
    after its node was restarted."""

    def __init__(self, lab: Lab, i: int) -> None:
        node = lab.nodes[i - 1]
        creds = lab.credentials()
        ssl = {"ssl_ca": creds["ssl_ca"], "ssl_verify_identity": True} if lab.tls else {}
        self.connect = lambda: pymysql.connect(
            host=node.host,
            port=node.port,
            user=creds["user"],
            password=creds["password"],
            database=creds["database"],
            autocommit=True,
            connect_timeout=5,
            **ssl,
        )
        self.conn: Optional[pymysql.connections.Connection] = None

    def sql(self, statement: str) -> List[Tuple[Any, ...]]:
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = self.connect()
                with self.conn.cursor() as c:
                    c.execute(statement)
                    return list(c.fetchall())
            except pymysql.err.OperationalError:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def truncate(self, table: str) -> None:
        self.sql(f"TRUNCATE {DATABASE}.{table}")

    def audit(self, table: str) -> Tuple[int, int]:
        """(rows, distinct titles), read causally: every commit of the cluster is seen."""
        self.sql("SET SESSION wsrep_sync_wait = 1")
        ((count, distinct),) = self.sql(f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}")
        return int(count), int(distinct)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


# ------------------------------------------------------------------------------------------------
# The cases: each inserts n rows tagged `tag` and returns the seconds its loop took (connections
# are opened beforehand, as a long-running client has them).


@dataclass
class Case:
    label: str
    rows: int  # per round
    run: Callable[[int, str], float]
    admin: Admin
    # (label of the figure compared with, target ratio or None for information)
    versus: List[Tuple[str, Optional[float]]] = field(default_factory=list)


@dataclass
class Figures:
    rates: Dict[str, List[float]] = field(default_factory=dict)
    client: Dict[str, List[float]] = field(default_factory=dict)  # cores busy
    servers: Dict[str, List[float]] = field(default_factory=dict)
    other: Dict[str, List[float]] = field(default_factory=dict)
    # latency label -> per round list of per-call seconds
    latency: Dict[str, List[List[float]]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def insert_many_case(mm: MultiMaster, **options: Any) -> Callable[[int, str], float]:
    def run(n: int, tag: str) -> float:
        rows = rows_for(n, tag)
        t = time.perf_counter()
        try:
            report = mm.insert_many(TABLE, COLUMNS, rows, key="title", **options)
        except TypeError as e:
            if any(name in str(e) for name in options):
                raise Skip(f"this build's insert_many has no {', '.join(f'{k}=' for k in options)}: {e}") from None
            raise
        elapsed = time.perf_counter() - t
        if report.rows != n:
            raise AssertionError(f"insert_many reported {report.rows} rows of {n}")
        return elapsed

    return run


def python_loop(execute: Callable[[Tuple[Any, ...]], Any], latencies: List[List[float]]) -> Callable[[int, str], float]:
    """A loop calling `execute(row)` per row, timing each call."""

    def run(n: int, tag: str) -> float:
        rows = rows_for(n, tag)
        calls = []
        clock = time.perf_counter
        started = clock()
        for row in rows:
            t = clock()
            execute(row)
            calls.append(clock() - t)
        elapsed = clock() - started
        latencies.append(calls)
        return elapsed

    return run


def bare_loop_case(binary: Optional[Path], why_not: str, lab: Lab) -> Callable[[int, str], float]:
    node = lab.nodes[0]
    creds = lab.credentials()

    def run(n: int, tag: str) -> float:
        if binary is None:
            raise Skip(why_not)
        done = subprocess.run(
            [str(binary), node.host, str(node.port), creds["user"], "-", creds["database"], TABLE, str(n), tag],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, MYSQL_PWD=creds["password"]),
        )
        if done.returncode != 0:
            raise RuntimeError(f"bare_loop exited {done.returncode}: {done.stderr.strip()[-500:]}")
        return float(json.loads(done.stdout.strip().splitlines()[-1])["elapsed"])

    return run


def threads_case(connections: List[Any]) -> Callable[[int, str], float]:
    """One PyMySQL connection per thread; thread t writes rows x with x mod T = t, and its
    connection is on node t mod 2, so row x lands on node x mod 2."""
    sql = INSERT.format(t=TABLE)

    def run(n: int, tag: str) -> float:
        rows = rows_for(n, tag)
        count = len(connections)
        gate = threading.Barrier(count + 1)
        errors: List[BaseException] = []

        def work(t: int) -> None:
            try:
                cursor = connections[t].cursor()
                mine = rows[t::count]
                gate.wait()
                for row in mine:
                    cursor.execute(sql, row)
            except BaseException as e:
                errors.append(e)

        workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(count)]
        for w in workers:
            w.start()
        gate.wait()
        started = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
        return elapsed

    return run


def executemany_case(connection: Any, chunk: int) -> Callable[[int, str], float]:
    sql = INSERT.format(t=TABLE)

    def run(n: int, tag: str) -> float:
        rows = rows_for(n, tag)
        cursor = connection.cursor()
        started = time.perf_counter()
        for k in range(0, n, chunk):
            cursor.executemany(sql, rows[k : k + chunk])
        return time.perf_counter() - started

    return run


def find_bare_loop(args: argparse.Namespace) -> Tuple[Optional[Path], str]:
    """The bare loop's binary (built now by cargo unless --bare-loop names one), or why not."""
    if args.bare_loop:
        path = Path(args.bare_loop)
        return (path, "") if path.is_file() else (None, f"--bare-loop {path}: no such file")
    profile = "debug" if args.smoke else "release"  # a smoke run times nothing: skip the LTO build
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / profile / "examples" / "bare_loop"
    cmd = ["cargo", "build", "-q", "--example", "bare_loop"] + ([] if args.smoke else ["--release"])
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    except (OSError, subprocess.TimeoutExpired) as e:
        return (binary, "") if binary.is_file() else (None, f"`{' '.join(cmd)}` failed: {e}")
    if done.returncode != 0:
        return None, f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}"
    return binary, ""


def connector_connect(lab: Lab, i: int) -> Tuple[Any, str]:
    """A mysql-connector-python connection to node i, or (None, why not)."""
    try:
        import mysql.connector  # type: ignore[import-not-found]
    except ImportError as e:
        return None, f"mysql-connector-python is not installed ({e}; `make bench` installs the bench extra)"
    node = lab.nodes[i - 1]
    creds = lab.credentials()
    try:
        conn = mysql.connector.connect(
            host=node.host,
            port=node.port,
            user=creds["user"],
            password=creds["password"],
            database=creds["database"],
            autocommit=True,
        )
    except Exception as e:
        return None, f"mysql-connector-python could not connect: {e}"
    return conn, ""


# ------------------------------------------------------------------------------------------------
# Running the rounds


def run_case(case: Case, tag: str, lab: Lab, figures: Figures) -> None:
    label = case.label
    if label in figures.skipped or label in figures.errors:
        return
    case.admin.truncate(TABLE)
    pids = [lab.pid(i) for i in range(1, len(lab.nodes) + 1)]
    cpu0, srv0, all0, wall0 = client_cpu(), server_cpu(pids), machine_cpu(), time.perf_counter()
    try:
        elapsed = case.run(case.rows, tag)
    except Skip as e:
        figures.skipped[label] = str(e)
        return
    except Exception as e:
        figures.errors[label] = f"{type(e).__name__}: {e}"
        return
    wall = time.perf_counter() - wall0
    cpu, srv, busy = client_cpu() - cpu0, server_cpu(pids) - srv0, machine_cpu() - all0
    count, distinct = case.admin.audit(TABLE)
    if count != case.rows or distinct != case.rows:
        figures.errors[label] = f"{count} rows ({distinct} distinct) in the table, {case.rows} meant"
        return
    figures.rates.setdefault(label, []).append(case.rows / elapsed)
    figures.client.setdefault(label, []).append(cpu / wall)
    figures.servers.setdefault(label, []).append(srv / wall)
    figures.other.setdefault(label, []).append(max(0.0, busy - cpu - srv) / wall)


def sample_latency(label: str, call: Callable[[], Any], n: int, figures: Figures) -> None:
    calls = []
    clock = time.perf_counter
    try:
        for _ in range(n):
            t = clock()
            call()
            calls.append(clock() - t)
    except Exception as e:
        figures.errors[label] = f"{type(e).__name__}: {e}"
        return
    figures.latency.setdefault(label, []).append(calls)


@dataclass
class Stall:
    seconds: Optional[float] = None  # the loop's longest gap between two commits around the crash
    floor: Optional[float] = None  # the survivor-only writer's, in the same crash
    lost: int = 0
    duplicated: int = 0
    error: str = ""


def stall_of(times: List[float], crashed_at: float) -> Tuple[Optional[float], int]:
    """The longest gap between two consecutive commits that ends after the crash, and how
    many commits came after it."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:]) if b > crashed_at]
    return (max(gaps) if gaps else None), len(gaps)


class FloorWriter:
    """The cluster's floor: a PyMySQL writer on node 2 (the survivor) alone, paced like the
    loop, writing its own table on a thread until stopped. It lives through the same crash as
    the loop beside it, so the two stalls compare crash by crash (Galera's pause after a kill
    varies by a few hundred ms from one crash to the next)."""

    def __init__(self, lab: Lab, tag: str) -> None:
        node = lab.nodes[1]
        creds = lab.credentials()
        self.conn = pymysql.connect(
            host=node.host,
            port=node.port,
            user=creds["user"],
            password=creds["password"],
            database=creds["database"],
            autocommit=True,
        )
        self.tag = tag
        self.times: List[float] = []
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="floor-writer", daemon=True)

    def start(self) -> FloorWriter:
        self._thread.start()
        deadline = time.monotonic() + 30
        while len(self.times) < 10 and self.error is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        sql = INSERT.format(t=FLOOR_TABLE)
        clock = time.perf_counter
        try:
            with self.conn.cursor() as cursor:
                x = 0
                while not self._stop.is_set():
                    cursor.execute(sql, titled_row(f"{self.tag}{x}"))
                    self.times.append(clock())
                    x += 1
                    time.sleep(FAILOVER_INTERVAL)
        except BaseException as e:
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        try:
            self.conn.close()
        except Exception:
            pass


def failover_run(lab: Lab, admin: Admin, label: str, rows: int, before: int, tag: str) -> Stall:
    """insert_many of `rows` rows paced FAILOVER_INTERVAL apart (per worker), node 1 killed
    once `before` rows are written, beside a FloorWriter; node 1 is started again (and rejoins
    the cluster) before this returns."""
    admin.truncate(FAILOVER_TABLE)
    admin.truncate(FLOOR_TABLE)
    data = rows_for(rows, tag)
    times: List[float] = []  # when each row's commit was seen (list.append is atomic)
    crashed_at: List[float] = []

    def due() -> bool:
        if len(times) >= before:
            crashed_at.append(time.perf_counter())
            return True
        return False

    stall = Stall()
    options: Dict[str, Any] = {"concurrency": 2} if label == FO_CONC else {}
    mm = MultiMaster(lab.addresses, **lab.credentials())
    floor = FloorWriter(lab, tag + "fl").start()
    chaos = lab.crash(1, after=due)  # polled every 0.25 s
    try:
        mm.insert_many(
            FAILOVER_TABLE,
            COLUMNS,
            data,
            key="title",
            interval=FAILOVER_INTERVAL,
            on_row=lambda index, node, rerouted: times.append(time.perf_counter()),
            **options,
        )
    except TypeError as e:
        if not (options and "concurrency" in str(e)):
            stall.error = f"{type(e).__name__}: {e}"
        else:
            raise Skip(f"this build's insert_many has no concurrency=: {e}") from None
    except Exception as e:
        stall.error = f"{type(e).__name__}: {e}"
    finally:
        floor.stop()
        chaos.cancel()  # if the loop ended before the crash came, it never comes
        mm.close()
        try:
            chaos.wait(0)
        except Exception as e:
            stall.error = stall.error or f"the crash failed: {e}"
        try:
            lab.start(1)  # returns once node 1 is Synced again
        except Exception as e:
            stall.error = stall.error or f"node 1 did not come back: {e}"
    if floor.error is not None:
        stall.error = stall.error or f"the floor writer failed: {floor.error!r}"
    try:
        count, distinct = admin.audit(FAILOVER_TABLE)
        stall.lost, stall.duplicated = rows - distinct, count - distinct
    except Exception as e:
        stall.error = stall.error or f"audit failed: {e}"
    if not crashed_at:
        stall.error = stall.error or "the loop ended before the crash came"
        return stall
    stall.seconds, after = stall_of(times, crashed_at[0])
    stall.floor, floor_after = stall_of(floor.times, crashed_at[0])
    if min(after, floor_after) < 10:
        stall.error = stall.error or f"too few commits after the crash (loop {after}, floor {floor_after})"
    return stall


# ------------------------------------------------------------------------------------------------
# Printing


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def ratio_cell(value: float, target: Optional[float], judge: bool, higher: bool = True) -> str:
    if target is None:
        return f"{value:7.2f}x"
    sign = ">=" if higher else "<="
    ok = value >= target if higher else value <= target
    verdict = ("met" if ok else "MISSED") if judge else "(smoke: not judged)"
    return f"{value:7.2f}x  {sign} {target:g}x  {verdict}"


def print_throughput(cases: List[Case], figures: Figures, rounds: int, judge: bool) -> None:
    print(
        f"\n{THROUGHPUT_HEADER}: rows/s, median of {rounds} interleaved round{'s' if rounds != 1 else ''} "
        f"(min-max); CPU in cores busy, medians: client (this process or its child), servers (both mariadbd), "
        f"other (everything else: kernel, garbd, and any other work on the machine, which disturbs the figure)"
    )
    print(
        f"{COLUMNS_HEADER:40} {'rows':>7} {'rows/s':>9} {'min-max':>17} {'client':>6} {'servers':>7} {'other':>5}  "
        f"| {'ratio to':38} {'ratio':>8}  target"
    )
    for case in cases:
        label = case.label
        if label in figures.skipped:
            print(f"{label:40} skipped: {figures.skipped[label]}")
            continue
        if label in figures.errors:
            print(f"{label:40} ERROR: {figures.errors[label]}")
            continue
        rates = figures.rates.get(label)
        if not rates:
            print(f"{label:40} no figure")
            continue
        mid, lo, hi = median_range(rates)
        client = statistics.median(figures.client[label])
        servers = statistics.median(figures.servers[label])
        elsewhere = statistics.median(figures.other[label])
        head = (
            f"{label:40} {case.rows:7d} {fmt_rate(mid):>9} {fmt_rate(lo) + '-' + fmt_rate(hi):>17} "
            f"{client:6.2f} {servers:7.2f} {elsewhere:5.2f}  "
        )
        pad = " " * len(head)
        if not case.versus:
            print(head.rstrip())
            continue
        for k, (other, target) in enumerate(case.versus):
            theirs = figures.rates.get(other)
            if theirs:
                cell = ratio_cell(mid / statistics.median(theirs), target, judge)
            else:
                cell = "     n/a" + (f"  >= {target:g}x  (no figure)" if target is not None else "")
            print(f"{head if k == 0 else pad}| {other:38} {cell}")


def print_latency(figures: Figures, labels: List[str], versus: Dict[str, str], rounds: int, judge: bool) -> None:
    print(
        f"\n{LATENCY_HEADER}: microseconds; p50 and p99 of each round, median of {rounds} "
        f"round{'s' if rounds != 1 else ''} (min-max); the ratio to the PyMySQL line above it (lower is faster)"
    )
    print(
        f"{COLUMNS_HEADER:40} {'calls':>7} {'p50':>7} {'min-max':>13} {'p99':>7} {'min-max':>13} {'max':>8}  "
        f"| {'p50 ratio':>9} {'p99 ratio':>9}"
    )
    for label in labels:
        if label in figures.errors:
            print(f"{label:40} ERROR: {figures.errors[label]}")
            continue
        if label in figures.skipped:
            print(f"{label:40} skipped: {figures.skipped[label]}")
            continue
        per_round = figures.latency.get(label)
        if not per_round:
            print(f"{label:40} no figure")
            continue
        p50 = median_range([pct(r, 0.50) * 1e6 for r in per_round])
        p99 = median_range([pct(r, 0.99) * 1e6 for r in per_round])
        worst = max(max(r) for r in per_round) * 1e6
        calls = sum(len(r) for r in per_round)
        line = (
            f"{label:40} {calls:7d} {p50[0]:7.0f} {f'{p50[1]:.0f}-{p50[2]:.0f}':>13} "
            f"{p99[0]:7.0f} {f'{p99[1]:.0f}-{p99[2]:.0f}':>13} {worst:8.0f}  "
        )
        other = versus.get(label)
        theirs = figures.latency.get(other) if other else None
        if theirs:
            their50 = statistics.median([pct(r, 0.50) * 1e6 for r in theirs])
            their99 = statistics.median([pct(r, 0.99) * 1e6 for r in theirs])
            verdict = ""
            if label == LAT_EXECUTE:  # the target: p99 no worse than PyMySQL's
                ok = p99[0] <= their99
                verdict = "  p99 <= PyMySQL's: " + (("met" if ok else "MISSED") if judge else "(smoke: not judged)")
            line += f"| {p50[0] / their50:8.2f}x {p99[0] / their99:8.2f}x{verdict}"
        print(line.rstrip())


def print_failover(results: Dict[str, List[Stall]], skipped: Dict[str, str], rounds: int, judge: bool) -> None:
    print(
        f"\n{FAILOVER_HEADER}: kill -9 of node 1 mid-loop, rows paced {FAILOVER_INTERVAL * 1e3:g} ms apart per "
        f"worker; stall: the longest gap between two row commits around the crash, in seconds, median of "
        f"{rounds} round{'s' if rounds != 1 else ''} (min-max); the floor writer runs beside each loop, through "
        f"the same crash; lost and duplicated rows by a table audit, all rounds"
    )
    print(
        f"{COLUMNS_HEADER:40} {'stall s':>8} {'min-max':>13} {'lost':>5} {'dup':>5}  "
        f"| {'over the floor, same crash':>26}  target"
    )
    floors = [s.floor for runs in results.values() for s in runs if s.floor is not None]
    if floors:
        mid, lo, hi = median_range(floors)
        print(f"{FO_FLOOR:40} {mid:8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {'-':>5} {'-':>5}")
    else:
        print(f"{FO_FLOOR:40} no figure")
    for label in (FO_SEQ, FO_CONC):
        if label in skipped:
            print(f"{label:40} skipped: {skipped[label]}")
            continue
        runs = results.get(label, [])
        stalls = [s.seconds for s in runs if s.seconds is not None]
        lost = sum(s.lost for s in runs)
        dup = sum(s.duplicated for s in runs)
        if not stalls:
            print(f"{label:40} no figure" + "".join(f"; ERROR: {s.error}" for s in runs if s.error))
            continue
        mid, lo, hi = median_range(stalls)
        line = f"{label:40} {mid:8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {lost:5d} {dup:5d}  "
        extras = [(s.seconds - s.floor) * 1e3 for s in runs if s.seconds is not None and s.floor is not None]
        if extras:
            e_mid, e_lo, e_hi = median_range(extras)
            ok = e_mid <= STALL_TARGET * 1e3 and lost == 0 and dup == 0
            verdict = ("met" if ok else "MISSED") if judge else "(smoke: not judged)"
            line += (
                f"| {f'{e_mid:+.0f} ms ({e_lo:+.0f} to {e_hi:+.0f})':>26}  "
                f"<= +{STALL_TARGET * 1e3:.0f} ms, 0 lost, 0 dup: {verdict}"
            )
        print(line.rstrip())
        for s in runs:
            if s.error:
                print(f"{'':40} ERROR: {s.error}")


# ------------------------------------------------------------------------------------------------


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, help="rows per client per round of the single-row cases (default 1000)")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the throughput and latency cases (default 5)")
    p.add_argument("--failover-rounds", type=int, help="rounds of the failover runs, two crashes each (default 5)")
    p.add_argument("--keep", action="store_true", help="leave the lab(s) up")
    p.add_argument(
        "--smoke", action="store_true", help="tiny counts, one round: every case runs once, figures meaningless"
    )
    p.add_argument("--tls", action="store_true", help="also a TLS lab: insert_many and SELECT 1 over TLS")
    p.add_argument("--hosts", default=HOSTS, help=f"the lab's two node addresses (default {HOSTS})")
    p.add_argument("--tls-hosts", default=TLS_HOSTS, help=f"the TLS lab's (default {TLS_HOSTS})")
    p.add_argument(
        "--lab-dir", default=LAB_DIR, help=f"the lab's directory (default {LAB_DIR}; the TLS lab's gets -tls appended)"
    )
    p.add_argument("--bare-loop", help="the bare_loop binary to use instead of building it with cargo")
    args = p.parse_args(argv)
    args.rows = args.rows or (40 if args.smoke else 1000)
    args.rounds = args.rounds or (1 if args.smoke else 5)
    args.failover_rounds = args.failover_rounds if args.failover_rounds is not None else (1 if args.smoke else 5)
    for name in ("rows", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def describe(lab: Lab, admin: Admin, args: argparse.Namespace, bare: Optional[Path], connector: Any) -> None:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    ((version,),) = admin.sql("SELECT VERSION()")
    provider = admin.sql("SHOW STATUS LIKE 'wsrep_provider_version'")
    print(
        f"\nmultimaster {multimaster.__version__} bench: 2 Galera nodes + garbd on loopback "
        f"({', '.join(lab.addresses)}), MariaDB {version}, Galera {provider[0][1] if provider else '?'}"
    )
    print(
        f"machine: {os.cpu_count()} cores ({model or platform.machine()}), shared by the client and both "
        f"servers; Python {platform.python_version()}, PyMySQL {pymysql.__version__}"
        + (
            f", mysql-connector-python {getattr(sys.modules.get('mysql.connector'), '__version__', '?')}"
            f" ({'C extension' if type(connector).__name__.startswith('CMySQL') else 'pure Python'})"
            if connector is not None
            else ""
        )
        + (f"; bare loop {bare.relative_to(REPO) if bare.is_relative_to(REPO) else bare}" if bare else "")
    )
    if args.smoke:
        print("SMOKE RUN: tiny counts and one round, so that every case runs; the figures mean nothing")


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    begun = time.monotonic()
    n = args.rows
    judge = not args.smoke
    lab = Lab(2, base_dir=args.lab_dir, hosts=args.hosts.split(","))
    tls_lab = Lab(2, base_dir=args.lab_dir + "-tls", hosts=args.tls_hosts.split(","), tls=True) if args.tls else None
    labs = [lab] + ([tls_lab] if tls_lab else [])
    closers: List[Callable[[], Any]] = []
    failed = False
    try:
        bare, why_not_bare = find_bare_loop(args)
        started = time.monotonic()
        for each in labs:
            each.up()
            for table in (TABLE, FAILOVER_TABLE, FLOOR_TABLE):
                each.sql(1, DDL.format(t=table))
        print(f"lab{'s' if len(labs) > 1 else ''} up in {time.monotonic() - started:.0f} s", flush=True)
        admin, admin2 = Admin(lab, 1), Admin(lab, 2)
        closers += [admin.close, admin2.close]
        creds = lab.credentials()

        def connect(i: int) -> Any:
            node = lab.nodes[(i - 1) % 2]
            conn = pymysql.connect(
                host=node.host,
                port=node.port,
                user=creds["user"],
                password=creds["password"],
                database=creds["database"],
                autocommit=True,
            )
            closers.append(conn.close)
            return conn

        mm = MultiMaster(lab.addresses, **creds)
        closers.append(mm.close)
        # The one-connection baselines all write through node 1: so do the sequential loop and
        # execute() they are compared with. Through both nodes (row x on node x mod 2, as the
        # course) each commit also waits for the other node to apply the one before: a cost
        # of the cluster, shown on its own line, and the baseline of the loops that spread
        # over both nodes (concurrency, batches).
        mm1 = MultiMaster(lab.addresses[:1], **creds)
        closers.append(mm1.close)
        connector, why_not_connector = connector_connect(lab, 1)
        if connector is not None:
            closers.append(connector.close)
        describe(lab, admin, args, bare, connector)

        one = connect(1)
        sql = INSERT.format(t=TABLE)
        qmark = sql.replace("%s", "?")
        py_cursor = one.cursor()
        figures = Figures()
        lat_py = figures.latency.setdefault(LAT_PYMYSQL_INSERT, [])
        lat_ex = figures.latency.setdefault(LAT_EXECUTE, [])

        def connector_run(n_: int, tag: str) -> float:
            if connector is None:
                raise Skip(why_not_connector)
            cursor = connector.cursor()
            rows = rows_for(n_, tag)
            t = time.perf_counter()
            for row in rows:
                cursor.execute(sql, row)
            return time.perf_counter() - t

        # A smoke run still writes one full 1,000-row batch and a partial one.
        n_conc, n_batch = 2 * n, (1100 if args.smoke else 20 * n)
        cases = [
            Case(SEQ, n, insert_many_case(mm1), admin, [(BARE, 0.97), (PYMYSQL, None), (CONNECTOR, None)]),
            Case(SEQ_BOTH, n, insert_many_case(mm), admin, [(SEQ, None)]),
            Case(BARE, n, bare_loop_case(bare, why_not_bare, lab), admin),
            Case(PYMYSQL, n, python_loop(lambda row: py_cursor.execute(sql, row), lat_py), admin),
            Case(CONNECTOR, n, connector_run, admin),
            Case(
                EXECUTE,
                n,
                python_loop(lambda row: mm1.execute(qmark, row, key=(TABLE, "title", row[0])), lat_ex),
                admin,
                [(PYMYSQL, 1.05)],
            ),
            Case(CONC[2], n_conc, insert_many_case(mm, concurrency=2), admin, [(SEQ_BOTH, 1.5), (THREADS[2], 1.0)]),
            Case(THREADS[2], n_conc, threads_case([connect(t) for t in (1, 2)]), admin),
            Case(CONC[4], n_conc, insert_many_case(mm, concurrency=4), admin, [(SEQ_BOTH, 2.0), (THREADS[4], 1.0)]),
            Case(THREADS[4], n_conc, threads_case([connect(t) for t in (1, 2, 1, 2)]), admin),
            Case(
                BATCH[100],
                n_batch,
                insert_many_case(mm, batch=100),
                admin,
                [(SEQ_BOTH, 40.0), (EXECUTEMANY[100], None)],
            ),
            Case(
                BATCH[1000],
                n_batch,
                insert_many_case(mm, batch=1000),
                admin,
                [(EXECUTEMANY[1000], 1.1), (SEQ_BOTH, None)],
            ),
            Case(
                BATCH_CONC,
                n_batch,
                insert_many_case(mm, batch=1000, concurrency=2),
                admin,
                [(EXECUTEMANY[1000], None), (BATCH[1000], None)],
            ),
            Case(EXECUTEMANY[100], n_batch, executemany_case(connect(1), 100), admin),
            Case(EXECUTEMANY[1000], n_batch, executemany_case(connect(1), 1000), admin),
        ]
        readers: List[Tuple[str, Callable[[], Any]]] = [
            (LAT_PYMYSQL_SELECT, lambda: py_cursor.execute("SELECT 1") and py_cursor.fetchall()),
            (LAT_QUERY, lambda: mm.query("SELECT 1")),
        ]
        if tls_lab is not None:
            mm_tls = MultiMaster(tls_lab.addresses, **tls_lab.credentials())  # VERIFY_IDENTITY
            closers.append(mm_tls.close)
            tls_admin = Admin(tls_lab, 1)
            closers.append(tls_admin.close)
            cases.append(Case(SEQ_TLS, n, insert_many_case(mm_tls), tls_admin, [(SEQ, None)]))
            readers.append((LAT_QUERY_TLS, lambda: mm_tls.query("SELECT 1")))

        # Warm-up, untimed: connections, prepared statements, the server's caches.
        warm = Figures()
        for case in cases:
            run_case(
                Case(case.label, min(case.rows, 200 if case.rows < n_batch else 2000), case.run, case.admin),
                f"w{len(warm.rates)}_",
                lab,
                warm,
            )
        figures.skipped.update(warm.skipped)
        figures.errors.update(warm.errors)
        lat_py.clear()
        lat_ex.clear()

        started = time.monotonic()
        samples = max(100, n) if not args.smoke else 50
        for r in range(args.rounds):
            order = list(range(len(cases)))
            for k in order if r % 2 == 0 else reversed(order):
                run_case(cases[k], f"r{r}c{k}_", lab, figures)
            for label, call in readers if r % 2 == 0 else list(reversed(readers)):
                sample_latency(label, call, samples, figures)
            print(f"round {r + 1} of {args.rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        mm.close()
        print_throughput(cases, figures, args.rounds, judge)
        versus = {LAT_EXECUTE: LAT_PYMYSQL_INSERT, LAT_QUERY: LAT_PYMYSQL_SELECT, LAT_QUERY_TLS: LAT_PYMYSQL_SELECT}
        print_latency(
            figures,
            [LAT_PYMYSQL_INSERT, LAT_EXECUTE, LAT_PYMYSQL_SELECT, LAT_QUERY] + ([LAT_QUERY_TLS] if tls_lab else []),
            versus,
            args.rounds,
            judge,
        )
        sys.stdout.flush()
        failed = bool(figures.errors)

        # The failover stall: each run crashes node 1 and starts it again.
        results: Dict[str, List[Stall]] = {}
        fo_skipped: Dict[str, str] = {}
        per_worker_rows = math.ceil(FAILOVER_AFTER / FAILOVER_INTERVAL)
        before = math.ceil(FAILOVER_BEFORE / FAILOVER_INTERVAL)
        plan = [(FO_SEQ, 1), (FO_CONC, 2)]  # (label, workers)
        started = time.monotonic()
        for r in range(args.failover_rounds):
            for label, workers in plan if r % 2 == 0 else list(reversed(plan)):
                if label in fo_skipped:
                    continue
                try:
                    stall = failover_run(
                        lab, admin2, label, workers * (before + per_worker_rows), workers * before, f"f{r}{label[:3]}_"
                    )
                except Skip as e:
                    fo_skipped[label] = str(e)
                    continue
                results.setdefault(label, []).append(stall)
                print(
                    f"failover round {r + 1}, {label}: "
                    + (f"stall {stall.seconds:.3f} s" if stall.seconds is not None else "no stall measured")
                    + (f", floor {stall.floor:.3f} s" if stall.floor is not None else "")
                    + f", lost {stall.lost}, duplicated {stall.duplicated}"
                    + (f", ERROR: {stall.error}" if stall.error else "")
                    + f" ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
        if args.failover_rounds:
            print_failover(results, fo_skipped, args.failover_rounds, judge)
            failed = failed or any(s.error or s.lost or s.duplicated for runs in results.values() for s in runs)
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                pass
        if not args.keep:
            for each in labs:
                try:
                    each.down()
                except LabError as e:
                    print(f"bench: bringing {each.base_dir} down failed: {e}", file=sys.stderr)
    print(f"\nbench took {time.monotonic() - begun:.0f} s" + (" (failures above)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
