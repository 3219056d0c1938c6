//! The paper venue's fill model, scenario by scenario: takers, queue position, passive
//! fills, latency, fees, reduce-only, the gate, feed trouble and determinism.

use crate::domain::OrderSpec;

use super::*;
use crate::domain::{Fill, InstrumentId, Level, MarketEventKind, OrderTag, Owner, TradeTick};
use rust_decimal_macros::dec;

const BUY: Side = Side::Buy;
const SELL: Side = Side::Sell;

/// A share-like instrument: a tick is one cent, a lot is one share.
fn inst() -> Instrument {
    Instrument::new(
        InstrumentId(0),
        "TEST",
        "paper",
        dec!(0.01),
        dec!(1),
        Qty(1),
    )
}

/// The default latencies and taker fee, and a 1 bp maker fee (the default maker tier is
/// 0 bp), so that maker fees show.
fn venue_with(gate: TradingGate) -> PaperVenue {
    let p = PaperParams {
        maker_fee_bps: dec!(1),
        ..PaperParams::default()
    };
    PaperVenue::new(&p, vec![inst()], gate)
}

fn venue() -> PaperVenue {
    venue_with(TradingGate::new(true))
}

fn ms(n: i64) -> Timestamp {
    Timestamp::from_millis(n)
}

fn market_event(v: &mut PaperVenue, t: i64, kind: MarketEventKind) {
    v.on_market(&MarketEvent {
        ts: ms(t),
        instrument: InstrumentId(0),
        kind,
    });
}

fn snapshot(v: &mut PaperVenue, t: i64, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
    let lv = |&(p, q): &(i64, i64)| Level::new(Price(p), Qty(q));
    market_event(
        v,
        t,
        MarketEventKind::Snapshot {
            bids: bids.iter().map(lv).collect(),
            asks: asks.iter().map(lv).collect(),
        },
    );
}

fn level(v: &mut PaperVenue, t: i64, side: Side, p: i64, q: i64) {
    market_event(
        v,
        t,
        MarketEventKind::Level {
            side,
            price: Price(p),
            qty: Qty(q),
        },
    );
}

fn trade(v: &mut PaperVenue, t: i64, p: i64, q: i64, aggressor: Side) {
    market_event(
        v,
        t,
        MarketEventKind::Trade(TradeTick {
            ts: ms(t),
            price: Price(p),
            qty: Qty(q),
            aggressor,
        }),
    );
}

fn req(id: &str, side: Side, kind: OrderKind, price: Option<i64>, qty: i64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId::new(id),
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
            kind,
            price: price.map(Price),
            qty: Qty(qty),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        owner: Owner::Manual,
        tag: OrderTag::Manual,
    }
}

fn limit(id: &str, side: Side, p: i64, qty: i64, tif: TimeInForce) -> OrderRequest {
    OrderRequest {
        spec: OrderSpec {
            tif,
            ..req(id, side, OrderKind::Limit, Some(p), qty).spec
        },
        ..req(id, side, OrderKind::Limit, Some(p), qty)
    }
}

fn market(id: &str, side: Side, qty: i64) -> OrderRequest {
    OrderRequest {
        spec: OrderSpec {
            tif: TimeInForce::Ioc,
            ..req(id, side, OrderKind::Market, None, qty).spec
        },
        ..req(id, side, OrderKind::Market, None, qty)
    }
}

fn reduce_only(r: OrderRequest) -> OrderRequest {
    OrderRequest {
        spec: OrderSpec {
            reduce_only: true,
            ..r.spec
        },
        ..r
    }
}

fn submit(v: &mut PaperVenue, t: i64, r: OrderRequest) {
    v.submit(ms(t), RiskApproved::assume_approved_for_test(r));
}

fn cancel(v: &mut PaperVenue, t: i64, id: &str) {
    v.cancel(ms(t), &ClientOrderId::new(id));
}

fn poll(v: &mut PaperVenue, t: i64) -> Vec<ExecReport> {
    let mut out = Vec::new();
    v.poll_reports(ms(t), &mut out);
    out
}

