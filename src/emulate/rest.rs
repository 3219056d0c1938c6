//! The REST side: `/api/v3/...` as Binance spot answers it (status codes, `{code,msg}`
//! bodies, weight and order-count headers), the faults that touch it, and the control
//! endpoints `GET /emulator/state` and `POST /emulator/faults`.

use super::faults::{self, Faults};
use super::limits;
use super::shared::{ConnKill, Shared};
use crate::venue::exchanges::binance::api::errors::{ApiError, code, headers, msg};
use crate::venue::exchanges::binance::api::wire::{MyTradesParams, NewOrderParams, ServerTime};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

type Answer = Result<(serde_json::Value, bool), (u16, ApiError)>;

fn json_response(status: u16, body: String) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

fn error_response(status: u16, e: &ApiError) -> Response {
    json_response(status, serde_json::to_string(e).unwrap_or_default())
}

/// Query and form body merged (the query wins, as documented), then read as `T`.
fn params<T: DeserializeOwned>(query: &str, body: &str) -> Result<T, (u16, ApiError)> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (k, v) in form_urlencoded::parse(body.as_bytes()).into_owned() {
        if !pairs.iter().any(|(n, _)| *n == k) {
            pairs.push((k, v));
        }
    }
    let merged = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    serde_urlencoded::from_str(&merged).map_err(|e| {
        (
            400,
            ApiError::new(
                code::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                format!("A mandatory parameter was not sent, was empty/null, or malformed: {e}"),
            ),
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefParams {
    symbol: String,
    order_id: Option<u64>,
    orig_client_order_id: Option<String>,
    new_client_order_id: Option<String>,
}

#[derive(Deserialize)]
struct SymbolOnly {
    symbol: String,
}

#[derive(Deserialize)]
struct MaybeSymbol {
    symbol: Option<String>,
}

#[derive(Deserialize)]
struct DepthParams {
    symbol: String,
    limit: Option<usize>,
}

/// Every `/api/v3/...` request.
pub async fn api(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    hdrs: HeaderMap,
    kill: Option<axum::Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    // `create-late=D`: a new order reaches the matching engine late (a cancel sent
    // meanwhile finds nothing).
    let create_late = s.faults.lock().map(|f| f.create_late).unwrap_or_default();
    if !create_late.is_zero() && method == Method::POST && path == "/api/v3/order" {
        tokio::time::sleep(create_late).await;
    }
    let now_ms = s.now_ms();
    let used = s
        .limits
        .lock()
        .map(|mut l| l.weigh(now_ms, limits::weight(method.as_str(), &path, &query)))
        .unwrap_or(0);
    let (slow, fault) = {
        let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let fault = if let Some(left) = f.ban_left(now) {
            Some((
                418,
                ApiError::new(
                    code::TOO_MANY_REQUESTS,
                    format!(
                        "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.",
                        now_ms + left as i64 * 1000
                    ),
                ),
                left,
            ))
        } else if Faults::take(&mut f.rate_limited) {
            Some((
                429,
                ApiError::new(
                    code::TOO_MANY_REQUESTS,
                    format!(
                        "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                        limits::WEIGHT_PER_MINUTE
                    ),
                ),
                f.retry_after(),
            ))
        } else {
            None
        };
        (f.slow, fault)
    };
    let is_new_order = method == Method::POST && path == "/api/v3/order";
    let mut response = if let Some((status, e, retry)) = fault {
        let mut r = error_response(status, &e);
        r.headers_mut()
            .insert(headers::RETRY_AFTER, HeaderValue::from(retry));
        r
    } else {
        let server_error = {
            let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
            Faults::take(&mut f.server_error)
        };
        let api_key = hdrs.get(headers::API_KEY).and_then(|v| v.to_str().ok());
        if server_error && !is_new_order {
            error_response(503, &ApiError::new(code::TIMEOUT, msg::TIMEOUT))
        } else {
            let answer = route(&s, &method, &path, &query, &body, api_key);
            let lose = is_new_order && answer.is_ok() && {
                let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                Faults::take(&mut f.lose_response)
            };
            s.publish();
            if lose {
                tracing::info!("fault: order accepted, response lost");
                if let Some(axum::Extension(k)) = kill {
                    k.0.notify_one();
                }
                // The connection is being dropped; this answer is never written.
                std::future::pending::<()>().await;
            }
            match answer {
                Ok(_) if server_error => {
                    error_response(503, &ApiError::new(code::TIMEOUT, msg::TIMEOUT))
                }
                Ok((v, counted)) => {
                    let mut r = json_response(200, v.to_string());
                    if counted {
                        let (c10, c1d) = s
                            .limits
                            .lock()
                            .map(|mut l| l.count_order(now_ms))
                            .unwrap_or((0, 0));
                        r.headers_mut()
                            .insert(headers::ORDER_COUNT_10S, HeaderValue::from(c10));
                        r.headers_mut()
                            .insert(headers::ORDER_COUNT_1D, HeaderValue::from(c1d));
                    }
                    r
                }
                Err((status, e)) => error_response(status, &e),
            }
        }
    };
    response
        .headers_mut()
        .insert(headers::USED_WEIGHT_1M, HeaderValue::from(used));
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    response
}

/// Dispatches one request; `Ok((body, is_new_order))`.
fn route(
    s: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &str,
    api_key: Option<&str>,
) -> Answer {
    let now_ns = s.now_ns();
    let now_ms = now_ns / 1_000_000;
    let to = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| (500, ApiError::new(code::UNKNOWN, e.to_string())))
    };
    // Public endpoints.
    match (method.as_str(), path) {
        ("GET", "/api/v3/ping") => return Ok((serde_json::json!({}), false)),
        ("GET", "/api/v3/time") => {
            return Ok((
                to(serde_json::to_value(ServerTime {
                    server_time: now_ms,
                }))?,
                false,
            ));
        }
        ("GET", "/api/v3/exchangeInfo") => {
            let p: MaybeSymbol = params(query, "")?;
            let ex = s.exchange();
            let info = ex.exchange_info(p.symbol.as_deref(), now_ms)?;
            return Ok((to(serde_json::to_value(info))?, false));
        }
        ("GET", "/api/v3/depth") => {
            let p: DepthParams = params(query, "")?;
            let limit = p.limit.unwrap_or(100).clamp(1, 5000);
            let mut ex = s.exchange();
            ex.advance(now_ns);
            let d = ex.depth(&p.symbol, limit)?;
            return Ok((to(serde_json::to_value(d))?, false));
        }
        _ => {}
    }
    let signed = matches!(
        (method.as_str(), path),
        ("POST" | "DELETE" | "GET", "/api/v3/order")
            | ("GET" | "DELETE", "/api/v3/openOrders")
            | ("GET", "/api/v3/account" | "/api/v3/myTrades")
    );
    if !signed {
        return Err((
            404,
            ApiError::new(
                -1020,
                format!("This operation is not supported. (pit emulate: {method} {path})"),
            ),
        ));
    }
    s.keys.check_rest(api_key, query, body, now_ms)?;
    let mut ex = s.exchange();
    match (method.as_str(), path) {
        ("POST", "/api/v3/order") => {
            let p: NewOrderParams = params(query, body)?;
            let r = ex.place(p, now_ns)?;
            Ok((to(serde_json::to_value(r))?, true))
        }
        ("DELETE", "/api/v3/order") => {
            let p: RefParams = params(query, body)?;
            let partial = {
                let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                Faults::take(&mut f.partial_fill_on_cancel)
            };
            let r = ex.cancel(
                &p.symbol,
                p.order_id,
                p.orig_client_order_id.as_deref(),
                p.new_client_order_id,
                partial,
                now_ns,
            )?;
            Ok((to(serde_json::to_value(r))?, false))
        }
        ("GET", "/api/v3/order") => {
            let p: RefParams = params(query, body)?;
            let r = ex.query(
                &p.symbol,
                p.order_id,
                p.orig_client_order_id.as_deref(),
                now_ns,
            )?;
            Ok((to(serde_json::to_value(r))?, false))
        }
        ("GET", "/api/v3/openOrders") => {
            let p: MaybeSymbol = params(query, body)?;
            let r = ex.open_orders(p.symbol.as_deref(), now_ns)?;
            Ok((to(serde_json::to_value(r))?, false))
        }
        ("DELETE", "/api/v3/openOrders") => {
            let p: SymbolOnly = params(query, body)?;
            let mut partial = || {
                let mut f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
                Faults::take(&mut f.partial_fill_on_cancel)
            };
            let r = ex.cancel_all(&p.symbol, &mut partial, now_ns)?;
            Ok((to(serde_json::to_value(r))?, false))
        }
        ("GET", "/api/v3/account") => Ok((to(serde_json::to_value(ex.account(now_ns)))?, false)),
        ("GET", "/api/v3/myTrades") => {
            let p: MyTradesParams = params(query, body)?;
            let r = ex.my_trades(&p, now_ns)?;
            Ok((to(serde_json::to_value(r))?, false))
        }
        _ => Err((
            404,
            ApiError::new(-1020, "This operation is not supported."),
        )),
    }
}

/// `GET /emulator/state`: the account, every order and every trade, exactly; the pending
/// faults; the user-stream connections.
pub async fn state(State(s): State<Arc<Shared>>) -> Response {
    let now_ns = s.now_ns();
    let mut v = {
        let mut ex = s.exchange();
        ex.advance(now_ns);
        ex.state_json()
    };
    s.publish();
    if let Some(o) = v.as_object_mut() {
        let f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
        o.insert("faults".into(), f.to_json(Instant::now()));
        o.insert(
            "user_stream_subscriptions".into(),
            serde_json::json!(s.user_subscriptions()),
        );
    }
    json_response(200, v.to_string())
}

/// `POST /emulator/faults`: the body is a fault SPEC (see `faults.rs`).
pub async fn set_faults(State(s): State<Arc<Shared>>, body: String) -> Response {
    match faults::parse(&body) {
        Ok(spec) => {
            s.apply_faults(&spec);
            let f = s.faults.lock().unwrap_or_else(|e| e.into_inner());
            json_response(200, f.to_json(Instant::now()).to_string())
        }
        Err(e) => json_response(400, serde_json::json!({ "error": e }).to_string()),
    }
}
