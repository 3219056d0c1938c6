//! The pace of a run, as plain values: how fast engine time runs against the wall clock
//! ([`Speed`]) and the replay controls the console sends the runner ([`RunControl`]). They
//! sit below both the runner, which obeys them, and the console's state, which asks for
//! them, so neither has to import the other.

/// How fast engine time runs against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// N times real time (1.0 = real time).
    Times(f64),
    /// As fast as the machine goes; engine time comes only from the events.
    Max,
}

/// Speeds are finite and positive by construction (the parser refuses anything else), so
/// equality is total.
impl Eq for Speed {}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let t = s.trim_end_matches(['x', 'X']);
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Speed::Times(v)),
            _ => Err(format!(
                "invalid speed '{s}': a positive number (e.g. 1, 10, 0.5) or 'max'"
            )),
        }
    }
}

/// Replay controls: they act on time itself (pausing a replay stops its clock), so they
/// are the runner's, not engine commands. Live and simulated runs ignore none of them, but
/// only replays offer them in the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunControl {
    /// Stop the clock: nothing is processed until `Resume` (commands still are).
    Pause,
    Resume,
    TogglePause,
    /// Change the pace; the clock is re-anchored at the current engine time.
    SetSpeed(Speed),
    /// While paused: process exactly one item (a market event, a venue report or a timer).
    Step,
}
