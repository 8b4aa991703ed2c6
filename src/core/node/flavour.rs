//! Which multi-master engine a node runs, detected at connect, and how to read causally on it.

/// The engine behind a node, from its global variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Galera,
    AuroraMultiMaster,
    GroupReplication,
    /// No known multi-master engine: reads are only as fresh as the node.
    Plain,
}

/// Variables that tell the engines apart, and the largest packet the node accepts; one
/// `SHOW GLOBAL VARIABLES` at connect.
pub const DETECT_SQL: &str = "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
     ('wsrep_on', 'aurora_mm_session_consistency_level', 'group_replication_group_name', \
     'max_allowed_packet')";

/// The server process's identity (its uptime; on Galera its group member id) and Galera's
/// readiness: a restarted node accepts connections before it can serve queries.
pub const STATUS_SQL: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
     ('Uptime', 'wsrep_gcomm_uuid', 'wsrep_ready', 'wsrep_local_state_comment')";

impl Flavour {
    /// From (name, value) pairs as returned by [`DETECT_SQL`].
    pub fn detect<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Flavour {
        let mut flavour = Flavour::Plain;
        for (name, value) in vars {
            match name.to_ascii_lowercase().as_str() {
                "wsrep_on" if value.eq_ignore_ascii_case("ON") => return Flavour::Galera,
                "aurora_mm_session_consistency_level" => flavour = Flavour::AuroraMultiMaster,
                "group_replication_group_name" if !value.is_empty() => {
                    flavour = Flavour::GroupReplication
                }
                _ => {}
            }
        }
        flavour
    }

    /// Statements that make this session's reads causal (they see every write the cluster
    /// committed before the read), and that restore the default afterwards.
    pub fn causal_read(self) -> Option<(&'static str, &'static str)> {
        match self {
            // wsrep_sync_wait=1: a read waits until the node has applied all write-sets the
            // group ordered before it.
            Flavour::Galera => Some((
                "SET SESSION wsrep_sync_wait = 1",
                "SET SESSION wsrep_sync_wait = 0",
            )),
            // Aurora multi-master: REGIONAL_RAW waits for all writes committed in the cluster.
            Flavour::AuroraMultiMaster => Some((
                "SET SESSION aurora_mm_session_consistency_level = 'REGIONAL_RAW'",
                "SET SESSION aurora_mm_session_consistency_level = 'INSTANCE_RAW'",
            )),
            // Group Replication: BEFORE waits for preceding transactions to be applied.
            Flavour::GroupReplication => Some((
                "SET SESSION group_replication_consistency = 'BEFORE'",
                "SET SESSION group_replication_consistency = 'EVENTUAL'",
            )),
            Flavour::Plain => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Galera => "galera",
            Flavour::AuroraMultiMaster => "aurora-mm",
            Flavour::GroupReplication => "group-replication",
            Flavour::Plain => "mysql",
        }
    }
}

/// Whether a Galera node's status (name, value pairs of [`STATUS_SQL`]) says it serves
/// queries: `wsrep_ready=ON` and a state that applies writes (Synced, or Donor when not blocking).
pub fn galera_ready<'a>(status: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let mut ready = false;
    let mut state_ok = true;
    for (name, value) in status {
        match name.to_ascii_lowercase().as_str() {
            "wsrep_ready" => ready = value.eq_ignore_ascii_case("ON"),
            "wsrep_local_state_comment" => state_ok = matches!(value, "Synced" | "Donor/Desynced"),
            _ => {}
        }
    }
    ready && state_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_engine() {
        assert_eq!(Flavour::detect([("wsrep_on", "ON")]), Flavour::Galera);
        assert_eq!(Flavour::detect([("wsrep_on", "OFF")]), Flavour::Plain);
        assert_eq!(
            Flavour::detect([("aurora_mm_session_consistency_level", "INSTANCE_RAW")]),
            Flavour::AuroraMultiMaster
        );
        assert_eq!(
            Flavour::detect([("group_replication_group_name", "aaaa-bbbb")]),
            Flavour::GroupReplication
        );
        assert_eq!(
            Flavour::detect([("group_replication_group_name", "")]),
            Flavour::Plain
        );
        assert_eq!(Flavour::detect([]), Flavour::Plain);
    }

    #[test]
    fn causal_reads_restore_defaults() {
        let (on, off) = Flavour::Galera.causal_read().unwrap();
        assert!(on.contains("wsrep_sync_wait = 1") && off.contains("= 0"));
        assert!(Flavour::Plain.causal_read().is_none());
    }

    #[test]
    fn readiness() {
        assert!(galera_ready([
            ("wsrep_ready", "ON"),
            ("wsrep_local_state_comment", "Synced")
        ]));
        assert!(!galera_ready([
            ("wsrep_ready", "OFF"),
            ("wsrep_local_state_comment", "Synced")
        ]));
        assert!(!galera_ready([
            ("wsrep_ready", "ON"),
            ("wsrep_local_state_comment", "Joining")
        ]));
        assert!(!galera_ready([]));
    }
}
