//! The pre-trade checks, one function per check, in the order
//! [`RiskEngine::evaluate`](super::RiskEngine::evaluate) runs them. Each one answers for
//! a single rule and returns the [`Refusal`] that names it; a limit of 0 (or `false`)
//! passes. The checks an order form needs before an order exists ([`lot_grid`],
//! [`tick_grid`], [`order_size`], [`order_notional`], [`price_band`]) take plain decimal
//! inputs, so the console asks the very rules the engine enforces.

use super::refusal::Refusal;
use super::{BPS, NANOS_PER_SEC, RiskCtx, RiskLimits};
use crate::domain::{
    FilterOrder, Instrument, OrderBook, OrderKind, OrderRequest, Price, Qty, Side, StrategyId,
    TimeInForce, Timestamp, VenueRulesState,
};
use rust_decimal::Decimal;
use std::collections::VecDeque;

const NANOS_PER_MS: i64 = 1_000_000;

/// How a market order walks the book.
pub(super) struct Walk {
    notional: Decimal,
    unfilled: Decimal,
    worst: Option<Price>,
}

/// `a / b` rounded up, for non-negative `a` and positive `b`.
fn div_ceil(a: i64, b: i64) -> i64 {
    if a <= 0 { 0 } else { (a - 1) / b + 1 }
}

fn invalid(reason: String) -> Refusal {
    Refusal::InvalidOrder { reason }
}

/// The order's size, signed: positive for a buy, negative for a sell.
fn signed(side: Side, qty: Decimal) -> Decimal {
    match side {
        Side::Buy => qty,
        Side::Sell => -qty,
    }
}

/// Check 1, duplicate client order id: `duplicate` says the id was used before in this
/// run.
pub(super) fn duplicate_id(req: &OrderRequest, duplicate: bool) -> Result<(), Refusal> {
    if duplicate {
        return Err(Refusal::DuplicateId {
            id: req.client_id.clone(),
        });
    }
    Ok(())
}

/// Check 2, order sanity: the order is for this instrument, its size is positive and at
/// least the minimum ([`order_size`]), and its price fits its kind
/// ([`price_for_kind`]).
pub(super) fn sanity(req: &OrderRequest, inst: &Instrument) -> Result<(), Refusal> {
    if req.spec.instrument != inst.id {
        return Err(invalid(format!(
            "order is for instrument {} but was checked against {} {}",
            req.spec.instrument, inst.id, inst.symbol
        )));
    }
    order_size(req.spec.qty, inst)?;
    price_for_kind(req.spec.kind, req.spec.price, req.spec.tif, inst)
}

/// Minimum size: `qty` lots are positive and at least the instrument's `min_qty`.
pub fn order_size(qty: Qty, inst: &Instrument) -> Result<(), Refusal> {
    if !qty.is_positive() {
        return Err(invalid(format!(
            "qty {} must be positive",
            inst.qty(qty).normalize()
        )));
    }
    if qty < inst.min_qty {
        return Err(invalid(format!(
            "qty {} is below the minimum {} for {}",
            inst.qty(qty).normalize(),
            inst.qty(inst.min_qty).normalize(),
            inst.symbol
        )));
    }
    Ok(())
}

/// Price and kind agree: a limit order has a positive price, a market order has none and
/// is not post-only.
fn price_for_kind(
    kind: OrderKind,
    price: Option<Price>,
    tif: TimeInForce,
    inst: &Instrument,
) -> Result<(), Refusal> {
    match (kind, price) {
        (OrderKind::Limit, None) => Err(invalid("a limit order needs a price".to_string())),
        (OrderKind::Limit, Some(p)) => positive_price(p, inst),
        (OrderKind::Market, Some(p)) => Err(invalid(format!(
            "a market order cannot carry a price (got {})",
            inst.price(p).normalize()
        ))),
        (OrderKind::Market, None) if tif == TimeInForce::PostOnly => {
            Err(invalid("a market order cannot be post-only".to_string()))
        }
        _ => Ok(()),
    }
}

