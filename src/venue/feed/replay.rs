//! [`ReplayFeed`]: a market-data port over a recording. Lines are read, decompressed and
//! decoded by the venue's own [`FrameDecoder`] on a prefetch thread, streaming (never the
//! whole file in memory), and handed to the engine thread in batches. Engine time is the
//! recording's receive time, never the wall clock.
//!
//! ## Instruments of a real venue's capture
//!
//! A capture of a real venue names no tick or lot, and the engine needs its instrument
//! list before the first event. So [`discover_instruments`] first reads a prefix of the
//! file (until every instrument seen has had a snapshot, at least 1 s of receive time has
//! passed and [`SCAN_QUIET_LINES`] lines brought no new instrument; at most [`SCAN_LINES`]
//! lines: no time limit, because a capture of several connections may hold each one's
//! lines in turn, its receive times going back) through the venue's decoder
//! on the exact `1e-8` grid, and gives each instrument found there, in order of
//! appearance, a power-of-ten grid: the tick is `10^-d` for the most significant decimals
//! `d` of any price in the prefix (trailing zeros do not count: Binance writes
//! `"61837.63000000"`, a tick of 0.01), the lot likewise from sizes, the minimum order one
//! lot. An instrument listed under `[[instruments]]` with the same symbol takes the
//! configured `tick_size`, `lot_size` and `min_qty` instead. A number finer than the grid
//! later in the file is a malformed level (counted in the decoder's stats: set the grid in
//! the config). Instruments that first appear after the prefix are not traded; their
//! events are dropped and counted. One venue per file: lines of another venue than the
//! first line's are skipped and counted.
//!
//! A file whose connections were recorded one after another (receive times going back
//! where the next connection's lines start) is read through [`TimeOrdered`], which
//! merges the connections by receive time; the scan and the replay read the same order,
//! and the replay's notes and report say so.

use super::compiled::{self, Block, BlockReader};
pub use super::report::ReplayReport;
use crate::domain::{Instrument, MarketEvent, Timestamp};
use crate::record::{CaptureLine, CaptureReader, TimeOrdered};
use crate::venue::MarketDataPort;
use crate::venue::exchanges::decode::BookLimits;
use crate::venue::exchanges::decode::FrameDecoder;
use crate::venue::exchanges::registry;
use crate::venue::sim::wire::{self, Header, SimDecoder};
use std::io::{self, BufRead, Read};
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
    #[error(
        "{path}: no decoder for venue '{venue}' (known: {}, {})",
        wire::VENUE,
        registry::known()
    )]
    UnknownVenue { path: PathBuf, venue: String },
    #[error(transparent)]
    Compiled(#[from] compiled::CompiledError),
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

type Lines = TimeOrdered<Box<dyn BufRead + Send>>;

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
    /// How each instrument's tick and lot were chosen (real-venue captures).
    grid_notes: Vec<String>,
}

/// Most lines the instrument scan of a real venue's capture reads.
pub const SCAN_LINES: u64 = 200_000;
/// Lines the scan reads past the last new instrument before it may stop (captures of
/// several connections interleave them, their receive times not always in order).
pub const SCAN_QUIET_LINES: u64 = 5_000;

/// Instruments of a real venue's capture with a trading grid, and how the grid was chosen.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub instruments: Vec<Instrument>,
    /// One line per instrument, e.g. `BTCUSDT: tick 0.01, lot 0.00001 (from the capture)`.
    pub notes: Vec<String>,
}

/// Trailing decimal zeros of `v` (0 for 0), at most `cap`.
fn trailing_zeros(mut v: i64, cap: u32) -> u32 {
    if v == 0 {
        return cap;
    }
    let mut n = 0;
    while n < cap && v % 10 == 0 {
        v /= 10;
        n += 1;
    }
    n
}

