//! Engine time: nanoseconds since the Unix epoch, only ever produced by a clock.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A point in engine time, Unix nanoseconds. Live runs take it from the wall clock,
/// simulated and replayed runs from the simulation or the recording.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }
    pub fn as_nanos(self) -> i64 {
        self.0
    }
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// Time elapsed since `earlier`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
    /// The UTC calendar day number (days since 1970-01-01), for daily limits.
    pub fn day(self) -> i64 {
        self.0.div_euclid(86_400_000_000_000)
    }
    /// ISO-8601 UTC rendering with milliseconds.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        match chrono::DateTime::from_timestamp(secs, nanos) {
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => format!("{}ns", self.0),
        }
    }
    /// `HH:MM:SS.mmm` in UTC, for tapes and alert lists.
    pub fn hms_millis(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        match chrono::DateTime::from_timestamp(secs, nanos) {
            Some(dt) => dt.format("%H:%M:%S%.3f").to_string(),
            None => format!("{}ns", self.0),
        }
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_nanos().min(i64::MAX as u128) as i64),
        )
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_nanos().min(i64::MAX as u128) as i64),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_arithmetic() {
        let t = Timestamp::from_millis(1_723_075_200_123);
        assert_eq!(t.to_rfc3339(), "2024-08-08T00:00:00.123Z");
        assert_eq!(t.hms_millis(), "00:00:00.123");
        assert_eq!(
            (t + Duration::from_millis(5)).as_millis(),
            1_723_075_200_128
        );
        assert_eq!(t.since(t + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(t.day(), 19_943);
    }
}
