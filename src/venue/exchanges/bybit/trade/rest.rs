//! Bybit v5's signed REST calls for trading, on the async HTTP client the Binance path
//! uses (`reqwest`, rustls on `ring`; see `binance/trade/rest.rs` for why).
//!
//! Signing: "Integration Guidance" → Authentication
//! (<https://bybit-exchange.github.io/docs/v5/guide>): a GET signs its query string, a
//! POST its raw JSON body, sent exactly as signed, with `Content-Type: application/json`.
//!
//! Limits ("Rate Limit Rules", <https://bybit-exchange.github.io/docs/v5/rate-limit>):
//! the API limits are per UID and per endpoint (the table lists `/v5/order/create`,
//! `/v5/order/cancel`, `/v5/order/cancel-all`... each with its own rate), and every answer
//! carries that endpoint's `X-Bapi-Limit`, `X-Bapi-Limit-Status` (requests left) and
//! `X-Bapi-Limit-Reset-Timestamp`; `retCode` 10006 "Too many visits" (or HTTP 429) means
//! wait until that reset time, and a status of 0 left means the same before the next call
//! — to the same endpoint: the back-off is kept per endpoint, so a burst of orders that
//! exhausts "Place Order" never holds a kill's cancels or cancel-all. HTTP 403 "access too
//! frequent" is the IP's limit ("terminate all HTTP sessions and wait for at least 10
//! minutes"): nothing at all is sent for 10 minutes. Every retry of
//! [`Rest::idempotent`] sleeps, so a back-off never spins the connection task's
//! current-thread runtime (which also runs the private stream's heartbeat, the DCP). 10002 (outside the time window) measures
//! the server-time offset again (`GET /v5/market/time`).
//!
//! Orders: "Place Order" (`POST /v5/order/create`) is sent once. When its outcome is
//! unknown (no answer, an answer pit cannot read, a 5xx, 10000, 10016, 170007, 170146) or Bybit says the
//! `orderLinkId` is taken (110072, 170141), [`Rest::place_resolving`] asks "Get Open &
//! Closed Orders" for that `orderLinkId` (which covers open orders and "a maximum of
//! recent 500 closed status records") and never sends the order again.
//!
//! Error texts carry Bybit's `retCode` and `retMsg` and never the URL, a body, a
//! signature or a key.

use crate::venue::exchanges::bybit::api::errors::{
    ApiError, Outcome, classify, headers, order_gone,
};
use crate::venue::exchanges::bybit::api::sign::{Payload, Signer};
use crate::venue::exchanges::bybit::api::wire::{
    CancelAll, CancelAllResult, CancelOrder, Category, CreateOrder, DcpInfos, Envelope, Execution,
    ExecutionsQuery, Instrument, Order, OrderIds, OrdersQuery, Page, Position, PositionsQuery,
    SetDcp, WalletAccount, WalletQuery,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// Bybit answered with an error: what to do with it is `outcome`.
    #[error("{err} (HTTP {status})")]
    Api {
        status: u16,
        err: ApiError,
        outcome: Outcome,
    },
    /// No answer (timeout, connection dropped): the request may or may not have been
    /// executed.
    #[error("no answer from Bybit: {0}")]
    NoAnswer(String),
    /// The request was never sent (bad parameters, the store barrier).
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request was never sent: its endpoint (or, after a 403, the whole IP) is
    /// backing off for `left_ms` more.
    #[error("not sent: rate limited by Bybit on {endpoint}: backing off {left_ms} ms more")]
    BackingOff { endpoint: String, left_ms: u64 },
    /// An answer pit could not read.
    #[error("unreadable answer from Bybit: {0}")]
    Decode(String),
}

impl RestError {
    /// Whether the request may have been executed (ask before believing otherwise). An
    /// answer pit could not read counts: Bybit may well have accepted the request (a
    /// proxy's error page, a changed field), so an order is asked for, never taken as
    /// refused.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RestError::NoAnswer(_) | RestError::Decode(_) => true,
            RestError::Api { outcome, .. } => *outcome == Outcome::Unknown,
            _ => false,
        }
    }
    pub fn code(&self) -> Option<i64> {
        match self {
            RestError::Api { err, .. } => Some(err.code),
            _ => None,
        }
    }
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            RestError::Api { outcome, .. } => Some(*outcome),
            _ => None,
        }
    }
}

/// The limit headers of the last answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `X-Bapi-Limit`: the endpoint's limit per second.
    pub limit: Option<u64>,
    /// `X-Bapi-Limit-Status`: requests left.
    pub remaining: Option<u64>,
    /// `X-Bapi-Limit-Reset-Timestamp` (ms).
    pub reset_ms: Option<u64>,
}

/// The documented pause after an HTTP 403.
pub const IP_BAN_PAUSE: Duration = Duration::from_secs(600);
/// The longest wait taken from a reset timestamp (a bad header must not stall pit).
const MAX_RESET_WAIT: Duration = Duration::from_secs(10);
/// The shortest sleep between two tries of [`Rest::idempotent`].
const MIN_RETRY_GAP: Duration = Duration::from_millis(20);

/// The longest span one "Get Trade History" request covers: 7 days (ms).
const WINDOW_MS: u64 = 7 * 86_400_000;

/// How far back "Get Trade History" reaches: 2 years (the docs' "Get Trade History (2
/// years)"), in ms.
const HISTORY_MS: u64 = 730 * 86_400_000;

/// One endpoint's limit headers and back-off.
#[derive(Clone, Copy, Debug, Default)]
struct Endpoint {
    usage: Usage,
    /// No request to this endpoint before this instant (10006 / 429 / none left).
    backoff_until: Option<Instant>,
}

/// How [`Rest::place_resolving`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Bybit acknowledged the order ("the request was sucessfully accepted").
    Accepted(OrderIds),
    /// The answer was lost or ambiguous; asking by `orderLinkId` found the order.
    Found(Order),
    /// Asked after a lost answer: Bybit lists no order with our `orderLinkId`, neither
    /// open, recently closed nor in the history, as of the question. Not proof that it
    /// was not placed (both lists can lag): still unknown; it is not sent again.
    NotFound { cause: RestError },
    /// Bybit refused it; nothing happened.
    Rejected(RestError),
    /// The answer was lost and the question could not be answered either: still unknown.
    Unresolved { cause: RestError, query: RestError },
}

