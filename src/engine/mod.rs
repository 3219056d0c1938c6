//! The synchronous, deterministic engine core.
//!
//! [`Engine::process`] takes one input (a market event, an execution report, an operator
//! command or a timer tick) and the time from the runner's clock, updates books, orders,
//! positions, strategies, risk and alerts, and appends [`Effect`]s: orders to submit (only
//! risk-approved ones), cancels to send, alerts to log. It never reads the wall clock,
//! never blocks and never touches I/O: the same inputs give the same effects, byte for byte.
//!
//! One room per concern, each an `impl Engine` block over the fields declared here:
//! `config.rs` (`[engine]`, `[kill_switch]`), `commands.rs` (the inputs, effects and
//! operator commands), `market.rs` (books and the tape), `strategies.rs` (calling the
//! strategies, acting on their intents), `orders.rs` (placing through risk, cancels,
//! execution reports), `modify.rs` (a manual order's cancel/replace), `portfolio.rs` (fills, positions, PnL, loss limits), `kill.rs` (the
//! kill switch, halts and flattening), `alerts.rs`, `blotter.rs` (fills and order
//! history for the console, fed from each call's effects), `execstats.rs` (execution
//! latency, fill ratio and slippage for `/metrics`, fed the same way); `risk/` (the pre-trade checks),
//! `persist.rs` (what the store keeps), `view.rs` (what the console sees), `clock.rs`;
//! `session.rs` (trading windows per instrument, `[[sessions]]`); `aged.rs` (the
//! aged-position manager, `[aged_positions]`).
//! `groups.rs` (orders worked as a group), `brackets.rs` (an entry with take-profit and
//! stop-loss legs, OCO), `algos.rs` (TWAP and VWAP split of a large order).

pub mod aged;
mod alerts;
pub mod algos;
pub mod blotter;
pub mod brackets;
pub mod clock;
mod commands;
mod config;
mod dust;
pub mod execstats;
mod groups;
#[cfg(test)]
mod groups_tests;
mod kill;
mod market;
mod modify;
mod orders;
pub mod persist;
mod portfolio;
pub mod risk;
pub mod session;
mod strategies;
#[cfg(test)]
pub(crate) mod testkit;
pub mod view;

pub use alerts::{Alert, AlertLevel};
pub use algos::{Algo, AlgoKind, AlgoOrder};
pub use brackets::{Bracket, BracketLegs, BracketOrder, BracketState};
pub use commands::{Command, Effect, Input, ManualOrder, ModifyOrder, OrderPreview};
pub use config::{AlgoConfig, BracketConfig, EngineConfig, KillSwitchConfig, StopTrigger};
pub use kill::KillProgress;
pub use persist::{AuditEntry, ClosedTrade, DayFigures, Recovered, RecoveredCounts, Trip};

use crate::domain::{
    ClientOrderId, Instrument, InstrumentId, Order, OrderBook, OrderRequest, Position, StrategyId,
    Timestamp, TradeTick, TradingGate, TradingState, VenueRules, VenueRulesState,
};
use crate::strategy::{Intent, StrategySlot};
use risk::RiskEngine;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;
use strategies::StrategyStats;

/// Everything the engine needs at start.
pub struct EngineSetup {
    pub config: EngineConfig,
    pub kill: KillSwitchConfig,
    pub instruments: Vec<Instrument>,
    pub strategies: Vec<StrategySlot>,
    /// `[sizing]`: how the strategies' risk-sized orders become quantities.
    pub sizing: crate::strategy::sizing::SizingParams,
    pub risk: RiskEngine,
    pub gate: TradingGate,
    /// Trading state at start (a restart after a halt comes up `Halted`).
    pub initial_state: TradingState,
    pub start: Timestamp,
}

/// Headline figures of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub events: u64,
    pub orders: u64,
    pub fills: u64,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    pub positions: BTreeMap<String, Decimal>,
    pub trading_state: TradingState,
    /// Why the run is halted, when it is.
    pub halt_reason: Option<String>,
    pub fill_log_sha256: String,
}

