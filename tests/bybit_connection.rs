//! The Bybit v5 connection task and its `LivePort` (`venue::exchanges::bybit::trade::start`)
//! against `pit emulate bybit` (the real binary): requests reach the emulator once,
//! orders and fills come back as execution reports once each, the dead-man switch is
//! armed and shown in the health, the kill switch's cancel-all leaves nothing open, a lost
//! answer is resolved by asking (one order at the emulator), the balances reconcile, and
//! a restart settles an earlier run's order by Bybit's word and never applies a stored
//! fill twice.
//!
//! This drives the connection task, not `pit run --live` (which does not accept venue
//! "bybit" yet).

#[path = "common/emulator.rs"]
mod emulator;

use emulator::Emulator;
use pit::domain::{
    ClientOrderId, ExecReport, Instrument, InstrumentId, OrderKind, OrderStatus, Qty, Side,
    TimeInForce, Timestamp, TradingGate,
};
use pit::venue::ExecutionPort;
use pit::venue::exchanges::bybit::api::wire::Category;
use pit::venue::exchanges::bybit::trade::settings::BybitSettings;
use pit::venue::exchanges::bybit::trade::{LiveStart, Started, start};
use pit::venue::live::keys::{ApiKeys, KeyKind};
use pit::venue::live::port::ToVenue;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "emu-bybit-key-7";
const SECRET: &str = "emu-bybit-secret-5f4e3d2c1b";

fn btc() -> Vec<Instrument> {
    vec![Instrument::new(
        InstrumentId(0),
        "BTCUSDT",
        "bybit",
        dec!(0.1),
        dec!(0.00001),
        Qty(1),
    )]
}

type Settled = Arc<Mutex<Vec<(u64, String, OrderStatus, Decimal)>>>;

fn open_port(
    e: &Emulator,
    run: u64,
    known: std::collections::BTreeSet<u64>,
    at_venue: Vec<(u64, String, String)>,
    settled: &Settled,
) -> Started {
    let s = BybitSettings {
        rest_url: e.base.clone(),
        ws_private_url: format!("{}/v5/private", e.ws),
        dead_man_secs: 10,
        ..BybitSettings::default()
    };
    let settled = settled.clone();
    start(
        &s,
        LiveStart {
            keys: ApiKeys::new(KeyKind::Hmac, KEY.into(), SECRET.into(), "test".into()),
            category: Category::Spot,
            instruments: btc(),
            run,
            gate: TradingGate::new(true),
            known_trades: known,
            since_ms: None,
            durable: None,
            at_venue,
            settle: Some(Arc::new(move |run, id, st, filled, _note| {
                settled
                    .lock()
                    .unwrap()
                    .push((run, id.to_string(), st, filled));
            })),
        },
    )
    .expect("the port starts")
}

/// Poll the port's reports until `done` says so (10 s at most).
fn reports_until(
    p: &mut Started,
    all: &mut Vec<ExecReport>,
    what: &str,
    done: impl Fn(&[ExecReport]) -> bool,
) {
    let t0 = Instant::now();
    while !done(all) {
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}: {all:#?}");
        std::thread::sleep(Duration::from_millis(20));
        p.port.poll_reports(Timestamp(i64::MAX / 2), all);
    }
}

fn health_until(p: &Started, what: &str, ok: impl Fn(&pit::engine::view::ExecHealth) -> bool) {
    let t0 = Instant::now();
    loop {
        let h = p.port.health().unwrap();
        if ok(&h) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}: {h:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn state(e: &Emulator) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = reqwest::get(format!("{}/emulator/state", e.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&t).unwrap()
    })
}

fn faults(e: &Emulator, spec: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/emulator/faults", e.base))
            .body(spec.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    })
}

/// The emulator's orders whose client id is `link`, and how many are open.
fn orders_with(st: &Value, link: &str) -> Vec<Value> {
    st["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.to_string().contains(&format!("\"{link}\"")))
        .cloned()
        .collect()
}

fn open_count(st: &Value) -> usize {
    st["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            let s = o.to_string();
            s.contains("\"NEW\"") || s.contains("\"PARTIALLY_FILLED\"")
        })
        .count()
}

fn place(
    p: &Started,
    run: u64,
    id: &str,
    side: Side,
    kind: OrderKind,
    price: Option<Decimal>,
    qty: Decimal,
) -> String {
    let venue_id = format!("p{run}-{id}");
    p.port
        .requests()
        .send(ToVenue::Place {
            venue_id: venue_id.clone(),
            symbol: "BTCUSDT".into(),
            side,
            kind,
            tif: if kind == OrderKind::Market {
                TimeInForce::Ioc
            } else {
                TimeInForce::PostOnly
            },
            price,
            qty,
            barrier: 0,
        })
        .unwrap();
    venue_id
}

fn accepted(r: &[ExecReport], id: &str) -> bool {
    r.iter()
        .any(|x| matches!(x, ExecReport::Accepted { id: i, .. } if i == &ClientOrderId::new(id)))
}

fn filled(r: &[ExecReport], id: &str) -> Decimal {
    r.iter()
        .filter_map(|x| match x {
            ExecReport::Filled(f) if f.client_id == ClientOrderId::new(id) => Some(f.qty.0),
            _ => None,
        })
        .map(Decimal::from)
        .sum::<Decimal>()
        * dec!(0.00001)
}

