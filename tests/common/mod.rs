//! A hand-made engine view for the console's tests and bench: two books, a position,
//! open orders (one of ours resting at a book level with its queue position), alerts
//! (one critical), strategies and a tape.
#![allow(dead_code)]

use pit::app::ConsoleConfig;
use pit::domain::OrderSpec;
use pit::domain::{
    ClientOrderId, Instrument, InstrumentId, Level, Order, OrderKind, OrderRequest, OrderStatus,
    OrderTag, Owner, Position, Price, Qty, Side, TimeInForce, Timestamp, TradeTick, TradingState,
};
use pit::domain::{Fill, Liquidity};
use pit::engine::blotter::{FillRecord, OrderRecord, OrderStep, StepKind};
use pit::engine::view::{EngineView, HealthView, MarketView, PnlView, PositionView, StrategyView};
use pit::engine::{Alert, AlertLevel, KillProgress};
use pit::ui::App;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;

/// 2024-08-08 12:00:00.000 UTC.
pub const NOON_MS: i64 = 1_723_075_200_000 + 12 * 3_600_000;

pub fn ts(ms_after_noon: i64) -> Timestamp {
    Timestamp::from_millis(NOON_MS + ms_after_noon)
}

pub fn btc() -> Instrument {
    Instrument::new(
        InstrumentId(0),
        "BTC-USD",
        "sim",
        dec!(0.1),
        dec!(0.001),
        Qty(1),
    )
}

pub fn eth() -> Instrument {
    Instrument::new(
        InstrumentId(1),
        "ETH-USD",
        "sim",
        dec!(0.01),
        dec!(0.01),
        Qty(1),
    )
}

fn levels(best: i64, step: i64, sizes: &[i64]) -> Vec<Level> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, s)| Level::new(Price(best + step * i as i64), Qty(*s)))
        .collect()
}

