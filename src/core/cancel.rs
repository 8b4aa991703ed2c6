//! Stopping long calls from outside (Ctrl-C), and sleeps that notice it quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Error, Result};

/// Shared stop flag: set by the caller's thread, polled by the worker between steps.
#[derive(Clone, Default, Debug)]
pub struct Cancel(Arc<AtomicBool>);

/// How often a sleeping worker looks at the flag: well inside the 0.5 s a user waits for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
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
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(POLL));
        }
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
}
