//! Kraken spot's signed REST calls, on `reqwest` like the other venues' clients.
//!
//! * Signing ("Spot REST Authentication",
//!   <https://docs.kraken.com/api/docs/guides/spot-rest-auth>): a private call is a `POST`
//!   to `/0/private/<Method>` with a form-encoded body holding `nonce`, and the headers
//!   `API-Key` and `API-Sign` ([`crate::venue::exchanges::kraken::api::sign::Signer`]). The
//!   nonce comes from [`NonceSource`] (persisted, always increasing). Kraken refuses a nonce
//!   at or below the last one it saw for the key (`EAPI:Invalid nonce`), and requests sent
//!   side by side can arrive out of order; so pit sends one private request at a time
//!   (a fair lock held from the nonce to the answer): a new order never passes a kill
//!   switch's cancel-all queued after it. `EAPI:Invalid nonce` refuses the request
//!   unexecuted: an order is refused, a query tried again.
//! * Limits ("Spot REST Rate Limits",
//!   <https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits>): every key has a call
//!   counter starting at 0; "Ledger/trade history calls increase the counter by 2. All
//!   other API calls increase this counter by 1 (except AddOrder, CancelOrder which operate
//!   on a different limiter)"; the counter decays by the tier's rate (Starter 0.33/s, max
//!   15; Intermediate 0.5/s, max 20; Pro 1/s, max 20). pit keeps the same counter (in
//!   thousandths) and waits for room before a counted call; `EAPI:Rate limit exceeded`,
//!   `EGeneral:Too many requests`, `EService:Throttled` or HTTP 429 fill it (so the next
//!   call waits for the decay). AddOrder and CancelOrder count on the matching engine's
//!   per-pair limiter ("Spot Trading Limits",
//!   <https://docs.kraken.com/exchange/guides/general/ratelimits>), which pit does not model:
//!   `EOrder:Rate limit exceeded` refuses the order and backs both off for
//!   [`TRADING_BACKOFF`] (a cancel waits it out).
//! * The calls that stop trading go first: "Cancel All Orders" (the kill) and "Cancel All
//!   Orders After X" (the dead-man) never queue behind queries. The counter keeps
//!   [`SAFETY_ROOM`] for them (queries wait below it), and a query waiting for the one
//!   request in flight steps aside for them; so at the Starter tier a burst of order
//!   look-ups cannot hold the kill back by more than the one request being answered.
//!   Orders and cancels never step aside ([`Lane`]): an order queued before the kill's
//!   Cancel All still goes first and is cancelled by it, and two of them keep their order.
//! * Orders: "Add Order" is sent once. When its outcome is unknown (no answer, an answer
//!   pit cannot read, HTTP 5xx, `EService:Unavailable`, `EService:Busy`,
//!   `EService:Deadline elapsed` (Kraken gave up waiting on its own side: whether the
//!   matching engine took the order is not said), `EGeneral:Internal error`) or Kraken says the `cl_ord_id` is taken,
//!   [`Rest::place_resolving`] asks for the order by its `cl_ord_id` ("Get Open Orders",
//!   then "Get Closed Orders", both with `cl_ord_id`) and never sends it again.
//!
//! Error texts carry Kraken's error strings and never the URL, a body, a signature, a
//! nonce, the key or the secret.

use super::settings::counter_of;
use super::wire::{
    Added, CaaAnswer, CancelCount, Envelope, Fill, Order, OrderLists, PairInfo, RestOrder,
    RestTrade, TradesPage, WsToken,
};
use crate::venue::exchanges::kraken::api::sign::{NonceSource, Signer};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counter room (thousandths: two calls) that every other counted call leaves for the
/// calls that stop trading ([`is_safety`]).
pub const SAFETY_ROOM: u64 = 2_000;

/// The calls that stop trading: the kill's "Cancel All Orders" and the dead-man's "Cancel
/// All Orders After X". They pass queued queries and use the counter's [`SAFETY_ROOM`].
pub fn is_safety(method: &str) -> bool {
    matches!(method, "CancelAll" | "CancelAllOrdersAfter")
}

/// How a private call takes its turn for the one request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// Stops trading ([`is_safety`]): passes every query still waiting.
    Safety,
    /// An order or a cancel: in turn, never passed by a call that was queued after it
    /// (a new order must not slip behind the kill's Cancel All and outlive it).
    Ordered,
    /// A question: steps aside while a call that stops trading waits.
    Query,
}

