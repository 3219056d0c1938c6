//! The kill switch: halting (gate closed first, every order cancelled, positions
//! flattened if configured), retrying what the venue refused or lost while halted, the
//! progress shown to the operator, and flattening positions with reduce-only orders.

use crate::domain::OrderSpec;

use super::{AlertLevel, Effect, Engine};
use crate::domain::{
    ClientOrderId, InstrumentId, Order, OrderKind, OrderRequest, OrderStatus, OrderTag, Owner,
    Side, TimeInForce, Timestamp, TradingState,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How far the kill switch has got: every order open at the halt is a target, resolved
/// when the venue reports it cancelled, filled (before the cancel arrived) or rejected.
/// A fill is never counted as a cancel confirmation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillProgress {
    pub started: Timestamp,
    /// Targets: the orders the halt set out to cancel.
    pub cancels_requested: u32,
    /// Targets the venue confirmed cancelled (a partly filled one included).
    pub cancels_confirmed: u32,
    pub flatten_orders: u32,
    /// Cancel requests handed to the execution port (re-sends included).
    #[serde(default)]
    pub cancels_sent: u32,
    /// Targets that filled completely before their cancel arrived.
    #[serde(default)]
    pub filled: u32,
    /// Targets the venue rejected (they never rested).
    #[serde(default)]
    pub rejected: u32,
    /// Targets not resolved yet, in id order.
    #[serde(default)]
    pub unresolved: Vec<ClientOrderId>,
}

/// How many unresolved ids a one-line description names.
const LISTED: usize = 3;

impl KillProgress {
    /// Targets resolved so far, however.
    pub fn resolved(&self) -> u32 {
        self.cancels_confirmed + self.filled + self.rejected
    }
    /// Whether every target is resolved.
    pub fn all_resolved(&self) -> bool {
        self.unresolved.is_empty() && self.resolved() >= self.cancels_requested
    }
    /// How the targets were resolved: "10 cancelled, 2 filled" (rejected when any).
    pub fn outcome(&self) -> String {
        let mut s = format!(
            "{} cancelled, {} filled",
            self.cancels_confirmed, self.filled
        );
        if self.rejected > 0 {
            s.push_str(&format!(", {} rejected", self.rejected));
        }
        s
    }
    /// One line for the banner and status: "12/12 resolved: 10 cancelled, 2 filled" when
    /// done, else "cancels 12 sent: 9 cancelled, 1 filled, 2 open (S1-7 S2-9)", naming the
    /// first unresolved ids.
    pub fn describe(&self) -> String {
        if self.all_resolved() {
            return format!(
                "{}/{} resolved: {}",
                self.resolved(),
                self.cancels_requested,
                self.outcome()
            );
        }
        let mut s = format!(
            "cancels {} sent: {}, {} open",
            self.cancels_sent,
            self.outcome(),
            self.unresolved.len()
        );
        if !self.unresolved.is_empty() {
            let ids: Vec<&str> = self
                .unresolved
                .iter()
                .take(LISTED)
                .map(|id| id.as_str())
                .collect();
            s.push_str(&format!(" ({}", ids.join(" ")));
            if self.unresolved.len() > LISTED {
                s.push_str(&format!(" +{}", self.unresolved.len() - LISTED));
            }
            s.push(')');
        }
        s
    }
}

/// The engine's own reduce-only closing orders (flatten, the kill switch's exits). The
/// aged-position manager's are not: a halt cancels them (it waits for a re-arm), and a
/// flatten replaces them.
fn is_closing_order(o: &Order) -> bool {
    o.req.owner == Owner::System && o.req.spec.reduce_only && o.req.tag != OrderTag::AgedPosition
}

impl Engine {
    pub(super) fn press_kill_switch(
        &mut self,
        source: &str,
        reason: String,
        out: &mut Vec<Effect>,
        send_cancel: &mut dyn FnMut(&ClientOrderId),
    ) {
        self.kills_seen = self.gate.kills();
        self.halt(reason, source, out, send_cancel)
    }

