//! The aged-position manager (`[aged_positions]`): a position left open too long is
//! closed, first without a loss, then accepting a loss that grows with its age, then at
//! any price.
//!
//! A position's age runs from the opening of its round trip (the trip the store keeps with
//! the position, so a restart does not make an old position young). Phases:
//!
//! | phase | when | order (reduce-only, owner `system`, tag `aged-position`) |
//! |---|---|---|
//! | GRACE | age >= `grace_hours` | a limit at the average entry price (breakeven), rounded to the tick in our favour |
//! | PROGRESSIVE | age >= `progressive_hours` | a limit that gives up `max_loss_pct` of the entry price × (age - progressive) / (emergency - progressive), moved at most every `reprice_secs` |
//! | EMERGENCY | age >= `emergency_hours` | a market IOC, at once |
//! | PROFIT | aged and the touch is better than the entry (a long's bid above its average) | a market IOC, at once |
//!
//! Never twice: one order of the manager works per instrument at a time; it is replaced
//! only after the venue confirmed its end (cancel, fill, rejection), and sized to what the
//! position still holds less the reduce-only exits others have working on it. A refusal or
//! a rejection is retried after `retry_secs`, doubling up to `retry_max_secs`. Nothing is
//! sent while HALTED (its working order is cancelled with the rest; like the strategies'
//! exits it waits for a re-arm: a person's flatten closes a position while halted).
//!
//! Every phase change (a position entering GRACE, moving on, closing) is an alert (source
//! `aged`) and an audit record (`aged-position`), and the state per position goes to the
//! store ([`Effect::AgedPosition`]), read back by [`Engine::restore`]: after a restart
//! the manager goes on in the phase it was in, with its retry count, without announcing
//! the phase again.
//!
//! Deterministic: the engine's time only, decimal prices, no hash-ordered state.

use super::{AlertLevel, AuditEntry, Effect, Engine};
use crate::domain::{
    ClientOrderId, InstrumentId, Invalid, Order, OrderKind, OrderRequest, OrderSpec, OrderStatus,
    OrderTag, Owner, Price, Side, TimeInForce, Timestamp, TradingState,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_HOUR: i64 = 3_600 * NANOS_PER_SEC;

/// `[aged_positions]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgedParams {
    /// Manage aged positions at all.
    pub enabled: bool,
    /// A position older than this (hours) enters GRACE: a limit at its breakeven.
    pub grace_hours: Decimal,
    /// From this age (hours) PROGRESSIVE: the accepted loss grows linearly.
    pub progressive_hours: Decimal,
    /// From this age (hours) EMERGENCY: closed at market. The accepted loss reaches
    /// `max_loss_pct` here.
    pub emergency_hours: Decimal,
    /// The loss accepted at `emergency_hours`, percent of the average entry price.
    pub max_loss_pct: Decimal,
    /// PROGRESSIVE moves its limit at most this often, seconds.
    pub reprice_secs: u64,
    /// First wait after a refused or rejected order, seconds; doubles on each failure in
    /// a row.
    pub retry_secs: u64,
    /// Longest wait between retries, seconds.
    pub retry_max_secs: u64,
}

impl Default for AgedParams {
    /// Conservative: off (switched on, it closes at once the positions already past
    /// their limits, ages counted from the round trips the store kept); a day of grace, a
    /// loss of at most 2 % accepted from 36 h, at market after three days.
    fn default() -> Self {
        AgedParams {
            enabled: false,
            grace_hours: Decimal::from(24),
            progressive_hours: Decimal::from(36),
            emergency_hours: Decimal::from(72),
            max_loss_pct: Decimal::from(2),
            reprice_secs: 60,
            retry_secs: 5,
            retry_max_secs: 300,
        }
    }
}

fn hours_ns(h: Decimal) -> Option<i64> {
    h.checked_mul(Decimal::from(NANOS_PER_HOUR))?
        .trunc()
        .to_i64()
}

impl AgedParams {
    /// Refuse values that make no sense (keys relative to the section).
    pub fn validate(&self) -> Result<(), Invalid> {
        for (key, v) in [
            ("grace_hours", self.grace_hours),
            ("progressive_hours", self.progressive_hours),
            ("emergency_hours", self.emergency_hours),
        ] {
            if v <= Decimal::ZERO || hours_ns(v).is_none() || v > Decimal::from(100_000) {
                return Err(Invalid::new(
                    key,
                    format!("must be a positive number of hours (at most 100000), got {v}"),
                ));
            }
        }
        if self.progressive_hours < self.grace_hours {
            return Err(Invalid::new(
                "progressive_hours",
                format!(
                    "{} is before grace_hours {}: GRACE must come first",
                    self.progressive_hours, self.grace_hours
                ),
            ));
        }
        if self.emergency_hours <= self.progressive_hours {
            return Err(Invalid::new(
                "emergency_hours",
                format!(
                    "{} must be later than progressive_hours {}",
                    self.emergency_hours, self.progressive_hours
                ),
            ));
        }
        if self.max_loss_pct <= Decimal::ZERO || self.max_loss_pct > Decimal::ONE_HUNDRED {
            return Err(Invalid::new(
                "max_loss_pct",
                format!("must be in (0, 100] percent, got {}", self.max_loss_pct),
            ));
        }
        if self.retry_secs == 0 {
            return Err(Invalid::new("retry_secs", "must be at least 1"));
        }
        if self.retry_max_secs < self.retry_secs {
            return Err(Invalid::new(
                "retry_max_secs",
                format!("must be at least retry_secs ({})", self.retry_secs),
            ));
        }
        if self.reprice_secs == 0 {
            return Err(Invalid::new("reprice_secs", "must be at least 1"));
        }
        Ok(())
    }
}

