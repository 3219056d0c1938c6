//! Ports (traits) and their adapters: the simulated market, the paper execution venue,
//! and one folder per real venue (frame decoders).
//!
//! Market data and execution are both ports, so the engine cannot tell the simulated
//! market from a real one, nor paper execution from a live venue.

use crate::domain::{ClientOrderId, ExecReport, Instrument, MarketEvent, OrderRequest, Timestamp};
use crate::engine::risk::RiskApproved;

pub mod exchanges;
pub mod feed;
pub mod paper;
pub mod sim;
pub mod verify;

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
}

/// Venues whose capture lines pit can decode, besides the simulated market (`sim`).
pub const CAPTURE_VENUES: &[&str] = &[
    "binance",
    "bybit",
    "kraken",
    "okx",
    "coinbase",
    "polymarket",
];

/// The frame decoder for a venue's recorded or live frames, if pit knows the venue.
/// The one place that maps venue names to decoders.
///
/// `sim`: the instruments come from `cfg` until the recording's header says otherwise.
/// A real venue: instruments are discovered from the frames; one whose symbol (as the
/// decoder names it, e.g. `BTCUSDT`, `BTC/USD`, `linear/BTCUSDT`) is listed under
/// `[[instruments]]` takes that tick, lot and minimum size, the others the exact `1e-8`
/// grid. Replays and backtests first derive a trading grid from the capture itself
/// (`replay::discover_instruments`) and then use [`capture_decoder`].
pub fn decoder_for(
    venue: &str,
    cfg: &crate::config::Config,
) -> Option<Box<dyn exchanges::decode::FrameDecoder>> {
    match venue {
        sim::wire::VENUE => Some(Box::new(sim::wire::SimDecoder::new(cfg.instrument_list()))),
        _ => capture_decoder(venue, cfg.instrument_list()),
    }
}

/// A real venue's decoder that discovers its instruments from the frames; an instrument
/// named in `grid` takes its tick, lot and minimum size (ids are assigned in order of
/// appearance), any other the `1e-8` grid. `None` for a venue pit does not know.
pub fn capture_decoder(
    venue: &str,
    grid: Vec<Instrument>,
) -> Option<Box<dyn exchanges::decode::FrameDecoder>> {
    Some(match venue {
        "binance" => Box::new(exchanges::binance::BinanceDecoder::discovering_on(grid)),
        "bybit" => Box::new(exchanges::bybit::BybitDecoder::discovering_on(grid)),
        "kraken" => Box::new(exchanges::kraken::KrakenDecoder::discovering_on(grid)),
        "okx" => Box::new(exchanges::okx::OkxDecoder::discovering_on(grid)),
        "coinbase" => Box::new(exchanges::coinbase::CoinbaseDecoder::discovering_on(grid)),
        "polymarket" => Box::new(exchanges::polymarket::PolymarketDecoder::discovering_on(
            grid,
        )),
        _ => return None,
    })
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
/// Every implementation checks the [`crate::domain::TradingGate`] immediately before an
/// order leaves and refuses it (with a `Rejected` report) when the gate is closed, unless
/// it is reduce-only. Cancels are never blocked.
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
}

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
