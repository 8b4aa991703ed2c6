"""The fence: before a keyed write whose reply was lost is checked for and written again, the
session that sent it is killed on its node, so a write that is slow rather than lost cannot
commit after the check said it had not."""

from __future__ import annotations

import threading
import time

from conftest import SLACK, count_titles, wait_for

READ_TIMEOUT = 2.0
HOLD = 8.0  # how long the lock holder keeps its lock unless Galera aborts it first


def test_fence_stops_a_slow_write_from_committing_after_the_check(make_mm, table, cluster):
    """A session on node 1 holds a gap lock over the whole (empty) table, so the INSERT sent
    to node 1 waits on it past read_timeout: to the client its reply is lost, though the
    statement is alive and will commit once the lock goes. The key check then finds nothing
    and the row is written on node 2. Without the fence the waiting INSERT commits too when
    the lock is released (by the holder, or by Galera aborting it for node 2's write): two
    rows. With it, one."""
    holder_done = threading.Event()

    def hold_lock() -> None:
        try:
            cluster.sql(1, f"BEGIN; SELECT * FROM demo.{table} FOR UPDATE; DO SLEEP({HOLD}); ROLLBACK",
                        timeout=HOLD + 30)
        except Exception:
            pass  # aborted by Galera for node 2's conflicting write: the lock is gone either way
        finally:
            holder_done.set()

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    wait_for(lambda: _sleeping(cluster, f"DO SLEEP({HOLD})"), 30, "the lock holder to hold its lock")

    mm = make_mm(read_timeout=READ_TIMEOUT)  # its first request goes to node 1
    started = time.monotonic()
    assert mm.execute(f"INSERT INTO {table} (title) VALUES (?)", ("fenced",),
                      key=(table, "title", "fenced")) == 1
    took = time.monotonic() - started
    assert took >= READ_TIMEOUT, "the INSERT was not held back by the lock: no fault happened"

    holder.join(timeout=HOLD + 30 + SLACK)
    assert holder_done.is_set()
    # Whatever the waiting INSERT could still do, it has done once the lock is gone.
    wait_for(lambda: not _sleeping(cluster, "INSERT INTO"), 30, "no INSERT left waiting on node 1")
    assert count_titles(cluster, table) == (1, 1)
    details = [e["detail"] for e in mm.events() if e["kind"] == "ambiguous"]
    assert len(details) == 1 and " fenced, checking title='fenced'" in details[0], details
    assert any("not found: writing it again" in e["detail"] for e in mm.events())
    assert mm.stats()[1]["statements"] >= 1  # written again on node 2


def _sleeping(cluster, prefix: str) -> bool:
    (n,), = cluster.sql(1, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                           f"WHERE INFO LIKE '{prefix}%'")
    return int(n) > 0
