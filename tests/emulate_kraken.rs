//! `pit emulate kraken` end to end: the real binary on an ephemeral port, driven over HTTP
//! and WebSocket with requests signed by pit's own Kraken signer
//! (`venue::exchanges::kraken::api::sign`), as Kraken's docs describe them: the key, the
//! `API-Sign` signature and the nonce that must always increase (`EAPI:Invalid key`,
//! `EAPI:Invalid signature`, `EAPI:Invalid nonce`); an order that rests, is listed by its
//! `cl_ord_id`, refuses a second order with the same `cl_ord_id`, is cancelled (then
//! `EOrder:Unknown order`) and shows closed; a market buy whose trade is in the trades
//! history with its fee in the quote; CancelAllOrdersAfter cancelling every open order when
//! its countdown ends, and disarmed by 0; and the public WebSocket v2 book, whose every
//! checksum pit's own Kraken decoder verifies.

#[path = "common/emulator.rs"]
mod emulator;

use emulator::Emulator;
use futures_util::{SinkExt, StreamExt};
use pit::venue::exchanges::decode::FrameDecoder;
use pit::venue::exchanges::kraken::KrakenDecoder;
use pit::venue::exchanges::kraken::api::sign::Signer;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "emu-kraken-key-1";
/// base64 of "emu-kraken-secret-7d6c5b4a".
const SECRET: &str = "ZW11LWtyYWtlbi1zZWNyZXQtN2Q2YzViNGE=";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Client {
    http: reqwest::Client,
    base: String,
    signer: Signer,
    nonce: std::sync::atomic::AtomicU64,
}

fn client(e: &Emulator, key: &str, secret: &str) -> Client {
    Client {
        http: reqwest::Client::new(),
        base: e.base.clone(),
        signer: Signer::new(key, secret).unwrap(),
        nonce: std::sync::atomic::AtomicU64::new(now_ms() * 1000),
    }
}

