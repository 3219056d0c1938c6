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

/// Replay `lines` through the venue's decoder, applying every emitted event to a fresh
/// [`OrderBook`] per instrument as the engine does, and check after every line that each
/// book the decoder vouches for equals the one built from its events. Returns the
/// number of (line, instrument) comparisons made.
fn events_reproduce_the_decoders_books(
    name: &str,
    lines: impl IntoIterator<Item = pit::record::CaptureLine>,
) -> u64 {
    use pit::domain::{MarketEventKind, OrderBook};
    let mut decoder = None;
    let mut books: Vec<OrderBook> = Vec::new();
    let mut out = Vec::new();
    let mut compared = 0u64;
    for (n, line) in lines.into_iter().enumerate() {
        let d = decoder.get_or_insert_with(|| {
            pit::venue::exchanges::registry::discovering_decoder(&line.venue)
                .expect("a known venue")
        });
        out.clear();
        d.on_line(&line, &mut out);
        for ev in out.drain(..) {
            let i = ev.instrument.index();
            if books.len() <= i {
                books.resize_with(i + 1, OrderBook::new);
            }
            match ev.kind {
                MarketEventKind::Snapshot { bids, asks } => books[i].apply_snapshot(bids, asks),
                MarketEventKind::Level { side, price, qty } => {
                    books[i].update(side, price, qty);
                }
                MarketEventKind::Trade(_) | MarketEventKind::Resyncing { .. } => {}
            }
        }
        for (i, inst) in d.instruments().iter().enumerate() {
            if let Some(want) = d.book(i) {
                let got = books.get(i).cloned().unwrap_or_default();
                assert!(
                    &got == want,
                    "{name}: line {}: {}: the book built from the events differs from the decoder's \
                     ({} / {} bid levels, {} / {} ask levels)",
                    n + 1,
                    inst.symbol,
                    got.depth(pit::domain::Side::Buy),
                    want.depth(pit::domain::Side::Buy),
                    got.depth(pit::domain::Side::Sell),
                    want.depth(pit::domain::Side::Sell),
                );
                compared += 1;
            }
        }
    }
    compared
}

fn capture_lines(path: &Path) -> Vec<pit::record::CaptureLine> {
    pit::record::CaptureReader::open(path)
        .expect("the capture can be read")
        .collect()
}

/// The engine's book is built only from the decoder's events: after every frame of every
/// shared capture it must equal the decoder's own book (e.g. Kraken's truncation to the
/// subscribed depth must be emitted as deletes).
#[test]
fn events_reproduce_the_decoders_book_after_every_frame_of_every_capture() {
    let Some(dir) = captures() else { return };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("the captures folder can be read")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".jsonl"))
        .collect();
    entries.sort();
    let mut n = 0;
    for path in entries {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let compared = events_reproduce_the_decoders_books(&name, capture_lines(&path));
        eprintln!("{name}: {compared} book comparisons");
        assert!(compared > 100, "{name}: {compared} comparisons");
        n += 1;
    }
    assert!(n >= 4, "{n} captures");
}

/// The same through resyncs: captures with frames dropped (gaps, checksum failures) and
/// reconnects; books are compared whenever the decoder trusts its own again.
#[test]
fn events_reproduce_the_decoders_book_through_gaps_and_resyncs() {
    let Some(dir) = captures() else { return };
    for name in [
        "kraken-v2-btcusd-sample.jsonl",
        "okx-v5-2022-05-13.jsonl",
        "bybit-v5-2026-08-09.jsonl",
    ] {
        let path = dir.join(name);
        if !path.exists() {
            eprintln!("skipped: {} is absent", path.display());
            continue;
        }
        // Drop every 97th frame: a gap or checksum failure follows, then a resync (the
        // capture has no resubscription's snapshot, so a later connect line stands in).
        let lines = capture_lines(&path);
        let mut kept = Vec::with_capacity(lines.len());
        for (k, l) in lines.into_iter().enumerate() {
            if k % 97 == 96 && l.dir == pit::record::Direction::Recv {
                continue;
            }
            kept.push(l);
        }
        let compared = events_reproduce_the_decoders_books(name, kept);
        eprintln!("{name} with dropped frames: {compared} book comparisons");
    }
}
