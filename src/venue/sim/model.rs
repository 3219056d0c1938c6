//! The simulated market's model: the volatility regimes, and the parameters turned into
//! what the generator uses per event (rates, shares, distances, depth bounds), shared by
//! every instrument.

use super::MIN_RESTING;
use super::params::SimParams;
use std::fmt;

/// Per regime (calm, normal, turbulent): the probability that an arrival reacts to quotes
/// the fair price has left stale or behind. Slower reactions in turbulence widen spreads.
pub(super) const MAKER_RESPONSE: [f64; 3] = [0.95, 0.85, 0.6];

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

    pub(super) fn index(self) -> usize {
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

/// The parameters turned into what the generator uses per event, shared by instruments.
#[derive(Clone, Debug)]
pub(super) struct Model {
    /// Mean gap between events per regime (ns).
    pub(super) mean_gap_ns: [f64; 3],
    /// Volatility multiple per regime.
    pub(super) vol_mult: [f64; 3],
    /// Mean regime duration (ns).
    pub(super) mean_dur_ns: [f64; 3],
    pub(super) turbulent_share: f64,
    pub(super) large_prob: f64,
    pub(super) large_mult: f64,
    /// Cumulative thresholds of the normalized shares: limit below the first, cancel below
    /// the second, aggressive above.
    pub(super) limit_cut: f64,
    pub(super) cancel_cut: f64,
    /// Mean gap between noise (uninformed) orders per regime (ns); `None`: no noise flow.
    pub(super) noise_gap_ns: Option<[f64; 3]>,
    /// Mean size of a noise order, a multiple of an ordinary one.
    pub(super) noise_mult: f64,
    pub(super) inside_prob: f64,
    pub(super) deep_share: f64,
    /// `1 / ln(1 - p)` of the geometric distance distribution.
    pub(super) geo_inv_ln_q: f64,
    pub(super) min_depth: usize,
    pub(super) max_depth: usize,
    /// Depth range of refills and deep orders (ticks from the fair price).
    pub(super) deep_span: i64,
    /// Most levels a side of the opening snapshot has.
    pub(super) snapshot_max: usize,
    /// Lowest fair price (ticks), so that every level stays at a positive price.
    pub(super) fair_floor: i64,
}

impl Model {
    pub(super) fn new(p: &SimParams) -> Self {
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
            noise_gap_ns: (p.noise_rate > 0.0).then(|| {
                [p.calm_rate_mult, 1.0, p.turbulent_rate_mult]
                    .map(|k| 1e9 / (p.noise_rate * k).max(1e-9))
            }),
            noise_mult: p.noise_size_mult.max(1.0),
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
