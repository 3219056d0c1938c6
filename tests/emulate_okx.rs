//! `pit emulate okx` end to end: the real binary on an ephemeral port, driven over HTTP with
//! requests signed by pit's own OKX signer (`venue::exchanges::okx::api::sign`), as OKX's
//! v5 docs describe them (<https://www.okx.com/docs-v5/en/>): the signature, passphrase, key
//! and timestamp checks (50113, 50105, 50111, 50102); a limit order that rests, is listed
//! pending and is cancelled (then 51400, and 51603 for an unknown one); a duplicate
//! `clOrdId` (51016); a market buy by base that fills, shows in the fills (paged by
//! `billId`) and moves the balance; `expTime`; faults in OKX's codes; and Cancel All After,
//! which cancels every pending order when its countdown (10 s at least, as the docs allow)
//! ends unrefreshed, is pushed back by a refresh and disarmed by `timeOut` 0; and the
//! private WebSocket: `login` (50 s-old and wrongly signed logins refused), the `orders`
//! channel pushing an order's states and its fills.
//!
//! There is no OKX trading client in pit yet: the tests sign and send the requests here.

#[path = "common/emulator.rs"]
mod emulator;

use emulator::Emulator;
use futures_util::{SinkExt, StreamExt};
use pit::venue::exchanges::okx::api::sign::{Method, Request, Signer, timestamp};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "emu-okx-key-1";
const SECRET: &str = "emu-okx-secret-7d6c5b4a";
const PASSPHRASE: &str = "emu-okx-passphrase";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

struct Client {
    http: reqwest::Client,
    base: String,
    signer: Signer,
}

fn client(e: &Emulator, key: &str, secret: &str, passphrase: &str) -> Client {
    Client {
        http: reqwest::Client::new(),
        base: e.base.clone(),
        signer: Signer::new(
            key,
            SecretString::from(secret.to_string()),
            SecretString::from(passphrase.to_string()),
        )
        .unwrap(),
    }
}

impl Client {
    /// Sends `req` signed at `at_ms` with `extra` headers; (HTTP status, body).
    async fn send_at(&self, req: &Request, at_ms: i64, extra: &[(&str, String)]) -> (u16, Value) {
        let ts = timestamp(at_ms).unwrap();
        let url = format!("{}{}", self.base, req.request_path());
        let mut b = match req.method() {
            Method::Get => self.http.get(url),
            Method::Post => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(req.body().to_string()),
        };
        for (n, v) in self.signer.headers(req, &ts).pairs() {
            b = b.header(*n, v);
        }
        for (n, v) in extra {
            b = b.header(*n, v);
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        (status, body)
    }

    async fn get(&self, path: &str, query: &str) -> (u16, Value) {
        self.send_at(&Request::get(path, query), now_ms(), &[])
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send_at(&Request::post(path, &body.to_string()), now_ms(), &[])
            .await
    }
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap()
}

fn s_code(v: &Value) -> &str {
    v["data"][0]["sCode"].as_str().unwrap()
}

fn dec_of(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
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

fn limit_buy(cl: &str, px: &str) -> Value {
    json!({"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": cl, "side": "buy",
           "ordType": "limit", "px": px, "sz": "0.01"})
}

async fn btc_cash(c: &Client) -> Decimal {
    let (_, b) = c.get("/api/v5/account/balance", "ccy=BTC").await;
    assert_eq!(code(&b), "0", "{b}");
    let d = &b["data"][0]["details"];
    assert_eq!(d.as_array().unwrap().len(), 1, "{b}");
    assert_eq!(d[0]["ccy"], "BTC");
    dec_of(&d[0]["cashBal"])
}

#[tokio::test]
async fn signatures_and_timestamps_are_checked_as_documented() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);

    // Public: no signature needed.
    let (st, t) = c.get("/api/v5/public/time", "").await;
    assert_eq!((st, code(&t)), (200, "0"), "{t}");
    let server: i64 = t["data"][0]["ts"].as_str().unwrap().parse().unwrap();
    assert!((server - now_ms()).abs() < 5_000, "{t}");
    let (_, i) = c
        .get(
            "/api/v5/public/instruments",
            "instType=SPOT&instId=BTC-USDT",
        )
        .await;
    assert_eq!(code(&i), "0", "{i}");
    let inst = &i["data"][0];
    assert_eq!(inst["instId"], "BTC-USDT");
    assert_eq!(
        (dec_of(&inst["tickSz"]), dec_of(&inst["lotSz"])),
        (dec!(0.1), dec!(0.001))
    );
    assert_eq!(inst["baseCcy"], "BTC");