fn order(
    id: &str,
    inst: InstrumentId,
    owner: Owner,
    side: Side,
    price: Option<i64>,
    qty: i64,
    created_ms: i64,
) -> Order {
    let req = OrderRequest {
        client_id: ClientOrderId::new(id),
        spec: OrderSpec {
            instrument: inst,
            side,
            kind: if price.is_some() {
                OrderKind::Limit
            } else {
                OrderKind::Market
            },
            price: price.map(Price),
            qty: Qty(qty),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        owner,
        tag: if owner == Owner::Manual {
            OrderTag::Manual
        } else {
            OrderTag::Strategy
        },
    };
    let mut o = Order::new(req, ts(created_ms));
    o.status = OrderStatus::Acked;
    o
}

fn alert(seq: u64, ms: i64, level: AlertLevel, source: &str, text: &str, count: u32) -> Alert {
    Alert {
        seq,
        ts: ts(ms),
        level,
        source: source.into(),
        text: text.into(),
        count,
        acknowledged: false,
        kind: String::new(),
    }
}

/// An active market with everything on screen.
pub fn view() -> EngineView {
    let btc_bids = levels(
        600_000,
        -1,
        &[
            250, 1_200, 800, 3_000, 450, 2_100, 900, 5_000, 700, 1_500, 640, 320,
        ],
    );
    let btc_asks = levels(
        600_001,
        1,
        &[
            300, 900, 1_200, 2_600, 500, 1_800, 4_000, 650, 1_100, 2_200, 380, 990,
        ],
    );
    let eth_bids = levels(
        299_000,
        -1,
        &[120, 340, 560, 80, 900, 230, 410, 150, 600, 700],
    );
    let eth_asks = levels(
        299_001,
        1,
        &[150, 220, 480, 90, 1_000, 310, 260, 130, 560, 800],
    );
    let tape = vec![
        (
            InstrumentId(0),
            TradeTick {
                ts: ts(-4_000),
                price: Price(599_999),
                qty: Qty(12),
                aggressor: Side::Sell,
            },
        ),
        (
            InstrumentId(1),
            TradeTick {
                ts: ts(-3_200),
                price: Price(299_001),
                qty: Qty(40),
                aggressor: Side::Buy,
            },
        ),
        (
            InstrumentId(0),
            TradeTick {
                ts: ts(-2_500),
                price: Price(600_000),
                qty: Qty(5),
                aggressor: Side::Sell,
            },
        ),
        (
            InstrumentId(0),
            TradeTick {
                ts: ts(-1_100),
                price: Price(600_000),
                qty: Qty(80),
                aggressor: Side::Buy,
            },
        ),
        (
            InstrumentId(1),
            TradeTick {
                ts: ts(-700),
                price: Price(299_000),
                qty: Qty(15),
                aggressor: Side::Sell,
            },
        ),
        (
            InstrumentId(0),
            TradeTick {
                ts: ts(-250),
                price: Price(600_001),
                qty: Qty(30),
                aggressor: Side::Buy,
            },
        ),
    ];
    EngineView {
        now: ts(0),
        trading_state: TradingState::Active,
        halt_reason: None,
        kill: None,
        gate_open: true,
        markets: vec![
            MarketView {
                instrument: Some(btc()),
                bids: btc_bids,
                asks: btc_asks,
                last_trade: Some(TradeTick {
                    ts: ts(-250),
                    price: Price(600_001),
                    qty: Qty(30),
                    aggressor: Side::Buy,
                }),
                last_update: Some(ts(-12)),
                resyncing: false,
                stale: false,
                crossed: false,
                // The session's volume by price: the tape's BTC trades and earlier ones.
                traded: levels(599_997, 1, &[150, 40, 12, 85, 30]),
            },
            MarketView {
                instrument: Some(eth()),
                bids: eth_bids,
                asks: eth_asks,
                last_trade: Some(TradeTick {
                    ts: ts(-700),
                    price: Price(299_000),
                    qty: Qty(15),
                    aggressor: Side::Sell,
                }),
                last_update: Some(ts(-40)),
                resyncing: false,
                stale: false,
                crossed: false,
                traded: Vec::new(),
            },
        ],
        tape,
        positions: vec![
            PositionView {
                position: Position {
                    instrument: InstrumentId(0),
                    qty: dec!(0.005),
                    avg_price: dec!(59990.0),
                    realized: dec!(14.2),
                    fees: dec!(0.9),
                },
                mark: Some(dec!(60000.05)),
                unrealized: dec!(0.05025),
                mark_stale: false,
                dust: false,
            },
            PositionView {
                position: Position {
                    instrument: InstrumentId(1),
                    qty: dec!(-0.20),
                    avg_price: dec!(2995.50),
                    realized: dec!(-3.1),
                    fees: dec!(0.3),
                },
                mark: Some(dec!(2990.005)),
                unrealized: dec!(1.099),
                mark_stale: false,
                dust: false,
            },
        ],
        pnl: PnlView {
            realized: dec!(11.1),
            unrealized: dec!(1.14925),
            fees: dec!(1.2),
            equity: dec!(11.04925),
            equity_peak: dec!(19.5),
            drawdown: dec!(8.45075),
            day_pnl: dec!(-120.40),
            daily_loss_limit: dec!(5000),
            max_drawdown: dec!(10000),
        },
        open_orders: view_orders(),
        brackets: Vec::new(),
        algos: Vec::new(),
        closed_orders: vec![],
        fills: fills(),
        order_history: order_history(),
        strategies: vec![
            StrategyView {
                name: "market_maker".into(),
                enabled: true,
                held: false,
                instrument: Some(InstrumentId(0)),
                position: dec!(0.003),
                pnl: dec!(4.25),
                open_orders: 2,
                orders: 120,
                held_orders: 0,
                refused_orders: 1,
                last_signal: Some("quote 60000.0/60000.3".into()),
                session: None,
                ..StrategyView::default()
            },
            StrategyView {
                name: "imbalance".into(),
                enabled: true,
                held: true,
                instrument: Some(InstrumentId(0)),
                position: dec!(0.002),
                pnl: dec!(-1.75),
                open_orders: 0,
                orders: 9,
                held_orders: 2,
                refused_orders: 0,
                last_signal: Some("buy imb 0.71".into()),
                session: None,
                ..StrategyView::default()
            },
            StrategyView {
                name: "exit_manager".into(),
                enabled: false,
                held: false,
                instrument: None,
                position: Decimal::ZERO,
                pnl: Decimal::ZERO,
                open_orders: 0,
                orders: 0,
                held_orders: 0,
                refused_orders: 0,
                last_signal: None,
                session: None,
                ..StrategyView::default()
            },
        ],
        alerts: vec![
            alert(
                1,
                -60_000,
                AlertLevel::Info,
                "operator",
                "strategy 3 off",
                1,
            ),
            alert(
                2,
                -30_000,
                AlertLevel::Warn,
                "risk",
                "refused: cooldown after 5 losses",
                3,
            ),
            alert(
                3,
                -2_000,
                AlertLevel::Critical,
                "feed",
                "BTC-USD book crossed, resyncing",
                1,
            ),
        ],
        health: HealthView::default(),
        order_preview: None,
        engine_lag: Duration::from_millis(2),
        halt_latch: Default::default(),
        store_failed: None,
        sessions: Vec::new(),
        aged: None,
    }
}

/// A fill of `id` at `ms` (the fee and liquidity as given after it).
fn fill(ms: i64, id: &str, inst: InstrumentId, side: Side, price: i64, qty: i64) -> Fill {
    Fill {
        seq: 0,
        ts: ts(ms),
        client_id: ClientOrderId::new(id),
        instrument: inst,
        side,
        price: Price(price),
        qty: Qty(qty),
        fee: Decimal::ZERO,
        liquidity: Liquidity::Maker,
        fee_base: rust_decimal::Decimal::ZERO,
    }
}

/// Our fills: a market maker's bid filled as maker (half the spread earned against the
/// arrival mid), a manual market buy (taker: paid half the spread), part of the manual
/// ETH sell that still rests.
pub fn fills() -> Vec<FillRecord> {
    vec![
        FillRecord {
            fill: Fill {
                seq: 41,
                fee: dec!(-0.02),
                liquidity: Liquidity::Maker,
                ..fill(-6_000, "S1-5", InstrumentId(0), Side::Buy, 599_999, 2)
            },
            owner: Some(Owner::Strategy(0)),
            tag: Some(OrderTag::Strategy),
            arrival_mid: Some(dec!(60000.05)),
            mid: Some(dec!(59999.95)),
        },
        FillRecord {
            fill: Fill {
                seq: 42,
                fee: dec!(0.18),
                liquidity: Liquidity::Taker,
                ..fill(-3_000, "M-2", InstrumentId(0), Side::Buy, 600_001, 3)
            },
            owner: Some(Owner::Manual),
            tag: Some(OrderTag::Manual),
            arrival_mid: Some(dec!(60000.05)),
            mid: Some(dec!(60000.05)),
        },
        FillRecord {
            fill: Fill {
                seq: 43,
                fee: dec!(0.012),
                liquidity: Liquidity::Maker,
                ..fill(-1_500, "M-3", InstrumentId(1), Side::Sell, 299_050, 2)
            },
            owner: Some(Owner::Manual),
            tag: Some(OrderTag::Manual),
            arrival_mid: Some(dec!(2990.005)),
            mid: Some(dec!(2990.005)),
        },
    ]
}

fn step(ms: i64, kind: StepKind, filled: i64) -> OrderStep {
    OrderStep {
        ts: ts(ms),
        kind,
        filled: Qty(filled),
        count: 1,
    }
}

/// Every order of the fixture with its steps: filled ones, the open ones, a venue
/// rejection and a risk refusal.
pub fn order_history() -> Vec<OrderRecord> {
    use StepKind::{CancelRequested, Refused, Status};
    let rec = |o: Order, steps: Vec<OrderStep>| OrderRecord {
        order: o,
        arrival_mid: Some(dec!(60000.05)),
        steps,
    };
    let mut s1_5 = order(
        "S1-5",
        InstrumentId(0),
        Owner::Strategy(0),
        Side::Buy,
        Some(599_999),
        2,
        -9_000,
    );
    s1_5.status = OrderStatus::Filled;
    s1_5.filled = Qty(2);
    s1_5.filled_notional = 599_999 * 2;
    let mut m1 = order(
        "M-1",
        InstrumentId(0),
        Owner::Manual,
        Side::Buy,
        Some(600_002),
        5,
        -8_000,
    );
    m1.req.spec.tif = TimeInForce::PostOnly;
    m1.status = OrderStatus::Rejected;
    m1.reject_reason = Some("post-only would cross".into());
    let mut m2 = order(
        "M-2",
        InstrumentId(0),
        Owner::Manual,
        Side::Buy,
        None,
        3,
        -3_010,
    );
    m2.status = OrderStatus::Filled;
    m2.filled = Qty(3);
    m2.filled_notional = 600_001 * 3;
    let mut refused = order(
        "S2-9",
        InstrumentId(0),
        Owner::Strategy(1),
        Side::Buy,
        None,
        5_000,
        -2_000,
    );
    refused.status = OrderStatus::New;
    refused.reject_reason = Some("notional 300000.25 over max_order_notional 100000".into());
    let v = view_orders();
    let (mm_bid, mm_ask, partial) = (v[0].clone(), v[1].clone(), v[2].clone());
    vec![
        rec(
            partial,
            vec![
                step(-90_000, Status(OrderStatus::New), 0),
                step(-89_990, Status(OrderStatus::Acked), 0),
                step(-1_500, Status(OrderStatus::PartiallyFilled), 2),
            ],
        ),
        rec(
            s1_5,
            vec![
                step(-9_000, Status(OrderStatus::New), 0),
                step(-8_995, Status(OrderStatus::Acked), 0),
                step(-6_000, Status(OrderStatus::Filled), 2),
            ],
        ),
        rec(
            m1,
            vec![
                step(-8_000, Status(OrderStatus::New), 0),
                step(-7_996, Status(OrderStatus::Rejected), 0),
            ],
        ),
        rec(
            mm_bid,
            vec![
                step(-5_200, Status(OrderStatus::New), 0),
                step(-5_195, Status(OrderStatus::Acked), 0),
            ],
        ),
        rec(
            mm_ask,
            vec![
                step(-5_100, Status(OrderStatus::New), 0),
                step(-5_096, Status(OrderStatus::Acked), 0),
                step(-400, CancelRequested, 0),
            ],
        ),
        rec(
            m2,
            vec![
                step(-3_010, Status(OrderStatus::New), 0),
                step(-3_000, Status(OrderStatus::Filled), 3),
            ],
        ),
        rec(refused, vec![step(-2_000, Refused, 0)]),
    ]
}

/// The fixture's open orders: the market maker's bid and ask, the manual ETH sell.
fn view_orders() -> Vec<Order> {
    let mut partial = order(
        "M-3",
        InstrumentId(1),
        Owner::Manual,
        Side::Sell,
        Some(299_050),
        10,
        -90_000,
    );
    partial.status = OrderStatus::PartiallyFilled;
    partial.filled = Qty(2);
    partial.filled_notional = 299_050 * 2;
    let mut mm_bid = order(
        "S1-7",
        InstrumentId(0),
        Owner::Strategy(0),
        Side::Buy,
        Some(600_000),
        1,
        -5_200,
    );
    mm_bid.queue_ahead = Some(Qty(180));
    let mut mm_ask = order(
        "S1-8",
        InstrumentId(0),
        Owner::Strategy(0),
        Side::Sell,
        Some(600_003),
        1,
        -5_100,
    );
    mm_ask.queue_ahead = Some(Qty(1_900));
    mm_ask.cancel_pending = true;
    vec![mm_bid, mm_ask, partial]
}

/// The market fed by a live venue: feed health for both instruments, ETH-USD RESYNCING
/// after a checksum failure, BTC-USD healthy.
pub fn live_view() -> EngineView {
    use pit::engine::view::FeedHealth;
    let mut v = view();
    v.markets[1].resyncing = true;
    let feed = |symbol: &str| FeedHealth {
        venue: "kraken".into(),
        symbol: symbol.into(),
        connection: "connected".into(),
        frames: 41_242,
        bytes: 19_265_626,
        gaps: 0,
        resyncs: 0,
        checksums_checked: 2_052,
        checksums_failed: 0,
        malformed: 0,
        reconnects: 1,
        last_frame_age: Some(Duration::from_millis(120)),
        retry_in: None,
        last_error: None,
        failures: 0,
    };
    let mut eth = feed("ETH-USD");
    eth.frames = 812;
    eth.bytes = 96_400;
    eth.gaps = 1;
    eth.resyncs = 2;
    eth.checksums_checked = 310;
    eth.checksums_failed = 1;
    eth.malformed = 3;
    v.health.feed = vec![feed("BTC-USD"), eth];
    v.health.events = 52_001;
    v.health.market_events = 50_310;
    v
}

/// The same market after the kill switch: HALTED with cancels in flight.
pub fn halted_view() -> EngineView {
    let mut v = view();
    v.trading_state = TradingState::Halted;
    v.halt_reason = Some("kill switch (operator)".into());
    v.kill = Some(KillProgress {
        started: ts(-500),
        cancels_requested: 9,
        cancels_confirmed: 6,
        flatten_orders: 0,
        cancels_sent: 9,
        filled: 1,
        rejected: 0,
        unresolved: vec![ClientOrderId::new("M-7"), ClientOrderId::new("S1-41")],
    });
    v.gate_open = false;
    v
}

pub fn app_with(view: EngineView, theme: Theme) -> App {
    let mut app = App::new(&ConsoleConfig::default(), theme, Arc::new(view));
    app.set_frame_stats(Duration::from_millis(3), Duration::from_micros(1_200));
    app.set_price_band_bps(dec!(100));
    // The bell of the fixture's critical alert is not what these tests are about.
    let _ = app.take_effects();
    app
}

pub fn app() -> App {
    app_with(view(), Theme::builtin("dark").expect("dark theme"))
}

/// Draw the full screen at `w` x `h`.
pub fn screen(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| pit::ui::render(app, f)).expect("draw");
    term
}

