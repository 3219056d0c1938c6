//! The console: pane and full-screen snapshots on ratatui's TestBackend, cell-style checks
//! for the colours that carry meaning, NO_COLOR/mono, the keymap and the app's key handling.

mod common;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::{Action, AppEffect, ConsoleConfig, Keymap, KeymapConfig, Pane};
use pit::config::{Config, ConfigError};
use pit::domain::{ClientOrderId, OrderKind, Price, Qty, Side};
use pit::engine::{AlertLevel, Command};
use pit::ui::panes;
use pit::ui::theme::{Role, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::path::Path;
use std::sync::Arc;

fn text(term: &Terminal<TestBackend>) -> String {
    term.backend().to_string()
}

fn key(c: char) -> KeyEvent {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), m)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// (x, y) of the first occurrence of `needle` on a row that also contains `row_has`.
fn find(term: &Terminal<TestBackend>, row_has: &str, needle: &str) -> Option<(u16, u16)> {
    let buf = term.backend().buffer();
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let row: String = cells.concat();
        if !row.contains(row_has) {
            continue;
        }
        // Cells are single-width here; map the byte offset back to a column.
        if let Some(byte) = row.find(needle) {
            let mut col = 0u16;
            let mut acc = 0usize;
            for (x, s) in cells.iter().enumerate() {
                if acc >= byte {
                    col = x as u16;
                    break;
                }
                acc += s.len();
            }
            return Some((col, y));
        }
    }
    None
}

// ----- snapshots -----

#[test]
fn snapshot_full_screen_80x24() {
    insta::assert_snapshot!(text(&screen(&app(), 80, 24)));
}

#[test]
fn snapshot_full_screen_160x48() {
    insta::assert_snapshot!(text(&screen(&app(), 160, 48)));
}

