//! Where Bybit v5 lives and how pit talks to it: one public WebSocket endpoint per category
//! (`[live] category`), the `orderbook` + `publicTrade` subscription, the `{"op":"ping"}`
//! keep-alive, the `instruments-info` endpoint and its answer, and Bybit's registry entry.

use super::BybitDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{
    ExchangeEntry, LiveConnection, LiveEntry, MetadataEntry, positive_step, symbols,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::time::Duration;

/// Default REST base of the instrument endpoint.
pub const REST_BASE: &str = "https://api.bybit.com";

/// The keep-alive frame, every 20 s.
pub const PING: &str = r#"{"op":"ping"}"#;

/// Bybit's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "bybit",
    decoder: |grid| Box::new(BybitDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |s| ws_url(&s.category),
        default_depth: Some(50),
        ping: Some((Duration::from_secs(20), PING)),
        connect,
    },
    metadata: Some(MetadataEntry {
        rest_base: REST_BASE,
        url: |base, s, symbol| {
            format!(
                "{base}/v5/market/instruments-info?category={}&symbol={symbol}",
                s.category
            )
        },
        parse: tick_lot,
        contract: None,
    }),
};

/// The public endpoint for a category (`spot`, `linear`, `inverse`).
pub fn ws_url(category: &str) -> String {
    format!("wss://stream.bybit.com/v5/public/{category}")
}

fn connect(
    _: &LiveSettings,
    url: String,
    depth: u32,
    instruments: Vec<Instrument>,
) -> LiveConnection {
    let subscribe = vec![BybitDecoder::subscribe_frame(depth, &symbols(&instruments))];
    LiveConnection {
        url,
        subscribe,
        decoder: Box::new(BybitDecoder::new(instruments, depth)),
    }
}

/// `priceFilter.tickSize` and `lotSizeFilter.qtyStep` (spot: `basePrecision`).
fn tick_lot(v: &Value) -> Option<(Decimal, Decimal)> {
    let i = v.get("result")?.get("list")?.get(0)?;
    let lot = i.get("lotSizeFilter")?;
    let step = lot.get("qtyStep").or_else(|| lot.get("basePrecision"))?;
    Some((
        positive_step(i.get("priceFilter")?.get("tickSize")?)?,
        positive_step(step)?,
    ))
}
