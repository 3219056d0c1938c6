//! Positions: instrument, side, size, average price, mark, unrealized and realized PnL.

use crate::app::{Pane, fmt_dec};
use crate::ui::theme::Role;
use crate::ui::{App, FitTable, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Positions, " Positions ");
    let view = app.view();
    // Each column as wide as its widest text; a narrow pane drops whole columns (the
    // side word first: the signed size still tells it; then the realized PnL, the mark),
    // never part of a number.
    let head = ["sym", "side", "qty", "avg", "mark", "uPnL", "rPnL"];
    let priority = [10, 3, 10, 8, 6, 9, 5];
    type Cells = [(String, ratatui::style::Style); 7];
    let texts: Vec<Cells> = view
        .positions
        .iter()
        .filter(|p| !p.position.is_flat() || !p.position.realized.is_zero())
        .filter_map(|p| {
            let inst = app.instrument(p.position.instrument)?;
            let pos = &p.position;
            let (side, side_style) = match pos.direction() {
                // Below the venue's minimum: nothing can close it (`engine/dust.rs`).
                _ if p.dust => ("DUST", t.style(Role::Dim)),
                1 => ("LONG", t.style(Role::Bid)),
                -1 => ("SHORT", t.style(Role::Ask)),
                _ => ("FLAT", t.style(Role::Dim)),
            };
            let pp = inst.price_precision;
            let mp = inst.money_precision();
            let text = t.style(Role::Text);
            let mark = p.mark.map_or("-".to_string(), |m| fmt_dec(m, pp + 1));
            Some([
                (inst.symbol.clone(), text),
                (side.to_string(), side_style),
                (signed(pos.qty, inst.qty_precision), side_style),
                (
                    if pos.is_flat() {
                        "-".to_string()
                    } else {
                        fmt_dec(pos.avg_price, pp + 1)
                    },
                    text,
                ),
                if p.mark_stale {
                    // Shown by word too (NO_COLOR): the book is not trusted.
                    (format!("{mark} stale"), t.style(Role::Warning))
                } else {
                    (mark, text)
                },
                (signed(p.unrealized, mp), pnl_style(app, p.unrealized)),
                (signed(pos.realized, mp), pnl_style(app, pos.realized)),
            ])
        })
        .collect();
    if texts.is_empty() {
        frame.render_widget(
            Paragraph::new("flat: no positions")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let fit = FitTable::new(
        &head,
        texts.iter().map(|r| &r[..]),
        &priority,
        block.inner(area).width as usize,
    );
    let rows: Vec<Row> = texts.iter().map(|r| Row::new(fit.cells(r))).collect();
    let header = Row::new(fit.header()).style(t.style(Role::Header));
    frame.render_widget(
        Table::new(rows, fit.widths())
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}
