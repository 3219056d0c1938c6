//! Normalized events: market data from any venue adapter, and execution reports from
//! any execution venue (paper or real).

use super::book::Level;
use super::instrument::InstrumentId;
use super::num::{Price, Qty};
use super::order::{ClientOrderId, Fill, Side};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A trade printed by the market.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeTick {
    pub ts: Timestamp,
    pub price: Price,
    pub qty: Qty,
    /// The side of the order that took liquidity.
    pub aggressor: Side,
}

/// One normalized market-data event for one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketEvent {
    /// When it was received (live) or generated (simulated), engine time.
    pub ts: Timestamp,
    pub instrument: InstrumentId,
    pub kind: MarketEventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketEventKind {
    /// Replace the whole book.
    Snapshot { bids: Vec<Level>, asks: Vec<Level> },
    /// Set the absolute size at one level (zero deletes).
    Level { side: Side, price: Price, qty: Qty },
    /// A trade printed.
    Trade(TradeTick),
    /// The feed lost integrity (gap, checksum, stale): the book is not to be trusted until
    /// the next snapshot.
    Resyncing { reason: String },
}

/// What an execution venue says about our orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecReport {
    /// The order rests (or is being worked). `queue_ahead` is the size ahead of it at its
    /// price when it arrived, where the venue can estimate it.
    Accepted {
        id: ClientOrderId,
        ts: Timestamp,
        queue_ahead: Option<Qty>,
    },
    Rejected {
        id: ClientOrderId,
        ts: Timestamp,
        reason: String,
    },
    Filled(Fill),
    /// A fill of an order an earlier run of pit placed, found at the venue by
    /// reconciliation (at start or on a reconnect). It moves the position like any fill;
    /// no order of this run is behind it, and it is expected, not an anomaly.
    EarlierRunFill(Fill),
    /// The order is cancelled: on request, or the unfilled rest of an IOC/market order.
    Cancelled {
        id: ClientOrderId,
        ts: Timestamp,
    },
    /// A cancel request failed (typically: already filled or unknown).
    CancelRejected {
        id: ClientOrderId,
        ts: Timestamp,
        reason: String,
    },
}

impl ExecReport {
    pub fn ts(&self) -> Timestamp {
        match self {
            ExecReport::Accepted { ts, .. }
            | ExecReport::Rejected { ts, .. }
            | ExecReport::Cancelled { ts, .. }
            | ExecReport::CancelRejected { ts, .. } => *ts,
            ExecReport::Filled(f) | ExecReport::EarlierRunFill(f) => f.ts,
        }
    }
    pub fn id(&self) -> &ClientOrderId {
        match self {
            ExecReport::Accepted { id, .. }
            | ExecReport::Rejected { id, .. }
            | ExecReport::Cancelled { id, .. }
            | ExecReport::CancelRejected { id, .. } => id,
            ExecReport::Filled(f) | ExecReport::EarlierRunFill(f) => &f.client_id,
        }
    }
}
