//! Modify a working manual limit order (its price, its size) as cancel/replace, the one
//! way every venue supports: the cancel is sent first, and the replacement only once the
//! venue confirms it, so the two never work at once. The new size is the order's total:
//! what filled before the cancel landed (also a fill between the request and the
//! confirmation) stays with the old order and counts toward it, so the replacement
//! carries only the rest and no part is accounted twice. The replacement goes through
//! risk like any order; its `replaces` names the old one, whose `modify_to` says where it
//! is going while the cancel is on its way (the orders pane and the order history show
//! the pair as one action). The execution port sees an ordinary cancel and an ordinary
//! order: paper and live alike.
//!
//! Why not the venue's own cancel-replace: Binance spot has one (`POST
//! /api/v3/order/cancelReplace`, "Cancels an existing order and places a new order on the
//! same symbol", with `cancelReplaceMode=STOP_ON_FAILURE`; see
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#cancel-an-existing-order-and-send-a-new-order-trade>),
//! but the new order's size is fixed when it is sent, before the venue knows what the
//! cancel will meet: a fill landing in between would be bought again. Cancel first,
//! replace after the confirmation, sizes the replacement on what really filled, and
//! works the same on every venue.

use super::commands::manual_request;
use super::{AlertLevel, Effect, Engine, ManualOrder, ModifyOrder, OrderPreview};
use crate::domain::{ModifyTo, Order, OrderKind, OrderRequest, OrderSpec, Owner};

impl Engine {
    /// The replacement a modify would send now (its size: the new total less what
    /// filled), after every check the engine will run on it, or why not.
    pub(super) fn modify_verdict(&self, m: &ModifyOrder) -> Result<OrderSpec, String> {
        let id = &m.id;
        let Some(o) = self.open_orders.get(id) else {
            return Err(format!("{id} is not a working order"));
        };
        if o.req.owner != Owner::Manual {
            return Err(format!(
                "{id} is {}'s order: a strategy's orders are its own (cancel it, or switch the strategy off)",
                o.req.owner
            ));
        }
        if let Some(g) = &o.group {
            // A cancel/replace would take the order out of its group: a bracket's entry
            // replaced without its legs, a take-profit whose cancel ends the bracket and
            // its held stop, an algorithm's child sent again beside the parent's next
            // slice. The group is worked as a whole: cancelled with x, placed anew.
            return Err(format!(
                "{id} belongs to {}: its orders are worked together and not modified one by one (x cancels the group)",
                g.name()
            ));
        }
        if o.req.spec.kind != OrderKind::Limit {
            return Err(format!("{id} is a market order: nothing rests to modify"));
        }
        if o.modify_to.is_some() {
            return Err(format!("{id} is already being modified"));
        }
        if o.cancel_pending {
            return Err(format!("{id} is being cancelled"));
        }
        let inst = &self.instruments[o.req.spec.instrument.index()];
        if m.qty <= o.filled {
            return Err(format!(
                "new size {} is not above the {} already filled",
                inst.fmt_qty(m.qty),
                inst.fmt_qty(o.filled)
            ));
        }
        if o.req.spec.price == Some(m.price) && o.req.spec.qty == m.qty {
            return Err("same price and size: nothing to modify".to_string());
        }
        let spec = replacement_spec(o, m.price, m.qty);
        let order = ManualOrder {
            spec,
            client_id: None,
        };
        self.manual_verdict(&order, Some(id))?;
        Ok(spec)
    }

    /// The form's verdict on a modify (refreshed with the view, as a new order's is).
    pub(super) fn preview_modify(&mut self, m: ModifyOrder) {
        let verdict = self.modify_verdict(&m).map(|_| ());
        let spec = match self.open_orders.get(&m.id) {
            Some(o) => OrderSpec {
                price: Some(m.price),
                qty: m.qty,
                ..o.req.spec
            },
            None => {
                self.order_preview = None;
                return;
            }
        };
        self.order_preview = Some(OrderPreview {
            order: ManualOrder {
                spec,
                client_id: None,
            },
            verdict,
            replaces: Some(m.id),
        });
    }

