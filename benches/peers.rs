//! pit side by side with hftbacktest (issue 14): the same input, in one run, each side fed
//! its native form (pit: `Side`/`Price`/`Qty` in integer ticks and lots; hftbacktest: `f64`
//! price and quantity), decoded once outside the timed part. A correctness check runs first:
//! after every frame every book must give the same best bid and ask, or the bench stops.
//!
//! Rows (medians of several runs; `pit / peer` < 1 means pit is faster):
//! - book apply on the Binance capture's diff levels (HashMap and ROI-vector depths);
//! - a snapshot of the capture's 2,000 levels, best first;
//! - synthetic books of 500 / 1k / 5k / 10k levels a side, updates uniform over the depth
//!   and top-weighted;
//! - frame -> book on the capture's depth frames (pit's decoder against serde structs feeding
//!   a HashMap or ROI-vector depth), in MB/s of frame text.
//!
//! The capture is `../shared/captures/binance-spot-btcusdt-2024-08-08.jsonl` (or
//! `PIT_CAPTURES_DIR`); its rows are skipped, saying so, when it is absent. The synthetic
//! rows always run. `cargo bench --bench peers` (a few seconds; `PEERS_RUNS=N` for more runs).

use hftbacktest::backtest::data::Data;
use hftbacktest::depth::{
    ApplySnapshot, HashMapMarketDepth, INVALID_MAX, INVALID_MIN, L2MarketDepth, MarketDepth,
    ROIVectorMarketDepth,
};
use hftbacktest::types::{
    BUY_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, Event, LOCAL_EVENT, SELL_EVENT,
};
use pit::domain::{Level, MarketEvent, MarketEventKind, OrderBook, Price, Qty, Side};
use pit::record::{CaptureLine, CaptureReader, Direction};
use pit::venue::exchanges::registry::discovering_decoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// pit's native form of one level update.
type PitUpd = (Side, Price, Qty);
/// hftbacktest's native form: (is bid, price, quantity).
type HftUpd = (bool, f64, f64);

