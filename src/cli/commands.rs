//! The recording subcommands: `pit record`, `pit replay`, `pit backtest`.

use super::{BacktestArgs, RecordArgs, ReplayArgs, load_config, runtime};
use anyhow::Context;
use pit::domain::TradingState;
use pit::runner::RunOptions;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `pit record`: a headless run whose market data is recorded.
pub fn record(config: Option<&PathBuf>, a: RecordArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = if a.set.is_empty() {
        load_config(config)?
    } else {
        let (text, path) = config_text(config)?;
        pit::backtest::sweep::config_with(&text, &path, &a.set)?
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
    Ok(ExitCode::SUCCESS)
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
    if a.headless {
        let result = runtime()?.block_on(pit::headless::supervise(handle))?;
        if a.json {
            println!("{}", pit::headless::summary_json(&result));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let theme = super::console_theme(&cfg, config)?;
    let mut app = pit::ui::App::new(&cfg.console, theme, handle.view());
    app.set_price_band_bps(cfg.risk.price_band_bps);
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

/// The config text and the path named in messages.
fn config_text(config: Option<&PathBuf>) -> anyhow::Result<(String, PathBuf)> {
    let path = match config {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from("config.toml");
            if !p.exists() {
                return Ok((String::new(), PathBuf::from("(built-in defaults)")));
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    Ok((text, path))
}

fn progress_bar(p: &pit::venue::feed::replay::Progress) {
    const W: usize = 30;
    let f = p.fraction();
    let done = (f * W as f64) as usize;
    let _ = write!(
        std::io::stderr(),
        "\r[{}{}] {:5.1}% {:.1}/{:.1} MB",
        "#".repeat(done),
        "-".repeat(W - done),
        f * 100.0,
        p.bytes_read() as f64 / 1e6,
        p.total as f64 / 1e6
    );
}

/// `pit backtest FILE`: one run and its report, or a sweep and its ranked table.
pub fn backtest(config: Option<&PathBuf>, a: BacktestArgs) -> anyhow::Result<ExitCode> {
    use pit::backtest::{self, sweep};
    let (text, path) = config_text(config)?;
    let base = sweep::config_with(&text, &path, &a.set)?;
    let _log_guard = pit::logging::init(&base.log)?;
    let show = std::io::stderr().is_terminal();
    if a.sweep.is_empty() {
        let bar: &dyn Fn(&pit::venue::feed::replay::Progress) = &progress_bar;
        let bt = backtest::run(&base, &a.file, a.run_for, a.speed, show.then_some(bar))?;
        if show {
            eprintln!();
        }
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
    if show {
        eprintln!(
            "sweep: {} runs on {} threads",
            grid.len(),
            rayonless_threads()
        );
    }
    let speed = a.speed;
    let runs = sweep::par_map(&grid, |combo| {
        let mut sets = a.set.clone();
        sets.extend(combo.iter().cloned());
        let r = sweep::config_with(&text, &path, &sets)
            .and_then(|cfg| backtest::run(&cfg, &a.file, a.run_for, speed, None));
        (combo.clone(), r)
    });
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
