//! The strategies view (`S`): every strategy with its parameters, edited in place.
//!
//! ↑↓ choose a key, ⏎ types a new value for it (checked at once exactly as the config
//! file is, the key named on a mistake; ⏎ on `symbol` steps through the run's
//! instruments instead, as a typed `K` is the kill switch), `a` applies the changes (the strategy restarts
//! cleanly: its orders are cancelled first), `d` discards them; ←→ choose the strategy,
//! space switches it on or off, `n` starts a new instance from it (on another instrument:
//! change its `symbol`; `a` adds it, switched off), `x` removes an instance, `w` writes
//! the strategies into the config file. Esc closes.

use super::{App, AppEffect};
use crate::engine::Command;
use crate::engine::view::StrategyView;
use crate::strategy::edit::{self, ParamTable};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Changes typed and not applied yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The strategy they are for (its index in the view's list); a new instance's are
    /// copied from it.
    pub of: usize,
    /// A new instance (added on `a`), not new parameters for the strategy shown.
    pub new_instance: bool,
    /// Its built-in's section.
    pub kind: String,
    /// Every key of its section as TOML text, the changes in.
    pub params: String,
    /// The keys changed.
    pub changed: Vec<String>,
}

/// The strategies view's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyEditor {
    /// The strategy shown: its index in the view's list (its number − 1).
    pub sel: usize,
    /// The key selected, among [`StrategyEditor::keys`].
    pub row: usize,
    /// The text typed for the selected key (⏎ stages it).
    pub typing: Option<String>,
    pub draft: Option<Draft>,
    /// The last outcome: whether it went well, and what to say.
    pub message: Option<(bool, String)>,
    /// Asking whether to remove the instance shown.
    pub confirm_remove: bool,
}

/// One strategy as the console sends it to be written into the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedStrategy {
    pub name: String,
    /// Its built-in's section.
    pub kind: String,
    /// Its section's keys as TOML text.
    pub params: String,
    /// One of `[[strategies.instance]]`, not a section.
    pub instance: bool,
    /// Switched on now (written as its `enabled`).
    pub enabled: bool,
}

impl StrategyEditor {
    /// The table shown: the draft's, or the strategy's own.
    pub fn table(&self, s: &StrategyView) -> ParamTable {
        let text = match &self.draft {
            Some(d) => d.params.as_str(),
            None => &s.params,
        };
        edit::table_from_text(text).unwrap_or_default()
    }
    /// The keys that can be edited, in order (`enabled` is the switch: space).
    pub fn keys(table: &ParamTable) -> Vec<String> {
        table.keys().filter(|k| *k != "enabled").cloned().collect()
    }
}

impl<T, R> App<T, R> {
    /// The strategies view, when open.
    pub fn strategy_editor(&self) -> Option<&StrategyEditor> {
        match &self.popup {
            Some(super::Popup::Strategies(e)) => Some(e),
            _ => None,
        }
    }

