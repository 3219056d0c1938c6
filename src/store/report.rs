//! `pit report`: what the closed trades add up to.
//!
//! Figures come from the closed round trips (PnL net of fees) and the fills (fees). A trade
//! wins when its net PnL is above zero and loses when below; a zero trade is neither and
//! breaks both streaks. Buckets (day, hour, weekday) use the trade's close time, UTC. The
//! drawdown is the largest fall of cumulative net PnL from its running peak (starting at
//! zero). Everything is exact decimal; ratios are rounded to 4 places.

use super::schema::{FillRow, TradeRow};
use super::{Store, StoreError};
use crate::domain::Timestamp;
use chrono::{Datelike, NaiveDate, Timelike};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// PnL of a group of trades.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub key: String,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub pnl: Decimal,
    pub fees: Decimal,
}

/// The report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub since: Option<String>,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    /// Wins / trades.
    pub win_rate: Option<Decimal>,
    /// Net PnL of all trades.
    pub net_pnl: Decimal,
    /// Sum of winning trades' PnL.
    pub gross_profit: Decimal,
    /// Sum of losing trades' PnL (negative).
    pub gross_loss: Decimal,
    pub avg_win: Option<Decimal>,
    /// Negative.
    pub avg_loss: Option<Decimal>,
    /// Gross profit / |gross loss|.
    pub profit_factor: Option<Decimal>,
    /// Largest fall of cumulative net PnL from its peak (positive).
    pub max_drawdown: Decimal,
    pub longest_win_streak: u64,
    pub longest_loss_streak: u64,
    /// Fees over the fills in the period.
    pub fees: Decimal,
    /// Traded notional over the fills in the period.
    pub volume: Decimal,
    pub by_day: Vec<Bucket>,
    pub by_strategy: Vec<Bucket>,
    pub by_instrument: Vec<Bucket>,
    /// `00`..`23`, UTC.
    pub by_hour: Vec<Bucket>,
    /// `Mon`..`Sun`.
    pub by_weekday: Vec<Bucket>,
    /// Cumulative net PnL after each trade: (close time, equity).
    pub equity_curve: Vec<(Timestamp, Decimal)>,
}

fn ratio(a: Decimal, b: Decimal) -> Option<Decimal> {
    if b.is_zero() {
        None
    } else {
        a.checked_div(b).map(|r| r.round_dp(4).normalize())
    }
}

fn start_of(d: NaiveDate) -> Timestamp {
    let secs = d
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp());
    Timestamp(secs.saturating_mul(1_000_000_000))
}

