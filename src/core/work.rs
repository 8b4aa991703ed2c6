//! The work built on the cluster: the insert loop, transactions with replay, the timeline.

pub mod insert;
pub mod timeline;
pub mod transaction;
