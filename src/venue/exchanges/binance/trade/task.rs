//! The Binance connection task: on a thread of its own (a tokio runtime), it carries out
//! the engine's requests on the REST API, listens to the user data stream, resolves
//! unknown outcomes and reconciles, and hands the engine its execution reports through
//! the [`Tracker`] (each fact once, acks first).
//!
//! Rules it keeps, from Binance's docs (rest-api.md, web-socket-api.md,
//! user-data-stream.md):
//! * an order leaves only once the store has its record (the barrier);
//! * a request with no answer, or a 5XX / -1006 / -1007, has an UNKNOWN outcome: the order
//!   is queried by its client id until Binance answers; "Order does not exist" counts only
//!   once the request's `recvWindow` has passed (it can no longer be executed), and the
//!   order is never sent again;
//! * 429 backs off for `Retry-After`; 418 stops everything and halts pit (CRITICAL);
//! * the user data stream is `userDataStream.subscribe.signature` on the WebSocket API
//!   (the spot listen-key endpoints are gone since 2026-02-20); on any drop,
//!   `eventStreamTerminated` or `serverShutdown` it reconnects with back-off and
//!   reconciles, refusing new orders meanwhile.

use super::rest::{Method, Rest, RestError};
use crate::domain::{ExecReport, Instrument, Liquidity, OrderKind, Side, TimeInForce, Timestamp};
use crate::engine::AlertLevel;
use crate::venue::exchanges::binance::api::errors::{Outcome, code};
use crate::venue::exchanges::binance::api::wire::{
    self, Account, CancelAllEntry, CancelResponse, ExecutionType, MyTrade, MyTradesParams,
    NewOrderParams, NewOrderResponse, OrderRef, OrderRespType, OrderStatus, QueriedOrder,
    SymbolParam, UserEvent,
};
use crate::venue::live::ids::IdOwner;
use crate::venue::live::latency::OrderLatency;
use crate::venue::live::port::{SharedHealth, ToVenue};
use crate::venue::live::reconcile::{FeeCoin, RunBalances, TradeMove, balance_note, fee_coin};
use crate::venue::live::tracker::{Tracker, VenueUpdate, trade_seq};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long a cancel waits out rate-limit back-offs and clock re-measures before its
/// failure is reported (a kill's cancels must not fail on a 429: they wait `Retry-After`).
const CANCEL_PATIENCE: Duration = Duration::from_secs(30);

/// Alerts and the halt, raised from the connection task (bound once the engine runs).
pub trait Hooks: Send + Sync {
    fn alert(&self, level: AlertLevel, text: String);
    /// Close the gate and halt the engine (the kill switch), with the reason.
    fn halt(&self, reason: String);
}

/// What the task is made of.
pub struct TaskSetup {
    pub rest: Arc<Rest>,
    pub ws_api_url: String,
    pub instruments: Vec<Instrument>,
    pub tracker: Tracker,
    pub reports: std::sync::mpsc::Sender<ExecReport>,
    pub health: SharedHealth,
    pub hooks: Arc<std::sync::OnceLock<Arc<dyn Hooks>>>,
    /// The store's durable watermark (none: nothing to wait for).
    pub durable: Option<Arc<AtomicU64>>,
    /// Per symbol: the last trade id already known (store), for `myTrades?fromId=`.
    pub last_trade: BTreeMap<String, u64>,
    /// Where the starting balances are kept (the data folder).
    pub start_file: Option<std::path::PathBuf>,
    /// Orders earlier live runs left open (run, engine id, symbol): only Binance knows
    /// their end. Each is asked about (cancelled if still working, else queried) and its
    /// end is written back through `settle`: never marked cancelled without Binance's word.
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
}

/// Writes what Binance said became of an earlier run's order: (run, engine id, final
/// status, filled size, note). Called on the blocking pool (it writes the store).
pub type Settle = Arc<dyn Fn(u64, &str, crate::domain::OrderStatus, Decimal, &str) + Send + Sync>;

/// Results of the task's own requests and of the stream.
enum Internal {
    /// A cancel held while its order's create was on its way: send it now.
    CancelNow {
        venue_id: String,
        symbol: String,
    },
    Placed {
        venue_id: String,
        symbol: String,
        sent_ms: u64,
        result: Result<NewOrderResponse, RestError>,
    },
    Cancelled {
        venue_id: String,
        symbol: String,
        result: Result<CancelResponse, RestError>,
    },
    CancelledAll {
        symbol: String,
        result: Result<Vec<CancelAllEntry>, RestError>,
    },
    /// An order found by a query (unknown outcome, reconciliation), with its trades.
    Resolved {
        venue_id: String,
        order: Option<QueriedOrder>,
        trades: Vec<MyTrade>,
        why: String,
    },
    /// Client ids of Binance order ids that trades named, and those trades.
    Mapped {
        ids: Vec<((String, u64), String)>,
        trades: Vec<MyTrade>,
    },
    Stream(Box<UserEvent>),
    StreamUp,
    StreamDown(String),
    Reconciled(Result<Box<Snapshot>, String>),
}

/// What a reconciliation fetched.
struct Snapshot {
    open: Vec<QueriedOrder>,
    account: Account,
    trades: Vec<MyTrade>,
    reason: String,
    /// Per symbol, the last trade the account's balances hold: `None` when trades came in
    /// while the account was read (each try), so the balances cannot be compared exactly.
    marks: Option<BTreeMap<String, u64>>,
    /// Each symbol's base and quote asset, when asked for (exchangeInfo).
    assets: BTreeMap<String, (String, String)>,
}

struct Conn {
    s: TaskSetup,
    internal: UnboundedSender<Internal>,
    latency: OrderLatency,
    /// Send instants of orders waiting for their ack / first fill.
    sent_at: BTreeMap<String, Instant>,
    first_fill_seen: BTreeSet<String>,
    reconciling: bool,
    /// A reconciliation was asked for while one ran.
    reconcile_again: Option<String>,
    /// Why the running reconciliation runs (kept by its retries).
    reconcile_reason: String,
    external_seen: BTreeSet<String>,
    unresolved: u64,
    /// Binance's order id -> our venue client id, per symbol (`myTrades` names orders by
    /// Binance's id only).
    order_ids: BTreeMap<(String, u64), String>,
    /// Earlier runs' orders not settled yet, by venue id: (run, engine id, symbol).
    earlier: BTreeMap<String, (u64, String, String)>,
    /// Of those, the ones already asked about.
    earlier_asked: BTreeSet<String>,
    /// The account's balances at the run's start and every trade since.
    balances: RunBalances,
    /// Orders sent whose answer has not come back yet.
    in_flight: BTreeSet<String>,
    /// Cancels asked for while their order's create was on its way (venue id -> symbol):
    /// sent once the create is answered. Sent at once, a cancel could reach Binance
    /// first, find nothing (-2011), and the order would then rest after the kill switch.
    cancel_after_create: BTreeMap<String, String>,
    /// Orders cancelled before their create left (it waits for the store's record): the
    /// create's task reads this after the wait and sends nothing for them.
    withdrawn: Arc<crate::venue::live::gate::Withdrawn>,
    /// Cancels held past an unknown create outcome (venue id -> symbol): sent once asking
    /// finds the order open, dropped when it was never placed. Sent at once, the cancel
    /// could reach Binance before the order and be refused (-2011), and the order would
    /// then rest.
    cancel_after_resolve: BTreeMap<String, String>,
}

