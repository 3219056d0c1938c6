//! The kill switch under load: a simulated feed paced at about 100,000 events/s (wall),
//! the three strategies on, and an order storm (a thread sending manual limit orders,
//! about 64,000 a second, up to the open-order limit). Each trial presses K the way every kill path does
//! (close the gate, then send the kill command), measures, then re-arms and lets the storm
//! build up open orders again.
//!
//! * **K -> gate closed to every port**: from the press until `TradingGate::kill` returns.
//!   From then on no order that adds exposure can pass the `GatedPort` in front of every
//!   port (it waits for an order caught mid-handover), which the probe checks: **orders
//!   adding exposure handed after it** counts any that did (must be 0).
//! * **K -> next port call (finds it closed)**: from the press to the first call into the
//!   port after it (any call: a market event, a poll, a cancel). This is how soon the
//!   engine thread next reaches the port, not how long orders can leak: it follows the
//!   thread's scheduling on a loaded machine.
//! * **K -> all cancels handed to the port**: from the press to the last of the kill's
//!   cancels handed to the port (they go out while the engine halts, before the halt's
//!   state change is dispatched, which is when the observer reads the mark).
//!
//! * **K -> all resolved**: until every target is resolved at the paper venue (its
//!   default latency, 5 ms each way), in wall time at the bench's 100x pace and in
//!   engine time.
//!
//! Prints p50/p99/max (µs), the core count and the load, and first the cost of the halt
//! alone on an idle engine. `cargo bench --bench kill` (`-- --trials N`, default 300;
//! `--max-open N`, the risk limit on open orders and so the kill's targets, default 1000).

