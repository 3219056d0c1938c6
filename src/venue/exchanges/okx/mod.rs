//! OKX v5 public `books` (snapshot, then updates) and `trades`.
//!
//! Rules (OKX's docs): each update's `prevSeqId` must equal the previous message's `seqId`
//! (captures from before OKX added sequence ids carry none; then only the checksum
//! guards); when `checksum` is non-zero it must equal the signed CRC32 of the top 25 bids
//! and asks interleaved (`bid1px:bid1sz:ask1px:ask1sz:...`, a side that runs out simply
//! stops contributing), each written exactly as OKX sent it. A break or a mismatch marks
//! the book RESYNCING and the decoder asks to resubscribe, which brings a snapshot.
//!
//! Because the checksum needs the exact text, each level's text is kept beside the
//! integer book.

use crate::domain::{Instrument, MarketEvent, Side, Timestamp};
use crate::record::{CaptureLine, Direction};
use crate::venue::exchanges::common::{BookState, Books, books_decoder_parts, for_each_element};
use crate::venue::exchanges::decode::{FeedRequest, FrameDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

pub mod api;
pub mod endpoints;
pub mod trade;

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, rename = "instId")]
    inst_id: &'a str,
}

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default)]
    arg: Option<Arg<'a>>,
    #[serde(borrow, default)]
    action: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    bids: &'a RawValue,
    #[serde(borrow)]
    asks: &'a RawValue,
    #[serde(default)]
    checksum: Option<i64>,
    #[serde(default, rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
    #[serde(default, rename = "seqId")]
    seq_id: Option<i64>,
    /// When the book was generated, ms as text ("ts" of the books channel's push data;
    /// OKX API v5 docs, "WS / Order book channel").
    #[serde(borrow, default)]
    ts: Option<&'a str>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    #[serde(borrow)]
    side: &'a str,
    /// When the trade happened, ms as text ("ts" of the trades channel's push data).
    #[serde(borrow, default)]
    ts: Option<&'a str>,
}

/// The exact text of each level, per side, keyed by price in ticks: `"px:sz"`.
#[derive(Default, Debug)]
struct Texts {
    bids: HashMap<i64, String>,
    asks: HashMap<i64, String>,
}

/// The OKX v5 decoder.
pub struct OkxDecoder {
    books: Books,
    texts: Vec<Texts>,
    requests: Vec<FeedRequest>,
    buf: String,
    /// Coins per contract of the linear contracts followed (`[[instruments]]
    /// contract_value`): their `sz` are contracts.
    contracts: std::collections::BTreeMap<String, rust_decimal::Decimal>,
}

