"""Lab operations scheduled in the background (Lab.schedule, crash(..., after=...) and the like),
against a real cluster of its own on 127.0.44.x, brought down at the end whatever happens.

What a notebook relies on: the call returns at once and the action happens later, by the clock
or when the table holds enough rows; a failed step is raised by wait(), kept in `error` and
printed, never lost; `down()` drops pending steps, lets one under way finish and leaves no
process behind. Plus $MULTIMASTER_LAB_HOSTS, which lets CI run the notebook on its own
addresses.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import pytest

from multimaster_lab.coursedata import DATABASE
from multimaster_lab.lab import Lab

from support.labs import lab_processes, needs_lab, ready, running_lab

HOSTS = os.environ.get("MULTIMASTER_TEST_SCHEDULE_HOSTS", "127.0.44.1,127.0.44.2").split(",")
LAB_DIR = os.environ.get("MULTIMASTER_TEST_SCHEDULE_DIR", "/tmp/mm-lab-h4")
# How long a node takes to be evicted, restarted and Synced is Galera's business: generous.
LAB_WAIT = 180.0
TABLE = f"{DATABASE}.sched"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab(2, base_dir=LAB_DIR, hosts=HOSTS) as lab:
        lab.sql(1, f"CREATE TABLE {TABLE} (n INT)")
        yield lab


# ------------------------------------------------------------------------------------------
# Without a cluster


# ------------------------------------------------------------------------------------------
# On a real cluster


@needs_lab
def test_crash_later_then_restart_in_one_call(lab: Lab) -> None:
    pid = lab.pid(1)
    t = time.monotonic()
    handle = lab.crash(1, after=2, restart_after=1)
    assert time.monotonic() - t < 0.5, "scheduling must not block the caller"
    assert lab.pid(1) == pid  # not yet
    # The crash happens: node 1's process goes away (the restart then brings a new one).
    deadline = time.monotonic() + 30
    while lab.pid(1) == pid:
        assert time.monotonic() < deadline, "node 1 was not crashed"
        time.sleep(0.05)
    assert time.monotonic() - t >= 2 - 0.05
    handle.wait(LAB_WAIT)
    assert handle.ok and handle.states == ["done", "done"]
    crashed_at, started_at = handle.ran_at
    assert crashed_at is not None and started_at is not None
    assert started_at - crashed_at >= 1
    assert ready(lab, 1) and lab.pid(1) not in (None, pid)
    assert [what for _, what in handle.history][0] == "crash node 1 (after 2 s)"


@needs_lab
def test_row_driven_freeze_and_thaw(lab: Lab) -> None:
    lab.sql(1, f"DELETE FROM {TABLE}")
    handle = lab.freeze(2, after=lab.when_rows(3, TABLE), thaw_after=0.5)
    for n in range(2):
        lab.sql(1, f"INSERT INTO {TABLE} VALUES ({n})")
    time.sleep(1.0)  # four polls of the condition
    assert handle.states == ["waiting", "pending"], "frozen before the table held 3 rows"
    lab.sql(1, f"INSERT INTO {TABLE} VALUES (2)")
    handle.wait(30)
    assert handle.ok
    frozen_at, thawed_at = handle.ran_at
    assert frozen_at is not None and thawed_at is not None and thawed_at - frozen_at >= 0.5
    assert f"{TABLE} holds 3 rows" in repr(handle)
    deadline = time.monotonic() + 60
    while not ready(lab, 2):
        assert time.monotonic() < deadline, "node 2 did not come back after the thaw"
        time.sleep(0.2)


@needs_lab
def test_a_direct_call_waits_for_a_scheduled_one(lab: Lab) -> None:
    """Node operations of one Lab run one at a time: a stop+start under way in the background
    is not interleaved with a call from the foreground."""
    handle = lab.restart(2, after=0)
    deadline = time.monotonic() + 10
    while handle.states != ["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    lab.thaw(1)  # a no-op on a running node, but it has to wait for the lock
    assert handle.states == ["done"]
    handle.wait(10)
    assert ready(lab, 2)


@needs_lab
def test_down_cancels_pending_and_finishes_the_step_under_way(lab: Lab) -> None:
    """Last on this module's lab: it brings it down."""
    pending = lab.crash(1, after=lab.when_rows(10**9, TABLE), restart_after=1)
    under_way = lab.restart(2, after=0)
    deadline = time.monotonic() + 10
    while under_way.states != ["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    lab.down()
    assert pending.done and pending.cancelled and pending.states == ["cancelled", "cancelled"]
    # The restart was let finish (or it would have started a node behind down's back).
    assert under_way.done and under_way.error is None and under_way.states == ["done"]
    assert lab.pid(1) is None and lab.pid(2) is None
    assert not lab_processes(LAB_DIR), "a lab process outlived down()"
    assert lab.scheduled == []
