//! Durable fill commits: one fill and its position per write transaction (fsync each),
//! and batches of 256 as the store task makes under load. Prints p50/p99 latency and
//! commits per second besides criterion's figures. And a restart's recovery on stores with
//! a short and a long order history: it reads the open-order index, so its cost should
//! not follow the history (the ratio is printed).

use criterion::{Criterion, criterion_group, criterion_main};
use pit::config::Config;
use pit::domain::{
    ClientOrderId, Fill, InstrumentId, Liquidity, Order, OrderKind, OrderRequest, OrderSpec,
    OrderStatus, OrderTag, Owner, Position, Price, Qty, Side, TimeInForce, Timestamp,
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
            fee_base: rust_decimal::Decimal::ZERO,
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
            day_boundary: pit::domain::TimeOfDay::MIDNIGHT,
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

fn order_record(n: u64, status: OrderStatus) -> StoreRecord {
    let req = OrderRequest {
        client_id: ClientOrderId::new(format!("S1-{n}")),
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: if n.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            kind: OrderKind::Limit,
            price: Some(Price(600_000 + (n % 50) as i64)),
            qty: Qty(1),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        owner: Owner::Strategy(0),
        tag: OrderTag::Strategy,
    };
    let mut o = Order::new(req, Timestamp::from_millis(1_767_225_600_000 + n as i64));
    o.status = status;
    StoreRecord::Order(o)
}

/// A store whose run 1 placed `history` orders, all closed but the last two.
fn store_with_history(dir: &std::path::Path, history: u64) -> (Store, Writer) {
    let store = Store::open(&dir.join(format!("restart-{history}.redb"))).expect("store");
    let mut writer = Writer::new(
        store.db().clone(),
        WriterOptions {
            run: 1,
            instruments: Config::default().instrument_list(),
            batch_max: 4096,
            fills_out: None,
            gate: None,
            day_boundary: pit::domain::TimeOfDay::MIDNIGHT,
        },
    );
    let mut n = 0;
    while n < history {
        let recs: Vec<StoreRecord> = (n..(n + 10_000).min(history))
            .map(|i| order_record(i, OrderStatus::Cancelled))
            .collect();
        n += recs.len() as u64;
        writer.commit(&recs).expect("commit");
    }
    (store, writer)
}

fn restart(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let instruments = Config::default().instrument_list();
    let mut medians = Vec::new();
    for history in [1_000u64, 100_000] {
        let (store, mut writer) = store_with_history(dir.path(), history);
        let mut times = Vec::new();
        c.bench_function(&format!("store/restart_recover_{history}_orders"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    // Two orders left open by a crash, settled by each recovery.
                    let open = [
                        order_record(history + 2 * i, OrderStatus::Acked),
                        order_record(history + 2 * i + 1, OrderStatus::Acked),
                    ];
                    writer.commit(&open).expect("commit");
                    let t = Instant::now();
                    let rec = store.recover(&instruments, false).expect("recover");
                    let d = t.elapsed();
                    assert_eq!(rec.counts.orders_cancelled, 2);
                    times.push(d);
                    total += d;
                }
                total
            })
        });
        times.sort();
        medians.push((history, percentile(&times, 0.5)));
    }
    if let [(short, a), (long, b)] = medians[..] {
        println!(
            "restart recovery: median {a:?} with {short} orders of history, {b:?} with {long} \
             ({:.2}x for {}x the history)",
            b.as_secs_f64() / a.as_secs_f64(),
            long / short
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench, restart
}
criterion_main!(benches);
