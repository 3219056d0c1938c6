//! The Bybit v5 connection task: on a thread of its own (a tokio runtime), it carries out
//! the engine's requests on the REST API ([`super::rest`]), keeps the private stream and
//! its dead-man switch ([`super::private`]), resolves unknown outcomes, reconciles, and
//! hands the engine its execution reports through the venue-generic [`Tracker`] (each
//! fact once, acks first). Modelled on `binance/trade/task.rs`; the differences are
//! Bybit's:
//!
//! * "Place Order" answers only with the ids ("This request is asynchronous so please use
//!   the websocket to confirm the order status", <https://bybit-exchange.github.io/docs/v5/order/create-order>):
//!   the status and fills come from the private `order` / `execution` topics, and after a
//!   cancel the order is asked for by its `orderLinkId` so its end is known even with the
//!   stream down;
//! * an order leaves only once the store has its record (the barrier); a lost or
//!   ambiguous answer is resolved by asking "Get Open & Closed Orders" and then "Get
//!   Order History" for the `orderLinkId` ([`Rest::find_order`]), never by sending
//!   again. An order listed in neither stays of unknown outcome (both lists can lag, the
//!   first keeps only recent closed orders): pit keeps asking, new orders stay refused
//!   (the port's `unresolved` gate; cancels pass) and an alert names the order, until
//!   Bybit lists it or the operator restarts pit (which asks again and settles an order
//!   listed nowhere as not placed, saying so);
//! * executions have string ids (`execId`), not growing numbers: "since the last stored
//!   trade" is by `startTime` ("Get Trade History", <https://bybit-exchange.github.io/docs/v5/order/execution>),
//!   and the tracker's known trade keys (from the store) keep each fill once;
//! * the account's balances ("Get Wallet Balance", UNIFIED) are compared with the
//!   balances at the run's start plus every fill since, only when no fill came in while
//!   the wallet was read (the fills are listed before and after it, and must agree).

use super::private::{self, StreamMsg, StreamStatus};
use super::rest::{Cancelled, Placed, Rest, RestError};
use super::updates::{execution_update, order_update};
use crate::domain::{Instrument, OrderKind, Side, TimeInForce, Timestamp};
use crate::engine::AlertLevel;
use crate::venue::exchanges::binance::trade::task::{Hooks, Settle};
use crate::venue::exchanges::bybit::api::errors::Outcome;
use crate::venue::exchanges::bybit::api::sign::Signer;
use crate::venue::exchanges::bybit::api::wire::{
    self, Category, CreateOrder, Execution, Order, OrderStatus, PrivateEvent,
};
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

/// How long a cancel or a query waits out rate-limit back-offs before it fails (a kill's
/// cancels must not fail on a 10006: they wait for the reset).
const PATIENCE: Duration = Duration::from_secs(30);

/// How long an order Bybit closed waits for its fills on the stream before they are read
/// from "Get Trade History" by its `orderLinkId` (the `order` and `execution` topics are
/// separate and Bybit promises no order between them: "Private" → Order and Execution,
/// <https://bybit-exchange.github.io/docs/v5/websocket/private/execution>).
const HOLD_BOUND: Duration = Duration::from_secs(1);

/// What the task is made of.
pub struct TaskSetup {
    pub rest: Arc<Rest>,
    pub category: Category,
    pub ws_private_url: String,
    /// Signs the private stream's `auth` (the same keys as `rest`).
    pub ws_signer: Arc<Signer>,
    pub dead_man_secs: u32,
    /// The engine loop's heartbeat: the private stream is closed while it stands still,
    /// so that Bybit's DCP cancels (see [`super::private`]).
    pub engine: crate::venue::live::pulse::EngineWatch,
    pub instruments: Vec<Instrument>,
    pub tracker: Tracker,
    pub reports: std::sync::mpsc::Sender<crate::domain::ExecReport>,
    pub health: SharedHealth,
    pub hooks: Arc<std::sync::OnceLock<Arc<dyn Hooks>>>,
    /// The store's durable watermark (none: nothing to wait for).
    pub durable: Option<Arc<AtomicU64>>,
    /// Per symbol, executions are asked for from this time (ms; a symbol not here:
    /// Bybit's default, the last 7 days); moved on after each reconciliation.
    pub since_ms: BTreeMap<String, u64>,
    /// Orders earlier live runs left open (run, engine id, symbol): only Bybit knows their
    /// end; each is cancelled if still working, else asked about, and its end written
    /// back through `settle`: never marked cancelled without Bybit's word.
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
    /// Where the account's balances are kept when pit first manages it (`pit reconcile`
    /// checks the base coins against them); none: not kept.
    pub start_file: Option<std::path::PathBuf>,
    /// Derivatives: pit's signed position per symbol as the store held it at the start
    /// (what the engine starts from); the run's fills move it, and it is compared with
    /// the venue's.
    pub positions: BTreeMap<String, Decimal>,
}

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
        result: Placed,
    },
    /// An order asked for by its `orderLinkId` (after a cancel, an unknown outcome, a
    /// reconciliation), with its executions.
    Resolved {
        venue_id: String,
        order: Option<Order>,
        execs: Vec<Execution>,
        why: String,
        /// Counted in `unresolved` (an unknown outcome, an order asked about), not a
        /// cancel's follow-up.
        counted: bool,
        /// Asked after a cancel whose outcome is unknown: an order still open means the
        /// cancel did not take, and the engine must be told so (it sends it again).
        cancel_unsure: bool,
    },
    CancelFailed {
        venue_id: String,
        symbol: String,
        error: RestError,
    },
    /// A cancel's outcome is unknown and the order could not be asked for.
    CancelUnsure {
        venue_id: String,
        reason: String,
    },
    CancelledAll {
        symbol: String,
        result: Result<wire::CancelAllResult, RestError>,
    },
    Stream(StreamMsg),
    Reconciled(Result<Box<Snapshot>, String>),
    /// An order held closed-but-short: its fills are due from the list now.
    HoldDue {
        venue_id: String,
    },
    /// An order of unknown outcome is listed nowhere past its receive window: said once,
    /// still asked for.
    Unlisted {
        venue_id: String,
        why: String,
    },
    /// The fills of a held order, read by its `orderLinkId`.
    HeldFills {
        venue_id: String,
        result: Result<Vec<Execution>, RestError>,
    },
    /// Derivatives: compare pit's positions with the venue's last word, if it has been
    /// quiet long enough (see [`POSITION_SETTLE`]).
    ComparePositions,
}

/// A position message and the execution messages of the same fill come apart (Bybit
/// promises no order between topics). pit's position and the venue's are compared when
/// the venue's position message holds exactly the fills pit has heard (its `seq` is
/// theirs, see [`seq_matches`]), or else once neither the venue's position (its size or
/// `seq`) nor pit's fills have changed for this long; and a difference stands (is
/// alerted, refuses new orders) only once the same difference has been found for this
/// long. Bybit pushes a position message "every time when you create/amend/cancel an
/// order ... regardless if there's any actual change"
/// (<https://bybit-exchange.github.io/docs/v5/websocket/private/position>): such a
/// message, the same size and `seq`, is no change and postpones nothing.
const POSITION_SETTLE: Duration = Duration::from_millis(1500);

/// Whether a position message of `seq` holds exactly the fills pit has heard on its
/// symbol, the last of which had `heard` (the fills' and the position's `seq` are one
/// "cross sequence, used to associate each fill and each position update", per symbol:
/// <https://bybit-exchange.github.io/docs/v5/websocket/private/position> and
/// <https://bybit-exchange.github.io/docs/v5/websocket/private/execution>; a position's
/// is "the seq updated by the last transaction", `-1` "if the symbol has never been
/// traded"). A position whose `seq` is not known says nothing.
fn seq_matches(seq: Option<i64>, heard: Option<i64>) -> bool {
    match (seq, heard) {
        (Some(s), Some(h)) => s == h,
        (Some(s), None) => s < 0,
        (None, _) => false,
    }
}

