"""The Ctrl-C harness: a child Python whose SIGINT latency is measured from the signal's
arrival (`CTRL_C_PRELUDE`, `interrupt`), and `Child`, a subprocess whose every wait has a
deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from typing import Callable, List, Optional, Tuple

from support.bounds import SLACK, wait_for

# Ctrl-C latency, measured inside a child process from the moment SIGINT arrived: Python's
# C-level handler writes a byte to the wakeup fd at once, and a thread blocked on the pipe stamps
# it (it needs only the GIL, which the main thread's call released). A script starting with this
# prelude calls interrupted(...) when it catches KeyboardInterrupt; it prints
# "interrupted <arrival> <caught> <words...>" (time.monotonic(), one clock for the whole machine).
CTRL_C_PRELUDE = """
import os, signal, sys, threading, time
import multimaster
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
arrivals = []
def stamp():
    os.read(r, 1)
    arrivals.append(time.monotonic())
threading.Thread(target=stamp, daemon=True).start()
def interrupted(*words):
    caught = time.monotonic()
    deadline = caught + 5
    while not arrivals and time.monotonic() < deadline:
        time.sleep(0.01)
    print("interrupted", arrivals[0] if arrivals else "nan", caught, *words, flush=True)
"""
CTRL_C_BOUND = 0.5 + SLACK  # README: within half a second


def interrupt(args: list, ready: Callable[[str], bool], after: float, count: int = 1) -> Tuple[List[str], float]:
    """Runs a Python script (CTRL_C_PRELUDE and more) until it has printed `count` lines
    satisfying `ready`, sends it SIGINT `after` seconds later, and returns the words of its
    "interrupted" line and when the signal was sent. Checks the latency the child measured and
    the child's exit."""
    child = Child([sys.executable, "-c", *args])
    try:
        wait_for(
            lambda: sum(map(ready, list(child.lines))) >= count or child.proc.poll() is not None,
            60,
            "the child to be ready",
        )
        time.sleep(after)  # into the wait (the interval's sleep, the search for a live node)
        sent = time.monotonic()
        child.signal(signal.SIGINT)
        k = child.wait_line(
            lambda text: text.startswith(("interrupted", "returned")), CTRL_C_BOUND + 10, "the child to be interrupted"
        )
        assert child.finish(30) == 0, child.stderr()
    finally:
        child.close()
    line = child.lines[k].split()
    assert line[0] == "interrupted", child.stdout()
    arrived, caught = float(line[1]), float(line[2])
    print(f"SIGINT: delivered {arrived - sent:.3f} s after kill(), caught {caught - arrived:.3f} s later")
    # Within the child, from the signal's arrival: the README's bound plus SLACK...
    assert caught - arrived < CTRL_C_BOUND, f"Ctrl-C took {caught - arrived:.3f} s"
    # ...and from the parent's kill() (one system-wide monotonic clock), so that a call holding
    # the GIL, which would delay the stamp as much as the catch, cannot hide its latency.
    assert sent <= arrived and caught - sent < CTRL_C_BOUND, (sent, arrived, caught)
    return line, sent


class Child:
    """A subprocess whose stdout and stderr lines are collected by threads, so that every wait
    on it has a deadline. close() (for a finally) resumes it if paused and kills it if running."""

    def __init__(self, args: List[str], env: Optional[dict] = None) -> None:
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: List[str] = []
        self.errors: List[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into: List[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def find(self, predicate: Callable[[str], bool], start: int = 0) -> Optional[int]:
        for k in range(start, len(self.lines)):
            if predicate(self.lines[k]):
                return k
        return None

    def wait_line(self, predicate: Callable[[str], bool], timeout: float, what: str, start: int = 0) -> int:
        """The index of the first line from `start` on that satisfies `predicate`, once printed."""
        wait_for(
            lambda: self.find(predicate, start) is not None or self.proc.poll() is not None, timeout, what, every=0.05
        )
        if self.find(predicate, start) is None:  # it exited: read what it printed last
            for reader in self._readers:
                reader.join(timeout=10)
        k = self.find(predicate, start)
        assert k is not None, (
            f"{what}: exited with {self.proc.returncode} first:\n" + self.stdout() + "\n" + self.stderr()
        )
        return k

    def finish(self, timeout: float) -> int:
        """Its exit status, once it exits by itself within `timeout` and its output is read."""
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stdout(self) -> str:
        return "\n".join(self.lines)

    def stderr(self) -> str:
        return "\n".join(self.errors)
