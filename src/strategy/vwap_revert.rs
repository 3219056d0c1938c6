//! Strategy 4: VWAP mean reversion.
//!
//! * **Session VWAP**: the volume-weighted average price of the market's trade prints since
//!   the session began (`session_start`, a UTC time of day; a session lasts a day). It
//!   starts again at every session start.
//! * **ATR**: the average true range of `bar_secs` bars of the mid over the last
//!   `atr_bars` complete bars (a bar with no book update is no bar). It is not reset at
//!   the session start: it measures the market's movement, not the session's.
//!
//! When the mid is more than `entry_atr × ATR` away from the VWAP, and the strategy holds
//! nothing and has nothing working, it enters toward the VWAP for `size`: below it buys,
//! above it sells. `entry = "limit"` joins the best bid (buy) or the best ask (sell) with a
//! resting order, cancelled after `entry_timeout_ms` if still working; `entry = "market"`
//! takes the book with a market IOC. New entries need the account `Active`, and wait
//! `cooldown_secs` after the last position went flat.
//!
//! With `risk_units` > 0 the entry is sized from capital instead (`[sizing]`, see
//! `sizing.rs`): the stop distance is `sizing.stop_atr × ATR + sizing.stop_spread ×
//! spread` at the entry, the engine buys `risk_units` of risk over that distance, and the
//! stop is placed that same distance from the fill (so the loss at the stop is about the
//! budget, before slippage and fees); `size` and `stop_atr` are then not used.
//!
//! It exits (reduce-only market IOC for its own size; see `holding.rs`: never twice) on:
//!
//! 1. **stop**: the exit price (best bid for a long, best ask for a short) at or beyond
//!    `entry ∓ stop_atr × ATR` (ATR as it was when the entry was sent; 0 disables);
//! 2. **session end**: a new session began while it holds a position;
//! 3. **target**: the exit price reaches the current VWAP;
//! 4. **time**: held for `max_hold_secs` (0 disables).
//!
//! **What it assumes about the market**: prices oscillate around the session's VWAP
//! (a ranging market) and a stretch of several ATRs is noise that reverts, not news that
//! trends; the trade prints are the market's own (the VWAP weights them by size); a
//! limit entry at the touch gets filled before the move reverts. In a trend it loses:
//! the stop and the time exit bound each loss, the cooldown spaces the attempts.
//!
//! All arithmetic is on integer ticks and lots, `Decimal` for ratios; time is the engine's.

use super::holding::Holding;
use super::sizing::RiskSize;
use super::{
    Intent, Strategy, StrategyCtx, find_instrument, ms_to_nanos, order_lots, require_non_negative,
    require_positive,
};
use crate::domain::{
    Fill, Instrument, InstrumentId, Invalid, Order, OrderKind, OrderSpec, OrderTag, Price, Qty,
    Side, TimeInForce, TimeOfDay, TradeTick, TradingState,
};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// The strategy's name in the console, the store and the audit.
pub const NAME: &str = "vwap-revert";

/// How an entry is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryOrder {
    /// A resting limit order at the touch on our side (best bid to buy, best ask to sell).
    Limit,
    /// A market IOC.
    Market,
}

/// `[strategies.vwap_revert]` in config.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VwapParams {
    /// Switched on at start-up (key 4 toggles it in the console). Default: false.
    pub enabled: bool,
    /// Symbol of the instrument to trade. Default: "BTC-USD".
    pub symbol: String,
    /// Size of each entry in base units, floored to the lot size. Default: 0.001.
    pub size: Decimal,
    /// When the session (and its VWAP) starts, a UTC time of day "HH:MM". Default: "00:00".
    pub session_start: TimeOfDay,
    /// Length of one ATR bar, seconds. Must be > 0. Default: 60.
    pub bar_secs: u64,
    /// Complete bars averaged for the ATR. At least 1. Default: 14.
    pub atr_bars: u32,
    /// Enter when the mid is more than this many ATRs from the VWAP. Must be > 0.
    /// Default: 2.
    pub entry_atr: Decimal,
    /// "limit" (join the touch) or "market" (market IOC). Default: "limit".
    pub entry: EntryOrder,
    /// A limit entry still working after this many milliseconds is cancelled. Must be
    /// > 0. Default: 5000.
    pub entry_timeout_ms: u64,
    /// Stop distance from the entry price, in ATRs. 0 disables. Default: 1.5.
    pub stop_atr: Decimal,
    /// Close a position held this many seconds. 0 disables. Default: 900.
    pub max_hold_secs: u64,
    /// No new entry for this many seconds after a position went flat. Default: 60.
    pub cooldown_secs: u64,
    /// Size entries in risk units of `[sizing]` (stop `sizing.stop_atr × ATR +
    /// sizing.stop_spread × spread` from the entry) instead of `size`. Must be >= 0;
    /// 0 uses `size` and `stop_atr`. Default: 0.
    pub risk_units: Decimal,
}

