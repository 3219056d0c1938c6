//! `pit emulate okx`: an OKX v5 front-end on the emulator's exchange core (the same
//! simulated market, paper fill model, balances and faults as `pit emulate binance` and
//! `pit emulate bybit`; see [`super::exchange`]), for instType SPOT in trade mode `cash`
//! and SWAP (`BTC-USDT-SWAP`, `cross`, net positions),
//! verified with pit's own OKX signer (`venue::exchanges::okx::api::sign`).
//!
//! Rules, from OKX's API v5 docs (<https://www.okx.com/docs-v5/en/>; section names below):
//!
//! * "REST Authentication" > "Making Requests" / "Signature": every private request carries
//!   `OK-ACCESS-KEY`, `OK-ACCESS-SIGN` (base64 HMAC-SHA256 of timestamp + METHOD +
//!   requestPath (with the query, for GET) + body), `OK-ACCESS-TIMESTAMP` (ISO 8601 UTC with
//!   milliseconds) and `OK-ACCESS-PASSPHRASE`. Refusals, with the "Error Code" > "REST API" >
//!   "Public" > "API Class" codes and HTTP statuses: 50103/50104/50106/50107 (a header
//!   missing), 50111 "Invalid OK-ACCESS-KEY.", 50105 "Request header
//!   \"OK-ACCESS-PASSPHRASE\" incorrect.", 50112 "Invalid OK-ACCESS-TIMESTAMP.", 50102
//!   "Timestamp request expired.", 50113 "Invalid signature." (all HTTP 401).
//! * The timestamp window: OKX's "WebSocket" > "Login" says "The request will expire 30
//!   seconds after the timestamp"; the REST page names the code (50102) but no window, so
//!   the emulator holds REST to the same 30 s, both ways (a clock 30 s ahead is as wrong).
//! * "Transaction Timeouts" > "REST API": an `expTime` header (Unix ms) on Place order:
//!   "the request will not be processed if the current system time of the server is after
//!   the expTime" — answered 50036 "The expTime can't be earlier than the current system
//!   time." (nothing placed).
//! * The envelope `{"code":"0","msg":"","data":[...]}`; an order endpoint's per-order
//!   result is `sCode`/`sMsg` in `data`, and when it fails the envelope says
//!   `"code":"1"` "Operation failed." ("Error Code" > "General Class").
//! * "Place order" (`POST /api/v5/trade/order`): `instId`, `tdMode` (`cash` here), `side`,
//!   `ordType` `limit` / `market` / `post_only` / `ioc` (`fok` is not emulated), `sz`, `px`
//!   (for limit, post_only, ioc), `clOrdId` ("A combination of case-sensitive
//!   alphanumerics, all numbers, or all letters of up to 32 characters"; "must be unique
//!   among the clOrdIds of all pending orders": else 51016 "Client order ID already
//!   exists."), `tgtCcy` (SPOT market orders: a buy's `sz` is in the quote currency by
//!   default; the emulator takes market buys by base only, `tgtCcy=base_ccy`, and says so).
//!   Funds short: 51008; below the minimum: 51020; size off the lot: 51121; an unknown
//!   instrument: 51001.
//! * "Cancel order" (`POST /api/v5/trade/cancel-order`): by `ordId` or `clOrdId` (neither:
//!   51000); gone or never there: 51400 "Order cancellation failed as the order has been
//!   filled, canceled or does not exist."
//! * "Get order details" (`GET /api/v5/trade/order`): by `ordId` or `clOrdId`; none: 51603
//!   "Order does not exist.". States `live`, `partially_filled`, `filled`, `canceled`.
//! * "Get order List" (`GET /api/v5/trade/orders-pending`): the open orders.
//! * "Get transaction details (last 3 days)" (`GET /api/v5/trade/fills`): newest first;
//!   `after` ("records earlier than the requested billId"), `before` ("records newer than
//!   the requested billId"), `begin` / `end` (ms), `limit` ("The maximum is 100; The
//!   default is 100"); only the last 3 days. Here a fill's `billId` and `tradeId` are the
//!   core's trade id; `fee` is negative when charged.
//! * "Get balance" (`GET /api/v5/account/balance`): `details` per currency (`cashBal`,
//!   `availBal`, `frozenBal`, `eq`); no USD valuations (`totalEq` is left empty).
//! * "Get instruments" (`GET /api/v5/public/instruments`, instType SPOT): `tickSz`,
//!   `lotSz`, `minSz` (the lot: the core's only other minimum is a 5 USDT order value,
//!   refused with 51020) from the emulator's instrument specs; "Get system time".
//! * "Cancel All After" (`POST /api/v5/trade/cancel-all-after`): "The countdown for order
//!   cancellation, with second as the unit. Range of value can be 0, [10, 120]. Setting
//!   timeOut to 0 disables Cancel All After." The answer's `triggerTime` and `ts` are in
//!   seconds as the page's example shows (`"triggerTime":"1587971460"`, `"ts":"1587971400"`),
//!   `triggerTime` "0" when disabled. When the countdown ends unrefreshed every pending
//!   order of the account is cancelled, once; it stays off until set again. Tag-level
//!   timers (`tag`) are not emulated (refused, 51000).
//! * "Rate Limits": per endpoint, as the pages say (Place order, Cancel order, Get order
//!   details, Get order List: 60 requests per 2 seconds; Get transaction details: 60 / 2 s;
//!   Get balance: 10 / 2 s; Get instruments: 20 / 2 s; Get system time: 10 / 2 s; Cancel All
//!   After: 1 / s); over it, HTTP 429 with 50011 "Too Many Requests".
//!
//! * The private WebSocket `/ws/v5/private` ("WebSocket" > "Login", "WS / Order channel"):
//!   `login` with `apiKey`, `passphrase`, `timestamp` (Unix seconds) and `sign` =
//!   base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify")), "The request
//!   will expire 30 seconds after the timestamp"; refusals in the WebSocket codes (60005
//!   "Invalid apiKey", 60024 "Wrong passphrase", 60004, 60006 "Timestamp request expired",
//!   60007 "Invalid sign"); `subscribe` to `orders` (instType SPOT or ANY, an optional
//!   `instId`; before login 60011 "Please log in"); "Data will not be pushed when first
//!   subscribed", then every order update: the order's fields, and for a fill `fillPx`,
//!   `fillSz`, `tradeId`, `fillFee`/`fillFeeCcy` (negative when charged), `fillTime`,
//!   `execType`, with `fee` the order's fees so far. A text `ping` is answered `pong`.
//!
//! * instType SWAP: `BTC-USDT-SWAP`, a linear perpetual in net position mode. "Get
//!   instruments" SWAP: `ctVal` ("Contract value", 0.01), `ctValCcy` BTC, `ctType`
//!   linear, `settleCcy` USDT, `lotSz` and `minSz` in contracts ("If it is a derivatives
//!   contract, the value is the number of contracts"). "Place order": `tdMode` `cross`
//!   ("Margin mode cross isolated; Non-Margin mode cash"; isolated is not emulated), `sz`
//!   in contracts, `reduceOnly` ("Whether orders can only reduce in position size. Valid
//!   options: true or false. The default value is false. Only applicable to MARGIN
//!   orders, and FUTURES/SWAP orders in net mode": refused on a cash spot order, 51000);
//!   a reduce-only order with no position on the other side is refused 51169 ("Order
//!   failed because you don't have any positions in this direction for this contract to
//!   reduce or close."); one that with the other open reduce-only orders of its side
//!   would outgrow the position is refused too (OKX may amend such orders instead: not
//!   emulated). "Get positions" (`GET /api/v5/account/positions`, 10 / 2 s): the net
//!   position, `pos` signed in contracts, `posSide` net, `avgPx`; "WS / Positions
//!   channel": a snapshot on subscribing, then a push when a fill moves the position.
//!   Fees and realized PnL in USDT; the account is 1x (an open order locks its notional,
//!   a reduce-only one nothing; no margin held for a position, no funding, no
//!   liquidation).
//!
//! Faults (`--faults`, `POST /emulator/faults`, see `faults.rs`) in OKX's words: `429=N` and
//! `418=S` → HTTP 429, 50011; `5xx=N` → HTTP 500, 50026 "System error. Try again later" (a
//! new order among them is placed first, as any venue's timeout can hide; any other
//! request, a cancel too, is not carried out);
//! `lose-response=N` (a new order placed, the connection closed without an answer);
//! `slow=`, `create-late=`, `partial-fill-on-cancel=N`, `clock=`, `deposit=`/`withdraw=`,
//! `drop-user-stream` (the private WebSocket connections are dropped).
//!
//! Divergences, named: `fok` is refused; a `post_only` order that would take is refused
//! (sCode 51000) where OKX accepts and then cancels it; market buys need
//! `tgtCcy=base_ccy`; `tdMode` other than `cash` is refused (51000).

