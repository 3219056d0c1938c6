//! Brackets and execution algorithms in the console (issue 16, items 6 and 7), on a real
//! engine's view: the orders pane shows each group under a row of its own (a bracket's
//! entry and take-profit indented, its held stop-loss leg beneath; an algorithm's parent
//! with its children); `x` on any of a group's orders cancels the whole group; the order
//! form sends a bracket when a take-profit or a stop-loss is entered, and an algorithm
//! when `a` chose one. Snapshots at 110 columns, colour and NO_COLOR.

mod common;
mod pty;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pit::app::AppEffect;
use pit::domain::{
    ClientOrderId, ExecReport, Fill, GroupRole, InstrumentId, Level, Liquidity, MarketEvent,
    MarketEventKind, OrderKind, OrderSpec, Price, Qty, Side, TimeInForce, TradingGate,
    TradingState,
};
use pit::engine::risk::{RiskEngine, RiskLimits};
use pit::engine::{
    AlgoConfig, AlgoKind, AlgoOrder, BracketConfig, BracketLegs, BracketOrder, Command, Effect,
    Engine, EngineConfig, EngineSetup, Input, KillSwitchConfig, ManualOrder,
};
use pit::ui::panes;
use pit::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::Duration;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn text(term: &Terminal<TestBackend>) -> String {
    term.backend().to_string()
}

struct Run {
    e: Engine,
    ms: i64,
}

impl Run {
    fn new() -> Run {
        let mut e = Engine::new(EngineSetup {
            config: EngineConfig::default(),
            kill: KillSwitchConfig::default(),
            instruments: vec![btc()],
            strategies: Vec::new(),
            sizing: Default::default(),
            risk: RiskEngine::new(RiskLimits::default()),
            gate: TradingGate::new(true),
            initial_state: TradingState::Active,
            start: ts(0),
        });
        e.set_group_config(
            BracketConfig::default(),
            AlgoConfig {
                participation_cap: rust_decimal::Decimal::ZERO,
                ..AlgoConfig::default()
            },
        );
        let mut r = Run { e, ms: 0 };
        r.input(Input::Market(MarketEvent {
            ts: ts(1),
            instrument: InstrumentId(0),
            kind: MarketEventKind::Snapshot {
                bids: vec![Level::new(Price(599_995), Qty(5_000))],
                asks: vec![Level::new(Price(600_005), Qty(5_000))],
            },
        }));
        r
    }
    fn input(&mut self, i: Input) -> Vec<Effect> {
        self.ms += 1;
        let mut out = Vec::new();
        self.e.process(ts(self.ms), i, &mut out);
        out
    }
    fn fill(&mut self, id: &ClientOrderId, price: i64, lots: i64) {
        let side = self.e.open_orders()[id].req.spec.side;
        let f = Fill {
            seq: self.ms as u64,
            ts: ts(self.ms),
            client_id: id.clone(),
            instrument: InstrumentId(0),
            side,
            price: Price(price),
            qty: Qty(lots),
            fee: rust_decimal::Decimal::ZERO,
            liquidity: Liquidity::Maker,
            fee_base: rust_decimal::Decimal::ZERO,
        };
        self.input(Input::Exec(ExecReport::Filled(f)));
    }
    fn app(&mut self, theme: Theme) -> pit::ui::App {
        let mut a = app_with(self.e.view(), theme);
        a.set_view(Arc::new(self.e.view()));
        a
    }
}

fn submitted(out: &[Effect]) -> Vec<ClientOrderId> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Submit(o) => Some(o.client_id.clone()),
            _ => None,
        })
        .collect()
}

fn spec(side: Side, lots: i64, price: Option<i64>) -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(0),
        side,
        kind: if price.is_some() {
            OrderKind::Limit
        } else {
            OrderKind::Market
        },
        price: price.map(Price),
        qty: Qty(lots),
        tif: if price.is_some() {
            TimeInForce::Gtc
        } else {
            TimeInForce::Ioc
        },
        reduce_only: false,
    }
}

/// A plain order, a bracket whose entry filled 4 of 10 (its take-profit working for 4,
/// its stop held), and a TWAP of 0.020 in 4 slices (its first child working).
fn groups() -> (Run, ClientOrderId, ClientOrderId) {
    let mut r = Run::new();
    r.input(Input::Command(Command::Manual(ManualOrder {
        spec: spec(Side::Sell, 3, Some(600_200)),
        client_id: None,
    })));
    let out = r.input(Input::Command(Command::Bracket(BracketOrder {
        order: ManualOrder {
            spec: spec(Side::Buy, 10, Some(599_995)),
            client_id: None,
        },
        legs: BracketLegs {
            take_profit: Some(Price(600_100)),
            stop_loss: Some(Price(599_900)),
        },
    })));
    let entry = submitted(&out)[0].clone();
    r.fill(&entry, 599_995, 4);
    let tp =
        r.e.open_orders()
            .values()
            .find(|o| o.group.is_some_and(|g| g.role == GroupRole::TakeProfit))
            .map(|o| o.req.client_id.clone())
            .expect("a take-profit leg");
    r.input(Input::Command(Command::Algo(AlgoOrder {
        kind: AlgoKind::Twap,
        order: ManualOrder {
            spec: spec(Side::Buy, 20, None),
            client_id: None,
        },
        slices: Some(4),
        duration_secs: Some(60),
    })));
    (r, entry, tp)
}

