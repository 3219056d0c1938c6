//! The simulated market on the wire: every [`MarketEvent`] encodes to one compact JSON text
//! frame, so `pit record` writes the simulated market in the capture-line format like any
//! real venue, and replays and backtests read it back through [`SimDecoder`], the same
//! [`FrameDecoder`] interface the real venues implement.
//!
//! # Frames (`venue = "sim"`, `url = "sim://market"`)
//!
//! Prices and sizes are integer ticks and lots of the instrument; `i` is the instrument
//! index; sides are `"b"` (bid / buy) and `"a"` (ask / sell).
//!
//! | frame | meaning |
//! |---|---|
//! | `{"k":"I","instruments":[...],"start_ns":N,"run_for_ns":N}` | header: the instruments (symbol, tick, lot, ...), first frame of every file, so a recording is self-describing; `run_for_ns` is the run's `--for`, when it had one |
//! | `{"i":0,"k":"S","b":[[p,q],...],"a":[[p,q],...]}` | book snapshot |
//! | `{"i":0,"k":"L","s":"b","p":600001,"q":25}` | absolute size at one level (0 deletes) |
//! | `{"i":0,"k":"T","s":"b","p":600001,"q":25}` | a trade; `s` is the aggressor's side |
//! | `{"i":0,"k":"R","r":"reason"}` | the feed lost integrity |
//!
//! Decoding takes a hand-rolled fast path for the frames the encoder writes (tens of
//! nanoseconds, no allocation except snapshots), and falls back to serde for anything else
//! (other key orders, whitespace, escapes), so any valid JSON spelling of a frame decodes.

use crate::domain::{
    Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, Price, Qty, Side, Timestamp,
    TradeTick,
};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::decode::{FeedStats, FrameDecoder};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The venue name of the simulated market in capture lines.
pub const VENUE: &str = "sim";
/// The url of the simulated market in capture lines.
pub const URL: &str = "sim://market";

/// The header frame: the instruments of the recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `"I"`.
    pub k: String,
    pub instruments: Vec<Instrument>,
    /// Engine time the run started at.
    #[serde(default)]
    pub start_ns: Option<i64>,
    /// The recorded run's `--for`, if it had one (a backtest stops at the same time).
    #[serde(default)]
    pub run_for_ns: Option<i64>,
}

impl Header {
    pub fn new(instruments: Vec<Instrument>, start: Timestamp, run_for_ns: Option<i64>) -> Self {
        Header {
            k: "I".into(),
            instruments,
            start_ns: Some(start.0),
            run_for_ns,
        }
    }

