//! The venue's rules for pit's instruments, from "Get instruments" (`GET
//! /api/v5/public/instruments?instType=SPOT&instId=...`): `tickSz` ("Tick size"), `lotSz`
//! ("Lot size": the order size's step) and `minSz` ("Minimum order size"), and `state`
//! (`live` trades; `suspend`, `preopen`, `test` refuse new orders). Read on the connection
//! task's runtime, never on the engine thread, and handed to the engine through the live
//! port: no order leaves before they are known, and every order is checked against them
//! before it is sent. Read again every [`REFRESH`]; a failed read is retried with back-off.

use super::rest::Rest;
use super::wire::Instrument;
use crate::domain::{VenueFilter, VenueRules};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

pub const REFRESH: Duration = Duration::from_secs(15 * 60);

pub type RulesUpdate = (String, Result<VenueRules, String>);

/// An instrument's filters as the engine's venue rules.
pub fn venue_rules(i: &Instrument) -> Result<VenueRules, String> {
    let tick = i
        .tick_sz
        .filter(|t| *t > Decimal::ZERO)
        .ok_or_else(|| format!("{}: no tickSz", i.inst_id))?;
    let lot = i
        .lot_sz
        .filter(|t| *t > Decimal::ZERO)
        .ok_or_else(|| format!("{}: no lotSz", i.inst_id))?;
    // A SWAP's lot and minimum are in contracts: pit's quantities are in the coin.
    let (lot, min) = match i.contract()? {
        Some(c) => (c.coins(c.lot_sz), c.coins(c.min_sz)),
        None => (lot, i.min_sz.unwrap_or(lot).max(lot)),
    };
    Ok(VenueRules {
        not_trading: (i.state != "live").then(|| i.state.clone()),
        order_types: Vec::new(),
        filters: vec![
            VenueFilter::PriceFilter {
                min: Decimal::ZERO,
                max: Decimal::ZERO,
                tick,
            },
            VenueFilter::LotSize {
                min,
                max: Decimal::ZERO,
                step: lot,
            },
        ],
    })
}

/// Read every symbol's rules until the engine side goes away.
pub async fn run(rest: Arc<Rest>, symbols: Vec<String>, tx: Sender<RulesUpdate>) {
    let mut backoff = Duration::from_secs(1);
    let mut pending = symbols.clone();
    loop {
        let mut failed = Vec::new();
        for s in pending {
            let r = match rest.instrument(&s).await {
                Ok(i) => venue_rules(&i),
                Err(e) => Err(format!("instruments: {e}")),
            };
            match &r {
                Ok(rules) => {
                    tracing::info!(symbol = %s, rules = %rules.summary(), "okx: instrument rules")
                }
                Err(e) => {
                    tracing::warn!(symbol = %s, error = %e, "okx: instrument rules not read");
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
    use crate::domain::VenueRules;
    use rust_decimal_macros::dec;

    fn inst(state: &str) -> Instrument {
        // "Get instruments"' example fields, abridged.
        serde_json::from_str(&format!(
            r#"{{"instType":"SPOT","instId":"BTC-USDT","baseCcy":"BTC","quoteCcy":"USDT","tickSz":"0.1","lotSz":"0.00000001","minSz":"0.00001","state":"{state}"}}"#
        ))
        .unwrap()
    }

    #[test]
    fn tick_lot_and_minimum_become_the_engines_rules() {
        let r: VenueRules = venue_rules(&inst("live")).unwrap();
        assert!(r.not_trading.is_none());
        assert!(r.filters.contains(&VenueFilter::PriceFilter {
            min: Decimal::ZERO,
            max: Decimal::ZERO,
            tick: dec!(0.1)
        }));
        assert!(r.filters.contains(&VenueFilter::LotSize {
            min: dec!(0.00001),
            max: Decimal::ZERO,
            step: dec!(0.00000001)
        }));
        assert_eq!(
            venue_rules(&inst("suspend"))
                .unwrap()
                .not_trading
                .as_deref(),
            Some("suspend")
        );
        // Checked before sending: an order off the tick or under the minimum is refused.
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
        assert!(r.check(&order(dec!(60000.15), dec!(0.001))).is_err());
        assert!(r.check(&order(dec!(60000.1), dec!(0.000001))).is_err());
        let mut bad = inst("live");
        bad.tick_sz = None;
        assert!(venue_rules(&bad).is_err());
    }
}
