//! One scrape: the view and the tracker as OpenMetrics text. Every name starts `pit_`.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `pit_trading_state` | state | 1 for the engine's state (ACTIVE, PAUSED, REDUCING, HALTED), 0 for the others |
//! | `pit_gate_open` | | 1 while the trading gate lets new exposure out |
//! | `pit_kill_switch_presses_total` | | kills seen since the metrics started |
//! | `pit_events_total`, `pit_market_events_total` | | events the engine processed |
//! | `pit_orders_total` | | orders sent to the venue (the summary's `orders`) |
//! | `pit_fills_total` | | fills (the summary's `fills`) |
//! | `pit_risk_checks_total`, `pit_risk_refusals_total` | | orders checked / blocked by the risk engine |
//! | `pit_strategy_orders_total`, `..._held_total`, `..._refused_total` | strategy | a strategy's orders, held by a pause, blocked by risk |
//! | `pit_orders_closed_total`, `pit_orders_filled_total`, `pit_orders_rejected_total` | venue, instrument, strategy | orders closed since the metrics started, those with a fill, rejected |
//! | `pit_fill_ratio` | venue, instrument, strategy | filled / closed |
//! | `pit_order_fill_latency_seconds` | venue, instrument, strategy | send to last fill, engine time (histogram) |
//! | `pit_open_orders` | venue, instrument | open orders now |
//! | `pit_position` | venue, instrument | position, base units |
//! | `pit_equity`, `pit_realized_pnl`, `pit_unrealized_pnl`, `pit_fees`, `pit_day_pnl` | | account, quote currency (floats for graphs; pit's accounting stays decimal) |
//! | `pit_engine_lag_seconds` | | how late the engine runs behind its pacing clock |
//! | `pit_book_state` | venue, instrument, state | 1 for the book's state (ok, RESYNCING, STALE, CROSSED) |
//! | `pit_feed_connected` | venue, instrument | 1 while the live connection is up |
//! | `pit_feed_reconnects_total`, `..._gaps_total`, `..._resyncs_total`, `..._frames_total`, `..._malformed_total` | venue, instrument | live feed counters |
//! | `pit_feed_last_frame_age_seconds` | venue, instrument | since the feed's last frame |
//! | `pit_store_failed` | | 1 once the store failed (the run is halted for good) |

