//! The trades tape: time, price, size, aggressor side; most recent first.

use crate::app::{App, Pane};
use crate::domain::Side;
use crate::ui::theme::Role;
use crate::ui::{pane_block, rpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Tape, " Trades ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let view = app.view();
    let rows = (inner.height as usize).saturating_sub(1);
    let show_symbol = view.markets.len() > 1 && inner.width >= 38;
    let mut lines = Vec::with_capacity(rows + 1);
    lines.push(Line::styled(
        format!(
            "{:<12}{}{:>10} {:>8} side",
            "time",
            if show_symbol { "sym     " } else { "" },
            "price",
            "size"
        ),
        t.style(Role::Header),
    ));
    for (id, tick) in view.tape.iter().rev().take(rows) {
        let Some(inst) = app.instrument(*id) else {
            continue;
        };
        let (style, word) = match tick.aggressor {
            Side::Buy => (t.style(Role::Bid), "BUY ▲"),
            Side::Sell => (t.style(Role::Ask), "SELL▼"),
        };
        let mut spans = vec![Span::styled(
            format!("{:<12}", tick.ts.hms_millis()),
            t.style(Role::Dim),
        )];
        if show_symbol {
            spans.push(Span::styled(
                format!("{:<8}", inst.symbol.chars().take(7).collect::<String>()),
                t.style(Role::Text),
            ));
        }
        spans.push(Span::styled(rpad(&inst.fmt_price(tick.price), 10), style));
        spans.push(Span::styled(
            format!(" {}", rpad(&inst.fmt_qty(tick.qty), 8)),
            t.style(Role::Text),
        ));
        spans.push(Span::styled(format!(" {word}"), style));
        lines.push(Line::from(spans));
    }
    if view.tape.is_empty() {
        lines.push(Line::styled("no trades yet", t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
