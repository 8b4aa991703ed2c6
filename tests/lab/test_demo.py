"""`make demo`'s code path (`multimaster demo`) at a small scale, as a user runs it: its own lab
brought up, the loop with node 1 crashed and restarted in the middle, every row checked, and
the lab brought down at the end, on Ctrl-C and on SIGTERM, leaving no process behind.

The demo runs on its own addresses and directory, never the session lab's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Iterator, List

import pytest

from multimaster_lab.lab import STOP_GRACE

from support.bounds import FAILURE_DETECTION, GALERA_PAUSE, SLACK, wait_for
from support.labs import cleared, lab_processes

DEMO_HOSTS = os.environ.get("MULTIMASTER_TEST_DEMO_HOSTS", "127.0.62.1,127.0.62.2")
DEMO_DIR = os.environ.get("MULTIMASTER_TEST_DEMO_DIR", "/tmp/multimaster-pytest-demo")
# `lab up` gives itself 120 s, a restart 90 s: a whole small run fits well within this.
RUN_TIMEOUT = 420
LAB_UP = 120 + SLACK
# From the signal to the exit: insert_many stops within 0.5 s (a row in flight on a node that
# just died may take failure detection and its fence's wait for Galera's eviction, and is joined
# when the instance closes), the count watcher's last query (2 s), then `lab down`: STOP_GRACE
# before kill -9, and up to 10 s for the processes to die.
EXIT_BOUND = 0.5 + FAILURE_DETECTION + GALERA_PAUSE + 2 + STOP_GRACE + 10 + SLACK


@pytest.fixture
def lab_dir() -> Iterator[str]:
    """The demo's lab directory (support.labs.cleared)."""
    with cleared(DEMO_DIR) as path:
        yield path


class Demo:
    """`python -m multimaster_lab demo` (the `multimaster demo` command) in its own session (as
    a terminal would run it), its output collected line by line."""

    def __init__(self, lab_dir: str, count: int, interval: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "multimaster_lab",
                "demo",
                "--count",
                str(count),
                "--interval",
                str(interval),
                "--dir",
                lab_dir,
                "--hosts",
                DEMO_HOSTS,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: List[str] = []
        self.err: List[str] = []
        self.readers = [
            threading.Thread(target=self.out.extend, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self.err.extend, args=(self.proc.stderr,), daemon=True),
        ]
        for r in self.readers:
            r.start()

    def lines(self, text: str) -> int:
        return sum(text in line for line in list(self.out))

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the demo did not exit within {timeout} s:\n{self.output()}")
        for r in self.readers:
            r.join(timeout=10)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        return "".join(self.out) + "--- stderr\n" + "".join(self.err)


def test_demo_small_run_crashes_node1_and_checks_every_row(lab_dir):
    # Node 1 is crashed once count // 5 = 6 rows are in: 24 rows, 4.8 s of interval at least,
    # are still to come, so rows fail over whatever the machine's speed.
    count = 30
    demo = Demo(lab_dir, count=count, interval=0.2)
    try:
        rc = demo.wait(RUN_TIMEOUT)
    finally:
        demo.kill()
    out = demo.output()
    assert rc == 0, out
    assert f"Summary: expected {count}, found {count}, distinct {count}, lost 0, duplicated 0" in out
    assert demo.lines("1 record inserted successfully") == count, out
    # Node 1 was crashed inside the loop (rows left it for node 2) and restarted.
    node1 = DEMO_HOSTS.split(",")[0]
    assert demo.lines("=== crashing node 1") == 1, out
    assert any("(failed over)" in line and f"Title{x}:" in line for line in demo.out for x in range(0, count, 2)), out
    assert demo.lines(f"*** node {node1}:3306 down") >= 1, out
    assert demo.lines("=== node 1 is back in the cluster") == 1, out
    # ... and the lab is gone: no process, no files.
    assert demo.lines("=== bringing the lab down") == 1, out
    assert lab_processes(lab_dir) == []
    assert not os.path.exists(lab_dir)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_demo_interrupted_brings_the_lab_down(lab_dir, how):
    # Node 1 would only be crashed after count // 5 = 200 rows, 20 s of interval at least:
    # the interrupt lands in the plain loop.
    demo = Demo(lab_dir, count=1000, interval=0.1)
    try:
        wait_for(
            lambda: demo.lines("=== lab up in") == 1 or demo.proc.poll() is not None,
            LAB_UP,
            "the demo's lab to come up",
        )
        wait_for(
            lambda: demo.lines("1 record inserted successfully") >= 3 or demo.proc.poll() is not None,
            60,
            "the demo's first rows",
        )
        assert demo.proc.poll() is None, demo.output()
        assert lab_processes(lab_dir), "the lab's processes should be running now"
        if how == "ctrl-c":
            os.killpg(demo.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
        else:
            demo.proc.send_signal(signal.SIGTERM)  # `kill`, or a CI timeout
        rc = demo.wait(EXIT_BOUND)
    finally:
        demo.kill()
    out = demo.output()
    assert rc == 130, out
    assert "interrupted" in "".join(demo.err), out
    assert demo.lines("=== crashing node") == 0, out
    assert demo.lines("=== bringing the lab down") == 1, out
    assert lab_processes(lab_dir) == []
    assert not os.path.exists(lab_dir)
