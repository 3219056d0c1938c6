//! The price ladder (issue 15, item 2): `L` shows fixed price rows in the book's place,
//! centred on the touch, with the bid and ask sizes, our working orders and their
//! estimated queue position, and the session's traded volume at each price; the cursor row
//! keeps its price while the market moves; `b`/`s` open the order form at the row's price,
//! `e` moves our manual order to another row (one cancel/replace), `x` cancels ours at the
//! row. Snapshots at 80x24, 160x48 and NO_COLOR; an end-to-end run in a real terminal.

mod common;
mod pty;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::AppEffect;
use pit::domain::{ClientOrderId, InstrumentId, Level, Order, Price, Qty, Side};
use pit::engine::view::EngineView;
use pit::engine::{Command, ModifyOrder};
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use std::sync::Arc;
use std::time::Duration;

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

fn no_color() -> Theme {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    Theme::load("dark", &dir, true).expect("dark")
}

/// The fixture's view plus a manual BTC bid at 59999.8 (0.004, 0.800 ahead of it).
fn ladder_view() -> EngineView {
    let mut v = view();
    let mut m = v
        .open_orders
        .iter()
        .find(|o| o.req.client_id.as_str() == "M-3")
        .expect("M-3")
        .clone();
    m.req.client_id = ClientOrderId::new("M-9");
    m.req.spec.instrument = InstrumentId(0);
    m.req.spec.side = Side::Buy;
    m.req.spec.price = Some(Price(599_998));
    m.req.spec.qty = Qty(4);
    m.filled = Qty::ZERO;
    m.filled_notional = 0;
    m.queue_ahead = Some(Qty(800));
    v.open_orders.push(m);
    v
}

fn ladder_app(theme: Theme) -> pit::ui::App {
    let mut a = app_with(ladder_view(), theme);
    let out = a.on_key(key('L'));
    assert!(out.is_empty(), "{out:?}");
    assert!(a.ladder().on);
    a
}

/// The ladder's row (the text between the pane's borders) that holds `needle`; the
/// cursor row starts with `▶`.
fn line_with<'a>(s: &'a str, needle: &str) -> &'a str {
    s.lines()
        .filter_map(|l| l.split('┃').nth(1))
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no ladder row with {needle:?}:\n{s}"))
}

