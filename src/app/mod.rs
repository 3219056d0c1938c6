//! The console's state: a replica of the engine's published view plus UI state (focus,
//! selection, popups, theme, the equity history). Pure and synchronous: keys go in,
//! [`AppEffect`]s come out; no I/O, no clocks, no channels. The event loop (outside this
//! module) feeds it views and keys, performs the effects and has it drawn. The renderer's
//! theme and the store's report are type parameters: the state holds them without
//! importing the renderer or the store (the renderer names the concrete type it draws).

pub mod config;
pub mod flatten;
pub mod keymap;
mod keys;
pub mod ladder;
mod order_form;
pub mod strategies;
mod types;

pub use config::{ConsoleConfig, OnHangup};

/// An attached console that receives no new view from the engine for this long says
/// ENGINE NOT RESPONDING (the engine publishes several times a second, even when idle or
/// paused).
pub const ENGINE_SILENCE: std::time::Duration = std::time::Duration::from_secs(2);
pub use flatten::FlattenLine;
pub use keymap::{Action, Keymap, KeymapConfig};
pub use order_form::{Check, FormField, ModifyTarget, OrderForm};
pub use types::{Confirm, Mode, Pane, Popup, REPLAY_SPEEDS, ReplayClock, ReportView, ThemeCycle};

use crate::domain::{Instrument, InstrumentId, Order, OrderBook, Qty, Side, TakeCost, Timestamp};
use crate::engine::view::{EngineView, MarketView};
use crate::engine::{AlertLevel, Command};
use crate::pace::{RunControl, Speed};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// What the event loop must do for the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppEffect {
    /// Send this command to the engine (`EngineHandle::send`).
    Engine(Command),
    /// The kill switch: call `EngineHandle::kill()`, which closes the trading gate before
    /// the command travels.
    Kill,
    /// Leave the console (the loop then shuts the engine down as configured).
    Quit,
    /// Ring the terminal bell (write BEL).
    Bell,
    /// A replay control for the runner (`EngineHandle::control`).
    Replay(RunControl),
    /// Compute a fresh PnL report from the store off the console and engine threads, then
    /// hand it back with [`App::set_report`].
    RequestReport,
    /// Write these strategies into the config file (`w` in the strategies view), off the
    /// console and engine threads; hand the outcome back with [`App::config_written`].
    WriteConfig(Vec<strategies::SavedStrategy>),
}

/// Whether this console runs its engine, or is attached to one over the control socket
/// (`pit attach`): then `q` detaches (the engine goes on) and the status bar says so.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Attached {
    /// The engine's own console.
    #[default]
    No,
    /// `pit attach`: an operator's console.
    Admin,
    /// `pit attach --view`: the engine refuses its commands.
    Viewer,
}

/// The console's state, holding a theme `T` (the renderer's) and the last report `R` (the
/// store's) for the renderer.
pub struct App<T, R> {
    view: Arc<EngineView>,
    /// What the run is connected to.
    pub mode: Mode,
    /// Replays only: the clock's pause state and speed.
    replay: Option<ReplayClock>,
    /// A replay has reached the end of its recording: the last screen stays until `q`.
    replay_ended: bool,
    theme: T,
    /// Themes `t` cycles through; the built-ins unless the loop sets others.
    theme_cycle: Vec<T>,
    keymap: Keymap,
    book_levels: usize,
    equity_cap: usize,
    equity_every: Duration,
    equity: VecDeque<(Timestamp, Decimal)>,
    focus: Pane,
    bottom: Pane,
    instrument: usize,
    order_sel: usize,
    order_sel_id: Option<String>,
    alert_scroll: usize,
    /// Fills scrolled past in the fills pane (newest first).
    fill_scroll: usize,
    /// Orders scrolled past in the order-history view (newest first).
    history_scroll: usize,
    /// Help rows scrolled past (a short terminal shows the help a part at a time).
    help_scroll: usize,
    /// How far the help can scroll at the size last drawn (the renderer sets it).
    help_max_scroll: std::cell::Cell<usize>,
    popup: Option<Popup>,
    report: ReportView<R>,
    /// How far the report's tables can scroll at the size last drawn (the renderer sets
    /// it, as ratatui's `ListState` keeps its offset), so `j` stops at the bottom.
    report_max_scroll: std::cell::Cell<usize>,
    belled_seq: Option<u64>,
    pending: Vec<AppEffect>,
    /// The risk limits the order form's own checks use (all off until the loop sets
    /// them; the engine's verdict applies its own in any case).
    limits: crate::engine::risk::RiskLimits,
    engine_lag: Duration,
    frame_time: Duration,
    /// No new view from the engine for a while (the console's loop decides).
    engine_not_responding: bool,
    attached: Attached,
    flash: Option<String>,
    quit: bool,
    /// The price ladder (`L`): shown in place of the book.
    ladder: ladder::Ladder,
    /// The ladder's rows at the size last drawn (the renderer sets it).
    ladder_height: std::cell::Cell<usize>,
}

