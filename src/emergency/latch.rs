//! The durable halt latch and the clean-exit record: small files in the data folder, each
//! written and fsynced on its own (never in the store's batch).
//!
//! * `halt.latch` holds why and when the kill switch tripped. It is written by a thread of
//!   its own ([`HaltLatch`]) right after the gate has closed, so the engine thread never
//!   waits on the disk. It is removed (and the folder fsynced) only by a re-arm that
//!   leaves the gate open. At start-up an existing latch means HALTED with its reason,
//!   whatever the store says.
//! * `clean-exit` is written at the very end of an orderly run and removed at start-up.
//!   A data folder whose store has runs but no such record was left by a process that
//!   died (kill -9, a panic, power loss): the next run comes up HALTED, "recovered from a
//!   crash".

use crate::domain::TradingGate;
use crate::engine::view::HaltLatchState;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// The latch file's name in the data folder.
pub const LATCH_FILE: &str = "halt.latch";
/// The clean-exit record's name in the data folder.
pub const CLEAN_EXIT_FILE: &str = "clean-exit";
/// The halt reason after an unclean exit.
pub const CRASH_REASON: &str = "recovered from a crash";

/// Why a latch or marker file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct LatchError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// What the latch file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatchRecord {
    pub reason: String,
    pub source: String,
    /// Wall-clock time of the request (RFC 3339), for people.
    pub at: String,
}

/// The data folder of a store path (`data/pit.redb` -> `data`).
pub fn data_dir(store_path: &Path) -> PathBuf {
    match store_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LatchError + '_ {
    move |source| LatchError {
        path: path.to_path_buf(),
        source,
    }
}

/// fsync a folder, so a file created, renamed or removed in it survives a power loss.
fn sync_dir(dir: &Path) -> Result<(), LatchError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Write `bytes` to `path` durably: a temporary file written and fsynced, renamed over
/// `path`, then the folder fsynced. A reader sees the old file or the whole new one.
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), LatchError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

