//! Keys are data: `[console.keys]` in config.toml maps named actions to key strings; the
//! help overlay is generated from the resulting [`Keymap`].
//!
//! Key strings: a single character (`"K"`, `"?"`, `"["`), a named key (`"tab"`, `"backtab"`,
//! `"enter"`, `"esc"`, `"space"`, `"backspace"`, `"delete"`, `"up"`, `"down"`, `"left"`,
//! `"right"`, `"home"`, `"end"`, `"pageup"`, `"pagedown"`, `"f1"`..`"f12"`), optionally
//! prefixed by `ctrl-`, `alt-` and `shift-` (`"ctrl-c"`). Letters are case-sensitive:
//! `"K"` is shift-k. An action takes one key string or a list of them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Every named action of the console.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Kill,
    ReArm,
    PauseResume,
    /// Toggle strategy N (0-based; key N+1).
    ToggleStrategy(u8),
    Buy,
    Sell,
    CancelAll,
    CancelSelected,
    /// Modify the selected manual order (price, size): the order form, then cancel/replace.
    Modify,
    Flatten,
    NextFocus,
    PrevFocus,
    Up,
    Down,
    Left,
    Right,
    PrevInstrument,
    NextInstrument,
    NextTheme,
    Acknowledge,
    /// The PnL report view (the figures of `pit report`, with the equity curve).
    Report,
    /// The feed health view: connection and integrity counters per instrument.
    Health,
    /// Focus the fills pane (our fills: fee, liquidity, owner, slippage).
    Fills,
    /// The order-history view: every order's states and rejection reasons.
    History,
    Strategies,
    /// The price ladder in place of the book (toggle).
    Ladder,
    /// The ladder: centre the rows on the touch (and the cursor there).
    LadderCentre,
    /// The ladder: more / fewer ticks per row (1, 2, 5, 10).
    LadderCoarser,
    LadderFiner,
    Help,
    Quit,
    /// Replays only: pause / resume the replay clock.
    ReplayPause,
    /// Replays only: faster / slower (0.25x up to 100x, then max).
    ReplayFaster,
    ReplaySlower,
    /// Replays only: while paused, process one event.
    ReplayStep,
}

