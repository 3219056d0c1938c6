//! What the control socket tells about a running engine, built from its published view:
//! [`Status`] (`pit status`) and [`KillReport`] (how far a kill has got, `pit kill`).
//! Both are plain serde values, so `--json` prints them as they travel, and the text
//! forms are made here too.

use crate::domain::Order;
use crate::engine::view::EngineView;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A position, in the instrument's units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionStatus {
    pub symbol: String,
    pub qty: Decimal,
    pub avg_price: Decimal,
    pub mark: Option<Decimal>,
    pub unrealized: Decimal,
    /// The book is RESYNCING or stale: `mark` is the last trusted one.
    #[serde(default)]
    pub mark_stale: bool,
    /// The instrument's price decimals (the text shows the average price and the mark
    /// one decimal finer, the unrealized PnL at its quote precision); absent from an
    /// engine of before.
    #[serde(default)]
    pub price_dp: Option<u32>,
    /// Decimals of money in the instrument's quote currency.
    #[serde(default)]
    pub money_dp: Option<u32>,
    /// The size held is dust, below the venue's minimum: no order can close it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dust: bool,
}

/// Account PnL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PnlStatus {
    pub equity: Decimal,
    pub realized: Decimal,
    pub unrealized: Decimal,
    pub fees: Decimal,
    pub day_pnl: Decimal,
}

/// An open order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub price: Option<Decimal>,
    pub qty: Decimal,
    pub filled: Decimal,
    pub status: String,
    pub owner: String,
    pub cancel_pending: bool,
}

/// One instrument's market data: `ok`, `RESYNCING`, `STALE` or `CROSSED`, plus the live
/// connection's state when there is one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub symbol: String,
    pub state: String,
    pub connection: Option<String>,
}

/// The answer to `status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub engine_time: String,
    pub trading_state: String,
    pub halt_reason: Option<String>,
    pub gate_open: bool,
    pub kill: Option<KillReport>,
    pub positions: Vec<PositionStatus>,
    pub pnl: PnlStatus,
    pub open_orders: Vec<OrderRow>,
    pub feed: Vec<FeedStatus>,
    pub engine_lag_ms: f64,
    pub fills: u64,
    pub events: u64,
    /// The store could not write (the error): the run is halted for good, and nothing
    /// since the failure is recorded.
    #[serde(default)]
    pub store_failed: Option<String>,
    /// The live execution venue (network, account, reconciliation, latency); absent on
    /// paper.
    #[serde(default)]
    pub exec: Option<crate::engine::view::ExecHealth>,
    /// A live venue's rules (exchange filters) per instrument, as the risk engine holds
    /// them; empty on paper.
    #[serde(default)]
    pub venue_rules: Vec<crate::engine::view::VenueRulesView>,
    /// Decimals of account money (the finest quote precision of the instruments): the
    /// text shows PnL, fees and equity at it; the JSON keeps the exact figures.
    #[serde(default)]
    pub money_dp: Option<u32>,
    /// Each instrument's trading session (`[[sessions]]`): `SESSION CLOSED`, `OPEN` ...,
    /// when it opens or closes next; empty when none is configured.
    #[serde(default)]
    pub sessions: Vec<crate::engine::session::SessionView>,
    /// The aged-position manager and the positions it follows (`None`: off).
    #[serde(default)]
    pub aged: Option<crate::engine::aged::AgedView>,
}

/// How far a kill has got, as the engine counts it: the targets are every order that was
/// open when it started except the engine's own closing orders (a flatten in flight).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KillReport {
    pub gate_open: bool,
    pub cancels_sent: u32,
    pub cancelled: u32,
    /// Filled before the cancel arrived.
    pub filled: u32,
    /// Refused by the venue (the order, not the cancel).
    pub rejected: u32,
    /// Still open: listed.
    pub unresolved: Vec<String>,
}

impl KillReport {
    /// Every target resolved.
    pub fn resolved(&self) -> bool {
        self.unresolved.is_empty()
    }
    /// `cancels 5: cancelled 4, filled 1, rejected 0; unresolved 0`.
    pub fn counts_text(&self) -> String {
        format!(
            "cancelled {}, filled before the cancel {}, rejected {}; unresolved {}",
            self.cancelled,
            self.filled,
            self.rejected,
            self.unresolved.len()
        )
    }
}