impl Lane {
    fn of(method: &str) -> Lane {
        if is_safety(method) {
            Lane::Safety
        } else if matches!(method, "AddOrder" | "CancelOrder") {
            Lane::Ordered
        } else {
            Lane::Query
        }
    }
}

/// How long AddOrder and CancelOrder wait after `EOrder:Rate limit exceeded`.
pub const TRADING_BACKOFF: Duration = Duration::from_secs(2);

/// What a refusal means for pit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Refused: nothing happened.
    Rejected,
    /// Over the REST call counter: wait, then go again (never a new order).
    RateLimited,
    /// Over the matching engine's per-pair limiter (`EOrder:Rate limit exceeded`).
    TradingRateLimited,
    /// `EAPI:Invalid nonce`: refused unexecuted; a query may go again.
    Nonce,
    /// May have been executed: ask.
    Unknown,
    /// The `cl_ord_id` is taken: ask for it.
    Duplicate,
    /// Nothing there (`EOrder:Unknown order`).
    Gone,
}

/// Kraken's error strings as outcomes (every page's "error" list; the general ones in
/// <https://docs.kraken.com/api/docs/guides/spot-errors>).
pub fn classify(status: u16, errors: &[String]) -> Outcome {
    // Kraken's pages spell some with a space after the category's colon
    // (`EService: Throttled`, the errors guide); read both spellings as one.
    let errors: Vec<String> = errors.iter().map(|e| e.replacen(": ", ":", 1)).collect();
    let has = |p: &str| errors.iter().any(|e| e.starts_with(p));
    if has("EOrder:Rate limit exceeded") {
        return Outcome::TradingRateLimited;
    }
    if status == 429
        || has("EAPI:Rate limit exceeded")
        || has("EGeneral:Too many requests")
        || has("EService:Throttled")
    {
        return Outcome::RateLimited;
    }
    if has("EAPI:Invalid nonce") {
        return Outcome::Nonce;
    }
    if (500..=599).contains(&status)
        || has("EService:Unavailable")
        || has("EService:Busy")
        || has("EService:Deadline elapsed")
        || has("EGeneral:Internal error")
    {
        return Outcome::Unknown;
    }
    if errors.iter().any(|e| e.contains("Duplicate")) {
        return Outcome::Duplicate;
    }
    if has("EOrder:Unknown order") {
        return Outcome::Gone;
    }
    Outcome::Rejected
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// Kraken answered with errors.
    #[error("Kraken {} (HTTP {status})", errors.join(", "))]
    Api {
        status: u16,
        errors: Vec<String>,
        outcome: Outcome,
    },
    #[error("no answer from Kraken: {0}")]
    NoAnswer(String),
    #[error("not sent: {0}")]
    NotSent(String),
    /// Never sent: AddOrder/CancelOrder back off after `EOrder:Rate limit exceeded`.
    #[error("not sent: {endpoint} rate limited by Kraken: backing off {left_ms} ms more")]
    BackingOff { endpoint: String, left_ms: u64 },
    #[error("unreadable answer from Kraken: {0}")]
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
}

/// How [`Rest::place_resolving`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    Accepted(Added),
    /// The answer was lost or ambiguous; asking by `cl_ord_id` found the order.
    Found(Box<Order>),
    /// Asked after a lost answer: Kraken has no order with this `cl_ord_id` as of the
    /// question. Still unknown; never sent again.
    NotFound {
        cause: RestError,
    },
    Rejected(RestError),
    Unresolved {
        cause: RestError,
        query: RestError,
    },
}

/// What a cancel achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    Accepted,
    /// Filled, cancelled or never there.
    AlreadyGone(String),
}

/// The shortest sleep between two tries of [`Rest::idempotent`].
const MIN_RETRY_GAP: Duration = Duration::from_millis(20);

/// Between two Cancel All whose outcome was unknown.
const CANCEL_ALL_GAP: Duration = Duration::from_secs(1);

/// The call counter: thousandths, decayed from `at`.
struct Counter {
    value: u64,
    at: Instant,
}

/// A pair as pit trades it: Kraken's pair key and its AssetPairs entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub key: String,
    pub info: PairInfo,
}

