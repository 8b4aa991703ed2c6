"""Shared fixtures: one real Galera lab per session (2 data nodes + arbitrator on loopback,
its own addresses so it never meets a developer's `multimaster lab`), a fresh table per test,
and MultiMaster instances that are always closed. The lab is torn down even when tests fail."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Tuple

import pytest

from multimaster import MultiMaster

# The course's facts (multimaster/coursedata.py), which the tests import from here.
from multimaster.coursedata import COLUMNS, DATABASE, DEFINITION, PASSWORD, USER, course_rows
from multimaster.lab import Lab, LabError, _check_installed

if TYPE_CHECKING:
    from multimaster import Event, InsertReport

LAB_DIR = os.environ.get("MULTIMASTER_TEST_LAB_DIR", "/tmp/multimaster-pytest-lab")
# Other addresses (MULTIMASTER_TEST_LAB_HOSTS=a,b) let two suites run side by side.
LAB_HOSTS = os.environ.get("MULTIMASTER_TEST_LAB_HOSTS", "127.0.40.1,127.0.40.2").split(",")
LAB3_DIR = os.environ.get("MULTIMASTER_TEST_LAB3_DIR", "/tmp/multimaster-pytest-lab3")
LAB3_HOSTS = os.environ.get("MULTIMASTER_TEST_LAB3_HOSTS", "127.0.50.1,127.0.50.2,127.0.50.3").split(",")
# The one allowance added to any bound the README states (Ctrl-C within 0.5 s, all nodes down
# within failover_timeout + ...): room for a slow or loaded machine, never a tuning knob.
SLACK = 2.0
# The README's own numbers ("Choosing timeouts"): the library's default failure detection (a
# node that answers no liveness check for this long is declared down, even with a statement in
# flight on it), and how long Galera pauses writes on the survivors after a node dies or hangs
# (evs.suspect_timeout = 5 s plus detection) until it evicts that node.
FAILURE_DETECTION = 3.0
GALERA_PAUSE = 6.0
# How long a lab node takes to be noticed, restarted or rejoined is the lab's and Galera's
# business, not a promise of the library: waits for such states get this generous deadline.
LAB_WAIT = 120.0
# The course's table, created fresh for a test (so without IF NOT EXISTS): `.format(table=...)`.
COURSE_DDL = "CREATE TABLE {table} (" + DEFINITION + ")"

_tables = itertools.count()


def _lab_installed() -> bool:
    try:
        _check_installed()  # the lab's own check: the same tools it needs to run
    except LabError:
        return False
    return True


# For tests that start labs of their own (the session lab below needs the same).
needs_lab = pytest.mark.skipif(
    not _lab_installed() or os.geteuid() != 0,
    reason="needs root and apt packages mariadb-server galera-4 galera-arbitrator-4 rsync",
)


def lab_processes(lab_dir: str) -> List[str]:
    """The command lines of every process that mentions lab_dir (mariadbd's --datadir,
    garbd's --log): what a lab left running."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if lab_dir.encode() in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> None:
    """Polls until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def ready(lab: Lab, i: int) -> bool:
    """Node i takes writes: Synced, wsrep_ready and in the Primary component, as the lab's
    own check (`status()`'s "ready", multimaster.lab.galera.is_ready) says. False when the
    lab cannot tell (the node is going down or starting)."""
    try:
        return bool(lab.status()[i - 1]["ready"])
    except Exception:
        return False


def heal(lab: Lab) -> None:
    """Every node running, unfrozen and Synced, whatever the last test did to it. A node that
    does not come back by itself (thawed after eviction, isolated) is restarted."""
    for i in range(1, len(lab.nodes) + 1):
        if lab.pid(i) is None:
            lab.start(i)
            continue
        lab.thaw(i)
        deadline = time.monotonic() + 60
        while not ready(lab, i):
            if time.monotonic() > deadline:
                lab.crash(i)
                lab.start(i)
                break
            time.sleep(0.5)


def node_downs(mm: MultiMaster, address: str, since: float = 0.0) -> int:
    """How many node_down events `mm` recorded for `address` at or after `since` (time.time())."""
    return sum(1 for e in mm.events() if e["kind"] == "node_down" and e["node"] == address and e["time"] >= since)


def rejoin_bound(backoff_cap: float = 5.0, connect_timeout: float = 2.0) -> float:
    """How long a node that is Synced again may take to be back in rotation (README: a down
    node is probed in the background with capped exponential backoff): one backoff period and
    one probe (a connect, bounded by 1.5 x connect_timeout), twice in case a probe failed just
    before the node was ready, plus SLACK. Probes are driven by requests: keep some flowing."""
    return 2 * (backoff_cap + 1.5 * connect_timeout) + SLACK


def liveness_bound(failure_detection: float = FAILURE_DETECTION, connect_timeout: float = 2.0) -> float:
    """How long after a node stops answering (frozen, cut off, blackholed) while a statement is
    in flight on it the node is declared down (README: within failure_detection of its last
    answer): failure_detection, plus the liveness check under way when that time runs out (a
    connect, handshake included, bounded by 1.5 x connect_timeout), plus SLACK."""
    return failure_detection + 1.5 * connect_timeout + SLACK


def detect_bound(connect_timeout: float = 2.0, failure_detection: float = FAILURE_DETECTION) -> float:
    """How long a loop writing every fraction of a second may take to notice a node killed or
    hung under it: the statement it has in flight on a survivor may wait out Galera's pause (the
    survivor answers its liveness checks meanwhile, so it is not taken for dead), then the next
    one on the dead node sees it refused at once, or hung within liveness_bound()."""
    return GALERA_PAUSE + liveness_bound(failure_detection, connect_timeout)


def sql_string(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def running(lab: Lab, i: int, prefix: str) -> List[int]:
    """The processlist ids of node i's sessions running a statement that starts with `prefix`
    (the looking session itself excluded)."""
    rows = lab.sql(
        i,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
        f"AND LEFT(INFO, {len(prefix)}) = {sql_string(prefix)}",
    )
    return [int(row[0]) for row in rows if row[0] is not None]


def view_id(lab: Lab, i: int) -> int:
    """Node i's cluster view number: it changes whenever a member leaves (is evicted) or joins."""
    ((_, value),) = lab.sql(i, "SHOW STATUS LIKE 'wsrep_cluster_conf_id'")
    return int(value or 0)


NODE_EVENTS = ("node_down", "node_up", "failover")


def node_events(mm: MultiMaster, since: float = 0.0) -> List[Event]:
    """The events of `mm` that say a node was taken for dead, back, or failed over from, at or
    after `since` (time.time())."""
    return [e for e in mm.events() if e["kind"] in NODE_EVENTS and e["time"] >= since]


class Call:
    """One call run on a thread, so that the test can act while it runs (find its statement in
    the processlist, kill it, freeze its node). Every wait on it has a deadline."""

    def __init__(self, fn: Callable[[], Any], name: str = "call") -> None:
        self.fn = fn
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self.started = 0.0
        self.ended = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Call:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as e:  # handed to the test by result() / raised()
            self.error = e
        finally:
            self.ended = time.monotonic()

    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def took(self) -> float:
        return self.ended - self.started

    def wait(self, timeout: float, what: str = "the call to end") -> Call:
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        return self

    def result(self, timeout: float) -> Any:
        """What the call returned (its exception is raised here)."""
        self.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.value

    def raised(self, timeout: float) -> BaseException:
        """The exception the call raised (fails the test if it returned)."""
        self.wait(timeout)
        assert self.error is not None, f"the call returned {self.value!r} instead of raising"
        return self.error


class LockHolder:
    """Another session on node i holding every row and gap of `table` (SELECT ... FOR UPDATE in
    an open transaction, then a long sleep), so that an INSERT into the table on node i waits
    for its lock. A context manager: entered once the lock is held; release() (also on exit)
    kills the session, which rolls its transaction back, and waits until it is gone."""

    HOLD = 300  # seconds; the session is always killed long before

    def __init__(self, lab: Lab, i: int, table: str) -> None:
        self.lab, self.i, self.table = lab, i, table
        self.sleeper = f"DO SLEEP({self.HOLD}), 'holding {table}'"
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._hold, name="lock-holder", daemon=True)

    def _hold(self) -> None:
        try:
            self.lab.sql(
                self.i,
                f"BEGIN; SELECT * FROM {DATABASE}.{self.table} FOR UPDATE; {self.sleeper}; ROLLBACK",
                timeout=self.HOLD + 30,
            )
        except Exception as e:  # killed by release(), or aborted by Galera: the lock is gone
            self.error = e

    def holding(self) -> bool:
        return self._thread.is_alive() and bool(running(self.lab, self.i, self.sleeper))

    def __enter__(self) -> LockHolder:
        self._thread.start()
        wait_for(self.holding, 30, f"another session on node {self.i} to hold the lock on {self.table}")
        return self

    def release(self) -> None:
        """Kills the session (unless it ended: its node crashed, or Galera aborted it)."""
        if self._thread.is_alive() and self.lab.pid(self.i) is not None:
            try:
                for pid in running(self.lab, self.i, self.sleeper):
                    self.lab.sql(self.i, f"KILL {pid}")
            except LabError:
                pass  # ended meanwhile, or its node went down
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the lock holder did not end"

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except Exception:
            if exc[0] is None:
                raise


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


