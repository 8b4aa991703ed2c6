//! The pyo3-free core: everything here is tested with `cargo test`, without Python.

pub mod address;
pub mod backoff;
pub mod cancel;
pub mod cluster;
pub mod config;
pub mod error;
pub mod events;
pub mod fault;
pub mod flavour;
pub mod insert;
pub mod liveness;
pub mod node;
pub mod optfile;
pub mod packet;
pub mod policy;
pub mod request;
pub mod settings;
pub mod sock;
pub mod sql;
pub mod sync;
pub mod text;
pub mod timeline;
pub mod tls;
pub mod transaction;
pub mod url;
pub mod watchdog;
