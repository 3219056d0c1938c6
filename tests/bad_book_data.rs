//! Books that distrust bad data: absurd but parseable levels, crossed books, absurd trade
//! prints and an implausible sequence jump, injected into the real Binance capture
//! (`../shared/captures/`). The book must go RESYNCING, none of the bad data may reach
//! the events the engine and the paper venue see, and a later snapshot restores the book.

use pit::domain::{Instrument, InstrumentId, MarketEvent, MarketEventKind, OrderBook, Qty, Side};
use pit::record::{CaptureLine, CaptureReader, Direction};
use pit::venue::exchanges::binance::BinanceDecoder;
use pit::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use rust_decimal_macros::dec;
use serde_json::Value;
use std::path::PathBuf;

const BINANCE: &str = "binance-spot-btcusdt-2024-08-08.jsonl";
const SNAPSHOT_URL: &str = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000";

fn capture() -> Option<Vec<CaptureLine>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PIT_CAPTURES_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root.join("../shared/captures"));
    dirs.push(root.join("../../shared/captures"));
    let Some(path) = dirs
        .into_iter()
        .map(|d| d.join(BINANCE))
        .find(|p| p.is_file())
    else {
        eprintln!("skipped: {BINANCE} not found in ../shared/captures (set PIT_CAPTURES_DIR)");
        return None;
    };
    Some(CaptureReader::open(&path).expect("open capture").collect())
}

fn btcusdt() -> Instrument {
    Instrument::new(
        InstrumentId(0),
        "BTCUSDT",
        "binance",
        dec!(0.01),
        dec!(0.000001),
        Qty(1),
    )
}

fn decoder() -> BinanceDecoder {
    BinanceDecoder::new(vec![btcusdt()])
}

/// The `data` object of a stream frame, parsed.
fn data(line: &CaptureLine) -> Option<Value> {
    if line.dir != Direction::Recv {
        return None;
    }
    let v: Value = serde_json::from_str(&line.frame).ok()?;
    Some(v.get("data")?.clone())
}

fn is(line: &CaptureLine, event: &str) -> bool {
    data(line).is_some_and(|d| d["e"] == event)
}

/// The index of the `n`th line of event type `event` after the REST snapshot.
fn nth_after_snapshot(lines: &[CaptureLine], event: &str, n: usize) -> usize {
    let snap = lines
        .iter()
        .position(|l| l.dir == Direction::Http)
        .expect("the capture holds a snapshot");
    (snap..lines.len())
        .filter(|&k| is(&lines[k], event))
        .nth(n)
        .expect("enough frames after the snapshot")
}

/// `line` with its `data` object changed by `f`.
fn poisoned(line: &CaptureLine, f: impl FnOnce(&mut Value)) -> CaptureLine {
    let mut v: Value = serde_json::from_str(&line.frame).unwrap();
    f(&mut v["data"]);
    CaptureLine {
        frame: serde_json::to_string(&v).unwrap(),
        ..line.clone()
    }
}

fn text(units: i64, dp: u32) -> String {
    let p = 10i64.pow(dp);
    format!("{}.{:0w$}", units / p, units % p, w = dp as usize)
}

/// A REST snapshot line holding `book` at update id `last`.
fn snapshot_line(ts_ns: i64, book: &OrderBook, last: i64) -> CaptureLine {
    let side = |s: Side| -> Vec<[String; 2]> {
        book.levels(s)
            .map(|l| [text(l.price.0, 2), text(l.qty.0, 6)])
            .collect()
    };
    let body = serde_json::json!({
        "lastUpdateId": last,
        "bids": side(Side::Buy),
        "asks": side(Side::Sell),
    });
    CaptureLine {
        ts_ns,
        venue: "binance".into(),
        dir: Direction::Http,
        url: SNAPSHOT_URL.into(),
        frame: body.to_string(),
    }
}

/// The clean capture's book and update id after line `k` (a snapshot to inject there).
fn clean_snapshot_after(lines: &[CaptureLine], k: usize) -> CaptureLine {
    let mut d = decoder();
    let mut out = Vec::new();
    for l in &lines[..=k] {
        d.on_line(l, &mut out);
    }
    let st = d.state(0).unwrap();
    snapshot_line(
        lines[k].ts_ns,
        d.book(0).expect("the clean book is trusted"),
        st.last_seq.unwrap(),
    )
}

