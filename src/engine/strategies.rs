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
        let (mut oi, legs) = match intent {
            Intent::Place(oi) => (oi, None),
            Intent::PlaceBracket(oi, legs) => (oi, Some(legs)),
            Intent::Cancel(id) => {
                let owned = self
                    .open_orders
                    .get(&id)
                    .is_some_and(|o| o.req.owner == Owner::Strategy(s));
                if owned {
                    self.request_cancel(&id, out);
                }
                return;
            }
            Intent::CancelAll => {
                self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
                return;
            }
        };
        if !self.may_place(oi.spec.reduce_only) || self.shutting_down {
            self.strat_stats[s as usize].held += 1;
            if oi.spec.reduce_only && self.state == TradingState::Halted {
                self.note_exit_held(s, out);
            }
            return;
        }
        if !self.session_allows(&oi.spec) {
            // The instrument's session is closed (or limit-only): held like PAUSED holds
            // it, not refused on every attempt.
            self.strat_stats[s as usize].held += 1;
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
        let placed = match legs {
            None => self.place(req, out).is_some(),
            Some(legs) => match self.open_bracket(req, legs, out) {
                Ok(_) => true,
                Err(why) => {
                    let name = self.strategies[s as usize].strategy.name().to_string();
                    let text = format!("S{} {name}: bracket refused: {why}", u16::from(s) + 1);
                    let source = format!("risk/{}", Owner::Strategy(s));
                    self.alert_kind(AlertLevel::Warn, &source, "refused:bracket", text, out);
                    false
                }
            },
        };
        if placed {
            self.strat_stats[s as usize].orders += 1;
        } else {
            self.strat_stats[s as usize].refused += 1;
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

#[cfg(test)]
mod risk_sizing_tests {
    use super::*;
    use crate::domain::{
        Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, OrderKind, OrderTag, Price,
        Side, TimeInForce, Timestamp, TradingGate,
    };
    use crate::engine::risk::{RiskEngine, RiskLimits};
    use crate::engine::{EngineConfig, EngineSetup, Input, KillSwitchConfig};
    use crate::strategy::sizing::SizingParams;
    use crate::strategy::{OrderIntent, Strategy, StrategySlot};
    use rust_decimal_macros::dec;

    /// Asks for one limit buy at the best bid, sized `risk` with `ceiling` lots as its own
    /// quantity, on the first book it sees.
    struct AskOnce {
        risk: RiskSize,
        ceiling: Qty,
        sent: bool,
    }

    impl Strategy for AskOnce {
        fn name(&self) -> &str {
            "ask-once"
        }
        fn instrument(&self) -> Option<InstrumentId> {
            Some(InstrumentId(0))
        }
        fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
            let Some(bid) = ctx.book(inst).best_bid() else {
                return;
            };
            if std::mem::replace(&mut self.sent, true) {
                return;
            }
            out.push(Intent::Place(OrderIntent {
                spec: OrderSpec {
                    instrument: inst,
                    side: Side::Buy,
                    kind: OrderKind::Limit,
                    price: Some(bid.price),
                    qty: self.ceiling,
                    tif: TimeInForce::Gtc,
                    reduce_only: false,
                },
                tag: OrderTag::Strategy,
                risk: Some(self.risk),
            }));
        }
        fn last_signal(&self) -> Option<&str> {
            None
        }
    }

    /// Capital 10000 at equity 0, risk 0.002 a unit: a budget of 20 a unit. BTC-USD at
    /// 59999.5 / 60000.5 (tick 0.1, lot 0.001). Returns the quantity submitted (`None`:
    /// nothing was), the effects and the engine.
    fn run(
        units: Decimal,
        stop: Decimal,
        ceiling: i64,
        limits: RiskLimits,
    ) -> (Option<Qty>, Vec<Effect>, Engine) {
        let inst = Instrument::new(
            InstrumentId(0),
            "BTC-USD",
            "sim",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        );
        let start = Timestamp::from_millis(1_767_229_200_000);
        let mut e = Engine::new(EngineSetup {
            config: EngineConfig::default(),
            kill: KillSwitchConfig::default(),
            instruments: vec![inst],
            strategies: vec![StrategySlot {
                strategy: Box::new(AskOnce {
                    risk: RiskSize {
                        units,
                        stop_distance: stop,
                    },
                    ceiling: Qty(ceiling),
                    sent: false,
                }),
                enabled: true,
            }],
            sizing: SizingParams::default(),
            risk: RiskEngine::new(limits),
            gate: TradingGate::new(true),
            initial_state: TradingState::Active,
            start,
        });
        let mut out = Vec::new();
        let book = MarketEvent {
            ts: start,
            instrument: InstrumentId(0),
            kind: MarketEventKind::Snapshot {
                bids: vec![Level::new(Price(599_995), Qty(5_000))],
                asks: vec![Level::new(Price(600_005), Qty(5_000))],
            },
        };
        e.process(start, Input::Market(book), &mut out);
        let sent = out.iter().find_map(|f| match f {
            Effect::Submit(o) => Some(o.spec.qty),
            _ => None,
        });
        (sent, out, e)
    }

    fn alerts(out: &[Effect]) -> Vec<&crate::engine::Alert> {
        out.iter()
            .filter_map(|f| match f {
                Effect::Alert(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_risk_sized_intent_becomes_an_order_of_the_budgets_size() {
        // 20 / 31 = 0.6451… BTC -> 0.645.
        let (sent, _, e) = run(dec!(1), dec!(31), 0, RiskLimits::default());
        assert_eq!(sent, Some(Qty(645)));
        assert_eq!(e.strat_stats[0].orders, 1);
        // Its own quantity is a ceiling: 0.1 BTC.
        let (sent, _, _) = run(dec!(1), dec!(31), 100, RiskLimits::default());
        assert_eq!(sent, Some(Qty(100)));
    }

    #[test]
    fn max_order_qty_caps_it_and_max_position_still_refuses() {
        // 2 units: 40 / 31 = 1.29 BTC, capped at max_order_qty 1.
        let (sent, _, _) = run(dec!(2), dec!(31), 0, RiskLimits::default());
        assert_eq!(sent, Some(Qty(1_000)));
        // Capped and then checked: 0.645 is beyond max_position 0.5: refused by risk.
        let limits = RiskLimits {
            max_position: dec!(0.5),
            ..RiskLimits::default()
        };
        let (sent, out, e) = run(dec!(1), dec!(31), 0, limits);
        assert_eq!(sent, None);
        assert_eq!(e.strat_stats[0].refused, 1);
        assert!(
            alerts(&out)
                .iter()
                .any(|a| a.text.contains("refused BUY 0.645")),
            "{out:?}"
        );
    }

    #[test]
    fn a_size_that_rounds_to_zero_places_nothing_and_says_so() {
        // 20 / 100000 = 0.0002 BTC: less than a lot.
        let (sent, out, e) = run(dec!(1), dec!(100000), 0, RiskLimits::default());
        assert_eq!(sent, None);
        assert_eq!((e.strat_stats[0].orders, e.strat_stats[0].refused), (0, 1));
        let a = alerts(&out);
        assert_eq!(a.len(), 1, "{out:?}");
        assert_eq!(
            (a[0].source.as_str(), a[0].kind.as_str()),
            ("risk/S1", "refused:risk-size")
        );
        assert!(
            a[0].text.contains("S1 ask-once")
                && a[0].text.contains("rounds to 0 lots")
                && a[0].text.contains("BTC-USD"),
            "{}",
            a[0].text
        );
        // A stop distance of 0 sizes nothing either.
        let (sent, _, _) = run(dec!(1), dec!(0), 0, RiskLimits::default());
        assert_eq!(sent, None);
    }
}
