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
    about = "A terminal trading console and its trading engine",
    after_help = "`pit help COMMAND` or `pit COMMAND --help` for examples; -h for a summary.",
    after_long_help = "\
Examples:
  pit                                   # the console on the simulated market
  pit run --headless --for 1h --speed max --json
  pit backtest recordings/demo-sim-3m.jsonl.zst
  pit kill --reason \"desk says stop\"     # from another shell
  pit config path                       # which config, which data folder, and why

Config: --config PATH, else $PIT_CONFIG, else ./config.toml, else
$XDG_CONFIG_HOME/pit/config.toml, else built-in defaults (data in $XDG_DATA_HOME/pit).
Relative folders in a config are relative to the config file.

Exit codes: 0 ok; 1 a check failed or a request was refused or timed out; 2 usage,
config or no engine; 3 the store failed; 4 a headless run ended HALTED; 5 a thread
panicked (trading was stopped)."
)]
struct Cli {
    /// Config file. Default: $PIT_CONFIG, else ./config.toml, else the user config folder
    /// ($XDG_CONFIG_HOME/pit/config.toml), else built-in defaults (`pit config path`).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// No progress bars or spinners on stderr (they are also hidden when stderr is not a
    /// terminal).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the engine on the configured venue (the simulated market by default), with the
    /// console unless --headless.
    #[command(after_long_help = "\
Examples:
  pit run                                          # the console on the simulated market
  pit run --headless --for 1h --speed max --json   # an hour of market time, as fast as it goes
  pit run --venue binance --symbol BTCUSDT         # live Binance data, paper execution

Exit codes (headless): 0 ended trading, 2 usage or config error, 3 the store failed,
4 the run ended HALTED (kill switch, risk limit, HALT file, or restarted halted),
5 a thread panicked (the gate was closed and the run stopped in order).")]
    Run(RunArgs),
    /// PnL report from the store: by day, strategy, instrument, hour and weekday; win
    /// rate, average win and loss, profit factor, drawdown, streaks, fees.
    #[command(after_long_help = "\
Examples:
  pit report
  pit report --since 2026-01-01 --json | jq .by_strategy")]
    Report(ReportArgs),
    /// CSV of fills, closed trades or orders from the store, on stdout.
    #[command(after_long_help = "\
Examples:
  pit export --fills > fills.csv
  pit export --trades --since 2026-01-01")]
    Export(ExportArgs),
    /// Maintenance of the store: compact (not while a run holds it), backup (any time).
    #[command(
        subcommand,
        after_long_help = "\
Examples:
  pit store compact
  pit store backup /backups/pit-$(date +%F).redb

The store is `store.path` of the config (`pit config path` shows it)."
    )]
    Store(StoreCmd),
    /// Replay a capture-line file through its venue's decoder and check the book's
    /// integrity (sequence chains, checksums, best bid/ask cross-checks). Exits 1 if any
    /// check failed.
    #[command(after_long_help = "\
Examples:
  pit verify recordings/sim-2026-01-01T00-00.jsonl.zst
  pit verify capture.jsonl --json | jq .instruments")]
    Verify(VerifyArgs),
    /// Record the market data of a headless run (the simulated market by default) in the
    /// capture-line format.
    #[command(after_long_help = "\
Examples:
  pit record --for 60s --speed max --out rec.jsonl.zst
  pit record --for 3m --speed max --set sim.event_rate=60 --json")]
    Record(RecordArgs),
    /// Replay a recording in the console: paper execution on the recording's clock.
    #[command(after_long_help = "\
Examples:
  pit replay recordings/demo-sim-3m.jsonl.zst --speed 10
  pit replay rec.jsonl.zst --headless --speed max --json")]
    Replay(ReplayArgs),
    /// Backtest a recording as fast as possible and print a report.
    #[command(after_long_help = "\
Examples:
  pit backtest recordings/demo-sim-3m.jsonl.zst
  pit backtest rec.jsonl.zst --set strategies.market_maker.spread_bps=2 --json
  pit backtest rec.jsonl.zst --sweep strategies.market_maker.spread_bps=1,2,4 --quiet")]
    Backtest(BacktestArgs),
    /// Compile a recording to a binary file of its decoded market events, which `pit
    /// backtest` and `pit replay` read in place of the recording, much faster (the same
    /// fills: the events are the ones a replay of the recording decodes, with this config's
    /// [[instruments]] and [book]).
    #[command(after_long_help = "\
