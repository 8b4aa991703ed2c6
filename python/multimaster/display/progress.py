"""The live view of `insert_many(progress=True)`: a line rewritten in place on a terminal, or
one display output updated in place in a notebook. Both show the node events as they come."""

from __future__ import annotations

import collections
import os
from typing import Any, Deque, Mapping, TextIO

from .markup import (
    AMBER,
    BLUE,
    GREEN,
    KIND_WORDS,
    NODE_KINDS,
    _clock,
    _div,
    _e,
    _html_table,
    _kind_badge,
    _short,
    _state_badge,
)

Snapshot = Mapping[str, Any]


def _total(s: Snapshot) -> int:
    """The rows to write; 0 when unknown (a generator's: `total` is None)."""
    return int(s.get("total") or 0)


def _progress_text(s: Snapshot) -> str:
    done, total, elapsed = int(s.get("done", 0)), _total(s), float(s.get("elapsed", 0.0))
    # Most telling first: a narrow terminal cuts the line from the right.
    parts = [f"{done}/{total} rows" if total > 0 else f"{done} rows", f"{elapsed:.1f} s"]
    if s.get("total") is None:
        # A stream of unknown length: no bar, the rate instead.
        parts.insert(1, f"{done / elapsed if elapsed > 0 else 0.0:.0f} rows/s (total unknown)")
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
        done, total = int(s.get("done", 0)), _total(s)
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
        done, total = int(s.get("done", 0)), _total(s)
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
