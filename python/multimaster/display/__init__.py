"""How multimaster looks in notebooks and terminals: escaped HTML tables and text for
``MultiMaster`` and its results, the failover timeline as a self-contained SVG, and the live
view of ``insert_many``.

Pure Python and stdlib only, so the looks change without a rebuild; ``multimaster.client`` and
``multimaster.results`` call them (the native code imports nothing from Python).
Every value is HTML-escaped (server messages can hold anything), nothing here emits a script or
does network I/O, and styles are inline with transparent backgrounds so they read in light and
dark themes alike.

    markup.py     the palette, escaping, badges, and the HTML and text tables
    tables.py     Stats and Events: stats() and events() as tables and data frames
    reprs.py      the rich reprs of MultiMaster, InsertReport and TransactionResult
    timeline.py   Timeline: rows/s per node with the failover marks, as SVG
    progress.py   the live views of insert_many on a terminal and in a notebook
    live.py       the live node table of `multimaster top` and `MultiMaster.live()`

`progress_sink`, which picks the live view, stays here beside `_in_kernel`: the tests replace
that one on this module.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Optional, TextIO

# Beyond __all__, re-exported (`as` itself) for the tests and whoever builds on these views.
from .markup import _clock as _clock
from .progress import NotebookProgress as NotebookProgress
from .progress import Snapshot as Snapshot
from .progress import TerminalProgress as TerminalProgress
from .reprs import multimaster_html, multimaster_text, report_html, report_text, txresult_html, txresult_text
from .tables import EVENT_COLUMNS as EVENT_COLUMNS
from .tables import MAX_HTML_ROWS as MAX_HTML_ROWS
from .tables import STATS_COLUMNS as STATS_COLUMNS
from .tables import Events, Stats
from .timeline import Timeline

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
