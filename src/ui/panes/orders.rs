//! Open orders: id, owner, side, price, qty, filled, age, status. The selected order is
//! marked with `▶` (and highlighted); `x` cancels it, `e` modifies it (a manual one). A
//! modify shows as one action: the old order's status says where it is going
//! (`ACKED mod→60010.0 0.003`) until its cancel lands, then the replacement names it
//! (`ACKED ←M-3`).

use crate::app::Pane;
use crate::domain::{OrderKind, Side};
use crate::ui::theme::Role;
use crate::ui::{App, FitTable, pane_block, short_duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Row, Table, TableState};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let orders = app.orders_sorted();
    let block = pane_block(app, Pane::Orders, format!(" Orders ({}) ", orders.len()));
    if orders.is_empty() {
        frame.render_widget(
            Paragraph::new("no open orders")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let selected = app.selected_order_index();
    // Every cell's text first, so each column is as wide as its widest text; on a narrow
    // pane whole columns go (age, owner, id, filled, sym ...), never part of a number.
    let head = [
        "", "id", "owner", "sym", "side", "price", "qty", "filled", "age", "status",
    ];
    let priority = [10, 3, 4, 6, 10, 10, 9, 5, 2, 8];
    let texts: Vec<[(String, ratatui::style::Style); 10]> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let inst = app.instrument(o.req.spec.instrument);
            let (side_style, side) = match o.req.spec.side {
                Side::Buy => (t.style(Role::Bid), "BUY"),
                Side::Sell => (t.style(Role::Ask), "SELL"),
            };
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
            let mark = if Some(i) == selected { "▶" } else { " " };
            let text = t.style(Role::Text);
            [
                (mark.to_string(), text),
                (o.req.client_id.as_str().to_string(), text),
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
        })
        .collect();
    let fit = FitTable::new(
        &head,
        texts.iter().map(|r| &r[..]),
        &priority,
        block.inner(area).width as usize,
    );
    let rows: Vec<Row> = texts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let row = Row::new(fit.cells(r));
            if Some(i) == selected && app.focus() == Pane::Orders {
                row.style(t.style(Role::Selected))
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(fit.header()).style(t.style(Role::Header));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(
        Table::new(rows, fit.widths())
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
        &mut state,
    );
}