/// Run the task until the engine side goes away.
pub async fn run(setup: TaskSetup, mut rx: UnboundedReceiver<ToVenue>) {
    let (itx, mut irx) = unbounded_channel();
    let mut c = Conn {
        s: setup,
        internal: itx.clone(),
        latency: OrderLatency::default(),
        sent_at: BTreeMap::new(),
        first_fill_seen: BTreeSet::new(),
        reconciling: false,
        reconcile_again: None,
        reconcile_reason: String::new(),
        external_seen: BTreeSet::new(),
        unresolved: 0,
        order_ids: BTreeMap::new(),
        earlier: BTreeMap::new(),
        earlier_asked: BTreeSet::new(),
        balances: RunBalances::default(),
        in_flight: BTreeSet::new(),
        cancel_after_create: BTreeMap::new(),
        withdrawn: Arc::default(),
        cancel_after_resolve: BTreeMap::new(),
    };
    for (run, id, symbol) in std::mem::take(&mut c.s.at_venue) {
        let v =
            c.s.tracker
                .ids()
                .of_run(run, &crate::domain::ClientOrderId::new(id.as_str()));
        c.earlier.insert(v, (run, id, symbol));
    }
    match c.s.rest.sync_time().await {
        Ok(o) => tracing::info!(offset_ms = o, "binance: server time measured"),
        Err(e) => c.alert(
            AlertLevel::Warn,
            format!("binance: server time not measured ({e}); using the local clock"),
        ),
    }
    tokio::spawn(user_stream(
        c.s.rest.clone(),
        c.s.ws_api_url.clone(),
        itx.clone(),
    ));
    c.start_reconcile("start".into());
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => c.on_request(m),
                None => break,
            },
            Some(i) = irx.recv() => c.on_internal(i),
        }
        c.publish();
    }
}

impl Conn {
    fn alert(&self, level: AlertLevel, text: String) {
        match level {
            AlertLevel::Critical => tracing::error!("{text}"),
            AlertLevel::Warn => tracing::warn!("{text}"),
            AlertLevel::Info => tracing::info!("{text}"),
        }
        if let Some(h) = self.s.hooks.get() {
            h.alert(level, text);
        }
    }

    fn emit(&mut self, u: VenueUpdate) {
        let mut out = Vec::new();
        self.s.tracker.apply(u, &mut out);
        for r in out {
            let _ = self.s.reports.send(r);
        }
    }

    fn publish(&self) {
        let usage = self.s.rest.usage();
        if let Ok(mut h) = self.s.health.lock() {
            h.used_weight = usage.used_weight_1m;
            h.order_count = usage.order_count_10s;
            h.unresolved = self.unresolved;
            h.send_to_ack = self.latency.ack.summary();
            h.send_to_first_fill = self.latency.first_fill.summary();
            h.external_orders = self.external_seen.iter().cloned().collect();
            if self.s.rest.is_banned() && h.stopped.is_none() {
                h.stopped = Some("Binance banned this IP (HTTP 418)".into());
            }
        }
    }

    fn set_reconciling(&self, reason: Option<String>) {
        if let Ok(mut h) = self.s.health.lock() {
            h.reconciling = reason;
        }
    }

    fn inst(&self, symbol: &str) -> Option<&Instrument> {
        self.s.instruments.iter().find(|i| i.symbol == symbol)
    }

