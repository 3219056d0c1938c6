//! The simulated market's properties: determinism, the opening books, a consumer's book
//! following the truth, trades, regimes, fair-value tracking, parameter checks.

use super::*;
use crate::domain::{MarketEventKind, OrderBook, Price, Qty, Side};
use rust_decimal_macros::dec;

const START: Timestamp = Timestamp(1_723_075_200_000_000_000);
const SEC: i64 = 1_000_000_000;

/// An index future: price 5000, tick 0.25 (1 bp = 2 ticks), whole contracts.
fn es(id: u16) -> Instrument {
    Instrument::new(InstrumentId(id), "ES", "sim", dec!(0.25), dec!(1), Qty(1))
}

/// A crypto pair: price 60000, tick 0.1, lot 0.001.
fn btc(id: u16) -> Instrument {
    Instrument::new(
        InstrumentId(id),
        "BTC-USD",
        "sim",
        dec!(0.1),
        dec!(0.001),
        Qty(1),
    )
}

fn market(seed: u64) -> SimMarket {
    SimMarket::new(
        &SimParams::default(),
        vec![es(0), btc(1)],
        &[dec!(5000), dec!(60000)],
        seed,
        START,
    )
}

fn es_only(seed: u64) -> SimMarket {
    SimMarket::new(
        &SimParams::default(),
        vec![es(0)],
        &[dec!(5000)],
        seed,
        START,
    )
}

fn apply(book: &mut OrderBook, kind: &MarketEventKind) {
    match kind {
        MarketEventKind::Snapshot { bids, asks } => {
            book.apply_snapshot(bids.iter().copied(), asks.iter().copied())
        }
        MarketEventKind::Level { side, price, qty } => {
            book.update(*side, *price, *qty);
        }
        MarketEventKind::Trade(_) | MarketEventKind::Resyncing { .. } => {}
    }
}

fn next(m: &mut SimMarket) -> MarketEvent {
    let peek = m.peek_time().expect("the simulated stream is endless");
    let ev = m.next_event().expect("the simulated stream is endless");
    assert_eq!(ev.ts, peek, "peek_time announces the next event's time");
    ev
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let (mut a, mut b, mut c) = (market(7), market(7), market(8));
    let mut differs = false;
    for _ in 0..100_000 {
        let (ea, eb, ec) = (next(&mut a), next(&mut b), next(&mut c));
        assert_eq!(ea, eb);
        differs |= ea != ec;
    }
    assert!(differs, "another seed gives another market");
}

#[test]
fn opens_with_one_snapshot_per_instrument_of_20_to_50_levels() {
    let mut m = market(1);
    for i in 0..2u16 {
        let ev = next(&mut m);
        assert_eq!(ev.ts, START);
        assert_eq!(ev.instrument, InstrumentId(i));
        let MarketEventKind::Snapshot { bids, asks } = &ev.kind else {
            panic!("first events are snapshots, got {ev:?}");
        };
        for side in [bids, asks] {
            assert!((20..=50).contains(&side.len()), "{} levels", side.len());
            assert!(side.iter().all(|l| l.qty.is_positive()));
            let sizes: std::collections::BTreeSet<_> = side.iter().map(|l| l.qty).collect();
            assert!(sizes.len() > side.len() / 2, "sizes vary");
        }
        let mut book = OrderBook::new();
        apply(&mut book, &ev.kind);
        let mid = book.mid_ticks().expect("two-sided");
        let inst = &m.instruments()[i as usize];
        let start = [dec!(5000), dec!(60000)][i as usize];
        let mid_price = mid * inst.tick_size;
        assert!(
            (mid_price - start).abs() <= inst.tick_size,
            "opens at the start price: {mid_price} vs {start}"
        );
    }
    assert!(matches!(
        next(&mut m).kind,
        MarketEventKind::Level { .. } | MarketEventKind::Trade(_)
    ));
}

