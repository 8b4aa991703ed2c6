"""SQLAlchemy 2.x dialects over the multimaster DB-API connection (`multimaster.dbapi`):
``mysql+multimaster://`` and ``mariadb+multimaster://``, registered through the
``sqlalchemy.dialects`` entry points, so ``pip install multimaster[sqlalchemy]`` is enough::

    engine = create_engine("mysql+multimaster://app:pw@db1,db2:3307/shop?commit_marker=true")
    engine = create_engine("mariadb+multimaster://app:pw@/shop?host=db1&host=db2:3307")

Built on SQLAlchemy's own MySQL and MariaDB dialects: SQL, types and reflection are theirs; each
override below is for a way this driver differs from a one-server driver. Only this module
imports SQLAlchemy (``import multimaster`` does not).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode

from sqlalchemy import exc
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.mysql.mariadb import MariaDBDialect

import multimaster
from multimaster._native import OPTIONS, parse_address, parse_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection
    from sqlalchemy.engine.interfaces import (
        ConnectArgsType,
        DBAPIConnection,
        DBAPICursor,
        DBAPIModule,
        IsolationLevel,
    )
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = ["MultiMasterDialect_mysql", "MultiMasterDialect_mariadb"]

# Keyword arguments of multimaster.connect() itself (not MultiMaster options): booleans.
_CONNECT_FLAGS = ("causal_reads", "autocommit", "commit_marker")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise exc.ArgumentError(f"multimaster URL: {name} must be true or false, not {value!r}")


def _one(name: str, value: Union[str, Tuple[str, ...]]) -> str:
    if isinstance(value, tuple):
        raise exc.ArgumentError(f"multimaster URL: {name} is given more than once")
    return value


def connect_arguments(url: URL) -> Tuple[List[Any], Dict[str, Any]]:
    """What ``multimaster.connect()`` takes for an SQLAlchemy URL: the node list, then the
    database, user, password, connect()'s flags and MultiMaster's options, typed. A key that is
    no option, a value of the wrong form, an empty or bad node address: an error naming it
    (never the password: it is only passed on, as an argument)."""
    nodes: List[str] = []
    if url.host:
        # make_url reads `db1,db2:3307` as host "db1,db2" and port 3307: the port belongs to
        # the last node, as in multimaster's own URLs. (A port on an earlier node,
        # `db1:3307,db2`, is refused by make_url itself: use ?host= for that.)
        text = url.host if url.port is None else f"{url.host}:{url.port}"
        nodes.extend(part.strip() for part in text.split(","))
    elif url.port is not None:
        raise exc.ArgumentError("multimaster URL: a port without a host")
    query: Dict[str, Union[str, Tuple[str, ...]]] = dict(url.query)
    hosts = query.pop("host", ())
    nodes.extend([hosts] if isinstance(hosts, str) else hosts)
    for node in nodes:
        if not node:
            raise exc.ArgumentError(f"multimaster URL: an empty entry in the host list {nodes!r}")
        try:
            parse_address(node)
        except multimaster.Error as e:
            raise exc.ArgumentError(f"multimaster URL: bad node address {node!r}: {e}") from e
    kwargs: Dict[str, Any] = {}
    if url.database:
        kwargs["database"] = url.database
    if url.username:
        kwargs["user"] = url.username
    if url.password is not None:
        kwargs["password"] = url.password
    charset = query.pop("charset", None)
    if charset is not None and _one("charset", charset).lower() != "utf8mb4":
        # The core talks utf8mb4 to every node; another character set would be silently ignored.
        raise exc.ArgumentError(f"multimaster URL: charset must be utf8mb4 (the only one it speaks), not {charset!r}")
    for name in _CONNECT_FLAGS:
        if name in query:
            kwargs[name] = _flag(name, _one(name, query.pop(name)))
    if "read_default_file" in query:
        kwargs["read_default_file"] = _one("read_default_file", query.pop("read_default_file"))
    unknown = sorted(set(query) - set(OPTIONS))
    if unknown:
        known = sorted({*OPTIONS, *_CONNECT_FLAGS, "host", "charset", "read_default_file"})
        raise exc.ArgumentError(f"multimaster URL: unknown query key {unknown[0]!r} (known: {', '.join(known)})")
    if query:
        # MultiMaster's own URL reader types the options (seconds, counts, modes, paths) and
        # names a bad value: one reader, not a second copy of its table here. It sees only
        # the options, never the credentials.
        pairs = [(k, v) for k, vs in query.items() for v in ((vs,) if isinstance(vs, str) else vs)]
        for k, _ in pairs:
            _one(k, query[k])
        try:
            kwargs.update(parse_url("mysql://localhost/?" + urlencode(pairs))["options"])
        except multimaster.Error as e:
            raise exc.ArgumentError(str(e)) from e
    return [nodes or None], kwargs


class MultiMasterDialect_mysql(MySQLDialect):
    """``mysql+multimaster://``: SQLAlchemy's MySQL dialect on the multimaster DB-API module."""

    driver = "multimaster"
    supports_statement_cache = True
    # The DB-API binds `?` markers server-side (multimaster.paramstyle); SQLAlchemy's MySQL
    # compiler renders qmark as it does for the mariadb connector.
    default_paramstyle = "qmark"
    supports_native_decimal = True
    # Results are read whole by execute(): there is no streaming cursor.
    supports_server_side_cursors = False
    # The DB-API's rowcount of an UPDATE is the rows it matched, changed or not, as with
    # CLIENT_FOUND_ROWS (read from the server's "Rows matched" info, so MultiMaster.execute's
    # own rowcount stays the rows changed): the ORM's version and "matched no row" checks hold.
    # executemany() of an UPDATE loops, its rowcount the total of matched rows.
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    # The DB-API binds no uuid.UUID: MariaDB's native UUID columns get their values as
    # strings, as SQLAlchemy does for mysqlconnector and mariadbconnector.
    _allows_uuid_binds = False
    # Not use_insertmanyvalues_wo_returning: the DB-API's executemany() writes a plain INSERT
    # as 1,000-row statements itself (insert_many's chunks, one replay-log entry each), and
    # its rowcount is the total that pandas' to_sql returns, where SQLAlchemy's multi-row
    # pages would report the last page's.

    @classmethod
    def import_dbapi(cls) -> DBAPIModule:
        return multimaster  # type: ignore[return-value] # the package is the PEP 249 module

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shared: Optional[Tuple[Tuple[Any, ...], Dict[str, Any], multimaster.MultiMaster]] = None
        self._shared_lock = threading.Lock()

    @classmethod
    def load_provisioning(cls) -> None:
        # SQLAlchemy's test suite imports `<dialect package>.provision` (how to create a
        # database, a temporary table...): this dialect's is MySQL's, not `multimaster.provision`.
        MySQLDialect.load_provisioning()

    def _initialize_mariadb(self, connection: Connection) -> None:
        # A mysql+multimaster:// URL that finds MariaDB: SQLAlchemy turns UUID binds on there.
        super()._initialize_mariadb(connection)
        self._allows_uuid_binds = False

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        args, kwargs = connect_arguments(url)
        return args, kwargs  # type: ignore[return-value]

    def connect(self, *cargs: Any, **cparams: Any) -> DBAPIConnection:
        # One MultiMaster per engine, each pooled connection a DB-API session on it: the
        # balancing policy then gives each connection its own slot, so a pool spreads over the
        # nodes (a MultiMaster per connection would pin every one to the same first node), and
        # the engine keeps one set of node probes. Arguments changed for one connection (a
        # do_connect event, connect_args) get a MultiMaster of their own, closed with it.
        flags = {name: cparams.pop(name) for name in _CONNECT_FLAGS if name in cparams}
        nodes = tuple(cargs[0]) if cargs and isinstance(cargs[0], list) else cargs
        with self._shared_lock:
            shared = self._shared
            if shared is None or shared[2].closed:
                shared = self._shared = (nodes, dict(cparams), multimaster.MultiMaster(*cargs, **cparams))
        if shared[0] != nodes or shared[1] != cparams:
            own: Dict[str, Any] = {**cparams, **flags}
            return multimaster.connect(*cargs, **own)  # type: ignore[return-value]
        return multimaster.connect(shared[2], **flags)  # type: ignore[return-value]

    def _extract_error_code(self, exception: DBAPIModule.Error) -> Optional[int]:
        return getattr(exception, "errno", None)

    def is_disconnect(
        self,
        e: DBAPIModule.Error,
        connection: Optional[Union[PoolProxiedConnection, DBAPIConnection]],
        cursor: Optional[DBAPICursor],
    ) -> bool:
        # 2006/2013 (and the others MySQL's dialect knows) come first: a session that held
        # state it cannot carry to another node raises 2006 on its next use, for pools to
        # discard it. AllNodesDownError: no node answers, the connection has nothing left.
        # A connection closed under the pool says so in an InterfaceError.
        if super().is_disconnect(e, connection, cursor):
            return True
        if isinstance(e, multimaster.AllNodesDownError):
            return True
        return isinstance(e, multimaster.InterfaceError) and "connection is closed" in str(e)

    def do_ping(self, dbapi_connection: DBAPIConnection) -> bool:
        # The DB-API's ping asks any live node: a connection survives the death of one node,
        # so pool_pre_ping only discards connections that no node (or a closed one) can serve.
        dbapi_connection.ping()
        return True

    def do_rollback(self, dbapi_connection: PoolProxiedConnection) -> None:
        # The pool rolls back every connection it takes back, AUTOCOMMIT ones included, where
        # the DB-API's rollback() raises NotSupportedError (every statement already committed).
        # Otherwise rollback() never raises for a node that died: the transaction is gone.
        if dbapi_connection.autocommit and not dbapi_connection.in_transaction:
            return
        dbapi_connection.rollback()

    def _detect_charset(self, connection: Connection) -> str:
        # The core talks utf8mb4 to every node, whatever the server's default.
        return "utf8mb4"

    def get_isolation_level_values(self, dbapi_conn: DBAPIConnection) -> Sequence[IsolationLevel]:
        return (*super().get_isolation_level_values(dbapi_conn), "AUTOCOMMIT")

    def detect_autocommit_setting(self, dbapi_conn: DBAPIConnection) -> bool:
        return bool(dbapi_conn.autocommit)

    def set_isolation_level(self, dbapi_connection: DBAPIConnection, level: IsolationLevel) -> None:
        # AUTOCOMMIT is the DB-API connection's own mode (a SET autocommit statement is
        # refused by it); the other levels are SET SESSION TRANSACTION ISOLATION LEVEL, which
        # the connection's session records and re-applies on any node after a failover. It
        # must leave autocommit first: in autocommit a SET would run once, on any node.
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
        else:
            dbapi_connection.autocommit = False
            super().set_isolation_level(dbapi_connection, level)


class MultiMasterDialect_mariadb(MariaDBDialect, MultiMasterDialect_mysql):
    """``mariadb+multimaster://``: the same driver on SQLAlchemy's MariaDB flavour
    (``is_mariadb``), as SQLAlchemy pairs its own drivers with it."""

    supports_statement_cache = True
    _allows_uuid_binds = False  # MariaDBDialect's True would come first


dialect = MultiMasterDialect_mysql
mariadb_dialect = MultiMasterDialect_mariadb
