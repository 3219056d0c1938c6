//! The console's state: a replica of the engine's published view plus UI state (focus,
//! selection, popups, theme, the equity history). Pure and synchronous: keys go in,
//! [`AppEffect`]s come out; no I/O, no clocks, no channels. The event loop (outside this
//! module) feeds it views and keys, performs the effects and renders it with
//! [`crate::ui::render`].

pub mod config;
pub mod keymap;

pub use config::ConsoleConfig;
pub use keymap::{Action, Keymap, KeymapConfig};

use crate::control::{RunControl, Speed};
use crate::domain::{
    Instrument, InstrumentId, Level, Order, OrderKind, Price, Qty, Side, TimeInForce, Timestamp,
    TradingState,
};
use crate::engine::view::{EngineView, MarketView};
use crate::engine::{AlertLevel, Command, ManualOrder};
use crate::store::report::Report;
use crate::ui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use rust_decimal::Decimal;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What the run is connected to; shown first in the status bar.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Sim,
    Paper,
    Live,
    Replay,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sim => "SIM",
            Mode::Paper => "PAPER",
            Mode::Live => "LIVE",
            Mode::Replay => "REPLAY",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

/// The replay speeds `+` and `-` step through; past the last comes max.
pub const REPLAY_SPEEDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0];

/// What the console knows of a replay's clock (it is the one that changes it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayClock {
    pub paused: bool,
    pub speed: Speed,
}

impl ReplayClock {
    /// The next speed up (`up`) or down from `speed`.
    pub fn step_speed(speed: Speed, up: bool) -> Speed {
        let last = REPLAY_SPEEDS.len() - 1;
        let idx = match speed {
            Speed::Max => last + 1,
            Speed::Times(x) => {
                // The nearest listed speed at or above x.
                REPLAY_SPEEDS
                    .iter()
                    .position(|&s| s >= x - 1e-9)
                    .unwrap_or(last)
            }
        };
        let new = if up {
            (idx + 1).min(last + 1)
        } else {
            idx.saturating_sub(1)
        };
        if new > last {
            Speed::Max
        } else {
            Speed::Times(REPLAY_SPEEDS[new])
        }
    }

    /// `1x`, `0.25x`, `max`, with ` PAUSED` when paused.
    pub fn label(&self) -> String {
        let sp = match self.speed {
            Speed::Max => "max".to_string(),
            Speed::Times(x) => format!("{x}x"),
        };
        if self.paused {
            format!("{sp} PAUSED")
        } else {
            sp
        }
    }
}

/// The panes, in focus order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    Book,
    Tape,
    Positions,
    Pnl,
    Orders,
    Strategies,
    Alerts,
}

impl Pane {
    pub const ALL: [Pane; 7] = [
        Pane::Book,
        Pane::Tape,
        Pane::Positions,
        Pane::Pnl,
        Pane::Orders,
        Pane::Strategies,
        Pane::Alerts,
    ];
    /// The panes a small terminal shows one at a time at the bottom.
    pub const BOTTOM: [Pane; 5] = [
        Pane::Orders,
        Pane::Tape,
        Pane::Strategies,
        Pane::Alerts,
        Pane::Pnl,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Pane::Book => "Book",
            Pane::Tape => "Trades",
            Pane::Positions => "Positions",
            Pane::Pnl => "PnL",
            Pane::Orders => "Orders",
            Pane::Strategies => "Strategies",
            Pane::Alerts => "Alerts",
        }
    }
    fn step(self, forward: bool) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        let n = Pane::ALL.len();
        Pane::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// A yes/no question.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Only `y` confirms.
    ReArm,
    CancelAll,
    Quit,
    Flatten,
}

/// The manual order form's fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FormField {
    Instrument,
    Side,
    Qty,
    Price,
}

impl FormField {
    const ORDER: [FormField; 4] = [
        FormField::Instrument,
        FormField::Side,
        FormField::Qty,
        FormField::Price,
    ];
    fn step(self, forward: bool) -> FormField {
        let i = FormField::ORDER
            .iter()
            .position(|f| *f == self)
            .unwrap_or(0);
        FormField::ORDER[if forward { (i + 1) % 4 } else { (i + 3) % 4 }]
    }
}

