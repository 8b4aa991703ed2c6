"""The Lab: a local Galera cluster's orchestration, in one place. Bringing it up and down,
crashing, freezing, stopping and starting its nodes, cutting them off the network, and doing
any of that later, in the background.

What each step relies on lives beside it: the description and read-only queries (view.py),
addresses and files (layout.py), my.cnf (config.py), processes and lab.json (procs.py),
starting mariadbd and garbd (launch.py), Galera's state and the choices made from it
(galera.py), the network (netns.py), schedules (schedule.py).
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import galera, netns
from .config import setup_sql
from .errors import LabError
from .launch import ensure_arbitrator, install_db, launch, prepare_dir, stop_arbitrator
from .layout import Node, check_layout, check_node_count, next_host, node_layout, remove_files, split_address, tls_dir
from .procs import check_installed, check_parent_dirs, chown_to_run_user, remaining, send_signal, wait_until
from .schedule import Scheduled, Step, When, cancel_all
from .tls import make as make_tls
from .view import LabView


class Lab(LabView):
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

    Its arguments are `LabView`'s: the layout, and the account its setup creates (database,
    user, password, table).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Serializes node operations of this object: scheduled ones run in other threads.
        self._lock = threading.RLock()
        self._schedules: List[Scheduled] = []

    # ----------------------------------------------------------------------------------------
    # The whole lab

    def up(self, timeout: float = 120) -> None:
        """Start whatever is not running; return once every node is Synced in one cluster."""
        with self._lock:
            self._up(timeout)

    def _up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        check_installed()
        state = self._book.read()
        if state is not None and state.get("addresses") != self.addresses:
            raise LabError(
                f"{self.base_dir} holds another lab ({', '.join(state['addresses'])}); run `multimaster lab down` first"
            )
        self._check_ports_of_stopped()  # before touching anything: a clash leaves no trace
        if self.net is not None:
            netns.check_netns_tools()
            netns.check_subnet_free(self.net)
        if state is None or not state.get("created"):
            # Nothing there, or an earlier `up` died half-way: start from clean directories.
            self._book.stop_all()
            self._net_down()
            remove_files(self.base_dir)
            self._create(deadline)
        else:
            # The network first (recreated if it went away, partitions healed): `up` brings
            # the whole lab back to healthy.
            self._net_up()
            for node in self.nodes:
                self._start(node.index, timeout=remaining(deadline))
            ensure_arbitrator(self)
        galera.wait_synced(self._access, self.nodes, deadline)
        galera.wait_members(self._access, self.nodes, len(self.nodes) + (1 if self.arbitrator else 0), deadline)

    def down(self) -> None:
        """Stop every process this lab started and remove its files. Safe to repeat.

        Actions still scheduled by this object are cancelled first; one already under way (a
        node restart, say) is let finish, so that no process it starts is left behind.
        """
        self.cancel_scheduled()
        with self._lock:
            self._book.stop_all()
            self._net_down()
            remove_files(self.base_dir)

    # ----------------------------------------------------------------------------------------
    # Growing and shrinking the running cluster

    def add(self, host: Optional[str] = None, timeout: float = 150) -> Node:
        """Start one more node that joins the running cluster (a full state transfer) and return
        it once Synced: node N+1, at `host` (`host` or `host:port`; default: the last node's
        address plus one, same port). Loopback labs only."""
        with self._lock:
            deadline = time.monotonic() + timeout
            if self.net is not None:
                raise LabError("lab add is for a loopback lab")
            if not self.nodes or all(self.pid(n.index) is None for n in self.nodes):
                raise LabError("lab add joins a running cluster: start it first (`multimaster lab up`)")
            check_node_count(len(self.nodes) + 1)
            address = host or next_host(self.addresses)
            endpoints = [(n.host, n.port) for n in self.nodes] + [split_address(address, self.nodes[-1].port)]
            nodes = node_layout(endpoints, self.base_dir)
            if nodes[:-1] != self.nodes:
                raise LabError(f"{address} shares an address with a node: the nodes' Galera ports would move")
            check_layout(nodes, self.arbitrator_host, self.arbitrator_port)
            check_installed()
            node = nodes[-1]
            shutil.rmtree(node.dir, ignore_errors=True)  # left by a node removed earlier
            self.nodes = nodes
            try:
                prepare_dir(self, node)
                launch(self, node, None)
                galera.wait_synced(self._access, [node], deadline)
            except BaseException:
                self._stop(node.index, timeout=30)
                self.nodes = nodes[:-1]
                shutil.rmtree(node.dir, ignore_errors=True)
                raise
            self._write_state(created=True)
            return node

    def remove(self, i: int, timeout: float = 60) -> None:
        """Stop node i gracefully (it leaves the cluster) and remove its files. Only the last
        node: the lab numbers its nodes 1..N and keeps each one's files under node<i>."""
        with self._lock:
            if i != len(self.nodes) or i < 2:
                raise LabError(f"only the last node ({len(self.nodes)}) of a lab of 2 or more can be removed, not {i}")
            node = self._node(i)
            self._stop(i, timeout)
            self.nodes = self.nodes[:-1]
            self._write_state(created=True)
            shutil.rmtree(node.dir, ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # One node: now, or with after= in the background. Either way the call returns a Scheduled:
    # done already (its error raised) when called without after= or a follow-up, else running.

    def crash(self, i: int, *, after: Optional[When] = None, restart_after: Optional[float] = None) -> Scheduled:
        """kill -9 node i (1-based). A node already down stays down.

        With `after` (seconds from now, or a condition such as `lab.when_rows(20)`) and/or
        `restart_after` (seconds after the crash to start it again), it happens in the
        background instead and the returned `Scheduled` is still running.
        """
        return self._act(Step("crash", i, after or 0.0), after, ("start", restart_after))

    def freeze(self, i: int, *, after: Optional[When] = None, thaw_after: Optional[float] = None) -> Scheduled:
        """SIGSTOP node i: its sockets stay open but it answers nothing, like a hung server.

        With `after` and/or `thaw_after` (seconds after the freeze to SIGCONT it), in the
        background.
        """
        return self._act(Step("freeze", i, after or 0.0), after, ("thaw", thaw_after))

    def thaw(self, i: int, *, after: Optional[When] = None) -> Scheduled:
        """SIGCONT a frozen node i. If the cluster evicted it meanwhile, it does not rejoin by
        itself: `restart` it. With `after`, in the background."""
        return self._act(Step("thaw", i, after or 0.0), after)

    def stop(self, i: int, timeout: float = 60, *, after: Optional[When] = None) -> Scheduled:
        """Shut node i down cleanly (it leaves the cluster and records its position).

        With `after`, in the background (with the default timeout).
        """
        return self._act(Step("stop", i, after or 0.0), after, timeout=timeout)

    def start(self, i: int, timeout: float = 90, *, after: Optional[When] = None) -> Scheduled:
        """(Re)start node i after a crash or stop, catching up by IST; no-op if it runs (a
        frozen node is thawed). Done once the node is Synced.

        With `after`, in the background (with the default timeout).
        """
        return self._act(Step("start", i, after or 0.0), after, timeout=timeout)

    def restart(self, i: int, timeout: float = 150, *, after: Optional[When] = None) -> Scheduled:
        """`stop` node i cleanly, then `start` it; done once it is Synced again (within
        `timeout` seconds in all). With `after`, in the background."""
        return self._act(Step("restart", i, after or 0.0), after, timeout=timeout)

    def drain(self, i: int, timeout: float = 60, *, after: Optional[When] = None) -> Scheduled:
        """Take node i out of clients' rotation as an operator does before maintenance:
        `SET GLOBAL wsrep_desync=ON` (clients that read node states, multimaster among them,
        send it nothing new), then wait until no client statement runs there any more. The
        node stays in the cluster. `undrain(i)` undoes it; a restart does too. With `after`,
        in the background."""
        return self._act(Step("drain", i, after or 0.0), after, timeout=timeout)

    def undrain(self, i: int, *, after: Optional[When] = None) -> Scheduled:
        """`SET GLOBAL wsrep_desync=OFF` on node i: back in rotation once it has caught up.
        With `after`, in the background."""
        return self._act(Step("undrain", i, after or 0.0), after)

    def partition(
        self, i: int, one_way: bool = False, *, after: Optional[When] = None, heal_after: Optional[float] = None
    ) -> Scheduled:
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
        background.
        """
        action = "partition_one_way" if one_way else "partition"
        return self._act(Step(action, i, after or 0.0), after, ("heal", heal_after))

    def isolate(self, i: int, *, after: Optional[When] = None, heal_after: Optional[float] = None) -> Scheduled:
        """Cut node i off from its peers (the other nodes and garbd) but not from the client (a
        netns lab only; needs nftables); `heal(i)` undoes it. The node ends in a non-Primary
        component of its own: it answers the client, refuses statements with 1047. With
        `after` and/or `heal_after`, in the background."""
        return self._act(Step("isolate", i, after or 0.0), after, ("heal", heal_after))

    def heal(self, i: int, *, after: Optional[When] = None) -> Scheduled:
        """End node i's partition, full or one-way (a netns lab only); no-op if it has none.
        Done at once: Galera merges the node back by itself (with IST if it missed writes),
        which `status()` shows as Synced again. With `after`, in the background."""
        return self._act(Step("heal", i, after or 0.0), after)

    def _act(
        self,
        first: Step,
        after: Optional[When],
        then: Tuple[str, Optional[float]] = ("", None),
        timeout: Optional[float] = None,
    ) -> Scheduled:
        """`first`, then (if its delay is given) the `then` action on the same node that many
        seconds later: in the calling thread when neither is deferred, else in the background.
        `timeout` is for the one-step form only (a scheduled step uses the default)."""
        action, delay = then
        steps = [first] if delay is None else [first, Step(action, first.node, delay)]
        if after is None and delay is None:
            return Scheduled(self, steps, timeout=timeout).run_here()
        return self.schedule(*steps)

    # The operations themselves, as schedule.perform runs them (under the lab's lock).

    def _crash(self, i: int) -> None:
        pid = self.pid(i)
        if pid is not None:
            send_signal(pid, signal.SIGKILL)
            wait_until(lambda: self.pid(i) is None, 10, f"node {i} to die after kill -9")

    def _freeze(self, i: int) -> None:
        send_signal(self._require_pid(i), signal.SIGSTOP)

    def _thaw(self, i: int) -> None:
        send_signal(self._require_pid(i), signal.SIGCONT)

    def _stop(self, i: int, timeout: float = 60) -> None:
        pid = self.pid(i)
        if pid is None:
            return
        send_signal(pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
        send_signal(pid, signal.SIGTERM)
        node = self._node(i)
        wait_until(lambda: self.pid(i) is None, timeout, f"node {i} to shut down", node.log)

    def _restart(self, i: int, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        self._stop(i, timeout=min(60.0, timeout))
        self._start(i, timeout=max(1.0, remaining(deadline)))

    def _drain(self, i: int, timeout: float = 60) -> None:
        self.sql(i, "SET GLOBAL wsrep_desync = ON")
        # Client statements in flight, the looking session and system threads aside.
        busy = (
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
            "AND COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump') "
            "AND USER NOT IN ('system user', 'event_scheduler')"
        )
        wait_until(lambda: self.sql(i, busy)[0][0] == "0", timeout, f"node {i}'s statements to finish")

    def _undrain(self, i: int) -> None:
        self.sql(i, "SET GLOBAL wsrep_desync = OFF")

    def _partition(self, i: int, one_way: bool = False) -> None:
        net = self._require_netns("partition")
        netns.cut(net, self._node(i).name, i, one_way)

    def _isolate(self, i: int) -> None:
        net = self._require_netns("isolate")
        peers = [net.host(n) for n in range(1, len(self.nodes) + 1) if n != i]
        if self.arbitrator:
            peers.append(self.arbitrator_host)
        netns.isolate(net, self._node(i).name, i, peers)

    def _heal(self, i: int) -> None:
        net = self._require_netns("heal")
        netns.heal(net, self._node(i).name)

    # ----------------------------------------------------------------------------------------
    # Scheduling (schedule.py): node operations in the background, so a notebook cell can set
    # up "crash node 1 in 10 s, then restart it" and the next cell run the insert loop meanwhile.

    def schedule(self, *steps: Step) -> Scheduled:
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
    def scheduled(self) -> List[Scheduled]:
        """The schedules of this object that have not finished yet."""
        return [s for s in self._schedules if not s.done]

    def cancel_scheduled(self, timeout: float = 180) -> None:
        """Cancel every pending schedule of this object: steps not started are dropped; a step
        under way finishes first (waited for up to `timeout` s)."""
        cancel_all(self._schedules, timeout)

    # ----------------------------------------------------------------------------------------
    # Creating the cluster, and starting nodes: what starts when, from which position (the
    # processes themselves are started by launch.py)

    def _create(self, deadline: float) -> None:
        check_parent_dirs(self.base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._write_state(created=False)  # names the network too, before it exists
        self._net_up()
        if self.tls:
            make_tls(tls_dir(self.base_dir), [n.host for n in self.nodes])
            chown_to_run_user(tls_dir(self.base_dir))  # mariadbd reads its key as the run user
        for node in self.nodes:
            prepare_dir(self, node)
        first, rest = self.nodes[0], self.nodes[1:]
        install_db(first, deadline)
        # The setup runs from --init-file, before the node takes connections: no password is
        # needed for it, and the joiners get users and schema with their state transfer.
        setup = first.dir / "setup.sql"
        setup.write_text(setup_sql(self.account))
        launch(self, first, None, bootstrap=True, extra=[f"--init-file={setup}"])
        galera.wait_synced(self._access, [first], deadline)
        ensure_arbitrator(self)
        # A joiner that connects while garbd is still joining gets a non-primary view first
        # and loses ~3 s reconnecting.
        galera.wait_members(self._access, self.nodes, 1 + (1 if self.arbitrator else 0), deadline)
        # Joiners start with an empty datadir and get a full copy by rsync SST; the donor
        # serves one at a time, the others retry by themselves.
        for node in rest:
            launch(self, node, None)
        galera.wait_synced(self._access, rest, deadline)
        self._write_state(created=True)

    def _start(self, i: int, timeout: float = 90) -> None:
        node = self._node(i)
        deadline = time.monotonic() + timeout
        pid = self.pid(i)
        if pid is not None:
            send_signal(pid, signal.SIGCONT)  # `start` of a frozen node brings it back too
            return
        check_installed()
        live = [n for n in self.nodes if n is not node and self.pid(n.index) is not None]
        if live:
            galera.wait_evicted(self._access, node, live, deadline)
            galera.restore_quorum(self._access, live, deadline)
            launch(self, node, galera.recover(node, self.net, deadline))
        else:
            self._restart_cluster(node, deadline)
        ensure_arbitrator(self)
        galera.wait_synced(self._access, [node], deadline)

    def _restart_cluster(self, node: Node, deadline: float) -> None:
        """Every data node is down: bootstrap the most advanced one, then let `node` join.

        So `start 1` after a full crash may also start the node that saw the last write, if
        that is another one (galera.bootstrap_choice says why).
        """
        positions = {n.index: galera.recover(n, self.net, deadline) for n in self.nodes}
        leader = galera.bootstrap_choice(self.nodes, positions, node)
        # A surviving garbd sits in a non-primary component of the old cluster; a fresh one
        # joins the new primary cleanly.
        stop_arbitrator(self)
        launch(self, leader, positions[leader.index], bootstrap=True)
        galera.wait_synced(self._access, [leader], deadline)
        ensure_arbitrator(self)
        if leader is not node:
            launch(self, node, positions[node.index])

    # ----------------------------------------------------------------------------------------
    # The network of a netns lab (netns.py); no-ops on loopback

    def _net_up(self) -> None:
        """Create whatever part of the network is missing and heal every partition."""
        if self.net is not None:
            netns.net_up(self.net, self._net_members())

    def _net_down(self) -> None:
        """Remove the network, and what a killed run left of it (lab.json names it)."""
        if self.net is not None:
            netns.net_down(self.net, (self._book.read() or {}).get("netns") or {})

    # ----------------------------------------------------------------------------------------
    # Bookkeeping

    def _write_state(self, created: bool) -> None:
        fields: Dict[str, object] = dict(
            addresses=self.addresses,
            arbitrator=self.arbitrator,
            created=created,
            tls=self.tls,
            account=self.account.record(),
        )
        if self.net is not None:
            fields["netns"] = self.net.record([key for key, _ in self._net_members()])
        self._book.write_state(fields)
