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

The modules, each holding one thing:

    lab.py        Lab: the orchestration (up, down, crash, freeze, stop, start, partition...)
    view.py       LabView, Lab's base: the description and read-only queries (status, sql)
                  and RowCount; it owns no schedule
    layout.py     the directory, the nodes' addresses and ports, the files (pure)
    config.py     my.cnf, the setup SQL, garbd's arguments, the Account (pure)
    procs.py      the tools, starting and finding processes, lab.json's pids, waiting
    launch.py     starting a node's mariadbd (its directory, install-db) and garbd
    galera.py     Galera's state, positions, and which node bootstraps or is promoted; its
                  queries and waits take an Access (network, login, pids), not the lab
    netns.py      the netns lab's network: bridge, namespaces, veths, partitions
    schedule.py   Step, Scheduled: operations in the background, on any `Operations`
    tls.py        the private CA and certificates of `up --tls`
    cli.py        `multimaster lab ...`

Standard library only: no module here imports the library (`multimaster`) or the course, so
the lab runs before the extension is built. The database, user, password and table its setup
creates are parameters (`Lab(database=, user=, password=, table=)`, default a `lab` database
and user and no table); the course is one caller, passing its own
(multimaster_lab/coursedata.py). No module here imports one that imports it back: the view
asks Galera's state through galera.py, which takes an `Access`, not the view; schedules
belong to `Lab`, and schedule.py knows it only as the `Operations` it calls.
"""

from __future__ import annotations

from .cli import main
from .config import CLUSTER_NAME, DB_NAME, DB_PASSWORD, DB_USER, GALERA_PROVIDER, RUN_USER, Account, Table, setup_sql
from .errors import LabError
from .galera import Position
from .lab import Lab
from .layout import (
    ARBITRATOR_PORT_OFFSET,
    DEFAULT_DIR,
    GALERA_PORT,
    HOSTS_VARIABLE,
    IST_PORT,
    SHARED_HOST_PORT_OFFSETS,
    SST_PORT,
    Node,
    lab_dir,
    lab_hosts,
)
from .netns import (
    ARBITRATOR_HOST_NUMBER,
    CLIENT_HOST_NUMBER,
    NETNS_DEFAULT_PREFIX,
    NETNS_PACKAGES,
    PARTITION_TABLE,
    NetLayout,
    netns_unavailable,
)
from .procs import APT_PACKAGES, LOG_TAIL_LINES, POLL_INTERVAL, STOP_GRACE
from .procs import check_installed as _check_installed  # noqa: F401 - tests/support/labs.py asks the lab
from .schedule import ACTIONS, CONDITION_POLL, Operations, Scheduled, Step, When
from .view import Credentials, LabView, RowCount

__all__ = [
    # The lab and what it hands out
    "Lab",
    "LabView",
    "LabError",
    "Credentials",
    "Account",
    "Table",
    "Operations",
    "Node",
    "NetLayout",
    "Position",
    "Step",
    "Scheduled",
    "RowCount",
    "When",
    "ACTIONS",
    "CONDITION_POLL",
    "lab_dir",
    "lab_hosts",
    "netns_unavailable",
    "main",
    # Its fixed names, credentials, ports and timings
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "setup_sql",
    "CLUSTER_NAME",
    "GALERA_PROVIDER",
    "RUN_USER",
    "DEFAULT_DIR",
    "HOSTS_VARIABLE",
    "GALERA_PORT",
    "IST_PORT",
    "SST_PORT",
    "SHARED_HOST_PORT_OFFSETS",
    "ARBITRATOR_PORT_OFFSET",
    "NETNS_DEFAULT_PREFIX",
    "ARBITRATOR_HOST_NUMBER",
    "CLIENT_HOST_NUMBER",
    "PARTITION_TABLE",
    "NETNS_PACKAGES",
    "APT_PACKAGES",
    "POLL_INTERVAL",
    "STOP_GRACE",
    "LOG_TAIL_LINES",
]
