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
//! | `pit_orders_sent_total`, `pit_orders_acked_total` | venue, instrument, strategy | orders sent to the venue, acknowledged by it |
//! | `pit_orders_closed_total`, `pit_orders_filled_total`, `pit_orders_rejected_total` | venue, instrument, strategy | orders closed in this run, those with a fill, rejected (by the venue or the gate) |
//! | `pit_fill_ratio` | venue, instrument, strategy | filled / closed |
//! | `pit_order_ack_latency_seconds` | venue, instrument, strategy | execution latency, send to the venue's acknowledgement, engine time (histogram) |
//! | `pit_order_fill_latency_seconds` | venue, instrument, strategy | execution latency, send to the order's first fill, engine time (histogram) |
//! | `pit_slippage`, `pit_slippage_per_unit` | venue, instrument, strategy | fills' slippage against the arrival mid, quote currency: the sum, and per unit filled (positive: a cost) |
//! | `pit_slippage_fills_total` | venue, instrument, strategy | fills measured (those whose book had a mid) |
//! | `pit_orders_blocked_by_gate_total` | | orders the closed trading gate stopped before the venue |
//! | `pit_store_commit_latency_seconds` | | wall time of each store commit (one fsynced write transaction; histogram) |
//! | `pit_market_data_latency_seconds` | venue, instrument | the venue's event time to our receipt of the frame (histogram; every venue's frames carry one (Binance `E`, Bybit and OKX `ts`, Kraken, Coinbase and Polymarket `timestamp`), live or replayed; none for the simulated market, which makes its events on the engine clock) |
//! | `pit_open_orders` | venue, instrument | open orders now |
//! | `pit_position` | venue, instrument | position, base units |
//! | `pit_equity`, `pit_realized_pnl`, `pit_unrealized_pnl`, `pit_fees`, `pit_day_pnl` | | account, quote currency (floats for graphs; pit's accounting stays decimal) |
//! | `pit_engine_lag_seconds` | | how late the engine runs behind its pacing clock |
//! | `pit_book_state` | venue, instrument, state | 1 for the book's state (ok, RESYNCING, STALE, CROSSED) |
//! | `pit_feed_connected` | venue, instrument | 1 while the live connection is up |
//! | `pit_venue_order_latency_seconds` | venue, stage (ack, first_fill), quantile (0.5, 0.99) | a live venue's send to ack / first fill on its connection task's clock (wall time), over its last 1000 orders |
//! | `pit_venue_order_latency_samples_total` | venue, stage | orders that latency was measured on |
//! | `pit_market_data_early_frames_total` | venue, instrument | frames received before the venue's event time (the clocks disagree; counted as 0 s above) |
//! | `pit_feed_reconnects_total`, `..._gaps_total`, `..._resyncs_total`, `..._frames_total`, `..._malformed_total` | venue, instrument | live feed counters |
//! | `pit_feed_last_frame_age_seconds` | venue, instrument | since the feed's last frame |
//! | `pit_store_failed` | | 1 once the store failed (the run is halted for good) |

use super::RunLabels;
use super::tracker::Tracker;
use crate::domain::{Owner, TradingState};
use crate::engine::execstats::{LATENCY_BOUNDS_NS, LatencyHist};
use crate::engine::view::EngineView;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type FGauge = Gauge<f64, AtomicU64>;
/// Labels of one series.
type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;

/// A [`LatencyHist`] (counted by the engine, the store task or a decoder) encoded as a
/// Prometheus histogram, in seconds.
#[derive(Clone, Debug, Default)]
struct Hist(std::sync::Arc<std::sync::Mutex<LatencyHist>>);

impl Hist {
    fn of(h: LatencyHist) -> Hist {
        let x = Hist::default();
        x.add(&h);
        x
    }
    fn add(&self, h: &LatencyHist) {
        if let Ok(mut m) = self.0.lock() {
            m.merge(h);
        }
    }
}

