//! PnL: realized, unrealized, fees, equity; drawdown from the peak; today's loss against
//! the daily loss limit as a gauge; a sparkline of the session's equity.

use crate::app::{Pane, fmt_dec};
use crate::ui::theme::Role;
use crate::ui::{App, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use rust_decimal::Decimal;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = pane_block(app, Pane::Pnl, " PnL ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let p = &app.view().pnl;
    let dp = app.money_dp();
    let label = |s: &'static str| Span::styled(s, t.style(Role::Dim));
    let mut lines = vec![
        Line::from(vec![
            label("equity "),
            Span::styled(signed(p.equity, dp), pnl_style(app, p.equity)),
            label("  realized "),
            Span::styled(signed(p.realized, dp), pnl_style(app, p.realized)),
        ]),
        Line::from(vec![
            label("unreal "),
            Span::styled(signed(p.unrealized, dp), pnl_style(app, p.unrealized)),
            label("  fees "),
            Span::styled(
                fmt_dec(p.fees, dp),
                if p.fees > Decimal::ZERO {
                    t.style(Role::Loss)
                } else {
                    t.style(Role::Profit)
                },
            ),
        ]),
    ];
    let dd_style = if p.max_drawdown > Decimal::ZERO && p.drawdown * Decimal::TWO >= p.max_drawdown
    {
        t.style(Role::Warning)
    } else {
        t.style(Role::Text)
    };
    let mut dd = vec![
        label("drawdown "),
        Span::styled(fmt_dec(p.drawdown, dp), dd_style),
        label(" peak "),
        Span::styled(signed(p.equity_peak, dp), t.style(Role::Text)),
    ];
    if p.max_drawdown > Decimal::ZERO {
        dd.push(label(" max "));
        dd.push(Span::styled(fmt_dec(p.max_drawdown, 0), t.style(Role::Dim)));
    }
    lines.push(Line::from(dd));
    lines.push(loss_gauge(app, inner.width as usize));
    let text_h = lines.len() as u16;
    let [text_area, chart_area] =
        Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), text_area);
    if chart_area.height >= 2 {
        render_equity_chart(app, frame, chart_area);
    }
}

/// `day -123.45 [█████░░░░░░░] 25% of 5000`: the day's loss against the daily loss limit.
fn loss_gauge(app: &App, width: usize) -> Line<'static> {
    let t = app.theme();
    let dp = app.money_dp();
    let p = &app.view().pnl;
    let loss = if p.day_pnl < Decimal::ZERO {
        -p.day_pnl
    } else {
        Decimal::ZERO
    };
    let mut spans = vec![
        Span::styled("day ", t.style(Role::Dim)),
        Span::styled(signed(p.day_pnl, dp), pnl_style(app, p.day_pnl)),
    ];
    if p.daily_loss_limit <= Decimal::ZERO {
        spans.push(Span::styled(" (no daily loss limit)", t.style(Role::Dim)));
        return Line::from(spans);
    }
    let pct = (loss * Decimal::ONE_HUNDRED / p.daily_loss_limit)
        .round_dp(0)
        .min(Decimal::ONE_HUNDRED);
    let pct_i = u64::try_from(pct).unwrap_or(0);
    let tail = format!(" {pct_i}% of {} loss", fmt_dec(p.daily_loss_limit, 0));
    let used = 4 + signed(p.day_pnl, dp).len() + 3 + tail.len();
    let bar_w = width.saturating_sub(used).min(30);
    let filled = (bar_w as u64 * pct_i / 100) as usize;
    let style = if pct_i >= 80 {
        t.style(Role::Critical)
    } else if pct_i >= 50 {
        t.style(Role::Warning)
    } else {
        t.style(Role::Profit)
    };
    if bar_w > 0 {
        spans.push(Span::raw(" ["));
        spans.push(Span::styled("█".repeat(filled), style));
        spans.push(Span::styled("░".repeat(bar_w - filled), t.style(Role::Dim)));
        spans.push(Span::raw("]"));
    }
    spans.push(Span::styled(tail, style));
    Line::from(spans)
}

/// The session's equity samples, downsampled to the width and scaled between their
/// minimum and maximum (exact decimals; no floats).
fn render_equity_chart(app: &App, frame: &mut Frame, area: Rect) {
    let dp = app.money_dp();
    let t = app.theme();
    let samples: Vec<Decimal> = app.equity_samples().collect();
    let [head, chart] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let width = chart.width as usize;
    if samples.is_empty() || width == 0 {
        return;
    }
    let step = samples.len().div_ceil(width).max(1);
    let points: Vec<Decimal> = samples.chunks(step).map(|c| c[c.len() - 1]).collect();
    let min = points.iter().copied().min().unwrap_or_default();
    let max = points.iter().copied().max().unwrap_or_default();
    let range = max - min;
    let data: Vec<u64> = points
        .iter()
        .map(|e| {
            if range.is_zero() {
                50
            } else {
                u64::try_from(((*e - min) * Decimal::ONE_HUNDRED / range).round()).unwrap_or(0) + 1
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("equity ", t.style(Role::Dim)),
            Span::styled(
                format!("low {} high {}", signed(min, dp), signed(max, dp)),
                t.style(Role::Dim),
            ),
        ])),
        head,
    );
    frame.render_widget(
        Sparkline::default()
            .data(data)
            .max(101)
            .style(t.style(Role::Chart)),
        chart,
    );
}
