//! The Kraken spot connection task: on a thread of its own (a tokio runtime), it carries
//! out the engine's requests on the REST API ([`super::rest`]), keeps the authenticated
//! WebSocket and the dead-man switch ([`super::private`]), resolves unknown outcomes,
//! reconciles, and hands the engine its execution reports through the venue-generic
//! [`Tracker`] (each fact once, acks first). Modelled on OKX's task (`okx/trade/task.rs`);
//! the differences are Kraken's:
//!
//! * "Add Order" answers with the order's `txid` once Kraken has it; its states and fills
//!   come on the `executions` channel. A cancel Kraken confirms (`count` 1) is closed by
//!   the channel's `canceled` message (with `cum_qty`, so a close waits for its fills); a
//!   cancel that finds nothing, or whose outcome is unknown, asks for the order by its
//!   `cl_ord_id`;
//! * an order leaves only once the store has its record (the barrier); a lost or
//!   ambiguous answer is resolved by asking for the `cl_ord_id` ("Get Open Orders", then
//!   "Get Closed Orders"), never by sending again. An order Kraken does not have stays of
//!   unknown outcome: pit keeps asking, new orders stay refused (cancels pass) and an
//!   alert names it, until Kraken has it or the operator restarts pit (which asks again
//!   and settles an order Kraken does not have as not placed, saying so);
//! * fills since the last stored one come from "Get Trades History" (`start`, paged by
//!   `ofs`), account-wide, their orders' `cl_ord_id`s from "Query Orders Info"; a fill is
//!   one fill by its trade id (the stream's `exec_id`);
//! * the kill switch's cancel-all is Kraken's "Cancel All Orders" (every open order of the
//!   account, pit's or not), besides the port's own per-order cancels;
//! * the balances ("Get Account Balance", keyed by Kraken's asset names as "Get Tradable
//!   Asset Pairs" gives them) are compared with the balances at the run's start plus every
//!   fill since, only when no fill came in while they were read.

use super::private::{self, StreamMsg, StreamStatus};
use super::rest::{Cancelled, Placed, Rest, RestError};
use super::updates::{fill_update, order_update};
use super::wire::{Fill, Order, OrderState, to_cl_ord_id};
use crate::domain::{Instrument, OrderKind, Side, TimeInForce, Timestamp};
use crate::engine::AlertLevel;
use crate::venue::exchanges::binance::trade::task::{Hooks, Settle};
use crate::venue::live::ids::IdOwner;
use crate::venue::live::port::{SharedHealth, ToVenue};
use crate::venue::live::reconcile::{RunBalances, TradeMove, balance_note};
use crate::venue::live::tracker::{Tracker, VenueUpdate};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long a cancel or a query waits out rate-limit back-offs before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// How long an order Kraken closed waits for its fills before they are asked for.
const HOLD_BOUND: Duration = Duration::from_secs(1);

/// How long after a fill "Get Trades History" may still not list it: fills are asked for
/// again this far back (ms). The docs give no bound; the stream is the fills' first
/// source, the list a check.
pub const LIST_LAG_MS: u64 = 10 * 60_000;

/// With no stored fill, "Get Trades History" is read this far back (ms): a fill the stream
/// missed just before a crash with an empty store is within it.
pub const FIRST_LOOK_BACK_MS: u64 = 7 * 86_400_000;

/// What the task is made of.
pub struct TaskSetup {
    pub rest: Arc<Rest>,
    /// The engine loop's heartbeat, for the dead-man refresher.
    pub engine: crate::venue::live::pulse::EngineWatch,
    pub ws_private_url: String,
    pub dead_man_secs: u32,
    pub instruments: Vec<Instrument>,
    pub tracker: Tracker,
    pub reports: std::sync::mpsc::Sender<crate::domain::ExecReport>,
    pub health: SharedHealth,
    pub hooks: Arc<std::sync::OnceLock<Arc<dyn Hooks>>>,
    pub durable: Option<Arc<AtomicU64>>,
    /// Per symbol, fills are asked for from this time (ms; a symbol not here:
    /// [`FIRST_LOOK_BACK_MS`]); moved on after each reconciliation.
    pub since_ms: BTreeMap<String, u64>,
    /// Orders earlier live runs left open (run, engine id, symbol).
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
}

enum Internal {
    CancelNow {
        venue_id: String,
        symbol: String,
    },
    Placed {
        venue_id: String,
        symbol: String,
        result: Placed,
    },
    Resolved {
        venue_id: String,
        order: Option<Box<Order>>,
        fills: Vec<Fill>,
        why: String,
        counted: bool,
        /// Asked after a cancel whose outcome is unknown: an order still open means the
        /// cancel did not take, and the engine must be told so (it sends it again).
        cancel_unsure: bool,
    },
    CancelFailed {
        venue_id: String,
        error: RestError,
    },
    /// A cancel's outcome is unknown and the order could not be asked for.
    CancelUnsure {
        venue_id: String,
        reason: String,
    },
    CancelAllDone {
        symbol: String,
        result: Result<u64, RestError>,
    },
    Stream(StreamMsg),
    Reconciled(Result<Box<Snapshot>, String>),
    HoldDue {
        venue_id: String,
    },
    Unlisted {
        venue_id: String,
        why: String,
    },
    HeldFills {
        venue_id: String,
        result: Result<Vec<Fill>, RestError>,
    },
}

/// An order Kraken says is closed whose fills pit has not all had yet.
struct Held {
    acc_fill_sz: Decimal,
    symbol: String,
    asked: u32,
}

struct Snapshot {
    open: Vec<Order>,
    fills: Vec<Fill>,
    balances: Option<BTreeMap<String, Decimal>>,
    assets: BTreeMap<String, (String, String)>,
    reason: String,
    begun_ms: u64,
}