#[test]
fn snapshot_ladder_80x24() {
    let a = ladder_app(Theme::builtin("dark").expect("dark"));
    let term = screen(&a, 80, 24);
    let s = text(&term);
    // Centred on the best bid, the cursor there.
    assert!(line_with(&s, "▶").contains("60000.0"), "{s}");
    // Every price row, one tick apart, highest first, asks above bids.
    let prices: Vec<i64> = s
        .lines()
        .filter_map(|l| l.split('┃').nth(1))
        .filter(|l| !l.contains("spread"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.parse::<f64>().ok().filter(|p| *p > 59_000.0))
        })
        .map(|p| (p * 10.0).round() as i64)
        .collect();
    assert!(prices.len() >= 15, "{prices:?}\n{s}");
    assert!(prices.windows(2).all(|w| w[0] - w[1] == 1), "{prices:?}");
    // Our orders at their rows, with the size ahead (an estimate).
    let row = line_with(&s, "59999.8");
    assert!(row.contains("B 0.004 q~0.800"), "{row}");
    assert!(row.contains("0.800"), "bid size: {row}");
    // The session's volume at 60000.0 (5 + 80 lots of the fixture's tape).
    assert!(line_with(&s, "60000.0").contains("0.085"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn snapshot_ladder_160x48() {
    let a = ladder_app(Theme::builtin("dark").expect("dark"));
    let term = screen(&a, 160, 48);
    let s = text(&term);
    // The room is used: the ladder runs the screen's height, 42 rows (19 at 80x24).
    line_with(&s, "60002.0");
    line_with(&s, "59997.9");
    assert!(!s.contains("60002.1") && !s.contains("59997.8"), "{s}");
    let mm = line_with(&s, "60000.0");
    assert!(mm.contains("◆B 0.001 q~0.180"), "{mm}");
    assert!(line_with(&s, "ours (q~ ahead)").contains("vol"), "{s}");
    // The other panes beside it.
    for pane in ["Positions", "Orders", "Alerts", "Fills"] {
        assert!(s.contains(pane), "{pane}: {s}");
    }
    insta::assert_snapshot!(s);
}

/// Under NO_COLOR the cursor row is reversed (and marked ▶) and our orders are marked ◆
/// and bold: they differ without colour.
#[test]
fn snapshot_ladder_no_color_80x24() {
    let mut a = ladder_app(no_color());
    a.on_key(code(KeyCode::Down));
    let term = screen(&a, 80, 24);
    let buf = term.backend().buffer();
    for c in &buf.content {
        assert_eq!(
            (c.fg, c.bg),
            (ratatui::style::Color::Reset, ratatui::style::Color::Reset)
        );
    }
    let s = text(&term);
    let y = s
        .lines()
        .position(|l| l.contains("┃▶") && l.contains("59999.9"))
        .unwrap_or_else(|| panic!("the cursor moved down one row:\n{s}")) as u16;
    let x = s
        .lines()
        .nth(y as usize)
        .unwrap()
        .chars()
        .position(|c| c == '▶')
        .unwrap() as u16;
    assert!(buf[(x + 5, y)].modifier.contains(Modifier::REVERSED));
    let own_y = s.lines().position(|l| l.contains("◆B 0.004")).unwrap() as u16;
    let own_x = s
        .lines()
        .nth(own_y as usize)
        .unwrap()
        .chars()
        .position(|c| c == '◆')
        .unwrap() as u16;
    assert!(buf[(own_x + 1, own_y)].modifier.contains(Modifier::BOLD));
    assert!(
        !buf[(own_x + 1, own_y)]
            .modifier
            .contains(Modifier::REVERSED)
    );
    insta::assert_snapshot!(s);
}

/// The market moves 5 ticks up: the rows and the cursor keep their prices (the cursor
/// stays on the same screen row) until `z` centres them again.
#[test]
fn the_row_under_the_cursor_stays_put_while_prices_move() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('k'));
    a.on_key(key('k'));
    let before = text(&screen(&a, 80, 24));
    let y = before.lines().position(|l| l.contains("┃▶")).unwrap();
    assert!(
        before.lines().nth(y).unwrap().contains("60000.2"),
        "{before}"
    );
    let mut v: EngineView = a.view().clone();
    let shift = |ls: &mut Vec<Level>| {
        for l in ls.iter_mut() {
            l.price = Price(l.price.0 + 5);
        }
    };
    shift(&mut v.markets[0].bids);
    shift(&mut v.markets[0].asks);
    a.set_view(Arc::new(v));
    let after = text(&screen(&a, 80, 24));
    let line = after.lines().nth(y).unwrap();
    assert!(line.contains("┃▶") && line.contains("60000.2"), "{after}");
    // The new best bid (60000.5) shows at its own row, no longer in the middle.
    assert!(line_with(&after, "60000.5").contains("0.250"), "{after}");
    // z centres on the touch again.
    a.on_key(key('z'));
    assert_eq!(a.ladder().cursor(), Some(Price(600_005)));
}

#[test]
fn grouping_sums_the_rows_prices() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('g'));
    a.on_key(key('g'));
    assert_eq!(a.ladder().grouping(), 5);
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("5 ticks/row"), "{s}");
    // Asks 60000.1 .. 60000.4 (0.300 + 0.900 + 1.200 + 2.600) in the 60000.0 row, with
    // the best bid 60000.0 (0.250).
    let row = line_with(&s, "60000.0");
    assert!(row.contains("5.000") && row.contains("0.250"), "{row}");
    a.on_key(key('G'));
    assert_eq!(a.ladder().grouping(), 2);
}