/// Where an aged position stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgedPhase {
    Grace,
    Progressive,
    Emergency,
    /// Aged and in profit: closed at market.
    Profit,
}

impl AgedPhase {
    pub fn word(self) -> &'static str {
        match self {
            AgedPhase::Grace => "GRACE",
            AgedPhase::Progressive => "PROGRESSIVE",
            AgedPhase::Emergency => "EMERGENCY",
            AgedPhase::Profit => "PROFIT",
        }
    }
    fn at_market(self) -> bool {
        matches!(self, AgedPhase::Emergency | AgedPhase::Profit)
    }
}

/// The manager's state for one aged position: what the store keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgedState {
    pub symbol: String,
    /// When the position's round trip opened: its identity (a new position is a new
    /// state) and the start of its age.
    pub opened: Timestamp,
    pub phase: AgedPhase,
    /// When it entered the phase.
    pub since: Timestamp,
    /// Closing orders sent for it.
    pub attempts: u32,
    /// Refusals and rejections in a row (the backoff's exponent).
    pub failures: u32,
    /// No order before this (the backoff).
    pub next_try: Timestamp,
    /// The manager's order working now (this run's id).
    #[serde(default)]
    pub order: Option<ClientOrderId>,
    /// Its limit price (`None`: market).
    #[serde(default)]
    pub price: Option<Decimal>,
    /// When its limit was last placed or moved.
    #[serde(default)]
    pub placed: Timestamp,
    /// The manager itself is cancelling `order` to replace it (not a failure).
    #[serde(default)]
    pub replacing: bool,
}

/// The manager inside the engine.
#[derive(Clone, Debug)]
pub(super) struct Aged {
    params: AgedParams,
    grace: i64,
    progressive: i64,
    emergency: i64,
    /// Per instrument.
    states: Vec<Option<AgedState>>,
    next_check: Timestamp,
    /// The hold while HALTED was announced.
    held_said: bool,
    /// Orders the manager held while HALTED.
    held: u64,
}

impl Aged {
    pub(super) fn new(params: AgedParams, instruments: usize) -> Self {
        Aged {
            grace: hours_ns(params.grace_hours).unwrap_or(i64::MAX),
            progressive: hours_ns(params.progressive_hours).unwrap_or(i64::MAX),
            emergency: hours_ns(params.emergency_hours).unwrap_or(i64::MAX),
            params,
            states: vec![None; instruments],
            next_check: Timestamp(i64::MIN),
            held_said: false,
            held: 0,
        }
    }
}

/// The manager as the strategies pane shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgedView {
    /// `ON`, `HELD` (HALTED) or `OFF`.
    pub state: String,
    pub grace_hours: Decimal,
    /// Closing orders held while HALTED.
    pub held: u64,
    pub positions: Vec<AgedPositionView>,
}

/// One aged position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgedPositionView {
    pub symbol: String,
    pub phase: String,
    /// Age, hours (one decimal).
    pub age_hours: Decimal,
    /// `limit SELL 0.500 @ 60000.0`, `market BUY 0.2`, `retry in 20s`, `waiting`.
    pub action: String,
    pub attempts: u32,
}

impl Engine {
    /// Manage aged positions with `params` (validated). Call before [`Engine::restore`].
    pub fn set_aged(&mut self, params: AgedParams) {
        self.aged = Aged::new(params, self.instruments.len());
    }

    /// The working order of the manager on `i`, if any.
    fn aged_order(&self, i: usize) -> Option<&Order> {
        let id = self.aged.states[i].as_ref()?.order.as_ref()?;
        self.open_orders.get(id)
    }

    /// Another exit on instrument `inst` was approved: the manager's working order there
    /// is cancelled (not a failure); it sizes its next one to what the other leaves.
    pub(super) fn aged_yield(&mut self, inst: InstrumentId, out: &mut Vec<Effect>) {
        let i = inst.index();
        // Only a resting close gives way (see `orders::yields_to`): an IOC in flight is
        // counted against the new exit instead.
        let Some(id) = self
            .aged_order(i)
            .filter(|o| {
                !o.cancel_pending
                    && o.req.spec.kind == crate::domain::OrderKind::Limit
                    && matches!(
                        o.req.spec.tif,
                        crate::domain::TimeInForce::Gtc | crate::domain::TimeInForce::PostOnly
                    )
            })
            .map(|o| o.id().clone())
        else {
            return;
        };
        if let Some(s) = self.aged.states[i].as_mut() {
            s.replacing = true;
        }
        self.request_cancel(&id, out);
    }

