"""`AsyncMultiMaster` on the lab (README "asyncio"): the event loop never waits on the network
(a 10 ms ticker's worst lateness while statements sleep and while a node is frozen), a
cancelled task kills its statement on the server, every row is written exactly once by 100
concurrent tasks through a kill -9, and the faults around loops and bodies end in a clear
error, never a hang."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator, List, Optional

import pytest

import multimaster
from multimaster import AsyncMultiMaster
from multimaster_lab.coursedata import DATABASE

from support.aio import LOOP_LAG_BOUND, Ticker, until
from support.bounds import SLACK, detect_bound, wait_for
from support.labs import count_titles, course_options, node_downs, running

# A cancelled call: the watchdog's tick (20 ms) plus at most INTERRUPT_WAIT (0.3 s) for the
# KILL to take, plus SLACK.
CANCEL_BOUND = 0.35 + SLACK


@pytest.fixture
def make_amm(cluster: Any) -> Iterator[Callable[..., AsyncMultiMaster]]:
    """AsyncMultiMaster instances on the lab, closed afterwards (their sync half, so a test
    whose loop is gone still closes them)."""
    made: List[AsyncMultiMaster] = []

    def make(nodes: Optional[List[str]] = None, **options: Any) -> AsyncMultiMaster:
        amm = AsyncMultiMaster(nodes or cluster.addresses, **course_options(options))
        made.append(amm)
        return amm

    yield make
    for amm in made:
        amm.sync.close()


def insert_sql(table: str) -> str:
    return f"INSERT INTO {table} (title, instructor, duration) VALUES (?, 'aio', ?)"


def titles(cluster: Any, table: str) -> List[str]:
    rows = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM {DATABASE}.{table}")
    return sorted(str(r[0]) for r in rows)


def test_the_loop_never_waits_for_a_sleeping_statement(make_amm, cluster):
    """Ten `SELECT SLEEP(3)` in flight at once: the ticker keeps ticking on time, and the ten are
    seen running together in the servers' processlists (in parallel on the pool's threads, not
    one after another) before the first of them ends."""
    amm = make_amm()
    sleep = "SELECT SLEEP(3) AS together"

    def sleeping() -> int:
        return len(running(cluster, 1, sleep)) + len(running(cluster, 2, sleep))

    async def main() -> float:
        ticker = Ticker().start()
        await amm.query("SELECT 1")  # connections opened before the measurement
        loop = asyncio.get_running_loop()
        calls = asyncio.gather(*(amm.query(sleep) for _ in range(10)))
        together, deadline = 0, time.monotonic() + 3 + SLACK
        while together < 10 and not calls.done() and time.monotonic() < deadline:
            together = max(together, await loop.run_in_executor(None, sleeping))
        results = await calls
        await ticker.stop()
        assert all(r == [(0,)] for r in results), results
        assert ticker.ticks > 100, ticker.ticks
        print(f"SELECT SLEEP(3) x 10: {together} seen at once, ticker worst lateness {ticker.worst * 1000:.1f} ms")
        assert together == 10, together
        return ticker.worst

    assert asyncio.run(main()) < LOOP_LAG_BOUND


def test_a_frozen_node_stalls_neither_the_loop_nor_tasks_on_the_other_node(make_amm, cluster):
    """Node 1 frozen with SIGSTOP while 8 tasks keep reading: the ticker stays on time, reads
    go on on node 2 (more than a handful while node 1 is frozen), node 1 is declared down, and
    the reads caught on it are run again on node 2."""
    amm = make_amm(failure_detection=1.0, backoff_cap=1.0)
    frozen = cluster.addresses[0]

    async def main() -> None:
        ticker = Ticker().start()
        reads: List[float] = []
        stop = asyncio.Event()

        async def reader() -> None:
            while not stop.is_set():
                assert await amm.query("SELECT 1") == [(1,)]
                reads.append(time.monotonic())

        readers = [asyncio.get_running_loop().create_task(reader()) for _ in range(8)]
        while len(reads) < 40:
            await asyncio.sleep(0.01)
        frozen_at, frozen_wall = time.monotonic(), time.time()
        cluster.freeze(1)
        try:
            deadline = time.monotonic() + detect_bound(1.0) + SLACK
            while node_downs(amm.sync, frozen, frozen_wall) == 0:
                assert time.monotonic() < deadline, "node 1 never declared down"
                await asyncio.sleep(0.05)
            during = sum(1 for t in reads if t > frozen_at)
            await asyncio.sleep(0.5)
        finally:
            cluster.thaw(1)
        stop.set()
        await asyncio.gather(*readers)
        await ticker.stop()
        print(f"frozen node: {during} reads while it was declared down, ticker worst {ticker.worst * 1000:.1f} ms")
        assert during > 8, during
        assert ticker.worst < LOOP_LAG_BOUND, ticker.worst

    asyncio.run(main())


def test_cancelling_a_task_kills_its_statement_on_the_server(make_amm, cluster, table):
    """A keyed INSERT that sleeps 5 s inside the server is cancelled while it runs: the task
    raises CancelledError within the bound, the statement is no longer in any node's
    processlist, and the row was never written. `asyncio.wait_for` (a timeout) does the same
    for a read, and a cancelled transaction is rolled back (its row absent)."""
    amm = make_amm()
    prefix = f"INSERT INTO {table} (title"
    sql = f"INSERT INTO {table} (title, instructor, duration) SELECT ?, 'aio', SLEEP(5)"

    async def main() -> None:
        write = amm.execute(sql, ("cancelled",), key=(table, "title", "cancelled"))
        task = asyncio.get_running_loop().create_task(write)
        deadline = time.monotonic() + 30
        while not (running(cluster, 1, prefix) or running(cluster, 2, prefix)):
            assert time.monotonic() < deadline and not task.done(), "the INSERT never showed in a processlist"
            await asyncio.sleep(0.02)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.monotonic() - start
        assert took < CANCEL_BOUND, took
        assert not running(cluster, 1, prefix) and not running(cluster, 2, prefix)

        start = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(amm.query("SELECT SLEEP(5) AS timed_out"), 0.5)
        assert time.monotonic() - start < 0.5 + CANCEL_BOUND
        assert not running(cluster, 1, "SELECT SLEEP(5) AS timed_out")
        assert not running(cluster, 2, "SELECT SLEEP(5) AS timed_out")

        # A transaction cancelled while its body waits on a statement: rolled back, the
        # statement killed.
        async def body(tx: multimaster.AsyncTransaction) -> None:
            await tx.execute(f"INSERT INTO {table} (title, instructor, duration) VALUES ('in-tx', 'aio', 1)")
            await tx.query("SELECT SLEEP(5) AS in_a_transaction")

        task = asyncio.get_running_loop().create_task(amm.transaction(body))
        deadline = time.monotonic() + 30
        while not (running(cluster, 1, "SELECT SLEEP(5) AS in_a") or running(cluster, 2, "SELECT SLEEP(5) AS in_a")):
            assert time.monotonic() < deadline and not task.done(), "the transaction's SLEEP never showed"
            await asyncio.sleep(0.02)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < CANCEL_BOUND
        assert not running(cluster, 1, "SELECT SLEEP(5) AS in_a") and not running(cluster, 2, "SELECT SLEEP(5) AS in_a")
        # The instance goes on working after its calls were cancelled.
        assert await amm.query("SELECT 2") == [(2,)]

    asyncio.run(main())
    assert titles(cluster, table) == []


@pytest.mark.parametrize("coalesce", [False, True], ids=["alone", "coalesced"])
def test_a_hundred_tasks_write_every_row_exactly_once_through_a_kill_9(make_amm, cluster, table, coalesce):
    """100 tasks write keyed rows as fast as they can while node 1 is killed with kill -9 and
    restarted: no task sees an error, and every row a task was told is written is in the
    table exactly once, and no other. Coalesced, the rows go in multi-row statements whose
    lost replies are settled by their keys."""
    amm = make_amm(backoff_cap=1.0, coalesce=coalesce)
    written: List[str] = []
    sql = insert_sql(table)

    async def main() -> None:
        stop = asyncio.Event()

        async def writer(n: int) -> None:
            i = 0
            while not stop.is_set():
                title = f"w{n}-{i}"
                await amm.execute(sql, (title, i), key=(table, "title", title))
                written.append(title)
                i += 1

        tasks = [asyncio.get_running_loop().create_task(writer(n)) for n in range(100)]
        try:
            await until(lambda: len(written) >= 200, 60, "200 rows before the crash")
            crashed_at = time.time()
            cluster.crash(1)
            await until(
                lambda: node_downs(amm.sync, cluster.addresses[0], crashed_at) > 0, detect_bound(1.0), "node 1 down"
            )
            await asyncio.get_running_loop().run_in_executor(None, cluster.start, 1)
            since = len(written)
            await until(lambda: len(written) >= since + 200, 120, "200 rows after the restart")
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    asyncio.run(main())
    assert len(set(written)) == len(written)
    assert count_titles(cluster, table) == (len(written), len(written))
    assert sorted(written) == titles(cluster, table)


def test_an_async_transaction_commits_and_a_raising_body_rolls_back(make_amm, cluster, table):
    """`await transaction(body)` with an async body commits what it did; a body that raises
    after writing rolls back (the row is absent) and its own exception comes out; a sync body
    is a TypeError."""
    amm = make_amm()
    sql = insert_sql(table)

    class Boom(Exception):
        pass

    async def main() -> None:
        async def good(tx: multimaster.AsyncTransaction) -> int:
            await tx.execute(sql, ("in-tx", 1))
            rows = await tx.query(f"SELECT COUNT(*) FROM {table}")
            return int(rows[0][0])

        done = await amm.transaction(good)
        assert done.value == 1 and done.attempts == 1

        async def bad(tx: multimaster.AsyncTransaction) -> None:
            await tx.execute(sql, ("rolled-back", 2))
            raise Boom("the body failed")

        with pytest.raises(Boom, match="the body failed"):
            await amm.transaction(bad)
        with pytest.raises(TypeError, match="async function"):
            await amm.transaction(lambda tx: None)  # type: ignore[arg-type,return-value]

    asyncio.run(main())
    assert titles(cluster, table) == ["in-tx"]


def test_async_loads_take_generators_and_frames_and_transactions_take_affinity(make_amm, cluster, table):
    """The sync API's forms, awaited: a generator streamed, an Arrow frame with its own column
    names, a list (on the native threads; a bad row in it writes nothing), and a transaction
    placed by `affinity=` where keyed writes of that key go."""
    pyarrow = pytest.importorskip("pyarrow")
    amm = make_amm(policy="key-affinity")
    columns = ["title", "instructor", "duration"]
    frame = pyarrow.table(
        {"title": [f"f{x}" for x in range(300)], "instructor": ["aio"] * 300, "duration": list(range(300))}
    )

    async def main() -> None:
        streamed = await amm.insert_many(
            table, columns, ((f"g{x}", "aio", x) for x in range(300)), key="title", batch=50
        )
        loaded = await amm.insert_many(table, None, frame, key="title", batch=50)
        assert (streamed.rows, loaded.rows) == (300, 300)
        # A list: converted on the loop, loaded on the native threads.
        listed = await amm.insert_many(
            table, columns, [(f"l{x}", "aio", x) for x in range(300)], key="title", batch=50, concurrency=2
        )
        assert listed.rows == sum(listed.per_node.values()) == 300, listed
        with pytest.raises(TypeError, match="row 1"):  # checked whole: nothing written
            await amm.insert_many(table, columns, [("b0", "aio", 1), ("b1", "aio", object())], key="title")
        keyed = await amm.execute(insert_sql(table), ("hot", 1), key=(table, "title", "hot"))

        async def body(tx: multimaster.AsyncTransaction) -> str:
            await tx.execute(insert_sql(table), ("hot-tx", 2))
            return tx.node

        placed = await amm.transaction(body, affinity="hot")
        assert placed.value == placed.node == keyed.node, (placed.value, placed.node, keyed.node)

    asyncio.run(main())
    assert count_titles(cluster, table) == (902, 902)


def test_a_closed_instance_raises_as_the_sync_one_does(make_amm, make_mm):
    """Closed: the same exception class and message as `MultiMaster`'s, at once; `async with`
    closes; close() twice is fine."""
    mm = make_mm()
    mm.close()
    with pytest.raises(multimaster.Error) as sync_error:
        mm.query("SELECT 1")

    async def main() -> None:
        async with make_amm() as amm:
            assert await amm.query("SELECT 1") == [(1,)]
        assert amm.closed
        with pytest.raises(type(sync_error.value), match=str(sync_error.value)):
            await amm.query("SELECT 1")
        with pytest.raises(type(sync_error.value), match=str(sync_error.value)):
            await amm.execute("DO 1")
        await amm.close()

    asyncio.run(main())


def test_an_unawaited_call_warns_as_a_coroutine(make_amm):
    amm = make_amm()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        amm.query("SELECT 1")  # not awaited
        gc.collect()
    assert any("was never awaited" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_many_loops_in_threads_share_one_instance(make_amm):
    """Four threads, each with its own event loop, and this thread's loop, use one instance at
    once: every call answers on the loop that made it."""
    amm = make_amm()
    errors: List[BaseException] = []

    async def work(n: int) -> None:
        for i in range(20):
            assert await amm.query("SELECT ?", (n * 100 + i,)) == [(n * 100 + i,)]

    def in_thread(n: int) -> None:
        try:
            asyncio.run(work(n))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    asyncio.run(work(9))
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert errors == []


def test_a_loop_closed_with_calls_in_flight_never_hangs(make_amm, cluster, table):
    """A loop is closed (without cancelling its tasks) while a read sleeps and while an async
    transaction body is between two statements: the read ends by itself on its worker thread,
    the transaction is rolled back (its row absent), and the instance serves the next loop."""
    amm = make_amm()
    sql = insert_sql(table)
    loop = asyncio.new_event_loop()

    async def body(tx: multimaster.AsyncTransaction) -> None:
        await tx.execute(sql, ("orphan", 1))
        await asyncio.sleep(30)  # the loop is closed meanwhile

    async def start() -> None:
        loop.create_task(amm.query("SELECT SLEEP(1)"))
        loop.create_task(amm.transaction(body))
        await asyncio.sleep(0.5)

    loop.run_until_complete(start())
    loop.close()

    async def after() -> None:
        start = time.monotonic()
        assert await amm.query("SELECT 3") == [(3,)]
        assert time.monotonic() - start < SLACK

    asyncio.run(after())
    wait_for(lambda: titles(cluster, table) == [] and not running(cluster, 1, "SELECT SLEEP(1)"), 10, "rolled back")
    assert titles(cluster, table) == []
    with pytest.raises(ValueError, match="max_in_flight"):
        AsyncMultiMaster(cluster.addresses, max_in_flight=0)


def test_calls_beyond_the_bound_wait_without_blocking_the_loop(make_amm):
    """max_in_flight=2: six one-second sleeps take three rounds, and the ticker stays on time."""
    amm = make_amm(max_in_flight=2)

    async def main() -> None:
        ticker = Ticker().start()
        start = time.monotonic()
        await asyncio.gather(*(amm.query("SELECT SLEEP(1)") for _ in range(6)))
        took = time.monotonic() - start
        await ticker.stop()
        assert 3.0 <= took < 3.0 + SLACK, took
        assert ticker.worst < LOOP_LAG_BOUND, ticker.worst

    asyncio.run(main())


def eventfds() -> int:
    """The process's open eventfds: one per loop an AsyncMultiMaster answers on."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
        except OSError:  # closed meanwhile
            pass
    return count


