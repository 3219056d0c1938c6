//! The paper execution venue: THE fill model that paper trading, replay and backtests share.
//!
//! The venue sees the same market data as the engine (through [`ExecutionPort::on_market`]),
//! keeps its own mirror of each instrument's L2 book, and matches our orders against it.
//! It is deterministic: the same orders and market events, in the same order, give the
//! same reports, byte for byte (no wall clock, no randomness, no hash-map iteration; ties
//! are broken by submission order).
//!
//! # What the model assumes
//!
//! A quant reading backtest numbers should know exactly what they rest on:
//!
//! * **Latency is fixed.** An order or cancel reaches the venue `latency_in_ms` after it
//!   is sent; every report reaches us `latency_out_ms` after the venue-side event that
//!   caused it. No jitter, no loss. Orders and cancels arrive in the order they were sent.
//! * **The book we see is the book the venue has.** Matching at arrival uses the mirror as
//!   of the last market event at or before the arrival time. Our own orders are not in the
//!   market data and are invisible to each other: there is no self-match (a real venue
//!   would self-trade or apply self-trade prevention).
//! * **Takers pay the touch and walk the book.** Market and IOC orders (and the crossing
//!   part of a GTC limit) fill level by level at each level's price, partial fills allowed,
//!   one fill per level, taker fee. Market orders never rest: whatever is left is
//!   cancelled. There is no hidden or iceberg liquidity and no price improvement.
//! * **We have market impact, once.** Liquidity we took is remembered per level and not
//!   offered to us again until the market sends a new update for that level. A new update
//!   is taken as the market's complete answer for that level and the memory is forgotten:
//!   if the level was refilled, the refill is available again (optimistic when the feed
//!   re-reports liquidity we would in reality already have consumed). A snapshot forgets
//!   everything.
//! * **Queue position is pessimistic.** A resting order joins the back of its level: the
//!   queue ahead is the whole size shown at its price when it arrived. The queue moves up
//!   only when (a) trades print at our price against our side (aggressor on the other
//!   side), which consume the queue ahead before us, or (b) the level shrinks below our
//!   queue estimate (we assume at most the level's size is ahead of us; cancellations
//!   behind us are never credited), or (c) our own taker orders take the size ahead of
//!   us (it traded with us instead). A level that grows does not push us back.
//!   This assumes the feed prints a trade before (or without) the depth update that
//!   reflects it. A feed that sends the level's shrink first makes the model optimistic
//!   there: the traded size is taken off the queue twice (once by the cap, once by the
//!   trade).
//! * **Passive fills.** A resting order fills as maker, at its own limit price, when
//!   (a) a trade at its price has volume left over after the queue ahead, (b) a trade
//!   prints strictly through its price (e.g. a sell below our bid): the aggressor had to
//!   pass us, so we fill up to that trade's size, or (c) the opposite side of the mirror
//!   moves to or through our price (an ask at or below our bid): we fill against that
//!   size, which then counts as consumed. In (b) and (c) the queue ahead of us is taken as
//!   exhausted. One trade's volume is shared among our orders in price-time priority and
//!   is never used twice. A trade where the aggressor is on our side never fills us.
//! * **Fees** are `notional * bps / 10000`, exact in `Decimal`, maker or taker by how the
//!   fill happened. Negative maker bps is a rebate.
//! * **Reduce-only** is judged against the venue's own net position, built from its fills
//!   only (it starts flat). An order that would not reduce is rejected; one larger than the
//!   position is capped to it at arrival. A resting reduce-only order never fills past the
//!   position it reduces; when the position is gone it is cancelled. When a capped order
//!   has filled all it may, the rest is reported `Cancelled`.
//! * **Gate.** The trading gate is checked in `submit`, as the order leaves: a closed gate
//!   refuses everything except reduce-only orders, with a `Rejected` report that arrives
//!   after `latency_out_ms`. Cancels always go.
//! * **Feed trouble.** After a `Resyncing` event the mirror is emptied and level updates are
//!   ignored until the next snapshot: takers find nothing to take (and are cancelled),
//!   new resting orders get an unknown queue position (`queue_ahead: None`, which the next
//!   snapshot turns into an estimate; until then trades at our price do not fill them,
//!   trades through it still do). Trades still count: they are real prints.
//! * **Reports.** A limit order that will rest gets `Accepted` first, then any taker fills
//!   of its crossing part; market and IOC orders get no `Accepted`, only fills and a
//!   `Cancelled` for what did not fill. `Fill::ts` is the venue time of the match, and
//!   `Fill::seq` increases strictly across the venue.
//! * **Time.** The venue's clock never runs backwards: an event older than the last one
//!   processed is handled at the later time.
//!
//! Validation at arrival: known instrument, positive quantity at or above the instrument's
//! minimum, a price on every limit order, no post-only market order, no client id that is
//! already resting. Anything else is `Rejected` with a reason; the venue never panics on
//! odd input.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{ExecutionPort, PortStats};
use crate::domain::Invalid;
use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, Liquidity, MarketEvent, MarketEventKind,
    OrderBook, OrderKind, OrderRequest, Price, Qty, Side, TimeInForce, Timestamp, TradeTick,
    TradingGate,
};
use crate::engine::risk::RiskApproved;

/// Largest latency accepted by [`PaperParams::validate`], in milliseconds.
const MAX_LATENCY_MS: u64 = 60_000;
/// Fee bounds accepted by [`PaperParams::validate`], in basis points.
const MIN_FEE_BPS: i64 = -100;
const MAX_FEE_BPS: i64 = 1_000;

/// Parameters of the paper venue (the `[paper]` section of the config).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperParams {
    /// Order/cancel travel time to the venue, milliseconds.
    pub latency_in_ms: u64,
    /// Report travel time back, milliseconds.
    pub latency_out_ms: u64,
    /// Maker fee in basis points of notional (negative = rebate).
    pub maker_fee_bps: Decimal,
    /// Taker fee in basis points of notional.
    pub taker_fee_bps: Decimal,
}

