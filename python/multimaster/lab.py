"""A local MariaDB Galera cluster on loopback, driven from Python.

Used by the `multimaster lab` command, by the test suite and by the demo that crashes nodes
mid-run. N data nodes (each on its own loopback address by default, so the course's host-only
variables such as AURORA_NODE1=127.0.10.1 work unchanged) plus a `garbd` arbitrator: with two
data nodes alone, a single `kill -9` would leave the survivor non-Primary.

Nodes listen on 127.0.10.1, 127.0.10.2, ... (port 3306) unless given other loopback addresses,
by `hosts=` or $MULTIMASTER_LAB_HOSTS (`host,host`, each `host` or `host:port`). Everything
lives under one directory (default $MULTIMASTER_LAB_DIR or /tmp/multimaster-lab):

    lab.json            layout and pids: how a later `status`, `crash`, `down` finds the lab
    node<i>/my.cnf      the node's only option file (the distro's /etc/mysql is never read)
    node<i>/data/       datadir; node<i>/error.log, mariadbd.pid, mariadbd.sock
    garbd/garbd.log     the arbitrator's log

With `netns=True` (`multimaster lab up --netns`, root only) each node and garbd run in a
network namespace of their own instead, each joined by a veth pair to one Linux bridge in the
root namespace, on private addresses (10.213.<k>.0/24 by default, <k> derived from the lab
directory, overridable with `subnet=`): nodes at .1, .2, ..., garbd at .200, and the root
namespace (the client: tests, notebooks) at .254. Then `partition(i)` cuts node i off from
everyone, silently (its veth goes down: packets are dropped, no RST), `partition(i,
one_way=True)` drops only what the client sends it (an nftables rule in its namespace), and
`heal(i)` undoes either. The names of the namespaces, the bridge and the veths derive from the
lab directory and are recorded in lab.json, so `down` (or a fresh `up`) removes what a killed
run left.

Standard library only, and nothing from the rest of the package, so it runs before the native
module is built.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union, overload

from multimaster import labtls

DB_NAME = "demo"
DB_USER = "admin"
DB_PASSWORD = "cloudacademy"

CLUSTER_NAME = "multimaster-lab"
DEFAULT_DIR = "/tmp/multimaster-lab"
# `host,host`: the addresses of a Lab made without hosts= (so a notebook run in CI can use its own).
HOSTS_VARIABLE = "MULTIMASTER_LAB_HOSTS"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
APT_PACKAGES = "mariadb-server galera-4 galera-arbitrator-4 rsync"
# rsync SST fails when mariadbd runs as root (the rsync daemon it starts drops to `nobody`).
RUN_USER = "mysql"

# Galera's standard ports, used when every node has an address of its own.
GALERA_PORT, IST_PORT, SST_PORT = 4567, 4568, 4444
# Nodes sharing an address get ports derived from their SQL port instead (23306 -> 24306,
# 25306, 26306), so consecutive SQL ports give consecutive, non-overlapping Galera ports.
SHARED_HOST_PORT_OFFSETS = (1000, 2000, 3000)
ARBITRATOR_PORT_OFFSET = 100  # from node 1's Galera port, on node 1's address

# netns mode: the default subnet is 10.213.<k>.0/24, k (1 to 254) derived from the lab
# directory so that two labs can coexist; in any subnet node i is host i, garbd host 200 and
# the root namespace (where the client runs) host 254, on the bridge.
NETNS_DEFAULT_PREFIX = "10.213"
ARBITRATOR_HOST_NUMBER = 200
CLIENT_HOST_NUMBER = 254
# The nftables table a one-way partition adds in a node's namespace (its only ruleset).
PARTITION_TABLE = "multimaster_partition"
NETNS_PACKAGES = "iproute2 nftables"

POLL_INTERVAL = 0.2
# Seconds `down` lets the lab shut down cleanly before kill -9. A clean leave takes well under
# a second, except while a crashed member is still in the view: then Galera holds the leave
# until it evicts that member (~6 s), which is not worth waiting for when the data goes anyway.
STOP_GRACE = 2.0
LOG_TAIL_LINES = 15

SETUP_SQL = f"""
CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '{DB_USER}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS {DB_NAME};
CREATE TABLE IF NOT EXISTS {DB_NAME}.course (title VARCHAR(40), instructor VARCHAR(40),
  duration INT, created DATE, url VARCHAR(100));
"""


class LabError(Exception):
    """A human-readable, one-line reason; `log_tail` holds the relevant log lines, if any."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail

    def __str__(self) -> str:
        if not self.log_tail:
            return self.message
        return f"{self.message}\n{self.log_tail}"


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
        """Appears on the command line of this node's mariadbd, and of no other process."""
        return f"--datadir={self.datadir}"

    def ports(self) -> List[Tuple[int, str]]:
        return [(self.port, "SQL"), (self.galera_port, "Galera"), (self.ist_port, "IST"),
                (self.sst_port, "SST")]


@dataclass(frozen=True)
class Position:
    """A node's last committed write set: Galera's state UUID and sequence number."""

    uuid: str
    seqno: int

    def __str__(self) -> str:
        return f"{self.uuid}:{self.seqno}"


@dataclass(frozen=True)
class NetLayout:
    """A netns lab's network: the names derived from its directory, and its subnet.

    `key` is a process key of lab.json ("node1", "garbd"). Every name starts with `tag`
    ("mm" and 6 hex digits of the directory's hash), so a lab's leftovers are found by name;
    interface names stay within Linux's 15 characters (`tag` + 2).
    """

    tag: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def for_dir(cls, base_dir: Path, subnet: Optional[str] = None) -> "NetLayout":
        digest = hashlib.sha1(str(base_dir).encode()).hexdigest()
        if subnet is None:
            k = 1 + int(digest[6:14], 16) % 254
            subnet = f"{NETNS_DEFAULT_PREFIX}.{k}.0/24"
        return cls("mm" + digest[:6], _parse_subnet(subnet))

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def bridge_mac(self) -> str:
        # Set once, so the bridge's address does not follow its ports as they come and go
        # (a node's ARP entry for the client would go stale). Locally administered.
        t = self.tag[2:]
        return f"02:6d:6d:{t[0:2]}:{t[2:4]}:{t[4:6]}"

    @staticmethod
    def _suffix(key: str) -> str:
        return "g" if key == "garbd" else key[len("node"):]

    def namespace(self, key: str) -> str:
        return f"{self.tag}-{key}"

    def outer(self, key: str) -> str:
        """The root-namespace end of key's veth pair, a port of the bridge."""
        return f"{self.tag}r{self._suffix(key)}"

    def inner(self, key: str) -> str:
        """The end of key's veth pair inside its namespace."""
        return f"{self.tag}n{self._suffix(key)}"

    def host(self, number: int) -> str:
        return str(self.subnet.network_address + number)

    @property
    def client_host(self) -> str:
        """The root namespace's address on the bridge: where the client's packets come from."""
        return self.host(CLIENT_HOST_NUMBER)

    def record(self, keys: List[str]) -> Dict[str, Any]:
        """What lab.json keeps, so that a later `down` knows what to remove."""
        return {"subnet": str(self.subnet), "tag": self.tag, "bridge": self.bridge,
                "namespaces": {key: self.namespace(key) for key in keys},
                "veths": {key: self.outer(key) for key in keys}}


