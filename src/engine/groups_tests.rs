//! Brackets and execution algorithms fed events: the orders they send, cancel and never
//! send (a held stop while HALTED, a slice after a cancel).

use super::*;
use crate::domain::{
    ExecReport, Fill, GroupRole, Level, Liquidity, MarketEvent, MarketEventKind, OrderKind,
    OrderSpec, OrderTag, Owner, Price, Qty, Side, TimeInForce,
};
use risk::RiskLimits;
use rust_decimal_macros::dec;

const T0: i64 = 1_767_229_200_000;

struct H {
    e: Engine,
    seq: u64,
    ms: i64,
}

fn harness(algos: AlgoConfig) -> H {
    let inst = Instrument::new(
        InstrumentId(0),
        "BTC-USD",
        "sim",
        dec!(0.1),
        dec!(0.001),
        crate::domain::Qty(1),
    );
    let start = Timestamp::from_millis(T0);
    let mut e = Engine::new(EngineSetup {
        config: EngineConfig::default(),
        kill: KillSwitchConfig::default(),
        instruments: vec![inst],
        strategies: Vec::new(),
        sizing: crate::strategy::sizing::SizingParams::default(),
        risk: RiskEngine::new(RiskLimits::default()),
        gate: TradingGate::new(true),
        initial_state: TradingState::Active,
        start,
    });
    e.set_group_config(BracketConfig::default(), algos);
    let mut h = H { e, seq: 0, ms: 0 };
    h.book(599_995, 600_005);
    h
}

impl H {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(T0 + self.ms)
    }
    fn input(&mut self, input: Input) -> Vec<Effect> {
        self.ms += 1;
        let mut out = Vec::new();
        let now = self.now();
        self.e.process(now, input, &mut out);
        out
    }
    fn book(&mut self, bid: i64, ask: i64) -> Vec<Effect> {
        let ts = Timestamp::from_millis(T0 + self.ms + 1);
        self.input(Input::Market(MarketEvent {
            ts,
            instrument: InstrumentId(0),
            kind: MarketEventKind::Snapshot {
                bids: vec![Level::new(Price(bid), Qty(5_000))],
                asks: vec![Level::new(Price(ask), Qty(5_000))],
            },
        }))
    }
    fn trade(&mut self, price: i64, lots: i64) -> Vec<Effect> {
        let ts = Timestamp::from_millis(T0 + self.ms + 1);
        self.input(Input::Market(MarketEvent {
            ts,
            instrument: InstrumentId(0),
            kind: MarketEventKind::Trade(crate::domain::TradeTick {
                ts,
                price: Price(price),
                qty: Qty(lots),
                aggressor: Side::Sell,
            }),
        }))
    }
    fn cmd(&mut self, c: Command) -> Vec<Effect> {
        self.input(Input::Command(c))
    }
    fn fill(&mut self, id: &ClientOrderId, price: i64, lots: i64) -> Vec<Effect> {
        self.seq += 1;
        let side = self.e.open_orders()[id].req.spec.side;
        let fill = Fill {
            seq: self.seq,
            ts: self.now(),
            client_id: id.clone(),
            instrument: InstrumentId(0),
            side,
            price: Price(price),
            qty: Qty(lots),
            fee: rust_decimal::Decimal::ZERO,
            liquidity: Liquidity::Maker,
            fee_base: rust_decimal::Decimal::ZERO,
        };
        self.input(Input::Exec(ExecReport::Filled(fill)))
    }
    fn cancelled(&mut self, id: &ClientOrderId) -> Vec<Effect> {
        let ts = self.now();
        self.input(Input::Exec(ExecReport::Cancelled { id: id.clone(), ts }))
    }
    /// Advance the clock by `ms` and run the timer (a fresh book first: risk wants one).
    fn timer_after(&mut self, ms: i64) -> Vec<Effect> {
        self.ms += ms;
        let mut out = self.book(599_995, 600_005);
        out.extend(self.input(Input::Timer));
        out
    }
    fn order(&self, id: &ClientOrderId) -> &Order {
        &self.e.open_orders()[id]
    }
}

