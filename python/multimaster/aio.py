"""`AsyncMultiMaster`: the asyncio face of `MultiMaster`. The core stays blocking; `execute`,
`query` and `insert_many` of a list run on the native threads of this instance's `AioPool`
(src/py/aio.rs: no Python thread state, never the interpreter lock) and their results come
back through one descriptor per loop that the loop watches (`add_reader`), a batch at a time,
so the loop never waits on the network and only its own thread makes Python objects.
Transactions (whose bodies run on the loop) and `insert_many` of other input (read in Python)
run on Python worker threads holding a slot of the same pool. Cancelling the awaiting task
sets the call's `CancelHandle`: the core's watchdog kills the statement on the server, as it
does for Ctrl-C (src/core/cancel.rs)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import queue
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from multimaster._native import AioPool, CancelHandle, Completions, Transaction, parse_url
from multimaster.client import ArrowStream, MultiMaster, Options, Params, _Path
from multimaster.display import Events, Stats
from multimaster.records import Node
from multimaster.results import ExecResult, InsertReport, TransactionResult, attach_report

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncMultiMaster", "AsyncTransaction", "MAX_IN_FLIGHT"]

_T = TypeVar("_T")

#: Calls one instance runs at once by default (its worker threads); more wait their turn on the
#: loop. Each node gets at most as many, since a call holds one node at a time.
MAX_IN_FLIGHT = 32

#: How long a cancelled call is waited for before `CancelledError` is raised anyway. A killed
#: statement stops within the watchdog's tick (20 ms) plus `INTERRUPT_WAIT` (0.3 s, after which
#: its connection is cut); only a connect to a silent node takes longer, and it sends nothing.
SETTLE_WAIT = 2.0

#: How often a worker thread waiting for an async transaction body looks at the loop (closed?).
_POLL = 0.05


class AsyncMultiMaster:
    """`MultiMaster` for asyncio: the same arguments (URL, options, option file), every call
    awaited. `max_in_flight` bounds the calls running at once (default `MAX_IN_FLIGHT`); the
    others wait on the loop, in order, without blocking it.

    `coalesce=True` groups the keyed single-row INSERTs that wait for a free call: concurrent
    ``execute("INSERT INTO t (a, b) VALUES (?, ?)", row, key=(t, a, row[0]))`` calls of one
    statement are sent together as one multi-row INSERT (one commit for all), each call still
    answered for its own row; see the README's asyncio section for the rules.

    Cancelling a call (``task.cancel()``, ``asyncio.timeout``) kills its statement on the
    server and raises `CancelledError` once the statement has stopped (normally within 0.35 s).
    A cancelled write is ambiguous, as a lost reply is: it may have committed just before the
    kill. Its key says which (a keyed `INSERT` run again fails with a duplicate key if the first
    one committed, never writes twice); see the README's asyncio section."""

    __slots__ = ("_mm", "_pool", "_threads", "_loops", "__weakref__")

    def __init__(
        self,
        nodes: Union[Sequence[str], str, None] = None,
        database: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        *,
        read_default_file: Optional[_Path] = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        coalesce: bool = False,
        **options: Unpack[Options],
    ) -> None:
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be a whole number of calls, at least 1, not {max_in_flight!r}")
        if not isinstance(coalesce, bool):
            raise TypeError(f"coalesce must be True or False, not {coalesce!r}")
        self._mm = MultiMaster(nodes, database, user, password, read_default_file=read_default_file, **options)
        # The native threads: at most max_in_flight calls at once, transactions' slots included.
        self._pool = AioPool(self._mm._native, max_in_flight, coalesce)
        # Transactions and loads: Python threads, each holding a slot of `_pool` while it runs.
        self._threads = concurrent.futures.ThreadPoolExecutor(max_in_flight, thread_name_prefix="multimaster-aio")
        self._loops: Dict[asyncio.AbstractEventLoop, _LoopCompletions] = {}

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> AsyncMultiMaster:
        """`AsyncMultiMaster(url, **overrides)`: keyword arguments win over the URL."""
        parse_url(url)  # an address or a bad URL: InterfaceError naming the part, as the sync one
        return cls(url, **overrides)

    @property
    def sync(self) -> MultiMaster:
        """The blocking `MultiMaster` underneath (the same nodes, connections and counters)."""
        return self._mm

    def _completions(self, loop: asyncio.AbstractEventLoop) -> _LoopCompletions:
        """This instance's completions on `loop`, made at its first call there (the completions
        of loops closed since are released then)."""
        done = self._loops.get(loop)
        if done is None:
            for other, theirs in list(self._loops.items()):
                if other.is_closed():
                    theirs.release()
                    self._loops.pop(other, None)
            done = self._loops[loop] = _LoopCompletions(loop)
        return done

    async def _on_pool(self, submit: Callable[..., int], *args: Any) -> Any:
        """`submit(completions, future, *args, handle)` queues a call on the native threads;
        its result comes back on `future`. A cancelled task cancels the call on the server."""
        loop = asyncio.get_running_loop()
        done = self._loops.get(loop) or self._completions(loop)
        future = loop.create_future()
        handle = CancelHandle()
        ident = submit(done.native, future, *args, handle)
        try:
            return await future
        except asyncio.CancelledError:
            handle.cancel()
            if self._pool.withdraw(ident):  # still queued: it never starts
                done.native.forget(ident)
            else:  # started: wait until its statement has stopped
                settled = loop.create_future()
                if done.native.settle(ident, settled):
                    await asyncio.wait({settled}, timeout=SETTLE_WAIT)
            raise

    async def _run(self, call: Callable[..., _T]) -> _T:
        """Runs `call(cancel=handle)` on a Python worker thread holding a slot of the native
        pool; a cancelled task cancels it on the server."""
        if self._mm.closed:
            # The sync API's own error, raised here and now (it does not wait on anything).
            return call(cancel=CancelHandle())
        loop = asyncio.get_running_loop()
        handle = CancelHandle()
        pool = self._pool

        def held(cancel: CancelHandle) -> _T:
            slot = pool.hold(cancel)
            if slot is None:  # cancelled while waiting for a slot
                raise asyncio.CancelledError
            try:
                return call(cancel=cancel)
            finally:
                slot.release()

        try:
            running = self._threads.submit(held, handle)
        except RuntimeError:  # closed meanwhile: the pool takes no more
            return call(cancel=CancelHandle())
        done = asyncio.wrap_future(running, loop=loop)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            handle.cancel()
            if not running.cancel():  # started: wait until its statement has stopped
                await asyncio.wait({done}, timeout=SETTLE_WAIT)
            raise

    async def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        key: Optional[Tuple[str, str, Any]] = None,
        idempotent: bool = False,
        statement_timeout: Optional[float] = None,
    ) -> ExecResult:
        """`MultiMaster.execute`, awaited."""
        if self._mm.closed:  # the sync API's own error, at once
            return self._mm.execute(sql, params, key=key, idempotent=idempotent, statement_timeout=statement_timeout)
        result: ExecResult = await self._on_pool(self._pool.execute, sql, params, key, idempotent, statement_timeout)
        return result

    async def query(
        self, sql: str, params: Params = None, *, causal: bool = False, statement_timeout: Optional[float] = None
    ) -> List[Tuple[Any, ...]]:
        """`MultiMaster.query`, awaited."""
        if self._mm.closed:  # the sync API's own error, at once
            return self._mm.query(sql, params, causal=causal, statement_timeout=statement_timeout)
        rows: List[Tuple[Any, ...]] = await self._on_pool(self._pool.query, sql, params, causal, statement_timeout)
        return rows

    async def insert_many(
        self,
        table: str,
        columns: Optional[Sequence[str]],
        rows: Union[Iterable[Sequence[Any]], ArrowStream],
        *,
        key: Optional[str] = None,
        interval: float = 0.0,
        on_row: Optional[Callable[[int, str, bool], object]] = None,
        statement_timeout: Optional[float] = None,
        concurrency: int = 1,
        batch: int = 1,
    ) -> InsertReport:
        """`MultiMaster.insert_many`, awaited (without a progress view): any iterable, streamed,
        or an Arrow frame (`columns=None` takes its names). A list or tuple of rows without
        `on_row` is converted on the loop, checked whole, and loaded on the native threads;
        anything else (a generator, a frame, `on_row`) runs on a Python worker thread, which
        advances the generator and calls `on_row`. Cancelled, the loop stops and the rows
        written stay written."""
        if on_row is None and isinstance(rows, (list, tuple)) and not self._mm.closed:
            try:
                fields = await self._on_pool(
                    self._pool.insert_many,
                    table,
                    list(columns or ()),
                    rows,
                    key,
                    interval,
                    statement_timeout,
                    concurrency,
                    batch,
                )
            except BaseException as e:
                attach_report(e)
                raise
            return InsertReport(**fields)
        return await self._run(
            functools.partial(
                self._mm.insert_many,
                table,
                columns,
                rows,
                key=key,
                interval=interval,
                on_row=on_row,
                statement_timeout=statement_timeout,
                concurrency=concurrency,
                batch=batch,
            )
        )

    async def transaction(
        self,
        body: Callable[[AsyncTransaction], Awaitable[_T]],
        *,
        check: Optional[Callable[[], object]] = None,
        attempts: int = 5,
        statement_timeout: Optional[float] = None,
        affinity: object = None,
    ) -> TransactionResult[_T]:
        """`MultiMaster.transaction` with an async `body(tx)`: ``await tx.execute(...)``,
        ``await tx.query(...)``. The body runs on the loop; its statements run on the worker
        thread that holds the transaction's connection. A body that raises rolls the
        transaction back and its exception is raised here; a replayed attempt calls `body`
        again. `check` (sync, or async) settles a lost COMMIT as in the sync API."""
        loop = asyncio.get_running_loop()

        sync_check: Optional[Callable[[], object]] = None
        if check is not None:
            asked = check

            def sync_check() -> object:
                answer = asked()
                if inspect.isawaitable(answer):
                    return _wait_on_loop(loop, asyncio.run_coroutine_threadsafe(_awaited(answer), loop))
                return answer

        def run(cancel: CancelHandle) -> TransactionResult[_T]:
            return self._mm.transaction(
                lambda tx: _Bridge(loop, tx, cancel).run(body),
                check=sync_check,
                attempts=attempts,
                statement_timeout=statement_timeout,
                cancel=cancel,
                affinity=affinity,
            )

        return await self._run(run)

    def stats(self) -> Stats:
        """`MultiMaster.stats` (counters in memory: no wait)."""
        return self._mm.stats()

    def events(self) -> Events:
        """`MultiMaster.events` (kept in memory: no wait)."""
        return self._mm.events()

    @property
    def nodes(self) -> List[Node]:
        return self._mm.nodes

    def add_node(self, address: str) -> None:
        """`MultiMaster.add_node`, called as is: it returns at once (the connect runs apart)."""
        self._mm.add_node(address)

    def remove_node(self, address: str) -> None:
        """`MultiMaster.remove_node`, called as is: it returns at once."""
        self._mm.remove_node(address)

    @property
    def policy(self) -> str:
        return self._mm.policy

    @property
    def closed(self) -> bool:
        return self._mm.closed

    async def close(self) -> None:
        """Drops every connection (calls still in flight then fail) and stops the worker
        threads; each loop's descriptor is released once its calls in flight have answered.
        Idempotent."""
        here = asyncio.get_running_loop()
        await here.run_in_executor(None, self._mm.close)
        self._pool.close()
        self._threads.shutdown(wait=False)
        for loop, done in list(self._loops.items()):
            done.close_from(here)
            self._loops.pop(loop, None)

    async def __aenter__(self) -> AsyncMultiMaster:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]:
        await self.close()
        return False

    def __repr__(self) -> str:
        return "<Async" + repr(self._mm)[1:]


