//! The console's small state types: what the run is connected to ([`Mode`]), the replay
//! clock as the console set it ([`ReplayClock`]), the panes in focus order ([`Pane`]), the
//! yes/no questions ([`Confirm`]), the open popup ([`Popup`]) and what the report view
//! shows ([`ReportView`]).

use super::order_form::OrderForm;
use crate::pace::Speed;
use std::fmt;
use std::sync::Arc;

/// What the run is connected to; shown first in the status bar.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Sim,
    Paper,
    Live,
    Replay,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sim => "SIM",
            Mode::Paper => "PAPER",
            Mode::Live => "LIVE",
            Mode::Replay => "REPLAY",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The replay speeds `+` and `-` step through; past the last comes max.
pub const REPLAY_SPEEDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0];

/// What the console knows of a replay's clock (it is the one that changes it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayClock {
    pub paused: bool,
    pub speed: Speed,
}

impl ReplayClock {
    /// The next speed up (`up`) or down from `speed`.
    pub fn step_speed(speed: Speed, up: bool) -> Speed {
        let last = REPLAY_SPEEDS.len() - 1;
        let idx = match speed {
            Speed::Max => last + 1,
            Speed::Times(x) => {
                // The nearest listed speed at or above x.
                REPLAY_SPEEDS
                    .iter()
                    .position(|&s| s >= x - 1e-9)
                    .unwrap_or(last)
            }
        };
        let new = if up {
            (idx + 1).min(last + 1)
        } else {
            idx.saturating_sub(1)
        };
        if new > last {
            Speed::Max
        } else {
            Speed::Times(REPLAY_SPEEDS[new])
        }
    }

    /// `1x`, `0.25x`, `max`, with ` PAUSED` when paused.
    pub fn label(&self) -> String {
        let sp = match self.speed {
            Speed::Max => "max".to_string(),
            Speed::Times(x) => format!("{x}x"),
        };
        if self.paused {
            format!("{sp} PAUSED")
        } else {
            sp
        }
    }
}

/// The panes, in focus order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    Book,
    Tape,
    Positions,
    Pnl,
    Orders,
    Strategies,
    /// Our fills (the blotter).
    Fills,
    Alerts,
}

impl Pane {
    pub const ALL: [Pane; 8] = [
        Pane::Book,
        Pane::Tape,
        Pane::Positions,
        Pane::Pnl,
        Pane::Orders,
        Pane::Strategies,
        Pane::Fills,
        Pane::Alerts,
    ];
    /// The panes a small terminal shows one at a time at the bottom.
    pub const BOTTOM: [Pane; 6] = [
        Pane::Orders,
        Pane::Fills,
        Pane::Tape,
        Pane::Strategies,
        Pane::Alerts,
        Pane::Pnl,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Pane::Book => "Book",
            Pane::Tape => "Trades",
            Pane::Positions => "Positions",
            Pane::Pnl => "PnL",
            Pane::Orders => "Orders",
            Pane::Strategies => "Strategies",
            Pane::Fills => "Fills",
            Pane::Alerts => "Alerts",
        }
    }
    pub(super) fn step(self, forward: bool) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        let n = Pane::ALL.len();
        Pane::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// A yes/no question.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Only `y` confirms.
    ReArm,
    CancelAll,
    Quit,
    Flatten,
}

/// Open popups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popup {
    Help,
    Confirm(Confirm),
    Order(OrderForm),
    /// The PnL report view (full screen); its data is [`App::report_view`].
    Report,
    /// The feed health view: per instrument, connection state and integrity counters
    /// (from the view's `health.feed`), and the book's state.
    Health,
    /// The order-history view (full screen): every order kept with its states and the
    /// reason of a rejection (from the view's `order_history`).
    History,
    /// The strategies view: parameters edited, instances added and removed.
    Strategies(super::strategies::StrategyEditor),
}

/// What the report view shows: the last report `R` the store gave, or why there is none.
#[derive(Clone, Debug)]
pub struct ReportView<R> {
    pub report: Option<Arc<R>>,
    /// The last request failed (or this run has no store).
    pub error: Option<String>,
    /// Asked for on opening and not answered yet.
    pub loading: bool,
    /// Table rows scrolled past.
    pub scroll: usize,
    /// Reports received so far.
    pub updates: u64,
}

impl<R> Default for ReportView<R> {
    fn default() -> Self {
        ReportView {
            report: None,
            error: None,
            loading: false,
            scroll: 0,
            updates: 0,
        }
    }
}

/// What the console's state needs of the renderer's theme: which one comes next when `t`
/// is pressed. The state holds a theme without looking inside it.
pub trait ThemeCycle: Sized {
    /// The theme after this one: the next of `cycle` (matched by name; empty: the
    /// built-ins), with the name to show for it.
    fn next_theme(&self, cycle: &[Self]) -> Option<(Self, String)>;
}
