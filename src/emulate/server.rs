//! The server: one accept loop on 127.0.0.1 serving HTTP/1.1 with upgrades (hyper, under
//! axum's router), the shared state every handler sees, and the pacer that runs the
//! simulated market on the wall clock and publishes its frames every 100 ms.
//!
//! Connections are served one task each, so that a handler can drop its own connection
//! without an answer (the `lose-response` fault): it notifies the connection's
//! [`ConnKill`], and the task stops serving and closes the socket.

use super::auth::Keys;
use super::exchange::Exchange;
use super::faults::{FaultSpec, Faults};
use super::limits::Limits;
use super::{rest, ws};
use crate::venue::exchanges::binance::api::wire::UserEvent;
use axum::Router;
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};

/// A handle on the connection a request came in on: notify it to drop the connection.
#[derive(Clone)]
pub struct ConnKill(pub Arc<Notify>);

/// What every handler shares.
pub struct Shared {
    ex: Mutex<Exchange>,
    pub keys: Keys,
    pub faults: Mutex<Faults>,
    pub limits: Mutex<Limits>,
    /// Market-data frames: (stream name, the combined-stream frame's text).
    pub market_tx: broadcast::Sender<Arc<(String, String)>>,
    /// User data stream events (one account).
    pub user_tx: broadcast::Sender<Arc<UserEvent>>,
    /// Drops every WebSocket API connection (the `drop-user-stream` fault).
    pub drop_tx: broadcast::Sender<()>,
    /// Active user data stream subscriptions, for `/emulator/state`.
    pub subscriptions: AtomicUsize,
    /// Added to the wall clock for `serverTime` and the timestamp checks.
    pub clock_offset_ms: i64,
}

impl Shared {
    pub fn new(ex: Exchange, keys: Keys, clock_offset_ms: i64) -> Self {
        Shared {
            ex: Mutex::new(ex),
            keys,
            faults: Mutex::new(Faults::default()),
            limits: Mutex::new(Limits::default()),
            market_tx: broadcast::channel(8192).0,
            user_tx: broadcast::channel(8192).0,
            drop_tx: broadcast::channel(16).0,
            subscriptions: AtomicUsize::new(0),
            clock_offset_ms,
        }
    }

    /// The exchange, locked (a poisoned lock is taken over: the state is still whole,
    /// every mutation completes before it can panic).
    pub fn exchange(&self) -> MutexGuard<'_, Exchange> {
        self.ex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Server time, Unix nanoseconds.
    pub fn now_ns(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        wall + self.clock_offset_ms * 1_000_000
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ns() / 1_000_000
    }

    /// Sends the exchange's pending user events to the user stream.
    pub fn publish(&self) {
        let events = self.exchange().take_events();
        for e in events {
            let _ = self.user_tx.send(Arc::new(e));
        }
    }

    pub fn user_subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    pub fn apply_faults(&self, spec: &FaultSpec) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply(spec, Instant::now());
        if spec.drop_user_stream {
            tracing::info!("fault: user data stream connections dropped");
            let _ = self.drop_tx.send(());
        }
    }

    /// One pacer step: the market up to now, its frames out, the user events out.
    fn step(&self) {
        let now_ns = self.now_ns();
        let frames = {
            let mut ex = self.exchange();
            ex.advance(now_ns);
            ex.flush_market(now_ns / 1_000_000)
        };
        for (stream, data) in frames {
            let text = serde_json::json!({ "stream": stream, "data": data }).to_string();
            let _ = self.market_tx.send(Arc::new((stream, text)));
        }
        self.publish();
    }
}

fn router(s: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/{*rest}", any(rest::api))
        .route("/stream", get(ws::market))
        .route("/ws-api/v3", get(ws::ws_api))
        .route("/emulator/state", get(rest::state))
        .route("/emulator/faults", post(rest::set_faults))
        .with_state(s)
}

/// Serves on `listener` until the process ends.
pub async fn serve(listener: TcpListener, s: Arc<Shared>) -> anyhow::Result<()> {
    let pacer = s.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            pacer.step();
        }
    });
    let app = router(s);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let k = ConnKill(kill.clone());
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(k.clone());
                    let mut app = app.clone();
                    async move { tower_service::Service::call(&mut app, req).await }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
            }
        });
    }
}
