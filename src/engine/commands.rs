//! The engine's interface with the outside world: one [`Input`] in (market event,
//! execution report, operator [`Command`], timer), [`Effect`]s out; manual orders and
//! their risk preview; and how the engine carries out operator commands.

use crate::domain::OrderSpec;
use serde::{Deserialize, Serialize};

use super::risk::RiskApproved;
use super::{Alert, AlertLevel, AuditEntry, ClosedTrade, Engine};
use crate::domain::{
    ClientOrderId, ExecReport, Fill, InstrumentId, MarketEvent, Order, OrderRequest, OrderTag,
    Owner, Position, Price, Qty, StrategyId, TradingState, VenueRules,
};

/// A manual order from the console or the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualOrder {
    pub spec: OrderSpec,
    /// An explicit client id; the engine assigns one when absent.
    pub client_id: Option<ClientOrderId>,
}

/// Modify a working manual limit order (cancel/replace): its new limit price and its new
/// total size. The part already filled counts toward the size and stays with the old
/// order; the replacement, sent once the venue confirms the cancel, carries the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyOrder {
    pub id: ClientOrderId,
    pub price: Price,
    pub qty: Qty,
}

/// Operator commands. Serde-serialisable: an attached console (`pit attach`) sends them
/// over the control socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", content = "args", rename_all = "snake_case")]
pub enum Command {
    /// Halt at once: the gate closes, every open order is cancelled, positions are
    /// flattened if configured. Stays halted until [`Command::ReArm`].
    KillSwitch,
    /// The kill switch tripped by a path other than the console's key (a signal, the
    /// `HALT` file, the control socket): the same halt, with who tripped it and why.
    KillFrom {
        source: String,
        reason: String,
    },
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
    /// New parameters for a strategy (`id`), or a new instance of built-in `kind` (`id`
    /// `None`; it starts switched off): `params` is its section's keys as TOML text,
    /// checked exactly as the config file is. An existing strategy restarts cleanly: its
    /// orders are cancelled first.
    ConfigureStrategy {
        id: Option<StrategyId>,
        kind: String,
        params: String,
    },
    /// Remove an instance (not a config section's strategy, which is switched off
    /// instead): its orders are cancelled, it is switched off for good.
    RemoveStrategy(StrategyId),
    Manual(ManualOrder),
    /// Show the risk verdict on a manual order without sending it.
    Preview(ManualOrder),
    /// Forget the preview (the form was closed).
    ClearPreview,
    /// A manual entry with take-profit and/or stop-loss legs (see `brackets.rs`).
    Bracket(super::BracketOrder),
    /// A large manual order worked by an execution algorithm (see `algos.rs`).
    Algo(super::AlgoOrder),
    /// Modify a working manual order: cancel/replace (see [`ModifyOrder`]).
    Modify(ModifyOrder),
    /// Show the risk verdict on a modify's replacement without sending anything.
    PreviewModify(ModifyOrder),
    Cancel(ClientOrderId),
    /// Cancel a bracket or an execution algorithm by its number: its orders, its held
    /// stop, its schedule.
    CancelGroup(u64),
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
    /// A kill-switch press, from the console or another path.
    pub fn is_kill(&self) -> bool {
        matches!(self, Command::KillSwitch | Command::KillFrom { .. })
    }
    /// Short name for the audit trail and alerts.
    pub fn name(&self) -> &'static str {
        match self {
            Command::KillSwitch | Command::KillFrom { .. } => "kill-switch",
            Command::ReArm => "re-arm",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Reduce => "reduce-only",
            Command::ToggleStrategy(_) => "toggle-strategy",
            Command::SetStrategy(..) => "set-strategy",
            Command::ConfigureStrategy { id: Some(_), .. } => "strategy-params",
            Command::ConfigureStrategy { id: None, .. } => "strategy-add",
            Command::RemoveStrategy(_) => "strategy-remove",
            Command::Manual(_) => "manual-order",
            Command::Bracket(_) => "bracket",
            Command::Algo(_) => "algo",
            Command::Preview(_) => "preview",
            Command::ClearPreview => "clear-preview",
            Command::Modify(_) => "modify",
            Command::PreviewModify(_) => "preview-modify",
            Command::Cancel(_) => "cancel",
            Command::CancelGroup(_) => "cancel-group",
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
    /// A live venue's rules (exchange filters) for one instrument, read by the venue's
    /// connection task; `Err` says why they could not be read (new orders stay refused).
    VenueRules {
        instrument: InstrumentId,
        rules: Result<VenueRules, String>,
    },
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
    PositionChanged {
        fill_seq: u64,
        position: Position,
        /// The round trip still open on it (`None` once flat), kept with the position.
        trip: Option<super::persist::Trip>,
    },
    /// The equity peak rose (for the store: the drawdown limit survives a restart).
    /// Emitted on a fill and at most once a second of engine time otherwise.
    EquityPeak(rust_decimal::Decimal),
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
    /// A strategy got new parameters from the console, was added or removed (for the
    /// store: the console's parameters are used again after a restart).
    StrategyConfigured {
        /// Its number (0-based).
        id: StrategyId,
        name: String,
        /// Its built-in's section.
        kind: String,
        /// Its section's keys as TOML text.
        params: String,
        enabled: bool,
        removed: bool,
        /// Added from the console (not the file's section or instance).
        added: bool,
    },
    /// An operator command and its outcome, for the audit log.
    Audit(AuditEntry),
    /// The aged-position manager's state for one instrument's position changed (for the
    /// store; `None`: it no longer follows one).
    AgedPosition {
        symbol: String,
        state: Option<Box<super::aged::AgedState>>,
    },
    /// A bracket started (`Some`, for the store: a restart names it) or ended (`None`).
    Bracket {
        id: u64,
        bracket: Option<Box<super::Bracket>>,
    },
    /// An execution algorithm started or filled more (`Some`, for the store: a restart
    /// names it) or ended (`None`).
    Algo {
        id: u64,
        algo: Option<Box<super::Algo>>,
    },
}

/// The risk verdict on an order the console is about to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPreview {
    /// The order as asked; for a modify, its new price and new total size.
    pub order: ManualOrder,
    /// `Ok` when every check passes now, else the refusal in words.
    pub verdict: Result<(), String>,
    /// A modify's preview: the working order it would replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<ClientOrderId>,
}