/// On a grouped row that holds the touch (5 ticks a row: bid 60000.0 and asks from
/// 60000.1 in the 60000.0 row), a buy takes the row's lowest price and a sell its
/// highest: neither crosses into the other side at the row's label price.
#[test]
fn on_a_grouped_row_a_buy_takes_its_lowest_price_and_a_sell_its_highest() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('g'));
    a.on_key(key('g'));
    assert_eq!(a.ladder().grouping(), 5);
    a.on_key(key('z'));
    while a.ladder().cursor().is_some_and(|c| c > Price(600_000)) {
        a.on_key(code(KeyCode::Down));
    }
    while a.ladder().cursor().is_some_and(|c| c < Price(600_000)) {
        a.on_key(code(KeyCode::Up));
    }
    assert_eq!(a.ladder().cursor(), Some(Price(600_000)));
    let out = a.on_key(key('s'));
    let [AppEffect::Engine(Command::Preview(o))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(
        (o.spec.side, o.spec.price),
        (Side::Sell, Some(Price(600_004)))
    );
    a.on_key(code(KeyCode::Esc));
    let out = a.on_key(key('b'));
    let [AppEffect::Engine(Command::Preview(o))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(
        (o.spec.side, o.spec.price),
        (Side::Buy, Some(Price(600_000)))
    );
}

#[test]
fn b_and_s_open_the_order_form_at_the_rows_price() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    for _ in 0..3 {
        a.on_key(code(KeyCode::Down));
    }
    let out = a.on_key(key('b'));
    let [AppEffect::Engine(Command::Preview(o))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(
        (o.spec.side, o.spec.price),
        (Side::Buy, Some(Price(599_997)))
    );
    a.on_key(code(KeyCode::Esc));
    a.on_key(code(KeyCode::Up));
    let out = a.on_key(key('s'));
    let [AppEffect::Engine(Command::Preview(o))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(
        (o.spec.side, o.spec.price),
        (Side::Sell, Some(Price(599_998)))
    );
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("Manual SELL") && s.contains("59999.8"), "{s}");
}

#[test]
fn x_cancels_our_orders_at_the_row_and_only_there() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    // The cursor starts at 60000.0, where S1-7 rests.
    let out = a.on_key(key('x'));
    assert_eq!(
        out,
        vec![AppEffect::Engine(Command::Cancel(ClientOrderId::new(
            "S1-7"
        )))]
    );
    a.on_key(key('k'));
    assert!(a.on_key(key('x')).is_empty(), "nothing of ours at 60000.1");
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("no order of ours to cancel at 60000.1"), "{s}");
}

/// `e` picks our manual order up, the cursor takes it to another row, `e` there opens the
/// modify form at that price; Enter sends one cancel/replace.
#[test]
fn e_moves_our_manual_order_to_the_cursor_row() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    // A strategy's order is not ours to move.
    assert!(a.on_key(key('e')).is_empty());
    assert!(a.ladder().moving.is_none());
    let s = text(&screen(&a, 100, 30));
    assert!(s.contains("strategies move their own"), "{s}");
    a.on_key(key('j'));
    a.on_key(key('j'));
    assert!(a.on_key(key('e')).is_empty());
    assert_eq!(
        a.ladder().moving.as_ref().map(|(id, _)| id.as_str()),
        Some("M-9")
    );
    a.on_key(key('j'));
    let s = text(&screen(&a, 80, 24));
    assert!(s.contains("MOVING M-9"), "{s}");
    assert!(line_with(&s, "»").contains("59999.8"), "{s}");
    assert!(line_with(&s, "▶").contains("59999.7"), "{s}");
    let out = a.on_key(key('e'));
    let [AppEffect::Engine(Command::PreviewModify(m))] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(
        (m.id.as_str(), m.price, m.qty),
        ("M-9", Price(599_997), Qty(4))
    );
    let sent = a.on_key(code(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![AppEffect::Engine(Command::Modify(ModifyOrder {
            id: ClientOrderId::new("M-9"),
            price: Price(599_997),
            qty: Qty(4),
        }))]
    );
    // While the engine works the cancel/replace, the old row says where it goes.
    let mut v: EngineView = a.view().clone();
    let o: &mut Order = v
        .open_orders
        .iter_mut()
        .find(|o| o.req.client_id.as_str() == "M-9")
        .unwrap();
    o.cancel_pending = true;
    o.modify_to = Some(pit::domain::ModifyTo {
        price: Price(599_997),
        qty: Qty(4),
    });
    a.set_view(Arc::new(v));
    let s = text(&screen(&a, 80, 24));
    assert!(line_with(&s, "59999.8").contains("→59999.7"), "{s}");
    // Esc drops a pick-up.
    a.on_key(key('e'));
    a.on_key(code(KeyCode::Esc));
    assert!(a.ladder().moving.is_none());
}

