//! `pit emulate bybit` driven by pit's own Bybit v5 client (`venue::exchanges::bybit`):
//! the real binary on an ephemeral port, signed REST orders, cancels, queries, fills and
//! the wallet; a lost answer and a "Server error." resolved by asking for the
//! `orderLinkId` with exactly one order at the venue; 10006 backing off; the private
//! stream (auth, subscribe, pushes, ping/pong); and disconnection protection: a connection
//! that stops its heartbeat (as a frozen pit would) or closes gets every order cancelled
//! after the window, and the protection is armed again when the heartbeat resumes.
//! Linear perpetuals: the linear filters, a short with no coin, the fee in USDT,
//! `reduceOnly` as Bybit applies it, the categories kept apart, the `position.linear`
//! topic.
//!
//! This drives the emulator and the REST client, not `pit run --live` (which does not
//! trade on Bybit yet).

#[path = "common/emulator.rs"]
mod emulator;

use emulator::Emulator;
use futures_util::{SinkExt, StreamExt};
use pit::venue::exchanges::bybit::api::errors::{Outcome, code};
use pit::venue::exchanges::bybit::api::sign::Signer;
use pit::venue::exchanges::bybit::api::wire::{
    Category, CreateOrder, DcpProduct, OrderStatus, OrderType, PrivateEvent, SetDcp, Side,
    TimeInForce, WsOp, parse_private,
};
use pit::venue::exchanges::bybit::trade::rest::{Cancelled, Placed, Rest};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "emu-bybit-key-1";
const SECRET: &str = "emu-bybit-secret-9c8b7a6d5e";
const P: Duration = Duration::from_secs(3);

fn client(e: &Emulator, secret: &str) -> Rest {
    Rest::new(
        &e.base,
        Signer::new(KEY, SecretString::from(secret.to_string())).unwrap(),
        5000,
        Duration::from_millis(1500),
    )
    .unwrap()
}

fn limit(link: &str, side: Side, qty: Decimal, price: Decimal) -> CreateOrder {
    CreateOrder {
        category: Category::Spot,
        symbol: "BTCUSDT".into(),
        side,
        order_type: OrderType::Limit,
        qty,
        price: Some(price),
        time_in_force: Some(TimeInForce::PostOnly),
        order_link_id: link.into(),
        reduce_only: None,
        market_unit: None,
        position_idx: None,
    }
}

