//! The help overlay, generated from the keymap. On a terminal too short for it, it
//! scrolls (the down/up keys) and says how many rows are below.

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
    let strategies = &app.view().strategies;
    // Only what exists: a strategy key is listed for each strategy the engine runs, with
    // its name; replay keys only in a replay.
    let rows: Vec<(String, String)> = app
        .keymap()
        .help_rows()
        .into_iter()
        .filter_map(|r| match crate::app::Action::from_name(r.action) {
            Some(crate::app::Action::ToggleStrategy(n)) => strategies
                .get(usize::from(n))
                .filter(|s| !s.removed)
                .map(|s| (r.keys, format!("toggle strategy {} ({})", n + 1, s.name))),
            Some(a) if a.is_replay() && !replay => None,
            _ => Some((r.keys, r.description.to_string())),
        })
        .collect();
    let key_w = rows
        .iter()
        .map(|(keys, _)| keys.chars().count())
        .max()
        .unwrap_or(4)
        + 2;
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|(keys, description)| {
            Line::from(vec![
                Span::styled(lpad(keys, key_w), t.style(Role::Focus)),
                Span::styled(description.clone(), t.style(Role::Text)),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Keys are remappable in config.toml [console.keys]. Any key closes this help.",
        t.style(Role::Dim),
    ));
    let r = centered(area, 86, lines.len() as u16 + 2);
    // A terminal too short for every row: the help scrolls, and says so.
    let visible = r.height.saturating_sub(2) as usize;
    let max = lines.len().saturating_sub(visible);
    app.set_help_max_scroll(max);
    let scroll = app.help_scroll().min(max);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Focus))
        .title(Span::styled(" Keys ", t.style(Role::Title)));
    if max > 0 {
        let km = app.keymap();
        let hint = format!(
            " rows {}-{} of {}: {} {} scroll ",
            scroll + 1,
            scroll + visible,
            lines.len(),
            km.keys_text(crate::app::Action::Down),
            km.keys_text(crate::app::Action::Up)
        );
        block = block.title_bottom(Line::styled(hint, t.style(Role::Dim)).right_aligned());
    }
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll as u16, 0))
            .block(block),
        r,
    );
}
