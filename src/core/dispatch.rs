//! Blocking calls run for an event loop without a thread of the loop's language per call: a
//! [`Pool`] of plain threads runs them (at most `limit` at once, the rest queued in order), and
//! each result goes onto a [`Wake`] queue whose one file descriptor becomes readable when the
//! queue goes from empty to non-empty, so the loop wakes once per batch, not once per call.
//! `src/py/aio.rs` puts the two under `multimaster.aio`; nothing here knows of Python.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::core::cancel::Cancel;
use crate::core::sync::lock;

/// How often a caller waiting for a free slot looks at its cancel flag.
const POLL: Duration = Duration::from_millis(20);

/// One queued call: its id (to withdraw it) and the work, which hands its result on itself.
struct Job {
    id: u64,
    run: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Calls running (a slot held by [`Pool::hold`] is one).
    busy: usize,
    /// Threads started, and those of them waiting for work.
    threads: usize,
    idle: usize,
    closed: bool,
    next_id: u64,
}

struct Shared {
    state: Mutex<State>,
    limit: usize,
    /// A job was queued or the pool closed.
    work: Condvar,
}

/// At most `limit` calls at once (one per thread), in the order submitted; threads are
/// started as calls need them, up to `limit`, and end when the pool closes. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// Why a call was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Closed,
    /// No thread could be started and none runs to take the call.
    NoThread(String),
}

impl Pool {
    pub fn new(limit: usize) -> Self {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                limit: limit.max(1),
                work: Condvar::new(),
            }),
        }
    }

    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// A new call's id, unique in this pool.
    pub fn next_id(&self) -> u64 {
        let mut s = lock(&self.shared.state);
        s.next_id += 1;
        s.next_id
    }

    /// Queues `run` as call `id`; it runs on a thread of the pool once one is free.
    pub fn submit(&self, id: u64, run: Box<dyn FnOnce() + Send>) -> Result<(), Refused> {
        let mut s = lock(&self.shared.state);
        if s.closed {
            return Err(Refused::Closed);
        }
        s.queue.push_back(Job { id, run });
        // A new thread when more calls wait than threads wait for work (those woken have not
        // taken theirs yet), and the limit allows one more.
        if s.queue.len() > s.idle && s.threads < self.shared.limit {
            let shared = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name("multimaster-aio".into())
                .spawn(move || work(&shared));
            match started {
                Ok(_) => s.threads += 1,
                Err(e) if s.threads == 0 => {
                    s.queue.pop_back();
                    return Err(Refused::NoThread(e.to_string()));
                }
                Err(_) => {} // the threads already running take it in turn
            }
        }
        let wake = s.idle > 0;
        drop(s);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(())
    }

    /// Takes call `id` out of the queue if it has not started: true if it never will.
    pub fn withdraw(&self, id: u64) -> bool {
        let mut s = lock(&self.shared.state);
        let Some(at) = s.queue.iter().position(|j| j.id == id) else {
            return false;
        };
        let job = s.queue.remove(at);
        drop(s);
        drop(job); // its captures dropped outside the lock
        true
    }

    /// A slot for a call that runs on the caller's own thread, taken in turn with the queued
    /// calls (a thread of the pool waits while the caller holds it, so the limit counts both);
    /// `None` if `cancel` was set first. Given back when the [`Held`] is dropped.
    pub fn hold(&self, cancel: &Cancel) -> Result<Option<Held>, Refused> {
        let turn = Arc::new(Turn::default());
        let id = self.next_id();
        let theirs = Arc::clone(&turn);
        self.submit(
            id,
            Box::new(move || {
                theirs.set(Phase::Granted);
                theirs.wait_until(Phase::Released, None);
            }),
        )?;
        let held = Held { turn };
        loop {
            if held.turn.wait_until(Phase::Granted, Some(POLL)) {
                return Ok(Some(held));
            }
            if cancel.is_cancelled() {
                // Withdrawn, or granted meanwhile: dropping `held` gives the slot back.
                self.withdraw(id);
                return Ok(None);
            }
        }
    }

    /// Calls queued and not started.
    pub fn queued(&self) -> usize {
        lock(&self.shared.state).queue.len()
    }

    /// Calls running.
    pub fn busy(&self) -> usize {
        lock(&self.shared.state).busy
    }

    /// Threads alive (never more than the limit).
    pub fn threads(&self) -> usize {
        lock(&self.shared.state).threads
    }

    /// Takes no more calls; the queued ones still run (each then meets whatever closed the
    /// work they use), and the threads end once the queue is empty.
    pub fn close(&self) {
        lock(&self.shared.state).closed = true;
        self.shared.work.notify_all();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd)]
enum Phase {
    Waiting,
    Granted,
    Released,
}

