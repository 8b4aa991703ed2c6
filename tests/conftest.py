"""The tests' root: the shared helpers are plugins (tests/support, psycopg's layout), and each
folder says what a test needs by the markers it gets here:

    unit/      no server: runs anywhere, without root or MariaDB, in seconds
    cluster/   against a real lab (marker `cluster`)
    lab/       the lab itself: its processes, schedules, netns partitions, the demo, the
               notebook (markers `cluster` and `lab`)

`pytest -m "not cluster"` runs the unit tests alone and starts no lab. `slow` marks the tests of
several minutes (chaos, partitions, the notebook, the bench's smoke run)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

pytest_plugins = [
    "support.bounds",
    "support.aio",
    "support.labs",
    "support.threads",
    "support.interrupt",
    "support.faultproxy",
    "support.scripts",
]

HERE = Path(__file__).parent
# SQLAlchemy's compliance suite: a pytest run of its own (tests/sqlalchemy/run.py, its plugin
# and setup.cfg), never collected here.
collect_ignore = ["sqla_compliance"]
# Folder -> the markers of every test in it.
MARKERS = {"unit": [], "cluster": ["cluster"], "lab": ["cluster", "lab"]}
SLOW = {
    "test_chaos.py",
    "test_partition.py",
    "test_notebook.py",
    "test_bench_smoke.py",
    "test_demo.py",
    "test_demo_panes.py",
}


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        try:
            folder = path.relative_to(HERE).parts[0]
        except ValueError:
            continue
        for name in MARKERS.get(folder, []):
            item.add_marker(name)
        if path.name in SLOW:
            item.add_marker("slow")
