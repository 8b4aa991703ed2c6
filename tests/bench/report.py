"""The printed report: throughput, latency and the failover stall; a row without a figure
(skipped, failed, none) says why through one helper, `unmeasured`."""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional

from bench.failover import Rejoin, Stall
from bench.figures import Case, Figures, median_range, pct
from bench.labels import (
    COLUMNS_HEADER,
    FAILOVER_HEADER,
    FAILOVER_INTERVAL,
    FO_CONC,
    FO_FLOOR,
    FO_REJOIN,
    FO_REJOIN_FLOOR,
    FO_SEQ,
    LAT_EXECUTE,
    LATENCY_HEADER,
    STALL_TARGET,
    THROUGHPUT_HEADER,
)

# ------------------------------------------------------------------------------------------------
# Printing


def unmeasured(label: str, present: bool, skipped: Dict[str, str], errors: Dict[str, str], note: str = "") -> bool:
    """Prints the row of a label without a figure to show (skipped, failed, or none: `present`
    false) and returns True; False when it has one."""
    if label in skipped:
        print(f"{label:40} skipped: {skipped[label]}")
    elif label in errors:
        print(f"{label:40} ERROR: {errors[label]}")
    elif not present:
        print(f"{label:40} no figure{note}")
    else:
        return False
    return True


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def ratio_cell(value: float, target: Optional[float], judge: bool, higher: bool = True) -> str:
    if target is None:
        return f"{value:7.2f}x"
    sign = ">=" if higher else "<="
    ok = value >= target if higher else value <= target
    verdict = ("met" if ok else "MISSED") if judge else "(smoke: not judged)"
    return f"{value:7.2f}x  {sign} {target:g}x  {verdict}"


def print_throughput(cases: List[Case], figures: Figures, rounds: int, judge: bool) -> None:
    print(
        f"\n{THROUGHPUT_HEADER}: rows/s, median of {rounds} interleaved round{'s' if rounds != 1 else ''} "
        f"(min-max); CPU in cores busy, medians: client (this process or its child), servers (both mariadbd), "
        f"other (everything else: kernel, garbd, and any other work on the machine, which disturbs the figure)"
    )
    print(
        f"{COLUMNS_HEADER:40} {'rows':>7} {'rows/s':>9} {'min-max':>17} {'client':>6} {'servers':>7} {'other':>5}  "
        f"| {'ratio to':38} {'ratio':>8}  target"
    )
    for case in cases:
        label = case.label
        rates = figures.rates.get(label)
        if unmeasured(label, bool(rates), figures.skipped, figures.errors) or not rates:
            continue
        mid, lo, hi = median_range(rates)
        client = statistics.median(figures.client[label])
        servers = statistics.median(figures.servers[label])
        elsewhere = statistics.median(figures.other[label])
        head = (
            f"{label:40} {case.rows:7d} {fmt_rate(mid):>9} {fmt_rate(lo) + '-' + fmt_rate(hi):>17} "
            f"{client:6.2f} {servers:7.2f} {elsewhere:5.2f}  "
        )
        pad = " " * len(head)
        if not case.versus:
            print(head.rstrip())
            continue
        for k, (other, target) in enumerate(case.versus):
            theirs = figures.rates.get(other)
            if theirs:
                cell = ratio_cell(mid / statistics.median(theirs), target, judge)
            else:
                cell = "     n/a" + (f"  >= {target:g}x  (no figure)" if target is not None else "")
            print(f"{head if k == 0 else pad}| {other:38} {cell}")


def print_latency(figures: Figures, labels: List[str], versus: Dict[str, str], rounds: int, judge: bool) -> None:
    print(
        f"\n{LATENCY_HEADER}: microseconds; p50 and p99 of each round, median of {rounds} "
        f"round{'s' if rounds != 1 else ''} (min-max); the ratio to the PyMySQL line above it (lower is faster)"
    )
    print(
        f"{COLUMNS_HEADER:40} {'calls':>7} {'p50':>7} {'min-max':>13} {'p99':>7} {'min-max':>13} {'max':>8}  "
        f"| {'p50 ratio':>9} {'p99 ratio':>9}"
    )
    for label in labels:
        per_round = figures.latency.get(label)
        if unmeasured(label, bool(per_round), figures.skipped, figures.errors) or not per_round:
            continue
        p50 = median_range([pct(r, 0.50) * 1e6 for r in per_round])
        p99 = median_range([pct(r, 0.99) * 1e6 for r in per_round])
        worst = max(max(r) for r in per_round) * 1e6
        calls = sum(len(r) for r in per_round)
        line = (
            f"{label:40} {calls:7d} {p50[0]:7.0f} {f'{p50[1]:.0f}-{p50[2]:.0f}':>13} "
            f"{p99[0]:7.0f} {f'{p99[1]:.0f}-{p99[2]:.0f}':>13} {worst:8.0f}  "
        )
        other = versus.get(label)
        theirs = figures.latency.get(other) if other else None
        if theirs:
            their50 = statistics.median([pct(r, 0.50) * 1e6 for r in theirs])
            their99 = statistics.median([pct(r, 0.99) * 1e6 for r in theirs])
            verdict = ""
            if label == LAT_EXECUTE:  # the target: p99 no worse than PyMySQL's
                ok = p99[0] <= their99
                verdict = "  p99 <= PyMySQL's: " + (("met" if ok else "MISSED") if judge else "(smoke: not judged)")
            line += f"| {p50[0] / their50:8.2f}x {p99[0] / their99:8.2f}x{verdict}"
        print(line.rstrip())


