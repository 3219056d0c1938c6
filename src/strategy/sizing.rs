//! Sizing from capital: how big an order is when a strategy asks for a size in *risk
//! units* instead of a quantity.
//!
//! One risk unit is `risk_per_trade` of the account's equity, where the equity is
//! `capital_base` (the quote-currency capital the account started with) plus the
//! engine's equity (realized PnL net of fees plus unrealized PnL). The stop is placed
//! `stop_atr × ATR + stop_spread × spread` from the entry (`stop = entry ± distance`), so
//! the quantity whose loss at the stop is the budget is
//!
//! ```text
//! qty = (capital_base + equity) × risk_per_trade × units / stop_distance
//! ```
//!
//! floored to whole lots. The engine then caps it at `risk.max_order_qty` (and at the
//! intent's own quantity when that is not zero) and sends it through the ordinary risk
//! checks, so `max_position` and `max_notional` still refuse. It assumes a linear
//! instrument (spot, or a linear contract of multiplier 1): the loss of `qty` over the
//! stop distance is `qty × distance` in the quote currency.
//!
//! Money is `Decimal` with checked arithmetic: a figure that does not fit sizes nothing.

use crate::domain::{Instrument, Invalid, Qty};
use rust_decimal::Decimal;

/// `[sizing]` in config.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizingParams {
    /// The account's capital in the quote currency, added to the engine's equity (PnL
    /// since the start) to make the equity that risk is a fraction of. Must be > 0.
    /// Default: 10000.
    pub capital_base: Decimal,
    /// Fraction of the equity one risk unit risks, in (0, 1]. Default: 0.002 (0.2%).
    pub risk_per_trade: Decimal,
    /// `a` of the stop distance `a × ATR + b × spread`. Must be >= 0. Default: 1.5.
    pub stop_atr: Decimal,
    /// `b` of the stop distance `a × ATR + b × spread`. Must be >= 0. Default: 1.
    pub stop_spread: Decimal,
}

impl Default for SizingParams {
    fn default() -> Self {
        SizingParams {
            capital_base: Decimal::from(10_000),
            risk_per_trade: Decimal::new(2, 3),
            stop_atr: Decimal::new(15, 1),
            stop_spread: Decimal::ONE,
        }
    }
}

/// A size asked for in risk units: the engine turns it into a quantity with
/// [`SizingParams::qty_for_risk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskSize {
    /// How many risk units (`risk_per_trade` of the equity each) the trade may lose.
    pub units: Decimal,
    /// Distance from the entry to the stop, in price units (quote currency per base unit).
    pub stop_distance: Decimal,
}