/// Consumer books built from the events only, checked after every event; at the end,
/// equal to the simulator's own books.
#[test]
fn consumer_book_follows_the_truth_never_crossed_never_empty() {
    let mut m = market(3);
    let mut books = [OrderBook::new(), OrderBook::new()];
    let mut last_ts = Timestamp::ZERO;
    let mut per_instrument = [0usize; 2];
    let mut switches = 0;
    let mut prev_inst = None;
    for n in 0..200_000 {
        let ev = next(&mut m);
        assert!(ev.ts >= last_ts, "timestamps never decrease");
        last_ts = ev.ts;
        let i = ev.instrument.index();
        per_instrument[i] += 1;
        if prev_inst.is_some_and(|p| p != i) {
            switches += 1;
        }
        prev_inst = Some(i);
        let book = &mut books[i];
        apply(book, &ev.kind);
        if n >= 2 {
            assert!(!book.is_crossed(), "crossed after event {n}: {ev:?}");
            assert!(book.depth(Side::Buy) >= MIN_RESTING, "bids after {n}");
            assert!(book.depth(Side::Sell) >= MIN_RESTING, "asks after {n}");
        }
    }
    // The truth has also applied the events still queued.
    for (i, book) in books.iter().enumerate() {
        let mut caught_up = book.clone();
        for kind in &m.sims[i].pending {
            apply(&mut caught_up, kind);
        }
        assert_eq!(caught_up, m.sims[i].book, "instrument {i}");
    }
    // Two instruments at the same rate interleave, they do not come in blocks.
    assert!(
        per_instrument.iter().all(|&c| c > 40_000),
        "{per_instrument:?}"
    );
    assert!(switches > 20_000, "{switches} switches between instruments");
}

#[test]
fn trades_print_at_resting_prices_and_walk_outward() {
    let mut m = market(11);
    let mut books = [OrderBook::new(), OrderBook::new()];
    // (instrument, ts, aggressor, price) of the previous trade.
    let mut prev: Option<(InstrumentId, Timestamp, Side, Price)> = None;
    let (mut trades, mut multi_level) = (0, 0);
    for _ in 0..200_000 {
        let ev = next(&mut m);
        let book = &mut books[ev.instrument.index()];
        if let MarketEventKind::Trade(t) = &ev.kind {
            trades += 1;
            assert_eq!(t.ts, ev.ts);
            assert!(t.qty.is_positive());
            let resting = book.level_qty(t.aggressor.opposite(), t.price);
            assert!(
                resting >= t.qty,
                "a {:?} trade of {} at {} finds {} resting on the other side",
                t.aggressor,
                t.qty,
                t.price,
                resting
            );
            if let Some((inst, ts, side, price)) = prev
                && inst == ev.instrument
                && ts == ev.ts
            {
                multi_level += 1;
                assert_eq!(side, t.aggressor, "one order, one side");
                match side {
                    Side::Buy => assert!(t.price > price, "a buy walks up the asks"),
                    Side::Sell => assert!(t.price < price, "a sell walks down the bids"),
                }
            }
            prev = Some((ev.instrument, ev.ts, t.aggressor, t.price));
        } else {
            prev = None;
        }
        apply(book, &ev.kind);
    }
    assert!(trades > 5_000, "{trades} trades");
    assert!(
        multi_level > 100,
        "{multi_level} trades beyond the first level"
    );
}

#[test]
fn the_mid_moves_and_regimes_switch() {
    let mut m = es_only(5);
    let mut book = OrderBook::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut regimes = std::collections::BTreeSet::new();
    let mut changes = 0;
    let mut regime = m.regime(InstrumentId(0));
    assert_eq!(regime, Some(Regime::Normal));
    loop {
        let ev = next(&mut m);
        apply(&mut book, &ev.kind);
        let elapsed = ev.ts.0 - START.0;
        if elapsed <= 600 * SEC
            && let Some(mid) = book.mid_x2_ticks()
        {
            lo = lo.min(mid);
            hi = hi.max(mid);
        }
        let r = m.regime(InstrumentId(0));
        if r != regime {
            changes += 1;
            regime = r;
        }
        regimes.extend(r);
        if elapsed > 1800 * SEC {
            break;
        }
    }
    let range_ticks = (hi - lo) / 2;
    assert!(
        range_ticks >= 8,
        "mid range over 10 minutes: {range_ticks} ticks"
    );
    assert!(changes >= 3, "{changes} regime changes in 30 minutes");
    assert!(regimes.len() >= 2, "{regimes:?}");
    assert_eq!(m.regime(InstrumentId(9)), None);
}

