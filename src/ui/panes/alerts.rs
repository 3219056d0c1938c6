//! Alerts: time, level, source, (×count when folded) text; most recent first.
//! Unacknowledged critical alerts stay highlighted (and marked `!`) until acknowledged.

use crate::app::{Action, Pane};
use crate::engine::AlertLevel;
use crate::ui::theme::Role;
use crate::ui::{App, lpad, pane_block};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let unacked = app.unacked_critical();
    let title = if unacked > 0 {
        Line::from(vec![
            Span::raw(" Alerts "),
            Span::styled(
                format!(
                    " {unacked} CRITICAL unacknowledged ({} acknowledges) ",
                    app.keymap().keys_text(Action::Acknowledge)
                ),
                t.style(Role::Critical).add_modifier(Modifier::REVERSED),
            ),
        ])
    } else {
        Line::from(" Alerts ")
    };
    let block = pane_block(app, Pane::Alerts, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let view = app.view();
    let mut lines = Vec::new();
    for a in view
        .alerts
        .iter()
        .rev()
        .skip(app.alert_scroll())
        .take(inner.height as usize)
    {
        let level_style = match a.level {
            AlertLevel::Info => t.style(Role::Info),
            AlertLevel::Warn => t.style(Role::Warning),
            AlertLevel::Critical => t.style(Role::Critical),
        };
        let hot = a.level == AlertLevel::Critical && !a.acknowledged;
        let text_style = if hot {
            t.style(Role::Critical).add_modifier(Modifier::REVERSED)
        } else if a.acknowledged {
            t.style(Role::Dim)
        } else {
            t.style(Role::Text)
        };
        // The count first: a long text is cut at the pane's edge, the count never.
        let text = if a.count > 1 {
            format!("×{} {}", a.count, a.text)
        } else {
            a.text.clone()
        };
        lines.push(Line::from(vec![
            Span::styled(if hot { "!" } else { " " }, level_style),
            Span::styled(format!("{} ", a.ts.hms_millis()), t.style(Role::Dim)),
            Span::styled(lpad(a.level.as_str(), 9), level_style),
            Span::styled(lpad(&a.source, 12), t.style(Role::Text)),
            Span::styled(text, text_style),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no alerts", t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
