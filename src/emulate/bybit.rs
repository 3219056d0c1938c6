//! `pit emulate bybit`: a Bybit v5 front-end on the emulator's exchange core (the same
//! simulated market, paper fill model, balances and faults as `pit emulate binance`; see
//! [`super::exchange`]), speaking the subset of Bybit v5 that pit's Bybit client uses, with
//! the very wire types and signing code of `venue::exchanges::bybit::api`.
//!
//! * REST, categories `spot` (balances) and `linear` (USDT perpetuals on the same books,
//!   one-way mode, `positionIdx` 0: a signed position per symbol moved by fills, the fee
//!   and realised PnL settled in USDT, `reduceOnly` refused on the position's side with
//!   110017 and cut to the position's size, no margin emulated); any other category is
//!   refused with 10001. Each category lists, cancels and pushes its own orders only:
//!   `POST /v5/order/create`, `/v5/order/cancel`, `/v5/order/cancel-all`,
//!   `/v5/order/disconnected-cancel-all`; `GET /v5/order/realtime`, `/v5/execution/list`,
//!   `/v5/account/wallet-balance`, `/v5/position/list` (empty for spot; linear: one
//!   position per symbol, with its `seq`: the last linear trade id of the symbol, the
//!   `seq` of that fill's execution, `-1` if none), `POST /emulator/bybit/position`
//!   (`SYMBOL=SIZE`: a position moved behind the account's back, its `seq` unchanged,
//!   pushed on `position.linear`), `POST /emulator/bybit/position-mode`
//!   (`SYMBOL=hedge|one-way`: the symbol in hedge mode lists two positions, `positionIdx`
//!   1 and 2, and refuses an order without one of them, 10001 "position idx not match
//!   position mode"; orders on hedge positions are not emulated),
//!   `/v5/market/instruments-info`, `/v5/market/time`. Answers are the v5 envelope
//!   (`retCode`, `retMsg`, `result`, `retExtInfo`, `time`) with Bybit's codes.
//! * Every signed request is verified as the guide says
//!   (<https://bybit-exchange.github.io/docs/v5/guide>, Authentication): `X-BAPI-API-KEY`
//!   known (else 10003), `X-BAPI-SIGN` over timestamp + key + recv window + query or body
//!   (else 10004), and "server_time - recv_window <= timestamp < server_time + 1000"
//!   (else 10002).
//! * Rate limits ("Rate Limit Rules"): a rolling one-second count per endpoint (20/s for
//!   spot create/cancel/cancel-all, 50/s for the rest), reported in `X-Bapi-Limit`,
//!   `X-Bapi-Limit-Status` and `X-Bapi-Limit-Reset-Timestamp`; over it, 10006 "Too many
//!   visits!". The faults of `faults.rs` map to Bybit's answers: `429=N` → 10006, `418=S`
//!   → HTTP 403 "access too frequent", `5xx=N` → 10016 "Server error." (a new order is
//!   executed first), `lose-response=N` → the connection closed without an answer,
//!   `partial-fill-on-cancel=N` as on Binance; and Bybit's own: `exec-late`,
//!   `mute-private`, `query-lag`, `realtime-open-only`, `429-create` (see `faults.rs`).
//!   `GET /v5/order/history` lists an order by `orderId` / `orderLinkId` (open or closed);
//!   `bybit_creates` in `GET /emulator/state` counts "Place Order" requests per
//!   `orderLinkId`.
//! * `orderLinkId` is "always unique": a second order with a used one gets 170141
//!   "Duplicate clientOrderId", open or not.
//! * The public stream `/v5/public/spot`: the simulated market as `orderbook.{depth}.{symbol}`
//!   and `publicTrade.{symbol}` (see [`public`]).
//! * The private stream `/v5/private`: `auth` (HMAC of `GET/realtime{expires}`), then
//!   `subscribe` to `order`, `execution` (all-in-one, or the categorised `order.spot`,
//!   `execution.spot`, pushed under the name subscribed), `position`, `wallet`,
//!   `dcp.spot` / `dcp.future` / `dcp.option`; `ping` answered with `pong` as the "Connect" page shows for private
//!   channels. Orders and executions of the account are pushed as `order` and `execution`;
//!   a linear position when it changes and, as Bybit does, on every create, amend and
//!   cancel of a linear order whether it changed or not.
//! * Disconnection protection ("Set Disconnect Cancel All" and the private "Dcp" topic):
//!   once a key has set a `timeWindow` for a product and a private connection of that key
//!   subscribed its `dcp` topic, the emulator cancels every open order of the account when
//!   all such connections have been closed longer than the window ("The timing starts from
//!   the first disconnection. If the Bybit server does not receive the reconnection from
//!   the client for more than 10 (default) seconds and resumes the heartbeat "ping" ...",
//!   <https://bybit-exchange.github.io/docs/v5/order/dcp>; "for those private connections
//!   subscribing "dcp" topic are all dead, then DCP will be triggered",
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/dcp>). A connection left
//!   open with no `ping` is not dead: Bybit cuts such a connection only after 10 minutes
//!   with no ping-pong and no data ("Connect", "Customise Private Connection Alive Time"),
//!   a cut not emulated (a silent socket stays open here, so a frozen client's orders are
//!   never cancelled by DCP: the emulator is no more forgiving than Bybit). It is re-armed
//!   when a connection of the key with the topic is open and pings again.
//!   `GET /emulator/state` shows each key's DCP state under `bybit_dcp`; "Get DCP Info"
//!   (`GET /v5/account/query-dcp-info`) lists the key's windows (`dcp-ignored`: the set
//!   is answered with success and nothing is armed).
//!
//! Divergences, kept small and named: a `PostOnly` order that would take is refused with
//! 170130 here (Bybit accepts and then cancels it); `FOK` is refused; spot market buys must
//! say `marketUnit: "baseCoin"` (Bybit's default is the quote coin).

use super::exchange::Refusal;
use super::faults::Faults;
use super::shared::{ConnKill, Shared};
use crate::venue::exchanges::binance::api::errors::{code as bcode, msg as bmsg};
use crate::venue::exchanges::binance::api::wire as bw;
use crate::venue::exchanges::bybit::api::errors::code;
use crate::venue::exchanges::bybit::api::sign::{Payload, Signer};
use crate::venue::exchanges::bybit::api::wire::{
    CancelAll, CancelAllResult, CancelOrder, Category, CoinBalance, CreateOrder, DcpInfo, DcpInfos,
    DcpProduct, Envelope, Execution, Instrument, LotSizeFilter, Order, OrderIds, OrderStatus,
    OrderType, Page, Position, PriceFilter, SetDcp, Side, TimeInForce, WalletAccount, WsOp,
};
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
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// The Bybit front-end's state, next to the shared core.
pub struct Bybit {
    pub s: Arc<Shared>,
    keys: BTreeMap<String, Signer>,
    st: Mutex<BState>,
    next_conn: AtomicU64,
}

#[derive(Default)]
struct BState {
    /// Every `orderLinkId` ever placed ("always unique").
    link_ids: BTreeSet<String>,
    /// "Place Order" requests that reached the emulator (signed, readable), per
    /// `orderLinkId`, refused duplicates included: what a test counts to see that pit
    /// never sent an order twice (`bybit_creates` in `GET /emulator/state`).
    creates: BTreeMap<String, u64>,
    /// Request times (ms) per endpoint, the last second.
    hits: BTreeMap<String, VecDeque<i64>>,
    /// `timeWindow` per (key, product).
    dcp: BTreeMap<(String, DcpProduct), u32>,
    /// Private connections.
    conns: BTreeMap<u64, Conn>,
    /// Per (key, product): whether DCP fired during the current outage.
    fired: BTreeMap<(String, DcpProduct), bool>,
    /// How many times DCP cancelled, per key.
    fired_total: BTreeMap<String, u64>,
    /// Every "Place Order" that carried `reduceOnly`, per `orderLinkId`: its category
    /// and the flag as received (`bybit_reduce_only` in `GET /emulator/state`).
    reduce_only_sent: BTreeMap<String, (Category, bool)>,
    /// The linear orders placed reduce-only (accepted), by `orderLinkId`.
    reduce_only: BTreeSet<String>,
    /// Linear symbols in hedge mode (`POST /emulator/bybit/position-mode`); the others
    /// are in one-way mode, Bybit's default.
    hedge: BTreeSet<String>,
}

struct Conn {
    key: String,
    dcp: BTreeSet<DcpProduct>,
    last_ping: Instant,
    closed_at: Option<Instant>,
}

fn env_json(e: &Envelope) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

/// A v5 answer with the limit headers.
fn answer(status: u16, e: &Envelope, limit: Option<(u64, u64, i64)>) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        env_json(e),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some((limit, left, reset)) = limit {
        h.insert("X-Bapi-Limit", HeaderValue::from(limit));
        h.insert("X-Bapi-Limit-Status", HeaderValue::from(left));
        h.insert("X-Bapi-Limit-Reset-Timestamp", HeaderValue::from(reset));
    }
    r
}

