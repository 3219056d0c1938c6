//! Recording, replay and backtest with the real binary: a recording made by `pit record`
//! (or by `record = true`) backtests to the very fills of the run that recorded it; a
//! replay gives the same fills at 1x and at max; torn last lines are tolerated; the demo
//! recording is small and trades; sweeps rank; `--set` mistakes name key and line.

use pit::app::ReplayClock;
use pit::pace::Speed;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pit"))
}

/// pit started in `dir` as a new user would, with the user config and data folders
/// inside `dir` too (no config or store of the machine's user is read or written).
fn pit_at(dir: &Path) -> Command {
    let mut c = pit();
    c.current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env_remove("PIT_CONFIG");
    c
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn demo() -> PathBuf {
    repo("recordings/demo-sim-3m.jsonl.zst")
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = pit_at(dir).args(args).output().expect("run pit");
    assert!(
        out.status.success(),
        "pit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"))
}

#[test]
fn pit_record_then_backtest_gives_the_fills_of_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = repo("config.toml");
    let cfg = cfg.to_str().unwrap();
    let live = json(
        dir.path(),
        &[
            "--config",
            cfg,
            "record",
            "--for",
            "60s",
            "--speed",
            "max",
            "--json",
            "--out",
            "rec.jsonl.zst",
        ],
    );
    assert!(live["fills"].as_u64().unwrap() > 0, "it trades: {live}");
    let bt = json(
        dir.path(),
        &["--config", cfg, "backtest", "rec.jsonl.zst", "--json"],
    );
    assert_eq!(bt["fill_log_sha256"], live["fill_log_sha256"], "{bt}");
    assert_eq!(bt["fills"], live["fills"]);
    assert_eq!(bt["events"], live["events"]);
    assert_eq!(
        bt["engine_seconds"], live["engine_seconds"],
        "stops where the recorded run did"
    );
    // The recorded run's last input may be an execution report just after the 60 s of
    // market data (the paper venue's latency): 60.01 with the shipped strategies.
    let secs = live["engine_seconds"].as_f64().unwrap();
    assert!((60.0..60.1).contains(&secs), "{live}");
    for key in [
        "pnl",
        "win_rate",
        "profit_factor",
        "max_drawdown",
        "sharpe_per_minute_annualized",
        "fees",
        "orders",
        "fills",
        "fill_ratio",
        "avg_slippage_ticks",
        "fill_model",
    ] {
        assert!(bt.get(key).is_some(), "missing {key}: {bt}");
    }
}

#[test]
fn record_true_in_the_config_records_a_headless_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("config.toml"))
        .unwrap()
        .replacen("record = false", "record = true", 1);
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let live = json(
        dir.path(),
        &[
            "run",
            "--headless",
            "--for",
            "30s",
            "--speed",
            "max",
            "--json",
        ],
    );
    let files: Vec<_> = std::fs::read_dir(dir.path().join("recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("sim-20260101T000000Z") && name.ends_with(".jsonl.zst"),
        "{name}"
    );
    let bt = json(
        dir.path(),
        &["backtest", files[0].to_str().unwrap(), "--json"],
    );
    assert_eq!(bt["fill_log_sha256"], live["fill_log_sha256"]);
}

#[test]
fn a_replay_gives_the_same_fills_at_1x_and_at_max() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo();
    let d = d.to_str().unwrap();
    let slice = "4s";
    let fast = json(
        dir.path(),
        &["backtest", d, "--for", slice, "--speed", "max", "--json"],
    );
    let real = json(
        dir.path(),
        &["backtest", d, "--for", slice, "--speed", "1", "--json"],
    );
    assert!(fast["orders"].as_u64().unwrap() > 0, "{fast}");
    assert_eq!(fast["fill_log_sha256"], real["fill_log_sha256"]);
    assert_eq!(fast["events"], real["events"]);
    assert!(
        real["wall_seconds"].as_f64().unwrap() >= 3.9,
        "1x is paced: {real}"
    );
}

#[test]
fn the_demo_recording_is_small_and_trades() {
    let d = demo();
    let size = std::fs::metadata(&d).expect("the demo recording").len();
    assert!(size < 1_000_000, "{size} bytes");
    let dir = tempfile::tempdir().unwrap();
    let a = json(dir.path(), &["backtest", d.to_str().unwrap(), "--json"]);
    let b = json(dir.path(), &["backtest", d.to_str().unwrap(), "--json"]);
    assert!(a["fills"].as_u64().unwrap() > 10, "{a}");
    // Three minutes, and the shutdown's cancels of the quotes still resting (5 + 5 ms).
    let secs = a["engine_seconds"].as_f64().unwrap();
    assert!((180.0..180.1).contains(&secs), "{a}");
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    assert_eq!(a["lines_skipped"], 0);
}

