//! The manual order form: instrument, side, size, limit price (empty = market), and the
//! verdict shown before Enter sends it.

use super::centered;
use crate::app::{FormField, OrderForm};
use crate::domain::Side;
use crate::ui::theme::Role;
use crate::ui::{App, lpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn render(app: &App, form: &OrderForm, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let inst = app
        .view()
        .markets
        .get(form.instrument)
        .and_then(|m| m.instrument.as_ref());
    let side_style = match form.side {
        Side::Buy => t.style(Role::Bid),
        Side::Sell => t.style(Role::Ask),
    };
    let field = |f: FormField, label: &str, value: String, style| {
        let focused = form.field == f;
        Line::from(vec![
            Span::styled(if focused { "▶ " } else { "  " }, t.style(Role::Focus)),
            Span::styled(lpad(label, 11), t.style(Role::Dim)),
            Span::styled(
                if focused {
                    format!("{value}▏")
                } else {
                    value
                },
                if focused {
                    t.style(Role::Selected).patch(style)
                } else {
                    style
                },
            ),
        ])
    };
    let price_text = if form.price.trim().is_empty() {
        "MARKET (empty price)".to_string()
    } else {
        format!("{} LIMIT", form.price)
    };
    let mut lines = vec![
        field(
            FormField::Instrument,
            "instrument",
            inst.map_or("?".into(), |i| i.symbol.clone()),
            t.style(Role::Text),
        ),
        field(
            FormField::Side,
            "side",
            form.side.as_str().to_string(),
            side_style,
        ),
        field(
            FormField::Qty,
            "size",
            form.qty.clone(),
            t.style(Role::Text),
        ),
        field(FormField::Price, "price", price_text, t.style(Role::Text)),
        Line::from(""),
        Line::styled("verdict (local checks)", t.style(Role::Header)),
    ];
    let checks = app.verdict_text(form);
    let all_ok = checks.iter().all(|c| c.ok);
    for c in &checks {
        let (mark, style) = if c.ok {
            ("✓ ok  ", t.style(Role::Profit))
        } else {
            ("✗ NO  ", t.style(Role::Loss))
        };
        lines.push(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(c.text.clone(), t.style(Role::Text)),
        ]));
    }
    if let Some(e) = &form.error {
        lines.push(Line::styled(
            format!("refused: {e}"),
            t.style(Role::Critical),
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        if all_ok {
            "enter send · tab/↑↓ field · ←→ change · m market · esc close"
        } else {
            "fix the checks marked NO · tab/↑↓ field · esc close"
        },
        t.style(Role::Dim),
    ));
    let title = format!(" Manual {} ", form.side.as_str());
    let r = centered(area, 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(side_style)
                .title(Span::styled(title, t.style(Role::Title))),
        ),
        r,
    );
}
