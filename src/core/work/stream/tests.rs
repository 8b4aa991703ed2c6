use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::*;

fn row(i: i64) -> Vec<Value> {
    vec![Value::Int(i), Value::Int(i)]
}

#[test]
fn chunks_of_batch_rows_within_the_placeholder_limit() {
    assert_eq!(chunk_rows(3, 2), 3);
    assert_eq!(chunk_rows(0, 2), 1);
    assert_eq!(
        chunk_rows(100_000, 2),
        32_767,
        "65,535 placeholders / 2 columns"
    );
    let mut c = Chunker::new(3, 2, None);
    let mut chunks = Vec::new();
    for i in 0..7 {
        chunks.extend(c.add(row(i)).unwrap());
    }
    chunks.extend(c.finish());
    let shape: Vec<_> = chunks
        .iter()
        .map(|c| (c.number, c.first, c.rows.len()))
        .collect();
    assert_eq!(shape, [(0, 0, 3), (1, 3, 3), (2, 6, 1)]);
    assert_eq!(chunks[2].rows[0], row(6));
    assert_eq!(c.finish(), None);
}

#[test]
fn rows_are_checked_as_they_come_with_their_index() {
    let mut c = Chunker::new(10, 2, Some((1, "title".into())));
    c.add(row(0)).unwrap();
    let e = c.add(vec![Value::Int(1)]).unwrap_err().to_string();
    assert!(e.contains("row 1 has 1 values for 2 columns"), "{e}");
    let e = c
        .add(vec![Value::Int(1), Value::NULL])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 1 has no value (NULL) in the key column \"title\""),
        "{e}"
    );
    assert_eq!(c.rows_read(), 1);
}

#[test]
fn the_read_ahead_is_bounded_in_chunks_and_rows() {
    assert_eq!(capacity(2, 1000), 2, "concurrency chunks of 1,000 rows");
    assert_eq!(
        capacity(1, 1),
        READ_AHEAD_ROWS,
        "one-row chunks: 1,000 rows"
    );
    assert_eq!(capacity(8, 300), 8);
    assert_eq!(capacity(1, 300), 4);
}

#[test]
fn the_reader_waits_for_room_and_workers_get_chunks_in_order() {
    let feed = Arc::new(Feed::new(2));
    let chunk = |n: usize| Chunk {
        number: n,
        first: n,
        rows: vec![row(n as i64)],
    };
    assert!(feed.wants_more());
    assert!(feed.push(chunk(0)));
    assert!(feed.push(chunk(1)));
    assert!(!feed.wants_more(), "full at its capacity");
    // Full: the reader's wait ends by its timeout, not before.
    let t = Instant::now();
    feed.wait_room(Duration::from_millis(50));
    assert!(t.elapsed() >= Duration::from_millis(40));
    // A worker taking a chunk wakes the reader at once.
    let f = Arc::clone(&feed);
    let taker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        f.take(&Cancel::new())
    });
    let t = Instant::now();
    feed.wait_room(Duration::from_secs(5));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(taker.join().unwrap(), Taken::Chunk(chunk(0)));
    assert!(feed.wants_more());
    feed.push(chunk(2));
    feed.end();
    assert!(!feed.wants_more(), "ended");
    let cancel = Cancel::new();
    assert_eq!(feed.take(&cancel), Taken::Chunk(chunk(1)));
    assert_eq!(feed.take(&cancel), Taken::Chunk(chunk(2)));
    assert_eq!(feed.take(&cancel), Taken::Done);
}

#[test]
fn a_worker_waits_for_the_reader_and_stops_with_the_run() {
    let feed = Arc::new(Feed::new(4));
    let f = Arc::clone(&feed);
    let taker = thread::spawn(move || f.take(&Cancel::new()));
    thread::sleep(Duration::from_millis(30));
    feed.push(Chunk {
        number: 0,
        first: 0,
        rows: vec![row(0)],
    });
    assert!(matches!(taker.join().unwrap(), Taken::Chunk(_)));
    // Stopped (a worker failed): waiting workers get nothing, queued chunks are dropped, the
    // reader is told to read no more and its wait for room ends at once.
    feed.push(Chunk {
        number: 1,
        first: 1,
        rows: vec![row(1)],
    });
    let f = Arc::clone(&feed);
    let waiting = thread::spawn(move || {
        let _ = f.take(&Cancel::new());
        f.take(&Cancel::new())
    });
    thread::sleep(Duration::from_millis(30));
    feed.stop();
    assert_eq!(waiting.join().unwrap(), Taken::Done);
    assert!(!feed.wants_more() && feed.is_stopped());
    assert!(!feed.push(Chunk {
        number: 2,
        first: 2,
        rows: vec![]
    }));
    let t = Instant::now();
    feed.wait_room(Duration::from_secs(5));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_cancelled_worker_stops_waiting_for_the_reader() {
    let feed = Arc::new(Feed::new(4));
    let cancel = Cancel::new();
    let (f, c) = (Arc::clone(&feed), cancel.clone());
    let taker = thread::spawn(move || f.take(&c));
    thread::sleep(Duration::from_millis(30));
    let t = Instant::now();
    cancel.cancel();
    assert_eq!(taker.join().unwrap(), Taken::Done);
    assert!(t.elapsed() < Duration::from_millis(500));
}
