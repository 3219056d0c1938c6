//! Strategy 3: the exit manager.
//!
//! Watches the account position of every instrument (whoever opened it: strategies or
//! manual orders) and, on each book update of that instrument, closes it with a reduce-only
//! market IOC order for the whole position (floored to lots) when one of these fires
//! (checked in this order; a threshold of 0 disables it):
//!
//! * **stop-loss**: PnL <= -`stop_loss_bps`;
//! * **take-profit**: PnL >= `take_profit_bps`;
//! * **trailing stop**: the mark has retraced `trailing_bps` from the best mark seen since
//!   the position opened (its *peak*), and that peak is in profit.
//!
//! PnL in bps is `(mark - avg) / avg * 10000 * direction`, with the mark the best bid for a
//! long and the best ask for a short (the price an exit would get). The peak is forgotten
//! when the position goes flat or changes direction.
//!
//! **Never twice.** While an order of this strategy is open on the instrument, nothing more
//! is sent for it. When the exit closes (`on_order_closed`) and a position remains (a
//! partial fill), the next book update may fire again; once flat, nothing. If an exit
//! neither shows up among the open orders nor is reported closed (refused before it became
//! an order), it is sent again after `retry_ms`.
//!
//! Exits are sent in every trading state but HALTED: they are reduce-only, which the
//! design lets through pauses and reduce-only mode; a halted engine holds them (only
//! cancels and the flatten a person asks for leave it).
//!
//! **Cost.** The thresholds are turned into tick prices once per average price (and the
//! trailing trigger once per new peak), so a book update is a few integer comparisons;
//! one that leaves the mark and the average where the last check (which fired nothing)
//! found them is one price and one 16-byte compare; a flat instrument costs one `Decimal`
//! zero test. Nothing is allocated unless an exit is sent.

use crate::domain::OrderSpec;

use super::{
    Intent, OrderIntent, Strategy, StrategyCtx, min_lots, ms_to_nanos, require_non_negative,
};
use crate::domain::Invalid;
use crate::domain::{
    Instrument, InstrumentId, Order, OrderKind, OrderTag, Price, Side, TimeInForce, Timestamp,
};
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt::Write as _;

/// The exit manager's name in the console, the store and the audit.
pub const NAME: &str = "exit-manager";

/// `[strategies.exit_manager]` in config.toml. It watches every instrument (no `symbol`).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExitParams {
    /// Switched on at start-up (key 3 toggles it in the console). Default: true.
    pub enabled: bool,
    /// Close a position whose loss reaches this many basis points of its average entry
    /// price (mark: best bid for a long, best ask for a short). 0 disables; below 10000.
    /// Default: 50.
    pub stop_loss_bps: Decimal,
    /// Close a position whose profit reaches this many basis points of its average entry
    /// price. 0 disables. Default: 100.
    pub take_profit_bps: Decimal,
    /// Close a position once the mark retraces this many basis points from the best mark
    /// seen since it opened, provided that best mark was in profit. 0 disables; below
    /// 10000. Default: 30.
    pub trailing_bps: Decimal,
    /// Milliseconds of engine time after which an exit that never became an open order
    /// (and was never reported closed) is sent again. Must be > 0. Default: 1000.
    pub retry_ms: u64,
}

impl Default for ExitParams {
    fn default() -> Self {
        ExitParams {
            enabled: true,
            stop_loss_bps: Decimal::from(50),
            take_profit_bps: Decimal::from(100),
            trailing_bps: Decimal::from(30),
            retry_ms: 1_000,
        }
    }
}

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

impl ExitParams {
    /// Checks the values; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        require_non_negative("stop_loss_bps", self.stop_loss_bps)?;
        require_non_negative("take_profit_bps", self.take_profit_bps)?;
        require_non_negative("trailing_bps", self.trailing_bps)?;
        if self.stop_loss_bps >= BPS {
            return Err(Invalid::new("stop_loss_bps", "must be below 10000"));
        }
        if self.trailing_bps >= BPS {
            return Err(Invalid::new("trailing_bps", "must be below 10000"));
        }
        if self.retry_ms == 0 {
            return Err(Invalid::new("retry_ms", "must be > 0"));
        }
        Ok(())
    }
}

