//! The work built on the cluster: the insert loop, coalesced INSERTs, transactions with replay, DB-API sessions, the timeline.

pub mod coalesce;
pub mod frame;
pub mod insert;
pub mod session;
pub mod stream;
pub mod timeline;
pub mod transaction;
