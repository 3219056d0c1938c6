//! Compiled recordings (`pit compile`): a recording's market events as the replay decodes
//! them (after the venue's decoder, its books' trust limits and sanity bands, the
//! instrument scan), in a compact, versioned binary file that [`ReplayFeed`] reads
//! wherever a recording is accepted. It is detected by its magic, not by its name.
//!
//! A backtest of the compiled file feeds the engine exactly the events a backtest of the
//! source feeds it, so the fills (`fill_log_sha256`) are the same; what it saves is the
//! JSON parsing and decoding of every run.
//!
//! ## Layout (little-endian)
//!
//! ```text
//! header  magic "PITEVTS\0" (8) | version u32 | meta length u32 | meta (JSON) | crc32 u32
//!         (the crc covers everything before it)
//! blocks  payload length u32 | events u32 | crc32 u32 (of the two fields before it and
//!         the payload) | payload: the events' records, whole
//! end     a block whose events field is u32::MAX: its payload is the trailer (JSON: the
//!         source's replay report), and the file ends there
//! record  kind u8 | side u8 | instrument u16 | n u32 | ts i64 | price i64 | qty i64 |
//!         aux i64   (40 bytes)
//!         1 level:    side, price, qty (ticks and lots, the engine's integers)
//!         2 trade:    side = aggressor, price, qty, aux = the trade's own time
//!         3 snapshot: n bid levels, aux ask levels, then (price i64, qty i64) per level
//!         4 resync:   n bytes of UTF-8 reason follow
//! ```
//!
//! The record codec is written by hand, not with serde: a few fixed fields, read and
//! written with `from_le_bytes` at fixed offsets, is what makes reading fast (the point
//! of the file). The meta and the trailer, once per file, are JSON.
//!
//! Opening a file checks the header, then every block's length and crc32 (a streaming
//! pass, never the whole file in memory): a corrupt header or block is an error naming
//! the file and the byte offset; a file that ends inside a block or before its end block
//! (a torn tail: the compiler died, a copy was cut) is reported and the events of the
//! whole blocks before it are used, as a torn line of a recording is skipped and
//! reported. A file of another format version is an error that says to compile again.

use crate::domain::{
    Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, Price, Qty, Side, Timestamp,
    TradeTick,
};
use crate::engine::execstats::LatencyHist;
use crate::venue::exchanges::decode::BookLimits;
use crate::venue::feed::report::ReplayReport;
use crate::venue::sim::wire::Header;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The first eight bytes of a compiled file.
pub const MAGIC: [u8; 8] = *b"PITEVTS\0";
/// The format version this pit writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of one record.
pub const RECORD: usize = 40;
/// Bytes of a block header.
const BLOCK_HEAD: usize = 12;
/// A block is closed once its payload reaches this size.
const BLOCK_TARGET: usize = 64 * 1024;
/// Largest block payload a reader accepts (a longer length is corruption; one event
/// larger than this cannot be compiled).
pub const MAX_BLOCK: u32 = 256 << 20;
/// Largest meta a reader accepts.
const MAX_META: u32 = 64 << 20;
/// The `events` field of the end block.
const END: u32 = u32::MAX;

const KIND_LEVEL: u8 = 1;
const KIND_TRADE: u8 = 2;
const KIND_SNAPSHOT: u8 = 3;
const KIND_RESYNC: u8 = 4;

/// What the events were decoded with, besides the recording: the config's instruments,
/// books' trust limits and sanity bands. A compiled file is read only under the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeInputs {
    pub instruments: Vec<Instrument>,
    pub sanity_band_pct: u32,
    pub max_seq_jump: i64,
    pub bands: BTreeMap<String, u32>,
    /// Coins per contract (`[[instruments]] contract_value`).
    #[serde(default)]
    pub contracts: BTreeMap<String, rust_decimal::Decimal>,
}

