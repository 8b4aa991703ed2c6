use super::*;
use crate::core::failure::fault::Refusal;
use crate::core::settings::config::Secret;

const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_millis(400);

fn node() -> Node {
    let endpoint: Endpoint = "10.0.0.1".parse().unwrap();
    let mut cfg = Config::new(vec![endpoint.clone()], "u", Secret::new("p"));
    cfg.backoff = Backoff {
        base: BASE,
        cap: CAP,
    };
    Node::new(endpoint, &cfg, KnownBy::Given)
}

/// Marks the node down and returns the window its backoff ends in: the jitter puts it in
/// [before + nominal/2, after + nominal).
fn mark_down(n: &Node, nominal: Duration) -> (Instant, Instant) {
    let before = Instant::now();
    n.mark_down("refused");
    let after = Instant::now();
    (before + nominal / 2, after + nominal)
}

#[test]
fn an_up_node_is_used() {
    let n = node();
    assert_eq!(n.claim(Instant::now()), Claim::Use);
    assert_eq!(n.stats().state, "up");
}

#[test]
fn a_down_node_is_skipped_until_its_backoff_ends_then_probed_once() {
    let n = node();
    let (earliest, latest) = mark_down(&n, BASE);
    assert_eq!(n.stats().state, "down");
    assert_eq!(n.claim(earliest - Duration::from_millis(1)), Claim::Skip);
    assert_eq!(n.claim(latest), Claim::Probe);
    // One probe at a time: everyone else skips the node while it is being probed.
    assert_eq!(n.claim(latest), Claim::Skip);
    assert_eq!(n.claim(latest + CAP * 10), Claim::Skip);
}

#[test]
fn backoff_doubles_with_each_failed_probe_up_to_the_cap() {
    let n = node();
    assert!(n.mark_down("first"), "was up");
    for nominal in [BASE * 2, BASE * 4, CAP, CAP, CAP] {
        let (earliest, latest) = mark_down(&n, nominal);
        assert_eq!(
            n.claim(earliest - Duration::from_millis(1)),
            Claim::Skip,
            "{nominal:?}"
        );
        assert_eq!(n.claim(latest), Claim::Probe, "{nominal:?}");
    }
    assert_eq!(n.stats().last_error.as_deref(), Some("refused"));
}

#[test]
fn mark_down_and_up_report_transitions_and_count_reconnects() {
    let n = node();
    assert!(n.mark_down("a"), "up -> down");
    assert!(!n.mark_down("b"), "already down");
    assert!(n.mark_up(), "down -> up");
    assert!(!n.mark_up(), "already up");
    assert_eq!(n.claim(Instant::now()), Claim::Use);
    assert_eq!(n.stats().reconnects, 1);
    // Back up, the backoff starts over from the base.
    let (earliest, latest) = mark_down(&n, BASE);
    assert_eq!(n.claim(earliest - Duration::from_millis(1)), Claim::Skip);
    assert_eq!(n.claim(latest), Claim::Probe);
}

#[test]
fn statements_and_errors_are_counted() {
    let n = node();
    n.record_statement(Duration::from_millis(2), None);
    let not_ready = Refusal::NotReady {
        detail: "joining".into(),
    };
    n.record_statement(Duration::from_millis(4), Some(&not_ready.into()));
    n.record_failover();
    let s = n.stats();
    assert_eq!((s.statements, s.errors, s.failovers), (2, 1, 1));
    assert_eq!(s.latency.count(), 2);
    assert_eq!(s.latency.max(), Some(Duration::from_millis(4)));
    assert_eq!(
        s.last_error.as_deref(),
        Some("(1047) node not ready: joining")
    );
}