/// The trading engine.
pub struct Engine {
    cfg: EngineConfig,
    kill_cfg: KillSwitchConfig,
    instruments: Vec<Instrument>,
    books: Vec<OrderBook>,
    last_book_update: Vec<Option<Timestamp>>,
    resyncing: Vec<bool>,
    stale_flagged: Vec<bool>,
    last_trade: Vec<Option<TradeTick>>,
    tape: VecDeque<(InstrumentId, TradeTick)>,
    positions: Vec<Position>,
    unrealized: Vec<Decimal>,
    /// Per instrument, the mid (x2 ticks) the position was last marked at.
    marked_mid_x2: Vec<Option<i64>>,
    open_orders: crate::domain::OpenOrders,
    closed_orders: VecDeque<Order>,
    used_ids: HashSet<ClientOrderId>,
    next_order_no: u64,
    strategies: Vec<StrategySlot>,
    strat_stats: Vec<StrategyStats>,
    intents: Vec<Intent>,
    risk: RiskEngine,
    state: TradingState,
    halt_reason: Option<String>,
    shutting_down: bool,
    /// `[sizing]`: risk units to quantities (see `strategies.rs`).
    sizing: crate::strategy::sizing::SizingParams,
    kill: Option<KillProgress>,
    kill_targets: BTreeSet<ClientOrderId>,
    /// The state a halt interrupted: a re-arm goes back to PAUSED or REDUCING.
    state_before_halt: TradingState,
    /// Strategies' exits held during this halt (the first one raises an alert).
    exits_held: u32,
    /// Kill-switch presses the engine has acted on (see [`TradingGate::kills`]).
    kills_seen: u64,
    /// When the halted engine last tried to flatten (retries at most once a second).
    last_flatten_try: Timestamp,
    order_preview: Option<OrderPreview>,
    gate: TradingGate,
    alerts: VecDeque<Alert>,
    alert_seq: u64,
    realized: Decimal,
    fees: Decimal,
    /// The trading day (a day number from `engine.day_boundary`).
    day: i64,
    /// When the next trading day begins (`day_boundary.start_of_day(day + 1)`): before
    /// it, no event rolls the day, and `roll_day` is one compare (its division took ~20
    /// instructions an event).
    next_day_at: Timestamp,
    day_start_equity: Decimal,
    /// Round trips closed in the trading day.
    day_trades: u64,
    /// The trading day in which the daily loss limit halted the engine: no re-arm in it.
    loss_halt_day: Option<i64>,
    equity_peak: Decimal,
    /// The peak as last sent to the store, and when.
    peak_stored: Decimal,
    peak_stored_at: Timestamp,
    next_timer: Timestamp,
    now: Timestamp,
    events: u64,
    market_events: u64,
    orders_sent: u64,
    fills: u64,
    fill_hash: Sha256,
    fill_line: String,
    /// The round trip open on each instrument, for closed-trade records.
    trips: Vec<persist::Trip>,
    /// Effects raised outside `process` (by [`Engine::restore`]); emitted first by the
    /// next `process` call.
    pending: Vec<Effect>,
    /// Orders to place again after a restart, once their instrument's book has a mid.
    pending_restore: Vec<OrderRequest>,
    /// Each instrument's venue rules (exchange filters), checked by risk on every order.
    venue_rules: Vec<VenueRulesState>,
    /// Our recent fills and every order's history, for the console (decides nothing).
    blotter: blotter::Blotter,
    exec_stats: execstats::ExecStats,
    /// `[[sessions]]`: trading windows per instrument (empty: trade always).
    sessions: Vec<session::SessionSlot>,
    /// `[aged_positions]`: the aged-position manager (off unless [`Engine::set_aged`]).
    aged: aged::Aged,
    /// Brackets and execution algorithms working now (`groups.rs`).
    groups: groups::Groups,
    /// Per instrument, the dust last reported (`dust.rs`): said once, not per attempt.
    dust_noted: Vec<Decimal>,
}