/// Trades follow the latent fair price, and the book keeps 20 to 60 levels a side.
#[test]
fn trades_track_fair_value_and_depth_stays_in_range() {
    let mut m = es_only(21);
    let mut book = OrderBook::new();
    let (mut samples, mut depth_sum, mut out_of_range) = (0i64, 0usize, 0usize);
    let (mut trades, mut far_trades) = (0, 0);
    for _ in 0..300_000 {
        let ev = next(&mut m);
        apply(&mut book, &ev.kind);
        if let MarketEventKind::Trade(t) = &ev.kind {
            trades += 1;
            let fair_x2 = m.fair_mid_x2_ticks(InstrumentId(0)).unwrap_or_default();
            if (2 * t.price.0 - fair_x2).abs() > 2 * 10 {
                far_trades += 1;
            }
        }
        for side in [Side::Buy, Side::Sell] {
            let d = book.depth(side);
            samples += 1;
            depth_sum += d;
            if !(15..=65).contains(&d) {
                out_of_range += 1;
            }
        }
    }
    let avg = depth_sum as f64 / samples as f64;
    assert!((20.0..=60.0).contains(&avg), "average depth {avg}");
    assert!(
        (out_of_range as f64) < 0.05 * samples as f64,
        "{out_of_range} of {samples} depth samples outside 15-65"
    );
    // Noise orders (2 a second, 15 times an ordinary order) walk a few levels by design:
    // about 1.4 % of the trades here; without them, under 1 %.
    assert!(
        far_trades * 100 < 2 * trades,
        "{far_trades} of {trades} trades more than 10 ticks from fair value"
    );
}

#[test]
fn validate_names_the_key() {
    assert_eq!(SimParams::default().validate(), Ok(()));
    let bad = |f: fn(&mut SimParams)| {
        let mut p = SimParams::default();
        f(&mut p);
        p.validate().map_err(|e| e.key)
    };
    assert_eq!(bad(|p| p.event_rate = 0.0), Err("event_rate".into()));
    assert_eq!(bad(|p| p.event_rate = f64::NAN), Err("event_rate".into()));
    assert_eq!(
        bad(|p| p.volatility_bps = -1.0),
        Err("volatility_bps".into())
    );
    assert_eq!(bad(|p| p.normal_secs = 0.0), Err("normal_secs".into()));
    assert_eq!(
        bad(|p| p.turbulent_share = 1.5),
        Err("turbulent_share".into())
    );
    assert_eq!(
        bad(|p| p.order_notional = dec!(0)),
        Err("order_notional".into())
    );
    assert_eq!(
        bad(|p| p.large_order_mult = 0.5),
        Err("large_order_mult".into())
    );
    assert_eq!(bad(|p| p.limit_share = 0.0), Err("limit_share".into()));
    assert_eq!(bad(|p| p.noise_rate = -1.0), Err("noise_rate".into()));
    assert_eq!(bad(|p| p.noise_rate = 1e9), Err("noise_rate".into()));
    assert_eq!(
        bad(|p| p.noise_size_mult = 0.5),
        Err("noise_size_mult".into())
    );
    assert_eq!(
        bad(|p| p.noise_size_mult = 1e300),
        Err("noise_size_mult".into())
    );
    assert_eq!(
        bad(|p| p.large_order_mult = 5000.0),
        Err("large_order_mult".into())
    );
    assert_eq!(
        bad(|p| p.mean_distance_ticks = 0.0),
        Err("mean_distance_ticks".into())
    );
    assert_eq!(bad(|p| p.min_depth = 3), Err("min_depth".into()));
    assert_eq!(bad(|p| p.max_depth = 20), Err("max_depth".into()));
}

/// One ES instrument whose regimes all run at the normal rate, with `noise_rate` noise
/// orders a second.
fn es_with_noise(seed: u64, noise_rate: f64) -> SimMarket {
    let p = SimParams {
        noise_rate,
        calm_rate_mult: 1.0,
        turbulent_rate_mult: 1.0,
        ..SimParams::default()
    };
    SimMarket::new(&p, vec![es(0)], &[dec!(5000)], seed, START)
}