impl<T, R> App<T, R> {
    pub fn new(cfg: &ConsoleConfig, theme: T, view: Arc<EngineView>) -> Self {
        let (keymap, flash) = match Keymap::from_config(&cfg.keys) {
            Ok(k) => (k, None),
            Err(e) => (
                Keymap::default(),
                Some(format!("keymap refused, defaults in use: {e}")),
            ),
        };
        let mut app = Self {
            view: Arc::new(EngineView::default()),
            mode: Mode::Sim,
            replay: None,
            replay_ended: false,
            theme,
            theme_cycle: Vec::new(),
            keymap,
            book_levels: cfg.book_levels.max(1),
            equity_cap: cfg.equity_samples.max(2),
            equity_every: Duration::from_millis(cfg.equity_sample_ms.max(1)),
            equity: VecDeque::new(),
            focus: Pane::Book,
            bottom: Pane::Orders,
            instrument: 0,
            order_sel: 0,
            order_sel_id: None,
            alert_scroll: 0,
            fill_scroll: 0,
            history_scroll: 0,
            help_scroll: 0,
            help_max_scroll: std::cell::Cell::new(0),
            popup: None,
            report: ReportView::default(),
            report_max_scroll: std::cell::Cell::new(usize::MAX),
            belled_seq: None,
            pending: Vec::new(),
            limits: crate::engine::risk::RiskLimits::off(),
            engine_lag: Duration::ZERO,
            frame_time: Duration::ZERO,
            engine_not_responding: false,
            attached: Attached::No,
            flash,
            quit: false,
            ladder: ladder::Ladder::default(),
            ladder_height: std::cell::Cell::new(20),
        };
        app.set_view(view);
        app
    }

    /// Replace the replica with the latest published view.
    pub fn set_view(&mut self, v: Arc<EngineView>) {
        self.view = v;
        self.ladder_follow_instrument();
        // Equity history, sampled on engine time.
        let now = self.view.now;
        let due = self
            .equity
            .back()
            .is_none_or(|(t, _)| now.since(*t) >= self.equity_every || now < *t);
        if due {
            if self.equity.len() >= self.equity_cap {
                self.equity.pop_front();
            }
            self.equity.push_back((now, self.view.pnl.equity));
        }
        // A new unacknowledged critical alert rings the bell once.
        let newest_critical = self
            .view
            .alerts
            .iter()
            .filter(|a| a.level == AlertLevel::Critical && !a.acknowledged)
            .map(|a| a.seq)
            .max();
        if let Some(seq) = newest_critical
            && self.belled_seq.is_none_or(|b| seq > b)
        {
            self.belled_seq = Some(seq);
            self.pending.push(AppEffect::Bell);
        }
        // Keep the selected order (or group) selected when the list changes.
        if let Some(id) = &self.order_sel_id {
            let rows = self.order_rows();
            if let Some(i) = rows.iter().position(|r| r.key() == *id) {
                self.order_sel = i;
            }
        }
        self.clamp_selection();
        if self.instrument >= self.view.markets.len() {
            self.instrument = 0;
        }
    }

    /// Effects produced outside a key press (the bell for a new critical alert). Call after
    /// [`App::set_view`].
    pub fn take_effects(&mut self) -> Vec<AppEffect> {
        std::mem::take(&mut self.pending)
    }

