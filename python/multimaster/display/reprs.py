"""The rich reprs of `MultiMaster` (its nodes as a stats table), `InsertReport` (rows per node,
and the timeline) and `TransactionResult`, for the classes of `multimaster.client` and
`multimaster.results`."""

from __future__ import annotations

from typing import Any

from .markup import _div, _e, _html_table, _short
from .tables import Stats
from .timeline import Timeline


def _stats_of(mm: Any) -> Stats:
    # A repr must not raise: a closed instance may refuse stats(); show its nodes then.
    try:
        return Stats(mm.stats())
    except Exception:
        state = "closed" if mm.closed else "?"
        return Stats(
            {
                "address": str(n),
                "state": state,
                "known_by": getattr(n, "known_by", "given"),
                "statements": 0,
                "errors": 0,
                "failovers": 0,
                "reconnects": 0,
                "last_error": None,
                "flavour": None,
                "p50": None,
                "p99": None,
                "max": None,
                "duration_buckets": [],
                "duration_sum": 0.0,
                "events": {},
                "state_reason": None,
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
