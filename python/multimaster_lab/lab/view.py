"""LabView: what a lab is and what it shows, without changing it. Its nodes, addresses, files
and account (described by the constructor, or read back from lab.json by `load`), and
questions to the running processes: pids, each node's Galera state, SQL, and `RowCount`, the
condition a schedule can wait for. It owns no schedule and no lock: `Lab` (lab.py) does.

`Lab` (lab.py) adds everything that changes the lab. Constructing a LabView starts nothing and
needs neither root nor a MariaDB install, so the description is tested on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Type, TypedDict, TypeVar, Union

from . import galera, netns
from .config import DB_NAME, DB_PASSWORD, DB_USER, Account, Table
from .errors import LabError
from .layout import (
    ARBITRATOR_PORT_OFFSET,
    GALERA_PORT,
    Node,
    arbitrator_dir,
    arbitrator_log,
    check_layout,
    check_node_count,
    lab_dir,
    loopback_endpoints,
    node_layout,
    state_file,
    tls_dir,
)
from .netns import ARBITRATOR_HOST_NUMBER, NetLayout
from .procs import ProcessBook, check_ports_free
from .tls import FILES as TLS_FILES

V = TypeVar("V", bound="LabView")


class _Login(TypedDict):
    database: str
    user: str
    password: str


class Credentials(_Login, total=False):
    """`LabView.credentials()`: MultiMaster's keyword arguments for the lab (the TLS settings
    only for a TLS lab)."""

    ssl_mode: str
    ssl_ca: str


class LabView:
    """A lab's description and read-only view; see `Lab`, which is what to use."""

    def __init__(
        self,
        nodes: Optional[int] = None,
        base_dir: Optional[str] = None,
        hosts: Optional[List[str]] = None,
        port: int = 3306,
        arbitrator: bool = True,
        netns: bool = False,
        subnet: Optional[str] = None,
        tls: bool = False,
        database: str = DB_NAME,
        user: str = DB_USER,
        password: str = DB_PASSWORD,
        table: Optional[Union[Table, Tuple[str, str]]] = None,
    ) -> None:
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
        database, user, password: what the lab's setup creates and `credentials()` hands out
        (user with every privilege); table: a `Table(name, definition)` created in database,
        the default of `count_rows` and `when_rows`. The course passes its own
        (multimaster_lab.coursedata.LAB).
        """
        self.account = Account(database, user, password, Table(*table) if table is not None else None)
        self.base_dir = lab_dir(base_dir)
        self.tls = tls
        self.arbitrator = arbitrator
        self.net: Optional[NetLayout] = None
        if netns:
            if hosts is not None:
                raise LabError("a netns lab picks its nodes' addresses itself (give subnet=)")
            nodes = check_node_count(2 if nodes is None else nodes)
            self.net = NetLayout.for_dir(self.base_dir, subnet)
            endpoints = self.net.endpoints(nodes, port)
        elif subnet is not None:
            raise LabError("subnet= is for a netns lab (netns=True)")
        else:
            endpoints = loopback_endpoints(nodes, hosts, port)
        self.nodes = node_layout(endpoints, self.base_dir)
        if self.net is None:
            self.arbitrator_host = self.nodes[0].host
            self.arbitrator_port = self.nodes[0].galera_port + ARBITRATOR_PORT_OFFSET
        else:  # an address of its own
            self.arbitrator_host = self.net.host(ARBITRATOR_HOST_NUMBER)
            self.arbitrator_port = GALERA_PORT
        check_layout(self.nodes, self.arbitrator_host, self.arbitrator_port)
        self._book = ProcessBook(self.base_dir)
        self._access = galera.Access(self.net, self.account, self._book)

    @classmethod
    def load(cls: Type[V], base_dir: Optional[str] = None) -> V:
        """The lab described by base_dir/lab.json."""
        path = lab_dir(base_dir)
        state = ProcessBook(path).read()
        if state is None:
            raise LabError(f"no lab in {path} (start one with `multimaster lab up`)")
        addresses = state["addresses"]
        net = state.get("netns")
        account = Account.from_record(state.get("account"))
        # What every lab records the same way; where its nodes are differs by kind below.
        common: Dict[str, Any] = dict(
            arbitrator=state["arbitrator"],
            tls=bool(state.get("tls")),
            database=account.database,
            user=account.user,
            password=account.password,
            table=account.table,
        )
        if net:
            port = int(addresses[0].rpartition(":")[2])
            return cls(len(addresses), str(path), port=port, netns=True, subnet=net["subnet"], **common)
        return cls(len(addresses), str(path), addresses, **common)

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
        return {name: tls_dir(self.base_dir) / f"{name}.pem" for name in TLS_FILES}

    @property
    def state_file(self) -> Path:
        """lab.json: the layout and pids a later `Lab.load` or `multimaster lab` reads."""
        return state_file(self.base_dir)

    @property
    def arbitrator_dir(self) -> Path:
        """garbd's directory."""
        return arbitrator_dir(self.base_dir)

    @property
    def arbitrator_log(self) -> Path:
        """garbd's log file."""
        return arbitrator_log(self.base_dir)

    def status(self) -> List[Dict[str, object]]:
        """One dict per node: index, address, pid, running, state (Synced, Donor/Desynced,
        Joining..., frozen, unreachable, down), cluster_size, ready, and partition (None, or
        "full" / "one-way" while `partition` holds in a netns lab).

        In a netns lab state, cluster_size and ready are the node's own view, asked from inside
        its namespace: a partitioned node still answers, as (after Galera's suspect timeout)
        "Initialized"/non-Primary, not ready."""
        return [galera.node_status(self._access, node) for node in self.nodes]

    def partitioned(self, i: int) -> Optional[str]:
        """Node i's partition: "full", "one-way", "isolated", or None (always None without netns)."""
        if self.net is None:
            return None
        return netns.partition_state(self.net, self._node(i).name)

    def env(self) -> Dict[str, str]:
        """The course's environment variables for this lab (AURORA_NODE1..., DB_NAME,
        DB_USER, MYSQL_PWD): what `eval "$(multimaster lab env)"` sets. Holds the password."""
        variables = {f"AURORA_NODE{n.index}": n.host if n.port == 3306 else n.address for n in self.nodes}
        variables.update(DB_NAME=self.account.database, DB_USER=self.account.user, MYSQL_PWD=self.account.password)
        return variables

    def credentials(self) -> Credentials:
        """database, user and password of the lab (and for a TLS lab ssl_mode VERIFY_IDENTITY
        with its CA), as keyword arguments: `MultiMaster(lab.addresses, **lab.credentials())`.
        Holds the password."""
        account = self.account
        found: Credentials = {"database": account.database, "user": account.user, "password": account.password}
        if self.tls:
            found["ssl_mode"] = "VERIFY_IDENTITY"
            found["ssl_ca"] = str(self.tls_files["ca"])
        return found

    def pid(self, i: int) -> Optional[int]:
        """The pid of node i's mariadbd if it is running (frozen counts as running)."""
        return self._book.live(self._node(i).name)

    def arbitrator_pid(self) -> Optional[int]:
        """The pid of garbd if it is running."""
        return self._book.live("garbd")

    def sql(self, i: int, statement: str, timeout: float = 10) -> List[Tuple[Optional[str], ...]]:
        """Run `statement` on node i as the lab's user over TCP; rows as strings.

        SQL NULL comes back as None. A server error raises LabError carrying its message
        (e.g. "ERROR 1047 (08S01): WSREP has not yet prepared node for application use").
        """
        return galera.sql(self._access, self._node(i), statement, timeout)

    def count_rows(self, table: Optional[str] = None) -> int:
        """Rows in `table` (`name` or `db.name`; default the lab's table), on the first running
        node that answers within a second; 0 if none does (every node down, the table not
        there yet)."""
        table = self._table_name(table)
        for node in self.nodes:
            if self.pid(node.index) is None:
                continue
            try:
                ((count,),) = self.sql(node.index, f"SELECT COUNT(*) FROM {table}", timeout=1)
                return int(count or 0)
            except (LabError, ValueError):
                continue
        return 0

    def when_rows(self, rows: int, table: Optional[str] = None) -> RowCount:
        """A condition for `after=`: true once `table` (default the lab's table) holds at least
        `rows` rows, so that a scheduled crash follows the insert loop's progress rather than
        the clock."""
        return RowCount(self, rows, self._table_name(table))

    def _table_name(self, table: Optional[str]) -> str:
        found = table or self.account.qualified_table
        if found is None:
            raise LabError("name a table: this lab was given none (Lab(table=...))")
        galera.check_table_name(found)
        return found

    # ----------------------------------------------------------------------------------------
    # For Lab and its helpers

    def _net_members(self) -> List[Tuple[str, int]]:
        """(process key, host number in the subnet) of everything that gets a namespace."""
        members = [(node.name, node.index) for node in self.nodes]
        if self.arbitrator:
            members.append(("garbd", ARBITRATOR_HOST_NUMBER))
        return members

    def _node(self, i: int) -> Node:
        if not isinstance(i, int) or not 1 <= i <= len(self.nodes):
            raise LabError(f"no node {i}: this lab has nodes 1 to {len(self.nodes)}")
        return self.nodes[i - 1]

    def _require_netns(self, what: str) -> NetLayout:
        if self.net is None:
            raise LabError(
                f"{what} needs a netns lab: Lab(netns=True), or `multimaster lab up --netns` (this one is on loopback)"
            )
        return self.net

    def _require_pid(self, i: int) -> int:
        pid = self.pid(i)
        if pid is None:
            raise LabError(f"node {i} is not running")
        return pid

    def _check_ports_of_stopped(self) -> None:
        if self.net is not None:
            return  # the addresses exist only in this lab's own namespaces
        for node in self.nodes:
            if self.pid(node.index) is None:
                check_ports_free(node.host, node.ports(), f"node {node.index}")
        if self.arbitrator and self.arbitrator_pid() is None:
            self._check_arbitrator_port()

    def _check_arbitrator_port(self) -> None:
        if self.net is None:
            check_ports_free(self.arbitrator_host, [(self.arbitrator_port, "Galera")], "the arbitrator")


class RowCount:
    """A condition for `after=`: true once `table` holds at least `rows` rows, counted by
    `Lab.count_rows` (on the first running node that answers). Made by `Lab.when_rows`."""

    def __init__(self, lab: LabView, rows: int, table: str) -> None:
        galera.check_table_name(table)
        self.lab, self.rows, self.table = lab, int(rows), table

    def __call__(self) -> bool:
        return self.lab.count_rows(self.table) >= self.rows

    def __str__(self) -> str:
        return f"{self.table} holds {self.rows} rows"

    def __repr__(self) -> str:
        return f"<RowCount: {self}>"
