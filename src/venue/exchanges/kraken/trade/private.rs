//! The authenticated WebSocket v2 client and the dead-man switch
//! (`CancelAllOrdersAfter`), the parts of the Kraken connection task that run on timers of
//! their own, off the engine thread.
//!
//! * The stream ("WebSocket authentication",
//!   <https://docs.kraken.com/api/docs/guides/spot-ws-auth>): a token from "Get WebSockets
//!   Token" (`POST /0/private/GetWebSocketsToken`), fresh for every connection (a token
//!   "should be used within 15 minutes of creation"); connect to
//!   `wss://ws-auth.kraken.com/v2`; `subscribe` to `executions` with the token,
//!   `snap_orders` and `snap_trades` ("Executions",
//!   <https://docs.kraken.com/api/docs/websocket-v2/executions>: the snapshot holds the
//!   open orders and the last 50 fills; then every order status change and fill). What
//!   happened while disconnected is read by the owner's reconciliation, announced by
//!   [`StreamMsg::Up`] on every (re)connection; fills seen twice (snapshot and history)
//!   are one fill by their `exec_id`. Keep-alive ("Ping",
//!   <https://docs.kraken.com/api/docs/websocket-v2/ping>): `{"method":"ping"}` every
//!   [`PING_EVERY`], answered `pong`; Kraken's `heartbeat` comes about once a second, so
//!   no frame for [`SILENCE`] ends the connection.
//! * The dead-man switch ("Cancel All Orders After X",
//!   <https://docs.kraken.com/api-reference/trading/cancel-all-orders-after-x>): "The
//!   client can send a request with a timeout (in seconds), that will start a countdown
//!   timer which will cancel *all* client orders when the timer expires. ... If the timer
//!   expires, all orders are cancelled and then the timer remains disabled until the
//!   client provides a new (non-zero) timeout." [`keep_dead_man`] sets it at start and
//!   refreshes it every third of the window on this runtime; the status says "dead-man Ns
//!   armed" only once Kraken's answer confirms it (a `triggerTime` the window after its
//!   `currentTime`); a refusal says "dead-man: not armed (why)" and raises an alert.

use super::rest::Rest;
use super::wire::{Order, WsFrame, parse_ws};
use crate::venue::live::pulse::PulseCheck;
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

/// The keep-alive ping's interval.
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// No frame (not a heartbeat, not a `pong`) for this long: the connection is dead.
pub const SILENCE: Duration = Duration::from_secs(15);

/// What the stream tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMsg {
    /// Subscribed (again): reconcile what may have been missed.
    Up,
    /// The connection ended; why.
    Down(String),
    /// Order updates (a snapshot's too).
    Orders(Vec<Order>),
    /// The dead-man switch is not armed: why, for an alert.
    DeadManNotArmed(String),
    /// `dead_man_secs` 0, and a countdown an earlier run may have left is not confirmed
    /// disarmed.
    DeadManNotDisarmed(String),
    /// Kraken confirmed the countdown (`again`: after it was not armed).
    DeadManArmed { again: bool },
}

/// The stream's and the dead-man switch's state, for the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStatus {
    pub connected: bool,
    pub dead_man: String,
    pub connects: u64,
}

fn set_status(s: &Mutex<StreamStatus>, f: impl FnOnce(&mut StreamStatus)) {
    if let Ok(mut g) = s.lock() {
        f(&mut g);
    }
}

/// The `subscribe` request of the `executions` channel.
pub fn subscribe_op(token: &str) -> serde_json::Value {
    serde_json::json!({"method": "subscribe", "params": {
        "channel": "executions", "token": token, "snap_orders": true, "snap_trades": true
    }, "req_id": 1})
}

/// What the stream needs.
pub struct PrivateSetup {
    pub url: String,
    pub rest: Arc<Rest>,
    pub out: UnboundedSender<StreamMsg>,
    pub status: Arc<Mutex<StreamStatus>>,
}

/// Keep the stream up until `out` is closed; each connection with a fresh token.
pub async fn run(p: PrivateSetup) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let why = session(&p).await;
        set_status(&p.status, |s| s.connected = false);
        if p.out.send(StreamMsg::Down(why.clone())).is_err() {
            return;
        }
        tracing::warn!(reason = %why, "kraken: private stream down, reconnecting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
        if p.out.is_closed() {
            return;
        }
    }
}