fn fills(reports: &[ExecReport]) -> Vec<&Fill> {
    reports
        .iter()
        .filter_map(|r| match r {
            ExecReport::Filled(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::new(s)
}

/// Quote notional of a fill, and the fee at `bps`.
fn notional(f: &Fill) -> Decimal {
    inst().notional(f.price, f.qty)
}

#[test]
fn ioc_walks_three_levels_partially_fills_at_level_prices_with_taker_fee() {
    let mut v = venue();
    snapshot(
        &mut v,
        0,
        &[(9_990, 50)],
        &[(10_000, 2), (10_001, 3), (10_002, 4), (10_003, 10)],
    );
    submit(&mut v, 1, limit("ioc", BUY, 10_002, 12, TimeInForce::Ioc));
    let r = poll(&mut v, 11);
    let f = fills(&r);
    let got: Vec<(i64, i64)> = f.iter().map(|f| (f.price.0, f.qty.0)).collect();
    assert_eq!(
        got,
        vec![(10_000, 2), (10_001, 3), (10_002, 4)],
        "one fill per level, never past the limit"
    );
    assert!(f.iter().all(|f| f.liquidity == Liquidity::Taker));
    assert!(f.iter().all(|f| f.ts == ms(6)), "matched at arrival");
    // 100.00*2 + 100.01*3 + 100.02*4 = 900.11 for 9 shares.
    let total: Decimal = f.iter().map(|f| notional(f)).sum();
    assert_eq!(total, dec!(900.11));
    let filled: i64 = f.iter().map(|f| f.qty.0).sum();
    assert_eq!(filled, 9);
    assert_eq!(
        total / Decimal::from(filled),
        dec!(900.11) / dec!(9),
        "VWAP"
    );
    let fees: Decimal = f.iter().map(|f| f.fee).sum();
    assert_eq!(fees, dec!(0.450055), "5 bps of 900.11");
    assert_eq!(f[0].fee, dec!(0.1), "5 bps of 200.00");
    assert_eq!(
        r.last(),
        Some(&ExecReport::Cancelled {
            id: cid("ioc"),
            ts: ms(6)
        }),
        "the unfilled 3 are cancelled"
    );
    assert_eq!(r.len(), 4, "no Accepted for an IOC");
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn market_order_on_thin_book_fills_what_is_there_then_cancels() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
    submit(&mut v, 1, market("mkt", BUY, 5));
    let r = poll(&mut v, 11);
    assert_eq!(r.len(), 2);
    let f = fills(&r);
    assert_eq!((f[0].price, f[0].qty), (Price(10_000), Qty(2)));
    assert_eq!(
        r[1],
        ExecReport::Cancelled {
            id: cid("mkt"),
            ts: ms(6)
        }
    );
    // A market order on an empty book: nothing fills, no panic, cancelled.
    let mut v = venue();
    submit(&mut v, 1, market("empty", SELL, 5));
    assert_eq!(
        poll(&mut v, 11),
        vec![ExecReport::Cancelled {
            id: cid("empty"),
            ts: ms(6)
        }]
    );
}

#[test]
fn post_only_that_would_cross_is_rejected_and_one_that_would_not_rests() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
    submit(
        &mut v,
        1,
        limit("po1", BUY, 10_000, 1, TimeInForce::PostOnly),
    );
    submit(
        &mut v,
        1,
        limit("po2", BUY, 9_999, 1, TimeInForce::PostOnly),
    );
    let r = poll(&mut v, 11);
    assert_eq!(
        r,
        vec![
            ExecReport::Rejected {
                id: cid("po1"),
                ts: ms(6),
                reason: "post-only would cross".into()
            },
            ExecReport::Accepted {
                id: cid("po2"),
                ts: ms(6),
                queue_ahead: Some(Qty(0))
            },
        ]
    );
    assert_eq!(v.resting_orders(), 1);
}

#[test]
fn queue_position_advances_only_with_trades_and_level_shrinks() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
    submit(&mut v, 1, limit("q", BUY, 10_000, 5, TimeInForce::Gtc));
    assert_eq!(
        poll(&mut v, 11),
        vec![ExecReport::Accepted {
            id: cid("q"),
            ts: ms(6),
            queue_ahead: Some(Qty(10))
        }]
    );
    // 6 trade at our price: all of it was ahead of us.
    trade(&mut v, 20, 10_000, 6, SELL);
    assert!(
        poll(&mut v, 100).is_empty(),
        "trade of 6 behind 10 fills nothing"
    );
    assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(4)));
    // The level grows: newcomers join behind us.
    level(&mut v, 21, BUY, 10_000, 30);
    assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(4)));
    // Cancellations: at most 3 can be ahead now.
    level(&mut v, 22, BUY, 10_000, 3);
    assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(3)));
    // A trade where the aggressor is a buyer does not hit bids.
    trade(&mut v, 23, 10_000, 50, BUY);
    assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(3)));
    // 5 trade: 3 ahead, 2 for us.
    trade(&mut v, 30, 10_000, 5, SELL);
    assert_eq!(v.next_report_time(), Some(ms(35)));
    let r = poll(&mut v, 35);
    let f = fills(&r);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].price, f[0].qty, f[0].liquidity, f[0].ts),
        (Price(10_000), Qty(2), Liquidity::Maker, ms(30))
    );
    assert_eq!(f[0].fee, dec!(0.02), "1 bp of 200.00");
    assert_eq!(v.queue_ahead(&cid("q")), Some(Qty(0)));
    assert_eq!(v.resting_orders(), 1, "3 still resting");
}

