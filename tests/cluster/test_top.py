"""`multimaster top` run as a user runs it: in tmux against the lab, its screen read with
`capture-pane` while node 1 is crashed and started again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Callable, List, Optional

import pytest

from support.bounds import LAB_WAIT, SLACK, detect_bound, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/install-deps)")


def node_line(screen: str, address: str) -> Optional[List[str]]:
    for line in screen.splitlines():
        if line.startswith(address + " "):
            return line.split()
    return None


def test_top_shows_a_crashed_node_down_then_up(cluster, tmp_path):
    env = {**os.environ, **cluster.env(), "TERM": "xterm"}
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]  # a tmux server of its own, started with this env
    one, two = env["AURORA_NODE1"], env["AURORA_NODE2"]  # as top shows them: as given
    command = f"{sys.executable} -m multimaster_lab.cli top"
    subprocess.run([*tmux, "new-session", "-d", "-s", "top", "-x", "160", "-y", "12", command], env=env, check=True)

    def screen() -> str:
        done = subprocess.run([*tmux, "capture-pane", "-p", "-t", "top"], capture_output=True, text=True)
        return done.stdout

    def state(address: str) -> Optional[str]:
        line = node_line(screen(), address)
        return line[1] if line else None

    def synced_up(address: str) -> bool:
        line = node_line(screen(), address)
        return line is not None and line[1] == "up" and "Synced" in line

    def see(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(predicate, timeout, what)
        except BaseException:
            print(f"top's screen:\n{screen()}")
            raise

    try:
        see(lambda: synced_up(one) and synced_up(two), 10 + SLACK, "both nodes up and Synced on top's screen")
        cluster.crash(1)
        see(lambda: state(one) == "down", detect_bound() + SLACK, "node 1 down on top's screen")
        assert synced_up(two), screen()
        cluster.start(1)
        see(lambda: synced_up(one), LAB_WAIT, "node 1 up again on top's screen")
        subprocess.run([*tmux, "send-keys", "-t", "top", "q"], check=True)
        wait_for(
            lambda: subprocess.run([*tmux, "has-session", "-t", "top"], capture_output=True).returncode != 0,
            SLACK + 3,
            "top to quit on q",
        )
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
