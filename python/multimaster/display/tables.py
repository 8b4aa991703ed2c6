"""`MultiMaster.stats()` and `events()`: lists of dicts that show as tables, in a notebook (HTML)
and in IPython (text), and turn into data frames."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Sequence

from .markup import _clock, _div, _e, _html_table, _kind_badge, _short, _state_badge, _text_table

if TYPE_CHECKING:
    from multimaster.records import Event, NodeStats

MAX_HTML_ROWS = 200  # an events ring holds up to 1000; the newest are the ones worth seeing

STATS_COLUMNS = [
    "address", "state", "state_reason", "known_by", "flavour", "statements", "errors", "failovers", "reconnects",
    "p50", "p99", "max", "last_error",
]  # fmt: skip
STATS_HEADERS = [
    "node", "state", "flavour", "statements", "errors", "failovers", "reconnects", "p50", "p99", "max", "last error",
]  # fmt: skip
#: Columns a data frame leaves out: structured values that read badly as cells.
_FRAME_SKIP = ("duration_buckets", "duration_sum", "events")


def _ms(seconds: object) -> str:
    """A statement time in milliseconds, as `stats()` shows p50/p99/max ("" before any)."""
    if not isinstance(seconds, (int, float)):
        return ""
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"


EVENT_COLUMNS = ["time", "kind", "node", "detail"]


def _frame(records: Sequence[Mapping[str, Any]], known: Sequence[str]) -> Dict[str, List[Any]]:
    """Columns for a data frame: the known ones in order, then any the dicts add."""
    names = list(known) + [k for r in records for k in r if k not in known]
    return {n: [r.get(n) for r in records] for n in dict.fromkeys(names)}


def _library(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this needs {module}: pip install multimaster[{extra}]") from None


class _Frames:
    """to_pandas() / to_polars() for the views holding data: Stats, Events, Timeline."""

    def _columns(self) -> Dict[str, List[Any]]:
        raise NotImplementedError

    def to_pandas(self) -> Any:
        return _library("pandas", "pandas").DataFrame(self._columns())

    def to_polars(self) -> Any:
        return _library("polars", "polars").DataFrame(self._columns())


class Stats(_Frames, List["NodeStats"]):
    """`MultiMaster.stats()`: a list of per-node dicts that shows as a table."""

    def _columns(self) -> Dict[str, List[Any]]:
        columns = _frame(self, STATS_COLUMNS)
        return {k: v for k, v in columns.items() if k not in _FRAME_SKIP}

    def _cells(self) -> List[List[str]]:
        return [
            [
                str(s.get("address", "")),
                # The state with its reason: "draining: wsrep_desync=ON".
                ": ".join(filter(None, [str(s.get("state", "")), s.get("state_reason")])),
                str(s.get("flavour") or ""),
                *(str(s.get(k, 0)) for k in ("statements", "errors", "failovers", "reconnects")),
                *(_ms(s.get(k)) for k in ("p50", "p99", "max")),
                str(s.get("last_error") or ""),
            ]
            for s in self
        ]

    def _repr_html_(self) -> str:
        def row(c: List[str]) -> List[str]:
            return [_e(c[0]), _state_badge(c[1]), *map(_e, c[2:])]

        return _html_table(STATS_HEADERS, map(row, self._cells()), numeric=(3, 4, 5, 6, 7, 8, 9))

    def _text(self) -> str:
        cells = [c[:10] + [_short(c[10])] for c in self._cells()]
        return _text_table(STATS_HEADERS, cells)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("Stats([...])" if cycle else self._text())


class Events(_Frames, List["Event"]):
    """`MultiMaster.events()`: a list of event dicts, oldest first, that shows as a table."""

    def _columns(self) -> Dict[str, List[Any]]:
        return _frame(self, EVENT_COLUMNS)

    def _shown(self) -> List[Event]:
        return self[-MAX_HTML_ROWS:]

    def _repr_html_(self) -> str:
        rows = (
            [
                _e(_clock(ev.get("time", 0.0))),
                _kind_badge(str(ev.get("kind", ""))),
                _e(ev.get("node", "")),
                _e(ev.get("detail", "")),
            ]
            for ev in self._shown()
        )
        more = len(self) - len(self._shown())
        note = f"<div>{more} earlier events not shown (to_pandas() has them all)</div>" if more else ""
        return _div(note + _html_table(["time", "kind", "node", "detail"], rows))

    def _text(self) -> str:
        if not self:
            return "no events"
        return _text_table(
            ["time", "kind", "node", "detail"],
            [
                [
                    _clock(ev.get("time", 0.0)),
                    str(ev.get("kind", "")),
                    str(ev.get("node", "")),
                    _short(ev.get("detail", ""), 80),
                ]
                for ev in self
            ],
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("Events([...])" if cycle else self._text())