/// Noise orders come at `noise_rate` a second, buy and sell evenly, and their side does
/// not depend on where the fair price is against the book (informed flow leans with it).
#[test]
fn noise_orders_come_at_their_rate_and_ignore_the_fair_price() {
    let rate = 4.0;
    let secs = 3_000;
    let mut m = es_with_noise(31, rate);
    let mut book = OrderBook::new();
    // Informed aggressive prints, for contrast: buys while the fair price is above the mid.
    let (mut informed_up, mut informed_up_buys) = (0u32, 0u32);
    loop {
        let fair = m.fair_mid_x2_ticks(InstrumentId(0)).unwrap_or_default();
        let mid = book.mid_x2_ticks();
        let ev = next(&mut m);
        if let (MarketEventKind::Trade(t), Some(mid)) = (&ev.kind, mid)
            && fair > mid + 2
        {
            informed_up += 1;
            informed_up_buys += u32::from(t.aggressor == Side::Buy);
        }
        apply(&mut book, &ev.kind);
        if ev.ts.0 - START.0 > secs * SEC {
            break;
        }
    }
    let log = &m.sims[0].noise_log;
    let n = log.len() as f64;
    let expected = rate * secs as f64;
    // Poisson: 3 standard deviations is about 330 of 12000.
    assert!(
        (n - expected).abs() < 3.0 * expected.sqrt(),
        "{n} noise orders in {secs} s, expected {expected}"
    );
    let buys = |f: &dyn Fn(i64, i64) -> bool| {
        let picked: Vec<_> = log
            .iter()
            .filter_map(|&(side, fair, mid)| mid.map(|mid| (side, fair, mid)))
            .filter(|&(_, fair, mid)| f(fair, mid))
            .collect();
        let b = picked.iter().filter(|(s, _, _)| *s == Side::Buy).count();
        (b as f64 / picked.len().max(1) as f64, picked.len())
    };
    let (all, _) = buys(&|_, _| true);
    let (up, n_up) = buys(&|fair, mid| fair > mid);
    let (down, n_down) = buys(&|fair, mid| fair < mid);
    assert!((0.47..0.53).contains(&all), "buy share {all}");
    // About 400 each: 3 standard deviations of a share is 0.075.
    assert!(n_up > 300 && n_down > 300, "{n_up} / {n_down}");
    assert!(
        (0.42..0.58).contains(&up),
        "buy share, fair above the mid: {up}"
    );
    assert!(
        (0.42..0.58).contains(&down),
        "buy share, fair below: {down}"
    );
    let informed = f64::from(informed_up_buys) / f64::from(informed_up.max(1));
    assert!(
        informed > 0.7,
        "the informed flow leans with the fair price: {informed} of {informed_up} prints buy"
    );
}

/// A noise order's impact is transient: it pushes the mid away from the fair price, and
/// the book comes back to it without the fair price moving there.
#[test]
fn noise_impact_reverts_to_the_fair_price() {
    let mut m = es_with_noise(32, 2.0);
    let mut book = OrderBook::new();
    let mut seen = 0;
    let (mut orders, mut pushed, mut after) = (0, 0i64, 0i64);
    // Waiting for the noise order's events to be applied (its time), then for 50 ms later.
    let (mut batch, mut check): (Option<i64>, Option<i64>) = (None, None);
    while orders < 2000 {
        let ev = next(&mut m);
        apply(&mut book, &ev.kind);
        let fair = m.fair_mid_x2_ticks(InstrumentId(0)).unwrap_or_default();
        let gap = book.mid_x2_ticks().map(|mid| (mid - fair).abs());
        let upcoming = m.peek_time().map_or(i64::MAX, |t| t.0);
        if let (Some(ts), Some(gap)) = (batch, gap)
            && upcoming > ts
        {
            pushed += gap;
            batch = None;
            check = Some(ts + 50_000_000);
        } else if let (Some(t), Some(gap)) = (check, gap)
            && ev.ts.0 >= t
        {
            after += gap;
            orders += 1;
            check = None;
        }
        let n = m.sims[0].noise_log.len();
        if n > seen {
            seen = n;
            if batch.is_none() && check.is_none() {
                batch = Some(m.sims[0].batch_ns);
            }
        }
    }
    assert!(
        after * 2 < pushed,
        "|mid - fair| summed over {orders} noise orders: {pushed} right after, {after} 50 ms later (x2 ticks)"
    );
}

#[test]
fn params_parse_from_toml_with_defaults_and_refuse_unknown_keys() {
    let p: SimParams =
        toml::from_str("event_rate = 50\norder_notional = 250.5\n").expect("valid params");
    assert_eq!(p.event_rate, 50.0);
    assert_eq!(p.order_notional, dec!(250.5));
    assert_eq!(p.max_depth, SimParams::default().max_depth);
    assert!(toml::from_str::<SimParams>("event_rat = 50\n").is_err());
}

