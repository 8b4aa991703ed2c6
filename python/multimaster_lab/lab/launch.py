"""Starting the lab's processes: a node's directory and my.cnf, its first datadir
(mariadb-install-db), its mariadbd with the Galera start options the orchestration chose, and
garbd, on loopback or in a namespace of its own.

`Lab` (lab.py) decides what starts when, and from which position; this module only does it,
recording each pid in lab.json.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, List, Optional

from . import galera
from .config import RUN_USER, garbd_args, install_db_args, my_cnf
from .errors import LabError
from .galera import Position
from .layout import Node, tls_dir
from .netns import in_namespace
from .procs import check_ports_free, chown_to_run_user, exe, remaining, send_signal, spawn, tail, wait_until

if TYPE_CHECKING:
    from .view import LabView


def prepare_dir(lab: LabView, node: Node) -> None:
    node.datadir.mkdir(parents=True, exist_ok=True)
    node.cnf.write_text(my_cnf(node, lab.nodes, tls_dir(lab.base_dir) if lab.tls else None))
    node.log.touch()
    chown_to_run_user(node.dir)


def install_db(node: Node, deadline: float) -> None:
    """Creates node's system tables in its empty datadir. A failed attempt is tried once more on
    an emptied datadir (seen once in ~20 CI runs, cause unknown: its bootstrap's own log is
    what says why, so a second failure shows it)."""
    failed = ""
    for _attempt in range(2):
        cmd = [exe("mariadb-install-db")] + install_db_args(node)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=remaining(deadline))
        except subprocess.TimeoutExpired:
            raise LabError(f"mariadb-install-db for node {node.index} timed out", tail(node.log)) from None
        if done.returncode == 0:
            if failed:
                print(f"lab: mariadb-install-db for node {node.index} failed once:\n{failed}", file=sys.stderr)
            return
        # The bootstrap server writes why to its error log (log_error), not to its output.
        failed = tail(node.log) or (done.stdout + done.stderr)[-2000:]
        shutil.rmtree(node.datadir, ignore_errors=True)
        node.datadir.mkdir(parents=True, exist_ok=True)
        chown_to_run_user(node.datadir)
    raise LabError(f"mariadb-install-db for node {node.index} failed", failed)


def launch(
    lab: LabView, node: Node, position: Optional[Position], bootstrap: bool = False, extra: Optional[List[str]] = None
) -> None:
    """Start node's mariadbd in the background and record its pid."""
    if lab.net is None:
        check_ports_free(node.host, node.ports(), f"node {node.index}")
    # A saved primary view (left by a crash) would make the node try to restore that old
    # component by itself; the orchestration decides who bootstraps, so drop it.
    (node.datadir / "gvwstate.dat").unlink(missing_ok=True)
    if bootstrap:
        galera.mark_safe_to_bootstrap(node.datadir / "grastate.dat")
    # --defaults-file must come first; --datadir also names the process for `down`.
    cmd = [exe("mariadbd"), f"--defaults-file={node.cnf}", node.marker]
    if bootstrap:
        cmd.append("--wsrep-new-cluster")
    if position is not None:
        cmd.append(f"--wsrep-start-position={position}")
    cmd += extra or []
    # mariadbd drops to the mysql user itself (`user =` in my.cnf).
    pid = spawn(in_namespace(lab.net, node.name, cmd), node.log)
    lab._book.record(node.name, pid)


def ensure_arbitrator(lab: LabView) -> None:
    """Start garbd if the lab has one and it is not running."""
    if not lab.arbitrator or lab.arbitrator_pid() is not None:
        return
    lab._check_arbitrator_port()
    lab.arbitrator_dir.mkdir(parents=True, exist_ok=True)
    lab.arbitrator_log.touch()
    chown_to_run_user(lab.arbitrator_dir)
    cmd = [exe("garbd")] + garbd_args(lab.nodes, lab.arbitrator_host, lab.arbitrator_port, lab.arbitrator_log)
    if lab.net is None:
        pid = spawn(cmd, lab.arbitrator_log, user=RUN_USER if os.geteuid() == 0 else None)
    else:
        # `ip netns exec` needs root: the drop to mysql comes after it, by setpriv, which
        # execs (as does `ip netns exec`), so the pid recorded is garbd's own.
        drop = [exe("setpriv"), f"--reuid={RUN_USER}", f"--regid={RUN_USER}", "--init-groups"]
        pid = spawn(in_namespace(lab.net, "garbd", drop + cmd), lab.arbitrator_log)
    lab._book.record("garbd", pid)


def stop_arbitrator(lab: LabView) -> None:
    pid = lab.arbitrator_pid()
    if pid is not None:
        send_signal(pid, signal.SIGKILL)
        wait_until(lambda: lab.arbitrator_pid() is None, 10, "garbd to exit")
