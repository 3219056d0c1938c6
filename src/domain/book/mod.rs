//! L2 order book: aggregate size per price level, per side.
//!
//! Each side is a sorted `Vec` with the best level at the end, so the updates that real
//! feeds send most (near the top of the book) touch the tail and move little memory.
//! Binary search finds a level; a zero size deletes it.

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderBook {
    /// Ascending by price; the best bid is last.
    bids: Vec<Level>,
    /// Descending by price; the best ask is last.
    asks: Vec<Level>,
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

    /// Replace the whole book. Zero-size levels are ignored; a price given twice keeps the last.
    pub fn apply_snapshot(
        &mut self,
        bids: impl IntoIterator<Item = Level>,
        asks: impl IntoIterator<Item = Level>,
    ) {
        self.clear();
        for l in bids {
            self.update(Side::Buy, l.price, l.qty);
        }
        for l in asks {
            self.update(Side::Sell, l.price, l.qty);
        }
    }

    fn side_vec(&self, side: Side) -> &Vec<Level> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Search a side for `price`: `Ok(index)` if present, `Err(insert_at)` if not.
    fn find(&self, side: Side, price: Price) -> Result<usize, usize> {
        match side {
            Side::Buy => self.bids.binary_search_by(|l| l.price.cmp(&price)),
            Side::Sell => self.asks.binary_search_by(|l| price.cmp(&l.price)),
        }
    }

    /// Set the size at a level (absolute); zero deletes it. Returns the previous size.
    pub fn update(&mut self, side: Side, price: Price, qty: Qty) -> Qty {
        let found = self.find(side, price);
        let v = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        match found {
            Ok(i) => {
                let prev = v[i].qty;
                if qty.is_positive() {
                    v[i].qty = qty;
                } else {
                    v.remove(i);
                }
                prev
            }
            Err(i) => {
                if qty.is_positive() {
                    v.insert(i, Level { price, qty });
                }
                Qty::ZERO
            }
        }
    }

    /// The size resting at a price (zero if none).
    pub fn level_qty(&self, side: Side, price: Price) -> Qty {
        match self.find(side, price) {
            Ok(i) => self.side_vec(side)[i].qty,
            Err(_) => Qty::ZERO,
        }
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.last().copied()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.last().copied()
    }

    /// Best level of a side.
    pub fn best(&self, side: Side) -> Option<Level> {
        self.side_vec(side).last().copied()
    }

    /// Number of levels on a side.
    pub fn depth(&self, side: Side) -> usize {
        self.side_vec(side).len()
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
        self.side_vec(side).iter().rev().take(n).copied()
    }

    /// All levels of a side, best first.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = Level> + '_ {
        self.side_vec(side).iter().rev().copied()
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
        for v in [&mut self.bids, &mut self.asks] {
            if v.len() > depth {
                let cut = v.len() - depth;
                v.drain(..cut);
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