/// The manual order form. An empty price means a market order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderForm {
    pub instrument: usize,
    pub side: Side,
    pub qty: String,
    pub price: String,
    pub field: FormField,
    /// Shown after a refused Enter.
    pub error: Option<String>,
}

/// One check of a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub text: String,
}

/// One line of the flatten preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlattenLine {
    pub symbol: String,
    pub side: Side,
    pub qty: String,
    /// Average price of walking the visible book, if anything fills.
    pub avg_price: Option<String>,
    pub worst_price: Option<String>,
    /// Cost against the mid, quote currency (positive = worse than mid), unrounded.
    pub slippage: Option<Decimal>,
    pub slippage_bps: Option<Decimal>,
    /// Size the visible book cannot fill.
    pub unfilled: Option<String>,
}

/// Open popups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popup {
    Help,
    Confirm(Confirm),
    Order(OrderForm),
    /// The PnL report view (full screen); its data is [`App::report_view`].
    Report,
    /// The feed health view: per instrument, connection state and integrity counters
    /// (from the view's `health.feed`), and the book's state.
    Health,
}

/// What the report view shows: the last report the store gave, or why there is none.
#[derive(Clone, Debug, Default)]
pub struct ReportView {
    pub report: Option<Arc<Report>>,
    /// The last request failed (or this run has no store).
    pub error: Option<String>,
    /// Asked for on opening and not answered yet.
    pub loading: bool,
    /// Table rows scrolled past.
    pub scroll: usize,
    /// Reports received so far.
    pub updates: u64,
}

/// The console's state.
pub struct App {
    view: Arc<EngineView>,
    /// What the run is connected to.
    pub mode: Mode,
    /// Replays only: the clock's pause state and speed.
    replay: Option<ReplayClock>,
    theme: Theme,
    /// Themes `t` cycles through; the built-ins unless the loop sets others.
    theme_cycle: Vec<Theme>,
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
    popup: Option<Popup>,
    report: ReportView,
    /// How far the report's tables can scroll at the size last drawn (the renderer sets
    /// it, as ratatui's `ListState` keeps its offset), so `j` stops at the bottom.
    report_max_scroll: std::cell::Cell<usize>,
    belled_seq: Option<u64>,
    pending: Vec<AppEffect>,
    price_band_bps: Option<Decimal>,
    engine_lag: Duration,
    frame_time: Duration,
    flash: Option<String>,
    quit: bool,
}

impl App {
    pub fn new(cfg: &ConsoleConfig, theme: Theme, view: Arc<EngineView>) -> App {
        let (keymap, flash) = match Keymap::from_config(&cfg.keys) {
            Ok(k) => (k, None),
            Err(e) => (
                Keymap::default(),
                Some(format!("keymap refused, defaults in use: {e}")),
            ),
        };
        let mut app = App {
            view: Arc::new(EngineView::default()),
            mode: Mode::Sim,
            replay: None,
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
            popup: None,
            report: ReportView::default(),
            report_max_scroll: std::cell::Cell::new(usize::MAX),
            belled_seq: None,
            pending: Vec::new(),
            price_band_bps: None,
            engine_lag: Duration::ZERO,
            frame_time: Duration::ZERO,
            flash,
            quit: false,
        };
        app.set_view(view);
        app
    }