def test_many_concurrent_calls_each_get_their_own_answer(make_amm, cluster, table):
    """600 calls in flight at once on 8 native threads: every read answers its own value,
    every failing statement raises in its own task and no other, every keyed write is in the
    table once; never more threads than max_in_flight."""
    amm = make_amm(max_in_flight=8)
    sql = insert_sql(table)

    async def main() -> None:
        async def read(n: int) -> None:
            assert await amm.query("SELECT ?, ? * 2", (n, n)) == [(n, 2 * n)]

        async def fail(n: int) -> None:
            with pytest.raises(multimaster.ProgrammingError, match=f"no_such_table_{n}"):
                await amm.query(f"SELECT * FROM no_such_table_{n}")

        async def write(n: int) -> None:
            done = await amm.execute(sql, (f"c{n}", n), key=(table, "title", f"c{n}"))
            assert done.rowcount == 1 and done.node in amm.nodes, done

        calls = [read(n) for n in range(400)] + [fail(n) for n in range(100)] + [write(n) for n in range(100)]
        await asyncio.gather(*calls)
        assert amm._pool.threads <= 8, amm._pool.threads

    asyncio.run(main())
    assert titles(cluster, table) == sorted(f"c{n}" for n in range(100))


def statements(amm: AsyncMultiMaster) -> int:
    """Statements the instance sent, over all nodes."""
    return sum(int(s["statements"]) for s in amm.stats())


