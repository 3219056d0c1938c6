//! Unit tests of the pre-trade risk engine: every check, its order and its messages.

use crate::domain::OrderSpec;

use super::*;
use crate::domain::{
    ClientOrderId, InstrumentId, Level, OrderKind, OrderTag, Owner, Price, Qty, Side, TimeInForce,
};
use rust_decimal_macros::dec;

/// 2024-08-08T00:00:00Z.
const T0: Timestamp = Timestamp(1_723_075_200_000_000_000);

/// `ms` milliseconds after (negative: before) `T0`.
fn at_ms(ms: i64) -> Timestamp {
    Timestamp(T0.0 + ms * 1_000_000)
}

fn btc() -> Instrument {
    Instrument::new(
        InstrumentId(0),
        "BTC-USD",
        "sim",
        dec!(0.1),
        dec!(0.001),
        Qty(1),
    )
}

fn lv(p: i64, q: i64) -> Level {
    Level::new(Price(p), Qty(q))
}

/// Bid 59999.0 / ask 60001.0 (mid 60000), 2 BTC on the touch, then 1 BTC every 10.0.
fn book() -> OrderBook {
    let mut b = OrderBook::new();
    b.apply_snapshot(
        [lv(599_990, 2000), lv(599_890, 1000), lv(599_790, 1000)],
        [lv(600_010, 2000), lv(600_110, 1000), lv(600_210, 1000)],
    );
    b
}

/// A healthy account: flat, fresh book, no open orders, no losses.
fn ctx<'a>(inst: &'a Instrument, book: &'a OrderBook) -> RiskCtx<'a> {
    RiskCtx {
        now: T0,
        instrument: inst,
        book,
        last_book_update: Some(at_ms(-100)),
        position: Decimal::ZERO,
        open_buy_qty: Decimal::ZERO,
        open_sell_qty: Decimal::ZERO,
        open_orders: 0,
        open_on_instrument: 0,
        venue_rules: crate::domain::VenueRulesState::not_required(),
        duplicate_id: false,
        day_pnl: Decimal::ZERO,
        drawdown: Decimal::ZERO,
        session: None,
    }
}

fn limit(side: Side, price_ticks: i64, lots: i64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::new("c-1"),
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
            kind: OrderKind::Limit,
            price: Some(Price(price_ticks)),
            qty: Qty(lots),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        owner: Owner::Manual,
        tag: OrderTag::Manual,
    }
}

fn market(side: Side, lots: i64) -> OrderRequest {
    OrderRequest {
        spec: OrderSpec {
            kind: OrderKind::Market,
            price: None,
            tif: TimeInForce::Ioc,
            ..limit(side, 0, lots).spec
        },
        ..limit(side, 0, lots)
    }
}

/// The order as strategy `s`'s (0-based) rather than a manual one.
fn of_strategy(s: StrategyId, mut req: OrderRequest) -> OrderRequest {
    req.owner = Owner::Strategy(s);
    req.tag = OrderTag::Strategy;
    req
}

fn reduce_only(mut req: OrderRequest) -> OrderRequest {
    req.spec.reduce_only = true;
    req.tag = OrderTag::StopLoss;
    req
}

/// The refusal of an order that must be refused; the order comes back unchanged.
fn refusal(engine: &mut RiskEngine, req: OrderRequest, ctx: &RiskCtx<'_>) -> Refusal {
    match engine.check(req.clone(), ctx) {
        Ok(ok) => panic!("expected a refusal, approved {:?}", *ok),
        Err(refused) => {
            assert_eq!(refused.req, req, "the refused order comes back as it was");
            refused.reason
        }
    }
}

fn approve(engine: &mut RiskEngine, req: OrderRequest, ctx: &RiskCtx<'_>) {
    match engine.check(req.clone(), ctx) {
        Ok(ok) => assert_eq!(ok.into_inner(), req),
        Err(r) => panic!("expected approval, refused: {}", r.reason),
    }
}

fn engine() -> RiskEngine {
    RiskEngine::new(RiskLimits::default())
}

/// Limits with every check off.
fn all_off() -> RiskLimits {
    RiskLimits::off()
}

fn assert_msg(r: &Refusal, code: &str, parts: &[&str]) {
    assert_eq!(r.code(), code, "{r:?}");
    let msg = r.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should name {p:?}");
    }
}

#[test]
fn healthy_orders_are_approved_and_counted() {
    let (i, b) = (btc(), book());
    let c = ctx(&i, &b);
    let mut e = engine();
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    approve(&mut e, market(Side::Sell, 500), &c);
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 0), &c);
    assert_eq!(r.code(), "invalid_order");
    assert_eq!(
        e.stats(),
        RiskStats {
            checks: 3,
            approved: 2,
            refused: 1
        }
    );
    assert_eq!(e.limits(), &RiskLimits::default());
    // The approval wrapper derefs to the order (and tests of ports can fake one).
    let fake = RiskApproved::assume_approved_for_test(limit(Side::Buy, 1, 1));
    assert_eq!(fake.spec.qty, Qty(1));
}

#[test]
fn duplicate_id_is_refused_first() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    c.duplicate_id = true;
    c.day_pnl = dec!(-99999); // later checks would fail too: the first one wins
    let r = refusal(&mut engine(), limit(Side::Buy, 599_990, 0), &c);
    assert!(matches!(r, Refusal::DuplicateId { .. }));
    assert_msg(&r, "duplicate_id", &["c-1", "already used"]);
}

