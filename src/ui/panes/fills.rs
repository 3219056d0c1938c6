//! Fills (the blotter): our fills, newest first: time, instrument, side, size, price, fee,
//! liquidity (maker/taker), owner (a strategy, manual, system) and slippage per unit
//! against the mid when the order was sent (`+` a cost, `-` an improvement). Columns are
//! sized to their widest value and dropped whole on a narrow pane, never cut.

use crate::app::Pane;
use crate::domain::{Liquidity, Side};
use crate::ui::theme::Role;
use crate::ui::{App, FitTable, pane_block, signed};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Paragraph, Row, Table};

/// Column headers, and how much each matters when the pane is narrow (lowest dropped
/// first): side, size and price stay longest.
const HEAD: [&str; 9] = [
    "time", "sym", "side", "qty", "price", "fee", "liq", "owner", "slip",
];
const PRIORITY: [u8; 9] = [8, 6, 10, 10, 10, 5, 3, 4, 7];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    // The session's fills (the engine's count; the pane keeps the latest of them).
    let total = view.health.fills.max(view.fills.len() as u64);
    let title = format!(" Fills ({total}) ");
    let block = pane_block(app, Pane::Fills, title);
    if view.fills.is_empty() {
        frame.render_widget(
            Paragraph::new("no fills yet")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    let visible = inner.height.saturating_sub(1) as usize;
    let texts: Vec<[(String, Style); 9]> = view
        .fills
        .iter()
        .rev()
        .skip(app.fill_scroll())
        .take(visible)
        .map(|r| {
            let f = &r.fill;
            let inst = app.instrument(f.instrument);
            let text = t.style(Role::Text);
            let (side_style, side) = match f.side {
                Side::Buy => (t.style(Role::Bid), "BUY"),
                Side::Sell => (t.style(Role::Ask), "SELL"),
            };
            let (sym, qty, price, fee, slip) = match inst {
                Some(i) => {
                    let px = i.price(f.price);
                    let slip = r
                        .slippage(px)
                        .map_or("-".to_string(), |s| signed(s, i.price_precision + 1));
                    (
                        i.symbol.clone(),
                        i.fmt_qty(f.qty),
                        i.fmt_price(f.price),
                        crate::app::fmt_dec(f.fee, i.money_precision()),
                        slip,
                    )
                }
                None => (
                    "?".to_string(),
                    f.qty.0.to_string(),
                    f.price.0.to_string(),
                    f.fee.to_string(),
                    "-".to_string(),
                ),
            };
            let slip_style = match slip.chars().next() {
                Some('+') => t.style(Role::Loss),
                Some('-') if slip.len() > 1 => t.style(Role::Profit),
                _ => text,
            };
            let liq = match f.liquidity {
                Liquidity::Maker => "maker",
                Liquidity::Taker => "taker",
            };
            let owner = r.owner.map_or("?".to_string(), |o| o.to_string());
            [
                (f.ts.hms_millis(), t.style(Role::Dim)),
                (sym, text),
                (side.to_string(), side_style),
                (qty, text),
                (price, side_style),
                (fee, text),
                (liq.to_string(), text),
                (owner, text),
                (slip, slip_style),
            ]
        })
        .collect();
    let fit = FitTable::new(
        &HEAD,
        texts.iter().map(|r| &r[..]),
        &PRIORITY,
        inner.width as usize,
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
