//! `pit emulate binance`: a local stand-in for Binance spot, to rehearse live trading (keys,
//! orders, the kill switch, reconnects, faults) with no money and no network, and for the
//! tests to drive the live adapter against.
//!
//! It speaks the subset of Binance spot's REST API and WebSocket protocols that pit uses,
//! with the very types and signing code the live client uses
//! ([`crate::venue::exchanges::binance::api`]): market data (`/api/v3/depth`, the combined
//! `/stream` of depth diffs, book tickers and trades), the order API (new order, cancel,
//! cancel all, query, open orders), account, my trades, exchangeInfo with real-looking
//! filters, server time, and the user data stream as a WebSocket API subscription. Every
//! signed request is verified (HMAC-SHA-256 or Ed25519), timestamps are held to
//! `recvWindow`, filters to exchangeInfo, all answered with Binance's codes and statuses.
//! Faults can be injected (see [`faults`]); `GET /emulator/state` shows the account, orders
//! and trades exactly.
//!
//! The server is axum (on hyper, with its `ws` feature): a well-kept router whose handlers
//! are plain async functions, WebSocket upgrades included, with one accept loop of our own
//! so that a handler can drop its connection without an answer. The market is the built-in
//! simulated market; the matching is the paper fill model (see [`exchange`]).
//!
//! Parts: [`server`] (accept loop, shared state, pacer), [`rest`] (REST and control
//! endpoints), [`ws`] (market stream, WebSocket API), [`exchange`] (orders, balances,
//! trades, events), [`auth`] (keys and request checks), [`faults`], [`limits`] (weight and
//! order-count headers).

pub mod auth;
pub mod bybit;
pub mod exchange;
pub mod faults;
pub mod kraken;
pub mod limits;
pub mod okx;
pub mod rest;
pub mod server;
pub mod shared;
pub mod ws;

use crate::venue::exchanges::binance::api::sign::{Signer, Verifier};
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::io::Write;
use std::sync::Arc;

/// The venue an emulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Venue {
    /// Binance spot (REST, the WebSocket API's user data stream, market streams).
    #[default]
    Binance,
    /// Bybit v5, category spot (REST, the private stream, DCP): see [`bybit`].
    Bybit,
    /// OKX v5, instType SPOT (trade mode cash) and SWAP (cross, net positions): see [`okx`].
    Okx,
    /// Kraken spot (REST, WebSocket v2 `executions`, CancelAllOrdersAfter): see
    /// [`kraken`].
    Kraken,
}

/// Everything `pit emulate VENUE` is started with.
#[derive(Debug)]
pub struct Options {
    pub venue: Venue,
    /// 0: any free port.
    pub port: u16,
    pub seed: u64,
    pub faults: Option<String>,
    /// Starting balances, e.g. `USDT=100000`.
    pub balances: Vec<(String, Decimal)>,
    /// HMAC key: the API key and its secret. None: one is generated and printed.
    pub hmac: Option<(String, SecretString)>,
    /// Ed25519 key: the API key and the public key's PEM.
    pub ed25519: Option<(String, String)>,
    /// Added to the server's clock (to rehearse a skewed client clock).
    pub clock_offset_ms: i64,
    /// OKX: the passphrase of the HMAC key (OKX's third part). None: one is generated and
    /// printed.
    pub passphrase: Option<SecretString>,
}

/// The default starting balances.
pub fn default_balances() -> Vec<(String, Decimal)> {
    vec![
        ("USDT".into(), Decimal::from(100_000)),
        ("BTC".into(), Decimal::ONE),
        ("ETH".into(), Decimal::from(10)),
    ]
}

