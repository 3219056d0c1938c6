//! Live market data: one WebSocket connection task per venue (tokio + tokio-tungstenite,
//! rustls with the `ring` provider: no system OpenSSL), feeding the venue's
//! [`FrameDecoder`] and pushing its normalized events to the engine through [`LiveFeed`],
//! a [`MarketDataPort`].
//!
//! The connection task:
//! - connects to the venue's URL (overridable: `[live] ws_url`, used by the fault tests),
//!   writes a `connect` capture line (the decoder then marks every synced book
//!   RESYNCING and waits for a fresh snapshot), sends the subscription frames;
//! - keeps the venue's keep-alive, as its registry entry gives it (Bybit `{"op":"ping"}`
//!   every 20 s, OKX `ping`, Polymarket `PING`, Kraken `{"method":"ping"}`; Binance pings
//!   us and tungstenite answers; Coinbase's `heartbeats` channel is subscribed);
//! - has a stale-feed timer: no frame for `stale_secs` marks every book RESYNCING and
//!   reconnects;
//! - reconnects with exponential backoff and full jitter (`backoff_min_ms` doubling up
//!   to `backoff_max_ms`; reset once a connection has lived 30 s);
//! - carries out the decoder's [`FeedRequest`]s: `Send` (resubscribe), `Http` (a REST
//!   snapshot with `ureq`, off the reactor, retried twice, then a reconnect), `Reconnect`;
//!   REST requests for one URL start at least [`REST_MIN_GAP`] apart, and none starts
//!   before the `Retry-After` of a 429 or 418 has passed (see [`Conn::http`]);
//! - hands every frame to the decoder as a [`CaptureLine`] and, when recording, to the
//!   [`Recorder`] (so a live session replays through the very same parser).
//!
//! A malformed frame is counted by the decoder and logged; nothing here panics on one.
//!
//! On a disconnect the task itself emits `Resyncing` for the books that were synced (so
//! the engine stops quoting them at once, not only when a new socket opens); the
//! decoder's own `Resyncing` for the same episode at the next `connect` line is then not
//! forwarded twice.

use crate::domain::{Instrument, InstrumentId, MarketEvent, MarketEventKind, Timestamp};
use crate::engine::clock::{Clock, WallClock};
use crate::engine::view::FeedHealth;
use crate::record::{CaptureLine, Direction, Recorder};
use crate::venue::MarketDataPort;
use crate::venue::exchanges::decode::{FeedRequest, FeedStats, FrameDecoder};
use crate::venue::exchanges::entry::LiveSettings;
use crate::venue::exchanges::registry;
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How to talk to one venue.
#[derive(Clone, Debug)]
pub struct LiveSpec {
    pub venue: String,
    /// The WebSocket URL connected to.
    pub url: String,
    /// Frames sent after each connect.
    pub subscribe: Vec<String>,
    /// A keep-alive text frame and its period.
    pub ping: Option<(Duration, String)>,
    pub stale_after: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Timeout of a connect (TCP + TLS + WebSocket handshake) and of a REST request.
    pub io_timeout: Duration,
}

/// The spec and the decoder for a venue's live feed of `instruments`, from the venue's
/// registry entry.
pub fn venue_spec(
    venue: &str,
    s: &LiveSettings,
    instruments: Vec<Instrument>,
) -> Result<(LiveSpec, Box<dyn FrameDecoder>), String> {
    let Some(entry) = registry::find(venue) else {
        return Err(format!(
            "no live adapter for venue '{venue}'; known: {}",
            registry::known()
        ));
    };
    let live = &entry.live;
    let url = if s.ws_url.is_empty() {
        (live.ws_url)(s)
    } else {
        s.ws_url.clone()
    };
    let depth = match s.depth {
        0 => live.default_depth.unwrap_or(0),
        d => d,
    };
    let conn = (live.connect)(s, url, depth, instruments);
    let spec = LiveSpec {
        venue: venue.to_string(),
        url: conn.url,
        subscribe: conn.subscribe,
        ping: live.ping.map(|(every, text)| (every, text.to_string())),
        stale_after: Duration::from_secs(s.stale_secs.max(1)),
        backoff_min: Duration::from_millis(s.backoff_min_ms.max(1)),
        backoff_max: Duration::from_millis(s.backoff_max_ms.max(s.backoff_min_ms.max(1))),
        io_timeout: Duration::from_secs(10),
    };
    Ok((spec, conn.decoder))
}

