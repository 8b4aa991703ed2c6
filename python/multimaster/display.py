"""How multimaster looks in notebooks and terminals: escaped HTML tables and text for the native
objects, the failover timeline as a self-contained SVG, and the live view of ``insert_many``.

Pure Python and stdlib only, so the looks change without a rebuild; the Rust side
(``src/py/display.rs``) calls these functions by name. Every value is HTML-escaped (server
messages can hold anything), nothing here emits a script or does network I/O, and styles are
inline with transparent backgrounds so they read in light and dark themes alike.
"""

from __future__ import annotations

import collections
import html
import importlib
import math
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, TextIO, Tuple

if TYPE_CHECKING:
    from multimaster._native import Event, NodeStats

__all__ = [
    "Events",
    "Stats",
    "Timeline",
    "multimaster_html",
    "multimaster_text",
    "progress_sink",
    "report_html",
    "report_text",
    "txresult_html",
    "txresult_text",
]

# The one palette. Badges are white on these, legible on any page; lines and marks are drawn on
# a transparent background, so they must stand out on white and on near-black alike.
GREEN, RED, AMBER, GREY, BLUE = "#1a7f37", "#cf222e", "#9a6700", "#6e7781", "#3b82f6"
SERIES = (BLUE, "#a855f7", "#14b8a6", "#ec4899", "#0ea5e9", "#f97316")
STATE_COLOUR = {"up": GREEN, "down": RED}
KIND_COLOUR = {
    "node_down": RED,
    "node_up": GREEN,
    "failover": AMBER,
    "retry": GREY,
    "ambiguous": RED,
    "ambiguous_resolved": GREEN,
}
# The words of the library's own log lines (`Cluster::note` in src/core/cluster.rs).
KIND_WORDS = {
    "node_down": "down",
    "node_up": "back up",
    "failover": "took over",
    "retry": "retry",
    "ambiguous": "outcome unknown",
    "ambiguous_resolved": "outcome resolved",
}
# Events worth a line of their own in the live views; retries are only counted.
NODE_KINDS = ("node_down", "node_up", "failover", "ambiguous", "ambiguous_resolved")
# The timeline marks these three: they explain the shape of the rows/s lines.
MARK_KINDS = ("node_down", "node_up", "failover")
TABLE = "border-collapse:collapse;background:transparent;color:inherit;margin:2px 0"
CELL = "padding:2px 8px;vertical-align:top"
HEAD = CELL + ";border-bottom:1px solid currentColor"
MAX_HTML_ROWS = 200  # an events ring holds up to 1000; the newest are the ones worth seeing

STATS_COLUMNS = ["address", "state", "flavour", "statements", "errors", "failovers", "reconnects", "last_error"]
STATS_HEADERS = ["node", "state", "flavour", "statements", "errors", "failovers", "reconnects", "last error"]
EVENT_COLUMNS = ["time", "kind", "node", "detail"]

# Characters XML 1.0 forbids even escaped: a server message holding one must not break the SVG.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# In a one-line text view, a newline, \r or an escape sequence from a server would break the line.
_CONTROL = re.compile("[\x00-\x1f\x7f\ufffe\uffff]")


def _e(value: object) -> str:
    return html.escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;padding:0 5px;'
        f'font-size:0.85em;font-weight:600;white-space:nowrap">{_e(text)}</span>'
    )


def _state_badge(state: str) -> str:
    return _badge(state, STATE_COLOUR.get(state, AMBER))


def _kind_badge(kind: str) -> str:
    return _badge(kind, KIND_COLOUR.get(kind, GREY))