/// Per-instrument state.
#[derive(Clone, Debug, Default, PartialEq)]
struct Watch {
    /// Direction of the position this state belongs to (0: flat / nothing tracked).
    dir: i64,
    /// Average price the thresholds were computed for.
    avg: Option<Decimal>,
    /// Stop-loss and take-profit trigger prices (inclusive), in ticks.
    stop: Option<Price>,
    take: Option<Price>,
    /// Ticks strictly beyond which (in the favourable direction) a mark is in profit.
    breakeven: Price,
    /// Best favourable mark since the position opened.
    peak: Option<Price>,
    /// Trailing trigger price for `peak` (inclusive).
    trail: Option<Price>,
    /// When the last exit was sent and not yet reported closed.
    fired_at: Option<Timestamp>,
    /// The mark and the average price (its exact bits) of the last check, when it found
    /// nothing to do. The same mark and average again find nothing again: the thresholds
    /// are the average's, and the peak already holds a mark at least as good as this one,
    /// so neither moves; the check is skipped.
    quiet: Option<(Price, [u8; 16])>,
}

impl Watch {
    fn reset(&mut self, dir: i64) {
        *self = Watch {
            dir,
            ..Watch::default()
        };
    }
}

/// Strategy 3. See the module docs.
#[derive(Debug)]
pub struct ExitManager {
    stop_loss_bps: Decimal,
    take_profit_bps: Decimal,
    trailing_bps: Decimal,
    retry_ns: i64,
    watches: Vec<Watch>,
    signal: String,
}

/// The price a position of direction `dir` would exit at now: the best bid when long, the
/// best ask when short.
#[inline]
fn mark_of(book: &crate::domain::OrderBook, dir: i64) -> Option<Price> {
    if dir > 0 {
        book.best_bid()
    } else {
        book.best_ask()
    }
    .map(|l| l.price)
}

impl ExitManager {
    /// Builds the exit manager for `instruments` (it watches all of them). The params are
    /// expected to be validated ([`ExitParams::validate`]; [`super::build`] does it).
    pub fn new(params: &ExitParams, instruments: &[Instrument]) -> Self {
        ExitManager {
            stop_loss_bps: params.stop_loss_bps,
            take_profit_bps: params.take_profit_bps,
            trailing_bps: params.trailing_bps,
            retry_ns: ms_to_nanos(params.retry_ms),
            watches: vec![Watch::default(); instruments.len()],
            signal: String::with_capacity(48),
        }
    }

    /// Recompute the stop and take-profit prices for a new average price.
    fn thresholds(&self, w: &mut Watch, inst: &Instrument, avg: Decimal) {
        let long = w.dir > 0;
        let frac = |bps: Decimal| bps / BPS;
        w.stop = (!self.stop_loss_bps.is_zero()).then(|| {
            if long {
                inst.price_round(avg * (Decimal::ONE - frac(self.stop_loss_bps)), true)
            } else {
                inst.price_round(avg * (Decimal::ONE + frac(self.stop_loss_bps)), false)
            }
        });
        w.take = (!self.take_profit_bps.is_zero()).then(|| {
            if long {
                inst.price_round(avg * (Decimal::ONE + frac(self.take_profit_bps)), false)
            } else {
                inst.price_round(avg * (Decimal::ONE - frac(self.take_profit_bps)), true)
            }
        });
        // Long: in profit when mark > avg, i.e. mark > floor(avg). Short: mark < ceil(avg).
        w.breakeven = inst.price_round(avg, long);
        w.avg = Some(avg);
    }

    /// The trailing trigger for a peak.
    fn trail_for(&self, inst: &Instrument, long: bool, peak: Price) -> Option<Price> {
        if self.trailing_bps.is_zero() {
            return None;
        }
        let p = inst.price(peak);
        let f = self.trailing_bps / BPS;
        Some(if long {
            inst.price_round(p * (Decimal::ONE - f), true)
        } else {
            inst.price_round(p * (Decimal::ONE + f), false)
        })
    }

