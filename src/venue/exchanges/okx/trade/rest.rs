//! OKX v5's signed REST calls for spot trading (trade mode `cash`), on `reqwest` like the
//! Binance and Bybit clients.
//!
//! * Signing: "REST Authentication" (the `OK-ACCESS-*` headers, via
//!   [`crate::venue::exchanges::okx::api::sign::Signer`]); demo trading adds
//!   `x-simulated-trading: 1` ("Demo Trading Services"). The timestamp is the local clock
//!   corrected by "Get system time" (`GET /api/v5/public/time`); 50102 ("Timestamp
//!   request expired") measures it again.
//! * Limits ("Rate Limits" and each endpoint's "Rate Limit" line): Place order, Cancel
//!   order, Get order details, Get order List, Get transaction details: 60 requests per 2
//!   seconds; Get balance 10 / 2 s; Get instruments 20 / 2 s; Get system time 10 / 2 s;
//!   Cancel All After 1 / s. pit keeps each endpoint (method and path: "Place order" and
//!   "Get order details" share a path, not a quota) under its own quota by itself (a
//!   request waits for room in its window, except a new order: it is refused unsent, since
//!   the kill switch may withdraw it while it waits), and on HTTP 429 or 50011 ("Too
//!   Many Requests") that endpoint backs off for its window; the back-off is per endpoint,
//!   so a burst of orders never holds the kill's cancels.
//! * Orders: "Place order" is sent once. When its outcome is unknown (no answer, an
//!   answer pit cannot read, HTTP 5xx, 50001 "Service temporarily unavailable", 50004
//!   "API endpoint request timeout", 50013 "Systems are busy", 50026 "System error") or OKX
//!   says the `clOrdId` is taken (51016), [`Rest::place_resolving`] asks "Get order
//!   details" for the `clOrdId` and never sends the order again.
//!
//! Error texts carry OKX's code and msg and never the URL, a body, a signature, the key or
//! the passphrase.

use super::wire::{
    Balance, CaaAnswer, CancelAllAfter, CancelOrder, Envelope, Fill, Instrument, Order, OrderAck,
    PlaceOrder,
};
use crate::venue::exchanges::okx::api::sign::{self, Request, Signer};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// OKX's codes pit acts on ("Error Code" > "REST API").
pub mod code {
    pub const SERVICE_UNAVAILABLE: i64 = 50001;
    pub const REQUEST_TIMEOUT: i64 = 50004;
    pub const RATE_LIMIT: i64 = 50011;
    pub const BUSY: i64 = 50013;
    pub const SYSTEM_ERROR: i64 = 50026;
    pub const TIMESTAMP_EXPIRED: i64 = 50102;
    pub const DUPLICATE_CL_ORD_ID: i64 = 51016;
    /// "Order cancellation failed as the order has been filled, canceled or does not exist."
    pub const CANCEL_FAILED: i64 = 51400;
    pub const ALREADY_CANCELED: i64 = 51401;
    pub const ALREADY_COMPLETED: i64 = 51402;
    pub const ORDER_NOT_EXIST: i64 = 51603;
}

/// What a refusal means for pit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Refused: nothing happened.
    Rejected,
    /// Over the limit: wait, then go again (never for a new order: it is refused).
    RateLimited,
    /// May have been executed: ask.
    Unknown,
    /// The `clOrdId` is taken: ask for it.
    Duplicate,
    /// The clock is off: measure it again.
    ClockSkew,
}

pub fn classify(status: u16, code: Option<i64>) -> Outcome {
    match (status, code) {
        (429, _) | (_, Some(code::RATE_LIMIT)) => Outcome::RateLimited,
        (_, Some(code::TIMESTAMP_EXPIRED)) => Outcome::ClockSkew,
        (500..=599, _) => Outcome::Unknown,
        (
            _,
            Some(
                code::SERVICE_UNAVAILABLE | code::REQUEST_TIMEOUT | code::BUSY | code::SYSTEM_ERROR,
            ),
        ) => Outcome::Unknown,
        (_, Some(code::DUPLICATE_CL_ORD_ID)) => Outcome::Duplicate,
        _ => Outcome::Rejected,
    }
}