    /// The frame text.
    pub fn encode(&self) -> String {
        // Serializing plain data to a string cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The header as a capture line at `ts`.
    pub fn line(&self, ts: Timestamp) -> CaptureLine {
        line(ts, self.encode())
    }

    /// Parse a header frame; `None` if `frame` is not one.
    pub fn parse(frame: &str) -> Option<Header> {
        if !frame.contains("\"instruments\"") {
            return None;
        }
        serde_json::from_str::<Header>(frame)
            .ok()
            .filter(|h| h.k == "I")
    }
}

/// A `recv` capture line of the simulated market.
pub fn line(ts: Timestamp, frame: String) -> CaptureLine {
    CaptureLine {
        ts_ns: ts.0,
        venue: VENUE.into(),
        dir: Direction::Recv,
        url: URL.into(),
        frame,
    }
}

fn side_code(s: Side) -> char {
    match s {
        Side::Buy => 'b',
        Side::Sell => 'a',
    }
}

/// Append the frame of one event to `out` (cleared first).
pub fn encode_into(ev: &MarketEvent, out: &mut String) {
    out.clear();
    let i = ev.instrument.0;
    // Writing to a String cannot fail.
    let _ = match &ev.kind {
        MarketEventKind::Level { side, price, qty } => write!(
            out,
            r#"{{"i":{i},"k":"L","s":"{}","p":{},"q":{}}}"#,
            side_code(*side),
            price.0,
            qty.0
        ),
        MarketEventKind::Trade(t) => write!(
            out,
            r#"{{"i":{i},"k":"T","s":"{}","p":{},"q":{}}}"#,
            side_code(t.aggressor),
            t.price.0,
            t.qty.0
        ),
        MarketEventKind::Snapshot { bids, asks } => {
            let _ = write!(out, r#"{{"i":{i},"k":"S","b":["#);
            levels(out, bids);
            out.push_str(r#"],"a":["#);
            levels(out, asks);
            out.push_str("]}");
            Ok(())
        }
        MarketEventKind::Resyncing { reason } => write!(
            out,
            r#"{{"i":{i},"k":"R","r":{}}}"#,
            serde_json::Value::String(reason.clone())
        ),
    };
}

fn levels(out: &mut String, ls: &[Level]) {
    for (n, l) in ls.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{},{}]", l.price.0, l.qty.0);
    }
}

/// The frame of one event.
pub fn encode(ev: &MarketEvent) -> String {
    let mut s = String::with_capacity(48);
    encode_into(ev, &mut s);
    s
}

/// Decode one frame at receive time `ts`. `Ok(None)` for a header; `Err` for anything
/// that is not a sim frame.
pub fn decode(frame: &str, ts: Timestamp) -> Result<Option<MarketEvent>, String> {
    if let Some(ev) = fast::decode(frame.as_bytes(), ts) {
        return Ok(Some(ev));
    }
    slow_decode(frame, ts)
}

/// Every field any frame may have; the serde fallback.
#[derive(Deserialize)]
struct AnyFrame {
    k: String,
    #[serde(default)]
    i: Option<u16>,
    #[serde(default)]
    s: Option<String>,
    #[serde(default)]
    p: Option<i64>,
    #[serde(default)]
    q: Option<i64>,
    #[serde(default)]
    b: Option<Vec<(i64, i64)>>,
    #[serde(default)]
    a: Option<Vec<(i64, i64)>>,
    #[serde(default)]
    r: Option<String>,
}

fn slow_decode(frame: &str, ts: Timestamp) -> Result<Option<MarketEvent>, String> {
    let f: AnyFrame = serde_json::from_str(frame).map_err(|e| format!("not a sim frame: {e}"))?;
    if f.k == "I" {
        return Ok(None);
    }
    let instrument = InstrumentId(f.i.ok_or("missing \"i\"")?);
    let side = || -> Result<Side, String> {
        match f.s.as_deref() {
            Some("b") => Ok(Side::Buy),
            Some("a") => Ok(Side::Sell),
            other => Err(format!("bad side {other:?}")),
        }
    };
    let kind = match f.k.as_str() {
        "L" | "T" => {
            let (price, qty) = (
                Price(f.p.ok_or("missing \"p\"")?),
                Qty(f.q.ok_or("missing \"q\"")?),
            );
            if f.k == "L" {
                MarketEventKind::Level {
                    side: side()?,
                    price,
                    qty,
                }
            } else {
                MarketEventKind::Trade(TradeTick {
                    ts,
                    price,
                    qty,
                    aggressor: side()?,
                })
            }
        }
        "S" => {
            let conv = |v: Option<Vec<(i64, i64)>>| -> Vec<Level> {
                v.unwrap_or_default()
                    .into_iter()
                    .map(|(p, q)| Level::new(Price(p), Qty(q)))
                    .collect()
            };
            MarketEventKind::Snapshot {
                bids: conv(f.b),
                asks: conv(f.a),
            }
        }
        "R" => MarketEventKind::Resyncing {
            reason: f.r.unwrap_or_default(),
        },
        other => return Err(format!("unknown frame kind {other:?}")),
    };
    Ok(Some(MarketEvent {
        ts,
        instrument,
        kind,
    }))
}

/// The fast path: exactly the layout [`encode_into`] writes, nothing else.
mod fast {
    use super::*;

    struct Cur<'a> {
        b: &'a [u8],
        at: usize,
    }

