"""The lab fixtures: one real Galera lab per session (2 data nodes + arbitrator on loopback,
its own addresses so it never meets a developer's `multimaster lab`), a fresh table per test,
and MultiMaster instances that are always closed; labs of their own for a module
(`running_lab`), torn down even when tests fail; and the questions tests ask a lab. Every lab
here is the course's (multimaster_lab.coursedata.LAB: its database, user and table)."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from multimaster import MultiMaster
from multimaster_lab.coursedata import DATABASE, DEFINITION, LAB, PASSWORD, USER
from multimaster_lab.lab import Lab, LabError, _check_installed

if TYPE_CHECKING:
    from multimaster import Event, InsertReport

LAB_DIR = os.environ.get("MULTIMASTER_TEST_LAB_DIR", "/tmp/multimaster-pytest-lab")
# Other addresses (MULTIMASTER_TEST_LAB_HOSTS=a,b) let two suites run side by side.
LAB_HOSTS = os.environ.get("MULTIMASTER_TEST_LAB_HOSTS", "127.0.40.1,127.0.40.2").split(",")
LAB3_DIR = os.environ.get("MULTIMASTER_TEST_LAB3_DIR", "/tmp/multimaster-pytest-lab3")
LAB3_HOSTS = os.environ.get("MULTIMASTER_TEST_LAB3_HOSTS", "127.0.50.1,127.0.50.2,127.0.50.3").split(",")
# The course's table, created fresh for a test (so without IF NOT EXISTS): `.format(table=...)`.
COURSE_DDL = "CREATE TABLE {table} (" + DEFINITION + ")"

_tables = itertools.count()


def _lab_installed() -> bool:
    try:
        _check_installed()  # the lab's own check: the same tools it needs to run
    except LabError:
        return False
    return True


# For tests that start labs of their own (the session lab below needs the same).
needs_lab = pytest.mark.skipif(
    not _lab_installed() or os.geteuid() != 0,
    reason="needs root and apt packages mariadb-server galera-4 galera-arbitrator-4 rsync",
)


@pytest.fixture(scope="module")
def lab3() -> Iterator[Lab]:
    """3 data nodes, no arbitrator (one node out leaves a majority of 2), for the tests of one
    module: test_chaos, test_rolling and test_membership each start and end their own."""
    with running_lab(3, base_dir=LAB3_DIR, hosts=LAB3_HOSTS, arbitrator=False) as lab:
        yield lab


@contextlib.contextmanager
def cleared(lab_dir: str) -> Iterator[str]:
    """A lab directory a test's subprocess (the demo) brings a lab up in: cleared of what a
    killed earlier run left, brought down afterwards whatever the test saw (the test itself
    checks that its subprocess did it)."""

    def clean() -> None:
        try:
            Lab.load(lab_dir).down()
        except Exception:
            pass

    clean()
    assert not lab_processes(lab_dir), "a lab process from an earlier run is still there"
    try:
        yield lab_dir
    finally:
        clean()


def lab_processes(lab_dir: str) -> List[str]:
    """The command lines of every process that mentions lab_dir (mariadbd's --datadir,
    garbd's --log): what a lab left running."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if lab_dir.encode() in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def ready(lab: Lab, i: int) -> bool:
    """Node i takes writes: Synced, wsrep_ready and in the Primary component, as the lab's
    own check (`status()`'s "ready", multimaster_lab.lab.galera.is_ready) says. False when the
    lab cannot tell (the node is going down or starting)."""
    try:
        return bool(lab.status()[i - 1]["ready"])
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
        while not ready(lab, i):
            if time.monotonic() > deadline:
                lab.crash(i)
                lab.start(i)
                break
            time.sleep(0.5)


def node_downs(mm: MultiMaster, address: str, since: float = 0.0) -> int:
    """How many node_down events `mm` recorded for `address` at or after `since` (time.time())."""
    return sum(1 for e in mm.events() if e["kind"] == "node_down" and e["node"] == address and e["time"] >= since)


def sql_string(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def running(lab: Lab, i: int, prefix: str) -> List[int]:
    """The processlist ids of node i's sessions running a statement that starts with `prefix`
    (the looking session itself excluded)."""
    rows = lab.sql(
        i,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
        f"AND LEFT(INFO, {len(prefix)}) = {sql_string(prefix)}",
    )
    return [int(row[0]) for row in rows if row[0] is not None]


def view_id(lab: Lab, i: int) -> int:
    """Node i's cluster view number: it changes whenever a member leaves (is evicted) or joins."""
    ((_, value),) = lab.sql(i, "SHOW STATUS LIKE 'wsrep_cluster_conf_id'")
    return int(value or 0)


NODE_EVENTS = ("node_down", "node_up", "failover")


def node_events(mm: MultiMaster, since: float = 0.0) -> List[Event]:
    """The events of `mm` that say a node was taken for dead, back, or failed over from, at or
    after `since` (time.time())."""
    return [e for e in mm.events() if e["kind"] in NODE_EVENTS and e["time"] >= since]


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with running_lab(2, base_dir=LAB_DIR, hosts=LAB_HOSTS) as lab:
        yield lab


@contextlib.contextmanager
def running_lab(nodes: int, **options: Any) -> Iterator[Lab]:
    """A lab of its own for a test module, the course's (`options` are Lab's, over
    coursedata.LAB): whatever a killed earlier run left in its directory is brought down first
    (for a netns lab, also its namespaces, veths and bridge, found by name even without
    lab.json), and the lab is brought down afterwards even when a test fails."""
    try:
        Lab.load(options["base_dir"]).down()
    except Exception:
        pass
    lab = Lab(nodes, **{**LAB, **options})
    try:
        lab.down()
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
    # The other nodes apply the DDL just after node 1 answers: a causal read there waits for
    # it, so that a test's first statement on any node finds the table (not 1146).
    for i in range(2, len(cluster.nodes) + 1):
        cluster.sql(i, f"SET SESSION wsrep_sync_wait=1; SELECT 1 FROM {DATABASE}.{name} LIMIT 0")
    yield name
    try:
        heal(cluster)
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{name}")
    except Exception:
        pass


def course_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """A test's options for an instance on the lab: the course's account and database, and a
    1 s connect timeout, unless the test says otherwise."""
    return {"database": DATABASE, "user": USER, "password": PASSWORD, "connect_timeout": 1.0, **options}


@pytest.fixture
def make_mm(cluster: Lab) -> Iterator[Callable[..., MultiMaster]]:
    """Builds MultiMaster instances on the lab (tests may pass other nodes or options);
    closes them all afterwards."""
    made: List[MultiMaster] = []

    def make(nodes: Optional[List[str]] = None, **options: Any) -> MultiMaster:
        mm = MultiMaster(nodes or cluster.addresses, **course_options(options))
        made.append(mm)
        return mm

    yield make
    for mm in made:
        mm.close()


def report_of(error: BaseException) -> InsertReport:
    """The InsertReport that insert_many attached to the exception it raised (its own, or one
    raised by a callback, or KeyboardInterrupt)."""
    report = getattr(error, "report", None)
    assert report is not None, f"no report on {error!r}"
    return report


def count_titles(lab: Lab, table: str) -> Tuple[int, int]:
    """(rows, distinct titles) in the table, read causally on a live node."""
    for i in range(1, len(lab.nodes) + 1):
        if lab.pid(i) is None:
            continue
        try:
            ((rows, distinct),) = lab.sql(
                i, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}"
            )
            return int(rows or 0), int(distinct or 0)
        except Exception:
            continue
    raise AssertionError("no node could count the rows")