use super::RunLabels;
use super::tracker::{Labels, Tracker, instrument_labels, labels};
use crate::domain::TradingState;
use crate::engine::view::EngineView;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type FGauge = Gauge<f64, AtomicU64>;
type Counters = Family<Labels, Counter>;

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    r.register(name, help, c);
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: f64) {
    let g = FGauge::default();
    g.set(v);
    r.register(name, help, g);
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn f(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// The text of one scrape.
pub fn render(v: &EngineView, t: &Tracker, run: &RunLabels) -> String {
    let mut r = Registry::default();
    let info: Family<Labels, Gauge> = Family::default();
    info.get_or_create(&lbl(&[
        ("venue", &run.venue),
        ("execution", &run.execution),
        ("version", env!("CARGO_PKG_VERSION")),
    ]))
    .set(1);
    r.register(
        "pit_run_info",
        "The run: venue, execution, pit version",
        info,
    );

    let state: Family<Labels, Gauge> = Family::default();
    for s in [
        TradingState::Active,
        TradingState::Paused,
        TradingState::Reducing,
        TradingState::Halted,
    ] {
        state
            .get_or_create(&lbl(&[("state", s.as_str())]))
            .set(i64::from(v.trading_state == s));
    }
    r.register(
        "pit_trading_state",
        "1 for the engine's trading state",
        state,
    );
    gauge(
        &mut r,
        "pit_gate_open",
        "1 while the trading gate lets new exposure out",
        f64::from(u8::from(v.gate_open)),
    );
    counter(
        &mut r,
        "pit_kill_switch_presses",
        "Kill-switch presses seen",
        t.kill_presses,
    );
    let h = &v.health;
    counter(&mut r, "pit_events", "Events processed", h.events);
    counter(
        &mut r,
        "pit_market_events",
        "Market events processed",
        h.market_events,
    );
    counter(&mut r, "pit_orders", "Orders sent to the venue", h.orders);
    counter(&mut r, "pit_fills", "Fills", h.fills);
    counter(
        &mut r,
        "pit_risk_checks",
        "Orders checked by the risk engine",
        h.risk_checks,
    );
    counter(
        &mut r,
        "pit_risk_refusals",
        "Orders blocked by the risk engine",
        h.risk_refusals,
    );

    let (so, sh, sr): (Counters, Counters, Counters) = Default::default();
    for s in &v.strategies {
        let l = lbl(&[("strategy", &s.name)]);
        so.get_or_create(&l).inc_by(s.orders);
        sh.get_or_create(&l).inc_by(s.held_orders);
        sr.get_or_create(&l).inc_by(s.refused_orders);
    }
    r.register("pit_strategy_orders", "A strategy's orders", so);
    r.register(
        "pit_strategy_orders_held",
        "A strategy's orders held by a pause",
        sh,
    );
    r.register(
        "pit_strategy_orders_refused",
        "A strategy's orders blocked by risk",
        sr,
    );

    let (closed, filled, rejected): (Counters, Counters, Counters) = Default::default();
    let ratio: Family<Labels, FGauge> = Family::default();
    for (k, c) in &t.closed {
        let l = labels(k);
        closed.get_or_create(&l).inc_by(c.closed);
        filled.get_or_create(&l).inc_by(c.filled);
        rejected.get_or_create(&l).inc_by(c.rejected);
        if c.closed > 0 {
            ratio
                .get_or_create(&l)
                .set(c.filled as f64 / c.closed as f64);
        }
    }
    r.register("pit_orders_closed", "Orders closed", closed);
    r.register("pit_orders_filled", "Closed orders with a fill", filled);
    r.register("pit_orders_rejected", "Orders rejected", rejected);
    r.register(
        "pit_fill_ratio",
        "Closed orders with a fill / closed",
        ratio,
    );
    r.register(
        "pit_order_fill_latency_seconds",
        "Send to last fill, engine time",
        t.latency.clone(),
    );

    let open: Family<Labels, Gauge> = Family::default();
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in v.markets.iter().filter_map(|m| m.instrument.as_ref()) {
        counts.insert((m.venue.clone(), m.symbol.clone()), 0);
    }
    for o in &v.open_orders {
        *counts.entry(instrument_labels(v, o)).or_default() += 1;
    }
    for ((venue, sym), n) in &counts {
        open.get_or_create(&lbl(&[("venue", venue), ("instrument", sym)]))
            .set(*n);
    }
    r.register("pit_open_orders", "Open orders", open);

    let pos: Family<Labels, FGauge> = Family::default();
    for p in &v.positions {
        let i = usize::from(p.position.instrument.0);
        if let Some(inst) = v.markets.get(i).and_then(|m| m.instrument.as_ref()) {
            pos.get_or_create(&lbl(&[
                ("venue", &inst.venue),
                ("instrument", &inst.symbol),
            ]))
            .set(f(p.position.qty));
        }
    }
    r.register("pit_position", "Position, base units", pos);
    gauge(
        &mut r,
        "pit_equity",
        "Equity, quote currency",
        f(v.pnl.equity),
    );
    gauge(
        &mut r,
        "pit_realized_pnl",
        "Realized PnL",
        f(v.pnl.realized),
    );
    gauge(
        &mut r,
        "pit_unrealized_pnl",
        "Unrealized PnL",
        f(v.pnl.unrealized),
    );
    gauge(&mut r, "pit_fees", "Fees paid", f(v.pnl.fees));
    gauge(
        &mut r,
        "pit_day_pnl",
        "The day's PnL net of fees",
        f(v.pnl.day_pnl),
    );
    gauge(
        &mut r,
        "pit_engine_lag_seconds",
        "How late the engine runs behind its pacing clock",
        v.engine_lag.as_secs_f64(),
    );
    gauge(
        &mut r,
        "pit_store_failed",
        "1 once the store failed",
        f64::from(u8::from(v.store_failed.is_some())),
    );

    let book: Family<Labels, Gauge> = Family::default();
    for m in &v.markets {
        let Some(inst) = &m.instrument else { continue };
        let now = if m.crossed {
            "CROSSED"
        } else if m.resyncing {
            "RESYNCING"
        } else if m.stale {
            "STALE"
        } else {
            "ok"
        };
        for s in ["ok", "RESYNCING", "STALE", "CROSSED"] {
            book.get_or_create(&lbl(&[
                ("venue", &inst.venue),
                ("instrument", &inst.symbol),
                ("state", s),
            ]))
            .set(i64::from(s == now));
        }
    }
    r.register("pit_book_state", "1 for the book's state", book);

    let connected: Family<Labels, Gauge> = Family::default();
    let age: Family<Labels, FGauge> = Family::default();
    let (rc, gaps, rs, frames, bad): (Counters, Counters, Counters, Counters, Counters) =
        Default::default();
    for fh in &v.health.feed {
        let l = lbl(&[("venue", &fh.venue), ("instrument", &fh.symbol)]);
        connected
            .get_or_create(&l)
            .set(i64::from(fh.connection == "connected"));
        rc.get_or_create(&l).inc_by(fh.reconnects);
        gaps.get_or_create(&l).inc_by(fh.gaps);
        rs.get_or_create(&l).inc_by(fh.resyncs);
        frames.get_or_create(&l).inc_by(fh.frames);
        bad.get_or_create(&l).inc_by(fh.malformed);
        if let Some(a) = fh.last_frame_age {
            age.get_or_create(&l).set(a.as_secs_f64());
        }
    }
    r.register(
        "pit_feed_connected",
        "1 while the live connection is up",
        connected,
    );
    r.register(
        "pit_feed_reconnects",
        "Connections opened after the first",
        rc,
    );
    r.register("pit_feed_gaps", "Sequence gaps", gaps);
    r.register("pit_feed_resyncs", "Book resyncs", rs);
    r.register("pit_feed_frames", "Frames received", frames);
    r.register("pit_feed_malformed", "Frames that could not be parsed", bad);
    r.register(
        "pit_feed_last_frame_age_seconds",
        "Since the feed's last frame",
        age,
    );

    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
        return String::from("# cannot encode the metrics\n# EOF\n");
    }
    out
}