/// `d` at `dp` decimals (rounded as the console rounds), or as it is when `dp` is unknown
/// (an engine of before sent none).
fn at_dp(d: Decimal, dp: Option<u32>) -> String {
    match dp {
        Some(dp) => {
            let r = d.round_dp(dp);
            // A loss that rounds to nothing reads 0.00, not -0.00.
            let r = if r.is_zero() { Decimal::ZERO } else { r };
            format!("{:.*}", dp as usize, r)
        }
        None => d.to_string(),
    }
}

fn instrument(v: &EngineView, i: usize) -> Option<&crate::domain::Instrument> {
    v.markets.get(i)?.instrument.as_ref()
}

fn symbol(v: &EngineView, i: usize) -> String {
    v.markets
        .get(i)
        .and_then(|m| m.instrument.as_ref())
        .map_or_else(|| format!("#{i}"), |i| i.symbol.clone())
}

/// The kill's progress in `v` (the engine's own count of its targets,
/// [`crate::engine::KillProgress`]), or `None` if the view shows no kill.
pub fn kill_report(v: &EngineView) -> Option<KillReport> {
    let k = v.kill.as_ref()?;
    Some(KillReport {
        gate_open: v.gate_open,
        cancels_sent: k.cancels_requested,
        cancelled: k.cancels_confirmed,
        filled: k.filled,
        rejected: k.rejected,
        unresolved: k.unresolved.iter().map(ToString::to_string).collect(),
    })
}

fn order_row(v: &EngineView, o: &Order) -> OrderRow {
    let inst = v
        .markets
        .get(o.req.spec.instrument.0 as usize)
        .and_then(|m| m.instrument.as_ref());
    OrderRow {
        id: o.id().to_string(),
        symbol: symbol(v, o.req.spec.instrument.0 as usize),
        side: o.req.spec.side.as_str().into(),
        kind: format!("{:?}", o.req.spec.kind).to_lowercase(),
        price: o
            .req
            .spec
            .price
            .and_then(|p| inst.map(|i| i.price(p).normalize())),
        qty: inst.map_or(Decimal::from(o.req.spec.qty.0), |i| {
            i.qty(o.req.spec.qty).normalize()
        }),
        filled: inst.map_or(Decimal::from(o.filled.0), |i| i.qty(o.filled).normalize()),
        status: o.status.as_str().into(),
        owner: o.req.owner.to_string(),
        cancel_pending: o.cancel_pending,
    }
}

