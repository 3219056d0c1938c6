//! The private stream client and the dead-man switch (DCP), the part of the Bybit
//! connection task that keeps the venue's protection armed.
//!
//! * Arming ("Set Disconnect Cancel All", <https://bybit-exchange.github.io/docs/v5/order/dcp>):
//!   `POST /v5/order/disconnected-cancel-all` with the category's `product` (the default
//!   would be `OPTIONS` only) and `timeWindow` = `[live.bybit] dead_man_secs`; the page also
//!   says the private connection "**must** subscribe ["dcp" topic] in order to trigger DCP".
//! * The stream ("Connect", Authentication and "How to Send the Heartbeat Packet"): `auth`
//!   with `expires` in the future and the HMAC of `GET/realtime{expires}`, then
//!   `subscribe` to the category's own topics, `order.spot` / `execution.spot` (and
//!   `position.linear` for derivatives), not the all-in-one `order` / `execution` that mix
//!   every category of the account into one stream ("Order": "Categorised Topic:
//!   order.spot, order.linear, order.inverse, order.option",
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/order>; the same for
//!   execution and position), and the `dcp` topic; `{"op":"ping"}` on a timer.
//! * Armed only once Bybit confirms it: after the set, "Get DCP Info"
//!   (`GET /v5/account/query-dcp-info`, <https://bybit-exchange.github.io/docs/v5/account/dcp-info>)
//!   must list the product `ON` with our window; until then the status says
//!   "dead-man: arming…", and a refusal or a missing confirmation says "not armed" with
//!   the reason and raises an alert. DCP acts on the whole account's product (every
//!   spot order of the account, pit's or not), not on pit's orders alone.
//! * The heartbeat keeps the connection alive: the interval is the documented 20 s, or a
//!   third of the window when that is shorter. DCP itself times from a *disconnect*: "The
//!   timing starts from the first disconnection. If the Bybit server does not receive the
//!   reconnection from the client for more than 10 (default) seconds and resumes the
//!   heartbeat "ping", ... all active orders of the client will be cancelled"
//!   (<https://bybit-exchange.github.io/docs/v5/order/dcp>), and a connection with no
//!   ping-pong and no data is cut only "after 10 minutes"
//!   (<https://bybit-exchange.github.io/docs/v5/ws/connect>, "Customise Private Connection
//!   Alive Time"): a socket left open with no ping does not trip DCP within the window.
//!   So with DCP armed pit asks for a shorter cut on the private URL, as that section
//!   documents ("you can customise alive duration by adding a param `max_active_time`,
//!   the lowest value is 30s (30 seconds), the highest value is 600s (10 minutes)"): three
//!   heartbeats, at least 30 s. A whole pit frozen (SIGSTOP, a host paused) then has its
//!   connection cut after that, and DCP cancels one window later.
//! * So the engine loop is watched here, as the OKX and Kraken refreshers watch it
//!   ([`crate::venue::live::dead_man`]): with DCP armed, the pulse is looked at every
//!   [`refresh_every`] of the window; a loop that has not turned since the last look has
//!   the private stream *closed* ([`StreamMsg::EngineStalled`]), and no reconnection is
//!   made while it stands still (looked at every second): Bybit's DCP cancels every order
//!   of the product one window later. A connection lost by itself reconnects only once
//!   the loop has turned during the back-off (else it is looked at every second, and a
//!   loop still for a whole look is a stall as above): every reconnection restarts DCP's
//!   timer, so reconnecting through a stall could keep DCP from firing at all. Once the loop turns the stream reconnects
//!   ([`StreamMsg::EngineTurned`], then [`StreamMsg::Up`]: the owner reconciles). A pit
//!   whose engine alone hangs (its connections healthy) thus loses its orders as it would
//!   on OKX or Kraken.
//! * It runs off the engine thread (on the connection task's own runtime); nothing here
//!   waits on the engine. Every (re)connection is announced ([`StreamMsg::Up`]) so the
//!   owner reconciles what it may have missed while down.

use crate::venue::exchanges::bybit::api::sign::Signer;
use crate::venue::exchanges::bybit::api::wire::{
    Category, DcpProduct, PrivateEvent, SetDcp, WsOp, parse_private,
};
use crate::venue::exchanges::bybit::trade::rest::Rest;
use crate::venue::live::backoff::Reconnect;
use crate::venue::live::dead_man::refresh_every;
use crate::venue::live::pulse::{EngineWatch, PulseCheck};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

