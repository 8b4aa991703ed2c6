"""Where a lab lives: its directory and the files under it, and each node's address and ports.

Nothing here starts a process or touches the network, so all of it is tested without a server.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import LabError

DEFAULT_DIR = "/tmp/multimaster-lab"
# `host,host`: the addresses of a Lab made without hosts= (so a notebook run in CI can use its own).
HOSTS_VARIABLE = "MULTIMASTER_LAB_HOSTS"

# Galera's standard ports, used when every node has an address of its own.
GALERA_PORT, IST_PORT, SST_PORT = 4567, 4568, 4444
# Nodes sharing an address get ports derived from their SQL port instead (23306 -> 24306,
# 25306, 26306), so consecutive SQL ports give consecutive, non-overlapping Galera ports.
SHARED_HOST_PORT_OFFSETS = (1000, 2000, 3000)
ARBITRATOR_PORT_OFFSET = 100  # from node 1's Galera port, on node 1's address


@dataclass(frozen=True)
class Node:
    """One data node's fixed layout: where it listens and where its files are."""

    index: int  # 1-based, as users count
    host: str
    port: int
    galera_port: int
    ist_port: int
    sst_port: int
    dir: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def cnf(self) -> Path:
        return self.dir / "my.cnf"

    @property
    def log(self) -> Path:
        return self.dir / "error.log"

    @property
    def socket(self) -> Path:
        return self.dir / "mariadbd.sock"

    @property
    def marker(self) -> str:
        """Appears on the command line of this node's mariadbd, and of no other process
        (`process_marker` derives the same from the lab directory and "node<i>")."""
        return f"--datadir={self.datadir}"

    def ports(self) -> List[Tuple[int, str]]:
        return [(self.port, "SQL"), (self.galera_port, "Galera"), (self.ist_port, "IST"), (self.sst_port, "SST")]


# ------------------------------------------------------------------------------------------------
# The lab directory


def lab_dir(base_dir: Optional[str] = None) -> Path:
    """The lab directory: base_dir, else $MULTIMASTER_LAB_DIR, else /tmp/multimaster-lab."""
    return Path(base_dir or os.environ.get("MULTIMASTER_LAB_DIR") or DEFAULT_DIR).absolute()


def state_file(base_dir: Path) -> Path:
    """lab.json: the layout and pids a later `Lab.load` or `multimaster lab` reads."""
    return base_dir / "lab.json"


def arbitrator_dir(base_dir: Path) -> Path:
    return base_dir / "garbd"


def arbitrator_log(base_dir: Path) -> Path:
    return arbitrator_dir(base_dir) / "garbd.log"


def tls_dir(base_dir: Path) -> Path:
    """A TLS lab's CA, certificates and keys."""
    return base_dir / "tls"


def process_marker(base_dir: Path, key: str) -> str:
    """What the command line of the lab's process `key` ("node2", "garbd") contains.

    Derived from the key rather than a lab's nodes, so `down` also finds nodes of a bigger
    lab recorded in lab.json than the Lab object was built for.
    """
    if key == "garbd":
        return str(arbitrator_log(base_dir))
    return f"--datadir={base_dir / key / 'data'}"


def remove_files(base_dir: Path) -> None:
    """Remove only what the lab creates, then base_dir if that leaves it empty."""
    for directory in base_dir.glob("node[0-9]*"):
        shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(arbitrator_dir(base_dir), ignore_errors=True)
    state_file(base_dir).unlink(missing_ok=True)
    try:
        base_dir.rmdir()
    except OSError:
        pass  # absent, or holds files that are not ours


# ------------------------------------------------------------------------------------------------
# Addresses and ports


def lab_hosts() -> Optional[List[str]]:
    """$MULTIMASTER_LAB_HOSTS (`host,host`, each `host` or `host:port`) as a list, or None
    when it is unset or empty: the addresses a Lab made without `hosts` uses."""
    value = os.environ.get(HOSTS_VARIABLE, "").strip()
    if not value:
        return None
    return [h.strip() for h in value.split(",") if h.strip()]


