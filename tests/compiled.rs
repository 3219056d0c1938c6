//! `pit compile` with the real binary: a compiled recording backtests to the very fills and
//! report of its source (a recording of the simulated market, and the shared Binance
//! capture when it is there); a corrupt, torn or other-version file, a file compiled with
//! other decoding settings and a missing recording are clear errors or notes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pit"))
}

/// pit started in `dir` as a new user would, with the user config and data folders
/// inside `dir` too.
fn pit_at(dir: &Path) -> Command {
    let mut c = pit();
    c.current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env_remove("PIT_CONFIG");
    c
}

fn cfg() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config.toml")
        .to_string_lossy()
        .to_string()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    pit_at(dir)
        .args(["--config", &cfg()])
        .args(args)
        .output()
        .expect("run pit")
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "pit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The same backtest report, but for what names the file and the wall clock.
fn same_report(a: &serde_json::Value, b: &serde_json::Value) {
    let mut a = a.clone();
    let mut b = b.clone();
    for k in ["recording", "wall_seconds", "events_per_second", "notes"] {
        a[k] = serde_json::Value::Null;
        b[k] = serde_json::Value::Null;
    }
    assert_eq!(a, b);
}

fn compile_and_compare(dir: &Path, source: &str) -> (serde_json::Value, PathBuf) {
    let c = json(dir, &["compile", source, "--out", "c.pitev", "--json"]);
    assert!(c["events"].as_u64().unwrap() > 0, "{c}");
    let from_json = json(dir, &["backtest", source, "--json"]);
    let compiled = json(dir, &["backtest", "c.pitev", "--json"]);
    assert!(
        from_json["fills"].as_u64().unwrap() > 0,
        "it trades: {from_json}"
    );
    assert_eq!(compiled["fill_log_sha256"], from_json["fill_log_sha256"]);
    same_report(&from_json, &compiled);
    let notes = compiled["notes"].to_string();
    assert!(notes.contains("compiled events"), "{notes}");
    (compiled, dir.join("c.pitev"))
}

#[test]
fn a_compiled_recording_backtests_to_the_fills_of_its_source_and_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rec = json(
        d,
        &[
            "record",
            "--for",
            "60s",
            "--speed",
            "max",
            "--json",
            "--out",
            "rec.jsonl",
        ],
    );
    assert!(rec["fills"].as_u64().unwrap() > 0);
    let (_, file) = compile_and_compare(d, "rec.jsonl");
    let good = std::fs::read(&file).unwrap();

    // A replay reads it too.
    let r = json(
        d,
        &[
            "replay",
            "c.pitev",
            "--headless",
            "--speed",
            "max",
            "--json",
        ],
    );
    assert_eq!(r["fill_log_sha256"], rec["fill_log_sha256"], "{r}");

    // A flipped byte in the middle: an error naming the file and the byte.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(d.join("bad.pitev"), &bad).unwrap();
    let o = run(d, &["backtest", "bad.pitev"]);
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("bad.pitev: corrupt compiled event file at byte ") && e.contains("crc32"),
        "{e}"
    );

    // Cut short: the whole blocks before the cut are used, and the report says so.
    std::fs::write(d.join("torn.pitev"), &good[..good.len() * 3 / 4]).unwrap();
    let t = json(d, &["backtest", "torn.pitev", "--json"]);
    let notes = t["notes"].to_string();
    assert!(notes.contains("torn.pitev: torn at byte "), "{notes}");
    assert!(notes.contains("events before it are used"), "{notes}");
    let all = json(d, &["backtest", "c.pitev", "--json"]);
    assert!(t["events"].as_u64() < all["events"].as_u64(), "{t}");

    // Another format version: compile again.
    let mut v2 = good.clone();
    v2[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(d.join("v2.pitev"), &v2).unwrap();
    let o = run(d, &["backtest", "v2.pitev"]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("v2.pitev: a compiled event file of format version 2")
            && e.contains("compile the recording again"),
        "{e}"
    );

    // Other decoding settings than the config's: compile again.
    let o = run(
        d,
        &["backtest", "c.pitev", "--set", "book.sanity_band_pct=5"],
    );
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("book.sanity_band_pct") && e.contains("compile it again with this config"),
        "{e}"
    );

    // A missing recording.
    let o = run(d, &["compile", "nowhere.jsonl", "--out", "n.pitev"]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("nowhere.jsonl") && e.contains("No such file"),
        "{e}"
    );
    assert!(!d.join("n.pitev").exists());
}

/// The shared Binance capture (`../shared/captures/`, or `$PIT_CAPTURES_DIR`).
fn binance() -> Option<PathBuf> {
    const NAME: &str = "binance-spot-btcusdt-2024-08-08.jsonl";
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PIT_CAPTURES_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root.join("../shared/captures"));
    dirs.push(root.join("../../shared/captures"));
    let found = dirs.into_iter().map(|d| d.join(NAME)).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("skipped: {NAME} not found in ../shared/captures (set PIT_CAPTURES_DIR)");
    }
    found
}

#[test]
fn the_compiled_binance_capture_backtests_to_the_fills_of_the_capture() {
    let Some(path) = binance() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (bt, _) = compile_and_compare(dir.path(), path.to_str().unwrap());
    // The fingerprint README and /work/hashes.sh quote for the capture.
    assert!(
        bt["fill_log_sha256"]
            .as_str()
            .unwrap()
            .starts_with("55e85d59"),
        "{bt}"
    );
}
