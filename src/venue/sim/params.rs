//! `[sim]`: every knob of the simulated market, with its defaults and the checks that
//! refuse values that parse but make no sense.

use super::MIN_RESTING;
use crate::domain::Invalid;
use rust_decimal::Decimal;

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
    /// Mean size of a large order, as a multiple of an ordinary one (1 to 1000).
    /// Default 20.
    pub large_order_mult: f64,
    /// Relative share of arrivals that are limit orders. The three shares are normalized
    /// by their sum. Default 0.55.
    pub limit_share: f64,
    /// Relative share of arrivals that are cancellations. Default 0.35.
    pub cancel_share: f64,
    /// Relative share of arrivals that are aggressive (market) orders. Default 0.10.
    pub market_share: f64,
    /// Mean number of *uninformed* aggressive orders ("noise" traders: a fund
    /// rebalancing, a liquidation, a retail market order) per second, per instrument, in the
    /// normal regime; the regimes scale it like `event_rate` (arrivals/s). They come as a
    /// Poisson process of their own, buy or sell with probability one half each, whatever
    /// the fair price did, and larger than ordinary orders, so they walk several levels.
    /// The book they push away from the fair price comes back as makers re-join at it
    /// (slower in turbulence), so their impact is transient: the liquidity they took was
    /// sold to them at a premium to the fair price. This is what a patient liquidity
    /// provider earns; the informed flow (the sweeps of quotes the fair price has passed,
    /// and `market_share`'s orders, which lean with the fair price) is what it loses to.
    /// 0 turns it off (the market is then exactly the one without this key). Default 2.
    pub noise_rate: f64,
    /// Mean size of a noise order, as a multiple of an ordinary order (1 to 1000; large
    /// orders, `large_order_prob`, scale it further). Default 15.
    pub noise_size_mult: f64,
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
            noise_rate: 2.0,
            noise_size_mult: 15.0,
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

/// A multiple of an ordinary order's size: at least 1, and at most 1000 (beyond, one order
/// would sweep any book the model keeps).
fn size_multiple(key: &str, v: f64) -> Result<(), Invalid> {
    if !(v.is_finite() && (1.0..=1000.0).contains(&v)) {
        return Err(Invalid::new(
            key,
            format!("must be from 1 to 1000, got {v}"),
        ));
    }
    Ok(())
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
        size_multiple("large_order_mult", self.large_order_mult)?;
        non_negative("limit_share", self.limit_share)?;
        non_negative("cancel_share", self.cancel_share)?;
        non_negative("market_share", self.market_share)?;
        non_negative("noise_rate", self.noise_rate)?;
        if self.noise_rate > self.event_rate {
            return Err(Invalid::new(
                "noise_rate",
                format!(
                    "at most event_rate ({}) orders/s, got {}",
                    self.event_rate, self.noise_rate
                ),
            ));
        }
        size_multiple("noise_size_mult", self.noise_size_mult)?;
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
