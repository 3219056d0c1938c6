//! `pit emulate binance`, the real binary on an ephemeral port, driven by a plain HTTP
//! client (ureq) and WebSocket client (tokio-tungstenite) with pit's Binance signing code:
//! signatures accepted and rejected (HMAC and Ed25519), timestamps, filters and order
//! errors with Binance's codes, a crossing limit order that fills and reaches the user data
//! stream, the market-data stream, and each injected fault.

use futures_util::{SinkExt, StreamExt};
use pit::venue::exchanges::binance::api::sign::{ApiKey, Signer, sign_ws_params, signed_query};
use pit::venue::exchanges::binance::api::wire::{
    Account, CancelResponse, DepthSnapshot, MyTrade, NewOrderResponse, OrderStatus, QueriedOrder,
    UserEvent, WsEvent, WsResponse,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const HMAC_KEY: &str = "emuTestKeyHmac0000000000000000000000000000000000000000000000000001";
const HMAC_SECRET: &str = "emuTestSecret-not-a-real-one";
const ED_KEY: &str = "emuTestKeyEd25519";
const ED_SEED: [u8; 32] = [42u8; 32];

#[path = "common/emulator.rs"]
mod emulator;
use emulator::Emulator;

/// The emulator with the HMAC key, the Ed25519 key (its public key in a temp file kept as
/// long as the emulator runs) and `extra` arguments.
fn start(extra: &[&str]) -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let pem = Signer::ed25519_from_seed(&ED_SEED)
        .verifier()
        .public_pem()
        .unwrap();
    let pem_path = dir.path().join("ed25519.pub.pem");
    std::fs::write(&pem_path, pem).unwrap();
    let pem_arg = pem_path.to_str().expect("a UTF-8 temp path").to_string();
    let mut args = vec![
        "--ed25519-api-key",
        ED_KEY,
        "--ed25519-public-key",
        pem_arg.as_str(),
    ];
    args.extend_from_slice(extra);
    Emulator::start(HMAC_KEY, HMAC_SECRET, &args).keeping(dir)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn hmac() -> Signer {
    Signer::hmac(SecretString::from(HMAC_SECRET.to_string())).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }
    fn code(&self) -> i64 {
        let v: serde_json::Value = self.json();
        v["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no code: {}", self.body))
    }
}

fn send(method: &str, url: &str, key: Option<&str>) -> Result<Reply, ureq::Error> {
    let a = agent();
    let mut resp = match method {
        "GET" => {
            let mut r = a.get(url);
            if let Some(k) = key {
                r = r.header("X-MBX-APIKEY", k);
            }
            r.call()?
        }
        "DELETE" => {
            let mut r = a.delete(url);
            if let Some(k) = key {
                r = r.header("X-MBX-APIKEY", k);
            }
            r.call()?
        }
        _ => {
            let mut r = a.post(url);
            if let Some(k) = key {
                r = r.header("X-MBX-APIKEY", k);
            }
            r.send_empty()?
        }
    };
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Ok(Reply {
        status: resp.status().as_u16(),
        body: resp.body_mut().read_to_string()?,
        headers,
    })
}

/// A signed request with `params`, signed by `signer` under `key`.
fn signed_with(
    e: &Emulator,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    key: &str,
    signer: &Signer,
    ts: u64,
) -> Reply {
    let q = signed_query(&params, ts, Some(5000), signer).unwrap();
    send(method, &format!("{}{path}?{q}", e.base), Some(key)).unwrap()
}

fn signed(e: &Emulator, method: &str, path: &str, params: &[(&str, &str)]) -> Reply {
    signed_with(e, method, path, params, HMAC_KEY, &hmac(), now_ms())
}

fn depth(e: &Emulator) -> DepthSnapshot {
    send(
        "GET",
        &format!("{}/api/v3/depth?symbol=BTCUSDT&limit=20", e.base),
        None,
    )
    .unwrap()
    .json()
}

fn state(e: &Emulator) -> serde_json::Value {
    send("GET", &format!("{}/emulator/state", e.base), None)
        .unwrap()
        .json()
}

fn set_faults(e: &Emulator, spec: &str) {
    let r = agent()
        .post(&format!("{}/emulator/faults", e.base))
        .send(spec)
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{spec}");
}

/// A price well under the market's bid: a bid there never fills.
fn low_bid_price(e: &Emulator) -> String {
    (depth(e).bids[0][0] * Decimal::new(9, 1))
        .round_dp(1)
        .to_string()
}

