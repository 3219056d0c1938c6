//! `pit emulate kraken`: a Kraken spot front-end on the emulator's exchange core (the same
//! simulated market, paper fill model, balances and faults as the other venues; see
//! [`super::exchange`]), verified with pit's own Kraken signer
//! (`venue::exchanges::kraken::api::sign`).
//!
//! Rules, from Kraken's docs (<https://docs.kraken.com/api-reference/>, page by page):
//!
//! * "Spot REST Authentication" (<https://docs.kraken.com/api/docs/guides/spot-rest-auth>):
//!   a private call is `POST /0/private/<Method>`, form-encoded with a `nonce`, headers
//!   `API-Key` and `API-Sign` = base64(HMAC-SHA512(base64-decoded secret, path +
//!   SHA256(nonce + body))). Refusals: `EAPI:Invalid key` (unknown or missing key),
//!   `EAPI:Invalid signature`, `EAPI:Invalid nonce` (a nonce not above the last one the
//!   key used: the emulator is strict, as a key without a "nonce window" is).
//! * The envelope `{"error":[],"result":{...}}`, HTTP 200 with Kraken's error strings.
//! * "Spot REST Rate Limits" (<https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits>):
//!   a call counter per key, +2 for trade history calls, +1 for the others, except
//!   AddOrder and CancelOrder; it decays at the Pro tier's 1/s up to its 20;
//!   over it: `EAPI:Rate limit exceeded`. The matching engine's per-pair trading limiter
//!   is not emulated.
//! * "Add Order" (<https://docs.kraken.com/api-reference/trading/add-order>): `ordertype`
//!   `limit` / `market`, `type`, `volume`, `pair` (the pair's key, `altname` or `wsname`),
//!   `price`, `oflags` (`post`: a post-only order that would take is refused, `EOrder:Post
//!   only order`; `fciq`, `fcib`, `viqc` and `nompp` accepted, fees always charged in the
//!   quote), `timeinforce` (`GTC`, `IOC`; `GTD` refused), `cl_ord_id` (a UUID, 32 hex
//!   digits, or free text up to 18 characters: "Spot Client Order Identifiers",
//!   <https://docs.kraken.com/api/docs/guides/spot-clordid>; unique among open orders, else
//!   `EOrder:Duplicate cl_ord_id`); `reduce_only` and leverage are refused (a spot
//!   account). Funds short: `EOrder:Insufficient funds`; volume below `ordermin`:
//!   `EOrder:Order minimum not met`; cost below `costmin`: `EOrder:Cost minimum not met`;
//!   off the tick: `EOrder:Tick size check failed`; off the lot: `EGeneral:Invalid
//!   arguments:volume`.
//! * "Cancel Order" (`txid` or `cl_ord_id`; `{"count":1}`; gone: `EOrder:Unknown order`),
//!   "Cancel All Orders" (`count`), "Cancel All Orders After X" (`timeout` seconds, 0
//!   disables; the answer's `currentTime` and `triggerTime`, RFC 3339, `triggerTime` "0"
//!   when disabled; when the countdown ends unrefreshed every open order is cancelled and
//!   the timer stays off until set again).
//! * "Get Open Orders", "Get Closed Orders" (the 50 newest, or the one with `cl_ord_id`),
//!   "Query Orders Info" (`txid`, up to 50), with `trades=true` the trade ids; "Get Trades
//!   History" (newest first, `start`/`end` Unix seconds, `ofs`, 50 a page, `count`),
//!   "Query Trades Info" (`txid`, up to 20); "Get Account Balance"; "Get WebSockets Token"
//!   (`token`, `expires` 900); public "Get Tradable Asset Pairs" (`tick_size`,
//!   `pair_decimals`, `lot_decimals`, `ordermin` = the lot, `costmin` = the core's least
//!   order value, `status` "online").
//! * The authenticated WebSocket v2 `/ws-auth/v2` ("Executions",
//!   <https://docs.kraken.com/api/docs/websocket-v2/executions>): `subscribe` to
//!   `executions` with a token from "Get WebSockets Token" (else `EAPI:Invalid token`... the
//!   answer's `success` false), the snapshot (open orders with `snap_orders`, the last 50
//!   fills with `snap_trades`), then every order event (`pending_new`/`new`, `trade` with
//!   `exec_id`, `trade_id`, `last_qty`, `last_price`, `liquidity_ind`, `fees`, `canceled`,
//!   `expired`, `filled`) with `order_status` and `cum_qty`; `ping` → `pong`; a
//!   `heartbeat` every second.
//! * The public WebSocket v2 `/ws/v2` ("Book", "Trade"): `book` (`depth` 10, 25, 100, 500,
//!   1000; a `snapshot`, then `update`s of the levels changed, `qty` 0 for one gone, each
//!   with Kraken's CRC32 `checksum` of the top 10 asks then bids, every price and qty
//!   written at the pair's decimals, the point and leading zeros removed: "Book
//!   checksum", <https://docs.kraken.com/api/docs/guides/spot-ws-book-v2>) and `trade`;
//!   `pit run --venue kraken` reads its book from it.
//!
//! Ids: an order's `txid` is `O<digits>-PITEM-<digits>` and a trade's `T...`, the core's
//! numbers spelled in Kraken's three-part shape. Symbols: a pair's `wsname` is
//! `BASE/QUOTE` (pit's symbol), its key and `altname` the core's symbol (`BTCUSDT`).
//!
//! Faults (`--faults`, `POST /emulator/faults`) in Kraken's words: `429=N` →
//! `EOrder:Rate limit exceeded` for AddOrder/CancelOrder, `EAPI:Rate limit exceeded` for the
//! others (nothing carried out); `418=S` the same for S seconds; `5xx=N` → HTTP 500
//! `EService:Unavailable` (an AddOrder among them is placed first; any other request is not
//! carried out); `lose-response=N` (an order placed, the connection closed unanswered);
//! `slow=`, `create-late=`, `partial-fill-on-cancel=N`, `clock=`, `deposit=`/`withdraw=`;
//! `drop-user-stream` (the authenticated WebSocket connections are dropped).

use super::faults::Faults;
use super::shared::{ConnKill, Shared};
use crate::venue::exchanges::binance::api::errors::msg as bmsg;
use crate::venue::exchanges::binance::api::wire as bw;
use crate::venue::exchanges::kraken::api::sign::Signer;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// The REST call counter of the Pro tier, in thousandths: (max, decay per second).
pub const COUNTER: (u64, u64) = (20_000, 1_000);

/// "Cancel All Orders After X": the timeout "should be less than 86400 seconds".
pub const CAA_MAX_S: u64 = 86_399;

