//! Engine behaviour a trader relies on: the kill switch, trading states, strategy toggles,
//! determinism. Driven through the real runner, simulated market and paper venue.

use pit::config::Config;
use pit::domain::OrderSpec;
use pit::domain::{
    ClientOrderId, ExecReport, MarketEvent, OrderKind, OrderRequest, Side, TimeInForce, Timestamp,
    TradingGate, TradingState,
};
use pit::engine::risk::RiskApproved;
use pit::engine::{Command, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use pit::venue::{ExecutionPort, PortStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn runner(cfg: &Config, seed: u64) -> Runner {
    let a = assemble(cfg, seed, TradingState::Active).expect("assemble");
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

fn manual(side: Side, lots: i64, market: bool, price: Option<i64>) -> Command {
    Command::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: pit::domain::InstrumentId(0),
            side,
            kind: if market {
                OrderKind::Market
            } else {
                OrderKind::Limit
            },
            price: price.map(pit::domain::Price),
            qty: pit::domain::Qty(lots),
            tif: if market {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            reduce_only: false,
        },
        client_id: None,
    })
}

/// An execution port that counts what it forwards, and whether anything that could add
/// exposure was forwarded after the test said the kill switch had been pressed.
struct Spy<P> {
    inner: P,
    killed: Arc<AtomicBool>,
    forwarded_after_kill: Arc<AtomicU64>,
    attempts_after_kill: Arc<AtomicU64>,
}

impl<P: ExecutionPort> ExecutionPort for Spy<P> {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        let after_kill = self.killed.load(Ordering::SeqCst);
        let reduce_only = order.spec.reduce_only;
        let before = self.inner.stats().orders_sent;
        self.inner.submit(now, order);
        let sent = self.inner.stats().orders_sent > before;
        if after_kill && !reduce_only {
            self.attempts_after_kill.fetch_add(1, Ordering::SeqCst);
            if sent {
                self.forwarded_after_kill.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
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

/// The gate closes from another thread in the middle of an order storm (the engine
/// thread still holds approved orders it has not sent): none of them leaves afterwards.
#[test]
fn kill_switch_in_an_order_storm_stops_every_order_at_the_gate() {
    let mut cfg = Config::default();
    cfg.risk.max_open_orders = 1000;
    cfg.risk.max_orders_per_sec = 0;
    let mut r = runner(&cfg, 7);
    r.run_until(at(5.0));
    let mid = r
        .engine
        .book(pit::domain::InstrumentId(0))
        .mid_ticks()
        .unwrap();
    let mid = i64::try_from(mid.trunc()).unwrap();
    // Storm: 200 resting manual orders around the mid, alternating sides.
    let gate: TradingGate = r.engine.gate().clone();
    let sent_before = r.exec.stats().orders_sent;
    for n in 0..200 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let off = 20 + (n % 30);
        let px = if side == Side::Buy {
            mid - off
        } else {
            mid + off
        };
        r.command(manual(side, 1, false, Some(px)));
        if n == 120 {
            // The key press: the gate closes at once, from the console thread.
            let g = gate.clone();
            std::thread::spawn(move || g.close()).join().unwrap();
        }
    }
    let stats = r.exec.stats();
    assert!(
        stats.orders_sent > sent_before + 100,
        "storm reached the venue"
    );
    assert_eq!(
        stats.orders_sent,
        sent_before + 121,
        "nothing left after the gate closed"
    );
    assert!(
        stats.orders_blocked >= 79,
        "orders after the close were stopped: {stats:?}"
    );
    // The kill command then cancels everything the venue holds, and the venue confirms.
    r.command(Command::KillSwitch);
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    r.run_until(at(6.0));
    let k = r.engine.kill_progress().expect("kill progress").clone();
    assert!(k.cancels_requested >= 100, "{k:?}");
    // Every target resolved: cancelled, or filled before its cancel arrived (a fill is
    // not a cancel confirmation).
    assert!(k.all_resolved(), "{k:?}");
    assert_eq!(k.resolved(), k.cancels_requested, "{k:?}");
    assert!(r.engine.open_orders().is_empty());
    // Still halted a while later: strategies keep running but nothing leaves.
    let sent = r.exec.stats().orders_sent;
    r.run_until(at(30.0));
    assert_eq!(r.exec.stats().orders_sent, sent);
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
}

/// The same with the real engine thread at full speed and the strategies churning.
#[test]
fn kill_switch_on_the_engine_thread_under_load() {
    let cfg = Config::default();
    let a = assemble(&cfg, 11, TradingState::Active).unwrap();
    let killed = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let spy = Spy {
        inner: a.exec,
        killed: killed.clone(),
        forwarded_after_kill: forwarded.clone(),
        attempts_after_kill: attempts.clone(),
    };
    let handle = pit::runner::spawn(
        a.engine,
        Box::new(a.market),
        Box::new(spy),
        RunOptions {
            speed: Speed::Max,
            run_for: Some(Duration::from_secs(3600)),
            publish_every: Duration::from_millis(5),
            ..RunOptions::default()
        },
    )
    .unwrap();
    // Wait for real order flow.
    let t0 = std::time::Instant::now();
    while handle.view().health.orders < 200 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no order flow");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(handle.kill());
    killed.store(true, Ordering::SeqCst);
    // Let it run on for a while, then stop.
    let t1 = std::time::Instant::now();
    loop {
        let v = handle.view();
        if v.trading_state == TradingState::Halted && v.open_orders.is_empty() {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(30), "kill not completed");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    handle.shutdown();
    let result = handle.join().expect("engine thread");
    assert_eq!(
        forwarded.load(Ordering::SeqCst),
        0,
        "an order left after the kill"
    );
    assert_eq!(result.summary.trading_state, TradingState::Halted);
    let _ = attempts.load(Ordering::SeqCst);
}

#[test]
fn same_seed_same_fills_other_seed_other_fills() {
    let cfg = Config::default();
    let run = |seed| {
        let mut r = runner(&cfg, seed);
        r.run_until(at(120.0));
        r.engine.summary()
    };
    let a = run(1);
    let b = run(1);
    let c = run(2);
    assert!(a.fills > 10, "the strategies trade: {a:?}");
    assert_eq!(a, b);
    assert_ne!(a.fill_log_sha256, c.fill_log_sha256);
}

#[test]
fn pause_holds_strategy_orders_and_resume_releases_them() {
    let cfg = Config::default();
    let mut r = runner(&cfg, 3);
    r.run_until(at(10.0));
    r.command(Command::Pause);
    assert_eq!(r.engine.trading_state(), TradingState::Paused);
    let sent = r.exec.stats().orders_sent;
    r.run_until(at(40.0));
    assert_eq!(
        r.exec.stats().orders_sent,
        sent,
        "no new strategy orders while paused"
    );
    let v = r.engine.view();
    assert!(
        v.strategies.iter().any(|s| s.held),
        "the console can show held strategies"
    );
    r.command(Command::Resume);
    r.run_until(at(70.0));
    assert!(
        r.exec.stats().orders_sent > sent,
        "orders flow again after resume"
    );
}

#[test]
fn switching_a_strategy_off_cancels_its_orders() {
    let cfg = Config::default();
    let mut r = runner(&cfg, 5);
    let owner = pit::domain::Owner::Strategy(0);
    let quoting = |r: &Runner| {
        r.engine
            .open_orders()
            .values()
            .any(|o| o.req.owner == owner)
    };
    let mut t = 5.0;
    while !quoting(&r) && t < 60.0 {
        t += 0.1;
        r.run_until(at(t));
    }
    assert!(quoting(&r), "the market maker quotes");
    r.command(Command::ToggleStrategy(0));
    assert_eq!(r.engine.strategy_enabled(0), Some(false));
    r.run_until(at(t + 1.0));
    assert!(!quoting(&r), "its quotes are gone");
    r.command(Command::ToggleStrategy(0));
    let back = t + 1.0;
    while !quoting(&r) && t < back + 30.0 {
        t += 0.1;
        r.run_until(at(t));
    }
    assert!(quoting(&r), "it quotes again");
}

#[test]
fn halted_refuses_manual_orders_until_re_armed_but_allows_reduce_only() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 9);
    r.run_until(at(5.0));
    r.command(manual(Side::Buy, 10, true, None));
    r.run_until(at(6.0));
    let long = r.engine.position(pit::domain::InstrumentId(0)).qty;
    assert!(long > rust_decimal::Decimal::ZERO, "bought");
    r.command(Command::KillSwitch);
    let sent = r.exec.stats().orders_sent;
    r.command(manual(Side::Buy, 1, true, None));
    assert_eq!(r.exec.stats().orders_sent, sent, "halted: no new exposure");
    let text = &r.engine.alerts().last().unwrap().text;
    assert!(text.contains("reduce-only"), "{text}");
    // Flatten is reduce-only and goes through the closed gate.
    r.command(Command::Flatten(None));
    r.run_until(at(7.0));
    assert!(r.engine.position(pit::domain::InstrumentId(0)).is_flat());
    r.command(Command::ReArm);
    assert_eq!(r.engine.trading_state(), TradingState::Active);
    assert!(r.engine.gate().is_open());
    r.command(manual(Side::Buy, 1, true, None));
    assert_eq!(r.exec.stats().orders_sent, sent + 2);
}

#[test]
fn kill_switch_flattens_when_configured() {
    let mut cfg = Config::default();
    cfg.kill_switch.flatten_on_kill = true;
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 4);
    r.run_until(at(5.0));
    r.command(manual(Side::Sell, 20, true, None));
    r.run_until(at(6.0));
    assert!(!r.engine.position(pit::domain::InstrumentId(0)).is_flat());
    r.command(Command::KillSwitch);
    r.run_until(at(7.0));
    assert!(r.engine.position(pit::domain::InstrumentId(0)).is_flat());
    assert_eq!(r.engine.kill_progress().unwrap().flatten_orders, 1);
}

#[test]
fn daily_loss_limit_trips_a_halt_by_itself() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    cfg.risk.daily_loss_limit = rust_decimal::Decimal::new(5, 1); // 0.5 USD
    let mut r = runner(&cfg, 12);
    r.run_until(at(5.0));
    // Round trips across the spread lose money quickly.
    for n in 0..40 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        r.command(manual(side, 100, true, None));
        r.run_until(at(5.0 + 0.1 * f64::from(n + 1)));
        if r.engine.trading_state() == TradingState::Halted {
            break;
        }
    }
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    assert!(!r.engine.gate().is_open());
    let halted = r.engine.alerts().any(|a| a.text.contains("daily loss"));
    assert!(halted, "the alert says why");
}

