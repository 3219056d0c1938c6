//! Live trading on Bybit v5 (spot and linear), the client side: [`rest`], the signed REST
//! calls with Bybit's rate-limit headers, back-off, and unknown outcomes resolved by
//! asking for the `orderLinkId`; [`private`], the private stream client that arms
//! disconnection protection (DCP) and keeps its heartbeat; [`task`], the connection task
//! (orders, cancels, the kill switch's cancel-all, unknown outcomes, reconciliation, the
//! store barrier); [`rules`], the instrument filters for the engine; [`settings`], the `[live.bybit]` section; [`updates`], the stream's and
//! the lists' messages as the tracker's venue updates; and [`start`], which builds the
//! engine's [`LivePort`] on top of them.
//!
//! `setup.rs` builds it for venue "bybit" from `[live.bybit]` (`pit run --live`);
//! `tests/live_bybit.rs` drives that end to end against `pit emulate bybit`.

pub mod account;
pub mod private;
pub mod rest;
pub mod rules;
pub mod settings;
pub mod task;
pub mod updates;

use crate::domain::{Instrument, TradingGate};
use crate::engine::view::ExecHealth;
use crate::venue::exchanges::binance::trade::task::{Hooks, Settle};
use crate::venue::exchanges::bybit::api::sign::Signer;
use crate::venue::exchanges::bybit::api::wire::Category;
use crate::venue::live::ids::VenueIds;
use crate::venue::live::keys::ApiKeys;
use crate::venue::live::port::LivePort;
use crate::venue::live::tracker::Tracker;
use settings::BybitSettings;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What starting the live port needs besides the settings.
pub struct LiveStart {
    pub keys: ApiKeys,
    pub category: Category,
    pub instruments: Vec<Instrument>,
    pub run: u64,
    /// This store's prefix of every client order id (see [`crate::venue::live::ids`]).
    pub id_prefix: crate::venue::live::ids::IdPrefix,
    pub gate: TradingGate,
    /// Trade keys already in the store (fills of earlier live runs), applied never again.
    pub known_trades: BTreeSet<u64>,
    /// Per symbol, fills are asked for from this time (ms; a symbol not here: Bybit's
    /// default of the last 7 days).
    pub since_ms: std::collections::BTreeMap<String, u64>,
    pub durable: Option<Arc<AtomicU64>>,
    /// Orders earlier live runs left open (run, engine id, symbol).
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
    /// The data folder (`bybit-start.json`, the balances pit first found, is kept there).
    pub data_dir: Option<std::path::PathBuf>,
    /// Derivatives: pit's signed position per symbol in the store at the start.
    pub positions: std::collections::BTreeMap<String, rust_decimal::Decimal>,
}

/// The engine's port to Bybit and the handle that binds alerts and the halt once the
/// engine runs.
pub struct Started {
    pub port: LivePort,
    pub hooks: Arc<OnceLock<Arc<dyn Hooks>>>,
}

/// Build the signers and the REST client, and start the connection task (with the
/// private stream and its dead-man switch) on a thread of its own (a current-thread
/// tokio runtime). The port's health carries the dead-man switch's state
/// ("dead-man 10s armed", or why not) for the status bar and `pit status`.
pub fn start(s: &BybitSettings, l: LiveStart) -> anyhow::Result<Started> {
    let (rest_url, ws_private_url) = s.endpoints();
    if l.keys.kind != crate::venue::live::keys::KeyKind::Hmac {
        anyhow::bail!(
            "bybit keys ({}): Bybit v5 signs with an HMAC secret (api_key and secret), not an Ed25519 key",
            l.keys.source
        );
    }
    let signer = |()| {
        Signer::from_keys(&l.keys)
            .map_err(|e| anyhow::anyhow!("bybit keys ({}): {e}", l.keys.source))
    };
    let rest = rest::Rest::new(
        &rest_url,
        signer(())?,
        s.recv_window_ms,
        Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let health = Arc::new(Mutex::new(ExecHealth {
        venue: "bybit".into(),
        // Bybit's main host is real money whatever `testnet` says.
        network: if s.testnet && rest_url.trim_end_matches('/') != settings::REST.1 {
            "TESTNET"
        } else {
            "LIVE"
        }
        .into(),
        connection: "connecting".into(),
        reconciling: Some("start".into()),
        dead_man: s.dead_man_text(),
        native_reduce_only: l.category.has_positions(),
        ..ExecHealth::default()
    }));
    let ids = VenueIds::new(l.run, l.id_prefix.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (rtx, rrx) = std::sync::mpsc::channel();
    let hooks: Arc<OnceLock<Arc<dyn Hooks>>> = Arc::new(OnceLock::new());
    let rest = Arc::new(rest);
    // The instrument filters, read on this runtime and handed to the engine by the port.
    let (rules_tx, rules_rx) = std::sync::mpsc::channel();
    let rules_task = rules::run(
        rest.clone(),
        l.category,
        l.instruments.iter().map(|i| i.symbol.clone()).collect(),
        rules_tx,
    );
    let engine = crate::venue::live::pulse::EngineWatch::default();
    let setup = task::TaskSetup {
        rest,
        category: l.category,
        ws_private_url,
        ws_signer: Arc::new(signer(())?),
        dead_man_secs: s.dead_man_secs,
        engine: engine.clone(),
        instruments: l.instruments.clone(),
        tracker: Tracker::new(ids.clone(), l.instruments.clone(), l.known_trades),
        reports: rtx,
        health: health.clone(),
        hooks: hooks.clone(),
        durable: l.durable,
        since_ms: l.since_ms,
        at_venue: l.at_venue,
        settle: l.settle,
        start_file: l.data_dir.map(|d| d.join("bybit-start.json")),
        positions: l.positions,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("pit-bybit-exec".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::spawn(rules_task);
                task::run(setup, rx).await
            })
        })?;
    let port = LivePort::new(tx, rrx, ids, l.instruments, l.gate, health)
        .with_venue_rules(rules_rx)
        .with_engine_watch(engine);
    Ok(Started { port, hooks })
}
