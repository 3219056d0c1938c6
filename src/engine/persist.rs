//! What the engine tells the store, and how it comes back after a restart.
//!
//! The engine stays free of I/O: it only *emits* records as [`Effect`]s (order state
//! changes, a fill with the position it leaves, closed round trips with their reason,
//! trading-state and strategy changes, the audit of operator commands), and takes back a
//! [`Recovered`] value read by the store at start-up ([`Engine::restore`]). Everything here
//! is deterministic: changes are detected by comparing state before and after one input.

use super::{AlertLevel, Command, Effect, Engine};
use crate::domain::position::FillEffect;
use crate::domain::{
    Fill, InstrumentId, OrderRequest, OrderTag, Owner, Position, Side, StrategyId, Timestamp,
    TradingState,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The round trip open on one instrument (from flat to flat, or to a flip). The store
/// keeps it with the position, so a restart closes the trip with its real opening time,
/// owner and opening fees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    pub opened: Timestamp,
    /// Owner of the order that opened it.
    pub owner: Option<Owner>,
    pub fees: Decimal,
    pub realized: Decimal,
    pub closed_qty: Decimal,
    pub exit_notional: Decimal,
}

/// One closed round trip: entry, exit, PnL and why it closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTrade {
    pub instrument: InstrumentId,
    pub symbol: String,
    /// Buy: the trip was long; Sell: short.
    pub side: Side,
    /// Size closed over the trip, base units.
    pub qty: Decimal,
    /// Average entry price.
    pub entry_price: Decimal,
    /// Average exit price over the closing fills.
    pub exit_price: Decimal,
    /// Realized PnL gross of fees.
    pub realized: Decimal,
    /// Fees paid over the trip (opening and closing fills).
    pub fees: Decimal,
    /// `realized - fees`.
    pub pnl: Decimal,
    pub opened: Timestamp,
    pub closed: Timestamp,
    /// Who opened it: `S1 market-maker`, `manual`, `system`.
    pub strategy: String,
    /// Why it closed: the tag of the closing order (strategy, stop-loss, take-profit,
    /// trailing-stop, manual, kill-switch, flatten).
    pub reason: OrderTag,
}

/// One operator command and what came of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Engine time.
    pub ts: Timestamp,
    /// The command's name, e.g. `kill-switch`, `toggle-strategy`.
    pub command: String,
    /// Its arguments, if any.
    pub detail: String,
    /// The alerts it raised, or `ok`.
    pub outcome: String,
}

/// The day's figures read back after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// The day's number: counted from `boundary` ([`crate::domain::TimeOfDay::day_of`]),
    /// or, with no boundary (a store from before `meta.trading_day`), the UTC date's
    /// (days since 1970-01-01, as [`Timestamp::day`]).
    pub day: i64,
    pub boundary: Option<crate::domain::TimeOfDay>,
    /// Realized PnL of the day, gross of fees.
    pub realized: Decimal,
    pub fees: Decimal,
}

/// What the store found, for the "recovered" alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredCounts {
    pub runs: u64,
    pub fills: u64,
    pub trades: u64,
    pub positions: u64,
    pub orders_cancelled: u64,
    pub orders_restored: u64,
    /// Orders left open that the venue's own log settled (filled, cancelled, rejected).
    pub orders_settled: u64,
}

