//! A log file writer that rolls by day *and* by size and keeps the folder under a cap.
//!
//! tracing-appender 0.2.5 rolls only by time (and can keep N files); a flood within one day
//! would still fill the disk, so this writer does the rolling itself. Files are
//! `pit.log.YYYY-MM-DD` (UTC, as before), then `pit.log.YYYY-MM-DD.1`, `.2`, ... when a file
//! reaches its size; after each roll the oldest files are deleted until the folder's `pit.log.*`
//! files fit in the total cap.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const PREFIX: &str = "pit.log.";

/// The first error writing the log, kept for the run to act on (fail closed: the log is
/// part of what pit must record). The log writer's thread cannot report it otherwise:
/// tracing-appender's worker drops write errors.
#[derive(Debug, Default)]
pub struct WriteFailure {
    first: Mutex<Option<String>>,
    /// Set with `first`: the run's per-turn check is one atomic load.
    pending: AtomicBool,
    taken: AtomicBool,
}

impl WriteFailure {
    fn note(&self, text: String) {
        if self.taken.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut f) = self.first.lock()
            && f.is_none()
        {
            *f = Some(text);
            self.pending.store(true, Ordering::Release);
        }
    }
    /// The first failure, once: later calls (and later failures) give `None`.
    pub fn take(&self) -> Option<String> {
        // A plain load first: the run asks every turn, and nothing is pending nearly always.
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut f = self.first.lock().ok()?;
        let t = f.take()?;
        self.taken.store(true, Ordering::Release);
        Some(t)
    }
}

/// The process's log failure slot, which [`SizeRolling::open`] writers report to.
pub fn failure() -> &'static Arc<WriteFailure> {
    static SLOT: std::sync::OnceLock<Arc<WriteFailure>> = std::sync::OnceLock::new();
    SLOT.get_or_init(Default::default)
}

/// Daily and size-rolling log files under a total cap.
#[derive(Debug)]
pub struct SizeRolling {
    dir: PathBuf,
    file_limit: u64,
    total_limit: u64,
    day: String,
    /// Unix seconds of the next UTC midnight, when the day's file changes.
    next_day_at: i64,
    n: u32,
    file: File,
    written: u64,
    failure: Arc<WriteFailure>,
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Unix seconds of the UTC midnight after now.
fn next_midnight() -> i64 {
    let now = chrono::Utc::now().timestamp();
    (now.div_euclid(86_400) + 1) * 86_400
}

fn name(day: &str, n: u32) -> String {
    if n == 0 {
        format!("{PREFIX}{day}")
    } else {
        format!("{PREFIX}{day}.{n}")
    }
}

/// `(day, n)` of a log file name, for ordering oldest first.
fn parse(file_name: &str) -> Option<(String, u32)> {
    let rest = file_name.strip_prefix(PREFIX)?;
    match rest.split_once('.') {
        Some((day, n)) => Some((day.to_string(), n.parse().ok()?)),
        None => Some((rest.to_string(), 0)),
    }
}

/// A log file: its `(day, n)`, path and size.
type LogFile = ((String, u32), PathBuf, u64);

/// The log files in `dir`, oldest first, with their sizes.
fn list(dir: &Path) -> io::Result<Vec<LogFile>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Some(key) = e.file_name().to_str().and_then(parse) else {
            continue;
        };
        let meta = e.metadata()?;
        if meta.is_file() {
            files.push((key, e.path(), meta.len()));
        }
    }
    files.sort();
    Ok(files)
}

impl SizeRolling {
    /// Open (append to) today's newest log file in `dir`. `file_limit` is the size at which a
    /// file rolls, `total_limit` the cap on all of them together.
    pub fn open(dir: &Path, file_limit: u64, total_limit: u64) -> io::Result<Self> {
        let day = today();
        let n = list(dir)?
            .iter()
            .filter(|((d, _), _, _)| *d == day)
            .map(|((_, n), _, _)| *n)
            .max()
            .unwrap_or(0);
        let (file, written) = Self::open_file(dir, &day, n)?;
        let mut w = SizeRolling {
            dir: dir.to_path_buf(),
            file_limit: file_limit.max(1),
            total_limit,
            day,
            next_day_at: next_midnight(),
            n,
            file,
            written,
            failure: failure().clone(),
        };
        w.prune();
        Ok(w)
    }

    fn open_file(dir: &Path, day: &str, n: u32) -> io::Result<(File, u64)> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name(day, n)))?;
        let written = file.metadata()?.len();
        Ok((file, written))
    }

    fn roll(&mut self, day: String, n: u32) -> io::Result<()> {
        let _ = self.file.flush();
        let (file, written) = Self::open_file(&self.dir, &day, n)?;
        self.file = file;
        self.written = written;
        self.day = day;
        self.n = n;
        self.prune();
        Ok(())
    }

    /// Delete the oldest files (never the current one) until the total fits the cap.
    fn prune(&mut self) {
        let Ok(files) = list(&self.dir) else { return };
        let mut total: u64 = files.iter().map(|f| f.2).sum();
        let current = (self.day.clone(), self.n);
        for (key, path, size) in files {
            if total <= self.total_limit {
                break;
            }
            if key == current {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(size);
            }
        }
    }
}

