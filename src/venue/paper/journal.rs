//! The paper venue's own log: what a real venue would still know after pit died.
//!
//! A real venue outlives pit: after a crash it is asked which orders are still open and
//! which fills it made (issue 10: "ask the venue instead of marking them cancelled"). The
//! paper venue lives in pit's process, so it keeps a log of its own in the data folder,
//! `paper-venue.jsonl`: one JSON line per venue-side event (an order accepted, a fill, an
//! order cancelled or rejected), written **when the venue makes it**, that is
//! `latency_out_ms` before the engine hears of it and longer before the store records it.
//! A `kill -9` in that window loses nothing: the next start reads the log, hands the engine
//! the fills the store never got (as [`ExecReport::EarlierRunFill`]) and settles the orders
//! the store still had open with the venue's word (filled, cancelled, rejected, or open at
//! the crash, which the restarted venue no longer holds).
//!
//! **Writing.** The venue appends each line to a buffer as it makes the event (no I/O),
//! and the buffer is written (one `write`, to the page cache) just before the venue hands
//! any report to the engine: the log always holds at least what the engine, and so the
//! store, knows, and a process crash loses nothing written (the page cache survives it).
//! A thread of its own `fdatasync`s it at most every [`SYNC_EVERY`] (a power cut). A write
//! that fails closes the trading gate at once and is handed to the runner, which halts
//! with the error (fail closed: no trading on a venue whose record is incomplete).
//!
//! **Reading.** A line that does not parse (a torn last line after a crash) is skipped and
//! counted, never fatal. Fill sequence numbers continue across runs (the log's `start`
//! line says where), so the fills handed over and the new run's own fills never share a
//! store key.
//!
//! JSON lines rather than a redb table of its own: the log is append-only and written
//! from one thread, and a person can read it with `tail` next to the store.

use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, Liquidity, Side, Timestamp, TradingGate,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The log's file name, in the data folder.
pub const FILE: &str = "paper-venue.jsonl";
/// At most this long between a line written and it being on disk (a power cut; a process
/// crash loses nothing once the line is written).
pub const SYNC_EVERY: Duration = Duration::from_millis(200);

/// One venue-side event. `run` is the pit run whose order it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Line {
    /// A run's venue starts; its first fill is numbered `next_seq`.
    Start {
        run: u64,
        next_seq: u64,
    },
    Accepted {
        run: u64,
        id: String,
    },
    /// A fill (its fields beside the tag, as a [`LoggedFill`]).
    Fill(LoggedFill),
    Cancelled {
        run: u64,
        id: String,
    },
    Rejected {
        run: u64,
        id: String,
        reason: String,
    },
}

/// How an order ended at the venue, as far as its log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Cancelled,
    Rejected(String),
}

/// One order as the venue's log knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AtVenue {
    pub accepted: bool,
    /// Base units filled, every fill in the log.
    pub filled: Decimal,
    pub end: Option<End>,
}

/// A fill as the log has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedFill {
    pub run: u64,
    pub id: String,
    pub seq: u64,
    pub ts: Timestamp,
    pub symbol: String,
    pub side: Side,
    pub price: Decimal,
    pub qty: Decimal,
    pub fee: Decimal,
    pub liquidity: Liquidity,
}

impl LoggedFill {
    /// The fill on `inst`'s grid, or why it cannot be (the instrument's tick or lot
    /// changed since).
    pub fn to_fill(&self, inst: &Instrument) -> Result<Fill, String> {
        let price = inst
            .price_from_decimal(self.price)
            .map_err(|e| format!("price {}: {e}", self.price))?;
        let qty = inst
            .qty_from_decimal(self.qty)
            .map_err(|e| format!("quantity {}: {e}", self.qty))?;
        Ok(Fill {
            seq: self.seq,
            ts: self.ts,
            client_id: ClientOrderId::new(self.id.as_str()),
            instrument: inst.id,
            side: self.side,
            price,
            qty,
            fee: self.fee,
            liquidity: self.liquidity,
            fee_base: rust_decimal::Decimal::ZERO,
        })
    }
}

