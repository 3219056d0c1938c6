//! Pre-trade risk: every order, from strategies and manual entry alike, passes here before
//! it can reach an execution port. Approval is a type: ports accept only
//! [`RiskApproved<OrderRequest>`], and only this module can make one.
//!
//! [`RiskEngine::check`] runs the checks below in this order; the first failure wins and
//! the order comes back in a [`Refused`] with the [`Refusal`]:
//!
//! 1. duplicate client order id;
//! 2. order sanity: qty > 0 and at least the instrument's `min_qty`, a limit order has a
//!    positive price, a market order has none (and is not post-only), the order is for the
//!    instrument in the context;
//!    then (2b) the venue's rules (exchange filters) when the venue has any: every order,
//!    exits included, must pass what the venue would check; while a live venue's rules are
//!    not known yet only reduce-only orders pass (see [`checks`]' `venue_rules`);
//! 3. reduce-only orders must really reduce (opposite side to a non-zero position, qty no
//!    larger than the position) and are then **approved without the remaining checks**:
//!    exits are never blocked by loss limits, cooldown, rate, staleness or size caps;
//! 4. loss cooldown (a strategy's own: see below); 5. daily loss; 6. drawdown; 7. stale market data; 8. no market to price
//!    the order; 9. max order qty; 10. max order notional; 11. price band; 12. max position;
//!    13. position flip; 14. max open orders; 15. rate limit.
//!
//! The loss cooldown belongs to the strategy that lost: each strategy keeps its own
//! losing streak (its round trips, counted on its own position), and its cooldown holds
//! only its own new orders. One strategy's streak never cools down another, and manual
//! orders are never held by a strategy's streak (a person at the console decides for
//! themselves; the loss limits, sizes and every other check still apply to them).
//!
//! Every limit is a [`RiskLimits`] field; a value of 0 (or `false`) turns its check off.
//!
//! The engine is deterministic: time comes only from the `now` in the [`RiskCtx`] or the
//! call, state lives in plain fields and a `VecDeque`, and money is `rust_decimal`. An
//! approved check allocates nothing.
//!
//! This file holds the engine, its limits and context; `checks.rs` the checks, one
//! function each; `refusal.rs` the reasons an order is refused.

mod checks;
mod refusal;

pub use checks::{lot_grid, max_order_qty, order_notional, order_size, price_band, tick_grid};
pub use refusal::{Refusal, Refused};

use crate::domain::Invalid;
use crate::domain::{
    Instrument, OrderBook, OrderRequest, Owner, StrategyId, Timestamp, VenueRulesState,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;

/// A value the risk engine approved. It cannot be built outside this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    pub fn into_inner(self) -> T {
        self.0
    }

    /// For the crate's own unit tests of execution ports only.
    #[cfg(test)]
    pub(crate) fn assume_approved_for_test(value: T) -> Self {
        RiskApproved(value)
    }
}

impl<T> Deref for RiskApproved<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

const NANOS_PER_SEC: i64 = 1_000_000_000;
const BPS: i64 = 10_000;

