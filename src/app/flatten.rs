//! The flatten preview: what `F` would send, one reduce-only market order per open
//! position, priced by walking the visible book, with the slippage against the mid.

use super::{App, fmt_dec, mid_price, take_visible};
use crate::domain::Side;
use crate::engine::view::EngineView;
use rust_decimal::Decimal;

/// One line of the flatten preview.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FlattenLine {
    pub symbol: String,
    pub side: Side,
    pub qty: String,
    /// Average price of walking the visible book, if anything fills.
    pub avg_price: Option<String>,
    pub worst_price: Option<String>,
    /// Cost against the mid, quote currency (positive = worse than mid), unrounded.
    pub slippage: Option<Decimal>,
    pub slippage_bps: Option<Decimal>,
    /// Size the visible book cannot fill.
    pub unfilled: Option<String>,
}

impl<T, R> App<T, R> {
    /// What `F` would send: see [`preview`].
    pub fn flatten_preview(&self) -> Vec<FlattenLine> {
        preview(&self.view)
    }
}

/// What a flatten would send on `view`: one reduce-only market order per open position,
/// with the average and worst price from walking the visible book and the slippage
/// against mid (the console's `F` and `pit flatten --preview`).
pub fn preview(view: &EngineView) -> Vec<FlattenLine> {
    {
        let mut out = Vec::new();
        for pv in &view.positions {
            let pos = &pv.position;
            if pos.is_flat() {
                continue;
            }
            let Some(market) = view.markets.get(pos.instrument.index()) else {
                continue;
            };
            let Some(inst) = market.instrument.as_ref() else {
                continue;
            };
            let side = if pos.qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let lots = inst.qty_floor(pos.qty.abs());
            let (cost, avg) = take_visible(market, inst, side, lots);
            let unfilled = lots - cost.filled;
            let mid = mid_price(market);
            let (slippage, slippage_bps) = match (avg, mid) {
                (Some(avg), Some(mid)) if !mid.is_zero() => {
                    let per_unit = match side {
                        Side::Buy => avg - mid,
                        Side::Sell => mid - avg,
                    };
                    let filled = inst.qty(cost.filled);
                    (
                        Some(per_unit * filled),
                        Some(per_unit / mid * Decimal::from(10_000)),
                    )
                }
                _ => (None, None),
            };
            out.push(FlattenLine {
                symbol: inst.symbol.clone(),
                side,
                qty: inst.fmt_qty(lots),
                avg_price: avg.map(|a| fmt_dec(a, inst.price_precision + 1)),
                worst_price: cost.worst.map(|p| inst.fmt_price(p)),
                slippage,
                slippage_bps,
                unfilled: (!unfilled.is_zero()).then(|| inst.fmt_qty(unfilled)),
            });
        }
        out
    }
}

impl FlattenLine {
    /// `SELL 0.003 BTC-USD: est. avg 59990.15, worst 59989.5, cost 0.0123 (2.05 bps)`.
    pub fn text(&self) -> String {
        let mut s = format!("{} {} {}", self.side.as_str(), self.qty, self.symbol);
        match (&self.avg_price, &self.worst_price) {
            (Some(a), Some(w)) => s.push_str(&format!(": est. avg {a}, worst {w}")),
            _ => s.push_str(": the visible book is empty on that side"),
        }
        if let (Some(c), Some(b)) = (self.slippage, self.slippage_bps) {
            s.push_str(&format!(", cost {} ({} bps)", fmt_dec(c, 4), fmt_dec(b, 2)));
        }
        if let Some(u) = &self.unfilled {
            s.push_str(&format!("; the visible book cannot fill {u}"));
        }
        s
    }
}
