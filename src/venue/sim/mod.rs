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
//! Depth is kept between `min_depth` and `max_depth` levels a side: thin sides are refilled,
//! the farthest levels of a deep side, and levels the fair price has left far behind, are
//! pulled. An aggressive order never takes a side
//! below [`MIN_RESTING`] levels, so both sides always have a few levels and the book is never
//! crossed.
//!
//! # Events
//!
//! The simulator keeps its own [`OrderBook`] per instrument as the truth and emits exactly
//! the changes it makes: first one `Snapshot` per instrument at the start time, then `Level`
//! (absolute size, zero deletes) and `Trade` events. An aggressive order emits one `Trade`
//! per level it consumes, best price first, then the `Level` updates of the levels it
//! consumed, then (for a marketable limit order) the level where its rest now rests. A
//! consumer applying the events in order never sees a crossed book and ends with the
//! simulator's book.
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

pub mod wire;

use crate::domain::Invalid;
use crate::domain::{
    Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, OrderBook, Price, Qty, Side,
    Timestamp, TradeTick,
};
use crate::venue::MarketDataPort;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::VecDeque;
use std::fmt;

/// An aggressive order or a cancellation never leaves a side with fewer levels than this.
pub const MIN_RESTING: usize = 5;

/// Per regime (calm, normal, turbulent): the probability that an arrival reacts to quotes
/// the fair price has left stale or behind. Slower reactions in turbulence widen spreads.
const MAKER_RESPONSE: [f64; 3] = [0.95, 0.85, 0.6];

/// Opening fair price (ticks) used when an instrument has no usable start price.
const FALLBACK_START_TICKS: i64 = 10_000;

/// The volatility regime of one instrument.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Regime {
    /// Low volatility, thin flow.
    Calm,
    /// The reference regime: `volatility_bps` and `event_rate` apply as given.
    Normal,
    /// High volatility, heavy flow.
    Turbulent,
}

impl Regime {
    /// Lower-case name, for the console and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Calm => "calm",
            Regime::Normal => "normal",
            Regime::Turbulent => "turbulent",
        }
    }

    fn index(self) -> usize {
        match self {
            Regime::Calm => 0,
            Regime::Normal => 1,
            Regime::Turbulent => 2,
        }
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every knob of the simulated market. The defaults give a liquid, plausible market:
/// a few hundred events a second per instrument, about 3 % daily volatility, a book of
/// 20 to 60 levels a side.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimParams {
    /// Mean number of arrivals (limit orders, cancellations, aggressive orders, maker
    /// reactions) per second, per instrument, in the normal regime (arrivals/s). One arrival
    /// emits one event or more (an aggressive order: a trade per level, then the level
    /// updates), so the event rate is somewhat higher. Default 300.
    pub event_rate: f64,
    /// Volatility of the latent fair price in the normal regime: standard deviation of its
    /// moves, in basis points per square root of a second. 1.0 is about 2.9 % a day.
    /// Default 1.0.
    pub volatility_bps: f64,
    /// Volatility in the calm regime, as a multiple of `volatility_bps`. Default 0.5.
    pub calm_vol_mult: f64,
    /// Volatility in the turbulent regime, as a multiple of `volatility_bps`. Default 3.0.
    pub turbulent_vol_mult: f64,
    /// Event rate in the calm regime, as a multiple of `event_rate`. Default 0.5.
    pub calm_rate_mult: f64,
    /// Event rate in the turbulent regime, as a multiple of `event_rate`. Default 2.5.
    pub turbulent_rate_mult: f64,
    /// Mean time spent in the calm regime before switching to normal (seconds). Default 120.
    pub calm_secs: f64,
    /// Mean time spent in the normal regime before switching to calm or turbulent
    /// (seconds). Default 180.
    pub normal_secs: f64,
    /// Mean time spent in the turbulent regime before calming down to normal (seconds).
    /// Default 30.
    pub turbulent_secs: f64,
    /// Probability that leaving the normal regime goes to turbulent rather than calm
    /// (0 to 1). Default 0.3.
    pub turbulent_share: f64,
    /// Mean size of one order, as a notional in the quote currency (converted to lots at the
    /// start price; at least four times the instrument's minimum size). Default 2000.
    pub order_notional: Decimal,
    /// Probability that an order is a large one (0 to 1). Default 0.02.
    pub large_order_prob: f64,
    /// Mean size of a large order, as a multiple of an ordinary one (at least 1).
    /// Default 20.
    pub large_order_mult: f64,
    /// Relative share of arrivals that are limit orders. The three shares are normalized
    /// by their sum. Default 0.55.
    pub limit_share: f64,
    /// Relative share of arrivals that are cancellations. Default 0.35.
    pub cancel_share: f64,
    /// Relative share of arrivals that are aggressive (market) orders. Default 0.10.
    pub market_share: f64,
    /// Probability that a limit order improves the touch when the spread is wider than one
    /// tick (0 to 1). Default 0.3.
    pub inside_spread_prob: f64,
    /// Mean distance of a limit order from the fair price, in ticks (geometric). Default 3.
    pub mean_distance_ticks: f64,
    /// Share of limit orders placed anywhere in the visible depth rather than near the
    /// fair price (0 to 1). Default 0.25.
    pub deep_order_share: f64,
    /// Fewest levels a side should have; thinner sides are refilled (levels, at least 10).
    /// Default 20.
    pub min_depth: usize,
    /// Most levels a side may have; the farthest levels of a deeper side are pulled
    /// (levels, above `min_depth`, at most 1000). Default 60.
    pub max_depth: usize,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            event_rate: 300.0,
            volatility_bps: 1.0,
            calm_vol_mult: 0.5,
            turbulent_vol_mult: 3.0,
            calm_rate_mult: 0.5,
            turbulent_rate_mult: 2.5,
            calm_secs: 120.0,
            normal_secs: 180.0,
            turbulent_secs: 30.0,
            turbulent_share: 0.3,
            order_notional: Decimal::from(2000),
            large_order_prob: 0.02,
            large_order_mult: 20.0,
            limit_share: 0.55,
            cancel_share: 0.35,
            market_share: 0.10,
            inside_spread_prob: 0.3,
            mean_distance_ticks: 3.0,
            deep_order_share: 0.25,
            min_depth: 20,
            max_depth: 60,
        }
    }
}

