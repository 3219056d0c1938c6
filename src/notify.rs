//! `[notify]`: tell a person, away from the screen, what they must know: a CRITICAL alert,
//! the kill switch, a fill above a size, the trading day's summary. A command is run
//! (without a shell; the message on its stdin and in `PIT_NOTIFY_KIND` / `PIT_NOTIFY_TEXT`)
//! and/or a JSON body `{"kind","text","ts"}` is posted to a webhook (a Telegram bot's
//! `sendMessage` URL, a Slack hook, ntfy ...). The console's terminal bell for CRITICAL
//! stays as it is.
//!
//! Nothing here runs on the engine thread but [`NotifyObserver::on_effect`], which looks at
//! an effect and at most hands a short message to a bounded channel with `try_send`: a full
//! channel drops the message and counts it, it never waits. A thread of its own delivers:
//! the command with a timeout (killed when it hangs), the POST with a timeout; at most
//! `rate_limit` messages a minute, the rest folded into one "N more suppressed" message;
//! failures logged through the rate-limited warning ([`crate::warn_limited!`]).
//!
//! A webhook URL can hold a secret (a Telegram bot token is part of the path): it is never
//! logged or put in error text whole, only its scheme and host ([`redact`]).

use crate::domain::{Invalid, Timestamp, TradingState};
use crate::engine::{AlertLevel, Effect, Engine};
use crate::runner::RunObserver;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Messages waiting for the delivery thread; more are dropped (and counted).
const QUEUE: usize = 256;
/// The window `rate_limit` counts in.
const WINDOW: Duration = Duration::from_secs(60);

/// What a message is about; `on` lists the kinds that are sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// A CRITICAL alert (other than the halt itself, which is `kill`).
    Critical,
    /// Trading went HALTED: the kill switch (key, `pit kill`, `HALT` file, signal) or a
    /// risk halt.
    Kill,
    /// A fill whose notional is at least `fill_min_notional`.
    Fill,
    /// The summary of the trading day that just ended (at `engine.day_boundary`).
    Daily,
    /// "N more suppressed": the rate limit's fold (always sent, never configured).
    #[serde(skip)]
    Suppressed,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Critical => "critical",
            NotifyKind::Kill => "kill",
            NotifyKind::Fill => "fill",
            NotifyKind::Daily => "daily",
            NotifyKind::Suppressed => "suppressed",
        }
    }
}

/// `[notify]` in config.toml. Off unless `command` or `webhook` is set.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Program and arguments, run without a shell, e.g. `["notify-send", "pit"]`.
    pub command: Vec<String>,
    /// An `http://` or `https://` URL to POST `{"kind","text","ts"}` to.
    pub webhook: String,
    /// Which kinds are sent.
    pub on: Vec<NotifyKind>,
    /// A fill is sent when its notional (quote currency) is at least this.
    pub fill_min_notional: Decimal,
    /// At most this many messages a minute; the rest are folded into one.
    pub rate_limit: u32,
    /// How long one command or POST may take before it is given up (a command is killed).
    pub timeout_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            command: Vec::new(),
            webhook: String::new(),
            on: vec![NotifyKind::Critical, NotifyKind::Kill, NotifyKind::Daily],
            fill_min_notional: Decimal::ZERO,
            rate_limit: 10,
            timeout_ms: 5_000,
        }
    }
}

/// The webhook is shown redacted: it may hold a token.
impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("command", &self.command)
            .field("webhook", &redact(&self.webhook))
            .field("on", &self.on)
            .field("fill_min_notional", &self.fill_min_notional)
            .field("rate_limit", &self.rate_limit)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl NotifyConfig {
    /// Whether anything is to be sent.
    pub fn enabled(&self) -> bool {
        (!self.command.is_empty() || !self.webhook.is_empty()) && !self.on.is_empty()
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(first) = self.command.first()
            && first.trim().is_empty()
        {
            return Err(Invalid::new(
                "command",
                "the program (the first item) is empty; write e.g. [\"notify-send\", \"pit\"], or [] for no command",
            ));
        }
        if !self.webhook.is_empty() {
            check_url(&self.webhook).map_err(|why| Invalid::new("webhook", why))?;
        }
        if self.fill_min_notional < Decimal::ZERO {
            return Err(Invalid::new(
                "fill_min_notional",
                format!(
                    "{} is negative; 0 sends every fill (when \"fill\" is in `on`)",
                    self.fill_min_notional
                ),
            ));
        }
        if self.rate_limit == 0 {
            return Err(Invalid::new(
                "rate_limit",
                "must be at least 1 message a minute; leave `command` and `webhook` empty to send none",
            ));
        }
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(Invalid::new(
                "timeout_ms",
                format!("{} is out of range: 100 to 60000 ms", self.timeout_ms),
            ));
        }
        Ok(())
    }
}