    fn on_request(&mut self, m: ToVenue) {
        match m {
            ToVenue::Place {
                venue_id,
                symbol,
                side,
                kind,
                tif,
                price,
                qty,
                barrier,
                ..
            } => {
                // A spot sell of more than the account holds of the coin is refused by
                // Binance (-2010, insufficient balance): said here, before sending, with
                // the figures (what the balances of the run explain: the start plus every
                // trade since, commissions in the coin taken off; free and locked).
                if side == Side::Sell
                    && let Some((base, held)) = self.balances.base_held(&symbol)
                    && qty > held
                {
                    self.emit(VenueUpdate::Rejected {
                        venue_id,
                        ts: wall(),
                        reason: format!(
                            "not sent: SELL {} {symbol} is more than the {} {base} the account holds",
                            qty.normalize(),
                            held.normalize()
                        ),
                    });
                    return;
                }
                self.s.tracker.sent(&venue_id, qty);
                let params = new_order(&symbol, &venue_id, side, kind, tif, price, qty);
                let rest = self.s.rest.clone();
                let durable = self.s.durable.clone();
                let tx = self.internal.clone();
                let sent_at = Instant::now();
                self.sent_at.insert(venue_id.clone(), sent_at);
                self.in_flight.insert(venue_id.clone());
                let withdrawn = self.withdrawn.clone();
                tokio::spawn(async move {
                    // The store barrier, and not cancelled meanwhile (the kill switch):
                    // `venue/live/gate.rs`, shared with Bybit and OKX.
                    if let Err(why) = crate::venue::live::gate::before_send(
                        durable.as_deref(),
                        barrier,
                        &withdrawn,
                        &venue_id,
                    )
                    .await
                    {
                        let _ = tx.send(Internal::Placed {
                            venue_id,
                            symbol,
                            sent_ms: 0,
                            result: Err(RestError::NotSent(why)),
                        });
                        return;
                    }
                    let sent_ms = rest.server_now_ms();
                    let result = rest.signed(Method::Post, "/api/v3/order", &params).await;
                    let _ = tx.send(Internal::Placed {
                        venue_id,
                        symbol,
                        sent_ms,
                        result,
                    });
                });
            }
            ToVenue::Cancel { venue_id, symbol } if self.in_flight.contains(&venue_id) => {
                tracing::info!(%venue_id, "binance: cancel held until the order's create is answered");
                crate::venue::live::gate::withdraw(&self.withdrawn, &venue_id);
                self.cancel_after_create.insert(venue_id, symbol);
            }
            ToVenue::Cancel { venue_id, symbol } => {
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let p = OrderRef {
                        symbol,
                        order_id: None,
                        orig_client_order_id: Some(venue_id.clone()),
                    };
                    let result = rest
                        .signed_idempotent(Method::Delete, "/api/v3/order", &p, CANCEL_PATIENCE)
                        .await;
                    let _ = tx.send(Internal::Cancelled {
                        venue_id,
                        symbol: p.symbol,
                        result,
                    });
                });
            }
            ToVenue::CancelAll { symbol } => {
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let p = SymbolParam {
                        symbol: Some(symbol.clone()),
                    };
                    let result = rest
                        .signed_idempotent(
                            Method::Delete,
                            "/api/v3/openOrders",
                            &p,
                            CANCEL_PATIENCE,
                        )
                        .await;
                    let _ = tx.send(Internal::CancelledAll { symbol, result });
                });
            }
            ToVenue::Reconcile { reason } => self.start_reconcile(reason),
        }
    }

    fn on_internal(&mut self, i: Internal) {
        let now = wall();
        if let Internal::Placed {
            venue_id, result, ..
        } = &i
        {
            self.in_flight.remove(venue_id);
            crate::venue::live::gate::answered(&self.withdrawn, venue_id);
            if let Some(symbol) = self.cancel_after_create.remove(venue_id) {
                match result {
                    // After this answer's own update (below): the cancel follows it.
                    Ok(_) => {
                        let _ = self.internal.send(Internal::CancelNow {
                            venue_id: venue_id.clone(),
                            symbol,
                        });
                    }
                    // Asked for below: the cancel waits for the answer.
                    Err(e) if e.outcome_unknown() => {
                        self.cancel_after_resolve.insert(venue_id.clone(), symbol);
                    }
                    // Refused or never sent: nothing to cancel (the order is rejected).
                    Err(_) => {}
                }
            }
        }
        if let Internal::Resolved {
            venue_id, order, ..
        } = &i
            && let Some(symbol) = self.cancel_after_resolve.remove(venue_id)
            && order.as_ref().is_some_and(|o| o.status.is_open())
        {
            // After the answer's own update (below): the order is open, cancel it.
            let _ = self.internal.send(Internal::CancelNow {
                venue_id: venue_id.clone(),
                symbol,
            });
        }
        match i {
            Internal::CancelNow { venue_id, symbol } => {
                self.on_request(ToVenue::Cancel { venue_id, symbol })
            }
            Internal::Placed {
                venue_id,
                symbol,
                sent_ms,
                result,
            } => match result {
                Ok(resp) => {
                    self.note_ack(&venue_id);
                    self.emit(VenueUpdate::Accepted {
                        venue_id: venue_id.clone(),
                        ts: now,
                    });
                    self.apply_new_order(&venue_id, &symbol, &resp);
                }
                Err(e) if e.outcome_unknown() => {
                    self.alert(
                        AlertLevel::Warn,
                        format!("binance: order {venue_id}: {e}; outcome unknown, asking Binance (never re-sent)"),
                    );
                    self.resolve(venue_id, symbol, Some(sent_ms), "unknown outcome".into());
                }
                Err(e) => {
                    self.sent_at.remove(&venue_id);
                    if let RestError::Api {
                        outcome: Outcome::Banned,
                        ..
                    } = &e
                    {
                        self.banned();
                    }
                    self.emit(VenueUpdate::Rejected {
                        venue_id,
                        ts: now,
                        reason: e.to_string(),
                    });
                }
            },
            Internal::Cancelled {
                venue_id,
                symbol,
                result,
            } => match result {
                Ok(r) => {
                    self.settle_earlier(&venue_id, r.status, r.executed_qty, "cancel answered");
                    self.apply_status(&venue_id, r.status, now)
                }
                // -2011: not open any more (filled, or gone): an earlier run's order is
                // asked for its end.
                Err(e)
                    if e.code() == Some(code::CANCEL_REJECTED)
                        && self.earlier.contains_key(&venue_id) =>
                {
                    self.resolve(venue_id, symbol, None, "open at the restart".into());
                }
                Err(e) if e.outcome_unknown() => {
                    self.resolve(venue_id, symbol, None, "cancel outcome unknown".into());
                }
                Err(e) => {
                    if let RestError::Api {
                        outcome: Outcome::Banned,
                        ..
                    } = &e
                    {
                        self.banned();
                    }
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: now,
                        reason: e.to_string(),
                    })
                }
            },
            Internal::CancelledAll { symbol, result } => match result {
                Ok(list) => {
                    let mut n = 0;
                    for e in list {
                        if let CancelAllEntry::Order(r) = e {
                            n += 1;
                            self.external_seen.remove(&r.orig_client_order_id);
                            self.settle_earlier(
                                &r.orig_client_order_id,
                                r.status,
                                r.executed_qty,
                                "cancelled by a cancel-all",
                            );
                            self.apply_status(&r.orig_client_order_id, r.status, now);
                        }
                    }
                    tracing::info!(%symbol, cancelled = n, "binance: cancel-all");
                }
                // -2011 "Unknown order sent." when nothing was open: nothing to do.
                Err(e) if e.code() == Some(code::CANCEL_REJECTED) => {}
                Err(e) => self.alert(
                    AlertLevel::Critical,
                    format!(
                        "binance: cancel-all on {symbol} failed: {e}; per-order cancels still go"
                    ),
                ),
            },
            Internal::Resolved {
                venue_id,
                order,
                trades,
                why,
            } => {
                self.unresolved = self.unresolved.saturating_sub(1);
                if let Some(o) = &order {
                    self.order_ids
                        .insert((o.symbol.clone(), o.order_id), venue_id.clone());
                }
                self.apply_trades(&trades);
                match &order {
                    // An earlier run's order found working after all: cancel it (the
                    // answer settles it).
                    Some(o) if o.status.is_open() && self.earlier.contains_key(&venue_id) => self
                        .on_request(ToVenue::Cancel {
                            venue_id: venue_id.clone(),
                            symbol: o.symbol.clone(),
                        }),
                    Some(o) => self.settle_earlier(&venue_id, o.status, o.executed_qty, &why),
                    None => self.settle_earlier(
                        &venue_id,
                        OrderStatus::Rejected,
                        Decimal::ZERO,
                        "never reached Binance (it has no such order)",
                    ),
                }
                match order {
                    Some(o) => {
                        if o.status.is_open() || o.executed_qty > Decimal::ZERO {
                            self.note_ack(&venue_id);
                            self.emit(VenueUpdate::Accepted {
                                venue_id: venue_id.clone(),
                                ts: now,
                            });
                        }
                        self.apply_status(&venue_id, o.status, now);
                        tracing::info!(%venue_id, status = ?o.status, %why, "binance: order resolved by query");
                    }
                    None => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("binance: order {venue_id} ({why}): Binance has no such order after its recvWindow; not placed"),
                        );
                        self.emit(VenueUpdate::Rejected {
                            venue_id,
                            ts: now,
                            reason: format!("{why}: not placed (Binance has no such order)"),
                        });
                    }
                }
            }
            Internal::Mapped { ids, trades } => {
                self.order_ids.extend(ids);
                let n = self.apply_trades(&trades);
                if n > 0 {
                    self.alert(
                        AlertLevel::Warn,
                        format!("binance reconciliation: {n} fill(s) of earlier orders missed while pit was down, applied once"),
                    );
                }
            }
            Internal::Stream(ev) => self.on_event(*ev),
            Internal::StreamUp => {
                let reconnect = match self.s.health.lock() {
                    Ok(mut h) => {
                        let r = h.connection != "connecting";
                        h.connection = "connected".into();
                        r
                    }
                    Err(_) => true,
                };
                if reconnect {
                    self.start_reconcile("user data stream reconnected".into());
                }
            }
            Internal::StreamDown(why) => {
                if let Ok(mut h) = self.s.health.lock() {
                    h.connection = "reconnecting".into();
                    // Fills may happen unseen until the stream is back and reconciled: no
                    // new exposure meanwhile (cancels pass).
                    if h.reconciling.is_none() {
                        h.reconciling = Some("user data stream down".into());
                    }
                }
                self.alert(
                    AlertLevel::Warn,
                    format!(
                        "binance: user data stream lost ({why}); reconnecting, then reconciling"
                    ),
                );
            }
            Internal::Reconciled(r) => {
                match r {
                    Ok(snap) => self.finish_reconcile(*snap),
                    Err(e) => {
                        self.alert(
                            AlertLevel::Critical,
                            format!("binance: reconciliation failed ({e}); new orders stay refused, retrying in 5 s"),
                        );
                        let tx = self.internal.clone();
                        let rest = self.s.rest.clone();
                        let symbols: Vec<String> = self
                            .s
                            .instruments
                            .iter()
                            .map(|i| i.symbol.clone())
                            .collect();
                        let from = self.s.last_trade.clone();
                        let need_assets = !self.balances.knows_assets();
                        let reason = format!(
                            "{} (retried)",
                            self.reconcile_reason.trim_end_matches(" (retried)")
                        );
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            let r =
                                fetch_snapshot(&rest, &symbols, &from, need_assets, reason).await;
                            let _ = tx.send(Internal::Reconciled(r.map(Box::new)));
                        });
                        return;
                    }
                }
                self.reconciling = false;
                if let Some(r) = self.reconcile_again.take() {
                    self.start_reconcile(r);
                } else if !self.s.rest.is_banned() {
                    self.set_reconciling(None);
                }
            }
        }
    }

    /// An open order carries an id this store would draw but this run never sent (see
    /// [`crate::venue::live::ids::VenueIds::foreign_twin`]): halted, the order left alone.
    fn twin_store(&mut self, venue_id: &str) {
        self.stop(
            "another pit uses this store's order ids",
            format!(
                "binance: open order {venue_id} carries this data folder's ids but this run never sent it: another pit shares this store's id prefix (a copied or restored data folder?); trading halted, the order left alone: stop the other pit, or start this one from a fresh data folder"
            ),
        );
    }

    fn banned(&mut self) {
        self.stop(
            "Binance banned this IP (HTTP 418)",
            "binance: HTTP 418, this IP is banned: nothing more is sent; trading halted".into(),
        );
    }

    /// The connection stops taking new orders for good (`why` in its health, the port
    /// refuses with it) and the engine halts with `text` as a CRITICAL alert; once.
    fn stop(&mut self, why: &str, text: String) {
        if let Ok(mut h) = self.s.health.lock() {
            if h.stopped.is_some() {
                return;
            }
            h.stopped = Some(why.into());
        }
        self.alert(AlertLevel::Critical, text.clone());
        if let Some(h) = self.s.hooks.get() {
            h.halt(text);
        }
    }

    fn note_ack(&mut self, venue_id: &str) {
        if let Some(t) = self.sent_at.get(venue_id) {
            self.latency.ack.push(t.elapsed().as_micros() as u64);
            // Keep the send time for the first fill; drop it once filled.
            if self.first_fill_seen.contains(venue_id) {
                self.sent_at.remove(venue_id);
            } else {
                let t = *t;
                self.sent_at.insert(format!("{venue_id}#ack"), t);
                self.sent_at.remove(venue_id);
            }
        }
    }

    fn note_fill(&mut self, venue_id: &str) {
        if self.first_fill_seen.insert(venue_id.to_string()) {
            let key = format!("{venue_id}#ack");
            let t = self
                .sent_at
                .remove(&key)
                .or_else(|| self.sent_at.get(venue_id).copied());
            if let Some(t) = t {
                self.latency.first_fill.push(t.elapsed().as_micros() as u64);
            }
        }
    }

    fn apply_new_order(&mut self, venue_id: &str, symbol: &str, r: &NewOrderResponse) {
        let now = wall();
        self.order_ids
            .insert((symbol.to_string(), r.order_id), venue_id.to_string());
        if let Some(inst) = self.inst(symbol).cloned() {
            let side = match r.side {
                Some(wire::Side::Sell) => Side::Sell,
                _ => Side::Buy,
            };
            for f in &r.fills {
                self.balances.record(TradeMove {
                    symbol: symbol.to_string(),
                    trade_id: f.trade_id,
                    buy: side == Side::Buy,
                    qty: f.qty,
                    price: f.price,
                    commission: f.commission,
                    commission_asset: f.commission_asset.clone(),
                });
                self.note_fill(venue_id);
                let (fee, fee_base) = fee_parts(
                    &inst,
                    self.balances.assets_of(&inst.symbol),
                    &f.commission_asset,
                    f.commission,
                    f.price,
                );
                self.emit(VenueUpdate::Trade {
                    venue_id: venue_id.to_string(),
                    symbol: symbol.to_string(),
                    side,
                    key: trade_seq(f.trade_id, inst.id),
                    price: f.price,
                    qty: f.qty,
                    fee,
                    fee_base,
                    liquidity: Liquidity::Taker,
                    ts: now,
                });
            }
        }
        if let Some(st) = r.status {
            self.apply_status(venue_id, st, now);
        }
    }

    fn apply_status(&mut self, venue_id: &str, st: OrderStatus, ts: Timestamp) {
        match st {
            OrderStatus::Canceled | OrderStatus::Expired | OrderStatus::ExpiredInMatch => self
                .emit(VenueUpdate::Closed {
                    venue_id: venue_id.to_string(),
                    ts,
                }),
            OrderStatus::Rejected => self.emit(VenueUpdate::Rejected {
                venue_id: venue_id.to_string(),
                ts,
                reason: "rejected by Binance".into(),
            }),
            _ => {}
        }
    }

    /// Apply trades not applied yet; those of orders whose client id is not known here
    /// are looked up first (one query per order), then applied.
    fn apply_trades(&mut self, trades: &[MyTrade]) -> usize {
        let mut applied = 0;
        let mut unmapped: Vec<MyTrade> = Vec::new();
        for t in trades {
            let Some(inst) = self.inst(&t.symbol).cloned() else {
                continue;
            };
            let key = trade_seq(t.id, inst.id);
            self.balances.record(TradeMove {
                symbol: t.symbol.clone(),
                trade_id: t.id,
                buy: t.is_buyer,
                qty: t.qty,
                price: t.price,
                commission: t.commission,
                commission_asset: t.commission_asset.clone(),
            });
            let e = self.s.last_trade.entry(t.symbol.clone()).or_insert(0);
            *e = (*e).max(t.id);
            if self.s.tracker.knows_trade(key) {
                continue;
            }
            // myTrades has no client order id: the tracker knows the order by Binance's id.
            let Some(venue_id) = self.order_ids.get(&(t.symbol.clone(), t.order_id)).cloned()
            else {
                unmapped.push(t.clone());
                continue;
            };
            applied += 1;
            self.note_fill(&venue_id);
            let (fee, fee_base) = fee_parts(
                &inst,
                self.balances.assets_of(&inst.symbol),
                &t.commission_asset,
                t.commission,
                t.price,
            );
            self.emit(VenueUpdate::Trade {
                venue_id,
                symbol: t.symbol.clone(),
                side: if t.is_buyer { Side::Buy } else { Side::Sell },
                key,
                price: t.price,
                qty: t.qty,
                fee,
                fee_base,
                liquidity: if t.is_maker {
                    Liquidity::Maker
                } else {
                    Liquidity::Taker
                },
                ts: wall(),
            });
        }
        if !unmapped.is_empty() {
            let rest = self.s.rest.clone();
            let tx = self.internal.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let orders: BTreeSet<(String, u64)> = unmapped
                    .iter()
                    .map(|t| (t.symbol.clone(), t.order_id))
                    .collect();
                for (symbol, order_id) in orders {
                    let p = OrderRef {
                        symbol: symbol.clone(),
                        order_id: Some(order_id),
                        orig_client_order_id: None,
                    };
                    match rest
                        .signed::<_, QueriedOrder>(Method::Get, "/api/v3/order", &p)
                        .await
                    {
                        Ok(o) => ids.push(((symbol, order_id), o.client_order_id)),
                        Err(e) => {
                            tracing::warn!(order_id, error = %e, "binance: cannot name the order of a trade")
                        }
                    }
                }
                let _ = tx.send(Internal::Mapped {
                    ids,
                    trades: unmapped,
                });
            });
        }
        applied
    }

    fn on_event(&mut self, ev: UserEvent) {
        let now = wall();
        match ev {
            UserEvent::ExecutionReport(er) => {
                let venue_id = if er.orig_client_order_id.is_empty() {
                    er.client_order_id.clone()
                } else {
                    er.orig_client_order_id.clone()
                };
                self.order_ids
                    .insert((er.symbol.clone(), er.order_id), venue_id.clone());
                match er.execution_type {
                    ExecutionType::New => {
                        if matches!(self.s.tracker.ids().owner(&venue_id), IdOwner::External) {
                            self.note_external(&venue_id, &er.symbol);
                        }
                        self.note_ack(&venue_id);
                        self.emit(VenueUpdate::Accepted { venue_id, ts: now });
                    }
                    ExecutionType::Trade => {
                        let Some(inst) = self.inst(&er.symbol).cloned() else {
                            return;
                        };
                        if er.trade_id < 0 {
                            return;
                        }
                        let e = self.s.last_trade.entry(er.symbol.clone()).or_insert(0);
                        *e = (*e).max(er.trade_id as u64);
                        self.balances.record(TradeMove {
                            symbol: er.symbol.clone(),
                            trade_id: er.trade_id as u64,
                            buy: er.side == wire::Side::Buy,
                            qty: er.last_qty,
                            price: er.last_price,
                            commission: er.commission,
                            commission_asset: er.commission_asset.clone().unwrap_or_default(),
                        });
                        self.note_fill(&venue_id);
                        let (fee, fee_base) = fee_parts(
                            &inst,
                            self.balances.assets_of(&inst.symbol),
                            er.commission_asset.as_deref().unwrap_or(""),
                            er.commission,
                            er.last_price,
                        );
                        self.emit(VenueUpdate::Trade {
                            venue_id: venue_id.clone(),
                            symbol: er.symbol.clone(),
                            side: if er.side == wire::Side::Buy {
                                Side::Buy
                            } else {
                                Side::Sell
                            },
                            key: trade_seq(er.trade_id as u64, inst.id),
                            price: er.last_price,
                            qty: er.last_qty,
                            fee,
                            fee_base,
                            liquidity: if er.is_maker {
                                Liquidity::Maker
                            } else {
                                Liquidity::Taker
                            },
                            ts: now,
                        });
                        if er.order_status == OrderStatus::Filled {
                            self.external_seen.remove(&venue_id);
                        }
                    }
                    ExecutionType::Canceled
                    | ExecutionType::Expired
                    | ExecutionType::TradePrevention => {
                        self.external_seen.remove(&venue_id);
                        self.emit(VenueUpdate::Closed { venue_id, ts: now })
                    }
                    ExecutionType::Rejected => self.emit(VenueUpdate::Rejected {
                        venue_id,
                        ts: now,
                        reason: format!("rejected by Binance: {}", er.reject_reason),
                    }),
                    ExecutionType::Replaced => {}
                }
            }
            UserEvent::StreamTerminated { .. } | UserEvent::ServerShutdown { .. } => {}
            // A deposit, withdrawal or transfer (user-data-stream.md, "Balance Update"):
            // the account moved without a trade; reconcile to compare its balances now.
            UserEvent::BalanceUpdate(b) => self.start_reconcile(format!(
                "Binance reported a balance update ({} {})",
                b.asset,
                b.delta.normalize()
            )),
            UserEvent::AccountPosition(_) | UserEvent::Other => {}
        }
    }

    /// If `venue_id` is an earlier run's order the store still has open and Binance says
    /// it has ended, write its end to the store (off this thread).
    fn settle_earlier(&mut self, venue_id: &str, st: OrderStatus, executed: Decimal, why: &str) {
        use crate::domain::OrderStatus as Ours;
        let ours = match st {
            OrderStatus::Filled => Ours::Filled,
            OrderStatus::Canceled | OrderStatus::Expired | OrderStatus::ExpiredInMatch => {
                Ours::Cancelled
            }
            OrderStatus::Rejected => Ours::Rejected,
            // Still working (a cancel is on its way) or another state: not ended yet.
            _ => return,
        };
        let Some((run, id, _)) = self.earlier.remove(venue_id) else {
            return;
        };
        let note = format!("{} at Binance after the restart ({why})", ours.as_str());
        tracing::info!(%venue_id, status = ours.as_str(), %executed, "binance: an earlier run's order settled");
        if let Some(settle) = self.s.settle.clone() {
            tokio::task::spawn_blocking(move || settle(run, &id, ours, executed, &note));
        }
    }

    fn note_external(&mut self, venue_id: &str, symbol: &str) {
        if self.external_seen.insert(venue_id.to_string()) {
            self.alert(
                AlertLevel::Info,
                format!("binance: external order {venue_id} on {symbol} (not placed by pit): shown, never touched"),
            );
        }
    }

    /// Ask Binance for an order whose outcome is unknown, until it answers.
    fn resolve(&mut self, venue_id: String, symbol: String, sent_ms: Option<u64>, why: String) {
        self.unresolved += 1;
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
                let p = OrderRef {
                    symbol: symbol.clone(),
                    order_id: None,
                    orig_client_order_id: Some(venue_id.clone()),
                };
                let r: Result<QueriedOrder, RestError> = rest
                    .signed_idempotent(Method::Get, "/api/v3/order", &p, CANCEL_PATIENCE)
                    .await;
                match r {
                    Ok(o) => {
                        let trades = if o.executed_qty > Decimal::ZERO {
                            let p = MyTradesParams {
                                symbol: symbol.clone(),
                                order_id: Some(o.order_id),
                                start_time: None,
                                end_time: None,
                                from_id: None,
                                limit: Some(1000),
                            };
                            match rest.signed(Method::Get, "/api/v3/myTrades", &p).await {
                                Ok(t) => t,
                                Err(_) => continue,
                            }
                        } else {
                            Vec::new()
                        };
                        let _ = tx.send(Internal::Resolved {
                            venue_id,
                            order: Some(o),
                            trades,
                            why,
                        });
                        return;
                    }
                    Err(e) if e.code() == Some(code::NO_SUCH_ORDER) => {
                        // Only final once the request can no longer reach the matching
                        // engine: its timestamp plus recvWindow has passed.
                        let late = sent_ms.is_none_or(|s| {
                            rest.server_now_ms() > s + rest.recv_window_ms() + 1000
                        });
                        if late {
                            let _ = tx.send(Internal::Resolved {
                                venue_id,
                                order: None,
                                trades: Vec::new(),
                                why,
                            });
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%venue_id, error = %e, "binance: order query failed; asking again");
                        if rest.is_banned() {
                            return;
                        }
                    }
                }
            }
        });
    }

    fn start_reconcile(&mut self, reason: String) {
        if self.reconciling {
            self.reconcile_again = Some(reason);
            return;
        }
        self.reconciling = true;
        self.reconcile_reason = reason.clone();
        self.set_reconciling(Some(reason.clone()));
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        let symbols: Vec<String> = self
            .s
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect();
        let from = self.s.last_trade.clone();
        let need_assets = !self.balances.knows_assets();
        tokio::spawn(async move {
            let r = fetch_snapshot(&rest, &symbols, &from, need_assets, reason).await;
            let _ = tx.send(Internal::Reconciled(r.map(Box::new)));
        });
    }

    fn finish_reconcile(&mut self, snap: Snapshot) {
        let now = wall();
        let mut notes = Vec::new();
        if let Ok(mut h) = self.s.health.lock() {
            h.account = Some(snap.account.uid.to_string());
        }
        self.record_start_balances(&snap.account);
        let venue_open: BTreeSet<String> = snap
            .open
            .iter()
            .map(|o| o.client_order_id.clone())
            .collect();
        for o in &snap.open {
            self.order_ids
                .insert((o.symbol.clone(), o.order_id), o.client_order_id.clone());
            let sent = self.s.tracker.was_sent(&o.client_order_id);
            if self.s.tracker.ids().foreign_twin(&o.client_order_id, sent) {
                self.twin_store(&o.client_order_id);
                continue;
            }
            match self.s.tracker.ids().owner(&o.client_order_id) {
                IdOwner::ThisRun(_) => {
                    self.emit(VenueUpdate::Accepted {
                        venue_id: o.client_order_id.clone(),
                        ts: now,
                    });
                }
                IdOwner::EarlierRun { run, .. } => {
                    notes.push(format!(
                        "order {} of run {run} was still open at Binance: cancelling it (the store closed it at restart)",
                        o.client_order_id
                    ));
                    self.on_request(ToVenue::Cancel {
                        venue_id: o.client_order_id.clone(),
                        symbol: o.symbol.clone(),
                    });
                }
                IdOwner::External => self.note_external(&o.client_order_id, &o.symbol),
            }
        }
        let gone: Vec<String> = self
            .external_seen
            .difference(&venue_open)
            .cloned()
            .collect();
        for g in gone {
            self.external_seen.remove(&g);
        }
        // Earlier runs' orders the store still has open that Binance does not list as
        // open: ask for each one's end (those still open were just cancelled above).
        let ask: Vec<(String, String)> = self
            .earlier
            .iter()
            .filter(|(v, _)| !self.earlier_asked.contains(*v))
            .map(|(v, (_, _, symbol))| (v.clone(), symbol.clone()))
            .collect();
        for (v, symbol) in ask {
            self.earlier_asked.insert(v.clone());
            if !venue_open.contains(&v) {
                notes.push(format!(
                    "order {v} was open at the restart, not now: asking Binance for its end"
                ));
                // Its request may still be on its way to the matching engine: "no such
                // order" counts only after a recvWindow from now.
                let now_ms = self.s.rest.server_now_ms();
                self.resolve(v, symbol, Some(now_ms), "open at the restart".into());
            }
        }
        let missed = self.apply_trades(&snap.trades);
        if missed > 0 {
            notes.push(format!(
                "{missed} fill(s) missed while disconnected, applied once"
            ));
        }
        // Balances: the account against its balances at the run's start plus every trade
        // since (all of them recorded by now: the stream's, and the list's just applied).
        // One that differs refuses new orders until a reconciliation finds it agreeing
        // (cancels pass), as an order of unknown outcome does.
        if !snap.assets.is_empty() {
            self.balances.set_assets(snap.assets.clone());
        }
        let mut balances_unread = None;
        let mut balance_lines = None;
        match &snap.marks {
            Some(marks) if self.balances.knows_assets() => {
                let held: BTreeMap<String, Decimal> = snap
                    .account
                    .balances
                    .iter()
                    .map(|b| (b.asset.clone(), b.free + b.locked))
                    .collect();
                let lines = self.balances.compare(&held, marks);
                for b in lines.iter().filter(|b| !b.agrees()) {
                    notes.push(format!(
                        "{}; new orders refused until the balances agree",
                        balance_note(b)
                    ));
                }
                balance_lines = Some(lines);
            }
            Some(_) => balances_unread = Some("the symbols' assets are not known"),
            None => balances_unread = Some("trades came in while the account was read"),
        }
        // This run's orders the engine still has open but Binance does not: ask for each.
        for v in self.s.tracker.open_orders() {
            if !venue_open.contains(&v) && !self.sent_at.contains_key(&v) {
                let symbol = self
                    .s
                    .instruments
                    .first()
                    .map(|i| i.symbol.clone())
                    .unwrap_or_default();
                let symbol = snap
                    .trades
                    .iter()
                    .find(|t| self.order_ids.get(&(t.symbol.clone(), t.order_id)) == Some(&v))
                    .map(|t| t.symbol.clone())
                    .unwrap_or(symbol);
                notes.push(format!(
                    "order {v} is not open at Binance: asking for its end"
                ));
                self.resolve(v, symbol, None, "reconciliation".into());
            }
        }
        let summary = if notes.is_empty() {
            format!(
                "{}: Binance and the store agree ({} open order(s) of pit, {} external; {})",
                snap.reason,
                snap.open.len() - self.external_seen.len().min(snap.open.len()),
                self.external_seen.len(),
                match balances_unread {
                    None => "balances agree".to_string(),
                    Some(why) => format!("balances not compared this time: {why}"),
                }
            )
        } else {
            format!("{}: {}", snap.reason, notes.join("; "))
        };
        let level = if notes.is_empty() {
            AlertLevel::Info
        } else {
            AlertLevel::Warn
        };
        self.alert(level, format!("binance reconciliation ({summary})"));
        if let Ok(mut h) = self.s.health.lock() {
            h.last_reconcile = Some(summary);
            h.last_reconcile_agrees = notes.is_empty();
            h.reconciles += 1;
            // With the verdict, in one step: a reader never sees one without the other.
            if let Some(lines) = balance_lines {
                h.balances = lines;
            }
        }
    }

    /// The account's balances when pit first managed it, kept in the data folder: a spot
    /// position is what pit traded since.
    fn record_start_balances(&self, a: &Account) {
        if let Some(path) = &self.s.start_file {
            crate::venue::live::reconcile::record_start_balances(
                path,
                &a.uid.to_string(),
                a.balances
                    .iter()
                    .map(|b| (b.asset.clone(), b.free + b.locked)),
            );
        }
    }
}

