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
use crate::venue::live::backoff::Reconnect;
use crate::venue::live::dead_man::{self, Countdown, DeadManEvent};
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
    let mut backoff = Reconnect::new();
    loop {
        let why = session(&p, &mut backoff).await;
        set_status(&p.status, |s| s.connected = false);
        if p.out.send(StreamMsg::Down(why.clone())).is_err() {
            return;
        }
        tracing::warn!(reason = %why, "kraken: private stream down, reconnecting");
        tokio::time::sleep(backoff.lost(std::time::Instant::now())).await;
        if p.out.is_closed() {
            return;
        }
    }
}

/// One connection: token, connect, subscribe, then pings and messages until it ends.
async fn session(p: &PrivateSetup, backoff: &mut Reconnect) -> String {
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
    backoff.up(std::time::Instant::now());
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

/// Kraken's "CancelAllOrdersAfter" as [`dead_man::keep`] drives it.
pub struct KrakenCountdown(pub Arc<Rest>);

impl Countdown for KrakenCountdown {
    const VENUE: &'static str = "Kraken";
    const CALL: &'static str = "CancelAllOrdersAfter";
    const TABLE: &'static str = "[live.kraken]";

    fn set(
        &self,
        secs: u32,
        limit: Duration,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send {
        let rest = self.0.clone();
        async move {
            let a = rest
                .cancel_all_after(secs, limit)
                .await
                .map_err(|e| e.to_string())?;
            match secs {
                0 if a.confirms_off() => Ok(()),
                0 => Err(format!("Kraken's answer does not confirm it off: {a:?}")),
                _ if a.confirms(secs) => Ok(()),
                _ => Err(format!(
                    "Kraken's answer does not confirm a {secs}s countdown: {a:?}"
                )),
            }
        }
    }
}

impl From<DeadManEvent> for StreamMsg {
    fn from(e: DeadManEvent) -> Self {
        match e {
            DeadManEvent::Armed { again } => StreamMsg::DeadManArmed { again },
            DeadManEvent::NotArmed(why) => StreamMsg::DeadManNotArmed(why),
            DeadManEvent::NotDisarmed(why) => StreamMsg::DeadManNotDisarmed(why),
        }
    }
}

/// Keep Kraken's countdown at `secs` (0: disarm an earlier one) until `out` closes, the
/// status bar's words in `status` ([`dead_man::keep`]: refreshed every third of the
/// window, armed only once Kraken confirms it, not refreshed while the engine loop stands
/// still).
pub async fn keep_dead_man(
    rest: Arc<Rest>,
    secs: u32,
    engine: PulseCheck,
    status: Arc<Mutex<StreamStatus>>,
    out: UnboundedSender<StreamMsg>,
) {
    let words = move |t: String| set_status(&status, |s| s.dead_man = t);
    dead_man::keep(KrakenCountdown(rest), secs, engine, words, out).await
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
}
