//! The venue table: the one place that maps a venue name to what pit knows about the
//! exchange behind it. Each exchange's folder defines its [`ExchangeEntry`]
//! (`<name>/endpoints.rs`: frame decoder, WebSocket endpoint, subscribe and keep-alive,
//! instrument endpoint); [`EXCHANGES`] lists them. The config's venue list, `pit verify`,
//! the live feed, replays and backtests, and the command-line help all read this table, so
//! adding a venue is one new folder and one line here.

use super::decode::FrameDecoder;
use super::entry::ExchangeEntry;
use super::{binance, bybit, coinbase, kraken, okx, polymarket};
use crate::domain::Instrument;

/// Every exchange pit knows, in the order messages list them.
pub const EXCHANGES: &[ExchangeEntry] = &[
    binance::endpoints::ENTRY,
    bybit::endpoints::ENTRY,
    kraken::endpoints::ENTRY,
    okx::endpoints::ENTRY,
    coinbase::endpoints::ENTRY,
    polymarket::endpoints::ENTRY,
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::exchanges::entry::LiveSettings;

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