#[test]
fn the_ladder_is_in_the_help_and_closes_with_its_key() {
    let mut a = ladder_app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('?'));
    let s = text(&screen(&a, 120, 48));
    assert!(s.contains("price ladder (book)"), "{s}");
    assert!(s.contains("ladder: centre the rows"), "{s}");
    a.on_key(key('?'));
    a.on_key(key('L'));
    assert!(!a.ladder().on);
    assert!(text(&screen(&a, 80, 24)).contains(" Book "));
}

/// At the smallest size the console lays out (60x20) the ladder keeps every number whole:
/// our orders shrink to markers first.
#[test]
fn at_60x20_numbers_stay_whole() {
    let a = ladder_app(no_color());
    let s = text(&screen(&a, 60, 20));
    let row = line_with(&s, "59999.8");
    assert!(row.contains("◆B") && row.contains("0.800"), "{s}");
    assert!(line_with(&s, "60000.0").contains("0.085"), "{s}");
    assert!(line_with(&s, "▶").contains("60000.0"), "{s}");
}

// ----- the session's volume in the published view -----

/// A market-data port that counts what it hands the runner: lots traded per price of
/// instrument 0.
struct Counting {
    inner: pit::venue::sim::SimMarket,
    seen: Arc<std::sync::Mutex<std::collections::BTreeMap<i64, i64>>>,
}

impl pit::venue::MarketDataPort for Counting {
    fn instruments(&self) -> &[pit::domain::Instrument] {
        self.inner.instruments()
    }
    fn peek_time(&mut self) -> Option<pit::domain::Timestamp> {
        self.inner.peek_time()
    }
    fn next_event(&mut self) -> Option<pit::domain::MarketEvent> {
        let ev = self.inner.next_event()?;
        if let (0, pit::domain::MarketEventKind::Trade(t)) = (ev.instrument.index(), &ev.kind) {
            *self.seen.lock().unwrap().entry(t.price.0).or_insert(0) += t.qty.0;
        }
        Some(ev)
    }
}

/// The view a run publishes carries, per price, exactly the volume of the trades the
/// engine saw this session; a view built by the engine alone (headless runs and
/// backtests publish none) carries none, so they pay nothing for it.
#[test]
fn the_published_view_carries_the_sessions_volume_by_price() {
    let cfg = pit::config::Config::default();
    let mut a = pit::setup::assemble(&cfg, 5, pit::domain::TradingState::Active).unwrap();
    assert!(a.engine.view().markets[0].traded.is_empty());
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let handle = pit::runner::spawn(
        a.engine,
        Box::new(Counting {
            inner: a.market,
            seen: seen.clone(),
        }),
        Box::new(a.exec),
        pit::runner::RunOptions {
            speed: pit::pace::Speed::Max,
            run_for: Some(Duration::from_secs(5)),
            publish_every: Duration::from_millis(5),
            ..Default::default()
        },
    )
    .unwrap();
    let views = handle.subscribe();
    handle.join().expect("engine thread");
    let last = views.borrow().clone();
    let published: Vec<(i64, i64)> = last.markets[0]
        .traded
        .iter()
        .map(|l| (l.price.0, l.qty.0))
        .collect();
    let seen: Vec<(i64, i64)> = seen.lock().unwrap().iter().map(|(p, q)| (*p, *q)).collect();
    assert!(
        seen.len() > 10,
        "the market traded at several prices: {seen:?}"
    );
    assert!(seen.len() < 512, "within the bound: {}", seen.len());
    assert_eq!(published, seen);
}

