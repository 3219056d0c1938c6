//! The status bar (mode, ENGINE NOT RESPONDING, feed age, RESYNCING, trading state,
//! SESSION CLOSED (an instrument outside its trading session),
//! engine clock, engine lag, frame time),
//! the full-width HALTED banner, and the footer (key hints or the last message).

use crate::app::{Action, Attached, Mode};
use crate::domain::TradingState;
use crate::engine::view::HaltLatchState;
use crate::ui::theme::Role;
use crate::ui::{App, short_duration, state_style};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let view = app.view();
    let sep = || Span::styled(" │ ", t.style(Role::Border));
    let mode_style = match app.mode {
        Mode::Live => t.style(Role::Critical).add_modifier(Modifier::REVERSED),
        _ => t.style(Role::Header),
    };
    let mut spans = vec![
        Span::styled(format!(" {} ", app.mode.as_str()), mode_style),
        sep(),
    ];
    // `pit attach`: whose console this is.
    let attached = match app.attached() {
        Attached::No => None,
        Attached::Admin => Some("ATTACHED"),
        Attached::Viewer => Some("VIEWER (read-only)"),
    };
    if let Some(label) = attached {
        spans.push(Span::styled(label, t.style(Role::Header)));
        spans.push(sep());
    }
    // Replays: the clock's speed (PAUSED when stopped) and the recorded date and time.
    if app.replay_ended() {
        spans.push(Span::styled(
            " END OF RECORDING ",
            t.style(Role::Warning)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ));
        spans.push(sep());
        spans.push(Span::styled(
            format!("recorded {}", view.now.to_rfc3339()),
            t.style(Role::Text),
        ));
        spans.push(sep());
    } else if let Some(r) = app.replay_clock() {
        let style = if r.paused {
            t.style(Role::Warning).add_modifier(Modifier::BOLD)
        } else {
            t.style(Role::Text)
        };
        spans.push(Span::styled(r.label(), style));
        spans.push(sep());
        spans.push(Span::styled(
            format!("recorded {}", view.now.to_rfc3339()),
            t.style(Role::Text),
        ));
        spans.push(sep());
    }
    // Real orders: LIVE (real money) or TESTNET, the account, and what protects it.
    if let Some(x) = &view.health.exec {
        let style = if x.network == "LIVE" {
            t.style(Role::Critical)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            t.style(Role::Warning)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
        };
        spans.push(Span::styled(
            format!(
                " {} {} acct {} ",
                x.network,
                x.venue,
                x.account.as_deref().unwrap_or("?")
            ),
            style,
        ));
        spans.push(sep());
        if let Some(r) = &x.reconciling {
            spans.push(Span::styled(
                format!("RECONCILING ({r}): new orders refused"),
                t.style(Role::Warning).add_modifier(Modifier::BOLD),
            ));
            spans.push(sep());
        }
        for r in &x.holds {
            spans.push(Span::styled(
                format!(" HELD: {r} "),
                t.style(Role::Critical)
                    .add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
            spans.push(sep());
        }
        if let Some(r) = &x.stopped {
            spans.push(Span::styled(
                format!(" STOPPED: {r} "),
                t.style(Role::Critical)
                    .add_modifier(Modifier::REVERSED | Modifier::BOLD),
            ));
            spans.push(sep());
        }
        spans.push(Span::styled(x.dead_man.clone(), t.style(Role::Warning)));
        spans.push(sep());
    }
    // The engine has stopped publishing: everything on screen is as old as the last view.
    if app.engine_not_responding() {
        spans.push(Span::styled(
            " ENGINE NOT RESPONDING ",
            t.style(Role::Critical)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ));
        spans.push(sep());
    }
    spans.extend([
        Span::styled(
            format!(" {} ", view.trading_state.as_str()),
            state_style(app, view.trading_state).add_modifier(Modifier::BOLD),
        ),
        sep(),
    ]);
    // Trading sessions (`[[sessions]]`): an instrument outside its window takes no new
    // orders; said next to the trading state, where it cannot be pushed off the bar.
    for s in &view.sessions {
        if s.state == "OPEN" {
            continue;
        }
        let style = if s.suspended {
            t.style(Role::Warning)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            t.style(Role::Warning).add_modifier(Modifier::BOLD)
        };
        spans.push(Span::styled(format!(" {} {} ", s.state, s.symbol), style));
        spans.push(sep());
    }
    if view.store_failed.is_some() {
        // Unmissable: nothing on screen since the failure is recorded.
        spans.push(Span::styled(
            " STORE FAILED ",
            t.style(Role::Critical)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ));
        spans.push(sep());
    }
    if view.trading_state == TradingState::Halted
        && let Some((text, role)) = latch_label(view.halt_latch)
    {
        spans.push(Span::styled(
            text,
            t.style(role).add_modifier(Modifier::BOLD),
        ));
        spans.push(sep());
    }
    let crit = app.unacked_critical();
    if crit > 0 {
        spans.push(Span::styled(
            format!("! {crit} CRITICAL"),
            t.style(Role::Critical).add_modifier(Modifier::REVERSED),
        ));
        spans.push(sep());
    }
    match app.market() {
        Some(m) => {
            let sym = m.instrument.as_ref().map_or("?", |i| i.symbol.as_str());
            spans.push(Span::styled(sym.to_string(), t.style(Role::Title)));
            spans.push(Span::raw(" "));
            spans.extend(feed_spans(app, app.instrument_index(), m));
            // Other instruments whose feed is not live, named with their state.
            for (i, o) in view.markets.iter().enumerate() {
                if i == app.instrument_index() {
                    continue;
                }
                let Some(osym) = o.instrument.as_ref().map(|i| i.symbol.as_str()) else {
                    continue;
                };
                let word = match view.feed_state(i) {
                    Some(s) if !s.is_live() => s.word(),
                    Some(_) => continue,
                    None if o.resyncing => "RESYNCING".to_string(),
                    None => continue,
                };
                spans.push(Span::styled(
                    format!(" {osym} {word}"),
                    t.style(Role::Warning).add_modifier(Modifier::BOLD),
                ));
            }
        }
        None => spans.push(Span::styled("no market", t.style(Role::Dim))),
    }
    if !view.gate_open && view.trading_state != TradingState::Halted {
        spans.push(sep());
        spans.push(Span::styled("GATE CLOSED", t.style(Role::Warning)));
    }
    // The engine clock, then lag and frame time: shown whole while they fit, dropped
    // (lag first) on a narrow terminal rather than cut, and never before what matters.
    let tails = [
        Span::styled(view.now.hms_millis(), t.style(Role::Text)),
        Span::styled(
            format!(
                "lag {} frame {:.1}ms",
                short_duration(app.engine_lag()),
                app.frame_time().as_secs_f64() * 1000.0
            ),
            t.style(Role::Dim),
        ),
    ];
    let mut width: usize = spans.iter().map(Span::width).sum();
    for tail in tails {
        let more = sep().width() + tail.width();
        if width + more > usize::from(area.width) {
            break;
        }
        width += more;
        spans.push(sep());
        spans.push(tail);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The selected market's feed state in words: a live venue's connection (`LIVE`,
/// `CONNECTING`, `STALE 12s`, `RESYNCING`, `DISCONNECTED — retry in 8s`), or for the
/// simulated market and replays the age of the last book update (`feed 12ms`), `STALE`
/// and `RESYNCING` when so. Anything but live is in reverse video: it reads without
/// colour.
fn feed_spans(app: &App, i: usize, m: &crate::engine::view::MarketView) -> Vec<Span<'static>> {
    use crate::engine::view::FeedState;
    let t = app.theme();
    let view = app.view();
    let alarm = |text: String, role: Role| {
        Span::styled(
            format!(" {text} "),
            t.style(role)
                .add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    };
    match view.feed_state(i) {
        Some(FeedState::Live) => {
            let age = view
                .feed_of(i)
                .and_then(|f| f.last_frame_age)
                .map(|a| format!(" {}", short_duration(a)))
                .unwrap_or_default();
            vec![Span::styled(format!("LIVE{age}"), t.style(Role::Text))]
        }
        Some(s @ (FeedState::Disconnected { .. } | FeedState::Stopped)) => {
            vec![alarm(s.word(), Role::Critical)]
        }
        Some(s) => vec![alarm(s.word(), Role::Warning)],
        None => {
            let mut v = Vec::new();
            if m.resyncing {
                v.push(alarm("RESYNCING".into(), Role::Warning));
            } else if m.stale {
                let age = m
                    .last_update
                    .map(|ts| format!(" {}", short_duration(view.now.since(ts))))
                    .unwrap_or_default();
                v.push(alarm(format!("STALE{age}"), Role::Warning));
            } else {
                let feed = match m.last_update {
                    Some(ts) => format!("feed {}", short_duration(view.now.since(ts))),
                    None => "no data yet".to_string(),
                };
                v.push(Span::styled(feed, t.style(Role::Text)));
            }
            v
        }
    }
}

/// Whether the halt is on disk yet: "latched" once the halt latch is fsynced (a restart
/// comes up HALTED). Nothing for a run that keeps no latch.
fn latch_label(state: HaltLatchState) -> Option<(&'static str, Role)> {
    match state {
        HaltLatchState::NotLatched => None,
        HaltLatchState::Latching => Some(("latching...", Role::Warning)),
        HaltLatchState::Latched => Some(("latched", Role::Halted)),
        HaltLatchState::Failed => Some(("NOT LATCHED", Role::Critical)),
    }
}

/// HALTED as a full-width banner: the `lines` of [`halted_banner_lines`] (the reason, the
/// kill switch's progress, what to do next), never cut.
pub fn render_halted_banner(app: &App, frame: &mut Frame, area: Rect, lines: Vec<String>) {
    let t = app.theme();
    let style = t.style(Role::Halted);
    let lines: Vec<Line> = lines.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .style(style.add_modifier(Modifier::BOLD)),
        area,
    );
}

/// The banner's lines at `width` columns, at most `max_lines` (and at least 3): the
/// headline (with the reason when it fits), the reason wrapped at words when it does not,
/// the kill switch's progress, and what to do next. A reason too long even for that is
/// shortened (ending in `…`), never the lines after it.
pub fn halted_banner_lines(app: &App, width: u16, max_lines: u16) -> Vec<String> {
    let view = app.view();
    let width = usize::from(width.max(1));
    let mut detail = Vec::new();
    if let Some(k) = &view.kill {
        detail.push(k.describe());
        if k.flatten_orders > 0 {
            detail.push(format!("flatten orders {}", k.flatten_orders));
        }
    }
    detail.push(format!("{} open orders", view.open_orders.len()));
    let rearm = app.keymap().keys_text(Action::ReArm);
    let headline = format!(
        "■■■  HALTED  ■■■  trading gate {}",
        if view.gate_open { "OPEN" } else { "CLOSED" }
    );
    // The kill's progress, wrapped at words too (at 60 columns it is wider than the line).
    let progress = crate::ui::wrap_words(&detail.join("  ·  "), width);
    let mut lines = Vec::new();
    match &view.halt_reason {
        Some(r) if headline.chars().count() + 5 + r.chars().count() <= width => {
            lines.push(format!("{headline}  ·  {r}"));
        }
        Some(r) => {
            lines.push(headline);
            let room = usize::from(max_lines)
                .saturating_sub(2 + progress.len())
                .max(1);
            let mut wrapped = crate::ui::wrap_words(r, width);
            if wrapped.len() > room {
                wrapped.truncate(room);
                if let Some(last) = wrapped.last_mut() {
                    let keep = width.saturating_sub(1).min(last.chars().count());
                    *last = last.chars().take(keep).collect::<String>() + "…";
                }
            }
            lines.extend(wrapped);
        }
        None => lines.push(headline),
    }
    lines.extend(progress);
    lines.push(if view.store_failed.is_some() {
        "STORE FAILED: nothing is recorded; free the disk, then restart pit".to_string()
    } else {
        format!("press {rearm} to re-arm (asks to confirm)")
    });
    lines
}

/// The last message, or the main key hints generated from the keymap.
pub fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let line = match app.flash() {
        Some(msg) => Line::styled(format!(" {msg}"), t.style(Role::Warning)),
        None => {
            let km = app.keymap();
            // The ladder with the focus: its keys act on the cursor row.
            let ladder = app.ladder().on && app.focus() == crate::app::Pane::Book;
            let hints = [
                (Action::Kill, "KILL"),
                (Action::PauseResume, "pause"),
                (Action::Buy, if ladder { "buy here" } else { "buy" }),
                (Action::Sell, if ladder { "sell here" } else { "sell" }),
                (Action::CancelAll, "cancel all"),
                if ladder {
                    (Action::CancelSelected, "cancel here")
                } else {
                    (Action::CancelSelected, "cancel sel")
                },
                if ladder {
                    (Action::Modify, "move")
                } else {
                    (Action::Flatten, "flatten")
                },
                if ladder {
                    (Action::LadderCentre, "centre")
                } else {
                    (Action::NextFocus, "pane")
                },
                (Action::Help, "help"),
                (
                    Action::Quit,
                    if app.attached() == Attached::No {
                        "quit"
                    } else {
                        "detach"
                    },
                ),
            ];
            let mut spans = Vec::new();
            for (a, label) in hints {
                let keys = km.keys(a);
                let Some(k) = keys.first() else { continue };
                spans.push(Span::styled(format!(" {k}"), t.style(Role::Focus)));
                spans.push(Span::styled(format!(" {label} "), t.style(Role::Dim)));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}
