//! The blotter: our recent fills (with who they belong to and their slippage against the
//! arrival mid) and every order's history (each state it went through, the reason for a
//! rejection or a risk refusal), kept for the console's fills pane and order-history view.
//!
//! It is fed after each [`Engine::process`] from the effects that call produced (order
//! updates, cancels, fills), so no trading path changes for it; it decides nothing and
//! holds at most [`FILLS_KEPT`] fills, the open orders, `engine.closed_orders_len` closed
//! ones and [`REFUSED_KEPT`] refusals. A fill also raises an INFO alert (kind
//! `fill:<owner>`), which folds a stream of fills into one counted row per owner.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{
    ClientOrderId, Fill, InstrumentId, Order, OrderRequest, OrderStatus, OrderTag, Owner, Qty,
    Side, Timestamp,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Fills kept for the fills pane.
pub const FILLS_KEPT: usize = 200;
/// Risk refusals kept for the order-history view (apart from the orders, so a storm of
/// refusals never pushes real orders out of it).
pub const REFUSED_KEPT: usize = 100;
/// Steps kept per order (repeats of one state fold into one step with a count).
const STEPS_KEPT: usize = 16;

/// One of our fills as the fills pane shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    pub fill: Fill,
    /// Whose order it filled (`None`: a fill for an order the engine does not know).
    pub owner: Option<Owner>,
    pub tag: Option<OrderTag>,
    /// The book's mid when the order was sent (its arrival price), if the book had one.
    pub arrival_mid: Option<Decimal>,
    /// The book's mid when the fill arrived, if the book had one.
    pub mid: Option<Decimal>,
}

impl FillRecord {
    /// The price the slippage is measured against: the arrival mid, else the mid at the
    /// fill.
    pub fn benchmark(&self) -> Option<Decimal> {
        self.arrival_mid.or(self.mid)
    }

    /// Slippage in quote currency per unit, against [`FillRecord::benchmark`]: positive is
    /// a cost (bought above it, sold below it), negative an improvement (a maker fill
    /// inside the spread earns half of it). `price` is the fill's price in quote units.
    pub fn slippage(&self, price: Decimal) -> Option<Decimal> {
        let b = self.benchmark()?;
        Some(match self.fill.side {
            Side::Buy => price - b,
            Side::Sell => b - price,
        })
    }
}

/// What happened to an order at one step of its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// It entered this state (new, acked, partially filled, filled, cancelled, rejected).
    Status(OrderStatus),
    /// A cancel was sent for it.
    CancelRequested,
    /// The risk engine refused it: it never left the process.
    Refused,
    /// A modify (cancel/replace) was asked: its cancel was sent.
    ModifyRequested,
    /// A modify's replacement took its place: this order.
    ReplacedBy(ClientOrderId),
}

/// One step of an order's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStep {
    pub ts: Timestamp,
    pub kind: StepKind,
    /// The order's filled size after this step.
    pub filled: Qty,
    /// How many times in a row this step happened (partial fills fold into one step).
    pub count: u32,
}

impl OrderStep {
    /// `NEW`, `ACKED`, `PARTIAL`, `FILLED`, `CANCELLED`, `REJECTED`, `CANCEL SENT`,
    /// `REFUSED`, `MODIFY SENT`, `REPLACED`.
    pub fn word(&self) -> &'static str {
        match &self.kind {
            StepKind::Status(s) => s.as_str(),
            StepKind::CancelRequested => "CANCEL SENT",
            StepKind::Refused => "REFUSED",
            StepKind::ModifyRequested => "MODIFY SENT",
            StepKind::ReplacedBy(_) => "REPLACED",
        }
    }
}

/// An order (or a refused request) and the steps of its life, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The order's latest state. For a refusal: the request as asked, status `NEW`, and
    /// the refusal in `reject_reason`.
    pub order: Order,
    /// The book's mid when the order was sent, if the book had one.
    pub arrival_mid: Option<Decimal>,
    pub steps: Vec<OrderStep>,
}

impl OrderRecord {
    /// The risk engine refused it (it never reached the venue).
    pub fn refused(&self) -> bool {
        self.steps.iter().any(|s| s.kind == StepKind::Refused)
    }