impl Status {
    pub fn from_view(v: &EngineView) -> Status {
        let positions = v
            .positions
            .iter()
            .enumerate()
            .map(|(i, p)| PositionStatus {
                symbol: symbol(v, i),
                qty: p.position.qty.normalize(),
                avg_price: p.position.avg_price.normalize(),
                mark: p.mark.map(|m| m.normalize()),
                unrealized: p.unrealized.round_dp(8).normalize(),
                mark_stale: p.mark_stale,
                price_dp: instrument(v, i).map(|i| i.price_precision),
                money_dp: instrument(v, i).map(|i| i.money_precision()),
                dust: p.dust,
            })
            .collect();
        let feed = v
            .markets
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let sym = symbol(v, i);
                let state = if m.resyncing {
                    "RESYNCING"
                } else if m.crossed {
                    "CROSSED"
                } else if m.stale {
                    "STALE"
                } else {
                    "ok"
                };
                let connection = v
                    .health
                    .feed
                    .iter()
                    .find(|f| f.symbol == sym)
                    .map(|f| f.connection.clone());
                FeedStatus {
                    symbol: sym,
                    state: state.into(),
                    connection,
                }
            })
            .collect();
        let money = |d: Decimal| d.round_dp(8).normalize();
        Status {
            pid: std::process::id(),
            engine_time: v.now.to_rfc3339(),
            trading_state: v.trading_state.as_str().into(),
            halt_reason: v.halt_reason.clone(),
            gate_open: v.gate_open,
            kill: kill_report(v),
            positions,
            pnl: PnlStatus {
                equity: money(v.pnl.equity),
                realized: money(v.pnl.realized),
                unrealized: money(v.pnl.unrealized),
                fees: money(v.pnl.fees),
                day_pnl: money(v.pnl.day_pnl),
            },
            open_orders: v.open_orders.iter().map(|o| order_row(v, o)).collect(),
            feed,
            engine_lag_ms: v.engine_lag.as_secs_f64() * 1e3,
            fills: v.health.fills,
            events: v.health.events,
            store_failed: v.store_failed.clone(),
            exec: v.health.exec.clone(),
            venue_rules: v.health.venue_rules.clone(),
            money_dp: v
                .markets
                .iter()
                .filter_map(|m| m.instrument.as_ref())
                .map(crate::domain::Instrument::money_precision)
                .max(),
            sessions: v.sessions.clone(),
            aged: v.aged.clone(),
        }
    }

    /// For people: a few lines.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}{}  gate {}  (pid {}, engine time {}, lag {:.1} ms)\n",
            self.trading_state,
            self.halt_reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            if self.gate_open { "open" } else { "CLOSED" },
            self.pid,
            self.engine_time,
            self.engine_lag_ms,
        );
        if let Some(x) = &self.exec {
            let q = |q: &Option<crate::engine::view::Quantiles>| {
                q.map_or("-".to_string(), |q| {
                    format!("median {} µs, p99 {} µs", q.median_us, q.p99_us)
                })
            };
            s += &format!(
                "{} {} account {}: stream {}{}; {}; send->ack {}; send->first fill {}\n",
                x.network,
                x.venue,
                x.account.as_deref().unwrap_or("?"),
                x.connection,
                x.reconciling
                    .as_ref()
                    .map(|r| format!(", RECONCILING ({r})"))
                    .unwrap_or_default(),
                x.dead_man,
                q(&x.send_to_ack),
                q(&x.send_to_first_fill),
            );
            for r in &x.holds {
                s += &format!("HELD: {r}\n");
            }
        }
        for r in &self.venue_rules {
            s += &format!(
                "filters {}: {}\n",
                r.symbol,
                if r.known {
                    r.text.clone()
                } else {
                    format!("NOT KNOWN, {}", r.text)
                }
            );
        }
        for x in &self.sessions {
            s += &format!(
                "session {}: {}{}, {} ({})\n",
                x.symbol,
                x.state,
                if x.suspended {
                    ": no new orders (reduce-only exits pass)"
                } else {
                    ""
                },
                x.next,
                x.window
            );
        }
        if let Some(a) = &self.aged {
            for p in &a.positions {
                s += &format!(
                    "aged {}: {} {}h, {} (attempts {}){}\n",
                    p.symbol,
                    p.phase,
                    p.age_hours,
                    p.action,
                    p.attempts,
                    if a.state == "HELD" {
                        ", held while HALTED"
                    } else {
                        ""
                    }
                );
            }
        }
        if let Some(e) = &self.store_failed {
            s += &format!(
                "STORE FAILED: {e}; trading stopped, nothing since is recorded; free the disk, then restart pit\n"
            );
        }
        if let Some(k) = &self.kill {
            s += &format!(
                "kill: cancels sent {}, {}\n",
                k.cancels_sent,
                k.counts_text()
            );
        }
        let money = |d: Decimal| at_dp(d, self.money_dp);
        s += &format!(
            "pnl: equity {} (realized {}, unrealized {}, fees {}), day {}\n",
            money(self.pnl.equity),
            money(self.pnl.realized),
            money(self.pnl.unrealized),
            money(self.pnl.fees),
            money(self.pnl.day_pnl)
        );
        for p in &self.positions {
            // Average prices and marks one decimal finer than the tick (a mid is often
            // half a tick), as the console shows them.
            let finer = p.price_dp.map(|d| d + 1);
            s += &format!(
                "position {} {} @ {} (mark {}{}, unrealized {}){}\n",
                p.symbol,
                p.qty,
                at_dp(p.avg_price, finer),
                p.mark.map_or("-".into(), |m| at_dp(m, finer)),
                if p.mark_stale {
                    " STALE: book not trusted"
                } else {
                    ""
                },
                at_dp(p.unrealized, p.money_dp.or(self.money_dp)),
                if p.dust {
                    " DUST: below the venue's minimum, not sellable"
                } else {
                    ""
                }
            );
        }
        s += &format!("open orders: {}\n", self.open_orders.len());
        for o in &self.open_orders {
            s += &format!(
                "  {} {} {} {} @ {} filled {} {} ({}){}\n",
                o.id,
                o.symbol,
                o.side,
                o.qty,
                o.price.map_or("market".into(), |p| p.to_string()),
                o.filled,
                o.status,
                o.owner,
                if o.cancel_pending {
                    ", cancel pending"
                } else {
                    ""
                }
            );
        }
        let feed: Vec<String> = self
            .feed
            .iter()
            .map(|f| match &f.connection {
                Some(c) => format!("{} {} ({c})", f.symbol, f.state),
                None => format!("{} {}", f.symbol, f.state),
            })
            .collect();
        s += &format!(
            "feed: {}\nfills {}, events {}\n",
            feed.join(", "),
            self.fills,
            self.events
        );
        s
    }
}