    impl Cur<'_> {
        fn lit(&mut self, s: &[u8]) -> Option<()> {
            if self.b.get(self.at..self.at + s.len())? == s {
                self.at += s.len();
                Some(())
            } else {
                None
            }
        }
        fn byte(&mut self) -> Option<u8> {
            let c = *self.b.get(self.at)?;
            self.at += 1;
            Some(c)
        }
        fn int(&mut self) -> Option<i64> {
            let neg = self.b.get(self.at) == Some(&b'-');
            if neg {
                self.at += 1;
            }
            let start = self.at;
            let mut v: i64 = 0;
            while let Some(&c) = self.b.get(self.at) {
                if !c.is_ascii_digit() {
                    break;
                }
                v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
                self.at += 1;
            }
            if self.at == start || self.at - start > 18 {
                return None;
            }
            Some(if neg { -v } else { v })
        }
        fn side(&mut self) -> Option<Side> {
            self.lit(b"\"")?;
            let s = match self.byte()? {
                b'b' => Side::Buy,
                b'a' => Side::Sell,
                _ => return None,
            };
            self.lit(b"\"")?;
            Some(s)
        }
        fn levels(&mut self) -> Option<Vec<Level>> {
            self.lit(b"[")?;
            let mut v = Vec::new();
            if self.lit(b"]").is_some() {
                return Some(v);
            }
            loop {
                self.lit(b"[")?;
                let p = self.int()?;
                self.lit(b",")?;
                let q = self.int()?;
                self.lit(b"]")?;
                v.push(Level::new(Price(p), Qty(q)));
                match self.byte()? {
                    b',' => {}
                    b']' => return Some(v),
                    _ => return None,
                }
            }
        }
    }

    pub(super) fn decode(b: &[u8], ts: Timestamp) -> Option<MarketEvent> {
        let mut c = Cur { b, at: 0 };
        c.lit(b"{\"i\":")?;
        let i = u16::try_from(c.int()?).ok()?;
        c.lit(b",\"k\":\"")?;
        let k = c.byte()?;
        c.lit(b"\"")?;
        let kind = match k {
            b'L' | b'T' => {
                c.lit(b",\"s\":")?;
                let side = c.side()?;
                c.lit(b",\"p\":")?;
                let price = Price(c.int()?);
                c.lit(b",\"q\":")?;
                let qty = Qty(c.int()?);
                if k == b'L' {
                    MarketEventKind::Level { side, price, qty }
                } else {
                    MarketEventKind::Trade(TradeTick {
                        ts,
                        price,
                        qty,
                        aggressor: side,
                    })
                }
            }
            b'S' => {
                c.lit(b",\"b\":")?;
                let bids = c.levels()?;
                c.lit(b",\"a\":")?;
                let asks = c.levels()?;
                MarketEventKind::Snapshot { bids, asks }
            }
            _ => return None,
        };
        c.lit(b"}")?;
        (c.at == b.len()).then_some(MarketEvent {
            ts,
            instrument: InstrumentId(i),
            kind,
        })
    }
}

/// The simulated market's [`FrameDecoder`]: takes its instruments from the recording's
/// header frame (or, before one arrives, from the config).
pub struct SimDecoder {
    instruments: Vec<Instrument>,
    stats: Vec<FeedStats>,
    header: Option<Header>,
}

impl SimDecoder {
    /// A decoder expecting these instruments until a header says otherwise.
    pub fn new(instruments: Vec<Instrument>) -> Self {
        let stats = vec![FeedStats::default(); instruments.len()];
        SimDecoder {
            instruments,
            stats,
            header: None,
        }
    }

    /// The last header frame seen.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    fn malformed(&mut self, inst: usize, why: &str) {
        crate::warn_limited!("feed.malformed", "sim frame malformed: {why}");
        let n = if inst < self.stats.len() { inst } else { 0 };
        if let Some(s) = self.stats.get_mut(n) {
            s.malformed += 1;
        }
    }
}

