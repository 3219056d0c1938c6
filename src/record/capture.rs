//! The capture-line format: one JSON object per line,
//! `{"ts_ns": .., "venue": .., "dir": "connect"|"send"|"recv"|"http", "url": .., "frame": ..}`,
//! in receive order; zstd-compressed when the file name ends in `.zst`.
//!
//! Reading never fails on a bad line: a torn or malformed line (a crash mid-write, a
//! truncated copy) is skipped, counted and reported with its line number, and the rest of
//! the file is read.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// What a line records.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A socket opened to `url`.
    Connect,
    /// A frame we sent.
    Send,
    /// A frame received.
    Recv,
    /// A REST response body.
    Http,
}

/// One recorded frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureLine {
    /// Local receive time, Unix nanoseconds.
    pub ts_ns: i64,
    pub venue: String,
    pub dir: Direction,
    pub url: String,
    /// The exact text of the frame or body.
    pub frame: String,
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: u64,
    pub reason: String,
}

/// Reads capture lines, skipping and recording bad ones.
pub struct CaptureReader<R: BufRead> {
    inner: R,
    line_no: u64,
    buf: String,
    skipped: u64,
    first_skipped: Vec<SkippedLine>,
    io_error: Option<io::Error>,
}

/// How many skipped lines are kept with their reasons (all are counted).
const KEEP_SKIPPED: usize = 20;

impl CaptureReader<Box<dyn BufRead + Send>> {
    /// Open a recording; `.zst` files are decompressed on the fly.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open recording {}: {e}", path.display()),
            )
        })?;
        let reader: Box<dyn BufRead + Send> = if path.extension().is_some_and(|e| e == "zst") {
            Box::new(BufReader::new(zstd::stream::read::Decoder::new(file)?))
        } else {
            Box::new(BufReader::with_capacity(1 << 20, file))
        };
        Ok(CaptureReader::new(reader))
    }
}

impl<R: BufRead> CaptureReader<R> {
    pub fn new(inner: R) -> Self {
        CaptureReader {
            inner,
            line_no: 0,
            buf: String::new(),
            skipped: 0,
            first_skipped: Vec::new(),
            io_error: None,
        }
    }

    /// Lines skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The first skipped lines with their reasons.
    pub fn skipped_lines(&self) -> &[SkippedLine] {
        &self.first_skipped
    }

    /// Lines read so far (good and bad).
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// An I/O error that ended the reading early (e.g. a truncated zstd stream).
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_ref()
    }

    fn skip(&mut self, reason: String) {
        self.skipped += 1;
        crate::warn_limited!(
            "capture.skipped",
            line = self.line_no,
            "recording line skipped: {reason}"
        );
        if self.first_skipped.len() < KEEP_SKIPPED {
            self.first_skipped.push(SkippedLine {
                line: self.line_no,
                reason,
            });
        }
    }
}

/// What one read of the underlying file gave.
enum Raw {
    /// A line of valid UTF-8 is in `buf`.
    Line,
    /// A bad line, already skipped and reported.
    Skipped,
    /// The end of the file (or an I/O error that ends it).
    End,
}

