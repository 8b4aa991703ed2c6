"""Type stubs for the Rust extension `multimaster._native` (checked by mypy.stubtest)."""

import os
from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypedDict,
    TypeVar,
    Union,
    final,
    type_check_only,
)

from multimaster.display import Events, Stats, Timeline

__all__ = [
    "InsertReport",
    "MultiMaster",
    "Transaction",
    "TransactionResult",
    "parse_address",
    "parse_url",
    "__version__",
    "_shutdown",
]

#: The crate's version (Cargo.toml), also `multimaster.__version__`.
__version__: str

_Params = Union[Sequence[Any], Mapping[str, Any], None]

# The dicts of `stats()` and `events()` (built in src/py/display.rs). Types only: at runtime
# they are plain dicts, so these names exist for type checkers alone.
@type_check_only
class NodeStats(TypedDict):
    """One node in `MultiMaster.stats()`."""

    address: str
    #: "up", or "down" while the node is taken for dead (probed in the background).
    state: str
    statements: int
    errors: int
    failovers: int
    reconnects: int
    last_error: Optional[str]
    #: The engine detected at connect ("galera", "aurora-mm", "group-replication", "mysql"),
    #: None before the first connection.
    flavour: Optional[str]

@type_check_only
class Event(TypedDict):
    """One entry of `MultiMaster.events()`."""

    #: When, in seconds since the epoch (`time.time()`).
    time: float
    #: "node_down", "node_up", "failover", "retry", "ambiguous" or "ambiguous_resolved".
    kind: str
    node: str
    detail: str

@final
class InsertReport:
    """What `insert_many` did: rows written, where, and what it took."""

    @property
    def rows(self) -> int: ...
    @property
    def per_node(self) -> Dict[str, int]: ...
    @property
    def retries(self) -> int: ...
    @property
    def failovers(self) -> int: ...
    @property
    def rerouted(self) -> int: ...
    @property
    def ambiguous_resolved(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def timeline_data(self) -> Dict[str, Any]: ...
    def timeline(self) -> Timeline: ...
    def _repr_html_(self) -> str: ...
    def _repr_pretty_(self, p: Any, cycle: bool) -> None: ...

@final
class Transaction:
    """One attempt of a transaction, pinned to one node."""

    def execute(self, sql: str, params: _Params = None) -> int: ...
    def query(self, sql: str, params: _Params = None) -> List[Tuple[Any, ...]]: ...
    @property
    def node(self) -> str: ...
    @property
    def attempt(self) -> int: ...

_T = TypeVar("_T")

@final
class TransactionResult(Generic[_T]):
    """A committed transaction: the body's value, the attempts it took, the node."""

    @property
    def value(self) -> _T: ...
    @property
    def attempts(self) -> int: ...
    @property
    def node(self) -> str: ...
    def _repr_html_(self) -> str: ...
    def _repr_pretty_(self, p: Any, cycle: bool) -> None: ...

@final
class MultiMaster:
    """A set of writable nodes of one multi-master cluster."""

    def __new__(
        cls,
        nodes: Union[Sequence[str], str, None] = None,
        database: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        *,
        policy: Optional[Literal["parity", "sequential"]] = None,
        connect_timeout: Optional[float] = None,
        failure_detection: Optional[float] = None,
        statement_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        failover_timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        backoff_base: Optional[float] = None,
        backoff_cap: Optional[float] = None,
        event_capacity: Optional[int] = None,
        ssl_mode: Optional[str] = None,
        ssl_ca: Union[str, os.PathLike[str], None] = None,
        ssl_cert: Union[str, os.PathLike[str], None] = None,
        ssl_key: Union[str, os.PathLike[str], None] = None,
        read_default_file: Union[str, os.PathLike[str], None] = None,
    ) -> MultiMaster: ...
    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MultiMaster: ...
    def execute(
        self,
        sql: str,
        params: _Params = None,
        *,
        key: Optional[Tuple[str, str, Any]] = None,
        idempotent: bool = False,
        statement_timeout: Optional[float] = None,
    ) -> int: ...
    @property
    def last_insert_id(self) -> Optional[int]: ...
    def query(
        self, sql: str, params: _Params = None, *, causal: bool = False, statement_timeout: Optional[float] = None
    ) -> List[Tuple[Any, ...]]: ...
    def _query_described(
        self, sql: str, params: _Params = None, *, causal: bool = False, statement_timeout: Optional[float] = None
    ) -> Tuple[List[Tuple[Any, ...]], Optional[List[Tuple[str, int, None, int, None, int, bool]]]]: ...
    def _execute_result(
        self,
        sql: str,
        params: _Params = None,
        *,
        key: Optional[Tuple[str, str, Any]] = None,
        idempotent: bool = False,
        statement_timeout: Optional[float] = None,
    ) -> Tuple[int, Optional[int]]: ...
    def insert_many(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        key: Optional[str] = None,
        interval: float = 0.0,
        on_row: Optional[Callable[[int, str, bool], object]] = None,
        *,
        progress: Union[bool, Callable[[Dict[str, Any]], object], None] = None,
        statement_timeout: Optional[float] = None,
        concurrency: int = 1,
        batch: int = 1,
    ) -> InsertReport: ...
    def transaction(
        self,
        body: Callable[[Transaction], _T],
        *,
        check: Optional[Callable[[], object]] = None,
        attempts: int = 5,
        statement_timeout: Optional[float] = None,
    ) -> TransactionResult[_T]: ...
    def stats(self) -> Stats: ...
    def events(self) -> Events: ...
    def _repr_html_(self) -> str: ...
    def _repr_pretty_(self, p: Any, cycle: bool) -> None: ...
    @property
    def nodes(self) -> List[str]: ...
    @property
    def policy(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> MultiMaster: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]: ...

def parse_address(address: str) -> Tuple[str, int]: ...
def parse_url(url: str) -> Dict[str, Any]: ...
def _shutdown() -> None: ...