#[test]
fn malformed_orders_are_refused() {
    let i = Instrument::new(
        InstrumentId(0),
        "BTC-USD",
        "sim",
        dec!(0.1),
        dec!(0.001),
        Qty(5),
    );
    let b = book();
    let c = ctx(&i, &b);
    let mut e = engine();
    let cases: Vec<(OrderRequest, &[&str])> = vec![
        (limit(Side::Buy, 599_990, 0), &["qty 0 must be positive"]),
        (limit(Side::Buy, 599_990, -3), &["qty -0.003"]),
        (
            limit(Side::Buy, 599_990, 4),
            &["qty 0.004 is below the minimum 0.005"],
        ),
        (
            OrderRequest {
                spec: OrderSpec {
                    price: None,
                    ..limit(Side::Buy, 0, 10).spec
                },
                ..limit(Side::Buy, 0, 10)
            },
            &["limit order needs a price"],
        ),
        (limit(Side::Buy, 0, 10), &["limit price 0 must be positive"]),
        (
            OrderRequest {
                spec: OrderSpec {
                    price: Some(Price(600_010)),
                    ..market(Side::Buy, 10).spec
                },
                ..market(Side::Buy, 10)
            },
            &["market order cannot carry a price", "60001"],
        ),
        (
            OrderRequest {
                spec: OrderSpec {
                    tif: TimeInForce::PostOnly,
                    ..market(Side::Buy, 10).spec
                },
                ..market(Side::Buy, 10)
            },
            &["post-only"],
        ),
        (
            OrderRequest {
                spec: OrderSpec {
                    instrument: InstrumentId(3),
                    ..limit(Side::Buy, 599_990, 10).spec
                },
                ..limit(Side::Buy, 599_990, 10)
            },
            &["#3", "#0 BTC-USD"],
        ),
    ];
    for (req, parts) in cases {
        let r = refusal(&mut e, req, &c);
        assert!(matches!(r, Refusal::InvalidOrder { .. }), "{r:?}");
        assert_msg(&r, "invalid_order", parts);
    }
}

#[test]
fn reduce_only_that_would_not_reduce_is_refused() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    c.position = dec!(0.5);
    // Same side as the position: it would increase it.
    let r = refusal(&mut e, reduce_only(market(Side::Buy, 100)), &c);
    assert_eq!(
        r,
        Refusal::NotReducing {
            side: Side::Buy,
            qty: dec!(0.1),
            position: dec!(0.5)
        }
    );
    assert_msg(&r, "not_reducing", &["BUY 0.1", "increase", "0.5"]);
    // Larger than the position: it would flip it.
    let r = refusal(&mut e, reduce_only(market(Side::Sell, 600)), &c);
    assert_msg(
        &r,
        "not_reducing",
        &["SELL 0.6", "larger than the position 0.5"],
    );
    // Flat: nothing to reduce.
    c.position = Decimal::ZERO;
    let r = refusal(&mut e, reduce_only(limit(Side::Sell, 600_010, 100)), &c);
    assert_msg(&r, "not_reducing", &["SELL 0.1", "no position"]);
    // Exactly the position is fine.
    c.position = dec!(-0.5);
    approve(&mut e, reduce_only(market(Side::Buy, 500)), &c);
}

#[test]
fn reduce_only_exits_pass_every_later_check() {
    let i = btc();
    let empty = OrderBook::new();
    let mut e = RiskEngine::new(RiskLimits {
        max_orders_per_sec: 2,
        max_consecutive_losses: 1,
        ..RiskLimits::default()
    });
    e.record_round_trip(0, dec!(-10), T0);
    let mut c = ctx(&i, &empty);
    c.position = dec!(5); // beyond max_position
    c.day_pnl = dec!(-6000); // daily loss breached
    c.drawdown = dec!(20000); // drawdown breached
    c.last_book_update = None; // stale, and no market at all
    c.open_orders = 1000; // beyond max_open_orders
    // A new order is refused (the cooldown is the first failure) ...
    let r = refusal(&mut e, of_strategy(0, market(Side::Sell, 100)), &c);
    assert_eq!(r.code(), "cooldown");
    // ... but exits go out, larger than max_order_qty and faster than the rate limit.
    for n in 0..5 {
        let mut req = reduce_only(market(Side::Sell, 2000));
        req.client_id = ClientOrderId::new(format!("exit-{n}"));
        approve(&mut e, req, &c);
    }
    approve(&mut e, reduce_only(limit(Side::Sell, 650_000, 5000)), &c);
    assert!(e.recent.len() <= 2, "the rate window stays bounded");
}

