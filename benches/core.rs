//! Speed targets (this 2-core machine): book level update <= 100 ns median; engine
//! >= 1,000,000 events/s with all three strategies on; a risk check well under 1 us.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pit::config::Config;
use pit::domain::OrderSpec;
use pit::domain::{
    ClientOrderId, InstrumentId, MarketEvent, MarketEventKind, OrderBook, OrderKind, OrderRequest,
    OrderTag, Owner, Price, Qty, Side, TimeInForce, Timestamp, TradingState,
};
use pit::engine::risk::{RiskCtx, RiskEngine};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::assemble;
use pit::venue::{EventFeed, MarketDataPort};
use rust_decimal::Decimal;
use std::hint::black_box;

/// A realistic stream: the simulated market's own events, seeded.
fn sim_events(n: usize) -> (Config, Vec<MarketEvent>) {
    let cfg = Config::default();
    let mut a = assemble(&cfg, 42, TradingState::Active).expect("default config");
    let events = (0..n).filter_map(|_| a.market.next_event()).collect();
    (cfg, events)
}

fn book_updates(c: &mut Criterion) {
    let (_, events) = sim_events(300_000);
    let snapshot = events
        .iter()
        .find_map(|e| match &e.kind {
            MarketEventKind::Snapshot { bids, asks } if e.instrument == InstrumentId(0) => {
                Some((bids.clone(), asks.clone()))
            }
            _ => None,
        })
        .expect("a snapshot");
    let updates: Vec<(Side, Price, Qty)> = events
        .iter()
        .filter(|e| e.instrument == InstrumentId(0))
        .filter_map(|e| match e.kind {
            MarketEventKind::Level { side, price, qty } => Some((side, price, qty)),
            _ => None,
        })
        .collect();
    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(updates.len() as u64));
    g.bench_function("level_update_stream", |b| {
        b.iter_batched_ref(
            || {
                let mut book = OrderBook::new();
                book.apply_snapshot(snapshot.0.iter().copied(), snapshot.1.iter().copied());
                book
            },
            |book| {
                for &(side, price, qty) in &updates {
                    black_box(book.update(side, price, qty));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn engine_events(c: &mut Criterion) {
    let n = 500_000;
    let (cfg, events) = sim_events(n);
    let end = events.last().map(|e| e.ts).unwrap_or_default();
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("sim_events_all_strategies", |b| {
        b.iter_batched(
            || {
                let a = assemble(&cfg, 42, TradingState::Active).expect("config");
                let feed = EventFeed::new(a.market.instruments().to_vec(), events.clone());
                Runner::new(
                    a.engine,
                    Box::new(feed),
                    Box::new(a.exec),
                    RunOptions {
                        speed: Speed::Max,
                        ..RunOptions::default()
                    },
                )
            },
            |mut r| {
                r.run_until(end);
                black_box(r.engine.summary().fills)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn risk_check(c: &mut Criterion) {
    let cfg = Config::default();
    let instruments = cfg.instrument_list();
    let (_, events) = sim_events(10);
    let mut book = OrderBook::new();
    for e in &events {
        if let (InstrumentId(0), MarketEventKind::Snapshot { bids, asks }) = (e.instrument, &e.kind)
        {
            book.apply_snapshot(bids.iter().copied(), asks.iter().copied());
        }
    }
    let mut limits = cfg.risk.clone();
    limits.max_orders_per_sec = 0;
    let mut risk = RiskEngine::new(limits);
    let best_bid = book.best_bid().expect("bid").price;
    let req = OrderRequest {
        client_id: ClientOrderId::new("bench-1"),
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Limit,
            price: Some(best_bid),
            qty: Qty(10),
            tif: TimeInForce::PostOnly,
            reduce_only: false,
        },
        owner: Owner::Strategy(0),
        tag: OrderTag::Strategy,
    };
    let now = Timestamp(1_000_000_000);
    c.bench_function("risk/check_limit_order", |b| {
        b.iter_batched(
            || req.clone(),
            |req| {
                let ctx = RiskCtx {
                    now,
                    instrument: &instruments[0],
                    book: &book,
                    last_book_update: Some(now),
                    position: Decimal::ZERO,
                    open_buy_qty: Decimal::ZERO,
                    open_sell_qty: Decimal::ZERO,
                    open_orders: 3,
                    open_on_instrument: 0,
                    venue_rules: pit::domain::VenueRulesState::not_required(),
                    duplicate_id: false,
                    day_pnl: Decimal::ZERO,
                    drawdown: Decimal::ZERO,
                    session: None,
                };
                black_box(risk.check(req, &ctx).is_ok())
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, book_updates, engine_events, risk_check);
criterion_main!(benches);