/// Whether a cancel's refusal says nothing is left to cancel.
pub fn order_gone(code: i64) -> bool {
    matches!(
        code,
        code::CANCEL_FAILED
            | code::ALREADY_CANCELED
            | code::ALREADY_COMPLETED
            | code::ORDER_NOT_EXIST
    )
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// OKX answered with an error (the envelope's code, or an order's `sCode`).
    #[error("OKX {code}: {msg} (HTTP {status})")]
    Api {
        status: u16,
        code: i64,
        msg: String,
        outcome: Outcome,
    },
    /// No answer: the request may or may not have been executed.
    #[error("no answer from OKX: {0}")]
    NoAnswer(String),
    /// Never sent.
    #[error("not sent: {0}")]
    NotSent(String),
    /// Never sent: the endpoint backs off after a 429 / 50011.
    #[error("not sent: rate limited by OKX on {endpoint}: backing off {left_ms} ms more")]
    BackingOff { endpoint: String, left_ms: u64 },
    /// Never sent: a new order found its endpoint's quota window full. An order never
    /// waits for room: the kill switch could withdraw it meanwhile.
    #[error("not sent: {endpoint}'s quota is full for {left_ms} ms more")]
    QuotaFull { endpoint: String, left_ms: u64 },
    #[error("unreadable answer from OKX: {0}")]
    Decode(String),
}

impl RestError {
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RestError::NoAnswer(_) | RestError::Decode(_) => true,
            RestError::Api { outcome, .. } => *outcome == Outcome::Unknown,
            _ => false,
        }
    }
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            RestError::Api { outcome, .. } => Some(*outcome),
            _ => None,
        }
    }
    pub fn code(&self) -> Option<i64> {
        match self {
            RestError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// An endpoint's documented quota: (requests, window).
pub fn quota(path: &str) -> (usize, Duration) {
    let two = Duration::from_secs(2);
    match path {
        // "Cancel All After": "Rate Limit: 1 request per second".
        "/api/v5/trade/cancel-all-after" => (1, Duration::from_secs(1)),
        // "Get balance": "10 requests per 2 seconds"; "Get system time" and "Get
        // positions": the same.
        "/api/v5/account/balance" | "/api/v5/public/time" | "/api/v5/account/positions" => {
            (10, two)
        }
        // "Get account configuration": "5 requests per 2 seconds".
        "/api/v5/account/config" => (5, two),
        // "Get instruments": "20 requests per 2 seconds".
        "/api/v5/public/instruments" => (20, two),
        // Place / cancel order, order details, order list, fills: "60 requests per 2
        // seconds".
        _ => (60, two),
    }
}

/// The quota key of "Place order": OKX limits it apart from "Get order details" on the
/// same path, so the local quota is kept per method and path.
const PLACE_KEY: &str = "POST /api/v5/trade/order";

/// One endpoint's (method and path) recent requests and back-off.
#[derive(Default)]
struct Endpoint {
    sent: VecDeque<tokio::time::Instant>,
    backoff_until: Option<tokio::time::Instant>,
}

/// How [`Rest::place_resolving`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// `sCode` "0": OKX has the order.
    Accepted(OrderAck),
    /// The answer was lost or ambiguous; asking by `clOrdId` found the order.
    Found(Box<Order>),
    /// Asked after a lost answer: OKX has no order with this `clOrdId` (51603), as of the
    /// question. Still unknown (it may arrive late); never sent again.
    NotFound { cause: RestError },
    /// Refused; nothing happened.
    Rejected(RestError),
    /// The answer was lost and the question failed too.
    Unresolved { cause: RestError, query: RestError },
}

/// What a cancel achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    Accepted,
    /// Filled, cancelled or never there: nothing left to cancel.
    AlreadyGone(String),
}

/// The shortest sleep between two tries of [`Rest::idempotent`].
const MIN_RETRY_GAP: Duration = Duration::from_millis(20);

