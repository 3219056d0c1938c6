//! Symbol filters from `exchangeInfo` and the check Binance applies before an order reaches
//! its matching engine, so that pit (its risk engine) can refuse what the venue would.
//!
//! Rules per filters.md ("Symbol filters"): PRICE_FILTER (`minPrice`, `maxPrice`, `tickSize`,
//! each disabled when 0), LOT_SIZE (`minQty`, `maxQty`, `stepSize`), MARKET_LOT_SIZE (the same
//! for MARKET orders), MIN_NOTIONAL (`price * quantity >= minNotional`; MARKET orders only
//! with `applyToMarket`, at an average price) and NOTIONAL (`minNotional <= price * quantity
//! <= maxNotional`; for MARKET orders per `applyMinToMarket` / `applyMaxToMarket`). A failure
//! is answered with code -1013 and the message "Filter failure: <FILTER>" (errors.md,
//! "Filter failures").
//!
//! This module knows nothing of pit's engine: it takes decimals and answers with the
//! documented failure.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One entry of a symbol's `filters` array. Filters pit does not check are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "filterType")]
pub enum SymbolFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    PriceFilter {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        min_notional: Decimal,
        #[serde(default)]
        apply_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: Decimal,
        #[serde(default)]
        apply_min_to_market: bool,
        max_notional: Decimal,
        #[serde(default)]
        apply_max_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    /// PERCENT_PRICE, ICEBERG_PARTS, MAX_NUM_ORDERS, ...: not checked by pit.
    #[serde(other)]
    Other,
}

/// The filter an order failed, named as Binance names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterName {
    PriceFilter,
    LotSize,
    MarketLotSize,
    MinNotional,
    Notional,
}

impl FilterName {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterName::PriceFilter => "PRICE_FILTER",
            FilterName::LotSize => "LOT_SIZE",
            FilterName::MarketLotSize => "MARKET_LOT_SIZE",
            FilterName::MinNotional => "MIN_NOTIONAL",
            FilterName::Notional => "NOTIONAL",
        }
    }
}

/// A refused order: `Display` is Binance's message ("Filter failure: LOT_SIZE"), `reason`
/// says which rule and by how much, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterFailure {
    pub filter: FilterName,
    pub reason: String,
}

impl FilterFailure {
    /// The code Binance answers with (errors.md: -1013 INVALID_MESSAGE, "Filter failures").
    pub const CODE: i64 = super::errors::code::INVALID_MESSAGE;

    /// Binance's message for this failure.
    pub fn message(&self) -> String {
        format!("Filter failure: {}", self.filter.as_str())
    }
}

impl fmt::Display for FilterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.reason)
    }
}

impl std::error::Error for FilterFailure {}

/// What the filters need to know about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCheck {
    /// MARKET orders have no price: MARKET_LOT_SIZE applies, and notional filters only as
    /// their `applyToMarket` flags say, at `reference_price`.
    pub market: bool,
    /// The limit price (None for MARKET).
    pub price: Option<Decimal>,
    pub quantity: Decimal,
    /// For MARKET orders' notional checks: Binance's average/reference price; pit passes its
    /// best idea of it (the opposite touch or the last trade). None skips those checks.
    pub reference_price: Option<Decimal>,
}

/// A symbol's filters, as checked by [`SymbolRules::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolRules {
    pub filters: Vec<SymbolFilter>,
}

fn on_step(v: Decimal, step: Decimal) -> bool {
    step.is_zero() || (v % step).is_zero()
}

impl SymbolRules {
    pub fn new(filters: Vec<SymbolFilter>) -> Self {
        SymbolRules { filters }
    }

    /// PRICE_FILTER's tick size (None if absent or 0).
    pub fn tick_size(&self) -> Option<Decimal> {
        self.filters.iter().find_map(|f| match f {
            SymbolFilter::PriceFilter { tick_size, .. } if !tick_size.is_zero() => Some(*tick_size),
            _ => None,
        })
    }