impl OkxDecoder {
    /// Follow the configured instruments (OKX `instId`s, e.g. `BTC-USDT`).
    pub fn new(instruments: Vec<Instrument>) -> Self {
        let n = instruments.len();
        OkxDecoder {
            books: Books::configured("okx", instruments),
            texts: (0..n).map(|_| Texts::default()).collect(),
            requests: Vec::new(),
            buf: String::with_capacity(2048),
            contracts: Default::default(),
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size (replays and backtests of captures, see `registry::decoder_on_grid`).
    pub fn discovering_on(grid: Vec<Instrument>) -> Self {
        let mut d = Self::discovering();
        d.books = Books::discovering_on("okx", grid);
        d
    }

    /// Follow every book in the feed, on the `1e-8` grid (`pit verify`).
    pub fn discovering() -> Self {
        OkxDecoder {
            books: Books::discovering("okx"),
            texts: Vec::new(),
            requests: Vec::new(),
            buf: String::with_capacity(2048),
            contracts: Default::default(),
        }
    }

    /// The subscription frame for the instruments.
    pub fn subscribe_frame(inst_ids: &[String]) -> String {
        let args: Vec<_> = inst_ids
            .iter()
            .flat_map(|i| {
                [
                    serde_json::json!({"channel": "books", "instId": i}),
                    serde_json::json!({"channel": "trades", "instId": i}),
                ]
            })
            .collect();
        serde_json::json!({"op": "subscribe", "args": args}).to_string()
    }

    fn index(&mut self, inst: &str) -> Option<usize> {
        let i = self.books.index(inst, || inst.to_string())?;
        while self.texts.len() < self.books.states.len() {
            let n = self.texts.len();
            self.in_contracts(n);
            self.texts.push(Texts::default());
        }
        Some(i)
    }

    /// A linear contract's sizes are contracts (OKX's `books` and `trades` `sz`, as its
    /// `lotSz`: "If it is a derivatives contract, the value is the number of contracts"):
    /// read on the contract's lot (the coin lot / `ctVal`), each unit of which is one lot
    /// of the instrument in coins, so the book stays in coins.
    fn in_contracts(&mut self, i: usize) {
        let Some(st) = self.books.states.get_mut(i) else {
            return;
        };
        let Some(ct) = self.contracts.get(&st.instrument.symbol) else {
            return;
        };
        match st
            .instrument
            .lot_size
            .checked_div(*ct)
            .and_then(crate::venue::exchanges::common::Scale::of)
        {
            Some(s) => st.qty = s,
            None => {
                tracing::warn!(symbol = %st.instrument.symbol, lot = %st.instrument.lot_size, ct_val = %ct, "okx: the lot is no number of contracts; sizes read as coins")
            }
        }
    }

    fn resubscribe(&mut self, inst: &str) {
        for op in ["unsubscribe", "subscribe"] {
            self.requests.push(FeedRequest::Send(
                serde_json::json!({"op": op, "args": [{"channel": "books", "instId": inst}]})
                    .to_string(),
            ));
        }
    }

    fn on_recv(&mut self, ts: Timestamp, frame: &str, out: &mut Vec<MarketEvent>) {
        let msg: Msg = match serde_json::from_str(frame) {
            Ok(m) => m,
            Err(e) => return self.books.malformed(&format!("{e}")),
        };
        if msg.event.is_some() {
            return; // subscribe / error acknowledgements
        }
        let (Some(arg), Some(data)) = (msg.arg, msg.data) else {
            return;
        };
        let Some(i) = self.index(arg.inst_id) else {
            return;
        };
        if arg.channel.starts_with("books") {
            let items: Vec<BookData> = match serde_json::from_str(data.get()) {
                Ok(v) => v,
                Err(e) => return self.books.states[i].malformed(&format!("books: {e}")),
            };
            self.books.states[i].frame(frame.len());
            let snapshot = msg.action == Some("snapshot");
            for d in items {
                if let Some(ms) = d.ts.and_then(|t| t.parse().ok()) {
                    self.books.states[i].event_time_ms(ms, ts);
                }
                self.on_book(i, ts, snapshot, &d, out);
            }
        } else if arg.channel == "trades" {
            let st = &mut self.books.states[i];
            st.frame(frame.len());
            match serde_json::from_str::<Vec<Trade>>(data.get()) {
                Ok(trades) => {
                    for t in trades {
                        if let Some(ms) = t.ts.and_then(|t| t.parse().ok()) {
                            st.event_time_ms(ms, ts);
                        }
                        match st.level(t.px, t.sz) {
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
                Err(e) => st.malformed(&format!("trades: {e}")),
            }
        }
    }

    fn on_book(
        &mut self,
        i: usize,
        ts: Timestamp,
        snapshot: bool,
        d: &BookData,
        out: &mut Vec<MarketEvent>,
    ) {
        let st = &mut self.books.states[i];
        let texts = &mut self.texts[i];
        if !snapshot {
            if !st.synced {
                return;
            }
            if let (Some(prev), Some(last)) = (d.prev_seq_id, st.last_seq)
                && prev != last
            {
                st.gap(ts, format!("prevSeqId {prev} != seqId {last}"), out);
                st.book.clear();
                let inst = st.instrument.symbol.clone();
                return self.resubscribe(&inst);
            }
            // A `seqId` implausibly far ahead of its `prevSeqId` (`[book] max_seq_jump`) is
            // a gap too: taken as it is, the book would carry on from a number the venue
            // never reaches. Backwards is OKX's documented sequence reset ("seqId smaller
            // than prevSeqId" after maintenance; the following messages chain as usual:
            // https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel).
            if let (Some(prev), Some(seq)) = (d.prev_seq_id, d.seq_id)
                && seq > prev
                && st.limits.too_far_apart(prev, seq)
            {
                st.gap(
                    ts,
                    format!("seqId {seq} jumps implausibly far after prevSeqId {prev}"),
                    out,
                );
                st.book.clear();
                let inst = st.instrument.symbol.clone();
                return self.resubscribe(&inst);
            }
        }
        let mut scratch = Vec::new();
        let events = if snapshot { &mut scratch } else { &mut *out };
        if snapshot {
            st.book.clear();
            texts.bids.clear();
            texts.asks.clear();
        }
        let mut bad = false;
        for (raw, side) in [(d.bids.get(), Side::Buy), (d.asks.get(), Side::Sell)] {
            let map = if side == Side::Buy {
                &mut texts.bids
            } else {
                &mut texts.asks
            };
            let ok = for_each_element(raw, |t| {
                let (p, q) = (t.get(0), t.get(1));
                match st.level(p, q) {
                    Some(l) => {
                        st.set(ts, side, l, events);
                        if l.qty.is_positive() {
                            let s = map.entry(l.price.0).or_default();
                            s.clear();
                            s.push_str(p);
                            s.push(':');
                            s.push_str(q);
                        } else {
                            map.remove(&l.price.0);
                        }
                        true
                    }
                    None => false,
                }
            });
            bad |= !ok;
        }
        if bad {
            st.malformed("books levels");
            if snapshot {
                // Half a snapshot: never emitted, so the book cannot be trusted.
                st.resync(ts, "malformed books snapshot".into(), out);
                st.book.clear();
                let inst = st.instrument.symbol.clone();
                return self.resubscribe(&inst);
            }
        }
        let ok = if snapshot {
            st.applied_snapshot(ts, out)
        } else {
            st.applied(ts, out)
        };
        if !ok {
            let inst = st.instrument.symbol.clone();
            return self.resubscribe(&inst);
        }
        st.last_seq = d.seq_id.or(st.last_seq);
        if let Some(want) = d.checksum
            && want != 0
        {
            st.stats.checksums_checked += 1;
            let b = &mut self.buf;
            b.clear();
            let bids: Vec<_> = st.book.top(Side::Buy, 25).collect();
            let asks: Vec<_> = st.book.top(Side::Sell, 25).collect();
            for k in 0..bids.len().max(asks.len()) {
                for (levels, map) in [(&bids, &texts.bids), (&asks, &texts.asks)] {
                    if let Some(l) = levels.get(k) {
                        if !b.is_empty() {
                            b.push(':');
                        }
                        b.push_str(map.get(&l.price.0).map_or("", String::as_str));
                    }
                }
            }
            let got = crc32fast::hash(b.as_bytes()) as i32;
            if i64::from(got) != want {
                st.stats.checksums_failed += 1;
                st.resync(ts, format!("checksum {got} != {want}"), out);
                st.book.clear();
                let inst = st.instrument.symbol.clone();
                return self.resubscribe(&inst);
            }
        }
        if snapshot {
            st.emit_snapshot(ts, out);
        }
    }
}

impl FrameDecoder for OkxDecoder {
    fn venue(&self) -> &str {
        "okx"
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
    fn set_contract_values(
        &mut self,
        values: &std::collections::BTreeMap<String, rust_decimal::Decimal>,
    ) {
        self.contracts = values.clone();
        for i in 0..self.books.states.len() {
            self.in_contracts(i);
        }
    }
}

impl OkxDecoder {
    /// The book state of instrument `i`.
    pub fn state(&self, i: usize) -> Option<&BookState> {
        self.books.states.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(frame: &str) -> CaptureLine {
        CaptureLine {
            ts_ns: 1,
            venue: "okx".into(),
            dir: Direction::Recv,
            url: endpoints::WS_URL.into(),
            frame: frame.into(),
        }
    }

    #[test]
    fn checksum_sequence_and_gap() {
        let mut d = OkxDecoder::discovering();
        let mut out = Vec::new();
        // bid1, ask1, then the longer side alone: "3366.1:7:3366.8:9:3366:6"
        let ck = crc32fast::hash(b"3366.1:7:3366.8:9:3366:6") as i32;
        let snap = format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"snapshot","data":[{{"asks":[["3366.8","9","0","1"]],"bids":[["3366.1","7","0","2"],["3366","6","0","1"]],"ts":"1","checksum":{ck},"prevSeqId":-1,"seqId":10}}]}}"#
        );
        d.on_line(&recv(&snap), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(
            (st.stats.checksums_checked, st.stats.checksums_failed),
            (1, 0)
        );
        assert!(st.synced);
        let upd = |prev: i64, seq: i64, ck: i64| {
            recv(&format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[],"bids":[],"ts":"2","checksum":{ck},"prevSeqId":{prev},"seqId":{seq}}}]}}"#
            ))
        };
        d.on_line(&upd(10, 11, 0), &mut out);
        d.on_line(&upd(12, 13, 0), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!((st.stats.gaps, st.stats.resyncs), (1, 1));
        assert_eq!(d.requests().len(), 2);
        d.on_line(&recv(&snap), &mut out);
        d.on_line(&upd(10, 11, 5), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.checksums_failed, 1);
        assert_eq!(st.stats.resyncs, 2);
    }

