//! The trades tape: time, price, size, aggressor side; most recent first. Wide panes show
//! every instrument with its symbol; narrow ones the selected instrument only, and shorten
//! the time and the side word (to `B▲` / `S▼`) as needed.

use crate::app::Pane;
use crate::domain::Side;
use crate::ui::theme::Role;
use crate::ui::{App, lpad, pane_block, rpad};
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
    let w = inner.width as usize;
    let price_w = view
        .tape
        .iter()
        .filter_map(|(id, tt)| app.instrument(*id).map(|i| i.fmt_price(tt.price).len()))
        .max()
        .unwrap_or(5)
        .max(5);
    let size_w = view
        .tape
        .iter()
        .filter_map(|(id, tt)| app.instrument(*id).map(|i| i.fmt_qty(tt.qty).len()))
        .max()
        .unwrap_or(4)
        .max(4);
    // (time width, symbol column, side width), richest first.
    let layouts = [(12, true, 5), (12, false, 5), (8, false, 5), (8, false, 2)];
    let (time_w, show_symbol, side_w) = layouts
        .into_iter()
        .find(|(tw, sym, sw)| {
            let multi = *sym && view.markets.len() > 1;
            tw + 1 + usize::from(multi) * 8 + price_w + 1 + size_w + 1 + sw <= w
        })
        .unwrap_or((8, false, 2));
    let show_symbol = show_symbol && view.markets.len() > 1;
    let selected = app
        .market()
        .and_then(|m| m.instrument.as_ref())
        .map(|i| i.id);
    let mut lines = Vec::with_capacity(rows + 1);
    lines.push(Line::styled(
        format!(
            "{}{}{} {} {}",
            lpad("time", time_w + 1),
            if show_symbol { "sym     " } else { "" },
            rpad("price", price_w),
            rpad("size", size_w),
            "side"
        ),
        t.style(Role::Header),
    ));
    let ticks = view
        .tape
        .iter()
        .rev()
        .filter(|(id, _)| show_symbol || Some(*id) == selected)
        .take(rows);
    let mut any = false;
    for (id, tick) in ticks {
        let Some(inst) = app.instrument(*id) else {
            continue;
        };
        any = true;
        let (style, word) = match (tick.aggressor, side_w >= 5) {
            (Side::Buy, true) => (t.style(Role::Bid), "BUY ▲"),
            (Side::Sell, true) => (t.style(Role::Ask), "SELL▼"),
            (Side::Buy, false) => (t.style(Role::Bid), "B▲"),
            (Side::Sell, false) => (t.style(Role::Ask), "S▼"),
        };
        let time: String = tick.ts.hms_millis().chars().take(time_w).collect();
        let mut spans = vec![Span::styled(lpad(&time, time_w + 1), t.style(Role::Dim))];
        if show_symbol {
            spans.push(Span::styled(
                lpad(&inst.symbol.chars().take(7).collect::<String>(), 8),
                t.style(Role::Text),
            ));
        }
        spans.push(Span::styled(
            rpad(&inst.fmt_price(tick.price), price_w),
            style,
        ));
        spans.push(Span::styled(
            format!(" {}", rpad(&inst.fmt_qty(tick.qty), size_w)),
            t.style(Role::Text),
        ));
        spans.push(Span::styled(format!(" {word}"), style));
        lines.push(Line::from(spans));
    }
    if !any {
        lines.push(Line::styled("no trades yet", t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
