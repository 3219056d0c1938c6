//! The manual order form: its fields, the keys that edit it, the order it describes and
//! the verdict it shows before sending. The verdict is the engine's: the console asks
//! for it (a preview) whenever the form changes, and the engine answers with every check
//! it would run on the order (trading state, gate, a resyncing book, every risk check and
//! the venue's filters) and answers again with each view it publishes, so the verdict
//! follows the market. Until the first answer, and beside it, the console's own checks
//! (the same risk functions on the limits it was given) say what they can.
//!
//! The form also modifies a working manual order (`e` on the Orders pane): the same
//! form on that order's instrument and side, whose Enter sends a cancel/replace.

use crate::domain::OrderSpec;

use super::{App, AppEffect, fmt_dec, mid_price, take_visible};
use crate::domain::{
    ClientOrderId, Instrument, Order, OrderKind, Qty, Side, TimeInForce, TradingState,
};
use crate::engine::{
    AlgoKind, AlgoOrder, BracketLegs, BracketOrder, Command, ManualOrder, ModifyOrder,
    OrderPreview, risk,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rust_decimal::Decimal;

/// The manual order form's fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FormField {
    Instrument,
    Side,
    Qty,
    Price,
    /// A bracket's take-profit price (empty: none).
    TakeProfit,
    /// A bracket's stop-loss price (empty: none), held by the engine until it trades.
    StopLoss,
}

impl FormField {
    const ORDER: [FormField; 6] = [
        FormField::Instrument,
        FormField::Side,
        FormField::Qty,
        FormField::Price,
        FormField::TakeProfit,
        FormField::StopLoss,
    ];
    /// The next (or previous) field; a modify has no legs (its first four fields only).
    fn step(self, forward: bool, modify: bool) -> FormField {
        let n = if modify { 4 } else { FormField::ORDER.len() };
        let i = FormField::ORDER
            .iter()
            .position(|f| *f == self)
            .unwrap_or(0)
            % n;
        FormField::ORDER[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// The manual order form. An empty price means a market order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderForm {
    pub instrument: usize,
    pub side: Side,
    pub qty: String,
    pub price: String,
    pub field: FormField,
    /// Reduce-only: the order may only bring a position toward zero (`r` toggles it).
    pub reduce_only: bool,
    /// A bracket's take-profit and stop-loss prices (empty: none; either makes the
    /// order a bracket's entry).
    pub take_profit: String,
    pub stop_loss: String,
    /// Worked by an execution algorithm instead of sent at once (`a` cycles: none,
    /// TWAP, VWAP split); `[algos]` gives its slices and duration.
    pub algo: Option<AlgoKind>,
    /// Modifying this working manual order (cancel/replace) rather than sending a new
    /// one: the instrument, side and reduce-only stay the order's; the size is its new
    /// total (what filled counts toward it).
    pub modify: Option<ModifyTarget>,
    /// Shown after a refused Enter.
    pub error: Option<String>,
}

impl OrderForm {
    /// A take-profit or a stop-loss price is entered: Enter sends a bracket.
    pub fn has_legs(&self) -> bool {
        !self.take_profit.trim().is_empty() || !self.stop_loss.trim().is_empty()
    }
}

/// The working order a form modifies, as it was when the form opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifyTarget {
    pub id: ClientOrderId,
    pub filled: Qty,
}

/// One check of a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub text: String,
}

