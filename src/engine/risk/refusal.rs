//! Why an order was refused: the [`Refusal`] reasons with their one-line messages and
//! stable codes, and [`Refused`], a refused order handed back with its reason. Every
//! check of the risk engine speaks this language, and so can the console's order form.

use super::BPS;
use crate::domain::{ClientOrderId, FilterBreach, OrderRequest, Side, StrategyId, Timestamp};
use rust_decimal::Decimal;

/// Why an order was refused. `Display` gives a one-line reason a trader understands, with
/// the numbers; [`Refusal::code`] a stable machine name. Sizes are base units, money is
/// quote currency, prices are decimal prices.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client order id was used before in this run.
    #[error("client order id {id} was already used in this run")]
    DuplicateId {
        /// The repeated id.
        id: ClientOrderId,
    },
    /// The order itself is malformed (zero or too small a size, a limit without a price, a
    /// market order with one, the wrong instrument ...).
    #[error("invalid order: {reason}")]
    InvalidOrder {
        /// What is wrong, with the figures.
        reason: String,
    },
    /// The order breaks one of the venue's rules for the instrument (its exchange
    /// filters): the venue would reject it. `Display`: `"LOT_SIZE: qty 0.000015 is not a
    /// multiple of step 0.00001"`.
    #[error("{breach}")]
    VenueFilter {
        /// The rule and the figures.
        breach: FilterBreach,
    },
    /// A live venue's rules for the instrument are not known yet: new orders are refused
    /// until they are (fail closed). `Display` names the venue, the symbol and why.
    #[error("{text}")]
    VenueRulesUnknown {
        /// `binance BTCUSDT: the venue's filters ... are not known yet (why): ...`.
        text: String,
    },
    /// A reduce-only order that would not reduce the position.
    #[error("{}", not_reducing_msg(*.side, .qty, .position))]
    NotReducing {
        /// The order's side.
        side: Side,
        /// The order's size.
        qty: Decimal,
        /// The position, signed.
        position: Decimal,
    },
    /// Too many losing round trips in a row of one strategy: its new orders wait (other
    /// strategies and manual orders do not).
    #[error(
        "S{} cooling down after {losses} losing round trips in a row: its new orders wait until {} UTC ({} s left)",
        u16::from(*.strategy) + 1,
        .until.hms_millis(),
        millis_as_secs(*.remaining_ms)
    )]
    Cooldown {
        /// The strategy whose streak it is (0-based; shown as `S1`..).
        strategy: StrategyId,
        /// The losses in a row that started the cooldown.
        losses: u32,
        /// When the cooldown ends.
        until: Timestamp,
        /// Milliseconds left.
        remaining_ms: u64,
    },
    /// The instrument's trading session does not take this order now: it is closed (or
    /// flattening before its close), or only takes limit orders (pre-open, post-close).
    #[error("{text}")]
    Session {
        /// Only market orders are refused (pre-open, post-close).
        limit_only: bool,
        /// `BTC-USD SESSION CLOSED: no new orders until the next window opens Mon
        /// 2026-03-09 09:30 EDT (13:30Z) ...`, or `... PRE-OPEN: limit orders only until ...`.
        text: String,
    },
    /// The day's PnL reached the daily loss limit.
    #[error("day PnL {day_pnl} is at or below the daily loss limit -{limit} (daily_loss_limit)")]
    DailyLoss {
        /// The day's net PnL.
        day_pnl: Decimal,
        /// `daily_loss_limit`.
        limit: Decimal,
    },
    /// The drawdown from the equity peak reached the limit.
    #[error("drawdown {drawdown} from the equity peak reached max_drawdown {limit}")]
    Drawdown {
        /// Equity peak minus current equity.
        drawdown: Decimal,
        /// `max_drawdown`.
        limit: Decimal,
    },
    /// The book has not changed for too long (or never has).
    #[error("{}", stale_msg(*.age_ms, *.limit_ms))]
    StaleData {
        /// Milliseconds since the last book update; None if there never was one.
        age_ms: Option<u64>,
        /// `stale_data_ms`.
        limit_ms: u64,
    },
    /// The book lacks the side needed to price the order: both sides (the mid) for a limit
    /// order; the opposite side for a market order, and both when the price band is on.
    #[error("no market: the book lacks the side needed to price the order")]
    NoMarket,
    /// The order is larger than `max_order_qty`.
    #[error("order qty {qty} exceeds max_order_qty {max}")]
    MaxOrderQty {
        /// The order's size.
        qty: Decimal,
        /// `max_order_qty`.
        max: Decimal,
    },
    /// The order's notional is larger than `max_order_notional`, or a market order is larger
    /// than the visible book can fill.
    #[error("{}", notional_msg(.notional, .max, .unfilled))]
    MaxOrderNotional {
        /// The order's notional (for a market order the book cannot fill: what it can).
        notional: Decimal,
        /// `max_order_notional`.
        max: Decimal,
        /// Size the visible book cannot fill (zero unless a market order is too large).
        unfilled: Decimal,
    },
    /// The price is too far from the mid.
    #[error("{}", band_msg(.price, .mid, .max_bps, *.beyond_book))]
    PriceBand {
        /// The limit price, or a market order's worst walked price.
        price: Decimal,
        /// The book's mid price.
        mid: Decimal,
        /// `price_band_bps`.
        max_bps: Decimal,
        /// A market order would walk past the whole visible book; `price` is its last level.
        beyond_book: bool,
    },
    /// Position plus open orders on the same side plus this order exceeds `max_position`.
    #[error(
        "position {position} could reach {projected} with the open orders on this side and this order, beyond max_position {max}"
    )]
    MaxPosition {
        /// The position, signed.
        position: Decimal,
        /// Position if this order and the open ones on its side all filled, signed.
        projected: Decimal,
        /// `max_position`.
        max: Decimal,
    },
    /// The order would take the position through zero (`forbid_flip`).
    #[error("{side} {qty} would flip the position from {position} to {result} (forbid_flip)")]
    PositionFlip {
        /// The order's side.
        side: Side,
        /// The order's size.
        qty: Decimal,
        /// The position now, signed.
        position: Decimal,
        /// The position after the order fills, signed.
        result: Decimal,
    },
    /// The account already has `max_open_orders` open orders.
    #[error("{open} open orders: one more exceeds max_open_orders {max}")]
    MaxOpenOrders {
        /// Open orders now.
        open: usize,
        /// `max_open_orders`.
        max: u32,
    },
    /// `max_orders_per_sec` orders were approved in the last second.
    #[error(
        "{count} orders approved in the last second reach max_orders_per_sec {max}; next slot in {retry_in_ms} ms"
    )]
    RateLimit {
        /// Approved orders in the last second.
        count: u32,
        /// `max_orders_per_sec`.
        max: u32,
        /// Milliseconds until the oldest of them leaves the window (rounded up).
        retry_in_ms: u64,
    },
}