#[test]
fn snapshot_engine_not_responding_80x24() {
    let mut app = app();
    let before = text(&screen(&app, 80, 24));
    assert!(!before.contains("ENGINE NOT RESPONDING"), "{before}");
    app.set_engine_not_responding(true);
    let term = screen(&app, 80, 24);
    let s = text(&term);
    let status_bar = s.lines().next().unwrap_or_default();
    assert!(
        status_bar.contains("ENGINE NOT RESPONDING"),
        "first in the status bar: {s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn snapshot_halted_120x40() {
    let app = app_with(halted_view(), Theme::builtin("dark").expect("dark"));
    insta::assert_snapshot!(text(&screen(&app, 120, 40)));
}

/// A halt reason longer than the terminal is wide (a restart after a crash names both
/// halts) wraps onto lines of its own under the headline: every word on screen, none
/// cut, and the line saying how to re-arm still there.
#[test]
fn a_long_halt_reason_wraps_and_is_never_cut() {
    let mut view = halted_view();
    let reason = "restored HALTED (recovered from a crash; halted before: kill switch \
                  pressed): re-arm to trade";
    view.halt_reason = Some(reason.to_string());
    let app = app_with(view, Theme::builtin("dark").expect("dark"));
    for (w, h) in [(80, 24), (120, 40)] {
        let s = text(&screen(&app, w, h));
        let banner: Vec<&str> = s
            .lines()
            .skip(1)
            .take(5)
            .map(|l| l.trim_matches('"').trim())
            .collect();
        let joined = banner.join(" ");
        assert!(
            joined.contains(reason),
            "{w}x{h}: the whole reason, in order: {s}"
        );
        assert!(
            s.contains("to re-arm (asks to confirm)"),
            "{w}x{h}: how to re-arm: {s}"
        );
    }
    // A reason too long for half the screen is shortened, never the lines after it.
    let mut view = halted_view();
    view.halt_reason = Some("a very long reason ".repeat(60));
    let app = app_with(view, Theme::builtin("dark").expect("dark"));
    let s = text(&screen(&app, 60, 20));
    assert!(s.contains('…'), "shortened: {s}");
    assert!(s.contains("to re-arm (asks to confirm)"), "{s}");
    assert!(s.contains("open orders"), "the kill's progress: {s}");
}

#[test]
fn snapshot_book() {
    insta::assert_snapshot!(text(&pane(&app(), 64, 18, panes::book::render)));
}

#[test]
fn snapshot_tape() {
    insta::assert_snapshot!(text(&pane(&app(), 48, 10, panes::tape::render)));
}

#[test]
fn snapshot_positions() {
    insta::assert_snapshot!(text(&pane(&app(), 72, 5, panes::positions::render)));
}

#[test]
fn snapshot_pnl() {
    insta::assert_snapshot!(text(&pane(&app(), 60, 10, panes::pnl::render)));
}

#[test]
fn snapshot_orders() {
    insta::assert_snapshot!(text(&pane(&app(), 90, 6, panes::orders::render)));
}

#[test]
fn snapshot_strategies() {
    insta::assert_snapshot!(text(&pane(&app(), 80, 6, panes::strategies::render)));
}

#[test]
fn snapshot_alerts() {
    insta::assert_snapshot!(text(&pane(&app(), 90, 6, panes::alerts::render)));
}

#[test]
fn snapshot_status_bar() {
    insta::assert_snapshot!(text(&pane(&app(), 120, 1, panes::status::render)));
}

#[test]
fn snapshot_popups() {
    let mut a = app();
    a.on_key(key('?'));
    insta::assert_snapshot!("help", text(&screen(&a, 100, 40)));
    a.on_key(code(KeyCode::Esc));
    a.on_key(key('b'));
    insta::assert_snapshot!("order_form", text(&screen(&a, 100, 30)));
    a.on_key(code(KeyCode::Esc));
    a.on_key(key('F'));
    insta::assert_snapshot!("flatten", text(&screen(&a, 100, 30)));
    let mut h = app_with(halted_view(), Theme::builtin("dark").expect("dark"));
    h.on_key(key('R'));
    insta::assert_snapshot!("rearm", text(&screen(&h, 100, 30)));
}

// ----- colours that carry meaning -----

#[test]
fn bid_ask_loss_and_halted_cells_use_their_roles() {
    let theme = Theme::builtin("dark").expect("dark");
    let bid = theme.style(Role::Bid).fg;
    let ask = theme.style(Role::Ask).fg;
    let loss = theme.style(Role::Loss).fg;
    let halted = theme.style(Role::Halted);
    assert_ne!(bid, ask);

    let book = pane(&app(), 64, 18, panes::book::render);
    let buf = book.backend().buffer();
    let (x, y) = find(&book, "bid ", "59999.9").expect("a bid level");
    assert_eq!(
        buf[(x, y)].fg,
        bid.unwrap_or(Color::Reset),
        "bid price cell"
    );
    let (x, y) = find(&book, "ask ", "60000.2").expect("an ask level");
    assert_eq!(
        buf[(x, y)].fg,
        ask.unwrap_or(Color::Reset),
        "ask price cell"
    );

    let pnl = pane(&app(), 60, 10, panes::pnl::render);
    let (x, y) = find(&pnl, "day ", "-120.40").expect("day loss");
    assert_eq!(
        pnl.backend().buffer()[(x, y)].fg,
        loss.unwrap_or(Color::Reset)
    );

    let h = app_with(halted_view(), theme.clone());
    let term = screen(&h, 120, 40);
    let (x, y) = find(&term, "■■■", "HALTED").expect("halted banner");
    assert!(y >= 1, "the banner is below the status bar");
    let cell = &term.backend().buffer()[(x, y)];
    assert_eq!(cell.bg, halted.bg.unwrap_or(Color::Reset));
    assert_eq!(cell.fg, halted.fg.unwrap_or(Color::Reset));
    // The banner spans the full width.
    assert_eq!(
        term.backend().buffer()[(0, y)].bg,
        halted.bg.unwrap_or(Color::Reset)
    );
    assert_eq!(
        term.backend().buffer()[(119, y)].bg,
        halted.bg.unwrap_or(Color::Reset)
    );
}

fn assert_colourless_but_readable(theme: Theme) {
    let h = app_with(halted_view(), theme);
    for (w, hgt) in [(160, 48), (80, 24)] {
        let term = screen(&h, w, hgt);
        let buf = term.backend().buffer();
        for c in &buf.content {
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "a coloured cell"
            );
        }
        let s = text(&term);
        for word in ["HALTED", "bid ", "ask ", "+", "-"] {
            assert!(s.contains(word), "{word} missing at {w}x{hgt}:\n{s}");
        }
        if w == 160 {
            for word in [
                "BUY",
                "SELL",
                "LONG",
                "SHORT",
                "CRITICAL",
                "cancels 9 sent: 6 cancelled, 1 filled, 2 open (M-7 S1-41)",
            ] {
                assert!(s.contains(word), "{word} missing:\n{s}");
            }
        }
    }
}

