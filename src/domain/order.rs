//! Orders, their lifecycle state machine, and fills.

use super::instrument::InstrumentId;
use super::num::{Price, Qty};
use super::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a strategy in the engine's strategy list (strategy N is toggled by key N+1).
pub type StrategyId = u8;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    Market,
    Limit,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeInForce {
    /// Rests until filled or cancelled.
    Gtc,
    /// Takes what it can at arrival; the rest is cancelled.
    Ioc,
    /// Rests only: refused if it would take liquidity at arrival.
    PostOnly,
}

/// Who an order belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    Strategy(StrategyId),
    Manual,
    /// Orders the engine sends itself: flatten and the kill switch's exits.
    System,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Strategy(n) => write!(f, "S{}", u16::from(*n) + 1),
            Owner::Manual => f.write_str("manual"),
            Owner::System => f.write_str("system"),
        }
    }
}

/// Why an order was sent; closed trades are attributed by it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderTag {
    Strategy,
    StopLoss,
    TakeProfit,
    TrailingStop,
    Manual,
    KillSwitch,
    Flatten,
    /// A flatten before a trading session's close (`flat_before_close_minutes`).
    SessionClose,
    /// The aged-position manager's close (`[aged_positions]`).
    AgedPosition,
}

impl OrderTag {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderTag::Strategy => "strategy",
            OrderTag::StopLoss => "stop-loss",
            OrderTag::TakeProfit => "take-profit",
            OrderTag::TrailingStop => "trailing-stop",
            OrderTag::Manual => "manual",
            OrderTag::KillSwitch => "kill-switch",
            OrderTag::Flatten => "flatten",
            OrderTag::SessionClose => "session-close",
            OrderTag::AgedPosition => "aged-position",
        }
    }
}

/// A client order id, unique within a run (the risk engine refuses duplicates).
///
/// Shared text (`Arc<str>`): an id is copied into the order book of record, the blotter,
/// every effect and the kill switch's targets, and a kill of a thousand orders copies
/// each several times; a copy is a count increment, not an allocation. Serialized as a
/// plain string (the store, recordings and the control protocol are unchanged).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientOrderId(pub std::sync::Arc<str>);

impl ClientOrderId {
    pub fn new(s: impl Into<std::sync::Arc<str>>) -> Self {
        ClientOrderId(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shape of an order: what to trade, which way, how much, at what price and for how
/// long. The one shape shared by a strategy's intent, an operator's manual order and the
/// request sent to the venue (which adds who it is and why: [`OrderRequest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSpec {
    pub instrument: InstrumentId,
    pub side: Side,
    pub kind: OrderKind,
    /// Required for limit orders, none for market orders.
    pub price: Option<Price>,
    pub qty: Qty,
    pub tif: TimeInForce,
    pub reduce_only: bool,
}

/// What is asked of the venue: an [`OrderSpec`] with our client id, its owner and why it
/// was sent. Stored flat (the spec's fields beside the others), as before the spec existed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub client_id: ClientOrderId,
    #[serde(flatten)]
    pub spec: OrderSpec,
    pub owner: Owner,
    pub tag: OrderTag,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderStatus {
    /// Created and sent; the venue has not answered yet.
    New,
    Acked,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::Acked => "ACKED",
            OrderStatus::PartiallyFilled => "PARTIAL",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Rejected => "REJECTED",
        }
    }
}

/// An event that the order's current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {id}: {event} not allowed in state {from:?}")]
pub struct TransitionError {
    pub id: ClientOrderId,
    pub from: OrderStatus,
    pub event: &'static str,
}

/// An order and its lifecycle as the engine knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub req: OrderRequest,
    pub status: OrderStatus,
    pub filled: Qty,
    /// Sum of price x qty over fills, in ticks x lots, for the average fill price.
    pub filled_notional: i128,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Estimated size resting ahead of this order at its price level.
    pub queue_ahead: Option<Qty>,
    /// A cancel was requested and not yet answered.
    pub cancel_pending: bool,
    pub reject_reason: Option<String>,
    /// A modify (cancel/replace) of this order is under way: its cancel was sent, and a
    /// replacement at this price and total size follows once the venue confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify_to: Option<ModifyTo>,
    /// This order is the replacement of a modify: the working order it replaced (whose
    /// filled part stayed with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<ClientOrderId>,
    /// The group this order belongs to: a bracket (entry, take-profit leg) or an
    /// execution algorithm (a child of its parent). `None` for a plain order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<OrderGroup>,
}

