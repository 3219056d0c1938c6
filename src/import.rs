//! `pit import`: other recording formats into the capture-line format.
//!
//! * **Tardis.dev `incremental_book_L2` CSV** (`exchange,symbol,timestamp,local_timestamp,
//!   is_snapshot,side,price,amount`, times in microseconds): already normalized, so it
//!   becomes the normalized sim frames ([`crate::venue::sim::wire`]) read by `SimDecoder`:
//!   a header with one instrument per symbol (tick and lot from `--tick`/`--lot`, else the
//!   finest decimals seen), a snapshot frame per run of snapshot rows, a level frame per
//!   update row, stamped with `local_timestamp`. The url names the source
//!   (`tardis://exchange/symbol`).
//! * **hftbacktest raw lines** (`<ts_ns> <json>`: local receive time, then the venue's raw
//!   frame): each line becomes a `recv` line of `--venue`, so it replays through that
//!   venue's own decoder.
//!
//! Inputs may be plain or `.zst`; outputs are `.zst`-compressed when the name ends so.

use crate::domain::{
    Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, Price, Qty, Side, Timestamp,
};
use crate::record::{CaptureLine, CaptureWriter, Direction};
use crate::venue::sim::wire;
use anyhow::{Context, bail};
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The formats `pit import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tardis.dev incremental_book_L2 CSV.
    Tardis,
    /// hftbacktest raw `<ts_ns> <json>` lines.
    Hftbacktest,
}

/// `pit import` arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct ImportArgs {
    /// The input format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The file to read (plain or .zst).
    pub input: PathBuf,
    /// The capture-line file to write (.jsonl or .jsonl.zst).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// hftbacktest: the venue whose frames these are (e.g. binance).
    #[arg(long)]
    pub venue: Option<String>,
    /// hftbacktest: the url to record (the WebSocket endpoint).
    #[arg(long, default_value = "")]
    pub url: String,
    /// Tardis: price tick (default: the finest price decimals in the file).
    #[arg(long)]
    pub tick: Option<Decimal>,
    /// Tardis: size lot (default: the finest amount decimals in the file).
    #[arg(long)]
    pub lot: Option<Decimal>,
}

/// Open the input, telling `bar` how far it is read.
fn open(path: &Path, bar: &indicatif::ProgressBar) -> anyhow::Result<Box<dyn BufRead>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    bar.set_length(f.metadata().map_or(0, |m| m.len()));
    bar.set_position(0);
    let f = bar.wrap_read(f);
    Ok(if path.extension().is_some_and(|e| e == "zst") {
        Box::new(BufReader::new(zstd::stream::read::Decoder::new(f)?))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, f))
    })
}

/// Run an import; prints a one-line summary on stderr.
pub fn run(a: &ImportArgs) -> anyhow::Result<()> {
    let mut w = CaptureWriter::create(&a.out)?;
    let bar = crate::progress::bytes(0, "import");
    let n = match a.format {
        Format::Hftbacktest => {
            let venue = a
                .venue
                .as_deref()
                .context("--venue is needed for hftbacktest files (e.g. --venue binance)")?;
            hftbacktest(open(&a.input, &bar)?, venue, &a.url, &mut w)?
        }
        Format::Tardis => {
            let (tick, lot) = match (a.tick, a.lot) {
                (Some(t), Some(l)) => (t, l),
                (t, l) => {
                    let (ft, fl) = tardis_grid(open(&a.input, &bar)?)?;
                    (t.unwrap_or(ft), l.unwrap_or(fl))
                }
            };
            tardis(open(&a.input, &bar)?, tick, lot, &mut w)?
        }
    };
    w.flush()?;
    bar.finish_and_clear();
    eprintln!("imported {n} lines into {}", a.out.display());
    Ok(())
}

/// `<ts_ns> <json>` lines into `recv` capture lines. Blank lines are skipped; a line
/// without a timestamp is an error naming its number.
pub fn hftbacktest(
    input: impl BufRead,
    venue: &str,
    url: &str,
    w: &mut CaptureWriter,
) -> anyhow::Result<u64> {
    let mut n = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let line = line.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let Some((ts, frame)) = line.split_once(' ') else {
            bail!("line {}: expected '<ts_ns> <json>'", i + 1);
        };
        let ts_ns: i64 = ts
            .parse()
            .with_context(|| format!("line {}: bad timestamp '{ts}'", i + 1))?;
        w.write(&CaptureLine {
            ts_ns,
            venue: venue.to_string(),
            dir: Direction::Recv,
            url: url.to_string(),
            frame: frame.to_string(),
        })?;
        n += 1;
    }
    Ok(n)
}

/// One row of a Tardis incremental_book_L2 CSV.
struct Row {
    exchange: String,
    symbol: String,
    local_us: i64,
    snapshot: bool,
    bid: bool,
    price: Decimal,
    amount: Decimal,
}

/// The rows of a Tardis CSV, read by the `csv` crate (RFC 4180: quoted fields, commas and
/// quotes inside them, CRLF). The header row (`exchange,...`) and blank lines are skipped;
/// each row comes with its line number for messages.
fn rows(input: impl BufRead) -> impl Iterator<Item = anyhow::Result<(u64, Row)>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input)
        .into_records()
        .filter_map(|rec| {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => return Some(Err(anyhow::anyhow!("bad CSV: {e}"))),
            };
            let no = rec.position().map_or(0, |p| p.line());
            if rec.get(0) == Some("exchange") || rec.iter().all(str::is_empty) {
                return None;
            }
            Some(row(&rec, no).map(|r| (no, r)))
        })
}

fn row(f: &csv::StringRecord, no: u64) -> anyhow::Result<Row> {
    if f.len() < 8 {
        bail!("line {no}: expected 8 columns, got {}", f.len());
    }
    let dec = |s: &str, what: &str| -> anyhow::Result<Decimal> {
        s.parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(s))
            .with_context(|| format!("line {no}: bad {what} '{s}'"))
    };
    Ok(Row {
        exchange: f[0].to_string(),
        symbol: f[1].to_string(),
        local_us: f[3]
            .parse()
            .with_context(|| format!("line {no}: bad local_timestamp '{}'", &f[3]))?,
        snapshot: &f[4] == "true",
        bid: match &f[5] {
            "bid" => true,
            "ask" => false,
            s => bail!("line {no}: bad side '{s}'"),
        },
        price: dec(&f[6], "price")?,
        amount: dec(&f[7], "amount")?,
    })
}

/// The finest price and amount grids in a Tardis file.
fn tardis_grid(input: impl BufRead) -> anyhow::Result<(Decimal, Decimal)> {
    let (mut ps, mut qs) = (0u32, 0u32);
    for r in rows(input) {
        let (_, r) = r?;
        ps = ps.max(r.price.normalize().scale());
        qs = qs.max(r.amount.normalize().scale());
    }
    Ok((Decimal::new(1, ps), Decimal::new(1, qs)))
}

/// A Tardis file into normalized sim frames (see the module docs). The events are held in
/// memory until the end, because the header (every symbol) must come first.
pub fn tardis(
    input: impl BufRead,
    tick: Decimal,
    lot: Decimal,
    w: &mut CaptureWriter,
) -> anyhow::Result<u64> {
    if tick <= Decimal::ZERO || lot <= Decimal::ZERO {
        bail!("tick and lot must be positive");
    }
    // Frames are buffered per file: the header (instruments) must come first.
    let mut insts: Vec<Instrument> = Vec::new();
    let mut out: Vec<(i64, MarketEvent)> = Vec::new();
    let mut snap: Option<(usize, i64, Vec<Level>, Vec<Level>)> = None;
    let flush = |snap: &mut Option<(usize, i64, Vec<Level>, Vec<Level>)>,
                 out: &mut Vec<(i64, MarketEvent)>| {
        if let Some((i, ts, mut bids, mut asks)) = snap.take() {
            bids.sort_by_key(|l| std::cmp::Reverse(l.price));
            asks.sort_by_key(|l| l.price);
            out.push((
                ts,
                MarketEvent {
                    ts: Timestamp(ts),
                    instrument: InstrumentId(i as u16),
                    kind: MarketEventKind::Snapshot { bids, asks },
                },
            ));
        }
    };
    for r in rows(input) {
        let (no, r) = r?;
        let i = match insts.iter().position(|x| x.symbol == r.symbol) {
            Some(i) => i,
            None => {
                if insts.len() >= usize::from(u16::MAX) {
                    bail!("too many symbols");
                }
                insts.push(Instrument::new(
                    InstrumentId(insts.len() as u16),
                    &r.symbol,
                    &r.exchange,
                    tick,
                    lot,
                    Qty(1),
                ));
                insts.len() - 1
            }
        };
        let ts = r.local_us.saturating_mul(1000);
        let to_ticks = |d: Decimal, g: Decimal, what: &str| -> anyhow::Result<i64> {
            let t = d / g;
            if t.fract() != Decimal::ZERO {
                bail!("line {no}: {what} {d} is not on the grid {g}");
            }
            i64::try_from(t).with_context(|| format!("line {no}: {what} out of range"))
        };
        let level = Level::new(
            Price(to_ticks(r.price, tick, "price")?),
            Qty(to_ticks(r.amount, lot, "amount")?),
        );
        if r.snapshot {
            let same = matches!(&snap, Some((si, sts, ..)) if *si == i && *sts == ts);
            if !same {
                flush(&mut snap, &mut out);
                snap = Some((i, ts, Vec::new(), Vec::new()));
            }
            if let Some((_, _, bids, asks)) = &mut snap
                && !level.qty.is_zero()
            {
                if r.bid {
                    bids.push(level)
                } else {
                    asks.push(level)
                }
            }
            continue;
        }
        flush(&mut snap, &mut out);
        out.push((
            ts,
            MarketEvent {
                ts: Timestamp(ts),
                instrument: InstrumentId(i as u16),
                kind: MarketEventKind::Level {
                    side: if r.bid { Side::Buy } else { Side::Sell },
                    price: level.price,
                    qty: level.qty,
                },
            },
        ));
    }
    flush(&mut snap, &mut out);
    let Some(first) = out.first().map(|e| e.0) else {
        bail!("no book rows");
    };
    let url = format!(
        "tardis://{}",
        insts.first().map(|i| i.venue.as_str()).unwrap_or("")
    );
    let mut h = wire::Header::new(insts, Timestamp(first), None).line(Timestamp(first));
    h.url = url.clone();
    w.write(&h)?;
    let mut buf = String::new();
    for (ts, ev) in &out {
        wire::encode_into(ev, &mut buf);
        let mut l = wire::line(Timestamp(*ts), buf.clone());
        l.url = url.clone();
        w.write(&l)?;
    }
    Ok(out.len() as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::venue::MarketDataPort;
    use crate::venue::feed::replay::ReplayFeed;

    const CSV: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
deribit,BTC-PERPETUAL,1000,1001,true,ask,100.5,10
deribit,BTC-PERPETUAL,1000,1001,true,bid,100.0,20
deribit,BTC-PERPETUAL,1000,1001,true,bid,99.5,5
deribit,BTC-PERPETUAL,2000,2002,false,bid,100.0,0
deribit,BTC-PERPETUAL,3000,3003,false,ask,101.0,1.5
";

    #[test]
    fn tardis_csv_becomes_a_replayable_recording() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("t.csv");
        std::fs::write(&input, CSV).unwrap();
        let out = dir.path().join("t.jsonl");
        run(&ImportArgs {
            format: Format::Tardis,
            input,
            out: out.clone(),
            venue: None,
            url: String::new(),
            tick: None,
            lot: None,
        })
        .unwrap();
        let mut feed = ReplayFeed::open(&out, &Config::default().instrument_list()).unwrap();
        let inst = &feed.instruments()[0];
        assert_eq!(inst.symbol, "BTC-PERPETUAL");
        // The finest decimals seen: 0.1 for both.
        assert_eq!(inst.tick_size, Decimal::new(1, 1));
        assert_eq!(inst.lot_size, Decimal::new(1, 1));
        let evs: Vec<_> = std::iter::from_fn(|| feed.next_event()).collect();
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].ts, Timestamp(1_001_000));
        assert_eq!(
            evs[0].kind,
            MarketEventKind::Snapshot {
                bids: vec![
                    Level::new(Price(1000), Qty(200)),
                    Level::new(Price(995), Qty(50))
                ],
                asks: vec![Level::new(Price(1005), Qty(100))],
            }
        );
        assert_eq!(
            evs[2].kind,
            MarketEventKind::Level {
                side: Side::Sell,
                price: Price(1010),
                qty: Qty(15)
            }
        );
    }

    /// Quoted fields (as spreadsheets and some exports write them), CRLF line ends and a
    /// quoted header read as the plain file does; a bad row names its line.
    #[test]
    fn tardis_csv_with_quoted_fields_and_crlf_reads_as_the_plain_one() {
        let quoted = "\"exchange\",\"symbol\",\"timestamp\",\"local_timestamp\",\"is_snapshot\",\"side\",\"price\",\"amount\"\r
\"deribit\",\"BTC-PERPETUAL\",1000,1001,true,ask,\"100.5\",10\r
deribit,\"BTC-PERPETUAL\",1000,1001,true,bid,100.0,\"20\"\r
deribit,BTC-PERPETUAL,1000,1001,true,\"bid\",99.5,5\r
deribit,BTC-PERPETUAL,2000,2002,false,bid,100.0,0\r
deribit,BTC-PERPETUAL,3000,3003,false,ask,\"101.0\",1.5\r
";
        let read = |text: &str| {
            let mut w = CaptureWriter::from_writer(Box::new(Vec::new()));
            let (t, l) = tardis_grid(text.as_bytes()).unwrap();
            let n = tardis(text.as_bytes(), t, l, &mut w).unwrap();
            let rows: Vec<_> = rows(text.as_bytes()).map(|r| r.unwrap().1.symbol).collect();
            (t, l, n, rows)
        };
        assert_eq!(read(quoted), read(CSV));
        assert_eq!(read(quoted).2, 4);
        let bad = "deribit,BTC-PERPETUAL,1000,1001,true,ask,100.5,10\nderibit,\"BTC,PERP\",1,2,true,up,1,1\n";
        let mut w = CaptureWriter::from_writer(Box::new(std::io::sink()));
        let e = tardis(bad.as_bytes(), Decimal::new(5, 1), Decimal::ONE, &mut w).unwrap_err();
        assert!(e.to_string().contains("line 2: bad side 'up'"), "{e}");
    }

    #[test]
    fn hftbacktest_lines_become_recv_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("h.jsonl");
        let mut w = CaptureWriter::create(&out).unwrap();
        let text = "1723075200000000000 {\"stream\":\"btcusdt@trade\"}\n\n1723075200000000001 {}\n";
        let n = hftbacktest(text.as_bytes(), "binance", "wss://x", &mut w).unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(n, 2);
        let lines: Vec<_> = crate::record::CaptureReader::open(&out).unwrap().collect();
        assert_eq!(lines[0].ts_ns, 1_723_075_200_000_000_000);
        assert_eq!(lines[0].venue, "binance");
        assert_eq!(lines[0].frame, "{\"stream\":\"btcusdt@trade\"}");
        let mut w = CaptureWriter::from_writer(Box::new(std::io::sink()));
        let e = hftbacktest("nonsense\n".as_bytes(), "binance", "", &mut w).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
