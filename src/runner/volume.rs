//! The volume traded at each price since the run started, per instrument, for the console's
//! price ladder (`MarketView::traded`).
//!
//! Kept by the runner, not the engine core: no decision reads it, and only a run that
//! publishes views (a console, `pit attach`) keeps it; headless runs and backtests pay
//! nothing. Each trade costs one ordered-map update. Memory is bounded: at most
//! [`PRICES_KEPT`] prices per instrument; past that the price farthest from the latest
//! trade is forgotten (it is always the lowest or the highest kept).

use crate::domain::{InstrumentId, Level, Price, Qty, TradeTick};
use std::collections::BTreeMap;

/// Prices kept per instrument.
pub const PRICES_KEPT: usize = 512;

/// Per instrument: lots traded at each price since the run started.
#[derive(Debug, Default)]
pub struct SessionVolume {
    per: Vec<BTreeMap<Price, i64>>,
    cap: usize,
}

impl SessionVolume {
    pub fn new(instruments: usize) -> Self {
        Self::with_cap(instruments, PRICES_KEPT)
    }

    pub fn with_cap(instruments: usize, cap: usize) -> Self {
        SessionVolume {
            per: vec![BTreeMap::new(); instruments],
            cap: cap.max(1),
        }
    }

    /// Count a trade the engine sees.
    pub fn record(&mut self, inst: InstrumentId, t: &TradeTick) {
        let Some(m) = self.per.get_mut(inst.index()) else {
            return;
        };
        let v = m.entry(t.price).or_insert(0);
        *v = v.saturating_add(t.qty.lots().max(0));
        while m.len() > self.cap {
            let (Some((&lo, _)), Some((&hi, _))) = (m.first_key_value(), m.last_key_value()) else {
                break;
            };
            let far = if t.price.0.abs_diff(lo.0) >= t.price.0.abs_diff(hi.0) {
                lo
            } else {
                hi
            };
            m.remove(&far);
        }
    }

    /// Instrument `i`'s volume by price, lowest price first.
    pub fn levels(&self, i: usize) -> Vec<Level> {
        self.per.get(i).map_or_else(Vec::new, |m| {
            m.iter().map(|(p, q)| Level::new(*p, Qty(*q))).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Side, Timestamp};

    fn trade(price: i64, qty: i64) -> TradeTick {
        TradeTick {
            ts: Timestamp::from_millis(0),
            price: Price(price),
            qty: Qty(qty),
            aggressor: Side::Buy,
        }
    }

    #[test]
    fn sums_each_price_per_instrument() {
        let mut v = SessionVolume::new(2);
        v.record(InstrumentId(0), &trade(100, 3));
        v.record(InstrumentId(0), &trade(101, 2));
        v.record(InstrumentId(0), &trade(100, 4));
        v.record(InstrumentId(1), &trade(100, 9));
        // An unknown instrument is ignored, not a panic.
        v.record(InstrumentId(7), &trade(100, 9));
        assert_eq!(
            v.levels(0),
            vec![
                Level::new(Price(100), Qty(7)),
                Level::new(Price(101), Qty(2))
            ]
        );
        assert_eq!(v.levels(1), vec![Level::new(Price(100), Qty(9))]);
        assert!(v.levels(5).is_empty());
    }

    #[test]
    fn forgets_the_price_farthest_from_the_latest_trade() {
        let mut v = SessionVolume::with_cap(1, 3);
        for p in [100, 101, 102] {
            v.record(InstrumentId(0), &trade(p, 1));
        }
        // The market moves up: 100 is the farthest from 103.
        v.record(InstrumentId(0), &trade(103, 1));
        let prices: Vec<i64> = v.levels(0).iter().map(|l| l.price.0).collect();
        assert_eq!(prices, vec![101, 102, 103]);
        // And down again: 103 is the farthest from 99.
        v.record(InstrumentId(0), &trade(99, 5));
        let prices: Vec<i64> = v.levels(0).iter().map(|l| l.price.0).collect();
        assert_eq!(prices, vec![99, 101, 102]);
    }
}
