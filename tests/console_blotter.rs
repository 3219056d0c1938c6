//! Fills and history (issue 15, item 3): the engine keeps our fills (owner, liquidity,
//! fee, slippage against the arrival mid) and every order's states (with the reason of a
//! rejection or a risk refusal) in its published view, raises an INFO alert per fill
//! (one counted row for a run of them); the console shows them in the fills pane (`f`)
//! and the order-history view (`o`) at 80x24, 160x48 and without colour.

mod common;
mod pty;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::Pane;
use pit::config::Config;
use pit::domain::{
    InstrumentId, OrderKind, OrderSpec, OrderStatus, Owner, Price, Qty, Side, TimeInForce,
    Timestamp, TradingState,
};
use pit::engine::blotter::StepKind;
use pit::engine::view::EngineView;
use pit::engine::{AlertLevel, Command, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use pit::ui::panes;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rust_decimal::Decimal;
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

fn dark() -> Theme {
    Theme::builtin("dark").expect("dark")
}

fn no_color() -> Theme {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    Theme::load("dark", &dir, true).expect("dark")
}

/// Every cell in the default colours: nothing relies on colour.
fn assert_colourless(term: &Terminal<TestBackend>) {
    for c in &term.backend().buffer().content {
        assert_eq!(
            (c.fg, c.bg),
            (ratatui::style::Color::Reset, ratatui::style::Color::Reset)
        );
    }
}

// ----- the engine: what it keeps and publishes -----

fn runner(seed: u64) -> Runner {
    let mut cfg = Config::default();
    // Only our manual orders trade: every fill and order below is ours.
    cfg.strategies.market_maker.enabled = false;
    cfg.strategies.imbalance.enabled = false;
    let a = assemble(&cfg, seed, TradingState::Active).expect("assemble");
    Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(a.exec),
        RunOptions {
            speed: Speed::Max,
            ..RunOptions::default()
        },
    )
}

fn at(secs: f64) -> Timestamp {
    SIM_EPOCH + Duration::from_secs_f64(secs)
}

fn manual(side: Side, lots: i64, price: Option<Price>, tif: TimeInForce) -> Command {
    Command::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
            kind: if price.is_some() {
                OrderKind::Limit
            } else {
                OrderKind::Market
            },
            price,
            qty: Qty(lots),
            tif,
            reduce_only: false,
        },
        client_id: None,
    })
}

fn mid(r: &Runner) -> Decimal {
    let inst = &r.engine.instruments()[0];
    let b = r.engine.book(InstrumentId(0));
    let (bid, ask) = (b.best_bid().unwrap(), b.best_ask().unwrap());
    (inst.price(bid.price) + inst.price(ask.price)) / Decimal::TWO
}

fn newest_manual(v: &EngineView) -> &pit::engine::blotter::OrderRecord {
    v.order_history
        .iter()
        .rev()
        .find(|r| r.order.req.owner == Owner::Manual)
        .expect("a manual order in the history")
}

#[test]
fn a_fill_reaches_the_blotter_with_its_owner_fee_and_slippage_and_raises_an_info_alert() {
    let mut r = runner(21);
    r.run_until(at(3.0));
    let arrival = mid(&r);
    r.command(manual(Side::Buy, 2, None, TimeInForce::Ioc));
    r.run_until(at(4.0));
    let v = r.engine.view();
    assert!(!v.fills.is_empty(), "the market buy filled");
    let inst = &r.engine.instruments()[0];
    let mut lots = 0;
    for f in &v.fills {
        assert_eq!(f.owner, Some(Owner::Manual));
        assert_eq!(f.fill.side, Side::Buy);
        assert_eq!(
            f.arrival_mid,
            Some(arrival),
            "the mid when the order was sent"
        );
        let px = inst.price(f.fill.price);
        // A market buy pays at least half the spread over the arrival mid.
        let slip = f.slippage(px).expect("slippage");
        assert_eq!(slip, px - arrival);
        assert!(slip > Decimal::ZERO, "{slip}");
        lots += f.fill.qty.0;
    }
    assert_eq!(lots, 2, "every fill of the order, in size");
    let fill_alerts: Vec<_> = v.alerts.iter().filter(|a| a.source == "fills").collect();
    assert_eq!(fill_alerts.len(), 1, "{fill_alerts:?}");
    let a = fill_alerts[0];
    assert_eq!(a.level, AlertLevel::Info);
    assert_eq!(a.count as usize, v.fills.len());
    let last = &v.fills.last().unwrap().fill;
    let want = format!(
        "filled BUY {} BTC-USD @ {} (manual, taker",
        inst.fmt_qty(last.qty),
        inst.fmt_price(last.price)
    );
    assert!(a.text.starts_with(&want), "{} vs {want}", a.text);

    // Another one folds into the same row: one line with a count.
    r.command(manual(Side::Sell, 1, None, TimeInForce::Ioc));
    r.run_until(at(5.0));
    let v = r.engine.view();
    let fill_alerts: Vec<_> = v.alerts.iter().filter(|a| a.source == "fills").collect();
    assert_eq!(fill_alerts.len(), 1, "{fill_alerts:?}");
    assert_eq!(fill_alerts[0].count as usize, v.fills.len());
    assert!(
        fill_alerts[0].text.starts_with("filled SELL"),
        "{fill_alerts:?}"
    );
    assert_eq!(v.health.fills as usize, v.fills.len());
}

