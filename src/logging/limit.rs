//! Rate limits for warnings that a hostile or broken feed can repeat without end (malformed
//! frames, skipped capture lines, resyncs). Without them one line per frame wrote 990 MB of
//! logs in 60 s.
//!
//! Each *kind* (a static string such as `"feed.malformed"`) may log its first
//! [`FIRST`] lines in an interval of [`INTERVAL`]; later ones are counted, not written. The
//! first line of the next interval is preceded by one summary line with the count, and
//! [`flush_summaries`] (run when the log guard drops) writes the counts still pending, so no
//! suppression goes unsaid.
//!
//! Log through [`crate::warn_limited!`]. The limiter reads the wall clock
//! ([`Instant`]) only to decide what reaches the log file; nothing in the engine depends on it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind written per interval before the rest are counted.
pub const FIRST: u32 = 10;
/// The length of an interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// What to do with one warning.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it.
    Log,
    /// Write the summary of `n` suppressed lines of the last interval, then this one.
    Summarize(u64),
    /// Count it and write nothing.
    Skip,
}

#[derive(Debug)]
struct KindState {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-kind counters.
#[derive(Debug)]
pub struct RateLimiter {
    first: u32,
    interval: Duration,
    kinds: Mutex<BTreeMap<&'static str, KindState>>,
}

impl RateLimiter {
    /// A limiter that lets `first` lines of a kind through per `interval`.
    pub const fn new(first: u32, interval: Duration) -> Self {
        RateLimiter {
            first,
            interval,
            kinds: Mutex::new(BTreeMap::new()),
        }
    }

    /// Decide about one warning of `kind` at `now`.
    pub fn check(&self, kind: &'static str, now: Instant) -> Verdict {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let st = kinds.entry(kind).or_insert(KindState {
            window_start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(st.window_start) >= self.interval {
            let pending = std::mem::take(&mut st.suppressed);
            st.window_start = now;
            st.logged = 1;
            return if pending > 0 {
                Verdict::Summarize(pending)
            } else {
                Verdict::Log
            };
        }
        if st.logged < self.first {
            st.logged += 1;
            Verdict::Log
        } else {
            st.suppressed = st.suppressed.saturating_add(1);
            Verdict::Skip
        }
    }

    /// The counts not yet summarized, per kind (reset to zero).
    pub fn drain(&self) -> Vec<(&'static str, u64)> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        kinds
            .iter_mut()
            .filter(|(_, s)| s.suppressed > 0)
            .map(|(k, s)| (*k, std::mem::take(&mut s.suppressed)))
            .collect()
    }
}

static LIMITER: RateLimiter = RateLimiter::new(FIRST, INTERVAL);

/// Decide about one warning of `kind` now (the process-wide limiter).
pub fn check(kind: &'static str) -> Verdict {
    LIMITER.check(kind, Instant::now())
}

/// Write the summary line for `n` suppressed warnings of `kind`.
pub fn summary(kind: &'static str, n: u64) {
    tracing::warn!(
        kind,
        suppressed = n,
        "{n} more '{kind}' warnings suppressed (at most {FIRST} are written per {} s)",
        INTERVAL.as_secs()
    );
}

/// Write the pending summaries (at shutdown, so the last counts are not lost).
pub fn flush_summaries() {
    for (kind, n) in LIMITER.drain() {
        summary(kind, n);
    }
}

/// `tracing::warn!`, rate-limited per kind: `warn_limited!("feed.malformed", venue = %v, "...")`.
#[macro_export]
macro_rules! warn_limited {
    ($kind:expr, $($arg:tt)+) => {
        match $crate::logging::limit::check($kind) {
            $crate::logging::limit::Verdict::Skip => {}
            $crate::logging::limit::Verdict::Log => ::tracing::warn!(kind = $kind, $($arg)+),
            $crate::logging::limit::Verdict::Summarize(n) => {
                $crate::logging::limit::summary($kind, n);
                ::tracing::warn!(kind = $kind, $($arg)+)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_pass_then_counted_then_summarized_next_interval() {
        let l = RateLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let v: Vec<Verdict> = (0..1000).map(|_| l.check("a", t0)).collect();
        assert_eq!(v.iter().filter(|v| **v == Verdict::Log).count(), 3);
        assert_eq!(v.iter().filter(|v| **v == Verdict::Skip).count(), 997);
        // Another kind has its own budget.
        assert_eq!(l.check("b", t0), Verdict::Log);
        // Still inside the interval: counted.
        assert_eq!(l.check("a", t0 + Duration::from_secs(9)), Verdict::Skip);
        // The next interval starts with the summary of what was suppressed.
        assert_eq!(
            l.check("a", t0 + Duration::from_secs(10)),
            Verdict::Summarize(998)
        );
        assert_eq!(l.check("a", t0 + Duration::from_secs(10)), Verdict::Log);
        assert!(l.drain().is_empty());
    }

    #[test]
    fn drain_reports_pending_counts_once() {
        let l = RateLimiter::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..5 {
            l.check("x", t0);
        }
        assert_eq!(l.drain(), vec![("x", 4)]);
        assert!(l.drain().is_empty());
    }
}
