"""The demo's three panes, read off a real screen: `multimaster demo --tmux` (a tmux session whose
panes run the count, insert-test and the crash script) and the built-in full-screen view run in
a tmux pane, each checked with `tmux capture-pane` once the run is over (count N of N, both
crashes and restarts typed, the summary), and the lab down afterwards. A terminal too small for
the panes falls back to lines.

Each test runs its own tmux server (TMUX_TMPDIR in a fresh directory), killed in a finally.
The `--tmux` run uses the demo lab's addresses and directory (test_demo.py's); the built-in
view's run has a lab of its own (MULTIMASTER_TEST_DEMO_VIEW_HOSTS/_DIR), so that it can start
beside the other and both runs take the time of one.

`MULTIMASTER_DEMO_SVG=PATH` makes the built-in view's test write its final screen there as an
SVG: how the README's picture (.github/course-demo-panes.svg) is made.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Iterator, List

import pytest

from multimaster_lab.panes import TITLES

from support.ansisvg import to_svg
from support.bounds import SLACK, wait_for
from support.labs import cleared, lab_processes

DEMO_HOSTS = os.environ.get("MULTIMASTER_TEST_DEMO_HOSTS", "127.0.62.1,127.0.62.2")
DEMO_DIR = os.environ.get("MULTIMASTER_TEST_DEMO_DIR", "/tmp/multimaster-pytest-demo")
VIEW_HOSTS = os.environ.get("MULTIMASTER_TEST_DEMO_VIEW_HOSTS", "127.0.63.1,127.0.63.2")
# Not a prefix of DEMO_DIR, nor it of this: lab_processes finds a lab by its directory's name.
VIEW_DIR = os.environ.get("MULTIMASTER_TEST_DEMO_VIEW_DIR", "/tmp/multimaster-pytest-view-demo")
# 60 rows 0.3 s apart: node 1 is crashed at row 12 and back about 12 s later (1 s, then Galera's
# eviction and IST; 10-13 s measured on a loaded machine), normally before the loop's 14.4 s of
# interval left and its ~6 s failover stall are over, so node 2 is crashed too, at row 33 or later.
# The `--tmux` crash pane crashes node 2 even once the loop is over; the built-in view's skips it
# then, and says so (assert_crash_pane).
COUNT, INTERVAL = 60, 0.3
# `lab up` gives itself 120 s, each restart 90 s, the loop 18 s plus two failover stalls.
RUN_TIMEOUT = 420
LAB_UP = 120 + SLACK
# From the session's end (or `q`) to the demo's exit: the count's last query, then `lab down`.
EXIT_BOUND = 60 + SLACK
SIZE = (160, 45)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")


class Tmux:
    """A tmux server of the test's own: its socket in a fresh directory, so it never meets the
    user's; `kill()` ends it and everything its panes run."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="mm-tmux-")
        self.env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "TMUX"}
        self.env["TMUX_TMPDIR"] = self.dir

    def __call__(self, *words: str) -> str:
        done = subprocess.run(["tmux", *words], env=self.env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"tmux {' '.join(words)}: {done.stderr}"
        return done.stdout

    def capture(self, target: str, escapes: bool = False, history: bool = False) -> str:
        flags = ["-p", "-J"] + (["-e"] if escapes else []) + (["-S", "-"] if history else [])
        return self("capture-pane", *flags, "-t", target)

    def sessions(self) -> List[str]:
        done = subprocess.run(
            ["tmux", "list-sessions", "-F", "#{session_name}"], env=self.env, capture_output=True, text=True, timeout=30
        )
        return done.stdout.split() if done.returncode == 0 else []

    def kill(self) -> None:
        """Ends the server and waits for its process to be gone (its command line is the first
        session's command, which names the demo's lab directory)."""
        done = subprocess.run(
            ["tmux", "display-message", "-p", "#{pid}"], env=self.env, capture_output=True, text=True, timeout=30
        )
        subprocess.run(["tmux", "kill-server"], env=self.env, capture_output=True, timeout=30)
        if done.returncode == 0 and done.stdout.strip().isdigit():
            wait_for(lambda: not os.path.exists(f"/proc/{done.stdout.strip()}"), 10 + SLACK, "the tmux server to exit")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def lab_dir() -> Iterator[str]:
    with cleared(DEMO_DIR) as path:
        yield path


def demo_argv(lab_dir: str, *extra: str, count: int = COUNT, hosts: str = DEMO_HOSTS) -> List[str]:
    return [
        sys.executable, "-m", "multimaster_lab", "demo", *extra,
        "--count", str(count), "--interval", str(INTERVAL), "--dir", lab_dir, "--hosts", hosts,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def view_run() -> Iterator[Tmux]:
    """The built-in view's run, started in a terminal of a fixed size (a tmux pane, which stays
    with the exit status once the demo ends) when a test first asks for it: the `--tmux` test
    asks first, so the two runs overlap."""
    with cleared(VIEW_DIR):
        server = Tmux()
        try:
            command = shlex.join(demo_argv(VIEW_DIR, hosts=VIEW_HOSTS)) + '; echo "[demo exited $?]"; sleep 600'
            server("new-session", "-d", "-s", "view", "-x", str(SIZE[0]), "-y", str(SIZE[1]), command)
            yield server
        finally:
            server.kill()


def wait_screen(read: Callable[[], str], done: Callable[[str], bool], timeout: float, what: str) -> str:
    """Polls a screen until done(screen) holds; fails with the last screen after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        screen = read()
        if done(screen):
            return screen
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; the screen:\n{screen}")
        time.sleep(0.5)


def assert_crash_pane(text: str, node2_may_be_skipped: bool = False) -> None:
    """Node 1 crashed and started again, then node 2. Where the crash script stops once
    insert-test has exited (the built-in view), node 2 is skipped if node 1's restart outlasted
    the loop, and the pane must then say so: which one happens is the machine's timing."""
    for line in ("$ multimaster lab crash 1", "$ multimaster lab start 1"):
        assert line in text, text
    skipped = "# insert-test ended before node 2's crash: node 2 not crashed"
    if not (node2_may_be_skipped and skipped in text):
        for line in ("$ multimaster lab crash 2", "$ multimaster lab start 2", "# done: both nodes crashed and back"):
            assert line in text, text
    assert "(exit 1" not in text, text


def assert_summary(text: str) -> None:
    assert f"Summary: expected {COUNT}, found {COUNT}, distinct {COUNT}, lost 0, duplicated 0" in text, text
    assert "OK: every row written exactly once" in text, text


def assert_lab_gone(lab_dir: str, tmux: Tmux) -> None:
    tmux.kill()  # the server that ran the demo: its command line names lab_dir too
    assert lab_processes(lab_dir) == []
    assert not os.path.exists(lab_dir)


def test_demo_tmux_session_shows_three_panes(view_run, lab_dir, tmux):
    # view_run: the built-in view's run starts now, beside this one.
    demo = subprocess.Popen(
        demo_argv(lab_dir, "--tmux"),
        env={**tmux.env, "COLUMNS": str(SIZE[0]), "LINES": str(SIZE[1])},  # the session's size
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def titled() -> Dict[str, str]:
            """The session's panes by title, once it has three titled ones."""
            for session in tmux.sessions():
                listed = tmux("list-panes", "-t", session, "-F", "#{pane_id} #{@multimaster_pane}").splitlines()
                found = {title: pane for pane, title in (line.split(" ", 1) for line in listed) if title}
                if len(found) == 3:
                    return found
            return {}

        wait_for(lambda: titled() or demo.poll() is not None, LAB_UP, "the demo's tmux session")
        assert demo.poll() is None, demo.communicate()[0]
        (session,) = tmux.sessions()
        panes = titled()
        assert list(panes) == list(TITLES), panes  # left, then top right, then bottom right
        insert, count, crash = panes["insert-test"], panes["SELECT COUNT(*)"], panes["lab crash / lab start"]
        wait_screen(
            lambda: tmux.capture(crash),
            lambda s: "# done" in s or "not crashed" in s,
            RUN_TIMEOUT,
            "the crash script to finish",
        )
        wait_screen(lambda: tmux.capture(insert), lambda s: "OK:" in s or "FAILED" in s, RUN_TIMEOUT, "insert-test")
        wait_screen(
            lambda: tmux.capture(count),
            lambda s: s.count(f"{COUNT} rows") == 2,
            10 + SLACK,
            "the count pane to show every row on both nodes",
        )
        assert f"count {COUNT} of {COUNT}, distinct {COUNT}" in tmux.capture(count)
        assert_crash_pane(tmux.capture(crash, history=True))
        inserted = tmux.capture(insert, history=True)
        assert_summary(inserted)
        assert "$ insert-test --count" in inserted
        assert inserted.count("1 record inserted successfully") == COUNT, inserted
        assert "*** node" in inserted and "(failed over)" in inserted, inserted
        # The user ends the session: the demo brings the lab down.
        tmux("kill-session", "-t", session)
        out, _ = demo.communicate(timeout=EXIT_BOUND)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, 9)
            demo.wait()
    assert demo.returncode == 0, out
    assert "=== bringing the lab down" in out, out
    assert_lab_gone(lab_dir, tmux)


def test_demo_builtin_view_in_a_terminal(view_run):
    tmux, lab_dir = view_run, VIEW_DIR
    # Resized (mid-run, or on the final screen when the other test took longer): too small, it
    # says so; large again, the panes are back.
    wait_screen(lambda: tmux.capture("view"), lambda s: "record inserted" in s, LAB_UP, "the first rows")
    tmux("resize-window", "-t", "view", "-x", "60", "-y", "15")
    wait_screen(lambda: tmux.capture("view"), lambda s: "terminal too small (60x15)" in s, 10, "the view to shrink")
    tmux("resize-window", "-t", "view", "-x", str(SIZE[0]), "-y", str(SIZE[1]))
    wait_screen(lambda: tmux.capture("view"), lambda s: "record inserted" in s, 10, "the view to grow back")
    screen = wait_screen(lambda: tmux.capture("view"), lambda s: "press q" in s or "[demo exited" in s,
                         RUN_TIMEOUT, "the run to end")  # fmt: skip
    assert "press q" in screen, screen
    # The count, refreshed once a second, catches up with insert-test's last row.
    final = f"count {COUNT} of {COUNT}, distinct {COUNT}"
    screen = wait_screen(lambda: tmux.capture("view"), lambda s: final in s, 5 + SLACK, "the final count")
    lines = screen.splitlines()
    assert "insert-test" in lines[0] and "SELECT COUNT(*)" in lines[0], screen
    assert "lab crash / lab start" in screen
    assert f"count {COUNT} of {COUNT}, distinct {COUNT}" in screen, screen
    assert "done (OK)" in lines[-1], screen
    picture = os.environ.get("MULTIMASTER_DEMO_SVG")
    if picture:
        with open(picture, "w") as f:
            f.write(to_svg(tmux.capture("view", escapes=True), title="multimaster demo: the course's three panes"))
    tmux("send-keys", "-t", "view", "q")
    screen = wait_screen(lambda: tmux.capture("view", history=True), lambda s: "[demo exited" in s, EXIT_BOUND,
                         "the demo to exit")  # fmt: skip
    # Back on the plain terminal: what the panes showed, the summary, the lab brought down.
    assert "[demo exited 0]" in screen, screen
    assert_crash_pane(screen, node2_may_be_skipped=True)
    assert_summary(screen)
    assert "=== bringing the lab down" in screen, screen
    assert_lab_gone(lab_dir, tmux)


def test_demo_builtin_view_ctrl_c_restores_the_terminal(lab_dir, tmux):
    # Node 1 would only be crashed after 200 rows: Ctrl-C lands in the plain loop.
    command = shlex.join(demo_argv(lab_dir, count=1000))
    tmux("new-session", "-d", "-s", "stop", "-x", "120", "-y", "30", command + '; echo "[demo exited $?]"; sleep 600')
    wait_screen(lambda: tmux.capture("stop"), lambda s: s.count("record inserted") >= 3, LAB_UP, "the first rows")
    assert "─ insert-test" in tmux.capture("stop")
    tmux("send-keys", "-t", "stop", "C-c")  # the terminal's Ctrl-C: SIGINT to the foreground group
    screen = wait_screen(lambda: tmux.capture("stop", history=True), lambda s: "[demo exited" in s, EXIT_BOUND,
                         "the demo to exit")  # fmt: skip
    # The full-screen view is gone (the terminal's own screen is back), the lab brought down.
    assert "─ insert-test" not in screen, screen
    assert "[demo exited 130]" in screen, screen
    assert "insert-test: interrupted" in screen, screen
    assert "multimaster demo: interrupted" in screen, screen
    assert "=== bringing the lab down" in screen, screen
    assert_lab_gone(lab_dir, tmux)


def test_demo_too_small_terminal_falls_back_to_lines(tmux):
    # The choice comes first: a host that is no loopback address then stops the demo before any
    # lab is brought up, as lines (the plain path itself is test_demo.py's).
    command = shlex.join(demo_argv("/tmp/multimaster-pytest-no-lab", count=0)).replace(
        DEMO_HOSTS, "192.0.2.1,192.0.2.2"
    )
    tmux("new-session", "-d", "-s", "small", "-x", "60", "-y", "15", command + '; echo "[demo exited $?]"; sleep 600')
    screen = wait_screen(lambda: tmux.capture("small", history=True), lambda s: "[demo exited" in s, 30 + SLACK,
                         "the demo to exit")  # fmt: skip
    assert "the terminal is 60x15, the three panes need 80x20: showing lines instead" in screen, screen
    assert "[demo exited 2]" in screen, screen
    assert "multimaster demo: " in screen.replace("multimaster demo: the terminal", ""), screen
    assert not os.path.exists("/tmp/multimaster-pytest-no-lab")


def test_demo_tmux_without_tmux_says_so(tmp_path):
    # PATH without tmux: one line, exit 2, before any lab is brought up.
    lab = tmp_path / "lab"
    done = subprocess.run(
        [*demo_argv(str(lab), "--tmux")],
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30 + SLACK,
    )
    assert done.returncode == 2, done
    assert done.stderr.strip() == (
        "multimaster demo: --tmux needs tmux, which is not installed (apt-get install tmux); "
        "without --tmux the demo draws the three panes itself"
    ), done
    assert not lab.exists()
