//! A venue's rules (exchange filters) in the risk engine: delivered by the execution port
//! as an engine input, checked for every order (strategies' and manual ones), shown in the
//! order form's verdict, failing closed while unknown; and the filters parsed from the
//! real `pit emulate binance` exchangeInfo answer are exactly the ones the emulator
//! enforces, so an order pit's risk engine lets through never meets a -1013 there.
//! Also `pit reconcile` against the emulator (the real binaries): agreement, external
//! orders, a difference, and no live venue.

use pit::config::Config;
use pit::domain::{
    ClientOrderId, InstrumentId, OrderKind, OrderRequest, OrderSpec, Price, Qty, Side, TimeInForce,
    Timestamp, TradingState, VenueFilter, VenueRules,
};
use pit::engine::risk::RiskApproved;
use pit::engine::{Command, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use pit::venue::{ExecutionPort, PortStats, VenueRulesUpdate};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The paper venue, plus venue rules the test hands over when it likes (as a live
/// venue's connection task would).
struct WithRules<P> {
    inner: P,
    rules: Arc<Mutex<Vec<VenueRulesUpdate>>>,
}

impl<P: ExecutionPort> ExecutionPort for WithRules<P> {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        self.inner.submit(now, order)
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.inner.cancel(now, id)
    }
    fn on_market(&mut self, e: &pit::domain::MarketEvent) {
        self.inner.on_market(e)
    }
    fn next_report_time(&self) -> Option<Timestamp> {
        self.inner.next_report_time()
    }
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<pit::domain::ExecReport>) {
        self.inner.poll_reports(now, out)
    }
    fn stats(&self) -> PortStats {
        self.inner.stats()
    }
    fn poll_venue_rules(&mut self, out: &mut Vec<VenueRulesUpdate>) {
        out.append(&mut self.rules.lock().unwrap());
    }
}

fn at(secs: f64) -> Timestamp {
    SIM_EPOCH + Duration::from_secs_f64(secs)
}

/// BTC-USD of the simulated market (tick 0.1, lot 0.001), the strategies on, the engine
/// waiting for its venue's rules as a live run does.
fn runner(strategies: bool) -> (Runner, Arc<Mutex<Vec<VenueRulesUpdate>>>) {
    let mut cfg = Config::default();
    cfg.strategies.market_maker.enabled = strategies;
    cfg.strategies.imbalance.enabled = strategies;
    let mut a = assemble(&cfg, 5, TradingState::Active).expect("assemble");
    a.engine.await_venue_rules("binance");
    let rules = Arc::new(Mutex::new(Vec::new()));
    let port = WithRules {
        inner: a.exec,
        rules: rules.clone(),
    };
    let r = Runner::new(
        a.engine,
        Box::new(a.market),
        Box::new(port),
        RunOptions {
            speed: Speed::Max,
            ..RunOptions::default()
        },
    );
    (r, rules)
}

/// Step 0.002, notional >= 50: coarser than the instrument's own grid, so that orders
/// on pit's grid can still break the venue's rules.
fn rules() -> VenueRules {
    rules_with_step(dec!(0.002))
}

fn rules_with_step(step: Decimal) -> VenueRules {
    VenueRules {
        not_trading: None,
        order_types: vec!["LIMIT".into(), "LIMIT_MAKER".into(), "MARKET".into()],
        filters: vec![
            VenueFilter::PriceFilter {
                min: dec!(0.1),
                max: dec!(1000000),
                tick: dec!(0.1),
            },
            VenueFilter::LotSize {
                min: step,
                max: dec!(9000),
                step,
            },
            VenueFilter::Notional {
                min: dec!(50),
                apply_min_to_market: true,
                max: dec!(0),
                apply_max_to_market: false,
            },
        ],
    }
}

fn manual(lots: i64, price_ticks: i64) -> ManualOrder {
    ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Limit,
            price: Some(Price(price_ticks)),
            qty: Qty(lots),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        client_id: None,
    }
}

fn verdict(r: &mut Runner, m: ManualOrder) -> Result<(), String> {
    r.command(Command::Preview(m));
    r.engine.view().order_preview.expect("a preview").verdict
}

fn bid_ticks(r: &Runner) -> i64 {
    r.engine
        .book(InstrumentId(0))
        .best_bid()
        .expect("a bid")
        .price
        .0
}

