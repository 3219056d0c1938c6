//! Strategy 5: opening-range breakout.
//!
//! A session begins every day at `session_start` (a UTC time of day). Its **opening
//! range** is the high and the low of the mid over the first `range_minutes`. After that,
//! a mid beyond the range by `breakout_mult × range` (above the high: buy; below the low:
//! sell) enters in the breakout's direction with a market IOC for `size`. One attempt a
//! side per session: a long and a short at most, never two of either. The strategy holds
//! one position at a time.
//!
//! It exits (reduce-only market IOC for its own size; see `holding.rs`: never twice) on:
//!
//! 1. **stop**: the other side of the range (a long's stop is the range low, a short's the
//!    range high), against the exit price (best bid for a long, best ask for a short);
//! 2. **target**: `target_mult × range` from the entry fill (0 disables);
//! 3. **time**: held `max_hold_minutes` (0 disables);
//! 4. **session end**: the next session begins.
//!
//! A session the strategy joins late (its first book update of the session comes more
//! than a tenth of the range window after the start: pit started mid-session, or the
//! strategy was switched on then) has no opening range and no trade: a range from part
//! of the window is not the opening range. A range of zero width is no range either.
//! Entries need the account `Active`.
//!
//! **What it assumes about the market**: the first minutes of a session set the day's
//! reference levels, and a move through them with some room (`breakout_mult`) carries on
//! rather than falling back (momentum); the session start matters to the participants
//! (an exchange open, a daily funding or fixing time: crypto trades round the clock, so
//! choose it). A false breakout costs the range's width at most (plus slippage): the stop
//! is at the other side.

use super::holding::Holding;
use super::sizing::RiskSize;
use super::{Intent, Strategy, StrategyCtx, find_instrument, order_lots, require_non_negative};
use crate::domain::{
    Fill, Instrument, InstrumentId, Invalid, Order, OrderKind, OrderSpec, OrderTag, Price, Qty,
    Side, TimeInForce, TimeOfDay, Timestamp, TradingState,
};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// The strategy's name in the console, the store and the audit.
pub const NAME: &str = "orb-breakout";

/// `[strategies.orb]` in config.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrbParams {
    /// Switched on at start-up (key 5 toggles it in the console). Default: false.
    pub enabled: bool,
    /// Symbol of the instrument to trade. Default: "BTC-USD".
    pub symbol: String,
    /// Size of each entry in base units, floored to the lot size. Default: 0.001.
    pub size: Decimal,
    /// When the session starts, a UTC time of day "HH:MM". Default: "00:00".
    pub session_start: TimeOfDay,
    /// Length of the opening range, minutes after the session start. 1 to 1439.
    /// Default: 15.
    pub range_minutes: u32,
    /// How far beyond the range a breakout must go, as a fraction of the range's width
    /// (0 = any tick beyond). Default: 0.1.
    pub breakout_mult: Decimal,
    /// Take profit this many range widths from the entry fill. 0 disables. Default: 1.
    pub target_mult: Decimal,
    /// Close a position held this many minutes. 0 disables. Default: 240.
    pub max_hold_minutes: u64,
    /// Size entries in risk units of `[sizing]` over the distance from the entry to the
    /// stop (the other side of the range) instead of `size`; the engine turns them into a
    /// quantity (`sizing::qty_for_risk`). Must be >= 0; 0 (the default) keeps `size`.
    pub risk_units: Decimal,
}

impl Default for OrbParams {
    fn default() -> Self {
        OrbParams {
            enabled: false,
            symbol: "BTC-USD".to_string(),
            size: Decimal::new(1, 3),
            session_start: TimeOfDay::MIDNIGHT,
            range_minutes: 15,
            breakout_mult: Decimal::new(1, 1),
            target_mult: Decimal::ONE,
            max_hold_minutes: 240,
            risk_units: Decimal::ZERO,
        }
    }
}