    /// Leave a halt. A K pressed after the R wins: its kill is still on its way.
    pub(super) fn re_arm(&mut self, out: &mut Vec<Effect>) {
        if self.state == TradingState::Halted && self.loss_halt_day == Some(self.day) {
            let text = format!(
                "re-arm refused: the daily loss limit halted trading today; re-arm after the day boundary ({})",
                self.cfg.day_boundary.start_of_day(self.day + 1)
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
        } else if self.state == TradingState::Halted && !self.gate.rearm(self.kills_seen) {
            self.alert(
                AlertLevel::Warn,
                "operator",
                "re-arm refused: a kill switch press is still on its way".into(),
                out,
            );
        } else if self.state == TradingState::Halted {
            // Back to what the halt interrupted: a pause or reduce-only mode survives it.
            self.state = match self.state_before_halt {
                s @ (TradingState::Paused | TradingState::Reducing) => s,
                _ => TradingState::Active,
            };
            self.state_before_halt = TradingState::Active;
            self.halt_reason = None;
            self.kill = None;
            self.kill_targets.clear();
            self.exits_held = 0;
            self.loss_halt_day = None;
            let text = format!("re-armed: {}", self.state);
            self.alert(AlertLevel::Info, "operator", text, out);
        } else {
            let text = format!("re-arm ignored: not halted ({})", self.state);
            self.alert(AlertLevel::Info, "operator", text, out);
        }
    }

    /// Send reduce-only market orders closing positions; cancels the instrument's open
    /// orders first. Returns the number of closing orders sent.
    pub(super) fn flatten(
        &mut self,
        which: Option<InstrumentId>,
        tag: OrderTag,
        out: &mut Vec<Effect>,
    ) -> u32 {
        let mut sent = 0;
        for i in 0..self.instruments.len() {
            let id = InstrumentId(i as u16);
            if which.is_some_and(|w| w != id) {
                continue;
            }
            // Everything else on the instrument goes, strategies' exits included: the
            // flatten closes the whole position itself (and a bracket's held stop with
            // them: it must not close what the flatten closes).
            self.drop_groups(super::commands::Which::Instrument(id), "flatten", out);
            self.cancel_where(|o| o.req.spec.instrument == id && !is_closing_order(o), out);
            let pos = self.positions[i].qty;
            if pos.is_zero() {
                continue;
            }
            // Skip when our own closing orders for this instrument are already working.
            let working = self
                .open_orders
                .values()
                .any(|o| o.req.spec.instrument == id && is_closing_order(o) && !o.cancel_pending);
            if working {
                continue;
            }
            // Rounded down to the venue's step; a rest below its minimum is dust.
            let qty = self.closable_lots(i);
            if !qty.is_positive() {
                self.note_dust(i, out);
                continue;
            }
            let side = if pos.is_sign_positive() {
                Side::Sell
            } else {
                Side::Buy
            };
            let req = OrderRequest {
                client_id: self.next_id(Owner::System),
                spec: OrderSpec {
                    instrument: id,
                    side,
                    kind: OrderKind::Market,
                    price: None,
                    qty,
                    tif: TimeInForce::Ioc,
                    reduce_only: true,
                },
                owner: Owner::System,
                tag,
            };
            if self.place(req, out).is_some() {
                sent += 1;
            }
        }
        sent
    }

    /// While halted: re-send cancels the venue refused or lost, and (with
    /// `flatten_on_kill`) try again to close positions an IOC exit left open.
    pub(super) fn retry_halt_work(&mut self, out: &mut Vec<Effect>) {
        let stuck: Vec<ClientOrderId> = self
            .kill_targets
            .iter()
            .filter(|id| self.open_orders.get(*id).is_some_and(|o| !o.cancel_pending))
            .cloned()
            .collect();
        for id in &stuck {
            self.request_cancel(id, out);
        }
        if let Some(k) = self.kill.as_mut() {
            k.cancels_sent += stuck.len() as u32;
        }
        // Dust is flat here: no order can close it.
        let open_position = (0..self.positions.len()).any(|i| self.holds(i));
        if self.kill_cfg.flatten_on_kill
            && self.kill.is_some()
            && open_position
            && self.now.since(self.last_flatten_try) >= Duration::from_secs(1)
        {
            self.last_flatten_try = self.now;
            let n = self.flatten(None, OrderTag::KillSwitch, out);
            if let Some(k) = self.kill.as_mut() {
                k.flatten_orders += n;
            }
        }
    }

    /// A strategy's exit held because the engine is HALTED: counted in the strategy's
    /// `held`, and the first one of a halt raises an alert saying how to get out.
    pub(super) fn note_exit_held(&mut self, s: crate::domain::StrategyId, out: &mut Vec<Effect>) {
        self.exits_held += 1;
        if self.exits_held == 1 {
            let name = self
                .strategies
                .get(s as usize)
                .map_or("strategy", |slot| slot.name.as_str())
                .to_string();
            let text = format!(
                "HALTED: S{} {name} exit held (strategies' exits are held while halted; flatten to close)",
                u16::from(s) + 1
            );
            self.alert(AlertLevel::Warn, "kill-switch", text, out);
        }
    }

    /// A kill target closed: count how (a fill is not a cancel confirmation), and say so
    /// once every target is resolved.
    pub(super) fn resolve_kill_target(&mut self, order: &Order, out: &mut Vec<Effect>) {
        if !self.kill_targets.remove(order.id()) {
            return;
        }
        let Some(k) = self.kill.as_mut() else {
            return;
        };
        match order.status {
            OrderStatus::Filled => k.filled += 1,
            OrderStatus::Rejected => k.rejected += 1,
            _ => k.cancels_confirmed += 1,
        }
        if let Ok(at) = k.unresolved.binary_search(order.id()) {
            k.unresolved.remove(at);
        }
        if k.all_resolved() {
            let text = format!("kill switch: all targets {}", k.describe());
            self.alert(AlertLevel::Info, "kill-switch", text, out);
        }
    }

    /// Halt: close the gate first, then cancel everything and flatten if configured. Each
    /// cancel goes to `send_cancel` as soon as it is decided (and into `out`), before the
    /// bookkeeping: the venue hears of the first cancel without waiting for the rest.
    pub(super) fn halt(
        &mut self,
        reason: String,
        source: &str,
        out: &mut Vec<Effect>,
        send_cancel: &mut dyn FnMut(&ClientOrderId),
    ) {
        self.gate.close();
        let first = self.state != TradingState::Halted;
        if first {
            self.state_before_halt = self.state;
            self.exits_held = 0;
        }
        self.state = TradingState::Halted;
        // Every order is cancelled except the engine's own closing orders (a flatten in
        // flight must be allowed to get the position out). A halt re-sends cancels even
        // if one is pending: the venue may have lost it.
        let mut ids: Vec<ClientOrderId> = Vec::with_capacity(self.open_orders.len());
        for o in self.open_orders.values_mut() {
            if is_closing_order(o) {
                continue;
            }
            o.cancel_pending = true;
            send_cancel(o.id());
            out.push(Effect::Cancel(o.id().clone()));
            ids.push(o.id().clone());
        }
        self.halt_reason = Some(reason.clone());
        // Brackets and algorithms stop at once: a held stop never fires while halted.
        self.drop_groups(super::commands::Which::All, "HALTED", out);
        let progress = self.kill.get_or_insert_with(|| KillProgress {
            started: self.now,
            ..KillProgress::default()
        });
        progress.cancels_sent += ids.len() as u32;
        let before = progress.unresolved.len();
        for id in &ids {
            if self.kill_targets.insert(id.clone()) {
                progress.cancels_requested += 1;
                progress.unresolved.push(id.clone());
            }
        }
        if before > 0 {
            // A halt while halted adds its new targets to the sorted list.
            progress.unresolved.sort_unstable();
            progress.unresolved.dedup();
        }
        let flat = if self.kill_cfg.flatten_on_kill {
            self.last_flatten_try = self.now;
            self.flatten(None, OrderTag::KillSwitch, out)
        } else {
            0
        };
        if let Some(k) = self.kill.as_mut() {
            k.flatten_orders += flat;
        }
        let text = format!(
            "HALTED: {reason}; cancelling {} open orders{}",
            ids.len(),
            if flat > 0 {
                format!(", {flat} flatten orders")
            } else {
                String::new()
            }
        );
        let level = if first {
            AlertLevel::Critical
        } else {
            AlertLevel::Warn
        };
        self.alert(level, source, text, out);
    }
}
