//! Whether the engine loop still turns, as a live venue's dead-man refresher asks it.
//!
//! A venue's dead-man switch (OKX "Cancel All After", Kraken "CancelAllOrdersAfter") is
//! refreshed on the connection's own runtime, off the engine thread. Refreshed blindly,
//! it would keep our orders alive while the engine that manages them hangs: the watchdog
//! closes the gate, but the orders already working stay at the venue until the engine
//! comes back. So a refresher asks [`PulseCheck::turned`] before each refresh and skips
//! it while the loop has not turned since the last one: the countdown runs out and the
//! venue cancels every order by itself. The refresher arms again once the loop turns.

use crate::domain::Heartbeat;
use std::sync::{Arc, OnceLock};

/// The engine loop's heartbeat once the runner hands it over
/// ([`crate::venue::ExecutionPort::watch_engine`]); the port and its connection task
/// share one.
#[derive(Clone, Debug, Default)]
pub struct EngineWatch(Arc<OnceLock<Heartbeat>>);

impl EngineWatch {
    /// The runner's heartbeat (the first one handed over counts).
    pub fn attach(&self, pulse: Heartbeat) {
        let _ = self.0.set(pulse);
    }

    /// A check for one refresher.
    pub fn check(&self) -> PulseCheck {
        PulseCheck {
            watch: self.clone(),
            last: None,
        }
    }
}

/// One refresher's memory of the beats it saw last.
#[derive(Debug)]
pub struct PulseCheck {
    watch: EngineWatch,
    last: Option<u64>,
}

impl PulseCheck {
    /// Whether the engine loop has turned since the last call. True with no engine
    /// attached (a task that serves `pit reconcile`), on the first call, and once the loop
    /// has ended (a finishing run cancels its own orders; the task stops with it).
    pub fn turned(&mut self) -> bool {
        let Some(pulse) = self.watch.0.get() else {
            return true;
        };
        if pulse.stopped() {
            return true;
        }
        let beats = pulse.beats();
        let turned = self.last != Some(beats);
        self.last = Some(beats);
        turned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stands_still_between_two_checks_has_not_turned() {
        let watch = EngineWatch::default();
        let mut check = watch.check();
        assert!(check.turned(), "no engine attached: nothing to wait for");
        let pulse = Heartbeat::default();
        watch.attach(pulse.clone());
        assert!(check.turned(), "the first look");
        assert!(!check.turned(), "no beat since");
        pulse.beat();
        assert!(check.turned());
        assert!(!check.turned());
        pulse.stop();
        assert!(
            check.turned(),
            "the loop ended: the run cancels its own orders"
        );
    }
}