#[test]
fn preview_shows_the_risk_verdict_and_sends_nothing() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 21);
    r.run_until(at(3.0));
    let sent = r.exec.stats().orders_sent;
    let Command::Manual(big) = manual(Side::Buy, 5_000, true, None) else {
        unreachable!()
    };
    r.command(Command::Preview(big));
    let v = r.engine.view();
    let verdict = &v.order_preview.as_ref().expect("a preview").verdict;
    let msg = verdict.as_ref().expect_err("5 BTC is over max_order_qty");
    assert!(msg.contains("max_order_qty"), "{msg}");
    let Command::Manual(small) = manual(Side::Buy, 2, true, None) else {
        unreachable!()
    };
    r.command(Command::Preview(small));
    assert_eq!(r.engine.view().order_preview.unwrap().verdict, Ok(()));
    assert_eq!(r.exec.stats().orders_sent, sent, "a preview sends nothing");
    r.command(Command::KillSwitch);
    let Command::Manual(small) = manual(Side::Buy, 2, true, None) else {
        unreachable!()
    };
    r.command(Command::Preview(small));
    let v = r.engine.view();
    let msg = v.order_preview.unwrap().verdict.unwrap_err();
    assert!(msg.contains("HALTED"), "{msg}");
}

#[test]
fn a_re_arm_never_undoes_a_later_kill() {
    let cfg = Config::default();
    let mut r = runner(&cfg, 31);
    r.run_until(at(3.0));
    r.command(Command::KillSwitch);
    // The trader presses R, y ... and then K again before the engine saw the re-arm.
    let gate = r.engine.gate().clone();
    gate.kill();
    r.command(Command::ReArm);
    assert_eq!(
        r.engine.trading_state(),
        TradingState::Halted,
        "re-arm refused"
    );
    assert!(!gate.is_open());
    r.command(Command::KillSwitch);
    r.run_until(at(5.0));
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    // A re-arm after every press it has seen works.
    r.command(Command::ReArm);
    assert_eq!(r.engine.trading_state(), TradingState::Active);
    assert!(gate.is_open());
}