#[test]
fn our_own_taking_at_a_level_moves_our_resting_order_up_without_self_matching() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(10_000, 6)], &[(10_010, 5)]);
    submit(&mut v, 1, limit("bid", BUY, 10_000, 2, TimeInForce::Gtc));
    submit(&mut v, 2, limit("hit", SELL, 10_000, 4, TimeInForce::Ioc));
    let r = poll(&mut v, 20);
    let f = fills(&r);
    assert_eq!(
        f.len(),
        1,
        "the sell takes the market's bids, never our own"
    );
    assert_eq!((f[0].client_id.as_str(), f[0].qty), ("hit", Qty(4)));
    assert_eq!(
        v.queue_ahead(&cid("bid")),
        Some(Qty(2)),
        "6 ahead, we took 4"
    );
    trade(&mut v, 30, 10_000, 3, SELL);
    let r = poll(&mut v, 35);
    assert_eq!(fills(&r)[0].qty, Qty(1));
}

#[test]
fn trade_through_our_price_fills_us_up_to_its_size() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
    submit(&mut v, 1, limit("b", BUY, 10_000, 5, TimeInForce::Gtc));
    poll(&mut v, 11);
    // A sell prints below our bid: the seller went through our level.
    trade(&mut v, 20, 9_999, 3, SELL);
    let r = poll(&mut v, 25);
    let f = fills(&r);
    assert_eq!(
        (f[0].price, f[0].qty, f[0].liquidity),
        (Price(10_000), Qty(3), Liquidity::Maker),
        "filled at our limit, not the print"
    );
    assert_eq!(v.queue_ahead(&cid("b")), Some(Qty(0)));
    // The next print through fills the rest, capped at our size.
    trade(&mut v, 30, 9_998, 100, SELL);
    let r = poll(&mut v, 35);
    assert_eq!(fills(&r)[0].qty, Qty(2));
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn book_moving_through_a_resting_order_fills_it_as_maker_once() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(10_000, 10)], &[(10_010, 5)]);
    submit(&mut v, 1, limit("b", BUY, 10_000, 5, TimeInForce::Gtc));
    poll(&mut v, 11);
    // The ask comes down to our bid.
    level(&mut v, 20, SELL, 10_000, 4);
    let r = poll(&mut v, 25);
    let f = fills(&r);
    assert_eq!(
        (f[0].price, f[0].qty, f[0].liquidity, f[0].ts),
        (Price(10_000), Qty(4), Liquidity::Maker, ms(20))
    );
    // An unrelated update: the 4 at 10_000 stay consumed, nothing new fills.
    level(&mut v, 21, BUY, 9_990, 7);
    assert!(poll(&mut v, 26).is_empty());
    // An ask through our bid: fills the last lot, still at our price.
    level(&mut v, 22, SELL, 9_999, 2);
    let r = poll(&mut v, 27);
    let f2 = fills(&r);
    assert_eq!((f2[0].price, f2[0].qty), (Price(10_000), Qty(1)));
    assert!(f2[0].seq > f[0].seq);
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn report_arrives_exactly_latency_in_plus_out_after_submit() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
    submit(&mut v, 1_000, market("m", BUY, 1));
    assert_eq!(
        v.next_report_time(),
        Some(ms(1_005)),
        "arrival at the venue"
    );
    assert!(poll(&mut v, 1_004).is_empty());
    assert!(poll(&mut v, 1_005).is_empty(), "matched, report travelling");
    assert_eq!(v.next_report_time(), Some(ms(1_010)));
    assert!(poll(&mut v, 1_009).is_empty());
    let r = poll(&mut v, 1_010);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].ts(),
        ms(1_005),
        "the fill's time is the venue's match time"
    );
    assert_eq!(v.next_report_time(), None);
}

