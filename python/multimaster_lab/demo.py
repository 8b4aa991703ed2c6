"""`multimaster demo`: the course demo, for real, on a local Galera cluster.

Brings the lab up (2 data nodes + arbitrator), runs insert-test (100 rows, 0.5 s apart), crashes
node 1 with kill -9 partway and restarts it, then node 2, prints the row count once a second
beside the loop's lines, verifies every row exists exactly once, and brings the lab down, also
when interrupted.

The crashes follow the rows written, not the clock: node 1 goes down once a fifth of the rows
are in, node 2 once node 1 is back and more than half are in. So node 1 is always crashed in
the middle of the loop, whatever the scale (`--count`, `--interval`) and the machine's speed;
a short run may end before node 1 is back, and then waits for its restart but skips node 2.

What it shows depends on where it runs: on a terminal, the course's three panes (screen.py: the
count once a second, insert-test's lines, the crash script's commands); with --tmux, a tmux
session of three panes each running the real command (panes.py), which a user can take over;
on a terminal too small for the panes, or not on a terminal (CI, a pipe), plain lines.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import List, Optional

from multimaster_lab import course, panes, screen
from multimaster_lab.coursedata import LAB, QUALIFIED_TABLE
from multimaster_lab.lab import Lab, LabError
from multimaster_lab.panes import crash_schedule


def watch_count(lab: Lab, stop: threading.Event) -> None:
    """The course's second pane: `SELECT COUNT(*) FROM course` in the mysql client, once a
    second, on whichever node answers."""
    while not stop.wait(1.0):
        for i in range(1, len(lab.nodes) + 1):
            try:
                ((count,),) = lab.sql(i, f"SELECT COUNT(*) FROM {QUALIFIED_TABLE}", timeout=2)
                print(f"    [count] {count} rows (node {i})", flush=True)
                break
            except LabError:
                continue
        else:
            print("    [count] no node answers", flush=True)


def crash_and_restart(lab: Lab, schedule: List[int], stop: threading.Event, failures: list) -> None:
    """The course's third pane: crash node i once schedule[i-1] rows are written, then bring it
    back; the next node waits until this one is back."""
    for i, at in enumerate(schedule, start=1):
        while lab.count_rows() < at:
            if stop.wait(0.25):
                return
        if stop.is_set():
            return
        print(f"=== crashing node {i} (kill -9 of mariadbd, pid {lab.pid(i)})", flush=True)
        lab.crash(i)
        time.sleep(1.0)
        print(f"=== restarting node {i} (waits for eviction, rejoins by IST)", flush=True)
        try:
            t = time.monotonic()
            lab.start(i)
            print(f"=== node {i} is back in the cluster after {time.monotonic() - t:.1f} s", flush=True)
        except LabError as e:
            failures.append(f"restart of node {i} failed: {e}")
            print(f"=== {failures[-1]}", flush=True)
            return


def finish(threads: List[threading.Thread], stop: threading.Event) -> None:
    """Stops the watcher and the crasher. A node restart under way must end first, or `down`
    could miss the process it is starting."""
    stop.set()
    for th in threads:
        th.join(timeout=1.5)  # the watcher and an idle crasher stop at once
    if any(th.is_alive() for th in threads):
        print("=== waiting for the node restart under way to finish", flush=True)
    for th in threads:
        th.join(timeout=120)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="multimaster demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=100, help="rows (default 100)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between rows (default 0.5)")
    p.add_argument("--dir", default=None, help="lab directory (default $MULTIMASTER_LAB_DIR or /tmp/multimaster-lab)")
    p.add_argument(
        "--hosts",
        metavar="ADDR,ADDR",
        help="the two nodes' loopback addresses, host or host:port (default 127.0.10.1,127.0.10.2)",
    )
    p.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--tmux",
        action="store_true",
        help="a tmux session of three panes, each running the real command (count, insert-test, "
        "the crash script); the lab comes down when the session ends",
    )
    shown.add_argument("--lines", action="store_true", help="plain lines, even on a terminal")
    return p.parse_args(argv)


def how_to_show(args: argparse.Namespace) -> str:
    """Which view: "tmux", "panes" (the built-in one) or "lines". The built-in view is the default on a
    terminal, also where tmux is installed: it owns the whole run, ends by itself and brings the
    lab down, where a tmux session lives until the user closes it."""
    if args.tmux:
        return "tmux"
    terminal = sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"
    if args.lines or not terminal:
        return "lines"
    why = screen.too_small()
    if why:
        print(f"multimaster demo: {why}: showing lines instead", file=sys.stderr, flush=True)
        return "lines"
    return "panes"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)

    # `kill` (or a CI timeout) must bring the lab down too, like Ctrl-C.
    signal.signal(signal.SIGTERM, _terminate)
    how = how_to_show(args)
    if how == "tmux":
        try:
            panes.tmux_path()
        except panes.TmuxError as e:
            print(f"multimaster demo: {e}", file=sys.stderr)
            return 2
    hosts = [h.strip() for h in args.hosts.split(",")] if args.hosts else None
    try:
        lab = Lab(nodes=2, base_dir=args.dir, hosts=hosts, **LAB)
    except LabError as e:
        print(f"multimaster demo: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    failures: List[str] = []
    threads: List[threading.Thread] = []
    try:
        print("=== bringing up the lab: 2 Galera nodes + arbitrator on loopback", flush=True)
        t = time.monotonic()
        lab.up()
        env = lab.env()
        print(
            f"=== lab up in {time.monotonic() - t:.1f} s: "
            + " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("AURORA_NODE")),
            flush=True,
        )
        if how == "panes":
            return screen.run_view(lab, args.count, args.interval, env)
        if how == "tmux":
            return panes.run_tmux(lab, args.count, args.interval, env)
        schedule = crash_schedule(args.count)
        threads = [
            threading.Thread(target=watch_count, args=(lab, stop), daemon=True),
            threading.Thread(target=crash_and_restart, args=(lab, schedule, stop, failures), daemon=True),
        ]
        for th in threads:
            th.start()
        rc = course.main(
            ["--count", str(args.count), "--interval", str(args.interval), "--create-table", "--clear"], env=env
        )
        finish(threads, stop)
        if failures:
            print(f"multimaster demo: {'; '.join(failures)}", file=sys.stderr)
            return rc or 1
        return rc
    except (LabError, panes.TmuxError) as e:
        print(f"multimaster demo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("multimaster demo: interrupted", file=sys.stderr)
        return 130
    finally:
        finish(threads, stop)
        if not args.keep:
            print("=== bringing the lab down", flush=True)
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
