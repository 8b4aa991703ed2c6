"""Galera's side of the lab: a node's state as Galera and MariaDB report it (wsrep_* status
through the mariadb client, grastate.dat, the position `--wsrep-recover` finds), the choices
made from it (which node bootstraps a cluster, which survivor is promoted), and the waits on it.

The parsing and the choices are plain functions, tested without a server; the queries and
waits take an `Access` (how to reach the nodes: the network, the login, the pids), never the
lab itself, so that the lab's view can ask through this module without it asking back.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .config import Account
from .errors import LabError
from .layout import Node
from .netns import NetLayout, in_namespace, partition_state
from .procs import (
    LOG_TAIL_LINES,
    POLL_INTERVAL,
    ProcessBook,
    WaitTimeout,
    exe,
    is_frozen,
    remaining,
    tail,
    wait_until,
)

Rows = List[Tuple[Optional[str], ...]]


@dataclass(frozen=True)
class Access:
    """How to reach a lab's nodes: its network (None on loopback), the login its setup
    created, and the book of its processes' pids."""

    net: Optional[NetLayout]
    account: Account
    book: ProcessBook

    def pid(self, node: Node) -> Optional[int]:
        return self.book.live(node.name)

    def sql(self, node: Node, statement: str, timeout: float = 10) -> Rows:
        return sql(self, node, statement, timeout)


@dataclass(frozen=True)
class Position:
    """A node's last committed write set: Galera's state UUID and sequence number."""

    uuid: str
    seqno: int

    def __str__(self) -> str:
        return f"{self.uuid}:{self.seqno}"


def is_ready(status: Dict[str, str]) -> bool:
    """Synced, wsrep_ready=ON and in the Primary component: the node takes writes."""
    return (
        status.get("wsrep_local_state_comment") == "Synced"
        and status.get("wsrep_ready") == "ON"
        and status.get("wsrep_cluster_status") == "Primary"
    )


# ------------------------------------------------------------------------------------------------
# The mariadb client


def check_table_name(table: str) -> None:
    # The name goes into SQL text: identifiers only.
    if not re.fullmatch(r"[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?", table):
        raise LabError(f"bad table name {table!r} (expected name or database.name)")


def sql(access: Access, node: Node, statement: str, timeout: float) -> Rows:
    """Run `statement` on node as the lab's user over TCP: see `Lab.sql`."""
    cmd = [
        exe("mariadb"),
        "--no-defaults",
        "-N",
        "-B",
        "--protocol=TCP",
        f"--host={node.host}",
        f"--port={node.port}",
        f"--user={access.account.user}",
        f"--connect-timeout={max(1, int(timeout))}",
        "-e",
        statement,
    ]
    # In a netns lab, from inside the node's namespace: it answers while partitioned.
    cmd = in_namespace(access.net, node.name, cmd)
    # The password goes through the environment so it is not on a command line.
    env = dict(os.environ, MYSQL_PWD=access.account.password)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise LabError(f"node {node.index} ({node.address}) did not answer within {timeout:g} s") from None
    if done.returncode != 0:
        raise LabError(f"node {node.index} ({node.address}): {client_error(done.stderr, done.returncode)}")
    return client_rows(done.stdout)


def client_error(stderr: str, returncode: int) -> str:
    """The server's error as the mariadb client printed it, without its "at line 1"."""
    last_line = stderr.strip() or f"mariadb exited with {returncode}"
    return re.sub(r" at line \d+", "", last_line.splitlines()[-1])


def client_rows(stdout: str) -> Rows:
    """The rows `mariadb -N -B` printed: tab-separated, escaped, NULL as None."""
    return [tuple(_unescape(v) for v in line.split("\t")) for line in stdout.splitlines()]


def _unescape(value: str) -> Optional[str]:
    if value == "NULL":
        return None
    escapes = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), value)


# ------------------------------------------------------------------------------------------------
# Positions and the choices made from them


def read_grastate(path: Path) -> Optional[Position]:
    try:
        text = path.read_text()
    except OSError:
        return None
    uuid = re.search(r"^uuid:\s*(\S+)", text, re.M)
    seqno = re.search(r"^seqno:\s*(-?\d+)", text, re.M)
    if uuid is None or seqno is None:
        return None
    return Position(uuid.group(1), int(seqno.group(1)))


def mark_safe_to_bootstrap(path: Path) -> None:
    # Galera clears the flag on every node after a crash and then refuses --wsrep-new-cluster;
    # we have just picked the most advanced node, which is exactly when setting it is right.
    if path.exists():
        path.write_text(re.sub(r"^safe_to_bootstrap:.*$", "safe_to_bootstrap: 1", path.read_text(), flags=re.M))


def recovered_position(stderr: str) -> Optional[Position]:
    """The position `mariadbd --wsrep-recover` logged, or None."""
    found = re.search(r"WSREP: Recovered position: *([0-9a-f-]{36}):(-?\d+)", stderr)
    return None if found is None else Position(found.group(1), int(found.group(2)))


def bootstrap_choice(nodes: Sequence[Node], positions: Dict[int, Optional[Position]], starting: Node) -> Node:
    """After every data node went down: the node to bootstrap, the most advanced one (`starting`
    on a tie). Bootstrapping a node that missed writes would fork history: the others would
    then be refused or wiped by a full copy."""

    def rank(n: Node) -> Tuple[int, bool]:
        pos = positions[n.index]
        return (pos.seqno if pos else -1, n is starting)

    return max(nodes, key=rank)