#[test]
fn arrivals_are_matched_before_a_market_event_at_the_same_time() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2)]);
    submit(&mut v, 0, market("m", BUY, 2));
    // The ask is pulled exactly when our order arrives: we were there first.
    level(&mut v, 5, SELL, 10_000, 0);
    let r = poll(&mut v, 10);
    assert_eq!(fills(&r)[0].qty, Qty(2));
    // An order arriving after the ask is gone finds nothing.
    submit(&mut v, 1, market("late", BUY, 2));
    let r = poll(&mut v, 20);
    assert_eq!(
        r,
        vec![ExecReport::Cancelled {
            id: cid("late"),
            ts: ms(6)
        }]
    );
}

#[test]
fn closed_gate_blocks_new_orders_but_not_reduce_only_exits_or_cancels() {
    let gate = TradingGate::new(true);
    let mut v = venue_with(gate.clone());
    snapshot(&mut v, 0, &[(9_990, 50)], &[(10_000, 50)]);
    submit(&mut v, 1, market("open", BUY, 3));
    submit(&mut v, 1, limit("rest", BUY, 9_980, 1, TimeInForce::Gtc));
    poll(&mut v, 11);
    assert_eq!(v.resting_orders(), 1);

    gate.close();
    submit(&mut v, 20, market("more", BUY, 1));
    assert_eq!(
        v.next_report_time(),
        Some(ms(25)),
        "the refusal travels back"
    );
    submit(&mut v, 20, reduce_only(market("exit", SELL, 3)));
    cancel(&mut v, 20, "rest");
    let r = poll(&mut v, 30);
    assert_eq!(
        r[0],
        ExecReport::Rejected {
            id: cid("more"),
            ts: ms(20),
            reason: "trading gate closed".into()
        }
    );
    let f = fills(&r);
    assert_eq!((f[0].client_id.as_str(), f[0].qty), ("exit", Qty(3)));
    assert!(r.contains(&ExecReport::Cancelled {
        id: cid("rest"),
        ts: ms(25)
    }));
    assert_eq!(
        v.stats(),
        PortStats {
            orders_sent: 3,
            orders_blocked: 1,
            cancels_sent: 1
        }
    );
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn two_consecutive_iocs_never_take_the_same_liquidity() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 5), (10_001, 5)]);
    submit(&mut v, 1, limit("a", BUY, 10_000, 3, TimeInForce::Ioc));
    submit(&mut v, 1, limit("b", BUY, 10_000, 3, TimeInForce::Ioc));
    let r = poll(&mut v, 11);
    let f = fills(&r);
    assert_eq!(
        f.iter()
            .map(|f| (f.client_id.as_str(), f.qty.0))
            .collect::<Vec<_>>(),
        vec![("a", 3), ("b", 2)],
        "the first submitted gets it; only 5 existed"
    );
    assert!(r.contains(&ExecReport::Cancelled {
        id: cid("b"),
        ts: ms(6)
    }));
    // An update elsewhere does not give the liquidity back...
    level(&mut v, 20, SELL, 10_001, 6);
    submit(&mut v, 21, limit("c", BUY, 10_000, 3, TimeInForce::Ioc));
    assert!(fills(&poll(&mut v, 31)).is_empty());
    // ...a fresh update for that level does.
    level(&mut v, 40, SELL, 10_000, 5);
    submit(&mut v, 41, limit("d", BUY, 10_000, 3, TimeInForce::Ioc));
    assert_eq!(fills(&poll(&mut v, 51))[0].qty, Qty(3));
}

