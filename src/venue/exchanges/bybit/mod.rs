//! Bybit v5 public `orderbook.{depth}.{symbol}` (snapshot, then deltas) and `publicTrade`,
//! on the spot and linear endpoints.
//!
//! Rules (Bybit's docs): a `snapshot` replaces the book; each `delta`'s `u` must be the
//! previous `u + 1` per topic and connection (a break is a gap: RESYNCING, then a
//! resubscription brings a fresh snapshot); a message with `u == 1` (the service restarted)
//! overwrites the book like a snapshot. Keep-alive: `{"op":"ping"}` every 20 s (the live
//! task sends it). Spot and linear share topic names and differ only by endpoint, so
//! instruments are keyed by endpoint category and symbol: `linear/BTCUSDT`.

use crate::domain::{Instrument, MarketEvent, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{BookState, Books, books_decoder_parts, for_each_element};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;

pub mod api;
pub mod endpoints;
pub mod trade;

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default)]
    topic: Option<&'a str>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    /// When the system generated the data, ms ("ts" of the orderbook and publicTrade
    /// pushes; Bybit v5 docs, websocket/public/orderbook and websocket/public/trade).
    #[serde(default)]
    ts: Option<i64>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow)]
    b: &'a RawValue,
    #[serde(borrow)]
    a: &'a RawValue,
    u: i64,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow, rename = "S")]
    side: &'a str,
    #[serde(borrow)]
    v: &'a str,
    #[serde(borrow)]
    p: &'a str,
}

/// The Bybit v5 decoder.
pub struct BybitDecoder {
    books: Books,
    /// Configured: instruments keyed by symbol alone (one endpoint per decoder).
    by_symbol: bool,
    /// The orderbook depth subscribed (for resubscriptions).
    depth: u32,
    requests: Vec<FeedRequest>,
}

