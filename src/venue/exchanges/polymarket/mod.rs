//! Polymarket CLOB market channel: `book` (one object or an array of them), `price_change`
//! (the new aggregate size at a price; "0" deletes), `last_trade_price`,
//! `tick_size_change`; the text `PING`/`PONG` keep-alive.
//!
//! Polymarket sends no sequence numbers. Its guard is the best bid and ask that each
//! `price_change` entry carries: after applying a message, they must agree with our book
//! (a best bid/ask cross-check). A disagreement marks the asset RESYNCING and the decoder
//! asks to resubscribe, which brings a fresh `book`. Instruments are asset (token) ids.

use crate::domain::{Instrument, MarketEvent, Price, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{BookState, Books, books_decoder_parts, for_each_element};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;

pub mod endpoints;

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow)]
    event_type: &'a str,
    #[serde(borrow, default)]
    asset_id: Option<&'a str>,
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
    #[serde(borrow, default)]
    price_changes: Option<Vec<Change<'a>>>,
    /// The older `price_change` form: one asset, a list of changes.
    #[serde(borrow, default)]
    changes: Option<Vec<Change<'a>>>,
    #[serde(borrow, default)]
    price: Option<&'a str>,
    #[serde(borrow, default)]
    size: Option<&'a str>,
    #[serde(borrow, default)]
    side: Option<&'a str>,
    #[serde(borrow, default)]
    new_tick_size: Option<&'a str>,
    /// When the venue made the message, ms as text (`timestamp` of the market channel's
    /// messages; Polymarket CLOB docs, "WSS Market Channel").
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(borrow, default)]
    asset_id: Option<&'a str>,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow, default)]
    best_bid: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask: Option<&'a str>,
}

/// The Polymarket market-channel decoder.
pub struct PolymarketDecoder {
    books: Books,
    requests: Vec<FeedRequest>,
}

