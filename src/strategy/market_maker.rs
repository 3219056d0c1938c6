//! Strategy 1: a two-sided market maker.
//!
//! Quotes a post-only GTC bid and ask around the mid of one instrument:
//!
//! ```text
//! shift = skew_bps * clamp(inventory / max_inventory, -1, 1)
//! bid   = mid * (1 - (spread_bps/2 + shift) / 10000)   rounded down to the tick
//! ask   = mid * (1 + (spread_bps/2 - shift) / 10000)   rounded up to the tick
//! ```
//!
//! so a long inventory moves both quotes down (sell more readily, buy less readily) and a
//! short one moves them up. The bid is kept strictly below the best ask and the ask strictly
//! above the best bid, so the venue never refuses a quote for crossing (post-only).
//!
//! **Inventory guard.** Inventory is the account's position in the instrument. The worst
//! case exposure on a side is the position plus the remaining size of every own order on
//! that side, including orders whose cancel is still pending (they may fill before the
//! cancel lands). A new quote is sized to what still fits under `max_inventory` (floored to
//! lots; no quote below the instrument's minimum); at or beyond `max_inventory` the side
//! that would add is not quoted and its live quote is cancelled.
//!
//! **Re-quoting.** At most one live quote per side (an order with a pending cancel is not
//! live). A live quote is replaced (`Cancel` then `Place`) only when the desired price is
//! at least `requote_ticks` away from it, and a side is (re)placed at most once every
//! `min_requote_ms`. Near `max_inventory` the replacement can be smaller than `size` for
//! a moment, because the quote being cancelled still counts until the venue confirms.
//!
//! **Trading state.** New quotes and re-quotes are only sent while the account is
//! `Active`; in any other state the quotes already resting stay (the kill switch cancels
//! them), and inventory-guard cancels still go out. This avoids queueing stale quotes
//! behind a pause and spamming refusals while reducing or halted.
//!
//! **Cost.** Each call reads the top of the book. When the touch, the inventory, the trading
//! state and the open orders are what the last call read and that call sent nothing (and
//! held no side back for `min_requote_ms`), that is all: the answer is nothing again.
//! Otherwise it scans this strategy's open orders; the desired prices are recomputed (a few
//! `Decimal` operations) only when the best bid, best ask or inventory changed. Nothing is
//! allocated unless an order is sent.

use crate::domain::OrderSpec;

use super::{
    Intent, OrderIntent, Strategy, StrategyCtx, find_instrument, min_lots, ms_to_nanos, order_lots,
    require_non_negative, require_positive,
};
use crate::domain::Invalid;
use crate::domain::{
    Instrument, InstrumentId, Order, OrderKind, OrderTag, Price, Qty, Side, TimeInForce, Timestamp,
    TradingState,
};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// The market maker's name in the console, the store and the audit.
pub const NAME: &str = "market-maker";

/// `[strategies.market_maker]` in config.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketMakerParams {
    /// Switched on at start-up (key 1 toggles it in the console). Default: true.
    pub enabled: bool,
    /// Symbol of the instrument to quote, exactly as the venue lists it. Default: "BTC-USD".
    pub symbol: String,
    /// Full quoted spread in basis points of the mid (each side sits half of it away from
    /// the mid before skew). Must be > 0. Default: 1.5.
    pub spread_bps: Decimal,
    /// Size of each quote in base units (e.g. BTC), floored to the lot size; must be at
    /// least the instrument's minimum order size. Default: 0.001.
    pub size: Decimal,
    /// Inventory skew in basis points: both quotes move this far against the inventory
    /// when it equals `max_inventory` (proportionally less below it, capped at it).
    /// Long => quotes lower, short => quotes higher. Default: 2.
    pub skew_bps: Decimal,
    /// Largest inventory in base units (either direction). At or beyond it the side that
    /// would add is not quoted; below it quotes are sized to fit. Must be > 0. Default: 0.01.
    pub max_inventory: Decimal,
    /// Replace a resting quote only when the desired price moved at least this many ticks
    /// away from it. At least 1. Default: 2.
    pub requote_ticks: u32,
    /// Minimum engine time in milliseconds between two placements on the same side
    /// (new quote or replacement). Default: 100.
    pub min_requote_ms: u64,
}

