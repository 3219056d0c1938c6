//! Trading sessions (`[[sessions]]`): per instrument, the local hours of a time zone in
//! which it may take new orders.
//!
//! A window opens `pre_open_minutes` before `start` and closes `post_close_minutes` after
//! `end` (local wall-clock times of `timezone`, an IANA zone such as `America/New_York`;
//! `end` at or before `start` ends the next day, and `start == end` is a whole day), on the
//! days `allowed_weekdays` names (the weekday of the window's `start`). Its phases:
//!
//! | phase | from .. to | new orders |
//! |---|---|---|
//! | `PRE-OPEN` | start - pre_open .. start | limit orders only |
//! | `OPEN` | start .. end | all |
//! | `POST-CLOSE` | end .. end + post_close | limit orders only |
//! | `CLOSING` | the last `flat_before_close_minutes` of the window | none; every position of the instrument is flattened |
//! | `SESSION CLOSED` | outside every window | none |
//!
//! Reduce-only orders (exits, a flatten, the operator's reduce-only orders) and cancels
//! always pass. The risk engine refuses what a phase does not allow (manual orders and
//! strategies alike; `engine/risk/checks.rs`), the engine holds its strategies' new orders
//! without a refusal storm, and at a suspension cancels the instrument's working orders
//! that are not reduce-only.
//!
//! Time is the engine's only (`now` of each input): a replay or backtest of a recording
//! opens and closes the same sessions at the same recorded instants. Local times go to
//! instants with the compiled-in tz database (`chrono-tz`), so daylight saving is the
//! zone's: a 09:30 New York open is 14:30Z in winter and 13:30Z in summer. A local time
//! that does not exist (the spring-forward gap) is taken at the offset before the gap
//! (02:30 on a 02:00 -> 03:00 night is 03:30 daylight time); one that happens twice (the
//! autumn fall-back) at its first occurrence.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{InstrumentId, Invalid, Timestamp, TradingState};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

const MINUTES_PER_DAY: u32 = 1440;
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// One `[[sessions]]` entry of config.toml, as written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The instrument it applies to (a symbol of `[[instruments]]`).
    pub symbol: String,
    /// IANA time zone name, e.g. `"America/New_York"`, `"Europe/London"`, `"UTC"`.
    pub timezone: String,
    /// Local time the regular session starts, `"HH:MM"`.
    pub start: String,
    /// Local time it ends, `"HH:MM"`; at or before `start`: the next day.
    pub end: String,
    /// Days a window may start on: `"Mon"` .. `"Sun"` (or full names); default every day.
    #[serde(default = "every_day")]
    pub allowed_weekdays: Vec<String>,
    /// Minutes before `start` in which limit orders are taken (0: none).
    #[serde(default)]
    pub pre_open_minutes: u32,
    /// Minutes after `end` in which limit orders are taken (0: none).
    #[serde(default)]
    pub post_close_minutes: u32,
    /// Minutes before the window closes (`end + post_close_minutes`) at which every
    /// position of the instrument is flattened and new orders stop (0: positions may be
    /// carried over the close).
    #[serde(default)]
    pub flat_before_close_minutes: u32,
}

fn every_day() -> Vec<String> {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .map(|d| d.to_string())
        .collect()
}

/// A checked session for one instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub instrument: InstrumentId,
    pub symbol: String,
    tz: Tz,
    /// Local minutes after midnight.
    start: u32,
    /// Length of the regular session, minutes (1..=1440).
    len: u32,
    /// Bit n: `Weekday::num_days_from_monday() == n` may start a window.
    weekdays: u8,
    pre: u32,
    post: u32,
    flat: u32,
}

/// Where an instrument's session stands at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionPhase {
    PreOpen,
    Open,
    PostClose,
    /// The last `flat_before_close_minutes` of a window: positions are flattened.
    Closing,
    Closed,
}

impl SessionPhase {
    /// `OPEN`, `PRE-OPEN`, `POST-CLOSE`, `CLOSING (flat)`, `SESSION CLOSED`.
    pub fn word(self) -> &'static str {
        match self {
            SessionPhase::PreOpen => "PRE-OPEN",
            SessionPhase::Open => "OPEN",
            SessionPhase::PostClose => "POST-CLOSE",
            SessionPhase::Closing => "CLOSING (flat)",
            SessionPhase::Closed => "SESSION CLOSED",
        }
    }

    /// New orders are refused (reduce-only exits still pass).
    pub fn suspended(self) -> bool {
        matches!(self, SessionPhase::Closing | SessionPhase::Closed)
    }

    /// Only limit orders are taken (the thin books of the extended hours).
    pub fn limit_only(self) -> bool {
        matches!(self, SessionPhase::PreOpen | SessionPhase::PostClose)
    }
}

/// One window's instants (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// `start - pre_open`.
    opens: Timestamp,
    start: Timestamp,
    end: Timestamp,
    /// `end + post_close`.
    closes: Timestamp,
    /// `closes - flat_before_close` (== `closes` when 0).
    flat_at: Timestamp,
}

/// An instrument's session at an instant: its phase, until when, and the next window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionNow {
    pub phase: SessionPhase,
    /// When the phase ends (the next boundary).
    pub until: Timestamp,
    /// The start of the next window's trading (`start - pre_open`) when the session is
    /// suspended, else the current window's close.
    pub next: Timestamp,
    /// `next` in words, local and UTC: `Mon 2026-03-09 09:30 EDT (13:30Z)`.
    pub next_text: String,
    /// `until` in words.
    pub until_text: String,
}