/// Parses `ASSET=AMOUNT[,ASSET=AMOUNT...]`.
pub fn parse_balances(s: &str) -> Result<Vec<(String, Decimal)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|item| {
            let (a, v) = item
                .split_once('=')
                .ok_or_else(|| format!("balance `{item}`: expected ASSET=AMOUNT"))?;
            let amount: Decimal = v
                .trim()
                .parse()
                .map_err(|_| format!("balance `{item}`: `{v}` is not a decimal amount"))?;
            if amount.is_sign_negative() {
                return Err(format!("balance `{item}`: negative"));
            }
            Ok((a.trim().to_ascii_uppercase(), amount))
        })
        .collect()
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Runs the emulator until the process is stopped. The first line on stdout is
/// `listening on 127.0.0.1:PORT`; then the keys it accepts.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    if opts.venue == Venue::Bybit {
        return run_bybit(opts).await;
    }
    if opts.venue == Venue::Okx {
        return run_okx(opts).await;
    }
    if opts.venue == Venue::Kraken {
        return run_kraken(opts).await;
    }
    let mut keys = auth::Keys::default();
    let mut out = std::io::stdout();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
    let addr = listener.local_addr()?;
    let (hmac_key, hmac_note) = match opts.hmac {
        Some((key, secret)) => {
            let signer = Signer::hmac(secret).map_err(|e| anyhow::anyhow!("HMAC key: {e}"))?;
            keys.add(key.clone(), signer.verifier());
            (key, "secret as given".to_string())
        }
        None => {
            // A throwaway key for this emulator only: printing it leaks nothing real.
            let key = random_token(64);
            let secret = random_token(64);
            let signer = Signer::hmac(SecretString::from(secret.clone()))
                .map_err(|e| anyhow::anyhow!("HMAC key: {e}"))?;
            keys.add(key.clone(), signer.verifier());
            (
                key,
                format!("secret {secret} (generated for this emulator)"),
            )
        }
    };
    let mut lines = vec![
        format!("listening on {addr}"),
        format!("hmac api key {hmac_key} {hmac_note}"),
    ];
    if let Some((key, pem)) = opts.ed25519 {
        let v = Verifier::ed25519_from_public_pem(&pem)
            .map_err(|e| anyhow::anyhow!("Ed25519 key: {e}"))?;
        keys.add(key.clone(), v);
        lines.push(format!("ed25519 api key {key}"));
    }
    lines.push(format!(
        "rest http://{addr}  market ws://{addr}/stream  ws-api ws://{addr}/ws-api/v3  state http://{addr}/emulator/state"
    ));
    let shared = core(
        &opts.balances,
        opts.seed,
        opts.faults.as_deref(),
        opts.clock_offset_ms,
        keys,
    )?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    server::serve(listener, shared).await
}

/// The exchange core every front-end serves: the simulated market from now (plus the
/// clock offset), the balances, the seed, Binance-style `keys` (empty for the others, which
/// check their own) and the faults given at start.
fn core(
    balances: &[(String, Decimal)],
    seed: u64,
    faults: Option<&str>,
    clock_offset_ms: i64,
    keys: auth::Keys,
) -> anyhow::Result<Arc<shared::Shared>> {
    core_with(
        exchange::default_symbols(),
        balances,
        seed,
        faults,
        clock_offset_ms,
        keys,
    )
}

/// [`core`] listing `specs`.
fn core_with(
    specs: Vec<exchange::SymbolSpec>,
    balances: &[(String, Decimal)],
    seed: u64,
    faults: Option<&str>,
    clock_offset_ms: i64,
    keys: auth::Keys,
) -> anyhow::Result<Arc<shared::Shared>> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
        + clock_offset_ms * 1_000_000;
    let ex = exchange::Exchange::new(specs, balances, seed, now_ns);
    let shared = Arc::new(shared::Shared::new(ex, keys, clock_offset_ms));
    if let Some(spec) = faults {
        let f = faults::parse(spec).map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
        shared.apply_faults(&f);
    }
    Ok(shared)
}