impl Default for PaperParams {
    fn default() -> Self {
        PaperParams {
            latency_in_ms: 5,
            latency_out_ms: 5,
            maker_fee_bps: Decimal::ONE,
            taker_fee_bps: Decimal::from(5),
        }
    }
}

impl PaperParams {
    /// Check that the values make sense: latencies at most 60 000 ms each, fees between
    /// -100 and 1000 bps. The error's key is the field name.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (key, ms) in [
            ("latency_in_ms", self.latency_in_ms),
            ("latency_out_ms", self.latency_out_ms),
        ] {
            if ms > MAX_LATENCY_MS {
                return Err(Invalid::new(
                    key,
                    format!("{ms} ms is more than the {MAX_LATENCY_MS} ms allowed"),
                ));
            }
        }
        for (key, bps) in [
            ("maker_fee_bps", self.maker_fee_bps),
            ("taker_fee_bps", self.taker_fee_bps),
        ] {
            if bps < Decimal::from(MIN_FEE_BPS) || bps > Decimal::from(MAX_FEE_BPS) {
                return Err(Invalid::new(
                    key,
                    format!("{bps} bps is outside {MIN_FEE_BPS}..={MAX_FEE_BPS} bps"),
                ));
            }
        }
        Ok(())
    }
}

/// Something travelling to the venue.
#[derive(Debug)]
enum Inbound {
    Order(OrderRequest),
    Cancel(ClientOrderId),
}

/// One of our orders resting at the venue.
#[derive(Clone, Debug)]
struct Resting {
    id: ClientOrderId,
    side: Side,
    price: Price,
    /// Lots it may still fill (after any reduce-only cap).
    open: i64,
    /// Lots requested and not filled; more than `open` when reduce-only capped it.
    unfilled: i64,
    /// Market size ahead of it at its level; `None` while unknown (book resyncing).
    queue_ahead: Option<Qty>,
    reduce_only: bool,
}

/// Liquidity we took from a level, not yet answered by a market update for that level.
#[derive(Copy, Clone, Debug)]
struct Consumed {
    side: Side,
    price: Price,
    qty: i64,
}

/// The venue's state for one instrument.
#[derive(Debug)]
struct Market {
    inst: Instrument,
    book: OrderBook,
    /// The feed lost integrity: the mirror is empty until the next snapshot.
    stale: bool,
    consumed: Vec<Consumed>,
    /// Our resting bids, best first (price descending, then arrival order).
    bids: Vec<Resting>,
    /// Our resting asks, best first (price ascending, then arrival order).
    asks: Vec<Resting>,
    /// Net position from this venue's fills, in lots (positive long).
    position: i64,
}

/// A fill about to be reported.
struct Match<'a> {
    id: &'a ClientOrderId,
    side: Side,
    price: Price,
    qty: i64,
    liquidity: Liquidity,
}

/// Reports waiting to travel back, in due-time then creation order.
#[derive(Debug)]
struct Outbox {
    due: BTreeMap<(Timestamp, u64), ExecReport>,
    next_report: u64,
    next_fill_seq: u64,
    latency_out: Duration,
    maker_bps: Decimal,
    taker_bps: Decimal,
}

impl Outbox {
    /// Queue a report for an event at venue time `ts`; it is due `latency_out` later.
    fn push(&mut self, ts: Timestamp, report: ExecReport) {
        let key = (ts + self.latency_out, self.next_report);
        self.next_report += 1;
        self.due.insert(key, report);
    }

    /// Queue a fill report; the caller updates the position.
    fn fill(&mut self, inst: &Instrument, ts: Timestamp, m: Match<'_>) {
        self.next_fill_seq += 1;
        let bps = match m.liquidity {
            Liquidity::Maker => self.maker_bps,
            Liquidity::Taker => self.taker_bps,
        };
        let fill = Fill {
            seq: self.next_fill_seq,
            ts,
            client_id: m.id.clone(),
            instrument: inst.id,
            side: m.side,
            price: m.price,
            qty: Qty(m.qty),
            fee: fee(inst, m.price, Qty(m.qty), bps),
            liquidity: m.liquidity,
        };
        self.push(ts, ExecReport::Filled(fill));
    }
}

