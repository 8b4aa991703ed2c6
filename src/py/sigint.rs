//! Ctrl-C while a statement blocks the calling thread. Python's own SIGINT handler only sets a
//! flag that the blocked thread would look at after the statement; a handler chained in front
//! of it also counts SIGINTs in an atomic the watchdog reads (from its own thread), then calls
//! Python's handler exactly as before. It is put back in front at each call, since Python code
//! (ipykernel, for one) installs its handler again at will.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

use super::cancel::PyCancelHandle;
use super::errors::PyMmError;
use crate::core::cancel::Cancel;
use crate::core::sync::lock;

static COUNT: AtomicU64 = AtomicU64::new(0);
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_SIGINFO: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    COUNT.fetch_add(1, Ordering::SeqCst);
    let previous = PREVIOUS.load(Ordering::SeqCst);
    if previous == libc::SIG_DFL || previous == libc::SIG_IGN {
        return;
    }
    // SAFETY: `previous` is the handler that was installed for SIGINT (checked in `arm`), with
    // the calling convention its flags declared.
    unsafe {
        if PREVIOUS_SIGINFO.load(Ordering::SeqCst) != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(previous);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(previous);
            f(sig);
        }
    }
}

/// Puts the counting handler in front of the current SIGINT handler, if it is not there
/// already and there is a handler to chain (Python's; not the default action or "ignore").
/// Returns the count to compare [`seen_since`] with.
pub fn arm() -> u64 {
    let ours = on_sigint as *const () as usize;
    // SAFETY: sigaction with valid pointers; a zeroed struct is a valid `sigaction`.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction != ours
            && current.sa_sigaction != libc::SIG_DFL
            && current.sa_sigaction != libc::SIG_IGN
        {
            PREVIOUS.store(current.sa_sigaction, Ordering::SeqCst);
            let siginfo = (current.sa_flags & libc::SA_SIGINFO) != 0;
            PREVIOUS_SIGINFO.store(siginfo as usize, Ordering::SeqCst);
            let mut chained = current;
            chained.sa_sigaction = ours;
            chained.sa_flags = current.sa_flags | libc::SA_SIGINFO;
            libc::sigaction(libc::SIGINT, &chained, std::ptr::null_mut());
        }
    }
    COUNT.load(Ordering::SeqCst)
}

/// A SIGINT arrived after [`arm`] returned `mark`.
pub fn seen_since(mark: u64) -> bool {
    COUNT.load(Ordering::SeqCst) != mark
}

/// This is the process's main thread, the one Python delivers KeyboardInterrupt to.
pub fn on_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls without arguments.
    unsafe {
        libc::gettid() == libc::getpid()
    }
    #[cfg(target_os = "macos")]
    // SAFETY: a plain libc call without arguments.
    unsafe {
        libc::pthread_main_np() == 1
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    false
}

/// A cancel whose sleeps (backoff, waiting for a node) notice Ctrl-C on this thread, and (on
/// the main thread) whose statement the watchdog stops on Ctrl-C; the KeyboardInterrupt is kept
/// in the slot to be raised once the call returns. `limit` is the statement time limit;
/// `handle` (from `multimaster.aio`) stops the call too.
pub fn aware(
    limit: Option<Duration>,
    handle: Option<&PyCancelHandle>,
) -> (Cancel, Arc<Mutex<Option<PyErr>>>) {
    let slot: Arc<Mutex<Option<PyErr>>> = Arc::default();
    let seen = Arc::clone(&slot);
    let probe = move || {
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                *lock(&seen) = Some(e);
                true
            }
        })
    };
    let mut cancel = Cancel::with_probe(Arc::new(probe)).with_limit(limit);
    if let Some(h) = handle {
        cancel = cancel.with_flag(Arc::clone(&h.flag));
    }
    if !on_main_thread() {
        return (cancel, slot);
    }
    let mark = arm();
    (cancel.with_signal(Arc::new(move || seen_since(mark))), slot)
}

/// The call's error, with a KeyboardInterrupt caught while it waited taking precedence.
pub fn raised(slot: &Mutex<Option<PyErr>>, e: impl Into<PyMmError>) -> PyErr {
    lock(slot).take().unwrap_or_else(|| PyErr::from(e.into()))
}
