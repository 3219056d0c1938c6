//! The wait between connections of a venue's private stream (orders, fills, positions):
//! 0.5 s, doubling to 10 s while connections keep failing, and back to 0.5 s once one has
//! stayed up a while. Without the way back, a day of a few lost connections left every
//! later reconnection waiting the full 10 s, blind to fills all that time.

use std::time::{Duration, Instant};

/// A connection that stayed up this long was a good one: the next loss starts the
/// doubling again from the shortest wait (the market data feed's rule too).
pub const GOOD_CONNECTION: Duration = Duration::from_secs(30);

/// The back-off of one stream's reconnections.
#[derive(Debug, Clone)]
pub struct Reconnect {
    next: Duration,
    min: Duration,
    max: Duration,
    /// When the current connection came up (logged in and subscribed), if it did.
    up_since: Option<Instant>,
}

impl Reconnect {
    /// 0.5 s doubling to 10 s.
    pub fn new() -> Reconnect {
        Reconnect::between(Duration::from_millis(500), Duration::from_secs(10))
    }

    pub fn between(min: Duration, max: Duration) -> Reconnect {
        Reconnect {
            next: min,
            min,
            max,
            up_since: None,
        }
    }

    /// The connection came up at `at` (logged in and subscribed: a connect, a login or a
    /// subscription that fails, however slowly, never came up).
    pub fn up(&mut self, at: Instant) {
        self.up_since = Some(at);
    }

    /// The wait before connecting again after the connection was lost at `at`: timed from
    /// when it came up, zero if it never did.
    pub fn lost(&mut self, at: Instant) -> Duration {
        let lasted = self
            .up_since
            .take()
            .map_or(Duration::ZERO, |up| at.saturating_duration_since(up));
        self.after(lasted)
    }

    /// The wait before connecting again after a connection that was up for `lasted`.
    fn after(&mut self, lasted: Duration) -> Duration {
        if lasted >= GOOD_CONNECTION {
            self.reset();
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// Back to the shortest wait, the connection over (the stream ended by another way).
    pub fn reset(&mut self) {
        self.next = self.min;
        self.up_since = None;
    }
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failing_connections_double_the_wait_up_to_ten_seconds() {
        let mut r = Reconnect::new();
        let waits: Vec<u64> = (0..7)
            .map(|_| r.after(Duration::ZERO).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn a_connection_that_stayed_up_starts_the_waits_again_from_half_a_second() {
        let mut r = Reconnect::new();
        for _ in 0..6 {
            r.after(ms(100));
        }
        assert_eq!(r.after(ms(100)), Duration::from_secs(10), "still failing");
        // An hour up, then lost: reconnect at once, not 10 s later.
        assert_eq!(r.after(Duration::from_secs(3600)), ms(500));
        assert_eq!(r.after(ms(10)), ms(1000), "and doubling again if it fails");
    }

    #[test]
    fn it_is_timed_from_when_the_connection_came_up_not_from_the_attempt() {
        let mut r = Reconnect::new();
        let t0 = Instant::now();
        // Attempts that never came up, however long each took (a silent address: the
        // connect gives up after minutes), keep doubling.
        assert_eq!(r.lost(t0 + Duration::from_secs(120)), ms(500));
        assert_eq!(r.lost(t0 + Duration::from_secs(240)), ms(1000));
        assert_eq!(r.lost(t0 + Duration::from_secs(360)), ms(2000));
        // Up at 400 s, lost 10 s later: not a good connection.
        r.up(t0 + Duration::from_secs(400));
        assert_eq!(r.lost(t0 + Duration::from_secs(410)), ms(4000));
        // Up at 500 s, lost an hour later: back to half a second.
        r.up(t0 + Duration::from_secs(500));
        assert_eq!(r.lost(t0 + Duration::from_secs(4100)), ms(500));
        // The next attempt fails before coming up: the earlier "up" is not counted again.
        assert_eq!(r.lost(t0 + Duration::from_secs(4200)), ms(1000));
    }

    #[test]
    fn a_connection_lost_just_short_of_good_keeps_the_doubling() {
        let mut r = Reconnect::new();
        r.after(ms(0));
        r.after(ms(0));
        assert_eq!(r.after(GOOD_CONNECTION - ms(1)), ms(2000));
        assert_eq!(r.after(GOOD_CONNECTION), ms(500));
    }
}