impl Default for VwapParams {
    fn default() -> Self {
        VwapParams {
            enabled: false,
            symbol: "BTC-USD".to_string(),
            size: Decimal::new(1, 3),
            session_start: TimeOfDay::MIDNIGHT,
            bar_secs: 60,
            atr_bars: 14,
            entry_atr: Decimal::from(2),
            entry: EntryOrder::Limit,
            entry_timeout_ms: 5_000,
            stop_atr: Decimal::new(15, 1),
            max_hold_secs: 900,
            cooldown_secs: 60,
            risk_units: Decimal::ZERO,
        }
    }
}

impl VwapParams {
    /// Checks the values that need no instrument; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.symbol.trim().is_empty() {
            return Err(Invalid::new("symbol", "must not be empty"));
        }
        require_positive("size", self.size)?;
        if self.bar_secs == 0 {
            return Err(Invalid::new("bar_secs", "must be > 0"));
        }
        if self.atr_bars == 0 {
            return Err(Invalid::new("atr_bars", "must be at least 1"));
        }
        require_positive("entry_atr", self.entry_atr)?;
        if self.entry_timeout_ms == 0 {
            return Err(Invalid::new("entry_timeout_ms", "must be > 0"));
        }
        require_non_negative("stop_atr", self.stop_atr)?;
        require_non_negative("risk_units", self.risk_units)?;
        Ok(())
    }
}

const SEC_NS: i64 = 1_000_000_000;

fn secs_to_nanos(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(SEC_NS)
}

/// The bar being built, in twice-the-mid ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bar {
    idx: i64,
    high: i64,
    low: i64,
    close: i64,
}

/// Average true range over the last `n` complete bars of the mid (x2 ticks).
#[derive(Clone, Debug, Default)]
pub(super) struct Atr {
    bar_ns: i64,
    n: usize,
    bar: Option<Bar>,
    prev_close: Option<i64>,
    ranges: VecDeque<i64>,
    sum: i64,
}

impl Atr {
    pub(super) fn new(bar_ns: i64, n: usize) -> Self {
        Atr {
            bar_ns: bar_ns.max(1),
            n: n.max(1),
            ranges: VecDeque::with_capacity(n.min(4096)),
            ..Atr::default()
        }
    }

    /// Add a mid sample (x2 ticks) at engine time `now` (ns).
    pub(super) fn sample(&mut self, now: i64, mid_x2: i64) {
        let idx = now.div_euclid(self.bar_ns);
        match &mut self.bar {
            Some(b) if b.idx == idx => {
                b.high = b.high.max(mid_x2);
                b.low = b.low.min(mid_x2);
                b.close = mid_x2;
            }
            _ => {
                if let Some(done) = self.bar.take() {
                    self.complete(done);
                }
                self.bar = Some(Bar {
                    idx,
                    high: mid_x2,
                    low: mid_x2,
                    close: mid_x2,
                });
            }
        }
    }

    fn complete(&mut self, b: Bar) {
        let (hi, lo) = match self.prev_close {
            Some(c) => (b.high.max(c), b.low.min(c)),
            None => (b.high, b.low),
        };
        let tr = hi - lo;
        self.ranges.push_back(tr);
        self.sum += tr;
        while self.ranges.len() > self.n {
            self.sum -= self.ranges.pop_front().unwrap_or(0);
        }
        self.prev_close = Some(b.close);
    }

    /// The ATR in x2 ticks, once `n` bars are complete.
    pub(super) fn value_x2(&self) -> Option<Decimal> {
        (self.ranges.len() >= self.n).then(|| Decimal::from(self.sum) / Decimal::from(self.n))
    }
}

