"""A Starlette app writes keyed rows through `AsyncMultiMaster` (and one route through the async
SQLAlchemy engine), driven in-process by httpx with 100 requests in flight while node 1 is
killed with kill -9 and restarted. The app's contract (README "asyncio"): 200 means the row is
written; 503 means it is not (a multimaster error the write did not survive). Afterwards every
row whose request answered 200 is in the table exactly once, and no other row is."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, List

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("greenlet")

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import multimaster  # noqa: E402
from multimaster import AsyncMultiMaster  # noqa: E402
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER  # noqa: E402

from support.aio import until  # noqa: E402
from support.bounds import detect_bound  # noqa: E402
from support.labs import count_titles, node_downs  # noqa: E402

IN_FLIGHT = 100


def make_app(amm: AsyncMultiMaster, engine: Any, table: str) -> Starlette:
    insert = f"INSERT INTO {table} (title, instructor, duration) VALUES (?, ?, 1)"

    async def write(request: Request) -> JSONResponse:
        title = request.path_params["title"]
        try:
            done = await amm.execute(insert, (title, "mm"), key=(table, "title", title))
        except multimaster.Error as e:
            return JSONResponse({"error": type(e).__name__}, status_code=503)
        return JSONResponse({"node": done.node})

    async def write_orm(request: Request) -> JSONResponse:
        title = request.path_params["title"]
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(f"INSERT INTO {table} (title, instructor, duration) VALUES (:t, 'engine', 1)"), {"t": title}
                )
        except (multimaster.Error, sa.exc.DBAPIError) as e:
            return JSONResponse({"error": type(e).__name__}, status_code=503)
        return JSONResponse({})

    return Starlette(
        routes=[Route("/rows/{title}", write, methods=["POST"]), Route("/orm/{title}", write_orm, methods=["POST"])]
    )


def test_a_hundred_requests_in_flight_through_a_kill_9(cluster, table):
    amm = AsyncMultiMaster(
        cluster.addresses, database=DATABASE, user=USER, password=PASSWORD, connect_timeout=1.0, backoff_cap=1.0
    )
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    # commit_marker: a COMMIT whose reply is lost is settled, so a 503 is never a written row.
    url = f"mysql+multimaster_async://{USER}:{PASSWORD}@/{DATABASE}?{hosts}&connect_timeout=1&commit_marker=true"
    answers: List[tuple] = []

    async def main() -> None:
        engine = create_async_engine(url, pool_size=10, max_overflow=0)
        app = make_app(amm, engine, table)
        stop = asyncio.Event()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=120) as client:

            async def client_loop(n: int) -> None:
                i = 0
                while not stop.is_set():
                    route = "orm" if n % 10 == 0 else "rows"
                    title = f"{route}-{n}-{i}"
                    response = await client.post(f"/{route}/{title}")
                    answers.append((title, response.status_code))
                    i += 1

            clients = [asyncio.get_running_loop().create_task(client_loop(n)) for n in range(IN_FLIGHT)]
            try:
                await until(lambda: len(answers) >= 300, 120, "300 answers before the crash")
                crashed_at = time.time()
                cluster.crash(1)
                await until(
                    lambda: node_downs(amm.sync, cluster.addresses[0], crashed_at) > 0,
                    detect_bound(1.0),
                    "node 1 seen down",
                )
                await asyncio.get_running_loop().run_in_executor(None, cluster.start, 1)
                since = len(answers)
                await until(lambda: len(answers) >= since + 300, 120, "300 answers after the restart")
            finally:
                stop.set()
                await asyncio.gather(*clients)
                await engine.dispose()
                await amm.close()

    asyncio.run(main())
    statuses = Counter(status for _, status in answers)
    print(f"ASGI: {len(answers)} requests, {dict(statuses)}")
    assert set(statuses) <= {200, 503}, statuses
    ok = sorted(title for title, status in answers if status == 200)
    assert any(t.startswith("orm-") for t in ok) and any(t.startswith("rows-") for t in ok)
    rows = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT title FROM {DATABASE}.{table}")
    assert sorted(str(r[0]) for r in rows) == ok
    assert count_titles(cluster, table) == (len(ok), len(ok))
