//! A venue's trading rules for one instrument (its "filters"), and the check an order
//! must pass so that the venue never has to reject what pit could have known.
//!
//! The rule kinds and their names are Binance spot's, the richest set among pit's venues
//! (filters.md, "Symbol filters" and "Exchange Filters", binance-spot-api-docs as of
//! 2026-07): `PRICE_FILTER`, `PERCENT_PRICE`, `PERCENT_PRICE_BY_SIDE`, `LOT_SIZE`,
//! `MARKET_LOT_SIZE`, `MIN_NOTIONAL`, `NOTIONAL`, `MAX_NUM_ORDERS` and
//! `EXCHANGE_MAX_NUM_ORDERS`, plus the symbol's trading status and its allowed order
//! types (exchangeInfo's `status`, `orderTypes`). A venue adapter turns what its venue
//! publishes into [`VenueRules`]; the engine's risk engine and a venue emulator then run
//! the very same [`VenueRules::check`].
//!
//! Filters that cannot apply to an order pit sends are not modelled: ICEBERG_PARTS and
//! MAX_NUM_ICEBERG_ORDERS (pit sends no iceberg), MAX_NUM_ALGO_ORDERS and TRAILING_DELTA
//! (no stop orders), MAX_NUM_ORDER_AMENDS and MAX_NUM_ORDER_LISTS (no amends, no lists).
//! MAX_POSITION (base balance + open buys) and MAX_ASSET (`/myFilters`) need the account's
//! balances and are left to the venue.
//!
//! Pure: decimals in, a [`FilterBreach`] out; no I/O, no clock.

use super::order::{OrderKind, Side, TimeInForce};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One rule. Zero disables a bound where the venue says so (PRICE_FILTER's three parts,
/// NOTIONAL's `maxNotional` in practice); a step of 0 means "any multiple".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "filter", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VenueFilter {
    /// `minPrice <= price <= maxPrice`, `price % tickSize == 0`; each part off when 0.
    PriceFilter {
        min: Decimal,
        max: Decimal,
        tick: Decimal,
    },
    /// `ref * down <= price <= ref * up`, `ref` the venue's average (or reference) price.
    PercentPrice { up: Decimal, down: Decimal },
    /// The same, with one range for buys and one for sells.
    PercentPriceBySide {
        bid_up: Decimal,
        bid_down: Decimal,
        ask_up: Decimal,
        ask_down: Decimal,
    },
    /// `min <= qty <= max`, `qty % step == 0` (every order).
    LotSize {
        min: Decimal,
        max: Decimal,
        step: Decimal,
    },
    /// The same for MARKET orders (on top of LOT_SIZE).
    MarketLotSize {
        min: Decimal,
        max: Decimal,
        step: Decimal,
    },
    /// `price * qty >= min`; MARKET orders only with `apply_to_market`, at the reference
    /// price.
    MinNotional { min: Decimal, apply_to_market: bool },
    /// `min <= price * qty <= max`; for MARKET orders each bound per its flag.
    Notional {
        min: Decimal,
        apply_min_to_market: bool,
        max: Decimal,
        apply_max_to_market: bool,
    },
    /// Open orders of the account on this symbol, this one included, at most `max`.
    MaxNumOrders { max: u32 },
    /// Open orders of the account on the whole exchange, this one included, at most `max`.
    ExchangeMaxNumOrders { max: u32 },
}

impl VenueFilter {
    /// The rule's name as the venue writes it (Binance's `filterType`).
    pub fn name(&self) -> &'static str {
        match self {
            VenueFilter::PriceFilter { .. } => "PRICE_FILTER",
            VenueFilter::PercentPrice { .. } => "PERCENT_PRICE",
            VenueFilter::PercentPriceBySide { .. } => "PERCENT_PRICE_BY_SIDE",
            VenueFilter::LotSize { .. } => "LOT_SIZE",
            VenueFilter::MarketLotSize { .. } => "MARKET_LOT_SIZE",
            VenueFilter::MinNotional { .. } => "MIN_NOTIONAL",
            VenueFilter::Notional { .. } => "NOTIONAL",
            VenueFilter::MaxNumOrders { .. } => "MAX_NUM_ORDERS",
            VenueFilter::ExchangeMaxNumOrders { .. } => "EXCHANGE_MAX_NUM_ORDERS",
        }
    }
}

