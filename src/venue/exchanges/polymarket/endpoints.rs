//! Where Polymarket's CLOB lives and how pit talks to it: the public market channel, the
//! asset subscription, the text `PING` keep-alive, and Polymarket's registry entry (no
//! instrument endpoint here).

use super::PolymarketDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{ExchangeEntry, LiveConnection, LiveEntry, symbols};
use std::time::Duration;

/// The public market channel.
pub const WS_URL: &str = "wss://ws-subscriptions-clob.polymarket.com/ws/market";
/// The keep-alive text frame, every 10 s.
pub const PING: &str = "PING";

/// Polymarket's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "polymarket",
    decoder: |grid| Box::new(PolymarketDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |_| WS_URL.to_string(),
        default_depth: None,
        ping: Some((Duration::from_secs(10), PING)),
        connect,
    },
    metadata: None,
};

fn connect(_: &LiveSettings, url: String, _: u32, instruments: Vec<Instrument>) -> LiveConnection {
    let subscribe = vec![PolymarketDecoder::subscribe_frame(&symbols(&instruments))];
    LiveConnection {
        url,
        subscribe,
        decoder: Box::new(PolymarketDecoder::new(instruments)),
    }
}
