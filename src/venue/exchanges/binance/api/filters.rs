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
//! PERCENT_PRICE / PERCENT_PRICE_BY_SIDE (a price range around the average price),
//! MAX_NUM_ORDERS (open orders on the symbol) and, among the exchange filters,
//! EXCHANGE_MAX_NUM_ORDERS are read too. [`venue_rules`] turns a symbol of exchangeInfo into
//! the venue-neutral [`VenueRules`] whose check pit's risk engine runs before an order
//! leaves; [`SymbolRules::check`] is that same check, answered the way Binance answers
//! (what `pit emulate binance` uses): the emulator cannot refuse an order pit let through.

use crate::domain::{FilterBreach, FilterOrder, OrderKind, TimeInForce, VenueFilter, VenueRules};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use super::wire::SymbolFilter;

impl SymbolFilter {
    /// The venue-neutral rule, if pit checks this filter.
    pub fn to_venue(&self) -> Option<VenueFilter> {
        Some(match *self {
            SymbolFilter::PriceFilter {
                min_price,
                max_price,
                tick_size,
            } => VenueFilter::PriceFilter {
                min: min_price,
                max: max_price,
                tick: tick_size,
            },
            SymbolFilter::LotSize {
                min_qty,
                max_qty,
                step_size,
            } => VenueFilter::LotSize {
                min: min_qty,
                max: max_qty,
                step: step_size,
            },
            SymbolFilter::MarketLotSize {
                min_qty,
                max_qty,
                step_size,
            } => VenueFilter::MarketLotSize {
                min: min_qty,
                max: max_qty,
                step: step_size,
            },
            SymbolFilter::MinNotional {
                min_notional,
                apply_to_market,
                ..
            } => VenueFilter::MinNotional {
                min: min_notional,
                apply_to_market,
            },
            SymbolFilter::Notional {
                min_notional,
                apply_min_to_market,
                max_notional,
                apply_max_to_market,
                ..
            } => VenueFilter::Notional {
                min: min_notional,
                apply_min_to_market,
                max: max_notional,
                apply_max_to_market,
            },
            SymbolFilter::PercentPrice {
                multiplier_up,
                multiplier_down,
                ..
            } => VenueFilter::PercentPrice {
                up: multiplier_up,
                down: multiplier_down,
            },
            SymbolFilter::PercentPriceBySide {
                bid_multiplier_up,
                bid_multiplier_down,
                ask_multiplier_up,
                ask_multiplier_down,
                ..
            } => VenueFilter::PercentPriceBySide {
                bid_up: bid_multiplier_up,
                bid_down: bid_multiplier_down,
                ask_up: ask_multiplier_up,
                ask_down: ask_multiplier_down,
            },
            SymbolFilter::MaxNumOrders { max_num_orders } => VenueFilter::MaxNumOrders {
                max: max_num_orders,
            },
            SymbolFilter::Other => return None,
        })
    }
}

/// One entry of exchangeInfo's `exchangeFilters` (filters.md, "Exchange Filters"). Only
/// EXCHANGE_MAX_NUM_ORDERS applies to the orders pit sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "filterType")]
pub enum ExchangeFilter {
    #[serde(rename = "EXCHANGE_MAX_NUM_ORDERS", rename_all = "camelCase")]
    ExchangeMaxNumOrders { max_num_orders: u32 },
    #[serde(other)]
    Other,
}

/// A symbol of exchangeInfo, with the exchange's filters, as the rules pit checks: the
/// symbol's `status` (anything but `TRADING` takes no new orders), its `orderTypes` and
/// the filters pit knows. Unknown exchange filters are skipped.
pub fn venue_rules(
    info: &super::wire::SymbolInfo,
    exchange_filters: &[serde_json::Value],
) -> VenueRules {
    let mut filters: Vec<VenueFilter> = info
        .filters
        .iter()
        .filter_map(SymbolFilter::to_venue)
        .collect();
    for v in exchange_filters {
        if let Ok(ExchangeFilter::ExchangeMaxNumOrders { max_num_orders }) =
            serde_json::from_value::<ExchangeFilter>(v.clone())
        {
            filters.push(VenueFilter::ExchangeMaxNumOrders {
                max: max_num_orders,
            });
        }
    }
    VenueRules {
        not_trading: (info.status != "TRADING").then(|| info.status.clone()),
        order_types: info.order_types.clone(),
        filters,
    }
}

