"""Type stubs for the Rust extension `multimaster._native` (checked by mypy.stubtest). The public
face is `multimaster.MultiMaster` (`client.py`), which holds a `Native`."""

import os
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    final,
)

from multimaster.records import Event, NodeStats

__all__ = [
    "AioPool",
    "CancelHandle",
    "Completions",
    "ExecResult",
    "Native",
    "OPTIONS",
    "Session",
    "Slot",
    "Transaction",
    "parse_address",
    "parse_url",
    "__version__",
    "_shutdown",
    "_latency_cost",
]

#: The crate's version (Cargo.toml), also `multimaster.__version__`.
__version__: str
#: The option names of the core's table (src/core/settings/options.rs), in its order.
OPTIONS: Tuple[str, ...]

_Params = Union[Sequence[Any], Mapping[str, Any], None]
_T = TypeVar("_T")
_Description = List[Tuple[str, int, None, int, None, int, bool]]

@final
class ExecResult:
    """What one `execute` did."""

    @property
    def rowcount(self) -> int: ...
    @property
    def last_insert_id(self) -> Optional[int]: ...
    @property
    def node(self) -> str: ...
    @property
    def retries(self) -> int: ...
    @property
    def failovers(self) -> int: ...
    @property
    def ambiguous_resolved(self) -> bool: ...
    @property
    def matched(self) -> Optional[int]: ...

@final
class Transaction:
    """One attempt of a transaction, pinned to one node."""

    def execute(self, sql: str, params: _Params = None) -> int: ...
    def query(self, sql: str, params: _Params = None) -> List[Tuple[Any, ...]]: ...
    @property
    def node(self) -> str: ...
    @property
    def attempt(self) -> int: ...

@final
class CancelHandle:
    """A stop request for the calls it is passed to (`cancel=`), set from any thread."""

    def __new__(cls) -> CancelHandle: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Completions:
    """One loop's completions for one `AioPool` user: a descriptor the loop watches
    (`add_reader`), readable while results wait; `drain()` sets their futures."""

    def __new__(cls) -> Completions: ...
    def fileno(self) -> int: ...
    def drain(self) -> int: ...
    def settle(self, id: int, future: Any) -> bool: ...
    def forget(self, id: int) -> None: ...
    @property
    def pending(self) -> int: ...
    def close(self) -> None: ...

@final
class Slot:
    """A slot of an `AioPool` held by a call on a thread of the caller's."""

    def release(self) -> None: ...

@final
class AioPool:
    """Native threads running `execute`, `query` and `insert_many` of a list for `multimaster.aio`: at most `limit` at
    once, the rest queued in order (keyed single-row INSERTs that wait grouped, with `coalesce`); results handed to a
    `Completions`."""

    def __new__(cls, native: Native, limit: int, coalesce: bool = False) -> AioPool: ...
    def execute(
        self,
        done: Completions,
        future: Any,
        sql: str,
        params: _Params,
        key: Optional[Tuple[str, str, Any]],
        idempotent: bool,
        statement_timeout: Optional[float],
        cancel: CancelHandle,
    ) -> int: ...
    def query(
        self,
        done: Completions,
        future: Any,
        sql: str,
        params: _Params,
        causal: bool,
        statement_timeout: Optional[float],
        cancel: CancelHandle,
    ) -> int: ...
    def insert_many(
        self,
        done: Completions,
        future: Any,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        key: Optional[str],
        interval: float,
        statement_timeout: Optional[float],
        concurrency: int,
        batch: int,
        cancel: CancelHandle,
    ) -> int: ...
    def withdraw(self, id: int) -> bool: ...
    @property
    def coalesce(self) -> bool: ...
    def hold(self, cancel: CancelHandle) -> Optional[Slot]: ...
    @property
    def limit(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def busy(self) -> int: ...
    @property
    def queued(self) -> int: ...
    def close(self) -> None: ...

@final
class Session:
    """A DB-API connection's transaction (autocommit off), with its replay log."""

    def execute(
        self, sql: str, params: _Params = None, *, causal: bool = True, cancel: Optional[CancelHandle] = None
    ) -> Tuple[List[Tuple[Any, ...]], Optional[_Description], int, Optional[int]]: ...
    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        batch: int,
        causal: bool = True,
        cancel: Optional[CancelHandle] = None,
    ) -> int: ...
    def commit(self, *, cancel: Optional[CancelHandle] = None) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    def check(self) -> None: ...
    @property
    def node(self) -> Optional[str]: ...
    @property
    def in_transaction(self) -> bool: ...

@final
class Native:
    """The native half of `multimaster.MultiMaster`: one method per operation."""

    def __new__(
        cls,
        nodes: Union[Sequence[str], str, None] = None,
        database: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        *,
        read_default_file: Union[str, os.PathLike[str], None] = None,
        **options: Any,
    ) -> Native: ...
    def execute(
        self,
        sql: str,
        params: _Params = None,
        *,
        key: Optional[Tuple[str, str, Any]] = None,
        idempotent: bool = False,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
    ) -> ExecResult: ...
    def query(
        self,
        sql: str,
        params: _Params = None,
        *,
        causal: bool = False,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
    ) -> Tuple[List[Tuple[Any, ...]], Optional[_Description]]: ...
    def insert_many(
        self,
        table: str,
        columns: Sequence[str],
        rows: Union[Iterable[Sequence[Any]], Any],
        *,
        key: Optional[str] = None,
        interval: float = 0.0,
        on_row: Optional[Callable[[int, str, bool], object]] = None,
        progress: Optional[Callable[[Dict[str, Any]], object]] = None,
        statement_timeout: Optional[float] = None,
        concurrency: int = 1,
        batch: int = 1,
        cancel: Optional[CancelHandle] = None,
    ) -> Dict[str, Any]: ...
    def transaction(
        self,
        body: Callable[[Transaction], _T],
        *,
        check: Optional[Callable[[], object]] = None,
        attempts: int = 5,
        statement_timeout: Optional[float] = None,
        cancel: Optional[CancelHandle] = None,
        affinity: object = None,
    ) -> Tuple[_T, int, str]: ...
    def session(
        self, *, attempts: int = 5, statement_timeout: Optional[float] = None, commit_marker: bool = False
    ) -> Session: ...
    def stats(self) -> List[NodeStats]: ...
    def observe(
        self, callback: Optional[Callable[[str, str, float, Optional[int], Optional[str]], object]]
    ) -> None: ...
    def events(self) -> List[Event]: ...
    @property
    def nodes(self) -> List[Tuple[str, str, str]]: ...
    def add_node(self, address: str) -> None: ...
    def remove_node(self, address: str) -> None: ...
    @property
    def policy(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def database(self) -> Optional[str]: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...

def parse_address(address: str) -> Tuple[str, int]: ...
def parse_url(url: str) -> Dict[str, Any]: ...
def _shutdown() -> None: ...
def _latency_cost(n: int) -> float: ...
