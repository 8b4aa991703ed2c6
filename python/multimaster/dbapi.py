"""A PEP 249 (DB-API 2.0) connection over :class:`MultiMaster`, for tools that take one:
``pandas.read_sql``, ``polars.read_database``, jupysql's ``%sql``, plain cursor code.

    import multimaster

    with multimaster.connect("mysql://admin:pw@db1,db2/demo") as conn:
        cur = conn.cursor()
        cur.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))   # in a transaction
        cur.execute("SELECT k, v FROM t WHERE v > ?", (0,))
        cur.fetchall()
        conn.commit()                                # replayed on a live node if interrupted

    auto = multimaster.connect("mysql://admin:pw@db1,db2/demo", autocommit=True)
    auto.cursor().execute("INSERT INTO t (k, v) VALUES (?, ?)", ("b", 2), key=("t", "k", "b"))

``connect()`` takes what ``MultiMaster()`` takes (node list or URL, database, user, password,
options), or an existing ``MultiMaster``, which the connection then uses but never closes.

Where it differs from a one-server driver, on purpose:

- **Transactions, as PEP 249 says** (``autocommit`` off, the default). The first statement
  begins a transaction on a live node chosen for this connection by the balancing policy (a
  pool of connections spreads over the nodes); later statements run in it; ``commit()``
  commits, ``rollback()`` rolls back. If the database interrupts it before COMMIT (its node
  dies, a certification conflict 1213 at a statement or at COMMIT, 1047), it is rolled back
  and **replayed** from its first statement on a live node, but only if every statement
  answers as it did (its rows, ``rowcount`` and ``lastrowid``, kept as digests); otherwise,
  or if the transaction outgrew the replay log (1,000 statements or 16 MiB of SQL and
  parameters), it raises ``TransactionReplayError``: rolled back, retry it yourself. A COMMIT
  whose reply is lost raises ``AmbiguousCommitError`` (after the node's session is fenced),
  unless ``connect(..., commit_marker=True)``: then each transaction writes a row in
  ``multimaster_commit_marker`` (created if missing, in the connection's database), and after
  the fence a causal look-up says whether it committed (done) or not (replayed): never twice.
  ``rollback()`` never raises for a node that died: the transaction is gone. A statement
  that commits by itself in MySQL (CREATE, ALTER, DROP, RENAME, TRUNCATE, GRANT, REVOKE, and
  the like) first commits the open transaction, as the server would, then runs on its own.
  Session state (``SET SESSION``, ``SET NAMES``, ``SET @var``, the isolation level, ``USE``)
  is recorded and run again before every transaction begins, on whichever node; state that
  cannot move (a temporary table, ``GET_LOCK()``) works in its transaction, after which the
  connection is closed: its next statement raises ``OperationalError`` 2006, so pools discard
  it. ``SET autocommit`` is refused: set ``conn.autocommit``. A bare ``COMMIT``,
  ``ROLLBACK``, ``BEGIN`` or ``START TRANSACTION`` sent through a cursor does what
  ``commit()``/``rollback()`` do (BEGIN commits what is open, as the server would).
- **Autocommit** (``connect(..., autocommit=True)`` or ``conn.autocommit = True``): every
  statement commits by itself and may run on another node, as before this release;
  ``rollback()`` then raises ``NotSupportedError``. No session: user variables,
  ``LAST_INSERT_ID()`` in a later statement (use ``cursor.lastrowid``), temporary tables and
  ``SET SESSION`` do not carry over.
- **Reads and writes** (autocommit). A statement that starts with SELECT, SHOW, WITH, DESCRIBE, DESC,
  EXPLAIN, VALUES or ``(`` (after comments) is a read: it runs on any live node and is retried
  on another if its connection is lost. A WITH or EXPLAIN that names INSERT, UPDATE, DELETE or
  REPLACE anywhere, and every other statement, is a write and follows the exactly-once rules:
  a write whose reply is lost raises ``AmbiguousCommitError`` unless ``execute`` was given
  ``key=(table, column, value)`` (the row is looked up before writing again) or
  ``idempotent=True`` (it is simply retried). A write's own result set (``INSERT ...
  RETURNING``, ``CALL``) is not kept.
- **Reads are causal** by default (``connect(..., causal_reads=True)``): each sees every write
  committed anywhere in the cluster before it, as a single server would, at the cost of a
  wait for the node to catch up. ``causal_reads=False`` reads whatever the node has applied.
- **Parameters** use ``?`` markers with a sequence (``paramstyle = "qmark"``), or ``:name``
  markers with a mapping; both are bound by the server, never formatted into the SQL.
- **Types.** ``description`` type codes are MySQL's column type numbers, as PyMySQL gives.
  TEXT columns (and MariaDB's JSON) carry the protocol's BLOB code, so they compare equal to
  ``BINARY`` (their values still come back as ``str``); MySQL has no row-id type, so nothing equals
  ``ROWID``. TIME values come back as ``datetime.timedelta`` (they may exceed a day).

``with connect(...) as conn`` closes the connection on exit (an open transaction is rolled
back, as PEP 249 says of ``close()``); ``close()`` may be called twice, and a closed connection
or cursor raises ``InterfaceError``. ``threadsafety = 2``: threads may share the module and a
connection (``MultiMaster`` is safe to share between threads; a transaction's statements are
run one at a time), but not a cursor, which holds the result of its own last statement.
"""