/// `[risk]` in config.toml: the pre-trade limits. A value of 0 (or `false`) disables that
/// check. Sizes are in the instrument's base units (e.g. BTC), money in its quote currency
/// (e.g. USD).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskLimits {
    /// Largest size of one order, base units. 0 disables.
    pub max_order_qty: Decimal,
    /// Largest notional of one order, quote currency: price x qty for a limit order, the
    /// cost of walking the book for a market order (a market order the visible book cannot
    /// fill in full is refused). 0 disables.
    pub max_order_notional: Decimal,
    /// Largest absolute position per instrument, base units, counting the open orders on
    /// the order's side as if they all filled (worst case). An order that brings that
    /// worst case closer to zero without crossing it is never refused by this check.
    /// 0 disables.
    pub max_position: Decimal,
    /// Most open orders on the whole account. 0 disables.
    pub max_open_orders: u32,
    /// Most approved orders in any rolling 1 s window (reduce-only exits count, but are
    /// never refused by it). 0 disables.
    pub max_orders_per_sec: u32,
    /// Farthest a limit price (or a market order's worst walked price) may be from the mid,
    /// in basis points of the mid (100 = 1 %; at most 10000). A market order the visible
    /// book cannot fill in full is refused too, and so is one in a book without a mid.
    /// 0 disables.
    pub price_band_bps: Decimal,
    /// Refuse an order that would take the position through zero to the other side.
    /// `false` disables.
    pub forbid_flip: bool,
    /// Daily loss limit, quote currency, a positive number: when the day's realized +
    /// unrealized PnL net of fees is at or below minus this, new orders are refused and the
    /// engine halts. 0 disables.
    pub daily_loss_limit: Decimal,
    /// Largest drawdown, quote currency: when the equity peak minus current equity is at or
    /// above this, new orders are refused and the engine halts. 0 disables.
    pub max_drawdown: Decimal,
    /// After this many losing round trips in a row of one strategy, that strategy's working
    /// non-reducing orders are cancelled and its new ones wait for `loss_cooldown_secs`;
    /// other strategies and manual orders go on. A round trip that does not lose resets the count. 0 disables.
    pub max_consecutive_losses: u32,
    /// Length of the cooldown after `max_consecutive_losses` losses, seconds. 0 disables.
    pub loss_cooldown_secs: u64,
    /// No new orders when the instrument's book has not changed for longer than this,
    /// milliseconds (or never has). 0 disables.
    pub stale_data_ms: u64,
}

impl Default for RiskLimits {
    /// Limits for the BTC-USD simulation (price around 60000, lot 0.001).
    fn default() -> Self {
        RiskLimits {
            max_order_qty: Decimal::ONE,
            max_order_notional: Decimal::from(100_000),
            max_position: Decimal::from(2),
            max_open_orders: 50,
            max_orders_per_sec: 50,
            price_band_bps: Decimal::from(100),
            forbid_flip: false,
            daily_loss_limit: Decimal::from(5_000),
            max_drawdown: Decimal::from(10_000),
            max_consecutive_losses: 5,
            loss_cooldown_secs: 60,
            stale_data_ms: 2_000,
        }
    }
}

impl RiskLimits {
    /// Every check off.
    pub fn off() -> Self {
        RiskLimits {
            max_order_qty: Decimal::ZERO,
            max_order_notional: Decimal::ZERO,
            max_position: Decimal::ZERO,
            max_open_orders: 0,
            max_orders_per_sec: 0,
            price_band_bps: Decimal::ZERO,
            forbid_flip: false,
            daily_loss_limit: Decimal::ZERO,
            max_drawdown: Decimal::ZERO,
            max_consecutive_losses: 0,
            loss_cooldown_secs: 0,
            stale_data_ms: 0,
        }
    }

    /// Refuse values that make no sense; the error's key is the field name.
    pub fn validate(&self) -> Result<(), Invalid> {
        let decimals = [
            ("max_order_qty", self.max_order_qty),
            ("max_order_notional", self.max_order_notional),
            ("max_position", self.max_position),
            ("price_band_bps", self.price_band_bps),
            ("daily_loss_limit", self.daily_loss_limit),
            ("max_drawdown", self.max_drawdown),
        ];
        for (key, value) in decimals {
            if value.is_sign_negative() && !value.is_zero() {
                return Err(Invalid::new(
                    key,
                    format!("must be 0 (off) or positive, got {value}"),
                ));
            }
        }
        if self.price_band_bps > Decimal::from(BPS) {
            return Err(Invalid::new(
                "price_band_bps",
                format!("must be at most 10000 (100 %), got {}", self.price_band_bps),
            ));
        }
        Ok(())
    }
}

