//! `pit backtest`: a recording through the same decoders, engine, strategies, risk and
//! paper fill model as a live run, as fast as the machine goes; then a report
//! ([`report`]). Parameter sweeps run the grid on every core.
//!
//! Time comes only from the recording, so the same file and config give the same
//! `fill_log_sha256` at any speed.

pub mod report;
pub mod sweep;

use crate::config::Config;
use crate::domain::{ClientOrderId, Side, Timestamp, TradingState};
use crate::engine::{Effect, Engine, Summary};
use crate::pace::Speed;
use crate::runner::{RunObserver, RunOptions, RunResult, Runner};
use crate::venue::feed::replay::{Progress, ReplayReport};
use report::{Figures, FillRecord, RunRecord};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A finished backtest.
#[derive(Clone, Debug)]
pub struct Backtest {
    pub recording: PathBuf,
    pub figures: Figures,
    pub summary: Summary,
    pub result_open_orders_left: usize,
    pub started: Timestamp,
    pub ended: Timestamp,
    pub wall: Duration,
    /// The fill model, in words.
    pub fill_model: String,
    /// Lines read and skipped, decoder counters.
    pub replay: ReplayReport,
    /// How a real capture's instruments got their grid, strategies moved to the
    /// recording's instrument (see [`crate::setup::ReplayAssembled::notes`]).
    pub notes: Vec<String>,
    /// The instruments traded, in order.
    pub instruments: Vec<String>,
}

/// Describe the paper fill model a config uses.
pub fn fill_model(cfg: &Config) -> String {
    format!(
        "paper: queue position (back of the level), partial fills, takers walk the book; latency {} ms in / {} ms out; fees maker {} bps / taker {} bps",
        cfg.paper.latency_in_ms,
        cfg.paper.latency_out_ms,
        cfg.paper.maker_fee_bps.normalize(),
        cfg.paper.taker_fee_bps.normalize()
    )
}