fn orders_pane(a: &pit::ui::App) -> Terminal<TestBackend> {
    pane(a, 110, 10, panes::orders::render)
}

#[test]
fn snapshot_orders_grouped() {
    let (mut r, _, _) = groups();
    let a = r.app(Theme::builtin("dark").expect("dark"));
    let term = orders_pane(&a);
    let s = text(&term);
    for want in [
        "Orders (4, 1 bracket, 1 algo)",
        "B1 bracket",
        "└ entry M-2",
        "└ TP M-3",
        "└ SL held",
        "≤59990.0",
        "HELD by pit",
        "ARMED open 0.004",
        "A2 TWAP",
        "slice 1/4",
        "└ child M-4",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{s}");
    }
    // The plain order first, then the bracket's rows, then the algorithm's.
    let row = |needle: &str| s.lines().position(|l| l.contains(needle)).unwrap_or(99);
    assert!(row("M-1") < row("B1 bracket"));
    assert!(row("B1 bracket") < row("└ entry M-2"));
    assert!(row("└ TP M-3") < row("└ SL held"));
    assert!(row("└ SL held") < row("A2 TWAP"));
    assert!(row("A2 TWAP") < row("└ child M-4"));
    insta::assert_snapshot!(s);
}

#[test]
fn snapshot_orders_grouped_no_color() {
    let (mut r, _, _) = groups();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
    let a = r.app(Theme::load("dark", &dir, true).expect("dark"));
    insta::assert_snapshot!(text(&orders_pane(&a)));
}

