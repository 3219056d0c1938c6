//! The real binary, as a user runs it: headless runs, the JSON summary, determinism across
//! processes, signals, and config mistakes reported with file, line and key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")
}

fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = pit_at(dir)
        .args(["run", "--headless", "--speed", "max", "--json"])
        .args(args)
        .output()
        .expect("run pit");
    assert!(
        out.status.success(),
        "pit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    // Exactly one JSON object on stdout, nothing else.
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"))
}

#[test]
fn headless_json_is_deterministic_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    // Each run starts from a clean state: its own folder, so its own database (a config's
    // data lives beside it).
    let (d2, d3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&dir, &d2, &d3] {
        std::fs::copy(repo_config(), d.path().join("pit.toml")).unwrap();
    }
    let a = run_json(dir.path(), &["--for", "5m", "--config", "pit.toml"]);
    let b = run_json(d2.path(), &["--for", "5m", "--config", "pit.toml"]);
    let c = run_json(
        d3.path(),
        &["--for", "5m", "--config", "pit.toml", "--seed", "99"],
    );
    for key in [
        "events",
        "orders",
        "fills",
        "realized_pnl",
        "fees",
        "positions",
        "trading_state",
        "fill_log_sha256",
    ] {
        assert!(a.get(key).is_some(), "missing {key}: {a}");
    }
    assert!(a["fills"].as_u64().unwrap() > 0, "it trades: {a}");
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    assert_eq!(a["fills"], b["fills"]);
    assert_ne!(a["fill_log_sha256"], c["fill_log_sha256"]);
    assert_eq!(a["trading_state"], "ACTIVE");
    assert_eq!(a["open_orders_left"], 0, "open orders cancelled on exit");
    let secs = a["engine_seconds"].as_f64().unwrap();
    assert!(
        (300.0..301.0).contains(&secs),
        "--for counts engine time: {secs}"
    );
    assert!(
        dir.path().join("logs").is_dir(),
        "logs go to files under logs/"
    );
}

#[test]
fn sigterm_stops_in_order_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let child = pit_at(dir.path())
        .args(["run", "--headless", "--for", "1h", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out: Output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(
        stderr.contains("ACTIVE |"),
        "a status line a second: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        v["open_orders_left"], 0,
        "cancels confirmed before exit: {v}"
    );
}

fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = pit_at(dir.path())
        .args(["run", "--headless", "--for", "1s", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad config is refused");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_configs_name_the_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        // unknown key
        (
            "[risk]\nmax_order_qty = 1\nmax_ordr_qty = 2\n",
            "bad.toml:3: risk.max_ordr_qty: unknown field",
        ),
        // wrong type
        (
            "[paper]\nlatency_in_ms = \"fast\"\n",
            "bad.toml:2: paper.latency_in_ms: invalid type",
        ),
        // value out of range
        (
            "seed = 1\n\n[strategies.market_maker]\nspread_bps = 0\n",
            "bad.toml:4: strategies.market_maker.spread_bps",
        ),
        // negative limit
        (
            "[risk]\nmax_position = -1\n",
            "bad.toml:2: risk.max_position",
        ),
        // unknown instrument in a strategy
        (
            "[strategies.imbalance]\nenabled = true\nsymbol = \"DOGE-USD\"\n",
            "bad.toml:3: strategies.imbalance.symbol: unknown",
        ),
        // syntax error
        ("venue = \"sim\"\nseed = = 4\n", "bad.toml:2:"),
        // unknown venue
        (
            "venue = \"nasdaq\"\n",
            "bad.toml:1: venue: unknown venue 'nasdaq'",
        ),
        // bad instrument
        (
            "[[instruments]]\nsymbol = \"X\"\ntick_size = 0\nlot_size = 1\nstart_price = 100\n",
            "bad.toml:3: instruments[0].tick_size",
        ),
        // sim parameter
        ("[sim]\nevent_rate = 0\n", "bad.toml:2: sim.event_rate"),
        // what a hang-up does: one of three words
        (
            "[console]\nfps = 30\non_hangup = \"ignore\"\n",
            "bad.toml:3: console.on_hangup: unknown variant `ignore`, expected one of `keep-running`, `pause`, `kill`",
        ),
        // the watchdog: off, or not so short that a busy machine halts a healthy run
        (
            "[kill_switch]\nengine_stall_ms = 20\n",
            "bad.toml:2: kill_switch.engine_stall_ms: must be 0 (off) or at least 100 ms",
        ),
        // a log level tracing would take for a target name, leaving an empty log
        (
            "[log]\ndir = \"logs\"\nlevel = \"verbose\"\n",
            "bad.toml:3: log.level: unknown level 'verbose'",
        ),
        (
            "[log]\nlevel = \"info,pit=loud\"\n",
            "bad.toml:2: log.level: 'pit=loud' is not a target=level directive",
        ),
        (
            "[log]\nmax_mb = 0\n",
            "bad.toml:2: log.max_mb: must be at least 1",
        ),
        // a positive limit the decimal type reads as 0 ("off"): pit traded 40 orders
        (
            "[risk]\nmax_order_qty = 1e-29\n",
            "bad.toml:2: risk.max_order_qty: 1e-29 is too small",
        ),
        // positive, but below one lot: 0 lots on the instrument's grid
        (
            "[risk]\nmax_order_qty = 0.0001\n",
            "bad.toml:2: risk.max_order_qty: 0.0001 is below the smallest order of BTC-USD",
        ),
        // the kill switch always has a key
        (
            "[console.keys]\nkill = []\n",
            "bad.toml:2: console.keys.kill: the kill switch must always have a key",
        ),
        // every order of the strategy would be refused
        (
            "[risk]\nmax_order_qty = 0.01\n\n[strategies.market_maker]\nsize = 0.02\n",
            "bad.toml:5: strategies.market_maker.size: 0.02 exceeds risk.max_order_qty 0.01",
        ),
    ];
    for (text, want) in cases {
        let err = config_error(text);
        assert!(
            err.contains(want),
            "config:\n{text}\nwant: {want}\ngot: {err}"
        );
    }
}

#[test]
fn a_missing_theme_names_the_config_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "seed = 1\n\n[console]\ntheme = \"nope\"\n").unwrap();
    // Outside the repo (no themes/ folder): only the built-ins exist.
    let out = pit_at(dir.path())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: console.theme: unknown built-in theme 'nope'"),
        "{err}"
    );
    // With a themes folder: the file it looked for.
    std::fs::create_dir(dir.path().join("themes")).unwrap();
    let out = pit_at(dir.path())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: console.theme: theme 'nope': cannot read")
            && err.contains("themes/nope.toml"),
        "{err}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = pit()
        .args(["run", "--headless", "--config", "/nonexistent/pit.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read config file /nonexistent/pit.toml"),
        "{err}"
    );
}

