"""`MultiMaster`: the Python class over the native one (`multimaster._native.Native`), as polars
wraps its Rust objects. The native object runs each operation (one method each, the same ones
`multimaster.dbapi` uses); this class holds it and adds what belongs to Python: the reprs, the
`Stats`/`Events` views, the result objects and the choice of a progress view."""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
    TypedDict,
    TypeVar,
    Union,
)

from multimaster._native import CancelHandle, Native, Transaction, parse_url
from multimaster.display import Events, Stats, multimaster_html, multimaster_text, progress_sink
from multimaster.display.live import LiveView
from multimaster.records import Node
from multimaster.results import ExecResult, InsertReport, TransactionResult, attach_report

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["MultiMaster", "Options"]

_T = TypeVar("_T")
Params = Union[Sequence[Any], Mapping[str, Any], None]
_Path = Union[str, "os.PathLike[str]"]


class ArrowStream(Protocol):
    """A frame `insert_many` reads in Rust: anything exporting an Arrow C stream (pyarrow
    `Table`/`RecordBatchReader`, polars and pandas >= 2.2 `DataFrame`s, DuckDB relations)."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


class Options(TypedDict, total=False):
    """The keyword options of `MultiMaster` and the query keys of a URL. Their kinds, defaults
    and meaning are one table in the core (`src/core/settings/options.rs`, whose names are
    `multimaster._native.OPTIONS`); None leaves an option to the URL, the option file or the
    default."""

    policy: Optional[Literal["parity", "sequential", "key-affinity", "least-loaded"]]
    connect_timeout: Optional[float]
    failure_detection: Optional[float]
    statement_timeout: Optional[float]
    write_timeout: Optional[float]
    failover_timeout: Optional[float]
    max_retries: Optional[int]
    backoff_base: Optional[float]
    backoff_cap: Optional[float]
    discover: Optional[bool]
    discover_interval: Optional[float]
    event_capacity: Optional[int]
    ssl_mode: Optional[str]
    ssl_ca: Optional[_Path]
    ssl_cert: Optional[_Path]
    ssl_key: Optional[_Path]


class MultiMaster:
    """A set of writable nodes of one multi-master cluster.

    Statements are balanced over the nodes by `policy`; a node that fails is taken out of
    rotation and retried in the background with capped exponential backoff; errors follow the
    failure contract in the README. One instance is safe to share between threads: what a
    call did is its return value, never state kept here.

    `nodes` is a list of `"host"` / `"host:port"` addresses, or a connection URL:
    `mysql://user:password@host1:3306,host2/database?policy=parity&connect_timeout=1` (also
    `mariadb://`, and `?host=` repeated). `read_default_file="~/.my.cnf"` reads the `[client]`
    group of a MySQL option file. Settings come from, in order of precedence: the arguments
    given here, the URL, the option file, the environment (`MYSQL_PWD`, `MYSQL_HOST`), the
    defaults (see the README and `Options`).
    """

    __slots__ = ("_native", "__weakref__")

    def __init__(
        self,
        nodes: Union[Sequence[str], str, None] = None,
        database: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        *,
        read_default_file: Optional[_Path] = None,
        **options: Unpack[Options],
    ) -> None:
        self._native = Native(nodes, database, user, password, read_default_file=read_default_file, **options)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MultiMaster:
        """`MultiMaster(url, **overrides)`, for a connection URL: keyword arguments win over it."""
        parse_url(url)  # an address or a bad URL: InterfaceError naming the part
        return cls(url, **overrides)

    def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        key: Optional[Tuple[str, str, Any]] = None,
        idempotent: bool = False,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
    ) -> ExecResult:
        """Runs one write (or any statement without a result set) and returns what it did:
        `rowcount`, `last_insert_id`, the `node` that ran it, its `retries` and `failovers`.

        `key=(table, column, value)` names the unique key of the row written: if the reply is
        lost, the row is looked up (causally) before writing again. `idempotent=True` lets a
        write with a lost reply run again as is. Otherwise a lost reply raises
        `AmbiguousCommitError`. `cancel` (a `CancelHandle`, here and in the other calls) lets
        another thread stop the call as Ctrl-C does: the statement is killed on the server and
        the call raises `KeyboardInterrupt`."""
        return self._native.execute(
            sql, params, key=key, idempotent=idempotent, statement_timeout=statement_timeout, cancel=cancel
        )

    def query(
        self,
        sql: str,
        params: Params = None,
        *,
        causal: bool = False,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
    ) -> List[Tuple[Any, ...]]:
        """Runs a read on a live node and returns its rows as tuples. A read whose connection
        is lost is retried on another node. `causal=True` makes it see every write the cluster
        committed before it, whichever node took the write."""
        rows, _ = self._native.query(sql, params, causal=causal, statement_timeout=statement_timeout, cancel=cancel)
        return rows

    def insert_many(
        self,
        table: str,
        columns: Optional[Sequence[str]],
        rows: Union[Iterable[Sequence[Any]], ArrowStream],
        *,
        key: Optional[str] = None,
        interval: float = 0.0,
        on_row: Optional[Callable[[int, str, bool], object]] = None,
        progress: Union[bool, Callable[[Dict[str, Any]], object], None] = None,
        statement_timeout: Optional[float] = None,
        concurrency: int = 1,
        batch: int = 1,
        cancel: Optional[CancelHandle] = None,
    ) -> InsertReport:
        """Inserts `rows` into `table`, one autocommit row at a time, balanced over the nodes
        and `interval` seconds apart, surviving node failures. `key` names the column that
        identifies a row (unique per row): with it every row is written exactly once even when
        a reply is lost. `on_row(index, node, rerouted)` is called after each row; `rerouted`
        is true when a node other than the policy's first choice took it.

        `progress=True` shows the run live: in a notebook one display updated in place (its
        final state stays in the saved notebook), in a terminal a line on stderr; a callable
        gets the same snapshots (dicts) instead. It is drawn from this thread at most ten
        times a second, from counters the loop keeps, so it costs the loop nothing per row.

        `concurrency=N` keeps up to N statements in flight at once (N threads), spread over
        the nodes as one at a time would be; `interval` is then the pause between two
        statements of each of them. `batch=K` writes K rows per multi-row INSERT (fewer where a
        node's `max_allowed_packet` or the 65,535-placeholder limit says so); with a key, a
        batch whose reply is lost is looked up by all its keys. A refused row stops the run
        with its error, whose `row` is the row's index in `rows` when the server says which.
        `statement_timeout` bounds each statement (default 60 s, or the instance's).

        `rows` is any iterable, read as the load goes (a chunk at a time while earlier chunks
        are written: memory bounded by what is in flight, not by the input), or a frame
        exporting `__arrow_c_stream__` (pyarrow, polars, pandas), read in Rust without a Python
        object per value; a frame's column names are used when `columns` is None. An exception
        of the iterator stops the load with that exception (and its `.report`).

        Ctrl-C stops the loop within half a second; rows already written stay written, and the
        partial report is attached to the `KeyboardInterrupt` (or the error) as `.report`."""
        sink = progress_sink(progress)
        try:
            fields = self._native.insert_many(
                table,
                list(columns or ()),
                rows,
                key=key,
                interval=interval,
                on_row=on_row,
                progress=sink,
                statement_timeout=statement_timeout,
                concurrency=concurrency,
                batch=batch,
                cancel=cancel,
            )
        except BaseException as e:
            attach_report(e)
            raise
        return InsertReport(**fields)

    def transaction(
        self,
        body: Callable[[Transaction], _T],
        *,
        check: Optional[Callable[[], object]] = None,
        attempts: int = 5,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
        affinity: object = None,
    ) -> TransactionResult[_T]:
        """Runs `body(tx)` as one transaction pinned to one node, and commits it.

        If the database interrupts an attempt before COMMIT (a certification conflict, a lock
        wait timeout, a lost connection) it is rolled back and `body` runs again on a live
        node, up to `attempts` times; so `body` must only act through `tx`. If the connection
        is lost during COMMIT the outcome is unknown: `check()` (if given) must say whether it
        committed (for instance with `mm.query(..., causal=True)`); otherwise
        `AmbiguousCommitError`. `affinity`: a key value that places the transaction with
        `policy="key-affinity"`, on the node where keyed writes of that value go."""
        value, tries, node = self._native.transaction(
            body, check=check, attempts=attempts, statement_timeout=statement_timeout, cancel=cancel, affinity=affinity
        )
        return TransactionResult(value, tries, node)

    def stats(self) -> Stats:
        """Per node: address, state ("up", "draining" or "down"), statements, errors, failovers
        (statements that left it because it failed), reconnects, last error, flavour,
        state_reason (why it drains: "wsrep_desync=ON"). A list
        of `NodeStats` dicts that also shows as a table in a notebook and has `to_pandas()` /
        `to_polars()`."""
        return Stats(self._native.stats())

    def live(self, every: float = 1.0, seconds: Optional[float] = None) -> LiveView:
        """Shows the nodes as `multimaster top` does, refreshed every `every` seconds from
        `stats()` (so at no cost to the statements): in a notebook one output updated in place,
        elsewhere a text table printed each time. Runs in the background until `stop()` on the
        returned view, `seconds` have passed, or this instance is closed. Statements and
        errors per second are this instance's own; the Galera columns stay "-" (see
        `multimaster top` for them)."""
        return LiveView(self, every, seconds)

    def events(self) -> Events:
        """What happened, oldest first (the newest `event_capacity` events): each an `Event`
        dict with `time` (seconds since the epoch), `kind` (node_down, node_up, failover,
        retry, ambiguous, ambiguous_resolved, node_draining, node_ready, node_added, node_removed),
        `node` and `detail`. A list that also shows as
        a table in a notebook and has `to_pandas()` / `to_polars()`."""
        return Events(self._native.events())

    @property
    def nodes(self) -> List[Node]:
        """The nodes in rotation (not removed), as `host:port` strings (a list of them compares
        equal to a list of plain strings), each with `.known_by` ("given", "added",
        "discovered") and `.state`."""
        return [Node(address, known_by, state) for address, known_by, state in self._native.nodes]

    def add_node(self, address: str) -> None:
        """Adds a node while the instance runs: `host`, `host:port` or `[v6]:port`, as the
        constructor takes them. It takes statements from the first one after it connected and
        its own state says it is fit (as a node coming back does); the connect runs in the
        background, so this returns at once. An address already in rotation: nothing happens;
        one removed before comes back with its counters. A malformed address: `ValueError`."""
        self._native.add_node(address)

    def remove_node(self, address: str) -> None:
        """Takes a node out of rotation for good: nothing new goes there, statements in flight
        on it finish (this returns at once, without waiting for them), its idle connections are
        dropped and it is no longer probed; `stats()` shows it as "removed". `ValueError` for
        an address not in rotation and for the last node in rotation."""
        self._native.remove_node(address)

    @property
    def policy(self) -> str:
        return self._native.policy

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> None:
        """Stops using the nodes and drops every connection. Idempotent."""
        self._native.close()

    def __enter__(self) -> MultiMaster:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]:
        self.close()
        return False

    def __repr__(self) -> str:
        # Never the password: the native object does not give it back.
        native = self._native
        nodes = ", ".join(f"{s['address']} {s['state']}" for s in native.stats())
        closed = " closed" if native.closed else ""
        user, database = json.dumps(native.user), json.dumps(native.database or "")
        return f"<MultiMaster [{nodes}] user={user} database={database} policy={native.policy}{closed}>"

    def _repr_html_(self) -> str:
        return multimaster_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(multimaster_text(self))