#[test]
fn without_the_venues_rules_no_order_leaves_and_the_reason_says_why() {
    let (mut r, rules) = runner(true);
    r.run_until(at(5.0));
    assert_eq!(
        r.exec.stats().orders_sent,
        0,
        "strategies' orders are refused while the filters are unknown"
    );
    let refusal = r
        .engine
        .alerts()
        .find(|a| {
            a.text
                .contains("filters (tick, lot, notional) are not known yet")
        })
        .expect("an alert says why orders are refused");
    assert!(refusal.text.contains("binance BTC-USD"), "{}", refusal.text);
    let px = bid_ticks(&r);
    let v = verdict(&mut r, manual(2, px)).unwrap_err();
    assert!(v.contains("not known yet"), "the order form says so: {v}");
    assert!(r.engine.view().health.venue_rules.iter().all(|v| !v.known));

    // The connection task could not read them: the reason is shown, still closed.
    rules.lock().unwrap().push((
        InstrumentId(0),
        Err("exchangeInfo: connection refused".into()),
    ));
    r.run_until(at(5.5));
    let v = verdict(&mut r, manual(2, px)).unwrap_err();
    assert!(v.contains("(exchangeInfo: connection refused)"), "{v}");
    assert_eq!(r.exec.stats().orders_sent, 0);

    // Loaded (the strategies' 0.001 is on the step): they trade, and the health view
    // says what is in force.
    rules
        .lock()
        .unwrap()
        .push((InstrumentId(0), Ok(rules_with_step(dec!(0.001)))));
    rules
        .lock()
        .unwrap()
        .push((InstrumentId(1), Ok(VenueRules::default())));
    r.run_until(at(20.0));
    assert!(
        r.exec.stats().orders_sent > 0,
        "orders flow once filters are known"
    );
    let loaded = r
        .engine
        .alerts()
        .find(|a| a.text.contains("exchange filters loaded"))
        .expect("an alert says the filters were loaded");
    assert!(loaded.text.contains("step 0.001"), "{}", loaded.text);
    let h = r.engine.view().health.venue_rules;
    assert!(h[0].known && h[0].text.contains("notional >= 50"), "{h:?}");
}

#[test]
fn every_manual_and_strategy_order_is_held_to_the_filters_with_the_rule_named() {
    let (mut r, rules) = runner(true);
    rules
        .lock()
        .unwrap()
        .push((InstrumentId(0), Ok(self::rules())));
    rules
        .lock()
        .unwrap()
        .push((InstrumentId(1), Ok(VenueRules::default())));
    r.run_until(at(30.0));
    // The strategies trade 0.001 BTC (config default): below the venue's 0.002 minimum.
    let strategy_refusal = r
        .engine
        .alerts()
        .find(|a| a.source.starts_with("risk/S") && a.text.contains("LOT_SIZE"))
        .expect("a strategy order refused for LOT_SIZE");
    assert!(
        strategy_refusal
            .text
            .contains("LOT_SIZE: qty 0.001 is below the minimum 0.002"),
        "{}",
        strategy_refusal.text
    );
    let px = bid_ticks(&r);
    // The order form's verdict names the filter and both values.
    assert_eq!(
        verdict(&mut r, manual(3, px)),
        Err("LOT_SIZE: qty 0.003 is not a multiple of step 0.002".to_string())
    );
    // 0.002 at 60.0: 0.12 of notional.
    let v = verdict(&mut r, manual(2, 600)).unwrap_err();
    assert_eq!(v, "NOTIONAL: notional 0.12 is below the minimum 50");
    let before = r.exec.stats().orders_sent;
    r.command(Command::Manual(manual(3, px)));
    assert_eq!(r.exec.stats().orders_sent, before, "nothing left");
    let a = r.engine.alerts().last().expect("an alert").text.clone();
    assert!(a.contains("LOT_SIZE: qty 0.003"), "{a}");
    assert_eq!(verdict(&mut r, manual(2, px)), Ok(()));
    r.command(Command::Manual(manual(2, px)));
    assert_eq!(r.exec.stats().orders_sent, before + 1, "a good order goes");
}

#[test]
fn the_emulators_exchange_info_gives_the_rules_the_emulator_enforces() {
    // exchangeInfo as `pit emulate binance` answers it (the same function builds the
    // answer and the emulator's checks): pit's reading of it refuses exactly what the
    // emulator would refuse, on a grid of orders around the market.
    use pit::emulate::exchange::{default_symbols, exchange_filters, symbol_info};
    use pit::venue::exchanges::binance::api::filters::{SymbolRules, venue_rules};
    use pit::venue::exchanges::binance::api::wire::ExchangeInfo;
    for spec in default_symbols() {
        let wire = serde_json::json!({
            "timezone": "UTC", "serverTime": 0, "rateLimits": [],
            "exchangeFilters": exchange_filters(),
            "symbols": [symbol_info(&spec)],
        })
        .to_string();
        let info: ExchangeInfo = serde_json::from_str(&wire).expect("exchangeInfo parses");
        let pit_rules = venue_rules(&info.symbols[0], &info.exchange_filters);
        let emulator = SymbolRules::from_info(&symbol_info(&spec), &exchange_filters());
        assert_eq!(pit_rules, emulator.rules, "{}", spec.symbol);
        assert!(pit_rules.tick_size().is_some() && pit_rules.step_size().is_some());
        let names: Vec<&str> = pit_rules.filters.iter().map(|f| f.name()).collect();
        for want in ["PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL"] {
            assert!(
                names.contains(&want),
                "{} lists {want}: {names:?}",
                spec.symbol
            );
        }
    }
}

