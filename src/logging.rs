//! Logs go to daily-rolling files through a non-blocking writer, never to the terminal.
//! Keep the returned guard alive until `main` returns so the last lines are flushed.

use crate::config::LogConfig;
use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Start logging to `<dir>/pit.log.YYYY-MM-DD`.
pub fn init(cfg: &LogConfig) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(&cfg.dir)
        .with_context(|| format!("cannot create log folder {}", cfg.dir.display()))?;
    let filter = EnvFilter::try_new(&cfg.level)
        .with_context(|| format!("log.level: invalid filter '{}'", cfg.level))?;
    // The builder says why it cannot open the file (a read-only folder, say) instead of
    // panicking as `rolling::daily` does.
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("pit.log")
        .build(&cfg.dir)
        .map_err(|e| {
            anyhow::anyhow!(
                "log.dir: cannot write a log file in {}: {e}; make the folder writable or set log.dir",
                cfg.dir.display()
            )
        })?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))?;
    Ok(guard)
}
