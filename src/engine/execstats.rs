//! Execution figures per instrument and owner, for `/metrics`: orders sent, acknowledged,
//! closed, filled and rejected; send-to-ack and send-to-first-fill latency; slippage
//! against the arrival mid. Like the blotter, fed after each [`Engine::process`] from the
//! effects that call produced, in engine time only (so the same input gives the same
//! figures); it decides nothing.
//!
//! Latency is engine time: on the paper venue (the simulated market, replays, backtests)
//! it is the paper fill model's latency as the engine saw it; on a live venue it is the
//! engine clock from the request's creation to the venue's report being processed.

use super::Engine;
use super::blotter::FillRecord;
use crate::domain::{ClientOrderId, InstrumentId, Order, OrderStatus, Owner};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bounds of a [`LatencyHist`]'s buckets, nanoseconds (100 µs to 60 s; the last
/// bucket, +Inf, takes the rest).
pub const LATENCY_BOUNDS_NS: [u64; 18] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// A latency histogram with fixed buckets, in whole nanoseconds (exact and `Copy`, so it
/// can sit in the engine, a decoder's counters and the published view alike).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHist {
    /// Observations per bucket (not cumulative); the last one is +Inf.
    pub counts: [u64; 19],
    pub sum_ns: u64,
    pub count: u64,
    /// Observations below zero, counted as zero: for market data, frames received before
    /// the venue's stamp (our clock behind the venue's).
    #[serde(default)]
    pub negative: u64,
}

impl LatencyHist {
    /// Count one latency (a negative one, a clock step back, counts as zero).
    pub fn observe_ns(&mut self, ns: i64) {
        self.negative += u64::from(ns < 0);
        let ns = ns.max(0) as u64;
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        self.counts[i] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.count += 1;
    }

    /// Add another histogram's observations.
    pub fn merge(&mut self, o: &LatencyHist) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.count += o.count;
        self.negative += o.negative;
    }

    /// The mean, seconds (`None` with no observation).
    pub fn mean_secs(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ns as f64 / 1e9 / self.count as f64)
    }
}

/// One instrument and owner's execution figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecFigures {
    pub instrument: InstrumentId,
    pub owner: Option<Owner>,
    /// Orders sent to the venue (past risk; the gate may still stop them).
    pub sent: u64,
    /// Orders the venue acknowledged (accepted, or filled before any acceptance).
    pub acked: u64,
    /// Orders closed (filled, cancelled, rejected).
    pub closed: u64,
    /// Closed orders with at least one fill.
    pub filled: u64,
    /// Orders the venue (or the trading gate) rejected.
    pub rejected: u64,
    /// Send to the venue's first acknowledgement, engine time.
    pub ack_latency: LatencyHist,
    /// Send to the order's first fill, engine time.
    pub fill_latency: LatencyHist,
    /// Fills measured against an arrival mid, their quantity and their slippage in
    /// quote currency (positive: a cost; see [`FillRecord::slippage`]).
    pub slippage_fills: u64,
    pub slippage_qty: Decimal,
    pub slippage: Decimal,
}

impl ExecFigures {
    /// Closed orders with a fill / closed orders.
    pub fn fill_ratio(&self) -> Option<f64> {
        (self.closed > 0).then(|| self.filled as f64 / self.closed as f64)
    }
}

/// An open order as the figures follow it.
#[derive(Debug)]
struct Open {
    acked: bool,
    filled: bool,
}

/// The engine's execution figures (see the module docs).
#[derive(Debug, Default)]
pub(super) struct ExecStats {
    open: BTreeMap<ClientOrderId, Open>,
    figures: BTreeMap<(InstrumentId, Option<Owner>), ExecFigures>,
}

impl ExecStats {
    fn entry(&mut self, i: InstrumentId, owner: Option<Owner>) -> &mut ExecFigures {
        self.figures
            .entry((i, owner))
            .or_insert_with(|| ExecFigures {
                instrument: i,
                owner,
                ..ExecFigures::default()
            })
    }

    /// An order was created or changed state.
    fn order_update(&mut self, o: &Order) {
        let key = (o.req.spec.instrument, Some(o.req.owner));
        if !self.open.contains_key(o.id()) {
            if o.status != OrderStatus::New {
                // An order this run did not see sent (an earlier run's): not ours to time.
                return;
            }
            self.open.insert(
                o.id().clone(),
                Open {
                    acked: false,
                    filled: false,
                },
            );
            self.entry(key.0, key.1).sent += 1;
        }
        let Some(st) = self.open.get_mut(o.id()) else {
            return;
        };
        let since = o.updated.0.saturating_sub(o.created.0);
        let acked_now = !st.acked
            && matches!(
                o.status,
                OrderStatus::Acked | OrderStatus::PartiallyFilled | OrderStatus::Filled
            );
        let filled_now = !st.filled && o.filled.is_positive();
        st.acked |= acked_now;
        st.filled |= filled_now;
        let terminal = o.status.is_terminal();
        let f = self.entry(key.0, key.1);
        if acked_now {
            f.acked += 1;
            f.ack_latency.observe_ns(since);
        }
        if filled_now {
            f.fill_latency.observe_ns(since);
        }
        if terminal {
            f.closed += 1;
            f.filled += u64::from(o.filled.is_positive());
            f.rejected += u64::from(o.status == OrderStatus::Rejected);
            self.open.remove(o.id());
        }
    }

    /// A fill, with its slippage per unit against the arrival mid and its size, quote
    /// units.
    fn fill(&mut self, r: &FillRecord, slip: Option<(Decimal, Decimal)>) {
        let Some((per_unit, qty)) = slip else { return };
        let f = self.entry(r.fill.instrument, r.owner);
        f.slippage_fills += 1;
        f.slippage_qty += qty;
        f.slippage += per_unit * qty;
    }

    pub(super) fn figures(&self) -> Vec<ExecFigures> {
        self.figures.values().cloned().collect()
    }
}

impl Engine {
    /// Bring the execution figures up to date with one `process` call's effects
    /// (`out[from..]`) and the fills the blotter recorded for it.
    pub(super) fn note_exec_stats(
        &mut self,
        from: usize,
        out: &[super::Effect],
        fills: &[FillRecord],
    ) {
        for e in out.iter().skip(from) {
            if let super::Effect::OrderUpdate(o) = e {
                self.exec_stats.order_update(o);
            }
        }
        for r in fills {
            let slip = self
                .instruments
                .get(r.fill.instrument.index())
                .and_then(|inst| {
                    let per_unit = r.slippage(inst.price(r.fill.price))?;
                    Some((per_unit, inst.qty(r.fill.qty)))
                });
            self.exec_stats.fill(r, slip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_their_buckets() {
        let mut h = LatencyHist::default();
        h.observe_ns(0);
        h.observe_ns(1_000_000);
        h.observe_ns(1_000_001);
        h.observe_ns(90_000_000_000);
        h.observe_ns(-5);
        assert_eq!(h.count, 5);
        assert_eq!(h.counts[0], 2, "0 and a step back");
        assert_eq!(h.counts[3], 1, "1 ms is in the le=0.001 bucket");
        assert_eq!(h.counts[4], 1);
        assert_eq!(h.counts[18], 1, "+Inf");
        assert_eq!(h.sum_ns, 90_002_000_001);
        assert_eq!(h.negative, 1);
    }
}