impl<R: BufRead> CaptureReader<R> {
    /// Read the next line's bytes into `buf`. A line that is not UTF-8 is skipped: as
    /// "torn" when it is the last line, with no newline, and ends inside a character (a
    /// crash mid-write cut it there), as "not UTF-8" otherwise.
    fn read_raw(&mut self) -> Raw {
        let mut bytes = std::mem::take(&mut self.buf).into_bytes();
        bytes.clear();
        let read = self.inner.read_until(b'\n', &mut bytes);
        let bytes = match read {
            Ok(0) => {
                self.buf = String::from_utf8(bytes).unwrap_or_default();
                return Raw::End;
            }
            Ok(_) => bytes,
            Err(e) => {
                self.line_no += 1;
                self.skip(format!("read error: {e}"));
                self.io_error = Some(e);
                return Raw::End;
            }
        };
        self.line_no += 1;
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.buf = text;
                Raw::Line
            }
            Err(e) => {
                let complete = e.as_bytes().ends_with(b"\n");
                let utf8 = e.utf8_error();
                let reason = if !complete && utf8.error_len().is_none() {
                    format!(
                        "torn last line: it ends inside a UTF-8 character (after {} bytes)",
                        utf8.valid_up_to()
                    )
                } else if !complete {
                    format!("not UTF-8 (torn last line): {utf8}")
                } else {
                    format!("not UTF-8: {utf8}")
                };
                let mut bytes = e.into_bytes();
                bytes.clear();
                self.buf = String::from_utf8(bytes).unwrap_or_default();
                self.skip(reason);
                Raw::Skipped
            }
        }
    }

    /// Report a line that is not a capture line (a torn last line says so).
    fn skip_bad_json(&mut self, e: serde_json::Error) {
        let torn = if self.buf.ends_with('\n') {
            ""
        } else {
            " (torn last line)"
        };
        self.skip(format!("{e}{torn}"));
    }

    /// The next good line into `out`, reusing its buffers (no allocation per line on the
    /// usual layout); false at the end. Replays use this; the iterator is the same reader.
    pub fn read_into(&mut self, out: &mut CaptureLine) -> bool {
        loop {
            match self.read_raw() {
                Raw::End => return false,
                Raw::Skipped => continue,
                Raw::Line => {}
            }
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            if fast::parse_into(text, out) {
                return true;
            }
            match serde_json::from_str::<CaptureLine>(text) {
                Ok(line) => {
                    *out = line;
                    return true;
                }
                Err(e) => self.skip_bad_json(e),
            }
        }
    }
}

/// The fast path for lines laid out as [`CaptureWriter`] writes them (fields in order,
/// no whitespace, plain venue and url); anything else goes to serde.
mod fast {
    use super::{CaptureLine, Direction};

    fn take(s: &mut &str, lit: &str) -> Option<()> {
        *s = s.strip_prefix(lit)?;
        Some(())
    }

    /// A string without escapes, up to its closing quote. JSON forbids raw control
    /// characters in a string: such a line is not JSON (serde then refuses it).
    fn plain<'a>(s: &mut &'a str) -> Option<&'a str> {
        let end = next_special(s.as_bytes(), 0);
        if *s.as_bytes().get(end)? != b'"' {
            return None;
        }
        let v = &s[..end];
        *s = &s[end + 1..];
        Some(v)
    }

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// The lanes of `w` that hold a byte below `k` (high bit set there). Exact for the
    /// lowest such lane; a lane above it may be set falsely (the borrow), which the
    /// caller never looks at.
    #[inline(always)]
    fn below(w: u64, k: u8) -> u64 {
        w.wrapping_sub(ONES * u64::from(k)) & !w & HIGHS
    }

    /// Where in `b`, from `i`, the next byte a string body must stop at is (`"`, `\`
    /// or a control character), or the length of `b`. Eight bytes a step: a frame's
    /// text is most of a recording, and this walk was a third of a backtest's
    /// instructions byte by byte. (Hand-written: `memchr` finds up to three given bytes,
    /// not a class such as "below 0x20", which JSON's strictness needs here.)
    #[inline(always)]
    pub(super) fn next_special(b: &[u8], mut i: usize) -> usize {
        while let Some(chunk) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let m = below(w ^ (ONES * u64::from(b'"')), 1)
                | below(w ^ (ONES * u64::from(b'\\')), 1)
                | below(w, 0x20);
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..0x20) {
            i += 1;
        }
        i
    }

    /// Unescape a JSON string body into `out`, up to its closing quote.
    pub(super) fn escaped(s: &mut &str, out: &mut String) -> Option<()> {
        out.clear();
        let b = s.as_bytes();
        let mut i = 0;
        let mut start = 0;
        loop {
            i = next_special(b, i);
            match *b.get(i)? {
                b'"' => {
                    out.push_str(&s[start..i]);
                    *s = &s[i + 1..];
                    return Some(());
                }
                b'\\' => {
                    out.push_str(&s[start..i]);
                    let c = match *b.get(i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        _ => return None, // \u escapes: serde's job
                    };
                    out.push(c);
                    i += 2;
                    start = i;
                }
                _ => return None, // a control character: not JSON (serde refuses it)
            }
        }
    }

    /// A JSON integer as serde reads one into an `i64`: an optional `-`, then `0` or a
    /// digit 1-9 and more digits (no `+`, no leading zeros: `007` is not JSON, though
    /// `str::parse` takes it; `-0` is a float to serde).
    fn json_int(t: &str) -> Option<i64> {
        let digits = t.strip_prefix('-').unwrap_or(t);
        let b = digits.as_bytes();
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b[0] == b'0' && b.len() > 1) {
            return None;
        }
        if t.starts_with('-') && digits == "0" {
            return None; // serde reads `-0` as a float, not an integer: not a ts_ns
        }
        t.parse().ok()
    }

    pub(super) fn parse_into(text: &str, out: &mut CaptureLine) -> bool {
        (|| {
            let mut s = text;
            take(&mut s, "{\"ts_ns\":")?;
            let end = s.find(',')?;
            let ts_ns = json_int(&s[..end])?;
            s = &s[end..];
            take(&mut s, ",\"venue\":\"")?;
            let venue = plain(&mut s)?;
            take(&mut s, ",\"dir\":\"")?;
            let dir = match plain(&mut s)? {
                "recv" => Direction::Recv,
                "send" => Direction::Send,
                "connect" => Direction::Connect,
                "http" => Direction::Http,
                _ => return None,
            };
            take(&mut s, ",\"url\":\"")?;
            let url = plain(&mut s)?;
            take(&mut s, ",\"frame\":\"")?;
            escaped(&mut s, &mut out.frame)?;
            if s != "}" {
                return None;
            }
            out.ts_ns = ts_ns;
            out.dir = dir;
            if out.venue != venue {
                out.venue.clear();
                out.venue.push_str(venue);
            }
            if out.url != url {
                out.url.clear();
                out.url.push_str(url);
            }
            Some(())
        })()
        .is_some()
    }
}