def print_failover(results: Dict[str, List[Stall]], skipped: Dict[str, str], rounds: int, judge: bool) -> None:
    print(
        f"\n{FAILOVER_HEADER}: kill -9 of node 1 mid-loop, rows paced {FAILOVER_INTERVAL * 1e3:g} ms apart per "
        f"worker; stall: the longest gap between two row commits around the crash, in seconds, median of "
        f"{rounds} round{'s' if rounds != 1 else ''} (min-max); the floor writer runs beside each loop, through "
        f"the same crash; lost and duplicated rows by a table audit, all rounds"
    )
    print(
        f"{COLUMNS_HEADER:40} {'stall s':>8} {'min-max':>13} {'lost':>5} {'dup':>5}  "
        f"| {'over the floor, same crash':>26}  target"
    )
    floors = [s.floor for runs in results.values() for s in runs if s.floor is not None]
    if not unmeasured(FO_FLOOR, bool(floors), {}, {}):
        mid, lo, hi = median_range(floors)
        print(f"{FO_FLOOR:40} {mid:8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {'-':>5} {'-':>5}")
    for label in (FO_SEQ, FO_CONC):
        runs = results.get(label, [])
        stalls = [s.seconds for s in runs if s.seconds is not None]
        lost = sum(s.lost for s in runs)
        dup = sum(s.duplicated for s in runs)
        errors = "".join(f"; ERROR: {s.error}" for s in runs if s.error)
        if unmeasured(label, bool(stalls), skipped, {}, errors):
            continue
        mid, lo, hi = median_range(stalls)
        line = f"{label:40} {mid:8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {lost:5d} {dup:5d}  "
        extras = [(s.seconds - s.floor) * 1e3 for s in runs if s.seconds is not None and s.floor is not None]
        if extras:
            e_mid, e_lo, e_hi = median_range(extras)
            ok = e_mid <= STALL_TARGET * 1e3 and lost == 0 and dup == 0
            verdict = ("met" if ok else "MISSED") if judge else "(smoke: not judged)"
            line += (
                f"| {f'{e_mid:+.0f} ms ({e_lo:+.0f} to {e_hi:+.0f})':>26}  "
                f"<= +{STALL_TARGET * 1e3:.0f} ms, 0 lost, 0 dup: {verdict}"
            )
        print(line.rstrip())
        for s in runs:
            if s.error:
                print(f"{'':40} ERROR: {s.error}")


def print_rejoin(runs: List[Rejoin], rounds: int) -> None:
    """The second gap: after the stall, the longest gap between two commits (the killed node
    rejoining), and when it began after the kill; the floor writer's beside the loop's."""
    print(
        f"\nrejoin: kill -9 of node 2 mid-loop, started again at once; the longest gap after the stall, "
        f"in seconds, and when it began after the kill, median of {rounds} round{'s' if rounds != 1 else ''} "
        f"(min-max); the floor writer runs on node 1 beside the loop"
    )
    print(f"{COLUMNS_HEADER:40} {'gap s':>8} {'min-max':>13} {'at +s':>6} {'min-max':>11} {'lost':>5} {'dup':>5}")
    errors = "".join(f"; ERROR: {r.error}" for r in runs if r.error)
    for label, gaps, ats in (
        (FO_REJOIN_FLOOR, [r.floor for r in runs], [r.floor_at for r in runs]),
        (FO_REJOIN, [r.seconds for r in runs], [r.at for r in runs]),
    ):
        pairs = [(g, a) for g, a in zip(gaps, ats) if g is not None and a is not None]
        if unmeasured(label, bool(pairs), {}, {}, errors):
            continue
        mid, lo, hi = median_range([g for g, _ in pairs])
        at, at_lo, at_hi = median_range([a for _, a in pairs])
        counts = (
            f"{sum(r.lost for r in runs):5d} {sum(r.duplicated for r in runs):5d}"
            if label == FO_REJOIN
            else f"{'-':>5} {'-':>5}"
        )
        print(f"{label:40} {mid:8.3f} {f'{lo:.3f}-{hi:.3f}':>13} {at:6.1f} {f'{at_lo:.1f}-{at_hi:.1f}':>11} {counts}")
    for r in runs:
        if r.error:
            print(f"{'':40} ERROR: {r.error}")


# ------------------------------------------------------------------------------------------------