/// What the log says, read at start-up.
#[derive(Clone, Debug, Default)]
pub struct VenueLog {
    /// By (run, client id).
    pub orders: BTreeMap<(u64, String), AtVenue>,
    /// Every fill, in the order the venue made them.
    pub fills: Vec<LoggedFill>,
    /// The runs whose venue wrote here.
    pub runs: Vec<u64>,
    /// The highest fill sequence number used (a `start` line's `next_seq - 1` counts).
    pub max_seq: u64,
    /// Lines that did not parse (a torn last line), and the first one's number.
    pub skipped: usize,
    pub first_skipped: Option<usize>,
}

impl VenueLog {
    /// Read the log at `path`; `Ok(None)` if there is none.
    pub fn read(path: &Path) -> std::io::Result<Option<VenueLog>> {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(std::io::Error::other("not a regular file"));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let text = std::fs::read(path)?;
        Ok(Some(Self::parse(&text)))
    }

    /// Parse the log's bytes (lines that are not valid UTF-8 JSON are skipped).
    pub fn parse(bytes: &[u8]) -> VenueLog {
        let mut log = VenueLog::default();
        for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Line>(raw) {
                Ok(line) => log.apply(line),
                Err(_) => {
                    log.skipped += 1;
                    log.first_skipped.get_or_insert(n + 1);
                }
            }
        }
        log
    }

    fn apply(&mut self, line: Line) {
        match line {
            Line::Start { run, next_seq } => {
                self.runs.push(run);
                self.max_seq = self.max_seq.max(next_seq.saturating_sub(1));
            }
            Line::Accepted { run, id } => self.orders.entry((run, id)).or_default().accepted = true,
            Line::Cancelled { run, id } => {
                self.orders.entry((run, id)).or_default().end = Some(End::Cancelled);
            }
            Line::Rejected { run, id, reason } => {
                self.orders.entry((run, id)).or_default().end = Some(End::Rejected(reason));
            }
            Line::Fill(f) => {
                self.max_seq = self.max_seq.max(f.seq);
                self.orders.entry((f.run, f.id.clone())).or_default().filled += f.qty;
                self.fills.push(f);
            }
        }
    }
}