/// Open orders, the account and the trades since the last known one.
async fn fetch_snapshot(
    rest: &Rest,
    symbols: &[String],
    from: &BTreeMap<String, u64>,
    need_assets: bool,
    reason: String,
) -> Result<Snapshot, String> {
    let mut assets = BTreeMap::new();
    if need_assets {
        for s in symbols {
            let info: wire::ExchangeInfo = rest
                .public(Method::Get, "/api/v3/exchangeInfo", &[("symbol", s)])
                .await
                .map_err(|e| format!("exchangeInfo {s}: {e}"))?;
            let i = info
                .symbols
                .first()
                .ok_or_else(|| format!("exchangeInfo does not list {s}"))?;
            assets.insert(s.clone(), (i.base_asset.clone(), i.quote_asset.clone()));
        }
    }
    // The account's balances hold exactly the trades listed when no trade comes in
    // between the list and a second look after the account: a few tries, then the
    // balances go uncompared this time (the orders and trades still are).
    let mut tries = 0;
    loop {
        tries += 1;
        let mut snap = fetch_once(rest, symbols, from, reason.clone()).await?;
        let mut marks = BTreeMap::new();
        let mut moved = false;
        for s in symbols {
            let mark = snap
                .trades
                .iter()
                .filter(|t| &t.symbol == s)
                .map(|t| t.id)
                .chain(from.get(s).copied())
                .max();
            let p = MyTradesParams {
                symbol: s.clone(),
                order_id: None,
                start_time: None,
                end_time: None,
                from_id: mark.map(|id| id + 1),
                limit: Some(1),
            };
            let after: Vec<MyTrade> = rest
                .signed(Method::Get, "/api/v3/myTrades", &p)
                .await
                .map_err(|e| format!("trades of {s}: {e}"))?;
            moved |= !after.is_empty();
            if let Some(m) = mark {
                marks.insert(s.clone(), m);
            }
        }
        if !moved || tries >= 3 {
            snap.marks = (!moved).then_some(marks);
            snap.assets = assets;
            return Ok(snap);
        }
    }
}

