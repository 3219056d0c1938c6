//! The manual order form: its fields, the keys that edit it, the order it describes and
//! the verdict it shows before sending (the engine's risk verdict once published, and the
//! checks the console can do itself).

use crate::domain::OrderSpec;

use super::{App, AppEffect, fmt_dec, mid_price, take_visible};
use crate::domain::{Instrument, OrderKind, Side, TimeInForce, TradingState};
use crate::engine::{Command, ManualOrder, risk};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rust_decimal::Decimal;

/// The manual order form's fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FormField {
    Instrument,
    Side,
    Qty,
    Price,
}

impl FormField {
    const ORDER: [FormField; 4] = [
        FormField::Instrument,
        FormField::Side,
        FormField::Qty,
        FormField::Price,
    ];
    fn step(self, forward: bool) -> FormField {
        let i = FormField::ORDER
            .iter()
            .position(|f| *f == self)
            .unwrap_or(0);
        FormField::ORDER[if forward { (i + 1) % 4 } else { (i + 3) % 4 }]
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
    /// Shown after a refused Enter.
    pub error: Option<String>,
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
                    self.flash = Some(format!(
                        "manual {} sent",
                        order.spec.side.as_str().to_ascii_lowercase()
                    ));
                    out.push(AppEffect::Engine(Command::Manual(order)));
                    return false;
                }
                Err(why) => form.error = Some(why),
            },
            KeyCode::Tab | KeyCode::Down => form.field = form.field.step(true),
            KeyCode::BackTab | KeyCode::Up => form.field = form.field.step(false),
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')
                if matches!(form.field, FormField::Instrument | FormField::Side) =>
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
            KeyCode::Char('b') if form.field == FormField::Side => form.side = Side::Buy,
            KeyCode::Char('s') if form.field == FormField::Side => form.side = Side::Sell,
            KeyCode::Char('m') if form.field == FormField::Price => form.price.clear(),
            KeyCode::Char(c @ ('0'..='9' | '.'))
                if matches!(form.field, FormField::Qty | FormField::Price) =>
            {
                let s = if form.field == FormField::Qty {
                    &mut form.qty
                } else {
                    &mut form.price
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
                _ => {}
            },
            _ => {}
        }
        if *form != before {
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
        self.form_order(form)
            .ok()
            .map(|o| AppEffect::Engine(Command::Preview(o)))
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
            error: None,
        }
    }

    /// The order a form describes, when every local check passes.
    pub fn form_order(&self, form: &OrderForm) -> Result<ManualOrder, String> {
        let checks = self.local_checks(form);
        if let Some(bad) = checks.iter().find(|c| !c.ok) {
            return Err(bad.text.clone());
        }
        let inst = self.form_instrument(form).ok_or("no instrument")?;
        let qty = parse_dec(&form.qty)
            .and_then(|d| inst.qty_from_decimal(d).ok())
            .ok_or("bad size")?;
        let price = if form.price.trim().is_empty() {
            None
        } else {
            Some(
                parse_dec(&form.price)
                    .and_then(|d| inst.price_from_decimal(d).ok())
                    .ok_or("bad price")?,
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
                reduce_only: false,
            },
            client_id: None,
        })
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
        if let Ok(order) = self.form_order(form) {
            let engine = self
                .view
                .order_preview
                .as_ref()
                .filter(|p| p.order == order);
            // Until the engine answers (within a frame) only the local checks show.
            match engine.map(|p| &p.verdict) {
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
                    Some(q)
                }
            },
        };
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
                        if let (Some(band), Some(mid)) = (self.price_band_bps, mid)
                            && !mid.is_zero()
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
                            out.push(ok(format!("notional {}", fmt_dec(inst.notional(p, q), 2))));
                        }
                    }
                },
            }
        }
        if self.view.trading_state == TradingState::Halted {
            out.push(bad("HALTED: only reduce-only exits pass".into()));
        }
        out
    }
}

fn parse_dec(s: &str) -> Option<Decimal> {
    s.trim().parse::<Decimal>().ok()
}
