//! Strategies: number, toggle key, name, state (ON/OFF/HELD), position, PnL, open orders,
//! last signal.

use crate::app::{Action, Pane};
use crate::ui::theme::Role;
use crate::ui::{App, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Strategies, " Strategies ");
    let view = app.view();
    if view.strategies.is_empty() {
        frame.render_widget(
            Paragraph::new("no strategies")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let rows: Vec<Row> = view
        .strategies
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let (state, style) = if !s.enabled {
                ("OFF", t.style(Role::Dim))
            } else if s.held {
                ("HELD", t.style(Role::Warning))
            } else {
                ("ON", t.style(Role::Profit))
            };
            let key = u8::try_from(n)
                .map(|n| app.keymap().keys_text(Action::ToggleStrategy(n)))
                .unwrap_or_default();
            let inst = s.instrument.and_then(|i| app.instrument(i));
            let qp = inst.map_or(4, |i| i.qty_precision);
            let mp = inst.map_or(app.money_dp(), |i| i.money_precision());
            Row::new(vec![
                Cell::from(format!("{}", n + 1)),
                Cell::from(key).style(t.style(Role::Dim)),
                Cell::from(s.name.clone()),
                Cell::from(state).style(style),
                Cell::from(signed(s.position, qp)),
                Cell::from(signed(s.pnl, mp)).style(pnl_style(app, s.pnl)),
                Cell::from(s.open_orders.to_string()),
                Cell::from(s.last_signal.clone().unwrap_or_else(|| "-".into()))
                    .style(t.style(Role::Dim)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(2),
        Constraint::Length(3),
        Constraint::Length(13),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Min(8),
    ];
    let header = Row::new([
        "#",
        "key",
        "name",
        "st",
        "pos",
        "PnL",
        "open",
        "last signal",
    ])
    .style(t.style(Role::Header));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}
