"""The network of a netns lab (`Lab(netns=True)`, root only): a bridge in the root namespace and
one network namespace per process key (node1..., garbd), each joined to the bridge by a veth
pair, on a private subnet; and the partitions cut into it.

The default subnet is 10.213.<k>.0/24, k (1 to 254) derived from the lab directory so that two
labs can coexist; in any subnet node i is host i, garbd host 200 and the root namespace (where
the client runs) host 254, on the bridge. The names of the namespaces, the bridge and the veths
derive from the lab directory too and are recorded in lab.json, so `down` (or a fresh `up`)
removes what a killed run left.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import LabError
from .procs import exe, send_signal, wait_until, which

NETNS_DEFAULT_PREFIX = "10.213"
ARBITRATOR_HOST_NUMBER = 200
CLIENT_HOST_NUMBER = 254
# The nftables table a one-way partition adds in a node's namespace (its only ruleset).
PARTITION_TABLE = "multimaster_partition"
# The nftables table `isolate` adds in a node's namespace: it drops what goes to or comes from
# the node's peers (the other nodes, garbd), not the client.
ISOLATE_TABLE = "multimaster_isolate"
NETNS_PACKAGES = "iproute2 nftables"


@dataclass(frozen=True)
class NetLayout:
    """A netns lab's network: the names derived from its directory, and its subnet.

    `key` is a process key of lab.json ("node1", "garbd"). Every name starts with `tag`
    ("mm" and 6 hex digits of the directory's hash), so a lab's leftovers are found by name;
    interface names stay within Linux's 15 characters (`tag` + 2).
    """

    tag: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def for_dir(cls, base_dir: Path, subnet: Optional[str] = None) -> NetLayout:
        digest = hashlib.sha1(str(base_dir).encode()).hexdigest()
        if subnet is None:
            k = 1 + int(digest[6:14], 16) % 254
            subnet = f"{NETNS_DEFAULT_PREFIX}.{k}.0/24"
        return cls("mm" + digest[:6], parse_subnet(subnet))

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def bridge_mac(self) -> str:
        # Set once, so the bridge's address does not follow its ports as they come and go
        # (a node's ARP entry for the client would go stale). Locally administered.
        t = self.tag[2:]
        return f"02:6d:6d:{t[0:2]}:{t[2:4]}:{t[4:6]}"

    @staticmethod
    def _suffix(key: str) -> str:
        return "g" if key == "garbd" else key[len("node") :]

    def namespace(self, key: str) -> str:
        return f"{self.tag}-{key}"

    def outer(self, key: str) -> str:
        """The root-namespace end of key's veth pair, a port of the bridge."""
        return f"{self.tag}r{self._suffix(key)}"

    def inner(self, key: str) -> str:
        """The end of key's veth pair inside its namespace."""
        return f"{self.tag}n{self._suffix(key)}"

    def host(self, number: int) -> str:
        return str(self.subnet.network_address + number)

    @property
    def client_host(self) -> str:
        """The root namespace's address on the bridge: where the client's packets come from."""
        return self.host(CLIENT_HOST_NUMBER)

    def endpoints(self, nodes: int, port: int) -> List[Tuple[str, int]]:
        """(host, SQL port) of each data node: node i is host i of the subnet."""
        if not 1 <= port <= 65535:
            raise LabError(f"bad port {port}")
        return [(self.host(i), port) for i in range(1, nodes + 1)]

    def record(self, keys: List[str]) -> Dict[str, Any]:
        """What lab.json keeps, so that a later `down` knows what to remove."""
        return {
            "subnet": str(self.subnet),
            "tag": self.tag,
            "bridge": self.bridge,
            "namespaces": {key: self.namespace(key) for key in keys},
            "veths": {key: self.outer(key) for key in keys},
        }


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """A netns lab's subnet: private IPv4, /8 to /24 (room for hosts 1-9, 200 and 254)."""
    try:
        subnet = ipaddress.IPv4Network(text.strip())
    except ValueError:
        raise LabError(f"bad subnet {text!r} (expected e.g. 10.213.7.0/24)") from None
    if (
        not subnet.is_private
        or subnet.is_loopback
        or subnet.is_link_local
        or subnet.is_multicast
        or not 8 <= subnet.prefixlen <= 24
    ):
        raise LabError(f"subnet {text!r}: a private IPv4 subnet of /8 to /24 is needed, such as 10.213.7.0/24")
    return subnet


def in_namespace(net: Optional[NetLayout], key: str, cmd: List[str]) -> List[str]:
    """cmd, run inside key's namespace in a netns lab (`ip netns exec` execs it, so the pid is
    cmd's own); cmd unchanged on loopback (net None)."""
    if net is None:
        return cmd
    return [ip_exe(), "netns", "exec", net.namespace(key)] + cmd


# ------------------------------------------------------------------------------------------------
# Building, cutting and removing the network


def net_up(net: NetLayout, members: List[Tuple[str, int]]) -> None:
    """Create whatever part of the network is missing and heal every partition. `members`:
    (process key, host number in the subnet) of everything that gets a namespace. Idempotent."""
    existing_links = set(links())
    existing_namespaces = set(namespaces())
    prefix = net.subnet.prefixlen
    if net.bridge not in existing_links:
        ip("link", "add", net.bridge, "address", net.bridge_mac, "type", "bridge")
    ip("addr", "replace", f"{net.client_host}/{prefix}", "dev", net.bridge)
    ip("link", "set", net.bridge, "up")
    for key, number in members:
        ns = net.namespace(key)
        if ns not in existing_namespaces:
            ip("netns", "add", ns)
        if net.outer(key) not in existing_links:
            ip("link", "add", net.outer(key), "type", "veth", "peer", "name", net.inner(key), "netns", ns)
        ip("-n", ns, "addr", "replace", f"{net.host(number)}/{prefix}", "dev", net.inner(key))
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", net.inner(key), "up")
        ip("link", "set", net.outer(key), "master", net.bridge)
        heal(net, key)


def net_down(net: NetLayout, recorded: Dict[str, Any]) -> None:
    """Remove the lab's namespaces, veths and bridge, and end any process still inside those
    namespaces (an SST's rsync, a node a killed run never recorded): all found by the lab's
    name prefix or in `recorded` (lab.json's "netns"), so this also clears what a killed run
    left."""
    ours_ns = [
        ns for ns in namespaces() if ns.startswith(net.tag + "-") or ns in recorded.get("namespaces", {}).values()
    ]
    pids = [pid for ns in ours_ns for pid in netns_pids(ns)]
    for pid in pids:
        send_signal(pid, signal.SIGCONT)
        send_signal(pid, signal.SIGKILL)
    wait_until(lambda: not any(netns_pids(ns) for ns in ours_ns), 10, "the processes in the lab's namespaces to die")

    def our_links() -> List[str]:
        extra = [recorded.get("bridge")] + list(recorded.get("veths", {}).values())
        return [name for name in links() if name.startswith(net.tag) or name in extra]

    for name in our_links():
        # Deleting one end of a veth pair deletes the other, in its namespace.
        run_cmd(["ip", "link", "del", name], f"removing {name}", check=False)
    for ns in ours_ns:
        run_cmd(["ip", "netns", "del", ns], f"removing namespace {ns}", check=False)
    wait_until(
        lambda: not our_links() and not any(ns in ours_ns for ns in namespaces()), 10, "the lab's network to go away"
    )


def cut(net: NetLayout, key: str, i: int, one_way: bool) -> None:
    """Partition node i (process `key`): see `Lab.partition`."""
    if one_way:
        check_nft()
        rules = (
            f"table ip {PARTITION_TABLE} {{\n"
            f"  chain input {{ type filter hook input priority -300; policy accept;\n"
            f"    ip saddr {net.client_host} drop\n  }}\n}}\n"
        )
        run_cmd(
            ["ip", "netns", "exec", net.namespace(key), nft(), "-f", "-"],
            f"dropping the client's packets to node {i}",
            stdin=rules,
        )
    else:
        run_cmd(["ip", "link", "set", net.outer(key), "down"], f"cutting node {i} off")


def isolate(net: NetLayout, key: str, i: int, peers: List[str]) -> None:
    """Cut node i (process `key`) off from `peers` (addresses) only: see `Lab.isolate`."""
    check_nft()
    listed = ", ".join(peers)
    rules = (
        f"table ip {ISOLATE_TABLE} {{\n"
        f"  chain input {{ type filter hook input priority -300; policy accept;\n"
        f"    ip saddr {{ {listed} }} drop\n  }}\n"
        f"  chain output {{ type filter hook output priority -300; policy accept;\n"
        f"    ip daddr {{ {listed} }} drop\n  }}\n}}\n"
    )
    run_cmd(
        ["ip", "netns", "exec", net.namespace(key), nft(), "-f", "-"],
        f"cutting node {i} off from its peers",
        stdin=rules,
    )


def heal(net: NetLayout, key: str) -> None:
    ip("link", "set", net.outer(key), "up")
    if which("nft") is not None:
        ns = net.namespace(key)
        listed = run_cmd(
            ["ip", "netns", "exec", ns, nft(), "list", "tables"], f"listing node {key}'s nftables", check=False
        )
        for table in (PARTITION_TABLE, ISOLATE_TABLE):
            if f"table ip {table}" in listed:
                run_cmd(
                    ["ip", "netns", "exec", ns, nft(), "delete", "table", "ip", table],
                    f"healing the partition of {key}",
                )


def partition_state(net: NetLayout, key: str) -> Optional[str]:
    """ "full", "one-way" or None: see `Lab.partitioned`."""
    try:
        flags = int(Path(f"/sys/class/net/{net.outer(key)}/flags").read_text(), 16)
    except (OSError, ValueError):
        return None  # no network at all (the lab is down)
    if not flags & 0x1:  # IFF_UP
        return "full"
    if which("nft") is not None:
        listed = run_cmd(
            ["ip", "netns", "exec", net.namespace(key), nft(), "list", "tables"],
            f"listing {key}'s nftables",
            check=False,
        )
        if f"table ip {PARTITION_TABLE}" in listed:
            return "one-way"
        if f"table ip {ISOLATE_TABLE}" in listed:
            return "isolated"
    return None


def check_subnet_free(net: NetLayout) -> None:
    """The subnet must not overlap any route of the root namespace but the lab's own bridge:
    another lab's, or the machine's real network."""
    for dev, destination in routes():
        if dev != net.bridge and destination.overlaps(net.subnet):
            raise LabError(f"subnet {net.subnet} overlaps {destination} on {dev}: choose another (subnet= or --subnet)")


# ------------------------------------------------------------------------------------------------
# The tools: `ip` and `nft`


def netns_unavailable() -> Optional[str]:
    """Why a netns lab cannot run here (not root, no `ip`, namespaces refused), or None.
    Creates and removes one throwaway namespace to find out."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if which("ip") is None:
        return "`ip` is missing: apt-get install iproute2"
    if which("setpriv") is None:
        return "`setpriv` is missing: apt-get install util-linux"
    probe = f"mmprobe{os.getpid()}"
    try:
        run_cmd(["ip", "netns", "add", probe], "creating a network namespace")
    except LabError as e:
        return str(e)
    run_cmd(["ip", "netns", "del", probe], "removing a network namespace", check=False)
    return None


def check_netns_tools() -> None:
    reason = netns_unavailable()
    if reason is not None:
        raise LabError(f"a netns lab cannot run here: {reason}")


def check_nft() -> None:
    if which("nft") is None:
        raise LabError("a one-way partition needs nftables: apt-get install nftables")


def nft() -> str:
    check_nft()
    return exe("nft")


def ip_exe() -> str:
    path = which("ip")
    if path is None:
        raise LabError("`ip` is missing: apt-get install iproute2")
    return path


def run_cmd(cmd: List[str], what: str, stdin: Optional[str] = None, check: bool = True, timeout: float = 30) -> str:
    """Run a short command (`ip`, `nft`); its stdout. LabError naming `what` if it fails
    (with check), or if it does not end within timeout."""
    if cmd[0] == "ip":
        cmd = [ip_exe()] + cmd[1:]
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: `{shlex.join(cmd)}` did not end within {timeout:g} s") from None
    if check and done.returncode != 0:
        reason = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise LabError(f"{what} failed: `{shlex.join(cmd)}`: {reason}")
    return done.stdout


def ip(*args: str) -> str:
    return run_cmd(["ip", *args], "ip " + " ".join(args))


def links() -> List[str]:
    """The names of the root namespace's network interfaces."""
    names = []
    for line in run_cmd(["ip", "-o", "link", "show"], "listing interfaces").splitlines():
        fields = line.split(":", 2)
        if len(fields) >= 2:
            names.append(fields[1].strip().split("@")[0])
    return names


def namespaces() -> List[str]:
    out = run_cmd(["ip", "netns", "list"], "listing network namespaces")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> List[int]:
    out = run_cmd(["ip", "netns", "pids", ns], f"listing the processes in {ns}", check=False)
    return [int(word) for word in out.split() if word.isdigit()]


_ROUTE_TYPES = {
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "anycast",
    "unreachable",
    "blackhole",
    "prohibit",
    "throw",
    "nat",
}


def routes() -> List[Tuple[str, ipaddress.IPv4Network]]:
    """(device, destination) of the root namespace's IPv4 routes, in every table, without
    default routes."""
    return parse_routes(run_cmd(["ip", "-4", "route", "show", "table", "all"], "listing routes"))


def parse_routes(out: str) -> List[Tuple[str, ipaddress.IPv4Network]]:
    """(device, destination) of each route `ip -4 route show` printed, without default routes."""
    found = []
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default" or "dev" not in words:
            continue
        try:
            destination = ipaddress.IPv4Network(words[0], strict=False)
        except ValueError:
            continue
        found.append((words[words.index("dev") + 1], destination))
    return found