fn submits(out: &[Effect]) -> Vec<OrderRequest> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Submit(o) => Some((**o).clone()),
            _ => None,
        })
        .collect()
}

fn cancels(out: &[Effect]) -> Vec<ClientOrderId> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Cancel(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn alerts(out: &[Effect]) -> Vec<String> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Alert(a) => Some(a.text.clone()),
            _ => None,
        })
        .collect()
}

/// A buy bracket: 10 lots at 59999.5, take-profit 60010.0, stop 59990.0.
fn bracket(h: &mut H) -> ClientOrderId {
    let out = h.cmd(Command::Bracket(BracketOrder {
        order: ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(599_995)),
                qty: Qty(10),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            client_id: None,
        },
        legs: BracketLegs {
            take_profit: Some(Price(600_100)),
            stop_loss: Some(Price(599_900)),
        },
    }));
    let s = submits(&out);
    assert_eq!(s.len(), 1, "only the entry goes at first: {out:?}");
    assert!(!s[0].spec.reduce_only);
    assert_eq!(h.e.brackets().count(), 1);
    s[0].client_id.clone()
}

#[test]
fn a_partial_entry_fill_sizes_the_take_profit_and_the_stop_closes_only_the_rest() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    assert_eq!(
        h.order(&entry).group.map(|g| g.role),
        Some(GroupRole::Entry)
    );
    // 4 of 10 fill: a take-profit for 4, reduce-only, at its price.
    let out = h.fill(&entry, 599_995, 4);
    let s = submits(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    let tp = s[0].client_id.clone();
    assert_eq!(
        (
            s[0].spec.side,
            s[0].spec.price,
            s[0].spec.qty,
            s[0].spec.reduce_only,
            s[0].tag
        ),
        (
            Side::Sell,
            Some(Price(600_100)),
            Qty(4),
            true,
            OrderTag::TakeProfit
        )
    );
    // 3 more: the take-profit is cancelled, and placed again for 7 once that is confirmed.
    let out = h.fill(&entry, 599_995, 3);
    assert_eq!(cancels(&out), vec![tp.clone()]);
    assert!(submits(&out).is_empty(), "never two take-profits at once");
    let out = h.cancelled(&tp);
    let s = submits(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!((s[0].spec.qty, s[0].tag), (Qty(7), OrderTag::TakeProfit));
    let tp = s[0].client_id.clone();
    // The take-profit fills 2: 5 left open. The bid falls through the stop.
    h.fill(&tp, 600_100, 2);
    let out = h.book(599_890, 599_990);
    // The take-profit and the rest of the entry are cancelled; no stop yet.
    let mut c = cancels(&out);
    c.sort();
    let mut want = vec![entry.clone(), tp.clone()];
    want.sort();
    assert_eq!(c, want, "{out:?}");
    assert!(
        submits(&out).is_empty(),
        "the stop waits for the take-profit's cancel"
    );
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("stop-loss 59990.0 reached by the best bid at 59989.0"))
    );
    // Confirmed: the stop goes for the 5 still open, a reduce-only market IOC.
    let out = h.cancelled(&tp);
    let s = submits(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(
        (
            s[0].spec.side,
            s[0].spec.kind,
            s[0].spec.tif,
            s[0].spec.qty,
            s[0].spec.reduce_only,
            s[0].tag
        ),
        (
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            Qty(5),
            true,
            OrderTag::StopLoss
        )
    );
    let sl = s[0].client_id.clone();
    h.cancelled(&entry);
    let out = h.fill(&sl, 599_890, 5);
    assert!(
        alerts(&out).iter().any(|a| a.contains("bracket B1 done")),
        "{out:?}"
    );
    assert_eq!(h.e.brackets().count(), 0);
    assert!(h.e.position(InstrumentId(0)).is_flat());
    // Nothing more, however far the price goes.
    let out = h.book(599_000, 599_100);
    assert!(submits(&out).is_empty());
}

