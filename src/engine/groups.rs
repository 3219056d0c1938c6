//! Orders the engine manages as a group: brackets (`brackets.rs`: an entry with
//! take-profit and stop-loss legs, one cancels the other) and execution algorithms
//! (`algos.rs`: a parent order worked as children over time). This file holds their
//! shared state and what every group does alike: its number, the order hooks (a fill, a
//! close), and dropping groups when a person, a flatten, a strategy switch or the kill
//! switch takes their orders away.
//!
//! Nothing here runs unless a bracket or an algorithm was asked for: with none working,
//! the hooks return at once and a run's orders and fills are what they were.

use super::algos::Algo;
use super::brackets::Bracket;
use super::commands::Which;
use super::{AlgoConfig, BracketConfig, Effect, Engine};
use crate::domain::{ClientOrderId, Fill, GroupRole, Order, OrderGroup};
use std::collections::{BTreeMap, VecDeque};

/// The groups working now, and the settings they follow.
#[derive(Debug, Default)]
pub(super) struct Groups {
    pub(super) bracket_cfg: BracketConfig,
    pub(super) algo_cfg: AlgoConfig,
    /// The last group number given out (brackets and algorithms share it).
    pub(super) last_id: u64,
    pub(super) brackets: BTreeMap<u64, Bracket>,
    pub(super) algos: BTreeMap<u64, Algo>,
    /// Per instrument, the trades of the last `algos.participation_window_secs`:
    /// (engine time ns, lots), oldest first (the participation cap's volume).
    pub(super) volume: Vec<VecDeque<(i64, i64)>>,
}

impl Groups {
    pub(super) fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }
    pub(super) fn is_empty(&self) -> bool {
        self.brackets.is_empty() && self.algos.is_empty()
    }
}

impl Engine {
    /// `[brackets]` and `[algos]` for this run (set once, before the first input).
    pub fn set_group_config(&mut self, brackets: BracketConfig, algos: AlgoConfig) {
        self.groups.bracket_cfg = brackets;
        self.groups.algo_cfg = algos;
    }

    /// The brackets working now, in number order (for the view).
    pub fn brackets(&self) -> impl Iterator<Item = &Bracket> {
        self.groups.brackets.values()
    }

    /// The execution algorithms working now, in number order (for the view).
    pub fn algos(&self) -> impl Iterator<Item = &Algo> {
        self.groups.algos.values()
    }

    /// A fill of one of a group's orders (the position already holds it).
    pub(super) fn group_on_fill(
        &mut self,
        group: Option<OrderGroup>,
        fill: &Fill,
        out: &mut Vec<Effect>,
    ) {
        let Some(g) = group else {
            return;
        };
        match g.role {
            GroupRole::Child => self.algo_on_fill(g.id, fill, out),
            _ => self.bracket_on_fill(g.id, g.role, fill, out),
        }
    }

    /// One of a group's orders closed (filled, cancelled, rejected).
    pub(super) fn group_on_closed(&mut self, order: &Order, out: &mut Vec<Effect>) {
        let Some(g) = order.group else {
            return;
        };
        match g.role {
            GroupRole::Child => self.algo_on_closed(g.id, order, out),
            _ => self.bracket_on_closed(g.id, g.role, order, out),
        }
    }

    /// A person cancelled one of a group's orders (`x`, `pit` commands): the whole group
    /// goes. Returns false when the order is in no group.
    pub(super) fn cancel_group_of(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) -> bool {
        let Some(g) = self.open_orders.get(id).and_then(|o| o.group) else {
            return false;
        };
        match g.role {
            GroupRole::Child => self.drop_algo(g.id, "cancelled by the operator", out),
            _ => self.drop_bracket(g.id, "cancelled by the operator", out),
        }
        true
    }

    /// A person cancelled a group by its number (its row in the orders pane).
    pub(super) fn cancel_group(&mut self, id: u64, out: &mut Vec<Effect>) {
        if self.groups.brackets.contains_key(&id) {
            self.drop_bracket(id, "cancelled by the operator", out);
        } else if self.groups.algos.contains_key(&id) {
            self.drop_algo(id, "cancelled by the operator", out);
        } else {
            let text = format!("cancel group {id}: no such bracket or algorithm working");
            self.alert(super::AlertLevel::Info, "operator", text, out);
        }
    }

    /// Drop the groups `which` names, at once: their working orders are cancelled, a
    /// bracket's held stop no longer fires, an algorithm sends no more slices. Called by
    /// everything that takes orders away wholesale (cancel all, flatten, a strategy
    /// switched off, shutdown, the kill switch), so a held stop never closes a position
    /// a flatten is already closing.
    pub(super) fn drop_groups(&mut self, which: Which, why: &str, out: &mut Vec<Effect>) {
        if self.groups.is_empty() {
            return;
        }
        let brackets: Vec<u64> = self
            .groups
            .brackets
            .values()
            .filter(|b| which.matches(b.instrument, b.owner))
            .map(|b| b.id)
            .collect();
        for id in brackets {
            self.drop_bracket(id, why, out);
        }
        let algos: Vec<u64> = self
            .groups
            .algos
            .values()
            .filter(|a| which.matches(a.instrument, a.owner))
            .map(|a| a.id)
            .collect();
        for id in algos {
            self.drop_algo(id, why, out);
        }
    }

    /// Cancel one order unless it is closed or its cancel is on its way.
    pub(super) fn cancel_if_working(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        if self
            .open_orders
            .get(id)
            .is_some_and(|o| o.is_open() && !o.cancel_pending)
        {
            self.request_cancel(id, out);
        }
    }
}
