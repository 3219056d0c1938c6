//! Strategy 2: the imbalance taker.
//!
//! On every book update of its instrument it measures
//!
//! * **imbalance** over the best `levels` levels of each side:
//!   `(bid size - ask size) / (bid size + ask size)`, in `[-1, 1]`;
//! * **volatility**: the high-low range of the mid over the last `vol_window_ms` of engine
//!   time, in basis points of the current mid.
//!
//! When `|imbalance| >= imbalance_threshold` and `volatility >= min_vol_bps` it sends one
//! IOC limit order in the direction of the imbalance (buy when bids outweigh asks) at the
//! opposite best moved `max_slippage_ticks` further, for `size` (less if that would take the
//! account position in the instrument beyond `max_position`; open orders of this strategy
//! count as if filled). Signals are at least `min_interval_ms` apart and at most
//! `max_signals_per_hour` fall in any rolling hour. No signal is sent unless the account is
//! `Active` (a held IOC would be stale when released, and would use up the hourly budget).
//!
//! **Volatility window.** The mid is sampled (engine time, twice the mid in ticks) on every
//! book update. Rather than a ring of every sample, which a busy book would fill with
//! hundreds of thousands of entries per window and rescan on each update, two monotonic
//! queues keep only the samples that can still be the window's high or low: the same
//! high-low range, in O(1) amortized per update and with memory bounded by how often the
//! mid actually moves. Both are deterministic.
//!
//! **Cost.** Per update: the two queues are updated; the volatility is checked first (it
//! needs no walk of the book) and only when it passes are the top `levels` of each side
//! summed. Both thresholds are compared in integers where that is exactly `Decimal`'s
//! answer (always, for any sane size). Nothing is allocated in steady state (the queues
//! keep their capacity).

use crate::domain::OrderSpec;

use super::{
    Intent, OrderIntent, Strategy, StrategyCtx, find_instrument, min_lots, ms_to_nanos, order_lots,
    require_non_negative, require_positive,
};
use crate::domain::Invalid;
use crate::domain::{
    Instrument, InstrumentId, OrderKind, OrderTag, Qty, Side, TimeInForce, TradingState,
};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// The imbalance taker's name in the console, the store and the audit.
pub const NAME: &str = "imbalance";

/// `[strategies.imbalance]` in config.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImbalanceParams {
    /// Switched on at start-up (key 2 toggles it in the console). Default: false: on the
    /// built-in simulated market the imbalance predicts nothing the taker fees pay for.
    pub enabled: bool,
    /// Symbol of the instrument to trade, exactly as the venue lists it. Default: "BTC-USD".
    pub symbol: String,
    /// Number of price levels per side summed for the imbalance (1 = top of book only).
    /// At least 1. Default: 5.
    pub levels: u32,
    /// Minimum |imbalance| to signal, a fraction in (0, 1]: imbalance is
    /// (bid size - ask size) / (bid size + ask size) over `levels`. Default: 0.6.
    pub imbalance_threshold: Decimal,
    /// Length of the volatility window in milliseconds of engine time. Must be > 0.
    /// Default: 5000.
    pub vol_window_ms: u64,
    /// Minimum volatility to signal, in basis points of the mid: the mid's high-low range
    /// over `vol_window_ms`. 0 disables the filter. Default: 2.
    pub min_vol_bps: Decimal,
    /// Size of each order in base units (e.g. BTC), floored to the lot size; must be at
    /// least the instrument's minimum order size. Default: 0.001.
    pub size: Decimal,
    /// How far past the opposite best the IOC limit may trade, in ticks (0 = only at the
    /// best). Default: 2.
    pub max_slippage_ticks: u32,
    /// Largest account position in the instrument, base units, either direction: no order
    /// takes it further (orders are cut to fit). Must be > 0. Default: 0.005.
    pub max_position: Decimal,
    /// Minimum engine time in milliseconds between two signals. Default: 2000.
    pub min_interval_ms: u64,
    /// Most signals in any rolling hour; when reached, none until the oldest is an hour
    /// old. At least 1. Default: 30.
    pub max_signals_per_hour: u32,
}

impl Default for ImbalanceParams {
    fn default() -> Self {
        ImbalanceParams {
            enabled: false,
            symbol: "BTC-USD".to_string(),
            levels: 5,
            imbalance_threshold: Decimal::new(6, 1),
            vol_window_ms: 5_000,
            min_vol_bps: Decimal::from(2),
            size: Decimal::new(1, 3),
            max_slippage_ticks: 2,
            max_position: Decimal::new(5, 3),
            min_interval_ms: 2_000,
            max_signals_per_hour: 30,
        }
    }
}