/// The venue's end of the log, on the engine thread with the venue. Lines are buffered
/// as the venue makes them and written (one `write`, to the page cache) by
/// [`Journal::flush`] before the venue hands any report to the engine, so the log always
/// holds at least what the engine (and so the store) knows. A thread of its own
/// `fdatasync`s it at most every [`SYNC_EVERY`]. Dropping it writes and syncs the rest.
pub struct Journal {
    run: u64,
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    gate: TradingGate,
    /// A write failed: lines are dropped from then on (the run is halted).
    broken: bool,
    failure: Option<String>,
    syncer: Syncer,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("run", &self.run)
            .field("path", &self.path)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Journal {
    /// Open the log at `path` for run `run`: appended to when `keep` (it still holds what
    /// the store lacks, or could not be read), else started afresh (a new file renamed
    /// over it); a `start` line first. A failed write later closes `gate`.
    pub fn open(
        path: &Path,
        run: u64,
        next_seq: u64,
        keep: bool,
        gate: TradingGate,
    ) -> std::io::Result<Journal> {
        if !keep {
            // Started afresh by a new file renamed over the old one: a crash in between
            // leaves the old log whole (never an empty one, numbering lost).
            let fresh = path.with_extension("jsonl.new");
            let mut f = std::fs::File::create(&fresh)?;
            let mut first = serde_json::to_vec(&Line::Start { run, next_seq })?;
            first.push(b'\n');
            f.write_all(&first)?;
            f.sync_data()?;
            drop(f);
            std::fs::rename(&fresh, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(keep)
            .write(true)
            .create(keep)
            .open(path)?;
        if keep {
            // A line torn by a crash must not swallow the first line written now.
            let len = file.seek(std::io::SeekFrom::End(0))?;
            if len > 0 {
                file.seek(std::io::SeekFrom::Start(len - 1))?;
                let mut last = [0u8];
                file.read_exact(&mut last)?;
                file.seek(std::io::SeekFrom::End(0))?;
                if last[0] != b'\n' {
                    file.write_all(b"\n")?;
                }
            }
        }
        if keep {
            let mut first = serde_json::to_vec(&Line::Start { run, next_seq })?;
            first.push(b'\n');
            file.write_all(&first)?;
            file.sync_data()?;
        } else {
            file.seek(std::io::SeekFrom::End(0))?;
        }
        let syncer = Syncer::start(file.try_clone()?, path.to_path_buf(), gate.clone())?;
        Ok(Journal {
            run,
            out: BufWriter::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            gate,
            broken: false,
            failure: None,
            syncer,
        })
    }

    /// Log a report the venue just made (fills go through [`Journal::fill`]).
    pub fn report(&mut self, report: &ExecReport) {
        let run = self.run;
        let line = match report {
            ExecReport::Accepted { id, .. } => Line::Accepted {
                run,
                id: id.to_string(),
            },
            ExecReport::Cancelled { id, .. } => Line::Cancelled {
                run,
                id: id.to_string(),
            },
            ExecReport::Rejected { id, reason, .. } => Line::Rejected {
                run,
                id: id.to_string(),
                reason: reason.clone(),
            },
            // Fills are logged with their instrument; a refused cancel changes nothing.
            ExecReport::Filled(_)
            | ExecReport::EarlierRunFill(_)
            | ExecReport::CancelRejected { .. } => {
                return;
            }
        };
        self.push(&line);
    }

    /// Log a fill the venue just made on `inst`.
    pub fn fill(&mut self, inst: &Instrument, f: &Fill) {
        let line = Line::Fill(LoggedFill {
            run: self.run,
            id: f.client_id.to_string(),
            seq: f.seq,
            ts: f.ts,
            symbol: inst.symbol.clone(),
            side: f.side,
            price: inst.price(f.price),
            qty: inst.qty(f.qty),
            fee: f.fee,
            liquidity: f.liquidity,
        });
        self.push(&line);
    }

    fn push(&mut self, line: &Line) {
        if self.broken {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::other)
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(r);
    }

    /// Write what is buffered (before the venue hands reports on).
    pub fn flush(&mut self) {
        if self.broken || self.out.buffer().is_empty() {
            return;
        }
        let r = self.out.flush();
        self.check(r);
        self.syncer.dirty.store(true, Ordering::Relaxed);
    }

    fn check(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            self.fail(format!(
                "paper venue's log {} not written: {e}",
                self.path.display()
            ));
        }
    }

    fn fail(&mut self, text: String) {
        if self.broken {
            return;
        }
        self.broken = true;
        self.gate.close();
        tracing::error!("{text}; trading gate closed");
        self.failure = Some(text);
    }

    /// The first write or sync error, once (the gate is already closed).
    pub fn take_failure(&mut self) -> Option<String> {
        if let Some(text) = self.syncer.take_failure() {
            self.fail(text);
        }
        self.failure.take()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.flush();
        self.syncer.stop();
        if !self.broken {
            let _ = self.out.get_ref().sync_data();
        }
    }
}

/// The thread that `fdatasync`s the log when something was written since the last time.
struct Syncer {
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(file: std::fs::File, path: PathBuf, gate: TradingGate) -> std::io::Result<Syncer> {
        let dirty = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let (d, st, fd, fl) = (dirty.clone(), stop.clone(), failed.clone(), failure.clone());
        let thread = std::thread::Builder::new()
            .name("pit-paper-log".into())
            .spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    std::thread::park_timeout(SYNC_EVERY);
                    if d.swap(false, Ordering::Relaxed)
                        && let Err(e) = file.sync_data()
                    {
                        gate.close();
                        if let Ok(mut f) = fl.lock() {
                            *f = Some(format!(
                                "paper venue's log {} not synced to disk: {e}",
                                path.display()
                            ));
                        }
                        fd.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            dirty,
            stop,
            failed,
            failure,
            thread: Some(thread),
        })
    }

    fn take_failure(&self) -> Option<String> {
        if !self.failed.swap(false, Ordering::Relaxed) {
            return None;
        }
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_line_is_skipped_and_counted_and_the_rest_is_read() {
        let text = concat!(
            "{\"e\":\"start\",\"run\":3,\"next_seq\":10}\n",
            "{\"e\":\"accepted\",\"run\":3,\"id\":\"M-1\"}\n",
            "{\"e\":\"fill\",\"run\":3,\"id\":\"M-1\",\"seq\":10,\"ts\":5,\"symbol\":\"BTC-USD\",\"side\":\"buy\",\"price\":\"100.5\",\"qty\":\"0.2\",\"fee\":\"0.01\",\"liquidity\":\"maker\"}\n",
            "{\"e\":\"cancelled\",\"run\":3,\"id\":\"S1-4\"}\n",
            "{\"e\":\"fill\",\"run\":3,\"id\":\"M-1\",\"se",
        );
        let log = VenueLog::parse(text.as_bytes());
        assert_eq!(log.skipped, 1);
        assert_eq!(log.first_skipped, Some(5));
        assert_eq!(log.runs, vec![3]);
        assert_eq!(log.max_seq, 10);
        assert_eq!(log.fills.len(), 1);
        let m1 = &log.orders[&(3, "M-1".to_string())];
        assert!(m1.accepted);
        assert_eq!(m1.filled, Decimal::new(2, 1));
        assert_eq!(m1.end, None);
        assert_eq!(
            log.orders[&(3, "S1-4".to_string())].end,
            Some(End::Cancelled)
        );
    }

    #[test]
    fn a_start_line_alone_carries_the_sequence_on() {
        let log = VenueLog::parse(b"{\"e\":\"start\",\"run\":7,\"next_seq\":42}\n");
        assert_eq!(log.max_seq, 41);
        assert!(log.fills.is_empty());
    }

    #[test]
    fn lines_sent_are_on_disk_once_the_journal_is_dropped_and_a_torn_tail_is_fenced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let gate = TradingGate::new(true);
        let mut j = Journal::open(&path, 1, 1, false, gate.clone()).unwrap();
        j.report(&ExecReport::Accepted {
            id: ClientOrderId::new("M-1"),
            ts: Timestamp(1),
            queue_ahead: None,
        });
        drop(j);
        // A crash tears a line; the next run appends after it, on a line of its own.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"e\":\"cancel").unwrap();
        drop(f);
        let mut j = Journal::open(&path, 2, 5, true, gate.clone()).unwrap();
        j.report(&ExecReport::Cancelled {
            id: ClientOrderId::new("M-1"),
            ts: Timestamp(2),
        });
        drop(j);
        let log = VenueLog::read(&path).unwrap().unwrap();
        assert_eq!(log.runs, vec![1, 2]);
        assert_eq!(log.skipped, 1);
        let m1 = &log.orders[&(1, "M-1".to_string())];
        assert!(m1.accepted);
        assert_eq!(
            log.orders[&(2, "M-1".to_string())].end,
            Some(End::Cancelled)
        );
        assert!(gate.is_open());
        // Not kept: started afresh.
        drop(Journal::open(&path, 3, 9, false, gate).unwrap());
        let log = VenueLog::read(&path).unwrap().unwrap();
        assert_eq!((log.runs, log.max_seq, log.skipped), (vec![3], 8, 0));
    }

    #[test]
    fn a_write_that_fails_closes_the_gate_and_says_so_once() {
        // /dev/full takes every write and refuses it (ENOSPC): a full disk.
        let path = Path::new("/dev/full");
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) else {
            return;
        };
        let gate = TradingGate::new(true);
        let syncer =
            Syncer::start(file.try_clone().unwrap(), path.to_path_buf(), gate.clone()).unwrap();
        let mut j = Journal {
            run: 1,
            out: BufWriter::new(file),
            path: path.to_path_buf(),
            gate: gate.clone(),
            broken: false,
            failure: None,
            syncer,
        };
        j.report(&ExecReport::Accepted {
            id: ClientOrderId::new("M-1"),
            ts: Timestamp(1),
            queue_ahead: None,
        });
        assert!(gate.is_open(), "buffered, not written yet");
        j.flush();
        assert!(!gate.is_open(), "a failed write closes the gate");
        let text = j.take_failure().expect("the failure is handed on");
        assert!(
            text.contains("/dev/full") && text.contains("not written"),
            "{text}"
        );
        assert_eq!(j.take_failure(), None, "once");
    }
}
