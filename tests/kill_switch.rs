//! The kill switch as a trader relies on it in a race: one gate enforced around every
//! port, a re-arm that cannot undo a later kill, and a kill that jumps queued commands.

use pit::config::Config;
use pit::domain::OrderSpec;
use pit::domain::{
    ClientOrderId, ExecReport, InstrumentId, MarketEvent, OrderKind, OrderRequest, Owner, Price,
    Qty, Side, TimeInForce, Timestamp, TradingState,
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

/// The port behind the gate: counts every order handed to it while the test says a kill
/// has returned, and logs the cancels it is handed when given a log.
struct Spy {
    inner: Box<dyn ExecutionPort>,
    after_kill: Arc<AtomicBool>,
    leaked: Arc<AtomicU64>,
    reached: Arc<AtomicU64>,
    log: Option<Log>,
}

impl ExecutionPort for Spy {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        self.reached.fetch_add(1, Ordering::SeqCst);
        if self.after_kill.load(Ordering::SeqCst) {
            self.leaked.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.submit(now, order)
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        if let Some(log) = &self.log {
            log.0.lock().unwrap().push(format!("port cancel {id}"));
        }
        self.inner.cancel(now, id)
    }
    fn on_market(&mut self, event: &MarketEvent) {
        self.inner.on_market(event)
    }
    fn next_report_time(&self) -> Option<Timestamp> {
        self.inner.next_report_time()
    }
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        self.inner.poll_reports(now, out)
    }
    fn stats(&self) -> PortStats {
        self.inner.stats()
    }
}