    // A signed request is accepted.
    let (st, b) = c.get("/api/v5/account/balance", "").await;
    assert_eq!((st, code(&b)), (200, "0"), "{b}");

    // A wrong secret: 50113, HTTP 401, nothing placed.
    let bad = client(&e, KEY, "not-the-secret", PASSPHRASE);
    let (st, r) = bad
        .post("/api/v5/trade/order", limit_buy("badsig1", "50000"))
        .await;
    assert_eq!((st, code(&r)), (401, "50113"), "{r}");
    // A wrong passphrase: 50105; an unknown key: 50111.
    let (st, r) = client(&e, KEY, SECRET, "wrong-passphrase")
        .get("/api/v5/account/balance", "")
        .await;
    assert_eq!((st, code(&r)), (401, "50105"), "{r}");
    let (st, r) = client(&e, "not-a-key", SECRET, PASSPHRASE)
        .get("/api/v5/account/balance", "")
        .await;
    assert_eq!((st, code(&r)), (401, "50111"), "{r}");

    // A signature of another query string than the one sent is refused: GET parameters
    // are part of the requestPath.
    let req = Request::get("/api/v5/account/balance", "ccy=BTC");
    let ts = timestamp(now_ms()).unwrap();
    let h = c.signer.headers(&req, &ts);
    let r = reqwest::Client::new().get(format!("{}/api/v5/account/balance?ccy=ETH", e.base));
    let r = h
        .pairs()
        .iter()
        .fold(r, |r, (n, v)| r.header(*n, v))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(code(&v), "50113", "{v}");

    // Stale timestamps: 31 s old, and the docs' own example time (2020-12-08T09:08:57.715Z),
    // correctly signed, are "Timestamp request expired." (50102); 20 s old is still fine.
    let bal = Request::get("/api/v5/account/balance", "");
    let (st, r) = c.send_at(&bal, now_ms() - 31_000, &[]).await;
    assert_eq!((st, code(&r)), (401, "50102"), "{r}");
    let (_, r) = c.send_at(&bal, 1_607_418_537_715, &[]).await;
    assert_eq!(code(&r), "50102", "{r}");
    let (_, r) = c.send_at(&bal, now_ms() - 20_000, &[]).await;
    assert_eq!(code(&r), "0", "{r}");
    // A timestamp that is not ISO 8601: 50112.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v5/account/balance", e.base))
        .header("OK-ACCESS-KEY", KEY)
        .header("OK-ACCESS-SIGN", "x")
        .header("OK-ACCESS-TIMESTAMP", now_ms().to_string())
        .header("OK-ACCESS-PASSPHRASE", PASSPHRASE)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(code(&v), "50112", "{v}");
    // No signature header: 50106.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v5/account/balance", e.base))
        .header("OK-ACCESS-KEY", KEY)
        .header("OK-ACCESS-TIMESTAMP", timestamp(now_ms()).unwrap())
        .header("OK-ACCESS-PASSPHRASE", PASSPHRASE)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(code(&v), "50106", "{v}");