/// What a cancel achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Bybit accepted the cancel.
    Accepted(OrderIds),
    /// "Order does not exist" / "has been completed or cancelled": nothing left to cancel.
    AlreadyGone(ApiError),
}

/// A signed REST client for one Bybit account.
pub struct Rest {
    http: reqwest::Client,
    base: String,
    signer: Signer,
    recv_window_ms: u64,
    /// Server time minus local time (ms).
    offset_ms: AtomicI64,
    /// The limit headers of the last answer (any endpoint), for the health.
    usage: Mutex<Usage>,
    /// Per endpoint path: its limit headers and back-off.
    endpoints: Mutex<std::collections::BTreeMap<String, Endpoint>>,
    /// No request at all before this instant (HTTP 403, the IP's limit).
    banned_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BybitRest {{ base: {}, {:?} }}", self.base, self.signer)
    }
}

impl Rest {
    pub fn new(
        base: &str,
        signer: Signer,
        recv_window_ms: u64,
        timeout: Duration,
    ) -> Result<Rest, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_string(),
            signer,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            usage: Mutex::new(Usage::default()),
            endpoints: Mutex::new(std::collections::BTreeMap::new()),
            banned_until: Mutex::new(None),
        })
    }

    pub fn usage(&self) -> Usage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
    /// `X-BAPI-RECV-WINDOW` (ms): a request older than its timestamp plus this is refused.
    pub fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }

    /// Local wall time corrected by the measured offset: the `X-BAPI-TIMESTAMP`.
    pub fn server_now_ms(&self) -> u64 {
        let local = chrono::Utc::now().timestamp_millis();
        (local + self.offset_ms()).max(0) as u64
    }

    /// The longest back-off still holding, of any endpoint or the IP (`None`: nothing
    /// backs off).
    pub fn backoff_left(&self) -> Option<Duration> {
        let now = Instant::now();
        let ban = self.banned_until.lock().ok().and_then(|g| *g);
        let most = self
            .endpoints
            .lock()
            .ok()?
            .values()
            .filter_map(|e| e.backoff_until)
            .chain(ban)
            .max()?;
        let left = most.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// How long a request to `path` must still wait (its endpoint's back-off, or the
    /// IP's after a 403).
    pub fn backoff_left_for(&self, path: &str) -> Option<Duration> {
        let now = Instant::now();
        let ban = self.banned_until.lock().ok().and_then(|g| *g);
        let own = self
            .endpoints
            .lock()
            .ok()
            .and_then(|m| m.get(path).and_then(|e| e.backoff_until));
        let left = own
            .into_iter()
            .chain(ban)
            .max()?
            .saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// Measure the server-time offset ("Get Bybit Server Time", `GET /v5/market/time`:
    /// the envelope's `time`), half the round trip taken as the one-way delay.
    pub async fn sync_time(&self) -> Result<i64, RestError> {
        let t0 = chrono::Utc::now().timestamp_millis();
        let env = self
            .send_raw(reqwest::Method::GET, "/v5/market/time", String::new(), None)
            .await?;
        let t1 = chrono::Utc::now().timestamp_millis();
        let server = env
            .time
            .ok_or_else(|| RestError::Decode("server time without `time`".into()))?;
        let offset = server as i64 - (t0 + t1) / 2;
        self.offset_ms.store(offset, Ordering::Release);
        Ok(offset)
    }

    /// A signed GET: the query string is what is signed and sent.
    pub async fn get<Q: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<R, RestError> {
        let q = serde_urlencoded::to_string(query)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        self.signed(reqwest::Method::GET, path, q).await
    }

    /// A signed POST: the JSON body is what is signed and sent.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, RestError> {
        let b = serde_json::to_string(body)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        self.signed(reqwest::Method::POST, path, b).await
    }

    /// An unsigned GET (market data).
    pub async fn public<Q: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<R, RestError> {
        let q = serde_urlencoded::to_string(query)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        decode(self.send_raw(reqwest::Method::GET, path, q, None).await?)
    }

    async fn signed<R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        payload: String,
    ) -> Result<R, RestError> {
        let ts = self.server_now_ms();
        let p = if method == reqwest::Method::GET {
            Payload::Query(&payload)
        } else {
            Payload::Body(&payload)
        };
        let h = self.signer.headers(ts, self.recv_window_ms, p);
        let r = self
            .send_raw(method, path, payload.clone(), Some(h))
            .await
            .and_then(decode);
        if let Err(RestError::Api {
            outcome: Outcome::ClockSkew,
            ..
        }) = &r
        {
            match self.sync_time().await {
                Ok(o) => tracing::warn!(offset_ms = o, "bybit: 10002, server time measured again"),
                Err(e) => tracing::warn!(error = %e, "bybit: 10002, server time not measured"),
            }
        }
        r
    }

    /// A signed call that is safe to repeat (a cancel, a query), made patiently: it waits
    /// out its endpoint's back-off instead of failing and goes again after 10006/429 or
    /// 10002, for at most `patience`. Never for a new order. Every retry sleeps (at least
    /// [`MIN_RETRY_GAP`]): a back-off answered without any I/O must not become a loop that
    /// never yields, starving the runtime's other tasks (the DCP heartbeat).
    pub async fn idempotent<F, Fut, R>(&self, patience: Duration, call: F) -> Result<R, RestError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<R, RestError>>,
    {
        let deadline = Instant::now() + patience;
        loop {
            let r = call().await;
            let wait = match &r {
                Err(RestError::BackingOff { left_ms, .. }) => Duration::from_millis(*left_ms),
                Err(RestError::Api {
                    outcome: Outcome::RateLimited | Outcome::ClockSkew,
                    ..
                }) => Duration::ZERO,
                _ => return r,
            };
            let wait = wait.max(MIN_RETRY_GAP);
            if Instant::now() + wait > deadline {
                return r;
            }
            tokio::time::sleep(wait).await;
        }
    }

    // -----------------------------------------------------------------------------------
    // Trading.

    /// "Place Order", sent once. Prefer [`Rest::place_resolving`].
    pub async fn place(&self, o: &CreateOrder) -> Result<OrderIds, RestError> {
        self.post("/v5/order/create", o).await
    }

    /// Place an order and, when the answer is lost or ambiguous, resolve it by asking for
    /// its `orderLinkId` (patiently, for at most `patience`); the order is never re-sent.
    pub async fn place_resolving(&self, o: &CreateOrder, patience: Duration) -> Placed {
        let cause = match self.place(o).await {
            Ok(ids) => return Placed::Accepted(ids),
            Err(e) if e.outcome_unknown() || e.outcome() == Some(Outcome::Duplicate) => e,
            Err(e) => return Placed::Rejected(e),
        };
        tracing::warn!(link_id = %o.order_link_id, error = %cause, "bybit: order outcome unknown, asking");
        let q = self
            .idempotent(patience, || {
                self.find_order(o.category, &o.symbol, &o.order_link_id)
            })
            .await;
        match q {
            Ok(Some(order)) => Placed::Found(order),
            Ok(None) => Placed::NotFound { cause },
            Err(query) => Placed::Unresolved { cause, query },
        }
    }

    /// "Cancel Order" by our `orderLinkId`; "Order does not exist" and "completed or
    /// cancelled" mean nothing is left to cancel.
    pub async fn cancel(
        &self,
        category: Category,
        symbol: &str,
        link_id: &str,
        patience: Duration,
    ) -> Result<Cancelled, RestError> {
        let body = CancelOrder {
            category,
            symbol: symbol.to_string(),
            order_id: None,
            order_link_id: Some(link_id.to_string()),
        };
        let r = self
            .idempotent(patience, || {
                self.post::<_, OrderIds>("/v5/order/cancel", &body)
            })
            .await;
        match r {
            Ok(ids) => Ok(Cancelled::Accepted(ids)),
            Err(RestError::Api { err, .. }) if order_gone(err.code) => {
                Ok(Cancelled::AlreadyGone(err))
            }
            Err(e) => Err(e),
        }
    }

    /// "Cancel All Orders" of a symbol (linear needs a symbol or settle coin).
    pub async fn cancel_all(
        &self,
        category: Category,
        symbol: Option<&str>,
        patience: Duration,
    ) -> Result<CancelAllResult, RestError> {
        let body = CancelAll {
            category,
            symbol: symbol.map(str::to_string),
            settle_coin: None,
        };
        self.idempotent(patience, || self.post("/v5/order/cancel-all", &body))
            .await
    }

    /// The order with our `orderLinkId` wherever Bybit lists it: "Get Open & Closed
    /// Orders" first, then "Get Order History" (`GET /v5/order/history`,
    /// <https://bybit-exchange.github.io/docs/v5/order/order-list>). The first keeps only
    /// the recent 500 closed orders, and "after a server release or restart, filled,
    /// cancelled, and rejected orders of Unified account should only be queried through
    /// order history" (<https://bybit-exchange.github.io/docs/v5/order/open-order>); the
    /// history may lag behind an order just placed ("order creation/cancellation is
    /// asynchronous"). So `None` means only "not listed yet", never "not placed".
    pub async fn find_order(
        &self,
        category: Category,
        symbol: &str,
        link_id: &str,
    ) -> Result<Option<Order>, RestError> {
        if let Some(o) = self.order_by_link_id(category, symbol, link_id).await? {
            return Ok(Some(o));
        }
        let q = OrdersQuery {
            category: Some(category),
            symbol: Some(symbol.to_string()),
            order_link_id: Some(link_id.to_string()),
            ..OrdersQuery::default()
        };
        let p: Page<Order> = self.get("/v5/order/history", &q).await?;
        Ok(p.list.into_iter().find(|o| o.order_link_id == link_id))
    }

    /// The order with our `orderLinkId`, open or recently closed, if "Get Open & Closed
    /// Orders" lists it (see [`Rest::find_order`], which also asks the history).
    pub async fn order_by_link_id(
        &self,
        category: Category,
        symbol: &str,
        link_id: &str,
    ) -> Result<Option<Order>, RestError> {
        let q = OrdersQuery {
            category: Some(category),
            symbol: Some(symbol.to_string()),
            order_link_id: Some(link_id.to_string()),
            ..OrdersQuery::default()
        };
        let p: Page<Order> = self.get("/v5/order/realtime", &q).await?;
        Ok(p.list.into_iter().find(|o| o.order_link_id == link_id))
    }

    /// Every open order of a symbol, all pages (50 a page, the documented maximum).
    pub async fn open_orders(
        &self,
        category: Category,
        symbol: &str,
        patience: Duration,
    ) -> Result<Vec<Order>, RestError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = OrdersQuery {
                category: Some(category),
                symbol: Some(symbol.to_string()),
                limit: Some(50),
                cursor: cursor.clone(),
                ..OrdersQuery::default()
            };
            let p: Page<Order> = self
                .idempotent(patience, || self.get("/v5/order/realtime", &q))
                .await?;
            let n = p.list.len();
            out.extend(p.list.into_iter().filter(|o| o.order_status.is_open()));
            if p.next_page_cursor.is_empty()
                || n == 0
                || cursor.as_deref() == Some(&p.next_page_cursor)
            {
                return Ok(out);
            }
            cursor = Some(p.next_page_cursor);
        }
    }

    /// Fills of a symbol since `start_ms` ("Get Trade History", 100 a page), up to now.
    /// Bybit answers one window of at most 7 days ("Only startTime is passed, return range
    /// between startTime and startTime+7 days"; both passed: "endTime - startTime <= 7
    /// days"; <https://bybit-exchange.github.io/docs/v5/order/execution>), so a start
    /// further back is walked window by window to the server's now: asking from it alone
    /// would list its first week and miss every later fill. History is kept 2 years: a
    /// start before that begins there. `None`: Bybit's default, the last 7 days.
    pub async fn executions(
        &self,
        category: Category,
        symbol: &str,
        start_ms: Option<u64>,
        patience: Duration,
    ) -> Result<Vec<Execution>, RestError> {
        self.executions_since(category, symbol, None, start_ms, patience)
            .await
    }

    /// [`Rest::executions`] of one order (`link`: our `orderLinkId`, which Bybit's query
    /// takes before the symbol) or of the symbol (`None`).
    async fn executions_since(
        &self,
        category: Category,
        symbol: &str,
        link: Option<&str>,
        start_ms: Option<u64>,
        patience: Duration,
    ) -> Result<Vec<Execution>, RestError> {
        let Some(start) = start_ms else {
            return self
                .executions_in(category, symbol, link, None, patience)
                .await;
        };
        let now = self.server_now_ms();
        let mut from = start.max(now.saturating_sub(HISTORY_MS));
        let mut out = Vec::new();
        loop {
            // The last window ends in the future: fills made while the pages are read
            // are listed too.
            let to = from + WINDOW_MS;
            out.extend(
                self.executions_in(category, symbol, link, Some((from, to)), patience)
                    .await?,
            );
            if to >= now {
                return Ok(out);
            }
            // The windows share their edge: whether Bybit's `endTime` counts its own
            // millisecond is not documented, and a fill listed twice is known by its key.
            from = to;
        }
    }

    /// One window of "Get Trade History" (`None`: Bybit's default), every page of it.
    async fn executions_in(
        &self,
        category: Category,
        symbol: &str,
        link: Option<&str>,
        window: Option<(u64, u64)>,
        patience: Duration,
    ) -> Result<Vec<Execution>, RestError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = ExecutionsQuery {
                category: Some(category),
                symbol: Some(symbol.to_string()),
                order_link_id: link.map(str::to_string),
                start_time: window.map(|w| w.0),
                end_time: window.map(|w| w.1),
                limit: Some(100),
                cursor: cursor.clone(),
            };
            let p: Page<Execution> = self
                .idempotent(patience, || self.get("/v5/execution/list", &q))
                .await?;
            let n = p.list.len();
            out.extend(
                p.list
                    .into_iter()
                    .filter(|x| link.is_none_or(|l| x.order_link_id == l)),
            );
            if p.next_page_cursor.is_empty()
                || n == 0
                || cursor.as_deref() == Some(&p.next_page_cursor)
            {
                return Ok(out);
            }
            cursor = Some(p.next_page_cursor);
        }
    }

    /// The fills of one order, by our `orderLinkId` ("Get Trade History" takes
    /// `orderLinkId`; 100 a page, the documented maximum, following `nextPageCursor`),
    /// from `since_ms` (its creation: window by window to now, see [`Rest::executions`];
    /// `None`: the last 7 days).
    pub async fn executions_of(
        &self,
        category: Category,
        symbol: &str,
        link_id: &str,
        since_ms: Option<u64>,
        patience: Duration,
    ) -> Result<Vec<Execution>, RestError> {
        self.executions_since(category, symbol, Some(link_id), since_ms, patience)
            .await
    }

    /// The venue's positions of a derivatives symbol ("Get Position Info").
    pub async fn positions(
        &self,
        category: Category,
        symbol: &str,
        patience: Duration,
    ) -> Result<Vec<Position>, RestError> {
        let q = PositionsQuery {
            category: Some(category),
            symbol: Some(symbol.to_string()),
            settle_coin: None,
        };
        let p: Page<Position> = self
            .idempotent(patience, || self.get("/v5/position/list", &q))
            .await?;
        Ok(p.list)
    }

    /// The unified account's coins ("Get Wallet Balance", `accountType=UNIFIED`).
    pub async fn wallet(&self, patience: Duration) -> Result<Vec<WalletAccount>, RestError> {
        #[derive(serde::Deserialize)]
        struct L {
            list: Vec<WalletAccount>,
        }
        let q = WalletQuery {
            account_type: "UNIFIED".into(),
        };
        let l: L = self
            .idempotent(patience, || self.get("/v5/account/wallet-balance", &q))
            .await?;
        Ok(l.list)
    }

    /// One instrument's filters ("Get Instruments Info"; public).
    pub async fn instrument(
        &self,
        category: Category,
        symbol: &str,
    ) -> Result<Instrument, RestError> {
        let p: Page<Instrument> = self
            .public(
                "/v5/market/instruments-info",
                &[("category", category.as_str()), ("symbol", symbol)],
            )
            .await?;
        p.list
            .into_iter()
            .find(|i| i.symbol == symbol)
            .ok_or_else(|| {
                RestError::Decode(format!("no instrument {symbol} in {}", category.as_str()))
            })
    }

    /// The account's DCP configuration as Bybit reports it ("Get DCP Info").
    pub async fn dcp_info(&self, patience: Duration) -> Result<DcpInfos, RestError> {
        self.idempotent(patience, || {
            self.get::<_, DcpInfos>("/v5/account/query-dcp-info", &())
        })
        .await
    }

    /// Arm (or change) disconnection protection ("Set Disconnect Cancel All").
    pub async fn set_dcp(&self, d: &SetDcp, patience: Duration) -> Result<(), RestError> {
        self.idempotent(patience, || {
            self.post::<_, serde_json::Value>("/v5/order/disconnected-cancel-all", d)
        })
        .await
        .map(|_| ())
    }

    // -----------------------------------------------------------------------------------

    async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        payload: String,
        auth: Option<[(&'static str, String); 4]>,
    ) -> Result<Envelope, RestError> {
        if let Some(left) = self.backoff_left_for(path) {
            return Err(RestError::BackingOff {
                endpoint: path.to_string(),
                left_ms: (left.as_millis() as u64).max(1),
            });
        }
        let is_get = method == reqwest::Method::GET;
        let url = if is_get && !payload.is_empty() {
            format!("{}{path}?{payload}", self.base)
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(h) = auth {
            for (k, v) in h {
                req = req.header(k, v);
            }
        }
        if !is_get {
            req = req.header("Content-Type", "application/json").body(payload);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        self.read_headers(path, resp.headers());
        let body = resp
            .text()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let env: Option<Envelope> = serde_json::from_str(&body).ok();
        if !(200..300).contains(&status) {
            let err = match &env {
                Some(e) => ApiError::new(e.ret_code, e.ret_msg.clone()),
                None => ApiError::new(0, format!("HTTP {status} without a v5 body")),
            };
            let outcome = classify(status, env.as_ref().map(|e| e.ret_code));
            self.on_refusal(path, outcome);
            return Err(RestError::Api {
                status,
                err,
                outcome,
            });
        }
        let env = env.ok_or_else(|| RestError::Decode("not a v5 answer".into()))?;
        if env.ret_code != 0 {
            let outcome = classify(status, Some(env.ret_code));
            self.on_refusal(path, outcome);
        }
        Ok(env)
    }

    fn on_refusal(&self, path: &str, outcome: Outcome) {
        match outcome {
            Outcome::Banned => {
                if let Ok(mut g) = self.banned_until.lock() {
                    *g = Some(Instant::now() + IP_BAN_PAUSE);
                }
            }
            Outcome::RateLimited => {
                let wait = self.reset_wait(path).unwrap_or(Duration::from_secs(1));
                self.back_off(path, wait);
            }
            _ => {}
        }
    }

    fn back_off(&self, path: &str, wait: Duration) {
        if let Ok(mut m) = self.endpoints.lock() {
            let e = m.entry(path.to_string()).or_default();
            let until = Instant::now() + wait;
            if e.backoff_until.is_none_or(|u| u < until) {
                e.backoff_until = Some(until);
            }
        }
    }

    /// Time until the endpoint's `X-Bapi-Limit-Reset-Timestamp`, on the server's clock.
    fn reset_wait(&self, path: &str) -> Option<Duration> {
        let reset = self
            .endpoints
            .lock()
            .ok()?
            .get(path)
            .and_then(|e| e.usage.reset_ms)?;
        let now = self.server_now_ms();
        Some(
            Duration::from_millis(reset.saturating_sub(now))
                .clamp(Duration::from_millis(50), MAX_RESET_WAIT),
        )
    }

    fn read_headers(&self, path: &str, h: &reqwest::header::HeaderMap) {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let usage = Usage {
            limit: num(headers::LIMIT),
            remaining: num(headers::LIMIT_STATUS),
            reset_ms: num(headers::LIMIT_RESET),
        };
        if usage == Usage::default() {
            // Answers without the headers (public endpoints) leave the last ones.
            return;
        }
        if let Ok(mut u) = self.usage.lock() {
            *u = usage;
        }
        if let Ok(mut m) = self.endpoints.lock() {
            m.entry(path.to_string()).or_default().usage = usage;
        }
        // None left for this endpoint: wait for its reset before its next call.
        if usage.remaining == Some(0)
            && let Some(w) = self.reset_wait(path)
        {
            self.back_off(path, w);
        }
    }
}

/// `retCode` 0: the result as `R`; else the classified error.
fn decode<R: DeserializeOwned>(env: Envelope) -> Result<R, RestError> {
    match env.into_result::<R>() {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(RestError::Decode(e)),
        Err(err) => {
            let outcome = classify(200, Some(err.code));
            Err(RestError::Api {
                status: 200,
                err,
                outcome,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against a small local HTTP server that answers as Bybit's pages say, checks every
    //! signature, and counts what it saw.
    use super::*;
    use crate::venue::exchanges::bybit::api::errors::code;
    use crate::venue::exchanges::bybit::api::wire::{OrderStatus, OrderType, Side, TimeInForce};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use rust_decimal_macros::dec;
    use secrecy::SecretString;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    const KEY: &str = "bybit-unit-key";
    const SECRET: &str = "bybit-rest-unit-test-secret-4a5b";

    /// A scripted answer to `/v5/order/create`: HTTP status, limit headers, body, and
    /// whether the order is kept (as if accepted) or the answer withheld (sleep).
    struct Answer {
        status: u16,
        left: Option<u64>,
        reset_in_ms: Option<u64>,
        body: String,
        keep: bool,
        sleep_ms: u64,
    }

    #[derive(Default)]
    struct Script {
        create: Mutex<Vec<Answer>>,
        cancel: Mutex<Vec<(u16, String)>>,
        creates: AtomicU32,
        queries: AtomicU32,
        bad_signatures: AtomicU32,
        /// Orders kept, by link id.
        book: Mutex<Vec<Order>>,
    }

    fn now_ms() -> u64 {
        chrono::Utc::now().timestamp_millis() as u64
    }

    fn verified(h: &HeaderMap, payload: Payload<'_>) -> bool {
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        let server = Signer::new(KEY, SecretString::from(SECRET.to_string())).unwrap();
        get("X-BAPI-API-KEY") == KEY
            && server.verify(
                get("X-BAPI-TIMESTAMP").parse().unwrap_or(0),
                get("X-BAPI-RECV-WINDOW").parse().unwrap_or(0),
                payload,
                get("X-BAPI-SIGN"),
            )
    }

    fn env(code: i64, result: serde_json::Value) -> String {
        let e = if code == 0 {
            Envelope::ok(result, now_ms())
        } else {
            Envelope::error(code, "scripted", now_ms())
        };
        serde_json::to_string(&e).unwrap()
    }

    fn limit_headers(left: Option<u64>, reset_in_ms: Option<u64>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Bapi-Limit", "10".parse().unwrap());
        h.insert(
            "X-Bapi-Limit-Status",
            left.unwrap_or(9).to_string().parse().unwrap(),
        );
        h.insert(
            "X-Bapi-Limit-Reset-Timestamp",
            (now_ms() + reset_in_ms.unwrap_or(0))
                .to_string()
                .parse()
                .unwrap(),
        );
        h
    }

    async fn serve(s: Arc<Script>) -> String {
        let (s1, s2, s3) = (s.clone(), s.clone(), s.clone());
        // "Get Order History" answers like "Get Open & Closed Orders" here.
        let listed = move |h: HeaderMap, q: axum::extract::RawQuery| {
            let s = s2.clone();
            async move {
                let q = q.0.unwrap_or_default();
                if !verified(&h, Payload::Query(&q)) {
                    s.bad_signatures.fetch_add(1, Ordering::SeqCst);
                    return env(code::ERROR_SIGN, serde_json::json!({}));
                }
                s.queries.fetch_add(1, Ordering::SeqCst);
                let link = q
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("orderLinkId="))
                    .map(str::to_string);
                let list: Vec<Order> = s
                    .book
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|o| link.as_deref().is_none_or(|l| o.order_link_id == l))
                    .cloned()
                    .collect();
                env(
                    0,
                    serde_json::json!({"category": "linear", "list": list, "nextPageCursor": ""}),
                )
            }
        };
        let app = axum::Router::new()
            .route(
                "/v5/market/time",
                axum::routing::get(|| async { env(0, serde_json::json!({})) }),
            )
            .route(
                "/v5/order/create",
                axum::routing::post(move |h: HeaderMap, body: String| {
                    let s = s1.clone();
                    async move {
                        if !verified(&h, Payload::Body(&body)) {
                            s.bad_signatures.fetch_add(1, Ordering::SeqCst);
                            return (StatusCode::OK, env(code::ERROR_SIGN, serde_json::json!({})))
                                .into_response();
                        }
                        s.creates.fetch_add(1, Ordering::SeqCst);
                        let o: CreateOrder = serde_json::from_str(&body).unwrap();
                        let a = {
                            let mut a = s.create.lock().unwrap();
                            (!a.is_empty()).then(|| a.remove(0))
                        }
                        .unwrap_or(Answer {
                            status: 200,
                            left: None,
                            reset_in_ms: None,
                            body: String::new(),
                            keep: true,
                            sleep_ms: 0,
                        });
                        if a.keep {
                            s.book.lock().unwrap().push(Order {
                                category: Some(o.category),
                                order_id: format!("oid-{}", o.order_link_id),
                                order_link_id: o.order_link_id.clone(),
                                symbol: o.symbol.clone(),
                                price: o.price,
                                qty: o.qty,
                                side: o.side,
                                order_status: OrderStatus::New,
                                order_type: o.order_type,
                                time_in_force: o.time_in_force,
                                leaves_qty: Some(o.qty),
                                cum_exec_qty: Some(dec!(0)),
                                avg_price: None,
                                reduce_only: false,
                                reject_reason: "EC_NoError".into(),
                                cancel_type: "UNKNOWN".into(),
                                created_time: Some(now_ms()),
                                updated_time: Some(now_ms()),
                            });
                        }
                        if a.sleep_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(a.sleep_ms)).await;
                        }
                        let body = if a.body.is_empty() {
                            env(
                                0,
                                serde_json::json!({"orderId": format!("oid-{}", o.order_link_id), "orderLinkId": o.order_link_id}),
                            )
                        } else {
                            a.body
                        };
                        (
                            StatusCode::from_u16(a.status).unwrap(),
                            limit_headers(a.left, a.reset_in_ms),
                            body,
                        )
                            .into_response()
                    }
                }),
            )
            .route("/v5/order/realtime", axum::routing::get(listed.clone()))
            .route("/v5/order/history", axum::routing::get(listed))
            .route(
                "/v5/order/cancel",
                axum::routing::post(move |h: HeaderMap, body: String| {
                    let s = s3.clone();
                    async move {
                        assert!(verified(&h, Payload::Body(&body)));
                        let next = {
                            let mut a = s.cancel.lock().unwrap();
                            (!a.is_empty()).then(|| a.remove(0))
                        };
                        let (status, body) = next.unwrap_or((
                            200,
                            env(0, serde_json::json!({"orderId": "x", "orderLinkId": "pit-1"})),
                        ));
                        (StatusCode::from_u16(status).unwrap(), limit_headers(None, None), body)
                            .into_response()
                    }
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn client(base: &str, secret: &str) -> Rest {
        Rest::new(
            base,
            Signer::new(KEY, SecretString::from(secret.to_string())).unwrap(),
            5000,
            Duration::from_millis(700),
        )
        .unwrap()
    }

    fn order(link: &str) -> CreateOrder {
        CreateOrder {
            category: Category::Linear,
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            qty: dec!(0.01),
            price: Some(dec!(60000.1)),
            time_in_force: Some(TimeInForce::PostOnly),
            order_link_id: link.into(),
            reduce_only: None,
            market_unit: None,
            position_idx: Some(0),
        }
    }

    fn scripted(status: u16, body: String, keep: bool) -> Answer {
        Answer {
            status,
            left: None,
            reset_in_ms: None,
            body,
            keep,
            sleep_ms: 0,
        }
    }

    /// A Bybit "Get Trade History" of 300 fills spread over the last 20 days, as the docs
    /// say it answers: one window of at most 7 days (only `startTime`: that and the next
    /// 7 days; both: refused past 7 days), 100 a page at most, `nextPageCursor`.
    async fn serve_history(fills: Arc<Vec<u64>>, asked: Arc<Mutex<Vec<(u64, u64)>>>) -> String {
        const WEEK: u64 = 7 * 86_400_000;
        let list = move |h: HeaderMap, q: axum::extract::RawQuery| {
            let (fills, asked) = (fills.clone(), asked.clone());
            async move {
                let q = q.0.unwrap_or_default();
                assert!(verified(&h, Payload::Query(&q)), "signed");
                let p: ExecutionsQuery = serde_urlencoded::from_str(&q).unwrap();
                let now = now_ms();
                let (from, to) = match (p.start_time, p.end_time) {
                    (None, None) => (now - WEEK, now),
                    (Some(s), None) => (s, s + WEEK),
                    (None, Some(e)) => (e - WEEK, e),
                    (Some(s), Some(e)) => (s, e),
                };
                if to < from || to - from > WEEK {
                    return env(code::PARAMS, serde_json::json!({}));
                }
                let limit = p.limit.unwrap_or(50).clamp(1, 100) as usize;
                let skip: usize = p.cursor.as_deref().map_or(0, |c| c.parse().unwrap());
                if skip == 0 {
                    asked.lock().unwrap().push((from, to));
                }
                // Newest first, as documented.
                let window: Vec<u64> = fills
                    .iter()
                    .rev()
                    .copied()
                    .filter(|t| (from..=to).contains(t))
                    .collect();
                let page: Vec<Execution> = window
                    .iter()
                    .skip(skip)
                    .take(limit)
                    .map(|t| Execution {
                        category: None,
                        symbol: "BTCUSDT".into(),
                        order_id: format!("o{t}"),
                        order_link_id: format!("l{t}"),
                        side: Side::Buy,
                        exec_id: format!("e{t}"),
                        exec_price: dec!(100),
                        exec_qty: dec!(1),
                        exec_fee: Some(dec!(0.1)),
                        fee_currency: "USDT".into(),
                        exec_type: "Trade".into(),
                        exec_time: Some(*t),
                        is_maker: false,
                        leaves_qty: None,
                        seq: None,
                    })
                    .collect();
                let next = if skip + limit < window.len() {
                    (skip + limit).to_string()
                } else {
                    String::new()
                };
                env(
                    0,
                    serde_json::json!({"category": "spot", "list": page, "nextPageCursor": next}),
                )
            }
        };
        let app = axum::Router::new()
            .route(
                "/v5/market/time",
                axum::routing::get(|| async { env(0, serde_json::json!({})) }),
            )
            .route("/v5/execution/list", axum::routing::get(list));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn fills_since_weeks_ago_are_read_window_by_window_to_now_none_missed() {
        let now = now_ms();
        let day = 86_400_000;
        // 300 fills, one every 96 minutes, the oldest 20 days ago (three weeks' windows,
        // 100+ fills in each: pages too).
        let fills: Arc<Vec<u64>> =
            Arc::new((0..300).map(|i| now - 20 * day + i * 5_760_000).collect());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let base = serve_history(fills.clone(), asked.clone()).await;
        let r = client(&base, SECRET);
        let got = r
            .executions(
                Category::Spot,
                "BTCUSDT",
                Some(now - 20 * day - 1000),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        let mut times: Vec<u64> = got.iter().filter_map(|x| x.exec_time).collect();
        times.sort_unstable();
        times.dedup();
        assert_eq!(times, *fills, "every fill since the start, each once");
        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 3, "three windows of at most 7 days: {asked:?}");
        assert!(asked.iter().all(|(f, t)| t - f <= 7 * day));
        // Since a year and more ago: the walk starts 2 years back at most.
        let r2 = client(&base, SECRET);
        let old = r2
            .executions(Category::Spot, "BTCUSDT", Some(1), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(old.len(), 300);
    }

    #[tokio::test]
    async fn a_signed_order_is_accepted_and_a_wrong_secret_is_auth() {
        let s = Arc::new(Script::default());
        let base = serve(s.clone()).await;
        let r = client(&base, SECRET);
        let p = r
            .place_resolving(&order("pit-1-1"), Duration::from_secs(2))
            .await;
        assert_eq!(
            p,
            Placed::Accepted(OrderIds {
                order_id: "oid-pit-1-1".into(),
                order_link_id: "pit-1-1".into()
            })
        );
        assert_eq!(r.usage().limit, Some(10));
        assert_eq!(r.usage().remaining, Some(9));
        let found = r
            .order_by_link_id(Category::Linear, "BTCUSDT", "pit-1-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.qty, dec!(0.01));
        assert_eq!(s.bad_signatures.load(Ordering::SeqCst), 0);
        let wrong = client(&base, "not-the-secret");
        match wrong
            .place_resolving(&order("pit-1-2"), Duration::from_secs(1))
            .await
        {
            Placed::Rejected(e) => assert_eq!(e.outcome(), Some(Outcome::Auth), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.bad_signatures.load(Ordering::SeqCst), 1);
        assert_eq!(s.creates.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unreadable_answer_to_an_order_is_an_unknown_outcome_not_a_refusal() {
        let s = Arc::new(Script::default());
        // Accepted, but the answer is not a v5 body (a proxy's page), then a v5 body whose
        // result is not the ids.
        s.create
            .lock()
            .unwrap()
            .push(scripted(200, "<html>ok</html>".into(), true));
        s.create.lock().unwrap().push(scripted(
            200,
            env(0, serde_json::json!({"orderId": 17})),
            true,
        ));
        let r = client(&serve(s.clone()).await, SECRET);
        for link in ["pit-9-1", "pit-9-2"] {
            match r
                .place_resolving(&order(link), Duration::from_secs(2))
                .await
            {
                Placed::Found(o) => assert_eq!(o.order_link_id, link),
                other => panic!("{link}: an order Bybit has was taken as {other:?}"),
            }
        }
        assert_eq!(s.creates.load(Ordering::SeqCst), 2, "never sent twice");
    }

    #[tokio::test]
    async fn a_lost_answer_is_resolved_by_asking_and_never_sent_twice() {
        let s = Arc::new(Script::default());
        // 1: accepted, but the answer comes after the client's timeout.
        s.create.lock().unwrap().push(Answer {
            sleep_ms: 1500,
            ..scripted(200, String::new(), true)
        });
        // 2: "Server error." with the order kept; 3: a 502 and nothing kept.
        s.create.lock().unwrap().push(scripted(
            200,
            env(code::SERVER_ERROR, serde_json::json!({})),
            true,
        ));
        s.create
            .lock()
            .unwrap()
            .push(scripted(502, "bad gateway".into(), false));
        let r = client(&serve(s.clone()).await, SECRET);
        match r
            .place_resolving(&order("pit-2-1"), Duration::from_secs(2))
            .await
        {
            Placed::Found(o) => {
                assert_eq!(o.order_link_id, "pit-2-1");
                assert!(o.order_status.is_open());
            }
            other => panic!("{other:?}"),
        }
        match r
            .place_resolving(&order("pit-2-2"), Duration::from_secs(2))
            .await
        {
            Placed::Found(o) => assert_eq!(o.order_link_id, "pit-2-2"),
            other => panic!("{other:?}"),
        }
        match r
            .place_resolving(&order("pit-2-3"), Duration::from_secs(2))
            .await
        {
            Placed::NotFound { cause } => assert!(cause.outcome_unknown(), "{cause}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.creates.load(Ordering::SeqCst), 3, "each order sent once");
        assert_eq!(
            s.queries.load(Ordering::SeqCst),
            4,
            "each resolved by one question, the one not listed open or recently closed also in the history"
        );
    }

    #[tokio::test]
    async fn a_duplicate_link_id_is_looked_up_not_resent_and_refusals_are_final() {
        let s = Arc::new(Script::default());
        s.create
            .lock()
            .unwrap()
            .push(scripted(200, String::new(), true));
        s.create.lock().unwrap().push(scripted(
            200,
            env(code::DUPLICATE_LINK_ID, serde_json::json!({})),
            false,
        ));
        s.create.lock().unwrap().push(scripted(
            200,
            env(code::AVAILABLE_INSUFFICIENT, serde_json::json!({})),
            false,
        ));
        let r = client(&serve(s.clone()).await, SECRET);
        assert!(matches!(
            r.place_resolving(&order("pit-3-1"), Duration::from_secs(1))
                .await,
            Placed::Accepted(_)
        ));
        assert!(matches!(
            r.place_resolving(&order("pit-3-1"), Duration::from_secs(1)).await,
            Placed::Found(o) if o.order_link_id == "pit-3-1"
        ));
        match r
            .place_resolving(&order("pit-3-2"), Duration::from_secs(1))
            .await
        {
            Placed::Rejected(e) => assert_eq!(e.code(), Some(code::AVAILABLE_INSUFFICIENT)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.queries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn too_many_visits_backs_off_until_the_reset_and_sends_nothing_meanwhile() {
        let s = Arc::new(Script::default());
        s.create.lock().unwrap().push(Answer {
            left: Some(0),
            reset_in_ms: Some(1500),
            ..scripted(
                200,
                env(code::TOO_MANY_VISITS, serde_json::json!({})),
                false,
            )
        });
        let r = client(&serve(s.clone()).await, SECRET);
        match r
            .place_resolving(&order("pit-4-1"), Duration::from_secs(1))
            .await
        {
            Placed::Rejected(e) => assert_eq!(e.outcome(), Some(Outcome::RateLimited)),
            other => panic!("{other:?}"),
        }
        let left = r.backoff_left().expect("backing off");
        assert!(
            left > Duration::from_millis(1000) && left <= Duration::from_millis(1500),
            "{left:?}"
        );
        match r
            .place_resolving(&order("pit-4-2"), Duration::from_secs(1))
            .await
        {
            Placed::Rejected(e @ RestError::BackingOff { .. }) => {
                assert!(e.to_string().contains("backing off"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.creates.load(Ordering::SeqCst),
            1,
            "nothing sent during the back-off"
        );
        // Another endpoint is not held by "Place Order"'s back-off (Bybit's limits are
        // per endpoint): a query and a cancel go at once.
        let t0 = Instant::now();
        let o = r
            .idempotent(Duration::from_secs(5), || {
                r.order_by_link_id(Category::Linear, "BTCUSDT", "none")
            })
            .await
            .unwrap();
        assert_eq!(o, None);
        assert!(r.backoff_left_for("/v5/order/create").is_some());
        assert!(r.backoff_left_for("/v5/order/cancel").is_none());
        let c = r
            .cancel(Category::Linear, "BTCUSDT", "pit-1", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(c, Cancelled::Accepted(_)));
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        // A cancel refused with 10006 waits its own endpoint's reset out, then goes.
        s.cancel
            .lock()
            .unwrap()
            .push((200, env(code::TOO_MANY_VISITS, serde_json::json!({}))));
        let c = r
            .cancel(Category::Linear, "BTCUSDT", "pit-1", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(c, Cancelled::Accepted(_)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_out_a_back_off_never_starves_the_runtime() {
        let s = Arc::new(Script::default());
        s.create.lock().unwrap().push(Answer {
            left: Some(0),
            reset_in_ms: Some(700),
            ..scripted(
                200,
                env(code::TOO_MANY_VISITS, serde_json::json!({})),
                false,
            )
        });
        let r = Arc::new(client(&serve(s.clone()).await, SECRET));
        let _ = r.place(&order("pit-8-1")).await;
        // A patient call on the backed-off endpoint, shorter patience than the back-off:
        // the heartbeat next to it keeps beating.
        let beats = Arc::new(AtomicU32::new(0));
        let b = beats.clone();
        let beat = tokio::spawn(async move {
            loop {
                b.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let r2 = r.clone();
        let o = order("pit-8-2");
        let create = || r2.post::<_, OrderIds>("/v5/order/create", &o);
        // Patience shorter than the back-off: it fails at once, it does not spin (on this
        // current-thread runtime a loop without a yield would hold everything else).
        let t0 = Instant::now();
        let e = r
            .idempotent(Duration::from_millis(400), create)
            .await
            .unwrap_err();
        assert!(matches!(e, RestError::BackingOff { .. }), "{e}");
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "{:?}",
            t0.elapsed()
        );
        // Patience longer than what is left: it sleeps, the heartbeat beats meanwhile.
        let left = r.backoff_left_for("/v5/order/create").unwrap();
        let before = beats.load(Ordering::SeqCst);
        let _ = r.idempotent(left + Duration::from_secs(2), create).await;
        let during = beats.load(Ordering::SeqCst) - before;
        beat.abort();
        assert!(during >= 10, "the heartbeat starved: {during} beats");
        assert_eq!(
            s.creates.load(Ordering::SeqCst),
            2,
            "refused once, sent again only after the reset"
        );
    }

    #[tokio::test]
    async fn an_exhausted_limit_status_pauses_before_the_next_call() {
        let s = Arc::new(Script::default());
        s.create.lock().unwrap().push(Answer {
            left: Some(0),
            reset_in_ms: Some(800),
            ..scripted(200, String::new(), true)
        });
        let r = client(&serve(s.clone()).await, SECRET);
        assert!(matches!(
            r.place_resolving(&order("pit-5-1"), Duration::from_secs(1))
                .await,
            Placed::Accepted(_)
        ));
        assert_eq!(r.usage().remaining, Some(0));
        assert!(r.backoff_left().is_some(), "no request before the reset");
    }

    #[tokio::test]
    async fn http_403_pauses_ten_minutes_and_cancel_of_a_gone_order_is_not_an_error() {
        let s = Arc::new(Script::default());
        s.cancel
            .lock()
            .unwrap()
            .push((200, env(code::ORDER_NOT_EXIST, serde_json::json!({}))));
        s.create
            .lock()
            .unwrap()
            .push(scripted(403, "access too frequent".into(), false));
        let r = client(&serve(s.clone()).await, SECRET);
        let c = r
            .cancel(
                Category::Linear,
                "BTCUSDT",
                "pit-6-0",
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        assert!(matches!(c, Cancelled::AlreadyGone(e) if e.code == code::ORDER_NOT_EXIST));
        let c = r
            .cancel(Category::Linear, "BTCUSDT", "pit-1", Duration::from_secs(1))
            .await
            .unwrap();
        assert!(matches!(c, Cancelled::Accepted(_)));
        match r
            .place_resolving(&order("pit-6-1"), Duration::from_secs(1))
            .await
        {
            Placed::Rejected(e) => assert_eq!(e.outcome(), Some(Outcome::Banned), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(r.backoff_left().unwrap() > Duration::from_secs(590));
    }

    #[tokio::test]
    async fn errors_never_show_keys_signatures_or_bodies() {
        let r = client("http://127.0.0.1:9", SECRET);
        let p = r
            .place_resolving(&order("pit-7-1"), Duration::from_millis(300))
            .await;
        let Placed::Unresolved { cause, query } = &p else {
            panic!("{p:?}")
        };
        assert!(cause.outcome_unknown());
        let text = format!("{cause} {query} {cause:?} {query:?} {r:?}");
        for bad in [SECRET, "X-BAPI-SIGN", "orderLinkId", KEY] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
    }
}
