"""Work on a background thread while a test acts: one base (`Background`: a daemon thread whose
error is kept, never lost, and whose every wait has a deadline), and what the tests run on it:
a single call (`Call`), another session holding a lock (`LockHolder`), the course's insert loop
(`Writer`) and a read loop (`Reader`)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, TypeVar

import pytest

from multimaster import MultiMaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows
from multimaster_lab.lab import Lab, LabError

from support.bounds import LAB_WAIT, detect_bound, rejoin_bound, wait_for
from support.labs import node_downs, running

if TYPE_CHECKING:
    from multimaster import InsertReport

B = TypeVar("B", bound="Background")


class Background:
    """`_work()` on a daemon thread named `name`. What it raises is kept in `error` (asserted
    by the subclass's waits); `_stop` is set by a subclass's stop(), for loops."""

    def __init__(self, name: str) -> None:
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _work(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as e:  # handed to the test by the subclass's waits
            self.error = e
        finally:
            self._ended()

    def _ended(self) -> None:
        """Called on the thread once `_work` returned or raised."""

    def start(self: B) -> B:
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float, what: str) -> None:
        """Until the thread ends; fails the test after `timeout` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"timed out after {timeout} s waiting for {what}")

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Until `predicate()` holds (fails if the thread died with an error meanwhile)."""
        wait_for(lambda: predicate() or self.error is not None, timeout, what)
        assert self.error is None, repr(self.error)


class Call(Background):
    """One call run on a thread, so that the test can act while it runs (find its statement in
    the processlist, kill it, freeze its node). Every wait on it has a deadline."""

    def __init__(self, fn: Callable[[], Any], name: str = "call") -> None:
        super().__init__(name)
        self.fn = fn
        self.value: Any = None
        self.started = 0.0
        self.ended = 0.0

    def start(self) -> Call:
        self.started = time.monotonic()
        return super().start()

    def _work(self) -> None:
        self.value = self.fn()

    def _ended(self) -> None:
        self.ended = time.monotonic()

    @property
    def took(self) -> float:
        return self.ended - self.started

    def wait(self, timeout: float, what: str = "the call to end") -> Call:
        self.join(timeout, what)
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


class LockHolder(Background):
    """Another session on node i holding every row and gap of `table` (SELECT ... FOR UPDATE in
    an open transaction, then a long sleep), so that an INSERT into the table on node i waits
    for its lock. A context manager: entered once the lock is held; release() (also on exit)
    kills the session, which rolls its transaction back, and waits until it is gone. Its
    `error` is how the session ended: killed by release(), or aborted by Galera."""

    HOLD = 300  # seconds; the session is always killed long before

    def __init__(self, lab: Lab, i: int, table: str) -> None:
        super().__init__("lock-holder")
        self.lab, self.i, self.table = lab, i, table
        self.sleeper = f"DO SLEEP({self.HOLD}), 'holding {table}'"

    def _work(self) -> None:
        self.lab.sql(
            self.i,
            f"BEGIN; SELECT * FROM {DATABASE}.{self.table} FOR UPDATE; {self.sleeper}; ROLLBACK",
            timeout=self.HOLD + 30,
        )

    def holding(self) -> bool:
        return self.running() and bool(running(self.lab, self.i, self.sleeper))

    def __enter__(self) -> LockHolder:
        self.start()
        wait_for(self.holding, 30, f"another session on node {self.i} to hold the lock on {self.table}")
        return self

    def release(self) -> None:
        """Kills the session (unless it ended: its node crashed, or Galera aborted it)."""
        if self.running() and self.lab.pid(self.i) is not None:
            try:
                for pid in running(self.lab, self.i, self.sleeper):
                    self.lab.sql(self.i, f"KILL {pid}")
            except LabError:
                pass  # ended meanwhile, or its node went down
        self._thread.join(timeout=60)
        assert not self.running(), "the lock holder did not end"

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except Exception:
            if exc[0] is None:
                raise


class Writer(Background):
    """The course's insert loop on a thread, in small keyed batches (Title0, Title1, ...) until
    stop(): it outlives whatever fault a test injects by construction, since only the test
    ends it. For each row written, `times` holds when (time.monotonic()) and `nodes` where;
    `reports` holds each batch's InsertReport."""

    def __init__(self, mm: MultiMaster, table: str, batch: int = 10, interval: float = 0.1) -> None:
        assert batch % 2 == 0, "an even batch keeps Title{x} on node x mod 2 first"
        super().__init__("writer")
        self.mm, self.table, self.batch, self.interval = mm, table, batch, interval
        self.times: List[float] = []
        self.nodes: List[str] = []
        self.reports: List[InsertReport] = []
        self.written = 0  # rows of finished batches

    @property
    def rows(self) -> int:
        """Rows written so far, finished batch or not."""
        return len(self.times)

    def wait_rows(self, more: int, what: str, timeout: float = LAB_WAIT) -> None:
        """Until `more` rows beyond those written now are written (fails if the loop died)."""
        target = self.rows + more
        self.wait_until(lambda: self.rows >= target, timeout, what)

    def wait_node(self, address: str, since: int, what: str, timeout: float = LAB_WAIT) -> None:
        """Until a row after the first `since` was written through `address`."""
        self.wait_until(lambda: address in self.nodes[since:], timeout, what)

    def stop(self, timeout: float = LAB_WAIT) -> None:
        """Ends the loop after its current batch. Safe in a finally: asserts nothing."""
        self._stop.set()
        self._thread.join(timeout)

    def check(self) -> None:
        """The loop stopped by itself after stop(), without an error, every row accounted for."""
        assert not self.running(), "the insert loop did not stop"
        assert self.error is None, repr(self.error)
        assert self.written == len(self.times) == len(self.nodes)

    def total(self, field: str) -> int:
        """A report field summed over the batches."""
        return sum(getattr(r, field) for r in self.reports)

    def _on_row(self, index: int, node: str, rerouted: bool) -> None:
        self.times.append(time.monotonic())
        self.nodes.append(node)

    def _work(self) -> None:
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


class Reader(Background):
    """`SELECT 1` in a loop on a thread, `interval` apart, until stop(); `times` holds when each
    read returned (time.monotonic()). Reads alternate between the nodes (parity)."""

    def __init__(self, mm: MultiMaster, interval: float) -> None:
        super().__init__("reader")
        self.mm, self.interval = mm, interval
        self.times: List[float] = []

    def _work(self) -> None:
        while not self._stop.is_set():
            assert self.mm.query("SELECT 1") == [(1,)]
            self.times.append(time.monotonic())
            time.sleep(self.interval)

    def wait_reads(self, more: int, what: str, timeout: float = 60) -> None:
        target = len(self.times) + more
        self.wait_until(lambda: len(self.times) >= target, timeout, what)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self.running(), "the read loop did not stop"
        assert self.error is None, repr(self.error)


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
