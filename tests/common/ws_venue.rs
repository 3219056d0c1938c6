//! A venue on 127.0.0.1 for the fault tests (`tests/faults.rs`): a WebSocket server, and a
//! REST server beside it, that replay a real capture from `../shared/captures/` to a live
//! adapter ([`LiveFeed`]) with scripted faults, and a loop that drives the adapter and
//! rebuilds the book the engine would hold from its events.
//!
//! What is venue-specific (the subscription answers, a snapshot of the book after `n`
//! updates, the update frames) is a [`Script`]; what goes wrong is a plan of [`Fault`]s,
//! each played once when the venue reaches its update, and of [`HttpFault`]s, played on
//! the REST requests in order. Both servers stop when the [`Server`] is dropped (and on
//! their own after a minute), so a test never hangs on them.

use pit::domain::{Instrument, InstrumentId, Level, MarketEventKind, OrderBook, Qty, Side};
use pit::engine::view::FeedHealth;
use pit::venue::MarketDataPort;
use pit::venue::feed::live::{FALLBACK_STEP, LiveFeed, LiveStatus};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A capture of `../shared/captures/` (or `$PIT_CAPTURES_DIR`); `None`, said on stderr,
/// when it is not there.
pub fn capture(name: &str) -> Option<PathBuf> {
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

/// An instrument on the exact `1e-8` grid every venue here publishes on.
pub fn instrument(symbol: &str, venue: &str) -> Instrument {
    Instrument::new(
        InstrumentId(0),
        symbol,
        venue,
        FALLBACK_STEP,
        FALLBACK_STEP,
        Qty(1),
    )
}

/// A book kept as the venue wrote it: each level's price and size text, by price. The
/// reference the adapter's book is held to, and what synthesized snapshots are made of
/// (checksums need the venue's exact text).
#[derive(Clone, Debug, Default)]
pub struct TextBook {
    pub bids: BTreeMap<Decimal, (String, String)>,
    pub asks: BTreeMap<Decimal, (String, String)>,
}

impl TextBook {
    /// Set one level (a zero size deletes it).
    pub fn set(&mut self, side: Side, px: &str, sz: &str) {
        let p: Decimal = px.parse().unwrap_or_else(|e| panic!("price {px}: {e}"));
        let q: Decimal = sz.parse().unwrap_or_else(|e| panic!("size {sz}: {e}"));
        let map = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if q.is_zero() {
            map.remove(&p);
        } else {
            map.insert(p, (px.to_string(), sz.to_string()));
        }
    }

    /// The levels of a side, best first, as the venue wrote them.
    pub fn side(&self, side: Side) -> Vec<&(String, String)> {
        match side {
            Side::Buy => self.bids.values().rev().collect(),
            Side::Sell => self.asks.values().collect(),
        }
    }

    /// The top `n` levels a side on `inst`'s grid.
    pub fn top(&self, inst: &Instrument, n: usize) -> (Vec<Level>, Vec<Level>) {
        let levels = |side| {
            self.side(side)
                .into_iter()
                .take(n)
                .map(|(p, q)| {
                    Level::new(
                        inst.price_from_decimal(p.parse().unwrap()).unwrap(),
                        inst.qty_from_decimal(q.parse().unwrap()).unwrap(),
                    )
                })
                .collect()
        };
        (levels(Side::Buy), levels(Side::Sell))
    }
}

/// What the venue says, as one venue says it.
pub trait Script: Send + Sync + 'static {
    /// The updates the venue publishes.
    fn len(&self) -> usize;
    /// The frames answering the client's frame `text` (subscription acknowledgements and
    /// a snapshot of the book after `next` updates); empty: nothing to answer. `seq`
    /// counts the frames of this connection (per-connection sequence numbers).
    fn answer(&self, text: &str, next: usize, seq: &mut u64) -> Vec<String>;
    /// Whether updates flow as soon as the socket opens (a stream named in the URL, no
    /// subscription frame).
    fn flows_at_once(&self) -> bool {
        false
    }
    /// Update `k` as sent on a connection.
    fn update(&self, k: usize, seq: &mut u64) -> String;
    /// A REST answer for `path`: the book `back` updates before `next` (`None`: 404).
    fn rest(&self, _path: &str, _next: usize, _back: usize) -> Option<String> {
        None
    }
}

