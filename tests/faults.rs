//! Fault tests: a venue on 127.0.0.1 (`common/ws_venue.rs`: a WebSocket server and a REST
//! server) replays a real capture from `../shared/captures/` to the real live adapter
//! ([`LiveFeed`]) of each venue, with scripted faults: duplicated, reordered and missing
//! frames, delays, a dropped connection, a stale pause, a half-open connection that never
//! closes, a flood of malformed frames, a sequence reset, a bad checksum, REST snapshots
//! that fail or are older than the stream. The adapter must notice (gaps, checksum
//! failures, RESYNCING, stale timer), resubscribe, refetch or reconnect, and end with the
//! reference book. Bounded: the servers and the client stop by themselves within seconds,
//! and every wait is for a condition, under a generous deadline.

#[path = "common/ws_venue.rs"]
mod ws_venue;

use pit::domain::{Instrument, InstrumentId, Level, Qty, Side};
use pit::record::{CaptureReader, Direction};
use pit::venue::exchanges::decode::FrameDecoder;
use pit::venue::exchanges::entry::LiveSettings;
use pit::venue::exchanges::kraken::KrakenDecoder;
use pit::venue::feed::live::{LiveFeed, venue_spec};
use rust_decimal_macros::dec;
use serde_json::Value;
use std::time::Duration;
use ws_venue::{Fault, HttpFault, Outcome, Script, Server, TextBook, capture, drive, instrument};

/// The adapter's settings against `server`: a 1 s stale timer, quick reconnects.
fn settings(server: &Server) -> LiveSettings {
    LiveSettings {
        ws_url: server.ws_url.clone(),
        rest_url: server.rest_url.clone(),
        stale_secs: 1,
        backoff_min_ms: 20,
        backoff_max_ms: 100,
        fetch_instruments: false,
        ..LiveSettings::default()
    }
}

/// The real adapter of `venue` for `inst`, pointed at `server`.
fn start(venue: &str, s: &LiveSettings, inst: &Instrument) -> LiveFeed {
    let (spec, decoder) = venue_spec(venue, s, vec![inst.clone()]).expect("spec");
    LiveFeed::start(spec, decoder, None).expect("feed")
}

