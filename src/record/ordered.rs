//! A recording's lines in receive-time order, even when its connections were written one
//! after another.
//!
//! A capture may hold each connection's lines in turn (the shared Bybit capture: the
//! linear connection's lines, then the spot connection's, whose receive times go back to
//! the start). Replayed in file order, the engine's clock would run to the end of the
//! first connection and then jump back. So [`TimeOrdered::open`] first scans the file
//! (receive times and urls only, the frames untouched); when receive times never go back
//! it reads the file as it is, line for line. When they do, it splits the lines into
//! connections (a connection is a url's lines from one `connect` line to the next;
//! lines of a url before its first `connect`, such as REST responses, are one connection
//! too), reads each connection with a reader of its own over the same file, and merges
//! them by receive time, ties in file order. Streaming: one line per connection in
//! memory. The merge is said in [`TimeOrdered::note`] (the replay's report and notes).

use crate::record::{CaptureLine, CaptureReader, SkippedLine};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Most connections merged; a file with more is read in file order (and says so).
pub const MAX_CONNECTIONS: usize = 64;

/// What the scan found: each connection's key, and where receive times first went back.
#[derive(Debug, Default)]
struct Scan {
    /// (url, instance) of every connection, in order of first appearance.
    connections: Vec<(String, u32)>,
    /// Lines whose receive time is before an earlier line's.
    backsteps: u64,
    /// The first such line (1-based) and how far back it went, in nanoseconds.
    first_back: Option<(u64, i64)>,
}

/// Assigns lines to connections: a url's instance counts its `connect` lines so far.
#[derive(Debug, Default)]
struct Splitter {
    connects: HashMap<String, u32>,
}

impl Splitter {
    fn key(&mut self, line: &CaptureLine) -> u32 {
        let n = self.connects.entry(line.url.clone()).or_insert(0);
        if line.dir == crate::record::Direction::Connect {
            *n += 1;
        }
        *n
    }
}

fn scan<R: BufRead>(mut r: CaptureReader<R>) -> Scan {
    let mut s = Scan::default();
    let mut split = Splitter::default();
    let mut seen: HashMap<(String, u32), ()> = HashMap::new();
    let mut line = blank();
    let mut max_ts = i64::MIN;
    while r.read_into(&mut line) {
        let k = split.key(&line);
        if seen.insert((line.url.clone(), k), ()).is_none() {
            s.connections.push((line.url.clone(), k));
        }
        if line.ts_ns < max_ts {
            s.backsteps += 1;
            if s.first_back.is_none() {
                s.first_back = Some((r.lines_read(), max_ts.saturating_sub(line.ts_ns)));
            }
        }
        max_ts = max_ts.max(line.ts_ns);
    }
    s
}

fn blank() -> CaptureLine {
    CaptureLine {
        ts_ns: 0,
        venue: String::new(),
        dir: crate::record::Direction::Recv,
        url: String::new(),
        frame: String::new(),
    }
}

/// One connection's reader and its next line.
struct Part<R: BufRead> {
    reader: CaptureReader<R>,
    key: (String, u32),
    split: Splitter,
    head: Option<(CaptureLine, u64)>,
}

impl<R: BufRead> Part<R> {
    /// Advance to this connection's next line.
    fn advance(&mut self) {
        let mut line = match self.head.take() {
            Some((l, _)) => l,
            None => blank(),
        };
        while self.reader.read_into(&mut line) {
            let k = self.split.key(&line);
            if k == self.key.1 && line.url == self.key.0 {
                self.head = Some((line, self.reader.lines_read()));
                return;
            }
        }
    }
}

/// Opens the recording once more (one reader per connection).
pub type Opener<R> = Box<dyn FnMut() -> io::Result<R> + Send>;

/// A recording's capture lines in receive-time order (see the module docs).
pub struct TimeOrdered<R: BufRead> {
    /// In file order: the one reader. Merged: one per connection, the first one's
    /// counters (skipped lines, I/O errors) being the file's.
    parts: Vec<Part<R>>,
    merged: bool,
    note: Option<String>,
}

impl TimeOrdered<Box<dyn BufRead + Send>> {
    /// Open a recording (`.zst` decompressed on the fly) in receive-time order.
    pub fn open(path: &Path) -> io::Result<Self> {
        let p = path.to_path_buf();
        Self::open_with(path, Box::new(move || reader(&p, |f| f)))
    }
}

/// A buffered reader over the file at `path`, decompressed when it ends in `.zst`;
/// `wrap` wraps the raw file first (e.g. to count bytes).
pub fn reader<W: Read + Send + 'static>(
    path: &Path,
    wrap: impl FnOnce(std::fs::File) -> W,
) -> io::Result<Box<dyn BufRead + Send>> {
    let file = std::fs::File::open(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open recording {}: {e}", path.display()),
        )
    })?;
    let inner = wrap(file);
    Ok(if path.extension().is_some_and(|e| e == "zst") {
        Box::new(BufReader::new(zstd::stream::read::Decoder::new(inner)?))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, inner))
    })
}

