//! Brackets: an entry order with a take-profit and a stop-loss leg, one cancelling the
//! other (OCO).
//!
//! * **The legs follow the entry's fills.** Nothing is placed before the entry fills;
//!   each fill of the entry makes the open size (`entry filled - closed by the legs`)
//!   grow, and the take-profit leg is sized to it: placed for it, or, when one is working
//!   for less, cancelled and placed again for the new size once the venue confirms the
//!   cancel (cancel/replace, as `modify.rs` does: the two never work at once).
//! * **The take-profit leg** is a reduce-only GTC limit at its price, on the venue.
//! * **The stop-loss leg is held by the engine**: the paper venue rests no stop orders
//!   (and a stop resting at a live venue would be a second order on the same position).
//!   It fires when the market reaches it (`[brackets] stop_trigger`): `touch`, the side
//!   of the book the exit would take (the best bid at or below a sell stop, the best ask
//!   at or above a buy stop); `trade`, a print at or through it; `either` (the default),
//!   whichever comes first. Then the take-profit leg and the rest of the entry are
//!   cancelled, and once the take-profit's cancel is confirmed the stop goes out as a
//!   reduce-only market IOC for the open size, cut to the account's position; an IOC that
//!   left some open is sent again after `stop_retry_ms`.
//! * **One cancels the other.** A take-profit fill closes part or all of the open size:
//!   the stop covers only what is left (its size is worked out when it fires), and when
//!   nothing is left (and the entry is done) the bracket ends and the stop with it.
//! * **Never a double close.** Both legs are reduce-only and size to the open size; the
//!   stop is sent only when no take-profit is working; every leg passes the risk engine,
//!   which counts the reduce-only orders already working against the position.
//! * **Halted, nothing fires.** The kill switch (and a cancel-all, a flatten, the
//!   owner's switch-off, shutdown) drops the brackets at once: their orders are
//!   cancelled like any order and the held stop is forgotten, with an alert naming the
//!   position left unprotected. A held stop is also never sent while HALTED.
//! * **Restart.** The store keeps each working bracket (`meta` `bracket:<run>:<n>`); a restart
//!   cancels their orders with every open order (a take-profit leg is never placed again
//!   by `open_orders_on_restart = "restore"`) and names each bracket in a CRITICAL alert:
//!   its stop is not held any more, set a new one.

use super::{AlertLevel, Effect, Engine, ManualOrder, StopTrigger};
use crate::domain::{
    ClientOrderId, Fill, GroupRole, InstrumentId, Order, OrderGroup, OrderKind, OrderRequest,
    OrderSpec, OrderStatus, OrderTag, Owner, Price, Qty, Side, TimeInForce, Timestamp, TradeTick,
    TradingState,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::domain::BracketLegs;

/// A manual bracket: the entry (as the order form makes it) and its legs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BracketOrder {
    pub order: ManualOrder,
    pub legs: BracketLegs,
}

/// Where a bracket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BracketState {
    /// The take-profit works (once something filled) and the stop is held.
    Armed,
    /// The stop traded: the take-profit and the entry are being cancelled and the stop
    /// sent until the open size is closed.
    Stopping,
}

impl BracketState {
    pub fn as_str(self) -> &'static str {
        match self {
            BracketState::Armed => "ARMED",
            BracketState::Stopping => "STOPPING",
        }
    }
}

/// A working bracket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    pub id: u64,
    pub owner: Owner,
    pub instrument: InstrumentId,
    /// The entry's side (the legs take the other).
    pub side: Side,
    pub legs: BracketLegs,
    pub entry: ClientOrderId,
    /// The entry is still working.
    pub entry_open: bool,
    pub entry_qty: Qty,
    pub entry_filled: Qty,
    /// Closed by the legs' fills.
    pub closed: Qty,
    /// The take-profit leg working now.
    pub tp: Option<ClientOrderId>,
    /// The take-profit's cancel was sent to place it again for a new size.
    pub tp_resizing: bool,
    /// The stop's IOC working now.
    pub sl: Option<ClientOrderId>,
    /// When the stop was last sent (or refused).
    pub sl_sent_at: Option<Timestamp>,
    /// When the take-profit's cancel was last asked for while stopping (the stop waits
    /// for it; a refused cancel is asked again every `stop_retry_ms`).
    #[serde(default)]
    pub tp_cancel_at: Option<Timestamp>,
    pub state: BracketState,
    pub created: Timestamp,
}

