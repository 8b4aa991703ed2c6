//! The work built on the cluster: the insert loop, transactions with replay, DB-API sessions, the timeline.

pub mod frame;
pub mod insert;
pub mod session;
pub mod stream;
pub mod timeline;
pub mod transaction;