    // expTime in the past: the order is not processed (50036).
    let order = Request::post(
        "/api/v5/trade/order",
        &limit_buy("exptime1", "50000").to_string(),
    );
    let (_, r) = c
        .send_at(&order, now_ms(), &[("expTime", (now_ms() - 1).to_string())])
        .await;
    assert_eq!(code(&r), "50036", "{r}");
    // The demo-trading header is accepted as is.
    let (_, r) = c
        .send_at(
            &order.clone().simulated_trading(true),
            now_ms(),
            &[("expTime", (now_ms() + 10_000).to_string())],
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");

    let st = state(&e).await;
    let orders = st["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{st}");
    assert_eq!(orders[0]["clientOrderId"], "exptime1");
}

#[tokio::test]
async fn orders_rest_cancel_fill_and_move_the_balance() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);

    // A limit buy far below the market rests: live, listed pending.
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("rest1", "50000"))
        .await;
    assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");
    assert_eq!(r["data"][0]["clOrdId"], "rest1");
    let ord_id = r["data"][0]["ordId"].as_str().unwrap().to_string();
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=rest1")
        .await;
    assert_eq!(code(&o), "0", "{o}");
    let od = &o["data"][0];
    assert_eq!(
        (
            od["state"].as_str(),
            od["ordType"].as_str(),
            od["ordId"].as_str()
        ),
        (Some("live"), Some("limit"), Some(ord_id.as_str()))
    );
    assert_eq!(
        (dec_of(&od["px"]), dec_of(&od["sz"])),
        (dec!(50000), dec!(0.01))
    );
    let (_, p) = c.get("/api/v5/trade/orders-pending", "instType=SPOT").await;
    let pending = p["data"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{p}");
    assert_eq!(pending[0]["clOrdId"], "rest1");

    // The same clOrdId while it is pending: 51016, one order at the venue.
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("rest1", "50000"))
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51016"), "{r}");
    // A clOrdId OKX would refuse (not alphanumeric): 51000.
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("pit-1", "50000"))
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51000"), "{r}");
    assert_eq!(state(&e).await["orders"].as_array().unwrap().len(), 1);

    // Cancel by clOrdId: canceled, no longer pending; again: 51400.
    let cancel = json!({"instId": "BTC-USDT", "clOrdId": "rest1"});
    let (_, r) = c.post("/api/v5/trade/cancel-order", cancel.clone()).await;
    assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");
    assert_eq!(r["data"][0]["ordId"].as_str(), Some(ord_id.as_str()));
    let (_, o) = c
        .get(
            "/api/v5/trade/order",
            &format!("instId=BTC-USDT&ordId={ord_id}"),
        )
        .await;
    assert_eq!(o["data"][0]["state"], "canceled", "{o}");
    let (_, p) = c.get("/api/v5/trade/orders-pending", "").await;
    assert!(p["data"].as_array().unwrap().is_empty(), "{p}");
    let (_, r) = c.post("/api/v5/trade/cancel-order", cancel).await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51400"), "{r}");
    // An order that never was: 51603.
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=never1")
        .await;
    assert_eq!(code(&o), "51603", "{o}");
    // Its clOrdId is free again once it is no longer pending ("unique among the clOrdIds
    // of all pending orders"), and by ordId a cancel works too.
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("rest1", "50000"))
        .await;
    assert_eq!(s_code(&r), "0", "{r}");
    let again = r["data"][0]["ordId"].as_str().unwrap().to_string();
    let (_, r) = c
        .post(
            "/api/v5/trade/cancel-order",
            json!({"instId": "BTC-USDT", "ordId": again}),
        )
        .await;
    assert_eq!(s_code(&r), "0", "{r}");

    // A market buy must say tgtCcy=base_ccy here (OKX's default is the quote currency).
    let market = |cl: &str| {
        json!({"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": cl, "side": "buy",
               "ordType": "market", "sz": "0.01"})
    };
    let (_, r) = c.post("/api/v5/trade/order", market("mkt0")).await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51000"), "{r}");

    // Two market buys by base fill; the fills show them; the balance moves.
    let before = btc_cash(&c).await;
    let mut ids = Vec::new();
    for cl in ["mkt1", "mkt2"] {
        let mut m = market(cl);
        m["tgtCcy"] = json!("base_ccy");
        let (_, r) = c.post("/api/v5/trade/order", m).await;
        assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");
        ids.push(r["data"][0]["ordId"].as_str().unwrap().to_string());
    }
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=mkt1")
        .await;
    let od = &o["data"][0];
    assert_eq!(od["state"], "filled", "{o}");
    assert_eq!(dec_of(&od["accFillSz"]), dec!(0.01));
    assert_eq!(od["feeCcy"], "BTC");
    assert_eq!(dec_of(&od["fee"]), dec!(-0.00001), "{o}");

    let (_, f) = c
        .get("/api/v5/trade/fills", "instType=SPOT&instId=BTC-USDT")
        .await;
    assert_eq!(code(&f), "0", "{f}");
    let all = f["data"].as_array().unwrap().clone();
    assert!(all.len() >= 2, "{f}");
    for id in &ids {
        let mine: Vec<&Value> = all.iter().filter(|x| x["ordId"] == *id).collect();
        assert!(!mine.is_empty(), "{f}");
        let filled: Decimal = mine.iter().map(|x| dec_of(&x["fillSz"])).sum();
        assert_eq!(filled, dec!(0.01));
        assert!(
            mine.iter()
                .all(|x| x["side"] == "buy" && x["execType"] == "T")
        );
        let fee: Decimal = mine.iter().map(|x| dec_of(&x["fee"])).sum();
        assert_eq!(fee, dec!(-0.00001));
    }
    // Newest first, by billId.
    let bill = |x: &Value| x["billId"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(all.windows(2).all(|w| bill(&w[0]) > bill(&w[1])), "{f}");
    // Bought 0.02, the commission (0.1%) paid in the asset received.
    let after = btc_cash(&c).await;
    assert_eq!(after - before, dec!(0.02) - dec!(0.00002));

    // Paging by billId: `after` (earlier than), `before` (newer than), `limit` ≤ 100.
    let (_, p1) = c.get("/api/v5/trade/fills", "limit=1").await;
    assert_eq!(p1["data"].as_array().unwrap().as_slice(), &all[..1]);
    let newest = all[0]["billId"].as_str().unwrap();
    let (_, p2) = c
        .get("/api/v5/trade/fills", &format!("after={newest}&limit=1"))
        .await;
    assert_eq!(p2["data"].as_array().unwrap().as_slice(), &all[1..2]);
    let second = all[1]["billId"].as_str().unwrap();
    let (_, p3) = c
        .get("/api/v5/trade/fills", &format!("before={second}"))
        .await;
    assert_eq!(p3["data"].as_array().unwrap().as_slice(), &all[..1]);
    let (_, all_again) = c
        .get(
            "/api/v5/trade/fills",
            &format!("after={}", bill(&all[0]) + 1),
        )
        .await;
    assert_eq!(all_again["data"].as_array().unwrap(), &all);
    // `begin` after every fill: none; `limit` over 100: refused.
    let (_, none) = c
        .get("/api/v5/trade/fills", &format!("begin={}", now_ms() + 1000))
        .await;
    assert!(none["data"].as_array().unwrap().is_empty(), "{none}");
    let (_, r) = c.get("/api/v5/trade/fills", "limit=101").await;
    assert_eq!(code(&r), "51000", "{r}");
    // Only this order's fills by ordId.
    let (_, one) = c
        .get("/api/v5/trade/fills", &format!("ordId={}", ids[1]))
        .await;
    let one = one["data"].as_array().unwrap();
    assert!(!one.is_empty() && one.iter().all(|x| x["ordId"] == ids[1].as_str()));

    // Funds short: 51008, named in the currency.
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            json!({"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": "huge1", "side": "buy",
                   "ordType": "limit", "px": "50000", "sz": "100"}),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51008"), "{r}");
    assert!(
        r["data"][0]["sMsg"].as_str().unwrap().contains("USDT"),
        "{r}"
    );
}

