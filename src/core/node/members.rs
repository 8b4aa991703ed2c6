//! The cluster's members as one node reports them (`discover`): the query for each engine,
//! its parser, and the decision of what the instance does with the list
//! ([`plan`]). Read on a node's monitor connection by `cluster/discovery.rs`.

use std::net::IpAddr;

use crate::core::node::flavour::Flavour;
use crate::core::settings::address::{Endpoint, DEFAULT_PORT};

/// Galera: each member's `wsrep_node_incoming_address` (the address clients reach it at),
/// comma-separated. An arbitrator (garbd) takes no clients and contributes an empty entry.
pub const GALERA_SQL: &str = "SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'";
/// Group Replication: every member with the host and port it serves clients on.
pub const GROUP_REPLICATION_SQL: &str =
    "SELECT MEMBER_HOST, MEMBER_PORT FROM performance_schema.replication_group_members";
/// Aurora: each instance's identifier, which with the cluster's domain names its endpoint.
pub const AURORA_SQL: &str = "SELECT SERVER_ID FROM information_schema.replica_host_status";

/// The members query of `flavour`; `None`: the engine has no membership to read.
pub fn members_sql(flavour: Flavour) -> Option<&'static str> {
    match flavour {
        Flavour::Galera => Some(GALERA_SQL),
        Flavour::GroupReplication => Some(GROUP_REPLICATION_SQL),
        Flavour::AuroraMultiMaster => Some(AURORA_SQL),
        Flavour::Plain => None,
    }
}

/// `wsrep_incoming_addresses`: `host:port` entries (an IPv6 one bracketed); empty entries
/// (an arbitrator) and `AUTO` (a node that advertises nothing usable) are skipped, as is any
/// entry that is no address.
pub fn parse_galera(value: &str) -> Vec<Endpoint> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("AUTO"))
        .filter_map(|e| e.parse().ok())
        .collect()
}

/// Group Replication's rows: `(MEMBER_HOST, MEMBER_PORT)`; a member without a host yet (still
/// joining) is skipped, one without a port takes the default.
pub fn parse_group_replication(rows: &[(Option<String>, Option<u16>)]) -> Vec<Endpoint> {
    rows.iter()
        .filter_map(|(host, port)| {
            let host = host.as_deref().map(str::trim).filter(|h| !h.is_empty())?;
            let port = port.filter(|&p| p > 0).unwrap_or(DEFAULT_PORT);
            Some(Endpoint::new(host.trim_matches(['[', ']']), port))
        })
        .collect()
}

/// Aurora: an instance's endpoint is its `SERVER_ID` under the domain of the address the user
/// gave, as AWS's JDBC wrapper builds it: `db.cluster-abc.us-east-1.rds.amazonaws.com` (or a
/// `cluster-ro-` reader endpoint, or an instance endpoint) gives `ID.abc.us-east-1.rds...`.
/// `None` when the given address has no domain to borrow (an IP address).
pub fn aurora_endpoint(server_id: &str, given: &Endpoint) -> Option<Endpoint> {
    let id = server_id.trim();
    if id.is_empty() || given.host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (_, domain) = given.host.split_once('.')?;
    let domain = domain
        .strip_prefix("cluster-ro-")
        .or_else(|| domain.strip_prefix("cluster-custom-"))
        .or_else(|| domain.strip_prefix("cluster-"))
        .unwrap_or(domain);
    Some(Endpoint::new(format!("{id}.{domain}"), given.port))
}

/// One address as the matching sees it: its resolved IPs (empty: it did not resolve) and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub ips: Vec<IpAddr>,
    pub port: u16,
}

impl Resolved {
    /// The same server: the same port and an IP in common (the user may have given a name
    /// where the cluster advertises an IP).
    pub fn same(&self, other: &Resolved) -> bool {
        self.port == other.port && self.ips.iter().any(|ip| other.ips.contains(ip))
    }
}

/// A known node as the plan sees it.
#[derive(Clone, Debug)]
pub struct KnownNode {
    pub at: Resolved,
    pub retired: bool,
    /// Known by discovery (not given, not added by hand): only these are ever retired by it.
    pub discovered: bool,
    /// Retired by discovery because it left the cluster (not removed by hand): only these
    /// come back when listed again.
    pub left: bool,
    /// Down, and not yet judged left or crashed (see [`plan`]).
    pub down_unjudged: bool,
    /// Down for longer than a graceful leave takes to show in the membership.
    pub down_long: bool,
}

/// What one read of the membership makes the instance do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Members no known node matches (their index in the list read): new discovered nodes.
    pub new: Vec<usize>,
    /// Discovered nodes retired because they left, listed again: back in rotation.
    pub revive: Vec<usize>,
    /// Discovered nodes that went down and are no longer listed: they left gracefully.
    pub left: Vec<usize>,
    /// Discovered nodes that went down and are still listed: they crashed; kept and probed,
    /// whatever later reads say.
    pub crashed: Vec<usize>,
}

/// Decides what a read of the members means. A graceful stop takes a Galera member out of the
/// list at once; a crash leaves it listed until the cluster evicts it (about 7 s here, its
/// `evs.suspect_timeout`). So a discovered node that went down is judged by the reads right
/// after: absent, it left (retired); still listed once it has been down for a moment
/// (`down_long`: the server may close its sessions just before it leaves), it crashed (kept
/// for good). Given and added nodes are never retired by discovery. A member that did not resolve matches nothing and is not
/// proposed (it is reported by the caller).
pub fn plan(known: &[KnownNode], members: &[Resolved]) -> Plan {
    let mut p = Plan::default();
    for (m, member) in members.iter().enumerate() {
        if member.ips.is_empty() {
            continue;
        }
        // A member listed twice (two names of one server) is one node.
        if members[..m].iter().any(|earlier| earlier.same(member)) {
            continue;
        }
        match known.iter().position(|k| k.at.same(member)) {
            None => p.new.push(m),
            Some(i) if known[i].retired && known[i].left => p.revive.push(i),
            Some(_) => {}
        }
    }
    for (i, k) in known.iter().enumerate() {
        if !k.discovered || k.retired || !k.down_unjudged {
            continue;
        }
        if !members.iter().any(|m| m.same(&k.at)) {
            p.left.push(i);
        } else if k.down_long {
            p.crashed.push(i);
        }
    }
    p
}

#[cfg(test)]
mod tests;
