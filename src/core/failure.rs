//! The semantics of failure: what an error means (`fault`), whether a node is alive
//! (`liveness`), what to do after an outcome (`decide`), which node goes first (`policy`) and
//! how long to wait before trying again (`backoff`). Pure functions with tables of unit tests.

pub mod backoff;
pub mod decide;
pub mod fault;
pub mod liveness;
pub mod policy;
