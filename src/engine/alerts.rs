//! Alerts: what an operator should see ([`AlertLevel`], [`Alert`]) and how the engine
//! raises them, folding a storm of repeats into one counted row.

use super::{Effect, Engine};
use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Severity of an alert.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlertLevel {
    Info,
    Warn,
    Critical,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "INFO",
            AlertLevel::Warn => "WARN",
            AlertLevel::Critical => "CRITICAL",
        }
    }
}

/// Something an operator should see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub seq: u64,
    pub ts: Timestamp,
    pub level: AlertLevel,
    /// Who raised it: `risk`, `kill-switch`, `feed`, `S1`, `operator` ...
    pub source: String,
    pub text: String,
    /// How many times the same kind of alert was raised (repeats are folded into one row).
    pub count: u32,
    pub acknowledged: bool,
    /// What repeats fold on, e.g. `refused:cooldown`; the text itself when empty.
    pub kind: String,
}

impl Engine {
    /// An alert from outside the engine (the runner: a halt latch that could not be
    /// written, a refused re-arm); it goes out with the next input's effects.
    pub fn raise_alert(&mut self, level: AlertLevel, source: &str, text: String) {
        let mut out = Vec::new();
        self.alert(level, source, text, &mut out);
        self.pending.append(&mut out);
    }

    /// [`Engine::raise_alert`] with the kind its repeats fold on (e.g. `feed-down:binance`:
    /// every failed reconnect of one venue counts on one row).
    pub fn raise_alert_kind(&mut self, level: AlertLevel, source: &str, kind: &str, text: String) {
        let mut out = Vec::new();
        self.alert_kind(level, source, kind, text, &mut out);
        self.pending.append(&mut out);
    }

    pub(super) fn alert(
        &mut self,
        level: AlertLevel,
        source: &str,
        text: String,
        out: &mut Vec<Effect>,
    ) {
        self.alert_kind(level, source, "", text, out);
    }

    /// Raise an alert. A repeat of a recent unacknowledged alert of the same source, level
    /// and kind is folded into it (count + 1, newest text) so a refusal storm cannot bury
    /// everything else.
    pub(super) fn alert_kind(
        &mut self,
        level: AlertLevel,
        source: &str,
        kind: &str,
        text: String,
        out: &mut Vec<Effect>,
    ) {
        const FOLD_WINDOW: Duration = Duration::from_secs(60);
        let now = self.now;
        let kind = if kind.is_empty() { text.as_str() } else { kind };
        if let Some(a) = self.alerts.iter_mut().rev().take(16).find(|a| {
            !a.acknowledged
                && a.level == level
                && a.source == source
                && a.kind == kind
                && now.since(a.ts) <= FOLD_WINDOW
        }) {
            a.count += 1;
            a.ts = now;
            a.text = text;
            if level == AlertLevel::Critical {
                // A critical repeat must ring again: it gets a fresh sequence number.
                self.alert_seq += 1;
                a.seq = self.alert_seq;
            }
            if level == AlertLevel::Critical || a.count.is_power_of_two() {
                out.push(Effect::Alert(a.clone()));
            }
            return;
        }
        let kind = kind.to_string();
        self.alert_seq += 1;
        let alert = Alert {
            seq: self.alert_seq,
            ts: self.now,
            level,
            source: source.to_string(),
            text,
            count: 1,
            acknowledged: false,
            kind,
        };
        out.push(Effect::Alert(alert.clone()));
        self.alerts.push_back(alert);
        while self.alerts.len() > self.cfg.alerts_len {
            self.alerts.pop_front();
        }
    }
}