/// (action, config name, default keys, description), in help-overlay order.
const TABLE: &[(Action, &str, &[&str], &str)] = &[
    (
        Action::Kill,
        "kill",
        &["K"],
        "kill switch: halt now, cancel every open order (no confirmation)",
    ),
    (
        Action::ReArm,
        "rearm",
        &["R"],
        "re-arm after a halt (asks for confirmation)",
    ),
    (
        Action::PauseResume,
        "pause",
        &["p"],
        "pause / resume strategies' new orders",
    ),
    (
        Action::ToggleStrategy(0),
        "strategy_1",
        &["1"],
        "toggle strategy 1",
    ),
    (
        Action::ToggleStrategy(1),
        "strategy_2",
        &["2"],
        "toggle strategy 2",
    ),
    (
        Action::ToggleStrategy(2),
        "strategy_3",
        &["3"],
        "toggle strategy 3",
    ),
    (
        Action::ToggleStrategy(3),
        "strategy_4",
        &["4"],
        "toggle strategy 4",
    ),
    (
        Action::ToggleStrategy(4),
        "strategy_5",
        &["5"],
        "toggle strategy 5",
    ),
    (
        Action::ToggleStrategy(5),
        "strategy_6",
        &["6"],
        "toggle strategy 6",
    ),
    (
        Action::ToggleStrategy(6),
        "strategy_7",
        &["7"],
        "toggle strategy 7",
    ),
    (
        Action::ToggleStrategy(7),
        "strategy_8",
        &["8"],
        "toggle strategy 8",
    ),
    (
        Action::ToggleStrategy(8),
        "strategy_9",
        &["9"],
        "toggle strategy 9",
    ),
    (
        Action::Buy,
        "buy",
        &["b"],
        "manual buy: order form, the risk engine's verdict, r reduce-only",
    ),
    (
        Action::Sell,
        "sell",
        &["s"],
        "manual sell: order form, the risk engine's verdict, r reduce-only",
    ),
    (
        Action::CancelAll,
        "cancel_all",
        &["c"],
        "cancel every open order (asks first)",
    ),
    (
        Action::CancelSelected,
        "cancel_selected",
        &["x"],
        "cancel the selected order",
    ),
    (
        Action::Modify,
        "modify",
        &["e"],
        "modify the selected manual order: price, size (cancel/replace)",
    ),
    (
        Action::Flatten,
        "flatten",
        &["F"],
        "flatten all positions (preview with slippage, then confirm)",
    ),
    (
        Action::NextFocus,
        "next_pane",
        &["tab"],
        "focus the next pane (cycles the bottom pane on small terminals)",
    ),
    (
        Action::PrevFocus,
        "prev_pane",
        &["backtab"],
        "focus the previous pane",
    ),
    (Action::Up, "up", &["up", "k"], "move the selection up"),
    (
        Action::Down,
        "down",
        &["down", "j"],
        "move the selection down",
    ),
    (
        Action::Left,
        "left",
        &["left", "h"],
        "focus the pane to the left",
    ),
    (
        Action::Right,
        "right",
        &["right", "l"],
        "focus the pane to the right",
    ),
    (
        Action::PrevInstrument,
        "prev_instrument",
        &["["],
        "previous instrument",
    ),
    (
        Action::NextInstrument,
        "next_instrument",
        &["]"],
        "next instrument",
    ),
    (Action::NextTheme, "next_theme", &["t"], "next colour theme"),
    (
        Action::Acknowledge,
        "acknowledge",
        &["a"],
        "acknowledge alerts",
    ),
    (
        Action::Report,
        "report",
        &["r"],
        "PnL report from the store: figures, tables, equity curve (esc closes)",
    ),
    (
        Action::Health,
        "health",
        &["H"],
        "feed health: connection, frames, gaps, resyncs, checksums (esc closes)",
    ),
    (
        Action::Fills,
        "fills",
        &["f"],
        "fills pane: time, size, price, fee, maker/taker, owner, slippage",
    ),
    (
        Action::History,
        "order_history",
        &["o"],
        "order history: each order's states, rejection reasons (esc closes)",
    ),
    (
        Action::Strategies,
        "strategies",
        &["S"],
        "strategies view: edit, add, remove, write config (esc closes)",
    ),
    (
        Action::Ladder,
        "ladder",
        &["L"],
        "price ladder (book): ↑↓ row, b/s order there, e move, x cancel ours",
    ),
    (
        Action::LadderCentre,
        "ladder_centre",
        &["z"],
        "ladder: centre the rows and the cursor on the touch",
    ),
    (
        Action::LadderCoarser,
        "ladder_coarser",
        &["g"],
        "ladder: more ticks per row (1, 2, 5, 10)",
    ),
    (
        Action::LadderFiner,
        "ladder_finer",
        &["G"],
        "ladder: fewer ticks per row",
    ),
    (Action::Help, "help", &["?"], "show / hide this help"),
    (
        Action::Quit,
        "quit",
        &["q", "ctrl-c"],
        "quit (asks first when orders or positions are open)",
    ),
    (
        Action::ReplayPause,
        "replay_pause",
        &["space"],
        "replay: pause / resume the clock",
    ),
    (
        Action::ReplayFaster,
        "replay_faster",
        &["+", "="],
        "replay: faster (up to 100x, then max)",
    ),
    (
        Action::ReplaySlower,
        "replay_slower",
        &["-"],
        "replay: slower (down to 0.25x)",
    ),
    (
        Action::ReplayStep,
        "replay_step",
        &["."],
        "replay: one event (while paused)",
    ),
];

impl Action {
    /// Every action, in help order.
    pub fn all() -> impl Iterator<Item = Action> {
        TABLE.iter().map(|r| r.0)
    }
    /// The config name (`kill`, `strategy_1`, ...).
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|r| r.0 == self).map_or("?", |r| r.1)
    }
    pub fn description(self) -> &'static str {
        TABLE.iter().find(|r| r.0 == self).map_or("", |r| r.3)
    }
    pub fn from_name(name: &str) -> Option<Action> {
        TABLE.iter().find(|r| r.1 == name).map(|r| r.0)
    }
    /// Whether the action only applies to replays (the help shows it only then).
    pub fn is_replay(self) -> bool {
        matches!(
            self,
            Action::ReplayPause | Action::ReplayFaster | Action::ReplaySlower | Action::ReplayStep
        )
    }
    fn default_keys(self) -> &'static [&'static str] {
        TABLE.iter().find(|r| r.0 == self).map_or(&[], |r| r.2)
    }
}

/// One key string or a list of them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn as_slice(&self) -> &[String] {
        match self {
            KeyList::One(s) => std::slice::from_ref(s),
            KeyList::Many(v) => v,
        }
    }
}