class Writer:
    """The course's insert loop on a thread, in small keyed batches (Title0, Title1, ...) until
    stop(): it outlives whatever fault a test injects by construction, since only the test
    ends it. For each row written, `times` holds when (time.monotonic()) and `nodes` where;
    `reports` holds each batch's InsertReport."""

    def __init__(self, mm: MultiMaster, table: str, batch: int = 10, interval: float = 0.1) -> None:
        assert batch % 2 == 0, "an even batch keeps Title{x} on node x mod 2 first"
        self.mm, self.table, self.batch, self.interval = mm, table, batch, interval
        self.times: List[float] = []
        self.nodes: List[str] = []
        self.reports: List[InsertReport] = []
        self.written = 0  # rows of finished batches
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    @property
    def rows(self) -> int:
        """Rows written so far, finished batch or not."""
        return len(self.times)

    def wait_rows(self, more: int, what: str, timeout: float = LAB_WAIT) -> None:
        """Until `more` rows beyond those written now are written (fails if the loop died)."""
        target = self.rows + more
        wait_for(lambda: self.rows >= target or self.error is not None, timeout, what)
        assert self.error is None, repr(self.error)

    def wait_node(self, address: str, since: int, what: str, timeout: float = LAB_WAIT) -> None:
        """Until a row after the first `since` was written through `address`."""
        wait_for(lambda: address in self.nodes[since:] or self.error is not None, timeout, what)
        assert self.error is None, repr(self.error)

    def stop(self, timeout: float = LAB_WAIT) -> None:
        """Ends the loop after its current batch. Safe in a finally: asserts nothing."""
        self._stop.set()
        self._thread.join(timeout)

    def check(self) -> None:
        """The loop stopped by itself after stop(), without an error, every row accounted for."""
        assert not self._thread.is_alive(), "the insert loop did not stop"
        assert self.error is None, repr(self.error)
        assert self.written == len(self.times) == len(self.nodes)

    def total(self, field: str) -> int:
        """A report field summed over the batches."""
        return sum(getattr(r, field) for r in self.reports)

    def _on_row(self, index: int, node: str, rerouted: bool) -> None:
        self.times.append(time.monotonic())
        self.nodes.append(node)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                report = self.mm.insert_many(
                    self.table,
                    COLUMNS,
                    course_rows(self.batch, start=self.written),
                    key="title",
                    interval=self.interval,
                    on_row=self._on_row,
                )
                assert report.rows == self.batch
                self.reports.append(report)
                self.written += report.rows
        except BaseException as e:  # asserted by wait_rows() and check()
            self.error = e