    /// Keys over the strategies view. Returns whether it stays open.
    pub(super) fn on_strategies_key(
        &mut self,
        ed: &mut StrategyEditor,
        key: KeyEvent,
        out: &mut Vec<AppEffect>,
    ) -> bool {
        let list = &self.view.strategies;
        let shown: Vec<usize> = (0..list.len()).filter(|&i| !list[i].removed).collect();
        if shown.is_empty() {
            return false;
        }
        if !shown.contains(&ed.sel) {
            ed.sel = shown[0];
        }
        let s = list[ed.sel].clone();
        let table = ed.table(&s);
        let keys = StrategyEditor::keys(&table);
        ed.row = ed.row.min(keys.len().saturating_sub(1));
        if let Some(text) = ed.typing.as_mut() {
            match key.code {
                KeyCode::Esc => {
                    ed.typing = None;
                    ed.message = None;
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                // Ctrl+U clears the line, as in a shell; no other control chord is text.
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    text.clear();
                }
                KeyCode::Char(_)
                    if key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {}
                KeyCode::Char(c) => text.push(c),
                KeyCode::Enter => {
                    let text = text.clone();
                    stage(ed, &s, table, &keys, &text);
                }
                _ => {}
            }
            return true;
        }
        if ed.confirm_remove {
            ed.confirm_remove = false;
            if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                out.push(AppEffect::Engine(Command::RemoveStrategy(ed.sel as u8)));
                ed.message = Some((true, format!("removing S{} {}", ed.sel + 1, s.name)));
                ed.sel = shown.iter().copied().find(|&i| i != ed.sel).unwrap_or(0);
            } else {
                ed.message = Some((true, "kept".into()));
            }
            return true;
        }
        match key.code {
            KeyCode::Esc => {
                if ed.draft.is_some() {
                    self.flash = Some("unapplied strategy changes discarded".into());
                }
                return false;
            }
            KeyCode::Up => ed.row = ed.row.saturating_sub(1),
            KeyCode::Down => ed.row = (ed.row + 1).min(keys.len().saturating_sub(1)),
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                if ed.draft.is_some() {
                    ed.message = Some((
                        false,
                        "changes not applied: a applies them, d discards them".into(),
                    ));
                    return true;
                }
                let at = shown.iter().position(|&i| i == ed.sel).unwrap_or(0);
                let n = shown.len();
                let next = if matches!(key.code, KeyCode::Left | KeyCode::BackTab) {
                    (at + n - 1) % n
                } else {
                    (at + 1) % n
                };
                ed.sel = shown[next];
                ed.row = 0;
                ed.message = None;
            }
            KeyCode::Enter => match keys.get(ed.row).map(String::as_str) {
                // An instrument is chosen, not typed: a symbol typed letter by letter
                // would trip the kill switch at its first `K` (K works over everything).
                Some("symbol") => {
                    let symbols: Vec<String> = self
                        .view
                        .markets
                        .iter()
                        .filter_map(|m| m.instrument.as_ref().map(|i| i.symbol.clone()))
                        .collect();
                    let now = table
                        .get("symbol")
                        .map(edit::show_value)
                        .unwrap_or_default();
                    let next = match symbols.iter().position(|x| *x == now) {
                        Some(i) => symbols.get((i + 1) % symbols.len()),
                        None => symbols.first(),
                    };
                    match next.cloned() {
                        Some(next) => stage(ed, &s, table, &keys, &next),
                        None => ed.message = Some((false, "no instruments in this run".into())),
                    }
                }
                Some(k) => {
                    ed.typing = Some(table.get(k).map(edit::show_value).unwrap_or_default());
                    ed.message = Some((
                        true,
                        format!("{k}: type the new value, ⏎ stages it, esc leaves it"),
                    ));
                }
                None => {}
            },
            KeyCode::Char('a') => match ed.draft.take() {
                Some(d) => {
                    let id = (!d.new_instance).then_some(d.of as u8);
                    let what = if d.new_instance {
                        format!(
                            "adding a new {} (switched off until you switch it on)",
                            d.kind
                        )
                    } else {
                        format!(
                            "S{} {}: applying {} (it restarts: its orders are cancelled first)",
                            d.of + 1,
                            list_name(&self.view.strategies, d.of),
                            d.changed.join(", ")
                        )
                    };
                    out.push(AppEffect::Engine(Command::ConfigureStrategy {
                        id,
                        kind: d.kind,
                        params: d.params,
                    }));
                    ed.message = Some((true, what));
                }
                None => ed.message = Some((true, "nothing to apply".into())),
            },
            KeyCode::Char('d') => {
                ed.message = Some((
                    true,
                    if ed.draft.take().is_some() {
                        "changes discarded".into()
                    } else {
                        "nothing to discard".into()
                    },
                ));
            }
            KeyCode::Char(' ') => {
                if ed.draft.as_ref().is_some_and(|d| d.new_instance) {
                    ed.message = Some((false, "add it first (a)".into()));
                } else {
                    out.push(AppEffect::Engine(Command::ToggleStrategy(ed.sel as u8)));
                    let word = if s.enabled { "off" } else { "on" };
                    ed.message = Some((
                        true,
                        format!("S{} {}: switching {word}", ed.sel + 1, s.name),
                    ));
                }
            }
            KeyCode::Char('n') => {
                if ed.draft.is_some() {
                    ed.message = Some((
                        false,
                        "changes not applied: a applies them, d discards them".into(),
                    ));
                } else {
                    ed.draft = Some(Draft {
                        of: ed.sel,
                        new_instance: true,
                        kind: s.kind.clone(),
                        params: s.params.to_string(),
                        changed: Vec::new(),
                    });
                    ed.row = keys.iter().position(|k| k == "symbol").unwrap_or(0);
                    ed.message = Some((
                        true,
                        format!(
                            "a new {}: set its symbol and parameters, then a adds it",
                            s.name
                        ),
                    ));
                }
            }
            KeyCode::Char('x') => {
                if ed.draft.is_some() {
                    ed.message = Some((
                        false,
                        "changes not applied: a applies them, d discards them".into(),
                    ));
                } else if !s.instance {
                    ed.message = Some((
                        false,
                        format!(
                            "S{} is a section of the config file: switch it off (space) instead",
                            ed.sel + 1
                        ),
                    ));
                } else {
                    ed.confirm_remove = true;
                    ed.message = Some((
                        false,
                        format!(
                            "remove S{} {}? its orders are cancelled. y removes, any other key keeps it",
                            ed.sel + 1,
                            s.name
                        ),
                    ));
                }
            }
            KeyCode::Char('w') => {
                if ed.draft.is_some() {
                    ed.message = Some((
                        false,
                        "changes not applied: a applies them first (w writes what runs)".into(),
                    ));
                } else {
                    let list = self
                        .view
                        .strategies
                        .iter()
                        .filter(|x| !x.removed)
                        .map(|x| SavedStrategy {
                            name: x.name.clone(),
                            kind: x.kind.clone(),
                            params: x.params.to_string(),
                            instance: x.instance,
                            enabled: x.enabled,
                        })
                        .collect();
                    out.push(AppEffect::WriteConfig(list));
                    ed.message = Some((true, "writing the config file…".into()));
                }
            }
            _ => {
                if matches!(
                    self.keymap.action(&key),
                    Some(super::Action::Strategies | super::Action::Quit)
                ) {
                    return false;
                }
            }
        }
        true
    }

    /// What writing the config file came to (the console's loop hands it back).
    pub fn config_written(&mut self, result: Result<String, String>) {
        let msg = match &result {
            Ok(t) => (true, t.clone()),
            Err(e) => (false, format!("config file not written: {e}")),
        };
        match &mut self.popup {
            Some(super::Popup::Strategies(ed)) => ed.message = Some(msg),
            _ => self.flash = Some(msg.1),
        }
    }
}