impl Default for MarketMakerParams {
    fn default() -> Self {
        MarketMakerParams {
            enabled: true,
            symbol: "BTC-USD".to_string(),
            spread_bps: Decimal::new(15, 1),
            size: Decimal::new(1, 3),
            skew_bps: Decimal::from(2),
            max_inventory: Decimal::new(1, 2),
            requote_ticks: 2,
            min_requote_ms: 100,
        }
    }
}

impl MarketMakerParams {
    /// Checks the values that need no instrument; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.symbol.trim().is_empty() {
            return Err(Invalid::new("symbol", "must not be empty"));
        }
        require_positive("spread_bps", self.spread_bps)?;
        require_non_negative("skew_bps", self.skew_bps)?;
        if self.spread_bps / Decimal::TWO + self.skew_bps >= BPS {
            return Err(Invalid::new(
                "spread_bps",
                "spread_bps/2 + skew_bps must be below 10000 (quotes must stay above zero)",
            ));
        }
        require_positive("size", self.size)?;
        require_positive("max_inventory", self.max_inventory)?;
        if self.requote_ticks == 0 {
            return Err(Invalid::new("requote_ticks", "must be at least 1"));
        }
        Ok(())
    }
}

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Index of a side in per-side arrays.
fn ix(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

const SIDES: [Side; 2] = [Side::Buy, Side::Sell];

/// The inputs the desired quotes were last computed from, and the result.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QuoteCache {
    best_bid: Price,
    best_ask: Price,
    inventory: Decimal,
    /// Desired bid and ask; `None` when the computed price is not positive.
    quotes: [Option<Price>; 2],
    /// Per side (bid, ask): the exposure that side adds to is below `max_inventory`.
    under_max: [bool; 2],
}

/// What an evaluation that sent nothing read: the touch, the inventory (its exact bits),
/// the trading state and the version of the open orders. Read the same again, the
/// evaluation sends nothing again (nothing else it reads can have changed: its own
/// placement times change only when it sends), so it is skipped without walking the orders.
/// A side held back by `min_requote_ms` depends on the time too: then the answer holds
/// only until the first held-back side's interval has passed (`until`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct QuietInputs {
    best_bid: Price,
    best_ask: Price,
    inventory: [u8; 16],
    state: TradingState,
    orders: u64,
}

/// The last quiet evaluation's inputs and until when its answer holds.
#[derive(Clone, Copy, Debug)]
struct Quiet {
    inputs: QuietInputs,
    /// Engine time (ns) from which a side held back may be placed; `i64::MAX`: none was.
    until: i64,
}

/// Strategy 1. See the module docs.
#[derive(Debug)]
pub struct MarketMaker {
    inst: InstrumentId,
    symbol: String,
    qty_precision: usize,
    price_precision: usize,
    tick_size: Decimal,
    lot_size: Decimal,
    size: Qty,
    min_qty: Qty,
    max_inventory: Decimal,
    half_spread_bps: Decimal,
    skew_bps: Decimal,
    requote_ticks: i64,
    min_requote_ns: i64,
    cache: Option<QuoteCache>,
    /// The last evaluation's inputs, when it sent nothing (see [`QuietInputs`]).
    quiet: Option<Quiet>,
    /// When each side was last placed.
    last_place: [Option<Timestamp>; 2],
    signal: String,
}

impl MarketMaker {
    /// Builds the strategy for the instrument named in `params` (validated first).
    pub fn new(params: &MarketMakerParams, instruments: &[Instrument]) -> Result<Self, Invalid> {
        params.validate()?;
        let inst = find_instrument(instruments, &params.symbol)?;
        let size = order_lots(inst, params.size, "size")?;
        Ok(MarketMaker {
            inst: inst.id,
            symbol: inst.symbol.clone(),
            qty_precision: inst.qty_precision as usize,
            price_precision: inst.price_precision as usize,
            tick_size: inst.tick_size,
            lot_size: inst.lot_size,
            size,
            min_qty: min_lots(inst),
            max_inventory: params.max_inventory,
            half_spread_bps: params.spread_bps / Decimal::TWO,
            skew_bps: params.skew_bps,
            requote_ticks: i64::from(params.requote_ticks),
            min_requote_ns: ms_to_nanos(params.min_requote_ms),
            cache: None,
            quiet: None,
            last_place: [None; 2],
            signal: String::with_capacity(64),
        })
    }

