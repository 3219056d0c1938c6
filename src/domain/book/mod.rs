//! L2 order book: aggregate size per price level, per side.
//!
//! Each side is a [`ladder::Ladder`]: a tick-indexed window of slots around the touch
//! (the grid learnt from the prices themselves) and an ordered overflow for the levels
//! deeper than the window. An update is O(1) whatever the depth, a snapshot is linear in
//! its size, every level is kept, prices stay exact integers, and the walk from the touch
//! is in price order. A zero size deletes a level.

mod ladder;

use self::ladder::Ladder;
use super::num::{Price, Qty};
use super::order::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One price level: aggregate size resting at a price.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
}

impl Level {
    pub fn new(price: Price, qty: Qty) -> Self {
        Level { price, qty }
    }
}

/// What taking liquidity would cost: how much fills, for how much, down to which price.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TakeCost {
    pub filled: Qty,
    /// Sum of price x qty over the levels taken, in ticks x lots.
    pub notional: i128,
    /// The last (worst) price level touched.
    pub worst: Option<Price>,
}

impl TakeCost {
    /// Volume-weighted average price in ticks (fractional), if anything fills.
    pub fn vwap_ticks(&self) -> Option<Decimal> {
        if self.filled.is_zero() {
            None
        } else {
            Some(
                (Decimal::from_i128_with_scale(self.notional, 0) / Decimal::from(self.filled.0))
                    .normalize(),
            )
        }
    }
}

/// An L2 book. Sides are named by the order side that rests there: `Buy` = bids.
///
/// Inside, a side keeps *keys* where higher is better: a bid's key is its price, an ask's
/// is `!price` (the bitwise complement reverses the order of every `i64`, no overflow).
#[derive(Clone, Default)]
pub struct OrderBook {
    bids: Ladder,
    asks: Ladder,
}

#[inline]
fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price.0,
        Side::Sell => !price.0,
    }
}

#[inline]
fn level(side: Side, (k, q): (i64, i64)) -> Level {
    Level {
        price: Price(match side {
            Side::Buy => k,
            Side::Sell => !k,
        }),
        qty: Qty(q),
    }
}

/// Two books are equal when they hold the same levels (however their windows sit).
impl PartialEq for OrderBook {
    fn eq(&self, other: &Self) -> bool {
        [Side::Buy, Side::Sell]
            .into_iter()
            .all(|s| self.depth(s) == other.depth(s) && self.levels(s).eq(other.levels(s)))
    }
}

impl Eq for OrderBook {}

