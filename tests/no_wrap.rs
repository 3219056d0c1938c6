//! No arithmetic on prices, sizes or PnL wraps. Books and trades at the edges of what a
//! price or size can hold (one tick, `i64::MAX` ticks, `i64::MAX` lots) go straight into
//! the engine (past the decoders' sanity bands, as a decoder bug would let them), with
//! every strategy on, a person trading and the kill switch pressed. Tests build with
//! overflow checks, so any wrap anywhere on that path (marks, PnL, risk, the paper
//! venue's fills, the strategies' signals, the published view) fails the test as a
//! panic instead of trading on a wrapped number.

use pit::config::Config;
use pit::domain::{
    InstrumentId, Level, MarketEvent, MarketEventKind, OrderKind, OrderSpec, Price, Qty, Side,
    TimeInForce, TradeTick, TradingState,
};
use pit::engine::{Command, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use pit::venue::EventFeed;
use proptest::prelude::*;
use std::time::Duration;

const STEP_MS: u64 = 100;

/// A price or size drawn from the edges as often as from the ordinary middle.
fn extreme() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(1i64),
        Just(i64::MAX),
        Just(i64::MAX - 1),
        Just(i64::MAX / 2),
        Just(i64::MAX / 3),
        1i64..1_000_000,
        1i64..i64::MAX,
    ]
}

#[derive(Clone, Debug)]
enum Step {
    /// A book around `base`: `spread` ticks wide, three levels a side of these sizes.
    Book {
        base: i64,
        spread: i64,
        sizes: [i64; 6],
    },
    Trade {
        price: i64,
        qty: i64,
        buy: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (extreme(), 1i64..50, prop::array::uniform6(extreme()))
            .prop_map(|(base, spread, sizes)| Step::Book { base, spread, sizes }),
        1 => (extreme(), extreme(), any::<bool>())
            .prop_map(|(price, qty, buy)| Step::Trade { price, qty, buy }),
    ]
}

fn event(i: usize, step: &Step) -> MarketEvent {
    let ts = SIM_EPOCH + Duration::from_millis(STEP_MS * (i as u64 + 1));
    let kind = match *step {
        Step::Book {
            base,
            spread,
            sizes,
        } => {
            // Keep the book uncrossed and inside the i64 range: bids at and under `bid`,
            // asks at and over `ask`, whatever the base.
            let bid = base.clamp(3, i64::MAX - spread - 3);
            let ask = bid + spread;
            let bids = (0..3)
                .map(|k| Level {
                    price: Price(bid - k),
                    qty: Qty(sizes[k as usize]),
                })
                .collect();
            let asks = (0..3)
                .map(|k| Level {
                    price: Price(ask + k),
                    qty: Qty(sizes[3 + k as usize]),
                })
                .collect();
            MarketEventKind::Snapshot { bids, asks }
        }
        Step::Trade { price, qty, buy } => MarketEventKind::Trade(TradeTick {
            ts,
            price: Price(price),
            qty: Qty(qty),
            aggressor: if buy { Side::Buy } else { Side::Sell },
        }),
    };
    MarketEvent {
        ts,
        instrument: InstrumentId(0),
        kind,
    }
}

fn manual(side: Side, kind: OrderKind, price: Option<i64>, lots: i64) -> Command {
    Command::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
            kind,
            price: price.map(Price),
            qty: Qty(lots),
            tif: if kind == OrderKind::Market {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            reduce_only: false,
        },
        client_id: None,
    })
}

/// Every strategy on, with windows short enough to act within the test's minute.
fn config() -> Config {
    let mut cfg = Config::default();
    cfg.strategies.vwap_revert.enabled = true;
    cfg.strategies.orb.enabled = true;
    cfg.risk.stale_data_ms = 0;
    cfg
}

fn run(steps: &[Step], person: &[(usize, Side, bool, Option<i64>, i64)]) {
    let cfg = config();
    let a = assemble(&cfg, 1, TradingState::Active).expect("assemble");
    let events: Vec<MarketEvent> = steps.iter().enumerate().map(|(i, s)| event(i, s)).collect();
    let feed = EventFeed::new(cfg.instrument_list(), events);
    let mut r = Runner::new(
        a.engine,
        Box::new(feed),
        Box::new(a.exec),
        RunOptions {
            speed: Speed::Max,
            ..RunOptions::default()
        },
    );
    let mut done = 0;
    for &(at, side, market, price, lots) in person {
        let t = SIM_EPOCH + Duration::from_millis(STEP_MS * at as u64 + STEP_MS / 2);
        r.run_until(t);
        let kind = if market {
            OrderKind::Market
        } else {
            OrderKind::Limit
        };
        r.command(manual(
            side,
            kind,
            price.or(Some(1)).filter(|_| !market),
            lots,
        ));
        done += 1;
    }
    assert_eq!(done, person.len());
    let end = SIM_EPOCH + Duration::from_millis(STEP_MS * (steps.len() as u64 + 20));
    r.run_until(end);
    r.command(Command::Flatten(None));
    r.command(Command::KillSwitch);
    r.run_until(end + Duration::from_secs(2));
    // The published view and the summary are built from the same figures.
    let view = r.engine.view();
    let _ = format!("{:?}", view.pnl);
    let summary = r.engine.summary();
    assert_eq!(summary.trading_state, TradingState::Halted);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn edge_prices_and_sizes_never_wrap(
        steps in prop::collection::vec(step(), 20..200),
        person in prop::collection::vec(
            (0usize..200, prop_oneof![Just(Side::Buy), Just(Side::Sell)], any::<bool>(),
             prop::option::of(extreme()), prop_oneof![Just(1i64), Just(1_000), extreme()]),
            0..6,
        ),
    ) {
        let mut person = person;
        person.retain(|p| p.0 < steps.len());
        person.sort_by_key(|p| p.0);
        run(&steps, &person);
    }
}

/// The cases the generator above reaches only by luck, written out: a book at the top of
/// the range that the market maker quotes around and a person buys into, then a trade
/// printing at one tick.
#[test]
fn a_book_at_the_top_of_the_range_and_a_trade_at_one_tick() {
    let top = Step::Book {
        base: i64::MAX,
        spread: 2,
        sizes: [i64::MAX; 6],
    };
    let mut steps = vec![top; 150];
    steps.push(Step::Trade {
        price: 1,
        qty: i64::MAX,
        buy: false,
    });
    steps.extend(std::iter::repeat_n(
        Step::Book {
            base: 1,
            spread: 1,
            sizes: [1, i64::MAX, 1, i64::MAX, 1, i64::MAX],
        },
        50,
    ));
    run(
        &steps,
        &[
            (10, Side::Buy, true, None, 1),
            (20, Side::Sell, false, Some(i64::MAX), 1_000),
            (160, Side::Sell, true, None, 1),
        ],
    );
}