class Lab:
    """A Galera cluster of `nodes` data nodes (plus garbd) on loopback, all under `base_dir`.

    From Python (a script or a notebook)::

        lab = Lab()               # 2 nodes, or $MULTIMASTER_LAB_HOSTS; $MULTIMASTER_LAB_DIR
        lab.up()                  # returns once every node is Synced
        lab.addresses             # ['127.0.10.1:3306', '127.0.10.2:3306']
        mm = MultiMaster(lab.addresses, **lab.credentials())
        lab.crash(1)                                   # now
        chaos = lab.crash(1, after=10, restart_after=1)  # in the background: a Scheduled
        chaos.wait()                                   # raises what went wrong, if anything
        lab.down()                                     # cancels what is still scheduled

    Node operations (`crash`, `freeze`, `thaw`, `stop`, `start`, `restart`, `partition`,
    `heal`, `up`, `down`) run one at a time per Lab object: a call made while a scheduled one
    runs waits for it.

    With `netns=True` (root only) every node and garbd get a network namespace of their own on
    a bridge, so the network can fail too::

        lab = Lab(netns=True); lab.up()
        lab.addresses             # ['10.213.57.1:3306', '10.213.57.2:3306']
        lab.partition(1)          # node 1 cut off from everyone: packets dropped, no RST
        lab.heal(1)
        lab.partition(2, one_way=True)   # only what the client sends node 2 is dropped
        lab.partition(1, after=5, heal_after=3)   # in the background: a Scheduled
    """

    def __init__(self, nodes: Optional[int] = None, base_dir: Optional[str] = None,
                 hosts: Optional[List[str]] = None, port: int = 3306,
                 arbitrator: bool = True, netns: bool = False,
                 subnet: Optional[str] = None, tls: bool = False) -> None:
        """Describe a lab; nothing is started until `up()`.

        nodes: data nodes, 1 to 9 (default: as many as $MULTIMASTER_LAB_HOSTS names, else 2).
        base_dir: its directory (default $MULTIMASTER_LAB_DIR, else /tmp/multimaster-lab).
        hosts: one loopback address per node, `host` or `host:port` (default
        $MULTIMASTER_LAB_HOSTS as `host,host`, else 127.0.10.1, 127.0.10.2, ...).
        port: the SQL port of hosts given without one. arbitrator: run garbd as well.
        netns: each node and garbd in a network namespace of its own, on a bridge (root only;
        `hosts` and $MULTIMASTER_LAB_HOSTS do not apply). subnet: its private IPv4 subnet,
        at least a /24 (default 10.213.<k>.0/24, k derived from base_dir).
        tls: the nodes require TLS (require_secure_transport=ON), with a private CA and
        X.509 v3 certificates naming the nodes' IP addresses (`tls_files`, `credentials()`).
        """
        self.base_dir = lab_dir(base_dir)
        self.tls = tls
        self.net: Optional[NetLayout] = None
        if netns:
            if hosts is not None:
                raise LabError("a netns lab picks its nodes' addresses itself (give subnet=)")
            nodes = 2 if nodes is None else nodes
            if not 1 <= nodes <= 9:
                raise LabError(f"a lab has 1 to 9 nodes, not {nodes}")
            self.net = NetLayout.for_dir(self.base_dir, subnet)
            hosts = [self.net.host(i) for i in range(1, nodes + 1)]
        elif subnet is not None:
            raise LabError("subnet= is for a netns lab (netns=True)")
        from_env = False
        if hosts is None:
            hosts = lab_hosts()
            from_env = hosts is not None
        if nodes is None:
            nodes = len(hosts) if hosts is not None else 2
        if not 1 <= nodes <= 9:
            raise LabError(f"a lab has 1 to 9 nodes, not {nodes}")
        if hosts is None:
            hosts = [f"127.0.10.{i}" for i in range(1, nodes + 1)]
        elif len(hosts) != nodes:
            source = f" (from ${HOSTS_VARIABLE})" if from_env else ""
            raise LabError(f"nodes={nodes} but {len(hosts)} hosts given{source}")
        self.arbitrator = arbitrator
        if self.net is None:
            endpoints = [_split_address(h, port) for h in hosts]
        else:
            if not 1 <= port <= 65535:
                raise LabError(f"bad port {port}")
            endpoints = [(h, port) for h in hosts]
        self.nodes = _layout(endpoints, self.base_dir)
        first = self.nodes[0]
        if self.net is None:
            self.arbitrator_host = first.host
            self.arbitrator_port = first.galera_port + ARBITRATOR_PORT_OFFSET
        else:  # an address of its own
            self.arbitrator_host = self.net.host(ARBITRATOR_HOST_NUMBER)
            self.arbitrator_port = GALERA_PORT
        self._check_layout()
        # Serializes node operations of this object: scheduled ones run in other threads.
        self._lock = threading.RLock()
        self._schedules: List[Scheduled] = []

    @classmethod
    def load(cls, base_dir: Optional[str] = None) -> "Lab":
        """The lab described by base_dir/lab.json."""
        path = lab_dir(base_dir)
        state = _read_json(path / "lab.json")
        if state is None:
            raise LabError(f"no lab in {path} (start one with `multimaster lab up`)")
        addresses = state["addresses"]
        net = state.get("netns")
        tls = bool(state.get("tls"))
        if net:
            port = int(addresses[0].rpartition(":")[2])
            return cls(len(addresses), str(path), port=port, arbitrator=state["arbitrator"],
                       netns=True, subnet=net["subnet"], tls=tls)
        return cls(len(addresses), str(path), addresses, arbitrator=state["arbitrator"], tls=tls)

    def __repr__(self) -> str:
        net = f"; netns, subnet {self.net.subnet}" if self.net else ""
        return f"Lab({len(self.nodes)} nodes: {', '.join(self.addresses)}{net}; dir {self.base_dir})"

    @property
    def netns(self) -> bool:
        """Whether the nodes run in network namespaces of their own (`Lab(netns=True)`)."""
        return self.net is not None

    @property
    def addresses(self) -> List[str]:
        """Each node's `host:port`, node 1 first: what `MultiMaster(...)` takes."""
        return [n.address for n in self.nodes]

    @property
    def tls_files(self) -> Dict[str, Path]:
        """A TLS lab's PEM files: "ca", "server-cert", "server-key", "client-cert",
        "client-key" (empty without TLS)."""
        if not self.tls:
            return {}
        return {name: self.base_dir / "tls" / f"{name}.pem" for name in labtls.FILES}

    @property
    def state_file(self) -> Path:
        """lab.json: the layout and pids a later `Lab.load` or `multimaster lab` reads."""
        return self.base_dir / "lab.json"

    @property
    def arbitrator_dir(self) -> Path:
        """garbd's directory."""
        return self.base_dir / "garbd"

    @property
    def arbitrator_log(self) -> Path:
        """garbd's log file."""
        return self.arbitrator_dir / "garbd.log"

    # ----------------------------------------------------------------------------------------
    # Public operations

    def up(self, timeout: float = 120) -> None:
        """Start whatever is not running; return once every node is Synced in one cluster."""
        with self._lock:
            self._up(timeout)

    def _up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        _check_installed()
        state = _read_json(self.state_file)
        if state is not None and state.get("addresses") != self.addresses:
            raise LabError(f"{self.base_dir} holds another lab ({', '.join(state['addresses'])});"
                           f" run `multimaster lab down` first")
        self._check_ports_of_stopped()  # before touching anything: a clash leaves no trace
        if self.net is not None:
            _check_netns_tools()
            self._check_subnet_free()
        if state is None or not state.get("created"):
            # Nothing there, or an earlier `up` died half-way: start from clean directories.
            self._stop_all()
            self._net_down()
            self._remove_files()
            self._create(deadline)
        else:
            # The network first (recreated if it went away, partitions healed): `up` brings
            # the whole lab back to healthy.
            self._net_up()
            for node in self.nodes:
                self.start(node.index, timeout=_remaining(deadline))
            self._ensure_arbitrator()
        self._wait_synced(self.nodes, deadline)
        self._wait_members(len(self.nodes) + (1 if self.arbitrator else 0), deadline)

    def down(self) -> None:
        """Stop every process this lab started and remove its files. Safe to repeat.

        Actions still scheduled by this object are cancelled first; one already under way (a
        node restart, say) is let finish, so that no process it starts is left behind.
        """
        self.cancel_scheduled()
        with self._lock:
            self._stop_all()
            self._net_down()
            self._remove_files()

    def status(self) -> List[Dict[str, object]]:
        """One dict per node: index, address, pid, running, state (Synced, Donor/Desynced,
        Joining..., frozen, unreachable, down), cluster_size, ready, and partition (None, or
        "full" / "one-way" while `partition` holds in a netns lab).

        In a netns lab state, cluster_size and ready are the node's own view, asked from inside
        its namespace: a partitioned node still answers, as (after Galera's suspect timeout)
        "Initialized"/non-Primary, not ready."""
        return [self._node_status(node) for node in self.nodes]

    @overload
    def crash(self, i: int) -> None: ...
    @overload
    def crash(self, i: int, *, after: When, restart_after: Optional[float] = None) -> "Scheduled": ...
    @overload
    def crash(self, i: int, *, after: Optional[When] = None, restart_after: float) -> "Scheduled": ...

    def crash(self, i: int, *, after: Optional[When] = None,
              restart_after: Optional[float] = None) -> Optional["Scheduled"]:
        """kill -9 node i (1-based). A node already down stays down.

        With `after` (seconds from now, or a condition such as `lab.when_rows(20)`) and/or
        `restart_after` (seconds after the crash to start it again), it happens in the
        background instead and a `Scheduled` handle is returned at once.
        """
        if after is not None or restart_after is not None:
            steps = [Step("crash", i, after or 0.0)]
            if restart_after is not None:
                steps.append(Step("start", i, restart_after))
            return self.schedule(*steps)
        with self._lock:
            pid = self.pid(i)
            if pid is not None:
                _signal(pid, signal.SIGKILL)
                _wait_until(lambda: self.pid(i) is None, 10, f"node {i} to die after kill -9")
        return None

    @overload
    def freeze(self, i: int) -> None: ...
    @overload
    def freeze(self, i: int, *, after: When, thaw_after: Optional[float] = None) -> "Scheduled": ...
    @overload
    def freeze(self, i: int, *, after: Optional[When] = None, thaw_after: float) -> "Scheduled": ...

    def freeze(self, i: int, *, after: Optional[When] = None,
               thaw_after: Optional[float] = None) -> Optional["Scheduled"]:
        """SIGSTOP node i: its sockets stay open but it answers nothing, like a hung server.

        With `after` and/or `thaw_after` (seconds after the freeze to SIGCONT it), in the
        background: returns a `Scheduled`.
        """
        if after is not None or thaw_after is not None:
            steps = [Step("freeze", i, after or 0.0)]
            if thaw_after is not None:
                steps.append(Step("thaw", i, thaw_after))
            return self.schedule(*steps)
        with self._lock:
            _signal(self._require_pid(i), signal.SIGSTOP)
        return None

    @overload
    def thaw(self, i: int) -> None: ...
    @overload
    def thaw(self, i: int, *, after: When) -> "Scheduled": ...

    def thaw(self, i: int, *, after: Optional[When] = None) -> Optional["Scheduled"]:
        """SIGCONT a frozen node i. If the cluster evicted it meanwhile, it does not rejoin by
        itself: `restart` it. With `after`, in the background: returns a `Scheduled`."""
        if after is not None:
            return self.schedule(Step("thaw", i, after))
        with self._lock:
            _signal(self._require_pid(i), signal.SIGCONT)
        return None

    @overload
    def stop(self, i: int, timeout: float = 60) -> None: ...
    @overload
    def stop(self, i: int, timeout: float = 60, *, after: When) -> "Scheduled": ...

    def stop(self, i: int, timeout: float = 60, *,
             after: Optional[When] = None) -> Optional["Scheduled"]:
        """Shut node i down cleanly (it leaves the cluster and records its position).

        With `after`, in the background (with the default timeout): returns a `Scheduled`.
        """
        if after is not None:
            return self.schedule(Step("stop", i, after))
        with self._lock:
            pid = self.pid(i)
            if pid is None:
                return None
            _signal(pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            _signal(pid, signal.SIGTERM)
            node = self._node(i)
            _wait_until(lambda: self.pid(i) is None, timeout, f"node {i} to shut down", node.log)
        return None

    @overload
    def start(self, i: int, timeout: float = 90) -> None: ...
    @overload
    def start(self, i: int, timeout: float = 90, *, after: When) -> "Scheduled": ...

    def start(self, i: int, timeout: float = 90, *,
              after: Optional[When] = None) -> Optional["Scheduled"]:
        """(Re)start node i after a crash or stop, catching up by IST; no-op if it runs (a
        frozen node is thawed). Returns once the node is Synced.

        With `after`, in the background (with the default timeout): returns a `Scheduled`.
        """
        if after is not None:
            return self.schedule(Step("start", i, after))
        with self._lock:
            self._start(i, timeout)
        return None

    def _start(self, i: int, timeout: float) -> None:
        node = self._node(i)
        deadline = time.monotonic() + timeout
        pid = self.pid(i)
        if pid is not None:
            _signal(pid, signal.SIGCONT)  # `start` of a frozen node brings it back too
            return
        _check_installed()
        live = [n for n in self.nodes if n is not node and self.pid(n.index) is not None]
        if live:
            self._wait_evicted(node, live, deadline)
            self._restore_quorum(live, deadline)
            self._launch(node, self._recover(node, deadline))
        else:
            self._restart_cluster(node, deadline)
        self._ensure_arbitrator()
        self._wait_synced([node], deadline)

    @overload
    def restart(self, i: int, timeout: float = 150) -> None: ...
    @overload
    def restart(self, i: int, timeout: float = 150, *, after: When) -> "Scheduled": ...

    def restart(self, i: int, timeout: float = 150, *,
                after: Optional[When] = None) -> Optional["Scheduled"]:
        """`stop` node i cleanly, then `start` it; returns once it is Synced again (within
        `timeout` seconds in all). With `after`, in the background: returns a `Scheduled`."""
        if after is not None:
            return self.schedule(Step("restart", i, after))
        deadline = time.monotonic() + timeout
        with self._lock:
            self.stop(i, timeout=min(60.0, timeout))
            self.start(i, timeout=max(1.0, _remaining(deadline)))
        return None

    @overload
    def partition(self, i: int, one_way: bool = False) -> None: ...
    @overload
    def partition(self, i: int, one_way: bool = False, *, after: When,
                  heal_after: Optional[float] = None) -> "Scheduled": ...
    @overload
    def partition(self, i: int, one_way: bool = False, *, after: Optional[When] = None,
                  heal_after: float) -> "Scheduled": ...

    def partition(self, i: int, one_way: bool = False, *, after: Optional[When] = None,
                  heal_after: Optional[float] = None) -> Optional["Scheduled"]:
        """Cut node i off the network (a netns lab only); `heal(i)` undoes it.

        Full (default): node i's veth is set down on the bridge side, so every packet to or
        from it (client, peers, garbd) is silently dropped: no RST, no ICMP. The node runs
        on; Galera evicts it after its suspect timeout, and it sits in a non-Primary component
        of its own until healed. TCP retransmits what was sent during the cut once the link
        is back: a statement the client gave up on may still arrive then.

        one_way=True: only what the client (the root namespace, on the bridge's .254) sends
        node i is dropped, by an nftables rule in the node's namespace; the node stays in the
        cluster. Needs `nft` (apt-get install nftables).

        With `after` and/or `heal_after` (seconds after the partition to heal it), in the
        background: returns a `Scheduled`.
        """
        action = "partition_one_way" if one_way else "partition"
        if after is not None or heal_after is not None:
            steps = [Step(action, i, after or 0.0)]
            if heal_after is not None:
                steps.append(Step("heal", i, heal_after))
            return self.schedule(*steps)
        with self._lock:
            net = self._require_netns("partition")
            key = self._node(i).name
            if one_way:
                _check_nft()
                rules = (f"table ip {PARTITION_TABLE} {{\n"
                         f"  chain input {{ type filter hook input priority -300; policy accept;\n"
                         f"    ip saddr {net.client_host} drop\n  }}\n}}\n")
                _run_cmd(["ip", "netns", "exec", net.namespace(key), _nft(), "-f", "-"],
                         f"dropping the client's packets to node {i}", stdin=rules)
            else:
                _run_cmd(["ip", "link", "set", net.outer(key), "down"], f"cutting node {i} off")
        return None

    @overload
    def heal(self, i: int) -> None: ...
    @overload
    def heal(self, i: int, *, after: When) -> "Scheduled": ...

    def heal(self, i: int, *, after: Optional[When] = None) -> Optional["Scheduled"]:
        """End node i's partition, full or one-way (a netns lab only); no-op if it has none.
        Returns at once: Galera merges the node back by itself (with IST if it missed
        writes), which `status()` shows as Synced again. With `after`, in the background."""
        if after is not None:
            return self.schedule(Step("heal", i, after))
        with self._lock:
            net = self._require_netns("heal")
            self._heal(net, self._node(i).name)
        return None

    def partitioned(self, i: int) -> Optional[str]:
        """Node i's partition: "full", "one-way", or None (always None without netns)."""
        if self.net is None:
            return None
        return self._partition_state(self.net, self._node(i).name)

    def env(self) -> Dict[str, str]:
        """The course's environment variables for this lab (AURORA_NODE1..., DB_NAME,
        DB_USER, MYSQL_PWD): what `eval "$(multimaster lab env)"` sets. Holds the password."""
        variables = {f"AURORA_NODE{n.index}": n.host if n.port == 3306 else n.address
                     for n in self.nodes}
        variables.update(DB_NAME=DB_NAME, DB_USER=DB_USER, MYSQL_PWD=DB_PASSWORD)
        return variables

    def credentials(self) -> Dict[str, str]:
        """database, user and password of the lab (and for a TLS lab ssl_mode VERIFY_IDENTITY
        with its CA), as keyword arguments: `MultiMaster(lab.addresses, **lab.credentials())`.
        Holds the password."""
        found = {"database": DB_NAME, "user": DB_USER, "password": DB_PASSWORD}
        if self.tls:
            found.update(ssl_mode="VERIFY_IDENTITY", ssl_ca=str(self.tls_files["ca"]))
        return found

    def pid(self, i: int) -> Optional[int]:
        """The pid of node i's mariadbd if it is running (frozen counts as running)."""
        node = self._node(i)
        return self._live_pid(node.name)

    def arbitrator_pid(self) -> Optional[int]:
        """The pid of garbd if it is running."""
        return self._live_pid("garbd")

    def sql(self, i: int, statement: str, timeout: float = 10) -> List[Tuple[Optional[str], ...]]:
        """Run `statement` on node i as the lab's admin user over TCP; rows as strings.

        SQL NULL comes back as None. A server error raises LabError carrying its message
        (e.g. "ERROR 1047 (08S01): WSREP has not yet prepared node for application use").
        """
        node = self._node(i)
        cmd = [_exe("mariadb"), "--no-defaults", "-N", "-B", "--protocol=TCP",
               f"--host={node.host}", f"--port={node.port}", f"--user={DB_USER}",
               f"--connect-timeout={max(1, int(timeout))}", "-e", statement]
        # In a netns lab, from inside the node's namespace: it answers while partitioned.
        cmd = self._in_namespace(node.name, cmd)
        # The password goes through the environment so it is not on a command line.
        env = dict(os.environ, MYSQL_PWD=DB_PASSWORD)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise LabError(f"node {i} ({node.address}) did not answer within {timeout:g} s")
        if done.returncode != 0:
            last_line = (done.stderr.strip() or f"mariadb exited with {done.returncode}")
            message = re.sub(r" at line \d+", "", last_line.splitlines()[-1])
            raise LabError(f"node {i} ({node.address}): {message}")
        return [tuple(_unescape(v) for v in line.split("\t")) for line in done.stdout.splitlines()]

    def count_rows(self, table: str = f"{DB_NAME}.course") -> int:
        """Rows in `table` (`name` or `db.name`), on the first running node that answers
        within a second; 0 if none does (every node down, the table not there yet)."""
        _check_table_name(table)
        for node in self.nodes:
            if self.pid(node.index) is None:
                continue
            try:
                (count,), = self.sql(node.index, f"SELECT COUNT(*) FROM {table}", timeout=1)
                return int(count or 0)
            except (LabError, ValueError):
                continue
        return 0

    def when_rows(self, rows: int, table: str = f"{DB_NAME}.course") -> "RowCount":
        """A condition for `after=`: true once `table` holds at least `rows` rows, so that a
        scheduled crash follows the insert loop's progress rather than the clock."""
        return RowCount(self, rows, table)

    # ----------------------------------------------------------------------------------------
    # Scheduling: node operations in the background, so a notebook cell can set up "crash
    # node 1 in 10 s, then restart it" and the next cell run the insert loop meanwhile.

    def schedule(self, *steps: "Step") -> "Scheduled":
        """Run `steps` one after another in a background (daemon) thread and return at once.

        Each step waits for its `after` (seconds after the previous step ended, or a
        condition), then does its action. A failing step ends the schedule: the handle's
        `wait()` raises its error, `error` holds it, and a line goes to stderr when it happens.
        `down()` cancels what has not started yet; `cancel_scheduled()` does so alone.

            chaos = lab.schedule(Step("crash", 1, after=lab.when_rows(20)),
                                 Step("start", 1, after=1.0),
                                 Step("crash", 2, after=lab.when_rows(55)),
                                 Step("start", 2, after=1.0))
        """
        if not steps:
            raise LabError("schedule() needs at least one Step")
        for step in steps:
            if not isinstance(step, Step):
                raise LabError(f"schedule() takes Step objects, not {step!r}")
            self._node(step.node)  # a bad node number fails here, not later in the thread
        handle = Scheduled(self, steps)
        self._schedules = [s for s in self._schedules if not s.done] + [handle]
        handle._begin()
        return handle

    @property
    def scheduled(self) -> List["Scheduled"]:
        """The schedules of this object that have not finished yet."""
        return [s for s in self._schedules if not s.done]

    def cancel_scheduled(self, timeout: float = 180) -> None:
        """Cancel every pending schedule of this object: steps not started are dropped; a step
        under way finishes first (waited for up to `timeout` s)."""
        pending = [s for s in self._schedules if not s.done]
        for handle in pending:
            handle._cancel.set()
        deadline = time.monotonic() + timeout
        for handle in pending:
            if handle._thread is not threading.current_thread():
                handle._thread.join(_remaining(deadline))

    def _perform(self, step: "Step") -> None:
        """The action of a scheduled step, done now in the calling (background) thread."""
        if step.action == "crash":
            self.crash(step.node)
        elif step.action == "freeze":
            self.freeze(step.node)
        elif step.action == "thaw":
            self.thaw(step.node)
        elif step.action == "stop":
            self.stop(step.node)
        elif step.action == "start":
            self.start(step.node)
        elif step.action == "partition":
            self.partition(step.node)
        elif step.action == "partition_one_way":
            self.partition(step.node, one_way=True)
        elif step.action == "heal":
            self.heal(step.node)
        else:
            self.restart(step.node)

    # ----------------------------------------------------------------------------------------
    # Creating the cluster

    def _create(self, deadline: float) -> None:
        self._check_parent_dirs()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._write_state(created=False)  # names the network too, before it exists
        self._net_up()
        if self.tls:
            labtls.make(self.base_dir / "tls", [n.host for n in self.nodes])
            _chown_to_run_user(self.base_dir / "tls")  # mariadbd reads its key as the run user
        for node in self.nodes:
            self._prepare_dir(node)
        first, rest = self.nodes[0], self.nodes[1:]
        self._install_db(first, deadline)
        # The setup runs from --init-file, before the node takes connections: no password is
        # needed for it, and the joiners get users and schema with their state transfer.
        setup = first.dir / "setup.sql"
        setup.write_text(SETUP_SQL)
        self._launch(first, None, bootstrap=True, extra=[f"--init-file={setup}"])
        self._wait_synced([first], deadline)
        self._ensure_arbitrator()
        # A joiner that connects while garbd is still joining gets a non-primary view first
        # and loses ~3 s reconnecting.
        self._wait_members(1 + (1 if self.arbitrator else 0), deadline)
        # Joiners start with an empty datadir and get a full copy by rsync SST; the donor
        # serves one at a time, the others retry by themselves.
        for node in rest:
            self._launch(node, None)
        self._wait_synced(rest, deadline)
        self._write_state(created=True)

    def _prepare_dir(self, node: Node) -> None:
        node.datadir.mkdir(parents=True, exist_ok=True)
        node.cnf.write_text(self._config(node))
        node.log.touch()
        _chown_to_run_user(node.dir)

    def _config(self, node: Node) -> str:
        gcomm = ",".join(f"{n.host}:{n.galera_port}" for n in self.nodes)
        provider_options = "; ".join([
            f"gmcast.listen_addr=tcp://{node.host}:{node.galera_port}",
            f"ist.recv_addr={node.host}:{node.ist_port}",
            # Enough history for IST after a node has been down a while under the demo's load.
            "gcache.size=64M",
        ])
        return f"""# Written by multimaster.lab; the only option file this node reads.
[mariadbd]
user = {RUN_USER}
datadir = {node.datadir}
socket = {node.socket}
pid-file = {node.dir / 'mariadbd.pid'}
log-error = {node.log}
bind-address = {node.host}
port = {node.port}
skip-name-resolve
server_id = {node.index}
# Small, so a node stays around 150 MB.
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
performance_schema = OFF
max_connections = 100
# Galera requirements.
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
# Writing to the OS on each commit survives kill -9 of the server, which is all a lab needs.
innodb_flush_log_at_trx_commit = 2
wsrep_on = ON
wsrep_provider = {GALERA_PROVIDER}
wsrep_cluster_name = {CLUSTER_NAME}
wsrep_cluster_address = gcomm://{gcomm}
wsrep_node_name = {node.name}
wsrep_node_address = {node.host}:{node.galera_port}
wsrep_node_incoming_address = {node.address}
wsrep_sst_method = rsync
wsrep_sst_receive_address = {node.host}:{node.sst_port}
# The course's table has no primary key.
wsrep_certify_nonPK = ON
wsrep_provider_options = "{provider_options}"
{labtls.server_options(self.base_dir / "tls") if self.tls else ""}"""

    def _install_db(self, node: Node, deadline: float) -> None:
        cmd = [_exe("mariadb-install-db"), f"--defaults-file={node.cnf}",
               f"--datadir={node.datadir}", f"--user={RUN_USER}", "--skip-test-db",
               "--skip-name-resolve", "--auth-root-authentication-method=socket"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=_remaining(deadline))
        except subprocess.TimeoutExpired:
            raise LabError(f"mariadb-install-db for node {node.index} timed out",
                           _tail(node.log))
        if done.returncode != 0:
            raise LabError(f"mariadb-install-db for node {node.index} failed",
                           (done.stdout + done.stderr)[-2000:])

    # ----------------------------------------------------------------------------------------
    # Starting nodes

    def _launch(self, node: Node, position: Optional[Position], bootstrap: bool = False,
                extra: Optional[List[str]] = None) -> None:
        """Start node's mariadbd in the background and record its pid."""
        if self.net is None:
            self._check_ports_free(node.host, node.ports(), f"node {node.index}")
        # A saved primary view (left by a crash) would make the node try to restore that old
        # component by itself; this module decides who bootstraps, so drop it.
        (node.datadir / "gvwstate.dat").unlink(missing_ok=True)
        if bootstrap:
            _mark_safe_to_bootstrap(node.datadir / "grastate.dat")
        # --defaults-file must come first; --datadir also names the process for `down`.
        cmd = [_exe("mariadbd"), f"--defaults-file={node.cnf}", node.marker]
        if bootstrap:
            cmd.append("--wsrep-new-cluster")
        if position is not None:
            cmd.append(f"--wsrep-start-position={position}")
        cmd += extra or []
        # mariadbd drops to the mysql user itself (`user =` in my.cnf).
        pid = _spawn(self._in_namespace(node.name, cmd), node.log)
        self._record_pid(node.name, pid)

    def _restart_cluster(self, node: Node, deadline: float) -> None:
        """Every data node is down: bootstrap the most advanced one, then let `node` join.

        Bootstrapping a node that missed writes would fork history: the others would then be
        refused or wiped by a full copy. So `start 1` after a full crash may also start the
        node that saw the last write, if that is another one.
        """
        positions = {n.index: self._recover(n, deadline) for n in self.nodes}

        def rank(n: Node) -> Tuple[int, bool]:
            pos = positions[n.index]
            return (pos.seqno if pos else -1, n is node)

        leader = max(self.nodes, key=rank)
        # A surviving garbd sits in a non-primary component of the old cluster; a fresh one
        # joins the new primary cleanly.
        self._stop_arbitrator()
        self._launch(leader, positions[leader.index], bootstrap=True)
        self._wait_synced([leader], deadline)
        self._ensure_arbitrator()
        if leader is not node:
            self._launch(node, positions[node.index])

    def _restore_quorum(self, live: List[Node], deadline: float) -> None:
        """Survivors that lost their majority (two of four members crashed, say) wait in a
        non-Primary component for good, and no crashed node can join them. Promote the most
        advanced survivor to Primary (pc.bootstrap), as an operator would."""
        settle = time.monotonic() + 3  # judge the component only once its view has settled
        while True:
            status = {n.index: self._galera_status(n) or {} for n in live}
            if any(s.get("wsrep_cluster_status") == "Primary" for s in status.values()):
                return
            if time.monotonic() >= settle:
                break
            time.sleep(POLL_INTERVAL)

        def committed(n: Node) -> int:
            value = status[n.index].get("wsrep_last_committed", "")
            return int(value) if value.lstrip("-").isdigit() else -1

        leader = max(live, key=committed)
        self.sql(leader.index, "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'")
        _wait_until(lambda: (self._galera_status(leader) or {}).get("wsrep_cluster_status") == "Primary",
                    _remaining(deadline), f"node {leader.index} to form a Primary component", leader.log)

    def _recover(self, node: Node, deadline: float) -> Optional[Position]:
        """The node's last committed position, so that it rejoins by IST instead of SST."""
        saved = _read_grastate(node.datadir / "grastate.dat")
        if saved is not None and saved.seqno >= 0:
            return saved  # clean shutdown: Galera wrote the position itself
        if not (node.datadir / "mysql").is_dir():
            return None  # never received a state: a full copy is the only way
        # After a crash grastate.dat says -1; InnoDB knows the real position.
        cmd = [_exe("mariadbd"), f"--defaults-file={node.cnf}", node.marker, "--wsrep-recover",
               "--disable-log-error", f"--pid-file={node.dir / 'recover.pid'}"]
        cmd = self._in_namespace(node.name, cmd)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=_remaining(deadline))
        except subprocess.TimeoutExpired:
            raise LabError(f"position recovery of node {node.index} timed out", _tail(node.log))
        found = re.search(r"WSREP: Recovered position: *([0-9a-f-]{36}):(-?\d+)", done.stderr)
        if found is None:
            raise LabError(f"position recovery of node {node.index} failed",
                           "\n".join(done.stderr.splitlines()[-LOG_TAIL_LINES:]))
        return Position(found.group(1), int(found.group(2)))

    def _wait_evicted(self, node: Node, live: List[Node], deadline: float) -> None:
        """Wait until the survivors drop node's old incarnation, which can take ~6 s after a
        kill -9 (Galera's suspect timeout); joining before that is refused."""

        def evicted() -> bool:
            for other in live:
                status = self._galera_status(other)
                if status is not None:
                    members = status.get("wsrep_incoming_addresses", "").split(",")
                    return node.address not in members
            return False

        _wait_until(evicted, _remaining(deadline),
                    f"the cluster to drop the old incarnation of node {node.index}")

    def _wait_synced(self, nodes: List[Node], deadline: float) -> None:
        """Until each node is Synced, wsrep_ready=ON and in the Primary component."""
        for node in nodes:
            seen = {"wsrep_local_state_comment": "unreachable"}

            def ready() -> bool:
                if self.pid(node.index) is None:
                    raise LabError(f"node {node.index} ({node.address}) exited while starting",
                                   _tail(node.log))
                status = self._galera_status(node)
                seen.update(status or {})
                return status is not None and _is_ready(status)

            try:
                _wait_until(ready, _remaining(deadline), f"node {node.index} to sync", node.log)
            except _Timeout as e:
                state = seen["wsrep_local_state_comment"]
                raise LabError(f"{e.message} (state: {state})", e.log_tail) from None

    def _wait_members(self, expected: int, deadline: float) -> None:
        _wait_until(lambda: self._cluster_size() == expected, _remaining(deadline),
                    f"the cluster to reach {expected} members", self.nodes[0].log)

    def _cluster_size(self) -> int:
        for node in self.nodes:
            if self.pid(node.index) is not None:
                status = self._galera_status(node)
                if status is not None and _is_ready(status):
                    return int(status.get("wsrep_cluster_size", 0))
        return 0

    # ----------------------------------------------------------------------------------------
    # The arbitrator

    def _ensure_arbitrator(self) -> None:
        if not self.arbitrator or self.arbitrator_pid() is not None:
            return
        self._check_arbitrator_port()
        self.arbitrator_dir.mkdir(parents=True, exist_ok=True)
        self.arbitrator_log.touch()
        _chown_to_run_user(self.arbitrator_dir)
        gcomm = ",".join(f"{n.host}:{n.galera_port}" for n in self.nodes)
        cmd = [_exe("garbd"), "--group", CLUSTER_NAME, "--name", "arbitrator",
               "--address", f"gcomm://{gcomm}",
               "--options", f"gmcast.listen_addr=tcp://{self.arbitrator_host}:"
                            f"{self.arbitrator_port}",
               "--log", str(self.arbitrator_log)]
        if self.net is None:
            pid = _spawn(cmd, self.arbitrator_log, user=RUN_USER if os.geteuid() == 0 else None)
        else:
            # `ip netns exec` needs root: the drop to mysql comes after it, by setpriv, which
            # execs (as does `ip netns exec`), so the pid recorded is garbd's own.
            drop = [_exe("setpriv"), f"--reuid={RUN_USER}", f"--regid={RUN_USER}", "--init-groups"]
            pid = _spawn(self._in_namespace("garbd", drop + cmd), self.arbitrator_log)
        self._record_pid("garbd", pid)

    def _stop_arbitrator(self) -> None:
        pid = self.arbitrator_pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            _wait_until(lambda: self.arbitrator_pid() is None, 10, "garbd to exit")

    # ----------------------------------------------------------------------------------------
    # The network of a netns lab: a bridge in the root namespace, one namespace per process
    # key (node1..., garbd), each joined to the bridge by a veth pair.

    def _in_namespace(self, key: str, cmd: List[str]) -> List[str]:
        """cmd, run inside key's namespace in a netns lab (`ip netns exec` execs it, so the
        pid is cmd's own); cmd unchanged otherwise."""
        if self.net is None:
            return cmd
        return [_ip_exe(), "netns", "exec", self.net.namespace(key)] + cmd

    def _require_netns(self, what: str) -> NetLayout:
        if self.net is None:
            raise LabError(f"{what} needs a netns lab: Lab(netns=True), or "
                           f"`multimaster lab up --netns` (this one is on loopback)")
        return self.net

    def _net_members(self) -> List[Tuple[str, int]]:
        """(process key, host number in the subnet) of everything that gets a namespace."""
        members = [(node.name, node.index) for node in self.nodes]
        if self.arbitrator:
            members.append(("garbd", ARBITRATOR_HOST_NUMBER))
        return members

    def _net_keys(self) -> List[str]:
        return [key for key, _ in self._net_members()]

    def _net_up(self) -> None:
        """Create whatever part of the network is missing and heal every partition.
        Idempotent; a no-op on a loopback lab."""
        net = self.net
        if net is None:
            return
        links = set(_links())
        namespaces = set(_namespaces())
        prefix = net.subnet.prefixlen
        if net.bridge not in links:
            _ip("link", "add", net.bridge, "address", net.bridge_mac, "type", "bridge")
        _ip("addr", "replace", f"{net.client_host}/{prefix}", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        for key, number in self._net_members():
            ns = net.namespace(key)
            if ns not in namespaces:
                _ip("netns", "add", ns)
            if net.outer(key) not in links:
                _ip("link", "add", net.outer(key), "type", "veth",
                    "peer", "name", net.inner(key), "netns", ns)
            _ip("-n", ns, "addr", "replace", f"{net.host(number)}/{prefix}", "dev", net.inner(key))
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", net.inner(key), "up")
            _ip("link", "set", net.outer(key), "master", net.bridge)
            self._heal(net, key)

    def _net_down(self) -> None:
        """Remove the lab's namespaces, veths and bridge, and end any process still inside
        those namespaces (an SST's rsync, a node a killed run never recorded): all found by
        the lab's name prefix, so this also clears what a killed run left. No-op on loopback."""
        net = self.net
        if net is None:
            return
        recorded = (_read_json(self.state_file) or {}).get("netns") or {}
        ours_ns = [ns for ns in _namespaces()
                   if ns.startswith(net.tag + "-") or ns in recorded.get("namespaces", {}).values()]
        pids = [pid for ns in ours_ns for pid in _netns_pids(ns)]
        for pid in pids:
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGKILL)
        _wait_until(lambda: not any(_netns_pids(ns) for ns in ours_ns), 10,
                    "the processes in the lab's namespaces to die")

        def our_links() -> List[str]:
            extra = [recorded.get("bridge")] + list(recorded.get("veths", {}).values())
            return [name for name in _links() if name.startswith(net.tag) or name in extra]

        for name in our_links():
            # Deleting one end of a veth pair deletes the other, in its namespace.
            _run_cmd(["ip", "link", "del", name], f"removing {name}", check=False)
        for ns in ours_ns:
            _run_cmd(["ip", "netns", "del", ns], f"removing namespace {ns}", check=False)
        _wait_until(lambda: not our_links() and not any(
            ns in ours_ns for ns in _namespaces()), 10, "the lab's network to go away")

    def _heal(self, net: NetLayout, key: str) -> None:
        _ip("link", "set", net.outer(key), "up")
        if _which("nft") is not None:
            ns = net.namespace(key)
            listed = _run_cmd(["ip", "netns", "exec", ns, _nft(), "list", "tables"],
                              f"listing node {key}'s nftables", check=False)
            if f"table ip {PARTITION_TABLE}" in listed:
                _run_cmd(["ip", "netns", "exec", ns, _nft(), "delete", "table", "ip", PARTITION_TABLE],
                         f"healing the one-way partition of {key}")

    def _partition_state(self, net: NetLayout, key: str) -> Optional[str]:
        try:
            flags = int(Path(f"/sys/class/net/{net.outer(key)}/flags").read_text(), 16)
        except (OSError, ValueError):
            return None  # no network at all (the lab is down)
        if not flags & 0x1:  # IFF_UP
            return "full"
        if _which("nft") is not None:
            listed = _run_cmd(["ip", "netns", "exec", net.namespace(key), _nft(), "list", "tables"],
                              f"listing {key}'s nftables", check=False)
            if f"table ip {PARTITION_TABLE}" in listed:
                return "one-way"
        return None

    def _check_subnet_free(self) -> None:
        """The subnet must not overlap any route of the root namespace but the lab's own
        bridge: another lab's, or the machine's real network."""
        net = self._require_netns("the subnet check")
        for dev, destination in _routes():
            if dev != net.bridge and destination.overlaps(net.subnet):
                raise LabError(f"subnet {net.subnet} overlaps {destination} on {dev}: choose "
                               f"another (subnet= or --subnet)")

    # ----------------------------------------------------------------------------------------
    # Processes and state

    def _marker(self, key: str) -> str:
        """What the command line of this lab's process `key` ("node2", "garbd") contains.

        Derived from the key rather than self.nodes, so `down` also finds nodes of a bigger
        lab recorded in lab.json than this object was built for.
        """
        if key == "garbd":
            return str(self.arbitrator_log)
        return f"--datadir={self.base_dir / key / 'data'}"  # Node.marker

    def _recorded_pids(self) -> Dict[str, int]:
        pids = (_read_json(self.state_file) or {}).get("pids", {})
        return {str(key): int(pid) for key, pid in pids.items()}

    def _live_pid(self, key: str) -> Optional[int]:
        pid = self._recorded_pids().get(key)
        return pid if pid is not None and _is_alive(pid, self._marker(key)) else None

    def _record_pid(self, key: str, pid: int) -> None:
        state = _read_json(self.state_file) or {}
        state.setdefault("pids", {})[key] = pid
        _write_json(self.state_file, state)

    def _write_state(self, created: bool) -> None:
        state = _read_json(self.state_file) or {}
        state.update(addresses=self.addresses, arbitrator=self.arbitrator, created=created, tls=self.tls)
        if self.net is not None:
            state["netns"] = self.net.record(self._net_keys())
        state.setdefault("pids", {})
        _write_json(self.state_file, state)

    def _stop_all(self) -> None:
        """SIGTERM every process lab.json records, then kill -9 what is left after STOP_GRACE."""
        candidates = [(pid, self._marker(key)) for key, pid in self._recorded_pids().items()]
        live = [(pid, marker) for pid, marker in candidates if _is_alive(pid, marker)]
        for pid, _ in live:
            _signal(pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            _signal(pid, signal.SIGTERM)

        def all_gone() -> bool:
            return not any(_is_alive(pid, marker) for pid, marker in live)

        try:
            _wait_until(all_gone, STOP_GRACE, "the lab to shut down")
        except _Timeout:
            for pid, marker in live:
                if _is_alive(pid, marker):
                    _signal(pid, signal.SIGKILL)
            _wait_until(all_gone, 10, "the lab's processes to die after kill -9")

    def _remove_files(self) -> None:
        """Remove only what this module creates, then base_dir if that leaves it empty."""
        for directory in self.base_dir.glob("node[0-9]*"):
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(self.arbitrator_dir, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
        try:
            self.base_dir.rmdir()
        except OSError:
            pass  # absent, or holds files that are not ours

    # ----------------------------------------------------------------------------------------
    # Checks and queries

    def _node(self, i: int) -> Node:
        if not isinstance(i, int) or not 1 <= i <= len(self.nodes):
            raise LabError(f"no node {i}: this lab has nodes 1 to {len(self.nodes)}")
        return self.nodes[i - 1]

    def _require_pid(self, i: int) -> int:
        pid = self.pid(i)
        if pid is None:
            raise LabError(f"node {i} is not running")
        return pid

    def _check_layout(self) -> None:
        seen: Dict[Tuple[str, int], str] = {}
        wanted = [(n.host, port, f"node {n.index} {what}")
                  for n in self.nodes for port, what in n.ports()]
        wanted.append((self.arbitrator_host, self.arbitrator_port, "the arbitrator"))
        for host, port, user in wanted:
            if not 0 < port < 65536:
                raise LabError(f"{user} would need port {port} on {host}: out of range")
            if (host, port) in seen:
                raise LabError(f"{host}:{port} is wanted by both {seen[host, port]} and {user}")
            seen[host, port] = user

    def _check_parent_dirs(self) -> None:
        # The nodes run as `mysql`, which must be able to reach its files: pytest's and
        # mkdtemp's private 0700 directories are a common trap.
        if os.geteuid() != 0:
            return
        for parent in self.base_dir.parents:
            if parent.exists() and not os.stat(parent).st_mode & 0o001:
                raise LabError(f"{parent} is not searchable by the {RUN_USER} user "
                               f"(chmod o+x it, or choose another --dir)")

    def _check_ports_of_stopped(self) -> None:
        if self.net is not None:
            return  # the addresses exist only in this lab's own namespaces
        for node in self.nodes:
            if self.pid(node.index) is None:
                self._check_ports_free(node.host, node.ports(), f"node {node.index}")
        if self.arbitrator and self.arbitrator_pid() is None:
            self._check_arbitrator_port()

    def _check_arbitrator_port(self) -> None:
        if self.net is not None:
            return
        self._check_ports_free(self.arbitrator_host, [(self.arbitrator_port, "Galera")],
                               "the arbitrator")

    @staticmethod
    def _check_ports_free(host: str, ports: List[Tuple[int, str]], user: str) -> None:
        for port, what in ports:
            if not _port_free(host, port):
                raise LabError(f"{host}:{port} is already in use by another process "
                               f"(needed as {user}'s {what} port)")

    def _galera_status(self, node: Node) -> Optional[Dict[str, str]]:
        """wsrep_* status of node, or None if it does not answer (starting, frozen, gone)."""
        try:
            rows = self.sql(node.index, "SHOW GLOBAL STATUS LIKE 'wsrep%'", timeout=3)
        except LabError:
            return None
        return {row[0].lower(): row[1] or "" for row in rows if row[0]}

    def _node_status(self, node: Node) -> Dict[str, object]:
        pid = self.pid(node.index)
        status = None
        state = "down"
        if pid is not None and _is_frozen(pid):
            state = "frozen"
        elif pid is not None:
            status = self._galera_status(node)
            state = status.get("wsrep_local_state_comment", "?") if status else "unreachable"
        return {
            "index": node.index,
            "address": node.address,
            "pid": pid,
            "running": pid is not None,
            "state": state,
            "cluster_size": int(status["wsrep_cluster_size"]) if status else None,
            "ready": bool(status and _is_ready(status)),
            "partition": self.partitioned(node.index),
        }


# --------------------------------------------------------------------------------------------
# Scheduled node operations

# When a scheduled step runs: seconds after the previous step ended (the schedule's start for
# the first), or a condition polled until it returns True (such as Lab.when_rows(n)).
When = Union[float, Callable[[], bool]]

ACTIONS = ("crash", "freeze", "thaw", "stop", "start", "restart", "partition",
           "partition_one_way", "heal")
CONDITION_POLL = 0.25  # seconds between two checks of a condition


@dataclass(frozen=True)
class Step:
    """One node operation for `Lab.schedule`: `action` ("crash", "freeze", "thaw", "stop",
    "start", "restart", or in a netns lab "partition", "partition_one_way" or "heal") on node
    `node` (1-based), once `after` is reached: seconds after the previous step ended, or a
    condition (a callable returning True when it is time)."""

    action: str
    node: int
    after: When = 0.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise LabError(f"unknown action {self.action!r} (one of {', '.join(ACTIONS)})")
        if isinstance(self.after, bool) or not (isinstance(self.after, (int, float))
                                                or callable(self.after)):
            raise LabError(f"after= takes seconds or a condition, not {self.after!r}")
        if isinstance(self.after, (int, float)) and not 0 <= self.after < float("inf"):
            raise LabError(f"after= must be 0 or more seconds, not {self.after!r}")

    def __str__(self) -> str:
        return f"{self.action} node {self.node} {_describe(self.after)}"


def _describe(after: When) -> str:
    if isinstance(after, (int, float)):
        return "at once" if after == 0 else f"after {after:g} s"
    # A function says its name; a condition object such as RowCount, what it waits for.
    return f"when {getattr(after, '__name__', None) or after}"


class RowCount:
    """A condition for `after=`: true once `table` holds at least `rows` rows, counted by
    `Lab.count_rows` (on the first running node that answers). Made by `Lab.when_rows`."""

    def __init__(self, lab: "Lab", rows: int, table: str = f"{DB_NAME}.course") -> None:
        _check_table_name(table)
        self.lab, self.rows, self.table = lab, int(rows), table

    def __call__(self) -> bool:
        return self.lab.count_rows(self.table) >= self.rows

    def __str__(self) -> str:
        return f"{self.table} holds {self.rows} rows"

    def __repr__(self) -> str:
        return f"<RowCount: {self}>"


class Scheduled:
    """Steps running in a background thread, made by `Lab.schedule` (or `crash(..., after=)`
    and the like). Look at it (its repr lists each step, when it ran and how it went), wait
    for it (`wait()` raises the error of a failed step), or `cancel()` it."""

    def __init__(self, lab: "Lab", steps: Sequence[Step]) -> None:
        self.lab = lab
        self.steps: Tuple[Step, ...] = tuple(steps)
        self.error: Optional[BaseException] = None
        # Per step: pending, waiting, running, done, failed, cancelled, skipped.
        self._states = ["pending"] * len(self.steps)
        self._ran_at: List[Optional[float]] = [None] * len(self.steps)  # time.time() at start
        self._took: List[Optional[float]] = [None] * len(self.steps)
        self.history: List[Tuple[float, str]] = []  # (time.time(), what happened)
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"multimaster-lab-schedule-{id(self):x}")

    def _begin(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        """Finished: every step done, or one failed, or cancelled."""
        return self._thread.ident is not None and not self._thread.is_alive()

    @property
    def ok(self) -> bool:
        """Finished with every step done."""
        return self.done and all(state == "done" for state in self._states)

    @property
    def cancelled(self) -> bool:
        """`cancel()` (or the lab's `down()`) was called."""
        return self._cancel.is_set()

    @property
    def states(self) -> List[str]:
        """Per step: pending, waiting, running, done, failed, cancelled or skipped."""
        return list(self._states)

    @property
    def ran_at(self) -> List[Optional[float]]:
        """Per step: when its action began (time.time(), like `mm.events()`), or None."""
        return list(self._ran_at)

    def wait(self, timeout: Optional[float] = None) -> "Scheduled":
        """Wait until the schedule ends; return it. Raises the error of a failed step, and
        TimeoutError if it is still running after `timeout` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            running = [str(s) for s, st in zip(self.steps, self._states) if st in ("waiting", "running")]
            raise TimeoutError(f"schedule still running after {timeout:g} s"
                               + (f" ({running[0]})" if running else ""))
        if self.error is not None:
            raise self.error
        return self

    def cancel(self, wait: bool = True, timeout: float = 180) -> None:
        """Drop the steps not started yet; with `wait`, let a step under way finish first."""
        self._cancel.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _note(self, text: str) -> None:
        self.history.append((time.time(), text))

    def _reached(self, after: When) -> bool:
        """Wait for `after`; False if cancelled meanwhile."""
        if isinstance(after, (int, float)):
            return not self._cancel.wait(after)
        while not self._cancel.is_set():
            if after():
                return True
            self._cancel.wait(CONDITION_POLL)
        return False

    def _run(self) -> None:
        for k, step in enumerate(self.steps):
            try:
                self._states[k] = "waiting"
                if not self._reached(step.after):
                    break
                with self.lab._lock:
                    if self._cancel.is_set():  # down() was called while this step waited
                        break
                    self._states[k] = "running"
                    self._ran_at[k] = time.time()
                    self._note(f"{step.action} node {step.node} ({_describe(step.after)})")
                    started = time.monotonic()
                    self.lab._perform(step)
                    self._took[k] = time.monotonic() - started
                    self._states[k] = "done"
                    self._note(f"{step.action} node {step.node}: done in {self._took[k]:.1f} s")
            except BaseException as e:  # surfaced by wait(), `error` and stderr, never lost
                self._states[k] = "failed"
                self.error = e
                self._note(f"{step.action} node {step.node} failed: {e}")
                for rest in range(k + 1, len(self.steps)):
                    self._states[rest] = "skipped"
                try:
                    print(f"multimaster lab: scheduled {step.action} of node {step.node} "
                          f"failed: {e}", file=sys.stderr, flush=True)
                except Exception:
                    pass
                return
        for rest in range(len(self.steps)):
            if self._states[rest] in ("pending", "waiting"):
                self._states[rest] = "cancelled"

    def __repr__(self) -> str:
        if not self._thread.is_alive() and self._thread.ident is not None:
            overall = "failed" if self.error else "cancelled" if self._cancel.is_set() and not self.ok else "done"
        else:
            overall = "cancelling" if self._cancel.is_set() else "running"
        lines = [f"<Scheduled, {overall}: {len(self.steps)} step{'s' if len(self.steps) != 1 else ''}"]
        for k, step in enumerate(self.steps):
            state = self._states[k]
            at = self._ran_at[k]
            when = time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "        "
            took = f" in {self._took[k]:.1f} s" if self._took[k] is not None else ""
            lines.append(f"  {when}  {step}: {state}{took}")
        if self.error is not None:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines) + ">"


def _check_table_name(table: str) -> None:
    # The name goes into SQL text: identifiers only.
    if not re.fullmatch(r"[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?", table):
        raise LabError(f"bad table name {table!r} (expected name or database.name)")


# --------------------------------------------------------------------------------------------
# Helpers without lab state


def lab_dir(base_dir: Optional[str] = None) -> Path:
    """The lab directory: base_dir, else $MULTIMASTER_LAB_DIR, else /tmp/multimaster-lab."""
    return Path(base_dir or os.environ.get("MULTIMASTER_LAB_DIR") or DEFAULT_DIR).absolute()


def lab_hosts() -> Optional[List[str]]:
    """$MULTIMASTER_LAB_HOSTS (`host,host`, each `host` or `host:port`) as a list, or None
    when it is unset or empty: the addresses a Lab made without `hosts` uses."""
    value = os.environ.get(HOSTS_VARIABLE, "").strip()
    if not value:
        return None
    return [h.strip() for h in value.split(",") if h.strip()]


def _split_address(text: str, default_port: int) -> Tuple[str, int]:
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


def _layout(endpoints: List[Tuple[str, int]], base_dir: Path) -> List[Node]:
    hosts = [host for host, _ in endpoints]
    nodes = []
    for i, (host, port) in enumerate(endpoints, start=1):
        if hosts.count(host) == 1:
            galera, ist, sst = GALERA_PORT, IST_PORT, SST_PORT
        else:
            galera, ist, sst = (port + offset for offset in SHARED_HOST_PORT_OFFSETS)
        nodes.append(Node(i, host, port, galera, ist, sst, base_dir / f"node{i}"))
    return nodes


def _which(name: str) -> Optional[str]:
    # mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
    return shutil.which(name, path=os.environ.get("PATH", os.defpath) + ":/usr/sbin")


def _exe(name: str) -> str:
    path = _which(name)
    if path is None:
        _check_installed()  # raises, naming the packages
    return path or name


def _check_installed() -> None:
    missing = [name for name in ("mariadbd", "mariadb", "mariadb-install-db", "garbd", "rsync")
               if _which(name) is None]
    if not Path(GALERA_PROVIDER).exists():
        missing.append(GALERA_PROVIDER)
    if missing:
        raise LabError(f"missing {', '.join(missing)}: apt-get install {APT_PACKAGES}")


def _is_ready(status: Dict[str, str]) -> bool:
    return (status.get("wsrep_local_state_comment") == "Synced"
            and status.get("wsrep_ready") == "ON"
            and status.get("wsrep_cluster_status") == "Primary")


def _port_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as the servers use it: a listener makes bind fail, TIME_WAIT leftovers of
    # a lab that just went down do not.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def netns_unavailable() -> Optional[str]:
    """Why a netns lab cannot run here (not root, no `ip`, namespaces refused), or None.
    Creates and removes one throwaway namespace to find out."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if _which("ip") is None:
        return "`ip` is missing: apt-get install iproute2"
    if _which("setpriv") is None:
        return "`setpriv` is missing: apt-get install util-linux"
    probe = f"mmprobe{os.getpid()}"
    try:
        _run_cmd(["ip", "netns", "add", probe], "creating a network namespace")
    except LabError as e:
        return str(e)
    _run_cmd(["ip", "netns", "del", probe], "removing a network namespace", check=False)
    return None


def _check_netns_tools() -> None:
    reason = netns_unavailable()
    if reason is not None:
        raise LabError(f"a netns lab cannot run here: {reason}")


def _check_nft() -> None:
    if _which("nft") is None:
        raise LabError("a one-way partition needs nftables: apt-get install nftables")


def _nft() -> str:
    _check_nft()
    return _exe("nft")


def _ip_exe() -> str:
    path = _which("ip")
    if path is None:
        raise LabError("`ip` is missing: apt-get install iproute2")
    return path


def _run_cmd(cmd: List[str], what: str, stdin: Optional[str] = None, check: bool = True,
             timeout: float = 30) -> str:
    """Run a short command (`ip`, `nft`); its stdout. LabError naming `what` if it fails
    (with check), or if it does not end within timeout."""
    if cmd[0] == "ip":
        cmd = [_ip_exe()] + cmd[1:]
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: `{shlex.join(cmd)}` did not end within {timeout:g} s") from None
    if check and done.returncode != 0:
        reason = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise LabError(f"{what} failed: `{shlex.join(cmd)}`: {reason}")
    return done.stdout


def _ip(*args: str) -> str:
    return _run_cmd(["ip", *args], "ip " + " ".join(args))


def _links() -> List[str]:
    """The names of the root namespace's network interfaces."""
    names = []
    for line in _run_cmd(["ip", "-o", "link", "show"], "listing interfaces").splitlines():
        fields = line.split(":", 2)
        if len(fields) >= 2:
            names.append(fields[1].strip().split("@")[0])
    return names


def _namespaces() -> List[str]:
    out = _run_cmd(["ip", "netns", "list"], "listing network namespaces")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _netns_pids(ns: str) -> List[int]:
    out = _run_cmd(["ip", "netns", "pids", ns], f"listing the processes in {ns}", check=False)
    return [int(word) for word in out.split() if word.isdigit()]


_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "unreachable",
                "blackhole", "prohibit", "throw", "nat"}


def _routes() -> List[Tuple[str, ipaddress.IPv4Network]]:
    """(device, destination) of the root namespace's IPv4 routes, in every table, without
    default routes."""
    found = []
    out = _run_cmd(["ip", "-4", "route", "show", "table", "all"], "listing routes")
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default" or "dev" not in words:
            continue
        try:
            destination = ipaddress.IPv4Network(words[0], strict=False)
        except ValueError:
            continue
        found.append((words[words.index("dev") + 1], destination))
    return found


def _parse_subnet(text: str) -> ipaddress.IPv4Network:
    """A netns lab's subnet: private IPv4, /8 to /24 (room for hosts 1-9, 200 and 254)."""
    try:
        subnet = ipaddress.IPv4Network(text.strip())
    except ValueError:
        raise LabError(f"bad subnet {text!r} (expected e.g. 10.213.7.0/24)") from None
    if (not subnet.is_private or subnet.is_loopback or subnet.is_link_local
            or subnet.is_multicast or not 8 <= subnet.prefixlen <= 24):
        raise LabError(f"subnet {text!r}: a private IPv4 subnet of /8 to /24 is needed, "
                       f"such as 10.213.7.0/24")
    return subnet


# Popen objects of the processes this Python process started, kept so that a child that dies
# is reaped (a zombie would otherwise look alive in /proc).
_CHILDREN: Dict[int, subprocess.Popen[bytes]] = {}


def _spawn(cmd: List[str], log: Path, user: Optional[str] = None) -> int:
    """Start cmd detached from our session (it outlives the CLI), stderr into log."""
    with open(log, "ab") as out:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 start_new_session=True, user=user)
    _CHILDREN[child.pid] = child
    return child.pid


