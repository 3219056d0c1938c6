//! Fault tests: a WebSocket server on 127.0.0.1 replays a real capture (Kraken v2
//! `book`, from `../shared/captures/`) to the real live adapter ([`LiveFeed`]) with a
//! duplicated frame, reordered frames, a missing frame, delays, a dropped connection and
//! a stale pause. The adapter must notice (checksum failures, RESYNCING, reconnects),
//! resubscribe, and end with the reference book. Bounded: the server and the client both
//! stop by themselves within seconds.

use pit::domain::{Instrument, InstrumentId, Level, MarketEventKind, OrderBook, Qty, Side};
use pit::record::{CaptureReader, Direction};
use pit::venue::MarketDataPort;
use pit::venue::exchanges::decode::FrameDecoder;
use pit::venue::exchanges::entry::LiveSettings;
use pit::venue::exchanges::kraken::KrakenDecoder;
use pit::venue::feed::live::{LiveFeed, venue_spec};
use rust_decimal_macros::dec;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn capture(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var("PIT_CAPTURES_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(root.join("../shared/captures"));
    dirs.push(root.join("../../shared/captures"));
    let found = dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("skipped: {name} not found in ../shared/captures (set PIT_CAPTURES_DIR)");
    }
    found
}

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
struct Script {
    snapshot: String,
    updates: Vec<String>,
    checksums: Vec<String>,
    refs: Vec<(Vec<Level>, Vec<Level>)>,
}

fn script(path: &std::path::Path) -> Script {
    let reader = CaptureReader::open(path).expect("open capture");
    let mut dec = KrakenDecoder::new(vec![btc_usd()], 25);
    let mut out = Vec::new();
    let mut s = Script {
        snapshot: String::new(),
        updates: Vec::new(),
        checksums: Vec::new(),
        refs: Vec::new(),
    };
    for line in reader {
        if line.dir != Direction::Recv || !line.frame.contains("\"channel\":\"book\"") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line.frame).expect("json");
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
    s
}

/// A Kraken snapshot of the venue's book after `p` updates.
fn snapshot_at(s: &Script, p: usize) -> String {
    if p == 0 {
        return s.snapshot.clone();
    }
    let (bids, asks) = &s.refs[p];
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
        s.checksums[p - 1]
    )
}

/// The venue's state, shared by its connections.
struct Venue {
    /// Updates the venue has published (the next to send).
    next: usize,
    /// The current connection; older ones stop.
    generation: u64,
    fired: Vec<&'static str>,
}

const ACK: &str = r#"{"method":"subscribe","result":{"channel":"book","depth":25,"snapshot":true,"symbol":"BTC/USD"},"success":true}"#;

/// Serve one connection: wait for the book subscription, send a snapshot of the current
/// state, then the updates with the scripted faults. A `subscribe` on the way (the
/// adapter resubscribing after a checksum failure) gets a fresh snapshot.
async fn serve(
    tcp: tokio::net::TcpStream,
    script: Arc<Script>,
    venue: Arc<tokio::sync::Mutex<Venue>>,
    done: Arc<AtomicBool>,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let me = {
        let mut v = venue.lock().await;
        v.generation += 1;
        v.generation
    };
    let (mut tx, mut rx) = ws.split();
    let mut subscribed = false;
    let mut tick = tokio::time::interval(Duration::from_micros(300));
    loop {
        tokio::select! {
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.contains("\"subscribe\"") && t.contains("\"book\"") {
                        let v = venue.lock().await;
                        if v.generation != me { return; }
                        let snap = snapshot_at(&script, v.next);
                        if tx.send(Message::text(ACK)).await.is_err()
                            || tx.send(Message::text(snap)).await.is_err() {
                            return;
                        }
                        subscribed = true;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = tick.tick(), if subscribed => {
                let mut v = venue.lock().await;
                if v.generation != me {
                    return;
                }
                let k = v.next;
                if k >= script.updates.len() {
                    done.store(true, Ordering::SeqCst);
                    continue;
                }
                let mut once = |name: &'static str, at: usize| {
                    let hit = k == at && !v.fired.contains(&name);
                    if hit { v.fired.push(name); }
                    hit
                };
                let frames: Vec<usize> = if once("duplicate", 100) {
                    vec![k, k]
                } else if once("reorder", 200) {
                    vec![k + 1, k]
                } else if once("missing", 300) {
                    Vec::new()
                } else if once("delay", 400) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    vec![k]
                } else if once("drop", 500) {
                    // The connection drops without a close frame.
                    return;
                } else if once("stale", 700) {
                    // Silence past the adapter's stale timer (1 s).
                    drop(v);
                    tokio::time::sleep(Duration::from_millis(1600)).await;
                    continue;
                } else {
                    vec![k]
                };
                let advance = if frames.len() == 2 && frames[0] != frames[1] { 2 } else { 1 };
                for f in frames {
                    if tx.send(Message::text(script.updates[f].clone())).await.is_err() {
                        return;
                    }
                }
                v.next = k + advance;
            }
        }
    }
}