/// What the risk engine needs to know about the account and the market for one check.
/// The engine fills it from its own state; nothing here is read from a clock.
pub struct RiskCtx<'a> {
    /// Engine time of the check.
    pub now: Timestamp,
    /// The instrument the order is for.
    pub instrument: &'a Instrument,
    /// That instrument's book.
    pub book: &'a OrderBook,
    /// When this instrument's book last changed (None: never).
    pub last_book_update: Option<Timestamp>,
    /// Account position in this instrument, signed, base units.
    pub position: Decimal,
    /// Remaining size of open non-reduce-only buy orders on this instrument, base units.
    pub open_buy_qty: Decimal,
    /// Remaining size of open non-reduce-only sell orders on this instrument, base units.
    pub open_sell_qty: Decimal,
    /// Open orders of the whole account.
    pub open_orders: usize,
    /// Open orders of the account on this instrument.
    pub open_on_instrument: usize,
    /// The venue's rules for this instrument ([`VenueRulesState::not_required`] on paper).
    pub venue_rules: &'a VenueRulesState,
    /// This client order id was already used in this run.
    pub duplicate_id: bool,
    /// Realized + unrealized PnL net of fees since the day's start, quote.
    pub day_pnl: Decimal,
    /// Equity peak minus current equity, quote, >= 0.
    pub drawdown: Decimal,
    /// Where the instrument's trading session stands (`None`: it has no session, it
    /// trades always; `engine/session.rs`).
    pub session: Option<&'a crate::engine::session::SessionNow>,
}

/// Counters since the engine was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskStats {
    /// Orders checked.
    pub checks: u64,
    /// Orders approved.
    pub approved: u64,
    /// Orders refused.
    pub refused: u64,
}

/// One strategy's losing streak and its cooldown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Streak {
    /// Losing round trips in a row since the last win, break-even or cooldown.
    losses: u32,
    /// The end of the latest cooldown, if one was ever started.
    cooldown_until: Option<Timestamp>,
    /// The streak length that started the latest cooldown.
    cooldown_losses: u32,
}

/// The pre-trade risk engine: the checks, the rolling rate window and each strategy's
/// loss streak. One per account; synchronous and deterministic.
#[derive(Clone, Debug)]
pub struct RiskEngine {
    limits: RiskLimits,
    /// Times of the latest approved orders, oldest first; at most `max_orders_per_sec`.
    recent: VecDeque<Timestamp>,
    /// Each strategy's losing streak and cooldown (ordered: nothing here depends on a
    /// hash order).
    streaks: BTreeMap<StrategyId, Streak>,
    stats: RiskStats,
}