#[test]
fn x_on_a_leg_cancels_the_whole_bracket_and_its_stop() {
    let (mut r, entry, tp) = groups();
    let mut a = r.app(Theme::builtin("dark").expect("dark"));
    for _ in 0..10 {
        if a.focus() == pit::app::Pane::Orders {
            break;
        }
        a.on_key(code(KeyCode::Tab));
    }
    // Down to the take-profit: M-1, the bracket's row, its entry, its take-profit.
    for _ in 0..3 {
        a.on_key(key('j'));
    }
    assert_eq!(
        a.selected_order().map(|o| o.req.client_id.clone()),
        Some(tp.clone())
    );
    let fx = a.on_key(key('x'));
    let [AppEffect::Engine(cmd @ Command::Cancel(id))] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(id, &tp);
    let out = r.input(Input::Command(cmd.clone()));
    let cancels: Vec<_> = out
        .iter()
        .filter_map(|f| match f {
            Effect::Cancel(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        cancels.contains(&tp) && cancels.contains(&entry),
        "{cancels:?}"
    );
    assert_eq!(r.e.brackets().count(), 0);
    // The stop is gone from the pane; the algorithm stays.
    let mut a = r.app(Theme::builtin("dark").expect("dark"));
    let s = text(&orders_pane(&a));
    assert!(!s.contains("SL held") && s.contains("A2 TWAP"), "{s}");
    // The algorithm's own row is selectable (its IOC children come and go): `x` there
    // stops it.
    for _ in 0..10 {
        if a.focus() == pit::app::Pane::Orders {
            break;
        }
        a.on_key(code(KeyCode::Tab));
    }
    // Past the plain order and the bracket's two orders whose cancels are on the way.
    for _ in 0..3 {
        a.on_key(key('j'));
    }
    assert!(
        matches!(a.selected_row(), Some(pit::app::OrderRowRef::Algo(_))),
        "{:?}",
        a.selected_row()
    );
    let s = text(&orders_pane(&a));
    assert!(s.contains("▶ A2 TWAP"), "{s}");
    let fx = a.on_key(key('x'));
    let [AppEffect::Engine(cmd @ Command::CancelGroup(2))] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    let out = r.input(Input::Command(cmd.clone()));
    assert!(
        out.iter().any(|f| matches!(f, Effect::Cancel(_))),
        "its child is cancelled"
    );
    assert_eq!(r.e.algos().count(), 0);
    assert!(r.e.alerts().any(|al| {
        al.text
            .contains("algo A2 TWAP stopped (cancelled by the operator)")
    }));
}

#[test]
fn the_order_form_sends_a_bracket_or_an_algorithm() {
    let mut r = Run::new();
    let mut a = r.app(Theme::builtin("dark").expect("dark"));
    a.on_key(key('b'));
    // size -> price -> take-profit
    a.on_key(code(KeyCode::Tab));
    a.on_key(code(KeyCode::Tab));
    for c in "60010".chars() {
        a.on_key(key(c));
    }
    a.on_key(code(KeyCode::Tab));
    for c in "59990".chars() {
        a.on_key(key(c));
    }
    let s = text(&screen(&a, 100, 40));
    assert!(
        s.contains("Bracket BUY") && s.contains("59990 (held by pit)"),
        "{s}"
    );
    let fx = a.on_key(code(KeyCode::Enter));
    let Some(AppEffect::Engine(Command::Bracket(b))) = fx.first() else {
        panic!("{fx:?}");
    };
    assert_eq!(
        b.legs,
        BracketLegs {
            take_profit: Some(Price(600_100)),
            stop_loss: Some(Price(599_900)),
        }
    );
    assert_eq!(b.order.spec.price, Some(Price(599_995)));

    // A stop above a buy's entry is refused in the form, naming why.
    a.on_key(key('b'));
    // size -> price -> take-profit -> stop-loss
    for _ in 0..3 {
        a.on_key(code(KeyCode::Tab));
    }
    for c in "60050".chars() {
        a.on_key(key(c));
    }
    let fx = a.on_key(code(KeyCode::Enter));
    assert!(
        fx.iter()
            .all(|f| !matches!(f, AppEffect::Engine(Command::Bracket(_)))),
        "{fx:?}"
    );
    let s = text(&screen(&a, 100, 40));
    assert!(
        s.contains("the stop-loss must be below the entry for a BUY"),
        "{s}"
    );
    a.on_key(code(KeyCode::Esc));

    // `a` twice: a VWAP split.
    a.on_key(key('b'));
    a.on_key(key('a'));
    a.on_key(key('a'));
    let s = text(&screen(&a, 100, 40));
    assert!(s.contains("VWAP split BUY"), "{s}");
    let fx = a.on_key(code(KeyCode::Enter));
    let Some(AppEffect::Engine(Command::Algo(o))) = fx.first() else {
        panic!("{fx:?}");
    };
    assert_eq!(
        (o.kind, o.slices, o.duration_secs),
        (AlgoKind::VwapSplit, None, None)
    );
}

/// The form's limit price (its default: our side's touch).
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

/// End to end in a real terminal (160x48, strategies off): a market buy with a
/// take-profit 50.0 above and a stop 50.0 below goes through the form; the paper venue
/// fills the entry, the take-profit rests and the stop is held, all under the bracket's
/// row in the orders pane; `K` halts, and the bracket with its held stop is gone.
#[test]
fn a_bracket_from_the_form_in_a_real_terminal_and_the_kill_switch_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config.replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    let mut screen = pty::Pty::spawn(&["run"], dir.path(), 160, 48);
    let wait = Duration::from_secs(20);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    screen.press(b"b");
    screen.wait_for(
        &["Manual BUY", "take-profit none", "stop-loss   none"],
        wait,
    );
    let bid = form_price(&screen.text());
    screen.press(&[0x7f; 8]);
    // size, then a market entry, then the legs.
    screen.press(b"0.002\tm\t");
    let fifty = rust_decimal::Decimal::from(50);
    screen.press(format!("{:.1}\t{:.1}", bid + fifty, bid - fifty).as_bytes());
    screen.wait_for(
        &[
            "Bracket BUY",
            &format!("{:.1} (held by pit)", bid - fifty),
            "risk engine: approved",
        ],
        wait,
    );
    screen.press(b"\r");
    screen.wait_for(
        &[
            "B1 bracket",
            "└ TP M-",
            "└ SL held",
            "HELD by pit",
            "+0.002",
        ],
        wait,
    );
    screen.press(b"K");
    screen.wait_for(&["HALTED"], wait);
    screen.wait_for(&["bracket B1 cancelled (HALTED)"], wait);
    let text = screen.text();
    assert!(
        !text.contains("SL held") && !text.contains("B1 bracket"),
        "{text}"
    );
    screen.press(b"q");
}

/// End to end in a real terminal: `a` in the form makes a market buy of 0.010 a TWAP (10
/// slices over 20 s here); the orders pane shows the parent and its schedule, its slices
/// fill on the paper venue; `K` stops it.
#[test]
fn a_twap_from_the_form_in_a_real_terminal_and_the_kill_switch_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        config
            .replace("enabled = true", "enabled = false")
            .replace("participation_cap = 0.1", "participation_cap = 0")
            .replace("duration_secs = 300", "duration_secs = 20"),
    )
    .unwrap();
    let mut screen = pty::Pty::spawn(&["run"], dir.path(), 160, 48);
    let wait = Duration::from_secs(20);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    screen.press(b"b");
    screen.wait_for(&["Manual BUY", "execution   at once"], wait);
    screen.press(&[0x7f; 8]);
    screen.press(b"0.010\tma");
    screen.wait_for(
        &["TWAP BUY", "MARKET (empty price)", "risk engine: approved"],
        wait,
    );
    screen.press(b"\r");
    // A slice every 2 s, each an IOC at the touch: some fill on the paper venue.
    screen.wait_for(&["A1 TWAP", "slice ", "/10 next", "LONG"], wait);
    screen.press(b"K");
    screen.wait_for(&["HALTED"], wait);
    screen.wait_for(&["algo A1 TWAP stopped (HALTED)"], wait);
    let text = screen.text();
    assert!(!text.contains("A1 TWAP  "), "{text}");
    screen.press(b"q");
}
