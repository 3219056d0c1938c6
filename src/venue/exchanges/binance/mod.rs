//! Binance spot: `<symbol>@depth@100ms` diffs synced to the REST `/api/v3/depth` snapshot
//! by Binance's documented procedure, `bookTicker` cross-checks and `trade` prints.
//!
//! The sync, per Binance's "How to manage a local order book correctly":
//! 1. buffer the diffs from the stream and ask for a snapshot;
//! 2. if the snapshot's `lastUpdateId` is below the first buffered diff's `U`, ask again;
//! 3. discard buffered diffs with `u <= lastUpdateId`;
//! 4. the first diff applied must have `U <= lastUpdateId + 1 <= u`;
//! 5. every later diff must have `U == previous u + 1`; otherwise it is a gap: the book is
//!    RESYNCING and the procedure starts again at 1.
//!
//! A `bookTicker` whose `u` equals the book's last applied update id must agree with the
//! book's best bid and ask (price and size): a best bid/ask cross-check.
//!
//! Frames may come from the combined stream (`{"stream":..,"data":{..}}`) or a raw one.

use crate::domain::{Instrument, Level, MarketEvent, MarketEventKind, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{BookState, Books, books_decoder_parts, for_each_element};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use endpoints::REST_BASE;
use scan::{Levels, Msg};
use serde::Deserialize;
use serde_json::value::RawValue;

pub mod api;
pub mod endpoints;
mod scan;
pub mod trade;

/// Most diffs kept while waiting for a snapshot.
const MAX_BUFFER: usize = 10_000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Snapshot<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: i64,
    #[serde(borrow)]
    bids: &'a RawValue,
    #[serde(borrow)]
    asks: &'a RawValue,
}

/// Sync state beside each book.
#[derive(Default, Debug)]
struct Sync {
    /// Diffs received while unsynced: receive time and the `data` object's text.
    buffer: Vec<(Timestamp, String)>,
    snapshot_requested: bool,
    /// The next diff is the first after a snapshot (rule 4, not rule 5).
    first_after_snapshot: bool,
    /// `bookTicker`s ahead of the book (the ticker is real time, diffs come every
    /// 100 ms): `(u, best bid, best ask)`, checked once the book reaches their `u`.
    tickers: std::collections::VecDeque<(i64, Level, Level)>,
}

/// Most `bookTicker`s kept waiting for the book.
const MAX_TICKERS: usize = 4096;

/// Check the waiting tickers the book has reached: those whose `u` is the book's last
/// update id must agree with its best bid and ask; older ones can no longer be checked.
fn check_tickers(st: &mut BookState, sync: &mut Sync) {
    let Some(last) = st.last_seq else { return };
    while let Some(&(u, bid, ask)) = sync.tickers.front() {
        if u > last {
            break;
        }
        sync.tickers.pop_front();
        if u == last && st.synced && !st.resyncing {
            if st.book.best_bid() == Some(bid) && st.book.best_ask() == Some(ask) {
                st.stats.bbo_checks_passed += 1;
            } else {
                st.stats.bbo_checks_failed += 1;
                crate::warn_limited!("feed.bbo_mismatch", symbol = %st.instrument.symbol, u, "bookTicker disagrees with the book");
            }
        }
    }
}

/// The Binance spot decoder.
pub struct BinanceDecoder {
    books: Books,
    sync: Vec<Sync>,
    requests: Vec<FeedRequest>,
    rest_base: String,
    /// Where the levels of the message last scanned lie (reused: no allocation per frame).
    levels: Levels,
}

impl BinanceDecoder {
    /// Follow the configured instruments (symbols as Binance spells them, e.g. `BTCUSDT`).
    pub fn new(instruments: Vec<Instrument>) -> Self {
        Self::with_books(Books::configured("binance", instruments))
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("binance", grid);
        d
    }

