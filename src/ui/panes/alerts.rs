//! Alerts: time, level, source, (×count when folded) text; most recent first. A long
//! text wraps onto the next lines instead of being cut at the pane's edge.
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
    let width = inner.width as usize;
    let height = inner.height as usize;
    // Marker, time, level and source before the text.
    const PREFIX: usize = 1 + 13 + 9 + 12;
    // A long text wraps under its start (or, on a narrow pane, under the time) rather
    // than being cut at the pane's edge; an alert that no longer fits whole waits for
    // the next scroll.
    let indent = if width >= PREFIX + 30 { PREFIX } else { 2 };
    let mut lines: Vec<Line> = Vec::new();
    for a in view.alerts.iter().rev().skip(app.alert_scroll()) {
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
        // The count first, then the text.
        let text = if a.count > 1 {
            format!("×{} {}", a.count, a.text)
        } else {
            a.text.clone()
        };
        let first_w = width.saturating_sub(PREFIX);
        let parts = if indent == PREFIX {
            crate::ui::wrap_words(&text, first_w)
        } else {
            // Narrow: the words that fit beside the source, the rest from the indent on
            // (no word is broken to fill the first line).
            let mut first = String::new();
            let mut words = text.split(' ').peekable();
            while let Some(w) = words.peek() {
                let need = first.chars().count() + usize::from(!first.is_empty());
                if need + w.chars().count() > first_w {
                    break;
                }
                if !first.is_empty() {
                    first.push(' ');
                }
                first.push_str(w);
                words.next();
            }
            let rest: Vec<&str> = words.collect();
            let mut parts = vec![first];
            if !rest.is_empty() {
                parts.extend(crate::ui::wrap_words(
                    &rest.join(" "),
                    width.saturating_sub(indent).max(1),
                ));
            }
            parts
        };
        let needed = parts.len();
        if !lines.is_empty() && lines.len() + needed > height {
            break;
        }
        let mut parts = parts.into_iter();
        lines.push(Line::from(vec![
            Span::styled(if hot { "!" } else { " " }, level_style),
            Span::styled(format!("{} ", a.ts.hms_millis()), t.style(Role::Dim)),
            Span::styled(lpad(a.level.as_str(), 9), level_style),
            Span::styled(lpad(&a.source, 12), t.style(Role::Text)),
            Span::styled(parts.next().unwrap_or_default(), text_style),
        ]));
        for p in parts {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(p, text_style),
            ]));
        }
        if lines.len() >= height {
            break;
        }
    }
    if lines.is_empty() {
        lines.push(Line::styled("no alerts", t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