    /// The symbol quoted.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Desired bid and ask for this top of book and inventory, and per side whether the
    /// exposure it adds to is below `max_inventory` (cached: most book updates change
    /// neither the touch nor the inventory, and then no `Decimal` arithmetic runs).
    fn desired(
        &mut self,
        best_bid: Price,
        best_ask: Price,
        inventory: Decimal,
    ) -> ([Option<Price>; 2], [bool; 2]) {
        if let Some(c) = &self.cache
            && c.best_bid == best_bid
            && c.best_ask == best_ask
            && c.inventory == inventory
        {
            return (c.quotes, c.under_max);
        }
        let under_max = [
            inventory < self.max_inventory,
            -inventory < self.max_inventory,
        ];
        let ratio = (inventory / self.max_inventory).clamp(Decimal::NEGATIVE_ONE, Decimal::ONE);
        let shift = self.skew_bps * ratio;
        // Twice the mid in ticks, exact; the factors carry the halving.
        let mid_x2 = Decimal::from(best_bid.0) + Decimal::from(best_ask.0);
        let bid_f = (BPS - self.half_spread_bps - shift) / (BPS * Decimal::TWO);
        let ask_f = (BPS + self.half_spread_bps - shift) / (BPS * Decimal::TWO);
        let bid = (mid_x2 * bid_f).floor();
        let ask = (mid_x2 * ask_f).ceil();
        let bid = i64::try_from(bid)
            .ok()
            .map(|b| b.min(best_ask.0 - 1))
            .filter(|&b| b > 0)
            .map(Price);
        let ask = i64::try_from(ask)
            .ok()
            .map(|a| a.max(best_bid.0 + 1))
            .filter(|&a| a > 0)
            .map(Price);
        let quotes = [bid, ask];
        self.cache = Some(QuoteCache {
            best_bid,
            best_ask,
            inventory,
            quotes,
            under_max,
        });
        (quotes, under_max)
    }

    /// The inputs as `ctx` has them now; `None` without a two-sided, uncrossed book.
    #[inline]
    fn inputs(&self, ctx: &StrategyCtx<'_>) -> Option<QuietInputs> {
        let book = ctx.book(self.inst);
        let (Some(bb), Some(ba)) = (book.best_bid(), book.best_ask()) else {
            return None;
        };
        Some(QuietInputs {
            best_bid: bb.price,
            best_ask: ba.price,
            inventory: ctx.position(self.inst).qty.serialize(),
            state: ctx.trading_state,
            orders: ctx.open_orders.version(),
        })
    }

    /// Whether the last evaluation sent nothing and would send nothing now: the same
    /// inputs, and no side it held back may be placed yet.
    #[inline]
    fn still_quiet(&self, ctx: &StrategyCtx<'_>) -> bool {
        match &self.quiet {
            Some(q) => ctx.now.0 < q.until && self.inputs(ctx) == Some(q.inputs),
            None => false,
        }
    }

    fn throttled(&self, side: Side, now: Timestamp) -> bool {
        match self.last_place[ix(side)] {
            Some(t) => now.0.saturating_sub(t.0) < self.min_requote_ns,
            None => false,
        }
    }

