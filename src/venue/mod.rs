//! Ports (traits) and their adapters. Market data and execution are both ports, so the
//! engine cannot tell the simulated market from a real one, nor paper execution from a
//! live venue. The rooms: [`sim`] (the simulated market and its wire format), [`paper`]
//! (the paper fill model), [`exchanges`] (one folder per real exchange, the frame decoder
//! interface and the venue registry), [`feed`] (the live connection and the replay of a
//! recording) and [`verify`] (`pit verify`).

use crate::domain::{ClientOrderId, ExecReport, Instrument, MarketEvent, OrderRequest, Timestamp};
use crate::engine::risk::RiskApproved;

pub mod exchanges;
pub mod feed;
pub mod gated;
pub mod live;
pub mod paper;
pub mod sim;
pub mod verify;

pub use gated::GatedPort;

/// A source of normalized market data, in receive-time order.
pub trait MarketDataPort: Send {
    /// The instruments this source publishes, indexed by `InstrumentId`.
    fn instruments(&self) -> &[Instrument];
    /// Engine time of the next event, if one is available.
    fn peek_time(&mut self) -> Option<Timestamp>;
    /// The next event, if one is available.
    fn next_event(&mut self) -> Option<MarketEvent>;
    /// Whether the source has ended for good (a replay read to its end). Live and
    /// simulated feeds never end; the runner shuts down in order when one does.
    fn is_finished(&self) -> bool {
        false
    }
    /// Whether events arrive on their own, at wall-clock times (a live feed). The runner
    /// then paces on the wall clock and wakes when an event arrives (see `wait_ready`)
    /// instead of only at its timer. Simulated and recorded sources know their next
    /// event in advance: false.
    fn is_live(&self) -> bool {
        false
    }
    /// Live feeds: block until an event is available or `deadline` passes. The default
    /// returns at once.
    fn wait_ready(&mut self, _deadline: std::time::Instant) {}
    /// Feed health per instrument (live feeds); empty by default.
    fn health(&self) -> Vec<crate::engine::view::FeedHealth> {
        Vec::new()
    }
    /// Market-data latency per instrument (the venue's event time to the frame's receipt),
    /// for feeds whose frames carry an event time; empty by default (the simulated market
    /// has no exchange clock).
    fn market_data_latency(&self) -> Vec<crate::engine::view::MdLatency> {
        Vec::new()
    }
}

/// Counters every execution port keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Orders that left through the gate.
    pub orders_sent: u64,
    /// Orders stopped at the gate because it was closed.
    pub orders_blocked: u64,
    pub cancels_sent: u64,
}

/// Where risk-approved orders go: the paper venue, or a real venue's order API.
///
/// The runner drives every port through a [`GatedPort`], which enforces the
/// [`crate::domain::TradingGate`] immediately before an order is handed to the port: an
/// implementation does not check the gate itself. Cancels are never blocked.
pub trait ExecutionPort: Send {
    /// Send an order. Only a risk-approved order can be sent.
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>);
    /// Ask the venue to cancel an order.
    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId);
    /// A market event the venue sees (the paper venue matches against it). Real venues
    /// ignore it.
    fn on_market(&mut self, _event: &MarketEvent) {}
    /// When the next report is due, if one is pending.
    fn next_report_time(&self) -> Option<Timestamp>;
    /// Move every report due at or before `now` into `out`, in order.
    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>);
    fn stats(&self) -> PortStats;
    /// The store has queued records up to number `emitted`, the next order's own record
    /// among them (called just before each `submit` of a run that persists). A live port
    /// sends that order only once the store has made them durable, so no order ever
    /// leaves that a restart would not know. The paper venue has nothing to wait for.
    fn store_barrier(&mut self, _emitted: u64) {}
    /// A live venue's state for the health view and `pit status`; `None` on paper.
    fn health(&self) -> Option<crate::engine::view::ExecHealth> {
        None
    }
    /// A live venue's rules (exchange filters) read since the last call, per instrument
    /// (`Err`: why they could not be read), for the engine as
    /// [`crate::engine::Input::VenueRules`]. The paper venue has none.
    fn poll_venue_rules(&mut self, _out: &mut Vec<VenueRulesUpdate>) {}
    /// The venue's own estimate of the size resting ahead of our order `id` at its price
    /// now (the paper venue's queue model), for the published view (the console's ladder);
    /// `None` where the venue cannot say (a real venue, an order not resting).
    fn queue_ahead(&self, _id: &ClientOrderId) -> Option<crate::domain::Qty> {
        None
    }
    /// A failure that must halt the run (the paper venue could not write its log), once;
    /// the port has already closed the gate. The runner asks on every turn.
    fn take_failure(&mut self) -> Option<String> {
        None
    }
    /// The engine loop's heartbeat, handed over once by the runner: a live venue's
    /// dead-man refresher stops refreshing while the loop stands still, so the venue
    /// cancels our orders by itself when only the engine hangs. Paper has no dead-man.
    fn watch_engine(&mut self, _pulse: crate::domain::Heartbeat) {}
}

/// One instrument's venue rules as a venue's connection task read them.
pub type VenueRulesUpdate = (
    crate::domain::InstrumentId,
    Result<crate::domain::VenueRules, String>,
);

/// A market-data port over events already in memory (tests, benchmarks, backtests).
pub struct EventFeed {
    instruments: Vec<Instrument>,
    events: std::collections::VecDeque<MarketEvent>,
}

impl EventFeed {
    pub fn new(
        instruments: Vec<Instrument>,
        events: impl IntoIterator<Item = MarketEvent>,
    ) -> Self {
        EventFeed {
            instruments,
            events: events.into_iter().collect(),
        }
    }
    pub fn len(&self) -> usize {
        self.events.len()
    }
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl MarketDataPort for EventFeed {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    fn peek_time(&mut self) -> Option<Timestamp> {
        self.events.front().map(|e| e.ts)
    }
    fn next_event(&mut self) -> Option<MarketEvent> {
        self.events.pop_front()
    }
}
