//! Manual trading in the console (issue 15, item 4): the order form's verdict is the risk
//! engine's, shown in full (wrapped, never cut) and as it is now; the form's own checks
//! use the risk limits (size 5 is over `max_order_notional`); `r` toggles reduce-only;
//! `e` modifies a working manual order (cancel/replace), and the orders pane and the
//! order history show a modify as one action. Snapshots at 80x24, 160x48 and NO_COLOR.

mod common;
mod pty;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::AppEffect;
use pit::domain::{ClientOrderId, ModifyTo, Price, Qty, Side};
use pit::engine::risk::RiskLimits;
use pit::engine::view::EngineView;
use pit::engine::{Command, ManualOrder, ModifyOrder, OrderPreview};
use pit::ui::panes;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::Duration;

fn text(term: &Terminal<TestBackend>) -> String {
    term.backend().to_string()
}

/// The order form's text (the popup's inner columns, centred, 64 wide) with its rows
/// joined by spaces: a wrapped sentence reads whole again.
fn prose(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let w = buf.area.width;
    let x0 = (w - 64.min(w)) / 2 + 1;
    let x1 = (x0 + 62).min(w);
    (0..buf.area.height)
        .map(|y| (x0..x1).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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

fn no_color() -> Theme {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    Theme::load("dark", &dir, true).expect("dark")
}

/// The app with the shipped risk limits (max_order_qty 1, max_order_notional 100000,
/// price band 100 bps).
fn risk_app(theme: Theme) -> pit::ui::App {
    let mut a = app_with(view(), theme);
    a.set_risk_limits(&RiskLimits::default());
    a
}

/// Open the buy form and answer its preview as the engine would: `verdict`.
fn form_with_verdict(a: &mut pit::ui::App, verdict: Result<(), String>) -> ManualOrder {
    let opened = a.on_key(key('b'));
    let [AppEffect::Engine(Command::Preview(order))] = opened.as_slice() else {
        panic!("{opened:?}");
    };
    answer(a, order.clone(), verdict, None);
    order.clone()
}

fn answer(
    a: &mut pit::ui::App,
    order: ManualOrder,
    verdict: Result<(), String>,
    replaces: Option<ClientOrderId>,
) {
    let mut v: EngineView = a.view().clone();
    v.order_preview = Some(OrderPreview {
        order,
        verdict,
        replaces,
    });
    a.set_view(Arc::new(v));
}

/// A long refusal, as the engine words it.
const LONG: &str = "position 1.95 could reach 2.05 with the open orders on this side and this order, beyond max_position 2";

/// Issue 15: "`✗ NO risk engine: cooling down after 5 losing round trips in` — cut off".
/// At 80x24 the engine's reason shows in full, wrapped inside the form.
#[test]
fn the_engines_reason_is_never_cut_at_80x24() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    form_with_verdict(&mut a, Err(LONG.into()));
    let term = screen(&a, 80, 24);
    let words = prose(&term);
    assert!(
        words.contains(&format!("✗ NO risk engine: {LONG}")),
        "{words}"
    );
    assert!(
        words.contains("verdict: the risk engine's"),
        "the form says whose verdict it is: {words}"
    );
    insta::assert_snapshot!(text(&term));
    // Enter with the engine's no: nothing is sent, the form stays with the reason.
    let sent = a.on_key(code(KeyCode::Enter));
    assert!(sent.is_empty(), "{sent:?}");
    assert!(a.popup().is_some());
}

#[test]
fn snapshot_order_form_160x48() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('b'));
    let toggled = a.on_key(key('r'));
    let [AppEffect::Engine(Command::Preview(order))] = toggled.as_slice() else {
        panic!("{toggled:?}");
    };
    answer(&mut a, order.clone(), Err(LONG.into()), None);
    let term = screen(&a, 160, 48);
    assert!(prose(&term).contains(LONG), "{}", prose(&term));
    insta::assert_snapshot!(text(&term));
}