async def blocked(amm: AsyncMultiMaster, seconds: float) -> asyncio.Task[Any]:
    """Takes the one call of a max_in_flight=1 instance for `seconds`: the calls made next
    wait together (the pool runs calls in order)."""
    return asyncio.get_running_loop().create_task(amm.query(f"SELECT SLEEP({seconds}) AS blocker"))


def test_coalesced_inserts_are_each_written_once_in_few_statements(make_amm, cluster, table):
    """coalesce=True: 200 keyed INSERTs that wait behind a busy call are sent as multi-row
    statements of at most 32 rows (far fewer statements than calls: red without coalescing);
    each call answers its own one row, and each row is in the table once. INSERTs that cannot
    be grouped (unkeyed, INSERT ... SELECT) still run, alone."""
    amm = make_amm(max_in_flight=1, coalesce=True)
    sql = insert_sql(table)

    async def main() -> None:
        async def write(n: int) -> None:
            done = await amm.execute(sql, (f"k{n}", n), key=(table, "title", f"k{n}"))
            assert done.rowcount == 1 and done.node in amm.nodes, done

        blocker = await blocked(amm, 1)
        await asyncio.gather(*(write(n) for n in range(200)))
        assert await blocker == [(0,)]
        # The blocker, then ceil(200 / 32) groups: 7 statements for 200 rows.
        assert statements(amm) <= 1 + 7, amm.stats()
        await asyncio.gather(
            amm.execute(sql, ("unkeyed", 1)),
            amm.execute(
                f"INSERT INTO {table} (title, instructor, duration) SELECT ?, 'aio', 2",
                ("selected",),
                key=(table, "title", "selected"),
            ),
        )

    asyncio.run(main())
    assert titles(cluster, table) == sorted([f"k{n}" for n in range(200)] + ["unkeyed", "selected"])


