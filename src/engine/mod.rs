//! The synchronous, deterministic engine core.
//!
//! [`Engine::process`] takes one input (a market event, an execution report, an operator
//! command or a timer tick) and the time from the runner's clock, updates books, orders,
//! positions, strategies, risk and alerts, and appends [`Effect`]s: orders to submit (only
//! risk-approved ones), cancels to send, alerts to log. It never reads the wall clock,
//! never blocks and never touches I/O: the same inputs give the same effects, byte for byte.

pub mod clock;
pub mod persist;
pub mod risk;
pub mod view;

use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, InstrumentId, MarketEvent, MarketEventKind, Order,
    OrderBook, OrderKind, OrderRequest, OrderTag, Owner, Position, Price, Qty, Side, StrategyId,
    TimeInForce, Timestamp, TradeTick, TradingGate, TradingState,
};
use crate::strategy::{Intent, OrderIntent, StrategyCtx, StrategySlot};
pub use persist::{AuditEntry, ClosedTrade, DayFigures, Recovered, RecoveredCounts};
use risk::{RiskApproved, RiskCtx, RiskEngine};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

/// Account figures for one risk check, computed before the check borrows the engine.
struct RiskFigures {
    position: Decimal,
    open_buy: Decimal,
    open_sell: Decimal,
    day_pnl: Decimal,
    drawdown: Decimal,
}

/// Build a [`RiskCtx`] from the engine's fields (a macro, so the borrow stays on the
/// fields and `self.risk` can still be borrowed mutably).
macro_rules! risk_ctx {
    ($e:ident, $f:ident, $req:expr) => {{
        let i = $req.instrument.index();
        RiskCtx {
            now: $e.now,
            instrument: &$e.instruments[i],
            book: &$e.books[i],
            last_book_update: $e.last_book_update[i],
            position: $f.position,
            open_buy_qty: $f.open_buy,
            open_sell_qty: $f.open_sell,
            open_orders: $e.open_orders.len(),
            duplicate_id: $e.used_ids.contains(&$req.client_id),
            day_pnl: $f.day_pnl,
            drawdown: $f.drawdown,
        }
    }};
}

/// The risk verdict on an order the console is about to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderPreview {
    pub order: ManualOrder,
    /// `Ok` when every check passes now, else the refusal in words.
    pub verdict: Result<(), String>,
}

/// The engine's own reduce-only closing orders (flatten, the kill switch's exits).
fn is_closing_order(o: &Order) -> bool {
    o.req.owner == Owner::System && o.req.reduce_only
}

fn manual_request(m: &ManualOrder, client_id: ClientOrderId) -> OrderRequest {
    OrderRequest {
        client_id,
        instrument: m.instrument,
        side: m.side,
        kind: m.kind,
        price: m.price,
        qty: m.qty,
        tif: m.tif,
        reduce_only: m.reduce_only,
        owner: Owner::Manual,
        tag: OrderTag::Manual,
    }
}

/// `[engine]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Strategy timer period, milliseconds of engine time.
    pub timer_ms: u64,
    /// Market trades kept in the tape.
    pub tape_len: usize,
    /// Alerts kept in memory.
    pub alerts_len: usize,
    /// Closed orders kept in memory for the console.
    pub closed_orders_len: usize,
    /// Book levels per side published to the console.
    pub view_depth: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            timer_ms: 100,
            tape_len: 200,
            alerts_len: 500,
            closed_orders_len: 200,
            view_depth: 25,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if self.timer_ms == 0 {
            return Err(Invalid::new("timer_ms", "must be at least 1"));
        }
        if self.view_depth == 0 {
            return Err(Invalid::new("view_depth", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[kill_switch]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KillSwitchConfig {
    /// After cancelling every open order, also close every position with reduce-only
    /// market orders.
    pub flatten_on_kill: bool,
    /// On exit (end of --for, Ctrl-C, SIGTERM, quit) cancel every open order.
    pub cancel_on_exit: bool,
    /// How long to wait on exit for the venue to confirm cancels, milliseconds.
    pub exit_grace_ms: u64,
}

impl Default for KillSwitchConfig {
    fn default() -> Self {
        KillSwitchConfig {
            flatten_on_kill: false,
            cancel_on_exit: true,
            exit_grace_ms: 3_000,
        }
    }
}

/// Severity of an alert.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlertLevel {
    Info,
    Warn,
    Critical,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "INFO",
            AlertLevel::Warn => "WARN",
            AlertLevel::Critical => "CRITICAL",
        }
    }
}

/// Something an operator should see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub seq: u64,
    pub ts: Timestamp,
    pub level: AlertLevel,
    /// Who raised it: `risk`, `kill-switch`, `feed`, `S1`, `operator` ...
    pub source: String,
    pub text: String,
    /// How many times the same kind of alert was raised (repeats are folded into one row).
    pub count: u32,
    pub acknowledged: bool,
    /// What repeats fold on, e.g. `refused:cooldown`; the text itself when empty.
    pub kind: String,
}

/// A manual order from the console or the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManualOrder {
    pub instrument: InstrumentId,
    pub side: Side,
    pub kind: OrderKind,
    pub price: Option<Price>,
    pub qty: Qty,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    /// An explicit client id; the engine assigns one when absent.
    pub client_id: Option<ClientOrderId>,
}

/// Operator commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Halt at once: the gate closes, every open order is cancelled, positions are
    /// flattened if configured. Stays halted until [`Command::ReArm`].
    KillSwitch,
    /// Leave a halt (after an explicit confirmation in the console).
    ReArm,
    /// Manual override: hold strategies' new orders; data, cancels, exits go on.
    Pause,
    Resume,
    /// Only reduce-only orders.
    Reduce,
    /// Switch strategy N (0-based) on or off.
    ToggleStrategy(StrategyId),
    SetStrategy(StrategyId, bool),
    Manual(ManualOrder),
    /// Show the risk verdict on a manual order without sending it.
    Preview(ManualOrder),
    /// Forget the preview (the form was closed).
    ClearPreview,
    Cancel(ClientOrderId),
    CancelAll,
    /// Close positions: one instrument or all.
    Flatten(Option<InstrumentId>),
    /// Acknowledge the alerts the operator has seen: those up to this sequence number
    /// (a newer alert that arrived after the screen was drawn stays unacknowledged).
    AcknowledgeAlerts {
        up_to: u64,
    },
    /// Stop: hold new orders and cancel open ones if configured.
    Shutdown,
}

