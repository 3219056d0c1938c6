//! Kraken WebSocket v2 `book` (snapshot, then updates) and `trade`.
//!
//! Rules (Kraken's "Book checksum" guide): after each snapshot or update, truncate the book
//! to the subscribed depth, then compute a CRC32 over the top 10 asks (best first) followed
//! by the top 10 bids (best first), each level as its price then its quantity, each written
//! as in the feed with the decimal point removed and leading zeros stripped; it must equal
//! the message's `checksum`. A mismatch is counted, the book is RESYNCING, and the decoder
//! asks to resubscribe, which brings a fresh snapshot.
//!
//! Prices and quantities arrive as JSON numbers. The decoder reads their exact text (a
//! hand scan, never `f64`). Kraken's guide (<https://docs.kraken.com/api/docs/guides/spot-ws-book-v2>,
//! "Book checksum (WebSocket v2)") says the fields are "pushed onto the wire containing
//! full precision", i.e. written at the instrument's price and quantity precision (its FIX
//! twin, <https://docs.kraken.com/exchange/guides/fix/checksums>, says so outright: "format
//! the price using the instrument's price precision"), then "remove `.`" and "remove
//! leading zeros". So the checksum text is the integer book written at the instrument's
//! precision, never at whatever one message happened to write: the precision of a book
//! is the number of decimals most of its snapshot's levels are written with, learned
//! afresh from every snapshot. One price written with extra trailing zeros (`63381.00000`)
//! is the same value and changes nothing; a snapshot written all wrong fails its
//! checksum, and the resubscription's snapshot sets the precision again, so a resubscribe
//! always recovers. The guide's worked example (checksum 3310070434) is a test below.

use crate::domain::{Instrument, MarketEvent, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{
    BookState, Books, Scale, books_decoder_parts, decimals_of, for_each_element,
};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt::Write;

pub mod api;
pub mod endpoints;
pub mod trade;

/// The depth Kraken sends when none is asked for.
const DEFAULT_DEPTH: usize = 10;

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    result: Option<SubResult<'a>>,
}

#[derive(Deserialize)]
struct SubResult<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(default)]
    depth: Option<usize>,
    #[serde(borrow, default)]
    symbol: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
    #[serde(borrow, default)]
    checksum: Option<&'a RawValue>,
    /// When the book changed, RFC 3339 (`timestamp` of the v2 book channel's data;
    /// Kraken docs, "WebSocket v2 / Book").
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    /// When the trade happened, RFC 3339 (`timestamp` of the v2 trade channel's data).
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

/// Per-book extras: the subscribed depth and the decimals each field is written with.
#[derive(Clone, Copy, Debug)]
struct Extra {
    depth: usize,
    price_dp: u32,
    qty_dp: u32,
}

impl Default for Extra {
    fn default() -> Self {
        Extra {
            depth: DEFAULT_DEPTH,
            price_dp: 0,
            qty_dp: 0,
        }
    }
}

/// The Kraken v2 decoder.
pub struct KrakenDecoder {
    books: Books,
    extra: Vec<Extra>,
    /// Depth announced by a subscription result before the first book message.
    announced: Vec<(String, usize)>,
    requests: Vec<FeedRequest>,
    text: String,
}

/// Units at scale `s` -> the integer of the text written with `dp` decimals.
fn at_dp(v: i64, s: Scale, dp: u32) -> i64 {
    let v = v.saturating_mul(s.step);
    if s.dp >= dp {
        v / 10i64.pow(s.dp - dp)
    } else {
        v.saturating_mul(10i64.pow(dp - s.dp))
    }
}

/// The most frequent number of decimals (the larger on a tie; 0 when nothing was counted).
fn mode(counts: &[u32; 19]) -> u32 {
    let mut best = 0;
    for (dp, &n) in counts.iter().enumerate() {
        if n > 0 && n >= counts[best] {
            best = dp;
        }
    }
    best as u32
}

/// Kraken's CRC32 over the top 10 asks then the top 10 bids.
fn checksum(st: &BookState, price_dp: u32, qty_dp: u32, text: &mut String) -> u32 {
    text.clear();
    for side in [Side::Sell, Side::Buy] {
        for l in st.book.top(side, 10) {
            let _ = write!(
                text,
                "{}{}",
                at_dp(l.price.0, st.price, price_dp),
                at_dp(l.qty.0, st.qty, qty_dp)
            );
        }
    }
    crc32fast::hash(text.as_bytes())
}