/// Whether an event carries this price (in ticks of 0.01).
fn priced_at(ev: &MarketEvent, ticks: i64) -> bool {
    match &ev.kind {
        MarketEventKind::Level { price, .. } => price.0 == ticks,
        MarketEventKind::Trade(t) => t.price.0 == ticks,
        MarketEventKind::Snapshot { bids, asks } => {
            bids.iter().chain(asks).any(|l| l.price.0 == ticks)
        }
        MarketEventKind::Resyncing { .. } => false,
    }
}

/// Replay `lines`: the poisoned line is `bad`; a snapshot from the clean capture follows
/// line `restore`. Checks the book goes RESYNCING at `bad`, stays untrusted until the
/// snapshot, never emits `absurd_ticks`, and afterwards equals the clean capture's book.
fn replay_poisoned(
    lines: &[CaptureLine],
    bad: usize,
    poison: impl Fn(&mut Value),
    absurd_ticks: Option<i64>,
) -> pit::venue::exchanges::decode::FeedStats {
    let restore = bad + 400;
    let mut input: Vec<CaptureLine> = Vec::with_capacity(lines.len() + 1);
    for (k, l) in lines.iter().enumerate() {
        input.push(if k == bad {
            poisoned(l, &poison)
        } else {
            l.clone()
        });
        if k == restore {
            input.push(clean_snapshot_after(lines, k));
        }
    }
    let mut clean = decoder();
    let mut d = decoder();
    let mut out = Vec::new();
    let mut clean_out = Vec::new();
    let mut k_clean = 0;
    for (k, l) in input.iter().enumerate() {
        out.clear();
        d.on_line(l, &mut out);
        if let Some(t) = absurd_ticks {
            assert!(
                !out.iter().any(|e| priced_at(e, t)),
                "line {k}: the absurd price reached the events"
            );
        }
        if k == bad {
            assert!(
                out.iter()
                    .any(|e| matches!(e.kind, MarketEventKind::Resyncing { .. })),
                "the poisoned frame makes the book RESYNCING: {out:?}"
            );
            assert!(d.book(0).is_none(), "a poisoned book is not trusted");
            assert!(
                d.requests()
                    .iter()
                    .any(|r| matches!(r, FeedRequest::Http(u) if u.contains("/depth"))),
                "a fresh snapshot is asked for"
            );
        }
        if k > bad && k <= restore {
            assert!(
                d.book(0).is_none(),
                "line {k}: untrusted until the snapshot"
            );
        }
        // The clean decoder reads the same lines minus the injected snapshot.
        if l.dir == Direction::Http && k > bad {
            assert!(
                out.iter()
                    .any(|e| matches!(e.kind, MarketEventKind::Snapshot { .. })),
                "the fresh snapshot is emitted"
            );
        } else {
            clean_out.clear();
            clean.on_line(&lines[k_clean], &mut clean_out);
            k_clean += 1;
        }
        if k > restore + 1 && (k % 64 == 0 || k + 1 == input.len()) {
            assert_eq!(
                d.book(0),
                clean.book(0),
                "line {k}: restored to the clean book"
            );
        }
    }
    assert!(d.book(0).is_some(), "trusted again at the end");
    let st = d.state(0).unwrap().stats;
    assert_eq!(st.resyncs, 1, "{st:?}");
    st
}

#[test]
fn an_absurd_bid_that_overflows_the_mid_resyncs_the_book() {
    let Some(lines) = capture() else { return };
    let bad = nth_after_snapshot(&lines, "depthUpdate", 100);
    let st = replay_poisoned(
        &lines,
        bad,
        |d| {
            d["b"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!(["92233720368547758.07", "1.00000000"]))
        },
        Some(i64::MAX),
    );
    assert!(st.insane + st.crossed >= 1, "{st:?}");
}

#[test]
fn a_bid_far_above_the_market_resyncs_the_book() {
    let Some(lines) = capture() else { return };
    let bad = nth_after_snapshot(&lines, "depthUpdate", 150);
    let st = replay_poisoned(
        &lines,
        bad,
        |d| {
            d["b"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!(["99999999.00000000", "0.50000000"]))
        },
        Some(9_999_999_900),
    );
    assert!(st.insane + st.crossed >= 1, "{st:?}");
}