impl Bracket {
    /// The size the legs protect now: filled on the entry, not yet closed by a leg.
    pub fn open(&self) -> Qty {
        self.entry_filled.saturating_sub(self.closed)
    }
    /// The legs' side.
    pub fn exit_side(&self) -> Side {
        self.side.opposite()
    }
    /// `B3`.
    pub fn name(&self) -> String {
        format!("B{}", self.id)
    }
    /// Whether the stop's trigger is reached by the book's touch `touch` (the best bid
    /// for a sell stop, the best ask for a buy stop) or a trade at `trade`.
    fn triggered(&self, rule: StopTrigger, touch: Option<Price>, trade: Option<Price>) -> bool {
        let Some(stop) = self.legs.stop_loss else {
            return false;
        };
        let through = |p: Price| match self.exit_side() {
            Side::Sell => p <= stop,
            Side::Buy => p >= stop,
        };
        let by_touch = touch.is_some_and(through);
        let by_trade = trade.is_some_and(through);
        match rule {
            StopTrigger::Touch => by_touch,
            StopTrigger::Trade => by_trade,
            StopTrigger::Either => by_touch || by_trade,
        }
    }
}

/// Whether a bracket's prices sit on the right sides: a buy's take-profit above its
/// entry (the limit price, or the mid for a market entry) and its stop below; a sell's
/// the other way round. `reference`: the entry price or the mid, when known.
pub fn check_legs(side: Side, legs: &BracketLegs, reference: Option<Price>) -> Result<(), String> {
    if legs.take_profit.is_none() && legs.stop_loss.is_none() {
        return Err("a bracket needs a take-profit or a stop-loss price".into());
    }
    // (the leg that goes above the entry, its name; the one below, its name)
    let ((above, above_name), (below, below_name)) = match side {
        Side::Buy => (
            (legs.take_profit, "take-profit"),
            (legs.stop_loss, "stop-loss"),
        ),
        Side::Sell => (
            (legs.stop_loss, "stop-loss"),
            (legs.take_profit, "take-profit"),
        ),
    };
    if let (Some(a), Some(b)) = (above, below)
        && a <= b
    {
        return Err(format!(
            "the {above_name} must be above the {below_name} for a {side}"
        ));
    }
    if let Some(r) = reference {
        if above.is_some_and(|a| a <= r) {
            return Err(format!(
                "the {above_name} must be above the entry for a {side}"
            ));
        }
        if below.is_some_and(|b| b >= r) {
            return Err(format!(
                "the {below_name} must be below the entry for a {side}"
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// A person asked for a bracket (the order form with a take-profit or a stop-loss).
    pub(super) fn bracket_command(&mut self, b: BracketOrder, out: &mut Vec<Effect>) {
        if b.order.spec.reduce_only {
            let text = "bracket refused: its entry cannot be reduce-only".to_string();
            self.alert_kind(AlertLevel::Warn, "operator", "refused:bracket", text, out);
            return;
        }
        if !self.may_place_manual(false) {
            let text = format!(
                "bracket refused: {} allows reduce-only orders only",
                self.state
            );
            self.alert_kind(AlertLevel::Warn, "operator", "refused:bracket", text, out);
            return;
        }
        let client_id = match b.order.client_id.clone() {
            Some(id) => id,
            None => self.next_id(Owner::Manual),
        };
        let req = super::commands::manual_request(&b.order, client_id);
        if let Err(why) = self.open_bracket(req, b.legs, out) {
            let text = format!("bracket refused: {why}");
            self.alert_kind(AlertLevel::Warn, "operator", "refused:bracket", text, out);
        }
    }

    /// Check a bracket, place its entry through risk and start following it. `Err`: why
    /// not (nothing was placed); a risk refusal of the entry has its own alert.
    pub(super) fn open_bracket(
        &mut self,
        req: OrderRequest,
        legs: BracketLegs,
        out: &mut Vec<Effect>,
    ) -> Result<ClientOrderId, String> {
        let i = req.spec.instrument.index();
        if i >= self.instruments.len() {
            return Err("unknown instrument".into());
        }
        let reference = match req.spec.kind {
            OrderKind::Limit => req.spec.price,
            OrderKind::Market => self.books[i].mid_x2_ticks().map(|m| Price(m / 2)),
        };
        check_legs(req.spec.side, &legs, reference)?;
        if self.groups.brackets.len() >= self.groups.bracket_cfg.max_open {
            return Err(format!(
                "{} brackets are working (brackets.max_open)",
                self.groups.brackets.len()
            ));
        }
        let id = self.groups.next_id();
        let group = OrderGroup {
            id,
            role: GroupRole::Entry,
        };
        let (owner, instrument, side, qty) =
            (req.owner, req.spec.instrument, req.spec.side, req.spec.qty);
        let Some(entry) = self.place_with(req, None, Some(group), out) else {
            return Err("its entry was refused (see the refusal)".into());
        };
        let b = Bracket {
            id,
            owner,
            instrument,
            side,
            legs,
            entry: entry.clone(),
            entry_open: true,
            entry_qty: qty,
            entry_filled: Qty::ZERO,
            closed: Qty::ZERO,
            tp: None,
            tp_resizing: false,
            sl: None,
            sl_sent_at: None,
            tp_cancel_at: None,
            state: BracketState::Armed,
            created: self.now,
        };
        let inst = &self.instruments[i];
        let text = format!(
            "bracket {} ({owner}): {side} {} {} entry {entry}, take-profit {}, stop-loss {} (held)",
            b.name(),
            inst.fmt_qty(qty),
            inst.symbol,
            legs.take_profit.map_or("-".into(), |p| inst.fmt_price(p)),
            legs.stop_loss.map_or("-".into(), |p| inst.fmt_price(p)),
        );
        out.push(Effect::Bracket {
            id,
            bracket: Some(Box::new(b.clone())),
        });
        self.groups.brackets.insert(id, b);
        self.alert(AlertLevel::Info, "bracket", text, out);
        Ok(entry)
    }

    pub(super) fn bracket_on_fill(
        &mut self,
        id: u64,
        role: GroupRole,
        fill: &Fill,
        out: &mut Vec<Effect>,
    ) {
        let Some(b) = self.groups.brackets.get_mut(&id) else {
            return;
        };
        match role {
            GroupRole::Entry => b.entry_filled += fill.qty,
            _ => b.closed = (b.closed + fill.qty).min(b.entry_filled),
        }
        let done = b.open().is_zero() && !b.entry_open;
        // The store keeps the sizes too: a restart names what was left unprotected.
        out.push(Effect::Bracket {
            id,
            bracket: Some(Box::new(b.clone())),
        });
        if role == GroupRole::Entry {
            self.sync_take_profit(id, out);
        } else if done {
            let why = if role == GroupRole::TakeProfit {
                "take-profit filled"
            } else {
                "stopped out"
            };
            self.end_bracket(id, why, out);
        }
    }

    pub(super) fn bracket_on_closed(
        &mut self,
        id: u64,
        role: GroupRole,
        order: &Order,
        out: &mut Vec<Effect>,
    ) {
        let Some(b) = self.groups.brackets.get_mut(&id) else {
            return;
        };
        match role {
            GroupRole::Entry => {
                b.entry_open = false;
                if b.entry_filled.is_zero() {
                    self.end_bracket(id, "its entry closed with nothing filled", out);
                } else if b.open().is_zero() {
                    self.end_bracket(id, "closed by its legs", out);
                }
            }
            GroupRole::TakeProfit => {
                b.tp = None;
                let resizing = std::mem::take(&mut b.tp_resizing);
                let stopping = b.state == BracketState::Stopping;
                let nothing_open = b.open().is_zero();
                match order.status {
                    OrderStatus::Filled if nothing_open && !b.entry_open => {
                        self.end_bracket(id, "take-profit filled", out)
                    }
                    // The stop traded while the take-profit was working: now it goes.
                    _ if stopping => self.fire_stop(id, out),
                    OrderStatus::Filled => self.sync_take_profit(id, out),
                    OrderStatus::Rejected => {
                        b.legs.take_profit = None;
                        let text = format!(
                            "bracket {}: take-profit {} rejected by the venue ({}); {}",
                            b.name(),
                            order.id(),
                            order.reject_reason.as_deref().unwrap_or("no reason"),
                            if b.legs.stop_loss.is_some() {
                                "the stop still holds"
                            } else {
                                "the position is not protected"
                            }
                        );
                        self.alert(AlertLevel::Warn, "bracket", text, out);
                    }
                    _ if resizing => self.sync_take_profit(id, out),
                    _ if nothing_open && !b.entry_open => {
                        self.end_bracket(id, "take-profit closed", out)
                    }
                    _ => {
                        // Cancelled by someone else (the venue, a person at the venue):
                        // one leg gone takes the other with it.
                        let why = format!("its take-profit {} was cancelled", order.id());
                        self.drop_bracket(id, &why, out);
                    }
                }
            }
            GroupRole::StopLoss => {
                b.sl = None;
                if b.open().is_zero() {
                    self.end_bracket(id, "stopped out", out);
                }
                // Otherwise the stop goes again after `stop_retry_ms` (check_stops).
            }
            GroupRole::Child => {}
        }
    }

    /// The venue refused a cancel: a take-profit being resized works on as it was (it
    /// is resized again on the entry's next fill). A take-profit whose cancel the stop
    /// waits for is asked again every `stop_retry_ms` (`check_stops`): the stop cannot go
    /// while it might still fill (a double close), and a person must know.
    pub(super) fn bracket_cancel_rejected(
        &mut self,
        id: &ClientOrderId,
        reason: &str,
        out: &mut Vec<Effect>,
    ) {
        let mut stuck = Vec::new();
        for b in self.groups.brackets.values_mut() {
            if b.tp.as_ref() == Some(id) {
                b.tp_resizing = false;
                if b.state == BracketState::Stopping {
                    stuck.push(b.name());
                }
            }
        }
        let retry = self.groups.bracket_cfg.stop_retry_ms;
        for name in stuck {
            let text = format!(
                "bracket {name}: the venue refused to cancel take-profit {id} ({reason}) while the stop-loss is due: asking again every {retry} ms; the stop goes once it is cancelled"
            );
            self.alert(AlertLevel::Critical, "bracket", text, out);
        }
    }

    /// Size the take-profit leg to the open size: place it, or cancel a smaller one to
    /// place it again once the cancel is confirmed.
    fn sync_take_profit(&mut self, id: u64, out: &mut Vec<Effect>) {
        let Some(b) = self.groups.brackets.get(&id) else {
            return;
        };
        let Some(price) = b.legs.take_profit else {
            return;
        };
        // Never more than the position a closing order can carry: on a spot venue that
        // takes a buy's fee in the coin bought the position is the entry less the fee, and
        // a take-profit of the whole entry would be refused as not reducing.
        let open = b.open().min(self.closable_lots(b.instrument.index()));
        if b.state != BracketState::Armed || open.is_zero() || b.tp_resizing {
            return;
        }
        if let Some(tp) = b.tp.clone() {
            let smaller = self
                .open_orders
                .get(&tp)
                .is_some_and(|o| o.remaining() < open && !o.cancel_pending);
            if smaller && let Some(b) = self.groups.brackets.get_mut(&id) {
                b.tp_resizing = true;
                self.request_cancel(&tp, out);
            }
            return;
        }
        if self.state == TradingState::Halted || self.shutting_down {
            return;
        }
        let (owner, instrument, side, name) = (b.owner, b.instrument, b.exit_side(), b.name());
        let req = OrderRequest {
            client_id: self.next_id(owner),
            spec: OrderSpec {
                instrument,
                side,
                kind: OrderKind::Limit,
                price: Some(price),
                qty: open,
                tif: TimeInForce::Gtc,
                reduce_only: true,
            },
            owner,
            tag: OrderTag::TakeProfit,
        };
        let group = OrderGroup {
            id,
            role: GroupRole::TakeProfit,
        };
        match self.place_with(req, None, Some(group), out) {
            Some(tp) => {
                if let Some(b) = self.groups.brackets.get_mut(&id) {
                    b.tp = Some(tp);
                }
            }
            None => {
                let text = format!(
                    "bracket {name}: take-profit refused (see the refusal); tried again on the next fill of the entry"
                );
                self.alert_kind(AlertLevel::Warn, "bracket", "bracket:tp-refused", text, out);
            }
        }
    }

    /// Check the held stops of `inst`'s brackets against the book's touch and the trade
    /// `trade` (the one this event printed, if any), and send again a stop whose IOC left
    /// some open. Never while HALTED or shutting down.
    /// Inlined: with no bracket working (most events) it is one test, not a call (the
    /// call's frame cost ~20 instructions an event).
    #[inline]
    pub(super) fn check_stops(
        &mut self,
        inst: Option<InstrumentId>,
        trade: Option<&TradeTick>,
        out: &mut Vec<Effect>,
    ) {
        if self.groups.brackets.is_empty()
            || self.state == TradingState::Halted
            || self.shutting_down
        {
            return;
        }
        self.check_working_stops(inst, trade, out);
    }

    /// [`Engine::check_stops`] once a bracket is working and the engine may trade.
    #[inline(never)]
    fn check_working_stops(
        &mut self,
        inst: Option<InstrumentId>,
        trade: Option<&TradeTick>,
        out: &mut Vec<Effect>,
    ) {
        let rule = self.groups.bracket_cfg.stop_trigger;
        let retry = Duration::from_millis(self.groups.bracket_cfg.stop_retry_ms);
        let mut fire = Vec::new();
        let mut trip = Vec::new();
        let mut cancel_tp = Vec::new();
        for b in self.groups.brackets.values() {
            if inst.is_some_and(|i| i != b.instrument) || b.open().is_zero() {
                continue;
            }
            match b.state {
                BracketState::Armed => {
                    let book = &self.books[b.instrument.index()];
                    let touch = match b.exit_side() {
                        Side::Sell => book.best_bid(),
                        Side::Buy => book.best_ask(),
                    }
                    .map(|l| l.price);
                    if b.triggered(rule, touch, trade.map(|t| t.price)) {
                        trip.push((b.id, touch, trade.map(|t| t.price)));
                    }
                }
                BracketState::Stopping => {
                    let due = b.sl_sent_at.is_none_or(|t| self.now.since(t) >= retry);
                    if b.sl.is_none() && b.tp.is_none() && due {
                        fire.push(b.id);
                    }
                    let ask_again = b.tp_cancel_at.is_none_or(|t| self.now.since(t) >= retry);
                    if let Some(tp) = &b.tp
                        && ask_again
                        && self
                            .open_orders
                            .get(tp)
                            .is_some_and(|o| o.is_open() && !o.cancel_pending)
                    {
                        cancel_tp.push((b.id, tp.clone()));
                    }
                }
            }
        }
        for (id, touch, traded) in trip {
            self.trip_stop(id, touch, traded, out);
        }
        for id in fire {
            self.fire_stop(id, out);
        }
        for (id, tp) in cancel_tp {
            if let Some(b) = self.groups.brackets.get_mut(&id) {
                b.tp_cancel_at = Some(self.now);
            }
            self.cancel_if_working(&tp, out);
        }
    }

    /// The stop traded: cancel the take-profit and the rest of the entry; send the stop
    /// now if no take-profit is working, else once its cancel is confirmed.
    fn trip_stop(
        &mut self,
        id: u64,
        touch: Option<Price>,
        trade: Option<Price>,
        out: &mut Vec<Effect>,
    ) {
        let Some(b) = self.groups.brackets.get_mut(&id) else {
            return;
        };
        b.state = BracketState::Stopping;
        b.tp_resizing = false;
        b.tp_cancel_at = Some(self.now);
        let (entry, entry_open, tp) = (b.entry.clone(), b.entry_open, b.tp.clone());
        let inst = &self.instruments[b.instrument.index()];
        let by = match (trade, touch) {
            (Some(p), _) if b.triggered(StopTrigger::Trade, None, Some(p)) => {
                format!("a trade at {}", inst.fmt_price(p))
            }
            (_, Some(p)) => format!(
                "the best {} at {}",
                if b.exit_side() == Side::Sell {
                    "bid"
                } else {
                    "ask"
                },
                inst.fmt_price(p)
            ),
            _ => "the market".into(),
        };
        let text = format!(
            "bracket {}: stop-loss {} reached by {by}: closing {} {}",
            b.name(),
            b.legs.stop_loss.map_or("-".into(), |p| inst.fmt_price(p)),
            inst.fmt_qty(b.open()),
            inst.symbol
        );
        self.alert(AlertLevel::Warn, "bracket", text, out);
        if entry_open {
            self.cancel_if_working(&entry, out);
        }
        match tp {
            Some(tp) => self.cancel_if_working(&tp, out),
            None => self.fire_stop(id, out),
        }
    }

    /// Send the stop: a reduce-only market IOC for the open size, cut to the account's
    /// position on the entry's side (what someone else closed is not closed again).
    fn fire_stop(&mut self, id: u64, out: &mut Vec<Effect>) {
        if self.state == TradingState::Halted || self.shutting_down {
            return;
        }
        let Some(b) = self.groups.brackets.get_mut(&id) else {
            return;
        };
        if b.sl.is_some() {
            return;
        }
        b.sl_sent_at = Some(self.now);
        let i = b.instrument.index();
        let inst = &self.instruments[i];
        let account = self.positions[i].qty;
        let same_way = match b.side {
            Side::Buy => account.is_sign_positive(),
            Side::Sell => account.is_sign_negative(),
        };
        let held = if same_way && !account.is_zero() {
            inst.qty_floor(account.abs())
        } else {
            Qty::ZERO
        };
        let qty = b.open().min(held);
        let (owner, instrument, side) = (b.owner, b.instrument, b.exit_side());
        if qty.is_zero() {
            self.end_bracket(id, "the position it protected is already closed", out);
            return;
        }
        let req = OrderRequest {
            client_id: self.next_id(owner),
            spec: OrderSpec {
                instrument,
                side,
                kind: OrderKind::Market,
                price: None,
                qty,
                tif: TimeInForce::Ioc,
                reduce_only: true,
            },
            owner,
            tag: OrderTag::StopLoss,
        };
        let group = OrderGroup {
            id,
            role: GroupRole::StopLoss,
        };
        match self.place_with(req, None, Some(group), out) {
            Some(sl) => {
                if let Some(b) = self.groups.brackets.get_mut(&id) {
                    b.sl = Some(sl);
                }
            }
            None => {
                let text = format!(
                    "bracket B{id}: stop-loss refused (see the refusal); sent again in {} ms",
                    self.groups.bracket_cfg.stop_retry_ms
                );
                self.alert_kind(AlertLevel::Warn, "bracket", "bracket:sl-refused", text, out);
            }
        }
    }

    /// The bracket is done: forget it (anything of it still working is cancelled).
    fn end_bracket(&mut self, id: u64, why: &str, out: &mut Vec<Effect>) {
        let Some(b) = self.groups.brackets.remove(&id) else {
            return;
        };
        for o in [b.tp.clone(), b.entry_open.then(|| b.entry.clone())]
            .into_iter()
            .flatten()
        {
            self.cancel_if_working(&o, out);
        }
        out.push(Effect::Bracket { id, bracket: None });
        let text = format!("bracket {} done: {why}", b.name());
        self.alert(AlertLevel::Info, "bracket", text, out);
    }

    /// Drop a bracket before it is done: its orders are cancelled, its stop forgotten;
    /// an alert names the size left without a stop.
    pub(super) fn drop_bracket(&mut self, id: u64, why: &str, out: &mut Vec<Effect>) {
        let Some(b) = self.groups.brackets.remove(&id) else {
            return;
        };
        for o in [
            b.tp.clone(),
            b.sl.clone(),
            b.entry_open.then(|| b.entry.clone()),
        ]
        .into_iter()
        .flatten()
        {
            self.cancel_if_working(&o, out);
        }
        out.push(Effect::Bracket { id, bracket: None });
        let inst = &self.instruments[b.instrument.index()];
        let open = b.open();
        let (level, tail) = if open.is_zero() {
            (AlertLevel::Info, String::new())
        } else {
            (
                AlertLevel::Warn,
                format!(
                    "; {} {} it had filled is no longer protected by its legs",
                    inst.fmt_qty(open),
                    inst.symbol
                ),
            )
        };
        let text = format!("bracket {} cancelled ({why}){tail}", b.name());
        self.alert(level, "bracket", text, out);
    }
}
