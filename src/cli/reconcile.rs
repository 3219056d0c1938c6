//! `pit reconcile`: the store against the venue, on demand (see `pit::reconcile`).

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// One JSON object on stdout: the counts, `balances`, `differences`, `external`,
    /// `notes` and `agree`.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when the store and the venue agree, 1 when they differ (or a running engine's
/// reconciliation did not finish in time), 2 for a usage or config error, no live venue
/// configured, or a venue that cannot be read. While a run holds the store, the run
/// reconciles (its connection task, as at start) and answers over the control socket.
pub fn reconcile(config: Option<&PathBuf>, a: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = super::load_config(config)?;
    if cfg.venue != "binance" || !cfg.live.binance.wants_live() {
        eprintln!(
            "pit reconcile: no live venue in the config: it needs venue = \"binance\" and [live.binance] mode = \"live\" (venue is \"{}\")",
            cfg.venue
        );
        return Ok(ExitCode::from(2));
    }
    if let Some(code) = through_the_run(&cfg, a.json) {
        return Ok(code);
    }
    pit::setup::live_market_endpoints(&mut cfg);
    let s = &cfg.live.binance;
    let keys =
        pit::venue::live::keys::load("binance", s.key_file.as_deref(), &|n| std::env::var(n).ok())?;
    let (rest_url, _, _) = pit::venue::exchanges::binance::trade::endpoints(s);
    use pit::venue::exchanges::binance::api::sign::{ApiKey, Signer};
    use pit::venue::live::keys::KeyKind;
    let signer = match keys.kind {
        KeyKind::Hmac => Signer::hmac(secrecy::SecretString::from(
            keys.signing_secret().to_string(),
        )),
        KeyKind::Ed25519 => Signer::ed25519_from_pem(keys.signing_secret()),
    }
    .map_err(|e| anyhow::anyhow!("binance keys ({}): {e}", keys.source))?;
    let rest = pit::venue::exchanges::binance::trade::rest::Rest::new(
        &rest_url,
        ApiKey::new(keys.api_key()),
        signer,
        s.recv_window_ms,
        std::time::Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let symbols: Vec<String> = cfg
        .instrument_list()
        .iter()
        .map(|i| i.symbol.clone())
        .collect();
    let dir = pit::emergency::latch::data_dir(&cfg.store.path);
    // No store yet: it believes nothing (and none is created).
    let store_side = if cfg.store.path.exists() {
        let store = pit::store::Store::open_existing(&cfg.store.path)?;
        pit::reconcile::store_side(&store, &symbols, &dir.join("binance-start.json"))?
    } else {
        pit::reconcile::StoreSide::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bar = pit::progress::spinner("reconcile: reading binance");
    let fetched = rt.block_on(async {
        if let Err(e) = rest.sync_time().await {
            tracing::warn!(error = %e, "binance: server time not measured");
        }
        pit::reconcile::fetch_binance(&rest, &symbols, &store_side).await
    });
    bar.finish_and_clear();
    let (markets, venue) = match fetched {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pit reconcile: cannot read binance ({rest_url}): {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut r = pit::reconcile::compare(&markets, &store_side, &venue);
    r.venue = format!(
        "binance {} ({rest_url})",
        if s.testnet { "TESTNET" } else { "LIVE" }
    );
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.to_text());
    }
    Ok(ExitCode::from(if r.agree() { 0 } else { 1 }))
}

/// `pit reconcile` while a run holds the store: the run's live venue reconciles and the
/// answer is printed. `None` when no engine answers in the data folder (reconcile here).
fn through_the_run(cfg: &pit::config::Config, json: bool) -> Option<ExitCode> {
    use pit::control::client::{Client, ClientError};
    use pit::control::protocol::{Outcome, Request, Role};
    let dir = pit::control::data_dir(&cfg.store.path);
    let mut client = match Client::connect(&dir, Role::Admin) {
        Ok(c) => c,
        Err(ClientError::NoEngine { .. }) => return None,
        Err(e) => {
            eprintln!("pit reconcile: the running engine: {e}");
            return Some(ExitCode::from(2));
        }
    };
    let reply = match client.call(
        &Request::Reconcile,
        std::time::Duration::from_secs(75),
        |_, _, _| {},
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "pit reconcile: the running engine (pid {}): {e}",
                client.pid
            );
            return Some(ExitCode::from(2));
        }
    };
    let agree = reply.data["agree"].as_bool() == Some(true);
    if json {
        let mut out = reply.data.as_object().cloned().unwrap_or_default();
        out.insert("outcome".into(), reply.outcome.as_str().into());
        out.insert("text".into(), reply.text.clone().into());
        out.insert("pid".into(), client.pid.into());
        println!("{}", serde_json::Value::Object(out));
    }
    Some(match reply.outcome {
        Outcome::Ok => {
            if !json {
                println!(
                    "reconciled by the running engine (pid {}): {}",
                    client.pid, reply.text
                );
            }
            ExitCode::from(if agree { 0 } else { 1 })
        }
        Outcome::TimedOut => {
            eprintln!("pit reconcile: {}", reply.text);
            ExitCode::from(1)
        }
        Outcome::Refused | Outcome::Error => {
            eprintln!("pit reconcile: {}", reply.text);
            ExitCode::from(2)
        }
    })
}
