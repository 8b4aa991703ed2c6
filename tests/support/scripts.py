"""What the course and settings tests run and write: insert-test in a child process, and an
option file."""

from __future__ import annotations

import os
import subprocess
import sys


def insert_test(env_vars: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """insert-test with `env_vars` and none of the course's variables from this environment."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AURORA_NODE", "MYSQL_PWD", "DB_", "MULTIMASTER_URL"))
    }
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "multimaster_lab.course", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_cnf(tmp_path, text: str, name: str = "my.cnf") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)
