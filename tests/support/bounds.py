"""The bounds every wait in the tests is held to: the README's numbers, one named allowance
(`SLACK`), and the deadline-bound `wait_for`. Needs no server."""

from __future__ import annotations

import time
from typing import Callable, List

import pytest

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


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> None:
    """Polls until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


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


def max_gap(times: List[float]) -> float:
    """The longest wait between two consecutive rows."""
    return max(b - a for a, b in zip(times, times[1:]))
