//! The paper venue's fee model: `notional * bps / 10000`, exact in `Decimal`, maker or
//! taker by how the fill happened (negative maker bps is a rebate).

use crate::domain::{Instrument, Liquidity, Price, Qty};
use rust_decimal::Decimal;

/// Maker and taker fees, in basis points of notional.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fees {
    pub(super) maker_bps: Decimal,
    pub(super) taker_bps: Decimal,
}

impl Fees {
    /// The fee of a fill of `qty` at `price`, as maker or taker.
    pub(super) fn of(&self, inst: &Instrument, price: Price, qty: Qty, liq: Liquidity) -> Decimal {
        let bps = match liq {
            Liquidity::Maker => self.maker_bps,
            Liquidity::Taker => self.taker_bps,
        };
        fee(inst, price, qty, bps)
    }
}

/// `notional * bps / 10000`, with the notional as [`Instrument::notional`] computes it.
/// Overflow (absurd prices or sizes) saturates instead of panicking.
fn fee(inst: &Instrument, price: Price, qty: Qty, bps: Decimal) -> Decimal {
    let notional = Decimal::from(price.0)
        .checked_mul(inst.tick_size)
        .zip(Decimal::from(qty.0).checked_mul(inst.lot_size))
        .and_then(|(p, q)| p.checked_mul(q));
    let fee = notional
        .and_then(|n| n.checked_mul(bps))
        .and_then(|x| x.checked_div(Decimal::from(10_000)));
    match fee {
        Some(f) => f.normalize(),
        None if bps.is_sign_negative() => Decimal::MIN,
        None => Decimal::MAX,
    }
}