/// An instrument's session as the console and `pit status` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub symbol: String,
    /// `OPEN`, `PRE-OPEN`, `POST-CLOSE`, `CLOSING (flat)`, `SESSION CLOSED`.
    pub state: String,
    /// New orders refused (CLOSING or SESSION CLOSED).
    pub suspended: bool,
    /// `opens 2026-03-09 09:30 EDT (13:30Z)` or `closes ...`.
    pub next: String,
    /// `09:30-16:00 America/New_York Mon-Fri`.
    pub window: String,
}

/// `"HH:MM"`, local.
fn parse_local(text: &str) -> Result<u32, String> {
    let bad = || format!("expected a local time of day \"HH:MM\" (e.g. \"09:30\"), got {text:?}");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h >= 24 || m >= 60 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    let all = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    all.iter()
        .find(|(short, long, _)| t == *short || t == *long)
        .map(|(_, _, d)| *d)
}

impl SessionConfig {
    /// Check the entry and bind it to its instrument (keys relative to the entry).
    pub fn build(&self, instruments: &[crate::domain::Instrument]) -> Result<Session, Invalid> {
        let inst = instruments
            .iter()
            .find(|i| i.symbol == self.symbol)
            .ok_or_else(|| {
                let known: Vec<&str> = instruments.iter().map(|i| i.symbol.as_str()).collect();
                Invalid::new(
                    "symbol",
                    format!(
                        "'{}' is not a configured instrument (known: {})",
                        self.symbol,
                        known.join(", ")
                    ),
                )
            })?;
        let tz: Tz = self.timezone.trim().parse().map_err(|_| {
            Invalid::new(
                "timezone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as \"America/New_York\", \"Europe/London\" or \"UTC\"",
                    self.timezone
                ),
            )
        })?;
        let start = parse_local(&self.start).map_err(|m| Invalid::new("start", m))?;
        let end = parse_local(&self.end).map_err(|m| Invalid::new("end", m))?;
        let len = match (end + MINUTES_PER_DAY - start) % MINUTES_PER_DAY {
            0 => MINUTES_PER_DAY,
            n => n,
        };
        if self.allowed_weekdays.is_empty() {
            return Err(Invalid::new(
                "allowed_weekdays",
                "must name at least one day (\"Mon\" .. \"Sun\")",
            ));
        }
        let mut weekdays = 0u8;
        for d in &self.allowed_weekdays {
            let day = parse_weekday(d).ok_or_else(|| {
                Invalid::new(
                    "allowed_weekdays",
                    format!("unknown weekday {d:?}: use Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
                )
            })?;
            weekdays |= 1 << day.num_days_from_monday();
        }
        // In u64: two u32 keys near their maximum must be refused, not wrap past the check.
        let total =
            u64::from(len) + u64::from(self.pre_open_minutes) + u64::from(self.post_close_minutes);
        if total > u64::from(MINUTES_PER_DAY) {
            let key = if self.pre_open_minutes >= self.post_close_minutes {
                "pre_open_minutes"
            } else {
                "post_close_minutes"
            };
            return Err(Invalid::new(
                key,
                format!(
                    "the window (pre_open {} + session {len} + post_close {} minutes) is longer than a day: windows would overlap",
                    self.pre_open_minutes, self.post_close_minutes
                ),
            ));
        }
        if u64::from(self.flat_before_close_minutes) >= total {
            return Err(Invalid::new(
                "flat_before_close_minutes",
                format!(
                    "{} is not shorter than the whole window ({total} minutes): the instrument could never trade",
                    self.flat_before_close_minutes
                ),
            ));
        }
        Ok(Session {
            instrument: inst.id,
            symbol: inst.symbol.clone(),
            tz,
            start,
            len,
            weekdays,
            pre: self.pre_open_minutes,
            post: self.post_close_minutes,
            flat: self.flat_before_close_minutes,
        })
    }
}

