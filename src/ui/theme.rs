//! Themes are data: TOML files of named roles layered over built-in defaults.
//!
//! ```toml
//! # themes/dark.toml
//! monochrome = false          # true: no colours at all (like NO_COLOR)
//! [roles]
//! bid    = { fg = "green" }
//! halted = { fg = "white", bg = "red", modifiers = ["bold"] }
//! ```
//!
//! Colours are ratatui colour names (`red`, `lightgreen`, `darkgray`, ...), `#rrggbb` or a
//! 0-255 index; modifiers are `bold`, `dim`, `italic`, `underlined`, `reversed`,
//! `crossed_out`. A role missing from the file keeps its built-in default. Under `NO_COLOR`
//! or a monochrome theme every colour is dropped and only modifiers remain: the panes show
//! direction and state in text (BUY/SELL, +/-, arrows, state words) as well, so nothing is
//! carried by colour alone.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The named roles a theme styles.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Text,
    Dim,
    Header,
    Title,
    Border,
    Focus,
    Selected,
    Bid,
    Ask,
    BidBar,
    AskBar,
    Own,
    Profit,
    Loss,
    Info,
    Warning,
    Critical,
    Active,
    Paused,
    Reducing,
    Halted,
    Chart,
}

impl Role {
    pub const ALL: [Role; 22] = [
        Role::Text,
        Role::Dim,
        Role::Header,
        Role::Title,
        Role::Border,
        Role::Focus,
        Role::Selected,
        Role::Bid,
        Role::Ask,
        Role::BidBar,
        Role::AskBar,
        Role::Own,
        Role::Profit,
        Role::Loss,
        Role::Info,
        Role::Warning,
        Role::Critical,
        Role::Active,
        Role::Paused,
        Role::Reducing,
        Role::Halted,
        Role::Chart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Text => "text",
            Role::Dim => "dim",
            Role::Header => "header",
            Role::Title => "title",
            Role::Border => "border",
            Role::Focus => "focus",
            Role::Selected => "selected",
            Role::Bid => "bid",
            Role::Ask => "ask",
            Role::BidBar => "bid_bar",
            Role::AskBar => "ask_bar",
            Role::Own => "own",
            Role::Profit => "profit",
            Role::Loss => "loss",
            Role::Info => "info",
            Role::Warning => "warning",
            Role::Critical => "critical",
            Role::Active => "active",
            Role::Paused => "paused",
            Role::Reducing => "reducing",
            Role::Halted => "halted",
            Role::Chart => "chart",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    fn index(self) -> usize {
        Role::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The theme names `t` cycles through, in order.
pub const THEME_NAMES: &[&str] = &["dark", "light", "high-contrast", "mono"];

const BUILTIN_FILES: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// Why a theme could not be loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme '{name}': cannot read {}: {source}", path.display())]
    Read {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{}: {key}: {message}", path.display(), line.map_or("?".to_string(), |l| l.to_string()))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    #[error("unknown built-in theme '{0}'; built-in: dark, light, high-contrast, mono")]
    UnknownBuiltin(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    monochrome: bool,
    #[serde(default)]
    roles: BTreeMap<toml::Spanned<String>, RoleSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    fg: Option<toml::Spanned<String>>,
    bg: Option<toml::Spanned<String>>,
    #[serde(default)]
    modifiers: Vec<toml::Spanned<String>>,
}

/// Roles -> styles.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    /// No colours at all (NO_COLOR or a monochrome theme).
    pub monochrome: bool,
    /// The terminal this console runs on has a light background: `t` cycles only the
    /// themes made for it ([`suits_background`]). Taken from the configured theme (a
    /// `light` one means a light terminal) and kept across `t`.
    pub light_background: bool,
    styles: Vec<Style>,
}

/// Whether a theme suits a terminal's background: a theme named `light` (or `*light*`)
/// is for light backgrounds (unreadable on a dark one), `mono` for any, the others
/// (`dark`, `high-contrast`) for dark ones.
pub fn suits_background(name: &str, light: bool) -> bool {
    if name == "mono" {
        true
    } else {
        name.contains("light") == light
    }
}

impl Theme {
    /// The built-in defaults every theme file is layered over (a dark palette).
    pub fn defaults() -> Theme {
        let s = Style::new;
        let styles = Role::ALL
            .iter()
            .map(|r| match r {
                Role::Text => s(),
                Role::Dim => s().fg(Color::DarkGray),
                Role::Header => s().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                Role::Title => s().fg(Color::White).add_modifier(Modifier::BOLD),
                Role::Border => s().fg(Color::DarkGray),
                Role::Focus => s().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                Role::Selected => s().add_modifier(Modifier::REVERSED),
                Role::Bid => s().fg(Color::Green),
                Role::Ask => s().fg(Color::Red),
                Role::BidBar => s().fg(Color::Green).add_modifier(Modifier::DIM),
                Role::AskBar => s().fg(Color::Red).add_modifier(Modifier::DIM),
                Role::Own => s().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                Role::Profit => s().fg(Color::Green),
                Role::Loss => s().fg(Color::Red),
                Role::Info => s().fg(Color::Blue),
                Role::Warning => s().fg(Color::Yellow),
                Role::Critical => s().fg(Color::LightRed).add_modifier(Modifier::BOLD),
                Role::Active => s().fg(Color::Black).bg(Color::Green),
                Role::Paused => s().fg(Color::Black).bg(Color::Yellow),
                Role::Reducing => s().fg(Color::Black).bg(Color::Magenta),
                Role::Halted => s()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
                Role::Chart => s().fg(Color::Cyan),
            })
            .collect();
        Theme {
            name: "defaults".into(),
            monochrome: false,
            light_background: false,
            styles,
        }
    }

    /// The style of a role (colourless when monochrome).
    pub fn style(&self, role: Role) -> Style {
        self.styles.get(role.index()).copied().unwrap_or_default()
    }

    /// A built-in theme (the shipped file compiled in), without I/O.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let (_, text) = BUILTIN_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::UnknownBuiltin(name.to_string()))?;
        let path = PathBuf::from(format!("themes/{name}.toml"));
        Theme::parse(name, text, &path)
    }

    /// Load `<dir>/<name>.toml`; `no_color` strips every colour (set it when `NO_COLOR`
    /// is set and non-empty: see [`no_color_env`]).
    pub fn load(name: &str, dir: &Path, no_color: bool) -> Result<Theme, ThemeError> {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Read {
            name: name.to_string(),
            path: path.clone(),
            source,
        })?;
        let theme = Theme::parse(name, &text, &path)?;
        Ok(if no_color {
            theme.without_color()
        } else {
            theme
        })
    }

    /// Parse theme text; `path` is used in messages only.
    pub fn parse(name: &str, text: &str, path: &Path) -> Result<Theme, ThemeError> {
        let invalid = |offset: Option<usize>, key: String, message: String| ThemeError::Invalid {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            key,
            message,
        };
        let file: ThemeFile = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().map(|s| s.start),
                String::new(),
                e.message().trim().to_string(),
            )
        })?;
        let mut theme = Theme::defaults();
        theme.name = name.to_string();
        theme.light_background = name.contains("light");
        for (role_name, spec) in &file.roles {
            let Some(role) = Role::from_name(role_name.get_ref()) else {
                return Err(invalid(
                    Some(role_name.span().start),
                    format!("roles.{}", role_name.get_ref()),
                    format!(
                        "unknown role; known: {}",
                        Role::ALL.map(Role::name).join(", ")
                    ),
                ));
            };
            let key = |k: &str| format!("roles.{}.{k}", role.name());
            let mut style = Style::new();
            for (field, value) in [("fg", &spec.fg), ("bg", &spec.bg)] {
                if let Some(v) = value {
                    let color = Color::from_str(v.get_ref().trim()).map_err(|_| {
                        invalid(
                            Some(v.span().start),
                            key(field),
                            format!("unknown colour '{}'", v.get_ref()),
                        )
                    })?;
                    style = if field == "fg" {
                        style.fg(color)
                    } else {
                        style.bg(color)
                    };
                }
            }
            for m in &spec.modifiers {
                let modifier = match m.get_ref().to_ascii_lowercase().as_str() {
                    "bold" => Modifier::BOLD,
                    "dim" => Modifier::DIM,
                    "italic" => Modifier::ITALIC,
                    "underlined" | "underline" => Modifier::UNDERLINED,
                    "reversed" | "reverse" => Modifier::REVERSED,
                    "crossed_out" => Modifier::CROSSED_OUT,
                    "slow_blink" => Modifier::SLOW_BLINK,
                    _ => {
                        return Err(invalid(
                            Some(m.span().start),
                            key("modifiers"),
                            format!(
                                "unknown modifier '{}'; known: bold, dim, italic, underlined, reversed, crossed_out, slow_blink",
                                m.get_ref()
                            ),
                        ));
                    }
                };
                style = style.add_modifier(modifier);
            }
            if let Some(slot) = theme.styles.get_mut(role.index()) {
                *slot = style;
            }
        }
        Ok(if file.monochrome {
            theme.without_color()
        } else {
            theme
        })
    }

    /// The same theme with every colour removed (modifiers stay). The trading states,
    /// which colour alone told apart, then differ by reverse video too: ACTIVE plain
    /// bold, PAUSED reversed, REDUCING reversed and italic, HALTED reversed, bold and
    /// underlined
    /// (their words are always written).
    pub fn without_color(mut self) -> Theme {
        self.monochrome = true;
        for s in &mut self.styles {
            *s = Style::new()
                .add_modifier(s.add_modifier)
                .remove_modifier(s.sub_modifier);
        }
        let states = [
            (Role::Active, Modifier::BOLD),
            (Role::Paused, Modifier::REVERSED),
            (Role::Reducing, Modifier::REVERSED | Modifier::ITALIC),
            (
                Role::Halted,
                Modifier::REVERSED | Modifier::BOLD | Modifier::UNDERLINED,
            ),
        ];
        for (role, m) in states {
            if let Some(slot) = self.styles.get_mut(role.index()) {
                *slot = Style::new().add_modifier(m);
            }
        }
        self
    }

    /// The next theme name after `current` in [`THEME_NAMES`].
    pub fn next_name(current: &str) -> &'static str {
        let i = THEME_NAMES.iter().position(|n| *n == current);
        THEME_NAMES[i.map_or(0, |i| (i + 1) % THEME_NAMES.len())]
    }
}

