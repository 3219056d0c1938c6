//! Where Binance spot lives and how pit talks to it: the REST and WebSocket hosts, the
//! combined-stream URL (no subscribe frame; Binance pings us and tungstenite answers), the
//! `exchangeInfo` instrument endpoint and its answer, and Binance's registry entry.

use super::BinanceDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{
    ExchangeEntry, LiveConnection, LiveEntry, MetadataEntry, positive_step, symbols,
};
use rust_decimal::Decimal;
use serde_json::Value;

/// Default REST base for snapshots and the instrument endpoint.
pub const REST_BASE: &str = "https://api.binance.com";
/// Default WebSocket base.
pub const WS_BASE: &str = "wss://stream.binance.com:9443";

/// Binance's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "binance",
    decoder: |grid| Box::new(BinanceDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |_| WS_BASE.to_string(),
        default_depth: None,
        ping: None,
        connect,
    },
    metadata: Some(MetadataEntry {
        rest_base: REST_BASE,
        url: |base, _, symbol| format!("{base}/api/v3/exchangeInfo?symbol={symbol}"),
        parse: tick_lot,
        contract: None,
    }),
};

/// The combined-stream URL for the instruments.
pub fn stream_url(ws_base: &str, symbols: &[String]) -> String {
    let streams: Vec<String> = symbols
        .iter()
        .map(|s| {
            let l = s.to_ascii_lowercase();
            format!("{l}@depth@100ms/{l}@bookTicker/{l}@trade")
        })
        .collect();
    format!(
        "{}/stream?streams={}",
        ws_base.trim_end_matches('/'),
        streams.join("/")
    )
}

/// `ws_base` is a base: the combined-stream path is added. `[live] rest_url` also moves
/// the REST snapshots.
fn connect(
    s: &LiveSettings,
    ws_base: String,
    _: u32,
    instruments: Vec<Instrument>,
) -> LiveConnection {
    let url = stream_url(&ws_base, &symbols(&instruments));
    let mut d = BinanceDecoder::new(instruments);
    if !s.rest_url.is_empty() {
        d = d.with_rest_base(&s.rest_url);
    }
    LiveConnection {
        url,
        subscribe: Vec::new(),
        decoder: Box::new(d),
    }
}

/// `PRICE_FILTER.tickSize` and `LOT_SIZE.stepSize` of the first symbol.
fn tick_lot(v: &Value) -> Option<(Decimal, Decimal)> {
    let filters = v.get("symbols")?.get(0)?.get("filters")?.as_array()?;
    let find = |t: &str, k: &str| {
        filters
            .iter()
            .find(|f| f.get("filterType").and_then(Value::as_str) == Some(t))
            .and_then(|f| positive_step(f.get(k)?))
    };
    Some((
        find("PRICE_FILTER", "tickSize")?,
        find("LOT_SIZE", "stepSize")?,
    ))
}
