//! The console as a trader reads it: money at the quote currency's precision (issue 15,
//! item 7), a help that lists only the strategies that exist (item 9).

mod common;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::Pane;
use pit::domain::{Instrument, InstrumentId, Qty};
use pit::ui::panes;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rust_decimal_macros::dec;

fn text(term: &Terminal<TestBackend>) -> String {
    term.backend().to_string()
}

fn dark() -> Theme {
    Theme::builtin("dark").expect("dark")
}

#[test]
fn money_is_shown_at_the_quote_precision() {
    // A BTC-quoted pair: tick 0.000001, so PnL and fees show 6 decimals, not 2 (which
    // would make every figure 0.00).
    let mut v = view();
    v.markets.truncate(1);
    v.positions.truncate(1);
    v.markets[0].instrument = Some(Instrument::new(
        InstrumentId(0),
        "ETHBTC",
        "binance",
        dec!(0.000001),
        dec!(0.0001),
        Qty(1),
    ));
    v.pnl.realized = dec!(0.000123456789);
    v.pnl.fees = dec!(0.0000042);
    v.pnl.equity = dec!(0.000119256789);
    let app = app_with(v, dark());
    let s = text(&pane(&app, 60, 10, panes::pnl::render));
    assert!(s.contains("realized +0.000123"), "{s}");
    assert!(s.contains("fees 0.000004"), "{s}");
    // BTC-USD at tick 0.1 is quoted in cents: two decimals.
    let s = text(&pane(&app_with(view(), dark()), 60, 10, panes::pnl::render));
    assert!(s.contains("unreal +1.15"), "{s}");
}

#[test]
fn the_help_lists_only_the_strategies_that_exist() {
    let mut app = app();
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = text(&screen(&app, 100, 48));
    assert!(s.contains("toggle strategy 1 (market_maker)"), "{s}");
    assert!(s.contains("toggle strategy 3 (exit_manager)"), "{s}");
    assert!(!s.contains("toggle strategy 4"), "{s}");
    assert!(!s.contains("toggle strategy 9"), "{s}");
}

#[test]
fn snapshot_help_80x24() {
    let mut app = app();
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    insta::assert_snapshot!(text(&screen(&app, 80, 24)));
}

#[test]
fn snapshot_help_160x48() {
    let mut app = app();
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    insta::assert_snapshot!(text(&screen(&app, 160, 48)));
}

#[test]
fn snapshot_help_no_color_160x48() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut app = app_with(view(), Theme::load("dark", &dir, true).expect("dark"));
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let term = screen(&app, 160, 48);
    for c in &term.backend().buffer().content {
        assert_eq!(
            (c.fg, c.bg),
            (ratatui::style::Color::Reset, ratatui::style::Color::Reset)
        );
    }
    insta::assert_snapshot!(text(&term));
}

fn ended_replay(theme: Theme) -> pit::ui::App {
    let mut app = app_with(view(), theme);
    app.set_mode(pit::app::Mode::Replay);
    app.set_replay_speed(pit::pace::Speed::Times(10.0));
    app.set_replay_ended();
    app
}

#[test]
fn an_ended_replay_says_so_and_keeps_its_screen() {
    let app = ended_replay(dark());
    let s = text(&screen(&app, 120, 40));
    let bar = s.lines().next().unwrap_or_default();
    assert!(bar.contains(" END OF RECORDING "), "{bar}");
    assert!(bar.contains("recorded 2024-08-08T12:00:00"), "{bar}");
    assert!(
        s.contains("END OF RECORDING: this is the last screen; q/ctrl-c quits"),
        "{s}"
    );
    assert!(s.contains("Book BTC-USD") && s.contains("59999.9"), "{s}");
}

#[test]
fn snapshot_replay_ended_80x24() {
    insta::assert_snapshot!(text(&screen(&ended_replay(dark()), 80, 24)));
}

#[test]
fn snapshot_replay_ended_160x48() {
    insta::assert_snapshot!(text(&screen(&ended_replay(dark()), 160, 48)));
}

