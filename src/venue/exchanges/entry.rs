//! What an exchange's entry in the venue table is made of ([`ExchangeEntry`]: its
//! decoder, live endpoint and instrument endpoint), the `[live]` settings those are built
//! from ([`LiveSettings`]), and the small helpers every exchange's `endpoints.rs` shares.
//! It sits below both the exchanges' folders, which fill entries in, and the table
//! ([`super::registry`]) and the live feed, which read them.

use super::decode::FrameDecoder;
use crate::domain::Instrument;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::time::Duration;

/// `[live]`: settings of the live market-data connection (any real venue).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSettings {
    /// WebSocket endpoint; empty: the venue's public endpoint. For Binance this is the
    /// base (`wss://stream.binance.com:9443`); the combined-stream path is added.
    pub ws_url: String,
    /// REST base for snapshots and the instrument endpoint; empty: the venue's.
    pub rest_url: String,
    /// Bybit only: the endpoint category, `spot`, `linear` or `inverse`.
    pub category: String,
    /// Book depth subscribed; 0: the venue's default here (Bybit 50, Kraken 25).
    pub depth: u32,
    /// No frame for this many seconds: every book RESYNCING, then a reconnect.
    pub stale_secs: u64,
    /// Reconnect backoff: the first delay, doubled per failed attempt up to the most,
    /// each drawn at random between half and all of it (jitter).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// Ask the venue's instrument endpoint for tick and lot sizes of symbols that
    /// `[[instruments]]` does not list (`pit run --symbol`).
    pub fetch_instruments: bool,
    /// `[live.binance]`: live trading on Binance spot (paper unless `mode = "live"` and
    /// `--live`). A venue that trades for real has its section here.
    pub binance: crate::venue::live::settings::TradingSettings,
    /// `[live.bybit]`: live trading on Bybit v5 (testnet by default; its dead-man switch,
    /// DCP, armed by default).
    pub bybit: super::bybit::trade::settings::BybitSettings,
    /// `[live.okx]`: live trading on OKX v5 spot (demo trading by default; its dead-man
    /// switch, Cancel All After, armed by default).
    pub okx: super::okx::trade::settings::OkxSettings,
    /// `[live.kraken]`: live trading on Kraken spot (only against `pit emulate kraken`
    /// for now; its dead-man switch, CancelAllOrdersAfter, armed by default).
    pub kraken: super::kraken::trade::settings::KrakenSettings,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            ws_url: String::new(),
            rest_url: String::new(),
            category: "spot".into(),
            depth: 0,
            stale_secs: 15,
            backoff_min_ms: 500,
            backoff_max_ms: 30_000,
            fetch_instruments: true,
            binance: Default::default(),
            bybit: Default::default(),
            okx: Default::default(),
            kraken: Default::default(),
        }
    }
}

impl LiveSettings {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if !["spot", "linear", "inverse"].contains(&self.category.as_str()) {
            return Err(Invalid::new(
                "category",
                "must be spot, linear or inverse (Bybit)",
            ));
        }
        if self.stale_secs == 0 {
            return Err(Invalid::new("stale_secs", "must be at least 1"));
        }
        if self.backoff_min_ms == 0 || self.backoff_max_ms < self.backoff_min_ms {
            return Err(Invalid::new(
                "backoff_max_ms",
                "backoff_min_ms must be at least 1 and backoff_max_ms at least backoff_min_ms",
            ));
        }
        self.binance
            .validate()
            .map_err(|i| Invalid::new(format!("binance.{}", i.key), i.message))?;
        self.bybit
            .validate()
            .map_err(|i| Invalid::new(format!("bybit.{}", i.key), i.message))?;
        self.okx
            .validate()
            .map_err(|i| Invalid::new(format!("okx.{}", i.key), i.message))?;
        self.kraken
            .validate()
            .map_err(|i| Invalid::new(format!("kraken.{}", i.key), i.message))?;
        for (k, v) in [("ws_url", &self.ws_url), ("rest_url", &self.rest_url)] {
            if !v.is_empty() && !v.contains("://") {
                return Err(Invalid::new(k, "must be a URL (scheme://host...)"));
            }
        }
        Ok(())
    }
}

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
    /// Coins per contract, from its answer, where the venue's feed writes sizes in
    /// contracts (OKX swaps' `ctVal`); `None` for venues whose sizes are coins.
    pub contract: Option<fn(answer: &serde_json::Value) -> Option<Decimal>>,
}

impl MetadataEntry {
    /// Tick and lot from the endpoint's answer text; `None` if it holds none.
    pub fn tick_lot(&self, body: &str) -> Option<(Decimal, Decimal)> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        (self.parse)(&v)
    }

    /// Coins per contract from the answer text, where the venue writes sizes in contracts.
    pub fn contract_value(&self, body: &str) -> Option<Decimal> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        (self.contract?)(&v)
    }
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
