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
pub struct TradingGate(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    word: AtomicU64,
    /// Orders between their check and their hand-over to the port ([`TradingGate::pass`]).
    passing: AtomicU64,
}

/// An order let through the gate, on its way into the port: a close or a kill returns
/// only once every passage has ended, so no order checked before it can leave after it.
#[must_use = "the order passes while the passage is held"]
pub struct Passage<'a>(&'a AtomicU64);

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long a close waits at most for orders already let through to be handed over (a
/// hand-over is a push on a queue or a channel: microseconds, unless the thread doing it
/// is descheduled). Bounded so that a close from inside a passage on the same thread (a
/// panic hook during a send) cannot hang; wall time here is a wait of this primitive, not
/// engine logic.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

impl TradingGate {
    pub fn new(open: bool) -> Self {
        TradingGate(Arc::new(Inner {
            word: AtomicU64::new(if open { OPEN } else { 0 }),
            passing: AtomicU64::new(0),
        }))
    }
    pub fn is_open(&self) -> bool {
        self.0.word.load(Ordering::SeqCst) & OPEN != 0
    }
    /// Close the gate without counting a press. Effective for every order checked after
    /// this returns, and no order checked before it is still on its way in.
    pub fn close(&self) {
        self.0.word.fetch_and(!OPEN, Ordering::SeqCst);
        self.settle();
    }
    /// Wait for the orders already let through to be handed over (see [`Passage`]).
    /// With the passage counted before the gate is read, and the gate closed before the
    /// count is read (all `SeqCst`), either the order sees the gate closed or the close
    /// sees the order passing and waits for it.
    fn settle(&self) {
        let mut since = None;
        while self.0.passing.load(Ordering::SeqCst) != 0 {
            let t0 = *since.get_or_insert_with(std::time::Instant::now);
            if t0.elapsed() >= SETTLE_LIMIT {
                tracing::error!(
                    "trading gate closed while an order was still being handed to the port after {} ms",
                    SETTLE_LIMIT.as_millis()
                );
                return;
            }
            std::thread::yield_now();
        }
    }
    /// Let `req` through if [`TradingGate::allows_order`]: the returned passage is held
    /// while the order is handed to the port.
    pub fn pass(&self, req: &OrderRequest) -> Option<Passage<'_>> {
        self.0.passing.fetch_add(1, Ordering::SeqCst);
        let passage = Passage(&self.0.passing);
        self.allows_order(req).then_some(passage)
    }
    /// The kill switch: close and count the press in one atomic step (closed before the
    /// count can be seen). The engine re-opens only on a re-arm that came after every
    /// press (see [`TradingGate::rearm`]).
    pub fn kill(&self) {
        // Clearing bit 0 and adding 2 never carries into bit 0.
        let _ = self
            .0
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some((w & !OPEN).wrapping_add(ONE_KILL))
            });
        self.settle();
    }
    /// Kill-switch presses so far.
    pub fn kills(&self) -> u64 {
        self.0.word.load(Ordering::SeqCst) >> 1
    }
    /// Open unconditionally (an engine starting ACTIVE). A re-arm uses
    /// [`TradingGate::rearm`].
    pub fn open(&self) {
        self.0.word.fetch_or(OPEN, Ordering::SeqCst);
    }
    /// Re-arm: open the gate only if the press count is still `seen_kills` (compare and
    /// swap). Returns false, leaving the gate closed, if a press came in between.
    pub fn rearm(&self, seen_kills: u64) -> bool {
        let closed = seen_kills.wrapping_mul(ONE_KILL);
        self.0
            .word
            .compare_exchange(closed, closed | OPEN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            || self.0.word.load(Ordering::SeqCst) == closed | OPEN
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

    fn order() -> OrderRequest {
        use crate::domain::{
            ClientOrderId, InstrumentId, OrderKind, OrderSpec, OrderTag, Price, Qty, Side,
            TimeInForce,
        };
        OrderRequest {
            client_id: ClientOrderId::new("S1-1"),
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(100)),
                qty: Qty(1),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            owner: Owner::Strategy(0),
            tag: OrderTag::Strategy,
        }
    }

    /// An order let through just before a kill is still being handed to the port: the
    /// kill returns only after it is in (so "after K returns, nothing leaves" holds even
    /// when the engine thread is paused between its check and its send). After the kill,
    /// nothing passes.
    #[test]
    fn a_kill_returns_only_once_an_order_let_through_is_handed_over() {
        use std::sync::atomic::AtomicBool;
        let g = TradingGate::new(true);
        let handed = Arc::new(AtomicBool::new(false));
        let (g2, h2) = (g.clone(), handed.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = std::thread::spawn(move || {
            let p = g2.pass(&order()).expect("open: it passes");
            tx.send(()).unwrap();
            // Paused between the check and the hand-over.
            std::thread::sleep(std::time::Duration::from_millis(100));
            h2.store(true, Ordering::SeqCst);
            drop(p);
        });
        rx.recv().unwrap();
        g.kill();
        assert!(
            handed.load(Ordering::SeqCst),
            "the kill returned while an order was still on its way"
        );
        assert!(g.pass(&order()).is_none(), "closed: nothing passes");
        engine.join().unwrap();
    }
}