/// Every recv frame of a capture, parsed, with its text and url, until the second
/// connection (a capture's later connections start their books over).
fn frames(name: &str) -> Option<Vec<(String, Value, String)>> {
    let path = capture(name)?;
    let mut out = Vec::new();
    let mut connects = 0;
    for line in CaptureReader::open(&path).expect("open capture") {
        match line.dir {
            Direction::Connect => {
                connects += 1;
                if connects > 1 {
                    break;
                }
            }
            Direction::Recv | Direction::Http => {
                if let Ok(v) = serde_json::from_str::<Value>(&line.frame) {
                    out.push((line.frame, v, line.url));
                }
            }
            Direction::Send => {}
        }
    }
    Some(out)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// `[[px, sz, ...], ...]` set on `side` of `book`.
fn set_levels(book: &mut TextBook, side: Side, levels: &Value) {
    for l in levels.as_array().expect("levels") {
        book.set(side, s(&l[0]), s(&l[1]));
    }
}

/// The adapter's book (from its events) equals the reference's top `n` levels a side.
fn same_top(o: &Outcome, want: &TextBook, inst: &Instrument, n: usize) {
    let (bids, asks) = o.book.top(n);
    let (wb, wa) = want.top(inst, n);
    assert!(!wb.is_empty() && !wa.is_empty());
    assert_eq!(bids, wb, "bids equal the reference book");
    assert_eq!(asks, wa, "asks equal the reference book");
}

/// One fault test on a venue whose reference is a [`TextBook`].
struct Case<S: Script> {
    venue: &'static str,
    inst: Instrument,
    script: S,
    faults: Vec<(usize, Fault)>,
    http: Vec<HttpFault>,
    /// One update every `pace`.
    pace: Duration,
    /// The venue's book at the end, compared `depth` levels a side (`usize::MAX`: whole).
    want: TextBook,
    depth: usize,
    /// The adapter's settings, from [`settings`].
    settings: fn(LiveSettings) -> LiveSettings,
}

/// Play `case`: its venue serves the script with its faults to the real adapter, driven
/// until the venue has published every update and the adapter's book is synced and equal
/// to the venue's (at most 40 s); `turn` runs at every turn of the loop. Checks that it
/// got there.
fn play<S: Script>(case: Case<S>, mut turn: impl FnMut()) -> Outcome {
    let Case {
        venue,
        inst,
        script,
        faults,
        http,
        pace,
        want,
        depth,
        settings: tweak,
    } = case;
    let server = Server::start(script, faults, http, pace);
    let feed = start(venue, &tweak(settings(&server)), &inst);
    let top = want.top(&inst, depth);
    let o = drive(feed, &server, Duration::from_secs(40), |bk, v| {
        turn();
        v.done && !bk.resyncing && bk.top(depth) == top
    });
    assert!(o.venue.done, "the server did not get to the end");
    assert!(!o.book.resyncing, "the book ends synced");
    same_top(&o, &want, &inst, depth);
    o
}

/// A captured book: a snapshot, then updates, each with its text, its sequence number
/// (the venue's `u`; 0 where it has none) and its data, whose levels are under `keys`
/// (bids, asks).
struct Captured {
    snapshot: TextBook,
    seq: i64,
    updates: Vec<(String, i64, Value)>,
    keys: [&'static str; 2],
}

impl Captured {
    fn new(keys: [&'static str; 2]) -> Self {
        Captured {
            snapshot: TextBook::default(),
            seq: 0,
            updates: Vec::new(),
            keys,
        }
    }
    fn set_snapshot(&mut self, d: &Value, seq: i64) {
        set_levels(&mut self.snapshot, Side::Buy, &d[self.keys[0]]);
        set_levels(&mut self.snapshot, Side::Sell, &d[self.keys[1]]);
        self.seq = seq;
    }
    /// The book after `p` updates, and the sequence number it is at.
    fn at(&self, p: usize) -> (TextBook, i64) {
        let mut book = self.snapshot.clone();
        for (_, _, d) in &self.updates[..p] {
            set_levels(&mut book, Side::Buy, &d[self.keys[0]]);
            set_levels(&mut book, Side::Sell, &d[self.keys[1]]);
        }
        let seq = if p == 0 {
            self.seq
        } else {
            self.updates[p - 1].1
        };
        (book, seq)
    }
}

// ---------------------------------------------------------------------------------------
// Kraken v2 `book`: CRC32 checksums over the top 10.

fn btc_usd() -> Instrument {
    Instrument::new(
        InstrumentId(0),
        "BTC/USD",
        "kraken",
        dec!(0.1),
        dec!(0.00000001),
        Qty(1),
    )
}

/// What the server replays: the first snapshot, the updates, and the reference book
/// (top 25 a side) after the snapshot and after each update.
struct Kraken {
    snapshot: String,
    updates: Vec<String>,
    checksums: Vec<String>,
    refs: Vec<(Vec<Level>, Vec<Level>)>,
}

fn kraken() -> Option<Kraken> {
    let path = capture("kraken-v2-btcusd-sample.jsonl")?;
    let reader = CaptureReader::open(&path).expect("open capture");
    let mut dec = KrakenDecoder::new(vec![btc_usd()], 25);
    let mut out = Vec::new();
    let mut s = Kraken {
        snapshot: String::new(),
        updates: Vec::new(),
        checksums: Vec::new(),
        refs: Vec::new(),
    };
    for line in reader {
        if line.dir != Direction::Recv || !line.frame.contains("\"channel\":\"book\"") {
            continue;
        }
        let v: Value = serde_json::from_str(&line.frame).expect("json");
        let kind = v["type"].as_str().unwrap_or("");
        if kind == "snapshot" && s.snapshot.is_empty() {
            s.snapshot = line.frame.clone();
        } else if kind == "update" && !s.snapshot.is_empty() {
            s.updates.push(line.frame.clone());
            // The checksum's exact text, for synthesized snapshots.
            let raw = &line.frame[line.frame.rfind("\"checksum\":").expect("checksum") + 11..];
            let end = raw.find([',', '}']).unwrap_or(raw.len());
            s.checksums.push(raw[..end].to_string());
        } else {
            continue;
        }
        dec.on_line(&line, &mut out);
        let st = dec.state(0).expect("state");
        assert!(st.synced, "the clean capture stays synced");
        s.refs.push((
            st.book.top(Side::Buy, 25).collect(),
            st.book.top(Side::Sell, 25).collect(),
        ));
    }
    assert_eq!(dec.stats()[0].checksums_failed, 0);
    assert!(s.updates.len() > 800, "{}", s.updates.len());
    Some(s)
}

impl Kraken {
    /// A Kraken snapshot of the venue's book after `p` updates.
    fn snapshot_at(&self, p: usize) -> String {
        if p == 0 {
            return self.snapshot.clone();
        }
        let (bids, asks) = &self.refs[p];
        let side = |levels: &[Level]| {
            levels
                .iter()
                .map(|l| {
                    format!(
                        r#"{{"price":{}.{},"qty":{}.{:08}}}"#,
                        l.price.0 / 10,
                        l.price.0 % 10,
                        l.qty.0 / 100_000_000,
                        l.qty.0 % 100_000_000
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"BTC/USD","bids":[{}],"asks":[{}],"checksum":{}}}]}}"#,
            side(bids),
            side(asks),
            self.checksums[p - 1]
        )
    }

    /// The reference book at the end: 25 levels a side.
    fn last(&self) -> (Vec<Level>, Vec<Level>) {
        let r = self.refs.last().expect("refs").clone();
        assert_eq!((r.0.len(), r.1.len()), (25, 25));
        r
    }
}

impl Script for Kraken {
    fn len(&self) -> usize {
        self.updates.len()
    }
    /// A book subscription (the first, or a resubscription after a checksum failure) gets
    /// the acknowledgement and a fresh snapshot.
    fn answer(&self, text: &str, next: usize, _: &mut u64) -> Vec<String> {
        if text.contains("\"subscribe\"") && text.contains("\"book\"") {
            let ack = r#"{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,"symbol":"BTC/USD"},"success":true}"#;
            vec![ack.to_string(), self.snapshot_at(next)]
        } else {
            Vec::new()
        }
    }
    fn update(&self, k: usize, _: &mut u64) -> String {
        self.updates[k].clone()
    }
}

/// The engine's book (the adapter's events applied) is the venue's whole book: the 25
/// levels a side subscribed, no more (the levels the decoder truncates past the depth
/// reach the engine as deletes, Kraken sending none).
fn kraken_book(o: &Outcome) -> (Vec<Level>, Vec<Level>) {
    o.book.top(usize::MAX)
}

#[test]
fn kraken_adapter_survives_faults_and_ends_with_the_reference_book() {
    let Some(k) = kraken() else { return };
    let want = k.last();
    let faults = vec![
        (100, Fault::Duplicate),
        (200, Fault::Reorder),
        (300, Fault::Missing),
        (400, Fault::Delay(Duration::from_millis(300))),
        (500, Fault::Drop),
        // Silence past the adapter's stale timer (1 s).
        (700, Fault::Stale(Duration::from_millis(1600))),
    ];
    let server = Server::start(k, faults, Vec::new(), Duration::from_micros(300));
    let feed = start("kraken", &settings(&server), &btc_usd());
    let o = drive(feed, &server, Duration::from_secs(30), |b, v| {
        v.done && !b.resyncing && b.top(usize::MAX) == want
    });
    assert!(o.venue.done, "the server did not get to the end");
    assert_eq!(o.venue.fired.len(), 6, "every fault was played");
    let h = &o.health[0];
    assert!(
        h.checksums_failed >= 1,
        "a missing or reordered frame is noticed"
    );
    assert!(h.resyncs >= 3, "resyncs: {}", h.resyncs);
    assert!(
        o.book.resync_events >= 3,
        "RESYNCING reached the engine: {}",
        o.book.resync_events
    );
    assert!(
        o.status.connects >= 3,
        "reconnected after the drop and the stale pause"
    );
    assert!(o.status.stale_timeouts >= 1, "the stale timer fired");
    assert_eq!(h.malformed, 0);
    assert!(!o.book.resyncing, "the book ends synced");
    assert_eq!(kraken_book(&o), want, "the book equals the reference book");
}

/// The venue stops sending (and reading) but keeps the TCP connection open, for good: no
/// close, no error, only silence. The stale timer must notice, mark the book RESYNCING
/// and reconnect within its bound (`stale_secs`, plus a check period of a quarter of it,
/// plus the longest back-off); the new connection's snapshot restores the book.
#[test]
fn a_half_open_connection_is_stale_and_replaced_within_the_bound() {
    let Some(k) = kraken() else { return };
    let want = k.last();
    let server = Server::start(
        k,
        vec![(150, Fault::HalfOpen)],
        Vec::new(),
        Duration::from_micros(500),
    );
    let s = settings(&server);
    let feed = start("kraken", &s, &btc_usd());
    let o = drive(feed, &server, Duration::from_secs(30), |b, v| {
        v.done && !b.resyncing && b.top(usize::MAX) == want
    });
    assert_eq!(o.venue.fired, ["half-open"]);
    assert!(o.venue.done, "the server did not get to the end");
    let silent = o.venue.half_open_at.expect("went half-open");
    let next = *o.venue.connects.get(1).expect("a second connection");
    let took = next.duration_since(silent);
    let stale = Duration::from_secs(s.stale_secs);
    let bound = stale + stale / 4 + Duration::from_millis(s.backoff_max_ms);
    eprintln!("reconnected {took:?} after the venue fell silent (bound {bound:?})");
    assert!(
        took >= stale - Duration::from_millis(100),
        "not before the stale timer: {took:?}"
    );
    // Generous slack over the bound: a loaded 2-core machine schedules late.
    assert!(
        took <= bound + Duration::from_secs(2),
        "reconnected {took:?} after the silence; bound {bound:?}"
    );
    assert!(o.status.stale_timeouts >= 1, "the stale timer fired");
    assert!(o.book.resync_events >= 1, "RESYNCING reached the engine");
    assert!(!o.book.resyncing);
    assert_eq!(kraken_book(&o), want, "the book equals the reference book");
}

// ---------------------------------------------------------------------------------------
// Bybit v5 `orderbook.200`: a snapshot, then deltas whose `u` goes up by one.

/// The capture's linear BTCUSDT book (the first connection's): its snapshot and deltas.
struct Bybit(Captured);

fn bybit_book() -> Option<Bybit> {
    bybit_linear_book("BTCUSDT")
}

/// The capture's first connection's linear `symbol` book.
fn bybit_linear_book(symbol: &str) -> Option<Bybit> {
    let topic = format!("orderbook.200.{symbol}");
    let mut b = Captured::new(["b", "a"]);
    let mut seen = false;
    for (text, v, url) in frames("bybit-v5-2026-08-09.jsonl")? {
        if !url.ends_with("/linear") || v["topic"] != topic.as_str() {
            continue;
        }
        let d = &v["data"];
        let u = d["u"].as_i64().expect("u");
        if v["type"] == "snapshot" {
            assert!(!seen, "one snapshot");
            seen = true;
            b.set_snapshot(d, u);
        } else if seen {
            let last = b.updates.last().map_or(b.seq, |x| x.1);
            assert_eq!(u, last + 1, "the capture's deltas chain");
            b.updates.push((text, u, d.clone()));
        }
    }
    assert!(b.updates.len() > 300, "{}: {}", symbol, b.updates.len());
    Some(Bybit(b))
}

/// `[["px","sz"],...]` of one side, best first.
fn pairs(book: &TextBook, side: Side) -> String {
    let v: Vec<Value> = book
        .side(side)
        .into_iter()
        .map(|(p, q)| serde_json::json!([p, q]))
        .collect();
    Value::Array(v).to_string()
}

impl Bybit {
    /// Its case: no faults yet; the venue's whole book at the end; a delta
    /// every 0.5 ms.
    fn case(self) -> Case<Bybit> {
        Case {
            venue: "bybit",
            inst: instrument("BTCUSDT", "bybit"),
            want: self.0.at(self.len()).0,
            script: self,
            faults: Vec::new(),
            http: Vec::new(),
            pace: Duration::from_micros(500),
            depth: usize::MAX,
            settings: bybit_linear,
        }
    }
}

impl Script for Bybit {
    fn len(&self) -> usize {
        self.0.updates.len()
    }
    /// A subscription naming the book gets its acknowledgement and a snapshot of the book
    /// now (Bybit sends one on every subscription); an unsubscription its acknowledgement.
    fn answer(&self, text: &str, next: usize, _: &mut u64) -> Vec<String> {
        let v: Value = serde_json::from_str(text).expect("client frame");
        let op = v["op"].as_str().unwrap_or("");
        let ack = serde_json::json!({"success": true, "ret_msg": "", "conn_id": "t", "op": op})
            .to_string();
        match op {
            "subscribe" if text.contains("orderbook.200.BTCUSDT") => {
                let (book, u) = self.0.at(next);
                let snap = format!(
                    r#"{{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1,"data":{{"s":"BTCUSDT","b":{},"a":{},"u":{u},"seq":1}},"cts":1}}"#,
                    pairs(&book, Side::Buy),
                    pairs(&book, Side::Sell)
                );
                vec![ack, snap]
            }
            "subscribe" | "unsubscribe" => vec![ack],
            _ => Vec::new(),
        }
    }
    fn update(&self, k: usize, _: &mut u64) -> String {
        self.0.updates[k].0.clone()
    }
}

/// A lost delta is a gap in `u`: the book is RESYNCING at once, the adapter resubscribes,
/// and the new subscription's snapshot restores the venue's book.
#[test]
fn bybit_missing_delta_is_a_gap_then_a_resubscription_restores_the_book() {
    let Some(b) = bybit_book() else { return };
    let _one = BYBIT.lock().unwrap_or_else(|p| p.into_inner());
    let o = play(
        Case {
            faults: vec![(100, Fault::Missing), (250, Fault::Missing)],
            ..b.case()
        },
        || {},
    );
    assert_eq!(o.venue.fired, ["missing", "missing"]);
    let h = &o.health[0];
    assert_eq!(h.gaps, 2, "each lost delta is a gap");
    assert!(h.resyncs >= 2, "resyncs: {}", h.resyncs);
    assert_eq!(o.book.resync_events, 2, "RESYNCING reached the engine");
    assert_eq!(o.status.connects, 1, "a resubscription, not a reconnect");
    assert_eq!(o.book.snapshots, 3, "the first snapshot and one per gap");
}

/// Bybit's linear endpoint, the capture's depth.
fn bybit_linear(s: LiveSettings) -> LiveSettings {
    LiveSettings {
        category: "linear".into(),
        depth: 200,
        ..s
    }
}

// ---------------------------------------------------------------------------------------
// Binance spot: `depth@100ms` diffs synced to the REST `/api/v3/depth` snapshot.

/// The capture's REST snapshot and the diffs that follow it, the first being the one that
/// straddles the snapshot's `lastUpdateId`.
struct Binance {
    book: Captured,
    /// The venue's stream starts this many diffs after the snapshot, so that a snapshot
    /// can be older than anything the stream has sent.
    start: usize,
    /// Diffs the venue streams.
    n: usize,
}

fn binance_book(start: usize, n: usize) -> Option<Binance> {
    let mut book = Captured::new(["b", "a"]);
    let mut diffs = Vec::new();
    for (text, v, url) in frames("binance-spot-btcusdt-2024-08-08.jsonl")? {
        if url.contains("/api/v3/depth") {
            let l = v["lastUpdateId"].as_i64().expect("lastUpdateId");
            book.keys = ["bids", "asks"];
            book.set_snapshot(&v, l);
            book.keys = ["b", "a"];
        } else if v["data"]["e"] == "depthUpdate" {
            diffs.push((text, v["data"].clone()));
        }
    }
    let l = book.seq;
    assert!(l > 0, "the capture's REST snapshot");
    book.updates = diffs
        .into_iter()
        .map(|(t, d)| (t, d["u"].as_i64().expect("u"), d))
        .filter(|(_, u, _)| *u > l)
        .collect();
    let first = book.updates[0].2["U"].as_i64().expect("U");
    assert!(
        first <= l + 1,
        "the capture's first diff straddles the snapshot"
    );
    assert!(book.updates.len() >= start + n, "{}", book.updates.len());
    Some(Binance { book, start, n })
}

impl Binance {
    /// Its case: no faults yet; the venue's whole book at the end; a diff
    /// every 3 ms.
    fn case(self) -> Case<Binance> {
        Case {
            venue: "binance",
            inst: instrument("BTCUSDT", "binance"),
            want: self.book.at(self.start + self.n).0,
            script: self,
            faults: Vec::new(),
            http: Vec::new(),
            pace: Duration::from_millis(3),
            depth: usize::MAX,
            settings: |s| s,
        }
    }
}

impl Script for Binance {
    fn len(&self) -> usize {
        self.n
    }
    /// The combined stream named in the URL flows at once; nothing is sent to it.
    fn flows_at_once(&self) -> bool {
        true
    }
    fn answer(&self, _: &str, _: usize, _: &mut u64) -> Vec<String> {
        Vec::new()
    }
    fn update(&self, k: usize, _: &mut u64) -> String {
        self.book.updates[self.start + k].0.clone()
    }
    fn rest(&self, path: &str, next: usize, back: usize) -> Option<String> {
        if !path.starts_with("/api/v3/depth?symbol=BTCUSDT") {
            return None;
        }
        let (book, l) = self.book.at((self.start + next).saturating_sub(back));
        Some(format!(
            r#"{{"lastUpdateId":{l},"bids":{},"asks":{}}}"#,
            pairs(&book, Side::Buy),
            pairs(&book, Side::Sell)
        ))
    }
}

/// Binance's "How to manage a local order book correctly": the REST snapshot that fails
/// (HTTP 500) is retried; one older than the first buffered diff (its `lastUpdateId`
/// before that diff's `U`) is refetched; a lost diff is a gap that starts the procedure
/// over; when the snapshot keeps failing the adapter reconnects. The book ends equal to
/// the venue's.
#[test]
fn binance_rest_500_and_a_snapshot_older_than_the_stream_are_retried_and_refetched() {
    let Some(b) = binance_book(60, 2400) else {
        return;
    };
    let o = play(
        Case {
            // Lost well after the first sync (0.5 s of retry), at 3 ms a diff.
            faults: vec![(900, Fault::Missing)],
            http: vec![
                HttpFault::Status(500),
                // From before the stream started: older than every buffered diff.
                HttpFault::Old(usize::MAX),
                // The refetch is good; the gap's snapshot then fails three times.
                HttpFault::Pass,
                HttpFault::Status(500),
                HttpFault::Status(500),
                HttpFault::Status(500),
            ],
            ..b.case()
        },
        || {},
    );
    let codes: Vec<u16> = o.venue.http.iter().map(|h| h.1).collect();
    assert_eq!(
        codes[..7],
        [500, 200, 200, 500, 500, 500, 200],
        "retried after the 500, refetched after the old snapshot"
    );
    assert!(o.venue.http.iter().all(|h| h.0.contains("limit=1000")));
    let h = &o.health[0];
    assert_eq!(o.status.http_errors, 4, "each 500 counted");
    assert_eq!(h.gaps, 1, "the lost diff is the only gap");
    assert!(
        o.status.connects >= 2,
        "the snapshot failing three times in a row means a new connection"
    );
    assert!(o.book.resync_events >= 1, "RESYNCING reached the engine");
}

// ---------------------------------------------------------------------------------------
// OKX v5 `books`: a snapshot, then updates chained by `prevSeqId`/`seqId`, each with a
// CRC32 checksum over the top 25 levels a side.

/// The capture's BTC-USDT book. The 2022 capture predates OKX's sequence ids, so the
/// venue here numbers its messages as OKX does now, with a sequence reset at `reset`.
struct Okx {
    book: Captured,
    /// The update whose `seqId` falls below its `prevSeqId` (OKX's documented reset).
    reset: usize,
}

fn okx_book(reset: usize) -> Option<Okx> {
    let mut b = Captured::new(["bids", "asks"]);
    let mut seen = false;
    for (text, v, _) in frames("okx-v5-2022-05-13.jsonl")? {
        if v["arg"]["channel"] != "books"
            || v["arg"]["instId"] != "BTC-USDT"
            || v["event"].is_string()
        {
            continue;
        }
        let d = &v["data"][0];
        assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
        if v["action"] == "snapshot" {
            assert!(!seen, "one snapshot");
            seen = true;
            b.set_snapshot(d, 0);
        } else if seen {
            assert!(d["checksum"].as_i64().is_some_and(|c| c != 0));
            b.updates.push((text, 0, d.clone()));
        }
    }
    assert!(b.updates.len() > reset + 60, "{}", b.updates.len());
    Some(Okx { book: b, reset })
}

impl Okx {
    /// The `seqId` of update `k`: going up in steps, then reset to a small number.
    fn seq(&self, k: usize) -> i64 {
        if k < self.reset {
            1_000 + 7 * k as i64
        } else {
            3 + (k - self.reset) as i64
        }
    }
    /// The `seqId` of the book after `p` updates.
    fn seq_after(&self, p: usize) -> i64 {
        if p == 0 { 993 } else { self.seq(p - 1) }
    }
}

/// OKX's checksum: the signed CRC32 of the top 25 bids and asks interleaved
/// (`bid1px:bid1sz:ask1px:ask1sz:...`), each as OKX wrote it.
fn okx_checksum(book: &TextBook) -> i32 {
    let (bids, asks) = (book.side(Side::Buy), book.side(Side::Sell));
    let mut parts = Vec::new();
    for k in 0..25 {
        for side in [&bids, &asks] {
            if let Some((p, q)) = side.get(k) {
                parts.push(format!("{p}:{q}"));
            }
        }
    }
    crc32fast::hash(parts.join(":").as_bytes()) as i32
}

impl Script for Okx {
    fn len(&self) -> usize {
        self.book.updates.len()
    }
    /// A `books` subscription gets its event and a snapshot of the book now.
    fn answer(&self, text: &str, next: usize, _: &mut u64) -> Vec<String> {
        let v: Value = serde_json::from_str(text).expect("client frame");
        let Some(op) = v["op"].as_str() else {
            return Vec::new(); // "ping"
        };
        let mut out = Vec::new();
        for arg in v["args"].as_array().into_iter().flatten() {
            out.push(serde_json::json!({"event": op, "arg": arg}).to_string());
            if op == "subscribe" && arg["channel"] == "books" {
                let book = self.book.at(next).0;
                let side = |s| {
                    let v: Vec<Value> = book
                        .side(s)
                        .into_iter()
                        .map(|(p, q)| serde_json::json!([p, q, "0", "1"]))
                        .collect();
                    Value::Array(v).to_string()
                };
                out.push(format!(
                    r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"snapshot","data":[{{"asks":{},"bids":{},"ts":"1","checksum":{},"prevSeqId":-1,"seqId":{}}}]}}"#,
                    side(Side::Sell),
                    side(Side::Buy),
                    okx_checksum(&book),
                    self.seq_after(next)
                ));
            }
        }
        out
    }
    /// The captured update, numbered.
    fn update(&self, k: usize, _: &mut u64) -> String {
        let seq = format!(
            r#""prevSeqId":{},"seqId":{},"checksum":"#,
            self.seq_after(k),
            self.seq(k)
        );
        self.book.updates[k].0.replacen(r#""checksum":"#, &seq, 1)
    }
}

