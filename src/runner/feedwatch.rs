//! Feed alerts: the runner watches each live connection's state as it publishes the view
//! and raises an alert in the engine on every disconnect (a failed or lost connection,
//! folded into one counted row while it keeps failing), on a connected feed gone silent
//! (no frame for [`FEED_SILENT`]), and once it is back. The simulated market and replays
//! have no live feed: nothing is raised for them, so their runs are unchanged.
//!
//! Book-level alerts (RESYNCING, restored from a snapshot, no book update for
//! `risk.stale_data_ms`) are the engine's own (`engine/market.rs`).

use crate::engine::view::{FEED_SILENT, FeedHealth};
use crate::engine::{AlertLevel, Engine};

/// One venue connection's state, as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    venue: String,
    connection: String,
    silent: bool,
    /// Failed attempts and lost connections since the start.
    failures: u64,
    /// Disconnected since it was last connected.
    down: bool,
}

/// The feeds' states as last published, to raise alerts on their changes.
#[derive(Default)]
pub(super) struct FeedWatch {
    seen: Vec<Seen>,
}

impl FeedWatch {
    /// Compare `feeds` (one row per instrument; rows of one venue share its connection)
    /// with what was seen last, and raise the alerts of what changed.
    pub(super) fn check(&mut self, engine: &mut Engine, feeds: &[FeedHealth]) {
        let mut venues: Vec<&str> = feeds.iter().map(|f| f.venue.as_str()).collect();
        venues.dedup();
        for venue in venues {
            let rows: Vec<&FeedHealth> = feeds.iter().filter(|f| f.venue == venue).collect();
            let Some(first) = rows.first() else { continue };
            let symbols = rows
                .iter()
                .map(|f| f.symbol.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let silent = first.connection == "connected"
                && first.last_frame_age.is_some_and(|a| a >= FEED_SILENT);
            let idx = match self.seen.iter().position(|s| s.venue == venue) {
                Some(i) => i,
                None => {
                    self.seen.push(Seen {
                        venue: venue.to_string(),
                        connection: "connecting".into(),
                        silent: false,
                        failures: 0,
                        down: false,
                    });
                    self.seen.len() - 1
                }
            };
            let before = self.seen[idx].clone();
            let now = first.connection.as_str();
            let why = first.last_error.as_deref().unwrap_or("no reason given");
            // Every failed attempt or lost connection is one alert, folded on one row
            // per venue with its count while it keeps failing.
            let new_failures = first.failures.saturating_sub(before.failures);
            for _ in 0..new_failures.min(1_000) {
                engine.raise_alert_kind(
                    AlertLevel::Warn,
                    "feed",
                    &format!("feed-down:{venue}"),
                    format!(
                        "{venue} {symbols} feed DISCONNECTED: {why}; reconnecting with back-off"
                    ),
                );
            }
            let down = before.down || new_failures > 0;
            if silent && !before.silent {
                engine.raise_alert_kind(
                    AlertLevel::Warn,
                    "feed",
                    &format!("feed-silent:{venue}"),
                    format!(
                        "{venue} {symbols} feed STALE: no frame for {}s",
                        FEED_SILENT.as_secs()
                    ),
                );
            }
            let mut down = down;
            if now == "connected" && down {
                engine.raise_alert(
                    AlertLevel::Info,
                    "feed",
                    format!("{venue} {symbols} feed connected again"),
                );
                down = false;
            } else if now == "connected" && before.silent && !silent {
                engine.raise_alert(
                    AlertLevel::Info,
                    "feed",
                    format!("{venue} {symbols} feed: frames again"),
                );
            }
            self.seen[idx] = Seen {
                venue: venue.to_string(),
                connection: now.to_string(),
                silent,
                failures: first.failures,
                down,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::view::FeedHealth;
    use std::time::Duration;

    fn feed(connection: &str, err: Option<&str>, age_ms: u64, failures: u64) -> FeedHealth {
        FeedHealth {
            failures,
            venue: "binance".into(),
            symbol: "BTCUSDT".into(),
            connection: connection.into(),
            last_frame_age: Some(Duration::from_millis(age_ms)),
            last_error: err.map(str::to_string),
            ..Default::default()
        }
    }

    fn texts(e: &mut Engine) -> Vec<(String, u32)> {
        e.view()
            .alerts
            .iter()
            .filter(|a| a.source == "feed")
            .map(|a| (a.text.clone(), a.count))
            .collect()
    }

    #[test]
    fn every_disconnect_is_an_alert_folded_and_the_return_is_said() {
        let cfg = crate::config::Config::default();
        let mut e = crate::setup::assemble(&cfg, 1, crate::domain::TradingState::Active)
            .expect("engine")
            .engine;
        let mut w = FeedWatch::default();
        w.check(&mut e, &[feed("connecting", None, 0, 0)]);
        assert!(texts(&mut e).is_empty(), "connecting is no alert");
        let dns = "connect: failed to lookup address information";
        w.check(&mut e, &[feed("backoff", Some(dns), 0, 1)]);
        w.check(&mut e, &[feed("connecting", Some(dns), 0, 1)]);
        // Two more failures between two looks: both counted.
        w.check(&mut e, &[feed("backoff", Some(dns), 0, 3)]);
        w.check(&mut e, &[feed("backoff", Some(dns), 0, 3)]);
        let t = texts(&mut e);
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(
            t[0].0
                .contains("binance BTCUSDT feed DISCONNECTED: connect: failed to lookup"),
            "{t:?}"
        );
        assert_eq!(t[0].1, 3, "three failed attempts, one row: {t:?}");
        w.check(&mut e, &[feed("connected", None, 10, 3)]);
        let t = texts(&mut e);
        assert!(t[1].0.contains("feed connected again"), "{t:?}");
        w.check(&mut e, &[feed("connected", None, 6_000, 3)]);
        let t = texts(&mut e);
        assert!(t[2].0.contains("feed STALE: no frame for 5s"), "{t:?}");
        w.check(&mut e, &[feed("connected", None, 6_500, 3)]);
        assert_eq!(texts(&mut e).len(), 3, "once per silence");
    }
}
