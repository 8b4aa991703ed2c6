"""The asyncio section of `make bench` (README "Speed"): on the bench's lab, in interleaved
rounds,

  100 concurrent tasks doing keyed single-row INSERTs (the course's row) through
    AsyncMultiMaster (both nodes), as is and with coalesce=True (the INSERTs that wait for a
    free call grouped into multi-row statements)
                                    vs aiomysql and asyncmy (100 connections, half on each node)
    with, beside each, its p99 per INSERT, the client's CPU (cores busy) and the event loop's
    lag: a 10 ms ticker's worst lateness during the run, against the ticker alone;
  SELECT 1 awaited one at a time: p50 and p99, AsyncMultiMaster vs asyncmy.

aiomysql and asyncmy come with the `bench` extra; without them their rows say so."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from multimaster import AsyncMultiMaster
from multimaster.aio import MAX_IN_FLIGHT
from multimaster_lab.lab import Lab

from bench.figures import Admin, client_cpu, login, median_range, pct, rows_for
from bench.labels import INSERT, TABLE

TASKS = 100
HEADER = "== asyncio"
AMM = "AsyncMultiMaster.execute (keyed)"
AMM_COALESCE = "AsyncMultiMaster.execute, coalesce=True"
AIOMYSQL = "aiomysql"
ASYNCMY = "asyncmy"
TICKER_ALONE = "ticker alone"
LAT_AMM = "SELECT 1: AsyncMultiMaster.query"
LAT_ASYNCMY = "SELECT 1: asyncmy"
LABELS = [AMM, AMM_COALESCE, AIOMYSQL, ASYNCMY, TICKER_ALONE, LAT_AMM, LAT_ASYNCMY]

# One insert: awaits the row (a tuple of the course's columns).
Insert = Callable[[Tuple[Any, ...]], Awaitable[Any]]


class Ticker:
    """Sleeps 10 ms at a time on the loop and keeps the worst lateness."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - t - 0.01)


class Run:
    """One timed run: rows per second, per-INSERT latencies, client cores busy, loop lag."""

    def __init__(self, rate: float, latencies: List[float], cpu: float, lag: float) -> None:
        self.rate, self.latencies, self.cpu, self.lag = rate, latencies, cpu, lag


async def concurrent_inserts(inserts: List[Insert], rows: List[Tuple[Any, ...]]) -> Run:
    """`len(inserts)` tasks (each its own insert function) share `rows` until none is left."""
    ticker = Ticker()
    tick = asyncio.get_running_loop().create_task(ticker.run())
    todo = iter(rows)
    latencies: List[float] = []

    async def worker(insert: Insert) -> None:
        for row in todo:
            t = time.perf_counter()
            await insert(row)
            latencies.append(time.perf_counter() - t)

    cpu, t = client_cpu(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in inserts))
    wall = time.perf_counter() - t
    cpu = (client_cpu() - cpu) / wall
    ticker.stop.set()
    await tick
    return Run(len(rows) / wall, latencies, cpu, ticker.worst)


async def ticker_alone(seconds: float) -> float:
    ticker = Ticker()
    tick = asyncio.get_running_loop().create_task(ticker.run())
    await asyncio.sleep(seconds)
    ticker.stop.set()
    await tick
    return ticker.worst