#[tokio::test]
async fn faults_answer_in_okx_codes() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);
    // 429=1: HTTP 429, 50011; nothing done.
    faults(&e, "429=1").await;
    let (st, r) = c
        .post("/api/v5/trade/order", limit_buy("lim1", "50000"))
        .await;
    assert_eq!((st, code(&r)), (429, "50011"), "{r}");
    assert!(state(&e).await["orders"].as_array().unwrap().is_empty());
    // 5xx=1: HTTP 500, 50026; the order was placed all the same.
    faults(&e, "5xx=1").await;
    let (st, r) = c
        .post("/api/v5/trade/order", limit_buy("err1", "50000"))
        .await;
    assert_eq!((st, code(&r)), (500, "50026"), "{r}");
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=err1")
        .await;
    assert_eq!(o["data"][0]["state"], "live", "{o}");
    // lose-response=1: no answer at all; the order is there.
    faults(&e, "lose-response=1").await;
    let body = limit_buy("lost1", "50000").to_string();
    let req = Request::post("/api/v5/trade/order", &body);
    let ts = timestamp(now_ms()).unwrap();
    let mut b = reqwest::Client::new()
        .post(format!("{}/api/v5/trade/order", e.base))
        .header("Content-Type", "application/json")
        .body(body.clone());
    for (n, v) in c.signer.headers(&req, &ts).pairs() {
        b = b.header(*n, v);
    }
    assert!(b.send().await.is_err());
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=lost1")
        .await;
    assert_eq!(o["data"][0]["state"], "live", "{o}");
    // The per-endpoint rate limit: "Get balance" allows 10 requests per 2 seconds.
    let mut codes = Vec::new();
    for _ in 0..11 {
        let (st, r) = c.get("/api/v5/account/balance", "").await;
        codes.push((st, code(&r).to_string()));
    }
    assert!(
        codes[..10].iter().all(|(s, c)| *s == 200 && c == "0"),
        "{codes:?}"
    );
    assert_eq!(codes[10], (429, "50011".to_string()));
}

