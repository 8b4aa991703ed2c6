//! How a call stops early: from outside (Ctrl-C), or a statement running past its time limit;
//! and sleeps that notice a stop quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::error::{Error, Result};

/// Asks the host whether the user wants to stop (Python: a pending Ctrl-C).
pub type Interrupted = dyn Fn() -> bool + Send + Sync;

/// Shared stop flag: set by the caller's thread, polled by the worker between steps. An
/// optional probe is also asked while sleeping, so a call waiting out a backoff or a failover
/// stops on Ctrl-C even when it runs on the caller's own thread.
#[derive(Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    probe: Option<Arc<Interrupted>>,
    /// Asked by any thread (the watchdog too), so it must be cheap: an atomic read.
    signal: Option<Arc<Interrupted>>,
    /// The longest one statement of the call may run (`statement_timeout`); `None`: no limit.
    limit: Option<Duration>,
}

/// How often a sleeping worker looks at the flag: well inside the 0.5 s a user waits for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cancel that also asks `probe` while sleeping (never on the hot path).
    pub fn with_probe(probe: Arc<Interrupted>) -> Self {
        Cancel {
            flag: Arc::default(),
            probe: Some(probe),
            signal: None,
            limit: None,
        }
    }

    /// Each statement of the call may run at most `limit`; it is then killed on the server.
    pub fn with_limit(mut self, limit: Option<Duration>) -> Self {
        self.limit = limit;
        self
    }

    /// Stopped by whoever else holds `flag` (an asyncio task cancelled on its loop's thread
    /// while a worker thread runs the call): the flag replaces this cancel's own.
    pub fn with_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.flag = flag;
        self
    }

    pub fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// Also cancelled as soon as `signal` says so, from any thread: it lets the watchdog stop a
    /// statement the caller's thread is blocked in.
    pub fn with_signal(mut self, signal: Arc<Interrupted>) -> Self {
        self.signal = Some(signal);
        self
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst) || self.signal.as_ref().is_some_and(|s| s())
    }

    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `d`, or less if cancelled meanwhile.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            if self.probe.as_ref().is_some_and(|p| p()) {
                self.cancel();
                return Err(Error::Interrupted);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(POLL));
        }
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cancel({})", self.is_cancelled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_sleep_returns_early() {
        let c = Cancel::new();
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            c2.cancel();
        });
        let start = Instant::now();
        assert!(matches!(
            c.sleep(Duration::from_secs(5)),
            Err(Error::Interrupted)
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
        t.join().unwrap();
    }

    #[test]
    fn uncancelled_sleep_runs_its_course() {
        let c = Cancel::new();
        let start = Instant::now();
        c.sleep(Duration::from_millis(30)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_shared_flag_set_elsewhere_cancels_and_wakes_a_sleep() {
        let flag = Arc::new(AtomicBool::new(false));
        let c = Cancel::new().with_flag(Arc::clone(&flag));
        assert!(c.check().is_ok());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
        });
        let start = Instant::now();
        assert!(matches!(
            c.sleep(Duration::from_secs(5)),
            Err(Error::Interrupted)
        ));
        assert!(start.elapsed() < Duration::from_secs(1) && c.clone().is_cancelled());
        t.join().unwrap();
    }

    #[test]
    fn probe_interrupts_a_sleep_and_sticks() {
        let asked = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&asked);
        let c = Cancel::with_probe(Arc::new(move || {
            seen.store(true, Ordering::SeqCst);
            true
        }));
        assert!(c.check().is_ok(), "check() never asks the probe");
        assert!(matches!(
            c.sleep(Duration::from_secs(5)),
            Err(Error::Interrupted)
        ));
        assert!(asked.load(Ordering::SeqCst) && c.is_cancelled());
    }
}
