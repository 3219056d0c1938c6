//! A capture whose connections were recorded one after another (the shared Bybit capture:
//! the linear connection's lines, then the spot connection's, receive times going back to
//! the start) replays in receive-time order: engine time never goes back, every book is
//! live over the same stretch of market time, and the replay says what it did.

use pit::venue::MarketDataPort;
use pit::venue::feed::replay::ReplayFeed;
use std::path::PathBuf;

const BYBIT: &str = "bybit-v5-2026-08-09.jsonl";

fn capture() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PIT_CAPTURES_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root.join("../shared/captures"));
    dirs.push(root.join("../../shared/captures"));
    let found = dirs
        .into_iter()
        .map(|d| d.join(BYBIT))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("skipped: {BYBIT} not found in ../shared/captures (set PIT_CAPTURES_DIR)");
    }
    found
}

#[test]
fn connections_recorded_one_after_another_replay_in_receive_time_order() {
    let Some(path) = capture() else { return };
    let mut feed = ReplayFeed::open(&path, &[]).expect("open");
    let n = feed.instruments().len();
    assert_eq!(n, 6, "{:?}", feed.instruments());
    let note = feed
        .grid_notes()
        .iter()
        .find(|x| x.contains("merged by receive time"))
        .cloned()
        .expect("the notes say the connections were merged");
    assert!(
        note.contains("2 ") || note.contains("connections"),
        "{note}"
    );
    let mut last = i64::MIN;
    let mut back = 0;
    let mut first = vec![None; n];
    let mut latest = vec![0i64; n];
    while let Some(e) = feed.next_event() {
        if e.ts.0 < last {
            back += 1;
        }
        last = last.max(e.ts.0);
        let i = e.instrument.index();
        first[i].get_or_insert(e.ts.0);
        latest[i] = e.ts.0;
    }
    assert_eq!(back, 0, "engine time never goes back");
    // Every book starts within the first seconds and runs to the end: the spot books are
    // not all squeezed after the linear ones.
    let start = first.iter().flatten().min().copied().unwrap();
    let end = latest.iter().max().copied().unwrap();
    for i in 0..n {
        let f = first[i].expect("every instrument has events");
        assert!(f - start < 5_000_000_000, "instrument {i} starts late");
        assert!(end - latest[i] < 5_000_000_000, "instrument {i} ends early");
    }
    let report = feed.report();
    assert!(
        report
            .receive_order
            .as_deref()
            .is_some_and(|r| r.contains("merged")),
        "{:?}",
        report.receive_order
    );
}