#[test]
fn a_take_profit_that_fills_ends_the_bracket_and_its_stop() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    let out = h.fill(&tp, 600_100, 10);
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("bracket B1 done: take-profit filled")),
        "{out:?}"
    );
    assert_eq!(h.e.brackets().count(), 0);
    let mut out = h.book(599_800, 599_850);
    out.extend(h.trade(599_800, 5));
    assert!(
        submits(&out).is_empty(),
        "no stop after the take-profit closed it: {out:?}"
    );
}

#[test]
fn a_trade_through_the_stop_fires_it_and_an_ioc_left_short_is_sent_again() {
    let mut h = harness(AlgoConfig::default());
    let out = h.cmd(Command::Bracket(BracketOrder {
        order: ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Market,
                price: None,
                qty: Qty(6),
                tif: TimeInForce::Ioc,
                reduce_only: false,
            },
            client_id: None,
        },
        legs: BracketLegs {
            take_profit: None,
            stop_loss: Some(Price(599_900)),
        },
    }));
    let entry = submits(&out)[0].client_id.clone();
    let out = h.fill(&entry, 600_005, 6);
    assert!(submits(&out).is_empty(), "no take-profit asked for");
    // A print at the stop (the bid is still above it).
    let out = h.trade(599_900, 1);
    let s = submits(&out);
    assert_eq!(
        (s.len(), s[0].spec.qty, s[0].tag),
        (1, Qty(6), OrderTag::StopLoss),
        "{out:?}"
    );
    let sl = s[0].client_id.clone();
    h.fill(&sl, 599_900, 2);
    h.cancelled(&sl);
    // Sent again for the 4 left once stop_retry_ms (250) has passed, not before.
    h.ms += 100;
    assert!(submits(&h.input(Input::Timer)).is_empty());
    h.ms += 200;
    let s = submits(&h.input(Input::Timer));
    assert_eq!((s.len(), s[0].spec.qty), (1, Qty(4)));
}

#[test]
fn halted_drops_the_bracket_and_its_stop_never_fires() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    let out = h.cmd(Command::KillSwitch);
    let c = cancels(&out);
    assert!(
        c.contains(&tp),
        "the take-profit is cancelled like any order: {out:?}"
    );
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("bracket B1 cancelled (HALTED)") && a.contains("0.010 BTC-USD"))
    );
    assert_eq!(h.e.brackets().count(), 0);
    let mut out = h.book(599_000, 599_100);
    out.extend(h.trade(599_000, 10));
    out.extend(h.timer_after(1_000));
    assert!(
        submits(&out).is_empty(),
        "nothing fires while HALTED: {out:?}"
    );
    h.cmd(Command::ReArm);
    let out = h.book(598_000, 598_100);
    assert!(submits(&out).is_empty(), "the stop went with the halt");
}

#[test]
fn a_flatten_or_a_cancel_of_a_leg_takes_the_whole_bracket() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 5);
    let tp = submits(&out)[0].client_id.clone();
    // `x` on the take-profit: the take-profit and the rest of the entry are cancelled,
    // the stop forgotten.
    let out = h.cmd(Command::Cancel(tp.clone()));
    let mut c = cancels(&out);
    c.sort();
    let mut want = vec![entry.clone(), tp.clone()];
    want.sort();
    assert_eq!(c, want);
    assert_eq!(h.e.brackets().count(), 0);
    assert!(submits(&h.book(599_000, 599_100)).is_empty());

    // A flatten closes the position itself: the stop must not close it again.
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    h.fill(&entry, 599_995, 10);
    let out = h.cmd(Command::Flatten(None));
    let s = submits(&out);
    assert_eq!((s.len(), s[0].tag), (1, OrderTag::Flatten), "{out:?}");
    assert_eq!(h.e.brackets().count(), 0);
    assert!(submits(&h.book(599_000, 599_100)).is_empty());
}