/// The connection's state, as the health view shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    /// Waiting before the next attempt.
    Backoff,
    Stopped,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
            ConnState::Backoff => "backoff",
            ConnState::Stopped => "stopped",
        }
    }
}

/// Counters shared between the connection task and the feed.
#[derive(Clone, Debug)]
pub struct LiveStatus {
    pub state: ConnState,
    /// Decoder counters per instrument.
    pub stats: Vec<FeedStats>,
    /// Malformed frames that named no instrument.
    pub unattributed_malformed: u64,
    /// Sockets opened.
    pub connects: u64,
    /// Sockets lost or dropped (closed by the venue, errors, stale, reconnect requests).
    pub disconnects: u64,
    /// Times the stale-feed timer fired.
    pub stale_timeouts: u64,
    /// Failed REST requests.
    pub http_errors: u64,
    /// Last frame received (any kind, pings included).
    pub last_frame: Option<Instant>,
    pub last_error: Option<String>,
    /// Connection attempts that failed plus connections lost: each one a disconnect.
    pub failures: u64,
    /// While waiting in back-off: when the next connection attempt starts.
    pub retry_at: Option<Instant>,
}

/// One connection per venue, its decoder, and the normalized events it produces.
pub struct LiveFeed {
    venue: String,
    instruments: Vec<Instrument>,
    rx: mpsc::Receiver<Vec<MarketEvent>>,
    buf: VecDeque<MarketEvent>,
    status: Arc<Mutex<LiveStatus>>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    done: Option<mpsc::Receiver<()>>,
}

