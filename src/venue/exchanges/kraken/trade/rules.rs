//! The venue's rules for pit's instruments, from "Get Tradable Asset Pairs"
//! (<https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs>): the
//! price step `tick_size` (else 10^-`pair_decimals`), the volume step 10^-`lot_decimals`,
//! the least volume `ordermin`, the least cost `costmin` (in the quote), and `status`
//! (`online` trades; `cancel_only`, `post_only`, `limit_only`, `reduce_only`,
//! `maintenance` refuse new orders here: pit does not send the orders each of them would
//! still take). Read on the connection task's runtime, never on the engine thread, handed
//! to the engine through the live port: no order leaves before they are known, every order
//! is checked against them first. Read again every [`REFRESH`]; a failed read is retried
//! with back-off.

use super::rest::Rest;
use super::wire::PairInfo;
use crate::domain::{VenueFilter, VenueRules};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

pub const REFRESH: Duration = Duration::from_secs(15 * 60);

pub type RulesUpdate = (String, Result<VenueRules, String>);

fn step(decimals: u32) -> Decimal {
    Decimal::new(1, decimals.min(28))
}

/// A pair's rules as the engine's venue rules.
pub fn venue_rules(symbol: &str, p: &PairInfo) -> Result<VenueRules, String> {
    let tick = p
        .tick_size
        .filter(|t| *t > Decimal::ZERO)
        .or(p.pair_decimals.map(step))
        .ok_or_else(|| format!("{symbol}: no tick_size or pair_decimals"))?;
    let lot = p
        .lot_decimals
        .map(step)
        .ok_or_else(|| format!("{symbol}: no lot_decimals"))?;
    let mut filters = vec![
        VenueFilter::PriceFilter {
            min: Decimal::ZERO,
            max: Decimal::ZERO,
            tick,
        },
        VenueFilter::LotSize {
            min: p.ordermin.unwrap_or(lot).max(lot),
            max: Decimal::ZERO,
            step: lot,
        },
    ];
    if let Some(c) = p.costmin.filter(|c| *c > Decimal::ZERO) {
        filters.push(VenueFilter::MinNotional {
            min: c,
            apply_to_market: true,
        });
    }
    Ok(VenueRules {
        not_trading: (p.status != "online").then(|| {
            if p.status.is_empty() {
                "no status".to_string()
            } else {
                p.status.clone()
            }
        }),
        order_types: Vec::new(),
        filters,
    })
}

/// Read every symbol's rules until the engine side goes away.
pub async fn run(rest: Arc<Rest>, symbols: Vec<String>, tx: Sender<RulesUpdate>) {
    let mut backoff = Duration::from_secs(1);
    let mut pending = symbols.clone();
    loop {
        let mut failed = Vec::new();
        for s in pending {
            let r = match rest.read_pair(&s).await {
                Ok(p) => venue_rules(&s, &p.info),
                Err(e) => Err(format!("asset pairs: {e}")),
            };
            match &r {
                Ok(rules) => {
                    tracing::info!(symbol = %s, rules = %rules.summary(), "kraken: instrument rules")
                }
                Err(e) => {
                    tracing::warn!(symbol = %s, error = %e, "kraken: instrument rules not read");
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

    fn pair(status: &str) -> PairInfo {
        // "Get Tradable Asset Pairs"' example entry, abridged.
        serde_json::from_str(&format!(
            r#"{{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD","cost_decimals":5,"pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","costmin":"0.5","tick_size":"0.1","status":"{status}"}}"#
        ))
        .unwrap()
    }

    #[test]
    fn tick_lot_minimum_and_cost_become_the_engines_rules() {
        let r = venue_rules("BTC/USD", &pair("online")).unwrap();
        assert!(r.not_trading.is_none());
        let order = |price, qty| crate::domain::FilterOrder {
            side: crate::domain::Side::Buy,
            order_type: "LIMIT",
            price: Some(price),
            qty,
            market_price: None,
            average_price: None,
            open_on_symbol: 0,
            open_on_venue: 0,
        };
        assert!(r.check(&order(dec!(60000.1), dec!(0.001))).is_ok());
        // Off the tick, under ordermin, off the lot, under costmin: refused unsent.
        assert!(r.check(&order(dec!(60000.15), dec!(0.001))).is_err());
        assert!(r.check(&order(dec!(60000.1), dec!(0.00005))).is_err());
        assert!(r.check(&order(dec!(60000.1), dec!(0.000100001))).is_err());
        assert!(
            r.check(&order(dec!(1000), dec!(0.0001))).is_err(),
            "0.1 < costmin 0.5"
        );
        assert_eq!(
            venue_rules("BTC/USD", &pair("cancel_only"))
                .unwrap()
                .not_trading
                .as_deref(),
            Some("cancel_only")
        );
        // pair_decimals stands in for a missing tick_size.
        let mut p = pair("online");
        p.tick_size = None;
        assert!(
            venue_rules("BTC/USD", &p)
                .unwrap()
                .filters
                .contains(&VenueFilter::PriceFilter {
                    min: Decimal::ZERO,
                    max: Decimal::ZERO,
                    tick: dec!(0.1)
                })
        );
        p.lot_decimals = None;
        assert!(venue_rules("BTC/USD", &p).is_err());
    }
}
