//! The strategies view (`S`): the strategies (number, name, on/off, instrument), then the
//! chosen one's parameters, one key a line (changed ones marked `*` with the value they
//! replace), the line being typed, the last outcome and the keys. Nothing is cut: long
//! lines wrap, and the parameters scroll to keep the chosen key in sight.

use super::centered;
use crate::app::strategies::StrategyEditor;
use crate::strategy::edit;
use crate::ui::App;
use crate::ui::theme::Role;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

const KEYS: &str = "↑↓ key  ⏎ edit  a apply  d discard  ←→ strategy  space on/off  n new  x remove  w write config  esc close";

pub fn render(app: &App, ed: &StrategyEditor, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let r = centered(area, 96, area.height.saturating_sub(2).max(10));
    frame.render_widget(Clear, r);
    let inner_w = r.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (i, s) in view
        .strategies
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.removed)
    {
        let on = if s.enabled { "ON " } else { "off" };
        let inst = s
            .instrument
            .and_then(|id| app.instrument(id))
            .map_or("all".to_string(), |x| x.symbol.clone());
        let kind = if s.instance { " (instance)" } else { "" };
        let text = format!(" S{:<2} {:<26} {on}  {inst}{kind}", i + 1, s.name);
        let style = if i == ed.sel {
            t.style(Role::Selected)
        } else if s.enabled {
            t.style(Role::Text)
        } else {
            t.style(Role::Dim)
        };
        let mark = if i == ed.sel { "▶" } else { " " };
        lines.push(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(text, style),
        ]));
    }
    let Some(s) = view.strategies.get(ed.sel) else {
        return;
    };
    lines.push(Line::from(""));
    let title = match &ed.draft {
        Some(d) if d.new_instance => format!(" a new {} (not added yet) ", s.name),
        Some(_) => format!(" S{} {}: changes not applied ", ed.sel + 1, s.name),
        None => format!(" S{} {} [strategies.{}] ", ed.sel + 1, s.name, s.kind),
    };
    lines.push(Line::styled(title, t.style(Role::Header)));
    let table = ed.table(s);
    let running = edit::table_from_text(&s.params).unwrap_or_default();
    let keys = StrategyEditor::keys(&table);
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let head = lines.len();
    let mut rows: Vec<Line> = Vec::new();
    for (n, k) in keys.iter().enumerate() {
        let value = table.get(k).map(edit::show_value).unwrap_or_default();
        let was = running.get(k).map(edit::show_value).unwrap_or_default();
        let changed = ed.draft.as_ref().is_some_and(|d| d.changed.contains(k));
        let chosen = n == ed.row;
        let mark = match (chosen, changed) {
            (true, _) => "▶",
            (false, true) => "*",
            _ => " ",
        };
        let shown = match (&ed.typing, chosen) {
            (Some(text), true) => format!("{text}▏"),
            _ => value.clone(),
        };
        let mut spans = vec![Span::styled(
            format!(" {mark} {k:<width$}  "),
            if chosen {
                t.style(Role::Selected)
            } else {
                t.style(Role::Text)
            },
        )];
        spans.push(Span::styled(
            shown,
            if ed.typing.is_some() && chosen {
                t.style(Role::Focus)
            } else if changed {
                t.style(Role::Warning)
            } else {
                t.style(Role::Text)
            },
        ));
        if changed && !ed.draft.as_ref().is_some_and(|d| d.new_instance) {
            spans.push(Span::styled(format!("  (now {was})"), t.style(Role::Dim)));
        }
        rows.push(Line::from(spans));
    }
    // The message and the keys take the last lines; the parameters scroll between.
    let mut tail: Vec<Line> = vec![Line::from("")];
    if let Some((ok, text)) = &ed.message {
        let role = if *ok { Role::Info } else { Role::Warning };
        tail.push(Line::styled(format!(" {text}"), t.style(role)));
    }
    tail.push(Line::styled(format!(" {KEYS}"), t.style(Role::Dim)));
    let wrapped = |l: &Line| l.width().div_ceil(inner_w.max(1)).max(1);
    let tail_h: usize = tail.iter().map(wrapped).sum();
    let room = (r.height as usize)
        .saturating_sub(2)
        .saturating_sub(head + tail_h)
        .max(1);
    let total = rows.len();
    if total <= room {
        lines.extend(rows);
    } else {
        // One line says where the window is.
        let shown = room.saturating_sub(1).max(1);
        let skip = (ed.row + 1).saturating_sub(shown);
        lines.push(Line::styled(
            format!(
                "   keys {}–{} of {total} (↑↓ scrolls)",
                skip + 1,
                (skip + shown).min(total)
            ),
            t.style(Role::Dim),
        ));
        lines.extend(rows.into_iter().skip(skip).take(shown));
    }
    lines.extend(tail);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::Border))
                .title(Span::styled(" Strategies ", t.style(Role::Title))),
        ),
        r,
    );
}