Examples:
  pit compile ../shared/captures/binance-spot-btcusdt-2024-08-08.jsonl --out binance.pitev
  pit backtest binance.pitev

The file is recognised by its first bytes, whatever its name. It is refused, saying to
compile again, when the config's [[instruments]] or [book] differ from those it was compiled
with, or when it was written in another format version.")]
    Compile(CompileArgs),
    /// Convert Tardis.dev incremental_book_L2 CSV or hftbacktest `<ts_ns> <json>` lines
    /// into the capture-line format.
    #[command(after_long_help = "\
Examples:
  pit import --format tardis book.csv --out book.jsonl.zst --tick 0.1 --lot 0.001
  pit import --format hftbacktest --venue binance lines.txt --out cap.jsonl")]
    Import(pit::import::ImportArgs),
    /// A running engine's trading state, reason, positions, PnL, open orders, feed and
    /// engine lag (over its control socket).
    #[command(after_long_help = "\
Examples:
  pit status
  pit status --json | jq .trading_state

Exit codes: 0 done, 1 refused or timed out, 2 usage error or no engine running.")]
    Status(control::StatusArgs),
    /// Trip a running engine's kill switch: the gate closes at once, every open order is
    /// cancelled; returns when every target is resolved or --timeout passes.
    #[command(after_long_help = "\
Examples:
  pit kill --reason \"desk says stop\"
  pit kill --timeout 30s --json

Exit codes: 0 every target resolved, 1 timed out, 2 usage error or no engine running.")]
    Kill(control::KillArgs),
    /// Hold a running engine's strategies' new orders (optionally for a while).
    #[command(after_long_help = "\
Examples:
  pit pause --for 5m --reason \"CPI print\"")]
    Pause(control::PauseArgs),
    /// Resume a paused engine.
    #[command(after_long_help = "\
Examples:
  pit resume")]
    Resume(control::ResumeArgs),
    /// Close a running engine's positions (one instrument or all).
    #[command(after_long_help = "\
Examples:
  pit flatten
  pit flatten --instrument BTC-USD")]
    Flatten(control::FlattenArgs),
    /// Leave a halt (needs --yes).
    #[command(after_long_help = "\
Examples:
  pit rearm --yes")]
    Rearm(control::RearmArgs),
    /// Which config file pit uses and why (`path`); write a commented one (`init`).
    #[command(after_long_help = "\
Examples:
  pit config path
  pit config init")]
    Config(toolbox::ConfigArgs),
    /// Shell completions on stdout: bash, zsh, fish, elvish or powershell.
    #[command(after_long_help = "\
Examples:
  pit completions bash > ~/.local/share/bash-completion/completions/pit
  pit completions zsh > ~/.zfunc/_pit          # with fpath+=~/.zfunc in ~/.zshrc
  pit completions fish > ~/.config/fish/completions/pit.fish")]
    Completions(toolbox::CompletionsArgs),
    /// The man page (roff) on stdout: `pit man | man -l -`.
    #[command(after_long_help = "\
Examples:
  pit man | man -l -
  pit man kill | man -l -
  pit man > ~/.local/share/man/man1/pit.1")]
    Man(toolbox::ManArgs),
    /// A local venue emulator (`pit emulate binance`) to rehearse live trading on: the
    /// venue's REST and WebSocket APIs over the simulated market, with fault injection.
    #[command(after_long_help = "\
Examples:
  pit emulate binance --port 9100
  pit emulate binance --faults lose-response=1,429=2,slow=500ms")]
    Emulate(emulate::EmulateArgs),
    /// Compare the store (open orders, fills, positions) with the live venue (open orders,
    /// trades, balances) and print the differences. Not while a run holds the store.
    #[command(after_long_help = "\
Examples:
  pit reconcile
  pit reconcile --json | jq .differences

Exit codes: 0 they agree, 1 they differ, 2 usage or config error, no live venue
configured, the store held by a run, or the venue cannot be read.")]
    Reconcile(reconcile::ReconcileArgs),
    /// The full console on a running engine, over its control socket (--view: read-only;
    /// --ssh HOST: on another box). q detaches; the engine goes on.
    #[command(after_long_help = "\
Examples:
  pit attach                             # the engine this config's data folder serves
  pit attach --view                      # read-only: the engine refuses its commands
  pit attach --dir /srv/pit              # the engine started in /srv/pit
  pit attach --ssh trader@box --dir /srv/pit

