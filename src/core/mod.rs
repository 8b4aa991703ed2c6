//! The pyo3-free core: everything here is tested with `cargo test`, without Python.
//!
//! Folders by concern, each depending only on those above it in this list: `settings` (what the
//! user asked for), `failure` (what an outcome means and what to do next: pure decisions),
//! `node` (one server: its connections, monitor, flavour), `cluster` (the nodes together: the
//! request loop, fences, the watchdog), `work` (what is built on the cluster: the insert loop,
//! transactions, the timeline). The small shared pieces (errors, events, cancel, logs, sync,
//! text, sql) sit at the top.

pub mod cancel;
pub mod cluster;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod failure;
pub mod logs;
pub mod node;
pub mod observe;
pub mod settings;
pub mod sql;
pub mod sync;
pub mod text;
pub mod work;