/// Check and bind every entry (keys `sessions[n].key`); one entry per instrument.
pub fn build_sessions(
    cfgs: &[SessionConfig],
    instruments: &[crate::domain::Instrument],
) -> Result<Vec<Session>, Invalid> {
    let mut out: Vec<Session> = Vec::with_capacity(cfgs.len());
    for (n, c) in cfgs.iter().enumerate() {
        let s = c
            .build(instruments)
            .map_err(|i| Invalid::new(format!("sessions[{n}].{}", i.key), i.message))?;
        if out.iter().any(|o| o.instrument == s.instrument) {
            return Err(Invalid::new(
                format!("sessions[{n}].symbol"),
                format!(
                    "'{}' has a session already: one entry per instrument",
                    s.symbol
                ),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

fn to_ts(dt: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp(
        dt.timestamp()
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(i64::from(dt.timestamp_subsec_nanos())),
    )
}

impl Session {
    /// The instant of a local wall-clock time: the first of two in the autumn fall-back;
    /// in the spring-forward gap, at the offset before the gap.
    fn instant(&self, local: NaiveDateTime) -> Timestamp {
        use chrono::LocalResult;
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                to_ts(t.with_timezone(&chrono::Utc))
            }
            LocalResult::None => {
                // Gaps are at most a few hours: six hours earlier is before it.
                let before = local - chrono::Duration::hours(6);
                let offset = match self.tz.from_local_datetime(&before) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        t.offset().fix().local_minus_utc()
                    }
                    LocalResult::None => 0,
                };
                let utc = local - chrono::Duration::seconds(i64::from(offset));
                to_ts(utc.and_utc())
            }
        }
    }

    /// The window that starts (its regular `start`) on local date `day`, if that weekday
    /// is allowed.
    fn window(&self, day: NaiveDate) -> Option<Window> {
        if self.weekdays & (1 << day.weekday().num_days_from_monday()) == 0 {
            return None;
        }
        let start = day.and_time(NaiveTime::MIN) + chrono::Duration::minutes(i64::from(self.start));
        let end = start + chrono::Duration::minutes(i64::from(self.len));
        let opens = start - chrono::Duration::minutes(i64::from(self.pre));
        let closes = end + chrono::Duration::minutes(i64::from(self.post));
        let flat_at = closes - chrono::Duration::minutes(i64::from(self.flat));
        let w = Window {
            opens: self.instant(opens),
            start: self.instant(start),
            end: self.instant(end),
            closes: self.instant(closes),
            flat_at: self.instant(flat_at),
        };
        // A window squeezed to nothing by a DST change still opens and closes in order.
        (w.opens < w.closes).then_some(w)
    }

    fn local_date(&self, t: Timestamp) -> NaiveDate {
        let utc = chrono::DateTime::from_timestamp_nanos(t.0);
        utc.with_timezone(&self.tz).date_naive()
    }

    /// The phase at `t`, when it ends, and the next window.
    pub fn at(&self, t: Timestamp) -> SessionNow {
        let today = self.local_date(t);
        let mut next_opens: Option<Timestamp> = None;
        // A window that started up to two days ago can still be open (pre-open and a
        // whole day); the next allowed weekday is at most a week away.
        for k in -2i64..=8 {
            let Some(day) = today.checked_add_signed(chrono::Duration::days(k)) else {
                continue;
            };
            let Some(w) = self.window(day) else {
                continue;
            };
            if t >= w.opens && t < w.closes {
                let (phase, until) = if self.flat > 0 && t >= w.flat_at {
                    (SessionPhase::Closing, w.closes)
                } else if t < w.start {
                    (SessionPhase::PreOpen, w.start.min(w.flat_at))
                } else if t < w.end {
                    (SessionPhase::Open, w.end.min(w.flat_at))
                } else {
                    (SessionPhase::PostClose, w.closes.min(w.flat_at))
                };
                if phase == SessionPhase::Closing {
                    // Suspended: say when trading comes back.
                    let next = self.next_open_after(w.closes);
                    return SessionNow {
                        phase,
                        until,
                        next,
                        next_text: self.describe(next),
                        until_text: self.describe(until),
                    };
                }
                let close = if self.flat > 0 { w.flat_at } else { w.closes };
                return SessionNow {
                    phase,
                    until,
                    next: close,
                    next_text: self.describe(close),
                    until_text: self.describe(until),
                };
            }
            if w.opens > t && next_opens.is_none_or(|n| w.opens < n) {
                next_opens = Some(w.opens);
            }
        }
        // Validation guarantees an allowed weekday; a week on is a safe fallback.
        let next = next_opens.unwrap_or(Timestamp(t.0.saturating_add(7 * 86_400 * NANOS_PER_SEC)));
        SessionNow {
            phase: SessionPhase::Closed,
            until: next,
            next,
            next_text: self.describe(next),
            until_text: self.describe(next),
        }
    }

    /// The first window opening at or after `t`.
    fn next_open_after(&self, t: Timestamp) -> Timestamp {
        let today = self.local_date(t);
        (-1i64..=8)
            .filter_map(|k| today.checked_add_signed(chrono::Duration::days(k)))
            .filter_map(|d| self.window(d))
            .map(|w| w.opens)
            .filter(|o| *o >= t)
            .min()
            .unwrap_or(Timestamp(t.0.saturating_add(7 * 86_400 * NANOS_PER_SEC)))
    }

    /// `2026-03-09 09:30 EDT (13:30Z)`.
    pub fn describe(&self, t: Timestamp) -> String {
        let utc = chrono::DateTime::from_timestamp_nanos(t.0);
        let local = utc.with_timezone(&self.tz);
        format!(
            "{} ({}Z)",
            local.format("%a %Y-%m-%d %H:%M %Z"),
            utc.format("%H:%M")
        )
    }

    /// `09:30-16:00 America/New_York Mon-Fri (pre-open 30 min, post-close 0, flat 5 min before the close)`.
    pub fn window_text(&self) -> String {
        let hm = |m: u32| format!("{:02}:{:02}", (m / 60) % 24, m % 60);
        let days: Vec<&str> = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            .iter()
            .enumerate()
            .filter(|(n, _)| self.weekdays & (1 << n) != 0)
            .map(|(_, d)| *d)
            .collect();
        let mut s = format!(
            "{}-{} {} {}",
            hm(self.start),
            hm(self.start + self.len),
            self.tz.name(),
            days.join(",")
        );
        if self.pre > 0 {
            s.push_str(&format!(", pre-open {} min", self.pre));
        }
        if self.post > 0 {
            s.push_str(&format!(", post-close {} min", self.post));
        }
        if self.flat > 0 {
            s.push_str(&format!(", flat {} min before the close", self.flat));
        }
        s
    }

    /// Positions are flattened before the close.
    pub fn flattens(&self) -> bool {
        self.flat > 0
    }
}

/// An instrument's session inside the engine: its rules, where it stands (worked out
/// again at each boundary, never per event), and when it last tried to flatten.
pub(super) struct SessionSlot {
    pub(super) session: Session,
    pub(super) now: Option<SessionNow>,
    last_flatten: Timestamp,
}

/// Where `inst`'s session stands (`None`: it has none) among `slots`.
pub(super) fn now_of(slots: &[SessionSlot], inst: InstrumentId) -> Option<&SessionNow> {
    slots
        .iter()
        .find(|s| s.session.instrument == inst)
        .and_then(|s| s.now.as_ref())
}

impl Engine {
    /// Trade `sessions` (from [`build_sessions`]); none: every instrument trades always.
    /// Call before the first `process`.
    pub fn set_sessions(&mut self, sessions: Vec<Session>) {
        self.sessions = sessions
            .into_iter()
            .map(|session| SessionSlot {
                session,
                now: None,
                last_flatten: Timestamp(i64::MIN),
            })
            .collect();
    }

    /// Where instrument `inst`'s session stands now (`None`: it has none, it trades
    /// always). Current for the whole of a `process` call ([`Engine::session_tick`]).
    pub(super) fn session_now(&self, inst: InstrumentId) -> Option<&SessionNow> {
        now_of(&self.sessions, inst)
    }

    /// Whether a strategy's new order may go in the instrument's session phase (else it
    /// is held, as PAUSED holds it, without a refusal per attempt). Reduce-only always.
    pub(super) fn session_allows(&self, spec: &crate::domain::OrderSpec) -> bool {
        if spec.reduce_only {
            return true;
        }
        self.session_now(spec.instrument).is_none_or(|n| {
            let market = spec.kind == crate::domain::OrderKind::Market;
            !(n.phase.suspended() || n.phase.limit_only() && market)
        })
    }

    /// At the start of every input: each session whose phase ended is worked out again at
    /// the engine's time; a suspension or a resumption is an alert
    /// (`SESSION_SUSPENDED` / `SESSION_RESUMED`, with the next window's time), and a
    /// suspension cancels the instrument's working orders that are not reduce-only and
    /// flattens it if `flat_before_close_minutes` is set.
    pub(super) fn session_tick(&mut self, out: &mut Vec<Effect>) {
        for k in 0..self.sessions.len() {
            let slot = &self.sessions[k];
            if slot.now.as_ref().is_some_and(|n| self.now < n.until) {
                continue;
            }
            let was = slot.now.as_ref().map(|n| n.phase);
            let now = slot.session.at(self.now);
            let (inst, symbol, window) = (
                slot.session.instrument,
                slot.session.symbol.clone(),
                slot.session.window_text(),
            );
            let flattens = slot.session.flattens();
            let phase = now.phase;
            let (next_text, until_text) = (now.next_text.clone(), now.until_text.clone());
            self.sessions[k].now = Some(now);
            if was == Some(phase) {
                continue;
            }
            let was_suspended = was.map(SessionPhase::suspended);
            if phase.suspended() && was_suspended != Some(true) {
                let n = self.cancel_where(
                    |o| o.req.spec.instrument == inst && !o.req.spec.reduce_only,
                    out,
                );
                let pos = self.positions[inst.index()].qty;
                let mut text = format!(
                    "SESSION_SUSPENDED {symbol}: {} ({window}); no new orders until the next window opens {next_text}; reduce-only exits and cancels pass",
                    phase.word()
                );
                if n > 0 {
                    text.push_str(&format!("; cancelling {n} open orders"));
                }
                if flattens && !pos.is_zero() {
                    if self.state == TradingState::Halted {
                        text.push_str(&format!(
                            "; flatten of {} held while HALTED (F flattens by hand)",
                            pos.normalize()
                        ));
                    } else {
                        text.push_str(&format!("; flattening {}", pos.normalize()));
                    }
                }
                self.alert_kind(AlertLevel::Info, "session", "SESSION_SUSPENDED", text, out);
                self.session_flatten(k, out);
            } else if !phase.suspended() && was_suspended != Some(false) {
                let mut text = format!(
                    "SESSION_RESUMED {symbol}: {} ({window}) until {until_text}",
                    phase.word()
                );
                if next_text != until_text {
                    text.push_str(&format!("; window closes {next_text}"));
                }
                self.alert_kind(AlertLevel::Info, "session", "SESSION_RESUMED", text, out);
            } else if phase == SessionPhase::Closing {
                let text = format!(
                    "SESSION_SUSPENDED {symbol}: {} before the close; next window opens {next_text}",
                    phase.word()
                );
                self.alert_kind(AlertLevel::Info, "session", "SESSION_SUSPENDED", text, out);
                self.session_flatten(k, out);
            } else {
                let text = format!("session {symbol}: {} until {until_text}", phase.word());
                self.alert_kind(AlertLevel::Info, "session", "session", text, out);
            }
        }
    }

    /// On the timer: an instrument whose session flattens before the close and is
    /// suspended is brought flat again (a late fill), at most once a second, never while
    /// HALTED (only a person's flatten leaves a halted engine).
    pub(super) fn session_timer(&mut self, out: &mut Vec<Effect>) {
        for k in 0..self.sessions.len() {
            self.session_flatten(k, out);
        }
    }

    fn session_flatten(&mut self, k: usize, out: &mut Vec<Effect>) {
        let slot = &self.sessions[k];
        let inst = slot.session.instrument;
        let due = slot.session.flattens()
            && slot.now.as_ref().is_some_and(|n| n.phase.suspended())
            && self.holds(inst.index())
            && self.state != TradingState::Halted
            && !self.shutting_down
            && self.now.0.saturating_sub(slot.last_flatten.0) >= NANOS_PER_SEC;
        if !due {
            return;
        }
        self.sessions[k].last_flatten = self.now;
        self.flatten(Some(inst), crate::domain::OrderTag::SessionClose, out);
    }

    /// Each session's state for the console and `pit status`.
    pub(super) fn session_views(&self) -> Vec<SessionView> {
        self.sessions
            .iter()
            .filter_map(|s| {
                let n = s.now.as_ref()?;
                Some(SessionView {
                    symbol: s.session.symbol.clone(),
                    state: n.phase.word().to_string(),
                    suspended: n.phase.suspended(),
                    next: if n.phase.suspended() {
                        format!("opens {}", n.next_text)
                    } else {
                        format!("closes {}", n.next_text)
                    },
                    window: s.session.window_text(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Instrument, Qty};
    use rust_decimal_macros::dec;

    fn insts() -> Vec<Instrument> {
        vec![Instrument::new(
            InstrumentId(0),
            "BTC-USD",
            "sim",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        )]
    }

    fn cfg(tz: &str, start: &str, end: &str) -> SessionConfig {
        SessionConfig {
            symbol: "BTC-USD".into(),
            timezone: tz.into(),
            start: start.into(),
            end: end.into(),
            allowed_weekdays: every_day(),
            pre_open_minutes: 0,
            post_close_minutes: 0,
            flat_before_close_minutes: 0,
        }
    }

    /// `2026-03-09T13:30:00Z` -> Timestamp.
    fn ts(rfc: &str) -> Timestamp {
        to_ts(
            chrono::DateTime::parse_from_rfc3339(rfc)
                .unwrap()
                .with_timezone(&chrono::Utc),
        )
    }

    #[test]
    fn new_york_hours_follow_daylight_saving_in_march_and_november() {
        let mut c = cfg("America/New_York", "09:30", "16:00");
        c.allowed_weekdays = vec![
            "Mon".into(),
            "Tue".into(),
            "Wed".into(),
            "Thu".into(),
            "Fri".into(),
        ];
        let s = c.build(&insts()).unwrap();
        // Friday 2026-03-06, EST (UTC-5): opens 14:30Z.
        assert_eq!(s.at(ts("2026-03-06T14:29:59Z")).phase, SessionPhase::Closed);
        assert_eq!(s.at(ts("2026-03-06T14:30:00Z")).phase, SessionPhase::Open);
        assert_eq!(s.at(ts("2026-03-06T20:59:59Z")).phase, SessionPhase::Open);
        let after = s.at(ts("2026-03-06T21:00:00Z"));
        assert_eq!(after.phase, SessionPhase::Closed);
        // Clocks go forward on Sunday 2026-03-08: Monday opens at 13:30Z (EDT, UTC-4),
        // and the weekend is skipped.
        assert_eq!(after.until, ts("2026-03-09T13:30:00Z"));
        assert!(
            after.next_text.contains("2026-03-09 09:30 EDT (13:30Z)"),
            "{}",
            after.next_text
        );
        assert_eq!(s.at(ts("2026-03-07T15:00:00Z")).phase, SessionPhase::Closed);
        assert_eq!(s.at(ts("2026-03-09T13:29:59Z")).phase, SessionPhase::Closed);
        let open = s.at(ts("2026-03-09T13:30:00Z"));
        assert_eq!(open.phase, SessionPhase::Open);
        assert_eq!(open.until, ts("2026-03-09T20:00:00Z"));
        // Back to EST on Sunday 2026-11-01: Friday 10-30 closes 20:00Z, Monday 11-02
        // opens 14:30Z.
        assert_eq!(s.at(ts("2026-10-30T19:59:00Z")).phase, SessionPhase::Open);
        assert_eq!(
            s.at(ts("2026-10-30T20:00:00Z")).until,
            ts("2026-11-02T14:30:00Z")
        );
        assert_eq!(s.at(ts("2026-11-02T13:30:00Z")).phase, SessionPhase::Closed);
        assert_eq!(s.at(ts("2026-11-02T14:30:00Z")).phase, SessionPhase::Open);
    }

    #[test]
    fn a_window_that_crosses_midnight_and_the_dst_gap_and_overlap() {
        // 22:00 -> 06:00 New York, every day.
        let s = cfg("America/New_York", "22:00", "06:00")
            .build(&insts())
            .unwrap();
        // Saturday 2026-03-07 22:00 EST = 03-08T03:00Z; the clocks jump 02:00 -> 03:00
        // that night, so 06:00 EDT is 10:00Z: a window of seven hours.
        assert_eq!(s.at(ts("2026-03-08T02:59:00Z")).phase, SessionPhase::Closed);
        let open = s.at(ts("2026-03-08T03:00:00Z"));
        assert_eq!(open.phase, SessionPhase::Open);
        assert_eq!(open.until, ts("2026-03-08T10:00:00Z"));
        // Saturday 2026-10-31 22:00 EDT = 11-01T02:00Z; 01:00-02:00 happens twice and the
        // close at 06:00 EST is 11:00Z: nine hours.
        let open = s.at(ts("2026-11-01T02:00:00Z"));
        assert_eq!(open.phase, SessionPhase::Open);
        assert_eq!(open.until, ts("2026-11-01T11:00:00Z"));
        assert_eq!(s.at(ts("2026-11-01T10:59:59Z")).phase, SessionPhase::Open);
        assert_eq!(s.at(ts("2026-11-01T11:00:00Z")).phase, SessionPhase::Closed);
        // A start inside the spring gap (02:30 on 03-08) is taken at the offset before
        // it: 07:30Z, i.e. 03:30 EDT.
        let s = cfg("America/New_York", "02:30", "04:00")
            .build(&insts())
            .unwrap();
        assert_eq!(s.at(ts("2026-03-08T07:29:00Z")).phase, SessionPhase::Closed);
        assert_eq!(s.at(ts("2026-03-08T07:30:00Z")).phase, SessionPhase::Open);
        // 01:30 on 11-01 happens twice: the first (EDT, 05:30Z) opens the window.
        let s = cfg("America/New_York", "01:30", "03:00")
            .build(&insts())
            .unwrap();
        assert_eq!(s.at(ts("2026-11-01T05:29:00Z")).phase, SessionPhase::Closed);
        assert_eq!(s.at(ts("2026-11-01T05:30:00Z")).phase, SessionPhase::Open);
    }

    #[test]
    fn weekdays_name_the_day_a_window_starts_and_crossing_midnight_carries_it() {
        // Sunday 18:00 to Friday 17:00 style: each day 18:00 -> 17:00 next day, starting
        // Sun..Thu (a futures week), in Chicago.
        let mut c = cfg("America/Chicago", "18:00", "17:00");
        c.allowed_weekdays = vec![
            "Sun".into(),
            "monday".into(),
            "Tue".into(),
            "Wed".into(),
            "Thu".into(),
        ];
        let s = c.build(&insts()).unwrap();
        // Saturday 2026-01-03 noon CST: closed until Sunday 18:00 CST (00:00Z Monday).
        let sat = s.at(ts("2026-01-03T18:00:00Z"));
        assert_eq!(sat.phase, SessionPhase::Closed);
        assert_eq!(sat.until, ts("2026-01-05T00:00:00Z"));
        // Monday 03:00 CST: inside Sunday's window.
        assert_eq!(s.at(ts("2026-01-05T09:00:00Z")).phase, SessionPhase::Open);
        // Friday 2026-01-09 16:59 CST: inside Thursday's window; 17:00 closes for the weekend.
        assert_eq!(s.at(ts("2026-01-09T22:59:00Z")).phase, SessionPhase::Open);
        let fri = s.at(ts("2026-01-09T23:00:00Z"));
        assert_eq!(fri.phase, SessionPhase::Closed);
        assert_eq!(fri.until, ts("2026-01-12T00:00:00Z"));
    }

    #[test]
    fn pre_open_post_close_and_flat_before_close_phases() {
        let mut c = cfg("Europe/London", "08:00", "16:30");
        c.pre_open_minutes = 15;
        c.post_close_minutes = 30;
        c.flat_before_close_minutes = 10;
        let s = c.build(&insts()).unwrap();
        // 2026-01-15, GMT = UTC.
        let at = |t: &str| s.at(ts(t));
        assert_eq!(at("2026-01-15T07:44:00Z").phase, SessionPhase::Closed);
        let pre = at("2026-01-15T07:45:00Z");
        assert_eq!(
            (pre.phase, pre.until),
            (SessionPhase::PreOpen, ts("2026-01-15T08:00:00Z"))
        );
        assert!(pre.phase.limit_only() && !pre.phase.suspended());
        assert_eq!(at("2026-01-15T08:00:00Z").phase, SessionPhase::Open);
        let post = at("2026-01-15T16:30:00Z");
        assert_eq!(
            (post.phase, post.until),
            (SessionPhase::PostClose, ts("2026-01-15T16:50:00Z"))
        );
        let closing = at("2026-01-15T16:50:00Z");
        assert_eq!(
            (closing.phase, closing.until),
            (SessionPhase::Closing, ts("2026-01-15T17:00:00Z"))
        );
        assert!(closing.phase.suspended());
        // While closing, "next" is the next window's pre-open.
        assert_eq!(closing.next, ts("2026-01-16T07:45:00Z"));
        assert_eq!(at("2026-01-15T17:00:00Z").phase, SessionPhase::Closed);
        // London in summer (BST, UTC+1).
        assert_eq!(at("2026-07-15T06:45:00Z").phase, SessionPhase::PreOpen);
    }

    #[test]
    fn a_whole_day_window_and_bad_entries_name_their_key() {
        let mut c = cfg("UTC", "00:00", "00:00");
        c.allowed_weekdays = vec!["Mon".into()];
        let s = c.build(&insts()).unwrap();
        // 2026-01-05 is a Monday.
        assert_eq!(s.at(ts("2026-01-05T00:00:00Z")).phase, SessionPhase::Open);
        assert_eq!(s.at(ts("2026-01-05T23:59:59Z")).phase, SessionPhase::Open);
        assert_eq!(s.at(ts("2026-01-06T00:00:00Z")).phase, SessionPhase::Closed);
        let key = |c: SessionConfig| c.build(&insts()).unwrap_err().key;
        assert_eq!(key(cfg("Mars/Olympus", "09:00", "10:00")), "timezone");
        assert_eq!(key(cfg("UTC", "9:00", "10:00")), "start");
        assert_eq!(key(cfg("UTC", "09:00", "24:00")), "end");
        let mut c = cfg("UTC", "09:00", "10:00");
        c.allowed_weekdays = vec!["Funday".into()];
        assert_eq!(key(c), "allowed_weekdays");
        let mut c = cfg("UTC", "09:00", "10:00");
        c.symbol = "DOGE".into();
        assert_eq!(key(c), "symbol");
        let mut c = cfg("UTC", "09:00", "10:00");
        c.flat_before_close_minutes = 60;
        assert_eq!(key(c), "flat_before_close_minutes");
        let mut c = cfg("UTC", "09:00", "21:00");
        c.pre_open_minutes = 800;
        assert_eq!(key(c), "pre_open_minutes");
        // Near u32::MAX the sum must not wrap past the check (nor panic).
        let mut c = cfg("UTC", "09:00", "10:00");
        c.pre_open_minutes = u32::MAX;
        assert_eq!(key(c), "pre_open_minutes");
        let mut c = cfg("UTC", "09:00", "10:00");
        c.pre_open_minutes = u32::MAX - 59;
        c.post_close_minutes = u32::MAX;
        assert_eq!(key(c), "post_close_minutes");
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;
    use crate::domain::{OrderKind, OrderTag, Side};
    use crate::engine::Input;
    use crate::engine::testkit::*;
    use crate::strategy::{Intent, OrderIntent, Strategy, StrategyCtx, StrategySlot};

    /// Joins the bid with one lot whenever it has no order working.
    struct Joiner;
    impl Strategy for Joiner {
        fn name(&self) -> &str {
            "joiner"
        }
        fn instrument(&self) -> Option<InstrumentId> {
            Some(BTC)
        }
        fn on_book(&mut self, ctx: &StrategyCtx<'_>, inst: InstrumentId, out: &mut Vec<Intent>) {
            let Some(bid) = ctx.book(inst).best_bid() else {
                return;
            };
            if ctx.own_orders(inst).next().is_none() {
                out.push(Intent::Place(OrderIntent {
                    spec: crate::domain::OrderSpec {
                        instrument: inst,
                        side: Side::Buy,
                        kind: OrderKind::Limit,
                        price: Some(bid.price),
                        qty: crate::domain::Qty(1),
                        tif: crate::domain::TimeInForce::Gtc,
                        reduce_only: false,
                    },
                    tag: OrderTag::Strategy,
                    risk: None,
                }));
            }
        }
        fn last_signal(&self) -> Option<&str> {
            None
        }
    }

    /// BTC-USD trading 09:00-10:00 New York on weekdays, flat 5 minutes before the close.
    fn ny_engine(start: Timestamp) -> Engine {
        let mut e = engine(start, vec![StrategySlot::of(Box::new(Joiner), true)]);
        let cfg = SessionConfig {
            symbol: "BTC-USD".into(),
            timezone: "America/New_York".into(),
            start: "09:00".into(),
            end: "10:00".into(),
            allowed_weekdays: vec![
                "Mon".into(),
                "Tue".into(),
                "Wed".into(),
                "Thu".into(),
                "Fri".into(),
            ],
            pre_open_minutes: 0,
            post_close_minutes: 0,
            flat_before_close_minutes: 5,
        };
        e.set_sessions(vec![cfg.build(&[btc()]).unwrap()]);
        e
    }

    #[test]
    fn closed_sessions_refuse_new_orders_resume_on_time_and_flatten_before_the_close() {
        // Monday 2026-03-09 (EDT since the day before): the window is 13:00Z-14:00Z.
        let t0 = ts("2026-03-09T12:59:00Z");
        let mut e = ny_engine(t0);
        let out = step(&mut e, t0, book(t0, 599_990, 600_010));
        let text = alert_texts(&out);
        assert!(
            text.contains("[SESSION_SUSPENDED] SESSION_SUSPENDED BTC-USD: SESSION CLOSED"),
            "{text}"
        );
        assert!(text.contains("Mon 2026-03-09 09:00 EDT (13:00Z)"), "{text}");
        // The strategy's order is held, not sent, and not refused one alert at a time.
        assert!(submits(&out).is_empty(), "{out:?}");
        assert_eq!(e.strat_stats[0].held, 1);
        assert!(!text.contains("refused"), "{text}");
        // A manual order is refused by risk, naming the session and the next window.
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Limit, Some(599_990), 1, false),
        );
        assert!(submits(&out).is_empty());
        let text = alert_texts(&out);
        assert!(text.contains("[refused:session_closed]"), "{text}");
        assert!(
            text.contains(
                "SESSION CLOSED: no new orders until the next window opens Mon 2026-03-09 09:00 EDT"
            ),
            "{text}"
        );
        assert_eq!(
            e.view().strategies[0].session.as_deref(),
            Some("SESSION CLOSED")
        );
        assert!(e.view().sessions[0].suspended);

        // 09:00 New York: resumed; the strategy's order goes out, a manual buy too.
        let t1 = ts("2026-03-09T13:00:00Z");
        let out = step(&mut e, t1, book(t1, 599_990, 600_010));
        let text = alert_texts(&out);
        assert!(text.contains("SESSION_RESUMED BTC-USD: OPEN"), "{text}");
        assert!(
            text.contains("until Mon 2026-03-09 09:55 EDT (13:55Z)"),
            "{text}"
        );
        assert_eq!(submits(&out).len(), 1, "{text}");
        let out = step(
            &mut e,
            t1,
            manual(Side::Buy, OrderKind::Market, None, 2, false),
        );
        let buy = submits(&out).pop().expect("manual buy sent");
        step(&mut e, t1, fill(t1, 1, &buy, 600_010));
        assert_eq!(e.position(BTC).qty, rust_decimal_macros::dec!(0.002));
        assert_eq!(e.view().strategies[0].session, None);

        // 09:55: CLOSING. The strategy's resting buy is cancelled, the position flattened
        // by a reduce-only market order tagged session-close; new orders are refused.
        let t2 = ts("2026-03-09T13:55:00Z");
        let out = step(&mut e, t2, Input::Timer);
        let text = alert_texts(&out);
        assert!(
            text.contains("SESSION_SUSPENDED BTC-USD: CLOSING (flat)"),
            "{text}"
        );
        assert!(text.contains("flattening 0.002"), "{text}");
        assert!(text.contains("Tue 2026-03-10 09:00 EDT (13:00Z)"), "{text}");
        assert_eq!(cancels(&out).len(), 1, "{out:?}");
        let flat = submits(&out);
        assert_eq!(flat.len(), 1, "{out:?}");
        assert_eq!(
            (
                flat[0].spec.side,
                flat[0].spec.qty.0,
                flat[0].spec.reduce_only,
                flat[0].tag
            ),
            (Side::Sell, 2, true, OrderTag::SessionClose)
        );
        let out = step(
            &mut e,
            t2,
            manual(Side::Buy, OrderKind::Limit, Some(599_990), 1, false),
        );
        assert!(alert_texts(&out).contains("[refused:session_closed]"));
        // The operator's reduce-only exit still passes (here: of what the flatten left).
        step(
            &mut e,
            t2,
            fill_part(t2, 2, &flat[0].client_id, Side::Sell, 599_990, 1),
        );
        step(
            &mut e,
            t2,
            Input::Exec(crate::domain::ExecReport::Cancelled {
                id: flat[0].client_id.clone(),
                ts: t2,
            }),
        );
        let out = step(
            &mut e,
            t2,
            manual(Side::Sell, OrderKind::Limit, Some(600_010), 1, true),
        );
        assert_eq!(submits(&out).len(), 1, "{}", alert_texts(&out));
        // A second later the timer flattens the rest (a working exit is not doubled: the
        // manual reduce-only is cancelled and replaced by the flatten).
        let t3 = ts("2026-03-09T13:55:01Z");
        let out = step(&mut e, t3, Input::Timer);
        assert_eq!(submits(&out).len(), 1, "{out:?}");
        assert_eq!(submits(&out)[0].tag, OrderTag::SessionClose);

        // 10:00: closed for the day; the console's line says when it opens.
        let t4 = ts("2026-03-09T14:00:00Z");
        let out = step(&mut e, t4, Input::Timer);
        assert!(
            alert_texts(&out).contains("session BTC-USD: SESSION CLOSED"),
            "{}",
            alert_texts(&out)
        );
        let v = e.view();
        assert_eq!(v.sessions[0].state, "SESSION CLOSED");
        assert!(
            v.sessions[0]
                .next
                .contains("opens Tue 2026-03-10 09:00 EDT (13:00Z)"),
            "{:?}",
            v.sessions
        );
    }

    #[test]
    fn pre_open_takes_limit_orders_only_and_no_sessions_changes_nothing() {
        let t0 = ts("2026-01-05T13:50:00Z");
        let mut e = engine(t0, Vec::new());
        let mut c = SessionConfig {
            symbol: "BTC-USD".into(),
            timezone: "America/New_York".into(),
            start: "09:00".into(),
            end: "10:00".into(),
            allowed_weekdays: vec!["Mon".into()],
            pre_open_minutes: 15,
            post_close_minutes: 0,
            flat_before_close_minutes: 0,
        };
        e.set_sessions(vec![c.build(&[btc()]).unwrap()]);
        // Monday 2026-01-05 08:50 EST: pre-open.
        let out = step(&mut e, t0, book(t0, 599_990, 600_010));
        assert!(
            alert_texts(&out).contains("SESSION_RESUMED BTC-USD: PRE-OPEN"),
            "{}",
            alert_texts(&out)
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 1, false),
        );
        assert!(submits(&out).is_empty());
        assert!(
            alert_texts(&out)
                .contains("PRE-OPEN: limit orders only until Mon 2026-01-05 09:00 EST (14:00Z)"),
            "{}",
            alert_texts(&out)
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Limit, Some(599_990), 1, false),
        );
        assert_eq!(submits(&out).len(), 1);
        // Without sessions the same orders go at any hour, with no session alert.
        c.symbol = "BTC-USD".into();
        let mut free = engine(t0, Vec::new());
        let out = step(&mut free, t0, book(t0, 599_990, 600_010));
        assert!(alerts(&out).iter().all(|a| a.source != "session"));
        let out = step(
            &mut free,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 1, false),
        );
        assert_eq!(submits(&out).len(), 1);
        assert!(free.view().sessions.is_empty());
    }
}