Exit codes: 0 detached; 1 the link to the engine was lost or failed; 2 usage error or no
engine running.")]
    Attach(control::AttachArgs),
    /// Standard input and output bridged to a running engine's control socket (what
    /// `pit attach --ssh` runs on the other box).
    #[command(after_long_help = "\
Examples:
  ssh -T trader@box 'pit control-proxy --dir /srv/pit'   # what pit attach --ssh runs")]
    ControlProxy(control::ProxyArgs),
}

#[derive(Subcommand, Debug)]
enum StoreCmd {
    /// Give the database file's free pages back to the file system (not while a run
    /// holds the store).
    #[command(after_long_help = "\
Examples:
  pit store compact
  pit --config /srv/pit/config.toml store compact")]
    Compact,
    /// Write a verified, consistent copy of the store to PATH, also while a run uses it
    /// (the running engine copies it from a read snapshot). Never overwrites a file.
    #[command(after_long_help = "\
Examples:
  pit store backup /backups/pit-$(date +%F).redb
  pit store backup copy.redb --json")]
    Backup {
        /// Where the copy goes (must not exist yet).
        path: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
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
struct CompileArgs {
    /// The recording (`.jsonl` or `.jsonl.zst`).
    file: PathBuf,
    /// The compiled file (default: the recording's name without `.jsonl`/`.zst`, plus
    /// `.pitev`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The recording (`.jsonl` or `.jsonl.zst`, or a file of `pit compile`).
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
    /// The recording (`.jsonl` or `.jsonl.zst`, or a file of `pit compile`).
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
    // First: a panic on any thread closes the gate and is logged with its place.
    pit::panics::install();
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
            eprintln!("pit: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each said once: a message that already carries
/// its cause's text (`cannot read X: No such file or directory`) does not repeat it.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if text.contains(&msg) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&msg);
    }
    text
}

/// Write a command's output to stdout. A reader that went away (`pit export --fills |
/// head`) ends the output quietly: it is no error.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// The config found by `--config`, `PIT_CONFIG`, `./config.toml`, the user config folder
/// or the built-in defaults, its folders made relative to it (`pit::paths`).
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(pit::paths::load(&locate(path))?)
}

fn locate(path: Option<&PathBuf>) -> pit::paths::Located {
    pit::paths::locate(path.map(PathBuf::as_path), &pit::paths::Env::from_process())
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
    /// `/metrics`, when `[metrics] listen` is set (served until dropped).
    metrics: Option<pit::metrics::MetricsServer>,
    /// `[notify]`'s delivery thread, when on (delivers what is queued when dropped).
    notifier: Option<pit::notify::Notifier>,
    /// What the run is connected to, as the status bar's first word says it.
    mode: pit::app::Mode,
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
    let (mut parts, persisted) =
        pit::setup::assemble_persisted(cfg, seed, &mode, args.fills_out.clone())?;
    if live {
        // No order leaves before the venue's filters are known (fail closed).
        parts.engine.await_venue_rules(&cfg.venue);
    }
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
    let (exec, hooks, reconcile): (Box<dyn pit::venue::ExecutionPort>, _, _) = if live {
        let (port, hooks, reconcile) =
            pit::setup::live_exec(cfg, &persisted, parts.engine.gate().clone())?;
        (port, Some(hooks), Some(reconcile))
    } else {
        (Box::new(parts.exec), None, None)
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
    pit::panics::watch_gate(gate.clone());
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
    let (notifier, observer) = match pit::notify::Notifier::start(&cfg.notify)
        .context("cannot start the notification thread")?
    {
        Some((n, o)) => (
            Some(n),
            Some(Box::new(o) as Box<dyn pit::runner::RunObserver>),
        ),
        None => (None, None),
    };
    let handle = pit::runner::spawn_observed(
        parts.engine,
        market,
        exec,
        opts,
        Some(persisted.sink),
        observer,
    )
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
    // Real orders say LIVE first (the network, TESTNET or DEMO or LIVE, follows), never
    // PAPER.
    let mode = if live {
        pit::app::Mode::Live
    } else if cfg.venue == "sim" {
        pit::app::Mode::Sim
    } else {
        pit::app::Mode::Paper
    };
    let mut link = pit::control::server::EngineLink::new(&handle)
        .with_mode(mode.as_str())
        .with_store(reader.clone());
    if let Some(r) = reconcile {
        link = link.with_reconcile(r);
    }
    let server = socket.serve(link)?;
    tracing::info!(socket = %server.path().display(), "control socket served");
    let metrics = match serve_metrics(cfg, &handle) {
        Ok(m) => m,
        Err(e) => {
            handle.shutdown();
            let _ = handle.join();
            return Err(e.into());
        }
    };
    Ok(Started {
        handle,
        reader,
        latch,
        dir,
        server,
        metrics,
        notifier,
        mode,
    })
}

/// `/metrics` from the view the control socket serves, when `[metrics] listen` is set.
fn serve_metrics(
    cfg: &Config,
    handle: &pit::runner::EngineHandle,
) -> Result<Option<pit::metrics::MetricsServer>, pit::metrics::MetricsError> {
    if cfg.metrics.listen.is_empty() {
        return Ok(None);
    }
    let run = pit::metrics::RunLabels {
        venue: cfg.venue.clone(),
        execution: cfg.execution.clone(),
    };
    let m = pit::metrics::serve(&cfg.metrics.listen, handle.subscribe(), run)?;
    tracing::info!(addr = %m.addr(), "metrics served on /metrics");
    Ok(Some(m))
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

/// The configured theme (honouring NO_COLOR). A theme that cannot be found is a mistake
/// of the config: it names the config file, the line and `console.theme`.
fn console_theme(cfg: &Config, config: Option<&PathBuf>) -> anyhow::Result<pit::ui::theme::Theme> {
    use pit::ui::theme::{Theme, ThemeError};
    let no_color = pit::ui::theme::no_color_env();
    let themes_dir = std::path::Path::new(&cfg.console.themes_dir);
    let theme = match Theme::load(&cfg.console.theme, themes_dir, no_color) {
        // Run outside the repo: the built-in copy of a shipped theme stands in for its file.
        Err(ThemeError::Read { .. }) if !themes_dir.is_dir() => {
            Theme::builtin(&cfg.console.theme).map(|t| if no_color { t.without_color() } else { t })
        }
        other => other,
    };
    match (theme, config_path(config)) {
        (Ok(t), _) => Ok(t),
        (Err(e @ (ThemeError::Read { .. } | ThemeError::UnknownBuiltin(_))), Some(path)) => {
            Err(pit::config::ConfigError::at_key(&path, "console.theme", e.to_string()).into())
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// The config file in use: `--config`, else `./config.toml` when present (else none: the
/// built-in defaults).
fn config_path(config: Option<&PathBuf>) -> Option<PathBuf> {
    match config {
        Some(p) => Some(p.clone()),
        None => {
            let p = PathBuf::from("config.toml");
            p.exists().then_some(p)
        }
    }
}

/// The full-screen console over the engine.
/// Start-up warnings as WARN alerts (source `setup`), shown on the console and stored.
fn raise_warnings(handle: &pit::runner::EngineHandle, warnings: &[String]) {
    for w in warnings {
        let text = w.strip_prefix("warning: ").unwrap_or(w);
        handle.alert(pit::engine::AlertLevel::Warn, "setup", text.to_string());
    }
}

fn run_console(
    cfg: &Config,
    args: &RunArgs,
    config: Option<&PathBuf>,
    warnings: &[String],
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    // The theme is part of the config: a missing one is refused before anything else.
    let theme = console_theme(cfg, config)?;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the console needs a terminal; use `pit run --headless` for scripts");
    }
    let _log_guard = pit::logging::init(&cfg.log)?;
    // The file as the run read it, taken before the engine starts (a live start takes
    // seconds: an edit saved meanwhile would look like the run's own text to `w`).
    let config_file = if args.venue.is_some() || !args.symbols.is_empty() {
        Err("w is off in a run started with --venue or --symbol: it would write that run's instruments and symbols into the file".into())
    } else {
        match locate(config).file {
            Some(path) => pit::config_write::Target::read(&path),
            None => Err("this run uses the built-in defaults, no config file: `pit config init` writes one to edit".into()),
        }
    };
    let publish_every = Duration::from_secs(1) / cfg.console.fps.clamp(1, 120);
    let Started {
        handle,
        reader,
        latch,
        dir,
        server: _server,
        metrics: _metrics,
        notifier: _notifier,
        mode,
    } = start_engine(cfg, args, publish_every)?;
    raise_warnings(&handle, warnings);
    let mut app = pit::ui::App::new(&cfg.console, theme, handle.view());
    app.set_risk_limits(&cfg.risk);
    app.set_mode(mode);
    let opts = pit::console::ConsoleOptions {
        fps: cfg.console.fps,
        store: Some(reader),
        on_hangup: cfg.console.on_hangup,
        config_file,
    };
    let end = runtime()?.block_on(pit::console::run_with(handle, app, opts))?;
    let clean = end.result.store_failed.is_none() && pit::panics::first().is_none();
    end_cleanly(&latch, &dir, clean);
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
    Ok(store_failed_exit(result)
        .or_else(panicked_exit)
        .unwrap_or(ExitCode::SUCCESS))
}

/// Exit code 5 when a thread panicked during the run (the run was stopped in order
/// from there), with the place it panicked on the last line.
fn panicked_exit() -> Option<ExitCode> {
    let p = pit::panics::first()?;
    tracing::error!("pit stopped: {p}");
    eprintln!(
        "pit: PANICKED: {p}; trading stopped (gate closed, open orders cancelled as configured); the next run starts HALTED"
    );
    Some(ExitCode::from(5))
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
    if pit::venue::feed::compiled::is_compiled(&args.file).unwrap_or(false) {
        anyhow::bail!(
            "{}: a file of `pit compile` (decoded events, no frames to check): verify the recording it was compiled from",
            args.file.display()
        );
    }
    let bar = pit::progress::bytes(0, "verify");
    let report = pit::venue::verify::verify_file_with(&args.file, &bar)?;
    bar.finish_and_clear();
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
    pit::progress::set_quiet(cli.quiet);
    let args = match cli.command {
        Some(Cmd::Run(args)) => args,
        Some(Cmd::Verify(v)) => return run_verify(&v),
        Some(Cmd::Report(r)) => {
            let cfg = load_config(cli.config.as_ref())?;
            let store = pit::store::Store::open_existing(&cfg.store.path)?;
            let bar = pit::progress::spinner("report: reading the store");
            let report = pit::store::guard(&cfg.store.path, || {
                pit::store::report::Report::build(&store, r.since)
            });
            bar.finish_and_clear();
            let report = report?;
            if r.json {
                print_out(&format!("{}\n", report.to_json()))?;
            } else {
                print_out(&report.to_text())?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Export(x)) => {
            let cfg = load_config(cli.config.as_ref())?;
            let store = pit::store::Store::open_existing(&cfg.store.path)?;
            let what = if x.fills {
                pit::store::export::What::Fills
            } else if x.trades {
                pit::store::export::What::Trades
            } else {
                pit::store::export::What::Orders
            };
            let stdout = std::io::stdout();
            let bar = pit::progress::spinner("export: reading the store");
            let done = pit::store::guard(&cfg.store.path, || {
                pit::store::export::write_csv(&store, what, x.since, &mut stdout.lock())
            });
            bar.finish_and_clear();
            done?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Store(StoreCmd::Compact)) => {
            let cfg = load_config(cli.config.as_ref())?;
            let path = &cfg.store.path;
            let before = std::fs::metadata(path).map_or(0, |m| m.len());
            let store = pit::store::Store::open_existing(path)?;
            let bar = pit::progress::spinner(&format!("compacting {}", path.display()));
            let done = store.compact();
            // On a terminal the finished line stays (`✓ compacting PATH 2s`).
            if done.is_ok() {
                bar.finish();
            } else {
                bar.finish_and_clear();
            }
            done?;
            let after = std::fs::metadata(path).map_or(0, |m| m.len());
            println!("compacted {}: {before} -> {after} bytes", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Store(StoreCmd::Backup { path: dest, json })) => {
            let cfg = load_config(cli.config.as_ref())?;
            let dest = std::path::absolute(&dest)
                .with_context(|| format!("backup path {}", dest.display()))?;
            match pit::store::Store::open_existing(&cfg.store.path) {
                Ok(store) => {
                    let bar = pit::progress::rows(0, "backup");
                    let s = pit::store::guard(&cfg.store.path, || store.backup_with(&dest, &bar));
                    // On a terminal the finished bar stays: rows, rate, time.
                    if s.is_ok() {
                        bar.finish();
                    } else {
                        bar.finish_and_clear();
                    }
                    let s = s?;
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"outcome": "ok", "text": s.line(&cfg.store.path), "path": s.path, "tables": s.tables, "rows": s.rows, "bytes": s.bytes})
                        );
                    } else {
                        println!("{}", s.line(&cfg.store.path));
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                // A run holds it: ask that run for the copy.
                Err(pit::store::StoreError::Locked { .. }) => {
                    return control::store_backup_running(cli.config.as_ref(), dest, json);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(Cmd::Record(a)) => return commands::record(cli.config.as_ref(), a),
        Some(Cmd::Replay(a)) => return commands::replay(cli.config.as_ref(), a),
        Some(Cmd::Backtest(a)) => return commands::backtest(cli.config.as_ref(), a),
        Some(Cmd::Compile(a)) => return commands::compile(cli.config.as_ref(), a),
        Some(Cmd::Import(a)) => return pit::import::run(&a).map(|()| ExitCode::SUCCESS),
        Some(Cmd::Status(a)) => return control::status(cli.config.as_ref(), a),
        Some(Cmd::Kill(a)) => return control::kill(cli.config.as_ref(), a),
        Some(Cmd::Pause(a)) => return control::pause(cli.config.as_ref(), a),
        Some(Cmd::Resume(a)) => return control::resume(cli.config.as_ref(), a),
        Some(Cmd::Flatten(a)) => return control::flatten(cli.config.as_ref(), a),
        Some(Cmd::Rearm(a)) => return control::rearm(cli.config.as_ref(), a),
        Some(Cmd::Config(a)) => return toolbox::config(cli.config.as_ref(), a),
        Some(Cmd::Completions(a)) => return toolbox::completions(a),
        Some(Cmd::Man(a)) => return toolbox::man(a),
        Some(Cmd::Emulate(a)) => return emulate::emulate(a),
        Some(Cmd::Reconcile(a)) => return reconcile::reconcile(cli.config.as_ref(), a),
        Some(Cmd::Attach(a)) => return control::attach(cli.config.as_ref(), a),
        Some(Cmd::ControlProxy(a)) => return control::control_proxy(cli.config.as_ref(), a),
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
    // Start-up warnings: printed, and raised as alerts once the engine runs (a console's
    // alternate screen hides what was printed).
    let mut warnings = Vec::new();
    if args.venue.is_some() || !args.symbols.is_empty() {
        warnings = pit::setup::select_live(&mut cfg, args.venue.as_deref(), &args.symbols)?;
        for w in &warnings {
            eprintln!("pit: {w}");
        }
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("--venue/--symbol: {e}"))?;
    }
    let cfg = cfg;
    for w in cfg.warnings() {
        eprintln!("pit: {w}");
        warnings.push(w);
    }
    // Real money on a venue pit has rehearsed only: said where the trader looks.
    if args.live
        && let Some(w) = pit::setup::real_money_note(&cfg)
    {
        eprintln!("pit: warning: {w}");
        warnings.push(w);
    }
    if !args.headless {
        return run_console(&cfg, &args, cli.config.as_ref(), &warnings);
    }
    let _log_guard = pit::logging::init(&cfg.log)?;
    // Views at the console's frame rate: `pit attach` draws from them.
    let publish_every = Duration::from_secs(1) / cfg.console.fps.clamp(1, 120);
    let started = start_engine(&cfg, &args, publish_every)?;
    raise_warnings(&started.handle, &warnings);
    let result = runtime()?.block_on(pit::headless::supervise(started.handle))?;
    let clean = result.store_failed.is_none() && pit::panics::first().is_none();
    end_cleanly(&started.latch, &started.dir, clean);
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
    Ok(store_failed_exit(&result)
        .or_else(panicked_exit)
        .or_else(|| halted_exit(&result))
        .unwrap_or(ExitCode::SUCCESS))
}

/// Exit code 4 when a headless run ended HALTED (a script can tell a run that traded to
/// its end from one that was stopped by the kill switch, a risk limit or a HALT file).
fn halted_exit(result: &pit::runner::RunResult) -> Option<ExitCode> {
    if result.summary.trading_state != pit::domain::TradingState::Halted {
        return None;
    }
    eprintln!(
        "pit: the run ended HALTED ({}); exit code 4",
        result.summary.halt_reason.as_deref().unwrap_or("no reason")
    );
    Some(ExitCode::from(HALTED_EXIT))
}

/// The exit code of a headless run that ended HALTED.
const HALTED_EXIT: u8 = 4;

/// `pit record`, `pit replay`, `pit backtest`.
#[path = "cli/commands.rs"]
mod commands;

/// `pit status`, `pit kill`, `pit pause`, `pit resume`, `pit flatten`, `pit rearm`.
#[path = "cli/control.rs"]
mod control;

/// `pit emulate`.
#[path = "cli/emulate.rs"]
mod emulate;
/// `pit reconcile`.
#[path = "cli/reconcile.rs"]
mod reconcile;
/// `pit config`, `pit completions`, `pit man`.
#[path = "cli/toolbox.rs"]
mod toolbox;