/// Why `url` is no webhook; the text never holds the URL's path or query (they may hold a
/// token).
fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| format!("'{}' is not a URL", redact(url)))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "'{}' is not an http:// or https:// URL",
                redact(url)
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("'{}' has no host", redact(url)));
    }
    Ok(())
}

/// `url` with everything after the host (and any user:password) replaced by `...`:
/// `https://api.telegram.org/...`.
pub fn redact(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "...".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let elided = host.len() < rest.len() || authority.contains('@');
    format!("{scheme}://{host}{}", if elided { "/..." } else { "" })
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: NotifyKind,
    pub text: String,
    /// Engine time of what it tells.
    pub ts: Timestamp,
}

impl Notice {
    /// The webhook's body.
    pub fn json(&self) -> String {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "text": self.text,
            "ts": self.ts.to_rfc3339(),
        })
        .to_string()
    }
}

/// What the day brought, counted from effects (the engine resets its own day figures
/// before it raises the new day's alert).
#[derive(Clone, Debug, Default)]
struct DayTally {
    fills: u64,
    notional: Decimal,
    fees: Decimal,
    trades: u64,
    pnl: Decimal,
}

/// The engine side: picks the effects worth telling and hands them over without waiting.
pub struct NotifyObserver {
    tx: SyncSender<Notice>,
    on: Vec<NotifyKind>,
    fill_min: Decimal,
    dropped: Arc<AtomicU64>,
    day: DayTally,
}

impl NotifyObserver {
    fn wants(&self, kind: NotifyKind) -> bool {
        self.on.contains(&kind)
    }

    fn send(&self, kind: NotifyKind, ts: Timestamp, text: String) {
        match self.tx.try_send(Notice { kind, text, ts }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn daily(&mut self, engine: &Engine, now: Timestamp, alert_text: &str) {
        let d = std::mem::take(&mut self.day);
        let text = format!(
            "daily summary: {} fills (notional {}, fees {}), {} round trips closed, net PnL {}; equity {}. {}",
            d.fills,
            d.notional.round_dp(2).normalize(),
            d.fees.round_dp(2).normalize(),
            d.trades,
            d.pnl.round_dp(2).normalize(),
            engine.equity().round_dp(2).normalize(),
            alert_text
        );
        self.send(NotifyKind::Daily, now, text);
    }
}

/// The text of the engine's INFO alert at the trading day's boundary starts so.
const NEW_DAY: &str = "new trading day";
/// The kill's CRITICAL alert starts so (the `kill` notice covers it).
const HALTED: &str = "HALTED:";

impl RunObserver for NotifyObserver {
    fn on_effect(&mut self, engine: &Engine, now: Timestamp, effect: &Effect) {
        match effect {
            Effect::Alert(a) if a.level == AlertLevel::Critical => {
                if a.text.starts_with(HALTED) && self.wants(NotifyKind::Kill) {
                    return;
                }
                if self.wants(NotifyKind::Critical) {
                    self.send(
                        NotifyKind::Critical,
                        now,
                        format!("CRITICAL [{}] {}", a.source, a.text),
                    );
                }
            }
            Effect::Alert(a)
                if a.level == AlertLevel::Info
                    && a.source == "risk"
                    && a.text.starts_with(NEW_DAY)
                    && self.wants(NotifyKind::Daily) =>
            {
                self.daily(engine, now, &a.text);
            }
            Effect::StateChanged {
                state: TradingState::Halted,
                reason,
            } if self.wants(NotifyKind::Kill) => {
                let why = reason.as_deref().unwrap_or("no reason given");
                self.send(
                    NotifyKind::Kill,
                    now,
                    format!("KILL SWITCH: trading HALTED ({why}); re-arm by hand"),
                );
            }
            Effect::Fill(f) => {
                let Some(inst) = engine.instruments().get(usize::from(f.instrument.0)) else {
                    return;
                };
                let notional = inst.notional(f.price, f.qty);
                self.day.fills += 1;
                self.day.notional += notional;
                self.day.fees += f.fee;
                if self.wants(NotifyKind::Fill) && notional >= self.fill_min {
                    self.send(
                        NotifyKind::Fill,
                        now,
                        format!(
                            "FILL {} {} {} @ {} (notional {}, {})",
                            f.side,
                            inst.qty(f.qty).normalize(),
                            inst.symbol,
                            inst.price(f.price).normalize(),
                            notional.round_dp(2).normalize(),
                            f.client_id.as_str()
                        ),
                    );
                }
            }
            Effect::TradeClosed(t) => {
                self.day.trades += 1;
                self.day.pnl += t.pnl;
            }
            _ => {}
        }
    }
}

/// The delivery thread; on drop it is given a moment to deliver what is queued, then a
/// command still running is killed.
pub struct Notifier {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    grace: Duration,
}

impl Notifier {
    /// Start delivering for `cfg`; `None` when notifications are off. The observer goes to
    /// the runner.
    pub fn start(cfg: &NotifyConfig) -> std::io::Result<Option<(Notifier, NotifyObserver)>> {
        if !cfg.enabled() {
            return Ok(None);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            cfg: cfg.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms),
            stop: stop.clone(),
            dropped: dropped.clone(),
            sent: VecDeque::new(),
            suppressed: 0,
            last_ts: Timestamp::ZERO,
        };
        let thread = std::thread::Builder::new()
            .name("pit-notify".into())
            .spawn(move || worker.run(rx))?;
        tracing::info!(
            command = ?cfg.command.first(),
            webhook = %redact(&cfg.webhook),
            on = ?cfg.on,
            "notifications on"
        );
        let observer = NotifyObserver {
            tx,
            on: cfg.on.clone(),
            fill_min: cfg.fill_min_notional,
            dropped,
            day: DayTally::default(),
        };
        let grace = (Duration::from_millis(cfg.timeout_ms) * 2).min(Duration::from_secs(10));
        Ok(Some((
            Notifier {
                stop,
                thread: Some(thread),
                grace,
            },
            observer,
        )))
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        // The engine has ended (its observer, the sender, is gone): what is queued goes out.
        let deadline = Instant::now() + self.grace;
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!("notifications: the delivery thread did not stop; left behind");
        }
    }
}