#[test]
fn snapshot_order_form_no_color_80x24() {
    let mut a = risk_app(no_color());
    let order = form_with_verdict(&mut a, Ok(()));
    let term = screen(&a, 80, 24);
    for c in &term.backend().buffer().content {
        assert_eq!(
            (c.fg, c.bg),
            (ratatui::style::Color::Reset, ratatui::style::Color::Reset)
        );
    }
    let s = text(&term);
    assert!(s.contains("✓ ok  risk engine: approved"), "{s}");
    assert!(s.contains("reduce-only off"), "{s}");
    insta::assert_snapshot!(s);
    assert!(!order.spec.reduce_only);
}

/// Issue 15: "size 5 shows `✓ ok notional 299984.50` with a 100,000 limit". The form's
/// own check applies max_order_notional (and max_order_qty), and Enter sends nothing.
#[test]
fn size_5_is_over_max_order_notional_and_is_not_sent() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('b'));
    for _ in 0..5 {
        a.on_key(code(KeyCode::Backspace));
    }
    let asked = a.on_key(key('5'));
    let s = prose(&screen(&a, 80, 24));
    assert!(
        s.contains("✗ NO notional 300000.00 over max_order_notional 100000"),
        "{s}"
    );
    assert!(s.contains("✗ NO size 5.000 over max_order_qty 1"), "{s}");
    assert!(!s.contains("✓ ok notional"), "{s}");
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    assert!(a.popup().is_some(), "stays open with the reason");
    // The engine is asked about this very order, and its answer is the verdict.
    let [AppEffect::Engine(Command::Preview(order))] = asked.as_slice() else {
        panic!("the engine is asked: {asked:?}");
    };
    assert_eq!(order.spec.qty, Qty(5_000));
    answer(
        &mut a,
        order.clone(),
        Err("order qty 5 exceeds max_order_qty 1".into()),
        None,
    );
    let s = prose(&screen(&a, 80, 24));
    assert!(
        s.contains("✗ NO risk engine: order qty 5 exceeds max_order_qty 1"),
        "{s}"
    );
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    let s = prose(&screen(&a, 80, 24));
    assert!(
        s.contains("refused: risk engine: order qty 5 exceeds max_order_qty 1"),
        "{s}"
    );
}

/// Issue 15: the cooldown "still shown after the cooldown ended". The form shows the
/// engine's latest verdict on the order: when the engine's answer changes, so does the
/// form.
#[test]
fn the_verdict_follows_the_engines_latest_answer() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    let order = form_with_verdict(
        &mut a,
        Err("S1 cooling down after 5 losing round trips in a row".into()),
    );
    let s = prose(&screen(&a, 80, 24));
    assert!(s.contains("✗ NO risk engine: S1 cooling down"), "{s}");
    answer(&mut a, order.clone(), Ok(()), None);
    let s = prose(&screen(&a, 80, 24));
    assert!(s.contains("✓ ok risk engine: approved"), "{s}");
    assert!(!s.contains("cooling"), "{s}");
    let sent = a.on_key(code(KeyCode::Enter));
    assert_eq!(sent, vec![AppEffect::Engine(Command::Manual(order))]);
}

/// `r` toggles reduce-only: the form says so, its preview and the order carry it.
#[test]
fn r_toggles_reduce_only() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('s'));
    let toggled = a.on_key(key('r'));
    let [AppEffect::Engine(Command::Preview(p))] = toggled.as_slice() else {
        panic!("a new preview: {toggled:?}");
    };
    assert!(p.spec.reduce_only);
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("reduce-only ON"), "{s}");
    assert!(s.contains("Manual SELL reduce-only"), "{s}");
    let sent = a.on_key(code(KeyCode::Enter));
    let [AppEffect::Engine(Command::Manual(o))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert!(o.spec.reduce_only);
    assert_eq!(o.spec.side, Side::Sell);
    // Toggled back: a plain order again.
    a.on_key(key('s'));
    a.on_key(key('r'));
    a.on_key(key('r'));
    let sent = a.on_key(code(KeyCode::Enter));
    let [AppEffect::Engine(Command::Manual(o))] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert!(!o.spec.reduce_only);
}

