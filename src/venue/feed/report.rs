//! [`ReplayReport`]: what reading a recording found (lines, skips, the decoder's counters).
//! The replay ([`super::replay`]) fills it as it reads; a compiled file
//! ([`super::compiled`]) carries its source's in its end block. A module of its own so
//! that both can name it without importing each other.

use crate::record::SkippedLine;
use crate::venue::exchanges::decode::FeedStats;

/// What the prefetch thread reports at the end (and as it goes). A compiled file carries
/// its source's (see [`super::compiled`]).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReplayReport {
    /// Lines read, good and bad.
    pub lines: u64,
    /// Bad lines skipped (torn, malformed), and the first of them with their reasons.
    pub skipped: u64,
    pub skipped_lines: Vec<SkippedLine>,
    /// Lines of another venue than the recording's first (one venue per replay).
    pub other_venue: u64,
    /// The first such venue, for messages.
    pub other_venue_name: Option<String>,
    /// Events of instruments that first appeared after the instrument scan (not traded).
    pub late_instrument_events: u64,
    /// An I/O error that ended the reading early (e.g. a truncated zstd stream).
    pub io_error: Option<String>,
    /// The decoder's counters per instrument.
    pub stats: Vec<FeedStats>,
    /// Whether the whole file has been read.
    pub done: bool,
    /// Receive times that went back (connections recorded one after another) and what
    /// was done: merged by receive time, or read in file order.
    pub receive_order: Option<String>,
}
