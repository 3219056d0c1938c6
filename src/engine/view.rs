//! The engine's published view: everything a console needs, as one immutable value.
//! The runner publishes it as a latest value (never a queue); the console renders from it.
//! It is serde-serialisable: the control socket streams it to attached consoles
//! (`pit attach`), which render it with the same renderer.

use super::blotter::{FillRecord, OrderRecord};
use super::{Alert, Engine, KillProgress, OrderPreview};
use crate::domain::{
    Instrument, InstrumentId, Level, Order, Position, Timestamp, TradeTick, TradingState,
    VenueRulesState,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One instrument's market as the console shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarketView {
    pub instrument: Option<Instrument>,
    /// Best first.
    pub bids: Vec<Level>,
    /// Best first.
    pub asks: Vec<Level>,
    pub last_trade: Option<TradeTick>,
    pub last_update: Option<Timestamp>,
    pub resyncing: bool,
    pub stale: bool,
    pub crossed: bool,
    /// Volume traded at each price since the run started, lowest price first (the price
    /// ladder's column; set by the runner for runs that publish views, a bounded window
    /// around the recent trades: `runner/volume.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traded: Vec<Level>,
}

/// A position with its mark.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PositionView {
    pub position: Position,
    /// The mark: the book's mid (on a RESYNCING or stale book, its last trusted one).
    pub mark: Option<Decimal>,
    pub unrealized: Decimal,
    /// The book is RESYNCING or stale (no update for `stale_data_ms`): the position is
    /// not marked on it; `mark` and `unrealized` are the last trusted ones.
    pub mark_stale: bool,
    /// What is held is dust: below the venue's minimum size or notional (or one lot), so
    /// no order can close it; counted as flat (`engine/dust.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dust: bool,
}

/// Account-level PnL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PnlView {
    pub realized: Decimal,
    pub unrealized: Decimal,
    pub fees: Decimal,
    /// Realized - fees + unrealized.
    pub equity: Decimal,
    pub equity_peak: Decimal,
    pub drawdown: Decimal,
    pub day_pnl: Decimal,
    pub daily_loss_limit: Decimal,
    pub max_drawdown: Decimal,
}

/// A strategy's row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyView {
    pub name: String,
    pub enabled: bool,
    /// On, but its new orders are held by the trading state.
    pub held: bool,
    pub instrument: Option<InstrumentId>,
    pub position: Decimal,
    pub pnl: Decimal,
    pub open_orders: usize,
    pub orders: u64,
    pub held_orders: u64,
    pub refused_orders: u64,
    pub last_signal: Option<String>,
    /// Its instrument's trading session stops its new orders: `SESSION CLOSED` or
    /// `CLOSING (flat)` (`[[sessions]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Which built-in it is: its section under `[strategies]` (`market_maker`, …).
    #[serde(default)]
    pub kind: String,
    /// Its parameters, as `key = value` lines of its section (the strategies view edits
    /// them).
    #[serde(default)]
    pub params: std::sync::Arc<str>,
    /// One of `[[strategies.instance]]` (or added from the console), not a section: it can
    /// be removed.
    #[serde(default)]
    pub instance: bool,
    /// Removed from the console: kept for its number, not shown.
    #[serde(default)]
    pub removed: bool,
    /// Restarted with new parameters, waiting for its old orders to close.
    #[serde(default)]
    pub restarting: bool,
    /// In its own loss cooldown: its new orders are held (exits go) for this much longer,
    /// as `COOL m:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
}

/// Engine health counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    pub events: u64,
    pub market_events: u64,
    pub orders: u64,
    pub fills: u64,
    pub risk_checks: u64,
    pub risk_refusals: u64,
    /// Market-data feed health per instrument (live venues; empty for the simulated
    /// market and replays). Set by the runner from the market-data port.
    pub feed: Vec<FeedHealth>,
    /// The live execution venue (real orders); `None` on the paper venue. Set by the
    /// runner from the execution port.
    pub exec: Option<ExecHealth>,
    /// Per instrument of a live venue: its rules (exchange filters) as the risk engine
    /// holds them; empty when no venue rules apply (paper, replay).
    #[serde(default)]
    pub venue_rules: Vec<VenueRulesView>,
    /// Execution figures per instrument and owner (latency, fill ratio, slippage), engine
    /// time.
    #[serde(default)]
    pub execution: Vec<super::execstats::ExecFigures>,
    /// Orders the trading gate stopped before the venue (the summary's
    /// `orders_blocked_by_gate`). Set by the runner from the execution port.
    #[serde(default)]
    pub orders_blocked_by_gate: u64,
    /// Wall time of each store commit (one write transaction, fsynced). Set by the runner
    /// from the store task; empty when the run keeps no store.
    #[serde(default)]
    pub store_commit_latency: super::execstats::LatencyHist,
    /// Market-data latency per instrument: the venue's event time to our receipt, where
    /// the feed's frames carry an event time. Set by the runner from the market-data
    /// port (live feeds and replays of recordings; none for the simulated market, whose
    /// events are made on the engine clock and have no exchange clock to differ from).
    #[serde(default)]
    pub market_data_latency: Vec<MdLatency>,
}