#[test]
fn cooldown_after_consecutive_losses_and_a_win_resets_the_count() {
    let (i, b) = (btc(), book());
    let mut e = RiskEngine::new(RiskLimits {
        max_consecutive_losses: 3,
        loss_cooldown_secs: 60,
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    let mut c = ctx(&i, &b);
    let order = of_strategy(0, limit(Side::Buy, 599_990, 100));
    // Two losses, a win, two losses: no cooldown (the win broke the streak).
    for pnl in [dec!(-1), dec!(-2), dec!(3), dec!(-1), dec!(-1)] {
        e.record_round_trip(0, pnl, T0);
    }
    assert_eq!(e.cooldown_until(0), None);
    approve(&mut e, order.clone(), &c);
    // A break-even trip ends the streak too.
    e.record_round_trip(0, Decimal::ZERO, T0);
    e.record_round_trip(0, dec!(-1), T0);
    e.record_round_trip(0, dec!(-1), T0);
    assert_eq!(e.cooldown_until(0), None);
    // The third loss in a row starts the cooldown.
    e.record_round_trip(0, dec!(-1), T0);
    assert_eq!(e.cooldown_until(0), Some(at_ms(60_000)));
    c.now = at_ms(15_500);
    let r = refusal(&mut e, order.clone(), &c);
    assert_eq!(
        r,
        Refusal::Cooldown {
            strategy: 0,
            losses: 3,
            until: at_ms(60_000),
            remaining_ms: 44_500
        }
    );
    assert_msg(
        &r,
        "cooldown",
        &[
            "S1 cooling down after 3 losing round trips",
            "00:01:00.000 UTC",
            "44.500 s left",
        ],
    );
    c.now = at_ms(59_999);
    assert_eq!(refusal(&mut e, order.clone(), &c).code(), "cooldown");
    // It ends after the configured time.
    c.now = at_ms(60_000);
    approve(&mut e, order.clone(), &c);
    // The streak started again from zero: one more loss does not restart it.
    e.record_round_trip(0, dec!(-1), at_ms(60_000));
    assert_eq!(e.cooldown_until(0), Some(at_ms(60_000)));
}

/// Issue 15: after the strategies' losing streak the cooldown blocked manual orders too.
/// The cooldown is the losing strategy's own: a manual order and another strategy's
/// order pass while it lasts; the losing strategy's exits pass too.
#[test]
fn a_cooldown_holds_only_the_strategy_that_lost() {
    let (i, b) = (btc(), book());
    let mut e = RiskEngine::new(RiskLimits {
        max_consecutive_losses: 5,
        loss_cooldown_secs: 60,
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    let mut c = ctx(&i, &b);
    for _ in 0..5 {
        e.record_round_trip(0, dec!(-1), T0);
    }
    assert_eq!(e.cooldown_until(0), Some(at_ms(60_000)));
    assert_eq!(e.cooldown_until(1), None);
    c.now = at_ms(1_000);
    let buy = limit(Side::Buy, 599_990, 100);
    let r = refusal(&mut e, of_strategy(0, buy.clone()), &c);
    assert_msg(
        &r,
        "cooldown",
        &["S1 cooling down after 5 losing round trips"],
    );
    // The person at the console is not held by S1's streak ...
    approve(&mut e, buy.clone(), &c);
    // ... nor is another strategy.
    let mut other = of_strategy(1, buy.clone());
    other.client_id = ClientOrderId::new("c-2");
    approve(&mut e, other, &c);
    // Losses of S2 count for S2 alone: four of them and S1's cooldown changes nothing.
    for _ in 0..4 {
        e.record_round_trip(1, dec!(-1), at_ms(1_000));
    }
    assert_eq!(e.cooldown_until(1), None);
    // S2's fifth loss cools S2 down, from its own time; S1's end stays.
    e.record_round_trip(1, dec!(-1), at_ms(2_000));
    assert_eq!(e.cooldown_until(1), Some(at_ms(62_000)));
    assert_eq!(e.cooldown_until(0), Some(at_ms(60_000)));
    c.now = at_ms(60_000);
    approve(&mut e, of_strategy(0, buy.clone()), &c);
    assert_eq!(refusal(&mut e, of_strategy(1, buy), &c).code(), "cooldown");
}

#[test]
fn daily_loss_is_refused_and_halts() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    c.day_pnl = dec!(-4999.99);
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    c.day_pnl = dec!(-5000.00);
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 100), &c);
    assert_eq!(
        r,
        Refusal::DailyLoss {
            day_pnl: dec!(-5000),
            limit: dec!(5000)
        }
    );
    assert_msg(
        &r,
        "daily_loss",
        &["day PnL -5000", "-5000 (daily_loss_limit)"],
    );
    assert_eq!(e.halt_reason(dec!(-5000), Decimal::ZERO), Some(r));
    assert_eq!(e.halt_reason(dec!(-4999.99), dec!(9999.99)), None);
}

#[test]
fn drawdown_is_refused_and_halts() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    c.drawdown = dec!(10000.50);
    let r = refusal(&mut e, market(Side::Buy, 100), &c);
    assert!(matches!(r, Refusal::Drawdown { .. }));
    assert_msg(&r, "drawdown", &["drawdown 10000.5", "max_drawdown 10000"]);
    assert_eq!(
        e.halt_reason(dec!(100), dec!(10000)).map(|r| r.code()),
        Some("drawdown")
    );
    // Both breached: the daily loss is named first.
    assert_eq!(
        e.halt_reason(dec!(-6000), dec!(20000)).map(|r| r.code()),
        Some("daily_loss")
    );
}

#[test]
fn stale_or_missing_book_data_is_refused() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    let order = limit(Side::Sell, 600_010, 100);
    c.last_book_update = None;
    let r = refusal(&mut e, order.clone(), &c);
    assert_eq!(
        r,
        Refusal::StaleData {
            age_ms: None,
            limit_ms: 2000
        }
    );
    assert_msg(&r, "stale_data", &["no book update", "2000"]);
    c.last_book_update = Some(at_ms(-2001));
    let r = refusal(&mut e, order.clone(), &c);
    assert_msg(&r, "stale_data", &["2001 ms old", "stale_data_ms 2000"]);
    c.last_book_update = Some(at_ms(-2000));
    approve(&mut e, order, &c);
}

