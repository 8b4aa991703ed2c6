"""SQLAlchemy's asyncio dialects over `multimaster.aiodbapi`: ``mysql+multimaster_async://`` and
``mariadb+multimaster_async://``, for ``create_async_engine`` and ``AsyncSession``::

    engine = create_async_engine("mysql+multimaster_async://app:pw@db1,db2:3307/shop")

The same URL, options and overrides as the sync dialects (`multimaster.sqlalchemy`); the
connection is adapted as SQLAlchemy adapts asyncmy's (lib/sqlalchemy/dialects/mysql/asyncmy.py):
each DB-API call is awaited through ``await_`` on SQLAlchemy's greenlet bridge, and each blocking
one runs on a worker thread (`multimaster.aiodbapi`), so the event loop never waits on a node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.connectors.asyncio import (
    AsyncAdapt_dbapi_connection,
    AsyncAdapt_dbapi_cursor,
    AsyncAdapt_terminate,
)
from sqlalchemy.util.concurrency import await_

import multimaster
from multimaster import aiodbapi
from multimaster.sqlalchemy import MultiMasterDialect_mariadb, MultiMasterDialect_mysql

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPIModule

__all__ = ["AsyncMultiMasterDialect_mysql", "AsyncMultiMasterDialect_mariadb"]


class AsyncAdapt_multimaster_cursor(AsyncAdapt_dbapi_cursor):
    __slots__ = ()


class AsyncAdapt_multimaster_connection(AsyncAdapt_terminate, AsyncAdapt_dbapi_connection):
    """The sync dialect asks a DB-API connection for `autocommit`, `in_transaction` and
    `ping()`: the adapted connection answers them from the async one."""

    __slots__ = ()

    _cursor_cls = AsyncAdapt_multimaster_cursor
    _connection: aiodbapi.AsyncConnection  # type: ignore[assignment]

    @property
    def autocommit(self) -> bool:
        return self._connection.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        await_(self._connection.set_autocommit(value))

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    @property
    def closed(self) -> bool:
        return self._connection.closed

    def ping(self, reconnect: bool = True) -> None:
        await_(self._connection.ping())

    def character_set_name(self) -> str:
        return self._connection.character_set_name()

    def close(self) -> None:
        await_(self._connection.close())

    async def _terminate_graceful_close(self) -> None:
        await self._connection.close()

    def _terminate_force_close(self) -> None:
        self._connection.close_now()


class AsyncAdapt_multimaster_dbapi:
    """The DB-API module SQLAlchemy sees: `multimaster`'s names (exceptions, types,
    paramstyle), with connections made by the dialect."""

    def __init__(self) -> None:
        self.aiodbapi = aiodbapi
        for name in (*multimaster.exceptions.__all__, "paramstyle", "apilevel", "threadsafety"):
            setattr(self, name, getattr(multimaster, name))
        for name in ("BINARY", "DATETIME", "NUMBER", "ROWID", "STRING", "Binary"):
            setattr(self, name, getattr(multimaster, name))

    def __getattr__(self, key: str) -> Any:
        return getattr(multimaster, key)


class AsyncMultiMasterDialect_mysql(MultiMasterDialect_mysql):
    """``mysql+multimaster_async://``: the sync dialect's SQL and overrides, awaited."""

    driver = "multimaster_async"
    supports_statement_cache = True
    is_async = True
    has_terminate = True

    @classmethod
    def import_dbapi(cls) -> DBAPIModule:
        return AsyncAdapt_multimaster_dbapi()  # type: ignore[return-value]

    def connect(self, *cargs: Any, **cparams: Any) -> DBAPIConnection:
        # The sync dialect's connection (one MultiMaster per engine, a session per pooled
        # connection) is made without touching the network; the adapted one awaits its calls.
        sync = super().connect(*cargs, **cparams)
        dbapi = self.loaded_dbapi
        return AsyncAdapt_multimaster_connection(dbapi, aiodbapi.AsyncConnection(sync))  # type: ignore[arg-type,return-value]

    def do_terminate(self, dbapi_connection: DBAPIConnection) -> None:
        dbapi_connection.terminate()  # type: ignore[attr-defined]

    def get_driver_connection(self, connection: DBAPIConnection) -> Any:
        return connection._connection  # type: ignore[attr-defined]


class AsyncMultiMasterDialect_mariadb(MultiMasterDialect_mariadb, AsyncMultiMasterDialect_mysql):
    """``mariadb+multimaster_async://``."""

    driver = "multimaster_async"
    supports_statement_cache = True
    is_async = True


dialect = AsyncMultiMasterDialect_mysql
mariadb_dialect = AsyncMultiMasterDialect_mariadb