#[test]
fn snapshot_replay_ended_no_color_80x24() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let app = ended_replay(Theme::load("dark", &dir, true).expect("dark"));
    let term = screen(&app, 80, 24);
    let buf = term.backend().buffer();
    let row: String = (0..80).map(|x| buf[(x, 0)].symbol()).collect();
    let x = row[..row.find("END OF").expect("END OF RECORDING")]
        .chars()
        .count() as u16;
    assert!(
        buf[(x, 0)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED),
        "reverse video without colour"
    );
    insta::assert_snapshot!(text(&term));
}

#[test]
fn without_colour_the_trading_states_differ_by_reverse_video() {
    use pit::domain::TradingState;
    use ratatui::style::Modifier;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let mut seen = Vec::new();
    for (state, word) in [
        (TradingState::Active, "ACTIVE"),
        (TradingState::Paused, "PAUSED"),
        (TradingState::Reducing, "REDUCING"),
        (TradingState::Halted, "HALTED"),
    ] {
        let mut v = view();
        v.trading_state = state;
        let app = app_with(v, Theme::load("dark", &dir, true).expect("dark"));
        let term = pane(&app, 120, 1, panes::status::render);
        let buf = term.backend().buffer();
        let row: String = (0..120).map(|x| buf[(x, 0)].symbol()).collect();
        let x = row[..row.find(word).expect(word)].chars().count() as u16;
        let cell = &buf[(x, 0)];
        assert_eq!(cell.fg, ratatui::style::Color::Reset);
        seen.push((
            word,
            cell.modifier.contains(Modifier::REVERSED),
            cell.modifier,
        ));
    }
    assert!(!seen[0].1, "ACTIVE is not reversed: {seen:?}");
    assert!(
        seen[1].1 && seen[2].1 && seen[3].1,
        "the others are: {seen:?}"
    );
    let mods: std::collections::BTreeSet<_> = seen.iter().map(|s| s.2.bits()).collect();
    assert_eq!(mods.len(), 4, "four different looks: {seen:?}");
}

#[test]
fn t_cycles_only_the_themes_that_suit_the_background() {
    let t = KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE);
    let mut names = Vec::new();
    let mut app = app_with(view(), dark());
    for _ in 0..6 {
        app.on_key(t);
        names.push(app.theme().name.clone());
    }
    assert!(!names.iter().any(|n| n == "light"), "{names:?}");
    assert!(names.iter().any(|n| n == "high-contrast") && names.iter().any(|n| n == "mono"));
    let mut names = Vec::new();
    let mut app = app_with(view(), Theme::builtin("light").expect("light"));
    for _ in 0..4 {
        app.on_key(t);
        names.push(app.theme().name.clone());
    }
    assert_eq!(names, ["mono", "light", "mono", "light"]);
}

#[test]
fn below_60x20_the_console_says_it_is_too_small() {
    for (w, h) in [(59, 24), (80, 19), (40, 10)] {
        let s = text(&screen(&app(), w, h));
        assert!(
            s.contains("terminal too small (need 60x20)"),
            "{w}x{h}:\n{s}"
        );
        assert!(
            s.contains("ACTIVE") && s.contains("K KILL"),
            "{w}x{h}:\n{s}"
        );
        assert!(!s.contains("Book"), "no pane cut short at {w}x{h}:\n{s}");
    }
    let s = text(&screen(&app(), 60, 20));
    assert!(
        !s.contains("too small") && s.contains("Book BTC-USD"),
        "{s}"
    );
}

#[test]
fn snapshot_too_small_40x10() {
    insta::assert_snapshot!(text(&screen(&app(), 40, 10)));
}

#[test]
fn narrow_panes_drop_whole_columns_never_part_of_a_number() {
    let app = app();
    for w in [90u16, 60, 44, 34] {
        let s = text(&pane(&app, w, 6, panes::orders::render));
        for price in ["2990.50", "60000.0", "60000.3"] {
            assert!(s.contains(price), "{price} whole at width {w}:\n{s}");
        }
        for qty in ["0.10", "0.001"] {
            assert!(s.contains(qty), "{qty} whole at width {w}:\n{s}");
        }
    }
    let s = text(&pane(&app, 34, 6, panes::orders::render));
    assert!(
        !s.contains("age") && !s.contains("owner"),
        "dropped whole:\n{s}"
    );
    for w in [72u16, 40, 32] {
        let s = text(&pane(&app, w, 5, panes::positions::render));
        for figure in [
            "BTC-USD", "ETH-USD", "+0.005", "-0.20", "59990.00", "2995.500", "+0.05",
        ] {
            assert!(s.contains(figure), "{figure} whole at width {w}:\n{s}");
        }
    }
}

