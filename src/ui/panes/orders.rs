//! Open orders: id, owner, side, price, qty, filled, age, status. The selected order is
//! marked with `▶` (and highlighted); `x` cancels it.

use crate::app::Pane;
use crate::domain::{OrderKind, Side};
use crate::ui::theme::Role;
use crate::ui::{App, pane_block, short_duration};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

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
    let rows: Vec<Row> = orders
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
            if o.cancel_pending {
                status.push_str(" cxl…");
            }
            let mark = if Some(i) == selected { "▶" } else { " " };
            let row = Row::new(vec![
                Cell::from(mark),
                Cell::from(o.req.client_id.as_str().to_string()),
                Cell::from(o.req.owner.to_string()),
                Cell::from(inst.map_or("?".to_string(), |i| i.symbol.clone())),
                Cell::from(side).style(side_style),
                Cell::from(price).style(side_style),
                Cell::from(qty(o.req.spec.qty)),
                Cell::from(qty(o.filled)),
                Cell::from(short_duration(view.now.since(o.created))),
                Cell::from(status).style(if o.cancel_pending {
                    t.style(Role::Warning)
                } else {
                    t.style(Role::Text)
                }),
            ]);
            if Some(i) == selected && app.focus() == Pane::Orders {
                row.style(t.style(Role::Selected))
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(12),
    ];
    let header = Row::new([
        "", "id", "owner", "sym", "side", "price", "qty", "filled", "age", "status",
    ])
    .style(t.style(Role::Header));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
        &mut state,
    );
}
