//! Conformance: every real capture in `../shared/captures/` replayed through its venue's
//! decoder must pass the venue's own integrity rules. Skipped, saying why, when the folder
//! is absent.

use pit::venue::verify::{VerifyReport, verify_file};
use std::path::{Path, PathBuf};

/// `../shared/captures` beside the crate, or `PIT_CAPTURES_DIR` when set (a worktree
/// whose parent holds no `shared/`).
fn captures_dir() -> PathBuf {
    match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures"),
    }
}

fn captures() -> Option<PathBuf> {
    let dir = captures_dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn verify(name: &str) -> Option<VerifyReport> {
    let path = captures()?.join(name);
    if !path.exists() {
        eprintln!("skipped: {} is absent", path.display());
        return None;
    }
    let r = verify_file(&path).expect("the capture can be replayed");
    eprintln!("{}", r.to_text());
    assert!(!r.failed(), "{name}: an integrity check failed");
    assert_eq!(r.skipped_lines, 0);
    assert_eq!(r.unattributed_malformed, 0);
    for (n, s) in &r.instruments {
        assert_eq!(s.malformed, 0, "{n}");
        assert_eq!(s.resyncs, 0, "{n}");
    }
    Some(r)
}

#[test]
fn binance_syncs_without_gaps_and_every_matching_book_ticker_agrees() {
    let Some(r) = verify("binance-spot-btcusdt-2024-08-08.jsonl") else {
        return;
    };
    let s = &r.instruments["BTCUSDT"];
    assert_eq!(s.gaps, 0);
    assert_eq!(s.bbo_checks_passed, 564);
    assert_eq!(s.bbo_checks_failed, 0);
    assert!(s.updates > 3000, "{}", s.updates);
}

#[test]
fn bybit_sequences_are_contiguous_and_books_never_cross() {
    let Some(r) = verify("bybit-v5-2026-08-09.jsonl") else {
        return;
    };
    let names: Vec<_> = r.instruments.keys().cloned().collect();
    for want in [
        "linear/BTCUSDT",
        "linear/ETHUSDT",
        "linear/SOLUSDT",
        "linear/DOGEUSDT",
        "spot/BTCUSDT",
        "spot/ETHUSDT",
    ] {
        let s = r
            .instruments
            .get(want)
            .unwrap_or_else(|| panic!("{want} in {names:?}"));
        assert!(s.updates > 200, "{want}: {}", s.updates);
        assert_eq!((s.gaps, s.crossed), (0, 0), "{want}");
    }
}

#[test]
fn kraken_every_checksum_matches() {
    let Some(r) = verify("kraken-v2-btcusd-sample.jsonl") else {
        return;
    };
    let s = &r.instruments["BTC/USD"];
    assert_eq!((s.checksums_checked, s.checksums_failed), (2052, 0));
}

#[test]
fn okx_every_nonzero_checksum_matches() {
    let Some(r) = verify("okx-v5-2022-05-13.jsonl") else {
        return;
    };
    let checked: u64 = r.instruments.values().map(|s| s.checksums_checked).sum();
    let failed: u64 = r.instruments.values().map(|s| s.checksums_failed).sum();
    assert_eq!((checked, failed), (290, 0));
}

#[test]
fn every_capture_in_the_folder_verifies() {
    let Some(dir) = captures() else { return };
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("the captures folder can be read")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".jsonl"))
        .collect();
    entries.sort();
    for path in entries {
        let r = verify_file(&path).expect("the capture can be replayed");
        assert!(!r.failed(), "{}: {}", path.display(), r.to_text());
        n += 1;
    }
    assert!(n >= 4, "{n} captures");
}

#[test]
fn the_binary_prints_json_and_exits_zero() {
    let Some(dir) = captures() else { return };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .args(["verify", "--json"])
        .arg(dir.join("kraken-v2-btcusd-sample.jsonl"))
        .output()
        .expect("pit runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let s = &v["instruments"]["BTC/USD"];
    for k in [
        "frames",
        "updates",
        "gaps",
        "resyncs",
        "checksums_checked",
        "checksums_failed",
        "bbo_checks_passed",
        "bbo_checks_failed",
        "crossed",
    ] {
        assert!(s[k].is_u64(), "{k}: {s}");
    }
    assert_eq!(s["checksums_checked"], 2052);
}

#[test]
fn a_corrupted_capture_fails_verification() {
    let Some(dir) = captures() else { return };
    let text =
        std::fs::read_to_string(dir.join("kraken-v2-btcusd-sample.jsonl")).expect("readable");
    // Drop the first 50 book updates: a later checksum cannot match (one dropped update
    // may touch only levels below the checksummed top 10).
    let mut dropped = 0;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            if dropped < 50 && l.contains(r#"\"channel\":\"book\",\"type\":\"update\""#) {
                dropped += 1;
                return false;
            }
            true
        })
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("k.jsonl");
    std::fs::write(&path, kept.join("\n")).expect("writable");
    let r = verify_file(&path).expect("replayable");
    assert!(r.failed());
    let s = &r.instruments["BTC/USD"];
    assert!(s.checksums_failed >= 1 && s.resyncs >= 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .arg("verify")
        .arg(&path)
        .output()
        .expect("pit runs");
    assert_eq!(out.status.code(), Some(1));
}