def promotion_choice(live: Sequence[Node], statuses: Dict[int, Dict[str, str]]) -> Node:
    """Of survivors stuck without a Primary component: the one to promote, the one that
    committed most."""

    def committed(n: Node) -> int:
        value = statuses[n.index].get("wsrep_last_committed", "")
        return int(value) if value.lstrip("-").isdigit() else -1

    return max(live, key=committed)


def recover(node: Node, net: Optional[NetLayout], deadline: float) -> Optional[Position]:
    """The node's last committed position, so that it rejoins by IST instead of SST."""
    saved = read_grastate(node.datadir / "grastate.dat")
    if saved is not None and saved.seqno >= 0:
        return saved  # clean shutdown: Galera wrote the position itself
    if not (node.datadir / "mysql").is_dir():
        return None  # never received a state: a full copy is the only way
    # After a crash grastate.dat says -1; InnoDB knows the real position.
    cmd = [
        exe("mariadbd"),
        f"--defaults-file={node.cnf}",
        node.marker,
        "--wsrep-recover",
        "--disable-log-error",
        f"--pid-file={node.dir / 'recover.pid'}",
    ]
    cmd = in_namespace(net, node.name, cmd)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=remaining(deadline))
    except subprocess.TimeoutExpired:
        raise LabError(f"position recovery of node {node.index} timed out", tail(node.log)) from None
    position = recovered_position(done.stderr)
    if position is None:
        raise LabError(
            f"position recovery of node {node.index} failed", "\n".join(done.stderr.splitlines()[-LOG_TAIL_LINES:])
        )
    return position


# ------------------------------------------------------------------------------------------------
# A lab's nodes, asked


def galera_status(access: Access, node: Node) -> Optional[Dict[str, str]]:
    """wsrep_* status of node, or None if it does not answer (starting, frozen, gone)."""
    try:
        rows = access.sql(node, "SHOW GLOBAL STATUS LIKE 'wsrep%'", timeout=3)
    except LabError:
        return None
    return {row[0].lower(): row[1] or "" for row in rows if row[0]}


def node_status(access: Access, node: Node) -> Dict[str, object]:
    """One row of `Lab.status()`."""
    pid = access.pid(node)
    status = None
    state = "down"
    if pid is not None and is_frozen(pid):
        state = "frozen"
    elif pid is not None:
        status = galera_status(access, node)
        state = status.get("wsrep_local_state_comment", "?") if status else "unreachable"
    return {
        "index": node.index,
        "address": node.address,
        "pid": pid,
        "running": pid is not None,
        "state": state,
        "cluster_size": int(status["wsrep_cluster_size"]) if status else None,
        "ready": bool(status and is_ready(status)),
        "partition": None if access.net is None else partition_state(access.net, node.name),
    }


def cluster_size(access: Access, nodes: Sequence[Node]) -> int:
    """Members in the cluster, as the first running, ready node of `nodes` sees it; 0 if none is."""
    for node in nodes:
        if access.pid(node) is not None:
            status = galera_status(access, node)
            if status is not None and is_ready(status):
                return int(status.get("wsrep_cluster_size", 0))
    return 0


def wait_members(access: Access, nodes: Sequence[Node], expected: int, deadline: float) -> None:
    wait_until(
        lambda: cluster_size(access, nodes) == expected,
        remaining(deadline),
        f"the cluster to reach {expected} members",
        nodes[0].log,
    )


def wait_synced(access: Access, nodes: List[Node], deadline: float) -> None:
    """Until each node is Synced, wsrep_ready=ON and in the Primary component."""
    for node in nodes:
        wait_ready(access, node, deadline)


def wait_ready(access: Access, node: Node, deadline: float) -> None:
    """Until node is ready (`is_ready`); a timeout names the state it was last seen in."""
    seen = {"wsrep_local_state_comment": "unreachable"}

    def ready() -> bool:
        if access.pid(node) is None:
            raise LabError(f"node {node.index} ({node.address}) exited while starting", tail(node.log))
        status = galera_status(access, node)
        seen.update(status or {})
        return status is not None and is_ready(status)

    try:
        wait_until(ready, remaining(deadline), f"node {node.index} to sync", node.log)
    except WaitTimeout as e:
        state = seen["wsrep_local_state_comment"]
        raise LabError(f"{e.message} (state: {state})", e.log_tail) from None


def wait_evicted(access: Access, node: Node, live: List[Node], deadline: float) -> None:
    """Wait until the survivors drop node's old incarnation, which can take ~6 s after a
    kill -9 (Galera's suspect timeout); joining before that is refused."""

    def evicted() -> bool:
        for other in live:
            status = galera_status(access, other)
            if status is not None:
                members = status.get("wsrep_incoming_addresses", "").split(",")
                return node.address not in members
        return False

    wait_until(evicted, remaining(deadline), f"the cluster to drop the old incarnation of node {node.index}")


def restore_quorum(access: Access, live: List[Node], deadline: float) -> None:
    """Survivors that lost their majority (two of four members crashed, say) wait in a
    non-Primary component for good, and no crashed node can join them. Promote the most
    advanced survivor to Primary (pc.bootstrap), as an operator would."""
    settle = time.monotonic() + 3  # judge the component only once its view has settled
    while True:
        statuses = {n.index: galera_status(access, n) or {} for n in live}
        if any(s.get("wsrep_cluster_status") == "Primary" for s in statuses.values()):
            return
        if time.monotonic() >= settle:
            break
        time.sleep(POLL_INTERVAL)

    leader = promotion_choice(live, statuses)
    access.sql(leader, "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'")
    wait_until(
        lambda: (galera_status(access, leader) or {}).get("wsrep_cluster_status") == "Primary",
        remaining(deadline),
        f"node {leader.index} to form a Primary component",
        leader.log,
    )
