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
fn statement_timeout_takes_seconds_or_none() {
    let mut c = cfg();
    c.set("statement_timeout", "2.5").unwrap();
    assert_eq!(c.statement_timeout, Some(Duration::from_millis(2500)));
    for none in ["none", "inf", ""] {
        c.set("statement_timeout", none).unwrap();
        assert_eq!(c.statement_timeout, None, "{none:?}");
    }
    for bad in ["0", "-1", "soon"] {
        let e = c.set("statement_timeout", bad).unwrap_err();
        assert!(e.contains("statement_timeout must be a positive"), "{e}");
    }
}

#[test]
fn a_calls_statement_limit_overrides_the_instances() {
    let mut c = cfg();
    let sixty = Some(Duration::from_secs(60));
    assert_eq!(c.statement_limit(None, None), Ok(None));
    assert_eq!(
        c.statement_limit(None, sixty),
        Ok(sixty),
        "the insert loop's default"
    );
    c.statement_timeout = Some(Duration::from_secs(5));
    assert_eq!(
        c.statement_limit(None, sixty),
        Ok(Some(Duration::from_secs(5)))
    );
    assert_eq!(c.statement_limit(Some(f64::INFINITY), sixty), Ok(None));
    assert_eq!(
        c.statement_limit(Some(0.5), None),
        Ok(Some(Duration::from_millis(500)))
    );
    assert!(c.statement_limit(Some(-1.0), None).is_err());
    assert!(c.statement_limit(Some(f64::NAN), None).is_err());
}

#[test]
fn read_timeout_is_refused_with_what_replaced_it() {
    let e = cfg().set("read_timeout", "10").unwrap_err();
    assert!(
        e.contains("failure_detection") && e.contains("statement_timeout"),
        "{e}"
    );
}

#[test]
fn every_option_is_set_by_name_from_text() {
    let mut c = cfg();
    for (name, value) in [
        ("policy", "sequential"),
        ("connect_timeout", "0.5"),
        ("failure_detection", "1.5"),
        ("statement_timeout", "30"),
        ("write_timeout", "7"),
        ("failover_timeout", "60"),
        ("max_retries", "3"),
        ("backoff_base", "0.01"),
        ("backoff_cap", "1"),
        ("event_capacity", "50"),
    ] {
        assert!(OPTIONS.contains(&name), "{name}");
        c.set(name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(c.policy, Policy::Sequential);
    assert_eq!(c.connect_timeout, Duration::from_millis(500));
    assert_eq!(c.failure_detection, Duration::from_millis(1500));
    assert_eq!(c.statement_timeout, Some(Duration::from_secs(30)));
    assert_eq!((c.max_retries, c.event_capacity), (3, 50));
    assert_eq!(c.backoff.cap, Duration::from_secs(1));
}

#[test]
fn bad_option_values_name_the_option() {
    let mut c = cfg();
    for (name, value, want) in [
        (
            "connect_timeout",
            "-1",
            "connect_timeout must be a non-negative number",
        ),
        (
            "failure_detection",
            "soon",
            "failure_detection must be a non-negative number",
        ),
        ("max_retries", "2.5", "max_retries must be a whole number"),
        ("policy", "random", "unknown policy \"random\""),
        ("colour", "red", "unknown option \"colour\""),
    ] {
        let e = c.set(name, value).unwrap_err();
        assert!(e.contains(want), "{name}={value}: {e}");
    }
}

#[test]
fn validate_names_the_problem() {
    let mut c = cfg();
    c.failure_detection = Duration::ZERO;
    assert!(c.validate().unwrap_err().contains("failure_detection"));
    let mut c = cfg();
    c.endpoints.push("a:3306".parse().unwrap());
    assert!(c.validate().unwrap_err().contains("listed twice"));
    let mut c = cfg();
    c.endpoints.clear();
    assert!(c.validate().is_err());
}
