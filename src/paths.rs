//! Where pit finds its config and keeps its data, as command-line tools usually do.
//!
//! The config file is the first of: `--config PATH`, the `PIT_CONFIG` environment variable,
//! `./config.toml`, then the platform's config folder (`$XDG_CONFIG_HOME/pit/config.toml`,
//! else `~/.config/pit/config.toml` on Linux; `~/Library/Application Support/pit/` on
//! macOS), else the built-in defaults. The relative paths inside a config (`store.path`,
//! `log.dir`, `recording.dir`, `console.themes_dir`) are relative to the folder of the
//! config file; with the built-in defaults, to the platform's data folder
//! (`$XDG_DATA_HOME/pit`, else `~/.local/share/pit`). So `./config.toml` keeps its data
//! in `./data/` as before, and a config found anywhere else keeps it beside itself, wherever
//! pit is started from. `pit status` and `pit kill` look for the running engine's socket
//! through the same search. `pit config path` prints the choice and why.

use crate::config::Config;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming a config file.
pub const ENV: &str = "PIT_CONFIG";
/// The file name looked for in the working folder and the platform's config folder.
pub const FILE: &str = "config.toml";

/// Which rule chose the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--config PATH`.
    Flag,
    /// `PIT_CONFIG`.
    Env,
    /// `./config.toml`.
    WorkingDir,
    /// The platform's config folder.
    UserConfig,
    /// No file: the built-in defaults.
    BuiltIn,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "--config",
            Source::Env => ENV,
            Source::WorkingDir => "working folder",
            Source::UserConfig => "user config folder",
            Source::BuiltIn => "built-in defaults",
        }
    }
}

/// What the search looks at: the process's environment, or a test's.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `PIT_CONFIG`, if set and not empty.
    pub pit_config: Option<OsString>,
    /// The working folder (`./config.toml` is looked for in it).
    pub cwd: PathBuf,
    /// The platform's config folder for pit, if the platform has one (no home: none).
    pub config_dir: Option<PathBuf>,
    /// The platform's data folder for pit, if the platform has one.
    pub data_dir: Option<PathBuf>,
}

impl Env {
    /// This process's environment.
    pub fn from_process() -> Env {
        let dirs = directories::ProjectDirs::from("", "", "pit");
        Env {
            pit_config: std::env::var_os(ENV).filter(|v| !v.is_empty()),
            cwd: PathBuf::from("."),
            config_dir: dirs.as_ref().map(|d| d.config_dir().to_path_buf()),
            data_dir: dirs.as_ref().map(|d| d.data_dir().to_path_buf()),
        }
    }
}

/// The outcome of the search.
#[derive(Clone, Debug)]
pub struct Located {
    /// The config file, or `None` for the built-in defaults.
    pub file: Option<PathBuf>,
    pub source: Source,
    /// The folder that the config's relative paths are relative to (empty: the working
    /// folder, as `./config.toml` always had it).
    pub base: PathBuf,
    /// Each place looked at, in order, and what was found there.
    pub trail: Vec<String>,
    /// Where `pit config init` writes: the chosen file, else the user config file.
    pub init_target: Option<PathBuf>,
}

/// Find the config: `--config`, `PIT_CONFIG`, `./config.toml`, the user config folder,
/// the built-in defaults. A file named by `--config` or `PIT_CONFIG` is chosen even if it
/// does not exist (loading it then fails with its name: a typo never silently falls back).
pub fn locate(flag: Option<&Path>, env: &Env) -> Located {
    let mut trail = Vec::new();
    let user_file = env.config_dir.as_ref().map(|d| d.join(FILE));
    let chosen = |file: PathBuf, source, trail: Vec<String>| Located {
        base: base_of(&file),
        init_target: Some(file.clone()),
        file: Some(file),
        source,
        trail,
    };
    if let Some(f) = flag {
        trail.push(format!("--config {}: chosen", f.display()));
        return chosen(f.to_path_buf(), Source::Flag, trail);
    }
    trail.push("--config: not given".into());
    if let Some(v) = &env.pit_config {
        let f = PathBuf::from(v);
        trail.push(format!("{ENV}={}: chosen", f.display()));
        return chosen(f, Source::Env, trail);
    }
    trail.push(format!("{ENV}: not set"));
    let local = env.cwd.join(FILE);
    if local.is_file() {
        trail.push(format!("./{FILE}: found, chosen"));
        // As before: relative to the working folder, spelled `config.toml`.
        return chosen(PathBuf::from(FILE), Source::WorkingDir, trail);
    }
    trail.push(format!("./{FILE}: not found"));
    match &user_file {
        Some(f) if f.is_file() => {
            trail.push(format!("{}: found, chosen", f.display()));
            return chosen(f.clone(), Source::UserConfig, trail);
        }
        Some(f) => trail.push(format!("{}: not found", f.display())),
        None => trail.push("user config folder: none on this system (no home folder)".into()),
    }
    let base = env.data_dir.clone().unwrap_or_default();
    trail.push(match &env.data_dir {
        Some(d) => format!("built-in defaults, data under {}", d.display()),
        None => "built-in defaults, data under the working folder".into(),
    });
    Located {
        file: None,
        source: Source::BuiltIn,
        base,
        trail,
        init_target: user_file,
    }
}