def _html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """`rows` hold HTML already escaped; columns in `numeric` align right."""

    def cell(tag: str, i: int, body: str) -> str:
        style = (HEAD if tag == "th" else CELL) + f";text-align:{'right' if i in numeric else 'left'}"
        return f'<{tag} style="{style}">{body}</{tag}>'

    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = [headers] + list(rows)
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _short(value: object, limit: int = 60) -> str:
    text = _CONTROL.sub(" ", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clock(epoch: float) -> str:
    """Local wall-clock time to the millisecond, the way log lines show it."""
    return time.strftime("%H:%M:%S", time.localtime(epoch)) + f".{int(epoch % 1 * 1000):03d}"


def _div(body: str) -> str:
    return f'<div style="color:inherit;background:transparent;font-size:0.9em">{body}</div>'


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
    """to_pandas() / to_polars() for the list-shaped views."""

    def _columns(self) -> Dict[str, List[Any]]:
        raise NotImplementedError

    def to_pandas(self) -> Any:
        return _library("pandas", "pandas").DataFrame(self._columns())

    def to_polars(self) -> Any:
        return _library("polars", "polars").DataFrame(self._columns())


# --- stats() and events() ------------------------------------------------------------------


class Stats(_Frames, List["NodeStats"]):
    """`MultiMaster.stats()`: a list of per-node dicts that shows as a table."""

    def _columns(self) -> Dict[str, List[Any]]:
        return _frame(self, STATS_COLUMNS)

    def _cells(self) -> List[List[str]]:
        return [
            [
                str(s.get("address", "")),
                str(s.get("state", "")),
                str(s.get("flavour") or ""),
                *(str(s.get(k, 0)) for k in ("statements", "errors", "failovers", "reconnects")),
                str(s.get("last_error") or ""),
            ]
            for s in self
        ]

    def _repr_html_(self) -> str:
        def row(c: List[str]) -> List[str]:
            return [_e(c[0]), _state_badge(c[1]), *map(_e, c[2:])]

        return _html_table(STATS_HEADERS, map(row, self._cells()), numeric=(3, 4, 5, 6))

    def _text(self) -> str:
        cells = [c[:7] + [_short(c[7])] for c in self._cells()]
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


# --- MultiMaster, InsertReport, TransactionResult --------------------------------------------


def _stats_of(mm: Any) -> Stats:
    # A repr must not raise: a closed instance may refuse stats(); show its nodes then.
    try:
        return Stats(mm.stats())
    except Exception:
        state = "closed" if mm.closed else "?"
        return Stats(
            {
                "address": n,
                "state": state,
                "statements": 0,
                "errors": 0,
                "failovers": 0,
                "reconnects": 0,
                "last_error": None,
                "flavour": None,
            }
            for n in mm.nodes
        )


def _mm_title(mm: Any) -> str:
    n = len(mm.nodes)
    state = "closed" if mm.closed else "open"
    return f"MultiMaster: {n} node{'s' * (n != 1)}, policy {mm.policy}, {state}"


def multimaster_html(mm: Any) -> str:
    return _div(f"<div><b>{_e(_mm_title(mm))}</b></div>" + _stats_of(mm)._repr_html_())


def multimaster_text(mm: Any) -> str:
    return _mm_title(mm) + "\n" + _stats_of(mm)._text()


def _report_summary(r: Any) -> str:
    rate = f", {r.rows / r.elapsed:.1f} rows/s" if r.elapsed > 0 else ""
    return (
        f"{r.rows} rows in {r.elapsed:.2f} s{rate}; retries {r.retries}, "
        f"failovers {r.failovers}, rerouted {r.rerouted}, "
        f"ambiguous resolved {r.ambiguous_resolved}"
    )


def report_html(report: Any) -> str:
    per_node = dict(report.per_node)
    rows = (
        [_e(node), _e(n), _e(f"{100 * n / report.rows:.0f} %" if report.rows else "")] for node, n in per_node.items()
    )
    data = getattr(report, "timeline_data", None)
    svg = Timeline(data).svg() if data else ""
    return _div(
        f"<div><b>InsertReport</b>: {_e(_report_summary(report))}</div>"
        + _html_table(["node", "rows", "share"], rows, numeric=(1, 2))
        + svg
    )


def report_text(report: Any) -> str:
    nodes = ", ".join(f"{node} {n}" for node, n in dict(report.per_node).items())
    return f"InsertReport: {_report_summary(report)}\n  per node: {nodes or '-'}"


def txresult_html(r: Any) -> str:
    attempts = f"{r.attempts} attempt{'s' * (r.attempts != 1)}"
    return _div(
        f"<b>TransactionResult</b>: committed on {_e(r.node)} after {_e(attempts)}; "
        f"value <code>{_e(_short(repr(r.value), 500))}</code>"
    )


def txresult_text(r: Any) -> str:
    value = _short(repr(r.value), 200)
    return f"TransactionResult(value={value}, attempts={r.attempts}, node={r.node!r})"


# --- the timeline ----------------------------------------------------------------------------


def _nice_step(span: float, target: int = 6) -> float:
    raw = max(span, 1e-9) / target
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _ticks(top: float, cover: bool = False) -> List[float]:
    """Round ticks from 0 to `top`; with `cover`, the last one at or above `top`."""
    step = _nice_step(top)
    n = math.ceil(top / step - 1e-9) if cover else int(top / step + 1e-9)
    return [i * step for i in range(n + 1)]


def _box(values: List[float], width: int) -> List[float]:
    """Centred moving average; the edges average over the values they have."""
    sums = [0.0]
    for v in values:
        sums.append(sums[-1] + v)
    half, n = width // 2, len(values)
    spans = ((max(0, k - half), min(n, k - half + width)) for k in range(n))
    return [(sums[hi] - sums[lo]) / (hi - lo) for lo, hi in spans]


class Timeline(_Frames):
    """Rows/s per node over an insert run, with node-down, node-up and failover marks.

    Built from ``InsertReport.timeline_data``; rows[i][k] is what node i took in bucket k,
    bucket k covering ``started + k*bucket`` for ``bucket`` seconds.
    """

    WIDTH, PLOT_HEIGHT = 720, 220

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.started = float(data.get("started", 0.0))
        self.elapsed = float(data.get("elapsed", 0.0))
        self.bucket = float(data.get("bucket") or 0.1)
        self.nodes: List[str] = [str(n) for n in data.get("nodes", [])]
        rows = [[int(v) for v in r] for r in data.get("rows", [])]
        self.buckets = max((len(r) for r in rows), default=0)
        # Ragged or missing series are padded with zeros: one length for every node.
        self.rows = [r + [0] * (self.buckets - len(r)) for r in rows]
        self.rows += [[0] * self.buckets for _ in range(len(self.nodes) - len(self.rows))]
        self.events = Events(data.get("events", []))

    def totals(self) -> Dict[str, int]:
        return {node: sum(r) for node, r in zip(self.nodes, self.rows)}

    def _columns(self) -> Dict[str, List[Any]]:
        cells = [(k * self.bucket, node, n) for node, r in zip(self.nodes, self.rows) for k, n in enumerate(r)]
        return {
            "t": [c[0] for c in cells],
            "node": [c[1] for c in cells],
            "rows": [c[2] for c in cells],
            "rows_per_s": [c[2] / self.bucket for c in cells],
        }

    def _window(self) -> int:
        """Buckets per smoothing pass. A slow loop (the course's 2 rows/s in 0.1 s buckets)
        would draw a comb of 0s and 10s; smoothing over about 1.5 rows per node draws its rate
        instead, and a cap at a tenth of the run keeps Galera's ~6 s stall visible. A fast loop
        fills every bucket and is drawn as it is."""
        total = sum(map(sum, self.rows))
        if not total or not self.buckets:
            return 1
        seconds = 1.5 * self.buckets * self.bucket * max(len(self.nodes), 1) / total
        seconds = min(seconds, self.buckets * self.bucket / 10)
        return max(1, round(seconds / self.bucket))

    def _rates(self, series: List[int], window: int) -> List[float]:
        """Rows/s smoothed by three centred moving averages (close to a Gaussian): a single
        box beats against a loop's period and draws a saw where the rate is steady."""
        values = [v / self.bucket for v in series]
        for _ in range(3 if window > 1 else 0):
            values = _box(values, window)
        return values

    def svg(self) -> str:
        w, ph = self.WIDTH, self.PLOT_HEIGHT
        legend, legend_h = self._legend(w)
        left, right, top = 56, w - 16, legend_h + 10
        bottom = top + ph
        span = max(self.elapsed, self.buckets * self.bucket) or 1.0
        window = self._window()
        rates = [self._rates(r, window) for r in self.rows]
        peak = max((max(r) for r in rates if r), default=0.0) or 1.0
        y_ticks = _ticks(peak, cover=True)
        y_top = y_ticks[-1]

        def x(t: float) -> float:
            return left + (right - left) * min(max(t, 0.0), span) / span

        def y(v: float) -> float:
            return bottom - ph * v / y_top

        parts = [
            legend,
            f'<g class="axes" stroke="{GREY}" stroke-width="1">'
            f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/></g>',
        ]
        for t in _ticks(span):
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{bottom}" x2="{x(t):.1f}" y2="{bottom + 4}" '
                f'stroke="{GREY}"/><text x="{x(t):.1f}" y="{bottom + 16}" '
                f'text-anchor="middle">{t:g}</text>'
            )
        for v in y_ticks:
            parts.append(
                f'<line x1="{left - 4}" y1="{y(v):.1f}" x2="{left}" y2="{y(v):.1f}" '
                f'stroke="{GREY}"/><text x="{left - 7}" y="{y(v) + 4:.1f}" '
                f'text-anchor="end">{v:g}</text>'
            )
        average = f" (smoothed over ~{window * self.bucket:.2g} s)" if window > 1 else ""
        parts.append(
            f'<text x="{(left + right) / 2}" y="{bottom + 32}" text-anchor="middle">'
            f'seconds since start</text><text x="12" y="{(top + bottom) / 2}" '
            f'text-anchor="middle" transform="rotate(-90 12 {(top + bottom) / 2})">'
            f"rows/s{_e(average)}</text>"
        )
        for i, (node, r) in enumerate(zip(self.nodes, rates)):
            if r:
                parts.append(self._series(node, SERIES[i % len(SERIES)], r, x, y))
        parts.extend(self._marks(x, top, bottom, span))
        if not self.buckets:
            parts.append(
                f'<text x="{(left + right) / 2}" y="{(top + bottom) / 2}" text-anchor="middle">no rows written</text>'
            )
        height = bottom + 42
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" '
            f'viewBox="0 0 {w} {height}" font-family="sans-serif" font-size="11" '
            f'fill="{GREY}" style="max-width:100%;height:auto" role="img">'
            f"<title>rows/s per node</title>{''.join(parts)}</svg>"
        )

    def _legend(self, width: int) -> Tuple[str, int]:
        # Grey text rather than currentColor: notebooks and GitHub show an SVG through <img>,
        # where currentColor is black whatever the theme.
        items, x, row = [], 56, 0
        for i, node in enumerate(self.nodes):
            size = 30 + 7 * len(node)
            if x + size > width and x > 56:
                x, row = 56, row + 1
            colour, y = SERIES[i % len(SERIES)], 14 + 16 * row
            items.append(
                f'<line x1="{x}" y1="{y - 4}" x2="{x + 20}" y2="{y - 4}" stroke="{colour}" '
                f'stroke-width="3"/><text x="{x + 25}" y="{y}">{_e(node)}</text>'
            )
            x += size
        return "".join(items), 16 * (row + 1) + 4

    def _series(
        self, node: str, colour: str, rates: List[float], x: Callable[[float], float], y: Callable[[float], float]
    ) -> str:
        b = self.bucket
        points = [(0.0, rates[0])] + [((k + 0.5) * b, v) for k, v in enumerate(rates)]
        points.append((len(rates) * b, rates[-1]))
        # Points inside a flat stretch add bytes, not shape.
        kept = [
            p
            for i, p in enumerate(points)
            if i in (0, len(points) - 1) or not points[i - 1][1] == p[1] == points[i + 1][1]
        ]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in kept)
        return (
            f'<polyline class="series" data-node="{_e(node)}" fill="none" stroke="{colour}" '
            f'stroke-width="2" stroke-linejoin="round" points="{coords}"/>'
        )

    def _marks(self, x: Callable[[float], float], top: int, bottom: int, span: float) -> List[str]:
        marks, seen, last_label = [], set(), -1e9
        for ev in sorted(self.events, key=lambda e: e.get("time", 0.0)):
            kind, t = ev.get("kind"), float(ev.get("time", 0.0)) - self.started
            px = round(x(t), 1)
            # One mark per kind per pixel column: a burst of failovers must not bloat the SVG.
            if kind not in MARK_KINDS or not -0.5 <= t <= span + 0.5 or (kind, round(px)) in seen:
                continue
            seen.add((kind, round(px)))
            colour, what = KIND_COLOUR[kind], f"{ev.get('node', '')} {KIND_WORDS[kind]}"
            tip = f"{_clock(float(ev.get('time', 0.0)))} +{t:.2f} s: {what}: {ev.get('detail', '')}"
            label = ""
            if px - last_label >= 12:  # labels closer than that would overprint
                last_label = px
                label = (
                    f'<text x="{px + 3}" y="{top + 2}" fill="{colour}" font-size="10" '
                    f'transform="rotate(90 {px + 3} {top + 2})">{_e(what)}</text>'
                )
            marks.append(
                f'<g class="mark {kind}"><title>{_e(tip)}</title><line x1="{px}" '
                f'y1="{top}" x2="{px}" y2="{bottom}" stroke="{colour}" '
                f'stroke-width="1.5" stroke-dasharray="4 3"/>{label}</g>'
            )
        return marks

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        return _div(self.svg())

    def __repr__(self) -> str:
        return (
            f"Timeline({len(self.nodes)} nodes, {self.elapsed:.2f} s, {self.buckets} buckets "
            f"of {self.bucket:g} s, {len(self.events)} events, rows {self.totals()})"
        )

    def save(self, path: Any) -> None:
        """Writes the SVG; a path ending in .html gets a page around it."""
        svg = self.svg()
        if str(path).lower().endswith(".html"):
            text = (
                '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>multimaster timeline'
                f"</title></head><body>\n{svg}\n</body></html>\n"
            )
        else:
            text = f'<?xml version="1.0" encoding="UTF-8"?>\n{svg}\n'
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