#[test]
fn no_market_to_price_the_order_is_refused() {
    let i = btc();
    let mut bids_only = OrderBook::new();
    bids_only.apply_snapshot([lv(599_990, 2000)], []);
    let c = ctx(&i, &bids_only);
    let mut e = engine();
    // A limit order needs the mid.
    let r = refusal(&mut e, limit(Side::Sell, 600_010, 100), &c);
    assert_eq!(r, Refusal::NoMarket);
    assert_msg(&r, "no_market", &["no market", "book"]);
    // A market buy needs asks.
    assert_eq!(
        refusal(&mut e, market(Side::Buy, 100), &c),
        Refusal::NoMarket
    );
    // A market sell has bids, but no mid for the price band ...
    assert_eq!(
        refusal(&mut e, market(Side::Sell, 100), &c),
        Refusal::NoMarket
    );
    // ... and passes with the band off.
    let mut e = RiskEngine::new(RiskLimits {
        price_band_bps: Decimal::ZERO,
        ..RiskLimits::default()
    });
    approve(&mut e, market(Side::Sell, 100), &c);
}

#[test]
fn order_qty_above_the_max_is_refused() {
    let (i, b) = (btc(), book());
    let c = ctx(&i, &b);
    let mut e = engine();
    approve(&mut e, limit(Side::Buy, 599_990, 1000), &c);
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 3000), &c);
    assert_eq!(
        r,
        Refusal::MaxOrderQty {
            qty: dec!(3),
            max: dec!(1)
        }
    );
    assert_eq!(r.to_string(), "order qty 3 exceeds max_order_qty 1");
}

#[test]
fn order_notional_above_the_max_is_refused() {
    let (i, b) = (btc(), book());
    let c = ctx(&i, &b);
    let mut e = RiskEngine::new(RiskLimits {
        max_order_notional: dec!(30000),
        ..RiskLimits::default()
    });
    // Limit: price x qty. 0.5 x 60001 = 30000.5.
    approve(&mut e, limit(Side::Buy, 599_990, 500), &c);
    let r = refusal(&mut e, limit(Side::Sell, 600_010, 500), &c);
    assert_eq!(
        r,
        Refusal::MaxOrderNotional {
            notional: dec!(30000.5),
            max: dec!(30000),
            unfilled: Decimal::ZERO
        }
    );
    assert_eq!(
        r.to_string(),
        "order notional 30000.5 exceeds max_order_notional 30000"
    );
    // Market: the cost of walking the book. A sell of 0.5 hits the 59999.0 bid.
    approve(&mut e, market(Side::Sell, 500), &c);
    let r = refusal(&mut e, market(Side::Buy, 500), &c);
    assert_msg(&r, "max_order_notional", &["30000.5", "30000"]);
    // A market order the book cannot fill in full.
    let mut e = RiskEngine::new(RiskLimits {
        max_order_qty: Decimal::ZERO,
        max_order_notional: dec!(10_000_000),
        ..RiskLimits::default()
    });
    let r = refusal(&mut e, market(Side::Buy, 5000), &c);
    // The asks hold 2 @ 60001 + 1 @ 60011 + 1 @ 60021 = 240034 for 4 BTC.
    assert_eq!(
        r,
        Refusal::MaxOrderNotional {
            notional: dec!(240034),
            max: dec!(10000000),
            unfilled: dec!(1)
        }
    );
    assert_msg(
        &r,
        "max_order_notional",
        &["1 of it would go unfilled", "240034"],
    );
}

#[test]
fn price_outside_the_band_is_refused() {
    let (i, b) = (btc(), book());
    let c = ctx(&i, &b);
    let mut e = engine();
    // 100 bps of 60000 is 600: 59400.0 and 60600.0 are the edges, inclusive.
    approve(&mut e, limit(Side::Buy, 594_000, 100), &c);
    approve(&mut e, limit(Side::Sell, 606_000, 100), &c);
    let r = refusal(&mut e, limit(Side::Buy, 593_999, 100), &c);
    assert_eq!(
        r,
        Refusal::PriceBand {
            price: dec!(59399.9),
            mid: dec!(60000),
            max_bps: dec!(100),
            beyond_book: false
        }
    );
    assert_eq!(
        r.to_string(),
        "price 59399.9 is 100 bps from mid 60000, beyond price_band_bps 100"
    );
    // Market: the worst walked price. Walking 3 BTC of asks ends at 60011.0, 1.8 bps.
    let mut e = RiskEngine::new(RiskLimits {
        max_order_qty: Decimal::ZERO,
        max_order_notional: Decimal::ZERO,
        max_position: Decimal::ZERO,
        price_band_bps: dec!(1.5),
        ..RiskLimits::default()
    });
    approve(&mut e, market(Side::Buy, 2000), &c);
    let r = refusal(&mut e, market(Side::Buy, 3000), &c);
    assert_msg(
        &r,
        "price_band",
        &["price 60011", "1.8 bps", "mid 60000", "1.5"],
    );
    // Past the whole book (notional check off): refused too.
    let r = refusal(&mut e, market(Side::Sell, 9000), &c);
    assert!(
        matches!(
            r,
            Refusal::PriceBand {
                beyond_book: true,
                ..
            }
        ),
        "{r:?}"
    );
    assert_msg(
        &r,
        "price_band",
        &["past the whole book", "59979", "3.5 bps"],
    );
}