/// A resting bid well under the market: never fills.
fn resting_bid(e: &Emulator, client_id: &str) -> Reply {
    let px = low_bid_price(e);
    resting_bid_at(e, client_id, &px)
}

fn resting_bid_at(e: &Emulator, client_id: &str, px: &str) -> Reply {
    signed(
        e,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.010"),
            ("price", px),
            ("newClientOrderId", client_id),
        ],
    )
}

#[test]
fn hmac_and_ed25519_signatures_are_verified_and_timestamps_held_to_recv_window() {
    let e = start(&[]);
    let ok = signed(&e, "GET", "/api/v3/account", &[]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let a: Account = ok.json();
    let usdt = a.balances.iter().find(|b| b.asset == "USDT").unwrap();
    assert_eq!(usdt.free, Decimal::from(100_000));
    assert!(
        ok.header("x-mbx-used-weight-1m")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 20
    );

    let ed = Signer::ed25519_from_seed(&ED_SEED);
    let r = signed_with(&e, "GET", "/api/v3/account", &[], ED_KEY, &ed, now_ms());
    assert_eq!(r.status, 200, "Ed25519: {}", r.body);

    let wrong = Signer::hmac(SecretString::from("wrong".to_string())).unwrap();
    let r = signed_with(
        &e,
        "GET",
        "/api/v3/account",
        &[],
        HMAC_KEY,
        &wrong,
        now_ms(),
    );
    assert_eq!((r.status, r.code()), (400, -1022), "{}", r.body);
    let other_ed = Signer::ed25519_from_seed(&[1u8; 32]);
    let r = signed_with(
        &e,
        "GET",
        "/api/v3/account",
        &[],
        ED_KEY,
        &other_ed,
        now_ms(),
    );
    assert_eq!((r.status, r.code()), (400, -1022), "{}", r.body);
    let r = signed_with(
        &e,
        "GET",
        "/api/v3/account",
        &[],
        "nobody",
        &hmac(),
        now_ms(),
    );
    assert_eq!((r.status, r.code()), (401, -2015), "{}", r.body);
    let r = signed_with(
        &e,
        "GET",
        "/api/v3/account",
        &[],
        HMAC_KEY,
        &hmac(),
        now_ms() - 60_000,
    );
    assert_eq!((r.status, r.code()), (400, -1021), "{}", r.body);
    let r = signed_with(
        &e,
        "GET",
        "/api/v3/account",
        &[],
        HMAC_KEY,
        &hmac(),
        now_ms() + 5_000,
    );
    assert_eq!((r.status, r.code()), (400, -1021), "{}", r.body);
    // No signature at all.
    let r = send(
        "GET",
        &format!("{}/api/v3/account?timestamp={}", e.base, now_ms()),
        Some(HMAC_KEY),
    )
    .unwrap();
    assert_eq!((r.status, r.code()), (400, -1102), "{}", r.body);
}

#[test]
fn filters_and_order_errors_answer_with_binances_codes() {
    let e = start(&[]);
    let px = depth(&e).bids[0][0].to_string();
    let order = |price: &str, qty: &str| {
        signed(
            &e,
            "POST",
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", qty),
                ("price", price),
            ],
        )
    };
    let msg = |r: &Reply| {
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["msg"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = order(&format!("{px}5"), "0.001");
    assert_eq!(
        (r.status, r.code(), msg(&r).as_str()),
        (400, -1013, "Filter failure: PRICE_FILTER")
    );
    let r = order("1000", "0.0015");
    assert_eq!(
        (r.code(), msg(&r).as_str()),
        (-1013, "Filter failure: LOT_SIZE")
    );
    let r = order("1000", "0.001");
    assert_eq!(
        (r.code(), msg(&r).as_str()),
        (-1013, "Filter failure: NOTIONAL")
    );
    let r = order("1000", "200");
    assert_eq!(
        (r.code(), msg(&r).as_str()),
        (
            -2010,
            "Account has insufficient balance for requested action."
        )
    );
    let r = signed(
        &e,
        "POST",
        "/api/v3/order",
        &[
            ("symbol", "NOPE"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "1"),
        ],
    );
    assert_eq!(r.code(), -1121);

    let first = resting_bid(&e, "dup-1");
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.header("x-mbx-order-count-10s").is_some());
    assert!(first.header("x-mbx-order-count-1d").is_some());
    let again = resting_bid(&e, "dup-1");
    assert_eq!(
        (again.code(), msg(&again).as_str()),
        (-2010, "Duplicate order sent.")
    );

    let r = signed(
        &e,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "never-sent")],
    );
    assert_eq!((r.status, r.code()), (400, -2013));
    let r = signed(
        &e,
        "DELETE",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "never-sent")],
    );
    assert_eq!((r.code(), msg(&r).as_str()), (-2011, "Unknown order sent."));
    // The one good order is there exactly once, open.
    let open: Vec<QueriedOrder> =
        signed(&e, "GET", "/api/v3/openOrders", &[("symbol", "BTCUSDT")]).json();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_order_id, "dup-1");
    let all: Vec<CancelResponse> = serde_json::from_str::<Vec<serde_json::Value>>(
        &signed(&e, "DELETE", "/api/v3/openOrders", &[("symbol", "BTCUSDT")]).body,
    )
    .unwrap()
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, OrderStatus::Canceled);
    let a: Account = signed(&e, "GET", "/api/v3/account", &[]).json();
    let usdt = a.balances.iter().find(|b| b.asset == "USDT").unwrap();
    assert_eq!(
        (usdt.free, usdt.locked),
        (Decimal::from(100_000), Decimal::ZERO)
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe_user_stream(e: &Emulator) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/ws-api/v3", e.ws))
        .await
        .unwrap();
    let mut params = serde_json::Map::new();
    sign_ws_params(&mut params, &ApiKey::new(HMAC_KEY), now_ms(), &hmac());
    let req = serde_json::json!({"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let reply = next_text(&mut ws).await.expect("a reply");
    let r: WsResponse = serde_json::from_str(&reply).unwrap();
    assert_eq!(r.status, 200, "{reply}");
    ws
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_crossing_limit_order_fills_and_the_user_stream_reports_it() {
    let e = start(&[]);
    rt().block_on(async {
        let mut ws = subscribe_user_stream(&e).await;
        let ask = depth(&e).asks[0][0];
        let px = (ask + Decimal::from(50)).to_string();
        let r = signed(
            &e,
            "POST",
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "0.002"),
                ("price", &px),
                ("newClientOrderId", "cross-1"),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let o: NewOrderResponse = r.json();
        assert!(
            !o.fills.is_empty(),
            "a crossing order takes liquidity: {}",
            r.body
        );
        let filled: Decimal = o.fills.iter().map(|f| f.qty).sum();
        assert_eq!(o.executed_qty, Some(filled));
        assert!(o.fills.iter().all(|f| f.price <= ask + Decimal::from(50)));
        // The user stream: NEW then TRADE for our client order id.
        let mut kinds = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !kinds.iter().any(|k: &String| k == "TRADE") {
            let Some(t) = next_text(&mut ws).await else {
                break;
            };
            let ev: WsEvent = serde_json::from_str(&t).unwrap();
            if let UserEvent::ExecutionReport(x) = ev.event {
                assert_eq!(x.client_order_id, "cross-1");
                kinds.push(format!("{:?}", x.execution_type).to_uppercase());
            }
        }
        assert_eq!(kinds.first().map(String::as_str), Some("NEW"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "TRADE"), "{kinds:?}");
    });
    let trades: Vec<MyTrade> =
        signed(&e, "GET", "/api/v3/myTrades", &[("symbol", "BTCUSDT")]).json();
    assert!(!trades.is_empty());
    assert!(
        trades
            .iter()
            .all(|t| t.is_buyer && t.commission_asset == "BTC")
    );
    let s = state(&e);
    assert_eq!(s["trades"].as_array().unwrap().len(), trades.len());
}

#[test]
fn the_market_stream_sends_chained_depth_diffs_after_the_snapshot() {
    let e = start(&[]);
    rt().block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!(
            "{}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade",
            e.ws
        ))
        .await
        .unwrap();
        let snap = depth(&e);
        assert!(snap.bids[0][0] < snap.asks[0][0]);
        let mut prev_u: Option<u64> = None;
        let mut diffs = 0;
        while diffs < 5 {
            let t = next_text(&mut ws).await.expect("frames keep coming");
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["stream"] != "btcusdt@depth@100ms" {
                continue;
            }
            let (first, last) = (
                v["data"]["U"].as_u64().unwrap(),
                v["data"]["u"].as_u64().unwrap(),
            );
            if let Some(p) = prev_u {
                assert_eq!(first, p + 1, "diffs chain: {t}");
            }
            assert!(first <= last);
            prev_u = Some(last);
            diffs += 1;
        }
        assert!(prev_u.unwrap() > snap.last_update_id);
    });
}