impl DecodeInputs {
    pub fn new(
        configured: &[Instrument],
        limits: BookLimits,
        bands: &BTreeMap<String, u32>,
        contracts: &BTreeMap<String, rust_decimal::Decimal>,
    ) -> Self {
        DecodeInputs {
            instruments: configured.to_vec(),
            sanity_band_pct: limits.sanity_band_pct,
            max_seq_jump: limits.max_seq_jump,
            bands: bands.clone(),
            contracts: contracts.clone(),
        }
    }

    /// Which of the inputs differ from `other`, in config words.
    fn differences(&self, other: &DecodeInputs) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.instruments != other.instruments {
            d.push("[[instruments]]");
        }
        if self.sanity_band_pct != other.sanity_band_pct {
            d.push("book.sanity_band_pct");
        }
        if self.max_seq_jump != other.max_seq_jump {
            d.push("book.max_seq_jump");
        }
        if self.bands != other.bands {
            d.push("[[instruments]] sanity_band_pct");
        }
        if self.contracts != other.contracts {
            d.push("[[instruments]] contract_value");
        }
        d
    }
}

/// The source a file was compiled from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub path: String,
    pub bytes: u64,
    pub crc32: u32,
}

/// The header's meta: what a replay needs before the first event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The pit that compiled it.
    pub pit_version: String,
    pub source: SourceInfo,
    pub venue: String,
    pub instruments: Vec<Instrument>,
    /// How the instruments' grids were chosen (a real venue's capture).
    pub grid_notes: Vec<String>,
    /// The simulated market's header frame, if the source had one.
    pub sim_header: Option<Header>,
    pub decode: DecodeInputs,
}

/// The end block's payload: the source's replay report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Trailer {
    pub events: u64,
    pub report: ReplayReport,
    /// The decoder's market-data latency per instrument (not in the report's serde form).
    pub md_latency: Vec<LatencyHist>,
}

/// Why a compiled file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CompiledError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: a compiled event file of format version {found}; this pit reads version {VERSION}: compile the recording again (pit compile RECORDING --out {})",
        path.display(),
        path.display()
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{}: corrupt compiled event file at byte {offset}: {what}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error(
        "{}: compiled with other decoding settings than this config's ({}): compile it again with this config (pit compile {} --out {})",
        path.display(),
        what.join(", "),
        source_path,
        path.display()
    )]
    Settings {
        path: PathBuf,
        what: Vec<&'static str>,
        source_path: String,
    },
}