/// Collects fills (with their slippage) and the per-minute equity curve of a run.
struct Collector {
    shared: Arc<Mutex<RunRecord>>,
    next_minute: Timestamp,
    /// Touch (ticks) that each order would take, at its submission.
    touch: BTreeMap<ClientOrderId, i64>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl RunObserver for Collector {
    fn on_effect(&mut self, engine: &Engine, _now: Timestamp, effect: &Effect) {
        match effect {
            Effect::Submit(o) => {
                let book = engine.book(o.spec.instrument);
                let touch = match o.spec.side {
                    Side::Buy => book.best_ask(),
                    Side::Sell => book.best_bid(),
                };
                if let Some(l) = touch {
                    self.touch.insert(o.client_id.clone(), l.price.0);
                }
            }
            Effect::Fill(f) => {
                let Some(inst) = engine.instruments().get(f.instrument.index()) else {
                    return;
                };
                let buy = f.side == Side::Buy;
                let slippage_ticks = self.touch.get(&f.client_id).map(|&t| {
                    let d = f.price.0 - t;
                    Decimal::from(if buy { d } else { -d })
                });
                let rec = FillRecord {
                    order: f.client_id.to_string(),
                    instrument: f.instrument.index(),
                    buy,
                    price: inst.price(f.price),
                    qty: inst.qty(f.qty),
                    fee: f.fee,
                    slippage_ticks,
                };
                if let Ok(mut r) = self.shared.lock() {
                    r.fills.push(rec);
                }
            }
            _ => {}
        }
    }

    fn on_end(&mut self, engine: &Engine) {
        if let Ok(mut r) = self.shared.lock() {
            r.equity.push(engine.equity());
        }
    }

    fn after_step(&mut self, engine: &Engine, now: Timestamp) {
        if now < self.next_minute {
            return;
        }
        let eq = engine.equity();
        if let Ok(mut r) = self.shared.lock() {
            while self.next_minute <= now {
                r.equity.push(eq);
                self.next_minute = self.next_minute + MINUTE;
            }
        }
    }
}

/// Run a backtest of `recording` with `cfg`. `run_for` overrides the recording's own
/// length; `speed` is `Max` for a backtest (1x is for tests of determinism).
/// `progress`, if given, is told where the reading is.
pub fn run(
    cfg: &Config,
    recording: &Path,
    run_for: Option<Duration>,
    speed: Speed,
    progress: Option<&dyn Fn(&Progress)>,
) -> anyhow::Result<Backtest> {
    let parts = crate::setup::assemble_replay(cfg, recording, TradingState::Active)?;
    let notes = parts.notes.clone();
    let instruments = parts
        .engine
        .instruments()
        .iter()
        .map(|i| format!("{}:{}", i.venue, i.symbol))
        .collect();
    let prog = parts.market.progress();
    let replay = parts.market.report_handle();
    let start = parts.engine.now();
    let shared = Arc::new(Mutex::new(RunRecord {
        equity: vec![parts.engine.equity()],
        ..RunRecord::default()
    }));
    let collector = Collector {
        shared: shared.clone(),
        next_minute: start + MINUTE,
        touch: BTreeMap::new(),
    };
    let opts = RunOptions {
        speed,
        run_for: run_for.or(parts.run_for),
        publish_every: Duration::from_millis(100),
        exit_grace: Duration::from_millis(cfg.kill_switch.exit_grace_ms),
        ..Default::default()
    };
    let runner = Runner::new(
        parts.engine,
        Box::new(parts.market),
        Box::new(parts.exec),
        opts,
    )
    .with_observer(Box::new(collector));
    // No one commands a backtest; keep the sender so the runner does not stop early.
    let (_tx, rx) = std::sync::mpsc::channel();
    let result: RunResult = match progress {
        None => runner.run(rx, None),
        Some(tell) => std::thread::scope(|s| {
            let h = s.spawn(move || runner.run(rx, None));
            while !h.is_finished() {
                tell(&prog);
                std::thread::sleep(Duration::from_millis(100));
            }
            tell(&prog);
            h.join()
                .map_err(|_| anyhow::anyhow!("the backtest thread panicked; see the log"))
        })?,
    };
    let mut record = shared
        .lock()
        .map(|r| r.clone())
        .map_err(|_| anyhow::anyhow!("backtest statistics lost"))?;
    record.orders = result.summary.orders;
    let figures = report::figures(&record);
    let replay = replay.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(Backtest {
        recording: recording.to_path_buf(),
        figures,
        summary: result.summary,
        result_open_orders_left: result.open_orders_left,
        started: result.started,
        ended: result.ended,
        wall: result.wall,
        fill_model: fill_model(cfg),
        replay,
        notes,
        instruments,
    })
}

/// Money for people: at most 10 decimal places.
fn money(d: Decimal) -> String {
    d.round_dp(10).normalize().to_string()
}

fn opt(d: Option<Decimal>) -> serde_json::Value {
    d.map_or(serde_json::Value::Null, |d| {
        serde_json::Value::String(money(d))
    })
}

/// The `--json` object: every figure of the text report, plus `fill_log_sha256`.
/// Money and ratios are decimal strings; the Sharpe ratio is a number (an `f64` statistic).
pub fn to_json(b: &Backtest) -> serde_json::Value {
    let f = &b.figures;
    let s = &b.summary;
    let secs = (b.ended.0 - b.started.0) as f64 / 1e9;
    serde_json::json!({
        "recording": b.recording.display().to_string(),
        "start": b.started.to_rfc3339(),
        "end": b.ended.to_rfc3339(),
        "engine_seconds": secs,
        "wall_seconds": b.wall.as_secs_f64(),
        "events": s.events,
        "events_per_second": s.events as f64 / b.wall.as_secs_f64().max(1e-9),
        "pnl": money(f.pnl),
        "realized_pnl": money(s.realized_pnl),
        "fees": money(f.fees),
        "trades": f.trades,
        "win_rate": opt(f.win_rate),
        "profit_factor": opt(f.profit_factor),
        "max_drawdown": money(f.max_drawdown),
        "sharpe_per_minute_annualized": f.sharpe,
        "orders": f.orders,
        "fills": f.fills,
        "fill_ratio": opt(f.fill_ratio),
        "avg_slippage_ticks": opt(f.avg_slippage_ticks.map(|d| d.round_dp(4))),
        "fill_model": b.fill_model,
        "positions": s.positions.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        "trading_state": s.trading_state.as_str(),
        "open_orders_left": b.result_open_orders_left,
        "fill_log_sha256": s.fill_log_sha256,
        "lines_skipped": b.replay.skipped,
        "lines_other_venue": b.replay.other_venue,
        "late_instrument_events": b.replay.late_instrument_events,
        "malformed_frames": malformed(b),
        "instruments": b.instruments,
        "notes": b.notes,
    })
}

fn pct(d: Option<Decimal>) -> String {
    d.map_or("-".into(), |d| {
        format!("{} %", (d * Decimal::ONE_HUNDRED).round_dp(1))
    })
}

fn signed(d: Decimal) -> String {
    if d > Decimal::ZERO {
        format!("+{}", money(d))
    } else {
        money(d)
    }
}

/// Frames the decoder could not use (malformed, or numbers off the instruments' grid).
fn malformed(b: &Backtest) -> u64 {
    b.replay.stats.iter().map(|s| s.malformed).sum()
}

/// The text report.
pub fn to_text(b: &Backtest) -> String {
    let f = &b.figures;
    let s = &b.summary;
    let secs = (b.ended.0 - b.started.0) as f64 / 1e9;
    let wall = b.wall.as_secs_f64().max(1e-9);
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o, "{:<15}{}", "backtest", b.recording.display());
    let _ = writeln!(o, "{:<15}{}", "instruments", b.instruments.join(" "));
    for n in &b.notes {
        let _ = writeln!(o, "{:<15}{n}", "note");
    }
    let _ = writeln!(
        o,
        "{:<15}{} .. {} ({secs:.1} s)",
        "market time", b.started, b.ended
    );
    let _ = writeln!(
        o,
        "{:<15}{} in {wall:.2} s ({:.0} events/s)",
        "events",
        s.events,
        s.events as f64 / wall
    );
    let rows: Vec<(&str, String)> = vec![
        ("PnL", signed(f.pnl.round_dp(4))),
        (
            "win rate",
            format!("{} of {} trades", pct(f.win_rate), f.trades),
        ),
        (
            "profit factor",
            f.profit_factor.map_or("-".into(), |d| money(d.round_dp(3))),
        ),
        ("max drawdown", money(f.max_drawdown.round_dp(4))),
        (
            "Sharpe",
            f.sharpe.map_or("-".into(), |x| {
                format!("{x:.2} (per-minute returns, annualized)")
            }),
        ),
        ("fees", money(f.fees.round_dp(4))),
        ("orders", f.orders.to_string()),
        ("fills", f.fills.to_string()),
        ("fill ratio", pct(f.fill_ratio)),
        (
            "slippage",
            f.avg_slippage_ticks.map_or("-".into(), |d| {
                format!("{} ticks (average, vs the touch at sending)", d.round_dp(3))
            }),
        ),
        ("fill model", b.fill_model.clone()),
        ("fill log", s.fill_log_sha256.clone()),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "{k:<15}{v}");
    }
    if b.replay.skipped > 0 {
        let _ = writeln!(o, "{:<15}{} bad lines skipped", "warning", b.replay.skipped);
    }
    if b.replay.other_venue > 0 {
        let _ = writeln!(
            o,
            "{:<15}{} lines of venue {} skipped: one venue per file",
            "warning",
            b.replay.other_venue,
            b.replay.other_venue_name.as_deref().unwrap_or("?")
        );
    }
    if b.replay.late_instrument_events > 0 {
        let _ = writeln!(
            o,
            "{:<15}{} events of instruments that first appear after the instrument scan were not traded",
            "warning", b.replay.late_instrument_events
        );
    }
    let bad = malformed(b);
    if bad > 0 {
        let _ = writeln!(
            o,
            "{:<15}{bad} malformed frames or levels off the instruments' grid (see the log; set [[instruments]] tick_size/lot_size)",
            "warning"
        );
    }
    o
}