fn positive(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("must be a positive number, got {v}"),
        ))
    }
}

fn non_negative(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(key, format!("must be zero or more, got {v}")))
    }
}

fn probability(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("must be between 0 and 1, got {v}"),
        ))
    }
}

impl SimParams {
    /// Checks values that parse but make no sense; the key in `Invalid` is the field name
    /// (e.g. `"event_rate"`).
    pub fn validate(&self) -> Result<(), Invalid> {
        positive("event_rate", self.event_rate)?;
        if self.event_rate > 1e7 {
            return Err(Invalid::new(
                "event_rate",
                format!("at most 10000000 events/s, got {}", self.event_rate),
            ));
        }
        non_negative("volatility_bps", self.volatility_bps)?;
        if self.volatility_bps > 1000.0 {
            return Err(Invalid::new(
                "volatility_bps",
                format!("at most 1000 bps per second, got {}", self.volatility_bps),
            ));
        }
        non_negative("calm_vol_mult", self.calm_vol_mult)?;
        non_negative("turbulent_vol_mult", self.turbulent_vol_mult)?;
        positive("calm_rate_mult", self.calm_rate_mult)?;
        positive("turbulent_rate_mult", self.turbulent_rate_mult)?;
        if self.event_rate * self.calm_rate_mult.max(self.turbulent_rate_mult).max(1.0) > 1e7 {
            return Err(Invalid::new(
                "turbulent_rate_mult",
                "event_rate times the regime multiple exceeds 10000000 events/s",
            ));
        }
        positive("calm_secs", self.calm_secs)?;
        positive("normal_secs", self.normal_secs)?;
        positive("turbulent_secs", self.turbulent_secs)?;
        probability("turbulent_share", self.turbulent_share)?;
        if self.order_notional <= Decimal::ZERO {
            return Err(Invalid::new(
                "order_notional",
                format!("must be positive, got {}", self.order_notional),
            ));
        }
        probability("large_order_prob", self.large_order_prob)?;
        if !(self.large_order_mult.is_finite() && self.large_order_mult >= 1.0) {
            return Err(Invalid::new(
                "large_order_mult",
                format!("must be at least 1, got {}", self.large_order_mult),
            ));
        }
        non_negative("limit_share", self.limit_share)?;
        non_negative("cancel_share", self.cancel_share)?;
        non_negative("market_share", self.market_share)?;
        if self.limit_share <= 0.0 {
            return Err(Invalid::new(
                "limit_share",
                "must be positive: without limit orders the book cannot re-form",
            ));
        }
        probability("inside_spread_prob", self.inside_spread_prob)?;
        positive("mean_distance_ticks", self.mean_distance_ticks)?;
        if self.mean_distance_ticks > 1000.0 {
            return Err(Invalid::new(
                "mean_distance_ticks",
                format!("at most 1000 ticks, got {}", self.mean_distance_ticks),
            ));
        }
        probability("deep_order_share", self.deep_order_share)?;
        if self.min_depth < 2 * MIN_RESTING {
            return Err(Invalid::new(
                "min_depth",
                format!(
                    "must be at least {} levels, got {}",
                    2 * MIN_RESTING,
                    self.min_depth
                ),
            ));
        }
        if self.max_depth <= self.min_depth || self.max_depth > 1000 {
            return Err(Invalid::new(
                "max_depth",
                format!(
                    "must be above min_depth ({}) and at most 1000, got {}",
                    self.min_depth, self.max_depth
                ),
            ));
        }
        Ok(())
    }
}

/// The parameters turned into what the generator uses per event, shared by instruments.
#[derive(Clone, Debug)]
struct Model {
    /// Mean gap between events per regime (ns).
    mean_gap_ns: [f64; 3],
    /// Volatility multiple per regime.
    vol_mult: [f64; 3],
    /// Mean regime duration (ns).
    mean_dur_ns: [f64; 3],
    turbulent_share: f64,
    large_prob: f64,
    large_mult: f64,
    /// Cumulative thresholds of the normalized shares: limit below the first, cancel below
    /// the second, aggressive above.
    limit_cut: f64,
    cancel_cut: f64,
    inside_prob: f64,
    deep_share: f64,
    /// `1 / ln(1 - p)` of the geometric distance distribution.
    geo_inv_ln_q: f64,
    min_depth: usize,
    max_depth: usize,
    /// Depth range of refills and deep orders (ticks from the fair price).
    deep_span: i64,
    /// Most levels a side of the opening snapshot has.
    snapshot_max: usize,
    /// Lowest fair price (ticks), so that every level stays at a positive price.
    fair_floor: i64,
}

