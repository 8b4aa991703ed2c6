use super::*;

/// A synced, primary, writable Galera node's rows, with `changes` replacing or adding some.
fn galera<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut rows = vec![
        ("wsrep_ready", "ON"),
        ("wsrep_cluster_status", "Primary"),
        ("wsrep_local_state", "4"),
        ("wsrep_local_state_comment", "Synced"),
        ("wsrep_local_recv_queue", "0"),
        ("wsrep_desync", "OFF"),
        ("wsrep_reject_queries", "NONE"),
        ("wsrep_sst_donor_rejects_queries", "OFF"),
        ("read_only", "OFF"),
    ];
    for &(name, value) in changes {
        rows.retain(|(n, _)| *n != name);
        rows.push((name, value));
    }
    rows
}

fn draining(reason: &str) -> Fitness {
    Fitness::Draining(reason.into())
}

#[test]
fn galera_rules() {
    let table: &[(&[(&str, &str)], Fitness)] = &[
        (&[], Fitness::Fit),
        (&[("pxc_maint_mode", "DISABLED")], Fitness::Fit),
        (&[("super_read_only", "OFF")], Fitness::Fit),
        (&[("wsrep_ready", "OFF")], draining("wsrep_ready=OFF")),
        (
            &[("wsrep_cluster_status", "non-Primary")],
            draining("wsrep_cluster_status=non-Primary"),
        ),
        (
            &[
                ("wsrep_local_state", "1"),
                ("wsrep_local_state_comment", "Joining"),
            ],
            draining("wsrep_local_state=Joining"),
        ),
        (
            &[
                ("wsrep_local_state", "3"),
                ("wsrep_local_state_comment", "Joined"),
            ],
            draining("wsrep_local_state=Joined"),
        ),
        // A donor that keeps serving during its transfer is fit...
        (
            &[
                ("wsrep_local_state", "2"),
                ("wsrep_local_state_comment", "Donor/Desynced"),
            ],
            Fitness::Fit,
        ),
        // ...one that rejects queries while donating is not...
        (
            &[
                ("wsrep_local_state", "2"),
                ("wsrep_local_state_comment", "Donor/Desynced"),
                ("wsrep_sst_donor_rejects_queries", "ON"),
            ],
            draining("wsrep_sst_donor_rejects_queries=ON (Donor)"),
        ),
        // ...nor one desynced by hand (state 2 as well): named once, by its cause.
        (
            &[
                ("wsrep_local_state", "2"),
                ("wsrep_local_state_comment", "Donor/Desynced"),
                ("wsrep_desync", "ON"),
            ],
            draining("wsrep_desync=ON"),
        ),
        (
            &[("wsrep_reject_queries", "ALL")],
            draining("wsrep_reject_queries=ALL"),
        ),
        (
            &[("wsrep_reject_queries", "ALL_KILL")],
            draining("wsrep_reject_queries=ALL_KILL"),
        ),
        (
            &[("pxc_maint_mode", "MAINTENANCE")],
            draining("pxc_maint_mode=MAINTENANCE"),
        ),
        (
            &[("pxc_maint_mode", "SHUTDOWN")],
            draining("pxc_maint_mode=SHUTDOWN"),
        ),
        (&[("read_only", "ON")], draining("read_only=ON")),
        (&[("super_read_only", "ON")], draining("super_read_only=ON")),
        (&[("wsrep_local_recv_queue", "100")], Fitness::Fit),
        (
            &[("wsrep_local_recv_queue", "101")],
            draining("wsrep_local_recv_queue=101 (more than 100 behind)"),
        ),
        // Every reason at once, in a fixed order.
        (
            &[("wsrep_desync", "ON"), ("read_only", "ON")],
            draining("wsrep_desync=ON, read_only=ON"),
        ),
    ];
    for (changes, want) in table {
        assert_eq!(
            judge(Flavour::Galera, galera(changes)),
            *want,
            "{changes:?}"
        );
    }
}

#[test]
fn galera_names_and_values_in_any_case() {
    let rows = [
        ("WSREP_READY", "on"),
        ("Wsrep_Cluster_Status", "primary"),
        ("wsrep_local_state_comment", "Synced"),
        ("WSREP_DESYNC", "on"),
    ];
    assert_eq!(judge(Flavour::Galera, rows), draining("wsrep_desync=ON"));
}

#[test]
fn galera_without_rows_is_not_fit() {
    let want = "wsrep_ready=missing, wsrep_cluster_status=missing, wsrep_local_state=missing";
    assert_eq!(judge(Flavour::Galera, []), draining(want));
}

#[test]
fn group_replication_rules() {
    let online = [
        ("member_state", "ONLINE"),
        ("members_online", "3"),
        ("members", "3"),
        ("super_read_only", "0"),
    ];
    assert_eq!(judge(Flavour::GroupReplication, online), Fitness::Fit);
    let table: &[(&[(&str, &str)], Fitness)] = &[
        (
            &[
                ("member_state", "RECOVERING"),
                ("members_online", "2"),
                ("members", "3"),
            ],
            draining("MEMBER_STATE=RECOVERING"),
        ),
        (
            &[
                ("member_state", "ONLINE"),
                ("members_online", "1"),
                ("members", "3"),
            ],
            draining("members ONLINE=1 of 3 (no majority)"),
        ),
        (
            &[
                ("member_state", "ONLINE"),
                ("members_online", "2"),
                ("members", "4"),
            ],
            draining("members ONLINE=2 of 4 (no majority)"),
        ),
        (
            &[
                ("member_state", "ONLINE"),
                ("members_online", "2"),
                ("members", "3"),
            ],
            Fitness::Fit,
        ),
        (
            &[("member_state", "ONLINE"), ("super_read_only", "1")],
            draining("super_read_only=ON"),
        ),
        // Not in the group's table at all (group replication stopped).
        (&[("members", "0")], draining("MEMBER_STATE=not a member")),
    ];
    for (rows, want) in table {
        assert_eq!(
            judge(Flavour::GroupReplication, rows.iter().copied()),
            *want,
            "{rows:?}"
        );
    }
}

#[test]
fn other_engines_are_always_fit() {
    for flavour in [Flavour::Plain, Flavour::AuroraMultiMaster] {
        assert_eq!(judge(flavour, [("read_only", "ON")]), Fitness::Fit);
        assert!(state_sql(flavour).is_empty());
    }
    assert_eq!(state_sql(Flavour::Galera).len(), 2);
}

#[test]
fn refusals_a_state_explains() {
    for code in [1047, 1180, 1290, 1792, 3100] {
        assert!(explains(code), "{code}");
    }
    for code in [1213, 1205, 2013, 1062, 1064] {
        assert!(!explains(code), "{code}");
    }
}