def _is_alive(pid: int, marker: str) -> bool:
    """pid runs and is ours: its command line carries marker (pids get reused)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: Popen knows. Its /proc cmdline can read empty for a moment right
        # after exec (the kernel sets the argument area after the new image is in place).
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)  # pop: a scheduled action's thread may race us to it
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return marker.encode() in cmdline.split(b"\0")


def _is_frozen(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] in ("T", "t")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _chown_to_run_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, f) for f in dirs + files]:
            shutil.chown(name, RUN_USER, RUN_USER)


def _read_grastate(path: Path) -> Optional[Position]:
    try:
        text = path.read_text()
    except OSError:
        return None
    uuid = re.search(r"^uuid:\s*(\S+)", text, re.M)
    seqno = re.search(r"^seqno:\s*(-?\d+)", text, re.M)
    if uuid is None or seqno is None:
        return None
    return Position(uuid.group(1), int(seqno.group(1)))


def _mark_safe_to_bootstrap(path: Path) -> None:
    # Galera clears the flag on every node after a crash and then refuses --wsrep-new-cluster;
    # we have just picked the most advanced node, which is exactly when setting it is right.
    if path.exists():
        path.write_text(re.sub(r"^safe_to_bootstrap:.*$", "safe_to_bootstrap: 1",
                               path.read_text(), flags=re.M))


def _unescape(value: str) -> Optional[str]:
    if value == "NULL":
        return None
    escapes = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), value)


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data: Dict[str, Any] = json.loads(path.read_text())
        return data
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"cannot read {path}: {e}") from None


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    # Write-then-rename: a reader in another process never sees half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(f"  {log.name}: {line}" for line in text.splitlines()[-lines:])


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class _Timeout(LabError):
    pass


def _wait_until(condition: Callable[[], bool], timeout: float, what: str,
                log: Optional[Path] = None) -> None:
    """Poll condition until true; LabError naming `what` (and the log's tail) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise _Timeout(f"timed out after {timeout:.0f} s waiting for {what}",
                           _tail(log) if log else "")
        time.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------------------------