#[test]
fn no_color_has_no_colours_but_reads_in_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    assert_colourless_but_readable(Theme::load("dark", &dir, true).expect("dark"));
}

#[test]
fn mono_theme_has_no_colours_but_reads_in_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mono = Theme::load("mono", &dir, false).expect("mono");
    assert!(mono.monochrome);
    assert_colourless_but_readable(mono);
}

#[test]
fn shipped_theme_files_load_and_match_the_builtins() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    for name in pit::ui::theme::THEME_NAMES {
        let t = Theme::load(name, &dir, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t, Theme::builtin(name).expect("builtin"));
    }
}

#[test]
fn broken_theme_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        "[roles]\nbid = { fg = \"green\" }\nask = { fg = \"rouge\" }\n",
    )
    .expect("write");
    let e = Theme::load("bad", dir.path(), false).expect_err("bad colour");
    let msg = e.to_string();
    assert!(msg.contains("bad.toml:3: roles.ask.fg"), "{msg}");
    assert!(msg.contains("rouge"), "{msg}");
    let e = Theme::load("missing", dir.path(), false).expect_err("missing");
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

// ----- keymap -----

#[test]
fn keymap_defaults() {
    let km = Keymap::from_config(&KeymapConfig::default()).expect("defaults");
    assert_eq!(km.action(&key('K')), Some(Action::Kill));
    assert_eq!(km.action(&key('R')), Some(Action::ReArm));
    assert_eq!(km.action(&key('k')), Some(Action::Up));
    assert_eq!(km.action(&key('3')), Some(Action::ToggleStrategy(2)));
    assert_eq!(km.action(&code(KeyCode::Tab)), Some(Action::NextFocus));
    assert_eq!(
        km.action(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    assert_eq!(km.action(&key('L')), Some(Action::Ladder));
    assert_eq!(km.action(&key('z')), Some(Action::LadderCentre));
    assert_eq!(km.action(&key('Z')), None);
}

#[test]
fn keymap_remaps_from_toml_and_help_follows() {
    let cfg = Config::parse(
        "[console.keys]\nkill = \"ctrl-k\"\npause = [\"p\", \"f2\"]\n",
        Path::new("c.toml"),
    )
    .expect("valid");
    let km = Keymap::from_config(&cfg.console.keys).expect("keymap");
    assert_eq!(
        km.action(&KeyEvent::new(KeyCode::Char('k'), KeyModifiers::CONTROL)),
        Some(Action::Kill)
    );
    assert_eq!(km.action(&key('K')), None, "the default K is replaced");
    assert_eq!(km.action(&code(KeyCode::F(2))), Some(Action::PauseResume));
    let rows = km.help_rows();
    let kill = rows.iter().find(|r| r.action == "kill").expect("kill row");
    assert_eq!(kill.keys, "ctrl-k");
    assert!(kill.description.contains("kill switch"));
    let pause = rows
        .iter()
        .find(|r| r.action == "pause")
        .expect("pause row");
    assert_eq!(pause.keys, "p/f2");
    assert_eq!(rows.len(), Action::all().count());
    // And the overlay shows them.
    let mut a = pit::ui::App::new(
        &cfg.console,
        Theme::builtin("dark").expect("dark"),
        Arc::new(view()),
    );
    a.on_key(key('?'));
    let s = text(&screen(&a, 100, 40));
    assert!(s.contains("ctrl-k") && s.contains("p/f2"), "{s}");
}

#[test]
fn bad_keys_are_refused_naming_the_key() {
    let err = |t: &str| match Config::parse(t, Path::new("c.toml")) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        other => panic!("expected an error, got {other:?}"),
    };
    let (line, key, msg) = err("seed = 1\n\n[console.keys]\nkill = \"hyper-k\"\n");
    assert_eq!(key, "console.keys.kill");
    assert_eq!(line, Some(4));
    assert!(msg.contains("hyper-k"), "{msg}");
    let (_, key, msg) = err("[console.keys]\nkil = \"K\"\n");
    assert_eq!(key, "console.keys.kil");
    assert!(msg.contains("unknown action"), "{msg}");
    let (_, key, msg) = err("[console.keys]\npause = \"K\"\n");
    assert!(key.starts_with("console.keys."), "{key}");
    assert!(msg.contains("already bound"), "{msg}");
    let (_, key, _) = err("[console]\nfsp = 30\n");
    assert_eq!(key, "console.fsp");
    let (_, key, _) = err("[console]\nfps = 0\n");
    assert_eq!(key, "console.fps");
}

// ----- app -----

#[test]
fn kill_is_immediate_without_a_popup() {
    let mut a = app();
    assert_eq!(a.on_key(key('K')), vec![AppEffect::Kill]);
    assert!(a.popup().is_none());
    // Even over another popup.
    a.on_key(key('c'));
    assert!(a.popup().is_some());
    assert_eq!(a.on_key(key('K')), vec![AppEffect::Kill]);
    assert!(a.popup().is_none());
    // And over the order form.
    a.on_key(key('b'));
    assert_eq!(a.on_key(key('K')), vec![AppEffect::Kill]);
    assert!(a.popup().is_none());
}

#[test]
fn rearm_asks_and_only_the_confirmation_sends_it() {
    let mut a = app_with(halted_view(), Theme::builtin("dark").expect("dark"));
    assert!(a.on_key(key('R')).is_empty());
    assert!(a.popup().is_some());
    assert!(
        a.on_key(code(KeyCode::Enter)).is_empty(),
        "enter is not a yes"
    );
    assert!(a.popup().is_none());
    a.on_key(key('R'));
    assert_eq!(a.on_key(key('y')), vec![AppEffect::Engine(Command::ReArm)]);
    assert!(a.popup().is_none());
}

#[test]
fn quit_with_open_orders_asks_first() {
    let mut a = app();
    assert!(a.on_key(key('q')).is_empty());
    assert!(!a.wants_quit());
    assert!(a.on_key(key('n')).is_empty());
    assert!(!a.wants_quit());
    a.on_key(key('q'));
    assert_eq!(a.on_key(key('y')), vec![AppEffect::Quit]);
    assert!(a.wants_quit());
    // Nothing open: quits at once.
    let mut flat = view();
    flat.open_orders.clear();
    flat.positions
        .iter_mut()
        .for_each(|p| p.position.qty = Default::default());
    let mut b = app_with(flat, Theme::builtin("dark").expect("dark"));
    assert_eq!(b.on_key(key('q')), vec![AppEffect::Quit]);
    assert!(b.wants_quit());
}

#[test]
fn cancel_all_asks_first() {
    let mut a = app();
    assert!(a.on_key(key('c')).is_empty());
    assert_eq!(
        a.on_key(key('y')),
        vec![AppEffect::Engine(Command::CancelAll)]
    );
}

#[test]
fn buy_form_sends_a_manual_order() {
    let mut a = app();
    // Opening the form asks the engine for its risk verdict on the default order.
    let opened = a.on_key(key('b'));
    assert!(
        matches!(opened.as_slice(), [AppEffect::Engine(Command::Preview(o))] if o.spec.side == Side::Buy),
        "{opened:?}"
    );
    // The form opens on the size field with the minimum size and the best bid.
    let effects = a.on_key(code(KeyCode::Enter));
    let [AppEffect::Engine(Command::Manual(o))] = effects.as_slice() else {
        panic!("expected one manual order, got {effects:?}");
    };
    assert_eq!(o.spec.side, Side::Buy);
    assert_eq!(o.spec.kind, OrderKind::Limit);
    assert_eq!(o.spec.price, Some(Price(600_000)));
    assert_eq!(o.spec.qty, Qty(1));
    assert!(a.popup().is_none());
}

#[test]
fn order_form_refuses_bad_input_and_makes_market_orders() {
    let mut a = app();
    a.on_key(key('s'));
    // Size 0.0005 is off the 0.001 lot grid.
    for _ in 0..5 {
        a.on_key(code(KeyCode::Backspace));
    }
    for c in "0.0005".chars() {
        a.on_key(key(c));
    }
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    assert!(a.popup().is_some(), "stays open with the reason");
    a.on_key(code(KeyCode::Backspace));
    a.on_key(code(KeyCode::Backspace));
    a.on_key(key('2'));
    // Price field: 'm' makes it a market order.
    a.on_key(code(KeyCode::Tab));
    a.on_key(key('m'));
    let effects = a.on_key(code(KeyCode::Enter));
    let [AppEffect::Engine(Command::Manual(o))] = effects.as_slice() else {
        panic!("expected one manual order, got {effects:?}");
    };
    assert_eq!(
        (o.spec.side, o.spec.kind, o.spec.price, o.spec.qty),
        (Side::Sell, OrderKind::Market, None, Qty(2))
    );
    // A limit far outside the price band is refused locally.
    a.on_key(key('b'));
    a.on_key(code(KeyCode::Tab));
    for _ in 0..10 {
        a.on_key(code(KeyCode::Backspace));
    }
    for c in "50000.0".chars() {
        a.on_key(key(c));
    }
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    let s = text(&screen(&a, 100, 30));
    assert!(s.contains("band 100 bps"), "{s}");
}

#[test]
fn tab_cycles_focus_and_the_bottom_pane() {
    let mut a = app();
    assert_eq!(a.focus(), Pane::Book);
    let mut seen = vec![a.focus()];
    for _ in 0..Pane::ALL.len() {
        a.on_key(code(KeyCode::Tab));
        seen.push(a.focus());
    }
    assert_eq!(&seen[..Pane::ALL.len()], &Pane::ALL);
    assert_eq!(a.focus(), Pane::Book, "wraps around");
    // Small terminal: the bottom pane follows the focus.
    a.on_key(code(KeyCode::Tab)); // Tape
    assert_eq!(a.bottom_pane(), Pane::Tape);
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("[Trades]"), "{s}");
    a.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.focus(), Pane::Book);
}