/// One thing that goes wrong, played when the venue reaches an update.
pub enum Fault {
    /// The update is sent twice.
    Duplicate,
    /// The update and the next one are sent the other way round.
    Reorder,
    /// The update is lost (its per-connection sequence number too).
    Missing,
    /// The update comes late.
    Delay(Duration),
    /// The connection drops without a close frame.
    Drop,
    /// Silence for this long (the connection then goes on, if the client is still there).
    Stale(Duration),
    /// The venue stops sending and reading but keeps the TCP connection open, for good.
    HalfOpen,
    /// This many malformed frames, then the update.
    Flood(usize),
    /// The update, changed on the way by this function.
    Corrupt(fn(&str) -> String),
    /// A frame made by this function from the update, sent before it.
    Insert(fn(&str) -> String),
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
            Fault::Missing => "missing",
            Fault::Delay(_) => "delay",
            Fault::Drop => "drop",
            Fault::Stale(_) => "stale",
            Fault::HalfOpen => "half-open",
            Fault::Flood(_) => "flood",
            Fault::Corrupt(_) => "corrupt",
            Fault::Insert(_) => "insert",
        }
    }
}

/// What a REST request gets, in order of the requests (then the fresh answer).
#[derive(Clone, Copy, Debug)]
pub enum HttpFault {
    /// The script's answer, as with no fault.
    Pass,
    /// This HTTP status and an error body.
    Status(u16),
    /// This HTTP status (429 or 418) with `Retry-After: secs`, as Binance throttles.
    Throttled(u16, u64),
    /// The answer as it was this many updates ago (an old snapshot).
    Old(usize),
}

/// The venue's state, shared by its connections.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Updates published (the next to send).
    pub next: usize,
    /// The current connection; older ones stop sending.
    pub generation: u64,
    /// Every update was published.
    pub done: bool,
    /// Faults played, in order.
    pub fired: Vec<&'static str>,
    /// When each WebSocket connection was accepted.
    pub connects: Vec<Instant>,
    /// When the venue went half-open.
    pub half_open_at: Option<Instant>,
    /// Malformed frames sent.
    pub malformed_sent: u64,
    /// REST requests: path, status answered, when it came.
    pub http: Vec<(String, u16, Instant)>,
}

struct Shared {
    state: Mutex<State>,
    faults: Mutex<Vec<(usize, Fault)>>,
    http_faults: Mutex<VecDeque<HttpFault>>,
    script: Arc<dyn Script>,
    pace: Duration,
}

impl Shared {
    fn state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
    /// The fault planned at update `k` not played yet, taken.
    fn fault_at(&self, k: usize) -> Option<Fault> {
        let mut f = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let i = f.iter().position(|(at, _)| *at == k)?;
        Some(f.remove(i).1)
    }
}

