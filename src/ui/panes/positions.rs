//! Positions: instrument, side, size, average price, mark, unrealized and realized PnL.

use crate::app::{Pane, fmt_dec};
use crate::ui::theme::Role;
use crate::ui::{App, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Positions, " Positions ");
    let view = app.view();
    // Narrow panes drop the side word (the signed size still tells it), the mark and the
    // realized PnL.
    let narrow = block.inner(area).width < 56;
    let rows: Vec<Row> = view
        .positions
        .iter()
        .filter(|p| !p.position.is_flat() || !p.position.realized.is_zero())
        .filter_map(|p| {
            let inst = app.instrument(p.position.instrument)?;
            let pos = &p.position;
            let (side, side_style) = match pos.direction() {
                1 => ("LONG", t.style(Role::Bid)),
                -1 => ("SHORT", t.style(Role::Ask)),
                _ => ("FLAT", t.style(Role::Dim)),
            };
            let pp = inst.price_precision;
            let sym = Cell::from(inst.symbol.clone()).style(t.style(Role::Text));
            let qty = Cell::from(signed(pos.qty, inst.qty_precision)).style(side_style);
            let avg = Cell::from(if pos.is_flat() {
                "-".to_string()
            } else {
                fmt_dec(pos.avg_price, pp + 1)
            });
            let upnl = Cell::from(signed(p.unrealized, inst.money_precision()))
                .style(pnl_style(app, p.unrealized));
            Some(Row::new(if narrow {
                vec![sym, qty, avg, upnl]
            } else {
                vec![
                    sym,
                    Cell::from(side).style(side_style),
                    qty,
                    avg,
                    if p.mark_stale {
                        // Shown by word too (NO_COLOR): the book is not trusted.
                        Cell::from(format!(
                            "{} stale",
                            p.mark.map_or("-".to_string(), |m| fmt_dec(m, pp + 1))
                        ))
                        .style(t.style(Role::Warning))
                    } else {
                        Cell::from(p.mark.map_or("-".to_string(), |m| fmt_dec(m, pp + 1)))
                    },
                    upnl,
                    Cell::from(signed(pos.realized, inst.money_precision()))
                        .style(pnl_style(app, pos.realized)),
                ]
            }))
        })
        .collect();
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("flat: no positions")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let (widths, header): (Vec<Constraint>, Vec<&str>) = if narrow {
        (
            [7, 8, 9, 8].map(Constraint::Length).to_vec(),
            vec!["sym", "qty", "avg", "uPnL"],
        )
    } else {
        (
            [7, 5, 7, 9, 9, 8, 8].map(Constraint::Length).to_vec(),
            vec!["sym", "side", "qty", "avg", "mark", "uPnL", "rPnL"],
        )
    };
    let header = Row::new(header).style(t.style(Role::Header));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}