/// Strategy 4. See the module docs.
#[derive(Debug)]
pub struct VwapReversion {
    inst: InstrumentId,
    size: Qty,
    session_start: TimeOfDay,
    k: Decimal,
    entry: EntryOrder,
    entry_timeout_ns: i64,
    stop_atr: Decimal,
    max_hold_ns: i64,
    cooldown_ns: i64,
    risk_units: Decimal,
    /// The session the VWAP sums belong to (a day number from `session_start`).
    session: Option<i64>,
    /// Sum of price x size over the session's trades (ticks x lots), and of sizes (lots).
    vwap_num: i128,
    vwap_den: i128,
    atr: Atr,
    hold: Holding,
    /// ATR (x2 ticks) when the latest entry was sent; the stop is placed from it.
    atr_at_entry: Decimal,
    /// A risk-sized entry's stop distance in ticks (`None`: the stop is `stop_atr` ATRs).
    risk_stop_ticks: Option<Decimal>,
    stop: Option<Price>,
    /// A session ended on a trade print; the exit waits for the next book update.
    session_ended: bool,
    signal: String,
}

impl VwapReversion {
    /// Builds the strategy for the instrument named in `params` (validated first).
    pub fn new(params: &VwapParams, instruments: &[Instrument]) -> Result<Self, Invalid> {
        params.validate()?;
        let inst = find_instrument(instruments, &params.symbol)?;
        Ok(VwapReversion {
            inst: inst.id,
            size: order_lots(inst, params.size, "size")?,
            session_start: params.session_start,
            k: params.entry_atr,
            entry: params.entry,
            entry_timeout_ns: ms_to_nanos(params.entry_timeout_ms),
            stop_atr: params.stop_atr,
            max_hold_ns: secs_to_nanos(params.max_hold_secs),
            cooldown_ns: secs_to_nanos(params.cooldown_secs),
            risk_units: params.risk_units,
            session: None,
            vwap_num: 0,
            vwap_den: 0,
            atr: Atr::new(
                secs_to_nanos(params.bar_secs),
                usize::try_from(params.atr_bars).unwrap_or(usize::MAX),
            ),
            hold: Holding::default(),
            atr_at_entry: Decimal::ZERO,
            risk_stop_ticks: None,
            stop: None,
            session_ended: false,
            signal: String::with_capacity(64),
        })
    }

    /// The session VWAP in ticks, once the session has traded.
    pub fn vwap_ticks(&self) -> Option<Decimal> {
        if self.vwap_den <= 0 {
            return None;
        }
        // Sums beyond what a decimal holds (absurd prints): no VWAP, never a panic.
        let num = Decimal::try_from_i128_with_scale(self.vwap_num, 0).ok()?;
        let den = Decimal::try_from_i128_with_scale(self.vwap_den, 0).ok()?;
        num.checked_div(den)
    }

    /// Start a new session when `now` is past the current one; true when one ended.
    fn roll_session(&mut self, now: i64) -> bool {
        let day = self
            .session_start
            .day_of(crate::domain::Timestamp::from_nanos(now));
        match self.session {
            Some(d) if d == day => false,
            prev => {
                self.session = Some(day);
                self.vwap_num = 0;
                self.vwap_den = 0;
                prev.is_some()
            }
        }
    }

