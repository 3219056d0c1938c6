//! The order-history view (`o`): every order the engine keeps (open, closed and the
//! requests the risk engine refused), newest first. Each order is one row (sent, id,
//! owner, instrument, side, price, size, filled, average fill price, state), then the
//! states it went through with their times (`NEW 12:00:01.100 → ACKED +5ms → PARTIAL
//! 0.020 +1.2s → FILLED +2.0s`), then, for a rejection or a refusal, the reason in full.
//! Long lines wrap; nothing is cut. Over the whole console but its status bar.

use crate::app::Action;
use crate::domain::{OrderKind, OrderStatus, Side};
use crate::engine::blotter::{OrderRecord, StepKind};
use crate::ui::theme::Role;
use crate::ui::{App, lpad, short_duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

const HEAD: [&str; 10] = [
    "sent", "id", "owner", "sym", "side", "price", "qty", "filled", "avg", "state",
];
/// Lowest dropped first on a narrow terminal.
const PRIORITY: [u8; 10] = [7, 6, 5, 8, 10, 10, 10, 9, 4, 10];

/// The columns of one order's row.
fn row_cells(app: &App, r: &OrderRecord) -> [String; 10] {
    let o = &r.order;
    let inst = app.instrument(o.req.spec.instrument);
    let price = match (o.req.spec.kind, o.req.spec.price, inst) {
        (OrderKind::Market, _, _) | (_, None, _) => "MKT".to_string(),
        (_, Some(p), Some(i)) => i.fmt_price(p),
        (_, Some(p), None) => p.to_string(),
    };
    let qty = |q| inst.map_or(format!("{q}"), |i| i.fmt_qty(q));
    let avg = match (o.avg_fill_ticks(), inst) {
        (Some(ticks), Some(i)) => {
            crate::app::fmt_dec(ticks * i.tick_size, i.price_precision + 1).to_string()
        }
        _ => "-".to_string(),
    };
    [
        o.created.hms_millis(),
        o.req.client_id.to_string(),
        o.req.owner.to_string(),
        inst.map_or("?".to_string(), |i| i.symbol.clone()),
        o.req.spec.side.to_string(),
        price,
        qty(o.req.spec.qty),
        qty(o.filled),
        avg,
        state_text(r),
    ]
}

/// The order's state; a modify shows as one action: the old order `REPLACED →M-5`, its
/// replacement `ACKED ←M-3`.
fn state_text(r: &OrderRecord) -> String {
    let mut s = match r.replaced_by() {
        Some(new) => format!("REPLACED →{new}"),
        None => r.status_word().to_string(),
    };
    if let Some(old) = &r.order.replaces {
        s.push_str(&format!(" ←{old}"));
    }
    s
}

/// The steps as words with their times: the first at its clock time, the rest after it.
fn step_words(app: &App, r: &OrderRecord) -> Vec<String> {
    let inst = app.instrument(r.order.req.spec.instrument);
    let first = r.steps.first().map(|s| s.ts);
    r.steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut w = match &s.kind {
                StepKind::ReplacedBy(new) => format!("REPLACED by {new}"),
                _ => s.word().to_string(),
            };
            if s.count > 1 {
                w.push_str(&format!(" ×{}", s.count));
            }
            if matches!(
                s.kind,
                StepKind::Status(OrderStatus::PartiallyFilled | OrderStatus::Filled)
            ) && let Some(i) = inst
            {
                w.push_str(&format!(" {}", i.fmt_qty(s.filled)));
            }
            match (k, first) {
                (0, _) | (_, None) => w.push_str(&format!(" {}", s.ts.hms_millis())),
                (_, Some(t0)) => w.push_str(&format!(" +{}", short_duration(s.ts.since(t0)))),
            }
            w
        })
        .collect()
}