impl OrbParams {
    /// Checks the values that need no instrument; keys are relative to the section.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.symbol.trim().is_empty() {
            return Err(Invalid::new("symbol", "must not be empty"));
        }
        super::require_positive("size", self.size)?;
        if self.range_minutes == 0 || self.range_minutes >= 1440 {
            return Err(Invalid::new(
                "range_minutes",
                format!("must be 1 to 1439 (got {})", self.range_minutes),
            ));
        }
        require_non_negative("breakout_mult", self.breakout_mult)?;
        require_non_negative("target_mult", self.target_mult)?;
        require_non_negative("risk_units", self.risk_units)?;
        Ok(())
    }
}

const MINUTE_NS: i64 = 60_000_000_000;

/// The session being watched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Session {
    day: i64,
    /// When the opening range ends (ns).
    range_end: i64,
    /// Joined too late to know the opening range.
    late: bool,
    /// High and low of the mid in the range window, x2 ticks.
    high: Option<i64>,
    low: Option<i64>,
    traded_long: bool,
    traded_short: bool,
}

/// Strategy 5. See the module docs.
#[derive(Debug)]
pub struct OpeningRangeBreakout {
    inst: InstrumentId,
    size: Qty,
    session_start: TimeOfDay,
    range_ns: i64,
    breakout_mult: Decimal,
    target_mult: Decimal,
    max_hold_ns: i64,
    session: Option<Session>,
    hold: Holding,
    /// Stop and target of the open position, ticks.
    stop: Option<Price>,
    target: Option<Price>,
    /// Range width (ticks) when the entry was sent, for the target.
    range_at_entry: Decimal,
    risk_units: Decimal,
    signal: String,
}

impl OpeningRangeBreakout {
    /// Builds the strategy for the instrument named in `params` (validated first).
    pub fn new(params: &OrbParams, instruments: &[Instrument]) -> Result<Self, Invalid> {
        params.validate()?;
        let inst = find_instrument(instruments, &params.symbol)?;
        Ok(OpeningRangeBreakout {
            inst: inst.id,
            size: order_lots(inst, params.size, "size")?,
            session_start: params.session_start,
            range_ns: i64::from(params.range_minutes) * MINUTE_NS,
            breakout_mult: params.breakout_mult,
            target_mult: params.target_mult,
            max_hold_ns: i64::try_from(params.max_hold_minutes)
                .unwrap_or(i64::MAX)
                .saturating_mul(MINUTE_NS),
            session: None,
            hold: Holding::default(),
            stop: None,
            target: None,
            range_at_entry: Decimal::ZERO,
            risk_units: params.risk_units,
            signal: String::with_capacity(64),
        })
    }

    /// The opening range of the current session as (low, high) prices in ticks (x2
    /// halved, outward), once it is complete.
    pub fn range(&self, now: i64) -> Option<(Price, Price)> {
        let s = self.session?;
        if s.late || now < s.range_end {
            return None;
        }
        let (hi, lo) = (s.high?, s.low?);
        Some((
            Price(lo.div_euclid(2)),
            Price(hi.saturating_add(1).div_euclid(2)),
        ))
    }

    /// Follow the session; true when one ended (a new one began after one we watched).
    fn roll(&mut self, now: i64) -> bool {
        let day = self.session_start.day_of(Timestamp::from_nanos(now));
        if self.session.is_some_and(|s| s.day == day) {
            return false;
        }
        let begin = self.session_start.start_of_day(day).0;
        let ended = self.session.is_some();
        self.session = Some(Session {
            day,
            range_end: begin.saturating_add(self.range_ns),
            late: now.saturating_sub(begin) > self.range_ns / 10,
            ..Session::default()
        });
        ended
    }