/// One instrument's market-data latency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdLatency {
    pub venue: String,
    pub symbol: String,
    pub latency: super::execstats::LatencyHist,
}

/// One instrument's venue rules in the health view and `pit status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRulesView {
    pub symbol: String,
    /// Known: new orders are checked against them; otherwise new orders are refused.
    pub known: bool,
    /// `tick 0.01, step 0.00001, qty 0.00001..9000, notional >= 5`, or why they are not
    /// known.
    pub text: String,
}

/// A live execution venue as the status bar, the health view and `pit status` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecHealth {
    pub venue: String,
    /// `LIVE` (real money) or `TESTNET`.
    pub network: String,
    /// The venue's account id, once known.
    pub account: Option<String>,
    /// `connecting`, `connected`, `reconnecting`, `stopped` (the user data stream).
    pub connection: String,
    /// Set while reconciling: new orders are refused with this reason, cancels pass.
    pub reconciling: Option<String>,
    /// Set once the venue banned us (HTTP 418) or the port gave up: nothing is sent.
    pub stopped: Option<String>,
    /// Standing reasons the venue account cannot be traded as it is set up (a Bybit
    /// linear symbol in hedge mode): new orders are refused, exits too, while any stands
    /// (cancels and the kill switch pass); a person changes the account and restarts pit.
    #[serde(default)]
    pub holds: Vec<String>,
    /// The venue's dead-man switch, or a plain note that it has none.
    pub dead_man: String,
    /// Open orders at the venue that pit did not place (never touched unless a person
    /// cancels them).
    pub external_orders: Vec<String>,
    /// Differences the last reconciliation found (also raised as alerts).
    pub last_reconcile: Option<String>,
    /// Reconciliations finished in this run (a caller waits for the count to move).
    #[serde(default)]
    pub reconciles: u64,
    /// The last reconciliation found the venue and the store in agreement.
    #[serde(default)]
    pub last_reconcile_agrees: bool,
    /// The venue's used request weight and order count, from its response headers.
    pub used_weight: Option<u64>,
    pub order_count: Option<u64>,
    /// Requests whose outcome is being resolved by a query.
    pub unresolved: u64,
    /// The account's balances at the last reconciliation that could compare them, each
    /// against what pit expects (the balances at the run's start plus its fills). One that
    /// differs refuses new orders (cancels pass) until a reconciliation finds it agreeing.
    #[serde(default)]
    pub balances: Vec<BalanceLine>,
    /// The venue enforces reduce-only itself for what is traded (Bybit linear, OKX
    /// SWAP: such an order can only shrink the venue's position, never open or flip
    /// one): an exit (a flatten, the kill's) still leaves while a position differs or a
    /// reconciliation runs.
    #[serde(default)]
    pub native_reduce_only: bool,
    pub send_to_ack: Option<Quantiles>,
    pub send_to_first_fill: Option<Quantiles>,
}

/// One asset's balance (free + locked) at the venue against what pit expects of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceLine {
    pub asset: String,
    /// At the run's start (the first reconciliation).
    pub start: Decimal,
    /// What the run's fills moved since: bought minus sold, quote paid or received,
    /// commissions in the asset they were charged in.
    pub traded: Decimal,
    /// `start + traded`.
    pub expected: Decimal,
    /// What the venue holds.
    pub venue: Decimal,
}

impl BalanceLine {
    pub fn agrees(&self) -> bool {
        self.venue == self.expected
    }
}

/// Latency quantiles of one figure (µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quantiles {
    pub median_us: u64,
    pub p99_us: u64,
    /// Orders measured since start (the quantiles cover the most recent ones).
    pub samples: u64,
}

