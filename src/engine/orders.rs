//! Orders: the trading-state gates, client ids, running every order through the risk
//! engine (and previewing the verdict), cancels, and the venue's execution reports that
//! move orders through their states until they close.

use super::commands::manual_request;
use super::risk::RiskCtx;
use super::{AlertLevel, Effect, Engine, ManualOrder, OrderPreview};
use crate::domain::{ClientOrderId, ExecReport, Order, OrderRequest, Owner, Side, TradingState};
use crate::strategy::OrderIntent;
use rust_decimal::Decimal;

/// Account figures for one risk check, computed before the check borrows the engine.
struct RiskFigures {
    /// Open orders of the account (less the one a modify replaces).
    open_orders: usize,
    position: Decimal,
    open_buy: Decimal,
    open_sell: Decimal,
    open_on_instrument: usize,
    day_pnl: Decimal,
    drawdown: Decimal,
}

/// Build a [`RiskCtx`] from the engine's fields (a macro, so the borrow stays on the
/// fields and `self.risk` can still be borrowed mutably).
macro_rules! risk_ctx {
    ($e:ident, $f:ident, $req:expr) => {{
        let i = $req.spec.instrument.index();
        RiskCtx {
            now: $e.now,
            instrument: &$e.instruments[i],
            book: &$e.books[i],
            last_book_update: $e.last_book_update[i],
            position: $f.position,
            open_buy_qty: $f.open_buy,
            open_sell_qty: $f.open_sell,
            open_orders: $f.open_orders,
            open_on_instrument: $f.open_on_instrument,
            venue_rules: &$e.venue_rules[i],
            duplicate_id: $e.used_ids.contains(&$req.client_id),
            day_pnl: $f.day_pnl,
            drawdown: $f.drawdown,
            session: super::session::now_of(&$e.sessions, $req.spec.instrument),
        }
    }};
}

/// Whether working order `o` is the aged-position manager's resting close, which gives
/// way to the new reduce-only exit `req` of someone else (it is cancelled when that exit
/// is approved). Only a resting limit can give way: a market or IOC close in flight may
/// fill before any cancel lands, so it keeps counting against the position (else both
/// exits fill: a double close).
pub(super) fn yields_to(o: &Order, req: &OrderRequest) -> bool {
    use crate::domain::{OrderKind, OrderTag, TimeInForce};
    o.req.spec.reduce_only
        && o.req.tag == OrderTag::AgedPosition
        && o.req.spec.kind == OrderKind::Limit
        && matches!(o.req.spec.tif, TimeInForce::Gtc | TimeInForce::PostOnly)
        && req.spec.reduce_only
        && req.tag != OrderTag::AgedPosition
}

impl Engine {
    /// Whether a strategy order may be placed in the current trading state: PAUSED and
    /// REDUCING let its reduce-only exits through; HALTED nothing (only cancels, and the
    /// exits a person asks for, leave a halted engine).
    pub(super) fn may_place(&self, reduce_only: bool) -> bool {
        match self.state {
            TradingState::Active => true,
            TradingState::Paused | TradingState::Reducing => reduce_only,
            TradingState::Halted => false,
        }
    }

    /// Whether a manual order may be placed: PAUSED holds only the strategies, so a person
    /// can still trade by hand (to hedge, say); REDUCING and HALTED allow exits only (a
    /// manual reduce-only order is an exit the operator asked for explicitly).
    pub(super) fn may_place_manual(&self, reduce_only: bool) -> bool {
        match self.state {
            TradingState::Paused => true,
            TradingState::Halted => reduce_only,
            _ => self.may_place(reduce_only),
        }
    }

    pub(super) fn next_id(&mut self, owner: Owner) -> ClientOrderId {
        self.next_order_no += 1;
        let id = match owner {
            Owner::Strategy(s) => format!("S{}-{}", u16::from(s) + 1, self.next_order_no),
            Owner::Manual => format!("M-{}", self.next_order_no),
            Owner::System => format!("X-{}", self.next_order_no),
        };
        ClientOrderId(id.into())
    }

    pub(super) fn request_from_intent(&mut self, owner: Owner, oi: OrderIntent) -> OrderRequest {
        OrderRequest {
            client_id: self.next_id(owner),
            spec: oi.spec,
            owner,
            tag: oi.tag,
        }
    }

    /// The numbers the risk engine needs about an order's instrument and the account.
    fn risk_figures(&self, req: &OrderRequest) -> RiskFigures {
        self.risk_figures_without(req, None)
    }

