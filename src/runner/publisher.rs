//! The runner's view out: the engine's view published as a latest value, held until the
//! store has made durable what it shows.

use crate::emergency::latch::HaltLatch;
use crate::engine::Engine;
use crate::engine::view::EngineView;
use crate::store::writer::StoreSink;
use crate::venue::MarketDataPort;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Publishes the engine's view as a latest value, never showing what the store has not
/// made durable yet.
pub(super) struct Publisher {
    pub(super) tx: Option<watch::Sender<Arc<EngineView>>>,
    /// A view waiting for the store: (last record it reflects, the view).
    pub(super) held: Option<(u64, Arc<EngineView>)>,
    /// When a view last went out (or was held).
    pub(super) last: Instant,
    /// At most this often, wall time.
    pub(super) every: Duration,
    /// The halt latch whose state the view shows.
    pub(super) latch: Option<HaltLatch>,
    /// Live feeds' states, for their alerts.
    feeds: super::feedwatch::FeedWatch,
}

impl Publisher {
    pub(super) fn new(
        tx: Option<watch::Sender<Arc<EngineView>>>,
        every: Duration,
        latch: Option<HaltLatch>,
    ) -> Self {
        Publisher {
            tx,
            held: None,
            last: Instant::now(),
            every,
            latch,
            feeds: Default::default(),
        }
    }

    /// Whether the next view is due.
    pub(super) fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Whether the next view is due at wall time `wall`.
    pub(super) fn due_at(&self, wall: Instant) -> bool {
        wall.duration_since(self.last) >= self.every
    }

    /// Publish the engine's view now, stamped with `lag`; held back until durable when the
    /// run persists.
    pub(super) fn publish(
        &mut self,
        engine: &mut Engine,
        market: &dyn MarketDataPort,
        exec: &dyn crate::venue::ExecutionPort,
        store: Option<&StoreSink>,
        lag: Duration,
        volume: Option<&super::volume::SessionVolume>,
    ) {
        // A live feed's disconnects and silences become alerts (nothing for the simulated
        // market or a replay: they have no live feed).
        let feeds = market.health();
        if !feeds.is_empty() {
            self.feeds.check(engine, &feeds);
        }
        if let Some(tx) = &self.tx {
            // Never show what is not durable yet: hold the view until it is (one held
            // view at a time, so a busy engine still shows progress).
            if self.held.is_none() {
                let mut view = engine.view();
                view.engine_lag = lag;
                // Our resting orders' queue position as the venue's own model has it
                // now (the engine's copy is the one from the order's acceptance, moved
                // only by trades).
                for o in view.open_orders.iter_mut() {
                    if let Some(q) = exec.queue_ahead(o.id()) {
                        o.queue_ahead = Some(q);
                    }
                }
                if let Some(v) = volume {
                    for (i, m) in view.markets.iter_mut().enumerate() {
                        m.traded = v.levels(i);
                    }
                }
                view.health.feed = feeds;
                view.health.exec = exec.health();
                view.health.orders_blocked_by_gate = exec.stats().orders_blocked;
                view.health.market_data_latency = market.market_data_latency();
                if let Some(s) = store {
                    view.health.store_commit_latency = s.commit_latency();
                }
                if let Some(l) = &self.latch {
                    view.halt_latch = l.state();
                }
                view.store_failed = store
                    .filter(|s| s.has_failed())
                    .map(|s| s.error().unwrap_or_else(|| "unknown error".into()));
                let view = Arc::new(view);
                match store {
                    // A failed store never becomes durable again: show the live state
                    // (flagged STORE FAILED) rather than freeze on the last durable view.
                    Some(s) if !s.is_durable(s.emitted()) && !s.has_failed() => {
                        self.held = Some((s.emitted(), view));
                    }
                    _ => {
                        tx.send_replace(view);
                    }
                }
            }
        }
        self.last = Instant::now();
    }

    /// Send the held view once the store has made it durable.
    pub(super) fn release(&mut self, store: Option<&StoreSink>) {
        if let (Some(tx), Some(s), Some((mark, _))) = (&self.tx, store, self.held.as_ref())
            && (s.is_durable(*mark) || s.has_failed())
            && let Some((_, view)) = self.held.take()
        {
            tx.send_replace(view);
        }
    }
}
