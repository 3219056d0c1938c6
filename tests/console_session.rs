//! A trading session that is closed (`[[sessions]]`) is said on screen: SESSION CLOSED in
//! the status bar, in reverse video, and as the state of the strategies trading that
//! instrument; `pit status` says it too.

mod common;

use common::*;
use pit::control::status::Status;
use pit::engine::session::SessionView;
use pit::ui::theme::{Role, Theme};

/// The fixture's view with BTC-USD's session closed until Monday's New York open.
fn closed_view() -> pit::engine::view::EngineView {
    let mut v = view();
    v.sessions = vec![SessionView {
        symbol: "BTC-USD".into(),
        state: "SESSION CLOSED".into(),
        suspended: true,
        next: "opens Mon 2026-03-09 09:30 EDT (13:30Z)".into(),
        window: "09:30-16:00 America/New_York Mon,Tue,Wed,Thu,Fri".into(),
    }];
    // The market maker and the imbalance taker trade BTC-USD.
    for s in v.strategies.iter_mut().filter(|s| s.enabled) {
        s.session = Some("SESSION CLOSED".into());
    }
    v
}

fn rows(term: &ratatui::Terminal<ratatui::backend::TestBackend>) -> Vec<String> {
    let buf = term.backend().buffer();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

#[test]
fn session_closed_shows_in_the_status_bar_and_the_strategies_pane() {
    let a = app_with(closed_view(), Theme::builtin("dark").expect("dark"));
    let term = screen(&a, 160, 48);
    let rows = rows(&term);
    let bar = rows
        .iter()
        .position(|r| r.contains("ACTIVE") && r.contains(" SESSION CLOSED BTC-USD "))
        .unwrap_or_else(|| panic!("no SESSION CLOSED in the status bar:\n{}", rows.join("\n")));
    let col = rows[bar].find(" SESSION CLOSED BTC-USD ").unwrap();
    let col = rows[bar][..col].chars().count() as u16;
    let cell = &term.backend().buffer()[(col + 1, bar as u16)];
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    let warning = a.theme().style(Role::Warning);
    assert_eq!(cell.fg, warning.fg.unwrap_or(ratatui::style::Color::Reset));
    // The strategies trading BTC-USD say why they place nothing; the one switched off
    // stays OFF.
    let mm = rows.iter().find(|r| r.contains("market_maker")).unwrap();
    assert!(mm.contains("SESSION CLOSED"), "{mm}");
    let off = rows.iter().find(|r| r.contains("exit_manager")).unwrap();
    assert!(off.contains("OFF") && !off.contains("SESSION"), "{off}");
    insta::assert_snapshot!("session_closed_160x48", rows.join("\n"));

    // At 80x24 the status bar still says it (next to the trading state).
    let small = screen(&a, 80, 24);
    assert!(
        rows_of(&small)[0].contains("SESSION CLOSED BTC-USD"),
        "{}",
        rows_of(&small).join("\n")
    );
    // An open session (or none) shows nothing of the kind.
    let open = screen(&app_with(view(), Theme::builtin("dark").unwrap()), 160, 48);
    assert!(!rows_of(&open).join("\n").contains("SESSION"));
}

fn rows_of(term: &ratatui::Terminal<ratatui::backend::TestBackend>) -> Vec<String> {
    rows(term)
}

#[test]
fn pit_status_says_session_closed_and_when_it_opens() {
    let s = Status::from_view(&closed_view());
    let text = s.to_text();
    assert!(
        text.contains("session BTC-USD: SESSION CLOSED: no new orders (reduce-only exits pass), opens Mon 2026-03-09 09:30 EDT (13:30Z)"),
        "{text}"
    );
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["sessions"][0]["state"], "SESSION CLOSED");
    assert_eq!(v["sessions"][0]["suspended"], true);
    assert!(!Status::from_view(&view()).to_text().contains("session"));
}