    /// The whole decision, shared by book updates and the timer (which skip it while
    /// [`Self::still_quiet`]).
    #[inline(never)]
    fn evaluate(&mut self, ctx: &StrategyCtx<'_>, out: &mut Vec<Intent>) {
        self.quiet = None;
        let Some(inputs) = self.inputs(ctx) else {
            return;
        };
        let (bb, ba) = (inputs.best_bid, inputs.best_ask);
        if bb >= ba {
            // Crossed or locked book: not a book to quote against.
            return;
        }
        let inventory = ctx.position(self.inst).qty;
        let (quotes, under_max) = self.desired(bb, ba, inventory);

        // Own orders: the live quote per side, and the remaining size per side including
        // orders with a pending cancel.
        let mut live: [Option<&Order>; 2] = [None, None];
        let mut pending = [Qty::ZERO; 2];
        let before = out.len();
        for o in ctx.own_orders(self.inst) {
            let s = ix(o.req.spec.side);
            pending[s] += o.remaining();
            if o.cancel_pending {
                continue;
            }
            if live[s].is_none() {
                live[s] = Some(o);
            } else {
                // More than one live quote on a side (should not happen): keep the first.
                out.push(Intent::Cancel(o.id().clone()));
            }
        }

        let active = ctx.trading_state == TradingState::Active;
        // The earliest time a side held back by min_requote_ms may be placed.
        let mut until = i64::MAX;
        let mut shown: [Option<Price>; 2] = [None, None];
        for side in SIDES {
            let s = ix(side);
            // Exposure in the direction this side adds to below max_inventory (cached
            // with the quotes).
            let Some(want) = quotes[s].filter(|_| under_max[s]) else {
                // At or beyond max inventory (or no sensible price): stop quoting this side.
                if let Some(o) = live[s] {
                    out.push(Intent::Cancel(o.id().clone()));
                }
                continue;
            };
            shown[s] = Some(want);
            if !active {
                continue;
            }
            let replace = match live[s] {
                Some(o) => {
                    let resting = o.req.spec.price.unwrap_or(want);
                    if (resting.0 - want.0).abs() < self.requote_ticks {
                        continue;
                    }
                    Some(o)
                }
                None => None,
            };
            if self.throttled(side, ctx.now) {
                if let Some(t) = self.last_place[s] {
                    until = until.min(t.0.saturating_add(self.min_requote_ns));
                }
                continue;
            }
            // Room under max_inventory, counting every own order on this side (the one
            // being replaced included: it may still fill before the cancel lands).
            // Exposure: the inventory in the direction this side adds to.
            let exposure = match side {
                Side::Buy => inventory,
                Side::Sell => -inventory,
            };
            let committed = exposure + Decimal::from(pending[s].0) * self.lot_size;
            let room = self.max_inventory - committed;
            let room_lots = if room > Decimal::ZERO {
                Qty(i64::try_from((room / self.lot_size).trunc()).unwrap_or(i64::MAX))
            } else {
                Qty::ZERO
            };
            let qty = Qty(self.size.0.min(room_lots.0));
            if let Some(o) = replace {
                out.push(Intent::Cancel(o.id().clone()));
            }
            if qty >= self.min_qty {
                out.push(Intent::Place(OrderIntent {
                    spec: OrderSpec {
                        instrument: self.inst,
                        side,
                        kind: OrderKind::Limit,
                        price: Some(want),
                        qty,
                        tif: TimeInForce::PostOnly,
                        reduce_only: false,
                    },
                    tag: OrderTag::Strategy,
                    risk: None,
                }));
                self.last_place[s] = Some(ctx.now);
            }
        }
        if out.len() > before {
            self.write_signal(shown, inventory);
        } else {
            self.quiet = Some(Quiet { inputs, until });
        }
    }

    fn write_signal(&mut self, shown: [Option<Price>; 2], inventory: Decimal) {
        self.signal.clear();
        self.signal.push_str("quote ");
        self.push_price(shown[0]);
        self.signal.push_str(" / ");
        self.push_price(shown[1]);
        let _ = write!(self.signal, " (inv {:+.*})", self.qty_precision, inventory);
    }

    fn push_price(&mut self, p: Option<Price>) {
        match p {
            Some(p) => {
                let _ = write!(
                    self.signal,
                    "{:.*}",
                    self.price_precision,
                    Decimal::from(p.0) * self.tick_size
                );
            }
            None => self.signal.push('-'),
        }
    }
}

impl Strategy for MarketMaker {
    fn name(&self) -> &str {
        NAME
    }

    fn instrument(&self) -> Option<InstrumentId> {
        Some(self.inst)
    }

    fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
        if inst == self.inst && !self.still_quiet(ctx) {
            self.evaluate(ctx, out);
        }
    }

    /// Re-quotes a side whose placement was held back by `min_requote_ms` even when the
    /// book is quiet.
    fn on_timer(&mut self, ctx: &StrategyCtx<'_>, out: &mut Vec<Intent>) {
        if !self.still_quiet(ctx) {
            self.evaluate(ctx, out);
        }
    }

    fn on_disable(&mut self) {
        self.cache = None;
        self.quiet = None;
        self.last_place = [None; 2];
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
    use crate::strategy::test_util::{World, btc, placed};
    use rust_decimal_macros::dec;

    fn params() -> MarketMakerParams {
        MarketMakerParams {
            enabled: true,
            symbol: "BTC-USD".into(),
            spread_bps: dec!(2),
            size: dec!(0.004),
            skew_bps: dec!(1),
            max_inventory: dec!(0.01),
            requote_ticks: 3,
            min_requote_ms: 100,
        }
    }

    fn mm(p: &MarketMakerParams) -> MarketMaker {
        MarketMaker::new(p, &[btc(0)]).unwrap()
    }

    /// Tick 0.1, lot 0.001. Best bid 59999.0, best ask 60001.0: mid 60000.0.
    fn world() -> World {
        let mut w = World::new(vec![btc(0)]);
        w.book(0, &[(599_990, 5)], &[(600_010, 5)]);
        w
    }

    fn run(s: &mut MarketMaker, w: &World, now_ms: i64) -> Vec<Intent> {
        let mut out = Vec::new();
        s.on_book(&w.ctx(now_ms, 0), InstrumentId(0), &mut out);
        out
    }

    #[test]
    fn symmetric_quotes_at_the_right_ticks() {
        let mut s = mm(&params());
        let w = world();
        let out = run(&mut s, &w, 1_000);
        // Half spread 1 bp of 60000 = 6.0 => 59994.0 / 60006.0.
        let p = placed(&out);
        assert_eq!(p.len(), 2, "{out:?}");
        assert_eq!(p[0].spec.side, Side::Buy);
        assert_eq!(p[0].spec.price, Some(Price(599_940)));
        assert_eq!(p[1].spec.side, Side::Sell);
        assert_eq!(p[1].spec.price, Some(Price(600_060)));
        for o in &p {
            assert_eq!(o.spec.qty, Qty(4));
            assert_eq!(o.spec.tif, TimeInForce::PostOnly);
            assert_eq!(o.spec.kind, OrderKind::Limit);
            assert!(!o.spec.reduce_only);
            assert_eq!(o.tag, OrderTag::Strategy);
        }
        assert_eq!(
            s.last_signal(),
            Some("quote 59994.0 / 60006.0 (inv +0.000)")
        );
    }

    #[test]
    fn bid_rounds_down_and_ask_rounds_up() {
        let mut s = mm(&MarketMakerParams {
            spread_bps: dec!(1.5),
            ..params()
        });
        // Mid 60000.05 (half a tick off the grid), half spread 0.75 bp.
        let mut w = world();
        w.book(0, &[(599_990, 5)], &[(600_011, 5)]);
        let p = placed(&run(&mut s, &w, 1_000));
        // mid 60000.05; bid = 60000.05 * (1 - 0.000075) = 59995.5499... -> 59995.5
        // ask = 60000.05 * 1.000075 = 60004.5500... -> 60004.6
        assert_eq!(p[0].spec.price, Some(Price(599_955)));
        assert_eq!(p[1].spec.price, Some(Price(600_046)));
    }

    #[test]
    fn skews_against_inventory() {
        let mut s = mm(&params());
        let mut w = world();
        w.position(0, dec!(0.005), dec!(60000));
        let p = placed(&run(&mut s, &w, 1_000));
        // Half of max inventory => shift 0.5 bp = 3.0 down on both sides.
        assert_eq!(p[0].spec.price, Some(Price(599_910)));
        assert_eq!(p[1].spec.price, Some(Price(600_030)));
        // 0.005 of room left on the bid: the full 0.004 fits.
        assert_eq!(p[0].spec.qty, Qty(4));
        assert_eq!(
            s.last_signal(),
            Some("quote 59991.0 / 60003.0 (inv +0.005)")
        );

        let mut s = mm(&params());
        w.position(0, dec!(-0.01), dec!(60000));
        let p = placed(&run(&mut s, &w, 1_000));
        // Short at max: the ask would add to the short, so only the bid, shifted up by the
        // full 1 bp (60000.0, below the best ask).
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].spec.side, Side::Buy);
        assert_eq!(p[0].spec.price, Some(Price(600_000)));
    }

    #[test]
    fn no_quote_on_the_adding_side_at_max_inventory() {
        let mut s = mm(&params());
        let mut w = world();
        w.position(0, dec!(0.01), dec!(60000));
        let out = run(&mut s, &w, 1_000);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        assert_eq!(p[0].spec.side, Side::Sell);
        assert_eq!(s.last_signal(), Some("quote - / 60000.0 (inv +0.010)"));

        // A live bid is cancelled once inventory reaches the limit.
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        let ids = w.apply(0, &out, 1_000);
        w.position(0, dec!(0.012), dec!(60000));
        let out = run(&mut s, &w, 1_010);
        assert!(out.contains(&Intent::Cancel(ids[0].clone())), "{out:?}");
        assert!(placed(&out).iter().all(|o| o.spec.side == Side::Sell));
    }

    #[test]
    fn quote_sized_to_fit_including_pending_cancels() {
        let mut s = mm(&params());
        let mut w = world();
        w.position(0, dec!(0.004), dec!(60000));
        let out = run(&mut s, &w, 1_000);
        let ids = w.apply(0, &out, 1_000);
        // The bid (0.004) rests; its cancel is pending; the book moves far.
        w.cancel_pending(&ids[0]);
        w.book(0, &[(600_990, 5)], &[(601_010, 5)]);
        let out = run(&mut s, &w, 2_000);
        let bids: Vec<_> = placed(&out)
            .into_iter()
            .filter(|o| o.spec.side == Side::Buy)
            .collect();
        // 0.01 - 0.004 (position) - 0.004 (pending cancel) = 0.002.
        assert_eq!(bids.len(), 1, "{out:?}");
        assert_eq!(bids[0].spec.qty, Qty(2));
    }

    #[test]
    fn no_requote_for_a_small_move_cancel_replace_for_a_big_one() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        let ids = w.apply(0, &out, 1_000);
        assert_eq!(ids.len(), 2);
        // Same book: nothing.
        assert!(run(&mut s, &w, 2_000).is_empty());
        // Mid up 0.1: desired 59994.0 / 60006.2, 0 and 2 ticks away (< 3): nothing.
        w.book(0, &[(599_990, 5)], &[(600_012, 5)]);
        assert!(run(&mut s, &w, 3_000).is_empty());
        // Mid up 0.5: desired 59994.4 / 60006.6, 4 and 6 ticks away: cancel then place.
        w.book(0, &[(599_995, 5)], &[(600_015, 5)]);
        let out = run(&mut s, &w, 4_000);
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0], Intent::Cancel(ids[0].clone()));
        assert!(
            matches!(&out[1], Intent::Place(o) if o.spec.side == Side::Buy && o.spec.price == Some(Price(599_944)))
        );
        assert_eq!(out[2], Intent::Cancel(ids[1].clone()));
        assert!(
            matches!(&out[3], Intent::Place(o) if o.spec.side == Side::Sell && o.spec.price == Some(Price(600_066)))
        );
    }

    #[test]
    fn min_requote_interval_then_timer() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        w.apply(0, &out, 1_000);
        w.book(0, &[(599_995, 5)], &[(600_015, 5)]);
        // 50 ms later: held back by min_requote_ms = 100.
        assert!(run(&mut s, &w, 1_050).is_empty());
        // The timer re-quotes once the interval passed, without a book update.
        let mut out = Vec::new();
        s.on_timer(&w.ctx(1_100, 0), &mut out);
        assert_eq!(placed(&out).len(), 2, "{out:?}");
    }

    #[test]
    fn after_a_quiet_call_reacts_when_only_its_orders_change() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        let ids = w.apply(0, &out, 1_000);
        assert!(run(&mut s, &w, 2_000).is_empty());
        // The operator cancels the bid (pending): same book, inventory and state.
        w.cancel_pending(&ids[0]);
        let out = run(&mut s, &w, 3_000);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        assert_eq!(p[0].spec.side, Side::Buy);
        assert_eq!(p[0].spec.price, Some(Price(599_940)));
        w.apply(0, &out, 3_000);
        assert!(run(&mut s, &w, 4_000).is_empty());
        // The ask leaves the open orders (cancelled by the venue): it is placed again.
        w.close(&ids[1]);
        let out = run(&mut s, &w, 5_000);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        assert_eq!(p[0].spec.side, Side::Sell);
        assert_eq!(p[0].spec.price, Some(Price(600_060)));
    }

    #[test]
    fn after_a_quiet_call_reacts_when_only_the_inventory_changes() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        let ids = w.apply(0, &out, 1_000);
        assert!(run(&mut s, &w, 2_000).is_empty());
        // Half of max inventory: both quotes 3.0 lower, 30 ticks away: replaced.
        w.position(0, dec!(0.005), dec!(60000));
        let out = run(&mut s, &w, 3_000);
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0], Intent::Cancel(ids[0].clone()));
        assert!(
            matches!(&out[1], Intent::Place(o) if o.spec.price == Some(Price(599_910)) && o.spec.qty == Qty(1))
        );
        assert_eq!(out[2], Intent::Cancel(ids[1].clone()));
        assert!(matches!(&out[3], Intent::Place(o) if o.spec.price == Some(Price(600_030))));
        // The same value written another way (scale 4) is the same inventory: nothing.
        w.apply(0, &out, 3_000);
        assert!(run(&mut s, &w, 4_000).is_empty());
        w.position(0, dec!(0.0050), dec!(60000));
        assert!(run(&mut s, &w, 5_000).is_empty());
    }

    #[test]
    fn after_a_quiet_call_reacts_when_only_the_trading_state_changes() {
        let mut s = mm(&params());
        let mut w = world();
        w.state = TradingState::Paused;
        assert!(run(&mut s, &w, 1_000).is_empty());
        assert!(run(&mut s, &w, 2_000).is_empty());
        w.state = TradingState::Active;
        assert_eq!(placed(&run(&mut s, &w, 3_000)).len(), 2);
    }

    #[test]
    fn a_side_held_back_is_placed_once_the_interval_passed_on_the_same_book() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        w.apply(0, &out, 1_000);
        w.book(0, &[(599_995, 5)], &[(600_015, 5)]);
        assert!(run(&mut s, &w, 1_050).is_empty());
        assert!(run(&mut s, &w, 1_099).is_empty());
        // Nothing but the time changed since: a book update re-quotes as the timer would.
        assert_eq!(placed(&run(&mut s, &w, 1_100)).len(), 2);
    }

    #[test]
    fn at_most_one_live_quote_per_side() {
        let mut s = mm(&params());
        let mut w = world();
        let out = run(&mut s, &w, 1_000);
        w.apply(0, &out, 1_000);
        for t in 1..20 {
            let out = run(&mut s, &w, 1_000 + t * 10);
            assert!(out.is_empty(), "{out:?}");
        }
        assert_eq!(w.ctx(0, 0).own_orders(InstrumentId(0)).count(), 2);
    }

    #[test]
    fn never_at_or_through_the_opposite_best() {
        // One-tick market with a wide spread parameter and heavy skew both ways.
        for inv in [dec!(-0.01), dec!(0), dec!(0.01)] {
            let mut s = mm(&MarketMakerParams {
                spread_bps: dec!(0.01),
                skew_bps: dec!(50),
                ..params()
            });
            let mut w = World::new(vec![btc(0)]);
            w.book(0, &[(600_000, 5)], &[(600_001, 5)]);
            w.position(0, inv, dec!(60000));
            for o in placed(&run(&mut s, &w, 1_000)) {
                match o.spec.side {
                    Side::Buy => assert!(o.spec.price.unwrap() < Price(600_001), "{o:?}"),
                    Side::Sell => assert!(o.spec.price.unwrap() > Price(600_000), "{o:?}"),
                }
            }
        }
    }

    #[test]
    fn nothing_on_empty_or_crossed_books_or_when_not_active() {
        let mut s = mm(&params());
        let mut w = World::new(vec![btc(0)]);
        w.book(0, &[(600_000, 5)], &[]);
        assert!(run(&mut s, &w, 1_000).is_empty());
        w.book(0, &[(600_010, 5)], &[(600_000, 5)]);
        assert!(run(&mut s, &w, 1_000).is_empty());
        let mut w = world();
        w.state = TradingState::Paused;
        assert!(run(&mut s, &w, 1_000).is_empty());
        assert_eq!(s.last_signal(), None);
    }

    #[test]
    fn refuses_nonsense() {
        let e = MarketMaker::new(
            &MarketMakerParams {
                size: dec!(0.0001),
                ..params()
            },
            &[btc(0)],
        )
        .unwrap_err();
        assert_eq!(e.key, "size");
        for (p, key) in [
            (
                MarketMakerParams {
                    spread_bps: dec!(0),
                    ..params()
                },
                "spread_bps",
            ),
            (
                MarketMakerParams {
                    skew_bps: dec!(-1),
                    ..params()
                },
                "skew_bps",
            ),
            (
                MarketMakerParams {
                    max_inventory: dec!(0),
                    ..params()
                },
                "max_inventory",
            ),
            (
                MarketMakerParams {
                    requote_ticks: 0,
                    ..params()
                },
                "requote_ticks",
            ),
            (
                MarketMakerParams {
                    spread_bps: dec!(20000),
                    ..params()
                },
                "spread_bps",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().key, key);
        }
        assert_eq!(MarketMakerParams::default().validate(), Ok(()));
    }
}