impl Command {
    /// Short name for the audit trail and alerts.
    pub fn name(&self) -> &'static str {
        match self {
            Command::KillSwitch => "kill-switch",
            Command::ReArm => "re-arm",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Reduce => "reduce-only",
            Command::ToggleStrategy(_) => "toggle-strategy",
            Command::SetStrategy(..) => "set-strategy",
            Command::Manual(_) => "manual-order",
            Command::Preview(_) => "preview",
            Command::ClearPreview => "clear-preview",
            Command::Cancel(_) => "cancel",
            Command::CancelAll => "cancel-all",
            Command::Flatten(_) => "flatten",
            Command::AcknowledgeAlerts { .. } => "acknowledge",
            Command::Shutdown => "shutdown",
        }
    }
}

/// One input to the engine.
#[derive(Clone, Debug)]
pub enum Input {
    Market(MarketEvent),
    Exec(ExecReport),
    Command(Command),
    Timer,
}

/// What the engine asks the outside world to do.
#[derive(Debug)]
pub enum Effect {
    /// Send this order to the execution port (which checks the gate once more).
    Submit(RiskApproved<OrderRequest>),
    /// Ask the execution port to cancel.
    Cancel(ClientOrderId),
    /// A new alert, for the log.
    Alert(Alert),
    /// A fill was applied, for the log and the store.
    Fill(Fill),
    /// An order was created or changed state (for the store). Its latest snapshot.
    OrderUpdate(Order),
    /// The position a fill left behind. Always directly follows the [`Effect::Fill`] of
    /// `fill_seq`, so the store commits the two together.
    PositionChanged { fill_seq: u64, position: Position },
    /// A round trip closed (the position went flat or flipped).
    TradeClosed(ClosedTrade),
    /// The trading state changed (a change to `Halted` is the kill-switch latch).
    StateChanged {
        state: TradingState,
        reason: Option<String>,
    },
    /// A strategy was switched on or off.
    StrategyToggled {
        id: StrategyId,
        name: String,
        enabled: bool,
    },
    /// An operator command and its outcome, for the audit log.
    Audit(AuditEntry),
}

/// How far the kill switch has got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillProgress {
    pub started: Timestamp,
    pub cancels_requested: u32,
    pub cancels_confirmed: u32,
    pub flatten_orders: u32,
}

/// Per-strategy bookkeeping the console shows.
#[derive(Clone, Debug, Default)]
struct StrategyStats {
    positions: Vec<Position>,
    orders: u64,
    held: u64,
    refused: u64,
}

/// Everything the engine needs at start.
pub struct EngineSetup {
    pub config: EngineConfig,
    pub kill: KillSwitchConfig,
    pub instruments: Vec<Instrument>,
    pub strategies: Vec<StrategySlot>,
    pub risk: RiskEngine,
    pub gate: TradingGate,
    /// Trading state at start (a restart after a halt comes up `Halted`).
    pub initial_state: TradingState,
    pub start: Timestamp,
}

/// Headline figures of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub events: u64,
    pub orders: u64,
    pub fills: u64,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    pub positions: BTreeMap<String, Decimal>,
    pub trading_state: TradingState,
    pub fill_log_sha256: String,
}

/// The trading engine.
pub struct Engine {
    cfg: EngineConfig,
    kill_cfg: KillSwitchConfig,
    instruments: Vec<Instrument>,
    books: Vec<OrderBook>,
    last_book_update: Vec<Option<Timestamp>>,
    resyncing: Vec<bool>,
    stale_flagged: Vec<bool>,
    last_trade: Vec<Option<TradeTick>>,
    tape: VecDeque<(InstrumentId, TradeTick)>,
    positions: Vec<Position>,
    unrealized: Vec<Decimal>,
    /// Net PnL of the round trip open on each instrument (for consecutive-loss tracking).
    trip_pnl: Vec<Decimal>,
    open_orders: BTreeMap<ClientOrderId, Order>,
    closed_orders: VecDeque<Order>,
    used_ids: HashSet<ClientOrderId>,
    next_order_no: u64,
    strategies: Vec<StrategySlot>,
    strat_stats: Vec<StrategyStats>,
    intents: Vec<Intent>,
    risk: RiskEngine,
    state: TradingState,
    halt_reason: Option<String>,
    shutting_down: bool,
    kill: Option<KillProgress>,
    kill_targets: BTreeSet<ClientOrderId>,
    /// Kill-switch presses the engine has acted on (see [`TradingGate::kills`]).
    kills_seen: u64,
    /// When the halted engine last tried to flatten (retries at most once a second).
    last_flatten_try: Timestamp,
    order_preview: Option<OrderPreview>,
    gate: TradingGate,
    alerts: VecDeque<Alert>,
    alert_seq: u64,
    realized: Decimal,
    fees: Decimal,
    day: i64,
    day_start_equity: Decimal,
    equity_peak: Decimal,
    next_timer: Timestamp,
    now: Timestamp,
    events: u64,
    market_events: u64,
    orders_sent: u64,
    fills: u64,
    fill_hash: Sha256,
    fill_line: String,
    /// The round trip open on each instrument, for closed-trade records.
    trips: Vec<persist::Trip>,
    /// Effects raised outside `process` (by [`Engine::restore`]); emitted first by the
    /// next `process` call.
    pending: Vec<Effect>,
    /// Orders to place again after a restart, once their instrument's book has a mid.
    pending_restore: Vec<OrderRequest>,
}