def test_a_refused_row_fails_alone_and_the_rows_grouped_with_it_are_written(make_amm, cluster, table):
    """Sixteen keyed INSERTs grouped into one statement, one a duplicate of a unique title and
    one out of its column's range: the server refuses the group, each row then runs alone, and
    exactly those two calls raise (IntegrityError 1062, DataError 1264); the other fourteen
    rows are written once."""
    cluster.sql(1, f"ALTER TABLE {DATABASE}.{table} ADD UNIQUE KEY (title)")
    amm = make_amm(max_in_flight=1, coalesce=True)
    sql = insert_sql(table)

    async def main() -> None:
        await amm.execute(sql, ("r3", 0))
        blocker = await blocked(amm, 1)
        rows = [(f"r{n}", 2**40 if n == 5 else n) for n in range(16)]
        answers = await asyncio.gather(
            *(amm.execute(sql, row, key=(table, "title", row[0])) for row in rows), return_exceptions=True
        )
        await blocker
        for n, answer in enumerate(answers):
            if n == 3:
                assert isinstance(answer, multimaster.IntegrityError) and answer.errno == 1062, answer
            elif n == 5:
                assert isinstance(answer, multimaster.DataError) and answer.errno == 1264, answer
            else:
                assert isinstance(answer, multimaster.ExecResult) and answer.rowcount == 1, answer

    asyncio.run(main())
    assert titles(cluster, table) == sorted(f"r{n}" for n in range(16) if n != 5)
    assert count_titles(cluster, table) == (15, 15)