/// `notional * bps / 10000`, with the notional as [`Instrument::notional`] computes it.
/// Overflow (absurd prices or sizes) saturates instead of panicking.
fn fee(inst: &Instrument, price: Price, qty: Qty, bps: Decimal) -> Decimal {
    let notional = Decimal::from(price.0)
        .checked_mul(inst.tick_size)
        .zip(Decimal::from(qty.0).checked_mul(inst.lot_size))
        .and_then(|(p, q)| p.checked_mul(q));
    let fee = notional
        .and_then(|n| n.checked_mul(bps))
        .and_then(|x| x.checked_div(Decimal::from(10_000)));
    match fee {
        Some(f) => f.normalize(),
        None if bps.is_sign_negative() => Decimal::MIN,
        None => Decimal::MAX,
    }
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
fn reducible(position: i64, side: Side) -> i64 {
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

fn signed(side: Side, qty: i64) -> i64 {
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

impl Market {
    fn new(inst: Instrument) -> Self {
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

    fn has_resting(&self) -> bool {
        !(self.bids.is_empty() && self.asks.is_empty())
    }

    fn resting(&self, side: Side) -> &Vec<Resting> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn find(&self, id: &ClientOrderId) -> Option<&Resting> {
        self.bids
            .iter()
            .chain(self.asks.iter())
            .find(|o| &o.id == id)
    }

    /// Take up to `want` lots as a taker on `taker` side, not past `limit`. Appends one
    /// `(price, qty)` per level to `takes` and remembers the liquidity as consumed.
    fn take(
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
    fn would_cross(&self, side: Side, price: Price) -> bool {
        let opp = side.opposite();
        self.book
            .levels(opp)
            .take_while(|l| crosses(side, price, l.price))
            .any(|l| available(l.qty, &self.consumed, opp, l.price) > 0)
    }

    /// Put an order in our resting list, behind our orders at the same price.
    fn rest(&mut self, o: Resting) {
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
    fn on_event(&mut self, kind: &MarketEventKind, out: &mut Outbox, ts: Timestamp) {
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
    fn match_crossing(&mut self, our: Side, out: &mut Outbox, ts: Timestamp) -> bool {
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
                o.open -= q;
                o.unfilled -= q;
                o.queue_ahead = Some(Qty::ZERO);
                out.fill(
                    inst,
                    ts,
                    Match {
                        id: &o.id,
                        side: our,
                        price: o.price,
                        qty: q,
                        liquidity: Liquidity::Maker,
                    },
                );
                *position = position.saturating_add(signed(our, q));
                any = true;
            }
        }
        any
    }

    /// A market trade against our resting orders on the side opposite its aggressor.
    /// Returns whether anything filled.
    fn on_trade(&mut self, tick: &TradeTick, out: &mut Outbox, ts: Timestamp) -> bool {
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
                o.open -= q;
                o.unfilled -= q;
                out.fill(
                    inst,
                    ts,
                    Match {
                        id: &o.id,
                        side: our,
                        price: o.price,
                        qty: q,
                        liquidity: Liquidity::Maker,
                    },
                );
                *position = position.saturating_add(signed(our, q));
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
                    o.open -= q;
                    o.unfilled -= q;
                    out.fill(
                        inst,
                        ts,
                        Match {
                            id: &o.id,
                            side: our,
                            price: o.price,
                            qty: q,
                            liquidity: Liquidity::Maker,
                        },
                    );
                    *position = position.saturating_add(signed(our, q));
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
    fn sweep(&mut self, out: &mut Outbox, ts: Timestamp) {
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

/// The paper execution venue. See the module docs for the fill model.
#[derive(Debug)]
pub struct PaperVenue {
    latency_in: Duration,
    gate: TradingGate,
    /// Indexed by `InstrumentId`.
    markets: Vec<Market>,
    /// Orders and cancels on their way, by arrival time then submission order.
    inbound: BTreeMap<(Timestamp, u64), Inbound>,
    next_inbound: u64,
    out: Outbox,
    /// Venue time: the latest event processed. Never runs backwards.
    clock: Timestamp,
    stats: PortStats,
    /// Scratch for taker walks, kept to avoid allocating per order.
    takes: Vec<(Price, i64)>,
}

impl PaperVenue {
    /// A venue for `instruments`, where `instruments[i].id == InstrumentId(i)`.
    /// `params` should have passed [`PaperParams::validate`].
    pub fn new(params: &PaperParams, instruments: Vec<Instrument>, gate: TradingGate) -> Self {
        PaperVenue {
            latency_in: Duration::from_millis(params.latency_in_ms),
            gate,
            markets: instruments.into_iter().map(Market::new).collect(),
            inbound: BTreeMap::new(),
            next_inbound: 0,
            out: Outbox {
                due: BTreeMap::new(),
                next_report: 0,
                next_fill_seq: 0,
                latency_out: Duration::from_millis(params.latency_out_ms),
                maker_bps: params.maker_fee_bps,
                taker_bps: params.taker_fee_bps,
            },
            clock: Timestamp::ZERO,
            stats: PortStats::default(),
            takes: Vec::new(),
        }
    }

    /// Start with a net position of `lots` (positive long) on `instrument`: a restart
    /// hands the venue the position restored from the store, so reduce-only exits work.
    pub fn seed_position(&mut self, instrument: crate::domain::InstrumentId, lots: i64) {
        if let Some(m) = self.markets.get_mut(instrument.index()) {
            m.position = lots;
        }
    }

    /// The venue's own net position on `instrument`, in lots.
    pub fn position_lots(&self, instrument: crate::domain::InstrumentId) -> Option<i64> {
        self.markets.get(instrument.index()).map(|m| m.position)
    }

    /// Orders resting at the venue now.
    pub fn resting_orders(&self) -> usize {
        self.markets
            .iter()
            .map(|m| m.bids.len() + m.asks.len())
            .sum()
    }

    /// The venue's estimate of the size ahead of a resting order at its level. `None` if
    /// the order is not resting (unknown, not arrived yet, or closed) or its queue position
    /// is unknown (it arrived while the book was resyncing).
    pub fn queue_ahead(&self, id: &ClientOrderId) -> Option<Qty> {
        self.markets
            .iter()
            .find_map(|m| m.find(id))
            .and_then(|o| o.queue_ahead)
    }

    fn send(&mut self, at: Timestamp, what: Inbound) {
        self.inbound.insert((at, self.next_inbound), what);
        self.next_inbound += 1;
    }

    /// Handle everything arriving at the venue at or before `upto`, in arrival order.
    fn process_arrivals(&mut self, upto: Timestamp) {
        while let Some(entry) = self.inbound.first_entry() {
            if entry.key().0 > upto {
                break;
            }
            let ((at, _), what) = entry.remove_entry();
            self.clock = self.clock.max(at);
            let t = self.clock;
            match what {
                Inbound::Order(req) => self.arrive_order(t, req),
                Inbound::Cancel(id) => self.arrive_cancel(t, id),
            }
        }
    }

    /// Check an arriving order. `Ok` holds the lots it may fill (reduce-only capped).
    fn admit(&self, req: &OrderRequest) -> Result<i64, &'static str> {
        let Some(m) = self.markets.get(req.instrument.index()) else {
            return Err("unknown instrument");
        };
        if !req.qty.is_positive() {
            return Err("quantity must be positive");
        }
        if req.qty < m.inst.min_qty {
            return Err("quantity below the instrument minimum");
        }
        match (req.kind, req.tif) {
            (OrderKind::Limit, _) if req.price.is_none() => {
                return Err("limit order without a price");
            }
            (OrderKind::Market, TimeInForce::PostOnly) => {
                return Err("post-only market order");
            }
            _ => {}
        }
        if self
            .markets
            .iter()
            .any(|m| m.find(&req.client_id).is_some())
        {
            return Err("duplicate client order id");
        }
        if req.reduce_only {
            let r = reducible(m.position, req.side);
            if r == 0 {
                return Err("reduce-only order would not reduce the position");
            }
            return Ok(req.qty.0.min(r));
        }
        Ok(req.qty.0)
    }

    fn arrive_order(&mut self, t: Timestamp, req: OrderRequest) {
        let cap = match self.admit(&req) {
            Ok(cap) => cap,
            Err(reason) => {
                self.out.push(
                    t,
                    ExecReport::Rejected {
                        id: req.client_id,
                        ts: t,
                        reason: reason.to_string(),
                    },
                );
                return;
            }
        };
        let Some(m) = self.markets.get_mut(req.instrument.index()) else {
            return; // admit() checked it
        };
        let out = &mut self.out;
        let takes = &mut self.takes;
        takes.clear();
        let limit = match req.kind {
            OrderKind::Market => None,
            OrderKind::Limit => req.price,
        };
        if req.tif == TimeInForce::PostOnly {
            if let Some(p) = limit
                && m.would_cross(req.side, p)
            {
                out.push(
                    t,
                    ExecReport::Rejected {
                        id: req.client_id,
                        ts: t,
                        reason: "post-only would cross".to_string(),
                    },
                );
                return;
            }
        } else {
            m.take(req.side, cap, limit, takes);
        }
        let taken: i64 = takes.iter().map(|&(_, q)| q).sum();
        let rest_price = match (req.kind, req.tif) {
            (OrderKind::Limit, TimeInForce::Gtc | TimeInForce::PostOnly) if cap > taken => limit,
            _ => None,
        };
        let queue_ahead = rest_price
            .filter(|_| !m.stale)
            .map(|p| m.book.level_qty(req.side, p));
        if rest_price.is_some() {
            out.push(
                t,
                ExecReport::Accepted {
                    id: req.client_id.clone(),
                    ts: t,
                    queue_ahead,
                },
            );
        }
        for &(price, qty) in takes.iter() {
            out.fill(
                &m.inst,
                t,
                Match {
                    id: &req.client_id,
                    side: req.side,
                    price,
                    qty,
                    liquidity: Liquidity::Taker,
                },
            );
            m.position = m.position.saturating_add(signed(req.side, qty));
        }
        match rest_price {
            Some(price) => m.rest(Resting {
                id: req.client_id,
                side: req.side,
                price,
                open: cap - taken,
                unfilled: req.qty.0 - taken,
                queue_ahead,
                reduce_only: req.reduce_only,
            }),
            None if req.qty.0 > taken => out.push(
                t,
                ExecReport::Cancelled {
                    id: req.client_id,
                    ts: t,
                },
            ),
            None => {}
        }
        if taken > 0 {
            m.sweep(out, t);
        }
    }

    fn arrive_cancel(&mut self, t: Timestamp, id: ClientOrderId) {
        for m in &mut self.markets {
            for side in [Side::Buy, Side::Sell] {
                if let Some(i) = m.resting(side).iter().position(|o| o.id == id) {
                    match side {
                        Side::Buy => m.bids.remove(i),
                        Side::Sell => m.asks.remove(i),
                    };
                    self.out.push(t, ExecReport::Cancelled { id, ts: t });
                    return;
                }
            }
        }
        self.out.push(
            t,
            ExecReport::CancelRejected {
                id,
                ts: t,
                reason: "unknown or already closed".to_string(),
            },
        );
    }
}

impl ExecutionPort for PaperVenue {
    /// Checks the gate as the order leaves; it reaches the venue `latency_in_ms` later.
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        let req = order.into_inner();
        if !self.gate.allows(req.reduce_only) {
            self.stats.orders_blocked += 1;
            self.out.push(
                now,
                ExecReport::Rejected {
                    id: req.client_id,
                    ts: now,
                    reason: "trading gate closed".to_string(),
                },
            );
            return;
        }
        self.stats.orders_sent += 1;
        self.send(now + self.latency_in, Inbound::Order(req));
    }

    /// Cancels always go; they reach the venue `latency_in_ms` later.
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.stats.cancels_sent += 1;
        self.send(now + self.latency_in, Inbound::Cancel(id.clone()));
    }

    /// Handles arrivals due at or before the event first, then applies the event.
    fn on_market(&mut self, event: &MarketEvent) {
        if let Some((at, _)) = self.inbound.keys().next()
            && *at <= event.ts
        {
            self.process_arrivals(event.ts);
        }
        self.clock = self.clock.max(event.ts);
        if let Some(m) = self.markets.get_mut(event.instrument.index()) {
            m.on_event(&event.kind, &mut self.out, self.clock);
        }
    }

    /// The earliest of a pending arrival at the venue and a pending report.
    fn next_report_time(&self) -> Option<Timestamp> {
        let arrival = self.inbound.keys().next().map(|k| k.0);
        let report = self.out.due.keys().next().map(|k| k.0);
        match (arrival, report) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// Handles arrivals due at or before `now`, then moves due reports into `out`.
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        self.process_arrivals(now);
        while let Some(entry) = self.out.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Level, OrderTag, Owner};
    use rust_decimal_macros::dec;

    const BUY: Side = Side::Buy;
    const SELL: Side = Side::Sell;

    /// A share-like instrument: a tick is one cent, a lot is one share.
    fn inst() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            "TEST",
            "paper",
            dec!(0.01),
            dec!(1),
            Qty(1),
        )
    }

    fn venue_with(gate: TradingGate) -> PaperVenue {
        PaperVenue::new(&PaperParams::default(), vec![inst()], gate)
    }

    fn venue() -> PaperVenue {
        venue_with(TradingGate::new(true))
    }

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    fn market_event(v: &mut PaperVenue, t: i64, kind: MarketEventKind) {
        v.on_market(&MarketEvent {
            ts: ms(t),
            instrument: InstrumentId(0),
            kind,
        });
    }

    fn snapshot(v: &mut PaperVenue, t: i64, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
        let lv = |&(p, q): &(i64, i64)| Level::new(Price(p), Qty(q));
        market_event(
            v,
            t,
            MarketEventKind::Snapshot {
                bids: bids.iter().map(lv).collect(),
                asks: asks.iter().map(lv).collect(),
            },
        );
    }

    fn level(v: &mut PaperVenue, t: i64, side: Side, p: i64, q: i64) {
        market_event(
            v,
            t,
            MarketEventKind::Level {
                side,
                price: Price(p),
                qty: Qty(q),
            },
        );
    }

    fn trade(v: &mut PaperVenue, t: i64, p: i64, q: i64, aggressor: Side) {
        market_event(
            v,
            t,
            MarketEventKind::Trade(TradeTick {
                ts: ms(t),
                price: Price(p),
                qty: Qty(q),
                aggressor,
            }),
        );
    }

    fn req(id: &str, side: Side, kind: OrderKind, price: Option<i64>, qty: i64) -> OrderRequest {
        OrderRequest {
            client_id: ClientOrderId::new(id),
            instrument: InstrumentId(0),
            side,
            kind,
            price: price.map(Price),
            qty: Qty(qty),
            tif: TimeInForce::Gtc,
            reduce_only: false,
            owner: Owner::Manual,
            tag: OrderTag::Manual,
        }
    }

    fn limit(id: &str, side: Side, p: i64, qty: i64, tif: TimeInForce) -> OrderRequest {
        OrderRequest {
            tif,
            ..req(id, side, OrderKind::Limit, Some(p), qty)
        }
    }

    fn market(id: &str, side: Side, qty: i64) -> OrderRequest {
        OrderRequest {
            tif: TimeInForce::Ioc,
            ..req(id, side, OrderKind::Market, None, qty)
        }
    }

    fn reduce_only(r: OrderRequest) -> OrderRequest {
        OrderRequest {
            reduce_only: true,
            ..r
        }
    }

    fn submit(v: &mut PaperVenue, t: i64, r: OrderRequest) {
        v.submit(ms(t), RiskApproved::assume_approved_for_test(r));
    }

    fn cancel(v: &mut PaperVenue, t: i64, id: &str) {
        v.cancel(ms(t), &ClientOrderId::new(id));
    }

    fn poll(v: &mut PaperVenue, t: i64) -> Vec<ExecReport> {
        let mut out = Vec::new();
        v.poll_reports(ms(t), &mut out);
        out
    }

    fn fills(reports: &[ExecReport]) -> Vec<&Fill> {
        reports
            .iter()
            .filter_map(|r| match r {
                ExecReport::Filled(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    fn cid(s: &str) -> ClientOrderId {
        ClientOrderId::new(s)
    }

    /// Quote notional of a fill, and the fee at `bps`.
    fn notional(f: &Fill) -> Decimal {
        inst().notional(f.price, f.qty)
    }

    #[test]
    fn ioc_walks_three_levels_partially_fills_at_level_prices_with_taker_fee() {
        let mut v = venue();
        snapshot(
            &mut v,
            0,
            &[(9_990, 50)],
            &[(10_000, 2), (10_001, 3), (10_002, 4), (10_003, 10)],
        );
        submit(&mut v, 1, limit("ioc", BUY, 10_002, 12, TimeInForce::Ioc));
        let r = poll(&mut v, 11);
        let f = fills(&r);
        let got: Vec<(i64, i64)> = f.iter().map(|f| (f.price.0, f.qty.0)).collect();
        assert_eq!(
            got,
            vec![(10_000, 2), (10_001, 3), (10_002, 4)],
            "one fill per level, never past the limit"
        );
        assert!(f.iter().all(|f| f.liquidity == Liquidity::Taker));
        assert!(f.iter().all(|f| f.ts == ms(6)), "matched at arrival");
        // 100.00*2 + 100.01*3 + 100.02*4 = 900.11 for 9 shares.
        let total: Decimal = f.iter().map(|f| notional(f)).sum();
        assert_eq!(total, dec!(900.11));
        let filled: i64 = f.iter().map(|f| f.qty.0).sum();
        assert_eq!(filled, 9);
        assert_eq!(
            total / Decimal::from(filled),
            dec!(900.11) / dec!(9),
            "VWAP"
        );
        let fees: Decimal = f.iter().map(|f| f.fee).sum();
        assert_eq!(fees, dec!(0.450055), "5 bps of 900.11");
        assert_eq!(f[0].fee, dec!(0.1), "5 bps of 200.00");
        assert_eq!(
            r.last(),
            Some(&ExecReport::Cancelled {
                id: cid("ioc"),
                ts: ms(6)
            }),
            "the unfilled 3 are cancelled"
        );
        assert_eq!(r.len(), 4, "no Accepted for an IOC");
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn market_order_on_thin_book_fills_what_is_there_then_cancels() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
        submit(&mut v, 1, market("mkt", BUY, 5));
        let r = poll(&mut v, 11);
        assert_eq!(r.len(), 2);
        let f = fills(&r);
        assert_eq!((f[0].price, f[0].qty), (Price(10_000), Qty(2)));
        assert_eq!(
            r[1],
            ExecReport::Cancelled {
                id: cid("mkt"),
                ts: ms(6)
            }
        );
        // A market order on an empty book: nothing fills, no panic, cancelled.
        let mut v = venue();
        submit(&mut v, 1, market("empty", SELL, 5));
        assert_eq!(
            poll(&mut v, 11),
            vec![ExecReport::Cancelled {
                id: cid("empty"),
                ts: ms(6)
            }]
        );
    }

    #[test]
    fn post_only_that_would_cross_is_rejected_and_one_that_would_not_rests() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
        submit(
            &mut v,
            1,
            limit("po1", BUY, 10_000, 1, TimeInForce::PostOnly),
        );
        submit(
            &mut v,
            1,
            limit("po2", BUY, 9_999, 1, TimeInForce::PostOnly),
        );
        let r = poll(&mut v, 11);
        assert_eq!(
            r,
            vec![
                ExecReport::Rejected {
                    id: cid("po1"),
                    ts: ms(6),
                    reason: "post-only would cross".into()
                },
                ExecReport::Accepted {
                    id: cid("po2"),
                    ts: ms(6),
                    queue_ahead: Some(Qty(0))
                },
            ]
        );
        assert_eq!(v.resting_orders(), 1);
    }

    #[test]
    fn queue_position_advances_only_with_trades_and_level_shrinks() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
        submit(&mut v, 1, limit("q", BUY, 10_000, 5, TimeInForce::Gtc));
        assert_eq!(
            poll(&mut v, 11),
            vec![ExecReport::Accepted {
                id: cid("q"),
                ts: ms(6),
                queue_ahead: Some(Qty(10))
            }]
        );
        // 6 trade at our price: all of it was ahead of us.
        trade(&mut v, 20, 10_000, 6, SELL);
        assert!(
            poll(&mut v, 100).is_empty(),
            "trade of 6 behind 10 fills nothing"
        );
        assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(4)));
        // The level grows: newcomers join behind us.
        level(&mut v, 21, BUY, 10_000, 30);
        assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(4)));
        // Cancellations: at most 3 can be ahead now.
        level(&mut v, 22, BUY, 10_000, 3);
        assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(3)));
        // A trade where the aggressor is a buyer does not hit bids.
        trade(&mut v, 23, 10_000, 50, BUY);
        assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(3)));
        // 5 trade: 3 ahead, 2 for us.
        trade(&mut v, 30, 10_000, 5, SELL);
        assert_eq!(v.next_report_time(), Some(ms(35)));
        let r = poll(&mut v, 35);
        let f = fills(&r);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].price, f[0].qty, f[0].liquidity, f[0].ts),
            (Price(10_000), Qty(2), Liquidity::Maker, ms(30))
        );
        assert_eq!(f[0].fee, dec!(0.02), "1 bp of 200.00");
        assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(0)));
        assert_eq!(v.resting_orders(), 1, "3 still resting");
    }

    #[test]
    fn our_own_taking_at_a_level_moves_our_resting_order_up_without_self_matching() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(10_000, 6)], &[(10_010, 5)]);
        submit(&mut v, 1, limit("bid", BUY, 10_000, 2, TimeInForce::Gtc));
        submit(&mut v, 2, limit("hit", SELL, 10_000, 4, TimeInForce::Ioc));
        let r = poll(&mut v, 20);
        let f = fills(&r);
        assert_eq!(
            f.len(),
            1,
            "the sell takes the market's bids, never our own"
        );
        assert_eq!((f[0].client_id.as_str(), f[0].qty), ("hit", Qty(4)));
        assert_eq!(
            v.queue_ahead(&cid("bid")),
            Some(Qty(2)),
            "6 ahead, we took 4"
        );
        trade(&mut v, 30, 10_000, 3, SELL);
        let r = poll(&mut v, 35);
        assert_eq!(fills(&r)[0].qty, Qty(1));
    }

    #[test]
    fn trade_through_our_price_fills_us_up_to_its_size() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
        submit(&mut v, 1, limit("b", BUY, 10_000, 5, TimeInForce::Gtc));
        poll(&mut v, 11);
        // A sell prints below our bid: the seller went through our level.
        trade(&mut v, 20, 9_999, 3, SELL);
        let r = poll(&mut v, 25);
        let f = fills(&r);
        assert_eq!(
            (f[0].price, f[0].qty, f[0].liquidity),
            (Price(10_000), Qty(3), Liquidity::Maker),
            "filled at our limit, not the print"
        );
        assert_eq!(v.queue_ahead(&cid("b")), Some(Qty(0)));
        // The next print through fills the rest, capped at our size.
        trade(&mut v, 30, 9_998, 100, SELL);
        let r = poll(&mut v, 35);
        assert_eq!(fills(&r)[0].qty, Qty(2));
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn book_moving_through_a_resting_order_fills_it_as_maker_once() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
        submit(&mut v, 1, limit("b", BUY, 10_000, 5, TimeInForce::Gtc));
        poll(&mut v, 11);
        // The ask comes down to our bid.
        level(&mut v, 20, SELL, 10_000, 4);
        let r = poll(&mut v, 25);
        let f = fills(&r);
        assert_eq!(
            (f[0].price, f[0].qty, f[0].liquidity, f[0].ts),
            (Price(10_000), Qty(4), Liquidity::Maker, ms(20))
        );
        // An unrelated update: the 4 at 10_000 stay consumed, nothing new fills.
        level(&mut v, 21, BUY, 9_990, 7);
        assert!(poll(&mut v, 26).is_empty());
        // An ask through our bid: fills the last lot, still at our price.
        level(&mut v, 22, SELL, 9_999, 2);
        let r = poll(&mut v, 27);
        let f2 = fills(&r);
        assert_eq!((f2[0].price, f2[0].qty), (Price(10_000), Qty(1)));
        assert!(f2[0].seq > f[0].seq);
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn report_arrives_exactly_latency_in_plus_out_after_submit() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
        submit(&mut v, 1_000, market("m", BUY, 1));
        assert_eq!(
            v.next_report_time(),
            Some(ms(1_005)),
            "arrival at the venue"
        );
        assert!(poll(&mut v, 1_004).is_empty());
        assert!(poll(&mut v, 1_005).is_empty(), "matched, report travelling");
        assert_eq!(v.next_report_time(), Some(ms(1_010)));
        assert!(poll(&mut v, 1_009).is_empty());
        let r = poll(&mut v, 1_010);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].ts(),
            ms(1_005),
            "the fill's time is the venue's match time"
        );
        assert_eq!(v.next_report_time(), None);
    }

    #[test]
    fn arrivals_are_matched_before_a_market_event_at_the_same_time() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
        submit(&mut v, 0, market("m", BUY, 2));
        // The ask is pulled exactly when our order arrives: we were there first.
        level(&mut v, 5, SELL, 10_000, 0);
        let r = poll(&mut v, 10);
        assert_eq!(fills(&r)[0].qty, Qty(2));
        // An order arriving after the ask is gone finds nothing.
        submit(&mut v, 1, market("late", BUY, 2));
        let r = poll(&mut v, 20);
        assert_eq!(
            r,
            vec![ExecReport::Cancelled {
                id: cid("late"),
                ts: ms(6)
            }]
        );
    }

    #[test]
    fn closed_gate_blocks_new_orders_but_not_reduce_only_exits_or_cancels() {
        let gate = TradingGate::new(true);
        let mut v = venue_with(gate.clone());
        snapshot(&mut v, 0, &[(9_990, 50)], &[(10_000, 50)]);
        submit(&mut v, 1, market("open", BUY, 3));
        submit(&mut v, 1, limit("rest", BUY, 9_980, 1, TimeInForce::Gtc));
        poll(&mut v, 11);
        assert_eq!(v.resting_orders(), 1);

        gate.close();
        submit(&mut v, 20, market("more", BUY, 1));
        assert_eq!(
            v.next_report_time(),
            Some(ms(25)),
            "the refusal travels back"
        );
        submit(&mut v, 20, reduce_only(market("exit", SELL, 3)));
        cancel(&mut v, 20, "rest");
        let r = poll(&mut v, 30);
        assert_eq!(
            r[0],
            ExecReport::Rejected {
                id: cid("more"),
                ts: ms(20),
                reason: "trading gate closed".into()
            }
        );
        let f = fills(&r);
        assert_eq!((f[0].client_id.as_str(), f[0].qty), ("exit", Qty(3)));
        assert!(r.contains(&ExecReport::Cancelled {
            id: cid("rest"),
            ts: ms(25)
        }));
        assert_eq!(
            v.stats(),
            PortStats {
                orders_sent: 3,
                orders_blocked: 1,
                cancels_sent: 1
            }
        );
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn two_consecutive_iocs_never_take_the_same_liquidity() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 5), (10_001, 5)]);
        submit(&mut v, 1, limit("a", BUY, 10_000, 3, TimeInForce::Ioc));
        submit(&mut v, 1, limit("b", BUY, 10_000, 3, TimeInForce::Ioc));
        let r = poll(&mut v, 11);
        let f = fills(&r);
        assert_eq!(
            f.iter()
                .map(|f| (f.client_id.as_str(), f.qty.0))
                .collect::<Vec<_>>(),
            vec![("a", 3), ("b", 2)],
            "the first submitted gets it; only 5 existed"
        );
        assert!(r.contains(&ExecReport::Cancelled {
            id: cid("b"),
            ts: ms(6)
        }));
        // An update elsewhere does not give the liquidity back...
        level(&mut v, 20, SELL, 10_001, 6);
        submit(&mut v, 21, limit("c", BUY, 10_000, 3, TimeInForce::Ioc));
        assert!(fills(&poll(&mut v, 31)).is_empty());
        // ...a fresh update for that level does.
        level(&mut v, 40, SELL, 10_000, 5);
        submit(&mut v, 41, limit("d", BUY, 10_000, 3, TimeInForce::Ioc));
        assert_eq!(fills(&poll(&mut v, 51))[0].qty, Qty(3));
    }

    #[test]
    fn a_fill_while_the_cancel_travels_stands() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_010, 5)]);
        submit(&mut v, 1, limit("full", BUY, 10_000, 5, TimeInForce::Gtc));
        submit(&mut v, 1, limit("part", BUY, 9_995, 5, TimeInForce::Gtc));
        poll(&mut v, 11);
        cancel(&mut v, 20, "full");
        cancel(&mut v, 20, "part");
        // While the cancels travel, a seller sweeps down to 9_995 (through "full").
        trade(&mut v, 22, 9_995, 8, SELL);
        let r = poll(&mut v, 40);
        let f = fills(&r);
        assert_eq!(
            f.iter()
                .map(|f| (f.client_id.as_str(), f.qty.0))
                .collect::<Vec<_>>(),
            vec![("full", 5), ("part", 3)]
        );
        assert!(r.contains(&ExecReport::CancelRejected {
            id: cid("full"),
            ts: ms(25),
            reason: "unknown or already closed".into()
        }));
        assert!(r.contains(&ExecReport::Cancelled {
            id: cid("part"),
            ts: ms(25)
        }));
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn reduce_only_is_rejected_when_flat_and_capped_to_the_position() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 50)], &[(10_000, 50)]);
        submit(&mut v, 1, reduce_only(market("ro0", SELL, 1)));
        assert_eq!(
            poll(&mut v, 11),
            vec![ExecReport::Rejected {
                id: cid("ro0"),
                ts: ms(6),
                reason: "reduce-only order would not reduce the position".into()
            }]
        );
        submit(&mut v, 20, market("long", BUY, 3));
        submit(&mut v, 20, reduce_only(market("ro1", SELL, 5)));
        let r = poll(&mut v, 30);
        let f = fills(&r);
        assert_eq!(
            (f[1].client_id.as_str(), f[1].qty),
            ("ro1", Qty(3)),
            "capped"
        );
        assert_eq!(
            r.last(),
            Some(&ExecReport::Cancelled {
                id: cid("ro1"),
                ts: ms(25)
            })
        );
        // Flat again: a resting reduce-only order is cancelled when its position goes.
        submit(&mut v, 40, market("long2", BUY, 4));
        submit(
            &mut v,
            40,
            reduce_only(limit("tp", SELL, 10_050, 4, TimeInForce::Gtc)),
        );
        submit(&mut v, 40, reduce_only(market("exit", SELL, 4)));
        let r = poll(&mut v, 50);
        assert!(r.contains(&ExecReport::Accepted {
            id: cid("tp"),
            ts: ms(45),
            queue_ahead: Some(Qty(0))
        }));
        assert_eq!(
            r.last(),
            Some(&ExecReport::Cancelled {
                id: cid("tp"),
                ts: ms(45)
            })
        );
        assert_eq!(v.resting_orders(), 0);
    }

    #[test]
    fn gtc_limit_takes_what_crosses_and_rests_the_rest() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2), (10_005, 9)]);
        submit(&mut v, 1, limit("g", BUY, 10_001, 5, TimeInForce::Gtc));
        let r = poll(&mut v, 11);
        assert!(matches!(r[0], ExecReport::Accepted { .. }), "ack first");
        let f = fills(&r);
        assert_eq!(
            (f[0].price, f[0].qty, f[0].liquidity),
            (Price(10_000), Qty(2), Liquidity::Taker)
        );
        assert_eq!(v.resting_orders(), 1);
        assert_eq!(v.queue_ahead(&cid("g")), Some(Qty(0)));
    }

    #[test]
    fn odd_input_is_refused_never_panics() {
        let mut v = venue();
        let other = OrderRequest {
            instrument: InstrumentId(7),
            ..market("x", BUY, 1)
        };
        submit(&mut v, 1, other);
        submit(&mut v, 1, market("zero", BUY, 0));
        submit(&mut v, 1, req("noprice", BUY, OrderKind::Limit, None, 1));
        submit(&mut v, 1, limit("dup", BUY, 9_000, 1, TimeInForce::Gtc));
        submit(&mut v, 1, limit("dup", BUY, 9_001, 1, TimeInForce::Gtc));
        cancel(&mut v, 1, "nobody");
        v.on_market(&MarketEvent {
            ts: ms(2),
            instrument: InstrumentId(9),
            kind: MarketEventKind::Level {
                side: BUY,
                price: Price(1),
                qty: Qty(1),
            },
        });
        trade(&mut v, 3, 9_000, -5, SELL);
        let r = poll(&mut v, 20);
        let reasons: Vec<String> =
            r.iter()
                .filter_map(|r| match r {
                    ExecReport::Rejected { reason, .. }
                    | ExecReport::CancelRejected { reason, .. } => Some(reason.clone()),
                    _ => None,
                })
                .collect();
        assert_eq!(
            reasons,
            vec![
                "unknown instrument",
                "quantity must be positive",
                "limit order without a price",
                "duplicate client order id",
                "unknown or already closed",
            ]
        );
        assert_eq!(v.queue_ahead(&cid("nobody")), None);
        assert_eq!(v.resting_orders(), 1);
    }

    #[test]
    fn resyncing_book_offers_nothing_and_queue_is_unknown_until_snapshot() {
        let mut v = venue();
        snapshot(&mut v, 0, &[(10_000, 8)], &[(10_010, 5)]);
        market_event(
            &mut v,
            1,
            MarketEventKind::Resyncing {
                reason: "gap".into(),
            },
        );
        level(&mut v, 2, SELL, 10_010, 5); // ignored until a snapshot
        submit(&mut v, 3, market("m", BUY, 1));
        submit(&mut v, 3, limit("b", BUY, 10_000, 1, TimeInForce::Gtc));
        let r = poll(&mut v, 20);
        assert_eq!(
            r,
            vec![
                ExecReport::Cancelled {
                    id: cid("m"),
                    ts: ms(8)
                },
                ExecReport::Accepted {
                    id: cid("b"),
                    ts: ms(8),
                    queue_ahead: None
                },
            ]
        );
        trade(&mut v, 21, 10_000, 100, SELL);
        assert!(
            poll(&mut v, 30).is_empty(),
            "unknown queue: no fill at our price"
        );
        snapshot(&mut v, 31, &[(10_000, 4)], &[(10_010, 5)]);
        assert_eq!(v.queue_ahead(&cid("b")), Some(Qty(4)));
    }

    /// A busy script: ties, partial fills, cancels, queue, crossing, trades through.
    fn script() -> Vec<ExecReport> {
        let mut v = venue();
        let mut out = Vec::new();
        snapshot(
            &mut v,
            0,
            &[(9_998, 4), (9_999, 6)],
            &[(10_001, 3), (10_002, 7)],
        );
        for (i, t) in [1, 1, 1, 2, 2].into_iter().enumerate() {
            let id = format!("s{i}");
            submit(
                &mut v,
                t,
                limit(&id, BUY, 9_999 - i as i64 % 2, 2, TimeInForce::Gtc),
            );
        }
        submit(&mut v, 2, market("m", BUY, 5));
        submit(&mut v, 2, limit("i", SELL, 9_998, 20, TimeInForce::Ioc));
        cancel(&mut v, 3, "s3");
        v.poll_reports(ms(7), &mut out);
        trade(&mut v, 8, 9_999, 9, SELL);
        level(&mut v, 9, SELL, 9_999, 3);
        trade(&mut v, 10, 9_997, 4, SELL);
        v.poll_reports(ms(100), &mut out);
        out
    }

    #[test]
    fn same_script_gives_identical_reports() {
        let a = script();
        let b = script();
        assert!(fills(&a).len() >= 4, "the script does trade: {a:#?}");
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let seqs: Vec<u64> = fills(&a).iter().map(|f| f.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "fill seq strictly increasing"
        );
        assert!(
            a.windows(2).all(|w| w[0].ts() <= w[1].ts()),
            "in time order"
        );
    }

    #[test]
    fn params_default_parse_and_validate() {
        let p = PaperParams::default();
        assert_eq!(
            (
                p.latency_in_ms,
                p.latency_out_ms,
                p.maker_fee_bps,
                p.taker_fee_bps
            ),
            (5, 5, dec!(1), dec!(5))
        );
        assert_eq!(p.validate(), Ok(()));
        let p: PaperParams = toml::from_str("latency_in_ms = 20\nmaker_fee_bps = -0.5").unwrap();
        assert_eq!(p.latency_in_ms, 20);
        assert_eq!(p.maker_fee_bps, dec!(-0.5));
        assert_eq!(p.taker_fee_bps, dec!(5));
        assert!(toml::from_str::<PaperParams>("latency_ms = 1").is_err());
        let bad = PaperParams {
            latency_out_ms: 600_000,
            ..PaperParams::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("latency_out_ms".into())
        );
        let bad = PaperParams {
            taker_fee_bps: dec!(5000),
            ..PaperParams::default()
        };
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("taker_fee_bps".into())
        );
    }
}