/// Read a prefix of a real venue's capture and give every instrument found a trading grid
/// (see the module docs). `configured`: the instruments listed under `[[instruments]]`.
pub fn discover_instruments(
    path: &Path,
    venue: &str,
    configured: &[Instrument],
) -> Result<Discovered, ReplayError> {
    use crate::domain::MarketEventKind;
    let unknown = || ReplayError::UnknownVenue {
        path: path.to_path_buf(),
        venue: venue.to_string(),
    };
    let mut d = registry::decoder_on_grid(venue, configured.to_vec()).ok_or_else(unknown)?;
    let mut r = TimeOrdered::open(path)?;
    let mut line = CaptureLine {
        ts_ns: 0,
        venue: String::new(),
        dir: crate::record::Direction::Recv,
        url: String::new(),
        frame: String::new(),
    };
    let mut out = Vec::new();
    // Per instrument: fewest trailing zeros of a price and of a size (units of 1e-8),
    // and whether a snapshot came.
    let mut seen: Vec<(u32, u32, bool)> = Vec::new();
    let mut t0: Option<i64> = None;
    let mut last_new = 0u64;
    let mut known = 0usize;
    let cap = crate::venue::exchanges::common::Scale::AUTO.dp;
    while r.read_into(&mut line) {
        if line.venue != venue {
            continue;
        }
        let t = *t0.get_or_insert(line.ts_ns);
        d.on_line(&line, &mut out);
        for e in out.drain(..) {
            let i = e.instrument.index();
            if seen.len() <= i {
                seen.resize(i + 1, (cap, cap, false));
            }
            let s = &mut seen[i];
            let mut see = |p: i64, q: i64| {
                s.0 = s.0.min(trailing_zeros(p, cap));
                if q != 0 {
                    s.1 = s.1.min(trailing_zeros(q, cap));
                }
            };
            match &e.kind {
                MarketEventKind::Level { price, qty, .. } => see(price.0, qty.0),
                MarketEventKind::Trade(tt) => see(tt.price.0, tt.qty.0),
                MarketEventKind::Snapshot { bids, asks } => {
                    for l in bids.iter().chain(asks) {
                        see(l.price.0, l.qty.0);
                    }
                    s.2 = true;
                }
                _ => {}
            }
        }
        let n = d.instruments().len();
        if n > seen.len() {
            seen.resize(n, (cap, cap, false));
        }
        let read = r.lines_read();
        if n > known {
            known = n;
            last_new = read;
        }
        let elapsed = line.ts_ns.saturating_sub(t);
        let all_synced = n > 0 && seen.iter().all(|s| s.2);
        if (all_synced && elapsed >= 1_000_000_000 && read - last_new >= SCAN_QUIET_LINES)
            || r.lines_read() >= SCAN_LINES
        {
            break;
        }
    }
    let mut instruments = Vec::new();
    let mut notes = Vec::new();
    for (n, inst) in d.instruments().iter().enumerate() {
        let mut inst = inst.clone();
        if configured.iter().any(|c| c.symbol == inst.symbol) {
            notes.push(format!(
                "{}: tick {}, lot {} (from [[instruments]])",
                inst.symbol,
                inst.tick_size.normalize(),
                inst.lot_size.normalize()
            ));
        } else {
            let (pz, qz, _) = seen.get(n).copied().unwrap_or((0, 0, false));
            let tick = rust_decimal::Decimal::new(1, cap - pz);
            let lot = rust_decimal::Decimal::new(1, cap - qz);
            inst = Instrument::new(
                inst.id,
                inst.symbol,
                inst.venue,
                tick,
                lot,
                crate::domain::Qty(1),
            );
            notes.push(format!(
                "{}: tick {}, lot {} (finest decimals in the capture; override with [[instruments]])",
                inst.symbol,
                tick.normalize(),
                lot.normalize()
            ));
        }
        instruments.push(inst);
    }
    Ok(Discovered { instruments, notes })
}

impl ReplayFeed {
    /// Open a recording (`.zst` decompressed on the fly): reads up to the first market
    /// event on this thread (so the instruments and the start time are known), then
    /// starts the prefetch thread. `configured`: the instruments listed under
    /// `[[instruments]]` (a sim recording's until its header names them; a real capture's
    /// grid where they name its symbols).
    pub fn open(path: &Path, configured: &[Instrument]) -> Result<ReplayFeed, ReplayError> {
        Self::open_with(
            path,
            configured,
            BookLimits::default(),
            &Default::default(),
            &Default::default(),
        )
    }

