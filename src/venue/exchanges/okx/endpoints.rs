//! Where OKX lives and how pit talks to it: the public v5 WebSocket endpoint, the `books` and
//! `trades` subscription, the `ping` keep-alive, the `public/instruments` endpoint and its
//! answer, and OKX's registry entry.

use super::OkxDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{
    ExchangeEntry, LiveConnection, LiveEntry, MetadataEntry, positive_step, symbols,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::time::Duration;

/// OKX's public WebSocket endpoint.
pub const WS_URL: &str = "wss://ws.okx.com:8443/ws/v5/public";
/// Default REST base of the instrument endpoint.
pub const REST_BASE: &str = "https://www.okx.com";

/// OKX's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "okx",
    decoder: |grid| Box::new(OkxDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |_| WS_URL.to_string(),
        default_depth: None,
        ping: Some((Duration::from_secs(25), "ping")),
        connect,
    },
    metadata: Some(MetadataEntry {
        rest_base: REST_BASE,
        url: instruments_url,
        parse: tick_lot,
        contract: Some(linear_ct_val),
    }),
};

fn connect(_: &LiveSettings, url: String, _: u32, instruments: Vec<Instrument>) -> LiveConnection {
    let subscribe = vec![OkxDecoder::subscribe_frame(&symbols(&instruments))];
    LiveConnection {
        url,
        subscribe,
        decoder: Box::new(OkxDecoder::new(instruments)),
    }
}

/// The instrument type follows from the `instId`: `-SWAP` a swap, two dashes a future.
fn instruments_url(base: &str, _: &LiveSettings, symbol: &str) -> String {
    let kind = if symbol.ends_with("-SWAP") {
        "SWAP"
    } else if symbol.matches('-').count() >= 2 {
        "FUTURES"
    } else {
        "SPOT"
    };
    format!("{base}/api/v5/public/instruments?instType={kind}&instId={symbol}")
}

/// A linear contract's `ctVal` (coins per contract: `ctType` linear, or a `ctVal` with no
/// `ctType`); `None` for spot and for inverse contracts (whose `ctVal` is in USD).
fn linear_ct_val(v: &Value) -> Option<Decimal> {
    let i = v.get("data")?.get(0)?;
    if i.get("ctType")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "linear")
    {
        return None;
    }
    i.get("ctVal").and_then(positive_step)
}

/// `tickSz` and `lotSz` of the first instrument; a SWAP's `lotSz` is in contracts
/// ("Get instruments": "If it is a derivatives contract, the value is the number of
/// contracts"), pit's lot in the coin: `lotSz` × `ctVal`.
fn tick_lot(v: &Value) -> Option<(Decimal, Decimal)> {
    let i = v.get("data")?.get(0)?;
    let lot = positive_step(i.get("lotSz")?)?;
    let lot = match i.get("ctVal").and_then(positive_step) {
        Some(ct) => lot * ct,
        None => lot,
    };
    Some((positive_step(i.get("tickSz")?)?, lot))
}