pub(super) fn manual_request(m: &ManualOrder, client_id: ClientOrderId) -> OrderRequest {
    OrderRequest {
        client_id,
        spec: m.spec,
        owner: Owner::Manual,
        tag: OrderTag::Manual,
    }
}

impl Engine {
    /// Carry out one command; a kill hands its cancels to `send_cancel` as it decides
    /// them (see [`Engine::process_with`]).
    pub(super) fn on_command(
        &mut self,
        cmd: Command,
        out: &mut Vec<Effect>,
        send_cancel: &mut dyn FnMut(&crate::domain::ClientOrderId),
    ) {
        match cmd {
            Command::KillSwitch => {
                self.press_kill_switch("operator", "kill switch pressed".into(), out, send_cancel)
            }
            Command::KillFrom { source, reason } => {
                self.press_kill_switch(&source, reason, out, send_cancel)
            }
            Command::ReArm => self.re_arm(out),
            Command::Pause => self.set_state_from(TradingState::Active, TradingState::Paused, out),
            Command::Resume => self.resume(out),
            Command::Reduce => self.reduce_only(out),
            Command::ToggleStrategy(s) => {
                if let Some(on) = self.strategy_enabled(s) {
                    self.set_strategy(s, !on, out);
                }
            }
            Command::SetStrategy(s, on) => self.set_strategy(s, on, out),
            Command::ConfigureStrategy { id, kind, params } => {
                self.configure_strategy(id, &kind, &params, out)
            }
            Command::RemoveStrategy(s) => self.remove_strategy(s, out),
            Command::Manual(m) => {
                self.order_preview = None;
                self.manual_order(m, out)
            }
            Command::Bracket(b) => {
                self.order_preview = None;
                self.bracket_command(b, out)
            }
            Command::Algo(a) => {
                self.order_preview = None;
                self.algo_command(a, out)
            }
            Command::Preview(m) => self.preview(m),
            Command::ClearPreview => self.order_preview = None,
            Command::Modify(m) => {
                self.order_preview = None;
                self.modify_order(m, out)
            }
            Command::PreviewModify(m) => self.preview_modify(m),
            Command::Cancel(id) => self.cancel_command(&id, out),
            Command::CancelGroup(g) => self.cancel_group(g, out),
            Command::CancelAll => {
                self.drop_groups(Which::All, "cancel all", out);
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
            Command::Shutdown => self.shutdown(out),
        }
    }

    fn resume(&mut self, out: &mut Vec<Effect>) {
        match self.state {
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
        }
    }

    fn reduce_only(&mut self, out: &mut Vec<Effect>) {
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

    fn cancel_command(&mut self, id: &ClientOrderId, out: &mut Vec<Effect>) {
        if self.cancel_group_of(id, out) {
            // One of a bracket's or an algorithm's orders: the group goes.
        } else if self.open_orders.contains_key(id) {
            self.request_cancel(id, out);
        } else {
            let text = format!("cancel {id}: no such open order");
            self.alert(AlertLevel::Info, "operator", text, out);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Effect>) {
        self.shutting_down = true;
        self.store_peak(out);
        self.drop_groups(Which::All, "shutting down", out);
        if self.kill_cfg.cancel_on_exit {
            let n = self.cancel_where(|_| true, out);
            if n > 0 {
                let text = format!("shutdown: cancelling {n} open orders");
                self.alert(AlertLevel::Info, "engine", text, out);
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
        let Some(slot) = self.strategies.get_mut(si).filter(|x| !x.removed) else {
            let text = format!("no strategy {}", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
            return;
        };
        if slot.enabled == on {
            return;
        }
        slot.enabled = on;
        let name = slot.name.clone();
        if !on {
            slot.strategy.on_disable();
            let why = format!("S{} switched off", si + 1);
            self.drop_groups(Which::Owner(Owner::Strategy(s)), &why, out);
            let n = self.cancel_where(|o| o.req.owner == Owner::Strategy(s), out);
            let text = format!("S{} {name} off: cancelling {n} orders", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
        } else {
            let text = format!("S{} {name} on", si + 1);
            self.alert(AlertLevel::Info, "operator", text, out);
        }
    }

    fn manual_order(&mut self, m: ManualOrder, out: &mut Vec<Effect>) {
        if !self.may_place_manual(m.spec.reduce_only) {
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
}

/// Which groups a drop applies to.
#[derive(Clone, Copy, Debug)]
pub(super) enum Which {
    All,
    Instrument(InstrumentId),
    Owner(Owner),
}

impl Which {
    pub(super) fn matches(self, instrument: InstrumentId, owner: Owner) -> bool {
        match self {
            Which::All => true,
            Which::Instrument(i) => i == instrument,
            Which::Owner(o) => o == owner,
        }
    }
}