/// A limit price of `p` ticks is positive.
fn positive_price(p: Price, inst: &Instrument) -> Result<(), Refusal> {
    if p.0 <= 0 {
        return Err(invalid(format!(
            "limit price {} must be positive",
            inst.price(p).normalize()
        )));
    }
    Ok(())
}

/// Lot grid, for an order not yet built: a decimal size is a whole number of the
/// instrument's lots, positive and at least the minimum ([`order_size`]). Returns it in
/// lots.
pub fn lot_grid(qty: Decimal, inst: &Instrument) -> Result<Qty, Refusal> {
    let lots = inst
        .qty_from_decimal(qty)
        .map_err(|e| invalid(format!("qty {e}")))?;
    order_size(lots, inst)?;
    Ok(lots)
}

/// Tick grid, for an order not yet built: a decimal limit price is a whole number of the
/// instrument's ticks, and positive. Returns it in ticks.
pub fn tick_grid(price: Decimal, inst: &Instrument) -> Result<Price, Refusal> {
    let ticks = inst
        .price_from_decimal(price)
        .map_err(|e| invalid(format!("price {e}")))?;
    positive_price(ticks, inst)?;
    Ok(ticks)
}

/// Check 3, reduce-only: the order is on the opposite side of a non-zero position and no
/// larger than it. `position` is what the order may still reduce (signed, base units).
pub(super) fn reduces(side: Side, qty: Decimal, position: Decimal) -> Result<(), Refusal> {
    let reduces = !position.is_zero()
        && position.is_sign_positive() == (side == Side::Sell)
        && qty <= position.abs();
    if !reduces {
        return Err(Refusal::NotReducing {
            side,
            qty: qty.normalize(),
            position: position.normalize(),
        });
    }
    Ok(())
}

/// Check 4, loss cooldown: no new orders of `strategy` before `until`, the end of the
/// cooldown that its `losses` losing round trips in a row started.
pub(super) fn cooldown(
    strategy: StrategyId,
    until: Option<Timestamp>,
    losses: u32,
    now: Timestamp,
) -> Result<(), Refusal> {
    if let Some(until) = until
        && now < until
    {
        let left = until.0.saturating_sub(now.0);
        return Err(Refusal::Cooldown {
            strategy,
            losses,
            until,
            remaining_ms: u64::try_from(div_ceil(left, NANOS_PER_MS)).unwrap_or(0),
        });
    }
    Ok(())
}

/// The instrument's trading session (`[[sessions]]`, `engine/session.rs`): outside its
/// windows, and in the last `flat_before_close_minutes`, no new orders; in the pre-open
/// and post-close minutes limit orders only. Reduce-only orders never reach this check.
pub(super) fn session(
    req: &OrderRequest,
    inst: &Instrument,
    session: Option<&crate::engine::session::SessionNow>,
) -> Result<(), Refusal> {
    let Some(s) = session else {
        return Ok(());
    };
    if s.phase.suspended() {
        return Err(Refusal::Session {
            limit_only: false,
            text: format!(
                "{} {}: no new orders until the next window opens {} (reduce-only exits pass)",
                inst.symbol,
                s.phase.word(),
                s.next_text
            ),
        });
    }
    if s.phase.limit_only() && req.spec.kind == OrderKind::Market {
        return Err(Refusal::Session {
            limit_only: true,
            text: format!(
                "{} {}: limit orders only until {}",
                inst.symbol,
                s.phase.word(),
                s.until_text
            ),
        });
    }
    Ok(())
}

/// Checks 5 and 6, the loss limits: the day's PnL above minus `daily_loss_limit`
/// ([`daily_loss`]), then the drawdown below `max_drawdown` ([`drawdown`]).
pub(super) fn loss_limits(
    l: &RiskLimits,
    day_pnl: Decimal,
    drawdown_now: Decimal,
) -> Result<(), Refusal> {
    daily_loss(day_pnl, l.daily_loss_limit)?;
    drawdown(drawdown_now, l.max_drawdown)
}