    /// [`Engine::risk_figures`] as if the open order `except` were gone (a modify's
    /// replacement takes the place of the order it replaces).
    fn risk_figures_without(
        &self,
        req: &OrderRequest,
        except: Option<&ClientOrderId>,
    ) -> RiskFigures {
        let i = req.spec.instrument.index();
        let inst = &self.instruments[i];
        // Summed in lots (integers, wide enough for any number of orders) and converted to
        // the instrument's units once: this runs for every order the engine places, over
        // every open order, and a decimal multiplication per open order made an order storm
        // against a thousand resting orders the engine's main cost.
        let (mut buy_lots, mut sell_lots, mut reduce_net_lots) = (0i128, 0i128, 0i128);
        let mut open_on_instrument = 0;
        let mut open_orders = 0;
        for o in self.open_orders.values() {
            if Some(o.id()) == except {
                continue;
            }
            open_orders += 1;
            if o.req.spec.instrument != req.spec.instrument {
                continue;
            }
            open_on_instrument += 1;
            // What a new reduce-only order may still reduce: the position less the
            // reduce-only orders already working on it, so two exits never close one
            // position twice. Exits whose cancel is in flight do not count: the venue caps
            // every reduce-only order at its own position, so even if one still fills the
            // two cannot flip it.
            if o.req.spec.reduce_only && o.cancel_pending {
                continue;
            }
            // The aged-position manager's close yields to any other exit: it is cancelled
            // when that exit is approved (`Engine::aged_yield`), so it counts as a cancel
            // in flight.
            if yields_to(o, req) {
                continue;
            }
            let rem = i128::from(o.remaining().0);
            match (o.req.spec.reduce_only, o.req.spec.side) {
                (false, Side::Buy) => buy_lots += rem,
                (false, Side::Sell) => sell_lots += rem,
                (true, Side::Buy) => reduce_net_lots += rem,
                (true, Side::Sell) => reduce_net_lots -= rem,
            }
        }
        let open_buy = inst.lots_to_units(buy_lots);
        let open_sell = inst.lots_to_units(sell_lots);
        let reducible = self.positions[i].qty + inst.lots_to_units(reduce_net_lots);
        RiskFigures {
            open_orders,
            position: if req.spec.reduce_only {
                reducible
            } else {
                self.positions[i].qty
            },
            open_buy,
            open_sell,
            open_on_instrument,
            day_pnl: self.day_pnl(),
            drawdown: self.drawdown(),
        }
    }

    /// The risk verdict on a manual order without sending it (the console's order form).
    pub(super) fn preview(&mut self, m: ManualOrder) {
        let verdict = self.manual_verdict(&m, None);
        self.order_preview = Some(OrderPreview {
            order: m,
            verdict,
            replaces: None,
        });
    }

    /// The preview's verdict again, on the market and the account as they are now (the
    /// form's verdict follows the market, and a cooldown that ended no longer shows).
    /// Called when the view is published; decides nothing.
    pub(super) fn refresh_preview(&mut self) {
        if let Some(mut p) = self.order_preview.take() {
            p.verdict = match (&p.replaces, p.order.spec.price) {
                (None, _) => self.manual_verdict(&p.order, None),
                (Some(id), Some(price)) => self
                    .modify_verdict(&super::ModifyOrder {
                        id: id.clone(),
                        price,
                        qty: p.order.spec.qty,
                    })
                    .map(|_| ()),
                (Some(_), None) => Err("a modify needs a limit price".to_string()),
            };
            self.order_preview = Some(p);
        }
    }

    /// What the engine would answer to this manual order now, in the order it asks: the
    /// instrument, the trading state, the trading gate, a resyncing book, then every risk
    /// check ([`super::risk::RiskEngine::evaluate`], the venue's filters included). A dry
    /// run: nothing changes.
    /// `except`: the open order a modify's replacement takes the place of (not counted).
    pub(super) fn manual_verdict(
        &self,
        m: &ManualOrder,
        except: Option<&ClientOrderId>,
    ) -> Result<(), String> {
        let i = m.spec.instrument.index();
        if i >= self.instruments.len() {
            return Err("unknown instrument".to_string());
        }
        if !self.may_place_manual(m.spec.reduce_only) {
            return Err(format!("{} allows reduce-only orders only", self.state));
        }
        if !m.spec.reduce_only && !self.gate.is_open() {
            return Err("the trading gate is closed: only reduce-only exits pass".to_string());
        }
        if self.resyncing[i] && !m.spec.reduce_only {
            let symbol = &self.instruments[i].symbol;
            return Err(format!(
                "{symbol} is RESYNCING: no new orders until a fresh snapshot"
            ));
        }
        let req = manual_request(m, ClientOrderId::new("preview"));
        let figures = self.risk_figures_without(&req, except);
        let ctx = risk_ctx!(self, figures, &req);
        self.risk.evaluate(&req, &ctx).map_err(|r| r.to_string())
    }