/// Open orders, the trades since the last known one, then the account.
async fn fetch_once(
    rest: &Rest,
    symbols: &[String],
    from: &BTreeMap<String, u64>,
    reason: String,
) -> Result<Snapshot, String> {
    let mut open = Vec::new();
    let mut trades = Vec::new();
    for s in symbols {
        let p = SymbolParam {
            symbol: Some(s.clone()),
        };
        let o: Vec<QueriedOrder> = rest
            .signed(Method::Get, "/api/v3/openOrders", &p)
            .await
            .map_err(|e| format!("open orders of {s}: {e}"))?;
        open.extend(o);
        let p = MyTradesParams {
            symbol: s.clone(),
            order_id: None,
            start_time: None,
            end_time: None,
            from_id: from.get(s).map(|id| id + 1),
            limit: Some(1000),
        };
        let t: Vec<MyTrade> = rest
            .signed(Method::Get, "/api/v3/myTrades", &p)
            .await
            .map_err(|e| format!("trades of {s}: {e}"))?;
        trades.extend(t);
    }
    let account: Account = rest
        .signed(Method::Get, "/api/v3/account", &())
        .await
        .map_err(|e| format!("account: {e}"))?;
    Ok(Snapshot {
        open,
        account,
        trades,
        reason,
        marks: None,
        assets: BTreeMap::new(),
    })
}