    /// LOT_SIZE's step size (None if absent or 0).
    pub fn step_size(&self) -> Option<Decimal> {
        self.filters.iter().find_map(|f| match f {
            SymbolFilter::LotSize { step_size, .. } if !step_size.is_zero() => Some(*step_size),
            _ => None,
        })
    }

    /// Checks the order against every filter pit knows, in the order Binance lists them;
    /// the first failure is returned.
    pub fn check(&self, o: &OrderCheck) -> Result<(), FilterFailure> {
        let fail = |filter, reason: String| Err(FilterFailure { filter, reason });
        let notional = if o.market {
            o.reference_price.map(|p| p * o.quantity)
        } else {
            o.price.map(|p| p * o.quantity)
        };
        for f in &self.filters {
            match *f {
                SymbolFilter::PriceFilter {
                    min_price,
                    max_price,
                    tick_size,
                } => {
                    let Some(p) = o.price.filter(|_| !o.market) else {
                        continue;
                    };
                    if !min_price.is_zero() && p < min_price {
                        return fail(
                            FilterName::PriceFilter,
                            format!("price {p} below minPrice {min_price}"),
                        );
                    }
                    if !max_price.is_zero() && p > max_price {
                        return fail(
                            FilterName::PriceFilter,
                            format!("price {p} above maxPrice {max_price}"),
                        );
                    }
                    if !on_step(p, tick_size) {
                        return fail(
                            FilterName::PriceFilter,
                            format!("price {p} not a multiple of tickSize {tick_size}"),
                        );
                    }
                }
                SymbolFilter::LotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => lot(FilterName::LotSize, o.quantity, min_qty, max_qty, step_size)?,
                SymbolFilter::MarketLotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } if o.market => lot(
                    FilterName::MarketLotSize,
                    o.quantity,
                    min_qty,
                    max_qty,
                    step_size,
                )?,
                SymbolFilter::MinNotional {
                    min_notional,
                    apply_to_market,
                    ..
                } if !o.market || apply_to_market => {
                    if let Some(n) = notional
                        && n < min_notional
                    {
                        return fail(
                            FilterName::MinNotional,
                            format!("notional {n} below minNotional {min_notional}"),
                        );
                    }
                }
                SymbolFilter::Notional {
                    min_notional,
                    apply_min_to_market,
                    max_notional,
                    apply_max_to_market,
                    ..
                } => {
                    let Some(n) = notional else { continue };
                    if (!o.market || apply_min_to_market) && n < min_notional {
                        return fail(
                            FilterName::Notional,
                            format!("notional {n} below minNotional {min_notional}"),
                        );
                    }
                    if (!o.market || apply_max_to_market)
                        && !max_notional.is_zero()
                        && n > max_notional
                    {
                        return fail(
                            FilterName::Notional,
                            format!("notional {n} above maxNotional {max_notional}"),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn lot(
    filter: FilterName,
    q: Decimal,
    min_qty: Decimal,
    max_qty: Decimal,
    step: Decimal,
) -> Result<(), FilterFailure> {
    let reason = if q < min_qty {
        format!("quantity {q} below minQty {min_qty}")
    } else if !max_qty.is_zero() && q > max_qty {
        format!("quantity {q} above maxQty {max_qty}")
    } else if !on_step(q, step) {
        // filters.md, LOT_SIZE: "`quantity` % `stepSize` == 0".
        format!("quantity {q} not a multiple of stepSize {step}")
    } else {
        return Ok(());
    };
    Err(FilterFailure { filter, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// BTCUSDT-like filters, as exchangeInfo writes them.
    fn rules() -> SymbolRules {
        let json = r#"[
            {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"ICEBERG_PARTS","limit":10},
            {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"100.00000000","stepSize":"0.00000000"},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
            {"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"5","bidMultiplierDown":"0.2","askMultiplierUp":"5","askMultiplierDown":"0.2","avgPriceMins":5}
        ]"#;
        SymbolRules::new(serde_json::from_str(json).unwrap())
    }

    fn limit(price: Decimal, quantity: Decimal) -> OrderCheck {
        OrderCheck {
            market: false,
            price: Some(price),
            quantity,
            reference_price: None,
        }
    }

    fn failed(r: Result<(), FilterFailure>) -> String {
        r.unwrap_err().message()
    }

    #[test]
    fn exchange_info_filters_parse_and_unknown_ones_are_kept_as_other() {
        let r = rules();
        assert_eq!(r.filters.len(), 6);
        assert_eq!(r.filters[2], SymbolFilter::Other);
        assert_eq!(r.tick_size(), Some(dec!(0.01)));
        assert_eq!(r.step_size(), Some(dec!(0.00001)));
    }

    #[test]
    fn a_good_order_passes() {
        assert_eq!(rules().check(&limit(dec!(60000.01), dec!(0.001))), Ok(()));
    }

    #[test]
    fn each_rule_fails_with_its_documented_name() {
        let r = rules();
        assert_eq!(
            failed(r.check(&limit(dec!(60000.005), dec!(0.001)))),
            "Filter failure: PRICE_FILTER"
        );
        assert_eq!(
            failed(r.check(&limit(dec!(0.001), dec!(1)))),
            "Filter failure: PRICE_FILTER"
        );
        assert_eq!(
            failed(r.check(&limit(dec!(60000), dec!(0.000015)))),
            "Filter failure: LOT_SIZE"
        );
        assert_eq!(
            failed(r.check(&limit(dec!(60000), dec!(9001)))),
            "Filter failure: LOT_SIZE"
        );
        assert_eq!(
            failed(r.check(&limit(dec!(60000), dec!(0.00005)))),
            "Filter failure: NOTIONAL"
        );
        let market = OrderCheck {
            market: true,
            price: None,
            quantity: dec!(101),
            reference_price: Some(dec!(60000)),
        };
        assert_eq!(failed(r.check(&market)), "Filter failure: MARKET_LOT_SIZE");
        // applyMinToMarket = true: a tiny market order fails NOTIONAL at the reference price.
        let tiny = OrderCheck {
            quantity: dec!(0.00001),
            ..market
        };
        assert_eq!(failed(r.check(&tiny)), "Filter failure: NOTIONAL");
        // applyMaxToMarket = false: a huge-notional market order is not held to maxNotional.
        let big = OrderCheck {
            quantity: dec!(100),
            reference_price: Some(dec!(1000000)),
            ..market
        };
        assert_eq!(r.check(&big), Ok(()));
    }

    #[test]
    fn failure_text_is_binances_message_plus_the_reason() {
        let e = rules()
            .check(&limit(dec!(60000), dec!(0.000015)))
            .unwrap_err();
        assert_eq!(FilterFailure::CODE, -1013);
        assert_eq!(
            e.to_string(),
            "Filter failure: LOT_SIZE (quantity 0.000015 not a multiple of stepSize 0.00001000)"
        );
    }

    #[test]
    fn zero_disables_a_price_rule_and_min_notional_respects_apply_to_market() {
        let r = SymbolRules::new(vec![
            SymbolFilter::PriceFilter {
                min_price: dec!(0),
                max_price: dec!(0),
                tick_size: dec!(0),
            },
            SymbolFilter::MinNotional {
                min_notional: dec!(10),
                apply_to_market: false,
                avg_price_mins: 5,
            },
        ]);
        assert_eq!(r.check(&limit(dec!(123.456789), dec!(1))), Ok(()));
        assert_eq!(
            failed(r.check(&limit(dec!(1), dec!(1)))),
            "Filter failure: MIN_NOTIONAL"
        );
        let m = OrderCheck {
            market: true,
            price: None,
            quantity: dec!(1),
            reference_price: Some(dec!(1)),
        };
        assert_eq!(r.check(&m), Ok(()));
    }

    #[test]
    fn filters_serialize_back_to_the_exchange_info_shape() {
        let f = SymbolFilter::LotSize {
            min_qty: dec!(0.001),
            max_qty: dec!(100),
            step_size: dec!(0.001),
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["filterType"], "LOT_SIZE");
        assert_eq!(v["stepSize"], "0.001");
        assert_eq!(serde_json::from_value::<SymbolFilter>(v).unwrap(), f);
    }
}
