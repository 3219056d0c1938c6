//! Pure rendering: [`render`] draws an [`App`] into a ratatui frame. No I/O, no state:
//! everything shown comes from the app's view replica and UI state.
//!
//! Layout: at 120x40 and larger every pane is visible (book | trades | positions + PnL;
//! orders | strategies; fills | alerts); with the price ladder (`L`) the ladder takes the
//! book's place over the whole height on the left, the others beside it. Smaller terminals show the book, the positions and PnL
//! and the status bar, with one bottom pane at a time (Tab cycles it). Below 60x20 the
//! screen says "terminal too small (need 60x20)" instead of cutting numbers.

pub mod panes;
pub mod popups;
pub mod theme;

use crate::app::Pane;
use crate::domain::TradingState;
use crate::store::report::Report;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Paragraph};
use rust_decimal::Decimal;
use theme::Role;

/// The console's state as this renderer draws it: with its theme and the store's report.
pub type App = crate::app::App<theme::Theme, Report>;

/// Width and height from which every pane is shown at once.
pub const FULL_WIDTH: u16 = 120;
pub const FULL_HEIGHT: u16 = 40;

/// The smallest terminal the console lays out in; below it, it says so rather than cut
/// numbers.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 20;

/// Draw the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(app, frame, area);
        return;
    }
    let halted = app.view().trading_state == TradingState::Halted;
    // Three lines, more when a long reason wraps; the body keeps at least half. Worked out
    // once a frame: the layout takes its height from them.
    let banner = if halted {
        panes::status::halted_banner_lines(app, area.width, (area.height / 2).max(3))
    } else {
        Vec::new()
    };
    let [status, banner_area, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner.len() as u16),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    panes::status::render(app, frame, status);
    if halted {
        panes::status::render_halted_banner(app, frame, banner_area, banner);
    }
    let full = area.width >= FULL_WIDTH && area.height >= FULL_HEIGHT;
    match (full, app.ladder().on) {
        (true, false) => render_full(app, frame, body),
        (false, false) => render_compact(app, frame, body),
        (true, true) => render_full_ladder(app, frame, body),
        (false, true) => render_compact_ladder(app, frame, body),
    }
    panes::status::render_footer(app, frame, footer);
    popups::render(app, frame, area);
}

/// Below [`MIN_WIDTH`] x [`MIN_HEIGHT`]: no pane (a number cut short reads as another
/// number), only what must never be missed: the size needed, the trading state and the
/// kill key (which works at any size).
fn render_too_small(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let kill = app.keymap().keys_text(crate::app::Action::Kill);
    let lines = vec![
        Line::styled(
            format!("terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT})"),
            emphasis(t.style(Role::Warning)),
        ),
        Line::from(format!("now {}x{}", area.width, area.height)),
        Line::from(Span::styled(
            format!(" {} ", view.trading_state.as_str()),
            state_style(app, view.trading_state).add_modifier(Modifier::BOLD),
        )),
        Line::from(format!("{kill} KILL works at any size")),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(ratatui::widgets::Wrap { trim: true }),
        area,
    );
}

fn render_full(app: &App, frame: &mut Frame, body: Rect) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(50),
        Constraint::Percentage(30),
        Constraint::Min(6),
    ])
    .areas(body);
    let [book, tape, right] = Layout::horizontal([
        Constraint::Percentage(38),
        Constraint::Percentage(24),
        Constraint::Percentage(38),
    ])
    .areas(top);
    let pos_h = (app.view().positions.len() as u16 + 3).clamp(4, 8);
    let [positions, pnl] =
        Layout::vertical([Constraint::Length(pos_h), Constraint::Min(0)]).areas(right);
    let [orders, strategies] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(middle);
    panes::book::render(app, frame, book);
    panes::tape::render(app, frame, tape);
    panes::positions::render(app, frame, positions);
    panes::pnl::render(app, frame, pnl);
    panes::orders::render(app, frame, orders);
    panes::strategies::render(app, frame, strategies);
    let [fills, alerts] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    panes::fills::render(app, frame, fills);
    panes::alerts::render(app, frame, alerts);
}