impl PolymarketDecoder {
    /// Follow the configured assets (token ids as symbols; tick 0.01 or 0.001, lot 0.01).
    pub fn new(instruments: Vec<Instrument>) -> Self {
        PolymarketDecoder {
            books: Books::configured("polymarket", instruments),
            requests: Vec::new(),
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("polymarket", grid);
        d
    }

    /// Follow every asset in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        PolymarketDecoder {
            books: Books::discovering("polymarket"),
            requests: Vec::new(),
        }
    }

    /// The subscription frame for the assets.
    pub fn subscribe_frame(assets: &[String]) -> String {
        serde_json::json!({"assets_ids": assets, "type": "market"}).to_string()
    }

    fn index(&mut self, asset: &str) -> Option<usize> {
        self.books.index(asset, || asset.to_string())
    }

    fn on_recv(&mut self, ts: Timestamp, frame: &str, out: &mut Vec<MarketEvent>) {
        let t = frame.trim();
        if t == "PONG" || t == "PING" || t.is_empty() {
            return;
        }
        let msgs: Vec<Msg> = if t.starts_with('[') {
            match serde_json::from_str(t) {
                Ok(v) => v,
                Err(e) => return self.books.malformed(&format!("{e}")),
            }
        } else {
            match serde_json::from_str(t) {
                Ok(m) => vec![m],
                Err(e) => return self.books.malformed(&format!("{e}")),
            }
        };
        for m in msgs {
            self.on_msg(ts, frame.len(), &m, out);
        }
    }

    fn on_msg(&mut self, ts: Timestamp, bytes: usize, m: &Msg, out: &mut Vec<MarketEvent>) {
        match m.event_type {
            "book" => {
                let Some(asset) = m.asset_id else {
                    return self.books.malformed("book without asset_id");
                };
                let Some(i) = self.index(asset) else { return };
                let st = &mut self.books.states[i];
                st.frame(bytes);
                st.event_time_ms_text(m.timestamp, ts);
                st.book.clear();
                let mut scratch = Vec::new();
                let mut ok = true;
                for (raw, side) in [(m.bids, Side::Buy), (m.asks, Side::Sell)] {
                    let Some(raw) = raw else { continue };
                    ok &= for_each_element(raw.get(), |t| {
                        match (t.value("price"), t.value("size")) {
                            (Some(p), Some(q)) => match st.level(p, q) {
                                Some(l) => {
                                    st.set(ts, side, l, &mut scratch);
                                    true
                                }
                                None => false,
                            },
                            _ => false,
                        }
                    });
                }
                if !ok {
                    // Half a snapshot: never emitted, so the book cannot be trusted.
                    st.malformed("book levels");
                    st.resync(ts, "malformed book snapshot".into(), out);
                    st.book.clear();
                    let asset = st.instrument.symbol.clone();
                    self.requests
                        .push(FeedRequest::Send(Self::subscribe_frame(&[asset])));
                    return;
                }
                if !st.applied_snapshot(ts, out) {
                    let asset = st.instrument.symbol.clone();
                    self.requests
                        .push(FeedRequest::Send(Self::subscribe_frame(&[asset])));
                    return;
                }
                st.emit_snapshot(ts, out);
            }
            "price_change" => {
                let changes = m.price_changes.as_ref().or(m.changes.as_ref());
                let Some(changes) = changes else {
                    return self.books.malformed("price_change without changes");
                };
                let mut touched: Vec<usize> = Vec::new();
                for c in changes {
                    let Some(asset) = c.asset_id.or(m.asset_id) else {
                        continue;
                    };
                    let Some(i) = self.index(asset) else { continue };
                    let st = &mut self.books.states[i];
                    if !touched.contains(&i) {
                        touched.push(i);
                        st.frame(bytes);
                        st.event_time_ms_text(m.timestamp, ts);
                    }
                    if !st.synced {
                        continue;
                    }
                    let side = if c.side.eq_ignore_ascii_case("BUY") {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    match st.level(c.price, c.size) {
                        Some(l) => st.set(ts, side, l, out),
                        None => st.malformed("price_change numbers"),
                    }
                }
                // Count the update, then cross-check the best bid and ask it announced.
                for &i in &touched {
                    let st = &mut self.books.states[i];
                    if !st.synced {
                        continue;
                    }
                    let asset = st.instrument.symbol.clone();
                    if !st.applied(ts, out) {
                        self.requests
                            .push(FeedRequest::Send(Self::subscribe_frame(&[asset])));
                        continue;
                    }
                    let last = changes
                        .iter()
                        .rev()
                        .find(|c| c.asset_id.or(m.asset_id) == Some(asset.as_str()));
                    let Some(c) = last else { continue };
                    if c.best_bid.is_none() && c.best_ask.is_none() {
                        continue;
                    }
                    let agrees = |want: Option<&str>, got: Option<Price>| match want {
                        None => true,
                        Some(w) => match st.price.parse(w) {
                            Some(0) => got.is_none(),
                            Some(p) => got == Some(Price(p)),
                            None => false,
                        },
                    };
                    let bid = st.book.best_bid().map(|l| l.price);
                    let ask = st.book.best_ask().map(|l| l.price);
                    if agrees(c.best_bid, bid) && agrees(c.best_ask, ask) {
                        st.stats.bbo_checks_passed += 1;
                    } else {
                        st.stats.bbo_checks_failed += 1;
                        st.resync(
                            ts,
                            "price_change best bid/ask disagrees with the book".into(),
                            out,
                        );
                        st.book.clear();
                        self.requests
                            .push(FeedRequest::Send(Self::subscribe_frame(&[asset])));
                    }
                }
            }
            "last_trade_price" => {
                let Some(i) = m.asset_id.and_then(|a| self.index(a)) else {
                    return;
                };
                let st = &mut self.books.states[i];
                st.frame(bytes);
                st.event_time_ms_text(m.timestamp, ts);
                match (m.price, m.size, m.side) {
                    (Some(p), Some(q), Some(s)) => match st.level(p, q) {
                        Some(l) => {
                            let side = if s.eq_ignore_ascii_case("SELL") {
                                Side::Sell
                            } else {
                                Side::Buy
                            };
                            st.trade(ts, l.price, l.qty, side, out);
                        }
                        None => st.malformed("last_trade_price numbers"),
                    },
                    _ => st.malformed("last_trade_price fields"),
                }
            }
            "tick_size_change" => {
                let Some(i) = m.asset_id.and_then(|a| self.index(a)) else {
                    return;
                };
                let st = &mut self.books.states[i];
                st.frame(bytes);
                st.event_time_ms_text(m.timestamp, ts);
                tracing::info!(asset = %st.instrument.symbol, tick = ?m.new_tick_size, "tick size changed");
            }
            _ => {}
        }
    }
}

impl FrameDecoder for PolymarketDecoder {
    fn venue(&self) -> &str {
        "polymarket"
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

impl PolymarketDecoder {
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
            venue: "polymarket".into(),
            dir: Direction::Recv,
            url: endpoints::WS_URL.into(),
            frame: frame.into(),
        }
    }

    #[test]
    fn book_price_change_cross_check_and_resync() {
        let mut d = PolymarketDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&recv("PONG"), &mut out);
        d.on_line(
            &recv(r#"[{"event_type":"book","asset_id":"A","market":"m","bids":[{"price":".48","size":"30"}],"asks":[{"price":".52","size":"25"}],"timestamp":"1","hash":"h"}]"#),
            &mut out,
        );
        assert!(d.state(0).unwrap().synced);
        let pc = |size: &str, bb: &str| {
            recv(&format!(
                r#"{{"event_type":"price_change","market":"m","price_changes":[{{"asset_id":"A","price":"0.49","size":"{size}","side":"BUY","hash":"h","best_bid":"{bb}","best_ask":"0.52"}}],"timestamp":"2"}}"#
            ))
        };
        d.on_line(&pc("10", "0.49"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.bbo_checks_passed, st.stats.bbo_checks_failed),
            (1, 0)
        );
        d.on_line(&pc("0", "0.49"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.bbo_checks_failed, 1);
        assert_eq!(st.stats.resyncs, 1);
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Resyncing { .. }
        ));
        assert_eq!(d.requests().len(), 1);
        d.on_line(
            &recv(r#"{"event_type":"last_trade_price","asset_id":"A","price":"0.5","size":"3","side":"SELL"}"#),
            &mut out,
        );
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Trade(_)
        ));
        d.on_line(&recv("{\"event_type\":"), &mut out);
        assert_eq!(d.unattributed_malformed(), 1);
    }
}