class _LoopCompletions:
    """One instance's completions on one loop: the descriptor the loop watches while the
    instance is used there, drained (every future set) in one callback per batch."""

    __slots__ = ("loop", "native", "fd", "closing")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.native = Completions()
        self.fd = self.native.fileno()
        self.closing = False
        loop.add_reader(self.fd, self._drain)

    def _drain(self) -> None:
        if self.native.drain() == 0 and self.closing:
            self.release()

    def release(self) -> None:
        """On the loop's thread, or with the loop closed: the descriptor unwatched and closed,
        the calls in flight forgotten."""
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        self.native.close()

    def close_from(self, here: asyncio.AbstractEventLoop) -> None:
        """The instance is closed: released once its calls in flight here have answered."""
        self.closing = True
        if self.loop.is_closed():
            self.native.close()
        elif self.loop is here:
            if self.native.pending == 0:
                self.release()
        else:
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # closed meanwhile
                self.native.close()


async def _awaited(a: Awaitable[_T]) -> _T:
    return await a


def _wait_on_loop(loop: asyncio.AbstractEventLoop, fut: concurrent.futures.Future[_T]) -> _T:
    """Waits on a worker thread for `fut`, a coroutine on `loop`: never longer than the loop
    lives (a closed loop runs nothing more, so waiting on would hang)."""
    while True:
        try:
            return fut.result(timeout=_POLL)
        except concurrent.futures.TimeoutError:
            if loop.is_closed():
                fut.cancel()
                raise RuntimeError("the event loop was closed while a transaction was running on it") from None


