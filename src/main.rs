//! `pit`: thin entry point. CLI, config, logging guard, runtime, then the chosen mode.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pit::config::Config;
use pit::domain::TradingState;
use pit::runner::{RunOptions, Speed};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "pit",
    version,
    about = "A terminal trading console and its trading engine"
)]
struct Cli {
    /// Config file. Default: ./config.toml if present, else built-in defaults.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the engine on the configured venue (the simulated market by default).
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Run without the console: a status line a second on stderr.
    #[arg(long)]
    headless: bool,
    /// Stop after this much market time on the engine's clock (e.g. 60s, 10m, 1h).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Market speed: N times real time (1, 10, 0.5) or max.
    #[arg(long, default_value = "1", value_name = "N|max")]
    speed: Speed,
    /// Seed of the simulated market (overrides `seed` in the config).
    #[arg(long)]
    seed: Option<u64>,
    /// At the end print one JSON object with the run's figures on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration '{s}': {e} (e.g. 60s, 10m, 1h30m)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => {
            let default = PathBuf::from("config.toml");
            if default.exists() {
                Ok(Config::load(&default)?)
            } else {
                Ok(Config::default())
            }
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let Some(Cmd::Run(args)) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        println!("\n\nThe console is not built yet: try `pit run --headless --for 60s`.");
        return Ok(ExitCode::SUCCESS);
    };
    if !args.headless {
        anyhow::bail!("the console is not built yet: use `pit run --headless`");
    }
    let cfg = load_config(cli.config.as_ref())?;
    let _log_guard = pit::logging::init(&cfg.log)?;
    let seed = args.seed.unwrap_or(cfg.seed);
    tracing::info!(seed, venue = %cfg.venue, "pit starting headless");
    let parts = pit::setup::assemble(&cfg, seed, TradingState::Active)?;
    let opts = RunOptions {
        speed: args.speed,
        run_for: args.run_for,
        publish_every: Duration::from_millis(100),
        exit_grace: Duration::from_millis(cfg.kill_switch.exit_grace_ms),
    };
    let handle = pit::runner::spawn(
        parts.engine,
        Box::new(parts.market),
        Box::new(parts.exec),
        opts,
    )
    .context("cannot start the engine thread")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(pit::headless::supervise(handle))?;
    tracing::info!(fills = result.summary.fills, hash = %result.summary.fill_log_sha256, "pit stopped");
    if args.json {
        println!("{}", pit::headless::summary_json(&result));
    }
    if result.open_orders_left > 0 {
        eprintln!(
            "warning: {} orders were still open at exit (cancels not confirmed in time)",
            result.open_orders_left
        );
    }
    Ok(ExitCode::SUCCESS)
}