/// An order Bybit says is closed (`Cancelled`, `PartiallyFilledCanceled`) whose fills pit
/// has not all had yet: its close waits until they reach its `cumExecQty`, so that no
/// fill arrives for an order the engine has already closed (a bracket's late entry fill
/// would get no stop).
struct Held {
    cum_exec_qty: Decimal,
    symbol: String,
    asked: u32,
}

/// What a reconciliation fetched.
struct Snapshot {
    open: Vec<Order>,
    execs: Vec<Execution>,
    /// Coin -> wallet balance; `None` when fills came in while the wallet was read.
    wallet: Option<BTreeMap<String, Decimal>>,
    /// Symbol -> (base coin, quote coin), when asked for.
    assets: BTreeMap<String, (String, String)>,
    /// The venue's signed positions (derivatives) and their `seq`.
    positions: Option<BTreeMap<String, (Decimal, Option<i64>)>>,
    /// Derivatives: the symbols "Get Position Info" lists in hedge mode (see
    /// [`super::updates::hedge_symbols`]), read at every reconciliation.
    hedge: BTreeSet<String>,
    reason: String,
    /// Bybit's time when the fetch began: every fill made before it was listed.
    begun_ms: u64,
}

struct Conn {
    s: TaskSetup,
    internal: UnboundedSender<Internal>,
    stream: Arc<Mutex<StreamStatus>>,
    reconciling: bool,
    reconcile_again: Option<String>,
    reconcile_reason: String,
    /// Fills recorded (by `execId`) while a reconciliation's fetch ran.
    during_fetch: BTreeSet<String>,
    external_seen: BTreeSet<String>,
    unresolved: u64,
    /// Orders sent whose answer has not come back yet.
    in_flight: BTreeSet<String>,
    /// Cancels asked for while their order's create was on its way (venue id -> symbol):
    /// sent once the create is answered. Sent at once, a cancel could reach Bybit first,
    /// find nothing, and the order would then rest after the kill switch.
    cancel_after_create: BTreeMap<String, String>,
    /// Orders cancelled before their create left (it waits for the store's record): the
    /// create's task reads this after the wait and sends nothing for them
    /// (`venue/live/gate.rs`, shared with OKX).
    withdrawn: Arc<crate::venue::live::gate::Withdrawn>,
    /// Cancels held past an unknown create outcome (venue id -> symbol): sent once asking
    /// finds the order open, dropped when it is not. Sent at once, the cancel could reach
    /// Bybit before the order, find nothing, and the order would then rest.
    cancel_after_resolve: BTreeMap<String, String>,
    /// Earlier runs' orders not settled yet, by venue id: (run, engine id, symbol).
    earlier: BTreeMap<String, (u64, String, String)>,
    earlier_asked: BTreeSet<String>,
    /// Each execution's local number, in the order pit learned them (per symbol, growing):
    /// what [`RunBalances`] counts by.
    exec_seq: BTreeMap<String, u64>,
    next_seq: u64,
    balances: RunBalances,
    /// The symbol of each order pit has heard of, by venue id.
    symbol_of: BTreeMap<String, String>,
    /// Closed at Bybit, waiting for their fills (see [`Held`]).
    held: BTreeMap<String, Held>,
    /// Derivatives: what this run's fills moved pit's position by, per symbol (signed).
    pos_moved: BTreeMap<String, Decimal>,
    /// Derivatives: the venue's signed position per symbol, its last word (the
    /// `position` topic or "Get Position Info").
    venue_pos: BTreeMap<String, Decimal>,
    /// Derivatives: the `seq` of the venue's last word per symbol (see [`seq_matches`]).
    venue_seq: BTreeMap<String, i64>,
    /// Derivatives: the highest `seq` of the executions pit has heard per symbol (the
    /// stream's, the lists'; every order of the account: the venue's position holds them
    /// all).
    heard_seq: BTreeMap<String, i64>,
    /// When the venue's position (its size or `seq`) last changed, or was first told.
    pos_heard: Option<std::time::Instant>,
    /// Differences found and not yet standing: symbol -> (the venue's less pit's, first
    /// found).
    pos_pending: BTreeMap<String, (Decimal, std::time::Instant)>,
    /// When pit's own position last moved (a fill applied on a derivatives category).
    pos_moved_at: Option<std::time::Instant>,
    /// Reconciliations in a row whose positions were not read (fills moved meanwhile).
    positions_unread: u32,
    /// A reconciliation's positions, read while no fill moved, wait to be compared.
    pos_fresh: bool,
    /// Differences already alerted (symbol -> (pit's, the venue's)).
    pos_said: BTreeMap<String, (Decimal, Decimal)>,
    /// Symbols found in hedge mode: new orders held for the rest of the run (see
    /// [`Conn::hedge_mode`]).
    hedge: BTreeSet<String>,
}

/// How long after a fill Bybit's "Get Trade History" may still not list it: fills are
/// asked for again this far back (ms). The docs give no bound; the stream is the fills'
/// first source, the list a check, so a generous margin costs one page.
pub const LIST_LAG_MS: u64 = 10 * 60_000;