class AsyncTransaction:
    """One attempt of an `AsyncMultiMaster.transaction`, pinned to one node."""

    __slots__ = ("_bridge",)

    def __init__(self, bridge: _Bridge) -> None:
        self._bridge = bridge

    async def execute(self, sql: str, params: Params = None) -> int:
        """Runs a statement in the transaction and returns the rows affected."""
        return await self._bridge.ask(self._bridge.tx.execute, sql, params)

    async def query(self, sql: str, params: Params = None) -> List[Tuple[Any, ...]]:
        """Runs a read in the transaction and returns its rows as tuples."""
        return await self._bridge.ask(self._bridge.tx.query, sql, params)

    @property
    def node(self) -> str:
        return self._bridge.tx.node

    @property
    def attempt(self) -> int:
        return self._bridge.tx.attempt

    def __repr__(self) -> str:
        return f"<AsyncTransaction on {self.node} attempt {self.attempt}>"


_Ask = Tuple[Callable[..., Any], Tuple[Any, ...], "asyncio.Future[Any]"]


class _Bridge:
    """One attempt's body: it runs on the loop while the worker thread holding the
    transaction's connection runs the statements it asks for, one at a time, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tx: Transaction, handle: CancelHandle) -> None:
        self.loop = loop
        self.tx = tx
        self.handle = handle
        self.asks: queue.SimpleQueue[Optional[_Ask]] = queue.SimpleQueue()
        self.open = True

    async def ask(self, fn: Callable[..., _T], *args: Any) -> _T:
        if not self.open:  # the attempt is over: the sync handle's own "closed" error, at once
            return fn(*args)
        answer: asyncio.Future[_T] = self.loop.create_future()
        self.asks.put((fn, args, answer))
        if not self.open:  # closed while this was put: nobody else will answer it
            self._drain()
        return await answer

    def run(self, body: Callable[[AsyncTransaction], Awaitable[_T]]) -> _T:
        """On the worker thread: starts `body` on the loop and serves its statements until it
        ends (its value or its exception), or the loop closes."""
        coro = body(AsyncTransaction(self))
        if not inspect.isawaitable(coro):
            raise TypeError("transaction body must be an async function (async def body(tx): ...)")
        finished = asyncio.run_coroutine_threadsafe(_awaited(coro), self.loop)
        finished.add_done_callback(lambda _: self.asks.put(None))
        try:
            while not finished.done():
                try:
                    item = self.asks.get(timeout=_POLL)
                except queue.Empty:
                    if self.handle.cancelled:  # the awaiting task was cancelled: so is its body
                        finished.cancel()
                    elif self.loop.is_closed():
                        finished.cancel()
                        raise RuntimeError("the event loop was closed while a transaction was running on it") from None
                    continue
                if item is not None:
                    self._serve(*item)
            return finished.result()
        finally:
            self.open = False
            self._drain()

    def _drain(self) -> None:
        """Answers what was asked as the attempt ended, with the closed handle's error."""
        while True:
            try:
                item = self.asks.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._serve(*item)

    def _serve(self, fn: Callable[..., Any], args: Tuple[Any, ...], answer: asyncio.Future[Any]) -> None:
        try:
            value = fn(*args)
        except BaseException as e:  # noqa: BLE001 - every outcome goes back to the awaiting body
            self._answer(answer, None, e)
        else:
            self._answer(answer, value, None)

    def _answer(self, answer: asyncio.Future[Any], value: Any, error: Optional[BaseException]) -> None:
        def settle() -> None:
            if answer.done():
                return
            if isinstance(error, KeyboardInterrupt) and self.handle.cancelled:
                # The statement was stopped because the task was cancelled: the body sees
                # that cancellation (a KeyboardInterrupt would escape the loop).
                answer.cancel()
            elif error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(value)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass
