//! Frame decoders: one per venue, turning raw frames (live, or read back from a recording)
//! into normalized [`MarketEvent`]s while checking the venue's integrity rules (sequence
//! chains, checksums, best bid/ask cross-checks). The same decoder serves live trading,
//! `pit verify`, replays and backtests, so a replay goes through the very parser live
//! trading uses.

use crate::domain::{Instrument, MarketEvent, OrderBook};
use crate::record::CaptureLine;
use serde::Serialize;

/// How far a decoder trusts what a venue sends (`[book]` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookLimits {
    /// A trade priced further than this many percent from the last trusted mid, a bid
    /// this far above it or an ask this far below it, is bad data (0: no band). Bids far
    /// below and asks far above are real (resting orders deep in the book: Binance's diffs
    /// carry bids at a third of the price) and stay.
    pub sanity_band_pct: u32,
    /// A sequence that moves further than this in one frame is a gap (0: no limit).
    pub max_seq_jump: i64,
}

impl Default for BookLimits {
    fn default() -> Self {
        BookLimits {
            sanity_band_pct: 20,
            max_seq_jump: 1_000_000,
        }
    }
}

impl BookLimits {
    /// Values that parse but make no sense.
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if self.sanity_band_pct > 1000 {
            return Err(Invalid::new(
                "sanity_band_pct",
                format!(
                    "{}: at most 1000 (percent from the last trusted mid; 0 turns the band off)",
                    self.sanity_band_pct
                ),
            ));
        }
        if self.max_seq_jump < 0 {
            return Err(Invalid::new(
                "max_seq_jump",
                format!(
                    "{}: must not be negative (0 turns the limit off)",
                    self.max_seq_jump
                ),
            ));
        }
        Ok(())
    }

    /// Whether a sequence moving from `from` to `to` in one frame jumps implausibly far
    /// (or backwards).
    pub fn implausible_jump(&self, from: i64, to: i64) -> bool {
        match to.checked_sub(from) {
            None => true,
            Some(d) => d < 0 || (self.max_seq_jump > 0 && d > self.max_seq_jump),
        }
    }

    /// Whether two sequence numbers are implausibly far apart, whichever way (a duplicate
    /// or a venue's documented reset moves back a little; nothing moves by more than
    /// `max_seq_jump` in one frame). Never with the limit off.
    pub fn too_far_apart(&self, a: i64, b: i64) -> bool {
        self.max_seq_jump > 0 && a.abs_diff(b) > self.max_seq_jump as u64
    }
}

/// Integrity and traffic counters for one instrument of a feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FeedStats {
    /// Frames that concerned this instrument.
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Book updates applied (snapshots count once).
    pub updates: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Times the book was marked RESYNCING and rebuilt.
    pub resyncs: u64,
    pub checksums_checked: u64,
    pub checksums_failed: u64,
    /// Best bid/ask cross-checks against the venue's own top-of-book messages.
    pub bbo_checks_passed: u64,
    pub bbo_checks_failed: u64,
    /// Book updates after which the book was crossed.
    pub crossed: u64,
    /// Levels and trades priced outside the sanity band around the last trusted mid, and
    /// books whose mid overflowed: bad data, never trusted (the book resyncs, the trade is
    /// dropped).
    pub insane: u64,
    /// Frames that could not be parsed (counted and logged, never a panic).
    pub malformed: u64,
    /// Times the sanity band was dropped after snapshots kept lying outside it (the
    /// market moved while the feed was away).
    pub recentred: u64,
    /// The venue's event time to the frame's receipt, for frames that carry an event time
    /// (metrics only; not part of `pit verify`'s figures).
    #[serde(skip)]
    pub md_latency: crate::engine::execstats::LatencyHist,
}

impl FeedStats {
    /// Whether any integrity check failed.
    pub fn failed(&self) -> bool {
        self.gaps > 0
            || self.checksums_failed > 0
            || self.bbo_checks_failed > 0
            || self.crossed > 0
            || self.insane > 0
    }
}

/// Something the decoder needs the connection to do (live only; replays ignore them,
/// because the recording already holds what was done).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedRequest {
    /// Send this text frame (subscribe, resubscribe, ping).
    Send(String),
    /// Fetch this REST URL and hand the body back as a `dir = "http"` line.
    Http(String),
    /// Drop the connection and connect again.
    Reconnect,
}

/// A venue's frame decoder. Implementations are deterministic: the same lines in the same
/// order give the same events and counters.
pub trait FrameDecoder: Send {
    /// The venue name used in capture lines, e.g. `binance`.
    fn venue(&self) -> &str;
    /// The instruments it publishes, indexed by `InstrumentId`.
    fn instruments(&self) -> &[Instrument];
    /// One line in (connect, send, recv or http); normalized events out, stamped with the
    /// line's receive time. Never panics on bad input: a malformed frame is counted.
    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>);
    /// What the live connection should do next (drained by the caller).
    fn requests(&mut self) -> Vec<FeedRequest> {
        Vec::new()
    }
    /// Counters per instrument, in instrument order.
    fn stats(&self) -> Vec<FeedStats>;
    /// Instrument `i`'s book as the decoder keeps it, when it is to be trusted (synced, not
    /// RESYNCING); `None` otherwise or when the decoder keeps no book. Invariant, checked
    /// over every shared capture: applying the decoder's events in order to an empty
    /// [`OrderBook`] gives exactly this book whenever it is `Some`.
    fn book(&self, _i: usize) -> Option<&OrderBook> {
        None
    }
    /// How far to trust the venue's data (`[book]`); decoders that keep no book ignore it.
    fn set_book_limits(&mut self, _limits: crate::venue::exchanges::decode::BookLimits) {}
    /// Per-instrument sanity bands (`[[instruments]] sanity_band_pct`), by venue symbol:
    /// each replaces `[book] sanity_band_pct` for its instrument, present or discovered
    /// later. Call after [`FrameDecoder::set_book_limits`].
    fn set_sanity_bands(&mut self, _bands: &std::collections::BTreeMap<String, u32>) {}
    /// Coins per contract by venue symbol (`[[instruments]] contract_value`), for a venue
    /// that writes a contract's sizes in contracts (OKX): those sizes are read as coins on
    /// the instrument's lot, present or discovered later. Others ignore it.
    fn set_contract_values(
        &mut self,
        _values: &std::collections::BTreeMap<String, rust_decimal::Decimal>,
    ) {
    }
    /// Instrument `i`'s sanity band now, in ticks (lowest, highest price trusted), when
    /// the decoder keeps one.
    fn sanity_band(&self, _i: usize) -> Option<(i64, i64)> {
        None
    }
    /// Malformed frames that named no instrument (counted and logged too).
    fn unattributed_malformed(&self) -> u64 {
        0
    }
}