/// One instrument's live feed: connection state and integrity counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedHealth {
    pub venue: String,
    pub symbol: String,
    /// `connecting`, `connected`, `backoff` or `stopped`.
    pub connection: String,
    pub frames: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub checksums_checked: u64,
    pub checksums_failed: u64,
    /// Frames that could not be parsed (counted and logged, never a panic).
    pub malformed: u64,
    /// Connections opened after the first.
    pub reconnects: u64,
    /// Since the connection's last frame.
    pub last_frame_age: Option<std::time::Duration>,
    /// Waiting in back-off after a failed or lost connection: the time to the next
    /// attempt.
    #[serde(default)]
    pub retry_in: Option<std::time::Duration>,
    /// Why the last connection failed or ended.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Connection attempts that failed plus connections lost, since the start.
    #[serde(default)]
    pub failures: u64,
}

/// No frame at all for this long on a connected feed is STALE (Binance, Bybit, OKX and
/// Kraken send book updates or heartbeats several times a second on a liquid pair).
pub const FEED_SILENT: std::time::Duration = std::time::Duration::from_secs(5);

/// A feed's state in words, the one reading the status bar, the book, `pit run
/// --headless`'s status line and the feed alerts share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedState {
    /// Opening the connection, or connected and waiting for the first book.
    Connecting,
    /// Connected, the book synced and updating.
    Live,
    /// Connected, but nothing for this long (no frame, or no book update).
    Stale(std::time::Duration),
    /// Connected; the book lost integrity and waits for a fresh snapshot.
    Resyncing,
    /// The connection failed or was lost: why, and when the next attempt starts
    /// (`None`: it is being attempted now).
    Disconnected {
        why: Option<String>,
        retry_in: Option<std::time::Duration>,
    },
    /// The connection task has ended (the run is stopping).
    Stopped,
}

impl FeedState {
    /// The state of `feed`, with its instrument's market (`m`) at engine time `now`.
    pub fn of(feed: &FeedHealth, m: Option<&MarketView>, now: Timestamp) -> FeedState {
        match feed.connection.as_str() {
            "stopped" => FeedState::Stopped,
            "backoff" => FeedState::Disconnected {
                why: feed.last_error.clone(),
                retry_in: feed.retry_in,
            },
            "connecting" if feed.last_error.is_some() => FeedState::Disconnected {
                why: feed.last_error.clone(),
                retry_in: None,
            },
            "connecting" => FeedState::Connecting,
            _ => {
                if m.is_some_and(|m| m.resyncing) {
                    return FeedState::Resyncing;
                }
                if let Some(age) = feed.last_frame_age.filter(|a| *a >= FEED_SILENT) {
                    return FeedState::Stale(age);
                }
                match m {
                    Some(m) if m.last_update.is_none() => FeedState::Connecting,
                    Some(m) if m.stale => {
                        FeedState::Stale(m.last_update.map(|t| now.since(t)).unwrap_or_default())
                    }
                    _ => FeedState::Live,
                }
            }
        }
    }

    /// Everything is as it should be.
    pub fn is_live(&self) -> bool {
        matches!(self, FeedState::Live)
    }

    /// `CONNECTING`, `LIVE`, `STALE 12s`, `RESYNCING`, `DISCONNECTED — retry in 8s`,
    /// `STOPPED`.
    pub fn word(&self) -> String {
        match self {
            FeedState::Connecting => "CONNECTING".into(),
            FeedState::Live => "LIVE".into(),
            FeedState::Stale(age) => format!("STALE {}s", age.as_secs()),
            FeedState::Resyncing => "RESYNCING".into(),
            FeedState::Disconnected { retry_in, .. } => match retry_in {
                Some(d) => format!("DISCONNECTED — retry in {}s", d.as_secs_f64().ceil() as u64),
                None => "DISCONNECTED — retrying".into(),
            },
            FeedState::Stopped => "STOPPED".into(),
        }
    }
}

impl EngineView {
    /// The live feed of market `i` (by symbol), if the market is fed by a live venue.
    pub fn feed_of(&self, i: usize) -> Option<&FeedHealth> {
        let sym = &self.markets.get(i)?.instrument.as_ref()?.symbol;
        self.health.feed.iter().find(|f| &f.symbol == sym)
    }

    /// The state of market `i`'s live feed (`None`: the simulated market or a replay).
    pub fn feed_state(&self, i: usize) -> Option<FeedState> {
        let f = self.feed_of(i)?;
        Some(FeedState::of(f, self.markets.get(i), self.now))
    }
}