const KEY: &str = "filtersTestKey000000000000000000000000000000000000000000000000001";
const SECRET: &str = "filtersTestSecret-not-a-real-one";

#[path = "common/emulator.rs"]
mod emulator;
use emulator::Emulator;

/// `pit emulate binance` on an ephemeral port; killed on drop.
fn emulator() -> Emulator {
    Emulator::start(KEY, SECRET, &[])
}

#[test]
fn what_pits_risk_engine_passes_the_emulator_never_rejects_for_a_filter() {
    use pit::domain::FilterOrder;
    use pit::venue::exchanges::binance::api::sign::{ApiKey, Signer};
    use pit::venue::exchanges::binance::api::wire::{
        self, DepthSnapshot, NewOrderParams, NewOrderResponse,
    };
    use pit::venue::exchanges::binance::trade::rest::{Method, Rest};
    use pit::venue::exchanges::binance::trade::rules;
    let e = emulator();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rest = Rest::new(
        &e.base,
        ApiKey::new(KEY),
        Signer::hmac(secrecy::SecretString::from(SECRET.to_string())).unwrap(),
        5000,
        Duration::from_secs(10),
    )
    .unwrap();
    // The very call the live connection task makes at start.
    let r = rt
        .block_on(rules::fetch(&rest, "BTCUSDT"))
        .expect("the emulator's exchangeInfo is read");
    let spec = &pit::emulate::exchange::default_symbols()[0];
    assert_eq!(r.tick_size(), Some(spec.tick));
    assert_eq!(r.step_size(), Some(spec.lot));
    let tick = spec.tick;
    assert!(rt.block_on(rules::fetch(&rest, "NOPE")).is_err());

    let depth: DepthSnapshot = rt
        .block_on(rest.public(
            Method::Get,
            "/api/v3/depth",
            &[("symbol", "BTCUSDT"), ("limit", "5")],
        ))
        .unwrap();
    let bid: Decimal = depth.bids[0][0];
    let ask: Decimal = depth.asks[0][0];
    let mid = (bid + ask) / Decimal::TWO;
    // Resting buys far enough below the market not to fill, some off the tick or the
    // step, some too small or too large; market sells of various sizes.
    let far = (bid * dec!(0.9) / tick).floor() * tick;
    let mut cases: Vec<(Option<Decimal>, Decimal)> = Vec::new();
    for price in [far, far + tick / dec!(2), dec!(0.001), dec!(100)] {
        for qty in [
            dec!(0.001),
            dec!(0.000015),
            dec!(0.00001),
            dec!(0.01),
            dec!(9001),
        ] {
            cases.push((Some(price), qty));
        }
    }
    for qty in [dec!(0.002), dec!(0.0001), dec!(0.0015), dec!(101)] {
        cases.push((None, qty));
    }
    let (mut passed, mut refused) = (0, 0);
    for (n, (price, qty)) in cases.into_iter().enumerate() {
        let (side, kind, tif) = match price {
            Some(_) => (Side::Buy, OrderKind::Limit, TimeInForce::Gtc),
            None => (Side::Sell, OrderKind::Market, TimeInForce::Ioc),
        };
        let pit = r.check(&FilterOrder {
            side,
            order_type: FilterOrder::order_type_of(kind, tif),
            price,
            qty,
            market_price: price.is_none().then_some(bid),
            average_price: Some(mid),
            open_on_symbol: 0,
            open_on_venue: 0,
        });
        let params = NewOrderParams {
            symbol: "BTCUSDT".into(),
            side: if side == Side::Buy {
                wire::Side::Buy
            } else {
                wire::Side::Sell
            },
            order_type: if price.is_some() {
                wire::OrderType::Limit
            } else {
                wire::OrderType::Market
            },
            time_in_force: price.map(|_| wire::TimeInForce::Gtc),
            quantity: Some(qty),
            quote_order_qty: None,
            price,
            new_client_order_id: Some(format!("filters-{n}")),
            new_order_resp_type: None,
        };
        let venue: Result<NewOrderResponse, _> =
            rt.block_on(rest.signed(Method::Post, "/api/v3/order", &params));
        let venue_code = venue.as_ref().err().and_then(|e| e.code());
        match &pit {
            Ok(()) => {
                passed += 1;
                assert_ne!(
                    venue_code,
                    Some(-1013),
                    "pit passed {price:?} x {qty}, the emulator refused it for a filter: {venue:?}"
                );
            }
            Err(b) => {
                refused += 1;
                assert_eq!(
                    venue_code,
                    Some(-1013),
                    "pit refused {price:?} x {qty} ({b}), the emulator took it: {venue:?}"
                );
            }
        }
    }
    assert!(
        passed >= 3 && refused >= 10,
        "passed {passed}, refused {refused}"
    );
}

