//! The console says what its feed is doing: each live feed's state in words on the status
//! bar (CONNECTING, LIVE, STALE 12s, RESYNCING, DISCONNECTED — retry in 8s), the book
//! says why it is empty, and the headless status line carries the same words. Snapshots
//! at 80x24 and 160x48, and without colour (NO_COLOR).

mod common;

use common::*;
use pit::engine::view::{EngineView, FeedHealth};
use pit::ui::panes;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use std::path::Path;
use std::time::Duration;

fn text(term: &Terminal<TestBackend>) -> String {
    term.backend().to_string()
}

fn no_color() -> Theme {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    Theme::load("dark", &dir, true).expect("dark")
}

fn feed(symbol: &str, connection: &str) -> FeedHealth {
    FeedHealth {
        venue: "binance".into(),
        symbol: symbol.into(),
        connection: connection.into(),
        last_frame_age: Some(Duration::from_millis(80)),
        ..Default::default()
    }
}

/// `pit run --venue binance` with no network: nothing ever arrived, the DNS lookup
/// fails, the connection waits 8 s before its next attempt.
fn dead_view() -> EngineView {
    let mut v = view();
    for m in &mut v.markets {
        m.bids.clear();
        m.asks.clear();
        m.last_update = None;
        m.last_trade = None;
    }
    v.tape.clear();
    let mut f = feed("BTC-USD", "backoff");
    f.last_frame_age = None;
    f.retry_in = Some(Duration::from_millis(7_400));
    f.last_error = Some(
        "connect: failed to lookup address information: Temporary failure in name resolution"
            .into(),
    );
    let mut e = f.clone();
    e.symbol = "ETH-USD".into();
    v.health.feed = vec![f, e];
    v
}

fn status_bar(app: &pit::ui::App) -> String {
    text(&pane(app, 160, 1, panes::status::render))
}

#[test]
fn each_feed_state_is_a_word_on_the_status_bar() {
    let mut v = view();
    v.health.feed = vec![feed("BTC-USD", "connected"), feed("ETH-USD", "connected")];
    let s = status_bar(&app_with(v.clone(), Theme::builtin("dark").unwrap()));
    assert!(s.contains("BTC-USD LIVE 80ms"), "{s}");
    assert!(
        !s.contains("ETH-USD"),
        "a live other feed is not named: {s}"
    );

    // Silent for 12 s: STALE 12s.
    let mut stale = v.clone();
    stale.health.feed[0].last_frame_age = Some(Duration::from_secs(12));
    let s = status_bar(&app_with(stale, Theme::builtin("dark").unwrap()));
    assert!(s.contains("BTC-USD  STALE 12s "), "{s}");

    // Connected, no book yet: CONNECTING.
    let mut connecting = v.clone();
    connecting.markets[0].last_update = None;
    let s = status_bar(&app_with(connecting, Theme::builtin("dark").unwrap()));
    assert!(s.contains(" CONNECTING "), "{s}");

    // The other instrument's book lost integrity: named with its state.
    let mut resync = v.clone();
    resync.markets[1].resyncing = true;
    let s = status_bar(&app_with(resync, Theme::builtin("dark").unwrap()));
    assert!(s.contains("ETH-USD RESYNCING"), "{s}");

    let s = status_bar(&app_with(dead_view(), Theme::builtin("dark").unwrap()));
    assert!(s.contains("BTC-USD  DISCONNECTED — retry in 8s "), "{s}");
    assert!(s.contains("ETH-USD DISCONNECTED — retry in 8s"), "{s}");
    assert!(!s.contains("feed -"), "{s}");
}

#[test]
fn a_dead_feed_is_in_reverse_video_without_colour() {
    let app = app_with(dead_view(), no_color());
    let term = pane(&app, 160, 1, panes::status::render);
    let buf = term.backend().buffer();
    let row: String = (0..160).map(|x| buf[(x, 0)].symbol()).collect();
    let x = row.find("DISCONNECTED").expect("the word") as u16;
    // The row is ASCII up to there except the separators, which are one column each.
    let x = row[..x as usize].chars().count() as u16;
    let cell = &buf[(x, 0)];
    assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
    assert!(cell.modifier.contains(Modifier::REVERSED), "{cell:?}");
    // A live feed is plain text.
    let mut v = view();
    v.health.feed = vec![feed("BTC-USD", "connected")];
    let term = pane(&app_with(v, no_color()), 160, 1, panes::status::render);
    let buf = term.backend().buffer();
    let row: String = (0..160).map(|x| buf[(x, 0)].symbol()).collect();
    let x = row[..row.find("LIVE").expect("LIVE")].chars().count() as u16;
    assert!(!buf[(x, 0)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn the_book_says_why_it_is_empty() {
    let app = app_with(dead_view(), Theme::builtin("dark").unwrap());
    let s = text(&pane(&app, 44, 10, panes::book::render));
    let flat = s
        .replace(['│', '┃', '\n', '"'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("empty: no data, feed DISCONNECTED — retry in 8s (connect: failed to lookup address information"),
        "{s}"
    );
    assert!(!s.contains("one-sided"), "{s}");

    let mut v = dead_view();
    v.health.feed[0].connection = "connecting".into();
    v.health.feed[0].last_error = None;
    let s = text(&pane(
        &app_with(v.clone(), Theme::builtin("dark").unwrap()),
        60,
        8,
        panes::book::render,
    ));
    assert!(s.contains("empty: connecting to binance..."), "{s}");
    v.health.feed[0].connection = "connected".into();
    let s = text(&pane(
        &app_with(v, Theme::builtin("dark").unwrap()),
        70,
        8,
        panes::book::render,
    ));
    assert!(
        s.contains("empty: connected to binance, waiting for the first snapshot"),
        "{s}"
    );

    // The simulated market before its first event; a one-sided book names the empty side.
    let mut v = dead_view();
    v.health.feed.clear();
    let s = text(&pane(
        &app_with(v, Theme::builtin("dark").unwrap()),
        60,
        8,
        panes::book::render,
    ));
    assert!(s.contains("empty: no market data yet"), "{s}");
    let mut v = view();
    v.markets[0].asks.clear();
    let s = text(&pane(
        &app_with(v, Theme::builtin("dark").unwrap()),
        60,
        30,
        panes::book::render,
    ));
    assert!(s.contains("one-sided book: no asks"), "{s}");
}

#[test]
fn the_headless_status_line_carries_the_feed_state() {
    let line = pit::headless::status_line(&dead_view());
    assert!(
        line.contains(
            "| feed BTC-USD DISCONNECTED — retry in 8s ETH-USD DISCONNECTED — retry in 8s |"
        ),
        "{line}"
    );
    // The simulated market has no live feed: no feed section.
    assert!(!pit::headless::status_line(&view()).contains("| feed"));
}

#[test]
fn snapshot_dead_feed_80x24() {
    let app = app_with(dead_view(), Theme::builtin("dark").unwrap());
    insta::assert_snapshot!(text(&screen(&app, 80, 24)));
}

#[test]
fn snapshot_dead_feed_160x48() {
    let app = app_with(dead_view(), Theme::builtin("dark").unwrap());
    insta::assert_snapshot!(text(&screen(&app, 160, 48)));
}

#[test]
fn snapshot_dead_feed_no_color_80x24() {
    let app = app_with(dead_view(), no_color());
    let term = screen(&app, 80, 24);
    for c in &term.backend().buffer().content {
        assert_eq!(
            (c.fg, c.bg),
            (Color::Reset, Color::Reset),
            "a coloured cell"
        );
    }
    insta::assert_snapshot!(text(&term));
}