def test_a_cancelled_call_leaves_the_statement_it_shares_alone(make_amm, cluster, table):
    """coalesce=True, a trigger making each row take 0.25 s (5 s for the lone one, so that it is
    surely cancelled while it runs). A call cancelled while it waits
    to be grouped never runs (its row absent). A call cancelled while its group's statement
    runs does not kill the rows of the calls grouped with it: it raises CancelledError once
    that statement has ended, and its row, committed with theirs, is there once. A call that
    runs alone is killed on the server when cancelled, as without coalescing."""
    cluster.sql(
        1,
        f"CREATE TRIGGER {DATABASE}.{table}_slow BEFORE INSERT ON {DATABASE}.{table} FOR EACH ROW "
        "SET NEW.url = IF(SLEEP(IF(NEW.title = 'alone', 5, 0.25)) = 0, NEW.url, NEW.url)",
    )
    amm = make_amm(max_in_flight=1, coalesce=True)
    sql = insert_sql(table)
    prefix = f"INSERT INTO {table} (title"

    def write(title: str) -> asyncio.Task[Any]:
        call = amm.execute(sql, (title, 1), key=(table, "title", title))
        return asyncio.get_running_loop().create_task(call)

    async def in_processlist(deadline: float) -> None:
        loop = asyncio.get_running_loop()
        seen = lambda: running(cluster, 1, prefix) or running(cluster, 2, prefix)  # noqa: E731
        while not await loop.run_in_executor(None, seen):
            assert time.monotonic() < deadline, "the INSERT never showed in a processlist"
            await asyncio.sleep(0.02)

    async def main() -> None:
        blocker = await blocked(amm, 1)
        waiting = [write(f"g{n}") for n in range(5)]
        await asyncio.sleep(0.1)
        waiting[4].cancel()  # still waiting behind the blocker: withdrawn
        with pytest.raises(asyncio.CancelledError):
            await waiting[4]
        await blocker
        await in_processlist(time.monotonic() + 30)  # g0..g3: one statement of four rows (1 s)
        waiting[1].cancel()
        start = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await waiting[1]
        assert time.monotonic() - start < 1.0 + SLACK
        for task in (waiting[0], waiting[2], waiting[3]):
            assert (await task).rowcount == 1
        assert statements(amm) == 2, amm.stats()  # the blocker and one group

        alone = write("alone")
        await in_processlist(time.monotonic() + 30)
        start = time.monotonic()
        alone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await alone
        assert time.monotonic() - start < CANCEL_BOUND
        assert not running(cluster, 1, prefix) and not running(cluster, 2, prefix)

    asyncio.run(main())
    assert titles(cluster, table) == ["g0", "g1", "g2", "g3"]