#[test]
fn snapshot_smallest_60x20() {
    insta::assert_snapshot!(text(&screen(&app(), 60, 20)));
}

/// A book 30 levels deep on each side (the engine publishes `engine.view_depth`).
fn deep_view() -> pit::engine::view::EngineView {
    use pit::domain::{Level, Price};
    let mut v = view();
    let m = &mut v.markets[0];
    m.bids = (0..30)
        .map(|i| Level::new(Price(600_000 - i), Qty(100 + 37 * i)))
        .collect();
    m.asks = (0..30)
        .map(|i| Level::new(Price(600_001 + i), Qty(90 + 41 * i)))
        .collect();
    v
}

/// Rows of the book pane that show a level of `side` ("ask" or "bid").
fn book_rows(s: &str, side: &str) -> usize {
    s.lines()
        .filter(|l| l.starts_with(&format!("\"┃{side} ")) || l.starts_with(&format!("\"│{side} ")))
        .count()
}

#[test]
fn a_tall_terminal_shows_a_deeper_book() {
    let app = app_with(deep_view(), dark());
    let tall = text(&screen(&app, 250, 70));
    let (asks, bids) = (book_rows(&tall, "ask"), book_rows(&tall, "bid"));
    // The book pane is 34 rows at 250x70: header, spread, 15 levels a side.
    assert_eq!((asks, bids), (15, 15), "{tall}");
    assert!(
        tall.contains("60001.5") && tall.contains("59998.6"),
        "{tall}"
    );
    // The default 160x48 holds 9 a side, 80x24 holds 4.
    let mid = text(&screen(&app, 160, 48));
    assert_eq!(
        (book_rows(&mid, "ask"), book_rows(&mid, "bid")),
        (9, 9),
        "{mid}"
    );
    let small = text(&screen(&app, 80, 24));
    assert_eq!(
        (book_rows(&small, "ask"), book_rows(&small, "bid")),
        (4, 4),
        "{small}"
    );
}

#[test]
fn snapshot_room_250x70() {
    insta::assert_snapshot!(text(&screen(&app_with(deep_view(), dark()), 250, 70)));
}

#[test]
fn long_alerts_wrap_and_pnl_folds_rather_than_cut_a_number() {
    let mut v = view();
    let long = "refused BUY 5.000 BTC-USD @ 60000.1: order notional 300000.50 over \
                max_order_notional 100000.00 (mid 60000.05)";
    v.alerts.push(pit::engine::Alert {
        seq: 9,
        ts: ts(-100),
        level: pit::engine::AlertLevel::Warn,
        source: "risk/manual".into(),
        text: long.into(),
        count: 2,
        acknowledged: false,
        kind: String::new(),
    });
    // 120x40: the alerts pane is half the width; the text wraps onto a second line.
    let app = app_with(v.clone(), dark());
    let s = text(&screen(&app, 120, 40));
    for figure in ["300000.50", "100000.00", "(mid 60000.05)", "×2"] {
        assert!(s.contains(figure), "{figure} whole: {s}");
    }
    // 80x24, alerts at the bottom: the same.
    let mut app = app_with(v, dark());
    for _ in 0..Pane::ALL.len() {
        app.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        if app.bottom_pane() == Pane::Alerts {
            break;
        }
    }
    assert_eq!(app.bottom_pane(), Pane::Alerts);
    let s = text(&screen(&app, 80, 24));
    for figure in ["300000.50", "100000.00"] {
        assert!(s.contains(figure), "{figure} whole: {s}");
    }
    // 60x20: the PnL pane is 28 columns; realized folds onto its own line, whole.
    let s = text(&screen(&app_with(view(), dark()), 60, 20));
    assert!(s.contains("realized +11.10"), "{s}");
    assert!(s.contains("equity +11.05"), "{s}");
}

