"""What the lab's processes are configured with: each node's my.cnf, the SQL that sets the
cluster up (the database, user and table the lab was given: its `Account`), garbd's arguments,
and the fixed names they share.

Text only: rendering needs no server and is tested on any machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence

from .errors import LabError
from .layout import Node
from .tls import server_options

CLUSTER_NAME = "multimaster-lab"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
# rsync SST fails when mariadbd runs as root (the rsync daemon it starts drops to `nobody`).
RUN_USER = "mysql"

# The lab's own account when its caller names none (the course passes its own:
# multimaster_lab/coursedata.py).
DB_NAME = "lab"
DB_USER = "lab"
DB_PASSWORD = "lab"

# Names that go into SQL text unquoted: identifiers only.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_$]+")


class Table(NamedTuple):
    """A table the lab creates in its database at setup: its name and its columns' definitions
    (the text between the parentheses of CREATE TABLE)."""

    name: str
    definition: str


@dataclass(frozen=True)
class Account:
    """The database, the user (every privilege, from any host) and its password that the lab
    creates at setup, and optionally a table in that database. Recorded in lab.json, so that a
    later `Lab.load` (`multimaster lab status`, `env`) logs in the same way."""

    database: str = DB_NAME
    user: str = DB_USER
    password: str = DB_PASSWORD
    table: Optional[Table] = None

    def __post_init__(self) -> None:
        for what, name in [("database", self.database), ("table", self.table.name if self.table else "x")]:
            if not _IDENTIFIER.fullmatch(name):
                raise LabError(f"bad {what} name {name!r} (letters, digits, _ and $ only)")
        if not _IDENTIFIER.fullmatch(self.user) or "'" in self.password or "\\" in self.password:
            raise LabError("the lab's user is an identifier and its password holds no quote or backslash")
        if self.table is not None and not isinstance(self.table, Table):
            object.__setattr__(self, "table", Table(*self.table))

    @property
    def qualified_table(self) -> Optional[str]:
        """``database.table``, how a client connected to no database in particular names it."""
        return None if self.table is None else f"{self.database}.{self.table.name}"

    def record(self) -> Dict[str, Any]:
        """What lab.json keeps of it."""
        return {
            "database": self.database,
            "user": self.user,
            "password": self.password,
            "table": list(self.table) if self.table else None,
        }

    @classmethod
    def from_record(cls, fields: Optional[Mapping[str, Any]]) -> Account:
        """The account lab.json recorded (the defaults for a lab.json without one)."""
        if not fields:
            return cls()
        table = fields.get("table")
        return cls(fields["database"], fields["user"], fields["password"], Table(*table) if table else None)


def setup_sql(account: Account) -> str:
    """The SQL that creates the account's user, database and table, run once at creation."""
    user, password = account.user, account.password
    create_table = (
        f"CREATE TABLE IF NOT EXISTS {account.qualified_table} ({account.table.definition});\n"
        if account.table is not None
        else ""
    )
    return f"""
CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';
GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';
GRANT ALL PRIVILEGES ON *.* TO '{user}'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS {account.database};
{create_table}"""


def gcomm(nodes: Sequence[Node]) -> str:
    """The cluster address every member is given: each data node's Galera address."""
    return ",".join(f"{n.host}:{n.galera_port}" for n in nodes)


def my_cnf(node: Node, nodes: Sequence[Node], tls_dir: Optional[Path] = None) -> str:
    """node's my.cnf in a cluster of `nodes`; with tls_dir (the lab's CA and certificates),
    the node requires TLS."""
    provider_options = "; ".join(
        [
            f"gmcast.listen_addr=tcp://{node.host}:{node.galera_port}",
            f"ist.recv_addr={node.host}:{node.ist_port}",
            # Enough history for IST after a node has been down a while under the demo's load.
            "gcache.size=64M",
        ]
    )
    return f"""# Written by multimaster_lab.lab; the only option file this node reads.
[mariadbd]
user = {RUN_USER}
datadir = {node.datadir}
socket = {node.socket}
pid-file = {node.dir / "mariadbd.pid"}
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
wsrep_cluster_address = gcomm://{gcomm(nodes)}
wsrep_node_name = {node.name}
wsrep_node_address = {node.host}:{node.galera_port}
wsrep_node_incoming_address = {node.address}
wsrep_sst_method = rsync
wsrep_sst_receive_address = {node.host}:{node.sst_port}
# The course's table has no primary key.
wsrep_certify_nonPK = ON
wsrep_provider_options = "{provider_options}"
{server_options(tls_dir) if tls_dir is not None else ""}"""


def install_db_args(node: Node) -> List[str]:
    """mariadb-install-db's arguments for node's first, empty datadir."""
    return [
        f"--defaults-file={node.cnf}",
        f"--datadir={node.datadir}",
        f"--user={RUN_USER}",
        "--skip-test-db",
        "--skip-name-resolve",
        "--auth-root-authentication-method=socket",
    ]


def garbd_args(nodes: Sequence[Node], host: str, port: int, log: Path) -> List[str]:
    """garbd's arguments: join the cluster of `nodes`, listening on host:port."""
    return [
        "--group",
        CLUSTER_NAME,
        "--name",
        "arbitrator",
        "--address",
        f"gcomm://{gcomm(nodes)}",
        "--options",
        f"gmcast.listen_addr=tcp://{host}:{port}",
        "--log",
        str(log),
    ]
