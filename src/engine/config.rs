//! The engine's own configuration sections: `[engine]` ([`EngineConfig`]) and
//! `[kill_switch]` ([`KillSwitchConfig`]).

use serde::Deserialize;

/// `[engine]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Strategy timer period, milliseconds of engine time.
    pub timer_ms: u64,
    /// Market trades kept in the tape.
    pub tape_len: usize,
    /// Alerts kept in memory.
    pub alerts_len: usize,
    /// Closed orders kept in memory for the console.
    pub closed_orders_len: usize,
    /// Book levels per side published to the console.
    pub view_depth: usize,
    /// Where one trading day ends and the next begins, a UTC time of day "HH:MM". At it
    /// the day's counters start again: the daily loss (`risk.daily_loss_limit` counts from
    /// the equity there), the losing streak and its cooldown, the day's round trips. A
    /// halt for the day's loss can be re-armed only after it (and only by a person).
    pub day_boundary: crate::domain::TimeOfDay,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            timer_ms: 100,
            tape_len: 200,
            alerts_len: 500,
            closed_orders_len: 200,
            view_depth: 25,
            day_boundary: crate::domain::TimeOfDay::MIDNIGHT,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if self.timer_ms == 0 {
            return Err(Invalid::new("timer_ms", "must be at least 1"));
        }
        if self.view_depth == 0 {
            return Err(Invalid::new("view_depth", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[kill_switch]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KillSwitchConfig {
    /// After cancelling every open order, also close every position with reduce-only
    /// market orders.
    pub flatten_on_kill: bool,
    /// On exit (end of --for, Ctrl-C, SIGTERM, quit) cancel every open order.
    pub cancel_on_exit: bool,
    /// How long to wait on exit for the venue to confirm cancels, milliseconds.
    pub exit_grace_ms: u64,
    /// The watchdog trips the kill switch when the engine loop has not turned for this
    /// long, milliseconds (wall time; a paused or slowly paced run still turns). 0: off.
    pub engine_stall_ms: u64,
}

impl KillSwitchConfig {
    /// The shortest stall the watchdog may be set to (the loop turns every few ms; below
    /// this a busy machine would halt healthy runs).
    pub const MIN_STALL_MS: u64 = 100;

    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        if self.engine_stall_ms != 0 && self.engine_stall_ms < Self::MIN_STALL_MS {
            return Err(crate::domain::Invalid::new(
                "engine_stall_ms",
                format!("must be 0 (off) or at least {} ms", Self::MIN_STALL_MS),
            ));
        }
        Ok(())
    }
}

impl Default for KillSwitchConfig {
    fn default() -> Self {
        KillSwitchConfig {
            flatten_on_kill: false,
            cancel_on_exit: true,
            exit_grace_ms: 3_000,
            engine_stall_ms: 2_000,
        }
    }
}

/// When a bracket's held stop-loss leg fires (`[brackets] stop_trigger`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopTrigger {
    /// The side of the book the exit would take reaches the stop: the best bid at or
    /// below a sell stop, the best ask at or above a buy stop.
    Touch,
    /// A trade prints at or through the stop.
    Trade,
    /// Whichever comes first (the default: a stop-loss protects).
    Either,
}

/// `[brackets]` in config.toml: an entry order with take-profit and stop-loss legs (OCO).
/// Nothing here acts unless a person or a strategy asks for a bracket.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BracketConfig {
    /// What fires a bracket's stop-loss leg (held by the engine: the paper venue rests no
    /// stop orders).
    pub stop_trigger: StopTrigger,
    /// A stop leg whose IOC closed with the position not yet flat (or was refused) is
    /// sent again after this long, milliseconds of engine time.
    pub stop_retry_ms: u64,
    /// Most brackets working at once (a new one beyond it is refused).
    pub max_open: usize,
}

impl Default for BracketConfig {
    fn default() -> Self {
        BracketConfig {
            stop_trigger: StopTrigger::Either,
            stop_retry_ms: 250,
            max_open: 20,
        }
    }
}

impl BracketConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        if self.stop_retry_ms == 0 {
            return Err(crate::domain::Invalid::new(
                "stop_retry_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// `[algos]` in config.toml: execution algorithms for large orders (TWAP, VWAP split).
/// Nothing here acts unless a person asks for an algorithm.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgoConfig {
    /// Most execution algorithms working at once.
    pub max_open: usize,
    /// Slices of a parent order.
    pub slices: u32,
    /// Over how long the slices are spread, seconds.
    pub duration_secs: u64,
    /// VWAP split: the percentage of each slice sent as an IOC at the touch; the rest
    /// rests as a limit one tick inside the spread until the next slice.
    pub split_ioc_pct: u32,
    /// Participation cap: a slice is at most this fraction of the volume traded on the
    /// instrument over `participation_window_secs` (0: no cap).
    pub participation_cap: rust_decimal::Decimal,
    /// The window the traded volume is measured over, seconds.
    pub participation_window_secs: u64,
}

impl Default for AlgoConfig {
    fn default() -> Self {
        AlgoConfig {
            max_open: 5,
            slices: 10,
            duration_secs: 300,
            split_ioc_pct: 80,
            participation_cap: rust_decimal::Decimal::new(1, 1),
            participation_window_secs: 60,
        }
    }
}

impl AlgoConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if self.slices == 0 || self.slices > 1000 {
            return Err(Invalid::new("slices", "must be 1 to 1000"));
        }
        if self.duration_secs == 0 {
            return Err(Invalid::new("duration_secs", "must be at least 1"));
        }
        if self.split_ioc_pct > 100 {
            return Err(Invalid::new("split_ioc_pct", "must be 0 to 100"));
        }
        if self.participation_cap < rust_decimal::Decimal::ZERO
            || self.participation_cap > rust_decimal::Decimal::ONE
        {
            return Err(Invalid::new(
                "participation_cap",
                "must be 0 (off) to 1 (a fraction of the traded volume)",
            ));
        }
        if self.participation_window_secs == 0 {
            return Err(Invalid::new(
                "participation_window_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
