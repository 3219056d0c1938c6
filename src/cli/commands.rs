//! The recording subcommands: `pit record`, `pit replay`, `pit backtest`, `pit compile`.

use super::{BacktestArgs, CompileArgs, RecordArgs, ReplayArgs, load_config, runtime};
use anyhow::Context;
use pit::domain::TradingState;
use pit::runner::RunOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `pit record`: a headless run whose market data is recorded.
pub fn record(config: Option<&PathBuf>, a: RecordArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = if a.set.is_empty() {
        load_config(config)?
    } else {
        let (text, path, base) = config_text(config)?;
        config_with(&text, &path, &base, &a.set)?
    };
    if a.out.is_none() {
        cfg.record = true;
    }
    let _log_guard = pit::logging::init(&cfg.log)?;
    let seed = a.seed.unwrap_or(cfg.seed);
    let parts = pit::setup::assemble(&cfg, seed, TradingState::Active)?;
    let (market, files) =
        pit::setup::maybe_record(&cfg, parts.market, a.out.as_deref(), a.run_for)?;
    let opts = RunOptions {
        speed: a.speed,
        run_for: a.run_for,
        publish_every: Duration::from_millis(100),
        exit_grace: Duration::from_millis(cfg.kill_switch.exit_grace_ms),
        ..Default::default()
    };
    let handle = pit::runner::spawn(parts.engine, market, Box::new(parts.exec), opts)
        .context("cannot start the engine thread")?;
    let _control = controlled(&cfg, &handle, "SIM")?;
    let result = runtime()?.block_on(pit::headless::supervise(handle))?;
    for f in files
        .and_then(|f| f.lock().ok().map(|v| v.clone()))
        .unwrap_or_default()
    {
        let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
        eprintln!("recorded {} ({size} bytes)", f.display());
    }
    if a.json {
        println!("{}", pit::headless::summary_json(&result));
    }
    Ok(super::halted_exit(&result).unwrap_or(ExitCode::SUCCESS))
}

/// `pit replay FILE`: the console (or a headless run) over a recording.
pub fn replay(config: Option<&PathBuf>, a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    if !a.headless && !std::io::stdout().is_terminal() {
        anyhow::bail!("the console needs a terminal; use `pit replay --headless` for scripts");
    }
    let _log_guard = pit::logging::init(&cfg.log)?;
    let parts = pit::setup::assemble_replay(&cfg, &a.file, TradingState::Active)?;
    for n in &parts.notes {
        eprintln!("note: {n}");
    }
    let parts_notes = parts.notes.clone();
    let run_labels = pit::metrics::RunLabels {
        venue: parts.market.venue().to_string(),
        execution: "paper".into(),
    };
    let fps = cfg.console.fps.clamp(1, 120);
    let opts = RunOptions {
        speed: a.speed,
        run_for: a.run_for.or(parts.run_for),
        publish_every: if a.headless {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1) / fps
        },
        exit_grace: Duration::from_millis(cfg.kill_switch.exit_grace_ms),
        ..Default::default()
    };
    let handle = pit::runner::spawn(
        parts.engine,
        Box::new(parts.market),
        Box::new(parts.exec),
        opts,
    )
    .context("cannot start the engine thread")?;
    // The notes as alerts too: the console's screen hides what was printed.
    for n in &parts_notes {
        handle.alert(pit::engine::AlertLevel::Info, "replay", n.clone());
    }
    let _control = controlled(&cfg, &handle, "REPLAY")?;
    // `/metrics` for a replay too (`[metrics] listen`): the recording's market-data
    // latency, the paper venue's execution figures.
    let _metrics = if cfg.metrics.listen.is_empty() {
        None
    } else {
        match pit::metrics::serve(&cfg.metrics.listen, handle.subscribe(), run_labels) {
            Ok(m) => Some(m),
            Err(e) => {
                handle.shutdown();
                let _ = handle.join();
                return Err(e.into());
            }
        }
    };
    if a.headless {
        let result = runtime()?.block_on(pit::headless::supervise(handle))?;
        if a.json {
            println!("{}", pit::headless::summary_json(&result));
        }
        return Ok(super::halted_exit(&result).unwrap_or(ExitCode::SUCCESS));
    }
    let theme = super::console_theme(&cfg, config)?;
    let mut app = pit::ui::App::new(&cfg.console, theme, handle.view());
    app.set_risk_limits(&cfg.risk);
    app.set_mode(pit::app::Mode::Replay);
    app.set_replay_speed(a.speed);
    let result = runtime()?.block_on(pit::console::run(handle, app, cfg.console.fps))?;
    let s = &result.summary;
    eprintln!(
        "replay stopped: {} | orders {} | fills {} | fill log {}",
        s.trading_state, s.orders, s.fills, s.fill_log_sha256
    );
    Ok(ExitCode::SUCCESS)
}

