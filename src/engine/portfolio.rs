//! The portfolio: fills applied to positions, realized and unrealized PnL, fees, equity,
//! the day's PnL and the drawdown, the loss limits that halt the engine, and the fill log
//! hash that fingerprints a run.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{Fill, OrderTag, Owner, TradingState};
use rust_decimal::Decimal;
use sha2::Digest;
use std::fmt::Write as _;

impl Engine {
    /// Realized PnL net of fees plus unrealized PnL at the marks.
    pub fn equity(&self) -> Decimal {
        self.realized - self.fees + self.unrealized.iter().copied().sum::<Decimal>()
    }

    /// Mark instrument `i`'s position at the mid: its unrealized PnL, and the mid it was
    /// marked at (see [`Engine::needs_remark`]).
    pub(super) fn remark(&mut self, i: usize) {
        if self.positions[i].is_flat() {
            self.unrealized[i] = Decimal::ZERO;
            self.marked_mid_x2[i] = None;
        } else if let Some(mid) = self.books[i].mid_ticks() {
            let mark = mid * self.instruments[i].tick_size;
            self.unrealized[i] = self.positions[i].unrealized(mark);
            self.marked_mid_x2[i] = self.books[i].mid_x2_ticks();
        }
    }

    /// Whether a book change moved instrument `i`'s mark. Most level updates leave the
    /// mid where it was (a size changes, a deeper level comes or goes): then the
    /// unrealized PnL, the equity and the loss limits are what they were, and the decimal
    /// arithmetic of marking and checking them is skipped. Fills re-mark by themselves,
    /// and the timer checks the limits whatever the book does (a day boundary, a re-arm).
    pub(super) fn needs_remark(&self, i: usize) -> bool {
        let mid = self.books[i].mid_x2_ticks();
        mid.is_none() || mid != self.marked_mid_x2[i]
    }

    /// Decimal places for account-level money in text: the finest quote precision of
    /// the instruments traded ([`crate::domain::Instrument::money_precision`]).
    pub(super) fn money_precision(&self) -> u32 {
        self.instruments
            .iter()
            .map(crate::domain::Instrument::money_precision)
            .max()
            .unwrap_or(2)
    }

    pub(super) fn day_pnl(&self) -> Decimal {
        self.day_pnl_at(self.equity())
    }

    fn day_pnl_at(&self, equity: Decimal) -> Decimal {
        equity - self.day_start_equity
    }

    /// Equity peak minus equity now (never negative).
    pub(super) fn drawdown(&self) -> Decimal {
        self.drawdown_at(self.equity())
    }

    fn drawdown_at(&self, equity: Decimal) -> Decimal {
        (self.equity_peak - equity).max(Decimal::ZERO)
    }

    /// Follow the equity peak; tell the store when it rose, at most once a second of
    /// engine time between fills (a crash loses at most that second's rise by the marks).
    fn update_peak(&mut self, eq: Decimal, out: &mut Vec<Effect>) {
        if eq > self.equity_peak {
            self.equity_peak = eq;
        }
        if self.now.0.saturating_sub(self.peak_stored_at.0) >= 1_000_000_000 {
            self.store_peak(out);
        }
    }

    /// Tell the store the peak now, if it rose since it was last told (after a fill, and
    /// at shutdown).
    pub(super) fn store_peak(&mut self, out: &mut Vec<Effect>) {
        if self.equity_peak > self.peak_stored {
            self.peak_stored = self.equity_peak;
            self.peak_stored_at = self.now;
            out.push(Effect::EquityPeak(self.equity_peak));
        }
    }

    pub(super) fn check_loss_limits(&mut self, out: &mut Vec<Effect>) {
        // The peak follows equity in every state, so drawdown never depends on how often
        // a view was published.
        // Equity once: the peak, the day's PnL and the drawdown are all of this one figure.
        let eq = self.equity();
        self.update_peak(eq, out);
        if self.state == TradingState::Halted {
            return;
        }
        let (day_pnl, drawdown) = (self.day_pnl_at(eq), self.drawdown_at(eq));
        if let Some(reason) = self.risk.halt_reason(day_pnl, drawdown) {
            if matches!(reason, super::risk::Refusal::DailyLoss { .. }) {
                self.loss_halt_day = Some(self.day);
            }
            let reason = for_people(reason, self.money_precision());
            self.halt(format!("risk halt: {reason}"), "risk", out, &mut |_| {});
        }
    }