    /// Start a modify: check the replacement as it would go now, then send the cancel.
    /// A refused modify changes nothing (the order keeps working).
    pub(super) fn modify_order(&mut self, m: ModifyOrder, out: &mut Vec<Effect>) {
        if let Err(why) = self.modify_verdict(&m) {
            let text = format!("modify of {} refused: {why}", m.id);
            self.alert_kind(AlertLevel::Warn, "operator", "refused:modify", text, out);
            return;
        }
        let Some(o) = self.open_orders.get_mut(&m.id) else {
            return;
        };
        o.modify_to = Some(ModifyTo {
            price: m.price,
            qty: m.qty,
        });
        let inst = &self.instruments[o.req.spec.instrument.index()];
        let text = format!(
            "modify {}: {} {} → {} {}: cancel sent, the replacement follows its confirmation",
            m.id,
            o.req.spec.price.map_or("MKT".into(), |p| inst.fmt_price(p)),
            inst.fmt_qty(o.req.spec.qty),
            inst.fmt_price(m.price),
            inst.fmt_qty(m.qty),
        );
        out.push(Effect::OrderUpdate(o.clone()));
        self.request_cancel(&m.id, out);
        self.alert(AlertLevel::Info, "operator", text, out);
    }

    /// The venue confirmed the cancel of a modified order: send its replacement for what
    /// is left of the new size, if the engine still allows it.
    pub(super) fn replace_after_cancel(
        &mut self,
        old: &Order,
        to: ModifyTo,
        out: &mut Vec<Effect>,
    ) {
        let inst = self.instruments[old.req.spec.instrument.index()].clone();
        let rest = to.qty.saturating_sub(old.filled);
        if !rest.is_positive() {
            let text = format!(
                "modify of {}: {} filled before its cancel landed, the new size {} is reached; nothing replaced",
                old.id(),
                inst.fmt_qty(old.filled),
                inst.fmt_qty(to.qty)
            );
            self.alert(AlertLevel::Info, "operator", text, out);
            return;
        }
        let spec = replacement_spec(old, to.price, to.qty);
        if self.shutting_down || !self.may_place_manual(spec.reduce_only) {
            let text = format!(
                "modify of {}: cancelled; its replacement was not sent ({})",
                old.id(),
                if self.shutting_down {
                    "shutting down".to_string()
                } else {
                    format!("{} allows reduce-only orders only", self.state)
                }
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        let req = OrderRequest {
            client_id: self.next_id(Owner::Manual),
            ..manual_request(
                &ManualOrder {
                    spec,
                    client_id: None,
                },
                old.id().clone(),
            )
        };
        let filled = inst.fmt_qty(old.filled);
        let price = inst.fmt_price(to.price);
        let size = inst.fmt_qty(rest);
        match self.place_as(req, Some(old.id().clone()), out) {
            Some(new) => {
                let mut text = format!("modified {} → {new}: {size} @ {price} working", old.id());
                if old.filled.is_positive() {
                    text.push_str(&format!(" ({filled} filled stays with {})", old.id()));
                }
                self.alert(AlertLevel::Info, "operator", text, out);
            }
            None => {
                let text = format!(
                    "modify of {}: cancelled, but its replacement was refused (see the refusal)",
                    old.id()
                );
                self.alert(AlertLevel::Warn, "operator", text, out);
            }
        }
    }
}

/// The replacement of `old` at `price` for a new total size `qty`: the rest after what
/// filled, on the same instrument and side, with the same time in force and reduce-only.
fn replacement_spec(
    old: &Order,
    price: crate::domain::Price,
    qty: crate::domain::Qty,
) -> OrderSpec {
    OrderSpec {
        price: Some(price),
        qty: qty.saturating_sub(old.filled),
        ..old.req.spec
    }
}
