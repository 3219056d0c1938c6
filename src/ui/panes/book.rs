//! The order book ladder of the selected instrument: asks above (best nearest the middle),
//! the spread line with mid and last trade, bids below. Each level shows price, size,
//! cumulative size and a size bar; our own resting orders are marked at their level with
//! their estimated queue position.

use crate::app::{Pane, mid_price};
use crate::domain::{Level, Order, Side};
use crate::ui::theme::Role;
use crate::ui::{App, emphasis, lpad, pane_block, rpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let market = app.market();
    let inst = market.and_then(|m| m.instrument.as_ref());
    let mut title = vec![Span::raw(" Book ")];
    if let Some(i) = inst {
        title.push(Span::styled(
            format!("{} ", i.symbol),
            t.style(Role::Header),
        ));
    }
    if let Some(m) = market {
        market_flags(&mut title, m, t);
    }
    let block = pane_block(app, Pane::Book, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (Some(m), Some(inst)) = (market, inst) else {
        frame.render_widget(Paragraph::new("no market"), inner);
        return;
    };
    if m.bids.is_empty() && m.asks.is_empty() {
        // Nothing to draw: say why, wrapped to the pane (the reason can be long: a DNS
        // error, a back-off).
        let mut lines = Vec::new();
        if m.resyncing {
            lines.push(Line::styled(
                "RESYNCING",
                emphasis(t.style(Role::Warning)).add_modifier(Modifier::REVERSED),
            ));
        }
        lines.push(Line::styled(
            empty_reason(app),
            emphasis(t.style(Role::Warning)),
        ));
        frame.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let w = inner.width as usize;
    // Rows: header + asks + spread line + bids.
    let per_side = app
        .book_levels()
        .min((inner.height as usize).saturating_sub(2) / 2);
    let asks: Vec<Level> = m.asks.iter().take(per_side).copied().collect();
    let bids: Vec<Level> = m.bids.iter().take(per_side).copied().collect();

    let ours: Vec<&Order> = view
        .open_orders
        .iter()
        .filter(|o| o.req.spec.instrument == inst.id && o.req.spec.price.is_some())
        .collect();
    let own_text = |side: Side, l: &Level| -> Option<String> {
        let mine: Vec<&&Order> = ours
            .iter()
            .filter(|o| o.req.spec.side == side && o.req.spec.price == Some(l.price))
            .collect();
        if mine.is_empty() {
            return None;
        }
        let qty = mine
            .iter()
            .fold(crate::domain::Qty::ZERO, |a, o| a + o.remaining());
        let queue = mine.iter().filter_map(|o| o.queue_ahead).min();
        Some(match queue {
            Some(q) => format!("◆{} q{}", inst.fmt_qty(qty), inst.fmt_qty(q)),
            None => format!("◆{}", inst.fmt_qty(qty)),
        })
    };

    let cum = |levels: &[Level]| -> Vec<crate::domain::Qty> {
        let mut acc = crate::domain::Qty::ZERO;
        levels
            .iter()
            .map(|l| {
                acc += l.qty;
                acc
            })
            .collect()
    };
    let ask_cum = cum(&asks);
    let bid_cum = cum(&bids);
    let max_size = asks
        .iter()
        .chain(bids.iter())
        .map(|l| l.qty.lots())
        .max()
        .unwrap_or(1)
        .max(1);

    let price_w = asks
        .iter()
        .chain(bids.iter())
        .map(|l| inst.fmt_price(l.price).len())
        .max()
        .unwrap_or(6)
        .max(6);
    let size_w = asks
        .iter()
        .chain(bids.iter())
        .map(|l| inst.fmt_qty(l.qty).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let cum_w = ask_cum
        .iter()
        .chain(bid_cum.iter())
        .map(|q| inst.fmt_qty(*q).len())
        .max()
        .unwrap_or(3)
        .max(3);
    let own_w = {
        let longest = asks
            .iter()
            .filter_map(|l| own_text(Side::Sell, l))
            .chain(bids.iter().filter_map(|l| own_text(Side::Buy, l)))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        if longest == 0 {
            0
        } else if w >= longest + 4 + price_w + size_w + cum_w + 8 {
            longest
        } else {
            1
        }
    };
    let fixed = 4 + own_w + usize::from(own_w > 0) + price_w + 1 + size_w + 1 + cum_w + 1;
    let bar_w = w.saturating_sub(fixed);

    let mut lines = Vec::with_capacity(asks.len() + bids.len() + 2);
    let own_head = if own_w > 1 { "ours" } else { "" };
    let mut header = format!(
        "{}{}{} {} {}",
        lpad("side", 4),
        if own_w > 0 {
            format!("{} ", rpad(own_head, own_w))
        } else {
            String::new()
        },
        rpad("price", price_w),
        rpad("size", size_w),
        rpad("cum", cum_w),
    );
    if bar_w > 0 {
        header.push_str(" depth");
    }
    if m.resyncing {
        // In place of the column header: the levels below are the last ones before the
        // feed lost integrity, kept until the next snapshot.
        let warn = lpad("RESYNCING: stale levels until the next snapshot", w);
        lines.push(Line::styled(
            warn,
            emphasis(t.style(Role::Warning)).add_modifier(Modifier::REVERSED),
        ));
    } else {
        lines.push(Line::styled(header, t.style(Role::Header)));
    }

    let row = |side: Side, l: &Level, c: crate::domain::Qty| -> Line<'static> {
        let (style, bar_style, tag) = match side {
            Side::Sell => (t.style(Role::Ask), t.style(Role::AskBar), "ask "),
            Side::Buy => (t.style(Role::Bid), t.style(Role::BidBar), "bid "),
        };
        let mut spans = vec![Span::styled(tag, t.style(Role::Dim))];
        if own_w > 0 {
            let own = own_text(side, l).map(|s| if own_w == 1 { "◆".to_string() } else { s });
            spans.push(Span::styled(
                format!("{} ", rpad(own.as_deref().unwrap_or(""), own_w)),
                t.style(Role::Own),
            ));
        }
        let price_style = if own_text(side, l).is_some() {
            emphasis(style)
        } else {
            style
        };
        spans.push(Span::styled(
            rpad(&inst.fmt_price(l.price), price_w),
            price_style,
        ));
        spans.push(Span::styled(
            format!(" {}", rpad(&inst.fmt_qty(l.qty), size_w)),
            t.style(Role::Text),
        ));
        spans.push(Span::styled(
            format!(" {}", rpad(&inst.fmt_qty(c), cum_w)),
            t.style(Role::Dim),
        ));
        if bar_w > 1 {
            let n = ((l.qty.lots().max(0) as i128 * (bar_w - 1) as i128) / max_size as i128).max(1)
                as usize;
            spans.push(Span::styled(format!(" {}", "█".repeat(n)), bar_style));
        }
        Line::from(spans)
    };

    for (i, l) in asks.iter().enumerate().rev() {
        lines.push(row(Side::Sell, l, ask_cum[i]));
    }
    lines.push(spread_line(app, m, inst));
    for (i, l) in bids.iter().enumerate() {
        lines.push(row(Side::Buy, l, bid_cum[i]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The feed's state in a book's or a ladder's title: STALE, RESYNCING (reversed, so it
/// reads without colour), CROSSED.
pub(super) fn market_flags(
    title: &mut Vec<Span<'static>>,
    m: &crate::engine::view::MarketView,
    t: &crate::ui::theme::Theme,
) {
    if m.stale {
        title.push(Span::styled("STALE ", t.style(Role::Warning)));
    }
    if m.resyncing {
        title.push(Span::styled(
            " RESYNCING ",
            emphasis(t.style(Role::Warning)).add_modifier(Modifier::REVERSED),
        ));
        title.push(Span::raw(" "));
    }
    if m.crossed {
        title.push(Span::styled("CROSSED ", t.style(Role::Critical)));
    }
}

fn spread_line(
    app: &App,
    m: &crate::engine::view::MarketView,
    inst: &crate::domain::Instrument,
) -> Line<'static> {
    let t = app.theme();
    let mut spans = Vec::new();
    match (m.bids.first(), m.asks.first()) {
        (Some(b), Some(a)) => {
            let spread = inst.price(a.price) - inst.price(b.price);
            spans.push(Span::styled(
                format!("spread {} ", spread.normalize()),
                t.style(Role::Text),
            ));
            if let Some(mid) = mid_price(m) {
                spans.push(Span::styled(
                    format!(
                        "mid {} ",
                        crate::app::fmt_dec(mid, inst.price_precision + 1)
                    ),
                    t.style(Role::Dim),
                ));
            }
        }
        (Some(_), None) => spans.push(Span::styled(
            "one-sided book: no asks ",
            t.style(Role::Warning),
        )),
        (None, Some(_)) => spans.push(Span::styled(
            "one-sided book: no bids ",
            t.style(Role::Warning),
        )),
        (None, None) => {
            spans.push(Span::styled(
                format!("{} ", empty_reason(app)),
                emphasis(t.style(Role::Warning)),
            ));
        }
    }
    if let Some(last) = m.last_trade {
        // Tick direction from the previous trade of this instrument; the aggressor when
        // the price did not change.
        let prev = app
            .view()
            .tape
            .iter()
            .rev()
            .filter(|(id, _)| Some(*id) == m.instrument.as_ref().map(|i| i.id))
            .map(|(_, tt)| tt)
            .find(|tt| tt.ts < last.ts || (tt.ts == last.ts && tt.price != last.price));
        let up = match prev.map(|p| last.price.cmp(&p.price)) {
            Some(std::cmp::Ordering::Greater) => true,
            Some(std::cmp::Ordering::Less) => false,
            _ => last.aggressor == Side::Buy,
        };
        let (arrow, style) = if up {
            ("▲", t.style(Role::Bid))
        } else {
            ("▼", t.style(Role::Ask))
        };
        spans.push(Span::styled(
            format!("last {} {arrow}", inst.fmt_price(last.price)),
            style,
        ));
    }
    Line::from(spans)
}

/// Why the selected market's book has no level at all, from its feed's state.
pub(crate) fn empty_reason(app: &App) -> String {
    use crate::engine::view::FeedState;
    let view = app.view();
    let i = app.instrument_index();
    let venue = view.feed_of(i).map_or("the venue", |f| f.venue.as_str());
    match view.feed_state(i) {
        Some(FeedState::Connecting) => {
            if view.feed_of(i).is_some_and(|f| f.connection == "connected") {
                format!("empty: connected to {venue}, waiting for the first snapshot")
            } else {
                format!("empty: connecting to {venue}...")
            }
        }
        Some(s @ FeedState::Disconnected { .. }) => {
            let why = match &s {
                FeedState::Disconnected { why: Some(w), .. } => format!(" ({w})"),
                _ => String::new(),
            };
            format!("empty: no data, feed {}{why}", s.word())
        }
        Some(FeedState::Stale(age)) => {
            format!("empty: no data from {venue} for {}s", age.as_secs())
        }
        Some(FeedState::Resyncing) => "empty: RESYNCING, waiting for a snapshot".to_string(),
        Some(FeedState::Stopped) => format!("empty: the {venue} feed has stopped"),
        Some(FeedState::Live) => format!("empty: {venue} shows no orders on either side"),
        None if app.market().is_some_and(|m| m.last_update.is_none()) => {
            "empty: no market data yet".to_string()
        }
        None => "empty: no orders on either side".to_string(),
    }
}