fn runs() -> usize {
    std::env::var("PEERS_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
        .max(1)
}

/// Median over `runs()` of `f`'s time, divided by `units`, in ns per unit. `setup` runs
/// outside the timed part.
fn median_ns<S, T>(units: usize, mut setup: impl FnMut() -> S, mut f: impl FnMut(S) -> T) -> f64 {
    let mut v: Vec<f64> = (0..runs())
        .map(|_| {
            let s = setup();
            let t = Instant::now();
            black_box(f(s));
            t.elapsed().as_nanos() as f64 / units.max(1) as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn row(what: &str, pit: f64, peers: &[(&str, f64)], unit: &str) {
    let peer_txt: Vec<String> = peers.iter().map(|(n, v)| format!("{n} {v:.1}")).collect();
    let ratio_txt: Vec<String> = peers
        .iter()
        .map(|(_, v)| format!("{:.2}", pit / v))
        .collect();
    println!(
        "| {what} | {pit:.1} {unit} | {} | {} |",
        peer_txt.join(" · "),
        ratio_txt.join(" · ")
    );
}

/// MB/s rows: the ratio is peer time / pit time, i.e. pit's throughput over the peer's.
fn row_mbs(what: &str, pit: f64, peers: &[(&str, f64)]) {
    let peer_txt: Vec<String> = peers.iter().map(|(n, v)| format!("{n} {v:.0}")).collect();
    let ratio_txt: Vec<String> = peers
        .iter()
        .map(|(_, v)| format!("{:.2}", v / pit))
        .collect();
    println!(
        "| {what} | {pit:.0} MB/s | {} | {} (time) |",
        peer_txt.join(" · "),
        ratio_txt.join(" · ")
    );
}

fn pit_apply(book: &mut OrderBook, upds: &[PitUpd]) {
    for &(side, price, qty) in upds {
        black_box(book.update(side, price, qty));
    }
}

fn hft_apply<D: L2MarketDepth>(depth: &mut D, upds: &[HftUpd]) {
    for &(bid, px, qty) in upds {
        if bid {
            black_box(depth.update_bid_depth(px, qty, 0));
        } else {
            black_box(depth.update_ask_depth(px, qty, 0));
        }
    }
}

fn hft_snapshot_data(bids: &[HftUpd], asks: &[HftUpd]) -> Data<Event> {
    let ev = |side: u64, px: f64, qty: f64| Event {
        ev: EXCH_EVENT | LOCAL_EVENT | DEPTH_SNAPSHOT_EVENT | side,
        exch_ts: 0,
        local_ts: 0,
        px,
        qty,
        order_id: 0,
        ival: 0,
        fval: 0.0,
    };
    let v: Vec<Event> = bids
        .iter()
        .map(|&(_, p, q)| ev(BUY_EVENT, p, q))
        .chain(asks.iter().map(|&(_, p, q)| ev(SELL_EVENT, p, q)))
        .collect();
    Data::from_data(&v)
}

/// The best bid and ask in pit's units, and in the peer's ticks, must name the same prices.
fn check_same_bbo<D: MarketDepth>(
    what: &str,
    frame: usize,
    book: &OrderBook,
    per_tick: i64,
    peer: &D,
) {
    let bid = book
        .best_bid()
        .map_or(INVALID_MIN, |l| l.price.0 / per_tick);
    let ask = book
        .best_ask()
        .map_or(INVALID_MAX, |l| l.price.0 / per_tick);
    assert_eq!(
        (bid, ask),
        (peer.best_bid_tick(), peer.best_ask_tick()),
        "{what}: best bid/ask differ after frame {frame}"
    );
}

// ---------------------------------------------------------------- the Binance capture

struct Capture {
    /// Depth frames and the REST snapshot, in receive order.
    lines: Vec<CaptureLine>,
    /// The snapshot, best first, both forms.
    snap_pit: (Vec<Level>, Vec<Level>),
    snap_hft: (Vec<HftUpd>, Vec<HftUpd>),
    /// The diff levels after the snapshot, and where each frame's levels end.
    upd_pit: Vec<PitUpd>,
    upd_hft: Vec<HftUpd>,
    frame_ends: Vec<usize>,
    /// pit's price units per Binance tick (0.01 USDT).
    per_tick: i64,
}

const TICK: f64 = 0.01;
const LOT: f64 = 0.00001;

fn load_capture() -> Option<Capture> {
    let dir = match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures"),
    };
    let path = dir.join("binance-spot-btcusdt-2024-08-08.jsonl");
    if !path.exists() {
        println!(
            "capture rows skipped: {} is absent (set PIT_CAPTURES_DIR)",
            path.display()
        );
        return None;
    }
    let lines: Vec<CaptureLine> = CaptureReader::open(&path)
        .ok()?
        .filter(|l| l.dir == Direction::Http || l.frame.contains("depthUpdate"))
        .collect();
    let mut d = discovering_decoder("binance").expect("binance decoder");
    let mut out: Vec<MarketEvent> = Vec::new();
    let mut snap_pit = None;
    let (mut upd_pit, mut frame_ends) = (Vec::new(), Vec::new());
    for l in &lines {
        out.clear();
        d.on_line(l, &mut out);
        for e in &out {
            match &e.kind {
                MarketEventKind::Snapshot { bids, asks } if snap_pit.is_none() => {
                    snap_pit = Some((bids.clone(), asks.clone()))
                }
                MarketEventKind::Level { side, price, qty } if snap_pit.is_some() => {
                    upd_pit.push((*side, *price, *qty))
                }
                MarketEventKind::Level { .. } => {}
                other => panic!("unexpected event in the Binance depth stream: {other:?}"),
            }
        }
        if snap_pit.is_some() && frame_ends.last() != Some(&upd_pit.len()) {
            frame_ends.push(upd_pit.len());
        }
    }
    let inst = d.instruments().first().expect("an instrument").clone();
    let per_unit = 1.0 / inst.tick_size.to_string().parse::<f64>().expect("tick");
    let per_tick = (per_unit * TICK).round() as i64;
    let to_hft = |side: Side, p: Price, q: Qty| {
        (
            side == Side::Buy,
            p.0 as f64 / per_unit,
            q.0 as f64 * inst.lot_size.to_string().parse::<f64>().expect("lot"),
        )
    };
    let snap_pit = snap_pit.expect("a snapshot in the capture");
    let snap_hft = (
        snap_pit
            .0
            .iter()
            .map(|l| to_hft(Side::Buy, l.price, l.qty))
            .collect(),
        snap_pit
            .1
            .iter()
            .map(|l| to_hft(Side::Sell, l.price, l.qty))
            .collect(),
    );
    let upd_hft = upd_pit.iter().map(|&(s, p, q)| to_hft(s, p, q)).collect();
    Some(Capture {
        lines,
        snap_pit,
        snap_hft,
        upd_pit,
        upd_hft,
        frame_ends,
        per_tick,
    })
}

fn capture_rows(c: &Capture) {
    let pit_book = || {
        let mut b = OrderBook::new();
        b.apply_snapshot(c.snap_pit.0.iter().copied(), c.snap_pit.1.iter().copied());
        b
    };
    let mid = (c.snap_hft.0[0].1 + c.snap_hft.1[0].1) / 2.0;
    let hash = || {
        let mut d = HashMapMarketDepth::new(TICK, LOT);
        d.apply_snapshot(&hft_snapshot_data(&c.snap_hft.0, &c.snap_hft.1));
        d
    };
    let roi = || {
        let mut d = ROIVectorMarketDepth::new(TICK, LOT, mid * 0.95, mid * 1.05);
        d.apply_snapshot(&hft_snapshot_data(&c.snap_hft.0, &c.snap_hft.1));
        d
    };

    // Correctness first: the same best bid and ask after every frame.
    let (mut b, mut h, mut r) = (pit_book(), hash(), roi());
    check_same_bbo("snapshot/HashMap", 0, &b, c.per_tick, &h);
    check_same_bbo("snapshot/ROI", 0, &b, c.per_tick, &r);
    let mut start = 0;
    for (i, &end) in c.frame_ends.iter().enumerate() {
        pit_apply(&mut b, &c.upd_pit[start..end]);
        hft_apply(&mut h, &c.upd_hft[start..end]);
        hft_apply(&mut r, &c.upd_hft[start..end]);
        check_same_bbo("capture/HashMap", i + 1, &b, c.per_tick, &h);
        check_same_bbo("capture/ROI", i + 1, &b, c.per_tick, &r);
        start = end;
    }
    // And the frame -> book pipelines agree with each other.
    frame_pipelines(c);
    eprintln!(
        "correctness: {} frames, {} diff levels: pit, HashMap and ROI agree on the best bid and ask after every frame",
        c.frame_ends.len(),
        c.upd_pit.len()
    );

    let n = c.upd_pit.len();
    let p = median_ns(n, pit_book, |mut b| pit_apply(&mut b, &c.upd_pit));
    let hh = median_ns(n, hash, |mut d| hft_apply(&mut d, &c.upd_hft));
    let rr = median_ns(n, roi, |mut d| hft_apply(&mut d, &c.upd_hft));
    row(
        &format!("book apply, capture's {n} diff levels"),
        p,
        &[("HashMap", hh), ("ROI", rr)],
        "ns/update",
    );

    let levels = c.snap_pit.0.len() + c.snap_pit.1.len();
    let data = hft_snapshot_data(&c.snap_hft.0, &c.snap_hft.1);
    let p = median_ns(levels, OrderBook::new, |mut b| {
        b.apply_snapshot(c.snap_pit.0.iter().copied(), c.snap_pit.1.iter().copied());
        b
    });
    let hh = median_ns(
        levels,
        || HashMapMarketDepth::new(TICK, LOT),
        |mut d| {
            d.apply_snapshot(&data);
            d
        },
    );
    row(
        &format!("snapshot, {levels} levels best-first"),
        p,
        &[("HashMap", hh)],
        "ns/level",
    );

    let bytes: usize = c.lines.iter().map(|l| l.frame.len()).sum();
    let mbs = |ns_per_byte: f64| 1e3 / ns_per_byte;
    let p = median_ns(bytes, || (), |_| frame_pipelines_pit(c));
    let hh = median_ns(
        bytes,
        || (),
        |_| serde_pipeline(c, &mut HashMapMarketDepth::new(TICK, LOT)),
    );
    let rr = median_ns(
        bytes,
        || (),
        |_| {
            serde_pipeline(
                c,
                &mut ROIVectorMarketDepth::new(TICK, LOT, mid * 0.95, mid * 1.05),
            )
        },
    );
    row_mbs(
        "frame -> book, Binance depth frames",
        mbs(p),
        &[("serde + HashMap", mbs(hh)), ("serde + ROI", mbs(rr))],
    );
}

/// pit's decoder over the depth frames and the snapshot: the book it keeps.
fn frame_pipelines_pit(c: &Capture) -> usize {
    let mut d = discovering_decoder("binance").expect("binance decoder");
    let mut out = Vec::with_capacity(4096);
    for l in &c.lines {
        out.clear();
        d.on_line(l, &mut out);
    }
    d.book(0).map_or(0, |b| b.depth(Side::Buy))
}

/// The peer's pipeline: serde structs borrowed from the frame, `f64` prices, the depth.
#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    data: DepthUpdate<'a>,
}
#[derive(Deserialize)]
struct DepthUpdate<'a> {
    #[serde(rename = "u")]
    last: u64,
    #[serde(borrow, rename = "b")]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow, rename = "a")]
    asks: Vec<(&'a str, &'a str)>,
}
#[derive(Deserialize)]
struct RestDepth<'a> {
    #[serde(rename = "lastUpdateId")]
    last: u64,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
}

