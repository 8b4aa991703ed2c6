"""The failover timeline: rows/s per node over an insert run, with node-down, node-up and
failover marks, as a self-contained SVG (no script, no network)."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Tuple

from .markup import GREY, KIND_COLOUR, KIND_WORDS, MARK_KINDS, SERIES, _clock, _div, _e
from .tables import Events, _Frames


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
