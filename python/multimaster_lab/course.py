"""insert-test: the course's insert script, made true.

Inserts ``Title0`` ... ``Title{count-1}`` into ``course`` one row at a time through every node
given in ``AURORA_NODE1``, ``AURORA_NODE2`` (``AURORA_NODE3`` ... when set), alternating between
them like the course's ``x % 2``, failing over when a node dies and taking it back when it
returns. It ends by counting the rows and exits 0 only when every row exists exactly once.

Run it as ``insert-test`` or ``python -m multimaster_lab.course``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Tuple, Union

from multimaster import MultiMaster, parse_address, parse_url
from multimaster.exceptions import AllNodesDownError, Error
from multimaster_lab.coursedata import COLUMNS, CREATE_TABLE, DATABASE, PASSWORD, TABLE, USER, course_row

PROG = "insert-test"
DEFAULTS = {"DB_NAME": DATABASE, "DB_USER": USER, "MYSQL_PWD": PASSWORD}


class UsageError(Exception):
    """Bad or missing input: printed as one line, exit status 2."""


def nodes_from_env(env: Mapping[str, str]) -> List[str]:
    """AURORA_NODE1, AURORA_NODE2 and any AURORA_NODE3... that follow without a gap."""
    nodes = []
    for i in range(1, 100):
        name = f"AURORA_NODE{i}"
        value = env.get(name)
        if value is None:
            if i <= 2:
                raise UsageError(f"{name} is not set (the address of writer node {i}: host or host:port)")
            break
        nodes.append(checked_address(name, value))
    return nodes


def checked_address(name: str, value: str) -> str:
    try:
        parse_address(value)
    except Error as e:
        raise UsageError(f"{name}: {e}") from None
    return value.strip()


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.count < 0:
        p.error("--count must be 0 or more")
    if args.interval < 0:
        p.error("--interval must be 0 or more")
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Insert the course's rows through every writer node, failing over, exactly once.",
        epilog="Environment: AURORA_NODE1, AURORA_NODE2 (AURORA_NODE3...), "
        + ", ".join(f"{var} ({value})" for var, value in DEFAULTS.items())
        + ", or MULTIMASTER_URL. Flags override them.",
    )
    p.add_argument("--count", type=int, default=100, help="rows to insert (default 100)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between rows (default 0.5)")
    p.add_argument(
        "--node", action="append", metavar="HOST[:PORT]", help="a writer node; repeat for each (replaces AURORA_NODE*)"
    )
    p.add_argument(
        "--url",
        metavar="URL",
        help="mysql://user:password@host1,host2/database?option=value (MULTIMASTER_URL): "
        "replaces AURORA_NODE*; its user, password and database win over the variables",
    )
    p.add_argument("--database", help="database (DB_NAME)")
    p.add_argument("--user", help="user (DB_USER)")
    p.add_argument("--password", help="password (MYSQL_PWD; prefer the variable: flags show in ps)")
    p.add_argument("--table", default=TABLE, help=f"table to insert into (default {TABLE})")
    p.add_argument(
        "--policy",
        choices=["parity", "sequential"],
        default=None,
        help="parity: row x goes to node x mod N first, like the course (default)",
    )
    p.add_argument("--create-table", action="store_true", help="create the course table first if it is missing")
    p.add_argument(
        "--clear", action="store_true", help="delete rows with these titles left by an earlier run before inserting"
    )
    add_connection_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no line per row")
    p.add_argument(
        "--progress",
        action="store_true",
        help="a live progress line on stderr (a terminal) instead of a line per row; node events show above it",
    )
    return p


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """TLS and the timeouts: how the run talks to the nodes and when it gives one up."""
    p.add_argument(
        "--ssl-mode",
        choices=["DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"],
        type=str.upper,
        help="TLS, with MySQL's names (default DISABLED, or VERIFY_CA with --ssl-ca)",
    )
    p.add_argument("--ssl-ca", metavar="PEM", help="CA certificate(s) to trust (for Aurora: the RDS bundle)")
    p.add_argument("--ssl-cert", metavar="PEM", help="client certificate, with --ssl-key")
    p.add_argument("--ssl-key", metavar="PEM", help="client private key")
    p.add_argument("--connect-timeout", type=float, default=None, help="seconds (default 2)")
    p.add_argument(
        "--failure-detection",
        type=float,
        default=None,
        help="seconds without an answer to a liveness check before a node is "
        "taken for dead (default 3: shorter than Galera's ~6 s write pause "
        "after a node dies; a slow statement is never taken for a dead node)",
    )
    p.add_argument(
        "--statement-timeout",
        type=float,
        default=None,
        help="seconds one row's INSERT may run before it is killed on the server and the run stops (default 60)",
    )
    p.add_argument(
        "--failover-timeout",
        type=float,
        default=None,
        help="seconds to look for a live node before giving up (default 20)",
    )


class EventPrinter(logging.Handler):
    """Prints the library's node events (down, back up, took over, outcome resolved) as lines
    between the per-row lines, like the course's "reconnecting" messages."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            print(f"*** {record.getMessage()}", flush=True)


@dataclass
class Settings:
    nodes: Union[List[str], str]  # addresses, or a connection URL
    database: Optional[str]
    user: Optional[str]
    password: Optional[str] = field(repr=False)


def settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Flags first, then a connection URL (--url, MULTIMASTER_URL), then the course's
    variables, then the course's defaults. A setting left None is the URL's."""
    url = args.url or env.get("MULTIMASTER_URL")
    from_url = {}
    if args.node:
        nodes: Union[List[str], str] = [checked_address("--node", n) for n in args.node]
    elif url:
        try:
            from_url = parse_url(url)
        except Error as e:
            raise UsageError(f"{'--url' if args.url else 'MULTIMASTER_URL'}: {e}") from None
        nodes = url
    else:
        nodes = nodes_from_env(env)

    def pick(flag: Optional[str], var: str, in_url: bool) -> Optional[str]:
        if flag is not None:
            return flag
        return None if in_url else env.get(var, DEFAULTS[var])

    return Settings(
        nodes,
        pick(args.database, "DB_NAME", bool(from_url.get("database"))),
        pick(args.user, "DB_USER", bool(from_url.get("user"))),
        pick(args.password, "MYSQL_PWD", bool(from_url.get("password_set"))),
    )


def quote_table(name: str) -> str:
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split(".", 1))


def summarize(mm: MultiMaster, table: str, count: int) -> Tuple[int, int]:
    """(rows found, distinct titles found) among Title0..Title{count-1}, read causally so a row
    just written through another node is counted."""
    found = distinct = 0
    titles = [course_row(x)[0] for x in range(count)]
    for start in range(0, len(titles), 500):
        chunk = titles[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        ((n, d),) = mm.query(
            f"SELECT COUNT(*), COUNT(DISTINCT title) FROM {quote_table(table)} WHERE title IN ({marks})",
            chunk,
            causal=True,
        )
        found += int(n)
        distinct += int(d)
    return found, distinct


def run(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    args = parse_args(argv)
    cfg = settings(args, env)
    nodes = parse_url(cfg.nodes)["nodes"] if isinstance(cfg.nodes, str) else cfg.nodes
    database = cfg.database or (parse_url(cfg.nodes)["database"] if isinstance(cfg.nodes, str) else None)
    print(
        f"{PROG}: {len(nodes)} nodes [{', '.join(nodes)}], database {database}, "
        f"{args.count} rows {args.interval:g} s apart",
        flush=True,
    )

    log = logging.getLogger("multimaster")
    # With --progress the live line shows the node events itself.
    handler: logging.Handler = logging.NullHandler() if args.progress else EventPrinter()
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    log.propagate = False
    try:
        with MultiMaster(
            cfg.nodes,
            cfg.database,
            cfg.user,
            cfg.password,
            policy=args.policy,
            connect_timeout=args.connect_timeout,
            failure_detection=args.failure_detection,
            failover_timeout=args.failover_timeout,
            ssl_mode=args.ssl_mode,
            ssl_ca=args.ssl_ca,
            ssl_cert=args.ssl_cert,
            ssl_key=args.ssl_key,
        ) as mm:
            return insert_and_verify(mm, args)
    finally:
        log.removeHandler(handler)


def insert_and_verify(mm: MultiMaster, args: argparse.Namespace) -> int:
    if args.create_table:
        mm.execute(CREATE_TABLE.format(table=quote_table(args.table)), idempotent=True)
    if args.count:
        before, _ = summarize(mm, args.table, args.count)
        if before and args.clear:
            titles = [course_row(x)[0] for x in range(args.count)]
            for start in range(0, len(titles), 500):
                chunk = titles[start : start + 500]
                mm.execute(
                    f"DELETE FROM {quote_table(args.table)} WHERE title IN ({', '.join('?' * len(chunk))})",
                    chunk,
                    idempotent=True,
                )
            print(f"cleared {before} rows left by an earlier run", flush=True)
        elif before:
            raise UsageError(
                f"{args.table} already holds {before} rows titled Title0..Title{args.count - 1} "
                "from an earlier run; pass --clear to delete them first"
            )

    rows = [course_row(x) for x in range(args.count)]

    def on_row(index: int, node: str, rerouted: bool) -> None:
        if not (args.quiet or args.progress):
            note = " (failed over)" if rerouted else ""
            print(f"{rows[index][0]}: 1 record inserted successfully [{node}]{note}...", flush=True)

    report = mm.insert_many(
        args.table,
        COLUMNS,
        rows,
        key="title",
        interval=args.interval,
        on_row=on_row,
        progress=args.progress,
        statement_timeout=args.statement_timeout,
    )
    found, distinct = summarize(mm, args.table, args.count)
    lost = args.count - distinct
    duplicated = found - distinct
    print(f"Summary: expected {args.count}, found {found}, distinct {distinct}, lost {lost}, duplicated {duplicated}")
    for node, n in report.per_node.items():
        print(f"  {node}: {n} rows")
    print(
        f"  failovers {report.failovers}, rerouted {report.rerouted}, ambiguous resolved "
        f"{report.ambiguous_resolved}, retries {report.retries}, {report.elapsed:.1f} s"
    )
    ok = found == args.count and distinct == args.count
    print("OK: every row written exactly once" if ok else "FAILED: rows lost or duplicated", flush=True)
    return 0 if ok else 1


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    try:
        return run(argv, env)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except AllNodesDownError as e:
        print(f"{PROG}: no node reachable: {e}", file=sys.stderr)
        return 3
    except Error as e:
        code = f" [{e.errno}]" if e.errno else ""
        print(f"{PROG}: {type(e).__name__}{code}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        report = getattr(e, "report", None)
        written = f" after {report.rows} rows" if report is not None else ""
        print(f"{PROG}: interrupted{written}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