#[test]
fn x_cancels_the_selected_order() {
    let mut a = app();
    // Orders sorted oldest first: M-3, S1-7, S1-8.
    assert_eq!(
        a.on_key(key('x')),
        vec![AppEffect::Engine(Command::Cancel(ClientOrderId::new(
            "M-3"
        )))]
    );
    while a.focus() != Pane::Orders {
        a.on_key(code(KeyCode::Tab));
    }
    a.on_key(key('j'));
    a.on_key(key('j'));
    assert_eq!(
        a.on_key(key('x')),
        vec![AppEffect::Engine(Command::Cancel(ClientOrderId::new(
            "S1-8"
        )))]
    );
    a.on_key(key('k'));
    assert_eq!(
        a.on_key(key('x')),
        vec![AppEffect::Engine(Command::Cancel(ClientOrderId::new(
            "S1-7"
        )))]
    );
}

#[test]
fn a_critical_alert_rings_the_bell_once() {
    let mut quiet = view();
    quiet.alerts.retain(|al| al.level != AlertLevel::Critical);
    let mut a = pit::ui::App::new(
        &ConsoleConfig::default(),
        Theme::builtin("dark").expect("dark"),
        Arc::new(quiet.clone()),
    );
    assert!(a.take_effects().is_empty());
    a.set_view(Arc::new(view()));
    assert_eq!(a.take_effects(), vec![AppEffect::Bell]);
    a.set_view(Arc::new(view()));
    assert!(a.take_effects().is_empty(), "once per alert");
    // Acknowledged: no bell, and the highlight is gone.
    let mut acked = view();
    acked
        .alerts
        .iter_mut()
        .for_each(|al| al.acknowledged = true);
    a.set_view(Arc::new(acked));
    assert!(a.take_effects().is_empty());
    assert_eq!(a.unacked_critical(), 0);
    let shown = view().alerts.iter().map(|al| al.seq).max().unwrap();
    assert_eq!(
        a.on_key(key('a')),
        vec![AppEffect::Engine(Command::AcknowledgeAlerts {
            up_to: shown
        })]
    );
}