/// A strategy's name by its index (empty if there is none).
fn list_name(list: &[StrategyView], i: usize) -> &str {
    list.get(i).map_or("", |s| s.name.as_str())
}

/// Stage `text` as the selected key's value, if the whole table still passes the config
/// file's checks; otherwise say why (the key named) and keep typing.
fn stage(
    ed: &mut StrategyEditor,
    s: &StrategyView,
    mut table: ParamTable,
    keys: &[String],
    text: &str,
) {
    let Some(key) = keys.get(ed.row).cloned() else {
        ed.typing = None;
        return;
    };
    let kind = ed
        .draft
        .as_ref()
        .map_or(s.kind.as_str(), |d| d.kind.as_str())
        .to_string();
    let value = edit::typed_value(table.get(&key), text);
    table.insert(key.clone(), value);
    let checked = edit::builtin(&kind).and_then(|(_, b)| (b.check_table)(&table));
    if let Err(e) = checked {
        let k = if e.key.is_empty() { key.clone() } else { e.key };
        ed.message = Some((false, format!("{kind}.{k}: {}", e.message)));
        return;
    }
    let mut draft = ed.draft.take().unwrap_or(Draft {
        of: ed.sel,
        new_instance: false,
        kind,
        params: String::new(),
        changed: Vec::new(),
    });
    draft.params = edit::table_text(&table);
    if !draft.changed.contains(&key) {
        draft.changed.push(key.clone());
    }
    ed.message = Some((
        true,
        format!("{key} = {text}: staged; a applies, d discards"),
    ));
    ed.draft = Some(draft);
    ed.typing = None;
}
