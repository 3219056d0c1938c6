//! The report view (`r`): what `pit report` prints, over the whole console but its status
//! bar. Headline figures (trades, wins/losses, win rate, net PnL, average win and loss,
//! profit factor, max drawdown, streaks, fees, volume), the equity curve (cumulative net
//! PnL after each closed trade; decimals become `f64` only to be plotted) and the tables by
//! day, strategy, instrument, hour (UTC) and weekday, which scroll when they do not fit.
//!
//! Signs are always written (`+`/`-`), so the figures read the same without colour.

use crate::app::Action;
use crate::store::report::{Bucket, Report};
use crate::ui::theme::Role;
use crate::ui::{App, lpad, pnl_style, rpad, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Clear, Dataset, GraphType, Paragraph};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Decimal places of money in the report (as `pit report`).
const DP: u32 = 4;
/// Width from which the figures sit beside the chart and the tables go in two columns.
const WIDE: u16 = 100;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    // Keep the status bar (trading state, HALTED) in sight.
    let area = Rect {
        y: area.y + 1.min(area.height),
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Clear, area);
    let keys = |a: Action| app.keymap().keys_text(a);
    let hint = format!(
        " {} {} scroll · {} esc close ",
        keys(Action::Down),
        keys(Action::Up),
        keys(Action::Report)
    );
    let rv = app.report_view();
    let mut title = vec![Span::styled(" PnL report ", t.style(Role::Title))];
    if rv.loading {
        title.push(Span::styled("(loading) ", t.style(Role::Dim)));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.style(Role::Focus))
        .title(Line::from(title))
        .title_bottom(Line::styled(hint, t.style(Role::Dim)).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut body = inner;
    if let Some(e) = &rv.error {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        let what = if rv.report.is_some() {
            "refresh failed: "
        } else {
            "no report: "
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(what, t.style(Role::Warning)),
                Span::styled(e.as_str(), t.style(Role::Text)),
            ])),
            line,
        );
        body = rest;
    }
    let Some(report) = rv.report.as_deref() else {
        if rv.error.is_none() {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "computing the report from the store...",
                    t.style(Role::Dim),
                )),
                body,
            );
        }
        app.set_report_max_scroll(0);
        return;
    };
    if body.width >= WIDE {
        render_wide(app, report, frame, body);
    } else {
        render_compact(app, report, frame, body);
    }
}