#[test]
fn the_order_history_keeps_every_state_and_the_reasons() {
    let mut r = runner(22);
    r.run_until(at(3.0));
    let b = r.engine.book(InstrumentId(0)).clone();
    let bid = b.best_bid().unwrap().price;

    // Filled: NEW ... FILLED, the filled size with it.
    r.command(manual(Side::Buy, 1, None, TimeInForce::Ioc));
    r.run_until(at(3.5));
    let v = r.engine.view();
    let filled = newest_manual(&v);
    assert_eq!(filled.status_word(), "FILLED");
    assert_eq!(filled.steps[0].kind, StepKind::Status(OrderStatus::New));
    let last = filled.steps.last().unwrap();
    assert_eq!(last.kind, StepKind::Status(OrderStatus::Filled));
    assert_eq!(last.filled, Qty(1));

    // A post-only buy at the ask would cross: the venue rejects it, with its reason. (The
    // ask of now: the book moved since the first look.)
    let ask_now = r.engine.book(InstrumentId(0)).best_ask().unwrap().price;
    r.command(manual(Side::Buy, 1, Some(ask_now), TimeInForce::PostOnly));
    r.run_until(at(4.0));
    let v = r.engine.view();
    let rejected = newest_manual(&v);
    assert_eq!(rejected.status_word(), "REJECTED");
    assert_eq!(rejected.reason(), Some("post-only would cross"));
    let words: Vec<&str> = rejected.steps.iter().map(|s| s.word()).collect();
    assert_eq!(words, ["NEW", "REJECTED"]);

    // Resting, then cancelled: NEW, ACKED, CANCEL SENT, CANCELLED.
    r.command(manual(
        Side::Buy,
        1,
        Some(Price(bid.0 - 200)),
        TimeInForce::Gtc,
    ));
    r.run_until(at(4.5));
    let id = newest_manual(&r.engine.view()).order.req.client_id.clone();
    r.command(Command::Cancel(id.clone()));
    r.run_until(at(5.0));
    let v = r.engine.view();
    let rec = v
        .order_history
        .iter()
        .find(|r| r.order.req.client_id == id)
        .unwrap();
    let words: Vec<&str> = rec.steps.iter().map(|s| s.word()).collect();
    assert_eq!(words, ["NEW", "ACKED", "CANCEL SENT", "CANCELLED"]);
    assert!(rec.steps.windows(2).all(|w| w[0].ts <= w[1].ts));

    // Over max_order_qty: refused by risk, never sent; kept with the refusal.
    let sent = r.exec.stats().orders_sent;
    r.command(manual(Side::Buy, 5_000, None, TimeInForce::Ioc));
    assert_eq!(r.exec.stats().orders_sent, sent);
    let v = r.engine.view();
    let refused = newest_manual(&v);
    assert_eq!(refused.status_word(), "REFUSED");
    assert!(
        refused.reason().unwrap().contains("max_order_qty"),
        "{refused:?}"
    );
    assert_eq!(refused.order.req.spec.qty, Qty(5_000));
}

