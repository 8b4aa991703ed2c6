"""`multimaster lab ...`: the lab from a shell. `main(argv, **account)` is what `multimaster lab`
runs, with the course's account (multimaster_lab/cli.py); `up` creates it, the other commands
read it back from lab.json."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, List

from .errors import LabError
from .lab import Lab
from .layout import DEFAULT_DIR, lab_dir
from .netns import parse_subnet

# (command, help) of the commands that take a node number.
NODE_COMMANDS = [
    ("crash", "kill -9 node I"),
    ("freeze", "SIGSTOP node I"),
    ("thaw", "SIGCONT node I"),
    ("start", "start node I again"),
    ("stop", "shut node I down cleanly"),
    ("restart", "shut node I down cleanly and start it again"),
    ("drain", "wsrep_desync=ON on node I, then wait for its statements to finish"),
    ("undrain", "wsrep_desync=OFF on node I"),
    ("partition", "cut node I off the network: packets dropped, no RST (netns lab)"),
    ("isolate", "cut node I off from its peers, not from the client (netns lab)"),
    ("heal", "end node I's partition or isolation (netns lab)"),
    ("remove", "stop node I gracefully (it leaves the cluster) and remove its files: the last node only"),
]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", default=argparse.SUPPRESS, help=f"lab directory (default: $MULTIMASTER_LAB_DIR or {DEFAULT_DIR})"
    )
    parser = argparse.ArgumentParser(
        prog="multimaster lab",
        parents=[common],
        description="A local MariaDB Galera cluster on loopback (or, with `up --netns`, in network namespaces).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", parents=[common], help="start the lab (N data nodes + garbd)")
    up.add_argument("nodes", nargs="?", type=int, metavar="N", help="data nodes (default 2)")
    up.add_argument(
        "--hosts",
        metavar="ADDR,ADDR",
        help="one loopback address per node, host or host:port "
        "(default $MULTIMASTER_LAB_HOSTS, else 127.0.10.1, 127.0.10.2, ... "
        "on port 3306)",
    )
    up.add_argument(
        "--netns",
        action="store_true",
        help="each node and garbd in a network namespace of its own, on a bridge, "
        "so that `partition` can cut them off (root only)",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="the nodes require TLS: a private CA and certificates naming their IP "
        "addresses, under DIR/tls (connect with ssl_ca=DIR/tls/ca.pem)",
    )
    up.add_argument(
        "--subnet",
        metavar="CIDR",
        help="the netns lab's private subnet (default 10.213.<k>.0/24, k derived "
        "from the lab directory); implies --netns",
    )
    commands.add_parser("status", parents=[common], help="show each node's state")
    for name, text in NODE_COMMANDS:
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("node", type=int, metavar="I", help="node number, from 1")
        if name == "partition":
            command.add_argument(
                "--one-way", action="store_true", help="drop only what the client sends node I; it stays in the cluster"
            )
    add = commands.add_parser("add", parents=[common], help="start one more node that joins the running cluster")
    add.add_argument(
        "--host", metavar="ADDR", help="its loopback address, host or host:port (default: the last node's plus one)"
    )
    commands.add_parser("down", parents=[common], help="stop the lab and remove its files")
    commands.add_parser("env", parents=[common], help="print shell exports for the course")
    return parser


def print_env(lab: Lab) -> None:
    for name, value in lab.env().items():
        print(f"export {name}={shlex.quote(value)}")


def print_status(lab: Lab) -> None:
    partition = f"{'partition':<11}" if lab.netns else ""
    print(f"{'node':<6}{'address':<22}{'pid':<9}{'state':<13}{'size':<6}{'ready':<6}{partition}".rstrip())
    for row in lab.status():
        if lab.netns:
            partition = f"{row['partition'] or '-':<11}"
        print(
            f"{row['index']:<6}{row['address']:<22}{row['pid'] or '-':<9}{row['state']:<13}"
            f"{row['cluster_size'] or '-':<6}{'yes' if row['ready'] else 'no':<6}{partition}".rstrip()
        )
    if lab.arbitrator:
        pid = lab.arbitrator_pid()
        print(
            f"{'garbd':<6}{lab.arbitrator_host + ':' + str(lab.arbitrator_port):<22}"
            f"{pid or '-':<9}{'running' if pid else 'down'}"
        )


def lab_to_bring_up(args: argparse.Namespace, account: Any) -> Lab:
    """`up` alone restarts the lab that is there; `up N` (or --hosts) asks for that size, with
    `account` (Lab's database, user, password, table)."""
    base_dir = getattr(args, "dir", None)
    known = (lab_dir(base_dir) / "lab.json").exists()
    hosts = [h.strip() for h in args.hosts.split(",")] if args.hosts else None
    netns = bool(args.netns or args.subnet)
    if netns and hosts:
        raise LabError("--hosts is for a loopback lab: a netns lab picks its addresses (--subnet)")
    if args.nodes or hosts or not known:
        return Lab(
            args.nodes or (len(hosts) if hosts else None),
            base_dir,
            hosts,
            netns=netns,
            subnet=args.subnet,
            tls=args.tls,
            **account,
        )
    lab = Lab.load(base_dir)
    if netns and (
        not lab.netns or (args.subnet and lab.net is not None and str(lab.net.subnet) != str(parse_subnet(args.subnet)))
    ):
        raise LabError(
            f"{lab.base_dir} holds another lab ({', '.join(lab.addresses)}); run `multimaster lab down` first"
        )
    return lab


def run(args: argparse.Namespace, account: Any) -> int:
    base_dir = getattr(args, "dir", None)
    if args.command == "up":
        lab = lab_to_bring_up(args, account)
        lab.up()
        print_env(lab)
        return 0
    if args.command == "down":
        try:
            lab = Lab.load(base_dir)
        except LabError:
            return 0  # nothing to do is success: `down` twice is fine
        lab.down()
        return 0
    lab = Lab.load(base_dir)
    if args.command == "status":
        print_status(lab)
    elif args.command == "env":
        print_env(lab)
    elif args.command == "add":
        node = lab.add(args.host)
        print(f"node {node.index}: {node.address}")
    elif args.command == "partition":
        lab.partition(args.node, one_way=args.one_way)
    else:
        getattr(lab, args.command)(args.node)
    return 0


def main(argv: List[str], **account: Any) -> int:
    """`multimaster lab` with argv (without the program name); returns the exit status.
    `account`: what `up` creates (Lab's database, user, password, table; default the lab's)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse exits on --help and on usage errors
        return int(e.code or 0)
    try:
        return run(args, account)
    except LabError as e:
        print(f"multimaster lab: {e.message}", file=sys.stderr)
        if e.log_tail:
            print(e.log_tail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