/// State read back from the store at start-up.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Net positions by symbol (realized and fees are the all-time totals per symbol).
    pub positions: Vec<(String, Position)>,
    /// The round trips open on those positions (stores written before trips were kept
    /// have none: such a trip reopens at the restart, owner unknown).
    pub trips: Vec<(String, Trip)>,
    /// The highest equity reached (realized - fees + unrealized), all time; `None` in a
    /// store that never recorded it.
    pub equity_peak: Option<Decimal>,
    /// The figures of the last day traded.
    pub day: Option<DayFigures>,
    /// Strategy enable flags by name.
    pub strategies: Vec<(String, bool)>,
    pub trading_state: TradingState,
    pub halt_reason: Option<String>,
    /// Manual orders that were open at the crash, to place again (`open_orders_on_restart
    /// = "restore"`); with fresh client ids.
    pub restore_orders: Vec<OrderRequest>,
    /// Orders a live run left open: (run, client id, symbol). Only the venue knows their
    /// end; its reconciliation settles them in the store.
    pub at_venue: Vec<(u64, String, String)>,
    /// The aged-position manager's state per position (`aged_positions` table).
    pub aged: Vec<super::aged::AgedState>,
    /// Brackets that were working at the crash (their orders are cancelled with every
    /// open order; their held stops are gone): each is named in a CRITICAL alert.
    pub brackets: Vec<super::Bracket>,
    /// Execution algorithms that were working at the crash (their children are cancelled
    /// with every open order; the schedule is not resumed): each named in a WARN alert.
    pub algos: Vec<super::Algo>,
    pub counts: RecoveredCounts,
    /// What reading the venue's own record found (the paper venue's log): raised as
    /// warnings at the restart.
    pub venue_notes: Vec<String>,
    /// What the console's strategy edits (kept in the store) did to the config file's
    /// strategies at this start (WARN alerts, source `strategies`).
    pub strategy_notes: Vec<String>,
}

/// The audit name and detail of a command, or `None` for the order form's previews, which
/// are keystrokes rather than actions.
pub(crate) fn audited(cmd: &Command) -> Option<(String, String)> {
    let detail = match cmd {
        Command::Preview(_) | Command::ClearPreview | Command::PreviewModify(_) => return None,
        Command::ToggleStrategy(s) => format!("S{}", u16::from(*s) + 1),
        Command::SetStrategy(s, on) => format!("S{} {}", u16::from(*s) + 1, on),
        Command::ConfigureStrategy { id, kind, params } => format!(
            "{} {kind}: {}",
            id.map_or("new".to_string(), |s| format!("S{}", u16::from(s) + 1)),
            params.lines().collect::<Vec<_>>().join(", ")
        ),
        Command::RemoveStrategy(s) => format!("S{}", u16::from(*s) + 1),
        Command::Manual(m) => format!(
            "{} {} lots of #{} {:?} price {:?} {:?}{}",
            m.spec.side,
            m.spec.qty.0,
            m.spec.instrument.0,
            m.spec.kind,
            m.spec.price.map(|p| p.0),
            m.spec.tif,
            if m.spec.reduce_only {
                " reduce-only"
            } else {
                ""
            }
        ),
        Command::Cancel(id) => id.to_string(),
        Command::CancelGroup(g) => format!("group {g}"),
        Command::Bracket(b) => format!(
            "{} {} lots of #{} price {:?} take-profit {:?} stop-loss {:?}",
            b.order.spec.side,
            b.order.spec.qty.0,
            b.order.spec.instrument.0,
            b.order.spec.price.map(|p| p.0),
            b.legs.take_profit.map(|p| p.0),
            b.legs.stop_loss.map(|p| p.0),
        ),
        Command::Algo(a) => format!(
            "{} {} {} lots of #{} limit {:?} slices {:?} over {:?} s",
            a.kind.as_str(),
            a.order.spec.side,
            a.order.spec.qty.0,
            a.order.spec.instrument.0,
            a.order.spec.price.map(|p| p.0),
            a.slices,
            a.duration_secs,
        ),
        Command::Modify(m) => format!("{} to price {} qty {} lots", m.id, m.price.0, m.qty.0),
        Command::Flatten(Some(i)) => format!("#{}", i.0),
        _ => String::new(),
    };
    Some((cmd.name().to_string(), detail))
}

impl Engine {
    /// Enable flags as a bit mask (at most 64 strategies are tracked).
    pub(crate) fn strategy_mask(&self) -> u64 {
        self.strategies
            .iter()
            .take(64)
            .enumerate()
            .fold(0, |m, (n, s)| if s.enabled { m | (1 << n) } else { m })
    }

