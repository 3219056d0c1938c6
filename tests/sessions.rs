//! Trading sessions end to end, with the real binary: a headless run of the simulated
//! market (engine time from 2026-01-01T00:00Z, a Thursday, 19:00 the evening before in New
//! York) with a five-minute New York window: orders only inside it, everything flat by
//! its close (flat_before_close_minutes), the alerts in the log, `pit export` agreeing;
//! and a backtest with a session gives the same fills every time.

mod run_dir;

use std::path::Path;
use std::process::Command;

fn folder(session: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let mut text = std::fs::read_to_string(repo).unwrap();
    text.push_str(session);
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    dir
}

/// 19:05-19:10 New York on Wednesdays (00:05Z-00:10Z on 2026-01-01), flat two minutes
/// before the close.
const NY: &str = "
[[sessions]]
symbol = \"BTC-USD\"
timezone = \"America/New_York\"
start = \"19:05\"
end = \"19:10\"
allowed_weekdays = [\"Wed\"]
flat_before_close_minutes = 2
";

fn pit(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pit"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn a_headless_run_trades_only_inside_its_session_and_is_flat_by_the_close() {
    let dir = folder(NY);
    let out = pit(
        dir.path(),
        &[
            "run",
            "--headless",
            "--for",
            "12m",
            "--speed",
            "max",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["orders"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["positions"]["BTC-USD"], "0", "{summary}");

    let orders = pit(dir.path(), &["export", "--orders"]);
    let text = String::from_utf8_lossy(&orders.stdout);
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (created, symbol, reduce_only, tag) = (
        col("created"),
        col("symbol"),
        col("reduce_only"),
        col("tag"),
    );
    let mut entries = 0;
    let mut session_close = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f[symbol] != "BTC-USD" {
            continue;
        }
        let t = f[created];
        if f[reduce_only] == "false" {
            entries += 1;
            // Opening orders only from 19:05 to the flatten at 19:08 New York.
            assert!(
                ("2026-01-01T00:05:00"..="2026-01-01T00:07:59.999").contains(&t),
                "an order outside the window: {l}"
            );
        }
        if f[tag] == "session-close" {
            session_close += 1;
            assert!(t >= "2026-01-01T00:08:00", "{l}");
        }
    }
    assert!(entries > 0, "{text}");
    let logs = run_dir::logs(dir.path());
    assert!(
        logs.contains("SESSION_SUSPENDED BTC-USD: SESSION CLOSED")
            && logs.contains("next window opens Wed 2025-12-31 19:05 EST (00:05Z)"),
        "{logs}"
    );
    assert!(logs.contains("SESSION_RESUMED BTC-USD: OPEN"), "{logs}");
    assert!(
        logs.contains("SESSION_SUSPENDED BTC-USD: CLOSING (flat)")
            && logs.contains("next window opens Wed 2026-01-07 19:05 EST (00:05Z)"),
        "{logs}"
    );
    // Seed 42 holds a position at 19:08: the session flattens it.
    assert!(logs.contains("; flattening "), "{logs}");
    assert!(session_close > 0, "{text}");
}

#[test]
fn a_backtest_with_a_session_gives_the_same_fills_every_time_and_fewer_than_without() {
    let london = "
[[sessions]]
symbol = \"BTC-USD\"
timezone = \"Europe/London\"
start = \"00:01\"
end = \"00:02\"
allowed_weekdays = [\"Thu\"]
";
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst");
    let demo = demo.to_str().unwrap();
    let run = |dir: &Path| -> serde_json::Value {
        let out = pit(dir, &["backtest", demo, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let with = folder(london);
    let a = run(with.path());
    let b = run(with.path());
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    let without = folder("");
    let free = run(without.path());
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    assert!(
        n(&a, "orders") > 0 && n(&a, "orders") < n(&free, "orders"),
        "{a} vs {free}"
    );
}
