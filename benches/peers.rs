//! pit side by side with hftbacktest (issue 14): the same input, in one run, each side fed
//! its native form (pit: `Side`/`Price`/`Qty` in integer ticks and lots; hftbacktest: `f64`
//! price and quantity), decoded once outside the timed part. A correctness check runs first:
//! after every frame every book must give the same best bid and ask, or the bench stops.
//!
//! Rows (medians of several runs; `pit / peer` < 1 means pit is faster):
//! - book apply on the Binance capture's diff levels (HashMap and ROI-vector depths);
//! - a snapshot of the capture's 2,000 levels, best first (both capture rows: pit's levels
//!   as its decoder gives them on the instrument's grid, prices in ticks);
//! - synthetic books of 500 / 1k / 5k / 10k levels a side, updates uniform over the depth
//!   and top-weighted;
//! - frame -> book on the capture's depth frames (pit's decoder against serde structs feeding
//!   a HashMap or ROI-vector depth), in MB/s of frame text: pit on the instrument's grid as
//!   a replay or backtest finds it (tick 0.01, the peer's; lot 0.000001, as three of the
//!   capture's sizes have six decimals: the peer keeps Binance's 0.00001 and rounds them),
//!   and on `pit verify`'s 1e-8 grid (prices 10^6 units a tick apart);
//! - end to end on the capture's events (depth and trades): pit's engine and paper venue
//!   with no strategies against hftbacktest's backtester driven event by event by a bot that
//!   does nothing (HashMap and ROI depths); pit's default strategies against a bot quoting
//!   a post-only bid and ask at the touch, re-quoted when it moves; and from the file (pit's
//!   `backtest` path, decoding the capture's JSON lines, against hftbacktest reading the
//!   same events from a `.npy` file; and pit's `backtest` of its own binary file of the
//!   events, `pit compile`'s, against the same `.npy`), all in ns per market event.
//!
//! The capture is `../shared/captures/binance-spot-btcusdt-2024-08-08.jsonl` (or
//! `PIT_CAPTURES_DIR`); its rows are skipped, saying so, when it is absent. The synthetic
//! rows always run. `cargo bench --bench peers` (a few seconds; `PEERS_RUNS=N` for more runs).

use hftbacktest::backtest::assettype::LinearAsset;
use hftbacktest::backtest::data::{Data, DataSource};
use hftbacktest::backtest::models::{
    CommonFees, ConstantLatency, RiskAdverseQueueModel, TradingValueFeeModel,
};
use hftbacktest::backtest::{Backtest, ExchangeKind, L2AssetBuilder};
use hftbacktest::depth::{
    ApplySnapshot, HashMapMarketDepth, INVALID_MAX, INVALID_MIN, L2MarketDepth, MarketDepth,
    ROIVectorMarketDepth,
};
use hftbacktest::prelude::{Bot, ElapseResult, OrdType, TimeInForce};
use hftbacktest::types::{
    BUY_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, Event, LOCAL_EVENT, SELL_EVENT,
    TRADE_EVENT,
};
use pit::domain::{Level, MarketEvent, MarketEventKind, OrderBook, Price, Qty, Side};
use pit::record::{CaptureLine, CaptureReader, Direction};
use pit::venue::MarketDataPort;
use pit::venue::exchanges::registry::{decoder_on_grid, discovering_decoder};
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
    path: PathBuf,
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
    /// The capture's instrument on the grid a replay finds for it (tick 0.01, lot
    /// 0.000001), as replays and backtests decode it.
    grid: Vec<pit::domain::Instrument>,
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
    let grid = pit::venue::feed::replay::discover_instruments(&path, "binance", &[])
        .expect("the capture's grid")
        .instruments;
    let mut d = decoder_on_grid("binance", grid.clone()).expect("binance decoder");
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
    let per_tick = units_per_tick(&inst);
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
        path,
        lines,
        snap_pit,
        snap_hft,
        upd_pit,
        upd_hft,
        frame_ends,
        per_tick,
        grid,
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
    let p = median_ns(bytes, || (), |_| frame_pipelines_pit(c, &c.grid));
    let p_verify = median_ns(bytes, || (), |_| frame_pipelines_pit(c, &[]));
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
    // `pit verify` reads a capture of unknown instruments on the 1e-8 grid: prices 10^6
    // units a tick apart, so each level update divides by the stride the book learns.
    row_mbs(
        "frame -> book, Binance depth frames, pit verify's 1e-8 grid",
        mbs(p_verify),
        &[("serde + HashMap", mbs(hh)), ("serde + ROI", mbs(rr))],
    );
}