/// `[console.keys]`: action name -> key(s). Actions not listed keep their default keys;
/// an empty list unbinds an action. The default value lists every action.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct KeymapConfig(pub BTreeMap<String, KeyList>);

impl Default for KeymapConfig {
    fn default() -> Self {
        KeymapConfig(
            TABLE
                .iter()
                .map(|(_, name, keys, _)| {
                    let list = if keys.len() == 1 {
                        KeyList::One(keys[0].to_string())
                    } else {
                        KeyList::Many(keys.iter().map(|k| k.to_string()).collect())
                    };
                    (name.to_string(), list)
                })
                .collect(),
        )
    }
}

/// Why a keymap was refused. `key` is the config key (the action name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("{action}: unknown action; known: {known}")]
    UnknownAction { action: String, known: String },
    #[error("{action}: cannot parse key '{key}': {why}")]
    BadKey {
        action: String,
        key: String,
        why: String,
    },
    /// The kill switch must always have a key.
    #[error(
        "{action}: the kill switch must always have a key (got an empty list); e.g. kill = \"K\""
    )]
    Unbound { action: String },
    #[error("{action}: key '{key}' is already bound to '{other}'")]
    Duplicate {
        action: String,
        key: String,
        other: String,
    },
}

impl KeymapError {
    /// The action name the error is about (the config key under `[console.keys]`).
    pub fn action(&self) -> &str {
        match self {
            KeymapError::UnknownAction { action, .. }
            | KeymapError::BadKey { action, .. }
            | KeymapError::Duplicate { action, .. }
            | KeymapError::Unbound { action } => action,
        }
    }
}

/// A key as the keymap matches it: code plus ctrl/alt (shift is folded into characters).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

impl KeySpec {
    /// Normalize a terminal key event. A character carries its own case, so SHIFT is
    /// dropped for characters (terminals differ in whether they report it).
    pub fn from_event(ev: &KeyEvent) -> KeySpec {
        let m = ev.modifiers;
        let is_char = matches!(ev.code, KeyCode::Char(_));
        let code = ev.code;
        KeySpec {
            code,
            ctrl: m.contains(KeyModifiers::CONTROL),
            alt: m.contains(KeyModifiers::ALT),
            shift: !is_char && code != KeyCode::BackTab && m.contains(KeyModifiers::SHIFT),
        }
    }