    /// Follow every symbol in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        Self::with_books(Books::discovering("binance"))
    }

    fn with_books(books: Books) -> Self {
        let n = books.states.len();
        BinanceDecoder {
            books,
            sync: (0..n).map(|_| Sync::default()).collect(),
            requests: Vec::new(),
            rest_base: REST_BASE.into(),
            levels: Levels::default(),
        }
    }

    /// Use another REST base for snapshots (tests).
    pub fn with_rest_base(mut self, base: &str) -> Self {
        self.rest_base = base.trim_end_matches('/').into();
        self
    }

    /// The snapshot URL for a symbol.
    pub fn snapshot_url(&self, symbol: &str) -> String {
        format!(
            "{}/api/v3/depth?symbol={}&limit=1000",
            self.rest_base,
            symbol.to_ascii_uppercase()
        )
    }

    fn index(&mut self, symbol: &str) -> Option<usize> {
        let i = self.books.index(symbol, || symbol.to_string())?;
        while self.sync.len() < self.books.states.len() {
            self.sync.push(Sync::default());
        }
        Some(i)
    }

    fn request_snapshot(&mut self, i: usize) {
        if !self.sync[i].snapshot_requested {
            self.sync[i].snapshot_requested = true;
            let url = self.snapshot_url(&self.books.states[i].instrument.symbol);
            self.requests.push(FeedRequest::Http(url));
        }
    }

    fn on_recv(&mut self, ts: Timestamp, frame: &str, out: &mut Vec<MarketEvent>) {
        // One pass over the frame in the usual case (see `scan`); serde reads the rest.
        let read = match combined_data(frame) {
            Some(d) => scan::msg(d, &mut self.levels).map(|m| (d, m)),
            None => match scan::scan(frame, true, &mut self.levels) {
                Some(m) => Ok((frame, m)),
                None => match serde_json::from_str::<Envelope>(frame) {
                    Ok(Envelope { data: Some(d) }) => {
                        scan::msg(d.get(), &mut self.levels).map(|m| (d.get(), m))
                    }
                    Ok(Envelope { data: None }) => scan::serde_msg(frame).map(|m| (frame, m)),
                    Err(e) => Err(e),
                },
            },
        };
        let (data, msg) = match read {
            Ok(r) => r,
            Err(e) => return self.books.malformed(&format!("{e}")),
        };
        let Some(symbol) = msg.s else {
            // Subscription results and the like name no symbol.
            return;
        };
        let Some(i) = self.index(symbol) else { return };
        self.books.states[i].frame(frame.len());
        if let Some(ms) = msg.event_ms {
            self.books.states[i].event_time_ms(ms, ts);
        }
        match msg.e {
            Some("depthUpdate") => self.on_diff(i, ts, data, &msg, out),
            Some("trade") => {
                let st = &mut self.books.states[i];
                match (msg.p, msg.q, msg.m) {
                    (Some(p), Some(q), Some(m)) => match st.level(p, q) {
                        Some(l) => {
                            let aggressor = if m { Side::Sell } else { Side::Buy };
                            st.trade(ts, l.price, l.qty, aggressor, out);
                        }
                        None => st.malformed("trade price or size"),
                    },
                    _ => st.malformed("trade without p, q or m"),
                }
            }
            None if msg.u.is_some() && msg.bid_qty.is_some() => self.on_book_ticker(i, &msg),
            _ => {}
        }
    }

    fn on_book_ticker(&mut self, i: usize, msg: &Msg) {
        let st = &mut self.books.states[i];
        let (Some(u), Some(b), Some(bq), Some(a), Some(aq)) =
            (msg.u, msg.b, msg.bid_qty, msg.a, msg.ask_qty)
        else {
            return st.malformed("bookTicker fields");
        };
        let (b, a) = (b.trim_matches('"'), a.trim_matches('"'));
        let (Some(bid), Some(ask)) = (st.level(b, bq), st.level(a, aq)) else {
            return st.malformed("bookTicker numbers");
        };
        let sync = &mut self.sync[i];
        if sync.tickers.len() >= MAX_TICKERS {
            sync.tickers.pop_front();
        }
        sync.tickers.push_back((u, bid, ask));
        check_tickers(st, sync);
    }

    fn on_diff(
        &mut self,
        i: usize,
        ts: Timestamp,
        data: &str,
        msg: &Msg,
        out: &mut Vec<MarketEvent>,
    ) {
        let (Some(first), Some(last)) = (msg.first, msg.u) else {
            return self.books.states[i].malformed("depthUpdate without U or u");
        };
        if !self.books.states[i].synced {
            let buf = &mut self.sync[i].buffer;
            if buf.len() >= MAX_BUFFER {
                buf.remove(0);
            }
            buf.push((ts, data.to_string()));
            self.request_snapshot(i);
            return;
        }
        self.apply_diff(i, ts, first, last, msg, data, out);
    }

    /// Rules 4 and 5, then apply. Returns false on a gap. `text` is the message `msg` was
    /// read from.
    #[allow(clippy::too_many_arguments)]
    fn apply_diff(
        &mut self,
        i: usize,
        ts: Timestamp,
        first: i64,
        last: i64,
        msg: &Msg,
        text: &str,
        out: &mut Vec<MarketEvent>,
    ) -> bool {
        let st = &mut self.books.states[i];
        let prev = st.last_seq.unwrap_or(i64::MIN);
        if last <= prev {
            return true; // already covered (duplicate or the snapshot held it)
        }
        let next = prev.saturating_add(1);
        let chained = if self.sync[i].first_after_snapshot {
            first <= next
        } else {
            first == next
        };
        // One diff that spans an implausible number of update ids (or runs backwards) is
        // not a diff to trust: taken as it is, its `u` would make every later diff look
        // already covered and freeze the book.
        let jump = st.limits.implausible_jump(first.max(prev), last);
        if !chained || jump {
            let why = if jump {
                format!("depth diff U={first} u={last} jumps implausibly far after u={prev}")
            } else {
                format!("depth diff U={first} after u={prev}")
            };
            st.gap(ts, why, out);
            st.book.clear();
            self.sync[i].snapshot_requested = false;
            self.sync[i].first_after_snapshot = false;
            self.request_snapshot(i);
            return false;
        }
        let (Some(b), Some(a)) = (msg.b, msg.a) else {
            st.malformed("depthUpdate without b or a");
            return true;
        };
        let mut bad = false;
        let levels = &self.levels;
        for (raw, spans, side) in [(b, &levels.bids, Side::Buy), (a, &levels.asks, Side::Sell)] {
            // Levels are applied in order up to the first bad one (as they always were).
            let mut apply = |price: &str, qty: &str| match st.level(price, qty) {
                Some(l) => {
                    st.set(ts, side, l, out);
                    true
                }
                None => false,
            };
            let ok = if msg.scanned {
                // The scanner walked the array already (a string is no levels at all).
                let at = |s: usize, e: usize| text.get(s..e).unwrap_or("");
                raw.starts_with('[')
                    && spans
                        .iter()
                        .all(|&[ps, pe, qs, qe]| apply(at(ps, pe), at(qs, qe)))
            } else {
                for_each_element(raw, |t| apply(t.get(0), t.get(1)))
            };
            bad |= !ok;
        }
        if bad {
            st.malformed("depthUpdate levels");
        }
        self.sync[i].first_after_snapshot = false;
        if !st.applied(ts, out) {
            // Bad data (crossed, or a level outside the sanity band): its events were
            // taken back; a fresh snapshot rebuilds the book.
            self.sync[i].snapshot_requested = false;
            self.request_snapshot(i);
            return false;
        }
        st.last_seq = Some(last);
        check_tickers(st, &mut self.sync[i]);
        true
    }

    fn on_http(&mut self, ts: Timestamp, url: &str, body: &str, out: &mut Vec<MarketEvent>) {
        if !url.contains("/depth") {
            return;
        }
        let Some(symbol) = query_param(url, "symbol") else {
            return self.books.malformed("snapshot URL without symbol");
        };
        let symbol = symbol.to_ascii_uppercase();
        let Some(i) = self.index(&symbol) else { return };
        self.sync[i].snapshot_requested = false;
        let snap: Snapshot = match serde_json::from_str(body) {
            Ok(s) => s,
            Err(e) => {
                self.books.states[i].malformed(&format!("snapshot: {e}"));
                return self.request_snapshot(i);
            }
        };
        let st = &mut self.books.states[i];
        st.frame(body.len());
        let l = snap.last_update_id;
        // Rule 2: a snapshot older than the first buffered diff is of no use.
        let buffer = std::mem::take(&mut self.sync[i].buffer);
        let mut keep: Vec<(Timestamp, String)> = Vec::with_capacity(buffer.len());
        for (t, text) in buffer {
            match scan::msg(&text, &mut self.levels) {
                Ok(m) if m.u.is_some_and(|u| u > l) => keep.push((t, text)),
                Ok(_) => {}
                Err(_) => st.malformed("buffered diff"),
            }
        }
        if let Some((_, text)) = keep.first()
            && let Ok(m) = scan::msg(text, &mut self.levels)
            && m.first.is_some_and(|u0| u0 > l + 1)
        {
            self.sync[i].buffer = keep;
            return self.request_snapshot(i);
        }
        let mut levels = Vec::with_capacity(1000);
        let mut bad = false;
        for (raw, side) in [(snap.bids.get(), Side::Buy), (snap.asks.get(), Side::Sell)] {
            let ok = for_each_element(raw, |t| match st.level(t.get(0), t.get(1)) {
                Some(lv) => {
                    levels.push((side, lv));
                    true
                }
                None => false,
            });
            bad |= !ok;
        }
        if bad {
            st.malformed("snapshot levels");
            return self.request_snapshot(i);
        }
        st.book.clear();
        for (side, lv) in levels {
            st.book.update(side, lv.price, lv.qty);
        }
        if !st.applied_snapshot(ts, out) {
            // A crossed snapshot: ask again.
            return self.request_snapshot(i);
        }
        st.last_seq = Some(l);
        st.synced = true;
        self.sync[i].first_after_snapshot = true;
        // Apply what the stream sent meanwhile; its level events are folded into the
        // snapshot event emitted below.
        let mut scratch = Vec::new();
        for (t, text) in keep {
            let Ok(m) = scan::msg(&text, &mut self.levels) else {
                continue;
            };
            let (Some(first), Some(last)) = (m.first, m.u) else {
                continue;
            };
            if self.books.states[i].synced {
                if !self.apply_diff(i, t, first, last, &m, &text, &mut scratch) {
                    // A gap inside the buffer: the Resyncing event stands.
                    out.extend(
                        scratch
                            .drain(..)
                            .filter(|e| matches!(e.kind, MarketEventKind::Resyncing { .. })),
                    );
                }
            } else {
                let buf = &mut self.sync[i].buffer;
                buf.push((t, text));
            }
        }
        let st = &mut self.books.states[i];
        if st.synced {
            st.emit_snapshot(ts, out);
        }
    }
}