type BAnswer = Result<Value, (i64, String)>;

fn fail<T>(code: i64, msg: impl Into<String>) -> Result<T, (i64, String)> {
    Err((code, msg.into()))
}

/// A refusal of the Binance-shaped core, in Bybit's spot codes (error page, "Spot").
fn refusal((_, e): Refusal) -> (i64, String) {
    let m = e.msg.as_str();
    match e.code {
        bcode::BAD_SYMBOL => (code::PARAMS, "params error: symbol invalid".into()),
        bcode::NEW_ORDER_REJECTED if m == bmsg::INSUFFICIENT_BALANCE => {
            (code::SPOT_BALANCE, "Balance insufficient".into())
        }
        bcode::NEW_ORDER_REJECTED if m == bmsg::DUPLICATE_ORDER => {
            (code::SPOT_DUPLICATE_LINK_ID, "Duplicate clientOrderId".into())
        }
        bcode::NEW_ORDER_REJECTED if m == bmsg::WOULD_TAKE => (
            170130,
            "Data sent for paramter 'timeInForce' is not valid. (pit emulate: a PostOnly order that would take)".into(),
        ),
        bcode::CANCEL_REJECTED | bcode::NO_SUCH_ORDER => {
            (code::SPOT_ORDER_NOT_EXIST, "Order does not exist.".into())
        }
        _ if m.contains("NOTIONAL") => (code::SPOT_VALUE_MIN, "Order value exceeded lower limit".into()),
        _ if m.contains("LOT_SIZE") => (170137, "Order volume decimal too long".into()),
        _ if m.contains("PRICE_FILTER") => (170134, "Order price decimal too long.".into()),
        _ => (code::PARAMS, format!("params error: {m}")),
    }
}