    /// Apply a fill. `earlier_run`: the venue found it, by reconciliation, on an order an
    /// earlier run placed (expected, said at INFO); any other fill for an order this run
    /// does not know is an anomaly (CRITICAL).
    pub(super) fn on_fill(&mut self, fill: Fill, earlier_run: bool, out: &mut Vec<Effect>) {
        let i = fill.instrument.index();
        if !fill.qty.is_positive() {
            let text = format!(
                "fill {} for {} with size {} ignored",
                fill.seq, fill.client_id, fill.qty.0
            );
            self.alert(AlertLevel::Critical, "venue", text, out);
            return;
        }
        if i >= self.instruments.len() {
            let text = format!("fill {} for an unknown instrument ignored", fill.seq);
            self.alert(AlertLevel::Critical, "venue", text, out);
            return;
        }
        let now = self.now;
        let mut owner = None;
        let mut tag = OrderTag::Manual;
        let mut group = None;
        // A fill of an earlier run's order never books against an order of this run
        // that happens to carry the same client id (ids start again each run).
        let mine = if earlier_run {
            None
        } else {
            self.open_orders.get_mut(&fill.client_id)
        };
        if let Some(o) = mine {
            owner = Some(o.req.owner);
            tag = o.req.tag;
            group = o.group;
            match o.on_fill(fill.price, fill.qty, now) {
                Ok(()) => out.push(Effect::OrderUpdate(o.clone())),
                Err(e) => {
                    let text = e.to_string();
                    self.alert(AlertLevel::Critical, "venue", text, out);
                }
            }
        } else if earlier_run {
            let text = format!(
                "fill of an earlier run's order {} ({} {} @ {}) applied to the position",
                fill.client_id,
                fill.side.as_str(),
                fill.qty.0,
                fill.price.0
            );
            self.alert(AlertLevel::Info, "reconcile", text, out);
        } else {
            let text = format!(
                "fill for unknown order {} applied to the position",
                fill.client_id
            );
            self.alert(AlertLevel::Critical, "venue", text, out);
        }
        let inst = &self.instruments[i];
        let price = inst.price(fill.price);
        // What the holding moved by: the executed size less a buy's fee taken in the coin
        // bought (the venue credited the wallet that much, see `Fill::fee_base`). The fee
        // itself counts once, in `fill.fee`: the position's cost is `price` a unit, so cash
        // out is cost + fee = price x executed size. The order's own fill above kept the
        // executed size.
        let before = self.positions[i].clone();
        let mut qty = fill.position_qty(inst.qty(fill.qty));
        // A sell's fee in the coin sold beyond what pit holds was paid from coin pit does
        // not count (bought on another pair, or there before): it never turns a long into
        // a short.
        let long = before.qty.max(rust_decimal::Decimal::ZERO);
        if fill.side == crate::domain::Side::Sell && inst.qty(fill.qty) <= long && qty > long {
            qty = long;
        }
        // Dust (a rest no order can close, left by fees in the coin bought) is flat for
        // the round trip: a fill that leaves only dust closes it, and one on top of dust
        // opens a new one. On paper positions are whole lots and this is plain flatness.
        let held_before = self.holds_by_size(i);
        let mut effect = self.positions[i].apply_fill(fill.side, price, qty, fill.fee);
        if held_before && !effect.closed.is_zero() && !self.holds_by_size(i) {
            effect.round_trip_closed = true;
        }
        let closed_trade =
            self.track_trip(i, held_before, &before, &fill, price, &effect, owner, tag);
        if let Some(Owner::Strategy(s)) = owner
            && let Some(st) = self.strat_stats.get_mut(s as usize)
        {
            // The loss streak is the strategy's own: its round trips on its own position.
            let mut own = st.positions[i].apply_fill(fill.side, price, qty, fill.fee);
            let lots_left = self.instruments[i].qty_floor(st.positions[i].qty.abs());
            if !own.closed.is_zero() && lots_left.0 == 0 {
                own.round_trip_closed = true;
            }
            st.trip_pnl[i] += own.realized - fill.fee;
            if own.round_trip_closed {
                let pnl = std::mem::take(&mut st.trip_pnl[i]);
                let before = self.risk.cooldown_until(s);
                self.risk.record_round_trip(s, pnl, now);
                if let Some(until) = self.risk.cooldown_until(s)
                    && before != Some(until)
                {
                    self.note_cooldown(s, until, out);
                }
            }
        }
        self.realized += effect.realized;
        self.fees += fill.fee;
        if effect.round_trip_closed {
            self.day_trades += 1;
        }
        self.remark(i);
        self.fills += 1;
        self.hash_fill(&fill);
        out.push(Effect::Fill(fill.clone()));
        out.push(Effect::PositionChanged {
            fill_seq: fill.seq,
            position: self.positions[i].clone(),
            trip: (!self.positions[i].is_flat()).then(|| self.trips[i].clone()),
        });
        if let Some(t) = closed_trade {
            out.push(Effect::TradeClosed(t));
        }
        if let Some(Owner::Strategy(s)) = owner {
            self.call_strategy(s, out, |st, ctx, buf| st.on_fill(ctx, &fill, buf));
        }
        self.group_on_fill(group, &fill, out);
        let closed = self
            .open_orders
            .get(&fill.client_id)
            .is_some_and(|o| !o.is_open());
        if closed {
            self.close_order(&fill.client_id, out);
        }
        self.check_loss_limits(out);
        self.store_peak(out);
    }