fn utc(ts: Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(ts.0.div_euclid(1_000_000_000), 0)
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Report {
    /// Read the store (trades and fills from one snapshot) and compute.
    pub fn build(store: &Store, since: Option<NaiveDate>) -> Result<Report, StoreError> {
        let (trades, fills) = store.trades_and_fills()?;
        Ok(Report::from_rows(&trades, &fills, since))
    }

    /// Compute from rows (trades in close order).
    pub fn from_rows(trades: &[TradeRow], fills: &[FillRow], since: Option<NaiveDate>) -> Report {
        let from = since.map_or(Timestamp(i64::MIN), start_of);
        let mut r = Report {
            since: since.map(|d| d.to_string()),
            ..Report::default()
        };
        let mut by: [BTreeMap<String, Bucket>; 5] = Default::default();
        let (mut cum, mut peak) = (Decimal::ZERO, Decimal::ZERO);
        let (mut win_run, mut loss_run) = (0u64, 0u64);
        let mut trades: Vec<&TradeRow> = trades.iter().filter(|t| t.trade.closed >= from).collect();
        trades.sort_by_key(|t| t.trade.closed);
        for t in trades {
            let t = &t.trade;
            r.trades += 1;
            let win = t.pnl > Decimal::ZERO;
            let loss = t.pnl < Decimal::ZERO;
            if win {
                r.wins += 1;
                r.gross_profit += t.pnl;
                win_run += 1;
                loss_run = 0;
            } else if loss {
                r.losses += 1;
                r.gross_loss += t.pnl;
                loss_run += 1;
                win_run = 0;
            } else {
                win_run = 0;
                loss_run = 0;
            }
            r.longest_win_streak = r.longest_win_streak.max(win_run);
            r.longest_loss_streak = r.longest_loss_streak.max(loss_run);
            r.net_pnl += t.pnl;
            cum += t.pnl;
            peak = peak.max(cum);
            r.max_drawdown = r.max_drawdown.max(peak - cum);
            r.equity_curve.push((t.closed, cum));
            let dt = utc(t.closed);
            let keys = [
                super::schema::date_of(t.closed),
                t.strategy.clone(),
                t.symbol.clone(),
                dt.map_or("??".into(), |d| format!("{:02}", d.hour())),
                dt.map_or("?".into(), |d| {
                    format!(
                        "{} {}",
                        d.weekday().num_days_from_monday(),
                        WEEKDAYS[d.weekday().num_days_from_monday() as usize]
                    )
                }),
            ];
            for (map, key) in by.iter_mut().zip(keys) {
                let b = map.entry(key.clone()).or_insert_with(|| Bucket {
                    key,
                    ..Bucket::default()
                });
                b.trades += 1;
                b.wins += u64::from(win);
                b.losses += u64::from(loss);
                b.pnl += t.pnl;
                b.fees += t.fees;
            }
        }
        for f in fills.iter().filter(|f| f.ts >= from) {
            r.fees += f.fee;
            r.volume += f.price * f.qty;
        }
        r.win_rate = ratio(Decimal::from(r.wins), Decimal::from(r.trades));
        r.avg_win = ratio(r.gross_profit, Decimal::from(r.wins));
        r.avg_loss = ratio(r.gross_loss, Decimal::from(r.losses));
        r.profit_factor = ratio(r.gross_profit, -r.gross_loss);
        let [day, strategy, instrument, hour, weekday] = by;
        let list = |m: BTreeMap<String, Bucket>| m.into_values().collect::<Vec<_>>();
        r.by_day = list(day);
        r.by_strategy = list(strategy);
        r.by_instrument = list(instrument);
        r.by_hour = list(hour);
        // Sorted by "N Day"; show the day name only.
        r.by_weekday = list(weekday)
            .into_iter()
            .map(|mut b| {
                b.key = b
                    .key
                    .split_once(' ')
                    .map_or(b.key.clone(), |(_, d)| d.to_string());
                b
            })
            .collect();
        r
    }

    /// The report as one JSON object (money as decimal strings).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Headline figures, one per line: (label, value).
    pub fn headline(&self) -> Vec<(&'static str, String)> {
        let opt = |d: Option<Decimal>| d.map_or("-".to_string(), |d| d.round_dp(4).to_string());
        let pct = |d: Option<Decimal>| {
            d.map_or("-".to_string(), |d| {
                format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(2).normalize())
            })
        };
        vec![
            ("trades", self.trades.to_string()),
            ("wins / losses", format!("{} / {}", self.wins, self.losses)),
            ("win rate", pct(self.win_rate)),
            ("net PnL", self.net_pnl.round_dp(4).to_string()),
            ("average win", opt(self.avg_win)),
            ("average loss", opt(self.avg_loss)),
            ("profit factor", opt(self.profit_factor)),
            ("max drawdown", self.max_drawdown.round_dp(4).to_string()),
            ("longest win streak", self.longest_win_streak.to_string()),
            ("longest loss streak", self.longest_loss_streak.to_string()),
            ("fees", self.fees.round_dp(4).to_string()),
            ("volume", self.volume.round_dp(2).to_string()),
        ]
    }

    /// Text tables.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "pit report{}",
            self.since
                .as_ref()
                .map(|d| format!(" since {d}"))
                .unwrap_or_default()
        );
        for (k, v) in self.headline() {
            let _ = writeln!(s, "  {k:<20} {v:>16}");
        }
        for (title, rows) in [
            ("day", &self.by_day),
            ("strategy", &self.by_strategy),
            ("instrument", &self.by_instrument),
            ("hour (UTC)", &self.by_hour),
            ("weekday", &self.by_weekday),
        ] {
            let _ = writeln!(s, "\nPnL by {title}");
            let _ = writeln!(
                s,
                "  {:<22} {:>7} {:>6} {:>6} {:>16} {:>12}",
                title, "trades", "wins", "losses", "pnl", "fees"
            );
            for b in rows {
                let _ = writeln!(
                    s,
                    "  {:<22} {:>7} {:>6} {:>6} {:>16} {:>12}",
                    b.key,
                    b.trades,
                    b.wins,
                    b.losses,
                    b.pnl.round_dp(4),
                    b.fees.round_dp(4)
                );
            }
        }
        s
    }
}