use super::exchange::Refusal;
use super::faults::Faults;
use super::shared::{ConnKill, Shared};
use crate::venue::exchanges::binance::api::errors::{code as bcode, msg as bmsg};
use crate::venue::exchanges::binance::api::wire as bw;
use crate::venue::exchanges::okx::api::sign::{Method as SignMethod, Signer};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// OKX's codes used here ("Error Code" > "REST API" > "Public").
pub mod code {
    pub const OK: i64 = 0;
    /// "Operation failed." (an order endpoint's request whose order failed: see `sCode`).
    pub const OPERATION_FAILED: i64 = 1;
    pub const RATE_LIMIT: i64 = 50011;
    /// "API endpoint is inactive or unavailable." (HTTP 410): a path not emulated.
    pub const ENDPOINT_UNAVAILABLE: i64 = 50005;
    pub const SYSTEM_ERROR: i64 = 50026;
    pub const EXP_TIME: i64 = 50036;
    pub const TIMESTAMP_EXPIRED: i64 = 50102;
    pub const KEY_EMPTY: i64 = 50103;
    pub const PASSPHRASE_EMPTY: i64 = 50104;
    pub const PASSPHRASE_WRONG: i64 = 50105;
    pub const SIGN_EMPTY: i64 = 50106;
    pub const TIMESTAMP_EMPTY: i64 = 50107;
    pub const INVALID_KEY: i64 = 50111;
    pub const INVALID_TIMESTAMP: i64 = 50112;
    pub const INVALID_SIGN: i64 = 50113;
    pub const PARAM_ERROR: i64 = 51000;
    pub const NO_INSTRUMENT: i64 = 51001;
    pub const INSUFFICIENT: i64 = 51008;
    pub const DUPLICATE_CL_ORD_ID: i64 = 51016;
    pub const MIN_AMOUNT: i64 = 51020;
    pub const LOT: i64 = 51121;
    /// "Order failed because you don't have any positions in this direction for this
    /// contract to reduce or close." (a reduce-only order with nothing to reduce).
    pub const REDUCE_ONLY: i64 = 51169;
    pub const CANCEL_FAILED: i64 = 51400;
    pub const ORDER_NOT_EXIST: i64 = 51603;
}

/// BTC-USDT-SWAP's contract value ("Get instruments" `ctVal`, "Contract value"): one
/// contract is 0.01 BTC (`ctValCcy`), as OKX lists it.
pub const SWAP_CT_VAL: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Its lot and minimum (`lotSz`, `minSz`), in contracts: whole contracts here.
pub const SWAP_LOT_SZ: Decimal = Decimal::ONE;

/// "WebSocket" > "Login": "The request will expire 30 seconds after the timestamp".
pub const TIMESTAMP_WINDOW_MS: i64 = 30_000;

/// "Cancel All After": "Range of value can be 0, [10, 120]".
pub const CAA_MIN_S: u64 = 10;
pub const CAA_MAX_S: u64 = 120;

/// The OKX front-end's state, next to the shared core.
pub struct Okx {
    pub s: Arc<Shared>,
    keys: BTreeMap<String, Signer>,
    st: Mutex<OState>,
    next_conn: AtomicU64,
    /// A position moved without a trade (`POST /emulator/okx/position`): the private
    /// connections push their `positions` again.
    pos_tx: tokio::sync::broadcast::Sender<()>,
}

#[derive(Default)]
struct OState {
    /// Request times (ms) per endpoint, the last 2 seconds.
    hits: BTreeMap<String, VecDeque<i64>>,
    /// Orders placed without a `clOrdId` (the core names them; OKX lists "").
    anonymous: BTreeSet<u64>,
    /// Cancel All After: when it fires (server ms), if armed.
    caa_trigger_ms: Option<i64>,
    /// How many times it fired, and how many orders it cancelled in all.
    caa_fired: u64,
    caa_cancelled: u64,
    /// "Place order" requests received per `clOrdId` (accepted or not): a client that
    /// sends an order twice shows here even when the first one is no longer pending (OKX
    /// refuses a taken `clOrdId` only among pending orders).
    places: BTreeMap<String, u64>,
    /// The `reduceOnly` of every "Place order" request that carried one, per `clOrdId`
    /// (as received: what the client sent, accepted or not).
    reduce_only_sent: BTreeMap<String, bool>,
    /// The account's position mode ("Get account configuration" `posMode`): `net_mode`
    /// unless set (`POST /emulator/okx/position-mode`).
    long_short_mode: bool,
}

/// An answer of an OKX handler: HTTP status, code, msg, data.
struct Answer {
    status: u16,
    code: i64,
    msg: String,
    data: Value,
}

impl Answer {
    fn ok(data: Value) -> Answer {
        Answer {
            status: 200,
            code: code::OK,
            msg: String::new(),
            data,
        }
    }
    fn err(status: u16, code: i64, msg: impl Into<String>) -> Answer {
        Answer {
            status,
            code,
            msg: msg.into(),
            data: json!([]),
        }
    }
    /// An order endpoint's failed order: `code` "1", the order's `sCode`/`sMsg` in data.
    fn order_failed(
        cl_ord_id: &str,
        ord_id: &str,
        s_code: i64,
        s_msg: impl Into<String>,
    ) -> Answer {
        Answer {
            status: 200,
            code: code::OPERATION_FAILED,
            msg: "Operation failed.".into(),
            data: json!([{"clOrdId": cl_ord_id, "ordId": ord_id, "tag": "",
                          "sCode": s_code.to_string(), "sMsg": s_msg.into()}]),
        }
    }
    fn into_response(self) -> Response {
        let body = json!({"code": self.code.to_string(), "msg": self.msg, "data": self.data});
        let mut r = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.to_string(),
        )
            .into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

type OResult = Result<Value, Answer>;

fn param_error(name: &str, why: &str) -> Answer {
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" (pit emulate: {why})")
    };
    Answer::err(
        200,
        code::PARAM_ERROR,
        format!("Parameter {name} error{why}"),
    )
}

/// The per-2-second limit of an endpoint ("Rate Limit" of each page); Cancel All After's
/// "1 request per second" is 2 per 2 s counted per second (see [`Okx::count`]).
fn limit_of(path: &str) -> (u64, i64) {
    match path {
        "/api/v5/trade/cancel-all-after" => (1, 1000),
        "/api/v5/account/balance" | "/api/v5/account/positions" | "/api/v5/public/time" => {
            (10, 2000)
        }
        "/api/v5/public/instruments" => (20, 2000),
        "/api/v5/account/config" => (5, 2000),
        _ => (60, 2000),
    }
}