/// Check 5, daily loss: the day's net PnL is above minus `limit`.
fn daily_loss(day_pnl: Decimal, limit: Decimal) -> Result<(), Refusal> {
    if limit > Decimal::ZERO && day_pnl <= -limit {
        return Err(Refusal::DailyLoss {
            day_pnl: day_pnl.normalize(),
            limit: limit.normalize(),
        });
    }
    Ok(())
}

/// Check 6, drawdown: equity peak minus equity now is below `limit`.
fn drawdown(drawdown: Decimal, limit: Decimal) -> Result<(), Refusal> {
    if limit > Decimal::ZERO && drawdown >= limit {
        return Err(Refusal::Drawdown {
            drawdown: drawdown.normalize(),
            limit: limit.normalize(),
        });
    }
    Ok(())
}

/// Check 7, stale book: the instrument's book changed at most `limit_ms` ago (and has
/// changed at all).
pub(super) fn stale_data(
    now: Timestamp,
    last_update: Option<Timestamp>,
    limit_ms: u64,
) -> Result<(), Refusal> {
    if limit_ms == 0 {
        return Ok(());
    }
    let age_ms = last_update
        .map(|t| u64::try_from(now.0.saturating_sub(t.0).max(0) / NANOS_PER_MS))
        .map(|r| r.unwrap_or(0));
    match age_ms {
        Some(age) if age <= limit_ms => Ok(()),
        _ => Err(Refusal::StaleData { age_ms, limit_ms }),
    }
}

/// Check 8, a market to price the order: a limit order needs the mid; a market order the
/// opposite side, and the mid too when the price band is on (a one-sided book is exactly
/// when a market order is most dangerous). Returns twice the mid in ticks (exact), if
/// the book has one.
pub(super) fn market_to_price(
    req: &OrderRequest,
    book: &OrderBook,
    price_band_bps: Decimal,
) -> Result<Option<i64>, Refusal> {
    match req.spec.kind {
        OrderKind::Limit => Ok(Some(book.mid_x2_ticks().ok_or(Refusal::NoMarket)?)),
        OrderKind::Market => {
            let mid_x2 = book.mid_x2_ticks();
            let band_blind = price_band_bps > Decimal::ZERO && mid_x2.is_none();
            if book.best(req.spec.side.opposite()).is_none() || band_blind {
                return Err(Refusal::NoMarket);
            }
            Ok(mid_x2)
        }
    }
}

/// A market order's walk of the opposite side, when the notional or the band check needs
/// it (None for limit orders).
pub(super) fn walk(
    req: &OrderRequest,
    inst: &Instrument,
    book: &OrderBook,
    l: &RiskLimits,
) -> Option<Walk> {
    let needed = l.max_order_notional > Decimal::ZERO || l.price_band_bps > Decimal::ZERO;
    if req.spec.kind != OrderKind::Market || !needed {
        return None;
    }
    let cost = book.cost_to_take(req.spec.side, req.spec.qty, None);
    let notional = Decimal::try_from_i128_with_scale(cost.notional, 0)
        .unwrap_or(Decimal::MAX)
        .saturating_mul(inst.tick_size)
        .saturating_mul(inst.lot_size);
    Some(Walk {
        notional,
        unfilled: inst.qty(req.spec.qty.saturating_sub(cost.filled)),
        worst: cost.worst,
    })
}

/// Check 9, max order qty: the order's size (base units) is at most `max`.
pub fn max_order_qty(qty: Decimal, max: Decimal) -> Result<(), Refusal> {
    if max > Decimal::ZERO && qty > max {
        return Err(Refusal::MaxOrderQty {
            qty: qty.normalize(),
            max: max.normalize(),
        });
    }
    Ok(())
}

/// Check 10, max order notional, on an order: price x qty for a limit order, the walk's
/// cost for a market order (see [`order_notional`]).
pub(super) fn max_order_notional(
    req: &OrderRequest,
    inst: &Instrument,
    qty: Decimal,
    walk: Option<&Walk>,
    max: Decimal,
) -> Result<(), Refusal> {
    if max <= Decimal::ZERO {
        return Ok(());
    }
    let (notional, unfilled) = match (walk, req.spec.price) {
        (Some(w), _) => (w.notional, w.unfilled),
        (None, Some(p)) => (inst.price(p).saturating_mul(qty).abs(), Decimal::ZERO),
        (None, None) => (Decimal::ZERO, Decimal::ZERO),
    };
    order_notional(notional, unfilled, max)
}