/// An update whose checksum does not match (a bit flipped on the way).
fn bad_checksum(frame: &str) -> String {
    let at = frame.find(r#""checksum":"#).expect("checksum") + 11;
    let end = at + frame[at..].find([',', '}']).expect("end");
    format!("{}12345{}", &frame[..at], &frame[end..])
}

/// OKX's "no update" message before update `k`, as OKX sends one when the book has not
/// changed for a while: no levels, `seqId` equal to `prevSeqId`, both the last `seqId`
/// (read from the update, whose `prevSeqId` it is); checksum 0 (none given).
fn no_update(frame: &str) -> String {
    let at = frame.find(r#""prevSeqId":"#).expect("prevSeqId") + 12;
    let end = at + frame[at..].find(',').expect("end");
    let last = &frame[at..end];
    format!(
        r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":{last},"seqId":{last}}}]}}"#
    )
}

/// OKX's sequence rules (https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel):
/// a message with `seqId` equal to `prevSeqId` says nothing changed; a `seqId` below its
/// `prevSeqId` is a reset, not a gap, and the book goes on; a
/// `prevSeqId` that is not the last `seqId` is a lost message; a checksum that does not
/// match the book is bad data. Both mark the book RESYNCING and resubscribe; each
/// subscription's snapshot restores the venue's book.
#[test]
fn okx_sequence_reset_goes_on_while_a_gap_and_a_bad_checksum_resubscribe() {
    let Some(b) = okx_book(30) else { return };
    let o = play(
        Case {
            venue: "okx",
            inst: instrument("BTC-USDT", "okx"),
            want: b.book.at(b.len()).0,
            script: b,
            faults: vec![
                (20, Fault::Insert(no_update)),
                (50, Fault::Corrupt(bad_checksum)),
                (75, Fault::Missing),
            ],
            http: Vec::new(),
            pace: Duration::from_millis(5),
            depth: usize::MAX,
            settings: |s| s,
        },
        || {},
    );
    assert_eq!(o.venue.fired, ["insert", "corrupt", "missing"]);
    let h = &o.health[0];
    assert_eq!(
        h.gaps, 1,
        "the lost update is a gap, the reset and the no-update message are not"
    );
    assert_eq!(h.checksums_failed, 1, "the bad checksum");
    assert!(h.checksums_checked > 60, "{}", h.checksums_checked);
    assert_eq!(h.resyncs, 2);
    assert_eq!(o.book.resync_events, 2, "RESYNCING reached the engine");
    assert_eq!(o.book.snapshots, 3, "the first snapshot and one per resync");
    assert_eq!(o.status.connects, 1, "resubscriptions, no reconnect");
}

// ---------------------------------------------------------------------------------------
// Coinbase Advanced Trade `level2`: every message of a connection carries
// `sequence_num`, one more than the last. `../shared/captures/` holds no Coinbase
// capture, so the venue here speaks Coinbase's format over a real book: Bybit's linear
// BTCUSDT capture, as product BTC-USD.

struct Coinbase(Bybit);

impl Coinbase {
    /// One `l2_data` message.
    fn l2(kind: &str, seq: &mut u64, updates: Vec<Value>) -> String {
        let s = *seq;
        *seq += 1;
        serde_json::json!({
            "channel": "l2_data", "client_id": "", "timestamp": "2026-08-09T00:00:00Z",
            "sequence_num": s,
            "events": [{"type": kind, "product_id": "BTC-USD", "updates": updates}],
        })
        .to_string()
    }
}

fn coinbase_level(side: Side, px: &str, sz: &str) -> Value {
    let side = if side == Side::Buy { "bid" } else { "offer" };
    serde_json::json!({"side": side, "event_time": "2026-08-09T00:00:00Z",
        "price_level": px, "new_quantity": sz})
}

impl Script for Coinbase {
    fn len(&self) -> usize {
        self.0.len()
    }
    /// Each subscription is confirmed; `level2`'s also brings a snapshot.
    fn answer(&self, text: &str, next: usize, seq: &mut u64) -> Vec<String> {
        let v: Value = serde_json::from_str(text).expect("client frame");
        if v["type"] != "subscribe" {
            return Vec::new();
        }
        let mut out = Vec::new();
        if v["channel"] == "level2" {
            let (book, _) = self.0.0.at(next);
            let mut levels = Vec::new();
            for side in [Side::Buy, Side::Sell] {
                for (p, q) in book.side(side) {
                    levels.push(coinbase_level(side, p, q));
                }
            }
            out.push(Coinbase::l2("snapshot", seq, levels));
        }
        let s = *seq;
        *seq += 1;
        out.push(
            serde_json::json!({"channel": "subscriptions", "client_id": "",
                "timestamp": "2026-08-09T00:00:00Z", "sequence_num": s,
                "events": [{"subscriptions": {v["channel"].as_str().unwrap_or(""): ["BTC-USD"]}}]})
            .to_string(),
        );
        out
    }
    fn update(&self, k: usize, seq: &mut u64) -> String {
        let d = &self.0.0.updates[k].2;
        let mut levels = Vec::new();
        for (side, key) in [(Side::Buy, "b"), (Side::Sell, "a")] {
            for l in d[key].as_array().into_iter().flatten() {
                levels.push(coinbase_level(side, s(&l[0]), s(&l[1])));
            }
        }
        Coinbase::l2("update", seq, levels)
    }
}

/// A lost message is a break in `sequence_num`: every book of the connection is
/// RESYNCING and the adapter reconnects (only a new subscription brings a snapshot); a
/// duplicate is dropped. The new connection's snapshot restores the venue's book.
#[test]
fn coinbase_sequence_gap_reconnects_and_restores_the_book() {
    let Some(b) = bybit_book() else { return };
    let o = play(
        Case {
            venue: "coinbase",
            inst: instrument("BTC-USD", "coinbase"),
            want: b.0.at(b.len()).0,
            script: Coinbase(b),
            faults: vec![(80, Fault::Duplicate), (150, Fault::Missing)],
            http: Vec::new(),
            pace: Duration::from_millis(2),
            depth: usize::MAX,
            settings: |s| s,
        },
        || {},
    );
    assert_eq!(o.venue.fired, ["duplicate", "missing"]);
    let h = &o.health[0];
    assert_eq!(h.gaps, 1, "the lost message is a gap, the duplicate is not");
    assert_eq!(o.book.resync_events, 1, "RESYNCING reached the engine");
    assert_eq!(o.status.connects, 2, "reconnected for a fresh snapshot");
    assert_eq!(o.book.snapshots, 2);
}

// ---------------------------------------------------------------------------------------
// Any venue: a flood of malformed frames.

/// The two tests that start a Bybit adapter, one at a time: the flood test reads the CPU
/// time of the adapter's thread by its name.
static BYBIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// CPU time (user + system) of this process's threads named `name`.
fn thread_cpu(name: &str) -> Duration {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        total += f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    }
    Duration::from_millis(total * 1000 / tick)
}

/// What the process logs, from the moment [`capture_logs`] is first called.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

fn capture_logs() -> LogBuf {
    static LOGS: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(sub).expect("the only global subscriber");
        buf
    })
    .clone()
}