/// A config for a live Binance run on the emulator at `base`, in `dir`.
fn live_config(dir: &std::path::Path, base: &str) -> std::path::PathBuf {
    let ws = base.replace("http://", "ws://");
    let cfg = format!(
        r#"venue = "binance"

[live.binance]
mode = "live"
testnet = true
rest_url = "{base}"
ws_url = "{ws}"
ws_api_url = "{ws}/ws-api/v3"

[[instruments]]
symbol = "BTCUSDT"
tick_size = 0.01
lot_size = 0.00001

[strategies.market_maker]
symbol = "BTCUSDT"
[strategies.imbalance]
symbol = "BTCUSDT"
[strategies.vwap_revert]
symbol = "BTCUSDT"
[strategies.orb]
symbol = "BTCUSDT"
"#
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn reconcile(dir: &std::path::Path, config: &std::path::Path, json: bool) -> (i32, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pit"));
    c.arg("--config").arg(config).arg("reconcile");
    if json {
        c.arg("--json");
    }
    let out = c
        .current_dir(dir)
        .env("PIT_BINANCE_API_KEY", KEY)
        .env("PIT_BINANCE_API_SECRET", SECRET)
        .env("XDG_CONFIG_HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .output()
        .expect("pit reconcile runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn pit_reconcile_says_whether_the_store_and_the_venue_agree() {
    use pit::venue::exchanges::binance::api::sign::{ApiKey, Signer};
    use pit::venue::exchanges::binance::api::wire::{self, NewOrderParams, NewOrderResponse};
    use pit::venue::exchanges::binance::trade::rest::{Method, Rest};
    let e = emulator();
    let dir = tempfile::tempdir().unwrap();
    let config = live_config(dir.path(), &e.base);
    // A fresh account and no store: nothing to disagree about (and no store is made).
    let (code, text) = reconcile(dir.path(), &config, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("the store and the venue agree"), "{text}");
    assert!(!dir.path().join("data").join("pit.redb").exists());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rest = Rest::new(
        &e.base,
        ApiKey::new(KEY),
        Signer::hmac(secrecy::SecretString::from(SECRET.to_string())).unwrap(),
        5000,
        Duration::from_secs(10),
    )
    .unwrap();
    let place = |id: &str| {
        let p = NewOrderParams {
            symbol: "BTCUSDT".into(),
            side: wire::Side::Buy,
            order_type: wire::OrderType::Limit,
            time_in_force: Some(wire::TimeInForce::Gtc),
            quantity: Some(dec!(0.001)),
            quote_order_qty: None,
            price: Some(dec!(30000)),
            new_client_order_id: Some(id.to_string()),
            new_order_resp_type: None,
        };
        let r: NewOrderResponse = rt
            .block_on(rest.signed(Method::Post, "/api/v3/order", &p))
            .expect("the emulator takes the order");
        r
    };
    // Somebody else's order: listed, no difference.
    place("web_manual_1");
    let (code, text) = reconcile(dir.path(), &config, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("external  order BTCUSDT: web_manual_1 is open"),
        "{text}"
    );
    // An order with pit's id the store does not know: a difference, exit 1.
    place("p7-M-1");
    let (code, text) = reconcile(dir.path(), &config, false);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "DIFFERS   order BTCUSDT: p7-M-1 (pit's) is open at the venue, not in the store"
        ),
        "{text}"
    );
    let (code, json) = reconcile(dir.path(), &config, true);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["agree"], false);
    assert_eq!(v["venue_open_orders"], 2);
    assert_eq!(v["differences"][0]["kind"], "order");

    // No live venue in the config: exit 2, saying what is missing.
    let paper = dir.path().join("paper.toml");
    std::fs::write(&paper, "venue = \"sim\"\n").unwrap();
    let (code, text) = reconcile(dir.path(), &paper, false);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no live venue in the config"), "{text}");
}