impl Write for SizeRolling {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_rolling(buf).inspect_err(|e| {
            let file = self.dir.join(name(&self.day, self.n));
            self.failure
                .note(format!("cannot write the log {}: {e}", file.display()));
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl SizeRolling {
    fn write_rolling(&mut self, buf: &[u8]) -> io::Result<usize> {
        if chrono::Utc::now().timestamp() >= self.next_day_at {
            self.next_day_at = next_midnight();
            let day = today();
            if day != self.day {
                self.roll(day, 0)?;
            }
        }
        if self.written > 0 && self.written + buf.len() as u64 > self.file_limit {
            self.roll(self.day.clone(), self.n + 1)?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(dir: &Path) -> u64 {
        list(dir).unwrap().iter().map(|f| f.2).sum()
    }

    /// A write the disk refuses (here `/dev/full`: "No space left on device") is kept for
    /// the run, once, with the file and the reason.
    #[test]
    fn a_failed_write_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SizeRolling::open(dir.path(), 10_000, 50_000).unwrap();
        w.failure = Arc::new(WriteFailure::default());
        w.write_all(b"fine\n").unwrap();
        assert_eq!(w.failure.take(), None);
        w.file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        assert!(w.write_all(b"lost\n").is_err());
        assert!(w.write_all(b"lost too\n").is_err());
        let text = w.failure.take().expect("the failure is kept");
        assert!(
            text.contains("cannot write the log") && text.contains("pit.log."),
            "{text}"
        );
        assert!(text.contains("No space left"), "{text}");
        assert_eq!(w.failure.take(), None, "reported once");
        assert!(w.write_all(b"and again\n").is_err());
        assert_eq!(w.failure.take(), None, "once per process");
    }

    #[test]
    fn a_flood_rolls_by_size_and_stays_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        // A stranger's file is left alone.
        std::fs::write(dir.path().join("notes.txt"), "keep").unwrap();
        let mut w = SizeRolling::open(dir.path(), 10_000, 50_000).unwrap();
        let line = [b'x'; 99];
        for i in 0..20_000u32 {
            w.write_all(&line).unwrap();
            w.write_all(format!("{i:07}\n").as_bytes()).unwrap();
        }
        w.flush().unwrap();
        let files = list(dir.path()).unwrap();
        assert!(files.len() > 1, "rolled by size: {files:?}");
        assert!(
            total(dir.path()) <= 50_000 + 10_000,
            "{}",
            total(dir.path())
        );
        assert!(files.iter().all(|f| f.2 <= 10_000), "{files:?}");
        // The newest lines survive; the oldest went.
        let newest = std::fs::read_to_string(&files.last().unwrap().1).unwrap();
        assert!(newest.contains("0019999"), "{newest}");
        let all: String = files
            .iter()
            .map(|f| std::fs::read_to_string(&f.1).unwrap())
            .collect();
        assert!(!all.contains("0000000\n"));
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn reopening_appends_to_the_newest_file_of_the_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SizeRolling::open(dir.path(), 100, 10_000).unwrap();
        for _ in 0..5 {
            w.write_all(&[b'a'; 60]).unwrap();
        }
        drop(w);
        let before = list(dir.path()).unwrap();
        let mut w = SizeRolling::open(dir.path(), 100, 10_000).unwrap();
        w.write_all(b"b").unwrap();
        let after = list(dir.path()).unwrap();
        assert_eq!(before.len(), after.len(), "{before:?} {after:?}");
        assert_eq!(after.last().unwrap().2, 61);
    }

    #[test]
    fn a_new_day_starts_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SizeRolling::open(dir.path(), 1_000, 10_000).unwrap();
        w.write_all(b"today\n").unwrap();
        // As if the file had been opened yesterday and midnight has passed.
        std::fs::rename(
            dir.path().join(name(&w.day, 0)),
            dir.path().join(name("2000-01-01", 0)),
        )
        .unwrap();
        w.day = "2000-01-01".into();
        w.next_day_at = 0;
        w.write_all(b"tomorrow\n").unwrap();
        w.flush().unwrap();
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(files[1].0, (today(), 0));
        assert_eq!(std::fs::read_to_string(&files[1].1).unwrap(), "tomorrow\n");
    }

    #[test]
    fn names_order_oldest_first() {
        let mut v = vec![
            parse("pit.log.2026-01-02.10").unwrap(),
            parse("pit.log.2026-01-02.2").unwrap(),
            parse("pit.log.2026-01-02").unwrap(),
            parse("pit.log.2026-01-01.3").unwrap(),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                ("2026-01-01".into(), 3),
                ("2026-01-02".into(), 0),
                ("2026-01-02".into(), 2),
                ("2026-01-02".into(), 10),
            ]
        );
        assert_eq!(parse("pit.log.x.y"), None);
        assert_eq!(parse("other"), None);
    }
}
