//! Progress bars on stderr for the long jobs (backtest, sweep, import, verify, store
//! backup), drawn by indicatif: position, rate and ETA; jobs whose progress cannot be
//! measured (store compaction, which redb does not report; report and export reading the
//! store; reconcile waiting for the venue) show a spinner with the time they have taken. Hidden when stderr is
//! not a terminal (a script's pipe or a log file never sees them) and with `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

const BYTES: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";
const ROWS: &str = "{msg} [{bar:30}] {human_pos}/{human_len} rows {per_sec} ETA {eta}";
const SPIN: &str = "{spinner} {msg} {elapsed}";
const RUN: &str = "[{bar:24}] {percent:>3}% {binary_bytes_per_sec} ETA {eta} {msg}";

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no bar, whatever stderr is.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether bars are drawn: stderr is a terminal and `--quiet` was not given.
pub fn shown() -> bool {
    !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

fn target() -> ProgressDrawTarget {
    if shown() {
        ProgressDrawTarget::stderr_with_hz(10)
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants of this file: a bad one is a bug found by the tests.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

/// Bytes of a file read: `label [####>----] 12.3 MiB/40.0 MiB 85 MiB/s ETA 0s`.
pub fn bytes(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(style(BYTES));
    bar.set_message(label.to_string());
    bar
}

/// Rows copied: `label [####>----] 1,200/40,000 rows 85000/s ETA 0s`.
pub fn rows(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(style(ROWS));
    bar.set_message(label.to_string());
    bar
}

/// A job whose progress cannot be measured: `⠋ label 3s`, redrawn ten times a second;
/// `✓ label 3s` once [`ProgressBar::finish`]ed.
pub fn spinner(label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target());
    bar.set_style(
        ProgressStyle::with_template(SPIN)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", "✓"]),
    );
    bar.set_message(label.to_string());
    if shown() {
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
    }
    bar
}

/// Several bars drawn together (a sweep: one per run), hidden as [`bytes`] is.
pub fn multi() -> MultiProgress {
    MultiProgress::with_draw_target(target())
}

/// A run waiting its turn, then its bytes, in a [`multi`].
pub fn run_bar(multi: &MultiProgress, total: u64, label: &str) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(total));
    bar.set_style(style(RUN));
    bar.set_message(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_are_valid() {
        for t in [super::BYTES, super::RUN, super::ROWS, super::SPIN] {
            assert!(indicatif::ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