#[test]
fn flatten_works_while_a_reduce_only_exit_is_resting() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    cfg.strategies.exit_manager.enabled = false;
    cfg.kill_switch.flatten_on_kill = true;
    let mut r = runner(&cfg, 8);
    r.run_until(at(3.0));
    r.command(manual(Side::Buy, 10, true, None));
    r.run_until(at(4.0));
    let inst = pit::domain::InstrumentId(0);
    assert!(!r.engine.position(inst).is_flat());
    // A resting reduce-only sell far above the market for part of the position.
    let ask = r.engine.book(inst).best_ask().unwrap().price.0;
    r.command(Command::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: inst,
            side: Side::Sell,
            kind: OrderKind::Limit,
            price: Some(pit::domain::Price(ask + 500)),
            qty: pit::domain::Qty(3),
            tif: TimeInForce::Gtc,
            reduce_only: true,
        },
        client_id: None,
    }));
    r.run_until(at(4.5));
    assert_eq!(r.engine.open_orders().len(), 1, "the exit rests");
    r.command(Command::KillSwitch);
    r.run_until(at(6.0));
    assert!(
        r.engine.position(inst).is_flat(),
        "the kill switch flattened"
    );
    assert!(r.engine.open_orders().is_empty());
    assert!(r.engine.kill_progress().unwrap().flatten_orders >= 1);
}

