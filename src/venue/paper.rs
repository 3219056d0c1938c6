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
//!   behind us are never credited). A level that grows does not push us back.
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
//!   new resting orders get an unknown queue position (`queue_ahead: None`, which only a
//!   level update or snapshot turns into an estimate; until then trades at our price do
//!   not fill them). Trades still count: they are real prints.
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
use crate::config::Invalid;
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
        self.bids.iter().chain(self.asks.iter()).find(|o| &o.id == id)
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
        for &(p, q) in takes.iter() {
            add_consumed(&mut self.consumed, opp, p, q);
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
        let orders = match our {
            Side::Buy => bids,
            Side::Sell => asks,
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
                let market = qa.0.clamp(0, reach);
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
        if self.markets.iter().any(|m| m.find(&req.client_id).is_some()) {
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
