//! Binance spot's signed REST calls (rest-api.md: "SIGNED (TRADE and USER_DATA) Endpoint
//! security", "New order", "Cancel order", "Cancel all open orders on a symbol", "Query
//! order", "Current open orders", "Account information", "Account trade list"), on an
//! async HTTP client.
//!
//! Why `reqwest` (with rustls on `ring`, no system OpenSSL, like the WebSocket side):
//! `ureq`, already used for the market-data snapshot, blocks its thread; the connection
//! task runs many requests at once on tokio (a new order, a cancel-all per symbol and a
//! query for an unknown outcome must not queue behind each other), which needs an async
//! client with per-request timeouts. `reqwest` is the well-kept one on hyper.
//!
//! Every call reads the weight and order-count headers; a 429 sets a back-off from its
//! `Retry-After`; a 418 marks the client banned (nothing is sent after it); a `-1021`
//! measures the server-time offset again. Error texts carry Binance's code and message and
//! never the URL, the query or a key.

use crate::venue::exchanges::binance::api::errors::{ApiError, Outcome, classify, headers};
use crate::venue::exchanges::binance::api::sign::{ApiKey, Signer, signed_query};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// Binance answered with an error: what to do with it is `outcome`.
    #[error("{err} (HTTP {status})")]
    Api {
        status: u16,
        err: ApiError,
        outcome: Outcome,
    },
    /// No answer (timeout, connection dropped): the request may or may not have been
    /// executed.
    #[error("no answer from Binance: {0}")]
    NoAnswer(String),
    /// The request was never sent (rate-limit back-off, ban, bad parameters).
    #[error("not sent: {0}")]
    NotSent(String),
    /// An answer pit could not read.
    #[error("unreadable answer from Binance: {0}")]
    Decode(String),
}

impl RestError {
    /// Whether the request may have been executed (query before believing otherwise).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RestError::NoAnswer(_) => true,
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
}

/// The weight and order counts Binance last reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub used_weight_1m: Option<u64>,
    pub order_count_10s: Option<u64>,
    pub order_count_1d: Option<u64>,
}

