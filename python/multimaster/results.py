"""What a call did, as its return value: `ExecResult` (`execute`, made natively), `InsertReport`
(`insert_many`) and `TransactionResult` (`transaction`). Nothing a call did is kept on the
`MultiMaster`, which threads share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Generic, TypeVar

from multimaster._native import ExecResult
from multimaster.display import Timeline, report_html, report_text, txresult_html, txresult_text

__all__ = ["ExecResult", "InsertReport", "TransactionResult"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class InsertReport:
    """What `insert_many` did: rows written, where, and what it took. Also the `report` of an
    error (or `KeyboardInterrupt`) that stopped the loop: the rows written before it."""

    #: Rows written (each exactly once).
    rows: int
    #: Rows written per node address, in the order the nodes were given.
    per_node: Dict[str, int]
    #: Statements retried after a retryable server error (conflict, node not ready).
    retries: int
    #: Times a row left a node because that node failed under it.
    failovers: int
    #: Rows written by a node other than the policy's first choice.
    rerouted: int
    #: Lost replies resolved by a key check (written once, not twice).
    ambiguous_resolved: int
    #: Seconds the loop ran.
    elapsed: float
    #: Rows per node per short interval and the node events of the run: what `timeline()` draws.
    timeline_data: Dict[str, Any] = field(repr=False)

    def timeline(self) -> Timeline:
        """Rows/s per node over the run with node-down, node-up and failover marks: an SVG,
        shown inline in a notebook, `.save(path)` to keep it."""
        return Timeline(self.timeline_data)

    def __repr__(self) -> str:
        return (
            f"InsertReport(rows={self.rows}, per_node={self.per_node!r}, retries={self.retries}, "
            f"failovers={self.failovers}, rerouted={self.rerouted}, "
            f"ambiguous_resolved={self.ambiguous_resolved}, elapsed={self.elapsed:.2f})"
        )

    def _repr_html_(self) -> str:
        return report_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(report_text(self))


def attach_report(e: BaseException) -> None:
    """An error that stopped `insert_many` carries the rows written before it as a dict from
    the core: made an `InsertReport` before the error reaches the caller."""
    partial = getattr(e, "report", None)
    if isinstance(partial, dict):
        e.report = InsertReport(**partial)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TransactionResult(Generic[_T]):
    """A committed transaction: the body's value, the attempts it took, the node."""

    value: _T
    #: 1 when the first attempt committed.
    attempts: int
    #: The node it committed on, as `host:port`.
    node: str

    def __repr__(self) -> str:
        return txresult_text(self)

    def _repr_html_(self) -> str:
        return txresult_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(txresult_text(self))
