//! Backtest statistics: a pure function from the fills and the equity curve of a run to
//! its report. No I/O, no engine: every figure can be checked by hand (see the tests).
//!
//! Definitions:
//!
//! * **PnL**: final equity (realized net of fees, plus unrealized at the marks) minus the
//!   starting equity.
//! * **Trades**: fills that reduce a position. Each one's PnL is the realized PnL of the
//!   part it closes, on average cost, gross of fees (fees are reported on their own).
//!   **Win rate** is the share of those with a PnL above zero; **profit factor** is the sum
//!   of the winners over the absolute sum of the losers (none when nothing was lost).
//! * **Max drawdown**: the largest fall of the equity curve from a previous peak (money).
//! * **Sharpe ratio**: of the per-minute changes of equity, mean over sample standard
//!   deviation, annualized by `sqrt(525,600)` minutes a year. Scale-free, so it needs no
//!   capital figure. A statistic of returns, so it is computed in `f64`; money itself is
//!   never a float.
//! * **Fill ratio**: orders with at least one fill over orders sent.
//! * **Slippage** (ticks): per fill, its price against the touch it would take at the
//!   moment the order was sent (buys: the best ask; sells: the best bid), positive when
//!   worse. A resting order filled at its own price shows the spread it earned as negative
//!   slippage. Averaged over fills weighted equally.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use std::collections::BTreeSet;

/// Minutes in a (365-day) year, for annualizing the Sharpe ratio.
pub const MINUTES_PER_YEAR: f64 = 525_600.0;

/// One fill, in decimals.
#[derive(Clone, Debug, PartialEq)]
pub struct FillRecord {
    /// The order it filled (for the fill ratio).
    pub order: String,
    /// Instrument index.
    pub instrument: usize,
    pub buy: bool,
    pub price: Decimal,
    pub qty: Decimal,
    pub fee: Decimal,
    /// Against the touch at submission, in ticks (positive is worse); `None` when the
    /// book had no touch on that side.
    pub slippage_ticks: Option<Decimal>,
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    pub fills: Vec<FillRecord>,
    /// Equity at the start, at each minute of engine time, and at the end.
    pub equity: Vec<Decimal>,
    /// Orders sent.
    pub orders: u64,
}

/// The report's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub pnl: Decimal,
    pub fees: Decimal,
    pub trades: u64,
    pub win_rate: Option<Decimal>,
    pub profit_factor: Option<Decimal>,
    pub max_drawdown: Decimal,
    pub sharpe: Option<f64>,
    pub orders: u64,
    pub fills: u64,
    pub fill_ratio: Option<Decimal>,
    pub avg_slippage_ticks: Option<Decimal>,
}

/// Average-cost position of one instrument.
#[derive(Clone, Copy, Default)]
struct Book {
    qty: Decimal,
    avg: Decimal,
}

impl Book {
    /// Apply a signed fill; the realized PnL of the part it closed, if it closed any.
    fn apply(&mut self, q: Decimal, price: Decimal) -> Option<Decimal> {
        if self.qty.is_zero() || self.qty.is_sign_positive() == q.is_sign_positive() {
            let total = self.qty.abs() + q.abs();
            self.avg = (self.avg * self.qty.abs() + price * q.abs()) / total;
            self.qty += q;
            return None;
        }
        let closed = q.abs().min(self.qty.abs());
        let dir = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        let pnl = closed * (price - self.avg) * dir;
        self.qty += q;
        if self.qty.is_zero() {
            self.avg = Decimal::ZERO;
        } else if self.qty.is_sign_positive() != (dir == Decimal::ONE) {
            // Flipped: the rest opens at this price.
            self.avg = price;
        }
        Some(pnl)
    }
}