/// A signed REST client for one account.
pub struct Rest {
    http: reqwest::Client,
    base: String,
    api_key: ApiKey,
    signer: Signer,
    recv_window_ms: u64,
    /// Server time minus local time (ms).
    offset_ms: AtomicI64,
    usage: Mutex<Usage>,
    /// No request before this instant (429 Retry-After).
    backoff_until: Mutex<Option<Instant>>,
    /// HTTP 418: banned; nothing more is sent.
    banned: AtomicBool,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rest {{ base: {}, key: {:?} }}", self.base, self.api_key)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Rest {
    pub fn new(
        base: &str,
        api_key: ApiKey,
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
            api_key,
            signer,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            usage: Mutex::new(Usage::default()),
            backoff_until: Mutex::new(None),
            banned: AtomicBool::new(false),
        })
    }

    pub fn usage(&self) -> Usage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }
    pub fn is_banned(&self) -> bool {
        self.banned.load(Ordering::Acquire)
    }
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }
    pub fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }
    pub fn api_key(&self) -> &ApiKey {
        &self.api_key
    }
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Local wall time corrected by the measured offset: the `timestamp` Binance expects.
    pub fn server_now_ms(&self) -> u64 {
        let local = chrono::Utc::now().timestamp_millis();
        (local + self.offset_ms()).max(0) as u64
    }

    /// Measure the server-time offset (`GET /api/v3/time`), half the round trip taken as
    /// the one-way delay.
    pub async fn sync_time(&self) -> Result<i64, RestError> {
        let t0 = chrono::Utc::now().timestamp_millis();
        let st: crate::venue::exchanges::binance::api::wire::ServerTime =
            self.public(Method::Get, "/api/v3/time", &()).await?;
        let t1 = chrono::Utc::now().timestamp_millis();
        let offset = st.server_time - (t0 + t1) / 2;
        self.offset_ms.store(offset, Ordering::Release);
        Ok(offset)
    }

    /// An unsigned call.
    pub async fn public<P: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &P,
    ) -> Result<R, RestError> {
        let q =
            serde_urlencoded::to_string(params).map_err(|e| RestError::NotSent(e.to_string()))?;
        self.send(method, path, q, false).await
    }

    /// A signed call (`timestamp`, `recvWindow`, `signature` added). On `-1021` the
    /// offset is measured again before the error is returned (the caller decides about
    /// a retry: an order is never re-sent blindly).
    pub async fn signed<P: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &P,
    ) -> Result<R, RestError> {
        let q = signed_query(
            params,
            self.server_now_ms(),
            Some(self.recv_window_ms),
            &self.signer,
        )
        .map_err(|e| RestError::NotSent(format!("bad parameters: {e}")))?;
        let r = self.send(method, path, q, true).await;
        if let Err(RestError::Api {
            outcome: Outcome::ClockSkew,
            ..
        }) = &r
        {
            match self.sync_time().await {
                Ok(o) => {
                    tracing::warn!(offset_ms = o, "binance: -1021, server time measured again")
                }
                Err(e) => tracing::warn!(error = %e, "binance: -1021, server time not measured"),
            }
        }
        r
    }

    /// How long the 429 back-off still holds (`None`: requests may go now).
    pub fn backoff_left(&self) -> Option<Duration> {
        let until = self.backoff_until.lock().ok().and_then(|g| *g)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// A signed call that is safe to repeat (a cancel, a query: asking twice changes
    /// nothing at the venue), made patiently: it waits out a 429 back-off instead of
    /// failing (rest-api.md, "LIMITS", <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>:
    /// "When a 429 is received, it's your obligation as an API to back off"; `Retry-After`
    /// gives "the number of seconds required to wait"), and goes again after a 429 or
    /// a `-1021` (the offset is measured again first, see [`Rest::signed`]), for at most
    /// `patience`. A ban (418), a refusal or an unknown outcome is returned at once. Never
    /// for a new order: an order is not re-sent.
    pub async fn signed_idempotent<P: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &P,
        patience: Duration,
    ) -> Result<R, RestError> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(left) = self.backoff_left()
                && !self.is_banned()
                && Instant::now() + left < deadline
            {
                tokio::time::sleep(left).await;
            }
            let r = self.signed(method, path, params).await;
            let again = match &r {
                Err(RestError::Api { outcome, .. }) => {
                    matches!(outcome, Outcome::RateLimited | Outcome::ClockSkew)
                }
                Err(RestError::NotSent(_)) => self.backoff_left().is_some(),
                _ => false,
            };
            if !again || self.is_banned() || Instant::now() >= deadline {
                return r;
            }
            if self.backoff_left().is_none() {
                // -1021: the offset was just measured again; a short pause all the same.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn send<R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: String,
        keyed: bool,
    ) -> Result<R, RestError> {
        if self.is_banned() {
            return Err(RestError::NotSent(
                "Binance banned this IP (HTTP 418); nothing is sent: cancel what is still open on Binance's web page or app".into(),
            ));
        }
        if let Some(until) = self.backoff_until.lock().ok().and_then(|g| *g)
            && Instant::now() < until
        {
            return Err(RestError::NotSent(format!(
                "rate limited by Binance (HTTP 429): backing off {} ms more",
                until.saturating_duration_since(Instant::now()).as_millis()
            )));
        }
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
            Method::Delete => self.http.delete(url),
        };
        if keyed {
            req = req.header(headers::API_KEY, self.api_key.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        self.read_headers(resp.headers(), status);
        let body = resp
            .text()
            .await
            .map_err(|e| RestError::NoAnswer(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&body).map_err(|e| RestError::Decode(e.to_string()));
        }
        let err: ApiError = serde_json::from_str(&body)
            .unwrap_or_else(|_| ApiError::new(0, format!("HTTP {status} without an error body")));
        let outcome = classify(status, (err.code != 0).then_some(err.code));
        if outcome == Outcome::Banned {
            self.banned.store(true, Ordering::Release);
        }
        Err(RestError::Api {
            status,
            err,
            outcome,
        })
    }

    fn read_headers(&self, h: &reqwest::header::HeaderMap, status: u16) {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Ok(mut u) = self.usage.lock() {
            if let Some(w) = num(headers::USED_WEIGHT_1M) {
                u.used_weight_1m = Some(w);
            }
            if let Some(c) = num(headers::ORDER_COUNT_10S) {
                u.order_count_10s = Some(c);
            }
            if let Some(c) = num(headers::ORDER_COUNT_1D) {
                u.order_count_1d = Some(c);
            }
        }
        if status == 429 || status == 418 {
            // rest-api.md, "LIMITS": "A Retry-After header is sent with a 418 or 429
            // responses and will give the number of seconds required to wait".
            let secs = num(headers::RETRY_AFTER).unwrap_or(1).max(1);
            if let Ok(mut g) = self.backoff_until.lock() {
                *g = Some(Instant::now() + Duration::from_secs(secs));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against a small local HTTP server that answers as Binance does for each case.
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use secrecy::SecretString;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64 as Ai64, AtomicU32};

    const SECRET: &str = "rest-unit-test-secret-9f8e7d";

    /// What the server does: its scripted answers to `/api/v3/order` (popped in turn, then
    /// 200 `{}`), the server clock's offset, and the requests it saw.
    #[derive(Default)]
    struct Script {
        answers: Mutex<Vec<(u16, Option<u64>, &'static str)>>,
        orders: AtomicU32,
        times: AtomicU32,
        offset_ms: Ai64,
        last_query: Mutex<String>,
    }

    async fn serve(script: Arc<Script>) -> String {
        let s1 = script.clone();
        let s2 = script.clone();
        let app = axum::Router::new()
            .route(
                "/api/v3/time",
                axum::routing::get(move || {
                    let s = s1.clone();
                    async move {
                        s.times.fetch_add(1, Ordering::SeqCst);
                        let now = chrono::Utc::now().timestamp_millis()
                            + s.offset_ms.load(Ordering::SeqCst);
                        format!("{{\"serverTime\":{now}}}")
                    }
                }),
            )
            .route(
                "/api/v3/order",
                axum::routing::any(move |q: axum::extract::RawQuery| {
                    let s = s2.clone();
                    async move {
                        s.orders.fetch_add(1, Ordering::SeqCst);
                        *s.last_query.lock().unwrap() = q.0.unwrap_or_default();
                        let next = {
                            let mut a = s.answers.lock().unwrap();
                            (!a.is_empty()).then(|| a.remove(0))
                        };
                        let (status, retry, body) = next.unwrap_or((200, None, "{}"));
                        let mut h = HeaderMap::new();
                        h.insert("x-mbx-used-weight-1m", "17".parse().unwrap());
                        h.insert("x-mbx-order-count-10s", "3".parse().unwrap());
                        if let Some(r) = retry {
                            h.insert("retry-after", r.to_string().parse().unwrap());
                        }
                        (StatusCode::from_u16(status).unwrap(), h, body).into_response()
                    }
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn client(base: &str) -> Rest {
        Rest::new(
            base,
            ApiKey::new("unit-key"),
            Signer::hmac(SecretString::from(SECRET.to_string())).unwrap(),
            5000,
            Duration::from_millis(2000),
        )
        .unwrap()
    }

    fn q() -> [(&'static str, &'static str); 1] {
        [("symbol", "BTCUSDT")]
    }

    #[tokio::test]
    async fn a_429_backs_off_for_retry_after_and_sends_nothing_meanwhile() {
        let s = Arc::new(Script::default());
        s.answers.lock().unwrap().push((
            429,
            Some(2),
            r#"{"code":-1003,"msg":"Too many requests."}"#,
        ));
        let r = client(&serve(s.clone()).await);
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(-1003));
        assert!(!e.outcome_unknown());
        let left = r.backoff_left().expect("backing off");
        assert!(left > Duration::from_millis(1500) && left <= Duration::from_secs(2));
        // During the back-off nothing reaches the server.
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert!(matches!(e, RestError::NotSent(_)), "{e}");
        assert_eq!(s.orders.load(Ordering::SeqCst), 1);
        assert_eq!(r.usage().used_weight_1m, Some(17));
        assert_eq!(r.usage().order_count_10s, Some(3));
    }

    #[tokio::test]
    async fn an_idempotent_call_waits_out_the_429_and_goes_again() {
        let s = Arc::new(Script::default());
        s.answers.lock().unwrap().push((
            429,
            Some(1),
            r#"{"code":-1003,"msg":"Too many requests."}"#,
        ));
        let r = client(&serve(s.clone()).await);
        let t0 = Instant::now();
        let v: serde_json::Value = r
            .signed_idempotent(
                Method::Delete,
                "/api/v3/order",
                &q(),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(v, serde_json::json!({}));
        assert!(
            t0.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(s.orders.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_418_stops_every_request() {
        let s = Arc::new(Script::default());
        s.answers.lock().unwrap().push((
            418,
            Some(120),
            r#"{"code":-1003,"msg":"Way too many requests; IP banned."}"#,
        ));
        let r = client(&serve(s.clone()).await);
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            RestError::Api {
                outcome: Outcome::Banned,
                ..
            }
        ));
        assert!(r.is_banned());
        for _ in 0..3 {
            let e = r
                .signed_idempotent::<_, serde_json::Value>(
                    Method::Delete,
                    "/api/v3/order",
                    &q(),
                    Duration::from_secs(5),
                )
                .await
                .unwrap_err();
            assert!(e.to_string().contains("418"), "{e}");
        }
        assert_eq!(
            s.orders.load(Ordering::SeqCst),
            1,
            "nothing sent after a 418"
        );
    }

    #[tokio::test]
    async fn a_minus_1021_measures_the_server_time_again() {
        let s = Arc::new(Script::default());
        let r = client(&serve(s.clone()).await);
        r.sync_time().await.unwrap();
        assert!(r.offset_ms().abs() < 500);
        s.offset_ms.store(8000, Ordering::SeqCst);
        s.answers.lock().unwrap().push((
            400,
            None,
            r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#,
        ));
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(-1021));
        assert_eq!(s.times.load(Ordering::SeqCst), 2, "measured again");
        assert!((r.offset_ms() - 8000).abs() < 500, "{}", r.offset_ms());
        // The next request carries the corrected timestamp.
        let _: serde_json::Value = r.signed(Method::Post, "/api/v3/order", &q()).await.unwrap();
        let query = s.last_query.lock().unwrap().clone();
        let ts: i64 = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("timestamp="))
            .unwrap()
            .parse()
            .unwrap();
        let server_now = chrono::Utc::now().timestamp_millis() + 8000;
        assert!((server_now - ts).abs() < 1000, "{ts} vs {server_now}");
    }

    #[tokio::test]
    async fn no_answer_is_an_unknown_outcome_and_errors_never_show_the_query() {
        // Nothing listens there: connection refused.
        let r = client("http://127.0.0.1:9");
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert!(e.outcome_unknown(), "{e}");
        let s = Arc::new(Script::default());
        s.answers
            .lock()
            .unwrap()
            .push((503, None, r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#));
        let r = client(&serve(s.clone()).await);
        let e = r
            .signed::<_, serde_json::Value>(Method::Post, "/api/v3/order", &q())
            .await
            .unwrap_err();
        assert!(e.outcome_unknown());
        let text = format!("{e} {e:?} {r:?}");
        for bad in ["signature", "timestamp=", SECRET, "unit-key"] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
    }
}