# Command line: `multimaster lab ...` calls main(argv)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=argparse.SUPPRESS,
                        help=f"lab directory (default: $MULTIMASTER_LAB_DIR or {DEFAULT_DIR})")
    parser = argparse.ArgumentParser(prog="multimaster lab", parents=[common],
                                     description="A local MariaDB Galera cluster on loopback "
                                                 "(or, with `up --netns`, in network namespaces).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", parents=[common], help="start the lab (N data nodes + garbd)")
    up.add_argument("nodes", nargs="?", type=int, metavar="N", help="data nodes (default 2)")
    up.add_argument("--hosts", metavar="ADDR,ADDR",
                    help="one loopback address per node, host or host:port "
                         "(default $MULTIMASTER_LAB_HOSTS, else 127.0.10.1, 127.0.10.2, ... "
                         "on port 3306)")
    up.add_argument("--netns", action="store_true",
                    help="each node and garbd in a network namespace of its own, on a bridge, "
                         "so that `partition` can cut them off (root only)")
    up.add_argument("--tls", action="store_true",
                    help="the nodes require TLS: a private CA and certificates naming their IP "
                         "addresses, under DIR/tls (connect with ssl_ca=DIR/tls/ca.pem)")
    up.add_argument("--subnet", metavar="CIDR",
                    help="the netns lab's private subnet (default 10.213.<k>.0/24, k derived "
                         "from the lab directory); implies --netns")
    commands.add_parser("status", parents=[common], help="show each node's state")
    for name, text in [("crash", "kill -9 node I"), ("freeze", "SIGSTOP node I"),
                       ("thaw", "SIGCONT node I"), ("start", "start node I again"),
                       ("stop", "shut node I down cleanly"),
                       ("partition", "cut node I off the network: packets dropped, no RST "
                                     "(netns lab)"),
                       ("heal", "end node I's partition (netns lab)")]:
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("node", type=int, metavar="I", help="node number, from 1")
        if name == "partition":
            command.add_argument("--one-way", action="store_true",
                                 help="drop only what the client sends node I; it stays in "
                                      "the cluster")
    commands.add_parser("down", parents=[common], help="stop the lab and remove its files")
    commands.add_parser("env", parents=[common], help="print shell exports for the course")
    return parser