#[test]
fn legs_on_the_wrong_side_are_refused_and_nothing_is_sent() {
    let mut h = harness(AlgoConfig::default());
    let out = h.cmd(Command::Bracket(BracketOrder {
        order: ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(599_995)),
                qty: Qty(10),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            client_id: None,
        },
        legs: BracketLegs {
            take_profit: Some(Price(599_000)),
            stop_loss: Some(Price(598_000)),
        },
    }));
    assert!(submits(&out).is_empty());
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a == "bracket refused: the take-profit must be above the entry for a BUY"),
        "{:?}",
        alerts(&out)
    );
}

fn algo(h: &mut H, kind: AlgoKind, lots: i64, slices: u32, secs: u64) -> Vec<Effect> {
    h.cmd(Command::Algo(AlgoOrder {
        kind,
        order: ManualOrder {
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Market,
                price: None,
                qty: Qty(lots),
                tif: TimeInForce::Ioc,
                reduce_only: false,
            },
            client_id: None,
        },
        slices: Some(slices),
        duration_secs: Some(secs),
    }))
}

fn no_cap() -> AlgoConfig {
    AlgoConfig {
        participation_cap: rust_decimal::Decimal::ZERO,
        ..AlgoConfig::default()
    }
}

#[test]
fn twap_sends_even_slices_on_the_engine_clock_and_catches_up() {
    let mut h = harness(no_cap());
    // 10 lots in 5 slices over 50 s: 2 lots at once, IOC at the ask.
    let out = algo(&mut h, AlgoKind::Twap, 10, 5, 50);
    let s = submits(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(
        (s[0].spec.price, s[0].spec.qty, s[0].spec.tif),
        (Some(Price(600_005)), Qty(2), TimeInForce::Ioc)
    );
    assert_eq!(
        h.order(&s[0].client_id).group.map(|g| g.role),
        Some(GroupRole::Child)
    );
    // It fills 1 and the rest expires.
    let c = s[0].client_id.clone();
    h.fill(&c, 600_005, 1);
    h.cancelled(&c);
    // Nothing before the next slice is due.
    assert!(submits(&h.timer_after(5_000)).is_empty());
    // At 10 s: 9 left over 4 slices: 3 (rounded up).
    let s = submits(&h.timer_after(5_000));
    assert_eq!(
        s.iter().map(|r| r.spec.qty).collect::<Vec<_>>(),
        vec![Qty(3)]
    );
    assert_eq!(h.e.algos().next().map(|a| a.done_slices), Some(2));
}

#[test]
fn vwap_split_sends_eighty_percent_at_the_touch_and_the_rest_a_tick_inside() {
    let mut h = harness(no_cap());
    let out = algo(&mut h, AlgoKind::VwapSplit, 50, 5, 50);
    let s = submits(&out);
    let got: Vec<_> = s
        .iter()
        .map(|r| (r.spec.price, r.spec.qty, r.spec.tif))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(Price(600_005)), Qty(8), TimeInForce::Ioc),
            (Some(Price(599_996)), Qty(2), TimeInForce::Gtc),
        ]
    );
    // The next slice cancels the resting child first.
    let passive = s[1].client_id.clone();
    h.cancelled(&s[0].client_id);
    let out = h.timer_after(10_000);
    assert!(cancels(&out).contains(&passive), "{out:?}");
}

#[test]
fn the_participation_cap_bounds_each_slice_by_the_traded_volume() {
    let mut h = harness(AlgoConfig {
        participation_cap: dec!(0.1),
        ..AlgoConfig::default()
    });
    // No volume yet: the slice is skipped, and says why.
    let out = algo(&mut h, AlgoKind::Twap, 100, 2, 20);
    assert!(submits(&out).is_empty());
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("slice 1/2 skipped: participation cap"))
    );
    // 40 lots trade: the next slice (100 left over 1 slice) is cut to 4.
    h.trade(600_000, 40);
    let s = submits(&h.timer_after(10_000));
    assert_eq!(
        s.iter().map(|r| r.spec.qty).collect::<Vec<_>>(),
        vec![Qty(4)]
    );
}