#[test]
fn position_beyond_the_max_is_refused() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    c.position = dec!(1.2);
    c.open_buy_qty = dec!(0.5);
    c.open_sell_qty = dec!(3);
    // 1.2 + 0.5 open + 0.3 = 2.0: at the max.
    approve(&mut e, limit(Side::Buy, 599_990, 300), &c);
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 400), &c);
    assert_eq!(
        r,
        Refusal::MaxPosition {
            position: dec!(1.2),
            projected: dec!(2.1),
            max: dec!(2)
        }
    );
    assert_msg(
        &r,
        "max_position",
        &["position 1.2", "reach 2.1", "max_position 2"],
    );
    // Sells: 1.2 - 3 open - 0.3 = -2.1, beyond on the short side.
    let r = refusal(&mut e, limit(Side::Sell, 600_010, 300), &c);
    assert_msg(&r, "max_position", &["reach -2.1"]);
    // Already beyond the max (limits lowered): an order towards zero still passes.
    c.position = dec!(-3);
    c.open_sell_qty = Decimal::ZERO;
    c.open_buy_qty = Decimal::ZERO;
    approve(&mut e, limit(Side::Buy, 599_990, 500), &c);
    // ... but not one that crosses zero to beyond the max on the other side.
    e.limits.max_order_qty = Decimal::ZERO;
    e.limits.max_order_notional = Decimal::ZERO;
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 5500), &c);
    assert_msg(&r, "max_position", &["position -3", "reach 2.5"]);
}

#[test]
fn flipping_the_position_is_refused_when_forbidden() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = RiskEngine::new(RiskLimits {
        forbid_flip: true,
        ..RiskLimits::default()
    });
    c.position = dec!(0.3);
    approve(&mut e, limit(Side::Sell, 600_010, 300), &c); // to flat is fine
    let r = refusal(&mut e, limit(Side::Sell, 600_010, 500), &c);
    assert_eq!(
        r,
        Refusal::PositionFlip {
            side: Side::Sell,
            qty: dec!(0.5),
            position: dec!(0.3),
            result: dec!(-0.2)
        }
    );
    assert_eq!(
        r.to_string(),
        "SELL 0.5 would flip the position from 0.3 to -0.2 (forbid_flip)"
    );
    // From flat there is nothing to flip.
    c.position = Decimal::ZERO;
    approve(&mut e, limit(Side::Sell, 600_010, 500), &c);
    // The same flip passes with the check off (the default).
    c.position = dec!(0.3);
    approve(&mut engine(), limit(Side::Sell, 600_010, 500), &c);
}

#[test]
fn too_many_open_orders_is_refused() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = engine();
    c.open_orders = 49;
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    c.open_orders = 50;
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 100), &c);
    assert_eq!(r, Refusal::MaxOpenOrders { open: 50, max: 50 });
    assert_eq!(
        r.to_string(),
        "50 open orders: one more exceeds max_open_orders 50"
    );
}

