//! `pit compile`: a recording's events, as [`ReplayFeed`] decodes them, written to a
//! compiled file ([`super::compiled`], its format, writer and reader). A module of its own
//! so that the arrows go one way: this drains a replay, the replay reads compiled files,
//! and the format knows neither.

use super::compiled::{
    CompiledWriter, DecodeInputs, Meta, SourceInfo, Trailer, is_compiled, read_full,
};
use super::replay::ReplayFeed;
use super::report::ReplayReport;
use crate::domain::Instrument;
use crate::venue::MarketDataPort;
use crate::venue::exchanges::decode::BookLimits;
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// The length and crc32 of a file, streamed.
pub fn file_crc(path: &Path) -> io::Result<(u64, u32)> {
    let mut f = File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = read_full(&mut f, &mut buf)?;
        if got == 0 {
            break;
        }
        h.update(&buf[..got]);
        n += got as u64;
    }
    Ok((n, h.finalize()))
}

/// What [`compile`] did.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub out: PathBuf,
    pub events: u64,
    pub bytes: u64,
    pub source_bytes: u64,
    pub source_crc32: u32,
    pub instruments: Vec<String>,
    pub report: ReplayReport,
}

/// Compile `source` to `out` with the config's decoding settings: the events a replay of
/// `source` gives, written through a temporary file renamed at the end (a crash leaves
/// no half file under `out`).
pub fn compile(
    source: &Path,
    out: &Path,
    configured: &[Instrument],
    limits: BookLimits,
    bands: &BTreeMap<String, u32>,
    contracts: &BTreeMap<String, rust_decimal::Decimal>,
) -> anyhow::Result<Compiled> {
    if is_compiled(source).unwrap_or(false) {
        anyhow::bail!(
            "{}: already a compiled event file (compile its source recording)",
            source.display()
        );
    }
    if let (Ok(a), Ok(b)) = (source.canonicalize(), out.canonicalize())
        && a == b
    {
        anyhow::bail!("{}: --out is the recording itself", out.display());
    }
    let mut feed = ReplayFeed::open_with(source, configured, limits, bands, contracts)?;
    let (bytes, crc32) =
        file_crc(source).with_context(|| format!("cannot read recording {}", source.display()))?;
    let meta = Meta {
        pit_version: env!("CARGO_PKG_VERSION").to_string(),
        source: SourceInfo {
            path: source.display().to_string(),
            bytes,
            crc32,
        },
        venue: feed.venue().to_string(),
        instruments: feed.instruments().to_vec(),
        grid_notes: feed.grid_notes().to_vec(),
        sim_header: feed.header().cloned(),
        decode: DecodeInputs::new(configured, limits, bands, contracts),
    };
    let mut tmp_name = out.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    let written = (|| -> anyhow::Result<(u64, u64, ReplayReport)> {
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = CompiledWriter::new(BufWriter::with_capacity(1 << 20, f), &meta)?;
        while let Some(e) = feed.next_event() {
            w.push(&e)?;
        }
        let report = feed.report();
        let trailer = Trailer {
            events: w.events(),
            md_latency: report.stats.iter().map(|s| s.md_latency).collect(),
            report: report.clone(),
        };
        let events = w.events();
        let (buf, bytes) = w.finish(&trailer)?;
        let f = buf.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok((events, bytes, report))
    })();
    let (events, out_bytes, report) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("cannot write {}", out.display())));
        }
    };
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Compiled {
        out: out.to_path_buf(),
        events,
        bytes: out_bytes,
        source_bytes: bytes,
        source_crc32: crc32,
        instruments: meta
            .instruments
            .iter()
            .map(|i| format!("{}:{}", i.venue, i.symbol))
            .collect(),
        report,
    })
}
