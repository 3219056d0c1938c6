//! A panic on any thread fails closed: the gate closes, the normal shutdown runs (cancels
//! sent and waited for), the log says where it panicked, the exit code is non-zero and the
//! next run starts HALTED. Each thread's panic is injected with `PIT_TEST_PANIC`, which
//! only a debug build reads (src/panics.rs).

#[allow(dead_code)]
mod pty;
mod run_dir;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn pit(dir: &Path, panic_at: &str, args: &[&str]) -> Output {
    // An empty config in the folder: the built-in defaults, with the store and logs in
    // this folder (without one they would go to the user's data folder).
    if !dir.join("config.toml").exists() {
        std::fs::write(dir.join("config.toml"), "").expect("write config.toml");
    }
    Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env_remove("PIT_CONFIG")
        .env("PIT_TEST_PANIC", panic_at)
        .args(args)
        .output()
        .expect("run pit")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The next run in the folder comes up HALTED (the panicked run left no clean exit).
fn next_run_is_halted(dir: &Path) {
    let out = pit(
        dir,
        "",
        &[
            "run",
            "--headless",
            "--for",
            "1s",
            "--speed",
            "max",
            "--json",
        ],
    );
    let v = json(&out);
    assert_eq!(v["trading_state"], "HALTED", "{v}");
}

#[test]
fn an_engine_thread_panic_closes_the_gate_cancels_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = pit(
        dir.path(),
        "engine@1500",
        &["run", "--headless", "--for", "20s", "--json"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("PANICKED"), "{err}");
    let v = json(&out);
    assert_eq!(v["open_orders_left"], 0, "cancels confirmed: {v}");
    assert!(
        v["engine_seconds"].as_f64().unwrap() < 10.0,
        "stopped early: {v}"
    );
    let logs = run_dir::logs(dir.path());
    assert!(
        logs.contains("panicked on thread 'pit-engine' at src/runner.rs"),
        "{logs}"
    );
    assert!(logs.contains("shutdown: cancelling"), "{logs}");
    next_run_is_halted(dir.path());
}

#[test]
fn a_store_writer_panic_closes_the_gate_cancels_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = pit(
        dir.path(),
        "store@1500",
        &["run", "--headless", "--for", "20s", "--json"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a failed store: {err}");
    let v = json(&out);
    assert_eq!(v["open_orders_left"], 0, "{v}");
    assert_eq!(v["trading_state"], "HALTED", "{v}");
    let logs = run_dir::logs(dir.path());
    assert!(
        logs.contains("panicked on thread 'pit-store' at src/store/writer.rs"),
        "{logs}"
    );
    next_run_is_halted(dir.path());
}

#[test]
fn a_console_panic_restores_the_terminal_cancels_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let mut screen = pty::Pty::spawn_env(
        &[],
        dir.path(),
        120,
        40,
        &[("PIT_TEST_PANIC", "console@2500")],
    );
    screen.wait_for(&["ACTIVE"], Duration::from_secs(20));
    let status = screen
        .wait_exit(Duration::from_secs(20))
        .expect("pit stops after the panic");
    assert_eq!(status.exit_code(), 5, "{}", screen.text());
    let logs = run_dir::logs(dir.path());
    assert!(
        logs.contains("panicked on thread 'main' at src/console.rs"),
        "{logs}"
    );
    assert!(
        logs.contains("operator command command=\"shutdown\""),
        "{logs}"
    );
    next_run_is_halted(dir.path());
}
