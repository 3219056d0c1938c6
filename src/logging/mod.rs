//! Logs go to files that roll by day and by size under a total cap (`log.max_mb`), through a
//! non-blocking writer, never to the terminal. Repeated warnings are rate-limited per kind
//! ([`limit`], [`crate::warn_limited!`]). `RUST_LOG`, when set, overrides `log.level`.
//! Keep the returned guard alive until `main` returns so the last lines are flushed.

pub mod limit;
pub mod rolling;

use crate::domain::Invalid;
use anyhow::Context;
use serde::Deserialize;
use std::path::PathBuf;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Folder for the log files, rolled by day and by size (relative to the working directory).
    pub dir: PathBuf,
    /// Level filter: off, error, warn, info, debug, trace, or `target=level` directives
    /// separated by commas. `RUST_LOG`, when set, overrides it.
    pub level: String,
    /// Cap on the log files' total size in MiB; the oldest files are deleted beyond it.
    pub max_mb: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            dir: PathBuf::from("logs"),
            level: "info".into(),
            max_mb: 200,
        }
    }
}

impl LogConfig {
    /// Values that parse but make no sense: a level tracing would take for a module name
    /// (`verbose`), a zero cap.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_filter(&self.level).map_err(|m| Invalid::new("level", m))?;
        if self.max_mb == 0 {
            return Err(Invalid::new("max_mb", "must be at least 1"));
        }
        Ok(())
    }
}

/// Level names a filter directive may use.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The network crates under pit, held at `info` whatever the filter asks: at `trace`,
/// tungstenite logs every frame it sends before masking (an OKX `login` carries the API
/// passphrase in it), and the HTTP crates log requests and connections at `debug`. Their
/// lines come through the `log` bridge under these targets.
pub const WIRE_TARGETS: [&str; 7] = [
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
];

/// `filter` with [`WIRE_TARGETS`] held at `info` (added last: they win over a directive
/// of the user's for the same target).
pub fn capped(mut filter: EnvFilter) -> EnvFilter {
    for t in WIRE_TARGETS {
        if let Ok(d) = format!("{t}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Check a level filter (`info`, `warn,pit::venue=debug`, ...). tracing accepts any bare word
/// as a target name, so `verbose` would silently mean "only the target `verbose`" and leave
/// an empty log: here a bare word must be a level, and a `target=level` directive must end
/// in one.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    let usage = "use one of off, error, warn, info, debug, trace, or target=level";
    if filter.trim().is_empty() {
        return Err(format!("must not be empty; {usage}"));
    }
    for d in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d.rsplit_once('=') {
            Some((target, level)) if target.trim().is_empty() || !is_level(level) => {
                return Err(format!("'{d}' is not a target=level directive; {usage}"));
            }
            Some(_) => {}
            None if !is_level(d) => {
                return Err(format!("unknown level '{d}'; {usage}"));
            }
            None => {}
        }
    }
    EnvFilter::try_new(filter).map_err(|e| format!("invalid filter '{filter}': {e}"))?;
    Ok(())
}

static DROPPED: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Log lines dropped because the writer's queue was full (the disk fell behind).
pub fn dropped_lines() -> usize {
    DROPPED.get().map_or(0, |c| c.dropped_lines())
}

/// The first failure to write the log file (a full disk, an I/O error), once; see
/// [`rolling::WriteFailure`].
pub fn take_write_failure() -> Option<String> {
    rolling::failure().take()
}

/// Flushes the log when dropped, after writing the rate limiter's pending summaries.
pub struct LogGuard {
    _worker: WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        limit::flush_summaries();
    }
}

/// Start logging to `<dir>/pit.log.YYYY-MM-DD[.N]`.
pub fn init(cfg: &LogConfig) -> anyhow::Result<LogGuard> {
    std::fs::create_dir_all(&cfg.dir)
        .with_context(|| format!("cannot create log folder {}", cfg.dir.display()))?;
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match &from_env {
        Some(v) => {
            check_filter(v).map_err(|e| anyhow::anyhow!("RUST_LOG: {e}"))?;
            v.clone()
        }
        None => {
            check_filter(&cfg.level).map_err(|e| anyhow::anyhow!("log.level: {e}"))?;
            cfg.level.clone()
        }
    };
    let filter = capped(EnvFilter::try_new(&filter).context("log filter")?);
    let total = u64::from(cfg.max_mb.max(1)) * 1024 * 1024;
    // Five files or more under the cap, so a roll never deletes most of the history.
    let appender = rolling::SizeRolling::open(&cfg.dir, total / 5, total).map_err(|e| {
        anyhow::anyhow!(
            "log.dir: cannot write a log file in {}: {e}; make the folder writable or set log.dir",
            cfg.dir.display()
        )
    })?;
    // Lossy when its queue is full: the engine thread never waits on the disk. What is
    // dropped is counted ([`dropped_lines`]) and raised as an alert by the run.
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let _ = DROPPED.set(writer.error_counter());
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))?;
    if let Some(v) = from_env {
        tracing::info!("log filter from RUST_LOG (overrides log.level): {v}");
    }
    Ok(LogGuard { _worker: guard })
}

#[cfg(test)]
mod tests {
    use super::check_filter;

    /// At `trace`, or with a directive naming it, a frame tungstenite would log (an OKX
    /// login with its passphrase) never reaches the log; pit's own trace lines do.
    #[test]
    fn the_wire_crates_never_log_below_info() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for asked in ["trace", "info,tungstenite=trace,reqwest=debug"] {
            let buf = Buf::default();
            let out = buf.clone();
            let sub = tracing_subscriber::fmt()
                .with_writer(move || out.clone())
                .with_ansi(false)
                .with_env_filter(super::capped(
                    tracing_subscriber::EnvFilter::try_new(asked).unwrap(),
                ))
                .finish();
            tracing::subscriber::with_default(sub, || {
                tracing::trace!(target: "tungstenite::protocol", "Sending frame: passphrase=hunter2");
                tracing::debug!(target: "reqwest::connect", "starting new connection: secret-host");
                tracing::info!(target: "tungstenite::protocol", "connection closed");
                tracing::trace!(target: "pit::venue", "pit trace line");
            });
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            assert!(!text.contains("hunter2"), "{asked}: {text}");
            assert!(!text.contains("secret-host"), "{asked}: {text}");
            assert!(text.contains("connection closed"), "{asked}: {text}");
            assert_eq!(
                text.contains("pit trace line"),
                asked == "trace",
                "{asked}: {text}"
            );
        }
    }

    #[test]
    fn filters_with_unknown_levels_are_refused() {
        for ok in ["info", "WARN", "warn,pit::venue=debug", "pit=trace", "off"] {
            assert_eq!(check_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["verbose", "", "info,loud", "pit=verbose", "=info"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
        assert!(
            check_filter("verbose")
                .unwrap_err()
                .contains("unknown level 'verbose'")
        );
    }
}