/// The ladder (`L`) in the book's place, the whole height on the left (more rows), the
/// other panes beside it.
fn render_full_ladder(app: &App, frame: &mut Frame, body: Rect) {
    let [ladder, rest] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Min(0)]).areas(body);
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(42),
        Constraint::Percentage(30),
        Constraint::Min(6),
    ])
    .areas(rest);
    let [tape, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Min(0)]).areas(top);
    let pos_h = (app.view().positions.len() as u16 + 3).clamp(4, 8);
    let [positions, pnl] =
        Layout::vertical([Constraint::Length(pos_h), Constraint::Min(0)]).areas(right);
    let [orders, strategies] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(middle);
    let [fills, alerts] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    panes::ladder::render(app, frame, ladder);
    panes::tape::render(app, frame, tape);
    panes::positions::render(app, frame, positions);
    panes::pnl::render(app, frame, pnl);
    panes::orders::render(app, frame, orders);
    panes::strategies::render(app, frame, strategies);
    panes::fills::render(app, frame, fills);
    panes::alerts::render(app, frame, alerts);
}

/// The ladder on a small terminal: the whole height on the left; the positions and one
/// bottom pane at a time (Tab cycles it) beside it.
fn render_compact_ladder(app: &App, frame: &mut Frame, body: Rect) {
    let [ladder, right] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Min(0)]).areas(body);
    let pos_h = (app.view().positions.len() as u16 + 3).clamp(4, 6);
    let [positions, tabs, pane] = Layout::vertical([
        Constraint::Length(pos_h),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(right);
    panes::ladder::render(app, frame, ladder);
    panes::positions::render(app, frame, positions);
    render_tabs(app, frame, tabs);
    render_bottom(app, frame, pane);
}

fn render_bottom(app: &App, frame: &mut Frame, pane: Rect) {
    match app.bottom_pane() {
        Pane::Tape => panes::tape::render(app, frame, pane),
        Pane::Strategies => panes::strategies::render(app, frame, pane),
        Pane::Fills => panes::fills::render(app, frame, pane),
        Pane::Alerts => panes::alerts::render(app, frame, pane),
        Pane::Pnl => panes::pnl::render(app, frame, pane),
        _ => panes::orders::render(app, frame, pane),
    }
}

fn render_compact(app: &App, frame: &mut Frame, body: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(58), Constraint::Min(4)]).areas(body);
    let [book, right] =
        Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(top);
    let pos_h = (app.view().positions.len() as u16 + 3).clamp(4, 6);
    let [positions, pnl] =
        Layout::vertical([Constraint::Length(pos_h), Constraint::Min(0)]).areas(right);
    panes::book::render(app, frame, book);
    panes::positions::render(app, frame, positions);
    panes::pnl::render(app, frame, pnl);
    let [tabs, pane] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(bottom);
    render_tabs(app, frame, tabs);
    render_bottom(app, frame, pane);
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let mut spans = Vec::new();
    for p in Pane::BOTTOM {
        let label = if p == Pane::Alerts && app.unacked_critical() > 0 {
            format!("{}!", p.title())
        } else {
            p.title().to_string()
        };
        if p == app.bottom_pane() {
            spans.push(Span::styled(format!("[{label}]"), t.style(Role::Focus)));
        } else {
            spans.push(Span::styled(format!(" {label} "), t.style(Role::Dim)));
        }
        spans.push(Span::raw(" "));
    }
    // The hint only when it fits whole.
    let hint = format!(
        "({} cycles)",
        app.keymap().keys_text(crate::app::Action::NextFocus)
    );
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if used + hint.chars().count() <= area.width as usize {
        spans.push(Span::styled(hint, t.style(Role::Dim)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The bordered block of a pane, highlighted when focused.
pub(crate) fn pane_block<'a>(app: &App, pane: Pane, title: impl Into<Line<'a>>) -> Block<'a> {
    let t = app.theme();
    let focused = app.focus() == pane;
    let border = if focused {
        t.style(Role::Focus)
    } else {
        t.style(Role::Border)
    };
    let title: Line<'a> = title.into();
    let title = if focused {
        // The focus is also readable without colour: a marker before the title.
        let mut spans = vec![Span::styled("▶", t.style(Role::Focus))];
        spans.extend(title.spans);
        Line::from(spans)
    } else {
        title
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(title.style(t.style(Role::Title)))
}

/// A signed decimal with its sign always written (`+1.50`, `-0.25`, `0.00`).
pub fn signed(d: Decimal, dp: u32) -> String {
    let r = d.round_dp(dp);
    if r.is_zero() {
        format!("{:.*}", dp as usize, Decimal::ZERO)
    } else if r.is_sign_positive() {
        format!("+{:.*}", dp as usize, r)
    } else {
        format!("{:.*}", dp as usize, r)
    }
}

/// The profit/loss style of a signed amount.
pub fn pnl_style(app: &App, d: Decimal) -> Style {
    let t = app.theme();
    if d > Decimal::ZERO {
        t.style(Role::Profit)
    } else if d < Decimal::ZERO {
        t.style(Role::Loss)
    } else {
        t.style(Role::Text)
    }
}

/// The style of a trading state word.
pub fn state_style(app: &App, s: TradingState) -> Style {
    let t = app.theme();
    match s {
        TradingState::Active => t.style(Role::Active),
        TradingState::Paused => t.style(Role::Paused),
        TradingState::Reducing => t.style(Role::Reducing),
        TradingState::Halted => t.style(Role::Halted),
    }
}

/// A duration as short text: `850ms`, `12.3s`, `5m02s`, `2h05m`.
pub fn short_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

/// Pad or cut `s` to `w` columns, right-aligned.
pub(crate) fn rpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.chars().take(w).collect()
    } else {
        format!("{}{}", " ".repeat(w - n), s)
    }
}