    /// Emit state and strategy changes made by one input (strategy changes only when
    /// `strategies_before`, the mask before the input, is given).
    pub(crate) fn note_changes(
        &mut self,
        state_before: TradingState,
        strategies_before: Option<u64>,
        out: &mut Vec<Effect>,
    ) {
        if self.state != state_before {
            out.push(Effect::StateChanged {
                state: self.state,
                reason: self.halt_reason.clone(),
            });
        }
        let Some(strategies_before) = strategies_before else {
            return;
        };
        let now = self.strategy_mask();
        if now != strategies_before {
            for (n, slot) in self.strategies.iter().enumerate().take(64) {
                if (now ^ strategies_before) & (1 << n) != 0 {
                    out.push(Effect::StrategyToggled {
                        id: n as StrategyId,
                        name: slot.name.clone(),
                        enabled: slot.enabled,
                    });
                }
            }
        }
    }

    /// Emit the audit entry of a command whose effects start at `from` in `out`.
    pub(crate) fn audit(&mut self, command: (String, String), from: usize, out: &mut Vec<Effect>) {
        let texts: Vec<&str> = out[from..]
            .iter()
            .filter_map(|e| match e {
                Effect::Alert(a) => Some(a.text.as_str()),
                _ => None,
            })
            .collect();
        let outcome = if texts.is_empty() {
            "ok".to_string()
        } else {
            texts.join("; ")
        };
        out.push(Effect::Audit(AuditEntry {
            ts: self.now,
            command: command.0,
            detail: command.1,
            outcome,
        }));
    }