impl FrameDecoder for SimDecoder {
    fn venue(&self) -> &str {
        VENUE
    }

    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>) {
        if line.dir != Direction::Recv {
            return;
        }
        let ts = Timestamp(line.ts_ns);
        match decode(&line.frame, ts) {
            Ok(Some(ev)) => {
                let n = ev.instrument.index();
                let Some(st) = self.stats.get_mut(n) else {
                    self.malformed(0, "unknown instrument");
                    return;
                };
                st.frames += 1;
                st.bytes += line.frame.len() as u64;
                if matches!(
                    ev.kind,
                    MarketEventKind::Level { .. } | MarketEventKind::Snapshot { .. }
                ) {
                    st.updates += 1;
                }
                if matches!(ev.kind, MarketEventKind::Resyncing { .. }) {
                    st.resyncs += 1;
                }
                out.push(ev);
            }
            Ok(None) => match Header::parse(&line.frame) {
                Some(h) => {
                    if h.instruments != self.instruments {
                        self.stats = vec![FeedStats::default(); h.instruments.len()];
                        self.instruments = h.instruments.clone();
                    }
                    self.header = Some(h);
                }
                None => self.malformed(0, "bad header"),
            },
            Err(e) => self.malformed(0, &e),
        }
    }

    fn stats(&self) -> Vec<FeedStats> {
        self.stats.clone()
    }
}

/// A market-data port that records every event it hands out as a sim frame: what the
/// engine consumed is exactly what the recording holds, so a backtest of it sees the same
/// inputs as the run that recorded it. A write error is logged once and recording stops;
/// trading goes on.
///
/// It mirrors the books, so that every file after a rotation starts with the header and a
/// snapshot of each book as it then stands, and replays on its own.
pub struct RecordingFeed<M: crate::venue::MarketDataPort> {
    inner: M,
    recorder: Option<crate::record::Recorder>,
    header: Header,
    books: Vec<crate::domain::OrderBook>,
    buf: String,
}

impl<M: crate::venue::MarketDataPort> RecordingFeed<M> {
    /// Record `inner` through `recorder`; every file starts with the instruments header.
    pub fn new(
        inner: M,
        mut recorder: crate::record::Recorder,
        start: Timestamp,
        run_for_ns: Option<i64>,
    ) -> Self {
        let header = Header::new(inner.instruments().to_vec(), start, run_for_ns);
        recorder.set_preamble(vec![header.line(start)]);
        let books = vec![crate::domain::OrderBook::new(); inner.instruments().len()];
        RecordingFeed {
            inner,
            recorder: Some(recorder),
            header,
            books,
            buf: String::with_capacity(64),
        }
    }

    /// The header and a snapshot of every non-empty book, at `ts`.
    fn preamble(&self, ts: Timestamp) -> Vec<CaptureLine> {
        let mut lines = vec![self.header.line(ts)];
        for (i, b) in self.books.iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            let ev = MarketEvent {
                ts,
                instrument: InstrumentId(i as u16),
                kind: MarketEventKind::Snapshot {
                    bids: b.levels(Side::Buy).collect(),
                    asks: b.levels(Side::Sell).collect(),
                },
            };
            lines.push(line(ts, encode(&ev)));
        }
        lines
    }

    fn mirror(&mut self, ev: &MarketEvent) {
        let Some(b) = self.books.get_mut(ev.instrument.index()) else {
            return;
        };
        match &ev.kind {
            MarketEventKind::Snapshot { bids, asks } => {
                b.apply_snapshot(bids.iter().copied(), asks.iter().copied())
            }
            MarketEventKind::Level { side, price, qty } => {
                b.update(*side, *price, *qty);
            }
            _ => {}
        }
    }
}