/// The per-second limit of an endpoint (rate-limit table: spot create, cancel and
/// cancel-all 20/s; order queries 50/s; pit's emulator uses 50/s for every other one).
fn limit_of(path: &str) -> u64 {
    match path {
        "/v5/order/create" | "/v5/order/cancel" | "/v5/order/cancel-all" => 20,
        _ => 50,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrdersQ {
    category: String,
    symbol: Option<String>,
    order_link_id: Option<String>,
    order_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecQ {
    category: String,
    symbol: Option<String>,
    order_link_id: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// "Get Trade History"'s window (<https://bybit-exchange.github.io/docs/v5/order/execution>):
/// neither time given, the last 7 days; only `startTime`, it and the next 7 days; only
/// `endTime`, the 7 days before it; both, refused past 7 days.
fn exec_window(start: Option<i64>, end: Option<i64>, now_ms: i64) -> Result<(i64, i64), String> {
    const WEEK: i64 = 7 * 86_400_000;
    let (from, to) = match (start, end) {
        (None, None) => (now_ms - WEEK, now_ms),
        (Some(s), None) => (s, s + WEEK),
        (None, Some(e)) => (e - WEEK, e),
        (Some(s), Some(e)) => (s, e),
    };
    if to < from || to - from > WEEK {
        return Err("params error: endTime - startTime must be within 7 days".into());
    }
    Ok((from, to))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatQ {
    category: String,
    symbol: Option<String>,
}

impl Bybit {
    pub fn new(s: Arc<Shared>, keys: BTreeMap<String, Signer>) -> Bybit {
        Bybit {
            s,
            keys,
            st: Mutex::new(BState::default()),
            next_conn: AtomicU64::new(1),
        }
    }

    fn st(&self) -> MutexGuard<'_, BState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request; `(limit, left, reset_ms)`, or `Err` with the reset time when over.
    fn count(&self, path: &str, now_ms: i64) -> Result<(u64, u64, i64), (u64, i64)> {
        let limit = limit_of(path);
        let mut st = self.st();
        let q = st.hits.entry(path.to_string()).or_default();
        while q.front().is_some_and(|t| *t <= now_ms - 1000) {
            q.pop_front();
        }
        if q.len() as u64 >= limit {
            let reset = q.front().map(|t| t + 1000).unwrap_or(now_ms);
            return Err((limit, reset));
        }
        q.push_back(now_ms);
        Ok((limit, limit - q.len() as u64, now_ms))
    }

    /// The guide's checks; the key on success.
    fn authenticate(
        &self,
        h: &HeaderMap,
        payload: Payload<'_>,
        now_ms: i64,
    ) -> Result<(), (i64, String)> {
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok());
        let Some(signer) = get("X-BAPI-API-KEY").and_then(|k| self.keys.get(k)) else {
            return fail(code::INVALID_KEY, "API key is invalid.");
        };
        let ts: Option<i64> = get("X-BAPI-TIMESTAMP").and_then(|v| v.parse().ok());
        let rw: i64 = match get("X-BAPI-RECV-WINDOW") {
            None => 5000,
            Some(v) => match v.parse() {
                Ok(v) => v,
                Err(_) => return fail(code::PARAMS, "params error: recv_window"),
            },
        };
        let Some(ts) = ts else {
            return fail(code::PARAMS, "params error: X-BAPI-TIMESTAMP");
        };
        if !(now_ms - rw <= ts && ts < now_ms + 1000) {
            return fail(
                code::TIME_WINDOW,
                format!(
                    "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],server_timestamp[{now_ms}],recv_window[{rw}]"
                ),
            );
        }
        let sign = get("X-BAPI-SIGN").unwrap_or("");
        if !signer.verify(ts as u64, rw as u64, payload, sign) {
            return fail(code::ERROR_SIGN, "error sign! origin_string[...]");
        }
        Ok(())
    }

    fn api_key_of<'a>(&self, h: &'a HeaderMap) -> Option<&'a str> {
        h.get("X-BAPI-API-KEY").and_then(|v| v.to_str().ok())
    }
}

/// The categories emulated: `spot` (balances) and `linear` (USDT perpetuals, one-way mode,
/// a position per symbol).
fn category_of(category: &str) -> Result<Category, (i64, String)> {
    match category {
        "spot" => Ok(Category::Spot),
        "linear" => Ok(Category::Linear),
        other => fail(
            code::PARAMS,
            format!(
                "params error: category {other} is not emulated (pit emulate bybit keeps spot and linear)"
            ),
        ),
    }
}

/// An order of the core belongs to `cat`.
fn in_category(ex: &super::exchange::Exchange, order_id: u64, cat: Category) -> bool {
    ex.is_linear(order_id) == (cat == Category::Linear)
}

fn to_value<T: serde::Serialize>(v: T) -> BAnswer {
    serde_json::to_value(v).map_err(|e| (code::SERVER_ERROR, e.to_string()))
}

/// A core order as Bybit lists it, in `cat`, with the `reduceOnly` it was placed with.
fn order_of(q: &bw::QueriedOrder, cat: Category, reduce_only: bool) -> Order {
    let (order_type, tif) = match q.order_type {
        bw::OrderType::LimitMaker => (OrderType::Limit, TimeInForce::PostOnly),
        bw::OrderType::Market => (OrderType::Market, TimeInForce::Ioc),
        _ => (
            OrderType::Limit,
            match q.time_in_force {
                bw::TimeInForce::Gtc => TimeInForce::Gtc,
                bw::TimeInForce::Ioc => TimeInForce::Ioc,
                bw::TimeInForce::Fok => TimeInForce::Fok,
            },
        ),
    };
    let status = status_of(q.status, q.executed_qty, cat);
    let avg = (q.executed_qty > Decimal::ZERO).then(|| {
        (q.cummulative_quote_qty / q.executed_qty)
            .round_dp(8)
            .normalize()
    });
    Order {
        category: Some(cat),
        order_id: q.order_id.to_string(),
        order_link_id: q.client_order_id.clone(),
        symbol: q.symbol.clone(),
        price: (order_type == OrderType::Limit).then(|| q.price.normalize()),
        qty: q.orig_qty.normalize(),
        side: side_of(q.side),
        order_status: status,
        order_type,
        time_in_force: Some(tif),
        leaves_qty: Some(if status.is_open() {
            (q.orig_qty - q.executed_qty).normalize()
        } else {
            Decimal::ZERO
        }),
        cum_exec_qty: Some(q.executed_qty.normalize()),
        avg_price: avg,
        reduce_only,
        reject_reason: "EC_NoError".into(),
        cancel_type: if matches!(
            status,
            OrderStatus::Cancelled | OrderStatus::PartiallyFilledCanceled
        ) {
            "CancelByUser".into()
        } else {
            "UNKNOWN".into()
        },
        created_time: Some(q.time.max(0) as u64),
        updated_time: Some(q.update_time.max(0) as u64),
    }
}

fn side_of(s: bw::Side) -> Side {
    match s {
        bw::Side::Buy => Side::Buy,
        bw::Side::Sell => Side::Sell,
    }
}

fn status_of(s: bw::OrderStatus, executed: Decimal, cat: Category) -> OrderStatus {
    use bw::OrderStatus as B;
    match s {
        B::New | B::PendingNew | B::PendingCancel => OrderStatus::New,
        B::PartiallyFilled => OrderStatus::PartiallyFilled,
        B::Filled => OrderStatus::Filled,
        B::Rejected => OrderStatus::Rejected,
        // "PartiallyFilledCanceled: Only spot has this order status".
        B::Canceled | B::Expired | B::ExpiredInMatch
            if executed > Decimal::ZERO && cat == Category::Spot =>
        {
            OrderStatus::PartiallyFilledCanceled
        }
        B::Canceled | B::Expired | B::ExpiredInMatch => OrderStatus::Cancelled,
    }
}

/// An `executionReport` of the core as the private `order` (and, for a trade,
/// `execution`) messages.
fn pushes_of(
    r: &bw::ExecutionReport,
    cat: Category,
    reduce_only: bool,
) -> (Order, Option<Execution>) {
    let link = if r.orig_client_order_id.is_empty() {
        r.client_order_id.clone()
    } else {
        r.orig_client_order_id.clone()
    };
    let q = bw::QueriedOrder {
        symbol: r.symbol.clone(),
        order_id: r.order_id,
        order_list_id: -1,
        client_order_id: link.clone(),
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
    let order = order_of(&q, cat, reduce_only);
    let exec = (r.execution_type == bw::ExecutionType::Trade).then(|| Execution {
        category: Some(cat),
        symbol: r.symbol.clone(),
        order_id: r.order_id.to_string(),
        order_link_id: link,
        side: side_of(r.side),
        exec_id: r.trade_id.to_string(),
        exec_price: r.last_price.normalize(),
        exec_qty: r.last_qty.normalize(),
        exec_fee: Some(r.commission.normalize()),
        fee_currency: r.commission_asset.clone().unwrap_or_default(),
        exec_type: "Trade".into(),
        exec_time: Some(r.transaction_time.max(0) as u64),
        is_maker: r.is_maker,
        leaves_qty: Some((r.quantity - r.cumulative_qty).normalize()),
        seq: Some(r.trade_id),
    });
    (order, exec)
}

/// Every `/v5/...` request.
pub async fn rest(
    State(b): State<Arc<Bybit>>,
    method: Method,
    uri: Uri,
    hdrs: HeaderMap,
    kill: Option<axum::Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    // `create-late=D`: the create reaches the matching engine late (a cancel sent
    // meanwhile finds nothing), whether or not the client still waits for the answer (a
    // client that timed out does not take the order back): run apart from the connection.
    let create_late = {
        let f = b.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.create_late
    };
    if !create_late.is_zero() && method == Method::POST && uri.path() == "/v5/order/create" {
        let late = async move {
            tokio::time::sleep(create_late).await;
            rest_now(b, method, uri, hdrs, kill, body).await
        };
        return tokio::spawn(late)
            .await
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    rest_now(b, method, uri, hdrs, kill, body).await
}

/// A `/v5/...` request, answered now.
async fn rest_now(
    b: Arc<Bybit>,
    method: Method,
    uri: Uri,
    hdrs: HeaderMap,
    kill: Option<axum::Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let s = b.s.clone();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    let now_ms = s.now_ms();
    let (slow, banned, limited, retry_s, create_reset) = {
        let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        let banned = f.ban_left(Instant::now()).is_some();
        let limited = !banned && Faults::take(&mut f.rate_limited);
        // `429-create=S`: "Place Order" alone is over its limit until the reset.
        let create_reset = f
            .create_limited_until
            .map(|u| u.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero() && method == Method::POST && path == "/v5/order/create")
            .map(|left| now_ms + left.as_millis() as i64);
        (f.slow, banned, limited, f.retry_after(), create_reset)
    };
    let response = if banned {
        // Rate-limit page: "403, access too frequent".
        let mut r = (StatusCode::FORBIDDEN, "access too frequent").into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        r
    } else if let Some(reset) = create_reset {
        answer(
            200,
            &Envelope::error(
                code::TOO_MANY_VISITS,
                "Too many visits!",
                now_ms.max(0) as u64,
            ),
            Some((limit_of(&path), 0, reset)),
        )
    } else if limited {
        answer(
            200,
            &Envelope::error(
                code::TOO_MANY_VISITS,
                "Too many visits!",
                now_ms.max(0) as u64,
            ),
            Some((limit_of(&path), 0, now_ms + retry_s as i64 * 1000)),
        )
    } else {
        match b.count(&path, now_ms) {
            Err((limit, reset)) => answer(
                200,
                &Envelope::error(
                    code::TOO_MANY_VISITS,
                    "Too many visits!",
                    now_ms.max(0) as u64,
                ),
                Some((limit, 0, reset)),
            ),
            Ok(lim) => {
                let server_error = {
                    let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                    Faults::take(&mut f.server_error)
                };
                let is_new_order = method == Method::POST && path == "/v5/order/create";
                let r = route(&b, &method, &path, &query, &body, &hdrs);
                let lose = is_new_order && r.is_ok() && {
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
                let t = now_ms.max(0) as u64;
                let e = match r {
                    _ if server_error => Envelope::error(code::SERVER_ERROR, "Server error.", t),
                    Ok(v) => Envelope::ok(v, t),
                    Err((c, m)) => Envelope::error(c, &m, t),
                };
                answer(200, &e, Some(lim))
            }
        }
    };
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    response
}

fn route(
    b: &Bybit,
    method: &Method,
    path: &str,
    query: &str,
    body: &str,
    h: &HeaderMap,
) -> BAnswer {
    let s = &b.s;
    let now_ns = s.now_ns();
    let now_ms = now_ns / 1_000_000;
    let q = |e: serde_urlencoded::de::Error| (code::PARAMS, format!("params error: {e}"));
    let j = |e: serde_json::Error| (code::PARAMS, format!("params error: {e}"));
    // Public.
    match (method.as_str(), path) {
        ("GET", "/v5/market/time") => {
            return Ok(json!({
                "timeSecond": (now_ms / 1000).to_string(),
                "timeNano": (now_ns).to_string(),
            }));
        }
        ("GET", "/v5/market/instruments-info") => {
            let p: CatQ = serde_urlencoded::from_str(query).map_err(q)?;
            let cat = category_of(&p.category)?;
            let ex = s.exchange();
            let list: Vec<Instrument> = ex
                .specs()
                .iter()
                .filter(|sp| p.symbol.as_deref().is_none_or(|x| x == sp.symbol))
                .map(|sp| Instrument {
                    symbol: sp.symbol.clone(),
                    status: "Trading".into(),
                    base_coin: sp.base.clone(),
                    quote_coin: sp.quote.clone(),
                    price_filter: PriceFilter { tick_size: sp.tick },
                    lot_size_filter: match cat {
                        // "Get Instruments Info", linear: `maxOrderQty`, `minOrderQty`,
                        // `qtyStep`, `minNotionalValue`
                        // (<https://bybit-exchange.github.io/docs/v5/market/instrument>).
                        Category::Linear => LotSizeFilter {
                            qty_step: Some(sp.lot),
                            min_order_qty: Some(sp.lot),
                            max_order_qty: Some(Decimal::from(LINEAR_MAX_QTY)),
                            min_notional_value: Some(sp.min_notional),
                            ..LotSizeFilter::default()
                        },
                        _ => LotSizeFilter {
                            base_precision: Some(sp.lot),
                            min_order_amt: Some(sp.min_notional),
                            ..LotSizeFilter::default()
                        },
                    },
                })
                .collect();
            return to_value(Page {
                category: Some(cat),
                list,
                next_page_cursor: String::new(),
            });
        }
        _ => {}
    }
    let payload = if method == Method::GET {
        Payload::Query(query)
    } else {
        Payload::Body(body)
    };
    b.authenticate(h, payload, now_ms)?;
    let key = b.api_key_of(h).unwrap_or_default().to_string();
    match (method.as_str(), path) {
        ("POST", "/v5/order/create") => {
            let o: CreateOrder = serde_json::from_str(body).map_err(j)?;
            {
                let mut st = b.st();
                *st.creates.entry(o.order_link_id.clone()).or_default() += 1;
                if let Some(r) = o.reduce_only {
                    st.reduce_only_sent
                        .insert(o.order_link_id.clone(), (o.category, r));
                }
            }
            let cat = category_of(o.category.as_str())?;
            place(b, o, cat, now_ns)
        }
        ("POST", "/v5/order/cancel") => {
            let c: CancelOrder = serde_json::from_str(body).map_err(j)?;
            let cat = category_of(c.category.as_str())?;
            let oid = c.order_id.as_deref().and_then(|x| x.parse::<u64>().ok());
            if oid.is_none() && c.order_link_id.is_none() {
                return fail(
                    code::PARAMS,
                    "params error: orderId or orderLinkId is required",
                );
            }
            let partial = {
                let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                Faults::take(&mut f.partial_fill_on_cancel)
            };
            let mut ex = s.exchange();
            // An order of the other category is not found in this one.
            if let Ok(found) = ex.query(&c.symbol, oid, c.order_link_id.as_deref(), now_ns)
                && !in_category(&ex, found.order_id, cat)
            {
                return fail(not_exist(cat), "Order does not exist.");
            }
            let r = ex
                .cancel(
                    &c.symbol,
                    oid,
                    c.order_link_id.as_deref(),
                    None,
                    partial,
                    now_ns,
                )
                .map_err(|r| cat_refusal(r, cat))?;
            to_value(OrderIds {
                order_id: r.order_id.to_string(),
                order_link_id: r.orig_client_order_id,
            })
        }
        ("POST", "/v5/order/cancel-all") => {
            let c: CancelAll = serde_json::from_str(body).map_err(j)?;
            let cat = category_of(c.category.as_str())?;
            let mut partial = || {
                let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                Faults::take(&mut f.partial_fill_on_cancel)
            };
            to_value(cancel_all(
                s,
                c.symbol.as_deref(),
                cat,
                &mut partial,
                now_ns,
            ))
        }
        ("POST", "/v5/order/disconnected-cancel-all") => {
            let d: SetDcp = serde_json::from_str(body).map_err(j)?;
            let d = SetDcp::new(d.product, d.time_window).map_err(|e| (code::PARAMS, e))?;
            let ignored = {
                let f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                f.dcp_ignored
            };
            if ignored {
                // `dcp-ignored`: success said, nothing armed (as for an account Bybit has
                // not enabled DCP for, whose "Get DCP Info" "always returns empty").
                tracing::info!("fault: DCP set answered, not armed");
                return Ok(Value::Null);
            }
            let mut st = b.st();
            st.dcp.insert((key.clone(), d.product), d.time_window);
            tracing::info!(product = ?d.product, window = d.time_window, "bybit DCP set");
            Ok(Value::Null)
        }
        ("GET", "/v5/account/query-dcp-info") => {
            let st = b.st();
            let infos: Vec<DcpInfo> = st
                .dcp
                .iter()
                .filter(|((k, _), _)| *k == key)
                .map(|((_, product), window)| DcpInfo {
                    product: serde_json::to_value(product)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    dcp_status: "ON".into(),
                    time_window: window.to_string(),
                })
                .collect();
            to_value(DcpInfos { dcp_infos: infos })
        }
        ("GET", "/v5/order/realtime") | ("GET", "/v5/order/history") => {
            let history = path == "/v5/order/history";
            let p: OrdersQ = serde_urlencoded::from_str(query).map_err(q)?;
            let cat = category_of(&p.category)?;
            let (lag, open_only) = {
                let f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                (f.query_lag, f.realtime_open_only && !history)
            };
            // `query-lag`: an order is listed only `lag` after it was placed.
            let listed_by = now_ms - lag.as_millis() as i64;
            let shown = |o: &Order| {
                o.created_time.is_none_or(|t| t as i64 <= listed_by)
                    && (!open_only || o.order_status.is_open())
            };
            let reduce_only = b.st().reduce_only.clone();
            let mut ex = s.exchange();
            let by_id = p.order_id.as_deref().and_then(|x| x.parse::<u64>().ok());
            if history && by_id.is_none() && p.order_link_id.is_none() {
                return fail(
                    code::PARAMS,
                    "params error: pit emulate lists order history by orderId or orderLinkId only",
                );
            }
            let list: Vec<Order> = if by_id.is_some() || p.order_link_id.is_some() {
                // By id: open or closed ("`openOnly` param will be ignored").
                let symbols: Vec<String> = match &p.symbol {
                    Some(x) => vec![x.clone()],
                    None => ex.specs().iter().map(|sp| sp.symbol.clone()).collect(),
                };
                let found: Vec<bw::QueriedOrder> = symbols
                    .iter()
                    .filter_map(|sym| {
                        ex.query(sym, by_id, p.order_link_id.as_deref(), now_ns)
                            .ok()
                    })
                    .collect();
                found
                    .into_iter()
                    .filter(|qo| in_category(&ex, qo.order_id, cat))
                    .map(|qo| {
                        let r = reduce_only.contains(&qo.client_order_id);
                        order_of(&qo, cat, r)
                    })
                    .filter(|o| shown(o))
                    .collect()
            } else {
                ex.open_orders(p.symbol.as_deref(), now_ns)
                    .map_err(refusal)?
                    .iter()
                    .filter(|qo| in_category(&ex, qo.order_id, cat))
                    .map(|qo| order_of(qo, cat, reduce_only.contains(&qo.client_order_id)))
                    .collect()
            };
            to_value(Page {
                category: Some(cat),
                list,
                next_page_cursor: String::new(),
            })
        }
        ("GET", "/v5/execution/list") => {
            let p: ExecQ = serde_urlencoded::from_str(query).map_err(q)?;
            let cat = category_of(&p.category)?;
            let (from, to) =
                exec_window(p.start_time, p.end_time, s.now_ms()).map_err(|e| (code::PARAMS, e))?;
            let mut ex = s.exchange();
            let symbols: Vec<String> = match &p.symbol {
                Some(x) => vec![x.clone()],
                None => ex.specs().iter().map(|sp| sp.symbol.clone()).collect(),
            };
            let mut list = Vec::new();
            for sym in symbols {
                let trades = ex.trades_between(&sym, from, to, now_ns).map_err(refusal)?;
                for t in trades {
                    if !in_category(&ex, t.order_id, cat) {
                        continue;
                    }
                    let link = ex
                        .query(&sym, Some(t.order_id), None, now_ns)
                        .map(|o| o.client_order_id)
                        .unwrap_or_default();
                    if p.order_link_id.as_deref().is_some_and(|l| l != link) {
                        continue;
                    }
                    list.push(Execution {
                        category: None,
                        symbol: t.symbol.clone(),
                        order_id: t.order_id.to_string(),
                        order_link_id: link,
                        side: if t.is_buyer { Side::Buy } else { Side::Sell },
                        exec_id: t.id.to_string(),
                        exec_price: t.price.normalize(),
                        exec_qty: t.qty.normalize(),
                        exec_fee: Some(t.commission.normalize()),
                        fee_currency: t.commission_asset.clone(),
                        exec_type: "Trade".into(),
                        exec_time: Some(t.time.max(0) as u64),
                        is_maker: t.is_maker,
                        leaves_qty: None,
                        seq: Some(t.id as i64),
                    });
                }
            }
            // Newest first, as Bybit lists them; `limit` a page ("[1, 100]. Default: 50"),
            // the rest behind `nextPageCursor` (here: how many were listed before).
            list.sort_by(|a, b| {
                b.exec_time
                    .cmp(&a.exec_time)
                    .then(b.exec_id.cmp(&a.exec_id))
            });
            let limit = p.limit.unwrap_or(50).clamp(1, 100) as usize;
            let skip = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
                None => 0,
                Some(c) => c
                    .parse::<usize>()
                    .map_err(|_| (code::PARAMS, "params error: cursor".to_string()))?,
            };
            let next = if skip + limit < list.len() {
                (skip + limit).to_string()
            } else {
                String::new()
            };
            let list: Vec<Execution> = list.into_iter().skip(skip).take(limit).collect();
            to_value(Page {
                category: Some(cat),
                list,
                next_page_cursor: next,
            })
        }
        ("GET", "/v5/account/wallet-balance") => {
            let mut ex = s.exchange();
            let acct = ex.account(now_ns);
            let coin = acct
                .balances
                .iter()
                .map(|bal| CoinBalance {
                    coin: bal.asset.clone(),
                    wallet_balance: Some((bal.free + bal.locked).normalize()),
                    locked: Some(bal.locked.normalize()),
                    equity: Some((bal.free + bal.locked).normalize()),
                })
                .collect();
            Ok(
                json!({ "list": [to_value(WalletAccount { account_type: "UNIFIED".into(), coin })?] }),
            )
        }
        ("GET", "/v5/position/list") => {
            let p: CatQ = serde_urlencoded::from_str(query).map_err(q)?;
            let cat = category_of(&p.category)?;
            if cat == Category::Spot {
                return to_value(Page::<Value> {
                    category: Some(Category::Spot),
                    list: vec![],
                    next_page_cursor: String::new(),
                });
            }
            // "Get Position Info" (<https://bybit-exchange.github.io/docs/v5/position>):
            // linear needs `symbol` or `settleCoin`; one-way mode lists one position per
            // symbol, `side` "" when empty.
            let hedge = b.st().hedge.clone();
            let mut ex = s.exchange();
            ex.advance(now_ns);
            let symbols: Vec<String> = match &p.symbol {
                Some(x) => vec![x.clone()],
                None => ex.specs().iter().map(|sp| sp.symbol.clone()).collect(),
            };
            let list: Vec<Position> = symbols
                .iter()
                .flat_map(|sym| {
                    let seq = position_seq(&mut ex, sym, now_ns);
                    positions_of(sym, ex.position(sym), seq, now_ms, hedge.contains(sym))
                })
                .collect();
            to_value(Page {
                category: Some(Category::Linear),
                list,
                next_page_cursor: String::new(),
            })
        }
        _ => fail(
            code::ROUTE_NOT_FOUND,
            format!("Route not found. (pit emulate: {method} {path})"),
        ),
    }
}

/// The largest linear order (`maxOrderQty`) the emulator lists.
const LINEAR_MAX_QTY: i64 = 100;

/// "Order does not exist" in the category's code (error page: spot 170213, derivatives
/// 110001).
fn not_exist(cat: Category) -> i64 {
    match cat {
        Category::Spot => code::SPOT_ORDER_NOT_EXIST,
        _ => code::ORDER_NOT_EXIST,
    }
}

/// A core refusal in the category's codes.
fn cat_refusal(r: Refusal, cat: Category) -> (i64, String) {
    let (c, m) = refusal(r);
    match (cat, c) {
        (Category::Spot, _) => (c, m),
        (_, code::SPOT_ORDER_NOT_EXIST) => (code::ORDER_NOT_EXIST, "Order does not exist.".into()),
        (_, code::SPOT_DUPLICATE_LINK_ID) => {
            (code::DUPLICATE_LINK_ID, "OrderLinkedID is duplicate".into())
        }
        _ => (c, m),
    }
}

/// A core linear position as "Get Position Info" and the `position` topic list it: one
/// entry, `positionIdx` 0, in one-way mode; in hedge mode two, `positionIdx` 1 ("Buy side
/// of both side mode", the long part) and 2 ("Sell side of both side mode", the short
/// part), each `side` "" while empty (<https://bybit-exchange.github.io/docs/v5/position>).
fn positions_of(
    symbol: &str,
    p: super::exchange::LinearPosition,
    seq: i64,
    now_ms: i64,
    hedge: bool,
) -> Vec<Position> {
    let entry = |size: Decimal, idx: u8| Position {
        category: Some(Category::Linear),
        symbol: symbol.to_string(),
        side: if size > Decimal::ZERO {
            "Buy".into()
        } else if size < Decimal::ZERO {
            "Sell".into()
        } else {
            String::new()
        },
        size: size.abs().normalize(),
        avg_price: Some(p.avg.normalize()),
        position_idx: idx,
        mark_price: None,
        unrealised_pnl: None,
        updated_time: Some(now_ms.max(0) as u64),
        seq: Some(seq),
    };
    if hedge {
        vec![
            entry(p.size.max(Decimal::ZERO), 1),
            entry(p.size.min(Decimal::ZERO), 2),
        ]
    } else {
        vec![entry(p.size, 0)]
    }
}

/// A linear order's `positionIdx` against the symbol's position mode: "Used to identify
/// positions in different position modes. Under hedge-mode, this param is **required**"
/// (`0` one-way, `1` hedge-mode Buy side, `2` hedge-mode Sell side; Place Order,
/// <https://bybit-exchange.github.io/docs/v5/order/create-order>). A mismatch is refused
/// with 10001, "Request parameter error" (<https://bybit-exchange.github.io/docs/v5/error>),
/// and the message Bybit gives for it, "position idx not match position mode". Orders
/// on a hedge-mode position are not emulated (pit sends none): refused with 10001 too.
fn position_idx_check(idx: Option<u8>, hedge: bool) -> Result<(), (i64, String)> {
    match (hedge, idx.unwrap_or(0)) {
        (false, 0) => Ok(()),
        (true, 1 | 2) => fail(
            code::PARAMS,
            "params error: pit emulate does not emulate orders on hedge-mode positions",
        ),
        _ => fail(code::PARAMS, "position idx not match position mode"),
    }
}

/// `reduceOnly` on linear, as Bybit applies it: "true means your position can only reduce
/// in size if this order is triggered" (Place Order,
/// <https://bybit-exchange.github.io/docs/v5/order/create-order>). An order on the side
/// of the position (or with no position) is rejected, 110017 "Reduce-only rule not
/// satisfied" (<https://bybit-exchange.github.io/docs/v5/error>); one larger than the
/// position is cut to the position's size (Bybit's help centre, "Reduce-Only Order":
/// the system reduces the order quantity so that the position cannot reverse). The qty
/// to place, or the refusal.
fn reduce_only_qty(position: Decimal, side: Side, qty: Decimal) -> Result<Decimal, (i64, String)> {
    let reduces = match side {
        Side::Buy => position < Decimal::ZERO,
        Side::Sell => position > Decimal::ZERO,
    };
    if !reduces {
        return fail(REDUCE_ONLY_RULE, "Reduce-only rule not satisfied");
    }
    Ok(qty.min(position.abs()))
}

/// 110017 "Reduce-only rule not satisfied" (the error page's text for 110017 today; pit's
/// client names the same number by its older text).
const REDUCE_ONLY_RULE: i64 = 110017;

fn place(b: &Bybit, o: CreateOrder, cat: Category, now_ns: i64) -> BAnswer {
    use crate::venue::exchanges::bybit::api::wire::valid_link_id;
    if !valid_link_id(&o.order_link_id) {
        return fail(code::PARAMS, "params error: orderLinkId");
    }
    if b.st().link_ids.contains(&o.order_link_id) {
        return fail(code::SPOT_DUPLICATE_LINK_ID, "Duplicate clientOrderId").map_err(
            |e| match cat {
                Category::Spot => e,
                _ => (code::DUPLICATE_LINK_ID, "OrderLinkedID is duplicate".into()),
            },
        );
    }
    let linear = cat == Category::Linear;
    if linear {
        let hedge = b.st().hedge.contains(&o.symbol);
        position_idx_check(o.position_idx, hedge)?;
    }
    let reduce_only = linear && o.reduce_only == Some(true);
    let (order_type, tif) = match (o.order_type, o.time_in_force.unwrap_or(TimeInForce::Gtc)) {
        (OrderType::Limit, TimeInForce::Gtc) => (bw::OrderType::Limit, Some(bw::TimeInForce::Gtc)),
        (OrderType::Limit, TimeInForce::Ioc) => (bw::OrderType::Limit, Some(bw::TimeInForce::Ioc)),
        (OrderType::Limit, TimeInForce::PostOnly) => (bw::OrderType::LimitMaker, None),
        (OrderType::Market, _) => {
            if !linear && o.side == Side::Buy && o.market_unit.as_deref() != Some("baseCoin") {
                return fail(
                    code::PARAMS,
                    "params error: pit emulate needs marketUnit baseCoin on a spot market buy",
                );
            }
            (bw::OrderType::Market, None)
        }
        (t, f) => {
            return fail(
                code::PARAMS,
                format!("params error: {t:?}/{f:?} is not emulated"),
            );
        }
    };
    if o.order_type == OrderType::Limit && o.price.is_none() {
        return fail(
            code::PARAMS,
            "params error: price is required for a Limit order",
        );
    }
    let qty = if reduce_only {
        let pos = b.s.exchange().position(&o.symbol).size;
        reduce_only_qty(pos, o.side, o.qty)?
    } else {
        o.qty
    };
    let p = bw::NewOrderParams {
        symbol: o.symbol.clone(),
        side: match o.side {
            Side::Buy => bw::Side::Buy,
            Side::Sell => bw::Side::Sell,
        },
        order_type,
        time_in_force: tif,
        quantity: Some(qty),
        quote_order_qty: None,
        price: if order_type == bw::OrderType::Market {
            None
        } else {
            o.price
        },
        new_client_order_id: Some(o.order_link_id.clone()),
        new_order_resp_type: Some(bw::OrderRespType::Ack),
    };
    let r = if linear {
        b.s.exchange().place_linear(p, now_ns)
    } else {
        b.s.exchange().place(p, now_ns)
    }
    .map_err(|r| cat_refusal(r, cat))?;
    {
        let mut st = b.st();
        st.link_ids.insert(o.order_link_id.clone());
        if reduce_only {
            st.reduce_only.insert(o.order_link_id.clone());
        }
    }
    to_value(OrderIds {
        order_id: r.order_id.to_string(),
        order_link_id: o.order_link_id,
    })
}

/// Cancels every open order of `cat` (of `symbol`, or all); the cancelled ids.
fn cancel_all(
    s: &Shared,
    symbol: Option<&str>,
    cat: Category,
    partial: &mut dyn FnMut() -> bool,
    now_ns: i64,
) -> CancelAllResult {
    let mut ex = s.exchange();
    let open: Vec<(String, u64)> = ex
        .open_orders(symbol, now_ns)
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.symbol, o.order_id))
        .collect();
    let mut list = Vec::new();
    for (sym, oid) in open {
        if !in_category(&ex, oid, cat) {
            continue;
        }
        let p = partial();
        if let Ok(r) = ex.cancel(&sym, Some(oid), None, None, p, now_ns) {
            list.push(OrderIds {
                order_id: r.order_id.to_string(),
                order_link_id: r.orig_client_order_id,
            });
        }
    }
    CancelAllResult {
        list,
        success: Some("1".into()),
    }
}

// ---------------------------------------------------------------------------------------
// The private stream and DCP.

/// `GET /v5/private[?max_active_time=30s]`: a connection with no ping-pong and no data
/// for 10 minutes, or for `max_active_time` (30 s to 600 s, `Ns` or `Nm`), is cut
/// ("Customise Private Connection Alive Time",
/// <https://bybit-exchange.github.io/docs/v5/ws/connect>); out of range: HTTP 400.
pub async fn private(
    State(b): State<Arc<Bybit>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    up: WebSocketUpgrade,
) -> Response {
    let alive = match max_active_time(query.as_deref().unwrap_or("")) {
        Ok(d) => d,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    up.on_upgrade(move |socket| private_loop(b, socket, alive))
}

/// The private connection's alive time from its query (default 10 minutes).
fn max_active_time(query: &str) -> Result<Duration, String> {
    let Some(v) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("max_active_time="))
    else {
        return Ok(Duration::from_secs(600));
    };
    let secs = if let Some(n) = v.strip_suffix('s') {
        n.parse::<u64>().ok()
    } else if let Some(n) = v.strip_suffix('m') {
        n.parse::<u64>().ok().map(|m| m * 60)
    } else {
        None
    };
    match secs {
        Some(s) if (30..=600).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "max_active_time `{v}`: from 30s to 600s (or 1m to 10m)"
        )),
    }
}