/// A signed REST client for one OKX account.
pub struct Rest {
    http: reqwest::Client,
    base: String,
    signer: Signer,
    demo: bool,
    /// `SPOT` or `SWAP`: the `instType` of the lists asked for.
    inst_type: &'static str,
    offset_ms: AtomicI64,
    endpoints: Mutex<BTreeMap<String, Endpoint>>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OkxRest {{ base: {}, {:?} }}", self.base, self.signer)
    }
}

impl Rest {
    pub fn new(base: &str, signer: Signer, demo: bool, timeout: Duration) -> Result<Rest, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_string(),
            signer,
            demo,
            inst_type: "SPOT",
            offset_ms: AtomicI64::new(0),
            endpoints: Mutex::new(BTreeMap::new()),
        })
    }

    /// The client for SWAPs (`swap`) or SPOT: the `instType` of the lists it asks for.
    pub fn with_swap(mut self, swap: bool) -> Rest {
        self.inst_type = if swap { "SWAP" } else { "SPOT" };
        self
    }
    pub fn swap(&self) -> bool {
        self.inst_type == "SWAP"
    }
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
    pub fn demo(&self) -> bool {
        self.demo
    }

    /// Local wall time corrected by the measured offset (ms).
    pub fn server_now_ms(&self) -> u64 {
        let local = chrono::Utc::now().timestamp_millis();
        (local + self.offset_ms.load(Ordering::Acquire)).max(0) as u64
    }

    /// "Get system time": the offset, half the round trip taken as the one-way delay.
    pub async fn sync_time(&self) -> Result<i64, RestError> {
        #[derive(serde::Deserialize)]
        struct T {
            ts: String,
        }
        let t0 = chrono::Utc::now().timestamp_millis();
        let list: Vec<T> = self
            .call(Request::get("/api/v5/public/time", ""), false)
            .await?;
        let t1 = chrono::Utc::now().timestamp_millis();
        let server: i64 = list
            .first()
            .and_then(|t| t.ts.parse().ok())
            .ok_or_else(|| RestError::Decode("system time without ts".into()))?;
        let offset = server - (t0 + t1) / 2;
        self.offset_ms.store(offset, Ordering::Release);
        Ok(offset)
    }

    /// Room in the endpoint's quota, or its back-off left. `key` is "METHOD path"; every
    /// request but a new order waits for room; a new order is refused unsent
    /// ([`RestError::QuotaFull`]): while it waited the kill switch could withdraw it.
    async fn admit(&self, key: &str) -> Result<(), RestError> {
        let path = key.split_once(' ').map_or(key, |(_, p)| p);
        let (n, window) = quota(path);
        loop {
            let wait = {
                let mut m = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
                let e = m.entry(key.to_string()).or_default();
                let now = tokio::time::Instant::now();
                if let Some(u) = e.backoff_until
                    && u > now
                {
                    return Err(RestError::BackingOff {
                        endpoint: key.to_string(),
                        left_ms: (u - now).as_millis().max(1) as u64,
                    });
                }
                while e
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= window)
                {
                    e.sent.pop_front();
                }
                if e.sent.len() < n {
                    e.sent.push_back(now);
                    return Ok(());
                }
                // A little past the oldest request's window end: the server's window
                // counts from its own receipt.
                let wait = window - now.duration_since(e.sent[0]) + Duration::from_millis(20);
                if key == PLACE_KEY {
                    return Err(RestError::QuotaFull {
                        endpoint: key.to_string(),
                        left_ms: wait.as_millis().max(1) as u64,
                    });
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn back_off(&self, key: &str) {
        let path = key.split_once(' ').map_or(key, |(_, p)| p);
        let (_, window) = quota(path);
        let mut m = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(key.to_string()).or_default();
        let until = tokio::time::Instant::now() + window;
        if e.backoff_until.is_none_or(|u| u < until) {
            e.backoff_until = Some(until);
        }
    }

    /// The longest back-off still holding (`None`: none).
    pub fn backoff_left(&self) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        let m = self.endpoints.lock().ok()?;
        let most = m.values().filter_map(|e| e.backoff_until).max()?;
        let left = most.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// Send one request (signed when `signed`), read the envelope, the data as `R`.
    async fn call<R: DeserializeOwned>(&self, req: Request, signed: bool) -> Result<R, RestError> {
        let method = match req.method() {
            sign::Method::Get => "GET",
            sign::Method::Post => "POST",
        };
        let path = format!(
            "{method} {}",
            req.request_path().split('?').next().unwrap_or("")
        );
        // A new order never waits here (refused when full): nothing between the kill
        // switch's withdrawn check and this send yields.
        self.admit(&path).await?;
        let req = req.simulated_trading(self.demo);
        let url = format!("{}{}", self.base, req.request_path());
        let mut b = match req.method() {
            sign::Method::Get => self.http.get(url),
            sign::Method::Post => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(req.body().to_string()),
        };
        if signed {
            let ts = sign::timestamp(self.server_now_ms() as i64)
                .ok_or_else(|| RestError::NotSent("no timestamp".into()))?;
            for (k, v) in self.signer.headers(&req, &ts).pairs() {
                b = b.header(*k, v);
            }
        } else if self.demo {
            b = b.header("x-simulated-trading", "1");
        }
        let resp = b
            .send()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let r = decode::<R>(status, &body);
        if let Err(RestError::Api { outcome, .. }) = &r {
            match outcome {
                Outcome::RateLimited => self.back_off(&path),
                Outcome::ClockSkew => match Box::pin(self.sync_time()).await {
                    Ok(o) => {
                        tracing::warn!(offset_ms = o, "okx: 50102, system time measured again")
                    }
                    Err(e) => tracing::warn!(error = %e, "okx: 50102, system time not measured"),
                },
                _ => {}
            }
        }
        r
    }

    /// A call safe to repeat (a cancel, a query), made patiently: it waits out its
    /// endpoint's back-off and goes again after 429/50011 or 50102, for at most
    /// `patience`. Never for a new order. Every retry sleeps.
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

    async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        q: &[(&str, &str)],
    ) -> Result<R, RestError> {
        let query = serde_urlencoded::to_string(q)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        self.call(Request::get(path, &query), true).await
    }

    async fn post<B: serde::Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, RestError> {
        let b = serde_json::to_string(body)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        self.call(Request::post(path, &b), true).await
    }

    // -----------------------------------------------------------------------------------

    /// "Place order", sent once; an `sCode` other than "0" is the order's refusal.
    pub async fn place(&self, o: &PlaceOrder) -> Result<OrderAck, RestError> {
        let r: Result<Vec<OrderAck>, RestError> = self.post("/api/v5/trade/order", o).await;
        one_ack(r)
    }

    /// Place an order; a lost or ambiguous answer is resolved by asking for its `clOrdId`
    /// (patiently); the order is never re-sent.
    pub async fn place_resolving(&self, o: &PlaceOrder, patience: Duration) -> Placed {
        let cause = match self.place(o).await {
            Ok(ack) => return Placed::Accepted(ack),
            Err(e) if e.outcome_unknown() || e.outcome() == Some(Outcome::Duplicate) => e,
            Err(e) => return Placed::Rejected(e),
        };
        tracing::warn!(cl_ord_id = %o.cl_ord_id, error = %cause, "okx: order outcome unknown, asking");
        let q = self
            .idempotent(patience, || self.order(&o.inst_id, &o.cl_ord_id))
            .await;
        match q {
            Ok(Some(order)) => Placed::Found(Box::new(order)),
            Ok(None) => Placed::NotFound { cause },
            Err(query) => Placed::Unresolved { cause, query },
        }
    }

    /// "Cancel order" by our `clOrdId`.
    pub async fn cancel(
        &self,
        inst_id: &str,
        cl_ord_id: &str,
        patience: Duration,
    ) -> Result<Cancelled, RestError> {
        let body = CancelOrder {
            inst_id: inst_id.to_string(),
            cl_ord_id: Some(cl_ord_id.to_string()),
            ord_id: None,
        };
        self.cancel_order(&body, patience).await
    }

    /// "Cancel order" by OKX's `ordId` (an order without a `clOrdId`: not sent by pit).
    pub async fn cancel_by_ord_id(
        &self,
        inst_id: &str,
        ord_id: &str,
        patience: Duration,
    ) -> Result<Cancelled, RestError> {
        let body = CancelOrder {
            inst_id: inst_id.to_string(),
            cl_ord_id: None,
            ord_id: Some(ord_id.to_string()),
        };
        self.cancel_order(&body, patience).await
    }

    async fn cancel_order(
        &self,
        body: &CancelOrder,
        patience: Duration,
    ) -> Result<Cancelled, RestError> {
        let r = self
            .idempotent(patience, || async {
                one_ack(self.post("/api/v5/trade/cancel-order", body).await)
            })
            .await;
        match r {
            Ok(_) => Ok(Cancelled::Accepted),
            Err(RestError::Api { code, msg, .. }) if order_gone(code) => {
                Ok(Cancelled::AlreadyGone(format!("OKX {code}: {msg}")))
            }
            Err(e) => Err(e),
        }
    }

    /// "Get order details" by `clOrdId`; `None` on 51603 "Order does not exist".
    pub async fn order(&self, inst_id: &str, cl_ord_id: &str) -> Result<Option<Order>, RestError> {
        let r: Result<Vec<Order>, RestError> = self
            .get(
                "/api/v5/trade/order",
                &[("instId", inst_id), ("clOrdId", cl_ord_id)],
            )
            .await;
        match r {
            Ok(list) => Ok(list.into_iter().find(|o| o.cl_ord_id == cl_ord_id)),
            Err(RestError::Api {
                code: code::ORDER_NOT_EXIST,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// "Get order List": every pending SPOT order of an instrument, page by page (100 a
    /// page, `after` the last `ordId`).
    pub async fn pending(
        &self,
        inst_id: &str,
        patience: Duration,
    ) -> Result<Vec<Order>, RestError> {
        let mut out: Vec<Order> = Vec::new();
        let mut after = String::new();
        loop {
            let mut q = vec![
                ("instType", self.inst_type),
                ("instId", inst_id),
                ("limit", "100"),
            ];
            if !after.is_empty() {
                q.push(("after", after.as_str()));
            }
            let page: Vec<Order> = self
                .idempotent(patience, || self.get("/api/v5/trade/orders-pending", &q))
                .await?;
            let n = page.len();
            let last = page.last().map(|o| o.ord_id.clone()).unwrap_or_default();
            out.extend(page);
            if n < 100 || last.is_empty() || last == after {
                return Ok(out);
            }
            after = last;
        }
    }

    /// "Get transaction details (last 3 days)" of an instrument (or of one order, by its
    /// `ordId`), newest first, page by page going back (`after` = the oldest `billId`
    /// seen), down to `begin_ms` (within the 3 days). OKX keeps fills here for 3 days
    /// only: fills older than that are not asked for (they would need "Get transaction
    /// details (last 3 months)", `/api/v5/trade/fills-history`, which pit does not call);
    /// a pit stopped for longer than 3 days has its missed fills of orders it asks about
    /// by order (their `accFillSz` shows what the store lacks, and the order is held open
    /// with a warning) but not of the instrument's other fills.
    pub async fn fills(
        &self,
        inst_id: &str,
        ord_id: Option<&str>,
        begin_ms: Option<u64>,
        patience: Duration,
    ) -> Result<Vec<Fill>, RestError> {
        let mut out: Vec<Fill> = Vec::new();
        let mut after = String::new();
        let begin = begin_ms.map(|b| b.to_string()).unwrap_or_default();
        loop {
            let mut q = vec![
                ("instType", self.inst_type),
                ("instId", inst_id),
                ("limit", "100"),
            ];
            if let Some(o) = ord_id {
                q.push(("ordId", o));
            }
            if !begin.is_empty() {
                q.push(("begin", begin.as_str()));
            }
            if !after.is_empty() {
                q.push(("after", after.as_str()));
            }
            let page: Vec<Fill> = self
                .idempotent(patience, || self.get("/api/v5/trade/fills", &q))
                .await?;
            let n = page.len();
            let oldest = page.last().map(|f| f.bill_id.clone()).unwrap_or_default();
            out.extend(page);
            if n < 100 || oldest.is_empty() || oldest == after {
                return Ok(out);
            }
            after = oldest;
        }
    }

    /// "Get balance": currency -> cash balance.
    pub async fn balance(
        &self,
        patience: Duration,
    ) -> Result<BTreeMap<String, rust_decimal::Decimal>, RestError> {
        let list: Vec<Balance> = self
            .idempotent(patience, || self.get("/api/v5/account/balance", &[]))
            .await?;
        Ok(list
            .into_iter()
            .flat_map(|b| b.details)
            .map(|d| (d.ccy, d.cash_bal.unwrap_or_default()))
            .collect())
    }

    /// "Get positions" (`GET /api/v5/account/positions`, `instType` SWAP): instId -> the
    /// net position in contracts (signed); an instrument not listed is flat.
    pub async fn positions(
        &self,
        patience: Duration,
    ) -> Result<BTreeMap<String, rust_decimal::Decimal>, RestError> {
        let q = [("instType", self.inst_type)];
        let list: Vec<super::wire::Position> = self
            .idempotent(patience, || self.get("/api/v5/account/positions", &q))
            .await?;
        let mut out: BTreeMap<String, rust_decimal::Decimal> = BTreeMap::new();
        for p in list {
            *out.entry(p.inst_id).or_default() += p.pos.unwrap_or_default();
        }
        Ok(out)
    }

    /// "Get account configuration": the account's mode and position mode.
    pub async fn account_config(
        &self,
        patience: Duration,
    ) -> Result<super::wire::AccountConfig, RestError> {
        let list: Vec<super::wire::AccountConfig> = self
            .idempotent(patience, || self.get("/api/v5/account/config", &[]))
            .await?;
        list.into_iter()
            .next()
            .ok_or_else(|| RestError::Decode("Get account configuration: no data".into()))
    }

    /// "Get instruments" (public): one instrument of the client's `instType`.
    pub async fn instrument(&self, inst_id: &str) -> Result<Instrument, RestError> {
        let q = serde_urlencoded::to_string([("instType", self.inst_type), ("instId", inst_id)])
            .map_err(|e| RestError::NotSent(e.to_string()))?;
        let list: Vec<Instrument> = self
            .idempotent(Duration::from_secs(10), || {
                self.call(Request::get("/api/v5/public/instruments", &q), false)
            })
            .await?;
        list.into_iter()
            .find(|i| i.inst_id == inst_id)
            .ok_or_else(|| RestError::Decode(format!("no {} instrument {inst_id}", self.inst_type)))
    }

    /// "Cancel All After": arm (or refresh) the countdown, or disarm it with 0.
    pub async fn cancel_all_after(
        &self,
        secs: u32,
        patience: Duration,
    ) -> Result<CaaAnswer, RestError> {
        let body = CancelAllAfter {
            time_out: secs.to_string(),
        };
        let list: Vec<CaaAnswer> = self
            .idempotent(patience, || {
                self.post("/api/v5/trade/cancel-all-after", &body)
            })
            .await?;
        list.into_iter()
            .next()
            .ok_or_else(|| RestError::Decode("Cancel All After without data".into()))
    }
}

/// The one order result of a place or cancel: `sCode` "0", else its refusal.
fn one_ack(r: Result<Vec<OrderAck>, RestError>) -> Result<OrderAck, RestError> {
    let list = match r {
        Ok(l) => l,
        Err(RestError::Api {
            status,
            code: 1,
            msg,
            ..
        }) => {
            // "Operation failed.": the order's own sCode says why, in `msg` (see `decode`).
            let (c, m) = msg.split_once('\u{1}').unwrap_or(("1", msg.as_str()));
            let c: i64 = c.parse().unwrap_or(1);
            return Err(RestError::Api {
                status,
                code: c,
                msg: m.to_string(),
                outcome: classify(status, Some(c)),
            });
        }
        Err(e) => return Err(e),
    };
    let ack = list
        .into_iter()
        .next()
        .ok_or_else(|| RestError::Decode("no order result".into()))?;
    if ack.s_code != "0" && !ack.s_code.is_empty() {
        let c: i64 = ack.s_code.parse().unwrap_or(1);
        return Err(RestError::Api {
            status: 200,
            code: c,
            msg: ack.s_msg,
            outcome: classify(200, Some(c)),
        });
    }
    Ok(ack)
}

/// The envelope: code "0" the data as `R`; else the error. For code "1" ("Operation
/// failed.") the first order result's `sCode` and `sMsg` are carried in `msg`, joined by
/// U+0001, for [`one_ack`].
pub fn decode<R: DeserializeOwned>(status: u16, body: &str) -> Result<R, RestError> {
    let env: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(_) if !(200..300).contains(&status) => {
            return Err(RestError::Api {
                status,
                code: 0,
                msg: format!("HTTP {status} without an OKX body"),
                outcome: classify(status, None),
            });
        }
        Err(e) => return Err(RestError::Decode(e.to_string())),
    };
    let code: i64 = env.code.trim().parse().unwrap_or(-1);
    if code != 0 || !(200..300).contains(&status) {
        let mut msg = env.msg.clone();
        if code == 1
            && let Some(d) = &env.data
            && let Ok(list) = serde_json::from_str::<Vec<OrderAck>>(d.get())
            && let Some(a) = list.first()
        {
            msg = format!("{}\u{1}{}", a.s_code, a.s_msg);
        }
        return Err(RestError::Api {
            status,
            code,
            msg,
            outcome: classify(status, Some(code)),
        });
    }
    let data = env.data.map(|d| d.get().to_string()).unwrap_or("[]".into());
    serde_json::from_str(&data).map_err(|e| RestError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_the_docs_write_them() {
        // "Place order"'s example answer.
        let ok = r#"{"code":"0","msg":"","data":[{"clOrdId":"oktswap6","ordId":"312269865356374016","tag":"","ts":"1695190491421","sCode":"0","sMsg":""}],"inTime":"1695190491421339","outTime":"1695190491423240"}"#;
        let ack = one_ack(decode(200, ok)).unwrap();
        assert_eq!(ack.ord_id, "312269865356374016");
        // A refused order: code "1", the reason in sCode/sMsg.
        let refused = r#"{"code":"1","msg":"Operation failed.","data":[{"clOrdId":"a1","ordId":"","tag":"","sCode":"51008","sMsg":"Order failed. Insufficient USDT balance in account"}]}"#;
        let e = one_ack(decode(200, refused)).unwrap_err();
        assert_eq!(e.code(), Some(51008));
        assert_eq!(e.outcome(), Some(Outcome::Rejected));
        assert!(e.to_string().contains("Insufficient USDT"), "{e}");
        // A taken clOrdId is asked about, never taken as refused.
        let dup = r#"{"code":"1","msg":"Operation failed.","data":[{"clOrdId":"a1","ordId":"","sCode":"51016","sMsg":"Duplicated clOrdId"}]}"#;
        assert_eq!(
            one_ack(decode(200, dup)).unwrap_err().outcome(),
            Some(Outcome::Duplicate)
        );
        // 5xx and 50026: unknown; 429 and 50011: rate limited; 51603 gone.
        let sys = r#"{"code":"50026","msg":"System error. Try again later","data":[]}"#;
        assert!(
            decode::<Vec<OrderAck>>(500, sys)
                .unwrap_err()
                .outcome_unknown()
        );
        assert!(
            decode::<Vec<OrderAck>>(502, "<html>bad gateway</html>")
                .unwrap_err()
                .outcome_unknown()
        );
        let lim = r#"{"code":"50011","msg":"Too Many Requests","data":[]}"#;
        assert_eq!(
            decode::<Vec<OrderAck>>(429, lim).unwrap_err().outcome(),
            Some(Outcome::RateLimited)
        );
        assert!(order_gone(51400) && order_gone(51603) && !order_gone(51008));
        // An answer pit cannot read may hide an accepted order.
        assert!(
            decode::<Vec<OrderAck>>(200, "{")
                .unwrap_err()
                .outcome_unknown()
        );
    }

    #[test]
    fn a_cancel_names_the_clordid_or_else_the_ordid() {
        let by_cl = CancelOrder {
            inst_id: "BTC-USDT".into(),
            cl_ord_id: Some("pit1".into()),
            ord_id: None,
        };
        assert_eq!(
            serde_json::to_string(&by_cl).unwrap(),
            r#"{"instId":"BTC-USDT","clOrdId":"pit1"}"#
        );
        let by_ord = CancelOrder {
            inst_id: "BTC-USDT".into(),
            cl_ord_id: None,
            ord_id: Some("123".into()),
        };
        assert_eq!(
            serde_json::to_string(&by_ord).unwrap(),
            r#"{"instId":"BTC-USDT","ordId":"123"}"#
        );
    }

    #[test]
    fn quotas_are_the_pages() {
        assert_eq!(quota("/api/v5/trade/order"), (60, Duration::from_secs(2)));
        assert_eq!(quota("/api/v5/trade/fills"), (60, Duration::from_secs(2)));
        assert_eq!(
            quota("/api/v5/account/balance"),
            (10, Duration::from_secs(2))
        );
        assert_eq!(
            quota("/api/v5/trade/cancel-all-after"),
            (1, Duration::from_secs(1))
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_window_waits_and_a_429_backs_off_its_endpoint_only() {
        let signer = Signer::new(
            "k",
            secrecy::SecretString::from("s".to_string()),
            secrecy::SecretString::from("p".to_string()),
        )
        .unwrap();
        let r = Rest::new("http://127.0.0.1:9", signer, true, Duration::from_secs(1)).unwrap();
        let t0 = tokio::time::Instant::now();
        r.admit("POST /api/v5/trade/cancel-all-after")
            .await
            .unwrap();
        r.admit("POST /api/v5/trade/cancel-all-after")
            .await
            .unwrap();
        assert!(
            t0.elapsed() >= Duration::from_secs(1),
            "the second waits its window"
        );
        r.back_off(PLACE_KEY);
        assert!(matches!(
            r.admit(PLACE_KEY).await,
            Err(RestError::BackingOff { .. })
        ));
        assert!(r.admit("POST /api/v5/trade/cancel-order").await.is_ok());
        // "Get order details" has its own quota, apart from "Place order" on its path.
        assert!(r.admit("GET /api/v5/trade/order").await.is_ok());
    }

    /// A new order never waits for room in its window (the kill switch could withdraw it
    /// meanwhile and it would leave anyway): a full window refuses it unsent at once; the
    /// order details on the same path still have their own room.
    #[tokio::test(flavor = "current_thread")]
    async fn a_new_order_is_refused_unsent_when_its_window_is_full() {
        let signer = Signer::new(
            "k",
            secrecy::SecretString::from("s".to_string()),
            secrecy::SecretString::from("p".to_string()),
        )
        .unwrap();
        let r = Rest::new("http://127.0.0.1:9", signer, true, Duration::from_secs(1)).unwrap();
        for _ in 0..60 {
            r.admit(PLACE_KEY).await.unwrap();
        }
        let o = PlaceOrder {
            inst_id: "BTC-USDT".into(),
            td_mode: "cash".into(),
            cl_ord_id: "pit1".into(),
            side: "buy".into(),
            ord_type: "limit".into(),
            sz: "0.01".into(),
            px: Some("100".into()),
            tgt_ccy: None,
            reduce_only: None,
        };
        let t0 = tokio::time::Instant::now();
        let e = r.place(&o).await.unwrap_err();
        assert!(matches!(e, RestError::QuotaFull { .. }), "{e}");
        assert!(!e.outcome_unknown(), "never sent: a plain refusal");
        assert!(t0.elapsed() < Duration::from_millis(500), "it did not wait");
        let t0 = tokio::time::Instant::now();
        r.admit("GET /api/v5/trade/order").await.unwrap();
        assert!(t0.elapsed() < Duration::from_millis(100));
    }
}
