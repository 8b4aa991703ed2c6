"""The lab's processes: the tools they run, starting them detached, finding them again (the pids
lab.json records, checked against their command lines), signalling them and waiting for them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .config import GALERA_PROVIDER, RUN_USER
from .errors import LabError
from .layout import process_marker, state_file

APT_PACKAGES = "mariadb-server galera-4 galera-arbitrator-4 rsync"

POLL_INTERVAL = 0.2
# Seconds `down` lets the lab shut down cleanly before kill -9. A clean leave takes well under
# a second, except while a crashed member is still in the view: then Galera holds the leave
# until it evicts that member (~6 s), which is not worth waiting for when the data goes anyway.
STOP_GRACE = 2.0
LOG_TAIL_LINES = 15


# ------------------------------------------------------------------------------------------------
# Tools


def which(name: str) -> Optional[str]:
    # mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
    return shutil.which(name, path=os.environ.get("PATH", os.defpath) + ":/usr/sbin")


def exe(name: str) -> str:
    path = which(name)
    if path is None:
        check_installed()  # raises, naming the packages
    return path or name


def check_installed() -> None:
    """LabError naming the apt packages if a tool the lab runs is missing."""
    missing = [name for name in ("mariadbd", "mariadb", "mariadb-install-db", "garbd", "rsync") if which(name) is None]
    if not Path(GALERA_PROVIDER).exists():
        missing.append(GALERA_PROVIDER)
    if missing:
        raise LabError(f"missing {', '.join(missing)}: apt-get install {APT_PACKAGES}")


# ------------------------------------------------------------------------------------------------
# Ports and permissions


def port_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as the servers use it: a listener makes bind fail, TIME_WAIT leftovers of
    # a lab that just went down do not.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports_free(host: str, ports: List[Tuple[int, str]], user: str) -> None:
    for port, what in ports:
        if not port_free(host, port):
            raise LabError(f"{host}:{port} is already in use by another process (needed as {user}'s {what} port)")


def check_parent_dirs(base_dir: Path) -> None:
    # The nodes run as `mysql`, which must be able to reach its files: pytest's and
    # mkdtemp's private 0700 directories are a common trap.
    if os.geteuid() != 0:
        return
    for parent in base_dir.parents:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            raise LabError(f"{parent} is not searchable by the {RUN_USER} user (chmod o+x it, or choose another --dir)")


def chown_to_run_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, f) for f in dirs + files]:
            shutil.chown(name, RUN_USER, RUN_USER)


# ------------------------------------------------------------------------------------------------
# Processes

# Popen objects of the processes this Python process started, kept so that a child that dies
# is reaped (a zombie would otherwise look alive in /proc).
_CHILDREN: Dict[int, subprocess.Popen[bytes]] = {}


def spawn(cmd: List[str], log: Path, user: Optional[str] = None) -> int:
    """Start cmd detached from our session (it outlives the CLI), stderr into log."""
    with open(log, "ab") as out:
        child = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, user=user
        )
    _CHILDREN[child.pid] = child
    return child.pid


def is_alive(pid: int, marker: str) -> bool:
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


def is_frozen(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] in ("T", "t")


def send_signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------------------------------------
# Files and waiting


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data: Dict[str, Any] = json.loads(path.read_text())
        return data
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"cannot read {path}: {e}") from None


def write_json(path: Path, data: Dict[str, Any]) -> None:
    # Write-then-rename: a reader in another process never sees half a file. Owner-only: lab.json
    # holds the lab account's password (a later `status` or `env` logs in with it).
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover .tmp keeps its mode through O_TRUNC
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(f"  {log.name}: {line}" for line in text.splitlines()[-lines:])


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class WaitTimeout(LabError):
    """`wait_until` ran out of time."""


def wait_until(condition: Callable[[], bool], timeout: float, what: str, log: Optional[Path] = None) -> None:
    """Poll condition until true; LabError naming `what` (and the log's tail) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}", tail(log) if log else "")
        time.sleep(POLL_INTERVAL)


# ------------------------------------------------------------------------------------------------
# lab.json


class ProcessBook:
    """A lab's lab.json: its layout and the pids of the processes it started, by key ("node1",
    "garbd"). A recorded pid counts only while its command line still carries the key's marker."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.path = state_file(base_dir)

    def read(self) -> Optional[Dict[str, Any]]:
        return read_json(self.path)

    def write_state(self, fields: Dict[str, Any]) -> None:
        """Set `fields` (the layout), keeping the pids recorded."""
        state = self.read() or {}
        state.update(fields)
        state.setdefault("pids", {})
        write_json(self.path, state)

    def marker(self, key: str) -> str:
        return process_marker(self.base_dir, key)

    def recorded(self) -> Dict[str, int]:
        pids = (self.read() or {}).get("pids", {})
        return {str(key): int(pid) for key, pid in pids.items()}

    def live(self, key: str) -> Optional[int]:
        pid = self.recorded().get(key)
        return pid if pid is not None and is_alive(pid, self.marker(key)) else None

    def record(self, key: str, pid: int) -> None:
        state = self.read() or {}
        state.setdefault("pids", {})[key] = pid
        write_json(self.path, state)

    def stop_all(self) -> None:
        """SIGTERM every process recorded, then kill -9 what is left after STOP_GRACE."""
        candidates = [(pid, self.marker(key)) for key, pid in self.recorded().items()]
        live = [(pid, marker) for pid, marker in candidates if is_alive(pid, marker)]
        for pid, _ in live:
            send_signal(pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            send_signal(pid, signal.SIGTERM)

        def all_gone() -> bool:
            return not any(is_alive(pid, marker) for pid, marker in live)

        try:
            wait_until(all_gone, STOP_GRACE, "the lab to shut down")
        except WaitTimeout:
            for pid, marker in live:
                if is_alive(pid, marker):
                    send_signal(pid, signal.SIGKILL)
            wait_until(all_gone, 10, "the lab's processes to die after kill -9")