/// Binance's name of the order type pit sends for an engine order (rest-api.md, "New
/// order"): LIMIT_MAKER for post-only, MARKET, else LIMIT (GTC or IOC).
pub fn order_type_name(kind: OrderKind, tif: TimeInForce) -> &'static str {
    FilterOrder::order_type_of(kind, tif)
}

/// A refused order: `Display` is Binance's message ("Filter failure: LOT_SIZE") with the
/// rule's figures, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterFailure(pub FilterBreach);

impl FilterFailure {
    /// The code Binance answers with (errors.md: -1013 INVALID_MESSAGE, "Filter failures").
    pub const CODE: i64 = super::errors::code::INVALID_MESSAGE;

    /// Binance's message for this failure (errors.md, "Filter failures": "Filter failure:
    /// PRICE_FILTER", ...). The symbol's status and order types are answered as Binance
    /// does too: -1013 is what pit's emulator sends for them.
    pub fn message(&self) -> String {
        format!("Filter failure: {}", self.0.filter)
    }
}

impl fmt::Display for FilterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.0.reason)
    }
}

impl std::error::Error for FilterFailure {}

/// A symbol's rules, as Binance checks them (the emulator's side of [`VenueRules`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolRules {
    pub rules: VenueRules,
}

impl SymbolRules {
    pub fn new(filters: Vec<SymbolFilter>) -> Self {
        SymbolRules {
            rules: VenueRules {
                filters: filters.iter().filter_map(SymbolFilter::to_venue).collect(),
                ..VenueRules::default()
            },
        }
    }

    /// The rules of a symbol of exchangeInfo (status, order types, every filter).
    pub fn from_info(
        info: &super::wire::SymbolInfo,
        exchange_filters: &[serde_json::Value],
    ) -> Self {
        SymbolRules {
            rules: venue_rules(info, exchange_filters),
        }
    }

    /// PRICE_FILTER's tick size (None if absent or 0).
    pub fn tick_size(&self) -> Option<Decimal> {
        self.rules.tick_size()
    }

    /// LOT_SIZE's step size (None if absent or 0).
    pub fn step_size(&self) -> Option<Decimal> {
        self.rules.step_size()
    }

