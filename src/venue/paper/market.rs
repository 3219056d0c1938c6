//! The matching side of the paper venue: per instrument, the mirror of the market's book,
//! the liquidity we already took from it, our resting orders with their queue estimates,
//! and the venue's own position; takers walk the mirror, resting orders fill as makers
//! (see the fill model in [`super`]).

use super::latency::{Match, Outbox};
use crate::domain::{
    ClientOrderId, ExecReport, Instrument, Liquidity, MarketEventKind, OrderBook, Price, Qty, Side,
    Timestamp, TradeTick,
};

/// One of our orders resting at the venue.
#[derive(Clone, Debug)]
pub(super) struct Resting {
    pub(super) id: ClientOrderId,
    pub(super) side: Side,
    pub(super) price: Price,
    /// Lots it may still fill (after any reduce-only cap).
    pub(super) open: i64,
    /// Lots requested and not filled; more than `open` when reduce-only capped it.
    pub(super) unfilled: i64,
    /// Market size ahead of it at its level; `None` while unknown (book resyncing).
    pub(super) queue_ahead: Option<Qty>,
    pub(super) reduce_only: bool,
}

/// Liquidity we took from a level, not yet answered by a market update for that level.
#[derive(Copy, Clone, Debug)]
pub(super) struct Consumed {
    pub(super) side: Side,
    pub(super) price: Price,
    pub(super) qty: i64,
}

/// The venue's state for one instrument.
#[derive(Debug)]
pub(super) struct Market {
    pub(super) inst: Instrument,
    pub(super) book: OrderBook,
    /// The feed lost integrity: the mirror is empty until the next snapshot.
    pub(super) stale: bool,
    pub(super) consumed: Vec<Consumed>,
    /// Our resting bids, best first (price descending, then arrival order).
    pub(super) bids: Vec<Resting>,
    /// Our resting asks, best first (price ascending, then arrival order).
    pub(super) asks: Vec<Resting>,
    /// Net position from this venue's fills, in lots (positive long).
    pub(super) position: i64,
}

/// Would an order on `our` side at `ours` trade with an opposite level at `theirs`?
fn crosses(our: Side, ours: Price, theirs: Price) -> bool {
    match our {
        Side::Buy => theirs <= ours,
        Side::Sell => theirs >= ours,
    }
}

