"""What the lab's processes are configured with: each node's my.cnf, the SQL that sets the
cluster up (the course's database, user and table, from multimaster/coursedata.py), garbd's
arguments, and the fixed names they share.

Text only: rendering needs no server and is tested on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from ..coursedata import CREATE_TABLE, QUALIFIED_TABLE
from ..coursedata import DATABASE as DB_NAME
from ..coursedata import PASSWORD as DB_PASSWORD
from ..coursedata import USER as DB_USER
from .layout import Node
from .tls import server_options

CLUSTER_NAME = "multimaster-lab"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
# rsync SST fails when mariadbd runs as root (the rsync daemon it starts drops to `nobody`).
RUN_USER = "mysql"

SETUP_SQL = f"""
CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '{DB_USER}'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS {DB_NAME};
{CREATE_TABLE.format(table=QUALIFIED_TABLE)};
"""


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
    return f"""# Written by multimaster.lab; the only option file this node reads.
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
