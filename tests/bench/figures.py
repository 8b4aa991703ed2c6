"""The figures a run collects (`Case`, `Figures`), their statistics, the CPU they took, and
`Admin`, the bench's own connections to the lab."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pymysql

from multimaster_lab.coursedata import DATABASE, Row, titled_row
from multimaster_lab.lab import Lab


class Skip(Exception):
    """This client cannot run here (not installed, not in this build): its row says why."""


def rows_for(n: int, tag: str) -> List[Row]:
    """The course's row, titled `<tag><x>`."""
    return [titled_row(f"{tag}{x}") for x in range(n)]


def pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def median_range(xs: Sequence[float]) -> Tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def server_cpu(pids: Sequence[Optional[int]]) -> float:
    """CPU seconds (user + system) the given processes have used so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        if pid is None:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every core, every process, interrupts)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def client_cpu() -> float:
    """CPU seconds of this process (every thread, the Rust workers too) and of its reaped
    children (the bare Rust loop)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def login(lab: Lab, i: int) -> Dict[str, Any]:
    """How a plain client (PyMySQL, mysql-connector-python) logs in to node i of the lab, in
    autocommit like every baseline (and with the lab's CA checked where the lab has TLS)."""
    node = lab.nodes[i - 1]
    creds = lab.credentials()
    ssl = {"ssl_ca": creds["ssl_ca"], "ssl_verify_identity": True} if lab.tls else {}
    return dict(
        host=node.host,
        port=node.port,
        user=creds["user"],
        password=creds["password"],
        database=creds["database"],
        autocommit=True,
        **ssl,
    )


class Admin:
    """A plain connection to one node for setting up and auditing (never timed); reconnects
    after its node was restarted."""

    def __init__(self, lab: Lab, i: int) -> None:
        self.connect = lambda: pymysql.connect(**login(lab, i), connect_timeout=5)
        self.conn: Optional[pymysql.connections.Connection] = None

    def sql(self, statement: str) -> List[Tuple[Any, ...]]:
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = self.connect()
                with self.conn.cursor() as c:
                    c.execute(statement)
                    return list(c.fetchall())
            except pymysql.err.OperationalError:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def truncate(self, table: str) -> None:
        self.sql(f"TRUNCATE {DATABASE}.{table}")

    def audit(self, table: str) -> Tuple[int, int]:
        """(rows, distinct titles), read causally: every commit of the cluster is seen."""
        self.sql("SET SESSION wsrep_sync_wait = 1")
        ((count, distinct),) = self.sql(f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {DATABASE}.{table}")
        return int(count), int(distinct)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


# ------------------------------------------------------------------------------------------------
# The cases: each inserts n rows tagged `tag` and returns the seconds its loop took (connections
# are opened beforehand, as a long-running client has them).


@dataclass
class Case:
    label: str
    rows: int  # per round
    run: Callable[[int, str], float]
    admin: Admin
    # (label of the figure compared with, target ratio or None for information)
    versus: List[Tuple[str, Optional[float]]] = field(default_factory=list)


@dataclass
class Figures:
    rates: Dict[str, List[float]] = field(default_factory=dict)
    client: Dict[str, List[float]] = field(default_factory=dict)  # cores busy
    servers: Dict[str, List[float]] = field(default_factory=dict)
    other: Dict[str, List[float]] = field(default_factory=dict)
    # latency label -> per round list of per-call seconds
    latency: Dict[str, List[List[float]]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
