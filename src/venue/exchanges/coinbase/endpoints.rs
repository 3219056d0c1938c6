//! Where Coinbase Advanced Trade lives and how pit talks to it: the public market-data
//! WebSocket endpoint, the `level2`, `market_trades` and `heartbeats` subscriptions (the
//! heartbeats keep the connection open: no ping), the `market/products` endpoint and its
//! answer, and Coinbase's registry entry.

use super::CoinbaseDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{
    ExchangeEntry, LiveConnection, LiveEntry, MetadataEntry, positive_step, symbols,
};

/// The public market-data endpoint.
pub const WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";
/// Default REST base of the instrument endpoint.
pub const REST_BASE: &str = "https://api.coinbase.com";

/// Coinbase's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "coinbase",
    decoder: |grid| Box::new(CoinbaseDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |_| WS_URL.to_string(),
        default_depth: None,
        ping: None,
        connect,
    },
    metadata: Some(MetadataEntry {
        rest_base: REST_BASE,
        url: |base, _, symbol| format!("{base}/api/v3/brokerage/market/products/{symbol}"),
        parse: |v| {
            Some((
                positive_step(v.get("quote_increment")?)?,
                positive_step(v.get("base_increment")?)?,
            ))
        },
        contract: None,
    }),
};

fn connect(_: &LiveSettings, url: String, _: u32, instruments: Vec<Instrument>) -> LiveConnection {
    let subscribe = CoinbaseDecoder::subscribe_frames(&symbols(&instruments));
    LiveConnection {
        url,
        subscribe,
        decoder: Box::new(CoinbaseDecoder::new(instruments)),
    }
}
