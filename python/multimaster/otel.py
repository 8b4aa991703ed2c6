"""`multimaster.instrument(mm)`: OpenTelemetry metrics by the database conventions
(`multimaster.conventions`). Needs the `otel` extra; nothing here is imported or recorded until
`instrument()` is called.

How: `db.client.operation.duration` is a histogram of each statement's own time with its own
attributes (node, operation, error), and OpenTelemetry has no asynchronous histogram, so it
cannot be read from the core's counters at collection time. The core calls a Python function
after each statement instead, only while instrumented (`Native.observe`; unset, the core pays
one relaxed atomic load per statement). multimaster's own counters are asynchronous: read from
`stats()` when the reader collects, costing nothing per statement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Tuple

from multimaster import conventions as cv

if TYPE_CHECKING:
    from multimaster.client import MultiMaster

__all__ = ["instrument", "Instrumentation"]


def _otel() -> Any:
    try:
        from opentelemetry import metrics
    except ImportError:
        raise ImportError("multimaster.instrument() needs OpenTelemetry: pip install multimaster[otel]") from None
    return metrics


class Instrumentation:
    """What `instrument()` set up; `uninstrument()` stops the per-statement recording (the
    counters' callbacks then report nothing)."""

    def __init__(self, mm: MultiMaster, meter_provider: Any = None) -> None:
        metrics = _otel()
        from multimaster import __version__

        self._native = mm._native
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("multimaster", __version__)
        self._namespace: Optional[str] = self._native.database
        self._duration = meter.create_histogram(
            cv.DURATION,
            unit="s",
            description=cv.DURATION_HELP,
            explicit_bucket_boundaries_advisory=list(cv.DURATION_BOUNDS),
        )
        # One attribute dict per (node, operation, error), reused: recording allocates none.
        self._attrs: Dict[Tuple[str, str, Optional[int], Optional[str]], Dict[str, object]] = {}
        self._nodes: Dict[str, Dict[str, object]] = {}
        self._active = True
        for name, description, source in cv.COUNTERS:
            meter.create_observable_counter(name, [self._reader(metrics, source)], unit="1", description=description)
        self._native.observe(self._statement)

    def _node(self, node: str) -> Dict[str, object]:
        attrs = self._nodes.get(node)
        if attrs is None:
            flavour = next((s["flavour"] for s in self._native.stats() if s["address"] == node), None)
            attrs = cv.node_attributes(node, flavour, self._namespace)
            if flavour is not None:  # known once a connection was made: keep it
                self._nodes[node] = attrs
        return attrs

    def _statement(
        self, node: str, operation: str, seconds: float, code: Optional[int], error_class: Optional[str]
    ) -> None:
        key = (node, operation, code, error_class)
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = dict(self._node(node))
            if operation:
                attrs["db.operation.name"] = operation
            attrs.update(cv.error_attributes(code, error_class))
            if len(self._attrs) < 10_000:  # statements' first words are few; bound it anyway
                self._attrs[key] = attrs
        self._duration.record(seconds, attrs)

    def _reader(self, metrics: Any, source: str) -> Callable[[Any], Iterable[Any]]:
        def observe(_options: Any) -> Iterable[Any]:
            if not self._active or self._native.closed:
                return []
            return [
                metrics.Observation(cv.counter_value(s, source), self._node(s["address"])) for s in self._native.stats()
            ]

        return observe

    def uninstrument(self) -> None:
        self._active = False
        self._native.observe(None)


def instrument(mm: MultiMaster, meter_provider: Any = None) -> Instrumentation:
    """Records `mm`'s metrics with OpenTelemetry: `db.client.operation.duration` (seconds,
    per statement, with `db.system.name`, `db.namespace`, `db.operation.name`,
    `server.address`/`server.port` of the node that answered, `error.type` and
    `db.response.status_code` on failure) and the counters `multimaster.failovers`,
    `multimaster.node.down`, `multimaster.ambiguous.resolved` and
    `multimaster.statements.retried` per node. `meter_provider` defaults to the global one.
    Raises ImportError naming `multimaster[otel]` without OpenTelemetry."""
    return Instrumentation(mm, meter_provider)
