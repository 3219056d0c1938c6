//! The engine watchdog: when the engine loop stops turning for longer than its limit, a
//! thread of its own closes the trading gate (while the engine is still stuck) and trips
//! the kill switch; once the engine resumes it shows HALTED, "engine stalled N ms", with
//! a CRITICAL alert. A healthy run, a slowly paced one and a paused one never trip it.

use pit::config::Config;
use pit::domain::{ClientOrderId, ExecReport, MarketEvent, OrderRequest, Timestamp, TradingState};
use pit::engine::AlertLevel;
use pit::engine::risk::RiskApproved;
use pit::pace::{RunControl, Speed};
use pit::runner::{EngineHandle, RunOptions};
use pit::setup::assemble;
use pit::venue::{ExecutionPort, PortStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The paper venue, except that it sleeps once on the engine thread (on the next market
/// event) for as many milliseconds as the test puts in `stall_ms`: an engine loop stuck.
struct Staller<P> {
    inner: P,
    stall_ms: Arc<AtomicU64>,
}

impl<P: ExecutionPort> ExecutionPort for Staller<P> {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        self.inner.submit(now, order)
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.inner.cancel(now, id)
    }
    fn on_market(&mut self, event: &MarketEvent) {
        let ms = self.stall_ms.swap(0, Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
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

/// The simulated market at `speed` on its own thread, with a watchdog of `stall`.
fn start(speed: Speed, stall: Duration) -> (EngineHandle, Arc<AtomicU64>) {
    let a = assemble(&Config::default(), 7, TradingState::Active).expect("assemble");
    let stall_ms = Arc::new(AtomicU64::new(0));
    let exec = Staller {
        inner: a.exec,
        stall_ms: stall_ms.clone(),
    };
    let opts = RunOptions {
        speed,
        publish_every: Duration::from_millis(20),
        ..RunOptions::default()
    };
    let handle =
        pit::runner::spawn(a.engine, Box::new(a.market), Box::new(exec), opts).expect("spawn");
    let (heartbeat, alerts) = handle.pulse();
    pit::watchdog::start(heartbeat, handle.killer(), alerts, stall).expect("watchdog");
    (handle, stall_ms)
}

fn stop(handle: EngineHandle) {
    handle.shutdown();
    handle.join().expect("the engine thread ends");
}

#[test]
fn a_stalled_engine_loop_closes_the_gate_and_halts_when_it_resumes() {
    let (handle, stall_ms) = start(Speed::Times(1.0), Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(600));
    assert!(handle.gate().is_open(), "a healthy run does not trip it");
    assert_eq!(handle.view().trading_state, TradingState::Active);

    // The engine thread sleeps 1.5 s: the watchdog closes the gate while it sleeps.
    stall_ms.store(1500, Ordering::SeqCst);
    let t0 = Instant::now();
    while handle.gate().is_open() {
        assert!(
            t0.elapsed() < Duration::from_millis(1000),
            "the gate is still open while the engine is stuck"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let closed = t0.elapsed();
    eprintln!("engine stuck -> gate closed by the watchdog after {closed:?}");
    assert!(closed < Duration::from_millis(1000), "{closed:?}");

    // Once the engine turns again: HALTED, with the reason and a CRITICAL alert.
    let t0 = Instant::now();
    loop {
        let v = handle.view();
        if v.trading_state == TradingState::Halted
            && v.alerts.iter().any(|a| a.source == "watchdog")
        {
            let reason = v.halt_reason.clone().unwrap_or_default();
            assert!(reason.starts_with("engine stalled "), "{reason}");
            let alert = v.alerts.iter().find(|a| a.source == "watchdog").unwrap();
            assert_eq!(alert.level, AlertLevel::Critical);
            assert!(
                alert.text.contains("closed the trading gate"),
                "{}",
                alert.text
            );
            assert!(!v.gate_open);
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no halt shown: {v:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop(handle);
}

#[test]
fn slow_pacing_and_a_paused_run_are_not_stalls() {
    // A ten-thousandth of real time: the next market event is seconds away in wall time.
    let (handle, _) = start(Speed::Times(0.0001), Duration::from_millis(150));
    std::thread::sleep(Duration::from_millis(800));
    assert!(handle.gate().is_open(), "slow pacing tripped the watchdog");
    // Paused (replay controls): nothing is processed, the loop still turns.
    handle.control(RunControl::SetSpeed(Speed::Times(1.0)));
    handle.control(RunControl::Pause);
    std::thread::sleep(Duration::from_millis(800));
    assert!(handle.gate().is_open(), "a pause tripped the watchdog");
    assert_eq!(handle.view().trading_state, TradingState::Active);
    stop(handle);
}