/// The `data` object of a combined-stream frame as Binance writes it
/// (`{"stream":"..","data":{..}}`), found without parsing; `None` for any other layout
/// (then the frame is parsed in full). The object itself is parsed, and so checked, next.
fn combined_data(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix("{\"stream\":\"")?;
    let q = rest.find('"')?;
    let rest = rest[q..].strip_prefix("\",\"data\":")?;
    let data = rest.strip_suffix('}')?;
    data.starts_with('{').then_some(data)
}

/// The value of `key` in a URL's query string.
pub(crate) fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

impl FrameDecoder for BinanceDecoder {
    fn venue(&self) -> &str {
        "binance"
    }
    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>) {
        let ts = Timestamp(line.ts_ns);
        match line.dir {
            Direction::Recv => self.on_recv(ts, &line.frame, out),
            Direction::Http => self.on_http(ts, &line.url, &line.frame, out),
            Direction::Connect => {
                // A new connection: every book must be rebuilt from a fresh snapshot.
                self.books.on_connect(ts, out);
                self.sync.iter_mut().for_each(|s| *s = Sync::default());
            }
            Direction::Send => {}
        }
    }
    books_decoder_parts!();
}

impl BinanceDecoder {
    /// The book state of instrument `i` (tests, verify).
    pub fn state(&self, i: usize) -> Option<&BookState> {
        self.books.states.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Qty};