def _print_env(lab: Lab) -> None:
    for name, value in lab.env().items():
        print(f"export {name}={shlex.quote(value)}")


def _print_status(lab: Lab) -> None:
    partition = f"{'partition':<11}" if lab.netns else ""
    print(f"{'node':<6}{'address':<22}{'pid':<9}{'state':<13}{'size':<6}{'ready':<6}{partition}".rstrip())
    for row in lab.status():
        if lab.netns:
            partition = f"{row['partition'] or '-':<11}"
        print(f"{row['index']:<6}{row['address']:<22}{row['pid'] or '-':<9}{row['state']:<13}"
              f"{row['cluster_size'] or '-':<6}{'yes' if row['ready'] else 'no':<6}{partition}".rstrip())
    if lab.arbitrator:
        pid = lab.arbitrator_pid()
        print(f"{'garbd':<6}{lab.arbitrator_host + ':' + str(lab.arbitrator_port):<22}"
              f"{pid or '-':<9}{'running' if pid else 'down'}")


def _run(args: argparse.Namespace) -> int:
    base_dir = getattr(args, "dir", None)
    if args.command == "up":
        # `up` alone restarts the lab that is there; `up N` asks for that size.
        known = (lab_dir(base_dir) / "lab.json").exists()
        hosts = [h.strip() for h in args.hosts.split(",")] if args.hosts else None
        netns = bool(args.netns or args.subnet)
        if netns and hosts:
            raise LabError("--hosts is for a loopback lab: a netns lab picks its addresses "
                           "(--subnet)")
        if args.nodes or hosts or not known:
            lab = Lab(args.nodes or (len(hosts) if hosts else None), base_dir, hosts,
                      netns=netns, subnet=args.subnet, tls=args.tls)
        else:
            lab = Lab.load(base_dir)
            if netns and (not lab.netns or (args.subnet and lab.net is not None
                                            and str(lab.net.subnet) != str(_parse_subnet(args.subnet)))):
                raise LabError(f"{lab.base_dir} holds another lab ({', '.join(lab.addresses)});"
                               f" run `multimaster lab down` first")
        lab.up()
        _print_env(lab)
        return 0
    if args.command == "down":
        try:
            lab = Lab.load(base_dir)
        except LabError:
            return 0  # nothing to do is success: `down` twice is fine
        lab.down()
        return 0
    lab = Lab.load(base_dir)
    if args.command == "status":
        _print_status(lab)
    elif args.command == "env":
        _print_env(lab)
    elif args.command == "partition":
        lab.partition(args.node, one_way=args.one_way)
    else:
        getattr(lab, args.command)(args.node)
    return 0


def main(argv: List[str]) -> int:
    """`multimaster lab` with argv (without the program name); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse exits on --help and on usage errors
        return int(e.code or 0)
    try:
        return _run(args)
    except LabError as e:
        print(f"multimaster lab: {e.message}", file=sys.stderr)
        if e.log_tail:
            print(e.log_tail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
