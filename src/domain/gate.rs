//! The trading gate: one atomic flag that the kill switch closes at once, from any thread,
//! and that the execution port checks immediately before any order leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Shared open/closed flag. Cloning shares the same flag.
///
/// Closed means: no order that could add exposure leaves the process. Cancels and
/// reduce-only exits still pass (a halted trader must be able to get flat).
#[derive(Clone, Debug)]
pub struct TradingGate(Arc<GateState>);

#[derive(Debug)]
struct GateState {
    open: AtomicBool,
    /// Kill-switch presses so far: a re-arm that raced a later press can be refused.
    kills: AtomicU64,
}

impl TradingGate {
    pub fn new(open: bool) -> Self {
        TradingGate(Arc::new(GateState {
            open: AtomicBool::new(open),
            kills: AtomicU64::new(0),
        }))
    }
    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::SeqCst)
    }
    /// Close the gate. Effective for every order checked after this returns.
    pub fn close(&self) {
        self.0.open.store(false, Ordering::SeqCst);
    }
    /// The kill switch: count the press, then close. The engine re-opens only on a re-arm
    /// that came after every press it has seen.
    pub fn kill(&self) {
        self.0.kills.fetch_add(1, Ordering::SeqCst);
        self.close();
    }
    /// Kill-switch presses so far.
    pub fn kills(&self) -> u64 {
        self.0.kills.load(Ordering::SeqCst)
    }
    pub fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
    }
    /// Whether an order may leave now: the gate is open, or the order only reduces.
    pub fn allows(&self, reduce_only: bool) -> bool {
        reduce_only || self.is_open()
    }
}

impl Default for TradingGate {
    fn default() -> Self {
        TradingGate::new(true)
    }
}