async fn state(e: &Emulator) -> Value {
    let body = reqwest::get(format!("{}/emulator/state", e.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

async fn faults(e: &Emulator, spec: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/emulator/faults", e.base))
        .body(spec.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// Orders in the emulator's state whose client id is `link`.
fn orders_with(st: &Value, link: &str) -> Vec<Value> {
    st["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.to_string().contains(&format!("\"{link}\"")))
        .cloned()
        .collect()
}

#[tokio::test]
async fn signed_orders_cancels_queries_fills_and_the_wallet() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    r.sync_time().await.unwrap();
    let f = r
        .instrument(Category::Spot, "BTCUSDT")
        .await
        .unwrap()
        .filters(Category::Spot)
        .unwrap();
    assert_eq!(f.tick, dec!(0.1));
    assert!(f.check(dec!(0.01), Some(dec!(50000))).is_none());

    let p = r
        .place_resolving(&limit("pit-t1-1", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await;
    assert!(
        matches!(&p, Placed::Accepted(ids) if ids.order_link_id == "pit-t1-1"),
        "{p:?}"
    );
    let o = r
        .order_by_link_id(Category::Spot, "BTCUSDT", "pit-t1-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.order_status, OrderStatus::New);
    assert_eq!(o.time_in_force, Some(TimeInForce::PostOnly));
    assert_eq!(o.price, Some(dec!(50000)));
    let open = r.open_orders(Category::Spot, "BTCUSDT", P).await.unwrap();
    assert_eq!(open.len(), 1);

    // The same orderLinkId again: "Duplicate clientOrderId", resolved by asking; one order.
    let p = r
        .place_resolving(&limit("pit-t1-1", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await;
    assert!(
        matches!(&p, Placed::Found(o) if o.order_link_id == "pit-t1-1"),
        "{p:?}"
    );
    assert_eq!(orders_with(&state(&e).await, "pit-t1-1").len(), 1);

    // Cancel, then cancel again: nothing left.
    let c = r
        .cancel(Category::Spot, "BTCUSDT", "pit-t1-1", P)
        .await
        .unwrap();
    assert!(matches!(c, Cancelled::Accepted(_)), "{c:?}");
    let c = r
        .cancel(Category::Spot, "BTCUSDT", "pit-t1-1", P)
        .await
        .unwrap();
    assert!(
        matches!(c, Cancelled::AlreadyGone(ref e) if e.code == code::SPOT_ORDER_NOT_EXIST),
        "{c:?}"
    );
    let o = r
        .order_by_link_id(Category::Spot, "BTCUSDT", "pit-t1-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.order_status, OrderStatus::Cancelled);
    // Even a closed one's id is never taken again ("always unique").
    let p = r
        .place_resolving(&limit("pit-t1-1", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await;
    assert!(
        matches!(&p, Placed::Found(o) if o.order_status == OrderStatus::Cancelled),
        "{p:?}"
    );

    // A market buy by base coin fills; the execution list and the wallet show it.
    let before = btc(&r).await;
    let m = CreateOrder {
        order_type: OrderType::Market,
        price: None,
        time_in_force: None,
        market_unit: Some("baseCoin".into()),
        ..limit("pit-t1-2", Side::Buy, dec!(0.01), Decimal::ZERO)
    };
    assert!(matches!(
        r.place_resolving(&m, P).await,
        Placed::Accepted(_)
    ));
    let xs = r
        .executions(Category::Spot, "BTCUSDT", None, P)
        .await
        .unwrap();
    let mine: Vec<_> = xs
        .iter()
        .filter(|x| x.order_link_id == "pit-t1-2")
        .collect();
    assert!(!mine.is_empty(), "{xs:?}");
    let filled: Decimal = mine.iter().map(|x| x.exec_qty).sum();
    assert_eq!(filled, dec!(0.01));
    let after = btc(&r).await;
    // Bought 0.01, the commission (0.1%) paid in the asset received.
    assert_eq!(after - before, dec!(0.01) - dec!(0.00001));

    // Cancel-all with nothing open is a success with an empty list.
    let all = r
        .cancel_all(Category::Spot, Some("BTCUSDT"), P)
        .await
        .unwrap();
    assert!(all.list.is_empty());

    // A wrong secret: 10004, refused, nothing placed.
    let bad = client(&e, "not-the-secret");
    match bad
        .place_resolving(&limit("pit-t1-3", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await
    {
        Placed::Rejected(err) => {
            assert_eq!(err.code(), Some(code::ERROR_SIGN));
            assert_eq!(err.outcome(), Some(Outcome::Auth));
        }
        other => panic!("{other:?}"),
    }
    assert!(orders_with(&state(&e).await, "pit-t1-3").is_empty());
    // Inverse is not emulated: refused with Bybit's parameter error.
    let inv = CreateOrder {
        category: Category::Inverse,
        ..limit("pit-t1-4", Side::Buy, dec!(0.01), dec!(50000))
    };
    assert!(
        matches!(r.place_resolving(&inv, P).await, Placed::Rejected(e) if e.code() == Some(code::PARAMS))
    );
}

fn linear(link: &str, side: Side, qty: Decimal, reduce_only: Option<bool>) -> CreateOrder {
    CreateOrder {
        category: Category::Linear,
        order_type: OrderType::Market,
        price: None,
        time_in_force: None,
        reduce_only,
        position_idx: Some(0),
        ..limit(link, side, qty, Decimal::ZERO)
    }
}

async fn usdt(r: &Rest) -> Decimal {
    r.wallet(P).await.unwrap()[0]
        .coin
        .iter()
        .find(|c| c.coin == "USDT")
        .and_then(|c| c.wallet_balance)
        .unwrap()
}

async fn linear_position(r: &Rest) -> Decimal {
    let l = r.positions(Category::Linear, "BTCUSDT", P).await.unwrap();
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0].position_idx, 0, "one-way mode");
    l[0].signed_size()
}

/// Linear perpetuals: the instrument's linear filters, a short opened with no BTC used, the
/// fee charged in USDT, `reduceOnly` as Bybit applies it (refused on the position's side,
/// cut to the position's size), the categories kept apart, and the `position.linear`
/// topic pushed on a fill and on a position moved behind the account's back.
#[tokio::test]
async fn linear_positions_reduce_only_and_fees_in_usdt() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    r.sync_time().await.unwrap();
    let ins = r.instrument(Category::Linear, "BTCUSDT").await.unwrap();
    let l = &ins.lot_size_filter;
    assert_eq!(l.qty_step, Some(dec!(0.001)));
    assert_eq!(l.min_order_qty, Some(dec!(0.001)));
    assert_eq!(l.max_order_qty, Some(dec!(100)));
    assert_eq!(l.min_notional_value, Some(dec!(5)));
    let f = ins.filters(Category::Linear).unwrap();
    assert_eq!(
        (f.tick, f.step, f.min_notional),
        (dec!(0.1), dec!(0.001), dec!(5))
    );

    let (mut ws, ok) = private(&e, SECRET).await;
    assert!(ok);
    send(
        &mut ws,
        &WsOp::subscribe(&["order.linear", "execution.linear", "position.linear"]),
    )
    .await;

    // A resting spot order, which linear's cancel-all must leave alone.
    assert!(matches!(
        r.place_resolving(&limit("pit-l-spot", Side::Buy, dec!(0.01), dec!(50000)), P)
            .await,
        Placed::Accepted(_)
    ));

    let (btc0, usdt0) = (btc(&r).await, usdt(&r).await);
    assert_eq!(linear_position(&r).await, Decimal::ZERO);
    // Sell 0.02 with no position: a short, no BTC moved.
    assert!(matches!(
        r.place_resolving(&linear("pit-l-1", Side::Sell, dec!(0.02), None), P)
            .await,
        Placed::Accepted(_)
    ));
    let ev = next_where(&mut ws, |e| matches!(e, PrivateEvent::Positions(_))).await;
    let PrivateEvent::Positions(ps) = ev else {
        unreachable!()
    };
    assert_eq!(ps[0].signed_size(), dec!(-0.02), "{ps:?}");
    assert_eq!(linear_position(&r).await, dec!(-0.02));
    assert_eq!(btc(&r).await, btc0, "a linear trade moves no BTC");
    let xs = r
        .executions(Category::Linear, "BTCUSDT", None, P)
        .await
        .unwrap();
    assert!(
        xs.iter().all(|x| x.order_link_id.starts_with("pit-l-")),
        "{xs:?}"
    );
    let fee: Decimal = xs.iter().filter_map(|x| x.exec_fee).sum();
    assert!(fee > Decimal::ZERO);
    assert!(xs.iter().all(|x| x.fee_currency == "USDT"), "{xs:?}");
    assert_eq!(
        usdt(&r).await,
        usdt0 - fee,
        "the fee in USDT, nothing else yet"
    );
    // Spot lists none of them.
    let spot_x = r
        .executions(Category::Spot, "BTCUSDT", None, P)
        .await
        .unwrap();
    assert!(
        spot_x
            .iter()
            .all(|x| !x.order_link_id.starts_with("pit-l-"))
    );

    // Reduce-only on the position's side: refused, 110017, nothing placed.
    match r
        .place_resolving(&linear("pit-l-2", Side::Sell, dec!(0.01), Some(true)), P)
        .await
    {
        Placed::Rejected(err) => assert_eq!(err.code(), Some(110017), "{err}"),
        other => panic!("{other:?}"),
    }
    assert!(orders_with(&state(&e).await, "pit-l-2").is_empty());
    // Reduce-only larger than the short: cut to its size; flat after, not long.
    assert!(matches!(
        r.place_resolving(&linear("pit-l-3", Side::Buy, dec!(0.05), Some(true)), P)
            .await,
        Placed::Accepted(_)
    ));
    assert_eq!(linear_position(&r).await, Decimal::ZERO);
    let o = r
        .order_by_link_id(Category::Linear, "BTCUSDT", "pit-l-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.qty, dec!(0.02));
    assert!(o.reduce_only);
    let st = state(&e).await;
    assert_eq!(
        st["bybit_reduce_only"]["pit-l-3"]["reduceOnly"], true,
        "{st}"
    );
    assert_eq!(st["bybit_reduce_only"]["pit-l-3"]["category"], "linear");
    assert!(st["bybit_reduce_only"].get("pit-l-1").is_none());

    // A resting linear order; cancel-all on linear cancels it and not the spot one.
    let rest = CreateOrder {
        category: Category::Linear,
        position_idx: Some(0),
        ..limit("pit-l-4", Side::Buy, dec!(0.01), dec!(50000))
    };
    assert!(matches!(
        r.place_resolving(&rest, P).await,
        Placed::Accepted(_)
    ));
    assert_eq!(
        r.open_orders(Category::Spot, "BTCUSDT", P)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        r.open_orders(Category::Linear, "BTCUSDT", P)
            .await
            .unwrap()
            .len(),
        1
    );
    let all = r
        .cancel_all(Category::Linear, Some("BTCUSDT"), P)
        .await
        .unwrap();
    assert_eq!(all.list.len(), 1);
    assert_eq!(all.list[0].order_link_id, "pit-l-4");
    assert_eq!(
        r.open_orders(Category::Spot, "BTCUSDT", P)
            .await
            .unwrap()
            .len(),
        1
    );

    // A position moved behind the account's back is listed and pushed.
    let resp = reqwest::Client::new()
        .post(format!("{}/emulator/bybit/position", e.base))
        .body("BTCUSDT=0.5")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let ev = next_where(
        &mut ws,
        |e| matches!(e, PrivateEvent::Positions(p) if p[0].signed_size() == dec!(0.5)),
    )
    .await;
    assert!(matches!(ev, PrivateEvent::Positions(_)));
    assert_eq!(linear_position(&r).await, dec!(0.5));
}

/// A linear symbol in hedge mode (`POST /emulator/bybit/position-mode`), as Bybit shows
/// it: "Get Position Info" lists two entries, `positionIdx` 1 and 2, and an order without
/// `positionIdx` 1 or 2 ("Under hedge-mode, this param is **required**", Place Order) is
/// refused, 10001 "position idx not match position mode"; back in one-way mode, one entry
/// and a `positionIdx` 0 order accepted.
#[tokio::test]
async fn a_hedge_mode_symbol_lists_two_positions_and_refuses_a_one_way_order() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    r.sync_time().await.unwrap();
    let mode = |m: &str| {
        reqwest::Client::new()
            .post(format!("{}/emulator/bybit/position-mode", e.base))
            .body(format!("BTCUSDT={m}"))
            .send()
    };
    assert!(mode("hedge").await.unwrap().status().is_success());
    let l = r.positions(Category::Linear, "BTCUSDT", P).await.unwrap();
    let idx: Vec<u8> = l.iter().map(|p| p.position_idx).collect();
    assert_eq!(idx, [1, 2], "{l:?}");
    for (link, idx) in [("pit-h-1", Some(0)), ("pit-h-2", None)] {
        let o = CreateOrder {
            position_idx: idx,
            ..linear(link, Side::Buy, dec!(0.01), None)
        };
        match r.place_resolving(&o, P).await {
            Placed::Rejected(err) => {
                assert_eq!(err.code(), Some(code::PARAMS), "{err}");
                assert!(
                    err.to_string()
                        .contains("position idx not match position mode"),
                    "{err}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(mode("one-way").await.unwrap().status().is_success());
    assert_eq!(linear_position(&r).await, Decimal::ZERO);
    assert!(matches!(
        r.place_resolving(&linear("pit-h-3", Side::Buy, dec!(0.01), None), P)
            .await,
        Placed::Accepted(_)
    ));
}

async fn btc(r: &Rest) -> Decimal {
    r.wallet(P).await.unwrap()[0]
        .coin
        .iter()
        .find(|c| c.coin == "BTC")
        .and_then(|c| c.wallet_balance)
        .unwrap()
}

#[tokio::test]
async fn lost_answers_are_resolved_by_asking_and_10006_backs_off() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    faults(&e, "lose-response=1").await;
    let p = r
        .place_resolving(&limit("pit-t2-1", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await;
    assert!(
        matches!(&p, Placed::Found(o) if o.order_link_id == "pit-t2-1" && o.order_status.is_open()),
        "{p:?}"
    );
    faults(&e, "5xx=1").await;
    let p = r
        .place_resolving(&limit("pit-t2-2", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await;
    assert!(
        matches!(&p, Placed::Found(o) if o.order_link_id == "pit-t2-2"),
        "{p:?}"
    );
    let st = state(&e).await;
    assert_eq!(orders_with(&st, "pit-t2-1").len(), 1, "never sent twice");
    assert_eq!(orders_with(&st, "pit-t2-2").len(), 1, "never sent twice");
    for link in ["pit-t2-1", "pit-t2-2"] {
        assert_eq!(st["bybit_creates"][link], 1, "{link}: one create request");
    }

    faults(&e, "429=1,retry-after=2").await;
    match r
        .place_resolving(&limit("pit-t2-3", Side::Buy, dec!(0.01), dec!(50000)), P)
        .await
    {
        Placed::Rejected(err) => assert_eq!(err.outcome(), Some(Outcome::RateLimited), "{err}"),
        other => panic!("{other:?}"),
    }
    let left = r
        .backoff_left()
        .expect("backing off until the reset timestamp");
    assert!(left > Duration::from_millis(1000), "{left:?}");
    assert_eq!(r.usage().remaining, Some(0));
    assert!(orders_with(&state(&e).await, "pit-t2-3").is_empty());
    // A cancel waits the back-off out and goes through.
    let c = r
        .cancel(Category::Spot, "BTCUSDT", "pit-t2-1", P)
        .await
        .unwrap();
    assert!(matches!(c, Cancelled::Accepted(_)), "{c:?}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, op: &WsOp) {
    ws.send(Message::Text(serde_json::to_string(op).unwrap().into()))
        .await
        .unwrap();
}

/// The next frame that `want` accepts, within 5 s.
async fn next_where(ws: &mut Ws, want: impl Fn(&PrivateEvent) -> bool) -> PrivateEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                panic!("stream ended")
            };
            let ev = parse_private(t.as_str()).unwrap();
            if want(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("a frame in time")
}

async fn private(e: &Emulator, secret: &str) -> (Ws, bool) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/v5/private", e.ws))
        .await
        .unwrap();
    let s = Signer::new(KEY, SecretString::from(secret.to_string())).unwrap();
    let expires = chrono::Utc::now().timestamp_millis() as u64 + 10_000;
    send(&mut ws, &WsOp::auth(KEY, expires, s.ws_auth(expires))).await;
    let PrivateEvent::Reply(r) = next_where(&mut ws, |e| matches!(e, PrivateEvent::Reply(_))).await
    else {
        unreachable!()
    };
    assert_eq!(r.op, "auth");
    (ws, r.success)
}

fn open_links(st: &Value) -> Vec<String> {
    st["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            let s = o.to_string();
            s.contains("\"NEW\"") || s.contains("\"PARTIALLY_FILLED\"")
        })
        .map(|o| o.to_string())
        .collect()
}

#[tokio::test]
async fn the_private_stream_pushes_orders_and_dcp_cancels_on_a_disconnect_not_a_silent_socket() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    let (_bad, ok) = private(&e, "wrong-secret").await;
    assert!(!ok, "a bad signature is refused");
    let (mut ws, ok) = private(&e, SECRET).await;
    assert!(ok);
    send(
        &mut ws,
        &WsOp::subscribe(&["order", "execution", "dcp.spot"]),
    )
    .await;
    next_where(
        &mut ws,
        |e| matches!(e, PrivateEvent::Reply(r) if r.op == "subscribe" && r.success),
    )
    .await;
    // DCP window 3 s for spot ("Set Disconnect Cancel All": [3, 300]).
    r.set_dcp(&SetDcp::new(DcpProduct::Spot, 3).unwrap(), P)
        .await
        .unwrap();
    assert!(
        r.set_dcp(
            &SetDcp {
                product: DcpProduct::Spot,
                time_window: 1
            },
            P
        )
        .await
        .is_err()
    );

    for i in 1..=2 {
        let link = format!("pit-t3-{i}");
        let p = r
            .place_resolving(&limit(&link, Side::Buy, dec!(0.01), dec!(50000)), P)
            .await;
        assert!(matches!(p, Placed::Accepted(_)));
        let ev = next_where(
            &mut ws,
            |e| matches!(e, PrivateEvent::Orders(os) if os[0].order_link_id == link),
        )
        .await;
        let PrivateEvent::Orders(os) = ev else {
            unreachable!()
        };
        assert_eq!(os[0].order_status, OrderStatus::New);
    }
    send(&mut ws, &WsOp::ping()).await;
    next_where(
        &mut ws,
        |e| matches!(e, PrivateEvent::Reply(r) if r.op == "pong"),
    )
    .await;
    // The heartbeat stops, the socket stays open (a frozen client): DCP times from a
    // disconnect ("Set Disconnect Cancel All": "The timing starts from the first
    // disconnection"), and Bybit cuts a silent connection only after 10 minutes, so
    // nothing is cancelled past the window.
    tokio::time::sleep(Duration::from_millis(4600)).await;
    let st = state(&e).await;
    assert_eq!(open_links(&st).len(), 2, "{st}");
    assert_eq!(dcp_entry(&st)["fired_total"], 0, "{st}");

    // The connection closes: not before the window, then every order is cancelled.
    ws.close(None).await.unwrap();
    drop(ws);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        open_links(&state(&e).await).len(),
        2,
        "not before the window"
    );
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let st = state(&e).await;
    assert!(open_links(&st).is_empty(), "{st}");
    assert_eq!(dcp_entry(&st)["fired_total"], 1, "{st}");
    assert_eq!(dcp_entry(&st)["fired"], true);

    // A new connection subscribes `dcp` and pings: armed again; a new order; a close of
    // the connection fires it again.
    let (mut ws, ok) = private(&e, SECRET).await;
    assert!(ok);
    send(&mut ws, &WsOp::subscribe(&["order", "dcp.spot"])).await;
    next_where(
        &mut ws,
        |e| matches!(e, PrivateEvent::Reply(r) if r.op == "subscribe" && r.success),
    )
    .await;
    send(&mut ws, &WsOp::ping()).await;
    next_where(
        &mut ws,
        |e| matches!(e, PrivateEvent::Reply(r) if r.op == "pong"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let entry = dcp_entry(&state(&e).await);
    assert_eq!(entry["fired"], false, "re-armed: {entry}");
    assert_eq!(entry["alive"], 1);
    assert!(matches!(
        r.place_resolving(&limit("pit-t3-3", Side::Buy, dec!(0.01), dec!(50000)), P)
            .await,
        Placed::Accepted(_)
    ));
    drop(ws);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let st = state(&e).await;
    assert!(open_links(&st).is_empty(), "{st}");
    assert_eq!(dcp_entry(&st)["fired_total"], 2, "{st}");
}

/// The private stream client on a thread and runtime of its own, as the connection task
/// runs it, watching `engine` (the engine loop's heartbeat) as pit's connection task does.
struct StreamThread {
    status: std::sync::Arc<
        std::sync::Mutex<pit::venue::exchanges::bybit::trade::private::StreamStatus>,
    >,
    rx: tokio::sync::mpsc::UnboundedReceiver<
        pit::venue::exchanges::bybit::trade::private::StreamMsg,
    >,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StreamThread {
    fn start(
        e: &Emulator,
        window: u32,
        engine: pit::venue::live::pulse::EngineWatch,
    ) -> StreamThread {
        use pit::venue::exchanges::bybit::trade::private::{PrivateSetup, run};
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let status = std::sync::Arc::new(std::sync::Mutex::new(Default::default()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let setup = PrivateSetup {
            url: format!("{}/v5/private", e.ws),
            signer: std::sync::Arc::new(
                Signer::new(KEY, SecretString::from(SECRET.to_string())).unwrap(),
            ),
            rest: std::sync::Arc::new(client(e, SECRET)),
            category: Category::Spot,
            dead_man_secs: window,
            out: tx,
            status: status.clone(),
            engine,
        };
        std::thread::spawn(move || {
            rt.block_on(async move {
                tokio::select! {
                    _ = run(setup) => {}
                    _ = stopped => {}
                }
            })
        });
        StreamThread {
            status,
            rx,
            stop: Some(stop),
        }
    }

    async fn next(
        &mut self,
        want: impl Fn(&pit::venue::exchanges::bybit::trade::private::StreamMsg) -> bool,
    ) {
        tokio::time::timeout(Duration::from_secs(8), async {
            loop {
                let m = self.rx.recv().await.expect("stream running");
                if want(&m) {
                    return;
                }
            }
        })
        .await
        .expect("in time")
    }
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn dcp_entry(st: &Value) -> Value {
    st["bybit_dcp"]
        .as_object()
        .and_then(|o| o.values().next().cloned())
        .unwrap_or(Value::Null)
}

/// An engine loop's heartbeat beaten every 50 ms by a thread of its own while `on`.
fn beating_engine() -> (
    pit::venue::live::pulse::EngineWatch,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let watch = pit::venue::live::pulse::EngineWatch::default();
    let pulse = pit::domain::Heartbeat::default();
    watch.attach(pulse.clone());
    let on = std::sync::Arc::new(AtomicBool::new(true));
    let o = on.clone();
    std::thread::spawn(move || {
        loop {
            if o.load(Ordering::Relaxed) {
                pulse.beat();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    (watch, on)
}

/// pit's stream client arms DCP; while the engine loop turns nothing fires; when the loop
/// stands still (the stream's own thread healthy) the client closes the stream, and
/// Bybit's DCP cancels every order one window later; once the loop turns the stream comes
/// back and DCP is armed again.
#[tokio::test]
async fn pits_stream_client_closes_for_a_stalled_engine_loop_so_dcp_fires_and_rearms_after() {
    use pit::venue::exchanges::bybit::trade::private::StreamMsg;
    use std::sync::atomic::Ordering;
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    let (engine, beating) = beating_engine();
    let mut s = StreamThread::start(&e, 3, engine);
    s.next(|m| *m == StreamMsg::Up).await;
    assert_eq!(s.status.lock().unwrap().dead_man, "dead-man 3s armed");
    assert_eq!(dcp_entry(&state(&e).await)["time_window"], 3);

    assert!(matches!(
        r.place_resolving(&limit("pit-t4-1", Side::Buy, dec!(0.01), dec!(50000)), P)
            .await,
        Placed::Accepted(_)
    ));
    s.next(|m| matches!(m, StreamMsg::Event(PrivateEvent::Orders(os)) if os[0].order_link_id == "pit-t4-1"))
        .await;
    // The loop turns: nothing fires across more than the window.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let st = state(&e).await;
    assert_eq!(open_links(&st).len(), 1, "{st}");
    assert_eq!(dcp_entry(&st)["fired_total"], 0);
    assert!(s.status.lock().unwrap().connected);

    // The loop stands still: within two looks (a third of the window each) the stream is
    // closed, and the window after that Bybit has cancelled.
    beating.store(false, Ordering::Relaxed);
    let stalled = std::time::Instant::now();
    s.next(|m| matches!(m, StreamMsg::EngineStalled(why) if why.contains("engine loop has not turned")))
        .await;
    assert!(
        stalled.elapsed() < Duration::from_millis(2500),
        "{:?}",
        stalled.elapsed()
    );
    let text = s.status.lock().unwrap().dead_man.clone();
    assert!(
        text.starts_with("dead-man: the engine loop has not turned for 1000 ms"),
        "{text}"
    );
    assert!(!s.status.lock().unwrap().connected);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        open_links(&state(&e).await).len(),
        1,
        "not before the window"
    );
    let mut st = state(&e).await;
    let t0 = std::time::Instant::now();
    while !open_links(&st).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "DCP did not fire: {st}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        st = state(&e).await;
    }
    assert_eq!(dcp_entry(&st)["fired_total"], 1);
    // Still standing still: no reconnection.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(dcp_entry(&state(&e).await)["alive"], 0);

    // It turns: reconnected, armed again.
    beating.store(true, Ordering::Relaxed);
    s.next(|m| *m == StreamMsg::EngineTurned).await;
    s.next(|m| *m == StreamMsg::Up).await;
    assert_eq!(s.status.lock().unwrap().dead_man, "dead-man 3s armed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = state(&e).await;
    assert_eq!(dcp_entry(&st)["fired"], false, "re-armed: {st}");
    assert_eq!(dcp_entry(&st)["alive"], 1);
    assert!(matches!(
        r.place_resolving(&limit("pit-t4-2", Side::Buy, dec!(0.01), dec!(50000)), P)
            .await,
        Placed::Accepted(_)
    ));
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(
        open_links(&state(&e).await).len(),
        1,
        "turning again: not cancelled"
    );
}

/// The connection is lost by itself (dropped, no close frame) just as the engine loop
/// stands still, before pit's look would close it: pit does not reconnect while the loop
/// stands still (a reconnection would restart DCP's timer, which runs from the
/// disconnect), says it is stalled, and Bybit's DCP cancels one window after the drop;
/// once the loop turns the stream comes back.
#[tokio::test]
async fn a_connection_lost_during_a_stall_is_not_reconnected_so_dcp_fires_on_time() {
    use pit::venue::exchanges::bybit::trade::private::StreamMsg;
    use std::sync::atomic::Ordering;
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let r = client(&e, SECRET);
    let (engine, beating) = beating_engine();
    let mut s = StreamThread::start(&e, 3, engine);
    s.next(|m| *m == StreamMsg::Up).await;
    assert!(matches!(
        r.place_resolving(&limit("pit-t5-1", Side::Buy, dec!(0.01), dec!(50000)), P)
            .await,
        Placed::Accepted(_)
    ));
    s.next(|m| matches!(m, StreamMsg::Event(PrivateEvent::Orders(os)) if os[0].order_link_id == "pit-t5-1"))
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    beating.store(false, Ordering::Relaxed);
    faults(&e, "drop-user-stream").await;
    let dropped = std::time::Instant::now();
    s.next(|m| matches!(m, StreamMsg::Down(_))).await;
    // Until DCP fires: never reconnected, and said stalled.
    let mut said = false;
    loop {
        while let Ok(m) = s.rx.try_recv() {
            assert_ne!(m, StreamMsg::Up, "reconnected while the loop stood still");
            said |= matches!(&m, StreamMsg::EngineStalled(why) if why.contains("while the private stream was down"));
        }
        let st = state(&e).await;
        assert_eq!(dcp_entry(&st)["alive"], 0, "no connection meanwhile: {st}");
        if open_links(&st).is_empty() {
            assert_eq!(dcp_entry(&st)["fired_total"], 1, "{st}");
            break;
        }
        assert!(
            dropped.elapsed() < Duration::from_millis(4500),
            "DCP did not fire one window (3 s) after the drop: {st}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(said, "the stall said");
    beating.store(true, Ordering::Relaxed);
    s.next(|m| *m == StreamMsg::EngineTurned).await;
    s.next(|m| *m == StreamMsg::Up).await;
    assert_eq!(s.status.lock().unwrap().dead_man, "dead-man 3s armed");
}

#[tokio::test]
async fn dead_man_off_subscribes_no_dcp_topic() {
    use pit::venue::exchanges::bybit::trade::private::StreamMsg;
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let mut s = StreamThread::start(&e, 0, Default::default());
    s.next(|m| *m == StreamMsg::Up).await;
    assert!(s.status.lock().unwrap().dead_man.contains("off"));
    assert_eq!(state(&e).await["bybit_dcp"], serde_json::json!({}));
}

/// `pit run --venue bybit` (paper) on the emulator's public stream: the Bybit decoder
/// follows its snapshot and deltas without a gap, the book stays live, the strategies
/// trade on paper.
#[test]
fn pit_runs_on_the_emulators_public_bybit_stream() {
    let e = Emulator::start_venue("bybit", KEY, SECRET, &[]);
    let dir = tempfile::tempdir().unwrap();
    let a = &e.addr;
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            r#"venue = "bybit"
[[instruments]]
symbol = "BTCUSDT"
tick_size = 0.1
lot_size = 0.001
[strategies.market_maker]
enabled = true
symbol = "BTCUSDT"
size = 0.001
min_requote_ms = 200
[strategies.imbalance]
symbol = "BTCUSDT"
[strategies.vwap_revert]
symbol = "BTCUSDT"
[strategies.orb]
symbol = "BTCUSDT"
[live]
ws_url = "ws://{a}/v5/public/spot"
rest_url = "http://{a}"
"#
        ),
    )
    .unwrap();
    let out = emulator::pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--for", "5s", "--json"])
        .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["events"].as_u64().unwrap() > 200, "{v}");
    assert!(v["orders"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["trading_state"], "ACTIVE");
    let last = err.lines().rev().find(|l| l.contains("feed")).unwrap_or("");
    assert!(last.contains("feed BTCUSDT LIVE"), "{err}");
    assert!(!err.contains("RESYNC") && !err.contains("GAP"), "{err}");
}