    /// Checks the order against every filter, in the order Binance lists them; the first
    /// failure is returned. The very check pit's risk engine runs ([`VenueRules::check`]).
    pub fn check(&self, o: &FilterOrder) -> Result<(), FilterFailure> {
        self.rules.check(o).map_err(FilterFailure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Side;
    use crate::venue::exchanges::binance::api::wire::ExchangeInfo;
    use rust_decimal_macros::dec;

    /// BTCUSDT as exchangeInfo writes it (rest-api.md, "Exchange information"; the filters
    /// as filters.md shows them, with BTCUSDT's values).
    const INFO: &str = r#"{
        "timezone":"UTC","serverTime":1565246363776,"rateLimits":[],
        "exchangeFilters":[{"filterType":"EXCHANGE_MAX_NUM_ORDERS","maxNumOrders":1000},
                           {"filterType":"EXCHANGE_MAX_NUM_ALGO_ORDERS","maxNumAlgoOrders":200}],
        "symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,
          "quoteAsset":"USDT","quoteAssetPrecision":8,
          "orderTypes":["LIMIT","LIMIT_MAKER","MARKET","STOP_LOSS_LIMIT","TAKE_PROFIT_LIMIT"],
          "isSpotTradingAllowed":true,
          "filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"ICEBERG_PARTS","limit":10},
            {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"100.00000000","stepSize":"0.00000000"},
            {"filterType":"TRAILING_DELTA","minTrailingAboveDelta":10,"maxTrailingAboveDelta":2000,"minTrailingBelowDelta":10,"maxTrailingBelowDelta":2000},
            {"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"5","bidMultiplierDown":"0.2","askMultiplierUp":"5","askMultiplierDown":"0.2","avgPriceMins":5},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
            {"filterType":"MAX_NUM_ORDERS","maxNumOrders":200},
            {"filterType":"MAX_NUM_ALGO_ORDERS","maxNumAlgoOrders":5}
          ]}]
    }"#;

    fn rules() -> SymbolRules {
        let info: ExchangeInfo = serde_json::from_str(INFO).unwrap();
        SymbolRules::from_info(&info.symbols[0], &info.exchange_filters)
    }

    fn limit(price: Decimal, quantity: Decimal) -> FilterOrder {
        FilterOrder {
            side: Side::Buy,
            order_type: "LIMIT",
            price: Some(price),
            qty: quantity,
            market_price: None,
            average_price: None,
            open_on_symbol: 0,
            open_on_venue: 0,
        }
    }

    fn failed(r: Result<(), FilterFailure>) -> String {
        r.unwrap_err().message()
    }

    #[test]
    fn exchange_info_filters_parse_and_the_ones_pit_cannot_apply_are_left_out() {
        let r = rules();
        let names: Vec<&str> = r.rules.filters.iter().map(VenueFilter::name).collect();
        assert_eq!(
            names,
            [
                "PRICE_FILTER",
                "LOT_SIZE",
                "MARKET_LOT_SIZE",
                "PERCENT_PRICE_BY_SIDE",
                "NOTIONAL",
                "MAX_NUM_ORDERS",
                "EXCHANGE_MAX_NUM_ORDERS"
            ]
        );
        assert_eq!(r.tick_size(), Some(dec!(0.01)));
        assert_eq!(r.step_size(), Some(dec!(0.00001)));
        assert_eq!(r.rules.not_trading, None);
        assert_eq!(r.rules.order_types.len(), 5);
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
        let market = FilterOrder {
            order_type: "MARKET",
            price: None,
            qty: dec!(101),
            market_price: Some(dec!(60000)),
            ..limit(dec!(1), dec!(1))
        };
        assert_eq!(failed(r.check(&market)), "Filter failure: MARKET_LOT_SIZE");
        let crowded = FilterOrder {
            open_on_symbol: 200,
            ..limit(dec!(60000), dec!(0.001))
        };
        assert_eq!(failed(r.check(&crowded)), "Filter failure: MAX_NUM_ORDERS");
        let far = FilterOrder {
            average_price: Some(dec!(60000)),
            ..limit(dec!(300000.01), dec!(0.001))
        };
        assert_eq!(
            failed(r.check(&far)),
            "Filter failure: PERCENT_PRICE_BY_SIDE"
        );
    }

    #[test]
    fn failure_text_is_binances_message_plus_the_rule_and_values() {
        let e = rules()
            .check(&limit(dec!(60000), dec!(0.000015)))
            .unwrap_err();
        assert_eq!(FilterFailure::CODE, -1013);
        assert_eq!(
            e.to_string(),
            "Filter failure: LOT_SIZE (qty 0.000015 is not a multiple of step 0.00001)"
        );
    }

    #[test]
    fn a_symbol_not_trading_takes_no_order() {
        let mut info: ExchangeInfo = serde_json::from_str(INFO).unwrap();
        info.symbols[0].status = "BREAK".into();
        let r = SymbolRules::from_info(&info.symbols[0], &[]);
        assert_eq!(
            r.check(&limit(dec!(60000), dec!(0.001)))
                .unwrap_err()
                .0
                .to_string(),
            "STATUS: the venue is not trading this symbol (status BREAK): no new orders"
        );
    }

    #[test]
    fn order_types_are_named_as_binance_names_them() {
        assert_eq!(
            order_type_name(OrderKind::Market, TimeInForce::Ioc),
            "MARKET"
        );
        assert_eq!(
            order_type_name(OrderKind::Limit, TimeInForce::PostOnly),
            "LIMIT_MAKER"
        );
        assert_eq!(order_type_name(OrderKind::Limit, TimeInForce::Gtc), "LIMIT");
        assert_eq!(order_type_name(OrderKind::Limit, TimeInForce::Ioc), "LIMIT");
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
