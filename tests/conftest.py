"""Shared fixtures: one real Galera lab per session (2 data nodes + arbitrator on loopback,
its own addresses so it never meets a developer's `multimaster lab`), a fresh table per test,
and MultiMaster instances that are always closed. The lab is torn down even when tests fail."""

from __future__ import annotations

import itertools
import os
import time
from typing import Callable, Iterator, List

import pytest

from multimaster import MultiMaster
from multimaster.lab import Lab

LAB_DIR = os.environ.get("MULTIMASTER_TEST_LAB_DIR", "/tmp/multimaster-pytest-lab")
LAB_HOSTS = ["127.0.40.1", "127.0.40.2"]
USER, PASSWORD, DATABASE = "admin", "cloudacademy", "demo"
COURSE_DDL = ("CREATE TABLE {table} (title VARCHAR(40), instructor VARCHAR(40), duration INT, "
              "created DATE, url VARCHAR(100))")

_tables = itertools.count()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> None:
    """Polls until `predicate()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def _synced(lab: Lab, i: int) -> bool:
    try:
        status = lab.status()[i - 1]
        return status["state"] == "Synced" and bool(status["ready"])
    except Exception:
        return False


def heal(lab: Lab) -> None:
    """Every node running, unfrozen and Synced, whatever the last test did to it. A node that
    does not come back by itself (thawed after eviction, isolated) is restarted."""
    for i in range(1, len(lab.nodes) + 1):
        if lab.pid(i) is None:
            lab.start(i)
            continue
        lab.thaw(i)
        deadline = time.monotonic() + 60
        while not _synced(lab, i):
            if time.monotonic() > deadline:
                lab.crash(i)
                lab.start(i)
                break
            time.sleep(0.5)


def crash_and_restart_each(lab: Lab) -> None:
    """The course's third pane: kill -9 each node in turn, restarting it before the next."""
    for i in range(1, len(lab.nodes) + 1):
        lab.crash(i)
        time.sleep(1)
        lab.start(i)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    try:  # a lab left behind by a killed earlier run
        Lab.load(LAB_DIR).down()
    except Exception:
        pass
    lab = Lab(2, base_dir=LAB_DIR, hosts=LAB_HOSTS)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    """The session lab, healed before the test: every node up and Synced."""
    heal(lab)
    return lab


@pytest.fixture
def table(cluster: Lab) -> Iterator[str]:
    """A fresh course-shaped table for this test, dropped afterwards."""
    name = f"t{os.getpid()}_{next(_tables)}"
    cluster.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{name}"))
    yield name
    try:
        heal(cluster)
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    except Exception:
        pass


@pytest.fixture
def make_mm(cluster: Lab) -> Iterator[Callable[..., MultiMaster]]:
    """Builds MultiMaster instances on the lab (tests may pass other nodes or options);
    closes them all afterwards."""
    made: List[MultiMaster] = []

    def make(nodes: "List[str] | None" = None, **options: object) -> MultiMaster:
        options.setdefault("database", DATABASE)
        options.setdefault("user", USER)
        options.setdefault("password", PASSWORD)
        options.setdefault("connect_timeout", 1.0)
        mm = MultiMaster(nodes or cluster.addresses, **options)
        made.append(mm)
        return mm

    yield make
    for mm in made:
        mm.close()


def course_rows(n: int, start: int = 0) -> list:
    return [(f"Title{x}", "Jeremy Cook", 100, "1999-03-30", "http://here.com") for x in range(start, start + n)]


COLUMNS = ["title", "instructor", "duration", "created", "url"]


def count_titles(lab: Lab, table: str) -> "tuple[int, int]":
    """(rows, distinct titles) in the table, read causally on a live node."""
    for i in range(1, len(lab.nodes) + 1):
        if lab.pid(i) is None:
            continue
        try:
            (rows, distinct), = lab.sql(i, f"SET SESSION wsrep_sync_wait=1; "
                                           f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}")
            return int(rows or 0), int(distinct or 0)
        except Exception:
            continue
    raise AssertionError("no node could count the rows")
