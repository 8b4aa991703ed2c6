use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use super::*;

/// Waits (bounded) until `f()` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one live pollfd, without waiting.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[test]
fn at_most_limit_calls_run_at_once_and_every_one_runs() {
    let pool = Pool::new(3);
    let (running, most, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    for _ in 0..30 {
        let (running, most, done) = (Arc::clone(&running), Arc::clone(&most), Arc::clone(&done));
        let id = pool.next_id();
        pool.submit(
            id,
            Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    }
    eventually("30 calls done", || done.load(Ordering::SeqCst) == 30);
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert!(pool.threads() <= 3);
    pool.close();
    eventually("threads ended", || pool.threads() == 0);
    assert_eq!(
        pool.submit(pool.next_id(), Box::new(|| {})),
        Err(Refused::Closed)
    );
}

#[test]
fn calls_submitted_together_run_together_up_to_the_limit() {
    // Ten calls queued in a burst (one thread already idle): all ten run at once, which a
    // barrier of ten only lets through if they do.
    let pool = Pool::new(32);
    let (tx, rx) = mpsc::channel();
    pool.submit(pool.next_id(), Box::new(move || tx.send(()).unwrap()))
        .unwrap();
    rx.recv().unwrap();
    eventually("the first thread idle", || pool.busy() == 0);
    let barrier = Arc::new(std::sync::Barrier::new(10));
    let passed = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let (barrier, passed) = (Arc::clone(&barrier), Arc::clone(&passed));
        pool.submit(
            pool.next_id(),
            Box::new(move || {
                barrier.wait();
                passed.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    }
    eventually("all ten through the barrier", || {
        passed.load(Ordering::SeqCst) == 10
    });
    assert!(pool.threads() <= 11, "{}", pool.threads());
}

#[test]
fn a_queued_call_withdrawn_never_runs_and_a_running_one_cannot_be() {
    let pool = Pool::new(1);
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let first = pool.next_id();
    pool.submit(
        first,
        Box::new(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        }),
    )
    .unwrap();
    started.recv().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    let second = pool.next_id();
    pool.submit(
        second,
        Box::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap();
    assert_eq!(pool.queued(), 1);
    assert!(!pool.withdraw(first), "a running call is not withdrawn");
    assert!(pool.withdraw(second));
    assert!(!pool.withdraw(second));
    release.send(()).unwrap();
    eventually("the first call ended", || pool.busy() == 0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_held_slot_counts_against_the_limit_and_cancel_stops_the_wait() {
    let pool = Pool::new(1);
    let held = pool.hold(&Cancel::new()).unwrap().expect("a free slot");
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    pool.submit(
        pool.next_id(),
        Box::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "ran beside a held slot");
    // A second holder waits; cancelled, it gives up without taking a slot.
    let cancel = Cancel::new();
    let waiter = {
        let (pool, cancel) = (pool.clone(), cancel.clone());
        std::thread::spawn(move || pool.hold(&cancel).unwrap().is_none())
    };
    std::thread::sleep(Duration::from_millis(50));
    cancel.cancel();
    assert!(waiter.join().unwrap(), "a cancelled wait returns None");
    drop(held);
    eventually("the queued call ran", || ran.load(Ordering::SeqCst) == 1);
    // Nothing leaked: the one slot is free again.
    eventually("the slot is free", || {
        pool.busy() == 0 && pool.queued() == 0
    });
    assert!(pool.hold(&Cancel::new()).unwrap().is_some());
}

#[test]
fn a_closed_pool_still_runs_what_was_queued() {
    let pool = Pool::new(1);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let done = Arc::clone(&done);
        pool.submit(
            pool.next_id(),
            Box::new(move || {
                std::thread::sleep(Duration::from_millis(5));
                done.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    }
    pool.close();
    eventually("queued calls ran and the thread ended", || {
        done.load(Ordering::SeqCst) == 5 && pool.threads() == 0
    });
}

#[test]
fn the_descriptor_is_raised_once_per_batch_and_lowered_when_taken() {
    let wake = Wake::<u32>::new().unwrap();
    let fd = wake.fileno().unwrap();
    assert!(!readable(fd));
    assert!(wake.push(1, 10) && wake.push(2, 20));
    assert!(readable(fd));
    assert_eq!(wake.take(), vec![(1, 10), (2, 20)]);
    assert!(!readable(fd), "lowered once taken");
    assert!(wake.take().is_empty());
    // Results from other threads, in the order pushed.
    let wake = Arc::new(wake);
    let pushers: Vec<_> = (0..4)
        .map(|t| {
            let wake = Arc::clone(&wake);
            std::thread::spawn(move || {
                for i in 0..100 {
                    wake.push(t * 1000 + i, 0);
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    assert!(readable(fd));
    assert_eq!(wake.take().len(), 400);
    assert!(!readable(fd));
}

#[test]
fn a_closed_wake_drops_results_and_releases_its_descriptor() {
    let wake = Wake::<u32>::new().unwrap();
    wake.push(1, 1);
    assert_eq!(wake.close(), vec![(1, 1)]);
    assert_eq!(wake.fileno(), None);
    assert!(!wake.push(2, 2), "dropped after close");
    assert!(wake.take().is_empty());
}
