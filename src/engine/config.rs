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
