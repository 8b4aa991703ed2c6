//! Whether a live node is fit for new statements, from its own state as the proxies in front of
//! these clusters read it (ProxySQL's Galera monitor, MaxScale's galeramon, MySQL Router's GR
//! metadata cache). A node not fit is *draining*: nothing new goes there, statements in flight
//! finish, and it comes back by itself once fit. The decision is [`judge`]; the watchdog reads
//! the rows over the monitor connection (`monitor.rs`), so statements pay nothing for it.

use crate::core::node::flavour::Flavour;

/// A Galera node whose receive queue holds more write-sets than this takes no new statements
/// until it has caught up: a commit there waits behind everything queued before it (ProxySQL's
/// `max_transactions_behind` defaults to the same number). A synced node never gets near it:
/// flow control (`gcs.fc_limit`, 16 by default) stops the cluster first. A desynced node sends
/// no flow control and can fall behind without limit.
pub const MAX_RECV_QUEUE: u64 = 100;

/// Galera's state, read on the monitor connection (two short statements).
pub const GALERA_STATUS_SQL: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
     ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state', \
     'wsrep_local_state_comment', 'wsrep_local_recv_queue')";
pub const GALERA_VARIABLES_SQL: &str = "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
     ('wsrep_desync', 'wsrep_reject_queries', 'wsrep_sst_donor_rejects_queries', \
     'pxc_maint_mode', 'read_only', 'super_read_only')";

/// Group Replication: this member's state, how many members are ONLINE and how many there are
/// (a member that sees no majority cannot commit), and its read-only flag; as name/value rows.
pub const GROUP_STATE_SQL: &str = "SELECT 'member_state', MEMBER_STATE \
     FROM performance_schema.replication_group_members WHERE MEMBER_ID = @@server_uuid \
     UNION ALL SELECT 'members_online', CAST(COUNT(*) AS CHAR) \
     FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'ONLINE' \
     UNION ALL SELECT 'members', CAST(COUNT(*) AS CHAR) \
     FROM performance_schema.replication_group_members \
     UNION ALL SELECT 'super_read_only', CAST(@@super_read_only AS CHAR)";

/// Galera's `wsrep_local_state` numbers that serve statements.
const DONOR: &str = "2";
const SYNCED: &str = "4";

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fitness {
    /// Takes new statements (also: no rule applies to its engine, or it was never read).
    #[default]
    Fit,
    /// Takes no new statement; the reason names the variables that say so
    /// ("wsrep_desync=ON").
    Draining(String),
}

impl Fitness {
    pub fn is_fit(&self) -> bool {
        *self == Fitness::Fit
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Fitness::Fit => None,
            Fitness::Draining(r) => Some(r),
        }
    }
}

/// The statements that read a node's state on `flavour`, in order; none: nothing to read.
pub fn state_sql(flavour: Flavour) -> &'static [&'static str] {
    match flavour {
        Flavour::Galera => &[GALERA_STATUS_SQL, GALERA_VARIABLES_SQL],
        Flavour::GroupReplication => &[GROUP_STATE_SQL],
        Flavour::AuroraMultiMaster | Flavour::Plain => &[],
    }
}

/// Whether a node of `flavour` whose state reads as these (name, value) rows (of
/// [`state_sql`]) is fit for new statements. Names are matched without regard to case; a
/// variable the server does not have (`pxc_maint_mode` outside Percona, `super_read_only` on
/// MariaDB) is no reason to drain.
pub fn judge<'a>(flavour: Flavour, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Fitness {
    let rows: Vec<(String, &str)> = rows
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .collect();
    let get = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let on = |name: &str| get(name).is_some_and(is_on);
    let mut why: Vec<String> = Vec::new();
    let mut say = |name: &str, value: &str| why.push(format!("{name}={value}"));
    match flavour {
        Flavour::Galera => {
            match get("wsrep_ready") {
                Some(v) if is_on(v) => {}
                v => say("wsrep_ready", v.unwrap_or("missing")),
            }
            match get("wsrep_cluster_status") {
                Some(v) if v.eq_ignore_ascii_case("Primary") => {}
                v => say("wsrep_cluster_status", v.unwrap_or("missing")),
            }
            let desync = on("wsrep_desync");
            let state = get("wsrep_local_state");
            let comment = get("wsrep_local_state_comment");
            let serves = match state {
                Some(SYNCED) => true,
                // A donor serves while it does not block for its transfer; desynced by hand,
                // it is reported as such below.
                Some(DONOR) => !on("wsrep_sst_donor_rejects_queries") || desync,
                // Only the comment (an older server, or a test's rows).
                None => matches!(comment, Some("Synced")),
                Some(_) => false,
            };
            if !serves {
                let shown = comment.or(state).unwrap_or("missing");
                if state == Some(DONOR) {
                    say("wsrep_sst_donor_rejects_queries", "ON (Donor)");
                } else {
                    say("wsrep_local_state", shown);
                }
            }
            if desync {
                say("wsrep_desync", "ON");
            }
            match get("wsrep_reject_queries") {
                Some(v) if !v.eq_ignore_ascii_case("NONE") => say("wsrep_reject_queries", v),
                _ => {}
            }
            match get("pxc_maint_mode") {
                Some(v) if !v.eq_ignore_ascii_case("DISABLED") => say("pxc_maint_mode", v),
                _ => {}
            }
            let queue = get("wsrep_local_recv_queue").and_then(|v| v.parse::<u64>().ok());
            if let Some(q) = queue.filter(|&q| q > MAX_RECV_QUEUE) {
                say(
                    "wsrep_local_recv_queue",
                    &format!("{q} (more than {MAX_RECV_QUEUE} behind)"),
                );
            }
        }
        Flavour::GroupReplication => {
            match get("member_state") {
                Some(v) if v.eq_ignore_ascii_case("ONLINE") => {}
                v => say("MEMBER_STATE", v.unwrap_or("not a member")),
            }
            let count = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
            if let (Some(online), Some(all)) = (count("members_online"), count("members")) {
                if online * 2 <= all {
                    say(
                        "members ONLINE",
                        &format!("{online} of {all} (no majority)"),
                    );
                }
            }
        }
        Flavour::AuroraMultiMaster | Flavour::Plain => return Fitness::Fit,
    }
    for flag in ["read_only", "super_read_only"] {
        if on(flag) {
            say(flag, "ON");
        }
    }
    if why.is_empty() {
        Fitness::Fit
    } else {
        Fitness::Draining(why.join(", "))
    }
}

/// Whether a server error is one a node's state explains: 1047 (Galera not ready: not in the
/// primary component, not synced, rejecting queries), 1290 (running with read-only), 1792
/// (a read-only transaction), 3100 (Group Replication refused the commit), 1180 (Galera
/// refused a commit: its node left the primary component while certifying it).
pub fn explains(code: u16) -> bool {
    matches!(code, 1047 | 1180 | 1290 | 1792 | 3100)
}

fn is_on(v: &str) -> bool {
    ["ON", "1", "TRUE"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests;
