//! Durable fill commits: one fill and its position per write transaction (fsync each),
//! and batches of 256 as the store task makes under load. Prints p50/p99 latency and
//! commits per second besides criterion's figures.

use criterion::{Criterion, criterion_group, criterion_main};
use pit::config::Config;
use pit::domain::{
    ClientOrderId, Fill, InstrumentId, Liquidity, Position, Price, Qty, Side, Timestamp,
};
use pit::store::Store;
use pit::store::writer::{StoreRecord, Writer, WriterOptions};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

fn fill_record(seq: u64) -> StoreRecord {
    let side = if seq.is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    };
    StoreRecord::Fill {
        fill: Fill {
            seq,
            ts: Timestamp::from_millis(1_767_225_600_000 + seq as i64),
            client_id: ClientOrderId::new(format!("S1-{seq}")),
            instrument: InstrumentId(0),
            side,
            price: Price(600_000 + (seq % 50) as i64),
            qty: Qty(1),
            fee: Decimal::new(3, 2),
            liquidity: Liquidity::Maker,
        },
        position: Position {
            instrument: InstrumentId(0),
            qty: if side == Side::Buy {
                Decimal::new(1, 3)
            } else {
                Decimal::ZERO
            },
            avg_price: Decimal::from(60_000),
            realized: Decimal::new(seq as i64, 4),
            fees: Decimal::new(3 * seq as i64, 2),
        },
        trip: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("bench.redb")).expect("store");
    let mut writer = Writer::new(
        store.db().clone(),
        WriterOptions {
            run: 1,
            instruments: Config::default().instrument_list(),
            batch_max: 4096,
            fills_out: None,
            gate: None,
        },
    );
    let mut seq = 0u64;
    let mut lat = Vec::new();
    c.bench_function("store/durable_fill_commit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                seq += 1;
                let rec = [fill_record(seq)];
                let t = Instant::now();
                writer.commit(&rec).expect("commit");
                let d = t.elapsed();
                lat.push(d);
                total += d;
            }
            total
        })
    });
    let mut batch_lat = Vec::new();
    c.bench_function("store/durable_batch_256_fills", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let recs: Vec<StoreRecord> = (0..256)
                    .map(|_| {
                        seq += 1;
                        fill_record(seq)
                    })
                    .collect();
                let t = Instant::now();
                writer.commit(&recs).expect("commit");
                let d = t.elapsed();
                batch_lat.push(d);
                total += d;
            }
            total
        })
    });
    lat.sort();
    batch_lat.sort();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if !lat.is_empty() {
        let mean = lat.iter().sum::<Duration>() / lat.len() as u32;
        println!(
            "durable single-fill commits: {:.0}/s, p50 {:?}, p99 {:?} ({} samples, {cores} cores)",
            1.0 / mean.as_secs_f64(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.len()
        );
    }
    if !batch_lat.is_empty() {
        let mean = batch_lat.iter().sum::<Duration>() / batch_lat.len() as u32;
        println!(
            "durable batches of 256 fills: {:.0} fills/s, commit p50 {:?}, p99 {:?} ({} samples)",
            256.0 / mean.as_secs_f64(),
            percentile(&batch_lat, 0.5),
            percentile(&batch_lat, 0.99),
            batch_lat.len()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