fn num(s: &str) -> f64 {
    s.parse().expect("a Binance number")
}

fn serde_pipeline<D: L2MarketDepth + MarketDepth>(c: &Capture, d: &mut D) -> i64 {
    let mut synced: Option<u64> = None;
    for l in &c.lines {
        if l.dir == Direction::Http {
            let s: RestDepth = serde_json::from_str(&l.frame).expect("the REST snapshot");
            d.clear_depth(hftbacktest::types::Side::None, 0.0);
            for (p, q) in s.bids {
                d.update_bid_depth(num(p), num(q), 0);
            }
            for (p, q) in s.asks {
                d.update_ask_depth(num(p), num(q), 0);
            }
            synced = Some(s.last);
        } else {
            let f: Combined = serde_json::from_str(&l.frame).expect("a depth frame");
            if synced.is_some_and(|s| f.data.last > s) {
                for (p, q) in f.data.bids {
                    d.update_bid_depth(num(p), num(q), 0);
                }
                for (p, q) in f.data.asks {
                    d.update_ask_depth(num(p), num(q), 0);
                }
            }
        }
    }
    d.best_bid_tick()
}

/// The correctness check of the frame pipelines: the same final best bid and ask.
fn frame_pipelines(c: &Capture) {
    let mut d = discovering_decoder("binance").expect("binance decoder");
    let mut out = Vec::new();
    for l in &c.lines {
        d.on_line(l, &mut out);
    }
    let mut h = HashMapMarketDepth::new(TICK, LOT);
    serde_pipeline(c, &mut h);
    let book = d.book(0).expect("pit's decoder ends synced");
    check_same_bbo("frame -> book/HashMap", c.lines.len(), book, c.per_tick, &h);
}

