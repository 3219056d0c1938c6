//! The emulator's state every handler shares ([`Shared`]: the exchange, keys, faults,
//! limits and the broadcast channels), and the handle a handler uses to drop its own
//! connection ([`ConnKill`]). Below the server and the handlers, which all name it.

use super::auth::Keys;
use super::exchange::Exchange;
use super::faults::{FaultSpec, Faults};
use super::limits::Limits;
use crate::venue::exchanges::binance::api::wire::UserEvent;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
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
    /// Added to the wall clock for `serverTime` and the timestamp checks (`--clock-offset-ms`,
    /// moved at run time by the `clock=MS` fault).
    pub clock_offset_ms: AtomicI64,
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
            clock_offset_ms: AtomicI64::new(clock_offset_ms),
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
        wall + self.clock_offset_ms.load(Ordering::Relaxed) * 1_000_000
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
        if let Some(ms) = spec.clock_offset_ms {
            tracing::info!(offset_ms = ms, "fault: the server clock moved");
            self.clock_offset_ms.store(ms, Ordering::Relaxed);
        }
        if !spec.balance_moves.is_empty() {
            let now_ms = self.now_ms();
            {
                let mut ex = self.exchange();
                for (asset, delta) in &spec.balance_moves {
                    let moved = ex.move_balance(asset, *delta, now_ms);
                    tracing::info!(%asset, %moved, "fault: a balance moved behind the client's back");
                }
            }
            self.publish();
        }
        if spec.drop_user_stream {
            tracing::info!("fault: user data stream connections dropped");
            let _ = self.drop_tx.send(());
        }
    }

    /// One pacer step: the market up to now, its frames out, the user events out.
    pub fn step(&self) {
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
