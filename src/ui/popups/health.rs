//! The feed health view (`H`): per instrument, the live connection's state, the age of its
//! last frame, and the adapter's counters (frames, bytes, gaps, resyncs, checksums checked
//! and failed, malformed frames, reconnects), beside the state of the engine's book
//! (`ok`, `RESYNCING`, `STALE`, `CROSSED`); a narrow terminal drops the venue and
//! reconnect columns. Over the whole console but its status bar.
//!
//! States are words, and a row in trouble starts with `!`, so the view reads the same
//! without colour. The simulated market and replays have no connection: their rows show
//! the book state only, and the engine's own counters are listed below.

use crate::app::Action;
use crate::engine::view::{FeedHealth, MarketView};
use crate::ui::theme::Role;
use crate::ui::{App, emphasis, lpad, rpad, short_duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// Inner width from which the venue and reconnect columns are shown.
const WIDE: usize = 110;

/// `1234` -> `1.2k`, `5_300_000` -> `5.3M`: counts that must fit a narrow column.
fn short_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Bytes as `812B`, `1.2kB`, `19.3MB`.
fn short_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n}B"),
        1_000..1_000_000 => format!("{:.1}kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}MB", n as f64 / 1e6),
        _ => format!("{:.1}GB", n as f64 / 1e9),
    }
}

/// The book's state as a word, and whether it is trouble.
fn book_state(m: Option<&MarketView>) -> (&'static str, bool) {
    match m {
        None => ("-", false),
        Some(m) if m.resyncing => ("RESYNCING", true),
        Some(m) if m.crossed => ("CROSSED", true),
        Some(m) if m.stale => ("STALE", true),
        Some(_) => ("ok", false),
    }
}

struct Col {
    head: &'static str,
    width: usize,
    right: bool,
    wide_only: bool,
}

const COLS: &[Col] = &[
    Col {
        head: "venue",
        width: 10,
        right: false,
        wide_only: true,
    },
    Col {
        head: "symbol",
        width: 0, // the rest
        right: false,
        wide_only: false,
    },
    Col {
        head: "book",
        width: 9,
        right: false,
        wide_only: false,
    },
    Col {
        head: "conn",
        width: 10,
        right: false,
        wide_only: false,
    },
    Col {
        head: "last",
        width: 5,
        right: true,
        wide_only: false,
    },
    Col {
        head: "frames",
        width: 6,
        right: true,
        wide_only: false,
    },
    Col {
        head: "bytes",
        width: 6,
        right: true,
        wide_only: false,
    },
    Col {
        head: "gaps",
        width: 4,
        right: true,
        wide_only: false,
    },
    Col {
        head: "rsync",
        width: 5,
        right: true,
        wide_only: false,
    },
    Col {
        head: "cksum/bad",
        width: 9,
        right: true,
        wide_only: false,
    },
    Col {
        head: "malf",
        width: 4,
        right: true,
        wide_only: false,
    },
    Col {
        head: "reconn",
        width: 6,
        right: true,
        wide_only: true,
    },
];