def check_node_count(nodes: int) -> int:
    if not 1 <= nodes <= 9:
        raise LabError(f"a lab has 1 to 9 nodes, not {nodes}")
    return nodes


def loopback_endpoints(nodes: Optional[int], hosts: Optional[List[str]], port: int) -> List[Tuple[str, int]]:
    """(host, SQL port) of each node of a loopback lab: `hosts` (`host` or `host:port`, `port`
    when it has none), else $MULTIMASTER_LAB_HOSTS, else 127.0.10.1, 127.0.10.2, ..."""
    from_env = False
    if hosts is None:
        hosts = lab_hosts()
        from_env = hosts is not None
    if nodes is None:
        nodes = len(hosts) if hosts is not None else 2
    check_node_count(nodes)
    if hosts is None:
        hosts = [f"127.0.10.{i}" for i in range(1, nodes + 1)]
    elif len(hosts) != nodes:
        source = f" (from ${HOSTS_VARIABLE})" if from_env else ""
        raise LabError(f"nodes={nodes} but {len(hosts)} hosts given{source}")
    return [split_address(h, port) for h in hosts]


def split_address(text: str, default_port: int) -> Tuple[str, int]:
    """`host` or `host:port`, where host must be an IPv4 loopback address (127.x.x.x, or
    localhost): the lab's nodes are never reachable from, or aimed at, another machine."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = text.strip(), str(default_port)
    if host == "localhost":
        host = "127.0.0.1"
    try:
        port = int(port_text)
        loopback = ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        raise LabError(f"bad node address {text!r} (expected 127.x.x.x or 127.x.x.x:port)") from None
    if not loopback:
        raise LabError(f"{text!r} is not a loopback address: the lab runs on 127.0.0.0/8 only")
    if not 1 <= port <= 65535:
        raise LabError(f"bad port in {text!r}")
    return host, port


def next_host(hosts: List[str]) -> str:
    """The address a node added to a loopback lab takes by default: the last node's with its
    last number one higher (127.0.10.2 -> 127.0.10.3), on the same port."""
    last = ipaddress.ip_address(hosts[-1].rpartition(":")[0] or hosts[-1])
    port = hosts[-1].rpartition(":")[2]
    following = ipaddress.ip_address(int(last) + 1)
    if following not in ipaddress.ip_network("127.0.0.0/8") or str(following).endswith(".255"):
        raise LabError(f"no loopback address follows {last}: give one (--host)")
    return f"{following}:{port}"


def node_layout(endpoints: List[Tuple[str, int]], base_dir: Path) -> List[Node]:
    """The nodes at `endpoints`, node 1 first, with their Galera ports and directories."""
    hosts = [host for host, _ in endpoints]
    nodes = []
    for i, (host, port) in enumerate(endpoints, start=1):
        if hosts.count(host) == 1:
            galera, ist, sst = GALERA_PORT, IST_PORT, SST_PORT
        else:
            galera, ist, sst = (port + offset for offset in SHARED_HOST_PORT_OFFSETS)
        nodes.append(Node(i, host, port, galera, ist, sst, base_dir / f"node{i}"))
    return nodes


def check_layout(nodes: List[Node], arbitrator_host: str, arbitrator_port: int) -> None:
    """Every port in range, and no address:port wanted twice."""
    seen: Dict[Tuple[str, int], str] = {}
    wanted = [(n.host, port, f"node {n.index} {what}") for n in nodes for port, what in n.ports()]
    wanted.append((arbitrator_host, arbitrator_port, "the arbitrator"))
    for host, port, user in wanted:
        if not 0 < port < 65536:
            raise LabError(f"{user} would need port {port} on {host}: out of range")
        if (host, port) in seen:
            raise LabError(f"{host}:{port} is wanted by both {seen[host, port]} and {user}")
        seen[host, port] = user