fn live(st: &Value) -> Vec<String> {
    st["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "NEW" || o["status"] == "PARTIALLY_FILLED")
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect()
}

async fn caa(c: &Client, secs: &str) -> Value {
    let (_, r) = c
        .post("/api/v5/trade/cancel-all-after", json!({ "timeOut": secs }))
        .await;
    r
}

#[tokio::test]
async fn cancel_all_after_fires_when_not_refreshed() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);
    // Out of the documented range: 0, [10, 120].
    for bad in ["5", "121", "x"] {
        let r = caa(&c, bad).await;
        assert_eq!(code(&r), "51000", "{bad}: {r}");
        tokio::time::sleep(Duration::from_millis(1050)).await; // "1 request per second"
    }
    for cl in ["caa1", "caa2"] {
        let (_, r) = c.post("/api/v5/trade/order", limit_buy(cl, "50000")).await;
        assert_eq!(s_code(&r), "0", "{r}");
    }
    let set_at = now_ms() / 1000;
    let r = caa(&c, "10").await;
    assert_eq!(code(&r), "0", "{r}");
    let trigger: i64 = r["data"][0]["triggerTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((trigger - (set_at + 10)).abs() <= 1, "{r}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(live(&state(&e).await).len(), 2, "cancelled early");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let st = state(&e).await;
    assert!(live(&st).is_empty(), "{st}");
    assert_eq!(st["okx_cancel_all_after"]["fired"], 1, "{st}");
    assert_eq!(st["okx_cancel_all_after"]["armed"], false, "{st}");
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT&clOrdId=caa1")
        .await;
    assert_eq!(o["data"][0]["state"], "canceled", "{o}");
}

#[tokio::test]
async fn cancel_all_after_is_pushed_back_by_a_refresh_and_disarmed_by_zero() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("keep1", "50000"))
        .await;
    assert_eq!(s_code(&r), "0", "{r}");
    assert_eq!(code(&caa(&c, "10").await), "0");
    tokio::time::sleep(Duration::from_secs(6)).await;
    // A refresh 6 s in: the countdown starts again.
    assert_eq!(code(&caa(&c, "10").await), "0");
    tokio::time::sleep(Duration::from_secs(6)).await;
    // 12 s after the first set: past its end, not the refreshed one.
    let st = state(&e).await;
    assert_eq!(live(&st), vec!["keep1".to_string()], "{st}");
    // timeOut 0 disables it: triggerTime "0"; nothing is cancelled after the window.
    let r = caa(&c, "0").await;
    assert_eq!(
        (code(&r), r["data"][0]["triggerTime"].as_str()),
        ("0", Some("0")),
        "{r}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let st = state(&e).await;
    assert_eq!(live(&st), vec!["keep1".to_string()], "{st}");
    assert_eq!(st["okx_cancel_all_after"]["fired"], 0, "{st}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text frame, as JSON (`pong` as a string).
async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap_or(Value::String(t.to_string()));
        }
    }
}

/// Pushes of the `orders` channel until one satisfies `want`.
async fn push_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = ws_next(ws).await;
        if v["arg"]["channel"] == "orders" && want(&v["data"][0]) {
            return v;
        }
    }
}

/// "WebSocket" > "Login": sign = base64(HMAC-SHA256(secret, timestamp + 'GET' +
/// '/users/self/verify')), timestamp in seconds.
fn login(signer: &Signer, key: &str, passphrase: &str, secs: i64) -> Value {
    let ts = secs.to_string();
    let sign = signer.sign(&ts, Method::Get, "/users/self/verify", "");
    json!({"op": "login", "args": [{"apiKey": key, "passphrase": passphrase,
                                     "timestamp": ts, "sign": sign}]})
}