#[test]
fn a_lost_response_leaves_exactly_one_order_that_a_query_finds() {
    let e = start(&["--faults", "lose-response=1"]);
    let d = depth(&e);
    let px = (d.bids[0][0] * Decimal::new(9, 1)).round_dp(1).to_string();
    let q = signed_query(
        &vec![
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.010"),
            ("price", px.as_str()),
            ("newClientOrderId", "lost-1"),
        ],
        now_ms(),
        Some(5000),
        &hmac(),
    )
    .unwrap();
    let r = send(
        "POST",
        &format!("{}/api/v3/order?{q}", e.base),
        Some(HMAC_KEY),
    );
    assert!(
        r.is_err(),
        "the answer must be lost: {:?}",
        r.map(|r| r.body)
    );
    let found = signed(
        &e,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "lost-1")],
    );
    assert_eq!(found.status, 200, "{}", found.body);
    let o: QueriedOrder = found.json();
    assert_eq!(o.status, OrderStatus::New);
    assert_eq!(state(&e)["orders"].as_array().unwrap().len(), 1);
    // The fault was one-shot: the next order is answered.
    assert_eq!(resting_bid(&e, "after-1").status, 200);
}

#[test]
fn server_errors_rate_limits_bans_and_slow_answers_are_injected() {
    let e = start(&[]);
    let px = low_bid_price(&e);
    set_faults(&e, "5xx=1");
    let r = resting_bid_at(&e, "five-1", &px);
    assert_eq!((r.status, r.code()), (503, -1007), "{}", r.body);
    // Execution status unknown, as Binance warns: here the order was executed.
    let o: QueriedOrder = signed(
        &e,
        "GET",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "five-1")],
    )
    .json();
    assert_eq!(o.status, OrderStatus::New);

    set_faults(&e, "429=1,retry-after=7");
    let r = signed(&e, "GET", "/api/v3/account", &[]);
    assert_eq!(
        (r.status, r.code(), r.header("retry-after")),
        (429, -1003, Some("7"))
    );
    assert_eq!(signed(&e, "GET", "/api/v3/account", &[]).status, 200);

    set_faults(&e, "slow=700ms");
    let t = Instant::now();
    assert_eq!(signed(&e, "GET", "/api/v3/account", &[]).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    set_faults(&e, "slow=0");

    set_faults(&e, "418=30");
    let r = send("GET", &format!("{}/api/v3/time", e.base), None).unwrap();
    assert_eq!((r.status, r.code()), (418, -1003));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    set_faults(&e, "clear");
    assert_eq!(
        send("GET", &format!("{}/api/v3/time", e.base), None)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn a_dropped_user_stream_ends_and_can_be_resubscribed() {
    let e = start(&[]);
    rt().block_on(async {
        let mut ws = subscribe_user_stream(&e).await;
        set_faults(&e, "drop-user-stream");
        assert_eq!(next_text(&mut ws).await, None, "the connection is gone");
        let mut ws = subscribe_user_stream(&e).await;
        assert_eq!(resting_bid(&e, "after-drop").status, 200);
        let t = next_text(&mut ws).await.expect("events flow again");
        let ev: WsEvent = serde_json::from_str(&t).unwrap();
        assert!(matches!(ev.event, UserEvent::ExecutionReport(ref x) if x.client_order_id == "after-drop"), "{t}");
    });
}

#[test]
fn a_cancel_can_meet_a_partial_fill() {
    let e = start(&["--faults", "partial-fill-on-cancel=1"]);
    assert_eq!(resting_bid(&e, "pf-1").status, 200);
    let r = signed(
        &e,
        "DELETE",
        "/api/v3/order",
        &[("symbol", "BTCUSDT"), ("origClientOrderId", "pf-1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c: CancelResponse = r.json();
    assert_eq!(c.status, OrderStatus::Canceled);
    assert_eq!(c.executed_qty, Decimal::new(5, 3));
    let trades: Vec<MyTrade> =
        signed(&e, "GET", "/api/v3/myTrades", &[("symbol", "BTCUSDT")]).json();
    assert_eq!(trades.len(), 1);
    assert!(trades[0].is_maker);
    // Nothing stays locked; the base asset grew by the fill less its commission.
    let a: Account = signed(&e, "GET", "/api/v3/account", &[]).json();
    let usdt = a.balances.iter().find(|b| b.asset == "USDT").unwrap();
    assert_eq!(usdt.locked, Decimal::ZERO);
    let btc = a.balances.iter().find(|b| b.asset == "BTC").unwrap();
    assert_eq!(
        btc.free,
        Decimal::ONE + trades[0].qty - trades[0].commission
    );
}
