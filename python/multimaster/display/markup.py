"""What the views share: the palette, the words for event kinds, escaping, badges, and the HTML
and text tables.

Every value is HTML-escaped here (server messages can hold anything), and styles are inline
with transparent backgrounds so they read in light and dark themes alike.
"""

from __future__ import annotations

import html
import re
import time
from typing import Iterable, Sequence

# The one palette. Badges are white on these, legible on any page; lines and marks are drawn on
# a transparent background, so they must stand out on white and on near-black alike.
GREEN, RED, AMBER, GREY, BLUE = "#1a7f37", "#cf222e", "#9a6700", "#6e7781", "#3b82f6"
SERIES = (BLUE, "#a855f7", "#14b8a6", "#ec4899", "#0ea5e9", "#f97316")
STATE_COLOUR = {"up": GREEN, "down": RED, "draining": AMBER, "removed": GREY}
KIND_COLOUR = {
    "node_down": RED,
    "node_up": GREEN,
    "failover": AMBER,
    "retry": GREY,
    "ambiguous": RED,
    "ambiguous_resolved": GREEN,
    "node_draining": AMBER,
    "node_ready": GREEN,
    "node_added": GREEN,
    "node_removed": GREY,
    "node_unreachable": RED,
    "discovery": AMBER,
}
# The words of the library's own log lines (`Cluster::note` in src/core/cluster.rs).
KIND_WORDS = {
    "node_down": "down",
    "node_up": "back up",
    "failover": "took over",
    "retry": "retry",
    "ambiguous": "outcome unknown",
    "ambiguous_resolved": "outcome resolved",
    "node_draining": "draining",
    "node_ready": "ready",
    "node_added": "added",
    "node_removed": "removed",
    "node_unreachable": "unreachable",
    "discovery": "discovery",
}
# Events worth a line of their own in the live views; retries are only counted.
NODE_KINDS = (
    "node_down",
    "node_up",
    "failover",
    "ambiguous",
    "ambiguous_resolved",
    "node_draining",
    "node_ready",
    "node_added",
    "node_removed",
    "node_unreachable",
    "discovery",
)
# The timeline marks these three: they explain the shape of the rows/s lines.
MARK_KINDS = ("node_down", "node_up", "failover")
TABLE = "border-collapse:collapse;background:transparent;color:inherit;margin:2px 0"
CELL = "padding:2px 8px;vertical-align:top"
HEAD = CELL + ";border-bottom:1px solid currentColor"

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
    return _badge(state, STATE_COLOUR.get(state.split(":")[0], AMBER))


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