impl ImbalanceParams {
    /// Checks the values that need no instrument; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.symbol.trim().is_empty() {
            return Err(Invalid::new("symbol", "must not be empty"));
        }
        if self.levels == 0 {
            return Err(Invalid::new("levels", "must be at least 1"));
        }
        if self.imbalance_threshold <= Decimal::ZERO || self.imbalance_threshold > Decimal::ONE {
            return Err(Invalid::new(
                "imbalance_threshold",
                format!("must be in (0, 1] (got {})", self.imbalance_threshold),
            ));
        }
        if self.vol_window_ms == 0 {
            return Err(Invalid::new("vol_window_ms", "must be > 0"));
        }
        require_non_negative("min_vol_bps", self.min_vol_bps)?;
        require_positive("size", self.size)?;
        require_positive("max_position", self.max_position)?;
        if self.max_signals_per_hour == 0 {
            return Err(Invalid::new("max_signals_per_hour", "must be at least 1"));
        }
        Ok(())
    }
}

const HOUR_NS: i64 = 3_600_000_000_000;
const BPS: i64 = 10_000;

/// A mid sample: engine time (ns) and twice the mid in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    ts: i64,
    mid_x2: i64,
}

/// Sliding-window high and low of the mid (monotonic queues).
#[derive(Debug, Default)]
struct MidRange {
    /// Decreasing mids: the front is the window's high.
    highs: VecDeque<Sample>,
    /// Increasing mids: the front is the window's low.
    lows: VecDeque<Sample>,
}

impl MidRange {
    fn with_capacity(n: usize) -> Self {
        MidRange {
            highs: VecDeque::with_capacity(n),
            lows: VecDeque::with_capacity(n),
        }
    }

    fn clear(&mut self) {
        self.highs.clear();
        self.lows.clear();
    }

    /// Add a sample and drop the ones older than `window_ns`; returns (high, low) x2 ticks.
    fn push(&mut self, s: Sample, window_ns: i64) -> (i64, i64) {
        while self.highs.back().is_some_and(|b| b.mid_x2 <= s.mid_x2) {
            self.highs.pop_back();
        }
        self.highs.push_back(s);
        while self.lows.back().is_some_and(|b| b.mid_x2 >= s.mid_x2) {
            self.lows.pop_back();
        }
        self.lows.push_back(s);
        let oldest = s.ts.saturating_sub(window_ns);
        // The newest sample is never dropped: both queues end with it.
        while self.highs.front().is_some_and(|f| f.ts < oldest) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|f| f.ts < oldest) {
            self.lows.pop_front();
        }
        let hi = self.highs.front().map_or(s.mid_x2, |f| f.mid_x2);
        let lo = self.lows.front().map_or(s.mid_x2, |f| f.mid_x2);
        (hi, lo)
    }
}

/// `Decimal::from(lhs) < d * Decimal::from(rhs)`, in integers: `Some` when every value and
/// the product fit `Decimal`'s 96-bit mantissa (then `Decimal` computes it exactly, with
/// `d`'s scale, and the integer comparison is the same one); `None` otherwise (the caller
/// asks `Decimal`). Per book update this replaces a `Decimal` multiply and compare.
fn lt_scaled(lhs: i128, d: Decimal, rhs: i128) -> Option<bool> {
    const LIMIT: i128 = 1 << 96;
    if lhs.abs() >= LIMIT || rhs.abs() >= LIMIT {
        return None;
    }
    let prod = d.mantissa().checked_mul(rhs)?;
    if prod.abs() >= LIMIT {
        return None;
    }
    let lhs = lhs.checked_mul(10i128.checked_pow(d.scale())?)?;
    Some(lhs < prod)
}

/// Strategy 2. See the module docs.
#[derive(Debug)]
pub struct ImbalanceTaker {
    inst: InstrumentId,
    symbol: String,
    lot_size: Decimal,
    size: Qty,
    min_qty: Qty,
    levels: usize,
    threshold: Decimal,
    window_ns: i64,
    min_vol_bps: Decimal,
    slippage: i64,
    max_position: Decimal,
    min_interval_ns: i64,
    max_per_hour: usize,
    range: MidRange,
    /// Engine times (ns) of the signals of the last hour, oldest first.
    signals: VecDeque<i64>,
    /// Engine time (ns) of the last signal (kept even when older than an hour).
    last_at: Option<i64>,
    signal: String,
}

