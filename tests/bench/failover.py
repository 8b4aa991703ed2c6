"""The failover stall: kill -9 of node 1 mid-loop, beside a PyMySQL floor writer on the survivor;
and the rejoin gap: kill -9 of node 2 restarted at once, the pause both writers see when it rejoins."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pymysql

from multimaster import MultiMaster
from multimaster_lab.coursedata import COLUMNS, titled_row
from multimaster_lab.lab import Lab

from bench.figures import Admin, Skip, login, rows_for
from bench.labels import (
    FAILOVER_INTERVAL,
    FAILOVER_TABLE,
    FLOOR_TABLE,
    FO_CONC,
    INSERT,
    REJOIN_AFTER,
    REJOIN_BEFORE,
    REJOIN_MAX_ROWS,
)


@dataclass
class Stall:
    seconds: Optional[float] = None  # the loop's longest gap between two commits around the crash
    floor: Optional[float] = None  # the survivor-only writer's, in the same crash
    lost: int = 0
    duplicated: int = 0
    error: str = ""


def stall_of(times: List[float], crashed_at: float) -> Tuple[Optional[float], int]:
    """The longest gap between two consecutive commits that ends after the crash, and how
    many commits came after it."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:]) if b > crashed_at]
    return (max(gaps) if gaps else None), len(gaps)


class FloorWriter:
    """The cluster's floor: a PyMySQL writer on the survivor (node 2 unless told) alone, paced like the
    loop, writing its own table on a thread until stopped. It lives through the same crash as
    the loop beside it, so the two stalls compare crash by crash (Galera's pause after a kill
    varies by a few hundred ms from one crash to the next)."""

    def __init__(self, lab: Lab, tag: str, node: int = 2) -> None:
        self.conn = pymysql.connect(**login(lab, node))
        self.tag = tag
        self.times: List[float] = []
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="floor-writer", daemon=True)

    def start(self) -> FloorWriter:
        self._thread.start()
        deadline = time.monotonic() + 30
        while len(self.times) < 10 and self.error is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        sql = INSERT.format(t=FLOOR_TABLE)
        clock = time.perf_counter
        try:
            with self.conn.cursor() as cursor:
                x = 0
                while not self._stop.is_set():
                    cursor.execute(sql, titled_row(f"{self.tag}{x}"))
                    self.times.append(clock())
                    x += 1
                    time.sleep(FAILOVER_INTERVAL)
        except BaseException as e:
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        try:
            self.conn.close()
        except Exception:
            pass


def failover_run(lab: Lab, admin: Admin, label: str, rows: int, before: int, tag: str) -> Stall:
    """insert_many of `rows` rows paced FAILOVER_INTERVAL apart (per worker), node 1 killed
    once `before` rows are written, beside a FloorWriter; node 1 is started again (and rejoins
    the cluster) before this returns."""
    admin.truncate(FAILOVER_TABLE)
    admin.truncate(FLOOR_TABLE)
    data = rows_for(rows, tag)
    times: List[float] = []  # when each row's commit was seen (list.append is atomic)
    crashed_at: List[float] = []

    def due() -> bool:
        if len(times) >= before:
            crashed_at.append(time.perf_counter())
            return True
        return False

    stall = Stall()
    options: Dict[str, Any] = {"concurrency": 2} if label == FO_CONC else {}
    mm = MultiMaster(lab.addresses, **lab.credentials())
    floor = FloorWriter(lab, tag + "fl").start()
    chaos = lab.crash(1, after=due)  # polled every 0.25 s
    try:
        mm.insert_many(
            FAILOVER_TABLE,
            COLUMNS,
            data,
            key="title",
            interval=FAILOVER_INTERVAL,
            on_row=lambda index, node, rerouted: times.append(time.perf_counter()),
            **options,
        )
    except TypeError as e:
        if not (options and "concurrency" in str(e)):
            stall.error = f"{type(e).__name__}: {e}"
        else:
            raise Skip(f"this build's insert_many has no concurrency=: {e}") from None
    except Exception as e:
        stall.error = f"{type(e).__name__}: {e}"
    finally:
        floor.stop()
        chaos.cancel()  # if the loop ended before the crash came, it never comes
        mm.close()
        try:
            chaos.wait(0)
        except Exception as e:
            stall.error = stall.error or f"the crash failed: {e}"
        try:
            lab.start(1)  # returns once node 1 is Synced again
        except Exception as e:
            stall.error = stall.error or f"node 1 did not come back: {e}"
    if floor.error is not None:
        stall.error = stall.error or f"the floor writer failed: {floor.error!r}"
    try:
        count, distinct = admin.audit(FAILOVER_TABLE)
        stall.lost, stall.duplicated = rows - distinct, count - distinct
    except Exception as e:
        stall.error = stall.error or f"audit failed: {e}"
    if not crashed_at:
        stall.error = stall.error or "the loop ended before the crash came"
        return stall
    stall.seconds, after = stall_of(times, crashed_at[0])
    stall.floor, floor_after = stall_of(floor.times, crashed_at[0])
    if min(after, floor_after) < 10:
        stall.error = stall.error or f"too few commits after the crash (loop {after}, floor {floor_after})"
    return stall


