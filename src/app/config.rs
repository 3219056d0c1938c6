//! `[console]` in config.toml.

use super::keymap::{Keymap, KeymapConfig};
use crate::domain::Invalid;
use serde::Deserialize;

/// The console's settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Theme name: a file `<themes_dir>/<theme>.toml` (built-ins: dark, light,
    /// high-contrast, mono).
    pub theme: String,
    /// Folder of the theme files.
    pub themes_dir: String,
    /// Most frames drawn per second.
    pub fps: u32,
    /// The most book levels shown per side: the book shows as many as its pane's height
    /// holds, up to this and to the levels the engine publishes (`engine.view_depth`).
    pub book_levels: usize,
    /// Equity samples kept for the PnL chart (one per `equity_sample_ms` of engine time).
    pub equity_samples: usize,
    /// Engine time between two equity samples, milliseconds.
    pub equity_sample_ms: u64,
    /// Key bindings: action name -> key or list of keys.
    pub keys: KeymapConfig,
    /// What happens when the console's terminal goes away (SIGHUP, or the terminal
    /// fails: a closed SSH session): `keep-running`, `pause` or `kill`.
    pub on_hangup: OnHangup,
}

/// `console.on_hangup`: what the run does when its console's terminal goes away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnHangup {
    /// The engine goes on headless (the control socket stays; `pit status`, `pit kill`
    /// from another shell), with a CRITICAL alert.
    #[default]
    KeepRunning,
    /// Pause the strategies' new orders, then go on headless.
    Pause,
    /// Trip the kill switch, then stop in order.
    Kill,
}

impl OnHangup {
    pub fn as_str(self) -> &'static str {
        match self {
            OnHangup::KeepRunning => "keep-running",
            OnHangup::Pause => "pause",
            OnHangup::Kill => "kill",
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            theme: "dark".into(),
            themes_dir: "themes".into(),
            fps: 30,
            book_levels: 50,
            equity_samples: 3600,
            equity_sample_ms: 1000,
            keys: KeymapConfig::default(),
            on_hangup: OnHangup::default(),
        }
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.theme.trim().is_empty() {
            return Err(Invalid::new("theme", "must not be empty"));
        }
        if !(1..=240).contains(&self.fps) {
            return Err(Invalid::new("fps", "must be between 1 and 240"));
        }
        if !(1..=200).contains(&self.book_levels) {
            return Err(Invalid::new("book_levels", "must be between 1 and 200"));
        }
        if self.equity_samples < 2 {
            return Err(Invalid::new("equity_samples", "must be at least 2"));
        }
        if self.equity_sample_ms == 0 {
            return Err(Invalid::new("equity_sample_ms", "must be at least 1"));
        }
        Keymap::from_config(&self.keys).map_err(|e| {
            let text = e.to_string();
            let message = text
                .strip_prefix(&format!("{}: ", e.action()))
                .unwrap_or(&text)
                .to_string();
            Invalid::new(format!("keys.{}", e.action()), message)
        })?;
        Ok(())
    }
}