/// Whether `path` starts with the compiled file's magic. A file shorter than the magic
/// is not one.
pub fn is_compiled(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut m = [0u8; 8];
    let mut got = 0;
    while got < m.len() {
        match f.read(&mut m[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(m == MAGIC)
}

// ------------------------------------------------------------------------ writing

/// Writes a compiled file: the header at once, events into blocks, the end block last.
pub struct CompiledWriter<W: Write> {
    out: W,
    block: Vec<u8>,
    block_events: u32,
    events: u64,
    bytes: u64,
}

fn crc(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(payload);
    h.finalize()
}

#[allow(clippy::too_many_arguments)]
fn put(buf: &mut Vec<u8>, kind: u8, side: u8, inst: u16, n: u32, ts: i64, a: i64, b: i64, c: i64) {
    buf.push(kind);
    buf.push(side);
    buf.extend_from_slice(&inst.to_le_bytes());
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
    buf.extend_from_slice(&a.to_le_bytes());
    buf.extend_from_slice(&b.to_le_bytes());
    buf.extend_from_slice(&c.to_le_bytes());
}

fn side_byte(s: Side) -> u8 {
    match s {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

fn too_big(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} too large for a compiled event file"),
    )
}

impl<W: Write> CompiledWriter<W> {
    /// Write the header.
    pub fn new(mut out: W, meta: &Meta) -> io::Result<Self> {
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        let len = u32::try_from(json.len())
            .ok()
            .filter(|&l| l <= MAX_META)
            .ok_or_else(|| too_big("the header"))?;
        let mut head = Vec::with_capacity(20 + json.len());
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        head.extend_from_slice(&json);
        let c = crc32fast::hash(&head);
        head.extend_from_slice(&c.to_le_bytes());
        out.write_all(&head)?;
        Ok(CompiledWriter {
            out,
            block: Vec::with_capacity(BLOCK_TARGET + 4096),
            block_events: 0,
            events: 0,
            bytes: head.len() as u64,
        })
    }

    /// Append one event.
    pub fn push(&mut self, e: &MarketEvent) -> io::Result<()> {
        let inst = e.instrument.0;
        let ts = e.ts.0;
        let b = &mut self.block;
        match &e.kind {
            MarketEventKind::Level { side, price, qty } => put(
                b,
                KIND_LEVEL,
                side_byte(*side),
                inst,
                0,
                ts,
                price.0,
                qty.0,
                0,
            ),
            MarketEventKind::Trade(t) => put(
                b,
                KIND_TRADE,
                side_byte(t.aggressor),
                inst,
                0,
                ts,
                t.price.0,
                t.qty.0,
                t.ts.0,
            ),
            MarketEventKind::Snapshot { bids, asks } => {
                let nb = u32::try_from(bids.len()).map_err(|_| too_big("a snapshot"))?;
                let na = asks.len() as i64;
                put(b, KIND_SNAPSHOT, 0, inst, nb, ts, 0, 0, na);
                for l in bids.iter().chain(asks) {
                    b.extend_from_slice(&l.price.0.to_le_bytes());
                    b.extend_from_slice(&l.qty.0.to_le_bytes());
                }
            }
            MarketEventKind::Resyncing { reason } => {
                let n = u32::try_from(reason.len()).map_err(|_| too_big("a reason"))?;
                put(b, KIND_RESYNC, 0, inst, n, ts, 0, 0, 0);
                b.extend_from_slice(reason.as_bytes());
            }
        }
        if b.len() > MAX_BLOCK as usize {
            return Err(too_big("an event"));
        }
        self.block_events += 1;
        self.events += 1;
        if self.block.len() >= BLOCK_TARGET {
            self.flush_block()?;
        }
        Ok(())
    }

    fn write_block(&mut self, events: u32, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_BLOCK)
            .ok_or_else(|| too_big("a block"))?;
        let mut head = [0u8; BLOCK_HEAD];
        head[0..4].copy_from_slice(&len.to_le_bytes());
        head[4..8].copy_from_slice(&events.to_le_bytes());
        let c = crc(&head[0..8], payload);
        head[8..12].copy_from_slice(&c.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(payload)?;
        self.bytes += (BLOCK_HEAD + payload.len()) as u64;
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block_events == 0 {
            return Ok(());
        }
        let payload = std::mem::take(&mut self.block);
        let r = self.write_block(self.block_events, &payload);
        self.block = payload;
        self.block.clear();
        self.block_events = 0;
        r
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last block and the end block; the writer back, flushed.
    pub fn finish(mut self, trailer: &Trailer) -> io::Result<(W, u64)> {
        self.flush_block()?;
        let json = serde_json::to_vec(trailer).map_err(io::Error::other)?;
        self.write_block(END, &json)?;
        self.out.flush()?;
        Ok((self.out, self.bytes))
    }
}

// ------------------------------------------------------------------------ reading

/// Why a block's records cannot be decoded: the byte offset in the payload and what.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub at: usize,
    pub what: String,
}

#[inline]
fn i64_at(r: &[u8; RECORD], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&r[at..at + 8]);
    i64::from_le_bytes(a)
}

#[inline]
fn side_of(b: u8) -> Option<Side> {
    match b {
        0 => Some(Side::Buy),
        1 => Some(Side::Sell),
        _ => None,
    }
}

/// Decode a block's `events` records from `payload` into `out`. `instruments`: how many
/// the file names (a record of another is bad). Never panics: every length is checked.
pub fn decode_block(
    payload: &[u8],
    events: u32,
    instruments: usize,
    out: &mut Vec<MarketEvent>,
) -> Result<(), BadRecord> {
    let mut pos = 0usize;
    let bad = |at: usize, what: &str| BadRecord {
        at,
        what: what.to_string(),
    };
    out.reserve((events as usize).min(payload.len() / RECORD));
    for _ in 0..events {
        let Some(r) = payload
            .get(pos..pos + RECORD)
            .and_then(|s| <&[u8; RECORD]>::try_from(s).ok())
        else {
            return Err(bad(pos, "the block ends inside a record"));
        };
        let inst = u16::from_le_bytes([r[2], r[3]]);
        if inst as usize >= instruments {
            return Err(bad(
                pos,
                &format!("instrument #{inst} is not in the header"),
            ));
        }
        let n = u32::from_le_bytes([r[4], r[5], r[6], r[7]]) as usize;
        let ts = Timestamp(i64_at(r, 8));
        let (price, qty, aux) = (i64_at(r, 16), i64_at(r, 24), i64_at(r, 32));
        let rec = pos;
        pos += RECORD;
        let kind = match r[0] {
            KIND_LEVEL | KIND_TRADE => {
                let Some(side) = side_of(r[1]) else {
                    return Err(bad(rec, &format!("side byte {}", r[1])));
                };
                if qty < 0 {
                    return Err(bad(rec, &format!("negative size {qty}")));
                }
                let (price, qty) = (Price(price), Qty(qty));
                if r[0] == KIND_LEVEL {
                    MarketEventKind::Level { side, price, qty }
                } else {
                    MarketEventKind::Trade(TradeTick {
                        ts: Timestamp(aux),
                        price,
                        qty,
                        aggressor: side,
                    })
                }
            }
            KIND_SNAPSHOT => {
                let left = (payload.len() - pos) / 16;
                let asks = usize::try_from(aux).ok().filter(|&a| a <= left);
                let Some(asks) = asks.filter(|&a| n <= left - a) else {
                    return Err(bad(rec, "snapshot levels past the block's end"));
                };
                let level = |pos: &mut usize| -> Result<Level, BadRecord> {
                    let mut p = [0u8; 8];
                    let mut q = [0u8; 8];
                    p.copy_from_slice(&payload[*pos..*pos + 8]);
                    q.copy_from_slice(&payload[*pos + 8..*pos + 16]);
                    *pos += 16;
                    let qty = i64::from_le_bytes(q);
                    if qty < 0 {
                        return Err(bad(*pos - 16, &format!("negative size {qty}")));
                    }
                    Ok(Level {
                        price: Price(i64::from_le_bytes(p)),
                        qty: Qty(qty),
                    })
                };
                let mut bids = Vec::with_capacity(n);
                for _ in 0..n {
                    bids.push(level(&mut pos)?);
                }
                let mut a = Vec::with_capacity(asks);
                for _ in 0..asks {
                    a.push(level(&mut pos)?);
                }
                MarketEventKind::Snapshot { bids, asks: a }
            }
            KIND_RESYNC => {
                let Some(text) = payload.get(pos..pos.saturating_add(n)) else {
                    return Err(bad(rec, "a reason past the block's end"));
                };
                let Ok(reason) = std::str::from_utf8(text) else {
                    return Err(bad(rec, "a reason that is not UTF-8"));
                };
                pos += n;
                MarketEventKind::Resyncing {
                    reason: reason.to_string(),
                }
            }
            k => return Err(bad(rec, &format!("record kind {k}"))),
        };
        out.push(MarketEvent {
            ts,
            instrument: InstrumentId(inst),
            kind,
        });
    }
    if pos != payload.len() {
        return Err(bad(pos, "bytes after the block's last record"));
    }
    Ok(())
}

/// A file ending before its end block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// Where the unusable tail starts.
    pub offset: u64,
    pub what: String,
}

/// What opening a compiled file found.
#[derive(Clone, Debug)]
pub struct Scanned {
    pub meta: Meta,
    /// Byte offset of the first block.
    pub data_start: u64,
    /// Byte offset after the last whole block of events.
    pub data_end: u64,
    /// Events in the whole blocks.
    pub events: u64,
    /// The first event's time, if any.
    pub first_ts: Option<Timestamp>,
    /// The end block's trailer (none for a torn file).
    pub trailer: Option<Trailer>,
    pub torn: Option<Torn>,
    pub file_len: u64,
}

/// Fill `buf` from `r`; how many bytes came (fewer only at the end of the file).
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One block read and checked: `Ok(None)` at a torn tail (said in `torn`).
pub(crate) struct BlockReader<R> {
    r: R,
    pub offset: u64,
    end: u64,
    path: PathBuf,
    pub payload: Vec<u8>,
}

pub(crate) enum Block {
    Events(u32),
    End,
    Torn(Torn),
}

impl<R: Read> BlockReader<R> {
    pub(crate) fn new(r: R, offset: u64, end: u64, path: &Path) -> Self {
        BlockReader {
            r,
            offset,
            end,
            path: path.to_path_buf(),
            payload: Vec::with_capacity(BLOCK_TARGET + 4096),
        }
    }

    /// Where the blocks end (the file's length at open, or the end of its whole blocks).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, offset: u64, what: String) -> CompiledError {
        CompiledError::Corrupt {
            path: self.path.clone(),
            offset,
            what,
        }
    }

    /// The next block into `payload`, its crc checked.
    pub(crate) fn next(&mut self) -> Result<Block, CompiledError> {
        let at = self.offset;
        let io = |e| CompiledError::Io {
            path: self.path.clone(),
            source: e,
        };
        let mut head = [0u8; BLOCK_HEAD];
        let got = read_full(&mut self.r, &mut head).map_err(io)?;
        if got < BLOCK_HEAD {
            let what = if got == 0 {
                "the file ends before its end block".to_string()
            } else {
                format!("the file ends inside a block header ({got} of {BLOCK_HEAD} bytes)")
            };
            return Ok(Block::Torn(Torn { offset: at, what }));
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let events = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let want = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if len > MAX_BLOCK {
            return Err(self.corrupt(at, format!("a block length of {len} bytes")));
        }
        let body = at + BLOCK_HEAD as u64;
        if body + len as u64 > self.end {
            return Ok(Block::Torn(Torn {
                offset: at,
                what: format!(
                    "the file ends inside a block ({} of its {len} bytes)",
                    self.end.saturating_sub(body)
                ),
            }));
        }
        self.payload.resize(len as usize, 0);
        let got = read_full(&mut self.r, &mut self.payload).map_err(io)?;
        if got < len as usize {
            return Ok(Block::Torn(Torn {
                offset: at,
                what: format!("the file ends inside a block ({got} of its {len} bytes)"),
            }));
        }
        if crc(&head[0..8], &self.payload) != want {
            return Err(self.corrupt(at, "a block's crc32 does not match".into()));
        }
        self.offset = body + len as u64;
        if events == END {
            Ok(Block::End)
        } else if (events as u64) * (RECORD as u64) > len as u64 {
            Err(self.corrupt(at, format!("{events} events in a block of {len} bytes")))
        } else {
            Ok(Block::Events(events))
        }
    }
}

/// Read and check a compiled file's header; the meta and the offset of the first block.
fn read_header(r: &mut impl Read, path: &Path) -> Result<(Meta, u64), CompiledError> {
    let io = |e| CompiledError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let corrupt = |offset: u64, what: &str| CompiledError::Corrupt {
        path: path.to_path_buf(),
        offset,
        what: what.to_string(),
    };
    let mut head = [0u8; 16];
    let got = read_full(r, &mut head).map_err(io)?;
    if got < 8 || head[0..8] != MAGIC {
        return Err(corrupt(0, "not a compiled event file (no magic)"));
    }
    if got < 12 {
        return Err(corrupt(got as u64, "the file ends inside the header"));
    }
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if version != VERSION {
        return Err(CompiledError::Version {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if got < 16 {
        return Err(corrupt(got as u64, "the file ends inside the header"));
    }
    let len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
    if len > MAX_META {
        return Err(corrupt(12, &format!("a header length of {len} bytes")));
    }
    let mut meta = vec![0u8; len as usize + 4];
    let got = read_full(r, &mut meta).map_err(io)?;
    if got < meta.len() {
        return Err(corrupt(16 + got as u64, "the file ends inside the header"));
    }
    let (json, c) = meta.split_at(len as usize);
    let want = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    if crc(&head, json) != want {
        return Err(corrupt(0, "the header's crc32 does not match"));
    }
    let meta: Meta = serde_json::from_slice(json)
        .map_err(|e| corrupt(16, &format!("the header does not parse: {e}")))?;
    if meta.instruments.is_empty() || meta.instruments.len() > u16::MAX as usize + 1 {
        return Err(corrupt(16, "the header names no instruments"));
    }
    Ok((meta, 16 + len as u64 + 4))
}

/// Open `path` and check it all (a streaming pass): its header, and every block's length
/// and crc32. A torn tail is reported in [`Scanned::torn`], not an error.
pub fn scan(path: &Path) -> Result<Scanned, CompiledError> {
    let io = |e| CompiledError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = File::open(path).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    // Unbuffered: a block is read whole into its payload (a buffer in between copied
    // every byte twice); a header is two reads.
    let mut r = f;
    let (meta, data_start) = read_header(&mut r, path)?;
    let mut blocks = BlockReader::new(r, data_start, file_len, path);
    let (mut events, mut first_ts, mut data_end) = (0u64, None, data_start);
    let (mut trailer, mut torn) = (None, None);
    loop {
        let at = blocks.offset;
        match blocks.next()? {
            Block::Events(n) => {
                if first_ts.is_none() && n > 0 {
                    let mut first = Vec::new();
                    decode_block(&blocks.payload, n, meta.instruments.len(), &mut first)
                        .map_err(|b| blocks.corrupt(at + (BLOCK_HEAD + b.at) as u64, b.what))?;
                    first_ts = first.first().map(|e| e.ts);
                }
                events += n as u64;
                data_end = blocks.offset;
            }
            Block::End => {
                let t: Trailer = serde_json::from_slice(&blocks.payload).map_err(|e| {
                    blocks.corrupt(at, format!("the end block does not parse: {e}"))
                })?;
                if blocks.offset != file_len {
                    return Err(blocks.corrupt(
                        blocks.offset,
                        format!("{} bytes after the end block", file_len - blocks.offset),
                    ));
                }
                if t.events != events {
                    return Err(blocks.corrupt(
                        at,
                        format!(
                            "the end block counts {} events, the blocks hold {events}",
                            t.events
                        ),
                    ));
                }
                trailer = Some(t);
                break;
            }
            Block::Torn(t) => {
                torn = Some(t);
                break;
            }
        }
    }
    Ok(Scanned {
        meta,
        data_start,
        data_end,
        events,
        first_ts,
        trailer,
        torn,
        file_len,
    })
}

impl Scanned {
    /// Refuse a file decoded with other settings than `now` (the config's).
    pub fn check_inputs(&self, path: &Path, now: &DecodeInputs) -> Result<(), CompiledError> {
        let what = self.meta.decode.differences(now);
        if what.is_empty() {
            Ok(())
        } else {
            Err(CompiledError::Settings {
                path: path.to_path_buf(),
                what,
                source_path: self.meta.source.path.clone(),
            })
        }
    }

    /// What the file is, in words.
    pub fn note(&self, path: &Path) -> String {
        format!(
            "{}: compiled events ({} events) of {} ({} bytes, crc32 {:08x}) by pit {}",
            path.display(),
            self.events,
            self.meta.source.path,
            self.meta.source.bytes,
            self.meta.source.crc32,
            self.meta.pit_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::io::BufReader;

    fn inst(n: u16) -> Instrument {
        Instrument::new(
            InstrumentId(n),
            format!("S{n}"),
            "sim",
            Decimal::new(1, 2),
            Decimal::new(1, 3),
            Qty(1),
        )
    }

    fn meta() -> Meta {
        Meta {
            pit_version: "test".into(),
            source: SourceInfo {
                path: "src.jsonl".into(),
                bytes: 10,
                crc32: 7,
            },
            venue: "sim".into(),
            instruments: vec![inst(0), inst(1)],
            grid_notes: vec![],
            sim_header: None,
            decode: DecodeInputs::new(
                &[],
                BookLimits::default(),
                &BTreeMap::new(),
                &BTreeMap::new(),
            ),
        }
    }

    fn events(n: usize) -> Vec<MarketEvent> {
        (0..n)
            .map(|i| {
                let ts = Timestamp(1_000 + i as i64);
                let instrument = InstrumentId((i % 2) as u16);
                let kind = match i % 7 {
                    0 => MarketEventKind::Snapshot {
                        bids: (0..(i % 5))
                            .map(|k| Level {
                                price: Price(100 - k as i64),
                                qty: Qty(k as i64 + 1),
                            })
                            .collect(),
                        asks: (0..(i % 3))
                            .map(|k| Level {
                                price: Price(101 + k as i64),
                                qty: Qty(2),
                            })
                            .collect(),
                    },
                    1 => MarketEventKind::Trade(TradeTick {
                        ts: Timestamp(900 + i as i64),
                        price: Price(-5),
                        qty: Qty(3),
                        aggressor: Side::Sell,
                    }),
                    2 => MarketEventKind::Resyncing {
                        reason: format!("gap é {i}"),
                    },
                    _ => MarketEventKind::Level {
                        side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                        price: Price(i64::MAX - i as i64),
                        qty: Qty(i as i64),
                    },
                };
                MarketEvent {
                    ts,
                    instrument,
                    kind,
                }
            })
            .collect()
    }

    fn file_of(evs: &[MarketEvent]) -> Vec<u8> {
        let mut w = CompiledWriter::new(Vec::new(), &meta()).unwrap();
        for e in evs {
            w.push(e).unwrap();
        }
        let t = Trailer {
            events: w.events(),
            ..Trailer::default()
        };
        w.finish(&t).unwrap().0
    }

    /// Every event of a scanned file, decoded.
    fn read_all(path: &Path) -> Result<(Scanned, Vec<MarketEvent>), CompiledError> {
        let s = scan(path)?;
        let mut f = File::open(path).unwrap();
        let mut skip = vec![0u8; s.data_start as usize];
        f.read_exact(&mut skip).unwrap();
        let mut b = BlockReader::new(BufReader::new(f), s.data_start, s.data_end, path);
        let mut out = Vec::new();
        while b.offset < s.data_end {
            match b.next()? {
                Block::Events(n) => {
                    decode_block(&b.payload, n, s.meta.instruments.len(), &mut out).unwrap()
                }
                _ => unreachable!(),
            }
        }
        Ok((s, out))
    }

    #[test]
    fn events_come_back_as_written_across_blocks() {
        let evs = events(5_000);
        let bytes = file_of(&evs);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.bin");
        std::fs::write(&p, &bytes).unwrap();
        assert!(is_compiled(&p).unwrap());
        let (s, got) = read_all(&p).unwrap();
        assert!(
            s.data_end - s.data_start > 2 * BLOCK_TARGET as u64,
            "several blocks"
        );
        assert_eq!(s.events, 5_000);
        assert_eq!(s.first_ts, Some(Timestamp(1_000)));
        assert!(s.torn.is_none() && s.trailer.is_some());
        assert_eq!(got, evs);
    }

    #[test]
    fn a_torn_tail_keeps_the_whole_blocks_and_says_where() {
        let evs = events(5_000);
        let bytes = file_of(&evs);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.bin");
        let cut = bytes.len() * 2 / 3;
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let (s, got) = read_all(&p).unwrap();
        let torn = s.torn.clone().expect("torn");
        assert!(
            torn.offset < cut as u64 && torn.offset == s.data_end,
            "{torn:?}"
        );
        assert!(torn.what.contains("ends inside a block"), "{torn:?}");
        assert!(!got.is_empty() && got.len() < evs.len());
        assert_eq!(got[..], evs[..got.len()], "a prefix of the events");
        // Without its end block only.
        let end = bytes.len()
            - BLOCK_HEAD
            - serde_json::to_vec(&Trailer {
                events: 5_000,
                ..Trailer::default()
            })
            .unwrap()
            .len();
        std::fs::write(&p, &bytes[..end]).unwrap();
        let (s, got) = read_all(&p).unwrap();
        assert_eq!(got, evs);
        assert_eq!(s.torn.unwrap().what, "the file ends before its end block");
    }

    #[test]
    fn corruption_and_versions_are_errors_that_name_the_file_and_the_byte() {
        let bytes = file_of(&events(3_000));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.bin");
        // A flipped bit in the second block.
        let s = {
            std::fs::write(&p, &bytes).unwrap();
            scan(&p).unwrap()
        };
        let mut bad = bytes.clone();
        let at = s.data_start as usize + BLOCK_HEAD + BLOCK_TARGET + 200;
        bad[at] ^= 0x10;
        std::fs::write(&p, &bad).unwrap();
        let e = scan(&p).unwrap_err().to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains("crc32"),
            "{e}"
        );
        let CompiledError::Corrupt { offset, .. } = scan(&p).unwrap_err() else {
            panic!()
        };
        assert!(
            offset > s.data_start && offset <= at as u64,
            "{offset} vs {at}"
        );
        // The header.
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        let e = scan(&p).unwrap_err().to_string();
        assert!(e.contains("at byte 0: the header's crc32"), "{e}");
        // Another version.
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&p, &bad).unwrap();
        let e = scan(&p).unwrap_err().to_string();
        assert!(
            e.contains("format version 2") && e.contains("compile the recording again"),
            "{e}"
        );
        // Bytes after the end.
        let mut bad = bytes.clone();
        bad.extend_from_slice(b"xx");
        std::fs::write(&p, &bad).unwrap();
        let e = scan(&p).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "at byte {}: 2 bytes after the end block",
                bytes.len()
            )),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_file_never_panics_and_gives_a_prefix_or_an_error() {
        let evs = events(400);
        let bytes = file_of(&evs);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.bin");
        for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            if let Ok((s, got)) = read_all(&p) {
                assert!(s.torn.is_some(), "cut {cut}");
                assert_eq!(got[..], evs[..got.len()], "cut {cut}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any bytes as a block: decoded or refused, never a panic, never more events
        /// than asked.
        #[test]
        fn any_block_payload_decodes_or_is_refused(payload in proptest::collection::vec(any::<u8>(), 0..400), n in 0u32..12) {
            let mut out = Vec::new();
            if decode_block(&payload, n, 2, &mut out).is_ok() {
                prop_assert_eq!(out.len(), n as usize);
            }
        }

        /// A valid file with random bytes overwritten: a scan never panics; what it
        /// accepts decodes without a panic.
        #[test]
        fn a_damaged_file_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
            let mut bytes = file_of(&events(60));
            for (at, b) in flips {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("e.bin");
            std::fs::write(&p, &bytes).unwrap();
            if let Ok(s) = scan(&p) {
                let mut f = File::open(&p).unwrap();
                let mut skip = vec![0u8; s.data_start as usize];
                f.read_exact(&mut skip).unwrap();
                let mut b = BlockReader::new(BufReader::new(f), s.data_start, s.data_end, &p);
                let mut out = Vec::new();
                while b.offset < s.data_end {
                    match b.next() {
                        Ok(Block::Events(n)) => { let _ = decode_block(&b.payload, n, s.meta.instruments.len(), &mut out); }
                        _ => break,
                    }
                }
            }
        }
    }
}
