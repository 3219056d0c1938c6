//! What every live venue's connection task does between the engine's "place" and the
//! request leaving, lifted out of the Binance and Bybit tasks so that a third venue (OKX)
//! does not carry a third copy:
//!
//! * the store barrier: an order leaves only once its record is durable (the store's
//!   durable watermark has reached the record's number), else it is refused unsent;
//! * the withdrawn set: an order cancelled while it waited for the barrier (the kill
//!   switch) is never sent. The task marks it withdrawn when the cancel comes in while its
//!   create is still in flight ([`withdraw`]), the create's own task checks after the wait
//!   ([`before_send`]), and the create's answer clears it ([`answered`]); the cancel itself
//!   is held by the task until that answer (sent at once, it could reach the venue first,
//!   find nothing, and the order would rest after the kill).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The orders cancelled before their create left.
pub type Withdrawn = Mutex<BTreeSet<String>>;

/// How long an order waits for its store record before it is refused unsent.
pub const BARRIER_WAIT: Duration = Duration::from_secs(10);

/// Wait until the store's durable watermark reaches `barrier` (at most [`BARRIER_WAIT`]).
pub async fn wait_durable(d: &AtomicU64, barrier: u64) -> bool {
    wait_durable_within(d, barrier, BARRIER_WAIT).await
}

async fn wait_durable_within(d: &AtomicU64, barrier: u64, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while d.load(Ordering::Acquire) < barrier {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Whether the create of `venue_id` may leave now: its record durable (when there is a
/// store) and the order not withdrawn meanwhile. `Err`: why it is not sent.
pub async fn before_send(
    durable: Option<&AtomicU64>,
    barrier: u64,
    withdrawn: &Withdrawn,
    venue_id: &str,
) -> Result<(), String> {
    before_send_within(durable, barrier, withdrawn, venue_id, BARRIER_WAIT).await
}

async fn before_send_within(
    durable: Option<&AtomicU64>,
    barrier: u64,
    withdrawn: &Withdrawn,
    venue_id: &str,
    limit: Duration,
) -> Result<(), String> {
    if let Some(d) = durable
        && !wait_durable_within(d, barrier, limit).await
    {
        return Err("the store did not confirm the order's record".into());
    }
    if withdrawn
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(venue_id)
    {
        return Err("cancelled before it was sent".into());
    }
    Ok(())
}

/// A cancel came in while the order's create was in flight: if the create has not left
/// yet, it never will.
pub fn withdraw(withdrawn: &Withdrawn, venue_id: &str) {
    withdrawn
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(venue_id.to_string());
}

/// The create was answered (or refused unsent): forget it.
pub fn answered(withdrawn: &Withdrawn, venue_id: &str) {
    withdrawn
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(venue_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn an_order_waits_for_its_record_and_a_withdrawn_one_never_leaves() {
        let w = Withdrawn::default();
        let d = std::sync::Arc::new(AtomicU64::new(4));
        assert!(before_send(Some(&d), 4, &w, "a").await.is_ok());
        assert!(before_send(None, 9, &w, "a").await.is_ok());
        // The record becomes durable while the order waits: it leaves then.
        let d2 = d.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            d2.store(5, Ordering::Release);
        });
        let t0 = std::time::Instant::now();
        assert!(before_send(Some(&d), 5, &w, "a").await.is_ok());
        assert!(t0.elapsed() >= Duration::from_millis(25));
        // The record never becomes durable: refused after the wait.
        let short = Duration::from_millis(50);
        let e = before_send_within(Some(&d), 6, &w, "a", short)
            .await
            .unwrap_err();
        assert!(e.contains("store"), "{e}");
        withdraw(&w, "a");
        assert_eq!(
            before_send(Some(&d), 4, &w, "a").await,
            Err("cancelled before it was sent".into())
        );
        answered(&w, "a");
        assert!(before_send(Some(&d), 4, &w, "a").await.is_ok());
    }
}