use pit::config::Config;
use pit::domain::OrderSpec;
use pit::domain::{
    ClientOrderId, ExecReport, InstrumentId, MarketEvent, OrderKind, OrderRequest, Price, Qty,
    Side, TimeInForce, Timestamp, TradingGate, TradingState,
};
use pit::engine::risk::RiskApproved;
use pit::engine::{Command, Effect, Engine, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunObserver, RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use pit::venue::{ExecutionPort, PortStats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// When the current trial's K was pressed, and what the engine thread saw after it.
#[derive(Default)]
struct Marks {
    pressed: Mutex<Option<Instant>>,
    /// When `gate.kill()` returned: from then on no order can pass the gate.
    closed: Mutex<Option<Instant>>,
    /// Orders that add exposure handed to the port after `closed` (must stay 0).
    leaked: AtomicU64,
    gate_seen: Mutex<Option<Instant>>,
    cancels_handed: Mutex<Option<(Instant, u32)>>,
    cancels_in_trial: AtomicU64,
    /// The last cancel handed to the port since the press.
    last_cancel: Mutex<Option<Instant>>,
    /// Every target resolved at the paper venue: when (wall), and the engine time the
    /// kill took from its start.
    resolved: Mutex<Option<(Instant, Duration)>>,
    /// The engine went back to ACTIVE (a re-arm was carried out).
    rearmed: AtomicBool,
}

/// The venue behind the gate, noting the first call that finds the gate closed.
struct Probe {
    inner: Box<dyn ExecutionPort>,
    gate: TradingGate,
    marks: Arc<Marks>,
}

impl Probe {
    fn look(&self) {
        if !self.gate.is_open() {
            let mut seen = self.marks.gate_seen.lock().unwrap();
            if seen.is_none() && self.marks.pressed.lock().unwrap().is_some() {
                *seen = Some(Instant::now());
            }
        }
    }
}

impl ExecutionPort for Probe {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        self.look();
        if !order.spec.reduce_only && self.marks.closed.lock().unwrap().is_some() {
            self.marks.leaked.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.submit(now, order)
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.look();
        self.marks.cancels_in_trial.fetch_add(1, Ordering::Relaxed);
        if self.marks.pressed.lock().unwrap().is_some() {
            *self.marks.last_cancel.lock().unwrap() = Some(Instant::now());
        }
        self.inner.cancel(now, id)
    }
    fn on_market(&mut self, event: &MarketEvent) {
        self.look();
        self.inner.on_market(event)
    }
    fn next_report_time(&self) -> Option<Timestamp> {
        self.inner.next_report_time()
    }
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        self.look();
        self.inner.poll_reports(now, out)
    }
    fn stats(&self) -> PortStats {
        self.inner.stats()
    }
}

/// Notes the end of the halt's dispatch: its state change comes after its cancels.
struct HaltWatch(Arc<Marks>);

impl RunObserver for HaltWatch {
    fn after_step(&mut self, engine: &Engine, now: Timestamp) {
        if self.0.cancels_handed.lock().unwrap().is_none() {
            return;
        }
        let mut r = self.0.resolved.lock().unwrap();
        if r.is_none()
            && let Some(k) = engine.kill_progress()
            && k.all_resolved()
        {
            *r = Some((Instant::now(), now.since(k.started)));
        }
    }

    fn on_effect(&mut self, engine: &Engine, _now: Timestamp, effect: &Effect) {
        if let Effect::StateChanged {
            state: TradingState::Active,
            ..
        } = effect
        {
            self.0.rearmed.store(true, Ordering::SeqCst);
        }
        if let Effect::StateChanged {
            state: TradingState::Halted,
            ..
        } = effect
        {
            let mut m = self.0.cancels_handed.lock().unwrap();
            if m.is_none() {
                let n = engine.kill_progress().map_or(0, |k| k.cancels_requested);
                // The kill's cancels are handed over while the engine halts, before its
                // state change is dispatched: the last one handed is the mark.
                let last = self.0.last_cancel.lock().unwrap().take();
                *m = Some((last.unwrap_or_else(Instant::now), n));
            }
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let trials = arg("--trials", 300);
    let max_open = arg("--max-open", 1000);
    let mut cfg = Config::default();
    cfg.sim.event_rate = 1000.0;
    cfg.risk.max_open_orders = u32::try_from(max_open).unwrap_or(u32::MAX);
    cfg.risk.max_orders_per_sec = 0;
    cfg.kill_switch.flatten_on_kill = false;
    let a = assemble(&cfg, 3, TradingState::Active).expect("assemble");
    let gate = a.engine.gate().clone();
    let marks = Arc::new(Marks::default());
    let probe = Probe {
        inner: Box::new(a.exec),
        gate: gate.clone(),
        marks: marks.clone(),
    };
    let mut runner = Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(probe),
        RunOptions {
            // 1,000 events/s of market time at 100x: about 100,000 events/s of wall time.
            speed: Speed::Times(100.0),
            run_for: None,
            publish_every: Duration::from_millis(5),
            ..RunOptions::default()
        },
    );
    runner.run_until(SIM_EPOCH + Duration::from_secs(2));
    let mid = runner
        .engine
        .book(InstrumentId(0))
        .mid_ticks()
        .expect("mid");
    let mid = i64::try_from(mid.trunc()).expect("mid");
    // The halt alone, on this thread: 1,000 resting orders, K, timed; then re-armed.
    let storm_order = |n: i64| {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let off = 20 + n % 30;
        let price = if side == Side::Buy {
            mid - off
        } else {
            mid + off
        };
        Command::Manual(ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side,
                kind: OrderKind::Limit,
                price: Some(Price(price)),
                qty: Qty(1),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            client_id: None,
        })
    };
    let mut alone = Vec::new();
    for _ in 0..20 {
        let mut n = 0;
        while runner.engine.open_orders().len() < max_open && n < 5000 {
            runner.command(storm_order(n));
            n += 1;
        }
        let targets = runner.engine.open_orders().len();
        let t = Instant::now();
        runner.command(Command::KillSwitch);
        alone.push((t.elapsed().as_secs_f64() * 1e6, targets));
        runner.run_until(runner.now() + Duration::from_millis(200));
        runner.command(Command::ReArm);
    }
    let mut halt_us: Vec<f64> = alone.iter().map(|a| a.0).collect();
    println!(
        "halt of {} open orders, engine alone: p50 {:.1} us, max {:.1} us",
        alone[0].1,
        pct(&mut halt_us, 0.5),
        pct(&mut halt_us, 1.0)
    );
    let mut runner = runner.with_observer(Box::new(HaltWatch(marks.clone())));
    let (tx, rx) = mpsc::channel();
    let (view_tx, _view_rx) = tokio::sync::watch::channel(Arc::new(runner.engine.view()));
    let engine = std::thread::spawn(move || runner.run(rx, Some(view_tx)));

    // The storm: manual limit orders around the mid, as fast as the channel takes them.
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
                let off = 20 + n % 30;
                let price = if side == Side::Buy {
                    mid - off
                } else {
                    mid + off
                };
                let order = Command::Manual(ManualOrder {
                    spec: OrderSpec {
                        instrument: InstrumentId(0),
                        side,
                        kind: OrderKind::Limit,
                        price: Some(Price(price)),
                        qty: Qty(1),
                        tif: TimeInForce::Gtc,
                        reduce_only: false,
                    },
                    client_id: None,
                });
                if tx.send(order).is_err() {
                    break;
                }
                n += 1;
                if n % 64 == 0 {
                    // About 64,000 orders a second, a little less than the engine can
                    // refuse or place while it also takes the feed.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };

    let (mut gate_us, mut cancels_us, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    let mut closed_us = Vec::new();
    let (mut resolved_us, mut resolved_engine_ms) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        // Let the storm and the strategies put orders out.
        std::thread::sleep(Duration::from_millis(20));
        *marks.gate_seen.lock().unwrap() = None;
        *marks.cancels_handed.lock().unwrap() = None;
        *marks.last_cancel.lock().unwrap() = None;
        *marks.resolved.lock().unwrap() = None;
        marks.cancels_in_trial.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        *marks.pressed.lock().unwrap() = Some(t0);
        gate.kill();
        let closed = Instant::now();
        *marks.closed.lock().unwrap() = Some(closed);
        closed_us.push(closed.duration_since(t0).as_secs_f64() * 1e6);
        tx.send(Command::KillSwitch).expect("engine alive");
        let deadline = Instant::now() + Duration::from_secs(5);
        let (handed, n) = loop {
            if let Some(h) = *marks.cancels_handed.lock().unwrap() {
                break h;
            }
            assert!(Instant::now() < deadline, "no halt");
            std::thread::sleep(Duration::from_micros(50));
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let (resolved, engine_time) = loop {
            if let Some(r) = *marks.resolved.lock().unwrap() {
                break r;
            }
            assert!(Instant::now() < deadline, "kill targets never resolved");
            std::thread::sleep(Duration::from_micros(50));
        };
        resolved_us.push(resolved.duration_since(t0).as_secs_f64() * 1e6);
        resolved_engine_ms.push(engine_time.as_secs_f64() * 1e3);
        let seen = marks.gate_seen.lock().unwrap().unwrap_or(handed);
        gate_us.push(seen.duration_since(t0).as_secs_f64() * 1e6);
        cancels_us.push(handed.duration_since(t0).as_secs_f64() * 1e6);
        targets.push(n as f64);
        *marks.pressed.lock().unwrap() = None;
        *marks.closed.lock().unwrap() = None;
        marks.rearmed.store(false, Ordering::SeqCst);
        tx.send(Command::ReArm).expect("engine alive");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !marks.rearmed.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "no re-arm");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    stop.store(true, Ordering::Relaxed);
    storm.join().ok();
    tx.send(Command::Shutdown).ok();
    drop(tx);
    let result = engine.join().expect("engine thread");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "kill under load: {trials} trials, {} cores, load {}, engine events {} ({} orders)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        result.summary.events,
        result.summary.orders,
    );
    for (name, v) in [
        ("K -> gate closed to every port", &mut closed_us),
        ("K -> next port call (finds it closed)", &mut gate_us),
        ("K -> all cancels handed to the port", &mut cancels_us),
        ("K -> all resolved (paper, wall, 100x)", &mut resolved_us),
    ] {
        println!(
            "{name:38} p50 {:>9.1} us  p99 {:>9.1} us  max {:>9.1} us",
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    println!(
        "{:38} p50 {:>9.2} ms  p99 {:>9.2} ms  max {:>9.2} ms",
        "K -> all resolved, engine time (5+5 ms)",
        pct(&mut resolved_engine_ms, 0.5),
        pct(&mut resolved_engine_ms, 0.99),
        pct(&mut resolved_engine_ms, 1.0)
    );
    println!(
        "{:38} {}",
        "orders adding exposure handed after it",
        marks.leaked.load(Ordering::Relaxed)
    );
    println!(
        "{:38} p50 {:>9.0}     p99 {:>9.0}     max {:>9.0}",
        "cancel targets per kill",
        pct(&mut targets, 0.5),
        pct(&mut targets, 0.99),
        pct(&mut targets, 1.0)
    );
}