def crash_and_rejoin_each(lab: Lab, mm: MultiMaster, writer: Writer, connect: float, backoff_cap: float) -> None:
    """The course's third pane under a running `writer`: kill -9 each node in turn, wait until
    the loop has seen it down, restart it, and wait until it takes rows again and 10 more rows
    are written. `connect` and `backoff_cap` are mm's settings (they bound the waits)."""
    writer.wait_rows(10, "10 rows before the first crash")
    for i, address in enumerate(lab.addresses, 1):
        crashed_at = time.time()
        lab.crash(i)
        wait_for(
            lambda: node_downs(mm, address, crashed_at) > 0, detect_bound(connect), f"the loop to see node {i} down"
        )
        lab.start(i)  # returns once the node is Synced
        since = writer.rows
        writer.wait_node(
            address,
            since,
            f"node {i} to take rows again after its restart",
            timeout=rejoin_bound(backoff_cap, connect) + detect_bound(connect),
        )
        writer.wait_rows(10, f"10 more rows after node {i} rejoined")


def max_gap(times: List[float]) -> float:
    """The longest wait between two consecutive rows."""
    return max(b - a for a, b in zip(times, times[1:]))


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


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with running_lab(2, base_dir=LAB_DIR, hosts=LAB_HOSTS) as lab:
        yield lab


