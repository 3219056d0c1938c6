//! The help overlay, generated from the keymap.

use super::centered;
use crate::ui::theme::Role;
use crate::ui::{App, lpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let replay = app.replay_clock().is_some();
    let rows: Vec<_> = app
        .keymap()
        .help_rows()
        .into_iter()
        .filter(|r| {
            replay || crate::app::Action::from_name(r.action).is_none_or(|a| !a.is_replay())
        })
        .collect();
    let key_w = rows
        .iter()
        .map(|r| r.keys.chars().count())
        .max()
        .unwrap_or(4)
        + 2;
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|r| {
            Line::from(vec![
                Span::styled(lpad(&r.keys, key_w), t.style(Role::Focus)),
                Span::styled(r.description, t.style(Role::Text)),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Keys are remappable in config.toml [console.keys]. Any key closes this help.",
        t.style(Role::Dim),
    ));
    let r = centered(area, 86, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::Focus))
                .title(Span::styled(" Keys ", t.style(Role::Title))),
        ),
        r,
    );
}
