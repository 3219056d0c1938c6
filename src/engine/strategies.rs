//! How the engine drives its strategies: calling them with a read-only context, turning
//! their intents into orders and cancels, and the per-strategy counts the console shows.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{OrderSpec, Owner, Position, Qty, StrategyId, Timestamp, TradingState};
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
    /// Its parameters as text, for the view (made when they change, not per view).
    pub(super) params_text: std::sync::Arc<str>,
    /// Restarted with new parameters: not called until the orders of its old self are
    /// all closed (a clean restart never has old and new quotes working at once).
    pub(super) restarting: bool,
}

impl StrategyStats {
    /// A strategy's counts on `n` instruments, all zero.
    pub(super) fn new(n: usize, params: &crate::strategy::edit::ParamTable) -> Self {
        StrategyStats {
            positions: (0..n)
                .map(|i| Position::new(crate::domain::InstrumentId(i as u16)))
                .collect(),
            trip_pnl: vec![Decimal::ZERO; n],
            params_text: crate::strategy::edit::table_text(params).into(),
            ..StrategyStats::default()
        }
    }
}

use crate::strategy::MAX_STRATEGIES;

impl Engine {
    /// New parameters for strategy `id`, or a new instance of `kind` (`id` `None`),
    /// checked exactly as the config file is. A refusal is a WARN alert naming the key;
    /// nothing changes then.
    pub(super) fn configure_strategy(
        &mut self,
        id: Option<StrategyId>,
        kind: &str,
        params: &str,
        out: &mut Vec<Effect>,
    ) {
        use crate::strategy::edit;
        let who = match id {
            Some(s) => match self.strategies.get(s as usize) {
                Some(slot) if !slot.removed => format!("S{} {}", s as usize + 1, slot.name),
                _ => {
                    let text = format!("no strategy {}", s as usize + 1);
                    self.alert(AlertLevel::Warn, "operator", text, out);
                    return;
                }
            },
            None => format!("new {kind}"),
        };
        let kind_no = match id {
            Some(s) => Ok(self.strategies[s as usize].kind),
            None => edit::builtin(kind).map(|(k, _)| k),
        };
        let built = kind_no.and_then(|k| {
            let table = edit::table_from_text(params)?;
            let (strategy, _) = edit::build_from(k, &table, &self.instruments)?;
            Ok((k, table, strategy))
        });
        let (k, table, strategy) = match built {
            Ok(b) => b,
            Err(e) => {
                let text = format!("{who}: parameters not applied: {}: {}", e.key, e.message);
                self.alert(AlertLevel::Warn, "operator", text, out);
                return;
            }
        };
        if let Some(why) = self.size_above_limit(&table) {
            let text = format!("{who}: parameters not applied: {why}");
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        if let Some(s) = id
            && self.holds_its_own(s)
        {
            let text = format!(
                "{who}: parameters not applied: it keeps its own position, which a restart would forget; switch it off and apply once it is flat with no orders"
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        let text = edit::table_text(&table);
        let s = match id {
            Some(s) => {
                let si = s as usize;
                let why = format!("S{} restarted with new parameters", si + 1);
                self.drop_groups(super::commands::Which::Owner(Owner::Strategy(s)), &why, out);
                let n = self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
                self.strat_stats[si].restarting = n > 0;
                let slot = &mut self.strategies[si];
                let kept = slot.strategy.hand_over();
                slot.strategy.on_disable();
                slot.strategy = strategy;
                if let Some(state) = kept {
                    slot.strategy.take_over(state);
                }
                slot.params = table;
                let alert = format!(
                    "{who}: new parameters applied (restarted; {n} order(s) cancelled first)"
                );
                self.alert(AlertLevel::Info, "operator", alert, out);
                si
            }
            None => {
                if self.strategies.len() >= MAX_STRATEGIES {
                    let text = format!(
                        "{who}: not added: a run holds at most {MAX_STRATEGIES} strategies"
                    );
                    self.alert(AlertLevel::Warn, "operator", text, out);
                    return;
                }
                let b = &crate::strategy::BUILTINS[k];
                let base = edit::default_name(b, &table, self.strategies.len() + 1);
                let mut name = base.clone();
                let mut n = 2;
                while self.strategies.iter().any(|x| x.name == name) {
                    name = format!("{base}-{n}");
                    n += 1;
                }
                self.strategies.push(crate::strategy::StrategySlot {
                    strategy,
                    // Switched on by the operator, deliberately, once its parameters are seen.
                    enabled: false,
                    name,
                    kind: k,
                    params: table,
                    removed: false,
                    added: true,
                });
                let stats = StrategyStats::new(self.instruments.len(), &Default::default());
                self.strat_stats.push(stats);
                let si = self.strategies.len() - 1;
                let alert = format!(
                    "S{} {} added, switched off until switched on",
                    si + 1,
                    self.strategies[si].name,
                );
                self.alert(AlertLevel::Info, "operator", alert, out);
                si
            }
        };
        self.strat_stats[s].params_text = text.clone().into();
        let slot = &self.strategies[s];
        out.push(Effect::StrategyConfigured {
            id: s as StrategyId,
            name: slot.name.clone(),
            kind: crate::strategy::BUILTINS[slot.kind].section.to_string(),
            params: text,
            enabled: slot.enabled,
            removed: false,
            added: slot.added,
        });
    }

    /// A `size` above `risk.max_order_qty` (the config file refuses it: every order
    /// would be refused).
    fn size_above_limit(&self, table: &crate::strategy::edit::ParamTable) -> Option<String> {
        let max = self.risk.limits().max_order_qty;
        let size = crate::strategy::edit::table_size(table)?;
        (max > Decimal::ZERO && size > max).then(|| {
            format!("size: {size} is above risk.max_order_qty {max}: every order would be refused")
        })
    }

    /// Whether strategy `s` keeps its own position (VWAP reversion, the opening-range
    /// breakout) and holds one now or has orders working: a restart or a removal would
    /// leave that position with nobody managing it (its exit and stop are its own).
    fn holds_its_own(&self, s: StrategyId) -> bool {
        let si = s as usize;
        let Some(slot) = self.strategies.get(si) else {
            return false;
        };
        if !crate::strategy::BUILTINS[slot.kind].keeps_position {
            return false;
        }
        let owner = Owner::Strategy(s);
        let holds = self.strat_stats[si].positions.iter().any(|p| !p.is_flat());
        holds || self.open_orders.values().any(|o| o.req.owner == owner)
    }

    /// Whether strategy `s` waits for the orders of its old self to close (after new
    /// parameters); the wait ends with the last of them.
    fn still_restarting(&mut self, s: usize) -> bool {
        if !self.strat_stats[s].restarting {
            return false;
        }
        let owner = Owner::Strategy(s as StrategyId);
        let waiting = self.open_orders.values().any(|o| o.req.owner == owner);
        self.strat_stats[s].restarting = waiting;
        waiting
    }

    /// Remove an instance: its orders cancelled, switched off for good (its number stays,
    /// its orders named it). A config section's strategy is switched off instead.
    pub(super) fn remove_strategy(&mut self, s: StrategyId, out: &mut Vec<Effect>) {
        let si = s as usize;
        let Some(slot) = self.strategies.get(si).filter(|x| !x.removed) else {
            let text = format!("no strategy {}", si + 1);
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        };
        if slot.is_section(si) {
            let text = format!(
                "S{} {} is a section of the config file: switch it off ({}) rather than remove it",
                si + 1,
                slot.name,
                si + 1
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        if self.holds_its_own(s) {
            let text = format!(
                "S{} {} not removed: it holds its own position or has orders, and nothing else would manage them (its exit and stop are its own); switch it off and remove it once it is flat with no orders",
                si + 1,
                slot.name
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        let why = format!("S{} removed", si + 1);
        self.drop_groups(super::commands::Which::Owner(Owner::Strategy(s)), &why, out);
        let n = self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
        let slot = &mut self.strategies[si];
        slot.strategy.on_disable();
        slot.enabled = false;
        slot.removed = true;
        let text = format!("S{} {} removed ({n} order(s) cancelled)", si + 1, slot.name);
        let effect = Effect::StrategyConfigured {
            id: s,
            name: slot.name.clone(),
            kind: crate::strategy::BUILTINS[slot.kind].section.to_string(),
            params: self.strat_stats[si].params_text.to_string(),
            enabled: false,
            removed: true,
            added: slot.added,
        };
        self.alert(AlertLevel::Info, "operator", text, out);
        out.push(effect);
    }

    /// Call every enabled strategy with `f`, then act on what they asked for.
    pub(super) fn run_strategies<F>(&mut self, out: &mut Vec<Effect>, mut f: F)
    where
        F: FnMut(&mut dyn crate::strategy::Strategy, &StrategyCtx<'_>, &mut Vec<Intent>),
    {
        let mut buf = std::mem::take(&mut self.intents);
        for s in 0..self.strategies.len() {
            if !self.strategies[s].enabled || self.still_restarting(s) {
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
        if si >= self.strategies.len() || !self.strategies[si].enabled || self.still_restarting(si)
        {
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
        if !oi.spec.reduce_only && self.cooling_down(s) {
            // Its own loss cooldown: held like PAUSED holds it (said once, when the cooldown
            // started), not refused on every re-quote. Exits still go.
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
        if legs.is_none() && !self.fit_exit_to_venue(&mut oi.spec, out) {
            // Only dust is left: nothing a venue takes (said once, see `dust.rs`).
            self.strat_stats[s as usize].held += 1;
            return;
        }
        let req = self.request_from_intent(Owner::Strategy(s), oi);
        let placed = match legs {
            None => self.place(req, out).is_some(),
            Some(legs) => match self.open_bracket(req, legs, out) {
                Ok(_) => true,
                Err(why) => {
                    let name = self.strategies[s as usize].name.clone();
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

    /// A reduce-only exit that fits the position's whole lots but not the venue's step
    /// and minimum (a holding netted of a fee in the coin bought): cut to what the venue
    /// takes (`dust.rs`); `false` when that is nothing (dust). Any other order is left as
    /// is for the risk checks to judge (on paper the two sizes are the same).
    fn fit_exit_to_venue(&mut self, spec: &mut OrderSpec, out: &mut Vec<Effect>) -> bool {
        let i = spec.instrument.index();
        if !spec.reduce_only || i >= self.instruments.len() {
            return true;
        }
        let pos = self.positions[i].qty;
        let closing = (pos.is_sign_positive() && spec.side == crate::domain::Side::Sell)
            || (pos.is_sign_negative() && spec.side == crate::domain::Side::Buy);
        if pos.is_zero() || !closing {
            return true;
        }
        let whole = self.instruments[i].qty_floor(pos.abs());
        let closable = self.closable_lots(i);
        if spec.qty <= closable || spec.qty > whole {
            return true;
        }
        if !closable.is_positive() {
            self.note_dust(i, out);
            return false;
        }
        spec.qty = closable;
        true
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
        let name = self.strategies[s as usize].name.clone();
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
            strategies: vec![StrategySlot::of(
                Box::new(AskOnce {
                    risk: RiskSize {
                        units,
                        stop_distance: stop,
                    },
                    ceiling: Qty(ceiling),
                    sent: false,
                }),
                true,
            )],
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

#[cfg(test)]
mod restart_tests {
    use super::*;
    use crate::domain::{Instrument, InstrumentId, Timestamp, TradingGate};
    use crate::engine::risk::{RiskEngine, RiskLimits};
    use crate::engine::{Command, EngineConfig, EngineSetup, Input, KillSwitchConfig};
    use crate::strategy::StrategiesConfig;
    use rust_decimal_macros::dec;

    fn engine() -> Engine {
        let inst = Instrument::new(
            InstrumentId(0),
            "BTC-USD",
            "sim",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        );
        let mut cfg = StrategiesConfig::default();
        cfg.vwap_revert.enabled = true;
        let strategies = crate::strategy::build(&cfg, std::slice::from_ref(&inst)).unwrap();
        Engine::new(EngineSetup {
            config: EngineConfig::default(),
            kill: KillSwitchConfig::default(),
            instruments: vec![inst],
            strategies,
            sizing: Default::default(),
            risk: RiskEngine::new(RiskLimits::default()),
            gate: TradingGate::new(true),
            initial_state: TradingState::Active,
            start: Timestamp::from_millis(1_767_229_200_000),
        })
    }

    fn configure(e: &mut Engine, id: u8, sets: &[(&str, &str)]) -> Vec<Effect> {
        let mut t = e.strategies[id as usize].params.clone();
        for (k, v) in sets {
            t.insert(k.to_string(), toml::Value::String(v.to_string()));
        }
        let cmd = Command::ConfigureStrategy {
            id: Some(id),
            kind: crate::strategy::BUILTINS[e.strategies[id as usize].kind]
                .section
                .into(),
            params: crate::strategy::edit::table_text(&t),
        };
        let mut out = Vec::new();
        let now = e.now();
        e.process(now, Input::Command(cmd), &mut out);
        out
    }

    fn warned(out: &[Effect]) -> Option<String> {
        out.iter().find_map(|f| match f {
            Effect::Alert(a) if a.level == AlertLevel::Warn => Some(a.text.clone()),
            _ => None,
        })
    }

    #[test]
    fn a_strategy_that_keeps_its_own_position_is_not_restarted_while_it_holds_one() {
        let mut e = engine();
        e.strat_stats[3].positions[0].qty = dec!(0.001);
        let out = configure(&mut e, 3, &[("stop_atr", "3")]);
        let why = warned(&out).expect("refused");
        assert!(
            why.contains("S4 vwap-revert: parameters not applied: it keeps its own position"),
            "{why}"
        );
        assert_eq!(e.strategies[3].params["stop_atr"].as_str(), Some("1.5"));
        // Flat with no orders: applied.
        e.strat_stats[3].positions[0].qty = Decimal::ZERO;
        let out = configure(&mut e, 3, &[("stop_atr", "3")]);
        assert!(warned(&out).is_none(), "{out:?}");
        assert_eq!(e.strategies[3].params["stop_atr"].as_str(), Some("3"));
        // A market maker has no position of its own to forget: restarted at any time.
        e.strat_stats[0].positions[0].qty = dec!(0.002);
        let out = configure(&mut e, 0, &[("spread_bps", "4")]);
        assert!(warned(&out).is_none(), "{out:?}");
    }

    #[test]
    fn a_size_above_max_order_qty_is_refused_as_the_config_file_refuses_it() {
        let mut e = engine();
        let out = configure(&mut e, 0, &[("size", "2")]);
        let why = warned(&out).expect("refused");
        assert!(
            why.contains("size: 2 is above risk.max_order_qty 1"),
            "{why}"
        );
        assert_eq!(e.strategies[0].params["size"].as_str(), Some("0.001"));
    }

    /// Adds an instance of `kind` from the console (as `n` then `a` in the view) and
    /// returns its number.
    fn add_instance(e: &mut Engine, kind: &str) -> u8 {
        let (k, _) = crate::strategy::edit::builtin(kind).unwrap();
        let t = (crate::strategy::BUILTINS[k].table)(&StrategiesConfig::default());
        let cmd = Command::ConfigureStrategy {
            id: None,
            kind: kind.into(),
            params: crate::strategy::edit::table_text(&t),
        };
        let mut out = Vec::new();
        let now = e.now();
        e.process(now, Input::Command(cmd), &mut out);
        assert!(warned(&out).is_none(), "{out:?}");
        (e.strategies.len() - 1) as u8
    }

    #[test]
    fn an_instance_holding_its_own_position_is_not_removed_from_under_it() {
        let mut e = engine();
        let s = add_instance(&mut e, "vwap_revert");
        assert!(e.strategies[s as usize].added && !e.strategies[s as usize].enabled);
        e.strat_stats[s as usize].positions[0].qty = dec!(0.001);
        let mut out = Vec::new();
        let now = e.now();
        e.process(now, Input::Command(Command::RemoveStrategy(s)), &mut out);
        let why = warned(&out).expect("refused");
        assert!(
            why.contains("not removed: it holds its own position"),
            "{why}"
        );
        assert!(!e.strategies[s as usize].removed);
        // Flat: removed, and the store is told it was the console's.
        e.strat_stats[s as usize].positions[0].qty = Decimal::ZERO;
        let mut out = Vec::new();
        e.process(now, Input::Command(Command::RemoveStrategy(s)), &mut out);
        assert!(e.strategies[s as usize].removed, "{out:?}");
        assert!(out.iter().any(|f| matches!(
            f,
            Effect::StrategyConfigured {
                removed: true,
                added: true,
                ..
            }
        )));
    }
}

impl Engine {
    /// Whether strategy `s` is in its own loss cooldown now.
    fn cooling_down(&self, s: StrategyId) -> bool {
        self.risk
            .cooldown_until(s)
            .is_some_and(|until| self.now < until)
    }

    /// A loss cooldown of strategy `s` started (ends at `until`): its working orders that
    /// could add to its position are cancelled (a resting quote that fills is new risk as
    /// much as a new order; its exits stay), and one alert says so, since its new orders
    /// are held from now on rather than refused one by one. Called from within the fill
    /// that closed the losing round trip: that order is no longer open and is not asked
    /// to cancel.
    pub(super) fn note_cooldown(&mut self, s: StrategyId, until: Timestamp, out: &mut Vec<Effect>) {
        self.cancel_where(
            |o| o.req.owner == Owner::Strategy(s) && !o.req.spec.reduce_only && o.is_open(),
            out,
        );
        let name = self
            .strategies
            .get(s as usize)
            .map_or("strategy", |slot| slot.name.as_str())
            .to_string();
        let losses = self.risk.limits().max_consecutive_losses;
        let text = format!(
            "S{} {name} cooling down after {losses} losing round trips in a row: its quotes are cancelled and its new orders held until {} UTC (exits still go)",
            u16::from(s) + 1,
            until.hms_millis()
        );
        let source = format!("risk/{}", Owner::Strategy(s));
        self.alert_kind(AlertLevel::Warn, &source, "cooldown", text, out);
    }
}

#[cfg(test)]
mod cooldown_tests {
    use super::*;
    use crate::domain::{OrderKind, OrderTag, Side, TimeInForce};
    use crate::engine::risk::RiskLimits;
    use crate::engine::testkit::*;
    use crate::strategy::{OrderIntent, Strategy, StrategySlot};
    use rust_decimal_macros::dec;

    /// Quotes one lot at the best bid and one at the best ask whenever it has none working
    /// on that side.
    struct Quoter;
    impl Strategy for Quoter {
        fn name(&self) -> &str {
            "quoter"
        }
        fn instrument(&self) -> Option<crate::domain::InstrumentId> {
            Some(BTC)
        }
        fn on_book(
            &mut self,
            ctx: &StrategyCtx<'_>,
            inst: crate::domain::InstrumentId,
            out: &mut Vec<Intent>,
        ) {
            let book = ctx.book(inst);
            for (side, best) in [(Side::Buy, book.best_bid()), (Side::Sell, book.best_ask())] {
                let Some(best) = best else { continue };
                if ctx.own_orders(inst).any(|o| o.req.spec.side == side) {
                    continue;
                }
                out.push(Intent::Place(OrderIntent {
                    spec: OrderSpec {
                        instrument: inst,
                        side,
                        kind: OrderKind::Limit,
                        price: Some(best.price),
                        qty: Qty(1),
                        tif: TimeInForce::PostOnly,
                        reduce_only: false,
                    },
                    tag: OrderTag::Strategy,
                    risk: None,
                }));
            }
        }
        fn last_signal(&self) -> Option<&str> {
            None
        }
    }

    fn side_of(
        reqs: &[crate::domain::OrderRequest],
        side: Side,
    ) -> Vec<crate::domain::OrderRequest> {
        reqs.iter()
            .filter(|r| r.spec.side == side)
            .cloned()
            .collect()
    }

    #[test]
    fn a_cooldown_cancels_the_working_quotes_and_holds_new_ones() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let limits = RiskLimits {
            price_band_bps: dec!(500),
            max_consecutive_losses: 1,
            loss_cooldown_secs: 600,
            ..RiskLimits::off()
        };
        let mut e = engine_with(t0, vec![StrategySlot::of(Box::new(Quoter), true)], limits);
        let out = step(&mut e, t0, book(t0, 599_990, 600_010));
        let (bid, ask) = {
            let q = submits(&out);
            (
                side_of(&q, Side::Buy)[0].clone(),
                side_of(&q, Side::Sell)[0].clone(),
            )
        };
        // The bid fills and a new one is quoted; the market falls and the ask is taken
        // lower: one losing round trip, and the cooldown starts.
        let ms = |n| t0 + std::time::Duration::from_millis(n);
        step(&mut e, ms(100), fill(ms(100), 1, &bid, 599_990));
        let out = step(&mut e, ms(150), book(ms(150), 599_990, 600_010));
        let bid2 = side_of(&submits(&out), Side::Buy)[0].clone();
        let out = step(&mut e, ms(200), fill(ms(200), 2, &ask, 599_980));
        let text = alert_texts(&out);
        assert!(
            text.contains("cooling down after 1 losing round trips")
                && text.contains("quotes are cancelled"),
            "{text}"
        );
        // The new bid (more risk if it fills) is cancelled; the ask that just filled is
        // not asked to cancel.
        assert_eq!(
            cancels(&out),
            std::slice::from_ref(&bid2.client_id),
            "{out:?}"
        );
        // While it cools down, a book event asks for both quotes again: none goes.
        let out = step(&mut e, ms(300), book(ms(300), 599_970, 599_990));
        assert!(submits(&out).is_empty(), "{:?}", submits(&out));
    }
}