async def selects(call: Callable[[], Awaitable[Any]], n: int) -> List[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return out


class Clients:
    """The three clients: AsyncMultiMaster kept open; aiomysql's and asyncmy's 100 connections
    opened for each run and closed after it (together they would pass a node's
    max_connections); one asyncmy connection kept for SELECT 1."""

    def __init__(self, lab: Lab, max_in_flight: int) -> None:
        self.lab = lab
        self.max_in_flight = max_in_flight
        self.skipped: Dict[str, str] = {}
        self.closers: List[Callable[[], Awaitable[Any]]] = []
        self.asyncmy_select: Optional[Callable[[], Awaitable[Any]]] = None
        self.amm: Optional[AsyncMultiMaster] = None
        self.coalescing: Optional[AsyncMultiMaster] = None
        self.labels: List[str] = [AMM, AMM_COALESCE]

    async def open(self) -> None:
        creds = self.lab.credentials()
        self.amm = AsyncMultiMaster(self.lab.addresses, max_in_flight=self.max_in_flight, **creds)
        self.closers.append(self.amm.close)
        self.coalescing = AsyncMultiMaster(self.lab.addresses, max_in_flight=self.max_in_flight, coalesce=True, **creds)
        self.closers.append(self.coalescing.close)
        for label, opener in ((AIOMYSQL, _aiomysql), (ASYNCMY, _asyncmy)):
            try:
                conn = await opener(login(self.lab, 1))
            except ImportError as e:
                self.skipped[label] = f"not installed ({e.name}): pip install multimaster[bench]"
                continue
            self.labels.append(label)
            self.closers.append(_closer(conn))
            if label == ASYNCMY:
                self.asyncmy_select = _plain_select(conn)

    async def run(self, label: str, rows: List[Tuple[Any, ...]]) -> Run:
        if label in (AMM, AMM_COALESCE):
            amm = self.amm if label == AMM else self.coalescing
            assert amm is not None
            qmark = INSERT.format(t=TABLE).replace("%s", "?")

            async def keyed(row: Tuple[Any, ...]) -> Any:
                return await amm.execute(qmark, row, key=(TABLE, "title", row[0]))

            return await concurrent_inserts([keyed] * TASKS, rows)
        opener = _aiomysql if label == AIOMYSQL else _asyncmy
        conns = await asyncio.gather(*(opener(login(self.lab, t % 2 + 1)) for t in range(TASKS)))
        try:
            return await concurrent_inserts([_plain_insert(c, INSERT.format(t=TABLE)) for c in conns], rows)
        finally:
            await asyncio.gather(*(_closer(c)() for c in conns), return_exceptions=True)

    async def close(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                pass


async def _aiomysql(params: Dict[str, Any]) -> Any:
    import aiomysql

    return await aiomysql.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        db=params["database"],
        autocommit=True,
    )


async def _asyncmy(params: Dict[str, Any]) -> Any:
    import asyncmy

    return await asyncmy.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        database=params["database"],
        autocommit=True,
    )


def _closer(conn: Any) -> Callable[[], Awaitable[Any]]:
    async def close() -> None:
        conn.close()
        if hasattr(conn, "ensure_closed"):
            await conn.ensure_closed()

    return close


def _plain_insert(conn: Any, sql: str) -> Insert:
    async def insert(row: Tuple[Any, ...]) -> None:
        async with conn.cursor() as cur:
            await cur.execute(sql, row)

    return insert


def _plain_select(conn: Any) -> Callable[[], Awaitable[Any]]:
    async def select() -> Any:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
            return await cur.fetchall()

    return select


async def _bench(
    lab: Lab, admin: Admin, rows: int, rounds: int, samples: int, max_in_flight: int
) -> Tuple[Dict[str, List[Run]], Dict[str, List[float]], Dict[str, List[List[float]]], Dict[str, str]]:
    clients = Clients(lab, max_in_flight)
    runs: Dict[str, List[Run]] = {}
    alone: Dict[str, List[float]] = {TICKER_ALONE: []}
    latency: Dict[str, List[List[float]]] = {}
    errors: Dict[str, str] = {}
    try:
        await clients.open()
        labels = clients.labels
        for r in range(rounds + 1):  # round 0 warms up, untimed
            for k, label in enumerate(labels if r % 2 == 0 else list(reversed(labels))):
                admin.truncate(TABLE)
                try:
                    run = await clients.run(label, rows_for(rows if r else 200, f"a{r}{k}_"))
                except Exception as e:
                    errors[label] = f"{type(e).__name__}: {e}"
                    continue
                meant = rows if r else 200
                if admin.audit(TABLE) != (meant, meant):
                    errors[label] = f"{admin.audit(TABLE)} rows and distinct titles after writing {meant}"
                if r:
                    runs.setdefault(label, []).append(run)
            if r:
                alone[TICKER_ALONE].append(await ticker_alone(1.0))
                assert clients.amm is not None
                amm = clients.amm
                readers: List[Tuple[str, Callable[[], Awaitable[Any]]]] = [(LAT_AMM, lambda: amm.query("SELECT 1"))]
                if clients.asyncmy_select is not None:
                    readers.append((LAT_ASYNCMY, clients.asyncmy_select))
                for label, call in readers if r % 2 else list(reversed(readers)):
                    latency.setdefault(label, []).append(await selects(call, samples))
            print(f"asyncio round {r} of {rounds} done" + (" (warm-up)" if r == 0 else ""), flush=True)
    finally:
        await clients.close()
    errors.update(clients.skipped)
    return runs, alone, latency, errors


