//! Fixed-point book units: a [`Price`] counts ticks, a [`Qty`] counts lots.
//! Both are plain `i64`s: fast, exact, `Ord` and hashable. The instrument converts them
//! to and from decimals ([`crate::domain::Instrument`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// A price in whole ticks of its instrument.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Price(pub i64);

/// A size in whole lots of its instrument. Book sizes are never negative.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Qty(pub i64);

impl Price {
    pub fn ticks(self) -> i64 {
        self.0
    }
    /// This price moved by `n` ticks (negative moves down).
    pub fn offset(self, n: i64) -> Price {
        Price(self.0.saturating_add(n))
    }
}

impl Qty {
    pub const ZERO: Qty = Qty(0);
    pub fn lots(self) -> i64 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
    /// `self - other`, floored at zero.
    pub fn saturating_sub(self, other: Qty) -> Qty {
        Qty((self.0 - other.0).max(0))
    }
}

impl Add for Qty {
    type Output = Qty;
    fn add(self, o: Qty) -> Qty {
        Qty(self.0 + o.0)
    }
}
impl Sub for Qty {
    type Output = Qty;
    fn sub(self, o: Qty) -> Qty {
        Qty(self.0 - o.0)
    }
}
impl AddAssign for Qty {
    fn add_assign(&mut self, o: Qty) {
        self.0 += o.0;
    }
}
impl SubAssign for Qty {
    fn sub_assign(&mut self, o: Qty) {
        self.0 -= o.0;
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}t", self.0)
    }
}
impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}l", self.0)
    }
}