#[test]
fn the_rate_window_slides() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = RiskEngine::new(RiskLimits {
        max_orders_per_sec: 3,
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    let order = limit(Side::Buy, 599_990, 100);
    for ms in [0, 100, 200] {
        c.now = at_ms(ms);
        approve(&mut e, order.clone(), &c);
    }
    c.now = at_ms(999);
    let r = refusal(&mut e, order.clone(), &c);
    assert_eq!(
        r,
        Refusal::RateLimit {
            count: 3,
            max: 3,
            retry_in_ms: 1
        }
    );
    assert_msg(
        &r,
        "rate_limit",
        &["3 orders", "max_orders_per_sec 3", "1 ms"],
    );
    // Refusals do not count: one second after the first, a slot is free again.
    c.now = at_ms(1000);
    approve(&mut e, order.clone(), &c);
    assert_eq!(refusal(&mut e, order.clone(), &c).code(), "rate_limit");
    c.now = at_ms(1100);
    approve(&mut e, order.clone(), &c);
    c.now = at_ms(5000);
    for _ in 0..3 {
        approve(&mut e, order.clone(), &c);
    }
    assert_eq!(refusal(&mut e, order, &c).code(), "rate_limit");
    assert_eq!(e.recent.len(), 3);
}

#[test]
fn zero_disables_each_kind_of_limit() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    // Decimal: max_order_qty.
    let big = limit(Side::Buy, 599_990, 1500);
    assert_eq!(
        refusal(&mut engine(), big.clone(), &c).code(),
        "max_order_qty"
    );
    let mut e = RiskEngine::new(RiskLimits {
        max_order_qty: Decimal::ZERO,
        ..RiskLimits::default()
    });
    approve(&mut e, big, &c);
    // u32: max_open_orders.
    c.open_orders = 10_000;
    let mut e = RiskEngine::new(RiskLimits {
        max_open_orders: 0,
        ..RiskLimits::default()
    });
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    c.open_orders = 0;
    // u64: stale_data_ms.
    c.last_book_update = None;
    let mut e = RiskEngine::new(RiskLimits {
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    // u32 + u64: no cooldown, however long the losing streak.
    let mut e = RiskEngine::new(RiskLimits {
        max_consecutive_losses: 0,
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    for _ in 0..100 {
        e.record_round_trip(0, dec!(-1), T0);
    }
    assert_eq!(e.cooldown_until(0), None);
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c);
    // Everything off: an absurd order in an absurd state passes.
    let mut e = RiskEngine::new(all_off());
    c.position = dec!(-1000);
    c.day_pnl = dec!(-1_000_000);
    c.drawdown = dec!(1_000_000);
    c.open_orders = 1_000_000;
    for n in 0..100 {
        let mut req = limit(Side::Buy, 1, 5_000_000);
        req.client_id = ClientOrderId::new(format!("x-{n}"));
        approve(&mut e, req, &c);
    }
    assert!(
        e.recent.is_empty(),
        "no rate window when the rate limit is off"
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = RiskEngine::new(RiskLimits {
        max_consecutive_losses: 1,
        forbid_flip: true,
        max_orders_per_sec: 1,
        ..RiskLimits::default()
    });
    approve(&mut e, limit(Side::Buy, 599_990, 100), &c); // fills the rate window
    e.record_round_trip(0, dec!(-1), T0);
    c.day_pnl = dec!(-10_000);
    c.drawdown = dec!(50_000);
    c.last_book_update = None;
    c.position = dec!(1.9);
    c.open_orders = 50;
    // Peel the failures off one by one.
    let order = of_strategy(0, limit(Side::Sell, 500_000, 5000));
    let mut seen = Vec::new();
    loop {
        match e.check(order.clone(), &c) {
            Ok(_) => break,
            Err(r) => {
                let code = r.reason.code();
                seen.push(code);
                match code {
                    "cooldown" => c.now = at_ms(60_000),
                    "daily_loss" => c.day_pnl = Decimal::ZERO,
                    "drawdown" => c.drawdown = Decimal::ZERO,
                    "stale_data" => c.last_book_update = Some(c.now),
                    "max_order_qty" => e.limits.max_order_qty = Decimal::ZERO,
                    "max_order_notional" => e.limits.max_order_notional = Decimal::ZERO,
                    "price_band" => e.limits.price_band_bps = Decimal::ZERO,
                    "max_position" => e.limits.max_position = Decimal::ZERO,
                    "position_flip" => e.limits.forbid_flip = false,
                    "max_open_orders" => c.open_orders = 0,
                    other => panic!("unexpected {other}"),
                }
            }
        }
    }
    assert_eq!(
        seen,
        [
            "cooldown",
            "daily_loss",
            "drawdown",
            "stale_data",
            "max_order_qty",
            "max_order_notional",
            "price_band",
            "max_position",
            "position_flip",
            "max_open_orders",
        ]
    );
    // And the rate limit last: a second approval in the same second.
    assert_eq!(refusal(&mut e, order, &c).code(), "rate_limit");
}

#[test]
fn validate_names_the_key() {
    assert_eq!(RiskLimits::default().validate(), Ok(()));
    assert_eq!(all_off().validate(), Ok(()));
    let bad = RiskLimits {
        max_drawdown: dec!(-1),
        ..RiskLimits::default()
    };
    let err = bad.validate().unwrap_err();
    assert_eq!(err.key, "max_drawdown");
    assert!(err.message.contains("-1"), "{err}");
    let bad = RiskLimits {
        price_band_bps: dec!(20000),
        ..RiskLimits::default()
    };
    assert_eq!(bad.validate().unwrap_err().key, "price_band_bps");
}

#[test]
fn limits_parse_from_toml() {
    let limits: RiskLimits = toml::from_str(
        "max_order_qty = 0.5\nmax_order_notional = 25000\nprice_band_bps = \"12.5\"\nforbid_flip = true\nstale_data_ms = 0\n",
    )
    .unwrap();
    assert_eq!(limits.max_order_qty, dec!(0.5));
    assert_eq!(limits.max_order_notional, dec!(25000));
    assert_eq!(limits.price_band_bps, dec!(12.5));
    assert!(limits.forbid_flip);
    assert_eq!(limits.stale_data_ms, 0);
    assert_eq!(limits.max_position, RiskLimits::default().max_position);
    assert!(toml::from_str::<RiskLimits>("max_ordr_qty = 1").is_err());
    let all: RiskLimits = toml::from_str("").unwrap();
    assert_eq!(all, RiskLimits::default());
}

/// `cargo test --release -- --ignored --nocapture check_cost`: ns per approved check.
#[test]
#[ignore]
fn check_cost() {
    let (i, b) = (btc(), book());
    let mut c = ctx(&i, &b);
    let mut e = RiskEngine::new(RiskLimits {
        max_orders_per_sec: 0,
        ..RiskLimits::default()
    });
    let lim = limit(Side::Buy, 599_990, 100);
    let mkt = market(Side::Buy, 800);
    let n = 1_000_000u32;
    let start = std::time::Instant::now();
    for k in 0..n {
        c.now = Timestamp(T0.0 + i64::from(k));
        let req = if k % 2 == 0 { lim.clone() } else { mkt.clone() };
        let ok = e.check(std::hint::black_box(req), &c);
        assert!(std::hint::black_box(ok).is_ok());
    }
    let total = start.elapsed().as_nanos() / u128::from(n);
    // The clone of the request (a String) is not part of the check: measure it alone.
    let start = std::time::Instant::now();
    for k in 0..n {
        let req = if k % 2 == 0 { lim.clone() } else { mkt.clone() };
        drop(std::hint::black_box(req));
    }
    let clone = start.elapsed().as_nanos() / u128::from(n);
    println!(
        "{} ns per check ({total} ns with the request's clone, {clone} ns for the clone)",
        total.saturating_sub(clone)
    );
}

#[test]
fn a_refusal_is_small_enough_to_return_by_value() {
    // clippy's result_large_err fires at 128 bytes for `Result<_, Refused>`.
    assert!(std::mem::size_of::<Refused>() < 128);
}

#[test]
fn the_order_form_checks_take_plain_inputs() {
    let i = btc();
    // Band edges are inclusive, as for an order: 100 bps of 60000 is 600.
    assert_eq!(
        price_band(dec!(59400), dec!(60000), dec!(100), false),
        Ok(())
    );
    assert_eq!(
        price_band(dec!(60600), dec!(60000), dec!(100), false),
        Ok(())
    );
    assert_eq!(
        price_band(dec!(59399.9), dec!(60000), dec!(100), false)
            .unwrap_err()
            .to_string(),
        "price 59399.9 is 100 bps from mid 60000, beyond price_band_bps 100"
    );
    assert_eq!(
        price_band(dec!(1), dec!(60000), Decimal::ZERO, false),
        Ok(())
    );
    assert_eq!(
        price_band(dec!(60000), dec!(60000), dec!(100), true)
            .unwrap_err()
            .code(),
        "price_band"
    );
    // The same verdict as the engine's check on the same order and book.
    let (b, e) = (book(), engine());
    for ticks in [593_999, 594_000, 606_000, 606_001] {
        let order = e.evaluate(&limit(Side::Buy, ticks, 100), &ctx(&i, &b));
        let plain = price_band(i.price(Price(ticks)), dec!(60000), dec!(100), false);
        assert_eq!(order, plain, "{ticks}");
    }

    assert_eq!(tick_grid(dec!(60000.1), &i), Ok(Price(600_001)));
    assert_msg(
        &tick_grid(dec!(60000.15), &i).unwrap_err(),
        "invalid_order",
        &["60000.15", "tick", "0.1"],
    );
    assert_msg(
        &tick_grid(dec!(0), &i).unwrap_err(),
        "invalid_order",
        &["must be positive"],
    );
    assert_eq!(lot_grid(dec!(0.25), &i), Ok(Qty(250)));
    assert_msg(
        &lot_grid(dec!(0.0015), &i).unwrap_err(),
        "invalid_order",
        &["0.0015", "lot", "0.001"],
    );
    assert_msg(
        &lot_grid(dec!(0), &i).unwrap_err(),
        "invalid_order",
        &["must be positive"],
    );
    let mut big_min = btc();
    big_min.min_qty = Qty(10);
    assert_msg(
        &lot_grid(dec!(0.005), &big_min).unwrap_err(),
        "invalid_order",
        &["below the minimum 0.01"],
    );
    assert_eq!(order_size(Qty(1), &i), Ok(()));
    assert_eq!(
        order_notional(dec!(30000), Decimal::ZERO, dec!(30000)),
        Ok(())
    );
    assert_msg(
        &order_notional(dec!(30000.5), Decimal::ZERO, dec!(30000)).unwrap_err(),
        "max_order_notional",
        &["30000.5", "30000"],
    );
}

#[test]
fn a_new_day_ends_the_cooldown_and_the_losing_streak() {
    let (i, b) = (btc(), book());
    let mut e = RiskEngine::new(RiskLimits {
        max_consecutive_losses: 2,
        loss_cooldown_secs: 3_600,
        stale_data_ms: 0,
        ..RiskLimits::default()
    });
    let c = ctx(&i, &b);
    e.record_round_trip(0, dec!(-1), T0);
    e.record_round_trip(0, dec!(-1), T0);
    let order = of_strategy(0, limit(Side::Buy, 599_990, 100));
    assert_eq!(refusal(&mut e, order.clone(), &c).code(), "cooldown");
    e.record_round_trip(0, dec!(-1), T0); // one loss of the next streak
    e.new_day();
    assert_eq!(e.cooldown_until(0), None);
    approve(&mut e, order, &c);
    // The streak starts from zero: one more loss is not two.
    e.record_round_trip(0, dec!(-1), T0);
    assert_eq!(e.cooldown_until(0), None);
}

// ----- the venue's rules (exchange filters) ------------------------------------------

/// BTC-like rules on the test instrument's grid (tick 0.1, lot 0.001): a coarser step
/// (0.002), a notional floor of 50, at most 2 open orders on the symbol.
fn venue_rules() -> crate::domain::VenueRulesState {
    use crate::domain::{VenueFilter, VenueRules, VenueRulesState};
    VenueRulesState::Known {
        venue: "binance".into(),
        rules: VenueRules {
            not_trading: None,
            order_types: vec!["LIMIT".into(), "LIMIT_MAKER".into(), "MARKET".into()],
            filters: vec![
                VenueFilter::PriceFilter {
                    min: dec!(0.1),
                    max: dec!(1000000),
                    tick: dec!(0.1),
                },
                VenueFilter::LotSize {
                    min: dec!(0.002),
                    max: dec!(9000),
                    step: dec!(0.002),
                },
                VenueFilter::MarketLotSize {
                    min: dec!(0),
                    max: dec!(0.5),
                    step: dec!(0),
                },
                VenueFilter::Notional {
                    min: dec!(50),
                    apply_min_to_market: true,
                    max: dec!(0),
                    apply_max_to_market: false,
                },
                VenueFilter::MaxNumOrders { max: 2 },
            ],
        },
    }
}

#[test]
fn an_order_the_venue_would_reject_is_refused_naming_the_filter_and_values() {
    let (inst, book) = (btc(), book());
    let rules = venue_rules();
    let mut c = ctx(&inst, &book);
    c.venue_rules = &rules;
    let mut e = engine();
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 3), &c);
    assert_eq!(r.code(), "venue_filter:lot_size");
    assert_eq!(
        r.to_string(),
        "LOT_SIZE: qty 0.003 is not a multiple of step 0.002"
    );
    // 0.002 x 20000.0 = 40 < 50.
    let r = refusal(&mut e, limit(Side::Buy, 200_000, 2), &c);
    assert_eq!(
        r.to_string(),
        "NOTIONAL: notional 40 is below the minimum 50"
    );
    // A market order's notional is priced at the touch it takes (ask 60001.0), and it
    // is held to MARKET_LOT_SIZE.
    let r = refusal(&mut e, market(Side::Buy, 600), &c);
    assert_eq!(
        r.to_string(),
        "MARKET_LOT_SIZE: qty 0.6 is above the maximum 0.5"
    );
    c.open_on_instrument = 2;
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 2), &c);
    assert_eq!(
        r.to_string(),
        "MAX_NUM_ORDERS: 2 open orders on this symbol: one more exceeds the venue's 2"
    );
    c.open_on_instrument = 1;
    approve(&mut e, limit(Side::Buy, 599_990, 2), &c);
    approve(&mut e, market(Side::Sell, 2), &c);
}