impl Engine {
    pub fn new(setup: EngineSetup) -> Self {
        let n = setup.instruments.len();
        let strat_stats = setup
            .strategies
            .iter()
            .map(|_| StrategyStats {
                positions: (0..n)
                    .map(|i| Position::new(InstrumentId(i as u16)))
                    .collect(),
                ..StrategyStats::default()
            })
            .collect();
        let halted = setup.initial_state == TradingState::Halted;
        if halted {
            setup.gate.close();
        } else {
            setup.gate.open();
        }
        let mut engine = Engine {
            next_timer: setup.start + Duration::from_millis(setup.config.timer_ms),
            cfg: setup.config,
            kill_cfg: setup.kill,
            books: vec![OrderBook::new(); n],
            last_book_update: vec![None; n],
            resyncing: vec![false; n],
            stale_flagged: vec![false; n],
            last_trade: vec![None; n],
            tape: VecDeque::new(),
            positions: (0..n)
                .map(|i| Position::new(InstrumentId(i as u16)))
                .collect(),
            unrealized: vec![Decimal::ZERO; n],
            trip_pnl: vec![Decimal::ZERO; n],
            instruments: setup.instruments,
            open_orders: BTreeMap::new(),
            closed_orders: VecDeque::new(),
            used_ids: HashSet::new(),
            next_order_no: 0,
            strategies: setup.strategies,
            strat_stats,
            intents: Vec::new(),
            risk: setup.risk,
            state: setup.initial_state,
            halt_reason: None,
            shutting_down: false,
            kill: None,
            kill_targets: BTreeSet::new(),
            kills_seen: setup.gate.kills(),
            last_flatten_try: Timestamp::ZERO,
            order_preview: None,
            gate: setup.gate,
            alerts: VecDeque::new(),
            alert_seq: 0,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            day: setup.start.day(),
            day_start_equity: Decimal::ZERO,
            equity_peak: Decimal::ZERO,
            now: setup.start,
            events: 0,
            market_events: 0,
            orders_sent: 0,
            fills: 0,
            fill_hash: Sha256::new(),
            fill_line: String::with_capacity(160),
            trips: vec![persist::Trip::default(); n],
            pending: Vec::new(),
            pending_restore: Vec::new(),
        };
        if halted {
            engine.halt_reason = Some("restored halted: re-arm to trade".into());
        }
        engine
    }

