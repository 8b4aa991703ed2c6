use std::time::Duration;

use super::*;
use crate::core::settings::config::{Config, Secret};

fn cfg() -> Config {
    Config::new(vec!["a".parse().unwrap()], "admin", Secret::new("hunter2"))
}

/// What a URL or an option file does with `name=text`.
fn set(c: &mut Config, name: &str, text: &str) -> Result<(), SettingsError> {
    find(name)?.parse(text)?.apply(c)
}

#[test]
fn defaults_come_from_the_table() {
    let c = cfg();
    assert_eq!(c.connect_timeout, Duration::from_secs(2));
    assert_eq!(c.backoff.base, Duration::from_millis(200));
    assert_eq!((c.max_retries, c.event_capacity), (10, 1000));
    assert_eq!(
        (c.policy, c.statement_timeout, c.tls.mode),
        (Policy::Parity, None, None)
    );
}

#[test]
fn numbers_stay_numbers() {
    let mut c = cfg();
    find("connect_timeout")
        .unwrap()
        .number(0.25)
        .unwrap()
        .apply(&mut c)
        .unwrap();
    assert_eq!(c.connect_timeout, Duration::from_millis(250));
    find("statement_timeout")
        .unwrap()
        .number(f64::INFINITY)
        .unwrap()
        .apply(&mut c)
        .unwrap();
    assert_eq!(c.statement_timeout, None);
    let e = find("statement_timeout")
        .unwrap()
        .number(0.0)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("statement_timeout must be a positive"), "{e}");
    let e = find("max_retries")
        .unwrap()
        .whole(1 << 40)
        .unwrap()
        .apply(&mut c)
        .unwrap_err();
    assert_eq!(e.to_string(), "max_retries is too large: 1099511627776");
    assert!(matches!(
        find("policy").unwrap().number(1.0),
        Err(SettingsError::WrongType { .. })
    ));
    assert!(matches!(
        find("colour"),
        Err(SettingsError::UnknownOption(_))
    ));
}

#[test]
fn statement_timeout_takes_seconds_or_none() {
    let mut c = cfg();
    set(&mut c, "statement_timeout", "2.5").unwrap();
    assert_eq!(c.statement_timeout, Some(Duration::from_millis(2500)));
    for none in ["none", "inf", ""] {
        set(&mut c, "statement_timeout", none).unwrap();
        assert_eq!(c.statement_timeout, None, "{none:?}");
    }
    for bad in ["0", "-1", "soon"] {
        let e = set(&mut c, "statement_timeout", bad).unwrap_err();
        let e = e.to_string();
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
    let e = set(&mut cfg(), "read_timeout", "10")
        .unwrap_err()
        .to_string();
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
        assert!(names().any(|n| n == name), "{name}");
        set(&mut c, name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        let e = set(&mut c, name, value).unwrap_err();
        let e = e.to_string();
        assert!(e.contains(want), "{name}={value}: {e}");
    }
}