#[test]
fn an_ask_at_one_cent_resyncs_the_book() {
    let Some(lines) = capture() else { return };
    let bad = nth_after_snapshot(&lines, "depthUpdate", 200);
    let st = replay_poisoned(
        &lines,
        bad,
        |d| {
            d["a"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!(["0.01000000", "2.00000000"]))
        },
        Some(1),
    );
    assert!(st.insane + st.crossed >= 1, "{st:?}");
}

#[test]
fn a_huge_update_id_is_a_gap_not_a_frozen_book() {
    let Some(lines) = capture() else { return };
    let bad = nth_after_snapshot(&lines, "depthUpdate", 120);
    let st = replay_poisoned(
        &lines,
        bad,
        |d| d["u"] = serde_json::json!(999_999_999_999_999_999i64),
        None,
    );
    assert_eq!(st.gaps, 1, "{st:?}");
    // The book kept applying diffs after the snapshot (3,450 in the clean capture, less
    // the ~400 skipped while resyncing), instead of freezing at the huge id.
    assert!(st.updates > 2_500, "{st:?}");
}

#[test]
fn absurd_trade_prints_are_dropped_and_counted() {
    let Some(lines) = capture() else { return };
    let mut d = decoder();
    let mut out = Vec::new();
    let (a, b) = (
        nth_after_snapshot(&lines, "trade", 50),
        nth_after_snapshot(&lines, "trade", 60),
    );
    let mut trades = 0;
    for (k, l) in lines.iter().enumerate() {
        let l = match k {
            _ if k == a => poisoned(l, |d| d["p"] = "0.01000000".into()),
            _ if k == b => poisoned(l, |d| d["p"] = "1000000000.00000000".into()),
            _ => l.clone(),
        };
        out.clear();
        d.on_line(&l, &mut out);
        for e in &out {
            if let MarketEventKind::Trade(t) = &e.kind {
                trades += 1;
                assert!(
                    t.price.0 > 5_000_000 && t.price.0 < 7_000_000,
                    "line {k}: an absurd trade print reached the events: {t:?}"
                );
            }
        }
    }
    let st = d.state(0).unwrap().stats;
    assert_eq!(st.insane, 2, "{st:?}");
    assert_eq!(
        st.resyncs, 0,
        "a bad print alone does not distrust the book"
    );
    assert!(trades > 9_000, "{trades}");
}

/// The whole chain through the binary: a backtest of the capture with the three absurd
/// levels injected (each followed later by a fresh snapshot) trades as if they were not
/// there: no phantom PnL, no halt.
#[test]
fn a_backtest_of_a_poisoned_capture_makes_no_phantom_fills() {
    let Some(lines) = capture() else { return };
    let mut input = Vec::new();
    let bad = [
        (
            nth_after_snapshot(&lines, "depthUpdate", 100),
            "b",
            "92233720368547758.07",
        ),
        (
            nth_after_snapshot(&lines, "depthUpdate", 600),
            "b",
            "99999999.00000000",
        ),
        (
            nth_after_snapshot(&lines, "depthUpdate", 1100),
            "a",
            "0.01000000",
        ),
    ];
    for (k, l) in lines.iter().enumerate() {
        match bad.iter().find(|b| b.0 == k) {
            Some(&(_, side, price)) => input.push(poisoned(l, |d| {
                d[side]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!([price, "1.00000000"]))
            })),
            None => input.push(l.clone()),
        }
        if bad.iter().any(|b| b.0 + 300 == k) {
            input.push(clean_snapshot_after(&lines, k));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("poisoned.jsonl");
    let mut text = String::new();
    for l in &input {
        text.push_str(&serde_json::to_string(l).unwrap());
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["backtest", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["trading_state"], "ACTIVE", "{j}");
    let pnl: f64 = j["pnl"].as_str().unwrap().parse().unwrap();
    assert!(pnl.abs() < 10.0, "phantom PnL: {j}");
    assert!(j["fills"].as_u64().unwrap() > 10, "{j}");
}

/// `[book]` reaches the backtest's decoder: with `max_seq_jump = 1` every Binance diff
/// (each spans several update ids) is a gap, so the book is never trusted after the one
/// snapshot and nothing fills.
#[test]
fn book_limits_from_the_config_reach_the_backtest() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = std::env::var("PIT_CAPTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/captures"))
        .join(BINANCE);
    if !path.is_file() {
        eprintln!("skipped: {} is absent", path.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["backtest", path.to_str().unwrap(), "--for", "60s", "--json"])
        .args(["--set", "book.max_seq_jump=1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["fills"], 0, "{j}");
}
