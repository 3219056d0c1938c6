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
            "[strategies.imbalance]\nsymbol = \"DOGE-USD\"\n",
            "bad.toml:2: strategies.imbalance.symbol: unknown",
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
