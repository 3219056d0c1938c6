//! Coinbase Advanced Trade `level2` (snapshot, then updates), `market_trades` and
//! `heartbeats`.
//!
//! Rules (Coinbase's docs): every message of a connection carries `sequence_num`, which
//! must go up by one per message across all channels; a break means a message was lost,
//! so every book of the connection is RESYNCING and the decoder asks to reconnect (a new
//! subscription sends fresh snapshots). `heartbeats` keep a quiet connection open and
//! feed the stale timer. Level sides are `bid` and `offer`; `new_quantity` is the new
//! aggregate size at `price_level` ("0" deletes).

use crate::domain::{Instrument, MarketEvent, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{BookState, Books, books_decoder_parts, for_each_element};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;

pub mod endpoints;

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(default)]
    sequence_num: Option<i64>,
    /// When the venue sent the message, RFC 3339 (`timestamp` of every Advanced Trade
    /// WebSocket message; Coinbase docs, "Advanced Trade WebSocket Channels").
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
    #[serde(borrow, default)]
    events: Option<Vec<Event<'a>>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    product_id: Option<&'a str>,
    #[serde(borrow, default)]
    updates: Option<&'a RawValue>,
    #[serde(borrow, default)]
    trades: Option<Vec<Trade<'a>>>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
    #[serde(borrow)]
    side: &'a str,
}

/// The Coinbase Advanced Trade decoder.
pub struct CoinbaseDecoder {
    books: Books,
    /// The last `sequence_num` of this connection.
    last_seq: Option<i64>,
    requests: Vec<FeedRequest>,
}