/// Reconciliations read again at most this many times in a row when fills moved while
/// they read the positions (each holds new orders).
const POSITIONS_REREADS: u32 = 4;

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
        exec_seq: BTreeMap::new(),
        next_seq: 0,
        balances: RunBalances::default(),
        symbol_of: BTreeMap::new(),
        held: BTreeMap::new(),
        pos_moved: BTreeMap::new(),
        venue_pos: BTreeMap::new(),
        venue_seq: BTreeMap::new(),
        heard_seq: BTreeMap::new(),
        pos_heard: None,
        pos_pending: BTreeMap::new(),
        pos_moved_at: None,
        positions_unread: 0,
        pos_fresh: false,
        pos_said: BTreeMap::new(),
        hedge: BTreeSet::new(),
    };
    for (run, id, symbol) in std::mem::take(&mut c.s.at_venue) {
        let v =
            c.s.tracker
                .ids()
                .of_run(run, &crate::domain::ClientOrderId::new(id.as_str()));
        c.symbol_of.insert(v.clone(), symbol.clone());
        c.earlier.insert(v, (run, id, symbol));
    }
    match c.s.rest.sync_time().await {
        Ok(o) => tracing::info!(offset_ms = o, "bybit: server time measured"),
        Err(e) => c.alert(
            AlertLevel::Warn,
            format!("bybit: server time not measured ({e}); using the local clock"),
        ),
    }
    // The private stream on this runtime: DCP armed first, then auth and topics.
    let (stx, mut srx) = unbounded_channel();
    tokio::spawn(private::run(private::PrivateSetup {
        url: c.s.ws_private_url.clone(),
        signer: c.s.ws_signer.clone(),
        rest: c.s.rest.clone(),
        category: c.s.category,
        dead_man_secs: c.s.dead_man_secs,
        out: stx,
        status: stream,
        engine: c.s.engine.clone(),
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
    /// An open order carries an id this store would draw but this run never sent (see
    /// [`crate::venue::live::ids::VenueIds::foreign_twin`]): halted, the order left alone.
    fn twin_store(&mut self, venue_id: &str) {
        let text = format!(
            "bybit: open order {venue_id} carries this data folder's ids but this run never sent it: another pit shares this store's id prefix (a copied or restored data folder?); trading halted, the order left alone: stop the other pit, or start this one from a fresh data folder"
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
        let usage = self.s.rest.usage();
        let dead_man = self.stream.lock().map(|s| s.dead_man.clone()).ok();
        if let Ok(mut h) = self.s.health.lock() {
            h.used_weight = usage.limit.zip(usage.remaining).map(|(l, r)| l - r.min(l));
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
                reduce_only,
            } => {
                self.s.tracker.sent(&venue_id, qty);
                self.in_flight.insert(venue_id.clone());
                self.symbol_of.insert(venue_id.clone(), symbol.clone());
                let o = create_order(
                    self.s.category,
                    &symbol,
                    &venue_id,
                    side,
                    kind,
                    tif,
                    price,
                    qty,
                    reduce_only,
                );
                let rest = self.s.rest.clone();
                let durable = self.s.durable.clone();
                let tx = self.internal.clone();
                let withdrawn = self.withdrawn.clone();
                tokio::spawn(async move {
                    // The store barrier, and not cancelled meanwhile (the kill switch).
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
                            result: Placed::Rejected(RestError::NotSent(why)),
                        });
                        return;
                    }
                    let sent_ms = rest.server_now_ms();
                    let result = rest.place_resolving(&o, PATIENCE).await;
                    let _ = tx.send(Internal::Placed {
                        venue_id,
                        symbol,
                        sent_ms,
                        result,
                    });
                });
            }
            ToVenue::Cancel { venue_id, symbol } if self.in_flight.contains(&venue_id) => {
                tracing::info!(%venue_id, "bybit: cancel held until the order's create is answered");
                crate::venue::live::gate::withdraw(&self.withdrawn, &venue_id);
                self.cancel_after_create.insert(venue_id, symbol);
            }
            ToVenue::Cancel { venue_id, symbol } => {
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                let category = self.s.category;
                tokio::spawn(async move {
                    match rest.cancel(category, &symbol, &venue_id, PATIENCE).await {
                        // Either way the order's end is asked for: the cancel's answer
                        // has only the ids ("asynchronous").
                        Ok(Cancelled::Accepted(_)) | Ok(Cancelled::AlreadyGone(_)) => {
                            query_order(
                                &rest,
                                category,
                                venue_id,
                                symbol,
                                "cancel answered",
                                false,
                                &tx,
                            )
                            .await
                        }
                        Err(e) if e.outcome_unknown() => {
                            let why = format!("cancel outcome unknown ({e})");
                            query_order(&rest, category, venue_id, symbol, &why, true, &tx).await
                        }
                        Err(error) => {
                            let _ = tx.send(Internal::CancelFailed {
                                venue_id,
                                symbol,
                                error,
                            });
                        }
                    }
                });
            }
            ToVenue::CancelAll { symbol } => {
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                let category = self.s.category;
                tokio::spawn(async move {
                    let result = rest.cancel_all(category, Some(&symbol), PATIENCE).await;
                    let _ = tx.send(Internal::CancelledAll { symbol, result });
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
                sent_ms,
                result,
            } => {
                self.in_flight.remove(&venue_id);
                crate::venue::live::gate::answered(&self.withdrawn, &venue_id);
                if let Some(symbol) = self.cancel_after_create.remove(&venue_id) {
                    match &result {
                        // After this answer's own update (below): the cancel follows it.
                        Placed::Accepted(_) | Placed::Found(_) => {
                            let _ = self.internal.send(Internal::CancelNow {
                                venue_id: venue_id.clone(),
                                symbol,
                            });
                        }
                        // Asked for below: the cancel waits for the answer.
                        Placed::NotFound { .. } | Placed::Unresolved { .. } => {
                            self.cancel_after_resolve.insert(venue_id.clone(), symbol);
                        }
                        // Refused or never sent: nothing to cancel (the order is rejected).
                        Placed::Rejected(_) => {}
                    }
                }
                match result {
                    Placed::Accepted(_) => self.emit(VenueUpdate::Accepted { venue_id, ts: now }),
                    Placed::Found(order) => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("bybit: order {venue_id}: the answer was lost; Bybit has it ({:?}), not sent again", order.order_status),
                        );
                        // Its fills, whatever the stream said meanwhile.
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, None, "answer lost, order found".into());
                    }
                    Placed::NotFound { cause } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("bybit: order {venue_id}: {cause}; Bybit lists no such order yet: its outcome stays unknown and new orders refused while pit keeps asking (never re-sent)"),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, Some(sent_ms), "unknown outcome".into());
                    }
                    Placed::Unresolved { cause, query } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("bybit: order {venue_id}: {cause}; asking failed too ({query}); asking until Bybit answers (never re-sent)"),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, Some(sent_ms), "unknown outcome".into());
                    }
                    Placed::Rejected(e) => {
                        if e.outcome() == Some(Outcome::Banned) {
                            self.alert(
                                AlertLevel::Critical,
                                format!("bybit: {e}: nothing is sent for 10 minutes"),
                            );
                        }
                        self.emit(VenueUpdate::Rejected {
                            venue_id,
                            ts: now,
                            reason: e.to_string(),
                        })
                    }
                }
            }
            Internal::Resolved {
                venue_id,
                order,
                execs,
                why,
                counted,
                cancel_unsure,
            } => self.on_resolved(venue_id, order, execs, why, counted, cancel_unsure),
            Internal::CancelUnsure { venue_id, reason } => {
                tracing::warn!(%venue_id, %reason, "bybit: cancel unconfirmed");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason,
                })
            }
            Internal::CancelFailed {
                venue_id,
                symbol,
                error,
            } => {
                tracing::warn!(%venue_id, %symbol, error = %error, "bybit: cancel refused");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason: error.to_string(),
                })
            }
            Internal::CancelledAll { symbol, result } => match result {
                Ok(r) => {
                    tracing::info!(%symbol, cancelled = r.list.len(), "bybit: cancel-all");
                    // Each cancelled order's end, also for the earlier runs' ones.
                    for ids in r.list {
                        if ids.order_link_id.is_empty() {
                            continue;
                        }
                        let rest = self.s.rest.clone();
                        let tx = self.internal.clone();
                        let category = self.s.category;
                        let symbol = symbol.clone();
                        tokio::spawn(async move {
                            query_order(
                                &rest,
                                category,
                                ids.order_link_id,
                                symbol,
                                "cancelled by a cancel-all",
                                false,
                                &tx,
                            )
                            .await
                        });
                    }
                }
                Err(e) => self.alert(
                    AlertLevel::Critical,
                    format!(
                        "bybit: cancel-all on {symbol} failed: {e}; per-order cancels still go"
                    ),
                ),
            },
            Internal::Stream(StreamMsg::Event(ev)) => self.on_event(ev),
            Internal::Stream(StreamMsg::DeadManNotArmed(why)) => self.alert(
                AlertLevel::Critical,
                format!("bybit: the dead-man switch (DCP) is not armed ({why}): Bybit will not cancel pit's orders if pit hangs or loses the network"),
            ),
            Internal::Stream(StreamMsg::EngineStalled(why)) => {
                if let Ok(mut h) = self.s.health.lock() {
                    h.connection = "closed: the engine loop stands still".into();
                    // What happens meanwhile is learned by the reconciliation after.
                    if h.reconciling.is_none() {
                        h.reconciling = Some("engine loop stalled".into());
                    }
                }
                self.alert(
                    AlertLevel::Critical,
                    format!("bybit: dead-man: {why}; reconnecting and reconciling once the loop turns"),
                );
            }
            Internal::Stream(StreamMsg::EngineTurned) => self.alert(
                AlertLevel::Info,
                "bybit: the engine loop turns again: private stream reconnecting, DCP armed again, then reconciling".into(),
            ),
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
                    // Fills may happen unseen until the stream is back and reconciled.
                    if h.reconciling.is_none() {
                        h.reconciling = Some("private stream down".into());
                    }
                }
                self.alert(
                    AlertLevel::Warn,
                    format!("bybit: private stream lost ({why}); reconnecting, then reconciling"),
                );
            }
            Internal::HoldDue { venue_id } => self.on_hold_due(venue_id),
            Internal::Unlisted { venue_id, why } => self.alert(
                AlertLevel::Critical,
                format!(
                    "bybit: order {venue_id} ({why}): Bybit lists it neither open, closed nor in its history, past its receive window; it may still have been placed (the lists lag): outcome unknown, new orders refused, pit keeps asking. A restart asks again and settles it as not placed if Bybit still lists it nowhere"
                ),
            ),
            Internal::ComparePositions => self.compare_positions(),
            Internal::HeldFills { venue_id, result } => self.on_held_fills(venue_id, result),
            Internal::Reconciled(r) => {
                match r {
                    Ok(snap) => {
                        // Derivatives whose positions were not read (fills came in while
                        // the lists were read): read again shortly, orders still held. A
                        // run that then stands still (HALTED after a restart) hears no
                        // position message, and its positions would stay uncompared.
                        let unread = self.s.category.has_positions() && snap.positions.is_none();
                        self.positions_unread = if unread { self.positions_unread + 1 } else { 0 };
                        let reason = snap.reason.clone();
                        self.finish_reconcile(*snap);
                        if unread && self.positions_unread > POSITIONS_REREADS {
                            self.positions_unread = 0;
                            self.alert(
                                AlertLevel::Warn,
                                format!("bybit: the positions were not read in {} reconciliations in a row (fills kept coming in while the lists were read); the position messages compare them", POSITIONS_REREADS + 1),
                            );
                        } else if unread {
                            tracing::info!(
                                "bybit: positions not read (fills came in while the lists were read); reading again in 2 s"
                            );
                            let reason = format!(
                                "{} (positions read again)",
                                reason.trim_end_matches(" (positions read again)")
                            );
                            self.reconcile_reason = reason.clone();
                            self.set_reconciling(Some(reason.clone()));
                            self.spawn_fetch(reason, Duration::from_secs(2));
                            return;
                        }
                    }
                    Err(e) => {
                        self.alert(
                            AlertLevel::Critical,
                            format!("bybit: reconciliation failed ({e}); new orders stay refused, retrying in 5 s"),
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
                if self.s.category.has_positions() {
                    if self.pos_fresh {
                        self.compare_positions();
                    }
                    self.compare_later();
                }
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
        execs: Vec<Execution>,
        why: String,
        counted: bool,
        cancel_unsure: bool,
    ) {
        let now = wall();
        if counted {
            self.unresolved = self.unresolved.saturating_sub(1);
        }
        if let Some(symbol) = self.cancel_after_resolve.remove(&venue_id)
            && order.as_ref().is_some_and(|o| o.order_status.is_open())
        {
            // After this answer's own update (below): the order is open, cancel it.
            let _ = self.internal.send(Internal::CancelNow {
                venue_id: venue_id.clone(),
                symbol,
            });
        }
        self.apply_execs(&execs);
        match order {
            Some(o) => {
                if o.order_status.is_open() && self.earlier.contains_key(&venue_id) {
                    // An earlier run's order still working: cancel it (its end settles it).
                    let symbol = o.symbol.clone();
                    self.on_request(ToVenue::Cancel { venue_id, symbol });
                    return;
                }
                self.settle_earlier(&venue_id, &o, &why);
                if matches!(self.s.tracker.ids().owner(&venue_id), IdOwner::ThisRun(_)) {
                    if o.order_status.is_open()
                        || o.cum_exec_qty.unwrap_or_default() > Decimal::ZERO
                    {
                        self.emit(VenueUpdate::Accepted {
                            venue_id: venue_id.clone(),
                            ts: now,
                        });
                    }
                    if !matches!(order_update(&o, now), VenueUpdate::Accepted { .. }) {
                        self.on_order(&o, now);
                    }
                    if cancel_unsure && o.order_status.is_open() {
                        // The cancel did not take: the engine sends it again (a second
                        // cancel of an order gone meanwhile is answered "already gone").
                        self.emit(VenueUpdate::CancelRejected {
                            venue_id: venue_id.clone(),
                            ts: now,
                            reason: format!("{why}; Bybit still has the order open"),
                        });
                    }
                }
                tracing::info!(%venue_id, status = ?o.order_status, %why, "bybit: order resolved by query");
            }
            None => {
                if let Some((run, id, _)) = self.earlier.remove(&venue_id) {
                    self.settle(
                        run,
                        id,
                        crate::domain::OrderStatus::Rejected,
                        Decimal::ZERO,
                        format!(
                            "not placed: after the restart Bybit lists it neither open, closed nor in its order history ({why})"
                        ),
                    );
                    return;
                }
                if !counted {
                    // A cancel answered, yet the order is not listed (older than the
                    // recent closed orders Bybit keeps): the cancel stands refused.
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: now,
                        reason: "Bybit does not list the order".into(),
                    });
                    return;
                }
                // This run's order of unknown outcome: never settled on absence (see
                // `resolve`, which does not answer `None` for it); asked for again.
                self.unresolved += 1;
                let symbol = self.symbol_of.get(&venue_id).cloned().unwrap_or_default();
                self.resolve(venue_id, symbol, None, why);
            }
        }
    }

    fn on_event(&mut self, ev: PrivateEvent) {
        let now = wall();
        match ev {
            PrivateEvent::Orders(list) => {
                for o in list {
                    // Another category's order (the port trades one): not pit's here.
                    if o.order_link_id.is_empty()
                        || o.category.is_some_and(|c| c != self.s.category)
                    {
                        continue;
                    }
                    self.symbol_of
                        .insert(o.order_link_id.clone(), o.symbol.clone());
                    match self.s.tracker.ids().owner(&o.order_link_id) {
                        IdOwner::External => {
                            if o.order_status.is_open() {
                                self.note_external(&o.order_link_id, &o.symbol);
                            } else {
                                self.external_seen.remove(&o.order_link_id);
                            }
                        }
                        IdOwner::EarlierRun { .. } => {
                            self.settle_earlier(&o.order_link_id.clone(), &o, "order message")
                        }
                        IdOwner::ThisRun(_) => {
                            self.on_order(&o, now);
                            // Cancelled (the kill) while its create's outcome was unknown,
                            // and it shows up here first: cancel it now, not only when the
                            // question answers.
                            if let Some(symbol) = self.cancel_after_resolve.remove(&o.order_link_id)
                                && o.order_status.is_open()
                            {
                                let _ = self.internal.send(Internal::CancelNow {
                                    venue_id: o.order_link_id.clone(),
                                    symbol,
                                });
                            }
                        }
                    }
                }
            }
            PrivateEvent::Executions(list) => {
                let category = self.s.category;
                let list: Vec<Execution> = list
                    .into_iter()
                    .filter(|x| x.category.is_none_or(|c| c == category))
                    .collect();
                self.apply_execs(&list);
            }
            PrivateEvent::Positions(list) => {
                if !self.s.category.has_positions() {
                    return;
                }
                let category = self.s.category;
                let list: Vec<wire::Position> = list
                    .into_iter()
                    .filter(|p| p.category.is_none_or(|c| c == category))
                    .collect();
                self.hedge_mode(super::updates::hedge_symbols(&list));
                self.heard_positions(super::updates::venue_position_seqs(&list));
            }
            PrivateEvent::Reply(_) | PrivateEvent::Other(_) => {}
        }
    }

    /// The venue told its positions (all of a symbol's: one-way mode lists one) and their
    /// `seq`: keep them; compare now if they hold exactly the fills pit heard, else once
    /// quiet (a message that changes nothing postpones nothing; see [`POSITION_SETTLE`]).
    fn heard_positions(&mut self, venue: BTreeMap<String, (Decimal, Option<i64>)>) {
        let mut changed = self.pos_heard.is_none();
        for (sym, (q, seq)) in venue {
            changed |= self.venue_pos.get(&sym) != Some(&q);
            self.venue_pos.insert(sym.clone(), q);
            match seq {
                Some(seq) => changed |= self.venue_seq.insert(sym, seq) != Some(seq),
                None => changed |= self.venue_seq.remove(&sym).is_some(),
            }
        }
        if changed {
            self.pos_heard = Some(std::time::Instant::now());
        }
        if self.symbols().iter().any(|s| self.by_seq_of(s)) {
            self.compare_positions();
        } else if changed {
            self.compare_later();
        }
    }

    /// Every symbol's last venue position holds exactly the fills pit heard
    /// ([`seq_matches`]), and no closed order waits for fills pit knows are missing.
    /// Whether `sym`'s venue position holds exactly the fills pit heard ([`seq_matches`])
    /// and no closed order of it still waits for its fills. Per symbol: an idle symbol
    /// (no fill heard this run) never keeps another from being compared.
    fn by_seq_of(&self, sym: &str) -> bool {
        !self.held.values().any(|h| h.symbol == sym)
            && seq_matches(
                self.venue_seq.get(sym).copied(),
                self.heard_seq.get(sym).copied(),
            )
    }

    /// A comparison once [`POSITION_SETTLE`] has passed (it looks whether both sides
    /// were quiet that long).
    fn compare_later(&self) {
        let tx = self.internal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(POSITION_SETTLE).await;
            let _ = tx.send(Internal::ComparePositions);
        });
    }

    /// Derivatives positions are the venue's: pit's (the store's at the start plus this
    /// run's fills) is compared with the venue's per symbol. A difference is a critical
    /// alert and a line in the port's balances, which refuses new orders while it stands
    /// (cancels pass); pit never sends an order to fix it (the operator decides: flatten
    /// or adjust by hand). See [`crate::venue::live::reconcile::compare_positions`].
    ///
    /// Compared when the venue's positions hold exactly the fills pit heard (their `seq`,
    /// [`Conn::by_seq_of`]), or else once neither the venue's positions nor pit's own fills
    /// have changed for [`POSITION_SETTLE`] (a fill's position and execution messages come
    /// apart); never during a reconciliation (its fills are not all applied yet): it is
    /// compared when that ends. A difference stands only once found the same (the
    /// venue's less pit's) for [`POSITION_SETTLE`]: a fill pit has not heard yet (one of
    /// several of the same `seq`, a late message) is no difference.
    fn compare_positions(&mut self) {
        let settle = POSITION_SETTLE - Duration::from_millis(50);
        let quiet = self.pos_heard.is_some_and(|t| t.elapsed() >= settle)
            && self.pos_moved_at.is_none_or(|t| t.elapsed() >= settle);
        if self.reconciling || self.pos_heard.is_none() {
            return;
        }
        // Positions a reconciliation read while no fill moved: compared at once, and a
        // difference stands at once (nothing can be on its way).
        let fresh = std::mem::take(&mut self.pos_fresh);
        // Which symbols are compared: each on its own (see `by_seq_of`).
        let eligible: BTreeSet<String> = self
            .symbols()
            .into_iter()
            .filter(|s| fresh || quiet || self.by_seq_of(s))
            .collect();
        if eligible.is_empty() {
            return;
        }
        let ours: BTreeMap<String, Decimal> = eligible
            .iter()
            .map(|sym| {
                let start = self.s.positions.get(sym).copied().unwrap_or_default();
                let moved = self.pos_moved.get(sym).copied().unwrap_or_default();
                (sym.clone(), start + moved)
            })
            .collect();
        let venue: BTreeMap<String, Decimal> = self
            .venue_pos
            .iter()
            .filter(|(s, _)| ours.contains_key(*s))
            .map(|(s, q)| (s.clone(), *q))
            .collect();
        let findings = crate::venue::live::reconcile::compare_positions(&ours, &venue);
        // A difference stands once found the same for the settle time.
        let now = std::time::Instant::now();
        self.pos_pending
            .retain(|s, _| !eligible.contains(s) || findings.iter().any(|f| &f.symbol == s));
        let mut standing: BTreeSet<String> = BTreeSet::new();
        let mut waiting = Vec::new();
        for f in &findings {
            let off = venue.get(&f.symbol).copied().unwrap_or_default()
                - ours.get(&f.symbol).copied().unwrap_or_default();
            match self.pos_pending.get(&f.symbol) {
                _ if fresh => {
                    standing.insert(f.symbol.clone());
                }
                Some((o, since)) if *o == off && now.duration_since(*since) >= settle => {
                    standing.insert(f.symbol.clone());
                }
                Some((o, _)) if *o == off => waiting.push(f.text.as_str()),
                _ => {
                    self.pos_pending.insert(f.symbol.clone(), (off, now));
                    waiting.push(f.text.as_str());
                }
            }
        }
        if !waiting.is_empty() {
            tracing::info!(
                "bybit: positions differ ({}); looked at again in {} ms before it stands",
                waiting.join("; "),
                POSITION_SETTLE.as_millis()
            );
            self.compare_later();
        }
        // The status lines: a symbol compared now (agreeing, or a difference that
        // stands) gets its new line; another keeps the line it had (none yet: none).
        let before: Vec<crate::engine::view::BalanceLine> = self
            .s
            .health
            .lock()
            .map(|h| h.balances.clone())
            .unwrap_or_default();
        let lines: Vec<crate::engine::view::BalanceLine> = self
            .symbols()
            .into_iter()
            .filter_map(|sym| {
                let asset = format!("{sym} position");
                let pending = findings
                    .iter()
                    .any(|f| f.symbol == sym && !standing.contains(&sym));
                if !eligible.contains(&sym) || pending {
                    return before.iter().find(|b| b.asset == asset).cloned();
                }
                let q = ours.get(&sym).copied().unwrap_or_default();
                let start = self.s.positions.get(&sym).copied().unwrap_or_default();
                Some(crate::engine::view::BalanceLine {
                    asset,
                    start,
                    traded: q - start,
                    expected: q,
                    venue: venue.get(&sym).copied().unwrap_or_default(),
                })
            })
            .collect();
        let findings: Vec<_> = findings
            .into_iter()
            .filter(|f| standing.contains(&f.symbol))
            .collect();
        for f in &findings {
            let pair = (
                ours.get(&f.symbol).copied().unwrap_or_default(),
                venue.get(&f.symbol).copied().unwrap_or_default(),
            );
            if self.pos_said.get(&f.symbol) != Some(&pair) {
                self.pos_said.insert(f.symbol.clone(), pair);
                self.alert(
                    AlertLevel::Critical,
                    format!(
                        "bybit position {} differs: {}; new orders refused until they agree",
                        f.symbol, f.text
                    ),
                );
            }
        }
        let agreeing: Vec<String> = self
            .pos_said
            .keys()
            .filter(|s| {
                eligible.contains(*s)
                    && !self.pos_pending.contains_key(*s)
                    && !findings.iter().any(|f| &f.symbol == *s)
            })
            .cloned()
            .collect();
        for sym in agreeing {
            self.pos_said.remove(&sym);
            self.alert(
                AlertLevel::Info,
                format!("bybit position {sym}: pit and Bybit agree again"),
            );
        }
        if let Ok(mut h) = self.s.health.lock() {
            h.balances = lines;
        }
    }

    /// Apply executions (stream, lists), each once; count the fills new to the tracker.
    fn apply_execs(&mut self, list: &[Execution]) -> usize {
        let now = wall();
        let mut applied = 0;
        let mut moved = false;
        for x in list {
            // The `seq` of every execution that moves a position (funding does not), pit's
            // or not: the venue's position holds them all ([`seq_matches`]).
            if self.s.category.has_positions()
                && x.exec_type != "Funding"
                && let Some(seq) = x.seq
            {
                let h = self.heard_seq.entry(x.symbol.clone()).or_insert(seq);
                if seq > *h {
                    *h = seq;
                }
                moved = true;
            }
            if !x.is_trade() {
                continue;
            }
            if !self.exec_seq.contains_key(&x.exec_id) {
                self.next_seq += 1;
                self.exec_seq.insert(x.exec_id.clone(), self.next_seq);
                if self.reconciling {
                    self.during_fetch.insert(x.exec_id.clone());
                }
                self.balances.record(TradeMove {
                    symbol: x.symbol.clone(),
                    trade_id: self.next_seq,
                    buy: x.side == wire::Side::Buy,
                    qty: x.exec_qty,
                    price: x.exec_price,
                    commission: x.exec_fee.unwrap_or_default(),
                    commission_asset: x.fee_currency.clone(),
                });
            }
            if let IdOwner::External = self.s.tracker.ids().owner(&x.order_link_id) {
                continue;
            }
            let assets = self.balances.assets_of(&x.symbol);
            let Some(u) = execution_update(self.s.category, x, &self.s.instruments, assets, now)
            else {
                continue;
            };
            if let VenueUpdate::Trade { key, .. } = &u
                && self.s.tracker.knows_trade(*key)
            {
                continue;
            }
            applied += 1;
            if self.s.category.has_positions() && matches!(u, VenueUpdate::Trade { .. }) {
                let signed = if x.side == wire::Side::Buy {
                    x.exec_qty
                } else {
                    -x.exec_qty
                };
                *self.pos_moved.entry(x.symbol.clone()).or_default() += signed;
                // Compared again once quiet: a fill learned late (a slow execution
                // message, a resolve, a reconciliation) must not leave a stale verdict.
                self.pos_moved_at = Some(std::time::Instant::now());
                self.compare_later();
            }
            self.emit(u);
            self.release_held(&x.order_link_id);
        }
        if moved && self.symbols().iter().any(|s| self.by_seq_of(s)) {
            // The venue's last position holds exactly these fills: compared now.
            self.compare_positions();
        }
        applied
    }

    /// What an order message (or query) of this run says, a close held until the fills
    /// pit has reach the order's `cumExecQty`.
    fn on_order(&mut self, o: &Order, now: Timestamp) {
        let u = order_update(o, now);
        // `Filled` is final too: usually its last fill closes it in the tracker, but an
        // order Bybit cut (a reduce-only one larger than the position is cut to it, and
        // then fills whole) ends short of what pit sent and must be closed here.
        let filled = o.order_status == wire::OrderStatus::Filled;
        if !matches!(u, VenueUpdate::Closed { .. }) && !filled {
            self.emit(u);
            return;
        }
        let v = o.order_link_id.clone();
        let cum = o.cum_exec_qty.unwrap_or_default();
        if self.s.tracker.filled(&v) >= cum {
            self.held.remove(&v);
            self.emit(u);
            if filled && self.s.tracker.is_open(&v) {
                self.emit(VenueUpdate::Closed {
                    venue_id: v.clone(),
                    ts: now,
                });
            }
            return;
        }
        match self.held.get_mut(&v) {
            Some(h) => h.cum_exec_qty = h.cum_exec_qty.max(cum),
            None => {
                tracing::info!(venue_id = %v, %cum, "bybit: closed before its fills arrived; holding its close");
                self.held.insert(
                    v.clone(),
                    Held {
                        cum_exec_qty: cum,
                        symbol: o.symbol.clone(),
                        asked: 0,
                    },
                );
                self.hold_check(v, HOLD_BOUND);
            }
        }
    }

    /// Close a held order once its fills reach its `cumExecQty`.
    fn release_held(&mut self, venue_id: &str) {
        let Some(h) = self.held.get(venue_id) else {
            return;
        };
        if self.s.tracker.filled(venue_id) >= h.cum_exec_qty {
            if h.asked > 1 {
                self.alert(
                    AlertLevel::Info,
                    format!("bybit: order {venue_id}: its last fill arrived; closed"),
                );
            }
            self.held.remove(venue_id);
            // A filled order is closed by its last fill already; a cancelled or cut one
            // here.
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

    /// The bound passed: read the held order's fills by its `orderLinkId`.
    fn on_hold_due(&mut self, venue_id: String) {
        let Some(h) = self.held.get_mut(&venue_id) else {
            return;
        };
        h.asked += 1;
        let symbol = h.symbol.clone();
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        let category = self.s.category;
        tokio::spawn(async move {
            let result = rest
                .executions_of(category, &symbol, &venue_id, None, PATIENCE)
                .await;
            let _ = tx.send(Internal::HeldFills { venue_id, result });
        });
    }

    fn on_held_fills(&mut self, venue_id: String, result: Result<Vec<Execution>, RestError>) {
        match result {
            Ok(list) => {
                self.apply_execs(&list);
            }
            Err(e) => {
                tracing::warn!(%venue_id, error = %e, "bybit: a held order's fills not read")
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
                    "bybit: order {venue_id} closed at Bybit with {} filled, pit has {have} of its fills: kept open until they arrive (asking Bybit's trade list)",
                    h.cum_exec_qty
                ),
            );
        }
        let wait = HOLD_BOUND * 2u32.pow(h.asked.min(4));
        self.hold_check(venue_id, wait);
    }

    /// An earlier run's order has ended at Bybit: write its end to the store.
    fn settle_earlier(&mut self, venue_id: &str, o: &Order, why: &str) {
        use crate::domain::OrderStatus as Ours;
        let ours = match o.order_status {
            OrderStatus::Filled => Ours::Filled,
            OrderStatus::Cancelled
            | OrderStatus::PartiallyFilledCanceled
            | OrderStatus::Deactivated => Ours::Cancelled,
            OrderStatus::Rejected => Ours::Rejected,
            _ => return,
        };
        let Some((run, id, _)) = self.earlier.remove(venue_id) else {
            return;
        };
        let note = format!("{} at Bybit after the restart ({why})", ours.as_str());
        self.settle(run, id, ours, o.cum_exec_qty.unwrap_or_default(), note);
    }

    fn settle(
        &self,
        run: u64,
        id: String,
        status: crate::domain::OrderStatus,
        filled: Decimal,
        note: String,
    ) {
        tracing::info!(run, %id, status = status.as_str(), %filled, "bybit: an earlier run's order settled");
        if let Some(settle) = self.s.settle.clone() {
            tokio::task::spawn_blocking(move || settle(run, &id, status, filled, &note));
        }
    }

    fn note_external(&mut self, venue_id: &str, symbol: &str) {
        if self.external_seen.insert(venue_id.to_string()) {
            self.alert(
                AlertLevel::Info,
                format!("bybit: external order {venue_id} on {symbol} (not placed by pit): shown, never touched"),
            );
        }
    }

    /// Ask Bybit for an order until it lists it. This run's orders are never settled on
    /// absence: listed nowhere past the request's receive window (`sent_ms`), they are
    /// said to be unknown once ([`Internal::Unlisted`]) and asked for again, less often.
    /// An earlier run's order (the operator restarted pit) listed nowhere is answered
    /// `None`, and settled as not placed.
    fn resolve(&mut self, venue_id: String, symbol: String, sent_ms: Option<u64>, why: String) {
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        let category = self.s.category;
        let settle_absent = self.earlier.contains_key(&venue_id);
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(200);
            let mut said = false;
            loop {
                let r = rest
                    .idempotent(PATIENCE, || rest.find_order(category, &symbol, &venue_id))
                    .await;
                match r {
                    Ok(Some(o)) => {
                        let execs = order_execs(&rest, category, &symbol, &o).await;
                        if let Some(execs) = execs {
                            let _ = tx.send(Internal::Resolved {
                                venue_id,
                                order: Some(o),
                                execs,
                                why,
                                counted: true,
                                cancel_unsure: false,
                            });
                            return;
                        }
                    }
                    Ok(None) => {
                        let late = sent_ms.is_none_or(|s| {
                            rest.server_now_ms() > s + rest.recv_window_ms() + 1000
                        });
                        if late && settle_absent {
                            let _ = tx.send(Internal::Resolved {
                                venue_id,
                                order: None,
                                execs: Vec::new(),
                                why,
                                counted: true,
                                cancel_unsure: false,
                            });
                            return;
                        }
                        if late && !said {
                            said = true;
                            let _ = tx.send(Internal::Unlisted {
                                venue_id: venue_id.clone(),
                                why: why.clone(),
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%venue_id, error = %e, "bybit: order query failed; asking again")
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
        let category = self.s.category;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let r = fetch_snapshot(&rest, category, &symbols, since, need_assets, reason).await;
            let _ = tx.send(Internal::Reconciled(r.map(Box::new)));
        });
    }

    /// Symbols the venue lists in hedge mode: pit trades one-way mode only (its orders
    /// carry `positionIdx` 0, which Bybit refuses on a hedge-mode symbol, and it keeps one
    /// signed position per symbol). Fail closed: a critical alert per symbol and a hold
    /// on new orders (exits too) for the rest of the run, shown in the status bar and
    /// `pit status`; cancels and the kill switch still go. pit never switches the mode
    /// itself ("Switch Position Mode" is the account owner's decision,
    /// <https://bybit-exchange.github.io/docs/v5/position/position-mode>).
    fn hedge_mode(&mut self, symbols: BTreeSet<String>) {
        let ours: BTreeSet<String> = self.symbols().into_iter().collect();
        for sym in symbols {
            if !ours.contains(&sym) || !self.hedge.insert(sym.clone()) {
                continue;
            }
            let text = format!(
                "Bybit {sym} is in hedge mode; pit trades one-way mode only: switch it in Bybit (Switch Position Mode) and restart"
            );
            if let Ok(mut h) = self.s.health.lock() {
                h.holds.push(text.clone());
            }
            self.alert(
                AlertLevel::Critical,
                format!("bybit: {text}; new orders refused, cancels and the kill switch still go"),
            );
        }
    }

    fn finish_reconcile(&mut self, snap: Snapshot) {
        let now = wall();
        // Before anything else: the reconciliation's end must not let an order through
        // to a hedge-mode symbol.
        self.hedge_mode(snap.hedge.clone());
        let mut notes: Vec<String> = snap
            .hedge
            .iter()
            .filter(|sym| self.hedge.contains(*sym))
            .map(|sym| format!("{sym} is in hedge mode: new orders refused"))
            .collect();
        let venue_open: BTreeSet<String> =
            snap.open.iter().map(|o| o.order_link_id.clone()).collect();
        for o in &snap.open {
            self.symbol_of
                .insert(o.order_link_id.clone(), o.symbol.clone());
            let sent = self.s.tracker.was_sent(&o.order_link_id);
            if self.s.tracker.ids().foreign_twin(&o.order_link_id, sent) {
                self.twin_store(&o.order_link_id);
                continue;
            }
            match self.s.tracker.ids().owner(&o.order_link_id) {
                IdOwner::ThisRun(_) => self.emit(VenueUpdate::Accepted {
                    venue_id: o.order_link_id.clone(),
                    ts: now,
                }),
                IdOwner::EarlierRun { run, .. } => {
                    notes.push(format!(
                        "order {} of run {run} was still open at Bybit: cancelling it",
                        o.order_link_id
                    ));
                    self.on_request(ToVenue::Cancel {
                        venue_id: o.order_link_id.clone(),
                        symbol: o.symbol.clone(),
                    });
                }
                IdOwner::External => self.note_external(&o.order_link_id, &o.symbol),
            }
        }
        self.external_seen.retain(|v| venue_open.contains(v));
        // Earlier runs' orders the store has open that Bybit does not list as open.
        let ask: Vec<(String, String)> = self
            .earlier
            .iter()
            .filter(|(v, _)| !self.earlier_asked.contains(*v) && !venue_open.contains(*v))
            .map(|(v, (_, _, symbol))| (v.clone(), symbol.clone()))
            .collect();
        for (v, symbol) in ask {
            self.earlier_asked.insert(v.clone());
            notes.push(format!(
                "order {v} was open at the restart, not now: asking Bybit for its end"
            ));
            self.unresolved += 1;
            let now_ms = self.s.rest.server_now_ms();
            self.resolve(v, symbol, Some(now_ms), "open at the restart".into());
        }
        // Fills seen by the stream while the lists were read and not in them: the wallet
        // may or may not hold them.
        let listed: BTreeSet<&str> = snap.execs.iter().map(|x| x.exec_id.as_str()).collect();
        let unlisted = self
            .during_fetch
            .iter()
            .any(|x| !listed.contains(x.as_str()));
        let missed = self.apply_execs(&snap.execs);
        // Every fill made before the fetch began is now applied: the next reconciliation
        // asks from there (less the list's lag), not again from the restart.
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
        // This run's orders the engine has open that Bybit does not: ask for each.
        for v in self.s.tracker.open_orders() {
            if !venue_open.contains(&v) && !self.in_flight.contains(&v) {
                let symbol = self.symbol_of.get(&v).cloned().unwrap_or_else(|| {
                    self.s
                        .instruments
                        .first()
                        .map(|i| i.symbol.clone())
                        .unwrap_or_default()
                });
                notes.push(format!(
                    "order {v} is not open at Bybit: asking for its end"
                ));
                self.unresolved += 1;
                self.resolve(v, symbol, None, "reconciliation".into());
            }
        }
        if !snap.assets.is_empty() {
            self.balances.set_assets(snap.assets.clone());
        }
        let mut balances_unread = None;
        let mut balance_lines = None;
        if let (Some(wallet), false, Some(path)) = (&snap.wallet, unlisted, &self.s.start_file) {
            // Read with no fill moving it: the account as pit first found it (the file,
            // once written, is never replaced).
            crate::venue::live::reconcile::record_start_balances(
                path,
                "UNIFIED",
                wallet.iter().map(|(c, b)| (c.clone(), *b)),
            );
        }
        match (&snap.wallet, unlisted) {
            // Derivatives: the settle coin moves by realised PnL and funding too, which
            // the fills do not tell; the positions are compared instead (below).
            _ if self.s.category.has_positions() => {
                balances_unread = Some("derivatives: positions compared instead")
            }
            (Some(wallet), false) if self.balances.knows_assets() => {
                // Every fill recorded so far is held by the wallet: those learned before
                // the fetch, and those during it, all listed before the wallet was read
                // (else `unlisted`).
                let marks: BTreeMap<String, u64> = self
                    .symbols()
                    .into_iter()
                    .map(|s| (s, self.next_seq))
                    .collect();
                let lines = self.balances.compare(wallet, &marks);
                for b in lines.iter().filter(|b| !b.agrees()) {
                    notes.push(format!(
                        "{}; new orders refused until the balances agree",
                        balance_note(b)
                    ));
                }
                balance_lines = Some(lines);
            }
            (Some(_), false) => balances_unread = Some("the symbols' coins are not known"),
            _ => balances_unread = Some("fills came in while the wallet was read"),
        }
        if let Some(venue) = &snap.positions {
            // Derivatives: the venue's positions, compared with pit's once the stream
            // is quiet (see `compare_positions`); pit never trades to fix a difference.
            for (sym, (q, seq)) in venue {
                tracing::info!(symbol = %sym, position = %q, ?seq, "bybit: venue position");
            }
            // Read while no fill moved: pit has heard every fill up to each position's
            // `seq` (those the lists hold are applied above; older ones are in the store).
            for (sym, (_, seq)) in venue {
                if let Some(s) = seq.filter(|s| *s >= 0) {
                    let h = self.heard_seq.entry(sym.clone()).or_insert(s);
                    *h = (*h).max(s);
                }
            }
            self.pos_fresh = true;
            self.heard_positions(venue.clone());
        }
        let summary = if notes.is_empty() {
            format!(
                "{}: Bybit and the store agree ({} open order(s) of pit, {} external; {})",
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
        self.alert(level, format!("bybit reconciliation ({summary})"));
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

/// Ask for one order and send what Bybit said (after a cancel: its end). `cancel_unsure`:
/// the cancel's outcome is unknown; if the question fails too the cancel is said refused
/// (the engine sends it again) rather than left pending for ever.
#[allow(clippy::too_many_arguments)]
async fn query_order(
    rest: &Rest,
    category: Category,
    venue_id: String,
    symbol: String,
    why: &str,
    cancel_unsure: bool,
    tx: &UnboundedSender<Internal>,
) {
    let r = rest
        .idempotent(PATIENCE, || rest.find_order(category, &symbol, &venue_id))
        .await;
    let (order, execs) = match r {
        Ok(Some(o)) => {
            let execs = order_execs(rest, category, &symbol, &o)
                .await
                .unwrap_or_default();
            (Some(o), execs)
        }
        Ok(None) => (None, Vec::new()),
        Err(e) => {
            tracing::warn!(%venue_id, error = %e, "bybit: cannot ask for the order after a cancel; the stream will tell");
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
        execs,
        why: why.to_string(),
        counted: false,
        cancel_unsure,
    });
}

/// The executions of an order that has some (none needed otherwise); `None`: not read.
async fn order_execs(
    rest: &Rest,
    category: Category,
    symbol: &str,
    o: &Order,
) -> Option<Vec<Execution>> {
    if o.cum_exec_qty.unwrap_or_default() <= Decimal::ZERO {
        return Some(Vec::new());
    }
    // Its own fills only (by `orderLinkId`), from its creation on: a GTC order that
    // rested for weeks has fills older than Bybit's default 7 days.
    let since = o.created_time.map(|t| t.saturating_sub(1000));
    match rest
        .executions_of(category, symbol, &o.order_link_id, since, PATIENCE)
        .await
    {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(link_id = %o.order_link_id, error = %e, "bybit: an order's fills not read");
            None
        }
    }
}

/// Open orders and fills since `since`, the wallet, the fills again (they must not have
/// moved for the wallet to be compared), positions for derivatives.
async fn fetch_snapshot(
    rest: &Rest,
    category: Category,
    symbols: &[String],
    since: BTreeMap<String, u64>,
    need_assets: bool,
    reason: String,
) -> Result<Snapshot, String> {
    let begun_ms = rest.server_now_ms();
    let mut assets = BTreeMap::new();
    if need_assets && category == Category::Spot {
        for s in symbols {
            let i = rest
                .instrument(category, s)
                .await
                .map_err(|e| format!("instrument {s}: {e}"))?;
            if !i.base_coin.is_empty() && !i.quote_coin.is_empty() {
                assets.insert(s.clone(), (i.base_coin, i.quote_coin));
            }
        }
    }
    let mut open = Vec::new();
    let mut execs = Vec::new();
    for s in symbols {
        open.extend(
            rest.open_orders(category, s, PATIENCE)
                .await
                .map_err(|e| format!("open orders of {s}: {e}"))?,
        );
        execs.extend(
            rest.executions(category, s, since.get(s).copied(), PATIENCE)
                .await
                .map_err(|e| format!("fills of {s}: {e}"))?,
        );
    }
    let wallet = rest
        .wallet(PATIENCE)
        .await
        .map_err(|e| format!("wallet: {e}"))?;
    // Only fills the first lists could have missed: from the fetch's start.
    let mut after = Vec::new();
    for s in symbols {
        after.extend(
            rest.executions(
                category,
                s,
                Some(begun_ms.saturating_sub(LIST_LAG_MS)),
                PATIENCE,
            )
            .await
            .map_err(|e| format!("fills of {s}: {e}"))?,
        );
    }
    let before: BTreeSet<&str> = execs.iter().map(|x| x.exec_id.as_str()).collect();
    let moved = after.iter().any(|x| !before.contains(x.exec_id.as_str()));
    let wallet = (!moved).then(|| {
        wallet
            .iter()
            .flat_map(|a| a.coin.iter())
            .map(|c| (c.coin.clone(), c.wallet_balance.unwrap_or_default()))
            .collect()
    });
    // Derivatives: the positions are read every time (their position mode is checked
    // at every reconciliation), but compared only when no fill came in while the lists
    // were read (else they may hold a fill pit has not applied: the stream and the next
    // reconciliation tell).
    let mut list = Vec::new();
    if category.has_positions() {
        for s in symbols {
            list.extend(
                rest.positions(category, s, PATIENCE)
                    .await
                    .map_err(|e| format!("positions of {s}: {e}"))?,
            );
        }
    }
    let hedge = super::updates::hedge_symbols(&list);
    let positions =
        (category.has_positions() && !moved).then(|| super::updates::venue_position_seqs(&list));
    Ok(Snapshot {
        open,
        execs,
        wallet,
        assets,
        positions,
        hedge,
        reason,
        begun_ms,
    })
}

/// The "Place Order" body of an engine order: `Limit` with `GTC`, `IOC` or `PostOnly`
/// (the venue's native post-only), `Market` without a price; spot market orders by base
/// coin (`marketUnit`), so `qty` means the same everywhere; one-way mode on linear.
/// A reduce-only order says so natively on linear (`reduceOnly: true`, "true means your
/// position can only reduce in size if this order is triggered", "Valid for `linear`,
/// `inverse` & `option`": <https://bybit-exchange.github.io/docs/v5/order/create-order>);
/// spot has no such flag and is sent none (a spot sell cannot go beyond the wallet).
#[allow(clippy::too_many_arguments)]
pub fn create_order(
    category: Category,
    symbol: &str,
    venue_id: &str,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: Option<Decimal>,
    qty: Decimal,
    reduce_only: bool,
) -> CreateOrder {
    let (order_type, time_in_force) = match (kind, tif) {
        (OrderKind::Market, _) => (wire::OrderType::Market, None),
        (OrderKind::Limit, TimeInForce::PostOnly) => {
            (wire::OrderType::Limit, Some(wire::TimeInForce::PostOnly))
        }
        (OrderKind::Limit, TimeInForce::Ioc) => {
            (wire::OrderType::Limit, Some(wire::TimeInForce::Ioc))
        }
        (OrderKind::Limit, _) => (wire::OrderType::Limit, Some(wire::TimeInForce::Gtc)),
    };
    let market = kind == OrderKind::Market;
    CreateOrder {
        category,
        symbol: symbol.to_string(),
        side: match side {
            Side::Buy => wire::Side::Buy,
            Side::Sell => wire::Side::Sell,
        },
        order_type,
        qty: qty.normalize(),
        price: if market {
            None
        } else {
            price.map(|p| p.normalize())
        },
        time_in_force,
        order_link_id: venue_id.to_string(),
        reduce_only: (reduce_only && category.has_positions()).then_some(true),
        market_unit: (market && category == Category::Spot).then(|| "baseCoin".to_string()),
        position_idx: category.has_positions().then_some(0),
    }
}

fn wall() -> Timestamp {
    crate::engine::clock::Clock::now(&crate::engine::clock::WallClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_position_is_compared_by_seq_only_when_it_holds_exactly_the_fills_heard() {
        assert!(seq_matches(Some(42), Some(42)));
        // pit has heard a fill the message does not hold yet, or the message holds one
        // pit has not heard yet: not now.
        assert!(!seq_matches(Some(41), Some(42)));
        assert!(!seq_matches(Some(43), Some(42)));
        // Never traded, nothing heard: flat on both sides.
        assert!(seq_matches(Some(-1), None));
        // Traded before this run, nothing heard since: the seq cannot tell.
        assert!(!seq_matches(Some(7), None));
        assert!(!seq_matches(None, Some(7)));
        assert!(!seq_matches(None, None));
    }

    #[test]
    fn engine_orders_become_bybit_orders_as_documented() {
        let o = create_order(
            Category::Spot,
            "BTCUSDT",
            "p3-S1-7",
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::PostOnly,
            Some(dec!(60000.10)),
            dec!(0.00100),
            false,
        );
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"60000.1","timeInForce":"PostOnly","orderLinkId":"p3-S1-7"}"#
        );
        let m = create_order(
            Category::Spot,
            "BTCUSDT",
            "p3-X-1",
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
            true,
        );
        let j = serde_json::to_string(&m).unwrap();
        // Spot has no reduce-only flag: a flatten's sell goes without one.
        assert!(!j.contains("reduceOnly"), "{j}");
        assert!(
            j.contains(r#""orderType":"Market""#)
                && !j.contains("price")
                && !j.contains("timeInForce")
                && j.contains(r#""marketUnit":"baseCoin""#),
            "{j}"
        );
        let l = create_order(
            Category::Linear,
            "BTCUSDT",
            "p3-S2-1",
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
            false,
        );
        let j = serde_json::to_string(&l).unwrap();
        assert!(
            j.contains(r#""timeInForce":"IOC""#)
                && j.contains(r#""positionIdx":0"#)
                && !j.contains("marketUnit")
                && !j.contains("reduceOnly"),
            "{j}"
        );
        // Linear reduce-only: Bybit's native flag, as the "close long position (one-way
        // mode)" example of Place Order sends it.
        let r = create_order(
            Category::Linear,
            "BTCUSDT",
            "p3-K-1",
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            None,
            dec!(0.002),
            true,
        );
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains(r#""reduceOnly":true"#), "{j}");
    }
}