impl Engine {
    pub fn new(setup: EngineSetup) -> Self {
        let n = setup.instruments.len();
        let strat_stats = setup
            .strategies
            .iter()
            .map(|slot| StrategyStats::new(n, &slot.params))
            .collect();
        let halted = setup.initial_state == TradingState::Halted;
        let day = setup.config.day_boundary.day_of(setup.start);
        let next_day_at = setup
            .config
            .day_boundary
            .start_of_day(day.saturating_add(1));
        if halted {
            setup.gate.close();
        } else {
            setup.gate.open();
        }
        let mut engine = Engine {
            next_timer: setup.start + Duration::from_millis(setup.config.timer_ms),
            cfg: setup.config,
            kill_cfg: setup.kill,
            books: vec![OrderBook::new(); n],
            last_book_update: vec![None; n],
            resyncing: vec![false; n],
            stale_flagged: vec![false; n],
            last_trade: vec![None; n],
            tape: VecDeque::new(),
            positions: (0..n)
                .map(|i| Position::new(InstrumentId(i as u16)))
                .collect(),
            unrealized: vec![Decimal::ZERO; n],
            marked_mid_x2: vec![None; n],
            instruments: setup.instruments,
            open_orders: crate::domain::OpenOrders::new(),
            closed_orders: VecDeque::new(),
            used_ids: HashSet::new(),
            next_order_no: 0,
            strategies: setup.strategies,
            strat_stats,
            intents: Vec::new(),
            risk: setup.risk,
            state: setup.initial_state,
            halt_reason: None,
            shutting_down: false,
            sizing: setup.sizing,
            kill: None,
            kill_targets: BTreeSet::new(),
            state_before_halt: TradingState::Active,
            exits_held: 0,
            kills_seen: setup.gate.kills(),
            last_flatten_try: Timestamp::ZERO,
            order_preview: None,
            gate: setup.gate,
            alerts: VecDeque::new(),
            alert_seq: 0,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            day,
            next_day_at,
            day_start_equity: Decimal::ZERO,
            day_trades: 0,
            loss_halt_day: None,
            equity_peak: Decimal::ZERO,
            peak_stored: Decimal::ZERO,
            peak_stored_at: Timestamp(i64::MIN),
            now: setup.start,
            events: 0,
            market_events: 0,
            orders_sent: 0,
            fills: 0,
            fill_hash: Sha256::new(),
            fill_line: String::with_capacity(160),
            trips: vec![persist::Trip::default(); n],
            pending: Vec::new(),
            pending_restore: Vec::new(),
            venue_rules: vec![VenueRulesState::NotRequired; n],
            dust_noted: vec![Decimal::ZERO; n],
            blotter: blotter::Blotter::default(),
            exec_stats: execstats::ExecStats::default(),
            sessions: Vec::new(),
            aged: aged::Aged::new(
                aged::AgedParams {
                    enabled: false,
                    ..aged::AgedParams::default()
                },
                n,
            ),
            groups: groups::Groups {
                volume: vec![VecDeque::new(); n],
                ..groups::Groups::default()
            },
        };
        if halted {
            engine.halt_reason = Some("restored halted: re-arm to trade".into());
        }
        engine
    }