/// The new-order parameters of an engine order: LIMIT GTC/IOC, LIMIT_MAKER for post-only,
/// MARKET (rest-api.md, "New order": `timeInForce` only with LIMIT).
fn new_order(
    symbol: &str,
    venue_id: &str,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: Option<Decimal>,
    qty: Decimal,
) -> NewOrderParams {
    let (order_type, time_in_force) = match (kind, tif) {
        (OrderKind::Market, _) => (wire::OrderType::Market, None),
        (OrderKind::Limit, TimeInForce::PostOnly) => (wire::OrderType::LimitMaker, None),
        (OrderKind::Limit, TimeInForce::Ioc) => {
            (wire::OrderType::Limit, Some(wire::TimeInForce::Ioc))
        }
        (OrderKind::Limit, _) => (wire::OrderType::Limit, Some(wire::TimeInForce::Gtc)),
    };
    NewOrderParams {
        symbol: symbol.to_string(),
        side: match side {
            Side::Buy => wire::Side::Buy,
            Side::Sell => wire::Side::Sell,
        },
        order_type,
        time_in_force,
        quantity: Some(qty.normalize()),
        quote_order_qty: None,
        price: if kind == OrderKind::Market {
            None
        } else {
            price.map(|p| p.normalize())
        },
        new_client_order_id: Some(venue_id.to_string()),
        new_order_resp_type: Some(OrderRespType::Full),
    }
}

