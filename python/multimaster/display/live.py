"""The live node table of `multimaster top` (python/multimaster_lab/top.py) and
`MultiMaster.live()`: per node its state and why, statements and errors per second, p50/p99,
failovers and, where known, the Galera state. Rows are plain dicts (`LiveRow`); where a value
is unknown (a node down, a column the source cannot see) the cell is "-"."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, TypedDict

from .markup import _div, _e, _html_table, _short, _state_badge, _text_table
from .tables import _ms

HEADERS = ["node", "state", "stmt/s", "err/s", "p50", "p99", "failovers", "galera", "size", "fc paused", "reason"]
_NUMERIC = (2, 3, 4, 5, 6, 8, 9)


class LiveRow(TypedDict, total=False):
    node: str
    state: str
    #: Why the node is in that state: the last error while it is down.
    reason: Optional[str]
    statements_s: Optional[float]
    errors_s: Optional[float]
    p50: Optional[float]
    p99: Optional[float]
    failovers: Optional[int]
    #: wsrep_local_state_comment, wsrep_cluster_size, and the fraction of the last interval
    #: replication was paused by flow control.
    galera: Optional[str]
    size: Optional[int]
    fc_paused: Optional[float]


def _num(value: object, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


def _cells(r: LiveRow) -> List[str]:
    return [
        str(r.get("node", "")),
        str(r.get("state", "")),
        _num(r.get("statements_s"), ".1f"),
        _num(r.get("errors_s"), ".1f"),
        _ms(r.get("p50")) or "-",
        _ms(r.get("p99")) or "-",
        _num(r.get("failovers"), "d"),
        str(r.get("galera") or "-"),
        _num(r.get("size"), "d"),
        _num(r.get("fc_paused"), ".0%"),
        _short(r.get("reason") or "", 50),
    ]


def live_text(rows: Sequence[LiveRow], title: str) -> str:
    return title + "\n" + _text_table(HEADERS, [_cells(r) for r in rows])


def live_html(rows: Sequence[LiveRow], title: str) -> str:
    def row(c: List[str]) -> List[str]:
        return [_e(c[0]), _state_badge(c[1]), *map(_e, c[2:])]

    return _div(f"<div><b>{_e(title)}</b></div>" + _html_table(HEADERS, map(row, map(_cells, rows)), _NUMERIC))


def rows_from_stats(
    now: Sequence[Mapping[str, Any]], before: Optional[Sequence[Mapping[str, Any]]], seconds: float
) -> List[LiveRow]:
    """The table of one MultiMaster from two `stats()` a `seconds` apart: its own statements
    and errors per second (a client sees only its own), its latency and failovers. A
    MultiMaster cannot address one node, so the Galera columns stay unknown here."""
    old: Dict[str, Mapping[str, Any]] = {str(s["address"]): s for s in before or []}
    rows: List[LiveRow] = []

    def rate(s: Mapping[str, Any], prev: Optional[Mapping[str, Any]], key: str) -> Optional[float]:
        if prev is None or seconds <= 0:
            return None
        return max(0, int(s.get(key, 0)) - int(prev.get(key, 0))) / seconds

    for s in now:
        prev = old.get(str(s["address"]))

        rows.append(
            LiveRow(
                node=str(s["address"]),
                state=str(s["state"]),
                reason=s.get("last_error") if s["state"] != "up" else None,
                statements_s=rate(s, prev, "statements"),
                errors_s=rate(s, prev, "errors"),
                p50=s.get("p50"),
                p99=s.get("p99"),
                failovers=int(s.get("failovers", 0)),
            )
        )
    return rows


class LiveView:
    """`MultiMaster.live()`: one notebook output (or, outside a kernel, a text table printed
    each time) refreshed every `every` seconds from `stats()` by a background thread, until
    `stop()`, `seconds` have passed, or the instance is closed. Reading `stats()` costs the
    statements nothing."""

    def __init__(self, mm: Any, every: float = 1.0, seconds: Optional[float] = None) -> None:
        if every <= 0:
            raise ValueError("every must be more than 0 seconds")
        self._mm, self._every = mm, every
        self._until = None if seconds is None else time.monotonic() + seconds
        self._stop = threading.Event()
        self._handle: Any = None
        self._before: Optional[List[Any]] = None
        self._at = time.monotonic()
        self._draw()
        self._thread = threading.Thread(target=self._run, name="multimaster-live", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        if self._mm.closed:
            self._stop.set()
            return
        now, at = list(self._mm.stats()), time.monotonic()
        rows = rows_from_stats(now, self._before, at - self._at)
        self._before, self._at = now, at
        title = f"multimaster live: {len(rows)} nodes, every {self._every:g} s ({time.strftime('%H:%M:%S')})"
        from . import _in_kernel

        if not _in_kernel():
            print(live_text(rows, title), flush=True)
            return
        from IPython.display import display

        bundle = {"text/plain": live_text(rows, title), "text/html": live_html(rows, title)}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if self._until is not None and time.monotonic() >= self._until:
                break
            try:
                self._draw()
            except Exception:  # a closed instance between the check and stats(): stop
                break

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self._every + 1)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
