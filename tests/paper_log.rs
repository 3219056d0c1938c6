//! The paper venue's own log, as a crash leaves it: a headless paper run killed with
//! `kill -9` at random moments, restarted, re-armed and killed again; at the end the
//! store holds every fill the venue made, exactly once, and its positions are the
//! venue's. A fill the store never got (in the log only) is applied at the restart.

use pit::store::Store;
use pit::venue::paper::journal::{FILE, LoggedFill, VenueLog};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pit(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    c.current_dir(dir);
    c
}

/// Started at full speed; returns once `pit status` answers.
fn start(dir: &Path) -> Child {
    let child = pit(dir)
        .args(["run", "--headless", "--for", "24h", "--speed", "max"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !pit(dir)
        .args(["status", "--json"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "no engine came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Every fill in the log now, by its (venue-wide) sequence number.
fn note_fills(dir: &Path, seen: &mut BTreeMap<u64, LoggedFill>) -> VenueLog {
    let log = VenueLog::read(&dir.join("data").join(FILE))
        .unwrap()
        .expect("a paper run keeps the venue's log");
    for f in &log.fills {
        if let Some(before) = seen.insert(f.seq, f.clone()) {
            assert_eq!(&before, f, "fill number {} reused", f.seq);
        }
    }
    log
}

fn signed(f: &LoggedFill) -> Decimal {
    match f.side {
        pit::domain::Side::Buy => f.qty,
        pit::domain::Side::Sell => -f.qty,
    }
}

#[test]
fn kill_9_while_trading_loses_no_fill_the_paper_venue_made_and_applies_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("config.toml"), d.join("config.toml")).unwrap();
    let mut seen = BTreeMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..5 {
        let mut child = start(d);
        if round > 0 {
            // The restart after a crash comes up HALTED; a person re-arms.
            let out = pit(d).args(["rearm", "--yes"]).output().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(700 + (rng >> 33) % 1300));
        child.kill().unwrap();
        let _ = child.wait();
        note_fills(d, &mut seen);
    }
    // A fill the venue made just before the crash that never reached the store: one
    // more line in the log, as the venue writes it.
    let log = note_fills(d, &mut seen);
    let last = log.fills.last().expect("the runs traded").clone();
    let extra = LoggedFill {
        seq: log.max_seq + 1,
        id: "M-crash".into(),
        qty: last.qty,
        ..last
    };
    let line =
        serde_json::to_string(&pit::venue::paper::journal::Line::Fill(extra.clone())).unwrap();
    let path = d.join("data").join(FILE);
    let mut text = std::fs::read_to_string(&path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    seen.insert(extra.seq, extra.clone());

    // A clean (halted) run takes in what the log has and the store lacks, then a
    // second one finds nothing more to take.
    for _ in 0..2 {
        let out = pit(d)
            .args([
                "run",
                "--headless",
                "--for",
                "1s",
                "--speed",
                "max",
                "--json",
            ])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["trading_state"], "HALTED", "{json}");
        note_fills(d, &mut seen);
    }
    let logs = std::fs::read_dir(d.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        logs.contains("fill(s) the store never got"),
        "the restart says it applied fills from the venue's log"
    );

    let store = Store::open(&d.join("data").join("pit.redb")).unwrap();
    let fills = store.fills().unwrap();
    let mut stored = BTreeMap::new();
    for f in &fills {
        assert!(
            stored.insert(f.seq, f).is_none(),
            "fill number {} stored twice",
            f.seq
        );
    }
    let lost: Vec<u64> = seen
        .keys()
        .filter(|s| !stored.contains_key(s))
        .copied()
        .collect();
    let extra: Vec<u64> = stored
        .keys()
        .filter(|s| !seen.contains_key(s))
        .copied()
        .collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "the store holds exactly the venue's {} fills: lost {lost:?}, not the venue's {extra:?}",
        seen.len()
    );
    for (seq, f) in &seen {
        let s = stored[seq];
        assert_eq!(
            (s.client_id.as_str(), s.qty, s.side.as_str()),
            (f.id.as_str(), f.qty, f.side.as_str()),
            "fill {seq}"
        );
        assert!(s.run >= f.run, "fill {seq} stored under an earlier run");
    }
    let mut net: BTreeMap<String, Decimal> = BTreeMap::new();
    for f in seen.values() {
        *net.entry(f.symbol.clone()).or_default() += signed(f);
    }
    for p in store.positions().unwrap() {
        assert_eq!(
            p.qty,
            net.get(&p.symbol).copied().unwrap_or_default(),
            "{} position is the venue's",
            p.symbol
        );
    }
}

/// A venue log that cannot be written (a full disk: here `/dev/full`) keeps the run from
/// starting, with the reason: no paper trading without the venue's record.
#[test]
fn a_venue_log_that_cannot_be_written_stops_the_start_with_the_reason() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("config.toml"), d.join("config.toml")).unwrap();
    std::fs::create_dir(d.join("data")).unwrap();
    std::os::unix::fs::symlink("/dev/full", d.join("data").join(FILE)).unwrap();
    let out = pit(d)
        .args([
            "run",
            "--headless",
            "--for",
            "2s",
            "--speed",
            "max",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the paper venue's log") && err.contains("No space left"),
        "{err}"
    );
}
