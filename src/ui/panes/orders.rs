//! Open orders: id, owner, side, price, qty, filled, age, status. The selected order is
//! marked with `▶` (and highlighted); `x` cancels it, `e` modifies it (a manual one). A
//! modify shows as one action: the old order's status says where it is going
//! (`ACKED mod→60010.0 0.003`) until its cancel lands, then the replacement names it
//! (`ACKED ←M-3`).
//!
//! Groups sit together under a row of their own: a bracket (`B1 bracket`: its entry, its
//! take-profit leg and its stop-loss leg, which the engine holds until it fires: `└ SL
//! held ≤59990.0`), an execution algorithm (`A2 TWAP 3/10`: the parent, its size and
//! what filled, then its children). `x` on a group's row, or on any of its orders,
//! cancels the whole group.

use crate::app::{OrderRowRef, Pane};
use crate::domain::{GroupRole, OrderKind, Side};
use crate::ui::theme::Role;
use crate::ui::{App, FitTable, pane_block, short_duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Row, Table, TableState};

type Cells = [(String, ratatui::style::Style); 10];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let mut title = format!(" Orders ({}", view.open_orders.len());
    if !view.brackets.is_empty() {
        title.push_str(&format!(", {} bracket", view.brackets.len()));
        if view.brackets.len() > 1 {
            title.push('s');
        }
    }
    if !view.algos.is_empty() {
        title.push_str(&format!(", {} algo", view.algos.len()));
        if view.algos.len() > 1 {
            title.push('s');
        }
    }
    title.push_str(") ");
    let block = pane_block(app, Pane::Orders, title);
    if view.open_orders.is_empty() && view.brackets.is_empty() && view.algos.is_empty() {
        frame.render_widget(
            Paragraph::new("no open orders")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let selected = app.selected_row_index();
    let text = t.style(Role::Text);
    let dim = t.style(Role::Dim);
    let side_cell = |side: Side| match side {
        Side::Buy => (t.style(Role::Bid), "BUY"),
        Side::Sell => (t.style(Role::Ask), "SELL"),
    };
    // Every cell's text first, so each column is as wide as its widest text; on a narrow
    // pane whole columns go (age, owner, id, filled, sym ...), never part of a number.
    let head = [
        "", "id", "owner", "sym", "side", "price", "qty", "filled", "age", "status",
    ];
    let priority = [10, 3, 4, 6, 10, 10, 9, 5, 2, 8];
    let order_cells = |i: usize, o: &crate::domain::Order, indent: bool| -> Cells {
        let inst = app.instrument(o.req.spec.instrument);
        let (side_style, side) = side_cell(o.req.spec.side);
        let price = match (o.req.spec.kind, o.req.spec.price, inst) {
            (OrderKind::Market, _, _) | (_, None, _) => "MKT".to_string(),
            (_, Some(p), Some(inst)) => inst.fmt_price(p),
            (_, Some(p), None) => p.to_string(),
        };
        let qty = |q| inst.map_or(format!("{q}"), |i| i.fmt_qty(q));
        let mut status = o.status.as_str().to_string();
        if let Some(to) = o.modify_to {
            // A modify (cancel/replace) under way: where the order is going.
            let to_price = inst.map_or(to.price.0.to_string(), |i| i.fmt_price(to.price));
            status.push_str(&format!(" mod→{to_price} {}", qty(to.qty)));
        } else if o.cancel_pending {
            status.push_str(" cxl…");
        }
        if let Some(old) = &o.replaces {
            // The replacement of a modify: the order it replaced.
            status.push_str(&format!(" ←{old}"));
        }
        let id = match (indent, o.group) {
            (true, Some(g)) => format!("└ {} {}", g.role_str(), o.req.client_id),
            (false, Some(g)) => format!("{} {} {}", g.name(), g.role_str(), o.req.client_id),
            _ => o.req.client_id.as_str().to_string(),
        };
        let mark = if Some(i) == selected { "▶" } else { " " };
        [
            (mark.to_string(), text),
            (id, text),
            (o.req.owner.to_string(), text),
            (inst.map_or("?".to_string(), |i| i.symbol.clone()), text),
            (side.to_string(), side_style),
            (price, side_style),
            (qty(o.req.spec.qty), text),
            (qty(o.filled), text),
            (short_duration(view.now.since(o.created)), text),
            (
                status,
                if o.cancel_pending {
                    t.style(Role::Warning)
                } else {
                    text
                },
            ),
        ]
    };
    // (the row's index among the selectable rows, or none for a held stop's; its cells)
    let rows_ref = app.order_rows();
    let mut rows_text: Vec<(Option<usize>, Cells)> = Vec::new();
    let mark = |i: usize| {
        if Some(i) == selected {
            "▶".to_string()
        } else {
            " ".to_string()
        }
    };
    for (i, row) in rows_ref.iter().enumerate() {
        match *row {
            OrderRowRef::Order(o) => {
                let grouped = o.group.is_some_and(|g| app.group_working(g));
                rows_text.push((Some(i), order_cells(i, o, grouped)));
            }
            OrderRowRef::Bracket(b) => {
                let inst = app.instrument(b.instrument);
                let fp = |p: Option<crate::domain::Price>| {
                    p.map(|p| inst.map_or(p.0.to_string(), |i| i.fmt_price(p)))
                };
                let qty = |q| inst.map_or(format!("{q}"), |i| i.fmt_qty(q));
                let (side_style, side) = side_cell(b.side);
                rows_text.push((
                    Some(i),
                    [
                        (mark(i), text),
                        (format!("{} bracket", b.name()), t.style(Role::Header)),
                        (b.owner.to_string(), text),
                        (inst.map_or("?".to_string(), |i| i.symbol.clone()), text),
                        (side.to_string(), side_style),
                        (
                            fp(b.legs.take_profit).map_or("no TP".into(), |p| format!("TP {p}")),
                            side_style,
                        ),
                        (qty(b.entry_qty), text),
                        (qty(b.entry_filled), text),
                        (short_duration(view.now.since(b.created)), text),
                        (format!("{} open {}", b.state.as_str(), qty(b.open())), text),
                    ],
                ));
            }
            OrderRowRef::Algo(a) => {
                let inst = app.instrument(a.instrument);
                let qty = |q| inst.map_or(format!("{q}"), |i| i.fmt_qty(q));
                let (side_style, side) = side_cell(a.side);
                let next_in = if a.ending {
                    "ending".to_string()
                } else {
                    format!("next {}", short_duration(a.next_at.since(view.now)))
                };
                rows_text.push((
                    Some(i),
                    [
                        (mark(i), text),
                        (
                            format!("{} {}", a.name(), a.kind.as_str()),
                            t.style(Role::Header),
                        ),
                        (a.owner.to_string(), text),
                        (inst.map_or("?".to_string(), |i| i.symbol.clone()), text),
                        (side.to_string(), side_style),
                        (
                            a.limit.map_or("MKT".into(), |p| {
                                inst.map_or(p.0.to_string(), |i| i.fmt_price(p))
                            }),
                            side_style,
                        ),
                        (qty(a.qty), text),
                        (qty(a.filled), text),
                        (short_duration(view.now.since(a.started)), text),
                        (
                            format!("slice {}/{} {next_in}", a.done_slices, a.slices),
                            text,
                        ),
                    ],
                ));
            }
        }
        // A bracket's held stop-loss leg: after the bracket's last order.
        let bracket = match *row {
            OrderRowRef::Bracket(b) => Some(b),
            OrderRowRef::Order(o) => o
                .group
                .filter(|g| g.role != GroupRole::Child)
                .and_then(|g| view.brackets.iter().find(|b| b.id == g.id)),
            OrderRowRef::Algo(_) => None,
        };
        let last_of_bracket = bracket.filter(|b| match rows_ref.get(i + 1) {
            Some(OrderRowRef::Order(next)) => !next
                .group
                .is_some_and(|g| g.id == b.id && g.role != GroupRole::Child),
            _ => true,
        });
        if let Some(b) = last_of_bracket {
            let inst = app.instrument(b.instrument);
            let Some(stop) = b
                .legs
                .stop_loss
                .map(|p| inst.map_or(p.0.to_string(), |i| i.fmt_price(p)))
            else {
                continue;
            };
            let qty = |q| inst.map_or(format!("{q}"), |i| i.fmt_qty(q));
            let exit = b.side.opposite();
            let (style, side) = side_cell(exit);
            let through = if exit == Side::Sell { "≤" } else { "≥" };
            let status = match (b.state, &b.sl) {
                (_, Some(id)) => format!("SENT {id}"),
                (crate::engine::BracketState::Stopping, None) => "TRIGGERED".to_string(),
                _ => "HELD by pit".to_string(),
            };
            rows_text.push((
                None,
                [
                    (" ".into(), text),
                    ("└ SL held".into(), dim),
                    (b.owner.to_string(), dim),
                    (inst.map_or("?".to_string(), |i| i.symbol.clone()), dim),
                    (side.to_string(), style),
                    (format!("{through}{stop}"), style),
                    (qty(b.open()), dim),
                    (String::new(), dim),
                    (String::new(), dim),
                    (status, t.style(Role::Warning)),
                ],
            ));
        }
    }
    let fit = FitTable::new(
        &head,
        rows_text.iter().map(|(_, r)| &r[..]),
        &priority,
        block.inner(area).width as usize,
    );
    let selected_row = selected.and_then(|s| rows_text.iter().position(|(i, _)| *i == Some(s)));
    let rows: Vec<Row> = rows_text
        .iter()
        .enumerate()
        .map(|(i, (_, r))| {
            let row = Row::new(fit.cells(r));
            if Some(i) == selected_row && app.focus() == Pane::Orders {
                row.style(t.style(Role::Selected))
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(fit.header()).style(t.style(Role::Header));
    let mut state = TableState::default().with_selected(selected_row);
    frame.render_stateful_widget(
        Table::new(rows, fit.widths())
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
        &mut state,
    );
}
