//! The aged-position manager on screen: a row of its own in the strategies pane (state,
//! the positions it follows, its order), and in `pit status`.

mod common;

use common::*;
use pit::control::status::Status;
use pit::engine::aged::{AgedPositionView, AgedView};
use pit::ui::theme::Theme;
use rust_decimal_macros::dec;

fn aged_view(state: &str) -> pit::engine::view::EngineView {
    let mut v = view();
    v.aged = Some(AgedView {
        state: state.into(),
        grace_hours: dec!(24),
        held: 0,
        positions: vec![AgedPositionView {
            symbol: "BTC-USD".into(),
            phase: "GRACE".into(),
            age_hours: dec!(25.3),
            action: "limit SELL 0.005 @ 59990.0".into(),
            attempts: 1,
        }],
    });
    v
}

#[test]
fn the_aged_position_manager_has_a_row_in_the_strategies_pane() {
    let a = app_with(aged_view("ON"), Theme::builtin("dark").expect("dark"));
    let term = pane(&a, 100, 8, pit::ui::panes::strategies::render);
    let buf = term.backend().buffer();
    let rows: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    let row = rows
        .iter()
        .find(|r| r.contains("aged-positions"))
        .unwrap_or_else(|| panic!("no aged row:\n{}", rows.join("\n")));
    assert!(
        row.contains("ON") && row.contains("BTC-USD GRACE 25.3h: limit SELL 0.005 @ 59990.0"),
        "{row}"
    );
    insta::assert_snapshot!("aged_positions_row_100x8", rows.join("\n"));
    // Halted: HELD.
    let a = app_with(aged_view("HELD"), Theme::builtin("dark").unwrap());
    let term = pane(&a, 100, 8, pit::ui::panes::strategies::render);
    let text: String = term
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(text.contains("HELD"), "{text}");
}

#[test]
fn pit_status_lists_the_aged_positions() {
    let text = Status::from_view(&aged_view("ON")).to_text();
    assert!(
        text.contains("aged BTC-USD: GRACE 25.3h, limit SELL 0.005 @ 59990.0 (attempts 1)"),
        "{text}"
    );
    assert!(!Status::from_view(&view()).to_text().contains("aged"));
}
