//! Pure domain types: no I/O, no runtime, no terminal.
//!
//! Book prices and sizes are fixed-point integers in the instrument's tick and lot
//! ([`Price`], [`Qty`]); accounting is in `rust_decimal`. Never `f64` for money.

pub mod book;
pub mod event;
pub mod filters;
pub mod gate;
pub mod heartbeat;
pub mod instrument;
pub mod invalid;
pub mod num;
pub mod open_orders;
pub mod order;
pub mod position;
pub mod time;
pub mod trading;

pub use book::{Level, OrderBook, TakeCost};
pub use event::{ExecReport, MarketEvent, MarketEventKind, TradeTick};
pub use filters::{FilterBreach, FilterOrder, VenueFilter, VenueRules, VenueRulesState};
pub use gate::TradingGate;
pub use heartbeat::Heartbeat;
pub use instrument::{Instrument, InstrumentId};
pub use invalid::Invalid;
pub use num::{Price, Qty};
pub use open_orders::OpenOrders;
pub use order::{
    BracketLegs, ClientOrderId, Fill, GroupRole, Liquidity, ModifyTo, Order, OrderGroup, OrderKind,
    OrderRequest, OrderSpec, OrderStatus, OrderTag, Owner, Side, StrategyId, TimeInForce,
    TransitionError,
};
pub use position::{FillEffect, Position};
pub use time::{TimeOfDay, Timestamp};
pub use trading::TradingState;
