//! The out-of-band kill paths and the durable halt: what trips the kill switch when the
//! console cannot (a hung terminal, a dead SSH session), and what keeps a halt across a
//! crash.
//!
//! * `kill -USR1 <pid>`: a thread of its own waits for the signal and trips the kill
//!   switch (reason `SIGUSR1`).
//! * A file named `HALT` in the data folder (the folder of `store.path`): a watcher thread
//!   looks for it every [`HALT_POLL`] and trips the kill switch when it appears; its text
//!   (trimmed, printable, at most [`HALT_TEXT_MAX`] characters) becomes the reason. The
//!   file stays: while it is there a re-arm is refused (the runner says so), and should
//!   the gate be open anyway the watcher trips the switch again. A run that starts with
//!   the file present comes up halted (the gate is closed before the engine starts).
//! * [`latch`]: the halt latch, fsynced on its own right after the gate closes, and the
//!   clean-exit record that tells a restart whether the last run crashed.
//!
//! Neither thread touches the console or waits for the engine: both call
//! [`Killer::kill`](killer::Killer::kill), which closes the gate before it returns.

pub mod killer;
pub mod latch;

use crate::domain::TradingGate;
use killer::Killer;
use latch::HaltLatch;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `HALT` file's name in the data folder.
pub const HALT_FILE: &str = "HALT";
/// How often the watcher looks for the `HALT` file.
pub const HALT_POLL: Duration = Duration::from_millis(50);
/// At most this many characters of the `HALT` file become the reason.
pub const HALT_TEXT_MAX: usize = 200;

/// The reason a `HALT` file gives: its text, trimmed, printable, bounded.
pub fn halt_file_reason(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(4096).read_to_end(&mut buf);
    }
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && *c != '\u{fffd}')
        .collect();
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text: String = text.chars().take(HALT_TEXT_MAX).collect();
    let remove = format!("remove {} to re-arm", path.display());
    if text.is_empty() {
        format!("HALT file ({remove})")
    } else {
        format!("HALT file: {text} ({remove})")
    }
}

/// Close the gate before the engine starts if a `HALT` file is already there; returns
/// whether it was.
pub fn halt_file_at_start(dir: &Path, gate: &TradingGate) -> bool {
    let present = dir.join(HALT_FILE).exists();
    if present {
        gate.kill();
    }
    present
}

/// Start the out-of-band kill paths for a run whose data folder is `dir`: the `SIGUSR1`
/// thread and the `HALT` file watcher. They live as long as the process.
pub fn start(dir: &Path, killer: Killer, latch: HaltLatch) -> std::io::Result<()> {
    start_signal(killer.clone())?;
    let path = dir.join(HALT_FILE);
    std::thread::Builder::new()
        .name("pit-halt-file".into())
        .spawn(move || watch_halt_file(path, killer, latch))?;
    Ok(())
}

/// The `SIGUSR1` thread alone: what a run that persists nothing (a recording, a replay)
/// has, besides its control socket; its halt is not latched to disk, where it would hold
/// the next real run in that folder.
pub fn start_signal(killer: Killer) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGUSR1])?;
    std::thread::Builder::new()
        .name("pit-sigusr1".into())
        .spawn(move || {
            for _ in signals.forever() {
                tracing::warn!("SIGUSR1: tripping the kill switch");
                killer.kill("signal", "SIGUSR1");
            }
        })?;
    Ok(())
}

/// Every [`HALT_POLL`]: a `HALT` file that appeared, or one still there while the gate is
/// open, trips the kill switch.
fn watch_halt_file(path: PathBuf, killer: Killer, latch: HaltLatch) {
    let mut seen = false;
    loop {
        let present = path.exists();
        latch.set_halt_file(present);
        if present && (!seen || killer.gate_is_open()) {
            let reason = halt_file_reason(&path);
            tracing::warn!(%reason, "HALT file: tripping the kill switch");
            if !killer.kill("HALT file", &reason) {
                return;
            }
        }
        seen = present;
        std::thread::sleep(HALT_POLL);
    }
}
