"""`multimaster lab add` and `lab remove I`: a running lab grows by one node that joins the
cluster with the data, and shrinks by its last node, which leaves gracefully and whose files go;
the layout (lab.json) follows. The default address of an added node needs no server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multimaster_lab.coursedata import QUALIFIED_TABLE
from multimaster_lab.lab import Lab, LabError, main
from multimaster_lab.lab.layout import next_host

from support.labs import lab_processes, needs_lab, running_lab

GROW_DIR = os.environ.get("MULTIMASTER_TEST_LAB_GROW_DIR", "/tmp/multimaster-pytest-lab-grow")
GROW_HOSTS = os.environ.get("MULTIMASTER_TEST_LAB_GROW_HOSTS", "127.0.72.1,127.0.72.2,127.0.72.3").split(",")


def test_an_added_node_takes_the_next_loopback_address() -> None:
    assert next_host(["127.0.10.1:3306", "127.0.10.2:3306"]) == "127.0.10.3:3306"
    assert next_host(["127.0.10.9:3307"]) == "127.0.10.10:3307"
    with pytest.raises(LabError, match="--host"):
        next_host(["127.255.255.254:3306"])


def cluster_size(lab: Lab, i: int) -> int:
    ((_, size),) = lab.sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")
    return int(size or 0)


@needs_lab
def test_lab_add_and_remove(capsys: pytest.CaptureFixture[str]) -> None:
    with running_lab(2, base_dir=GROW_DIR, hosts=GROW_HOSTS[:2], arbitrator=False):
        lab = Lab.load(GROW_DIR)
        lab.sql(1, f"INSERT INTO {QUALIFIED_TABLE} (title) VALUES ('before add')")

        assert main(["add", "--dir", GROW_DIR, "--host", GROW_HOSTS[2]]) == 0
        assert capsys.readouterr().out == f"node 3: {GROW_HOSTS[2]}:3306\n"
        lab = Lab.load(GROW_DIR)
        assert lab.addresses == [f"{h}:3306" for h in GROW_HOSTS]
        assert cluster_size(lab, 1) == 3
        # Joined with the data, and writable.
        rows = lab.sql(3, f"SELECT COUNT(*) FROM {QUALIFIED_TABLE} WHERE title = 'before add'")
        assert rows == [("1",)]
        lab.sql(3, f"INSERT INTO {QUALIFIED_TABLE} (title) VALUES ('on node 3')")

        assert main(["remove", "2", "--dir", GROW_DIR]) == 1
        assert "only the last node (3)" in capsys.readouterr().err
        assert main(["remove", "3", "--dir", GROW_DIR]) == 0
        lab = Lab.load(GROW_DIR)
        assert lab.addresses == [f"{h}:3306" for h in GROW_HOSTS[:2]]
        assert cluster_size(lab, 1) == 2
        assert not (Path(GROW_DIR) / "node3").exists()
        assert not any("node3" in p for p in lab_processes(GROW_DIR))
        rows = lab.sql(2, f"SELECT COUNT(*) FROM {QUALIFIED_TABLE} WHERE title = 'on node 3'")
        assert rows == [("1",)]
    assert lab_processes(GROW_DIR) == []