impl CoinbaseDecoder {
    /// Follow the configured products (e.g. `BTC-USD`).
    pub fn new(instruments: Vec<Instrument>) -> Self {
        CoinbaseDecoder {
            books: Books::configured("coinbase", instruments),
            last_seq: None,
            requests: Vec::new(),
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("coinbase", grid);
        d
    }

    /// Follow every product in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        CoinbaseDecoder {
            books: Books::discovering("coinbase"),
            last_seq: None,
            requests: Vec::new(),
        }
    }

    /// The subscription frames for the products.
    pub fn subscribe_frames(products: &[String]) -> Vec<String> {
        ["level2", "market_trades", "heartbeats"]
            .iter()
            .map(|ch| {
                serde_json::json!({"type": "subscribe", "product_ids": products, "channel": ch})
                    .to_string()
            })
            .collect()
    }

    fn on_recv(&mut self, ts: Timestamp, frame: &str, out: &mut Vec<MarketEvent>) {
        let msg: Msg = match serde_json::from_str(frame) {
            Ok(m) => m,
            Err(e) => return self.books.malformed(&format!("{e}")),
        };
        if let Some(seq) = msg.sequence_num {
            if let Some(last) = self.last_seq
                && seq != last + 1
            {
                // A duplicate is a little behind; a number implausibly far from the last
                // (`[book] max_seq_jump`), either way, is a gap: kept as the last, a huge
                // one would make every later message look like a duplicate and freeze
                // the books while they stay trusted.
                let far = self.books.limits().too_far_apart(last, seq);
                if seq <= last && !far {
                    return; // a duplicate: already seen
                }
                for st in &mut self.books.states {
                    if st.synced || !st.resyncing {
                        st.gap(ts, format!("sequence_num {seq} after {last}"), out);
                        st.book.clear();
                    }
                }
                self.last_seq = None;
                self.requests.push(FeedRequest::Reconnect);
                return;
            }
            self.last_seq = Some(seq);
        }
        let Some(events) = msg.events else { return };
        match msg.channel {
            Some("l2_data") => {
                for ev in events {
                    let (Some(product), Some(updates)) = (ev.product_id, ev.updates) else {
                        continue;
                    };
                    let Some(i) = self.books.index(product, || product.to_string()) else {
                        continue;
                    };
                    let st = &mut self.books.states[i];
                    st.frame(frame.len());
                    st.event_time_rfc3339(msg.timestamp, ts);
                    let snapshot = ev.kind == Some("snapshot");
                    if !apply(st, ts, snapshot, updates.get(), out) {
                        // Only a new connection brings a fresh snapshot.
                        self.requests.push(FeedRequest::Reconnect);
                    }
                }
            }
            Some("market_trades") => {
                for t in events
                    .into_iter()
                    .flat_map(|e| e.trades.unwrap_or_default())
                {
                    let Some(i) = self.books.index(t.product_id, || t.product_id.to_string())
                    else {
                        continue;
                    };
                    let st = &mut self.books.states[i];
                    st.frame(frame.len());
                    st.event_time_rfc3339(msg.timestamp, ts);
                    match st.level(t.price, t.size) {
                        Some(l) => {
                            let side = if t.side == "SELL" {
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
}

/// Apply one snapshot or update; `false` if it was bad data (the book is RESYNCING and a
/// fresh snapshot is needed).
fn apply(
    st: &mut BookState,
    ts: Timestamp,
    snapshot: bool,
    raw: &str,
    out: &mut Vec<MarketEvent>,
) -> bool {
    if !snapshot && !st.synced {
        return true;
    }
    let mut scratch = Vec::new();
    let events = if snapshot { &mut scratch } else { &mut *out };
    if snapshot {
        st.book.clear();
    }
    let ok = for_each_element(raw, |t| {
        let side = match t.value("side") {
            Some("bid") => Side::Buy,
            Some("offer") | Some("ask") => Side::Sell,
            _ => return false,
        };
        let (Some(p), Some(q)) = (t.value("price_level"), t.value("new_quantity")) else {
            return false;
        };
        match st.level(p, q) {
            Some(l) => {
                st.set(ts, side, l, events);
                true
            }
            None => false,
        }
    });
    if !ok {
        st.malformed("level2 updates");
    }
    let ok = if snapshot {
        st.applied_snapshot(ts, out)
    } else {
        st.applied(ts, out)
    };
    if !ok {
        return false;
    }
    if snapshot {
        st.emit_snapshot(ts, out);
    }
    true
}

impl FrameDecoder for CoinbaseDecoder {
    fn venue(&self) -> &str {
        "coinbase"
    }
    fn on_line(&mut self, line: &CaptureLine, out: &mut Vec<MarketEvent>) {
        let ts = Timestamp(line.ts_ns);
        match line.dir {
            Direction::Recv => self.on_recv(ts, &line.frame, out),
            Direction::Connect => {
                self.last_seq = None;
                self.books.on_connect(ts, out);
            }
            _ => {}
        }
    }
    books_decoder_parts!();
}

impl CoinbaseDecoder {
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
            venue: "coinbase".into(),
            dir: Direction::Recv,
            url: endpoints::WS_URL.into(),
            frame: frame.into(),
        }
    }
    fn l2(seq: i64, kind: &str, updates: &str) -> CaptureLine {
        recv(&format!(
            r#"{{"channel":"l2_data","client_id":"","timestamp":"t","sequence_num":{seq},"events":[{{"type":"{kind}","product_id":"BTC-USD","updates":{updates}}}]}}"#
        ))
    }

    #[test]
    fn snapshot_updates_and_sequence_gap() {
        let mut d = CoinbaseDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(
            &l2(
                0,
                "snapshot",
                r#"[{"side":"bid","event_time":"t","price_level":"100.5","new_quantity":"1"},{"side":"offer","event_time":"t","price_level":"101","new_quantity":"2"}]"#,
            ),
            &mut out,
        );
        d.on_line(
            &recv(r#"{"channel":"heartbeats","sequence_num":1,"events":[{"current_time":"t","heartbeat_counter":1}]}"#),
            &mut out,
        );
        d.on_line(
            &l2(
                2,
                "update",
                r#"[{"side":"bid","event_time":"t","price_level":"100.5","new_quantity":"0"}]"#,
            ),
            &mut out,
        );
        let st = d.state(0).unwrap();
        assert!(st.book.best_bid().is_none());
        assert_eq!(st.book.best_ask().unwrap().price, Price(10_100_000_000));
        d.on_line(&l2(4, "update", "[]"), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!((st.stats.gaps, st.stats.resyncs), (1, 1));
        assert!(matches!(
            out.last().unwrap().kind,
            MarketEventKind::Resyncing { .. }
        ));
        assert_eq!(d.requests(), vec![FeedRequest::Reconnect]);
        d.on_line(&recv("[1,"), &mut out);
        assert_eq!(d.unattributed_malformed(), 1);
    }

    /// The first message of a connection carrying a huge `sequence_num` must not freeze
    /// the book: the next one, far behind it, is a gap that reconnects.
    #[test]
    fn a_huge_sequence_num_is_a_gap_not_a_frozen_book() {
        let mut d = CoinbaseDecoder::discovering();
        let mut out = Vec::new();
        let snap = r#"[{"side":"bid","event_time":"t","price_level":"100.5","new_quantity":"1"},{"side":"offer","event_time":"t","price_level":"101","new_quantity":"2"}]"#;
        d.on_line(&l2(999_999_999_999_999_999, "snapshot", snap), &mut out);
        assert!(d.book(0).is_some());
        d.on_line(
            &l2(
                1,
                "update",
                r#"[{"side":"bid","event_time":"t","price_level":"100.5","new_quantity":"3"}]"#,
            ),
            &mut out,
        );
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.gaps, 1);
        assert!(d.book(0).is_none(), "not trusted while it resyncs");
        assert_eq!(d.requests(), vec![FeedRequest::Reconnect]);
    }
}