/// A held slot's hand-over between the pool's thread and the caller's.
struct Turn {
    phase: Mutex<Phase>,
    changed: Condvar,
}

impl Default for Turn {
    fn default() -> Self {
        Turn {
            phase: Mutex::new(Phase::Waiting),
            changed: Condvar::new(),
        }
    }
}

impl Turn {
    fn set(&self, phase: Phase) {
        *lock(&self.phase) = phase;
        self.changed.notify_all();
    }

    /// Waits until the phase is at least `phase` (at most `timeout`): whether it is.
    fn wait_until(&self, phase: Phase, timeout: Option<Duration>) -> bool {
        let mut p = lock(&self.phase);
        while *p < phase {
            p = match timeout {
                None => self.changed.wait(p).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let (p, waited) = self
                        .changed
                        .wait_timeout(p, t)
                        .unwrap_or_else(|e| e.into_inner());
                    if waited.timed_out() {
                        return *p >= phase;
                    }
                    p
                }
            };
        }
        true
    }
}

/// A slot taken by [`Pool::hold`]: the pool's thread waiting for it goes on when dropped.
pub struct Held {
    turn: Arc<Turn>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.turn.set(Phase::Released);
    }
}

/// A thread of the pool: runs queued jobs one after another, ends when the pool is closed and
/// its queue empty.
fn work(shared: &Shared) {
    let mut s = lock(&shared.state);
    loop {
        if let Some(job) = s.queue.pop_front() {
            s.busy += 1;
            drop(s);
            (job.run)();
            s = lock(&shared.state);
            s.busy -= 1;
            continue;
        }
        if s.closed {
            s.threads -= 1;
            return;
        }
        s.idle += 1;
        s = shared.work.wait(s).unwrap_or_else(|p| p.into_inner());
        s.idle -= 1;
    }
}

/// Results waiting for a loop, and the file descriptor that wakes it: readable while results
/// wait (written once when the queue goes from empty to non-empty, reset when it is taken).
/// Every write happens under the queue's lock with the descriptor still open, so closing it
/// never lets a late result write into a number the process has reused.
pub struct Wake<T> {
    state: Mutex<WakeState<T>>,
}

struct WakeState<T> {
    ready: Vec<(u64, T)>,
    fd: Option<Signal>,
}

impl<T> Wake<T> {
    pub fn new() -> io::Result<Self> {
        Ok(Wake {
            state: Mutex::new(WakeState {
                ready: Vec::new(),
                fd: Some(Signal::new()?),
            }),
        })
    }

    /// The descriptor a loop watches for reading; `None` once closed.
    pub fn fileno(&self) -> Option<RawFd> {
        lock(&self.state).fd.as_ref().map(Signal::fileno)
    }

    /// Hands a result to the loop; false (the result dropped) once closed.
    pub fn push(&self, id: u64, value: T) -> bool {
        let mut s = lock(&self.state);
        let Some(fd) = &s.fd else {
            return false;
        };
        if s.ready.is_empty() {
            fd.raise();
        }
        s.ready.push((id, value));
        true
    }

    /// Everything ready, in the order it came; the descriptor is no longer readable.
    pub fn take(&self) -> Vec<(u64, T)> {
        let mut s = lock(&self.state);
        if let Some(fd) = &s.fd {
            fd.lower();
        }
        std::mem::take(&mut s.ready)
    }

    /// Closes the descriptor; later results are dropped as they come. Returns those that
    /// were waiting (for the caller to drop where it may).
    pub fn close(&self) -> Vec<(u64, T)> {
        let mut s = lock(&self.state);
        s.fd = None;
        std::mem::take(&mut s.ready)
    }
}

/// An eventfd (Linux) or a pipe: one readable descriptor, raised and lowered.
struct Signal {
    read: OwnedFd,
    /// The pipe's write end; an eventfd is written through `read` itself.
    write: Option<OwnedFd>,
}

impl Signal {
    #[cfg(target_os = "linux")]
    fn new() -> io::Result<Self> {
        // SAFETY: a plain syscall; the descriptor it returns is owned here alone.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Signal { read, write: None })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> io::Result<Self> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: two new descriptors nothing else owns.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: fcntl on a descriptor owned here.
            unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Signal {
            read,
            write: Some(write),
        })
    }

    fn fileno(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    fn raise(&self) {
        let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor owned by `self`. A full pipe
        // (EAGAIN) is already readable, which is all a write is for.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }

    fn lower(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a live buffer from a non-blocking descriptor owned by `self`;
        // an eventfd is reset by one read, a pipe is read until empty.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
            && self.write.is_some()
        {}
    }
}

#[cfg(test)]
mod tests;