impl std::fmt::Debug for OrderBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderBook")
            .field("bids", &self.levels(Side::Buy).collect::<Vec<_>>())
            .field("asks", &self.levels(Side::Sell).collect::<Vec<_>>())
            .finish()
    }
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// Replace the whole book. Zero-size levels are ignored; a price given twice keeps the
    /// last. Linear in the snapshot's size when it comes sorted either way (best first or
    /// worst first), as venues send them.
    pub fn apply_snapshot(
        &mut self,
        bids: impl IntoIterator<Item = Level>,
        asks: impl IntoIterator<Item = Level>,
    ) {
        for (side, levels) in [
            (Side::Buy, bids.into_iter().collect::<Vec<_>>()),
            (Side::Sell, asks.into_iter().collect::<Vec<_>>()),
        ] {
            let mut keyed: Vec<(i64, i64)> = levels
                .into_iter()
                .map(|l| (key(side, l.price), l.qty.0))
                .collect();
            // Stable, so the last of equal keys stays last; runs (sorted either way) are
            // found in linear time.
            keyed.sort_by_key(|&(k, _)| k);
            let mut sorted: Vec<(i64, i64)> = Vec::with_capacity(keyed.len());
            for (k, q) in keyed {
                match sorted.last_mut() {
                    Some(last) if last.0 == k => last.1 = q,
                    _ => sorted.push((k, q)),
                }
            }
            sorted.retain(|&(_, q)| q > 0);
            self.side_mut(side).load_sorted(sorted);
        }
    }

    #[inline]
    fn side(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    #[inline]
    fn side_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Set the size at a level (absolute); zero deletes it. Returns the previous size.
    #[inline]
    pub fn update(&mut self, side: Side, price: Price, qty: Qty) -> Qty {
        Qty(self.side_mut(side).set(key(side, price), qty.0))
    }

    /// The size resting at a price (zero if none).
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        Qty(self.side(side).get(key(side, price)))
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.best(Side::Buy)
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.best(Side::Sell)
    }

    /// Best level of a side.
    #[inline]
    pub fn best(&self, side: Side) -> Option<Level> {
        self.side(side).best().map(|kq| level(side, kq))
    }

    /// Number of levels on a side.
    pub fn depth(&self, side: Side) -> usize {
        self.side(side).len()
    }

    /// Best ask minus best bid, in ticks (negative when crossed); `None` if one side is
    /// empty or the difference does not fit (absurd prices: bad data, never wrapped).
    pub fn spread_ticks(&self) -> Option<i64> {
        self.best_ask()?
            .price
            .0
            .checked_sub(self.best_bid()?.price.0)
    }

    /// Best bid plus best ask, in ticks: twice the mid, exact; `None` if one side is empty
    /// or the sum does not fit (absurd prices: bad data, never wrapped).
    pub fn mid_x2_ticks(&self) -> Option<i64> {
        self.best_ask()?
            .price
            .0
            .checked_add(self.best_bid()?.price.0)
    }

    /// Mid price in ticks (may end in .5).
    pub fn mid_ticks(&self) -> Option<Decimal> {
        self.mid_x2_ticks()
            .map(|m| Decimal::from_i128_with_scale(i128::from(m) * 5, 1))
    }

    /// Best bid at or above best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// The best `n` levels of a side, best first.
    pub fn top(&self, side: Side, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.levels(side).take(n)
    }

    /// All levels of a side, best first.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = Level> + '_ {
        self.side(side).iter().map(move |kq| level(side, kq))
    }

    /// Total size on a side at prices as good as `limit` or better
    /// (bids at or above it, asks at or below it).
    pub fn depth_to_price(&self, side: Side, limit: Price) -> Qty {
        let mut total = Qty::ZERO;
        for l in self.levels(side) {
            let inside = match side {
                Side::Buy => l.price >= limit,
                Side::Sell => l.price <= limit,
            };
            if !inside {
                break;
            }
            total += l.qty;
        }
        total
    }

    /// The cost of taking `qty` as an aggressor on `taker_side` (a buy walks the asks),
    /// optionally not past `limit`.
    pub fn cost_to_take(&self, taker_side: Side, qty: Qty, limit: Option<Price>) -> TakeCost {
        Self::cost_to_take_from(self.levels(taker_side.opposite()), taker_side, qty, limit)
    }

    /// [`OrderBook::cost_to_take`] over a copy of the side the taker hits, best first (e.g.
    /// the levels of the published view).
    pub fn cost_to_take_from(
        levels: impl IntoIterator<Item = Level>,
        taker_side: Side,
        qty: Qty,
        limit: Option<Price>,
    ) -> TakeCost {
        let mut cost = TakeCost::default();
        let mut left = qty;
        for l in levels {
            if !left.is_positive() {
                break;
            }
            if let Some(lim) = limit {
                let ok = match taker_side {
                    Side::Buy => l.price <= lim,
                    Side::Sell => l.price >= lim,
                };
                if !ok {
                    break;
                }
            }
            let take = Qty(left.0.min(l.qty.0));
            cost.filled += take;
            cost.notional += i128::from(l.price.0) * i128::from(take.0);
            cost.worst = Some(l.price);
            left -= take;
        }
        cost
    }

    /// Keep only the best `depth` levels on each side.
    pub fn truncate(&mut self, depth: usize) {
        for side in [Side::Buy, Side::Sell] {
            if self.depth(side) > depth {
                let cut: Vec<i64> = self.side(side).iter().skip(depth).map(|(k, _)| k).collect();
                let ladder = self.side_mut(side);
                for k in cut {
                    ladder.set(k, 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn lv(p: i64, q: i64) -> Level {
        Level::new(Price(p), Qty(q))
    }

    #[test]
    fn basics() {
        let mut b = OrderBook::new();
        b.apply_snapshot([lv(99, 5), lv(98, 7), lv(97, 0)], [lv(101, 3), lv(102, 4)]);
        assert_eq!(b.best_bid(), Some(lv(99, 5)));
        assert_eq!(b.best_ask(), Some(lv(101, 3)));
        assert_eq!(b.depth(Side::Buy), 2, "zero-size snapshot level ignored");
        assert_eq!(b.spread_ticks(), Some(2));
        assert_eq!(b.mid_ticks(), Some(Decimal::from(100)));
        assert_eq!(b.update(Side::Buy, Price(100), Qty(2)), Qty(0));
        assert_eq!(b.mid_ticks().unwrap().to_string(), "100.5");
        assert_eq!(b.update(Side::Buy, Price(100), Qty(0)), Qty(2));
        assert_eq!(b.best_bid(), Some(lv(99, 5)));
        assert_eq!(b.depth_to_price(Side::Sell, Price(102)), Qty(7));
        assert_eq!(b.depth_to_price(Side::Buy, Price(99)), Qty(5));
        let c = b.cost_to_take(Side::Buy, Qty(5), None);
        assert_eq!(c.filled, Qty(5));
        assert_eq!(c.notional, 3 * 101 + 2 * 102);
        assert_eq!(c.worst, Some(Price(102)));
        assert_eq!(c.vwap_ticks().unwrap().to_string(), "101.4");
        let c = b.cost_to_take(Side::Sell, Qty(100), Some(Price(99)));
        assert_eq!(c.filled, Qty(5));
        assert!(!b.is_crossed());
        b.update(Side::Buy, Price(101), Qty(1));
        assert!(b.is_crossed());
        let top: Vec<_> = b.top(Side::Buy, 2).collect();
        assert_eq!(top, vec![lv(101, 1), lv(99, 5)]);
        b.truncate(1);
        assert_eq!(b.depth(Side::Buy), 1);
        // Absurd prices never wrap: the mid and spread are unknown instead.
        let mut x = OrderBook::new();
        x.apply_snapshot([lv(i64::MAX, 1)], [lv(i64::MAX - 1, 1)]);
        assert_eq!(x.mid_x2_ticks(), None);
        assert_eq!(x.mid_ticks(), None);
        x.apply_snapshot([lv(i64::MIN + 1, 1)], [lv(i64::MAX, 1)]);
        assert_eq!(x.spread_ticks(), None);
        assert_eq!(b.depth(Side::Sell), 1);
        assert_eq!(b.best_ask(), Some(lv(101, 3)));
    }

    /// The touch walks up and then down far past the window, deleting the best as it goes
    /// (a market that trends): every step keeps every level, in order.
    #[test]
    fn recentres_as_the_touch_walks() {
        let mut b = OrderBook::new();
        let mut reference = Reference::default();
        let tick = 1_000_000; // the Binance grid in 1e-8 units
        let mut p = 6_000_000i64;
        for step in 0..40_000i64 {
            let dir = if step < 20_000 { 1 } else { -1 };
            p += dir * 7;
            for (side, price) in [(Side::Buy, p - 1), (Side::Sell, p + 1)] {
                b.update(side, Price(price * tick), Qty(step + 1));
                reference.update(side, price * tick, step + 1);
            }
            if step % 3 == 0 {
                // Take the level behind the move away.
                let (side, price) = if dir > 0 {
                    (Side::Sell, p - 6)
                } else {
                    (Side::Buy, p + 6)
                };
                b.update(side, Price(price * tick), Qty(0));
                reference.update(side, price * tick, 0);
            }
            if step % 1000 == 0 {
                for side in [Side::Buy, Side::Sell] {
                    assert_eq!(
                        b.levels(side).collect::<Vec<_>>(),
                        reference.levels(side),
                        "step {step}"
                    );
                }
            }
            assert_eq!(b.best_bid(), reference.best(Side::Buy));
            assert_eq!(b.best_ask(), reference.best(Side::Sell));
        }
        let (w, stride, _) = b.bids.shape();
        assert_eq!(
            stride,
            7 * tick as u64,
            "the grid is learnt from the prices"
        );
        assert!(w <= ladder::MAX_W);
    }

    /// More levels than the largest window: the deep ones overflow, none is dropped; when
    /// the window's levels are all gone the best comes from the overflow.
    #[test]
    fn overflow_keeps_every_level() {
        let n = 3 * ladder::MAX_W as i64;
        let mut b = OrderBook::new();
        b.apply_snapshot(
            (0..n).map(|d| lv(1_000_000 - d, 1 + d % 9)),
            (0..n).map(|d| lv(1_000_001 + d, 2)),
        );
        assert_eq!(b.depth(Side::Buy), n as usize);
        let (w, _, over) = b.bids.shape();
        assert_eq!(w, ladder::MAX_W);
        assert!(over > 0, "the deep levels are in the overflow");
        let bids: Vec<Level> = b.levels(Side::Buy).collect();
        assert_eq!(bids.len(), n as usize);
        assert!(
            bids.windows(2).all(|p| p[0].price > p[1].price),
            "best first"
        );
        assert_eq!(bids.last(), Some(&lv(1_000_000 - (n - 1), 1 + (n - 1) % 9)));
        // A deep update lands in the overflow and is found again.
        assert_eq!(
            b.update(Side::Buy, Price(1_000_000 - (n - 3)), Qty(77)),
            Qty(1 + (n - 3) % 9)
        );
        assert_eq!(b.level_qty(Side::Buy, Price(1_000_000 - (n - 3))), Qty(77));
        // Empty the top (everything the window held): the overflow's best is the touch.
        for d in 0..(n - 10) {
            b.update(Side::Buy, Price(1_000_000 - d), Qty(0));
        }
        assert_eq!(b.depth(Side::Buy), 10);
        assert_eq!(
            b.best_bid(),
            Some(lv(1_000_000 - (n - 10), 1 + (n - 10) % 9))
        );
        // And a new touch near it re-centres the window there.
        b.update(Side::Buy, Price(1_000_000 - (n - 11)), Qty(5));
        assert_eq!(b.best_bid(), Some(lv(1_000_000 - (n - 11), 5)));
        assert_eq!(b.depth(Side::Buy), 11);
        assert!(b.bids.shape().2 < 11, "the window holds the touch again");
        b.truncate(3);
        assert_eq!(b.depth(Side::Buy), 3);
        assert_eq!(b.depth(Side::Sell), 3);
        assert_eq!(b.best_ask(), Some(lv(1_000_001, 2)));
    }

    /// A snapshot with an empty side after a full one (a venue's book emptied, a resync
    /// with one side missing), then updates anywhere, the old window's first slot too.
    #[test]
    fn an_empty_snapshot_side_then_updates() {
        let mut b = OrderBook::new();
        b.apply_snapshot(
            (0..100).map(|d| lv(1000 - d, 1)),
            (0..100).map(|d| lv(1001 + d, 1)),
        );
        let base = b.bids.base();
        b.apply_snapshot([], [lv(1001, 2)]);
        assert_eq!(b.depth(Side::Buy), 0);
        assert_eq!(b.best_bid(), None);
        for p in [base, base + 1, 1000, 5, 2_000_000] {
            assert_eq!(b.update(Side::Buy, Price(p), Qty(3)), Qty(0));
        }
        let prices: Vec<i64> = b.levels(Side::Buy).map(|l| l.price.0).collect();
        assert_eq!(prices, vec![2_000_000, 1000, base + 1, base, 5]);
        assert_eq!(b.best_ask(), Some(lv(1001, 2)));
    }

    /// A book built level by level from the touch down (no snapshot), 500 to 10,000
    /// levels a side: the window grows to hold them, the overflow stays small (an update
    /// to an overflow level is a tree walk, to a window level one store).
    #[test]
    fn the_window_grows_with_a_book_built_level_by_level() {
        for n in [500i64, 1_000, 5_000, 10_000] {
            let mut b = OrderBook::new();
            for d in 0..n {
                b.update(Side::Buy, Price(1_000_000 - d), Qty(1));
                b.update(Side::Sell, Price(1_000_001 + d), Qty(1));
            }
            assert_eq!(b.depth(Side::Buy), n as usize);
            for (side, ladder) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                let (_, stride, over) = ladder.shape();
                assert_eq!(stride, 1);
                assert!(
                    over as i64 <= 64 + n / 8,
                    "{n} levels a side: {over} in the overflow ({side:?})"
                );
            }
        }
    }

    /// A crossed book stays as the feed left it (pit reports it; it does not repair it).
    #[test]
    fn crossed_levels_are_kept() {
        let mut b = OrderBook::new();
        b.apply_snapshot(
            (0..100).map(|d| lv(1000 - d, 1)),
            (0..100).map(|d| lv(1001 + d, 1)),
        );
        b.update(Side::Buy, Price(1050), Qty(4));
        assert!(b.is_crossed());
        assert_eq!(b.best_ask(), Some(lv(1001, 1)), "asks untouched");
        assert_eq!(b.spread_ticks(), Some(-49));
        b.update(Side::Buy, Price(1050), Qty(0));
        assert!(!b.is_crossed());
        assert_eq!(b.best_bid(), Some(lv(1000, 1)));
    }

    /// The naive reference: two ordered maps.
    #[derive(Default)]
    struct Reference {
        bids: BTreeMap<i64, i64>,
        asks: BTreeMap<i64, i64>,
    }

    impl Reference {
        fn update(&mut self, side: Side, p: i64, q: i64) {
            let m = if side == Side::Buy {
                &mut self.bids
            } else {
                &mut self.asks
            };
            if q > 0 {
                m.insert(p, q);
            } else {
                m.remove(&p);
            }
        }
        fn best(&self, side: Side) -> Option<Level> {
            match side {
                Side::Buy => self.bids.last_key_value(),
                Side::Sell => self.asks.first_key_value(),
            }
            .map(|(p, q)| lv(*p, *q))
        }
        fn levels(&self, side: Side) -> Vec<Level> {
            match side {
                Side::Buy => self.bids.iter().rev().map(|(p, q)| lv(*p, *q)).collect(),
                Side::Sell => self.asks.iter().map(|(p, q)| lv(*p, *q)).collect(),
            }
        }
    }

    fn op() -> impl Strategy<Value = (bool, i64, i64)> {
        (any::<bool>(), 90i64..110, prop_oneof![Just(0i64), 1i64..50])
    }

    proptest! {
        #[test]
        fn matches_reference_model(ops in proptest::collection::vec(op(), 0..300),
                                   take in 1i64..200, limit in 85i64..115, n in 0usize..8) {
            let mut book = OrderBook::new();
            let mut reference = Reference::default();
            for (is_bid, p, q) in ops {
                let side = if is_bid { Side::Buy } else { Side::Sell };
                let before = reference.levels(side).iter().find(|l| l.price.0 == p).map_or(0, |l| l.qty.0);
                prop_assert_eq!(book.update(side, Price(p), Qty(q)), Qty(before));
                reference.update(side, p, q);
            }
            for side in [Side::Buy, Side::Sell] {
                let want = reference.levels(side);
                let got: Vec<Level> = book.levels(side).collect();
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(book.best(side), want.first().copied());
                let top: Vec<Level> = book.top(side, n).collect();
                prop_assert_eq!(top, want.iter().take(n).copied().collect::<Vec<_>>());
                let depth: i64 = want.iter().filter(|l| if side == Side::Buy { l.price.0 >= limit } else { l.price.0 <= limit }).map(|l| l.qty.0).sum();
                prop_assert_eq!(book.depth_to_price(side, Price(limit)), Qty(depth));
                for p in 85..115 {
                    let q = want.iter().find(|l| l.price.0 == p).map_or(0, |l| l.qty.0);
                    prop_assert_eq!(book.level_qty(side, Price(p)), Qty(q));
                }
                // Taking: walk the opposite side of the taker naively.
                let taker = side.opposite();
                let mut left = take;
                let mut notional = 0i128;
                let mut worst = None;
                for l in &want {
                    if left == 0 { break; }
                    let t = left.min(l.qty.0);
                    notional += i128::from(l.price.0) * i128::from(t);
                    left -= t;
                    worst = Some(l.price);
                }
                let c = book.cost_to_take(taker, Qty(take), None);
                prop_assert_eq!(c.filled, Qty(take - left));
                prop_assert_eq!(c.notional, notional);
                prop_assert_eq!(c.worst, worst);
            }
            let crossed = match (reference.bids.keys().next_back(), reference.asks.keys().next()) {
                (Some(b), Some(a)) => b >= a,
                _ => false,
            };
            prop_assert_eq!(book.is_crossed(), crossed);
            let mid = match (reference.bids.keys().next_back(), reference.asks.keys().next()) {
                (Some(b), Some(a)) => Some(b + a),
                _ => None,
            };
            prop_assert_eq!(book.mid_x2_ticks(), mid);
        }

        /// The window and its overflow against the naive model: prices on a grid the book
        /// must learn (1, 7 or 10^6 units; now and then one off it), a touch that wanders
        /// far (re-centring), levels deep enough to overflow, bids and asks that cross.
        #[test]
        fn window_matches_reference_model(
            grid in prop_oneof![Just(1i64), Just(7), Just(1_000_000)],
            ops in proptest::collection::vec(
                (any::<bool>(), 0u8..10, -60i64..60, prop_oneof![Just(0i64), 1i64..50]), 0..400),
            snapshot_first in any::<bool>(),
        ) {
            let mut book = OrderBook::new();
            let mut reference = Reference::default();
            let mut centre = 1_000_000i64;
            if snapshot_first {
                let bids: Vec<Level> = (1..300).map(|d| lv((centre - d * 3) * grid, d)).collect();
                let asks: Vec<Level> = (1..300).map(|d| lv((centre + d * 3) * grid, d)).collect();
                book.apply_snapshot(bids.iter().copied(), asks.iter().copied());
                for l in &bids { reference.update(Side::Buy, l.price.0, l.qty.0); }
                for l in &asks { reference.update(Side::Sell, l.price.0, l.qty.0); }
            }
            for (is_bid, kind, off, q) in ops {
                let side = if is_bid { Side::Buy } else { Side::Sell };
                let p = match kind {
                    // The touch jumps far (beyond any window): re-centre.
                    0 => { centre += off * 10_000; centre * grid }
                    // Deep levels: the overflow.
                    1 => (centre + off * 2_000) * grid,
                    // Off the grid now and then.
                    2 if grid > 1 => centre * grid + off,
                    // Near the touch, both sides overlapping: crossed books.
                    _ => (centre + off) * grid,
                };
                let before = reference.levels(side).iter().find(|l| l.price.0 == p).map_or(0, |l| l.qty.0);
                prop_assert_eq!(book.update(side, Price(p), Qty(q)), Qty(before));
                reference.update(side, p, q);
                prop_assert_eq!(book.best(side), reference.levels(side).first().copied());
                prop_assert_eq!(book.level_qty(side, Price(p)), Qty(q.max(0)));
            }
            for side in [Side::Buy, Side::Sell] {
                let want = reference.levels(side);
                prop_assert_eq!(book.levels(side).collect::<Vec<_>>(), want.clone());
                prop_assert_eq!(book.depth(side), want.len());
                let mut cut = book.clone();
                cut.truncate(5);
                prop_assert_eq!(cut.levels(side).collect::<Vec<_>>(), want.iter().take(5).copied().collect::<Vec<_>>());
            }
            let crossed = match (reference.bids.keys().next_back(), reference.asks.keys().next()) {
                (Some(b), Some(a)) => b >= a,
                _ => false,
            };
            prop_assert_eq!(book.is_crossed(), crossed);
        }

        /// A snapshot in any order, with repeats and zero sizes, at any prices (the ends
        /// of `i64` too), is the same book as its levels applied one by one.
        #[test]
        fn snapshot_any_order_equals_updates(
            levels in proptest::collection::vec(
                (any::<bool>(), prop_oneof![any::<i64>(), -500i64..500, (0i64..2000).prop_map(|p| p * 1_000_000)], 0i64..5),
                0..200)
        ) {
            let bids: Vec<Level> = levels.iter().filter(|l| l.0).map(|l| lv(l.1, l.2)).collect();
            let asks: Vec<Level> = levels.iter().filter(|l| !l.0).map(|l| lv(l.1, l.2)).collect();
            let mut a = OrderBook::new();
            // Stale state the snapshot must wipe: a window on both sides (bids 3 down to
            // -96, so the bids' window starts at 3 - 192).
            a.apply_snapshot((0..100).map(|d| lv(3 - d, 3)), (0..100).map(|d| lv(4 + d, 3)));
            a.apply_snapshot(bids.iter().copied(), asks.iter().copied());
            let mut reference = Reference::default();
            for l in &bids { reference.update(Side::Buy, l.price.0, l.qty.0); }
            for l in &asks { reference.update(Side::Sell, l.price.0, l.qty.0); }
            for side in [Side::Buy, Side::Sell] {
                prop_assert_eq!(a.levels(side).collect::<Vec<_>>(), reference.levels(side));
            }
            // And it keeps working as a book after the snapshot.
            for l in bids.iter().take(20) {
                a.update(Side::Buy, l.price, Qty(0));
                reference.update(Side::Buy, l.price.0, 0);
                prop_assert_eq!(a.best_bid(), reference.levels(Side::Buy).first().copied());
            }
            // Also at the stale window's prices (an empty side keeps that window).
            for p in [3 - 192].into_iter().chain((-200i64..=3).step_by(7)) {
                let before = reference.levels(Side::Buy).iter().find(|l| l.price.0 == p).map_or(0, |l| l.qty.0);
                prop_assert_eq!(a.update(Side::Buy, Price(p), Qty(1)), Qty(before));
                reference.update(Side::Buy, p, 1);
            }
            prop_assert_eq!(a.levels(Side::Buy).collect::<Vec<_>>(), reference.levels(Side::Buy));
        }

        #[test]
        fn snapshot_equals_sequence_of_updates(levels in proptest::collection::vec((90i64..110, 0i64..20), 0..60)) {
            let (bids, asks): (Vec<_>, Vec<_>) = levels.iter().partition(|(p, _)| *p < 100);
            let mut a = OrderBook::new();
            a.apply_snapshot(bids.iter().map(|(p, q)| lv(*p, *q)), asks.iter().map(|(p, q)| lv(*p, *q)));
            let mut b = OrderBook::new();
            b.update(Side::Buy, Price(1), Qty(1)); // stale state the snapshot must wipe
            b.clear();
            for (p, q) in &bids { b.update(Side::Buy, Price(*p), Qty(*q)); }
            for (p, q) in &asks { b.update(Side::Sell, Price(*p), Qty(*q)); }
            prop_assert_eq!(a, b);
        }
    }
}
