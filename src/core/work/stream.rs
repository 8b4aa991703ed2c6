//! The hand-off between whoever reads `insert_many`'s input and the workers that write it: rows
//! are grouped into statements' chunks as they are read and queued in a bounded [`Feed`], so a
//! load holds what is in flight plus a bounded read-ahead, never the whole input.
//!
//! The reader is one thread (in Python, the caller's: it advances the iterator with the
//! interpreter lock held, and waits for room with it released); the workers never wait for the
//! interpreter. Either side can end the hand-off: the reader when the input ends (or fails),
//! a worker when the run stops.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use mysql::Value;

use crate::core::cancel::Cancel;
use crate::core::error::{Error, Result};
use crate::core::sync::lock;

/// MySQL's limit on the placeholders of one prepared statement.
pub const MAX_PLACEHOLDERS: usize = 65_535;

/// The read-ahead's floor in rows: with one-row statements, enough queued rows that the reader
/// is not woken for every row.
pub const READ_AHEAD_ROWS: usize = 1_000;

/// How long a waiting worker sleeps between two looks at the cancel flag.
const POLL: Duration = Duration::from_millis(20);

/// The rows of one statement: its number (which picks its node and names its request), and the
/// index in the input of its first row.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub number: usize,
    pub first: usize,
    pub rows: Vec<Vec<Value>>,
}

/// Rows per statement: `batch`, fewer where the placeholder limit says so.
pub fn chunk_rows(batch: usize, columns: usize) -> usize {
    batch.min(MAX_PLACEHOLDERS / columns.max(1)).max(1)
}

/// Chunks queued beyond those in flight: `concurrency` chunks, at least [`READ_AHEAD_ROWS`]
/// rows. With the chunk each worker holds and the one the reader is filling, a load holds at
/// most `(concurrency + capacity + 1) × chunk` rows.
pub fn capacity(concurrency: usize, chunk: usize) -> usize {
    concurrency
        .max(READ_AHEAD_ROWS.div_ceil(chunk.max(1)))
        .max(1)
}

/// Groups rows into chunks as they are read, checking each row as it comes.
#[derive(Debug)]
pub struct Chunker {
    size: usize,
    columns: usize,
    key: Option<(usize, String)>,
    next_number: usize,
    next_index: usize,
    rows: Vec<Vec<Value>>,
}

impl Chunker {
    /// `key`: the key column's index and name (a row without its key cannot be written once).
    pub fn new(size: usize, columns: usize, key: Option<(usize, String)>) -> Self {
        Chunker {
            size: size.max(1),
            columns,
            key,
            next_number: 0,
            next_index: 0,
            rows: Vec::new(),
        }
    }

    /// Rows taken so far: the index the next row will have.
    pub fn rows_read(&self) -> usize {
        self.next_index
    }

    /// Adds the next row of the input; a full chunk is returned.
    pub fn add(&mut self, row: Vec<Value>) -> Result<Option<Chunk>> {
        let index = self.next_index;
        if row.len() != self.columns {
            return Err(Error::Config(format!(
                "row {index} has {} values for {} columns",
                row.len(),
                self.columns
            )));
        }
        if let Some((k, name)) = &self.key {
            if row[*k] == Value::NULL {
                return Err(Error::Config(format!(
                    "row {index} has no value (NULL) in the key column {name:?}"
                )));
            }
        }
        if self.rows.is_empty() {
            self.rows.reserve_exact(self.size);
        }
        self.rows.push(row);
        self.next_index += 1;
        Ok((self.rows.len() == self.size).then(|| self.take()))
    }

    /// The last, partial chunk, once the input has ended.
    pub fn finish(&mut self) -> Option<Chunk> {
        (!self.rows.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Chunk {
        let rows = std::mem::take(&mut self.rows);
        let chunk = Chunk {
            number: self.next_number,
            first: self.next_index - rows.len(),
            rows,
        };
        self.next_number += 1;
        chunk
    }
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Chunk>,
    /// The input has ended: no more chunks will come.
    ended: bool,
    /// The run has stopped: chunks are no longer wanted.
    stopped: bool,
}

/// A bounded queue of chunks between one reader and the workers.
#[derive(Debug)]
pub struct Feed {
    state: Mutex<State>,
    capacity: usize,
    /// Signalled when a chunk is taken or the run stops (the reader waits on it).
    room: Condvar,
    /// Signalled when a chunk is queued or the input ends (workers wait on it).
    ready: Condvar,
}

/// What a worker got from [`Feed::take`].
#[derive(Debug, PartialEq)]
pub enum Taken {
    Chunk(Chunk),
    /// The input ended and every chunk is taken, or the run stopped.
    Done,
}

impl Feed {
    pub fn new(capacity: usize) -> Self {
        Feed {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            room: Condvar::new(),
            ready: Condvar::new(),
        }
    }

    /// Whether the reader should read another chunk now: there is room and the run goes on.
    pub fn wants_more(&self) -> bool {
        let s = lock(&self.state);
        !s.stopped && !s.ended && s.queue.len() < self.capacity
    }

    pub fn is_stopped(&self) -> bool {
        lock(&self.state).stopped
    }

    /// Queues a chunk (the reader checked [`Feed::wants_more`], so never beyond the capacity
    /// by more than this one). False when the run has stopped: the chunk is dropped.
    pub fn push(&self, chunk: Chunk) -> bool {
        let mut s = lock(&self.state);
        if s.stopped {
            return false;
        }
        s.queue.push_back(chunk);
        self.ready.notify_one();
        true
    }

    /// No more chunks will come.
    pub fn end(&self) {
        lock(&self.state).ended = true;
        self.ready.notify_all();
    }

    /// The run stopped: the reader reads no more, waiting workers take nothing more, and the
    /// chunks queued are dropped (never written).
    pub fn stop(&self) {
        let mut s = lock(&self.state);
        s.stopped = true;
        s.queue.clear();
        self.room.notify_all();
        self.ready.notify_all();
    }

    /// Waits at most `timeout` for room (or for the run to stop): the reader's wait, bounded
    /// so that it can look for Ctrl-C and redraw progress between two waits.
    pub fn wait_room(&self, timeout: Duration) {
        let s = lock(&self.state);
        if s.stopped || s.queue.len() < self.capacity {
            return;
        }
        let _ = self.room.wait_timeout(s, timeout);
    }

    /// The next chunk, in the input's order, waiting for the reader if need be; `Done` once the
    /// input has ended and is all taken, or the run stopped or was cancelled.
    pub fn take(&self, cancel: &Cancel) -> Taken {
        let mut s = lock(&self.state);
        loop {
            if s.stopped || cancel.is_cancelled() {
                return Taken::Done;
            }
            if let Some(chunk) = s.queue.pop_front() {
                self.room.notify_one();
                return Taken::Chunk(chunk);
            }
            if s.ended {
                return Taken::Done;
            }
            s = self
                .ready
                .wait_timeout(s, POLL)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests;