#[test]
fn pause_toggles_strategies_and_instruments() {
    let mut a = app();
    assert_eq!(a.on_key(key('p')), vec![AppEffect::Engine(Command::Pause)]);
    let mut paused = view();
    paused.trading_state = pit::domain::TradingState::Paused;
    a.set_view(Arc::new(paused));
    assert_eq!(a.on_key(key('p')), vec![AppEffect::Engine(Command::Resume)]);
    assert_eq!(
        a.on_key(key('2')),
        vec![AppEffect::Engine(Command::ToggleStrategy(1))]
    );
    assert!(a.on_key(key('9')).is_empty(), "no strategy 9");
    assert_eq!(a.instrument_index(), 0);
    a.on_key(key(']'));
    assert_eq!(a.instrument_index(), 1);
    assert!(text(&screen(&a, 160, 48)).contains("ETH-USD"));
    a.on_key(key('['));
    assert_eq!(a.instrument_index(), 0);
    a.on_key(key('t'));
    // On a dark terminal `t` skips the light theme.
    assert_eq!(a.theme().name, "high-contrast");
}

#[test]
fn flatten_previews_then_confirms() {
    let mut a = app();
    let preview = a.flatten_preview();
    assert_eq!(preview.len(), 2);
    // Long 0.005 BTC sells into bids 60000.0 (0.250): all at the best bid.
    assert_eq!(preview[0].side, Side::Sell);
    assert_eq!(preview[0].avg_price.as_deref(), Some("60000.00"));
    assert!(preview[0].unfilled.is_none());
    assert!(a.on_key(key('F')).is_empty());
    assert_eq!(
        a.on_key(key('y')),
        vec![AppEffect::Engine(Command::Flatten(None))]
    );
}