/// The folder a config file's relative paths are relative to.
fn base_of(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `p` relative to `base` unless it is absolute (an empty base leaves it as it is).
pub fn under(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || base.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Make the config's folders relative to `base`: the store, the logs, the recordings and
/// the themes.
pub fn rebase(cfg: &mut Config, base: &Path) {
    cfg.store.path = under(base, &cfg.store.path);
    cfg.log.dir = under(base, &cfg.log.dir);
    cfg.recording.dir = under(base, &cfg.recording.dir);
    let themes = under(base, Path::new(&cfg.console.themes_dir));
    cfg.console.themes_dir = themes.to_string_lossy().into_owned();
}

/// Read the located config (or the defaults) with its folders made relative to it.
pub fn load(loc: &Located) -> Result<Config, crate::config::ConfigError> {
    let mut cfg = match &loc.file {
        Some(f) => Config::load(f)?,
        None => Config::default(),
    };
    rebase(&mut cfg, &loc.base);
    Ok(cfg)
}

/// `pit config path`: the file (or the defaults), the rule that chose it, the trail, and
/// the folders that follow from it.
pub fn describe(loc: &Located, cfg: &Config) -> String {
    let mut s = String::new();
    // Full paths: what is printed holds from any folder (a relative one is the working
    // folder's, as pit reads it).
    let full = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match &loc.file {
        Some(f) => s.push_str(&format!(
            "config     {} ({})\n",
            full(f).display(),
            loc.source.as_str()
        )),
        None => s.push_str("config     (none: built-in defaults)\n"),
    }
    let shown = |p: &Path| {
        if p.as_os_str().is_empty() {
            full(Path::new(".")).display().to_string()
        } else {
            full(p).display().to_string()
        }
    };
    s.push_str(&format!("store      {}\n", shown(&cfg.store.path)));
    s.push_str(&format!(
        "socket     {}\n",
        shown(&crate::control::data_dir(&cfg.store.path).join("pit.sock"))
    ));
    s.push_str(&format!("logs       {}\n", shown(&cfg.log.dir)));
    s.push_str(&format!("recordings {}\n", shown(&cfg.recording.dir)));
    s.push_str("searched:\n");
    for t in &loc.trail {
        s.push_str(&format!("  {t}\n"));
    }
    s
}

/// The shipped, commented config (every key at its default).
pub const TEMPLATE: &str = include_str!("../config.toml");

/// Why `pit config init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; not overwritten (remove it first, or pass --config NEW_PATH)")]
    Exists(PathBuf),
    #[error("no place for a config: no home folder; pass --config PATH")]
    NoPlace,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Write the commented config at `target`, never over an existing file (created
/// exclusively, so a file that appears meanwhile is not overwritten either).
pub fn init(target: Option<&Path>) -> Result<PathBuf, InitError> {
    use std::io::Write;
    let path = target.ok_or(InitError::NoPlace)?.to_path_buf();
    let werr = |source| InitError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(werr)?;
    }
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(InitError::Exists(path));
        }
        Err(e) => return Err(werr(e)),
    };
    f.write_all(TEMPLATE.as_bytes()).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> Env {
        Env {
            pit_config: None,
            cwd: dir.join("cwd"),
            config_dir: Some(dir.join("xdg/pit")),
            data_dir: Some(dir.join("share/pit")),
        }
    }

    #[test]
    fn the_search_order_is_flag_env_cwd_user_defaults() {
        let t = tempfile::tempdir().unwrap();
        let mut e = env(t.path());
        std::fs::create_dir_all(&e.cwd).unwrap();
        // Nothing anywhere: the defaults, data in the platform's data folder.
        let l = locate(None, &e);
        assert_eq!(l.source, Source::BuiltIn);
        assert_eq!(l.base, t.path().join("share/pit"));
        assert_eq!(l.init_target, Some(t.path().join("xdg/pit/config.toml")));
        // A user config.
        std::fs::create_dir_all(t.path().join("xdg/pit")).unwrap();
        std::fs::write(t.path().join("xdg/pit/config.toml"), "").unwrap();
        let l = locate(None, &e);
        assert_eq!(l.source, Source::UserConfig);
        assert_eq!(l.base, t.path().join("xdg/pit"));
        // ./config.toml wins over it, relative to the working folder as before.
        std::fs::write(e.cwd.join("config.toml"), "").unwrap();
        let l = locate(None, &e);
        assert_eq!(l.source, Source::WorkingDir);
        assert_eq!(l.file, Some(PathBuf::from("config.toml")));
        assert_eq!(l.base, PathBuf::new());
        // PIT_CONFIG wins over that, even if the file is missing.
        e.pit_config = Some("/etc/pit/missing.toml".into());
        let l = locate(None, &e);
        assert_eq!(l.source, Source::Env);
        assert_eq!(l.base, PathBuf::from("/etc/pit"));
        // --config wins over everything.
        let l = locate(Some(Path::new("other/c.toml")), &e);
        assert_eq!(l.source, Source::Flag);
        assert_eq!(l.base, PathBuf::from("other"));
    }

    #[test]
    fn relative_folders_follow_the_config_and_absolute_ones_stay() {
        let mut cfg = Config::default();
        cfg.log.dir = PathBuf::from("/var/log/pit");
        rebase(&mut cfg, Path::new("/home/a/.config/pit"));
        assert_eq!(
            cfg.store.path,
            PathBuf::from("/home/a/.config/pit/data/pit.redb")
        );
        assert_eq!(cfg.log.dir, PathBuf::from("/var/log/pit"));
        assert_eq!(
            cfg.recording.dir,
            PathBuf::from("/home/a/.config/pit/recordings")
        );
        // An empty base (./config.toml) changes nothing.
        let mut cfg = Config::default();
        rebase(&mut cfg, Path::new(""));
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn init_writes_the_commented_config_once() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("a/b/config.toml");
        assert_eq!(init(Some(&target)).unwrap(), target);
        let text = std::fs::read_to_string(&target).unwrap();
        assert!(text.starts_with("# pit configuration"));
        assert_eq!(Config::parse(&text, &target).unwrap(), Config::default());
        std::fs::write(&target, "seed = 1\n").unwrap();
        let e = init(Some(&target)).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "seed = 1\n");
    }
}
