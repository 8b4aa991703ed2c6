//! The core's logging, through the `log` facade (the binding routes it to Python's `logging`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Set once the host process is shutting down: logging then would reach a dying interpreter.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Asks the host whether DEBUG records of the `multimaster` logger would be kept.
pub type DebugProbe = dyn Fn() -> bool + Send + Sync;

static PROBE: OnceLock<Box<DebugProbe>> = OnceLock::new();

pub fn silence_logging() {
    QUIET.store(true, Ordering::SeqCst);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// How the host says whether DEBUG is on (Python: the `multimaster` logger's level), where
/// the `log` facade cannot: a logger that filters on the host's side says yes to everything.
pub fn set_debug_probe(probe: Box<DebugProbe>) {
    let _ = PROBE.set(probe);
}

/// Logs a DEBUG record, built only when it would be kept.
pub fn log_debug(msg: impl FnOnce() -> String) {
    if !quiet() && debug_enabled() {
        log::debug!(target: "multimaster", "{}", msg());
    }
}

/// Whether DEBUG records would be kept, asked at most once a second: in Python the answer
/// takes the interpreter lock and a call into `logging`, and asked for every statement it cost
/// the insert loop's thread a Python thread state and tens of microseconds per row (measured:
/// 0.85x a bare mysql loop, against 0.98x without). A level changed in Python applies within a
/// second.
fn debug_enabled() -> bool {
    static START: OnceLock<Instant> = OnceLock::new();
    // Milliseconds since START of the last answer, plus one (0: never asked); and the answer.
    static ASKED: AtomicU64 = AtomicU64::new(0);
    static ENABLED: AtomicBool = AtomicBool::new(false);
    let now = START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1;
    let asked = ASKED.load(Ordering::Relaxed);
    if asked == 0 || now.saturating_sub(asked) >= 1000 {
        let enabled = match PROBE.get() {
            Some(probe) => probe(),
            None => log::log_enabled!(target: "multimaster", log::Level::Debug),
        };
        ENABLED.store(enabled, Ordering::Relaxed);
        ASKED.store(now, Ordering::Relaxed);
    }
    ENABLED.load(Ordering::Relaxed)
}