/// A flood of malformed frames in the middle of a live feed (the kind that once wrote
/// 990 MB of logs in a minute): every frame is counted, nothing panics, the adapter's
/// thread spends little CPU on them, the log says so a handful of times (rate-limited
/// warnings), and the book goes on to the venue's.
#[test]
fn a_flood_of_malformed_frames_is_counted_with_bounded_cpu_and_log() {
    let Some(b) = bybit_book() else { return };
    let _one = BYBIT.lock().unwrap_or_else(|p| p.into_inner());
    let logs = capture_logs();
    const FLOOD: usize = 20_000;
    let mut cpu = Duration::ZERO;
    let o = play(
        Case {
            faults: vec![(100, Fault::Flood(FLOOD))],
            ..b.case()
        },
        || cpu = cpu.max(thread_cpu("pit-live-bybit")),
    );
    assert_eq!(o.venue.malformed_sent, FLOOD as u64);
    let h = &o.health[0];
    assert_eq!(h.malformed, FLOOD as u64, "every malformed frame counted");
    assert_eq!(
        o.status.connects, 1,
        "malformed frames are no reason to reconnect"
    );
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("malformed")).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "adapter thread CPU {cpu:?} for {FLOOD} malformed frames; {} log lines, {bytes} bytes",
        lines.len()
    );
    // The first ten of a kind per 10 s, then one summary line (the run may straddle two
    // intervals).
    assert!(
        lines.len() <= 22,
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(bytes < 10_000, "{bytes} bytes of log");
    // Measured: about 0.3 s in a debug build; one line of log per frame took 100 times
    // as long. CPU time, not wall time: a loaded machine does not change it much.
    assert!(cpu < Duration::from_secs(4), "adapter thread CPU {cpu:?}");
}