/// The Kraken front-end's state, next to the shared core.
pub struct Kraken {
    pub s: Arc<Shared>,
    keys: BTreeMap<String, Signer>,
    st: Mutex<KState>,
}

#[derive(Default)]
struct KState {
    /// The last nonce each key used.
    nonces: BTreeMap<String, u64>,
    /// The call counter per key (thousandths) and when it was last decayed (ms).
    counters: BTreeMap<String, (u64, i64)>,
    /// Tokens issued (token -> expiry, ms).
    tokens: BTreeMap<String, i64>,
    next_token: u64,
    caa_trigger_ms: Option<i64>,
    caa_fired: u64,
    caa_cancelled: u64,
    /// "Add Order" requests per `cl_ord_id`, accepted or not.
    places: BTreeMap<String, u64>,
    /// "Cancel All Orders" requests carried out.
    cancel_all: u64,
    /// Authenticated private calls per method (refused by the counter or not).
    calls: BTreeMap<String, u64>,
}

/// `cl_ord_id`: a long UUID (36, dashes), a short one (32 hex digits) or free text of up
/// to 18 printable ASCII characters.
pub fn valid_cl_ord_id(id: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = id.split('-').collect();
    let long = id.len() == 36
        && parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| hex(p));
    let short = id.len() == 32 && hex(id);
    let free = (1..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    long || short || free
}

/// A core number spelled as a Kraken id: `O00000-PITEM-000042`.
pub fn txid(kind: char, n: u64) -> String {
    format!("{kind}{:05}-PITEM-{:06}", n / 1_000_000, n % 1_000_000)
}

/// The core number of an id [`txid`] wrote.
pub fn txid_no(kind: char, id: &str) -> Option<u64> {
    let rest = id.strip_prefix(kind)?;
    let (hi, tail) = rest.split_once("-PITEM-")?;
    Some(hi.parse::<u64>().ok()? * 1_000_000 + tail.parse::<u64>().ok()?)
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn secs_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Decimals of a step (0.01 → 2).
fn decimals(step: Decimal) -> u32 {
    step.normalize().scale()
}

/// `d` written at `dp` decimals.
fn fixed(d: Decimal, dp: u32) -> String {
    let mut x = d;
    x.rescale(dp);
    x.to_string()
}

type KResult = Result<Value, Vec<String>>;

fn err(e: impl Into<String>) -> Vec<String> {
    vec![e.into()]
}

fn answer(status: u16, r: KResult) -> Response {
    let body = match r {
        Ok(v) => json!({"error": [], "result": v}),
        Err(e) => json!({"error": e}),
    };
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Kraken {
    pub fn new(s: Arc<Shared>, keys: BTreeMap<String, Signer>) -> Kraken {
        s.exchange().charge_fees_in_quote();
        Kraken {
            s,
            keys,
            st: Mutex::new(KState::default()),
        }
    }

    fn st(&self) -> MutexGuard<'_, KState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The core symbol of a Kraken pair name (`BTCUSDT`, or `BTC/USDT`).
    fn symbol_of(&self, pair: &str) -> Option<String> {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == pair || format!("{}/{}", sp.base, sp.quote) == pair)
            .map(|sp| sp.symbol.clone())
    }

    /// The WebSocket v2 symbol of a core symbol.
    fn ws_symbol(&self, symbol: &str) -> String {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == symbol)
            .map(|sp| format!("{}/{}", sp.base, sp.quote))
            .unwrap_or_else(|| symbol.to_string())
    }

    /// (price decimals, volume decimals) of a core symbol.
    fn decimals_of(&self, symbol: &str) -> (u32, u32) {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == symbol)
            .map(|sp| (decimals(sp.tick), decimals(sp.lot).max(8)))
            .unwrap_or((2, 8))
    }

    /// The key, the signature, the nonce; then the call counter.
    fn authenticate(
        &self,
        h: &HeaderMap,
        path: &str,
        body: &str,
        params: &BTreeMap<String, String>,
        now_ms: i64,
        method: &str,
    ) -> Result<(), Vec<String>> {
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let key = get("API-Key").ok_or_else(|| err("EAPI:Invalid key"))?;
        let signer = self.keys.get(key).ok_or_else(|| err("EAPI:Invalid key"))?;
        let nonce: u64 = params
            .get("nonce")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| err("EAPI:Invalid nonce"))?;
        let sign = get("API-Sign").ok_or_else(|| err("EAPI:Invalid signature"))?;
        if signer.sign(path, nonce, body) != sign {
            return Err(err("EAPI:Invalid signature"));
        }
        let mut st = self.st();
        let last = st.nonces.entry(key.to_string()).or_insert(0);
        if nonce <= *last {
            return Err(err("EAPI:Invalid nonce"));
        }
        *last = nonce;
        *st.calls.entry(method.to_string()).or_default() += 1;
        if matches!(method, "AddOrder" | "CancelOrder") {
            return Ok(());
        }
        let cost = match method {
            "TradesHistory" | "QueryTrades" | "Ledgers" | "QueryLedgers" => 2000,
            _ => 1000,
        };
        let (value, at) = st.counters.entry(key.to_string()).or_insert((0, now_ms));
        let gone = (now_ms - *at).max(0) as u64 * COUNTER.1 / 1000;
        *value = value.saturating_sub(gone);
        *at = now_ms;
        if *value + cost > COUNTER.0 {
            return Err(err("EAPI:Rate limit exceeded"));
        }
        *value += cost;
        Ok(())
    }

    fn cl_of(&self, symbol: &str, oid: u64, now_ns: i64) -> String {
        self.s
            .exchange()
            .query(symbol, Some(oid), None, now_ns)
            .map(|q| q.client_order_id)
            .unwrap_or_default()
    }
}

/// A refusal of the Binance-shaped core, in Kraken's error strings.
fn refusal(e: &crate::venue::exchanges::binance::api::errors::ApiError) -> String {
    let m = e.msg.as_str();
    if m == bmsg::INSUFFICIENT_BALANCE {
        "EOrder:Insufficient funds".into()
    } else if m == bmsg::DUPLICATE_ORDER {
        "EOrder:Duplicate cl_ord_id".into()
    } else if m == bmsg::WOULD_TAKE {
        "EOrder:Post only order".into()
    } else if m.contains("NOTIONAL") {
        "EOrder:Cost minimum not met".into()
    } else if m.contains("LOT_SIZE") {
        "EGeneral:Invalid arguments:volume".into()
    } else if m.contains("PRICE_FILTER") {
        "EOrder:Tick size check failed".into()
    } else {
        format!("EGeneral:Invalid arguments (pit emulate: {m})")
    }
}