async fn private_loop(b: Arc<Bybit>, mut socket: WebSocket, alive: Duration) {
    // The last ping-pong or data on the connection: cut `alive` after it.
    let mut active = tokio::time::Instant::now();
    let id = b.next_conn.fetch_add(1, Ordering::Relaxed);
    let conn_id = format!("pit-emu-{id}");
    let mut events = b.s.user_tx.subscribe();
    let mut dropper = b.s.drop_tx.subscribe();
    let mut authed: Option<String> = None;
    let mut topics: BTreeSet<String> = BTreeSet::new();
    let mut pushed: u64 = 0;
    // `exec-late`: execution frames held back, each with the time it is due.
    let mut late: VecDeque<(tokio::time::Instant, String)> = VecDeque::new();
    // The linear positions last pushed on this connection (a change is pushed).
    let mut positions: BTreeMap<String, super::exchange::LinearPosition> = BTreeMap::new();
    loop {
        let due = late.front().map(|(t, _)| *t);
        tokio::select! {
            _ = dropper.recv() => break,
            _ = tokio::time::sleep_until(active + alive) => {
                tracing::info!(alive_s = alive.as_secs(), "bybit private connection cut: no ping-pong and no data for its alive time");
                break;
            }
            _ = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await }, if due.is_some() => {
                if let Some((_, f)) = late.pop_front()
                    && socket.send(Message::Text(f.into())).await.is_err()
                {
                    break;
                }
            }
            ev = events.recv() => match ev {
                Ok(e) => {
                    active = tokio::time::Instant::now();
                    let now = b.s.now_ms().max(0) as u64;
                    // "Position" topic: pushed when a position changes (a fill, or the
                    // emulator's position fault), and "every time when you create/amend/
                    // cancel an order, the position topic will generate a new message
                    // (regardless if there's any actual change)"
                    // (<https://bybit-exchange.github.io/docs/v5/websocket/private/position>),
                    // under `position.linear` or `position`.
                    let touched = match &*e {
                        bw::UserEvent::ExecutionReport(r)
                            if !matches!(r.execution_type, bw::ExecutionType::Trade | bw::ExecutionType::Rejected)
                                && b.s.exchange().is_linear(r.order_id) =>
                        {
                            Some(r.symbol.clone())
                        }
                        _ => None,
                    };
                    let changed = position_changes(&b, &mut positions, touched.as_deref());
                    let pos_topic = ["position.linear", "position"].into_iter().find(|t| topics.contains(*t));
                    if let Some(t) = pos_topic && !changed.is_empty() {
                        let f = json!({"id": format!("{conn_id}-{pushed}p"), "topic": t, "creationTime": now, "data": changed});
                        if socket.send(Message::Text(f.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    let bw::UserEvent::ExecutionReport(r) = &*e else { continue };
                    let link = if r.orig_client_order_id.is_empty() { &r.client_order_id } else { &r.orig_client_order_id };
                    let cat = if b.s.exchange().is_linear(r.order_id) { Category::Linear } else { Category::Spot };
                    let reduce_only = b.st().reduce_only.contains(link);
                    let (order, exec) = pushes_of(r, cat, reduce_only);
                    let (exec_late, muted) = {
                        let mut f = b.s.faults.lock().unwrap_or_else(|e| e.into_inner());
                        (f.exec_late, Faults::take(&mut f.mute_private))
                    };
                    let mut frames = Vec::new();
                    // The all-in-one topic or the category's ("Categorised Topic"),
                    // pushed under the name subscribed.
                    let sub = |t: &str| {
                        let own = format!("{t}.{}", cat.as_str());
                        if topics.contains(&own) { Some(own) } else { topics.contains(t).then(|| t.to_string()) }
                    };
                    if let Some(topic) = sub("order") && !muted {
                        frames.push(json!({"id": format!("{conn_id}-{pushed}"), "topic": topic, "creationTime": now, "data": [order]}));
                    }
                    if let Some(x) = exec && let Some(topic) = sub("execution") {
                        let muted = {
                            let mut f = b.s.faults.lock().unwrap_or_else(|e| e.into_inner());
                            Faults::take(&mut f.mute_private)
                        };
                        let f = json!({"id": format!("{conn_id}-{pushed}x"), "topic": topic, "creationTime": now, "data": [x]});
                        if muted {
                            tracing::info!("fault: an execution push dropped");
                        } else if exec_late.is_zero() && late.is_empty() {
                            frames.push(f);
                        } else {
                            // Behind the order frame (and any execution still held).
                            late.push_back((tokio::time::Instant::now() + exec_late, f.to_string()));
                        }
                    }
                    pushed += 1;
                    let mut gone = false;
                    for f in frames {
                        if socket.send(Message::Text(f.to_string().into())).await.is_err() {
                            gone = true;
                            break;
                        }
                    }
                    if gone { break; }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    active = tokio::time::Instant::now();
                    let reply = handle_op(&b, id, &conn_id, &mut authed, &mut topics, t.as_str());
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    if let Some(c) = b.st().conns.get_mut(&id) {
        c.closed_at = Some(Instant::now());
    }
}

/// The linear positions that differ from those last pushed (`seen`, updated), and the
/// position of `touched` (an order of it was created, amended or cancelled) whether it
/// changed or not, as the `position` topic lists them.
fn position_changes(
    b: &Bybit,
    seen: &mut BTreeMap<String, super::exchange::LinearPosition>,
    touched: Option<&str>,
) -> Vec<Position> {
    let now = b.s.now_ms();
    let now_ns = b.s.now_ns();
    let hedge = b.st().hedge.clone();
    let mut ex = b.s.exchange();
    let symbols: Vec<String> = ex.specs().iter().map(|sp| sp.symbol.clone()).collect();
    let mut out = Vec::new();
    for sym in symbols {
        let p = ex.position(&sym);
        let before = seen.get(&sym).copied().unwrap_or_default();
        if p != before || touched == Some(sym.as_str()) {
            seen.insert(sym.clone(), p);
            let seq = position_seq(&mut ex, &sym, now_ns);
            out.extend(positions_of(&sym, p, seq, now, hedge.contains(&sym)));
        }
    }
    out
}

/// A linear position's `seq`: "Cross sequence, used to associate each fill and each
/// position update", "-1" if the symbol has never been traded
/// (<https://bybit-exchange.github.io/docs/v5/websocket/private/position>). The emulator's
/// cross sequence of a fill is its trade id (the `seq` of its execution), so a position's
/// is its symbol's last linear trade id. A position moved by the emulator's position fault
/// keeps it (no fill made it).
fn position_seq(ex: &mut super::exchange::Exchange, symbol: &str, now_ns: i64) -> i64 {
    let trades = ex
        .trades_between(symbol, i64::MIN, i64::MAX, now_ns)
        .unwrap_or_default();
    trades
        .iter()
        .rev()
        .find(|t| ex.is_linear(t.order_id))
        .map_or(-1, |t| t.id as i64)
}

fn handle_op(
    b: &Bybit,
    id: u64,
    conn_id: &str,
    authed: &mut Option<String>,
    topics: &mut BTreeSet<String>,
    text: &str,
) -> String {
    let reply = |ok: bool, msg: &str, op: &str, req: &Option<String>| {
        let mut v = json!({"success": ok, "ret_msg": msg, "op": op, "conn_id": conn_id});
        if let Some(r) = req {
            v["req_id"] = json!(r);
        }
        v.to_string()
    };
    let op: WsOp = match serde_json::from_str(text) {
        Ok(o) => o,
        Err(_) => return reply(false, "Params Error", "", &None),
    };
    match op.op.as_str() {
        "auth" => {
            let key = op.args.first().and_then(Value::as_str).unwrap_or("");
            let expires = op.args.get(1).and_then(Value::as_u64).unwrap_or(0);
            let sig = op.args.get(2).and_then(Value::as_str).unwrap_or("");
            let Some(signer) = b.keys.get(key) else {
                return reply(false, "Invalid apikey", "auth", &op.req_id);
            };
            if (expires as i64) <= b.s.now_ms() {
                return reply(
                    false,
                    "Params Error: expires is in the past",
                    "auth",
                    &op.req_id,
                );
            }
            if signer.ws_auth(expires) != sig {
                return reply(
                    false,
                    "Request not authorized: error sign",
                    "auth",
                    &op.req_id,
                );
            }
            *authed = Some(key.to_string());
            b.st().conns.insert(
                id,
                Conn {
                    key: key.to_string(),
                    dcp: BTreeSet::new(),
                    last_ping: Instant::now(),
                    closed_at: None,
                },
            );
            reply(true, "", "auth", &op.req_id)
        }
        "subscribe" => {
            if authed.is_none() {
                return reply(false, "Request not authorized", "subscribe", &op.req_id);
            }
            let mut st = b.st();
            for t in op.args.iter().filter_map(Value::as_str) {
                topics.insert(t.to_string());
                let product = match t {
                    "dcp.spot" => Some(DcpProduct::Spot),
                    "dcp.future" => Some(DcpProduct::Derivatives),
                    "dcp.option" => Some(DcpProduct::Options),
                    _ => None,
                };
                if let (Some(p), Some(c)) = (product, st.conns.get_mut(&id)) {
                    c.dcp.insert(p);
                }
            }
            reply(true, "", "subscribe", &op.req_id)
        }
        "ping" => {
            if let Some(c) = b.st().conns.get_mut(&id) {
                c.last_ping = Instant::now();
            }
            // "Pong message example of private channels".
            let mut v =
                json!({"op": "pong", "args": [b.s.now_ms().to_string()], "conn_id": conn_id});
            if let Some(r) = &op.req_id {
                v["req_id"] = json!(r);
            }
            v.to_string()
        }
        other => reply(
            false,
            &format!("Params Error: op {other} not supported"),
            other,
            &op.req_id,
        ),
    }
}

/// One DCP check: for every (key, product) with a window whose `dcp` connections are all
/// gone longer than the window, cancel every open order once per outage.
pub fn dcp_check(b: &Bybit) {
    let now = Instant::now();
    let mut fire = Vec::new();
    {
        let mut st = b.st();
        let windows: Vec<((String, DcpProduct), u32)> =
            st.dcp.iter().map(|(k, w)| (k.clone(), *w)).collect();
        for ((key, product), w) in windows {
            let w = Duration::from_secs(w as u64);
            let conns: Vec<&Conn> = st
                .conns
                .values()
                .filter(|c| c.key == key && c.dcp.contains(&product))
                .collect();
            if conns.is_empty() {
                // "must subscribe "dcp" topic in order to trigger DCP".
                continue;
            }
            // Dead: closed longer than the window (a silent open socket is alive; see the
            // module's text).
            let gone = |c: &&Conn| c.closed_at.is_some_and(|t| now.duration_since(t) > w);
            let k = (key.clone(), product);
            if conns.iter().all(gone) {
                if !st.fired.get(&k).copied().unwrap_or(false) {
                    st.fired.insert(k, true);
                    *st.fired_total.entry(key.clone()).or_default() += 1;
                    fire.push((key, product));
                }
            } else if conns
                .iter()
                .any(|c| c.closed_at.is_none() && now.duration_since(c.last_ping) <= w)
            {
                // Re-armed: a connection of the key is open and beats again ("resumes the
                // heartbeat "ping"").
                st.fired.insert(k, false);
            }
        }
        // Forget connections closed long ago.
        st.conns.retain(|_, c| {
            c.closed_at
                .is_none_or(|t| now.duration_since(t) < Duration::from_secs(900))
        });
    }
    for (key, product) in fire {
        // "Set Disconnect Cancel All": per product, SPOT or DERIVATIVES (pit emulates
        // spot and linear; options have no orders here).
        let cat = match product {
            DcpProduct::Spot => Category::Spot,
            DcpProduct::Derivatives => Category::Linear,
            DcpProduct::Options => continue,
        };
        let r = cancel_all(&b.s, None, cat, &mut || false, b.s.now_ns());
        tracing::warn!(
            key = %crate::venue::live::keys::key_hint(&key),
            ?product,
            cancelled = r.list.len(),
            "bybit DCP: the private connections are gone longer than the window; every order cancelled"
        );
        b.s.publish();
    }
}

/// The DCP state for `/emulator/state`: per key hint, per product.
pub fn dcp_json(b: &Bybit) -> Value {
    let st = b.st();
    let now = Instant::now();
    let mut out = serde_json::Map::new();
    for ((key, product), w) in &st.dcp {
        let conns: Vec<&Conn> = st
            .conns
            .values()
            .filter(|c| &c.key == key && c.dcp.contains(product))
            .collect();
        let alive = conns
            .iter()
            .filter(|c| {
                c.closed_at.is_none() && now.duration_since(c.last_ping).as_secs() <= *w as u64
            })
            .count();
        out.insert(
            format!(
                "{}/{}",
                crate::venue::live::keys::key_hint(key),
                product.topic()
            ),
            json!({
                "time_window": w,
                "connections": conns.len(),
                "alive": alive,
                "fired": st.fired.get(&(key.clone(), *product)).copied().unwrap_or(false),
                "fired_total": st.fired_total.get(key).copied().unwrap_or(0),
            }),
        );
    }
    Value::Object(out)
}

/// `GET /emulator/state` of the Bybit front-end: the core's state plus `bybit_dcp`.
pub async fn state(State(b): State<Arc<Bybit>>) -> Response {
    let now_ns = b.s.now_ns();
    let mut v = {
        let mut ex = b.s.exchange();
        ex.advance(now_ns);
        ex.state_json()
    };
    b.s.publish();
    if let Some(o) = v.as_object_mut() {
        let f = b.s.faults.lock().unwrap_or_else(|e| e.into_inner());
        o.insert("faults".into(), f.to_json(Instant::now()));
        o.insert("bybit_dcp".into(), dcp_json(&b));
        let st = b.st();
        o.insert("bybit_creates".into(), json!(st.creates));
        let ro: BTreeMap<&String, Value> = st
            .reduce_only_sent
            .iter()
            .map(|(k, (c, r))| (k, json!({"category": c.as_str(), "reduceOnly": r})))
            .collect();
        o.insert("bybit_reduce_only".into(), json!(ro));
    }
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `POST /emulator/bybit/position`, body `SYMBOL=SIZE` (signed: a short is negative): the
/// account's linear position is set behind its back, as a liquidation, an ADL or another
/// client of the account would move it; the `position` topic pushes it. What a test uses
/// to see pit alert on a difference and not trade to fix it.
pub async fn set_position(State(b): State<Arc<Bybit>>, body: String) -> Response {
    let parsed = body.trim().split_once('=').and_then(|(sym, size)| {
        Some((sym.trim().to_string(), size.trim().parse::<Decimal>().ok()?))
    });
    let Some((sym, size)) = parsed else {
        return (StatusCode::BAD_REQUEST, "expected SYMBOL=SIZE").into_response();
    };
    let now_ms = b.s.now_ms();
    {
        let mut ex = b.s.exchange();
        let avg = ex.position(&sym).avg;
        if ex.set_position(&sym, size, avg).is_err() {
            return (StatusCode::BAD_REQUEST, "unknown symbol").into_response();
        }
        // An account event for the private connections to notice the change.
        ex.move_balance("USDT", Decimal::ZERO, now_ms);
    }
    b.s.publish();
    tracing::info!(symbol = %sym, %size, "fault: bybit linear position set");
    (StatusCode::OK, "ok").into_response()
}

/// `POST /emulator/bybit/position-mode`, body `SYMBOL=hedge` or `SYMBOL=one-way`: the
/// symbol's linear position mode, as "Switch Position Mode" sets it
/// (<https://bybit-exchange.github.io/docs/v5/position/position-mode>; Bybit's default is
/// one-way). Set behind the account's back, with no check of open orders or positions
/// (Bybit refuses a switch then, 110024 / 110028): what a test uses to see pit refuse to
/// trade a hedge-mode symbol. In hedge mode "Get Position Info" lists two entries
/// (`positionIdx` 1 and 2) and an order without `positionIdx` 1 or 2 is refused.
pub async fn set_position_mode(State(b): State<Arc<Bybit>>, body: String) -> Response {
    let Some((sym, mode)) = body.trim().split_once('=') else {
        return (StatusCode::BAD_REQUEST, "expected SYMBOL=hedge|one-way").into_response();
    };
    let (sym, mode) = (sym.trim().to_string(), mode.trim());
    if !b.s.exchange().specs().iter().any(|sp| sp.symbol == sym) {
        return (StatusCode::BAD_REQUEST, "unknown symbol").into_response();
    }
    match mode {
        "hedge" => b.st().hedge.insert(sym.clone()),
        "one-way" => b.st().hedge.remove(&sym),
        _ => return (StatusCode::BAD_REQUEST, "expected SYMBOL=hedge|one-way").into_response(),
    };
    // An account event for the private connections to push the positions again.
    b.s.exchange()
        .move_balance("USDT", Decimal::ZERO, b.s.now_ms());
    b.s.publish();
    tracing::info!(symbol = %sym, mode, "bybit linear position mode set");
    (StatusCode::OK, "ok").into_response()
}

// ---------------------------------------------------------------------------------------
// The public stream: the simulated market as Bybit publishes it.

/// `GET /v5/public/{category}` ("Connect": `wss://stream.bybit.com/v5/public/spot`): the
/// core's market as `orderbook.{depth}.{symbol}` (a `snapshot` on subscription, then
/// `delta`s whose `u` goes up by one per topic and connection) and `publicTrade.{symbol}`
/// (`S` the taker's side), as pit's Bybit decoder and the public "Orderbook" and "Trade"
/// pages describe them. Spot only, like the account.
pub async fn public(
    State(b): State<Arc<Bybit>>,
    axum::extract::Path(category): axum::extract::Path<String>,
    up: WebSocketUpgrade,
) -> Response {
    if category != "spot" && category != "linear" {
        return (
            StatusCode::NOT_FOUND,
            format!("pit emulate bybit: category {category} is not emulated"),
        )
            .into_response();
    }
    up.on_upgrade(move |socket| public_loop(b, socket))
}

/// One subscribed book: its depth, the core's last update id sent, our next `u`.
struct PubBook {
    depth: usize,
    core_u: u64,
    next_u: u64,
}

async fn public_loop(b: Arc<Bybit>, mut socket: WebSocket) {
    let id = b.next_conn.fetch_add(1, Ordering::Relaxed);
    let conn_id = format!("pit-emu-pub-{id}");
    let mut rx = b.s.market_tx.subscribe();
    let mut books: BTreeMap<String, PubBook> = BTreeMap::new();
    let mut trades: BTreeSet<String> = BTreeSet::new();
    loop {
        let out: Vec<String> = tokio::select! {
            f = rx.recv() => match f {
                Ok(f) => public_frames(&f.0, &f.1, &mut books, &trades),
                // A client too slow for the feed is disconnected, as a venue would.
                Err(_) => return,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => public_op(&b, &conn_id, t.as_str(), &mut books, &mut trades),
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
    b: &Bybit,
    conn_id: &str,
    text: &str,
    books: &mut BTreeMap<String, PubBook>,
    trades: &mut BTreeSet<String>,
) -> Vec<String> {
    let Ok(op) = serde_json::from_str::<WsOp>(text) else {
        return vec![
            json!({"success": false, "ret_msg": "Params Error", "conn_id": conn_id}).to_string(),
        ];
    };
    let now = b.s.now_ms();
    let mut out = Vec::new();
    match op.op.as_str() {
        "ping" => out.push(
            json!({"success": true, "ret_msg": "pong", "conn_id": conn_id, "op": "ping"}).to_string(),
        ),
        "subscribe" | "unsubscribe" => {
            let sub = op.op == "subscribe";
            for t in op.args.iter().filter_map(Value::as_str) {
                let parts: Vec<&str> = t.split('.').collect();
                match parts.as_slice() {
                    ["orderbook", depth, sym] if sub => {
                        let depth: usize = depth.parse().unwrap_or(50);
                        let snap = b.s.exchange().depth(sym, depth);
                        let Ok(snap) = snap else { continue };
                        let next_u = 100;
                        out.push(
                            json!({"topic": t, "type": "snapshot", "ts": now, "cts": now,
                                   "data": {"s": sym, "b": levels(&snap.bids), "a": levels(&snap.asks),
                                            "u": next_u, "seq": snap.last_update_id}})
                            .to_string(),
                        );
                        books.insert(
                            sym.to_string(),
                            PubBook {
                                depth,
                                core_u: snap.last_update_id,
                                next_u: next_u + 1,
                            },
                        );
                    }
                    ["orderbook", _, sym] => {
                        books.remove(*sym);
                    }
                    ["publicTrade", sym] if sub => {
                        trades.insert(sym.to_string());
                    }
                    ["publicTrade", sym] => {
                        trades.remove(*sym);
                    }
                    _ => {}
                }
            }
            out.push(
                json!({"success": true, "ret_msg": op.op, "conn_id": conn_id, "op": op.op, "req_id": op.req_id.unwrap_or_default()})
                    .to_string(),
            );
        }
        other => out.push(
            json!({"success": false, "ret_msg": format!("Params Error: op {other}"), "conn_id": conn_id}).to_string(),
        ),
    }
    out
}

fn levels(l: &[[Decimal; 2]]) -> Vec<[String; 2]> {
    l.iter()
        .map(|[p, q]| [p.normalize().to_string(), q.normalize().to_string()])
        .collect()
}

/// The core's market frame as Bybit messages for this connection's subscriptions.
fn public_frames(
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
    let norm = |x: &Value| -> Vec<[String; 2]> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        let p: Decimal = l[0].as_str()?.parse().ok()?;
                        let q: Decimal = l[1].as_str()?.parse().ok()?;
                        Some([p.normalize().to_string(), q.normalize().to_string()])
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if stream.ends_with("@depth@100ms") {
        let Some(book) = books.get_mut(&sym) else {
            return vec![];
        };
        let u = d["u"].as_u64().unwrap_or(0);
        if u <= book.core_u {
            // Already in the snapshot.
            return vec![];
        }
        book.core_u = u;
        let msg = json!({"topic": format!("orderbook.{}.{sym}", book.depth), "type": "delta",
                         "ts": d["E"], "cts": d["E"],
                         "data": {"s": sym, "b": norm(&d["b"]), "a": norm(&d["a"]), "u": book.next_u, "seq": u}});
        book.next_u += 1;
        vec![msg.to_string()]
    } else if stream.ends_with("@trade") && trades.contains(&sym) {
        // Binance's `m` (the buyer was the maker): the taker sold.
        let side = if d["m"].as_bool().unwrap_or(false) {
            "Sell"
        } else {
            "Buy"
        };
        let p: Decimal = d["p"]
            .as_str()
            .and_then(|x| x.parse().ok())
            .unwrap_or_default();
        let q: Decimal = d["q"]
            .as_str()
            .and_then(|x| x.parse().ok())
            .unwrap_or_default();
        let msg = json!({"topic": format!("publicTrade.{sym}"), "type": "snapshot", "ts": d["E"],
                         "data": [{"T": d["T"], "s": sym, "S": side, "v": q.normalize().to_string(),
                                   "p": p.normalize().to_string(), "i": d["t"].to_string(), "BT": false}]});
        vec![msg.to_string()]
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::{REDUCE_ONLY_RULE, Side, exec_window, max_active_time, reduce_only_qty};
    use rust_decimal_macros::dec;
    use std::time::Duration;

    #[test]
    fn reduce_only_reduces_or_is_refused() {
        // Against a long: a sell reduces, cut to the position; a buy is refused.
        assert_eq!(
            reduce_only_qty(dec!(0.02), Side::Sell, dec!(0.01)),
            Ok(dec!(0.01))
        );
        assert_eq!(
            reduce_only_qty(dec!(0.02), Side::Sell, dec!(0.05)),
            Ok(dec!(0.02))
        );
        assert_eq!(
            reduce_only_qty(dec!(0.02), Side::Buy, dec!(0.01)).map_err(|e| e.0),
            Err(REDUCE_ONLY_RULE)
        );
        // Against a short: the mirror; flat: nothing to reduce.
        assert_eq!(
            reduce_only_qty(dec!(-0.02), Side::Buy, dec!(0.03)),
            Ok(dec!(0.02))
        );
        assert!(reduce_only_qty(dec!(-0.02), Side::Sell, dec!(0.01)).is_err());
        assert!(reduce_only_qty(dec!(0), Side::Sell, dec!(0.01)).is_err());
        assert!(reduce_only_qty(dec!(0), Side::Buy, dec!(0.01)).is_err());
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_private_alive_time_is_30s_to_10m_as_documented() {
        assert_eq!(max_active_time(""), Ok(Duration::from_secs(600)));
        assert_eq!(
            max_active_time("max_active_time=30s"),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            max_active_time("x=1&max_active_time=2m"),
            Ok(Duration::from_secs(120))
        );
        for bad in ["29s", "11m", "30", "abc", "601s"] {
            assert!(
                max_active_time(&format!("max_active_time={bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_trade_history_window_follows_the_docs() {
        let now = 100 * DAY;
        assert_eq!(exec_window(None, None, now), Ok((93 * DAY, now)));
        assert_eq!(
            exec_window(Some(10 * DAY), None, now),
            Ok((10 * DAY, 17 * DAY))
        );
        assert_eq!(
            exec_window(None, Some(50 * DAY), now),
            Ok((43 * DAY, 50 * DAY))
        );
        assert_eq!(
            exec_window(Some(10 * DAY), Some(17 * DAY), now),
            Ok((10 * DAY, 17 * DAY))
        );
        assert!(exec_window(Some(10 * DAY), Some(17 * DAY + 1), now).is_err());
        assert!(exec_window(Some(10 * DAY), Some(9 * DAY), now).is_err());
    }
}