impl ImbalanceTaker {
    /// Builds the strategy for the instrument named in `params` (validated first).
    pub fn new(params: &ImbalanceParams, instruments: &[Instrument]) -> Result<Self, Invalid> {
        params.validate()?;
        let inst = find_instrument(instruments, &params.symbol)?;
        let size = order_lots(inst, params.size, "size")?;
        let max_per_hour = usize::try_from(params.max_signals_per_hour).unwrap_or(usize::MAX);
        Ok(ImbalanceTaker {
            inst: inst.id,
            symbol: inst.symbol.clone(),
            lot_size: inst.lot_size,
            size,
            min_qty: min_lots(inst),
            levels: usize::try_from(params.levels).unwrap_or(usize::MAX),
            threshold: params.imbalance_threshold,
            window_ns: ms_to_nanos(params.vol_window_ms),
            min_vol_bps: params.min_vol_bps,
            slippage: i64::from(params.max_slippage_ticks),
            max_position: params.max_position,
            min_interval_ns: ms_to_nanos(params.min_interval_ms),
            max_per_hour,
            range: MidRange::with_capacity(1024),
            signals: VecDeque::with_capacity(max_per_hour.min(4096)),
            last_at: None,
            signal: String::with_capacity(48),
        })
    }

    /// The symbol traded.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Signals counted in the rolling hour ending at the last call.
    pub fn signals_last_hour(&self) -> usize {
        self.signals.len()
    }

    fn evaluate(&mut self, ctx: &StrategyCtx<'_>, out: &mut Vec<Intent>) {
        let book = ctx.book(self.inst);
        let (Some(bb), Some(ba)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if bb.price >= ba.price {
            return;
        }
        let now = ctx.now.0;
        // Absurd prices whose sum does not fit: bad data, never a signal.
        let Some(mid_x2) = bb.price.0.checked_add(ba.price.0) else {
            return;
        };
        let (hi, lo) = self.range.push(Sample { ts: now, mid_x2 }, self.window_ns);

        if ctx.trading_state != TradingState::Active {
            return;
        }
        if self
            .last_at
            .is_some_and(|t| now.saturating_sub(t) < self.min_interval_ns)
        {
            return;
        }

        // Volatility first: it needs no walk of the book, and when it fails nothing else
        // matters (every check below only returns). Decided in integers when they give
        // `Decimal`'s own answer exactly; otherwise at its place below, as before.
        let range_x2 = i128::from(hi - lo);
        let vol_ok = lt_scaled(
            range_x2 * i128::from(BPS),
            self.min_vol_bps,
            i128::from(mid_x2),
        )
        .map(|low| !low);
        if vol_ok == Some(false) {
            return;
        }

        // Imbalance: |B - A| >= threshold * (B + A), without dividing.
        let bids: i128 = book
            .top(Side::Buy, self.levels)
            .map(|l| i128::from(l.qty.0))
            .sum();
        let asks: i128 = book
            .top(Side::Sell, self.levels)
            .map(|l| i128::from(l.qty.0))
            .sum();
        let total = bids + asks;
        let diff = bids - asks;
        if total <= 0 || diff == 0 {
            return;
        }
        let weak = lt_scaled(diff.abs(), self.threshold, total)
            .unwrap_or_else(|| Decimal::from(diff.abs()) < self.threshold * Decimal::from(total));
        if weak {
            return;
        }
        // Volatility: (hi - lo) / mid * 10000 >= min_vol_bps (both in x2 ticks).
        if vol_ok.is_none()
            && Decimal::from(range_x2 * i128::from(BPS)) < self.min_vol_bps * Decimal::from(mid_x2)
        {
            return;
        }

        // Hourly cap (rolling): forget signals an hour old or more.
        let hour_ago = now.saturating_sub(HOUR_NS);
        while self.signals.front().is_some_and(|&t| t <= hour_ago) {
            self.signals.pop_front();
        }
        if self.signals.len() >= self.max_per_hour {
            return;
        }

        let side = if diff > 0 { Side::Buy } else { Side::Sell };
        // Room under max_position, with this strategy's open orders on that side counted
        // as filled.
        let open: i64 = ctx
            .own_orders(self.inst)
            .filter(|o| o.req.spec.side == side)
            .map(|o| o.remaining().0)
            .sum();
        let exposure = ctx.position(self.inst).qty * Decimal::from(side.sign())
            + Decimal::from(open) * self.lot_size;
        let room = self.max_position - exposure;
        if room <= Decimal::ZERO {
            return;
        }
        let room_lots = i64::try_from((room / self.lot_size).trunc()).unwrap_or(i64::MAX);
        let qty = Qty(self.size.0.min(room_lots));
        if qty < self.min_qty {
            return;
        }
        let price = match side {
            Side::Buy => ba.price.offset(self.slippage),
            Side::Sell => bb.price.offset(-self.slippage),
        };
        if price.0 <= 0 {
            return;
        }
        out.push(Intent::Place(OrderIntent {
            spec: OrderSpec {
                instrument: self.inst,
                side,
                kind: OrderKind::Limit,
                price: Some(price),
                qty,
                tif: TimeInForce::Ioc,
                reduce_only: false,
            },
            tag: OrderTag::Strategy,
            risk: None,
        }));
        self.signals.push_back(now);
        self.last_at = Some(now);

        let imb = (Decimal::from(diff) / Decimal::from(total))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        let vol = (Decimal::from(range_x2 * i128::from(BPS)) / Decimal::from(mid_x2))
            .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
        self.signal.clear();
        let _ = write!(self.signal, "{} imb {:+.2} vol {:.1}bps", side, imb, vol);
    }
}

impl Strategy for ImbalanceTaker {
    fn name(&self) -> &str {
        NAME
    }

