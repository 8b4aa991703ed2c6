"""Node operations in the background: a notebook cell sets up "crash node 1 in 10 s, then
restart it" (`Lab.schedule`, or `lab.crash(1, after=10, restart_after=1)`) and the next cell
runs the insert loop meanwhile.

A `Step` says what and when; a `Scheduled` runs steps in a daemon thread, one Lab operation at
a time (under the Lab's lock), and keeps what happened. What needs no cluster (validation,
ordering, failure, cancelling) is tested without one. This module knows the lab only as the
`Operations` it calls (the Lab, lab.py, imports it; it imports no lab).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Dict, List, Optional, Protocol, Sequence, Tuple, Union

from .errors import LabError
from .procs import remaining

# When a scheduled step runs: seconds after the previous step ended (the schedule's start for
# the first), or a condition polled until it returns True (such as Lab.when_rows(n)).
When = Union[float, Callable[[], bool]]


class Operations(Protocol):
    """What a schedule needs of the lab: its node operations, and the lock that runs them one
    at a time (`Lab`)."""

    @property
    def _lock(self) -> ContextManager[Any]: ...

    def _crash(self, i: int) -> None: ...
    def _freeze(self, i: int) -> None: ...
    def _thaw(self, i: int) -> None: ...
    def _stop(self, i: int, timeout: float = ...) -> None: ...
    def _start(self, i: int, timeout: float = ...) -> None: ...
    def _restart(self, i: int, timeout: float = ...) -> None: ...
    def _drain(self, i: int, timeout: float = ...) -> None: ...
    def _undrain(self, i: int) -> None: ...
    def _partition(self, i: int, one_way: bool = False) -> None: ...
    def _heal(self, i: int) -> None: ...
    def _isolate(self, i: int) -> None: ...


# Each action: the lab's method that does it, and that method's keyword arguments.
PERFORM: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "crash": ("_crash", {}),
    "freeze": ("_freeze", {}),
    "thaw": ("_thaw", {}),
    "stop": ("_stop", {}),
    "start": ("_start", {}),
    "restart": ("_restart", {}),
    "drain": ("_drain", {}),
    "undrain": ("_undrain", {}),
    "partition": ("_partition", {}),
    "partition_one_way": ("_partition", {"one_way": True}),
    "heal": ("_heal", {}),
    "isolate": ("_isolate", {}),
}
ACTIONS = tuple(PERFORM)
CONDITION_POLL = 0.25  # seconds between two checks of a condition


@dataclass(frozen=True)
class Step:
    """One node operation for `Lab.schedule`: `action` ("crash", "freeze", "thaw", "stop",
    "start", "restart", "drain", "undrain", or in a netns lab "partition",
    "partition_one_way", "isolate" or "heal") on node
    `node` (1-based), once `after` is reached: seconds after the previous step ended, or a
    condition (a callable returning True when it is time)."""

    action: str
    node: int
    after: When = 0.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise LabError(f"unknown action {self.action!r} (one of {', '.join(ACTIONS)})")
        if isinstance(self.after, bool) or not (isinstance(self.after, (int, float)) or callable(self.after)):
            raise LabError(f"after= takes seconds or a condition, not {self.after!r}")
        if isinstance(self.after, (int, float)) and not 0 <= self.after < float("inf"):
            raise LabError(f"after= must be 0 or more seconds, not {self.after!r}")

    def __str__(self) -> str:
        return f"{self.action} node {self.node} {_describe(self.after)}"


def _describe(after: When) -> str:
    if isinstance(after, (int, float)):
        return "at once" if after == 0 else f"after {after:g} s"
    # A function says its name; a condition object such as RowCount, what it waits for.
    return f"when {getattr(after, '__name__', None) or after}"


def perform(lab: Operations, step: Step, timeout: Optional[float] = None) -> None:
    """The action of a step, done now in the calling thread; `timeout` for those that take one."""
    method, options = PERFORM[step.action]
    getattr(lab, method)(step.node, **options, **({} if timeout is None else {"timeout": timeout}))


class Scheduled:
    """Steps running in a background thread, made by `Lab.schedule` (or `crash(..., after=)`
    and the like), or already run in the caller's (`crash(i)`: `run_here`). Look at it (its
    repr lists each step, when it ran and how it went), wait for it (`wait()` raises the error
    of a failed step), or `cancel()` it."""

    def __init__(self, lab: Operations, steps: Sequence[Step], timeout: Optional[float] = None) -> None:
        self.lab = lab
        self.steps: Tuple[Step, ...] = tuple(steps)
        self._timeout = timeout  # for the step's action, where it takes one
        self._here = False  # run in the caller's thread, not the background one
        self.error: Optional[BaseException] = None
        # Per step: pending, waiting, running, done, failed, cancelled, skipped.
        self._states = ["pending"] * len(self.steps)
        self._ran_at: List[Optional[float]] = [None] * len(self.steps)  # time.time() at start
        self._took: List[Optional[float]] = [None] * len(self.steps)
        self.history: List[Tuple[float, str]] = []  # (time.time(), what happened)
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"multimaster-lab-schedule-{id(self):x}")

    def _begin(self) -> None:
        self._thread.start()

    def run_here(self) -> Scheduled:
        """Run the steps now in the calling thread; return the finished handle, or raise the
        error of the step that failed."""
        self._here = True
        self._run()
        return self.wait()

    @property
    def done(self) -> bool:
        """Finished: every step done, or one failed, or cancelled."""
        return self._here or (self._thread.ident is not None and not self._thread.is_alive())

    @property
    def ok(self) -> bool:
        """Finished with every step done."""
        return self.done and all(state == "done" for state in self._states)

    @property
    def cancelled(self) -> bool:
        """`cancel()` (or the lab's `down()`) was called."""
        return self._cancel.is_set()

    @property
    def states(self) -> List[str]:
        """Per step: pending, waiting, running, done, failed, cancelled or skipped."""
        return list(self._states)

    @property
    def ran_at(self) -> List[Optional[float]]:
        """Per step: when its action began (time.time(), like `mm.events()`), or None."""
        return list(self._ran_at)

    def wait(self, timeout: Optional[float] = None) -> Scheduled:
        """Wait until the schedule ends; return it. Raises the error of a failed step, and
        TimeoutError if it is still running after `timeout` seconds."""
        if not self._here:
            self._thread.join(timeout)
        if self._thread.is_alive():
            running = [str(s) for s, st in zip(self.steps, self._states) if st in ("waiting", "running")]
            raise TimeoutError(f"schedule still running after {timeout:g} s" + (f" ({running[0]})" if running else ""))
        if self.error is not None:
            raise self.error
        return self

    def cancel(self, wait: bool = True, timeout: float = 180) -> None:
        """Drop the steps not started yet; with `wait`, let a step under way finish first."""
        self._cancel.set()
        if wait and not self._here and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _note(self, text: str) -> None:
        self.history.append((time.time(), text))

    def _reached(self, after: When) -> bool:
        """Wait for `after`; False if cancelled meanwhile."""
        if isinstance(after, (int, float)):
            return not self._cancel.wait(after)
        while not self._cancel.is_set():
            if after():
                return True
            self._cancel.wait(CONDITION_POLL)
        return False

    def _run(self) -> None:
        for k, step in enumerate(self.steps):
            try:
                self._states[k] = "waiting"
                if not self._reached(step.after):
                    break
                with self.lab._lock:
                    if self._cancel.is_set():  # down() was called while this step waited
                        break
                    self._do(k, step)
            except BaseException as e:  # surfaced by wait(), `error` and stderr, never lost
                self._fail(k, step, e)
                return
        for rest in range(len(self.steps)):
            if self._states[rest] in ("pending", "waiting"):
                self._states[rest] = "cancelled"

    def _do(self, k: int, step: Step) -> None:
        self._states[k] = "running"
        self._ran_at[k] = time.time()
        self._note(f"{step.action} node {step.node} ({_describe(step.after)})")
        started = time.monotonic()
        perform(self.lab, step, self._timeout)
        self._took[k] = time.monotonic() - started
        self._states[k] = "done"
        self._note(f"{step.action} node {step.node}: done in {self._took[k]:.1f} s")

    def _fail(self, k: int, step: Step, e: BaseException) -> None:
        self._states[k] = "failed"
        self.error = e
        self._note(f"{step.action} node {step.node} failed: {e}")
        for rest in range(k + 1, len(self.steps)):
            self._states[rest] = "skipped"
        if self._here:  # raised to the caller by run_here
            return
        try:
            print(
                f"multimaster lab: scheduled {step.action} of node {step.node} failed: {e}", file=sys.stderr, flush=True
            )
        except Exception:
            pass

    def __repr__(self) -> str:
        if self.done:
            overall = "failed" if self.error else "cancelled" if self._cancel.is_set() and not self.ok else "done"
        else:
            overall = "cancelling" if self._cancel.is_set() else "running"
        lines = [f"<Scheduled, {overall}: {len(self.steps)} step{'s' if len(self.steps) != 1 else ''}"]
        for k, step in enumerate(self.steps):
            state = self._states[k]
            at = self._ran_at[k]
            when = time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "        "
            took = f" in {self._took[k]:.1f} s" if self._took[k] is not None else ""
            lines.append(f"  {when}  {step}: {state}{took}")
        if self.error is not None:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines) + ">"


def cancel_all(handles: List[Scheduled], timeout: float) -> None:
    """Cancel each pending schedule: steps not started are dropped; a step under way finishes
    first (waited for up to `timeout` s in all)."""
    pending = [s for s in handles if not s.done]
    for handle in pending:
        handle._cancel.set()
    deadline = time.monotonic() + timeout
    for handle in pending:
        if handle._thread.ident is not None and handle._thread is not threading.current_thread():
            handle._thread.join(remaining(deadline))