    fn hash_fill(&mut self, f: &Fill) {
        let inst = &self.instruments[f.instrument.index()];
        self.fill_line.clear();
        let _ = writeln!(
            self.fill_line,
            "{}|{}|{}|{}|{}|{}|{}|{}|{:?}",
            f.seq,
            f.ts.0,
            f.client_id,
            inst.symbol,
            f.side,
            inst.price(f.price),
            inst.qty(f.qty),
            f.fee,
            f.liquidity
        );
        if !f.fee_base.is_zero() {
            // Only live fills carry one; paper's lines (and so the fingerprint) are as before.
            let _ = writeln!(self.fill_line, "base fee {}", f.fee_base);
        }
        self.fill_hash.update(self.fill_line.as_bytes());
    }
}

/// A loss-limit reason as people read it: the money at `dp` decimals (`day PnL -1.00`,
/// not `-1.003122520000000000000000001`). The check itself compared the exact figures;
/// only the text is rounded.
fn for_people(reason: super::risk::Refusal, dp: u32) -> super::risk::Refusal {
    use super::risk::Refusal;
    match reason {
        Refusal::DailyLoss { day_pnl, limit } => Refusal::DailyLoss {
            day_pnl: day_pnl.round_dp(dp),
            limit,
        },
        Refusal::Drawdown { drawdown, limit } => Refusal::Drawdown {
            drawdown: drawdown.round_dp(dp),
            limit,
        },
        other => other,
    }
}

#[cfg(test)]
mod money_text_tests {
    use super::*;
    use crate::engine::risk::Refusal;
    use std::str::FromStr;

    #[test]
    fn a_halt_reason_shows_money_at_the_quote_precision() {
        let day_pnl = Decimal::from_str("-1.003122520000000000000000001").expect("decimal");
        let r = for_people(
            Refusal::DailyLoss {
                day_pnl,
                limit: Decimal::ONE,
            },
            2,
        );
        assert_eq!(
            r.to_string(),
            "day PnL -1.00 is at or below the daily loss limit -1 (daily_loss_limit)"
        );
        let r = for_people(
            Refusal::Drawdown {
                drawdown: Decimal::from_str("10.0000004999").expect("decimal"),
                limit: Decimal::TEN,
            },
            6,
        );
        assert_eq!(
            r.to_string(),
            "drawdown 10.000000 from the equity peak reached max_drawdown 10"
        );
    }
}