    /// Engine lag (view age when drawn) and the last frame's draw time, for the status bar.
    pub fn set_frame_stats(&mut self, engine_lag: Duration, frame_time: Duration) {
        self.engine_lag = engine_lag;
        self.frame_time = frame_time;
    }

    /// Whether the engine has stopped publishing its view (the status bar says ENGINE NOT
    /// RESPONDING). The console's loop sets it: no new view for
    /// [`ENGINE_SILENCE`](crate::app::ENGINE_SILENCE).
    pub fn set_engine_not_responding(&mut self, yes: bool) {
        self.engine_not_responding = yes;
    }

    pub fn engine_not_responding(&self) -> bool {
        self.engine_not_responding
    }

    /// This console is attached to an engine over its control socket.
    pub fn set_attached(&mut self, a: Attached) {
        self.attached = a;
    }

    pub fn attached(&self) -> Attached {
        self.attached
    }

    /// Show a message in the footer (an attached console shows the engine's answers:
    /// a refusal, the stages of a kill).
    pub fn set_flash(&mut self, text: impl Into<String>) {
        self.flash = Some(text.into());
    }

    /// The farthest a limit price may be from the mid, bps (from `risk.price_band_bps`),
    /// for the order form's local checks.
    pub fn set_price_band_bps(&mut self, bps: Decimal) {
        self.limits.price_band_bps = bps.max(Decimal::ZERO);
    }

    /// The risk limits (`[risk]`) for the order form's local checks: size, notional and
    /// price band, checked with the risk engine's own functions.
    pub fn set_risk_limits(&mut self, limits: &crate::engine::risk::RiskLimits) {
        self.limits = limits.clone();
    }