    /// Its state in one word: the order's status, or `REFUSED`.
    pub fn status_word(&self) -> &'static str {
        if self.refused() {
            "REFUSED"
        } else {
            self.order.status.as_str()
        }
    }

    /// The order a modify's replacement took the place of this one, if one did.
    pub fn replaced_by(&self) -> Option<&ClientOrderId> {
        self.steps.iter().rev().find_map(|s| match &s.kind {
            StepKind::ReplacedBy(id) => Some(id),
            _ => None,
        })
    }

    /// Why it was rejected by the venue or refused by risk.
    pub fn reason(&self) -> Option<&str> {
        self.order.reject_reason.as_deref()
    }

    fn push_step(&mut self, ts: Timestamp, kind: StepKind, filled: Qty) {
        if let Some(last) = self.steps.last_mut()
            && last.kind == kind
        {
            last.count += 1;
            last.ts = ts;
            last.filled = filled;
            return;
        }
        if self.steps.len() >= STEPS_KEPT {
            // Keep the first step (when it was sent) and the latest ones.
            self.steps.remove(1);
        }
        self.steps.push(OrderStep {
            ts,
            kind,
            filled,
            count: 1,
        });
    }
}

/// The engine's blotter (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Blotter {
    fills: VecDeque<FillRecord>,
    open: BTreeMap<ClientOrderId, OrderRecord>,
    closed: VecDeque<OrderRecord>,
    refused: VecDeque<OrderRecord>,
}

impl Blotter {
    fn record_mut(&mut self, id: &ClientOrderId) -> Option<&mut OrderRecord> {
        if self.open.contains_key(id) {
            return self.open.get_mut(id);
        }
        self.closed
            .iter_mut()
            .rev()
            .take(32)
            .find(|r| r.order.req.client_id == *id)
    }

    /// An order was created or changed state.
    fn knows(&self, id: &ClientOrderId) -> bool {
        self.open.contains_key(id)
            || self
                .closed
                .iter()
                .rev()
                .take(32)
                .any(|r| r.order.req.client_id == *id)
    }

    fn order_update(&mut self, o: &Order, arrival_mid: Option<Decimal>, closed_len: usize) {
        let id = o.id();
        if !self.knows(id) {
            let rec = OrderRecord {
                order: o.clone(),
                arrival_mid,
                steps: Vec::new(),
            };
            self.open.insert(id.clone(), rec);
        }
        let terminal = o.status.is_terminal();
        if let Some(rec) = self.record_mut(id) {
            rec.order = o.clone();
            // An update that changes neither state nor fill (a modify under way) is no step.
            let same = rec
                .steps
                .last()
                .is_some_and(|s| s.kind == StepKind::Status(o.status) && s.filled == o.filled);
            if !same {
                rec.push_step(o.updated, StepKind::Status(o.status), o.filled);
            }
        }
        if terminal && let Some(rec) = self.open.remove(id) {
            self.closed.push_back(rec);
            while self.closed.len() > closed_len.max(1) {
                self.closed.pop_front();
            }
        }
    }

    fn cancel_requested(&mut self, id: &ClientOrderId, now: Timestamp) {
        if let Some(rec) = self.open.get_mut(id) {
            let filled = rec.order.filled;
            rec.order.cancel_pending = true;
            let kind = if rec.order.modify_to.is_some() {
                StepKind::ModifyRequested
            } else {
                StepKind::CancelRequested
            };
            rec.push_step(now, kind, filled);
        }
    }

    /// A modify's replacement `new` took the place of `old`.
    fn replaced(&mut self, old: &ClientOrderId, new: &ClientOrderId, now: Timestamp) {
        if let Some(rec) = self.record_mut(old) {
            let filled = rec.order.filled;
            rec.push_step(now, StepKind::ReplacedBy(new.clone()), filled);
        }
    }

    fn fill(&mut self, fill: &Fill, mid: Option<Decimal>) -> FillRecord {
        let rec = self.record_mut(&fill.client_id);
        let r = FillRecord {
            fill: fill.clone(),
            owner: rec.as_ref().map(|r| r.order.req.owner),
            tag: rec.as_ref().map(|r| r.order.req.tag),
            arrival_mid: rec.and_then(|r| r.arrival_mid),
            mid,
        };
        self.fills.push_back(r.clone());
        while self.fills.len() > FILLS_KEPT {
            self.fills.pop_front();
        }
        r
    }