/// `pit emulate bybit`: the same core, Bybit's front-end. The first line on stdout is
/// `listening on 127.0.0.1:PORT`; then the key it accepts.
async fn run_bybit(opts: Options) -> anyhow::Result<()> {
    use crate::venue::exchanges::bybit::api::sign::Signer as BybitSigner;
    if opts.ed25519.is_some() {
        anyhow::bail!("pit emulate bybit takes HMAC keys only (--api-key)");
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
    let addr = listener.local_addr()?;
    let (key, secret, note) = match opts.hmac {
        Some((key, secret)) => (key, secret, "secret as given".to_string()),
        None => {
            // A throwaway key for this emulator only: printing it leaks nothing real.
            let key = random_token(24);
            let secret = random_token(36);
            (
                key,
                SecretString::from(secret.clone()),
                format!("secret {secret} (generated for this emulator)"),
            )
        }
    };
    let signer = BybitSigner::new(&key, secret).map_err(|e| anyhow::anyhow!("HMAC key: {e}"))?;
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(key.clone(), signer);
    let shared = core(
        &opts.balances,
        opts.seed,
        opts.faults.as_deref(),
        opts.clock_offset_ms,
        auth::Keys::default(),
    )?;
    let b = Arc::new(bybit::Bybit::new(shared, keys));
    let mut out = std::io::stdout();
    for l in [
        format!("listening on {addr}"),
        format!("hmac api key {key} {note}"),
        format!(
            "rest http://{addr}  private ws://{addr}/v5/private  state http://{addr}/emulator/state"
        ),
    ] {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    server::serve_bybit(listener, b).await
}

/// `pit emulate kraken`: the same core, Kraken's front-end. The first line on stdout is
/// `listening on 127.0.0.1:PORT`; then the key it accepts. The key's secret is Kraken's
/// "private key", base64 (a generated one is printed when none is given).
async fn run_kraken(opts: Options) -> anyhow::Result<()> {
    use crate::venue::exchanges::kraken::api::sign::Signer as KrakenSigner;
    use base64::Engine as _;
    use secrecy::ExposeSecret;
    if opts.ed25519.is_some() {
        anyhow::bail!("pit emulate kraken takes HMAC keys only (--api-key)");
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
    let addr = listener.local_addr()?;
    let (key, secret, note) = match opts.hmac {
        Some((key, secret)) => (key, secret, "secret as given".to_string()),
        None => {
            // A throwaway key for this emulator only: printing it leaks nothing real.
            let key = random_token(32);
            let secret = base64::engine::general_purpose::STANDARD.encode(random_token(48));
            (
                key,
                SecretString::from(secret.clone()),
                format!("secret {secret} (generated for this emulator, base64)"),
            )
        }
    };
    let signer = KrakenSigner::new(&key, secret.expose_secret())
        .map_err(|e| anyhow::anyhow!("Kraken key: {e}"))?;
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(key.clone(), signer);
    let shared = core(
        &opts.balances,
        opts.seed,
        opts.faults.as_deref(),
        opts.clock_offset_ms,
        auth::Keys::default(),
    )?;
    let k = Arc::new(kraken::Kraken::new(shared, keys));
    let mut out = std::io::stdout();
    for l in [
        format!("listening on {addr}"),
        format!("hmac api key {key} {note}"),
        format!(
            "rest http://{addr}  private ws://{addr}/ws-auth/v2  public ws://{addr}/ws/v2  state http://{addr}/emulator/state"
        ),
    ] {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    server::serve_kraken(listener, k).await
}

/// `pit emulate okx`: the same core, OKX's front-end. The first line on stdout is
/// `listening on 127.0.0.1:PORT`; then the key it accepts.
async fn run_okx(opts: Options) -> anyhow::Result<()> {
    use crate::venue::exchanges::okx::api::sign::Signer as OkxSigner;
    use secrecy::ExposeSecret;
    if opts.ed25519.is_some() {
        anyhow::bail!("pit emulate okx takes HMAC keys only (--api-key)");
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
    let addr = listener.local_addr()?;
    let (key, secret, mut note) = match opts.hmac {
        Some((key, secret)) => (key, secret, "secret as given".to_string()),
        None => {
            // A throwaway key for this emulator only: printing it leaks nothing real.
            let key = random_token(32);
            let secret = random_token(32);
            (
                key,
                SecretString::from(secret.clone()),
                format!("secret {secret} (generated for this emulator)"),
            )
        }
    };
    let passphrase = match opts.passphrase {
        Some(p) => {
            note.push_str(", passphrase as given");
            p
        }
        None => {
            let p = random_token(16);
            note.push_str(&format!(", passphrase {p} (generated for this emulator)"));
            SecretString::from(p)
        }
    };
    if passphrase.expose_secret().is_empty() {
        anyhow::bail!("pit emulate okx: the passphrase is empty");
    }
    let signer =
        OkxSigner::new(&key, secret, passphrase).map_err(|e| anyhow::anyhow!("OKX key: {e}"))?;
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(key.clone(), signer);
    // Spot BTC-USDT and ETH-USDT, and the perpetual BTC-USDT-SWAP (see `okx.rs`).
    let mut specs = exchange::default_symbols();
    specs.push(exchange::btc_linear_perpetual(
        okx::SWAP_CT_VAL * okx::SWAP_LOT_SZ,
    ));
    let shared = core_with(
        specs,
        &opts.balances,
        opts.seed,
        opts.faults.as_deref(),
        opts.clock_offset_ms,
        auth::Keys::default(),
    )?;
    let o = Arc::new(okx::Okx::new(shared, keys));
    let mut out = std::io::stdout();
    for l in [
        format!("listening on {addr}"),
        format!("hmac api key {key} {note}"),
        format!(
            "rest http://{addr}  private ws://{addr}/ws/v5/private  state http://{addr}/emulator/state"
        ),
    ] {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    server::serve_okx(listener, o).await
}