#[test]
fn cancelling_the_parent_or_a_halt_stops_the_schedule() {
    let mut h = harness(no_cap());
    let s = submits(&algo(&mut h, AlgoKind::VwapSplit, 50, 5, 50));
    let out = h.cmd(Command::Cancel(s[1].client_id.clone()));
    let mut c = cancels(&out);
    c.sort();
    let mut want: Vec<_> = s.iter().map(|r| r.client_id.clone()).collect();
    want.sort();
    assert_eq!(c, want, "every child goes with the parent");
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("algo A1 VWAP split stopped (cancelled by the operator)"))
    );
    assert!(submits(&h.timer_after(60_000)).is_empty());

    let mut h = harness(no_cap());
    algo(&mut h, AlgoKind::Twap, 10, 5, 50);
    h.cmd(Command::KillSwitch);
    assert_eq!(h.e.algos().count(), 0);
    h.cmd(Command::ReArm);
    assert!(
        submits(&h.timer_after(60_000)).is_empty(),
        "no slice after a halt"
    );
}

#[test]
fn reducing_holds_an_algorithms_slices_and_the_same_inputs_give_the_same_orders() {
    let mut h = harness(no_cap());
    algo(&mut h, AlgoKind::Twap, 10, 5, 50);
    h.cmd(Command::Reduce);
    let out = h.timer_after(10_000);
    assert!(
        submits(&out).is_empty(),
        "REDUCING lets no new exposure out"
    );
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("skipped: REDUCING holds its new orders"))
    );

    // Deterministic: the same inputs at the same engine times, the same effects.
    let run = || {
        let mut h = harness(AlgoConfig::default());
        let mut all = Vec::new();
        h.trade(600_000, 50);
        all.extend(algo(&mut h, AlgoKind::VwapSplit, 40, 4, 40));
        let entry = bracket(&mut h);
        all.extend(h.fill(&entry, 599_995, 10));
        for k in 0..6 {
            h.trade(600_000 - 30 * k, 20);
            all.extend(h.timer_after(10_000));
        }
        format!("{all:?}")
    };
    assert_eq!(run(), run());
}

/// Asks for one bracket on the first book it sees.
struct BracketOnce(bool);

impl crate::strategy::Strategy for BracketOnce {
    fn name(&self) -> &str {
        "bracket-once"
    }
    fn instrument(&self) -> Option<InstrumentId> {
        Some(InstrumentId(0))
    }
    fn on_book(
        &mut self,
        _ctx: &crate::strategy::StrategyCtx<'_>,
        inst: InstrumentId,
        out: &mut Vec<crate::strategy::Intent>,
    ) {
        if std::mem::replace(&mut self.0, true) {
            return;
        }
        out.push(crate::strategy::Intent::PlaceBracket(
            crate::strategy::OrderIntent {
                spec: OrderSpec {
                    instrument: inst,
                    side: Side::Sell,
                    kind: OrderKind::Limit,
                    price: Some(Price(600_005)),
                    qty: Qty(5),
                    tif: TimeInForce::Gtc,
                    reduce_only: false,
                },
                tag: OrderTag::Strategy,
                risk: None,
            },
            BracketLegs {
                take_profit: Some(Price(599_900)),
                stop_loss: Some(Price(600_100)),
            },
        ));
    }
    fn last_signal(&self) -> Option<&str> {
        None
    }
}

