use super::*;

const D: Duration = Duration::from_secs(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn running(t0: Instant) -> InFlight {
    InFlight {
        started: t0,
        watched_since: t0,
        limit: None,
        cancelled: false,
        watch: Watch::Running,
    }
}

#[test]
fn a_short_statement_costs_no_check() {
    let t0 = Instant::now();
    assert_eq!(
        judge(t0 + ms(999), &running(t0), &Life::default(), D),
        Action::Wait
    );
}

#[test]
fn a_long_statement_on_a_node_that_answers_is_never_judged() {
    let t0 = Instant::now();
    let s = running(t0);
    assert_eq!(judge(t0 + ms(1000), &s, &Life::default(), D), Action::Check);
    // Checks keep answering: an hour later the statement still just waits.
    let mut life = Life::default();
    for sec in 1..3600 {
        let now = t0 + Duration::from_secs(sec);
        life.last_answer = Some(now - ms(10));
        life.check_started = Some(now - ms(1000));
        assert_eq!(judge(now, &s, &life, D), Action::Check, "{sec}");
        life.check_started = Some(now);
        life.checking = true;
        assert_eq!(judge(now + ms(5), &s, &life, D), Action::Wait, "{sec}");
        life.checking = false;
    }
}

#[test]
fn a_silent_node_is_dead_after_the_detection_time_from_its_last_answer() {
    let t0 = Instant::now();
    let s = running(t0);
    let life = Life {
        last_answer: Some(t0 + ms(1000)),
        check_started: Some(t0 + ms(2000)),
        checking: true,
        gone_at: None,
    };
    assert_eq!(judge(t0 + ms(3999), &s, &life, D), Action::Wait);
    assert_eq!(
        judge(t0 + ms(4000), &s, &life, D),
        Action::Abandon(Ended::NodeDead)
    );
    // With no answer at all, the statement's start is the last sign of life.
    let life = Life {
        checking: true,
        check_started: Some(t0 + ms(1000)),
        ..Life::default()
    };
    assert_eq!(
        judge(t0 + D, &s, &life, D),
        Action::Abandon(Ended::NodeDead)
    );
}

#[test]
fn an_answer_from_before_the_statement_does_not_extend_it() {
    let t0 = Instant::now();
    let life = Life {
        last_answer: Some(t0 - Duration::from_secs(60)),
        checking: true,
        ..Life::default()
    };
    assert_eq!(judge(t0 + ms(2999), &running(t0), &life, D), Action::Wait);
    assert_eq!(
        judge(t0 + D, &running(t0), &life, D),
        Action::Abandon(Ended::NodeDead)
    );
}

#[test]
fn a_silence_the_watchdog_did_not_see_is_not_the_nodes() {
    // The client was stopped from 1.0 s to 5.0 s (Ctrl-Z, a paused VM): no answers then.
    let t0 = Instant::now();
    let mut s = running(t0);
    s.watched_since = t0 + ms(5000);
    let life = Life {
        last_answer: Some(t0 + ms(900)),
        check_started: Some(t0 + ms(900)),
        ..Life::default()
    };
    assert_eq!(judge(t0 + ms(5020), &s, &life, D), Action::Check);
    assert_eq!(judge(t0 + ms(7999), &s, &life, D), Action::Check);
    assert_eq!(
        judge(t0 + ms(8000), &s, &life, D),
        Action::Abandon(Ended::NodeDead)
    );
}

#[test]
fn a_process_found_gone_ends_the_statement_at_once() {
    let t0 = Instant::now();
    let gone = Life {
        gone_at: Some(t0 + ms(100)),
        ..Life::default()
    };
    assert_eq!(
        judge(t0 + ms(101), &running(t0), &gone, D),
        Action::Abandon(Ended::NodeDead)
    );
    // Gone before the statement started: that was an earlier process.
    let earlier = Life {
        gone_at: Some(t0 - ms(1)),
        ..Life::default()
    };
    assert_eq!(judge(t0 + ms(101), &running(t0), &earlier, D), Action::Wait);
}

#[test]
fn statement_timeout_kills_then_cuts_if_the_kill_is_not_acted_on() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.limit = Some(ms(500));
    let life = Life::default();
    assert_eq!(judge(t0 + ms(499), &s, &life, D), Action::Wait);
    assert_eq!(
        judge(t0 + ms(500), &s, &life, D),
        Action::Kill(Ended::TimedOut)
    );
    let since = t0 + ms(500);
    s.watch = Watch::Killing {
        ending: Ended::TimedOut,
        since,
    };
    // The node answers checks but the statement does not end: only the connection goes.
    let answering = |now: Instant| Life {
        last_answer: Some(now - ms(100)),
        check_started: Some(now - ms(100)),
        ..Life::default()
    };
    let now = since + ms(2999);
    assert_eq!(judge(now, &s, &answering(now), D), Action::Wait);
    let now = since + D;
    assert_eq!(
        judge(now, &s, &answering(now), D),
        Action::Abandon(Ended::TimedOut)
    );
    // A node that stops answering meanwhile is dead, kill or no kill.
    let silent = Life {
        last_answer: Some(since - ms(10)),
        checking: true,
        ..Life::default()
    };
    assert_eq!(
        judge(since + ms(2990), &s, &silent, D),
        Action::Abandon(Ended::NodeDead)
    );
}

#[test]
fn ctrl_c_kills_at_once_and_cuts_within_half_a_second() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.cancelled = true;
    let life = Life::default();
    assert_eq!(judge(t0, &s, &life, D), Action::Kill(Ended::Interrupted));
    s.watch = Watch::Killing {
        ending: Ended::Interrupted,
        since: t0,
    };
    assert_eq!(judge(t0 + ms(299), &s, &life, D), Action::Wait);
    assert_eq!(
        judge(t0 + INTERRUPT_WAIT, &s, &life, D),
        Action::Abandon(Ended::Interrupted)
    );
    s.watch = Watch::Abandoned(Ended::Interrupted);
    assert_eq!(judge(t0 + D * 10, &s, &life, D), Action::Wait);
}

#[test]
fn answers_map_to_liveness() {
    assert_eq!(Liveness::from(Answer::Alive), Liveness::Alive);
    for a in [Answer::Restarted, Answer::Refused, Answer::NoAnswer] {
        assert_eq!(Liveness::from(a), Liveness::Dead, "{a:?}");
    }
}
