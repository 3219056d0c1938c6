//! The recorder: capture lines into files under `recordings/`, rotated by size or time.
//! Every file starts with the recording's preamble (for the simulated market: the
//! instruments header), so each file replays on its own.

use super::capture::{CaptureLine, CaptureWriter};
use crate::domain::Invalid;
use serde::Deserialize;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `[recording]`: where recordings go and when files rotate. (`record = true` at the top
/// of `config.toml` turns recording on for any run; TOML cannot have both a `record` key
/// and a `[record]` table, hence the section's name.)
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordConfig {
    /// Folder for recordings (relative to the working directory).
    pub dir: PathBuf,
    /// Start a new file after this many uncompressed megabytes. 0: never.
    pub rotate_mb: u64,
    /// Start a new file after this many minutes of receive time. 0: never.
    pub rotate_minutes: u64,
    /// zstd-compress files (`.jsonl.zst`); otherwise plain `.jsonl`.
    pub compress: bool,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            dir: PathBuf::from("recordings"),
            rotate_mb: 512,
            rotate_minutes: 60,
            compress: true,
        }
    }
}

impl RecordConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.dir.as_os_str().is_empty() {
            return Err(Invalid::new("dir", "must not be empty"));
        }
        Ok(())
    }
}

/// The files a recorder has written, shared with whoever started it.
pub type RecordedFiles = Arc<Mutex<Vec<PathBuf>>>;

/// Writes capture lines, rotating files by size or time.
pub struct Recorder {
    cfg: RecordConfig,
    prefix: String,
    /// One fixed file (`pit record --out`): no rotation.
    fixed: Option<PathBuf>,
    preamble: Vec<CaptureLine>,
    writer: Option<CaptureWriter>,
    file_start_ns: i64,
    files: RecordedFiles,
}

impl Recorder {
    /// Rotating files `<dir>/<prefix>-<UTC time of the first line>.jsonl[.zst]`.
    pub fn rotating(cfg: RecordConfig, prefix: &str) -> Self {
        Recorder {
            cfg,
            prefix: prefix.to_string(),
            fixed: None,
            preamble: Vec::new(),
            writer: None,
            file_start_ns: 0,
            files: Arc::default(),
        }
    }

    /// One file, never rotated; zstd-compressed when its name ends in `.zst`.
    pub fn to_file(path: &Path) -> Self {
        let mut r = Recorder::rotating(RecordConfig::default(), "");
        r.fixed = Some(path.to_path_buf());
        r
    }

    /// Lines written at the start of every file (their times are set to the file's first
    /// line's).
    pub fn set_preamble(&mut self, lines: Vec<CaptureLine>) {
        self.preamble = lines;
    }

    /// The files written so far.
    pub fn files(&self) -> RecordedFiles {
        self.files.clone()
    }

    fn path_for(&self, ts_ns: i64) -> PathBuf {
        if let Some(p) = &self.fixed {
            return p.clone();
        }
        let stamp = chrono::DateTime::from_timestamp(
            ts_ns.div_euclid(1_000_000_000),
            ts_ns.rem_euclid(1_000_000_000) as u32,
        )
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| ts_ns.to_string());
        let ext = if self.cfg.compress {
            "jsonl.zst"
        } else {
            "jsonl"
        };
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let p = self
                .cfg
                .dir
                .join(format!("{}-{stamp}{suffix}.{ext}", self.prefix));
            if !p.exists() {
                return p;
            }
            n += 1;
        }
    }

    fn due(&self, ts_ns: i64) -> bool {
        let Some(w) = &self.writer else { return true };
        if self.fixed.is_some() {
            return false;
        }
        (self.cfg.rotate_mb > 0 && w.bytes() >= self.cfg.rotate_mb.saturating_mul(1 << 20))
            || (self.cfg.rotate_minutes > 0
                && ts_ns.saturating_sub(self.file_start_ns)
                    >= (self.cfg.rotate_minutes as i64).saturating_mul(60_000_000_000))
    }

    /// Whether writing a line received at `ts_ns` starts a new file (so the caller can
    /// refresh the preamble first, e.g. with book snapshots).
    pub fn starts_new_file(&self, ts_ns: i64) -> bool {
        self.due(ts_ns)
    }

    /// Write one line, opening or rotating the file first when due.
    pub fn write(&mut self, line: &CaptureLine) -> io::Result<()> {
        if self.due(line.ts_ns) {
            if let Some(mut w) = self.writer.take() {
                w.flush()?;
            }
            let path = self.path_for(line.ts_ns);
            let mut w = CaptureWriter::create(&path)?;
            for p in &self.preamble {
                let mut p = p.clone();
                p.ts_ns = line.ts_ns;
                w.write(&p)?;
            }
            tracing::info!(file = %path.display(), "recording to a new file");
            if let Ok(mut f) = self.files.lock() {
                f.push(path);
            }
            self.writer = Some(w);
            self.file_start_ns = line.ts_ns;
        }
        match &mut self.writer {
            Some(w) => w.write(line),
            None => Ok(()),
        }
    }

    /// Flush and close the current file (a zstd file gets its end frame).
    pub fn finish(&mut self) -> io::Result<()> {
        match self.writer.take() {
            Some(mut w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!("recording not flushed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CaptureReader, Direction};

    fn line(ts: i64) -> CaptureLine {
        CaptureLine {
            ts_ns: ts,
            venue: "sim".into(),
            dir: Direction::Recv,
            url: "sim://market".into(),
            frame: "{\"x\":1}".into(),
        }
    }

    #[test]
    fn rotates_by_time_and_size_with_the_preamble_in_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RecordConfig {
            dir: dir.path().to_path_buf(),
            rotate_mb: 0,
            rotate_minutes: 1,
            compress: false,
        };
        let mut r = Recorder::rotating(cfg.clone(), "sim");
        let mut head = line(0);
        head.frame = "head".into();
        r.set_preamble(vec![head]);
        for s in 0..150 {
            r.write(&line(s * 1_000_000_000)).unwrap();
        }
        r.finish().unwrap();
        let files = r.files().lock().unwrap().clone();
        assert_eq!(files.len(), 3, "{files:?}");
        let first: Vec<_> = CaptureReader::open(&files[1]).unwrap().collect();
        assert_eq!(first[0].frame, "head");
        assert_eq!(first[0].ts_ns, 60_000_000_000);
        assert_eq!(first.len(), 61);

        let mut r = Recorder::rotating(
            RecordConfig {
                rotate_mb: 1,
                rotate_minutes: 0,
                compress: true,
                ..cfg
            },
            "big",
        );
        for s in 0..40_000 {
            r.write(&line(s)).unwrap();
        }
        r.finish().unwrap();
        let files = r.files().lock().unwrap().clone();
        assert_eq!(files.len(), 4, "{files:?}");
        assert!(files[1].to_string_lossy().ends_with("-1.jsonl.zst"));
        let n: usize = files
            .iter()
            .map(|f| CaptureReader::open(f).unwrap().count())
            .sum();
        assert_eq!(n, 40_000);
    }
}
