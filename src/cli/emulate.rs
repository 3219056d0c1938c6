//! `pit emulate binance|bybit|okx|kraken`: the command line of the venue emulator (`pit::emulate`).

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum EmulatedVenue {
    /// Binance spot.
    Binance,
    /// Bybit v5, category spot, with disconnection protection (DCP).
    Bybit,
    /// OKX v5, instType SPOT, trade mode cash, with Cancel All After.
    Okx,
    /// Kraken spot, REST and WebSocket v2, with CancelAllOrdersAfter.
    Kraken,
}

#[derive(Args, Debug)]
pub struct EmulateArgs {
    /// The venue to emulate.
    venue: EmulatedVenue,
    /// Port on 127.0.0.1 (0: any free port). The first line on stdout says which.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Faults to inject, e.g. `lose-response=1,429=2,slow=500ms` (also at run time:
    /// POST the same text to /emulator/faults).
    #[arg(long, value_name = "SPEC")]
    faults: Option<String>,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Starting balances (default USDT=100000,BTC=1,ETH=10).
    #[arg(long, value_name = "ASSET=AMOUNT,...")]
    balances: Option<String>,
    /// The HMAC API key to accept; its secret is read from the environment variable
    /// PIT_EMULATE_SECRET (never from the command line). Without it a throwaway key is
    /// generated and printed. OKX: the key's passphrase is read from
    /// PIT_EMULATE_PASSPHRASE (else one is generated and printed).
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// An Ed25519 API key to accept, with --ed25519-public-key.
    #[arg(long, value_name = "KEY", requires = "ed25519_public_key")]
    ed25519_api_key: Option<String>,
    /// The Ed25519 public key (PEM, `-----BEGIN PUBLIC KEY-----`) of --ed25519-api-key.
    #[arg(long, value_name = "FILE", requires = "ed25519_api_key")]
    ed25519_public_key: Option<PathBuf>,
    /// Shift the emulator's clock by this many milliseconds (rehearse clock skew: -1021).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_offset_ms: i64,
}

pub fn emulate(a: EmulateArgs) -> anyhow::Result<ExitCode> {
    let venue = match a.venue {
        EmulatedVenue::Binance => pit::emulate::Venue::Binance,
        EmulatedVenue::Bybit => pit::emulate::Venue::Bybit,
        EmulatedVenue::Okx => pit::emulate::Venue::Okx,
        EmulatedVenue::Kraken => pit::emulate::Venue::Kraken,
    };
    // OKX's third key part, from the environment only (never the command line).
    let passphrase = std::env::var("PIT_EMULATE_PASSPHRASE")
        .ok()
        .map(SecretString::from);
    let balances = match &a.balances {
        Some(s) => {
            pit::emulate::parse_balances(s).map_err(|e| anyhow::anyhow!("--balances: {e}"))?
        }
        None => pit::emulate::default_balances(),
    };
    let hmac = match a.api_key {
        Some(key) => {
            let secret = std::env::var("PIT_EMULATE_SECRET").map_err(|_| {
                anyhow::anyhow!(
                    "--api-key needs its secret in the environment variable PIT_EMULATE_SECRET"
                )
            })?;
            Some((key, SecretString::from(secret)))
        }
        None => None,
    };
    let ed25519 = match (a.ed25519_api_key, a.ed25519_public_key) {
        (Some(key), Some(path)) => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("--ed25519-public-key {}: {e}", path.display()))?;
            Some((key, pem))
        }
        _ => None,
    };
    let opts = pit::emulate::Options {
        venue,
        port: a.port,
        seed: a.seed,
        faults: a.faults,
        balances,
        hmac,
        ed25519,
        clock_offset_ms: a.clock_offset_ms,
        passphrase,
    };
    let _log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(pit::emulate::run(opts))?;
    Ok(ExitCode::SUCCESS)
}