/// pit's decoder over the depth frames and the snapshot, on `grid` (empty: `pit verify`'s
/// 1e-8 grid): the book it keeps.
fn frame_pipelines_pit(c: &Capture, grid: &[pit::domain::Instrument]) -> usize {
    let mut d = decoder_on_grid("binance", grid.to_vec()).expect("binance decoder");
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
    let mut h = HashMapMarketDepth::new(TICK, LOT);
    serde_pipeline(c, &mut h);
    for mut d in [
        decoder_on_grid("binance", c.grid.clone()).expect("binance decoder"),
        discovering_decoder("binance").expect("binance decoder"),
    ] {
        let mut out = Vec::new();
        for l in &c.lines {
            d.on_line(l, &mut out);
        }
        let book = d.book(0).expect("pit's decoder ends synced");
        // Nothing refused: every level the peer applied, pit applied too.
        let s = &d.stats()[0];
        assert!(
            s.malformed == 0 && s.gaps == 0 && s.insane == 0 && d.unattributed_malformed() == 0,
            "frame -> book: pit's decoder refused part of the capture: {s:?}"
        );
        let per_tick = units_per_tick(&d.instruments()[0]);
        check_same_bbo("frame -> book/HashMap", c.lines.len(), book, per_tick, &h);
    }
}