struct Conn {
    s: TaskSetup,
    internal: UnboundedSender<Internal>,
    stream: Arc<Mutex<StreamStatus>>,
    reconciling: bool,
    reconcile_again: Option<String>,
    reconcile_reason: String,
    during_fetch: BTreeSet<(String, String)>,
    external_seen: BTreeSet<String>,
    unresolved: u64,
    in_flight: BTreeSet<String>,
    cancel_after_create: BTreeMap<String, String>,
    withdrawn: Arc<Mutex<BTreeSet<String>>>,
    cancel_after_resolve: BTreeMap<String, String>,
    earlier: BTreeMap<String, (u64, String, String)>,
    earlier_asked: BTreeSet<String>,
    /// Each fill's local number by (symbol, trade id), in the order pit learned them.
    fill_seq: BTreeMap<(String, String), u64>,
    next_seq: u64,
    balances: RunBalances,
    symbol_of: BTreeMap<String, String>,
    held: BTreeMap<String, Held>,
}

/// Run the task until the engine side goes away.
pub async fn run(setup: TaskSetup, mut rx: UnboundedReceiver<ToVenue>) {
    let (itx, mut irx) = unbounded_channel();
    let stream = Arc::new(Mutex::new(StreamStatus::default()));
    let mut c = Conn {
        s: setup,
        internal: itx.clone(),
        stream: stream.clone(),
        reconciling: false,
        reconcile_again: None,
        reconcile_reason: String::new(),
        during_fetch: BTreeSet::new(),
        external_seen: BTreeSet::new(),
        unresolved: 0,
        in_flight: BTreeSet::new(),
        cancel_after_create: BTreeMap::new(),
        withdrawn: Arc::default(),
        cancel_after_resolve: BTreeMap::new(),
        earlier: BTreeMap::new(),
        earlier_asked: BTreeSet::new(),
        fill_seq: BTreeMap::new(),
        next_seq: 0,
        balances: RunBalances::default(),
        symbol_of: BTreeMap::new(),
        held: BTreeMap::new(),
    };
    for (run, id, symbol) in std::mem::take(&mut c.s.at_venue) {
        let v =
            c.s.tracker
                .ids()
                .of_run(run, &crate::domain::ClientOrderId::new(id.as_str()));
        c.symbol_of.insert(v.clone(), symbol.clone());
        c.earlier.insert(v, (run, id, symbol));
    }
    let (stx, mut srx) = unbounded_channel();
    // The dead-man switch on a timer of its own, then the stream.
    tokio::spawn(private::keep_dead_man(
        c.s.rest.clone(),
        c.s.dead_man_secs,
        c.s.engine.check(),
        stream.clone(),
        stx.clone(),
    ));
    tokio::spawn(private::run(private::PrivateSetup {
        url: c.s.ws_private_url.clone(),
        rest: c.s.rest.clone(),
        out: stx,
        status: stream,
    }));
    let fwd = itx.clone();
    tokio::spawn(async move {
        while let Some(m) = srx.recv().await {
            if fwd.send(Internal::Stream(m)).is_err() {
                return;
            }
        }
    });
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
    fn twin_store(&mut self, venue_id: &str) {
        let text = format!(
            "kraken: open order {venue_id} carries this data folder's ids but this run never sent it: another pit shares this store's id prefix (a copied or restored data folder?); trading halted, the order left alone: stop the other pit, or start this one from a fresh data folder"
        );
        if let Ok(mut h) = self.s.health.lock() {
            if h.stopped.is_some() {
                return;
            }
            h.stopped = Some("another pit uses this store's order ids".into());
        }
        self.alert(AlertLevel::Critical, text.clone());
        if let Some(h) = self.s.hooks.get() {
            h.halt(text);
        }
    }

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
        let dead_man = self.stream.lock().map(|s| s.dead_man.clone()).ok();
        if let Ok(mut h) = self.s.health.lock() {
            h.unresolved = self.unresolved;
            h.external_orders = self.external_seen.iter().cloned().collect();
            if let Some(d) = dead_man.filter(|d| !d.is_empty()) {
                h.dead_man = d;
            }
        }
    }

    fn set_reconciling(&self, reason: Option<String>) {
        if let Ok(mut h) = self.s.health.lock() {
            h.reconciling = reason;
        }
    }

    /// Kraken's name of a symbol's pair for "Add Order" (its `altname`, read with the
    /// rules before any order may leave), else the symbol itself.
    fn pair_name(&self, symbol: &str) -> String {
        self.s
            .rest
            .pair_name(symbol)
            .unwrap_or_else(|| symbol.to_string())
    }

    fn symbols(&self) -> Vec<String> {
        self.s
            .instruments
            .iter()
            .map(|i| i.symbol.clone())
            .collect()
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
                self.s.tracker.sent(&venue_id, qty);
                self.in_flight.insert(venue_id.clone());
                self.symbol_of.insert(venue_id.clone(), symbol.clone());
                let pair = self.pair_name(&symbol);
                let o = place_order(&pair, &venue_id, side, kind, tif, price, qty);
                let rest = self.s.rest.clone();
                let durable = self.s.durable.clone();
                let tx = self.internal.clone();
                let withdrawn = self.withdrawn.clone();
                tokio::spawn(async move {
                    let not_sent = |why: String| Placed::Rejected(RestError::NotSent(why));
                    let result = match o {
                        Err(why) => not_sent(why),
                        Ok(o) => {
                            let gate = crate::venue::live::gate::before_send(
                                durable.as_deref(),
                                barrier,
                                &withdrawn,
                                &venue_id,
                            )
                            .await;
                            match gate {
                                Err(why) => not_sent(why),
                                Ok(()) => {
                                    rest.place_resolving(&symbol, &o.cl_ord_id, &o.params, PATIENCE)
                                        .await
                                }
                            }
                        }
                    };
                    let _ = tx.send(Internal::Placed {
                        venue_id,
                        symbol,
                        result,
                    });
                });
            }
            ToVenue::Cancel { venue_id, symbol } if self.in_flight.contains(&venue_id) => {
                tracing::info!(%venue_id, "kraken: cancel held until the order's create is answered");
                crate::venue::live::gate::withdraw(&self.withdrawn, &venue_id);
                self.cancel_after_create.insert(venue_id, symbol);
            }
            ToVenue::Cancel { venue_id, symbol } => {
                let Some(cl) = to_cl_ord_id(&venue_id) else {
                    // Not an id pit could have sent to Kraken: nothing there to cancel.
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: wall(),
                        reason: "not a Kraken cl_ord_id pit sends".into(),
                    });
                    return;
                };
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                let streaming = self.stream.lock().map(|s| s.connected).unwrap_or(false);
                tokio::spawn(async move {
                    match rest.cancel(&cl, PATIENCE).await {
                        // Cancelled: the `executions` channel says so, with what filled
                        // (a question would cost the call counter on every requote);
                        // with the stream down, asked for.
                        Ok(Cancelled::Accepted) if streaming => {}
                        Ok(Cancelled::Accepted) | Ok(Cancelled::AlreadyGone(_)) => {
                            query_order(&rest, venue_id, symbol, "cancel answered", false, &tx)
                                .await
                        }
                        Err(e) if e.outcome_unknown() => {
                            let why = format!("cancel outcome unknown ({e})");
                            query_order(&rest, venue_id, symbol, &why, true, &tx).await
                        }
                        Err(error) => {
                            let _ = tx.send(Internal::CancelFailed { venue_id, error });
                        }
                    }
                });
            }
            ToVenue::CancelAll { symbol } => {
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let result = rest.cancel_all(PATIENCE).await;
                    let _ = tx.send(Internal::CancelAllDone { symbol, result });
                });
            }
            ToVenue::Reconcile { reason } => self.start_reconcile(reason),
        }
    }

    fn on_internal(&mut self, i: Internal) {
        let now = wall();
        match i {
            Internal::CancelNow { venue_id, symbol } => {
                self.on_request(ToVenue::Cancel { venue_id, symbol })
            }
            Internal::Placed {
                venue_id,
                symbol,
                result,
            } => {
                self.in_flight.remove(&venue_id);
                crate::venue::live::gate::answered(&self.withdrawn, &venue_id);
                if let Some(symbol) = self.cancel_after_create.remove(&venue_id) {
                    match &result {
                        Placed::Accepted(_) | Placed::Found(_) => {
                            let _ = self.internal.send(Internal::CancelNow {
                                venue_id: venue_id.clone(),
                                symbol,
                            });
                        }
                        Placed::NotFound { .. } | Placed::Unresolved { .. } => {
                            self.cancel_after_resolve.insert(venue_id.clone(), symbol);
                        }
                        Placed::Rejected(_) => {}
                    }
                }
                match result {
                    Placed::Accepted(_) => self.emit(VenueUpdate::Accepted { venue_id, ts: now }),
                    Placed::Found(order) => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("kraken: order {venue_id}: the answer was lost; Kraken has it ({:?}), not sent again", order.state),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, "answer lost, order found".into());
                    }
                    Placed::NotFound { cause } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("kraken: order {venue_id}: {cause}; Kraken has no such order yet: its outcome stays unknown and new orders refused while pit keeps asking (never re-sent)"),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, "unknown outcome".into());
                    }
                    Placed::Unresolved { cause, query } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("kraken: order {venue_id}: {cause}; asking failed too ({query}); asking until Kraken answers (never re-sent)"),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, "unknown outcome".into());
                    }
                    Placed::Rejected(e) => self.emit(VenueUpdate::Rejected {
                        venue_id,
                        ts: now,
                        reason: e.to_string(),
                    }),
                }
            }
            Internal::Resolved {
                venue_id,
                order,
                fills,
                why,
                counted,
                cancel_unsure,
            } => self.on_resolved(
                venue_id,
                order.map(|o| *o),
                fills,
                why,
                counted,
                cancel_unsure,
            ),
            Internal::CancelFailed { venue_id, error } => {
                tracing::warn!(%venue_id, error = %error, "kraken: cancel refused");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason: error.to_string(),
                })
            }
            Internal::CancelUnsure { venue_id, reason } => {
                tracing::warn!(%venue_id, %reason, "kraken: cancel unconfirmed");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason,
                })
            }
            Internal::CancelAllDone { symbol, result } => match result {
                Ok(n) => tracing::info!(%symbol, cancelled = n, "kraken: cancel-all (Cancel All Orders) answered"),
                Err(e) => self.alert(
                    AlertLevel::Critical,
                    format!(
                        "kraken: cancel-all for {symbol}: Cancel All Orders failed: {e}; orders may still be open at Kraken (per-order cancels still go)"
                    ),
                ),
            },
            Internal::Stream(StreamMsg::Orders(list)) => self.on_orders(list),
            Internal::Stream(StreamMsg::DeadManNotDisarmed(why)) => self.alert(
                AlertLevel::Critical,
                format!("kraken: dead_man_secs = 0, but a CancelAllOrdersAfter countdown an earlier run may have left is not confirmed off ({why}): Kraken may cancel every order of the account when it ends"),
            ),
            Internal::Stream(StreamMsg::DeadManNotArmed(why)) => self.alert(
                AlertLevel::Critical,
                format!("kraken: the dead-man switch (CancelAllOrdersAfter) is not armed ({why}): Kraken will not cancel pit's orders if pit hangs or loses the network"),
            ),
            Internal::Stream(StreamMsg::DeadManArmed { again }) => {
                if again {
                    self.alert(
                        AlertLevel::Info,
                        "kraken: the dead-man switch (CancelAllOrdersAfter) is armed again".into(),
                    )
                }
            }
            Internal::Stream(StreamMsg::Up) => {
                let reconnect = match self.s.health.lock() {
                    Ok(mut h) => {
                        let r = h.connection != "connecting";
                        h.connection = "connected".into();
                        r
                    }
                    Err(_) => true,
                };
                if reconnect {
                    self.start_reconcile("private stream reconnected".into());
                }
            }
            Internal::Stream(StreamMsg::Down(why)) => {
                if let Ok(mut h) = self.s.health.lock() {
                    h.connection = "reconnecting".into();
                    if h.reconciling.is_none() {
                        h.reconciling = Some("private stream down".into());
                    }
                }
                self.alert(
                    AlertLevel::Warn,
                    format!("kraken: private stream lost ({why}); reconnecting, then reconciling"),
                );
            }
            Internal::HoldDue { venue_id } => self.on_hold_due(venue_id),
            Internal::Unlisted { venue_id, why } => self.alert(
                AlertLevel::Critical,
                format!(
                    "kraken: order {venue_id} ({why}): Kraken has no such order; it may still have been placed (its lists can lag): outcome unknown, new orders refused, pit keeps asking. A restart asks again and settles it as not placed if Kraken still has none"
                ),
            ),
            Internal::HeldFills { venue_id, result } => self.on_held_fills(venue_id, result),
            Internal::Reconciled(r) => {
                match r {
                    Ok(snap) => self.finish_reconcile(*snap),
                    Err(e) => {
                        self.alert(
                            AlertLevel::Critical,
                            format!("kraken: reconciliation failed ({e}); new orders stay refused, retrying in 5 s"),
                        );
                        let reason = format!(
                            "{} (retried)",
                            self.reconcile_reason.trim_end_matches(" (retried)")
                        );
                        self.spawn_fetch(reason, Duration::from_secs(5));
                        return;
                    }
                }
                self.reconciling = false;
                if let Some(r) = self.reconcile_again.take() {
                    self.start_reconcile(r);
                } else {
                    self.set_reconciling(None);
                }
            }
        }
    }

    fn on_resolved(
        &mut self,
        venue_id: String,
        order: Option<Order>,
        fills: Vec<Fill>,
        why: String,
        counted: bool,
        cancel_unsure: bool,
    ) {
        let now = wall();
        if counted {
            self.unresolved = self.unresolved.saturating_sub(1);
        }
        if let Some(symbol) = self.cancel_after_resolve.remove(&venue_id)
            && order.as_ref().is_some_and(|o| o.state.is_open())
        {
            let _ = self.internal.send(Internal::CancelNow {
                venue_id: venue_id.clone(),
                symbol,
            });
        }
        self.apply_fills(&fills);
        match order {
            Some(o) => {
                if o.state.is_open() && self.earlier.contains_key(&venue_id) {
                    let symbol = o.inst_id.clone();
                    self.on_request(ToVenue::Cancel { venue_id, symbol });
                    return;
                }
                self.settle_earlier(&venue_id, &o, &why);
                if matches!(self.s.tracker.ids().owner(&venue_id), IdOwner::ThisRun(_)) {
                    if o.state.is_open() || o.acc_fill_sz.unwrap_or_default() > Decimal::ZERO {
                        self.emit(VenueUpdate::Accepted {
                            venue_id: venue_id.clone(),
                            ts: now,
                        });
                    }
                    self.on_order(&o, now);
                    if cancel_unsure && o.state.is_open() {
                        // The cancel did not take: the engine sends it again (a second
                        // cancel of an order gone meanwhile is answered EOrder:Unknown order).
                        self.emit(VenueUpdate::CancelRejected {
                            venue_id: venue_id.clone(),
                            ts: now,
                            reason: format!("{why}; Kraken still has the order open"),
                        });
                    }
                }
                tracing::info!(%venue_id, state = ?o.state, %why, "kraken: order resolved by query");
            }
            None => {
                if let Some((run, id, _)) = self.earlier.remove(&venue_id) {
                    self.settle(
                        run,
                        id,
                        crate::domain::OrderStatus::Rejected,
                        Decimal::ZERO,
                        format!("not placed: after the restart Kraken has no such order ({why})"),
                    );
                    return;
                }
                if !counted {
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: now,
                        reason: "Kraken does not have the order".into(),
                    });
                    return;
                }
                self.unresolved += 1;
                let symbol = self.symbol_of.get(&venue_id).cloned().unwrap_or_default();
                self.resolve(venue_id, symbol, why);
            }
        }
    }

    /// `orders` pushes: each one's fill (if any), then its state.
    fn on_orders(&mut self, list: Vec<Order>) {
        let now = wall();
        for o in list {
            if o.cl_ord_id.is_empty() {
                continue;
            }
            let v = o.venue_id();
            self.symbol_of.insert(v.clone(), o.inst_id.clone());
            if let Some(f) = o.fill() {
                self.apply_fills(std::slice::from_ref(&f));
            }
            match self.s.tracker.ids().owner(&v) {
                IdOwner::External => {
                    if o.state.is_open() {
                        self.note_external(&v, &o.inst_id);
                    } else {
                        self.external_seen.remove(&v);
                    }
                }
                IdOwner::EarlierRun { .. } => self.settle_earlier(&v, &o, "order push"),
                IdOwner::ThisRun(_) => {
                    self.on_order(&o, now);
                    // Cancelled (the kill) while its outcome was unknown, and it shows up
                    // here first: cancel it now, not only when the question answers.
                    if let Some(symbol) = self.cancel_after_resolve.remove(&v)
                        && o.state.is_open()
                    {
                        let _ = self.internal.send(Internal::CancelNow {
                            venue_id: v.clone(),
                            symbol,
                        });
                    }
                }
            }
        }
    }

    /// Apply fills (stream, lists), each once; count those new to the tracker.
    fn apply_fills(&mut self, list: &[Fill]) -> usize {
        let now = wall();
        let mut applied = 0;
        for f in list {
            // The stream names a fee's asset as the symbol does (`USD` of `BTC/USD`); the
            // balances use Kraken's asset names (`ZUSD`): one spelling for both.
            let mut f = f.clone();
            if let Some((b, q)) = self.balances.assets_of(&f.inst_id) {
                let (sb, sq) = f.inst_id.split_once('/').unwrap_or(("", ""));
                if f.fee_ccy == sq {
                    f.fee_ccy = q.to_string();
                } else if f.fee_ccy == sb {
                    f.fee_ccy = b.to_string();
                }
            }
            let f = &f;
            let k = (f.inst_id.clone(), f.trade_id.clone());
            if !self.fill_seq.contains_key(&k) {
                self.next_seq += 1;
                self.fill_seq.insert(k.clone(), self.next_seq);
                if self.reconciling {
                    self.during_fetch.insert(k);
                }
                self.balances.record(TradeMove {
                    symbol: f.inst_id.clone(),
                    trade_id: self.next_seq,
                    buy: f.is_buy(),
                    qty: f.fill_sz,
                    price: f.fill_px,
                    commission: f.commission(),
                    commission_asset: f.fee_ccy.clone(),
                });
            }
            let v = f.venue_id();
            if let IdOwner::External = self.s.tracker.ids().owner(&v) {
                continue;
            }
            let assets = self.balances.assets_of(&f.inst_id);
            let Some(u) = fill_update(f, &self.s.instruments, assets, now) else {
                continue;
            };
            if let VenueUpdate::Trade { key, .. } = &u
                && self.s.tracker.knows_trade(*key)
            {
                continue;
            }
            applied += 1;
            self.emit(u);
            self.release_held(&v);
        }
        applied
    }

    /// An order's state for this run, a close held until the fills reach `cum_qty` / `vol_exec`.
    fn on_order(&mut self, o: &Order, now: Timestamp) {
        let u = order_update(o, now);
        let closing = matches!(u, VenueUpdate::Closed { .. }) || o.state == OrderState::Filled;
        if !closing {
            self.emit(u);
            return;
        }
        let v = o.venue_id();
        let Some(acc) = o.acc_fill_sz else {
            // A close that does not say what filled (`cum_qty` absent): asked for ("Get
            // Closed Orders" gives `vol_exec` and the trades), closed by that answer.
            let rest = self.s.rest.clone();
            let tx = self.internal.clone();
            let symbol = o.inst_id.clone();
            tokio::spawn(async move {
                query_order(&rest, v, symbol, "closed without cum_qty", false, &tx).await
            });
            return;
        };
        if self.s.tracker.filled(&v) >= acc {
            self.held.remove(&v);
            self.emit(VenueUpdate::Accepted {
                venue_id: v.clone(),
                ts: now,
            });
            if o.state != OrderState::Filled {
                self.emit(u);
            }
            return;
        }
        match self.held.get_mut(&v) {
            Some(h) => h.acc_fill_sz = h.acc_fill_sz.max(acc),
            None => {
                tracing::info!(venue_id = %v, %acc, "kraken: closed before its fills arrived; holding its close");
                self.held.insert(
                    v.clone(),
                    Held {
                        acc_fill_sz: acc,
                        symbol: o.inst_id.clone(),
                        asked: 0,
                    },
                );
                self.hold_check(v, HOLD_BOUND);
            }
        }
    }

    fn release_held(&mut self, venue_id: &str) {
        let Some(h) = self.held.get(venue_id) else {
            return;
        };
        if self.s.tracker.filled(venue_id) >= h.acc_fill_sz {
            if h.asked > 1 {
                self.alert(
                    AlertLevel::Info,
                    format!("kraken: order {venue_id}: its last fill arrived; closed"),
                );
            }
            self.held.remove(venue_id);
            // A filled order closes with its last fill; a cancelled one here.
            if self.s.tracker.is_open(venue_id) {
                self.emit(VenueUpdate::Closed {
                    venue_id: venue_id.to_string(),
                    ts: wall(),
                });
            }
        }
    }

    fn hold_check(&self, venue_id: String, after: Duration) {
        let tx = self.internal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Internal::HoldDue { venue_id });
        });
    }

    fn on_hold_due(&mut self, venue_id: String) {
        let Some(h) = self.held.get_mut(&venue_id) else {
            return;
        };
        h.asked += 1;
        let symbol = h.symbol.clone();
        let Some(cl) = to_cl_ord_id(&venue_id) else {
            return;
        };
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        tokio::spawn(async move {
            // The order again (with its trade ids), then those trades.
            let result = match rest.idempotent(PATIENCE, || rest.order(&symbol, &cl)).await {
                Ok(Some(o)) => rest.order_fills(&o, PATIENCE).await,
                Ok(None) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
            let _ = tx.send(Internal::HeldFills { venue_id, result });
        });
    }

    fn on_held_fills(&mut self, venue_id: String, result: Result<Vec<Fill>, RestError>) {
        match result {
            Ok(list) => {
                self.apply_fills(&list);
            }
            Err(e) => {
                tracing::warn!(%venue_id, error = %e, "kraken: a held order's fills not read")
            }
        }
        let Some(h) = self.held.get(&venue_id) else {
            return;
        };
        let have = self.s.tracker.filled(&venue_id);
        if h.asked == 1 {
            self.alert(
                AlertLevel::Warn,
                format!(
                    "kraken: order {venue_id} closed at Kraken with {} filled, pit has {have} of its fills: kept open until they arrive (asking Kraken's fills)",
                    h.acc_fill_sz
                ),
            );
        }
        let wait = HOLD_BOUND * 2u32.pow(h.asked.min(4));
        self.hold_check(venue_id, wait);
    }

    fn settle_earlier(&mut self, venue_id: &str, o: &Order, why: &str) {
        use crate::domain::OrderStatus as Ours;
        let ours = match o.state {
            OrderState::Filled => Ours::Filled,
            OrderState::Canceled | OrderState::Expired => Ours::Cancelled,
            _ => return,
        };
        let Some((run, id, _)) = self.earlier.remove(venue_id) else {
            return;
        };
        let note = format!("{} at Kraken after the restart ({why})", ours.as_str());
        self.settle(run, id, ours, o.acc_fill_sz.unwrap_or_default(), note);
    }

    fn settle(
        &self,
        run: u64,
        id: String,
        status: crate::domain::OrderStatus,
        filled: Decimal,
        note: String,
    ) {
        tracing::info!(run, %id, status = status.as_str(), %filled, "kraken: an earlier run's order settled");
        if let Some(settle) = self.s.settle.clone() {
            tokio::task::spawn_blocking(move || settle(run, &id, status, filled, &note));
        }
    }

    fn note_external(&mut self, venue_id: &str, symbol: &str) {
        if self.external_seen.insert(venue_id.to_string()) {
            self.alert(
                AlertLevel::Info,
                format!("kraken: external order {venue_id} on {symbol} (not placed by pit): shown, never touched"),
            );
        }
    }

    /// Ask Kraken for an order until it has it. This run's orders are never settled on
    /// absence: said unknown once after a while ([`Internal::Unlisted`]) and asked for
    /// again, less often. An earlier run's order Kraken does not have is answered `None` and
    /// settled as not placed.
    fn resolve(&mut self, venue_id: String, symbol: String, why: String) {
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        let settle_absent = self.earlier.contains_key(&venue_id);
        let Some(cl) = to_cl_ord_id(&venue_id) else {
            let _ = tx.send(Internal::Resolved {
                venue_id,
                order: None,
                fills: Vec::new(),
                why,
                counted: true,
                cancel_unsure: false,
            });
            return;
        };
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            let mut said = false;
            let started = tokio::time::Instant::now();
            loop {
                let r = rest.idempotent(PATIENCE, || rest.order(&symbol, &cl)).await;
                match r {
                    Ok(Some(o)) => {
                        if let Some(fills) = order_fills(&rest, &o).await {
                            let _ = tx.send(Internal::Resolved {
                                venue_id,
                                order: Some(Box::new(o)),
                                fills,
                                why,
                                counted: true,
                                cancel_unsure: false,
                            });
                            return;
                        }
                    }
                    Ok(None) => {
                        if settle_absent {
                            let _ = tx.send(Internal::Resolved {
                                venue_id,
                                order: None,
                                fills: Vec::new(),
                                why,
                                counted: true,
                                cancel_unsure: false,
                            });
                            return;
                        }
                        if !said && started.elapsed() > Duration::from_secs(5) {
                            said = true;
                            let _ = tx.send(Internal::Unlisted {
                                venue_id: venue_id.clone(),
                                why: why.clone(),
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%venue_id, error = %e, "kraken: order query failed; asking again")
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(if said { 10 } else { 2 }));
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
        self.spawn_fetch(reason, Duration::ZERO);
    }

    fn spawn_fetch(&mut self, reason: String, delay: Duration) {
        self.during_fetch.clear();
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        let symbols = self.symbols();
        let since = self.s.since_ms.clone();
        let need_assets = !self.balances.knows_assets();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let r = fetch_snapshot(&rest, &symbols, since, need_assets, reason).await;
            let _ = tx.send(Internal::Reconciled(r.map(Box::new)));
        });
    }

    fn finish_reconcile(&mut self, snap: Snapshot) {
        let now = wall();
        let mut notes = Vec::new();
        let venue_open: BTreeSet<String> = snap.open.iter().map(|o| o.venue_id()).collect();
        for o in &snap.open {
            let v = o.venue_id();
            self.symbol_of.insert(v.clone(), o.inst_id.clone());
            let sent = self.s.tracker.was_sent(&v);
            if self.s.tracker.ids().foreign_twin(&v, sent) {
                self.twin_store(&v);
                continue;
            }
            match self.s.tracker.ids().owner(&v) {
                IdOwner::ThisRun(_) => self.emit(VenueUpdate::Accepted {
                    venue_id: v.clone(),
                    ts: now,
                }),
                IdOwner::EarlierRun { run, .. } => {
                    notes.push(format!(
                        "order {v} of run {run} was still open at Kraken: cancelling it"
                    ));
                    self.on_request(ToVenue::Cancel {
                        venue_id: v.clone(),
                        symbol: o.inst_id.clone(),
                    });
                }
                IdOwner::External => self.note_external(&v, &o.inst_id),
            }
        }
        self.external_seen.retain(|v| venue_open.contains(v));
        let ask: Vec<(String, String)> = self
            .earlier
            .iter()
            .filter(|(v, _)| !self.earlier_asked.contains(*v) && !venue_open.contains(*v))
            .map(|(v, (_, _, symbol))| (v.clone(), symbol.clone()))
            .collect();
        for (v, symbol) in ask {
            self.earlier_asked.insert(v.clone());
            notes.push(format!(
                "order {v} was open at the restart, not now: asking Kraken for its end"
            ));
            self.unresolved += 1;
            self.resolve(v, symbol, "open at the restart".into());
        }
        let listed: BTreeSet<(String, String)> = snap
            .fills
            .iter()
            .map(|f| (f.inst_id.clone(), f.trade_id.clone()))
            .collect();
        let unlisted = self.during_fetch.iter().any(|x| !listed.contains(x));
        let missed = self.apply_fills(&snap.fills);
        let next_since = snap.begun_ms.saturating_sub(LIST_LAG_MS);
        for sym in self.symbols() {
            let e = self.s.since_ms.entry(sym).or_insert(next_since);
            *e = (*e).max(next_since);
        }
        if missed > 0 {
            notes.push(format!(
                "{missed} fill(s) missed while disconnected, applied once"
            ));
        }
        for v in self.s.tracker.open_orders() {
            if !venue_open.contains(&v)
                && !self.in_flight.contains(&v)
                && !self.held.contains_key(&v)
            {
                let symbol = self.symbol_of.get(&v).cloned().unwrap_or_else(|| {
                    self.s
                        .instruments
                        .first()
                        .map(|i| i.symbol.clone())
                        .unwrap_or_default()
                });
                notes.push(format!(
                    "order {v} is not open at Kraken: asking for its end"
                ));
                self.unresolved += 1;
                self.resolve(v, symbol, "reconciliation".into());
            }
        }
        if !snap.assets.is_empty() {
            self.balances.set_assets(snap.assets.clone());
        }
        let mut balances_unread = None;
        let mut balance_lines = None;
        match (&snap.balances, unlisted) {
            (Some(bal), false) if self.balances.knows_assets() => {
                let marks: BTreeMap<String, u64> = self
                    .symbols()
                    .into_iter()
                    .map(|s| (s, self.next_seq))
                    .collect();
                let lines = self.balances.compare(bal, &marks);
                for b in lines.iter().filter(|b| !b.agrees()) {
                    notes.push(format!(
                        "{}; new orders refused until the balances agree",
                        balance_note(b)
                    ));
                }
                balance_lines = Some(lines);
            }
            (Some(_), false) => balances_unread = Some("the symbols' currencies are not known"),
            _ => balances_unread = Some("fills came in while the balances were read"),
        }
        let summary = if notes.is_empty() {
            format!(
                "{}: Kraken and the store agree ({} open order(s) of pit, {} external; {})",
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
        self.alert(level, format!("kraken reconciliation ({summary})"));
        if let Ok(mut h) = self.s.health.lock() {
            h.last_reconcile = Some(summary);
            h.last_reconcile_agrees = notes.is_empty();
            h.reconciles += 1;
            if let Some(lines) = balance_lines {
                h.balances = lines;
            }
        }
    }
}

/// Ask for one order and send what Kraken said (after a cancel: its end). `cancel_unsure`:
/// the cancel's outcome is unknown; if the question fails too the cancel is said refused
/// (the engine sends it again) rather than left pending for ever.
async fn query_order(
    rest: &Rest,
    venue_id: String,
    symbol: String,
    why: &str,
    cancel_unsure: bool,
    tx: &UnboundedSender<Internal>,
) {
    let Some(cl) = to_cl_ord_id(&venue_id) else {
        return;
    };
    let r = rest.idempotent(PATIENCE, || rest.order(&symbol, &cl)).await;
    let (order, fills) = match r {
        Ok(Some(o)) => {
            let fills = order_fills(rest, &o).await.unwrap_or_default();
            (Some(Box::new(o)), fills)
        }
        Ok(None) => (None, Vec::new()),
        Err(e) => {
            tracing::warn!(%venue_id, error = %e, "kraken: cannot ask for the order after a cancel; the stream will tell");
            if cancel_unsure {
                let _ = tx.send(Internal::CancelUnsure {
                    venue_id,
                    reason: format!("{why}; asking for the order failed too ({e})"),
                });
            }
            return;
        }
    };
    let _ = tx.send(Internal::Resolved {
        venue_id,
        order,
        fills,
        why: why.to_string(),
        counted: false,
        cancel_unsure,
    });
}

/// The fills of an order that has some; `None`: not read.
async fn order_fills(rest: &Rest, o: &Order) -> Option<Vec<Fill>> {
    if o.acc_fill_sz.unwrap_or_default() <= Decimal::ZERO {
        return Some(Vec::new());
    }
    match rest.order_fills(o, PATIENCE).await {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(ord_id = %o.ord_id, error = %e, "kraken: an order's fills not read");
            None
        }
    }
}

/// The pairs (and their assets), the open orders and the fills since `since`, the
/// balances, the fills again (they must not have moved for the balances to be compared).
async fn fetch_snapshot(
    rest: &Rest,
    symbols: &[String],
    since: BTreeMap<String, u64>,
    _need_assets: bool,
    reason: String,
) -> Result<Snapshot, String> {
    let begun_ms = rest.server_now_ms();
    let mut assets = BTreeMap::new();
    for s in symbols {
        let p = rest
            .pair(s)
            .await
            .map_err(|e| format!("asset pair {s}: {e}"))?;
        if !p.info.base.is_empty() && !p.info.quote.is_empty() {
            assets.insert(s.clone(), (p.info.base, p.info.quote));
        }
    }
    let open = rest
        .open_orders(PATIENCE)
        .await
        .map_err(|e| format!("open orders: {e}"))?;
    // Trades history is account-wide: from the earliest symbol's mark.
    let first_look = begun_ms.saturating_sub(FIRST_LOOK_BACK_MS);
    let begin = symbols
        .iter()
        .map(|s| since.get(s).copied().unwrap_or(first_look))
        .min()
        .unwrap_or(first_look);
    let fills = rest
        .fills(Some(begin), PATIENCE)
        .await
        .map_err(|e| format!("trades history: {e}"))?;
    let balances = rest
        .balance(PATIENCE)
        .await
        .map_err(|e| format!("balance: {e}"))?;
    let after = rest
        .fills(
            Some(begun_ms.saturating_sub(LIST_LAG_MS).max(begin)),
            PATIENCE,
        )
        .await
        .map_err(|e| format!("trades history: {e}"))?;
    let before: BTreeSet<(&str, &str)> = fills
        .iter()
        .map(|f| (f.inst_id.as_str(), f.trade_id.as_str()))
        .collect();
    let moved = after
        .iter()
        .any(|f| !before.contains(&(f.inst_id.as_str(), f.trade_id.as_str())));
    Ok(Snapshot {
        open,
        fills,
        balances: (!moved).then_some(balances),
        assets,
        reason,
        begun_ms,
    })
}

/// An "Add Order" request: its `cl_ord_id` and its form fields.
#[derive(Clone, Debug, PartialEq)]
pub struct AddOrder {
    pub cl_ord_id: String,
    pub params: Vec<(&'static str, String)>,
}

/// The "Add Order" fields of an engine order on Kraken's `pair`
/// (<https://docs.kraken.com/api-reference/trading/add-order>): `ordertype` `limit` (GTC,
/// the default `timeinforce`), `limit` with `oflags=post` ("post-only order (available
/// when ordertype = limit)"), `limit` with `timeinforce=IOC`, or `market` (no price);
/// `volume` in the base for every order; `oflags` always with `fciq` ("prefer fee in
/// quote currency") so every fee is in the quote. No `reduce_only`: it applies to margin
/// positions, and pit trades Kraken spot without margin (a reduce-only exit is the
/// engine's own check, as on OKX's cash spot). `Err` when the client id cannot be a
/// `cl_ord_id` (never sent).
pub fn place_order(
    pair: &str,
    venue_id: &str,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: Option<Decimal>,
    qty: Decimal,
) -> Result<AddOrder, String> {
    let cl = to_cl_ord_id(venue_id).ok_or_else(|| {
        format!(
            "client order id {venue_id} cannot be a Kraken cl_ord_id (free text up to 18 characters)"
        )
    })?;
    let mut p: Vec<(&'static str, String)> = vec![
        (
            "ordertype",
            if kind == OrderKind::Market {
                "market"
            } else {
                "limit"
            }
            .into(),
        ),
        (
            "type",
            match side {
                Side::Buy => "buy",
                Side::Sell => "sell",
            }
            .into(),
        ),
        ("volume", qty.normalize().to_string()),
        ("pair", pair.to_string()),
    ];
    if kind == OrderKind::Limit {
        let px = price.ok_or_else(|| "a limit order without a price".to_string())?;
        p.push(("price", px.normalize().to_string()));
    }
    let post = kind == OrderKind::Limit && tif == TimeInForce::PostOnly;
    p.push(("oflags", if post { "post,fciq" } else { "fciq" }.into()));
    if kind == OrderKind::Limit && tif == TimeInForce::Ioc {
        p.push(("timeinforce", "IOC".into()));
    }
    p.push(("cl_ord_id", cl.clone()));
    Ok(AddOrder {
        cl_ord_id: cl,
        params: p,
    })
}

fn wall() -> Timestamp {
    crate::engine::clock::Clock::now(&crate::engine::clock::WallClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientOrderId;
    use crate::venue::live::ids::{IdPrefix, VenueIds};
    use rust_decimal_macros::dec;

    fn form(o: &AddOrder) -> String {
        serde_urlencoded::to_string(&o.params).unwrap()
    }

    #[test]
    fn engine_orders_become_kraken_orders_as_documented() {
        let v = VenueIds::new(3, IdPrefix::for_tests()).to_venue(&ClientOrderId::new("S1-7"));
        let post = place_order(
            "XBTUSDT",
            &v,
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::PostOnly,
            Some(dec!(60000.10)),
            dec!(0.00100),
        )
        .unwrap();
        assert_eq!(
            form(&post),
            "ordertype=limit&type=buy&volume=0.001&pair=XBTUSDT&price=60000.1&oflags=post%2Cfciq&cl_ord_id=t3st0013S117"
        );
        let m = place_order(
            "XBTUSDT",
            &v,
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
        )
        .unwrap();
        assert_eq!(
            form(&m),
            "ordertype=market&type=sell&volume=0.002&pair=XBTUSDT&oflags=fciq&cl_ord_id=t3st0013S117"
        );
        let ioc = place_order(
            "XBTUSDT",
            &v,
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
        )
        .unwrap();
        assert!(form(&ioc).contains("&timeinforce=IOC&"), "{}", form(&ioc));
        let gtc = place_order(
            "XBTUSDT",
            &v,
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Gtc,
            Some(dec!(59990)),
            dec!(0.002),
        )
        .unwrap();
        assert!(!form(&gtc).contains("timeinforce") && !form(&gtc).contains("post"));
        // An id Kraken would refuse is never sent.
        assert!(
            place_order(
                "XBTUSDT",
                "free_text-id",
                Side::Buy,
                OrderKind::Market,
                TimeInForce::Ioc,
                None,
                dec!(1)
            )
            .is_err()
        );
    }
}