    /// Run an order through risk; on approval record it and emit it. Returns its id.
    pub(super) fn place(
        &mut self,
        req: OrderRequest,
        out: &mut Vec<Effect>,
    ) -> Option<ClientOrderId> {
        self.place_as(req, None, out)
    }

    /// [`Engine::place`], for the replacement of a modify: the new order names the one it
    /// replaces.
    pub(super) fn place_as(
        &mut self,
        req: OrderRequest,
        replaces: Option<ClientOrderId>,
        out: &mut Vec<Effect>,
    ) -> Option<ClientOrderId> {
        self.place_with(req, replaces, None, out)
    }

    /// [`Engine::place_as`], for an order of a group (a bracket's entry or leg, an
    /// algorithm's child): the order carries its place in the group from its first record.
    pub(super) fn place_with(
        &mut self,
        req: OrderRequest,
        replaces: Option<ClientOrderId>,
        group: Option<crate::domain::OrderGroup>,
        out: &mut Vec<Effect>,
    ) -> Option<ClientOrderId> {
        let i = req.spec.instrument.index();
        if i >= self.instruments.len() {
            let text = format!("order {} refused: unknown instrument", req.client_id);
            self.alert(AlertLevel::Warn, "risk", text, out);
            return None;
        }
        if self.resyncing[i] && !req.spec.reduce_only {
            // The book is not to be trusted until a fresh snapshot: no new exposure on it.
            let text = format!(
                "refused {} {} {}: {} is RESYNCING, no new orders until a fresh snapshot",
                req.spec.side,
                self.instruments[i].fmt_qty(req.spec.qty),
                self.instruments[i].symbol,
                self.instruments[i].symbol
            );
            let source = format!("risk/{}", req.owner);
            let (now, mid) = (self.now, self.mid_of(req.spec.instrument));
            let reason = format!("{} is RESYNCING", self.instruments[i].symbol);
            self.blotter.refused(&req, reason, now, mid);
            self.alert_kind(AlertLevel::Warn, &source, "refused:resyncing", text, out);
            return None;
        }
        let figures = self.risk_figures(&req);
        let ctx = risk_ctx!(self, figures, &req);
        match self.risk.check(req, &ctx) {
            Ok(approved) => {
                if approved.spec.reduce_only
                    && approved.tag != crate::domain::OrderTag::AgedPosition
                {
                    self.aged_yield(approved.spec.instrument, out);
                }
                let id = approved.client_id.clone();
                self.used_ids.insert(id.clone());
                let mut order = Order::new((*approved).clone(), self.now);
                order.replaces = replaces;
                order.group = group;
                self.open_orders.insert(id.clone(), order);
                self.orders_sent += 1;
                if let Some(o) = self.open_orders.get(&id) {
                    out.push(Effect::OrderUpdate(o.clone()));
                }
                out.push(Effect::Submit(approved));
                Some(id)
            }
            Err(refused) => {
                let r = &refused.req;
                let inst = &self.instruments[i];
                let price = r.spec.price.map(|p| format!(" @ {}", inst.fmt_price(p)));
                let text = format!(
                    "refused {} {} {}{}: {}",
                    r.spec.side,
                    inst.fmt_qty(r.spec.qty),
                    inst.symbol,
                    price.unwrap_or_default(),
                    refused.reason
                );
                let source = format!("risk/{}", r.owner);
                let kind = format!("refused:{}", refused.reason.code());
                let (now, mid) = (self.now, self.mid_of(r.spec.instrument));
                self.blotter
                    .refused(r, refused.reason.to_string(), now, mid);
                self.alert_kind(AlertLevel::Warn, &source, &kind, text, out);
                None
            }
        }
    }

    pub(super) fn request_cancel(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        if let Some(o) = self.open_orders.get_mut(id)
            && !o.cancel_pending
        {
            o.cancel_pending = true;
            out.push(Effect::Cancel(id.clone()));
        }
    }