#[test]
fn paused_holds_strategies_but_not_a_person() {
    let mut cfg = Config::default();
    cfg.strategies.exit_manager.enabled = false;
    let mut r = runner(&cfg, 13);
    r.run_until(at(3.0));
    r.command(Command::Pause);
    let sent = r.exec.stats().orders_sent;
    r.command(manual(Side::Buy, 2, true, None));
    assert_eq!(
        r.exec.stats().orders_sent,
        sent + 1,
        "a manual hedge goes out"
    );
}

#[test]
fn publishing_views_never_changes_what_the_engine_decides() {
    let mut cfg = Config::default();
    cfg.risk.max_drawdown = rust_decimal::Decimal::new(5, 1);
    let run = |views: bool| {
        let mut r = runner(&cfg, 17);
        let mut t = 0.0;
        while t < 90.0 {
            t += 0.05;
            r.run_until(at(t));
            if views {
                let _ = r.engine.view();
            }
            if t > 30.0 && r.engine.trading_state() == TradingState::Halted {
                r.command(Command::ReArm);
            }
        }
        (r.engine.summary(), r.engine.trading_state())
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn no_new_orders_on_a_resyncing_instrument_until_a_snapshot() {
    use pit::domain::{Level, MarketEventKind};
    use pit::engine::Input;
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 23);
    r.run_until(at(3.0));
    let inst = pit::domain::InstrumentId(0);
    let now = r.now();
    let mut effects = Vec::new();
    let event = |kind| {
        Input::Market(MarketEvent {
            ts: now,
            instrument: inst,
            kind,
        })
    };
    r.engine.process(
        now,
        event(MarketEventKind::Resyncing {
            reason: "gap".into(),
        }),
        &mut effects,
    );
    assert!(r.engine.view().markets[0].resyncing);
    let sent = r.exec.stats().orders_sent;
    r.command(manual(Side::Buy, 1, true, None));
    assert_eq!(
        r.exec.stats().orders_sent,
        sent,
        "no new exposure while RESYNCING"
    );
    let text = &r.engine.alerts().last().unwrap().text;
    assert!(text.contains("RESYNCING"), "{text}");
    // A fresh snapshot restores it.
    let book = r.engine.book(inst).clone();
    let side = |s| book.levels(s).collect::<Vec<Level>>();
    r.engine.process(
        now,
        event(MarketEventKind::Snapshot {
            bids: side(Side::Buy),
            asks: side(Side::Sell),
        }),
        &mut effects,
    );
    r.command(manual(Side::Buy, 1, true, None));
    assert_eq!(r.exec.stats().orders_sent, sent + 1);
}

/// A kill from another thread (a signal, the HALT file, the control socket) closes the
/// gate before it returns and halts the engine with its source's reason.
#[test]
fn a_killer_from_another_thread_halts_with_its_reason() {
    let cfg = Config::default();
    let a = assemble(&cfg, 5, TradingState::Active).unwrap();
    let handle = pit::runner::spawn(
        a.engine,
        Box::new(a.market),
        Box::new(a.exec),
        RunOptions {
            speed: Speed::Max,
            run_for: Some(Duration::from_secs(3600)),
            publish_every: Duration::from_millis(5),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let killer = handle.killer();
    let gate = handle.gate().clone();
    std::thread::spawn(move || assert!(killer.kill("signal", "SIGUSR1 from pid 42")))
        .join()
        .unwrap();
    assert!(!gate.is_open(), "the gate closes before kill() returns");
    let t0 = std::time::Instant::now();
    loop {
        let v = handle.view();
        if v.trading_state == TradingState::Halted {
            assert_eq!(v.halt_reason.as_deref(), Some("SIGUSR1 from pid 42"));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no halt");
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.shutdown();
    let result = handle.join().expect("engine thread");
    assert_eq!(result.summary.trading_state, TradingState::Halted);
}

/// The daily loss halt holds for the rest of the trading day: a re-arm the same day is
/// refused; after the day boundary (here 00:01 UTC, a minute into the simulation) the
/// engine is still HALTED until a person re-arms, and then trades.
#[test]
fn a_daily_loss_halt_lifts_only_the_next_day_and_only_by_a_re_arm() {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    cfg.strategies.exit_manager.enabled = false;
    cfg.kill_switch.flatten_on_kill = true;
    cfg.risk.daily_loss_limit = rust_decimal::Decimal::new(5, 1); // 0.5 USD
    cfg.engine.day_boundary = pit::domain::TimeOfDay::new(0, 1).unwrap();
    let mut r = runner(&cfg, 12);
    r.run_until(at(5.0));
    for n in 0..40 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        r.command(manual(side, 100, true, None));
        r.run_until(at(5.0 + 0.1 * f64::from(n + 1)));
        if r.engine.trading_state() == TradingState::Halted {
            break;
        }
    }
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    r.run_until(at(20.0));
    r.command(Command::ReArm);
    r.run_until(at(20.1));
    assert_eq!(r.engine.trading_state(), TradingState::Halted, "same day");
    assert!(!r.engine.gate().is_open());
    assert!(
        r.engine.alerts().any(|a| a
            .text
            .contains("re-arm refused: the daily loss limit halted trading today")
            && a.text.contains("2026-01-01T00:01:00.000Z")),
        "the refusal says when"
    );
    // Past the boundary: a new day, still halted.
    r.run_until(at(61.0));
    assert_eq!(r.engine.trading_state(), TradingState::Halted);
    assert!(
        r.engine
            .alerts()
            .any(|a| a.text.contains("new trading day") && a.text.contains("may now be re-armed"))
    );
    r.command(Command::ReArm);
    r.run_until(at(61.1));
    assert_eq!(r.engine.trading_state(), TradingState::Active);
    assert!(r.engine.gate().is_open());
    // The day's loss counts from the boundary: a manual order is accepted again.
    let before = r.engine.summary().orders;
    r.command(manual(Side::Buy, 1, true, None));
    r.run_until(at(61.5));
    assert_eq!(r.engine.summary().orders, before + 1);
}

/// A book that applies nothing for `stale_data_ms` (its frames may keep coming: a frozen
/// feed) is stale: the position's mark is flagged stale in the view and in `pit status`,
/// and is the last trusted one; an update clears it.
#[test]
fn a_position_on_a_stale_book_shows_its_mark_as_stale() {
    use pit::domain::MarketEventKind;
    use pit::engine::Input;
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    // The informed-only market this test's seed was picked on (no noise orders).
    cfg.sim.noise_rate = 0.0;
    let mut r = runner(&cfg, 29);
    r.run_until(at(2.0));
    r.command(manual(Side::Buy, 1000, true, None));
    r.run_until(at(3.0));
    let v = r.engine.view();
    assert!(!v.positions[0].position.is_flat(), "the market buy filled");
    assert!(!v.positions[0].mark_stale);
    let mark = v.positions[0].mark;
    // No book update for longer than stale_data_ms (2000 ms by default): only timers.
    let later = r.now() + Duration::from_millis(2500);
    let mut effects = Vec::new();
    r.engine.process(later, Input::Timer, &mut effects);
    let v = r.engine.view();
    assert!(v.markets[0].stale);
    assert!(v.positions[0].mark_stale, "the mark is flagged stale");
    assert_eq!(
        v.positions[0].mark, mark,
        "the last trusted mark, unchanged"
    );
    let status = pit::control::status::Status::from_view(&v);
    assert!(status.positions[0].mark_stale);
    let text = status.to_text();
    assert!(text.contains("STALE"), "{text}");
    // One update and the mark is live again.
    let book = r.engine.book(pit::domain::InstrumentId(0)).clone();
    let best = book.best_bid().unwrap();
    r.engine.process(
        later,
        Input::Market(MarketEvent {
            ts: later,
            instrument: pit::domain::InstrumentId(0),
            kind: MarketEventKind::Level {
                side: Side::Buy,
                price: best.price,
                qty: best.qty,
            },
        }),
        &mut effects,
    );
    assert!(!r.engine.view().positions[0].mark_stale);
}

/// Reconciliation hands the engine the fills an earlier run's orders got while pit was
/// down: they move the position and say so at INFO (a restart is not an emergency); a
/// fill for an order nobody placed stays CRITICAL.
#[test]
fn an_earlier_runs_fill_is_applied_quietly_and_a_strangers_fill_is_critical() {
    use pit::domain::{Fill, InstrumentId, Liquidity, Qty};
    use pit::engine::{AlertLevel, Input};
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 31);
    r.run_until(at(2.0));
    let now = r.now();
    let fill = |id: &str, seq: u64| Fill {
        seq,
        ts: now,
        client_id: ClientOrderId::new(id),
        instrument: InstrumentId(0),
        side: Side::Buy,
        price: r.engine.book(InstrumentId(0)).best_ask().unwrap().price,
        qty: Qty(1000),
        fee: rust_decimal::Decimal::ZERO,
        liquidity: Liquidity::Taker,
        fee_base: rust_decimal::Decimal::ZERO,
    };
    let (earlier, stranger) = (fill("p3-S1-9", 1 << 40), fill("S9-9", (1 << 40) + 1));
    let mut effects = Vec::new();
    r.engine.process(
        now,
        Input::Exec(ExecReport::EarlierRunFill(earlier)),
        &mut effects,
    );
    let v = r.engine.view();
    assert!(
        !v.positions[0].position.is_flat(),
        "the fill moved the position"
    );
    let a = v
        .alerts
        .iter()
        .find(|a| a.text.contains("p3-S1-9"))
        .expect("an alert names the earlier run's order");
    assert_eq!(a.level, AlertLevel::Info, "{a:?}");
    assert!(a.text.contains("earlier run"), "{}", a.text);
    assert!(
        !v.alerts.iter().any(|a| a.level == AlertLevel::Critical),
        "{:?}",
        v.alerts
    );
    r.engine
        .process(now, Input::Exec(ExecReport::Filled(stranger)), &mut effects);
    let v = r.engine.view();
    let a = v
        .alerts
        .iter()
        .find(|a| a.text.contains("S9-9"))
        .expect("an alert names the unknown order");
    assert_eq!(a.level, AlertLevel::Critical, "{a:?}");
}

/// Client ids start again each run: a fill handed over from an earlier run's order never
/// books against this run's order of the same id (it moves the position only).
#[test]
fn an_earlier_runs_fill_never_books_against_this_runs_order_of_the_same_id() {
    use pit::domain::{Fill, InstrumentId, Liquidity, Qty};
    use pit::engine::Input;
    let mut cfg = Config::default();
    cfg.strategies.imbalance.enabled = false;
    let mut r = runner(&cfg, 31);
    r.run_until(at(2.0));
    let now = r.now();
    let quote = r
        .engine
        .open_orders()
        .values()
        .next()
        .expect("the market maker quotes")
        .clone();
    let before = r.engine.view().positions[0].position.qty;
    let fill = Fill {
        seq: 1 << 40,
        ts: now,
        client_id: quote.id().clone(),
        instrument: InstrumentId(0),
        side: quote.req.spec.side,
        price: quote.req.spec.price.unwrap(),
        qty: Qty(1),
        fee: rust_decimal::Decimal::ZERO,
        liquidity: Liquidity::Maker,
        fee_base: rust_decimal::Decimal::ZERO,
    };
    let mut effects = Vec::new();
    r.engine.process(
        now,
        Input::Exec(ExecReport::EarlierRunFill(fill)),
        &mut effects,
    );
    let o = r
        .engine
        .open_orders()
        .get(quote.id())
        .expect("still working");
    assert!(o.filled.is_zero(), "this run's order is not filled: {o:?}");
    assert_ne!(
        r.engine.view().positions[0].position.qty,
        before,
        "the position moved"
    );
}
