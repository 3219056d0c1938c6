//! The trading gate: one atomic word that the kill switch closes at once, from any thread,
//! and that the execution port's gate (`venue::GatedPort`) checks immediately before any
//! order leaves.
//!
//! The open flag and the count of kill-switch presses live in one `AtomicU64` (bit 0:
//! open; the rest: the count), so a press closes and counts in one step, and a re-arm
//! opens with a compare-and-swap that fails if any press came after the one the engine
//! last saw: a K pressed between the engine's check and its re-arm can never leave the
//! gate open.

use super::{OrderRequest, Owner};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const OPEN: u64 = 1;
const ONE_KILL: u64 = 2;

/// Shared open/closed flag and kill counter. Cloning shares the same gate.
///
/// Closed means: no order that could add exposure leaves the process, and no strategy
/// order at all. Cancels always pass, and so do the reduce-only exits a person asked for
/// (a flatten, the kill switch's own flatten, a manual reduce-only order).
#[derive(Clone, Debug)]
pub struct TradingGate(Arc<AtomicU64>);

impl TradingGate {
    pub fn new(open: bool) -> Self {
        TradingGate(Arc::new(AtomicU64::new(if open { OPEN } else { 0 })))
    }
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst) & OPEN != 0
    }
    /// Close the gate without counting a press. Effective for every order checked after
    /// this returns.
    pub fn close(&self) {
        self.0.fetch_and(!OPEN, Ordering::SeqCst);
    }
    /// The kill switch: close and count the press in one atomic step (closed before the
    /// count can be seen). The engine re-opens only on a re-arm that came after every
    /// press (see [`TradingGate::rearm`]).
    pub fn kill(&self) {
        // Clearing bit 0 and adding 2 never carries into bit 0.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some((w & !OPEN).wrapping_add(ONE_KILL))
            });
    }
    /// Kill-switch presses so far.
    pub fn kills(&self) -> u64 {
        self.0.load(Ordering::SeqCst) >> 1
    }
    /// Open unconditionally (an engine starting ACTIVE). A re-arm uses
    /// [`TradingGate::rearm`].
    pub fn open(&self) {
        self.0.fetch_or(OPEN, Ordering::SeqCst);
    }
    /// Re-arm: open the gate only if the press count is still `seen_kills` (compare and
    /// swap). Returns false, leaving the gate closed, if a press came in between.
    pub fn rearm(&self, seen_kills: u64) -> bool {
        let closed = seen_kills.wrapping_mul(ONE_KILL);
        self.0
            .compare_exchange(closed, closed | OPEN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            || self.0.load(Ordering::SeqCst) == closed | OPEN
    }
    /// Whether an order with this reduce-only flag may leave now: the gate is open, or
    /// the order only reduces. Prefer [`TradingGate::allows_order`], which also holds
    /// strategies' exits.
    pub fn allows(&self, reduce_only: bool) -> bool {
        reduce_only || self.is_open()
    }
    /// Whether `req` may leave now: the gate is open, or it is a reduce-only exit that a
    /// person asked for (manual, flatten, the kill switch's flatten). Strategies' orders,
    /// exits included, are held while the gate is closed.
    pub fn allows_order(&self, req: &OrderRequest) -> bool {
        self.is_open() || (req.spec.reduce_only && !matches!(req.owner, Owner::Strategy(_)))
    }
}

impl Default for TradingGate {
    fn default() -> Self {
        TradingGate::new(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_closes_and_counts_and_a_stale_rearm_cannot_open() {
        let g = TradingGate::new(true);
        g.kill();
        assert!(!g.is_open());
        assert_eq!(g.kills(), 1);
        let seen = g.kills();
        g.kill(); // a second press after the engine looked
        assert!(!g.rearm(seen), "a re-arm older than a press is refused");
        assert!(!g.is_open());
        assert!(g.rearm(g.kills()));
        assert!(g.is_open());
        g.close();
        assert_eq!(g.kills(), 2, "close does not count");
    }
}