impl Model {
    fn new(p: &SimParams) -> Self {
        let rates = [
            p.event_rate * p.calm_rate_mult,
            p.event_rate,
            p.event_rate * p.turbulent_rate_mult,
        ];
        let total = p.limit_share + p.cancel_share + p.market_share;
        let total = if total > 0.0 { total } else { 1.0 };
        let geo_p = 1.0 / (1.0 + p.mean_distance_ticks.max(1e-6));
        let min_depth = p.min_depth.max(2 * MIN_RESTING);
        let max_depth = p.max_depth.clamp(min_depth + 1, 1000.max(min_depth + 1));
        let deep_span = ((min_depth + max_depth) / 2) as i64;
        Model {
            mean_gap_ns: rates.map(|r| 1e9 / r.max(1e-9)),
            vol_mult: [p.calm_vol_mult, 1.0, p.turbulent_vol_mult],
            mean_dur_ns: [p.calm_secs, p.normal_secs, p.turbulent_secs].map(|s| s.max(1e-6) * 1e9),
            turbulent_share: p.turbulent_share,
            large_prob: p.large_order_prob,
            large_mult: p.large_order_mult,
            limit_cut: p.limit_share / total,
            cancel_cut: (p.limit_share + p.cancel_share) / total,
            inside_prob: p.inside_spread_prob,
            deep_share: p.deep_order_share,
            geo_inv_ln_q: 1.0 / (1.0 - geo_p).ln(),
            min_depth,
            max_depth,
            deep_span,
            snapshot_max: max_depth.min(min_depth + 30),
            // Snapshot levels reach at most 3 ticks a level below the fair price, orders
            // at most `4 * max_depth` (distance cap).
            fair_floor: 4 * max_depth as i64 + 10,
        }
    }
}

/// The simulation state of one instrument.
#[derive(Debug)]
struct InstSim {
    rng: ChaCha8Rng,
    /// The truth: every emitted event has been applied here already.
    book: OrderBook,
    /// Latent fair price in ticks: the price a maker would bid. Fair mid = `fair + ½`.
    fair: i64,
    regime: Regime,
    /// When the current regime ends (ns).
    regime_end: i64,
    /// Time of the next arrival to generate (ns).
    next_ns: i64,
    /// Time of the previous arrival (ns), for the fair price's diffusion.
    last_ns: i64,
    /// Time of the events in `pending` (ns).
    batch_ns: i64,
    /// Events generated but not yet handed out, all at `batch_ns`.
    pending: VecDeque<MarketEventKind>,
    /// Levels touched by the aggressive order being generated.
    scratch: Vec<Level>,
    /// Volatility of the fair price in the normal regime, ticks per √s.
    sigma_ticks: f64,
    /// Mean order size in lots.
    mean_lots: f64,
    /// Smallest order size in lots.
    min_lots: i64,
}

/// A draw from the exponential distribution with mean 1.
fn exp1(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - U is in (0, 1], so the logarithm is finite.
    -(1.0 - rng.random::<f64>()).ln()
}

/// A draw from the standard normal distribution (Box-Muller).
fn std_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `f64` to `i64`, rounded and saturating (NaN gives 0).
fn round_i64(x: f64) -> i64 {
    x.round() as i64
}

impl InstSim {
    fn new(
        model: &Model,
        params: &SimParams,
        inst: &Instrument,
        index: usize,
        start_price: Option<Decimal>,
        seed: u64,
        start: i64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        let tick = inst.tick_size;
        let usable = start_price.filter(|p| *p > Decimal::ZERO && tick > Decimal::ZERO);
        let fair = match usable {
            Some(p) => inst.price_round(p - tick / Decimal::TWO, true).0,
            None => {
                tracing::warn!(
                    symbol = %inst.symbol,
                    "sim: no usable start price or tick size; opening at {FALLBACK_START_TICKS} ticks"
                );
                FALLBACK_START_TICKS
            }
        };
        let fair = fair.max(model.fair_floor);
        let min_lots = inst.min_qty.0.max(1);
        let mean_lots = usable
            .and_then(|p| {
                let unit = p.checked_mul(inst.lot_size)?;
                if unit <= Decimal::ZERO {
                    return None;
                }
                params.order_notional.checked_div(unit)?.to_f64()
            })
            .unwrap_or(10.0)
            .max(4.0 * min_lots as f64);
        let sigma_ticks = params.volatility_bps * 1e-4 * fair as f64;
        let mut s = InstSim {
            rng,
            book: OrderBook::new(),
            fair,
            regime: Regime::Normal,
            regime_end: start,
            next_ns: start,
            last_ns: start,
            batch_ns: start,
            pending: VecDeque::with_capacity(4 * model.max_depth + 16),
            scratch: Vec::with_capacity(2 * model.max_depth + 8),
            sigma_ticks,
            mean_lots,
            min_lots,
        };
        s.regime_end = start.saturating_add(s.draw_duration(model, Regime::Normal));
        s.next_ns = start.saturating_add(s.draw_gap(model));
        let snapshot = s.snapshot(model);
        s.pending.push_back(snapshot);
        s
    }

    /// Time to the next arrival (ns, at least 1) at the current regime's rate.
    fn draw_gap(&mut self, m: &Model) -> i64 {
        round_i64(exp1(&mut self.rng) * m.mean_gap_ns[self.regime.index()]).max(1)
    }

    fn draw_duration(&mut self, m: &Model, r: Regime) -> i64 {
        round_i64(exp1(&mut self.rng) * m.mean_dur_ns[r.index()]).max(1)
    }

    /// The size of one order, in lots.
    fn order_size(&mut self, m: &Model) -> i64 {
        // Gamma(2)-shaped: few tiny orders, a long tail.
        let mut s = self.mean_lots * 0.5 * (exp1(&mut self.rng) + exp1(&mut self.rng));
        if self.rng.random::<f64>() < m.large_prob {
            s *= m.large_mult * (0.5 + self.rng.random::<f64>());
        }
        round_i64(s).max(self.min_lots)
    }

    /// Distance from the fair price of a new limit order (ticks, 0 = at the fair price).
    fn distance(&mut self, m: &Model) -> i64 {
        if self.rng.random::<f64>() < m.deep_share {
            self.rng.random_range(0..m.deep_span)
        } else {
            let u = 1.0 - self.rng.random::<f64>();
            round_i64((u.ln() * m.geo_inv_ln_q).floor()).clamp(0, 4 * m.max_depth as i64)
        }
    }

