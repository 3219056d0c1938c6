//! Positions with average price and realized/unrealized PnL, in exact decimals.

use super::instrument::InstrumentId;
use super::order::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A net position in one instrument (linear: PnL = qty x price change, in quote currency).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub instrument: InstrumentId,
    /// Signed size in base units: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price of the open size; zero when flat.
    pub avg_price: Decimal,
    /// Realized PnL, gross of fees.
    pub realized: Decimal,
    /// Fees paid (negative: rebates earned).
    pub fees: Decimal,
}

/// What one fill did to a position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillEffect {
    /// PnL realized by the closing part of the fill, gross of fees.
    pub realized: Decimal,
    /// Size closed by this fill (base units, unsigned).
    pub closed: Decimal,
    /// The position went from non-zero to flat, or flipped sides.
    pub round_trip_closed: bool,
}

impl Position {
    pub fn new(instrument: InstrumentId) -> Self {
        Position {
            instrument,
            ..Position::default()
        }
    }

    pub fn is_flat(&self) -> bool {
        self.qty.is_zero()
    }

    /// +1 long, -1 short, 0 flat.
    pub fn direction(&self) -> i64 {
        if self.qty.is_sign_positive() && !self.qty.is_zero() {
            1
        } else if self.qty.is_sign_negative() && !self.qty.is_zero() {
            -1
        } else {
            0
        }
    }

    /// Apply a fill of `qty` (unsigned, base units) at `price`, paying `fee`.
    pub fn apply_fill(
        &mut self,
        side: Side,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
    ) -> FillEffect {
        self.fees += fee;
        let signed = if side == Side::Buy { qty } else { -qty };
        let mut effect = FillEffect::default();
        if self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive() {
            // Opening or adding: weighted average entry.
            let open = self.qty.abs();
            let new_open = open + qty;
            if !new_open.is_zero() {
                self.avg_price = (self.avg_price * open + price * qty) / new_open;
            }
            self.qty += signed;
            return effect;
        }
        // Reducing, closing or flipping.
        let open = self.qty.abs();
        let closing = open.min(qty);
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        effect.realized = closing * (price - self.avg_price) * direction;
        effect.closed = closing;
        self.realized += effect.realized;
        self.qty += signed;
        if self.qty.is_zero() {
            self.avg_price = Decimal::ZERO;
            effect.round_trip_closed = true;
        } else if qty > open {
            // Flipped: the rest opens a new position at the fill price.
            self.avg_price = price;
            effect.round_trip_closed = true;
        }
        effect
    }

    /// Unrealized PnL against a mark price.
    pub fn unrealized(&self, mark: Decimal) -> Decimal {
        if self.qty.is_zero() {
            Decimal::ZERO
        } else {
            self.qty * (mark - self.avg_price)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn open_add_reduce_close_flip() {
        let mut p = Position::new(InstrumentId(0));
        p.apply_fill(Side::Buy, dec!(100), dec!(1), dec!(0.1));
        p.apply_fill(Side::Buy, dec!(110), dec!(1), dec!(0.1));
        assert_eq!(p.qty, dec!(2));
        assert_eq!(p.avg_price, dec!(105));
        assert_eq!(p.unrealized(dec!(120)), dec!(30));
        let e = p.apply_fill(Side::Sell, dec!(120), dec!(0.5), dec!(0));
        assert_eq!(e.realized, dec!(7.5));
        assert!(!e.round_trip_closed);
        assert_eq!(p.avg_price, dec!(105));
        let e = p.apply_fill(Side::Sell, dec!(100), dec!(2.5), dec!(0));
        assert_eq!(e.realized, dec!(-7.5));
        assert!(e.round_trip_closed);
        assert_eq!(p.qty, dec!(-1));
        assert_eq!(p.avg_price, dec!(100));
        assert_eq!(p.realized, dec!(0));
        assert_eq!(p.fees, dec!(0.2));
        assert_eq!(p.unrealized(dec!(90)), dec!(10));
        let e = p.apply_fill(Side::Buy, dec!(90), dec!(1), dec!(0));
        assert_eq!(e.realized, dec!(10));
        assert!(p.is_flat());
        assert_eq!(p.avg_price, dec!(0));
    }
}
