use super::*;

#[test]
fn a_restart_is_told_by_member_id_or_start_time() {
    let galera = |uuid: &str, up: &str, now| {
        Incarnation::from_status([("Uptime", up), ("wsrep_gcomm_uuid", uuid)], now)
    };
    let a = galera("u1", "100", 1_000);
    assert!(a.same(&galera("u1", "160", 1_060)));
    assert!(!a.same(&galera("u2", "100", 1_000)), "new member id");
    let plain = |up: &str, now| Incarnation::from_status([("Uptime", up)], now);
    let p = plain("100", 1_000);
    assert_eq!((p.member.as_deref(), p.boot), (None, 900));
    assert!(p.same(&plain("161", 1_060)), "a second of rounding");
    assert!(!p.same(&plain("5", 1_060)), "started again");
}
