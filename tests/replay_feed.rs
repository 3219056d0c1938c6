//! Recordings read back through `ReplayFeed`: the simulated market as assembled from the
//! default config, written to capture lines (one file, or rotated files that each start
//! with the header and the books) and replayed to the very same events.

use pit::config::Config;
use pit::domain::{InstrumentId, MarketEventKind, TradingState};
use pit::record::CaptureWriter;
use pit::venue::MarketDataPort;
use pit::venue::feed::replay::ReplayFeed;
use pit::venue::sim::wire::{self, RecordingFeed};

#[test]
fn a_recording_replays_to_the_same_events_torn_last_line_and_all() {
    let cfg = Config::default();
    let mut a = pit::setup::assemble(&cfg, 3, TradingState::Active).unwrap();
    let events: Vec<_> = (0..20_000).filter_map(|_| a.market.next_event()).collect();
    let dir = tempfile::tempdir().unwrap();
    for name in ["r.jsonl", "r.jsonl.zst"] {
        let path = dir.path().join(name);
        let mut w = CaptureWriter::create(&path).unwrap();
        let h = wire::Header::new(cfg.instrument_list(), events[0].ts, None);
        w.write(&h.line(events[0].ts)).unwrap();
        for e in &events {
            w.write(&wire::line(e.ts, wire::encode(e))).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        if name == "r.jsonl" {
            // A crash mid-write: half a line at the end.
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(br#"{"ts_ns":1,"venue":"sim","dir":"recv","url":"sim:"#)
                .unwrap();
        }
        let mut feed = ReplayFeed::open(&path, &cfg.instrument_list()).unwrap();
        assert_eq!(feed.instruments(), &cfg.instrument_list()[..]);
        assert_eq!(feed.start_time(), events[0].ts);
        let mut got = Vec::new();
        while let Some(e) = feed.next_event() {
            got.push(e);
        }
        assert!(feed.is_finished());
        assert_eq!(got, events, "{name}");
        let r = feed.report();
        assert!(r.done);
        let torn = if name == "r.jsonl" { 1 } else { 0 };
        assert_eq!(r.skipped, torn, "{name}: {r:?}");
        if torn == 1 {
            assert!(r.skipped_lines[0].reason.contains("torn"), "{r:?}");
        }
    }
}

#[test]
fn rotated_files_start_with_the_header_and_the_books_and_replay_alone() {
    let cfg = Config::default();
    let dir = tempfile::tempdir().unwrap();
    let rc = pit::record::RecordConfig {
        dir: dir.path().to_path_buf(),
        rotate_mb: 1,
        rotate_minutes: 0,
        compress: true,
    };
    let a = pit::setup::assemble(&cfg, 5, TradingState::Active).unwrap();
    let start = pit::setup::SIM_EPOCH;
    let rec = pit::record::Recorder::rotating(rc, "sim");
    let files = rec.files();
    let mut feed = RecordingFeed::new(a.market, rec, start, None);
    let end = start + std::time::Duration::from_secs(30);
    let mut events = Vec::new();
    while feed.peek_time().is_some_and(|t| t <= end) {
        events.push(feed.next_event().unwrap());
    }
    drop(feed);
    let files = files.lock().unwrap().clone();
    assert!(files.len() >= 3, "{files:?}");
    let mut replayed = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let mut r = ReplayFeed::open(f, &cfg.instrument_list()).unwrap();
        assert_eq!(r.instruments(), &cfg.instrument_list()[..]);
        let mut evs: Vec<_> = std::iter::from_fn(|| r.next_event()).collect();
        if n > 0 {
            // One snapshot per instrument first: the books as they stood.
            for (i, e) in evs.drain(..2).enumerate() {
                assert_eq!(e.instrument, InstrumentId(i as u16));
                match e.kind {
                    MarketEventKind::Snapshot { bids, asks } => {
                        assert!(bids.len() >= 5 && asks.len() >= 5)
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        replayed.extend(evs);
    }
    assert_eq!(replayed, events);
}
