//! The private WebSocket client and the dead-man switch ("Cancel All After"), the parts of
//! the OKX connection task that run on timers of their own, off the engine thread.
//!
//! * The stream ("WebSocket" > "Login"): `login` with `apiKey`, `passphrase`, `timestamp`
//!   (Unix seconds) and `sign` = base64(HMAC-SHA256(secret, timestamp + "GET" +
//!   "/users/self/verify")); then `subscribe` to the `orders` channel for `instType`
//!   SPOT ("WS / Order channel"), whose pushes carry each order's state and its fills
//!   (`fillSz`, `fillPx`, `tradeId`, `fillFee`). "Data will not be pushed when first
//!   subscribed": what happened before is read by the owner's reconciliation, announced by
//!   [`StreamMsg::Up`] on every (re)connection. Keep-alive ("Overview" > "WebSocket"):
//!   "If there’s a network problem, the system will automatically disable the connection.
//!   The connection will break automatically if the subscription is not established or
//!   data has not been pushed for more than 30 seconds": a text `ping` every
//!   [`PING_EVERY`], `pong` expected; no frame for [`SILENCE`] ends the connection.
//! * The dead-man switch ("Trade" > "Cancel All After", `POST
//!   /api/v5/trade/cancel-all-after`): "Cancel all pending orders after the countdown
//!   timeout. Applicable to all trading symbols through order book (except Spread
//!   trading)"; `timeOut` "0, [10, 120]", 0 disables it. [`keep_dead_man`] sets it at start
//!   and refreshes it every third of the window on this runtime, so a pit that hangs (or
//!   is stopped, or loses the network) stops refreshing and OKX cancels every pending
//!   order of the account (pit's and not) when the countdown ends. The status says
//!   "dead-man Ns armed" only once OKX's answer confirms it (a `triggerTime` the window
//!   ahead of its `ts`); a refusal says "dead-man: not armed (why)" and raises an alert.

use super::rest::Rest;
use super::wire::{Order, Position, WsFrame, parse_ws};
use crate::venue::exchanges::okx::api::sign::{Method, Signer};
use crate::venue::live::backoff::Reconnect;
use crate::venue::live::dead_man::{self, Countdown, DeadManEvent};
use crate::venue::live::pulse::PulseCheck;
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

/// The keep-alive ping's interval (OKX breaks a connection silent for 30 s).
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// No frame (not even a `pong`) for this long: the connection is taken as dead.
pub const SILENCE: Duration = Duration::from_secs(30);

/// What the stream tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMsg {
    /// Logged in and subscribed (again): reconcile what may have been missed.
    Up,
    /// The connection ended; why.
    Down(String),
    /// Order pushes.
    Orders(Vec<Order>),
    /// Position pushes (SWAP): the positions listed, in contracts.
    Positions(Vec<Position>),
    /// The dead-man switch is not armed: why, for an alert.
    DeadManNotArmed(String),
    /// `dead_man_secs` 0, and a countdown an earlier run may have left is not confirmed
    /// disarmed.
    DeadManNotDisarmed(String),
    /// OKX confirmed the countdown (`again`: after it was not armed), so the health is
    /// published now, not at the next unrelated message.
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

/// The `login` op at `ts_secs`.
pub fn login_op(signer: &Signer, ts_secs: u64) -> serde_json::Value {
    let ts = ts_secs.to_string();
    serde_json::json!({"op": "login", "args": [{
        "apiKey": signer.api_key(),
        "passphrase": signer.passphrase_for_login(),
        "timestamp": ts,
        "sign": signer.sign(&ts, Method::Get, "/users/self/verify", ""),
    }]})
}

/// The `subscribe` op: the `orders` channel of SPOT.
pub fn subscribe_op() -> serde_json::Value {
    serde_json::json!({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})
}

/// The `subscribe` ops of a client: SPOT's `orders`; for SWAP its `orders` and its
/// `positions` ("WS / Positions channel": "Initial snapshot will be pushed according to
/// subscription granularity. Data will be pushed when triggered by events such as
/// placing/canceling order").
pub fn subscribe_ops(swap: bool) -> Vec<serde_json::Value> {
    if !swap {
        return vec![subscribe_op()];
    }
    vec![
        serde_json::json!({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}),
        serde_json::json!({"op": "subscribe", "args": [{"channel": "positions", "instType": "SWAP"}]}),
    ]
}

/// What the stream needs.
pub struct PrivateSetup {
    pub url: String,
    pub signer: Arc<Signer>,
    pub rest: Arc<Rest>,
    pub out: UnboundedSender<StreamMsg>,
    pub status: Arc<Mutex<StreamStatus>>,
}

/// Keep the stream up until `out` is closed.
pub async fn run(p: PrivateSetup) {
    let mut backoff = Reconnect::new();
    loop {
        let why = session(&p, &mut backoff).await;
        set_status(&p.status, |s| s.connected = false);
        if p.out.send(StreamMsg::Down(why.clone())).is_err() {
            return;
        }
        tracing::warn!(reason = %why, "okx: private stream down, reconnecting");
        tokio::time::sleep(backoff.lost(std::time::Instant::now())).await;
        if p.out.is_closed() {
            return;
        }
    }
}