    /// [`ReplayFeed::open`] with the books' trust limits (`[book]`), the instruments'
    /// own sanity bands, by symbol (`[[instruments]] sanity_band_pct`), and the coins per
    /// contract of those whose venue writes sizes in contracts (`contract_value`).
    pub fn open_with(
        path: &Path,
        configured: &[Instrument],
        book_limits: BookLimits,
        bands: &std::collections::BTreeMap<String, u32>,
        contracts: &std::collections::BTreeMap<String, rust_decimal::Decimal>,
    ) -> Result<ReplayFeed, ReplayError> {
        let total = std::fs::metadata(path).map(|m| m.len()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open recording {}: {e}", path.display()),
            )
        })?;
        if compiled::is_compiled(path)? {
            return Self::open_compiled(path, configured, book_limits, bands, contracts, total);
        }
        let read = Arc::new(AtomicU64::new(0));
        // Opened once for the receive-time scan, then once per reader: the first reader
        // reads the whole file once, so its bytes are the progress.
        let counted = read.clone();
        let owned = path.to_path_buf();
        let mut calls = 0u32;
        let mut lines: Lines = TimeOrdered::open_with(
            path,
            Box::new(move || {
                calls += 1;
                if calls == 2 {
                    let read = counted.clone();
                    crate::record::ordered::reader(&owned, move |inner| Counting {
                        inner: Box::new(inner) as Box<dyn Read + Send>,
                        read,
                    })
                } else {
                    crate::record::ordered::reader(&owned, |f| f)
                }
            }),
        )?;
        let progress = Progress { read, total };

        // Up to the first event, here.
        let mut first: Vec<MarketEvent> = Vec::new();
        let mut decoder: Option<Box<dyn FrameDecoder>> = None;
        let mut report = ReplayReport {
            receive_order: lines.note().map(str::to_string),
            ..ReplayReport::default()
        };
        if let Some(n) = lines.note() {
            tracing::warn!("{n}");
        }
        // Real venues: the instruments found by the scan (events of later ones are dropped).
        let mut discovered: Option<Discovered> = None;
        let mut limit = usize::MAX;
        // The replay's venue is that of the file's first line (in file order: a merge by
        // receive time may bring another venue's earlier line forward).
        let file_venue = CaptureReader::open(path)
            .ok()
            .and_then(|mut r| r.next())
            .map(|l| l.venue);
        while first.is_empty() {
            let Some(line) = lines.next() else { break };
            match &mut decoder {
                None if file_venue.as_ref().is_some_and(|v| *v != line.venue) => {
                    report.other_venue += 1;
                    if report.other_venue_name.is_none() {
                        report.other_venue_name = Some(line.venue.clone());
                    }
                }
                None => {
                    let unknown = || ReplayError::UnknownVenue {
                        path: path.to_path_buf(),
                        venue: line.venue.clone(),
                    };
                    let d: Box<dyn FrameDecoder> = if line.venue == wire::VENUE {
                        Box::new(SimDecoder::new(configured.to_vec()))
                    } else {
                        let found = discover_instruments(path, &line.venue, configured)?;
                        limit = found.instruments.len();
                        let d = registry::decoder_on_grid(&line.venue, found.instruments.clone())
                            .ok_or_else(unknown)?;
                        discovered = Some(found);
                        d
                    };
                    let d = decoder.insert(d);
                    d.set_book_limits(book_limits);
                    d.set_sanity_bands(bands);
                    d.set_contract_values(contracts);
                    feed(d.as_mut(), &line, &mut first, &mut report, limit);
                }
                Some(d) => feed(d.as_mut(), &line, &mut first, &mut report, limit),
            }
        }
        let (Some(decoder), false) = (decoder, first.is_empty()) else {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
                skipped: lines.skipped(),
            });
        };
        let (instruments, mut grid_notes) = match discovered {
            Some(f) => (f.instruments, f.notes),
            None => (decoder.instruments().to_vec(), Vec::new()),
        };
        grid_notes.extend(report.receive_order.clone());
        let venue = decoder.venue().to_string();
        let header = (venue == wire::VENUE).then(|| read_header(path)).flatten();
        let first_ts = first[0].ts;

        let report = Arc::new(Mutex::new(report));
        let (tx, rx) = sync_channel::<Vec<MarketEvent>>(IN_FLIGHT);
        let shared = report.clone();
        let spawned = std::thread::Builder::new()
            .name("pit-replay-read".into())
            .spawn(move || prefetch(lines, decoder, tx, shared, limit));
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
            grid_notes,
        })
    }

    /// A compiled file ([`compiled`]): checked whole here (a corrupt block is an error, a
    /// torn tail a note), then read block by block on the prefetch thread.
    fn open_compiled(
        path: &Path,
        configured: &[Instrument],
        book_limits: BookLimits,
        bands: &std::collections::BTreeMap<String, u32>,
        contracts: &std::collections::BTreeMap<String, rust_decimal::Decimal>,
        total: u64,
    ) -> Result<ReplayFeed, ReplayError> {
        let scanned = compiled::scan(path)?;
        scanned.check_inputs(
            path,
            &compiled::DecodeInputs::new(configured, book_limits, bands, contracts),
        )?;
        let Some(first_ts) = scanned.first_ts else {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
                skipped: 0,
            });
        };
        let mut grid_notes = scanned.meta.grid_notes.clone();
        grid_notes.push(scanned.note(path));
        if let Some(t) = &scanned.torn {
            let text = format!(
                "{}: torn at byte {}: {}; the {} events before it are used",
                path.display(),
                t.offset,
                t.what,
                scanned.events
            );
            tracing::warn!("{text}");
            grid_notes.push(text);
        }
        let read = Arc::new(AtomicU64::new(0));
        let mut f = std::fs::File::open(path)?;
        io::Seek::seek(&mut f, io::SeekFrom::Start(scanned.data_start))?;
        read.store(scanned.data_start, Ordering::Relaxed);
        // Unbuffered: each block is read whole into its payload (see `compiled::scan`).
        let reader = Counting {
            inner: f,
            read: read.clone(),
        };
        let blocks = BlockReader::new(reader, scanned.data_start, scanned.data_end, path);
        let report = Arc::new(Mutex::new(ReplayReport::default()));
        let (tx, rx) = sync_channel::<Vec<MarketEvent>>(IN_FLIGHT);
        let shared = report.clone();
        let meta = &scanned.meta;
        let n_inst = meta.instruments.len();
        let (trailer, torn) = (scanned.trailer.clone(), scanned.torn.clone());
        let spawned = std::thread::Builder::new()
            .name("pit-replay-read".into())
            .spawn(move || prefetch_compiled(blocks, n_inst, tx, shared, trailer, torn));
        let rx = match spawned {
            Ok(_) => Some(rx),
            Err(e) => return Err(ReplayError::Io(e)),
        };
        Ok(ReplayFeed {
            instruments: meta.instruments.clone(),
            venue: meta.venue.clone(),
            header: meta.sim_header.clone(),
            buf: Vec::new().into_iter(),
            rx,
            report,
            progress: Progress { read, total },
            first_ts,
            grid_notes,
        })
    }

    /// How each instrument's tick and lot were chosen (none for the simulated market,
    /// whose recordings carry their instruments), and receive times that went back.
    pub fn grid_notes(&self) -> &[String] {
        &self.grid_notes
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

/// One line through the decoder; lines of another venue are skipped and events of
/// instruments at or past `limit` dropped, both counted.
fn feed(
    d: &mut dyn FrameDecoder,
    line: &CaptureLine,
    out: &mut Vec<MarketEvent>,
    report: &mut ReplayReport,
    limit: usize,
) {
    if line.venue != d.venue() {
        if report.other_venue == 0 {
            tracing::warn!(venue = %line.venue, "lines of another venue than the recording's first are skipped (one venue per replay)");
        }
        report.other_venue += 1;
        if report.other_venue_name.is_none() {
            report.other_venue_name = Some(line.venue.clone());
        }
        return;
    }
    let before = out.len();
    d.on_line(line, out);
    if d.instruments().len() > limit {
        let mut kept = before;
        for j in before..out.len() {
            if out[j].instrument.index() < limit {
                out.swap(kept, j);
                kept += 1;
            }
        }
        report.late_instrument_events += (out.len() - kept) as u64;
        out.truncate(kept);
    }
}

fn prefetch(
    mut lines: Lines,
    mut decoder: Box<dyn FrameDecoder>,
    tx: SyncSender<Vec<MarketEvent>>,
    report: Arc<Mutex<ReplayReport>>,
    limit: usize,
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
        feed(decoder.as_mut(), &line, &mut out, &mut local, limit);
        if out.len() >= BATCH {
            // The counters so far (market-data latency for `/metrics`; a batch ahead of
            // the engine at most IN_FLIGHT batches).
            if let Ok(mut r) = report.lock() {
                r.stats = decoder.stats();
            }
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
        if r.other_venue_name.is_none() {
            r.other_venue_name = local.other_venue_name;
        }
        r.late_instrument_events += local.late_instrument_events;
        r.io_error = lines.io_error().map(|e| e.to_string());
        r.stats = decoder.stats();
        r.done = true;
    }
    // `tx` drops here: the feed sees the end after the last batch.
}

/// The prefetch thread of a compiled file: whole blocks decoded into batches. At the end
/// the report is the source's (from the end block), with a torn tail or a read error.
fn prefetch_compiled<R: Read>(
    mut blocks: BlockReader<R>,
    instruments: usize,
    tx: SyncSender<Vec<MarketEvent>>,
    report: Arc<Mutex<ReplayReport>>,
    trailer: Option<compiled::Trailer>,
    torn: Option<compiled::Torn>,
) {
    let mut out = Vec::with_capacity(BATCH + 2048);
    let mut error = None;
    let mut stopped = false;
    let end = blocks.end();
    while blocks.offset < end {
        let at = blocks.offset;
        match blocks.next() {
            Ok(Block::Events(n)) => {
                if let Err(b) = compiled::decode_block(&blocks.payload, n, instruments, &mut out) {
                    error = Some(format!(
                        "{}: corrupt at byte {}: {}",
                        blocks.path().display(),
                        at + 12 + b.at as u64,
                        b.what
                    ));
                    break;
                }
            }
            Ok(Block::End | Block::Torn(_)) => {
                // Checked at open: the file changed since.
                error = Some(format!(
                    "{}: changed while read (byte {at})",
                    blocks.path().display()
                ));
                break;
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
        if out.len() >= BATCH {
            let batch = std::mem::replace(&mut out, Vec::with_capacity(BATCH + 2048));
            if tx.send(batch).is_err() {
                stopped = true;
                break;
            }
        }
    }
    if let Some(e) = &error {
        tracing::error!("{e}; the replay ends here");
    }
    if !stopped && !out.is_empty() {
        let _ = tx.send(out);
    }
    if let Ok(mut r) = report.lock() {
        if let Some(t) = trailer {
            *r = t.report;
            for (s, h) in r.stats.iter_mut().zip(t.md_latency) {
                s.md_latency = h;
            }
        }
        // The source's own read error stays unless this file has one.
        if let Some(e) =
            error.or_else(|| torn.map(|t| format!("torn at byte {}: {}", t.offset, t.what)))
        {
            r.io_error = Some(e);
        }
        r.done = true;
    }
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
    /// The recording's receive times against the frames' event times, as decoded so far.
    fn market_data_latency(&self) -> Vec<crate::engine::view::MdLatency> {
        let stats = self
            .report
            .lock()
            .map(|r| r.stats.clone())
            .unwrap_or_default();
        super::live::md_latency(&self.venue, &self.instruments, &stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_venues_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(
            &p,
            r#"{"ts_ns":1,"venue":"nowhere","dir":"recv","url":"u","frame":"{}"}"#,
        )
        .unwrap();
        let e = ReplayFeed::open(&p, &[]).err().unwrap();
        assert!(e.to_string().contains("nowhere"), "{e}");
        std::fs::write(&p, "torn").unwrap();
        let e = ReplayFeed::open(&p, &[]).err().unwrap();
        assert!(e.to_string().contains("no market data"), "{e}");
    }
}