/// Binance's REST limits (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits):
/// "When a 429 is received, it's your obligation as an API to back off and not spam the
/// API"; its `Retry-After` header gives the seconds to wait, and failing to back off ends
/// in an IP ban (418). A snapshot request is heavy (weight 50 at `limit=1000`, of 6,000 a
/// minute), so refetching one that came back older than the stream must not turn into a
/// tight loop either. The adapter waits `Retry-After` after a 429, spaces its refetches,
/// and still ends with the venue's book.
#[test]
fn binance_snapshot_requests_honour_retry_after_and_are_spaced() {
    let Some(b) = binance_book(60, 2400) else {
        return;
    };
    let o = play(
        Case {
            http: vec![
                HttpFault::Throttled(429, 2),
                HttpFault::Old(usize::MAX),
                HttpFault::Old(usize::MAX),
                HttpFault::Old(usize::MAX),
            ],
            ..b.case()
        },
        || {},
    );
    let codes: Vec<u16> = o.venue.http.iter().map(|h| h.1).collect();
    assert_eq!(codes, [429, 200, 200, 200, 200]);
    let apart: Vec<Duration> = o
        .venue
        .http
        .windows(2)
        .map(|w| w[1].2.duration_since(w[0].2))
        .collect();
    // Timer slack only ever makes them later.
    let slack = Duration::from_millis(50);
    assert!(
        apart[0] >= Duration::from_secs(2) - slack,
        "Retry-After: 2 honoured: {apart:?}"
    );
    for d in &apart[1..] {
        assert!(
            *d >= Duration::from_millis(500) - slack,
            "refetches spaced: {apart:?}"
        );
    }
    assert_eq!(o.status.http_errors, 1);
    assert_eq!(o.status.connects, 1, "no reconnect for a throttled request");
}