#[test]
fn degenerate_inputs_still_give_a_sane_market() {
    // No start price for the second instrument, a zero one for the third.
    let mut m = SimMarket::new(
        &SimParams::default(),
        vec![es(0), es(1), es(2)],
        &[dec!(5000), dec!(0)],
        1,
        START,
    );
    let mut books = [OrderBook::new(), OrderBook::new(), OrderBook::new()];
    for _ in 0..20_000 {
        let ev = next(&mut m);
        let book = &mut books[ev.instrument.index()];
        apply(book, &ev.kind);
        assert!(!book.is_crossed());
        assert!(book.levels(Side::Buy).all(|l| l.price.0 > 0));
    }
    let mut empty = SimMarket::new(&SimParams::default(), vec![], &[], 1, START);
    assert_eq!(empty.peek_time(), None);
    assert_eq!(empty.next_event(), None);
}

/// What a trader would look at, printed:
/// `cargo test --release -- --ignored --nocapture sim::tests::stats`
#[test]
#[ignore = "diagnostics"]
fn stats() {
    for (name, inst, price) in [("ES", es(0), dec!(5000)), ("BTC", btc(0), dec!(60000))] {
        let mut m = SimMarket::new(&SimParams::default(), vec![inst], &[price], 9, START);
        let mut book = OrderBook::new();
        let mut spreads = std::collections::BTreeMap::new();
        let (mut n, mut trades, mut traded, mut depth, mut samples) =
            (0u64, 0u64, 0i64, 0usize, 0usize);
        let mut kinds = [0u64; 3];
        let mut minute_lo = i64::MAX;
        let mut minute_hi = i64::MIN;
        let mut minute = 0;
        let mut regime_time = std::collections::BTreeMap::new();
        let mut last = START.0;
        let mut top_qty = 0i64;
        loop {
            let ev = next(&mut m);
            n += 1;
            *regime_time
                .entry(m.regime(InstrumentId(0)).map(|r| r.as_str()))
                .or_insert(0i64) += ev.ts.0 - last;
            // Time-weighted: the spread shown until this event.
            *spreads
                .entry(book.spread_ticks().unwrap_or(-1))
                .or_insert(0i64) += (ev.ts.0 - last) / 1000;
            last = ev.ts.0;
            apply(&mut book, &ev.kind);
            match &ev.kind {
                MarketEventKind::Trade(t) => {
                    trades += 1;
                    traded += t.qty.0;
                    kinds[0] += 1;
                }
                MarketEventKind::Level { .. } => kinds[1] += 1,
                _ => kinds[2] += 1,
            }
            depth += book.depth(Side::Buy) + book.depth(Side::Sell);
            top_qty += book.best_bid().map_or(0, |l| l.qty.0);
            samples += 2;
            let mid = book.mid_x2_ticks().unwrap_or(0);
            minute_lo = minute_lo.min(mid);
            minute_hi = minute_hi.max(mid);
            let el = (ev.ts.0 - START.0) / SEC;
            if el / 60 > minute {
                println!(
                    "{name} minute {minute}: mid {:.1}..{:.1} ticks ({:?})",
                    minute_lo as f64 / 2.0,
                    minute_hi as f64 / 2.0,
                    m.regime(InstrumentId(0))
                );
                minute = el / 60;
                minute_lo = i64::MAX;
                minute_hi = i64::MIN;
            }
            if el >= 600 {
                break;
            }
        }
        println!(
            "{name}: {n} events in 600 s, {trades} trades, avg trade {} lots, avg depth {:.1}, avg best bid qty {}, level/trade/other {kinds:?}",
            traded / trades.max(1) as i64,
            depth as f64 / samples as f64,
            top_qty / n as i64
        );
        println!("{name}: spread time (us) {spreads:?}");
        println!("{name}: regime ns {regime_time:?}");
        let top: Vec<_> = book.top(Side::Sell, 8).collect();
        println!("{name}: asks {top:?}");
        let top: Vec<_> = book.top(Side::Buy, 8).collect();
        println!("{name}: bids {top:?}");
    }
}

/// `cargo test --release -- --ignored --nocapture sim::tests::speed`
#[test]
#[ignore = "timing; run in release"]
fn speed() {
    let mut m = market(1);
    let n = 10_000_000;
    let t0 = std::time::Instant::now();
    let mut trades = 0u64;
    for _ in 0..n {
        if let Some(MarketEvent {
            kind: MarketEventKind::Trade(_),
            ..
        }) = m.next_event()
        {
            trades += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{n} events ({trades} trades) in {secs:.3}s: {:.0} events/s, {:.0} ns/event",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
}
