//! Recordings: raw frames with receive timestamps, in the capture-line format of
//! `shared/captures/README.md`, so a replay goes through the very parsers live trading uses.

pub mod capture;
pub mod ordered;
pub mod recorder;

pub use capture::{CaptureLine, CaptureReader, CaptureWriter, Direction, SkippedLine};
pub use ordered::TimeOrdered;
pub use recorder::{RecordConfig, RecordedFiles, Recorder};
