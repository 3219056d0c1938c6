//! Key routing: a key press goes to the open popup (help, confirmation, order form,
//! report, health, order history) or through the keymap to an [`Action`]; the kill switch works over
//! everything. Each turns into state changes and [`AppEffect`]s.

use super::{Action, App, AppEffect, Confirm, Pane, Popup, ReplayClock, ThemeCycle};
use crate::domain::{Price, Side, TradingState};
use crate::engine::Command;
use crate::pace::RunControl;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

impl<T: ThemeCycle, R> App<T, R> {
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
        if key.code == KeyCode::Esc
            && let Some((id, _)) = self.ladder.moving.take()
        {
            self.flash = Some(format!("move of {id} dropped"));
            return out;
        }
        let Some(action) = self.keymap.action(&key) else {
            return out;
        };
        self.flash = None;
        if self.ladder.on && self.focus == Pane::Book && self.on_ladder_action(action, &mut out) {
            return out;
        }
        self.on_action(action, &mut out);
        self.ladder_follow_instrument();
        out
    }

    /// The keys that act on the ladder's cursor row while the ladder has the focus.
    /// Returns whether the action was the ladder's.
    fn on_ladder_action(&mut self, action: Action, out: &mut Vec<AppEffect>) -> bool {
        let rows = self.ladder_height.get().max(1);
        let cursor = self.ladder.cursor();
        let inst = self.market().and_then(|m| m.instrument.clone());
        let (Some(cursor), Some(inst)) = (cursor, inst) else {
            if matches!(
                action,
                Action::Up
                    | Action::Down
                    | Action::Buy
                    | Action::Sell
                    | Action::Modify
                    | Action::CancelSelected
            ) {
                self.flash = Some("the ladder has no prices yet (no touch)".into());
                return true;
            }
            return false;
        };
        let at = inst.fmt_price(cursor);
        // A row gathers `grouping` ticks from `cursor` up: a buy takes the row's lowest
        // price and a sell its highest, so neither crosses into the other side of a row
        // that holds the touch.
        let top = Price(cursor.0.saturating_add(self.ladder.grouping() - 1));
        let price_for = |side: Side| inst.fmt_price(if side == Side::Sell { top } else { cursor });
        match action {
            Action::Up | Action::Down => self.ladder.move_cursor(action == Action::Up, rows),
            Action::Buy | Action::Sell => {
                let side = if action == Action::Buy {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let mut form = self.new_form(side);
                form.price = price_for(side);
                if let Some(e) = self.preview_effect(&form) {
                    out.push(e);
                }
                self.popup = Some(Popup::Order(form));
            }
            Action::CancelSelected => {
                let ids: Vec<_> = self
                    .orders_at_row(cursor)
                    .into_iter()
                    .filter(|o| !o.cancel_pending)
                    .map(|o| o.req.client_id.clone())
                    .collect();
                if ids.is_empty() {
                    self.flash = Some(format!("no order of ours to cancel at {at}"));
                } else {
                    let names: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
                    self.flash = Some(format!("cancel sent at {at}: {}", names.join(", ")));
                    for id in ids {
                        out.push(AppEffect::Engine(Command::Cancel(id)));
                    }
                }
            }
            Action::Modify => match self.ladder.moving.take() {
                None => match self.movable_at_row(cursor) {
                    Some(o) => {
                        let id = o.req.client_id.clone();
                        self.flash = Some(format!(
                            "moving {id} from {at}: ↑↓ to its new price, {} there (Esc keeps it)",
                            self.keymap.keys_text(Action::Modify)
                        ));
                        self.ladder.moving = Some((id, cursor));
                    }
                    None => {
                        self.flash = Some(format!(
                            "no manual order of ours at {at} to move (strategies move their own)"
                        ))
                    }
                },
                Some((id, from)) if from == cursor => {
                    self.flash = Some(format!("{id} stays at {at}"));
                }
                Some((id, _)) => {
                    let order = self.view.open_orders.iter().find(|o| o.req.client_id == id);
                    let side = order.map_or(Side::Buy, |o| o.req.spec.side);
                    match order.map(|o| self.modify_form(o)) {
                        Some(Ok(mut form)) => {
                            form.price = price_for(side);
                            if let Some(e) = self.preview_effect(&form) {
                                out.push(e);
                            }
                            self.popup = Some(Popup::Order(form));
                        }
                        Some(Err(why)) => self.flash = Some(why),
                        None => self.flash = Some(format!("{id} is no longer open")),
                    }
                }
            },
            _ => return false,
        }
        true
    }

    fn on_action(&mut self, action: Action, out: &mut Vec<AppEffect>) {
        let state = self.view.trading_state;
        match action {
            Action::Ladder => {
                self.ladder.on = !self.ladder.on;
                if self.ladder.on {
                    let touch = self.market().and_then(super::ladder::touch);
                    self.ladder.recentre(touch, self.instrument);
                    self.set_focus(Pane::Book);
                    let k = |a| self.keymap.keys_text(a);
                    self.flash = Some(format!(
                        "ladder: ↑↓ row, {}/{} order there, {} move ours, {} cancel ours, {} centre",
                        k(Action::Buy),
                        k(Action::Sell),
                        k(Action::Modify),
                        k(Action::CancelSelected),
                        k(Action::LadderCentre)
                    ));
                } else {
                    self.ladder.moving = None;
                    self.flash = Some("ladder closed: the book".into());
                }
            }
            Action::LadderCentre | Action::LadderCoarser | Action::LadderFiner
                if !self.ladder.on =>
            {
                self.flash = Some(format!(
                    "the ladder is closed ({} opens it)",
                    self.keymap.keys_text(Action::Ladder)
                ));
            }
            Action::LadderCentre => {
                let touch = self.market().and_then(super::ladder::touch);
                self.ladder.recentre(touch, self.instrument);
                self.flash = Some("ladder centred on the touch".into());
            }
            Action::LadderCoarser | Action::LadderFiner => {
                self.ladder.step_grouping(action == Action::LadderCoarser);
                let g = self.ladder.grouping();
                self.flash = Some(format!(
                    "ladder: {g} tick{} per row",
                    if g == 1 { "" } else { "s" }
                ));
            }
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
                if self
                    .view
                    .strategies
                    .get(usize::from(n))
                    .is_some_and(|s| !s.removed)
                {
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
                if self.view.open_orders.is_empty()
                    && self.view.brackets.is_empty()
                    && self.view.algos.is_empty()
                {
                    self.flash = Some("no open orders".into());
                } else {
                    self.popup = Some(Popup::Confirm(Confirm::CancelAll));
                }
            }
            Action::CancelSelected => {
                let picked = self.selected_row().map(|r| match r {
                    super::OrderRowRef::Order(o) => {
                        let id = o.req.client_id.clone();
                        (format!("cancel {id} sent"), Command::Cancel(id))
                    }
                    super::OrderRowRef::Bracket(b) => (
                        format!("cancel bracket {} sent", b.name()),
                        Command::CancelGroup(b.id),
                    ),
                    super::OrderRowRef::Algo(a) => (
                        format!("cancel {} {} sent", a.kind.as_str(), a.name()),
                        Command::CancelGroup(a.id),
                    ),
                });
                match picked {
                    Some((flash, cmd)) => {
                        self.flash = Some(flash);
                        out.push(AppEffect::Engine(cmd));
                    }
                    None => self.flash = Some("no order selected".into()),
                }
            }
            Action::Modify
                if !matches!(
                    self.selected_row(),
                    Some(super::OrderRowRef::Order(_)) | None
                ) =>
            {
                self.flash = Some("a bracket or an algorithm is not modified: x cancels it".into());
            }
            Action::Modify => match self.selected_order().map(|o| self.modify_form(o)) {
                Some(Ok(form)) => {
                    if let Some(e) = self.preview_effect(&form) {
                        out.push(e);
                    }
                    self.popup = Some(Popup::Order(form));
                }
                Some(Err(why)) => self.flash = Some(why),
                None => self.flash = Some("no order selected (Orders pane)".into()),
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
            Action::Help => {
                self.popup = Some(Popup::Help);
                self.help_scroll = 0;
            }
            Action::Health => self.popup = Some(Popup::Health),
            Action::Fills => self.set_focus(Pane::Fills),
            Action::History => {
                self.popup = Some(Popup::History);
                self.history_scroll = 0;
            }
            Action::Strategies => {
                if self.view.strategies.iter().all(|s| s.removed) {
                    self.flash = Some("no strategies in this run".into());
                } else {
                    self.popup = Some(Popup::Strategies(Default::default()));
                }
            }
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
            Action::Quit if self.attached != super::Attached::No => {
                // Detach: the engine goes on, nothing to ask.
                self.quit = true;
                out.push(AppEffect::Quit);
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
                let n = self.order_rows().len();
                if n > 0 {
                    self.order_sel = if down {
                        (self.order_sel + 1).min(n - 1)
                    } else {
                        self.order_sel.saturating_sub(1)
                    };
                }
                self.order_sel_id = self.selected_row().map(|r| r.key());
            }
            Pane::Fills => {
                let n = self.view.fills.len();
                self.fill_scroll = if down {
                    (self.fill_scroll + 1).min(n.saturating_sub(1))
                } else {
                    self.fill_scroll.saturating_sub(1)
                };
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
        if let Some((t, name)) = self.theme.next_theme(&self.theme_cycle) {
            self.flash = Some(format!("theme: {name}"));
            self.theme = t;
        }
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent, out: &mut Vec<AppEffect>) {
        match popup {
            Popup::Help => {
                // On a terminal too short for it, the help scrolls (down/up keys,
                // PageDown/PageUp, space); any other key closes it, the help key too.
                let max = self.help_max_scroll.get();
                let s = &mut self.help_scroll;
                let scrolled = match (key.code, self.keymap.action(&key)) {
                    (_, Some(Action::Down)) if max > 0 => {
                        *s = (*s + 1).min(max);
                        true
                    }
                    (_, Some(Action::Up)) if max > 0 => {
                        *s = s.saturating_sub(1);
                        true
                    }
                    (KeyCode::PageDown | KeyCode::Char(' '), _) if max > 0 => {
                        *s = s.saturating_add(10).min(max);
                        true
                    }
                    (KeyCode::PageUp, _) if max > 0 => {
                        *s = s.saturating_sub(10);
                        true
                    }
                    _ => false,
                };
                if scrolled {
                    self.popup = Some(Popup::Help);
                }
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
            Popup::History => {
                if self.on_history_key(key) {
                    self.popup = Some(Popup::History);
                }
            }
            Popup::Strategies(mut ed) => {
                if self.on_strategies_key(&mut ed, key, out) {
                    self.popup = Some(Popup::Strategies(ed));
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
                } else if !matches!(
                    out.last(),
                    Some(AppEffect::Engine(Command::Manual(_) | Command::Modify(_)))
                ) {
                    // Closed without sending: the engine can forget the preview.
                    out.push(AppEffect::Engine(Command::ClearPreview));
                }
            }
        }
    }

    /// Keys over the order-history view: scroll by order, or close it (esc, its key, quit
    /// keys). Returns whether the view stays open.
    fn on_history_key(&mut self, key: KeyEvent) -> bool {
        let max = self.view.order_history.len().saturating_sub(1);
        let s = &mut self.history_scroll;
        match (key.code, self.keymap.action(&key)) {
            (KeyCode::Esc, _) | (_, Some(Action::History | Action::Quit)) => return false,
            (_, Some(Action::Down)) => *s = (*s + 1).min(max),
            (_, Some(Action::Up)) => *s = s.saturating_sub(1),
            (KeyCode::PageDown | KeyCode::Char(' '), _) => *s = s.saturating_add(10).min(max),
            (KeyCode::PageUp, _) => *s = s.saturating_sub(10),
            (KeyCode::Home, _) => *s = 0,
            (KeyCode::End, _) => *s = max,
            _ => {}
        }
        true
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
}