    fn manage(&mut self, ctx: &StrategyCtx<'_>, session_ended: bool, out: &mut Vec<Intent>) {
        let book = ctx.book(self.inst);
        let (Some(bb), Some(ba)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if bb.price >= ba.price {
            return;
        }
        let now = ctx.now.0;
        let inst = ctx.instrument(self.inst);
        let vwap = self.vwap_ticks();
        if self.hold.lots != 0 && self.hold.closable(ctx, self.inst, now) > 0 {
            if ctx.trading_state == TradingState::Halted {
                return;
            }
            let long = self.hold.lots > 0;
            let mark = if long { bb.price } else { ba.price };
            let at_or_beyond = |p: Price| if long { mark <= p } else { mark >= p };
            let reached = |v: Decimal| {
                let m = Decimal::from(mark.0);
                if long { m >= v } else { m <= v }
            };
            let held = now.saturating_sub(self.hold.entry_at);
            let why = if self.stop.is_some_and(at_or_beyond) {
                Some((OrderTag::StopLoss, "STOP"))
            } else if session_ended {
                Some((OrderTag::Strategy, "SESSION END"))
            } else if vwap.is_some_and(reached) {
                Some((OrderTag::TakeProfit, "AT VWAP"))
            } else if self.max_hold_ns > 0 && held >= self.max_hold_ns {
                Some((OrderTag::Strategy, "TIME"))
            } else {
                None
            };
            if let Some((tag, word)) = why
                && self.hold.exit(ctx, inst, tag, out)
            {
                self.signal.clear();
                let _ = write!(self.signal, "{word} exit at {}", inst.fmt_price(mark));
            }
            return;
        }
        if self.hold.busy(ctx, self.inst) {
            // A limit entry left working too long is cancelled.
            for o in ctx.own_orders(self.inst) {
                if !o.req.spec.reduce_only
                    && !o.cancel_pending
                    && o.req.spec.kind == OrderKind::Limit
                    && now.saturating_sub(o.created.0) >= self.entry_timeout_ns
                {
                    out.push(Intent::Cancel(o.id().clone()));
                }
            }
            return;
        }
        if ctx.trading_state != TradingState::Active {
            return;
        }
        if self
            .hold
            .flat_at
            .is_some_and(|t| now.saturating_sub(t) < self.cooldown_ns)
        {
            return;
        }
        let (Some(atr_x2), Some(vwap)) = (self.atr.value_x2(), vwap) else {
            return;
        };
        if atr_x2 <= Decimal::ZERO {
            return;
        }
        let Some(mid_x2) = bb.price.0.checked_add(ba.price.0).map(Decimal::from) else {
            return;
        };
        let dev_x2 = mid_x2 - vwap * Decimal::TWO;
        let band = self.k * atr_x2;
        let side = if dev_x2 < -band {
            Side::Buy
        } else if dev_x2 > band {
            Side::Sell
        } else {
            return;
        };
        // A risk-sized entry: the stop distance `a × ATR + b × spread` (ticks, then price
        // units), and no quantity of its own (the engine sizes it; max_order_qty caps it).
        let risk_stop_ticks = (self.risk_units > Decimal::ZERO).then(|| {
            let spread = Decimal::from(ba.price.0.saturating_sub(bb.price.0));
            ctx.sizing.stop_distance(atr_x2 / Decimal::TWO, spread)
        });
        let risk = match risk_stop_ticks {
            Some(t) if t <= Decimal::ZERO => return,
            Some(t) => Some(RiskSize {
                units: self.risk_units,
                stop_distance: t.checked_mul(inst.tick_size).unwrap_or_default(),
            }),
            None => None,
        };
        let qty = if risk.is_some() { Qty(0) } else { self.size };
        let spec = match self.entry {
            EntryOrder::Limit => OrderSpec {
                instrument: self.inst,
                side,
                kind: OrderKind::Limit,
                price: Some(if side == Side::Buy {
                    bb.price
                } else {
                    ba.price
                }),
                qty,
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            EntryOrder::Market => OrderSpec {
                instrument: self.inst,
                side,
                kind: OrderKind::Market,
                price: None,
                qty,
                tif: TimeInForce::Ioc,
                reduce_only: false,
            },
        };
        self.hold.enter(spec, risk, now, out);
        self.atr_at_entry = atr_x2;
        self.risk_stop_ticks = risk_stop_ticks;
        let atrs = (dev_x2.abs() / atr_x2).round_dp_with_strategy(1, RoundingStrategy::ToZero);
        self.signal.clear();
        let _ = write!(
            self.signal,
            "{side} {atrs:.1} ATR {} VWAP {:.*}",
            if side == Side::Buy { "below" } else { "above" },
            inst.price_precision as usize,
            vwap * inst.tick_size
        );
    }
}

impl Strategy for VwapReversion {
    fn name(&self) -> &str {
        NAME
    }

    fn instrument(&self) -> Option<InstrumentId> {
        Some(self.inst)
    }

    fn on_trade(
        &mut self,
        ctx: &StrategyCtx<'_>,
        inst: InstrumentId,
        trade: &TradeTick,
        _out: &mut Vec<Intent>,
    ) {
        if inst != self.inst || trade.qty.0 <= 0 || trade.price.0 <= 0 {
            return;
        }
        // The session's end is acted on at the next book update (`on_book`).
        if self.roll_session(ctx.now.0) {
            self.session_ended = true;
        }
        // A print whose notional would not fit is bad data: left out of the VWAP.
        let num = i128::from(trade.price.0)
            .checked_mul(i128::from(trade.qty.0))
            .and_then(|pq| self.vwap_num.checked_add(pq));
        let den = self.vwap_den.checked_add(i128::from(trade.qty.0));
        if let (Some(num), Some(den)) = (num, den) {
            self.vwap_num = num;
            self.vwap_den = den;
        }
    }

    fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
        if inst != self.inst {
            return;
        }
        let book = ctx.book(self.inst);
        if let Some(mid_x2) = book.mid_x2_ticks() {
            self.atr.sample(ctx.now.0, mid_x2);
        }
        let ended = self.roll_session(ctx.now.0) || std::mem::take(&mut self.session_ended);
        self.manage(ctx, ended, out);
    }

    fn on_fill(&mut self, _ctx: &StrategyCtx<'_>, fill: &Fill, _out: &mut Vec<Intent>) {
        if fill.instrument != self.inst {
            return;
        }
        let opened = self.hold.lots == 0;
        self.hold.on_fill(fill);
        if opened && self.hold.lots != 0 {
            let dist = match self.risk_stop_ticks {
                Some(t) => Some(t),
                // Half the x2 figure: the distance in ticks.
                None => (!self.stop_atr.is_zero())
                    .then(|| self.stop_atr * self.atr_at_entry / Decimal::TWO),
            };
            self.stop = dist.map(|dist| {
                // Rounded away from the entry.
                let entry = Decimal::from(fill.price.0);
                // A distance that does not fit puts the stop at the end of the price range.
                if self.hold.lots > 0 {
                    let p = entry.checked_sub(dist).map(|p| p.floor());
                    Price(p.and_then(|p| i64::try_from(p).ok()).unwrap_or(0))
                } else {
                    let p = entry.checked_add(dist).map(|p| p.ceil());
                    Price(p.and_then(|p| i64::try_from(p).ok()).unwrap_or(i64::MAX))
                }
            });
        }
        if self.hold.lots == 0 {
            self.stop = None;
        }
    }

    fn on_order_closed(&mut self, _ctx: &StrategyCtx<'_>, order: &Order, _out: &mut Vec<Intent>) {
        self.hold.on_order_closed(order);
    }

    fn on_disable(&mut self) {
        // The engine cancels its orders; a position stays the account's (the exit manager
        // and the operator see it). Entries start again from a clean slate.
        self.hold.entry_sent_at = None;
        self.hold.exit_sent_at = None;
    }

    fn last_signal(&self) -> Option<&str> {
        (!self.signal.is_empty()).then_some(self.signal.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientOrderId, Timestamp};
    use crate::strategy::test_util::{World, btc, fill, placed};
    use rust_decimal_macros::dec;

    /// 2026-01-01T01:00:00Z, in ms: an hour into the session that began at midnight.
    const T0: i64 = 1_767_229_200_000;

    fn params() -> VwapParams {
        VwapParams {
            enabled: true,
            symbol: "BTC-USD".into(),
            size: dec!(0.001),
            session_start: TimeOfDay::MIDNIGHT,
            bar_secs: 1,
            atr_bars: 2,
            entry_atr: dec!(2),
            entry: EntryOrder::Limit,
            entry_timeout_ms: 500,
            stop_atr: dec!(1),
            max_hold_secs: 10,
            cooldown_secs: 5,
            risk_units: dec!(0),
        }
    }

    /// A book with the mid at `mid` ticks: bid mid-5, ask mid+5.
    fn at(w: &mut World, mid: i64) {
        w.book(0, &[(mid - 5, 10)], &[(mid + 5, 10)]);
    }

    fn book(s: &mut VwapReversion, w: &World, ms: i64) -> Vec<Intent> {
        let mut out = Vec::new();
        s.on_book(&w.ctx(T0 + ms, 3), InstrumentId(0), &mut out);
        out
    }

    fn trade(s: &mut VwapReversion, w: &World, ms: i64, price: i64, qty: i64) {
        let t = TradeTick {
            ts: Timestamp::from_millis(T0 + ms),
            price: Price(price),
            qty: Qty(qty),
            aggressor: Side::Buy,
        };
        s.on_trade(&w.ctx(T0 + ms, 3), InstrumentId(0), &t, &mut Vec::new());
    }

    /// VWAP 60000.0 from two prints (59990 x 1, 60002.5 x 4); two complete 1 s bars of the
    /// mid swinging 600000 <-> 600010 ticks: ATR 10 ticks (20 in x2). Ends at +2000 ms,
    /// mid 600000, nothing sent.
    fn primed(p: &VwapParams) -> (VwapReversion, World) {
        let mut s = VwapReversion::new(p, &[btc(0)]).unwrap();
        let mut w = World::new(vec![btc(0)]);
        trade(&mut s, &w, 0, 599_900, 1);
        trade(&mut s, &w, 0, 600_025, 4);
        assert_eq!(s.vwap_ticks(), Some(dec!(600000)));
        for (ms, mid) in [
            (0, 600_000),
            (500, 600_010),
            (1000, 600_000),
            (1500, 600_010),
        ] {
            at(&mut w, mid);
            assert!(book(&mut s, &w, ms).is_empty(), "{ms}");
        }
        at(&mut w, 600_000);
        assert!(book(&mut s, &w, 2000).is_empty(), "at the VWAP: nothing");
        assert_eq!(s.atr.value_x2(), Some(dec!(20)));
        (s, w)
    }

    /// Enter long: the mid 3 ATRs below the VWAP; the limit buy joins the best bid. The
    /// order is then open in the world.
    fn entered_long(s: &mut VwapReversion, w: &mut World) -> ClientOrderId {
        at(w, 599_970);
        let out = book(s, w, 2100);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        let o = &p[0].spec;
        assert_eq!(
            (o.side, o.kind, o.price, o.qty, o.tif, o.reduce_only),
            (
                Side::Buy,
                OrderKind::Limit,
                Some(Price(599_965)),
                Qty(1),
                TimeInForce::Gtc,
                false
            )
        );
        assert_eq!(s.last_signal(), Some("BUY 3.0 ATR below VWAP 60000.0"));
        assert_eq!(p[0].risk, None, "sized by `size`");
        w.apply(3, &out, T0 + 2100).remove(0)
    }

    /// The entry fills at 59996.5: long 0.001; its order closes. Stop: 1 ATR below, 599955.
    fn filled(s: &mut VwapReversion, w: &mut World, cid: &ClientOrderId) {
        let f = fill(cid, Side::Buy, 599_965, 1, T0 + 2200);
        s.on_fill(&w.ctx(T0 + 2200, 3), &f, &mut Vec::new());
        w.position(0, dec!(0.001), dec!(59996.5));
        let o = w.close(cid);
        s.on_order_closed(&w.ctx(T0 + 2200, 3), &o, &mut Vec::new());
        assert_eq!(s.stop, Some(Price(599_955)));
    }

    fn exit_of(out: &[Intent]) -> (Side, OrderKind, Qty, bool, OrderTag) {
        let p = placed(out);
        assert_eq!(p.len(), 1, "{out:?}");
        let o = &p[0];
        (
            o.spec.side,
            o.spec.kind,
            o.spec.qty,
            o.spec.reduce_only,
            o.tag,
        )
    }

    /// Sized from capital: ATR 10 ticks (1.0), spread 10 ticks (bid mid-5, ask mid+5: 1.0);
    /// `[sizing]` a 1.5, b 1: stop distance 1.5 × 10 + 1 × 10 = 25 ticks = 2.5. The entry
    /// asks for 2 risk units over 2.5 and has no quantity of its own; at capital 10000,
    /// equity 0 and risk 0.002 the engine makes that 10000 × 0.002 × 2 / 2.5 = 16 BTC. The
    /// fill at 59996.5 puts the stop the same 25 ticks below: 59994.0, so a stop-out loses
    /// 16 × 2.5 = 40, the two units' budget.
    #[test]
    fn risk_units_size_the_entry_and_put_the_stop_at_the_sizing_distance() {
        let (mut s, mut w) = primed(&VwapParams {
            risk_units: dec!(2),
            stop_atr: dec!(1), // not used when sized by risk
            ..params()
        });
        at(&mut w, 599_970);
        let out = book(&mut s, &w, 2100);
        let p = placed(&out);
        assert_eq!(p.len(), 1, "{out:?}");
        let risk = p[0].risk.expect("a risk-sized entry");
        assert_eq!((risk.units, risk.stop_distance), (dec!(2), dec!(2.5)));
        assert_eq!((p[0].spec.side, p[0].spec.qty), (Side::Buy, Qty(0)));
        assert_eq!(
            w.sizing
                .qty_for_risk(&btc(0), dec!(0), risk.units, risk.stop_distance),
            Qty(16_000)
        );
        let cid = w.apply(3, &out, T0 + 2100).remove(0);
        let f = fill(&cid, Side::Buy, 599_965, 16_000, T0 + 2200);
        s.on_fill(&w.ctx(T0 + 2200, 3), &f, &mut Vec::new());
        w.position(0, dec!(16), dec!(59996.5));
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 2200, 3), &o, &mut Vec::new());
        assert_eq!(s.stop, Some(Price(599_940)));
        // The best bid one tick above the stop: held; at the stop: the whole position out.
        at(&mut w, 599_946);
        assert!(book(&mut s, &w, 2300).is_empty());
        at(&mut w, 599_945);
        let out = book(&mut s, &w, 2400);
        assert_eq!(
            exit_of(&out),
            (
                Side::Sell,
                OrderKind::Market,
                Qty(16_000),
                true,
                OrderTag::StopLoss
            )
        );
    }

