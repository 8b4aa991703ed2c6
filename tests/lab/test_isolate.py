"""A node cut off from its peers but not from the client (`lab.isolate`, a netns lab): it keeps
answering the client, lands in a non-Primary component of its own and refuses statements with
1047. It leaves rotation (README "Cluster states and membership"), the keyed write in flight on
it when it lost its majority lands exactly once, and it returns after the heal.

Needs root (network namespaces) and nftables; skipped, with the reason, where missing."""

from __future__ import annotations

import os
import time
from typing import Iterator

import pytest

from multimaster import MultiMaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
from multimaster_lab.lab import Lab, LabError, _check_installed, netns_unavailable
from multimaster_lab.lab.procs import which

from support.bounds import GALERA_PAUSE, LAB_WAIT, SLACK, wait_for
from support.labs import COURSE_DDL, count_titles, heal, running_lab
from support.threads import Writer

# Its own lab and subnet: distinct from test_partition.py's (10.213.<k>.0/24).
LAB_DIR = os.environ.get("MULTIMASTER_TEST_ISOLATE_DIR", "/tmp/mm-lab-isolate")
SUBNET = os.environ.get("MULTIMASTER_TEST_ISOLATE_SUBNET", "10.214.18.0/24")
# Galera takes its suspect timeout to leave the isolated node in a minority (GALERA_PAUSE);
# then one read of its state (every 2 s) or its next statement's 1047 takes it out.
OUT_BOUND = GALERA_PAUSE + 2.0 + 1.0 + SLACK


@pytest.fixture(scope="module")
def netlab() -> Iterator[Lab]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(f"isolating a node needs network namespaces: {reason}")
    if which("nft") is None:
        pytest.skip("isolating a node needs nftables")
    try:
        _check_installed()
    except LabError as e:
        pytest.skip(f"the lab cannot run here: {e}")
    with running_lab(2, base_dir=LAB_DIR, netns=True, subnet=SUBNET) as lab:
        yield lab


def test_an_isolated_node_leaves_rotation_and_returns(netlab):
    lab = netlab
    table = f"iso{os.getpid()}"
    lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = MultiMaster(
        lab.addresses, database=DATABASE, user=USER, password=PASSWORD, connect_timeout=1.0, backoff_cap=1.0
    )
    node1 = lab.addresses[0]
    writer = Writer(mm, table).start()
    try:
        writer.wait_rows(20, "rows before the isolation")
        lab.isolate(1)
        assert lab.partitioned(1) == "isolated"
        wait_for(lambda: mm.stats()[0]["state"] != "up", OUT_BOUND, "node 1 out of rotation")
        # It answers the client all along, and refuses statements (1047): a minority.
        with pytest.raises(LabError, match="1047"):
            lab.sql(1, f"SELECT COUNT(*) FROM {DATABASE}.{table}")
        since = writer.rows
        writer.wait_rows(20, "rows while node 1 is isolated")
        assert node1 not in writer.nodes[since:]
        lab.heal(1)
        since = writer.rows
        writer.wait_node(node1, since, "rows through node 1 after the heal", timeout=LAB_WAIT)
    finally:
        writer.stop()
        heal_at = time.monotonic()
        lab.heal(1)
        heal(lab)
        assert time.monotonic() - heal_at < 2 * LAB_WAIT
    writer.check()
    # Every row exactly once, the write in flight on node 1 when it lost its majority too.
    assert count_titles(lab, table) == (writer.written, writer.written)
    mm.close()