impl SizingParams {
    /// Checks the values; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.capital_base <= Decimal::ZERO {
            return Err(Invalid::new(
                "capital_base",
                format!("must be > 0 (got {})", self.capital_base),
            ));
        }
        if self.risk_per_trade <= Decimal::ZERO || self.risk_per_trade > Decimal::ONE {
            return Err(Invalid::new(
                "risk_per_trade",
                format!(
                    "must be a fraction of the equity in (0, 1], e.g. 0.002 for 0.2% (got {})",
                    self.risk_per_trade
                ),
            ));
        }
        for (key, v) in [
            ("stop_atr", self.stop_atr),
            ("stop_spread", self.stop_spread),
        ] {
            if v < Decimal::ZERO {
                return Err(Invalid::new(key, format!("must be >= 0 (got {v})")));
            }
        }
        if self.stop_atr.is_zero() && self.stop_spread.is_zero() {
            return Err(Invalid::new(
                "stop_atr",
                "stop_atr and stop_spread are both 0: the stop distance would be 0 and a risk-sized order unbounded",
            ));
        }
        Ok(())
    }

    /// `stop_atr × atr + stop_spread × spread`, in the units of `atr` and `spread`; zero
    /// when it does not fit.
    pub fn stop_distance(&self, atr: Decimal, spread: Decimal) -> Decimal {
        self.stop_atr
            .checked_mul(atr)
            .zip(self.stop_spread.checked_mul(spread))
            .and_then(|(a, b)| a.checked_add(b))
            .unwrap_or(Decimal::ZERO)
    }

    /// The quantity of `inst` whose loss over `stop_distance` (price units) is `units`
    /// risk units at engine equity `equity`: floored to whole lots; zero when the stop
    /// distance or the budget is not positive, or a figure does not fit.
    pub fn qty_for_risk(
        &self,
        inst: &Instrument,
        equity: Decimal,
        units: Decimal,
        stop_distance: Decimal,
    ) -> Qty {
        if stop_distance <= Decimal::ZERO {
            return Qty(0);
        }
        let budget = self
            .capital_base
            .checked_add(equity)
            .and_then(|e| e.checked_mul(self.risk_per_trade))
            .and_then(|b| b.checked_mul(units));
        let Some(budget) = budget.filter(|b| *b > Decimal::ZERO) else {
            return Qty(0);
        };
        let lots = budget
            .checked_div(stop_distance)
            .and_then(|q| q.checked_div(inst.lot_size))
            .map(|l| l.trunc());
        Qty(lots.and_then(|l| i64::try_from(l).ok()).unwrap_or(0).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::test_util::btc;
    use rust_decimal_macros::dec;

    fn worked() -> SizingParams {
        SizingParams {
            capital_base: dec!(10000),
            risk_per_trade: dec!(0.002),
            stop_atr: dec!(1.5),
            stop_spread: dec!(1),
        }
    }

    /// Capital 10000, equity -100 (a loss so far), risk 0.002, ATR 20, spread 1, a 1.5,
    /// b 1: stop 1.5 × 20 + 1 × 1 = 31; budget (10000 - 100) × 0.002 = 19.8; qty
    /// 19.8 / 31 = 0.63870… BTC, floored to lots of 0.001: 0.638 (638 lots). Two units
    /// risk twice as much: 1.27741… -> 1.277.
    #[test]
    fn the_worked_example() {
        let s = worked();
        assert_eq!(s.stop_distance(dec!(20), dec!(1)), dec!(31));
        let inst = btc(0);
        assert_eq!(
            s.qty_for_risk(&inst, dec!(-100), dec!(1), dec!(31)),
            Qty(638)
        );
        assert_eq!(
            s.qty_for_risk(&inst, dec!(-100), dec!(2), dec!(31)),
            Qty(1277)
        );
        // Profit adds to the budget: (10000 + 500) × 0.002 / 31 = 0.67741… -> 0.677.
        assert_eq!(
            s.qty_for_risk(&inst, dec!(500), dec!(1), dec!(31)),
            Qty(677)
        );
    }

    #[test]
    fn nothing_when_the_stop_or_the_budget_is_not_positive() {
        let s = worked();
        let inst = btc(0);
        assert_eq!(s.qty_for_risk(&inst, dec!(0), dec!(1), dec!(0)), Qty(0));
        assert_eq!(s.qty_for_risk(&inst, dec!(0), dec!(1), dec!(-3)), Qty(0));
        // Lost all the capital: no budget.
        assert_eq!(
            s.qty_for_risk(&inst, dec!(-10000), dec!(1), dec!(31)),
            Qty(0)
        );
        assert_eq!(
            s.qty_for_risk(&inst, dec!(-20000), dec!(1), dec!(31)),
            Qty(0)
        );
        assert_eq!(s.qty_for_risk(&inst, dec!(0), dec!(0), dec!(31)), Qty(0));
        assert_eq!(s.qty_for_risk(&inst, dec!(0), dec!(-1), dec!(31)), Qty(0));
        // Less than one lot of budget: floored to nothing.
        assert_eq!(
            s.qty_for_risk(&inst, dec!(0), dec!(1), dec!(100000)),
            Qty(0)
        );
    }

    #[test]
    fn figures_that_do_not_fit_size_nothing_and_never_panic() {
        let s = SizingParams {
            capital_base: Decimal::MAX,
            ..worked()
        };
        let inst = btc(0);
        assert_eq!(
            s.qty_for_risk(&inst, Decimal::MAX, dec!(1), dec!(1)),
            Qty(0)
        );
        assert_eq!(
            s.qty_for_risk(&inst, dec!(0), Decimal::MAX, Decimal::new(1, 28)),
            Qty(0)
        );
        assert_eq!(s.stop_distance(Decimal::MAX, Decimal::MAX), Decimal::ZERO);
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(SizingParams::default().validate(), Ok(()));
        let bad = |f: fn(&mut SizingParams)| {
            let mut s = SizingParams::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.capital_base = dec!(0)), "capital_base");
        assert_eq!(bad(|s| s.risk_per_trade = dec!(0)), "risk_per_trade");
        assert_eq!(bad(|s| s.risk_per_trade = dec!(1.5)), "risk_per_trade");
        assert_eq!(bad(|s| s.stop_atr = dec!(-1)), "stop_atr");
        assert_eq!(bad(|s| s.stop_spread = dec!(-1)), "stop_spread");
        assert_eq!(
            bad(|s| {
                s.stop_atr = dec!(0);
                s.stop_spread = dec!(0);
            }),
            "stop_atr"
        );
        let one = SizingParams {
            risk_per_trade: dec!(1),
            ..SizingParams::default()
        };
        assert_eq!(one.validate(), Ok(()));
    }
}
