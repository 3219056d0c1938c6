//! The venue's rules for pit's instruments, read from `GET /api/v3/exchangeInfo?symbol=`
//! (rest-api.md, "Exchange information"; its filters per filters.md) on the connection
//! task's runtime, never on the engine thread, and handed to the engine as
//! [`crate::engine::Input::VenueRules`] through the live port.
//!
//! At start every symbol is read; one that fails is reported (the engine keeps refusing
//! its new orders and shows why) and asked again with back-off (1 s doubling to 30 s).
//! Once all are known they are read again every [`REFRESH`]: Binance changes a symbol's
//! filters (a new tick size, a status of BREAK) with notice, and the engine alerts when
//! what it holds changes.

use super::rest::{Method, Rest};
use crate::domain::VenueRules;
use crate::venue::exchanges::binance::api::filters::venue_rules;
use crate::venue::exchanges::binance::api::wire::ExchangeInfo;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// How often rules already known are read again.
pub const REFRESH: Duration = Duration::from_secs(15 * 60);

/// One symbol's rules, as the port passes them to the engine.
pub type RulesUpdate = (String, Result<VenueRules, String>);

/// `exchangeInfo?symbol=S`: the rules of one symbol (with the exchange's filters).
pub async fn fetch(rest: &Rest, symbol: &str) -> Result<VenueRules, String> {
    #[derive(serde::Serialize)]
    struct P<'a> {
        symbol: &'a str,
    }
    let info: ExchangeInfo = rest
        .public(Method::Get, "/api/v3/exchangeInfo", &P { symbol })
        .await
        .map_err(|e| format!("exchangeInfo: {e}"))?;
    let s = info
        .symbols
        .iter()
        .find(|s| s.symbol == symbol)
        .ok_or_else(|| format!("exchangeInfo does not list {symbol}"))?;
    Ok(venue_rules(s, &info.exchange_filters))
}

/// Read every symbol's rules until the engine side goes away (the channel closes).
pub async fn run(rest: Arc<Rest>, symbols: Vec<String>, tx: Sender<RulesUpdate>) {
    let mut backoff = Duration::from_secs(1);
    let mut pending: Vec<String> = symbols.clone();
    loop {
        let mut failed = Vec::new();
        for s in pending {
            let r = fetch(&rest, &s).await;
            match &r {
                Ok(rules) => {
                    tracing::info!(symbol = %s, rules = %rules.summary(), "binance: exchange filters")
                }
                Err(e) => {
                    tracing::warn!(symbol = %s, error = %e, "binance: exchange filters not read");
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
