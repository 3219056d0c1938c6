//! Live trading on OKX v5, spot in trade mode `cash` or linear perpetual swaps in `cross`
//! (`[live.okx] inst_type`, see [`task`] for what SWAP changes): [`rest`], the signed REST calls
//! (`OK-ACCESS-*`, demo trading's `x-simulated-trading: 1`), each endpoint kept under its
//! documented quota, back-off on 429/50011, unknown outcomes resolved by asking for the
//! `clOrdId`; [`private`], the private WebSocket (`login`, the `orders` channel) and the
//! dead-man switch ("Cancel All After", refreshed on a timer of its own); [`task`], the
//! connection task (orders, cancels, the kill switch's cancel-all, unknown outcomes,
//! reconciliation, the store barrier through `venue/live/gate.rs`); [`rules`], the
//! instruments' tick, lot and minimum for the engine; [`settings`], `[live.okx]`;
//! [`updates`], pushes and fills as the tracker's venue updates; [`wire`], the messages and
//! pit's ids as `clOrdId`s; and [`start`], which builds the engine's [`LivePort`].
//!
//! `setup.rs` builds it for venue "okx" from `[live.okx]` (`pit run --live`);
//! `tests/live_okx.rs` drives that end to end against `pit emulate okx`.

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
use crate::venue::exchanges::okx::api::sign::Signer;
use crate::venue::live::ids::VenueIds;
use crate::venue::live::keys::ApiKeys;
use crate::venue::live::port::LivePort;
use crate::venue::live::tracker::Tracker;
use settings::OkxSettings;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
    /// SWAP: pit's position per symbol (coins, signed) in the store, compared with the
    /// venue's.
    pub positions: std::collections::BTreeMap<String, rust_decimal::Decimal>,
    /// SWAP: coins per contract as configured (`[[instruments]] contract_value`: the
    /// market data reads the books' sizes with it), checked against OKX's `ctVal`.
    pub contract_values: std::collections::BTreeMap<String, rust_decimal::Decimal>,
}

/// The engine's port to OKX and the handle that binds alerts and the halt.
pub struct Started {
    pub port: LivePort,
    pub hooks: Arc<OnceLock<Arc<dyn Hooks>>>,
}

/// Build the signers and the REST client, and start the connection task (with the
/// private stream and the dead-man switch) on a thread of its own.
pub fn start(s: &OkxSettings, l: LiveStart) -> anyhow::Result<Started> {
    let (rest_url, ws_private_url) = s.endpoints();
    if l.keys.kind != crate::venue::live::keys::KeyKind::Hmac {
        anyhow::bail!(
            "okx keys ({}): OKX signs with an HMAC secret (api_key, secret and passphrase), not an Ed25519 key",
            l.keys.source
        );
    }
    let signer = |()| {
        let pass = l.keys.passphrase().cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "okx keys ({}): no passphrase: add passphrase = \"...\" to the key file, or set PIT_OKX_API_PASSPHRASE",
                l.keys.source
            )
        })?;
        Signer::from_keys(&l.keys, pass)
            .map_err(|e| anyhow::anyhow!("okx keys ({}): {e}", l.keys.source))
    };
    let rest = rest::Rest::new(
        &rest_url,
        signer(())?,
        s.demo,
        Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?
    .with_swap(s.swap());
    let health = Arc::new(Mutex::new(ExecHealth {
        venue: "okx".into(),
        network: if s.demo { "DEMO" } else { "LIVE" }.into(),
        connection: "connecting".into(),
        reconciling: Some("start".into()),
        dead_man: s.dead_man_text(),
        native_reduce_only: s.swap(),
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
        ws_signer: Arc::new(signer(())?),
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
        start_positions: l.positions,
        contract_values: l.contract_values,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("pit-okx-exec".into())
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