@contextlib.contextmanager
def running_lab(nodes: int, **options: Any) -> Iterator[Lab]:
    """A lab of its own for a test module: whatever a killed earlier run left in its directory
    is brought down first, and the lab is brought down afterwards even when a test fails."""
    try:
        Lab.load(options["base_dir"]).down()
    except Exception:
        pass
    lab = Lab(nodes, **options)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    """The session lab, healed before the test: every node up and Synced."""
    heal(lab)
    return lab


@pytest.fixture
def table(cluster: Lab) -> Iterator[str]:
    """A fresh course-shaped table for this test, dropped afterwards."""
    name = f"t{os.getpid()}_{next(_tables)}"
    cluster.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{name}"))
    yield name
    try:
        heal(cluster)
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    except Exception:
        pass


@pytest.fixture
def make_mm(cluster: Lab) -> Iterator[Callable[..., MultiMaster]]:
    """Builds MultiMaster instances on the lab (tests may pass other nodes or options);
    closes them all afterwards."""
    made: List[MultiMaster] = []

    def make(nodes: Optional[List[str]] = None, **options: Any) -> MultiMaster:
        options.setdefault("database", DATABASE)
        options.setdefault("user", USER)
        options.setdefault("password", PASSWORD)
        options.setdefault("connect_timeout", 1.0)
        mm = MultiMaster(nodes or cluster.addresses, **options)
        made.append(mm)
        return mm

    yield make
    for mm in made:
        mm.close()


def report_of(error: BaseException) -> InsertReport:
    """The InsertReport that insert_many attached to the exception it raised (its own, or one
    raised by a callback, or KeyboardInterrupt)."""
    report = getattr(error, "report", None)
    assert report is not None, f"no report on {error!r}"
    return report


def count_titles(lab: Lab, table: str) -> Tuple[int, int]:
    """(rows, distinct titles) in the table, read causally on a live node."""
    for i in range(1, len(lab.nodes) + 1):
        if lab.pid(i) is None:
            continue
        try:
            ((rows, distinct),) = lab.sql(
                i, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}"
            )
            return int(rows or 0), int(distinct or 0)
        except Exception:
            continue
    raise AssertionError("no node could count the rows")
