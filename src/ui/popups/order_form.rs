//! The manual order form: instrument, side, size, limit price (empty = market),
//! reduce-only, and the verdict shown before Enter sends it: the risk engine's own, then
//! the console's checks. A modify (`e` on a working manual order) is the same form on
//! that order. Every line wraps inside the popup: a reason is never cut.

use super::centered;
use crate::app::{FormField, OrderForm};
use crate::domain::Side;
use crate::ui::theme::Role;
use crate::ui::{App, lpad, wrap_words};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// Widest the popup gets; narrower on a narrow terminal.
const WIDTH: u16 = 64;

/// `text` wrapped to `width` columns behind `head` (styled `head_style`): the first line
/// starts with `head`, the next ones with as many spaces.
fn wrapped(
    head: &str,
    head_style: Style,
    text: &str,
    style: Style,
    width: usize,
) -> Vec<Line<'static>> {
    let indent = head.chars().count();
    wrap_words(text, width.saturating_sub(indent).max(8))
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let lead = if k == 0 {
                head.to_string()
            } else {
                " ".repeat(indent)
            };
            Line::from(vec![
                Span::styled(lead, head_style),
                Span::styled(part, style),
            ])
        })
        .collect()
}

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
    let popup_w = WIDTH.min(area.width);
    let inner = usize::from(popup_w.saturating_sub(2));
    let field = |f: FormField, label: &str, value: String, style| {
        let focused = form.field == f;
        Line::from(vec![
            Span::styled(if focused { "▶ " } else { "  " }, t.style(Role::Focus)),
            Span::styled(lpad(label, 12), t.style(Role::Dim)),
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
    let mut lines = Vec::new();
    if let Some(m) = &form.modify {
        let filled = inst.map_or(m.filled.0.to_string(), |i| i.fmt_qty(m.filled));
        lines.extend(wrapped(
            "",
            t.style(Role::Text),
            &format!("modify {} (cancel/replace; filled {filled})", m.id),
            t.style(Role::Header),
            inner,
        ));
    }
    lines.extend([
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
            if form.modify.is_some() {
                "total size"
            } else {
                "size"
            },
            form.qty.clone(),
            t.style(Role::Text),
        ),
        field(FormField::Price, "price", price_text, t.style(Role::Text)),
        Line::from(vec![
            Span::raw("  "),
            Span::styled(lpad("reduce-only", 12), t.style(Role::Dim)),
            if form.reduce_only {
                Span::styled("ON", t.style(Role::Warning))
            } else {
                Span::styled("off", t.style(Role::Text))
            },
            Span::styled(
                if form.modify.is_some() {
                    "  (kept)"
                } else {
                    "  (r toggles)"
                },
                t.style(Role::Dim),
            ),
        ]),
    ]);
    if form.modify.is_none() {
        let leg = |s: &str| {
            if s.trim().is_empty() {
                "none".to_string()
            } else {
                s.to_string()
            }
        };
        lines.extend([
            field(
                FormField::TakeProfit,
                "take-profit",
                leg(&form.take_profit),
                t.style(Role::Text),
            ),
            field(
                FormField::StopLoss,
                "stop-loss",
                if form.stop_loss.trim().is_empty() {
                    "none".to_string()
                } else {
                    format!("{} (held by pit)", form.stop_loss)
                },
                t.style(Role::Text),
            ),
            Line::from(vec![
                Span::raw("  "),
                Span::styled(lpad("execution", 12), t.style(Role::Dim)),
                Span::styled(
                    form.algo.map_or("at once", |k| k.as_str()),
                    if form.algo.is_some() {
                        t.style(Role::Warning)
                    } else {
                        t.style(Role::Text)
                    },
                ),
                Span::styled("  (a cycles TWAP, VWAP split)", t.style(Role::Dim)),
            ]),
        ]);
    }
    lines.extend([
        Line::from(""),
        Line::styled(
            if app.engine_answered(form) {
                "verdict: the risk engine's, then the console's checks"
            } else {
                "verdict: the console's checks (the risk engine's to come)"
            },
            t.style(Role::Header),
        ),
    ]);
    let checks = app.verdict_text(form);
    let all_ok = checks.iter().all(|c| c.ok);
    for c in &checks {
        let (mark, style) = if c.ok {
            ("✓ ok  ", t.style(Role::Profit))
        } else {
            ("✗ NO  ", t.style(Role::Loss))
        };
        lines.extend(wrapped(mark, style, &c.text, t.style(Role::Text), inner));
    }
    if let Some(e) = &form.error {
        lines.extend(wrapped(
            "refused: ",
            t.style(Role::Critical),
            e,
            t.style(Role::Critical),
            inner,
        ));
    }
    lines.push(Line::from(""));
    let keys = match (all_ok, form.modify.is_some()) {
        (true, false) => {
            "enter send · tab/↑↓ field · ←→ change · m market · r reduce-only · esc close"
        }
        (true, true) => "enter modify · tab/↑↓ field · esc close",
        (false, false) => "fix the checks marked NO · tab/↑↓ field · r reduce-only · esc close",
        (false, true) => "fix the checks marked NO · tab/↑↓ field · esc close",
    };
    lines.extend(wrapped(
        "",
        t.style(Role::Dim),
        keys,
        t.style(Role::Dim),
        inner,
    ));
    let title = match &form.modify {
        Some(m) => format!(" Modify {} {} ", m.id, form.side.as_str()),
        None if form.algo.is_some() => format!(
            " {} {} ",
            form.algo.map_or("", |k| k.as_str()),
            form.side.as_str()
        ),
        None if form.has_legs() => format!(" Bracket {} ", form.side.as_str()),
        None if form.reduce_only => format!(" Manual {} reduce-only ", form.side.as_str()),
        None => format!(" Manual {} ", form.side.as_str()),
    };
    if lines.len() + 2 > usize::from(area.height) {
        // A short terminal: the spacing goes before any text does.
        lines.retain(|l| l.width() > 0);
    }
    let r = centered(area, popup_w, lines.len() as u16 + 2);
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