def test_completion_descriptors_are_released_and_a_closed_loop_never_hangs(make_amm):
    """Each loop an instance answers on watches one descriptor: a loop closed while a call
    sleeps on the server leaves nothing hanging (the next loop is answered at once and the
    closed loop's descriptor is released), and `close()` with a call in flight answers it,
    then releases the last descriptor."""
    before = eventfds()
    amm = make_amm()
    loop = asyncio.new_event_loop()
    orphan = loop.create_task(amm.query("SELECT SLEEP(1)"))
    loop.run_until_complete(asyncio.sleep(0.3))
    assert eventfds() == before + 1 and not orphan.done()
    loop.close()

    async def after() -> None:
        start = time.monotonic()
        assert await amm.query("SELECT 3") == [(3,)]
        assert time.monotonic() - start < SLACK
        assert eventfds() == before + 1, "the closed loop's descriptor released, this loop's open"
        in_flight = asyncio.get_running_loop().create_task(amm.query("SELECT SLEEP(0.5), 4"))
        await asyncio.sleep(0.1)
        await amm.close()
        assert await asyncio.wait_for(in_flight, 0.5 + SLACK) == [(0, 4)]
        await asyncio.sleep(0)  # the drain that answered it releases the descriptor after
        assert eventfds() == before

    asyncio.run(after())


# A process whose interpreter exits while a loop in a daemon thread awaits a call on a pool
# thread: the call is in the core, the loop never answers it, the interpreter finalizes.
EXITS_MID_CALL = """
import asyncio, sys, threading, time
from multimaster import AsyncMultiMaster
amm = AsyncMultiMaster(sys.argv[1].split(","), database=sys.argv[2], user=sys.argv[3], password=sys.argv[4])
asked = threading.Event()
async def main():
    call = asyncio.get_running_loop().create_task(amm.query("SELECT SLEEP(5) AS at_exit"))
    asked.set()
    await call
threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
asked.wait(10)
time.sleep(0.5)
print("exiting", flush=True)
"""


def test_the_interpreter_exits_with_a_call_in_flight(cluster):
    """The interpreter exits while a native thread runs a call for a loop that will never
    drain it: the process ends at once and cleanly (no hang, no crash in finalization)."""
    options = course_options({})
    args = [",".join(cluster.addresses), options["database"], options["user"], options["password"]]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", EXITS_MID_CALL, *args], capture_output=True, text=True, timeout=5 + SLACK
    )
    assert (done.returncode, done.stdout.strip()) == (0, "exiting"), done.stderr[-2000:]
    assert "Fatal" not in done.stderr and "panicked" not in done.stderr, done.stderr[-2000:]
    assert time.monotonic() - start < 5, "waited for the SLEEP(5) in flight"
