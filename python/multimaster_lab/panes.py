"""The course demo's three panes: what each shows, as commands a tmux pane runs, and the tmux
session that lays them out like the course.

- the count pane: `SELECT COUNT(*), COUNT(DISTINCT title)` once a second, like `watch`, with
  each node's own count beside it (a node that is down says so);
- the insert pane: `insert-test` itself, its line per row and its `***` node events;
- the crash pane: the crash script, each `multimaster lab crash I` / `lab start I` shown as
  typed, then what it printed and how long it took.

`python -m multimaster_lab.panes count|crash --dir DIR --count N` runs the count and crash panes
on their own (what the tmux panes run); `screen.py` draws the same three in one terminal.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

from multimaster_lab.coursedata import QUALIFIED_TABLE
from multimaster_lab.lab import Lab, LabError

Emit = Callable[[str], None]

#: A crash script that runs longer than this stops: a row count that never comes (the loop was
#: interrupted in another pane) must not keep it waiting forever.
CRASH_SCRIPT_BOUND = 900.0


def crash_schedule(count: int) -> List[int]:
    """Rows written before node 1, then node 2, is crashed: a fifth of the rows, then 55 %
    (the course's timing at its own scale: 100 rows, node 1 at 20, node 2 at 55)."""
    first = max(1, count // 5)
    return [first, max(first + 1, count * 55 // 100)]


def count_lines(lab: Lab, count: int) -> List[str]:
    """The count pane's text now: the course's `SELECT COUNT(*)` on the first node that
    answers, its distinct titles, and every node's own count (Galera: all agree once synced)."""
    stamp = time.strftime("%H:%M:%S")
    lines = ["SELECT COUNT(*), COUNT(DISTINCT title)", f"  FROM {QUALIFIED_TABLE}   (every 1 s, {stamp})", ""]
    per_node: List[str] = []
    total: Optional[str] = None
    for i, node in enumerate(lab.nodes, start=1):
        try:
            ((n, distinct),) = lab.sql(i, f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {QUALIFIED_TABLE}", timeout=1)
            per_node.append(f"  node {i}  {node.address:<20} {n} rows")
            if total is None:
                total = f"count {n} of {count}, distinct {distinct}   (node {i})"
        except LabError:
            per_node.append(f"  node {i}  {node.address:<20} down")
    lines.append(total or "no node answers")
    return lines + [""] + per_node


def watch_count(lab: Lab, count: int, show: Callable[[List[str]], None], stop: threading.Event) -> None:
    """The count pane, refreshed once a second until stop is set."""
    while True:
        show(count_lines(lab, count))
        if stop.wait(1.0):
            return


def lab_command(lab_dir: str, words: List[str], emit: Emit) -> int:
    """Runs `multimaster lab WORDS` on lab_dir as a user types it (shown with a `$` prompt),
    then shows what it printed and its exit status. In its own session: a Ctrl-C meant for the
    demo does not cut a node's restart in half (the demo waits for it, then brings the lab down)."""
    emit("$ multimaster lab " + " ".join(words))
    t = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "multimaster_lab", "lab", *words],
        env={**os.environ, "MULTIMASTER_LAB_DIR": lab_dir},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        timeout=300,  # `lab start` gives itself 90 s
    )
    for line in done.stdout.splitlines():
        emit(line)
    emit(f"  (exit {done.returncode}, {time.monotonic() - t:.1f} s)")
    return done.returncode


def crash_script(lab: Lab, count: int, emit: Emit, stop: threading.Event, failures: List[str]) -> None:
    """The crash pane: node i is crashed once schedule[i-1] rows are in, then started again;
    the next node waits until it is back. Stops early when stop is set, when every row is in
    before a crash is due, or after CRASH_SCRIPT_BOUND."""
    schedule = crash_schedule(count)
    emit(f"# crash node 1 at row {schedule[0]}, node 2 at row {schedule[1]} once node 1 is back")
    deadline = time.monotonic() + CRASH_SCRIPT_BOUND
    for i, at in enumerate(schedule, start=1):
        emit(f"# waiting for row {at}")
        while True:
            rows = lab.count_rows()
            if rows >= at:
                break
            if rows >= count or time.monotonic() > deadline:
                emit(f"# the loop ended before row {at}: node {i} not crashed")
                return
            if stop.wait(0.25):
                return
        if stop.is_set():
            # insert-test ended while node i-1 was restarting: nothing left to fail over.
            emit(f"# insert-test ended before node {i}'s crash: node {i} not crashed")
            return
        emit(f"# row {rows}: kill -9 of node {i}'s mariadbd (pid {lab.pid(i)})")
        if lab_command(str(lab.base_dir), ["crash", str(i)], emit) != 0:
            failures.append(f"lab crash {i} failed")
            return
        time.sleep(1.0)
        emit(f"# start node {i}: waits for its eviction, rejoins by IST")
        if lab_command(str(lab.base_dir), ["start", str(i)], emit) != 0:
            failures.append(f"lab start {i} failed")
            return
    emit("# done: both nodes crashed and back")


def insert_test_args(count: int, interval: float) -> List[str]:
    """insert-test's arguments for the demo: the course's loop on a fresh table."""
    return ["--count", str(count), "--interval", str(interval), "--create-table", "--clear"]


# --- tmux -----------------------------------------------------------------------------------


class TmuxError(Exception):
    """tmux is missing or refused a command: one line for the user."""


def tmux_path() -> str:
    path = shutil.which("tmux")
    if path is None:
        raise TmuxError(
            "--tmux needs tmux, which is not installed (apt-get install tmux); "
            "without --tmux the demo draws the three panes itself"
        )
    return path


def tmux(*words: str) -> str:
    done = subprocess.run([tmux_path(), *words], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise TmuxError(f"tmux {words[0]}: {done.stderr.strip() or 'exit ' + str(done.returncode)}")
    return done.stdout


def pane_command(shown: str, argv: List[str]) -> str:
    """A pane's command: shows what it runs, runs it, then leaves a shell in the pane, so the user
    can take the pane over (Ctrl-C, then type). Run by sh, whatever the user's tmux shell."""
    script = f"printf '%s\\n' {shlex.quote('$ ' + shown)}; {shlex.join(argv)}; exec \"${{SHELL:-sh}}\""
    return shlex.join(["sh", "-c", script])


#: The panes' titles, shown on their top borders (a tmux pane option, which a program in the
#: pane cannot overwrite as it can the pane's own title).
TITLES = ("insert-test", "SELECT COUNT(*)", "lab crash / lab start")


def open_tmux_session(lab: Lab, count: int, interval: float, env: Dict[str, str], name: str) -> None:
    """A detached tmux session `name` the size of this terminal: insert-test on the left, the
    count above the crash script on the right, each pane titled with what it runs."""
    cols, lines = shutil.get_terminal_size((160, 45))
    me = [sys.executable, "-m", "multimaster_lab.panes"]
    lab_args = ["--dir", str(lab.base_dir), "--count", str(count)]
    insert = insert_test_args(count, interval)
    # The course's variables (they hold the lab's password) go in the session's environment, not
    # on a command line that tmux and ps show.
    env_flags = [w for k, v in env.items() for w in ("-e", f"{k}={v}")]
    new = ["-P", "-F", "#{pane_id}"]
    insert_pane = tmux(
        "new-session", "-d", *new, "-s", name, "-n", "course demo", "-x", str(cols), "-y", str(lines), *env_flags,
        pane_command("insert-test " + " ".join(insert), [sys.executable, "-m", "multimaster_lab.course", *insert]),
    ).strip()  # fmt: skip
    count_pane = tmux("split-window", "-h", *new, "-t", insert_pane, "-l", "50%",
                      pane_command("watch the count", [*me, "count", *lab_args])).strip()  # fmt: skip
    crash_pane = tmux("split-window", "-v", *new, "-t", count_pane, "-l", "65%",
                      pane_command("the crash script", [*me, "crash", *lab_args])).strip()  # fmt: skip
    for pane, title in zip((insert_pane, count_pane, crash_pane), TITLES):
        tmux("set-option", "-p", "-t", pane, "@multimaster_pane", title)
    tmux("set-option", "-w", "-t", insert_pane, "pane-border-status", "top")
    tmux("set-option", "-w", "-t", insert_pane, "pane-border-format", " #{@multimaster_pane} ")
    tmux("set-option", "-t", name, "status-left-length", "80")
    tmux("set-option", "-t", name, "status-left", " multimaster demo: the lab comes down when this session ends ")
    tmux("set-option", "-t", name, "status-right", "")


def session_alive(name: str) -> bool:
    return (
        subprocess.run(
            [tmux_path(), "has-session", "-t", name], stdin=subprocess.DEVNULL, capture_output=True, timeout=30
        ).returncode
        == 0
    )


def run_tmux(lab: Lab, count: int, interval: float, env: Dict[str, str]) -> int:
    """`multimaster demo --tmux` once the lab is up: opens the session, attaches this terminal
    to it (switches to it inside tmux), and returns once the session has ended. The caller
    brings the lab down."""
    name = f"multimaster-demo-{os.getpid()}"
    open_tmux_session(lab, count, interval, env, name)
    try:
        print(f"=== tmux session {name}: the lab comes down when it ends (tmux kill-session -t {name})", flush=True)
        if sys.stdin.isatty() and sys.stdout.isatty():
            if os.environ.get("TMUX"):
                try:
                    tmux("switch-client", "-t", name)
                except TmuxError:  # no client of this server to switch (a detached session)
                    print(f"=== see it with: tmux attach -t {name}", flush=True)
            else:
                subprocess.run([tmux_path(), "attach-session", "-t", name])
                if session_alive(name):
                    print(f"=== detached: {name} runs on; Ctrl-C here ends it and brings the lab down", flush=True)
        while session_alive(name):
            time.sleep(0.5)
        return 0
    finally:
        if session_alive(name):
            subprocess.run([tmux_path(), "kill-session", "-t", name], capture_output=True, timeout=30)


# --- the pane commands ------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m multimaster_lab.panes", description=__doc__.split("\n\n")[0])
    p.add_argument("pane", choices=["count", "crash"])
    p.add_argument("--dir", default=None, help="the lab's directory")
    p.add_argument("--count", type=int, default=100, help="rows the loop inserts")
    args = p.parse_args(argv)
    try:
        lab = Lab.load(args.dir)
        if args.pane == "count":

            def show(lines: List[str]) -> None:
                sys.stdout.write("\033[H\033[2J" + "\n".join(lines) + "\n")  # home, clear: as `watch`
                sys.stdout.flush()

            watch_count(lab, args.count, show, threading.Event())
            return 0
        failures: List[str] = []
        crash_script(lab, args.count, lambda line: print(line, flush=True), threading.Event(), failures)
        return 1 if failures else 0
    except LabError as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