#[test]
fn orders_fills_dead_man_kill_lost_answer_and_reconciliation() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started, reconciled, DCP armed", |h| {
        h.reconciles >= 1
            && h.reconciling.is_none()
            && h.connection == "connected"
            && h.dead_man == "dead-man 10s armed"
    });
    // The emulator holds the window for the spot product, on a live subscribed connection.
    let st = state(&e);
    let dcp = st["bybit_dcp"]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.ends_with("/dcp.spot")))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no spot DCP at the emulator: {}", st["bybit_dcp"]));
    assert_eq!(dcp["time_window"], 10, "{dcp}");
    assert_eq!(dcp["alive"], 1, "{dcp}");

    // A resting post-only order and a market buy that fills.
    let mut all = Vec::new();
    place(
        &p,
        5,
        "M-1",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    place(&p, 5, "M-2", Side::Buy, OrderKind::Market, None, dec!(0.01));
    reports_until(&mut p, &mut all, "accepted and filled", |r| {
        accepted(r, "M-1") && filled(r, "M-2") == dec!(0.01)
    });
    let st = state(&e);
    assert_eq!(orders_with(&st, "p5-M-1").len(), 1);
    assert_eq!(orders_with(&st, "p5-M-2").len(), 1);
    // Each fill once, though Bybit told it by the stream and pit may list it again.
    p.port
        .requests()
        .send(ToVenue::Reconcile {
            reason: "test".into(),
        })
        .unwrap();
    health_until(&p, "reconciled again", |h| {
        h.reconciles >= 2 && h.reconciling.is_none()
    });
    let h = p.port.health().unwrap();
    assert!(h.last_reconcile_agrees, "{h:#?}");
    assert!(
        h.balances.iter().any(|b| b.asset == "BTC") && h.balances.iter().all(|b| b.agrees()),
        "{:#?}",
        h.balances
    );
    std::thread::sleep(Duration::from_millis(200));
    p.port.poll_reports(Timestamp(i64::MAX / 2), &mut all);
    let fills = all
        .iter()
        .filter(|r| matches!(r, ExecReport::Filled(_)))
        .count();
    let listed = st["trades"].as_array().map(|a| a.len()).unwrap_or(fills);
    assert!(fills >= 1 && fills <= listed, "{all:#?}");

    // A lost answer: asked for, found, never sent again.
    faults(&e, "lose-response=1");
    place(
        &p,
        5,
        "M-3",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20001)),
        dec!(0.01),
    );
    reports_until(&mut p, &mut all, "the lost order found", |r| {
        accepted(r, "M-3")
    });
    assert_eq!(
        orders_with(&state(&e), "p5-M-3").len(),
        1,
        "never sent twice"
    );
    health_until(&p, "nothing unresolved", |h| h.unresolved == 0);

    // The kill switch's cancel-all: nothing left open at the emulator, each reported.
    assert_eq!(open_count(&state(&e)), 2);
    p.port
        .requests()
        .send(ToVenue::CancelAll {
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    reports_until(&mut p, &mut all, "both cancelled", |r| {
        ["M-1", "M-3"].iter().all(|id| {
            r.iter().any(|x| {
                matches!(x, ExecReport::Cancelled { id: i, .. } if i == &ClientOrderId::new(*id))
            })
        })
    });
    assert_eq!(open_count(&state(&e)), 0);
}

#[test]
fn a_restart_settles_earlier_orders_by_bybit_word_and_applies_no_fill_twice() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    let mut all = Vec::new();
    place(
        &p,
        5,
        "S1-1",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    place(
        &p,
        5,
        "S1-2",
        Side::Buy,
        OrderKind::Market,
        None,
        dec!(0.01),
    );
    reports_until(&mut p, &mut all, "run 5 trades", |r| {
        accepted(r, "S1-1") && filled(r, "S1-2") == dec!(0.01)
    });
    let known: std::collections::BTreeSet<u64> = all
        .iter()
        .filter_map(|r| match r {
            ExecReport::Filled(f) => Some(f.seq),
            _ => None,
        })
        .collect();
    drop(p);

    // Run 6: the store has S1-1 open and S1-2's fill.
    let mut p = open_port(
        &e,
        6,
        known,
        vec![(5, "S1-1".into(), "BTCUSDT".into())],
        &settled,
    );
    let t0 = Instant::now();
    while settled.lock().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "S1-1 never settled");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        settled.lock().unwrap()[0],
        (5, "S1-1".to_string(), OrderStatus::Cancelled, Decimal::ZERO),
        "cancelled at Bybit, by Bybit's word"
    );
    assert_eq!(open_count(&state(&e)), 0);
    health_until(&p, "run 6 reconciled", |h| h.reconciles >= 1);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = Vec::new();
    p.port.poll_reports(Timestamp(i64::MAX / 2), &mut again);
    assert!(
        !again
            .iter()
            .any(|r| matches!(r, ExecReport::Filled(_) | ExecReport::EarlierRunFill(_))),
        "a stored fill came back: {again:#?}"
    );
}