/// Compute the figures of a run.
pub fn figures(run: &RunRecord) -> Figures {
    let mut books: Vec<Book> = Vec::new();
    let (mut wins, mut trades) = (0u64, 0u64);
    let (mut gross_win, mut gross_loss) = (Decimal::ZERO, Decimal::ZERO);
    let mut fees = Decimal::ZERO;
    let mut filled_orders = BTreeSet::new();
    let (mut slip_sum, mut slip_n) = (Decimal::ZERO, 0u64);
    for f in &run.fills {
        if books.len() <= f.instrument {
            books.resize(f.instrument + 1, Book::default());
        }
        fees += f.fee;
        filled_orders.insert(f.order.as_str());
        if let Some(s) = f.slippage_ticks {
            slip_sum += s;
            slip_n += 1;
        }
        let q = if f.buy { f.qty } else { -f.qty };
        if let Some(pnl) = books[f.instrument].apply(q, f.price) {
            trades += 1;
            if pnl > Decimal::ZERO {
                wins += 1;
                gross_win += pnl;
            } else {
                gross_loss += -pnl;
            }
        }
    }
    let ratio = |a: Decimal, b: Decimal| (!b.is_zero()).then(|| (a / b).round_dp(6));

    let pnl = match (run.equity.first(), run.equity.last()) {
        (Some(a), Some(b)) => b - a,
        _ => Decimal::ZERO,
    };
    let mut peak: Option<Decimal> = None;
    let mut max_dd = Decimal::ZERO;
    for &e in &run.equity {
        let p = *peak.get_or_insert(e);
        if e > p {
            peak = Some(e);
        } else {
            max_dd = max_dd.max(p - e);
        }
    }

    Figures {
        pnl,
        fees,
        trades,
        win_rate: ratio(Decimal::from(wins), Decimal::from(trades)),
        profit_factor: ratio(gross_win, gross_loss),
        max_drawdown: max_dd,
        sharpe: sharpe(&run.equity),
        orders: run.orders,
        fills: run.fills.len() as u64,
        fill_ratio: ratio(
            Decimal::from(filled_orders.len() as u64),
            Decimal::from(run.orders),
        ),
        avg_slippage_ticks: ratio(slip_sum, Decimal::from(slip_n)),
    }
}

/// Annualized Sharpe ratio of the per-minute equity changes (see the module docs).
pub fn sharpe(equity: &[Decimal]) -> Option<f64> {
    let r: Vec<f64> = equity
        .windows(2)
        .filter_map(|w| (w[1] - w[0]).to_f64())
        .collect();
    if r.len() < 2 {
        return None;
    }
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0).then(|| mean / sd * MINUTES_PER_YEAR.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fill(order: &str, buy: bool, price: Decimal, qty: Decimal, slip: i64) -> FillRecord {
        FillRecord {
            order: order.into(),
            instrument: 0,
            buy,
            price,
            qty,
            fee: dec!(0.5),
            slippage_ticks: Some(Decimal::from(slip)),
        }
    }

    /// Worked by hand:
    /// buy 2 @ 100 (avg 100); sell 1 @ 103: +3 (win); sell 2 @ 99: closes 1 at -1 (loss),
    /// flips to short 1 @ 99; buy 1 @ 97: +2 (win). Trades 3, wins 2, win rate 0.666667,
    /// profit factor (3 + 2) / 1 = 5. Fees 4 x 0.5 = 2. Orders 5, four of them filled
    /// (a, b, c, d): fill ratio 4/5 = 0.8. Slippage (1 + 0 - 1 + 2) / 4 = 0.5 ticks.
    /// Equity 0, 10, 4, 7, 1, 6: PnL 6; peaks 10 then drop to 1: max drawdown 9.
    /// Minute changes 10, -6, 3, -6, 5: mean 1.2, sample variance
    /// (77.44 + 51.84 + 3.24 + 51.84 + 14.44) / 4 = 49.7, sd 7.0498..., Sharpe
    /// 1.2 / 7.0498 * sqrt(525600) = 123.40...
    #[test]
    fn figures_on_a_small_fixture_match_the_hand_computation() {
        let run = RunRecord {
            fills: vec![
                fill("a", true, dec!(100), dec!(2), 1),
                fill("b", false, dec!(103), dec!(1), 0),
                fill("c", false, dec!(99), dec!(2), -1),
                fill("d", true, dec!(97), dec!(1), 2),
            ],
            equity: vec![dec!(0), dec!(10), dec!(4), dec!(7), dec!(1), dec!(6)],
            orders: 5,
        };
        let f = figures(&run);
        assert_eq!(f.pnl, dec!(6));
        assert_eq!(f.fees, dec!(2.0));
        assert_eq!(f.trades, 3);
        assert_eq!(f.win_rate, Some(dec!(0.666667)));
        assert_eq!(f.profit_factor, Some(dec!(5)));
        assert_eq!(f.max_drawdown, dec!(9));
        assert_eq!(f.fills, 4);
        assert_eq!(f.fill_ratio, Some(dec!(0.8)));
        assert_eq!(f.avg_slippage_ticks, Some(dec!(0.5)));
        let expected = 1.2 / 49.7f64.sqrt() * 525_600f64.sqrt();
        let s = f.sharpe.unwrap();
        assert!((s - expected).abs() < 1e-9, "{s} vs {expected}");
        assert!((s - 123.40).abs() < 0.01, "{s}");
    }

    #[test]
    fn empty_runs_have_no_ratios() {
        let f = figures(&RunRecord::default());
        assert_eq!(f.pnl, Decimal::ZERO);
        assert_eq!(f.win_rate, None);
        assert_eq!(f.profit_factor, None);
        assert_eq!(f.sharpe, None);
        assert_eq!(f.fill_ratio, None);
        assert_eq!(f.avg_slippage_ticks, None);
    }
}