    /// The opening book, applied to the truth and returned as the event.
    fn snapshot(&mut self, m: &Model) -> MarketEventKind {
        let mut sides = [Vec::new(), Vec::new()];
        for (k, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
            let n = self.rng.random_range(m.min_depth..=m.snapshot_max);
            let v = &mut sides[k];
            v.reserve_exact(n);
            let mut price = match side {
                Side::Buy => self.fair,
                Side::Sell => self.fair + 1,
            };
            for i in 0..n {
                // More resting size away from the touch, varied level to level.
                let orders = 1 + i / 6 + self.rng.random_range(0..3);
                let mut qty = 0;
                for _ in 0..orders {
                    qty += self.order_size(m);
                }
                v.push(Level::new(Price(price.max(1)), Qty(qty)));
                let gap = if self.rng.random::<f64>() < 0.8 {
                    1
                } else {
                    self.rng.random_range(2..=3)
                };
                price -= side.sign() * gap;
            }
        }
        let [bids, asks] = sides;
        self.book
            .apply_snapshot(bids.iter().copied(), asks.iter().copied());
        MarketEventKind::Snapshot { bids, asks }
    }

    /// Generate arrivals until at least one event is pending.
    fn refill(&mut self, m: &Model) {
        while self.pending.is_empty() {
            let t = self.next_ns;
            self.step(m, t);
            self.next_ns = t.saturating_add(self.draw_gap(m));
        }
    }

    /// One arrival at time `t` (ns): move the regime and the fair price, then act.
    fn step(&mut self, m: &Model, t: i64) {
        while t >= self.regime_end {
            self.regime = match self.regime {
                Regime::Calm | Regime::Turbulent => Regime::Normal,
                Regime::Normal => {
                    if self.rng.random::<f64>() < m.turbulent_share {
                        Regime::Turbulent
                    } else {
                        Regime::Calm
                    }
                }
            };
            let d = self.draw_duration(m, self.regime);
            self.regime_end = self.regime_end.saturating_add(d);
        }
        let dt_s = (t - self.last_ns) as f64 * 1e-9;
        self.last_ns = t;
        let sd = self.sigma_ticks * m.vol_mult[self.regime.index()];
        let var = sd * sd * dt_s;
        let step = if var < 1.0 {
            // A one-tick step with the same variance.
            let u = self.rng.random::<f64>();
            if u < 0.5 * var {
                1
            } else if u < var {
                -1
            } else {
                0
            }
        } else {
            round_i64(std_normal(&mut self.rng) * var.sqrt())
        };
        self.fair = self.fair.saturating_add(step).max(m.fair_floor);
        self.batch_ns = t;
        self.act(m);
    }

    fn act(&mut self, m: &Model) {
        let nb = self.book.depth(Side::Buy);
        let na = self.book.depth(Side::Sell);
        // Depth upkeep: a thin side is refilled, more eagerly the thinner it is, so that
        // ordinary flow goes on meanwhile.
        let thin = nb.min(na);
        if thin < m.deep_span as usize {
            let shortfall = (m.deep_span as usize - thin) as f64;
            let p = 0.5 * (shortfall / (m.deep_span as usize - m.min_depth).max(1) as f64);
            if self.rng.random::<f64>() < p {
                let side = if nb <= na { Side::Buy } else { Side::Sell };
                self.refill_side(m, side);
                return;
            }
        }
        // Too many levels, or levels left far behind by the fair price: pull the farthest.
        for side in [Side::Buy, Side::Sell] {
            let n = self.book.depth(side);
            let Some(far) = self.book.levels(side).nth(n.saturating_sub(1)) else {
                continue;
            };
            let distance = (far.price.0 - self.fair).abs();
            if n > m.max_depth || (n > m.min_depth && distance > 3 * m.deep_span) {
                self.set_level(side, far.price, Qty::ZERO);
                return;
            }
        }
        let (Some(bid), Some(ask)) = (self.book.best_bid(), self.book.best_ask()) else {
            self.limit_order(m);
            return;
        };
        // Quotes left on the wrong side of the fair price get picked off or pulled.
        let stale = if ask.price.0 <= self.fair {
            Some(Side::Sell)
        } else if bid.price.0 > self.fair {
            Some(Side::Buy)
        } else {
            None
        };
        if let Some(stale_side) = stale
            && self.rng.random::<f64>() < MAKER_RESPONSE[self.regime.index()]
        {
            if self.rng.random::<f64>() < 0.7 {
                // Sweep everything quoted through the fair price.
                let taker = stale_side.opposite();
                let limit = match taker {
                    Side::Buy => self.fair,
                    Side::Sell => self.fair + 1,
                };
                let qty = self.book.depth_to_price(stale_side, Price(limit)).0;
                self.take(taker, qty, Some(limit));
            } else if self.book.depth(stale_side) > MIN_RESTING {
                let best = if stale_side == Side::Buy { bid } else { ask };
                self.set_level(stale_side, best.price, Qty::ZERO);
            }
        }
        // A touch that the fair price has left behind: makers join at the fair price (in
        // the same arrival as a sweep, this is a maker moving its quotes).
        let (bid, ask) = match (self.book.best_bid(), self.book.best_ask()) {
            (Some(b), Some(a)) => (b, a),
            _ => (bid, ask),
        };
        let bid_gap = bid.price.0 < self.fair;
        let ask_gap = ask.price.0 > self.fair + 1;
        let p_join = MAKER_RESPONSE[self.regime.index()];
        for (side, gap) in [(Side::Buy, bid_gap), (Side::Sell, ask_gap)] {
            if gap && self.rng.random::<f64>() < p_join {
                let back = i64::from(self.rng.random::<f64>() < 0.3);
                let price = match side {
                    Side::Buy => self.fair - back,
                    Side::Sell => self.fair + 1 + back,
                };
                let qty = self.order_size(m);
                self.limit(side, Price(price.max(1)), qty);
            }
        }
        if !self.pending.is_empty() {
            return;
        }
        let u = self.rng.random::<f64>();
        if u < m.limit_cut {
            self.limit_order(m);
        } else if u < m.cancel_cut {
            self.cancel(m);
        } else {
            self.market_order(m);
        }
        // A cancel or an order that found nothing to do: a limit order instead.
        if self.pending.is_empty() {
            self.limit_order(m);
        }
    }

