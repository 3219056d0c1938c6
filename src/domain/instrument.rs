//! Instruments and the conversions between book units (ticks, lots) and decimals.

use super::num::{Price, Qty};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of an instrument in the engine's instrument list. Dense and stable for a run,
/// so per-instrument state lives in plain vectors (deterministic iteration).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct InstrumentId(pub u16);

impl InstrumentId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why a decimal does not fit an instrument's grid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("{value} is not a multiple of the {what} size {step}")]
    OffGrid {
        what: &'static str,
        value: Decimal,
        step: Decimal,
    },
    #[error("{value} is out of range for {what}")]
    OutOfRange { what: &'static str, value: Decimal },
}

/// A tradable instrument on a venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub id: InstrumentId,
    /// Venue symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Venue name, e.g. `sim`, `binance`.
    pub venue: String,
    /// Smallest price increment.
    pub tick_size: Decimal,
    /// Smallest size increment.
    pub lot_size: Decimal,
    /// Smallest order size, in lots.
    pub min_qty: Qty,
    /// Decimal places shown for prices.
    pub price_precision: u32,
    /// Decimal places shown for sizes.
    pub qty_precision: u32,
}

impl Instrument {
    /// Build an instrument; precisions follow the tick and lot sizes.
    pub fn new(
        id: InstrumentId,
        symbol: impl Into<String>,
        venue: impl Into<String>,
        tick_size: Decimal,
        lot_size: Decimal,
        min_qty: Qty,
    ) -> Self {
        Instrument {
            id,
            symbol: symbol.into(),
            venue: venue.into(),
            price_precision: tick_size.normalize().scale(),
            qty_precision: lot_size.normalize().scale(),
            tick_size,
            lot_size,
            min_qty,
        }
    }

    /// The decimal price of `p` ticks.
    pub fn price(&self, p: Price) -> Decimal {
        Decimal::from(p.0) * self.tick_size
    }

    /// The decimal size of `q` lots.
    pub fn qty(&self, q: Qty) -> Decimal {
        Decimal::from(q.0) * self.lot_size
    }

    /// The decimal size of a sum of lots (wider than one order's `Qty`). Zero is the
    /// plain zero; a sum beyond what a decimal holds saturates to the largest size of its
    /// sign, which every limit refuses (never wraps, never panics).
    pub fn lots_to_units(&self, lots: i128) -> Decimal {
        if lots == 0 {
            return Decimal::ZERO;
        }
        let max = if lots < 0 { Decimal::MIN } else { Decimal::MAX };
        Decimal::try_from_i128_with_scale(lots, 0)
            .ok()
            .and_then(|d| d.checked_mul(self.lot_size))
            .unwrap_or(max)
    }

    /// The quote notional of `q` lots at `p` ticks.
    pub fn notional(&self, p: Price, q: Qty) -> Decimal {
        self.price(p) * self.qty(q)
    }

    /// The exact tick count of a decimal price; refused when off the tick grid.
    pub fn price_from_decimal(&self, d: Decimal) -> Result<Price, GridError> {
        to_units(d, self.tick_size, "tick").map(Price)
    }

    /// The exact lot count of a decimal size; refused when off the lot grid.
    pub fn qty_from_decimal(&self, d: Decimal) -> Result<Qty, GridError> {
        to_units(d, self.lot_size, "lot").map(Qty)
    }

    /// The nearest tick at or below (`down = true`) or at or above a decimal price.
    pub fn price_round(&self, d: Decimal, down: bool) -> Price {
        let strategy = if down {
            RoundingStrategy::ToNegativeInfinity
        } else {
            RoundingStrategy::ToPositiveInfinity
        };
        let units = (d / self.tick_size).round_dp_with_strategy(0, strategy);
        Price(i64::try_from(units).unwrap_or(if down { i64::MIN } else { i64::MAX }))
    }

    /// The lot count of a decimal size, rounded toward zero.
    pub fn qty_floor(&self, d: Decimal) -> Qty {
        let units = (d / self.lot_size).trunc();
        Qty(i64::try_from(units).unwrap_or(0))
    }

    /// Decimal places for money in this instrument's quote currency (PnL, fees,
    /// notional): the tick's decimals, at least 2 (cents). `BTC-USD` at tick 0.1 shows
    /// 2, an `ETHBTC` at tick 0.000001 shows 6.
    pub fn money_precision(&self) -> u32 {
        self.price_precision.max(2)
    }

    /// A price as text with the instrument's precision.
    pub fn fmt_price(&self, p: Price) -> String {
        format!("{:.*}", self.price_precision as usize, self.price(p))
    }

    /// A size as text with the instrument's precision.
    pub fn fmt_qty(&self, q: Qty) -> String {
        format!("{:.*}", self.qty_precision as usize, self.qty(q))
    }
}

fn to_units(d: Decimal, step: Decimal, what: &'static str) -> Result<i64, GridError> {
    if step.is_zero() {
        return Err(GridError::OutOfRange { what, value: d });
    }
    let units = d
        .checked_div(step)
        .ok_or(GridError::OutOfRange { what, value: d })?;
    if units.fract() != Decimal::ZERO {
        return Err(GridError::OffGrid {
            what,
            value: d,
            step,
        });
    }
    i64::try_from(units).map_err(|_| GridError::OutOfRange { what, value: d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

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

    #[test]
    fn conversions_are_exact() {
        let i = btc();
        assert_eq!(i.price_precision, 1);
        assert_eq!(i.qty_precision, 3);
        assert_eq!(i.price(Price(600_001)), dec!(60000.1));
        assert_eq!(i.price_from_decimal(dec!(60000.1)), Ok(Price(600_001)));
        assert!(matches!(
            i.price_from_decimal(dec!(60000.15)),
            Err(GridError::OffGrid { .. })
        ));
        assert_eq!(i.qty_from_decimal(dec!(0.25)), Ok(Qty(250)));
        assert_eq!(i.notional(Price(600_000), Qty(500)), dec!(30000.0000));
        assert_eq!(i.price_round(dec!(60000.15), true), Price(600_001));
        assert_eq!(i.price_round(dec!(60000.15), false), Price(600_002));
        assert_eq!(i.qty_floor(dec!(0.0019)), Qty(1));
        assert_eq!(i.fmt_price(Price(600_001)), "60000.1");
        assert_eq!(i.fmt_qty(Qty(250)), "0.250");
    }

    #[test]
    fn lot_sums_convert_exactly_and_saturate_instead_of_wrapping() {
        let i = btc();
        assert_eq!(i.lots_to_units(0), Decimal::ZERO);
        assert_eq!(i.lots_to_units(250), i.qty(Qty(250)));
        assert_eq!(i.lots_to_units(-1500), dec!(-1.5));
        // Far more than any i64 order: still a size, and every limit refuses it.
        let huge = i128::from(i64::MAX) * 1_000_000;
        assert!(i.lots_to_units(huge) > Decimal::from(i64::MAX));
        assert_eq!(i.lots_to_units(i128::MAX), Decimal::MAX);
        assert_eq!(i.lots_to_units(i128::MIN), Decimal::MIN);
    }
}