/// Spin for about `us` microseconds (sleeps are far coarser than the race).
fn spin_us(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

/// R, then K 0–50 µs later from another thread, 10,000 times against the engine thread
/// at full speed with its strategies quoting: once `kill` has returned, no order reaches
/// the port (this config sends no flatten on a kill, so every order would be a leak).
#[test]
fn a_re_arm_racing_a_kill_never_lets_an_order_out_after_the_kill() {
    let mut cfg = Config::default();
    cfg.kill_switch.flatten_on_kill = false;
    let a = assemble(&cfg, 17, TradingState::Active).unwrap();
    let after_kill = Arc::new(AtomicBool::new(false));
    let leaked = Arc::new(AtomicU64::new(0));
    let reached = Arc::new(AtomicU64::new(0));
    let spy = Spy {
        inner: Box::new(a.exec),
        after_kill: after_kill.clone(),
        leaked: leaked.clone(),
        reached: reached.clone(),
        log: None,
    };
    let handle = pit::runner::spawn(
        a.engine,
        Box::new(a.market),
        Box::new(spy),
        RunOptions {
            speed: Speed::Max,
            run_for: None,
            publish_every: Duration::from_millis(1),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let t0 = Instant::now();
    while reached.load(Ordering::SeqCst) < 50 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no order flow");
        std::thread::sleep(Duration::from_millis(1));
    }
    let killer = handle.killer();
    let (go_tx, go_rx) = mpsc::channel::<u64>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let flag = after_kill.clone();
    // The kill thread: told when R has been sent, waits 0–50 µs, presses K.
    let kill_thread = std::thread::spawn(move || {
        for (n, delay) in go_rx.iter().enumerate() {
            spin_us(delay);
            assert!(killer.kill("test", &format!("trial {n}")));
            flag.store(true, Ordering::SeqCst);
            done_tx.send(()).unwrap();
        }
    });
    let trials = 10_000u64;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let before = reached.load(Ordering::SeqCst);
    for n in 0..trials {
        after_kill.store(false, Ordering::SeqCst);
        assert!(handle.send(Command::ReArm));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly 0-50 µs; every hundredth trial waits 20 ms, so that re-arm surely wins
        // and orders flow between trials even on a loaded machine (the check below).
        let delay = if n % 100 == 99 { 20_000 } else { rng % 51 };
        go_tx.send(delay).unwrap();
        done_rx.recv().unwrap();
        // Wait until the engine has acted on this trial's kill.
        let want = format!("trial {n}");
        let t = Instant::now();
        loop {
            let v = handle.view();
            if v.trading_state == TradingState::Halted && v.halt_reason.as_deref() == Some(&want) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "trial {n}: no halt: {} {:?}",
                v.trading_state,
                v.halt_reason
            );
            std::thread::sleep(Duration::from_micros(20));
        }
        if handle.gate().is_open() {
            panic!("trial {n}: the gate is open after the kill");
        }
    }
    drop(go_tx);
    kill_thread.join().unwrap();
    handle.shutdown();
    let result = handle.join().expect("engine thread");
    assert_eq!(result.summary.trading_state, TradingState::Halted);
    assert!(
        reached.load(Ordering::SeqCst) > before,
        "some re-arms won their race: orders flowed between trials"
    );
    assert_eq!(
        leaked.load(Ordering::SeqCst),
        0,
        "orders reached the port after kill() returned"
    );
}

/// Records the order of the effects that matter here.
struct Trace(Arc<Mutex<Vec<String>>>);

impl RunObserver for Trace {
    fn on_effect(&mut self, _engine: &Engine, _now: Timestamp, effect: &Effect) {
        let line = match effect {
            Effect::Submit(o) => format!("submit {:?}", o.owner),
            Effect::Cancel(_) => "cancel".to_string(),
            Effect::StateChanged { state, .. } => format!("state {state}"),
            Effect::Alert(a) if a.text.starts_with("HALTED:") => "halt".to_string(),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// 1,000 manual orders are queued, then K: the kill is carried out first (its halt and its
/// cancels come before any of those orders), so none of them leaves. Through the kill
/// switch's priority lane (every kill path: the console, signals, the socket) ...
#[test]
fn a_kill_jumps_a_thousand_queued_commands() {
    kill_behind_a_thousand_commands(true);
}

/// ... and for a bare gate press and kill command down the command channel.
#[test]
fn a_bare_kill_command_also_jumps_the_queue() {
    kill_behind_a_thousand_commands(false);
}

fn kill_behind_a_thousand_commands(lane: bool) {
    let mut cfg = Config::default();
    cfg.risk.max_open_orders = 5000;
    cfg.risk.max_orders_per_sec = 0;
    let a = assemble(&cfg, 7, TradingState::Active).unwrap();
    let mut r = Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(a.exec),
        RunOptions {
            speed: Speed::Max,
            run_for: Some(Duration::from_secs(2)),
            ..RunOptions::default()
        },
    );
    r.run_until(SIM_EPOCH + Duration::from_secs(5));
    assert!(
        !r.engine.open_orders().is_empty(),
        "strategies have orders out"
    );
    let mid = r.engine.book(InstrumentId(0)).mid_ticks().unwrap();
    let mid = i64::try_from(mid.trunc()).unwrap();
    let trace = Arc::new(Mutex::new(Vec::new()));
    let r = r.with_observer(Box::new(Trace(trace.clone())));
    let (tx, rx) = mpsc::channel();
    for n in 0..1000 {
        tx.send(Command::Manual(ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(mid - 20 - n % 30)),
                qty: Qty(1),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            client_id: None,
        }))
        .unwrap();
    }
    if lane {
        let killer = r.killer(tx.clone());
        assert!(killer.kill("test", "behind a thousand"));
    } else {
        r.engine.gate().kill();
        tx.send(Command::KillSwitch).unwrap();
    }
    drop(tx);
    let result = r.run(rx, None);
    assert_eq!(result.summary.trading_state, TradingState::Halted);
    let trace = trace.lock().unwrap();
    let halts = trace.iter().filter(|l| *l == "halt").count();
    assert_eq!(
        halts, 1,
        "one press, one halt (the lane's wake-up copy is dropped)"
    );
    let halted = trace
        .iter()
        .position(|l| l == "state HALTED")
        .expect("halted");
    let first_manual = trace
        .iter()
        .position(|l| l == &format!("submit {:?}", Owner::Manual));
    assert_eq!(first_manual, None, "no queued order left: {trace:?}");
    assert!(
        trace[..halted].iter().all(|l| !l.starts_with("submit")),
        "nothing was sent before the halt"
    );
    assert!(
        trace[..halted].iter().any(|l| l == "cancel"),
        "the kill's cancels went out"
    );
}

fn runner(cfg: &Config, seed: u64) -> Runner {
    let a = assemble(cfg, seed, TradingState::Active).unwrap();
    Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(a.exec),
        RunOptions {
            speed: Speed::Max,
            ..RunOptions::default()
        },
    )
}