    // ----- read access -------------------------------------------------------------

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    pub fn book(&self, id: InstrumentId) -> &OrderBook {
        &self.books[id.index()]
    }
    pub fn position(&self, id: InstrumentId) -> &Position {
        &self.positions[id.index()]
    }
    pub fn open_orders(&self) -> &BTreeMap<ClientOrderId, Order> {
        &self.open_orders
    }
    pub fn trading_state(&self) -> TradingState {
        self.state
    }
    pub fn kill_progress(&self) -> Option<&KillProgress> {
        self.kill.as_ref()
    }
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter()
    }
    pub fn gate(&self) -> &TradingGate {
        &self.gate
    }
    /// Kill-switch presses the engine has acted on: when the gate's count
    /// ([`TradingGate::kills`]) is ahead, a press is on its way.
    pub fn kills_seen(&self) -> u64 {
        self.kills_seen
    }
    pub fn now(&self) -> Timestamp {
        self.now
    }
    pub fn strategy_enabled(&self, id: StrategyId) -> Option<bool> {
        self.strategies.get(id as usize).map(|s| s.enabled)
    }
    /// When the engine next wants a [`Input::Timer`].
    pub fn next_timer(&self) -> Timestamp {
        self.next_timer
    }
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }
    /// The venue rules (exchange filters) known for an instrument.
    pub fn venue_rules(&self, id: InstrumentId) -> &VenueRulesState {
        &self.venue_rules[id.index()]
    }

    /// Trade on a live venue: every instrument's new orders are refused until its rules
    /// (exchange filters) arrive as [`Input::VenueRules`] (fail closed).
    pub fn await_venue_rules(&mut self, venue: &str) {
        for r in &mut self.venue_rules {
            *r = VenueRulesState::Awaited {
                venue: venue.to_string(),
                why: None,
            };
        }
    }

    fn on_venue_rules(
        &mut self,
        id: InstrumentId,
        rules: Result<VenueRules, String>,
        out: &mut Vec<Effect>,
    ) {
        let Some(slot) = self.venue_rules.get(id.index()) else {
            return;
        };
        let symbol = self.instruments[id.index()].symbol.clone();
        let venue = match slot {
            VenueRulesState::NotRequired => self.instruments[id.index()].venue.clone(),
            VenueRulesState::Awaited { venue, .. } | VenueRulesState::Known { venue, .. } => {
                venue.clone()
            }
        };
        match (rules, slot) {
            (Ok(rules), VenueRulesState::Known { rules: old, .. }) if *old == rules => {}
            (Ok(rules), prev) => {
                let changed = matches!(prev, VenueRulesState::Known { .. });
                let text = format!(
                    "{venue} {symbol}: exchange filters {} ({}); every order is checked against them",
                    if changed { "changed" } else { "loaded" },
                    rules.summary()
                );
                let level = if changed {
                    AlertLevel::Warn
                } else {
                    AlertLevel::Info
                };
                self.alert(level, "venue", text, out);
                self.venue_rules[id.index()] = VenueRulesState::Known { venue, rules };
            }
            (Err(why), VenueRulesState::Known { .. }) => {
                // Keep the rules already known: the venue announces changes ahead.
                let text = format!(
                    "{venue} {symbol}: exchange filters not refreshed ({why}); the last ones stay in force"
                );
                self.alert(AlertLevel::Warn, "venue", text, out);
            }
            (Err(why), _) => {
                let text = format!(
                    "{venue} {symbol}: exchange filters not loaded ({why}): new orders refused until they are"
                );
                self.alert_kind(AlertLevel::Warn, "venue", "venue-rules-unknown", text, out);
                self.venue_rules[id.index()] = VenueRulesState::Awaited {
                    venue,
                    why: Some(why),
                };
            }
        }
    }

    /// The run's headline figures.
    pub fn summary(&self) -> Summary {
        Summary {
            events: self.events,
            orders: self.orders_sent,
            fills: self.fills,
            realized_pnl: self.realized,
            fees: self.fees,
            positions: self
                .instruments
                .iter()
                .zip(&self.positions)
                .map(|(i, p)| (i.symbol.clone(), p.qty.normalize()))
                .collect(),
            trading_state: self.state,
            halt_reason: self.halt_reason.clone(),
            fill_log_sha256: hex::encode(self.fill_hash.clone().finalize()),
        }
    }

    // ----- the core ----------------------------------------------------------------

    /// Process one input at engine time `now`, appending effects to `out`.
    pub fn process(&mut self, now: Timestamp, input: Input, out: &mut Vec<Effect>) {
        self.process_with(now, input, out, &mut |_| {})
    }

    /// [`Engine::process`], with a kill switch's cancels also handed to `send_cancel` the
    /// moment each is decided, before the halt's bookkeeping (targets, progress, alerts,
    /// the blotter) and the rest of its effects: the runner sends them to the venue at once
    /// instead of after the whole halt. Each one is still in `out` as an
    /// [`Effect::Cancel`], in the same order, for the store and observers (the runner does
    /// not send those twice).
    pub fn process_with(
        &mut self,
        now: Timestamp,
        input: Input,
        out: &mut Vec<Effect>,
        send_cancel: &mut dyn FnMut(&ClientOrderId),
    ) {
        if now > self.now {
            self.now = now;
        }
        self.events += 1;
        let from = out.len();
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
        }
        self.roll_day(out);
        if !self.sessions.is_empty() {
            self.session_tick(out);
        }
        let state_before = self.state;
        // Only a command switches a strategy on or off, so only a command's strategy
        // changes are looked for (the mask took ~55 instructions an event; debug builds
        // check that nothing else switches one).
        let commanded = matches!(input, Input::Command(_));
        let strategies_before = (commanded || cfg!(debug_assertions)).then(|| self.strategy_mask());
        match input {
            Input::Market(ev) => self.on_market(ev, out),
            Input::Exec(report) => self.on_exec(report, out),
            Input::Command(cmd) => {
                let audit = persist::audited(&cmd);
                let from = out.len();
                self.on_command(cmd, out, send_cancel);
                if let Some(command) = audit {
                    self.audit(command, from, out);
                }
            }
            Input::VenueRules { instrument, rules } => self.on_venue_rules(instrument, rules, out),
            Input::Timer => self.on_timer(out),
        }
        if commanded {
            self.note_changes(state_before, strategies_before, out);
        } else {
            debug_assert_eq!(
                strategies_before,
                Some(self.strategy_mask()),
                "only a command switches a strategy on or off"
            );
            self.note_changes(state_before, None, out);
        }
        self.note_blotter(from, out);
    }

    /// At the day boundary (`engine.day_boundary`) the day's counters start again: the
    /// equity the daily loss counts from, the strategies' losing streaks and cooldowns, the round
    /// trips. A halt for the previous day's loss stays until a person re-arms.
    fn roll_day(&mut self, out: &mut Vec<Effect>) {
        if self.now < self.next_day_at {
            // Still the same day: `day_of(now) <= day` whenever `now` is before the next
            // day's start.
            return;
        }
        let day = self.cfg.day_boundary.day_of(self.now);
        if day <= self.day {
            return;
        }
        self.day = day;
        self.next_day_at = self.cfg.day_boundary.start_of_day(day.saturating_add(1));
        self.day_start_equity = self.equity();
        self.day_trades = 0;
        self.risk.new_day();
        let mut text = format!(
            "new trading day from {}: daily loss, losing streak, cooldown and trade count reset",
            self.cfg.day_boundary.start_of_day(day)
        );
        if self.state == TradingState::Halted && self.loss_halt_day.is_some() {
            text.push_str("; the daily loss halt may now be re-armed");
        }
        self.alert(AlertLevel::Info, "risk", text, out);
    }

    /// Round trips closed in the current trading day.
    pub fn day_trades(&self) -> u64 {
        self.day_trades
    }

    fn on_timer(&mut self, out: &mut Vec<Effect>) {
        let step = Duration::from_millis(self.cfg.timer_ms);
        while self.next_timer <= self.now {
            self.next_timer = self.next_timer + step;
        }
        let stale = Duration::from_millis(self.risk.limits().stale_data_ms);
        if !stale.is_zero() {
            for i in 0..self.instruments.len() {
                let is_stale = self.last_book_update[i].is_none_or(|t| self.now.since(t) > stale);
                if is_stale && !self.stale_flagged[i] && self.last_book_update[i].is_some() {
                    self.stale_flagged[i] = true;
                    let text = format!(
                        "{}: no book update for {} ms: no new orders",
                        self.instruments[i].symbol,
                        stale.as_millis()
                    );
                    self.alert(AlertLevel::Warn, "feed", text, out);
                }
            }
        }
        self.check_loss_limits(out);
        if self.state == TradingState::Halted {
            self.retry_halt_work(out);
        }
        if !self.pending_restore.is_empty() {
            self.place_restored(out);
        }
        if !self.sessions.is_empty() {
            self.session_timer(out);
        }
        self.aged_timer(out);
        self.run_strategies(out, |s, ctx, buf| s.on_timer(ctx, buf));
        self.check_stops(None, None, out);
        self.run_algos(out);
    }
}