from __future__ import annotations

import datetime
import re
import time
from types import TracebackType
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

from multimaster.client import MultiMaster
from multimaster.exceptions import (  # noqa: F401 - PEP 249 wants them on the module
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)

__all__ = [
    "apilevel",
    "threadsafety",
    "paramstyle",
    "connect",
    "Connection",
    "Cursor",
    "STRING",
    "BINARY",
    "NUMBER",
    "DATETIME",
    "ROWID",
    "Date",
    "Time",
    "Timestamp",
    "DateFromTicks",
    "TimeFromTicks",
    "TimestampFromTicks",
    "Binary",
]

apilevel = "2.0"
threadsafety = 2
paramstyle = "qmark"

Params = Union[Sequence[Any], Mapping[str, Any], None]
Key = Optional[Tuple[str, str, Any]]


class DBAPIType:
    """A PEP 249 type object: equal to each MySQL column type code of its kind."""

    def __init__(self, name: str, *codes: int) -> None:
        self.name, self.codes = name, frozenset(codes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DBAPIType):
            return self is other
        return isinstance(other, int) and other in self.codes

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<DBAPIType {self.name}>"


# MySQL's column type numbers (include/mysql_com.h, enum_field_types).
STRING = DBAPIType("STRING", 15, 245, 247, 248, 253, 254)  # VARCHAR JSON ENUM SET VAR_STRING STRING
BINARY = DBAPIType("BINARY", 16, 249, 250, 251, 252, 255)  # BIT, the BLOBs (and TEXT), GEOMETRY
# DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL
NUMBER = DBAPIType("NUMBER", 0, 1, 2, 3, 4, 5, 8, 9, 13, 246)
# TIMESTAMP, DATE, TIME, DATETIME, NEWDATE, and the v2 TIMESTAMP, DATETIME, TIME
DATETIME = DBAPIType("DATETIME", 7, 10, 11, 12, 14, 17, 18, 19)
ROWID = DBAPIType("ROWID")

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> datetime.date:
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> datetime.time:
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    return Timestamp(*time.localtime(ticks)[:6])


# Leading blanks and comments (not /*! ... */ nor /*M! ... */, which the server executes).
_LEADING = re.compile(r"(?:\s+|--[^\n]*|#[^\n]*|/\*(?!!|M!)[\s\S]*?\*/)*")
_READS = {"SELECT", "SHOW", "WITH", "DESCRIBE", "DESC", "EXPLAIN", "VALUES"}
_WORD = re.compile(r"[A-Za-z]*")
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
# Statements the server runs with an implicit COMMIT before them (MariaDB's "Statements That
# Cause an Implicit Commit"); CREATE TEMPORARY TABLE and DROP TEMPORARY TABLE do not.
_COMMITS_BY_ITSELF = {
    "CREATE",
    "ALTER",
    "DROP",
    "RENAME",
    "TRUNCATE",
    "GRANT",
    "REVOKE",
    "ANALYZE",
    "OPTIMIZE",
    "REPAIR",
}
_TEMPORARY = re.compile(r"\s*(?:CREATE|DROP)\s+TEMPORARY\b", re.IGNORECASE)


