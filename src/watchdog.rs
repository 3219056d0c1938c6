//! The engine's watchdog: a thread of its own that trips the kill switch when the engine
//! loop stalls, and the two things it needs from the loop: a [`Heartbeat`] (a counter the
//! loop bumps on every turn, waits included) and an [`AlertInbox`] (alerts raised from
//! other threads, which the loop raises in the engine on its next turn).
//!
//! Why the kill switch and not just `TradingGate::close()`: a gate closed under an ACTIVE
//! engine holds every order with nothing on screen to say why and no way out but a
//! restart (only a re-arm opens the gate). [`Killer::kill`] closes the gate just the
//! same, at once and without the engine, and also latches the halt to disk on its own
//! thread (a stalled engine may never come back: a `kill -9` then restarts HALTED) and
//! queues the halt, which the engine carries out when it resumes: HALTED with the reason
//! "engine stalled N ms", every open order cancelled, and a person re-arms. It fails
//! closed, like every other kill path; `kill_switch.engine_stall_ms` should be far above
//! any pause a healthy loop takes (the default is 2 s; the loop turns every few ms).

use crate::emergency::killer::Killer;
use crate::engine::{AlertLevel, Engine};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::domain::Heartbeat;

/// Alerts raised from other threads (the console's hang-up, the watchdog), raised in the
/// engine by the loop on its next turn: logged, stored and shown like its own.
#[derive(Clone, Debug, Default)]
pub struct AlertInbox(Arc<AlertInboxState>);

#[derive(Debug, Default)]
struct AlertInboxState {
    any: AtomicBool,
    queue: Mutex<Vec<(AlertLevel, String, String)>>,
}

impl AlertInbox {
    /// Queue an alert; never waits for the engine.
    pub fn push(&self, level: AlertLevel, source: &str, text: String) {
        let mut q = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.push((level, source.to_string(), text));
        self.0.any.store(true, Ordering::SeqCst);
    }

    /// Raise the queued alerts in `engine` (the loop, each turn; cheap when empty).
    pub fn raise_in(&self, engine: &mut Engine) {
        if !self.0.any.swap(false, Ordering::SeqCst) {
            return;
        }
        let queued = std::mem::take(&mut *self.0.queue.lock().unwrap_or_else(|p| p.into_inner()));
        for (level, source, text) in queued {
            engine.raise_alert(level, &source, text);
        }
    }
}

/// Start the watchdog: every `stall / 4` (10 to 250 ms) it samples `heartbeat`; when the
/// beats have not moved for `stall`, it trips the kill switch (source `watchdog`, reason
/// `engine stalled N ms`) and queues a CRITICAL alert, shown once the engine resumes. Once
/// per stall. It ends when the loop stops or the engine is gone.
pub fn start(
    heartbeat: Heartbeat,
    killer: Killer,
    alerts: AlertInbox,
    stall: Duration,
) -> std::io::Result<()> {
    let every = (stall / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    std::thread::Builder::new()
        .name("pit-watchdog".into())
        .spawn(move || {
            let mut last = heartbeat.beats();
            let mut since = Instant::now();
            let mut tripped = false;
            loop {
                std::thread::sleep(every);
                if heartbeat.stopped() {
                    return;
                }
                let beats = heartbeat.beats();
                if beats != last {
                    last = beats;
                    since = Instant::now();
                    tripped = false;
                    continue;
                }
                let stalled = since.elapsed();
                if stalled >= stall && !tripped {
                    tripped = true;
                    let ms = stalled.as_millis();
                    tracing::error!(stalled_ms = ms as u64, "engine loop stalled: tripping the kill switch");
                    let alive = killer.kill("watchdog", &format!("engine stalled {ms} ms"));
                    alerts.push(
                        AlertLevel::Critical,
                        "watchdog",
                        format!(
                            "engine loop stalled {ms} ms (over kill_switch.engine_stall_ms): the watchdog closed the trading gate and tripped the kill switch"
                        ),
                    );
                    if !alive {
                        return;
                    }
                }
            }
        })?;
    Ok(())
}