    /// Themes for `t` to cycle through (e.g. loaded from the themes folder). Empty: the
    /// built-ins.
    pub fn set_theme_cycle(&mut self, themes: Vec<T>) {
        self.theme_cycle = themes;
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// A replay's starting speed (and the replay keys take effect).
    pub fn set_replay_speed(&mut self, speed: Speed) {
        self.replay = Some(ReplayClock {
            paused: false,
            speed,
        });
    }

    /// The replay reached the end of its recording (the engine has stopped): the last
    /// screen stays, with END OF RECORDING, until `q`.
    pub fn set_replay_ended(&mut self) {
        if !self.replay_ended {
            self.replay_ended = true;
            self.flash = Some(format!(
                "END OF RECORDING: this is the last screen; {} quits",
                self.keymap.keys_text(Action::Quit)
            ));
        }
    }

    pub fn replay_ended(&self) -> bool {
        self.replay_ended
    }

    /// The replay clock as the console set it (replays only).
    pub fn replay_clock(&self) -> Option<ReplayClock> {
        self.replay
    }

    /// A report computed for the report view (or why it could not be).
    pub fn set_report(&mut self, report: Result<R, String>) {
        let r = &mut self.report;
        r.loading = false;
        r.updates += 1;
        match report {
            Ok(rep) => {
                r.report = Some(Arc::new(rep));
                r.error = None;
            }
            Err(e) => r.error = Some(e),
        }
    }

    /// Whether the report view is open (the loop refreshes it every few seconds).
    pub fn report_open(&self) -> bool {
        matches!(self.popup, Some(Popup::Report))
    }

    pub fn report_view(&self) -> &ReportView<R> {
        &self.report
    }

    /// The renderer tells how many table rows are out of sight at the drawn size.
    pub fn set_report_max_scroll(&self, max: usize) {
        self.report_max_scroll.set(max);
    }

    pub fn wants_quit(&self) -> bool {
        self.quit
    }

    // ----- read access for the renderer -----

    pub fn view(&self) -> &EngineView {
        &self.view
    }
    pub fn theme(&self) -> &T {
        &self.theme
    }
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }
    pub fn focus(&self) -> Pane {
        self.focus
    }
    /// The pane a small terminal shows at the bottom.
    pub fn bottom_pane(&self) -> Pane {
        self.bottom
    }
    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }
    pub fn book_levels(&self) -> usize {
        self.book_levels
    }
    pub fn engine_lag(&self) -> Duration {
        self.engine_lag
    }
    pub fn frame_time(&self) -> Duration {
        self.frame_time
    }
    pub fn flash(&self) -> Option<&str> {
        self.flash.as_deref()
    }
    pub fn alert_scroll(&self) -> usize {
        self.alert_scroll
    }
    /// Fills scrolled past in the fills pane (0: the newest is on top).
    pub fn fill_scroll(&self) -> usize {
        self.fill_scroll
    }
    /// Orders scrolled past in the order-history view (0: the newest is on top).
    pub fn history_scroll(&self) -> usize {
        self.history_scroll
    }
    /// Help rows scrolled past.
    pub fn help_scroll(&self) -> usize {
        self.help_scroll
    }
    /// The renderer tells how many help rows are out of sight at the drawn size.
    pub fn set_help_max_scroll(&self, max: usize) {
        self.help_max_scroll.set(max);
    }
    /// Index of the selected instrument in `view().markets`.
    pub fn instrument_index(&self) -> usize {
        self.instrument
    }
    /// The selected instrument's market.
    pub fn market(&self) -> Option<&MarketView> {
        self.view.markets.get(self.instrument)
    }
    pub fn instrument(&self, id: InstrumentId) -> Option<&Instrument> {
        self.view
            .markets
            .get(id.index())
            .and_then(|m| m.instrument.as_ref())
    }
    /// Decimal places for account-level money (equity, PnL, fees, drawdown): the finest
    /// quote precision among the instruments ([`Instrument::money_precision`]); 2 with
    /// none.
    pub fn money_dp(&self) -> u32 {
        self.view
            .markets
            .iter()
            .filter_map(|m| m.instrument.as_ref())
            .map(Instrument::money_precision)
            .max()
            .unwrap_or(2)
    }
    /// Equity samples, oldest first.
    pub fn equity_samples(&self) -> impl ExactSizeIterator<Item = Decimal> + '_ {
        self.equity.iter().map(|(_, e)| *e)
    }
    /// Open orders in display order (oldest first, then by id).
    /// The open orders as the orders pane lists them: plain orders first, oldest first;
    /// then each bracket's orders (entry, take-profit, stop) and each algorithm's
    /// children, group by group, so a group's orders sit together under its row.
    pub fn orders_sorted(&self) -> Vec<&Order> {
        let working = |g: &crate::domain::OrderGroup| self.group_working(*g);
        let mut v: Vec<&Order> = self.view.open_orders.iter().collect();
        // A group's key: (1, kind, number, role); a plain order (or one whose group
        // ended while its cancel is on its way): (0, ..).
        v.sort_by_key(|o| {
            let g = o.group.filter(|g| working(g));
            (
                g.map_or(0, |_| 1),
                g.map(|g| (g.role == crate::domain::GroupRole::Child, g.id, g.role)),
                o.created,
                o.req.client_id.as_str(),
            )
        });
        v
    }
    /// Whether the group an order names is still working (in the view's brackets or
    /// algorithms).
    pub fn group_working(&self, g: crate::domain::OrderGroup) -> bool {
        match g.role {
            crate::domain::GroupRole::Child => self.view.algos.iter().any(|a| a.id == g.id),
            _ => self.view.brackets.iter().any(|b| b.id == g.id),
        }
    }
    /// The orders pane's selectable rows, in its order: plain orders, then each bracket
    /// (its row, then its orders), then each algorithm (its row, then its children).
    pub fn order_rows(&self) -> Vec<OrderRowRef<'_>> {
        let orders = self.orders_sorted();
        let mut rows = Vec::with_capacity(orders.len());
        let mut i = 0;
        while i < orders.len() && !orders[i].group.is_some_and(|g| self.group_working(g)) {
            rows.push(OrderRowRef::Order(orders[i]));
            i += 1;
        }
        let of = |o: &Order, id: u64, child: bool| {
            o.group
                .is_some_and(|g| g.id == id && (g.role == crate::domain::GroupRole::Child) == child)
        };
        for b in &self.view.brackets {
            rows.push(OrderRowRef::Bracket(b));
            while i < orders.len() && of(orders[i], b.id, false) {
                rows.push(OrderRowRef::Order(orders[i]));
                i += 1;
            }
        }
        for a in &self.view.algos {
            rows.push(OrderRowRef::Algo(a));
            while i < orders.len() && of(orders[i], a.id, true) {
                rows.push(OrderRowRef::Order(orders[i]));
                i += 1;
            }
        }
        rows.extend(orders[i..].iter().map(|o| OrderRowRef::Order(o)));
        rows
    }
    /// The selected row of the orders pane (an order, or a group's own row).
    pub fn selected_row_index(&self) -> Option<usize> {
        (!self.order_rows().is_empty()).then_some(self.order_sel)
    }
    pub fn selected_row(&self) -> Option<OrderRowRef<'_>> {
        self.order_rows().get(self.order_sel).copied()
    }
    pub fn selected_order(&self) -> Option<&Order> {
        match self.selected_row()? {
            OrderRowRef::Order(o) => Some(o),
            _ => None,
        }
    }
    /// Unacknowledged critical alerts.
    pub fn unacked_critical(&self) -> usize {
        self.view
            .alerts
            .iter()
            .filter(|a| a.level == AlertLevel::Critical && !a.acknowledged)
            .count()
    }

    fn clamp_selection(&mut self) {
        let n = self.order_rows().len();
        if n == 0 {
            self.order_sel = 0;
        } else if self.order_sel >= n {
            self.order_sel = n - 1;
        }
        self.order_sel_id = self.selected_row().map(|r| r.key());
        let na = self.view.alerts.len();
        if self.alert_scroll >= na {
            self.alert_scroll = na.saturating_sub(1);
        }
        let nf = self.view.fills.len();
        if self.fill_scroll >= nf {
            self.fill_scroll = nf.saturating_sub(1);
        }
        let nh = self.view.order_history.len();
        if self.history_scroll >= nh {
            self.history_scroll = nh.saturating_sub(1);
        }
    }

    fn has_exposure(&self) -> (usize, usize) {
        let orders = self.view.open_orders.len();
        let positions = self
            .view
            .positions
            .iter()
            .filter(|p| !p.position.is_flat())
            .count();
        (orders, positions)
    }
}