#[test]
fn the_shipped_config_toml_matches_the_built_in_defaults() {
    let cfg = pit::config::Config::load(&repo_config()).expect("config.toml loads");
    assert_eq!(
        cfg,
        pit::config::Config::default(),
        "config.toml documents the defaults"
    );
}

#[test]
fn plain_pit_without_a_terminal_points_to_headless() {
    let dir = tempfile::tempdir().unwrap();
    let out = pit_at(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("--headless"),
        "{err}"
    );
    let help = pit().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("run"));
}

#[test]
fn stopping_a_slow_run_does_not_wait_at_its_slow_pace() {
    let dir = tempfile::tempdir().unwrap();
    let child = pit_at(dir.path())
        .args(["run", "--headless", "--speed", "0.01", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a 0.01x run stopped in {:?}",
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Ctrl-C"), "{stderr}");
}

#[test]
fn report_and_export_without_a_store_say_so_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["report"][..], &["export", "--fills"][..]] {
        let out = pit_at(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        // No config anywhere: the built-in defaults keep the store in the user's data
        // folder (here XDG_DATA_HOME inside the test's folder).
        assert!(
            err.contains("no store at ") && err.contains("pit.redb"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
        assert!(
            !dir.path().join("xdg-data/pit/data").exists(),
            "nothing created"
        );
        assert!(!dir.path().join("data").exists(), "nothing created");
    }
}

#[test]
fn export_into_a_pipe_closed_early_ends_quietly_and_errors_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = pit_at(dir.path())
        .args(["run", "--headless", "--for", "20s", "--speed", "max"])
        .output()
        .unwrap();
    assert!(run.status.success());
    for what in ["--fills", "--orders"] {
        // `pit export --fills | head -0`: the reader is gone before the first line.
        let mut child = pit_at(dir.path())
            .args(["export", what])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {:?} {err}", out.status);
        assert!(err.is_empty(), "{what}: {err}");
    }
    let mut child = pit_at(dir.path())
        .args(["report"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = pit()
        .args(["run", "--headless", "--config", "/nonexistent/pit.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let out = pit()
        .args(["backtest", "/nonexistent/rec.jsonl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.matches("/nonexistent/rec.jsonl").count(), 1, "{err}");
}

#[test]
fn a_sweep_of_an_unknown_key_is_one_error_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst");
    let out = pit_at(dir.path())
        .args(["backtest", "--for", "5s", "--sweep", "foo.bar=1,2,3"])
        .arg(&rec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no empty table");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("unknown field").count(), 1, "{err}");
    assert!(err.contains("--sweep foo.bar=1"), "{err}");
}

#[test]
fn the_store_cache_is_a_setting_and_a_store_compacts() {
    let err = config_error("[store]\ncache_mb = 0\n");
    assert!(
        err.contains("bad.toml:2: store.cache_mb: must be between 1"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[store]\ncache_mb = 4\n").unwrap();
    let run = pit_at(dir.path())
        .args(["run", "--headless", "--for", "20s", "--speed", "max"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let db = dir.path().join("data/pit.redb");
    let before = std::fs::metadata(&db).unwrap().len();
    let out = pit_at(dir.path())
        .args(["store", "compact"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(after <= before, "{before} -> {after}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("compacted"));
    // Still the same store: the report reads it.
    let report = pit_at(dir.path())
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert!(report.status.success());
    let empty = tempfile::tempdir().unwrap();
    let out = pit_at(empty.path())
        .args(["store", "compact"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
}