impl Refusal {
    /// A stable snake_case name for logs, alerts and the store.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::DuplicateId { .. } => "duplicate_id",
            Refusal::InvalidOrder { .. } => "invalid_order",
            Refusal::VenueFilter { breach } => match breach.filter {
                "PRICE_FILTER" => "venue_filter:price_filter",
                "PERCENT_PRICE" | "PERCENT_PRICE_BY_SIDE" => "venue_filter:percent_price",
                "LOT_SIZE" | "MARKET_LOT_SIZE" => "venue_filter:lot_size",
                "MIN_NOTIONAL" | "NOTIONAL" => "venue_filter:notional",
                _ => "venue_filter",
            },
            Refusal::VenueRulesUnknown { .. } => "venue_rules_unknown",
            Refusal::NotReducing { .. } => "not_reducing",
            Refusal::Cooldown { .. } => "cooldown",
            Refusal::Session {
                limit_only: false, ..
            } => "session_closed",
            Refusal::Session { .. } => "session_limit_only",
            Refusal::DailyLoss { .. } => "daily_loss",
            Refusal::Drawdown { .. } => "drawdown",
            Refusal::StaleData { .. } => "stale_data",
            Refusal::NoMarket => "no_market",
            Refusal::MaxOrderQty { .. } => "max_order_qty",
            Refusal::MaxOrderNotional { .. } => "max_order_notional",
            Refusal::PriceBand { .. } => "price_band",
            Refusal::MaxPosition { .. } => "max_position",
            Refusal::PositionFlip { .. } => "position_flip",
            Refusal::MaxOpenOrders { .. } => "max_open_orders",
            Refusal::RateLimit { .. } => "rate_limit",
        }
    }
}

fn not_reducing_msg(side: Side, qty: &Decimal, position: &Decimal) -> String {
    if position.is_zero() {
        format!("reduce-only {side} {qty} refused: there is no position to reduce")
    } else if (side == Side::Buy) == position.is_sign_positive() {
        format!("reduce-only {side} {qty} would increase the position {position}")
    } else {
        format!("reduce-only {side} {qty} is larger than the position {position} it would reduce")
    }
}

/// The text of [`Refusal::VenueRulesUnknown`].
pub(super) fn rules_unknown_msg(venue: &str, symbol: &str, why: &Option<String>) -> String {
    let why = why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
    format!(
        "{venue} {symbol}: the venue's filters (tick, lot, notional) are not known yet{why}: new orders refused until they are loaded"
    )
}

fn millis_as_secs(ms: u64) -> Decimal {
    Decimal::new(i64::try_from(ms).unwrap_or(i64::MAX), 3)
}

fn stale_msg(age_ms: Option<u64>, limit_ms: u64) -> String {
    match age_ms {
        None => format!("no book update received yet (stale_data_ms {limit_ms})"),
        Some(age) => format!("book data is {age} ms old, beyond stale_data_ms {limit_ms}"),
    }
}

fn notional_msg(notional: &Decimal, max: &Decimal, unfilled: &Decimal) -> String {
    if unfilled.is_zero() {
        format!("order notional {notional} exceeds max_order_notional {max}")
    } else {
        format!(
            "market order too large for the book: {unfilled} of it would go unfilled (the book holds {notional} of notional; max_order_notional {max})"
        )
    }
}

fn band_msg(price: &Decimal, mid: &Decimal, max_bps: &Decimal, beyond_book: bool) -> String {
    let bps = match (*price - *mid)
        .abs()
        .checked_mul(Decimal::from(BPS))
        .and_then(|d| d.checked_div(mid.abs()))
    {
        Some(bps) => bps.round_dp(1).normalize().to_string(),
        None => "?".to_string(),
    };
    if beyond_book {
        format!(
            "market order would walk past the whole book, beyond its last level {price} ({bps} bps from mid {mid}; price_band_bps {max_bps})"
        )
    } else {
        format!("price {price} is {bps} bps from mid {mid}, beyond price_band_bps {max_bps}")
    }
}

/// A refused order, handed back with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The order as it was asked for.
    pub req: OrderRequest,
    /// Why it was refused.
    pub reason: Refusal,
}
