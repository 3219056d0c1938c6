//! The one place the trading gate is enforced: [`GatedPort`] wraps every execution port
//! the runner drives, and checks the gate immediately before an order is handed to the
//! port. A port needs no gate code of its own, so a new port cannot forget it.

use super::{ExecutionPort, PortStats};
use crate::domain::{ClientOrderId, ExecReport, MarketEvent, OrderRequest, Timestamp, TradingGate};
use crate::engine::risk::RiskApproved;

/// An execution port behind the trading gate. A closed gate stops every order except the
/// reduce-only exits a person asked for ([`TradingGate::allows_order`]), answering it with
/// a `Rejected` report at once; cancels always go through.
pub struct GatedPort<P: ?Sized> {
    gate: TradingGate,
    /// Orders stopped at the gate, and their `Rejected` reports not yet polled.
    blocked: u64,
    rejects: Vec<ExecReport>,
    inner: Box<P>,
}

impl<P: ExecutionPort + ?Sized> GatedPort<P> {
    pub fn new(gate: TradingGate, inner: Box<P>) -> Self {
        GatedPort {
            gate,
            blocked: 0,
            rejects: Vec::new(),
            inner,
        }
    }
    /// The port behind the gate.
    pub fn inner(&self) -> &P {
        &self.inner
    }
    pub fn gate(&self) -> &TradingGate {
        &self.gate
    }
}

impl<P: ExecutionPort + ?Sized> ExecutionPort for GatedPort<P> {
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        // Held while the order is handed over: a kill returns only once it is in.
        let Some(_passage) = self.gate.pass(&order) else {
            self.blocked += 1;
            self.rejects.push(ExecReport::Rejected {
                id: order.into_inner().client_id,
                ts: now,
                reason: "trading gate closed".to_string(),
            });
            return;
        };
        self.inner.submit(now, order);
    }
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        self.inner.cancel(now, id)
    }
    fn on_market(&mut self, event: &MarketEvent) {
        self.inner.on_market(event)
    }
    fn next_report_time(&self) -> Option<Timestamp> {
        let own = self.rejects.first().map(ExecReport::ts);
        match (own, self.inner.next_report_time()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        // Gate refusals first: they are stamped at the submit, before anything the venue
        // reports later.
        out.append(&mut self.rejects);
        self.inner.poll_reports(now, out);
    }
    fn store_barrier(&mut self, emitted: u64) {
        self.inner.store_barrier(emitted)
    }
    fn health(&self) -> Option<crate::engine::view::ExecHealth> {
        self.inner.health()
    }
    fn poll_venue_rules(&mut self, out: &mut Vec<super::VenueRulesUpdate>) {
        self.inner.poll_venue_rules(out)
    }
    fn queue_ahead(&self, id: &ClientOrderId) -> Option<crate::domain::Qty> {
        self.inner.queue_ahead(id)
    }
    fn take_failure(&mut self) -> Option<String> {
        self.inner.take_failure()
    }
    fn watch_engine(&mut self, pulse: crate::domain::Heartbeat) {
        self.inner.watch_engine(pulse);
    }
    fn stats(&self) -> PortStats {
        let mut s = self.inner.stats();
        s.orders_blocked += self.blocked;
        s
    }
}
