"""`make bench` cannot rot: the bench (tests/bench, `python -m bench`) runs here with --smoke
(tiny counts, one round, one failover run of each kind, no assertion on speed) and must exit 0
having printed every table and every row, each with a figure.

The bench brings up a lab of its own; this run gives it addresses and a directory of its own
(127.0.66.x, and 127.0.67.x for the --tls lab, not the bench's 127.0.60.x and 127.0.61.x), so
it never meets a full `make bench` running beside it, and brings those labs down afterwards
whatever happened (the bench does too, unless it was killed at the deadline).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multimaster_lab.lab import Lab, LabError

from bench import aio
from bench.labels import (
    COLUMNS_HEADER,
    CONNECTOR,
    HEADERS,
    ROW_LABELS,
    SQLA_CONNECTOR,
    SQLA_WORKLOADS,
    TLS_LABELS,
    sqla_label,
)
from bench.load import LOAD_LABELS
from support.labs import lab_processes, needs_lab

HOSTS = os.environ.get("MULTIMASTER_TEST_BENCH_HOSTS", "127.0.66.1,127.0.66.2")
TLS_HOSTS = os.environ.get("MULTIMASTER_TEST_BENCH_TLS_HOSTS", "127.0.67.1,127.0.67.2")
LAB_DIR = os.environ.get("MULTIMASTER_TEST_BENCH_DIR", "/tmp/multimaster-bench-smoke-lab")
TLS_LAB_DIR = LAB_DIR + "-tls"  # where the bench puts the --tls lab
# tests/, where `python -m bench` finds its package.
TESTS = Path(__file__).resolve().parents[1]
# Two labs coming up (plain and --tls), a debug build of the bare loop if there is none yet,
# four crashes and restarts: a minute or two; the deadline is for a bench that hangs, not a
# tuning knob.
DEADLINE = 480
# A row the smoke run may skip, saying why: `make test` does not install the bench extra.
MAY_SKIP = {CONNECTOR} | {sqla_label(workload, SQLA_CONNECTOR) for workload in SQLA_WORKLOADS}


def down(lab_dir: str) -> None:
    """Bring the lab in lab_dir down, if there is one, and remove what down() keeps (the TLS
    lab's certificates): the directory is this test's own."""
    try:
        Lab.load(lab_dir).down()
    except LabError:
        pass  # no lab there
    if not lab_processes(lab_dir):
        shutil.rmtree(lab_dir, ignore_errors=True)


@needs_lab
@pytest.mark.timeout(DEADLINE + 120)
def test_bench_smoke_run_prints_every_row(tmp_path: Path) -> None:
    for lab_dir in (TLS_LAB_DIR, LAB_DIR):  # the TLS lab's directory name starts with the other's
        down(lab_dir)  # what a killed earlier run left
    log = tmp_path / "bench.log"
    started = time.monotonic()
    try:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench",
                    "--smoke",
                    "--tls",
                    "--hosts",
                    HOSTS,
                    "--tls-hosts",
                    TLS_HOSTS,
                    "--lab-dir",
                    LAB_DIR,
                ],
                cwd=TESTS,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                pytest.fail(f"the bench's --smoke run still running after {DEADLINE} s:\n{log.read_text()[-5000:]}")
    finally:
        for lab_dir in (TLS_LAB_DIR, LAB_DIR):  # the TLS lab's directory name starts with the other's
            down(lab_dir)
    took = time.monotonic() - started
    output = log.read_text()
    assert returncode == 0, f"the bench's --smoke run exited {returncode} after {took:.0f} s:\n{output[-8000:]}"
    assert not lab_processes(LAB_DIR) and not lab_processes(TLS_LAB_DIR), "the bench left lab processes behind"
    lines = output.splitlines()
    for header in HEADERS:
        assert any(line.startswith(header) for line in lines), f"no {header!r} table:\n{output}"
    assert any(line.startswith(COLUMNS_HEADER + " ") for line in lines), output
    assert any(line.startswith("latency histogram: ") for line in lines), f"no histogram cost:\n{output}"
    for label in ROW_LABELS + TLS_LABELS:
        rows = [line for line in lines if line.startswith(label + " ")]
        assert rows, f"no row {label!r}:\n{output}"
        row = rows[-1]
        assert "ERROR" not in row and "no figure" not in row, f"{row}\n\n{output}"
        if label not in MAY_SKIP:
            assert "skipped" not in row, f"{row}\n\n{output}"
    # The asyncio table: every row there (its clients' failures fail the run above); ours with
    # figures, the baselines' (the `bench` extra, which `make test` does not install) may say
    # they were not installed.
    for label in aio.LABELS:
        rows = [line for line in lines if line.startswith(label + " ")]
        assert rows, f"no row {label!r}:\n{output}"
        if label in (aio.AMM, aio.AMM_COALESCE, aio.TICKER_ALONE, aio.LAT_AMM):
            assert re.match(r"\s+[\d.]", rows[-1][len(label) :]), f"{rows[-1]}\n\n{output}"
    for label in LOAD_LABELS:  # the load table: rows, then rows/s
        assert any(re.match(re.escape(label) + r"\s+[\d,]+\s+[\d,]+\s", line) for line in lines), (
            f"{label!r}:\n{output}"
        )
