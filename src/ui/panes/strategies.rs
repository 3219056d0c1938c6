//! Strategies: number, toggle key, name, state (ON/OFF/HELD, or SESSION CLOSED when its
//! instrument's trading session is), position, PnL, open orders,
//! last signal. Columns are sized to their widest figure and dropped whole on a narrow
//! pane; the last signal ends at a word with `…` rather than inside a number.

use crate::app::{Action, Pane};
use crate::ui::theme::Role;
use crate::ui::{App, FitTable, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Strategies, " Strategies ");
    let view = app.view();
    if view.strategies.is_empty() && view.aged.is_none() {
        frame.render_widget(
            Paragraph::new("no strategies")
                .style(t.style(Role::Dim))
                .block(block),
            area,
        );
        return;
    }
    // Each column as wide as its widest text; on a narrow pane whole columns go (open,
    // key, #, position ...), never part of a figure. The last signal takes what is left
    // and, when it is longer, ends at a word with `…` (no number is cut in two).
    let head = ["#", "key", "name", "st", "pos", "PnL", "open"];
    let priority = [4, 5, 9, 10, 7, 10, 3];
    let texts: Vec<([(String, Style); 7], String)> = view
        .strategies
        .iter()
        .enumerate()
        // An instance removed from the console keeps its number, not its row.
        .filter(|(_, s)| !s.removed)
        .map(|(n, s)| {
            let (state, style) = if !s.enabled {
                ("OFF", t.style(Role::Dim))
            } else if let Some(session) = &s.session {
                // Its instrument's session is closed: its new orders are held.
                (session.as_str(), t.style(Role::Warning))
            } else if s.held {
                ("HELD", t.style(Role::Warning))
            } else if let Some(cool) = &s.cooldown {
                // Its own losing streak: its new orders are held until then.
                (cool.as_str(), t.style(Role::Warning))
            } else if s.restarting {
                // New parameters: waiting for the old orders' cancels.
                ("RESTART", t.style(Role::Warning))
            } else {
                ("ON", t.style(Role::Profit))
            };
            let key = u8::try_from(n)
                .map(|n| app.keymap().keys_text(Action::ToggleStrategy(n)))
                .unwrap_or_default();
            let inst = s.instrument.and_then(|i| app.instrument(i));
            let qp = inst.map_or(4, |i| i.qty_precision);
            let mp = inst.map_or(app.money_dp(), |i| i.money_precision());
            let text = t.style(Role::Text);
            (
                [
                    (format!("{}", n + 1), text),
                    (key, t.style(Role::Dim)),
                    (s.name.clone(), text),
                    (state.to_string(), style),
                    (signed(s.position, qp), text),
                    (signed(s.pnl, mp), pnl_style(app, s.pnl)),
                    (s.open_orders.to_string(), text),
                ],
                s.last_signal.clone().unwrap_or_else(|| "-".into()),
            )
        })
        .collect();
    // The aged-position manager (`[aged_positions]`), an engine rule, on a row of its
    // own: its state, the positions it follows and what it does about each.
    let mut texts = texts;
    if let Some(aged) = &view.aged {
        let style = match aged.state.as_str() {
            "ON" => t.style(Role::Profit),
            "HELD" => t.style(Role::Warning),
            _ => t.style(Role::Dim),
        };
        let signal = if aged.positions.is_empty() {
            format!("none older than {}h", aged.grace_hours.normalize())
        } else {
            aged.positions
                .iter()
                .map(|p| format!("{} {} {}h: {}", p.symbol, p.phase, p.age_hours, p.action))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let text = t.style(Role::Text);
        texts.push((
            [
                ("-".to_string(), t.style(Role::Dim)),
                (String::new(), t.style(Role::Dim)),
                ("aged-positions".to_string(), text),
                (aged.state.clone(), style),
                (aged.positions.len().to_string(), text),
                (String::new(), text),
                (
                    aged.positions
                        .iter()
                        .filter(|p| p.action.starts_with("limit") || p.action.starts_with("market"))
                        .count()
                        .to_string(),
                    text,
                ),
            ],
            signal,
        ));
    }
    let inner_w = block.inner(area).width as usize;
    let fit = FitTable::new(&head, texts.iter().map(|(r, _)| &r[..]), &priority, inner_w);
    let signal_w = inner_w.saturating_sub(fit.used());
    let show_signal = signal_w >= "last signal".len().min(8);
    let rows: Vec<Row> = texts
        .iter()
        .map(|(cells, signal)| {
            let mut row = fit.cells(cells);
            if show_signal {
                row.push(Cell::from(fit_words(signal, signal_w)).style(t.style(Role::Dim)));
            }
            Row::new(row)
        })
        .collect();
    let mut widths = fit.widths();
    let mut header = fit.header();
    if show_signal {
        widths.push(Constraint::Length(signal_w as u16));
        header.push("last signal");
    }
    let header = Row::new(header).style(t.style(Role::Header));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}

/// `text` in at most `w` columns: whole, or the words that fit followed by `…`.
fn fit_words(text: &str, w: usize) -> String {
    if text.chars().count() <= w {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        let need = out.chars().count() + usize::from(!out.is_empty()) + word.chars().count();
        if need + 2 > w {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        "…".to_string()
    } else {
        format!("{out} …")
    }
}

#[cfg(test)]
mod tests {
    use super::fit_words;

    #[test]
    fn a_signal_ends_at_a_word_never_inside_a_number() {
        assert_eq!(fit_words("buy imb 0.71", 12), "buy imb 0.71");
        assert_eq!(fit_words("quote 60000.0/60000.3", 20), "quote …");
        assert_eq!(fit_words("quote 60000.0/60000.3", 5), "…");
    }
}