/// One connection: token, connect, subscribe, then pings and messages until it ends.
async fn session(p: &PrivateSetup) -> String {
    let token = match p.rest.ws_token(Duration::from_secs(10)).await {
        Ok(t) => t,
        Err(e) => return format!("GetWebSocketsToken: {e}"),
    };
    let mut ws = match tokio_tungstenite::connect_async(p.url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => return format!("connect: {e}"),
    };
    let sub = subscribe_op(&token.token).to_string();
    drop(token);
    if let Err(e) = ws.send(Message::Text(sub.into())).await {
        return format!("send: {e}");
    }
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        let mut early = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => match parse_ws(t.as_str()) {
                    Ok(WsFrame::Answer {
                        method,
                        success,
                        error,
                    }) if method == "subscribe" => {
                        return if success {
                            Ok(early)
                        } else {
                            Err(format!("subscribe refused: Kraken {error}"))
                        };
                    }
                    Ok(WsFrame::Executions { items, .. }) => early.push(items),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "kraken: unreadable private frame"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("closed".to_string()),
            }
        }
    })
    .await;
    let early = match answered {
        Ok(Ok(early)) => early,
        Ok(Err(e)) => return e,
        Err(_) => return "no answer to subscribe".into(),
    };
    set_status(&p.status, |s| {
        s.connected = true;
        s.connects += 1;
    });
    if p.out.send(StreamMsg::Up).is_err() {
        return "owner gone".into();
    }
    for items in early {
        let _ = p.out.send(StreamMsg::Orders(items));
    }
    let mut beat = tokio::time::interval(PING_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let mut last = tokio::time::Instant::now();
    let mut req = 1u64;
    let mut silence = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = silence.tick() => {
                if last.elapsed() > SILENCE {
                    return format!("silent for {} s", SILENCE.as_secs());
                }
            }
            _ = beat.tick() => {
                req += 1;
                let ping = serde_json::json!({"method": "ping", "req_id": req}).to_string();
                if let Err(e) = ws.send(Message::Text(ping.into())).await {
                    return format!("ping: {e}");
                }
            }
            m = ws.next() => {
                last = tokio::time::Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => match parse_ws(t.as_str()) {
                        Ok(WsFrame::Executions { items, .. }) => {
                            if p.out.send(StreamMsg::Orders(items)).is_err() {
                                return "owner gone".into();
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "kraken: unreadable private frame"),
                    },
                    Some(Ok(Message::Close(_))) | None => return "closed by Kraken".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("read: {e}"),
                }
            }
        }
    }
}

/// How often the countdown is refreshed: a third of the window.
pub fn refresh_every(secs: u32) -> Duration {
    Duration::from_millis(u64::from(secs) * 1000 / 3).max(Duration::from_secs(1))
}

/// How long one refresh may take before it is given up (and tried again).
pub fn refresh_limit(secs: u32) -> Duration {
    (refresh_every(secs) / 2).max(Duration::from_millis(500))
}

