//! PnL: realized, unrealized, fees, equity; drawdown from the peak; today's loss against
//! the daily loss limit as a gauge; a sparkline of the session's equity.

use crate::app::{Pane, fmt_dec};
use crate::ui::theme::Role;
use crate::ui::{App, pane_block, pnl_style, signed};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
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
    let width = inner.width as usize;
    // Each figure stays with its label; a line that does not fit folds onto the next
    // rather than cutting a number at the pane's edge.
    let mut lines = crate::ui::flow(
        vec![
            vec![
                label("equity "),
                Span::styled(signed(p.equity, dp), pnl_style(app, p.equity)),
            ],
            vec![
                label("  realized "),
                Span::styled(signed(p.realized, dp), pnl_style(app, p.realized)),
            ],
        ],
        width,
    );
    lines.extend(crate::ui::flow(
        vec![
            vec![
                label("unreal "),
                Span::styled(signed(p.unrealized, dp), pnl_style(app, p.unrealized)),
            ],
            vec![
                label("  fees "),
                Span::styled(
                    fmt_dec(p.fees, dp),
                    if p.fees > Decimal::ZERO {
                        t.style(Role::Loss)
                    } else {
                        t.style(Role::Profit)
                    },
                ),
            ],
        ],
        width,
    ));
    let dd_style = if p.max_drawdown > Decimal::ZERO && p.drawdown * Decimal::TWO >= p.max_drawdown
    {
        t.style(Role::Warning)
    } else {
        t.style(Role::Text)
    };
    let mut dd = vec![
        vec![
            label("drawdown "),
            Span::styled(fmt_dec(p.drawdown, dp), dd_style),
        ],
        vec![
            label(" peak "),
            Span::styled(signed(p.equity_peak, dp), t.style(Role::Text)),
        ],
    ];
    if p.max_drawdown > Decimal::ZERO {
        dd.push(vec![
            label(" max "),
            Span::styled(fmt_dec(p.max_drawdown, 0), t.style(Role::Dim)),
        ]);
    }
    lines.extend(crate::ui::flow(dd, width));
    lines.extend(crate::ui::flow(loss_gauge(app, width), width));
    let text_h = lines.len() as u16;
    let [text_area, chart_area] =
        Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), text_area);
    if chart_area.height >= 2 {
        render_equity_chart(app, frame, chart_area);
    }
}

/// `day -123.45 [█████░░░░░░░] 25% of 5000 loss`: the day's loss against the daily loss
/// limit, as groups for [`crate::ui::flow`] (the figures, the bar when there is room, the
/// share of the limit).
fn loss_gauge(app: &App, width: usize) -> Vec<Vec<Span<'static>>> {
    let t = app.theme();
    let dp = app.money_dp();
    let p = &app.view().pnl;
    let loss = if p.day_pnl < Decimal::ZERO {
        -p.day_pnl
    } else {
        Decimal::ZERO
    };
    let day = vec![
        Span::styled("day ", t.style(Role::Dim)),
        Span::styled(signed(p.day_pnl, dp), pnl_style(app, p.day_pnl)),
    ];
    if p.daily_loss_limit <= Decimal::ZERO {
        return vec![
            day,
            vec![Span::styled(" (no daily loss limit)", t.style(Role::Dim))],
        ];
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
    let mut groups = vec![day];
    if bar_w > 0 {
        groups.push(vec![
            Span::raw(" ["),
            Span::styled("█".repeat(filled), style),
            Span::styled("░".repeat(bar_w - filled), t.style(Role::Dim)),
            Span::raw("]"),
        ]);
    }
    groups.push(vec![Span::styled(tail, style)]);
    groups
}

/// The session's equity samples, downsampled to the width and scaled between their
/// minimum and maximum (exact decimals; no floats).
fn render_equity_chart(app: &App, frame: &mut Frame, area: Rect) {
    let dp = app.money_dp();
    let t = app.theme();
    let samples: Vec<Decimal> = app.equity_samples().collect();
    let width = area.width as usize;
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
    // The low and the high stay whole: on a narrow pane the high goes to a line of its
    // own.
    let dim = t.style(Role::Dim);
    let head_lines = crate::ui::flow(
        vec![
            vec![Span::styled(format!("equity low {}", signed(min, dp)), dim)],
            vec![Span::styled(format!(" high {}", signed(max, dp)), dim)],
        ],
        width,
    );
    let [head, chart] = Layout::vertical([
        Constraint::Length(head_lines.len() as u16),
        Constraint::Min(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(head_lines), head);
    frame.render_widget(
        Sparkline::default()
            .data(data)
            .max(101)
            .style(t.style(Role::Chart)),
        chart,
    );
}
