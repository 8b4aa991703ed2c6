"""The cost of the per-node latency histogram (`src/core/node/latency.rs`) in `make bench`.

Recording is unconditional in the core, so the bench cannot run the single-row loop without it;
and an A/B run of the loop could not resolve a fraction of a percent on a shared 2-core machine
(its rounds differ by several percent). What recording adds to each statement is measured on
its own instead (`_native._latency_cost`: the clock read and the record, as the request loop does
them, a million times) and set beside the single-row loop's time per row: the loop without
recording would take `per_row - cost`, so the ratio is `per_row / (per_row - cost)`."""

from __future__ import annotations

import statistics
from typing import Optional

from multimaster._native import _latency_cost

from bench.figures import Figures
from bench.labels import SEQ

#: The issue's bound: the histogram may slow the single-row loop by at most 2 %.
TARGET = 1.02
RECORDS = 1_000_000


def print_latency_cost(figures: Figures, judge: bool) -> Optional[float]:
    """Prints the cost per statement and the ratio; returns the ratio (None without the loop)."""
    cost = min(_latency_cost(RECORDS) for _ in range(3))
    rates = figures.rates.get(SEQ)
    print(f"\nlatency histogram: {cost * 1e9:.0f} ns per statement (clock read + record, best of 3 x {RECORDS:,})")
    if not rates:
        print(f"  ({SEQ} not measured: no ratio)")
        return None
    per_row = 1 / statistics.median(rates)
    ratio = per_row / (per_row - cost)
    verdict = ("ok" if ratio <= TARGET else "OVER TARGET") if judge else "not judged"
    print(
        f"  {SEQ}: {per_row * 1e6:.0f} us per row, with recording / without = {ratio:.5f}"
        f" (target <= {TARGET}: {verdict})"
    )
    return ratio