/// A commission as the fill's two fee figures: in the quote currency, and the part of it
/// charged in the base coin (base units). Binance charges spot commission in the asset
/// received unless the account pays it in BNB: each fill, `executionReport` (`n`, `N`
/// "Commission asset") and `myTrades` row names the asset (rest-api.md, user-data-stream.md;
/// rates and the BNB discount:
/// https://developers.binance.com/docs/binance-spot-api-docs/faqs/commission_faq): a buy's commission in the coin
/// bought leaves the wallet with `qty - commission`, so it is handed on as `fee_base` and
/// the engine nets it out of the position; in quote it is the fee as is; another asset
/// (BNB) cannot be priced exactly here: 0 and no base, the account's balances carry it.
/// The coin is told apart by the symbol's base and quote asset from exchangeInfo
/// (`assets`, see [`fee_coin`]; `TUSDT`'s base is `T`).
fn fee_parts(
    inst: &Instrument,
    assets: Option<(&str, &str)>,
    asset: &str,
    amount: Decimal,
    price: Decimal,
) -> (Decimal, Decimal) {
    match fee_coin(&inst.symbol, assets, asset) {
        FeeCoin::Quote => (amount, Decimal::ZERO),
        FeeCoin::Base => (amount * price, amount),
        FeeCoin::Other => (Decimal::ZERO, Decimal::ZERO),
    }
}