    pub(super) fn cancel_where(
        &mut self,
        pred: impl Fn(&Order) -> bool,
        out: &mut Vec<Effect>,
    ) -> u32 {
        let ids: Vec<ClientOrderId> = self
            .open_orders
            .values()
            .filter(|o| pred(o))
            .map(|o| o.id().clone())
            .collect();
        for id in &ids {
            self.request_cancel(id, out);
        }
        ids.len() as u32
    }

    pub(super) fn on_exec(&mut self, report: ExecReport, out: &mut Vec<Effect>) {
        match report {
            ExecReport::Accepted {
                id, queue_ahead, ..
            } => {
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let acked =
                        o.status == crate::domain::OrderStatus::New && o.on_ack(self.now).is_ok();
                    o.queue_ahead = queue_ahead;
                    if acked {
                        out.push(Effect::OrderUpdate(o.clone()));
                    }
                }
            }
            ExecReport::Rejected { id, reason, .. } => {
                let now = self.now;
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let result = o.on_reject(&reason, now);
                    out.push(Effect::OrderUpdate(o.clone()));
                    // Repeats of one owner's rejections for one reason fold into one
                    // counted row (a quoting strategy racing the book, say): the order id
                    // differs every time, the reason does not. Per purpose too (a refused
                    // exit or stop is not one more refused quote), and never a person's:
                    // each manual order is its own row (its text names the order).
                    let kind = if o.req.owner == Owner::Manual {
                        String::new()
                    } else {
                        format!("rejected:{}:{:?}:{reason}", o.req.owner, o.req.tag)
                    };
                    if let Err(e) = result {
                        let text = e.to_string();
                        self.alert(AlertLevel::Warn, "venue", text, out);
                    }
                    let text = format!("order {id} rejected by venue: {reason}");
                    self.alert_kind(AlertLevel::Warn, "venue", &kind, text, out);
                    self.close_order(&id, out);
                }
            }
            ExecReport::Cancelled { id, .. } => {
                let now = self.now;
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let _ = o.on_cancel(now);
                    out.push(Effect::OrderUpdate(o.clone()));
                    let modified = o.modify_to.map(|to| (o.clone(), to));
                    self.close_order(&id, out);
                    if let Some((old, to)) = modified {
                        self.replace_after_cancel(&old, to, out);
                    }
                }
            }
            ExecReport::CancelRejected { id, reason, .. } => {
                self.bracket_cancel_rejected(&id, &reason, out);
                if let Some(o) = self.open_orders.get_mut(&id) {
                    o.cancel_pending = false;
                    if o.modify_to.take().is_some() {
                        out.push(Effect::OrderUpdate(o.clone()));
                        let text = format!(
                            "modify of {id} failed: the venue refused its cancel ({reason}); the order works as it was"
                        );
                        self.alert(AlertLevel::Warn, "operator", text, out);
                    } else if self.kill_targets.contains(&id) {
                        let text = format!(
                            "kill switch: cancel of {id} failed ({reason}); the order may still work: retrying"
                        );
                        self.alert(AlertLevel::Critical, "kill-switch", text, out);
                    } else {
                        let text = format!("cancel of {id} refused: {reason}");
                        self.alert(AlertLevel::Warn, "venue", text, out);
                    }
                }
            }
            ExecReport::Filled(fill) => self.on_fill(fill, false, out),
            ExecReport::EarlierRunFill(fill) => self.on_fill(fill, true, out),
        }
    }

    /// Move a terminal order out of the open set, tell its strategy, count kill progress.
    pub(super) fn close_order(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        let Some(order) = self.open_orders.remove(id) else {
            return;
        };
        self.resolve_kill_target(&order, out);
        if order.modify_to.is_some() && order.status == crate::domain::OrderStatus::Filled {
            let text = format!(
                "modify of {}: filled in full before its cancel landed; nothing replaced",
                order.id()
            );
            self.alert(AlertLevel::Info, "operator", text, out);
        }
        if let Owner::Strategy(s) = order.req.owner {
            self.call_strategy(s, out, |st, ctx, buf| st.on_order_closed(ctx, &order, buf));
        }
        if order.req.tag == crate::domain::OrderTag::AgedPosition {
            self.aged_order_closed(&order);
        }
        self.group_on_closed(&order, out);
        self.closed_orders.push_back(order);
        while self.closed_orders.len() > self.cfg.closed_orders_len {
            self.closed_orders.pop_front();
        }
    }
}