/// What the venue publishes about one instrument: whether it trades now, which order
/// types it takes, and its filters (in the venue's order: the first failure is reported,
/// as the venue does).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRules {
    /// The venue's trading status when it is not trading (Binance `status` other than
    /// `TRADING`: `HALT`, `BREAK`, `END_OF_DAY`, ...): no new order is accepted.
    pub not_trading: Option<String>,
    /// The order types the venue accepts for the instrument, as it names them (Binance
    /// `orderTypes`: `LIMIT`, `LIMIT_MAKER`, `MARKET`, ...). Empty: not stated, not checked.
    pub order_types: Vec<String>,
    pub filters: Vec<VenueFilter>,
}

/// What the rules need to know about one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterOrder {
    pub side: Side,
    /// The venue's name of the order type (`LIMIT`, `LIMIT_MAKER`, `MARKET`).
    pub order_type: &'static str,
    /// The limit price; None for a market order (which has none).
    pub price: Option<Decimal>,
    pub qty: Decimal,
    /// The price a market order's notional is taken at (the venue uses an average of
    /// recent trades; pit passes the touch the order would take), None if unknown: those
    /// checks are then skipped.
    pub market_price: Option<Decimal>,
    /// The price PERCENT_PRICE ranges are centred on (the venue's average price; pit
    /// passes the book's mid), None if unknown: those checks are skipped.
    pub average_price: Option<Decimal>,
    /// Open orders of the account on this instrument, before this one.
    pub open_on_symbol: usize,
    /// Open orders of the account on the venue, before this one.
    pub open_on_venue: usize,
}

impl FilterOrder {
    pub fn is_market(&self) -> bool {
        self.price.is_none()
    }

    /// The venue's name of the order type pit sends for an order of this kind
    /// (Binance's rest-api.md, "New order"): LIMIT_MAKER for post-only, MARKET, else
    /// LIMIT (GTC or IOC).
    pub fn order_type_of(kind: OrderKind, tif: TimeInForce) -> &'static str {
        match (kind, tif) {
            (OrderKind::Market, _) => "MARKET",
            (OrderKind::Limit, TimeInForce::PostOnly) => "LIMIT_MAKER",
            (OrderKind::Limit, _) => "LIMIT",
        }
    }
}

/// What the engine knows of an instrument's venue rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VenueRulesState {
    /// Paper, replay, the simulated market: the venue checks nothing pit must know.
    #[default]
    NotRequired,
    /// A live venue whose rules have not arrived yet (or could not be read: `why`): new
    /// orders are refused (fail closed); reduce-only exits go, the venue checks them.
    Awaited { venue: String, why: Option<String> },
    /// The rules the venue published.
    Known { venue: String, rules: VenueRules },
}

static NOT_REQUIRED: VenueRulesState = VenueRulesState::NotRequired;

impl VenueRulesState {
    /// A `'static` [`VenueRulesState::NotRequired`], for checks with no venue rules.
    pub fn not_required() -> &'static VenueRulesState {
        &NOT_REQUIRED
    }

    /// One line for the health view and `pit status`.
    pub fn describe(&self) -> String {
        match self {
            VenueRulesState::NotRequired => "not required".into(),
            VenueRulesState::Awaited { why: None, .. } => "AWAITED: new orders refused".into(),
            VenueRulesState::Awaited { why: Some(w), .. } => {
                format!("AWAITED ({w}): new orders refused")
            }
            VenueRulesState::Known { rules, .. } => rules.summary(),
        }
    }
}

/// The rule an order breaks, with the figures: `Display` is `"LOT_SIZE: qty 0.000015 is
/// not a multiple of step 0.00001"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterBreach {
    /// The venue's name of the rule (`LOT_SIZE`, ...; `STATUS`, `ORDER_TYPES` for the
    /// symbol's status and allowed types).
    pub filter: &'static str,
    /// What is wrong, with the order's value and the rule's.
    pub reason: String,
}