/// `linear` from `wss://stream.bybit.com/v5/public/linear`.
fn category(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

impl BybitDecoder {
    /// Follow the configured instruments (Bybit symbols, e.g. `BTCUSDT`) on one endpoint.
    pub fn new(instruments: Vec<Instrument>, depth: u32) -> Self {
        BybitDecoder {
            books: Books::configured("bybit", instruments),
            by_symbol: true,
            depth,
            requests: Vec::new(),
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("bybit", grid);
        d
    }

    /// Follow every book in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        BybitDecoder {
            books: Books::discovering("bybit"),
            by_symbol: false,
            depth: 200,
            requests: Vec::new(),
        }
    }

    /// The subscription frame for the instruments.
    pub fn subscribe_frame(depth: u32, symbols: &[String]) -> String {
        let args: Vec<String> = symbols
            .iter()
            .flat_map(|s| [format!("orderbook.{depth}.{s}"), format!("publicTrade.{s}")])
            .collect();
        serde_json::json!({"op": "subscribe", "args": args}).to_string()
    }

    fn index(&mut self, url: &str, symbol: &str) -> Option<usize> {
        if self.by_symbol {
            self.books.index(symbol, String::new)
        } else {
            let key = format!("{}/{symbol}", category(url));
            self.books.index(&key, || key.clone())
        }
    }

    fn resubscribe(&mut self, symbol: &str) {
        let topic = format!("orderbook.{}.{symbol}", self.depth);
        for op in ["unsubscribe", "subscribe"] {
            self.requests.push(FeedRequest::Send(
                serde_json::json!({"op": op, "args": [topic]}).to_string(),
            ));
        }
    }

    fn on_recv(&mut self, ts: Timestamp, url: &str, frame: &str, out: &mut Vec<MarketEvent>) {
        let msg: Msg = match serde_json::from_str(frame) {
            Ok(m) => m,
            Err(e) => return self.books.malformed(&format!("{e}")),
        };
        let (Some(topic), Some(data)) = (msg.topic, msg.data) else {
            return; // pong, subscription results
        };
        if topic.starts_with("orderbook.") {
            let d: BookData = match serde_json::from_str(data.get()) {
                Ok(d) => d,
                Err(e) => return self.books.malformed(&format!("{topic}: {e}")),
            };
            let Some(i) = self.index(url, d.s) else {
                return;
            };
            if let Some(ms) = msg.ts {
                self.books.states[i].event_time_ms(ms, ts);
            }
            self.on_book(i, ts, frame.len(), msg.kind == Some("snapshot"), &d, out);
        } else if let Some(symbol) = topic.strip_prefix("publicTrade.") {
            let Some(i) = self.index(url, symbol) else {
                return;
            };
            let st = &mut self.books.states[i];
            st.frame(frame.len());
            if let Some(ms) = msg.ts {
                st.event_time_ms(ms, ts);
            }
            match serde_json::from_str::<Vec<Trade>>(data.get()) {
                Ok(trades) => {
                    for t in trades {
                        match st.level(t.p, t.v) {
                            Some(l) => {
                                let side = if t.side == "Sell" {
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
                Err(e) => st.malformed(&format!("trade: {e}")),
            }
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
        st.frame(bytes);
        let overwrite = snapshot || d.u == 1;
        // A `u` that moves implausibly far from the last one applied (`[book] max_seq_jump`),
        // forwards or backwards, is a gap: taken as it is, a huge `u` would make every later
        // delta look stale and freeze a book that stays trusted. `u == 1` is Bybit's
        // documented restart and overwrites the book, so it is exempt.
        let jumped =
            st.synced && d.u != 1 && st.last_seq.is_some_and(|u| st.limits.too_far_apart(u, d.u));
        if jumped {
            let prev = st.last_seq.unwrap_or(0);
            st.gap(
                ts,
                format!("u={} jumps implausibly far after u={prev}", d.u),
                out,
            );
            st.book.clear();
            let symbol = d.s.to_string();
            return self.resubscribe(&symbol);
        }
        if !overwrite {
            if !st.synced {
                return; // waiting for a snapshot
            }
            if st.last_seq.is_some_and(|u| d.u <= u) {
                return; // a duplicate or a stale delta
            }
            if st.last_seq.is_some_and(|u| d.u != u + 1) {
                let prev = st.last_seq.unwrap_or(0);
                st.gap(ts, format!("u={} after u={prev}", d.u), out);
                st.book.clear();
                let symbol = d.s.to_string();
                return self.resubscribe(&symbol);
            }
        }
        let mut levels: Vec<(Side, crate::domain::Level)> = Vec::new();
        let mut bad = false;
        let mut scratch = Vec::new();
        let events = if overwrite { &mut scratch } else { &mut *out };
        if overwrite {
            st.book.clear();
        }
        for (raw, side) in [(d.b.get(), Side::Buy), (d.a.get(), Side::Sell)] {
            let ok = for_each_element(raw, |t| match st.level(t.get(0), t.get(1)) {
                Some(l) => {
                    st.set(ts, side, l, events);
                    true
                }
                None => false,
            });
            bad |= !ok;
        }
        levels.clear();
        if bad {
            st.malformed("orderbook levels");
            st.resync(ts, "malformed orderbook levels".into(), out);
            st.book.clear();
            let symbol = d.s.to_string();
            return self.resubscribe(&symbol);
        }
        st.last_seq = Some(d.u);
        let ok = if overwrite {
            st.applied_snapshot(ts, out)
        } else {
            st.applied(ts, out)
        };
        if !ok {
            let symbol = d.s.to_string();
            return self.resubscribe(&symbol);
        }
        if overwrite {
            st.emit_snapshot(ts, out);
        }
    }
}

impl FrameDecoder for BybitDecoder {
    fn venue(&self) -> &str {
        "bybit"
    }
    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>) {
        let ts = Timestamp(line.ts_ns);
        match line.dir {
            Direction::Recv => self.on_recv(ts, &line.url, &line.frame, out),
            Direction::Connect => {
                let cat = category(&line.url).to_string();
                for st in &mut self.books.states {
                    let same = self.by_symbol || st.instrument.symbol.starts_with(&cat);
                    if same && st.synced {
                        st.resync(ts, "reconnected".into(), out);
                        st.book.clear();
                    }
                }
            }
            _ => {}
        }
    }
    books_decoder_parts!();
}

impl BybitDecoder {
    /// The book state of instrument `i`.
    pub fn state(&self, i: usize) -> Option<&BookState> {
        self.books.states.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MarketEventKind, Price};

    fn recv(frame: &str) -> CaptureLine {
        CaptureLine {
            ts_ns: 1,
            venue: "bybit".into(),
            dir: Direction::Recv,
            url: "wss://stream.bybit.com/v5/public/linear".into(),
            frame: frame.into(),
        }
    }
    fn book(kind: &str, u: i64, b: &str, a: &str) -> CaptureLine {
        recv(&format!(
            r#"{{"topic":"orderbook.200.BTCUSDT","type":"{kind}","ts":1,"data":{{"s":"BTCUSDT","b":{b},"a":{a},"u":{u},"seq":9}}}}"#
        ))
    }

    #[test]
    fn snapshot_deltas_gap_and_overwrite() {
        let mut d = BybitDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&book("delta", 4, "[]", "[]"), &mut out);
        assert!(out.is_empty(), "a delta before any snapshot is ignored");
        d.on_line(
            &book("snapshot", 5, r#"[["100.5","1"]]"#, r#"[["101","2"]]"#),
            &mut out,
        );
        assert_eq!(d.instruments()[0].symbol, "linear/BTCUSDT");
        d.on_line(&book("delta", 6, r#"[["100.5","0"]]"#, "[]"), &mut out);
        assert!(d.state(0).unwrap().book.best_bid().is_none());
        d.on_line(&book("delta", 8, "[]", "[]"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!((st.stats.gaps, st.stats.resyncs), (1, 1));
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Resyncing { .. }
        ));
        let req = d.requests();
        assert_eq!(req.len(), 2);
        assert!(
            matches!(&req[1], FeedRequest::Send(s) if s.contains("\"subscribe\"") && s.contains("orderbook.200.BTCUSDT"))
        );
        // u == 1 overwrites, like a snapshot.
        d.on_line(
            &book("delta", 1, r#"[["99","1"]]"#, r#"[["102","2"]]"#),
            &mut out,
        );
        let st = d.state(0).unwrap();
        assert!(st.synced && !st.resyncing);
        assert_eq!(st.book.best_bid().unwrap().price, Price(9_900_000_000));
        // A crossed book is counted.
        d.on_line(&book("delta", 2, r#"[["103","1"]]"#, "[]"), &mut out);
        assert_eq!(d.state(0).unwrap().stats.crossed, 1);
        d.on_line(
            &recv(r#"{"topic":"orderbook.200.BTCUSDT","data":{"s":5}}"#),
            &mut out,
        );
        assert_eq!(d.unattributed_malformed(), 1);
    }

    /// A snapshot carrying a huge `u` must not freeze the book: the next delta, far behind
    /// it, is a gap that resubscribes (before, every later delta looked stale and the book
    /// stayed trusted while applying nothing).
    #[test]
    fn a_snapshot_with_a_huge_u_is_a_gap_not_a_frozen_book() {
        let mut d = BybitDecoder::discovering();
        let mut out = Vec::new();
        let huge = 999_999_999_999_999_999;
        d.on_line(
            &book("snapshot", huge, r#"[["100","1"]]"#, r#"[["101","2"]]"#),
            &mut out,
        );
        d.on_line(&book("delta", 6, r#"[["100","3"]]"#, "[]"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            st.stats.gaps, 1,
            "the delta far behind the snapshot is a gap"
        );
        assert!(st.resyncing && d.book(0).is_none());
        assert!(
            d.requests()
                .iter()
                .any(|r| matches!(r, FeedRequest::Send(s) if s.contains("\"subscribe\"")))
        );
        // The resubscription's snapshot restores it, and deltas apply again.
        d.on_line(
            &book("snapshot", 10, r#"[["100","1"]]"#, r#"[["101","2"]]"#),
            &mut out,
        );
        d.on_line(&book("delta", 11, r#"[["100","4"]]"#, "[]"), &mut out);
        let b = d.book(0).expect("trusted again");
        assert_eq!(b.best_bid().unwrap().qty.0, 400_000_000);
    }

    /// A snapshot on a synced book whose `u` jumps implausibly far is a gap too; a delta
    /// that does is one already (not `u + 1`).
    #[test]
    fn a_huge_u_in_a_snapshot_or_a_delta_on_a_synced_book_is_a_gap() {
        let huge = 999_999_999_999_999_999;
        for kind in ["snapshot", "delta"] {
            let mut d = BybitDecoder::discovering();
            let mut out = Vec::new();
            d.on_line(
                &book("snapshot", 5, r#"[["100","1"]]"#, r#"[["101","2"]]"#),
                &mut out,
            );
            d.on_line(&book(kind, huge, r#"[["100","9"]]"#, "[]"), &mut out);
            let st = d.state(0).unwrap();
            assert_eq!(st.stats.gaps, 1, "{kind}");
            assert!(d.book(0).is_none(), "{kind}: not trusted");
            assert!(
                !out.iter().any(|e| matches!(e.kind,
                    MarketEventKind::Level { qty, .. } if qty.0 == 900_000_000)),
                "{kind}: the jumped frame's level never reaches the engine"
            );
        }
    }

    /// A snapshot far outside the sanity band around the last trusted mid is refused like
    /// a bad update; when snapshots keep saying so, the market moved: the band is dropped
    /// after three and the next one is trusted (no resubscribe loop).
    #[test]
    fn snapshots_are_held_to_the_band_and_a_moved_market_is_recentred() {
        use crate::venue::exchanges::common::RECENTRE_AFTER;
        let mut d = BybitDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(
            &book("snapshot", 5, r#"[["100","1"]]"#, r#"[["101","2"]]"#),
            &mut out,
        );
        assert!(d.book(0).is_some());
        let far = |u| book("snapshot", u, r#"[["200","1"]]"#, r#"[["201","2"]]"#);
        for k in 0..RECENTRE_AFTER {
            d.requests();
            out.clear();
            d.on_line(&far(10 + i64::from(k)), &mut out);
            assert!(d.book(0).is_none(), "refused snapshot {k}");
            assert!(
                !out.iter()
                    .any(|e| matches!(e.kind, MarketEventKind::Snapshot { .. })),
                "a refused snapshot never reaches the engine"
            );
            assert!(!d.requests().is_empty(), "asks for another");
        }
        let st = d.state(0).unwrap();
        assert_eq!((st.stats.insane, st.stats.recentred), (3, 1));
        d.on_line(&far(20), &mut out);
        let b = d.book(0).expect("the market moved: trusted again");
        assert_eq!(b.best_bid().unwrap().price, Price(20_000_000_000));
    }

    /// An instrument's own sanity band replaces `[book]`'s for it alone: a bid 5.5% above
    /// the mid (below the ask: not crossed) is inside the default 20% band but outside a 5%
    /// band set for BTCUSDT (discovered as `linear/BTCUSDT`, the name the config gives it), whose book then resyncs; set for another symbol, it changes
    /// nothing here.
    #[test]
    fn an_instruments_own_band_replaces_the_books_band_for_it() {
        let run = |bands: &[(&str, u32)]| {
            let mut d = BybitDecoder::discovering();
            d.set_sanity_bands(&bands.iter().map(|(s, p)| (s.to_string(), *p)).collect());
            let mut out = Vec::new();
            d.on_line(
                &book("snapshot", 5, r#"[["100","1"]]"#, r#"[["120","2"]]"#),
                &mut out,
            );
            assert!(d.book(0).is_some(), "the snapshot is trusted");
            d.on_line(&book("delta", 6, r#"[["116","1"]]"#, "[]"), &mut out);
            (d.book(0).is_some(), d.sanity_band(0))
        };
        let (trusted, band) = run(&[]);
        assert!(trusted, "5.5% is inside the default 20% band");
        assert!(band.is_some());
        let (trusted, _) = run(&[("linear/ETHUSDT", 5)]);
        assert!(trusted, "another symbol's band does not apply");
        let (trusted, _) = run(&[("linear/BTCUSDT", 5)]);
        assert!(!trusted, "outside BTCUSDT's own 5% band: resyncing");
        let (trusted, band) = run(&[("linear/BTCUSDT", 0)]);
        assert!(trusted && band.is_none(), "0 turns its band off");
    }
}
