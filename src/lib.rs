//! pit: a terminal trading console and its trading engine.
//!
//! Dependency arrows point one way: `domain` <- `engine` <- `venue`; `strategy` sees
//! `domain` and the engine's strategy interface. `domain`, `engine` and `strategy` import
//! neither the terminal crates nor tokio, nor any module above them (`tests/boundary.rs`
//! fails if one does).

pub mod app;
pub mod attach;
pub mod backtest;
pub mod config;
pub mod config_write;
pub mod console;
pub mod control;
pub mod domain;
pub mod emergency;
pub mod emulate;
pub mod engine;
pub mod headless;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod pace;
pub mod panics;
pub mod paths;
pub mod progress;
pub mod reconcile;
pub mod record;
pub mod runner;
pub mod setup;
pub mod store;
pub mod strategy;
pub mod tui;
pub mod ui;
pub mod venue;
pub mod watchdog;