    /// Whether the last check of `id` found nothing to do and would find the same now:
    /// the position's direction, its average price (exact bits) and the mark unchanged.
    #[inline]
    fn still_quiet(&self, ctx: &StrategyCtx<'_>, id: InstrumentId) -> bool {
        let i = id.index();
        let (Some(w), Some(pos)) = (self.watches.get(i), ctx.positions.get(i)) else {
            return false;
        };
        let Some((mark, avg)) = w.quiet else {
            return false;
        };
        let Some(book) = ctx.books.get(i) else {
            return false;
        };
        mark_of(book, w.dir) == Some(mark)
            && pos.avg_price.serialize() == avg
            && pos.direction() == w.dir
    }

    #[inline(never)]
    fn check(&mut self, ctx: &StrategyCtx<'_>, id: InstrumentId, out: &mut Vec<Intent>) {
        let i = id.index();
        if i >= self.watches.len() {
            if i >= ctx.instruments.len() {
                return;
            }
            self.watches.resize(ctx.instruments.len(), Watch::default());
        }
        let pos = ctx.position(id);
        let dir = pos.direction();
        if dir == 0 {
            if self.watches[i].dir != 0 {
                self.watches[i].reset(0);
            }
            return;
        }
        let mut w = std::mem::take(&mut self.watches[i]);
        if dir != w.dir {
            w.reset(dir);
        }
        w.quiet = None;
        let tag = self.decide(ctx, id, &mut w);
        if let Some((tag, mark)) = tag {
            self.fire(ctx, id, &mut w, tag, mark, out);
        }
        self.watches[i] = w;
    }

    /// Update the peak and say which exit (if any) the mark triggers.
    fn decide(
        &self,
        ctx: &StrategyCtx<'_>,
        id: InstrumentId,
        w: &mut Watch,
    ) -> Option<(OrderTag, Price)> {
        let pos = ctx.position(id);
        if pos.avg_price <= Decimal::ZERO {
            return None;
        }
        let long = w.dir > 0;
        let mark = mark_of(ctx.book(id), w.dir)?;
        let inst = ctx.instrument(id);
        if w.avg != Some(pos.avg_price) {
            self.thresholds(w, inst, pos.avg_price);
        }
        let better = |a: Price, b: Price| if long { a > b } else { a < b };
        // A peak handed over by a restart: its trigger at this self's distance.
        if w.trail.is_none()
            && let Some(p) = w.peak
        {
            w.trail = self.trail_for(inst, long, p);
        }
        if w.peak.is_none_or(|p| better(mark, p)) {
            w.peak = Some(mark);
            w.trail = self.trail_for(inst, long, mark);
        }
        // The mark is at or beyond a trigger price in the adverse (stop, trail) or the
        // favourable (take-profit) direction.
        let adverse = |trigger: Price| {
            if long {
                mark <= trigger
            } else {
                mark >= trigger
            }
        };
        let favourable = |trigger: Price| {
            if long {
                mark >= trigger
            } else {
                mark <= trigger
            }
        };
        if w.stop.is_some_and(adverse) {
            return Some((OrderTag::StopLoss, mark));
        }
        if w.take.is_some_and(favourable) {
            return Some((OrderTag::TakeProfit, mark));
        }
        let peak_in_profit = w.peak.is_some_and(|p| better(p, w.breakeven));
        if peak_in_profit && w.trail.is_some_and(adverse) {
            return Some((OrderTag::TrailingStop, mark));
        }
        w.quiet = Some((mark, pos.avg_price.serialize()));
        None
    }