/// `key=value key2=value2`.
pub fn combo_label(combo: &[(String, String)]) -> String {
    combo
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rank(runs: &mut [(Vec<(String, String)>, Backtest)]) {
    runs.sort_by(|a, b| {
        b.1.figures
            .pnl
            .cmp(&a.1.figures.pnl)
            .then_with(|| combo_label(&a.0).cmp(&combo_label(&b.0)))
    });
}

/// A sweep's runs, best PnL first, as a table.
pub fn sweep_table(runs: &mut [(Vec<(String, String)>, Backtest)]) -> String {
    rank(runs);
    let w = runs
        .iter()
        .map(|(c, _)| combo_label(c).len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut o = format!(
        "{:>4}  {:<w$}  {:>12}  {:>8}  {:>10}  {:>7}  {:>7}  {:>6}  fill log\n",
        "rank", "params", "pnl", "sharpe", "max dd", "win %", "fills", "trades"
    );
    for (n, (c, b)) in runs.iter().enumerate() {
        let f = &b.figures;
        o.push_str(&format!(
            "{:>4}  {:<w$}  {:>12}  {:>8}  {:>10}  {:>7}  {:>7}  {:>6}  {}\n",
            n + 1,
            combo_label(c),
            signed(f.pnl.round_dp(2)),
            f.sharpe.map_or("-".into(), |x| format!("{x:.2}")),
            money(f.max_drawdown.round_dp(2)),
            f.win_rate.map_or("-".into(), |d| (d * Decimal::ONE_HUNDRED)
                .round_dp(1)
                .to_string()),
            f.fills,
            f.trades,
            &b.summary.fill_log_sha256[..12.min(b.summary.fill_log_sha256.len())],
        ));
    }
    o
}

/// A sweep's runs, best PnL first, as one JSON array.
pub fn sweep_json(runs: &mut [(Vec<(String, String)>, Backtest)]) -> serde_json::Value {
    rank(runs);
    serde_json::Value::Array(
        runs.iter()
            .map(|(c, b)| {
                let mut v = to_json(b);
                v["params"] = serde_json::Value::Object(
                    c.iter()
                        .map(|(k, x)| (k.clone(), serde_json::Value::String(x.clone())))
                        .collect(),
                );
                v
            })
            .collect(),
    )
}