#[test]
fn order_form_shows_the_engine_risk_verdict() {
    let mut a = app();
    let opened = a.on_key(key('b'));
    let [AppEffect::Engine(Command::Preview(order))] = opened.as_slice() else {
        panic!("{opened:?}");
    };
    // The engine answers through its published view.
    let mut v = view();
    v.order_preview = Some(pit::engine::OrderPreview {
        order: order.clone(),
        verdict: Err("order qty 5 exceeds max_order_qty 1".into()),
        replaces: None,
    });
    a.set_view(std::sync::Arc::new(v));
    let text = text(&screen(&a, 120, 40));
    assert!(
        text.contains("risk engine: order qty 5 exceeds max_order_qty 1"),
        "{text}"
    );
}

// ----- the report view -----

fn report_app() -> pit::ui::App {
    let mut a = app();
    assert_eq!(a.on_key(key('r')), vec![AppEffect::RequestReport]);
    a.set_report(Ok(report()));
    a
}

#[test]
fn snapshot_report_80x24() {
    insta::assert_snapshot!(text(&screen(&report_app(), 80, 24)));
}

#[test]
fn snapshot_report_160x48() {
    insta::assert_snapshot!(text(&screen(&report_app(), 160, 48)));
}

#[test]
fn r_opens_the_report_asks_for_figures_and_esc_or_r_closes_it() {
    let mut a = app();
    assert!(!a.report_open());
    assert_eq!(a.on_key(key('r')), vec![AppEffect::RequestReport]);
    assert!(a.report_open());
    assert!(a.report_view().loading);
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("PnL report") && s.contains("computing"), "{s}");
    a.set_report(Ok(report()));
    assert!(!a.report_view().loading);
    let s = text(&screen(&a, 80, 24));
    for w in [
        "net PnL",
        "+11.5000",
        "win rate",
        "profit factor",
        "max drawdown",
        "12.2500",
    ] {
        assert!(s.contains(w), "{w} missing:\n{s}");
    }
    // The tables scroll (j/k and arrows), stopping at the end; other keys keep it open.
    assert!(a.on_key(key('j')).is_empty());
    a.on_key(code(KeyCode::Down));
    assert_eq!(a.report_view().scroll, 2);
    for _ in 0..200 {
        a.on_key(key('j'));
    }
    let _ = screen(&a, 80, 24);
    let bottom = a.report_view().scroll;
    assert!(bottom > 2 && bottom < 60, "{bottom}");
    let s = text(&screen(&a, 80, 24));
    assert!(
        s.contains("Sun") || s.contains("Sat"),
        "the last table shows:\n{s}"
    );
    a.on_key(key('k'));
    assert_eq!(a.report_view().scroll, bottom - 1);
    a.on_key(key('x'));
    assert!(a.report_open(), "other keys do nothing here");
    assert!(a.on_key(code(KeyCode::Esc)).is_empty());
    assert!(!a.report_open());
    // r closes it too; and a failed refresh keeps the last figures with the reason.
    a.on_key(key('r'));
    a.on_key(key('r'));
    assert!(!a.report_open());
    a.on_key(key('r'));
    a.set_report(Err("database: boom".into()));
    let s = text(&screen(&a, 100, 30));
    assert!(
        s.contains("refresh failed: database: boom") && s.contains("+11.5000"),
        "{s}"
    );
    // The kill switch still works over the report.
    assert_eq!(a.on_key(key('K')), vec![AppEffect::Kill]);
    assert!(!a.report_open());
}

