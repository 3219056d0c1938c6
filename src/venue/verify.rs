//! `pit verify FILE`: replay a capture-line file through the matching venue decoder (the
//! very parser live trading uses) on the recording's own clock, and report per instrument
//! the frames, updates applied and every integrity check: sequence gaps, resyncs, checksums
//! checked and failed, best bid/ask cross-checks, crossed books (each resynced), and
//! levels or trades outside the sanity band (`insane`: the book resynced, the trade dropped).
//!
//! The decoder comes from the venue registry ([`registry::discovering_decoder`]);
//! instruments are discovered from the feed on the `1e-8` grid (see
//! [`crate::venue::exchanges::common`]); a verify run needs no config. Recordings in the
//! simulated market's normalized frames (venue `sim`: `pit record`, and `pit import
//! --format tardis`) go through [`SimDecoder`], which takes its instruments from the
//! header frame; their books are rebuilt from the events and every update that leaves one
//! crossed is counted (they carry no sequence numbers or checksums to check).

use crate::record::CaptureReader;
use crate::venue::exchanges::decode::FeedStats;
use crate::venue::exchanges::registry;
use crate::venue::sim::wire::{self, SimDecoder};
use std::collections::BTreeMap;
use std::path::Path;

/// What a verify run found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub venue: String,
    /// Instrument name -> its counters.
    pub instruments: BTreeMap<String, FeedStats>,
    /// Capture lines read.
    pub lines: u64,
    /// Capture lines that could not be read (torn, not JSON).
    pub skipped_lines: u64,
    /// Malformed frames that named no instrument.
    pub unattributed_malformed: u64,
}

/// Why a file could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}: the recording holds no lines")]
    Empty(String),
    #[error("no decoder for venue '{0}' (known: {known})", known = registry::known())]
    UnknownVenue(String),
}

impl VerifyReport {
    /// Whether any integrity check failed.
    pub fn failed(&self) -> bool {
        self.instruments.values().any(FeedStats::failed)
    }

    /// `{"instruments": {NAME: {"frames", "updates", ...}}}`, all integers.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (name, s) in &self.instruments {
            m.insert(
                name.clone(),
                serde_json::json!({
                    "frames": s.frames,
                    "updates": s.updates,
                    "gaps": s.gaps,
                    "resyncs": s.resyncs,
                    "checksums_checked": s.checksums_checked,
                    "checksums_failed": s.checksums_failed,
                    "bbo_checks_passed": s.bbo_checks_passed,
                    "bbo_checks_failed": s.bbo_checks_failed,
                    "crossed": s.crossed,
                    "insane": s.insane,
                }),
            );
        }
        serde_json::json!({ "instruments": m })
    }

    /// A table for people.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "venue {} | {} lines ({} unreadable) | {} malformed frames naming no instrument",
            self.venue, self.lines, self.skipped_lines, self.unattributed_malformed
        );
        let _ = writeln!(
            t,
            "{:<24} {:>8} {:>8} {:>5} {:>7} {:>9} {:>7} {:>8} {:>8} {:>7} {:>6} {:>9}",
            "instrument",
            "frames",
            "updates",
            "gaps",
            "resyncs",
            "cksum ok?",
            "failed",
            "bbo pass",
            "bbo fail",
            "crossed",
            "insane",
            "malformed"
        );
        for (name, s) in &self.instruments {
            let _ = writeln!(
                t,
                "{:<24} {:>8} {:>8} {:>5} {:>7} {:>9} {:>7} {:>8} {:>8} {:>7} {:>6} {:>9}",
                name,
                s.frames,
                s.updates,
                s.gaps,
                s.resyncs,
                s.checksums_checked,
                s.checksums_failed,
                s.bbo_checks_passed,
                s.bbo_checks_failed,
                s.crossed,
                s.insane,
                s.malformed
            );
        }
        let _ = writeln!(
            t,
            "{}",
            if self.failed() {
                "FAILED: an integrity check failed"
            } else {
                "ok: every integrity check passed"
            }
        );
        t
    }
}

/// Replay `path` through the decoder of its venue (named by its first line).
pub fn verify_file(path: &Path) -> Result<VerifyReport, VerifyError> {
    verify_file_with(path, &indicatif::ProgressBar::hidden())
}

/// [`verify_file`], telling `bar` how many bytes of the file are read.
pub fn verify_file_with(
    path: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<VerifyReport, VerifyError> {
    let file = std::fs::File::open(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open recording {}: {e}", path.display()),
        )
    })?;
    bar.set_length(file.metadata().map_or(0, |m| m.len()));
    let file = bar.wrap_read(file);
    let inner: Box<dyn std::io::BufRead + Send> = if path.extension().is_some_and(|e| e == "zst") {
        Box::new(std::io::BufReader::new(zstd::stream::read::Decoder::new(
            file,
        )?))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let mut reader = CaptureReader::new(inner);
    let Some(first) = reader.next() else {
        return Err(VerifyError::Empty(path.display().to_string()));
    };
    let sim = first.venue == wire::VENUE;
    let mut decoder: Box<dyn crate::venue::exchanges::decode::FrameDecoder> = if sim {
        Box::new(SimDecoder::new(Vec::new()))
    } else {
        registry::discovering_decoder(&first.venue)
            .ok_or_else(|| VerifyError::UnknownVenue(first.venue.clone()))?
    };
    let mut out = Vec::with_capacity(1024);
    let mut lines = 1u64;
    // Sim frames: the books rebuilt from the events, and the updates that crossed one.
    let mut books: Vec<crate::domain::OrderBook> = Vec::new();
    let mut crossed: Vec<u64> = Vec::new();
    let mut check = |out: &[crate::domain::MarketEvent]| {
        if !sim {
            return;
        }
        for e in out {
            let i = e.instrument.index();
            if books.len() <= i {
                books.resize_with(i + 1, crate::domain::OrderBook::new);
                crossed.resize(i + 1, 0);
            }
            let b = &mut books[i];
            match &e.kind {
                crate::domain::MarketEventKind::Snapshot { bids, asks } => {
                    b.apply_snapshot(bids.iter().copied(), asks.iter().copied())
                }
                crate::domain::MarketEventKind::Level { side, price, qty } => {
                    b.update(*side, *price, *qty);
                }
                _ => continue,
            }
            if b.is_crossed() {
                crossed[i] += 1;
            }
        }
    };
    decoder.on_line(&first, &mut out);
    check(&out);
    for line in reader.by_ref() {
        out.clear();
        decoder.on_line(&line, &mut out);
        check(&out);
        lines += 1;
    }
    if let Some(e) = reader.io_error() {
        return Err(VerifyError::Io(std::io::Error::new(
            e.kind(),
            e.to_string(),
        )));
    }
    let mut stats = decoder.stats();
    for (s, c) in stats.iter_mut().zip(crossed) {
        s.crossed += c;
    }
    let instruments = decoder
        .instruments()
        .iter()
        .zip(stats)
        .map(|(i, s)| (i.symbol.clone(), s))
        .collect();
    Ok(VerifyReport {
        venue: first.venue,
        instruments,
        lines,
        skipped_lines: reader.skipped(),
        unattributed_malformed: decoder.unattributed_malformed(),
    })
}
