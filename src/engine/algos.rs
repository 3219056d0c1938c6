//! Execution algorithms: a large order (the parent) worked as smaller orders (its
//! children) over time, on the engine's clock only, so a replay or a backtest sends the
//! very same children.
//!
//! * **TWAP**: `slices` slices spread evenly over `duration_secs`; each slice is a limit
//!   IOC at the touch (the best ask for a buy, the best bid for a sell) for what is left
//!   divided by the slices left, so what one slice could not fill is caught up by the
//!   next ones.
//! * **VWAP split** (the scalping design's entry): the same schedule, and each slice goes
//!   `split_ioc_pct` percent (80) as an IOC at the touch and the rest as a limit one tick
//!   inside the spread (a buy one tick above the best bid, a sell one tick below the best
//!   ask; at the touch when the spread is one tick), which rests until the next slice
//!   cancels it; its unfilled size returns to the parent.
//! * **Participation cap**: no slice is more than `participation_cap` × the volume traded
//!   on the instrument over the last `participation_window_secs` (0: no cap); a slice the
//!   cap makes smaller than the instrument's minimum order is skipped (its size goes to
//!   the later slices). A parent's limit price (optional) bounds every child: a slice
//!   whose touch is beyond it waits.
//! * **Children** are ordinary orders through the risk engine, owned by the parent's
//!   owner, shown under their parent in the orders pane. After the last slice the
//!   schedule ends: children still resting are cancelled, and the parent ends with an
//!   alert saying how much was done.
//! * **Cancelling the parent** (`x` on any of its children, cancel-all, a flatten of its
//!   instrument) cancels its children and stops the schedule; so do the kill switch and
//!   shutdown. A restart does not resume a parent: its children are cancelled with every
//!   open order, never placed again by `open_orders_on_restart = "restore"`, and a
//!   WARN alert names the parent and how much of it filled (the store keeps each working
//!   parent as `meta` `algo:<run>:<n>`).

use super::{AlertLevel, Effect, Engine, ManualOrder};
use crate::domain::{
    ClientOrderId, Fill, GroupRole, InstrumentId, Order, OrderGroup, OrderKind, OrderRequest,
    OrderSpec, OrderTag, Owner, Price, Qty, Side, TimeInForce, Timestamp, TradeTick,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// Which execution algorithm works a parent order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgoKind {
    Twap,
    VwapSplit,
}

impl AlgoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlgoKind::Twap => "TWAP",
            AlgoKind::VwapSplit => "VWAP split",
        }
    }
}

/// A manual parent order: the order (instrument, side, total size, an optional limit
/// price bounding every child) and the algorithm; slices and duration default to
/// `[algos]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlgoOrder {
    pub kind: AlgoKind,
    pub order: ManualOrder,
    #[serde(default)]
    pub slices: Option<u32>,
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// A parent order being worked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Algo {
    pub id: u64,
    pub kind: AlgoKind,
    pub owner: Owner,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub limit: Option<Price>,
    pub reduce_only: bool,
    pub filled: Qty,
    pub slices: u32,
    /// Slices sent (or skipped) so far.
    pub done_slices: u32,
    pub started: Timestamp,
    /// Engine time between slices, ns.
    pub interval_ns: i64,
    /// When the next slice (or, after the last, the end) is due.
    pub next_at: Timestamp,
    /// Children working now.
    pub children: Vec<ClientOrderId>,
    /// Slices skipped (no touch, beyond the limit, under the participation cap).
    pub skipped: u32,
    /// The schedule is over: waiting for the last children to close.
    pub ending: bool,
}

impl Algo {
    /// `A4`.
    pub fn name(&self) -> String {
        format!("A{}", self.id)
    }
    pub fn remaining(&self) -> Qty {
        self.qty.saturating_sub(self.filled)
    }
}