/// The book the engine would hold: the adapter's events applied in order.
#[derive(Default)]
struct EventBook {
    book: OrderBook,
    resyncing: bool,
}

impl EventBook {
    fn apply(&mut self, kind: &MarketEventKind) {
        match kind {
            MarketEventKind::Snapshot { bids, asks } => {
                self.book.clear();
                for l in bids {
                    self.book.update(Side::Buy, l.price, l.qty);
                }
                for l in asks {
                    self.book.update(Side::Sell, l.price, l.qty);
                }
                self.resyncing = false;
            }
            MarketEventKind::Level { side, price, qty } => {
                self.book.update(*side, *price, *qty);
            }
            MarketEventKind::Resyncing { .. } => self.resyncing = true,
            _ => {}
        }
    }
    fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        (
            self.book.top(Side::Buy, n).collect(),
            self.book.top(Side::Sell, n).collect(),
        )
    }
}

#[test]
fn kraken_adapter_survives_faults_and_ends_with_the_reference_book() {
    let Some(path) = capture("kraken-v2-btcusd-sample.jsonl") else {
        return;
    };
    let script = Arc::new(script(&path));
    assert!(script.updates.len() > 800, "{}", script.updates.len());
    let done = Arc::new(AtomicBool::new(false));

    // The venue: a WebSocket server on 127.0.0.1 that ends by itself.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let venue = Arc::new(tokio::sync::Mutex::new(Venue {
        next: 0,
        generation: 0,
        fired: Vec::new(),
    }));
    {
        let (script, venue, done) = (script.clone(), venue.clone(), done.clone());
        rt.spawn(async move {
            let serve_all = async {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(serve(tcp, script.clone(), venue.clone(), done.clone()));
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(30), serve_all).await;
        });
    }

    // The real adapter, pointed at it.
    let settings = LiveSettings {
        ws_url: format!("ws://{addr}"),
        stale_secs: 1,
        backoff_min_ms: 20,
        backoff_max_ms: 100,
        ..LiveSettings::default()
    };
    let (spec, decoder) = venue_spec("kraken", &settings, vec![btc_usd()]).expect("spec");
    let mut feed = LiveFeed::start(spec, decoder, None).expect("feed");

    let mut book = EventBook::default();
    let mut resync_events = 0;
    let want = script.refs.last().cloned().expect("refs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet_since = Instant::now();
    loop {
        feed.wait_ready(Instant::now() + Duration::from_millis(20));
        let mut got = false;
        while let Some(ev) = feed.next_event() {
            got = true;
            if matches!(ev.kind, MarketEventKind::Resyncing { .. }) {
                resync_events += 1;
            }
            book.apply(&ev.kind);
        }
        if got {
            quiet_since = Instant::now();
        }
        let settled = done.load(Ordering::SeqCst)
            && quiet_since.elapsed() > Duration::from_millis(300)
            && !book.resyncing;
        if settled || Instant::now() > deadline {
            break;
        }
    }
    let status = feed.status();
    let health = feed.health();
    drop(feed);
    rt.shutdown_timeout(Duration::from_secs(1));

    let fired = venue
        .try_lock()
        .map(|v| v.fired.clone())
        .unwrap_or_default();
    eprintln!("faults fired: {fired:?}");
    eprintln!("status: {status:?}");
    eprintln!("health: {health:?}");
    assert!(
        done.load(Ordering::SeqCst),
        "the server did not get to the end"
    );
    assert_eq!(fired.len(), 6, "every fault was played: {fired:?}");
    let h = &health[0];
    assert!(
        h.checksums_failed >= 1,
        "a missing or reordered frame is noticed"
    );
    assert!(h.resyncs >= 3, "resyncs: {}", h.resyncs);
    assert!(
        resync_events >= 3,
        "RESYNCING reached the engine: {resync_events}"
    );
    assert!(
        status.connects >= 3,
        "reconnected after the drop and the stale pause"
    );
    assert!(status.stale_timeouts >= 1, "the stale timer fired");
    assert_eq!(h.malformed, 0);
    assert!(!book.resyncing, "the book ends synced");
    // The top 10 a side: the levels Kraken's checksum covers. (Deeper down, the events
    // carry no deletes for levels the decoder truncates past the subscribed depth, so an
    // event-built book may keep stale deep levels; the decoder's own book is checked by
    // the checksum of every update, all of which passed after the last resync.)
    let (bids, asks) = book.top(10);
    assert_eq!(bids, want.0[..10], "bids equal the reference book");
    assert_eq!(asks, want.1[..10], "asks equal the reference book");
}