#[tokio::test]
async fn the_private_stream_logs_in_and_pushes_orders_with_their_fills() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/ws/v5/private", e.ws))
        .await
        .unwrap();
    ws.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, Value::String("pong".into()));
    // Before login: "Please log in".
    let sub =
        json!({"id": "s1", "op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]});
    ws_send(&mut ws, sub.clone()).await;
    let r = ws_next(&mut ws).await;
    assert_eq!(
        (r["event"].as_str(), r["code"].as_str()),
        (Some("error"), Some("60011")),
        "{r}"
    );
    // A wrong secret, and a timestamp older than 30 s: refused.
    let now_s = now_ms() / 1000;
    let other = Signer::new(
        KEY,
        SecretString::from("not-the-secret".to_string()),
        SecretString::from(PASSPHRASE.to_string()),
    )
    .unwrap();
    ws_send(&mut ws, login(&other, KEY, PASSPHRASE, now_s)).await;
    assert_eq!(ws_next(&mut ws).await["code"], "60007");
    ws_send(&mut ws, login(&c.signer, KEY, PASSPHRASE, now_s - 50)).await;
    assert_eq!(ws_next(&mut ws).await["code"], "60006");
    ws_send(&mut ws, login(&c.signer, KEY, "wrong", now_s)).await;
    assert_eq!(ws_next(&mut ws).await["code"], "60024");
    // Logged in, subscribed.
    ws_send(&mut ws, login(&c.signer, KEY, PASSPHRASE, now_s)).await;
    let r = ws_next(&mut ws).await;
    assert_eq!(
        (r["event"].as_str(), r["code"].as_str()),
        (Some("login"), Some("0")),
        "{r}"
    );
    ws_send(&mut ws, sub).await;
    let r = ws_next(&mut ws).await;
    assert_eq!(
        (r["event"].as_str(), r["id"].as_str()),
        (Some("subscribe"), Some("s1")),
        "{r}"
    );
    assert_eq!(r["arg"]["channel"], "orders");

    // A resting order: pushed live; cancelled: pushed canceled.
    let (_, r) = c
        .post("/api/v5/trade/order", limit_buy("wsrest1", "50000"))
        .await;
    assert_eq!(s_code(&r), "0", "{r}");
    let p = push_where(&mut ws, |d| d["clOrdId"] == "wsrest1").await;
    let d = &p["data"][0];
    assert_eq!(
        (d["state"].as_str(), d["fillSz"].as_str()),
        (Some("live"), Some("")),
        "{p}"
    );
    assert_eq!(p["arg"]["instType"], "SPOT");
    let (_, r) = c
        .post(
            "/api/v5/trade/cancel-order",
            json!({"instId": "BTC-USDT", "clOrdId": "wsrest1"}),
        )
        .await;
    assert_eq!(s_code(&r), "0", "{r}");
    push_where(&mut ws, |d| {
        d["clOrdId"] == "wsrest1" && d["state"] == "canceled"
    })
    .await;

    // A market buy: its fills pushed with fillSz, fillPx, tradeId, fee; the sum is the
    // order; the tradeIds are the fills' of "Get transaction details".
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            json!({"instId": "BTC-USDT", "tdMode": "cash", "clOrdId": "wsmkt1", "side": "buy",
                   "ordType": "market", "sz": "0.01", "tgtCcy": "base_ccy"}),
        )
        .await;
    assert_eq!(s_code(&r), "0", "{r}");
    let mut filled = Decimal::ZERO;
    let mut trade_ids = Vec::new();
    let mut last = Value::Null;
    while filled < dec!(0.01) {
        let p = push_where(&mut ws, |d| d["clOrdId"] == "wsmkt1" && d["fillSz"] != "").await;
        let d = p["data"][0].clone();
        filled += dec_of(&d["fillSz"]);
        assert!(dec_of(&d["fillPx"]) > Decimal::ZERO, "{p}");
        assert_eq!(
            (d["feeCcy"].as_str(), d["execType"].as_str()),
            (Some("BTC"), Some("T")),
            "{p}"
        );
        assert!(dec_of(&d["fillFee"]) < Decimal::ZERO, "{p}");
        trade_ids.push(d["tradeId"].as_str().unwrap().to_string());
        last = d;
    }
    assert_eq!(filled, dec!(0.01));
    assert_eq!(last["state"], "filled", "{last}");
    assert_eq!(dec_of(&last["accFillSz"]), dec!(0.01));
    assert_eq!(dec_of(&last["fee"]), dec!(-0.00001), "{last}");
    let (_, f) = c.get("/api/v5/trade/fills", "").await;
    let mut listed: Vec<String> = f["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["clOrdId"] == "wsmkt1")
        .map(|x| x["tradeId"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    trade_ids.sort();
    assert_eq!(listed, trade_ids);
}

fn swap_order(cl: &str, side: &str, sz: &str, reduce_only: Option<bool>) -> Value {
    let mut v = json!({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "clOrdId": cl,
                       "side": side, "ordType": "market", "sz": sz});
    if let Some(r) = reduce_only {
        v["reduceOnly"] = json!(r);
    }
    v
}

async fn usdt_cash(c: &Client) -> Decimal {
    let (_, b) = c.get("/api/v5/account/balance", "ccy=USDT").await;
    dec_of(&b["data"][0]["details"][0]["cashBal"])
}

/// The next `positions` push.
async fn position_push(ws: &mut Ws) -> Value {
    loop {
        let v = ws_next(ws).await;
        if v["arg"]["channel"] == "positions" && v.get("data").is_some() {
            return v;
        }
    }
}

/// `positions` pushes until one says `pos` contracts (each within 5 s).
async fn position_is(ws: &mut Ws, pos: Decimal) -> Value {
    loop {
        let v = position_push(ws).await;
        if v["data"][0]["pos"]
            .as_str()
            .and_then(|x| x.parse::<Decimal>().ok())
            == Some(pos)
        {
            return v;
        }
    }
}

/// BTC-USDT-SWAP, as OKX documents a linear perpetual: "Get instruments" SWAP (`ctVal`,
/// `ctValCcy`, `ctType`, `settleCcy`, `lotSz`/`minSz` in contracts); `sz` in contracts in
/// trade mode `cross`; a short from a USDT-only account; the net position in "Get
/// positions" and pushed on the `positions` channel; fees and PnL in USDT, the BTC balance
/// untouched; `reduceOnly` as "Place order" describes it (51169 with nothing to reduce);
/// and a position moved at the emulator (a test's difference) pushed.
#[tokio::test]
async fn a_swap_trades_in_contracts_with_a_net_position() {
    let e = Emulator::start_okx(KEY, SECRET, PASSPHRASE, &[]);
    let c = client(&e, KEY, SECRET, PASSPHRASE);
    let (_, i) = c.get("/api/v5/public/instruments", "instType=SWAP").await;
    assert_eq!(code(&i), "0", "{i}");
    let list = i["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{i}");
    let d = &list[0];
    assert_eq!(
        (
            d["instId"].as_str(),
            d["ctValCcy"].as_str(),
            d["ctType"].as_str(),
            d["settleCcy"].as_str()
        ),
        (
            Some("BTC-USDT-SWAP"),
            Some("BTC"),
            Some("linear"),
            Some("USDT")
        )
    );
    assert_eq!(
        (
            dec_of(&d["ctVal"]),
            dec_of(&d["lotSz"]),
            dec_of(&d["minSz"]),
            dec_of(&d["tickSz"])
        ),
        (dec!(0.01), dec!(1), dec!(1), dec!(0.1))
    );
    // SPOT lists no swap.
    let (_, i) = c.get("/api/v5/public/instruments", "instType=SPOT").await;
    assert!(
        i["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["instType"] == "SPOT"),
        "{i}"
    );

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/ws/v5/private", e.ws))
        .await
        .unwrap();
    ws_send(&mut ws, login(&c.signer, KEY, PASSPHRASE, now_ms() / 1000)).await;
    assert_eq!(ws_next(&mut ws).await["code"], "0");
    ws_send(
        &mut ws,
        json!({"op": "subscribe", "args": [{"channel": "positions", "instType": "SWAP"}]}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await["event"], "subscribe");
    // The initial snapshot: no position.
    let p = position_push(&mut ws).await;
    assert!(p["data"].as_array().unwrap().is_empty(), "{p}");

    let usdt0 = usdt_cash(&c).await;
    let btc0 = btc_cash(&c).await;
    // Trade mode cash on a swap, half a contract: refused.
    let mut cash = swap_order("swcash", "sell", "3", None);
    cash["tdMode"] = json!("cash");
    let (_, r) = c.post("/api/v5/trade/order", cash).await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51000"), "{r}");
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swhalf", "sell", "1.5", None),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51121"), "{r}");
    // Reduce-only with no position: 51169.
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swro0", "buy", "1", Some(true)),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51169"), "{r}");

    // Short 3 contracts (0.03 BTC) from a USDT-only position.
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swshort", "sell", "3", None),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");
    let (_, o) = c
        .get(
            "/api/v5/trade/order",
            "instId=BTC-USDT-SWAP&clOrdId=swshort",
        )
        .await;
    let od = &o["data"][0];
    assert_eq!(
        (
            od["instType"].as_str(),
            od["state"].as_str(),
            od["tdMode"].as_str(),
            od["feeCcy"].as_str()
        ),
        (Some("SWAP"), Some("filled"), Some("cross"), Some("USDT")),
        "{o}"
    );
    assert_eq!(
        (dec_of(&od["sz"]), dec_of(&od["accFillSz"])),
        (dec!(3), dec!(3))
    );
    let p = position_is(&mut ws, dec!(-3)).await;
    assert_eq!(p["data"][0]["instId"], "BTC-USDT-SWAP", "{p}");
    let (_, ps) = c.get("/api/v5/account/positions", "instType=SWAP").await;
    assert_eq!(code(&ps), "0", "{ps}");
    assert_eq!(dec_of(&ps["data"][0]["pos"]), dec!(-3), "{ps}");
    assert_eq!(ps["data"][0]["posSide"], "net");
    // The fills: in contracts, fees in USDT; BTC untouched.
    let (_, f) = c.get("/api/v5/trade/fills", "instType=SWAP").await;
    let fills = f["data"].as_array().unwrap();
    assert!(!fills.is_empty(), "{f}");
    let sz: Decimal = fills.iter().map(|x| dec_of(&x["fillSz"])).sum();
    assert_eq!(sz, dec!(3), "{f}");
    assert!(fills.iter().all(|x| x["feeCcy"] == "USDT"), "{f}");
    let fees: Decimal = fills.iter().map(|x| dec_of(&x["fee"])).sum();
    assert!(fees < Decimal::ZERO);
    assert_eq!(btc_cash(&c).await, btc0);
    assert_eq!(
        usdt_cash(&c).await,
        usdt0 + fees,
        "a fresh short moves only its fee"
    );
    // The spot lists show none of it.
    let (_, f) = c.get("/api/v5/trade/fills", "instType=SPOT").await;
    assert!(f["data"].as_array().unwrap().is_empty(), "{f}");

    // Reduce-only: on the side of the position, or larger than it: 51169; 2 of 3: taken.
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swro1", "sell", "1", Some(true)),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51169"), "{r}");
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swro2", "buy", "4", Some(true)),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51169"), "{r}");
    let (_, r) = c
        .post(
            "/api/v5/trade/order",
            swap_order("swro3", "buy", "2", Some(true)),
        )
        .await;
    assert_eq!((code(&r), s_code(&r)), ("0", "0"), "{r}");
    position_is(&mut ws, dec!(-1)).await;
    let (_, o) = c
        .get("/api/v5/trade/order", "instId=BTC-USDT-SWAP&clOrdId=swro3")
        .await;
    assert_eq!(o["data"][0]["reduceOnly"], "true", "{o}");
    // Reduce-only on spot cash: refused.
    let mut spot = limit_buy("spotro", "50000");
    spot["reduceOnly"] = json!(true);
    let (_, r) = c.post("/api/v5/trade/order", spot).await;
    assert_eq!((code(&r), s_code(&r)), ("1", "51000"), "{r}");
    let st = state(&e).await;
    assert_eq!(st["okx_reduce_only"]["swro3"], true, "{st}");
    assert_eq!(st["okx_reduce_only"]["spotro"], true, "{st}");
    assert!(st["okx_reduce_only"].get("swshort").is_none(), "{st}");

    // A position moved at the emulator without a trade: pushed, listed.
    let r = reqwest::Client::new()
        .post(format!("{}/emulator/okx/position", e.base))
        .body(json!({"instId": "BTC-USDT-SWAP", "pos": "3"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    position_is(&mut ws, dec!(2)).await;
    let (_, ps) = c
        .get("/api/v5/account/positions", "instId=BTC-USDT-SWAP")
        .await;
    assert_eq!(dec_of(&ps["data"][0]["pos"]), dec!(2), "{ps}");
}