impl Engine {
    /// Record a trade's size for the participation cap (the last
    /// `algos.participation_window_secs` of trades per instrument).
    pub(super) fn note_volume(&mut self, inst: InstrumentId, t: &TradeTick) {
        let window = self.algo_window_ns();
        let now = self.now.0;
        let Some(v) = self.groups.volume.get_mut(inst.index()) else {
            return;
        };
        v.push_back((now, t.qty.0));
        while v
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) > window)
        {
            v.pop_front();
        }
    }

    fn algo_window_ns(&self) -> i64 {
        let secs = self.groups.algo_cfg.participation_window_secs;
        i64::try_from(secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX)
    }

    /// Lots traded on `inst` over the participation window, up to now.
    fn window_volume(&self, inst: InstrumentId) -> i64 {
        let window = self.algo_window_ns();
        let now = self.now.0;
        self.groups.volume.get(inst.index()).map_or(0, |v| {
            v.iter()
                .filter(|(at, _)| now.saturating_sub(*at) <= window)
                .map(|(_, q)| *q)
                .fold(0i64, i64::saturating_add)
        })
    }

    /// A person asked for a parent order worked by an algorithm.
    pub(super) fn algo_command(&mut self, a: AlgoOrder, out: &mut Vec<Effect>) {
        if let Err(why) = self.start_algo(a, Owner::Manual, out) {
            let text = format!("algo refused: {why}");
            self.alert_kind(AlertLevel::Warn, "operator", "refused:algo", text, out);
        }
    }

    fn start_algo(
        &mut self,
        a: AlgoOrder,
        owner: Owner,
        out: &mut Vec<Effect>,
    ) -> Result<u64, String> {
        let spec = a.order.spec;
        let i = spec.instrument.index();
        let Some(inst) = self.instruments.get(i) else {
            return Err("unknown instrument".into());
        };
        if !self.may_place_manual(spec.reduce_only) {
            return Err(format!("{} allows reduce-only orders only", self.state));
        }
        if self.groups.algos.len() >= self.groups.algo_cfg.max_open {
            return Err(format!(
                "{} algorithms are working (algos.max_open)",
                self.groups.algos.len()
            ));
        }
        if spec.qty < inst.min_qty || !spec.qty.is_positive() {
            return Err(format!(
                "size {} is below the minimum {}",
                inst.fmt_qty(spec.qty),
                inst.fmt_qty(inst.min_qty)
            ));
        }
        let cfg = &self.groups.algo_cfg;
        let slices = a.slices.unwrap_or(cfg.slices);
        let duration = a.duration_secs.unwrap_or(cfg.duration_secs);
        if slices == 0 || duration == 0 {
            return Err("slices and duration must be at least 1".into());
        }
        // No more slices than minimum orders in the size.
        let most = (spec.qty.0 / inst.min_qty.0.max(1)).max(1);
        let slices = slices.min(u32::try_from(most).unwrap_or(u32::MAX));
        let interval_ns = i64::try_from(duration.saturating_mul(1_000_000_000) / u64::from(slices))
            .unwrap_or(i64::MAX);
        let id = self.groups.next_id();
        let algo = Algo {
            id,
            kind: a.kind,
            owner,
            instrument: spec.instrument,
            side: spec.side,
            qty: spec.qty,
            limit: spec.price.filter(|_| spec.kind == OrderKind::Limit),
            reduce_only: spec.reduce_only,
            filled: Qty::ZERO,
            slices,
            done_slices: 0,
            started: self.now,
            interval_ns,
            next_at: self.now,
            children: Vec::new(),
            skipped: 0,
            ending: false,
        };
        let cap = self.groups.algo_cfg.participation_cap;
        let text = format!(
            "algo {} {} ({owner}): {} {} {} in {slices} slices over {duration}s{}{}",
            algo.name(),
            a.kind.as_str(),
            spec.side,
            inst.fmt_qty(spec.qty),
            inst.symbol,
            algo.limit
                .map_or(String::new(), |p| format!(", limit {}", inst.fmt_price(p))),
            if cap.is_zero() {
                String::new()
            } else {
                format!(
                    ", each at most {}% of the last {}s volume",
                    (cap * Decimal::ONE_HUNDRED).normalize(),
                    self.groups.algo_cfg.participation_window_secs
                )
            }
        );
        out.push(Effect::Algo {
            id,
            algo: Some(Box::new(algo.clone())),
        });
        self.groups.algos.insert(id, algo);
        self.alert(AlertLevel::Info, "algo", text, out);
        self.run_algos(out);
        Ok(id)
    }

    /// The schedule: every algorithm whose next slice (or end) is due acts now.
    pub(super) fn run_algos(&mut self, out: &mut Vec<Effect>) {
        if self.groups.algos.is_empty() {
            return;
        }
        let due: Vec<u64> = self
            .groups
            .algos
            .values()
            .filter(|a| a.next_at <= self.now && !a.ending)
            .map(|a| a.id)
            .collect();
        for id in due {
            self.algo_step(id, out);
        }
    }

    fn algo_step(&mut self, id: u64, out: &mut Vec<Effect>) {
        let Some(a) = self.groups.algos.get(&id) else {
            return;
        };
        // A resting child of the last slice makes way for this one (its unfilled size
        // returns to the parent once its cancel is confirmed).
        for c in a.children.clone() {
            self.cancel_if_working(&c, out);
        }
        let Some(a) = self.groups.algos.get_mut(&id) else {
            return;
        };
        if a.done_slices >= a.slices {
            a.ending = true;
            if a.children.is_empty() {
                self.end_algo(id, out);
            }
            return;
        }
        a.done_slices += 1;
        a.next_at = Timestamp(
            a.started
                .0
                .saturating_add(a.interval_ns.saturating_mul(i64::from(a.done_slices))),
        );
        if let Err(why) = self.send_slice(id, out)
            && let Some(a) = self.groups.algos.get_mut(&id)
        {
            a.skipped += 1;
            let text = format!(
                "algo {} slice {}/{} skipped: {why}",
                a.name(),
                a.done_slices,
                a.slices
            );
            self.alert_kind(AlertLevel::Info, "algo", "algo:skipped", text, out);
        }
    }

    /// Send one slice's children. `Err`: why nothing was sent.
    fn send_slice(&mut self, id: u64, out: &mut Vec<Effect>) -> Result<(), String> {
        let Some(a) = self.groups.algos.get(&id) else {
            return Ok(());
        };
        let allowed = match a.owner {
            Owner::Manual => self.may_place_manual(a.reduce_only),
            _ => self.may_place(a.reduce_only),
        };
        if !allowed || self.shutting_down {
            return Err(format!("{} holds its new orders", self.state));
        }
        let i = a.instrument.index();
        let inst = &self.instruments[i];
        // What is neither filled nor working (a child being cancelled may still fill).
        let working: i64 = a
            .children
            .iter()
            .filter_map(|c| self.open_orders.get(c))
            .map(|o| o.remaining().0)
            .sum();
        let unscheduled = a.remaining().0.saturating_sub(working);
        if unscheduled <= 0 {
            return Err("the rest is working".into());
        }
        let left = i64::from(a.slices - a.done_slices + 1);
        let lot = inst.min_qty.0.max(1);
        // Even shares of what is left, at least one minimum order.
        let mut size = ((unscheduled + left - 1) / left).max(lot).min(unscheduled);
        let cap = self.groups.algo_cfg.participation_cap;
        if cap > Decimal::ZERO {
            let vol = self.window_volume(a.instrument);
            let allowed = (Decimal::from(vol) * cap)
                .floor()
                .to_i64()
                .unwrap_or(i64::MAX);
            if allowed < size {
                size = allowed;
            }
            if size < lot {
                return Err(format!(
                    "participation cap: {} traded over the last {}s allows {} (the minimum order is {})",
                    inst.fmt_qty(Qty(vol)),
                    self.groups.algo_cfg.participation_window_secs,
                    inst.fmt_qty(Qty(allowed.max(0))),
                    inst.fmt_qty(inst.min_qty)
                ));
            }
        }
        let book = &self.books[i];
        let (touch, near) = match a.side {
            Side::Buy => (book.best_ask(), book.best_bid()),
            Side::Sell => (book.best_bid(), book.best_ask()),
        };
        let Some(touch) = touch.map(|l| l.price) else {
            return Err("no touch to take".into());
        };
        let beyond = |p: Price| match (a.side, a.limit) {
            (Side::Buy, Some(l)) => p > l,
            (Side::Sell, Some(l)) => p < l,
            (_, None) => false,
        };
        if beyond(touch) {
            return Err(format!(
                "the touch {} is beyond the limit",
                inst.fmt_price(touch)
            ));
        }
        let (ioc, passive) = match a.kind {
            AlgoKind::Twap => (size, 0),
            AlgoKind::VwapSplit => {
                let pct = i64::from(self.groups.algo_cfg.split_ioc_pct);
                let ioc = size * pct / 100;
                let passive = size - ioc;
                if passive < lot {
                    (size, 0)
                } else if ioc < lot {
                    (0, size)
                } else {
                    (ioc, passive)
                }
            }
        };
        // One tick inside the spread (at our own touch when the spread is one tick).
        let inside = near.map(|l| match a.side {
            Side::Buy => Price(l.price.0 + 1).min(Price(touch.0 - 1)).max(l.price),
            Side::Sell => Price(l.price.0 - 1).max(Price(touch.0 + 1)).min(l.price),
        });
        let passive_price = inside.map(|p| match (a.side, a.limit) {
            (Side::Buy, Some(l)) => p.min(l),
            (Side::Sell, Some(l)) => p.max(l),
            _ => p,
        });
        let mut sent = 0;
        let mut children = Vec::new();
        if ioc > 0 {
            children.push((touch, Qty(ioc), TimeInForce::Ioc));
        }
        if passive > 0 {
            // No near side to step inside of: the passive part goes at the touch too.
            match passive_price {
                Some(p) => children.push((p, Qty(passive), TimeInForce::Gtc)),
                None => children.push((touch, Qty(passive), TimeInForce::Ioc)),
            }
        }
        let (owner, instrument, side, reduce_only) = (a.owner, a.instrument, a.side, a.reduce_only);
        for (price, qty, tif) in children {
            let req = OrderRequest {
                client_id: self.next_id(owner),
                spec: OrderSpec {
                    instrument,
                    side,
                    kind: OrderKind::Limit,
                    price: Some(price),
                    qty,
                    tif,
                    reduce_only,
                },
                owner,
                tag: match owner {
                    Owner::Strategy(_) => OrderTag::Strategy,
                    _ => OrderTag::Manual,
                },
            };
            let group = OrderGroup {
                id,
                role: GroupRole::Child,
            };
            if let Some(c) = self.place_with(req, None, Some(group), out) {
                sent += 1;
                if let Some(a) = self.groups.algos.get_mut(&id) {
                    a.children.push(c);
                }
            }
        }
        if sent == 0 {
            return Err("its children were refused (see the refusal)".into());
        }
        Ok(())
    }

    pub(super) fn algo_on_fill(&mut self, id: u64, fill: &Fill, out: &mut Vec<Effect>) {
        if let Some(a) = self.groups.algos.get_mut(&id) {
            a.filled = (a.filled + fill.qty).min(a.qty);
            // The store keeps what filled: a restart says how far the parent got.
            out.push(Effect::Algo {
                id,
                algo: Some(Box::new(a.clone())),
            });
        }
    }

    pub(super) fn algo_on_closed(&mut self, id: u64, order: &Order, out: &mut Vec<Effect>) {
        let Some(a) = self.groups.algos.get_mut(&id) else {
            return;
        };
        a.children.retain(|c| c != order.id());
        if a.children.is_empty() && (a.ending || a.remaining().is_zero()) {
            self.end_algo(id, out);
        }
    }

    /// The parent is done: its schedule ran out or it filled. Says how much was done.
    fn end_algo(&mut self, id: u64, out: &mut Vec<Effect>) {
        let Some(a) = self.remove_algo(id, out) else {
            return;
        };
        let inst = &self.instruments[a.instrument.index()];
        let text = format!(
            "algo {} {} done: {} of {} {} filled{}",
            a.name(),
            a.kind.as_str(),
            inst.fmt_qty(a.filled),
            inst.fmt_qty(a.qty),
            inst.symbol,
            if a.skipped > 0 {
                format!(" ({} of {} slices skipped)", a.skipped, a.slices)
            } else {
                String::new()
            }
        );
        let level = if a.remaining().is_zero() {
            AlertLevel::Info
        } else {
            AlertLevel::Warn
        };
        self.alert(level, "algo", text, out);
    }

    /// Take parent `id` out (the store forgets it) and cancel its working children.
    fn remove_algo(&mut self, id: u64, out: &mut Vec<Effect>) -> Option<Algo> {
        let a = self.groups.algos.remove(&id)?;
        out.push(Effect::Algo { id, algo: None });
        for c in &a.children {
            self.cancel_if_working(c, out);
        }
        Some(a)
    }

    /// Stop a parent now: its children are cancelled, no more slices.
    pub(super) fn drop_algo(&mut self, id: u64, why: &str, out: &mut Vec<Effect>) {
        let Some(a) = self.remove_algo(id, out) else {
            return;
        };
        let inst = &self.instruments[a.instrument.index()];
        let text = format!(
            "algo {} {} stopped ({why}): {} of {} {} filled, children cancelled",
            a.name(),
            a.kind.as_str(),
            inst.fmt_qty(a.filled),
            inst.fmt_qty(a.qty),
            inst.symbol,
        );
        self.alert(AlertLevel::Info, "algo", text, out);
    }
}
