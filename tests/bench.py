"""Throughput of the insert path and latency of a trivial read, side by side with bare clients
in the same run.

Brings up its own labs (2 Galera nodes + arbitrator on 127.0.60.x, and the same with TLS
required on 127.0.61.x), inserts the course's rows one autocommit statement at a time, and
prints rows/s for: a bare PyMySQL connection (the baseline), PyMySQL alternating two nodes like
the course script (no failover), MultiMaster's execute() from a Python loop, insert_many() in
Rust (keyed, unkeyed, with a live progress view, and over TLS with VERIFY_IDENTITY); then
`SELECT 1` latency (p50, p99) for PyMySQL and MultiMaster, plain and over TLS.
Run with `make bench`; `--rows N`, `--rounds N`, `--keep` to leave the labs up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, List, Tuple

import pymysql

from multimaster import MultiMaster
from multimaster.course import COLUMNS
from multimaster.lab import Lab

HOSTS = ["127.0.60.1", "127.0.60.2"]
TLS_HOSTS = ["127.0.61.1", "127.0.61.2"]
INSERT = "INSERT INTO {t} (title, instructor, duration, created, url) VALUES (%s, %s, %s, %s, %s)"
TABLE = ("CREATE TABLE IF NOT EXISTS demo.bench (title VARCHAR(40), instructor VARCHAR(40), "
         "duration INT, created DATE, url VARCHAR(100), KEY (title))")


def rows(n: int, tag: str) -> List[Tuple]:
    return [(f"{tag}{x}", "Jeremy Cook", 100, "1999-03-30", "http://here.com") for x in range(n)]


def timed(fn: Callable[[], None], n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def latencies(fn: Callable[[], object], n: int) -> List[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(xs: List[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    n = args.rows
    base = os.environ.get("MULTIMASTER_BENCH_LAB_DIR", "/tmp/multimaster-bench-lab")
    lab = Lab(2, base_dir=base, hosts=HOSTS)
    tls_lab = Lab(2, base_dir=base + "-tls", hosts=TLS_HOSTS, tls=True)
    labs = [lab, tls_lab]
    try:
        for each in labs:
            each.up()
            each.sql(1, TABLE)
        env = lab.env()
        conns = [pymysql.connect(host=h, user=env["DB_USER"], password=env["MYSQL_PWD"],
                                 database="demo", autocommit=True) for h in HOSTS]
        mm = MultiMaster(lab.addresses, **lab.credentials())
        mm_tls = MultiMaster(tls_lab.addresses, **tls_lab.credentials())  # VERIFY_IDENTITY
        sql = INSERT.format(t="bench")
        snapshots: list = []

        def bare() -> None:
            with conns[0].cursor() as c:
                for r in rows(n, "a"):
                    c.execute(sql, r)

        def alternating() -> None:
            cursors = [c.cursor() for c in conns]
            for x, r in enumerate(rows(n, "b")):
                cursors[x % 2].execute(sql, r)

        def mm_execute() -> None:
            q = sql.replace("%s", "?")
            for r in rows(n, "c"):
                mm.execute(q, r, key=("bench", "title", r[0]))

        # (name, function, the lab it writes to)
        cases = [
            ("PyMySQL, one node (baseline)", bare, lab),
            ("PyMySQL, alternating 2 nodes, no failover", alternating, lab),
            ("MultiMaster.execute, keyed, Python loop", mm_execute, lab),
            ("MultiMaster.insert_many, keyed (Rust loop)",
             lambda: mm.insert_many("bench", COLUMNS, rows(n, "d"), key="title"), lab),
            ("MultiMaster.insert_many, unkeyed", lambda: mm.insert_many("bench", COLUMNS, rows(n, "e")), lab),
            # The live view's cost: snapshots built ten times a second on the calling thread.
            ("MultiMaster.insert_many, keyed, progress on",
             lambda: mm.insert_many("bench", COLUMNS, rows(n, "f"), key="title", progress=snapshots.append), lab),
            ("MultiMaster.insert_many, keyed, TLS",
             lambda: mm_tls.insert_many("bench", COLUMNS, rows(n, "g"), key="title"), tls_lab),
        ]
        # Rounds interleave the clients, in reverse order every other round, so a slow moment
        # of the cluster does not land on one of them; each starts on an empty table (a
        # growing index slows later cases) and keeps its best round.
        best = [0.0] * len(cases)
        for round_ in range(args.rounds):
            order = list(range(len(cases)))
            for i in order if round_ % 2 == 0 else reversed(order):
                name, fn, where = cases[i]
                where.sql(1, "TRUNCATE demo.bench")
                best[i] = max(best[i], timed(fn, n))
                (count,), = where.sql(1, "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM demo.bench")
                assert int(count) == n, (name, count)
        results = {name: rate for (name, _, _), rate in zip(cases, best)}
        baseline = results[cases[0][0]]
        print(f"\n{n} single-row autocommit inserts per client, best of {args.rounds} rounds, "
              f"2 Galera nodes on loopback, {os.cpu_count()} cores")
        print(f"{'client':46} {'rows/s':>8} {'vs baseline':>12}")
        for name, rate in results.items():
            print(f"{name:46} {rate:8.0f} {rate / baseline:11.2f}x")
        keyed = results["MultiMaster.insert_many, keyed (Rust loop)"]
        print(f"progress on / off (keyed insert_many): {results['MultiMaster.insert_many, keyed, progress on'] / keyed:.3f}")
        print(f"TLS / plain (keyed insert_many):        {results['MultiMaster.insert_many, keyed, TLS'] / keyed:.3f}")

        # SELECT 1: the round trip and the client's own cost, no commit involved.
        cur = conns[0].cursor()
        readers = [
            ("PyMySQL", lambda: cur.execute("SELECT 1") and cur.fetchall()),
            ("MultiMaster.query", lambda: mm.query("SELECT 1")),
            ("MultiMaster.query, TLS", lambda: mm_tls.query("SELECT 1")),
        ]
        samples: dict = {name: [] for name, _ in readers}
        for _ in range(args.rounds):
            for name, fn in readers:
                samples[name] += latencies(fn, max(200, n // 2))
        print(f"\nSELECT 1 latency, {len(samples['PyMySQL'])} calls each, interleaved rounds")
        print(f"{'client':46} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
        for name, xs in samples.items():
            print(f"{name:46} {pct(xs, 0.5) * 1e6:8.0f} {pct(xs, 0.99) * 1e6:8.0f} "
                  f"{statistics.mean(xs) * 1e6:8.0f}")
        mm.close()
        mm_tls.close()
        for c in conns:
            c.close()
    finally:
        if not args.keep:
            for each in labs:
                each.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
