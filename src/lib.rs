//! `multimaster._native`: the Rust core behind the `multimaster` Python package.

pub mod core;
// mod py;

use pyo3::prelude::*;