impl KrakenDecoder {
    /// Follow the configured instruments (Kraken v2 symbols, e.g. `BTC/USD`).
    pub fn new(instruments: Vec<Instrument>, depth: usize) -> Self {
        let n = instruments.len();
        KrakenDecoder {
            books: Books::configured("kraken", instruments),
            extra: vec![
                Extra {
                    depth,
                    ..Extra::default()
                };
                n
            ],
            announced: Vec::new(),
            requests: Vec::new(),
            text: String::with_capacity(512),
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("kraken", grid);
        d
    }

    /// Follow every book in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        KrakenDecoder {
            books: Books::discovering("kraken"),
            extra: Vec::new(),
            announced: Vec::new(),
            requests: Vec::new(),
            text: String::with_capacity(512),
        }
    }

    /// The subscription frames for the instruments.
    pub fn subscribe_frames(depth: usize, symbols: &[String]) -> Vec<String> {
        vec![
            serde_json::json!({"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": depth, "snapshot": true}}).to_string(),
            serde_json::json!({"method": "subscribe", "params": {"channel": "trade", "symbol": symbols, "snapshot": false}}).to_string(),
        ]
    }

    fn index(&mut self, symbol: &str) -> Option<usize> {
        let i = self.books.index(symbol, || symbol.to_string())?;
        while self.extra.len() < self.books.states.len() {
            let depth = self
                .announced
                .iter()
                .find(|(s, _)| s == symbol)
                .map_or(DEFAULT_DEPTH, |(_, d)| *d);
            self.extra.push(Extra {
                depth,
                ..Extra::default()
            });
        }
        Some(i)
    }

    fn resubscribe(&mut self, symbol: &str, depth: usize) {
        for method in ["unsubscribe", "subscribe"] {
            self.requests.push(FeedRequest::Send(
                serde_json::json!({"method": method, "params": {"channel": "book", "symbol": [symbol], "depth": depth}}).to_string(),
            ));
        }
    }

    fn on_recv(&mut self, ts: Timestamp, frame: &str, out: &mut Vec<MarketEvent>) {
        let msg: Msg = match serde_json::from_str(frame) {
            Ok(m) => m,
            Err(e) => return self.books.malformed(&format!("{e}")),
        };
        if msg.method == Some("subscribe") {
            if let Some(r) = msg.result
                && r.channel == Some("book")
                && let (Some(sym), Some(depth)) = (r.symbol, r.depth)
            {
                self.announced.retain(|(s, _)| s != sym);
                self.announced.push((sym.to_string(), depth));
                if let Some(i) = self
                    .books
                    .states
                    .iter()
                    .position(|s| s.instrument.symbol == sym)
                {
                    self.extra[i].depth = depth;
                }
            }
            return;
        }
        let (Some(channel), Some(data)) = (msg.channel, msg.data) else {
            return;
        };
        match channel {
            "book" => {
                let items: Vec<BookData> = match serde_json::from_str(data.get()) {
                    Ok(v) => v,
                    Err(e) => return self.books.malformed(&format!("book: {e}")),
                };
                let snapshot = msg.kind == Some("snapshot");
                for d in items {
                    let Some(i) = self.index(d.symbol) else {
                        continue;
                    };
                    self.on_book(i, ts, frame.len(), snapshot, &d, out);
                }
            }
            "trade" => {
                let items: Vec<TradeData> = match serde_json::from_str(data.get()) {
                    Ok(v) => v,
                    Err(e) => return self.books.malformed(&format!("trade: {e}")),
                };
                for t in items {
                    let Some(i) = self.index(t.symbol) else {
                        continue;
                    };
                    let st = &mut self.books.states[i];
                    st.frame(frame.len());
                    st.event_time_rfc3339(t.timestamp, ts);
                    match st.level(t.price.get(), t.qty.get()) {
                        Some(l) => {
                            let side = if t.side == "sell" {
                                Side::Sell
                            } else {
                                Side::Buy
                            };
                            st.trade(ts, l.price, l.qty, side, out);
                        }
                        None => st.malformed("trade numbers"),
                    }
                }
            }
            _ => {}
        }
    }

    fn on_book(
        &mut self,
        i: usize,
        ts: Timestamp,
        bytes: usize,
        snapshot: bool,
        d: &BookData,
        out: &mut Vec<MarketEvent>,
    ) {
        let st = &mut self.books.states[i];
        let ex = &mut self.extra[i];
        st.frame(bytes);
        st.event_time_rfc3339(d.timestamp, ts);
        if !snapshot && !st.synced {
            return; // waiting for the snapshot the resubscription brings
        }
        let mut scratch = Vec::new();
        let events = if snapshot { &mut scratch } else { &mut *out };
        if snapshot {
            st.book.clear();
        }
        let mut bad = false;
        // Decimals written, counted over a snapshot's levels (the precision is their mode).
        let mut price_dps = [0u32; 19];
        let mut qty_dps = [0u32; 19];
        for (raw, side) in [(d.bids, Side::Buy), (d.asks, Side::Sell)] {
            let Some(raw) = raw else { continue };
            let ok = for_each_element(raw.get(), |t| {
                let (Some(p), Some(q)) = (t.value("price"), t.value("qty")) else {
                    return false;
                };
                if snapshot {
                    price_dps[decimals_of(p).min(18) as usize] += 1;
                    qty_dps[decimals_of(q).min(18) as usize] += 1;
                }
                match st.level(p, q) {
                    Some(l) => {
                        st.set(ts, side, l, events);
                        true
                    }
                    None => false,
                }
            });
            bad |= !ok;
        }
        if bad {
            st.malformed("book levels");
            if snapshot {
                // Half a snapshot: never emitted, so the book cannot be trusted.
                st.resync(ts, "malformed book snapshot".into(), out);
                st.book.clear();
                let (symbol, depth) = (st.instrument.symbol.clone(), ex.depth);
                return self.resubscribe(&symbol, depth);
            }
        }
        if snapshot {
            ex.price_dp = mode(&price_dps);
            ex.qty_dp = mode(&qty_dps);
        }
        // Levels pushed out of the subscribed depth are deleted by the client (Kraken
        // sends no delete for them): emit those deletes too.
        st.truncate(ex.depth, ts, events);
        let ok = if snapshot {
            st.applied_snapshot(ts, out)
        } else {
            st.applied(ts, out)
        };
        if !ok {
            let (symbol, depth) = (st.instrument.symbol.clone(), ex.depth);
            return self.resubscribe(&symbol, depth);
        }
        let expected = d.checksum.and_then(|c| c.get().parse::<u32>().ok());
        if let Some(want) = expected {
            st.stats.checksums_checked += 1;
            let got = checksum(st, ex.price_dp, ex.qty_dp, &mut self.text);
            if got != want {
                st.stats.checksums_failed += 1;
                st.resync(ts, format!("checksum {got} != {want}"), out);
                st.book.clear();
                let (symbol, depth) = (st.instrument.symbol.clone(), ex.depth);
                return self.resubscribe(&symbol, depth);
            }
        }
        if snapshot {
            st.emit_snapshot(ts, out);
        }
    }
}

