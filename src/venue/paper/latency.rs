//! The paper venue's latency model, fixed both ways: orders and cancels reach the venue
//! `latency_in_ms` after they are sent ([`Inbox`]), reports reach us `latency_out_ms`
//! after the venue-side event that caused them ([`Outbox`]). Ties keep their order.

use super::fees::Fees;
use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, Liquidity, OrderRequest, Price, Qty, Side,
    Timestamp,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Something travelling to the venue.
#[derive(Debug)]
pub(super) enum Inbound {
    Order(OrderRequest),
    Cancel(ClientOrderId),
}

/// Orders and cancels on their way, by arrival time then submission order.
#[derive(Debug)]
pub(super) struct Inbox {
    latency_in: Duration,
    queue: BTreeMap<(Timestamp, u64), Inbound>,
    next: u64,
}

impl Inbox {
    pub(super) fn new(latency_in: Duration) -> Self {
        Inbox {
            latency_in,
            queue: BTreeMap::new(),
            next: 0,
        }
    }

    /// Send `what` at `now`; it arrives `latency_in` later.
    pub(super) fn send(&mut self, now: Timestamp, what: Inbound) {
        self.queue.insert((now + self.latency_in, self.next), what);
        self.next += 1;
    }

    /// When the next arrival is due, if one is on its way.
    pub(super) fn next_arrival(&self) -> Option<Timestamp> {
        self.queue.first_key_value().map(|(k, _)| k.0)
    }

    /// The next arrival due at or before `upto`, with its arrival time.
    pub(super) fn pop_due(&mut self, upto: Timestamp) -> Option<(Timestamp, Inbound)> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > upto {
            return None;
        }
        let ((at, _), what) = entry.remove_entry();
        Some((at, what))
    }
}

/// A fill about to be reported.
pub(super) struct Match<'a> {
    pub(super) id: &'a ClientOrderId,
    pub(super) side: Side,
    pub(super) price: Price,
    pub(super) qty: i64,
    pub(super) liquidity: Liquidity,
}

/// Reports waiting to travel back, in due-time then creation order.
#[derive(Debug)]
pub(super) struct Outbox {
    due: BTreeMap<(Timestamp, u64), ExecReport>,
    next_report: u64,
    next_fill_seq: u64,
    latency_out: Duration,
    fees: Fees,
    /// The venue's own log (a run that persists): every report as the venue makes it.
    pub(super) journal: Option<super::journal::Journal>,
}

impl Outbox {
    pub(super) fn new(latency_out: Duration, fees: Fees) -> Self {
        Outbox {
            due: BTreeMap::new(),
            next_report: 0,
            next_fill_seq: 0,
            latency_out,
            fees,
            journal: None,
        }
    }

    /// Queue a report for an event at venue time `ts`; it is due `latency_out` later.
    pub(super) fn push(&mut self, ts: Timestamp, report: ExecReport) {
        if let Some(j) = &mut self.journal {
            j.report(&report);
        }
        self.queue(ts, report);
    }

    /// Queue a report without logging it (the venue's log has it already).
    pub(super) fn queue(&mut self, ts: Timestamp, report: ExecReport) {
        let key = (ts + self.latency_out, self.next_report);
        self.next_report += 1;
        self.due.insert(key, report);
    }

    /// Queue a fill report; the caller updates the position.
    pub(super) fn fill(&mut self, inst: &Instrument, ts: Timestamp, m: Match<'_>) {
        self.next_fill_seq += 1;
        let fill = Fill {
            seq: self.next_fill_seq,
            ts,
            client_id: m.id.clone(),
            instrument: inst.id,
            side: m.side,
            price: m.price,
            qty: Qty(m.qty),
            fee: self.fees.of(inst, m.price, Qty(m.qty), m.liquidity),
            liquidity: m.liquidity,
            fee_base: rust_decimal::Decimal::ZERO,
        };
        if let Some(j) = &mut self.journal {
            j.fill(inst, &fill);
        }
        self.queue(ts, ExecReport::Filled(fill));
    }

    /// Queue a report due at `at` itself (not logged: an answer from the venue's log).
    pub(super) fn queue_due(&mut self, at: Timestamp, report: ExecReport) {
        let key = (at, self.next_report);
        self.next_report += 1;
        self.due.insert(key, report);
    }

    /// Number the next fill `seq` (the venue's numbering carries on across runs).
    pub(super) fn continue_fills_from(&mut self, seq: u64) {
        self.next_fill_seq = seq.saturating_sub(1);
    }

    /// When the next report is due, if one is waiting.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.due.first_key_value().map(|(k, _)| k.0)
    }

    /// Write the venue's log before any report leaves (see [`super::journal`]).
    pub(super) fn flush_journal(&mut self) {
        if let Some(j) = &mut self.journal {
            j.flush();
        }
    }

    /// The next report due at or before `now`.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<ExecReport> {
        let entry = self.due.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }
}
