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
    let venue = match cfg.venue.as_str() {
        "binance" if cfg.live.binance.wants_live() => "binance",
        "bybit" if cfg.live.bybit.wants_live() => "bybit",
        // OKX (spot or swap) and Kraken: through a running pit only, whose connection task
        // reconciles (orders, fills, and the balances or, on OKX SWAP, the positions).
        v @ ("okx" | "kraken")
            if (v == "okx" && cfg.live.okx.wants_live())
                || (v == "kraken" && cfg.live.kraken.wants_live()) =>
        {
            if let Some(code) = through_the_run(&cfg, a.json) {
                return Ok(code);
            }
            let name = if v == "okx" { "OKX" } else { "Kraken" };
            eprintln!(
                "pit reconcile: on {name} it asks a running pit (`pit run --live`): none runs in this data folder"
            );
            return Ok(ExitCode::from(2));
        }
        _ => {
            eprintln!(
                "pit reconcile: no live venue in the config: it needs venue = \"binance\", \"bybit\", \"okx\" or \"kraken\" and its [live.<venue>] mode = \"live\" (venue is \"{}\"; OKX and Kraken through a running pit only)",
                cfg.venue
            );
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(code) = through_the_run(&cfg, a.json) {
        return Ok(code);
    }
    pit::setup::live_market_endpoints(&mut cfg);
    let symbols: Vec<String> = cfg
        .instrument_list()
        .iter()
        .map(|i| i.symbol.clone())
        .collect();
    let dir = pit::emergency::latch::data_dir(&cfg.store.path);
    // No store yet: it believes nothing (and none is created).
    let store_side = if cfg.store.path.exists() {
        let store = pit::store::Store::open_existing(&cfg.store.path)?;
        if venue == "bybit" {
            let category =
                pit::venue::exchanges::bybit::api::wire::Category::parse_traded(&cfg.live.category)
                    .map_err(|e| anyhow::anyhow!("[live] category: {e}"))?;
            // The store's records are of the category its live runs traded: compared with
            // another's lists they would be misjudged.
            if let Err(e) = pit::setup::bybit_category_of_folder(&store, &dir, category, false) {
                eprintln!("pit reconcile: {e}");
                return Ok(ExitCode::from(2));
            }
        }
        pit::reconcile::store_side(
            &store,
            venue,
            &symbols,
            &dir.join(format!("{venue}-start.json")),
        )?
    } else {
        pit::reconcile::StoreSide::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bar = pit::progress::spinner(&format!("reconcile: reading {venue}"));
    let read = if venue == "binance" {
        read_binance(&cfg, &symbols, &store_side, &rt)?
    } else {
        read_bybit(&cfg, &symbols, &store_side, &rt)?
    };
    bar.finish_and_clear();
    let (markets, venue_side) = match read.fetched {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pit reconcile: cannot read {venue} ({}): {e}", read.url);
            return Ok(ExitCode::from(2));
        }
    };
    let mut r = pit::reconcile::compare(&markets, &store_side, &venue_side);
    r.venue = format!(
        "{venue} {} ({})",
        if read.testnet { "TESTNET" } else { "LIVE" },
        read.url
    );
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.to_text());
    }
    Ok(ExitCode::from(if r.agree() { 0 } else { 1 }))
}

/// What one venue said, and where it was asked.
struct Read {
    url: String,
    testnet: bool,
    fetched: Result<(Vec<pit::reconcile::Market>, pit::reconcile::VenueSide), String>,
}

fn read_binance(
    cfg: &pit::config::Config,
    symbols: &[String],
    store_side: &pit::reconcile::StoreSide,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Read> {
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
    let fetched = rt.block_on(async {
        if let Err(e) = rest.sync_time().await {
            tracing::warn!(error = %e, "binance: server time not measured");
        }
        pit::reconcile::fetch_binance(&rest, symbols, store_side).await
    });
    Ok(Read {
        url: rest_url,
        testnet: s.testnet,
        fetched,
    })
}

/// Bybit lists fills by time: from the oldest one the store keeps per symbol (less the
/// list's lag), else its default of the last 7 days.
fn read_bybit(
    cfg: &pit::config::Config,
    symbols: &[String],
    store_side: &pit::reconcile::StoreSide,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Read> {
    use pit::venue::exchanges::bybit;
    let s = &cfg.live.bybit;
    let category = bybit::api::wire::Category::parse_traded(&cfg.live.category)
        .map_err(|e| anyhow::anyhow!("[live] category: {e}"))?;
    let keys =
        pit::venue::live::keys::load("bybit", s.key_file.as_deref(), &|n| std::env::var(n).ok())?;
    let signer = bybit::api::sign::Signer::from_keys(&keys)
        .map_err(|e| anyhow::anyhow!("bybit keys ({}): {e}", keys.source))?;
    // The keys go to Bybit's hosts or this machine only, as for `--live`.
    pit::setup::live_hosts(cfg)?;
    let (rest_url, _) = s.endpoints();
    let rest = bybit::trade::rest::Rest::new(
        &rest_url,
        signer,
        s.recv_window_ms,
        std::time::Duration::from_millis(s.request_timeout_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let since: std::collections::BTreeMap<String, u64> = store_side
        .first_fill_ms
        .iter()
        .map(|(sym, ms)| {
            (
                sym.clone(),
                ms.saturating_sub(bybit::trade::task::LIST_LAG_MS),
            )
        })
        .collect();
    let fetched = rt.block_on(async {
        if let Err(e) = rest.sync_time().await {
            tracing::warn!(error = %e, "bybit: server time not measured");
        }
        bybit::trade::account::fetch(&rest, category, symbols, &since).await
    });
    Ok(Read {
        url: rest_url,
        testnet: s.testnet,
        fetched,
    })
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