impl LiveFeed {
    /// Start the connection on a thread of its own (a current-thread tokio runtime), so
    /// the feed needs no runtime from its caller.
    pub fn start(
        spec: LiveSpec,
        decoder: Box<dyn FrameDecoder>,
        recorder: Option<Recorder>,
    ) -> std::io::Result<LiveFeed> {
        let instruments = decoder.instruments().to_vec();
        let n = instruments.len();
        let status = Arc::new(Mutex::new(LiveStatus {
            state: ConnState::Connecting,
            stats: vec![FeedStats::default(); n],
            unattributed_malformed: 0,
            connects: 0,
            disconnects: 0,
            stale_timeouts: 0,
            http_errors: 0,
            last_frame: None,
            last_error: None,
            failures: 0,
            retry_at: None,
        }));
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel();
        let venue = spec.venue.clone();
        let task = Conn {
            spec,
            decoder,
            recorder,
            tx,
            status: status.clone(),
            stop: stop_rx,
            synced: vec![false; n],
            announced: vec![false; n],
            out: Vec::new(),
            rng: seed_rng(),
            rest_hold: None,
            rest_last: Vec::new(),
        };
        std::thread::Builder::new()
            .name(format!("pit-live-{venue}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => {
                        rt.block_on(task.run());
                        rt.shutdown_timeout(Duration::from_millis(500));
                    }
                    Err(e) => tracing::error!("live feed: cannot start a runtime: {e}"),
                }
                let _ = done_tx.send(());
            })?;
        Ok(LiveFeed {
            venue,
            instruments,
            rx,
            buf: VecDeque::new(),
            status,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    /// A copy of the connection's counters.
    pub fn status(&self) -> LiveStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn fill(&mut self) {
        while let Ok(batch) = self.rx.try_recv() {
            self.buf.extend(batch);
        }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        // Let the task close the socket and flush the recording, but never hang on it.
        if let Some(d) = self.done.take() {
            let _ = d.recv_timeout(Duration::from_secs(2));
        }
    }
}

impl MarketDataPort for LiveFeed {
    fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
    fn peek_time(&mut self) -> Option<Timestamp> {
        if self.buf.is_empty() {
            self.fill();
        }
        self.buf.front().map(|e| e.ts)
    }
    fn next_event(&mut self) -> Option<MarketEvent> {
        if self.buf.is_empty() {
            self.fill();
        }
        self.buf.pop_front()
    }
    fn is_live(&self) -> bool {
        true
    }
    fn wait_ready(&mut self, deadline: Instant) {
        if !self.buf.is_empty() {
            return;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        if let Ok(batch) = self.rx.recv_timeout(wait) {
            self.buf.extend(batch);
        }
    }
    fn market_data_latency(&self) -> Vec<crate::engine::view::MdLatency> {
        let s = self.status();
        md_latency(&self.venue, &self.instruments, &s.stats)
    }
    fn health(&self) -> Vec<FeedHealth> {
        let s = self.status();
        let age = s.last_frame.map(|t| t.elapsed());
        self.instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let st = s.stats.get(i).copied().unwrap_or_default();
                FeedHealth {
                    venue: self.venue.clone(),
                    symbol: inst.symbol.clone(),
                    connection: s.state.as_str().to_string(),
                    frames: st.frames,
                    bytes: st.bytes,
                    gaps: st.gaps,
                    resyncs: st.resyncs,
                    checksums_checked: st.checksums_checked,
                    checksums_failed: st.checksums_failed,
                    // Frames that named no instrument are shown on the first row.
                    malformed: st.malformed + if i == 0 { s.unattributed_malformed } else { 0 },
                    reconnects: s.connects.saturating_sub(1),
                    last_frame_age: age,
                    retry_in: s
                        .retry_at
                        .filter(|_| s.state == ConnState::Backoff)
                        .map(|t| t.saturating_duration_since(Instant::now())),
                    last_error: s.last_error.clone(),
                    failures: s.failures,
                }
            })
            .collect()
    }
}

/// Each instrument's market-data latency, for those whose frames carried an event time.
pub(crate) fn md_latency(
    venue: &str,
    instruments: &[Instrument],
    stats: &[crate::venue::exchanges::decode::FeedStats],
) -> Vec<crate::engine::view::MdLatency> {
    instruments
        .iter()
        .zip(stats)
        .filter(|(_, s)| s.md_latency.count > 0)
        .map(|(inst, s)| crate::engine::view::MdLatency {
            venue: venue.to_string(),
            symbol: inst.symbol.clone(),
            latency: s.md_latency,
        })
        .collect()
}

/// Why a connection ended.
enum End {
    Stopped,
    Lost(String),
}

/// The connection task's state.
struct Conn {
    spec: LiveSpec,
    decoder: Box<dyn FrameDecoder>,
    recorder: Option<Recorder>,
    tx: mpsc::Sender<Vec<MarketEvent>>,
    status: Arc<Mutex<LiveStatus>>,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Books that had a snapshot and no RESYNCING since.
    synced: Vec<bool>,
    /// Books this task marked RESYNCING on a disconnect (the decoder's own mark for the
    /// same episode is not forwarded).
    announced: Vec<bool>,
    out: Vec<MarketEvent>,
    rng: u64,
    /// No REST request starts before this (a throttled answer's `Retry-After`). Kept
    /// across reconnects: a new connection's snapshot waits too.
    rest_hold: Option<Instant>,
    /// When a REST request for each URL last started (or is due to start).
    rest_last: Vec<(String, Instant)>,
}