    #[test]
    fn enters_toward_vwap_and_exits_at_vwap_once() {
        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        // Working: nothing more while it rests.
        assert!(book(&mut s, &w, 2150).is_empty());
        filled(&mut s, &mut w, &cid);
        // Below the VWAP still: hold.
        at(&mut w, 599_990);
        assert!(book(&mut s, &w, 2300).is_empty());
        // The best bid reaches the VWAP: a reduce-only market sell for the whole position.
        at(&mut w, 600_005);
        let out = book(&mut s, &w, 2400);
        assert_eq!(
            exit_of(&out),
            (
                Side::Sell,
                OrderKind::Market,
                Qty(1),
                true,
                OrderTag::TakeProfit
            )
        );
        assert_eq!(s.last_signal(), Some("AT VWAP exit at 60000.0"));
        // Never twice: not while it is open, nor when it vanished for less than a second.
        let exit = w.apply(3, &out, T0 + 2400).remove(0);
        assert!(book(&mut s, &w, 2500).is_empty());
        w.close(&exit);
        assert!(
            book(&mut s, &w, 2600).is_empty(),
            "sent 200 ms ago, unheard of"
        );
    }

    #[test]
    fn sells_above_vwap_with_a_market_order_when_configured() {
        let (mut s, mut w) = primed(&VwapParams {
            entry: EntryOrder::Market,
            ..params()
        });
        // 2 ATRs exactly is not more than 2: nothing.
        at(&mut w, 600_020);
        assert!(book(&mut s, &w, 2100).is_empty());
        at(&mut w, 600_021);
        let p = placed(&book(&mut s, &w, 2150));
        assert_eq!(p.len(), 1);
        assert_eq!(
            (
                p[0].spec.side,
                p[0].spec.kind,
                p[0].spec.price,
                p[0].spec.tif
            ),
            (Side::Sell, OrderKind::Market, None, TimeInForce::Ioc)
        );
    }