/// The queue position the view shows for our resting order is the paper venue's own
/// model: never more than the size the book shows at its price (the venue takes the
/// level shrinking as the queue ahead of us shrinking; the engine's copy from the
/// acceptance is moved only by trades).
#[test]
fn the_view_shows_the_paper_venues_queue_estimate() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    // Strategies off, a calm market: the order stays where it is put.
    let calm = text
        .replace("enabled = true", "enabled = false")
        .replace("volatility_bps = 1.0", "volatility_bps = 0.02")
        .replace("turbulent_vol_mult = 3.0", "turbulent_vol_mult = 1.0");
    let cfg = pit::config::Config::parse(&calm, &repo.join("config.toml")).unwrap();
    let a = pit::setup::assemble(&cfg, 9, pit::domain::TradingState::Active).unwrap();
    let handle = pit::runner::spawn(
        a.engine,
        Box::new(a.market),
        Box::new(a.exec),
        pit::runner::RunOptions {
            speed: pit::pace::Speed::Times(2.0),
            publish_every: Duration::from_millis(5),
            ..Default::default()
        },
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    // The biggest of the bid levels behind the best: a long queue to join.
    let best = loop {
        let v = handle.view();
        if let Some(l) = v.markets[0]
            .bids
            .iter()
            .skip(1)
            .take(8)
            .max_by_key(|l| l.qty)
            && l.qty.0 > 50
        {
            break l.price;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no book");
        std::thread::sleep(Duration::from_millis(5));
    };
    // A buy there: it joins the back of the queue.
    handle.send(Command::Manual(pit::engine::ManualOrder {
        spec: pit::domain::OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: pit::domain::OrderKind::Limit,
            price: Some(best),
            qty: Qty(1),
            tif: pit::domain::TimeInForce::Gtc,
            reduce_only: false,
        },
        client_id: None,
    }));
    let (mut samples, mut below_level) = (0, 0);
    let t1 = std::time::Instant::now();
    while t1.elapsed() < Duration::from_secs(4) {
        let v = handle.view();
        if let Some(o) = v
            .open_orders
            .iter()
            .find(|o| o.req.spec.price == Some(best))
            && let Some(q) = o.queue_ahead
        {
            let level = v.markets[0]
                .bids
                .iter()
                .find(|l| l.price == best)
                .map_or(Qty::ZERO, |l| l.qty);
            assert!(q <= level, "queue {q:?} ahead at a level of {level:?}");
            samples += 1;
            below_level += usize::from(q < level);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.shutdown();
    handle.join().expect("engine thread");
    assert!(samples > 20, "the order rested and was seen: {samples}");
    // Size that joined the level after us is behind us.
    assert!(
        below_level > 0,
        "the queue never moved apart from the level"
    );
}

// ----- the real binary in a pseudo-terminal -----

/// The ladder's rows on the screen (the text between the pane's borders).
fn ladder_rows(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split('┃').nth(1))
        .map(str::to_string)
        .collect()
}

/// The price on a ladder row: its one number at the tick's precision (sizes have three
/// decimals).
fn row_price(row: &str) -> Option<rust_decimal::Decimal> {
    row.split_whitespace()
        .filter_map(|w| w.parse::<rust_decimal::Decimal>().ok())
        .find(|d| d.scale() == 1)
}

/// The cursor row's price.
fn cursor_price(text: &str) -> Option<rust_decimal::Decimal> {
    ladder_rows(text)
        .iter()
        .find(|r| r.starts_with('▶'))
        .and_then(|r| row_price(r))
}

/// Wait until `ok` holds for the screen's text (polling what the terminal shows).
fn wait_until(screen: &pty::Pty, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = screen.text();
        if ok(&t) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited 20 s for {what}:\n{t}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rows of the ladder that hold an order of ours, by price.
fn our_rows(text: &str) -> Vec<rust_decimal::Decimal> {
    ladder_rows(text)
        .iter()
        .filter(|r| r.contains("◆B"))
        .filter_map(|r| row_price(r))
        .collect()
}

/// At 100x30, strategies off, on a calm simulated market: `L` opens the ladder, `g g`
/// gathers 5 ticks a row, `z` centres it; the cursor moves 8 rows down, `b` opens the
/// order form at that row's price, Enter sends it once the engine approves; the order
/// shows on its row with its queue estimate; `e`, 2 rows down, `e`, Enter moves it there
/// (one cancel/replace); `x` there cancels it.
#[test]
fn the_ladder_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    let calm = config
        .replace("enabled = true", "enabled = false")
        .replace("volatility_bps = 1.0", "volatility_bps = 0.02")
        .replace("turbulent_vol_mult = 3.0", "turbulent_vol_mult = 1.0");
    assert_ne!(calm, config);
    std::fs::write(dir.path().join("config.toml"), calm).unwrap();
    let mut screen = pty::Pty::spawn(&["run"], dir.path(), 100, 30);
    let wait = Duration::from_secs(20);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    screen.press(b"L");
    screen.wait_for(&["Ladder BTC-USD", "1 tick/row", "ours"], wait);
    screen.press(b"gg");
    screen.wait_for(&["5 ticks/row"], wait);
    screen.press(b"z");
    screen.wait_for(&["ladder centred on the touch"], wait);
    let start = cursor_price(&screen.text()).expect("a cursor row");
    let step = rust_decimal::Decimal::new(5, 1);
    screen.press(b"jjjjjjjj");
    let row = start - step * rust_decimal::Decimal::from(8);
    wait_until(&screen, "the cursor 8 rows down", |t| {
        cursor_price(t) == Some(row)
    });
    // The order form at the row's price, with the engine's verdict.
    screen.press(b"b");
    screen.wait_for(
        &[
            "Manual BUY",
            &format!("{row:.1} LIMIT"),
            "risk engine: approved",
        ],
        wait,
    );
    screen.press(b"\r");
    screen.wait_for(&["manual buy sent"], wait);
    // Our order on its row, with the size ahead of it (an estimate).
    wait_until(&screen, "our order on its row", |t| {
        our_rows(t) == vec![row]
    });
    let t = screen.text();
    let own = ladder_rows(&t)
        .into_iter()
        .find(|r| r.contains("◆B"))
        .unwrap();
    assert!(own.contains("◆B 0.001 q~"), "{t}");
    // Move it two rows down: one action.
    screen.press(b"e");
    screen.wait_for(&["MOVING M-"], wait);
    screen.press(b"jj");
    let to = row - step * rust_decimal::Decimal::from(2);
    wait_until(&screen, "the cursor 2 rows further down", |t| {
        cursor_price(t) == Some(to)
    });
    assert!(
        ladder_rows(&screen.text())
            .iter()
            .any(|r| r.starts_with('»') && row_price(r) == Some(row)),
        "the row it is moved from is marked"
    );
    screen.press(b"e");
    screen.wait_for(
        &[
            "Modify M-",
            &format!("{to:.1} LIMIT"),
            "risk engine: approved",
        ],
        wait,
    );
    screen.press(b"\r");
    screen.wait_for(&["modify M-"], wait);
    // The replacement rests on the new row; nothing of ours is left on the old one.
    wait_until(&screen, "the order on its new row only", |t| {
        our_rows(t) == vec![to] && !t.contains("→")
    });
    // The order history shows the move as a modify.
    screen.press(b"o");
    screen.wait_for(&["MODIFY SENT", "REPLACED by M-"], wait);
    screen.press(b"\x1b");
    // (A key right behind Esc would read as Alt-key.)
    std::thread::sleep(Duration::from_millis(300));
    // Cancel ours at the cursor row.
    screen.press(b"x");
    screen.wait_for(&["cancel sent at"], wait);
    wait_until(&screen, "no order of ours left", |t| our_rows(t).is_empty());
    screen.wait_for(&["Orders (0)"], wait);
    screen.press(b"K");
    screen.wait_for(&["HALTED"], wait);
    let status = screen.quit();
    assert!(status.success() || status.exit_code() == 4, "{status:?}");
}