/// A seed for the backoff jitter (not for anything that decides a trade).
fn seed_rng() -> u64 {
    let t = WallClock.now().0 as u64;
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The result of a REST request run off the reactor: url, attempt, body or error.
type HttpDone = (String, u32, Result<String, HttpFailure>);

/// The least time between the starts of two REST requests for the same URL. A snapshot
/// refetched at once, because the last one was older than the stream, would otherwise
/// be a tight loop on an endpoint that is heavy (Binance: weight 50 of 6,000 a minute at
/// `limit=1000`) and whose abuse ends in an IP ban.
pub const REST_MIN_GAP: Duration = Duration::from_millis(500);

/// A REST request that failed: why, and how long the venue asked us to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpFailure {
    pub message: String,
    /// The `Retry-After` of a 429 or 418 answer, in seconds as the venue wrote it.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(d) = self.retry_after {
            write!(f, " (Retry-After: {} s)", d.as_secs())?;
        }
        Ok(())
    }
}

impl Conn {
    fn status(&self, f: impl FnOnce(&mut LiveStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// xorshift64*: jitter only.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The delay before attempt `n` (1-based): min * 2^(n-1), capped, then a random
    /// point between half and all of it.
    fn backoff(&mut self, n: u32) -> Duration {
        let base = self.spec.backoff_min.as_millis() as u64;
        let max = self.spec.backoff_max.as_millis() as u64;
        let d = base
            .saturating_mul(1u64 << n.saturating_sub(1).min(20))
            .min(max);
        let half = d / 2;
        Duration::from_millis(half + self.random() % (d - half + 1))
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            if self.stopped() {
                break;
            }
            self.status(|s| {
                s.state = ConnState::Connecting;
                s.retry_at = None;
            });
            let url = self.spec.url.clone();
            let connect = tokio_tungstenite::connect_async(url.as_str());
            let mut stop = self.stop.clone();
            let res = tokio::select! {
                r = tokio::time::timeout(self.spec.io_timeout, connect) => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            match res {
                Ok(Ok((ws, _))) => {
                    let opened = Instant::now();
                    self.status(|s| {
                        s.state = ConnState::Connected;
                        s.connects += 1;
                        s.last_frame = Some(Instant::now());
                    });
                    tracing::info!(venue = %self.spec.venue, %url, "connected");
                    self.line(Direction::Connect, &url, String::new());
                    match self.session(ws).await {
                        End::Stopped => break,
                        End::Lost(why) => {
                            crate::warn_limited!("feed.connection", venue = %self.spec.venue, "connection lost: {why}");
                            self.status(|s| {
                                s.disconnects += 1;
                                s.last_error = Some(why.clone());
                            });
                            self.announce_resync(&why);
                        }
                    }
                    if opened.elapsed() >= Duration::from_secs(30) {
                        attempt = 0;
                    }
                }
                Ok(Err(e)) => {
                    crate::warn_limited!("feed.connection", venue = %self.spec.venue, %url, "connect failed: {e}");
                    self.status(|s| s.last_error = Some(format!("connect: {e}")));
                }
                Err(_) => {
                    crate::warn_limited!("feed.connection", venue = %self.spec.venue, %url, "connect timed out");
                    self.status(|s| s.last_error = Some("connect timed out".into()));
                }
            }
            attempt = attempt.saturating_add(1);
            let delay = self.backoff(attempt);
            self.status(|s| {
                s.state = ConnState::Backoff;
                s.failures += 1;
                s.retry_at = Some(Instant::now() + delay);
            });
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        self.status(|s| s.state = ConnState::Stopped);
        if let Some(r) = &mut self.recorder
            && let Err(e) = r.finish()
        {
            tracing::error!("live recording: {e}");
        }
    }

    /// One connection, until it ends.
    async fn session(&mut self, ws: Ws) -> End {
        let (mut sink, mut stream) = ws.split();
        let url = self.spec.url.clone();
        for f in self.spec.subscribe.clone() {
            if let Err(e) = sink.send(Message::text(f.clone())).await {
                return End::Lost(format!("subscribe: {e}"));
            }
            self.line(Direction::Send, &url, f);
        }
        let (http_tx, mut http_rx) = tokio::sync::mpsc::unbounded_channel::<HttpDone>();
        let ping_every = self
            .spec
            .ping
            .as_ref()
            .map_or(Duration::from_secs(3600), |p| p.0);
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let check_every =
            (self.spec.stale_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut check = tokio::time::interval(check_every);
        let mut last_frame = Instant::now();
        let mut stop = self.stop.clone();
        loop {
            let requests = tokio::select! {
                _ = stop.wait_for(|s| *s) => {
                    let _ = sink.send(Message::Close(None)).await;
                    return End::Stopped;
                }
                msg = stream.next() => {
                    last_frame = Instant::now();
                    self.status(|s| s.last_frame = Some(last_frame));
                    match msg {
                        None => return End::Lost("closed by the venue".into()),
                        Some(Err(e)) => return End::Lost(format!("{e}")),
                        Some(Ok(Message::Text(t))) => {
                            self.line(Direction::Recv, &url, t.as_str().to_string());
                        }
                        Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                            Ok(t) => self.line(Direction::Recv, &url, t),
                            Err(_) => {
                                crate::warn_limited!("feed.malformed", venue = %self.spec.venue, "malformed frame: binary, not UTF-8");
                                self.status(|s| s.unattributed_malformed += 1);
                            }
                        },
                        Some(Ok(Message::Close(c))) => {
                            return End::Lost(format!("closed by the venue: {c:?}"));
                        }
                        // Pings are answered by tungstenite; pongs and pings feed the timer.
                        Some(Ok(_)) => {}
                    }
                    self.decoder.requests()
                }
                Some((u, n, body)) = http_rx.recv() => match body {
                    Ok(b) => {
                        self.line(Direction::Http, &u, b);
                        self.decoder.requests()
                    }
                    Err(e) => {
                        crate::warn_limited!("feed.rest", venue = %self.spec.venue, url = %u, attempt = n, "REST request failed: {e}");
                        self.status(|s| { s.http_errors += 1; s.last_error = Some(format!("REST: {e}")); });
                        if let Some(wait) = e.retry_after {
                            let until = Instant::now() + wait;
                            self.rest_hold = Some(self.rest_hold.map_or(until, |h| h.max(until)));
                        }
                        if n >= 3 {
                            return End::Lost(format!("REST snapshot failed {n} times: {e}"));
                        }
                        self.http(&http_tx, u, n + 1, Duration::from_millis(500 * u64::from(n)));
                        Vec::new()
                    }
                },
                _ = ping.tick(), if self.spec.ping.is_some() => {
                    let text = self.spec.ping.as_ref().map(|p| p.1.clone()).unwrap_or_default();
                    if let Err(e) = sink.send(Message::text(text.clone())).await {
                        return End::Lost(format!("ping: {e}"));
                    }
                    self.line(Direction::Send, &url, text);
                    Vec::new()
                }
                _ = check.tick() => {
                    if last_frame.elapsed() >= self.spec.stale_after {
                        self.status(|s| s.stale_timeouts += 1);
                        return End::Lost(format!("stale feed: no frame for {:?}", self.spec.stale_after));
                    }
                    Vec::new()
                }
            };
            for r in requests {
                match r {
                    FeedRequest::Send(text) => {
                        if let Err(e) = sink.send(Message::text(text.clone())).await {
                            return End::Lost(format!("send: {e}"));
                        }
                        self.line(Direction::Send, &url, text);
                    }
                    FeedRequest::Http(u) => self.http(&http_tx, u, 1, Duration::ZERO),
                    FeedRequest::Reconnect => {
                        let _ = sink.send(Message::Close(None)).await;
                        return End::Lost("the decoder asked to reconnect".into());
                    }
                }
            }
            if self.tx_closed() {
                return End::Stopped;
            }
        }
    }

    /// Fetch `url` on the blocking pool after `delay`; the body comes back on `tx`.
    ///
    /// Never before a throttled answer's `Retry-After` has passed, nor sooner than
    /// [`REST_MIN_GAP`] after the last request for the same URL. Binance's REST limits
    /// (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits): "When
    /// a 429 is received, it's your obligation as an API to back off and not spam the
    /// API"; "A `Retry-After` header is sent with a 418 or 429 responses and will give the
    /// number of seconds required to wait"; failing to back off ends in an IP ban (418).
    fn http(
        &mut self,
        tx: &tokio::sync::mpsc::UnboundedSender<HttpDone>,
        url: String,
        attempt: u32,
        delay: Duration,
    ) {
        let now = Instant::now();
        let mut start = now + delay;
        if let Some(hold) = self.rest_hold {
            start = start.max(hold);
        }
        match self.rest_last.iter_mut().find(|(u, _)| *u == url) {
            Some((_, last)) => {
                start = start.max(*last + REST_MIN_GAP);
                *last = start;
            }
            None => self.rest_last.push((url.clone(), start)),
        }
        let delay = start.saturating_duration_since(now);
        let tx = tx.clone();
        let timeout = self.spec.io_timeout;
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let u = url.clone();
            let body = tokio::task::spawn_blocking(move || http_fetch(&u, timeout))
                .await
                .unwrap_or_else(|e| {
                    Err(HttpFailure {
                        message: format!("{e}"),
                        retry_after: None,
                    })
                });
            let _ = tx.send((url, attempt, body));
        });
    }

    fn tx_closed(&self) -> bool {
        // A zero-length batch probes whether the feed still exists.
        self.tx.send(Vec::new()).is_err()
    }

    /// One capture line: to the recorder and the decoder; the events go to the engine.
    fn line(&mut self, dir: Direction, url: &str, frame: String) {
        let line = CaptureLine {
            ts_ns: WallClock.now().0,
            venue: self.spec.venue.clone(),
            dir,
            url: url.to_string(),
            frame,
        };
        if let Some(r) = &mut self.recorder
            && let Err(e) = r.write(&line)
        {
            tracing::error!("live recording stopped: {e}");
            self.recorder = None;
        }
        let mut out = std::mem::take(&mut self.out);
        self.decoder.on_line(&line, &mut out);
        out.retain(|ev| self.keep(ev));
        let stats = self.decoder.stats();
        let unattributed = self.decoder.unattributed_malformed();
        self.status(|s| {
            s.stats = stats;
            s.unattributed_malformed = unattributed;
        });
        if !out.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut out));
        }
        self.out = out;
    }

    /// Track each book's sync state; drop the decoder's RESYNCING for an episode this
    /// task already announced.
    fn keep(&mut self, ev: &MarketEvent) -> bool {
        let i = ev.instrument.index();
        if i >= self.synced.len() {
            return true;
        }
        match ev.kind {
            MarketEventKind::Snapshot { .. } => {
                self.synced[i] = true;
                self.announced[i] = false;
                true
            }
            MarketEventKind::Resyncing { .. } => {
                self.synced[i] = false;
                !std::mem::replace(&mut self.announced[i], false)
            }
            _ => true,
        }
    }

    /// The connection is gone: every synced book is RESYNCING now.
    fn announce_resync(&mut self, why: &str) {
        let ts = Timestamp(WallClock.now().0);
        let mut batch = Vec::new();
        for i in 0..self.synced.len() {
            if self.synced[i] {
                self.synced[i] = false;
                self.announced[i] = true;
                batch.push(MarketEvent {
                    ts,
                    instrument: InstrumentId(i as u16),
                    kind: MarketEventKind::Resyncing {
                        reason: format!("disconnected: {why}"),
                    },
                });
            }
        }
        if !batch.is_empty() {
            let _ = self.tx.send(batch);
        }
    }
}

