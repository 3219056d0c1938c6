//! The built-in simulated market: a seeded, deterministic, endless stream of L2 book
//! updates and trades for any number of instruments.
//!
//! # Model
//!
//! Each instrument has a *latent fair price* that nobody sees, held in whole ticks: `fair`
//! is the price a maker would bid, so the fair mid is `fair + ½` tick (a liquid instrument
//! quotes a one-tick spread around it). It follows a random walk whose volatility depends on
//! a *regime* (calm / normal / turbulent), itself a Markov chain switching at exponential
//! times. The regime also scales the event intensity.
//!
//! Arrivals come at exponential inter-arrival times. First, market makers react to the
//! fair price (more slowly in turbulence, which widens spreads): quotes left on the wrong
//! side of it are swept by an aggressive order up to the fair price or pulled, and a touch
//! it has left behind is joined at the fair price. Otherwise the arrival is one of:
//!
//! * a **limit order**: mostly near the fair price (geometric in the distance), sometimes
//!   anywhere in the visible depth, occasionally inside the spread. A limit order priced
//!   through the opposite touch is *marketable*: it takes the opposite levels up to its
//!   price, and the rest rests. This is what drags the book along when the fair price moves.
//! * a **cancellation**: reduces or deletes a level, more likely large and far levels.
//! * an **aggressive order** that walks the book, biased in the direction of the fair price.
//!
//! Besides, **noise orders** (`noise_rate` a second) come as a Poisson process of their own:
//! uninformed aggressive orders, buy or sell with probability one half whatever the fair
//! price did, several times an ordinary order's size, so they walk a few levels. Their
//! impact is transient: the fair price does not move, and the touch they pushed away comes
//! back as makers re-join at the fair price. Everything else is informed (it follows the
//! fair price), so a resting quote is picked off when the fair price runs through it, and
//! earns only what the noise orders pay to cross it. This is the textbook split between
//! informed and uninformed flow (Glosten-Milgrom; Kyle's noise traders) that lets a market
//! maker earn a spread at all.
//!
//! Depth is kept between `min_depth` and `max_depth` levels a side: thin sides are refilled,
//! the farthest levels of a deep side, and levels the fair price has left far behind, are
//! pulled. An aggressive order never takes a side
//! below [`MIN_RESTING`] levels, so both sides always have a few levels and the book is never
//! crossed.
//!
//! # Events
//!
//! The simulator keeps its own [`OrderBook`](crate::domain::OrderBook) per instrument as
//! the truth and emits exactly the changes it makes: first one `Snapshot` per instrument at
//! the start time, then `Level` (absolute size, zero deletes) and `Trade` events. An
//! aggressive order emits one `Trade` per level it consumes, best price first, then the
//! `Level` updates of the levels it consumed, then (for a marketable limit order) the level
//! where its rest now rests. A consumer applying the events in order never sees a crossed
//! book and ends with the simulator's book.
//!
//! Instruments are merged by the time of their next event; ties go to the lower instrument
//! index. Each instrument draws from its own `ChaCha8Rng` stream (seed, stream = instrument
//! index), so the output is a pure function of the parameters, instruments, start prices,
//! seed and start time (on one platform: the draws use `f64` `ln`/`cos`, whose last bit may
//! differ between math libraries). `f64` is only used for random draws and distribution
//! parameters; prices and sizes are integer ticks and lots throughout.
//!
//! Generating an event costs about 100 ns and allocates nothing but snapshots: each
//! instrument's queue of pending events is sized for the largest possible arrival.
//!
//! # Parts
//!
//! This file holds [`SimMarket`], the market-data port merging the instruments;
//! [`params`] the `[sim]` knobs, [`model`] the regimes and the per-event model,
//! `generator.rs` the simulation of one instrument, and [`wire`] the simulated market's
//! frames in the capture-line format.

use crate::domain::{Instrument, InstrumentId, MarketEvent, Timestamp};
use crate::venue::MarketDataPort;
use generator::InstSim;
use model::{Model, Regime};
use params::SimParams;
use rust_decimal::Decimal;

mod generator;
pub mod model;
pub mod params;
#[cfg(test)]
mod tests;
pub mod wire;

/// An aggressive order or a cancellation never leaves a side with fewer levels than this.
pub const MIN_RESTING: usize = 5;

/// The simulated market: an endless, deterministic stream of book updates and trades for
/// its instruments, merged in time order. See the module docs for the model.
#[derive(Debug)]
pub struct SimMarket {
    instruments: Vec<Instrument>,
    model: Model,
    sims: Vec<InstSim>,
}

impl SimMarket {
    /// `start_prices[i]` is the opening mid (decimal, in quote currency) of `instruments[i]`;
    /// `instruments[i].id == InstrumentId(i)`. `start` is the engine time of the first event.
    ///
    /// The parameters should have passed [`SimParams::validate`]; out-of-range values are
    /// clamped to something workable rather than refused here. An instrument without a
    /// usable start price (missing, not positive) or tick size opens at 10 000 ticks, and
    /// the fair price never goes below `4 * max_depth + 10` ticks, so that every level has a
    /// positive price.
    pub fn new(
        params: &SimParams,
        instruments: Vec<Instrument>,
        start_prices: &[Decimal],
        seed: u64,
        start: Timestamp,
    ) -> Self {
        let model = Model::new(params);
        let sims = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                InstSim::new(
                    &model,
                    params,
                    inst,
                    i,
                    start_prices.get(i).copied(),
                    seed,
                    start.0,
                )
            })
            .collect();
        SimMarket {
            instruments,
            model,
            sims,
        }
    }

    /// The current volatility regime of an instrument (`None` for an unknown id).
    pub fn regime(&self, inst: InstrumentId) -> Option<Regime> {
        self.sims.get(inst.index()).map(|s| s.regime)
    }

    /// The latent fair price of an instrument, as twice the fair mid in ticks (the
    /// convention of [`OrderBook::mid_x2_ticks`](crate::domain::OrderBook::mid_x2_ticks));
    /// `None` for an unknown id. For the console's diagnostics: no real venue has it.
    pub fn fair_mid_x2_ticks(&self, inst: InstrumentId) -> Option<i64> {
        self.sims.get(inst.index()).map(|s| 2 * s.fair + 1)
    }

    /// The instrument whose next event comes first (ties: lowest index).
    fn next_index(&self) -> Option<usize> {
        let mut best: Option<(i64, usize)> = None;
        for (i, s) in self.sims.iter().enumerate() {
            if best.is_none_or(|(t, _)| s.batch_ns < t) {
                best = Some((s.batch_ns, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

impl MarketDataPort for SimMarket {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Always `Some` while there is at least one instrument.
    fn peek_time(&mut self) -> Option<Timestamp> {
        let i = self.next_index()?;
        Some(Timestamp(self.sims[i].batch_ns))
    }

    /// Always `Some` while there is at least one instrument.
    fn next_event(&mut self) -> Option<MarketEvent> {
        let i = self.next_index()?;
        let sim = &mut self.sims[i];
        let kind = sim.pending.pop_front()?;
        let ts = Timestamp(sim.batch_ns);
        // Keep the invariant: every instrument has its next event ready.
        sim.refill(&self.model);
        Some(MarketEvent {
            ts,
            instrument: InstrumentId(i as u16),
            kind,
        })
    }
}