/// Everything the console shows, at one instant of engine time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineView {
    pub now: Timestamp,
    pub trading_state: TradingState,
    pub halt_reason: Option<String>,
    pub kill: Option<KillProgress>,
    pub gate_open: bool,
    pub markets: Vec<MarketView>,
    /// Most recent last.
    pub tape: Vec<(InstrumentId, TradeTick)>,
    pub positions: Vec<PositionView>,
    pub pnl: PnlView,
    pub open_orders: Vec<Order>,
    /// Brackets working now (their entry and legs are among `open_orders`; the stop-loss
    /// leg is held here until it fires).
    #[serde(default)]
    pub brackets: Vec<super::Bracket>,
    /// Execution algorithms working now (their children are among `open_orders`).
    #[serde(default)]
    pub algos: Vec<super::Algo>,
    /// Most recent last.
    pub closed_orders: Vec<Order>,
    /// Our recent fills, most recent last (the fills pane).
    #[serde(default)]
    pub fills: Vec<FillRecord>,
    /// Every order kept (open, closed and risk refusals) with its steps, in the order they
    /// were sent (the order-history view).
    #[serde(default)]
    pub order_history: Vec<OrderRecord>,
    pub strategies: Vec<StrategyView>,
    /// Most recent last.
    pub alerts: Vec<Alert>,
    pub health: HealthView,
    /// The risk verdict on the manual order being entered, if any.
    pub order_preview: Option<OrderPreview>,
    /// How late the engine ran behind its pacing clock when this view was published
    /// (zero at full speed); set by the runner.
    pub engine_lag: std::time::Duration,
    /// Whether the halt is on disk (the halt latch); set by the runner.
    pub halt_latch: HaltLatchState,
    /// The store could not write (the error): nothing shown since is durable, the gate is
    /// closed and the run is halted for good; set by the runner.
    pub store_failed: Option<String>,
    /// Each instrument's trading session (`[[sessions]]`; empty: every one trades always).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<super::session::SessionView>,
    /// The aged-position manager (`[aged_positions]`; `None` when off and idle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aged: Option<super::aged::AgedView>,
}

/// Where the durable halt latch stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HaltLatchState {
    /// No latch on disk (not halted, or a run that keeps no latch).
    #[default]
    NotLatched,
    /// A halt is being written and fsynced.
    Latching,
    /// The halt is on disk: a restart comes up HALTED.
    Latched,
    /// Writing the latch failed (a CRITICAL alert says why); the run stays halted.
    Failed,
}

impl Engine {
    /// Build the view. Allocates: call it at the console's frame rate, not per event.
    pub fn view(&mut self) -> EngineView {
        self.refresh_preview();
        let markets = self.market_views();
        let positions = self.position_views();
        let pnl = self.pnl_view();
        let strategies = self.strategy_views();
        let risk = self.risk.stats();
        EngineView {
            now: self.now,
            trading_state: self.state,
            halt_reason: self.halt_reason.clone(),
            kill: self.kill.clone(),
            gate_open: self.gate.is_open(),
            markets,
            tape: self.tape.iter().rev().take(100).rev().copied().collect(),
            positions,
            pnl,
            open_orders: self.open_orders.values().cloned().collect(),
            brackets: self.groups.brackets.values().cloned().collect(),
            algos: self.groups.algos.values().cloned().collect(),
            closed_orders: self.closed_orders.iter().cloned().collect(),
            fills: self.blotter.fills(),
            order_history: self.blotter.history(),
            strategies,
            alerts: self.alerts.iter().cloned().collect(),
            health: HealthView {
                events: self.events,
                market_events: self.market_events,
                orders: self.orders_sent,
                fills: self.fills,
                risk_checks: risk.checks,
                risk_refusals: risk.refused,
                feed: Vec::new(),
                exec: None,
                venue_rules: self
                    .instruments
                    .iter()
                    .zip(&self.venue_rules)
                    .filter(|(_, r)| **r != VenueRulesState::NotRequired)
                    .map(|(i, r)| VenueRulesView {
                        symbol: i.symbol.clone(),
                        known: matches!(r, VenueRulesState::Known { .. }),
                        text: r.describe(),
                    })
                    .collect(),
                execution: self.exec_stats.figures(),
                ..HealthView::default()
            },
            order_preview: self.order_preview.clone(),
            engine_lag: std::time::Duration::ZERO,
            halt_latch: HaltLatchState::NotLatched,
            store_failed: None,
            sessions: self.session_views(),
            aged: self.aged_view(),
        }
    }