/// A GET with a timeout; the body as text.
pub fn http_get(url: &str, timeout: Duration) -> Result<String, String> {
    http_fetch(url, timeout).map_err(|e| e.to_string())
}

/// A GET with a timeout; the body as text, or why not, with the `Retry-After` of an
/// answer that says to wait.
pub fn http_fetch(url: &str, timeout: Duration) -> Result<String, HttpFailure> {
    let fail = |message: String| HttpFailure {
        message,
        retry_after: None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        // Seconds, as Binance sends it (an HTTP date is not used by the venues here).
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(HttpFailure {
            message: format!("http status: {}", status.as_u16()),
            retry_after,
        });
    }
    resp.body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| fail(e.to_string()))
}

/// Tick, lot and (where the venue writes sizes in contracts) coins per contract of one
/// symbol, from the venue's instrument endpoint where its registry entry has one (Binance
/// `exchangeInfo`, Bybit `instruments-info`, OKX `public/instruments`, Coinbase
/// `market/products`). An error when the venue has none here or it cannot be reached.
#[allow(clippy::type_complexity)]
pub fn fetch_tick_lot(
    venue: &str,
    s: &LiveSettings,
    symbol: &str,
) -> Result<
    (
        rust_decimal::Decimal,
        rust_decimal::Decimal,
        Option<rust_decimal::Decimal>,
    ),
    String,