/// The venue: a WebSocket server and a REST server on 127.0.0.1.
pub struct Server {
    /// `ws://127.0.0.1:PORT`
    pub ws_url: String,
    /// `http://127.0.0.1:PORT`
    pub rest_url: String,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

/// How long the servers live at most.
const LIFETIME: Duration = Duration::from_secs(60);

impl Server {
    /// Serve `script` with `faults` (update index, fault) and `http_faults`, one update
    /// every `pace`.
    pub fn start(
        script: impl Script,
        faults: Vec<(usize, Fault)>,
        http_faults: Vec<HttpFault>,
        pace: Duration,
    ) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            faults: Mutex::new(faults),
            http_faults: Mutex::new(http_faults.into()),
            script: Arc::new(script),
            pace,
        });
        let ws = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let rest = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let ws_url = format!("ws://{}", ws.local_addr().expect("addr"));
        let rest_url = format!("http://{}", rest.local_addr().expect("addr"));
        rt.spawn(accept(ws, shared.clone(), serve_ws));
        rt.spawn(accept(rest, shared.clone(), serve_http));
        Server {
            ws_url,
            rest_url,
            shared,
            rt: Some(rt),
        }
    }

    /// A copy of the venue's state.
    pub fn state(&self) -> State {
        self.shared.state(|s| s.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Serve each connection to `listener` with `serve`, for the servers' lifetime.
async fn accept<F: Future<Output = ()> + Send + 'static>(
    listener: tokio::net::TcpListener,
    sh: Arc<Shared>,
    serve: fn(tokio::net::TcpStream, Arc<Shared>) -> F,
) {
    let all = async {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, sh.clone()));
        }
    };
    let _ = tokio::time::timeout(LIFETIME, all).await;
}

/// One WebSocket connection: answer the client's frames, and once subscribed send the
/// updates with the planned faults. A newer connection stops this one.
async fn serve_ws(tcp: tokio::net::TcpStream, sh: Arc<Shared>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let me = sh.state(|s| {
        s.generation += 1;
        s.connects.push(Instant::now());
        s.generation
    });
    let script = sh.script.clone();
    let (mut tx, mut rx) = ws.split();
    let mut seq = 0u64;
    let mut flowing = script.flows_at_once();
    let mut tick = tokio::time::interval(sh.pace);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let frames: Vec<String> = tokio::select! {
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let Some(next) = sh.state(|s| (s.generation == me).then_some(s.next)) else {
                        return;
                    };
                    let out = script.answer(t.as_str(), next, &mut seq);
                    flowing |= !out.is_empty();
                    out
                }
                Some(Ok(_)) => continue,
                _ => return,
            },
            _ = tick.tick(), if flowing => {
                let Some(k) = sh.state(|s| (s.generation == me).then_some(s.next)) else {
                    return;
                };
                let n = script.len();
                if k >= n {
                    sh.state(|s| s.done = true);
                    continue;
                }
                let fault = sh.fault_at(k);
                if let Some(f) = &fault {
                    sh.state(|s| s.fired.push(f.name()));
                }
                let mut advance = 1;
                let frames = match fault {
                    None => vec![script.update(k, &mut seq)],
                    Some(Fault::Duplicate) => {
                        let f = script.update(k, &mut seq);
                        vec![f.clone(), f]
                    }
                    Some(Fault::Reorder) if k + 1 < n => {
                        advance = 2;
                        let a = script.update(k, &mut seq);
                        let b = script.update(k + 1, &mut seq);
                        vec![b, a]
                    }
                    Some(Fault::Reorder) => vec![script.update(k, &mut seq)],
                    Some(Fault::Missing) => {
                        let _lost = script.update(k, &mut seq);
                        Vec::new()
                    }
                    Some(Fault::Delay(d)) => {
                        tokio::time::sleep(d).await;
                        vec![script.update(k, &mut seq)]
                    }
                    Some(Fault::Drop) => return,
                    Some(Fault::Stale(d)) => {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    Some(Fault::HalfOpen) => {
                        sh.state(|s| s.half_open_at = Some(Instant::now()));
                        // Hold both halves, read nothing, send nothing, until the server
                        // ends.
                        std::future::pending::<()>().await;
                        return;
                    }
                    Some(Fault::Flood(m)) => {
                        for i in 0..m {
                            let junk = match i % 4 {
                                0 => format!("{{\"garbage\":{i}"),
                                1 => "\u{1}\u{2} not json".to_string(),
                                2 => format!("[{i},"),
                                _ => "{\"topic\":5,\"data\":[[[".to_string(),
                            };
                            if tx.send(Message::text(junk)).await.is_err() {
                                return;
                            }
                        }
                        sh.state(|s| s.malformed_sent += m as u64);
                        vec![script.update(k, &mut seq)]
                    }
                    Some(Fault::Corrupt(f)) => vec![f(&script.update(k, &mut seq))],
                    Some(Fault::Insert(f)) => {
                        let u = script.update(k, &mut seq);
                        vec![f(&u), u]
                    }
                };
                let still = sh.state(|s| {
                    if s.generation != me {
                        return false;
                    }
                    s.next = k + advance;
                    true
                });
                if !still {
                    return;
                }
                frames
            }
        };
        for f in frames {
            if tx.send(Message::text(f)).await.is_err() {
                return;
            }
        }
    }
}

