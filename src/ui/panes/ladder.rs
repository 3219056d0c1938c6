//! The price ladder (`L`), in the book's place: one row per price (or per grouping of
//! ticks), highest first, each with our working orders and their estimated queue
//! position, the bid size, the price, the ask size and the session's traded volume there.
//! The cursor row is reversed and marked `▶`, a row an order is being moved from `»`,
//! our orders `◆`: all readable without colour.

use crate::app::Pane;
use crate::app::ladder::{LadderRow, OwnAtRow};
use crate::domain::{Instrument, Owner};
use crate::ui::theme::Role;
use crate::ui::{App, emphasis, fit_columns, lpad, pane_block, rpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Our orders on one side of a row: `B 0.002×2 q~0.180` (size, orders, estimated size
/// ahead), `q?` without an estimate, `→60001.0` while being moved, `cxl` while cancelling;
/// then whose they are unless all were placed by hand (`S1`, `S1+M`).
fn own_text(inst: &Instrument, o: &OwnAtRow, with_owner: bool) -> String {
    let side = if o.side == crate::domain::Side::Buy {
        "B"
    } else {
        "S"
    };
    let mut s = format!("{side} {}", inst.fmt_qty(o.qty));
    if o.orders > 1 {
        s.push_str(&format!("×{}", o.orders));
    }
    if let Some(to) = o.moving_to {
        s.push_str(&format!(" →{}", inst.fmt_price(to)));
    } else if o.cancelling {
        s.push_str(" cxl");
    } else {
        match o.ahead {
            Some(q) => s.push_str(&format!(" q~{}", inst.fmt_qty(q))),
            None => s.push_str(" q?"),
        }
    }
    if with_owner && o.owners != [Owner::Manual] {
        let who: Vec<String> = o
            .owners
            .iter()
            .map(|w| match w {
                Owner::Manual => "M".to_string(),
                w => w.to_string(),
            })
            .collect();
        s.push_str(&format!(" {}", who.join("+")));
    }
    s
}

fn ours_full(inst: &Instrument, r: &LadderRow, with_owner: bool) -> String {
    let parts: Vec<String> = [&r.buys, &r.sells]
        .into_iter()
        .flatten()
        .map(|o| own_text(inst, o, with_owner))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("◆{}", parts.join(" "))
    }
}

fn ours_short(r: &LadderRow) -> String {
    match (&r.buys, &r.sells) {
        (Some(_), Some(_)) => "◆BS".into(),
        (Some(_), None) => "◆B".into(),
        (None, Some(_)) => "◆S".into(),
        (None, None) => String::new(),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let market = app.market();
    let inst = market.and_then(|m| m.instrument.as_ref());
    let ladder = app.ladder();
    let mut title = vec![Span::raw(" Ladder ")];
    if let Some(i) = inst {
        title.push(Span::styled(
            format!("{} ", i.symbol),
            t.style(Role::Header),
        ));
    }
    let g = ladder.grouping();
    title.push(Span::styled(
        if g == 1 {
            "1 tick/row ".to_string()
        } else {
            format!("{g} ticks/row ")
        },
        t.style(Role::Dim),
    ));
    if let Some((id, _)) = &ladder.moving {
        title.push(Span::styled(
            format!(" MOVING {id} "),
            emphasis(t.style(Role::Own)).add_modifier(Modifier::REVERSED),
        ));
        title.push(Span::raw(" "));
    }
    if let Some(m) = market {
        super::book::market_flags(&mut title, m, t);
    }
    let block = pane_block(app, Pane::Book, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (Some(m), Some(inst)) = (market, inst) else {
        frame.render_widget(Paragraph::new("no market"), inner);
        return;
    };
    // Header, rows, and a last line (spread, where the touch is).
    let n = (inner.height as usize).saturating_sub(2).max(1);
    app.set_ladder_height(n);
    let rows = app.ladder_rows(n);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![Line::styled(
                super::book::empty_reason(app),
                emphasis(t.style(Role::Warning)),
            )])
            .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let w = inner.width as usize;
    let qty = |q: Option<crate::domain::Qty>| q.map_or(String::new(), |q| inst.fmt_qty(q));
    // Columns: ours, bid, price, ask, vol. Ours loses its owners, then shrinks to a marker
    // before anything is dropped; then the volume goes, then ours.
    let mut ours: Vec<String> = rows.iter().map(|r| ours_full(inst, r, true)).collect();
    let width_of = |head: &str, cells: &mut dyn Iterator<Item = String>| {
        cells
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            .max(head.chars().count())
    };
    let any_ours = ours.iter().any(|s| !s.is_empty());
    let ours_head_full = "ours (q~ ahead)";
    let ours_w = |ours: &[String]| {
        if any_ours {
            width_of(ours_head_full, &mut ours.iter().cloned())
        } else {
            4
        }
    };
    let ours_w_full = ours_w(&ours);
    let bid_w = width_of("bid", &mut rows.iter().map(|r| qty(r.bid)));
    let ask_w = width_of("ask", &mut rows.iter().map(|r| qty(r.ask)));
    let price_w = width_of("price", &mut rows.iter().map(|r| inst.fmt_price(r.price)));
    let vol_w = width_of("vol", &mut rows.iter().map(|r| qty(r.traded)));
    // One column for the cursor and row markers.
    let room = w.saturating_sub(2);
    let mut full_ours = true;
    let mut widths = [ours_w_full, bid_w, price_w, ask_w, vol_w];
    let priority = [3u8, 8, 9, 8, 2];
    let mut keep = fit_columns(&widths, &priority, room, 1);
    let fits = |keep: &[usize]| keep.contains(&0) && keep.contains(&4);
    if !fits(&keep) {
        // Without the owners.
        ours = rows.iter().map(|r| ours_full(inst, r, false)).collect();
        widths[0] = ours_w(&ours);
        keep = fit_columns(&widths, &priority, room, 1);
    }
    if !fits(&keep) {
        // Our orders as a marker (◆B / ◆S) rather than losing the volume or them.
        full_ours = false;
        widths[0] = 4;
        keep = fit_columns(&widths, &priority, room, 1);
    }
    let heads = [
        if full_ours && any_ours {
            ours_head_full
        } else {
            "ours"
        },
        "bid",
        "price",
        "ask",
        "vol",
    ];
    let mut lines = Vec::with_capacity(n + 2);
    let mut head = String::from("  ");
    for (k, &c) in keep.iter().enumerate() {
        if k > 0 {
            head.push(' ');
        }
        head.push_str(&if c == 0 {
            lpad(heads[c], widths[c])
        } else {
            rpad(heads[c], widths[c])
        });
    }
    lines.push(Line::styled(head, t.style(Role::Header)));
    for (r, own) in rows.iter().zip(&ours) {
        let marker = if r.cursor {
            "▶ "
        } else if r.moving_from {
            "» "
        } else {
            "  "
        };
        let mut spans = vec![Span::styled(marker, t.style(Role::Focus))];
        for (k, &c) in keep.iter().enumerate() {
            if k > 0 {
                spans.push(Span::raw(" "));
            }
            let (text, style): (String, Style) = match c {
                0 => {
                    let s = if full_ours {
                        own.clone()
                    } else {
                        ours_short(r)
                    };
                    (lpad(&s, widths[0]), emphasis(t.style(Role::Own)))
                }
                1 => {
                    let s = if r.best_bid {
                        emphasis(t.style(Role::Bid))
                    } else {
                        t.style(Role::Bid)
                    };
                    (rpad(&qty(r.bid), widths[1]), s)
                }
                2 => {
                    let s = if r.best_bid {
                        emphasis(t.style(Role::Bid))
                    } else if r.best_ask {
                        emphasis(t.style(Role::Ask))
                    } else if r.buys.is_some() || r.sells.is_some() {
                        emphasis(t.style(Role::Text))
                    } else {
                        t.style(Role::Text)
                    };
                    (rpad(&inst.fmt_price(r.price), widths[2]), s)
                }
                3 => {
                    let s = if r.best_ask {
                        emphasis(t.style(Role::Ask))
                    } else {
                        t.style(Role::Ask)
                    };
                    (rpad(&qty(r.ask), widths[3]), s)
                }
                _ => (rpad(&qty(r.traded), widths[4]), t.style(Role::Dim)),
            };
            spans.push(Span::styled(text, style));
        }
        let mut line = Line::from(spans);
        if r.cursor {
            // Without colour too: the whole row reversed.
            line = line.patch_style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    lines.push(footer(app, m, inst, n, w));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The spread, and where the touch is when the rows do not show it.
fn footer(
    app: &App,
    m: &crate::engine::view::MarketView,
    inst: &Instrument,
    n: usize,
    w: usize,
) -> Line<'static> {
    let t = app.theme();
    let centre = app.keymap().keys_text(crate::app::Action::LadderCentre);
    let mut parts: Vec<(String, Style)> = Vec::new();
    match app.ladder_touch_off(n) {
        Some(true) => parts.push((
            format!("▲ touch above: {centre} centres "),
            emphasis(t.style(Role::Warning)),
        )),
        Some(false) => parts.push((
            format!("▼ touch below: {centre} centres "),
            emphasis(t.style(Role::Warning)),
        )),
        None => {}
    }
    if let (Some(b), Some(a)) = (m.bids.first(), m.asks.first()) {
        let spread = inst.price(a.price) - inst.price(b.price);
        parts.push((
            format!("spread {} ", spread.normalize()),
            t.style(Role::Text),
        ));
    } else if m.bids.is_empty() && m.asks.is_empty() {
        parts.push((
            format!("{} ", super::book::empty_reason(app)),
            emphasis(t.style(Role::Warning)),
        ));
    }
    if let Some(c) = app.ladder().cursor() {
        parts.push((format!("▶ {}", inst.fmt_price(c)), t.style(Role::Dim)));
    }
    // Whole parts only, never a figure cut at the edge.
    let mut used = 0;
    let mut spans = Vec::new();
    for (s, style) in parts {
        let n = s.chars().count();
        if used + n > w {
            break;
        }
        used += n;
        spans.push(Span::styled(s, style));
    }
    Line::from(spans)
}