    fn fire(
        &mut self,
        ctx: &StrategyCtx<'_>,
        id: InstrumentId,
        w: &mut Watch,
        tag: OrderTag,
        mark: Price,
        out: &mut Vec<Intent>,
    ) {
        // One exit at a time per instrument.
        if ctx.own_orders(id).next().is_some() {
            return;
        }
        if w.fired_at
            .is_some_and(|t| ctx.now.0.saturating_sub(t.0) < self.retry_ns)
        {
            return;
        }
        let inst = ctx.instrument(id);
        let pos = ctx.position(id);
        let qty = inst.qty_floor(pos.qty.abs());
        if qty < min_lots(inst) {
            return;
        }
        let side = if w.dir > 0 { Side::Sell } else { Side::Buy };
        out.push(Intent::Place(OrderIntent {
            spec: OrderSpec {
                instrument: id,
                side,
                kind: OrderKind::Market,
                price: None,
                qty,
                tif: TimeInForce::Ioc,
                reduce_only: true,
            },
            tag,
            risk: None,
        }));
        w.fired_at = Some(ctx.now);

        let bps = ((inst.price(mark) - pos.avg_price) / pos.avg_price * BPS * Decimal::from(w.dir))
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        let word = match tag {
            OrderTag::StopLoss => "STOP",
            OrderTag::TakeProfit => "TAKE",
            _ => "TRAIL",
        };
        self.signal.clear();
        let _ = write!(self.signal, "{word} {} {bps:+}bps", inst.symbol);
    }
}

impl Strategy for ExitManager {
    fn name(&self) -> &str {
        NAME
    }

    fn instrument(&self) -> Option<InstrumentId> {
        None
    }

    fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
        if !self.still_quiet(ctx, inst) {
            self.check(ctx, inst, out);
        }
    }

    /// An exit closed: if a position remains, the next book update may fire again.
    fn on_order_closed(&mut self, _ctx: &StrategyCtx<'_>, order: &Order, _out: &mut Vec<Intent>) {
        if let Some(w) = self.watches.get_mut(order.req.spec.instrument.index()) {
            w.fired_at = None;
        }
    }

    fn on_disable(&mut self) {
        for w in &mut self.watches {
            w.reset(0);
        }
    }

    /// The position's direction and best mark per instrument: new parameters must not
    /// restart the trailing stop from the mark of the moment (a peak 15 of 20 bps behind
    /// would be forgotten, and below breakeven no trailing stop at all).
    fn hand_over(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        let kept: Vec<(i64, Option<Price>)> =
            self.watches.iter().map(|w| (w.dir, w.peak)).collect();
        Some(Box::new(kept))
    }

    /// Thresholds and the trail are computed again at this self's distances.
    fn take_over(&mut self, state: Box<dyn std::any::Any + Send>) {
        let Ok(kept) = state.downcast::<Vec<(i64, Option<Price>)>>() else {
            return;
        };
        if kept.len() > self.watches.len() {
            self.watches.resize(kept.len(), Watch::default());
        }
        for (w, (dir, peak)) in self.watches.iter_mut().zip(kept.iter()) {
            w.reset(*dir);
            w.peak = *peak;
        }
    }

    fn last_signal(&self) -> Option<&str> {
        if self.signal.is_empty() {
            None
        } else {
            Some(&self.signal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::test_util::{World, btc, eth, placed};
    use rust_decimal_macros::dec;

    fn params() -> ExitParams {
        ExitParams {
            enabled: true,
            stop_loss_bps: dec!(50),
            take_profit_bps: dec!(100),
            trailing_bps: dec!(30),
            retry_ms: 1_000,
        }
    }

    fn world() -> World {
        World::new(vec![btc(0), eth(1)])
    }

    fn exit(p: &ExitParams) -> ExitManager {
        ExitManager::new(p, &world().instruments)
    }

    /// Book with best bid `bid` and best ask `bid + 1` tick.
    fn at(w: &mut World, i: usize, bid: i64) {
        w.book(i, &[(bid, 10)], &[(bid + 1, 10)]);
    }

    fn run(s: &mut ExitManager, w: &World, i: u16, now_ms: i64) -> Vec<Intent> {
        let mut out = Vec::new();
        s.on_book(&w.ctx(now_ms, 2), InstrumentId(i), &mut out);
        out
    }

    fn only_exit(out: &[Intent]) -> OrderIntent {
        let p = placed(out);
        assert_eq!(p.len(), 1, "{out:?}");
        let o = p[0].clone();
        assert_eq!(o.spec.kind, OrderKind::Market);
        assert_eq!(o.spec.tif, TimeInForce::Ioc);
        assert_eq!(o.spec.price, None);
        assert!(o.spec.reduce_only);
        o
    }

    #[test]
    fn stop_loss_long() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.0127), dec!(60000));
        // -50 bps of 60000 = 59700.0. Bid 59700.1: not yet.
        at(&mut w, 0, 597_001);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        at(&mut w, 0, 597_000);
        let o = only_exit(&run(&mut s, &w, 0, 1_001));
        assert_eq!(o.tag, OrderTag::StopLoss);
        assert_eq!(o.spec.side, Side::Sell);
        assert_eq!(o.spec.qty, crate::domain::Qty(12), "floored to lots");
        assert_eq!(o.spec.instrument, InstrumentId(0));
        assert_eq!(s.last_signal(), Some("STOP BTC-USD -50bps"));
    }

    #[test]
    fn after_a_quiet_check_fires_when_only_the_average_price_moves() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        // Bid 59800.0: -33 bps of 60000, no exit; the same book again: none.
        at(&mut w, 0, 598_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        assert!(run(&mut s, &w, 0, 1_001).is_empty());
        // Bought more higher up: average 60200, the same bid is -66 bps.
        w.position(0, dec!(0.02), dec!(60200));
        let o = only_exit(&run(&mut s, &w, 0, 1_002));
        assert_eq!(
            (o.tag, o.spec.qty),
            (OrderTag::StopLoss, crate::domain::Qty(20))
        );
    }

    #[test]
    fn after_a_quiet_check_fires_when_only_the_direction_flips() {
        let mut s = exit(&ExitParams {
            trailing_bps: dec!(0),
            ..params()
        });
        let mut w = world();
        // Long at 60600: bid 59400.0 (ask 59400.1) is -198 bps: stop. Short at 60000 the
        // ask is +99 bps of profit: nothing; long at 60000, -100 bps: stop.
        at(&mut w, 0, 594_000);
        w.position(0, dec!(-0.01), dec!(60000));
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        assert!(run(&mut s, &w, 0, 1_001).is_empty());
        w.position(0, dec!(0.01), dec!(60000));
        let o = only_exit(&run(&mut s, &w, 0, 1_002));
        assert_eq!((o.tag, o.spec.side), (OrderTag::StopLoss, Side::Sell));
    }

    #[test]
    fn after_a_quiet_check_the_same_average_written_another_way_is_still_quiet() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        at(&mut w, 0, 598_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        w.position(0, dec!(0.01), dec!(60000.00));
        assert!(run(&mut s, &w, 0, 1_001).is_empty());
        at(&mut w, 0, 597_000);
        assert_eq!(
            only_exit(&run(&mut s, &w, 0, 1_002)).tag,
            OrderTag::StopLoss
        );
    }

    #[test]
    fn stop_loss_short_uses_the_ask() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(1, dec!(-2), dec!(3000));
        // +50 bps of 3000 = 3015.00: ask 3015.00 (bid 3014.99) triggers.
        at(&mut w, 1, 301_498);
        assert!(run(&mut s, &w, 1, 1_000).is_empty());
        at(&mut w, 1, 301_499);
        let o = only_exit(&run(&mut s, &w, 1, 1_001));
        assert_eq!(
            (o.tag, o.spec.side, o.spec.qty),
            (OrderTag::StopLoss, Side::Buy, crate::domain::Qty(200))
        );
        assert_eq!(s.last_signal(), Some("STOP ETH-USD -50bps"));
    }

    #[test]
    fn take_profit() {
        let mut s = exit(&ExitParams {
            trailing_bps: dec!(0),
            ..params()
        });
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        // +100 bps = 60600.0.
        at(&mut w, 0, 605_999);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        at(&mut w, 0, 606_000);
        let o = only_exit(&run(&mut s, &w, 0, 1_001));
        assert_eq!(
            (o.tag, o.spec.side, o.spec.qty),
            (OrderTag::TakeProfit, Side::Sell, crate::domain::Qty(10))
        );
        assert_eq!(s.last_signal(), Some("TAKE BTC-USD +100bps"));

        // Short: the ask must reach 59400.0.
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(-0.01), dec!(60000));
        at(&mut w, 0, 594_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty(), "ask 59400.1");
        at(&mut w, 0, 593_999);
        let o = only_exit(&run(&mut s, &w, 0, 1_001));
        assert_eq!((o.tag, o.spec.side), (OrderTag::TakeProfit, Side::Buy));
    }

    #[test]
    fn trailing_stop_after_a_profitable_peak() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        at(&mut w, 0, 600_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        // Peak 60300.0 (+50 bps, below take-profit).
        at(&mut w, 0, 603_000);
        assert!(run(&mut s, &w, 0, 1_001).is_empty());
        // 30 bps below 60300.0 is 60119.1: 60119.2 holds, 60119.1 triggers.
        at(&mut w, 0, 601_192);
        assert!(run(&mut s, &w, 0, 1_002).is_empty());
        at(&mut w, 0, 601_191);
        let o = only_exit(&run(&mut s, &w, 0, 1_003));
        assert_eq!(
            (o.tag, o.spec.side, o.spec.qty),
            (OrderTag::TrailingStop, Side::Sell, crate::domain::Qty(10))
        );
        assert_eq!(s.last_signal(), Some("TRAIL BTC-USD +20bps"));
    }

    #[test]
    fn new_parameters_keep_the_peak_the_trailing_stop_follows() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        at(&mut w, 0, 600_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        // Peak 60300.0, then the mark falls most of the way to the 30 bps trail.
        at(&mut w, 0, 603_000);
        assert!(run(&mut s, &w, 0, 1_001).is_empty());
        at(&mut w, 0, 601_500);
        assert!(run(&mut s, &w, 0, 1_002).is_empty());
        // Restarted with another retry: the peak is kept, the trail at the new distance.
        let mut fresh = exit(&ExitParams {
            retry_ms: 9_000,
            ..params()
        });
        let kept = s.hand_over().expect("state");
        s.on_disable();
        fresh.take_over(kept);
        at(&mut w, 0, 601_191);
        let o = only_exit(&run(&mut fresh, &w, 0, 1_003));
        assert_eq!(o.tag, OrderTag::TrailingStop);
        // Without the hand-over the new self starts its peak here and nothing fires.
        let mut forgetful = exit(&params());
        assert!(run(&mut forgetful, &w, 0, 1_004).is_empty());
    }

    #[test]
    fn trailing_needs_the_peak_in_profit_and_resets_on_flip() {
        let mut s = exit(&ExitParams {
            stop_loss_bps: dec!(0),
            ..params()
        });
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        // The best mark never beat the entry: a 40 bps fall is no trailing stop.
        at(&mut w, 0, 599_990);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        at(&mut w, 0, 597_600);
        assert!(run(&mut s, &w, 0, 1_001).is_empty());

        // Peak in profit as a long, then the position flips short at 60300: the old peak
        // is forgotten (as a short, 60300 ask is no retrace from anything).
        at(&mut w, 0, 603_000);
        assert!(run(&mut s, &w, 0, 1_002).is_empty());
        w.position(0, dec!(-0.01), dec!(60300));
        at(&mut w, 0, 602_999);
        assert!(run(&mut s, &w, 0, 1_003).is_empty());
        // Short peak 60200.0 (ask), +16.6 bps; 30 bps above it is 60380.6.
        at(&mut w, 0, 601_999);
        assert!(run(&mut s, &w, 0, 1_004).is_empty());
        at(&mut w, 0, 603_805);
        let o = only_exit(&run(&mut s, &w, 0, 1_005));
        assert_eq!((o.tag, o.spec.side), (OrderTag::TrailingStop, Side::Buy));
    }

    #[test]
    fn no_second_exit_while_one_is_open_and_again_after_a_partial() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        at(&mut w, 0, 590_000);
        let out = run(&mut s, &w, 0, 1_000);
        assert_eq!(only_exit(&out).spec.qty, crate::domain::Qty(10));
        let ids = w.apply(2, &out, 1_000);
        // Open exit: nothing more, however long it takes.
        for t in 1..5 {
            assert!(run(&mut s, &w, 0, 1_000 + t * 2_000).is_empty());
        }
        // It filled 0.004 and the rest expired: 0.006 remains, still losing.
        let closed = w.close(&ids[0]);
        w.position(0, dec!(0.006), dec!(60000));
        let mut out = Vec::new();
        s.on_order_closed(&w.ctx(9_000, 2), &closed, &mut out);
        assert!(out.is_empty());
        let o = only_exit(&run(&mut s, &w, 0, 9_001));
        assert_eq!(
            (o.tag, o.spec.qty),
            (OrderTag::StopLoss, crate::domain::Qty(6))
        );
        // Flat: nothing, whatever the mark.
        let ids = w.apply(2, &[Intent::Place(o)], 9_001);
        let closed = w.close(&ids[0]);
        w.position(0, dec!(0), dec!(0));
        s.on_order_closed(&w.ctx(9_002, 2), &closed, &mut Vec::new());
        assert!(run(&mut s, &w, 0, 9_003).is_empty());
    }

    #[test]
    fn an_exit_that_never_became_an_order_is_retried_after_retry_ms() {
        let mut s = exit(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        at(&mut w, 0, 590_000);
        assert_eq!(placed(&run(&mut s, &w, 0, 1_000)).len(), 1);
        // Not applied (refused upstream, no close reported).
        assert!(run(&mut s, &w, 0, 1_999).is_empty());
        assert_eq!(placed(&run(&mut s, &w, 0, 2_000)).len(), 1);
    }

    #[test]
    fn instruments_are_independent_and_flat_means_nothing() {
        let mut s = exit(&params());
        let mut w = world();
        at(&mut w, 0, 500_000);
        at(&mut w, 1, 100_000);
        assert!(run(&mut s, &w, 0, 1_000).is_empty());
        assert!(run(&mut s, &w, 1, 1_000).is_empty());
        w.position(1, dec!(1), dec!(3000));
        // An open exit on BTC does not block ETH.
        w.position(0, dec!(0.01), dec!(60000));
        let ids = w.apply(2, &run(&mut s, &w, 0, 1_001), 1_001);
        assert_eq!(ids.len(), 1);
        let o = only_exit(&run(&mut s, &w, 1, 1_002));
        assert_eq!(
            (o.spec.instrument, o.spec.qty),
            (InstrumentId(1), crate::domain::Qty(100))
        );
        assert_eq!(s.last_signal(), Some("STOP ETH-USD -6667bps"));
    }

    #[test]
    fn all_disabled_does_nothing() {
        let mut s = exit(&ExitParams {
            stop_loss_bps: dec!(0),
            take_profit_bps: dec!(0),
            trailing_bps: dec!(0),
            ..params()
        });
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        for (t, bid) in [(1, 500_000), (2, 700_000), (3, 500_000)] {
            at(&mut w, 0, bid);
            assert!(run(&mut s, &w, 0, t).is_empty());
        }
    }

    #[test]
    fn refuses_nonsense() {
        for (p, key) in [
            (
                ExitParams {
                    stop_loss_bps: dec!(-1),
                    ..params()
                },
                "stop_loss_bps",
            ),
            (
                ExitParams {
                    stop_loss_bps: dec!(10000),
                    ..params()
                },
                "stop_loss_bps",
            ),
            (
                ExitParams {
                    take_profit_bps: dec!(-1),
                    ..params()
                },
                "take_profit_bps",
            ),
            (
                ExitParams {
                    trailing_bps: dec!(10000),
                    ..params()
                },
                "trailing_bps",
            ),
            (
                ExitParams {
                    retry_ms: 0,
                    ..params()
                },
                "retry_ms",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().key, key);
        }
        assert_eq!(ExitParams::default().validate(), Ok(()));
    }
}