#[test]
fn a_fill_while_the_cancel_travels_stands() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_010, 5)]);
    submit(&mut v, 1, limit("full", BUY, 10_000, 5, TimeInForce::Gtc));
    submit(&mut v, 1, limit("part", BUY, 9_995, 5, TimeInForce::Gtc));
    poll(&mut v, 11);
    cancel(&mut v, 20, "full");
    cancel(&mut v, 20, "part");
    // While the cancels travel, a seller sweeps down to 9_995 (through "full").
    trade(&mut v, 22, 9_995, 8, SELL);
    let r = poll(&mut v, 40);
    let f = fills(&r);
    assert_eq!(
        f.iter()
            .map(|f| (f.client_id.as_str(), f.qty.0))
            .collect::<Vec<_>>(),
        vec![("full", 5), ("part", 3)]
    );
    assert!(r.contains(&ExecReport::CancelRejected {
        id: cid("full"),
        ts: ms(25),
        reason: "unknown or already closed".into()
    }));
    assert!(r.contains(&ExecReport::Cancelled {
        id: cid("part"),
        ts: ms(25)
    }));
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn reduce_only_is_rejected_when_flat_and_capped_to_the_position() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 50)], &[(10_000, 50)]);
    submit(&mut v, 1, reduce_only(market("ro0", SELL, 1)));
    assert_eq!(
        poll(&mut v, 11),
        vec![ExecReport::Rejected {
            id: cid("ro0"),
            ts: ms(6),
            reason: "reduce-only order would not reduce the position".into()
        }]
    );
    submit(&mut v, 20, market("long", BUY, 3));
    submit(&mut v, 20, reduce_only(market("ro1", SELL, 5)));
    let r = poll(&mut v, 30);
    let f = fills(&r);
    assert_eq!(
        (f[1].client_id.as_str(), f[1].qty),
        ("ro1", Qty(3)),
        "capped"
    );
    assert_eq!(
        r.last(),
        Some(&ExecReport::Cancelled {
            id: cid("ro1"),
            ts: ms(25)
        })
    );
    // Flat again: a resting reduce-only order is cancelled when its position goes.
    submit(&mut v, 40, market("long2", BUY, 4));
    submit(
        &mut v,
        40,
        reduce_only(limit("tp", SELL, 10_050, 4, TimeInForce::Gtc)),
    );
    submit(&mut v, 40, reduce_only(market("exit", SELL, 4)));
    let r = poll(&mut v, 50);
    assert!(r.contains(&ExecReport::Accepted {
        id: cid("tp"),
        ts: ms(45),
        queue_ahead: Some(Qty(0))
    }));
    assert_eq!(
        r.last(),
        Some(&ExecReport::Cancelled {
            id: cid("tp"),
            ts: ms(45)
        })
    );
    assert_eq!(v.resting_orders(), 0);
}

#[test]
fn gtc_limit_takes_what_crosses_and_rests_the_rest() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(9_990, 5)], &[(10_000, 2), (10_005, 9)]);
    submit(&mut v, 1, limit("g", BUY, 10_001, 5, TimeInForce::Gtc));
    let r = poll(&mut v, 11);
    assert!(matches!(r[0], ExecReport::Accepted { .. }), "ack first");
    let f = fills(&r);
    assert_eq!(
        (f[0].price, f[0].qty, f[0].liquidity),
        (Price(10_000), Qty(2), Liquidity::Taker)
    );
    assert_eq!(v.resting_orders(), 1);
    assert_eq!(v.queue_ahead(&cid("g")), Some(Qty(0)));
}