#[test]
fn the_report_reads_without_colour() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut a = app_with(view(), Theme::load("dark", &dir, true).expect("dark"));
    a.on_key(key('r'));
    a.set_report(Ok(report()));
    for (w, h) in [(80, 24), (160, 48)] {
        let term = screen(&a, w, h);
        for c in &term.backend().buffer().content {
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "a coloured cell"
            );
        }
        let s = text(&term);
        for word in ["12.2500", "+11.5000", "-3.0625", "+5.9375", "-8.2500"] {
            assert!(s.contains(word), "{word} missing at {w}x{h}:\n{s}");
        }
    }
}

#[test]
fn the_help_lists_the_report_key() {
    let mut a = app();
    a.on_key(key('?'));
    let s = text(&screen(&a, 100, 40));
    assert!(s.contains("PnL report"), "{s}");
}

// ----- the feed health view -----

fn health_app() -> pit::ui::App {
    let mut a = app_with(live_view(), Theme::builtin("dark").expect("dark"));
    assert!(a.on_key(key('H')).is_empty());
    assert_eq!(a.popup(), Some(&pit::app::Popup::Health));
    a
}

#[test]
fn snapshot_health_80x24() {
    insta::assert_snapshot!(text(&screen(&health_app(), 80, 24)));
}

#[test]
fn snapshot_health_160x48() {
    insta::assert_snapshot!(text(&screen(&health_app(), 160, 48)));
}

#[test]
fn h_opens_the_health_view_and_esc_or_h_closes_it() {
    let mut a = health_app();
    for (w, h) in [(80, 24), (160, 48)] {
        let s = text(&screen(&a, w, h));
        for word in [
            "Feed health",
            "BTC-USD",
            "ETH-USD",
            "connected",
            "RESYNCING",
            "41.2k",
            "19.3MB",
            "2.1k/0",
            "310/1",
            "120ms",
        ] {
            assert!(s.contains(word), "{word} missing at {w}x{h}:\n{s}");
        }
    }
    a.on_key(key('j'));
    assert!(a.popup().is_some(), "other keys leave it open");
    a.on_key(code(KeyCode::Esc));
    assert!(a.popup().is_none());
    a.on_key(key('H'));
    a.on_key(key('H'));
    assert!(a.popup().is_none());
    // The kill switch still works over it.
    a.on_key(key('H'));
    assert_eq!(a.on_key(key('K')), vec![AppEffect::Kill]);
    assert!(a.popup().is_none());
    // Without a live feed the markets are listed with their book state.
    let mut s = app();
    s.on_key(key('H'));
    let txt = text(&screen(&s, 80, 24));
    assert!(
        txt.contains("No live connection") && txt.contains("ETH-USD"),
        "{txt}"
    );
}

/// A live venue's balances in the health view: an asset that agrees reads plainly, one
/// that differs is marked `!`, says new orders are refused, and is drawn as a warning.
#[test]
fn the_health_view_names_a_balance_that_differs_from_what_pit_expects() {
    use pit::engine::view::{BalanceLine, ExecHealth};
    use rust_decimal_macros::dec;
    let mut view = live_view();
    view.health.exec = Some(ExecHealth {
        venue: "binance".into(),
        network: "TESTNET".into(),
        connection: "connected".into(),
        balances: vec![
            BalanceLine {
                asset: "BTC".into(),
                start: dec!(1),
                traded: dec!(0.000998),
                expected: dec!(1.000998),
                venue: dec!(1.000998),
            },
            BalanceLine {
                asset: "USDT".into(),
                start: dec!(1000),
                traded: dec!(-60.06),
                expected: dec!(939.94),
                venue: dec!(914.94),
            },
        ],
        ..ExecHealth::default()
    });
    let mut a = app_with(view, Theme::builtin("dark").expect("dark"));
    a.on_key(key('H'));
    let term = screen(&a, 160, 48);
    let s = text(&term);
    assert!(
        s.contains("  balance BTC venue 1.000998 = expected 1.000998 (start 1 + fills 0.000998)"),
        "{s}"
    );
    assert!(
        s.contains("! balance USDT venue 914.94 DIFFERS, new orders refused: expected 939.94 (start 1000 + fills -60.06)"),
        "{s}"
    );
    let (x, y) = find(&term, "balance USDT", "DIFFERS").expect("the USDT line");
    let warning = a.theme().style(Role::Warning);
    assert_eq!(
        term.backend().buffer()[(x, y)].fg,
        warning.fg.unwrap_or(Color::Reset)
    );
}