/// `clOrdId`: "A combination of case-sensitive alphanumerics, all numbers, or all letters
/// of up to 32 characters."
pub fn valid_cl_ord_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `OK-ACCESS-TIMESTAMP` as Unix ms: ISO 8601 UTC with milliseconds
/// (`2020-12-08T09:08:57.715Z`).
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaceReq {
    inst_id: String,
    td_mode: String,
    side: String,
    ord_type: String,
    sz: String,
    #[serde(default)]
    px: Option<String>,
    #[serde(default)]
    cl_ord_id: Option<String>,
    #[serde(default)]
    tgt_ccy: Option<String>,
    /// "Whether orders can only reduce in position size. [...] Only applicable to MARGIN
    /// orders, and FUTURES/SWAP orders in net mode" ("Place order").
    #[serde(default)]
    reduce_only: Option<bool>,
    /// "Position side: The default is `net` in the net mode. It is required in the
    /// long/short mode, and can only be `long` or `short`. Only applicable to
    /// FUTURES/SWAP." ("Place order").
    #[serde(default)]
    pos_side: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionsQ {
    #[serde(default)]
    inst_type: Option<String>,
    #[serde(default)]
    inst_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelReq {
    inst_id: String,
    #[serde(default)]
    ord_id: Option<String>,
    #[serde(default)]
    cl_ord_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderQ {
    inst_id: String,
    #[serde(default)]
    ord_id: Option<String>,
    #[serde(default)]
    cl_ord_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingQ {
    #[serde(default)]
    inst_type: Option<String>,
    #[serde(default)]
    inst_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillsQ {
    #[serde(default)]
    inst_type: Option<String>,
    #[serde(default)]
    inst_id: Option<String>,
    #[serde(default)]
    ord_id: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    begin: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstQ {
    inst_type: String,
    #[serde(default)]
    inst_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceQ {
    #[serde(default)]
    ccy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaaReq {
    time_out: String,
    #[serde(default)]
    tag: Option<String>,
}

/// "Get transaction details (last 3 days)".
const FILLS_WINDOW_MS: i64 = 3 * 86_400_000;

impl Okx {
    pub fn new(s: Arc<Shared>, keys: BTreeMap<String, Signer>) -> Okx {
        Okx {
            s,
            keys,
            st: Mutex::new(OState::default()),
            next_conn: AtomicU64::new(1),
            pos_tx: tokio::sync::broadcast::channel(64).0,
        }
    }

    fn st(&self) -> MutexGuard<'_, OState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request; false when the endpoint is over its limit.
    fn count(&self, path: &str, now_ms: i64) -> bool {
        let (limit, window) = limit_of(path);
        let mut st = self.st();
        let q = st.hits.entry(path.to_string()).or_default();
        while q.front().is_some_and(|t| *t <= now_ms - window) {
            q.pop_front();
        }
        if q.len() as u64 >= limit {
            return false;
        }
        q.push_back(now_ms);
        true
    }

    /// "REST Authentication": the headers, the key, the passphrase, the timestamp, the sign.
    fn authenticate(
        &self,
        h: &HeaderMap,
        method: SignMethod,
        request_path: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), Answer> {
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let Some(key) = get("OK-ACCESS-KEY") else {
            return Err(Answer::err(
                401,
                code::KEY_EMPTY,
                "Request header \"OK-ACCESS-KEY\" cannot be empty.",
            ));
        };
        let Some(sign) = get("OK-ACCESS-SIGN") else {
            return Err(Answer::err(
                401,
                code::SIGN_EMPTY,
                "Request header \"OK-ACCESS-SIGN\" cannot be empty.",
            ));
        };
        let Some(ts) = get("OK-ACCESS-TIMESTAMP") else {
            return Err(Answer::err(
                401,
                code::TIMESTAMP_EMPTY,
                "Request header \"OK-ACCESS-TIMESTAMP\" cannot be empty.",
            ));
        };
        let Some(passphrase) = get("OK-ACCESS-PASSPHRASE") else {
            return Err(Answer::err(
                401,
                code::PASSPHRASE_EMPTY,
                "Request header \"OK-ACCESS-PASSPHRASE\" cannot be empty.",
            ));
        };
        let Some(signer) = self.keys.get(key) else {
            return Err(Answer::err(
                401,
                code::INVALID_KEY,
                "Invalid OK-ACCESS-KEY.",
            ));
        };
        if !signer.passphrase_matches(passphrase) {
            return Err(Answer::err(
                401,
                code::PASSPHRASE_WRONG,
                "Request header \"OK-ACCESS-PASSPHRASE\" incorrect.",
            ));
        }
        let Some(ts_ms) = parse_timestamp(ts) else {
            return Err(Answer::err(
                401,
                code::INVALID_TIMESTAMP,
                "Invalid OK-ACCESS-TIMESTAMP.",
            ));
        };
        if (now_ms - ts_ms).abs() > TIMESTAMP_WINDOW_MS {
            return Err(Answer::err(
                401,
                code::TIMESTAMP_EXPIRED,
                "Timestamp request expired.",
            ));
        }
        if !signer.verify(ts, method, request_path, body, sign) {
            return Err(Answer::err(401, code::INVALID_SIGN, "Invalid signature."));
        }
        Ok(())
    }

    /// The core's symbol of an OKX `instId` (`BTC-USDT` → `BTCUSDT`, `BTC-USDT-SWAP` →
    /// `BTCUSDTSWAP`), if listed.
    fn symbol_of(&self, inst_id: &str) -> Option<String> {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| inst_id_of_spec(sp) == inst_id)
            .map(|sp| sp.symbol.clone())
    }

    /// The `instId` of a core symbol.
    fn inst_id_of(&self, symbol: &str) -> String {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == symbol)
            .map(inst_id_of_spec)
            .unwrap_or_else(|| symbol.to_string())
    }

    /// The contract value of a core symbol: `Some` for a SWAP (its `sz` are contracts).
    fn ct_val(&self, symbol: &str) -> Option<Decimal> {
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == symbol)
            .filter(|sp| sp.linear)
            .map(|_| SWAP_CT_VAL)
    }

    /// `instType` of a core symbol.
    fn inst_type_of(&self, symbol: &str) -> &'static str {
        if self.ct_val(symbol).is_some() {
            "SWAP"
        } else {
            "SPOT"
        }
    }

    /// A core quantity (base coin) as OKX's `sz`: contracts for a SWAP.
    fn sz_of(&self, symbol: &str, qty: Decimal) -> Decimal {
        match self.ct_val(symbol) {
            Some(ct) => qty / ct,
            None => qty,
        }
    }

    /// The positions of the SWAP symbols (those not flat), as "Get positions" and the
    /// `positions` channel list them.
    fn positions_json(&self, inst_id: Option<&str>) -> Vec<Value> {
        let now_ms = self.s.now_ms();
        let ex = self.s.exchange();
        ex.specs()
            .iter()
            .filter(|sp| sp.linear)
            .filter(|sp| inst_id.is_none_or(|x| x == inst_id_of_spec(sp)))
            .filter_map(|sp| {
                let (pos, avg) = ex.net_position(&sp.symbol).ok()?;
                (!pos.is_zero()).then(|| {
                    json!({"instType": "SWAP", "instId": inst_id_of_spec(sp), "mgnMode": "cross",
                           "posSide": "net", "pos": num(pos / SWAP_CT_VAL),
                           "posCcy": "", "ccy": sp.quote, "avgPx": num(avg),
                           "posId": format!("{}", sp.symbol.len()), "uTime": now_ms.to_string(),
                           "cTime": now_ms.to_string()})
                })
            })
            .collect()
    }
}

/// OKX's `instId` of a core symbol spec: `BASE-QUOTE`, `BASE-QUOTE-SWAP` for a perpetual.
fn inst_id_of_spec(sp: &super::exchange::SymbolSpec) -> String {
    if sp.linear {
        format!("{}-{}-SWAP", sp.base, sp.quote)
    } else {
        format!("{}-{}", sp.base, sp.quote)
    }
}

/// A refusal of the Binance-shaped core, in OKX's codes ("Error Code" > "Trade Class").
fn refusal((_, e): Refusal, quote_or_base: &str) -> (i64, String) {
    let m = e.msg.as_str();
    match e.code {
        bcode::BAD_SYMBOL => (
            code::NO_INSTRUMENT,
            "Instrument ID or Spread ID doesn't exist.".into(),
        ),
        bcode::NEW_ORDER_REJECTED if m == bmsg::INSUFFICIENT_BALANCE => (
            code::INSUFFICIENT,
            format!("Order failed. Insufficient {quote_or_base} balance in account"),
        ),
        bcode::NEW_ORDER_REJECTED if m == bmsg::DUPLICATE_ORDER => (
            code::DUPLICATE_CL_ORD_ID,
            "Client order ID already exists.".into(),
        ),
        bcode::NEW_ORDER_REJECTED if m == super::exchange::REDUCE_ONLY_NO_POSITION => (
            code::REDUCE_ONLY,
            "Order failed because you don't have any positions in this direction for this contract to reduce or close.".into(),
        ),
        bcode::NEW_ORDER_REJECTED if m == super::exchange::REDUCE_ONLY_TOO_LARGE => (
            code::REDUCE_ONLY,
            "Order failed: the reduce-only orders would be larger than the position (pit emulate: refused; OKX may amend them instead)".into(),
        ),
        bcode::NEW_ORDER_REJECTED if m == bmsg::WOULD_TAKE => (
            code::PARAM_ERROR,
            "Parameter ordType error (pit emulate: a post_only order that would take is refused)"
                .into(),
        ),
        bcode::CANCEL_REJECTED | bcode::NO_SUCH_ORDER => (
            code::CANCEL_FAILED,
            "Order cancellation failed as the order has been filled, canceled or does not exist."
                .into(),
        ),
        _ if m.contains("NOTIONAL") => (
            code::MIN_AMOUNT,
            "Your order should meet or exceed the minimum order amount.".into(),
        ),
        _ if m.contains("LOT_SIZE") => (
            code::LOT,
            "Order quantity must be a multiple of the lot size.".into(),
        ),
        _ if m.contains("PRICE_FILTER") => (
            code::PARAM_ERROR,
            "Parameter px error (pit emulate: not on the tick grid)".into(),
        ),
        _ => (
            code::PARAM_ERROR,
            format!("Parameter error (pit emulate: {m})"),
        ),
    }
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// OKX's `state` of a core order.
fn state_of(s: bw::OrderStatus) -> &'static str {
    use bw::OrderStatus as B;
    match s {
        B::New | B::PendingNew | B::PendingCancel => "live",
        B::PartiallyFilled => "partially_filled",
        B::Filled => "filled",
        B::Canceled | B::Expired | B::ExpiredInMatch | B::Rejected => "canceled",
    }
}

fn ord_type_of(q: &bw::QueriedOrder) -> &'static str {
    match (q.order_type, q.time_in_force) {
        (bw::OrderType::LimitMaker, _) => "post_only",
        (bw::OrderType::Market, _) => "market",
        (_, bw::TimeInForce::Ioc) => "ioc",
        (_, bw::TimeInForce::Fok) => "fok",
        _ => "limit",
    }
}

fn side_str(s: bw::Side) -> &'static str {
    match s {
        bw::Side::Buy => "buy",
        bw::Side::Sell => "sell",
    }
}

/// An order as "Get order details" lists it; its fills (oldest first) give the last fill
/// and the fee.
fn order_json(o: &Okx, q: &bw::QueriedOrder, fills: &[bw::MyTrade]) -> Value {
    let anonymous = o.st().anonymous.contains(&q.order_id);
    let avg = if q.executed_qty > Decimal::ZERO {
        num((q.cummulative_quote_qty / q.executed_qty).round_dp(8))
    } else {
        String::new()
    };
    let last = fills.last();
    let fee: Decimal = fills.iter().map(|t| t.commission).sum();
    let fee_ccy = last.map(|t| t.commission_asset.clone()).unwrap_or_default();
    let is_market = q.order_type == bw::OrderType::Market;
    let swap = o.ct_val(&q.symbol).is_some();
    let reduce_only = swap && o.s.exchange().is_reduce_only(q.order_id);
    let sz = |x: Decimal| num(o.sz_of(&q.symbol, x));
    json!({
        "instType": o.inst_type_of(&q.symbol),
        "instId": o.inst_id_of(&q.symbol),
        "ordId": q.order_id.to_string(),
        "clOrdId": if anonymous { String::new() } else { q.client_order_id.clone() },
        "tag": "",
        "px": if is_market { String::new() } else { num(q.price) },
        "sz": sz(q.orig_qty),
        "ordType": ord_type_of(q),
        "side": side_str(q.side),
        "posSide": if swap { "net" } else { "" },
        "tdMode": if swap { "cross" } else { "cash" },
        "reduceOnly": reduce_only.to_string(),
        "tgtCcy": if is_market && !swap { "base_ccy" } else { "" },
        "accFillSz": sz(q.executed_qty),
        "avgPx": avg,
        "state": state_of(q.status),
        "fillPx": last.map(|t| num(t.price)).unwrap_or_default(),
        "fillSz": last.map(|t| sz(t.qty)).unwrap_or_default(),
        "tradeId": last.map(|t| t.id.to_string()).unwrap_or_default(),
        "fillTime": last.map(|t| t.time.to_string()).unwrap_or_default(),
        "fee": num(-fee),
        "feeCcy": fee_ccy,
        "cTime": q.time.to_string(),
        "uTime": q.update_time.to_string(),
    })
}

/// A fill as "Get transaction details" lists it.
fn fill_json(o: &Okx, t: &bw::MyTrade, cl_ord_id: &str) -> Value {
    json!({
        "instType": o.inst_type_of(&t.symbol),
        "instId": o.inst_id_of(&t.symbol),
        "tradeId": t.id.to_string(),
        "ordId": t.order_id.to_string(),
        "clOrdId": cl_ord_id,
        "billId": t.id.to_string(),
        "subType": if t.is_buyer { "1" } else { "2" },
        "tag": "",
        "fillPx": num(t.price),
        "fillSz": num(o.sz_of(&t.symbol, t.qty)),
        "side": if t.is_buyer { "buy" } else { "sell" },
        "posSide": "net",
        "execType": if t.is_maker { "M" } else { "T" },
        "feeCcy": t.commission_asset,
        "fee": num(-t.commission),
        "ts": t.time.to_string(),
        "fillTime": t.time.to_string(),
    })
}

/// Every `/api/v5/...` request.
pub async fn rest(
    State(o): State<Arc<Okx>>,
    method: Method,
    uri: Uri,
    hdrs: HeaderMap,
    kill: Option<axum::Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let s = o.s.clone();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    let is_new_order = method == Method::POST && path == "/api/v5/trade/order";
    let create_late = {
        let f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.create_late
    };
    if !create_late.is_zero() && is_new_order {
        tokio::time::sleep(create_late).await;
    }
    let now_ms = s.now_ms();
    let (slow, limited) = {
        let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        let banned = f.ban_left(Instant::now()).is_some();
        let limited = banned || Faults::take(&mut f.rate_limited);
        (f.slow, limited)
    };
    let answer = if limited || !o.count(&path, now_ms) {
        // "Rate Limits": 50011, HTTP 429 "Too Many Requests".
        Answer::err(429, code::RATE_LIMIT, "Too Many Requests")
    } else {
        let server_error = {
            let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
            Faults::take(&mut f.server_error)
        };
        // A new order among the 5xx is placed first (its outcome hidden); any other request
        // is answered 500 without being carried out (a cancel that did not take).
        let r = if server_error && !is_new_order {
            Err(Answer::err(
                500,
                code::SYSTEM_ERROR,
                "System error. Try again later",
            ))
        } else {
            route(&o, &method, &path, &query, &body, &hdrs)
        };
        let accepted = r.is_ok();
        let lose = is_new_order && accepted && {
            let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
            Faults::take(&mut f.lose_response)
        };
        s.publish();
        if lose {
            tracing::info!("fault: order accepted, response lost");
            if let Some(axum::Extension(k)) = kill {
                k.0.notify_one();
            }
            std::future::pending::<()>().await;
        }
        match r {
            _ if server_error => {
                Answer::err(500, code::SYSTEM_ERROR, "System error. Try again later")
            }
            Ok(v) => Answer::ok(v),
            Err(a) => a,
        }
    };
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    answer.into_response()
}

fn route(o: &Okx, method: &Method, path: &str, query: &str, body: &str, h: &HeaderMap) -> OResult {
    let s = &o.s;
    let now_ns = s.now_ns();
    let now_ms = now_ns / 1_000_000;
    let q = |e: serde_urlencoded::de::Error| param_error("query", &e.to_string());
    let j = |e: serde_json::Error| {
        if body.trim().is_empty() {
            Answer::err(400, 50000, "Body for POST request cannot be empty.")
        } else {
            param_error("body", &e.to_string())
        }
    };
    // Public.
    match (method.as_str(), path) {
        ("GET", "/api/v5/public/time") => return Ok(json!([{"ts": now_ms.to_string()}])),
        ("GET", "/api/v5/public/instruments") => {
            let p: InstQ = serde_urlencoded::from_str(query).map_err(q)?;
            let swap = match p.inst_type.as_str() {
                "SPOT" => false,
                "SWAP" => true,
                _ => {
                    return Err(param_error(
                        "instType",
                        "pit emulate okx lists SPOT and SWAP instruments only",
                    ));
                }
            };
            let ex = s.exchange();
            let list: Vec<Value> = ex
                .specs()
                .iter()
                .filter(|sp| sp.linear == swap)
                .map(|sp| (inst_id_of_spec(sp), sp))
                .filter(|(id, _)| p.inst_id.as_deref().is_none_or(|x| x == id))
                .map(|(id, sp)| if swap {
                    // "Get instruments", SWAP: `ctVal` "Contract value", `ctValCcy`,
                    // `ctType` linear, `settleCcy`; `lotSz`/`minSz` in contracts.
                    json!({"instType": "SWAP", "instId": id, "uly": format!("{}-{}", sp.base, sp.quote),
                           "instFamily": format!("{}-{}", sp.base, sp.quote),
                           "baseCcy": "", "quoteCcy": "", "settleCcy": sp.quote,
                           "ctVal": num(SWAP_CT_VAL), "ctMult": "1", "ctValCcy": sp.base,
                           "ctType": "linear", "tickSz": num(sp.tick), "lotSz": num(SWAP_LOT_SZ),
                           "minSz": num(SWAP_LOT_SZ), "lever": "1", "state": "live"})
                } else {
                    json!({"instType": "SPOT", "instId": id, "baseCcy": sp.base,
                           "quoteCcy": sp.quote, "tickSz": num(sp.tick), "lotSz": num(sp.lot),
                           "minSz": num(sp.lot), "state": "live"})
                })
                .collect();
            return Ok(Value::Array(list));
        }
        _ => {}
    }
    let (sign_method, request_path, signed_body) = if method == Method::GET {
        let rp = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        (SignMethod::Get, rp, "")
    } else if method == Method::POST {
        (SignMethod::Post, path.to_string(), body)
    } else {
        return Err(Answer::err(405, 50115, "Invalid request method."));
    };
    o.authenticate(h, sign_method, &request_path, signed_body, now_ms)?;
    match (method.as_str(), path) {
        ("POST", "/api/v5/trade/order") => {
            // "Transaction Timeouts": `expTime`, Unix ms.
            if let Some(exp) = h
                .get("expTime")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                && now_ms > exp
            {
                return Err(Answer::err(
                    200,
                    code::EXP_TIME,
                    "The expTime can't be earlier than the current system time. Please adjust the expTime and try again.",
                ));
            }
            let p: PlaceReq = serde_json::from_str(body).map_err(j)?;
            place(o, p, now_ns)
        }
        ("POST", "/api/v5/trade/cancel-order") => {
            let c: CancelReq = serde_json::from_str(body).map_err(j)?;
            cancel(o, c, now_ns)
        }
        ("GET", "/api/v5/trade/order") => {
            let p: OrderQ = serde_urlencoded::from_str(query).map_err(q)?;
            let oid = p.ord_id.as_deref().and_then(|x| x.parse::<u64>().ok());
            if oid.is_none() && p.cl_ord_id.is_none() {
                return Err(Answer::err(
                    200,
                    51003,
                    "Either client order ID or order ID is required.",
                ));
            }
            let not_found = || Answer::err(200, code::ORDER_NOT_EXIST, "Order does not exist.");
            let sym = o.symbol_of(&p.inst_id).ok_or_else(not_found)?;
            let mut ex = s.exchange();
            let qo = ex
                .query(&sym, oid, p.cl_ord_id.as_deref(), now_ns)
                .map_err(|_| not_found())?;
            let fills = order_fills(&mut ex, &sym, qo.order_id, now_ns);
            drop(ex);
            Ok(json!([order_json(o, &qo, &fills)]))
        }
        ("GET", "/api/v5/trade/orders-pending") => {
            let p: PendingQ = serde_urlencoded::from_str(query).map_err(q)?;
            let sym = match &p.inst_id {
                Some(id) => match o.symbol_of(id) {
                    Some(sym) => Some(sym),
                    None => return Ok(json!([])),
                },
                None => None,
            };
            let mut ex = s.exchange();
            let mut open = ex.open_orders(sym.as_deref(), now_ns).unwrap_or_default();
            drop(ex);
            open.retain(|qo| {
                p.inst_type
                    .as_deref()
                    .is_none_or(|t| t == o.inst_type_of(&qo.symbol))
            });
            let mut ex = s.exchange();
            // Newest first, as OKX lists.
            open.sort_by_key(|o| std::cmp::Reverse(o.order_id));
            let with_fills: Vec<(bw::QueriedOrder, Vec<bw::MyTrade>)> = open
                .into_iter()
                .map(|qo| {
                    let f = order_fills(&mut ex, &qo.symbol, qo.order_id, now_ns);
                    (qo, f)
                })
                .collect();
            drop(ex);
            Ok(Value::Array(
                with_fills
                    .iter()
                    .map(|(qo, f)| order_json(o, qo, f))
                    .collect(),
            ))
        }
        ("GET", "/api/v5/trade/fills") => fills(o, query, now_ns),
        ("GET", "/api/v5/account/positions") => {
            // "Get positions": `instType` MARGIN/SWAP/FUTURES/OPTION, optional `instId`;
            // in net mode one position per instrument, `pos` signed, in contracts.
            let p: PositionsQ = serde_urlencoded::from_str(query).map_err(q)?;
            if p.inst_type.as_deref().is_some_and(|t| t != "SWAP") {
                return Ok(json!([]));
            }
            s.exchange().advance(now_ns);
            Ok(Value::Array(o.positions_json(p.inst_id.as_deref())))
        }
        ("GET", "/api/v5/account/config") => {
            // "Get account configuration": `acctLv` 2 ("Spot and futures mode": SPOT in
            // cash, SWAP in cross), `posMode` `net_mode` or `long_short_mode`.
            let pos_mode = if o.st().long_short_mode {
                "long_short_mode"
            } else {
                "net_mode"
            };
            Ok(
                json!([{"uid": "614488474791936", "mainUid": "614488474791936",
                       "acctLv": "2", "posMode": pos_mode, "autoLoan": false,
                       "greeksType": "PA", "level": "Lv1", "levelTmp": "",
                       "ctIsoMode": "automatic", "mgnIsoMode": "automatic",
                       "perm": "read_only,trade"}]),
            )
        }
        ("GET", "/api/v5/account/balance") => {
            let p: BalanceQ = serde_urlencoded::from_str(query).map_err(q)?;
            let wanted: Option<BTreeSet<String>> = p
                .ccy
                .as_deref()
                .map(|c| c.split(',').map(|x| x.trim().to_string()).collect());
            let acct = s.exchange().account(now_ns);
            let details: Vec<Value> = acct
                .balances
                .iter()
                .filter(|b| wanted.as_ref().is_none_or(|w| w.contains(&b.asset)))
                .map(|b| {
                    json!({"ccy": b.asset, "eq": num(b.free + b.locked),
                           "cashBal": num(b.free + b.locked), "availBal": num(b.free),
                           "availEq": num(b.free), "frozenBal": num(b.locked),
                           "ordFrozen": num(b.locked), "uTime": now_ms.to_string()})
                })
                .collect();
            Ok(json!([{"totalEq": "", "uTime": now_ms.to_string(), "details": details}]))
        }
        ("POST", "/api/v5/trade/cancel-all-after") => {
            let c: CaaReq = serde_json::from_str(body).map_err(j)?;
            if c.tag.as_deref().is_some_and(|t| !t.is_empty()) {
                return Err(param_error(
                    "tag",
                    "tag-level Cancel All After is not emulated",
                ));
            }
            let secs: u64 = c
                .time_out
                .trim()
                .parse()
                .map_err(|_| param_error("timeOut", ""))?;
            if secs != 0 && !(CAA_MIN_S..=CAA_MAX_S).contains(&secs) {
                return Err(param_error("timeOut", "Range of value can be 0, [10, 120]"));
            }
            let trigger = (secs > 0).then(|| now_ms + secs as i64 * 1000);
            o.st().caa_trigger_ms = trigger;
            tracing::info!(secs, "okx cancel-all-after set");
            Ok(json!([{
                "triggerTime": trigger.map(|t| (t / 1000).to_string()).unwrap_or_else(|| "0".into()),
                "tag": "",
                "ts": (now_ms / 1000).to_string(),
            }]))
        }
        _ => Err(Answer::err(
            410,
            code::ENDPOINT_UNAVAILABLE,
            format!(
                "API endpoint is inactive or unavailable. (pit emulate okx: {method} {path} is not emulated)"
            ),
        )),
    }
}

/// An order's fills, oldest first.
fn order_fills(
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

fn place(o: &Okx, p: PlaceReq, now_ns: i64) -> OResult {
    let cl = p.cl_ord_id.clone().unwrap_or_default();
    if !cl.is_empty() {
        *o.st().places.entry(cl.clone()).or_default() += 1;
    }
    if let (false, Some(r)) = (cl.is_empty(), p.reduce_only) {
        o.st().reduce_only_sent.insert(cl.clone(), r);
    }
    let fail = |c: i64, m: String| Err(Answer::order_failed(&cl, "", c, m));
    if p.cl_ord_id.is_some() && !valid_cl_ord_id(&cl) {
        return fail(code::PARAM_ERROR, "Parameter clOrdId error".into());
    }
    let Some(symbol) = o.symbol_of(&p.inst_id) else {
        return fail(
            code::NO_INSTRUMENT,
            "Instrument ID or Spread ID doesn't exist.".into(),
        );
    };
    let ct_val = o.ct_val(&symbol);
    // SPOT in `cash`; SWAP in `cross` ("Place order" `tdMode`: "Margin mode cross
    // isolated; Non-Margin mode cash"); `isolated` is not emulated.
    let td_mode_ok = match ct_val {
        None => p.td_mode == "cash",
        Some(_) => p.td_mode == "cross",
    };
    if !td_mode_ok {
        return fail(
            code::PARAM_ERROR,
            "Parameter tdMode error (pit emulate okx: SPOT in cash, SWAP in cross)".into(),
        );
    }
    // A SWAP order in the long/short position mode names its side of the position
    // (`posSide` long or short); OKX refuses one without it ("Parameter posSide error").
    if ct_val.is_some()
        && o.st().long_short_mode
        && !matches!(p.pos_side.as_deref(), Some("long" | "short"))
    {
        return fail(code::PARAM_ERROR, "Parameter posSide error".into());
    }
    let reduce_only = p.reduce_only.unwrap_or(false);
    if reduce_only && ct_val.is_none() {
        // "Only applicable to MARGIN orders, and FUTURES/SWAP orders in net mode".
        return fail(
            code::PARAM_ERROR,
            "Parameter reduceOnly error (pit emulate okx: only applicable to SWAP in net mode)"
                .into(),
        );
    }
    let side = match p.side.as_str() {
        "buy" => bw::Side::Buy,
        "sell" => bw::Side::Sell,
        _ => return fail(code::PARAM_ERROR, "Parameter side error".into()),
    };
    let Ok(sz) = p.sz.trim().parse::<Decimal>() else {
        return fail(code::PARAM_ERROR, "Parameter sz error".into());
    };
    // A SWAP's `sz` is in contracts ("Place order": "Quantity to buy or sell"; "Get
    // instruments": `lotSz` "If it is a derivatives contract, the value is the number of
    // contracts"), on its lot and at least `minSz`; the core counts the base coin.
    let sz = match ct_val {
        None => sz,
        Some(ct) => {
            if sz < SWAP_LOT_SZ {
                return fail(
                    code::MIN_AMOUNT,
                    "Your order should meet or exceed the minimum order amount.".into(),
                );
            }
            if !(sz % SWAP_LOT_SZ).is_zero() {
                return fail(
                    code::LOT,
                    "Order quantity must be a multiple of the lot size.".into(),
                );
            }
            sz * ct
        }
    };
    let px = match p.px.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        None => None,
        Some(x) => match x.parse::<Decimal>() {
            Ok(v) => Some(v),
            Err(_) => return fail(code::PARAM_ERROR, "Parameter px error".into()),
        },
    };
    let (order_type, tif) = match p.ord_type.as_str() {
        "limit" => (bw::OrderType::Limit, Some(bw::TimeInForce::Gtc)),
        "ioc" => (bw::OrderType::Limit, Some(bw::TimeInForce::Ioc)),
        "post_only" => (bw::OrderType::LimitMaker, None),
        "market" if ct_val.is_some() => (bw::OrderType::Market, None),
        "market" => {
            // "tgtCcy ... Only applicable to SPOT Market Orders. Default is quote_ccy for
            // buy, base_ccy for sell": the emulator sizes market orders in base only.
            let default = if side == bw::Side::Buy {
                "quote_ccy"
            } else {
                "base_ccy"
            };
            if p.tgt_ccy.as_deref().unwrap_or(default) != "base_ccy" {
                return fail(
                    code::PARAM_ERROR,
                    "Parameter tgtCcy error (pit emulate okx takes market orders by base: tgtCcy=base_ccy)"
                        .into(),
                );
            }
            (bw::OrderType::Market, None)
        }
        other => {
            return fail(
                code::PARAM_ERROR,
                format!("Parameter ordType error (pit emulate okx: {other} is not emulated)"),
            );
        }
    };
    if order_type != bw::OrderType::Market && px.is_none() {
        return fail(
            51204,
            "The price for the limit order cannot be empty.".into(),
        );
    }
    let quote_or_base = {
        let ex = o.s.exchange();
        ex.specs()
            .iter()
            .find(|sp| sp.symbol == symbol)
            .map(|sp| {
                if side == bw::Side::Buy || sp.linear {
                    sp.quote.clone()
                } else {
                    sp.base.clone()
                }
            })
            .unwrap_or_default()
    };
    let params = bw::NewOrderParams {
        symbol,
        side,
        order_type,
        time_in_force: tif,
        quantity: Some(sz),
        quote_order_qty: None,
        price: if order_type == bw::OrderType::Market {
            None
        } else {
            px
        },
        new_client_order_id: p.cl_ord_id.clone(),
        new_order_resp_type: Some(bw::OrderRespType::Ack),
    };
    let r = match o.s.exchange().place_with(params, reduce_only, now_ns) {
        Ok(r) => r,
        Err(e) => {
            let (c, m) = refusal(e, &quote_or_base);
            return fail(c, m);
        }
    };
    if p.cl_ord_id.is_none() {
        o.st().anonymous.insert(r.order_id);
    }
    Ok(
        json!([{"clOrdId": cl, "ordId": r.order_id.to_string(), "tag": "",
               "sCode": "0", "sMsg": "Order placed"}]),
    )
}

fn cancel(o: &Okx, c: CancelReq, now_ns: i64) -> OResult {
    let cl = c.cl_ord_id.clone().unwrap_or_default();
    let oid_text = c.ord_id.clone().unwrap_or_default();
    let fail = |code: i64, m: &str| Err(Answer::order_failed(&cl, &oid_text, code, m));
    let oid = c.ord_id.as_deref().and_then(|x| x.parse::<u64>().ok());
    if oid.is_none() && c.cl_ord_id.is_none() {
        return fail(51407, "Either order ID or client order ID is required.");
    }
    let gone =
        "Order cancellation failed as the order has been filled, canceled or does not exist.";
    let Some(sym) = o.symbol_of(&c.inst_id) else {
        return fail(code::CANCEL_FAILED, gone);
    };
    let partial = {
        let mut f = o.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        Faults::take(&mut f.partial_fill_on_cancel)
    };
    let r =
        o.s.exchange()
            .cancel(&sym, oid, c.cl_ord_id.as_deref(), None, partial, now_ns);
    match r {
        Ok(r) => {
            let anonymous = o.st().anonymous.contains(&r.order_id);
            Ok(json!([{
                "clOrdId": if anonymous { String::new() } else { r.orig_client_order_id },
                "ordId": r.order_id.to_string(),
                "sCode": "0",
                "sMsg": "",
            }]))
        }
        Err(_) => fail(code::CANCEL_FAILED, gone),
    }
}

fn fills(o: &Okx, query: &str, now_ns: i64) -> OResult {
    let p: FillsQ =
        serde_urlencoded::from_str(query).map_err(|e| param_error("query", &e.to_string()))?;
    let now_ms = now_ns / 1_000_000;
    let int = |name: &str, v: &Option<String>| -> Result<Option<i64>, Answer> {
        v.as_deref()
            .filter(|x| !x.is_empty())
            .map(|x| x.parse::<i64>().map_err(|_| param_error(name, "")))
            .transpose()
    };
    let after = int("after", &p.after)?;
    let before = int("before", &p.before)?;
    let begin = int("begin", &p.begin)?;
    let end = int("end", &p.end)?;
    // "The maximum is 100; The default is 100".
    let limit = match int("limit", &p.limit)? {
        None => 100,
        Some(l) if (1..=100).contains(&l) => l as usize,
        Some(_) => return Err(param_error("limit", "The maximum is 100")),
    };
    let ord_id = int("ordId", &p.ord_id)?;
    // "last 3 days".
    let from = begin.unwrap_or(i64::MIN).max(now_ms - FILLS_WINDOW_MS);
    let to = end.unwrap_or(now_ms);
    let symbols: Vec<String> = match &p.inst_id {
        Some(id) => match o.symbol_of(id) {
            Some(sym) => vec![sym],
            None => return Ok(json!([])),
        },
        None => {
            let all: Vec<String> =
                o.s.exchange()
                    .specs()
                    .iter()
                    .map(|sp| sp.symbol.clone())
                    .collect();
            all.into_iter()
                .filter(|sym| {
                    p.inst_type
                        .as_deref()
                        .is_none_or(|t| t == o.inst_type_of(sym))
                })
                .collect()
        }
    };
    let mut rows: Vec<(bw::MyTrade, String)> = Vec::new();
    {
        let mut ex = o.s.exchange();
        for sym in &symbols {
            let trades = ex.trades_between(sym, from, to, now_ns).unwrap_or_default();
            for t in trades {
                if ord_id.is_some_and(|x| x as u64 != t.order_id)
                    || after.is_some_and(|a| t.id as i64 >= a)
                    || before.is_some_and(|b| t.id as i64 <= b)
                {
                    continue;
                }
                let cl = ex
                    .query(sym, Some(t.order_id), None, now_ns)
                    .map(|qo| qo.client_order_id)
                    .unwrap_or_default();
                rows.push((t, cl));
            }
        }
    }
    let anonymous = o.st().anonymous.clone();
    // Newest first. With `before` alone, the page is the records just newer than it.
    rows.sort_by_key(|r| std::cmp::Reverse(r.0.id));
    let page: Vec<&(bw::MyTrade, String)> = if before.is_some() && after.is_none() {
        let skip = rows.len().saturating_sub(limit);
        rows.iter().skip(skip).collect()
    } else {
        rows.iter().take(limit).collect()
    };
    Ok(Value::Array(
        page.into_iter()
            .map(|(t, cl)| {
                let cl = if anonymous.contains(&t.order_id) {
                    ""
                } else {
                    cl.as_str()
                };
                fill_json(o, t, cl)
            })
            .collect(),
    ))
}

/// One Cancel All After check: when the countdown has ended unrefreshed, every pending
/// order is cancelled and the timer is off.
pub fn caa_check(o: &Okx) {
    let now_ms = o.s.now_ms();
    let due = {
        let mut st = o.st();
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
    let now_ns = o.s.now_ns();
    let cancelled = {
        let mut ex = o.s.exchange();
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
        let mut st = o.st();
        st.caa_fired += 1;
        st.caa_cancelled += cancelled;
    }
    tracing::warn!(
        cancelled,
        "okx cancel-all-after: the countdown ended unrefreshed; every pending order cancelled"
    );
    o.s.publish();
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShiftReq {
    inst_id: String,
    /// Contracts, signed (+ more long).
    pos: String,
}

/// `POST /emulator/okx/position` `{"instId": "BTC-USDT-SWAP", "pos": "3"}`: moves the
/// net position by `pos` contracts without a trade (a difference with the client, for
/// tests of its reconciliation), then pushes it on the `positions` channel.
pub async fn shift_position(State(o): State<Arc<Okx>>, body: Bytes) -> Response {
    let r: Result<(), String> = (|| {
        let req: ShiftReq = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let delta: Decimal = req.pos.trim().parse().map_err(|_| "pos: not a number")?;
        let sym = o
            .symbol_of(&req.inst_id)
            .ok_or_else(|| format!("no instrument {}", req.inst_id))?;
        let ct = o.ct_val(&sym).ok_or("not a SWAP")?;
        o.s.exchange()
            .shift_position(&sym, delta * ct)
            .map_err(|e| e.1.msg)?;
        Ok(())
    })();
    match r {
        Ok(()) => {
            tracing::warn!("okx emulator: a position moved without a trade");
            let _ = o.pos_tx.send(());
            (StatusCode::OK, "{}").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, json!({"error": e}).to_string()).into_response(),
    }
}

/// `POST /emulator/okx/position-mode` `{"posMode": "long_short_mode"}` (or `net_mode`):
/// the account's position mode as an operator would set it at OKX ("Set position mode";
/// OKX refuses a change while positions or orders are open, the emulator does not check).
pub async fn set_position_mode(State(o): State<Arc<Okx>>, body: Bytes) -> Response {
    let mode = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["posMode"].as_str().map(str::to_string));
    let long_short = match mode.as_deref() {
        Some("long_short_mode") => true,
        Some("net_mode") => false,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": "posMode: long_short_mode or net_mode"}).to_string(),
            )
                .into_response();
        }
    };
    o.st().long_short_mode = long_short;
    tracing::warn!(long_short, "okx emulator: the position mode set");
    (StatusCode::OK, "{}").into_response()
}

/// `GET /emulator/state` of the OKX front-end: the core's state plus
/// `okx_cancel_all_after`.
pub async fn state(State(o): State<Arc<Okx>>) -> Response {
    let now_ns = o.s.now_ns();
    let mut v = {
        let mut ex = o.s.exchange();
        ex.advance(now_ns);
        ex.state_json()
    };
    o.s.publish();
    if let Some(obj) = v.as_object_mut() {
        let f = o.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        obj.insert("faults".into(), f.to_json(Instant::now()));
        let st = o.st();
        obj.insert(
            "okx_cancel_all_after".into(),
            json!({
                "armed": st.caa_trigger_ms.is_some(),
                "trigger_ms": st.caa_trigger_ms,
                "fired": st.caa_fired,
                "cancelled": st.caa_cancelled,
            }),
        );
        obj.insert("okx_places".into(), json!(st.places));
        obj.insert(
            "okx_pos_mode".into(),
            json!(if st.long_short_mode {
                "long_short_mode"
            } else {
                "net_mode"
            }),
        );
        obj.insert("okx_reduce_only".into(), json!(st.reduce_only_sent));
    }
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

// ---------------------------------------------------------------------------------------
// The public WebSocket: the simulated market as OKX publishes it.

/// `GET /ws/v5/public` ("WS / Order book channel", "WS / Trades channel"): `subscribe`
/// to `books` (a `snapshot` of the top [`PUBLIC_DEPTH`] levels, then `update`s with the
/// levels changed, a size "0" for a level gone, `prevSeqId` the previous message's
/// `seqId`, and `checksum`: the signed CRC32 of the top 25 bids and asks interleaved as
/// `px:sz`, as the page describes) and `trades` (`px`, `sz`, `side` the taker's,
/// `tradeId`, `ts`), by `instId`; text `ping` → `pong`. The book is the core's top 25:
/// a level pushed below it leaves the published book (its size "0").
pub async fn public(State(o): State<Arc<Okx>>, up: WebSocketUpgrade) -> Response {
    up.on_upgrade(move |socket| public_loop(o, socket))
}

/// Levels of the public book.
pub const PUBLIC_DEPTH: usize = 25;

/// One subscribed book: the levels last sent (price text -> size text) and the last
/// `seqId`.
#[derive(Default)]
struct PubBook {
    bids: BTreeMap<Decimal, String>,
    asks: BTreeMap<Decimal, String>,
    seq: i64,
}

/// The `checksum` of a book ("WS / Order book channel" > "Checksum": the first 25 bids
/// and asks interleaved, `bid:ask:bid:ask...`, each level `price:size`, then CRC32, as a
/// signed 32-bit integer).
pub fn book_checksum(bids: &[(String, String)], asks: &[(String, String)]) -> i32 {
    let mut parts: Vec<String> = Vec::new();
    for k in 0..PUBLIC_DEPTH
        .max(bids.len())
        .max(asks.len())
        .min(PUBLIC_DEPTH)
    {
        if let Some((p, q)) = bids.get(k) {
            parts.push(format!("{p}:{q}"));
        }
        if let Some((p, q)) = asks.get(k) {
            parts.push(format!("{p}:{q}"));
        }
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}

async fn public_loop(o: Arc<Okx>, mut socket: WebSocket) {
    let mut rx = o.s.market_tx.subscribe();
    let mut books: BTreeMap<String, PubBook> = BTreeMap::new();
    let mut trades: BTreeSet<String> = BTreeSet::new();
    loop {
        let out: Vec<String> = tokio::select! {
            f = rx.recv() => match f {
                Ok(f) => public_frames(&o, &f.0, &f.1, &mut books, &trades),
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) if t.as_str() == "ping" => vec!["pong".to_string()],
                Some(Ok(Message::Text(t))) => public_op(&o, t.as_str(), &mut books, &mut trades),
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

fn public_op(
    o: &Okx,
    text: &str,
    books: &mut BTreeMap<String, PubBook>,
    trades: &mut BTreeSet<String>,
) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![ws_error(
            &None,
            ws_code::INVALID_REQUEST,
            "Invalid request",
            "pub",
        )];
    };
    let op = v["op"].as_str().unwrap_or("");
    let mut out = Vec::new();
    for arg in v["args"].as_array().cloned().unwrap_or_default() {
        let channel = arg["channel"].as_str().unwrap_or("");
        let inst = arg["instId"].as_str().unwrap_or("").to_string();
        if o.symbol_of(&inst).is_none() || !matches!(channel, "books" | "trades") {
            out.push(ws_error(
                &None,
                ws_code::NO_CHANNEL,
                &format!("Wrong URL or channel:{channel},instId:{inst} doesn't exist."),
                "pub",
            ));
            continue;
        }
        out.push(json!({"event": op, "arg": arg, "connId": "pub"}).to_string());
        match (op, channel) {
            ("subscribe", "books") => {
                let mut b = PubBook::default();
                if let Some(m) = book_message(o, &inst, &mut b, true) {
                    out.push(m);
                }
                books.insert(inst, b);
            }
            ("unsubscribe", "books") => {
                books.remove(&inst);
            }
            ("subscribe", "trades") => {
                trades.insert(inst);
            }
            ("unsubscribe", "trades") => {
                trades.remove(&inst);
            }
            _ => {}
        }
    }
    out
}

/// The book's message now: a snapshot, or the update from what `b` last sent (`None`
/// when nothing changed).
fn book_message(o: &Okx, inst: &str, b: &mut PubBook, snapshot: bool) -> Option<String> {
    let sym = o.symbol_of(inst)?;
    let d = o.s.exchange().depth(&sym, PUBLIC_DEPTH).ok()?;
    // A swap's sizes in contracts, as OKX writes them ("WS / Order book channel": "sz"
    // of a level is the "quantity at the price"; for derivatives the number of contracts,
    // as "Get instruments" says of `lotSz`).
    let side = |l: &[[Decimal; 2]]| -> BTreeMap<Decimal, String> {
        l.iter()
            .map(|[p, q]| (p.normalize(), num(o.sz_of(&sym, *q))))
            .collect()
    };
    let (bids, asks) = (side(&d.bids), side(&d.asks));
    let diff = |old: &BTreeMap<Decimal, String>, new: &BTreeMap<Decimal, String>| {
        let mut ch: Vec<[String; 4]> = Vec::new();
        for (p, q) in new {
            if old.get(p) != Some(q) {
                ch.push([num(*p), q.clone(), "0".into(), "1".into()]);
            }
        }
        for p in old.keys().filter(|p| !new.contains_key(*p)) {
            ch.push([num(*p), "0".into(), "0".into(), "0".into()]);
        }
        ch
    };
    let (bch, ach) = if snapshot {
        (diff(&BTreeMap::new(), &bids), diff(&BTreeMap::new(), &asks))
    } else {
        (diff(&b.bids, &bids), diff(&b.asks, &asks))
    };
    if !snapshot && bch.is_empty() && ach.is_empty() {
        return None;
    }
    let listed = |m: &BTreeMap<Decimal, String>, rev: bool| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = m.iter().map(|(p, q)| (num(*p), q.clone())).collect();
        if rev {
            v.reverse();
        }
        v
    };
    let checksum = book_checksum(&listed(&bids, true), &listed(&asks, false));
    let prev = if snapshot { -1 } else { b.seq };
    b.seq += 1;
    b.bids = bids;
    b.asks = asks;
    let now = o.s.now_ms();
    Some(
        json!({"arg": {"channel": "books", "instId": inst},
               "action": if snapshot { "snapshot" } else { "update" },
               "data": [{"asks": ach, "bids": bch, "ts": now.to_string(),
                         "checksum": checksum, "prevSeqId": prev, "seqId": b.seq}]})
        .to_string(),
    )
}

/// The core's market frames as this connection's OKX messages.
fn public_frames(
    o: &Okx,
    stream: &str,
    text: &str,
    books: &mut BTreeMap<String, PubBook>,
    trades: &BTreeSet<String>,
) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![];
    };
    let d = &v["data"];
    let inst = o.inst_id_of(d["s"].as_str().unwrap_or(""));
    if stream.ends_with("@depth@100ms") {
        let Some(b) = books.get_mut(&inst) else {
            return vec![];
        };
        book_message(o, &inst, b, false).into_iter().collect()
    } else if stream.ends_with("@trade") && trades.contains(&inst) {
        // Binance's `m` (the buyer was the maker): the taker sold.
        let side = if d["m"].as_bool().unwrap_or(false) {
            "sell"
        } else {
            "buy"
        };
        let dn = |k: &str| {
            d[k].as_str()
                .and_then(|x| x.parse::<Decimal>().ok())
                .map(num)
                .unwrap_or_default()
        };
        // A swap's trade size in contracts ("WS / Trades channel" `sz`: for derivatives,
        // the number of contracts).
        let sz = d["q"]
            .as_str()
            .and_then(|x| x.parse::<Decimal>().ok())
            .map(|q| num(o.sz_of(d["s"].as_str().unwrap_or(""), q)))
            .unwrap_or_default();
        vec![
            json!({"arg": {"channel": "trades", "instId": inst},
                   "data": [{"instId": inst, "tradeId": d["t"].to_string(), "px": dn("p"),
                             "sz": sz, "side": side, "ts": d["T"].to_string(), "count": "1"}]})
            .to_string(),
        ]
    } else {
        vec![]
    }
}

// ---------------------------------------------------------------------------------------
// The private WebSocket: `login`, the `orders` channel.

/// The WebSocket codes used here ("Error Code" > "WebSocket" > "Public").
pub mod ws_code {
    pub const INVALID_TIMESTAMP: i64 = 60004;
    pub const INVALID_KEY: i64 = 60005;
    pub const TIMESTAMP_EXPIRED: i64 = 60006;
    pub const INVALID_SIGN: i64 = 60007;
    pub const PLEASE_LOG_IN: i64 = 60011;
    pub const INVALID_REQUEST: i64 = 60012;
    pub const NO_CHANNEL: i64 = 60018;
    pub const WRONG_PASSPHRASE: i64 = 60024;
}

/// `GET /ws/v5/private`.
pub async fn private(State(o): State<Arc<Okx>>, up: WebSocketUpgrade) -> Response {
    up.on_upgrade(move |socket| private_loop(o, socket))
}

/// One `orders` or `positions` subscription: its `arg` as sent, the channel, the
/// `instType` and the `instId` it is limited to.
struct Sub {
    arg: Value,
    channel: String,
    inst_type: String,
    inst_id: Option<String>,
}

impl Sub {
    fn wants(&self, channel: &str, inst_type: &str, inst: &str) -> bool {
        self.channel == channel
            && (self.inst_type == "ANY" || self.inst_type == inst_type)
            && self.inst_id.as_deref().is_none_or(|i| i == inst)
    }
}

/// The `positions` pushes of the subscriptions that want `inst` (every SWAP position when
/// `None`): "WS / Positions channel", the instrument's net position, `pos` "0" when flat.
fn position_pushes(o: &Okx, subs: &[Sub], inst: Option<&str>) -> Vec<String> {
    let listed = o.positions_json(None);
    let mut insts: Vec<String> = match inst {
        Some(i) => vec![i.to_string()],
        None => listed
            .iter()
            .filter_map(|p| p["instId"].as_str().map(str::to_string))
            .collect(),
    };
    insts.dedup();
    let mut out = Vec::new();
    for s in subs.iter().filter(|s| s.channel == "positions") {
        let data: Vec<Value> = insts
            .iter()
            .filter(|i| s.wants("positions", "SWAP", i))
            .map(|i| {
                listed
                    .iter()
                    .find(|p| p["instId"].as_str() == Some(i))
                    .cloned()
                    .unwrap_or_else(|| {
                        json!({"instType": "SWAP", "instId": i, "mgnMode": "cross",
                               "posSide": "net", "pos": "0", "avgPx": "",
                               "uTime": o.s.now_ms().to_string()})
                    })
            })
            .collect();
        if !data.is_empty() || inst.is_none() {
            out.push(json!({"arg": s.arg, "data": data}).to_string());
        }
    }
    out
}

async fn private_loop(o: Arc<Okx>, mut socket: WebSocket) {
    let conn_id = format!("{:08x}", o.next_conn.fetch_add(1, Ordering::Relaxed));
    let mut events = o.s.user_tx.subscribe();
    let mut dropper = o.s.drop_tx.subscribe();
    let mut shifted = o.pos_tx.subscribe();
    let mut logged_in = false;
    let mut subs: Vec<Sub> = Vec::new();
    loop {
        let out: Vec<String> = tokio::select! {
            _ = dropper.recv() => break,
            ev = events.recv() => match ev {
                Ok(e) => {
                    let bw::UserEvent::ExecutionReport(r) = &*e else { continue };
                    if !logged_in || subs.is_empty() {
                        continue;
                    }
                    let data = order_push(&o, r);
                    let inst = data["instId"].as_str().unwrap_or("").to_string();
                    let inst_type = data["instType"].as_str().unwrap_or("").to_string();
                    let mut out: Vec<String> = subs.iter()
                        .filter(|s| s.wants("orders", &inst_type, &inst))
                        .map(|s| json!({"arg": s.arg, "data": [data]}).to_string())
                        .collect();
                    // "WS / Positions channel": pushed when a fill moves the position.
                    if inst_type == "SWAP" && r.execution_type == bw::ExecutionType::Trade {
                        out.extend(position_pushes(&o, &subs, Some(&inst)));
                    }
                    out
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
            },
            sh = shifted.recv() => match sh {
                Ok(()) if logged_in => position_pushes(&o, &subs, None),
                Ok(()) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    // "Overview": a 'ping' text is answered with 'pong'.
                    if t.as_str() == "ping" {
                        vec!["pong".to_string()]
                    } else {
                        let before = subs.len();
                        let mut out =
                            vec![private_op(&o, &conn_id, &mut logged_in, &mut subs, t.as_str())];
                        // "WS / Positions channel": an initial snapshot on subscribing.
                        if subs.len() > before
                            && let Some(s) = subs.last()
                            && s.channel == "positions"
                        {
                            out.extend(position_pushes(&o, std::slice::from_ref(s), None));
                        }
                        out
                    }
                }
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

fn ws_error(id: &Option<Value>, code: i64, msg: &str, conn_id: &str) -> String {
    let mut v = json!({"event": "error", "code": code.to_string(), "msg": msg, "connId": conn_id});
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v.to_string()
}

/// `login` ("WebSocket" > "Login": sign = base64(HMAC-SHA256(secret, timestamp + 'GET' +
/// '/users/self/verify')), timestamp in seconds, "The request will expire 30 seconds after
/// the timestamp"), `subscribe` / `unsubscribe` to `orders` (after login: else 60011).
fn private_op(
    o: &Okx,
    conn_id: &str,
    logged_in: &mut bool,
    subs: &mut Vec<Sub>,
    text: &str,
) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return ws_error(
            &None,
            ws_code::INVALID_REQUEST,
            &format!("Invalid request: {text}"),
            conn_id,
        );
    };
    let id = v.get("id").cloned();
    let op = v["op"].as_str().unwrap_or("");
    let args = v["args"].as_array().cloned().unwrap_or_default();
    match op {
        "login" => {
            let a = args.first().cloned().unwrap_or(Value::Null);
            let field = |k: &str| a[k].as_str().unwrap_or("").to_string();
            let Some(signer) = o.keys.get(&field("apiKey")) else {
                return ws_error(&id, ws_code::INVALID_KEY, "Invalid apiKey", conn_id);
            };
            if !signer.passphrase_matches(&field("passphrase")) {
                return ws_error(&id, ws_code::WRONG_PASSPHRASE, "Wrong passphrase", conn_id);
            }
            let ts = field("timestamp");
            let Ok(secs) = ts.trim().parse::<i64>() else {
                return ws_error(
                    &id,
                    ws_code::INVALID_TIMESTAMP,
                    "Invalid timestamp",
                    conn_id,
                );
            };
            if (o.s.now_ms() / 1000 - secs).abs() > TIMESTAMP_WINDOW_MS / 1000 {
                return ws_error(
                    &id,
                    ws_code::TIMESTAMP_EXPIRED,
                    "Timestamp request expired",
                    conn_id,
                );
            }
            if !signer.verify(
                &ts,
                SignMethod::Get,
                "/users/self/verify",
                "",
                &field("sign"),
            ) {
                return ws_error(&id, ws_code::INVALID_SIGN, "Invalid sign", conn_id);
            }
            *logged_in = true;
            let mut r = json!({"event": "login", "code": "0", "msg": "", "connId": conn_id});
            if let Some(id) = &id {
                r["id"] = id.clone();
            }
            r.to_string()
        }
        "subscribe" | "unsubscribe" => {
            if !*logged_in {
                return ws_error(&id, ws_code::PLEASE_LOG_IN, "Please log in", conn_id);
            }
            let Some(arg) = args.first().cloned() else {
                return ws_error(
                    &id,
                    ws_code::INVALID_REQUEST,
                    &format!("Invalid request: {text}"),
                    conn_id,
                );
            };
            let channel = arg["channel"].as_str().unwrap_or("");
            let inst_type = arg["instType"].as_str().unwrap_or("");
            let known = match channel {
                "orders" => matches!(inst_type, "SPOT" | "SWAP" | "ANY"),
                "positions" => matches!(inst_type, "SWAP" | "ANY"),
                _ => false,
            };
            if !known {
                return ws_error(
                    &id,
                    ws_code::NO_CHANNEL,
                    &format!(
                        "Wrong URL or channel:{channel},instType:{inst_type} doesn't exist. (pit emulate okx: orders SPOT, SWAP or ANY; positions SWAP or ANY)"
                    ),
                    conn_id,
                );
            }
            let inst_id = arg["instId"].as_str().map(str::to_string);
            subs.retain(|s| s.arg != arg);
            if op == "subscribe" {
                subs.push(Sub {
                    arg: arg.clone(),
                    channel: channel.to_string(),
                    inst_type: inst_type.to_string(),
                    inst_id,
                });
            }
            let mut r = json!({"event": op, "arg": arg, "connId": conn_id});
            if let Some(id) = &id {
                r["id"] = id.clone();
            }
            r.to_string()
        }
        other => ws_error(
            &id,
            ws_code::INVALID_REQUEST,
            &format!("Invalid request: op {other}"),
            conn_id,
        ),
    }
}

/// An `executionReport` of the core as the `orders` channel's data ("WS / Order channel"):
/// the order's state, and for a trade the fill (`fillPx`, `fillSz`, `tradeId`, `fillFee`,
/// `fillFeeCcy`, `fillTime`, `execType`); `fee` the order's fees so far (negative).
fn order_push(o: &Okx, r: &bw::ExecutionReport) -> Value {
    let cl = if r.orig_client_order_id.is_empty() {
        r.client_order_id.clone()
    } else {
        r.orig_client_order_id.clone()
    };
    let anonymous = o.st().anonymous.contains(&r.order_id);
    let trade = r.execution_type == bw::ExecutionType::Trade;
    let fee: Decimal = {
        let mut ex = o.s.exchange();
        let now_ns = o.s.now_ns();
        order_fills(&mut ex, &r.symbol, r.order_id, now_ns)
            .iter()
            .filter(|t| !trade || t.id as i64 <= r.trade_id)
            .map(|t| t.commission)
            .sum()
    };
    let q = bw::QueriedOrder {
        symbol: r.symbol.clone(),
        order_id: r.order_id,
        order_list_id: -1,
        client_order_id: cl.clone(),
        price: r.price,
        orig_qty: r.quantity,
        executed_qty: r.cumulative_qty,
        cummulative_quote_qty: r.cumulative_quote_qty,
        status: r.order_status,
        time_in_force: r.time_in_force,
        order_type: r.order_type,
        side: r.side,
        stop_price: None,
        iceberg_qty: None,
        time: r.order_time,
        update_time: r.transaction_time,
        is_working: r.is_working,
        working_time: r.working_time,
        orig_quote_order_qty: Decimal::ZERO,
        self_trade_prevention_mode: None,
    };
    let fee_ccy = r.commission_asset.clone().unwrap_or_default();
    let mut v = order_json(o, &q, &[]);
    v["clOrdId"] = json!(if anonymous { String::new() } else { cl });
    v["fee"] = json!(num(-fee));
    v["feeCcy"] = json!(fee_ccy);
    v["code"] = json!("0");
    v["msg"] = json!("");
    if trade {
        v["fillPx"] = json!(num(r.last_price));
        v["fillSz"] = json!(num(o.sz_of(&r.symbol, r.last_qty)));
        v["tradeId"] = json!(r.trade_id.to_string());
        v["fillTime"] = json!(r.transaction_time.to_string());
        v["fillFee"] = json!(num(-r.commission));
        v["fillFeeCcy"] = json!(fee_ccy);
        v["execType"] = json!(if r.is_maker { "M" } else { "T" });
    } else {
        v["fillFee"] = json!("0");
        v["fillFeeCcy"] = json!("");
        v["execType"] = json!("");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_follow_the_docs() {
        assert!(valid_cl_ord_id("b15"));
        assert!(valid_cl_ord_id("oktswap6"));
        assert!(valid_cl_ord_id("123"));
        assert!(valid_cl_ord_id(&"a".repeat(32)));
        assert!(!valid_cl_ord_id(&"a".repeat(33)));
        assert!(!valid_cl_ord_id(""));
        assert!(!valid_cl_ord_id("pit-1"));
        assert!(!valid_cl_ord_id("pit_1"));
    }

    #[test]
    fn the_documented_timestamp_parses_to_its_milliseconds() {
        assert_eq!(
            parse_timestamp("2020-12-08T09:08:57.715Z"),
            Some(1_607_418_537_715)
        );
        assert_eq!(parse_timestamp("1607418537715"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn rate_limits_are_the_pages() {
        assert_eq!(limit_of("/api/v5/trade/order"), (60, 2000));
        assert_eq!(limit_of("/api/v5/trade/cancel-all-after"), (1, 1000));
        assert_eq!(limit_of("/api/v5/account/balance"), (10, 2000));
    }
}