fn status_of(s: bw::OrderStatus) -> &'static str {
    use bw::OrderStatus as B;
    match s {
        B::New | B::PendingNew | B::PendingCancel | B::PartiallyFilled => "open",
        B::Filled => "closed",
        B::Canceled | B::Rejected => "canceled",
        B::Expired | B::ExpiredInMatch => "expired",
    }
}

fn side_str(s: bw::Side) -> &'static str {
    match s {
        bw::Side::Buy => "buy",
        bw::Side::Sell => "sell",
    }
}

/// An order as the REST order lists give it.
fn order_json(k: &Kraken, q: &bw::QueriedOrder, trades: Option<Vec<String>>) -> Value {
    let market = q.order_type == bw::OrderType::Market;
    let avg = if q.executed_qty > Decimal::ZERO {
        num((q.cummulative_quote_qty / q.executed_qty).round_dp(8))
    } else {
        "0".into()
    };
    let mut v = json!({
        "refid": null, "userref": 0, "cl_ord_id": q.client_order_id,
        "status": status_of(q.status),
        "opentm": Decimal::new(q.time, 3),
        "descr": {"pair": q.symbol, "type": side_str(q.side),
                  "ordertype": if market { "market" } else { "limit" },
                  "price": if market { "0".to_string() } else { num(q.price) }},
        "vol": num(q.orig_qty), "vol_exec": num(q.executed_qty),
        "cost": num(q.cummulative_quote_qty), "price": avg,
        "oflags": if q.order_type == bw::OrderType::LimitMaker { "post,fciq" } else { "fciq" },
        "misc": "",
    });
    let _ = k;
    if let Some(t) = trades {
        v["trades"] = json!(t);
    }
    v
}

/// A trade as "Get Trades History" lists it.
fn trade_json(t: &bw::MyTrade) -> Value {
    json!({
        "ordertxid": txid('O', t.order_id), "postxid": "", "pair": t.symbol,
        "time": Decimal::new(t.time, 3),
        "type": if t.is_buyer { "buy" } else { "sell" }, "ordertype": "limit",
        "price": num(t.price), "cost": num(t.quote_qty), "fee": num(t.commission),
        "vol": num(t.qty), "margin": "0", "misc": "", "trade_id": t.id,
        "maker": t.is_maker,
    })
}

/// Every `/0/...` request.
pub async fn rest(
    State(k): State<Arc<Kraken>>,
    method: Method,
    uri: Uri,
    hdrs: HeaderMap,
    kill: Option<axum::Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let s = k.s.clone();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    let is_new_order = method == Method::POST && path == "/0/private/AddOrder";
    let trading = matches!(name.as_str(), "AddOrder" | "CancelOrder");
    let create_late = s
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .create_late;
    if !create_late.is_zero() && is_new_order {
        tokio::time::sleep(create_late).await;
    }
    let (slow, limited) = {
        let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        let banned = f.ban_left(Instant::now()).is_some();
        (f.slow, banned || Faults::take(&mut f.rate_limited))
    };
    let resp = if limited {
        let e = if trading {
            "EOrder:Rate limit exceeded"
        } else {
            "EAPI:Rate limit exceeded"
        };
        answer(200, Err(err(e)))
    } else {
        let server_error = Faults::take(
            &mut s
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .server_error,
        );
        let r = if server_error && !is_new_order {
            Err(err("EService:Unavailable"))
        } else {
            route(&k, &method, &path, &name, &query, &body, &hdrs)
        };
        let lose = is_new_order && r.is_ok() && {
            let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
            Faults::take(&mut f.lose_response)
        };
        s.publish();
        if lose {
            tracing::info!("fault: order accepted, response lost");
            if let Some(axum::Extension(kc)) = kill {
                kc.0.notify_one();
            }
            std::future::pending::<()>().await;
        }
        if server_error {
            answer(500, Err(err("EService:Unavailable")))
        } else {
            answer(200, r)
        }
    };
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    resp
}

