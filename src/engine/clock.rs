//! Clocks. The engine core never reads time itself: the runner asks a clock and passes
//! `now` into [`crate::engine::Engine::process`]. This is the only place that reads the
//! wall clock, so a replay or simulation is deterministic.

use crate::domain::Timestamp;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Engine time source.
pub trait Clock {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time, for live trading.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Simulated time that runs `speed` times faster than the wall clock from an anchor.
/// Used to pace a simulated or replayed market for a person watching.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    anchor_wall: Instant,
    anchor_sim: Timestamp,
    speed: f64,
}

impl ScaledClock {
    pub fn new(anchor_sim: Timestamp, speed: f64) -> Self {
        ScaledClock {
            anchor_wall: Instant::now(),
            anchor_sim,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// The wall-clock instant at which simulated time `t` is reached.
    pub fn wall_at(&self, t: Timestamp) -> Instant {
        let sim_ns = t.0.saturating_sub(self.anchor_sim.0).max(0) as f64;
        self.anchor_wall + Duration::from_nanos((sim_ns / self.speed) as u64)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let wall = self.anchor_wall.elapsed().as_nanos() as f64;
        self.anchor_sim + Duration::from_nanos((wall * self.speed) as u64)
    }
}

/// A clock that stands where it is told: for simulation at full speed and for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct ManualClock(pub Timestamp);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}