/// `parts` joined by `sep`, broken into lines of at most `width` columns between parts
/// (a part longer than a line gets a line of its own, broken at spaces).
fn wrap_parts(parts: &[String], sep: &str, indent: &str, width: usize) -> Vec<String> {
    let width = width.max(indent.len() + 8);
    let mut lines = Vec::new();
    let mut cur = indent.to_string();
    let mut empty = true;
    for p in parts {
        let add = if empty {
            p.clone()
        } else {
            format!("{sep}{p}")
        };
        if !empty && cur.chars().count() + add.chars().count() > width {
            lines.push(std::mem::replace(&mut cur, indent.to_string()));
            cur.push_str(sep.trim_start());
            cur.push_str(p);
        } else {
            cur.push_str(&add);
        }
        empty = false;
        while cur.chars().count() > width {
            // Break at the last space that fits, else hard at the width.
            let chars: Vec<char> = cur.chars().collect();
            let cut = chars[..width]
                .iter()
                .rposition(|c| *c == ' ')
                .filter(|&i| i > indent.len())
                .unwrap_or(width);
            let head: String = chars[..cut].iter().collect();
            let tail: String = chars[cut..].iter().collect();
            lines.push(head);
            cur = format!("{indent}{}", tail.trim_start());
        }
    }
    if !empty {
        lines.push(cur);
    }
    lines
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    // Keep the status bar (trading state) in sight.
    let area = Rect {
        y: area.y + 1.min(area.height),
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Clear, area);
    let km = app.keymap();
    let hint = format!(
        " {} {} scroll  {} esc close ",
        km.keys_text(Action::Down),
        km.keys_text(Action::Up),
        km.keys_text(Action::History)
    );
    let records = &view.order_history;
    let title = format!(" Order history ({} orders) ", records.len());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Focus))
        .title(Span::styled(title, t.style(Role::Title)))
        .title_bottom(Line::styled(hint, t.style(Role::Dim)).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    if records.is_empty() {
        frame.render_widget(
            Paragraph::new("no orders yet").style(t.style(Role::Dim)),
            inner,
        );
        return;
    }
    let cells: Vec<[String; 10]> = records.iter().map(|r| row_cells(app, r)).collect();
    let col_w: Vec<usize> = (0..HEAD.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain(std::iter::once(HEAD[c].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let keep = crate::ui::fit_columns(&col_w, &PRIORITY, w, 1);
    let join = |texts: &dyn Fn(usize) -> String| -> String {
        keep.iter()
            .map(|&c| lpad(&texts(c), col_w[c]))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut lines: Vec<Line> = vec![Line::styled(
        join(&|c| HEAD[c].to_string()),
        t.style(Role::Header),
    )];
    let height = inner.height as usize;
    for (r, row) in records.iter().zip(&cells).rev().skip(app.history_scroll()) {
        if lines.len() >= height {
            break;
        }
        let o = &r.order;
        let side_style = match o.req.spec.side {
            Side::Buy => t.style(Role::Bid),
            Side::Sell => t.style(Role::Ask),
        };
        let trouble = r.refused() || o.status == OrderStatus::Rejected;
        let state_style: Style = if trouble {
            t.style(Role::Warning)
        } else if o.status == OrderStatus::Cancelled {
            t.style(Role::Dim)
        } else {
            t.style(Role::Text)
        };
        let mut spans = Vec::new();
        for (k, &c) in keep.iter().enumerate() {
            if k > 0 {
                spans.push(Span::raw(" "));
            }
            let style = match c {
                4 | 5 => side_style,
                9 => state_style,
                0 => t.style(Role::Dim),
                _ => t.style(Role::Text),
            };
            spans.push(Span::styled(lpad(&row[c], col_w[c]), style));
        }
        lines.push(Line::from(spans));
        for l in wrap_parts(&step_words(app, r), " → ", "    ", w) {
            lines.push(Line::styled(l, t.style(Role::Dim)));
        }
        if let Some(reason) = r.reason().filter(|_| trouble) {
            let what = if r.refused() {
                "refused by risk: "
            } else {
                "rejected by the venue: "
            };
            let text = format!("{what}{reason}");
            let words: Vec<String> = text.split(' ').map(str::to_string).collect();
            for l in wrap_parts(&words, " ", "    ", w) {
                lines.push(Line::styled(l, t.style(Role::Warning)));
            }
        }
    }
    lines.truncate(height);
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::wrap_parts;

    #[test]
    fn parts_wrap_between_parts_and_nothing_is_lost() {
        let parts: Vec<String> = ["NEW 12:00:00.000", "ACKED +5ms", "FILLED 0.010 +1.2s"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let one = wrap_parts(&parts, " → ", "  ", 80);
        assert_eq!(
            one,
            vec!["  NEW 12:00:00.000 → ACKED +5ms → FILLED 0.010 +1.2s"]
        );
        let two = wrap_parts(&parts, " → ", "  ", 34);
        assert_eq!(
            two,
            vec!["  NEW 12:00:00.000 → ACKED +5ms", "  → FILLED 0.010 +1.2s"]
        );
        for l in &two {
            assert!(l.chars().count() <= 34, "{l}");
        }
        let words: Vec<String> = "a reason that is long enough to wrap twice over"
            .split(' ')
            .map(str::to_string)
            .collect();
        let w = wrap_parts(&words, " ", "  ", 20);
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        let back: Vec<&str> = w.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(
            back.join(" "),
            "a reason that is long enough to wrap twice over"
        );
    }
}