#[test]
fn reduce_only_exits_are_held_to_the_venue_filters_too() {
    // The venue would reject an off-step exit just the same: refused here, said why.
    let (inst, book) = (btc(), book());
    let rules = venue_rules();
    let mut c = ctx(&inst, &book);
    c.venue_rules = &rules;
    c.position = dec!(0.003);
    let r = refusal(&mut engine(), reduce_only(market(Side::Sell, 3)), &c);
    assert_eq!(r.code(), "venue_filter:lot_size");
    approve(&mut engine(), reduce_only(market(Side::Sell, 2)), &c);
}

#[test]
fn unknown_venue_rules_refuse_new_orders_but_let_exits_through() {
    let (inst, book) = (btc(), book());
    let awaited = crate::domain::VenueRulesState::Awaited {
        venue: "binance".into(),
        why: Some("exchangeInfo: connection refused".into()),
    };
    let mut c = ctx(&inst, &book);
    c.venue_rules = &awaited;
    let r = refusal(&mut engine(), limit(Side::Buy, 599_990, 2), &c);
    assert_eq!(r.code(), "venue_rules_unknown");
    assert_eq!(
        r.to_string(),
        "binance BTC-USD: the venue's filters (tick, lot, notional) are not known yet (exchangeInfo: connection refused): new orders refused until they are loaded"
    );
    c.position = dec!(0.002);
    approve(&mut engine(), reduce_only(market(Side::Sell, 2)), &c);
}

