"""The local Galera lab (multimaster_lab.lab): its pure parts on any machine, then the lab itself
against real mariadbd and garbd processes.

The first tests need neither root nor a MariaDB install: the layout, my.cnf, the parsing of
what Galera and the mariadb client print, the choices made from it, lab.json's bookkeeping, the
CLI's refusals. The rest (marked needs_lab) run a lab in its own directory on 127.0.20.x, so it
runs beside a lab someone started on the default 127.0.10.x. One cluster serves those; each
test first brings it back to healthy with `up`, which also exercises `up` being idempotent.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from typing import Iterator, Set

import pytest

from multimaster_lab.coursedata import LAB, QUALIFIED_TABLE
from multimaster_lab.lab import Lab, LabError, Scheduled, main

from support.labs import lab_processes, needs_lab

HOSTS = ["127.0.20.1", "127.0.20.2"]


def _make_dir() -> str:
    # Not pytest's tmp_path: the nodes run as `mysql`, which cannot enter a 0700 directory.
    path = tempfile.mkdtemp(prefix="mm-lab-test-", dir="/tmp")
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="module")
def lab_dir() -> Iterator[str]:
    path = _make_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


# Not support.labs' session `lab`: this module crashes, restarts and downs a cluster of its own.
@pytest.fixture(scope="module")
def module_lab(lab_dir: str) -> Iterator[Lab]:
    lab = Lab(2, base_dir=lab_dir, hosts=HOSTS, **LAB)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def cluster(module_lab: Lab) -> Lab:
    """The module's lab, healthy whatever the previous test left behind (in this module it
    replaces support.labs' `cluster`, which heals the shared session lab)."""
    module_lab.up(timeout=120)
    return module_lab


def insert(lab: Lab, node: int, title: str) -> None:
    lab.sql(node, f"INSERT INTO {QUALIFIED_TABLE} VALUES ('{title}', 'lab', 1, CURDATE(), 'u')")


def insert_within(lab: Lab, node: int, title: str, seconds: float) -> float:
    """Insert, retrying while the node is not ready; return how long it took."""
    start = time.monotonic()
    while True:
        try:
            insert(lab, node, title)
            return time.monotonic() - start
        except LabError as e:
            if time.monotonic() - start > seconds:
                raise AssertionError(f"node {node} took no write within {seconds} s: {e}") from None
            time.sleep(0.2)


def titles(lab: Lab, node: int) -> Set[str]:
    # A causal read: the node first applies everything the cluster committed before it.
    rows = lab.sql(node, f"SET SESSION wsrep_sync_wait = 1; SELECT title FROM {QUALIFIED_TABLE}")
    return {str(row[0]) for row in rows}


def last_incarnation_log(lab: Lab, node: int) -> str:
    text = lab.nodes[node - 1].log.read_text(errors="replace")
    return text[text.rfind("Starting MariaDB") :]


# ------------------------------------------------------------------------------------------------
# Without processes: on any machine, without root or MariaDB


# ------------------------------------------------------------------------------------------------
# With processes (root and the lab's packages)