/// Arm `CancelAllOrdersAfter` with `secs` and refresh it until `out` closes; the status
/// says armed only while Kraken's answers confirm it. Refreshes at a fixed rate from the
/// start of the last confirmed one, each given at most [`refresh_limit`]; a failed one is
/// tried again a second later. With `secs` 0 the switch is off: a countdown an earlier
/// run left is disarmed ("deactivate the mechanism by specifying a timeout of 0").
///
/// A refresh is skipped while the engine loop has not turned since the last one
/// ([`PulseCheck::turned`]): a pit whose engine alone hangs (its connections alive) lets
/// the countdown run out, and Kraken cancels every order; it arms again once the loop
/// turns.
pub async fn keep_dead_man(
    rest: Arc<Rest>,
    secs: u32,
    mut engine: PulseCheck,
    status: Arc<Mutex<StreamStatus>>,
    out: UnboundedSender<StreamMsg>,
) {
    if secs == 0 {
        disarm_dead_man(&rest, &status, &out).await;
        return;
    }
    let every = refresh_every(secs);
    let limit = refresh_limit(secs);
    let mut armed: Option<bool> = None;
    loop {
        let started = tokio::time::Instant::now();
        if !engine.turned() {
            if armed != Some(false) {
                let e = format!(
                    "the engine loop has not turned for {} ms: not refreshed, Kraken cancels every order when the {secs}s countdown runs out",
                    every.as_millis()
                );
                tracing::error!("kraken: {e}");
                set_status(&status, |s| s.dead_man = format!("dead-man: {e}"));
                let _ = out.send(StreamMsg::DeadManNotArmed(e));
            }
            armed = Some(false);
            if out.is_closed() {
                return;
            }
            // Looked at again every second: the refresh resumes as soon as it turns.
            tokio::time::sleep_until(started + Duration::from_secs(1)).await;
            continue;
        }
        let r = match tokio::time::timeout(limit, rest.cancel_all_after(secs, limit)).await {
            Err(_) => Err(format!(
                "no answer from Kraken within {} ms",
                limit.as_millis()
            )),
            Ok(r) => r.map_err(|e| e.to_string()).and_then(|a| {
                if a.confirms(secs) {
                    Ok(())
                } else {
                    Err(format!(
                        "Kraken's answer does not confirm a {secs}s countdown: {a:?}"
                    ))
                }
            }),
        };
        let next = match r {
            Ok(()) => {
                if armed != Some(true) {
                    tracing::info!(secs, "kraken: CancelAllOrdersAfter armed");
                    set_status(&status, |s| s.dead_man = format!("dead-man {secs}s armed"));
                    let _ = out.send(StreamMsg::DeadManArmed {
                        again: armed == Some(false),
                    });
                }
                armed = Some(true);
                started + every
            }
            Err(e) => {
                if armed != Some(false) {
                    tracing::warn!(error = %e, "kraken: CancelAllOrdersAfter not armed");
                    set_status(&status, |s| {
                        s.dead_man = format!("dead-man: not armed ({e})")
                    });
                    let _ = out.send(StreamMsg::DeadManNotArmed(e));
                }
                armed = Some(false);
                started + Duration::from_secs(1)
            }
        };
        if out.is_closed() {
            return;
        }
        tokio::time::sleep_until(next).await;
    }
}

async fn disarm_dead_man(
    rest: &Rest,
    status: &Arc<Mutex<StreamStatus>>,
    out: &UnboundedSender<StreamMsg>,
) {
    let limit = Duration::from_secs(5);
    let r = match tokio::time::timeout(limit, rest.cancel_all_after(0, limit)).await {
        Err(_) => Err("no answer from Kraken".to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(a)) if a.confirms_off() => Ok(()),
        Ok(Ok(a)) => Err(format!("Kraken's answer does not confirm it off: {a:?}")),
    };
    match r {
        Ok(()) => {
            tracing::info!("kraken: CancelAllOrdersAfter off (timeout 0 confirmed)");
            set_status(status, |s| {
                s.dead_man = "dead-man off ([live.kraken] dead_man_secs = 0)".into()
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "kraken: CancelAllOrdersAfter not disarmed");
            set_status(status, |s| {
                s.dead_man = format!("dead-man off, an earlier countdown maybe not ({e})")
            });
            let _ = out.send(StreamMsg::DeadManNotDisarmed(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_carries_the_token_and_asks_for_snapshots() {
        let op = subscribe_op("tok");
        assert_eq!(op["method"], "subscribe");
        assert_eq!(op["params"]["channel"], "executions");
        assert_eq!(op["params"]["token"], "tok");
        assert_eq!(op["params"]["snap_orders"], true);
        assert_eq!(op["params"]["snap_trades"], true);
    }

    #[test]
    fn the_countdown_is_refreshed_three_times_a_window() {
        assert_eq!(refresh_every(60), Duration::from_secs(20));
        assert_eq!(refresh_every(5), Duration::from_millis(1666));
        for secs in [5, 10, 60, 3600] {
            assert!(refresh_limit(secs) * 3 <= refresh_every(secs) * 2, "{secs}");
            assert!(refresh_limit(secs) < Duration::from_secs(u64::from(secs)) / 3);
        }
    }
}
