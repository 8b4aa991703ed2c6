"""Hot rows through both nodes (README "Speed"): 4 threads updating 10 hot rows by key, under
policy="parity" and policy="key-affinity". Two nodes updating the same row at once conflict at
certification (1213) and the loser is replayed; key affinity sends the writes to one key to one
node. Per policy: conflicts per 1,000 updates (replays, `ExecResult.retries`), updates per
second, and an audit: the hot rows' sum must equal the updates that returned."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import List, Literal, Tuple

from multimaster import MultiMaster
from multimaster_lab.lab import Lab

HOT_TABLE = "bench_hot"
HOT_ROWS = 10
HOT_THREADS = 4
Compared = Literal["parity", "key-affinity"]
POLICIES: Tuple[Compared, Compared] = ("parity", "key-affinity")
UPDATE = f"UPDATE {HOT_TABLE} SET v = v + 1 WHERE id = ?"


@dataclass
class HotRun:
    policy: str
    updates: int
    conflicts: int
    errors: int
    seconds: float
    audit_ok: bool

    @property
    def per_1000(self) -> float:
        return 1000 * self.conflicts / max(1, self.updates)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else 0.0


def hot_run(lab: Lab, policy: Compared, per_thread: int, seed: int) -> HotRun:
    database = lab.credentials()["database"]
    lab.sql(1, f"CREATE TABLE IF NOT EXISTS {database}.{HOT_TABLE} (id INT PRIMARY KEY, v BIGINT NOT NULL)")
    lab.sql(1, f"DELETE FROM {database}.{HOT_TABLE}")
    values = ", ".join(f"({i}, 0)" for i in range(HOT_ROWS))
    lab.sql(1, f"INSERT INTO {database}.{HOT_TABLE} VALUES {values}")
    mm = MultiMaster(lab.addresses, policy=policy, **lab.credentials())
    conflicts: List[int] = [0] * HOT_THREADS
    done: List[int] = [0] * HOT_THREADS
    errors: List[int] = [0] * HOT_THREADS
    try:
        mm.query("SELECT 1")
        mm.query("SELECT 1")

        def work(t: int) -> None:
            rnd = random.Random(seed * 100 + t)
            for _ in range(per_thread):
                k = rnd.randrange(HOT_ROWS)
                try:
                    # key= routes the update (key affinity). No fault is injected here, so its
                    # lost-reply lookup never runs (a row's existence would not settle an UPDATE).
                    r = mm.execute(UPDATE, (k,), key=(HOT_TABLE, "id", k))
                except Exception:
                    errors[t] += 1
                    continue
                done[t] += 1
                conflicts[t] += r.retries

        threads = [threading.Thread(target=work, args=(t,), name=f"hot-{t}") for t in range(HOT_THREADS)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(600)
        seconds = time.perf_counter() - started
    finally:
        mm.close()
    ((total,),) = lab.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT COALESCE(SUM(v), 0) FROM {database}.{HOT_TABLE}")
    return HotRun(policy, sum(done), sum(conflicts), sum(errors), seconds, int(total or 0) == sum(done))


def hot_runs(lab: Lab, rounds: int, per_thread: int) -> List[HotRun]:
    """`rounds` interleaved rounds of both policies (reversed every other round)."""
    runs: List[HotRun] = []
    for r in range(rounds):
        for policy in POLICIES if r % 2 == 0 else tuple(reversed(POLICIES)):
            runs.append(hot_run(lab, policy, per_thread, seed=r))
    return runs


def print_hot(runs: List[HotRun]) -> bool:
    """The figures, medians over rounds; False when an update failed or the audit was off."""
    print(f"\nhot rows: {HOT_THREADS} threads updating {HOT_ROWS} rows by key through both nodes")
    medians = {}
    for policy in POLICIES:
        mine = [r for r in runs if r.policy == policy]
        if not mine:
            continue
        per_1000 = sorted(r.per_1000 for r in mine)[len(mine) // 2]
        rate = sorted(r.rate for r in mine)[len(mine) // 2]
        medians[policy] = (per_1000, rate)
        print(
            f"  {policy:<13} {per_1000:7.1f} conflicts per 1,000 updates, {rate:7.0f} updates/s"
            f"  (errors {sum(r.errors for r in mine)}, audit {'ok' if all(r.audit_ok for r in mine) else 'OFF'})"
        )
    if len(medians) == 2:
        (c_par, r_par), (c_aff, r_aff) = medians["parity"], medians["key-affinity"]
        fewer = f"{c_par / c_aff:.1f}x fewer conflicts" if c_aff > 0 else "no conflicts at all"
        print(f"  key-affinity vs parity: {fewer}, {r_aff / r_par if r_par else 0:.2f}x the throughput")
    return all(r.errors == 0 and r.audit_ok for r in runs)
