//! The synchronous, deterministic engine core.

pub mod risk;