#[test]
fn a_strategys_bracket_legs_are_its_own_and_its_switch_off_drops_them() {
    let mut h = harness(AlgoConfig::default());
    h.e.strategies.push(crate::strategy::StrategySlot::of(
        Box::new(BracketOnce(false)),
        true,
    ));
    h.e.strat_stats.push(strategies::StrategyStats {
        positions: vec![Position::new(InstrumentId(0))],
        trip_pnl: vec![rust_decimal::Decimal::ZERO],
        ..Default::default()
    });
    let out = h.book(599_995, 600_005);
    let s = submits(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(s[0].owner, Owner::Strategy(0));
    let entry = s[0].client_id.clone();
    let s = submits(&h.fill(&entry, 600_005, 5));
    assert_eq!(
        (s[0].owner, s[0].spec.side, s[0].spec.qty, s[0].tag),
        (Owner::Strategy(0), Side::Buy, Qty(5), OrderTag::TakeProfit)
    );
    let out = h.cmd(Command::SetStrategy(0, false));
    assert!(cancels(&out).contains(&s[0].client_id));
    assert_eq!(h.e.brackets().count(), 0);
    // A buy stop at 60010.0: the ask goes through it, nothing fires.
    assert!(submits(&h.book(600_150, 600_200)).is_empty());
}

#[test]
fn a_take_profit_that_fills_part_while_its_cancel_is_on_the_way_leaves_the_stop_the_rest() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    // The stop trades: the take-profit's cancel goes out...
    let out = h.book(599_890, 599_990);
    assert!(cancels(&out).contains(&tp));
    // ...the venue fills 6 of it first, then confirms the cancel of the other 4: the
    // stop closes those 4, not 10.
    h.fill(&tp, 600_100, 6);
    let out = h.cancelled(&tp);
    let s = submits(&out);
    assert_eq!(
        (s.len(), s[0].spec.qty, s[0].tag),
        (1, Qty(4), OrderTag::StopLoss),
        "{out:?}"
    );
    // Or the take-profit fills in full before its cancel lands: no stop at all.
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let tp = submits(&h.fill(&entry, 599_995, 10))[0].client_id.clone();
    h.book(599_890, 599_990);
    let out = h.fill(&tp, 600_100, 10);
    assert!(submits(&out).is_empty(), "{out:?}");
    let ts = h.now();
    let out = h.input(Input::Exec(ExecReport::CancelRejected {
        id: tp,
        ts,
        reason: "unknown order".into(),
    }));
    assert!(submits(&out).is_empty());
    assert_eq!(h.e.brackets().count(), 0);
    assert!(
        submits(&h.timer_after(1_000)).is_empty(),
        "never a stop for a closed position"
    );
}

#[test]
fn cancel_all_and_shutdown_drop_every_group_at_once() {
    for cmd in [Command::CancelAll, Command::Shutdown] {
        let mut h = harness(no_cap());
        let entry = bracket(&mut h);
        let tp = submits(&h.fill(&entry, 599_995, 10))[0].client_id.clone();
        let child = submits(&algo(&mut h, AlgoKind::VwapSplit, 50, 5, 50))[1]
            .client_id
            .clone();
        let out = h.cmd(cmd.clone());
        let c = cancels(&out);
        assert!(c.contains(&tp) && c.contains(&child), "{cmd:?}: {c:?}");
        assert_eq!(
            (h.e.brackets().count(), h.e.algos().count()),
            (0, 0),
            "{cmd:?}"
        );
        let mut out = h.book(599_000, 599_100);
        out.extend(h.timer_after(30_000));
        assert!(submits(&out).is_empty(), "{cmd:?}: nothing after: {out:?}");
    }
}

#[test]
fn check_legs_names_the_leg_on_the_wrong_side() {
    use crate::engine::brackets::check_legs;
    let legs = |tp: Option<i64>, sl: Option<i64>| BracketLegs {
        take_profit: tp.map(Price),
        stop_loss: sl.map(Price),
    };
    let r = Some(Price(100));
    assert_eq!(check_legs(Side::Buy, &legs(Some(110), Some(90)), r), Ok(()));
    assert_eq!(
        check_legs(Side::Sell, &legs(Some(90), Some(110)), r),
        Ok(())
    );
    assert_eq!(
        check_legs(Side::Buy, &legs(Some(95), Some(95)), None),
        Err("the take-profit must be above the stop-loss for a BUY".into())
    );
    assert_eq!(
        check_legs(Side::Sell, &legs(None, Some(95)), r),
        Err("the stop-loss must be above the entry for a SELL".into())
    );
    assert_eq!(
        check_legs(Side::Sell, &legs(Some(105), None), r),
        Err("the take-profit must be below the entry for a SELL".into())
    );
    assert!(check_legs(Side::Buy, &legs(None, None), r).is_err());
}

