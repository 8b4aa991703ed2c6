"""The demo's built-in full-screen view (curses, in the standard library): the course's three
panes in one terminal, laid out as `multimaster demo --tmux` lays them out: insert-test on the
left, the count above the crash script on the right.

insert-test runs as a child process (its lines are the insert pane); the count and the crash
script run on threads (panes.py). The view redraws ten times a second from what they wrote, and
follows the terminal's size; when the terminal is too small it says so until it grows again.
Once the run is over it holds the final screen until `q` (or HOLD seconds), then the terminal is
restored and the summary printed below the prompt. Ctrl-C restores the terminal at once.
"""

from __future__ import annotations

import collections
import curses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from multimaster_lab import panes
from multimaster_lab.lab import Lab

#: The smallest terminal the three panes fit in: an insert-test line and the count side by side.
MIN_COLS, MIN_LINES = 80, 20
#: How long the final screen waits for `q` before the demo goes on to bring the lab down.
HOLD = 600.0
#: Lines kept per scrolling pane.
KEEP = 1000


def fits(cols: int, lines: int) -> bool:
    return cols >= MIN_COLS and lines >= MIN_LINES


def too_small() -> Optional[str]:
    """Why this terminal cannot show the panes, or None when it can."""
    cols, lines = shutil.get_terminal_size((0, 0))
    if fits(cols, lines):
        return None
    return f"the terminal is {cols}x{lines}, the three panes need {MIN_COLS}x{MIN_LINES}"