fn at(secs: f64) -> Timestamp {
    SIM_EPOCH + Duration::from_secs_f64(secs)
}

/// HALTED holds the strategies' exits (the exit manager wants out at once here): nothing
/// leaves but cancels until the operator flattens, and the held exit is shown.
#[test]
fn halted_holds_the_exit_managers_orders_until_the_operator_flattens() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    cfg.strategies.exit_manager.stop_loss_bps = rust_decimal::Decimal::new(1, 4);
    cfg.strategies.exit_manager.take_profit_bps = rust_decimal::Decimal::new(1, 4);
    cfg.kill_switch.flatten_on_kill = false;
    let mut r = runner(&cfg, 21);
    r.run_until(at(3.0));
    let inst = InstrumentId(0);
    r.command(Command::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: inst,
            side: Side::Buy,
            kind: OrderKind::Market,
            price: None,
            qty: Qty(10),
            tif: TimeInForce::Ioc,
            reduce_only: false,
        },
        client_id: None,
    }));
    // Step until the fill lands, then halt before the exit manager's next look.
    let t0 = r.now();
    while r.engine.position(inst).is_flat() {
        r.step();
        assert!(r.now() < t0 + Duration::from_secs(1), "no fill");
    }
    r.command(Command::KillSwitch);
    let sent = r.exec.stats().orders_sent;
    r.run_until(at(10.0));
    assert_eq!(
        r.exec.stats().orders_sent,
        sent,
        "no exit left while halted"
    );
    assert!(
        !r.engine.position(inst).is_flat(),
        "the position is still open"
    );
    let v = r.engine.view();
    let held: u64 = v.strategies.iter().map(|s| s.held_orders).sum();
    assert!(held > 0, "the held exits are counted: {:?}", v.strategies);
    assert!(
        v.alerts
            .iter()
            .any(|a| a.text.contains("exit held") && a.text.contains("exit-manager")),
        "an alert says the exit is held"
    );
    // The exit the operator asks for goes out.
    r.command(Command::Flatten(None));
    r.run_until(at(12.0));
    assert!(r.engine.position(inst).is_flat(), "flatten closed it");
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
}

/// A pause (or reduce-only mode) from before a halt is still there after the re-arm.
#[test]
fn a_re_arm_returns_to_the_pause_the_halt_interrupted() {
    let cfg = Config::default();
    let mut r = runner(&cfg, 23);
    r.run_until(at(3.0));
    r.command(Command::Pause);
    r.command(Command::KillSwitch);
    r.run_until(at(4.0));
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    r.command(Command::ReArm);
    assert_eq!(r.engine.trading_state(), TradingState::Paused);
    assert!(r.engine.gate().is_open());
    let v = r.engine.view();
    assert!(v.alerts.iter().any(|a| a.text == "re-armed: PAUSED"));

    r.command(Command::Reduce);
    r.command(Command::KillSwitch);
    r.command(Command::ReArm);
    assert_eq!(r.engine.trading_state(), TradingState::Reducing);
    r.command(Command::Resume);
    r.command(Command::KillSwitch);
    r.command(Command::ReArm);
    assert_eq!(r.engine.trading_state(), TradingState::Active);
}