impl<R: BufRead> Iterator for CaptureReader<R> {
    type Item = CaptureLine;

    fn next(&mut self) -> Option<CaptureLine> {
        loop {
            match self.read_raw() {
                Raw::End => return None,
                Raw::Skipped => continue,
                Raw::Line => {}
            }
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<CaptureLine>(text) {
                Ok(line) => return Some(line),
                Err(e) => self.skip_bad_json(e),
            }
        }
    }
}

/// Writes capture lines, one JSON object each.
pub struct CaptureWriter {
    out: Box<dyn Write + Send>,
    lines: u64,
    bytes: u64,
}

impl CaptureWriter {
    /// Create (or truncate) a recording; `.zst` files are compressed.
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create recording {}: {e}", path.display()),
            )
        })?;
        let out: Box<dyn Write + Send> = if path.extension().is_some_and(|e| e == "zst") {
            Box::new(zstd::stream::write::Encoder::new(file, 3)?.auto_finish())
        } else {
            Box::new(BufWriter::with_capacity(1 << 16, file))
        };
        Ok(CaptureWriter {
            out,
            lines: 0,
            bytes: 0,
        })
    }

    /// A writer over anything (tests).
    pub fn from_writer(out: Box<dyn Write + Send>) -> Self {
        CaptureWriter {
            out,
            lines: 0,
            bytes: 0,
        }
    }

    pub fn write(&mut self, line: &CaptureLine) -> io::Result<()> {
        let mut text = serde_json::to_string(line).map_err(io::Error::other)?;
        text.push('\n');
        self.out.write_all(text.as_bytes())?;
        self.lines += 1;
        self.bytes += text.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Uncompressed bytes written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: i64, frame: &str) -> CaptureLine {
        CaptureLine {
            ts_ns: ts,
            venue: "sim".into(),
            dir: Direction::Recv,
            url: "sim://market".into(),
            frame: frame.into(),
        }
    }

    #[test]
    fn round_trip_plain_and_zstd() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.jsonl", "a.jsonl.zst"] {
            let path = dir.path().join(name);
            let mut w = CaptureWriter::create(&path).unwrap();
            let lines: Vec<_> = (0..100).map(|i| line(i, "{\"x\":\"a\\nb\"}")).collect();
            for l in &lines {
                w.write(l).unwrap();
            }
            w.flush().unwrap();
            drop(w);
            let read: Vec<_> = CaptureReader::open(&path).unwrap().collect();
            assert_eq!(read, lines, "{name}");
        }
    }

    proptest::proptest! {
        /// Any frame serde writes (quotes, backslashes, control characters, any
        /// character) is read back as it was, by the fast path or by serde. (The
        /// example test below sends its escapes to serde: its frame holds a `\u0001`.)
        #[test]
        fn any_frame_reads_back_as_written(frame in "(\\PC|[\"\\\\\u{0}-\u{1f}]){0,64}") {
            let l = line(9, &frame);
            let text = serde_json::to_string(&l).unwrap();
            let mut r = CaptureReader::new(io::Cursor::new(format!("{text}\n")));
            let mut out = line(0, "x");
            proptest::prop_assert!(r.read_into(&mut out));
            proptest::prop_assert_eq!(out, l);
        }
    }

    /// Whether a string body (up to its first unescaped quote) holds a `\u` escape,
    /// which the fast path leaves to serde.
    fn has_u_escape(body: &str) -> bool {
        let b = body.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' {
                if b.get(i + 1) == Some(&b'u') {
                    return true;
                }
                i += 2;
            } else {
                i += 1;
            }
        }
        false
    }

    proptest::proptest! {
        /// The string walk stops where serde's does and reads what serde reads: raw
        /// quotes, backslashes and control characters at every offset of the eight-byte
        /// steps; whatever it refuses is serde's to refuse or read (`\u` escapes).
        #[test]
        fn a_string_body_reads_as_serde_reads_it(
            body in "([a-tv-z\"\\\\/\u{0}-\u{1f}\u{7f}\u{e9}\u{1F600}]|\\\\[\"\\\\/nbtrfu]){0,40}"
        ) {
            let text = format!("{body}\"tail");
            let quoted = format!("\"{text}");
            let mut de = serde_json::Deserializer::from_str(&quoted).into_iter::<String>();
            let serde = de.next().and_then(|r| r.ok()).map(|v| (v, de.byte_offset()));
            let mut s = text.as_str();
            let mut out = String::new();
            match fast::escaped(&mut s, &mut out) {
                Some(()) => proptest::prop_assert_eq!(
                    Some((out, quoted.len() - s.len())),
                    serde
                ),
                None => proptest::prop_assert!(serde.is_none() || has_u_escape(&text)),
            }
        }
    }

    #[test]
    fn the_string_walk_stops_at_the_first_special_byte_of_a_step() {
        let cases: [(&[u8], usize); 8] = [
            // A quote then a control character in one step: the first is found.
            (b"a\"\x01bcdefg", 1),
            (b"abcdefgh", 8),
            (b"abcdefghij\"", 10),
            (b"\"bcdefgh", 0),
            (b"abcdefg\\", 7),
            (b"ab\x1fd\"fgh", 2),
            // A byte above the quote (its borrow lane) and UTF-8 lead bytes are plain.
            (b"\x7f\xc3\xa9#!abc\x01", 8),
            (b"\x01\x00\x00\x00\x00\x00\x00\x00", 0),
        ];
        for (b, at) in cases {
            assert_eq!(fast::next_special(b, 0), at, "{b:?}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_serde() {
        let frames = [
            "{\"i\":0,\"k\":\"L\",\"s\":\"b\",\"p\":1,\"q\":2}",
            "tab\tnewline\nslash/back\\quote\"ctl\u{1}uni\u{e9}\u{1F600}",
            "",
        ];
        let mut out = line(0, "");
        for (n, f) in frames.iter().enumerate() {
            let l = CaptureLine {
                url: format!("wss://x/{n}"),
                ..line(-(n as i64) * 7, f)
            };
            let text = serde_json::to_string(&l).unwrap();
            let mut r = CaptureReader::new(io::Cursor::new(format!("{text}\n")));
            assert!(r.read_into(&mut out), "{text}");
            assert_eq!(out, l, "{text}");
        }
        // Other layouts go to serde.
        let text = "{ \"venue\": \"sim\", \"ts_ns\": 3, \"dir\": \"send\", \"url\": \"u\", \"frame\": \"f\" }\n";
        let mut r = CaptureReader::new(io::Cursor::new(text));
        assert!(r.read_into(&mut out));
        assert_eq!(
            (out.ts_ns, out.dir, out.frame.as_str()),
            (3, Direction::Send, "f")
        );
        assert!(!r.read_into(&mut out));
    }

    #[test]
    fn torn_and_malformed_lines_are_skipped_and_reported() {
        let text = format!(
            "{}\nnot json\n{}\n{{\"ts_ns\":5,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\",\"fra",
            serde_json::to_string(&line(1, "a")).unwrap(),
            serde_json::to_string(&line(2, "b")).unwrap(),
        );
        let mut r = CaptureReader::new(io::Cursor::new(text));
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got, vec![line(1, "a"), line(2, "b")]);
        assert_eq!(r.skipped(), 2);
        assert_eq!(r.skipped_lines()[0].line, 2);
        assert_eq!(r.skipped_lines()[1].line, 4);
        assert!(r.skipped_lines()[1].reason.contains("torn last line"));
    }

    #[test]
    fn reads_the_shared_captures_format() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/captures/kraken-v2-btcusd-sample.jsonl");
        if !path.exists() {
            eprintln!("skipped: {} is absent", path.display());
            return;
        }
        let mut r = CaptureReader::open(&path).unwrap();
        let first = r.next().unwrap();
        assert_eq!(first.venue, "kraken");
        assert_eq!(first.dir, Direction::Connect);
        let n = 1 + r.by_ref().count();
        assert!(n > 1000, "{n}");
        assert_eq!(r.skipped(), 0);
    }

    /// Lines that are not JSON are refused on the fast path too: whatever the fast path
    /// takes, serde takes alike.
    #[test]
    fn the_fast_path_refuses_what_is_not_json() {
        let bad = [
            "{\"ts_ns\":007,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\",\"frame\":\"f\"}",
            "{\"ts_ns\":+7,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\",\"frame\":\"f\"}",
            "{\"ts_ns\":-0,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\",\"frame\":\"f\"}",
            "{\"ts_ns\":7,\"venue\":\"si\u{1}m\",\"dir\":\"recv\",\"url\":\"u\",\"frame\":\"f\"}",
            "{\"ts_ns\":7,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\u{1f}\",\"frame\":\"f\"}",
            "{\"ts_ns\":7,\"venue\":\"sim\",\"dir\":\"recv\",\"url\":\"u\",\"frame\":\"f\tg\"}",
        ];
        for text in bad {
            let serde_ok = serde_json::from_str::<CaptureLine>(text).is_ok();
            let mut r = CaptureReader::new(io::Cursor::new(format!("{text}\n")));
            let mut out = line(0, "");
            let fast_ok = r.read_into(&mut out);
            assert_eq!(fast_ok, serde_ok, "{text:?}");
            if !serde_ok {
                assert_eq!(r.skipped(), 1, "{text:?}");
            }
        }
        // "007", "+7" and raw control characters are not JSON.
        assert!(serde_json::from_str::<CaptureLine>(bad[0]).is_err());
    }

    /// A torn last line that ends inside a UTF-8 character is reported as torn; a bad byte
    /// in the middle of the file is not UTF-8.
    #[test]
    fn a_line_torn_inside_a_character_is_torn_not_bad_utf8() {
        let good = serde_json::to_string(&line(1, "caf\u{e9}")).unwrap();
        let mut bytes = format!("{good}\n").into_bytes();
        let torn = serde_json::to_string(&line(2, "caf\u{e9}")).unwrap();
        let cut = torn.find('\u{e9}').unwrap() + 1; // inside the two bytes of é
        bytes.extend_from_slice(&torn.as_bytes()[..cut]);
        for via_fast_path in [true, false] {
            let mut r = CaptureReader::new(io::Cursor::new(bytes.clone()));
            let got: Vec<CaptureLine> = if via_fast_path {
                let mut out = line(0, "");
                let mut v = Vec::new();
                while r.read_into(&mut out) {
                    v.push(out.clone());
                }
                v
            } else {
                r.by_ref().collect()
            };
            assert_eq!(got, vec![line(1, "caf\u{e9}")]);
            assert_eq!(r.skipped(), 1);
            let reason = &r.skipped_lines()[0].reason;
            assert!(reason.contains("torn last line"), "{reason}");
            assert!(!reason.starts_with("not UTF-8"), "{reason}");
            assert_eq!(r.skipped_lines()[0].line, 2);
        }
        // A bad byte mid-file: not UTF-8, and the next line is still read.
        let mut bytes = b"{\"ts_ns\":1,\"venue\":\"s\xffim\"}\n".to_vec();
        bytes.extend_from_slice(format!("{good}\n").as_bytes());
        let mut r = CaptureReader::new(io::Cursor::new(bytes));
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got.len(), 1);
        assert!(r.skipped_lines()[0].reason.starts_with("not UTF-8"));
        assert_eq!(r.skipped_lines()[0].line, 1);
    }
}