    /// Each instrument's book top, last trade and feed flags.
    fn market_views(&self) -> Vec<MarketView> {
        let depth = self.cfg.view_depth;
        let stale_ms = self.risk.limits().stale_data_ms;
        (0..self.instruments.len())
            .map(|i| {
                let book = &self.books[i];
                MarketView {
                    instrument: Some(self.instruments[i].clone()),
                    bids: book.top(crate::domain::Side::Buy, depth).collect(),
                    asks: book.top(crate::domain::Side::Sell, depth).collect(),
                    last_trade: self.last_trade[i],
                    last_update: self.last_book_update[i],
                    resyncing: self.resyncing[i],
                    stale: stale_ms > 0 && self.stale_flagged[i],
                    crossed: book.is_crossed(),
                    traded: Vec::new(),
                }
            })
            .collect()
    }

    /// Each instrument's position, marked at the mid.
    fn position_views(&self) -> Vec<PositionView> {
        (0..self.instruments.len())
            .map(|i| {
                // A RESYNCING or stale book holds the levels of its last trusted update
                // (nothing is applied to it until a snapshot or an update comes), so its
                // mid is the last trusted mark: positions are never marked on what the
                // feed sent since; the mark is flagged stale.
                let mark_stale = self.resyncing[i] || self.stale_flagged[i];
                let mark = self.books[i]
                    .mid_ticks()
                    .map(|m| (m * self.instruments[i].tick_size).normalize());
                PositionView {
                    position: self.positions[i].clone(),
                    mark,
                    unrealized: self.unrealized[i],
                    mark_stale,
                    dust: !self.positions[i].is_flat() && !self.holds(i),
                }
            })
            .collect()
    }

    /// Account PnL, equity and the loss limits.
    fn pnl_view(&self) -> PnlView {
        // Read-only: building a view must never change what the engine decides.
        let drawdown = self.drawdown();
        PnlView {
            realized: self.realized,
            unrealized: self.unrealized.iter().copied().sum(),
            fees: self.fees,
            equity: self.equity(),
            equity_peak: self.equity_peak.max(self.equity()),
            drawdown,
            day_pnl: self.day_pnl(),
            daily_loss_limit: self.risk.limits().daily_loss_limit,
            max_drawdown: self.risk.limits().max_drawdown,
        }
    }

    /// Each strategy's switch, position, PnL and order counts.
    fn strategy_views(&self) -> Vec<StrategyView> {
        let held_state = matches!(
            self.state,
            TradingState::Paused | TradingState::Reducing | TradingState::Halted
        ) || self.shutting_down;
        self.strategies
            .iter()
            .enumerate()
            .map(|(s, slot)| {
                let st = &self.strat_stats[s];
                let mut pnl = Decimal::ZERO;
                let mut position = Decimal::ZERO;
                for (i, p) in st.positions.iter().enumerate() {
                    pnl += p.realized - p.fees;
                    if let Some(mid) = self.books[i].mid_ticks() {
                        pnl += p.unrealized(mid * self.instruments[i].tick_size);
                    }
                    if slot.strategy.instrument() == Some(InstrumentId(i as u16)) {
                        position = p.qty;
                    }
                }
                let owner = crate::domain::Owner::Strategy(s as u8);
                StrategyView {
                    name: slot.name.clone(),
                    enabled: slot.enabled,
                    held: slot.enabled && held_state,
                    instrument: slot.strategy.instrument(),
                    position,
                    pnl,
                    open_orders: self
                        .open_orders
                        .values()
                        .filter(|o| o.req.owner == owner)
                        .count(),
                    orders: st.orders,
                    held_orders: st.held,
                    refused_orders: st.refused,
                    last_signal: slot.strategy.last_signal().map(str::to_string),
                    session: slot
                        .strategy
                        .instrument()
                        .and_then(|i| self.session_now(i))
                        .filter(|n| n.phase.suspended())
                        .map(|n| n.phase.word().to_string()),
                    kind: crate::strategy::BUILTINS
                        .get(slot.kind)
                        .map_or("", |b| b.section)
                        .to_string(),
                    params: st.params_text.clone(),
                    instance: !slot.is_section(s),
                    removed: slot.removed,
                    restarting: st.restarting,
                    cooldown: self
                        .risk
                        .cooldown_until(s as u8)
                        .filter(|until| self.now < *until)
                        .map(|until| {
                            // Rounded up: "0:00" never shows while it still holds.
                            let secs = until.since(self.now).as_millis().div_ceil(1000);
                            format!("COOL {}:{:02}", secs / 60, secs % 60)
                        }),
                }
            })
            .collect()
    }
}