/// What the stream tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMsg {
    /// Authenticated and subscribed (again): reconcile what may have been missed.
    Up,
    /// The connection ended; why.
    Down(String),
    /// An order, execution or position message.
    Event(PrivateEvent),
    /// The dead-man switch is not armed (refused, or not confirmed by "Get DCP Info"):
    /// why, for an alert.
    DeadManNotArmed(String),
    /// The engine loop has not turned since the last look: the stream was closed so that
    /// Bybit's DCP cancels every order one window later (why, for an alert); no
    /// reconnection until it turns.
    EngineStalled(String),
    /// The engine loop turns again after [`StreamMsg::EngineStalled`]: reconnecting (an
    /// [`StreamMsg::Up`] follows once connected).
    EngineTurned,
}

/// The stream's state, for the status bar and `pit status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStatus {
    pub connected: bool,
    /// "dead-man 10s armed", "dead-man off ...", "dead-man: not armed (...)".
    pub dead_man: String,
    pub connects: u64,
    pub last_error: Option<String>,
}

/// What the stream needs.
pub struct PrivateSetup {
    pub url: String,
    pub signer: Arc<Signer>,
    pub rest: Arc<Rest>,
    pub category: Category,
    /// DCP window (s); 0: off.
    pub dead_man_secs: u32,
    pub out: UnboundedSender<StreamMsg>,
    pub status: Arc<Mutex<StreamStatus>>,
    /// The engine loop's heartbeat (none attached: nothing is watched).
    pub engine: EngineWatch,
}

/// How a session ended.
enum Ended {
    /// The connection failed or closed: why.
    Lost(String),
    /// pit closed it: the engine loop stood still (why).
    Stalled(String),
}

/// The private URL with `max_active_time` (see the module docs) when DCP is armed: three
/// heartbeats, between Bybit's 30 s and 600 s; the URL as given when DCP is off.
pub fn alive_url(url: &str, dead_man_secs: u32) -> String {
    if dead_man_secs == 0 {
        return url.to_string();
    }
    let secs = (ping_interval(dead_man_secs) * 3).as_secs().clamp(30, 600);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}max_active_time={secs}s")
}

/// The heartbeat interval for a DCP window (0: none): the documented 20 s, or a third of
/// the window when shorter (at least 500 ms).
pub fn ping_interval(dead_man_secs: u32) -> Duration {
    let doc = Duration::from_secs(20);
    if dead_man_secs == 0 {
        return doc;
    }
    doc.min(Duration::from_millis(u64::from(dead_man_secs) * 1000 / 3))
        .max(Duration::from_millis(500))
}

/// The topics of a category (its categorised ones), the DCP one included when armed.
pub fn topics(category: Category, dcp: bool) -> Vec<String> {
    let c = category.as_str();
    let mut t = vec![format!("order.{c}"), format!("execution.{c}")];
    if category.has_positions() {
        t.push(format!("position.{c}"));
    }
    if dcp {
        t.push(DcpProduct::of(category).topic().to_string());
    }
    t
}

fn set_status(s: &Mutex<StreamStatus>, f: impl FnOnce(&mut StreamStatus)) {
    if let Ok(mut g) = s.lock() {
        f(&mut g);
    }
}

