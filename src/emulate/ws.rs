//! The WebSocket side.
//!
//! * `/stream?streams=a/b/c`: the combined market-data stream the Binance decoder reads
//!   (`<symbol>@depth@100ms`, `<symbol>@bookTicker`, `<symbol>@trade`), frames
//!   `{"stream": .., "data": ..}` (web-socket-streams.md).
//! * `/ws-api/v3`: the WebSocket API subset for the user data stream, as the docs now
//!   define it (web-socket-api.md, "User Data Stream requests"):
//!   `userDataStream.subscribe.signature` (signed `apiKey` + `timestamp`, any key type),
//!   `session.logon` (Ed25519 keys) then `userDataStream.subscribe`,
//!   `userDataStream.unsubscribe` (answered, then `eventStreamTerminated`),
//!   `session.subscriptions`, `ping` and `time`. Events are sent as
//!   `{"subscriptionId": N, "event": {...}}`.

use super::shared::Shared;
use crate::venue::exchanges::binance::api::errors::{ApiError, code};
use crate::venue::exchanges::binance::api::sign::KeyKind;
use crate::venue::exchanges::binance::api::wire::{
    SubscribeResult, UserEvent, WsEvent, WsRequest, WsResponse,
};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::broadcast::error::RecvError;

/// `GET /stream?streams=...`.
pub async fn market(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    up: WebSocketUpgrade,
) -> Response {
    let wanted: BTreeSet<String> = q
        .get("streams")
        .map(|v| v.split('/').map(|x| x.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    up.on_upgrade(move |socket| market_loop(s, socket, wanted))
}

async fn market_loop(s: Arc<Shared>, mut socket: WebSocket, wanted: BTreeSet<String>) {
    let mut rx = s.market_tx.subscribe();
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Ok(f) => {
                    if wanted.contains(&f.0)
                        && socket.send(Message::Text(f.1.clone().into())).await.is_err()
                    {
                        return;
                    }
                }
                // A client too slow for the feed is disconnected, as a venue would.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

/// `GET /ws-api/v3`.
pub async fn ws_api(State(s): State<Arc<Shared>>, up: WebSocketUpgrade) -> Response {
    up.on_upgrade(move |socket| api_loop(s, socket))
}

struct Session {
    /// Subscription ids active on this connection.
    subs: Vec<u64>,
    next_sub: u64,
    /// The key of `session.logon`, if any.
    logged_on: Option<String>,
}

async fn api_loop(s: Arc<Shared>, mut socket: WebSocket) {
    let mut events = s.user_tx.subscribe();
    let mut dropper = s.drop_tx.subscribe();
    let mut sess = Session {
        subs: Vec::new(),
        next_sub: 0,
        logged_on: None,
    };
    let out = loop {
        tokio::select! {
            _ = dropper.recv() => break "dropped",
            ev = events.recv() => match ev {
                Ok(e) => {
                    for id in &sess.subs {
                        let frame = WsEvent { subscription_id: Some(*id), event: (*e).clone() };
                        let text = serde_json::to_string(&frame).unwrap_or_default();
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break "lagged",
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let (reply, after) = handle(&s, &mut sess, t.as_str());
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break "closed";
                    }
                    if let Some(a) = after
                        && socket.send(Message::Text(a.into())).await.is_err()
                    {
                        break "closed";
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break "closed",
                _ => {}
            },
        }
    };
    s.subscriptions
        .fetch_sub(sess.subs.len(), Ordering::Relaxed);
    tracing::debug!(reason = out, "WebSocket API connection ended");
    // Dropped without a close frame when the fault asked for it: the socket just goes.
}

fn reply(id: Value, r: Result<Value, (u16, ApiError)>) -> String {
    let resp = match r {
        Ok(v) => WsResponse {
            id,
            status: 200,
            result: Some(v),
            error: None,
            rate_limits: Vec::new(),
        },
        Err((status, e)) => WsResponse {
            id,
            status,
            result: None,
            error: Some(e),
            rate_limits: Vec::new(),
        },
    };
    serde_json::to_string(&resp).unwrap_or_default()
}

/// One request: the reply, and a frame to send after it (an `eventStreamTerminated`).
fn handle(s: &Shared, sess: &mut Session, text: &str) -> (String, Option<String>) {
    let req: WsRequest = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(_) => {
            return (
                reply(
                    Value::Null,
                    Err((
                        400,
                        ApiError::new(
                            -1100,
                            "Illegal characters found in parameter 'request'; malformed JSON.",
                        ),
                    )),
                ),
                None,
            );
        }
    };
    let now_ms = s.now_ms();
    let method = req.method.trim_start_matches("v3/");
    let subscribe = |sess: &mut Session| {
        let id = sess.next_sub;
        sess.next_sub += 1;
        sess.subs.push(id);
        s.subscriptions.fetch_add(1, Ordering::Relaxed);
        Ok(serde_json::to_value(SubscribeResult {
            subscription_id: id,
        })
        .unwrap_or_default())
    };
    let r: Result<Value, (u16, ApiError)> = match method {
        "ping" => Ok(json!({})),
        "time" => Ok(json!({ "serverTime": now_ms })),
        "userDataStream.subscribe.signature" => match s.keys.check_ws(&req.params, now_ms) {
            Ok(_) if !sess.subs.is_empty() => Err((
                400,
                ApiError::new(
                    code::SUBSCRIPTION_ACTIVE,
                    "User Data Stream subscription already active.",
                ),
            )),
            Ok(_) => subscribe(sess),
            Err(e) => Err(e),
        },
        "session.logon" => match s.keys.check_ws(&req.params, now_ms) {
            Ok(key) if s.keys.kind(&key) == Some(KeyKind::Ed25519) => {
                sess.logged_on = Some(key.clone());
                Ok(
                    json!({ "apiKey": key, "authorizedSince": now_ms, "connectedSince": now_ms,
                            "returnRateLimits": false, "serverTime": now_ms, "userDataStream": !sess.subs.is_empty() }),
                )
            }
            // web-socket-api.md, session.logon: "Only Ed25519 keys are supported".
            Ok(_) => Err((
                400,
                ApiError::new(-4056, "HMAC_SHA256 API key is not supported."),
            )),
            Err(e) => Err(e),
        },
        "userDataStream.subscribe" => match &sess.logged_on {
            None => Err((
                401,
                ApiError::new(-2015, "Invalid API-key, IP, or permissions for action."),
            )),
            Some(_) if !sess.subs.is_empty() => Err((
                400,
                ApiError::new(
                    code::SUBSCRIPTION_ACTIVE,
                    "User Data Stream subscription already active.",
                ),
            )),
            Some(_) => subscribe(sess),
        },
        "userDataStream.unsubscribe" => {
            let which = req.params.get("subscriptionId").and_then(Value::as_u64);
            let before = sess.subs.len();
            sess.subs.retain(|id| which.is_some_and(|w| w != *id));
            let gone = before - sess.subs.len();
            s.subscriptions.fetch_sub(gone, Ordering::Relaxed);
            if gone == 0 {
                Err((
                    400,
                    ApiError::new(
                        code::SUBSCRIPTION_INACTIVE,
                        "User Data Stream subscription not active.",
                    ),
                ))
            } else {
                let term = WsEvent {
                    subscription_id: which.or(Some(0)),
                    event: UserEvent::StreamTerminated { event_time: now_ms },
                };
                return (
                    reply(req.id, Ok(json!({}))),
                    serde_json::to_string(&term).ok(),
                );
            }
        }
        "session.subscriptions" => Ok(Value::Array(
            sess.subs
                .iter()
                .map(|id| json!({ "subscriptionId": id }))
                .collect(),
        )),
        other => Err((
            400,
            ApiError::new(
                -1020,
                format!("This operation is not supported. (pit emulate: {other})"),
            ),
        )),
    };
    (reply(req.id, r), None)
}