#[test]
fn odd_input_is_refused_never_panics() {
    let mut v = venue();
    let other = OrderRequest {
        spec: OrderSpec {
            instrument: InstrumentId(7),
            ..market("x", BUY, 1).spec
        },
        ..market("x", BUY, 1)
    };
    submit(&mut v, 1, other);
    submit(&mut v, 1, market("zero", BUY, 0));
    submit(&mut v, 1, req("noprice", BUY, OrderKind::Limit, None, 1));
    submit(&mut v, 1, limit("dup", BUY, 9_000, 1, TimeInForce::Gtc));
    submit(&mut v, 1, limit("dup", BUY, 9_001, 1, TimeInForce::Gtc));
    cancel(&mut v, 1, "nobody");
    v.on_market(&MarketEvent {
        ts: ms(2),
        instrument: InstrumentId(9),
        kind: MarketEventKind::Level {
            side: BUY,
            price: Price(1),
            qty: Qty(1),
        },
    });
    trade(&mut v, 3, 9_000, -5, SELL);
    let r = poll(&mut v, 20);
    let reasons: Vec<String> = r
        .iter()
        .filter_map(|r| match r {
            ExecReport::Rejected { reason, .. } | ExecReport::CancelRejected { reason, .. } => {
                Some(reason.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            "unknown instrument",
            "quantity must be positive",
            "limit order without a price",
            "duplicate client order id",
            "unknown or already closed",
        ]
    );
    assert_eq!(v.queue_ahead(&cid("nobody")), None);
    assert_eq!(v.resting_orders(), 1);
}

#[test]
fn resyncing_book_offers_nothing_and_queue_is_unknown_until_snapshot() {
    let mut v = venue();
    snapshot(&mut v, 0, &[(10_000, 8)], &[(10_010, 5)]);
    market_event(
        &mut v,
        1,
        MarketEventKind::Resyncing {
            reason: "gap".into(),
        },
    );
    level(&mut v, 2, SELL, 10_010, 5); // ignored until a snapshot
    submit(&mut v, 3, market("m", BUY, 1));
    submit(&mut v, 3, limit("b", BUY, 10_000, 1, TimeInForce::Gtc));
    let r = poll(&mut v, 20);
    assert_eq!(
        r,
        vec![
            ExecReport::Cancelled {
                id: cid("m"),
                ts: ms(8)
            },
            ExecReport::Accepted {
                id: cid("b"),
                ts: ms(8),
                queue_ahead: None
            },
        ]
    );
    trade(&mut v, 21, 10_000, 100, SELL);
    assert!(
        poll(&mut v, 30).is_empty(),
        "unknown queue: no fill at our price"
    );
    snapshot(&mut v, 31, &[(10_000, 4)], &[(10_010, 5)]);
    assert_eq!(v.queue_ahead(&cid("b")), Some(Qty(4)));
}

/// A busy script: ties, partial fills, cancels, queue, crossing, trades through.
fn script() -> Vec<ExecReport> {
    let mut v = venue();
    let mut out = Vec::new();
    snapshot(
        &mut v,
        0,
        &[(9_998, 4), (9_999, 6)],
        &[(10_001, 3), (10_002, 7)],
    );
    for (i, t) in [1, 1, 1, 2, 2].into_iter().enumerate() {
        let id = format!("s{i}");
        submit(
            &mut v,
            t,
            limit(&id, BUY, 9_999 - i as i64 % 2, 2, TimeInForce::Gtc),
        );
    }
    submit(&mut v, 2, market("m", BUY, 5));
    submit(&mut v, 2, limit("i", SELL, 9_998, 20, TimeInForce::Ioc));
    cancel(&mut v, 3, "s3");
    v.poll_reports(ms(7), &mut out);
    trade(&mut v, 8, 9_999, 9, SELL);
    level(&mut v, 9, SELL, 9_999, 3);
    trade(&mut v, 10, 9_997, 4, SELL);
    v.poll_reports(ms(100), &mut out);
    out
}

#[test]
fn same_script_gives_identical_reports() {
    let a = script();
    let b = script();
    assert!(fills(&a).len() >= 4, "the script does trade: {a:#?}");
    assert_eq!(a, b);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let seqs: Vec<u64> = fills(&a).iter().map(|f| f.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "fill seq strictly increasing"
    );
    assert!(
        a.windows(2).all(|w| w[0].ts() <= w[1].ts()),
        "in time order"
    );
}

#[test]
fn params_default_parse_and_validate() {
    let p = PaperParams::default();
    assert_eq!(
        (
            p.latency_in_ms,
            p.latency_out_ms,
            p.maker_fee_bps,
            p.taker_fee_bps
        ),
        (5, 5, dec!(0), dec!(5))
    );
    assert_eq!(p.validate(), Ok(()));
    let p: PaperParams = toml::from_str("latency_in_ms = 20\nmaker_fee_bps = -0.5").unwrap();
    assert_eq!(p.latency_in_ms, 20);
    assert_eq!(p.maker_fee_bps, dec!(-0.5));
    assert_eq!(p.taker_fee_bps, dec!(5));
    assert!(toml::from_str::<PaperParams>("latency_ms = 1").is_err());
    let bad = PaperParams {
        latency_out_ms: 600_000,
        ..PaperParams::default()
    };
    assert_eq!(
        bad.validate().map_err(|e| e.key),
        Err("latency_out_ms".into())
    );
    let bad = PaperParams {
        taker_fee_bps: dec!(5000),
        ..PaperParams::default()
    };
    assert_eq!(
        bad.validate().map_err(|e| e.key),
        Err("taker_fee_bps".into())
    );
}
