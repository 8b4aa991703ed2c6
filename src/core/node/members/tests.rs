use super::*;

fn ep(host: &str, port: u16) -> Endpoint {
    Endpoint::new(host, port)
}

#[test]
fn galera_incoming_addresses() {
    let table: &[(&str, Vec<Endpoint>)] = &[
        (
            "127.0.0.1:3306,127.0.0.2:3306",
            vec![ep("127.0.0.1", 3306), ep("127.0.0.2", 3306)],
        ),
        // garbd contributes an empty entry.
        (
            "127.0.0.1:3306,,127.0.0.2:3306",
            vec![ep("127.0.0.1", 3306), ep("127.0.0.2", 3306)],
        ),
        (",127.0.0.2:3306,", vec![ep("127.0.0.2", 3306)]),
        ("db1:3307, db2", vec![ep("db1", 3307), ep("db2", 3306)]),
        (
            "[::1]:3306,[fe80::2]:3310",
            vec![ep("::1", 3306), ep("fe80::2", 3310)],
        ),
        ("AUTO,127.0.0.3:3306", vec![ep("127.0.0.3", 3306)]),
        ("", vec![]),
        (
            "not an address:x,127.0.0.3:3306",
            vec![ep("127.0.0.3", 3306)],
        ),
    ];
    for (value, expected) in table {
        assert_eq!(&parse_galera(value), expected, "{value:?}");
    }
}

#[test]
fn group_replication_members() {
    let rows = vec![
        (Some("db1".to_string()), Some(3306)),
        (Some("db2".to_string()), Some(33060)),
        (Some("".to_string()), Some(3306)), // joining, no host yet
        (None, None),
        (Some("db3".to_string()), None),
        (Some("[::1]".to_string()), Some(3307)),
    ];
    assert_eq!(
        parse_group_replication(&rows),
        vec![
            ep("db1", 3306),
            ep("db2", 33060),
            ep("db3", 3306),
            ep("::1", 3307)
        ]
    );
}

#[test]
fn aurora_endpoints_borrow_the_given_domain() {
    let table = [
        (
            "db.cluster-abc.us-east-1.rds.amazonaws.com",
            Some("inst-2.abc.us-east-1.rds.amazonaws.com"),
        ),
        (
            "db.cluster-ro-abc.us-east-1.rds.amazonaws.com",
            Some("inst-2.abc.us-east-1.rds.amazonaws.com"),
        ),
        (
            "inst-1.abc.us-east-1.rds.amazonaws.com",
            Some("inst-2.abc.us-east-1.rds.amazonaws.com"),
        ),
        ("10.0.0.5", None),
        ("localhost", None),
    ];
    for (given, expected) in table {
        let got = aurora_endpoint("inst-2", &ep(given, 3306));
        assert_eq!(got.map(|e| e.host), expected.map(str::to_owned), "{given}");
    }
    assert_eq!(aurora_endpoint(" ", &ep("a.b.c", 3306)), None);
    assert_eq!(aurora_endpoint("i", &ep("a.b.c", 3307)).unwrap().port, 3307);
}

#[test]
fn only_engines_with_members_have_a_query() {
    assert_eq!(members_sql(Flavour::Galera), Some(GALERA_SQL));
    assert_eq!(
        members_sql(Flavour::GroupReplication),
        Some(GROUP_REPLICATION_SQL)
    );
    assert_eq!(members_sql(Flavour::AuroraMultiMaster), Some(AURORA_SQL));
    assert_eq!(members_sql(Flavour::Plain), None);
}

fn at(ip: &str, port: u16) -> Resolved {
    Resolved {
        ips: vec![ip.parse().unwrap()],
        port,
    }
}

fn node(ip: &str, discovered: bool, retired: bool, down_unjudged: bool) -> KnownNode {
    KnownNode {
        at: at(ip, 3306),
        retired,
        discovered,
        left: retired && discovered,
        down_unjudged,
        down_long: true,
    }
}

#[test]
fn matching_is_by_resolved_ip_and_port() {
    let name = Resolved {
        ips: vec!["10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap()],
        port: 3306,
    };
    assert!(name.same(&at("10.0.0.1", 3306)));
    assert!(!name.same(&at("10.0.0.1", 3307)));
    assert!(!name.same(&Resolved {
        ips: vec![],
        port: 3306
    }));
}

#[test]
fn plan_adds_new_members_and_judges_down_discovered_nodes_once() {
    let known = vec![
        node("10.0.0.1", false, false, true), // given, down: never judged
        node("10.0.0.2", true, false, true),  // discovered, down, still listed: crashed
        node("10.0.0.3", true, false, true),  // discovered, down, gone: left
        node("10.0.0.4", true, true, false),  // retired, listed again: revived
        node("10.0.0.5", true, true, false),  // retired, not listed: stays retired
        node("10.0.0.6", true, false, false), // discovered, up, gone from the list: kept
    ];
    let members = vec![
        at("10.0.0.1", 3306),
        at("10.0.0.2", 3306),
        at("10.0.0.4", 3306),
        at("10.0.0.7", 3306),
        at("10.0.0.7", 3306), // listed twice: one node
        Resolved {
            ips: vec![],
            port: 3306,
        }, // did not resolve
        at("10.0.0.1", 3307), // another port: another node
    ];
    assert_eq!(
        plan(&known, &members),
        Plan {
            new: vec![3, 6],
            revive: vec![3],
            left: vec![2],
            crashed: vec![1],
        }
    );
    // Down a moment ago and still listed: not judged yet (a graceful leave may follow).
    let just_down = KnownNode {
        down_long: false,
        ..node("10.0.0.2", true, false, true)
    };
    assert_eq!(
        plan(std::slice::from_ref(&just_down), &[at("10.0.0.2", 3306)]),
        Plan::default()
    );
    assert_eq!(plan(&[just_down], &[]).left, vec![0]);
    // A node removed by hand (given or discovered) is not brought back by discovery.
    let given = node("10.0.0.1", false, true, false);
    let discovered = KnownNode {
        left: false,
        ..node("10.0.0.2", true, true, false)
    };
    let listed = [at("10.0.0.1", 3306), at("10.0.0.2", 3306)];
    assert_eq!(plan(&[given, discovered], &listed), Plan::default());
}