impl<M: crate::venue::MarketDataPort> crate::venue::MarketDataPort for RecordingFeed<M> {
    fn instruments(&self) -> &[Instrument] {
        self.inner.instruments()
    }
    fn peek_time(&mut self) -> Option<Timestamp> {
        self.inner.peek_time()
    }
    fn next_event(&mut self) -> Option<MarketEvent> {
        let ev = self.inner.next_event()?;
        if self
            .recorder
            .as_ref()
            .is_some_and(|r| r.starts_new_file(ev.ts.0))
        {
            let pre = self.preamble(ev.ts);
            if let Some(r) = &mut self.recorder {
                r.set_preamble(pre);
            }
        }
        if self.recorder.is_some() {
            self.mirror(&ev);
        }
        if let Some(r) = &mut self.recorder {
            encode_into(&ev, &mut self.buf);
            let frame = std::mem::take(&mut self.buf);
            let l = line(ev.ts, frame);
            if let Err(e) = r.write(&l) {
                tracing::error!("recording stopped: {e}");
                self.recorder = None;
            }
            self.buf = l.frame;
        }
        Some(ev)
    }
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::MarketDataPort;
    use crate::venue::sim::SimMarket;
    use crate::venue::sim::params::SimParams;
    use rust_decimal_macros::dec;

    /// A crypto pair and a second one with a coarser lot.
    fn instruments() -> Vec<Instrument> {
        vec![
            Instrument::new(
                InstrumentId(0),
                "BTC-USD",
                "sim",
                dec!(0.1),
                dec!(0.001),
                Qty(1),
            ),
            Instrument::new(
                InstrumentId(1),
                "ETH-USD",
                "sim",
                dec!(0.01),
                dec!(0.01),
                Qty(1),
            ),
        ]
    }

    #[test]
    fn every_sim_event_round_trips_through_the_fast_path() {
        let prices = [dec!(60000), dec!(3000)];
        let start = crate::setup::SIM_EPOCH;
        let mut market = SimMarket::new(&SimParams::default(), instruments(), &prices, 7, start);
        let mut buf = String::new();
        for _ in 0..50_000 {
            let ev = market.next_event().unwrap();
            encode_into(&ev, &mut buf);
            let fast = fast::decode(buf.as_bytes(), ev.ts);
            if !matches!(ev.kind, MarketEventKind::Resyncing { .. }) {
                assert_eq!(fast.as_ref(), Some(&ev), "{buf}");
            }
            assert_eq!(slow_decode(&buf, ev.ts).unwrap(), Some(ev), "{buf}");
        }
    }

    #[test]
    fn other_spellings_and_bad_frames() {
        let ts = Timestamp(5);
        let ev = decode(r#"{ "k": "L", "q": 3, "p": -2, "s": "a", "i": 1 }"#, ts).unwrap();
        assert_eq!(
            ev,
            Some(MarketEvent {
                ts,
                instrument: InstrumentId(1),
                kind: MarketEventKind::Level {
                    side: Side::Sell,
                    price: Price(-2),
                    qty: Qty(3)
                }
            })
        );
        let r = MarketEvent {
            ts,
            instrument: InstrumentId(0),
            kind: MarketEventKind::Resyncing {
                reason: "gap \"x\"".into(),
            },
        };
        assert_eq!(decode(&encode(&r), ts).unwrap(), Some(r));
        for bad in [
            "",
            "{",
            r#"{"i":0,"k":"L","s":"x","p":1,"q":1}"#,
            r#"{"i":0,"k":"Z"}"#,
            r#"{"i":0,"k":"L","s":"b","p":99999999999999999999999,"q":1}"#,
            r#"{"i":0,"k":"L","s":"b","p":1}"#,
        ] {
            assert!(decode(bad, ts).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_decoder_takes_instruments_from_the_header() {
        let insts = instruments();
        let mut d = SimDecoder::new(Vec::new());
        let mut out = Vec::new();
        d.on_line(
            &Header::new(insts.clone(), Timestamp(1), None).line(Timestamp(1)),
            &mut out,
        );
        assert_eq!(d.instruments(), &insts[..]);
        d.on_line(
            &line(
                Timestamp(2),
                r#"{"i":1,"k":"T","s":"b","p":5,"q":2}"#.into(),
            ),
            &mut out,
        );
        d.on_line(&line(Timestamp(3), "garbage".into()), &mut out);
        d.on_line(
            &line(
                Timestamp(3),
                r#"{"i":9,"k":"T","s":"b","p":5,"q":2}"#.into(),
            ),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let st = d.stats();
        assert_eq!(st[1].frames, 1);
        assert_eq!(st[0].malformed, 2);
    }
}