    /// Replace the replica with the latest published view.
    pub fn set_view(&mut self, v: Arc<EngineView>) {
        self.view = v;
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
        // Keep the selected order selected when the list changes.
        if let Some(id) = &self.order_sel_id {
            let orders = self.orders_sorted();
            if let Some(i) = orders.iter().position(|o| o.req.client_id.as_str() == id) {
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

    /// The farthest a limit price may be from the mid, bps (from `risk.price_band_bps`),
    /// for the order form's local checks.
    pub fn set_price_band_bps(&mut self, bps: Decimal) {
        self.price_band_bps = (bps > Decimal::ZERO).then_some(bps);
    }

    /// Themes for `t` to cycle through (e.g. loaded from the themes folder). Empty: the
    /// built-ins.
    pub fn set_theme_cycle(&mut self, themes: Vec<Theme>) {
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

    /// The replay clock as the console set it (replays only).
    pub fn replay_clock(&self) -> Option<ReplayClock> {
        self.replay
    }

    /// A report computed for the report view (or why it could not be).
    pub fn set_report(&mut self, report: Result<Report, String>) {
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

    pub fn report_view(&self) -> &ReportView {
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
    pub fn theme(&self) -> &Theme {
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
    /// Equity samples, oldest first.
    pub fn equity_samples(&self) -> impl ExactSizeIterator<Item = Decimal> + '_ {
        self.equity.iter().map(|(_, e)| *e)
    }
    /// Open orders in display order (oldest first, then by id).
    pub fn orders_sorted(&self) -> Vec<&Order> {
        let mut v: Vec<&Order> = self.view.open_orders.iter().collect();
        v.sort_by(|a, b| {
            (a.created, a.req.client_id.as_str()).cmp(&(b.created, b.req.client_id.as_str()))
        });
        v
    }
    pub fn selected_order_index(&self) -> Option<usize> {
        (!self.view.open_orders.is_empty()).then_some(self.order_sel)
    }
    pub fn selected_order(&self) -> Option<&Order> {
        self.orders_sorted().get(self.order_sel).copied()
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
        let n = self.view.open_orders.len();
        if n == 0 {
            self.order_sel = 0;
        } else if self.order_sel >= n {
            self.order_sel = n - 1;
        }
        self.order_sel_id = self
            .selected_order()
            .map(|o| o.req.client_id.as_str().to_string());
        let na = self.view.alerts.len();
        if self.alert_scroll >= na {
            self.alert_scroll = na.saturating_sub(1);
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

    // ----- keys -----

    /// Handle a key press. Returns what the loop must do (commands, the kill switch, quit,
    /// the bell), plus any effects still pending from [`App::set_view`].
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<AppEffect> {
        let mut out = std::mem::take(&mut self.pending);
        if key.kind == KeyEventKind::Release {
            return out;
        }
        // The kill switch works everywhere, even over a popup.
        if self.keymap.action(&key) == Some(Action::Kill) {
            self.popup = None;
            self.flash = Some("KILL SWITCH sent".into());
            out.push(AppEffect::Kill);
            return out;
        }
        if let Some(popup) = self.popup.take() {
            self.on_popup_key(popup, key, &mut out);
            return out;
        }
        let Some(action) = self.keymap.action(&key) else {
            return out;
        };
        self.flash = None;
        self.on_action(action, &mut out);
        out
    }

    fn on_action(&mut self, action: Action, out: &mut Vec<AppEffect>) {
        let state = self.view.trading_state;
        match action {
            Action::Kill => out.push(AppEffect::Kill),
            Action::ReArm => {
                if state == TradingState::Active {
                    self.flash = Some("already ACTIVE: nothing to re-arm".into());
                } else {
                    self.popup = Some(Popup::Confirm(Confirm::ReArm));
                }
            }
            Action::PauseResume => {
                let cmd = if state == TradingState::Paused {
                    Command::Resume
                } else {
                    Command::Pause
                };
                out.push(AppEffect::Engine(cmd));
            }
            Action::ToggleStrategy(n) => {
                if usize::from(n) < self.view.strategies.len() {
                    out.push(AppEffect::Engine(Command::ToggleStrategy(n)));
                } else {
                    self.flash = Some(format!("no strategy {}", u16::from(n) + 1));
                }
            }
            Action::Buy | Action::Sell => {
                let side = if action == Action::Buy {
                    Side::Buy
                } else {
                    Side::Sell
                };
                if self.view.markets.is_empty() {
                    self.flash = Some("no instruments".into());
                } else {
                    let form = self.new_form(side);
                    if let Some(e) = self.preview_effect(&form) {
                        out.push(e);
                    }
                    self.popup = Some(Popup::Order(form));
                }
            }
            Action::CancelAll => {
                if self.view.open_orders.is_empty() {
                    self.flash = Some("no open orders".into());
                } else {
                    self.popup = Some(Popup::Confirm(Confirm::CancelAll));
                }
            }
            Action::CancelSelected => match self.selected_order() {
                Some(o) => {
                    let id = o.req.client_id.clone();
                    self.flash = Some(format!("cancel {id} sent"));
                    out.push(AppEffect::Engine(Command::Cancel(id)));
                }
                None => self.flash = Some("no order selected".into()),
            },
            Action::Flatten => {
                if self.has_exposure().1 == 0 {
                    self.flash = Some("no positions to flatten".into());
                } else {
                    self.popup = Some(Popup::Confirm(Confirm::Flatten));
                }
            }
            Action::NextFocus | Action::Right => self.set_focus(self.focus.step(true)),
            Action::PrevFocus | Action::Left => self.set_focus(self.focus.step(false)),
            Action::Up => self.move_selection(false),
            Action::Down => self.move_selection(true),
            Action::PrevInstrument | Action::NextInstrument => {
                let n = self.view.markets.len().max(1);
                self.instrument = if action == Action::NextInstrument {
                    (self.instrument + 1) % n
                } else {
                    (self.instrument + n - 1) % n
                };
            }
            Action::NextTheme => self.next_theme(),
            Action::Acknowledge => {
                // Only what this screen has shown: a newer alert still rings and stays lit.
                let up_to = self.view.alerts.iter().map(|a| a.seq).max().unwrap_or(0);
                out.push(AppEffect::Engine(Command::AcknowledgeAlerts { up_to }));
            }
            Action::Help => self.popup = Some(Popup::Help),
            Action::Health => self.popup = Some(Popup::Health),
            Action::Report => {
                self.popup = Some(Popup::Report);
                self.report.loading = true;
                self.report.scroll = 0;
                out.push(AppEffect::RequestReport);
            }
            Action::ReplayPause
            | Action::ReplayFaster
            | Action::ReplaySlower
            | Action::ReplayStep => {
                let Some(r) = &mut self.replay else { return };
                let c = match action {
                    Action::ReplayPause => {
                        r.paused = !r.paused;
                        if r.paused {
                            RunControl::Pause
                        } else {
                            RunControl::Resume
                        }
                    }
                    Action::ReplayFaster | Action::ReplaySlower => {
                        r.speed = ReplayClock::step_speed(r.speed, action == Action::ReplayFaster);
                        RunControl::SetSpeed(r.speed)
                    }
                    _ => RunControl::Step,
                };
                out.push(AppEffect::Replay(c));
            }
            Action::Quit => {
                let (orders, positions) = self.has_exposure();
                if orders + positions > 0 {
                    self.popup = Some(Popup::Confirm(Confirm::Quit));
                } else {
                    self.quit = true;
                    out.push(AppEffect::Quit);
                }
            }
        }
    }

    fn set_focus(&mut self, p: Pane) {
        self.focus = p;
        if Pane::BOTTOM.contains(&p) {
            self.bottom = p;
        }
    }

    fn move_selection(&mut self, down: bool) {
        match self.focus {
            Pane::Orders => {
                let n = self.view.open_orders.len();
                if n > 0 {
                    self.order_sel = if down {
                        (self.order_sel + 1).min(n - 1)
                    } else {
                        self.order_sel.saturating_sub(1)
                    };
                }
                self.order_sel_id = self
                    .selected_order()
                    .map(|o| o.req.client_id.as_str().to_string());
            }
            Pane::Alerts => {
                let n = self.view.alerts.len();
                self.alert_scroll = if down {
                    (self.alert_scroll + 1).min(n.saturating_sub(1))
                } else {
                    self.alert_scroll.saturating_sub(1)
                };
            }
            Pane::Book | Pane::Positions => {
                let n = self.view.markets.len().max(1);
                self.instrument = if down {
                    (self.instrument + 1) % n
                } else {
                    (self.instrument + n - 1) % n
                };
            }
            _ => {}
        }
    }

    fn next_theme(&mut self) {
        let forced_mono = self.theme.monochrome && self.theme.name != "mono";
        let next = if self.theme_cycle.is_empty() {
            Theme::builtin(Theme::next_name(&self.theme.name)).ok()
        } else {
            let i = self
                .theme_cycle
                .iter()
                .position(|t| t.name == self.theme.name)
                .map_or(0, |i| (i + 1) % self.theme_cycle.len());
            self.theme_cycle.get(i).cloned()
        };
        if let Some(t) = next {
            let t = if forced_mono { t.without_color() } else { t };
            self.flash = Some(format!(
                "theme: {}{}",
                t.name,
                if forced_mono { " (NO_COLOR)" } else { "" }
            ));
            self.theme = t;
        }
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent, out: &mut Vec<AppEffect>) {
        match popup {
            Popup::Help => {
                // Any key closes the help; the help key itself too.
            }
            Popup::Report => {
                if self.on_report_key(key) {
                    self.popup = Some(Popup::Report);
                }
            }
            Popup::Health => {
                // Esc, the health key or a quit key close it; other keys leave it open.
                let close = key.code == KeyCode::Esc
                    || matches!(
                        self.keymap.action(&key),
                        Some(Action::Health | Action::Quit)
                    );
                if !close {
                    self.popup = Some(Popup::Health);
                }
            }
            Popup::Confirm(c) => {
                let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
                let enter = key.code == KeyCode::Enter;
                // Re-arming takes an explicit `y`; the others also accept Enter.
                let confirmed = yes || (enter && c != Confirm::ReArm);
                if confirmed {
                    match c {
                        Confirm::ReArm => {
                            self.flash = Some("re-arm sent".into());
                            out.push(AppEffect::Engine(Command::ReArm));
                        }
                        Confirm::CancelAll => {
                            self.flash = Some("cancel all sent".into());
                            out.push(AppEffect::Engine(Command::CancelAll));
                        }
                        Confirm::Flatten => {
                            self.flash = Some("flatten sent".into());
                            out.push(AppEffect::Engine(Command::Flatten(None)));
                        }
                        Confirm::Quit => {
                            self.quit = true;
                            out.push(AppEffect::Quit);
                        }
                    }
                } else {
                    self.flash = Some("cancelled".into());
                }
            }
            Popup::Order(mut form) => {
                if self.on_form_key(&mut form, key, out) {
                    self.popup = Some(Popup::Order(form));
                } else if !matches!(out.last(), Some(AppEffect::Engine(Command::Manual(_)))) {
                    // Closed without sending: the engine can forget the preview.
                    out.push(AppEffect::Engine(Command::ClearPreview));
                }
            }
        }
    }

    /// Keys over the report view: scroll, or close it (esc, the report key, quit keys).
    /// Returns whether the view stays open.
    fn on_report_key(&mut self, key: KeyEvent) -> bool {
        let max = self.report_max_scroll.get();
        let r = &mut self.report;
        match (key.code, self.keymap.action(&key)) {
            (KeyCode::Esc, _) | (_, Some(Action::Report | Action::Quit)) => return false,
            (_, Some(Action::Down)) => r.scroll = (r.scroll + 1).min(max),
            (_, Some(Action::Up)) => r.scroll = r.scroll.saturating_sub(1),
            (KeyCode::PageDown | KeyCode::Char(' '), _) => {
                r.scroll = r.scroll.saturating_add(10).min(max)
            }
            (KeyCode::PageUp, _) => r.scroll = r.scroll.saturating_sub(10),
            (KeyCode::Home, _) => r.scroll = 0,
            (KeyCode::End, _) => r.scroll = max,
            _ => {}
        }
        true
    }

    /// Returns whether the form stays open.
    fn on_form_key(
        &mut self,
        form: &mut OrderForm,
        key: KeyEvent,
        out: &mut Vec<AppEffect>,
    ) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let n = self.view.markets.len().max(1);
        let before = form.clone();
        match key.code {
            KeyCode::Esc => {
                self.flash = Some("order form closed".into());
                return false;
            }
            KeyCode::Char('c') if ctrl => return false,
            KeyCode::Enter => match self.form_order(form) {
                Ok(order) => {
                    self.flash = Some(format!(
                        "manual {} sent",
                        order.side.as_str().to_ascii_lowercase()
                    ));
                    out.push(AppEffect::Engine(Command::Manual(order)));
                    return false;
                }
                Err(why) => form.error = Some(why),
            },
            KeyCode::Tab | KeyCode::Down => form.field = form.field.step(true),
            KeyCode::BackTab | KeyCode::Up => form.field = form.field.step(false),
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')
                if matches!(form.field, FormField::Instrument | FormField::Side) =>
            {
                let fwd = key.code != KeyCode::Left;
                if form.field == FormField::Instrument {
                    form.instrument = if fwd {
                        (form.instrument + 1) % n
                    } else {
                        (form.instrument + n - 1) % n
                    };
                } else {
                    form.side = form.side.opposite();
                }
            }
            KeyCode::Char('b') if form.field == FormField::Side => form.side = Side::Buy,
            KeyCode::Char('s') if form.field == FormField::Side => form.side = Side::Sell,
            KeyCode::Char('m') if form.field == FormField::Price => form.price.clear(),
            KeyCode::Char(c @ ('0'..='9' | '.'))
                if matches!(form.field, FormField::Qty | FormField::Price) =>
            {
                let s = if form.field == FormField::Qty {
                    &mut form.qty
                } else {
                    &mut form.price
                };
                if s.len() < 24 {
                    s.push(c);
                }
            }
            KeyCode::Backspace => match form.field {
                FormField::Qty => {
                    form.qty.pop();
                }
                FormField::Price => {
                    form.price.pop();
                }
                _ => {}
            },
            _ => {}
        }
        if *form != before {
            form.error = None;
            if let Some(e) = self.preview_effect(form) {
                out.push(e);
            }
        }
        true
    }

    /// Ask the engine for its risk verdict on a well-formed form; it publishes it as
    /// `view.order_preview`, which [`App::verdict_text`] shows.
    fn preview_effect(&self, form: &OrderForm) -> Option<AppEffect> {
        self.form_order(form)
            .ok()
            .map(|o| AppEffect::Engine(Command::Preview(o)))
    }

    fn new_form(&self, side: Side) -> OrderForm {
        let m = self.market();
        let inst = m.and_then(|m| m.instrument.as_ref());
        let qty = inst.map_or(String::new(), |i| i.fmt_qty(i.min_qty));
        // A passive default: our own side's best price.
        let touch = m.and_then(|m| match side {
            Side::Buy => m.bids.first(),
            Side::Sell => m.asks.first(),
        });
        let price = match (inst, touch) {
            (Some(i), Some(l)) => i.fmt_price(l.price),
            _ => String::new(),
        };
        OrderForm {
            instrument: self.instrument,
            side,
            qty,
            price,
            field: FormField::Qty,
            error: None,
        }
    }

    /// The order a form describes, when every local check passes.
    pub fn form_order(&self, form: &OrderForm) -> Result<ManualOrder, String> {
        let checks = self.local_checks(form);
        if let Some(bad) = checks.iter().find(|c| !c.ok) {
            return Err(bad.text.clone());
        }
        let inst = self.form_instrument(form).ok_or("no instrument")?;
        let qty = parse_dec(&form.qty)
            .and_then(|d| inst.qty_from_decimal(d).ok())
            .ok_or("bad size")?;
        let price = if form.price.trim().is_empty() {
            None
        } else {
            Some(
                parse_dec(&form.price)
                    .and_then(|d| inst.price_from_decimal(d).ok())
                    .ok_or("bad price")?,
            )
        };
        Ok(ManualOrder {
            instrument: inst.id,
            side: form.side,
            kind: if price.is_some() {
                OrderKind::Limit
            } else {
                OrderKind::Market
            },
            price,
            qty,
            tif: if price.is_some() {
                TimeInForce::Gtc
            } else {
                TimeInForce::Ioc
            },
            reduce_only: false,
            client_id: None,
        })
    }

    fn form_instrument(&self, form: &OrderForm) -> Option<&Instrument> {
        self.view
            .markets
            .get(form.instrument)
            .and_then(|m| m.instrument.as_ref())
    }

    /// The verdict the form shows before confirming: the engine's risk verdict once the
    /// engine publishes one for this order (see [`App::preview_effect`]); until then the
    /// checks the console can do itself ([`App::local_checks`]).
    pub fn verdict_text(&self, form: &OrderForm) -> Vec<Check> {
        let mut out = Vec::new();
        if let Ok(order) = self.form_order(form) {
            let engine = self
                .view
                .order_preview
                .as_ref()
                .filter(|p| p.order == order);
            // Until the engine answers (within a frame) only the local checks show.
            match engine.map(|p| &p.verdict) {
                Some(Ok(())) => out.push(Check {
                    ok: true,
                    text: "risk engine: approved".into(),
                }),
                Some(Err(why)) => out.push(Check {
                    ok: false,
                    text: format!("risk engine: {why}"),
                }),
                None => {}
            }
        }
        out.extend(self.local_checks(form));
        out
    }

    /// Local checks: size positive, on the lot grid and at least the minimum; price on the
    /// tick grid and inside the price band around the mid; market orders walk the book.
    pub fn local_checks(&self, form: &OrderForm) -> Vec<Check> {
        let mut out = Vec::new();
        let ok = |t: String| Check { ok: true, text: t };
        let bad = |t: String| Check { ok: false, text: t };
        let Some(market) = self.view.markets.get(form.instrument) else {
            return vec![bad("no such instrument".into())];
        };
        let Some(inst) = market.instrument.as_ref() else {
            return vec![bad("instrument unknown".into())];
        };
        let qty = match parse_dec(&form.qty) {
            None => {
                out.push(bad(format!("size '{}' is not a number", form.qty)));
                None
            }
            Some(d) if d <= Decimal::ZERO => {
                out.push(bad("size must be greater than 0".into()));
                None
            }
            Some(d) => match inst.qty_from_decimal(d) {
                Err(_) => {
                    out.push(bad(format!(
                        "size {d} is not a multiple of the lot {}",
                        inst.lot_size.normalize()
                    )));
                    None
                }
                Ok(q) if q < inst.min_qty => {
                    out.push(bad(format!(
                        "size below the minimum {}",
                        inst.fmt_qty(inst.min_qty)
                    )));
                    None
                }
                Ok(q) => {
                    out.push(ok(format!("size {} on the lot grid", inst.fmt_qty(q))));
                    Some(q)
                }
            },
        };
        let mid = mid_price(market);
        if form.price.trim().is_empty() {
            // Market order: walk the opposite side.
            if let Some(q) = qty {
                let levels = match form.side {
                    Side::Buy => &market.asks,
                    Side::Sell => &market.bids,
                };
                let walk = walk_book(inst, levels, q);
                match walk.avg {
                    Some(avg) if walk.unfilled.is_zero() => {
                        out.push(ok(format!(
                            "market: est. avg {} worst {}",
                            fmt_dec(avg, inst.price_precision + 1),
                            walk.worst.map_or("-".into(), |p| inst.fmt_price(p))
                        )));
                    }
                    _ => out.push(bad(format!(
                        "market: visible book cannot fill {} ",
                        inst.fmt_qty(walk.unfilled)
                    ))),
                }
            }
        } else {
            match parse_dec(&form.price) {
                None => out.push(bad(format!("price '{}' is not a number", form.price))),
                Some(d) if d <= Decimal::ZERO => {
                    out.push(bad("price must be greater than 0".into()))
                }
                Some(d) => match inst.price_from_decimal(d) {
                    Err(_) => out.push(bad(format!(
                        "price {d} is not on the tick {}",
                        inst.tick_size.normalize()
                    ))),
                    Ok(p) => {
                        out.push(ok(format!("price {} on the tick grid", inst.fmt_price(p))));
                        if let (Some(band), Some(mid)) = (self.price_band_bps, mid)
                            && !mid.is_zero()
                        {
                            let off = ((inst.price(p) - mid).abs() / mid * Decimal::from(10_000))
                                .round_dp(1);
                            if off > band {
                                out.push(bad(format!("price {off} bps from mid, band {band} bps")));
                            } else {
                                out.push(ok(format!("price {off} bps from mid (band {band})")));
                            }
                        }
                        let crosses = match form.side {
                            Side::Buy => market.asks.first().is_some_and(|a| p >= a.price),
                            Side::Sell => market.bids.first().is_some_and(|b| p <= b.price),
                        };
                        if crosses {
                            out.push(ok("marketable: takes liquidity".into()));
                        }
                        if let Some(q) = qty {
                            out.push(ok(format!("notional {}", fmt_dec(inst.notional(p, q), 2))));
                        }
                    }
                },
            }
        }
        if self.view.trading_state == TradingState::Halted {
            out.push(bad("HALTED: only reduce-only exits pass".into()));
        }
        out
    }

    /// What `F` would send: one reduce-only market order per open position, with the
    /// average and worst price from walking the visible book and the slippage against mid.
    pub fn flatten_preview(&self) -> Vec<FlattenLine> {
        let mut out = Vec::new();
        for pv in &self.view.positions {
            let pos = &pv.position;
            if pos.is_flat() {
                continue;
            }
            let Some(market) = self.view.markets.get(pos.instrument.index()) else {
                continue;
            };
            let Some(inst) = market.instrument.as_ref() else {
                continue;
            };
            let side = if pos.qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let lots = inst.qty_floor(pos.qty.abs());
            let levels = match side {
                Side::Buy => &market.asks,
                Side::Sell => &market.bids,
            };
            let walk = walk_book(inst, levels, lots);
            let mid = mid_price(market);
            let (slippage, slippage_bps) = match (walk.avg, mid) {
                (Some(avg), Some(mid)) if !mid.is_zero() => {
                    let per_unit = match side {
                        Side::Buy => avg - mid,
                        Side::Sell => mid - avg,
                    };
                    let filled = inst.qty(walk.filled);
                    (
                        Some(per_unit * filled),
                        Some(per_unit / mid * Decimal::from(10_000)),
                    )
                }
                _ => (None, None),
            };
            out.push(FlattenLine {
                symbol: inst.symbol.clone(),
                side,
                qty: inst.fmt_qty(lots),
                avg_price: walk.avg.map(|a| fmt_dec(a, inst.price_precision + 1)),
                worst_price: walk.worst.map(|p| inst.fmt_price(p)),
                slippage,
                slippage_bps,
                unfilled: (!walk.unfilled.is_zero()).then(|| inst.fmt_qty(walk.unfilled)),
            });
        }
        out
    }
}

/// The result of walking book levels for a size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    pub filled: Qty,
    pub unfilled: Qty,
    pub avg: Option<Decimal>,
    pub worst: Option<Price>,
}

/// Walk `levels` (best first) for `qty` lots.
pub fn walk_book(inst: &Instrument, levels: &[Level], qty: Qty) -> Walk {
    let mut left = qty;
    let mut notional = Decimal::ZERO;
    let mut filled = Qty::ZERO;
    let mut worst = None;
    for l in levels {
        if !left.is_positive() {
            break;
        }
        let take = if l.qty < left { l.qty } else { left };
        if !take.is_positive() {
            continue;
        }
        notional += inst.notional(l.price, take);
        filled += take;
        left -= take;
        worst = Some(l.price);
    }
    let avg = (filled.is_positive()).then(|| notional / inst.qty(filled));
    Walk {
        filled,
        unfilled: left,
        avg,
        worst,
    }
}

/// The mid price of a market, when both sides have a level.
pub fn mid_price(m: &MarketView) -> Option<Decimal> {
    let inst = m.instrument.as_ref()?;
    let b = m.bids.first()?;
    let a = m.asks.first()?;
    Some((inst.price(b.price) + inst.price(a.price)) / Decimal::TWO)
}

fn parse_dec(s: &str) -> Option<Decimal> {
    s.trim().parse::<Decimal>().ok()
}

/// A decimal with exactly `dp` decimal places (rounded half away from zero).
pub fn fmt_dec(d: Decimal, dp: u32) -> String {
    format!("{:.*}", dp as usize, d.round_dp(dp))
}
