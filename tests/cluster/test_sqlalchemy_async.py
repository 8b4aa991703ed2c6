"""SQLAlchemy's asyncio engine on the async dialects (`multimaster.sqlalchemy_async`): both
names connect, Core and an `AsyncSession` commit (rows checked in the table afterwards), a
rolled-back session leaves nothing, AUTOCOMMIT reaches the DB-API connection, the loop
keeps ticking while the engine waits on a sleeping statement, and a statement cancelled by
`asyncio.timeout` is killed on the server, its transaction rolled back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("greenlet")

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

from multimaster_lab.coursedata import DATABASE, PASSWORD, USER  # noqa: E402

from support.bounds import SLACK, wait_for  # noqa: E402
from support.labs import count_titles, running  # noqa: E402

# A cancelled call: the watchdog's tick (20 ms) plus at most INTERRUPT_WAIT (0.3 s) for the
# KILL to take, plus SLACK (as tests/cluster/test_asyncio.py).
CANCEL_BOUND = 0.35 + SLACK


def async_url(cluster, scheme: str = "mysql", query: str = "") -> str:
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    return f"{scheme}+multimaster_async://{USER}:{PASSWORD}@/{DATABASE}?{hosts}&connect_timeout=1{query}"


def course_model(table: str) -> Any:
    class Base(DeclarativeBase):
        pass

    class Course(Base):
        __tablename__ = table
        # The course's table has no primary key; the ORM needs one to map it.
        title: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
        instructor: Mapped[str] = mapped_column(sa.String(40))
        duration: Mapped[int]

    return Course


@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
def test_async_engine_and_session_commit_and_roll_back(cluster, table, scheme):
    Course = course_model(table)

    async def main() -> None:
        engine = create_async_engine(async_url(cluster, scheme))
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(f"INSERT INTO {table} (title, instructor, duration) VALUES (:t, 'core', 1)"),
                    [{"t": "core-1"}, {"t": "core-2"}],
                )
                assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
            async with AsyncSession(engine) as session:
                session.add_all([Course(title=f"orm-{i}", instructor="orm", duration=i) for i in range(3)])
                await session.commit()
            async with AsyncSession(engine) as session:
                session.add(Course(title="rolled-back", instructor="orm", duration=9))
                await session.flush()
                await session.rollback()
            async with AsyncSession(engine) as session:
                titles = (await session.execute(sa.select(Course.title).order_by(Course.title))).scalars().all()
                assert titles == ["core-1", "core-2", "orm-0", "orm-1", "orm-2"]
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                raw = await auto.get_raw_connection()
                assert raw.driver_connection is not None and raw.driver_connection.autocommit is True
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert count_titles(cluster, table) == (5, 5)


def test_the_loop_ticks_while_the_engine_waits(cluster):
    """Four connections each in `SELECT SLEEP(2)`: a 10 ms ticker stays on time (the greenlet
    bridge hands each blocking call to a worker thread)."""

    async def main() -> float:
        engine = create_async_engine(async_url(cluster), pool_size=4)
        worst = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            while not done.is_set():
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                worst = max(worst, time.perf_counter() - start - 0.01)

        async def sleep() -> None:
            async with engine.connect() as conn:
                assert (await conn.execute(sa.text("SELECT SLEEP(2)"))).scalar() == 0

        try:
            async with engine.connect() as conn:  # the pool's first connect, before the clock
                await conn.execute(sa.text("SELECT 1"))
            tick = asyncio.get_running_loop().create_task(ticker())
            await asyncio.gather(*(sleep() for _ in range(4)))
            done.set()
            await tick
        finally:
            await engine.dispose()
        return worst

    assert asyncio.run(main()) < 0.25


def test_a_timed_out_session_statement_is_killed_and_its_transaction_rolled_back(cluster, table):
    """An `AsyncSession` inserts a row, then runs `SELECT SLEEP(30)` under `asyncio.timeout(1)`:
    TimeoutError comes within the bound, the SLEEP is gone from every processlist, the row was
    never committed, and the engine (its pool) goes on working."""
    Course = course_model(table)
    prefix = "SELECT SLEEP(30) AS sqla_cancelled"

    async def main() -> float:
        engine = create_async_engine(async_url(cluster), pool_size=1, max_overflow=0)
        try:
            async with AsyncSession(engine) as session:
                session.add(Course(title="cancelled", instructor="sqla", duration=1))
                await session.flush()
                start = time.monotonic()
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(1):
                        await session.execute(sa.text(prefix))
                took = time.monotonic() - start
            wait_for(lambda: not running(cluster, 1, prefix) and not running(cluster, 2, prefix), SLACK, "no SLEEP")
            async with AsyncSession(engine) as session:
                session.add(Course(title="after", instructor="sqla", duration=2))
                await session.commit()
            async with AsyncSession(engine) as session:
                titles = (await session.execute(sa.select(Course.title))).scalars().all()
                assert titles == ["after"]
        finally:
            await engine.dispose()
        return took

    took = asyncio.run(main())
    print(f"timed out after {took:.3f} s")
    assert took < 1 + CANCEL_BOUND, took
    assert count_titles(cluster, table) == (1, 1)


def test_a_cancelled_async_dbapi_statement_leaves_its_connection_usable(cluster, table):
    """Under the engine: `multimaster.aiodbapi` cancels a statement in a transaction; the
    transaction is rolled back and the same connection begins the next one (what a pool that
    kept it would see)."""
    from multimaster import aiodbapi

    prefix = "SELECT SLEEP(30) AS aiodbapi_cancelled"

    async def main() -> None:
        conn = await aiodbapi.connect(list(cluster.addresses), DATABASE, USER, PASSWORD, connect_timeout=1)
        try:
            cur = conn.cursor()
            await cur.execute(f"INSERT INTO {table} (title, instructor, duration) VALUES ('rolled-back', 'dbapi', 1)")
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await cur.execute(prefix)
            assert time.monotonic() - start < 0.5 + CANCEL_BOUND
            assert not conn.in_transaction
            await cur.execute(f"INSERT INTO {table} (title, instructor, duration) VALUES ('kept', 'dbapi', 2)")
            await conn.commit()
        finally:
            await conn.close()

    asyncio.run(main())
    wait_for(lambda: not running(cluster, 1, prefix) and not running(cluster, 2, prefix), SLACK, "no SLEEP")
    assert count_titles(cluster, table) == (1, 1)
