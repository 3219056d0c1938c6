//! One position at a time, for the strategies that enter and exit (VWAP mean reversion,
//! opening-range breakout): this strategy's own position from its own fills, its entry and
//! exit orders in flight, and the exit order itself.
//!
//! **Never twice.** An exit is a reduce-only market IOC for the strategy's own size, cut to
//! the account position in the same direction (so it never closes more than there is, nor
//! what other strategies hold beyond it). While an order of this strategy is open on the
//! instrument, or an exit was sent less than [`RETRY_NS`] ago and not reported closed,
//! nothing more is sent. When the account is flat or the other way round (another
//! strategy, the exit manager or a person closed it), the own position is forgotten.

use super::{Intent, OrderIntent, StrategyCtx};
use crate::domain::{
    Fill, Instrument, InstrumentId, Order, OrderKind, OrderSpec, OrderTag, Price, Qty, Side,
    TimeInForce,
};

/// An order sent that neither became an open order nor was reported closed (refused by
/// risk before it existed) is forgotten after this long: 1 s of engine time.
pub(super) const RETRY_NS: i64 = 1_000_000_000;

/// The strategy's own position and the orders it has in flight on one instrument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Holding {
    /// Signed own size in lots (from this strategy's fills).
    pub lots: i64,
    /// Price of the first fill of the position (its entry), ticks.
    pub entry_price: Option<Price>,
    /// Engine time (ns) of that first fill.
    pub entry_at: i64,
    /// When the last entry was sent, until it is reported closed.
    pub entry_sent_at: Option<i64>,
    /// When the last exit was sent, until it is reported closed.
    pub exit_sent_at: Option<i64>,
    /// When the position last went flat (for cooldowns).
    pub flat_at: Option<i64>,
}

impl Holding {
    /// Apply one of this strategy's fills.
    pub fn on_fill(&mut self, fill: &Fill) {
        let before = self.lots;
        self.lots += fill.side.sign() * fill.qty.0;
        if before == 0 || before.signum() != self.lots.signum() && self.lots != 0 {
            self.entry_price = Some(fill.price);
            self.entry_at = fill.ts.0;
        }
        if self.lots == 0 {
            self.entry_price = None;
            self.flat_at = Some(fill.ts.0);
        }
    }

    /// One of this strategy's orders closed: its entry or its exit is no longer in flight.
    pub fn on_order_closed(&mut self, order: &Order) {
        if order.req.spec.reduce_only {
            self.exit_sent_at = None;
        } else {
            self.entry_sent_at = None;
        }
    }

    /// The size an exit may close now, in lots: the own size cut to the account position
    /// in the same direction. When the account no longer holds any of it (someone else
    /// closed it), the own position is forgotten and 0 returned.
    pub fn closable(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, now: i64) -> i64 {
        if self.lots == 0 {
            return 0;
        }
        let i = ctx.instrument(inst);
        let account = ctx.position(inst).qty;
        let account_lots =
            i.qty_floor(account.abs()).0 * if account.is_sign_negative() { -1 } else { 1 };
        if account_lots == 0 || account_lots.signum() != self.lots.signum() {
            self.lots = 0;
            self.entry_price = None;
            self.flat_at = Some(now);
            return 0;
        }
        self.lots.abs().min(account_lots.abs())
    }

    /// Whether an order of this strategy is working on `inst`, or one was sent lately and
    /// not heard of since.
    pub fn busy(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId) -> bool {
        if ctx.own_orders(inst).next().is_some() {
            return true;
        }
        let now = ctx.now.0;
        for sent in [&mut self.entry_sent_at, &mut self.exit_sent_at] {
            if sent.is_some_and(|t| now.saturating_sub(t) >= RETRY_NS) {
                *sent = None;
            }
        }
        self.entry_sent_at.is_some() || self.exit_sent_at.is_some()
    }

    /// Send the exit (see the module docs); false when nothing could be sent.
    pub fn exit(
        &mut self,
        ctx: &StrategyCtx<'_>,
        inst: &Instrument,
        tag: OrderTag,
        out: &mut Vec<Intent>,
    ) -> bool {
        let now = ctx.now.0;
        if self.busy(ctx, inst.id) {
            return false;
        }
        let lots = self.closable(ctx, inst.id, now);
        if lots == 0 {
            return false;
        }
        let side = if self.lots > 0 { Side::Sell } else { Side::Buy };
        out.push(Intent::Place(OrderIntent {
            spec: OrderSpec {
                instrument: inst.id,
                side,
                kind: OrderKind::Market,
                price: None,
                qty: Qty(lots),
                tif: TimeInForce::Ioc,
                reduce_only: true,
            },
            tag,
            risk: None,
        }));
        self.exit_sent_at = Some(now);
        true
    }

    /// Send an entry (sized in risk units when `risk` is set; see `sizing.rs`).
    pub fn enter(
        &mut self,
        spec: OrderSpec,
        risk: Option<super::sizing::RiskSize>,
        now: i64,
        out: &mut Vec<Intent>,
    ) {
        out.push(Intent::Place(OrderIntent {
            spec,
            tag: OrderTag::Strategy,
            risk,
        }));
        self.entry_sent_at = Some(now);
    }
}