    /// A request the risk engine refused (never an order at the venue).
    pub(super) fn refused(
        &mut self,
        req: &OrderRequest,
        reason: String,
        now: Timestamp,
        mid: Option<Decimal>,
    ) {
        let mut order = Order::new(req.clone(), now);
        order.reject_reason = Some(reason);
        let mut rec = OrderRecord {
            order,
            arrival_mid: mid,
            steps: Vec::new(),
        };
        rec.push_step(now, StepKind::Refused, Qty::ZERO);
        self.refused.push_back(rec);
        while self.refused.len() > REFUSED_KEPT {
            self.refused.pop_front();
        }
    }

    /// Fills, oldest first.
    pub(super) fn fills(&self) -> Vec<FillRecord> {
        self.fills.iter().cloned().collect()
    }

    /// Every order kept (open, closed, refused), in the order they were sent (by time,
    /// then client id).
    pub(super) fn history(&self) -> Vec<OrderRecord> {
        let mut v: Vec<OrderRecord> = self
            .closed
            .iter()
            .chain(self.open.values())
            .chain(self.refused.iter())
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (a.order.created, a.order.req.client_id.as_str())
                .cmp(&(b.order.created, b.order.req.client_id.as_str()))
        });
        v
    }
}

impl Engine {
    /// The mid of instrument `i`'s book now, in quote units.
    pub(super) fn mid_of(&self, i: InstrumentId) -> Option<Decimal> {
        let inst = self.instruments.get(i.index())?;
        let mid = self.books.get(i.index())?.mid_ticks()?;
        Some((mid * inst.tick_size).normalize())
    }

    /// Bring the blotter up to date with the effects of one `process` call (`out[from..]`)
    /// and raise an INFO alert per fill.
    pub(super) fn note_blotter(&mut self, from: usize, out: &mut Vec<Effect>) {
        if out.len() <= from {
            // Nothing happened (most market events): nothing to note.
            return;
        }
        let closed_len = self.cfg.closed_orders_len;
        let mut fills = Vec::new();
        for effect in out.iter().skip(from) {
            match effect {
                Effect::OrderUpdate(o) => {
                    // The arrival mid of a new order: the book as it was when it was sent
                    // (nothing moves the book between the placing and this call's end).
                    let new = !self.blotter.knows(o.id());
                    let mid = if new {
                        self.mid_of(o.req.spec.instrument)
                    } else {
                        None
                    };
                    self.blotter.order_update(o, mid, closed_len);
                    if new && let Some(old) = &o.replaces {
                        let now = self.now;
                        self.blotter.replaced(old, o.id(), now);
                    }
                }
                Effect::Cancel(id) => {
                    let now = self.now;
                    self.blotter.cancel_requested(id, now);
                }
                Effect::Fill(f) => {
                    let mid = self.mid_of(f.instrument);
                    fills.push(self.blotter.fill(f, mid));
                }
                _ => {}
            }
        }
        self.note_exec_stats(from, out, &fills);
        for r in fills {
            self.alert_fill(&r, out);
        }
    }

    /// One INFO alert per fill; a run of fills of one owner folds into one counted row.
    fn alert_fill(&mut self, r: &FillRecord, out: &mut Vec<Effect>) {
        let f = &r.fill;
        let Some(inst) = self.instruments.get(f.instrument.index()) else {
            return;
        };
        let owner = r
            .owner
            .map_or_else(|| "unknown".to_string(), |o| o.to_string());
        let dp = inst.money_precision() as usize;
        let liquidity = match f.liquidity {
            crate::domain::Liquidity::Maker => "maker",
            crate::domain::Liquidity::Taker => "taker",
        };
        let text = format!(
            "filled {} {} {} @ {} ({owner}, {liquidity}, fee {:.*})",
            f.side,
            inst.fmt_qty(f.qty),
            inst.symbol,
            inst.fmt_price(f.price),
            dp,
            f.fee.round_dp(dp as u32),
        );
        let kind = format!("fill:{owner}");
        self.alert_kind(AlertLevel::Info, "fills", &kind, text, out);
    }
}