// ---------------------------------------------------------------- synthetic books

const MID: i64 = 1_000_000;

/// A book of `n` levels a side on consecutive ticks around `MID`, and `m` updates (a
/// fifth of them deletes) at depths drawn uniformly or weighted to the top (depth = n u^4).
fn synthetic(n: usize, m: usize, top_weighted: bool) -> (Vec<PitUpd>, Vec<PitUpd>) {
    let mut rng = ChaCha8Rng::seed_from_u64(14 + n as u64);
    let mut snap = Vec::with_capacity(2 * n);
    for d in 0..n as i64 {
        snap.push((
            Side::Buy,
            Price(MID - 1 - d),
            Qty(rng.random_range(1..1000)),
        ));
        snap.push((
            Side::Sell,
            Price(MID + 1 + d),
            Qty(rng.random_range(1..1000)),
        ));
    }
    let upds = (0..m)
        .map(|_| {
            let u: f64 = rng.random();
            let d = if top_weighted {
                (n as f64 * u.powi(4)) as i64
            } else {
                (n as f64 * u) as i64
            }
            .min(n as i64 - 1);
            let qty = if rng.random_bool(0.2) {
                0
            } else {
                rng.random_range(1..1000)
            };
            if rng.random_bool(0.5) {
                (Side::Buy, Price(MID - 1 - d), Qty(qty))
            } else {
                (Side::Sell, Price(MID + 1 + d), Qty(qty))
            }
        })
        .collect();
    (snap, upds)
}