/// A target that fills before its cancel arrives counts as filled, not cancelled; "all
/// resolved" comes only when every target is, and says how.
#[test]
fn kill_progress_tells_cancelled_from_filled() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    cfg.strategies.exit_manager.enabled = false;
    cfg.kill_switch.flatten_on_kill = false;
    let mut r = runner(&cfg, 29);
    r.run_until(at(3.0));
    let inst = InstrumentId(0);
    let mid = r.engine.book(inst).mid_ticks().unwrap();
    let mid = i64::try_from(mid.trunc()).unwrap();
    let order = |kind, price: Option<i64>, tif| {
        Command::Manual(ManualOrder {
            spec: OrderSpec {
                instrument: inst,
                side: Side::Buy,
                kind,
                price: price.map(Price),
                qty: Qty(1),
                tif,
                reduce_only: false,
            },
            client_id: None,
        })
    };
    // A market order (it fills on arrival, before the cancel behind it) and a resting bid.
    r.command(order(OrderKind::Market, None, TimeInForce::Ioc));
    r.command(order(OrderKind::Limit, Some(mid - 50), TimeInForce::Gtc));
    assert_eq!(r.engine.open_orders().len(), 2);
    r.command(Command::KillSwitch);
    let k = r.engine.kill_progress().unwrap().clone();
    assert_eq!((k.cancels_requested, k.cancels_sent), (2, 2));
    assert_eq!(k.unresolved.len(), 2, "{k:?}");
    assert!(!k.all_resolved());
    assert!(
        k.describe()
            .starts_with("cancels 2 sent: 0 cancelled, 0 filled, 2 open (M-"),
        "{}",
        k.describe()
    );
    r.run_until(at(4.0));
    let k = r.engine.kill_progress().unwrap().clone();
    assert_eq!(
        (k.cancels_confirmed, k.filled, k.rejected),
        (1, 1, 0),
        "{k:?}"
    );
    assert!(k.unresolved.is_empty() && k.all_resolved());
    assert_eq!(k.describe(), "2/2 resolved: 1 cancelled, 1 filled");
    let v = r.engine.view();
    assert!(
        v.alerts
            .iter()
            .any(|a| a.text == "kill switch: all targets 2/2 resolved: 1 cancelled, 1 filled"),
        "{:?}",
        v.alerts.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
}

/// One ordered log of what the port received and what the observer saw dispatched.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl RunObserver for Log {
    fn on_effect(&mut self, _engine: &Engine, _now: Timestamp, effect: &Effect) {
        let line = match effect {
            Effect::Cancel(id) => format!("effect cancel {id}"),
            Effect::Alert(a) if a.text.starts_with("HALTED:") => "effect halt".to_string(),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// A kill's cancels reach the venue as the engine decides them: with 600 orders open,
/// every target's cancel is in the port before anything of the halt is dispatched (its
/// alert, its cancel effects for the store), and none is sent twice.
#[test]
fn a_kills_cancels_reach_the_port_before_the_rest_of_the_halt_and_once_each() {
    let mut cfg = Config::default();
    cfg.risk.max_open_orders = 5000;
    cfg.risk.max_orders_per_sec = 0;
    cfg.kill_switch.flatten_on_kill = false;
    let a = assemble(&cfg, 11, TradingState::Active).unwrap();
    let log = Log::default();
    let port = Spy {
        inner: Box::new(a.exec),
        after_kill: Default::default(),
        leaked: Default::default(),
        reached: Default::default(),
        log: Some(log.clone()),
    };
    let mut r = Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(port),
        RunOptions {
            speed: Speed::Max,
            ..RunOptions::default()
        },
    )
    .with_observer(Box::new(log.clone()));
    r.run_until(SIM_EPOCH + Duration::from_secs(3));
    let mid = r.engine.book(InstrumentId(0)).mid_ticks().unwrap();
    let mid = i64::try_from(mid.trunc()).unwrap();
    for n in 0..600 {
        r.command(Command::Manual(ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
                kind: OrderKind::Limit,
                price: Some(Price(if n % 2 == 0 {
                    mid - 40 - n % 30
                } else {
                    mid + 40 + n % 30
                })),
                qty: Qty(1),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            client_id: None,
        }));
    }
    let targets: Vec<String> = r
        .engine
        .open_orders()
        .keys()
        .map(|id| id.to_string())
        .collect();
    assert!(targets.len() >= 600, "{} open", targets.len());
    log.0.lock().unwrap().clear();
    r.engine.gate().kill();
    r.command(Command::KillSwitch);
    let log = log.0.lock().unwrap();
    let first_effect = log
        .iter()
        .position(|l| l.starts_with("effect"))
        .expect("the halt's effects were dispatched");
    let sent: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("port cancel "))
        .collect();
    assert_eq!(
        sent.len(),
        targets.len(),
        "one cancel per target, none twice"
    );
    let mut sorted = sent.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), targets.len(), "every target, once");
    assert!(
        log[..first_effect]
            .iter()
            .all(|l| l.starts_with("port cancel"))
            && first_effect == sent.len(),
        "every cancel reached the port before the halt's first effect: first effect at {first_effect} of {}",
        log.len()
    );
    let effects = log
        .iter()
        .filter(|l| l.starts_with("effect cancel"))
        .count();
    assert_eq!(
        effects,
        targets.len(),
        "each cancel is still an effect for the store"
    );
}
