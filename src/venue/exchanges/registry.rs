//! The venue table: the one place that maps a venue name to what pit knows about the
//! exchange behind it. Each exchange's folder defines its [`ExchangeEntry`]
//! (`<name>/endpoints.rs`: frame decoder, WebSocket endpoint, subscribe and keep-alive,
//! instrument endpoint); [`EXCHANGES`] lists them. The config's venue list, `pit verify`,
//! the live feed, replays and backtests, and the command-line help all read this table, so
//! adding a venue is one new folder and one line here.

use super::decode::FrameDecoder;
use super::{binance, bybit, coinbase, kraken, okx, polymarket};
use crate::domain::Instrument;
use crate::venue::feed::live::LiveSettings;
use rust_decimal::Decimal;
use std::time::Duration;

/// Every exchange pit knows, in the order messages list them.
pub const EXCHANGES: &[ExchangeEntry] = &[
    binance::endpoints::ENTRY,
    bybit::endpoints::ENTRY,
    kraken::endpoints::ENTRY,
    okx::endpoints::ENTRY,
    coinbase::endpoints::ENTRY,
    polymarket::endpoints::ENTRY,
];

/// Everything pit knows about one exchange.
pub struct ExchangeEntry {
    /// The venue name in the config, on the command line and in capture lines.
    pub name: &'static str,
    /// A decoder that discovers its instruments from the frames: an instrument named in
    /// the grid takes its tick, lot and minimum size (ids are assigned in order of
    /// appearance), any other the exact `1e-8` grid. An empty grid puts every instrument
    /// on `1e-8` (`pit verify`).
    pub decoder: fn(grid: Vec<Instrument>) -> Box<dyn FrameDecoder>,
    /// How the live connection reaches it.
    pub live: LiveEntry,
    /// Its instrument endpoint (tick and lot sizes); `None` where pit knows none.
    pub metadata: Option<MetadataEntry>,
}

/// How the live connection talks to an exchange.
pub struct LiveEntry {
    /// The public WebSocket endpoint, used when `[live] ws_url` is empty.
    pub ws_url: fn(&LiveSettings) -> String,
    /// The book depth subscribed when `[live] depth` is 0; `None`: the venue takes none.
    pub default_depth: Option<u32>,
    /// The keep-alive text frame and its period; `None` when the venue pings us or a
    /// subscribed channel keeps the connection open.
    pub ping: Option<(Duration, &'static str)>,
    /// The connection to `instruments` through the endpoint `url` (the default or
    /// `[live] ws_url`) at book depth `depth`.
    pub connect: fn(
        s: &LiveSettings,
        url: String,
        depth: u32,
        instruments: Vec<Instrument>,
    ) -> LiveConnection,
}

/// What an exchange gives the live connection task.
pub struct LiveConnection {
    /// The WebSocket URL connected to.
    pub url: String,
    /// Frames sent after each connect.
    pub subscribe: Vec<String>,
    /// The decoder of the configured instruments.
    pub decoder: Box<dyn FrameDecoder>,
}

/// An exchange's instrument endpoint, asked for tick and lot sizes.
pub struct MetadataEntry {
    /// The REST base, used when `[live] rest_url` is empty.
    pub rest_base: &'static str,
    /// The endpoint's URL for `symbol` under `base`.
    pub url: fn(base: &str, s: &LiveSettings, symbol: &str) -> String,
    /// Tick and lot from its answer.
    pub parse: fn(answer: &serde_json::Value) -> Option<(Decimal, Decimal)>,
}

impl MetadataEntry {
    /// Tick and lot from the endpoint's answer text; `None` if it holds none.
    pub fn tick_lot(&self, body: &str) -> Option<(Decimal, Decimal)> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        (self.parse)(&v)
    }
}

/// The entry of venue `name`, if pit knows it.
pub fn find(name: &str) -> Option<&'static ExchangeEntry> {
    EXCHANGES.iter().find(|e| e.name == name)
}

/// The exchanges' names, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    EXCHANGES.iter().map(|e| e.name)
}

/// The exchanges' names, comma-separated, for messages.
pub fn known() -> String {
    names().collect::<Vec<_>>().join(", ")
}

/// A decoder for a capture of `venue` that discovers its instruments on the `1e-8` grid
/// (`pit verify`). `None` for a venue pit does not know.
pub fn discovering_decoder(venue: &str) -> Option<Box<dyn FrameDecoder>> {
    decoder_on_grid(venue, Vec::new())
}

/// A decoder for a capture of `venue` that discovers its instruments; one named in `grid`
/// takes its tick, lot and minimum size, any other the `1e-8` grid (replays and backtests).
/// `None` for a venue pit does not know.
pub fn decoder_on_grid(venue: &str, grid: Vec<Instrument>) -> Option<Box<dyn FrameDecoder>> {
    find(venue).map(|e| (e.decoder)(grid))
}

/// The symbols of `instruments`, as the venue spells them (for subscriptions).
pub fn symbols(instruments: &[Instrument]) -> Vec<String> {
    instruments.iter().map(|i| i.symbol.clone()).collect()
}

/// A positive decimal written as a JSON string in an instrument endpoint's answer,
/// normalized (`"0.01000000"` is `0.01`).
pub fn positive_step(x: &serde_json::Value) -> Option<Decimal> {
    let d: Decimal = x.as_str()?.parse().ok()?;
    (d > Decimal::ZERO).then(|| d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_its_decoder_and_a_public_endpoint() {
        let s = LiveSettings::default();
        for e in EXCHANGES {
            assert_eq!((e.decoder)(Vec::new()).venue(), e.name);
            let url = (e.live.ws_url)(&s);
            assert!(url.starts_with("wss://"), "{}: {url}", e.name);
            let live = (e.live.connect)(&s, url, e.live.default_depth.unwrap_or(0), Vec::new());
            assert_eq!(live.decoder.venue(), e.name);
            assert!(live.url.starts_with("wss://"), "{}: {}", e.name, live.url);
            if let Some(m) = &e.metadata {
                assert!(m.rest_base.starts_with("https://"), "{}", e.name);
            }
            assert_eq!(find(e.name).map(|f| f.name), Some(e.name));
        }
        assert!(find("moon").is_none() && discovering_decoder("sim").is_none());
        assert_eq!(known(), "binance, bybit, kraken, okx, coinbase, polymarket");
    }
}