impl fmt::Display for FilterBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.filter, self.reason)
    }
}

impl std::error::Error for FilterBreach {}

/// A decimal as a person writes it: `0.00001000` -> `0.00001`.
fn n(d: Decimal) -> Decimal {
    d.normalize()
}

fn on_step(v: Decimal, step: Decimal) -> bool {
    step.is_zero() || (v % step).is_zero()
}

impl VenueRules {
    /// PRICE_FILTER's tick size (None if absent or 0).
    pub fn tick_size(&self) -> Option<Decimal> {
        self.filters.iter().find_map(|f| match f {
            VenueFilter::PriceFilter { tick, .. } if !tick.is_zero() => Some(*tick),
            _ => None,
        })
    }

    /// LOT_SIZE's step (None if absent or 0).
    pub fn step_size(&self) -> Option<Decimal> {
        self.filters.iter().find_map(|f| match f {
            VenueFilter::LotSize { step, .. } if !step.is_zero() => Some(*step),
            _ => None,
        })
    }

    /// A one-line summary for the health view and logs, e.g. `tick 0.01, step 0.00001,
    /// qty 0.00001..9000, notional >= 5`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.not_trading {
            parts.push(format!("NOT TRADING ({s})"));
        }
        for f in &self.filters {
            match *f {
                VenueFilter::PriceFilter { tick, .. } if !tick.is_zero() => {
                    parts.push(format!("tick {}", n(tick)))
                }
                VenueFilter::LotSize { min, max, step } => {
                    parts.push(format!("step {}, qty {}..{}", n(step), n(min), n(max)))
                }
                VenueFilter::MinNotional { min, .. } => {
                    parts.push(format!("notional >= {}", n(min)))
                }
                VenueFilter::Notional { min, max, .. } if max.is_zero() => {
                    parts.push(format!("notional >= {}", n(min)))
                }
                VenueFilter::Notional { min, max, .. } => {
                    parts.push(format!("notional {}..{}", n(min), n(max)))
                }
                VenueFilter::MaxNumOrders { max } => parts.push(format!("open orders <= {max}")),
                _ => {}
            }
        }
        parts.join(", ")
    }

    /// The largest part of a holding of `held` (base units, unsigned) a closing market
    /// order may carry at the venue: rounded DOWN to the lot steps (LOT_SIZE,
    /// MARKET_LOT_SIZE), never up past the holding; zero when that is below a minimum
    /// (`minQty` of either, or the NOTIONAL / MIN_NOTIONAL minimum that applies to market
    /// orders, at `price`, the touch the order would take; skipped when unknown, as
    /// [`VenueRules::check`] does). What it leaves is dust the venue will not take: a
    /// spot buy's fee taken in the coin bought leaves the holding off the step.
    ///
    /// One order carries at most the largest size the venue takes (`maxQty` of LOT_SIZE
    /// and MARKET_LOT_SIZE; 0: none): a holding above it closes in several orders, each
    /// within it, and the rest is not dust (an order of it is closable next).
    pub fn closable(&self, held: Decimal, price: Option<Decimal>) -> Decimal {
        let mut q = held.max(Decimal::ZERO);
        let floor = |q: Decimal, step: Decimal| {
            if step.is_zero() {
                q
            } else {
                (q / step).trunc() * step
            }
        };
        for f in &self.filters {
            if let VenueFilter::LotSize { step, .. } | VenueFilter::MarketLotSize { step, .. } = *f
            {
                q = floor(q, step);
            }
        }
        for f in &self.filters {
            let below = match *f {
                VenueFilter::LotSize { min, .. } | VenueFilter::MarketLotSize { min, .. } => {
                    q < min
                }
                VenueFilter::MinNotional {
                    min,
                    apply_to_market: true,
                }
                | VenueFilter::Notional {
                    min,
                    apply_min_to_market: true,
                    ..
                } => price.is_some_and(|p| p * q < min),
                _ => false,
            };
            if below {
                return Decimal::ZERO;
            }
        }
        for f in &self.filters {
            if let VenueFilter::LotSize { max, step, .. }
            | VenueFilter::MarketLotSize { max, step, .. } = *f
                && max.is_sign_positive()
                && !max.is_zero()
            {
                q = q.min(floor(max, step));
            }
        }
        q
    }

    /// Check an order against every rule, in the venue's order; the first breach wins.
    pub fn check(&self, o: &FilterOrder) -> Result<(), FilterBreach> {
        let fail = |filter: &'static str, reason: String| Err(FilterBreach { filter, reason });
        if let Some(status) = &self.not_trading {
            return fail(
                "STATUS",
                format!("the venue is not trading this symbol (status {status}): no new orders"),
            );
        }
        if !self.order_types.is_empty() && !self.order_types.iter().any(|t| t == o.order_type) {
            return fail(
                "ORDER_TYPES",
                format!(
                    "{} orders are not accepted on this symbol (allowed: {})",
                    o.order_type,
                    self.order_types.join(", ")
                ),
            );
        }
        let market = o.is_market();
        // The notional the venue would compute: price x qty, or for a market order the
        // reference price x qty (filters.md, MIN_NOTIONAL / NOTIONAL).
        let notional = match o.price {
            Some(p) => Some(p * o.qty),
            None => o.market_price.map(|p| p * o.qty),
        };
        for f in &self.filters {
            let name = f.name();
            match *f {
                VenueFilter::PriceFilter { min, max, tick } => {
                    let Some(p) = o.price else { continue };
                    if !min.is_zero() && p < min {
                        return fail(name, format!("price {p} is below the minimum {}", n(min)));
                    }
                    if !max.is_zero() && p > max {
                        return fail(name, format!("price {p} is above the maximum {}", n(max)));
                    }
                    if !on_step(p, tick) {
                        return fail(
                            name,
                            format!("price {p} is not a multiple of tick {}", n(tick)),
                        );
                    }
                }
                VenueFilter::PercentPrice { up, down } => {
                    percent(name, o, up, down, "")?;
                }
                VenueFilter::PercentPriceBySide {
                    bid_up,
                    bid_down,
                    ask_up,
                    ask_down,
                } => match o.side {
                    Side::Buy => percent(name, o, bid_up, bid_down, "buy ")?,
                    Side::Sell => percent(name, o, ask_up, ask_down, "sell ")?,
                },
                VenueFilter::LotSize { min, max, step } => lot(name, o.qty, min, max, step)?,
                VenueFilter::MarketLotSize { min, max, step } if market => {
                    lot(name, o.qty, min, max, step)?
                }
                VenueFilter::MarketLotSize { .. } => {}
                VenueFilter::MinNotional {
                    min,
                    apply_to_market,
                } => {
                    if market && !apply_to_market {
                        continue;
                    }
                    if let Some(v) = notional
                        && v < min
                    {
                        return fail(
                            name,
                            format!("notional {} is below the minimum {}", n(v), n(min)),
                        );
                    }
                }
                VenueFilter::Notional {
                    min,
                    apply_min_to_market,
                    max,
                    apply_max_to_market,
                } => {
                    let Some(v) = notional else { continue };
                    if (!market || apply_min_to_market) && v < min {
                        return fail(
                            name,
                            format!("notional {} is below the minimum {}", n(v), n(min)),
                        );
                    }
                    if (!market || apply_max_to_market) && !max.is_zero() && v > max {
                        return fail(
                            name,
                            format!("notional {} is above the maximum {}", n(v), n(max)),
                        );
                    }
                }
                VenueFilter::MaxNumOrders { max } => {
                    if o.open_on_symbol >= max as usize {
                        return fail(
                            name,
                            format!(
                                "{} open orders on this symbol: one more exceeds the venue's {max}",
                                o.open_on_symbol
                            ),
                        );
                    }
                }
                VenueFilter::ExchangeMaxNumOrders { max } => {
                    if o.open_on_venue >= max as usize {
                        return fail(
                            name,
                            format!(
                                "{} open orders on the venue: one more exceeds its {max}",
                                o.open_on_venue
                            ),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// LOT_SIZE / MARKET_LOT_SIZE (filters.md): `qty >= minQty`, `qty <= maxQty`,
/// `qty % stepSize == 0`. A `maxQty` of 0 is taken as no maximum (MARKET_LOT_SIZE is
/// written all zeros on some symbols).
fn lot(
    filter: &'static str,
    q: Decimal,
    min: Decimal,
    max: Decimal,
    step: Decimal,
) -> Result<(), FilterBreach> {
    let reason = if q < min {
        format!("qty {q} is below the minimum {}", n(min))
    } else if !max.is_zero() && q > max {
        format!("qty {q} is above the maximum {}", n(max))
    } else if !on_step(q, step) {
        format!("qty {q} is not a multiple of step {}", n(step))
    } else {
        return Ok(());
    };
    Err(FilterBreach { filter, reason })
}

/// PERCENT_PRICE(_BY_SIDE) (filters.md): `avg * down <= price <= avg * up`. Limit orders
/// only (a market order has no price); a multiplier of 0 is taken as no bound.
fn percent(
    filter: &'static str,
    o: &FilterOrder,
    up: Decimal,
    down: Decimal,
    side: &str,
) -> Result<(), FilterBreach> {
    let (Some(p), Some(avg)) = (o.price, o.average_price) else {
        return Ok(());
    };
    let (hi, lo) = (avg * up, avg * down);
    let reason = if !up.is_zero() && p > hi {
        format!(
            "{side}price {p} is above {} x the average price {} = {}",
            n(up),
            n(avg),
            n(hi)
        )
    } else if !down.is_zero() && p < lo {
        format!(
            "{side}price {p} is below {} x the average price {} = {}",
            n(down),
            n(avg),
            n(lo)
        )
    } else {
        return Ok(());
    };
    Err(FilterBreach { filter, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn btc() -> VenueRules {
        VenueRules {
            not_trading: None,
            order_types: vec!["LIMIT".into(), "LIMIT_MAKER".into(), "MARKET".into()],
            filters: vec![
                VenueFilter::PriceFilter {
                    min: dec!(0.01000000),
                    max: dec!(1000000.00000000),
                    tick: dec!(0.01000000),
                },
                VenueFilter::PercentPriceBySide {
                    bid_up: dec!(5),
                    bid_down: dec!(0.2),
                    ask_up: dec!(5),
                    ask_down: dec!(0.2),
                },
                VenueFilter::LotSize {
                    min: dec!(0.00001000),
                    max: dec!(9000.00000000),
                    step: dec!(0.00001000),
                },
                VenueFilter::MarketLotSize {
                    min: dec!(0),
                    max: dec!(100),
                    step: dec!(0),
                },
                VenueFilter::Notional {
                    min: dec!(5.00000000),
                    apply_min_to_market: true,
                    max: dec!(9000000.00000000),
                    apply_max_to_market: false,
                },
                VenueFilter::MaxNumOrders { max: 2 },
                VenueFilter::ExchangeMaxNumOrders { max: 3 },
            ],
        }
    }

    fn limit(side: Side, price: Decimal, qty: Decimal) -> FilterOrder {
        FilterOrder {
            side,
            order_type: "LIMIT",
            price: Some(price),
            qty,
            market_price: None,
            average_price: Some(dec!(60000)),
            open_on_symbol: 0,
            open_on_venue: 0,
        }
    }

    fn breach(r: Result<(), FilterBreach>) -> String {
        r.unwrap_err().to_string()
    }

    /// A holding left off the step by a fee in the coin bought: the exit is rounded down to
    /// the step, never up past the holding; a rest below the minimum size or notional is
    /// dust (nothing closable); the closable size passes the venue's own check.
    #[test]
    fn a_holding_off_the_step_closes_rounded_down_and_its_rest_is_dust() {
        let r = btc();
        let px = Some(dec!(60000));
        // Bought 0.001, 0.000001 BTC fee: 0.000999 held, 0.00099 sellable.
        assert_eq!(r.closable(dec!(0.000999), px), dec!(0.00099));
        let sell = FilterOrder {
            side: Side::Sell,
            order_type: "MARKET",
            price: None,
            qty: r.closable(dec!(0.000999), px),
            market_price: px,
            average_price: px,
            open_on_symbol: 0,
            open_on_venue: 0,
        };
        assert_eq!(r.check(&sell), Ok(()));
        // What is left after that sell: below one step: dust.
        assert_eq!(r.closable(dec!(0.000009), px), dec!(0));
        // On the step but worth less than NOTIONAL's 5: dust too (at this price) ...
        assert_eq!(r.closable(dec!(0.00008), px), dec!(0));
        // ... and closable when the price is not known (the venue judges it then).
        assert_eq!(r.closable(dec!(0.00008), None), dec!(0.00008));
        // A whole holding on the step is closed whole; nothing is never something.
        assert_eq!(r.closable(dec!(0.5), px), dec!(0.5));
        assert_eq!(r.closable(dec!(0), px), dec!(0));
        // A coarser step (0.001) and its minimum: 0.004995 closes 0.004, 0.000995 is dust.
        let coarse = VenueRules {
            filters: vec![VenueFilter::LotSize {
                min: dec!(0.001),
                max: dec!(9000),
                step: dec!(0.001),
            }],
            ..VenueRules::default()
        };
        assert_eq!(coarse.closable(dec!(0.004995), px), dec!(0.004));
        assert_eq!(coarse.closable(dec!(0.000995), px), dec!(0));
    }

    /// A holding above the largest market order the venue takes closes in orders of that
    /// size, each passing the venue's check; the last one carries the rest.
    #[test]
    fn a_holding_above_the_largest_market_order_closes_in_orders_of_it() {
        let r = VenueRules {
            filters: vec![
                VenueFilter::LotSize {
                    min: dec!(0.001),
                    max: dec!(9000),
                    step: dec!(0.001),
                },
                VenueFilter::MarketLotSize {
                    min: dec!(0.001),
                    max: dec!(2.5),
                    step: dec!(0.001),
                },
            ],
            ..VenueRules::default()
        };
        let px = Some(dec!(60000));
        let mut held = dec!(6.0004);
        let mut orders = Vec::new();
        while r.closable(held, px) > Decimal::ZERO {
            let q = r.closable(held, px);
            let sell = FilterOrder {
                side: Side::Sell,
                order_type: "MARKET",
                price: None,
                qty: q,
                market_price: px,
                average_price: px,
                open_on_symbol: 0,
                open_on_venue: 0,
            };
            assert_eq!(r.check(&sell), Ok(()), "{q}");
            orders.push(q);
            held -= q;
        }
        assert_eq!(orders, [dec!(2.5), dec!(2.5), dec!(1)]);
        assert_eq!(held, dec!(0.0004), "the rest below a step is dust");
        // A max of 0 means none.
        let open = VenueRules {
            filters: vec![VenueFilter::MarketLotSize {
                min: dec!(0),
                max: dec!(0),
                step: dec!(0),
            }],
            ..VenueRules::default()
        };
        assert_eq!(open.closable(dec!(7.5), px), dec!(7.5));
    }

    #[test]
    fn a_good_order_passes_every_rule() {
        assert_eq!(
            btc().check(&limit(Side::Buy, dec!(60000.01), dec!(0.001))),
            Ok(())
        );
    }

    #[test]
    fn each_breach_names_the_rule_and_both_values() {
        let r = btc();
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(60000), dec!(0.000015)))),
            "LOT_SIZE: qty 0.000015 is not a multiple of step 0.00001"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(60000.005), dec!(0.001)))),
            "PRICE_FILTER: price 60000.005 is not a multiple of tick 0.01"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(0.001), dec!(1)))),
            "PRICE_FILTER: price 0.001 is below the minimum 0.01"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Sell, dec!(60000), dec!(9001)))),
            "LOT_SIZE: qty 9001 is above the maximum 9000"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(60000), dec!(0.000001)))),
            "LOT_SIZE: qty 0.000001 is below the minimum 0.00001"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(60000), dec!(0.00005)))),
            "NOTIONAL: notional 3 is below the minimum 5"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(400000), dec!(0.001)))),
            "PERCENT_PRICE_BY_SIDE: buy price 400000 is above 5 x the average price 60000 = 300000"
        );
        assert_eq!(
            breach(r.check(&limit(Side::Sell, dec!(11000), dec!(0.001)))),
            "PERCENT_PRICE_BY_SIDE: sell price 11000 is below 0.2 x the average price 60000 = 12000"
        );
    }

    #[test]
    fn market_orders_use_the_market_lot_and_the_notional_flags() {
        let r = btc();
        let m = FilterOrder {
            side: Side::Buy,
            order_type: "MARKET",
            price: None,
            qty: dec!(101),
            market_price: Some(dec!(60000)),
            average_price: Some(dec!(60000)),
            open_on_symbol: 0,
            open_on_venue: 0,
        };
        assert_eq!(
            breach(r.check(&m)),
            "MARKET_LOT_SIZE: qty 101 is above the maximum 100"
        );
        // applyMinToMarket: a tiny market order fails at the reference price.
        let tiny = FilterOrder {
            qty: dec!(0.00001),
            ..m
        };
        assert_eq!(
            breach(r.check(&tiny)),
            "NOTIONAL: notional 0.6 is below the minimum 5"
        );
        // applyMaxToMarket = false: a huge market order is not held to maxNotional.
        let big = FilterOrder {
            qty: dec!(100),
            market_price: Some(dec!(1000000)),
            ..m
        };
        assert_eq!(r.check(&big), Ok(()));
        // Without a reference price the notional checks are left to the venue.
        let unknown = FilterOrder {
            market_price: None,
            ..tiny
        };
        assert_eq!(r.check(&unknown), Ok(()));
    }

    #[test]
    fn open_order_counts_status_and_order_types() {
        let mut r = btc();
        let o = FilterOrder {
            open_on_symbol: 2,
            ..limit(Side::Buy, dec!(60000), dec!(0.001))
        };
        assert_eq!(
            breach(r.check(&o)),
            "MAX_NUM_ORDERS: 2 open orders on this symbol: one more exceeds the venue's 2"
        );
        let o = FilterOrder {
            open_on_symbol: 1,
            open_on_venue: 3,
            ..o
        };
        assert_eq!(
            breach(r.check(&o)),
            "EXCHANGE_MAX_NUM_ORDERS: 3 open orders on the venue: one more exceeds its 3"
        );
        let o = FilterOrder {
            order_type: "STOP_LOSS",
            open_on_venue: 0,
            ..o
        };
        assert_eq!(
            breach(r.check(&o)),
            "ORDER_TYPES: STOP_LOSS orders are not accepted on this symbol (allowed: LIMIT, LIMIT_MAKER, MARKET)"
        );
        r.not_trading = Some("BREAK".into());
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(60000), dec!(0.001)))),
            "STATUS: the venue is not trading this symbol (status BREAK): no new orders"
        );
    }

    #[test]
    fn zero_disables_price_parts_and_min_notional_follows_apply_to_market() {
        let r = VenueRules {
            filters: vec![
                VenueFilter::PriceFilter {
                    min: dec!(0),
                    max: dec!(0),
                    tick: dec!(0),
                },
                VenueFilter::MinNotional {
                    min: dec!(10),
                    apply_to_market: false,
                },
            ],
            ..VenueRules::default()
        };
        assert_eq!(
            r.check(&limit(Side::Buy, dec!(123.456789), dec!(1))),
            Ok(())
        );
        assert_eq!(
            breach(r.check(&limit(Side::Buy, dec!(1), dec!(1)))),
            "MIN_NOTIONAL: notional 1 is below the minimum 10"
        );
        let m = FilterOrder {
            order_type: "MARKET",
            price: None,
            market_price: Some(dec!(1)),
            ..limit(Side::Buy, dec!(1), dec!(1))
        };
        assert_eq!(r.check(&m), Ok(()));
    }

    #[test]
    fn summary_reads_like_the_venue_page() {
        assert_eq!(
            btc().summary(),
            "tick 0.01, step 0.00001, qty 0.00001..9000, notional 5..9000000, open orders <= 2"
        );
    }
}
