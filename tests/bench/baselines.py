"""The clients measured: multimaster's insert loops and the baselines beside them (the bare Rust
loop, bare_loop.rs; PyMySQL; mysql-connector-python), and running a case for a round."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from multimaster import MultiMaster
from multimaster_lab.coursedata import COLUMNS
from multimaster_lab.lab import Lab

from bench.figures import Case, Figures, Skip, client_cpu, login, machine_cpu, rows_for, server_cpu
from bench.labels import INSERT, REPO, TABLE


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
    try:
        conn = mysql.connector.connect(**login(lab, i))
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