class Panes:
    """What the three panes show, written by the producers' threads, read by the drawer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count: List[str] = ["(the first count comes within a second)"]
        self.insert: Deque[str] = collections.deque(maxlen=KEEP)
        self.crash: Deque[str] = collections.deque(maxlen=KEEP)
        self.status = "running: Ctrl-C stops the demo and brings the lab down"

    def show_count(self, lines: List[str]) -> None:
        with self.lock:
            self.count = lines

    def add_insert(self, line: str) -> None:
        with self.lock:
            self.insert.append(line)

    def add_crash(self, line: str) -> None:
        with self.lock:
            self.crash.append(line)

    def snapshot(self) -> Tuple[List[str], List[str], List[str], str]:
        with self.lock:
            return list(self.insert), list(self.count), list(self.crash), self.status


def layout(cols: int, lines: int) -> Dict[str, Tuple[int, int, int, int]]:
    """Each pane's (top, left, height, width), title line included; the last line is the status."""
    left = cols // 2
    right = cols - left - 1  # one column for the divider
    count_h = min(10, (lines - 1) // 3)
    return {
        "insert": (0, 0, lines - 1, left),
        "count": (0, left + 1, count_h, right),
        "crash": (count_h, left + 1, lines - 1 - count_h, right),
    }


TITLES = dict(zip(("insert", "count", "crash"), panes.TITLES))


def put(win: Any, y: int, x: int, text: str, width: int, attr: int = 0) -> None:
    try:
        win.addnstr(y, x, text.ljust(width), width, attr)
    except curses.error:
        pass  # the bottom-right cell: curses writes it, then reports the cursor fell off


#: Colour pairs, set up by `show` when the terminal has colours (0: the terminal's own).
RED, GREEN, YELLOW, CYAN = 1, 2, 3, 4


def style(line: str) -> int:
    """How a line stands out: the typed commands, node events, the verdict, a node down."""
    if not curses.has_colors():
        return curses.A_BOLD if line.startswith(("$ ", "OK:", "FAILED", "count ")) else 0
    if line.startswith("$ "):
        return curses.color_pair(CYAN) | curses.A_BOLD
    if line.startswith("***"):
        return curses.color_pair(RED if " down" in line else YELLOW)
    if line.startswith(("OK:", "count ", "# done")):
        return curses.color_pair(GREEN) | curses.A_BOLD
    if line.startswith("FAILED") or line.endswith(" down") or "(exit 0" not in line and line.startswith("  (exit"):
        return curses.color_pair(RED) | curses.A_BOLD
    return 0


def wrap(line: str, width: int) -> List[str]:
    return [line[i : i + width] for i in range(0, len(line), width)] or [""]


def draw(win: Any, view: Panes) -> None:
    lines, cols = win.getmaxyx()
    win.erase()
    if not fits(cols, lines):
        put(win, 0, 0, f"terminal too small ({cols}x{lines}): the panes need {MIN_COLS}x{MIN_LINES}", cols)
        put(win, 1, 0, "the demo runs on; enlarge the terminal, or Ctrl-C", cols)
        win.refresh()
        return
    insert, count, crash, status = view.snapshot()
    content = {"insert": insert, "count": count, "crash": crash}
    for name, (top, left, height, width) in layout(cols, lines).items():
        put(win, top, left, f"─ {TITLES[name]} ".ljust(width, "─"), width, curses.A_BOLD)
        # The count is redrawn whole, from its top (as `watch`); the others scroll, long lines
        # wrapped (the node that took a row is at the end of its line).
        body = [(line, style(line)) for line in content[name]]
        if name != "count":
            body = [(part, attr) for line, attr in body for part in wrap(line, width)]
        shown = body[: height - 1] if name == "count" else body[-(height - 1) :]
        for row, (text, attr) in enumerate(shown, start=1):
            put(win, top + row, left, text, width, attr)
    divider = layout(cols, lines)["count"][1] - 1
    for y in range(lines - 1):
        put(win, y, divider, "│", 1)
    put(win, lines - 1, 0, " multimaster demo: " + status, cols, curses.A_REVERSE)
    win.refresh()


def read_lines(proc: subprocess.Popen[str], view: Panes) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        view.add_insert(line.rstrip("\n"))


def stop_child(proc: subprocess.Popen[str]) -> None:
    """insert-test stops on SIGINT within a second (it prints where it stopped); kill after 20 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_view(lab: Lab, count: int, interval: float, env: Dict[str, str]) -> int:
    """The run in the full-screen view, the lab already up; returns insert-test's exit status
    (1 if a crash or restart failed). The caller brings the lab down."""
    view = Panes()
    stop = threading.Event()  # the crash script's: set once insert-test has exited
    counted = threading.Event()  # the count's: it runs on while the final screen is held
    failures: List[str] = []
    view.add_insert("$ insert-test " + " ".join(panes.insert_test_args(count, interval)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "multimaster_lab.course", *panes.insert_test_args(count, interval)],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threads = [
        threading.Thread(target=read_lines, args=(proc, view), daemon=True),
        threading.Thread(target=panes.watch_count, args=(lab, count, view.show_count, counted), daemon=True),
        threading.Thread(target=panes.crash_script, args=(lab, count, view.add_crash, stop, failures), daemon=True),
    ]
    for th in threads:
        th.start()
    try:
        curses.wrapper(lambda win: show(win, view, proc, threads[2], stop))
    finally:
        # The terminal is restored; also after Ctrl-C, what the panes ended with stays on it.
        stop_child(proc)
        stop.set()
        counted.set()
        for th in threads:
            th.join(timeout=1.5)
        if any(th.is_alive() for th in threads):
            print("=== waiting for the node restart under way to finish", flush=True)
        for th in threads:
            th.join(timeout=120)  # `lab start` gives itself 90 s
        print_panes(view)
    rc = proc.returncode or 0
    if failures:
        print(f"multimaster demo: {'; '.join(failures)}", file=sys.stderr)
        return rc or 1
    return rc


def print_panes(view: Panes) -> None:
    """The panes' last state as plain lines: the count, the crash script, insert-test's end."""
    insert, count_now, crash, _ = view.snapshot()
    print("\n".join(["--- the count", *count_now, "--- the crash script", *crash]))
    tail = next((i for i, line in enumerate(insert) if line.startswith("Summary:")), max(0, len(insert) - 5))
    print("\n".join(["--- insert-test", *insert[tail:]]), flush=True)


def show(win: Any, view: Panes, proc: subprocess.Popen[str], crasher: threading.Thread, stop: threading.Event) -> None:
    """Draws until the run is over and `q` pressed (or HOLD passed)."""
    try:
        curses.curs_set(0)
        if curses.has_colors():
            curses.use_default_colors()  # the terminal's own background, light or dark
            for pair, colour in ((RED, curses.COLOR_RED), (GREEN, curses.COLOR_GREEN),
                                 (YELLOW, curses.COLOR_YELLOW), (CYAN, curses.COLOR_CYAN)):  # fmt: skip
                curses.init_pair(pair, colour, -1)
    except curses.error:
        pass
    win.timeout(100)
    held: Optional[float] = None
    while True:
        if held is None and proc.poll() is not None:
            stop.set()  # the crash script stops waiting for rows that will not come
            if not crasher.is_alive():
                held = time.monotonic()
                with view.lock:
                    ok = "OK" if proc.returncode == 0 else f"insert-test exited {proc.returncode}"
                    view.status = f"done ({ok}): press q to quit and bring the lab down"
        draw(win, view)
        key = win.getch()
        if key == curses.KEY_RESIZE:
            curses.update_lines_cols()
        elif held is not None and (key in (ord("q"), ord("Q")) or time.monotonic() - held > HOLD):
            return
