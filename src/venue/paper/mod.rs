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
//! * **Gate.** The runner's `GatedPort` is where the trading gate is enforced, for every
//!   port. The venue keeps its own check in `submit` as a second line (one atomic load): a
//!   closed gate refuses everything except reduce-only orders, with a `Rejected` report.
//!   Cancels always go.
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
//!
//! # Parts
//!
//! This file holds the `[paper]` parameters and [`PaperVenue`], the execution port: the
//! gate, arrivals, validation and taker orders. `market.rs` is the matching per instrument
//! (the mirror, consumed liquidity, our resting orders and their queues, maker fills),
//! `latency.rs` the orders travelling in and the reports travelling back, `fees.rs` the
//! fee of a fill.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{ExecutionPort, PortStats};
use crate::domain::Invalid;
use crate::domain::{
    ClientOrderId, ExecReport, Instrument, Liquidity, MarketEvent, OrderKind, OrderRequest, Price,
    Qty, Side, TimeInForce, Timestamp, TradingGate,
};
use crate::engine::risk::RiskApproved;
use fees::Fees;
use latency::{Inbound, Inbox, Match, Outbox};
use market::{Market, Resting, reducible, signed};

mod fees;
pub mod journal;
mod latency;
mod market;
#[cfg(test)]
mod tests;

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
            maker_fee_bps: Decimal::ZERO,
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

/// The paper execution venue. See the module docs for the fill model.
#[derive(Debug)]
pub struct PaperVenue {
    gate: TradingGate,
    /// Indexed by `InstrumentId`.
    markets: Vec<Market>,
    /// Orders and cancels on their way.
    inbound: Inbox,
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
            gate,
            markets: instruments.into_iter().map(Market::new).collect(),
            inbound: Inbox::new(Duration::from_millis(params.latency_in_ms)),
            out: Outbox::new(
                Duration::from_millis(params.latency_out_ms),
                Fees {
                    maker_bps: params.maker_fee_bps,
                    taker_bps: params.taker_fee_bps,
                },
            ),
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

    /// Keep the venue's own log (see [`journal`]); its first fill is numbered `next_seq`.
    pub fn keep_log(&mut self, journal: journal::Journal, next_seq: u64) {
        self.out.journal = Some(journal);
        self.out.continue_fills_from(next_seq);
    }

    /// Fills an earlier run's venue made that the store never got (read from the venue's
    /// log at start): they move the venue's position and reach the engine at `at` as
    /// [`ExecReport::EarlierRunFill`], before anything this run does (call after
    /// [`PaperVenue::seed_position`]).
    pub fn hand_over(&mut self, at: Timestamp, fills: Vec<crate::domain::Fill>) {
        for mut f in fills {
            if let Some(m) = self.markets.get_mut(f.instrument.index()) {
                m.position = m.position.saturating_add(signed(f.side, f.qty.0));
            }
            f.ts = f.ts.max(at);
            // Due at once: the venue answers the moment it is asked.
            self.out.queue_due(at, ExecReport::EarlierRunFill(f));
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

    /// Handle everything arriving at the venue at or before `upto`, in arrival order.
    fn process_arrivals(&mut self, upto: Timestamp) {
        while let Some((at, what)) = self.inbound.pop_due(upto) {
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
        let Some(m) = self.markets.get(req.spec.instrument.index()) else {
            return Err("unknown instrument");
        };
        if !req.spec.qty.is_positive() {
            return Err("quantity must be positive");
        }
        if req.spec.qty < m.inst.min_qty {
            return Err("quantity below the instrument minimum");
        }
        match (req.spec.kind, req.spec.tif) {
            (OrderKind::Limit, _) if req.spec.price.is_none() => {
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
        if req.spec.reduce_only {
            let r = reducible(m.position, req.spec.side);
            if r == 0 {
                return Err("reduce-only order would not reduce the position");
            }
            return Ok(req.spec.qty.0.min(r));
        }
        Ok(req.spec.qty.0)
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
        let Some(m) = self.markets.get_mut(req.spec.instrument.index()) else {
            return; // admit() checked it
        };
        let out = &mut self.out;
        let takes = &mut self.takes;
        takes.clear();
        let limit = match req.spec.kind {
            OrderKind::Market => None,
            OrderKind::Limit => req.spec.price,
        };
        if req.spec.tif == TimeInForce::PostOnly {
            if let Some(p) = limit
                && m.would_cross(req.spec.side, p)
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
            m.take(req.spec.side, cap, limit, takes);
        }
        let taken: i64 = takes.iter().map(|&(_, q)| q).sum();
        let rest_price = match (req.spec.kind, req.spec.tif) {
            (OrderKind::Limit, TimeInForce::Gtc | TimeInForce::PostOnly) if cap > taken => limit,
            _ => None,
        };
        let queue_ahead = rest_price
            .filter(|_| !m.stale)
            .map(|p| m.book.level_qty(req.spec.side, p));
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
                    side: req.spec.side,
                    price,
                    qty,
                    liquidity: Liquidity::Taker,
                },
            );
            m.position = m.position.saturating_add(signed(req.spec.side, qty));
        }
        match rest_price {
            Some(price) => m.rest(Resting {
                id: req.client_id,
                side: req.spec.side,
                price,
                open: cap - taken,
                unfilled: req.spec.qty.0 - taken,
                queue_ahead,
                reduce_only: req.spec.reduce_only,
            }),
            None if req.spec.qty.0 > taken => out.push(
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

impl PaperVenue {
    /// An order that reaches this fill model from outside pit, over a venue's wire: `pit
    /// emulate` stands in for an exchange, and what its clients send was approved (or
    /// not) by their own risk checks, not by this process's engine. It arrives
    /// `latency_in_ms` later, like any order; the gate is not consulted (the exchange has
    /// none). pit's own orders go through [`ExecutionPort::submit`].
    pub fn submit_from_wire(&mut self, now: Timestamp, req: OrderRequest) {
        self.stats.orders_sent += 1;
        self.inbound.send(now, Inbound::Order(req));
    }
}

impl ExecutionPort for PaperVenue {
    /// Checks the gate as the order leaves; it reaches the venue `latency_in_ms` later.
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        let req = order.into_inner();
        if !self.gate.allows(req.spec.reduce_only) {
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
        self.inbound.send(now, Inbound::Order(req));
    }

    /// Cancels always go; they reach the venue `latency_in_ms` later.
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.stats.cancels_sent += 1;
        self.inbound.send(now, Inbound::Cancel(id.clone()));
    }

    /// Handles arrivals due at or before the event first, then applies the event.
    fn on_market(&mut self, event: &MarketEvent) {
        if let Some(at) = self.inbound.next_arrival()
            && at <= event.ts
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
        let arrival = self.inbound.next_arrival();
        let report = self.out.next_due();
        match (arrival, report) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// Handles arrivals due at or before `now`, then moves due reports into `out`.
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        self.process_arrivals(now);
        self.out.flush_journal();
        while let Some(report) = self.out.pop_due(now) {
            out.push(report);
        }
    }

    fn queue_ahead(&self, id: &ClientOrderId) -> Option<Qty> {
        PaperVenue::queue_ahead(self, id)
    }
    fn take_failure(&mut self) -> Option<String> {
        self.out.journal.as_mut()?.take_failure()
    }
    fn stats(&self) -> PortStats {
        self.stats
    }
}