    /// Called when one of the manager's orders closed: a rejection, or an IOC or a
    /// limit that ended without closing the position and that the manager did not cancel
    /// itself, is a failure (the next try waits, doubling); a fill resets the count.
    pub(super) fn aged_order_closed(&mut self, order: &Order) {
        let i = order.req.spec.instrument.index();
        let now = self.now;
        let (base, max) = (self.aged.params.retry_secs, self.aged.params.retry_max_secs);
        let Some(st) = self.aged.states.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if st.order.as_ref() != Some(order.id()) {
            return;
        }
        st.order = None;
        let replacing = std::mem::take(&mut st.replacing);
        let filled = order.filled.0 > 0;
        if filled {
            st.failures = 0;
        }
        if replacing && order.status != OrderStatus::Rejected {
            return;
        }
        if order.status == OrderStatus::Filled {
            return;
        }
        if !filled {
            st.failures = st.failures.saturating_add(1);
        }
        st.next_try = now + backoff(base, max, st.failures.max(1));
    }

    /// Once a second of engine time: each instrument's position against its age.
    pub(super) fn aged_timer(&mut self, out: &mut Vec<Effect>) {
        if self.now < self.aged.next_check {
            return;
        }
        self.aged.next_check = self.now + std::time::Duration::from_secs(1);
        if self.state != TradingState::Halted {
            self.aged.held_said = false;
        }
        for i in 0..self.instruments.len() {
            let before = self.aged.states[i].clone();
            self.aged_one(i, out);
            if self.aged.states[i] != before {
                out.push(Effect::AgedPosition {
                    symbol: self.instruments[i].symbol.clone(),
                    state: self.aged.states[i].clone().map(Box::new),
                });
            }
        }
    }

    fn aged_one(&mut self, i: usize, out: &mut Vec<Effect>) {
        let pos = self.positions[i].clone();
        let opened = self.trips[i].opened;
        let age = self.now.0.saturating_sub(opened.0);
        // Dust (below the venue's minimum, see `dust.rs`) is not a position to work.
        let holds = self.holds(i);
        let aged = self.aged.params.enabled && holds && age >= self.aged.grace;
        // The position it was following is gone (flat, or a new trip): say so, cancel
        // what is left of its order.
        if let Some(st) = &self.aged.states[i]
            && (!aged || st.opened != opened)
        {
            let st = st.clone();
            if let Some(o) = self.aged_order(i).map(|o| o.id().clone()) {
                self.request_cancel(&o, out);
            }
            let why = if pos.is_flat() {
                "position closed"
            } else if !holds {
                "only dust left, below the venue's minimum"
            } else if st.opened != opened {
                "a new position"
            } else if !self.aged.params.enabled {
                "manager switched off"
            } else {
                "younger than grace_hours"
            };
            self.aged_transition(i, Some(st.phase), None, why.to_string(), out);
            self.aged.states[i] = None;
        }
        if !aged {
            return;
        }
        let inst = &self.instruments[i];
        let long = pos.qty.is_sign_positive();
        let touch = if long {
            self.books[i].best_bid()
        } else {
            self.books[i].best_ask()
        };
        let profitable = touch.is_some_and(|l| {
            let p = inst.price(l.price);
            if long {
                p > pos.avg_price
            } else {
                p < pos.avg_price
            }
        });
        let prev = self.aged.states[i].as_ref().map(|s| s.phase);
        let phase = if prev == Some(AgedPhase::Emergency) || age >= self.aged.emergency {
            AgedPhase::Emergency
        } else if profitable {
            AgedPhase::Profit
        } else if age >= self.aged.progressive {
            AgedPhase::Progressive
        } else {
            AgedPhase::Grace
        };
        if prev != Some(phase) {
            let hours = Decimal::from(age / (NANOS_PER_HOUR / 10)) / Decimal::TEN;
            let why = format!(
                "{} {} @ {} opened {hours}h ago",
                if long { "long" } else { "short" },
                pos.qty.abs().normalize(),
                pos.avg_price.round_dp(inst.price_precision + 1).normalize()
            );
            self.aged_transition(i, prev, Some(phase), why, out);
            let st = self.aged.states[i].get_or_insert_with(|| AgedState {
                symbol: self.instruments[i].symbol.clone(),
                opened,
                phase,
                since: self.now,
                attempts: 0,
                failures: 0,
                next_try: self.now,
                order: None,
                price: None,
                placed: Timestamp::ZERO,
                replacing: false,
            });
            st.phase = phase;
            st.since = self.now;
            st.failures = 0;
            st.next_try = self.now;
        }
        self.aged_act(i, age, out);
    }

