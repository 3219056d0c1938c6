//! The trading gate: one atomic flag that the kill switch closes at once, from any thread,
//! and that the execution port checks immediately before any order leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared open/closed flag. Cloning shares the same flag.
///
/// Closed means: no order that could add exposure leaves the process. Cancels and
/// reduce-only exits still pass (a halted trader must be able to get flat).
#[derive(Clone, Debug)]
pub struct TradingGate(Arc<AtomicBool>);

impl TradingGate {
    pub fn new(open: bool) -> Self {
        TradingGate(Arc::new(AtomicBool::new(open)))
    }
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Close the gate. Effective for every order checked after this returns.
    pub fn close(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
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