    fn manage(&mut self, ctx: &StrategyCtx<'_>, ended: bool, out: &mut Vec<Intent>) {
        let book = ctx.book(self.inst);
        let (Some(bb), Some(ba)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if bb.price >= ba.price {
            return;
        }
        let now = ctx.now.0;
        let inst = ctx.instrument(self.inst);
        if self.hold.lots != 0 && self.hold.closable(ctx, self.inst, now) > 0 {
            if ctx.trading_state == TradingState::Halted {
                return;
            }
            let long = self.hold.lots > 0;
            let mark = if long { bb.price } else { ba.price };
            let adverse = |p: Price| if long { mark <= p } else { mark >= p };
            let favourable = |p: Price| if long { mark >= p } else { mark <= p };
            let held = now.saturating_sub(self.hold.entry_at);
            let why = if self.stop.is_some_and(adverse) {
                Some((OrderTag::StopLoss, "STOP"))
            } else if self.target.is_some_and(favourable) {
                Some((OrderTag::TakeProfit, "TARGET"))
            } else if self.max_hold_ns > 0 && held >= self.max_hold_ns {
                Some((OrderTag::Strategy, "TIME"))
            } else if ended {
                Some((OrderTag::Strategy, "SESSION END"))
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
        if self.hold.busy(ctx, self.inst) || ctx.trading_state != TradingState::Active {
            return;
        }
        let Some(s) = self.session else { return };
        if s.late || now < s.range_end {
            return;
        }
        let (Some(hi), Some(lo)) = (s.high, s.low) else {
            return;
        };
        let width_x2 = hi - lo;
        if width_x2 <= 0 {
            return;
        }
        let Some(mid_x2) = bb.price.0.checked_add(ba.price.0).map(Decimal::from) else {
            return;
        };
        let room = self.breakout_mult * Decimal::from(width_x2);
        let side = if !s.traded_long && mid_x2 > Decimal::from(hi) + room {
            Side::Buy
        } else if !s.traded_short && mid_x2 < Decimal::from(lo) - room {
            Side::Sell
        } else {
            return;
        };
        let (low, high) = (
            Price(lo.div_euclid(2)),
            Price(hi.saturating_add(1).div_euclid(2)),
        );
        // Sized from capital: the risk is the move from here (the mid) to the stop.
        let stop_x2 = 2 * i128::from(if side == Side::Buy { low.0 } else { high.0 });
        let risk = (self.risk_units > Decimal::ZERO).then(|| {
            let ticks_x2 = Decimal::try_from_i128_with_scale(
                (i128::try_from(mid_x2).unwrap_or_default() - stop_x2).abs(),
                0,
            )
            .unwrap_or_default();
            RiskSize {
                units: self.risk_units,
                stop_distance: (ticks_x2 / Decimal::TWO)
                    .checked_mul(inst.tick_size)
                    .unwrap_or_default(),
            }
        });
        self.hold.enter(
            OrderSpec {
                instrument: self.inst,
                side,
                kind: OrderKind::Market,
                price: None,
                // Sized from capital: the engine sets the quantity (a non-zero one here
                // would cap it).
                qty: if risk.is_some() { Qty(0) } else { self.size },
                tif: TimeInForce::Ioc,
                reduce_only: false,
            },
            risk,
            now,
            out,
        );
        if let Some(sess) = self.session.as_mut() {
            match side {
                Side::Buy => sess.traded_long = true,
                Side::Sell => sess.traded_short = true,
            }
        }
        // The stop is the other side of the range.
        self.stop = Some(if side == Side::Buy { low } else { high });
        self.range_at_entry = Decimal::from(width_x2) / Decimal::TWO;
        self.signal.clear();
        let _ = write!(
            self.signal,
            "{side} breakout {} range {}-{}",
            if side == Side::Buy { "above" } else { "below" },
            inst.fmt_price(low),
            inst.fmt_price(high)
        );
    }
}

impl Strategy for OpeningRangeBreakout {
    fn name(&self) -> &str {
        NAME
    }

    fn instrument(&self) -> Option<InstrumentId> {
        Some(self.inst)
    }

    fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
        if inst != self.inst {
            return;
        }
        let now = ctx.now.0;
        let ended = self.roll(now);
        if let (Some(s), Some(mid_x2)) = (self.session.as_mut(), ctx.book(inst).mid_x2_ticks())
            && !s.late
            && now < s.range_end
        {
            s.high = Some(s.high.map_or(mid_x2, |h| h.max(mid_x2)));
            s.low = Some(s.low.map_or(mid_x2, |l| l.min(mid_x2)));
        }
        self.manage(ctx, ended, out);
    }

    fn on_fill(&mut self, _ctx: &StrategyCtx<'_>, fill: &Fill, _out: &mut Vec<Intent>) {
        if fill.instrument != self.inst {
            return;
        }
        let opened = self.hold.lots == 0;
        self.hold.on_fill(fill);
        if opened && self.hold.lots != 0 {
            self.target = (!self.target_mult.is_zero()).then(|| {
                let dist = self.target_mult * self.range_at_entry;
                let entry = Decimal::from(fill.price.0);
                if self.hold.lots > 0 {
                    Price(i64::try_from((entry + dist).ceil()).unwrap_or(i64::MAX))
                } else {
                    Price(i64::try_from((entry - dist).floor()).unwrap_or(0))
                }
            });
        }
        if self.hold.lots == 0 {
            self.stop = None;
            self.target = None;
        }
    }

    fn on_order_closed(&mut self, _ctx: &StrategyCtx<'_>, order: &Order, _out: &mut Vec<Intent>) {
        self.hold.on_order_closed(order);
    }

    /// Switched off: the session is forgotten, so switching on again mid-session waits
    /// for the next one (the range would have a gap).
    fn on_disable(&mut self) {
        self.hold.entry_sent_at = None;
        self.hold.exit_sent_at = None;
        self.session = None;
    }

    fn last_signal(&self) -> Option<&str> {
        (!self.signal.is_empty()).then_some(self.signal.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientOrderId;
    use crate::strategy::test_util::{World, btc, fill, placed};
    use rust_decimal_macros::dec;

    /// 2026-01-01T00:00:00Z in ms: a session start.
    const T0: i64 = 1_767_225_600_000;
    const MIN: i64 = 60_000;

    fn params() -> OrbParams {
        OrbParams {
            enabled: true,
            symbol: "BTC-USD".into(),
            size: dec!(0.001),
            session_start: TimeOfDay::MIDNIGHT,
            range_minutes: 10,
            breakout_mult: dec!(0.5),
            target_mult: dec!(1),
            max_hold_minutes: 0,
            risk_units: dec!(0),
        }
    }

    fn at(w: &mut World, mid: i64) {
        w.book(0, &[(mid - 5, 10)], &[(mid + 5, 10)]);
    }

    fn book(s: &mut OpeningRangeBreakout, w: &World, ms: i64) -> Vec<Intent> {
        let mut out = Vec::new();
        s.on_book(&w.ctx(T0 + ms, 4), InstrumentId(0), &mut out);
        out
    }

    /// The opening range 59990.0 - 60010.0 (200 ticks) over the first 10 minutes; at
    /// +10 min the mid is back inside.
    fn ranged(p: &OrbParams) -> (OpeningRangeBreakout, World) {
        let mut s = OpeningRangeBreakout::new(p, &[btc(0)]).unwrap();
        let mut w = World::new(vec![btc(0)]);
        for (ms, mid) in [
            (0, 600_000),
            (MIN, 600_100),
            (2 * MIN, 599_900),
            (10 * MIN - 1, 600_000),
        ] {
            at(&mut w, mid);
            assert!(book(&mut s, &w, ms).is_empty(), "{ms}: in the range window");
        }
        at(&mut w, 600_300);
        // The window is over: 600300 is not part of the range, and is a breakout (up
        // level 60010.0 + 0.5 x 20.0 = 60020.0)...
        (s, w)
    }

    fn only(out: &[Intent]) -> crate::strategy::OrderIntent {
        let p = placed(out);
        assert_eq!(p.len(), 1, "{out:?}");
        p[0].clone()
    }

    /// With `risk_units` the breakout asks for a size in risk units over the distance from
    /// the mid to its stop: mid 60020.1 to the range low 59990.0 is 301 ticks, 30.1.
    #[test]
    fn risk_units_size_the_breakout_over_the_distance_to_its_stop() {
        let (mut s, mut w) = ranged(&OrbParams {
            risk_units: dec!(2),
            ..params()
        });
        at(&mut w, 600_201);
        let o = only(&book(&mut s, &w, 11 * MIN));
        assert_eq!(o.spec.side, Side::Buy);
        assert_eq!(
            o.spec.qty,
            Qty(0),
            "the engine sizes it, uncapped by `size`"
        );
        let risk = o.risk.expect("sized from capital");
        assert_eq!((risk.units, risk.stop_distance), (dec!(2), dec!(30.1)));
        assert_eq!(s.stop, Some(Price(599_900)));
        // [sizing] defaults, flat: (10000 x 0.002 x 2) / 30.1 = 1.3289 BTC, in lots.
        assert_eq!(
            w.sizing
                .qty_for_risk(&btc(0), dec!(0), risk.units, risk.stop_distance),
            Qty(1328)
        );
    }

    #[test]
    fn breakout_above_the_range_buys_with_the_stop_at_the_low() {
        let (mut s, mut w) = ranged(&params());
        assert_eq!(s.range(T0 * 1_000_000), None);
        at(&mut w, 600_200); // mid x2 1_200_400: exactly at the level, not beyond
        assert!(book(&mut s, &w, 10 * MIN).is_empty());
        assert_eq!(
            s.range((T0 + 10 * MIN) * 1_000_000),
            Some((Price(599_900), Price(600_100)))
        );
        at(&mut w, 600_201);
        let o = only(&book(&mut s, &w, 11 * MIN));
        assert_eq!(
            (
                o.spec.side,
                o.spec.kind,
                o.spec.price,
                o.spec.qty,
                o.spec.tif,
                o.spec.reduce_only
            ),
            (
                Side::Buy,
                OrderKind::Market,
                None,
                Qty(1),
                TimeInForce::Ioc,
                false
            )
        );
        assert_eq!(
            s.last_signal(),
            Some("BUY breakout above range 59990.0-60010.0")
        );
        assert_eq!(s.stop, Some(Price(599_900)));
        let cid = w.apply(4, &[Intent::Place(o)], T0 + 11 * MIN).remove(0);
        // Fills at the ask 60020.6: target one range (200 ticks) above.
        let f = fill(&cid, Side::Buy, 600_206, 1, T0 + 11 * MIN);
        s.on_fill(&w.ctx(T0 + 11 * MIN, 4), &f, &mut Vec::new());
        w.position(0, dec!(0.001), dec!(60020.6));
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 11 * MIN, 4), &o, &mut Vec::new());
        assert_eq!(s.target, Some(Price(600_406)));

        at(&mut w, 600_400); // best bid 600395: below the target
        assert!(book(&mut s, &w, 12 * MIN).is_empty());
        at(&mut w, 599_905); // best bid 599900: the range low
        let out = book(&mut s, &w, 13 * MIN);
        let x = only(&out);
        assert_eq!(
            (
                x.spec.side,
                x.spec.kind,
                x.spec.qty,
                x.spec.reduce_only,
                x.tag
            ),
            (
                Side::Sell,
                OrderKind::Market,
                Qty(1),
                true,
                OrderTag::StopLoss
            )
        );
        assert_eq!(s.last_signal(), Some("STOP exit at 59990.0"));
    }

    #[test]
    fn one_trade_a_side_per_session_and_the_target() {
        let (mut s, mut w) = ranged(&params());
        at(&mut w, 600_300);
        let o = only(&book(&mut s, &w, 11 * MIN));
        let cid = w.apply(4, &[Intent::Place(o)], T0 + 11 * MIN).remove(0);
        let f = fill(&cid, Side::Buy, 600_305, 1, T0 + 11 * MIN);
        s.on_fill(&w.ctx(T0 + 11 * MIN, 4), &f, &mut Vec::new());
        w.position(0, dec!(0.001), dec!(60030.5));
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 11 * MIN, 4), &o, &mut Vec::new());
        at(&mut w, 600_510); // best bid 600505 = entry + 200 ticks
        let x = only(&book(&mut s, &w, 12 * MIN));
        assert_eq!(x.tag, OrderTag::TakeProfit);
        let xid = w.apply(4, &[Intent::Place(x)], T0 + 12 * MIN).remove(0);
        let f = fill(&xid, Side::Sell, 600_505, 1, T0 + 12 * MIN);
        s.on_fill(&w.ctx(T0 + 12 * MIN, 4), &f, &mut Vec::new());
        w.position(0, dec!(0), dec!(0));
        let o = w.close(&xid);
        s.on_order_closed(&w.ctx(T0 + 12 * MIN, 4), &o, &mut Vec::new());
        // Flat, still above the range: the long side is used up for this session.
        at(&mut w, 600_600);
        assert!(book(&mut s, &w, 13 * MIN).is_empty());
        // The short side is not: below 59980.0.
        at(&mut w, 599_799);
        let o = only(&book(&mut s, &w, 14 * MIN));
        assert_eq!(o.spec.side, Side::Sell);
        assert_eq!(s.stop, Some(Price(600_100)));
        w.apply(4, &[Intent::Place(o)], T0 + 14 * MIN);
        let cid = w.orders.keys().next().unwrap().clone();
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 14 * MIN, 4), &o, &mut Vec::new());
        // The IOC found nothing: no second short either.
        assert!(book(&mut s, &w, 15 * MIN).is_empty());
        // The next session: a new range first, nothing during its window.
        at(&mut w, 599_700);
        assert!(book(&mut s, &w, 24 * 60 * MIN).is_empty());
        assert_eq!(s.range((T0 + 24 * 60 * MIN) * 1_000_000), None);
    }

    #[test]
    fn a_session_joined_late_has_no_range() {
        let mut s = OpeningRangeBreakout::new(&params(), &[btc(0)]).unwrap();
        let mut w = World::new(vec![btc(0)]);
        // First seen 2 minutes in (more than a tenth of the 10-minute window).
        at(&mut w, 600_000);
        assert!(book(&mut s, &w, 2 * MIN).is_empty());
        at(&mut w, 600_100);
        assert!(book(&mut s, &w, 5 * MIN).is_empty());
        at(&mut w, 601_000);
        assert!(book(&mut s, &w, 11 * MIN).is_empty());
        assert_eq!(s.range((T0 + 11 * MIN) * 1_000_000), None);
    }

    #[test]
    fn session_end_closes_and_paused_sends_no_entry() {
        let (mut s, mut w) = ranged(&params());
        w.state = TradingState::Paused;
        at(&mut w, 600_300);
        assert!(book(&mut s, &w, 11 * MIN).is_empty());
        w.state = TradingState::Active;
        let o = only(&book(&mut s, &w, 11 * MIN));
        let cid: ClientOrderId = w.apply(4, &[Intent::Place(o)], T0 + 11 * MIN).remove(0);
        let f = fill(&cid, Side::Buy, 600_305, 1, T0 + 11 * MIN);
        s.on_fill(&w.ctx(T0 + 11 * MIN, 4), &f, &mut Vec::new());
        w.position(0, dec!(0.001), dec!(60030.5));
        let o = w.close(&cid);
        s.on_order_closed(&w.ctx(T0 + 11 * MIN, 4), &o, &mut Vec::new());
        let x = only(&book(&mut s, &w, 24 * 60 * MIN + 5));
        assert_eq!((x.spec.reduce_only, x.tag), (true, OrderTag::Strategy));
        assert_eq!(s.last_signal(), Some("SESSION END exit at 60029.5"));
    }

    #[test]
    fn refuses_nonsense_naming_the_key() {
        for (p, key) in [
            (
                OrbParams {
                    range_minutes: 0,
                    ..params()
                },
                "range_minutes",
            ),
            (
                OrbParams {
                    range_minutes: 1440,
                    ..params()
                },
                "range_minutes",
            ),
            (
                OrbParams {
                    breakout_mult: dec!(-0.1),
                    ..params()
                },
                "breakout_mult",
            ),
            (
                OrbParams {
                    target_mult: dec!(-1),
                    ..params()
                },
                "target_mult",
            ),
            (
                OrbParams {
                    size: dec!(0),
                    ..params()
                },
                "size",
            ),
        ] {
            assert_eq!(p.validate().unwrap_err().key, key);
        }
        assert!(!OrbParams::default().enabled);
        assert_eq!(OrbParams::default().validate(), Ok(()));
    }
}