/// Pad or cut `s` to `w` columns, left-aligned.
pub(crate) fn lpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.chars().take(w).collect()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// Lay `groups` (each a unit that must stay whole: a label with its figure) out in lines
/// of at most `width` columns: a group that does not fit on the current line starts the
/// next one, so a figure is never cut at the pane's edge. A group's leading spaces are
/// dropped at the start of a line.
pub(crate) fn flow(groups: Vec<Vec<Span<'static>>>, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for mut g in groups {
        let w: usize = g.iter().map(|s| s.content.chars().count()).sum();
        if used > 0 && used + w > width {
            lines.push(Line::from(std::mem::take(&mut cur)));
            used = 0;
        }
        if used == 0
            && let Some(first) = g.first_mut()
        {
            let trimmed = first.content.trim_start().to_string();
            first.content = trimmed.into();
        }
        used += g.iter().map(|s| s.content.chars().count()).sum::<usize>();
        cur.extend(g);
    }
    if !cur.is_empty() {
        lines.push(Line::from(cur));
    }
    lines
}

/// `text` broken at spaces into lines of at most `width` columns (a word longer than a
/// line is broken where it must).
pub(crate) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let n = cur.chars().count();
        let wn = word.chars().count();
        if n > 0 && n + 1 + wn > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.chars().count() > width {
            let head: String = cur.chars().take(width).collect();
            let tail: String = cur.chars().skip(width).collect();
            lines.push(head);
            cur = tail;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A style with the emphasis modifier used for "look here" rows.
pub(crate) fn emphasis(s: Style) -> Style {
    s.add_modifier(Modifier::BOLD)
}

/// Which columns of a table fit in `width`, each as wide as its widest text (`widths`,
/// header included) with `spacing` between them: whole columns are dropped, lowest
/// `priority` first (ties: the rightmost), until the rest fit. A number is never cut: a
/// column is there in full or not at all. Returns the kept columns' indices, in order.
pub(crate) fn fit_columns(
    widths: &[usize],
    priority: &[u8],
    width: usize,
    spacing: usize,
) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..widths.len()).collect();
    let total = |k: &[usize]| -> usize {
        k.iter().map(|&i| widths[i]).sum::<usize>() + spacing * k.len().saturating_sub(1)
    };
    while keep.len() > 1 && total(&keep) > width {
        let Some(pos) = keep
            .iter()
            .enumerate()
            .min_by_key(|(pos, i)| (priority.get(**i).copied().unwrap_or(0), usize::MAX - pos))
            .map(|(pos, _)| pos)
        else {
            break;
        };
        keep.remove(pos);
    }
    keep
}