#[cfg(test)]
mod day_tests {
    use super::testkit::{book, engine, ts};
    use super::{Effect, Input};

    fn new_days(out: &[Effect]) -> usize {
        out.iter()
            .filter(|e| matches!(e, Effect::Alert(a) if a.text.starts_with("new trading day")))
            .count()
    }

    /// The day rolls at the boundary itself, not a nanosecond before, and again at the
    /// next one (the next boundary is kept, not worked out per event: it must move on
    /// with the day).
    #[test]
    fn the_trading_day_rolls_exactly_at_each_boundary() {
        let mut e = engine(ts("2026-03-09T13:30:00Z"), Vec::new());
        let mut out = Vec::new();
        let midnight = ts("2026-03-10T00:00:00Z");
        let one_ns = std::time::Duration::from_nanos(1);
        e.process(
            midnight - one_ns,
            book(midnight - one_ns, 1000, 1001),
            &mut out,
        );
        assert_eq!(new_days(&out), 0, "still the 9th");
        out.clear();
        e.process(midnight, Input::Timer, &mut out);
        assert_eq!(new_days(&out), 1, "the 10th begins at midnight");
        out.clear();
        e.process(ts("2026-03-10T23:59:59Z"), Input::Timer, &mut out);
        assert_eq!(new_days(&out), 0, "the same day");
        let next = ts("2026-03-11T00:00:00Z");
        e.process(next - one_ns, Input::Timer, &mut out);
        assert_eq!(new_days(&out), 0, "a nanosecond before the 11th");
        e.process(next, book(next, 1000, 1001), &mut out);
        assert_eq!(new_days(&out), 1, "the 11th begins at midnight");
        assert_eq!(e.day, e.cfg.day_boundary.day_of(next));
    }
}