def returns_rows(sql: str) -> bool:
    """Whether `sql` is run as a read (retried anywhere) rather than a write. When unsure it
    says write: a write run as a read could be repeated after a lost reply."""
    head = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr] # it matches ""
    if head.startswith("("):
        return True
    word = _WORD.match(head).group().upper()  # type: ignore[union-attr]
    if word in ("WITH", "EXPLAIN"):  # WITH ... UPDATE and EXPLAIN ANALYZE DELETE write
        return not _DML.search(head)
    return word in _READS


_TRANSACTION_CONTROL = re.compile(
    r"(?:(COMMIT)|(ROLLBACK)|(BEGIN|START\s+TRANSACTION))(?:\s+WORK)?\s*;?\s*$", re.IGNORECASE
)


def transaction_control(sql: str) -> Optional[str]:
    """ "commit", "rollback" or "begin" for a bare COMMIT, ROLLBACK, BEGIN or START
    TRANSACTION (the connection's own methods do these: sent as text they would end the
    server's transaction behind the session's back); None for anything else (ROLLBACK TO a
    savepoint included). START TRANSACTION with characteristics raises NotSupportedError."""
    head = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr] # it matches ""
    found = _TRANSACTION_CONTROL.match(head)
    if found is None:
        if re.match(r"START\s+TRANSACTION\b", head, re.IGNORECASE):
            raise NotSupportedError(
                "START TRANSACTION with characteristics: run SET TRANSACTION READ ONLY (or READ "
                "WRITE, ISOLATION LEVEL ...) before the transaction's first statement instead"
            )
        return None
    return ("commit", "rollback", "begin")[found.lastindex - 1]  # type: ignore[operator]


# Rows per multi-row INSERT of executemany(): a 1,000-row statement is one entry of a
# transaction's replay log, and stays far below max_allowed_packet for ordinary rows.
EXECUTEMANY_BATCH = 1000
_NAME = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)"
_BATCHED_INSERT = re.compile(
    rf"INSERT\s+INTO\s+(?P<table>{_NAME}(?:\s*\.\s*{_NAME})?)\s*\((?P<columns>[^()]*)\)\s*"
    r"VALUES\s*\((?P<marks>\s*\?\s*(?:,\s*\?\s*)*)\)\s*;?\s*$",
    re.IGNORECASE,
)


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def batched_insert(sql: str) -> Optional[Tuple[str, List[str]]]:
    """(table, columns) of a plain ``INSERT INTO t (a, b) VALUES (?, ?)``, which executemany()
    writes as multi-row INSERTs; None for any other statement (IGNORE, ON DUPLICATE KEY,
    SELECT, expressions, named markers), which it runs once per parameter set."""
    head = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr] # it matches ""
    found = _BATCHED_INSERT.match(head)
    if found is None:
        return None
    parts = re.findall(rf"\s*({_NAME})\s*(?:,|$)", found["columns"])
    columns = [_unquote(c) for c in parts]
    table_parts = [_unquote(t) for t in re.findall(_NAME, found["table"])]
    if not columns or len(columns) != found["marks"].count("?") or any("." in t for t in table_parts):
        return None
    if ",".join(parts).replace(" ", "") != found["columns"].replace(" ", "").strip():
        return None  # something other than a plain list of names
    return ".".join(table_parts), columns