    /// Set a level in the truth and emit it.
    fn set_level(&mut self, side: Side, price: Price, qty: Qty) {
        self.book.update(side, price, qty);
        self.pending
            .push_back(MarketEventKind::Level { side, price, qty });
    }

    /// Add liquidity somewhere in the depth of a thin side.
    fn refill_side(&mut self, m: &Model, side: Side) {
        let d = self.rng.random_range(0..m.deep_span);
        let qty = self.order_size(m);
        let price = match side {
            Side::Buy => {
                let anchor = self.book.best_ask().map_or(self.fair, |a| a.price.0 - 1);
                anchor.min(self.fair) - d
            }
            Side::Sell => {
                let anchor = self
                    .book
                    .best_bid()
                    .map_or(self.fair + 1, |b| b.price.0 + 1);
                anchor.max(self.fair + 1) + d
            }
        };
        self.rest(side, Price(price.max(1)), qty);
    }

    /// Add `qty` to a level that does not cross.
    fn rest(&mut self, side: Side, price: Price, qty: i64) {
        let total = Qty(self.book.level_qty(side, price).0.saturating_add(qty));
        self.set_level(side, price, total);
    }

    /// A limit order, priced around the fair price; marketable if it reaches the other side.
    fn limit_order(&mut self, m: &Model) {
        let nb = self.book.depth(Side::Buy) as f64;
        let na = self.book.depth(Side::Sell) as f64;
        // Lean towards the thinner side.
        let p_bid = 0.5 + 0.25 * (na - nb) / (na + nb + 1.0);
        let side = if self.rng.random::<f64>() < p_bid {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = self.order_size(m);
        if let (Some(b), Some(a)) = (self.book.best_bid(), self.book.best_ask()) {
            let spread = a.price.0 - b.price.0;
            if spread > 1 && self.rng.random::<f64>() < m.inside_prob {
                // Improve the touch, mostly by one tick.
                let k = 1 + self.rng.random_range(0..spread - 1) / 2;
                let price = match side {
                    Side::Buy => b.price.0 + k,
                    Side::Sell => a.price.0 - k,
                };
                self.rest(side, Price(price), qty);
                return;
            }
        }
        let d = self.distance(m);
        let price = match side {
            Side::Buy => self.fair - d,
            Side::Sell => self.fair + 1 + d,
        };
        self.limit(side, Price(price.max(1)), qty);
    }

    /// A limit order at `price`: takes what it crosses, rests the rest if it no longer does.
    fn limit(&mut self, side: Side, price: Price, qty: i64) {
        let crosses = |book: &OrderBook| match (side, book.best(side.opposite())) {
            (Side::Buy, Some(a)) => price >= a.price,
            (Side::Sell, Some(b)) => price <= b.price,
            (_, None) => false,
        };
        let mut left = qty;
        if crosses(&self.book) {
            left = self.take(side, qty, Some(price.0));
        }
        if left > 0 && !crosses(&self.book) {
            self.rest(side, price, left);
        }
    }

    /// An aggressive order that walks the book, leaning towards the fair price.
    fn market_order(&mut self, m: &Model) {
        let Some(mid_x2) = self.book.mid_x2_ticks() else {
            return;
        };
        let gap = (2 * self.fair + 1 - mid_x2) as f64;
        let p_buy = (0.5 + 0.1 * gap).clamp(0.1, 0.9);
        let side = if self.rng.random::<f64>() < p_buy {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = self.order_size(m);
        self.take(side, qty, None);
    }

    /// A cancellation: reduce or delete a level, more likely a large or far one. Does
    /// nothing if the chosen side has no levels to spare.
    fn cancel(&mut self, m: &Model) {
        let nb = self.book.depth(Side::Buy);
        let na = self.book.depth(Side::Sell);
        if nb + na == 0 {
            return;
        }
        let side = if self.rng.random_range(0..nb + na) < nb {
            Side::Buy
        } else {
            Side::Sell
        };
        let n = self.book.depth(side);
        if n <= MIN_RESTING {
            return;
        }
        // Of two random levels, the one with more size weighted by distance from the touch.
        let i = self.rng.random_range(0..n);
        let j = self.rng.random_range(0..n);
        let (Some(li), Some(lj)) = (self.book.levels(side).nth(i), self.book.levels(side).nth(j))
        else {
            return;
        };
        let score = |l: Level, k: usize| i128::from(l.qty.0) * (8 + k as i128);
        let (k, level) = if score(li, i) >= score(lj, j) {
            (i, li)
        } else {
            (j, lj)
        };
        let far = k as f64 / n as f64;
        let left = if self.rng.random::<f64>() < 0.3 * far {
            0
        } else {
            level.qty.0 - self.order_size(m)
        };
        self.set_level(side, level.price, Qty(left.max(0)));
    }

    /// Walk the side opposite to `aggressor`, best first, up to `qty` lots and not past
    /// `limit`, never leaving fewer than [`MIN_RESTING`] levels. Emits one trade per level,
    /// then the levels' new sizes. Returns the lots left unfilled.
    fn take(&mut self, aggressor: Side, qty: i64, limit: Option<i64>) -> i64 {
        let opp = aggressor.opposite();
        let ts = Timestamp(self.batch_ns);
        self.scratch.clear();
        let mut left = qty;
        while left > 0 && self.book.depth(opp) > MIN_RESTING {
            let Some(best) = self.book.best(opp) else {
                break;
            };
            let beyond = match (aggressor, limit) {
                (Side::Buy, Some(l)) => best.price.0 > l,
                (Side::Sell, Some(l)) => best.price.0 < l,
                (_, None) => false,
            };
            if beyond {
                break;
            }
            let took = left.min(best.qty.0);
            left -= took;
            let rest = Qty(best.qty.0 - took);
            self.book.update(opp, best.price, rest);
            self.pending.push_back(MarketEventKind::Trade(TradeTick {
                ts,
                price: best.price,
                qty: Qty(took),
                aggressor,
            }));
            self.scratch.push(Level::new(best.price, rest));
        }
        for l in &self.scratch {
            self.pending.push_back(MarketEventKind::Level {
                side: opp,
                price: l.price,
                qty: l.qty,
            });
        }
        left
    }
}

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
    /// convention of [`OrderBook::mid_x2_ticks`]); `None` for an unknown id. For the
    /// console's diagnostics: no real venue has it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const START: Timestamp = Timestamp(1_723_075_200_000_000_000);
    const SEC: i64 = 1_000_000_000;

    /// An index future: price 5000, tick 0.25 (1 bp = 2 ticks), whole contracts.
    fn es(id: u16) -> Instrument {
        Instrument::new(InstrumentId(id), "ES", "sim", dec!(0.25), dec!(1), Qty(1))
    }

    /// A crypto pair: price 60000, tick 0.1, lot 0.001.
    fn btc(id: u16) -> Instrument {
        Instrument::new(
            InstrumentId(id),
            "BTC-USD",
            "sim",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        )
    }

    fn market(seed: u64) -> SimMarket {
        SimMarket::new(
            &SimParams::default(),
            vec![es(0), btc(1)],
            &[dec!(5000), dec!(60000)],
            seed,
            START,
        )
    }

    fn es_only(seed: u64) -> SimMarket {
        SimMarket::new(
            &SimParams::default(),
            vec![es(0)],
            &[dec!(5000)],
            seed,
            START,
        )
    }

    fn apply(book: &mut OrderBook, kind: &MarketEventKind) {
        match kind {
            MarketEventKind::Snapshot { bids, asks } => {
                book.apply_snapshot(bids.iter().copied(), asks.iter().copied())
            }
            MarketEventKind::Level { side, price, qty } => {
                book.update(*side, *price, *qty);
            }
            MarketEventKind::Trade(_) | MarketEventKind::Resyncing { .. } => {}
        }
    }

    fn next(m: &mut SimMarket) -> MarketEvent {
        let peek = m.peek_time().expect("the simulated stream is endless");
        let ev = m.next_event().expect("the simulated stream is endless");
        assert_eq!(ev.ts, peek, "peek_time announces the next event's time");
        ev
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let (mut a, mut b, mut c) = (market(7), market(7), market(8));
        let mut differs = false;
        for _ in 0..100_000 {
            let (ea, eb, ec) = (next(&mut a), next(&mut b), next(&mut c));
            assert_eq!(ea, eb);
            differs |= ea != ec;
        }
        assert!(differs, "another seed gives another market");
    }

    #[test]
    fn opens_with_one_snapshot_per_instrument_of_20_to_50_levels() {
        let mut m = market(1);
        for i in 0..2u16 {
            let ev = next(&mut m);
            assert_eq!(ev.ts, START);
            assert_eq!(ev.instrument, InstrumentId(i));
            let MarketEventKind::Snapshot { bids, asks } = &ev.kind else {
                panic!("first events are snapshots, got {ev:?}");
            };
            for side in [bids, asks] {
                assert!((20..=50).contains(&side.len()), "{} levels", side.len());
                assert!(side.iter().all(|l| l.qty.is_positive()));
                let sizes: std::collections::BTreeSet<_> = side.iter().map(|l| l.qty).collect();
                assert!(sizes.len() > side.len() / 2, "sizes vary");
            }
            let mut book = OrderBook::new();
            apply(&mut book, &ev.kind);
            let mid = book.mid_ticks().expect("two-sided");
            let inst = &m.instruments()[i as usize];
            let start = [dec!(5000), dec!(60000)][i as usize];
            let mid_price = mid * inst.tick_size;
            assert!(
                (mid_price - start).abs() <= inst.tick_size,
                "opens at the start price: {mid_price} vs {start}"
            );
        }
        assert!(matches!(
            next(&mut m).kind,
            MarketEventKind::Level { .. } | MarketEventKind::Trade(_)
        ));
    }

    /// Consumer books built from the events only, checked after every event; at the end,
    /// equal to the simulator's own books.
    #[test]
    fn consumer_book_follows_the_truth_never_crossed_never_empty() {
        let mut m = market(3);
        let mut books = [OrderBook::new(), OrderBook::new()];
        let mut last_ts = Timestamp::ZERO;
        let mut per_instrument = [0usize; 2];
        let mut switches = 0;
        let mut prev_inst = None;
        for n in 0..200_000 {
            let ev = next(&mut m);
            assert!(ev.ts >= last_ts, "timestamps never decrease");
            last_ts = ev.ts;
            let i = ev.instrument.index();
            per_instrument[i] += 1;
            if prev_inst.is_some_and(|p| p != i) {
                switches += 1;
            }
            prev_inst = Some(i);
            let book = &mut books[i];
            apply(book, &ev.kind);
            if n >= 2 {
                assert!(!book.is_crossed(), "crossed after event {n}: {ev:?}");
                assert!(book.depth(Side::Buy) >= MIN_RESTING, "bids after {n}");
                assert!(book.depth(Side::Sell) >= MIN_RESTING, "asks after {n}");
            }
        }
        // The truth has also applied the events still queued.
        for (i, book) in books.iter().enumerate() {
            let mut caught_up = book.clone();
            for kind in &m.sims[i].pending {
                apply(&mut caught_up, kind);
            }
            assert_eq!(caught_up, m.sims[i].book, "instrument {i}");
        }
        // Two instruments at the same rate interleave, they do not come in blocks.
        assert!(
            per_instrument.iter().all(|&c| c > 40_000),
            "{per_instrument:?}"
        );
        assert!(switches > 20_000, "{switches} switches between instruments");
    }

    #[test]
    fn trades_print_at_resting_prices_and_walk_outward() {
        let mut m = market(11);
        let mut books = [OrderBook::new(), OrderBook::new()];
        // (instrument, ts, aggressor, price) of the previous trade.
        let mut prev: Option<(InstrumentId, Timestamp, Side, Price)> = None;
        let (mut trades, mut multi_level) = (0, 0);
        for _ in 0..200_000 {
            let ev = next(&mut m);
            let book = &mut books[ev.instrument.index()];
            if let MarketEventKind::Trade(t) = &ev.kind {
                trades += 1;
                assert_eq!(t.ts, ev.ts);
                assert!(t.qty.is_positive());
                let resting = book.level_qty(t.aggressor.opposite(), t.price);
                assert!(
                    resting >= t.qty,
                    "a {:?} trade of {} at {} finds {} resting on the other side",
                    t.aggressor,
                    t.qty,
                    t.price,
                    resting
                );
                if let Some((inst, ts, side, price)) = prev
                    && inst == ev.instrument
                    && ts == ev.ts
                {
                    multi_level += 1;
                    assert_eq!(side, t.aggressor, "one order, one side");
                    match side {
                        Side::Buy => assert!(t.price > price, "a buy walks up the asks"),
                        Side::Sell => assert!(t.price < price, "a sell walks down the bids"),
                    }
                }
                prev = Some((ev.instrument, ev.ts, t.aggressor, t.price));
            } else {
                prev = None;
            }
            apply(book, &ev.kind);
        }
        assert!(trades > 5_000, "{trades} trades");
        assert!(
            multi_level > 100,
            "{multi_level} trades beyond the first level"
        );
    }

    #[test]
    fn the_mid_moves_and_regimes_switch() {
        let mut m = es_only(5);
        let mut book = OrderBook::new();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut regimes = std::collections::BTreeSet::new();
        let mut changes = 0;
        let mut regime = m.regime(InstrumentId(0));
        assert_eq!(regime, Some(Regime::Normal));
        loop {
            let ev = next(&mut m);
            apply(&mut book, &ev.kind);
            let elapsed = ev.ts.0 - START.0;
            if elapsed <= 600 * SEC
                && let Some(mid) = book.mid_x2_ticks()
            {
                lo = lo.min(mid);
                hi = hi.max(mid);
            }
            let r = m.regime(InstrumentId(0));
            if r != regime {
                changes += 1;
                regime = r;
            }
            regimes.extend(r);
            if elapsed > 1800 * SEC {
                break;
            }
        }
        let range_ticks = (hi - lo) / 2;
        assert!(
            range_ticks >= 8,
            "mid range over 10 minutes: {range_ticks} ticks"
        );
        assert!(changes >= 3, "{changes} regime changes in 30 minutes");
        assert!(regimes.len() >= 2, "{regimes:?}");
        assert_eq!(m.regime(InstrumentId(9)), None);
    }

    /// Trades follow the latent fair price, and the book keeps 20 to 60 levels a side.
    #[test]
    fn trades_track_fair_value_and_depth_stays_in_range() {
        let mut m = es_only(21);
        let mut book = OrderBook::new();
        let (mut samples, mut depth_sum, mut out_of_range) = (0i64, 0usize, 0usize);
        let (mut trades, mut far_trades) = (0, 0);
        for _ in 0..300_000 {
            let ev = next(&mut m);
            apply(&mut book, &ev.kind);
            if let MarketEventKind::Trade(t) = &ev.kind {
                trades += 1;
                let fair_x2 = m.fair_mid_x2_ticks(InstrumentId(0)).unwrap_or_default();
                if (2 * t.price.0 - fair_x2).abs() > 2 * 10 {
                    far_trades += 1;
                }
            }
            for side in [Side::Buy, Side::Sell] {
                let d = book.depth(side);
                samples += 1;
                depth_sum += d;
                if !(15..=65).contains(&d) {
                    out_of_range += 1;
                }
            }
        }
        let avg = depth_sum as f64 / samples as f64;
        assert!((20.0..=60.0).contains(&avg), "average depth {avg}");
        assert!(
            (out_of_range as f64) < 0.05 * samples as f64,
            "{out_of_range} of {samples} depth samples outside 15-65"
        );
        assert!(
            far_trades * 100 < trades,
            "{far_trades} of {trades} trades more than 10 ticks from fair value"
        );
    }

    #[test]
    fn validate_names_the_key() {
        assert_eq!(SimParams::default().validate(), Ok(()));
        let bad = |f: fn(&mut SimParams)| {
            let mut p = SimParams::default();
            f(&mut p);
            p.validate().map_err(|e| e.key)
        };
        assert_eq!(bad(|p| p.event_rate = 0.0), Err("event_rate".into()));
        assert_eq!(bad(|p| p.event_rate = f64::NAN), Err("event_rate".into()));
        assert_eq!(
            bad(|p| p.volatility_bps = -1.0),
            Err("volatility_bps".into())
        );
        assert_eq!(bad(|p| p.normal_secs = 0.0), Err("normal_secs".into()));
        assert_eq!(
            bad(|p| p.turbulent_share = 1.5),
            Err("turbulent_share".into())
        );
        assert_eq!(
            bad(|p| p.order_notional = dec!(0)),
            Err("order_notional".into())
        );
        assert_eq!(
            bad(|p| p.large_order_mult = 0.5),
            Err("large_order_mult".into())
        );
        assert_eq!(bad(|p| p.limit_share = 0.0), Err("limit_share".into()));
        assert_eq!(
            bad(|p| p.mean_distance_ticks = 0.0),
            Err("mean_distance_ticks".into())
        );
        assert_eq!(bad(|p| p.min_depth = 3), Err("min_depth".into()));
        assert_eq!(bad(|p| p.max_depth = 20), Err("max_depth".into()));
    }

    #[test]
    fn params_parse_from_toml_with_defaults_and_refuse_unknown_keys() {
        let p: SimParams =
            toml::from_str("event_rate = 50\norder_notional = 250.5\n").expect("valid params");
        assert_eq!(p.event_rate, 50.0);
        assert_eq!(p.order_notional, dec!(250.5));
        assert_eq!(p.max_depth, SimParams::default().max_depth);
        assert!(toml::from_str::<SimParams>("event_rat = 50\n").is_err());
    }

    #[test]
    fn degenerate_inputs_still_give_a_sane_market() {
        // No start price for the second instrument, a zero one for the third.
        let mut m = SimMarket::new(
            &SimParams::default(),
            vec![es(0), es(1), es(2)],
            &[dec!(5000), dec!(0)],
            1,
            START,
        );
        let mut books = [OrderBook::new(), OrderBook::new(), OrderBook::new()];
        for _ in 0..20_000 {
            let ev = next(&mut m);
            let book = &mut books[ev.instrument.index()];
            apply(book, &ev.kind);
            assert!(!book.is_crossed());
            assert!(book.levels(Side::Buy).all(|l| l.price.0 > 0));
        }
        let mut empty = SimMarket::new(&SimParams::default(), vec![], &[], 1, START);
        assert_eq!(empty.peek_time(), None);
        assert_eq!(empty.next_event(), None);
    }

    /// What a trader would look at, printed:
    /// `cargo test --release -- --ignored --nocapture sim::tests::stats`
    #[test]
    #[ignore = "diagnostics"]
    fn stats() {
        for (name, inst, price) in [("ES", es(0), dec!(5000)), ("BTC", btc(0), dec!(60000))] {
            let mut m = SimMarket::new(&SimParams::default(), vec![inst], &[price], 9, START);
            let mut book = OrderBook::new();
            let mut spreads = std::collections::BTreeMap::new();
            let (mut n, mut trades, mut traded, mut depth, mut samples) =
                (0u64, 0u64, 0i64, 0usize, 0usize);
            let mut kinds = [0u64; 3];
            let mut minute_lo = i64::MAX;
            let mut minute_hi = i64::MIN;
            let mut minute = 0;
            let mut regime_time = std::collections::BTreeMap::new();
            let mut last = START.0;
            let mut top_qty = 0i64;
            loop {
                let ev = next(&mut m);
                n += 1;
                *regime_time
                    .entry(m.regime(InstrumentId(0)).map(|r| r.as_str()))
                    .or_insert(0i64) += ev.ts.0 - last;
                // Time-weighted: the spread shown until this event.
                *spreads
                    .entry(book.spread_ticks().unwrap_or(-1))
                    .or_insert(0i64) += (ev.ts.0 - last) / 1000;
                last = ev.ts.0;
                apply(&mut book, &ev.kind);
                match &ev.kind {
                    MarketEventKind::Trade(t) => {
                        trades += 1;
                        traded += t.qty.0;
                        kinds[0] += 1;
                    }
                    MarketEventKind::Level { .. } => kinds[1] += 1,
                    _ => kinds[2] += 1,
                }
                depth += book.depth(Side::Buy) + book.depth(Side::Sell);
                top_qty += book.best_bid().map_or(0, |l| l.qty.0);
                samples += 2;
                let mid = book.mid_x2_ticks().unwrap_or(0);
                minute_lo = minute_lo.min(mid);
                minute_hi = minute_hi.max(mid);
                let el = (ev.ts.0 - START.0) / SEC;
                if el / 60 > minute {
                    println!(
                        "{name} minute {minute}: mid {:.1}..{:.1} ticks ({:?})",
                        minute_lo as f64 / 2.0,
                        minute_hi as f64 / 2.0,
                        m.regime(InstrumentId(0))
                    );
                    minute = el / 60;
                    minute_lo = i64::MAX;
                    minute_hi = i64::MIN;
                }
                if el >= 600 {
                    break;
                }
            }
            println!(
                "{name}: {n} events in 600 s, {trades} trades, avg trade {} lots, avg depth {:.1}, avg best bid qty {}, level/trade/other {kinds:?}",
                traded / trades.max(1) as i64,
                depth as f64 / samples as f64,
                top_qty / n as i64
            );
            println!("{name}: spread time (us) {spreads:?}");
            println!("{name}: regime ns {regime_time:?}");
            let top: Vec<_> = book.top(Side::Sell, 8).collect();
            println!("{name}: asks {top:?}");
            let top: Vec<_> = book.top(Side::Buy, 8).collect();
            println!("{name}: bids {top:?}");
        }
    }

    /// `cargo test --release -- --ignored --nocapture sim::tests::speed`
    #[test]
    #[ignore = "timing; run in release"]
    fn speed() {
        let mut m = market(1);
        let n = 10_000_000;
        let t0 = std::time::Instant::now();
        let mut trades = 0u64;
        for _ in 0..n {
            if let Some(MarketEvent {
                kind: MarketEventKind::Trade(_),
                ..
            }) = m.next_event()
            {
                trades += 1;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{n} events ({trades} trades) in {secs:.3}s: {:.0} events/s, {:.0} ns/event",
            n as f64 / secs,
            secs * 1e9 / n as f64
        );
    }
}
