//! Where Kraken lives and how pit talks to it: the public WebSocket v2 endpoint, the `book`
//! and `trade` subscriptions at the subscribed depth, the `{"method":"ping"}` keep-alive,
//! and Kraken's registry entry (no instrument endpoint here).

use super::KrakenDecoder;
use crate::domain::Instrument;
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::entry::{ExchangeEntry, LiveConnection, LiveEntry, symbols};
use std::time::Duration;

/// Kraken's public WebSocket v2 endpoint.
pub const WS_URL: &str = "wss://ws.kraken.com/v2";

/// The keep-alive frame, every 30 s.
pub const PING: &str = r#"{"method":"ping"}"#;

/// Kraken's line in the venue registry.
pub const ENTRY: ExchangeEntry = ExchangeEntry {
    name: "kraken",
    decoder: |grid| Box::new(KrakenDecoder::discovering_on(grid)),
    live: LiveEntry {
        ws_url: |_| WS_URL.to_string(),
        default_depth: Some(25),
        ping: Some((Duration::from_secs(30), PING)),
        connect,
    },
    metadata: None,
};

fn connect(
    _: &LiveSettings,
    url: String,
    depth: u32,
    instruments: Vec<Instrument>,
) -> LiveConnection {
    let depth = depth as usize;
    let subscribe = KrakenDecoder::subscribe_frames(depth, &symbols(&instruments));
    LiveConnection {
        url,
        subscribe,
        decoder: Box::new(KrakenDecoder::new(instruments, depth)),
    }
}
