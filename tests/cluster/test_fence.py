"""The fence: before a keyed write whose reply was lost on a dead node is checked for and
written again, the session that sent it must be unable to commit: killed on its node (KILL
CONNECTION succeeded), its process gone (connection refused), or its node evicted from the
cluster (absent from a survivor's mysql.wsrep_cluster_members). Each way is made to happen here
with a keyed INSERT that waits on node 1 for a lock another node 1 session holds, so that the
INSERT is alive, not lost, when its node is taken for dead.

A slow INSERT on a live node is not a failure any more (test_slow.py): what makes node 1 dead
here is SIGSTOP or kill -9."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator, Tuple

import pytest

from support.bounds import GALERA_PAUSE, LAB_WAIT, SLACK, liveness_bound, wait_for
from support.labs import count_titles, node_downs, running, view_id
from support.threads import Call, LockHolder

FD = 1.0  # failure_detection: node 1 is declared down well before Galera's suspect timeout (5 s)
CONNECT = 1.0  # make_mm's connect_timeout


def _ambiguous(mm, address: str) -> list:
    return [e["detail"] for e in mm.events() if e["kind"] == "ambiguous" and e["node"] == address]


@pytest.fixture
def held_insert(make_mm, table, cluster) -> Iterator[Callable[[str], Tuple[Any, Call, LockHolder, str]]]:
    """Sets up an INSERT of a keyed row titled `title` waiting on node 1 for the lock another
    session holds there: returns (mm, the call, the lock holder, the INSERT). The holder is
    released at the end of the test at the latest."""
    with contextlib.ExitStack() as stack:

        def hold(title: str) -> Tuple[Any, Call, LockHolder, str]:
            insert = f"INSERT INTO {table} (title) VALUES ('{title}')"
            holder = stack.enter_context(LockHolder(cluster, 1, table))
            mm = make_mm(failure_detection=FD)  # its first request goes to node 1
            call = Call(lambda: mm.execute(insert, key=(table, "title", title)).rowcount).start()
            wait_for(
                lambda: running(cluster, 1, insert) or not call.running(),
                30,
                "the INSERT to wait for the lock on node 1",
            )
            assert call.running(), f"the INSERT was not held back by the lock: {call.error!r}"
            return mm, call, holder, insert

        yield hold


def test_fence_kills_a_write_on_a_node_thawed_before_eviction(held_insert, table, cluster):
    """The INSERT waits on node 1's lock; node 1 is frozen, declared down within
    failure_detection, and thawed failure_detection + 1 s after the freeze, before Galera evicts
    it (the view number does not change): the INSERT is alive again, still waiting on the lock.
    The fence kills its session before the key check, which finds nothing, and the row is written
    again (on node 2, whose replicated write also aborts the lock holder). Without the fence the
    old INSERT would commit as well once the lock is gone: two rows. With it, one, and the
    ambiguous event says the session was killed."""
    node1 = cluster.addresses[0]
    view = view_id(cluster, 2)
    mm, call, holder, insert = held_insert("fenced")
    frozen = time.monotonic()
    frozen_at = time.time()
    cluster.freeze(1)
    try:
        wait_for(
            lambda: node_downs(mm, node1, frozen_at) > 0,
            liveness_bound(FD, CONNECT),
            "node 1 declared down while frozen",
        )
        time.sleep(max(0.0, frozen + FD + 1 - time.monotonic()))
        # Frozen: the session cannot be killed, node 1 neither refuses nor is evicted yet.
        assert call.running(), f"the write was resolved before its session was fenced: {call.error!r}"
    finally:
        cluster.thaw(1)
    thawed = time.monotonic() - frozen
    assert call.result(LAB_WAIT) == 1
    holder.release()  # if Galera has not aborted it already
    wait_for(lambda: not running(cluster, 1, insert), 30, "no INSERT left waiting on node 1")
    print(f"thawed {thawed:.2f} s after the freeze, the call took {call.took:.2f} s")
    assert view_id(cluster, 2) == view, (
        f"node 1 was evicted (thawed {thawed:.1f} s after the freeze): the kill was not what fenced it"
    )
    assert count_titles(cluster, table) == (1, 1)
    details = _ambiguous(mm, node1)
    assert len(details) == 1 and " fenced: killed" in details[0] and "title='fenced'" in details[0], details
    assert any("not found: writing it again" in e["detail"] for e in mm.events())


@pytest.mark.parametrize("how", ["crashed", "evicted"])
def test_fence_on_a_dead_node_waits_for_its_process_or_its_eviction(held_insert, table, cluster, how):
    """The INSERT waits on node 1's lock, and node 1 dies for good: killed with kill -9 (its
    connections refused: "process gone", at once) or frozen until Galera evicts it ("node
    evicted", some 6 s later; until then the key check must not run). The key check then finds
    nothing and the row is written on node 2, once."""
    node1 = cluster.addresses[0]
    mm, call, holder, insert = held_insert(how)
    died = time.monotonic()
    died_at = time.time()
    if how == "crashed":
        cluster.crash(1)  # the holder's session dies with it
        try:
            wait_for(lambda: node_downs(mm, node1, died_at) > 0, SLACK, "node 1 declared down at once")
            # Galera's pause on node 2 (until it evicts node 1), then the key check and the write.
            assert call.result(GALERA_PAUSE + liveness_bound(FD, CONNECT) + SLACK) == 1
        finally:
            holder.release()
    else:
        cluster.freeze(1)
        try:
            wait_for(
                lambda: node_downs(mm, node1, died_at) > 0,
                liveness_bound(FD, CONNECT),
                "node 1 declared down while frozen",
            )
            assert call.result(GALERA_PAUSE + liveness_bound(FD, CONNECT) + SLACK) == 1
        finally:
            # Evicted meanwhile, node 1 would sit outside the Primary component once thawed
            # (it cannot commit anything there) until restarted: kill it, the next test's
            # fixture starts it again.
            cluster.crash(1)
        holder.release()
    took = time.monotonic() - died
    print(f"{how}: the call returned {took:.2f} s after node 1 died")
    assert count_titles(cluster, table) == (1, 1)  # read on node 2 (node 1 is down or non-Primary)
    details = _ambiguous(mm, node1)
    expected = " fenced: process gone" if how == "crashed" else " fenced: node evicted"
    assert len(details) == 1 and expected in details[0] and f"title='{how}'" in details[0], details
    assert any("not found: writing it again" in e["detail"] for e in mm.events())