    fn line(dir: Direction, url: &str, frame: &str) -> CaptureLine {
        CaptureLine {
            ts_ns: 1,
            venue: "binance".into(),
            dir,
            url: url.into(),
            frame: frame.into(),
        }
    }
    fn diff(first: i64, last: i64, bids: &str, asks: &str) -> CaptureLine {
        let f = format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{first},"u":{last},"b":{bids},"a":{asks}}}}}"#
        );
        line(Direction::Recv, "wss://x", &f)
    }
    fn snapshot(last: i64) -> CaptureLine {
        line(
            Direction::Http,
            "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000",
            &format!(
                r#"{{"lastUpdateId":{last},"bids":[["100.00000000","1.00000000"]],"asks":[["101.00000000","2.00000000"]]}}"#
            ),
        )
    }

    /// Market-data latency: the frame's receive time minus its "E" (ms); a frame received
    /// before its stamp counts as zero and as early.
    #[test]
    fn event_times_give_the_market_data_latency() {
        let mut d = BinanceDecoder::discovering();
        let mut out = Vec::new();
        let mut l = diff(5, 8, "[]", "[]");
        l.ts_ns = 1_000_000 + 250_000; // E = 1 ms: 0.25 ms late
        d.on_line(&l, &mut out);
        let mut l = diff(9, 12, "[]", "[]");
        l.ts_ns = 500_000;
        d.on_line(&l, &mut out);
        let h = d.state(0).unwrap().stats.md_latency;
        assert_eq!((h.count, h.sum_ns, h.negative), (2, 250_000, 1));
        assert_eq!(h.counts[0] + h.counts[1], 2, "{h:?}");
    }

    #[test]
    fn syncs_by_the_documented_procedure_and_detects_gaps() {
        let mut d = BinanceDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&diff(5, 8, "[]", "[]"), &mut out);
        d.on_line(&diff(9, 12, r#"[["100.5","3"]]"#, "[]"), &mut out);
        assert_eq!(
            d.requests(),
            vec![FeedRequest::Http(
                "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000".into()
            )]
        );
        assert!(out.is_empty());
        d.on_line(&snapshot(10), &mut out);
        let st = d.state(0).unwrap();
        assert!(st.synced);
        assert_eq!(st.last_seq, Some(12));
        assert_eq!(st.book.best_bid().unwrap().price, Price(10_050_000_000));
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Snapshot { .. }
        ));
        out.clear();
        d.on_line(
            &diff(13, 13, "[]", r#"[["101.00000000","0.00000000"]]"#),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        // u = 20 skipped: a gap.
        d.on_line(&diff(15, 20, "[]", "[]"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.gaps, 1);
        assert_eq!(st.stats.resyncs, 1);
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Resyncing { .. }
        ));
        assert_eq!(d.requests().len(), 1);
        // Buffered from now on, restored by the next snapshot.
        d.on_line(&diff(21, 22, "[]", "[]"), &mut out);
        d.on_line(&snapshot(21), &mut out);
        let st = d.state(0).unwrap();
        assert!(st.synced && !st.resyncing);
        assert_eq!(st.last_seq, Some(22));
        assert_eq!(st.stats.gaps, 1);
    }

    #[test]
    fn book_ticker_cross_check_and_malformed_frames() {
        let mut d = BinanceDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&diff(5, 8, "[]", "[]"), &mut out);
        d.on_line(&snapshot(7), &mut out);
        let bt = |b: &str| {
            line(
                Direction::Recv,
                "wss://x",
                &format!(
                    r#"{{"stream":"btcusdt@bookTicker","data":{{"u":8,"s":"BTCUSDT","b":"{b}","B":"1.00000000","a":"101.00000000","A":"2.00000000"}}}}"#
                ),
            )
        };
        d.on_line(&bt("100.00000000"), &mut out);
        d.on_line(&bt("99.00000000"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.bbo_checks_passed, st.stats.bbo_checks_failed),
            (1, 1)
        );
        d.on_line(&line(Direction::Recv, "wss://x", "{not json"), &mut out);
        assert_eq!(d.unattributed_malformed(), 1);
        d.on_line(&diff(9, 9, r#"[["1e5","1"]]"#, "[]"), &mut out);
        assert_eq!(d.state(0).unwrap().stats.malformed, 1);
        let t = line(
            Direction::Recv,
            "wss://x",
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"100.5","q":"0.1","m":true}}"#,
        );
        out.clear();
        d.on_line(&t, &mut out);
        assert!(
            matches!(out[0].kind, MarketEventKind::Trade(tt) if tt.aggressor == Side::Sell && tt.qty == Qty(10_000_000))
        );
    }
}