/// A hold on the venue account (a Bybit symbol in hedge mode) is unmissable: the status
/// bar says HELD with the reason, reversed in the critical colour, and the health view
/// lists it.
#[test]
fn a_venue_hold_is_unmissable_in_the_status_bar_and_the_health_view() {
    use pit::engine::view::ExecHealth;
    let hold = "Bybit BTCUSDT is in hedge mode; pit trades one-way mode only: switch it in Bybit (Switch Position Mode) and restart";
    let mut view = live_view();
    view.health.exec = Some(ExecHealth {
        venue: "bybit".into(),
        network: "TESTNET".into(),
        connection: "connected".into(),
        holds: vec![hold.into()],
        ..ExecHealth::default()
    });
    let mut a = app_with(view, Theme::builtin("dark").expect("dark"));
    let critical = a.theme().style(Role::Critical);
    let bar = pane(&a, 320, 1, panes::status::render);
    let s = text(&bar);
    assert!(s.contains(&format!(" HELD: {hold} ")), "{s}");
    let (x, y) = find(&bar, "HELD:", "hedge mode").expect("HELD in the status bar");
    let cell = &bar.backend().buffer()[(x + 1, y)];
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    assert_eq!(cell.fg, critical.fg.unwrap_or(Color::Reset));
    a.on_key(key('H'));
    let s = text(&screen(&a, 200, 48));
    assert!(s.contains("! HELD: Bybit BTCUSDT is in hedge mode"), "{s}");
}

#[test]
fn resyncing_is_unmissable_in_the_status_bar_and_the_book() {
    let mut a = app_with(live_view(), Theme::builtin("dark").expect("dark"));
    let warning = a.theme().style(Role::Warning);
    // BTC-USD selected: the status bar names the other instrument with its state.
    let s = text(&pane(&a, 160, 1, panes::status::render));
    assert!(s.contains("ETH-USD RESYNCING"), "{s}");
    a.on_key(key(']'));
    let bar = pane(&a, 160, 1, panes::status::render);
    let (x, y) = find(&bar, "ETH-USD", " RESYNCING ").expect("RESYNCING in the status bar");
    let cell = &bar.backend().buffer()[(x + 1, y)];
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    assert_eq!(cell.fg, warning.fg.unwrap_or(Color::Reset));
    let book = pane(&a, 64, 18, panes::book::render);
    let s = text(&book);
    assert!(
        s.contains("RESYNCING") && s.contains("stale levels until the next snapshot"),
        "{s}"
    );
    insta::assert_snapshot!("book_resyncing", s);
}

#[test]
fn the_health_view_reads_without_colour() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut a = app_with(live_view(), Theme::load("dark", &dir, true).expect("dark"));
    a.on_key(key('H'));
    for (w, h) in [(80, 24), (160, 48)] {
        let term = screen(&a, w, h);
        for c in &term.backend().buffer().content {
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "a coloured cell"
            );
        }
        let s = text(&term);
        for word in ["RESYNCING", "connected", "310/1"] {
            assert!(s.contains(word), "{word} missing at {w}x{h}:\n{s}");
        }
        // The row in trouble is marked without colour.
        assert!(
            s.lines()
                .any(|l| l.contains("ETH-USD") && l.contains("│! ")),
            "no ! mark at {w}x{h}:\n{s}"
        );
    }
}

/// The gate closed while not halted (a store or watchdog close, a reconciliation) is said
/// in the status bar at 80 columns too: the clock, then lag and frame time make room
/// (whole, never cut).
#[test]
fn gate_closed_shows_at_80_columns_and_the_tail_is_dropped_not_cut() {
    let mut v = common::view();
    v.gate_open = false;
    let app = common::app_with(v, pit::ui::theme::Theme::default());
    let top = text(&screen(&app, 80, 24));
    let bar = top.lines().next().unwrap();
    assert!(bar.contains("GATE CLOSED"), "{bar}");
    assert!(!bar.contains("lag 3ms fra"), "lag is whole or gone: {bar}");
    let wide = text(&screen(&app, 160, 48));
    let bar = wide.lines().next().unwrap();
    assert!(
        bar.contains("GATE CLOSED") && bar.contains("lag 3ms frame"),
        "{bar}"
    );
}