/// `t` in the console: the next theme of the cycle (or of the built-ins), keeping NO_COLOR
/// in force when the current theme was made colourless by it.
impl crate::app::ThemeCycle for Theme {
    fn next_theme(&self, cycle: &[Theme]) -> Option<(Theme, String)> {
        let forced_mono = self.monochrome && self.name != "mono";
        let light = self.light_background;
        // Only the themes that suit the terminal's background, in their order.
        let next = if cycle.is_empty() {
            let mut name = Theme::next_name(&self.name);
            for _ in 0..THEME_NAMES.len() {
                if suits_background(name, light) {
                    break;
                }
                name = Theme::next_name(name);
            }
            Theme::builtin(name).ok()
        } else {
            let fits: Vec<&Theme> = cycle
                .iter()
                .filter(|t| suits_background(&t.name, light))
                .collect();
            let i = fits
                .iter()
                .position(|t| t.name == self.name)
                .map_or(0, |i| (i + 1) % fits.len().max(1));
            fits.get(i).map(|t| (*t).clone())
        };
        next.map(|mut t| {
            t.light_background = light;
            let t = if forced_mono { t.without_color() } else { t };
            let name = format!("{}{}", t.name, if forced_mono { " (NO_COLOR)" } else { "" });
            (t, name)
        })
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::builtin("dark").unwrap_or_else(|_| Theme::defaults())
    }
}

/// True when the `NO_COLOR` environment variable is set and non-empty (no-color.org).
/// Reads the environment: call it once at start-up, outside `ui`.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for n in THEME_NAMES {
            Theme::builtin(n).expect(n);
        }
        assert!(Theme::builtin("mono").expect("mono").monochrome);
    }

    #[test]
    fn bad_colour_names_file_key_and_line() {
        let e = Theme::parse(
            "x",
            "[roles]\ntext = {}\nbid = { fg = \"gren\" }\n",
            Path::new("themes/x.toml"),
        )
        .expect_err("bad colour");
        let msg = e.to_string();
        assert!(msg.starts_with("themes/x.toml:3: roles.bid.fg"), "{msg}");
        assert!(msg.contains("gren"), "{msg}");
    }

    #[test]
    fn unknown_role_and_missing_file() {
        let e = Theme::parse(
            "x",
            "[roles]\nbidd = { fg = \"red\" }\n",
            Path::new("t.toml"),
        )
        .expect_err("unknown role");
        assert!(e.to_string().starts_with("t.toml:2: roles.bidd"), "{e}");
        let e = Theme::load("nope", Path::new("/nonexistent-dir"), false).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent-dir/nope.toml"), "{e}");
    }
}