    /// Send, keep or replace the manager's one order on instrument `i`.
    fn aged_act(&mut self, i: usize, age: i64, out: &mut Vec<Effect>) {
        let Some(st) = self.aged.states[i].clone() else {
            return;
        };
        let id = InstrumentId(i as u16);
        let inst = &self.instruments[i];
        let pos = self.positions[i].qty;
        let side = if pos.is_sign_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let want_price: Option<Price> = if st.phase.at_market() {
            None
        } else {
            let f = if st.phase == AgedPhase::Progressive {
                let span = (self.aged.emergency - self.aged.progressive).max(1);
                let into = (age - self.aged.progressive).clamp(0, span);
                self.aged.params.max_loss_pct / Decimal::ONE_HUNDRED * Decimal::from(into)
                    / Decimal::from(span)
            } else {
                Decimal::ZERO
            };
            let avg = self.positions[i].avg_price;
            // Never worse than the accepted loss: a sell rounds up, a buy down.
            Some(match side {
                Side::Sell => inst.price_round(avg * (Decimal::ONE - f), false),
                Side::Buy => inst.price_round(avg * (Decimal::ONE + f), true),
            })
        };
        // Reduce-only exits others have working on the position (a strategy's stop, a
        // person's order, a flatten): the manager closes only the rest.
        let others: i64 = self
            .open_orders
            .values()
            .filter(|o| {
                o.req.spec.instrument == id
                    && o.req.spec.reduce_only
                    && o.req.spec.side == side
                    && !o.cancel_pending
                    && Some(o.id()) != st.order.as_ref()
            })
            .map(|o| o.remaining().0)
            .sum();
        let qty = self.closable_lots(i).0 - others;
        if let Some(o) = self.aged_order(i) {
            if o.cancel_pending {
                return;
            }
            let wrong_kind = st.phase.at_market() != (o.req.spec.kind == OrderKind::Market);
            let too_big = o.remaining().0 > qty.max(0);
            // The limit moved (PROGRESSIVE, or a new average), or the position grew past
            // it: replaced, at most every `reprice_secs`.
            let stale = match (want_price, o.req.spec.price) {
                (Some(w), Some(p)) => w != p || o.remaining().0 < qty,
                _ => false,
            };
            let reprice =
                stale && self.now.since(st.placed).as_secs() >= self.aged.params.reprice_secs;
            if wrong_kind || too_big || reprice {
                let oid = o.id().clone();
                if let Some(s) = self.aged.states[i].as_mut() {
                    s.replacing = true;
                }
                self.request_cancel(&oid, out);
            }
            return;
        }
        if st.order.is_some() {
            // Its end has not been reported yet (it is no longer open): wait for it.
            if let Some(s) = self.aged.states[i].as_mut() {
                s.order = None;
            }
        }
        if qty <= 0 || self.now < st.next_try || self.shutting_down {
            return;
        }
        if self.state == TradingState::Halted {
            self.aged.held += 1;
            if !self.aged.held_said {
                self.aged.held_said = true;
                let text = format!(
                    "HALTED: aged-position close of {} held (re-arm, or flatten by hand)",
                    inst.symbol
                );
                self.alert(AlertLevel::Warn, "aged", text, out);
            }
            return;
        }
        let (kind, tif) = match want_price {
            Some(_) => (OrderKind::Limit, TimeInForce::Gtc),
            None => (OrderKind::Market, TimeInForce::Ioc),
        };
        let req = OrderRequest {
            client_id: self.next_id(Owner::System),
            spec: OrderSpec {
                instrument: id,
                side,
                kind,
                price: want_price,
                qty: crate::domain::Qty(qty),
                tif,
                reduce_only: true,
            },
            owner: Owner::System,
            tag: OrderTag::AgedPosition,
        };
        let placed = self.place(req, out);
        let (base, max) = (self.aged.params.retry_secs, self.aged.params.retry_max_secs);
        let now = self.now;
        if let Some(s) = self.aged.states[i].as_mut() {
            s.attempts = s.attempts.saturating_add(1);
            match placed {
                Some(oid) => {
                    s.order = Some(oid);
                    s.price = want_price.map(|p| self.instruments[i].price(p));
                    s.placed = now;
                }
                None => {
                    s.failures = s.failures.saturating_add(1);
                    s.next_try = now + backoff(base, max, s.failures);
                }
            }
        }
    }

    /// A phase change: an alert and an audit record.
    fn aged_transition(
        &mut self,
        i: usize,
        from: Option<AgedPhase>,
        to: Option<AgedPhase>,
        why: String,
        out: &mut Vec<Effect>,
    ) {
        let symbol = self.instruments[i].symbol.clone();
        let word = |p: Option<AgedPhase>| p.map_or("-", AgedPhase::word);
        let what = match to {
            Some(AgedPhase::Grace) => {
                "closing at breakeven or better (a reduce-only limit at the entry price)"
                    .to_string()
            }
            Some(AgedPhase::Progressive) => format!(
                "accepting a loss growing to {}% of the entry price at {}h",
                self.aged.params.max_loss_pct.normalize(),
                self.aged.params.emergency_hours.normalize()
            ),
            Some(AgedPhase::Emergency) => "closing at market now".to_string(),
            Some(AgedPhase::Profit) => "in profit: closing at market now".to_string(),
            None => "no longer managed".to_string(),
        };
        let text = format!(
            "AGED {symbol}: {} -> {} ({why}): {what}",
            word(from),
            word(to)
        );
        let level = if to == Some(AgedPhase::Emergency) {
            AlertLevel::Warn
        } else {
            AlertLevel::Info
        };
        self.alert_kind(level, "aged", &format!("aged:{symbol}"), text.clone(), out);
        out.push(Effect::Audit(AuditEntry {
            ts: self.now,
            command: "aged-position".into(),
            detail: format!("{symbol} {} -> {}", word(from), word(to)),
            outcome: text,
        }));
    }