#[test]
fn a_torn_last_line_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("torn.jsonl");
    let mut text = String::new();
    let mut r = pit::record::CaptureReader::open(&demo()).unwrap();
    for line in r.by_ref().take(20_000) {
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    text.push_str(r#"{"ts_ns":1767225612000000000,"venue":"sim","dir":"recv","url":"sim://ma"#);
    std::fs::write(&plain, text).unwrap();
    let bt = json(
        dir.path(),
        &["backtest", plain.to_str().unwrap(), "--json", "--for", "1h"],
    );
    assert_eq!(bt["lines_skipped"], 1, "{bt}");
    assert!(bt["events"].as_u64().unwrap() > 19_000, "{bt}");
    let out = pit_at(dir.path())
        .args(["backtest", plain.to_str().unwrap(), "--for", "1h"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("1 bad lines skipped"), "{report}");
}

#[test]
fn sweeps_rank_and_set_mistakes_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo();
    let d = d.to_str().unwrap();
    let cfg = repo("config.toml");
    let cfg = cfg.to_str().unwrap();
    let out = pit_at(dir.path())
        .args([
            "--config",
            cfg,
            "backtest",
            d,
            "--for",
            "60s",
            "--sweep",
            "strategies.market_maker.spread_bps=1,3",
            "--sweep",
            "strategies.imbalance.enabled=true,false",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 5, "{table}");
    assert!(
        rows[0].contains("rank") && rows[0].contains("pnl"),
        "{table}"
    );
    assert!(rows[1].trim_start().starts_with("1 "), "{table}");
    assert!(
        table.contains("strategies.market_maker.spread_bps=3"),
        "{table}"
    );

    let out = pit_at(dir.path())
        .args([
            "--config",
            cfg,
            "backtest",
            d,
            "--set",
            "paper.latency_in_ms=\"soon\"",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:") && err.contains("paper.latency_in_ms"),
        "{err}"
    );
}

#[test]
fn replay_speeds_step_from_a_quarter_to_max() {
    let mut s = Speed::Times(1.0);
    s = ReplayClock::step_speed(s, false);
    assert_eq!(s, Speed::Times(0.5));
    s = ReplayClock::step_speed(s, false);
    s = ReplayClock::step_speed(s, false);
    assert_eq!(s, Speed::Times(0.25), "0.25x is the floor");
    let mut s = Speed::Times(50.0);
    s = ReplayClock::step_speed(s, true);
    assert_eq!(s, Speed::Times(100.0));
    s = ReplayClock::step_speed(s, true);
    assert_eq!(s, Speed::Max);
    assert_eq!(ReplayClock::step_speed(Speed::Max, true), Speed::Max);
    assert_eq!(
        ReplayClock::step_speed(Speed::Max, false),
        Speed::Times(100.0)
    );
    let c = ReplayClock {
        paused: true,
        speed: Speed::Times(2.0),
    };
    assert_eq!(c.label(), "2x PAUSED");
}

#[test]
fn pausing_stepping_and_changing_speed_do_not_change_the_fills() {
    use pit::pace::RunControl;
    use std::time::Duration;
    let cfg = pit::config::Config::default();
    let start = |speed| {
        let parts =
            pit::setup::assemble_replay(&cfg, &demo(), pit::domain::TradingState::Active).unwrap();
        let opts = pit::runner::RunOptions {
            speed,
            run_for: Some(Duration::from_secs(30)),
            publish_every: Duration::from_millis(10),
            exit_grace: Duration::from_secs(3),
            ..Default::default()
        };
        pit::runner::spawn(
            parts.engine,
            Box::new(parts.market),
            Box::new(parts.exec),
            opts,
        )
        .unwrap()
    };
    let reference = start(Speed::Max).join().unwrap().summary;

    let h = start(Speed::Times(1.0));
    std::thread::sleep(Duration::from_millis(300));
    assert!(h.control(RunControl::Pause));
    std::thread::sleep(Duration::from_millis(100));
    let v1 = h.view();
    std::thread::sleep(Duration::from_millis(200));
    let v2 = h.view();
    assert_eq!(v1.now, v2.now, "paused: the clock stands still");
    assert_eq!(v1.health.events, v2.health.events);
    for _ in 0..3 {
        h.control(RunControl::Step);
    }
    std::thread::sleep(Duration::from_millis(100));
    let v3 = h.view();
    assert!(
        (1..=3).contains(&(v3.health.events - v2.health.events)),
        "three steps: {} -> {}",
        v2.health.events,
        v3.health.events
    );
    h.control(RunControl::SetSpeed(Speed::Times(0.25)));
    h.control(RunControl::Resume);
    std::thread::sleep(Duration::from_millis(100));
    h.control(RunControl::SetSpeed(Speed::Max));
    let paced = h.join().unwrap().summary;
    assert_eq!(paced.fill_log_sha256, reference.fill_log_sha256);
    assert_eq!(paced.events, reference.events);
}

/// A capture in `../shared/captures` (or `PIT_CAPTURES_DIR`), or `None`, saying why.
fn capture(name: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo("../shared/captures"),
    };
    let path = dir.join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is absent", path.display());
        None
    }
}

const BINANCE: &str = "binance-spot-btcusdt-2024-08-08.jsonl";

#[test]
fn a_real_capture_backtests_on_its_own_instrument_with_the_same_fills_at_1x_and_max() {
    let Some(c) = capture(BINANCE) else { return };
    let c = c.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let slice = "3s";
    let fast = json(
        dir.path(),
        &["backtest", c, "--for", slice, "--speed", "max", "--json"],
    );
    let real = json(
        dir.path(),
        &["backtest", c, "--for", slice, "--speed", "1", "--json"],
    );
    assert!(fast["orders"].as_u64().unwrap() > 0, "{fast}");
    assert_eq!(fast["fill_log_sha256"], real["fill_log_sha256"]);
    assert_eq!(fast["events"], real["events"]);
    assert!(real["wall_seconds"].as_f64().unwrap() >= 2.9, "{real}");
    assert_eq!(fast["instruments"], serde_json::json!(["binance:BTCUSDT"]));
    let notes = fast["notes"].to_string();
    assert!(
        notes.contains("BTCUSDT: tick 0.01, lot 0.000001 (finest decimals"),
        "{notes}"
    );
    assert!(
        notes.contains("strategies.market_maker.symbol = \\\"BTC-USD\\\" is not in the recording"),
        "{notes}"
    );

    let a = json(dir.path(), &["backtest", c, "--json"]);
    let b = json(dir.path(), &["backtest", c, "--json"]);
    assert!(a["fills"].as_u64().unwrap() > 10, "{a}");
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    assert_eq!(a["events"], b["events"]);
    assert_eq!(a["lines_skipped"], 0);
    assert_eq!(a["lines_other_venue"], 0);
}

#[test]
fn configured_instruments_set_a_capture_grid_and_other_venues_lines_are_skipped() {
    let Some(c) = capture(BINANCE) else { return };
    let dir = tempfile::tempdir().unwrap();
    // The first 3,000 lines (the snapshot among them), one Bybit line in the middle.
    let mut text = String::new();
    let mut r = pit::record::CaptureReader::open(&c).unwrap();
    for (n, line) in r.by_ref().take(3_000).enumerate() {
        if n == 1_500 {
            text.push_str(
                r#"{"ts_ns":1,"venue":"bybit","dir":"recv","url":"wss://x","frame":"{}"}"#,
            );
            text.push('\n');
        }
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, text).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[[instruments]]\nsymbol = \"BTC-USD\"\ntick_size = 0.1\nlot_size = 0.001\nstart_price = 60000\n\n\
         [[instruments]]\nsymbol = \"BTCUSDT\"\ntick_size = 0.01\nlot_size = 0.00001\nstart_price = 60000\n\n\
         [strategies.market_maker]\nsymbol = \"BTCUSDT\"\n\n\
         [strategies.imbalance]\nenabled = true\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let bt = json(
        dir.path(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "backtest",
            file,
            "--json",
        ],
    );
    assert_eq!(bt["lines_other_venue"], 1, "{bt}");
    let notes = bt["notes"].to_string();
    assert!(
        notes.contains("BTCUSDT: tick 0.01, lot 0.00001 (from [[instruments]])"),
        "{notes}"
    );
    assert!(
        !notes.contains("market_maker.symbol"),
        "configured: {notes}"
    );
    assert!(notes.contains("imbalance.symbol"), "{notes}");
    let out = pit_at(dir.path())
        .args(["--config", cfg.to_str().unwrap(), "backtest", file])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("1 lines of venue bybit skipped: one venue per file"),
        "{report}"
    );
}
