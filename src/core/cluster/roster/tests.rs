use super::*;
use crate::core::node::KnownBy;
use crate::core::settings::config::{Config, Secret};

fn known(list: &[(&str, bool)]) -> Vec<Known> {
    list.iter()
        .map(|(a, retired)| Known {
            endpoint: a.parse().unwrap(),
            retired: *retired,
        })
        .collect()
}

fn ep(a: &str) -> Endpoint {
    a.parse().unwrap()
}

#[test]
fn adding_a_new_address_appends_a_known_one_is_a_no_op_a_retired_one_returns() {
    let k = known(&[("db1:3306", false), ("db2:3306", true)]);
    assert_eq!(plan_add(&k, &ep("db3")), AddPlan::New);
    // "db1" and "db1:3306" are one address: the default port.
    assert_eq!(plan_add(&k, &ep("db1")), AddPlan::InRotation(0));
    assert_eq!(plan_add(&k, &ep("db2:3306")), AddPlan::Revive(1));
    // Another port of the same host is another node.
    assert_eq!(plan_add(&k, &ep("db1:3307")), AddPlan::New);
    assert_eq!(plan_add(&[], &ep("[::1]:3306")), AddPlan::New);
}

#[test]
fn removing_retires_a_node_in_rotation_never_the_last_nor_an_unknown_one() {
    let k = known(&[("db1", false), ("db2", false), ("db3", true)]);
    assert_eq!(plan_remove(&k, &ep("db2:3306")).unwrap(), 1);
    let unknown = plan_remove(&k, &ep("db9")).unwrap_err().to_string();
    assert!(unknown.contains("db9:3306"), "{unknown}");
    assert!(unknown.contains("db1:3306, db2:3306"), "{unknown}");
    // Already retired: not in rotation, and not listed as if it were.
    let retired = plan_remove(&k, &ep("db3")).unwrap_err().to_string();
    assert!(retired.contains("not a node in rotation"), "{retired}");
    assert!(!retired.contains("db3:3306 "), "{retired}");
    let last = known(&[("db1", true), ("db2", false)]);
    let e = plan_remove(&last, &ep("db2")).unwrap_err();
    assert!(matches!(e, Error::Membership(_)));
    assert!(e.to_string().contains("last node in rotation"), "{e}");
}

#[test]
fn indexes_stay_valid_as_nodes_are_added() {
    let cfg = Config::new(vec![ep("db1"), ep("db2")], "u", Secret::new("p"));
    let roster = Roster::new(
        cfg.endpoints
            .iter()
            .map(|e| Node::new(e.clone(), &cfg, KnownBy::Given)),
    );
    assert_eq!(roster.len(), 2);
    let before = Arc::clone(&roster[1]);
    let idx = roster
        .push(Node::new(ep("db3"), &cfg, KnownBy::Added))
        .unwrap();
    assert_eq!((idx, roster.len()), (2, 3));
    assert!(Arc::ptr_eq(&before, &roster[1]));
    assert_eq!(roster[2].known_by, KnownBy::Added);
    roster[0].retire();
    assert_eq!(roster.in_rotation(), vec![1, 2]);
    for i in 3..MAX_NODES {
        roster
            .push(Node::new(ep(&format!("db{i}:1")), &cfg, KnownBy::Added))
            .unwrap();
    }
    let full = roster.push(Node::new(ep("one-more"), &cfg, KnownBy::Added));
    assert!(full.unwrap_err().to_string().contains("at most 64"));
}
