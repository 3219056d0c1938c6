//! [`ReplayFeed`]: a market-data port over a recording. Lines are read, decompressed and
//! decoded by the venue's own [`FrameDecoder`] on a prefetch thread, streaming (never the
//! whole file in memory), and handed to the engine thread in batches. Engine time is the
//! recording's receive time, never the wall clock.

use crate::config::Config;
use crate::domain::{Instrument, MarketEvent, Timestamp};
use crate::record::{CaptureLine, CaptureReader, SkippedLine};
use crate::venue::decode::{FeedStats, FrameDecoder};
use crate::venue::sim_wire::Header;
use crate::venue::{MarketDataPort, decoder_for};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// Events handed from the prefetch thread per batch.
const BATCH: usize = 4096;
/// Batches in flight between the threads.
const IN_FLIGHT: usize = 8;

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{path}: no market data in the recording ({skipped} bad lines skipped)")]
    Empty { path: PathBuf, skipped: u64 },
    #[error("{path}: no decoder for venue '{venue}' (see venue::decoder_for)")]
    UnknownVenue { path: PathBuf, venue: String },
}

/// What the prefetch thread reports at the end (and as it goes).
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// Lines read, good and bad.
    pub lines: u64,
    /// Bad lines skipped (torn, malformed), and the first of them with their reasons.
    pub skipped: u64,
    pub skipped_lines: Vec<SkippedLine>,
    /// Lines of another venue than the recording's first (one venue per replay).
    pub other_venue: u64,
    /// An I/O error that ended the reading early (e.g. a truncated zstd stream).
    pub io_error: Option<String>,
    /// The decoder's counters per instrument.
    pub stats: Vec<FeedStats>,
    /// Whether the whole file has been read.
    pub done: bool,
}

/// Shared progress of a replay: bytes of the file read so far, of `total`.
#[derive(Clone, Debug)]
pub struct Progress {
    read: Arc<AtomicU64>,
    pub total: u64,
}

impl Progress {
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
    /// Fraction read, 0 to 1.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.bytes_read() as f64 / self.total as f64).min(1.0)
        }
    }
}

struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Lines = CaptureReader<Box<dyn BufRead + Send>>;

/// A market-data port over a recording.
pub struct ReplayFeed {
    instruments: Vec<Instrument>,
    venue: String,
    header: Option<Header>,
    /// The batch being consumed.
    buf: std::vec::IntoIter<MarketEvent>,
    rx: Option<Receiver<Vec<MarketEvent>>>,
    report: Arc<Mutex<ReplayReport>>,
    progress: Progress,
    first_ts: Timestamp,
}

impl ReplayFeed {
    /// Open a recording (`.zst` decompressed on the fly): reads up to the first market
    /// event on this thread (so the instruments and the start time are known), then
    /// starts the prefetch thread.
    pub fn open(path: &Path, cfg: &Config) -> Result<ReplayFeed, ReplayError> {
        let file = File::open(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open recording {}: {e}", path.display()),
            )
        })?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: file,
            read: read.clone(),
        };
        let inner: Box<dyn BufRead + Send> = if path.extension().is_some_and(|e| e == "zst") {
            Box::new(BufReader::new(zstd::stream::read::Decoder::new(counting)?))
        } else {
            Box::new(BufReader::with_capacity(1 << 20, counting))
        };
        let mut lines: Lines = CaptureReader::new(inner);
        let progress = Progress { read, total };

        // Up to the first event, here.
        let mut first: Vec<MarketEvent> = Vec::new();
        let mut decoder: Option<Box<dyn FrameDecoder>> = None;
        let mut report = ReplayReport::default();
        while first.is_empty() {
            let Some(line) = lines.next() else { break };
            match &mut decoder {
                None => {
                    let d =
                        decoder_for(&line.venue, cfg).ok_or_else(|| ReplayError::UnknownVenue {
                            path: path.to_path_buf(),
                            venue: line.venue.clone(),
                        })?;
                    decoder.insert(d).on_line(&line, &mut first);
                }
                Some(d) => feed(d.as_mut(), &line, &mut first, &mut report),
            }
        }
        let (Some(decoder), false) = (decoder, first.is_empty()) else {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
                skipped: lines.skipped(),
            });
        };
        let instruments = decoder.instruments().to_vec();
        let venue = decoder.venue().to_string();
        let header = (venue == crate::venue::sim_wire::VENUE)
            .then(|| read_header(path))
            .flatten();
        let first_ts = first[0].ts;

        let report = Arc::new(Mutex::new(report));
        let (tx, rx) = sync_channel::<Vec<MarketEvent>>(IN_FLIGHT);
        let shared = report.clone();
        let spawned = std::thread::Builder::new()
            .name("pit-replay-read".into())
            .spawn(move || prefetch(lines, decoder, tx, shared));
        let rx = match spawned {
            Ok(_) => Some(rx),
            Err(e) => return Err(ReplayError::Io(e)),
        };
        Ok(ReplayFeed {
            instruments,
            venue,
            header,
            buf: first.into_iter(),
            rx,
            report,
            progress,
            first_ts,
        })
    }

    /// The venue of the recording.
    pub fn venue(&self) -> &str {
        &self.venue
    }

    /// Engine time of the first event: a replay's engine starts here.
    pub fn start_time(&self) -> Timestamp {
        self.first_ts
    }

    /// The simulated market's header frame, if the recording has one.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// How far the prefetch thread has read.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Counters so far (complete once [`MarketDataPort::is_finished`]).
    pub fn report(&self) -> ReplayReport {
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// A handle on the counters that outlives the feed (the runner owns the feed).
    pub fn report_handle(&self) -> Arc<Mutex<ReplayReport>> {
        self.report.clone()
    }

    fn fill(&mut self) {
        while self.buf.as_slice().is_empty() {
            let Some(rx) = &self.rx else { return };
            match rx.recv() {
                Ok(batch) => self.buf = batch.into_iter(),
                Err(_) => {
                    self.rx = None;
                }
            }
        }
    }
}