def commits_by_itself(sql: str) -> bool:
    """Whether the server commits the open transaction before `sql` (DDL, GRANT...)."""
    head = sql[_LEADING.match(sql).end() :]  # type: ignore[union-attr] # it matches ""
    word = _WORD.match(head).group().upper()  # type: ignore[union-attr]
    return word in _COMMITS_BY_ITSELF and not _TEMPORARY.match(head)


class Connection:
    """A PEP 249 connection: cursors over one MultiMaster; transactions pinned to a node
    (autocommit off, the default), or autocommit statement by statement."""

    Warning, Error, InterfaceError, DatabaseError = Warning, Error, InterfaceError, DatabaseError
    DataError, OperationalError, IntegrityError = DataError, OperationalError, IntegrityError
    InternalError, ProgrammingError, NotSupportedError = InternalError, ProgrammingError, NotSupportedError

    def __init__(
        self,
        mm: MultiMaster,
        *,
        owned: bool,
        causal_reads: bool = True,
        autocommit: bool = False,
        commit_marker: bool = False,
    ) -> None:
        self._mm, self._owned, self._closed = mm, owned, False
        self.causal_reads = causal_reads
        self._autocommit = bool(autocommit)
        # The connection's session: its balancing slot, open transaction and replay log.
        self._session = mm._native.session(commit_marker=commit_marker)

    @property
    def multimaster(self) -> MultiMaster:
        """The MultiMaster underneath: for transaction(), insert_many(), stats(), events()."""
        return self._mm

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        # Turning autocommit on commits the open transaction, as MySQL's SET autocommit=1 does.
        self._check()
        if value and not self._autocommit:
            self._session.commit()
        self._autocommit = bool(value)

    @property
    def in_transaction(self) -> bool:
        """Whether a statement began a transaction not yet committed or rolled back."""
        return self._session.in_transaction

    @property
    def node(self) -> Optional[str]:
        """The node the open transaction is pinned to; None without one (or in autocommit)."""
        return self._session.node

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> MultiMaster:
        if self._closed:
            raise InterfaceError("the connection is closed")
        return self._mm

    def cursor(self) -> Cursor:
        self._check()
        return Cursor(self)

    def commit(self) -> None:
        """Commits the open transaction (nothing to do without one, or in autocommit)."""
        self._check()
        self._session.commit()

    def rollback(self) -> None:
        """Rolls the open transaction back. Raises nothing when its node died: the transaction
        is gone already. In autocommit there is nothing to roll back: NotSupportedError."""
        self._check()
        if self._autocommit and not self._session.in_transaction:
            raise NotSupportedError(
                "this connection is in autocommit: every statement already committed, nothing to roll back"
            )
        self._session.rollback()

    def ping(self, reconnect: bool = True) -> None:
        """Raises unless some node answers a statement (as ``SELECT 1``)."""
        self._check()._native.query("SELECT 1")

    def character_set_name(self) -> str:
        """The connection's character set: multimaster talks utf8mb4 to every node."""
        return "utf8mb4"

    def get_server_info(self) -> str:
        """The version of a live node's server, as ``SELECT VERSION()`` gives it."""
        rows, _ = self._check()._native.query("SELECT VERSION()")
        return str(rows[0][0])

    def close(self) -> None:
        """Rolls back an open transaction and closes the MultiMaster if connect() made it.
        Closing twice does nothing."""
        if not self._closed:
            self._session.close()
            self._closed = True
            if self._owned:
                self._mm.close()

    def __enter__(self) -> Connection:
        self._check()
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<multimaster.dbapi.Connection {state} on {self._mm!r}>"


Description = List[Tuple[str, int, None, int, None, int, bool]]