fn synthetic_rows() {
    const M: usize = 200_000;
    const STEP: usize = 1_000;
    for top_weighted in [false, true] {
        for n in [500, 1_000, 5_000, 10_000] {
            let (snap, upds) = synthetic(n, M, top_weighted);
            let hft = |v: &[PitUpd]| -> Vec<HftUpd> {
                v.iter()
                    .map(|&(s, p, q)| (s == Side::Buy, p.0 as f64 * TICK, q.0 as f64 * LOT))
                    .collect()
            };
            let (snap_h, upds_h) = (hft(&snap), hft(&upds));
            let pit_book = || {
                let mut b = OrderBook::new();
                pit_apply(&mut b, &snap);
                b
            };
            let lo = (MID - n as i64 - 10) as f64 * TICK;
            let hi = (MID + n as i64 + 10) as f64 * TICK;
            let hash = || {
                let mut d = HashMapMarketDepth::new(TICK, LOT);
                hft_apply(&mut d, &snap_h);
                d
            };
            let roi = || {
                let mut d = ROIVectorMarketDepth::new(TICK, LOT, lo, hi);
                hft_apply(&mut d, &snap_h);
                d
            };
            let (mut b, mut h, mut r) = (pit_book(), hash(), roi());
            for (i, (up, uh)) in upds.chunks(STEP).zip(upds_h.chunks(STEP)).enumerate() {
                pit_apply(&mut b, up);
                hft_apply(&mut h, uh);
                hft_apply(&mut r, uh);
                check_same_bbo("synthetic/HashMap", i, &b, 1, &h);
                check_same_bbo("synthetic/ROI", i, &b, 1, &r);
            }
            let p = median_ns(M, pit_book, |mut b| pit_apply(&mut b, &upds));
            let hh = median_ns(M, hash, |mut d| hft_apply(&mut d, &upds_h));
            let rr = median_ns(M, roi, |mut d| hft_apply(&mut d, &upds_h));
            let kind = if top_weighted {
                "top-weighted"
            } else {
                "uniform"
            };
            row(
                &format!("synthetic, {n} levels a side, {kind}"),
                p,
                &[("HashMap", hh), ("ROI", rr)],
                "ns/update",
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        println!("peers: run with `cargo bench --bench peers`");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "peers: {cores} cores, load average {} (medians of {} runs)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        runs()
    );
    println!("| measure | pit | hftbacktest | pit / peer |\n|---|---|---|---|");
    if let Some(c) = load_capture() {
        capture_rows(&c);
    }
    synthetic_rows();
}