impl FrameDecoder for KrakenDecoder {
    fn venue(&self) -> &str {
        "kraken"
    }
    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>) {
        let ts = Timestamp(line.ts_ns);
        match line.dir {
            Direction::Recv => self.on_recv(ts, &line.frame, out),
            Direction::Connect => {
                self.books.on_connect(ts, out);
            }
            _ => {}
        }
    }
    books_decoder_parts!();
}

impl KrakenDecoder {
    /// The book state of instrument `i`.
    pub fn state(&self, i: usize) -> Option<&BookState> {
        self.books.states.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MarketEventKind;

    fn recv(frame: &str) -> CaptureLine {
        CaptureLine {
            ts_ns: 1,
            venue: "kraken".into(),
            dir: Direction::Recv,
            url: endpoints::WS_URL.into(),
            frame: frame.into(),
        }
    }

    /// A level pushed out of the subscribed depth is deleted with an event of its own, so
    /// the engine's book (built from events) keeps equal to the decoder's.
    #[test]
    fn truncation_to_the_depth_emits_deletes() {
        use crate::domain::{OrderBook, Price, Qty};
        let mut d = KrakenDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(
            &recv(r#"{"method":"subscribe","result":{"channel":"book","depth":2,"symbol":"BTC/USD"},"success":true}"#),
            &mut out,
        );
        let snap = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":10.0,"qty":1.0},{"price":9.0,"qty":1.0},{"price":8.0,"qty":1.0}],"asks":[{"price":11.0,"qty":1.0},{"price":12.0,"qty":1.0}]}]}"#;
        let upd = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":10.5,"qty":2.0}],"asks":[{"price":10.8,"qty":3.0}]}]}"#;
        d.on_line(&recv(snap), &mut out);
        d.on_line(&recv(upd), &mut out);
        let mut book = OrderBook::new();
        for e in &out {
            match &e.kind {
                MarketEventKind::Snapshot { bids, asks } => {
                    book.apply_snapshot(bids.clone(), asks.clone())
                }
                MarketEventKind::Level { side, price, qty } => {
                    book.update(*side, *price, *qty);
                }
                _ => {}
            }
        }
        let st = d.state(0).unwrap();
        assert_eq!(st.book.depth(Side::Buy), 2);
        assert_eq!(book, st.book);
        let deletes: Vec<_> = out
            .iter()
            .filter_map(|e| match e.kind {
                MarketEventKind::Level { side, price, qty } if qty == Qty::ZERO => {
                    Some((side, price))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            deletes,
            vec![
                (Side::Buy, Price(900_000_000)),
                (Side::Sell, Price(1_200_000_000))
            ]
        );
    }

    /// The checksum text of a small book, and a mismatch.
    #[test]
    fn checksum_text_and_mismatch() {
        let mut d = KrakenDecoder::discovering();
        let mut out = Vec::new();
        let snap = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015},{"price":0.1,"qty":0.5}],"asks":[{"price":45285.2,"qty":0.00100000}],"checksum":CK}]}"#;
        // Asks best first, then bids best first (0.1 last, deep: a real resting bid);
        // "0.1" -> "1". (An ask at 0.1 would cross the book: bad data, see common.rs.)
        let expect = crc32fast::hash(
            format!(
                "{}{}{}{}{}{}{}{}",
                "452852", "100000", "452835", "10000000", "452834", "154582015", "1", "50000000"
            )
            .as_bytes(),
        );
        d.on_line(&recv(&snap.replace("CK", &expect.to_string())), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.checksums_checked, st.stats.checksums_failed),
            (1, 0)
        );
        assert!(st.synced);
        let upd = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.00000000}],"asks":[],"checksum":12345}]}"#;
        d.on_line(&recv(upd), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.checksums_checked, st.stats.checksums_failed),
            (2, 1)
        );
        assert_eq!(st.stats.resyncs, 1);
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Resyncing { .. }
        ));
        assert_eq!(d.requests().len(), 2);
        d.on_line(&recv("{\"channel\":\"book\",\"data\":7}"), &mut out);
        assert_eq!(d.unattributed_malformed(), 1);
    }

    /// Kraken's own worked example ("Book checksum (WebSocket v2)",
    /// https://docs.kraken.com/api/docs/guides/spot-ws-book-v2): this snapshot's checksum
    /// is 3310070434.
    #[test]
    fn the_guides_worked_example() {
        let snap = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015},{"price":45282.1,"qty":0.10000000},{"price":45281.0,"qty":0.10000000},{"price":45280.3,"qty":1.54592586},{"price":45279.0,"qty":0.07990000},{"price":45277.6,"qty":0.03310103},{"price":45277.5,"qty":0.30000000},{"price":45277.3,"qty":1.54602737},{"price":45276.6,"qty":0.15445238}],"asks":[{"price":45285.2,"qty":0.00100000},{"price":45286.4,"qty":1.54571953},{"price":45286.6,"qty":1.54571109},{"price":45289.6,"qty":1.54560911},{"price":45290.2,"qty":0.15890660},{"price":45291.8,"qty":1.54553491},{"price":45294.7,"qty":0.04454749},{"price":45296.1,"qty":0.35380000},{"price":45297.5,"qty":0.09945542},{"price":45299.5,"qty":0.18772827}],"checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
        let mut d = KrakenDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&recv(snap), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.checksums_checked, st.stats.checksums_failed),
            (1, 0)
        );
        assert!(d.book(0).is_some());
        // The same book with one price written with extra trailing zeros: the same value,
        // the same checksum; and the next update still checks.
        let padded = snap.replace("45283.4,", "45283.40000,");
        let mut d = KrakenDecoder::discovering();
        d.on_line(&recv(&padded), &mut out);
        let upd = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.50000,"qty":0.10000000}],"asks":[],"checksum":3310070434}]}"#;
        d.on_line(&recv(upd), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.checksums_checked, st.stats.checksums_failed),
            (2, 0)
        );
    }
}
