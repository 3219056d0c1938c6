//! Order latency at a real venue: send → ack and send → first fill, per order, summed up
//! as median and p99 over the last [`WINDOW`] orders (exact order statistics over the
//! kept samples, in microseconds, measured on the connection task's monotonic clock).

use std::collections::VecDeque;

/// Samples kept per figure.
pub const WINDOW: usize = 1000;

/// One figure's samples (µs).
#[derive(Clone, Debug, Default)]
pub struct Samples {
    kept: VecDeque<u64>,
    total: u64,
}

impl Samples {
    pub fn push(&mut self, us: u64) {
        if self.kept.len() == WINDOW {
            self.kept.pop_front();
        }
        self.kept.push_back(us);
        self.total += 1;
    }
    /// Median and p99 (nearest rank), `None` without samples.
    pub fn summary(&self) -> Option<Quantiles> {
        if self.kept.is_empty() {
            return None;
        }
        let mut v: Vec<u64> = self.kept.iter().copied().collect();
        v.sort_unstable();
        let rank = |q: f64| {
            // Nearest rank: the smallest sample with at least q of them at or below it.
            let n = v.len();
            let r = ((q * n as f64).ceil() as usize).clamp(1, n);
            v[r - 1]
        };
        Some(Quantiles {
            median_us: rank(0.5),
            p99_us: rank(0.99),
            samples: self.total,
        })
    }
}

pub use crate::engine::view::Quantiles;

/// The two figures of a venue.
#[derive(Clone, Debug, Default)]
pub struct OrderLatency {
    pub ack: Samples,
    pub first_fill: Samples,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_by_nearest_rank_over_the_window() {
        let mut s = Samples::default();
        assert_eq!(s.summary(), None);
        for us in 1..=100 {
            s.push(us);
        }
        let q = s.summary().unwrap();
        assert_eq!((q.median_us, q.p99_us, q.samples), (50, 99, 100));
        s.push(1_000_000);
        assert_eq!(s.summary().unwrap().p99_us, 100);
        // Only the last WINDOW samples count.
        for _ in 0..WINDOW {
            s.push(7);
        }
        let q = s.summary().unwrap();
        assert_eq!((q.median_us, q.p99_us, q.samples), (7, 7, 1101));
    }
}
