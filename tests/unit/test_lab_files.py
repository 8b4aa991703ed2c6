"""The lab without a server (split from tests/lab/test_lab.py): its layout and refusals, my.cnf,
Galera's positions and the choices made from them, what the mariadb client and ip print,
`down` ending only its own processes, the CLI's refusals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from multimaster_lab.coursedata import DATABASE, LAB, PASSWORD, USER
from multimaster_lab.lab import Lab, LabError, Position, main
from multimaster_lab.lab.config import garbd_args, my_cnf
from multimaster_lab.lab.galera import (
    bootstrap_choice,
    client_error,
    client_rows,
    is_ready,
    mark_safe_to_bootstrap,
    promotion_choice,
    read_grastate,
    recovered_position,
)
from multimaster_lab.lab.netns import parse_routes

# Addresses and a Galera state UUID for descriptions only: no lab is started here.
HOSTS = ["127.0.20.1", "127.0.20.2"]
UUID = "6a2c1e3e-94f1-11ee-8e2f-9b3c4b5a6d7e"


def test_layout_errors_and_env() -> None:
    with pytest.raises(LabError, match="no lab"):
        Lab.load("/nonexistent/multimaster-lab")
    with pytest.raises(LabError, match="3 hosts"):
        Lab(2, base_dir="/tmp/unused", hosts=["127.0.22.1", "127.0.22.2", "127.0.22.3"])
    with pytest.raises(LabError, match="no node 3"):
        Lab(2, base_dir="/tmp/unused").crash(3)
    with pytest.raises(LabError, match="not a loopback address"):
        Lab(2, base_dir="/tmp/unused", hosts=["10.0.0.1", "10.0.0.2"])
    with pytest.raises(LabError, match="bad node address"):
        Lab(2, base_dir="/tmp/unused", hosts=["127.0.0.1:x", "127.0.0.2"])
    assert Lab(2, base_dir="/tmp/unused", hosts=["localhost:3310", "localhost:3311"]).addresses == [
        "127.0.0.1:3310",
        "127.0.0.1:3311",
    ]

    # Nodes sharing an address get their own Galera, IST and SST ports.
    shared = Lab(2, base_dir="/tmp/unused", hosts=["127.0.0.1:23306", "127.0.0.1:23307"])
    ports = [p for n in shared.nodes for p in (n.port, n.galera_port, n.ist_port, n.sst_port)]
    assert len(set(ports)) == len(ports)
    assert shared.env()["AURORA_NODE2"] == "127.0.0.1:23307"

    assert Lab(2, base_dir="/tmp/unused", **LAB).env() == {
        "AURORA_NODE1": "127.0.10.1",
        "AURORA_NODE2": "127.0.10.2",
        "DB_NAME": DATABASE,
        "DB_USER": USER,
        "MYSQL_PWD": PASSWORD,
    }


def test_my_cnf_gives_each_node_its_own_addresses_and_files(tmp_path: Path) -> None:
    # Two nodes on one address: Galera, IST and SST ports derived from each SQL port.
    lab = Lab(2, base_dir=str(tmp_path), hosts=["127.0.0.1:23306", "127.0.0.1:23307"])
    cnf = my_cnf(lab.nodes[1], lab.nodes)
    lines = cnf.splitlines()
    for line in [
        "user = mysql",
        f"datadir = {tmp_path}/node2/data",
        f"log-error = {tmp_path}/node2/error.log",
        "bind-address = 127.0.0.1",
        "port = 23307",
        "server_id = 2",
        "wsrep_node_name = node2",
        "wsrep_cluster_address = gcomm://127.0.0.1:24306,127.0.0.1:24307",
        "wsrep_node_address = 127.0.0.1:24307",
        "wsrep_node_incoming_address = 127.0.0.1:23307",
        "wsrep_sst_receive_address = 127.0.0.1:26307",
        'wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:24307; '
        'ist.recv_addr=127.0.0.1:25307; gcache.size=64M"',
    ]:
        assert line in lines, line
    assert "ssl" not in cnf
    # garbd joins the same cluster, on node 1's address next to its Galera port.
    assert garbd_args(lab.nodes, lab.arbitrator_host, lab.arbitrator_port, lab.arbitrator_log) == [
        "--group",
        "multimaster-lab",
        "--name",
        "arbitrator",
        "--address",
        "gcomm://127.0.0.1:24306,127.0.0.1:24307",
        "--options",
        "gmcast.listen_addr=tcp://127.0.0.1:24406",
        "--log",
        f"{tmp_path}/garbd/garbd.log",
    ]

    # A TLS lab's nodes require TLS with the lab's own CA; its clients verify their names.
    tls_lab = Lab(2, base_dir=str(tmp_path), hosts=HOSTS, tls=True)
    tls_cnf = my_cnf(tls_lab.nodes[0], tls_lab.nodes, tmp_path / "tls")
    assert f"ssl_ca = {tmp_path}/tls/ca.pem" in tls_cnf.splitlines()
    assert "require_secure_transport = ON" in tls_cnf.splitlines()
    assert tls_cnf.endswith("[sst]\nssl-mode = DISABLED\n")
    assert tls_lab.credentials()["ssl_mode"] == "VERIFY_IDENTITY"
    assert tls_lab.credentials()["ssl_ca"] == str(tls_lab.tls_files["ca"]) == f"{tmp_path}/tls/ca.pem"


def test_galera_positions_and_the_choices_made_from_them(tmp_path: Path) -> None:
    grastate = tmp_path / "grastate.dat"
    grastate.write_text(f"# GALERA saved state\nversion: 2.1\nuuid:    {UUID}\nseqno:   -1\nsafe_to_bootstrap: 0\n")
    assert read_grastate(grastate) == Position(UUID, -1)
    mark_safe_to_bootstrap(grastate)
    assert "safe_to_bootstrap: 1\n" in grastate.read_text()
    assert read_grastate(tmp_path / "absent") is None
    recovered = f"[Note] WSREP: Recovered position: {UUID}:42\n"
    assert recovered_position(recovered) == Position(UUID, 42)
    assert str(recovered_position(recovered)) == f"{UUID}:42"
    assert recovered_position("[ERROR] Aborting\n") is None

    n1, n2, n3 = nodes = Lab(3, base_dir="/tmp/unused", hosts=["127.0.22.1", "127.0.22.2", "127.0.22.3"]).nodes
    # After a full crash the most advanced node bootstraps (a node that missed writes would fork
    # history); on a tie, the node being started; with no position known, that one too.
    assert bootstrap_choice(nodes, {1: Position(UUID, 5), 2: Position(UUID, 7), 3: None}, n1) is n2
    assert bootstrap_choice(nodes, {1: Position(UUID, 7), 2: Position(UUID, 7), 3: None}, n2) is n2
    assert bootstrap_choice(nodes, {1: None, 2: None, 3: None}, n3) is n3
    # Survivors without a Primary component: the one that committed most is promoted.
    assert promotion_choice([n1, n2], {1: {"wsrep_last_committed": "9"}, 2: {"wsrep_last_committed": "12"}}) is n2
    assert promotion_choice([n1, n2], {1: {"wsrep_last_committed": "3"}, 2: {}}) is n1

    synced = {"wsrep_local_state_comment": "Synced", "wsrep_ready": "ON", "wsrep_cluster_status": "Primary"}
    assert is_ready(synced)
    assert not is_ready({**synced, "wsrep_cluster_status": "non-Primary"})
    assert not is_ready({**synced, "wsrep_local_state_comment": "Donor/Desynced"})


def test_what_the_mariadb_client_and_ip_print_is_parsed() -> None:
    assert client_rows("a\tNULL\tx\\ty\\\\z\\n\n1\t2\t3\n") == [("a", None, "x\ty\\z\n"), ("1", "2", "3")]
    assert client_rows("") == []
    assert (
        client_error("ERROR 1047 (08S01) at line 1: WSREP has not yet prepared node for application use\n", 1)
        == "ERROR 1047 (08S01): WSREP has not yet prepared node for application use"
    )
    assert client_error("", 2) == "mariadb exited with 2"

    routes = parse_routes(
        "default via 192.168.1.1 dev eth0 proto dhcp\n"
        "10.213.7.0/24 dev mm1a2b3cbr proto kernel scope link src 10.213.7.254\n"
        "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1\n"
        "unreachable 10.0.0.0/8 proto static\n"
    )
    assert routes == [("mm1a2b3cbr", IPv4Network("10.213.7.0/24")), ("lo", IPv4Network("127.0.0.0/8"))]


def test_down_ends_only_the_processes_lab_json_names_as_its_own(tmp_path: Path) -> None:
    """A recorded pid counts only while its command line carries the lab's marker (pids get
    reused): `down` ends the lab's process, spares the stranger, and removes lab.json."""
    lab = Lab(2, base_dir=str(tmp_path / "lab"), hosts=["127.0.25.1", "127.0.25.2"])
    lab.base_dir.mkdir()
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = subprocess.Popen(sleep + [lab.nodes[0].marker])
    stranger = subprocess.Popen(sleep)
    try:
        lab.state_file.write_text(
            json.dumps(
                {
                    "addresses": lab.addresses,
                    "arbitrator": True,
                    "created": True,
                    "pids": {"node1": ours.pid, "node2": stranger.pid},
                }
            )
        )
        deadline = time.monotonic() + 5
        while lab.pid(1) != ours.pid:
            assert time.monotonic() < deadline, "node 1's recorded pid not seen as running"
            time.sleep(0.05)
        assert lab.pid(2) is None and lab.arbitrator_pid() is None
        assert Lab.load(str(lab.base_dir)).addresses == lab.addresses

        lab.down()
        assert ours.wait(5) == -signal.SIGTERM
        assert stranger.poll() is None
        assert not lab.base_dir.exists()
    finally:
        for process in (ours, stranger):
            process.kill()
            process.wait()


def test_cli_refusals_need_no_lab(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", "/nonexistent/multimaster-lab", "status"]) == 1
    assert "no lab" in capsys.readouterr().err
    assert main(["--dir", "/nonexistent/multimaster-lab", "down"]) == 0  # nothing to do is success
    assert main(["--dir", "/nonexistent/multimaster-lab", "up", "--netns", "--hosts", "127.0.0.1"]) == 1
    assert "--hosts is for a loopback lab" in capsys.readouterr().err
    assert main(["--dir", "/nonexistent/multimaster-lab", "crash"]) == 2  # argparse: I is missing


def test_lab_json_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """lab.json holds the lab account's password: mode 0600, also over a leftover temp file."""
    from multimaster_lab.lab.procs import write_json

    path = tmp_path / "lab.json"
    path.with_suffix(".tmp").write_text("stale")
    path.with_suffix(".tmp").chmod(0o644)
    write_json(path, {"account": {"password": PASSWORD}})
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"account": {"password": PASSWORD}}