/// One REST request (HTTP/1.1, `Connection: close`): the script's answer, or the next
/// planned fault.
async fn serve_http(mut tcp: tokio::net::TcpStream, sh: Arc<Shared>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let came = Instant::now();
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let fault = sh
        .http_faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop_front();
    let next = sh.state(|s| s.next);
    let back = match fault {
        Some(HttpFault::Old(b)) => b,
        _ => 0,
    };
    let mut extra = String::new();
    let (code, body) = match fault {
        Some(HttpFault::Status(c)) => (c, r#"{"code":-1000,"msg":"injected fault"}"#.to_string()),
        Some(HttpFault::Throttled(c, secs)) => {
            extra = format!("Retry-After: {secs}\r\n");
            (
                c,
                r#"{"code":-1003,"msg":"Too much request weight used"}"#.to_string(),
            )
        }
        _ => match sh.script.rest(&path, next, back) {
            Some(b) => (200, b),
            None => (404, r#"{"code":-1,"msg":"not found"}"#.to_string()),
        },
    };
    sh.state(|s| s.http.push((path, code, came)));
    let resp = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(resp.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// The book the engine would hold: the adapter's events applied in order.
#[derive(Default)]
pub struct EventBook {
    pub book: OrderBook,
    pub resyncing: bool,
    /// `Resyncing` events seen.
    pub resync_events: usize,
    /// Snapshots seen.
    pub snapshots: usize,
}

impl EventBook {
    pub fn apply(&mut self, kind: &MarketEventKind) {
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
                self.snapshots += 1;
            }
            MarketEventKind::Level { side, price, qty } => {
                self.book.update(*side, *price, *qty);
            }
            MarketEventKind::Resyncing { .. } => {
                self.resyncing = true;
                self.resync_events += 1;
            }
            _ => {}
        }
    }

    /// The top `n` levels a side.
    pub fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        (
            self.book.top(Side::Buy, n).collect(),
            self.book.top(Side::Sell, n).collect(),
        )
    }
}

/// How a run ended.
pub struct Outcome {
    pub book: EventBook,
    pub status: LiveStatus,
    pub health: Vec<FeedHealth>,
    pub venue: State,
}

/// Drive `feed` until `until(book, venue)` holds or `limit` passes, then stop it (the
/// server is left to the caller, who drops it after).
pub fn drive(
    mut feed: LiveFeed,
    server: &Server,
    limit: Duration,
    mut until: impl FnMut(&EventBook, &State) -> bool,
) -> Outcome {
    let mut book = EventBook::default();
    let deadline = Instant::now() + limit;
    loop {
        feed.wait_ready(Instant::now() + Duration::from_millis(20));
        while let Some(ev) = feed.next_event() {
            book.apply(&ev.kind);
        }
        if until(&book, &server.state()) || Instant::now() > deadline {
            break;
        }
    }
    let status = feed.status();
    let health = feed.health();
    drop(feed);
    let venue = server.state();
    eprintln!("faults played: {:?}", venue.fired);
    let t0 = venue.connects.first().copied();
    let rest: Vec<(u16, Duration)> = venue
        .http
        .iter()
        .map(|h| (h.1, h.2.duration_since(t0.unwrap_or(h.2))))
        .collect();
    eprintln!(
        "connections: {}, REST (status, since the first connection): {rest:?}",
        venue.connects.len()
    );
    eprintln!("status: {status:?}");
    Outcome {
        book,
        status,
        health,
        venue,
    }
}
