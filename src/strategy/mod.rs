//! Strategies: the [`Strategy`] trait and the built-in strategies, one file each.
//!
//! A strategy never talks to a venue. The engine calls it on book updates, trades, its own
//! fills and order closes, and a timer; it answers with [`Intent`]s that the engine turns
//! into orders (through the risk engine, like every other order) or cancels.

use crate::domain::{
    ClientOrderId, Fill, Instrument, InstrumentId, Order, OrderBook, OrderKind, OrderTag, Position,
    Price, Qty, Side, StrategyId, TimeInForce, Timestamp, TradeTick, TradingState,
};
use std::collections::BTreeMap;

pub mod exit_manager;
pub mod imbalance;
pub mod market_maker;

/// What a strategy sees when it is called. Everything is read-only.
pub struct StrategyCtx<'a> {
    pub now: Timestamp,
    /// This strategy's id (its orders carry `Owner::Strategy(id)`).
    pub id: StrategyId,
    /// All instruments, indexed by `InstrumentId`.
    pub instruments: &'a [Instrument],
    /// Current books, indexed by `InstrumentId`.
    pub books: &'a [OrderBook],
    /// Account-wide positions, indexed by `InstrumentId`.
    pub positions: &'a [Position],
    /// Every open order of the account (all owners), by client id.
    pub open_orders: &'a BTreeMap<ClientOrderId, Order>,
    pub trading_state: TradingState,
}

impl<'a> StrategyCtx<'a> {
    pub fn instrument(&self, id: InstrumentId) -> &'a Instrument {
        &self.instruments[id.index()]
    }
    pub fn book(&self, id: InstrumentId) -> &'a OrderBook {
        &self.books[id.index()]
    }
    pub fn position(&self, id: InstrumentId) -> &'a Position {
        &self.positions[id.index()]
    }
    /// This strategy's open orders on an instrument, in client-id order.
    pub fn own_orders(&self, inst: InstrumentId) -> impl Iterator<Item = &'a Order> + 'a {
        let me = crate::domain::Owner::Strategy(self.id);
        self.open_orders
            .values()
            .filter(move |o| o.req.owner == me && o.req.instrument == inst)
    }
}

/// An order a strategy wants. The engine assigns the client id and the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderIntent {
    pub instrument: InstrumentId,
    pub side: Side,
    pub kind: OrderKind,
    /// Required for limit orders, ignored for market orders.
    pub price: Option<Price>,
    pub qty: Qty,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub tag: OrderTag,
}

/// What a strategy asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Place(OrderIntent),
    /// Cancel one of this strategy's orders.
    Cancel(ClientOrderId),
    /// Cancel all of this strategy's open orders.
    CancelAll,
}

/// A trading strategy. Implementations must be deterministic: no wall clock, no unseeded
/// randomness, no iteration over hash maps in anything that decides.
pub trait Strategy: Send {
    /// Short name shown in the console, e.g. `market-maker`.
    fn name(&self) -> &str;
    /// The instrument it trades, or `None` when it watches all of them.
    fn instrument(&self) -> Option<InstrumentId>;
    /// The book of `inst` changed.
    fn on_book(&mut self, _ctx: &StrategyCtx<'_>, _inst: InstrumentId, _out: &mut Vec<Intent>) {}
    /// A market trade printed on `inst`.
    fn on_trade(
        &mut self,
        _ctx: &StrategyCtx<'_>,
        _inst: InstrumentId,
        _trade: &TradeTick,
        _out: &mut Vec<Intent>,
    ) {
    }
    /// One of this strategy's orders filled (partly or fully).
    fn on_fill(&mut self, _ctx: &StrategyCtx<'_>, _fill: &Fill, _out: &mut Vec<Intent>) {}
    /// One of this strategy's orders reached a terminal state (filled, cancelled, rejected).
    fn on_order_closed(&mut self, _ctx: &StrategyCtx<'_>, _order: &Order, _out: &mut Vec<Intent>) {}
    /// Called on the engine's timer (every `engine.timer_ms` of engine time).
    fn on_timer(&mut self, _ctx: &StrategyCtx<'_>, _out: &mut Vec<Intent>) {}
    /// The strategy was switched off. The engine cancels its open orders; the strategy
    /// forgets any state that would be wrong when it is switched on again.
    fn on_disable(&mut self) {}
    /// The last signal or action, for the console (e.g. `quote 60010.5/60012.0`).
    fn last_signal(&self) -> Option<&str>;
}
