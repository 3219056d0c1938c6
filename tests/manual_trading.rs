//! Manual trading next to the strategies (issue 15, item 4): a strategy's losing streak
//! cools down that strategy only, never the person at the console; the order form's
//! verdict is the engine's and follows the market; modify is cancel/replace. Driven
//! through the real runner, simulated market and paper venue.

use pit::config::Config;
use pit::domain::{
    InstrumentId, OrderKind, OrderSpec, Price, Qty, Side, TimeInForce, Timestamp, TradingState,
};
use pit::engine::{Command, ManualOrder};
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use pit::setup::{SIM_EPOCH, assemble};
use std::time::Duration;

fn runner(cfg: &Config, seed: u64) -> Runner {
    let a = assemble(cfg, seed, TradingState::Active).expect("assemble");
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

fn limit(side: Side, lots: i64, price: i64) -> ManualOrder {
    ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
            kind: OrderKind::Limit,
            price: Some(Price(price)),
            qty: Qty(lots),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        client_id: None,
    }
}

fn alert_texts(r: &Runner) -> Vec<String> {
    r.engine.alerts().map(|a| a.text.clone()).collect()
}

/// Issue 15: "after the strategies' losing streak the cooldown also blocks manual orders".
/// With a streak of one loss and an hour's cooldown, the strategies soon cool down; a
/// manual order then still goes out, and its preview says the engine approves it.
#[test]
fn a_strategys_losing_streak_never_holds_a_manual_order() {
    let mut cfg = Config::default();
    cfg.risk.max_consecutive_losses = 1;
    cfg.risk.loss_cooldown_secs = 3_600;
    let mut r = runner(&cfg, 7);
    let mut t = 0.0;
    let cooled = loop {
        t += 1.0;
        r.run_until(at(t));
        if let Some(a) = alert_texts(&r)
            .into_iter()
            .find(|a| a.contains("cooling down after 1 losing round trips"))
        {
            break a;
        }
        assert!(t < 1_800.0, "no strategy lost a round trip in 30 min");
    };
    assert!(
        cooled.contains("S"),
        "the refusal names the strategy: {cooled}"
    );
    let v = r.engine.view();
    let bid = v.markets[0].bids[0].price.0;
    let order = limit(Side::Buy, 1, bid - 20);
    r.command(Command::Preview(order.clone()));
    assert_eq!(
        r.engine.view().order_preview.expect("a preview").verdict,
        Ok(()),
        "the form says the engine approves the manual order"
    );
    let before = r.engine.open_orders().len();
    r.command(Command::Manual(order));
    let manual_open = r
        .engine
        .open_orders()
        .values()
        .filter(|o| o.req.owner == pit::domain::Owner::Manual)
        .count();
    assert_eq!(manual_open, 1, "the manual order is working");
    assert!(r.engine.open_orders().len() > before);
    assert!(
        alert_texts(&r)
            .iter()
            .any(|a| a.starts_with("manual order M-")),
        "{:?}",
        alert_texts(&r)
    );
}