#[test]
fn the_blotter_changes_nothing_the_engine_decides() {
    // The default strategies trade for a minute: the fill log is the same whether views
    // (with the fills and the history) are built or not, and the blotter holds them all.
    let run = |views: bool| {
        let cfg = Config::default();
        let a = assemble(&cfg, 5, TradingState::Active).expect("assemble");
        let mut r = Runner::new(
            a.engine,
            Box::new(a.market),
            Box::new(a.exec),
            RunOptions {
                speed: Speed::Max,
                ..RunOptions::default()
            },
        );
        let mut t = 0.0;
        while t < 60.0 {
            t += 0.5;
            r.run_until(at(t));
            if views {
                let _ = r.engine.view();
            }
        }
        let v = r.engine.view();
        (r.engine.summary(), v.fills.len(), v.health.fills)
    };
    let (with, kept, fills) = run(true);
    assert_eq!(with, run(false).0);
    assert!(fills > 0, "the strategies traded");
    assert_eq!(
        kept as u64,
        fills.min(pit::engine::blotter::FILLS_KEPT as u64)
    );
}

// ----- the console -----

#[test]
fn the_fills_pane_shows_what_a_trader_reads() {
    let s = text(&pane(&app(), 90, 7, panes::fills::render));
    let rows: Vec<&str> = s.lines().collect();
    // Newest first: the manual ETH sell, the manual BTC market buy, the maker bid.
    let eth = rows
        .iter()
        .position(|r| r.contains("ETH-USD"))
        .expect("eth");
    let buy = rows.iter().position(|r| r.contains("taker")).expect("buy");
    assert!(eth < buy, "{s}");
    let r = rows[buy];
    for want in [
        "11:59:57.000",
        "BTC-USD",
        "BUY",
        "0.003",
        "60000.1",
        "0.18",
        "taker",
        "manual",
        "+0.05",
    ] {
        assert!(r.contains(want), "{want} in {r}");
    }
    let maker = rows.iter().find(|r| r.contains("S1")).expect("maker row");
    assert!(
        maker.contains("59999.9") && maker.contains("-0.02"),
        "{maker}"
    );
    assert!(
        maker.contains("-0.15"),
        "earned against the arrival mid: {maker}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn a_narrow_fills_pane_drops_whole_columns_never_a_number() {
    let s = text(&pane(&app(), 36, 7, panes::fills::render));
    assert!(s.contains("60000.1") && s.contains("0.003"), "{s}");
    assert!(s.contains("2990.50") && s.contains("0.02"), "{s}");
    assert!(!s.contains("taker"), "liquidity goes first: {s}");
}

#[test]
fn f_focuses_the_fills_pane_and_j_scrolls_it() {
    let mut app = app();
    app.on_key(key('f'));
    assert_eq!(app.focus(), Pane::Fills);
    assert_eq!(app.bottom_pane(), Pane::Fills);
    let s = text(&screen(&app, 80, 24));
    assert!(s.contains("[Fills]"), "{s}");
    assert!(s.contains("2990.50"), "{s}");
    app.on_key(key('j'));
    assert_eq!(app.fill_scroll(), 1);
    let s = text(&pane(&app, 90, 7, panes::fills::render));
    assert!(!s.contains("2990.50"), "scrolled past the newest: {s}");
    assert!(s.contains("60000.1"), "{s}");
}

#[test]
fn snapshot_fills_80x24() {
    let mut app = app();
    app.on_key(key('f'));
    insta::assert_snapshot!(text(&screen(&app, 80, 24)));
}

#[test]
fn snapshot_fills_160x48() {
    let s = text(&screen(&app(), 160, 48));
    assert!(s.contains("Fills (3)"), "{s}");
    assert!(s.contains("60000.1") && s.contains("taker"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn snapshot_fills_no_color_80x24() {
    let mut app = app_with(view(), no_color());
    app.on_key(key('f'));
    let term = screen(&app, 80, 24);
    assert_colourless(&term);
    let s = text(&term);
    // Sides and signs in words and symbols, not colour.
    assert!(s.contains("SELL") && s.contains("BUY"), "{s}");
    assert!(s.contains("+0.05") && s.contains("-0.15"), "{s}");
    insta::assert_snapshot!(s);
}

fn history_app(theme: Theme) -> pit::ui::App {
    let mut app = app_with(view(), theme);
    app.on_key(key('o'));
    app
}

#[test]
fn the_order_history_shows_each_order_its_states_and_reasons() {
    let app = history_app(dark());
    let s = text(&screen(&app, 160, 48));
    assert!(s.contains("Order history (7 orders)"), "{s}");
    // Newest first: the refusal (sent last) above the rejection (sent earlier).
    let refused = s.find("REFUSED").expect("refused");
    let rejected = s.find("REJECTED").expect("rejected");
    assert!(refused < rejected, "{s}");
    assert!(
        s.contains("refused by risk: notional 300000.25 over max_order_notional 100000"),
        "{s}"
    );
    assert!(
        s.contains("rejected by the venue: post-only would cross"),
        "{s}"
    );
    assert!(
        s.contains("NEW 11:59:54.900 → ACKED +4ms → CANCEL SENT +4.7s"),
        "{s}"
    );
    assert!(s.contains("NEW 11:59:56.990 → FILLED 0.003 +10ms"), "{s}");
    // The filled market buy: its average fill price, one decimal finer than the tick.
    let row = s.lines().find(|l| l.contains("M-2 ")).expect("the M-2 row");
    assert!(row.contains("60000.10") && row.contains("FILLED"), "{row}");
}

#[test]
fn the_order_history_scrolls_and_closes() {
    let mut app = history_app(dark());
    assert!(matches!(app.popup(), Some(pit::app::Popup::History)));
    app.on_key(key('j'));
    app.on_key(key('j'));
    assert_eq!(app.history_scroll(), 2);
    let s = text(&screen(&app, 160, 48));
    assert!(!s.contains("REFUSED"), "scrolled past the two newest: {s}");
    app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    assert_eq!(app.history_scroll(), 6);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(app.popup().is_none());
    // The kill switch works over it.
    let mut app = history_app(dark());
    let fx = app.on_key(key('K'));
    assert!(fx.contains(&pit::app::AppEffect::Kill));
}

#[test]
fn snapshot_history_80x24() {
    let s = text(&screen(&history_app(dark()), 80, 24));
    // Narrow: the reason wraps rather than being cut.
    assert!(s.contains("refused by risk:"), "{s}");
    assert!(s.contains("max_order_notional"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn snapshot_history_160x48() {
    insta::assert_snapshot!(text(&screen(&history_app(dark()), 160, 48)));
}

#[test]
fn snapshot_history_no_color_160x48() {
    let term = screen(&history_app(no_color()), 160, 48);
    assert_colourless(&term);
    insta::assert_snapshot!(text(&term));
}

// ----- the real binary in a pseudo-terminal -----

#[test]
fn fills_and_history_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("config.toml"), dir.path().join("config.toml")).unwrap();
    let mut screen = pty::Pty::spawn(&["run", "--speed", "20"], dir.path(), 120, 40);
    screen.wait_for(
        &["ACTIVE", "bid ", "ask ", "Fills ("],
        Duration::from_secs(30),
    );
    // The strategies trade: a fill shows in the fills pane and as an INFO alert.
    // (Not `wait_for("filled ")`: the orders pane's header and "no fills yet" match
    // before any fill.)
    let t0 = std::time::Instant::now();
    let text = loop {
        let text = screen.text();
        if text.contains(", maker, fee ") || text.contains(", taker, fee ") {
            break text;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        text.contains(", maker, fee ") || text.contains(", taker, fee "),
        "a fill alert with its liquidity:\n{text}"
    );
    assert!(!text.contains("no fills yet"), "{text}");

    screen.press(b"o");
    screen.wait_for(&["Order history (", "NEW ", " → "], Duration::from_secs(10));
    screen.press(b"\x1b");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !screen.text().contains("Order history ("),
        "{}",
        screen.text()
    );

    screen.press(b"f");
    screen.wait_for(&["▶ Fills ("], Duration::from_secs(5));
    let status = screen.quit();
    assert!(status.success(), "{status:?}");
}

/// A full blotter (every fill and order kept, each order with all its steps) still goes
/// to an attached console in one view frame, far under the socket's frame limit.
#[test]
fn a_full_blotter_fits_a_view_frame_with_room_to_spare() {
    use pit::engine::blotter::{FILLS_KEPT, OrderStep, REFUSED_KEPT};
    let mut v = view();
    let fill = v.fills[1].clone();
    v.fills = vec![fill; FILLS_KEPT];
    let mut rec = v.order_history[0].clone();
    rec.order.reject_reason = Some("notional 300000.25 over max_order_notional 100000".into());
    rec.steps = (0..16)
        .map(|k| OrderStep {
            ts: ts(k),
            kind: StepKind::Status(OrderStatus::PartiallyFilled),
            filled: Qty(k),
            count: 3,
        })
        .collect();
    v.order_history = vec![rec; 200 + 50 + REFUSED_KEPT];
    let bytes = serde_json::to_vec(&v).unwrap().len();
    eprintln!("a view with a full blotter: {bytes} bytes of JSON");
    assert!(
        bytes < pit::control::protocol::MAX_FRAME / 4,
        "{bytes} bytes against a {} frame limit",
        pit::control::protocol::MAX_FRAME
    );
}
