//! What the fuzz targets check, beyond "no panic".
//!
//! * [`decoder`]: the input is lines; a line that is a capture line is taken as it is
//!   (connect, send, recv or http, with its url), any other line is a received frame.
//!   After every line, for every instrument whose book the decoder trusts: the book is
//!   not crossed; the events the decoder emitted so far, applied in order to an empty
//!   book, rebuild exactly that book (the engine's book is built from nothing else); and
//!   when that line applied one update, no bid lies above and no ask below the sanity
//!   band the decoder held before the line.
//! * [`capture_lines`]: the reader's fast path and serde agree on every line (the fast
//!   path accepts nothing that is not JSON), a line read back is the line written.
//! * [`config`]: loading never panics; an error names the file.

use pit::domain::{MarketEvent, MarketEventKind, OrderBook};
use pit::record::{CaptureLine, CaptureReader, CaptureWriter, Direction};
use pit::venue::exchanges::decode::{BookLimits, FrameDecoder};
use std::io::Cursor;

/// The endpoint a bare frame is taken to come from.
fn url_of(venue: &str) -> String {
    match venue {
        "bybit" => "wss://stream.bybit.com/v5/public/linear".into(),
        "binance" => "wss://stream.binance.com:9443/stream".into(),
        v => format!("wss://{v}.example/ws"),
    }
}

fn decoder_for(venue: &str) -> Box<dyn FrameDecoder> {
    if venue == pit::venue::sim::wire::VENUE {
        Box::new(pit::venue::sim::wire::SimDecoder::new(Vec::new()))
    } else {
        pit::venue::exchanges::registry::discovering_decoder(venue).expect("a known venue")
    }
}

/// Feed `data`'s lines to `venue`'s decoder and check the invariants (module docs).
pub fn decoder(venue: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut d = decoder_for(venue);
    d.set_book_limits(BookLimits::default());
    let mut books: Vec<OrderBook> = Vec::new();
    let mut out: Vec<MarketEvent> = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = match serde_json::from_str::<CaptureLine>(raw) {
            Ok(mut l) => {
                l.venue = d.venue().to_string();
                l
            }
            Err(_) => CaptureLine {
                ts_ns: n as i64,
                venue: d.venue().to_string(),
                dir: Direction::Recv,
                url: url_of(venue),
                frame: raw.to_string(),
            },
        };
        let before = d.stats();
        let bands: Vec<_> = (0..d.instruments().len())
            .map(|i| d.sanity_band(i))
            .collect();
        out.clear();
        d.on_line(&line, &mut out);
        for ev in out.drain(..) {
            let i = ev.instrument.index();
            if books.len() <= i {
                books.resize_with(i + 1, OrderBook::new);
            }
            match ev.kind {
                MarketEventKind::Snapshot { bids, asks } => books[i].apply_snapshot(bids, asks),
                MarketEventKind::Level { side, price, qty } => {
                    books[i].update(side, price, qty);
                }
                MarketEventKind::Trade(_) | MarketEventKind::Resyncing { .. } => {}
            }
        }
        let after = d.stats();
        for i in 0..d.instruments().len() {
            let Some(book) = d.book(i) else { continue };
            assert!(
                !book.is_crossed(),
                "line {n}: instrument {i}: a trusted book is crossed"
            );
            let empty = OrderBook::new();
            let rebuilt = books.get(i).unwrap_or(&empty);
            assert!(
                rebuilt == book,
                "line {n}: instrument {i}: the events do not rebuild the decoder's book"
            );
            let one_update = match (before.get(i), after.get(i)) {
                (Some(b), Some(a)) => a.updates == b.updates + 1 && a.recentred == b.recentred,
                (None, Some(a)) => a.updates == 1,
                _ => false,
            };
            if let (true, Some(Some((lo, hi)))) = (one_update, bands.get(i)) {
                if let Some(b) = book.best_bid() {
                    assert!(
                        b.price.0 <= *hi,
                        "line {n}: instrument {i}: a bid above the band"
                    );
                }
                if let Some(a) = book.best_ask() {
                    assert!(
                        a.price.0 >= *lo,
                        "line {n}: instrument {i}: an ask below the band"
                    );
                }
            }
        }
    }
}

/// The capture-line reader against serde, line by line, and a round trip.
pub fn capture_lines(data: &[u8]) {
    // The whole input through the reader (both paths): never a panic.
    let mut r = CaptureReader::new(Cursor::new(data));
    let mut line = CaptureLine {
        ts_ns: 0,
        venue: String::new(),
        dir: Direction::Recv,
        url: String::new(),
        frame: String::new(),
    };
    let mut fast = Vec::new();
    while r.read_into(&mut line) {
        fast.push(line.clone());
    }
    let slow: Vec<CaptureLine> = CaptureReader::new(Cursor::new(data)).collect();
    assert_eq!(fast, slow, "the fast path and serde read different lines");
    // Each line as serde sees it.
    for raw in data.split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(raw) else {
            continue;
        };
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let want = serde_json::from_str::<CaptureLine>(text).ok();
        let mut r = CaptureReader::new(Cursor::new(format!("{text}\n")));
        let got = r.read_into(&mut line).then(|| line.clone());
        assert_eq!(got, want, "fast path and serde disagree on {text:?}");
    }
    // What was read, written and read back, is the same.
    let mut buf: Vec<u8> = Vec::new();
    {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = CaptureWriter::from_writer(Box::new(Sink(sink.clone())));
        for l in &fast {
            w.write(l).expect("write");
        }
        w.flush().expect("flush");
        drop(w);
        buf.extend_from_slice(&sink.lock().unwrap());
    }
    let back: Vec<CaptureLine> = CaptureReader::new(Cursor::new(buf)).collect();
    assert_eq!(back, fast, "a line written and read back differs");
}

/// The config loader: never a panic; an error names the file it came from.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("fuzz.toml");
    if let Err(e) = pit::config::Config::parse(text, path) {
        let msg = e.to_string();
        assert!(
            msg.contains("fuzz.toml"),
            "an error that names no file: {msg}"
        );
    }
}