/// The venue refuses the take-profit's cancel while the stop waits for it (a rate
/// limit): a CRITICAL alert says so, the cancel is asked again every `stop_retry_ms`, and
/// once it is confirmed the stop goes. The stop never goes while the take-profit might
/// still fill.
#[test]
fn a_refused_take_profit_cancel_while_stopping_is_asked_again_then_the_stop_goes() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    let out = h.book(599_890, 599_990);
    assert_eq!(cancels(&out), vec![tp.clone()]);
    let ts = h.now();
    let out = h.input(Input::Exec(ExecReport::CancelRejected {
        id: tp.clone(),
        ts,
        reason: "rate limited".into(),
    }));
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a.contains("refused to cancel take-profit") && a.contains("rate limited")),
        "{:?}",
        alerts(&out)
    );
    let (mut sent, mut asked) = (Vec::new(), 0);
    for k in 0..20 {
        h.ms += 100;
        let out = h.book(599_800 - k * 10, 599_850 - k * 10);
        sent.extend(submits(&out));
        asked += cancels(&out).iter().filter(|c| **c == tp).count();
        let out = h.input(Input::Timer);
        sent.extend(submits(&out));
        asked += cancels(&out).iter().filter(|c| **c == tp).count();
    }
    assert!(sent.is_empty(), "no stop while the take-profit may fill");
    assert_eq!(asked, 1, "asked again once (the cancel is pending since)");
    let out = h.cancelled(&tp);
    let stop = submits(&out);
    assert_eq!(
        stop.len(),
        1,
        "the stop goes once the take-profit is cancelled"
    );
    assert_eq!(stop[0].spec.qty, Qty(10));
    assert!(stop[0].spec.reduce_only);
}

/// A cancel/replace would take an order out of its group (a bracket's entry replaced
/// without its legs, a take-profit whose cancel ends the bracket and its held stop, an
/// algorithm's child sent again beside the next slice): the engine refuses to modify any
/// grouped order, whoever asks (the form, the ladder, the control socket), and the group
/// goes on as it was.
#[test]
fn modifying_a_brackets_entry_is_refused_and_the_bracket_keeps_its_stop() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.cmd(Command::Modify(ModifyOrder {
        id: entry.clone(),
        price: Price(599_990),
        qty: Qty(10),
    }));
    assert!(cancels(&out).is_empty(), "nothing cancelled");
    assert!(
        alerts(&out).iter().any(|a| a.contains("belongs to B")),
        "{:?}",
        alerts(&out)
    );
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    // The market falls through the stop: the bracket acts (its take-profit first).
    let out = h.book(599_000, 599_100);
    assert_eq!(cancels(&out), vec![tp]);
}

#[test]
fn modifying_a_brackets_take_profit_is_refused_and_the_stop_stays() {
    let mut h = harness(AlgoConfig::default());
    let entry = bracket(&mut h);
    let out = h.fill(&entry, 599_995, 10);
    let tp = submits(&out)[0].client_id.clone();
    let out = h.cmd(Command::Modify(ModifyOrder {
        id: tp.clone(),
        price: Price(600_200),
        qty: Qty(10),
    }));
    assert!(cancels(&out).is_empty(), "nothing cancelled");
    assert_eq!(h.e.brackets().count(), 1, "the bracket works on");
    let out = h.book(599_000, 599_100);
    assert_eq!(cancels(&out), vec![tp], "the stop triggered");
}

#[test]
fn modifying_an_algorithms_child_is_refused() {
    let mut h = harness(no_cap());
    let out = algo(&mut h, AlgoKind::VwapSplit, 100, 2, 20);
    let passive = submits(&out)
        .into_iter()
        .find(|r| r.spec.tif == TimeInForce::Gtc)
        .expect("the passive part");
    let out = h.cmd(Command::Modify(ModifyOrder {
        id: passive.client_id.clone(),
        price: Price(599_997),
        qty: passive.spec.qty,
    }));
    assert!(cancels(&out).is_empty() && submits(&out).is_empty());
    assert!(
        alerts(&out).iter().any(|a| a.contains("belongs to A")),
        "{:?}",
        alerts(&out)
    );
}