    /// A linear swap's `sz` are contracts: with its contract value (coins per contract)
    /// the book and the trades are in coins on the instrument's coin lot, configured or
    /// discovered; the checksum still runs over OKX's own text.
    #[test]
    fn a_swaps_sizes_are_contracts_read_as_coins() {
        use crate::domain::{InstrumentId, Qty};
        use rust_decimal_macros::dec;
        let ck = crc32fast::hash(b"60000.1:7:60000.5:12.5") as i32;
        let frame = format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT-SWAP"}},"action":"snapshot","data":[{{"asks":[["60000.5","12.5","0","1"]],"bids":[["60000.1","7","0","2"]],"ts":"1","checksum":{ck},"prevSeqId":-1,"seqId":10}}]}}"#
        );
        let trade = recv(
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"1","px":"60000.5","sz":"3","side":"buy","ts":"1"}]}"#,
        );
        let ct: std::collections::BTreeMap<String, rust_decimal::Decimal> =
            [("BTC-USDT-SWAP".to_string(), dec!(0.01))].into();
        // Configured: one contract is 0.01 BTC, pit's lot 0.0001 BTC (OKX's lotSz 0.01).
        let inst = Instrument::new(
            InstrumentId(0),
            "BTC-USDT-SWAP",
            "okx",
            dec!(0.1),
            dec!(0.0001),
            Qty(1),
        );
        for mut d in [
            OkxDecoder::new(vec![inst.clone()]),
            OkxDecoder::discovering_on(vec![inst.clone()]),
        ] {
            d.set_contract_values(&ct);
            let mut out = Vec::new();
            d.on_line(&recv(&frame), &mut out);
            d.on_line(&trade, &mut out);
            let st = d.state(0).unwrap();
            assert_eq!(st.stats.checksums_failed, 0);
            assert_eq!(st.stats.malformed, 0);
            let b = d.book(0).unwrap();
            // 7 contracts = 0.07 BTC, 12.5 contracts = 0.125 BTC.
            assert_eq!(inst.qty(b.best_bid().unwrap().qty), dec!(0.07));
            assert_eq!(inst.qty(b.best_ask().unwrap().qty), dec!(0.125));
            let traded: Vec<_> = out
                .iter()
                .filter_map(|e| match &e.kind {
                    crate::domain::MarketEventKind::Trade(t) => Some(inst.qty(t.qty)),
                    _ => None,
                })
                .collect();
            assert_eq!(traded, vec![dec!(0.03)]);
        }
        // Without it, the contracts are read as coins (a hundred times the depth).
        let mut d = OkxDecoder::new(vec![inst.clone()]);
        let mut out = Vec::new();
        d.on_line(&recv(&frame), &mut out);
        assert_eq!(
            inst.qty(d.book(0).unwrap().best_bid().unwrap().qty),
            dec!(7)
        );
    }

    fn update(prev: i64, seq: i64, bids: &str) -> CaptureLine {
        recv(&format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[],"bids":{bids},"ts":"2","checksum":0,"prevSeqId":{prev},"seqId":{seq}}}]}}"#
        ))
    }

    fn snapshot(seq: i64) -> CaptureLine {
        recv(&format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"snapshot","data":[{{"asks":[["3366.8","9","0","1"]],"bids":[["3366.1","7","0","2"]],"ts":"1","checksum":0,"prevSeqId":-1,"seqId":{seq}}}]}}"#
        ))
    }

    /// An update chained to the last `seqId` but jumping to a huge one is a gap, and its
    /// levels never reach the engine; a sequence reset (seqId below prevSeqId, as OKX
    /// documents after maintenance) is not.
    #[test]
    fn a_huge_seq_id_is_a_gap_and_a_reset_is_not() {
        let mut d = OkxDecoder::discovering();
        let mut out = Vec::new();
        d.on_line(&snapshot(10), &mut out);
        out.clear();
        d.on_line(
            &update(10, 999_999_999_999_999_999, r#"[["3366.2","5","0","1"]]"#),
            &mut out,
        );
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.gaps, 1);
        assert!(d.book(0).is_none());
        assert!(
            !out.iter()
                .any(|e| matches!(e.kind, crate::domain::MarketEventKind::Level { .. })),
            "{out:?}"
        );
        assert_eq!(d.requests().len(), 2, "unsubscribe + subscribe");
        // The fresh snapshot restores it; a reset (seqId < prevSeqId) chains on.
        d.on_line(&snapshot(20), &mut out);
        d.on_line(&update(20, 3, r#"[["3366.2","5","0","1"]]"#), &mut out);
        d.on_line(&update(3, 4, r#"[["3366.2","6","0","1"]]"#), &mut out);
        let st = d.state(0).unwrap();
        assert_eq!(st.stats.gaps, 1, "a reset is not a gap");
        let b = d.book(0).expect("trusted");
        assert_eq!(b.best_bid().unwrap().qty.0, 600_000_000);
    }
}
