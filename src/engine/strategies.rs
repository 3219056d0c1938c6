//! How the engine drives its strategies: calling them with a read-only context, turning
//! their intents into orders and cancels, and the per-strategy counts the console shows.

use super::{Effect, Engine};
use crate::domain::{Owner, Position, StrategyId, TradingState};
use crate::strategy::{Intent, StrategyCtx};

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
        };
        f(self.strategies[si].strategy.as_mut(), &ctx, &mut buf);
        for intent in buf.drain(..) {
            self.on_intent(s, intent, out);
        }
        self.intents = buf;
    }

    fn on_intent(&mut self, s: StrategyId, intent: Intent, out: &mut Vec<Effect>) {
        match intent {
            Intent::Place(oi) => {
                if !self.may_place(oi.spec.reduce_only) || self.shutting_down {
                    self.strat_stats[s as usize].held += 1;
                    if oi.spec.reduce_only && self.state == TradingState::Halted {
                        self.note_exit_held(s, out);
                    }
                    return;
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
}