/// Max order notional with plain inputs: `notional` (quote) is at most `max`, and
/// `unfilled` (the size a market order's walk of the visible book leaves unfilled) is
/// zero. `max` 0 disables.
pub fn order_notional(notional: Decimal, unfilled: Decimal, max: Decimal) -> Result<(), Refusal> {
    if max > Decimal::ZERO && (notional > max || !unfilled.is_zero()) {
        return Err(Refusal::MaxOrderNotional {
            notional: notional.normalize(),
            max: max.normalize(),
            unfilled: unfilled.normalize(),
        });
    }
    Ok(())
}

/// Check 11, price band, on an order: its limit price, or a market order's worst walked
/// price, against the book's mid (see [`price_band`]). Passes when there is no price or
/// no mid to compare.
pub(super) fn order_price_band(
    req: &OrderRequest,
    inst: &Instrument,
    walk: Option<&Walk>,
    mid_x2: Option<i64>,
    max_bps: Decimal,
) -> Result<(), Refusal> {
    if max_bps <= Decimal::ZERO {
        return Ok(());
    }
    let (price, beyond_book) = match (walk, req.spec.price) {
        (Some(w), _) => (w.worst, !w.unfilled.is_zero()),
        (None, p) => (p, false),
    };
    let (Some(price), Some(mid_x2)) = (price, mid_x2) else {
        return Ok(());
    };
    let mid = Decimal::from(mid_x2) * inst.tick_size / Decimal::TWO;
    price_band(inst.price(price), mid, max_bps, beyond_book)
}

/// Price band with plain inputs: `price` is at most `max_bps` basis points of `mid` away
/// from `mid`, compared without dividing (|price - mid| x 10000 > max_bps x |mid| fails).
/// `beyond_book` (a market order would walk past the whole visible book, `price` being
/// its last level) fails too. `max_bps` 0 disables.
pub fn price_band(
    price: Decimal,
    mid: Decimal,
    max_bps: Decimal,
    beyond_book: bool,
) -> Result<(), Refusal> {
    if max_bps <= Decimal::ZERO {
        return Ok(());
    }
    let deviation = (price - mid).abs().saturating_mul(Decimal::from(BPS));
    let allowed = max_bps.saturating_mul(mid.abs());
    if deviation > allowed || beyond_book {
        return Err(Refusal::PriceBand {
            price: price.normalize(),
            mid: mid.normalize(),
            max_bps: max_bps.normalize(),
            beyond_book,
        });
    }
    Ok(())
}

/// Check 12, position limit: the position plus the open orders on the order's side plus
/// the order stays within `max` (absolute, base units). Beyond the max already (the limit
/// was lowered, or a manual fill), an order that only brings that worst case closer to
/// zero, without crossing it, may go.
pub(super) fn max_position(
    side: Side,
    qty: Decimal,
    ctx: &RiskCtx<'_>,
    max: Decimal,
) -> Result<(), Refusal> {
    if max <= Decimal::ZERO {
        return Ok(());
    }
    let before = match side {
        Side::Buy => ctx.position.saturating_add(ctx.open_buy_qty),
        Side::Sell => ctx.position.saturating_sub(ctx.open_sell_qty),
    };
    let projected = before.saturating_add(signed(side, qty));
    let toward_zero = projected.abs() < before.abs()
        && (projected.is_zero() || projected.is_sign_negative() == before.is_sign_negative());
    if projected.abs() > max && !toward_zero {
        return Err(Refusal::MaxPosition {
            position: ctx.position.normalize(),
            projected: projected.normalize(),
            max: max.normalize(),
        });
    }
    Ok(())
}

