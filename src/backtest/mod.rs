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
use crate::runner::{RunObserver, RunOptions, RunResult, Runner, Speed};
use crate::venue::replay::{Progress, ReplayReport};
use report::{FillRecord, Figures, RunRecord};
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
                let book = engine.book(o.instrument);
                let touch = match o.side {
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
    })
}