@needs_lab
def test_port_taken_is_named_and_nothing_is_started() -> None:
    base_dir = _make_dir()
    listener = socket.socket()
    try:
        listener.bind(("127.0.21.2", 4567))
        listener.listen()
        lab = Lab(2, base_dir=base_dir, hosts=["127.0.21.1", "127.0.21.2"], **LAB)
        with pytest.raises(LabError, match="127.0.21.2:4567"):
            lab.up(timeout=30)
        assert not os.path.exists(os.path.join(base_dir, "lab.json"))
        assert lab_processes(base_dir) == []
    finally:
        listener.close()
        shutil.rmtree(base_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# On the module's cluster (in file order; `down` last)


@needs_lab
def test_up_replicates_and_is_idempotent(cluster: Lab) -> None:
    insert(cluster, 1, "up-1")
    assert "up-1" in titles(cluster, 2)

    pids = [cluster.pid(1), cluster.pid(2), cluster.arbitrator_pid()]
    started = time.monotonic()
    cluster.up(timeout=30)
    assert time.monotonic() - started < 5
    assert [cluster.pid(1), cluster.pid(2), cluster.arbitrator_pid()] == pids
    for row in cluster.status():
        assert row["ready"] and row["state"] == "Synced" and row["cluster_size"] == 3


@needs_lab
def test_crash_leaves_survivor_writable_and_start_rejoins_by_ist(cluster: Lab) -> None:
    crashed = cluster.crash(1)  # done before it returns: the same handle as crash(1, after=...)
    assert isinstance(crashed, Scheduled) and crashed.ok and crashed.states == ["done"]
    assert cluster.pid(1) is None
    # Galera's suspect timeout holds writes for ~6 s; the arbitrator keeps node 2 Primary.
    insert_within(cluster, 2, "while-1-down-a", seconds=15)
    insert(cluster, 2, "while-1-down-b")

    cluster.start(1, timeout=90)
    assert cluster.status()[0]["ready"]
    assert {"while-1-down-a", "while-1-down-b"} <= titles(cluster, 1)
    log = last_incarnation_log(cluster, 1)
    # The rsync script runs either way; it says which transfer it did.
    assert "IST received" in log and "rsync IST completed on joiner" in log


@needs_lab
def test_stop_start_freeze_thaw(cluster: Lab) -> None:
    pid = cluster.pid(1)
    cluster.start(1)  # running already: nothing happens
    assert cluster.pid(1) == pid

    cluster.stop(2)
    assert cluster.pid(2) is None
    insert_within(cluster, 1, "while-2-stopped", seconds=15)
    cluster.start(2, timeout=90)
    assert "while-2-stopped" in titles(cluster, 2)

    cluster.freeze(2)
    assert cluster.status()[1]["state"] == "frozen"
    cluster.thaw(2)
    deadline = time.monotonic() + 30
    while not cluster.status()[1]["ready"]:
        assert time.monotonic() < deadline, "node 2 not ready 30 s after thaw"
        time.sleep(0.2)


@needs_lab
def test_full_crash_then_start_one_by_one_keeps_data(cluster: Lab) -> None:
    insert(cluster, 1, "before-full-crash")
    cluster.crash(1)
    # Node 2 sees one write more than node 1: it is the one to bootstrap from.
    insert_within(cluster, 2, "only-node-2-saw", seconds=15)
    cluster.crash(2)
    assert cluster.pid(1) is None and cluster.pid(2) is None

    cluster.start(1, timeout=90)
    cluster.start(2, timeout=90)
    for node in (1, 2):
        assert {"before-full-crash", "only-node-2-saw"} <= titles(cluster, node)
    assert all(row["ready"] for row in cluster.status())


@needs_lab
def test_cli(cluster: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    base_dir = str(cluster.base_dir)
    assert main(["--dir", base_dir, "env"]) == 0
    assert "export AURORA_NODE1=127.0.20.1\n" in capsys.readouterr().out

    assert main(["status", "--dir", base_dir]) == 0
    table = capsys.readouterr().out
    assert "127.0.20.2:3306" in table and "Synced" in table

    assert main(["--dir", base_dir, "crash", "5"]) == 1
    err = capsys.readouterr().err
    assert "no node 5" in err and err.count("\n") == 1


@needs_lab
def test_down_after_a_crash_leaves_nothing_and_repeats(module_lab: Lab, lab_dir: str) -> None:
    lab = module_lab
    lab.up(timeout=120)
    lab.crash(1)
    lab.down()
    assert lab_processes(lab_dir) == []
    assert not os.path.exists(os.path.join(lab_dir, "lab.json"))
    lab.down()
    assert main(["--dir", lab_dir, "down"]) == 0


@needs_lab
def test_start_restores_a_survivor_that_lost_its_majority() -> None:
    """Two nodes without an arbitrator: after a crash the survivor is non-Primary for good;
    `start` promotes it (pc.bootstrap) and the crashed node rejoins with every row."""
    path = _make_dir()
    lab = Lab(2, base_dir=path, hosts=["127.0.23.1", "127.0.23.2"], arbitrator=False, **LAB)
    try:
        lab.up()
        insert(lab, 1, "before-crash")
        lab.crash(1)
        deadline = time.monotonic() + 30
        while lab.status()[1]["ready"]:
            assert time.monotonic() < deadline, "node 2 never noticed it lost its majority"
            time.sleep(0.5)
        with pytest.raises(LabError, match="1047"):
            insert(lab, 2, "no-quorum")
        lab.start(1)
        assert [s["state"] for s in lab.status()] == ["Synced", "Synced"]
        insert(lab, 2, "after-restore")
        assert titles(lab, 1) >= {"before-crash", "after-restore"}
    finally:
        lab.down()
        shutil.rmtree(path, ignore_errors=True)
