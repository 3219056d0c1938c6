//! Yes/no confirmations (re-arm, cancel all, quit) and the flatten preview.

use super::centered;
use crate::app::{Confirm, fmt_dec};
use crate::domain::Side;
use crate::ui::theme::Role;
use crate::ui::{App, pnl_style, rpad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use rust_decimal::Decimal;

pub fn render(app: &App, c: Confirm, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let (title, mut lines, role) = match c {
        Confirm::ReArm => (
            " Re-arm trading? ",
            vec![
                Line::from(format!(
                    "The engine is {}{}.",
                    view.trading_state.as_str(),
                    view.halt_reason
                        .as_ref()
                        .map_or(String::new(), |r| format!(" ({r})"))
                )),
                Line::from("Re-arming opens the trading gate: strategies and"),
                Line::from("manual orders trade again."),
                Line::from(""),
                Line::styled(
                    "Press y to re-arm. Any other key keeps it halted.",
                    t.style(Role::Warning),
                ),
            ],
            Role::Warning,
        ),
        Confirm::CancelAll => (
            " Cancel all orders? ",
            vec![
                Line::from(format!(
                    "Cancel all {} open orders (strategies' and manual)?",
                    view.open_orders.len()
                )),
                Line::from(""),
                Line::styled(
                    "y / enter: cancel all    any other key: keep",
                    t.style(Role::Warning),
                ),
            ],
            Role::Warning,
        ),
        Confirm::Quit => {
            let positions = view
                .positions
                .iter()
                .filter(|p| !p.position.is_flat())
                .count();
            (
                " Quit? ",
                vec![
                    Line::from(format!(
                        "{} open orders, {} open positions.",
                        view.open_orders.len(),
                        positions
                    )),
                    Line::from("On exit open orders are cancelled if"),
                    Line::from("kill_switch.cancel_on_exit; positions stay open."),
                    Line::from(""),
                    Line::styled(
                        "y / enter: quit    any other key: stay",
                        t.style(Role::Warning),
                    ),
                ],
                Role::Warning,
            )
        }
        Confirm::Flatten => (" Flatten ", vec![], Role::Warning),
    };
    lines.insert(0, Line::from(""));
    let h = lines.len() as u16 + 2;
    let r = centered(area, 60, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(role))
                .title(Span::styled(title, t.style(Role::Title))),
        ),
        r,
    );
}

/// What `F` would send, with the slippage estimated by walking the visible book.
pub fn render_flatten(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let preview = app.flatten_preview();
    let mut lines = vec![Line::styled(
        format!(
            "{:<9}{:<5}{:>10}{:>13}{:>12}{:>11}{:>8}",
            "sym", "side", "qty", "est. avg", "worst", "cost", "bps"
        ),
        t.style(Role::Header),
    )];
    let mut total = Decimal::ZERO;
    for l in &preview {
        let side_style = match l.side {
            Side::Buy => t.style(Role::Bid),
            Side::Sell => t.style(Role::Ask),
        };
        let slip = l.slippage.unwrap_or_default();
        total += slip;
        lines.push(Line::from(vec![
            Span::raw(format!("{:<9}", l.symbol)),
            Span::styled(format!("{:<5}", l.side.as_str()), side_style),
            Span::raw(rpad(&l.qty, 10)),
            Span::raw(rpad(l.avg_price.as_deref().unwrap_or("-"), 13)),
            Span::raw(rpad(l.worst_price.as_deref().unwrap_or("-"), 12)),
            Span::styled(
                rpad(&l.slippage.map_or("-".into(), |s| fmt_dec(s, 4)), 11),
                pnl_style(app, -slip),
            ),
            Span::raw(rpad(
                &l.slippage_bps.map_or("-".into(), |s| fmt_dec(s, 2)),
                8,
            )),
        ]));
        if let Some(u) = &l.unfilled {
            lines.push(Line::styled(
                format!("  ! the visible book cannot fill {u} {}", l.symbol),
                t.style(Role::Critical),
            ));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::raw("Reduce-only market orders. Estimated cost vs mid: "),
        Span::styled(fmt_dec(total, 4), pnl_style(app, -total)),
    ]));
    lines.push(Line::styled(
        "y / enter: flatten all    any other key: cancel",
        t.style(Role::Warning),
    ));
    let h = lines.len() as u16 + 2;
    let r = centered(area, 74, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.style(Role::Warning))
                .title(Span::styled(
                    " Flatten all positions? ",
                    t.style(Role::Title),
                )),
        ),
        r,
    );
}
