use super::*;

fn cfg() -> Config {
    Config::new(
        vec!["a".parse().unwrap(), "b".parse().unwrap()],
        "admin",
        Secret::new("hunter2"),
    )
}

#[test]
fn password_never_prints() {
    let c = cfg();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("***"));
    assert_eq!(c.password.expose(), "hunter2");
}

#[test]
fn default_failure_detection_is_shorter_than_galera_write_pause() {
    let c = cfg();
    assert!(c.validate().is_ok());
    // Galera blocks writes about 6 s after a peer dies; a node is judged before that.
    assert!(c.failure_detection < Duration::from_secs(6));
    assert!(c.connect_timeout < c.failure_detection);
    assert_eq!(c.statement_timeout, None, "no limit by default");
}

#[test]
fn validate_names_the_problem() {
    let mut c = cfg();
    c.failure_detection = Duration::ZERO;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("failure_detection"));
    let mut c = cfg();
    c.endpoints.push("a:3306".parse().unwrap());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("listed twice"));
    let mut c = cfg();
    c.endpoints.clear();
    assert!(c.validate().is_err());
}