def asyncio_section(
    lab: Lab, admin: Admin, rows: int, rounds: int, smoke: bool, max_in_flight: int = MAX_IN_FLIGHT
) -> bool:
    """Runs and prints the section; True if a client failed (not: was not installed)."""
    runs, alone, latency, errors = asyncio.run(
        _bench(lab, admin, rows, rounds, 50 if smoke else max(200, rows // 5), max_in_flight)
    )
    print(
        f"\n{HEADER}: {TASKS} concurrent tasks, keyed single-row INSERTs ({rows} rows a run), {rounds} rounds;"
        f" AsyncMultiMaster max_in_flight={max_in_flight}"
    )
    print(f"{'client':<40} {'rows/s (min-max)':>24} {'p99 ms':>8} {'client cores':>13} {'loop lag ms':>12}")
    asyncmy_rate = None
    for label in (AMM, AMM_COALESCE, AIOMYSQL, ASYNCMY):
        if label not in runs:
            print(f"{label:<40} {'(' + errors.get(label, 'not run') + ')'}")
            continue
        rate, lo, hi = median_range([x.rate for x in runs[label]])
        p99 = pct([v for x in runs[label] for v in x.latencies], 0.99) * 1000
        cpu = median_range([x.cpu for x in runs[label]])[0]
        lag = max(x.lag for x in runs[label]) * 1000
        print(f"{label:<40} {rate:>9.0f} ({lo:.0f}-{hi:.0f}) {p99:>8.1f} {cpu:>13.2f} {lag:>12.1f}")
        if label == ASYNCMY:
            asyncmy_rate = rate
    lag_alone = max(alone[TICKER_ALONE]) * 1000 if alone[TICKER_ALONE] else float("nan")
    print(f"{TICKER_ALONE:<40} {'':>24} {'':>8} {'':>13} {lag_alone:>12.1f}")
    for label in (AMM, AMM_COALESCE):
        if label in runs and asyncmy_rate:
            ratio = median_range([x.rate for x in runs[label]])[0] / asyncmy_rate
            print(f"{label} / asyncmy throughput: {ratio:.2f}x (goal >= 1.2x)" + (" [smoke]" if smoke else ""))
    print(f"{'SELECT 1 awaited one at a time':<40} {'p50 ms':>8} {'p99 ms':>8}")
    for label in (LAT_AMM, LAT_ASYNCMY):
        if label not in latency:
            print(f"{label:<40} (not run)")
            continue
        xs = [v for sample in latency[label] for v in sample]
        print(f"{label:<40} {pct(xs, 0.5) * 1000:>8.3f} {pct(xs, 0.99) * 1000:>8.3f}")
    real = {k: v for k, v in errors.items() if not v.startswith("not installed")}
    for label, error in real.items():
        print(f"{label}: ERROR {error}")
    return bool(real)


def main() -> None:
    """`python -m bench.aio [--rows N] [--rounds N] [--hosts A,B] [--lab-dir DIR] [--keep]`: this
    section alone, on a lab of its own (the bench's defaults)."""
    import argparse

    from multimaster_lab.coursedata import LAB

    from bench.labels import DDL, HOSTS, LAB_DIR

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--hosts", default=HOSTS)
    p.add_argument("--lab-dir", default=LAB_DIR)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--max-in-flight", type=int, default=MAX_IN_FLIGHT)
    args = p.parse_args()
    lab = Lab(2, base_dir=args.lab_dir, hosts=args.hosts.split(","), **LAB)
    try:
        lab.up()
        lab.sql(1, DDL.format(t=TABLE))
        admin = Admin(lab, 1)
        try:
            asyncio_section(lab, admin, args.rows, args.rounds, False, args.max_in_flight)
        finally:
            admin.close()
    finally:
        if not args.keep:
            lab.down()


if __name__ == "__main__":
    main()