impl<R: BufRead> TimeOrdered<R> {
    /// Scan the recording `open` opens, then read it in receive-time order; `open` is
    /// called once for the scan and once per reader (the first reader's is the one whose
    /// bytes a progress counter should see: it reads the whole file once).
    pub fn open_with(path: &Path, mut open: Opener<R>) -> io::Result<Self> {
        let s = scan(CaptureReader::new(open()?));
        let one = |open: &mut Opener<R>| -> io::Result<Part<R>> {
            Ok(Part {
                reader: CaptureReader::new(open()?),
                key: (String::new(), 0),
                split: Splitter::default(),
                head: None,
            })
        };
        let secs = |ns: i64| ns as f64 / 1e9;
        let Some((at, back)) = s.first_back else {
            return Ok(TimeOrdered {
                parts: vec![one(&mut open)?],
                merged: false,
                note: None,
            });
        };
        let n = s.connections.len();
        if !(2..=MAX_CONNECTIONS).contains(&n) {
            let why = if n < 2 {
                "within one connection".to_string()
            } else {
                format!("across {n} connections, more than {MAX_CONNECTIONS} to merge")
            };
            return Ok(TimeOrdered {
                parts: vec![one(&mut open)?],
                merged: false,
                note: Some(format!(
                    "{}: receive times go back {} times {why} (first at line {at}, by {:.3} s): read in file order",
                    path.display(),
                    s.backsteps,
                    secs(back)
                )),
            });
        }
        let mut parts = Vec::with_capacity(n);
        for key in s.connections {
            let mut p = one(&mut open)?;
            p.key = key;
            p.advance();
            parts.push(p);
        }
        Ok(TimeOrdered {
            parts,
            merged: true,
            note: Some(format!(
                "{}: receive times go back {} times (first at line {at}, by {:.3} s): the file holds {n} connections recorded one after another; their lines are merged by receive time",
                path.display(),
                s.backsteps,
                secs(back)
            )),
        })
    }

    /// What was done about receive times going back, if they did.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Whether connections are being merged by receive time.
    pub fn merged(&self) -> bool {
        self.merged
    }

    /// The next line in receive-time order into `out`; false at the end.
    pub fn read_into(&mut self, out: &mut CaptureLine) -> bool {
        if !self.merged {
            return self.parts[0].reader.read_into(out);
        }
        let best = self
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.head.as_ref().map(|(l, n)| (l.ts_ns, *n, i)))
            .min();
        let Some((_, _, i)) = best else { return false };
        let p = &mut self.parts[i];
        if let Some((l, _)) = &p.head {
            out.clone_from(l);
        }
        p.advance();
        true
    }

    /// Lines read so far (good and bad), by the file's first reader.
    pub fn lines_read(&self) -> u64 {
        self.parts[0].reader.lines_read()
    }

    /// Bad lines skipped (every reader reads the whole file: the first one's count).
    pub fn skipped(&self) -> u64 {
        self.parts[0].reader.skipped()
    }

    pub fn skipped_lines(&self) -> &[SkippedLine] {
        self.parts[0].reader.skipped_lines()
    }

    /// An I/O error that ended a reader early.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.parts.iter().find_map(|p| p.reader.io_error())
    }
}

impl<R: BufRead> Iterator for TimeOrdered<R> {
    type Item = CaptureLine;
    fn next(&mut self) -> Option<CaptureLine> {
        let mut l = blank();
        self.read_into(&mut l).then_some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CaptureWriter, Direction};

    fn l(ts: i64, url: &str, dir: Direction) -> CaptureLine {
        CaptureLine {
            ts_ns: ts,
            venue: "bybit".into(),
            dir,
            url: url.into(),
            frame: format!("{ts}"),
        }
    }

    fn write(path: &Path, lines: &[CaptureLine]) {
        let mut w = CaptureWriter::create(path).unwrap();
        for x in lines {
            w.write(x).unwrap();
        }
        w.flush().unwrap();
    }

    #[test]
    fn connections_recorded_one_after_another_are_merged_by_receive_time() {
        use Direction::*;
        let dir = tempfile::tempdir().unwrap();
        for name in ["c.jsonl", "c.jsonl.zst"] {
            let path = dir.path().join(name);
            let lines = vec![
                l(1, "rest", Http),
                l(2, "a", Connect),
                l(4, "a", Recv),
                l(6, "a", Recv),
                l(9, "a", Recv),
                // The second connection, recorded after the first: times go back.
                l(3, "b", Connect),
                l(4, "b", Recv),
                l(7, "b", Recv),
                // A reconnect of the first url, later still.
                l(10, "a", Connect),
                l(11, "a", Recv),
            ];
            write(&path, &lines);
            let r = TimeOrdered::open(&path).unwrap();
            assert!(r.merged());
            assert!(
                r.note().unwrap().contains("merged by receive time"),
                "{:?}",
                r.note()
            );
            let got: Vec<(i64, String)> = r.map(|x| (x.ts_ns, x.url)).collect();
            let want: Vec<(i64, String)> = [
                (1, "rest"),
                (2, "a"),
                (3, "b"),
                (4, "a"), // ties in file order
                (4, "b"),
                (6, "a"),
                (7, "b"),
                (9, "a"),
                (10, "a"),
                (11, "a"),
            ]
            .iter()
            .map(|(t, u)| (*t, u.to_string()))
            .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_file_in_order_is_read_as_it_is() {
        use Direction::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        let lines = vec![l(1, "a", Connect), l(2, "b", Connect), l(2, "a", Recv)];
        write(&path, &lines);
        let r = TimeOrdered::open(&path).unwrap();
        assert!(!r.merged() && r.note().is_none());
        assert_eq!(r.collect::<Vec<_>>(), lines);
    }
}
