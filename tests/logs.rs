//! Logs, as a user meets them: a flood of malformed frames gives a small log that says how
//! much it left out; `RUST_LOG` overrides `log.level`; a bad level is refused at start.

use std::path::Path;
use std::process::{Command, Output};

fn pit(dir: &Path) -> Command {
    // An empty config in the folder: the built-in defaults, with the store and logs in
    // this folder (without one they would go to the user's data folder).
    if !dir.join("config.toml").exists() {
        std::fs::write(dir.join("config.toml"), "").expect("write config.toml");
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env_remove("PIT_CONFIG");
    c
}

fn logs(dir: &Path) -> (u64, String) {
    let mut size = 0;
    let mut text = String::new();
    for e in std::fs::read_dir(dir.join("logs")).expect("logs/") {
        let p = e.unwrap().path();
        size += std::fs::metadata(&p).unwrap().len();
        text.push_str(&std::fs::read_to_string(&p).unwrap());
    }
    (size, text)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_flood_of_malformed_frames_gives_a_small_log_with_the_suppressed_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = String::new();
    for i in 0..100_000 {
        rec.push_str(&format!(
            "{{\"ts_ns\":{},\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"sim:\",\"frame\":\"garbage {i}\"}}\n",
            1_000 + i
        ));
    }
    for i in 0..1_000 {
        rec.push_str(&format!("not a capture line {i}\n"));
    }
    std::fs::write(dir.path().join("flood.jsonl"), rec).unwrap();
    let out = pit(dir.path())
        .args(["replay", "--headless", "flood.jsonl"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let (size, text) = logs(dir.path());
    // One line per frame would be several MB; a handful of lines per kind is a few KB.
    assert!(size < 20_000, "log is {size} bytes:\n{text}");
    assert_eq!(text.matches("sim frame malformed").count(), 10, "{text}");
    assert!(
        text.contains("99990 more 'feed.malformed' warnings suppressed"),
        "{text}"
    );
    assert!(
        text.contains("990 more 'capture.skipped' warnings suppressed"),
        "{text}"
    );
}

fn headless_run(dir: &Path, rust_log: Option<&str>) -> Output {
    std::fs::write(dir.join("c.toml"), "[log]\nlevel = \"warn\"\n").unwrap();
    let mut c = pit(dir);
    if let Some(v) = rust_log {
        c.env("RUST_LOG", v);
    }
    c.args([
        "--config",
        "c.toml",
        "run",
        "--headless",
        "--for",
        "2s",
        "--speed",
        "max",
    ])
    .output()
    .unwrap()
}

#[test]
fn rust_log_overrides_the_configured_level() {
    let quiet = tempfile::tempdir().unwrap();
    let out = headless_run(quiet.path(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, text) = logs(quiet.path());
    assert!(!text.contains("DEBUG"), "log.level = warn:\n{text}");

    let loud = tempfile::tempdir().unwrap();
    let out = headless_run(loud.path(), Some("debug"));
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, text) = logs(loud.path());
    assert!(text.contains("DEBUG"), "RUST_LOG=debug:\n{text}");
    assert!(text.contains("order sent"), "{text}");
    assert!(text.contains("log filter from RUST_LOG"), "{text}");
}

#[test]
fn a_bad_rust_log_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = headless_run(dir.path(), Some("verbose"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("RUST_LOG: unknown level 'verbose'"),
        "{}",
        stderr(&out)
    );
}

/// The log is part of what pit records: when it cannot be written (here today's file is
/// `/dev/full`: "No space left on device"), the run stops trading as for a failed store:
/// HALTED with the reason, and a headless run exits non-zero (4, ended HALTED).
#[test]
fn a_log_that_cannot_be_written_halts_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    std::os::unix::fs::symlink("/dev/full", logs.join(format!("pit.log.{today}"))).unwrap();
    let out = pit(dir.path())
        .args([
            "run",
            "--headless",
            "--json",
            "--for",
            "20s",
            "--speed",
            "max",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(4), "ended HALTED: {err}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("log write failed") && summary.contains("No space left"),
        "the halt says why: {summary}"
    );
}
