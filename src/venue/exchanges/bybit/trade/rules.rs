//! The venue's rules for pit's instruments, read from "Get Instruments Info"
//! (`GET /v5/market/instruments-info`, <https://bybit-exchange.github.io/docs/v5/market/instrument>)
//! on the connection task's runtime, never on the engine thread, and handed to the engine
//! through the live port (no order leaves before they are known). Read again every
//! [`REFRESH`]; one that cannot be read is asked again with back-off (1 s doubling to 30 s).

use super::rest::Rest;
use crate::domain::{VenueFilter, VenueRules};
use crate::venue::exchanges::bybit::api::wire::{Category, Instrument};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

pub const REFRESH: Duration = Duration::from_secs(15 * 60);

pub type RulesUpdate = (String, Result<VenueRules, String>);

/// An instrument's filters as the engine's venue rules: the tick, the lot (step, minimum,
/// maximum) and the minimum order value (spot `minOrderAmt`, linear `minNotionalValue`;
/// checked on limit orders, where the price is known); `status` other than `Trading`
/// refuses new orders.
pub fn venue_rules(i: &Instrument, category: Category) -> Result<VenueRules, String> {
    let f = i.filters(category)?;
    Ok(VenueRules {
        not_trading: (i.status != "Trading").then(|| i.status.clone()),
        order_types: Vec::new(),
        filters: vec![
            VenueFilter::PriceFilter {
                min: Decimal::ZERO,
                max: Decimal::ZERO,
                tick: f.tick,
            },
            VenueFilter::LotSize {
                min: f.min_qty,
                max: f.max_qty.unwrap_or_default(),
                step: f.step,
            },
            VenueFilter::MinNotional {
                min: f.min_notional,
                apply_to_market: false,
            },
        ],
    })
}

/// Read every symbol's rules until the engine side goes away (the channel closes).
pub async fn run(
    rest: Arc<Rest>,
    category: Category,
    symbols: Vec<String>,
    tx: Sender<RulesUpdate>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut pending = symbols.clone();
    loop {
        let mut failed = Vec::new();
        for s in pending {
            let r = match rest.instrument(category, &s).await {
                Ok(i) => venue_rules(&i, category),
                Err(e) => Err(format!("instruments-info: {e}")),
            };
            match &r {
                Ok(rules) => {
                    tracing::info!(symbol = %s, rules = %rules.summary(), "bybit: instrument filters")
                }
                Err(e) => {
                    tracing::warn!(symbol = %s, error = %e, "bybit: instrument filters not read");
                    failed.push(s.clone());
                }
            }
            if tx.send((s, r)).is_err() {
                return;
            }
        }
        if failed.is_empty() {
            backoff = Duration::from_secs(1);
            tokio::time::sleep(REFRESH).await;
            pending = symbols.clone();
        } else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
            pending = failed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn spot_filters_become_tick_lot_and_minimum_value() {
        // The docs' spot example shape: basePrecision, minOrderAmt.
        let i: Instrument = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT",
                "priceFilter":{"tickSize":"0.01"},
                "lotSizeFilter":{"basePrecision":"0.000001","minOrderQty":"0.000048","maxOrderQty":"71.73956243","minOrderAmt":"1","maxOrderAmt":"2000000"}}"#,
        )
        .unwrap();
        let r = venue_rules(&i, Category::Spot).unwrap();
        assert_eq!(r.not_trading, None);
        assert_eq!(
            r.filters,
            vec![
                VenueFilter::PriceFilter {
                    min: dec!(0),
                    max: dec!(0),
                    tick: dec!(0.01)
                },
                VenueFilter::LotSize {
                    min: dec!(0.000001),
                    max: dec!(71.73956243),
                    step: dec!(0.000001)
                },
                VenueFilter::MinNotional {
                    min: dec!(1),
                    apply_to_market: false
                },
            ]
        );
        let halted = Instrument {
            status: "PreLaunch".into(),
            ..i
        };
        assert_eq!(
            venue_rules(&halted, Category::Spot)
                .unwrap()
                .not_trading
                .as_deref(),
            Some("PreLaunch")
        );
    }
}