/// A table fitted to its room with [`fit_columns`]: each column as wide as its widest text
/// (header included), whole columns dropped, lowest priority first, when the room is short.
pub(crate) struct FitTable<'h> {
    head: &'h [&'h str],
    col_w: Vec<usize>,
    /// The kept columns' indices, in order.
    keep: Vec<usize>,
}

impl<'h> FitTable<'h> {
    /// Fit `rows` of styled texts (one per column of `head`) into `width`.
    pub(crate) fn new<'r>(
        head: &'h [&'h str],
        rows: impl IntoIterator<Item = &'r [(String, Style)]>,
        priority: &[u8],
        width: usize,
    ) -> Self {
        let mut col_w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, (text, _)) in col_w.iter_mut().zip(row) {
                *w = (*w).max(text.chars().count());
            }
        }
        let keep = fit_columns(&col_w, priority, width, 1);
        FitTable { head, col_w, keep }
    }

    /// One row's kept cells.
    pub(crate) fn cells(&self, row: &[(String, Style)]) -> Vec<Cell<'static>> {
        self.keep
            .iter()
            .map(|&c| Cell::from(row[c].0.clone()).style(row[c].1))
            .collect()
    }

    /// The kept columns' widths.
    pub(crate) fn widths(&self) -> Vec<Constraint> {
        self.keep
            .iter()
            .map(|&c| Constraint::Length(self.col_w[c] as u16))
            .collect()
    }

    /// The kept columns' headings.
    pub(crate) fn header(&self) -> Vec<&'h str> {
        self.keep.iter().map(|&c| self.head[c]).collect()
    }

    /// The room the kept columns take, a space after each.
    pub(crate) fn used(&self) -> usize {
        self.keep.iter().map(|&c| self.col_w[c] + 1).sum()
    }
}

#[cfg(test)]
mod fit_tests {
    use super::{fit_columns, flow, wrap_words};
    use ratatui::text::Span;

    #[test]
    fn flow_moves_a_whole_group_to_the_next_line() {
        let g = |a: &'static str, b: &'static str| vec![Span::raw(a), Span::raw(b)];
        let groups = vec![g("equity ", "+11.05"), g("  realized ", "+11.10")];
        let one = flow(groups.clone(), 40);
        assert_eq!(one.len(), 1);
        let two = flow(groups, 20);
        let text: Vec<String> = two.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["equity +11.05", "realized +11.10"]);
    }

    #[test]
    fn words_wrap_at_spaces_and_nothing_is_lost() {
        let w = wrap_words("BTC-USD book crossed at 60000.5, resyncing", 16);
        assert_eq!(w, ["BTC-USD book", "crossed at", "60000.5,", "resyncing"]);
        assert_eq!(wrap_words("", 10), [""]);
    }

    #[test]
    fn whole_columns_go_lowest_priority_first_and_nothing_is_cut() {
        let w = [1, 5, 6, 7, 4];
        let p = [9, 2, 5, 9, 1];
        assert_eq!(fit_columns(&w, &p, 100, 1), vec![0, 1, 2, 3, 4]);
        // 1+5+6+7+4 + 4 spaces = 27; 26 drops the last (priority 1).
        assert_eq!(fit_columns(&w, &p, 26, 1), vec![0, 1, 2, 3]);
        assert_eq!(fit_columns(&w, &p, 16, 1), vec![0, 2, 3]);
        assert_eq!(fit_columns(&w, &p, 9, 1), vec![0, 3]);
    }
}