// ---------------------------------------------------------------------------------------
// Every venue, every transport fault.

/// The faults the Kraken test plays, spread over `n` updates: a duplicated, a reordered
/// and a missing update, a delay, a dropped connection, a stale pause.
fn transport_faults(n: usize) -> Vec<(usize, Fault)> {
    vec![
        (n / 10, Fault::Duplicate),
        (n / 4, Fault::Reorder),
        (2 * n / 5, Fault::Missing),
        (n / 2, Fault::Delay(Duration::from_millis(300))),
        (3 * n / 5, Fault::Drop),
        // Past the adapter's stale timer (1 s).
        (4 * n / 5, Fault::Stale(Duration::from_millis(1600))),
    ]
}

/// What every venue must show after [`transport_faults`]: each played, the loss noticed,
/// reconnected after the drop and the stale pause, RESYNCING sent to the engine (the book
/// itself is checked by [`play`]).
fn survived_transport_faults(o: &Outcome) {
    assert_eq!(o.venue.fired.len(), 6, "every fault was played");
    let h = &o.health[0];
    assert!(
        h.gaps + h.checksums_failed >= 1,
        "the missing update is noticed"
    );
    assert!(
        o.status.connects >= 3,
        "reconnected after the drop and the stale pause"
    );
    assert!(o.status.stale_timeouts >= 1, "the stale timer fired");
    assert!(o.book.resync_events >= 2, "RESYNCING reached the engine");
    assert_eq!(h.malformed, 0);
}