/// What every run has, for a recording or a replay too: the control socket in the data
/// folder (`pit status`, `pit kill`, `pit attach` from another shell), the engine
/// watchdog and `kill -USR1`. Such a run persists nothing, so its halt is not latched to
/// disk and it does not watch for a `HALT` file (both belong to the real runs of the
/// folder, whose next start they would hold). A real run already serving the folder's
/// socket keeps it: the recording or replay goes on without one (it says so; Ctrl-C and
/// `kill -USR1 PID` still stop it). Served until the returned guard is dropped; on an
/// error the engine is stopped.
fn controlled(
    cfg: &pit::config::Config,
    handle: &pit::runner::EngineHandle,
    mode: &str,
) -> anyhow::Result<Option<pit::control::server::ControlServer>> {
    let started = (|| -> anyhow::Result<_> {
        pit::emergency::start_signal(handle.killer())
            .context("cannot start the SIGUSR1 kill path")?;
        if cfg.kill_switch.engine_stall_ms > 0 {
            let (heartbeat, alerts) = handle.pulse();
            let stall = Duration::from_millis(cfg.kill_switch.engine_stall_ms);
            pit::watchdog::start(heartbeat, handle.killer(), alerts, stall)
                .context("cannot start the engine watchdog")?;
        }
        let socket = match pit::control::server::bind(&pit::control::data_dir(&cfg.store.path)) {
            Ok(s) => s,
            Err(e @ pit::control::server::ControlError::InUse { .. }) => {
                let text = format!(
                    "no control socket for this {}: {e}; stop it with Ctrl-C or kill -USR1 {}",
                    mode.to_lowercase(),
                    std::process::id()
                );
                eprintln!("pit: {text}");
                handle.alert(pit::engine::AlertLevel::Warn, "control", text);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let link = pit::control::server::EngineLink::new(handle).with_mode(mode);
        Ok(Some(socket.serve(link)?))
    })();
    if started.is_err() {
        handle.shutdown();
    }
    started
}

/// The config text, the path named in messages, and the folder its relative paths are
/// relative to (found as `load_config` finds it).
fn config_text(config: Option<&PathBuf>) -> anyhow::Result<(String, PathBuf, PathBuf)> {
    let loc = super::locate(config);
    let Some(path) = loc.file else {
        return Ok((
            String::new(),
            PathBuf::from("(built-in defaults)"),
            loc.base,
        ));
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    Ok((text, path, loc.base))
}

/// The config text with `--set` assignments, its folders made relative to `base`.
fn config_with(
    text: &str,
    path: &std::path::Path,
    base: &std::path::Path,
    sets: &[(String, String)],
) -> anyhow::Result<pit::config::Config> {
    let mut cfg = pit::backtest::sweep::config_with(text, path, sets)?;
    pit::paths::rebase(&mut cfg, base);
    Ok(cfg)
}

/// `pit compile FILE`: the recording's decoded events in a binary file.
pub fn compile(config: Option<&PathBuf>, a: CompileArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let _log_guard = pit::logging::init(&cfg.log)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let name = a.file.file_name().map(|n| n.to_string_lossy().to_string());
        let name = name.unwrap_or_default();
        let stem = name.strip_suffix(".zst").unwrap_or(&name);
        let stem = stem.strip_suffix(".jsonl").unwrap_or(stem);
        a.file.with_file_name(format!("{stem}.pitev"))
    });
    let t = std::time::Instant::now();
    let c = pit::venue::feed::compile::compile(
        &a.file,
        &out,
        &cfg.instrument_list(),
        cfg.book,
        &cfg.sanity_bands(),
        &cfg.contract_values(),
    )?;
    let secs = t.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "recording": a.file.display().to_string(),
                "out": c.out.display().to_string(),
                "events": c.events,
                "bytes": c.bytes,
                "source_bytes": c.source_bytes,
                "source_crc32": format!("{:08x}", c.source_crc32),
                "instruments": c.instruments,
                "lines": c.report.lines,
                "lines_skipped": c.report.skipped,
                "wall_seconds": secs,
            })
        );
    } else {
        eprintln!(
            "compiled {} -> {}: {} events of {} ({} lines, {} skipped), {} bytes from {} in {secs:.2} s",
            a.file.display(),
            c.out.display(),
            c.events,
            c.instruments.join(" "),
            c.report.lines,
            c.report.skipped,
            c.bytes,
            c.source_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `pit backtest FILE`: one run and its report, or a sweep and its ranked table.
pub fn backtest(config: Option<&PathBuf>, a: BacktestArgs) -> anyhow::Result<ExitCode> {
    use pit::backtest::{self, sweep};
    let (text, path, folder) = config_text(config)?;
    let base = config_with(&text, &path, &folder, &a.set)?;
    let _log_guard = pit::logging::init(&base.log)?;
    if a.sweep.is_empty() {
        let bar = pit::progress::bytes(0, "backtest");
        let tell = |p: &pit::venue::feed::replay::Progress| {
            bar.set_length(p.total);
            bar.set_position(p.bytes_read());
        };
        let tell: &dyn Fn(&pit::venue::feed::replay::Progress) = &tell;
        let shown = pit::progress::shown().then_some(tell);
        let bt = backtest::run(&base, &a.file, a.run_for, a.speed, shown)?;
        bar.finish_and_clear();
        if a.json {
            // The text report carries them; a JSON run says them on stderr too.
            for n in &bt.notes {
                eprintln!("note: {n}");
            }
        }
        if a.json {
            println!("{}", backtest::to_json(&bt));
        } else {
            print!("{}", backtest::to_text(&bt));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Each swept key and value is checked once, before any run: a mistake is one error,
    // not one per combination and an empty table.
    let mut bad = Vec::new();
    for (k, values) in &a.sweep {
        for v in values {
            let mut sets = a.set.clone();
            sets.push((k.clone(), v.clone()));
            if let Err(e) = sweep::config_with(&text, &path, &sets) {
                bad.push(format!("--sweep {k}={v}: {}", super::error_text(&e)));
                break; // one error per key
            }
        }
    }
    if !bad.is_empty() {
        anyhow::bail!("{}", bad.join("\n"));
    }
    let grid = sweep::grid(&a.sweep);
    if pit::progress::shown() {
        eprintln!(
            "sweep: {} runs on {} threads",
            grid.len(),
            rayonless_threads()
        );
    }
    let speed = a.speed;
    // One bar per run, in the grid's order; each fills as its run reads the file.
    let multi = pit::progress::multi();
    let bars: Vec<_> = grid
        .iter()
        .map(|combo| pit::progress::run_bar(&multi, 0, &backtest::combo_label(combo)))
        .collect();
    let indexed: Vec<_> = grid.iter().cloned().enumerate().collect();
    let runs = sweep::par_map(&indexed, |(i, combo)| {
        let mut sets = a.set.clone();
        sets.extend(combo.iter().cloned());
        let bar = &bars[*i];
        let tell = |p: &pit::venue::feed::replay::Progress| {
            bar.set_length(p.total);
            bar.set_position(p.bytes_read());
        };
        let tell: &dyn Fn(&pit::venue::feed::replay::Progress) = &tell;
        let shown = pit::progress::shown().then_some(tell);
        let r = config_with(&text, &path, &folder, &sets)
            .and_then(|cfg| backtest::run(&cfg, &a.file, a.run_for, speed, shown));
        bar.finish();
        (combo.clone(), r)
    });
    let _ = multi.clear();
    let mut ok = Vec::new();
    for (combo, r) in runs {
        match r {
            Ok(bt) => ok.push((combo, bt)),
            Err(e) => eprintln!("{}: {e:#}", backtest::combo_label(&combo)),
        }
    }
    if a.json {
        println!("{}", backtest::sweep_json(&mut ok));
    } else {
        print!("{}", backtest::sweep_table(&mut ok));
    }
    Ok(ExitCode::SUCCESS)
}

fn rayonless_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