/// A bracket's legs (see `engine/brackets.rs`): a take-profit price, a stop-loss price,
/// or both, on the other side of the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BracketLegs {
    pub take_profit: Option<Price>,
    pub stop_loss: Option<Price>,
}

/// An order's place in a group the engine manages: a bracket (`B<n>`: the entry and its
/// take-profit and stop-loss legs) or an execution algorithm (`A<n>`: its children).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderGroup {
    /// The group's number (brackets and algorithms share one counter).
    pub id: u64,
    pub role: GroupRole,
}

/// What an order does in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupRole {
    /// A bracket's entry.
    Entry,
    /// A bracket's take-profit leg (a reduce-only limit).
    TakeProfit,
    /// A bracket's stop-loss leg, sent when its trigger traded (a reduce-only IOC).
    StopLoss,
    /// A child of an execution algorithm.
    Child,
}

impl OrderGroup {
    /// `B3` for a bracket's order, `A4` for an algorithm's child.
    pub fn name(&self) -> String {
        match self.role {
            GroupRole::Child => format!("A{}", self.id),
            _ => format!("B{}", self.id),
        }
    }
    /// A short word for the orders pane: `entry`, `TP`, `SL`, `child`.
    pub fn role_str(&self) -> &'static str {
        match self.role {
            GroupRole::Entry => "entry",
            GroupRole::TakeProfit => "TP",
            GroupRole::StopLoss => "SL",
            GroupRole::Child => "child",
        }
    }
}

/// Where a modify takes a working limit order: its new price and its new total size
/// (the part already filled counts toward it; the replacement carries the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyTo {
    pub price: Price,
    pub qty: Qty,
}

impl Order {
    pub fn new(req: OrderRequest, now: Timestamp) -> Self {
        Order {
            req,
            status: OrderStatus::New,
            filled: Qty::ZERO,
            filled_notional: 0,
            created: now,
            updated: now,
            queue_ahead: None,
            cancel_pending: false,
            reject_reason: None,
            modify_to: None,
            replaces: None,
            group: None,
        }
    }

    pub fn id(&self) -> &ClientOrderId {
        &self.req.client_id
    }
    pub fn is_open(&self) -> bool {
        !self.status.is_terminal()
    }
    pub fn remaining(&self) -> Qty {
        self.req.spec.qty.saturating_sub(self.filled)
    }
    /// Average fill price in ticks (fractional), if anything filled.
    pub fn avg_fill_ticks(&self) -> Option<Decimal> {
        if self.filled.is_zero() {
            return None;
        }
        Some(
            (Decimal::from_i128_with_scale(self.filled_notional, 0) / Decimal::from(self.filled.0))
                .normalize(),
        )
    }

    fn refuse(&self, event: &'static str) -> TransitionError {
        TransitionError {
            id: self.req.client_id.clone(),
            from: self.status,
            event,
        }
    }

    /// The venue accepted the order.
    pub fn on_ack(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        match self.status {
            OrderStatus::New => {
                self.status = OrderStatus::Acked;
                self.updated = now;
                Ok(())
            }
            _ => Err(self.refuse("ack")),
        }
    }

    /// A fill of `qty` at `price`. A fill before the ack counts as the ack.
    pub fn on_fill(
        &mut self,
        price: Price,
        qty: Qty,
        now: Timestamp,
    ) -> Result<(), TransitionError> {
        if self.status.is_terminal() {
            return Err(self.refuse("fill"));
        }
        if !qty.is_positive() || self.filled + qty > self.req.spec.qty {
            return Err(self.refuse("overfill"));
        }
        self.filled += qty;
        self.filled_notional += i128::from(price.0) * i128::from(qty.0);
        self.status = if self.filled == self.req.spec.qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        self.updated = now;
        Ok(())
    }

