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

const DAY_NS: i64 = 86_400_000_000_000;

/// A time of day in UTC, written `"HH:MM"` in config.toml: where a trading session starts,
/// or where one trading day ends and the next begins. Days counted from it are engine-time
/// arithmetic only (no wall clock, no time-zone database).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    /// Minutes after 00:00 UTC, below 1440.
    minutes: u32,
}

impl TimeOfDay {
    /// 00:00 UTC.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { minutes: 0 };

    /// `hh:mm` from hours and minutes; `None` out of range.
    pub fn new(hours: u32, minutes: u32) -> Option<Self> {
        (hours < 24 && minutes < 60).then_some(TimeOfDay {
            minutes: hours * 60 + minutes,
        })
    }

    /// Parses `"HH:MM"` (24-hour clock, UTC).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("expected a UTC time of day \"HH:MM\" (e.g. \"13:30\"), got {text:?}");
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(h, m).ok_or_else(bad)
    }

    /// Minutes after 00:00 UTC.
    pub fn minutes(self) -> u32 {
        self.minutes
    }

    /// Nanoseconds after 00:00 UTC.
    pub fn offset_nanos(self) -> i64 {
        i64::from(self.minutes) * 60_000_000_000
    }

    /// The number of the day (since 1970-01-01) that `t` falls in, when days begin at this
    /// time of day: e.g. with 22:00, 2024-08-08T23:00Z belongs to the day that began at
    /// 2024-08-08T22:00Z.
    pub fn day_of(self, t: Timestamp) -> i64 {
        t.0.saturating_sub(self.offset_nanos()).div_euclid(DAY_NS)
    }

    /// When day `day` (as [`TimeOfDay::day_of`] counts) begins.
    pub fn start_of_day(self, day: i64) -> Timestamp {
        Timestamp(
            day.saturating_mul(DAY_NS)
                .saturating_add(self.offset_nanos()),
        )
    }

    /// The latest moment at or before `t` at this time of day.
    pub fn last_at_or_before(self, t: Timestamp) -> Timestamp {
        self.start_of_day(self.day_of(t))
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TimeOfDay::parse(&s)
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
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

    #[test]
    fn time_of_day_parses_and_counts_days_from_it() {
        assert_eq!(TimeOfDay::parse("00:00"), Ok(TimeOfDay::MIDNIGHT));
        let ten_pm = TimeOfDay::parse("22:00").unwrap();
        assert_eq!(ten_pm.to_string(), "22:00");
        for bad in ["24:00", "9:30", "12:60", "noon", "", "12-30"] {
            let e = TimeOfDay::parse(bad).unwrap_err();
            assert!(e.contains("HH:MM"), "{bad}: {e}");
        }
        // 2024-08-08T00:00:00.123Z: before 22:00, so in the day that began the 7th at 22:00.
        let t = Timestamp::from_millis(1_723_075_200_123);
        assert_eq!(TimeOfDay::MIDNIGHT.day_of(t), t.day());
        assert_eq!(ten_pm.day_of(t), t.day() - 1);
        assert_eq!(
            ten_pm.last_at_or_before(t).to_rfc3339(),
            "2024-08-07T22:00:00.000Z"
        );
        let later = Timestamp::from_millis(1_723_075_200_123 + 22 * 3_600_000);
        assert_eq!(ten_pm.day_of(later), t.day());
        assert_eq!(
            ten_pm.start_of_day(ten_pm.day_of(later)).to_rfc3339(),
            "2024-08-08T22:00:00.000Z"
        );
    }
}
