//! `pit`: thin entry point. CLI, config, logging guard, runtime, then the chosen mode.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pit::config::Config;
use pit::pace::Speed;
use pit::runner::RunOptions;
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
    /// Run the engine on the configured venue (the simulated market by default), with the
    /// console unless --headless.
    Run(RunArgs),
    /// PnL report from the store: by day, strategy, instrument, hour and weekday; win
    /// rate, average win and loss, profit factor, drawdown, streaks, fees.
    Report(ReportArgs),
    /// CSV of fills, closed trades or orders from the store, on stdout.
    Export(ExportArgs),
    /// Replay a capture-line file through its venue's decoder and check the book's
    /// integrity (sequence chains, checksums, best bid/ask cross-checks). Exits 1 if any
    /// check failed.
    Verify(VerifyArgs),
    /// Record the market data of a headless run (the simulated market by default) in the
    /// capture-line format.
    Record(RecordArgs),
    /// Replay a recording in the console: paper execution on the recording's clock.
    Replay(ReplayArgs),
    /// Backtest a recording as fast as possible and print a report.
    Backtest(BacktestArgs),
    /// Convert Tardis.dev incremental_book_L2 CSV or hftbacktest `<ts_ns> <json>` lines
    /// into the capture-line format.
    Import(pit::import::ImportArgs),
    /// A running engine's trading state, reason, positions, PnL, open orders, feed and
    /// engine lag (over its control socket).
    Status(control::StatusArgs),
    /// Trip a running engine's kill switch: the gate closes at once, every open order is
    /// cancelled; returns when every target is resolved or --timeout passes.
    Kill(control::KillArgs),
    /// Hold a running engine's strategies' new orders (optionally for a while).
    Pause(control::PauseArgs),
    /// Resume a paused engine.
    Resume(control::ResumeArgs),
    /// Close a running engine's positions (one instrument or all).
    Flatten(control::FlattenArgs),
    /// Leave a halt (needs --yes).
    Rearm(control::RearmArgs),
    /// A local venue emulator (`pit emulate binance`) to rehearse live trading on: the
    /// venue's REST and WebSocket APIs over the simulated market, with fault injection.
    Emulate(emulate::EmulateArgs),
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The capture-line file (`.jsonl`, or `.jsonl.zst`).
    file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RecordArgs {
    /// Stop after this much market time (e.g. 60s, 10m, 1h).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// One file (`.zst` compressed), never rotated; default: rotating files under
    /// `recording.dir`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Market speed: N times real time or max (the simulated market only).
    #[arg(long, default_value = "1", value_name = "N|max")]
    speed: Speed,
    /// Seed of the simulated market.
    #[arg(long)]
    seed: Option<u64>,
    /// At the end print the run's JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Override a config key (dotted), e.g. sim.event_rate=60. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = pit::backtest::sweep::parse_assignment)]
    set: Vec<(String, String)>,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The recording (`.jsonl` or `.jsonl.zst`).
    file: PathBuf,
    /// Replay speed: N times real time (0.25 to 100) or max.
    #[arg(long, default_value = "1", value_name = "N|max")]
    speed: Speed,
    /// Stop after this much market time.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Without the console: status lines on stderr, like `run --headless`.
    #[arg(long)]
    headless: bool,
    /// With --headless: the JSON summary on stdout at the end.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Only trades closed on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<chrono::NaiveDate>,
    /// One JSON object instead of text tables.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[group(id = "what", required = true, multiple = false)]
struct ExportArgs {
    /// Every fill.
    #[arg(long, group = "what")]
    fills: bool,
    /// Every closed trade (round trip).
    #[arg(long, group = "what")]
    trades: bool,
    /// Every order's latest state.
    #[arg(long, group = "what")]
    orders: bool,
    /// Only rows on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<chrono::NaiveDate>,
}

#[derive(Args, Debug)]
struct BacktestArgs {
    /// The recording (`.jsonl` or `.jsonl.zst`).
    file: PathBuf,
    /// Override a config key (dotted), e.g. strategies.market_maker.spread_bps=2. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = pit::backtest::sweep::parse_assignment)]
    set: Vec<(String, String)>,
    /// Run a grid: KEY=a,b,c. Repeatable; all combinations run on every core.
    #[arg(long = "sweep", value_name = "KEY=A,B,...", value_parser = pit::backtest::sweep::parse_sweep)]
    sweep: Vec<(String, Vec<String>)>,
    /// Stop after this much market time (default: where the recorded run stopped, else the
    /// end of the file).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Pace: max (default) or N times real time (for determinism checks).
    #[arg(long, default_value = "max", value_name = "N|max")]
    speed: Speed,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Run without the console: a status line a second on stderr.
    #[arg(long)]
    headless: bool,
    /// Real orders on the venue: needs `[live.<venue>] mode = "live"` in the config too
    /// (testnet unless it says `testnet = false`). Without both: paper on live data.
    #[arg(long)]
    live: bool,
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
    /// Append one line per fill (`run seq symbol side qty`) to this file as soon as the
    /// fill is durable in the store.
    #[arg(long, value_name = "PATH")]
    fills_out: Option<PathBuf>,
    #[arg(long, value_name = "NAME", help = venue_help())]
    venue: Option<String>,
    /// Follow this symbol (venue spelling, e.g. BTCUSDT, BTC/USD, BTC-USDT); repeatable.
    /// Replaces `[[instruments]]` (sizes from it, else the venue's instrument endpoint).
    #[arg(long = "symbol", value_name = "SYM")]
    symbols: Vec<String>,
}

/// `run --venue`'s help: every venue of the registry.
fn venue_help() -> String {
    format!(
        "Market data from this venue ({}); overrides `venue` in the config. Real venues: paper execution",
        pit::config::venues().join(", ")
    )
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration '{s}': {e} (e.g. 60s, 10m, 1h30m)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A file-size limit (`ulimit -f`) must fail a write with an error the store reports
    // (and fails closed on), not kill the process before it can cancel its orders.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
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

/// A started run: the engine's handle, a read handle on its store (for the console's
/// report view), its halt latch, its data folder and its control socket (served until
/// dropped).
struct Started {
    handle: pit::runner::EngineHandle,
    reader: pit::store::StoreReader,
    latch: pit::emergency::latch::HaltLatch,
    dir: PathBuf,
    server: pit::control::server::ControlServer,
}

/// Build the engine for the configured venue, bind its control socket (the store's lock
/// is held first: one run per data folder) and start its thread, with the halt latch and
/// the out-of-band kill paths (SIGUSR1, the `HALT` file) on threads of their own.
fn start_engine(cfg: &Config, args: &RunArgs, publish_every: Duration) -> anyhow::Result<Started> {
    let seed = args.seed.unwrap_or(cfg.seed);
    tracing::info!(seed, venue = %cfg.venue, headless = args.headless, "pit starting");
    let live = pit::setup::live_trading(cfg, args.live)?;
    let mode = match (args.headless, live) {
        (true, false) => "headless".to_string(),
        (false, false) => "console".to_string(),
        (h, true) => format!(
            "{}{}",
            if h { "headless" } else { "console" },
            pit::setup::LIVE_MODE
        ),
    };
    let mut cfg = cfg.clone();
    if live {
        pit::setup::live_market_endpoints(&mut cfg);
    }
    let cfg = &cfg;
    let (parts, persisted) =
        pit::setup::assemble_persisted(cfg, seed, &mode, args.fills_out.clone())?;
    tracing::info!(run = persisted.run, store = %cfg.store.path.display(), "store open");
    let dir = persisted.dir.clone();
    let started = spawn_engine(cfg, args, publish_every, parts, persisted, live);
    if started.is_err() {
        // The engine never traded: this is no crash.
        let _ = pit::emergency::latch::mark_clean_exit(&dir);
    }
    started
}

fn spawn_engine(
    cfg: &Config,
    args: &RunArgs,
    publish_every: Duration,
    parts: pit::setup::Assembled,
    persisted: pit::setup::Persisted,
    live: bool,
) -> anyhow::Result<Started> {
    let (exec, hooks): (Box<dyn pit::venue::ExecutionPort>, _) = if live {
        let (port, hooks) = pit::setup::live_exec(cfg, &persisted, parts.engine.gate().clone())?;
        (port, Some(hooks))
    } else {
        (Box::new(parts.exec), None)
    };
    let reader = persisted.store.reader();
    let dir = persisted.dir;
    let socket = pit::control::server::bind(&pit::control::data_dir(&cfg.store.path))?;
    let market = if cfg.venue == "sim" {
        pit::setup::maybe_record(cfg, parts.market, None, args.run_for)?.0
    } else {
        pit::setup::live_market(cfg)?
    };
    let gate = parts.engine.gate().clone();
    let latch = pit::emergency::latch::HaltLatch::start(&dir, gate.clone())
        .context("cannot start the halt latch writer")?;
    if pit::emergency::halt_file_at_start(&dir, &gate) {
        tracing::warn!("a HALT file is present at start: the gate stays closed");
    }
    let opts = RunOptions {
        speed: args.speed,
        run_for: args.run_for,
        publish_every,
        exit_grace: Duration::from_millis(cfg.kill_switch.exit_grace_ms),
        latch: Some(latch.clone()),
    };
    let handle =
        pit::runner::spawn_with_store(parts.engine, market, exec, opts, Some(persisted.sink))
            .context("cannot start the engine thread")?;
    if let Some(hooks) = hooks {
        let (_, alerts) = handle.pulse();
        let _ = hooks.set(std::sync::Arc::new(pit::setup::EngineHooks {
            alerts,
            killer: handle.killer(),
        }));
    }
    if let Err(e) = pit::emergency::start(&dir, handle.killer(), latch.clone()) {
        handle.shutdown();
        let _ = handle.join();
        anyhow::bail!("cannot start the out-of-band kill paths (SIGUSR1, HALT file): {e}");
    }
    if cfg.kill_switch.engine_stall_ms > 0 {
        let (heartbeat, alerts) = handle.pulse();
        let stall = Duration::from_millis(cfg.kill_switch.engine_stall_ms);
        if let Err(e) = pit::watchdog::start(heartbeat, handle.killer(), alerts, stall) {
            handle.shutdown();
            let _ = handle.join();
            anyhow::bail!("cannot start the engine watchdog: {e}");
        }
    }
    let server = socket.serve(pit::control::server::EngineLink::new(&handle))?;
    tracing::info!(socket = %server.path().display(), "control socket served");
    Ok(Started {
        handle,
        reader,
        latch,
        dir,
        server,
    })
}

/// The very end of an orderly run: the halt latch is on disk, then the clean-exit record.
///
/// A run whose store failed leaves no clean-exit record: even if the halt latch could not
/// be written either, the next run comes up HALTED.
fn end_cleanly(latch: &pit::emergency::latch::HaltLatch, dir: &std::path::Path, clean: bool) {
    if !latch.flush(Duration::from_secs(5)) {
        tracing::error!("the halt latch was not written in time");
    }
    if !clean {
        return;
    }
    if let Err(e) = pit::emergency::latch::mark_clean_exit(dir) {
        tracing::error!(error = %e, "cannot write the clean-exit record");
        eprintln!("pit: cannot write the clean-exit record ({e}): the next run starts HALTED");
    }
}

/// One worker thread is plenty: the engine has its own thread.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The configured theme (honouring NO_COLOR).
fn console_theme(cfg: &Config) -> anyhow::Result<pit::ui::theme::Theme> {
    let no_color = pit::ui::theme::no_color_env();
    let themes_dir = std::path::Path::new(&cfg.console.themes_dir);
    Ok(
        match pit::ui::theme::Theme::load(&cfg.console.theme, themes_dir, no_color) {
            // Run outside the repo: the built-in copy of a shipped theme stands in for its file.
            Err(pit::ui::theme::ThemeError::Read { .. }) if !themes_dir.is_dir() => {
                let t = pit::ui::theme::Theme::builtin(&cfg.console.theme)?;
                if no_color { t.without_color() } else { t }
            }
            other => other?,
        },
    )
}

/// The full-screen console over the engine.
fn run_console(cfg: &Config, args: &RunArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the console needs a terminal; use `pit run --headless` for scripts");
    }
    let theme = console_theme(cfg)?;
    let _log_guard = pit::logging::init(&cfg.log)?;
    let publish_every = Duration::from_secs(1) / cfg.console.fps.clamp(1, 120);
    let Started {
        handle,
        reader,
        latch,
        dir,
        server: _server,
    } = start_engine(cfg, args, publish_every)?;
    let mut app = pit::ui::App::new(&cfg.console, theme, handle.view());
    app.set_price_band_bps(cfg.risk.price_band_bps);
    app.set_mode(if cfg.venue == "sim" {
        pit::app::Mode::Sim
    } else {
        pit::app::Mode::Paper
    });
    let opts = pit::console::ConsoleOptions {
        fps: cfg.console.fps,
        store: Some(reader),
        on_hangup: cfg.console.on_hangup,
    };
    let end = runtime()?.block_on(pit::console::run_with(handle, app, opts))?;
    end_cleanly(&latch, &dir, end.result.store_failed.is_none());
    let result = &end.result;
    let s = &result.summary;
    let line = format!(
        "pit stopped: {} | orders {} | fills {} | blocked at the gate {} | open orders left {} | fill log {}",
        s.trading_state,
        s.orders,
        s.fills,
        result.exec.orders_blocked,
        result.open_orders_left,
        &s.fill_log_sha256[..16]
    );
    tracing::info!(fills = s.fills, hash = %s.fill_log_sha256, "pit stopped");
    // Only to a terminal that is there and read: one that hung up or stalled would fail
    // or block this write.
    if end.terminal_restored {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    Ok(store_failed_exit(result).unwrap_or(ExitCode::SUCCESS))
}

/// Exit code 3 when the store failed during the run, with the last line saying so.
fn store_failed_exit(result: &pit::runner::RunResult) -> Option<ExitCode> {
    let err = result.store_failed.as_ref()?;
    tracing::error!(error = %err, "pit stopped: STORE FAILED");
    eprintln!(
        "pit: STORE FAILED: {err}; trading stopped at the failure (gate closed, open orders cancelled); the store holds only what was committed before it, and the next run starts HALTED"
    );
    Some(ExitCode::from(3))
}

/// `pit verify`: exit 0 when every integrity check passed, 1 when one failed.
fn run_verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = pit::venue::verify::verify_file(&args.file)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let args = match cli.command {
        Some(Cmd::Run(args)) => args,
        Some(Cmd::Verify(v)) => return run_verify(&v),
        Some(Cmd::Report(r)) => {
            let cfg = load_config(cli.config.as_ref())?;
            let store = pit::store::Store::open(&cfg.store.path)?;
            let report = pit::store::guard(&cfg.store.path, || {
                pit::store::report::Report::build(&store, r.since)
            })?;
            if r.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Export(x)) => {
            let cfg = load_config(cli.config.as_ref())?;
            let store = pit::store::Store::open(&cfg.store.path)?;
            let what = if x.fills {
                pit::store::export::What::Fills
            } else if x.trades {
                pit::store::export::What::Trades
            } else {
                pit::store::export::What::Orders
            };
            let stdout = std::io::stdout();
            pit::store::guard(&cfg.store.path, || {
                pit::store::export::write_csv(&store, what, x.since, &mut stdout.lock())
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Record(a)) => return commands::record(cli.config.as_ref(), a),
        Some(Cmd::Replay(a)) => return commands::replay(cli.config.as_ref(), a),
        Some(Cmd::Backtest(a)) => return commands::backtest(cli.config.as_ref(), a),
        Some(Cmd::Import(a)) => return pit::import::run(&a).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Status(a)) => return control::status(cli.config.as_ref(), a),
        Some(Cmd::Kill(a)) => return control::kill(cli.config.as_ref(), a),
        Some(Cmd::Pause(a)) => return control::pause(cli.config.as_ref(), a),
        Some(Cmd::Resume(a)) => return control::resume(cli.config.as_ref(), a),
        Some(Cmd::Flatten(a)) => return control::flatten(cli.config.as_ref(), a),
        Some(Cmd::Rearm(a)) => return control::rearm(cli.config.as_ref(), a),
        Some(Cmd::Emulate(a)) => return emulate::emulate(a),
        // Plain `pit` opens the console on the configured venue.
        None => RunArgs {
            headless: false,
            live: false,
            run_for: None,
            speed: Speed::Times(1.0),
            seed: None,
            json: false,
            fills_out: None,
            venue: None,
            symbols: Vec::new(),
        },
    };
    let mut cfg = load_config(cli.config.as_ref())?;
    if args.venue.is_some() || !args.symbols.is_empty() {
        for w in pit::setup::select_live(&mut cfg, args.venue.as_deref(), &args.symbols)? {
            eprintln!("pit: {w}");
        }
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("--venue/--symbol: {e}"))?;
    }
    let cfg = cfg;
    if !args.headless {
        return run_console(&cfg, &args);
    }
    let _log_guard = pit::logging::init(&cfg.log)?;
    let started = start_engine(&cfg, &args, Duration::from_millis(100))?;
    let result = runtime()?.block_on(pit::headless::supervise(started.handle))?;
    end_cleanly(&started.latch, &started.dir, result.store_failed.is_none());
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
    Ok(store_failed_exit(&result).unwrap_or(ExitCode::SUCCESS))
}

/// `pit record`, `pit replay`, `pit backtest`.
#[path = "cli/commands.rs"]
mod commands;

/// `pit status`, `pit kill`, `pit pause`, `pit resume`, `pit flatten`, `pit rearm`.
#[path = "cli/control.rs"]
mod control;

/// `pit emulate`.
#[path = "cli/emulate.rs"]
mod emulate;