/// Arms DCP (when on), then keeps the stream up until `out` is closed.
pub async fn run(p: PrivateSetup) {
    let armed = if p.dead_man_secs == 0 {
        set_status(&p.status, |s| {
            s.dead_man = "dead-man off ([live.bybit] dead_man_secs = 0)".into()
        });
        false
    } else {
        let product = DcpProduct::of(p.category);
        set_status(&p.status, |s| s.dead_man = "dead-man: arming…".into());
        let r = match SetDcp::new(product, p.dead_man_secs) {
            Ok(d) => p
                .rest
                .set_dcp(&d, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        // Armed only if Bybit says so.
        let r = match r {
            Ok(()) => match p.rest.dcp_info(Duration::from_secs(10)).await {
                Ok(info) if info.confirms(product, p.dead_man_secs) => Ok(()),
                Ok(info) => Err(format!(
                    "set, but Bybit's DCP info does not show {product:?} on with {}s: {:?}",
                    p.dead_man_secs, info.dcp_infos
                )),
                Err(e) => Err(format!("set, but not confirmed: {e}")),
            },
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => {
                tracing::info!(window = p.dead_man_secs, ?product, "bybit: DCP armed");
                set_status(&p.status, |s| {
                    s.dead_man = format!("dead-man {}s armed", p.dead_man_secs)
                });
                true
            }
            Err(e) => {
                // "DCP feature is only available for Ins clients": say so, trade without.
                tracing::warn!(error = %e, "bybit: DCP not armed");
                let text = format!("dead-man: not armed ({e})");
                set_status(&p.status, |s| s.dead_man = text.clone());
                let _ = p.out.send(StreamMsg::DeadManNotArmed(e));
                false
            }
        }
    };
    let topics = topics(p.category, armed);
    // The engine loop is watched only while DCP is armed: closing the stream is what makes
    // Bybit cancel, and without DCP it would only lose the stream.
    let mut engine = armed.then(|| p.engine.check());
    let mut backoff = Reconnect::new();
    let every = refresh_every(p.dead_man_secs);
    loop {
        let why = match session(&p, &topics, engine.as_mut(), &mut backoff).await {
            Ended::Lost(why) => why,
            Ended::Stalled(why) => {
                let Some(engine) = engine.as_mut() else {
                    continue;
                };
                if !stalled_until_it_turns(&p, engine, why).await {
                    return;
                }
                backoff.reset();
                continue;
            }
        };
        set_status(&p.status, |s| {
            s.connected = false;
            s.last_error = Some(why.clone());
        });
        if p.out.send(StreamMsg::Down(why.clone())).is_err() {
            return;
        }
        tracing::warn!(reason = %why, "bybit: private stream down, reconnecting");
        let wait = backoff.lost(std::time::Instant::now());
        match engine.as_mut() {
            // A connection lost by itself reconnects only while the engine loop turns:
            // each reconnection restarts DCP's timer (it times from a disconnect), so
            // reconnecting through a stall could keep DCP from ever firing.
            Some(engine) => match down_while_stalled(&p, engine, wait, every).await {
                Down::Turns => {}
                Down::Stalled(why) => {
                    if !stalled_until_it_turns(&p, engine, why).await {
                        return;
                    }
                    backoff.reset();
                    continue;
                }
                Down::OwnerGone => return,
            },
            None => tokio::time::sleep(wait).await,
        }
        if p.out.is_closed() {
            return;
        }
    }
}

/// What the engine loop did while the stream was down.
enum Down {
    /// It turned during the back-off: reconnect.
    Turns,
    /// It stood still for a whole look (why).
    Stalled(String),
    OwnerGone,
}

/// The back-off after a lost connection, the engine loop watched through it: it must turn
/// during the back-off for the stream to reconnect; if it does not, it is looked at every
/// second (never reconnecting meanwhile) until it turns, or until it has stood still for
/// `every` (the look of a connected stream): then it is a stall, as if the stream had
/// been closed for it.
async fn down_while_stalled(
    p: &PrivateSetup,
    engine: &mut PulseCheck,
    backoff: Duration,
    every: Duration,
) -> Down {
    // The beats so far: what follows is measured from here.
    engine.turned();
    let since = tokio::time::Instant::now();
    tokio::time::sleep(backoff).await;
    loop {
        if p.out.is_closed() {
            return Down::OwnerGone;
        }
        if engine.turned() {
            return Down::Turns;
        }
        if since.elapsed() >= every {
            return Down::Stalled(format!(
                "the engine loop has not turned for {} ms while the private stream was down: not reconnecting, Bybit's DCP cancels every order when the {}s window runs out",
                since.elapsed().as_millis(),
                p.dead_man_secs
            ));
        }
        tokio::time::sleep(Duration::from_secs(1).min(every)).await;
    }
}

/// The stream is closed for a stalled engine loop (why): said, then looked at every
/// second and reconnected as soon as it turns. False: the owner is gone.
async fn stalled_until_it_turns(p: &PrivateSetup, engine: &mut PulseCheck, why: String) -> bool {
    tracing::error!("bybit: {why}");
    set_status(&p.status, |s| {
        s.connected = false;
        s.last_error = Some(why.clone());
        s.dead_man = format!("dead-man: {why}");
    });
    if p.out.send(StreamMsg::EngineStalled(why)).is_err() {
        return false;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if p.out.is_closed() {
            return false;
        }
        if engine.turned() {
            break;
        }
    }
    tracing::info!("bybit: the engine loop turns again; reconnecting the private stream");
    p.out.send(StreamMsg::EngineTurned).is_ok()
}

/// Why the stream is closed for a loop that stood still through `every`.
fn stalled_text(every: Duration, secs: u32) -> String {
    format!(
        "the engine loop has not turned for {} ms: private stream closed, Bybit's DCP cancels every order when the {secs}s window runs out",
        every.as_millis()
    )
}

/// One connection: auth, subscribe, then pings and frames until it ends (or, with
/// `engine`, until the engine loop stands still through a look); why it ended.
async fn session(
    p: &PrivateSetup,
    topics: &[String],
    mut engine: Option<&mut PulseCheck>,
    backoff: &mut Reconnect,
) -> Ended {
    use Ended::Lost;
    let url = alive_url(&p.url, p.dead_man_secs);
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(e) => return Lost(format!("connect: {e}")),
    };
    let expires = p.rest.server_now_ms() + 10_000;
    let auth = WsOp::auth(p.signer.api_key(), expires, p.signer.ws_auth(expires));
    for op in [
        auth,
        WsOp::subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>()),
    ] {
        let text = serde_json::to_string(&op).unwrap_or_default();
        if let Err(e) = ws.send(Message::Text(text.into())).await {
            return Lost(format!("send: {e}"));
        }
        // Each op is answered before the next goes.
        let answered = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => match parse_private(t.as_str()) {
                        Ok(PrivateEvent::Reply(r)) if r.op == op.op => return Ok(r),
                        Ok(ev) => {
                            let _ = p.out.send(StreamMsg::Event(ev));
                        }
                        Err(e) => tracing::warn!(error = %e, "bybit: unreadable private frame"),
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("closed".to_string()),
                }
            }
        })
        .await;
        match answered {
            Ok(Ok(r)) if r.success => {}
            Ok(Ok(r)) => return Lost(format!("{} refused: {}", op.op, r.ret_msg)),
            Ok(Err(e)) => return Lost(e),
            Err(_) => return Lost(format!("no answer to {}", op.op)),
        }
    }
    backoff.up(std::time::Instant::now());
    set_status(&p.status, |s| {
        s.connected = true;
        s.connects += 1;
        if engine.is_some() {
            // Connected with the `dcp` topic again: DCP watches this connection.
            s.dead_man = format!("dead-man {}s armed", p.dead_man_secs);
        }
    });
    if p.out.send(StreamMsg::Up).is_err() {
        return Lost("owner gone".into());
    }
    let mut beat = tokio::time::interval(ping_interval(p.dead_man_secs));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The engine loop looked at every third of the window, as the OKX and Kraken
    // refreshers look before each refresh ([`refresh_every`]); the first look one period
    // after connecting (a look right after the reconnection that followed a turn would
    // find no beat since).
    let every = refresh_every(p.dead_man_secs);
    let mut look = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let ping = serde_json::to_string(&WsOp::ping()).unwrap_or_default();
                if let Err(e) = ws.send(Message::Text(ping.into())).await {
                    return Lost(format!("ping: {e}"));
                }
            }
            _ = look.tick(), if engine.is_some() => {
                if engine.as_mut().is_some_and(|e| !e.turned()) {
                    // A close frame, given a moment: Bybit sees the disconnect at once
                    // (dropping the socket would close it too).
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ended::Stalled(stalled_text(every, p.dead_man_secs));
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => match parse_private(t.as_str()) {
                    Ok(PrivateEvent::Reply(_)) => {}
                    Ok(ev) => {
                        if p.out.send(StreamMsg::Event(ev)).is_err() {
                            return Lost("owner gone".into());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "bybit: unreadable private frame"),
                },
                Some(Ok(Message::Close(_))) | None => return Lost("closed by Bybit".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Lost(format!("read: {e}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_is_cut_after_three_missed_heartbeats_within_bybits_bounds() {
        let u = "ws://127.0.0.1:9/v5/private";
        assert_eq!(alive_url(u, 0), u);
        assert_eq!(alive_url(u, 10), format!("{u}?max_active_time=30s"));
        assert_eq!(alive_url(u, 60), format!("{u}?max_active_time=60s"));
        assert_eq!(alive_url(u, 300), format!("{u}?max_active_time=60s"));
        assert_eq!(
            alive_url(&format!("{u}?x=1"), 10),
            format!("{u}?x=1&max_active_time=30s")
        );
    }

    #[test]
    fn the_heartbeat_beats_three_times_a_window_at_most_every_20s() {
        assert_eq!(ping_interval(0), Duration::from_secs(20));
        assert_eq!(ping_interval(3), Duration::from_secs(1));
        assert_eq!(ping_interval(10), Duration::from_millis(3333));
        assert_eq!(ping_interval(300), Duration::from_secs(20));
    }

    #[test]
    fn topics_follow_the_category() {
        // The category's own topics: a spot port never hears of derivatives orders.
        assert_eq!(
            topics(Category::Spot, true),
            vec!["order.spot", "execution.spot", "dcp.spot"]
        );
        assert_eq!(
            topics(Category::Linear, true),
            vec![
                "order.linear",
                "execution.linear",
                "position.linear",
                "dcp.future"
            ]
        );
        assert_eq!(
            topics(Category::Spot, false),
            vec!["order.spot", "execution.spot"]
        );
        // Their messages are read like the all-in-one topics'.
        let frame = r#"{"topic":"order.spot","id":"1","creationTime":1,"data":[{"orderId":"1","orderLinkId":"p7-M-1","symbol":"BTCUSDT","price":"50000","qty":"0.01","side":"Buy","orderStatus":"New","orderType":"Limit","rejectReason":"EC_NoError"}]}"#;
        assert!(matches!(
            parse_private(frame),
            Ok(PrivateEvent::Orders(list)) if list[0].order_link_id == "p7-M-1"
        ));
    }
}