impl TypedMetric for Hist {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Hist {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = self.0.lock().map(|h| *h).unwrap_or_default();
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_NS
            .iter()
            .map(|&b| b as f64 / 1e9)
            .chain([f64::INFINITY])
            .zip(h.counts)
            .collect();
        encoder.encode_histogram::<NoLabelSet>(h.sum_ns as f64 / 1e9, h.count, &buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The strategy label of an owner: the strategy's name, `manual`, `system`, or
/// `unknown` (a fill of an order the engine does not know).
fn owner_label(v: &EngineView, owner: Option<Owner>) -> String {
    match owner {
        Some(Owner::Strategy(id)) => v
            .strategies
            .get(usize::from(u16::from(id)))
            .map_or_else(|| Owner::Strategy(id).to_string(), |s| s.name.clone()),
        Some(o) => o.to_string(),
        None => "unknown".into(),
    }
}

/// The venue and symbol of instrument `i`.
fn instrument_labels(v: &EngineView, i: crate::domain::InstrumentId) -> (String, String) {
    let i = i.index();
    v.markets
        .get(i)
        .and_then(|m| m.instrument.as_ref())
        .map_or_else(
            || (String::new(), format!("#{i}")),
            |inst| (inst.venue.clone(), inst.symbol.clone()),
        )
}

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

    let (sent, acked, closed, filled, rejected, slip_n): (
        Counters,
        Counters,
        Counters,
        Counters,
        Counters,
        Counters,
    ) = Default::default();
    let (ratio, slip, slip_unit): (
        Family<Labels, FGauge>,
        Family<Labels, FGauge>,
        Family<Labels, FGauge>,
    ) = Default::default();
    let (ack_lat, fill_lat): (Family<Labels, Hist>, Family<Labels, Hist>) = Default::default();
    for x in &v.health.execution {
        let (venue, symbol) = instrument_labels(v, x.instrument);
        let strategy = owner_label(v, x.owner);
        let l = lbl(&[
            ("venue", &venue),
            ("instrument", &symbol),
            ("strategy", &strategy),
        ]);
        sent.get_or_create(&l).inc_by(x.sent);
        acked.get_or_create(&l).inc_by(x.acked);
        closed.get_or_create(&l).inc_by(x.closed);
        filled.get_or_create(&l).inc_by(x.filled);
        rejected.get_or_create(&l).inc_by(x.rejected);
        if let Some(r) = x.fill_ratio() {
            ratio.get_or_create(&l).set(r);
        }
        ack_lat.get_or_create(&l).add(&x.ack_latency);
        fill_lat.get_or_create(&l).add(&x.fill_latency);
        slip_n.get_or_create(&l).inc_by(x.slippage_fills);
        if x.slippage_fills > 0 {
            slip.get_or_create(&l).set(f(x.slippage));
            if !x.slippage_qty.is_zero() {
                slip_unit
                    .get_or_create(&l)
                    .set(f(x.slippage / x.slippage_qty));
            }
        }
    }
    r.register("pit_orders_sent", "Orders sent to the venue", sent);
    r.register("pit_orders_acked", "Orders the venue acknowledged", acked);
    r.register("pit_orders_closed", "Orders closed", closed);
    r.register("pit_orders_filled", "Closed orders with a fill", filled);
    r.register(
        "pit_orders_rejected",
        "Orders rejected by the venue or the trading gate",
        rejected,
    );
    r.register(
        "pit_fill_ratio",
        "Closed orders with a fill / closed",
        ratio,
    );
    r.register(
        "pit_order_ack_latency_seconds",
        "Send to the venue's acknowledgement, engine time",
        ack_lat,
    );
    r.register(
        "pit_order_fill_latency_seconds",
        "Send to the order's first fill, engine time",
        fill_lat,
    );
    r.register(
        "pit_slippage",
        "Fills' slippage against the arrival mid, quote currency (positive: a cost)",
        slip,
    );
    r.register(
        "pit_slippage_per_unit",
        "Slippage against the arrival mid per unit filled, quote currency",
        slip_unit,
    );
    r.register("pit_slippage_fills", "Fills measured for slippage", slip_n);
    counter(
        &mut r,
        "pit_orders_blocked_by_gate",
        "Orders the closed trading gate stopped before the venue",
        v.health.orders_blocked_by_gate,
    );
    r.register(
        "pit_store_commit_latency_seconds",
        "Wall time of each store commit",
        Hist::of(v.health.store_commit_latency),
    );
    let md: Family<Labels, Hist> = Family::default();
    let skew: Counters = Family::default();
    for m in &v.health.market_data_latency {
        let l = lbl(&[("venue", &m.venue), ("instrument", &m.symbol)]);
        md.get_or_create(&l).add(&m.latency);
        skew.get_or_create(&l).inc_by(m.latency.negative);
    }
    r.register(
        "pit_market_data_latency_seconds",
        "The venue's event time to our receipt of the frame",
        md,
    );
    // A live venue's own wire latency (its connection task's clock, the last orders).
    if let Some(e) = &v.health.exec {
        let q: Family<Labels, FGauge> = Family::default();
        let n: Counters = Family::default();
        for (stage, figure) in [
            ("ack", &e.send_to_ack),
            ("first_fill", &e.send_to_first_fill),
        ] {
            let Some(f) = figure else { continue };
            for (quantile, us) in [("0.5", f.median_us), ("0.99", f.p99_us)] {
                q.get_or_create(&lbl(&[
                    ("venue", &e.venue),
                    ("stage", stage),
                    ("quantile", quantile),
                ]))
                .set(us as f64 / 1e6);
            }
            n.get_or_create(&lbl(&[("venue", &e.venue), ("stage", stage)]))
                .inc_by(f.samples);
        }
        r.register(
            "pit_venue_order_latency_seconds",
            "A live venue's send to ack / first fill, wall time, over its last 1000 orders",
            q,
        );
        r.register(
            "pit_venue_order_latency_samples",
            "Orders a live venue's latency was measured on",
            n,
        );
    }
    r.register(
        "pit_market_data_early_frames",
        "Frames received before the venue's event time (our clock behind the venue's; counted as 0 s)",
        skew,
    );

    let open: Family<Labels, Gauge> = Family::default();
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in v.markets.iter().filter_map(|m| m.instrument.as_ref()) {
        counts.insert((m.venue.clone(), m.symbol.clone()), 0);
    }
    for o in &v.open_orders {
        *counts
            .entry(instrument_labels(v, o.req.spec.instrument))
            .or_default() += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::execstats::ExecFigures;
    use crate::engine::view::{ExecHealth, MdLatency, Quantiles};

    /// The figures the engine, the runner and a live port put in the view come out as
    /// OpenMetrics: histograms cumulative with their sum and count, quantiles as gauges.
    #[test]
    fn the_views_figures_come_out_as_openmetrics() {
        let mut v = EngineView::default();
        let mut ack = LatencyHist::default();
        ack.observe_ns(10_000_000);
        ack.observe_ns(10_000_000);
        ack.observe_ns(2_000_000_000);
        v.health.execution.push(ExecFigures {
            owner: Some(Owner::Manual),
            sent: 4,
            acked: 3,
            closed: 4,
            filled: 1,
            rejected: 1,
            ack_latency: ack,
            slippage_fills: 2,
            slippage_qty: rust_decimal::Decimal::new(4, 0),
            slippage: rust_decimal::Decimal::new(-2, 0),
            ..ExecFigures::default()
        });
        v.health.orders_blocked_by_gate = 1;
        let mut md = LatencyHist::default();
        md.observe_ns(-5);
        md.observe_ns(150_000_000);
        v.health.market_data_latency.push(MdLatency {
            venue: "binance".into(),
            symbol: "BTCUSDT".into(),
            latency: md,
        });
        v.health.exec = Some(ExecHealth {
            venue: "binance".into(),
            send_to_ack: Some(Quantiles {
                median_us: 1500,
                p99_us: 20_000,
                samples: 7,
            }),
            ..ExecHealth::default()
        });
        let t = render(&v, &Tracker::default(), &RunLabels::default());
        let l = "venue=\"\",instrument=\"#0\",strategy=\"manual\"";
        for line in [
            format!("pit_orders_sent_total{{{l}}} 4"),
            format!("pit_orders_acked_total{{{l}}} 3"),
            format!("pit_fill_ratio{{{l}}} 0.25"),
            format!("pit_order_ack_latency_seconds_count{{{l}}} 3"),
            format!("pit_order_ack_latency_seconds_sum{{{l}}} 2.02"),
            format!("pit_order_ack_latency_seconds_bucket{{le=\"0.01\",{l}}} 2"),
            format!("pit_order_ack_latency_seconds_bucket{{le=\"1.0\",{l}}} 2"),
            format!("pit_order_ack_latency_seconds_bucket{{le=\"2.5\",{l}}} 3"),
            format!("pit_order_ack_latency_seconds_bucket{{le=\"+Inf\",{l}}} 3"),
            format!("pit_slippage{{{l}}} -2.0"),
            format!("pit_slippage_per_unit{{{l}}} -0.5"),
            "pit_orders_blocked_by_gate_total 1".into(),
            "pit_market_data_latency_seconds_count{venue=\"binance\",instrument=\"BTCUSDT\"} 2".into(),
            "pit_market_data_latency_seconds_bucket{le=\"0.0001\",venue=\"binance\",instrument=\"BTCUSDT\"} 1".into(),
            "pit_market_data_early_frames_total{venue=\"binance\",instrument=\"BTCUSDT\"} 1".into(),
            "pit_venue_order_latency_seconds{venue=\"binance\",stage=\"ack\",quantile=\"0.99\"} 0.02".into(),
            "pit_venue_order_latency_samples_total{venue=\"binance\",stage=\"ack\"} 7".into(),
            "pit_store_commit_latency_seconds_count 0".into(),
        ] {
            assert!(t.lines().any(|x| x == line), "{line}\n{t}");
        }
        assert!(t.trim_end().ends_with("# EOF"));
    }
}