/// pit's price units in a Binance tick (0.01 USDT) for an instrument on its grid.
fn units_per_tick(inst: &pit::domain::Instrument) -> i64 {
    let per_unit = 1.0 / inst.tick_size.to_string().parse::<f64>().expect("tick");
    (per_unit * TICK).round() as i64
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

/// The capture's market events as pit's replay decodes them, and as hftbacktest events
/// (the first snapshot goes to its depth builder, not into the data).
struct Replayed {
    path: PathBuf,
    cfg: pit::config::Config,
    events: Vec<MarketEvent>,
    hft: Vec<Event>,
    snap: (Vec<HftUpd>, Vec<HftUpd>),
    end: pit::domain::Timestamp,
}

fn replayed(path: &std::path::Path, strategies: bool) -> Replayed {
    let mut cfg = pit::config::Config::default();
    if !strategies {
        cfg.strategies.market_maker.enabled = false;
        cfg.strategies.imbalance.enabled = false;
        cfg.strategies.exit_manager.enabled = false;
        cfg.strategies.vwap_revert.enabled = false;
        cfg.strategies.orb.enabled = false;
    }
    let a = pit::setup::assemble_replay(&cfg, path, pit::domain::TradingState::Active)
        .expect("the capture replays");
    let inst = a.market.instruments()[0].clone();
    let mut market = a.market;
    let mut events = Vec::new();
    while let Some(e) = market.next_event() {
        events.push(e);
    }
    let tick: f64 = inst.tick_size.to_string().parse().expect("tick");
    let lot: f64 = inst.lot_size.to_string().parse().expect("lot");
    let (mut hft, mut snap) = (Vec::new(), (Vec::new(), Vec::new()));
    let ev = |flags: u64, ts: i64, px: f64, qty: f64| Event {
        ev: EXCH_EVENT | LOCAL_EVENT | flags,
        exch_ts: ts,
        local_ts: ts,
        px,
        qty,
        order_id: 0,
        ival: 0,
        fval: 0.0,
    };
    for e in &events {
        let ts = e.ts.as_nanos();
        match &e.kind {
            MarketEventKind::Snapshot { bids, asks } if snap.0.is_empty() => {
                snap.0 = bids
                    .iter()
                    .map(|l| (true, l.price.0 as f64 * tick, l.qty.0 as f64 * lot))
                    .collect();
                snap.1 = asks
                    .iter()
                    .map(|l| (false, l.price.0 as f64 * tick, l.qty.0 as f64 * lot))
                    .collect();
            }
            MarketEventKind::Snapshot { .. } | MarketEventKind::Resyncing { .. } => {}
            MarketEventKind::Level { side, price, qty } => {
                let s = if side == &Side::Buy {
                    BUY_EVENT
                } else {
                    SELL_EVENT
                };
                hft.push(ev(
                    DEPTH_EVENT | s,
                    ts,
                    price.0 as f64 * tick,
                    qty.0 as f64 * lot,
                ));
            }
            MarketEventKind::Trade(t) => {
                let s = if t.aggressor == Side::Buy {
                    BUY_EVENT
                } else {
                    SELL_EVENT
                };
                hft.push(ev(
                    TRADE_EVENT | s,
                    ts,
                    t.price.0 as f64 * tick,
                    t.qty.0 as f64 * lot,
                ));
            }
        }
    }
    let end = events.last().map(|e| e.ts).unwrap_or_default();
    Replayed {
        path: path.to_path_buf(),
        cfg,
        events,
        hft,
        snap,
        end,
    }
}

/// pit's engine and paper venue over the events in memory, to the last one.
fn pit_in_memory(r: &Replayed) -> pit::runner::Runner {
    let a = pit::setup::assemble_replay(&r.cfg, &r.path, pit::domain::TradingState::Active)
        .expect("the capture replays");
    let instruments = a.market.instruments().to_vec();
    pit::runner::Runner::new(
        a.engine,
        Box::new(pit::venue::EventFeed::new(instruments, r.events.clone())),
        Box::new(a.exec),
        pit::runner::RunOptions {
            speed: pit::pace::Speed::Max,
            ..Default::default()
        },
    )
}

/// hftbacktest's backtester on `data`, with the capture's first snapshot in its depth.
fn hft_backtest<MD, F>(r: &Replayed, data: DataSource<Event>, depth: F) -> Backtest<MD>
where
    MD: MarketDepth + ApplySnapshot + L2MarketDepth + 'static,
    F: Fn() -> MD + 'static,
{
    let snap = hft_snapshot_data(&r.snap.0, &r.snap.1);
    Backtest::builder()
        .add_asset(
            L2AssetBuilder::new()
                .data(vec![data])
                .latency_model(ConstantLatency::new(5_000_000, 5_000_000))
                .asset_type(LinearAsset::new(1.0))
                .fee_model(TradingValueFeeModel::new(CommonFees::new(0.0001, 0.0005)))
                .exchange(ExchangeKind::PartialFillExchange)
                .queue_model(RiskAdverseQueueModel::new())
                .depth(move || {
                    let mut d = depth();
                    d.apply_snapshot(&snap);
                    d
                })
                .build()
                .expect("hftbacktest asset"),
        )
        .build()
        .expect("hftbacktest")
}

/// A bot that looks at every feed event and does nothing.
/// How long a bot waits for the next feed at most (engine time): far longer than any
/// gap in the capture (`i64::MAX` would overflow the backtester's clock).
const WAIT_NS: i64 = 3_600_000_000_000;

fn hft_noop<MD: MarketDepth>(hbt: &mut Backtest<MD>) -> usize {
    let mut n = 0;
    loop {
        match hbt.wait_next_feed(false, WAIT_NS) {
            Ok(ElapseResult::EndOfData) | Err(_) => return n,
            Ok(_) => n += 1,
        }
    }
}

/// A bot quoting a post-only bid and ask of one lot at the touch, cancelled and placed
/// again whenever the touch moves.
fn hft_quoting<MD: MarketDepth>(hbt: &mut Backtest<MD>, lot: f64) -> usize {
    let (mut n, mut next_id) = (0usize, 1u64);
    let mut quoted: Option<(i64, i64, u64, u64)> = None;
    loop {
        match hbt.wait_next_feed(true, WAIT_NS) {
            Ok(ElapseResult::EndOfData) | Err(_) => return n,
            Ok(_) => {}
        }
        n += 1;
        let d = hbt.depth(0);
        let (bid, ask) = (d.best_bid_tick(), d.best_ask_tick());
        if bid == INVALID_MIN || ask == INVALID_MAX {
            continue;
        }
        if quoted.is_some_and(|(b, a, _, _)| b == bid && a == ask) {
            continue;
        }
        let tick = d.tick_size();
        if let Some((_, _, b, a)) = quoted {
            let _ = hbt.cancel(0, b, false);
            let _ = hbt.cancel(0, a, false);
        }
        hbt.clear_inactive_orders(Some(0));
        let (b, a) = (next_id, next_id + 1);
        next_id += 2;
        let _ = hbt.submit_buy_order(
            0,
            b,
            bid as f64 * tick,
            lot,
            TimeInForce::GTX,
            OrdType::Limit,
            false,
        );
        let _ = hbt.submit_sell_order(
            0,
            a,
            ask as f64 * tick,
            lot,
            TimeInForce::GTX,
            OrdType::Limit,
            false,
        );
        quoted = Some((bid, ask, b, a));
    }
}

fn e2e_rows(path: &std::path::Path) {
    let bare = replayed(path, false);
    let n = bare.events.len();
    let (tick, lot) = (TICK, LOT);
    let mid = (bare.snap.0[0].1 + bare.snap.1[0].1) / 2.0;
    let in_memory = || DataSource::Data(Data::from_data(&bare.hft));
    // The bots must see the whole capture, and the quoting one must trade.
    let mut h = hft_backtest(&bare, in_memory(), move || {
        HashMapMarketDepth::new(tick, lot)
    });
    let woke = hft_noop(&mut h);
    let mut h = hft_backtest(&bare, in_memory(), move || {
        HashMapMarketDepth::new(tick, lot)
    });
    let woke_q = hft_quoting(&mut h, lot);
    let traded = h.state_values(0).num_trades;
    let mut r = pit_in_memory(&replayed(path, true));
    r.run_until(bare.end);
    eprintln!(
        "end to end: {n} pit events, {} hftbacktest events; the no-op bot woke {woke} times, the quoting bot {woke_q} times and traded {traded} times; pit's default strategies filled {} times",
        bare.hft.len(),
        r.engine.summary().fills
    );
    assert!(
        woke > 0 && traded > 0,
        "the peer's bots must run over the capture"
    );
    let p = median_ns(
        n,
        || pit_in_memory(&bare),
        |mut r| {
            r.run_until(bare.end);
            r.engine.summary().fills
        },
    );
    let hh = median_ns(
        n,
        || {
            hft_backtest(&bare, in_memory(), move || {
                HashMapMarketDepth::new(tick, lot)
            })
        },
        |mut h| hft_noop(&mut h),
    );
    let rr = median_ns(
        n,
        || {
            hft_backtest(&bare, in_memory(), move || {
                ROIVectorMarketDepth::new(tick, lot, mid * 0.95, mid * 1.05)
            })
        },
        |mut h| hft_noop(&mut h),
    );
    row(
        &format!("end to end in memory, no strategies, {n} events"),
        p,
        &[("no-op, HashMap", hh), ("no-op, ROI", rr)],
        "ns/event",
    );

    let full = replayed(path, true);
    let p = median_ns(
        n,
        || pit_in_memory(&full),
        |mut r| {
            r.run_until(full.end);
            r.engine.summary().fills
        },
    );
    let q = median_ns(
        n,
        || {
            hft_backtest(&full, in_memory(), move || {
                HashMapMarketDepth::new(tick, lot)
            })
        },
        |mut h| hft_quoting(&mut h, lot),
    );
    row(
        "end to end in memory, default strategies vs quoting",
        p,
        &[("quoting, HashMap", q)],
        "ns/event",
    );

    // From the file: pit decodes the capture's JSON lines; hftbacktest reads its own
    // binary form of the same events.
    let dir = tempfile::tempdir().expect("temp dir");
    let npy = dir.path().join("capture.npy");
    let mut f = std::fs::File::create(&npy).expect("npy file");
    hftbacktest::backtest::data::write_npy(&mut f, &bare.hft).expect("write npy");
    drop(f);
    let npy = npy.to_string_lossy().to_string();
    let p = median_ns(
        n,
        || (),
        |_| {
            pit::backtest::run(&bare.cfg, &bare.path, None, pit::pace::Speed::Max, None)
                .expect("backtest")
                .summary
                .fills
        },
    );
    let hh = median_ns(
        n,
        || {
            hft_backtest(&bare, DataSource::File(npy.clone()), move || {
                HashMapMarketDepth::new(tick, lot)
            })
        },
        |mut h| hft_noop(&mut h),
    );
    row(
        "end to end from the file, no strategies",
        p,
        &[("no-op, HashMap, .npy", hh)],
        "ns/event",
    );

    // From the file, like for like: pit reads its own binary form of the events too
    // (`pit compile`, not timed, as hftbacktest's `.npy` is written outside the timed part).
    let compiled = dir.path().join("capture.pitev");
    pit::venue::feed::compile::compile(
        &bare.path,
        &compiled,
        &bare.cfg.instrument_list(),
        bare.cfg.book,
        &bare.cfg.sanity_bands(),
        &bare.cfg.contract_values(),
    )
    .expect("pit compile");
    let from_json = pit::backtest::run(&bare.cfg, &bare.path, None, pit::pace::Speed::Max, None)
        .expect("backtest");
    let from_bin = pit::backtest::run(&bare.cfg, &compiled, None, pit::pace::Speed::Max, None)
        .expect("backtest of the compiled events");
    assert_eq!(
        (from_bin.summary.events, &from_bin.summary.fill_log_sha256),
        (from_json.summary.events, &from_json.summary.fill_log_sha256),
        "the compiled events backtest like the JSON lines"
    );
    let p = median_ns(
        n,
        || (),
        |_| {
            pit::backtest::run(&bare.cfg, &compiled, None, pit::pace::Speed::Max, None)
                .expect("backtest")
                .summary
                .fills
        },
    );
    row(
        "end to end from the file, no strategies, pit's compiled events",
        p,
        &[("no-op, HashMap, .npy", hh)],
        "ns/event",
    );
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
        e2e_rows(&c.path);
    }
    synthetic_rows();
}
