//! How the engine drives its strategies: calling them with a read-only context, turning
//! their intents into orders and cancels, and the per-strategy counts the console shows.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{OrderSpec, Owner, Position, Qty, StrategyId, TradingState};
use crate::strategy::sizing::RiskSize;
use crate::strategy::{Intent, StrategyCtx};
use rust_decimal::Decimal;

/// Per-strategy bookkeeping the console shows.
#[derive(Clone, Debug, Default)]
pub(super) struct StrategyStats {
    pub(super) positions: Vec<Position>,
    /// Net PnL of the round trip open on the strategy's own position, per instrument
    /// (its losing streak counts these).
    pub(super) trip_pnl: Vec<rust_decimal::Decimal>,
    pub(super) orders: u64,
    pub(super) held: u64,
    pub(super) refused: u64,
}

impl Engine {
    /// Call every enabled strategy with `f`, then act on what they asked for.
    pub(super) fn run_strategies<F>(&mut self, out: &mut Vec<Effect>, mut f: F)
    where
        F: FnMut(&mut dyn crate::strategy::Strategy, &StrategyCtx<'_>, &mut Vec<Intent>),
    {
        let mut buf = std::mem::take(&mut self.intents);
        for s in 0..self.strategies.len() {
            if !self.strategies[s].enabled {
                continue;
            }
            let ctx = StrategyCtx {
                now: self.now,
                id: s as StrategyId,
                instruments: &self.instruments,
                books: &self.books,
                positions: &self.positions,
                open_orders: &self.open_orders,
                trading_state: self.state,
                sizing: &self.sizing,
            };
            f(self.strategies[s].strategy.as_mut(), &ctx, &mut buf);
            if !buf.is_empty() {
                for intent in buf.drain(..) {
                    self.on_intent(s as StrategyId, intent, out);
                }
            }
        }
        self.intents = buf;
    }

    pub(super) fn call_strategy<F>(&mut self, s: StrategyId, out: &mut Vec<Effect>, f: F)
    where
        F: FnOnce(&mut dyn crate::strategy::Strategy, &StrategyCtx<'_>, &mut Vec<Intent>),
    {
        let si = s as usize;
        if si >= self.strategies.len() || !self.strategies[si].enabled {
            return;
        }
        let mut buf = std::mem::take(&mut self.intents);
        let ctx = StrategyCtx {
            now: self.now,
            id: s,
            instruments: &self.instruments,
            books: &self.books,
            positions: &self.positions,
            open_orders: &self.open_orders,
            trading_state: self.state,
            sizing: &self.sizing,
        };
        f(self.strategies[si].strategy.as_mut(), &ctx, &mut buf);
        for intent in buf.drain(..) {
            self.on_intent(s, intent, out);
        }
        self.intents = buf;
    }

    fn on_intent(&mut self, s: StrategyId, intent: Intent, out: &mut Vec<Effect>) {
        match intent {
            Intent::Place(mut oi) => {
                if !self.may_place(oi.spec.reduce_only) || self.shutting_down {
                    self.strat_stats[s as usize].held += 1;
                    if oi.spec.reduce_only && self.state == TradingState::Halted {
                        self.note_exit_held(s, out);
                    }
                    return;
                }
                if let Some(r) = oi.risk.take() {
                    match self.risk_sized_qty(s, &oi.spec, r, out) {
                        Some(q) => oi.spec.qty = q,
                        None => {
                            self.strat_stats[s as usize].refused += 1;
                            return;
                        }
                    }
                }
                let req = self.request_from_intent(Owner::Strategy(s), oi);
                if self.place(req, out).is_some() {
                    self.strat_stats[s as usize].orders += 1;
                } else {
                    self.strat_stats[s as usize].refused += 1;
                }
            }
            Intent::Cancel(id) => {
                let owned = self
                    .open_orders
                    .get(&id)
                    .is_some_and(|o| o.req.owner == Owner::Strategy(s));
                if owned {
                    self.request_cancel(&id, out);
                }
            }
            Intent::CancelAll => {
                self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
            }
        }
    }

    /// The quantity a risk-sized intent buys (see `strategy/sizing.rs`): the budget at the
    /// engine's equity over the stop distance, floored to lots, capped at
    /// `risk.max_order_qty` and at the intent's own quantity when that is not zero. The
    /// order then goes through the ordinary risk checks. `None` (and a folded alert) when
    /// it rounds to nothing.
    fn risk_sized_qty(
        &mut self,
        s: StrategyId,
        spec: &OrderSpec,
        r: RiskSize,
        out: &mut Vec<Effect>,
    ) -> Option<Qty> {
        // An unknown instrument is refused by `place`, which says so.
        let Some(inst) = self.instruments.get(spec.instrument.index()) else {
            return Some(spec.qty);
        };
        let mut qty = self
            .sizing
            .qty_for_risk(inst, self.equity(), r.units, r.stop_distance);
        let max = self.risk.limits().max_order_qty;
        if max > Decimal::ZERO {
            qty = qty.min(inst.qty_floor(max));
        }
        if spec.qty.0 > 0 {
            qty = qty.min(spec.qty);
        }
        if qty.0 > 0 {
            return Some(qty);
        }
        let name = self.strategies[s as usize].strategy.name().to_string();
        let text = format!(
            "S{} {name}: risk size of {} unit(s) over a stop of {} on {} rounds to 0 lots (equity {}); nothing placed",
            u16::from(s) + 1,
            r.units.normalize(),
            r.stop_distance.round_dp(inst.price_precision).normalize(),
            inst.symbol,
            self.sizing
                .capital_base
                .checked_add(self.equity())
                .unwrap_or_default()
                .round_dp(self.money_precision()),
        );
        let source = format!("risk/{}", Owner::Strategy(s));
        self.alert_kind(AlertLevel::Warn, &source, "refused:risk-size", text, out);
        None
    }
}