/// `e` on the selected manual order opens the form on it; Enter sends a modify (its
/// new price and total size); a strategy's order is not the person's to modify.
#[test]
fn e_modifies_the_selected_manual_order() {
    let mut a = risk_app(Theme::builtin("dark").expect("dark"));
    let sel = a.selected_order().expect("a selected order").clone();
    assert_eq!(sel.req.client_id.as_str(), "M-3");
    let opened = a.on_key(key('e'));
    let [AppEffect::Engine(Command::PreviewModify(m))] = opened.as_slice() else {
        panic!("{opened:?}");
    };
    assert_eq!(m.id.as_str(), "M-3");
    assert_eq!((m.price, m.qty), (Price(299_050), Qty(10)));
    // The price field has the focus: 2990.50 -> 2991.00.
    for _ in 0..7 {
        a.on_key(code(KeyCode::Backspace));
    }
    let mut last = Vec::new();
    for c in "2991.00".chars() {
        last = a.on_key(key(c));
    }
    let [AppEffect::Engine(Command::PreviewModify(m))] = last.as_slice() else {
        panic!("{last:?}");
    };
    let mut order = ManualOrder {
        spec: sel.req.spec,
        client_id: None,
    };
    order.spec.price = Some(m.price);
    answer(&mut a, order, Ok(()), Some(m.id.clone()));
    let term = screen(&a, 80, 24);
    let s = prose(&term);
    assert!(s.contains("Modify M-3 SELL"), "{s}");
    assert!(
        s.contains("modify M-3 (cancel/replace; filled 0.02)"),
        "{s}"
    );
    assert!(
        s.contains("0.02 filled stays with M-3; the replacement is for 0.08"),
        "{s}"
    );
    assert!(s.contains("✓ ok risk engine: approved"), "{s}");
    insta::assert_snapshot!(text(&term));
    // Side and reduce-only are the order's: the keys change nothing.
    a.on_key(key('r'));
    let sent = a.on_key(code(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![AppEffect::Engine(Command::Modify(ModifyOrder {
            id: ClientOrderId::new("M-3"),
            price: Price(299_100),
            qty: Qty(10),
        }))]
    );
    // A strategy's order: a message, no form.
    let mut b = risk_app(Theme::builtin("dark").expect("dark"));
    for _ in 0..10 {
        if b.focus() == pit::app::Pane::Orders {
            break;
        }
        b.on_key(code(KeyCode::Tab));
    }
    b.on_key(key('j'));
    let sel = b.selected_order().expect("a selected order");
    assert_eq!(sel.req.owner, pit::domain::Owner::Strategy(0));
    assert!(b.on_key(key('e')).is_empty());
    assert!(b.popup().is_none());
    let s = text(&screen(&b, 100, 30));
    assert!(s.contains("only manual orders are modified here"), "{s}");
}

/// A modify is one action in the orders pane: the old order says where it goes, its
/// replacement names it.
#[test]
fn the_orders_pane_shows_a_modify_as_one_action() {
    let mut v = view();
    let m3 = v
        .open_orders
        .iter_mut()
        .find(|o| o.req.client_id.as_str() == "M-3")
        .expect("M-3");
    m3.modify_to = Some(ModifyTo {
        price: Price(299_100),
        qty: Qty(10),
    });
    m3.cancel_pending = true;
    let mut new = v.open_orders[0].clone();
    new.req.client_id = ClientOrderId::new("M-9");
    new.req.owner = pit::domain::Owner::Manual;
    new.replaces = Some(ClientOrderId::new("M-4"));
    v.open_orders.push(new);
    let a = app_with(v, Theme::builtin("dark").expect("dark"));
    let s = text(&pane(&a, 100, 7, panes::orders::render));
    assert!(s.contains("mod→2991.00 0.10"), "{s}");
    assert!(s.contains("←M-4"), "{s}");
    insta::assert_snapshot!(s);
}

// ----- the real binary in a pseudo-terminal -----

/// The form's limit price as the screen shows it (`price  60001.0 LIMIT`).
fn form_price(text: &str) -> rust_decimal::Decimal {
    let line = text
        .lines()
        .find(|l| l.contains(" price ") && l.contains(" LIMIT"))
        .unwrap_or_else(|| panic!("no price in the form:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "LIMIT").expect("LIMIT");
    words[at - 1]
        .trim_end_matches('▏')
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Type `price` into the form's focused price field, replacing what is there.
fn type_price(screen: &mut pty::Pty, price: rust_decimal::Decimal) {
    screen.press(&[0x7f; 12]);
    screen.press(format!("{price:.1}").as_bytes());
}

/// End to end at 80x24, strategies off: a market buy makes a position; the sell form,
/// reduce-only toggled (`r`), sends a resting reduce-only exit once the engine approves
/// it; `e` on it in the Orders pane modifies its price, and the orders pane shows the
/// replacement naming the order it replaced.
#[test]
fn reduce_only_and_modify_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config.replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    let mut screen = pty::Pty::spawn(&["run"], dir.path(), 80, 24);
    let wait = Duration::from_secs(20);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    // A market buy of 0.002: the position to reduce.
    screen.press(b"b");
    screen.wait_for(&["Manual BUY", "reduce-only off"], wait);
    screen.press(&[0x7f; 8]);
    screen.press(b"0.002\tm");
    screen.wait_for(&["MARKET (empty price)", "risk engine: approved"], wait);
    screen.press(b"\r");
    screen.wait_for(&["+0.002"], wait);
    // The sell form, reduce-only, resting 30.0 above the ask.
    screen.press(b"s");
    screen.wait_for(&["Manual SELL", "reduce-only off"], wait);
    screen.press(b"r");
    screen.wait_for(&["Manual SELL reduce-only", "reduce-only ON"], wait);
    let ask = form_price(&screen.text());
    screen.press(b"\t");
    let exit_price = ask + rust_decimal::Decimal::from(30);
    type_price(&mut screen, exit_price);
    screen.wait_for(
        &[&format!("{exit_price:.1} LIMIT"), "risk engine: approved"],
        wait,
    );
    screen.press(b"\r");
    screen.wait_for(&["manual sell reduce-only sent"], wait);
    screen.wait_for(&[&format!("{exit_price:.1}"), "SELL"], wait);
    // Focus the Orders pane, then modify the exit: 10.0 higher.
    for _ in 0..8 {
        if screen.text().contains("▶ Orders") {
            break;
        }
        screen.press(b"\t");
        std::thread::sleep(Duration::from_millis(150));
    }
    screen.wait_for(&["▶ Orders"], wait);
    screen.press(b"e");
    screen.wait_for(&["Modify M-", "reduce-only ON  (kept)"], wait);
    let moved = exit_price + rust_decimal::Decimal::from(10);
    type_price(&mut screen, moved);
    screen.wait_for(
        &[&format!("{moved:.1} LIMIT"), "risk engine: approved"],
        wait,
    );
    screen.press(b"\r");
    // One action in the orders pane: the replacement at the new price names the old.
    screen.wait_for(&[&format!("{moved:.1}"), "←M-"], wait);
    let text = screen.text();
    assert!(!text.contains(&format!("{exit_price:.1}")), "{text}");
    screen.press(b"o");
    screen.wait_for(
        &["REPLACED →M-", "MODIFY SENT", "REPLACED by M-", "ACKED ←M-"],
        wait,
    );
    let history = screen.text();
    assert!(
        !history.contains("ACKED ×2"),
        "a modify is no second ack:\n{history}"
    );
    screen.press(b"\x1b");
    // (A key right behind Esc would read as Alt-key.)
    std::thread::sleep(Duration::from_millis(300));
    screen.press(b"K");
    screen.wait_for(&["HALTED"], wait);
    let status = screen.quit();
    assert!(status.success() || status.exit_code() == 4, "{status:?}");
}
