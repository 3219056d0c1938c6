//! Frame to book update, per venue, on its shared capture: decode + apply only (the lines
//! are read into memory first). Reports time per frame and throughput in bytes of frame
//! text. Target: >= 200 MB/s of Binance depth frames.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pit::record::{CaptureLine, CaptureReader, Direction};
use pit::venue::exchanges::registry::discovering_decoder;
use std::path::Path;

fn load(name: &str, keep: impl Fn(&CaptureLine) -> bool) -> Option<Vec<CaptureLine>> {
    let dir = match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures"),
    };
    let path = dir.join(name);
    if !path.exists() {
        eprintln!("skipped: {} is absent", path.display());
        return None;
    }
    Some(CaptureReader::open(&path).ok()?.filter(keep).collect())
}

fn bench_venue(c: &mut Criterion, label: &str, venue: &str, lines: &[CaptureLine]) {
    let bytes: usize = lines.iter().map(|l| l.frame.len()).sum();
    let mut g = c.benchmark_group(label);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    eprintln!("{label}: {} frames, {bytes} bytes", lines.len());
    g.bench_function("decode+apply", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            let mut d = discovering_decoder(venue).expect("decoder");
            for l in lines {
                out.clear();
                d.on_line(l, &mut out);
            }
            d.stats()
        })
    });
    g.finish();
}

fn venues(c: &mut Criterion) {
    // Binance: the snapshot and the depth diffs only (what the 200 MB/s target is about).
    if let Some(lines) = load("binance-spot-btcusdt-2024-08-08.jsonl", |l| {
        l.dir == Direction::Http || l.frame.contains("depthUpdate")
    }) {
        bench_venue(c, "binance_depth", "binance", &lines);
    }
    for (label, venue, file) in [
        ("bybit", "bybit", "bybit-v5-2026-08-09.jsonl"),
        ("kraken", "kraken", "kraken-v2-btcusd-sample.jsonl"),
        ("okx", "okx", "okx-v5-2022-05-13.jsonl"),
    ] {
        if let Some(lines) = load(file, |l| {
            l.dir == Direction::Recv || l.dir == Direction::Http
        }) {
            bench_venue(c, label, venue, &lines);
        }
    }
}

criterion_group!(benches, venues);
criterion_main!(benches);