#[test]
fn a_closed_session_refuses_new_orders_and_a_limit_only_one_market_orders_exits_pass() {
    use crate::engine::session::{SessionNow, SessionPhase};
    let (i, b) = (btc(), book());
    let mut e = engine();
    let now = |phase| SessionNow {
        phase,
        until: at_ms(60_000),
        next: at_ms(60_000),
        next_text: "Mon 2026-03-09 09:30 EDT (13:30Z)".into(),
        until_text: "Mon 2026-03-09 09:30 EDT (13:30Z)".into(),
    };
    let closed = now(SessionPhase::Closed);
    let mut c = ctx(&i, &b);
    c.session = Some(&closed);
    let r = refusal(&mut e, limit(Side::Buy, 599_990, 100), &c);
    assert_msg(
        &r,
        "session_closed",
        &[
            "SESSION CLOSED",
            "next window opens Mon 2026-03-09 09:30 EDT (13:30Z)",
        ],
    );
    // A strategy's too, and the dry run (the order form's verdict) says the same.
    let r = refusal(&mut e, of_strategy(1, market(Side::Sell, 100)), &c);
    assert_eq!(r.code(), "session_closed");
    assert_eq!(
        e.evaluate(&limit(Side::Buy, 599_990, 100), &c)
            .unwrap_err()
            .code(),
        "session_closed"
    );
    // Exits pass.
    c.position = dec!(0.5);
    approve(&mut e, reduce_only(market(Side::Sell, 500)), &c);
    // Pre-open: limit orders only.
    let pre = now(SessionPhase::PreOpen);
    c.session = Some(&pre);
    c.position = Decimal::ZERO;
    let r = refusal(&mut e, market(Side::Buy, 100), &c);
    assert_msg(&r, "session_limit_only", &["PRE-OPEN", "limit orders only"]);
    let mut ok = limit(Side::Buy, 599_990, 100);
    ok.client_id = ClientOrderId::new("c-2");
    approve(&mut e, ok, &c);
    // Open: anything.
    let open = now(SessionPhase::Open);
    c.session = Some(&open);
    let mut m = market(Side::Buy, 100);
    m.client_id = ClientOrderId::new("c-3");
    approve(&mut e, m, &c);
}