/// Is `a` a strictly better price than `b` for an order on `side`?
fn better(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// Lots an order on `side` may trade without growing the position `position`.
pub(super) fn reducible(position: i64, side: Side) -> i64 {
    match side {
        Side::Buy => position.saturating_neg().max(0),
        Side::Sell => position.max(0),
    }
}

fn fillable(o: &Resting, position: i64) -> i64 {
    if o.reduce_only {
        o.open.min(reducible(position, o.side))
    } else {
        o.open
    }
}

pub(super) fn signed(side: Side, qty: i64) -> i64 {
    match side {
        Side::Buy => qty,
        Side::Sell => qty.saturating_neg(),
    }
}

fn consumed_at(consumed: &[Consumed], side: Side, price: Price) -> i64 {
    consumed
        .iter()
        .find(|c| c.side == side && c.price == price)
        .map_or(0, |c| c.qty)
}

fn add_consumed(consumed: &mut Vec<Consumed>, side: Side, price: Price, qty: i64) {
    match consumed
        .iter_mut()
        .find(|c| c.side == side && c.price == price)
    {
        Some(c) => c.qty = c.qty.saturating_add(qty),
        None => consumed.push(Consumed { side, price, qty }),
    }
}

fn forget_consumed(consumed: &mut Vec<Consumed>, side: Side, price: Price) {
    if let Some(i) = consumed
        .iter()
        .position(|c| c.side == side && c.price == price)
    {
        consumed.swap_remove(i);
    }
}

/// We took `qty` of the market's size at `price`: that size was ahead of our own resting
/// orders there, so they move up.
fn advance_queue(orders: &mut [Resting], price: Price, qty: i64) {
    for o in orders.iter_mut().filter(|o| o.price == price) {
        if let Some(qa) = o.queue_ahead {
            o.queue_ahead = Some(Qty(qa.0.saturating_sub(qty).max(0)));
        }
    }
}

/// What the mirror offers at a level after our own earlier taking.
fn available(book_qty: Qty, consumed: &[Consumed], side: Side, price: Price) -> i64 {
    book_qty
        .0
        .saturating_sub(consumed_at(consumed, side, price))
        .max(0)
}

/// Fill `qty` lots of our resting order `o` as maker, at its own limit price: the report,
/// the order's open and unfilled lots, and the venue's position.
fn fill_maker(
    o: &mut Resting,
    qty: i64,
    inst: &Instrument,
    position: &mut i64,
    out: &mut Outbox,
    ts: Timestamp,
) {
    o.open -= qty;
    o.unfilled -= qty;
    out.fill(
        inst,
        ts,
        Match {
            id: &o.id,
            side: o.side,
            price: o.price,
            qty,
            liquidity: Liquidity::Maker,
        },
    );
    *position = position.saturating_add(signed(o.side, qty));
}

impl Market {
    pub(super) fn new(inst: Instrument) -> Self {
        Market {
            inst,
            book: OrderBook::new(),
            stale: false,
            consumed: Vec::new(),
            bids: Vec::new(),
            asks: Vec::new(),
            position: 0,
        }
    }

    pub(super) fn has_resting(&self) -> bool {
        !(self.bids.is_empty() && self.asks.is_empty())
    }

    pub(super) fn resting(&self, side: Side) -> &Vec<Resting> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub(super) fn find(&self, id: &ClientOrderId) -> Option<&Resting> {
        self.bids
            .iter()
            .chain(self.asks.iter())
            .find(|o| &o.id == id)
    }

    /// Take up to `want` lots as a taker on `taker` side, not past `limit`. Appends one
    /// `(price, qty)` per level to `takes` and remembers the liquidity as consumed.
    pub(super) fn take(
        &mut self,
        taker: Side,
        want: i64,
        limit: Option<Price>,
        takes: &mut Vec<(Price, i64)>,
    ) {
        let opp = taker.opposite();
        let mut left = want;
        for lvl in self.book.levels(opp) {
            if left <= 0 {
                break;
            }
            if let Some(lim) = limit
                && !crosses(taker, lim, lvl.price)
            {
                break;
            }
            let q = left.min(available(lvl.qty, &self.consumed, opp, lvl.price));
            if q > 0 {
                takes.push((lvl.price, q));
                left -= q;
            }
        }
        let ours = match opp {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        for &(p, q) in takes.iter() {
            add_consumed(&mut self.consumed, opp, p, q);
            advance_queue(ours, p, q);
        }
    }

    /// Would a limit order on `side` at `price` take any liquidity now?
    pub(super) fn would_cross(&self, side: Side, price: Price) -> bool {
        let opp = side.opposite();
        self.book
            .levels(opp)
            .take_while(|l| crosses(side, price, l.price))
            .any(|l| available(l.qty, &self.consumed, opp, l.price) > 0)
    }

    /// Put an order in our resting list, behind our orders at the same price.
    pub(super) fn rest(&mut self, o: Resting) {
        let v = match o.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let at = match o.side {
            Side::Buy => v.partition_point(|r| r.price >= o.price),
            Side::Sell => v.partition_point(|r| r.price <= o.price),
        };
        v.insert(at, o);
    }

    /// Apply one market event to the mirror and our resting orders. `ts` is venue time.
    /// Inlined for the common case, a level update with none of our orders resting and
    /// nothing consumed, where only the mirror changes (the rest of the event's handling
    /// cost a call frame, ~30 instructions an event).
    #[inline]
    pub(super) fn on_event(&mut self, kind: &MarketEventKind, out: &mut Outbox, ts: Timestamp) {
        if let MarketEventKind::Level { side, price, qty } = kind
            && !self.stale
            && self.consumed.is_empty()
            && !self.has_resting()
        {
            self.book.update(*side, *price, *qty);
            return;
        }
        self.on_event_full(kind, out, ts);
    }

    /// [`Market::on_event`], whatever the event and the venue's state.
    #[inline(never)]
    fn on_event_full(&mut self, kind: &MarketEventKind, out: &mut Outbox, ts: Timestamp) {
        match kind {
            MarketEventKind::Level { side, price, qty } => {
                if self.stale {
                    return;
                }
                self.book.update(*side, *price, *qty);
                if !self.consumed.is_empty() {
                    forget_consumed(&mut self.consumed, *side, *price);
                }
                if !self.has_resting() {
                    return;
                }
                let size = qty.0.max(0);
                let ours = match side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                for o in ours.iter_mut().filter(|o| o.price == *price) {
                    o.queue_ahead = Some(Qty(o.queue_ahead.map_or(size, |q| q.0.min(size))));
                }
                if self.match_crossing(side.opposite(), out, ts) {
                    self.sweep(out, ts);
                }
            }
            MarketEventKind::Snapshot { bids, asks } => {
                self.book
                    .apply_snapshot(bids.iter().copied(), asks.iter().copied());
                self.stale = false;
                self.consumed.clear();
                if !self.has_resting() {
                    return;
                }
                let Market {
                    book,
                    bids: our_bids,
                    asks: our_asks,
                    ..
                } = self;
                for o in our_bids.iter_mut().chain(our_asks.iter_mut()) {
                    let size = book.level_qty(o.side, o.price).0.max(0);
                    o.queue_ahead = Some(Qty(o.queue_ahead.map_or(size, |q| q.0.min(size))));
                }
                let a = self.match_crossing(Side::Buy, out, ts);
                let b = self.match_crossing(Side::Sell, out, ts);
                if a || b {
                    self.sweep(out, ts);
                }
            }
            MarketEventKind::Trade(tick) => {
                if self.has_resting() && self.on_trade(tick, out, ts) {
                    self.sweep(out, ts);
                }
            }
            MarketEventKind::Resyncing { .. } => {
                self.book.clear();
                self.consumed.clear();
                self.stale = true;
            }
        }
    }

    /// Fill our resting orders on side `our` that the opposite side of the mirror has moved
    /// to or through. Returns whether anything filled.
    pub(super) fn match_crossing(&mut self, our: Side, out: &mut Outbox, ts: Timestamp) -> bool {
        let opp = our.opposite();
        let Market {
            inst,
            book,
            consumed,
            bids,
            asks,
            position,
            ..
        } = self;
        let (orders, others) = match our {
            Side::Buy => (bids, asks),
            Side::Sell => (asks, bids),
        };
        let (Some(first), Some(best)) = (orders.first(), book.best(opp)) else {
            return false;
        };
        if !crosses(our, first.price, best.price) {
            return false;
        }
        let mut any = false;
        for o in orders.iter_mut() {
            if !crosses(our, o.price, best.price) {
                break;
            }
            for lvl in book.levels(opp) {
                if !crosses(our, o.price, lvl.price) {
                    break;
                }
                let want = fillable(o, *position);
                if want <= 0 {
                    break;
                }
                let q = want.min(available(lvl.qty, consumed, opp, lvl.price));
                if q <= 0 {
                    continue;
                }
                add_consumed(consumed, opp, lvl.price, q);
                advance_queue(others, lvl.price, q);
                o.queue_ahead = Some(Qty::ZERO);
                fill_maker(o, q, inst, position, out, ts);
                any = true;
            }
        }
        any
    }

    /// A market trade against our resting orders on the side opposite its aggressor.
    /// Returns whether anything filled.
    pub(super) fn on_trade(&mut self, tick: &TradeTick, out: &mut Outbox, ts: Timestamp) -> bool {
        let our = tick.aggressor.opposite();
        let Market {
            inst,
            bids,
            asks,
            position,
            ..
        } = self;
        let orders = match our {
            Side::Buy => bids,
            Side::Sell => asks,
        };
        let mut left = tick.qty.0.max(0);
        let mut any = false;
        let mut i = 0;
        // Orders the trade printed through: the aggressor passed them, queue and all.
        while let Some(o) = orders.get_mut(i)
            && better(our, o.price, tick.price)
        {
            o.queue_ahead = Some(Qty::ZERO);
            let q = left.min(fillable(o, *position));
            if q > 0 {
                fill_maker(o, q, inst, position, out, ts);
                left -= q;
                any = true;
            }
            i += 1;
        }
        // Orders at the trade's price: the volume first eats the market queue ahead of
        // each, and reaches ours in arrival order.
        let volume = left;
        let mut ours_filled = 0i64;
        let mut blocked = false;
        while let Some(o) = orders.get_mut(i)
            && o.price == tick.price
        {
            let reach = volume - ours_filled;
            if let Some(qa) = o.queue_ahead {
                let market = qa.0.min(reach).max(0);
                o.queue_ahead = Some(Qty(qa.0 - market));
                let q = (reach - market).min(fillable(o, *position));
                if !blocked && q > 0 {
                    fill_maker(o, q, inst, position, out, ts);
                    ours_filled += q;
                    any = true;
                }
            }
            if o.open > 0 {
                // Later orders of ours at this price are behind this one.
                blocked = true;
            }
            i += 1;
        }
        any
    }

    /// After fills: drop finished orders (reporting `Cancelled` for a reduce-only cut) and
    /// cancel reduce-only orders that can no longer reduce the position.
    pub(super) fn sweep(&mut self, out: &mut Outbox, ts: Timestamp) {
        let pos = self.position;
        for orders in [&mut self.bids, &mut self.asks] {
            orders.retain(|o| {
                let done = o.open <= 0 || (o.reduce_only && reducible(pos, o.side) == 0);
                if done && o.unfilled > 0 {
                    out.push(
                        ts,
                        ExecReport::Cancelled {
                            id: o.id.clone(),
                            ts,
                        },
                    );
                }
                !done
            });
        }
    }
}