/// `pit status` in text shows money at the quote precision (average prices and marks one
/// decimal finer than the tick); its JSON keeps the figures as they are.
#[test]
fn pit_status_text_shows_money_at_the_quote_precision() {
    let mut v = view();
    v.pnl.realized = dec!(1.003122520000000000000000001);
    v.pnl.day_pnl = dec!(-120.404999);
    v.positions[0].position.avg_price = dec!(59983.333333333333);
    v.positions[0].unrealized = dec!(-0.0002);
    let st = pit::control::status::Status::from_view(&v);
    let text = st.to_text();
    let pnl = text
        .lines()
        .find(|l| l.starts_with("pnl:"))
        .unwrap_or_default();
    assert_eq!(
        pnl, "pnl: equity 11.05 (realized 1.00, unrealized 1.15, fees 1.20), day -120.40",
        "{text}"
    );
    assert!(
        text.contains("position BTC-USD 0.005 @ 59983.33 (mark 60000.05, unrealized 0.00)"),
        "{text}"
    );
    assert!(
        text.contains("position ETH-USD -0.2 @ 2995.500 (mark 2990.005, unrealized 1.10)"),
        "{text}"
    );
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["pnl"]["realized"], "1.00312252", "{json}");
    assert_eq!(json["money_dp"], 2, "{json}");
}

/// On a terminal too short for the help, it scrolls to its last rows (the fills and
/// order-history keys among them) and says where it is; any other key closes it.
#[test]
fn the_help_scrolls_on_a_short_terminal() {
    let mut app = app();
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("rows 1-22 of "), "{s}");
    assert!(!s.contains("order history:"), "below the fold: {s}");
    for _ in 0..20 {
        app.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
        let _ = screen(&app, 80, 24);
    }
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("order history: each order's states"), "{s}");
    assert!(s.contains("fills pane: time, size, price"), "{s}");
    assert!(app.popup().is_some(), "scrolling keeps it open");
    app.on_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    assert!(app.popup().is_none(), "any other key closes it");
    // Tall enough: nothing to scroll, j closes it as before.
    app.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = text(&screen(&app, 160, 48));
    assert!(!s.contains("rows 1-"), "{s}");
    app.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
    assert!(app.popup().is_none());
}

/// The market maker in its own loss cooldown: the strategies pane says `COOL m:ss` in its
/// state column (the others say ON/HELD/OFF), in words that need no colour.
fn cooling() -> pit::engine::view::EngineView {
    let mut v = view();
    v.strategies[0].cooldown = Some("COOL 4:59".into());
    v
}

/// The console on `cooling()`, the strategies at the bottom (where 80x24 tabs them).
fn cooling_app(theme: Theme) -> pit::ui::App {
    let mut app = app_with(cooling(), theme);
    for _ in 0..Pane::ALL.len() {
        if app.bottom_pane() == Pane::Strategies {
            break;
        }
        app.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    }
    assert_eq!(app.bottom_pane(), Pane::Strategies);
    app
}

#[test]
fn a_strategy_in_its_loss_cooldown_says_cool_with_the_time_left() {
    for (w, h) in [(80, 24), (160, 48)] {
        let s = text(&screen(&cooling_app(dark()), w, h));
        let row = s
            .lines()
            .find(|l| l.contains("market_maker"))
            .unwrap_or_else(|| panic!("{w}x{h}: no market_maker row\n{s}"));
        assert!(row.contains("COOL 4:59"), "{w}x{h}: {row}");
        assert!(!row.contains(" ON "), "{w}x{h}: {row}");
    }
}

#[test]
fn snapshot_cooldown_160x48() {
    insta::assert_snapshot!(text(&screen(&cooling_app(dark()), 160, 48)));
}

#[test]
fn snapshot_cooldown_no_color_80x24() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let app = cooling_app(Theme::load("dark", &dir, true).expect("dark"));
    let term = screen(&app, 80, 24);
    for c in &term.backend().buffer().content {
        assert_eq!(
            (c.fg, c.bg),
            (ratatui::style::Color::Reset, ratatui::style::Color::Reset)
        );
    }
    insta::assert_snapshot!(text(&term));
}