class Cursor:
    """A PEP 249 cursor. Results are read whole by execute(); fetch* pages through them."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.arraysize = 1
        self.description: Optional[Description] = None
        self.rowcount = -1
        self.lastrowid: Optional[int] = None
        self._rows: Optional[List[Tuple[Any, ...]]] = None
        self._pos = 0
        self._closed = False

    def execute(
        self, operation: str, parameters: Params = None, *, key: Key = None, idempotent: bool = False
    ) -> Cursor:
        """Runs one statement. `key=(table, column, value)` names the row a write creates, so
        that a lost reply is resolved by looking it up; `idempotent=True` lets a write be
        retried. Reads are always retried elsewhere and take neither. Both are for autocommit:
        with autocommit off the statement runs in the connection's transaction, replayed whole."""
        mm = self._check()
        self.description, self.rowcount, self.lastrowid, self._rows, self._pos = None, -1, None, None, 0
        conn = self.connection
        try:
            control = None if conn._autocommit else transaction_control(operation)
            if control != "rollback":
                conn._session.check()  # 2006 once state that cannot move was left behind
            if control is not None:
                if key is not None or idempotent:
                    raise ProgrammingError("key= and idempotent= are for autocommit writes")
                if control == "rollback":
                    conn._session.rollback()
                else:  # COMMIT, and BEGIN, which commits what is open as the server does
                    conn._session.commit()
                self.rowcount = 0
                return self
            if not conn._autocommit and not commits_by_itself(operation):
                if key is not None or idempotent:
                    raise ProgrammingError(
                        "key= and idempotent= are for autocommit writes: a transaction is replayed whole"
                    )
                rows, description, rowcount, lastrowid = conn._session.execute(
                    operation, parameters, causal=conn.causal_reads
                )
                if description is not None:
                    self.description, self._rows, self.rowcount = description, rows, len(rows)
                else:
                    self.rowcount, self.lastrowid = rowcount, lastrowid
                return self
            if not conn._autocommit:
                conn._session.commit()  # the server would commit it before this statement
                conn._session.check()  # a temporary table ended with it: not to be found
            if returns_rows(operation):
                if key is not None or idempotent:
                    raise ProgrammingError(
                        "key= and idempotent= are for writes: a read is always retried on another node"
                    )
                rows, description = mm._native.query(operation, parameters, causal=conn.causal_reads)
                if description is not None:
                    self.description, self._rows, self.rowcount = description, rows, len(rows)
            else:
                done = mm.execute(operation, parameters, key=key, idempotent=idempotent)
                # An UPDATE's rows matched, changed or not, as in a transaction (CLIENT_FOUND_ROWS).
                self.rowcount = done.rowcount if done.matched is None else done.matched
                self.lastrowid = done.last_insert_id
        except TypeError as e:  # a parameter that cannot be bound, params given as a string
            raise ProgrammingError(str(e)) from e
        return self

    def executemany(self, operation: str, seq_of_parameters: Sequence[Params], *, idempotent: bool = False) -> Cursor:
        """Runs a write once per parameter set; rowcount is the total. A plain ``INSERT INTO
        t (a, b) VALUES (?, ?)`` given sequences is written as multi-row INSERTs of
        ``EXECUTEMANY_BATCH`` rows, as ``insert_many(batch=...)`` writes them (in autocommit
        it is ``insert_many``: balanced over the nodes, each statement committing by itself);
        any other statement runs once per set. In autocommit, after an error, rowcount says
        how many rows the earlier statements wrote; otherwise they are statements of the
        connection's transaction. For keyed, exactly-once bulk inserts use
        ``conn.multimaster.insert_many(key=...)``."""
        mm = self._check()
        if returns_rows(operation):
            raise ProgrammingError("executemany() is for writes; run reads with execute()")
        conn = self.connection
        conn._session.check()
        batched = None if idempotent else batched_insert(operation)
        if batched is not None:
            given = list(seq_of_parameters)
            rows = [r for r in given if isinstance(r, (list, tuple))]
            if len(given) > 1 and len(rows) == len(given):
                self.description, self.lastrowid, self._rows, self._pos = None, None, None, 0
                table, columns = batched
                self.rowcount = 0
                try:
                    if conn._autocommit:
                        self.rowcount = mm.insert_many(table, columns, rows, batch=EXECUTEMANY_BATCH).rows
                    else:
                        self.rowcount = conn._session.insert_rows(
                            table, columns, rows, batch=EXECUTEMANY_BATCH, causal=conn.causal_reads
                        )
                except TypeError as e:  # a parameter that cannot be bound
                    raise ProgrammingError(str(e)) from e
                except BaseException as e:
                    report = getattr(e, "report", None)
                    if report is not None:  # insert_many's rows written before the error
                        self.rowcount = report.rows
                    raise
                return self
            seq_of_parameters = given
        total = 0
        try:
            for parameters in seq_of_parameters:
                self.execute(operation, parameters, idempotent=idempotent)
                total += max(self.rowcount, 0)
        finally:
            self.rowcount = total
        return self

    def _result(self) -> List[Tuple[Any, ...]]:
        self._check()
        if self._rows is None:
            # PEP 249 (and the dbapi20 suite) want an Error here. The message begins with
            # psycopg2's wording on purpose: jupysql fetches after every %sql statement and
            # takes only an error naming "no results to fetch" (psycopg2's) or "does not
            # return rows" (SQLAlchemy's) for "nothing to show" (sql/run/resultset.py,
            # ResultSet.fetchmany); any other error fails a CREATE or INSERT already run.
            raise ProgrammingError("no results to fetch: the last statement returned no rows")
        return self._rows

    def fetchone(self) -> Optional[Tuple[Any, ...]]:
        rows = self._result()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def fetchmany(self, size: Optional[int] = None) -> List[Tuple[Any, ...]]:
        rows = self._result()
        end = self._pos + (self.arraysize if size is None else size)
        page, self._pos = rows[self._pos : end], min(end, len(rows))
        return page

    def fetchall(self) -> List[Tuple[Any, ...]]:
        rows = self._result()
        page, self._pos = rows[self._pos :], len(rows)
        return page

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        return self

    def __next__(self) -> Tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def callproc(self, procname: str, parameters: Sequence[Any] = ()) -> Sequence[Any]:
        raise NotSupportedError(
            "callproc() is not supported: execute('CALL ...') runs a "
            "procedure as a write (its result sets are not kept)"
        )

    def setinputsizes(self, sizes: Any) -> None:
        """Does nothing (allowed by PEP 249): values are bound by their Python type."""

    def setoutputsize(self, size: int, column: Optional[int] = None) -> None:
        """Does nothing (allowed by PEP 249): results are read whole."""

    def close(self) -> None:
        """Drops the result; later use raises InterfaceError. Closing twice does nothing."""
        self._closed, self._rows, self.description = True, None, None

    def _check(self) -> MultiMaster:
        if self._closed:
            raise InterfaceError("the cursor is closed")
        return self.connection._check()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"rowcount={self.rowcount}"
        return f"<multimaster.dbapi.Cursor {state} of {self.connection!r}>"


