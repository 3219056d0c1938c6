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
    open_port_durable(e, run, known, at_venue, settled, None, 5000)
}

/// [`open_port`] with the store's durable watermark (orders wait for it).
fn open_port_durable(
    e: &Emulator,
    run: u64,
    known: std::collections::BTreeSet<u64>,
    at_venue: Vec<(u64, String, String)>,
    settled: &Settled,
    durable: Option<Arc<std::sync::atomic::AtomicU64>>,
    request_timeout_ms: u64,
) -> Started {
    let s = BybitSettings {
        rest_url: e.base.clone(),
        ws_private_url: format!("{}/v5/private", e.ws),
        dead_man_secs: 10,
        request_timeout_ms,
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
            id_prefix: prefix(),
            gate: TradingGate::new(true),
            known_trades: known,
            since_ms: Default::default(),
            durable,
            data_dir: None,
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

/// The store's prefix of client order ids these tests' runs share.
fn prefix() -> pit::venue::live::ids::IdPrefix {
    pit::venue::live::ids::IdPrefix {
        prefix: "bybt01".into(),
        legacy_before: 0,
    }
}

/// The venue's id of run `run`'s order `id`.
fn vid(run: u64, id: &str) -> String {
    pit::venue::live::ids::VenueIds::new(run, prefix())
        .to_venue(&pit::domain::ClientOrderId::new(id))
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
    let venue_id = vid(run, id);
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
            reduce_only: false,
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
    assert_eq!(orders_with(&st, &vid(5, "M-1")).len(), 1);
    assert_eq!(orders_with(&st, &vid(5, "M-2")).len(), 1);
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
        orders_with(&state(&e), &vid(5, "M-3")).len(),
        1,
        "never sent twice"
    );
    assert_eq!(
        state(&e)["bybit_creates"][&vid(5, "M-3")],
        1,
        "one create request, though its answer was lost"
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

/// Where the first report of `kind` for `id` is among the reports.
fn first(r: &[ExecReport], id: &str, kind: &str) -> Option<usize> {
    r.iter().position(|x| {
        x.id() == &ClientOrderId::new(id)
            && match x {
                ExecReport::Filled(_) => kind == "fill",
                ExecReport::Cancelled { .. } => kind == "cancelled",
                ExecReport::Rejected { .. } => kind == "rejected",
                _ => false,
            }
    })
}

#[test]
fn a_fill_pushed_after_its_order_closed_reaches_the_engine_before_the_close() {
    // Bybit's `order` and `execution` topics come in no promised order: here every
    // execution is pushed 6 s after its order message, and a cancel finds half the
    // order filled just before. The close must wait for the fill (read from the trade
    // list after a short bound), never reach the engine before it.
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    let mut all = Vec::new();
    let v = place(
        &p,
        5,
        "S9-1",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    reports_until(&mut p, &mut all, "accepted", |r| accepted(r, "S9-1"));
    faults(&e, "partial-fill-on-cancel=1,exec-late=6s");
    let t0 = Instant::now();
    p.port
        .requests()
        .send(ToVenue::Cancel {
            venue_id: v,
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    reports_until(&mut p, &mut all, "filled half, then cancelled", |r| {
        first(r, "S9-1", "cancelled").is_some() && filled(r, "S9-1") == dec!(0.005)
    });
    let (fill, cancel) = (
        first(&all, "S9-1", "fill").unwrap(),
        first(&all, "S9-1", "cancelled").unwrap(),
    );
    assert!(
        fill < cancel,
        "the close reached the engine before the order's fill: {all:#?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the fill waited for the late stream message instead of being read: {:?}",
        t0.elapsed()
    );
    // The late stream message changes nothing.
    std::thread::sleep(Duration::from_millis(6500).saturating_sub(t0.elapsed()));
    p.port.poll_reports(Timestamp(i64::MAX / 2), &mut all);
    assert_eq!(filled(&all, "S9-1"), dec!(0.005), "{all:#?}");
}

#[test]
fn an_order_bybit_does_not_list_is_never_taken_as_not_placed() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    let mut all = Vec::new();
    // 1. A market buy whose answer is lost and whose stream messages are lost too, on an
    //    account whose "Get Open & Closed Orders" lists open orders only (as after a
    //    Bybit restart): it filled, and only the order history says so.
    faults(&e, "lose-response=1,mute-private=6,realtime-open-only");
    place(
        &p,
        5,
        "M-21",
        Side::Buy,
        OrderKind::Market,
        None,
        dec!(0.01),
    );
    reports_until(&mut p, &mut all, "found in the history, filled", |r| {
        filled(r, "M-21") == dec!(0.01) || first(r, "M-21", "rejected").is_some()
    });
    assert_eq!(first(&all, "M-21", "rejected"), None, "{all:#?}");
    assert_eq!(filled(&all, "M-21"), dec!(0.01), "{all:#?}");
    health_until(&p, "M-21 resolved", |h| h.unresolved == 0);
    assert_eq!(
        orders_with(&state(&e), &vid(5, "M-21")).len(),
        1,
        "never sent twice"
    );
    assert_eq!(
        state(&e)["bybit_creates"][&vid(5, "M-21")],
        1,
        "one create request, though its answer was lost"
    );

    // 2. Both lists lag 9 s behind the order, longer than its receive window (5 s): its
    //    absence is no proof, its outcome stays unknown (new orders refused) until Bybit
    //    lists it.
    faults(&e, "clear");
    faults(&e, "lose-response=1,mute-private=6,query-lag=9s");
    let t0 = Instant::now();
    place(
        &p,
        5,
        "M-22",
        Side::Buy,
        OrderKind::Market,
        None,
        dec!(0.01),
    );
    while t0.elapsed() < Duration::from_secs(7) {
        std::thread::sleep(Duration::from_millis(100));
        p.port.poll_reports(Timestamp(i64::MAX / 2), &mut all);
        assert_eq!(first(&all, "M-22", "rejected"), None, "{all:#?}");
    }
    let h = p.port.health().unwrap();
    assert_eq!(h.unresolved, 1, "still unknown, new orders refused: {h:#?}");
    let t1 = Instant::now();
    while filled(&all, "M-22") != dec!(0.01) {
        assert!(t1.elapsed() < Duration::from_secs(15), "M-22: {all:#?}");
        assert_eq!(first(&all, "M-22", "rejected"), None, "{all:#?}");
        std::thread::sleep(Duration::from_millis(50));
        p.port.poll_reports(Timestamp(i64::MAX / 2), &mut all);
    }
    health_until(&p, "M-22 resolved", |h| h.unresolved == 0);
}

#[test]
fn a_kill_cancels_everything_promptly_while_order_creates_are_rate_limited() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    let mut all = Vec::new();
    for (id, px) in [("M-31", dec!(20000)), ("M-32", dec!(20001))] {
        place(&p, 5, id, Side::Buy, OrderKind::Limit, Some(px), dec!(0.01));
    }
    reports_until(&mut p, &mut all, "both resting", |r| {
        accepted(r, "M-31") && accepted(r, "M-32")
    });
    // "Place Order" is over its limit for 20 s: a strategy's next order is refused with
    // 10006 and its endpoint backs off until the reset.
    faults(&e, "429-create=20");
    place(
        &p,
        5,
        "M-33",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20002)),
        dec!(0.01),
    );
    reports_until(&mut p, &mut all, "M-33 refused", |r| {
        first(r, "M-33", "rejected").is_some()
    });
    // K: the cancel-all and the per-order cancels go at once, not after the reset.
    let t0 = Instant::now();
    let tx = p.port.requests();
    tx.send(ToVenue::CancelAll {
        symbol: "BTCUSDT".into(),
    })
    .unwrap();
    for id in ["M-31", "M-32"] {
        tx.send(ToVenue::Cancel {
            venue_id: vid(5, id),
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    }
    reports_until(&mut p, &mut all, "both cancelled", |r| {
        ["M-31", "M-32"]
            .iter()
            .all(|id| first(r, id, "cancelled").is_some())
    });
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the kill's cancels waited for the order-create back-off: {:?}",
        t0.elapsed()
    );
    assert_eq!(open_count(&state(&e)), 0);
    assert!(orders_with(&state(&e), &vid(5, "M-33")).is_empty());
    // The private stream (and its DCP heartbeat) kept running meanwhile.
    let h = p.port.health().unwrap();
    assert_eq!(h.connection, "connected", "{h:#?}");
}

/// K while an order's create is on its way: the cancel waits for the create's answer.
/// Sent at once it overtook the create, Bybit found no order, and the order then rested
/// after the kill (seen once in CI as `pit kill` timing out with the order unresolved).
#[test]
fn a_cancel_sent_while_its_create_is_on_its_way_follows_the_create() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    faults(&e, "create-late=700ms");
    place(
        &p,
        5,
        "M-41",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    std::thread::sleep(Duration::from_millis(100));
    p.port
        .requests()
        .send(ToVenue::Cancel {
            venue_id: vid(5, "M-41"),
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    let mut all = Vec::new();
    reports_until(&mut p, &mut all, "M-41 cancelled", |r| {
        first(r, "M-41", "cancelled").is_some()
    });
    assert!(
        !all.iter()
            .any(|x| matches!(x, ExecReport::CancelRejected { .. })),
        "{all:?}"
    );
    assert_eq!(open_count(&state(&e)), 0, "nothing rests after the cancel");
}

/// The kill switch while an order waits for the store to confirm its record: the order is
/// never sent (it would rest, or fill, after the kill), and is reported rejected.
#[test]
fn an_order_cancelled_while_it_waits_for_the_store_is_never_sent() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let durable = Arc::new(AtomicU64::new(0));
    let mut p = open_port_durable(
        &e,
        5,
        Default::default(),
        vec![],
        &settled,
        Some(durable.clone()),
        5000,
    );
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    let venue_id = vid(5, "M-51");
    p.port
        .requests()
        .send(ToVenue::Place {
            venue_id: venue_id.clone(),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            tif: TimeInForce::Ioc,
            price: None,
            qty: dec!(0.01),
            barrier: 1,
            reduce_only: false,
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    p.port
        .requests()
        .send(ToVenue::Cancel {
            venue_id: venue_id.clone(),
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    durable.store(1, Ordering::SeqCst);
    let mut all = Vec::new();
    reports_until(&mut p, &mut all, "M-51 rejected", |r| {
        first(r, "M-51", "rejected").is_some()
    });
    std::thread::sleep(Duration::from_millis(300));
    let st = state(&e);
    assert!(
        st["bybit_creates"][&venue_id].is_null(),
        "no create request reached Bybit: {}",
        st["bybit_creates"]
    );
    assert!(first(&all, "M-51", "fill").is_none(), "{all:?}");
    assert!(
        !all.iter()
            .any(|x| matches!(x, ExecReport::CancelRejected { .. })),
        "no pointless cancel: {all:?}"
    );
}

/// Two pits drawing the same ids (a data folder copied or restored): the second finds an
/// open order of its own run's form that it never sent, halts with the reason, and leaves
/// the order alone (it is the other pit's).
#[test]
fn an_open_order_of_this_runs_ids_never_sent_halts_the_run() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut first = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&first, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    place(
        &first,
        5,
        "M-1",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    let mut all = Vec::new();
    reports_until(&mut first, &mut all, "M-1 accepted", |r| accepted(r, "M-1"));
    // The twin: the same store prefix and run number, another process.
    let twin = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&twin, "halted", |h| h.stopped.is_some());
    let h = twin.port.health().unwrap();
    assert!(
        h.stopped
            .as_deref()
            .unwrap()
            .contains("another pit uses this store's order ids"),
        "{h:#?}"
    );
    assert_eq!(
        open_count(&state(&e)),
        1,
        "the other pit's order left alone"
    );
}

/// A cancel held while its create's outcome is unknown (the answer timed out before the
/// order reached the matching engine): it waits until asking finds the order, then goes;
/// sent at once, it would find nothing and the order would rest after it.
#[test]
fn a_cancel_held_past_an_unknown_create_goes_once_the_order_is_found() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let mut p = open_port_durable(&e, 5, Default::default(), vec![], &settled, None, 300);
    health_until(&p, "started", |h| {
        h.reconciles >= 1 && h.reconciling.is_none()
    });
    faults(&e, "create-late=1500ms");
    place(
        &p,
        5,
        "M-61",
        Side::Buy,
        OrderKind::Limit,
        Some(dec!(20000)),
        dec!(0.01),
    );
    std::thread::sleep(Duration::from_millis(100));
    p.port
        .requests()
        .send(ToVenue::Cancel {
            venue_id: vid(5, "M-61"),
            symbol: "BTCUSDT".into(),
        })
        .unwrap();
    let mut all = Vec::new();
    reports_until(&mut p, &mut all, "M-61 cancelled", |r| {
        first(r, "M-61", "cancelled").is_some()
    });
    faults(&e, "create-late=0");
    assert_eq!(open_count(&state(&e)), 0, "nothing rests after the cancel");
}

#[test]
fn the_dead_man_is_shown_armed_only_once_bybit_confirms_it() {
    // Confirmed: "Get DCP Info" lists spot on with the window.
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let settled: Settled = Arc::default();
    let p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "armed, confirmed", |h| {
        h.dead_man == "dead-man 10s armed"
    });
    drop(p);
    // Answered with success, armed nowhere (an account Bybit has not enabled DCP for):
    // never shown armed, said not armed with the reason.
    let e = Emulator::start_venue("bybit", KEY, SECRET, &["--faults", "dcp-ignored"]);
    let p = open_port(&e, 5, Default::default(), vec![], &settled);
    health_until(&p, "said not armed", |h| {
        assert_ne!(h.dead_man, "dead-man 10s armed", "{h:#?}");
        h.dead_man.starts_with("dead-man: not armed") && h.reconciles >= 1
    });
    let h = p.port.health().unwrap();
    assert!(h.dead_man.contains("DCP info"), "{h:#?}");
}