    /// Follow the round trip on instrument `i` through one fill; the closed trade when the
    /// fill ends it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn track_trip(
        &mut self,
        i: usize,
        held_before: bool,
        before: &Position,
        fill: &Fill,
        price: Decimal,
        effect: &FillEffect,
        owner: Option<Owner>,
        tag: OrderTag,
    ) -> Option<ClosedTrade> {
        let now = self.now;
        let trip = &mut self.trips[i];
        if !held_before {
            *trip = Trip {
                opened: now,
                owner,
                ..Trip::default()
            };
        }
        trip.fees += fill.fee;
        if effect.closed.is_zero() {
            return None;
        }
        trip.realized += effect.realized;
        trip.closed_qty += effect.closed;
        trip.exit_notional += effect.closed * price;
        if !effect.round_trip_closed {
            return None;
        }
        let strategy = match trip.owner {
            Some(Owner::Strategy(s)) => {
                let name = self
                    .strategies
                    .get(s as usize)
                    .map_or("?", |x| x.name.as_str());
                format!("S{} {name}", u16::from(s) + 1)
            }
            Some(o) => o.to_string(),
            None => "unknown".to_string(),
        };
        let t = ClosedTrade {
            instrument: fill.instrument,
            symbol: self.instruments[i].symbol.clone(),
            side: if before.qty.is_sign_positive() {
                Side::Buy
            } else {
                Side::Sell
            },
            qty: trip.closed_qty.normalize(),
            entry_price: before.avg_price,
            exit_price: (trip.exit_notional / trip.closed_qty).normalize(),
            realized: trip.realized,
            fees: trip.fees,
            pnl: trip.realized - trip.fees,
            opened: trip.opened,
            closed: now,
            strategy,
            reason: tag,
        };
        // A flip opens the next trip with this fill's owner.
        *trip = Trip {
            opened: now,
            owner,
            ..Trip::default()
        };
        Some(t)
    }

    /// Take back what the store recovered: positions, the day's PnL, strategy flags, the
    /// trading state (a halted engine stays HALTED with its gate closed), manual orders to
    /// place again; raises the "recovered" alert. Call before the first `process`.
    pub fn restore(&mut self, rec: Recovered) {
        let mut out = Vec::new();
        let unknown = self.restore_positions(&rec);
        self.restore_aged(&rec.aged, &mut out);
        self.restore_strategies(&rec);
        self.pending_restore = rec.restore_orders.clone();
        self.alert_recovered(&rec, &unknown, &mut out);
        self.alert_lost_brackets(&rec, &mut out);
        self.restore_state(&rec, &mut out);
        self.pending.append(&mut out);
    }

    /// Positions, realized PnL and fees, the day's starting equity and the equity peak.
    /// Returns the symbols of open positions in instruments not configured now.
    fn restore_positions(&mut self, rec: &Recovered) -> Vec<String> {
        let mut realized = Decimal::ZERO;
        let mut fees = Decimal::ZERO;
        let mut unknown = Vec::new();
        for (symbol, p) in &rec.positions {
            match self.instruments.iter().position(|i| &i.symbol == symbol) {
                Some(i) => {
                    self.positions[i] = Position {
                        instrument: InstrumentId(i as u16),
                        ..p.clone()
                    };
                    if !p.is_flat() {
                        let kept = rec.trips.iter().find(|(s, _)| s == symbol);
                        self.trips[i] = match kept {
                            Some((_, t)) => t.clone(),
                            None => Trip {
                                opened: self.now,
                                ..Trip::default()
                            },
                        };
                    }
                    realized += p.realized;
                    fees += p.fees;
                }
                None if !p.is_flat() => unknown.push(symbol.clone()),
                None => {}
            }
        }
        self.realized = realized;
        self.fees = fees;
        let net = realized - fees;
        self.day_start_equity = match self.todays_figures(rec) {
            Some(d) => net - (d.realized - d.fees),
            None => net,
        };
        // The drawdown is measured from the persisted peak: a restart does not reset the
        // max_drawdown limit. Equity starts at 0 in a new store, so the all-time peak is
        // never below 0 (a store that never recorded a rise above 0 has no peak row).
        self.equity_peak = rec.equity_peak.unwrap_or(Decimal::ZERO).max(net);
        self.peak_stored = self.equity_peak;
        unknown
    }

    /// Strategy switches as the previous run left them.
    fn restore_strategies(&mut self, rec: &Recovered) {
        for (name, on) in &rec.strategies {
            // A removed instance stays off whatever its row says.
            if let Some(slot) = self
                .strategies
                .iter_mut()
                .find(|s| s.name == *name && !s.removed)
            {
                if slot.enabled && !on {
                    slot.strategy.on_disable();
                }
                slot.enabled = *on;
            }
        }
    }

    /// A bracket (or an algorithm) working at the crash is not resumed: its take-profit was cancelled with
    /// the open orders and its stop is not held. Say so, one CRITICAL alert each.
    fn alert_lost_brackets(&mut self, rec: &Recovered, out: &mut Vec<Effect>) {
        for b in &rec.brackets {
            let Some(inst) = self.instruments.get(b.instrument.index()) else {
                continue;
            };
            let price =
                |p: Option<crate::domain::Price>| p.map_or("-".into(), |p| inst.fmt_price(p));
            let text = format!(
                "restart: bracket {} ({}, {} {} {}, take-profit {}, stop-loss {}) was working: its orders are cancelled and its stop is NOT held; {} {} it had filled is unprotected: set a new stop or close it",
                b.name(),
                b.owner,
                b.side,
                inst.fmt_qty(b.entry_qty),
                inst.symbol,
                price(b.legs.take_profit),
                price(b.legs.stop_loss),
                inst.fmt_qty(b.open()),
                inst.symbol,
            );
            self.alert(AlertLevel::Critical, "store", text, out);
        }
        for a in &rec.algos {
            let Some(inst) = self.instruments.get(a.instrument.index()) else {
                continue;
            };
            let text = format!(
                "restart: algo {} {} ({}, {} {} {}) was working: {} filled; its children are cancelled and it is not resumed",
                a.name(),
                a.kind.as_str(),
                a.owner,
                a.side,
                inst.fmt_qty(a.qty),
                inst.symbol,
                inst.fmt_qty(a.filled),
            );
            self.alert(AlertLevel::Warn, "store", text, out);
        }
    }

    /// The "recovered" alert, and a critical one for positions nobody trades now.
    fn alert_recovered(&mut self, rec: &Recovered, unknown: &[String], out: &mut Vec<Effect>) {
        let c = &rec.counts;
        let open: Vec<String> = self
            .instruments
            .iter()
            .zip(&self.positions)
            .filter(|(_, p)| !p.is_flat())
            .map(|(i, p)| format!("{} {}", i.symbol, p.qty.normalize()))
            .collect();
        let text = format!(
            "recovered: {} runs, {} fills, {} trades, {} positions{}, {} open orders cancelled, {} to restore",
            c.runs,
            c.fills,
            c.trades,
            open.len(),
            if open.is_empty() {
                String::new()
            } else {
                format!(" ({})", open.join(", "))
            },
            c.orders_cancelled,
            c.orders_restored
        );
        self.alert(AlertLevel::Info, "store", text, out);
        for note in &rec.venue_notes {
            self.alert(AlertLevel::Warn, "venue", note.clone(), out);
        }
        for note in &rec.strategy_notes {
            self.alert(AlertLevel::Warn, "strategies", note.clone(), out);
        }
        if !rec.at_venue.is_empty() {
            let text = format!(
                "{} order(s) of earlier live runs were open at the restart: the venue's reconciliation says what became of them",
                rec.at_venue.len()
            );
            self.alert(AlertLevel::Warn, "store", text, out);
        }
        if !unknown.is_empty() {
            let text = format!(
                "recovered positions in instruments not configured now: {}",
                unknown.join(", ")
            );
            self.alert(AlertLevel::Critical, "store", text, out);
        }
    }

    /// The trading state: a halted engine stays HALTED with its gate closed.
    /// The stored day's figures when they are today's, counted with today's boundary (a
    /// store from before the trading-day row counted UTC dates: right for a midnight
    /// boundary only).
    fn todays_figures<'r>(&self, rec: &'r Recovered) -> Option<&'r DayFigures> {
        let boundary = self.cfg.day_boundary;
        rec.day.as_ref().filter(|d| {
            let same_count = d
                .boundary
                .map_or(boundary == crate::domain::TimeOfDay::MIDNIGHT, |b| {
                    b == boundary
                });
            same_count && d.day == self.day
        })
    }

    fn restore_state(&mut self, rec: &Recovered, out: &mut Vec<Effect>) {
        if rec.trading_state == TradingState::Halted {
            self.gate.close();
            self.state = TradingState::Halted;
            let reason = rec.halt_reason.clone().unwrap_or_else(|| "halted".into());
            // A halt for the day's loss from a day that had fills today still holds the
            // re-arm until the next day.
            if reason.contains("daily_loss_limit") && self.todays_figures(rec).is_some() {
                self.loss_halt_day = Some(self.day);
            }
            self.halt_reason = Some(format!("restored HALTED ({reason}): re-arm to trade"));
            let text = format!("restarted HALTED: {reason}; re-arm to trade");
            self.alert(AlertLevel::Critical, "store", text, out);
            // The store keeps the halt too (a crash may have left another state there).
            out.push(Effect::StateChanged {
                state: TradingState::Halted,
                reason: Some(reason),
            });
        } else if rec.trading_state != self.state && self.state != TradingState::Halted {
            self.state = rec.trading_state;
            let text = format!("restored trading state {}", self.state);
            self.alert(AlertLevel::Info, "store", text, out);
        }
    }

    /// Place restored orders whose instrument's book has a mid now.
    pub(crate) fn place_restored(&mut self, out: &mut Vec<Effect>) {
        let waiting = std::mem::take(&mut self.pending_restore);
        for mut req in waiting {
            let i = req.spec.instrument.index();
            if i >= self.books.len() {
                continue;
            }
            if self.books[i].mid_ticks().is_none() {
                self.pending_restore.push(req);
                continue;
            }
            let old = req.client_id.clone();
            req.client_id = self.next_id(req.owner);
            match self.place(req, out) {
                Some(id) => {
                    let text = format!("restored order {old} as {id}");
                    self.alert(AlertLevel::Info, "store", text, out);
                }
                None => {
                    let text = format!("could not restore order {old}: refused by risk");
                    self.alert(AlertLevel::Warn, "store", text, out);
                }
            }
        }
    }
}