def connect(
    nodes: Union[MultiMaster, Sequence[str], str],
    database: Optional[str] = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
    *,
    causal_reads: bool = True,
    autocommit: bool = False,
    commit_marker: bool = False,
    **options: Any,
) -> Connection:
    """A PEP 249 connection. `nodes` is what MultiMaster takes (a list of addresses or a
    ``mysql://`` URL, with the same arguments and options), or a MultiMaster to use as it is:
    closing the connection then leaves it open. `causal_reads=False` lets reads skip the
    wait for their node to catch up with the cluster. `autocommit=False` (the default, as PEP
    249 says) runs statements in transactions that ``commit()`` commits; `autocommit=True`
    commits each statement by itself. `commit_marker=True` writes a marker row in each
    transaction (table ``multimaster_commit_marker``, created if missing) so that a COMMIT
    whose reply is lost is settled: committed, or replayed, never twice."""
    if isinstance(nodes, MultiMaster):
        if database is not None or user is not None or password is not None or options:
            raise InterfaceError("connect(MultiMaster) takes no other connection settings")
        return Connection(
            nodes, owned=False, causal_reads=causal_reads, autocommit=autocommit, commit_marker=commit_marker
        )
    mm = MultiMaster(nodes, database, user, password, **options)
    return Connection(mm, owned=True, causal_reads=causal_reads, autocommit=autocommit, commit_marker=commit_marker)