/// Check 13, position flip (`forbid_flip`): the order does not take the position through
/// zero to the other side.
pub(super) fn position_flip(
    forbid_flip: bool,
    side: Side,
    qty: Decimal,
    position: Decimal,
) -> Result<(), Refusal> {
    if !forbid_flip {
        return Ok(());
    }
    let result = position.saturating_add(signed(side, qty));
    let flips = (position > Decimal::ZERO && result < Decimal::ZERO)
        || (position < Decimal::ZERO && result > Decimal::ZERO);
    if flips {
        return Err(Refusal::PositionFlip {
            side,
            qty: qty.normalize(),
            position: position.normalize(),
            result: result.normalize(),
        });
    }
    Ok(())
}

/// Check 14, max open orders: the account has fewer than `max` open orders.
pub(super) fn max_open_orders(open: usize, max: u32) -> Result<(), Refusal> {
    if max > 0 && open >= max as usize {
        return Err(Refusal::MaxOpenOrders { open, max });
    }
    Ok(())
}

/// Check 15, rate limit: fewer than `max` approvals in the rolling second before `now`;
/// `recent` holds the latest approval times, oldest first.
pub(super) fn rate_limit(
    recent: &VecDeque<Timestamp>,
    now: Timestamp,
    max: u32,
) -> Result<(), Refusal> {
    if max == 0 {
        return Ok(());
    }
    // Approvals still inside the rolling second (the deque is in time order).
    let mut in_window = recent
        .iter()
        .skip_while(|t| now.0.saturating_sub(t.0) >= NANOS_PER_SEC);
    let oldest = in_window.next().copied();
    let count = oldest.map_or(0, |_| 1 + in_window.count());
    if count >= max as usize {
        let oldest = oldest.unwrap_or(now);
        let left = NANOS_PER_SEC - now.0.saturating_sub(oldest.0);
        return Err(Refusal::RateLimit {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            max,
            retry_in_ms: u64::try_from(div_ceil(left, NANOS_PER_MS)).unwrap_or(0),
        });
    }
    Ok(())
}

/// Check 3, the venue's rules (its exchange filters: tick, lot, notional, open orders,
/// the symbol's status): an order the venue would reject is refused here, naming the rule
/// and the figures. Reduce-only orders are held to them too (the venue would reject them
/// as well). Rules not known yet for a live venue refuse every new order but let
/// reduce-only exits through (fail closed for exposure; an exit the venue might reject
/// still beats no exit). A market order's notional is taken at the touch it would take;
/// PERCENT_PRICE ranges are centred on the book's mid (the venue uses its average price,
/// which pit does not see).
pub(super) fn venue_rules(req: &OrderRequest, ctx: &RiskCtx<'_>) -> Result<(), Refusal> {
    let inst = ctx.instrument;
    let rules = match ctx.venue_rules {
        VenueRulesState::NotRequired => return Ok(()),
        VenueRulesState::Awaited { .. } if req.spec.reduce_only => return Ok(()),
        VenueRulesState::Awaited { venue, why } => {
            return Err(Refusal::VenueRulesUnknown {
                text: super::refusal::rules_unknown_msg(venue, &inst.symbol, why),
            });
        }
        VenueRulesState::Known { rules, .. } => rules,
    };
    let s = &req.spec;
    let market_price = match s.kind {
        OrderKind::Market => ctx
            .book
            .best(s.side.opposite())
            .map(|l| inst.price(l.price)),
        OrderKind::Limit => None,
    };
    let order = FilterOrder {
        side: s.side,
        order_type: FilterOrder::order_type_of(s.kind, s.tif),
        price: match s.kind {
            OrderKind::Limit => s.price.map(|p| inst.price(p).normalize()),
            OrderKind::Market => None,
        },
        qty: inst.qty(s.qty).normalize(),
        market_price,
        average_price: ctx
            .book
            .mid_ticks()
            .map(|m| (m * inst.tick_size).normalize()),
        open_on_symbol: ctx.open_on_instrument,
        open_on_venue: ctx.open_orders,
    };
    rules
        .check(&order)
        .map_err(|breach| Refusal::VenueFilter { breach })
}