struct Worker {
    cfg: NotifyConfig,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    /// When the messages of the last minute went out.
    sent: VecDeque<Instant>,
    /// Held back by the rate limit since the last fold.
    suppressed: u64,
    last_ts: Timestamp,
}

impl Worker {
    fn run(&mut self, rx: Receiver<Notice>) {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(n) => {
                    self.last_ts = n.ts;
                    self.fold_if_room();
                    if self.room() {
                        self.deliver(&n);
                    } else {
                        self.suppressed += 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fold_if_room(),
                Err(RecvTimeoutError::Disconnected) => {
                    // The run is over: what was held back is told once, limit or not.
                    self.take_dropped();
                    if self.suppressed > 0 && !self.stop.load(Ordering::Relaxed) {
                        self.fold();
                    }
                    return;
                }
            }
        }
    }

    fn take_dropped(&mut self) {
        self.suppressed += self.dropped.swap(0, Ordering::Relaxed);
    }

    fn room(&mut self) -> bool {
        let now = Instant::now();
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        self.sent.len() < self.cfg.rate_limit as usize
    }

    fn fold_if_room(&mut self) {
        self.take_dropped();
        if self.suppressed > 0 && self.room() {
            self.fold();
        }
    }

    fn fold(&mut self) {
        let n = std::mem::take(&mut self.suppressed);
        let notice = Notice {
            kind: NotifyKind::Suppressed,
            text: format!(
                "{n} more suppressed (more than {} messages a minute, or the queue was full)",
                self.cfg.rate_limit
            ),
            ts: self.last_ts,
        };
        self.deliver(&notice);
    }

    fn deliver(&mut self, n: &Notice) {
        self.sent.push_back(Instant::now());
        if !self.cfg.command.is_empty()
            && let Err(why) = run_command(&self.cfg.command, n, self.timeout, &self.stop)
        {
            crate::warn_limited!(
                "notify.command",
                program = %self.cfg.command[0],
                kind = n.kind.as_str(),
                "notification command failed: {why}"
            );
        }
        if !self.cfg.webhook.is_empty()
            && let Err(why) = post(&self.cfg.webhook, n, self.timeout)
        {
            crate::warn_limited!(
                "notify.webhook",
                webhook = %redact(&self.cfg.webhook),
                kind = n.kind.as_str(),
                "notification webhook failed: {why}"
            );
        }
    }
}

/// Run `argv` with the message on stdin and in the environment; killed after `timeout` (or
/// when `stop` is set).
fn run_command(
    argv: &[String],
    n: &Notice,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("PIT_NOTIFY_KIND", n.kind.as_str())
        .env("PIT_NOTIFY_TEXT", &n.text)
        .env("PIT_NOTIFY_TS", n.ts.to_rfc3339())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // One short line fits the pipe's buffer: this does not wait on the child. A child
        // that does not read its stdin is no failure.
        let _ = writeln!(stdin, "{}", n.text);
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "still running after {} ms: killed",
                timeout.as_millis()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// POST the message's JSON to `url`. The error never holds the URL.
fn post(url: &str, n: &Notice, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(n.json())
        .map_err(|e| scrub(&e.to_string(), url))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("http status {}", status.as_u16()));
    }
    Ok(())
}

