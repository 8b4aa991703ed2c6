"""`python -m bench` from tests/ (`make bench`): the command line and the run; see the package's
docstring (tests/bench/__init__.py)."""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pymysql

import multimaster
from multimaster import MultiMaster
from multimaster_lab.coursedata import LAB
from multimaster_lab.lab import Lab, LabError

import bench
from bench.affinity import hot_runs, print_hot
from bench.aio import asyncio_section
from bench.baselines import (
    bare_loop_case,
    connector_connect,
    executemany_case,
    find_bare_loop,
    insert_many_case,
    python_loop,
    run_case,
    sample_latency,
    threads_case,
)
from bench.failover import Rejoin, Stall, failover_run, rejoin_run
from bench.figures import Admin, Case, Figures, Skip, login, rows_for
from bench.labels import (
    BARE,
    BATCH,
    BATCH_CONC,
    CONC,
    CONNECTOR,
    DDL,
    EXECUTE,
    EXECUTEMANY,
    FAILOVER_AFTER,
    FAILOVER_BEFORE,
    FAILOVER_INTERVAL,
    FAILOVER_TABLE,
    FLOOR_TABLE,
    FO_CONC,
    FO_SEQ,
    HOSTS,
    INSERT,
    LAB_DIR,
    LAT_EXECUTE,
    LAT_PYMYSQL_INSERT,
    LAT_PYMYSQL_SELECT,
    LAT_QUERY,
    LAT_QUERY_TLS,
    PYMYSQL,
    REPO,
    SEQ,
    SEQ_BOTH,
    SEQ_TLS,
    TABLE,
    THREADS,
    TLS_HOSTS,
)
from bench.latency import print_latency_cost
from bench.load import load_bench
from bench.report import print_failover, print_latency, print_rejoin, print_throughput
from bench.sqla import print_sqla, sizes, sqla_run


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, help="rows per client per round of the single-row cases (default 1000)")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the throughput and latency cases (default 5)")
    p.add_argument(
        "--sqla-rounds", type=int, help="interleaved rounds of the SQLAlchemy cases (default 3: 100,000-row to_sql)"
    )
    p.add_argument("--failover-rounds", type=int, help="rounds of the failover runs, two crashes each (default 5)")
    p.add_argument(
        "--failover-only", action="store_true", help="only the failover section (the stall and the rejoin gap)"
    )
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
    p.add_argument("--load-rows", type=int, help="rows of each load case (default 1,000,000; 0: none)")
    args = p.parse_args(argv)
    if args.load_rows is None:
        args.load_rows = 3000 if args.smoke else 1_000_000
    args.rows = args.rows or (40 if args.smoke else 1000)
    args.rounds = args.rounds or (1 if args.smoke else 5)
    args.sqla_rounds = args.sqla_rounds if args.sqla_rounds is not None else (1 if args.smoke else 3)
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


def failover_section(lab: Lab, admin2: Admin, rounds: int, judge: bool) -> bool:
    """The failover stall (each run crashes node 1 and starts it again) and the rejoin gap (node 2
    killed and started at once); True if a run failed, lost or duplicated a row."""
    results: Dict[str, List[Stall]] = {}
    fo_skipped: Dict[str, str] = {}
    rejoins: List[Rejoin] = []
    per_worker_rows = math.ceil(FAILOVER_AFTER / FAILOVER_INTERVAL)
    before = math.ceil(FAILOVER_BEFORE / FAILOVER_INTERVAL)
    plan = [(FO_SEQ, 1), (FO_CONC, 2)]  # (label, workers)
    started = time.monotonic()
    for r in range(rounds):
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
        rejoin = rejoin_run(lab, admin2, f"j{r}_")
        rejoins.append(rejoin)
        print(
            f"rejoin round {r + 1}: "
            + (f"gap {rejoin.seconds:.3f} s at +{rejoin.at:.1f} s" if rejoin.seconds is not None else "no gap measured")
            + (f", floor {rejoin.floor:.3f} s at +{rejoin.floor_at:.1f} s" if rejoin.floor is not None else "")
            + f", lost {rejoin.lost}, duplicated {rejoin.duplicated}"
            + (f", ERROR: {rejoin.error}" if rejoin.error else "")
            + f" ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    if not rounds:
        return False
    print_failover(results, fo_skipped, rounds, judge)
    print_rejoin(rejoins, rounds)
    return any(s.error or s.lost or s.duplicated for runs in results.values() for s in runs) or any(
        r.error or r.lost or r.duplicated for r in rejoins
    )


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    begun = time.monotonic()
    n = args.rows
    judge = not args.smoke
    lab = Lab(2, base_dir=args.lab_dir, hosts=args.hosts.split(","), **LAB)
    tls_lab = (
        Lab(2, base_dir=args.lab_dir + "-tls", hosts=args.tls_hosts.split(","), tls=True, **LAB) if args.tls else None
    )
    labs = [lab] + ([tls_lab] if tls_lab else [])
    closers: List[Callable[[], Any]] = []
    failed = False
    try:
        bare, why_not_bare = find_bare_loop(args) if not args.failover_only else (None, "")
        started = time.monotonic()
        for each in labs:
            each.up()
            for table in (TABLE, FAILOVER_TABLE, FLOOR_TABLE):
                each.sql(1, DDL.format(t=table))
        print(f"lab{'s' if len(labs) > 1 else ''} up in {time.monotonic() - started:.0f} s", flush=True)
        admin, admin2 = Admin(lab, 1), Admin(lab, 2)
        closers += [admin.close, admin2.close]
        if args.failover_only:
            failed = failover_section(lab, admin2, args.failover_rounds, judge)
            return 1 if failed else 0
        creds = lab.credentials()

        def connect(i: int) -> Any:
            conn = pymysql.connect(**login(lab, (i - 1) % 2 + 1))
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
        print_latency_cost(figures, judge)
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
        failed = asyncio_section(lab, admin, 20 if args.smoke else 2 * n, args.rounds, args.smoke) or failed
        if args.load_rows:
            failed = load_bench(lab, args.load_rows) or failed

        # The SQLAlchemy engines: ORM, to_sql, a transaction (tests/bench/sqla.py).
        if args.sqla_rounds:
            _, sqla = sqla_run(lab, admin, args.smoke, args.sqla_rounds, closers)
            print_sqla(sqla, args.sqla_rounds, judge, sizes(args.smoke))
            sys.stdout.flush()
            failed = failed or bool(sqla.errors)

        # The failover stall and the rejoin gap.
        failed = failover_section(lab, admin2, args.failover_rounds, judge) or failed

        # Hot rows: parity against key-affinity (bench/affinity.py).
        failed = not print_hot(hot_runs(lab, args.rounds, 25 if args.smoke else 250)) or failed
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