/// The header frame of a sim recording (its first line), read separately.
fn read_header(path: &Path) -> Option<Header> {
    let mut r = CaptureReader::open(path).ok()?;
    r.next().and_then(|l| Header::parse(&l.frame))
}

fn feed(
    d: &mut dyn FrameDecoder,
    line: &CaptureLine,
    out: &mut Vec<MarketEvent>,
    report: &mut ReplayReport,
) {
    if line.venue != d.venue() {
        report.other_venue += 1;
        return;
    }
    d.on_line(line, out);
}

fn prefetch(
    mut lines: Lines,
    mut decoder: Box<dyn FrameDecoder>,
    tx: SyncSender<Vec<MarketEvent>>,
    report: Arc<Mutex<ReplayReport>>,
) {
    let mut local = ReplayReport::default();
    let mut out = Vec::with_capacity(BATCH + 64);
    let mut stopped = false;
    let mut line = CaptureLine {
        ts_ns: 0,
        venue: String::new(),
        dir: crate::record::Direction::Recv,
        url: String::new(),
        frame: String::new(),
    };
    while lines.read_into(&mut line) {
        feed(decoder.as_mut(), &line, &mut out, &mut local);
        if out.len() >= BATCH {
            let batch = std::mem::replace(&mut out, Vec::with_capacity(BATCH + 64));
            if tx.send(batch).is_err() {
                stopped = true;
                break;
            }
        }
    }
    if !stopped && !out.is_empty() {
        let _ = tx.send(out);
    }
    if let Ok(mut r) = report.lock() {
        r.lines = lines.lines_read();
        r.skipped = lines.skipped();
        r.skipped_lines = lines.skipped_lines().to_vec();
        r.other_venue += local.other_venue;
        r.io_error = lines.io_error().map(|e| e.to_string());
        r.stats = decoder.stats();
        r.done = true;
    }
    // `tx` drops here: the feed sees the end after the last batch.
}

impl MarketDataPort for ReplayFeed {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    fn peek_time(&mut self) -> Option<Timestamp> {
        if let Some(e) = self.buf.as_slice().first() {
            return Some(e.ts);
        }
        self.fill();
        self.buf.as_slice().first().map(|e| e.ts)
    }
    fn next_event(&mut self) -> Option<MarketEvent> {
        if let Some(e) = self.buf.next() {
            return Some(e);
        }
        self.fill();
        self.buf.next()
    }
    fn is_finished(&self) -> bool {
        self.rx.is_none() && self.buf.as_slice().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TradingState;
    use crate::record::CaptureWriter;
    use crate::venue::sim_wire;

    #[test]
    fn a_recording_replays_to_the_same_events_torn_last_line_and_all() {
        let cfg = Config::default();
        let mut a = crate::setup::assemble(&cfg, 3, TradingState::Active).unwrap();
        let events: Vec<_> = (0..20_000).filter_map(|_| a.market.next_event()).collect();
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.jsonl", "r.jsonl.zst"] {
            let path = dir.path().join(name);
            let mut w = CaptureWriter::create(&path).unwrap();
            let h = sim_wire::Header::new(cfg.instrument_list(), events[0].ts, None);
            w.write(&h.line(events[0].ts)).unwrap();
            for e in &events {
                w.write(&sim_wire::line(e.ts, sim_wire::encode(e))).unwrap();
            }
            w.flush().unwrap();
            drop(w);
            if name == "r.jsonl" {
                // A crash mid-write: half a line at the end.
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(br#"{"ts_ns":1,"venue":"sim","dir":"recv","url":"sim:"#)
                    .unwrap();
            }
            let mut feed = ReplayFeed::open(&path, &cfg).unwrap();
            assert_eq!(feed.instruments(), &cfg.instrument_list()[..]);
            assert_eq!(feed.start_time(), events[0].ts);
            let mut got = Vec::new();
            while let Some(e) = feed.next_event() {
                got.push(e);
            }
            assert!(feed.is_finished());
            assert_eq!(got, events, "{name}");
            let r = feed.report();
            assert!(r.done);
            let torn = if name == "r.jsonl" { 1 } else { 0 };
            assert_eq!(r.skipped, torn, "{name}: {r:?}");
            if torn == 1 {
                assert!(r.skipped_lines[0].reason.contains("torn"), "{r:?}");
            }
        }
    }

    #[test]
    fn unknown_venues_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(
            &p,
            r#"{"ts_ns":1,"venue":"nowhere","dir":"recv","url":"u","frame":"{}"}"#,
        )
        .unwrap();
        let e = ReplayFeed::open(&p, &Config::default()).err().unwrap();
        assert!(e.to_string().contains("nowhere"), "{e}");
        std::fs::write(&p, "torn").unwrap();
        let e = ReplayFeed::open(&p, &Config::default()).err().unwrap();
        assert!(e.to_string().contains("no market data"), "{e}");
    }
}