    /// Take back the states the store kept (from [`Engine::restore`]): a state whose
    /// position is still the one it followed (same opening) goes on in its phase, without
    /// its order (a restart cancels the orders left open); the others are dropped from
    /// the store.
    pub(super) fn restore_aged(&mut self, states: &[AgedState], out: &mut Vec<Effect>) {
        let mut kept = Vec::new();
        for st in states {
            let i = self.instruments.iter().position(|x| x.symbol == st.symbol);
            match i {
                Some(i) if !self.positions[i].is_flat() && self.trips[i].opened == st.opened => {
                    let mut st = st.clone();
                    st.order = None;
                    st.replacing = false;
                    kept.push(format!("{} {}", st.symbol, st.phase.word()));
                    self.aged.states[i] = Some(st);
                }
                _ => out.push(Effect::AgedPosition {
                    symbol: st.symbol.clone(),
                    state: None,
                }),
            }
        }
        if !kept.is_empty() {
            let text = format!(
                "aged positions restored: {} (the manager goes on where it was)",
                kept.join(", ")
            );
            self.alert(AlertLevel::Info, "aged", text, out);
        }
    }

    /// The manager for the strategies pane (`None` when switched off and idle).
    pub(super) fn aged_view(&self) -> Option<AgedView> {
        let p = &self.aged.params;
        let positions: Vec<AgedPositionView> = self
            .aged
            .states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let inst = &self.instruments[i];
                let age = self.now.0.saturating_sub(s.opened.0);
                let action = match self.aged_order(i) {
                    Some(o) => format!(
                        "{} {} {}{}",
                        if o.req.spec.kind == OrderKind::Market {
                            "market"
                        } else {
                            "limit"
                        },
                        o.req.spec.side,
                        inst.fmt_qty(o.remaining()),
                        o.req
                            .spec
                            .price
                            .map(|p| format!(" @ {}", inst.fmt_price(p)))
                            .unwrap_or_default()
                    ),
                    None if self.now < s.next_try => {
                        format!(
                            "retry in {}s",
                            self.now.0.abs_diff(s.next_try.0).div_ceil(1_000_000_000)
                        )
                    }
                    None => "waiting".to_string(),
                };
                Some(AgedPositionView {
                    symbol: s.symbol.clone(),
                    phase: s.phase.word().to_string(),
                    age_hours: Decimal::from(age / (NANOS_PER_HOUR / 10)) / Decimal::TEN,
                    action,
                    attempts: s.attempts,
                })
            })
            .collect();
        if !p.enabled && positions.is_empty() {
            return None;
        }
        Some(AgedView {
            state: if !p.enabled {
                "OFF"
            } else if self.state == TradingState::Halted {
                "HELD"
            } else {
                "ON"
            }
            .to_string(),
            grace_hours: p.grace_hours,
            held: self.aged.held,
            positions,
        })
    }
}