/// One connection: login, subscribe, then pings and pushes until it ends; why it ended.
async fn session(p: &PrivateSetup, backoff: &mut Reconnect) -> String {
    let mut ws = match tokio_tungstenite::connect_async(p.url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => return format!("connect: {e}"),
    };
    let ts = p.rest.server_now_ms() / 1000;
    let mut ops = vec![(login_op(&p.signer, ts), "login")];
    ops.extend(
        subscribe_ops(p.rest.swap())
            .into_iter()
            .map(|o| (o, "subscribe")),
    );
    for (op, event) in ops {
        if let Err(e) = ws.send(Message::Text(op.to_string().into())).await {
            return format!("send: {e}");
        }
        let answered = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => match parse_ws(t.as_str()) {
                        Ok(WsFrame::Event {
                            event: e,
                            code,
                            msg,
                        }) => {
                            if e == "error" {
                                return Err(format!("{event} refused: OKX {code}: {msg}"));
                            }
                            if e == event {
                                return Ok(());
                            }
                        }
                        Ok(WsFrame::Orders(list)) => {
                            let _ = p.out.send(StreamMsg::Orders(list));
                        }
                        Ok(WsFrame::Positions(list)) => {
                            let _ = p.out.send(StreamMsg::Positions(list));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "okx: unreadable private frame"),
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("closed".to_string()),
                }
            }
        })
        .await;
        match answered {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return e,
            Err(_) => return format!("no answer to {event}"),
        }
    }
    set_status(&p.status, |s| {
        s.connected = true;
        s.connects += 1;
    });
    backoff.up(std::time::Instant::now());
    if p.out.send(StreamMsg::Up).is_err() {
        return "owner gone".into();
    }
    let mut beat = tokio::time::interval(PING_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if last.elapsed() > SILENCE {
                    return "silent for 30 s".into();
                }
                if let Err(e) = ws.send(Message::Text("ping".into())).await {
                    return format!("ping: {e}");
                }
            }
            m = ws.next() => {
                last = tokio::time::Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => match parse_ws(t.as_str()) {
                        Ok(WsFrame::Orders(list)) => {
                            if p.out.send(StreamMsg::Orders(list)).is_err() {
                                return "owner gone".into();
                            }
                        }
                        Ok(WsFrame::Positions(list)) => {
                            if p.out.send(StreamMsg::Positions(list)).is_err() {
                                return "owner gone".into();
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "okx: unreadable private frame"),
                    },
                    Some(Ok(Message::Close(_))) | None => return "closed by OKX".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("read: {e}"),
                }
            }
        }
    }
}

/// OKX's "Cancel All After" as [`dead_man::keep`] drives it.
pub struct OKXCountdown(pub Arc<Rest>);

impl Countdown for OKXCountdown {
    const VENUE: &'static str = "OKX";
    const CALL: &'static str = "Cancel All After";
    const TABLE: &'static str = "[live.okx]";

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
                0 => Err(format!("OKX's answer does not confirm it off: {a:?}")),
                _ if a.confirms(secs) => Ok(()),
                _ => Err(format!(
                    "OKX's answer does not confirm a {secs}s countdown: {a:?}"
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

/// Keep OKX's countdown at `secs` (0: disarm an earlier one) until `out` closes, the
/// status bar's words in `status` ([`dead_man::keep`]: refreshed every third of the
/// window, armed only once OKX confirms it, not refreshed while the engine loop stands
/// still).
pub async fn keep_dead_man(
    rest: Arc<Rest>,
    secs: u32,
    engine: PulseCheck,
    status: Arc<Mutex<StreamStatus>>,
    out: UnboundedSender<StreamMsg>,
) {
    let words = move |t: String| set_status(&status, |s| s.dead_man = t);
    dead_man::keep(OKXCountdown(rest), secs, engine, words, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn the_login_is_signed_as_the_login_page_says() {
        let s = Signer::new(
            "985d5b66-57ce-40fb-b714-afc0b9787083",
            SecretString::from("unit-secret".to_string()),
            SecretString::from("unit-pass".to_string()),
        )
        .unwrap();
        let op = login_op(&s, 1538054050);
        let a = &op["args"][0];
        assert_eq!(op["op"], "login");
        assert_eq!(a["timestamp"], "1538054050");
        assert_eq!(a["passphrase"], "unit-pass");
        // The server's check: sign over timestamp + GET + /users/self/verify.
        assert!(s.verify(
            "1538054050",
            Method::Get,
            "/users/self/verify",
            "",
            a["sign"].as_str().unwrap()
        ));
        assert_eq!(
            subscribe_op(),
            serde_json::json!({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})
        );
    }
}