/// One row's cells, in `COLS` order.
fn cells(f: Option<&FeedHealth>, symbol: &str, book: &str) -> Vec<String> {
    let dash = || "-".to_string();
    match f {
        Some(f) => vec![
            f.venue.clone(),
            symbol.to_string(),
            book.to_string(),
            f.connection.clone(),
            f.last_frame_age.map_or_else(dash, short_duration),
            short_count(f.frames),
            short_bytes(f.bytes),
            f.gaps.to_string(),
            f.resyncs.to_string(),
            format!(
                "{}/{}",
                short_count(f.checksums_checked),
                f.checksums_failed
            ),
            f.malformed.to_string(),
            f.reconnects.to_string(),
        ],
        None => {
            let mut v = vec![dash(), symbol.to_string(), book.to_string()];
            v.resize(COLS.len(), dash());
            v
        }
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    // Keep the status bar (trading state, RESYNCING) in sight.
    let area = Rect {
        y: area.y + 1.min(area.height),
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Clear, area);
    let hint = format!(" {} esc close ", app.keymap().keys_text(Action::Health));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Focus))
        .title(Span::styled(" Feed health ", t.style(Role::Title)))
        .title_bottom(Line::styled(hint, t.style(Role::Dim)).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let wide = w >= WIDE;
    let cols: Vec<&Col> = COLS.iter().filter(|c| wide || !c.wide_only).collect();
    // Two columns for the trouble marker, one space between columns.
    let fixed: usize = 2 + cols.iter().map(|c| c.width).sum::<usize>() + cols.len() - 1;
    // The instrument takes what is left, up to a readable maximum.
    let rest = w.saturating_sub(fixed).clamp(6, 24);
    let width = |c: &Col| if c.width == 0 { rest } else { c.width };
    let row_text = |values: &[String]| -> String {
        let mut s = String::with_capacity(w);
        let mut first = true;
        for (c, v) in COLS.iter().zip(values) {
            if !wide && c.wide_only {
                continue;
            }
            if !first {
                s.push(' ');
            }
            first = false;
            let cw = width(c);
            s.push_str(&if c.right { rpad(v, cw) } else { lpad(v, cw) });
        }
        s
    };

    let mut lines: Vec<Line> = Vec::new();
    let heads: Vec<String> = COLS.iter().map(|c| c.head.to_string()).collect();
    lines.push(Line::styled(
        format!("  {}", row_text(&heads)),
        t.style(Role::Header),
    ));
    // One row per live feed instrument; then markets no feed reports (simulated, replay).
    let market_of = |symbol: &str| {
        view.markets
            .iter()
            .find(|m| m.instrument.as_ref().is_some_and(|i| i.symbol == symbol))
    };
    let mut rows: Vec<(Option<&FeedHealth>, String, Option<&MarketView>)> = view
        .health
        .feed
        .iter()
        .map(|f| (Some(f), f.symbol.clone(), market_of(&f.symbol)))
        .collect();
    for m in &view.markets {
        let Some(i) = &m.instrument else { continue };
        if !view.health.feed.iter().any(|f| f.symbol == i.symbol) {
            rows.push((None, i.symbol.clone(), Some(m)));
        }
    }
    for (f, symbol, m) in &rows {
        let (book, mut trouble) = book_state(*m);
        if let Some(f) = f {
            trouble |= f.connection != "connected" || f.checksums_failed > 0;
        }
        let text = row_text(&cells(*f, symbol, book));
        let style: Style = if book == "RESYNCING" {
            emphasis(t.style(Role::Warning)).add_modifier(Modifier::REVERSED)
        } else if trouble {
            t.style(Role::Warning)
        } else {
            t.style(Role::Text)
        };
        let mark = if trouble { "! " } else { "  " };
        lines.push(Line::from(vec![
            Span::styled(mark, t.style(Role::Warning)),
            Span::styled(text, style),
        ]));
    }
    if rows.is_empty() {
        lines.push(Line::styled("  no instruments", t.style(Role::Dim)));
    }
    lines.push(Line::from(""));
    if view.health.feed.is_empty() {
        lines.push(Line::styled(
            "  No live connection (simulated market or replay): no connection counters.",
            t.style(Role::Dim),
        ));
    } else {
        lines.push(Line::styled(
            "  last: age of the connection's last frame · malf: malformed frames",
            t.style(Role::Dim),
        ));
        lines.push(Line::styled(
            "  cksum/bad: checksums checked / failed · rsync: resyncs · reconn: reconnects",
            t.style(Role::Dim),
        ));
    }
    lines.extend(exec_lines(app));
    let h = &view.health;
    lines.push(Line::styled(
        format!(
            "  engine: {} events, {} market events, {} orders, {} fills, {} risk checks ({} refused)",
            h.events, h.market_events, h.orders, h.fills, h.risk_checks, h.risk_refusals
        ),
        t.style(Role::Text),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A live execution venue: its connection, send -> ack and send -> first fill latency
/// (median and p99 over the latest orders), request weight, unresolved requests, and each
/// instrument's exchange filters as the risk engine holds them (a row in trouble starts
/// with `!`). Nothing on paper.
fn exec_lines(app: &App) -> Vec<Line<'static>> {
    let t = app.theme();
    let view = app.view();
    let mut lines = Vec::new();
    if let Some(x) = &view.health.exec {
        let q = |q: &Option<crate::engine::view::Quantiles>| {
            q.map_or("no samples yet".to_string(), |q| {
                format!(
                    "median {} p99 {} ({} orders)",
                    micros(q.median_us),
                    micros(q.p99_us),
                    q.samples
                )
            })
        };
        let trouble = x.connection != "connected"
            || x.stopped.is_some()
            || !x.holds.is_empty()
            || x.unresolved > 0;
        let style = if trouble {
            t.style(Role::Warning)
        } else {
            t.style(Role::Text)
        };
        let mark = if trouble { "! " } else { "  " };
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "{mark}{} {} account {}: orders stream {}{}; weight {}; unresolved {}",
                x.network,
                x.venue,
                x.account.as_deref().unwrap_or("?"),
                x.connection,
                x.stopped
                    .as_ref()
                    .map(|s| format!(", STOPPED ({s})"))
                    .unwrap_or_default(),
                x.used_weight.map_or("-".to_string(), |w| w.to_string()),
                x.unresolved
            ),
            style,
        ));
        for r in &x.holds {
            lines.push(Line::styled(
                format!("! HELD: {r}"),
                t.style(Role::Critical),
            ));
        }
        lines.push(Line::styled(
            format!("  send -> ack         {}", q(&x.send_to_ack)),
            t.style(Role::Text),
        ));
        lines.push(Line::styled(
            format!("  send -> first fill  {}", q(&x.send_to_first_fill)),
            t.style(Role::Text),
        ));
        // Each asset at the venue against the run's start plus its fills; one that differs
        // refuses new orders until a reconciliation finds it agreeing.
        for b in &x.balances {
            let (mark, style, word) = if b.agrees() {
                ("  ", t.style(Role::Text), "=")
            } else {
                ("! ", t.style(Role::Warning), "DIFFERS, new orders refused:")
            };
            lines.push(Line::styled(
                format!(
                    "{mark}balance {} venue {} {word} expected {} (start {} + fills {})",
                    b.asset,
                    b.venue.normalize(),
                    b.expected.normalize(),
                    b.start.normalize(),
                    b.traded.normalize()
                ),
                style,
            ));
        }
    }
    for r in &view.health.venue_rules {
        let (mark, style, text) = if r.known {
            ("  ", t.style(Role::Text), r.text.clone())
        } else {
            (
                "! ",
                t.style(Role::Warning),
                format!("NOT KNOWN, {}", r.text),
            )
        };
        lines.push(Line::styled(
            format!("{mark}filters {}: {text}", r.symbol),
            style,
        ));
    }
    lines
}

/// Microseconds as `850µs`, `12.3ms`, `1.20s`.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_reads_in_the_unit_that_fits() {
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(1_200_000), "1.20s");
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_count(999), "999");
        assert_eq!(short_count(41_242), "41.2k");
        assert_eq!(short_bytes(19_265_626), "19.3MB");
        assert_eq!(short_bytes(512), "512B");
    }
}