> {
    let Some(meta) = registry::find(venue).and_then(|e| e.metadata.as_ref()) else {
        return Err(format!("{venue} has no instrument endpoint here"));
    };
    let base = if s.rest_url.is_empty() {
        meta.rest_base
    } else {
        s.rest_url.trim_end_matches('/')
    };
    let url = (meta.url)(base, s, symbol);
    let body = http_get(&url, Duration::from_secs(5))?;
    let (tick, lot) = meta
        .tick_lot(&body)
        .ok_or_else(|| format!("{url}: no tick or lot size in the answer"))?;
    Ok((tick, lot, meta.contract_value(&body)))
}

/// Tick and lot used when neither the config nor the venue gives them: `1e-8`, the grid
/// every venue here publishes on exactly (so no frame is refused as off the grid).
pub const FALLBACK_STEP: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(1, 0, 0, false, 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let (spec, dec) = venue_spec("bybit", &LiveSettings::default(), Vec::new()).unwrap();
        let (tx, _rx) = mpsc::channel();
        let (_s, stop) = tokio::sync::watch::channel(false);
        let mut c = Conn {
            spec,
            decoder: dec,
            recorder: None,
            tx,
            status: Arc::new(Mutex::new(LiveStatus {
                state: ConnState::Connecting,
                stats: Vec::new(),
                unattributed_malformed: 0,
                connects: 0,
                disconnects: 0,
                stale_timeouts: 0,
                http_errors: 0,
                last_frame: None,
                last_error: None,
                failures: 0,
                retry_at: None,
            })),
            stop,
            synced: Vec::new(),
            announced: Vec::new(),
            out: Vec::new(),
            rng: 7,
            rest_hold: None,
            rest_last: Vec::new(),
        };
        for n in 1..40 {
            let d = c.backoff(n).as_millis() as u64;
            let full = (500u64 << (n - 1).min(20)).min(30_000);
            assert!(d >= full / 2 && d <= full, "attempt {n}: {d} ms");
        }
    }

    #[test]
    fn every_venue_has_a_spec() {
        for v in registry::names() {
            let (spec, dec) = venue_spec(v, &LiveSettings::default(), Vec::new()).unwrap();
            assert_eq!(dec.venue(), v);
            assert!(spec.url.starts_with("wss://"), "{}", spec.url);
        }
        assert!(venue_spec("moon", &LiveSettings::default(), Vec::new()).is_err());
        let s = LiveSettings {
            ws_url: "ws://127.0.0.1:9".into(),
            ..LiveSettings::default()
        };
        assert_eq!(
            venue_spec("kraken", &s, Vec::new()).unwrap().0.url,
            "ws://127.0.0.1:9"
        );
    }
}