/// A signed REST client for one Kraken account.
pub struct Rest {
    http: reqwest::Client,
    base: String,
    signer: Signer,
    nonce: Mutex<NonceSource>,
    /// One private request at a time, in the order they asked (tokio's lock is fair),
    /// except that the calls that stop trading go first.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// How many calls that stop trading wait for `one_at_a_time`; others step aside
    /// while any does.
    urgent: std::sync::atomic::AtomicUsize,
    /// Told when `urgent` drops to 0.
    urgent_gone: tokio::sync::Notify,
    counter: Mutex<Counter>,
    max_milli: u64,
    decay_milli: u64,
    trading_backoff: Mutex<Option<Instant>>,
    /// pit's symbol -> pair.
    pairs: Mutex<BTreeMap<String, Pair>>,
    /// Kraken order id -> `cl_ord_id`, from every order seen.
    cl_of: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KrakenRest {{ base: {}, {:?} }}", self.base, self.signer)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a call counts 2 on the counter ("Ledger/trade history calls").
fn cost_of(method: &str) -> u64 {
    match method {
        "TradesHistory" | "QueryTrades" | "Ledgers" | "QueryLedgers" => 2000,
        _ => 1000,
    }
}

impl Rest {
    pub fn new(
        base: &str,
        signer: Signer,
        nonce: NonceSource,
        tier: &str,
        timeout: Duration,
    ) -> Result<Rest, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        let (max_milli, decay_milli) = counter_of(tier);
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_string(),
            signer,
            nonce: Mutex::new(nonce),
            one_at_a_time: tokio::sync::Mutex::new(()),
            urgent: std::sync::atomic::AtomicUsize::new(0),
            urgent_gone: tokio::sync::Notify::new(),
            counter: Mutex::new(Counter {
                value: 0,
                at: Instant::now(),
            }),
            max_milli,
            decay_milli,
            trading_backoff: Mutex::new(None),
            pairs: Mutex::new(BTreeMap::new()),
            cl_of: Mutex::new(BTreeMap::new()),
        })
    }

    /// Local wall time (ms): Kraken's answers carry no clock pit corrects by (the nonce is
    /// only ordered, never compared with Kraken's time).
    pub fn server_now_ms(&self) -> u64 {
        chrono::Utc::now().timestamp_millis().max(0) as u64
    }

    /// The counter now, decayed.
    fn counter_now(&self, c: &mut Counter) {
        let now = Instant::now();
        let gone =
            (now.duration_since(c.at).as_millis() as u64).saturating_mul(self.decay_milli) / 1000;
        c.value = c.value.saturating_sub(gone);
        c.at = now;
    }

    /// Room for a call of `method`: the trading back-off for AddOrder / CancelOrder (a
    /// new order is refused unsent while it holds), else the call counter (waits; below
    /// [`SAFETY_ROOM`] of its top unless the call stops trading).
    async fn admit(&self, method: &str) -> Result<(), RestError> {
        if matches!(method, "AddOrder" | "CancelOrder") {
            if let Some(u) = *lock(&self.trading_backoff) {
                let now = Instant::now();
                if u > now {
                    return Err(RestError::BackingOff {
                        endpoint: method.to_string(),
                        left_ms: (u - now).as_millis().max(1) as u64,
                    });
                }
            }
            return Ok(());
        }
        let cost = cost_of(method);
        let top = if is_safety(method) {
            self.max_milli
        } else {
            self.max_milli.saturating_sub(SAFETY_ROOM).max(cost)
        };
        loop {
            let wait = {
                let mut c = lock(&self.counter);
                self.counter_now(&mut c);
                if c.value + cost <= top {
                    c.value += cost;
                    return Ok(());
                }
                let short = c.value + cost - top;
                Duration::from_millis(short * 1000 / self.decay_milli.max(1) + 10)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The private lane: in turn, except that a call that stops trading passes every
    /// query still waiting (they step aside until no such call waits).
    async fn turn(&self, lane: Lane) -> tokio::sync::MutexGuard<'_, ()> {
        use std::sync::atomic::Ordering::SeqCst;
        if lane == Lane::Ordered {
            return self.one_at_a_time.lock().await;
        }
        if lane == Lane::Safety {
            struct Waiting<'a>(&'a Rest);
            impl Drop for Waiting<'_> {
                fn drop(&mut self) {
                    if self.0.urgent.fetch_sub(1, SeqCst) == 1 {
                        self.0.urgent_gone.notify_waiters();
                    }
                }
            }
            self.urgent.fetch_add(1, SeqCst);
            let _waiting = Waiting(self);
            return self.one_at_a_time.lock().await;
        }
        loop {
            let gone = self.urgent_gone.notified();
            if self.urgent.load(SeqCst) > 0 {
                gone.await;
                continue;
            }
            let g = self.one_at_a_time.lock().await;
            if self.urgent.load(SeqCst) == 0 {
                return g;
            }
        }
    }

    fn back_off(&self, outcome: Outcome) {
        match outcome {
            Outcome::RateLimited => {
                let mut c = lock(&self.counter);
                self.counter_now(&mut c);
                c.value = self.max_milli;
            }
            Outcome::TradingRateLimited => {
                *lock(&self.trading_backoff) = Some(Instant::now() + TRADING_BACKOFF);
            }
            _ => {}
        }
    }

    /// One private call: `POST /0/private/<method>`, `params` form-encoded after the
    /// nonce, signed; the result as `R`.
    async fn private<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<R, RestError> {
        self.admit(method).await?;
        let path = format!("/0/private/{method}");
        let _one = self.turn(Lane::of(method)).await;
        let nonce = lock(&self.nonce)
            .issue()
            .map_err(|e| RestError::NotSent(e.to_string()))?;
        let mut form: Vec<(&str, String)> = vec![("nonce", nonce.to_string())];
        form.extend(params.iter().cloned());
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        let mut b = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (k, v) in self.signer.headers(&path, nonce, &body) {
            b = b.header(k, v);
        }
        let resp = b
            .body(body)
            .send()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        drop(_one);
        let r = decode::<R>(status, &text);
        if let Err(RestError::Api { outcome, .. }) = &r {
            self.back_off(*outcome);
        }
        r
    }

    /// A call safe to repeat (a cancel, a query), made patiently: it goes again after a
    /// back-off, a rate limit or a refused nonce, for at most `patience`. Never for a new
    /// order.
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
                    outcome: Outcome::RateLimited | Outcome::TradingRateLimited | Outcome::Nonce,
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
    // Pairs.

    /// "Get Tradable Asset Pairs" (public, `GET /0/public/AssetPairs?pair=`) for pit's
    /// symbol, as read last (read now if never).
    pub async fn pair(&self, symbol: &str) -> Result<Pair, RestError> {
        if let Some(p) = lock(&self.pairs).get(symbol) {
            return Ok(p.clone());
        }
        self.read_pair(symbol).await
    }

    /// "Get Tradable Asset Pairs" for pit's symbol, read now and remembered: what the
    /// rules' refresh asks (a pair gone `cancel_only`, a new `ordermin`, are seen then).
    pub async fn read_pair(&self, symbol: &str) -> Result<Pair, RestError> {
        let q = serde_urlencoded::to_string([("pair", symbol)])
            .map_err(|e| RestError::NotSent(e.to_string()))?;
        let url = format!("{}/0/public/AssetPairs?{q}", self.base);
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let all: BTreeMap<String, PairInfo> = decode(status, &text)?;
        let (key, info) = all
            .into_iter()
            .next()
            .ok_or_else(|| RestError::Decode(format!("no asset pair {symbol}")))?;
        let p = Pair { key, info };
        lock(&self.pairs).insert(symbol.to_string(), p.clone());
        Ok(p)
    }

    /// pit's symbol of a Kraken pair name (its key, altname or wsname), among the pairs
    /// read.
    pub fn symbol_of(&self, pair: &str) -> Option<String> {
        lock(&self.pairs)
            .iter()
            .find(|(s, p)| {
                s.as_str() == pair
                    || p.key == pair
                    || p.info.altname == pair
                    || p.info.wsname == pair
            })
            .map(|(s, _)| s.clone())
    }

    /// The (base, quote) asset names of a symbol's pair, as "Get Account Balance" keys them.
    pub fn assets_of(&self, symbol: &str) -> Option<(String, String)> {
        lock(&self.pairs)
            .get(symbol)
            .map(|p| (p.info.base.clone(), p.info.quote.clone()))
    }

    /// The pair's name for "Add Order" (`pair`: "Asset pair `id` or `altname`").
    pub fn pair_name(&self, symbol: &str) -> Option<String> {
        lock(&self.pairs).get(symbol).map(|p| {
            if p.info.altname.is_empty() {
                p.key.clone()
            } else {
                p.info.altname.clone()
            }
        })
    }

    fn remember(&self, o: &Order) {
        if !o.cl_ord_id.is_empty() {
            lock(&self.cl_of).insert(o.ord_id.clone(), o.cl_ord_id.clone());
        }
    }

    fn to_order(&self, txid: &str, r: RestOrder) -> Option<Order> {
        let symbol = self
            .symbol_of(&r.descr.pair)
            .unwrap_or_else(|| r.descr.pair.clone());
        let o = r.into_order(txid, symbol)?;
        self.remember(&o);
        Some(o)
    }

    // -----------------------------------------------------------------------------------
    // Orders.

    /// "Add Order", sent once.
    pub async fn place(&self, params: &[(&str, String)]) -> Result<Added, RestError> {
        self.private("AddOrder", params).await
    }

    /// Place an order; a lost or ambiguous answer is resolved by asking for its
    /// `cl_ord_id` (patiently); the order is never re-sent.
    pub async fn place_resolving(
        &self,
        symbol: &str,
        cl_ord_id: &str,
        params: &[(&str, String)],
        patience: Duration,
    ) -> Placed {
        let cause = match self.place(params).await {
            Ok(a) => {
                if let Some(t) = a.txid.first() {
                    lock(&self.cl_of).insert(t.clone(), cl_ord_id.to_string());
                }
                return Placed::Accepted(a);
            }
            Err(e) if e.outcome_unknown() || e.outcome() == Some(Outcome::Duplicate) => e,
            Err(e) => return Placed::Rejected(e),
        };
        tracing::warn!(%cl_ord_id, error = %cause, "kraken: order outcome unknown, asking");
        let q = self
            .idempotent(patience, || self.order(symbol, cl_ord_id))
            .await;
        match q {
            Ok(Some(order)) => Placed::Found(Box::new(order)),
            Ok(None) => Placed::NotFound { cause },
            Err(query) => Placed::Unresolved { cause, query },
        }
    }

    /// "Cancel Order" (<https://docs.kraken.com/api-reference/trading/cancel-order>) by our
    /// `cl_ord_id`; `EOrder:Unknown order`: nothing to cancel.
    pub async fn cancel(
        &self,
        cl_ord_id: &str,
        patience: Duration,
    ) -> Result<Cancelled, RestError> {
        let p = [("cl_ord_id", cl_ord_id.to_string())];
        let r: Result<CancelCount, RestError> = self
            .idempotent(patience, || self.private("CancelOrder", &p))
            .await;
        match r {
            Ok(c) if c.count > 0 || c.pending == Some(true) => Ok(Cancelled::Accepted),
            Ok(_) => Ok(Cancelled::AlreadyGone("Kraken cancelled none".into())),
            Err(RestError::Api {
                outcome: Outcome::Gone,
                errors,
                ..
            }) => Ok(Cancelled::AlreadyGone(format!(
                "Kraken {}",
                errors.join(", ")
            ))),
            Err(e) => Err(e),
        }
    }

    /// "Cancel All Orders"
    /// (<https://docs.kraken.com/api-reference/trading/cancel-all-orders>): every open
    /// order of the account; how many. The kill's: it may go again whatever became of the
    /// last one (cancelling what is cancelled changes nothing), so no answer or an unknown
    /// outcome sends it again, a second apart, until `patience` runs out.
    pub async fn cancel_all(&self, patience: Duration) -> Result<u64, RestError> {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r: Result<CancelCount, RestError> = self
                .idempotent(left, || self.private("CancelAll", &[]))
                .await;
            match r {
                Err(
                    e @ (RestError::NoAnswer(_)
                    | RestError::Api {
                        outcome: Outcome::Unknown,
                        ..
                    }),
                ) if Instant::now() + CANCEL_ALL_GAP < deadline => {
                    tracing::warn!(error = %e, "kraken: Cancel All's outcome unknown: sent again");
                    tokio::time::sleep(CANCEL_ALL_GAP).await;
                }
                r => return r.map(|c| c.count),
            }
        }
    }

    /// An order by `cl_ord_id`: "Get Open Orders"
    /// (<https://docs.kraken.com/api-reference/account-data/get-open-orders>), then "Get
    /// Closed Orders" (<https://docs.kraken.com/api-reference/account-data/get-closed-orders>),
    /// each restricted to the `cl_ord_id` (their `cl_ord_id` parameter) and with `trades`;
    /// `None` when neither has it.
    pub async fn order(&self, symbol: &str, cl_ord_id: &str) -> Result<Option<Order>, RestError> {
        let p = [
            ("trades", "true".to_string()),
            ("cl_ord_id", cl_ord_id.to_string()),
        ];
        for method in ["OpenOrders", "ClosedOrders"] {
            let l: OrderLists = self.private(method, &p).await?;
            let all = l.open.into_iter().chain(l.closed);
            for (txid, r) in all {
                if r.cl_ord_id.as_deref() == Some(cl_ord_id)
                    && let Some(mut o) = self.to_order(&txid, r)
                {
                    if o.inst_id != symbol && self.symbol_of(&o.inst_id).is_none() {
                        o.inst_id = symbol.to_string();
                    }
                    return Ok(Some(o));
                }
            }
        }
        Ok(None)
    }

    /// "Get Open Orders": every open order of the account.
    pub async fn open_orders(&self, patience: Duration) -> Result<Vec<Order>, RestError> {
        let p = [("trades", "false".to_string())];
        let l: OrderLists = self
            .idempotent(patience, || self.private("OpenOrders", &p))
            .await?;
        Ok(l.open
            .into_iter()
            .filter_map(|(t, r)| self.to_order(&t, r))
            .collect())
    }

    /// The `cl_ord_id`s of orders by Kraken id, asked with "Query Orders Info"
    /// (<https://docs.kraken.com/api-reference/account-data/query-orders-info>, `txid` up to
    /// 50 a call) for those not seen yet.
    async fn cl_ord_ids(&self, txids: &[String], patience: Duration) -> Result<(), RestError> {
        let unknown: Vec<String> = {
            let m = lock(&self.cl_of);
            let mut v: Vec<String> = txids
                .iter()
                .filter(|t| !m.contains_key(*t))
                .cloned()
                .collect();
            v.sort();
            v.dedup();
            v
        };
        for chunk in unknown.chunks(50) {
            let p = [("txid", chunk.join(","))];
            let found: BTreeMap<String, RestOrder> = self
                .idempotent(patience, || self.private("QueryOrders", &p))
                .await?;
            let mut m = lock(&self.cl_of);
            for t in chunk {
                let cl = found
                    .get(t)
                    .and_then(|o| o.cl_ord_id.clone())
                    .unwrap_or_default();
                m.insert(t.clone(), cl);
            }
        }
        Ok(())
    }

    fn to_fills(&self, trades: Vec<(String, RestTrade)>) -> Vec<Fill> {
        let cl = lock(&self.cl_of).clone();
        trades
            .into_iter()
            .filter_map(|(txid, t)| {
                let symbol = self.symbol_of(&t.pair)?;
                let quote = self.assets_of(&symbol).map(|a| a.1).unwrap_or_default();
                let c = cl.get(&t.ordertxid).cloned().unwrap_or_default();
                t.into_fill(&txid, symbol, c, quote)
            })
            .collect()
    }

    /// "Get Trades History"
    /// (<https://docs.kraken.com/api-reference/account-data/get-trades-history>) since
    /// `begin_ms` (`start`, exclusive, Unix seconds), newest first, 50 a page, paged by
    /// `ofs` until `count` is reached; the trades of pit's pairs, each with its order's
    /// `cl_ord_id` (a trade names its order's `ordertxid` only).
    pub async fn fills(
        &self,
        begin_ms: Option<u64>,
        patience: Duration,
    ) -> Result<Vec<Fill>, RestError> {
        let mut out: Vec<(String, RestTrade)> = Vec::new();
        let mut ofs = 0u64;
        loop {
            let mut p = vec![("type", "all".to_string()), ("ofs", ofs.to_string())];
            if let Some(b) = begin_ms {
                p.push(("start", (b / 1000).to_string()));
            }
            let page: TradesPage = self
                .idempotent(patience, || self.private("TradesHistory", &p))
                .await?;
            let n = page.trades.len() as u64;
            out.extend(page.trades);
            ofs += n;
            if n == 0 || page.count.is_none_or(|c| ofs >= c) {
                break;
            }
        }
        out.retain(|(_, t)| self.symbol_of(&t.pair).is_some());
        let txids: Vec<String> = out.iter().map(|(_, t)| t.ordertxid.clone()).collect();
        self.cl_ord_ids(&txids, patience).await?;
        Ok(self.to_fills(out))
    }

    /// One order's fills: "Query Trades Info" for its trade ids (20 a call).
    pub async fn order_fills(&self, o: &Order, patience: Duration) -> Result<Vec<Fill>, RestError> {
        let mut out = Vec::new();
        for chunk in o.trades.chunks(20) {
            let p = [("txid", chunk.join(","))];
            let got: BTreeMap<String, RestTrade> = self
                .idempotent(patience, || self.private("QueryTrades", &p))
                .await?;
            out.extend(got);
        }
        lock(&self.cl_of).insert(o.ord_id.clone(), o.cl_ord_id.clone());
        Ok(self.to_fills(out))
    }

    /// "Get Account Balance": asset -> balance.
    pub async fn balance(
        &self,
        patience: Duration,
    ) -> Result<BTreeMap<String, Decimal>, RestError> {
        let m: BTreeMap<String, String> = self
            .idempotent(patience, || self.private("Balance", &[]))
            .await?;
        Ok(m.into_iter()
            .filter_map(|(k, v)| super::wire::parse_num(&v).map(|d| (k, d)))
            .collect())
    }

    /// "Cancel All Orders After X": arm (or refresh) the countdown, or disarm it with 0.
    pub async fn cancel_all_after(
        &self,
        secs: u32,
        patience: Duration,
    ) -> Result<CaaAnswer, RestError> {
        let p = [("timeout", secs.to_string())];
        self.idempotent(patience, || self.private("CancelAllOrdersAfter", &p))
            .await
    }

    /// "Get WebSockets Token"
    /// (<https://docs.kraken.com/api-reference/trading/get-websockets-token>).
    pub async fn ws_token(&self, patience: Duration) -> Result<WsToken, RestError> {
        self.idempotent(patience, || self.private("GetWebSocketsToken", &[]))
            .await
    }
}

