//! A store that cannot write stops the trading: the real binary under a file-size limit
//! (`ulimit -f`, which binds root too), so the database's commit fails with a real I/O
//! error ("File too large") part way through a run, as a full disk does.

mod common;

use common::*;
use pit::control::status::Status;
use pit::ui::theme::{Role, Theme};
use serde_json::Value;
use std::path::Path;
use std::process::{Command as Proc, Output};

/// The file-size limit, in KiB: above the store's size at start, below its size after a
/// few minutes of simulated trading.
const LIMIT_KIB: u32 = 1040;

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    std::fs::copy(repo, dir.path().join("config.toml")).unwrap();
    dir
}

/// `pit args...` in `dir`, under a file-size limit when `limit` is given (bash counts
/// `ulimit -f` in KiB).
fn pit(dir: &Path, limit: Option<u32>, args: &str) -> Output {
    let bin = env!("CARGO_BIN_EXE_pit");
    let script = match limit {
        Some(kib) => format!("ulimit -f {kib}; exec {bin} {args}"),
        None => format!("exec {bin} {args}"),
    };
    Proc::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_failed_store_write_halts_the_run_exits_3_and_the_restart_is_halted() {
    let run = "run --headless --for 10m --speed max --seed 7 --json";
    let clean_dir = folder();
    let clean = pit(clean_dir.path(), None, run);
    assert_eq!(clean.status.code(), Some(0), "{clean:?}");
    let clean = json(&clean);
    assert!(clean["store_failed"].is_null());

    let dir = folder();
    let out = pit(dir.path(), Some(LIMIT_KIB), run);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("pit: STORE FAILED: commit failed: database I/O: File too large"),
        "last line: {last}"
    );
    assert!(
        stderr.contains("HALTED STORE FAILED"),
        "the status line says it: {stderr}"
    );
    let failed = json(&out);
    assert!(
        failed["store_failed"]
            .as_str()
            .is_some_and(|e| e.contains("File too large")),
        "{failed}"
    );
    assert_eq!(failed["trading_state"], "HALTED");
    assert!(
        failed["halt_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("store write failed: ")),
        "{failed}"
    );
    // Cancels went out and were confirmed.
    assert_eq!(failed["open_orders_left"], 0);
    // Trading stopped at the failure: same seed, same market, far fewer orders and fills
    // than the run whose store kept up (without the stop it traded on to the end).
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert!(
        n(&failed, "orders") * 3 < n(&clean, "orders") * 2,
        "orders: failed run {} vs clean run {}",
        n(&failed, "orders"),
        n(&clean, "orders")
    );
    assert!(n(&failed, "fills") < n(&clean, "fills"));
    assert!(
        n(&failed, "events") * 10 > n(&clean, "events") * 9,
        "the market went on to the end"
    );

    // The halt is latched: the next run (the disk freed) comes up HALTED and trades nothing.
    let latch = std::fs::read_to_string(dir.path().join("data/halt.latch")).unwrap();
    assert!(latch.contains("store write failed"), "{latch}");
    let again = pit(
        dir.path(),
        None,
        "run --headless --for 30s --speed max --json",
    );
    // A headless run that ends HALTED exits 4 (documented in `pit run --help`).
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    let again = json(&again);
    assert_eq!(again["trading_state"], "HALTED");
    assert_eq!(again["orders"], 0);
    assert!(
        again["halt_reason"]
            .as_str()
            .is_some_and(|r| r.contains("store write failed")),
        "{again}"
    );
}

/// The halted view of a run whose store failed, as the runner publishes it.
fn store_failed_view() -> pit::engine::view::EngineView {
    let mut v = halted_view();
    let err = "commit failed: database I/O: File too large (os error 27)";
    v.halt_reason = Some(format!("store write failed: {err}"));
    v.store_failed = Some(err.into());
    v
}

#[test]
fn store_failed_is_unmissable_in_the_status_bar_at_80x24() {
    let a = app_with(store_failed_view(), Theme::builtin("dark").expect("dark"));
    let term = screen(&a, 80, 24);
    let buf = term.backend().buffer();
    let rows: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    let bar = rows
        .iter()
        .position(|r| r.contains("HALTED") && r.contains("STORE FAILED"))
        .unwrap_or_else(|| panic!("no STORE FAILED in the status bar:\n{}", rows.join("\n")));
    let col = rows[bar].find(" STORE FAILED ").unwrap();
    let col = rows[bar][..col].chars().count() as u16;
    let cell = &buf[(col + 1, bar as u16)];
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    let critical = a.theme().style(Role::Critical);
    assert_eq!(cell.fg, critical.fg.unwrap_or(ratatui::style::Color::Reset));
    insta::assert_snapshot!("store_failed_80x24", rows.join("\n"));
    // A healthy run shows no such thing.
    let ok = screen(
        &app_with(halted_view(), Theme::builtin("dark").unwrap()),
        80,
        24,
    );
    let ok: String = ok
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(!ok.contains("STORE FAILED"));
}

#[test]
fn pit_status_says_store_failed_in_text_and_json() {
    let s = Status::from_view(&store_failed_view());
    let text = s.to_text();
    assert!(
        text.contains("STORE FAILED: commit failed: database I/O: File too large"),
        "{text}"
    );
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["store_failed"],
        "commit failed: database I/O: File too large (os error 27)"
    );
    let healthy = serde_json::to_value(Status::from_view(&halted_view())).unwrap();
    assert!(healthy["store_failed"].is_null());
    assert!(
        !Status::from_view(&halted_view())
            .to_text()
            .contains("STORE FAILED")
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A damaged row is named, never a panic: by `pit export`, which reads every order, and
/// by `pit run` when the row is one a restart must read (an order a crash left open; a
/// restart reads only those, through the open-order index, not the whole history).
#[test]
fn a_damaged_store_is_named_not_a_panic() {
    let dir = folder();
    let short = "run --headless --for 1m --speed max";
    assert_eq!(pit(dir.path(), None, short).status.code(), Some(0));
    // A crash while quoting: the market maker's quotes stay open in the store.
    let mut crashed = Proc::new(env!("CARGO_BIN_EXE_pit"))
        .args(["run", "--headless", "--for", "1h"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    crashed.kill().unwrap();
    crashed.wait().unwrap();
    let db = dir.path().join("data/pit.redb");
    let mut bytes = std::fs::read(&db).unwrap();
    // Bad UTF-8 inside every order row's text: redb unwraps it on read. Every copy, since
    // where the live rows sit (and which copies are stale pages) depends on how the run's
    // commits were batched.
    let found: Vec<usize> = bytes
        .windows(8)
        .enumerate()
        .filter(|(_, w)| *w == b"\"kind\":\"")
        .map(|(i, _)| i + 8)
        .collect();
    assert!(!found.is_empty(), "an order row in the store");
    for at in found {
        bytes[at] = 0xC3;
        bytes[at + 1] = 0x28;
    }
    std::fs::write(&db, &bytes).unwrap();
    for args in ["export --orders", "run --headless --for 1s --speed max"] {
        let out = pit(dir.path(), None, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args}: {err}");
        assert!(
            err.contains("database corrupt: data/pit.redb")
                && err.contains("move it away or restore a backup"),
            "{args}: {err}"
        );
        assert!(!err.contains("panicked"), "{args}: {err}");
    }
}

#[test]
fn an_empty_store_file_is_refused_until_deleted() {
    let dir = folder();
    let run = "run --headless --for 1s --speed max --json";
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let db = dir.path().join("data/pit.redb");
    std::fs::write(&db, b"").unwrap();
    let out = pit(dir.path(), None, run);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("database data/pit.redb: the file is empty (0 bytes)")
            && err.contains("delete the file to start a new store"),
        "{err}"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "left as it was");
    std::fs::remove_file(&db).unwrap();
    let out = pit(dir.path(), None, run);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_unwritable_log_is_a_clear_error_not_a_panic() {
    let dir = folder();
    // Today's log file cannot be created (a folder stands in its place: root ignores
    // permissions, not this).
    let today = chrono::Utc::now().format("%Y-%m-%d");
    std::fs::create_dir_all(dir.path().join(format!("logs/pit.log.{today}"))).unwrap();
    let out = pit(dir.path(), None, "run --headless --for 1s --speed max");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("log.dir: cannot write a log file in logs"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
