//! Live trading on Binance spot, the client side: [`rest`] (signed REST calls, limits,
//! server time), [`task`] (the connection task: orders, cancels, unknown outcomes, the
//! user data stream, reconciliation) and [`start`], which builds the engine's
//! [`LivePort`] on top of them.

pub mod account;
pub mod rest;
pub mod rules;
pub mod task;

use crate::domain::{Instrument, TradingGate};
use crate::engine::view::ExecHealth;
use crate::venue::exchanges::binance::api::sign::{ApiKey, Signer};
use crate::venue::live::ids::VenueIds;
use crate::venue::live::keys::{ApiKeys, KeyKind};
use crate::venue::live::port::LivePort;
use crate::venue::live::settings::TradingSettings;
use crate::venue::live::tracker::Tracker;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Binance's spot endpoints: (testnet, mainnet). rest-api.md "General API Information";
/// web-socket-api.md; the testnet's: <https://testnet.binance.vision>.
pub const REST: (&str, &str) = ("https://testnet.binance.vision", "https://api.binance.com");
pub const WS_STREAMS: (&str, &str) = (
    "wss://stream.testnet.binance.vision",
    "wss://stream.binance.com:9443",
);
pub const WS_API: (&str, &str) = (
    "wss://ws-api.testnet.binance.vision/ws-api/v3",
    "wss://ws-api.binance.com:443/ws-api/v3",
);

/// The resolved endpoints of `[live.binance]`.
pub fn endpoints(s: &TradingSettings) -> (String, String, String) {
    let pick = |set: &str, pair: (&'static str, &'static str)| {
        TradingSettings::pick(set, s.testnet, pair.0, pair.1).to_string()
    };
    (
        pick(&s.rest_url, REST),
        pick(&s.ws_url, WS_STREAMS),
        pick(&s.ws_api_url, WS_API),
    )
}

/// What starting the live port needs besides the settings.
pub struct LiveStart {
    pub keys: ApiKeys,
    pub instruments: Vec<Instrument>,
    pub run: u64,
    /// This store's prefix of every client order id (see [`crate::venue::live::ids`]).
    pub id_prefix: crate::venue::live::ids::IdPrefix,
    pub gate: TradingGate,
    /// Trade keys already in the store (fills of earlier live runs).
    pub known_trades: BTreeSet<u64>,
    pub last_trade: BTreeMap<String, u64>,
    pub durable: Option<Arc<AtomicU64>>,
    pub data_dir: Option<std::path::PathBuf>,
    /// Orders earlier live runs left open (run, engine id, symbol) and where their end is
    /// written (see [`task::TaskSetup::at_venue`]).
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<task::Settle>,
}

/// The engine's port to Binance and the handle that binds alerts and the halt once the
/// engine runs.
pub struct Started {
    pub port: LivePort,
    pub hooks: Arc<OnceLock<Arc<dyn task::Hooks>>>,
}

/// Build the signer, the REST client, and start the connection task on a thread of its
/// own (a current-thread tokio runtime).
pub fn start(s: &TradingSettings, l: LiveStart) -> anyhow::Result<Started> {
    let (rest_url, _, ws_api_url) = endpoints(s);
    let signer = match l.keys.kind {
        KeyKind::Hmac => Signer::hmac(secrecy::SecretString::from(
            l.keys.signing_secret().to_string(),
        )),
        KeyKind::Ed25519 => Signer::ed25519_from_pem(l.keys.signing_secret()),
    }
    .map_err(|e| anyhow::anyhow!("binance keys ({}): {e}", l.keys.source))?;
    let rest = rest::Rest::new(
        &rest_url,
        ApiKey::new(l.keys.api_key()),
        signer,
        s.recv_window_ms,
        Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let health = Arc::new(Mutex::new(ExecHealth {
        venue: "binance".into(),
        network: if s.testnet { "TESTNET" } else { "LIVE" }.into(),
        connection: "connecting".into(),
        reconciling: Some("start".into()),
        dead_man: "no dead-man switch on Binance spot".into(),
        ..ExecHealth::default()
    }));
    let ids = VenueIds::new(l.run, l.id_prefix.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (rtx, rrx) = std::sync::mpsc::channel();
    let rest = Arc::new(rest);
    // The exchange filters, read on this runtime and handed to the engine by the port.
    let (rules_tx, rules_rx) = std::sync::mpsc::channel();
    let rules_task = rules::run(
        rest.clone(),
        l.instruments.iter().map(|i| i.symbol.clone()).collect(),
        rules_tx,
    );
    let hooks: Arc<OnceLock<Arc<dyn task::Hooks>>> = Arc::new(OnceLock::new());
    let setup = task::TaskSetup {
        rest,
        ws_api_url,
        instruments: l.instruments.clone(),
        tracker: Tracker::new(ids.clone(), l.instruments.clone(), l.known_trades),
        reports: rtx,
        health: health.clone(),
        hooks: hooks.clone(),
        durable: l.durable,
        last_trade: l.last_trade,
        start_file: l.data_dir.map(|d| d.join("binance-start.json")),
        at_venue: l.at_venue,
        settle: l.settle,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("pit-binance-exec".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::spawn(rules_task);
                task::run(setup, rx).await
            })
        })?;
    let port =
        LivePort::new(tx, rrx, ids, l.instruments, l.gate, health).with_venue_rules(rules_rx);
    Ok(Started { port, hooks })
}