#[test]
fn bybit_survives_the_transport_faults() {
    let Some(b) = bybit_book() else { return };
    let _one = BYBIT.lock().unwrap_or_else(|p| p.into_inner());
    let faults = transport_faults(b.len());
    let o = play(
        Case {
            faults,
            pace: Duration::from_millis(2),
            ..b.case()
        },
        || {},
    );
    survived_transport_faults(&o);
}

#[test]
fn binance_survives_the_transport_faults() {
    // Diffs go on for 1.4 s after the stale pause: the new connection needs one to ask
    // for its snapshot.
    let Some(b) = binance_book(60, 2400) else {
        return;
    };
    let o = play(
        Case {
            faults: transport_faults(b.n),
            ..b.case()
        },
        || {},
    );
    survived_transport_faults(&o);
}

#[test]
fn okx_survives_the_transport_faults() {
    let Some(b) = okx_book(30) else { return };
    let o = play(
        Case {
            venue: "okx",
            inst: instrument("BTC-USDT", "okx"),
            want: b.book.at(b.len()).0,
            faults: transport_faults(b.len()),
            script: b,
            http: Vec::new(),
            pace: Duration::from_millis(10),
            depth: usize::MAX,
            settings: |s| s,
        },
        || {},
    );
    survived_transport_faults(&o);
}

#[test]
fn coinbase_survives_the_transport_faults() {
    let Some(b) = bybit_book() else { return };
    let o = play(
        Case {
            venue: "coinbase",
            inst: instrument("BTC-USD", "coinbase"),
            want: b.0.at(b.len()).0,
            faults: transport_faults(b.len()),
            script: Coinbase(b),
            http: Vec::new(),
            pace: Duration::from_millis(2),
            depth: usize::MAX,
            settings: |s| s,
        },
        || {},
    );
    survived_transport_faults(&o);
}