@dataclass
class Rejoin:
    """The longest gap between two commits after the failover stall (the killed node rejoining),
    in seconds, and when it began, in seconds after the kill: the loop's and the floor's."""

    seconds: Optional[float] = None
    at: Optional[float] = None
    floor: Optional[float] = None
    floor_at: Optional[float] = None
    lost: int = 0
    duplicated: int = 0
    error: str = ""


def rejoin_gap_of(times: List[float], crashed_at: float) -> Tuple[Optional[float], Optional[float]]:
    """(the longest gap that begins once the stall, the longest gap ending after the crash, has
    ended; when it began relative to the crash)."""
    ordered = sorted(times)
    pairs = [(a, b) for a, b in zip(ordered, ordered[1:]) if b > crashed_at]
    if not pairs:
        return None, None
    stall_end = max(pairs, key=lambda p: p[1] - p[0])[1]
    later = [(a, b) for a, b in pairs if a >= stall_end]
    if not later:
        return None, None
    a, b = max(later, key=lambda p: p[1] - p[0])
    return b - a, a - crashed_at


def rejoin_run(lab: Lab, admin: Admin, tag: str) -> Rejoin:
    """insert_many paced FAILOVER_INTERVAL apart, node 2 killed once REJOIN_BEFORE seconds of
    rows are written and started again at once, beside a FloorWriter on node 1; the rows stop
    REJOIN_AFTER seconds after the kill (past the rejoin, ~7.5 s after it here). Node 2 is
    Synced again before this returns."""
    admin.truncate(FAILOVER_TABLE)
    admin.truncate(FLOOR_TABLE)
    times: List[float] = []
    crashed_at: List[float] = []
    written = [0]

    def due() -> bool:
        if time.perf_counter() - began >= REJOIN_BEFORE and len(times) > 10:
            crashed_at.append(time.perf_counter())
            return True
        return False

    def rows() -> Iterator[Sequence[Any]]:
        # Read as the load goes: ends REJOIN_AFTER s after the kill, or at REJOIN_MAX_ROWS.
        for x in range(REJOIN_MAX_ROWS):
            if crashed_at and time.perf_counter() - crashed_at[0] > REJOIN_AFTER:
                return
            written[0] += 1
            yield titled_row(f"{tag}{x}")

    result = Rejoin()
    mm = MultiMaster(lab.addresses, **lab.credentials())
    floor = FloorWriter(lab, tag + "fl", node=1).start()
    began = time.perf_counter()
    chaos = lab.crash(2, after=due, restart_after=0.0)  # polled every 0.25 s; started at once
    try:
        mm.insert_many(
            FAILOVER_TABLE,
            COLUMNS,
            rows(),
            key="title",
            interval=FAILOVER_INTERVAL,
            on_row=lambda index, node, rerouted: times.append(time.perf_counter()),
        )
    except Exception as e:
        result.error = f"{type(e).__name__}: {e}"
    finally:
        floor.stop()
        chaos.cancel()
        mm.close()
        try:
            chaos.wait(120)  # the restart: done once node 2 is Synced
        except Exception as e:
            result.error = result.error or f"the crash or restart failed: {e}"
        try:
            lab.start(2)  # a no-op when it runs
        except Exception as e:
            result.error = result.error or f"node 2 did not come back: {e}"
    if floor.error is not None:
        result.error = result.error or f"the floor writer failed: {floor.error!r}"
    try:
        count, distinct = admin.audit(FAILOVER_TABLE)
        result.lost, result.duplicated = written[0] - distinct, count - distinct
    except Exception as e:
        result.error = result.error or f"audit failed: {e}"
    if not crashed_at:
        result.error = result.error or "the loop ended before the crash came"
        return result
    result.seconds, result.at = rejoin_gap_of(times, crashed_at[0])
    result.floor, result.floor_at = rejoin_gap_of(floor.times, crashed_at[0])
    return result