/// `text` with `url` (and its path, which may hold a token) replaced by the redacted form.
fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact(url));
    if let Some((_, rest)) = url.split_once("://")
        && let Some(i) = rest.find(['/', '?', '#'])
    {
        let tail = &rest[i..];
        if tail.len() > 1 {
            out = out.replace(tail, "/...");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_shown_without_its_path_or_credentials() {
        let u = "https://api.telegram.org/bot123456:SECRET/sendMessage?chat_id=9";
        assert_eq!(redact(u), "https://api.telegram.org/...");
        assert_eq!(redact("http://user:pw@host:8080"), "http://host:8080/...");
        assert_eq!(redact("http://127.0.0.1:9/"), "http://127.0.0.1:9/...");
        assert_eq!(redact("http://127.0.0.1:9"), "http://127.0.0.1:9");
        let c = NotifyConfig {
            webhook: u.into(),
            ..NotifyConfig::default()
        };
        assert!(!format!("{c:?}").contains("SECRET"));
        let err = scrub(&format!("io: connect {u}: refused"), u);
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key_without_the_secret() {
        let bad = |c: NotifyConfig| c.validate().unwrap_err();
        let e = bad(NotifyConfig {
            webhook: "ftp://host/bot:SECRET".into(),
            ..NotifyConfig::default()
        });
        assert_eq!(e.key, "webhook");
        assert!(!e.message.contains("SECRET"), "{}", e.message);
        let e = bad(NotifyConfig {
            rate_limit: 0,
            ..NotifyConfig::default()
        });
        assert_eq!(e.key, "rate_limit");
        let e = bad(NotifyConfig {
            command: vec![" ".into()],
            ..NotifyConfig::default()
        });
        assert_eq!(e.key, "command");
        let e = bad(NotifyConfig {
            fill_min_notional: Decimal::NEGATIVE_ONE,
            ..NotifyConfig::default()
        });
        assert_eq!(e.key, "fill_min_notional");
        assert!(NotifyConfig::default().validate().is_ok());
        assert!(!NotifyConfig::default().enabled());
    }

    fn worker(rate_limit: u32, command: Vec<String>) -> Worker {
        Worker {
            cfg: NotifyConfig {
                command,
                rate_limit,
                ..NotifyConfig::default()
            },
            timeout: Duration::from_millis(300),
            stop: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
            sent: VecDeque::new(),
            suppressed: 0,
            last_ts: Timestamp::ZERO,
        }
    }

    fn notice(text: &str) -> Notice {
        Notice {
            kind: NotifyKind::Critical,
            text: text.into(),
            ts: Timestamp::ZERO,
        }
    }

    /// Over the limit, messages are held back and told as one fold at the end of the run.
    #[test]
    fn over_the_rate_limit_the_rest_fold_into_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat >> '{}'", out.display());
        let mut w = worker(3, vec!["sh".into(), "-c".into(), script]);
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        for i in 0..10 {
            tx.send(notice(&format!("m{i}"))).unwrap();
        }
        drop(tx);
        w.run(rx);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(&lines[..3], ["m0", "m1", "m2"]);
        assert!(lines[3].starts_with("7 more suppressed"), "{text}");
    }

    /// A command that hangs is killed at the timeout, and the next message still goes.
    #[test]
    fn a_hanging_command_is_killed_at_its_timeout() {
        let stop = AtomicBool::new(false);
        let t0 = Instant::now();
        let argv = vec!["sleep".to_string(), "30".to_string()];
        let err = run_command(&argv, &notice("x"), Duration::from_millis(200), &stop).unwrap_err();
        assert!(err.contains("killed"), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let err = run_command(
            &["/nonexistent/pit-notify".to_string()],
            &notice("x"),
            Duration::from_millis(200),
            &stop,
        )
        .unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let obs = NotifyObserver {
            tx,
            on: vec![NotifyKind::Critical],
            fill_min: Decimal::ZERO,
            dropped: Arc::new(AtomicU64::new(0)),
            day: DayTally::default(),
        };
        for _ in 0..5 {
            obs.send(NotifyKind::Critical, Timestamp::ZERO, "x".into());
        }
        assert_eq!(obs.dropped.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn the_json_body_has_kind_text_and_ts() {
        let v: serde_json::Value = serde_json::from_str(&notice("a \"b\"").json()).unwrap();
        assert_eq!(v["kind"], "critical");
        assert_eq!(v["text"], "a \"b\"");
        assert_eq!(v["ts"], "1970-01-01T00:00:00.000Z");
    }
}