impl Client {
    /// `POST /0/private/<method>` with `nonce` and `params`, signed; the answer.
    async fn call_at(&self, method: &str, nonce: u64, params: &[(&str, &str)]) -> Value {
        let path = format!("/0/private/{method}");
        let mut form = vec![("nonce", nonce.to_string())];
        form.extend(params.iter().map(|(k, v)| (*k, v.to_string())));
        let body = serde_urlencoded::to_string(&form).unwrap();
        let mut b = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (k, v) in self.signer.headers(&path, nonce, &body) {
            b = b.header(k, v);
        }
        let r = b.body(body).send().await.unwrap();
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    async fn call(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let n = self.nonce.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.call_at(method, n, params).await
    }
}

fn errors(v: &Value) -> Vec<String> {
    v["error"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

fn ok(v: &Value) -> &Value {
    assert!(errors(v).is_empty(), "{v}");
    &v["result"]
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

fn emu() -> Emulator {
    Emulator::start_venue("kraken", KEY, SECRET, &[])
}

#[tokio::test]
async fn keys_signatures_and_nonces_are_checked_as_documented() {
    let e = emu();
    let c = client(&e, KEY, SECRET);
    let n = now_ms() * 1000;
    let b = c.call_at("Balance", n, &[]).await;
    assert!(ok(&b)["USDT"].is_string(), "{b}");
    // The same nonce again, and one below it: refused, unexecuted.
    for again in [n, n - 5] {
        let r = c.call_at("Balance", again, &[]).await;
        assert_eq!(errors(&r), ["EAPI:Invalid nonce"], "{r}");
    }
    assert!(ok(&c.call_at("Balance", n + 1, &[]).await).is_object());
    // Another secret, another key.
    let wrong = client(&e, KEY, "b3RoZXItc2VjcmV0");
    assert_eq!(
        errors(&wrong.call_at("Balance", n + 2, &[]).await),
        ["EAPI:Invalid signature"]
    );
    let stranger = client(&e, "nobody", SECRET);
    assert_eq!(
        errors(&stranger.call_at("Balance", n + 3, &[]).await),
        ["EAPI:Invalid key"]
    );
}

#[tokio::test]
async fn an_order_rests_is_found_by_cl_ord_id_cancelled_and_a_market_buy_trades() {
    let e = emu();
    let c = client(&e, KEY, SECRET);
    let pairs: Value = serde_json::from_str(
        &reqwest::get(format!("{}/0/public/AssetPairs?pair=BTC/USDT", e.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let p = &ok(&pairs)["BTCUSDT"];
    assert_eq!(
        (
            &p["wsname"],
            &p["tick_size"],
            &p["lot_decimals"],
            &p["status"]
        ),
        (
            &json!("BTC/USDT"),
            &json!("0.1"),
            &json!(3),
            &json!("online")
        )
    );
    let limit = |cl: &'static str| {
        [
            ("ordertype", "limit"),
            ("type", "buy"),
            ("volume", "0.01"),
            ("pair", "BTCUSDT"),
            ("price", "30000"),
            ("oflags", "post,fciq"),
            ("cl_ord_id", cl),
        ]
    };
    let added = c.call("AddOrder", &limit("rest1")).await;
    let txid = ok(&added)["txid"][0].as_str().unwrap().to_string();
    let open = c
        .call("OpenOrders", &[("cl_ord_id", "rest1"), ("trades", "true")])
        .await;
    let o = &ok(&open)["open"][&txid];
    assert_eq!((&o["status"], &o["vol"]), (&json!("open"), &json!("0.01")));
    assert_eq!(
        errors(&c.call("AddOrder", &limit("rest1")).await),
        ["EOrder:Duplicate cl_ord_id"]
    );
    let too_long = c.call("AddOrder", &limit("nineteen-characters")).await;
    assert_eq!(errors(&too_long), ["EGeneral:Invalid arguments:cl_ord_id"]);
    let cancelled = c.call("CancelOrder", &[("cl_ord_id", "rest1")]).await;
    assert_eq!(ok(&cancelled)["count"], 1);
    assert_eq!(
        errors(&c.call("CancelOrder", &[("cl_ord_id", "rest1")]).await),
        ["EOrder:Unknown order"]
    );
    let closed = c.call("ClosedOrders", &[("cl_ord_id", "rest1")]).await;
    assert_eq!(ok(&closed)["closed"][&txid]["status"], "canceled");
    // A market buy trades; its trade is in the history, the fee in the quote.
    let m = c
        .call(
            "AddOrder",
            &[
                ("ordertype", "market"),
                ("type", "buy"),
                ("volume", "0.01"),
                ("pair", "BTC/USDT"),
                ("oflags", "fciq"),
                ("cl_ord_id", "mkt1"),
            ],
        )
        .await;
    let mtx = ok(&m)["txid"][0].as_str().unwrap().to_string();
    let h = c.call("TradesHistory", &[]).await;
    let trades = ok(&h)["trades"].as_object().unwrap().clone();
    assert_eq!(ok(&h)["count"], trades.len());
    let (ttx, t) = trades.iter().next().expect("the market buy traded");
    assert_eq!((&t["ordertxid"], &t["type"]), (&json!(mtx), &json!("buy")));
    let fee: Decimal = t["fee"].as_str().unwrap().parse().unwrap();
    assert!(fee > Decimal::ZERO);
    let st = state(&e).await;
    assert!(
        st["trades"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["commissionAsset"] == "USDT"),
        "fciq: fees in the quote"
    );
    let q = c.call("QueryTrades", &[("txid", ttx)]).await;
    assert_eq!(ok(&q)[ttx]["trade_id"], t["trade_id"]);
    assert_eq!(st["kraken_places"]["rest1"], 2, "both places counted");
}

#[tokio::test]
async fn cancel_all_orders_after_cancels_everything_when_it_runs_out() {
    let e = emu();
    let c = client(&e, KEY, SECRET);
    for cl in ["caa1", "caa2"] {
        let r = c
            .call(
                "AddOrder",
                &[
                    ("ordertype", "limit"),
                    ("type", "buy"),
                    ("volume", "0.01"),
                    ("pair", "BTCUSDT"),
                    ("price", "30000"),
                    ("cl_ord_id", cl),
                ],
            )
            .await;
        ok(&r);
    }
    let a = c.call("CancelAllOrdersAfter", &[("timeout", "1")]).await;
    let (now, trig) = (
        ok(&a)["currentTime"].as_str().unwrap(),
        ok(&a)["triggerTime"].as_str().unwrap(),
    );
    let secs = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    assert_eq!(secs(trig) - secs(now), 1, "{a}");
    let t0 = std::time::Instant::now();
    loop {
        let st = state(&e).await;
        if st["kraken_cancel_all_after"]["fired"] == 1 {
            assert_eq!(st["kraken_cancel_all_after"]["cancelled"], 2);
            assert_eq!(st["kraken_cancel_all_after"]["armed"], false);
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "{st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open = c.call("OpenOrders", &[]).await;
    assert!(ok(&open)["open"].as_object().unwrap().is_empty());
    let off = c.call("CancelAllOrdersAfter", &[("timeout", "0")]).await;
    assert_eq!(ok(&off)["triggerTime"], "0");
    assert_eq!(
        errors(
            &c.call("CancelAllOrdersAfter", &[("timeout", "86400")])
                .await
        ),
        ["EGeneral:Invalid arguments:timeout"]
    );
}

#[tokio::test]
async fn the_public_book_passes_pits_own_checksum_check() {
    let e = emu();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/ws/v2", e.ws))
        .await
        .unwrap();
    let frames = KrakenDecoder::subscribe_frames(25, &["BTC/USDT".to_string()]);
    for f in frames {
        ws.send(Message::Text(f.into())).await.unwrap();
    }
    let inst = pit::domain::Instrument::new(
        pit::domain::InstrumentId(0),
        "BTC/USDT",
        "kraken",
        Decimal::new(1, 1),
        Decimal::new(1, 3),
        pit::domain::Qty(1),
    );
    let mut d = KrakenDecoder::new(vec![inst], 25);
    let mut out = Vec::new();
    let t0 = std::time::Instant::now();
    while d.state(0).map_or(0, |s| s.stats.checksums_checked) < 10 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "too few book messages"
        );
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("the stream ended")
        };
        d.on_line(
            &pit::record::CaptureLine {
                ts_ns: 1,
                venue: "kraken".into(),
                dir: pit::record::Direction::Recv,
                url: String::new(),
                frame: t.to_string(),
            },
            &mut out,
        );
    }
    let s = &d.state(0).unwrap().stats;
    assert_eq!((s.checksums_failed, s.resyncs), (0, 0), "{s:?}");
    assert!(s.updates > 0);
}
