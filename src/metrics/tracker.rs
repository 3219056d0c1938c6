//! What is counted across views: kill-switch presses, and every order once it closes (its
//! instrument and owner, whether it filled, and its latency in engine time).

use crate::domain::{ClientOrderId, Order, OrderStatus, Owner};
use crate::engine::view::EngineView;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::{BTreeMap, HashSet};

/// Per (venue, instrument, strategy): orders closed, those with a fill, and the sum and
/// count of their send-to-fill latencies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Closed {
    pub closed: u64,
    pub filled: u64,
    pub rejected: u64,
}

/// Upper bounds of the latency histogram's buckets, seconds.
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Labels of one series.
pub type Labels = Vec<(String, String)>;

/// Latencies of orders with a fill: send (created) to the last fill (updated), in engine
/// time, per venue, instrument and strategy.
pub type LatencyFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// Key of the per-order figures: venue, instrument, strategy.
pub type Key = (String, String, String);

#[derive(Debug)]
pub struct Tracker {
    /// Kills seen (a new `kill.started`).
    pub kill_presses: u64,
    last_kill: Option<crate::domain::Timestamp>,
    seen: HashSet<ClientOrderId>,
    pub closed: BTreeMap<Key, Closed>,
    pub latency: LatencyFamily,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            kill_presses: 0,
            last_kill: None,
            seen: HashSet::new(),
            closed: BTreeMap::new(),
            latency: Family::new_with_constructor(histogram),
        }
    }
}

/// The labels of a key.
pub fn labels(k: &Key) -> Labels {
    vec![
        ("venue".into(), k.0.clone()),
        ("instrument".into(), k.1.clone()),
        ("strategy".into(), k.2.clone()),
    ]
}

/// The strategy label of an order: the strategy's name, `manual` or `system`.
pub fn owner_label(v: &EngineView, owner: Owner) -> String {
    match owner {
        Owner::Strategy(id) => v
            .strategies
            .get(usize::from(u16::from(id)))
            .map_or_else(|| owner.to_string(), |s| s.name.clone()),
        _ => owner.to_string(),
    }
}

/// The venue and symbol of an order's instrument.
pub fn instrument_labels(v: &EngineView, o: &Order) -> (String, String) {
    let i = usize::from(o.req.spec.instrument.0);
    v.markets
        .get(i)
        .and_then(|m| m.instrument.as_ref())
        .map_or_else(
            || (String::new(), format!("#{i}")),
            |inst| (inst.venue.clone(), inst.symbol.clone()),
        )
}

impl Tracker {
    /// Take in a newly published view.
    pub fn observe(&mut self, v: &EngineView) {
        if let Some(k) = &v.kill
            && self.last_kill != Some(k.started)
        {
            self.last_kill = Some(k.started);
            self.kill_presses += 1;
        }
        for o in &v.closed_orders {
            if !self.seen.insert(o.id().clone()) {
                continue;
            }
            let (venue, symbol) = instrument_labels(v, o);
            let key = (venue, symbol, owner_label(v, o.req.owner));
            let c = self.closed.entry(key.clone()).or_default();
            c.closed += 1;
            if o.status == OrderStatus::Rejected {
                c.rejected += 1;
            }
            if !o.filled.is_zero() {
                c.filled += 1;
                let secs = (o.updated.0.saturating_sub(o.created.0)) as f64 / 1e9;
                self.latency
                    .get_or_create(&labels(&key))
                    .observe(secs.max(0.0));
            }
        }
    }
}
