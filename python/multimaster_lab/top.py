"""`multimaster top`: a live view of any cluster (nodes, URL or option file, as insert-test
takes them), refreshed once a second; `q` or Ctrl-C quits. Read-only: it runs one
`SHOW GLOBAL STATUS` per node per refresh, through a single-node MultiMaster per node (so each
node's state and reason are the library's own judgement).

A separate process sees only its own client, so the rates are the servers': statements/s is
the node's `Questions` counter per second (every client's statements, less top's own), errors/s
its Galera conflicts per second (`wsrep_local_cert_failures` + `wsrep_local_bf_aborts`: the
statement errors a multi-master cluster adds), flow control the fraction of the interval
replication was paused (`wsrep_flow_control_paused_ns`). p50/p99 and failovers are top's own
statements' (how the node answers it). A node that does not answer shows down with the reason,
and top keeps refreshing. On a terminal it draws with curses; otherwise it prints one table per
refresh (`--iterations N` stops after N)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from multimaster import MultiMaster, parse_url
from multimaster.display.live import LiveRow, live_text
from multimaster.exceptions import Error
from multimaster_lab.course import DEFAULTS, UsageError, add_connection_options, checked_address, nodes_from_env

PROG = "multimaster top"
STATUS = (
    "Questions",
    "wsrep_local_state_comment",
    "wsrep_cluster_size",
    "wsrep_flow_control_paused_ns",
    "wsrep_local_cert_failures",
    "wsrep_local_bf_aborts",
)
SHOW_STATUS = "SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(f"'{v}'" for v in STATUS) + ")"
#: How long a refresh waits for a node: a node that does not answer is shown down, not waited for.
NODE_WAIT = 0.5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="A live view of a cluster's nodes: state, statements/s, errors/s, latency, Galera state.",
        epilog="Environment: AURORA_NODE1, AURORA_NODE2 (AURORA_NODE3...), "
        + ", ".join(f"{var} ({value})" for var, value in DEFAULTS.items())
        + ", or MULTIMASTER_URL. Flags override them. Keys: q quits.",
    )
    p.add_argument("--node", action="append", metavar="HOST[:PORT]", help="a node; repeat for each")
    p.add_argument("--url", metavar="URL", help="mysql://user:password@host1,host2/database (MULTIMASTER_URL)")
    p.add_argument("--defaults-file", metavar="CNF", help="a MySQL option file: its [client] group's host, user...")
    p.add_argument("--database", help="database (DB_NAME)")
    p.add_argument("--user", help="user (DB_USER)")
    p.add_argument("--password", help="password (MYSQL_PWD; prefer the variable: flags show in ps)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    p.add_argument("--iterations", type=int, help="stop after this many refreshes (default: until q or Ctrl-C)")
    add_connection_options(p)
    return p


def one_node_url(url: str, node: str) -> str:
    """`url` with its hosts replaced by `node`: the user, password, database and options kept
    without reading the password out of it."""
    parts = urlsplit(url)
    creds, _, _ = parts.netloc.rpartition("@")
    netloc = f"{creds}@{node}" if creds else node
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "host"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Watch:
    """One node: a single-node MultiMaster and the status counters of its last sample."""

    def __init__(self, node: str, target: Any, args: argparse.Namespace, credentials: Mapping[str, Any]) -> None:
        self.node = node
        self.mm = MultiMaster(
            target,
            read_default_file=args.defaults_file,
            connect_timeout=args.connect_timeout or 1.0,
            failure_detection=args.failure_detection or 2.0,
            failover_timeout=NODE_WAIT,
            backoff_cap=2.0,
            ssl_mode=args.ssl_mode,
            ssl_ca=args.ssl_ca,
            ssl_cert=args.ssl_cert,
            ssl_key=args.ssl_key,
            **credentials,
        )
        self.last: Optional[Tuple[float, Dict[str, str]]] = None

    def sample(self) -> LiveRow:
        at = time.monotonic()
        error: Optional[str] = None
        status: Dict[str, str] = {}
        try:
            status = {str(k): str(v) for k, v in self.mm.query(SHOW_STATUS, statement_timeout=2.0)}
        except Error as e:
            error = str(e)
        s = self.mm.stats()[0]
        row = LiveRow(node=self.node, p50=s["p50"], p99=s["p99"], failovers=s["failovers"])
        if error is not None:
            row["state"], row["reason"] = "down", s["last_error"] or error
            self.last = None
            return row
        row["state"], row["reason"] = s["state"], None
        row["galera"] = status.get("wsrep_local_state_comment")
        row["size"] = int(status["wsrep_cluster_size"]) if "wsrep_cluster_size" in status else None
        if self.last is not None:
            before, old = self.last
            dt = max(at - before, 1e-3)

            def rate(*names: str) -> Optional[float]:
                if not all(n in status and n in old for n in names):
                    return None
                return max(0, sum(int(status[n]) - int(old[n]) for n in names)) / dt

            questions = rate("Questions")
            row["statements_s"] = None if questions is None else max(0.0, questions - 1 / dt)  # less top's own
            row["errors_s"] = rate("wsrep_local_cert_failures", "wsrep_local_bf_aborts")
            paused = rate("wsrep_flow_control_paused_ns")
            row["fc_paused"] = None if paused is None else min(1.0, paused / 1e9)
        self.last = (at, status)
        return row

    def close(self) -> None:
        self.mm.close()


def watches(args: argparse.Namespace, env: Mapping[str, str]) -> List[Watch]:
    url = args.url or env.get("MULTIMASTER_URL")
    credentials: Dict[str, Any] = {}
    for flag, var in (("database", "DB_NAME"), ("user", "DB_USER"), ("password", "MYSQL_PWD")):
        value = getattr(args, flag)
        if value is None and not url and not args.defaults_file:
            value = env.get(var, DEFAULTS[var])
        if value is not None:
            credentials[flag] = value
    if args.node:
        nodes = [checked_address("--node", n) for n in args.node]
        return [Watch(n, [n], args, credentials) for n in nodes]
    if url:
        try:
            nodes = parse_url(url)["nodes"]
        except Error as e:
            raise UsageError(f"--url: {e}") from None
        return [Watch(n, one_node_url(url, n), args, credentials) for n in nodes]
    if args.defaults_file:
        with MultiMaster(None, read_default_file=args.defaults_file, **credentials) as probe:
            nodes = [str(n) for n in probe.nodes]
        return [Watch(n, [n], args, credentials) for n in nodes]
    return [Watch(n, [n], args, credentials) for n in nodes_from_env(env)]


class Sampler:
    """Samples every node at once, every `interval` seconds, in a thread of its own (a node that
    does not answer costs a refresh NODE_WAIT, never the keyboard)."""

    def __init__(self, nodes: List[Watch], interval: float) -> None:
        self.nodes, self.interval = nodes, interval
        self.rows: List[LiveRow] = [LiveRow(node=w.node, state="?") for w in nodes]
        self.refreshes = 0
        self.at = time.time()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="top")
        self._thread = threading.Thread(target=self._run, name="top-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            begun = time.monotonic()
            self.rows = list(self._pool.map(lambda w: w.sample(), self.nodes))
            self.at, self.refreshes = time.time(), self.refreshes + 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - begun)))

    def title(self) -> str:
        down = sum(r.get("state") != "up" for r in self.rows)
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        return f"multimaster top: {len(self.rows)} nodes, {down} not up, {clock} (q quits)"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + NODE_WAIT + 5)
        self._pool.shutdown(wait=False)
        for w in self.nodes:
            w.close()


def _curses(sampler: Sampler, iterations: Optional[int]) -> None:
    import curses

    def loop(screen: Any) -> None:
        curses.curs_set(0)
        screen.timeout(100)
        shown = -1
        while iterations is None or sampler.refreshes < iterations:
            if sampler.refreshes != shown:
                shown = sampler.refreshes
                height, width = screen.getmaxyx()
                screen.erase()
                for y, line in enumerate(live_text(sampler.rows, sampler.title()).splitlines()[: height - 1]):
                    screen.addnstr(y, 0, line, width - 1)
                screen.refresh()
            if screen.getch() in (ord("q"), ord("Q")):
                return

    curses.wrapper(loop)


def _lines(sampler: Sampler, iterations: Optional[int]) -> None:
    shown = 0
    while iterations is None or shown < iterations:
        if sampler.refreshes > shown:
            shown = sampler.refreshes
            print(live_text(sampler.rows, sampler.title()) + "\n", flush=True)
        time.sleep(0.05)


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    p = build_parser()
    args = p.parse_args(argv)
    if args.interval <= 0:
        p.error("--interval must be more than 0")
    try:
        nodes = watches(args, env)
    except (UsageError, Error) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    sampler = Sampler(nodes, args.interval).start()
    try:
        if sys.stdout.isatty() and sys.stdin.isatty():
            _curses(sampler, args.iterations)
        else:
            _lines(sampler, args.iterations)
    except KeyboardInterrupt:
        pass
    finally:
        sampler.stop()
    return 0
