//! The runner's pace: engine time against the wall clock, and the replay controls (pause,
//! speed, step) it obeys.

use super::wall_now;
use crate::domain::Timestamp;
use crate::engine::clock::ScaledClock;
use crate::pace::{RunControl, Speed};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Paces engine time against the wall clock and obeys the replay controls (pause, speed,
/// step).
pub(super) struct Pacer {
    /// A live feed's events come at wall-clock times: engine time is the wall clock
    /// (re-anchored every turn; speed controls do not apply).
    pub(super) live: bool,
    pub(super) speed: Speed,
    /// `None` at max speed: engine time comes only from the events.
    pub(super) clock: Option<ScaledClock>,
    pub(super) controls: Option<Receiver<RunControl>>,
    /// Controls to apply at the top of the next turn.
    pub(super) queue: Vec<RunControl>,
    pub(super) paused: bool,
    /// Items granted by `Step` while paused.
    pub(super) steps: u32,
    /// How late the last paced item was processed, for the view.
    pub(super) lag: Duration,
}

impl Pacer {
    pub(super) fn new(
        live: bool,
        speed: Speed,
        started: Timestamp,
        controls: Option<Receiver<RunControl>>,
    ) -> Self {
        let clock = match speed {
            _ if live => Some(ScaledClock::new(wall_now(), 1.0)),
            Speed::Times(s) => Some(ScaledClock::new(started, s)),
            Speed::Max => None,
        };
        Pacer {
            live,
            speed,
            clock,
            controls,
            queue: Vec::new(),
            paused: false,
            steps: 0,
            lag: Duration::ZERO,
        }
    }

    /// Apply the controls that arrived: pause, speed, step. Any control re-anchors the
    /// clock at the current engine time `now`.
    pub(super) fn apply_controls(&mut self, now: Timestamp) {
        if let Some(rx) = &self.controls {
            self.queue.extend(rx.try_iter());
        }
        if self.queue.is_empty() {
            return;
        }
        let mut changed = None;
        for c in self.queue.drain(..) {
            match c {
                RunControl::Pause => self.paused = true,
                RunControl::Resume => self.paused = false,
                RunControl::TogglePause => self.paused = !self.paused,
                RunControl::SetSpeed(s) => changed = Some(s),
                RunControl::Step => self.steps += 1,
            }
            if !self.paused {
                self.steps = 0;
            }
            changed.get_or_insert(self.speed);
        }
        if let Some(s) = changed.filter(|_| !self.live) {
            self.speed = s;
            self.clock = match s {
                Speed::Times(x) => Some(ScaledClock::new(now, x)),
                Speed::Max => None,
            };
        }
    }

    /// After a step while paused: the clock goes on from `now`.
    pub(super) fn reanchor(&mut self, now: Timestamp) {
        if let Some(c) = &mut self.clock
            && let Speed::Times(x) = self.speed
        {
            *c = ScaledClock::new(now, x);
        }
    }

    /// Live: engine time is the wall clock, re-anchored before every paced item.
    pub(super) fn follow_wall(&mut self) {
        if self.live {
            self.clock = Some(ScaledClock::new(wall_now(), 1.0));
        }
    }

    /// Whether a replay control arrived (queued for the top of the next turn).
    pub(super) fn control_arrived(&mut self) -> bool {
        if let Some(rx) = &self.controls
            && let Ok(c) = rx.try_recv()
        {
            self.queue.push(c);
            return true;
        }
        false
    }
}
