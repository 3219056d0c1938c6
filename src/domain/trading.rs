//! The account's trading state, shared by the engine, risk, strategies and the console.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What order flow is allowed right now.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradingState {
    /// Everything may trade.
    #[default]
    Active,
    /// Manual override: strategies' new orders are held; market data, cancels, exits and
    /// manual orders go on.
    Paused,
    /// Only orders that reduce a position.
    Reducing,
    /// Kill switch or a risk halt: the gate is closed; only cancels and reduce-only exits.
    /// Stays until a person re-arms.
    Halted,
}

impl TradingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "ACTIVE",
            TradingState::Paused => "PAUSED",
            TradingState::Reducing => "REDUCING",
            TradingState::Halted => "HALTED",
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