fn backoff(base: u64, max: u64, failures: u32) -> std::time::Duration {
    let exp = failures.saturating_sub(1).min(20);
    let secs = base.saturating_mul(1u64 << exp).min(max);
    std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ExecReport, Position};
    use crate::engine::testkit::*;
    use crate::engine::{Input, Recovered, Trip};
    use rust_decimal_macros::dec;
    use std::time::Duration;

    const H: u64 = 3_600;

    /// The defaults, switched on.
    fn params() -> AgedParams {
        AgedParams {
            enabled: true,
            ..AgedParams::default()
        }
    }

    /// An engine that bought 1 BTC at 60001.0 at `t0` (bid 59999.0 / ask 60001.0), with
    /// the manager on.
    fn long_one(t0: Timestamp) -> Engine {
        let mut e = engine(t0, Vec::new());
        e.set_aged(params());
        step(&mut e, t0, book(t0, 599_990, 600_010));
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 1_000, false),
        );
        let buy = submits(&out).pop().expect("buy");
        step(&mut e, t0, fill(t0, 1, &buy, 600_010));
        assert_eq!(e.position(InstrumentId(0)).qty, dec!(1));
        e
    }

    fn at(t0: Timestamp, secs: u64) -> Timestamp {
        t0 + Duration::from_secs(secs)
    }

    fn tick(e: &mut Engine, t: Timestamp) -> Vec<Effect> {
        step(e, t, Input::Timer)
    }

    fn accept(e: &mut Engine, t: Timestamp, id: &ClientOrderId) {
        step(
            e,
            t,
            Input::Exec(ExecReport::Accepted {
                id: id.clone(),
                ts: t,
                queue_ahead: None,
            }),
        );
    }

    fn cancelled(e: &mut Engine, t: Timestamp, id: &ClientOrderId) {
        step(
            e,
            t,
            Input::Exec(ExecReport::Cancelled {
                id: id.clone(),
                ts: t,
            }),
        );
    }

    fn aged_states(out: &[Effect]) -> Vec<Option<AgedState>> {
        out.iter()
            .filter_map(|f| match f {
                Effect::AgedPosition { state, .. } => Some(state.clone().map(|b| *b)),
                _ => None,
            })
            .collect()
    }

    fn audits(out: &[Effect]) -> Vec<String> {
        out.iter()
            .filter_map(|f| match f {
                Effect::Audit(a) if a.command == "aged-position" => Some(a.detail.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn grace_then_a_growing_accepted_loss_then_market_never_two_orders_at_once() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        // Younger than grace_hours: nothing.
        let out = tick(&mut e, at(t0, 24 * H - 1));
        assert!(submits(&out).is_empty() && aged_states(&out).is_empty());
        // 24 h: GRACE, a reduce-only limit sell of the whole position at the entry price.
        let t = at(t0, 24 * H);
        let out = tick(&mut e, t);
        let text = alert_texts(&out);
        assert!(
            text.contains("AGED BTC-USD: - -> GRACE (long 1 @ 60001 opened 24h ago)"),
            "{text}"
        );
        assert_eq!(audits(&out), vec!["BTC-USD - -> GRACE".to_string()]);
        let s = submits(&out);
        assert_eq!(s.len(), 1, "{out:?}");
        let grace = s[0].clone();
        assert_eq!(
            (
                grace.spec.side,
                grace.spec.kind,
                grace.spec.price,
                grace.spec.qty.0
            ),
            (Side::Sell, OrderKind::Limit, Some(Price(600_010)), 1_000)
        );
        assert!(grace.spec.reduce_only && grace.tag == OrderTag::AgedPosition);
        assert_eq!(grace.owner, Owner::System);
        let st = aged_states(&out).pop().flatten().expect("persisted");
        assert_eq!((st.phase, st.attempts), (AgedPhase::Grace, 1));
        accept(&mut e, t, &grace.client_id);
        // Never twice: the next seconds send nothing while it works.
        for k in 1..5 {
            assert!(submits(&tick(&mut e, at(t0, 24 * H + k))).is_empty());
        }
        // 36 h: PROGRESSIVE; the accepted loss starts at 0, so the limit stays.
        let out = tick(&mut e, at(t0, 36 * H));
        assert!(alert_texts(&out).contains("GRACE -> PROGRESSIVE"));
        assert!(submits(&out).is_empty() && cancels(&out).is_empty());
        // 54 h: half way to emergency_hours, 1 % accepted: the limit is cancelled first,
        // the new one (60001 x 0.99 = 59400.99, rounded up to 59401.0) goes only once the
        // cancel is confirmed.
        let t = at(t0, 54 * H);
        let out = tick(&mut e, t);
        assert_eq!(cancels(&out), vec![grace.client_id.clone()]);
        assert!(submits(&out).is_empty());
        assert!(submits(&tick(&mut e, at(t0, 54 * H + 1))).is_empty());
        cancelled(&mut e, at(t0, 54 * H + 1), &grace.client_id);
        let out = tick(&mut e, at(t0, 54 * H + 2));
        let s = submits(&out);
        assert_eq!(s.len(), 1, "{out:?}");
        assert_eq!(s[0].spec.price, Some(Price(594_010)));
        let progressive = s[0].clone();
        accept(&mut e, at(t0, 54 * H + 2), &progressive.client_id);
        // 72 h: EMERGENCY: the limit goes, then a market IOC for the position.
        let out = tick(&mut e, at(t0, 72 * H));
        assert!(alert_texts(&out).contains("PROGRESSIVE -> EMERGENCY"));
        assert_eq!(cancels(&out), vec![progressive.client_id.clone()]);
        cancelled(&mut e, at(t0, 72 * H), &progressive.client_id);
        let out = tick(&mut e, at(t0, 72 * H + 1));
        let s = submits(&out);
        assert_eq!(
            (
                s.len(),
                s[0].spec.kind,
                s[0].spec.qty.0,
                s[0].spec.reduce_only
            ),
            (1, OrderKind::Market, 1_000, true)
        );
        // It fills: the position is closed and the manager lets it go (alert, audit,
        // the store's row removed).
        step(
            &mut e,
            at(t0, 72 * H + 1),
            fill(at(t0, 72 * H + 1), 2, &s[0], 599_990),
        );
        let out = tick(&mut e, at(t0, 72 * H + 2));
        assert!(alert_texts(&out).contains("EMERGENCY -> - (position closed)"));
        assert_eq!(aged_states(&out), vec![None]);
        assert_eq!(audits(&out), vec!["BTC-USD EMERGENCY -> -".to_string()]);
        assert!(e.view().aged.expect("on").positions.is_empty());
    }

    #[test]
    fn an_aged_position_in_profit_closes_at_market_at_once() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        // The bid is above the entry (60001.0) when it comes of age.
        let t = at(t0, 24 * H);
        step(&mut e, t, book(t, 600_050, 600_070));
        let out = tick(&mut e, t);
        assert!(
            alert_texts(&out).contains("- -> PROFIT"),
            "{}",
            alert_texts(&out)
        );
        let s = submits(&out);
        assert_eq!(
            (s.len(), s[0].spec.kind, s[0].spec.side, s[0].spec.qty.0),
            (1, OrderKind::Market, Side::Sell, 1_000)
        );
    }

    #[test]
    fn refusals_and_rejections_back_off_and_a_halt_holds_it() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        let t = at(t0, 72 * H);
        let out = tick(&mut e, t);
        let first = submits(&out).pop().expect("market at once");
        step(
            &mut e,
            t,
            Input::Exec(ExecReport::Rejected {
                id: first.client_id.clone(),
                ts: t,
                reason: "venue busy".into(),
            }),
        );
        // Retried after retry_secs (5), then after 10 on the next failure.
        assert!(submits(&tick(&mut e, at(t0, 72 * H + 4))).is_empty());
        let out = tick(&mut e, at(t0, 72 * H + 5));
        let second = submits(&out).pop().expect("retry after 5 s");
        let t = at(t0, 72 * H + 5);
        step(
            &mut e,
            t,
            Input::Exec(ExecReport::Rejected {
                id: second.client_id.clone(),
                ts: t,
                reason: "venue busy".into(),
            }),
        );
        assert!(submits(&tick(&mut e, at(t0, 72 * H + 14))).is_empty());
        let v = e.view().aged.unwrap();
        assert!(v.positions[0].action.starts_with("retry in"), "{v:?}");
        let out = tick(&mut e, at(t0, 72 * H + 15));
        let third = submits(&out).pop().expect("retry after 10 s");
        assert_eq!(e.aged.states[0].as_ref().unwrap().attempts, 3);
        // HALTED: the kill switch cancels the manager's order with the rest, and nothing
        // more is sent until a re-arm.
        let t = at(t0, 72 * H + 16);
        let out = step(
            &mut e,
            t,
            Input::Command(crate::engine::Command::KillSwitch),
        );
        assert!(cancels(&out).contains(&third.client_id));
        cancelled(&mut e, t, &third.client_id);
        let out = tick(&mut e, at(t0, 72 * H + 60));
        assert!(submits(&out).is_empty());
        assert!(alert_texts(&out).contains("aged-position close of BTC-USD held"));
        assert_eq!(e.view().aged.unwrap().state, "HELD");
        step(&mut e, t, Input::Command(crate::engine::Command::ReArm));
        let out = tick(&mut e, at(t0, 72 * H + 200));
        assert_eq!(submits(&out).len(), 1, "{}", alert_texts(&out));
    }

    #[test]
    fn another_exit_working_on_the_position_is_not_doubled() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        // A person's reduce-only sell of 0.4 rests above the market.
        let out = step(
            &mut e,
            t0,
            manual(Side::Sell, OrderKind::Limit, Some(601_000), 400, true),
        );
        assert_eq!(submits(&out).len(), 1);
        let out = tick(&mut e, at(t0, 24 * H));
        let s = submits(&out);
        assert_eq!(s[0].spec.qty.0, 600, "only what the other exit leaves");
    }

    #[test]
    fn a_position_that_grows_gets_its_limit_resized_at_the_new_breakeven() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        let t = at(t0, 24 * H);
        let grace = submits(&tick(&mut e, t)).pop().expect("grace limit");
        accept(&mut e, t, &grace.client_id);
        // Someone buys 1 more at 60011.0: 2 BTC at 60006.0.
        let out = step(
            &mut e,
            t,
            manual(Side::Buy, OrderKind::Limit, Some(600_110), 1_000, false),
        );
        let buy = submits(&out).pop().unwrap();
        step(&mut e, t, fill(t, 2, &buy, 600_110));
        assert_eq!(e.position(InstrumentId(0)).avg_price, dec!(60006.0));
        // Not before reprice_secs.
        assert!(cancels(&tick(&mut e, at(t0, 24 * H + 30))).is_empty());
        let out = tick(&mut e, at(t0, 24 * H + 60));
        assert_eq!(cancels(&out), vec![grace.client_id.clone()]);
        cancelled(&mut e, at(t0, 24 * H + 60), &grace.client_id);
        let s = submits(&tick(&mut e, at(t0, 24 * H + 61)));
        assert_eq!(
            (s[0].spec.qty.0, s[0].spec.price),
            (2_000, Some(Price(600_060)))
        );
    }

    /// An EMERGENCY market IOC in flight cannot be caught by a cancel: it keeps counting
    /// against the position, so a person's second full exit is refused, not approved to
    /// close the position twice.
    #[test]
    fn an_in_flight_emergency_ioc_counts_against_a_second_exit() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        let t = at(t0, 73 * H);
        let ioc = submits(&tick(&mut e, t))
            .pop()
            .expect("emergency market IOC");
        assert_eq!((ioc.spec.kind, ioc.spec.qty.0), (OrderKind::Market, 1_000));
        accept(&mut e, t, &ioc.client_id);
        let out = step(
            &mut e,
            t,
            manual(Side::Sell, OrderKind::Market, None, 1_000, true),
        );
        assert!(submits(&out).is_empty(), "the second exit is refused");
        assert!(
            cancels(&out).is_empty(),
            "the IOC is not cancelled (it cannot be caught)"
        );
        step(&mut e, t, fill(t, 2, &ioc, 599_990));
        assert_eq!(e.position(InstrumentId(0)).qty, dec!(0), "closed once");
    }

    #[test]
    fn another_exit_takes_precedence_over_the_managers_resting_close() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        let t = at(t0, 24 * H);
        let grace = submits(&tick(&mut e, t)).pop().expect("grace limit");
        accept(&mut e, t, &grace.client_id);
        // A stop (here: a person's reduce-only market sell of 0.7) is not refused because
        // the manager's limit holds the whole position: it goes, and the limit is
        // cancelled.
        let out = step(
            &mut e,
            t,
            manual(Side::Sell, OrderKind::Market, None, 700, true),
        );
        let stop = submits(&out).pop().expect("the other exit passes");
        assert_eq!(cancels(&out), vec![grace.client_id.clone()]);
        cancelled(&mut e, t, &grace.client_id);
        step(&mut e, t, fill(t, 2, &stop, 599_990));
        // The manager goes on with what is left, without counting a failure.
        let out = tick(&mut e, at(t0, 24 * H + 1));
        let s = submits(&out);
        assert_eq!((s.len(), s[0].spec.qty.0), (1, 300), "{out:?}");
        assert_eq!(e.aged.states[0].as_ref().unwrap().failures, 0);
    }

    #[test]
    fn its_state_survives_a_restart_without_announcing_the_phase_again() {
        let t0 = ts("2026-01-05T00:00:00Z");
        let mut e = long_one(t0);
        let t = at(t0, 25 * H);
        let out = tick(&mut e, t);
        let kept = aged_states(&out).pop().flatten().expect("stored");
        assert_eq!((kept.phase, kept.attempts), (AgedPhase::Grace, 1));
        // What the store holds for the position: its row with the round trip.
        let position = e.position(InstrumentId(0)).clone();
        let trip = e.trips[0].clone();
        assert_eq!(trip.opened, t0);

        // A new run on the store (its order was cancelled on restart).
        let t2 = at(t0, 26 * H);
        let mut again = engine(t2, Vec::new());
        again.set_aged(params());
        again.restore(Recovered {
            positions: vec![("BTC-USD".into(), position.clone())],
            trips: vec![("BTC-USD".into(), trip.clone())],
            aged: vec![kept.clone()],
            ..Recovered::default()
        });
        let mut out = step(&mut again, t2, book(t2, 599_990, 600_010));
        out.extend(tick(&mut again, t2));
        let text = alert_texts(&out);
        assert!(
            text.contains("aged positions restored: BTC-USD GRACE"),
            "{text}"
        );
        assert!(!text.contains("-> GRACE"), "announced again: {text}");
        assert!(audits(&out).is_empty());
        let s = submits(&out);
        assert_eq!(s.len(), 1, "its limit goes out again: {text}");
        assert_eq!(s[0].spec.price, Some(Price(600_010)));
        let st = again.aged.states[0].as_ref().unwrap();
        assert_eq!(
            (st.phase, st.since, st.attempts),
            (AgedPhase::Grace, kept.since, 2)
        );

        // A stored state whose position is gone (closed elsewhere) is dropped from the
        // store at the restart.
        let mut gone = engine(t2, Vec::new());
        gone.set_aged(params());
        gone.restore(Recovered {
            positions: vec![("BTC-USD".into(), Position::new(InstrumentId(0)))],
            trips: Vec::<(String, Trip)>::new(),
            aged: vec![kept],
            ..Recovered::default()
        });
        let out = tick(&mut gone, t2);
        assert_eq!(aged_states(&out), vec![None]);
        assert!(gone.aged.states[0].is_none());
    }

    #[test]
    fn parameters_are_checked_by_key() {
        let key = |p: AgedParams| p.validate().unwrap_err().key;
        assert!(params().validate().is_ok());
        assert_eq!(
            key(AgedParams {
                grace_hours: dec!(0),
                ..params()
            }),
            "grace_hours"
        );
        assert_eq!(
            key(AgedParams {
                progressive_hours: dec!(12),
                ..params()
            }),
            "progressive_hours"
        );
        assert_eq!(
            key(AgedParams {
                emergency_hours: dec!(36),
                ..params()
            }),
            "emergency_hours"
        );
        assert_eq!(
            key(AgedParams {
                max_loss_pct: dec!(150),
                ..params()
            }),
            "max_loss_pct"
        );
        assert_eq!(
            key(AgedParams {
                retry_max_secs: 1,
                ..params()
            }),
            "retry_max_secs"
        );
    }
}