    #[test]
    fn a_limit_entry_left_working_is_cancelled_after_the_timeout() {
        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        assert!(book(&mut s, &w, 2599).is_empty());
        assert_eq!(book(&mut s, &w, 2600), vec![Intent::Cancel(cid.clone())]);
        w.cancel_pending(&cid);
        assert!(
            book(&mut s, &w, 2700).is_empty(),
            "the cancel is on its way"
        );
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 2800, 3), &o, &mut Vec::new());
        // Nothing filled: no cooldown, the signal still stands: a new entry.
        assert_eq!(placed(&book(&mut s, &w, 2900)).len(), 1);
    }

    #[test]
    fn stop_and_time_exits() {
        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        filled(&mut s, &mut w, &cid);
        at(&mut w, 599_961); // best bid 599956: above the stop
        assert!(book(&mut s, &w, 3000).is_empty());
        at(&mut w, 599_960); // best bid 599955: at the stop
        let out = book(&mut s, &w, 3100);
        assert_eq!(exit_of(&out).4, OrderTag::StopLoss);

        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        filled(&mut s, &mut w, &cid);
        at(&mut w, 599_980);
        assert!(book(&mut s, &w, 12_199).is_empty());
        // Held 10 s since the fill at +2200.
        let out = book(&mut s, &w, 12_200);
        assert_eq!(exit_of(&out).4, OrderTag::Strategy);
        assert_eq!(s.last_signal(), Some("TIME exit at 59997.5"));
    }

    #[test]
    fn session_end_exits_and_restarts_the_vwap() {
        let (mut s, mut w) = primed(&VwapParams {
            max_hold_secs: 0,
            ..params()
        });
        let cid = entered_long(&mut s, &mut w);
        filled(&mut s, &mut w, &cid);
        // The next midnight: a print of the new session, then the book.
        let next_day = 23 * 3_600_000;
        trade(&mut s, &w, next_day, 599_000, 2);
        assert_eq!(s.vwap_ticks(), Some(dec!(599000)), "a new session's VWAP");
        at(&mut w, 599_990);
        let out = book(&mut s, &w, next_day + 1);
        assert_eq!(exit_of(&out).4, OrderTag::Strategy);
        assert_eq!(s.last_signal(), Some("SESSION END exit at 59998.5"));
    }

    #[test]
    fn cooldown_after_flat_and_nothing_unless_active() {
        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        filled(&mut s, &mut w, &cid);
        // The exit fills at +2400: flat; 5 s of cooldown.
        let exit = ClientOrderId::new("x");
        let f = fill(&exit, Side::Sell, 600_000, 1, T0 + 2400);
        s.on_fill(&w.ctx(T0 + 2400, 3), &f, &mut Vec::new());
        w.position(0, dec!(0), dec!(0));
        // 6 ticks below (the ATR grew to 25 ticks with the bar of the entry).
        at(&mut w, 599_940);
        assert!(book(&mut s, &w, 7_399).is_empty(), "cooling down");
        w.state = TradingState::Paused;
        assert!(book(&mut s, &w, 7_400).is_empty(), "paused");
        w.state = TradingState::Active;
        assert_eq!(placed(&book(&mut s, &w, 7_400)).len(), 1);
    }

    #[test]
    fn a_position_closed_by_someone_else_is_forgotten() {
        let (mut s, mut w) = primed(&params());
        let cid = entered_long(&mut s, &mut w);
        filled(&mut s, &mut w, &cid);
        // The exit manager (or a person) flattened the account.
        w.position(0, dec!(0), dec!(0));
        at(&mut w, 600_005);
        assert!(book(&mut s, &w, 2400).is_empty(), "no exit for nothing");
        assert_eq!(s.hold.lots, 0);
    }

    #[test]
    fn refuses_nonsense_naming_the_key() {
        for (p, key) in [
            (
                VwapParams {
                    bar_secs: 0,
                    ..params()
                },
                "bar_secs",
            ),
            (
                VwapParams {
                    atr_bars: 0,
                    ..params()
                },
                "atr_bars",
            ),
            (
                VwapParams {
                    entry_atr: dec!(0),
                    ..params()
                },
                "entry_atr",
            ),
            (
                VwapParams {
                    stop_atr: dec!(-1),
                    ..params()
                },
                "stop_atr",
            ),
            (
                VwapParams {
                    entry_timeout_ms: 0,
                    ..params()
                },
                "entry_timeout_ms",
            ),
            (
                VwapParams {
                    size: dec!(0),
                    ..params()
                },
                "size",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().key, key);
        }
        let e = toml::from_str::<VwapParams>("entry = \"stop\"").unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        let e = toml::from_str::<VwapParams>("session_start = \"25:00\"").unwrap_err();
        assert!(e.to_string().contains("HH:MM"), "{e}");
        let p: VwapParams =
            toml::from_str("entry = \"market\"\nsession_start = \"13:30\"").unwrap();
        assert_eq!(
            (p.entry, p.session_start.to_string()),
            (EntryOrder::Market, "13:30".into())
        );
        assert!(!VwapParams::default().enabled);
    }

    #[test]
    fn atr_is_the_mean_true_range_of_complete_bars() {
        let mut a = Atr::new(10, 2);
        a.sample(0, 100);
        a.sample(5, 110);
        assert_eq!(a.value_x2(), None);
        a.sample(10, 90); // bar 0 done: TR 10
        a.sample(15, 95);
        assert_eq!(a.value_x2(), None);
        a.sample(30, 130); // bar 1 done: hi 95, lo 90, prev close 110: TR 20
        assert_eq!(a.value_x2(), Some(dec!(15)));
        a.sample(40, 130); // bar 3 (130) done: prev close 95: TR 35; window 20, 35
        assert_eq!(a.value_x2(), Some(dec!(27.5)));
    }
}