/// Draw one pane (or anything) with `draw` into a `w` x `h` buffer.
pub fn pane(
    app: &App,
    w: u16,
    h: u16,
    draw: fn(&App, &mut ratatui::Frame, ratatui::layout::Rect),
) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| {
        let area = f.area();
        draw(app, f, area)
    })
    .expect("draw");
    term
}

fn closed(
    closed_ms: i64,
    strategy: &str,
    symbol: &str,
    pnl: Decimal,
    fees: Decimal,
) -> pit::store::schema::TradeRow {
    pit::store::schema::TradeRow {
        run: 1,
        trade: pit::engine::ClosedTrade {
            instrument: InstrumentId(0),
            symbol: symbol.into(),
            side: Side::Buy,
            qty: dec!(1),
            entry_price: dec!(100),
            exit_price: dec!(100) + pnl + fees,
            realized: pnl + fees,
            fees,
            pnl,
            opened: Timestamp::from_millis(closed_ms - 1000),
            closed: Timestamp::from_millis(closed_ms),
            strategy: strategy.into(),
            reason: OrderTag::Strategy,
        },
    }
}

/// A report over nine hand-made trades on four days (2026-01-01 is a Thursday): net
/// +11.5, three strategies, two instruments, a drawdown of 12.25 (from +15 to +2.75).
pub fn report() -> pit::store::report::Report {
    let thu9 = 1_767_258_000_000; // 2026-01-01T09:00:00Z
    let h = 3_600_000;
    let d = 24 * h;
    let trades = vec![
        closed(thu9, "S1 market-maker", "BTC-USD", dec!(10), dec!(1)),
        closed(
            thu9 + 60_000,
            "S1 market-maker",
            "BTC-USD",
            dec!(5),
            dec!(1),
        ),
        closed(thu9 + h, "S2 imbalance", "ETH-USD", dec!(-4), dec!(1)),
        closed(thu9 + d, "S2 imbalance", "BTC-USD", dec!(-6), dec!(1)),
        closed(thu9 + d + 60_000, "manual", "ETH-USD", dec!(-2), dec!(1)),
        closed(
            thu9 + d + 3 * h,
            "S1 market-maker",
            "ETH-USD",
            dec!(-0.25),
            dec!(0.1),
        ),
        closed(
            thu9 + 2 * d + 14 * h,
            "S1 market-maker",
            "BTC-USD",
            dec!(8),
            dec!(1),
        ),
        closed(
            thu9 + 2 * d + 14 * h + 1,
            "manual",
            "BTC-USD",
            dec!(0),
            dec!(1),
        ),
        closed(
            thu9 + 2 * d + 15 * h,
            "S2 imbalance",
            "BTC-USD",
            dec!(0.75),
            dec!(0.5),
        ),
    ];
    let fills = vec![pit::store::schema::FillRow {
        run: 1,
        seq: 1,
        ts: Timestamp::from_millis(thu9),
        client_id: "x".into(),
        symbol: "BTC-USD".into(),
        side: "BUY".into(),
        price: dec!(100),
        qty: dec!(2),
        fee: dec!(8.6),
        liquidity: "taker".into(),
        owner: "S1".into(),
        tag: None,
        fee_base: rust_decimal::Decimal::ZERO,
    }];
    pit::store::report::Report::from_rows(&trades, &fills, None)
}