fn wall() -> Timestamp {
    crate::engine::clock::Clock::now(&crate::engine::clock::WallClock)
}

/// The user data stream: connect to the WebSocket API, subscribe with a signature, pass
/// events on; reconnect with back-off (0.5 s doubling to 30 s) on any end.
async fn user_stream(rest: Arc<Rest>, url: String, tx: UnboundedSender<Internal>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut backoff = Duration::from_millis(500);
    loop {
        let why = match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(e) => format!("connect: {e}"),
            Ok((mut ws, _)) => {
                let mut params = serde_json::Map::new();
                params.insert("recvWindow".into(), rest.recv_window_ms().into());
                crate::venue::exchanges::binance::api::sign::sign_ws_params(
                    &mut params,
                    rest.api_key(),
                    rest.server_now_ms(),
                    rest.signer(),
                );
                let req = serde_json::json!({
                    "id": "pit-user-data",
                    "method": "userDataStream.subscribe.signature",
                    "params": params,
                });
                let mut why = String::new();
                if let Err(e) = ws.send(Message::Text(req.to_string().into())).await {
                    why = format!("subscribe: {e}");
                }
                while why.is_empty() {
                    match ws.next().await {
                        None => why = "closed".into(),
                        Some(Err(e)) => why = e.to_string(),
                        Some(Ok(Message::Text(t))) => {
                            if let Ok(r) = serde_json::from_str::<wire::WsResponse>(&t) {
                                if r.status == 200 {
                                    backoff = Duration::from_millis(500);
                                    let _ = tx.send(Internal::StreamUp);
                                } else {
                                    why = format!(
                                        "subscription refused: {}",
                                        r.error.map(|e| e.to_string()).unwrap_or_default()
                                    );
                                }
                                continue;
                            }
                            match serde_json::from_str::<wire::WsEvent>(&t) {
                                Ok(ev) => {
                                    let end = matches!(
                                        ev.event,
                                        UserEvent::StreamTerminated { .. }
                                            | UserEvent::ServerShutdown { .. }
                                    );
                                    let _ = tx.send(Internal::Stream(Box::new(ev.event)));
                                    if end {
                                        why = "the stream was terminated by Binance".into();
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "binance: unreadable user data frame")
                                }
                            }
                        }
                        Some(Ok(Message::Close(_))) => why = "closed by Binance".into(),
                        Some(Ok(_)) => {}
                    }
                }
                why
            }
        };
        if tx.send(Internal::StreamDown(why)).is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Qty};
    use rust_decimal_macros::dec;

    fn query(p: &NewOrderParams) -> String {
        serde_urlencoded::to_string(p).unwrap()
    }

    #[test]
    fn engine_orders_become_binance_orders_as_documented() {
        // Post-only -> LIMIT_MAKER, no timeInForce (rest-api.md "New order": LIMIT_MAKER
        // is a LIMIT order rejected if it would take).
        let p = new_order(
            "BTCUSDT",
            "p3-S1-7",
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::PostOnly,
            Some(dec!(60000.10)),
            dec!(0.00100),
        );
        assert_eq!(
            query(&p),
            "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.001&price=60000.1&newClientOrderId=p3-S1-7&newOrderRespType=FULL"
        );
        let p = new_order(
            "BTCUSDT",
            "p3-S2-1",
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
        );
        assert!(
            query(&p).contains("type=LIMIT&timeInForce=IOC"),
            "{}",
            query(&p)
        );
        let p = new_order(
            "BTCUSDT",
            "p3-M-1",
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::Gtc,
            Some(dec!(59990)),
            dec!(0.002),
        );
        assert!(query(&p).contains("timeInForce=GTC"));
        // MARKET: neither price nor timeInForce, whatever the engine's order carried.
        let p = new_order(
            "BTCUSDT",
            "p3-X-1",
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
        );
        let q = query(&p);
        assert!(q.contains("type=MARKET") && !q.contains("price") && !q.contains("timeInForce"));
    }

    #[test]
    fn commissions_are_priced_in_the_quote_currency_and_a_base_fee_is_netted() {
        let btc = Instrument::new(
            InstrumentId(0),
            "BTCUSDT",
            "binance",
            dec!(0.01),
            dec!(0.00001),
            Qty(1),
        );
        // Charged in the asset received: BTC on a buy (the wallet got qty - 0.000001),
        // USDT on a sell (priced as is, no base).
        assert_eq!(
            fee_parts(&btc, None, "BTC", dec!(0.000001), dec!(60000)),
            (dec!(0.06), dec!(0.000001))
        );
        assert_eq!(
            fee_parts(&btc, None, "USDT", dec!(0.06), dec!(60000)),
            (dec!(0.06), dec!(0))
        );
        // BNB cannot be priced here and moves no BTC: the balances carry it.
        assert_eq!(
            fee_parts(&btc, None, "BNB", dec!(0.0001), dec!(60000)),
            (dec!(0), dec!(0))
        );
        // A zero fee (and a missing asset) is nothing at all.
        assert_eq!(
            fee_parts(&btc, None, "BTC", dec!(0), dec!(60000)),
            (dec!(0), dec!(0))
        );
        assert_eq!(
            fee_parts(&btc, None, "", dec!(1), dec!(60000)),
            (dec!(0), dec!(0))
        );
        // TUSDT (Threshold): base T, quote USDT. A buy's commission in T both starts and
        // ends the symbol: by exchangeInfo's assets it is the base, priced (1 T at 0.02 =
        // 0.02 USDT) and netted; never 1 USDT.
        let t = Instrument::new(
            InstrumentId(0),
            "TUSDT",
            "binance",
            dec!(0.00001),
            dec!(1),
            Qty(1),
        );
        assert_eq!(
            fee_parts(&t, Some(("T", "USDT")), "T", dec!(1), dec!(0.02)),
            (dec!(0.02), dec!(1))
        );
        assert_eq!(
            fee_parts(&t, Some(("T", "USDT")), "USDT", dec!(0.02), dec!(0.02)),
            (dec!(0.02), dec!(0))
        );
        // Before the instrument list is read, the spelling: a one-letter coin is the base.
        assert_eq!(
            fee_parts(&t, None, "T", dec!(1), dec!(0.02)),
            (dec!(0.02), dec!(1))
        );
    }
}