impl<T, R> App<T, R> {
    /// Returns whether the form stays open.
    pub(super) fn on_form_key(
        &mut self,
        form: &mut OrderForm,
        key: KeyEvent,
        out: &mut Vec<AppEffect>,
    ) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let n = self.view.markets.len().max(1);
        let before = form.clone();
        match key.code {
            KeyCode::Esc => {
                self.flash = Some("order form closed".into());
                return false;
            }
            KeyCode::Char('c') if ctrl => return false,
            KeyCode::Enter => match self.form_order(form) {
                Ok(order) => {
                    match (&form.modify, order.spec.price) {
                        (Some(m), Some(price)) => {
                            self.flash = Some(format!("modify {} sent", m.id));
                            out.push(AppEffect::Engine(Command::Modify(ModifyOrder {
                                id: m.id.clone(),
                                price,
                                qty: order.spec.qty,
                            })));
                        }
                        (Some(_), None) => {
                            form.error = Some("a working order keeps a limit price".into());
                            return true;
                        }
                        (None, _) if form.algo.is_some() || form.has_legs() => {
                            match self.form_group(form, order) {
                                Ok((cmd, flash)) => {
                                    self.flash = Some(flash);
                                    out.push(AppEffect::Engine(cmd));
                                }
                                Err(why) => {
                                    form.error = Some(why);
                                    return true;
                                }
                            }
                        }
                        (None, _) => {
                            self.flash = Some(format!(
                                "manual {}{} sent",
                                order.spec.side.as_str().to_ascii_lowercase(),
                                if order.spec.reduce_only {
                                    " reduce-only"
                                } else {
                                    ""
                                }
                            ));
                            out.push(AppEffect::Engine(Command::Manual(order)));
                        }
                    }
                    return false;
                }
                Err(why) => form.error = Some(why),
            },
            KeyCode::Char('r') if form.modify.is_none() => form.reduce_only = !form.reduce_only,
            KeyCode::Char('a') if form.modify.is_none() => {
                form.algo = match form.algo {
                    None => Some(AlgoKind::Twap),
                    Some(AlgoKind::Twap) => Some(AlgoKind::VwapSplit),
                    Some(AlgoKind::VwapSplit) => None,
                }
            }
            KeyCode::Tab | KeyCode::Down => {
                form.field = form.field.step(true, form.modify.is_some())
            }
            KeyCode::BackTab | KeyCode::Up => {
                form.field = form.field.step(false, form.modify.is_some())
            }
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')
                if matches!(form.field, FormField::Instrument | FormField::Side)
                    && form.modify.is_none() =>
            {
                let fwd = key.code != KeyCode::Left;
                if form.field == FormField::Instrument {
                    form.instrument = if fwd {
                        (form.instrument + 1) % n
                    } else {
                        (form.instrument + n - 1) % n
                    };
                } else {
                    form.side = form.side.opposite();
                }
            }
            KeyCode::Char('b') if form.field == FormField::Side && form.modify.is_none() => {
                form.side = Side::Buy
            }
            KeyCode::Char('s') if form.field == FormField::Side && form.modify.is_none() => {
                form.side = Side::Sell
            }
            KeyCode::Char('m') if form.field == FormField::Price && form.modify.is_none() => {
                form.price.clear()
            }
            KeyCode::Char(c @ ('0'..='9' | '.'))
                if !matches!(form.field, FormField::Instrument | FormField::Side) =>
            {
                let s = match form.field {
                    FormField::Qty => &mut form.qty,
                    FormField::TakeProfit => &mut form.take_profit,
                    FormField::StopLoss => &mut form.stop_loss,
                    _ => &mut form.price,
                };
                if s.len() < 24 {
                    s.push(c);
                }
            }
            KeyCode::Backspace => match form.field {
                FormField::Qty => {
                    form.qty.pop();
                }
                FormField::Price => {
                    form.price.pop();
                }
                FormField::TakeProfit => {
                    form.take_profit.pop();
                }
                FormField::StopLoss => {
                    form.stop_loss.pop();
                }
                _ => {}
            },
            _ => {}
        }
        // A change of the order (not merely a refusal shown) clears the refusal and asks
        // the engine again.
        let order_changed = OrderForm {
            error: None,
            ..form.clone()
        } != OrderForm {
            error: None,
            ..before
        };
        if order_changed {
            form.error = None;
            if let Some(e) = self.preview_effect(form) {
                out.push(e);
            }
        }
        true
    }

    /// Ask the engine for its risk verdict on a well-formed form; it publishes it as
    /// `view.order_preview`, which [`App::verdict_text`] shows.
    pub(super) fn preview_effect(&self, form: &OrderForm) -> Option<AppEffect> {
        let order = self.form_request(form).ok()?;
        Some(AppEffect::Engine(match (&form.modify, order.spec.price) {
            (Some(m), Some(price)) => Command::PreviewModify(ModifyOrder {
                id: m.id.clone(),
                price,
                qty: order.spec.qty,
            }),
            (Some(_), None) => return None,
            (None, _) => Command::Preview(order),
        }))
    }

    /// The form for modifying `o` (a working manual limit order): its price and its
    /// total size, to edit.
    pub(super) fn modify_form(&self, o: &Order) -> Result<OrderForm, String> {
        if o.req.owner != crate::domain::Owner::Manual {
            return Err(format!(
                "{} is {}'s order: only manual orders are modified here",
                o.id(),
                o.req.owner
            ));
        }
        let Some(price) = o
            .req
            .spec
            .price
            .filter(|_| o.req.spec.kind == OrderKind::Limit)
        else {
            return Err(format!("{} is a market order: nothing to modify", o.id()));
        };
        if o.modify_to.is_some() || o.cancel_pending {
            return Err(format!("{} is already being cancelled or modified", o.id()));
        }
        let inst = self
            .view
            .markets
            .get(o.req.spec.instrument.index())
            .and_then(|m| m.instrument.as_ref())
            .ok_or("instrument unknown")?;
        Ok(OrderForm {
            instrument: o.req.spec.instrument.index(),
            side: o.req.spec.side,
            qty: inst.fmt_qty(o.req.spec.qty),
            price: inst.fmt_price(price),
            field: FormField::Price,
            reduce_only: o.req.spec.reduce_only,
            take_profit: String::new(),
            stop_loss: String::new(),
            algo: None,
            modify: Some(ModifyTarget {
                id: o.id().clone(),
                filled: o.filled,
            }),
            error: None,
        })
    }

    /// The engine's published verdict on exactly this form's order, if it has one.
    fn engine_verdict(&self, form: &OrderForm, order: &ManualOrder) -> Option<Result<(), String>> {
        let replaces = form.modify.as_ref().map(|m| &m.id);
        self.view
            .order_preview
            .as_ref()
            .filter(|p: &&OrderPreview| p.order == *order && p.replaces.as_ref() == replaces)
            .map(|p| p.verdict.clone())
    }

    /// Whether the engine has answered for the form as it is now (the form's header
    /// says whose verdict it shows).
    pub fn engine_answered(&self, form: &OrderForm) -> bool {
        self.form_request(form)
            .is_ok_and(|o| self.engine_verdict(form, &o).is_some())
    }

    pub(super) fn new_form(&self, side: Side) -> OrderForm {
        let m = self.market();
        let inst = m.and_then(|m| m.instrument.as_ref());
        let qty = inst.map_or(String::new(), |i| i.fmt_qty(i.min_qty));
        // A passive default: our own side's best price.
        let touch = m.and_then(|m| match side {
            Side::Buy => m.bids.first(),
            Side::Sell => m.asks.first(),
        });
        let price = match (inst, touch) {
            (Some(i), Some(l)) => i.fmt_price(l.price),
            _ => String::new(),
        };
        OrderForm {
            instrument: self.instrument,
            side,
            qty,
            price,
            field: FormField::Qty,
            reduce_only: false,
            take_profit: String::new(),
            stop_loss: String::new(),
            algo: None,
            modify: None,
            error: None,
        }
    }

    /// The order Enter sends: the form's order ([`App::form_request`]) when the engine's
    /// verdict on it is yes, or, until the engine has answered, when every local check
    /// passes. Else why not (the engine's reason first).
    pub fn form_order(&self, form: &OrderForm) -> Result<ManualOrder, String> {
        let order = self.form_request(form)?;
        match self.engine_verdict(form, &order) {
            Some(Ok(())) => Ok(order),
            Some(Err(why)) => Err(format!("risk engine: {why}")),
            None => match self.local_checks(form).into_iter().find(|c| !c.ok) {
                Some(bad) => Err(bad.text),
                None => Ok(order),
            },
        }
    }

    /// The order a form describes (a size above zero on the lot grid, a price on the
    /// tick grid or none for a market order), whatever the limits say: what the engine
    /// is asked for its verdict on.
    pub fn form_request(&self, form: &OrderForm) -> Result<ManualOrder, String> {
        let first_bad = || {
            self.local_checks(form)
                .into_iter()
                .find(|c| !c.ok)
                .map_or_else(|| "bad order".to_string(), |c| c.text)
        };
        let inst = self.form_instrument(form).ok_or("no instrument")?;
        let qty = parse_dec(&form.qty)
            .filter(|d| *d > Decimal::ZERO)
            .and_then(|d| inst.qty_from_decimal(d).ok())
            .filter(|q| q.is_positive())
            .ok_or_else(first_bad)?;
        let price = if form.price.trim().is_empty() {
            None
        } else {
            Some(
                parse_dec(&form.price)
                    .filter(|d| *d > Decimal::ZERO)
                    .and_then(|d| inst.price_from_decimal(d).ok())
                    .ok_or_else(first_bad)?,
            )
        };
        Ok(ManualOrder {
            spec: OrderSpec {
                instrument: inst.id,
                side: form.side,
                kind: if price.is_some() {
                    OrderKind::Limit
                } else {
                    OrderKind::Market
                },
                price,
                qty,
                tif: if price.is_some() {
                    TimeInForce::Gtc
                } else {
                    TimeInForce::Ioc
                },
                reduce_only: form.reduce_only,
            },
            client_id: None,
        })
    }

    /// A bracket's or an algorithm's command for the form's order, and the flash that
    /// says it went; or why not (a leg price off the tick grid or on the wrong side).
    fn form_group(
        &self,
        form: &OrderForm,
        order: ManualOrder,
    ) -> Result<(Command, String), String> {
        if let Some(kind) = form.algo {
            if form.has_legs() {
                return Err("an algorithm's order has no bracket legs: clear TP and SL".into());
            }
            let flash = format!(
                "{} {} sent",
                kind.as_str(),
                order.spec.side.as_str().to_ascii_lowercase()
            );
            return Ok((
                Command::Algo(AlgoOrder {
                    kind,
                    order,
                    slices: None,
                    duration_secs: None,
                }),
                flash,
            ));
        }
        if order.spec.reduce_only {
            return Err("a bracket's entry cannot be reduce-only (r turns it off)".into());
        }
        let legs = self.form_legs(form, order.spec.price)?;
        let flash = format!(
            "bracket {} sent",
            order.spec.side.as_str().to_ascii_lowercase()
        );
        Ok((Command::Bracket(BracketOrder { order, legs }), flash))
    }

    /// The form's bracket legs, parsed on the tick grid and checked against the entry
    /// (`price`, or the mid for a market entry).
    fn form_legs(
        &self,
        form: &OrderForm,
        price: Option<crate::domain::Price>,
    ) -> Result<BracketLegs, String> {
        let inst = self.form_instrument(form).ok_or("no instrument")?;
        let leg = |name: &str, s: &str| -> Result<Option<crate::domain::Price>, String> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            parse_dec(s)
                .filter(|d| *d > Decimal::ZERO)
                .and_then(|d| inst.price_from_decimal(d).ok())
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "{name} {s} is not a price on the tick {}",
                        inst.tick_size.normalize()
                    )
                })
        };
        let legs = BracketLegs {
            take_profit: leg("take-profit", &form.take_profit)?,
            stop_loss: leg("stop-loss", &form.stop_loss)?,
        };
        let reference = price.or_else(|| {
            let m = self.view.markets.get(form.instrument)?;
            let (bid, ask) = (m.bids.first()?.price.0, m.asks.first()?.price.0);
            Some(crate::domain::Price((bid + ask) / 2))
        });
        crate::engine::brackets::check_legs(form.side, &legs, reference)?;
        Ok(legs)
    }

    fn form_instrument(&self, form: &OrderForm) -> Option<&Instrument> {
        self.view
            .markets
            .get(form.instrument)
            .and_then(|m| m.instrument.as_ref())
    }

    /// The verdict the form shows before confirming: the engine's risk verdict once the
    /// engine publishes one for this order (see [`App::preview_effect`]); until then the
    /// checks the console can do itself ([`App::local_checks`]).
    pub fn verdict_text(&self, form: &OrderForm) -> Vec<Check> {
        let mut out = Vec::new();
        if let Ok(order) = self.form_request(form) {
            // Until the engine answers (within a frame) only the local checks show.
            match self.engine_verdict(form, &order).as_ref() {
                Some(Ok(())) => out.push(Check {
                    ok: true,
                    text: "risk engine: approved".into(),
                }),
                Some(Err(why)) => out.push(Check {
                    ok: false,
                    text: format!("risk engine: {why}"),
                }),
                None => {}
            }
        }
        out.extend(self.local_checks(form));
        out
    }

    /// Local checks: size positive, on the lot grid and at least the minimum; price on the
    /// tick grid and inside the price band around the mid; market orders walk the book. The
    /// grids are the instrument's own conversions, the minimum and the band the risk
    /// engine's own checks, the walk the book's.
    pub fn local_checks(&self, form: &OrderForm) -> Vec<Check> {
        let mut out = Vec::new();
        let ok = |t: String| Check { ok: true, text: t };
        let bad = |t: String| Check { ok: false, text: t };
        let Some(market) = self.view.markets.get(form.instrument) else {
            return vec![bad("no such instrument".into())];
        };
        let Some(inst) = market.instrument.as_ref() else {
            return vec![bad("instrument unknown".into())];
        };
        let qty = match parse_dec(&form.qty) {
            None => {
                out.push(bad(format!("size '{}' is not a number", form.qty)));
                None
            }
            Some(d) if d <= Decimal::ZERO => {
                out.push(bad("size must be greater than 0".into()));
                None
            }
            Some(d) => match inst.qty_from_decimal(d) {
                Err(_) => {
                    out.push(bad(format!(
                        "size {d} is not a multiple of the lot {}",
                        inst.lot_size.normalize()
                    )));
                    None
                }
                Ok(q) if risk::order_size(q, inst).is_err() => {
                    out.push(bad(format!(
                        "size below the minimum {}",
                        inst.fmt_qty(inst.min_qty)
                    )));
                    None
                }
                Ok(q) => {
                    out.push(ok(format!("size {} on the lot grid", inst.fmt_qty(q))));
                    let max = self.limits.max_order_qty;
                    if risk::max_order_qty(inst.qty(q), max).is_err() {
                        out.push(bad(format!(
                            "size {} over max_order_qty {}",
                            inst.fmt_qty(q),
                            max.normalize()
                        )));
                    }
                    Some(q)
                }
            },
        };
        if let (Some(m), Some(q)) = (&form.modify, qty) {
            if q <= m.filled {
                out.push(bad(format!(
                    "new total size must be above the {} filled",
                    inst.fmt_qty(m.filled)
                )));
            } else if m.filled.is_positive() {
                out.push(ok(format!(
                    "{} filled stays with {}; the replacement is for {}",
                    inst.fmt_qty(m.filled),
                    m.id,
                    inst.fmt_qty(q.saturating_sub(m.filled))
                )));
            }
        }
        let max_notional = self.limits.max_order_notional;
        let mid = mid_price(market);
        if form.price.trim().is_empty() {
            // Market order: walk the opposite side.
            if let Some(q) = qty {
                let (cost, avg) = take_visible(market, inst, form.side, q);
                let unfilled = q - cost.filled;
                match avg {
                    Some(avg) if unfilled.is_zero() => {
                        out.push(ok(format!(
                            "market: est. avg {} worst {}",
                            fmt_dec(avg, inst.price_precision + 1),
                            cost.worst.map_or("-".into(), |p| inst.fmt_price(p))
                        )));
                        let notional = avg * inst.qty(q);
                        out.push(notional_check(notional, max_notional));
                    }
                    _ => out.push(bad(format!(
                        "market: visible book cannot fill {} ",
                        inst.fmt_qty(unfilled)
                    ))),
                }
            }
        } else {
            match parse_dec(&form.price) {
                None => out.push(bad(format!("price '{}' is not a number", form.price))),
                Some(d) if d <= Decimal::ZERO => {
                    out.push(bad("price must be greater than 0".into()))
                }
                Some(d) => match inst.price_from_decimal(d) {
                    Err(_) => out.push(bad(format!(
                        "price {d} is not on the tick {}",
                        inst.tick_size.normalize()
                    ))),
                    Ok(p) => {
                        out.push(ok(format!("price {} on the tick grid", inst.fmt_price(p))));
                        let band = self.limits.price_band_bps;
                        if let Some(mid) = mid
                            && !mid.is_zero()
                            && band > Decimal::ZERO
                        {
                            // The engine's own band check decides; the distance is for reading.
                            let off = ((inst.price(p) - mid).abs() / mid * Decimal::from(10_000))
                                .round_dp(1);
                            if risk::price_band(inst.price(p), mid, band, false).is_err() {
                                out.push(bad(format!("price {off} bps from mid, band {band} bps")));
                            } else {
                                out.push(ok(format!("price {off} bps from mid (band {band})")));
                            }
                        }
                        let crosses = match form.side {
                            Side::Buy => market.asks.first().is_some_and(|a| p >= a.price),
                            Side::Sell => market.bids.first().is_some_and(|b| p <= b.price),
                        };
                        if crosses {
                            out.push(ok("marketable: takes liquidity".into()));
                        }
                        if let Some(q) = qty {
                            out.push(notional_check(inst.notional(p, q), max_notional));
                        }
                    }
                },
            }
        }
        if self.view.trading_state == TradingState::Halted && !form.reduce_only {
            out.push(bad("HALTED: only reduce-only exits pass".into()));
        }
        if form.modify.is_none() && form.has_legs() {
            // The legs as Enter will send them (the engine checks them again).
            let price = parse_dec(&form.price).and_then(|d| inst.price_from_decimal(d).ok());
            out.push(match self.form_legs(form, price) {
                Ok(_) => ok("bracket: legs on the right sides of the entry".into()),
                Err(why) => bad(format!("bracket: {why}")),
            });
        }
        out
    }
}

/// The notional against `max_order_notional` (0: off), by the risk engine's own check.
fn notional_check(notional: Decimal, max: Decimal) -> Check {
    let text = fmt_dec(notional, 2);
    if risk::order_notional(notional, Decimal::ZERO, max).is_err() {
        Check {
            ok: false,
            text: format!(
                "notional {text} over max_order_notional {}",
                max.normalize()
            ),
        }
    } else if max > Decimal::ZERO {
        Check {
            ok: true,
            text: format!("notional {text} (max {})", max.normalize()),
        }
    } else {
        Check {
            ok: true,
            text: format!("notional {text}"),
        }
    }
}

fn parse_dec(s: &str) -> Option<Decimal> {
    s.trim().parse::<Decimal>().ok()
}