    // ----- read access -------------------------------------------------------------

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    pub fn book(&self, id: InstrumentId) -> &OrderBook {
        &self.books[id.index()]
    }
    pub fn position(&self, id: InstrumentId) -> &Position {
        &self.positions[id.index()]
    }
    pub fn open_orders(&self) -> &BTreeMap<ClientOrderId, Order> {
        &self.open_orders
    }
    pub fn trading_state(&self) -> TradingState {
        self.state
    }
    pub fn kill_progress(&self) -> Option<&KillProgress> {
        self.kill.as_ref()
    }
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter()
    }
    pub fn gate(&self) -> &TradingGate {
        &self.gate
    }
    pub fn now(&self) -> Timestamp {
        self.now
    }
    pub fn strategy_enabled(&self, id: StrategyId) -> Option<bool> {
        self.strategies.get(id as usize).map(|s| s.enabled)
    }
    /// When the engine next wants a [`Input::Timer`].
    pub fn next_timer(&self) -> Timestamp {
        self.next_timer
    }
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Realized PnL net of fees plus unrealized PnL at the marks.
    pub fn equity(&self) -> Decimal {
        self.realized - self.fees + self.unrealized.iter().copied().sum::<Decimal>()
    }

    /// The run's headline figures.
    pub fn summary(&self) -> Summary {
        Summary {
            events: self.events,
            orders: self.orders_sent,
            fills: self.fills,
            realized_pnl: self.realized,
            fees: self.fees,
            positions: self
                .instruments
                .iter()
                .zip(&self.positions)
                .map(|(i, p)| (i.symbol.clone(), p.qty.normalize()))
                .collect(),
            trading_state: self.state,
            fill_log_sha256: hex::encode(self.fill_hash.clone().finalize()),
        }
    }

    // ----- the core ----------------------------------------------------------------

    /// Process one input at engine time `now`, appending effects to `out`.
    pub fn process(&mut self, now: Timestamp, input: Input, out: &mut Vec<Effect>) {
        if now > self.now {
            self.now = now;
        }
        self.events += 1;
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
        }
        self.roll_day();
        let state_before = self.state;
        let strategies_before = self.strategy_mask();
        match input {
            Input::Market(ev) => self.on_market(ev, out),
            Input::Exec(report) => self.on_exec(report, out),
            Input::Command(cmd) => {
                let audit = persist::audited(&cmd);
                let from = out.len();
                self.on_command(cmd, out);
                if let Some(command) = audit {
                    self.audit(command, from, out);
                }
            }
            Input::Timer => self.on_timer(out),
        }
        self.note_changes(state_before, strategies_before, out);
    }

    fn roll_day(&mut self) {
        let day = self.now.day();
        if day != self.day {
            self.day = day;
            self.day_start_equity = self.equity();
        }
    }

    fn on_market(&mut self, ev: MarketEvent, out: &mut Vec<Effect>) {
        let i = ev.instrument.index();
        if i >= self.books.len() {
            return;
        }
        self.market_events += 1;
        match ev.kind {
            MarketEventKind::Snapshot { bids, asks } => {
                self.books[i].apply_snapshot(bids, asks);
                self.book_changed(ev.instrument, ev.ts, out);
                if self.resyncing[i] {
                    self.resyncing[i] = false;
                    let text = format!(
                        "{}: book restored from snapshot",
                        self.instruments[i].symbol
                    );
                    self.alert(AlertLevel::Info, "feed", text, out);
                }
            }
            MarketEventKind::Level { side, price, qty } => {
                self.books[i].update(side, price, qty);
                self.book_changed(ev.instrument, ev.ts, out);
            }
            MarketEventKind::Trade(t) => {
                self.last_trade[i] = Some(t);
                self.tape.push_back((ev.instrument, t));
                while self.tape.len() > self.cfg.tape_len {
                    self.tape.pop_front();
                }
                self.advance_queues(ev.instrument, &t);
                self.run_strategies(out, |s, ctx, buf| s.on_trade(ctx, ev.instrument, &t, buf));
            }
            MarketEventKind::Resyncing { reason } => {
                self.resyncing[i] = true;
                let text = format!("{}: RESYNCING ({reason})", self.instruments[i].symbol);
                self.alert(AlertLevel::Warn, "feed", text, out);
            }
        }
    }

    fn book_changed(&mut self, inst: InstrumentId, ts: Timestamp, out: &mut Vec<Effect>) {
        let i = inst.index();
        self.last_book_update[i] = Some(ts);
        if self.stale_flagged[i] {
            self.stale_flagged[i] = false;
            let text = format!("{}: book updates resumed", self.instruments[i].symbol);
            self.alert(AlertLevel::Info, "feed", text, out);
        }
        if !self.positions[i].is_flat() {
            self.remark(i);
            self.check_loss_limits(out);
        }
        self.run_strategies(out, |s, ctx, buf| {
            if s.instrument().is_none_or(|x| x == inst) {
                s.on_book(ctx, inst, buf)
            }
        });
    }

    /// Our resting orders' estimated queue position: trades at the level consume the size
    /// ahead (the paper venue's own estimate is authoritative for fills).
    fn advance_queues(&mut self, inst: InstrumentId, t: &TradeTick) {
        for o in self.open_orders.values_mut() {
            if o.req.instrument == inst
                && o.req.side != t.aggressor
                && o.req.price == Some(t.price)
                && let Some(ahead) = o.queue_ahead.as_mut()
            {
                *ahead = ahead.saturating_sub(t.qty);
            }
        }
    }

    fn remark(&mut self, i: usize) {
        if self.positions[i].is_flat() {
            self.unrealized[i] = Decimal::ZERO;
        } else if let Some(mid) = self.books[i].mid_ticks() {
            let mark = mid * self.instruments[i].tick_size;
            self.unrealized[i] = self.positions[i].unrealized(mark);
        }
    }

    fn day_pnl(&self) -> Decimal {
        self.equity() - self.day_start_equity
    }

    /// Equity peak minus equity now (never negative).
    fn drawdown(&self) -> Decimal {
        (self.equity_peak - self.equity()).max(Decimal::ZERO)
    }

    fn update_peak(&mut self) {
        let eq = self.equity();
        if eq > self.equity_peak {
            self.equity_peak = eq;
        }
    }

    fn check_loss_limits(&mut self, out: &mut Vec<Effect>) {
        // The peak follows equity in every state, so drawdown never depends on how often
        // a view was published.
        self.update_peak();
        if self.state == TradingState::Halted {
            return;
        }
        if let Some(reason) = self.risk.halt_reason(self.day_pnl(), self.drawdown()) {
            self.halt(format!("risk halt: {reason}"), "risk", out);
        }
    }

    fn on_timer(&mut self, out: &mut Vec<Effect>) {
        let step = Duration::from_millis(self.cfg.timer_ms);
        while self.next_timer <= self.now {
            self.next_timer = self.next_timer + step;
        }
        let stale = Duration::from_millis(self.risk.limits().stale_data_ms);
        if !stale.is_zero() {
            for i in 0..self.instruments.len() {
                let is_stale = self.last_book_update[i].is_none_or(|t| self.now.since(t) > stale);
                if is_stale && !self.stale_flagged[i] && self.last_book_update[i].is_some() {
                    self.stale_flagged[i] = true;
                    let text = format!(
                        "{}: no book update for {} ms: no new orders",
                        self.instruments[i].symbol,
                        stale.as_millis()
                    );
                    self.alert(AlertLevel::Warn, "feed", text, out);
                }
            }
        }
        self.check_loss_limits(out);
        if self.state == TradingState::Halted {
            self.retry_halt_work(out);
        }
        if !self.pending_restore.is_empty() {
            self.place_restored(out);
        }
        self.run_strategies(out, |s, ctx, buf| s.on_timer(ctx, buf));
    }

    // ----- strategies -------------------------------------------------------------

    /// Call every enabled strategy with `f`, then act on what they asked for.
    fn run_strategies<F>(&mut self, out: &mut Vec<Effect>, mut f: F)
    where
        F: FnMut(&mut dyn crate::strategy::Strategy, &StrategyCtx<'_>, &mut Vec<Intent>),
    {
        let mut buf = std::mem::take(&mut self.intents);
        for s in 0..self.strategies.len() {
            if !self.strategies[s].enabled {
                continue;
            }
            let ctx = StrategyCtx {
                now: self.now,
                id: s as StrategyId,
                instruments: &self.instruments,
                books: &self.books,
                positions: &self.positions,
                open_orders: &self.open_orders,
                trading_state: self.state,
            };
            f(self.strategies[s].strategy.as_mut(), &ctx, &mut buf);
            if !buf.is_empty() {
                for intent in buf.drain(..) {
                    self.on_intent(s as StrategyId, intent, out);
                }
            }
        }
        self.intents = buf;
    }

    fn on_intent(&mut self, s: StrategyId, intent: Intent, out: &mut Vec<Effect>) {
        match intent {
            Intent::Place(oi) => {
                if !self.may_place(oi.reduce_only) || self.shutting_down {
                    self.strat_stats[s as usize].held += 1;
                    return;
                }
                let req = self.request_from_intent(Owner::Strategy(s), oi);
                if self.place(req, out).is_some() {
                    self.strat_stats[s as usize].orders += 1;
                } else {
                    self.strat_stats[s as usize].refused += 1;
                }
            }
            Intent::Cancel(id) => {
                let owned = self
                    .open_orders
                    .get(&id)
                    .is_some_and(|o| o.req.owner == Owner::Strategy(s));
                if owned {
                    self.request_cancel(&id, out);
                }
            }
            Intent::CancelAll => {
                self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
            }
        }
    }

    /// Whether a strategy order may be placed in the current trading state.
    fn may_place(&self, reduce_only: bool) -> bool {
        match self.state {
            TradingState::Active => true,
            TradingState::Paused | TradingState::Reducing | TradingState::Halted => reduce_only,
        }
    }

    /// Whether a manual order may be placed: PAUSED holds only the strategies, so a person
    /// can still trade by hand (to hedge, say); REDUCING and HALTED allow exits only.
    fn may_place_manual(&self, reduce_only: bool) -> bool {
        self.state == TradingState::Paused || self.may_place(reduce_only)
    }

    fn next_id(&mut self, owner: Owner) -> ClientOrderId {
        self.next_order_no += 1;
        let id = match owner {
            Owner::Strategy(s) => format!("S{}-{}", u16::from(s) + 1, self.next_order_no),
            Owner::Manual => format!("M-{}", self.next_order_no),
            Owner::System => format!("X-{}", self.next_order_no),
        };
        ClientOrderId(id)
    }

    fn request_from_intent(&mut self, owner: Owner, oi: OrderIntent) -> OrderRequest {
        OrderRequest {
            client_id: self.next_id(owner),
            instrument: oi.instrument,
            side: oi.side,
            kind: oi.kind,
            price: oi.price,
            qty: oi.qty,
            tif: oi.tif,
            reduce_only: oi.reduce_only,
            owner,
            tag: oi.tag,
        }
    }

    /// The numbers the risk engine needs about an order's instrument and the account.
    fn risk_figures(&self, req: &OrderRequest) -> RiskFigures {
        let i = req.instrument.index();
        let inst = &self.instruments[i];
        let (mut open_buy, mut open_sell) = (Decimal::ZERO, Decimal::ZERO);
        // What a new reduce-only order may still reduce: the position less the reduce-only
        // orders already working on it, so two exits never close one position twice.
        // Exits whose cancel is in flight do not count: the venue caps every reduce-only
        // order at its own position, so even if one still fills the two cannot flip it.
        let mut reducible = self.positions[i].qty;
        for o in self.open_orders.values() {
            if o.req.instrument != req.instrument || (o.req.reduce_only && o.cancel_pending) {
                continue;
            }
            let rem = inst.qty(o.remaining());
            match (o.req.reduce_only, o.req.side) {
                (false, Side::Buy) => open_buy += rem,
                (false, Side::Sell) => open_sell += rem,
                (true, Side::Buy) => reducible += rem,
                (true, Side::Sell) => reducible -= rem,
            }
        }
        RiskFigures {
            position: if req.reduce_only {
                reducible
            } else {
                self.positions[i].qty
            },
            open_buy,
            open_sell,
            day_pnl: self.day_pnl(),
            drawdown: self.drawdown(),
        }
    }

    /// The risk verdict on a manual order without sending it (the console's order form).
    fn preview(&mut self, m: ManualOrder) {
        let verdict = if m.instrument.index() >= self.instruments.len() {
            Err("unknown instrument".to_string())
        } else if !self.may_place_manual(m.reduce_only) {
            Err(format!("{} allows reduce-only orders only", self.state))
        } else {
            let req = manual_request(&m, ClientOrderId::new("preview"));
            let figures = self.risk_figures(&req);
            let ctx = risk_ctx!(self, figures, &req);
            self.risk.evaluate(&req, &ctx).map_err(|r| r.to_string())
        };
        self.order_preview = Some(OrderPreview { order: m, verdict });
    }

    /// Run an order through risk; on approval record it and emit it. Returns its id.
    fn place(&mut self, req: OrderRequest, out: &mut Vec<Effect>) -> Option<ClientOrderId> {
        let i = req.instrument.index();
        if i >= self.instruments.len() {
            let text = format!("order {} refused: unknown instrument", req.client_id);
            self.alert(AlertLevel::Warn, "risk", text, out);
            return None;
        }
        if self.resyncing[i] && !req.reduce_only {
            // The book is not to be trusted until a fresh snapshot: no new exposure on it.
            let text = format!(
                "refused {} {} {}: {} is RESYNCING, no new orders until a fresh snapshot",
                req.side,
                self.instruments[i].fmt_qty(req.qty),
                self.instruments[i].symbol,
                self.instruments[i].symbol
            );
            let source = format!("risk/{}", req.owner);
            self.alert_kind(AlertLevel::Warn, &source, "refused:resyncing", text, out);
            return None;
        }
        let figures = self.risk_figures(&req);
        let ctx = risk_ctx!(self, figures, &req);
        match self.risk.check(req, &ctx) {
            Ok(approved) => {
                let id = approved.client_id.clone();
                self.used_ids.insert(id.clone());
                self.open_orders
                    .insert(id.clone(), Order::new((*approved).clone(), self.now));
                self.orders_sent += 1;
                if let Some(o) = self.open_orders.get(&id) {
                    out.push(Effect::OrderUpdate(o.clone()));
                }
                out.push(Effect::Submit(approved));
                Some(id)
            }
            Err(refused) => {
                let r = &refused.req;
                let inst = &self.instruments[i];
                let price = r.price.map(|p| format!(" @ {}", inst.fmt_price(p)));
                let text = format!(
                    "refused {} {} {}{}: {}",
                    r.side,
                    inst.fmt_qty(r.qty),
                    inst.symbol,
                    price.unwrap_or_default(),
                    refused.reason
                );
                let source = format!("risk/{}", r.owner);
                let kind = format!("refused:{}", refused.reason.code());
                self.alert_kind(AlertLevel::Warn, &source, &kind, text, out);
                None
            }
        }
    }

    fn request_cancel(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        if let Some(o) = self.open_orders.get_mut(id)
            && !o.cancel_pending
        {
            o.cancel_pending = true;
            out.push(Effect::Cancel(id.clone()));
        }
    }

    fn cancel_where(&mut self, pred: impl Fn(&Order) -> bool, out: &mut Vec<Effect>) -> u32 {
        let ids: Vec<ClientOrderId> = self
            .open_orders
            .values()
            .filter(|o| pred(o))
            .map(|o| o.id().clone())
            .collect();
        for id in &ids {
            self.request_cancel(id, out);
        }
        ids.len() as u32
    }

    // ----- execution reports ------------------------------------------------------

    fn on_exec(&mut self, report: ExecReport, out: &mut Vec<Effect>) {
        match report {
            ExecReport::Accepted {
                id, queue_ahead, ..
            } => {
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let acked =
                        o.status == crate::domain::OrderStatus::New && o.on_ack(self.now).is_ok();
                    o.queue_ahead = queue_ahead;
                    if acked {
                        out.push(Effect::OrderUpdate(o.clone()));
                    }
                }
            }
            ExecReport::Rejected { id, reason, .. } => {
                let now = self.now;
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let result = o.on_reject(&reason, now);
                    out.push(Effect::OrderUpdate(o.clone()));
                    if let Err(e) = result {
                        let text = e.to_string();
                        self.alert(AlertLevel::Warn, "venue", text, out);
                    }
                    let text = format!("order {id} rejected by venue: {reason}");
                    self.alert(AlertLevel::Warn, "venue", text, out);
                    self.close_order(&id, out);
                }
            }
            ExecReport::Cancelled { id, .. } => {
                let now = self.now;
                if let Some(o) = self.open_orders.get_mut(&id) {
                    let _ = o.on_cancel(now);
                    out.push(Effect::OrderUpdate(o.clone()));
                    self.close_order(&id, out);
                }
            }
            ExecReport::CancelRejected { id, reason, .. } => {
                if let Some(o) = self.open_orders.get_mut(&id) {
                    o.cancel_pending = false;
                    if self.kill_targets.contains(&id) {
                        let text = format!(
                            "kill switch: cancel of {id} refused by the venue ({reason}); retrying"
                        );
                        self.alert(AlertLevel::Critical, "kill-switch", text, out);
                    } else {
                        let text = format!("cancel of {id} refused: {reason}");
                        self.alert(AlertLevel::Warn, "venue", text, out);
                    }
                }
            }
            ExecReport::Filled(fill) => self.on_fill(fill, out),
        }
    }

    fn on_fill(&mut self, fill: Fill, out: &mut Vec<Effect>) {
        let i = fill.instrument.index();
        if !fill.qty.is_positive() {
            let text = format!(
                "fill {} for {} with size {} ignored",
                fill.seq, fill.client_id, fill.qty.0
            );
            self.alert(AlertLevel::Critical, "venue", text, out);
            return;
        }
        if i >= self.instruments.len() {
            let text = format!("fill {} for an unknown instrument ignored", fill.seq);
            self.alert(AlertLevel::Critical, "venue", text, out);
            return;
        }
        let now = self.now;
        let mut owner = None;
        let mut tag = OrderTag::Manual;
        if let Some(o) = self.open_orders.get_mut(&fill.client_id) {
            owner = Some(o.req.owner);
            tag = o.req.tag;
            match o.on_fill(fill.price, fill.qty, now) {
                Ok(()) => out.push(Effect::OrderUpdate(o.clone())),
                Err(e) => {
                    let text = e.to_string();
                    self.alert(AlertLevel::Critical, "venue", text, out);
                }
            }
        } else {
            let text = format!(
                "fill for unknown order {} applied to the position",
                fill.client_id
            );
            self.alert(AlertLevel::Critical, "venue", text, out);
        }
        let inst = &self.instruments[i];
        let price = inst.price(fill.price);
        let qty = inst.qty(fill.qty);
        let before = self.positions[i].clone();
        let effect = self.positions[i].apply_fill(fill.side, price, qty, fill.fee);
        let closed_trade = self.track_trip(i, &before, &fill, price, &effect, owner, tag);
        if let Some(Owner::Strategy(s)) = owner
            && let Some(st) = self.strat_stats.get_mut(s as usize)
        {
            st.positions[i].apply_fill(fill.side, price, qty, fill.fee);
        }
        self.realized += effect.realized;
        self.fees += fill.fee;
        self.trip_pnl[i] += effect.realized - fill.fee;
        if effect.round_trip_closed {
            let pnl = self.trip_pnl[i];
            self.risk.record_round_trip(pnl, now);
            self.trip_pnl[i] = Decimal::ZERO;
        }
        self.remark(i);
        self.fills += 1;
        self.hash_fill(&fill);
        out.push(Effect::Fill(fill.clone()));
        out.push(Effect::PositionChanged {
            fill_seq: fill.seq,
            position: self.positions[i].clone(),
        });
        if let Some(t) = closed_trade {
            out.push(Effect::TradeClosed(t));
        }
        if let Some(Owner::Strategy(s)) = owner {
            self.call_strategy(s, out, |st, ctx, buf| st.on_fill(ctx, &fill, buf));
        }
        let closed = self
            .open_orders
            .get(&fill.client_id)
            .is_some_and(|o| !o.is_open());
        if closed {
            self.close_order(&fill.client_id, out);
        }
        self.check_loss_limits(out);
    }

    fn hash_fill(&mut self, f: &Fill) {
        let inst = &self.instruments[f.instrument.index()];
        self.fill_line.clear();
        let _ = writeln!(
            self.fill_line,
            "{}|{}|{}|{}|{}|{}|{}|{}|{:?}",
            f.seq,
            f.ts.0,
            f.client_id,
            inst.symbol,
            f.side,
            inst.price(f.price),
            inst.qty(f.qty),
            f.fee,
            f.liquidity
        );
        self.fill_hash.update(self.fill_line.as_bytes());
    }

    /// Move a terminal order out of the open set, tell its strategy, count kill progress.
    fn close_order(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        let Some(order) = self.open_orders.remove(id) else {
            return;
        };
        if self.kill_targets.remove(id)
            && let Some(k) = self.kill.as_mut()
        {
            k.cancels_confirmed += 1;
            if k.cancels_confirmed == k.cancels_requested {
                let text = format!(
                    "kill switch: all {} cancels confirmed by the venue",
                    k.cancels_requested
                );
                self.alert(AlertLevel::Info, "kill-switch", text, out);
            }
        }
        if let Owner::Strategy(s) = order.req.owner {
            self.call_strategy(s, out, |st, ctx, buf| st.on_order_closed(ctx, &order, buf));
        }
        self.closed_orders.push_back(order);
        while self.closed_orders.len() > self.cfg.closed_orders_len {
            self.closed_orders.pop_front();
        }
    }

    fn call_strategy<F>(&mut self, s: StrategyId, out: &mut Vec<Effect>, f: F)
    where
        F: FnOnce(&mut dyn crate::strategy::Strategy, &StrategyCtx<'_>, &mut Vec<Intent>),
    {
        let si = s as usize;
        if si >= self.strategies.len() || !self.strategies[si].enabled {
            return;
        }
        let mut buf = std::mem::take(&mut self.intents);
        let ctx = StrategyCtx {
            now: self.now,
            id: s,
            instruments: &self.instruments,
            books: &self.books,
            positions: &self.positions,
            open_orders: &self.open_orders,
            trading_state: self.state,
        };
        f(self.strategies[si].strategy.as_mut(), &ctx, &mut buf);
        for intent in buf.drain(..) {
            self.on_intent(s, intent, out);
        }
        self.intents = buf;
    }

    // ----- commands -----------------------------------------------------------------

    fn on_command(&mut self, cmd: Command, out: &mut Vec<Effect>) {
        match cmd {
            Command::KillSwitch => {
                self.kills_seen = self.gate.kills();
                self.halt("kill switch pressed".into(), "operator", out)
            }
            Command::ReArm if self.gate.kills() != self.kills_seen => {
                // A K pressed after the R: the kill is still on its way; it wins.
                self.alert(
                    AlertLevel::Warn,
                    "operator",
                    "re-arm refused: a kill switch press is still on its way".into(),
                    out,
                );
            }
            Command::ReArm => {
                if self.state == TradingState::Halted {
                    self.state = TradingState::Active;
                    self.halt_reason = None;
                    self.kill = None;
                    self.kill_targets.clear();
                    self.gate.open();
                    self.alert(AlertLevel::Info, "operator", "re-armed: ACTIVE".into(), out);
                } else {
                    let text = format!("re-arm ignored: not halted ({})", self.state);
                    self.alert(AlertLevel::Info, "operator", text, out);
                }
            }
            Command::Pause => self.set_state_from(TradingState::Active, TradingState::Paused, out),
            Command::Resume => match self.state {
                TradingState::Paused | TradingState::Reducing => {
                    self.state = TradingState::Active;
                    self.alert(AlertLevel::Info, "operator", "resumed: ACTIVE".into(), out);
                }
                TradingState::Halted => self.alert(
                    AlertLevel::Warn,
                    "operator",
                    "resume refused: HALTED, re-arm first".into(),
                    out,
                ),
                TradingState::Active => {}
            },
            Command::Reduce => {
                if matches!(self.state, TradingState::Active | TradingState::Paused) {
                    self.state = TradingState::Reducing;
                    self.alert(
                        AlertLevel::Info,
                        "operator",
                        "REDUCING: reduce-only orders".into(),
                        out,
                    );
                }
            }
            Command::ToggleStrategy(s) => {
                if let Some(on) = self.strategy_enabled(s) {
                    self.set_strategy(s, !on, out);
                }
            }
            Command::SetStrategy(s, on) => self.set_strategy(s, on, out),
            Command::Manual(m) => {
                self.order_preview = None;
                self.manual_order(m, out)
            }
            Command::Preview(m) => self.preview(m),
            Command::ClearPreview => self.order_preview = None,
            Command::Cancel(id) => {
                if self.open_orders.contains_key(&id) {
                    self.request_cancel(&id, out);
                } else {
                    let text = format!("cancel {id}: no such open order");
                    self.alert(AlertLevel::Info, "operator", text, out);
                }
            }
            Command::CancelAll => {
                let n = self.cancel_where(|_| true, out);
                self.alert(
                    AlertLevel::Info,
                    "operator",
                    format!("cancel all: {n} orders"),
                    out,
                );
            }
            Command::Flatten(inst) => {
                let n = self.flatten(inst, OrderTag::Flatten, out);
                self.alert(
                    AlertLevel::Info,
                    "operator",
                    format!("flatten: {n} orders sent"),
                    out,
                );
            }
            Command::AcknowledgeAlerts { up_to } => {
                for a in self.alerts.iter_mut().filter(|a| a.seq <= up_to) {
                    a.acknowledged = true;
                }
            }
            Command::Shutdown => {
                self.shutting_down = true;
                if self.kill_cfg.cancel_on_exit {
                    let n = self.cancel_where(|_| true, out);
                    if n > 0 {
                        let text = format!("shutdown: cancelling {n} open orders");
                        self.alert(AlertLevel::Info, "engine", text, out);
                    }
                }
            }
        }
    }

    fn set_state_from(&mut self, from: TradingState, to: TradingState, out: &mut Vec<Effect>) {
        if self.state == from {
            self.state = to;
            let text = match to {
                TradingState::Paused => "PAUSED: strategies' new orders held".to_string(),
                other => other.to_string(),
            };
            self.alert(AlertLevel::Info, "operator", text, out);
        }
    }

    fn set_strategy(&mut self, s: StrategyId, on: bool, out: &mut Vec<Effect>) {
        let si = s as usize;
        let Some(slot) = self.strategies.get_mut(si) else {
            let text = format!("no strategy {}", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
            return;
        };
        if slot.enabled == on {
            return;
        }
        slot.enabled = on;
        let name = slot.strategy.name().to_string();
        if !on {
            slot.strategy.on_disable();
            let n = self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
            let text = format!("S{} {name} off: cancelling {n} orders", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
        } else {
            let text = format!("S{} {name} on", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
        }
    }

    fn manual_order(&mut self, m: ManualOrder, out: &mut Vec<Effect>) {
        if !self.may_place_manual(m.reduce_only) {
            let text = format!(
                "manual order refused: {} allows reduce-only orders only",
                self.state
            );
            self.alert(AlertLevel::Warn, "operator", text, out);
            return;
        }
        let client_id = match m.client_id.clone() {
            Some(id) => id,
            None => self.next_id(Owner::Manual),
        };
        let req = manual_request(&m, client_id);
        if let Some(id) = self.place(req, out) {
            self.alert(
                AlertLevel::Info,
                "operator",
                format!("manual order {id} sent"),
                out,
            );
        }
    }

    /// Send reduce-only market orders closing positions; cancels the instrument's open
    /// orders first. Returns the number of closing orders sent.
    fn flatten(
        &mut self,
        which: Option<InstrumentId>,
        tag: OrderTag,
        out: &mut Vec<Effect>,
    ) -> u32 {
        let mut sent = 0;
        for i in 0..self.instruments.len() {
            let id = InstrumentId(i as u16);
            if which.is_some_and(|w| w != id) {
                continue;
            }
            // Everything else on the instrument goes, strategies' exits included: the
            // flatten closes the whole position itself.
            self.cancel_where(|o| o.req.instrument == id && !is_closing_order(o), out);
            let pos = self.positions[i].qty;
            if pos.is_zero() {
                continue;
            }
            // Skip when our own closing orders for this instrument are already working.
            let working = self
                .open_orders
                .values()
                .any(|o| o.req.instrument == id && is_closing_order(o) && !o.cancel_pending);
            if working {
                continue;
            }
            let qty = self.instruments[i].qty_floor(pos.abs());
            if !qty.is_positive() {
                continue;
            }
            let side = if pos.is_sign_positive() {
                Side::Sell
            } else {
                Side::Buy
            };
            let req = OrderRequest {
                client_id: self.next_id(Owner::System),
                instrument: id,
                side,
                kind: OrderKind::Market,
                price: None,
                qty,
                tif: TimeInForce::Ioc,
                reduce_only: true,
                owner: Owner::System,
                tag,
            };
            if self.place(req, out).is_some() {
                sent += 1;
            }
        }
        sent
    }

    /// While halted: re-send cancels the venue refused or lost, and (with
    /// `flatten_on_kill`) try again to close positions an IOC exit left open.
    fn retry_halt_work(&mut self, out: &mut Vec<Effect>) {
        let stuck: Vec<ClientOrderId> = self
            .kill_targets
            .iter()
            .filter(|id| self.open_orders.get(*id).is_some_and(|o| !o.cancel_pending))
            .cloned()
            .collect();
        for id in &stuck {
            self.request_cancel(id, out);
        }
        let open_position = self.positions.iter().any(|p| !p.is_flat());
        if self.kill_cfg.flatten_on_kill
            && self.kill.is_some()
            && open_position
            && self.now.since(self.last_flatten_try) >= Duration::from_secs(1)
        {
            self.last_flatten_try = self.now;
            let n = self.flatten(None, OrderTag::KillSwitch, out);
            if let Some(k) = self.kill.as_mut() {
                k.flatten_orders += n;
            }
        }
    }

    /// Halt: close the gate first, then cancel everything and flatten if configured.
    fn halt(&mut self, reason: String, source: &str, out: &mut Vec<Effect>) {
        self.gate.close();
        let first = self.state != TradingState::Halted;
        self.state = TradingState::Halted;
        self.halt_reason = Some(reason.clone());
        // Every order is cancelled except the engine's own closing orders (a flatten in
        // flight must be allowed to get the position out).
        let ids: Vec<ClientOrderId> = self
            .open_orders
            .values()
            .filter(|o| !is_closing_order(o))
            .map(|o| o.id().clone())
            .collect();
        let progress = self.kill.get_or_insert_with(|| KillProgress {
            started: self.now,
            ..KillProgress::default()
        });
        for id in &ids {
            if self.kill_targets.insert(id.clone()) {
                progress.cancels_requested += 1;
            }
        }
        for id in &ids {
            if let Some(o) = self.open_orders.get_mut(id) {
                // A halt re-sends cancels even if one is pending: the venue may have lost it.
                o.cancel_pending = true;
                out.push(Effect::Cancel(id.clone()));
            }
        }
        let flat = if self.kill_cfg.flatten_on_kill {
            self.last_flatten_try = self.now;
            self.flatten(None, OrderTag::KillSwitch, out)
        } else {
            0
        };
        if let Some(k) = self.kill.as_mut() {
            k.flatten_orders += flat;
        }
        let text = format!(
            "HALTED: {reason}; cancelling {} open orders{}",
            ids.len(),
            if flat > 0 {
                format!(", {flat} flatten orders")
            } else {
                String::new()
            }
        );
        let level = if first {
            AlertLevel::Critical
        } else {
            AlertLevel::Warn
        };
        self.alert(level, source, text, out);
    }

    // ----- alerts -----------------------------------------------------------------

    fn alert(&mut self, level: AlertLevel, source: &str, text: String, out: &mut Vec<Effect>) {
        self.alert_kind(level, source, "", text, out);
    }

    /// Raise an alert. A repeat of a recent unacknowledged alert of the same source, level
    /// and kind is folded into it (count + 1, newest text) so a refusal storm cannot bury
    /// everything else.
    fn alert_kind(
        &mut self,
        level: AlertLevel,
        source: &str,
        kind: &str,
        text: String,
        out: &mut Vec<Effect>,
    ) {
        const FOLD_WINDOW: Duration = Duration::from_secs(60);
        let now = self.now;
        let kind = if kind.is_empty() { text.as_str() } else { kind };
        if let Some(a) = self.alerts.iter_mut().rev().take(16).find(|a| {
            !a.acknowledged
                && a.level == level
                && a.source == source
                && a.kind == kind
                && now.since(a.ts) <= FOLD_WINDOW
        }) {
            a.count += 1;
            a.ts = now;
            a.text = text;
            if level == AlertLevel::Critical {
                // A critical repeat must ring again: it gets a fresh sequence number.
                self.alert_seq += 1;
                a.seq = self.alert_seq;
            }
            if level == AlertLevel::Critical || a.count.is_power_of_two() {
                out.push(Effect::Alert(a.clone()));
            }
            return;
        }
        let kind = kind.to_string();
        self.alert_seq += 1;
        let alert = Alert {
            seq: self.alert_seq,
            ts: self.now,
            level,
            source: source.to_string(),
            text,
            count: 1,
            acknowledged: false,
            kind,
        };
        out.push(Effect::Alert(alert.clone()));
        self.alerts.push_back(alert);
        while self.alerts.len() > self.cfg.alerts_len {
            self.alerts.pop_front();
        }
    }
}
