"""SQLAlchemy's asyncio engine on the async dialects (`multimaster.sqlalchemy_async`): both
names connect, Core and an `AsyncSession` commit (rows checked in the table afterwards), a
rolled-back session leaves nothing, AUTOCOMMIT reaches the DB-API connection, and the loop
keeps ticking while the engine waits on a sleeping statement."""

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

from support.labs import count_titles  # noqa: E402


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