# --- the live view of insert_many ----------------------------------------------------------

Snapshot = Mapping[str, Any]


def _progress_text(s: Snapshot) -> str:
    done, total = int(s.get("done", 0)), int(s.get("total", 0))
    # Most telling first: a narrow terminal cuts the line from the right.
    parts = [f"{done}/{total} rows" if total > 0 else f"{done} rows", f"{s.get('elapsed', 0.0):.1f} s"]
    if s.get("down"):
        parts.append("DOWN " + " ".join(map(str, s["down"])))
    parts += [f"failovers {s.get('failovers', 0)}", f"retries {s.get('retries', 0)}"]
    parts.append(" ".join(f"{node} {n}" for node, n in dict(s.get("per_node", {})).items()))
    return "  ".join(p for p in parts if p)


def _event_line(ev: Mapping[str, Any]) -> str:
    kind = str(ev.get("kind", ""))
    return (
        f"*** {_clock(float(ev.get('time', 0.0)))} node {ev.get('node', '')} "
        f"{KIND_WORDS.get(kind, kind)}: {_short(ev.get('detail', ''), 200)}"
    )


def _columns_of(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a real terminal (or a test's stand-in)
        return 100


class TerminalProgress:
    """One line on a terminal, rewritten in place with \\r; node events print above it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._shown = 0

    def __call__(self, s: Snapshot) -> None:
        done, total = int(s.get("done", 0)), int(s.get("total", 0))
        bar = ""
        if total > 0:
            filled = min(20, 20 * done // total)
            bar = f"[{'#' * filled}{'-' * (20 - filled)}] {100 * done // total:3d}%  "
        # A line wider than the terminal wraps, and \r then rewrites only its last part.
        columns = _columns_of(self.stream) - 1
        line = _short(bar + _progress_text(s), columns)
        out = [
            f"\r{_short(_event_line(ev), columns).ljust(self._shown)}\n"
            for ev in s.get("events", ())
            if ev.get("kind") in NODE_KINDS
        ]
        out.append("\r" + line.ljust(self._shown))
        self._shown = len(line)
        if s.get("finished"):
            out.append("\n")
            self._shown = 0
        self.stream.write("".join(out))
        self.stream.flush()


def _event_html(ev: Mapping[str, Any]) -> str:
    return (
        f"<div>{_kind_badge(str(ev.get('kind', '')))} {_e(_clock(ev.get('time', 0.0)))} "
        f"{_e(ev.get('node', ''))}: {_e(ev.get('detail', ''))}</div>"
    )


class NotebookProgress:
    """One display output updated in place; being a plain output, its last state is saved with
    the notebook. The recent node events are shown so nobody needs to configure logging."""

    def __init__(self, keep: int = 10) -> None:
        self.recent: Deque[Mapping[str, Any]] = collections.deque(maxlen=keep)
        self._handle: Any = None

    def __call__(self, s: Snapshot) -> None:
        self.recent.extend(ev for ev in s.get("events", ()) if ev.get("kind") in NODE_KINDS)
        bundle = {"text/plain": self.text(s), "text/html": self.html(s)}
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def text(self, s: Snapshot) -> str:
        return "\n".join([_progress_text(s)] + [_event_line(ev) for ev in self.recent])

    def html(self, s: Snapshot) -> str:
        done, total = int(s.get("done", 0)), int(s.get("total", 0))
        share = min(1.0, done / total) if total > 0 else (1.0 if s.get("finished") else 0.0)
        # Blue while it runs, amber while a node is down, green once finished.
        colour = GREEN if s.get("finished") else (AMBER if s.get("down") else BLUE)
        bar = (
            f'<div style="width:320px;height:10px;border:1px solid currentColor;'
            f'border-radius:3px;background:transparent"><div style="width:{100 * share:.1f}%;'
            f'height:100%;background:{colour}"></div></div>'
        )
        head = (
            f"<b>{'finished' if s.get('finished') else 'inserting'}</b>: "
            f"{done}{f' / {total}' if total > 0 else ''} rows in "
            f"{float(s.get('elapsed', 0.0)):.1f} s; failovers {_e(s.get('failovers', 0))}, "
            f"retries {_e(s.get('retries', 0))}, "
            f"ambiguous resolved {_e(s.get('ambiguous_resolved', 0))}"
        )
        down = set(map(str, s.get("down", ())))
        nodes = (
            [_e(node), _state_badge("down" if node in down else "up"), _e(n)]
            for node, n in dict(s.get("per_node", {})).items()
        )
        table = _html_table(["node", "state", "rows"], nodes, numeric=(2,))
        return _div(f"<div>{head}</div>{bar}{table}" + "".join(map(_event_html, self.recent)))


def _in_kernel() -> bool:
    # IPython is already imported in a kernel; importing it here would only slow scripts down.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__) if shell else False


Sink = Callable[[Dict[str, Any]], None]


def progress_sink(progress: Any, stream: Optional[TextIO] = None) -> Optional[Sink]:
    """What `insert_many(progress=...)` hands its snapshots to: `True` gives a live display in
    a notebook, a progress line on a terminal's stderr (or `stream`), and nothing otherwise;
    a callable gets the snapshot dicts itself; `False` or `None`, nothing."""
    if progress is None or progress is False:
        return None
    if progress is True:
        if _in_kernel():
            return NotebookProgress()
        stream = sys.stderr if stream is None else stream
        isatty = getattr(stream, "isatty", None)
        return TerminalProgress(stream) if stream is not None and isatty and isatty() else None
    if callable(progress):
        return progress  # type: ignore[no-any-return]
    raise TypeError(f"progress must be True, False, None or a callable, not {type(progress).__name__}")
