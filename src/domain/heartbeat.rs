//! The engine loop's pulse, shared by the threads that must know whether the loop still
//! turns: the watchdog (which trips the kill switch on a stall) and a live venue's
//! dead-man refresher (which stops refreshing, so the venue cancels our orders by itself).
//! Plain atomics, like [`super::TradingGate`]: any thread reads it without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The engine loop's pulse: bumped on every turn, waits included, so a paused replay or
/// a run paced at a slow `--speed` beats as often as a busy one.
#[derive(Clone, Debug, Default)]
pub struct Heartbeat(Arc<HeartbeatState>);

#[derive(Debug, Default)]
struct HeartbeatState {
    beats: AtomicU64,
    /// The loop has ended (the run is finishing): no more beats to expect.
    stopped: AtomicBool,
}

impl Heartbeat {
    /// One turn of the loop.
    #[inline]
    pub fn beat(&self) {
        self.0.beats.fetch_add(1, Ordering::Relaxed);
    }
    /// Beats so far.
    pub fn beats(&self) -> u64 {
        self.0.beats.load(Ordering::Relaxed)
    }
    /// The loop has ended.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
    }
    pub fn stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }
}