    fn instrument(&self) -> Option<InstrumentId> {
        Some(self.inst)
    }

    fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
        if inst == self.inst {
            self.evaluate(ctx, out);
        }
    }

    /// Forgets the mid samples (they have a gap while switched off). The signal history
    /// stays: switching off and on does not reset the interval or the hourly cap.
    fn on_disable(&mut self) {
        self.range.clear();
    }

    /// The signals of the last hour and the last signal's time: new parameters do not
    /// reset `max_signals_per_hour` or `min_interval_ms`.
    fn hand_over(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        Some(Box::new((std::mem::take(&mut self.signals), self.last_at)))
    }

    fn take_over(&mut self, state: Box<dyn std::any::Any + Send>) {
        if let Ok(kept) = state.downcast::<(VecDeque<i64>, Option<i64>)>() {
            (self.signals, self.last_at) = *kept;
        }
    }

    fn last_signal(&self) -> Option<&str> {
        if self.signal.is_empty() {
            None
        } else {
            Some(&self.signal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Price;
    use crate::strategy::test_util::{World, btc, placed};
    use rust_decimal_macros::dec;

    fn params() -> ImbalanceParams {
        ImbalanceParams {
            enabled: true,
            symbol: "BTC-USD".into(),
            levels: 2,
            imbalance_threshold: dec!(0.6),
            vol_window_ms: 1_000,
            min_vol_bps: dec!(2),
            size: dec!(0.002),
            max_slippage_ticks: 3,
            max_position: dec!(0.005),
            min_interval_ms: 500,
            max_signals_per_hour: 3,
        }
    }

    fn taker(p: &ImbalanceParams) -> ImbalanceTaker {
        ImbalanceTaker::new(p, &[btc(0)]).unwrap()
    }

    fn run(s: &mut ImbalanceTaker, w: &World, now_ms: i64) -> Vec<Intent> {
        let mut out = Vec::new();
        s.on_book(&w.ctx(now_ms, 1), InstrumentId(0), &mut out);
        out
    }

    /// Balanced book around `mid_ticks` (bid = mid - 5, ask = mid + 5).
    fn calm(w: &mut World, mid: i64) {
        w.book(
            0,
            &[(mid - 5, 10), (mid - 6, 10)],
            &[(mid + 5, 10), (mid + 6, 10)],
        );
    }

    /// Bids heavy: (80 - 10) / (80 + 10) = +0.78 over two levels (the third is ignored).
    fn bid_heavy(w: &mut World, mid: i64) {
        w.book(
            0,
            &[(mid - 5, 40), (mid - 6, 40), (mid - 7, 1_000)],
            &[(mid + 5, 5), (mid + 6, 5), (mid + 7, 1_000)],
        );
    }

    /// A world whose mid moved 60000.0 -> 60030.0 (5 bps) within the window.
    fn volatile(s: &mut ImbalanceTaker) -> World {
        let mut w = World::new(vec![btc(0)]);
        calm(&mut w, 600_000);
        assert!(run(s, &w, 10_000).is_empty());
        calm(&mut w, 600_300);
        assert!(run(s, &w, 10_200).is_empty(), "balanced book: no signal");
        w
    }

    #[test]
    fn buys_on_strong_bid_imbalance_with_enough_vol() {
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        bid_heavy(&mut w, 600_300);
        let out = run(&mut s, &w, 10_400);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        let o = &p[0];
        assert_eq!(o.spec.side, Side::Buy);
        assert_eq!(o.spec.kind, OrderKind::Limit);
        assert_eq!(o.spec.tif, TimeInForce::Ioc);
        assert_eq!(o.spec.price, Some(Price(600_305 + 3)));
        assert_eq!(o.spec.qty, Qty(2));
        assert!(!o.spec.reduce_only);
        // Range 30.0 over mid 60030.0 = 4.9975 bps.
        assert_eq!(s.last_signal(), Some("BUY imb +0.78 vol 5.0bps"));
    }

    #[test]
    fn sells_on_strong_ask_imbalance() {
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        let m = 600_300;
        w.book(0, &[(m - 5, 1), (m - 6, 1)], &[(m + 5, 30), (m + 6, 30)]);
        let p = placed(&run(&mut s, &w, 10_400));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].spec.side, Side::Sell);
        assert_eq!(p[0].spec.price, Some(Price(m - 5 - 3)));
        assert_eq!(s.last_signal(), Some("SELL imb -0.94 vol 5.0bps"));
    }

    #[test]
    fn nothing_without_enough_vol_or_imbalance() {
        // Flat mid: no vol.
        let mut s = taker(&params());
        let mut w = World::new(vec![btc(0)]);
        calm(&mut w, 600_000);
        run(&mut s, &w, 10_000);
        bid_heavy(&mut w, 600_000);
        assert!(run(&mut s, &w, 10_100).is_empty());
        // The move fell out of the window: no vol either.
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        calm(&mut w, 600_300);
        run(&mut s, &w, 11_300);
        bid_heavy(&mut w, 600_300);
        assert!(run(&mut s, &w, 11_400).is_empty());
        // Vol but a weak imbalance (0.5 < 0.6).
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        let m = 600_300;
        w.book(0, &[(m - 5, 30), (m - 6, 30)], &[(m + 5, 10), (m + 6, 10)]);
        assert!(run(&mut s, &w, 10_400).is_empty());
        assert_eq!(s.last_signal(), None);
    }

    #[test]
    fn respects_min_interval_and_hourly_cap() {
        let mut s = taker(&ImbalanceParams {
            max_position: dec!(1),
            ..params()
        });
        let mut w = World::new(vec![btc(0)]);
        let mut mid = 600_000;
        let mut fired = Vec::new();
        // Every 100 ms the mid jumps 30.0 and the book is bid heavy.
        for step in 0..40 {
            let t = 10_000 + step * 100;
            mid += if step % 2 == 0 { 300 } else { -300 };
            bid_heavy(&mut w, mid);
            if !placed(&run(&mut s, &w, t)).is_empty() {
                fired.push(t);
            }
        }
        // 500 ms apart, and only 3 in the hour.
        assert_eq!(fired, vec![10_100, 10_600, 11_100], "{fired:?}");
        assert_eq!(s.signals_last_hour(), 3);
        // Just before the first signal is an hour old: still capped.
        let t0 = 10_100 + 3_600_000;
        calm(&mut w, mid);
        run(&mut s, &w, t0 - 20);
        bid_heavy(&mut w, mid + 300);
        assert!(run(&mut s, &w, t0 - 10).is_empty(), "cap reached");
        // An hour after the first signal, one slot opens.
        bid_heavy(&mut w, mid);
        assert_eq!(placed(&run(&mut s, &w, t0)).len(), 1);
    }

    #[test]
    fn respects_max_position() {
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        bid_heavy(&mut w, 600_300);
        // Long 0.004 of 0.005: the order is cut to 0.001.
        w.position(0, dec!(0.004), dec!(60000));
        let p = placed(&run(&mut s, &w, 10_400));
        assert_eq!(p[0].spec.qty, Qty(1));
        // Its IOC is still open: counted as filled, so nothing more fits.
        let ioc = w.apply(1, &[Intent::Place(p[0].clone())], 10_400);
        assert!(run(&mut s, &w, 11_000).is_empty());
        // At max: nothing, and the interval/cap are not used up.
        w.close(&ioc[0]);
        w.position(0, dec!(0.005), dec!(60000));
        assert!(run(&mut s, &w, 11_000).is_empty());
        // Short side still allowed when the book flips.
        let m = 600_300;
        w.book(0, &[(m - 5, 1), (m - 6, 1)], &[(m + 5, 30), (m + 6, 30)]);
        let p = placed(&run(&mut s, &w, 11_000));
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].spec.side, p[0].spec.qty), (Side::Sell, Qty(2)));
    }

    #[test]
    fn nothing_when_not_active() {
        let mut s = taker(&params());
        let mut w = volatile(&mut s);
        bid_heavy(&mut w, 600_300);
        w.state = TradingState::Paused;
        assert!(run(&mut s, &w, 10_400).is_empty());
        assert_eq!(s.signals_last_hour(), 0);
        w.state = TradingState::Active;
        assert_eq!(placed(&run(&mut s, &w, 10_500)).len(), 1);
    }

    #[test]
    fn refuses_nonsense() {
        for (p, key) in [
            (
                ImbalanceParams {
                    levels: 0,
                    ..params()
                },
                "levels",
            ),
            (
                ImbalanceParams {
                    imbalance_threshold: dec!(1.5),
                    ..params()
                },
                "imbalance_threshold",
            ),
            (
                ImbalanceParams {
                    imbalance_threshold: dec!(0),
                    ..params()
                },
                "imbalance_threshold",
            ),
            (
                ImbalanceParams {
                    vol_window_ms: 0,
                    ..params()
                },
                "vol_window_ms",
            ),
            (
                ImbalanceParams {
                    min_vol_bps: dec!(-1),
                    ..params()
                },
                "min_vol_bps",
            ),
            (
                ImbalanceParams {
                    max_position: dec!(0),
                    ..params()
                },
                "max_position",
            ),
            (
                ImbalanceParams {
                    max_signals_per_hour: 0,
                    ..params()
                },
                "max_signals_per_hour",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().key, key);
        }
        assert_eq!(ImbalanceParams::default().validate(), Ok(()));
    }

    #[test]
    fn mid_range_is_the_window_high_low() {
        let mut r = MidRange::default();
        let w = 100;
        assert_eq!(r.push(Sample { ts: 0, mid_x2: 10 }, w), (10, 10));
        assert_eq!(r.push(Sample { ts: 10, mid_x2: 14 }, w), (14, 10));
        assert_eq!(r.push(Sample { ts: 20, mid_x2: 8 }, w), (14, 8));
        assert_eq!(
            r.push(
                Sample {
                    ts: 105,
                    mid_x2: 12
                },
                w
            ),
            (14, 8)
        );
        assert_eq!(
            r.push(
                Sample {
                    ts: 115,
                    mid_x2: 12
                },
                w
            ),
            (12, 8)
        );
        assert_eq!(
            r.push(
                Sample {
                    ts: 125,
                    mid_x2: 12
                },
                w
            ),
            (12, 12)
        );
        assert!(r.highs.len() <= 2 && r.lows.len() <= 2);
    }

    proptest::proptest! {
        /// The integer comparison is `Decimal`'s whenever it answers (and it answers for
        /// every size a book holds): the signals cannot move.
        #[test]
        fn integer_thresholds_are_decimals(
            lhs in -(1i128 << 100)..(1i128 << 100),
            rhs in -(1i128 << 70)..(1i128 << 70),
            small in -1_000_000_000i128..1_000_000_000,
            mant in 0i64..i64::MAX,
            scale in 0u32..=28,
        ) {
            let d = Decimal::new(mant, scale);
            for (l, r) in [(lhs, rhs), (small, rhs), (small, small / 7 + 1), (lhs, small)] {
                if let Some(got) = lt_scaled(l, d, r) {
                    proptest::prop_assert_eq!(got, Decimal::from(l) < d * Decimal::from(r));
                }
            }
            let (l, r) = (small.abs(), small.abs() / 3 + 5);
            proptest::prop_assert!(lt_scaled(l, Decimal::new(6, 1), r).is_some());
            proptest::prop_assert!(lt_scaled(l * 10_000, Decimal::new(mant % 100_000, 2), r).is_some());
        }
    }
}