    /// The venue confirmed the cancel (or expired the rest of an IOC order).
    pub fn on_cancel(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        if self.status.is_terminal() {
            return Err(self.refuse("cancel"));
        }
        self.status = OrderStatus::Cancelled;
        self.cancel_pending = false;
        self.updated = now;
        Ok(())
    }

    /// The venue refused the order.
    pub fn on_reject(&mut self, reason: &str, now: Timestamp) -> Result<(), TransitionError> {
        if self.status != OrderStatus::New {
            return Err(self.refuse("reject"));
        }
        self.status = OrderStatus::Rejected;
        self.reject_reason = Some(reason.to_string());
        self.updated = now;
        Ok(())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// One execution against an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The venue's fill sequence number, strictly increasing per venue.
    pub seq: u64,
    pub ts: Timestamp,
    pub client_id: ClientOrderId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    /// Fee in the quote currency (negative is a rebate).
    pub fee: Decimal,
    pub liquidity: Liquidity,
    /// The part of the fee the venue took in the base coin, in base units (already in
    /// `fee`, priced at the fill's price). A spot venue charges a buy's commission in the
    /// coin bought unless the account pays in a third coin: the wallet receives `qty -
    /// fee_base`, so the position moves by that ([`Fill::position_qty`]), while the
    /// order's own filled size stays `qty`, the venue's executed quantity. Zero when the
    /// fee is in the quote or a third coin (and on the paper venue).
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub fee_base: Decimal,
}

impl Fill {
    /// What the fill did to the holding, unsigned, from its executed size `gross` in base
    /// units: a buy brings `gross - fee_base` (never below zero), a sell takes `gross +
    /// fee_base` (the wallet pays the fee out of the coin it holds).
    pub fn position_qty(&self, gross: Decimal) -> Decimal {
        match self.side {
            Side::Buy => (gross - self.fee_base).max(Decimal::ZERO),
            Side::Sell => gross + self.fee_base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored order row keeps its flat shape: a store written before `OrderSpec`
    /// existed reads back the same, and a new row is written the way old ones were.
    #[test]
    fn a_request_is_stored_flat_as_before_the_spec() {
        let r = req(3);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "client_id",
            "instrument",
            "side",
            "kind",
            "price",
            "qty",
            "tif",
            "reduce_only",
            "owner",
            "tag",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        assert!(v.get("spec").is_none(), "{v}");
        let back: OrderRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    fn req(qty: i64) -> OrderRequest {
        OrderRequest {
            client_id: ClientOrderId::new("t-1"),
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(100)),
                qty: Qty(qty),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            owner: Owner::Manual,
            tag: OrderTag::Manual,
        }
    }

    #[test]
    fn lifecycle_new_ack_partial_filled() {
        let t = Timestamp(1);
        let mut o = Order::new(req(10), t);
        o.on_ack(t).unwrap();
        o.on_fill(Price(100), Qty(4), t).unwrap();
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        assert_eq!(o.remaining(), Qty(6));
        o.on_fill(Price(102), Qty(6), t).unwrap();
        assert_eq!(o.status, OrderStatus::Filled);
        assert!(!o.is_open());
        assert_eq!(o.avg_fill_ticks().unwrap().to_string(), "101.2");
        assert!(
            o.on_cancel(t).is_err(),
            "a filled order cannot be cancelled"
        );
        assert!(o.on_fill(Price(100), Qty(1), t).is_err());
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let t = Timestamp(1);
        let mut o = Order::new(req(10), t);
        assert!(o.on_fill(Price(100), Qty(11), t).is_err(), "overfill");
        o.on_ack(t).unwrap();
        assert!(o.on_ack(t).is_err(), "double ack");
        assert!(o.on_reject("late", t).is_err(), "reject after ack");
        o.on_cancel(t).unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
        let mut r = Order::new(req(1), t);
        r.on_reject("post-only would cross", t).unwrap();
        assert_eq!(r.status, OrderStatus::Rejected);
        assert_eq!(r.reject_reason.as_deref(), Some("post-only would cross"));
    }
}
