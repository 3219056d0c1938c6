//! Replay throughput end to end: zstd, capture-line parsing, the decoder, books,
//! strategies, risk and paper fills, at max speed, on the demo recording (`recordings/`)
//! and on the Binance capture `../shared/captures/binance-spot-btcusdt-2024-08-08.jsonl`
//! (or `PIT_CAPTURES_DIR`; skipped, saying why, when absent). Target on this 2-core
//! machine: >= 1,000,000 events/s (the prefetch thread reads and decodes while the engine
//! thread runs). An event is a normalized market event the engine consumes (a book level
//! change, a snapshot, a trade); the Binance capture's `bookTicker` lines are parsed and
//! cross-checked but make no event.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pit::config::Config;
use pit::domain::TradingState;
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use std::path::PathBuf;
use std::time::Duration;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst")
}

fn binance() -> Option<PathBuf> {
    let dir = match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures"),
    };
    let path = dir.join("binance-spot-btcusdt-2024-08-08.jsonl");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "replay/binance_capture_*: skipped, {} is absent (set PIT_CAPTURES_DIR)",
            path.display()
        );
        None
    }
}

fn run_once(cfg: &Config) -> u64 {
    run_file(cfg, &demo())
}

fn run_file(cfg: &Config, path: &std::path::Path) -> u64 {
    let parts = pit::setup::assemble_replay(cfg, path, TradingState::Active).expect("recording");
    let opts = RunOptions {
        speed: Speed::Max,
        run_for: parts.run_for,
        publish_every: Duration::from_secs(3600),
        exit_grace: Duration::from_secs(3),
        ..Default::default()
    };
    let runner = Runner::new(
        parts.engine,
        Box::new(parts.market),
        Box::new(parts.exec),
        opts,
    );
    let (_tx, rx) = std::sync::mpsc::channel();
    runner.run(rx, None).summary.events
}

fn replay(c: &mut Criterion) {
    let cfg = Config::default();
    let events = run_once(&cfg);
    let mut g = c.benchmark_group("replay");
    g.sample_size(20);
    g.throughput(Throughput::Elements(events));
    g.bench_function("demo_recording_end_to_end", |b| b.iter(|| run_once(&cfg)));
    // The prefetch side alone: zstd, capture lines, the sim decoder.
    g.bench_function("demo_recording_read_and_decode", |b| {
        b.iter(|| {
            use pit::venue::MarketDataPort;
            let mut f = pit::venue::feed::replay::ReplayFeed::open(&demo(), &cfg.instrument_list())
                .expect("demo");
            let mut n = 0u64;
            while f.next_event().is_some() {
                n += 1;
            }
            n
        })
    });
    if let Some(path) = binance() {
        let events = run_file(&cfg, &path);
        g.throughput(Throughput::Elements(events));
        g.bench_function("binance_capture_end_to_end", |b| {
            b.iter(|| run_file(&cfg, &path))
        });
        g.bench_function("binance_capture_read_and_decode", |b| {
            b.iter(|| {
                use pit::venue::MarketDataPort;
                let mut f =
                    pit::venue::feed::replay::ReplayFeed::open(&path, &cfg.instrument_list())
                        .expect("capture");
                let mut n = 0u64;
                while f.next_event().is_some() {
                    n += 1;
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