/// Figures beside the chart; below, two columns of tables.
fn render_wide(app: &App, r: &Report, frame: &mut Frame, area: Rect) {
    let figures = figures(app, r);
    let key_w = (area.width as usize / 2).saturating_sub(49).clamp(10, 28);
    let left = [("day", &r.by_day), ("hour (UTC)", &r.by_hour)];
    let right = [
        ("strategy", &r.by_strategy),
        ("instrument", &r.by_instrument),
        ("weekday", &r.by_weekday),
    ];
    let left = table_lines(app, &left, key_w);
    let right = table_lines(app, &right, key_w);
    let rows = left.len().max(right.len()) as u16;
    // The chart takes what the tables leave, between the figures' height and 3/5.
    let top_h = area
        .height
        .saturating_sub(rows)
        .min(area.height * 3 / 5)
        .max(figures.len() as u16 + 1)
        .min(area.height);
    let [top, tables] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Min(0)]).areas(area);
    let [left_top, chart] =
        Layout::horizontal([Constraint::Length(36), Constraint::Min(0)]).areas(top);
    let lines: Vec<Line> = figures
        .into_iter()
        .map(|(k, v, s)| {
            Line::from(vec![
                Span::styled(lpad(k, 20), app.theme().style(Role::Dim)),
                Span::styled(rpad(&v, 14), s),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), left_top);
    render_chart(app, r, frame, chart);
    let [a, b] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .spacing(2)
        .areas(tables);
    let scroll = scrolled(app, rows as usize, tables.height);
    render_lines(frame, left, scroll, a);
    render_lines(frame, right, scroll, b);
}

/// Figures two to a row, a short chart, then every table in one scrolling column.
fn render_compact(app: &App, r: &Report, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let figures = figures(app, r);
    let col = (area.width as usize / 2).max(20);
    let fig_lines: Vec<Line> = figures
        .chunks(2)
        .map(|pair| {
            let mut spans = Vec::new();
            for (k, v, s) in pair {
                let key_w = col.saturating_sub(13).min(20);
                spans.push(Span::styled(lpad(k, key_w), t.style(Role::Dim)));
                spans.push(Span::styled(rpad(v, 11), *s));
                spans.push(Span::raw(" ".repeat(col.saturating_sub(key_w + 11))));
            }
            Line::from(spans)
        })
        .collect();
    let fig_h = fig_lines.len() as u16;
    let chart_h = if area.height >= fig_h + 10 { 6 } else { 4 };
    let [figs, chart, tables] = Layout::vertical([
        Constraint::Length(fig_h),
        Constraint::Length(chart_h.min(area.height.saturating_sub(fig_h + 3))),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(fig_lines), figs);
    render_chart(app, r, frame, chart);
    let key_w = (tables.width as usize).saturating_sub(48).clamp(8, 24);
    let all = [
        ("day", &r.by_day),
        ("strategy", &r.by_strategy),
        ("instrument", &r.by_instrument),
        ("hour (UTC)", &r.by_hour),
        ("weekday", &r.by_weekday),
    ];
    let lines = table_lines(app, &all, key_w);
    let scroll = scrolled(app, lines.len(), tables.height);
    render_lines(frame, lines, scroll, tables);
}

/// The scroll offset to draw with; tells the app how far it can go at this size.
fn scrolled(app: &App, rows: usize, height: u16) -> usize {
    let max = rows.saturating_sub(height as usize);
    app.set_report_max_scroll(max);
    app.report_view().scroll.min(max)
}

fn render_lines(frame: &mut Frame, lines: Vec<Line<'static>>, scroll: usize, area: Rect) {
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(scroll)
        .take(area.height as usize)
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
}

/// The headline figures: (label, value, style). Money is signed.
fn figures(app: &App, r: &Report) -> Vec<(&'static str, String, Style)> {
    let t = app.theme();
    let text = t.style(Role::Text);
    let money = |d: Decimal| (signed(d, DP), pnl_style(app, d));
    let opt_money = |d: Option<Decimal>| d.map_or(("-".to_string(), text), money);
    let ratio = |d: Option<Decimal>| d.map_or("-".to_string(), |d| format!("{:.2}", d));
    let pct = |d: Option<Decimal>| {
        d.map_or("-".to_string(), |d| {
            format!("{:.2}%", (d * Decimal::ONE_HUNDRED).round_dp(2))
        })
    };
    let (net, net_s) = money(r.net_pnl);
    let (avg_w, avg_w_s) = opt_money(r.avg_win);
    let (avg_l, avg_l_s) = opt_money(r.avg_loss);
    // The same figure `pit report` prints (a fall from the peak, never negative).
    let dd = format!("{:.*}", DP as usize, r.max_drawdown.round_dp(DP));
    let dd_s = if r.max_drawdown > Decimal::ZERO {
        t.style(Role::Loss)
    } else {
        text
    };
    let pf_s = match r.profit_factor {
        Some(p) if p >= Decimal::ONE => t.style(Role::Profit),
        Some(_) => t.style(Role::Loss),
        None => text,
    };
    vec![
        ("net PnL", net, net_s),
        ("trades", r.trades.to_string(), text),
        ("win rate", pct(r.win_rate), text),
        ("wins / losses", format!("{} / {}", r.wins, r.losses), text),
        ("average win", avg_w, avg_w_s),
        ("average loss", avg_l, avg_l_s),
        ("profit factor", ratio(r.profit_factor), pf_s),
        ("max drawdown", dd, dd_s),
        ("win streak", r.longest_win_streak.to_string(), text),
        ("loss streak", r.longest_loss_streak.to_string(), text),
        (
            "fees",
            format!("{:.*}", DP as usize, r.fees.round_dp(DP)),
            text,
        ),
        ("volume", format!("{:.2}", r.volume.round_dp(2)), text),
    ]
}

/// Each table: a title, a header and its rows, then a blank line.
fn table_lines(app: &App, tables: &[(&str, &Vec<Bucket>)], key_w: usize) -> Vec<Line<'static>> {
    let t = app.theme();
    let mut out = Vec::new();
    for (i, (title, rows)) in tables.iter().enumerate() {
        if i > 0 {
            out.push(Line::from(""));
        }
        out.push(Line::styled(
            format!("PnL by {title}"),
            t.style(Role::Header),
        ));
        out.push(Line::styled(
            format!(
                "{} {:>6} {:>5} {:>6} {:>13} {:>11}",
                lpad(title, key_w),
                "trades",
                "wins",
                "losses",
                "pnl",
                "fees"
            ),
            t.style(Role::Dim),
        ));
        if rows.is_empty() {
            out.push(Line::styled("(no closed trades)", t.style(Role::Dim)));
        }
        for b in rows.iter() {
            out.push(Line::from(vec![
                Span::styled(
                    format!(
                        "{} {:>6} {:>5} {:>6} ",
                        lpad(&b.key, key_w),
                        b.trades,
                        b.wins,
                        b.losses
                    ),
                    t.style(Role::Text),
                ),
                Span::styled(rpad(&signed(b.pnl, DP), 13), pnl_style(app, b.pnl)),
                Span::styled(
                    format!(
                        " {:>11}",
                        format!("{:.*}", DP as usize, b.fees.round_dp(DP))
                    ),
                    t.style(Role::Text),
                ),
            ]));
        }
    }
    out
}

/// `MM-DD HH:MM` UTC.
fn short_time(ts: crate::domain::Timestamp) -> String {
    chrono::DateTime::from_timestamp(ts.0.div_euclid(1_000_000_000), 0)
        .map_or("?".into(), |d| d.format("%m-%d %H:%M").to_string())
}

/// The equity curve: cumulative net PnL from zero, one point per closed trade.
fn render_chart(app: &App, r: &Report, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    if area.height < 3 || area.width < 20 {
        return;
    }
    let Some(&(first, _)) = r.equity_curve.first() else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "equity curve: no closed trades yet",
                t.style(Role::Dim),
            )),
            area,
        );
        return;
    };
    let last = r.equity_curve.last().map_or(first, |p| p.0);
    let secs = |ts: crate::domain::Timestamp| (ts.0 - first.0) as f64 / 1e9;
    // Plotting only: the figures stay decimal.
    let mut points = vec![(0.0, 0.0)];
    points.extend(
        r.equity_curve
            .iter()
            .map(|(ts, e)| (secs(*ts), e.to_f64().unwrap_or(0.0))),
    );
    let lo = r
        .equity_curve
        .iter()
        .map(|p| p.1)
        .min()
        .unwrap_or_default()
        .min(Decimal::ZERO);
    let hi = r
        .equity_curve
        .iter()
        .map(|p| p.1)
        .max()
        .unwrap_or_default()
        .max(Decimal::ZERO);
    let (mut y0, mut y1) = (lo.to_f64().unwrap_or(0.0), hi.to_f64().unwrap_or(0.0));
    if lo == hi {
        y0 -= 1.0;
        y1 += 1.0;
    }
    let x1 = secs(last).max(1.0);
    let dim = t.style(Role::Dim);
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(t.style(Role::Chart))
            .data(&points),
    ])
    .block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(t.style(Role::Border))
            .title(Span::styled(
                " equity: cumulative net PnL per closed trade ",
                dim,
            )),
    )
    .x_axis(Axis::default().bounds([0.0, x1]).style(dim).labels([
        Span::styled(short_time(first), dim),
        Span::styled(short_time(last), dim),
    ]))
    .y_axis(Axis::default().bounds([y0, y1]).style(dim).labels([
        Span::styled(signed(lo, 2), pnl_style(app, lo)),
        Span::styled(signed(hi, 2), pnl_style(app, hi)),
    ]));
    frame.render_widget(chart, area);
}