fn route(
    k: &Kraken,
    method: &Method,
    path: &str,
    name: &str,
    query: &str,
    body: &str,
    h: &HeaderMap,
) -> KResult {
    let now_ns = k.s.now_ns();
    let now_ms = now_ns / 1_000_000;
    if path.starts_with("/0/public/") {
        let q: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
        return match name {
            "Time" => Ok(json!({"unixtime": now_ms / 1000, "rfc1123": ""})),
            "AssetPairs" => asset_pairs(k, q.get("pair").map(String::as_str)),
            _ => Err(err("EGeneral:Unknown method")),
        };
    }
    if method != Method::POST || !path.starts_with("/0/private/") {
        return Err(err("EGeneral:Unknown method"));
    }
    let params: BTreeMap<String, String> =
        serde_urlencoded::from_str(body).map_err(|_| err("EGeneral:Invalid arguments"))?;
    k.authenticate(h, path, body, &params, now_ms, name)?;
    let p = |key: &str| {
        params
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    match name {
        "AddOrder" => add_order(k, &params, now_ns),
        "CancelOrder" => cancel_order(k, p("cl_ord_id"), p("txid"), now_ns),
        "CancelAll" => {
            let mut ex = k.s.exchange();
            let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
            let mut n = 0;
            for sym in symbols {
                if let Ok(rs) = ex.cancel_all(&sym, &mut || false, now_ns) {
                    n += rs.len();
                }
            }
            drop(ex);
            k.st().cancel_all += 1;
            Ok(json!({"count": n}))
        }
        "CancelAllOrdersAfter" => {
            let secs: u64 = p("timeout")
                .and_then(|t| t.parse().ok())
                .filter(|t| *t <= CAA_MAX_S)
                .ok_or_else(|| err("EGeneral:Invalid arguments:timeout"))?;
            let trigger = (secs > 0).then(|| now_ms + secs as i64 * 1000);
            k.st().caa_trigger_ms = trigger;
            tracing::info!(secs, "kraken CancelAllOrdersAfter set");
            Ok(json!({
                "currentTime": secs_rfc3339(now_ms),
                "triggerTime": trigger.map(secs_rfc3339).unwrap_or_else(|| "0".into()),
            }))
        }
        "OpenOrders" | "ClosedOrders" => {
            let trades = p("trades") == Some("true");
            let cl = p("cl_ord_id");
            let open = name == "OpenOrders";
            let mut ex = k.s.exchange();
            ex.advance(now_ns);
            let all: Vec<bw::QueriedOrder> = ex.state_json()["orders"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect();
            let mut chosen: Vec<bw::QueriedOrder> = all
                .into_iter()
                .filter(|q| q.status.is_open() == open)
                .filter(|q| cl.is_none_or(|c| q.client_order_id == c))
                .collect();
            chosen.sort_by_key(|q| std::cmp::Reverse(q.order_id));
            if !open {
                chosen.truncate(50);
            }
            let mut m = serde_json::Map::new();
            for q in &chosen {
                let t = trades.then(|| {
                    order_trades(&mut ex, &q.symbol, q.order_id, now_ns)
                        .iter()
                        .map(|t| txid('T', t.id))
                        .collect()
                });
                m.insert(txid('O', q.order_id), order_json(k, q, t));
            }
            let key = if open { "open" } else { "closed" };
            let mut r = json!({ key: Value::Object(m) });
            if !open {
                r["count"] = json!(chosen.len());
            }
            Ok(r)
        }
        "QueryOrders" => {
            let trades = p("trades") == Some("true");
            let ids: Vec<&str> = p("txid")
                .ok_or_else(|| err("EGeneral:Invalid arguments:txid"))?
                .split(',')
                .collect();
            if ids.len() > 50 {
                return Err(err("EGeneral:Invalid arguments:txid"));
            }
            let mut ex = k.s.exchange();
            let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
            let mut m = serde_json::Map::new();
            for id in ids {
                let Some(oid) = txid_no('O', id.trim()) else {
                    return Err(err("EOrder:Invalid order"));
                };
                let found = symbols
                    .iter()
                    .find_map(|s| ex.query(s, Some(oid), None, now_ns).ok());
                let Some(q) = found else {
                    return Err(err("EOrder:Invalid order"));
                };
                let t = trades.then(|| {
                    order_trades(&mut ex, &q.symbol, q.order_id, now_ns)
                        .iter()
                        .map(|t| txid('T', t.id))
                        .collect()
                });
                m.insert(txid('O', oid), order_json(k, &q, t));
            }
            Ok(Value::Object(m))
        }
        "TradesHistory" => {
            let start = p("start").and_then(|s| s.parse::<i64>().ok());
            let end = p("end").and_then(|s| s.parse::<i64>().ok());
            let ofs: usize = p("ofs").and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut ex = k.s.exchange();
            let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
            let mut all = Vec::new();
            for sym in &symbols {
                all.extend(
                    ex.trades_between(sym, 0, now_ms, now_ns)
                        .unwrap_or_default(),
                );
            }
            // `start` exclusive, `end` inclusive, Unix seconds.
            all.retain(|t| {
                start.is_none_or(|s| t.time / 1000 > s) && end.is_none_or(|e| t.time / 1000 <= e)
            });
            all.sort_by_key(|t| std::cmp::Reverse(t.id));
            let count = all.len();
            let mut m = serde_json::Map::new();
            for t in all.iter().skip(ofs).take(50) {
                m.insert(txid('T', t.id), trade_json(t));
            }
            Ok(json!({"trades": Value::Object(m), "count": count}))
        }
        "QueryTrades" => {
            let ids: Vec<u64> = p("txid")
                .ok_or_else(|| err("EGeneral:Invalid arguments:txid"))?
                .split(',')
                .map(|t| {
                    txid_no('T', t.trim()).ok_or_else(|| err("EGeneral:Invalid arguments:txid"))
                })
                .collect::<Result<_, _>>()?;
            if ids.len() > 20 {
                return Err(err("EGeneral:Invalid arguments:txid"));
            }
            let mut ex = k.s.exchange();
            let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
            let mut m = serde_json::Map::new();
            for sym in &symbols {
                for t in ex
                    .trades_between(sym, 0, now_ms, now_ns)
                    .unwrap_or_default()
                {
                    if ids.contains(&t.id) {
                        m.insert(txid('T', t.id), trade_json(&t));
                    }
                }
            }
            Ok(Value::Object(m))
        }
        "Balance" => {
            let acct = k.s.exchange().account(now_ns);
            let m: serde_json::Map<String, Value> = acct
                .balances
                .iter()
                .map(|b| (b.asset.clone(), json!(num(b.free + b.locked))))
                .collect();
            Ok(Value::Object(m))
        }
        "GetWebSocketsToken" => {
            let mut st = k.st();
            st.next_token += 1;
            let token = format!(
                "pitemu{:024x}",
                st.next_token.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            st.tokens.insert(token.clone(), now_ms + 900_000);
            Ok(json!({"token": token, "expires": 900}))
        }
        _ => Err(err(format!(
            "EGeneral:Unknown method (pit emulate kraken: {name} is not emulated)"
        ))),
    }
}

fn asset_pairs(k: &Kraken, pair: Option<&str>) -> KResult {
    let ex = k.s.exchange();
    let mut m = serde_json::Map::new();
    for sp in ex.specs() {
        let ws = format!("{}/{}", sp.base, sp.quote);
        if let Some(p) = pair
            && !p.split(',').any(|x| x == sp.symbol || x == ws)
        {
            continue;
        }
        m.insert(
            sp.symbol.clone(),
            json!({"altname": sp.symbol, "wsname": ws, "aclass_base": "currency",
                   "base": sp.base, "aclass_quote": "currency", "quote": sp.quote,
                   "lot": "unit", "cost_decimals": 5, "pair_decimals": decimals(sp.tick),
                   "lot_decimals": decimals(sp.lot), "lot_multiplier": 1,
                   "ordermin": num(sp.lot), "costmin": num(sp.min_notional),
                   "tick_size": num(sp.tick), "status": "online"}),
        );
    }
    if m.is_empty() {
        return Err(err("EQuery:Unknown asset pair"));
    }
    Ok(Value::Object(m))
}

fn order_trades(
    ex: &mut super::exchange::Exchange,
    symbol: &str,
    order_id: u64,
    now_ns: i64,
) -> Vec<bw::MyTrade> {
    ex.my_trades(
        &bw::MyTradesParams {
            symbol: symbol.to_string(),
            order_id: Some(order_id),
            start_time: None,
            end_time: None,
            from_id: None,
            limit: Some(1000),
        },
        now_ns,
    )
    .unwrap_or_default()
}

fn add_order(k: &Kraken, p: &BTreeMap<String, String>, now_ns: i64) -> KResult {
    let get = |key: &str| p.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let cl = get("cl_ord_id").map(str::to_string);
    if let Some(c) = &cl {
        *k.st().places.entry(c.clone()).or_default() += 1;
        if !valid_cl_ord_id(c) {
            return Err(err("EGeneral:Invalid arguments:cl_ord_id"));
        }
    }
    if get("reduce_only") == Some("true") || get("leverage").is_some_and(|l| l != "none") {
        return Err(err(
            "EGeneral:Invalid arguments (pit emulate kraken keeps a spot account: no margin, no reduce_only)",
        ));
    }
    let symbol = get("pair")
        .and_then(|x| k.symbol_of(x))
        .ok_or_else(|| err("EQuery:Unknown asset pair"))?;
    let side = match get("type") {
        Some("buy") => bw::Side::Buy,
        Some("sell") => bw::Side::Sell,
        _ => return Err(err("EGeneral:Invalid arguments:type")),
    };
    let volume: Decimal = get("volume")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err("EGeneral:Invalid arguments:volume"))?;
    let oflags: BTreeSet<&str> = get("oflags").unwrap_or("").split(',').collect();
    if let Some(f) = oflags
        .iter()
        .find(|f| !f.is_empty() && !["post", "fciq", "fcib", "nompp", "viqc"].contains(f))
    {
        return Err(err(format!("EGeneral:Invalid arguments:oflags ({f})")));
    }
    let tif = get("timeinforce").unwrap_or("GTC");
    let (order_type, time_in_force) = match (get("ordertype"), tif) {
        (Some("market"), _) => (bw::OrderType::Market, None),
        (Some("limit"), "GTC") if oflags.contains("post") => (bw::OrderType::LimitMaker, None),
        (Some("limit"), "GTC") => (bw::OrderType::Limit, Some(bw::TimeInForce::Gtc)),
        (Some("limit"), "IOC") if !oflags.contains("post") => {
            (bw::OrderType::Limit, Some(bw::TimeInForce::Ioc))
        }
        (Some(other), _) => {
            return Err(err(format!(
                "EGeneral:Invalid arguments:ordertype (pit emulate kraken: {other} {tif} is not emulated)"
            )));
        }
        (None, _) => return Err(err("EGeneral:Invalid arguments:ordertype")),
    };
    let price = if order_type == bw::OrderType::Market {
        None
    } else {
        Some(
            get("price")
                .and_then(|v| v.parse::<Decimal>().ok())
                .ok_or_else(|| err("EGeneral:Invalid arguments:price"))?,
        )
    };
    {
        let ex = k.s.exchange();
        if let Some(sp) = ex.specs().iter().find(|sp| sp.symbol == symbol)
            && volume < sp.lot
        {
            return Err(err("EOrder:Order minimum not met"));
        }
    }
    if let Some(c) = &cl {
        let open = k.s.exchange().open_orders(None, now_ns).unwrap_or_default();
        if open.iter().any(|o| &o.client_order_id == c) {
            return Err(err("EOrder:Duplicate cl_ord_id"));
        }
    }
    let params = bw::NewOrderParams {
        symbol,
        side,
        order_type,
        time_in_force,
        quantity: Some(volume),
        quote_order_qty: None,
        price,
        new_client_order_id: cl,
        new_order_resp_type: Some(bw::OrderRespType::Ack),
    };
    let r =
        k.s.exchange()
            .place(params, now_ns)
            .map_err(|(_, e)| err(refusal(&e)))?;
    Ok(
        json!({"descr": {"order": format!("{} {} {}", side_str(side), num(volume), get("pair").unwrap_or(""))},
              "txid": [txid('O', r.order_id)]}),
    )
}

fn cancel_order(k: &Kraken, cl: Option<&str>, tx: Option<&str>, now_ns: i64) -> KResult {
    let oid = match tx {
        Some(t) => Some(txid_no('O', t).ok_or_else(|| err("EOrder:Unknown order"))?),
        None => None,
    };
    if oid.is_none() && cl.is_none() {
        return Err(err("EGeneral:Invalid arguments:txid"));
    }
    let open = k.s.exchange().open_orders(None, now_ns).unwrap_or_default();
    let Some(o) = open
        .iter()
        .find(|o| Some(o.order_id) == oid || cl.is_some_and(|c| o.client_order_id == c))
    else {
        return Err(err("EOrder:Unknown order"));
    };
    let partial = {
        let mut f = k.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        Faults::take(&mut f.partial_fill_on_cancel)
    };
    k.s.exchange()
        .cancel(&o.symbol, Some(o.order_id), None, None, partial, now_ns)
        .map_err(|_| err("EOrder:Unknown order"))?;
    Ok(json!({"count": 1}))
}

/// One countdown check: when it ended unrefreshed, every open order is cancelled and the
/// timer is off.
pub fn caa_check(k: &Kraken) {
    let now_ms = k.s.now_ms();
    let due = {
        let mut st = k.st();
        match st.caa_trigger_ms {
            Some(t) if now_ms >= t => {
                st.caa_trigger_ms = None;
                true
            }
            _ => false,
        }
    };
    if !due {
        return;
    }
    let now_ns = k.s.now_ns();
    let cancelled = {
        let mut ex = k.s.exchange();
        let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
        let mut n = 0u64;
        for sym in symbols {
            if let Ok(rs) = ex.cancel_all(&sym, &mut || false, now_ns) {
                n += rs.len() as u64;
            }
        }
        n
    };
    {
        let mut st = k.st();
        st.caa_fired += 1;
        st.caa_cancelled += cancelled;
    }
    tracing::warn!(
        cancelled,
        "kraken CancelAllOrdersAfter: the countdown ended unrefreshed; every open order cancelled"
    );
    k.s.publish();
}

/// `POST /emulator/kraken/counter` with `CALLS` (e.g. `0`): every key's REST call counter
/// set to CALLS calls, as if it had decayed meanwhile (a test's pause between two runs).
pub async fn set_counter(State(k): State<Arc<Kraken>>, body: String) -> Response {
    let Ok(calls) = body.trim().parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "expected CALLS, a whole number").into_response();
    };
    let now_ms = k.s.now_ms();
    let mut st = k.st();
    for key in k.keys.keys() {
        st.counters.insert(
            key.clone(),
            (calls.saturating_mul(1000).min(COUNTER.0), now_ms),
        );
    }
    tracing::info!(calls, "fault: kraken call counters set");
    (StatusCode::OK, "ok").into_response()
}