/// The envelope: no errors, the result as `R`; else the errors.
pub fn decode<R: DeserializeOwned>(status: u16, body: &str) -> Result<R, RestError> {
    let env: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(_) if !(200..300).contains(&status) => {
            return Err(RestError::Api {
                status,
                errors: vec![format!("HTTP {status} without a Kraken body")],
                outcome: classify(status, &[]),
            });
        }
        Err(e) => return Err(RestError::Decode(e.to_string())),
    };
    if !env.error.is_empty() || !(200..300).contains(&status) {
        return Err(RestError::Api {
            status,
            outcome: classify(status, &env.error),
            errors: env.error,
        });
    }
    let data = env
        .result
        .map(|d| d.get().to_string())
        .unwrap_or("null".into());
    serde_json::from_str(&data).map_err(|e| RestError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn krakens_errors_map_to_what_pit_does() {
        assert_eq!(
            classify(200, &errs(&["EOrder:Insufficient funds"])),
            Outcome::Rejected
        );
        assert_eq!(
            classify(200, &errs(&["EAPI:Rate limit exceeded"])),
            Outcome::RateLimited
        );
        assert_eq!(
            classify(200, &errs(&["EService:Throttled: 1700000000"])),
            Outcome::RateLimited
        );
        // The errors guide's spelling, with a space after the category.
        assert_eq!(
            classify(200, &errs(&["EService: Throttled: 1700000000"])),
            Outcome::RateLimited
        );
        assert_eq!(
            classify(200, &errs(&["EOrder:Rate limit exceeded"])),
            Outcome::TradingRateLimited
        );
        assert_eq!(
            classify(200, &errs(&["EAPI:Invalid nonce"])),
            Outcome::Nonce
        );
        for u in [
            "EService:Unavailable",
            "EService:Busy",
            "EService: Busy",
            "EService:Deadline elapsed",
            "EGeneral:Internal error",
        ] {
            assert_eq!(classify(200, &errs(&[u])), Outcome::Unknown, "{u}");
        }
        assert_eq!(classify(502, &[]), Outcome::Unknown);
        assert_eq!(
            classify(200, &errs(&["EOrder:Unknown order"])),
            Outcome::Gone
        );
        // An answer: the result, or the errors in the text (never the body).
        let ok = r#"{"error":[],"result":{"descr":{"order":"buy 1.25000000 XBTUSD @ limit 27500.0"},"txid":["OU22CG-KLAF2-FWUDD7"]}}"#;
        let a: Added = decode(200, ok).unwrap();
        assert_eq!(a.txid, ["OU22CG-KLAF2-FWUDD7"]);
        let e = decode::<Added>(200, r#"{"error":["EOrder:Insufficient funds"]}"#).unwrap_err();
        assert!(e.to_string().contains("EOrder:Insufficient funds"), "{e}");
        assert!(!e.outcome_unknown());
        assert!(
            decode::<Added>(500, "<html>oops</html>")
                .unwrap_err()
                .outcome_unknown()
        );
        assert!(decode::<Added>(200, "{").unwrap_err().outcome_unknown());
    }

    fn rest(tier: &str) -> (Rest, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::new("k", "c2VjcmV0").unwrap();
        let nonce = NonceSource::open(&dir.path().join("kraken.nonce")).unwrap();
        (
            Rest::new(
                "http://127.0.0.1:9",
                signer,
                nonce,
                tier,
                Duration::from_secs(1),
            )
            .unwrap(),
            dir,
        )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_call_counter_waits_for_its_decay_and_orders_never_wait() {
        let (r, _d) = rest("pro");
        // Pro: 20, decaying 1 a second; trade history counts 2.
        for _ in 0..10 {
            r.admit("TradesHistory").await.unwrap();
        }
        let t0 = Instant::now();
        r.admit("Balance").await.unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(900),
            "waited the decay"
        );
        // AddOrder is on the engine's limiter: never waits for the counter.
        let t0 = Instant::now();
        r.admit("AddOrder").await.unwrap();
        assert!(t0.elapsed() < Duration::from_millis(50));
        r.back_off(Outcome::TradingRateLimited);
        assert!(matches!(
            r.admit("AddOrder").await,
            Err(RestError::BackingOff { .. })
        ));
        // A REST rate limit fills the counter.
        r.back_off(Outcome::RateLimited);
        let t0 = Instant::now();
        r.admit("Balance").await.unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(900));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn queries_leave_the_counters_last_room_to_the_calls_that_stop_trading() {
        let (r, _d) = rest("pro");
        // Pro: 20 calls, decaying 1 a second. Queries have filled it to 18.5 of 20.
        {
            let mut c = lock(&r.counter);
            c.value = 18_500;
            c.at = Instant::now();
        }
        // The kill's Cancel All and the dead-man's countdown go at once...
        let t0 = Instant::now();
        r.admit("CancelAll").await.unwrap();
        assert!(
            t0.elapsed() < Duration::from_millis(50),
            "Cancel All waited"
        );
        // ...a query waits until the counter is back below its top less the room.
        let t0 = Instant::now();
        r.admit("OpenOrders").await.unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(2_000),
            "a query used the kill's room: {:?}",
            t0.elapsed()
        );
        let t0 = Instant::now();
        r.admit("CancelAllOrdersAfter").await.unwrap();
        assert!(
            t0.elapsed() < Duration::from_millis(50),
            "the dead-man waited"
        );
    }

    /// A Kraken stand-in that answers the first private call after `first` and the others
    /// at once, noting the method of each call as it arrives.
    async fn slow_kraken(first: Duration) -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
        use axum::extract::{Path, State};
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        type Seen = std::sync::Arc<Mutex<Vec<String>>>;
        let app = axum::Router::new()
            .route(
                "/0/private/{method}",
                axum::routing::post(
                    move |State(seen): State<Seen>, Path(method): Path<String>| async move {
                        let n = {
                            let mut s = lock(&seen);
                            s.push(method.clone());
                            s.len()
                        };
                        if n == 1 {
                            tokio::time::sleep(first).await;
                        }
                        let result = match method.as_str() {
                            "CancelAll" => r#"{"count":0}"#,
                            "AddOrder" => r#"{"descr":{"order":"x"},"txid":["OT"]}"#,
                            _ => r#"{"open":{}}"#,
                        };
                        format!(r#"{{"error":[],"result":{result}}}"#)
                    },
                ),
            )
            .with_state(seen.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_kills_cancel_all_passes_waiting_queries_but_not_a_waiting_order() {
        let (base, seen) = slow_kraken(Duration::from_millis(1_500)).await;
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::new("k", "c2VjcmV0").unwrap();
        let nonce = NonceSource::open(&dir.path().join("kraken.nonce")).unwrap();
        let r = std::sync::Arc::new(
            Rest::new(&base, signer, nonce, "pro", Duration::from_secs(5)).unwrap(),
        );
        let mut waiting = Vec::new();
        let query = |r: std::sync::Arc<Rest>| {
            tokio::spawn(async move {
                r.open_orders(Duration::from_secs(5)).await.unwrap();
            })
        };
        // One look-up in flight (Kraken slow to answer it)...
        waiting.push(query(r.clone()));
        let t0 = Instant::now();
        while lock(&seen).is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(5), "no call arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ...two more queued behind it, then a new order...
        for _ in 0..2 {
            waiting.push(query(r.clone()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let order = r.clone();
        waiting.push(tokio::spawn(async move {
            order
                .place(&[("pair", "XBTUSD".to_string())])
                .await
                .unwrap();
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...then the kill: its Cancel All goes right after the order queued before it
        // (which it then cancels), before the two look-ups.
        r.cancel_all(Duration::from_secs(5)).await.unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        let seen = lock(&seen).clone();
        assert_eq!(
            seen,
            [
                "OpenOrders",
                "AddOrder",
                "CancelAll",
                "OpenOrders",
                "OpenOrders"
            ],
            "the order of the calls Kraken saw"
        );
    }
}