impl RiskEngine {
    /// An engine with these limits (validate them first with [`RiskLimits::validate`]).
    pub fn new(limits: RiskLimits) -> Self {
        let cap = limits.max_orders_per_sec.min(4096) as usize;
        RiskEngine {
            limits,
            recent: VecDeque::with_capacity(cap),
            streaks: BTreeMap::new(),
            stats: RiskStats::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Check one order. Approved: the order wrapped in [`RiskApproved`], the only way to
    /// reach an execution port. Refused: the order back with the first failed check.
    pub fn check(
        &mut self,
        req: OrderRequest,
        ctx: &RiskCtx<'_>,
    ) -> Result<RiskApproved<OrderRequest>, Refused> {
        self.stats.checks += 1;
        match self.evaluate(&req, ctx) {
            Ok(()) => {
                self.stats.approved += 1;
                self.record_approved(ctx.now);
                Ok(RiskApproved(req))
            }
            Err(reason) => {
                self.stats.refused += 1;
                Err(Refused { req, reason })
            }
        }
    }

    /// A round trip of `strategy` (on its own position) closed with this net PnL: a loss
    /// lengthens that strategy's losing streak, anything else ends it. When the streak
    /// reaches `max_consecutive_losses`, a cooldown of `loss_cooldown_secs` starts at
    /// `now` for that strategy alone, and its streak starts again from zero.
    pub fn record_round_trip(&mut self, strategy: StrategyId, pnl: Decimal, now: Timestamp) {
        let streak = self.streaks.entry(strategy).or_default();
        if !pnl.is_sign_negative() || pnl.is_zero() {
            streak.losses = 0;
            return;
        }
        streak.losses = streak.losses.saturating_add(1);
        let max = self.limits.max_consecutive_losses;
        if max > 0 && streak.losses >= max && self.limits.loss_cooldown_secs > 0 {
            let secs = std::time::Duration::from_secs(self.limits.loss_cooldown_secs);
            streak.cooldown_until = Some(now + secs);
            streak.cooldown_losses = streak.losses;
            streak.losses = 0;
        }
    }

    /// A new trading day: every losing streak and cooldown ends.
    pub fn new_day(&mut self) {
        self.streaks.clear();
    }

    /// Whether the loss limits are breached now (DailyLoss, else Drawdown), for the engine
    /// to halt.
    pub fn halt_reason(&self, day_pnl: Decimal, drawdown: Decimal) -> Option<Refusal> {
        checks::loss_limits(&self.limits, day_pnl, drawdown).err()
    }

    /// The end of `strategy`'s latest loss cooldown, if one was ever started. The
    /// cooldown is in force while the engine time is before it; a past value means it is
    /// over.
    pub fn cooldown_until(&self, strategy: StrategyId) -> Option<Timestamp> {
        self.streaks.get(&strategy).and_then(|s| s.cooldown_until)
    }

    /// Counters since the engine was built.
    pub fn stats(&self) -> RiskStats {
        self.stats
    }

    /// Forget approvals that left the rolling 1 s window.
    fn expire_window(&mut self, now: Timestamp) {
        while let Some(&t) = self.recent.front() {
            if now.0.saturating_sub(t.0) >= NANOS_PER_SEC {
                self.recent.pop_front();
            } else {
                break;
            }
        }
    }

    fn record_approved(&mut self, now: Timestamp) {
        let max = self.limits.max_orders_per_sec as usize;
        if max == 0 {
            return;
        }
        self.expire_window(now);
        // Only the latest `max` matter: keeps the deque bounded even when reduce-only
        // exits are approved past the limit.
        while self.recent.len() >= max {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
    }

    /// All checks, in order; the first failure wins. Changes nothing: a dry run for
    /// previews (the console's order form shows this verdict before you confirm).
    pub fn evaluate(&self, req: &OrderRequest, ctx: &RiskCtx<'_>) -> Result<(), Refusal> {
        let (l, inst, now) = (&self.limits, ctx.instrument, ctx.now);
        checks::duplicate_id(req, ctx.duplicate_id)?;
        checks::sanity(req, inst)?;
        checks::venue_rules(req, ctx)?;
        let qty = inst.qty(req.spec.qty);
        if req.spec.reduce_only {
            // Exits are approved without the remaining checks.
            return checks::reduces(req.spec.side, qty, ctx.position);
        }
        checks::session(req, inst, ctx.session)?;
        if let Owner::Strategy(s) = req.owner
            && let Some(streak) = self.streaks.get(&s)
        {
            checks::cooldown(s, streak.cooldown_until, streak.cooldown_losses, now)?;
        }
        checks::loss_limits(l, ctx.day_pnl, ctx.drawdown)?;
        checks::stale_data(now, ctx.last_book_update, l.stale_data_ms)?;
        let mid_x2 = checks::market_to_price(req, ctx.book, l.price_band_bps)?;
        let walk = checks::walk(req, inst, ctx.book, l);
        checks::max_order_qty(qty, l.max_order_qty)?;
        checks::max_order_notional(req, inst, qty, walk.as_ref(), l.max_order_notional)?;
        checks::order_price_band(req, inst, walk.as_ref(), mid_x2, l.price_band_bps)?;
        checks::max_position(req.spec.side, qty, ctx, l.max_position)?;
        checks::position_flip(l.forbid_flip, req.spec.side, qty, ctx.position)?;
        checks::max_open_orders(ctx.open_orders, l.max_open_orders)?;
        checks::rate_limit(&self.recent, now, l.max_orders_per_sec)
    }
}

#[cfg(test)]
mod tests;
