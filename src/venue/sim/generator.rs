//! The simulation of one instrument: its latent fair price and regime, its book (the
//! truth), and the arrivals (limit orders, cancellations, aggressive orders, maker
//! reactions, depth upkeep) that change the book and emit the events (see [`super`]).

use super::MIN_RESTING;
use super::model::{MAKER_RESPONSE, Model, Regime};
use super::params::SimParams;
use crate::domain::{
    Instrument, Level, MarketEventKind, OrderBook, Price, Qty, Side, Timestamp, TradeTick,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::VecDeque;

/// Opening fair price (ticks) used when an instrument has no usable start price.
const FALLBACK_START_TICKS: i64 = 10_000;

/// The simulation state of one instrument.
#[derive(Debug)]
pub(super) struct InstSim {
    pub(super) rng: ChaCha8Rng,
    /// The truth: every emitted event has been applied here already.
    pub(super) book: OrderBook,
    /// Latent fair price in ticks: the price a maker would bid. Fair mid = `fair + ½`.
    pub(super) fair: i64,
    pub(super) regime: Regime,
    /// When the current regime ends (ns).
    pub(super) regime_end: i64,
    /// Time of the next arrival to generate (ns).
    pub(super) next_ns: i64,
    /// Time of the next noise (uninformed) order (ns); `i64::MAX` without noise flow.
    pub(super) next_noise_ns: i64,
    /// Time of the previous arrival (ns), for the fair price's diffusion.
    pub(super) last_ns: i64,
    /// Time of the events in `pending` (ns).
    pub(super) batch_ns: i64,
    /// Events generated but not yet handed out, all at `batch_ns`.
    pub(super) pending: VecDeque<MarketEventKind>,
    /// Levels touched by the aggressive order being generated.
    pub(super) scratch: Vec<Level>,
    /// Volatility of the fair price in the normal regime, ticks per √s.
    pub(super) sigma_ticks: f64,
    /// Mean order size in lots.
    pub(super) mean_lots: f64,
    /// Smallest order size in lots.
    pub(super) min_lots: i64,
    /// Every noise order so far: its side, and the fair mid and the book's mid when it
    /// came (both twice the price in ticks).
    #[cfg(test)]
    pub(super) noise_log: Vec<(Side, i64, Option<i64>)>,
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
    pub(super) fn new(
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
            next_noise_ns: i64::MAX,
            last_ns: start,
            batch_ns: start,
            pending: VecDeque::with_capacity(4 * model.max_depth + 16),
            scratch: Vec::with_capacity(2 * model.max_depth + 8),
            sigma_ticks,
            mean_lots,
            min_lots,
            #[cfg(test)]
            noise_log: Vec::new(),
        };
        s.regime_end = start.saturating_add(s.draw_duration(model, Regime::Normal));
        s.next_ns = start.saturating_add(s.draw_gap(model));
        if let Some(gap) = s.draw_noise_gap(model) {
            s.next_noise_ns = start.saturating_add(gap);
        }
        let snapshot = s.snapshot(model);
        s.pending.push_back(snapshot);
        s
    }

    /// Time to the next arrival (ns, at least 1) at the current regime's rate.
    fn draw_gap(&mut self, m: &Model) -> i64 {
        round_i64(exp1(&mut self.rng) * m.mean_gap_ns[self.regime.index()]).max(1)
    }

    /// Time to the next noise order (ns, at least 1) at the current regime's rate; `None`
    /// without noise flow (and then nothing is drawn: the stream is the one without it).
    fn draw_noise_gap(&mut self, m: &Model) -> Option<i64> {
        let gaps = m.noise_gap_ns?;
        Some(round_i64(exp1(&mut self.rng) * gaps[self.regime.index()]).max(1))
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

    /// Generate arrivals until at least one event is pending. Noise orders are a Poisson
    /// process of their own, merged with the other arrivals by time (ties: the other
    /// arrival first).
    pub(super) fn refill(&mut self, m: &Model) {
        while self.pending.is_empty() {
            if self.next_noise_ns < self.next_ns {
                let t = self.next_noise_ns;
                self.advance(m, t);
                self.noise_order(m);
                let gap = self.draw_noise_gap(m).unwrap_or(i64::MAX);
                self.next_noise_ns = t.saturating_add(gap);
            } else {
                let t = self.next_ns;
                self.advance(m, t);
                self.act(m);
                self.next_ns = t.saturating_add(self.draw_gap(m));
            }
        }
    }

    /// Move the regime and the fair price to time `t` (ns), where the next arrival is.
    fn advance(&mut self, m: &Model, t: i64) {
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

    /// An uninformed aggressive order: either side with probability one half, whatever the
    /// fair price and the book do, larger than an ordinary order. Its impact is transient:
    /// makers re-join at the fair price on the following arrivals (`act`).
    fn noise_order(&mut self, m: &Model) {
        let side = if self.rng.random::<f64>() < 0.5 {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = round_i64(self.order_size(m) as f64 * m.noise_mult).max(self.min_lots);
        #[cfg(test)]
        self.noise_log
            .push((side, 2 * self.fair + 1, self.book.mid_x2_ticks()));
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