/// The mid price of a market, when both sides have a level.
pub fn mid_price(m: &MarketView) -> Option<Decimal> {
    let inst = m.instrument.as_ref()?;
    let b = m.bids.first()?;
    let a = m.asks.first()?;
    Some((inst.price(b.price) + inst.price(a.price)) / Decimal::TWO)
}

/// What a market order for `qty` lots on `side` would take from a market's visible book:
/// the book's own walk ([`OrderBook::cost_to_take_from`]) over the levels the view shows,
/// and the average price of what fills (notional over size, quote currency).
fn take_visible(
    m: &MarketView,
    inst: &Instrument,
    side: Side,
    qty: Qty,
) -> (TakeCost, Option<Decimal>) {
    let levels = match side {
        Side::Buy => &m.asks,
        Side::Sell => &m.bids,
    };
    let cost = OrderBook::cost_to_take_from(levels.iter().copied(), side, qty, None);
    let avg = cost.filled.is_positive().then(|| {
        let notional = Decimal::try_from_i128_with_scale(cost.notional, 0).unwrap_or(Decimal::MAX)
            * inst.tick_size
            * inst.lot_size;
        notional / inst.qty(cost.filled)
    });
    (cost, avg)
}

/// A decimal with exactly `dp` decimal places (rounded half away from zero).
pub fn fmt_dec(d: Decimal, dp: u32) -> String {
    format!("{:.*}", dp as usize, d.round_dp(dp))
}

/// One selectable row of the orders pane: an order, or a group's own row (a bracket, an
/// execution algorithm), whose `x` cancels the whole group.
#[derive(Clone, Copy, Debug)]
pub enum OrderRowRef<'a> {
    Order(&'a Order),
    Bracket(&'a crate::engine::Bracket),
    Algo(&'a crate::engine::Algo),
}

impl OrderRowRef<'_> {
    /// What keeps the row selected while the list changes: the order's client id, or
    /// the group's name (`B1`, `A2`).
    pub fn key(&self) -> String {
        match self {
            OrderRowRef::Order(o) => o.req.client_id.as_str().to_string(),
            OrderRowRef::Bracket(b) => b.name(),
            OrderRowRef::Algo(a) => a.name(),
        }
    }
}