/// CPU time (user + system) of the children this process has waited for.
fn children_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The same flood through the real program, as the issue met it (990 MB of log in a
/// minute): `pit run --venue bybit --headless` on the local venue, stopped by SIGTERM
/// once it has read everything (the venue, silent after its last update, sees it
/// reconnect). It exits 0 without a panic; its log holds ten lines of the flood and the
/// count of the rest; its CPU stays low.
#[test]
fn a_flood_through_pit_run_leaves_a_small_log() {
    let Some(b) = bybit_book() else { return };
    const FLOOD: usize = 100_000;
    let server = Server::start(
        b,
        vec![(50, Fault::Flood(FLOOD))],
        Vec::new(),
        Duration::from_millis(1),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("config.toml"),
        format!(
            "[live]\nws_url = \"{}\"\ncategory = \"linear\"\ndepth = 200\nfetch_instruments = false\nstale_secs = 1\n",
            server.ws_url
        ),
    )
    .expect("config");
    let cpu0 = children_cpu();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(d)
        .env_remove("RUST_LOG")
        .env_remove("PIT_CONFIG")
        .env("XDG_CONFIG_HOME", d.join("xdg-config"))
        .env("XDG_DATA_HOME", d.join("xdg-data"))
        .args(["run", "--venue", "bybit", "--symbol", "BTCUSDT"])
        .args(["--headless", "--for", "60s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pit");
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while server.state().connects.len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let read_all = server.state().connects.len() >= 2;
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait for pit");
    let cpu = children_cpu() - cpu0;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        read_all,
        "pit never read to the end of the venue's frames: {stderr}"
    );
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut size = 0;
    let mut text = String::new();
    for e in std::fs::read_dir(d.join("logs")).expect("logs/").flatten() {
        size += e.metadata().map(|m| m.len()).unwrap_or(0);
        text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    let flood_lines = text
        .lines()
        .filter(|l| l.contains("malformed frame"))
        .count();
    eprintln!("pit: {cpu:?} CPU; log {size} bytes, {flood_lines} lines of the flood");
    assert!(size < 50_000, "log is {size} bytes:\n{text}");
    assert!(flood_lines <= 10, "{text}");
    assert!(
        text.contains(&format!(
            "{} more 'feed.malformed' warnings suppressed",
            FLOOD - 10
        )),
        "the count of what was left out:\n{text}"
    );
    // Measured: about 1.3 s in a debug build. CPU time, not
    // wall time: a loaded machine changes it little.
    assert!(cpu < Duration::from_secs(5), "pit used {cpu:?} of CPU");
}

// ---------------------------------------------------------------------------------------
// Polymarket CLOB market channel: `book`, then `price_change`s, each carrying the best bid
// and ask after it (no sequence numbers: that is its guard). No Polymarket capture either:
// its format over the Bybit capture's real SOLUSDT book (whose top moves; BTCUSDT's does
// not in this capture), the asset being token `7`.

struct Polymarket {
    book: Captured,
    /// The best bid and ask after each update.
    best: Vec<(String, String)>,
}

fn polymarket_book() -> Option<Polymarket> {
    let b = bybit_linear_book("SOLUSDT")?.0;
    let mut book = b.snapshot.clone();
    let mut best = Vec::new();
    for (_, _, d) in &b.updates {
        set_levels(&mut book, Side::Buy, &d["b"]);
        set_levels(&mut book, Side::Sell, &d["a"]);
        let top = |side| {
            book.side(side)
                .first()
                .map(|l| l.0.clone())
                .unwrap_or_default()
        };
        best.push((top(Side::Buy), top(Side::Sell)));
    }
    Some(Polymarket { book: b, best })
}

impl Script for Polymarket {
    fn len(&self) -> usize {
        self.book.updates.len()
    }
    /// A subscription (the first, or the decoder's again after a mismatch) gets the book.
    fn answer(&self, text: &str, next: usize, _: &mut u64) -> Vec<String> {
        if text == "PING" {
            return vec!["PONG".into()];
        }
        let (book, _) = self.book.at(next);
        let side = |s| {
            let v: Vec<Value> = book
                .side(s)
                .into_iter()
                .map(|(p, q)| serde_json::json!({"price": p, "size": q}))
                .collect();
            Value::Array(v)
        };
        vec![
            serde_json::json!({"event_type": "book", "asset_id": "7", "market": "0x1",
                "bids": side(Side::Buy), "asks": side(Side::Sell), "timestamp": "1", "hash": "h"})
            .to_string(),
        ]
    }
    fn update(&self, k: usize, _: &mut u64) -> String {
        let d = &self.book.updates[k].2;
        let (bid, ask) = &self.best[k];
        let mut changes = Vec::new();
        for (side, key) in [("BUY", "b"), ("SELL", "a")] {
            for l in d[key].as_array().into_iter().flatten() {
                changes.push(serde_json::json!({"asset_id": "7", "price": s(&l[0]),
                    "size": s(&l[1]), "side": side, "hash": "h",
                    "best_bid": bid, "best_ask": ask}));
            }
        }
        serde_json::json!({"event_type": "price_change", "market": "0x1",
            "price_changes": changes, "timestamp": "1"})
        .to_string()
    }
}

impl Polymarket {
    /// An update from `from` on that moves the best bid or ask, the next one leaving it
    /// there: lost, the next update's announced best bid and ask disagree with the book.
    fn top_mover(&self, from: usize) -> usize {
        (from.max(1)..self.len() - 1)
            .find(|&k| self.best[k] != self.best[k - 1] && self.best[k + 1] == self.best[k])
            .expect("an update that moves the top")
    }
}

/// Polymarket sends no sequence numbers: a lost update that moved the best bid or ask is
/// seen when the book crosses or disagrees with the best bid and ask the next update
/// announces (RESYNCING, subscribe again for a fresh book); a dropped connection and a stale pause reconnect.
/// The book ends equal to the venue's. (A lost update below the top goes unseen until the
/// next fresh book: the venue gives nothing to see it by.)
#[test]
fn polymarket_best_bid_ask_mismatch_resubscribes_and_transport_faults_reconnect() {
    let Some(b) = polymarket_book() else { return };
    let n = b.len();
    let lost = b.top_mover(n / 3);
    let o = play(
        Case {
            venue: "polymarket",
            inst: instrument("7", "polymarket"),
            want: b.book.at(n).0,
            faults: vec![
                (n / 10, Fault::Duplicate),
                (lost, Fault::Missing),
                (n / 2, Fault::Delay(Duration::from_millis(300))),
                (3 * n / 5, Fault::Drop),
                (4 * n / 5, Fault::Stale(Duration::from_millis(1600))),
            ],
            script: b,
            http: Vec::new(),
            pace: Duration::from_millis(2),
            depth: usize::MAX,
            settings: |s| s,
        },
        || {},
    );
    assert_eq!(o.venue.fired.len(), 5, "every fault was played");
    let h = &o.health[0];
    let st = &o.status.stats[0];
    assert!(
        st.crossed + st.bbo_checks_failed >= 1,
        "the lost update is noticed: {st:?}"
    );
    assert!(
        h.resyncs >= 3,
        "the loss, the drop, the stale pause: {}",
        h.resyncs
    );
    assert!(
        o.status.connects >= 3,
        "reconnected after the drop and the stale pause"
    );
    assert!(o.status.stale_timeouts >= 1, "the stale timer fired");
    assert!(o.book.resync_events >= 3, "RESYNCING reached the engine");
    assert_eq!(h.malformed, 0);
}
