//! Replay throughput end to end: zstd, capture-line parsing, the sim decoder, books,
//! strategies, risk and paper fills, on the demo recording (`recordings/`), at max speed.
//! Target on this 2-core machine: >= 1,000,000 events/s (the prefetch thread reads and
//! decodes while the engine thread runs).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pit::config::Config;
use pit::domain::TradingState;
use pit::runner::{RunOptions, Runner, Speed};
use std::path::PathBuf;
use std::time::Duration;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst")
}

fn run_once(cfg: &Config) -> u64 {
    let parts = pit::setup::assemble_replay(cfg, &demo(), TradingState::Active).expect("demo");
    let opts = RunOptions {
        speed: Speed::Max,
        run_for: parts.run_for,
        publish_every: Duration::from_secs(3600),
        exit_grace: Duration::from_secs(3),
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
            let mut f = pit::venue::replay::ReplayFeed::open(&demo(), &cfg).expect("demo");
            let mut n = 0u64;
            while f.next_event().is_some() {
                n += 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
