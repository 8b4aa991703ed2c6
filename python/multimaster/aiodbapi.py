"""An asyncio face of the DB-API connection (`multimaster.dbapi`), in the shape aiomysql and
asyncmy give theirs: ``conn = await multimaster.aiodbapi.connect(...)``, ``cur = conn.cursor()``,
``await cur.execute(...)``, ``await cur.fetchall()``, ``await conn.commit()``. Each blocking
call of the sync connection runs on a worker thread; SQLAlchemy's asyncio dialects
(`multimaster.sqlalchemy_async`) are built on it.

A cancelled call waits for the statement it started to end (a connection is used by one call at
a time, and its transaction's replay log must see the end of each statement), then raises
`CancelledError`; the statement is not killed on the server: `AsyncMultiMaster` does that."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

import multimaster
from multimaster.dbapi import Connection, Cursor, Params

__all__ = ["AsyncConnection", "AsyncCursor", "connect", "MAX_IN_FLIGHT"]

_T = TypeVar("_T")

#: Calls run at once by every async DB-API connection of the process together (worker threads,
#: started as needed); more wait their turn on their loop.
MAX_IN_FLIGHT = 64

_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _workers() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="multimaster-aiodbapi")
        return _pool


async def _off_loop(fn: Callable[..., _T], *args: Any) -> _T:
    """`fn(*args)` on a worker thread. Cancelled, it is waited for before CancelledError is
    raised: the connection must not run two calls at once."""
    done = asyncio.wrap_future(_workers().submit(fn, *args))
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await asyncio.wait({done})
        raise


class AsyncCursor:
    """A `multimaster.dbapi.Cursor` whose calls are awaited. Results are read whole by
    `execute`, so the fetch methods only hand over rows already here."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> Optional[int]:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Params = None) -> AsyncCursor:
        await _off_loop(self._cursor.execute, operation, parameters)
        return self

    async def executemany(self, operation: str, seq_of_parameters: Sequence[Params]) -> AsyncCursor:
        await _off_loop(self._cursor.executemany, operation, seq_of_parameters)
        return self

    async def fetchone(self) -> Optional[Tuple[Any, ...]]:
        return self._cursor.fetchone()

    async def fetchmany(self, size: Optional[int] = None) -> List[Tuple[Any, ...]]:
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> List[Tuple[Any, ...]]:
        return self._cursor.fetchall()

    async def nextset(self) -> Optional[bool]:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    def setoutputsize(self, size: int, column: Optional[int] = None) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncConnection:
    """A `multimaster.dbapi.Connection` whose blocking calls are awaited."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def sync(self) -> Connection:
        """The DB-API connection underneath."""
        return self._connection

    @property
    def autocommit(self) -> bool:
        return self._connection.autocommit

    async def set_autocommit(self, value: bool) -> None:
        # Leaving a transaction commits it: a statement, off the loop.
        await _off_loop(setattr, self._connection, "autocommit", value)

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    @property
    def closed(self) -> bool:
        return self._connection.closed

    def cursor(self) -> AsyncCursor:
        return AsyncCursor(self._connection.cursor())

    async def commit(self) -> None:
        await _off_loop(self._connection.commit)

    async def rollback(self) -> None:
        await _off_loop(self._connection.rollback)

    async def ping(self) -> None:
        await _off_loop(self._connection.ping)

    def character_set_name(self) -> str:
        return self._connection.character_set_name()

    async def close(self) -> None:
        await _off_loop(self._connection.close)

    def close_now(self) -> None:
        """Closes without waiting on the loop (garbage collection, a terminated connection)."""
        self._connection.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def connect(*args: Any, **kwargs: Any) -> AsyncConnection:
    """`multimaster.connect(...)` (the same arguments), awaited."""
    return AsyncConnection(await _off_loop(lambda: multimaster.connect(*args, **kwargs)))
