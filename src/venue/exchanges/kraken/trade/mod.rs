//! Live trading on Kraken spot: [`rest`], the signed REST calls (`API-Key`/`API-Sign`, the
//! persisted nonce, one private request at a time, the call counter kept under the tier's
//! limit, back-off on Kraken's rate-limit errors, unknown outcomes resolved by asking for
//! the `cl_ord_id`); [`private`], the authenticated WebSocket v2 (a fresh token per
//! connection, the `executions` channel) and the dead-man switch (`CancelAllOrdersAfter`,
//! refreshed on a timer of its own); [`task`], the connection task (orders, cancels, the
//! kill switch's Cancel All Orders, unknown outcomes, reconciliation, the store barrier
//! through `venue/live/gate.rs`); [`rules`], the pairs' tick, lot, minimum volume and cost
//! for the engine; [`settings`], `[live.kraken]`; [`updates`], executions and trades as the
//! tracker's venue updates; [`wire`], the messages and pit's ids as `cl_ord_id`s; and
//! [`start`], which builds the engine's [`LivePort`].
//!
//! `setup.rs` builds it for venue "kraken" from `[live.kraken]` (`pit run --live`);
//! `tests/live_kraken.rs` drives that end to end against `pit emulate kraken`.

pub mod private;
pub mod rest;
pub mod rules;
pub mod settings;
pub mod task;
pub mod updates;
pub mod wire;

use crate::domain::{Instrument, TradingGate};
use crate::engine::view::ExecHealth;
use crate::venue::exchanges::binance::trade::task::{Hooks, Settle};
use crate::venue::exchanges::kraken::api::sign::{NonceSource, Signer};
use crate::venue::live::ids::VenueIds;
use crate::venue::live::keys::ApiKeys;
use crate::venue::live::port::LivePort;
use crate::venue::live::tracker::Tracker;
use settings::KrakenSettings;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The nonce file in the data folder (`NonceSource`: the last nonce sent, fsynced).
pub const NONCE_FILE: &str = "kraken.nonce";

/// What starting the live port needs besides the settings.
pub struct LiveStart {
    pub keys: ApiKeys,
    pub instruments: Vec<Instrument>,
    pub run: u64,
    pub id_prefix: crate::venue::live::ids::IdPrefix,
    pub gate: TradingGate,
    /// Trade keys already in the store, applied never again.
    pub known_trades: BTreeSet<u64>,
    /// Per symbol, fills are asked for from this time (ms).
    pub since_ms: std::collections::BTreeMap<String, u64>,
    pub durable: Option<Arc<AtomicU64>>,
    /// The data folder: the nonce file lives there.
    pub data_dir: std::path::PathBuf,
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
}

/// The engine's port to Kraken and the handle that binds alerts and the halt.
pub struct Started {
    pub port: LivePort,
    pub hooks: Arc<OnceLock<Arc<dyn Hooks>>>,
}

/// Build the signer, the nonce source and the REST client, and start the connection task
/// (with the private stream and the dead-man switch) on a thread of its own.
pub fn start(s: &KrakenSettings, l: LiveStart) -> anyhow::Result<Started> {
    let (rest_url, ws_private_url) = s.endpoints();
    if l.keys.kind != crate::venue::live::keys::KeyKind::Hmac {
        anyhow::bail!(
            "kraken keys ({}): Kraken signs with an HMAC-SHA512 private key (api_key and secret), not an Ed25519 key",
            l.keys.source
        );
    }
    let signer = Signer::from_keys(&l.keys)
        .map_err(|e| anyhow::anyhow!("kraken keys ({}): {e}", l.keys.source))?;
    let nonce = NonceSource::open(&l.data_dir.join(NONCE_FILE))?;
    let rest = rest::Rest::new(
        &rest_url,
        signer,
        nonce,
        &s.tier,
        Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let health = Arc::new(Mutex::new(ExecHealth {
        venue: "kraken".into(),
        network: "LIVE".into(),
        connection: "connecting".into(),
        reconciling: Some("start".into()),
        dead_man: s.dead_man_text(),
        ..ExecHealth::default()
    }));
    let ids = VenueIds::new(l.run, l.id_prefix.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (rtx, rrx) = std::sync::mpsc::channel();
    let hooks: Arc<OnceLock<Arc<dyn Hooks>>> = Arc::new(OnceLock::new());
    let rest = Arc::new(rest);
    let (rules_tx, rules_rx) = std::sync::mpsc::channel();
    let rules_task = rules::run(
        rest.clone(),
        l.instruments.iter().map(|i| i.symbol.clone()).collect(),
        rules_tx,
    );
    let engine = crate::venue::live::pulse::EngineWatch::default();
    let setup = task::TaskSetup {
        rest,
        engine: engine.clone(),
        ws_private_url,
        dead_man_secs: s.dead_man_secs,
        instruments: l.instruments.clone(),
        tracker: Tracker::new(ids.clone(), l.instruments.clone(), l.known_trades),
        reports: rtx,
        health: health.clone(),
        hooks: hooks.clone(),
        durable: l.durable,
        since_ms: l.since_ms,
        at_venue: l.at_venue,
        settle: l.settle,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("pit-kraken-exec".into())
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