/// `GET /emulator/state`: the core's state plus `kraken_cancel_all_after`,
/// `kraken_places`, `kraken_cancel_all` (Cancel All Orders requests carried out) and
/// `kraken_calls` (authenticated private calls per method).
pub async fn state(State(k): State<Arc<Kraken>>) -> Response {
    let now_ns = k.s.now_ns();
    let mut v = {
        let mut ex = k.s.exchange();
        ex.advance(now_ns);
        ex.state_json()
    };
    k.s.publish();
    if let Some(obj) = v.as_object_mut() {
        let f = k.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        obj.insert("faults".into(), f.to_json(Instant::now()));
        let st = k.st();
        obj.insert(
            "kraken_cancel_all_after".into(),
            json!({"armed": st.caa_trigger_ms.is_some(), "trigger_ms": st.caa_trigger_ms,
                   "fired": st.caa_fired, "cancelled": st.caa_cancelled}),
        );
        obj.insert("kraken_places".into(), json!(st.places));
        obj.insert("kraken_cancel_all".into(), json!(st.cancel_all));
        obj.insert("kraken_calls".into(), json!(st.calls));
    }
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

// ---------------------------------------------------------------------------------------
// The public WebSocket v2.

/// Book depths the `book` channel takes.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

#[derive(Default)]
struct PubBook {
    depth: usize,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

/// Kraken's book checksum: CRC32 over the top 10 asks (best first) then the top 10 bids
/// (best first), each price then qty written at the pair's decimals, the point and the
/// leading zeros removed.
pub fn book_checksum(
    asks: &[(Decimal, Decimal)],
    bids: &[(Decimal, Decimal)],
    price_dp: u32,
    qty_dp: u32,
) -> u32 {
    let mut text = String::new();
    let strip = |d: Decimal, dp: u32| {
        let t: String = fixed(d, dp).chars().filter(|c| *c != '.').collect();
        let t = t.trim_start_matches('0');
        if t.is_empty() {
            "0".to_string()
        } else {
            t.to_string()
        }
    };
    for (p, q) in asks.iter().take(10).chain(bids.iter().take(10)) {
        let _ = write!(text, "{}{}", strip(*p, price_dp), strip(*q, qty_dp));
    }
    crc32fast::hash(text.as_bytes())
}

/// `GET /ws/v2`.
pub async fn public(State(k): State<Arc<Kraken>>, up: WebSocketUpgrade) -> Response {
    up.on_upgrade(move |socket| public_loop(k, socket))
}

async fn public_loop(k: Arc<Kraken>, mut socket: WebSocket) {
    let mut rx = k.s.market_tx.subscribe();
    let mut books: BTreeMap<String, PubBook> = BTreeMap::new();
    let mut trades: BTreeSet<String> = BTreeSet::new();
    let mut beat = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let out: Vec<String> = tokio::select! {
            _ = beat.tick() => if books.is_empty() && trades.is_empty() {
                vec![]
            } else {
                vec![r#"{"channel":"heartbeat"}"#.to_string()]
            },
            f = rx.recv() => match f {
                Ok(f) => public_frames(&k, &f.0, &f.1, &mut books, &trades),
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => public_op(&k, t.as_str(), &mut books, &mut trades),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => continue,
            },
        };
        for text in out {
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    }
}

fn pong(v: &Value, now_ms: i64) -> String {
    let mut r = json!({"method": "pong", "time_in": rfc3339(now_ms), "time_out": rfc3339(now_ms)});
    if let Some(id) = v.get("req_id") {
        r["req_id"] = id.clone();
    }
    r.to_string()
}

fn public_op(
    k: &Kraken,
    text: &str,
    books: &mut BTreeMap<String, PubBook>,
    trades: &mut BTreeSet<String>,
) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![json!({"error": "EGeneral:Invalid arguments", "success": false}).to_string()];
    };
    let now_ms = k.s.now_ms();
    let method = v["method"].as_str().unwrap_or("");
    if method == "ping" {
        return vec![pong(&v, now_ms)];
    }
    let params = &v["params"];
    let channel = params["channel"].as_str().unwrap_or("");
    let mut out = Vec::new();
    for sym in params["symbol"].as_array().cloned().unwrap_or_default() {
        let ws = sym.as_str().unwrap_or("").to_string();
        let Some(core) = k.symbol_of(&ws) else {
            out.push(
                json!({"method": method, "success": false,
                       "error": format!("Currency pair not supported {ws}"), "symbol": ws})
                .to_string(),
            );
            continue;
        };
        match (method, channel) {
            ("subscribe", "book") => {
                let depth = params["depth"].as_u64().unwrap_or(10) as usize;
                if !DEPTHS.contains(&depth) {
                    out.push(json!({"method": method, "success": false,
                                    "error": "EGeneral:Invalid arguments:depth"}).to_string());
                    continue;
                }
                out.push(
                    json!({"method": "subscribe", "result": {"channel": "book", "depth": depth,
                           "snapshot": true, "symbol": ws}, "success": true,
                           "time_in": rfc3339(now_ms), "time_out": rfc3339(now_ms)})
                    .to_string(),
                );
                let mut b = PubBook {
                    depth,
                    ..PubBook::default()
                };
                if let Some(m) = book_message(k, &core, &mut b, true) {
                    out.push(m);
                }
                books.insert(core, b);
            }
            ("unsubscribe", "book") => {
                books.remove(&core);
                out.push(json!({"method": "unsubscribe", "result": {"channel": "book", "symbol": ws},
                                "success": true}).to_string());
            }
            ("subscribe", "trade") => {
                trades.insert(core);
                out.push(json!({"method": "subscribe", "result": {"channel": "trade", "symbol": ws},
                                "success": true}).to_string());
            }
            ("unsubscribe", "trade") => {
                trades.remove(&core);
            }
            _ => out.push(
                json!({"method": method, "success": false,
                       "error": format!("EGeneral:Invalid arguments (pit emulate kraken: channel {channel})")})
                .to_string(),
            ),
        }
    }
    out
}

/// The book's message now: a snapshot, or the levels changed since `b` (`None` when
/// none did). Numbers are written as JSON numbers at the pair's decimals.
fn book_message(k: &Kraken, symbol: &str, b: &mut PubBook, snapshot: bool) -> Option<String> {
    let d = k.s.exchange().depth(symbol, b.depth).ok()?;
    let (pdp, qdp) = k.decimals_of(symbol);
    let side = |l: &[[Decimal; 2]]| -> BTreeMap<Decimal, Decimal> {
        l.iter()
            .map(|[p, q]| (p.normalize(), q.normalize()))
            .collect()
    };
    let (bids, asks) = (side(&d.bids), side(&d.asks));
    let diff = |old: &BTreeMap<Decimal, Decimal>, new: &BTreeMap<Decimal, Decimal>, rev: bool| {
        let mut ch: Vec<(Decimal, Decimal)> = Vec::new();
        for (p, q) in new {
            if snapshot || old.get(p) != Some(q) {
                ch.push((*p, *q));
            }
        }
        if !snapshot {
            for p in old.keys().filter(|p| !new.contains_key(*p)) {
                ch.push((*p, Decimal::ZERO));
            }
        }
        ch.sort_by_key(|x| x.0);
        if rev {
            ch.reverse();
        }
        ch
    };
    let bch = diff(&b.bids, &bids, true);
    let ach = diff(&b.asks, &asks, false);
    if !snapshot && bch.is_empty() && ach.is_empty() {
        return None;
    }
    let top_asks: Vec<(Decimal, Decimal)> = asks.iter().map(|(p, q)| (*p, *q)).collect();
    let top_bids: Vec<(Decimal, Decimal)> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
    let checksum = book_checksum(&top_asks, &top_bids, pdp, qdp);
    b.bids = bids;
    b.asks = asks;
    let levels = |l: &[(Decimal, Decimal)]| {
        let parts: Vec<String> = l
            .iter()
            .map(|(p, q)| format!(r#"{{"price":{},"qty":{}}}"#, fixed(*p, pdp), fixed(*q, qdp)))
            .collect();
        format!("[{}]", parts.join(","))
    };
    Some(format!(
        r#"{{"channel":"book","type":"{}","data":[{{"symbol":"{}","bids":{},"asks":{},"checksum":{},"timestamp":"{}"}}]}}"#,
        if snapshot { "snapshot" } else { "update" },
        k.ws_symbol(symbol),
        levels(&bch),
        levels(&ach),
        checksum,
        rfc3339(k.s.now_ms())
    ))
}

/// The core's market frames as this connection's Kraken messages.
fn public_frames(
    k: &Kraken,
    stream: &str,
    text: &str,
    books: &mut BTreeMap<String, PubBook>,
    trades: &BTreeSet<String>,
) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![];
    };
    let d = &v["data"];
    let sym = d["s"].as_str().unwrap_or("").to_string();
    if stream.ends_with("@depth@100ms") {
        let Some(b) = books.get_mut(&sym) else {
            return vec![];
        };
        book_message(k, &sym, b, false).into_iter().collect()
    } else if stream.ends_with("@trade") && trades.contains(&sym) {
        let side = if d["m"].as_bool().unwrap_or(false) {
            "sell"
        } else {
            "buy"
        };
        let (pdp, qdp) = k.decimals_of(&sym);
        let dn = |key: &str| {
            d[key]
                .as_str()
                .and_then(|x| x.parse::<Decimal>().ok())
                .unwrap_or_default()
        };
        vec![format!(
            r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{}","side":"{side}","price":{},"qty":{},"ord_type":"limit","trade_id":{},"timestamp":"{}"}}]}}"#,
            k.ws_symbol(&sym),
            fixed(dn("p"), pdp),
            fixed(dn("q"), qdp),
            d["t"],
            rfc3339(d["T"].as_i64().unwrap_or(0))
        )]
    } else {
        vec![]
    }
}

// ---------------------------------------------------------------------------------------
// The authenticated WebSocket v2: `executions`.

/// `GET /ws-auth/v2`.
pub async fn private(State(k): State<Arc<Kraken>>, up: WebSocketUpgrade) -> Response {
    up.on_upgrade(move |socket| private_loop(k, socket))
}

async fn private_loop(k: Arc<Kraken>, mut socket: WebSocket) {
    let mut events = k.s.user_tx.subscribe();
    let mut dropper = k.s.drop_tx.subscribe();
    let mut subscribed = false;
    let mut beat = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let out: Vec<String> = tokio::select! {
            _ = dropper.recv() => break,
            _ = beat.tick() => if subscribed {
                vec![r#"{"channel":"heartbeat"}"#.to_string()]
            } else {
                vec![]
            },
            ev = events.recv() => match ev {
                Ok(e) => {
                    let bw::UserEvent::ExecutionReport(r) = &*e else { continue };
                    if !subscribed {
                        continue;
                    }
                    execution(&k, r)
                        .map(|item| format!(r#"{{"channel":"executions","type":"update","data":[{item}]}}"#))
                        .into_iter()
                        .collect()
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => private_op(&k, &mut subscribed, t.as_str()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => continue,
            },
        };
        for text in out {
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    }
}

fn private_op(k: &Kraken, subscribed: &mut bool, text: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![json!({"error": "EGeneral:Invalid arguments", "success": false}).to_string()];
    };
    let now_ms = k.s.now_ms();
    let method = v["method"].as_str().unwrap_or("");
    if method == "ping" {
        return vec![pong(&v, now_ms)];
    }
    let params = &v["params"];
    let fail = |e: &str| {
        let mut r = json!({"method": method, "success": false, "error": e,
                           "time_in": rfc3339(now_ms), "time_out": rfc3339(now_ms)});
        if let Some(id) = v.get("req_id") {
            r["req_id"] = id.clone();
        }
        vec![r.to_string()]
    };
    if method != "subscribe" && method != "unsubscribe" {
        return fail(
            "EGeneral:Invalid arguments (pit emulate kraken: subscribe, unsubscribe, ping)",
        );
    }
    if params["channel"] != "executions" {
        return fail("EGeneral:Invalid arguments (pit emulate kraken: the executions channel)");
    }
    let token = params["token"].as_str().unwrap_or("");
    let valid = k.st().tokens.get(token).is_some_and(|exp| *exp > now_ms);
    if !valid {
        return fail("EAccount:Invalid permissions");
    }
    if method == "unsubscribe" {
        *subscribed = false;
        return vec![
            json!({"method": "unsubscribe", "result": {"channel": "executions"},
                           "success": true})
            .to_string(),
        ];
    }
    let snap_orders = params["snap_orders"].as_bool().unwrap_or(true);
    let snap_trades = params["snap_trades"].as_bool().unwrap_or(false);
    let mut out = vec![{
        let mut r = json!({"method": "subscribe", "result": {"channel": "executions",
                           "snap_orders": snap_orders, "snap_trades": snap_trades},
                           "success": true, "time_in": rfc3339(now_ms), "time_out": rfc3339(now_ms)});
        if let Some(id) = v.get("req_id") {
            r["req_id"] = id.clone();
        }
        r.to_string()
    }];
    *subscribed = true;
    let now_ns = k.s.now_ns();
    let mut items: Vec<String> = Vec::new();
    // Read under the core's lock, written after it (the helpers below lock it again).
    let (open, trades) = {
        let mut ex = k.s.exchange();
        let open = if snap_orders {
            ex.open_orders(None, now_ns).unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut all = Vec::new();
        if snap_trades {
            let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
            for s in &symbols {
                all.extend(ex.trades_between(s, 0, now_ms, now_ns).unwrap_or_default());
            }
            all.sort_by_key(|t| std::cmp::Reverse(t.id));
            all.truncate(50);
        }
        (open, all)
    };
    for q in open {
        let (pdp, qdp) = k.decimals_of(&q.symbol);
        items.push(format!(
            r#"{{"order_id":"{}","cl_ord_id":{},"symbol":"{}","side":"{}","order_type":"{}","order_qty":{},"limit_price":{},"order_status":"{}","exec_type":"new","cum_qty":{},"timestamp":"{}"}}"#,
            txid('O', q.order_id),
            json!(q.client_order_id),
            k.ws_symbol(&q.symbol),
            side_str(q.side),
            if q.order_type == bw::OrderType::Market { "market" } else { "limit" },
            fixed(q.orig_qty, qdp),
            fixed(q.price, pdp),
            if q.executed_qty > Decimal::ZERO { "partially_filled" } else { "new" },
            fixed(q.executed_qty, qdp),
            rfc3339(q.update_time),
        ));
    }
    for t in trades {
        let cl = k.cl_of(&t.symbol, t.order_id, now_ns);
        let (pdp, qdp) = k.decimals_of(&t.symbol);
        items.push(format!(
            r#"{{"order_id":"{}","cl_ord_id":{},"symbol":"{}","side":"{}","exec_type":"trade","exec_id":"{}","trade_id":{},"last_qty":{},"last_price":{},"liquidity_ind":"{}","fees":[{{"asset":"{}","qty":{}}}],"order_status":"partially_filled","timestamp":"{}"}}"#,
            txid('O', t.order_id),
            json!(cl),
            k.ws_symbol(&t.symbol),
            if t.is_buyer { "buy" } else { "sell" },
            txid('T', t.id),
            t.id,
            fixed(t.qty, qdp),
            fixed(t.price, pdp),
            if t.is_maker { "m" } else { "t" },
            t.commission_asset,
            num(t.commission),
            rfc3339(t.time),
        ));
    }
    out.push(format!(
        r#"{{"channel":"executions","type":"snapshot","data":[{}],"sequence":1}}"#,
        items.join(",")
    ));
    out
}

/// A core execution report as one `executions` item (JSON text; `None` for a report
/// Kraken would not stream, a refusal).
fn execution(k: &Kraken, r: &bw::ExecutionReport) -> Option<String> {
    use bw::ExecutionType as E;
    use bw::OrderStatus as S;
    let exec_type = match r.execution_type {
        E::New => "new",
        E::Trade => "trade",
        E::Canceled => "canceled",
        E::Expired | E::TradePrevention => "expired",
        E::Rejected | E::Replaced => return None,
    };
    let status = match r.order_status {
        S::New | S::PendingNew | S::PendingCancel => "new",
        S::PartiallyFilled => "partially_filled",
        S::Filled => "filled",
        S::Canceled | S::Rejected => "canceled",
        S::Expired | S::ExpiredInMatch => "expired",
    };
    let cl = if r.orig_client_order_id.is_empty() {
        r.client_order_id.clone()
    } else {
        r.orig_client_order_id.clone()
    };
    let (pdp, qdp) = k.decimals_of(&r.symbol);
    let mut item = format!(
        r#"{{"order_id":"{}","cl_ord_id":{},"symbol":"{}","side":"{}","order_qty":{},"order_status":"{}","exec_type":"{}","cum_qty":{},"timestamp":"{}""#,
        txid('O', r.order_id),
        json!(cl),
        k.ws_symbol(&r.symbol),
        side_str(r.side),
        fixed(r.quantity, qdp),
        status,
        exec_type,
        fixed(r.cumulative_qty, qdp),
        rfc3339(r.transaction_time),
    );
    if r.execution_type == E::Trade {
        let _ = write!(
            item,
            r#","exec_id":"{}","trade_id":{},"last_qty":{},"last_price":{},"liquidity_ind":"{}","fees":[{{"asset":"{}","qty":{}}}]"#,
            txid('T', r.trade_id.max(0) as u64),
            r.trade_id,
            fixed(r.last_qty, qdp),
            fixed(r.last_price, pdp),
            if r.is_maker { "m" } else { "t" },
            r.commission_asset.clone().unwrap_or_default(),
            num(r.commission),
        );
    }
    item.push('}');
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn client_order_ids_follow_the_guide() {
        assert!(valid_cl_ord_id("6d1b345e-2821-40e2-ad83-4ecb18a06876"));
        assert!(valid_cl_ord_id("da8e4ad59b78481c93e589746b0cf91f"));
        assert!(valid_cl_ord_id("arb-20240509-00010"));
        assert!(
            !valid_cl_ord_id("arb-20240509-000101"),
            "19 characters of free text"
        );
        assert!(!valid_cl_ord_id(""));
        assert!(!valid_cl_ord_id("with space"));
    }

    #[test]
    fn ids_are_spelled_and_read_back() {
        assert_eq!(txid('O', 42), "O00000-PITEM-000042");
        assert_eq!(txid_no('O', &txid('O', 1_234_567)), Some(1_234_567));
        assert_eq!(txid_no('T', "O00000-PITEM-000042"), None);
    }

    #[test]
    fn the_book_checksum_is_the_guides() {
        // "Book checksum (WebSocket v2)"'s worked example (top 10 each side), checksum
        // 3310070434, as pit's decoder checks it (`venue/exchanges/kraken`).
        let l = |v: &[(&str, &str)]| -> Vec<(Decimal, Decimal)> {
            v.iter()
                .map(|(p, q)| (p.parse().unwrap(), q.parse().unwrap()))
                .collect()
        };
        let bids = l(&[
            ("45283.5", "0.1"),
            ("45283.4", "1.54582015"),
            ("45282.1", "0.1"),
            ("45281.0", "0.1"),
            ("45280.3", "1.54592586"),
            ("45279.0", "0.0799"),
            ("45277.6", "0.03310103"),
            ("45277.5", "0.3"),
            ("45277.3", "1.54602737"),
            ("45276.6", "0.15445238"),
        ]);
        let asks = l(&[
            ("45285.2", "0.001"),
            ("45286.4", "1.54571953"),
            ("45286.6", "1.54571109"),
            ("45289.6", "1.54560911"),
            ("45290.2", "0.1589066"),
            ("45291.8", "1.54553491"),
            ("45294.7", "0.04454749"),
            ("45296.1", "0.3538"),
            ("45297.5", "0.09945542"),
            ("45299.5", "0.18772827"),
        ]);
        assert_eq!(book_checksum(&asks, &bids, 1, 8), 3310070434);
    }
}