    /// Parse a key string (see the module docs).
    pub fn parse(s: &str) -> Result<KeySpec, String> {
        if s.is_empty() {
            return Err("empty key".into());
        }
        let mut rest = s;
        let (mut ctrl, mut alt, mut shift) = (false, false, false);
        loop {
            if rest.chars().count() <= 1 {
                break;
            }
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-") {
                ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-") {
                alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("shift-") {
                shift = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        if rest.is_empty() {
            return Err("a modifier without a key".into());
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                if shift && c.is_ascii_alphabetic() {
                    shift = false;
                    KeyCode::Char(c.to_ascii_uppercase())
                } else if shift {
                    return Err("shift- only applies to letters and named keys".into());
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => {
                let name = rest.to_ascii_lowercase();
                match name.as_str() {
                    "tab" => KeyCode::Tab,
                    "backtab" => KeyCode::BackTab,
                    "enter" | "return" => KeyCode::Enter,
                    "esc" | "escape" => KeyCode::Esc,
                    "space" => KeyCode::Char(' '),
                    "backspace" => KeyCode::Backspace,
                    "delete" | "del" => KeyCode::Delete,
                    "insert" => KeyCode::Insert,
                    "up" => KeyCode::Up,
                    "down" => KeyCode::Down,
                    "left" => KeyCode::Left,
                    "right" => KeyCode::Right,
                    "home" => KeyCode::Home,
                    "end" => KeyCode::End,
                    "pageup" => KeyCode::PageUp,
                    "pagedown" => KeyCode::PageDown,
                    f if f.starts_with('f') => match f[1..].parse::<u8>() {
                        Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                        _ => return Err(format!("unknown key name '{rest}'")),
                    },
                    _ => return Err(format!("unknown key name '{rest}'")),
                }
            }
        };
        if shift && code == KeyCode::Tab {
            return Ok(KeySpec {
                code: KeyCode::BackTab,
                ctrl,
                alt,
                shift: false,
            });
        }
        Ok(KeySpec {
            code,
            ctrl,
            alt,
            shift,
        })
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        if self.shift {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pageup"),
            KeyCode::PageDown => f.write_str("pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One row of the help overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub action: &'static str,
    pub description: &'static str,
}

/// The resolved keymap: key -> action, and action -> keys for help and hints.
#[derive(Clone, Debug)]
pub struct Keymap {
    by_key: HashMap<KeySpec, Action>,
    by_action: BTreeMap<Action, Vec<KeySpec>>,
}

impl Default for Keymap {
    fn default() -> Self {
        // The built-in table is tested to parse and to have no duplicates.
        Keymap::from_config(&KeymapConfig(BTreeMap::new())).unwrap_or(Keymap {
            by_key: HashMap::new(),
            by_action: BTreeMap::new(),
        })
    }
}

impl Keymap {
    /// The defaults with the config's entries layered over them.
    pub fn from_config(cfg: &KeymapConfig) -> Result<Keymap, KeymapError> {
        let mut chosen: BTreeMap<Action, Vec<(String, KeySpec)>> = BTreeMap::new();
        for action in Action::all() {
            let keys = action
                .default_keys()
                .iter()
                .map(|k| {
                    KeySpec::parse(k)
                        .map(|s| (k.to_string(), s))
                        .map_err(|why| KeymapError::BadKey {
                            action: action.name().into(),
                            key: k.to_string(),
                            why,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            chosen.insert(action, keys);
        }
        for (name, list) in &cfg.0 {
            let Some(action) = Action::from_name(name) else {
                return Err(KeymapError::UnknownAction {
                    action: name.clone(),
                    known: TABLE.iter().map(|r| r.1).collect::<Vec<_>>().join(", "),
                });
            };
            let keys = list
                .as_slice()
                .iter()
                .map(|k| {
                    KeySpec::parse(k)
                        .map(|s| (k.clone(), s))
                        .map_err(|why| KeymapError::BadKey {
                            action: name.clone(),
                            key: k.clone(),
                            why,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() && action == Action::Kill {
                return Err(KeymapError::Unbound {
                    action: name.clone(),
                });
            }
            chosen.insert(action, keys);
        }
        let mut by_key: HashMap<KeySpec, Action> = HashMap::new();
        let mut by_action: BTreeMap<Action, Vec<KeySpec>> = BTreeMap::new();
        for (action, keys) in chosen {
            for (text, spec) in keys {
                if let Some(other) = by_key.get(&spec)
                    && *other != action
                {
                    return Err(KeymapError::Duplicate {
                        action: action.name().into(),
                        key: text,
                        other: other.name().into(),
                    });
                }
                by_key.insert(spec, action);
                by_action.entry(action).or_default().push(spec);
            }
        }
        Ok(Keymap { by_key, by_action })
    }

    /// The action bound to a key event, if any.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.by_key.get(&KeySpec::from_event(ev)).copied()
    }

    /// The keys of an action.
    pub fn keys(&self, action: Action) -> &[KeySpec] {
        self.by_action.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The keys of an action as text (`"k/↑"`), empty when unbound.
    pub fn keys_text(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The help overlay's rows, generated from the keymap, in a stable order.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        Action::all()
            .map(|a| HelpRow {
                keys: self.keys_text(a),
                action: a.name(),
                description: a.description(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_without_duplicates() {
        let km = Keymap::from_config(&KeymapConfig::default()).expect("defaults");
        assert_eq!(km.keys(Action::Kill).len(), 1);
        let names: std::collections::BTreeSet<_> = TABLE.iter().map(|r| r.1).collect();
        assert_eq!(names.len(), TABLE.len());
    }

    #[test]
    fn parses_key_strings() {
        assert_eq!(KeySpec::parse("K").map(|k| k.code), Ok(KeyCode::Char('K')));
        let c = KeySpec::parse("ctrl-c").expect("ctrl-c");
        assert!(c.ctrl && c.code == KeyCode::Char('c'));
        assert_eq!(KeySpec::parse("-").map(|k| k.code), Ok(KeyCode::Char('-')));
        assert_eq!(
            KeySpec::parse("shift-tab").map(|k| k.code),
            Ok(KeyCode::BackTab)
        );
        assert_eq!(KeySpec::parse("f5").map(|k| k.code), Ok(KeyCode::F(5)));
        assert!(KeySpec::parse("hyper-x").is_err());
        assert!(KeySpec::parse("f13").is_err());
        assert!(KeySpec::parse("").is_err());
    }
}
