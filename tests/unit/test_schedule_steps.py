"""The lab's schedules without a server (split from tests/lab/test_lab_schedule.py): hosts from
the environment, steps refused at once, what steps and conditions say, a failing step, wait's
timeout and cancel."""

from __future__ import annotations

import time

import pytest

from multimaster_lab.coursedata import DATABASE, QUALIFIED_TABLE
from multimaster_lab.lab import Lab, LabError, Scheduled, Step, lab_hosts

# Descriptions only: no lab is started here.
HOSTS = ["127.0.44.1", "127.0.44.2"]
TABLE = f"{DATABASE}.sched"


def test_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIMASTER_LAB_HOSTS", " 127.0.45.1, 127.0.45.2:23306 ")
    assert lab_hosts() == ["127.0.45.1", "127.0.45.2:23306"]
    lab = Lab(base_dir="/tmp/mm-lab-h4-unused")
    assert lab.addresses == ["127.0.45.1:3306", "127.0.45.2:23306"]
    # Explicit hosts win over the variable; a count that disagrees with it is named.
    assert Lab(1, base_dir="/tmp/mm-lab-h4-unused", hosts=["127.0.46.1"]).addresses == ["127.0.46.1:3306"]
    with pytest.raises(LabError, match="MULTIMASTER_LAB_HOSTS"):
        Lab(3, base_dir="/tmp/mm-lab-h4-unused")
    monkeypatch.setenv("MULTIMASTER_LAB_HOSTS", "")
    assert lab_hosts() is None
    assert Lab(base_dir="/tmp/mm-lab-h4-unused").addresses == ["127.0.10.1:3306", "127.0.10.2:3306"]


def test_bad_steps_fail_at_once() -> None:
    lab = Lab(2, base_dir="/tmp/mm-lab-h4-unused", hosts=HOSTS)
    for action, node, after in [("explode", 1, 0), ("crash", 1, -1), ("crash", 1, "soon")]:
        with pytest.raises(LabError):
            lab.schedule(Step(action, node, after))  # type: ignore[arg-type]
    with pytest.raises(LabError, match="no node 3"):
        lab.schedule(Step("crash", 3))
    with pytest.raises(LabError):
        lab.schedule()


def test_steps_and_conditions_say_what_they_wait_for() -> None:
    lab = Lab(2, base_dir="/tmp/mm-lab-h4-unused", hosts=HOSTS)

    def table_filled() -> bool:
        return False

    assert str(Step("crash", 1, 2)) == "crash node 1 after 2 s"
    assert str(Step("start", 2)) == "start node 2 at once"
    assert str(Step("partition_one_way", 1, table_filled)) == "partition_one_way node 1 when table_filled"
    assert str(Step("freeze", 2, lab.when_rows(3, TABLE))) == f"freeze node 2 when {TABLE} holds 3 rows"
    with pytest.raises(LabError, match="bad table name"):
        lab.when_rows(3, f"{TABLE}; DROP TABLE {QUALIFIED_TABLE}")


def test_a_failing_step_is_raised_kept_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    lab = Lab(2, base_dir="/tmp/mm-lab-h4-unused", hosts=HOSTS)

    def broken_condition() -> bool:
        raise RuntimeError("the condition broke")

    handle = lab.schedule(Step("crash", 1, after=broken_condition), Step("start", 1))
    with pytest.raises(RuntimeError, match="the condition broke"):
        handle.wait(10)
    assert handle.done and not handle.ok
    assert isinstance(handle.error, RuntimeError)
    assert handle.states == ["failed", "skipped"]
    assert "the condition broke" in repr(handle)
    assert "scheduled crash of node 1 failed: the condition broke" in capsys.readouterr().err


def test_an_operation_now_fails_in_the_caller_with_the_same_handle_type(capsys: pytest.CaptureFixture[str]) -> None:
    """`freeze(1)` with no lab running raises its error in the caller (no stderr line: the
    caller has it); with after= the same error ends a background Scheduled."""
    lab = Lab(2, base_dir="/tmp/mm-lab-h4-unused", hosts=HOSTS)
    with pytest.raises(LabError, match="node 1"):
        lab.freeze(1)
    assert capsys.readouterr().err == ""
    later = lab.freeze(1, after=0.0)
    assert isinstance(later, Scheduled)
    with pytest.raises(LabError, match="node 1"):
        later.wait(10)
    assert later.states == ["failed"]


def test_wait_times_out_and_cancel_drops_pending_steps() -> None:
    lab = Lab(2, base_dir="/tmp/mm-lab-h4-unused", hosts=HOSTS)
    handle = lab.crash(1, after=3600)
    with pytest.raises(TimeoutError):
        handle.wait(0.2)
    assert lab.scheduled == [handle]
    t = time.monotonic()
    handle.cancel()
    assert time.monotonic() - t < 1
    assert handle.done and handle.cancelled and handle.states == ["cancelled"]
    assert lab.scheduled == []
    assert handle.wait(1) is handle  # cancelled is not an error