/// Remove `path` (if present) durably: the folder is fsynced after.
pub fn remove_durable(path: &Path) -> Result<(), LatchError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The latch in `dir`, if any. A latch that cannot be read still halts (fail closed).
pub fn read_latch(dir: &Path) -> Option<LatchRecord> {
    let path = dir.join(LATCH_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap_or_else(|e| LatchRecord {
            reason: format!("halt latch {} unreadable ({e})", path.display()),
            source: "halt latch".into(),
            at: String::new(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(LatchRecord {
            reason: format!("halt latch {} unreadable ({e})", path.display()),
            source: "halt latch".into(),
            at: String::new(),
        }),
    }
}

/// Write the latch in `dir` now, on the calling thread (start-up only).
pub fn write_latch(dir: &Path, rec: &LatchRecord) -> Result<(), LatchError> {
    let text = serde_json::to_string(rec).unwrap_or_else(|_| rec.reason.clone());
    write_durable(&dir.join(LATCH_FILE), format!("{text}\n").as_bytes())
}

/// Whether the last run in `dir` ended in order.
pub fn clean_exit_present(dir: &Path) -> bool {
    dir.join(CLEAN_EXIT_FILE).exists()
}

/// The very end of an orderly run: record that it ended in order.
pub fn mark_clean_exit(dir: &Path) -> Result<(), LatchError> {
    let text = format!(
        "pid {} {}\n",
        std::process::id(),
        chrono::Utc::now().to_rfc3339()
    );
    write_durable(&dir.join(CLEAN_EXIT_FILE), text.as_bytes())
}

/// The start of a run: from now on, dying is a crash.
pub fn clear_clean_exit(dir: &Path) -> Result<(), LatchError> {
    remove_durable(&dir.join(CLEAN_EXIT_FILE))
}

enum Msg {
    Halt { generation: u64, rec: LatchRecord },
    Clear { generation: u64 },
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    gate: TradingGate,
    /// Requests queued so far, and how many of them the writer has finished.
    requested: AtomicU64,
    written: AtomicU64,
    /// The latch file is on disk (durable).
    present: AtomicBool,
    /// The last write failed; the error waits here to be raised once as an alert.
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    /// A `HALT` file is in the data folder (set by the watcher): re-arm is refused.
    halt_file: AtomicBool,
}

/// A handle on the halt latch of one data folder. Cloning shares it. Requests never wait
/// on the disk: a thread of its own writes and fsyncs.
#[derive(Clone, Debug)]
pub struct HaltLatch {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Halt { generation, .. } => write!(f, "Halt({generation})"),
            Msg::Clear { generation } => write!(f, "Clear({generation})"),
        }
    }
}

impl HaltLatch {
    /// Start the latch writer for `dir`. `gate` is the run's trading gate: a re-arm's
    /// removal is skipped when the gate has closed again since (a later kill wins).
    pub fn start(dir: &Path, gate: TradingGate) -> std::io::Result<HaltLatch> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            gate,
            requested: AtomicU64::new(0),
            written: AtomicU64::new(0),
            present: AtomicBool::new(dir.join(LATCH_FILE).exists()),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            halt_file: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("pit-halt-latch".into())
            .spawn(move || writer(&s, rx))?;
        Ok(HaltLatch { shared, tx })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Latch a halt (after the gate has closed). Never blocks. An existing latch keeps
    /// its first reason.
    pub fn halt(&self, source: &str, reason: &str) {
        let generation = self.shared.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let rec = LatchRecord {
            reason: reason.to_string(),
            source: source.to_string(),
            at: chrono::Utc::now().to_rfc3339(),
        };
        let _ = self.tx.send(Msg::Halt { generation, rec });
    }

    /// A re-arm: remove the latch, unless the gate has closed again by the time the
    /// writer gets to it. Never blocks.
    pub fn clear(&self) {
        let generation = self.shared.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.tx.send(Msg::Clear { generation });
    }

    /// Where the latch stands, for the view.
    pub fn state(&self) -> HaltLatchState {
        let s = &self.shared;
        if s.failed.load(Ordering::SeqCst) {
            HaltLatchState::Failed
        } else if s.written.load(Ordering::SeqCst) < s.requested.load(Ordering::SeqCst) {
            HaltLatchState::Latching
        } else if s.present.load(Ordering::SeqCst) {
            HaltLatchState::Latched
        } else {
            HaltLatchState::NotLatched
        }
    }

    /// A write failure not yet raised as an alert.
    pub fn take_failure(&self) -> Option<String> {
        if !self.shared.failed.load(Ordering::Relaxed) {
            return None;
        }
        self.shared.failure.lock().ok()?.take()
    }

    /// Whether a `HALT` file is in the data folder (re-arm is refused while it is).
    pub fn halt_file_present(&self) -> bool {
        self.shared.halt_file.load(Ordering::SeqCst)
    }

    pub(crate) fn set_halt_file(&self, present: bool) {
        self.shared.halt_file.store(present, Ordering::SeqCst);
    }

    /// Wait (up to `limit`) until every request so far is on disk; for tests and the
    /// end of a run.
    pub fn flush(&self, limit: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        let want = self.shared.requested.load(Ordering::SeqCst);
        while self.shared.written.load(Ordering::SeqCst) < want {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }
}

/// The latch writer: takes everything queued, acts on the last request (earlier ones are
/// superseded), and marks them all done once the disk has it.
fn writer(s: &Shared, rx: Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        // The last request decides; a halt keeps the first reason since the last clear.
        let mut last = first;
        for m in rx.try_iter() {
            last = match (last, m) {
                (Msg::Halt { rec, .. }, Msg::Halt { generation, .. }) => {
                    Msg::Halt { generation, rec }
                }
                (_, m) => m,
            };
        }
        let path = s.dir.join(LATCH_FILE);
        let (generation, result) = match last {
            Msg::Halt { generation, rec } => {
                if s.present.load(Ordering::SeqCst) {
                    (generation, Ok(()))
                } else {
                    let r = write_latch(&s.dir, &rec);
                    if r.is_ok() {
                        s.present.store(true, Ordering::SeqCst);
                        tracing::info!(reason = %rec.reason, "halt latched to disk");
                    }
                    (generation, r)
                }
            }
            Msg::Clear { generation } => {
                if !s.gate.is_open() {
                    // Closed again since the re-arm: a later kill keeps the latch.
                    (generation, Ok(()))
                } else {
                    let r = remove_durable(&path);
                    if r.is_ok() {
                        s.present.store(false, Ordering::SeqCst);
                        s.failed.store(false, Ordering::SeqCst);
                        tracing::info!("halt latch removed (re-armed)");
                    }
                    (generation, r)
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "halt latch: cannot write");
            if let Ok(mut f) = s.failure.lock() {
                *f = Some(e.to_string());
            }
            s.failed.store(true, Ordering::SeqCst);
        }
        s.written.fetch_max(generation, Ordering::SeqCst);
    }
}
