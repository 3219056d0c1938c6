//! The OKX v5 connection task (spot, trade mode `cash`): on a thread of its own (a tokio
//! runtime), it carries out the engine's requests on the REST API ([`super::rest`]),
//! keeps the private stream and the dead-man switch ([`super::private`]), resolves
//! unknown outcomes, reconciles, and hands the engine its execution reports through the
//! venue-generic [`Tracker`] (each fact once, acks first). Modelled on Bybit's task; the
//! differences are OKX's:
//!
//! * "Place order" answers with `sCode` "0" when OKX has taken the order ("Place order":
//!   "sCode: The code of the event execution result, 0 means success"); its states and
//!   fills come on the `orders` channel, each push carrying the order's state and, for a
//!   fill, `fillSz`/`fillPx`/`tradeId`/`fillFee`; after a cancel the order is asked for by
//!   its `clOrdId` ("Get order details") so its end is known even with the stream down;
//! * an order leaves only once the store has its record (the barrier); a lost or
//!   ambiguous answer is resolved by asking "Get order details" for the `clOrdId`, never
//!   by sending again. An order OKX does not have (51603) stays of unknown outcome: pit
//!   keeps asking, new orders stay refused (the port's `unresolved` gate; cancels pass) and
//!   an alert names it, until OKX has it or the operator restarts pit (which asks again
//!   and settles an order OKX does not have as not placed, saying so);
//! * fills since the last stored one come from "Get transaction details (last 3 days)"
//!   (`begin`, paged back by `billId`); older fills are not listed there (see
//!   [`Rest::fills`]);
//! * the kill switch's cancel-all: OKX has no cancel-all for SPOT ("Mass cancel order" is
//!   for options only), so every pending order of the symbol ("Get order List") is
//!   cancelled one by one ("Cancel order"), besides the port's own per-order cancels;
//! * the balances ("Get balance", `cashBal`) are compared with the balances at the run's
//!   start plus every fill since, only when no fill came in while they were read;
//! * SWAP (`[live.okx] inst_type = "SWAP"`, linear perpetuals in net mode): the contracts
//!   ("Get instruments" `ctVal`, `lotSz`, `minSz`) are read before the private stream
//!   starts; pit's quantities (coins) go out as contracts (a quantity that is not a whole
//!   number of lots is refused unsent) in trade mode `cross`, a reduce-only order with
//!   OKX's own `reduceOnly: true`; every size OKX gives (orders, fills) is turned back
//!   into coins where it comes in; fees are booked in the settlement coin (USDT). The
//!   positions are the venue's: "Get positions" at every reconciliation (read while no
//!   fill came in) and the `positions` channel are compared with pit's own (the store's at
//!   the start plus this run's fills); a difference raises a critical alert, shows in the
//!   status and holds new orders (cancels pass) until a reconciliation finds them
//!   agreeing. pit never trades to "fix" it: the operator decides. The balances are not
//!   compared on SWAP (a position's margin and PnL move them).

use super::private::{self, StreamMsg, StreamStatus};
use super::rest::{Cancelled, Placed, Rest, RestError};
use super::updates::{fill_update, order_update};
use super::wire::{Contract, Fill, Order, OrderState, PlaceOrder, Position, to_cl_ord_id};
use crate::domain::{Instrument, OrderKind, Side, TimeInForce, Timestamp};
use crate::engine::AlertLevel;
use crate::venue::exchanges::binance::trade::task::{Hooks, Settle};
use crate::venue::exchanges::okx::api::sign::Signer;
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

/// How long an order OKX closed waits for its fills before they are read by its `ordId`.
const HOLD_BOUND: Duration = Duration::from_secs(1);

/// How long after a fill "Get transaction details" may still not list it: fills are asked
/// for again this far back (ms). The docs give no bound; the stream is the fills' first
/// source, the list a check.
pub const LIST_LAG_MS: u64 = 10 * 60_000;

/// Reconciliations read again at most this many times in a row when fills moved while
/// they read the positions (each holds new orders).
const POSITIONS_REREADS: u32 = 4;

/// "Get transaction details (last 3 days)": how far back it lists (ms).
pub const FILLS_WINDOW_MS: u64 = 3 * 86_400_000;

/// What the task is made of.
pub struct TaskSetup {
    pub rest: Arc<Rest>,
    /// The engine loop's heartbeat, for the dead-man refresher.
    pub engine: crate::venue::live::pulse::EngineWatch,
    pub ws_private_url: String,
    pub ws_signer: Arc<Signer>,
    pub dead_man_secs: u32,
    pub instruments: Vec<Instrument>,
    pub tracker: Tracker,
    pub reports: std::sync::mpsc::Sender<crate::domain::ExecReport>,
    pub health: SharedHealth,
    pub hooks: Arc<std::sync::OnceLock<Arc<dyn Hooks>>>,
    pub durable: Option<Arc<AtomicU64>>,
    /// Per symbol, fills are asked for from this time (ms; a symbol not here: OKX's 3
    /// days); moved on after each reconciliation.
    pub since_ms: BTreeMap<String, u64>,
    /// Orders earlier live runs left open (run, engine id, symbol).
    pub at_venue: Vec<(u64, String, String)>,
    pub settle: Option<Settle>,
    /// SWAP: pit's position per symbol (coins, signed) at the start, from the store.
    pub start_positions: BTreeMap<String, Decimal>,
    /// SWAP: coins per contract as configured (the market data reads the public sizes
    /// with it), by symbol: a contract OKX lists otherwise is not traded.
    pub contract_values: BTreeMap<String, Decimal>,
}

enum Internal {
    /// SWAP: every symbol's contract, read.
    Contracts(BTreeMap<String, Contract>),
    /// SWAP: a contract could not be read (said once; asked again).
    ContractsUnknown(String),
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
    /// One cancel of the kill's cancel-all failed.
    CancelAllFailed {
        symbol: String,
        order: String,
        error: String,
    },
    /// A cancel's outcome is unknown and the order could not be asked for.
    CancelUnsure {
        venue_id: String,
        reason: String,
    },
    CancelAllListed {
        symbol: String,
        result: Result<Vec<Order>, RestError>,
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

/// An order OKX says is closed whose fills pit has not all had yet.
struct Held {
    acc_fill_sz: Decimal,
    symbol: String,
    ord_id: String,
    asked: u32,
}

struct Snapshot {
    open: Vec<Order>,
    fills: Vec<Fill>,
    balances: Option<BTreeMap<String, Decimal>>,
    /// SWAP: "Get positions" (contracts), when no fill came in while it was read.
    positions: Option<BTreeMap<String, Decimal>>,
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
    /// Each fill's local number by (instId, tradeId), in the order pit learned them.
    fill_seq: BTreeMap<(String, String), u64>,
    next_seq: u64,
    balances: RunBalances,
    symbol_of: BTreeMap<String, String>,
    held: BTreeMap<String, Held>,
    /// SWAP: each symbol's contract (read before the stream starts).
    contracts: BTreeMap<String, Contract>,
    /// The private stream, started once the contracts are known (SWAP: its sizes are
    /// contracts); `None` once started.
    stream_setup: Option<private::PrivateSetup>,
    /// SWAP: answers about orders (their sizes in contracts) that came before the
    /// contracts were known: handled once they are.
    before_contracts: Vec<Internal>,
    /// Reconciliations in a row whose positions were not read (fills moved meanwhile).
    positions_unread: u32,
    /// SWAP: pit's own position per symbol (coins): the store's at the start plus every
    /// fill of this run handed to the engine.
    own_pos: BTreeMap<String, Decimal>,
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
        contracts: BTreeMap::new(),
        own_pos: BTreeMap::new(),
        stream_setup: None,
        before_contracts: Vec::new(),
        positions_unread: 0,
    };
    c.own_pos = std::mem::take(&mut c.s.start_positions);
    for (run, id, symbol) in std::mem::take(&mut c.s.at_venue) {
        let v =
            c.s.tracker
                .ids()
                .of_run(run, &crate::domain::ClientOrderId::new(id.as_str()));
        c.symbol_of.insert(v.clone(), symbol.clone());
        c.earlier.insert(v, (run, id, symbol));
    }
    match c.s.rest.sync_time().await {
        Ok(o) => tracing::info!(offset_ms = o, "okx: system time measured"),
        Err(e) => c.alert(
            AlertLevel::Warn,
            format!("okx: system time not measured ({e}); using the local clock"),
        ),
    }
    let (stx, mut srx) = unbounded_channel();
    // The dead-man switch on a timer of its own, armed at once.
    tokio::spawn(private::keep_dead_man(
        c.s.rest.clone(),
        c.s.dead_man_secs,
        c.s.engine.check(),
        stream.clone(),
        stx.clone(),
    ));
    let fwd = itx.clone();
    tokio::spawn(async move {
        while let Some(m) = srx.recv().await {
            if fwd.send(Internal::Stream(m)).is_err() {
                return;
            }
        }
    });
    c.stream_setup = Some(private::PrivateSetup {
        url: c.s.ws_private_url.clone(),
        signer: c.s.ws_signer.clone(),
        rest: c.s.rest.clone(),
        out: stx,
        status: stream,
    });
    if c.s.rest.swap() {
        // The contracts before anything OKX says in contracts is read: the stream and the
        // reconciliation wait for them, new orders are refused meanwhile (shown as the
        // reconciliation's hold), and the requests are served all along: the kill's
        // cancels go out even while OKX does not answer "Get instruments" or the account
        // is not set up for pit's swaps.
        c.set_reconciling(Some(
            "reading OKX's swap contracts and the account's position mode".into(),
        ));
        // Orders earlier runs left open are cancelled now, as the start's reconciliation
        // would: they must not keep working while the contracts are not known (a cancel
        // names the order by `clOrdId`, no size). What OKX answers about them waits for
        // the contracts, and the store settles them by it then.
        let earlier: Vec<(String, String)> = c
            .earlier
            .iter()
            .map(|(v, (_, _, symbol))| (v.clone(), symbol.clone()))
            .collect();
        if !earlier.is_empty() {
            tracing::info!(
                n = earlier.len(),
                "okx: cancelling the orders earlier runs left open before the contracts are read"
            );
        }
        for (venue_id, symbol) in earlier {
            c.on_request(ToVenue::Cancel { venue_id, symbol });
        }
        tokio::spawn(read_contracts(
            c.s.rest.clone(),
            c.symbols(),
            c.s.contract_values.clone(),
            itx.clone(),
        ));
    } else {
        c.start_stream();
    }
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

/// SWAP: the account's modes ("Get account configuration": the net position mode, not the
/// Spot mode) and every symbol's contract from "Get instruments", asked until OKX answers
/// and they fit, then handed to the task ([`Internal::Contracts`]); each new reason they
/// do not is told once ([`Internal::ContractsUnknown`]), then asked again (an operator
/// who sets the position mode at OKX need not restart pit).
async fn read_contracts(
    rest: Arc<Rest>,
    symbols: Vec<String>,
    configured: BTreeMap<String, Decimal>,
    tx: UnboundedSender<Internal>,
) {
    let mut wait = Duration::from_millis(500);
    let mut said: Option<String> = None;
    let mut contracts = BTreeMap::new();
    loop {
        let mut failed = match rest.account_config(Duration::from_secs(10)).await {
            Ok(c) => c.swap_refusal(),
            Err(e) => Some(format!("the account configuration: {e}")),
        };
        let missing: Vec<&String> = symbols
            .iter()
            .filter(|s| !contracts.contains_key(*s))
            .collect();
        for sym in missing {
            match rest.instrument(sym).await.map_err(|e| e.to_string()) {
                Ok(i) => match i.contract() {
                    Ok(Some(ct)) if configured.get(sym).is_some_and(|c| *c != ct.ct_val) => {
                        failed = Some(format!(
                            "{sym}: OKX lists ctVal {} but [[instruments]] contract_value is {}: the book's sizes would be read wrong; correct contract_value and restart",
                            ct.ct_val.normalize(),
                            configured[sym].normalize()
                        ));
                    }
                    Ok(Some(ct)) => {
                        tracing::info!(symbol = %sym, ct_val = %ct.ct_val, lot = %ct.lot_sz, min = %ct.min_sz, "okx: swap contract");
                        contracts.insert(sym.clone(), ct);
                    }
                    Ok(None) => failed = Some(format!("{sym} is not a SWAP")),
                    Err(e) => failed = Some(e),
                },
                Err(e) => failed = Some(format!("instrument {sym}: {e}")),
            }
        }
        let Some(why) = failed else {
            let _ = tx.send(Internal::Contracts(contracts));
            return;
        };
        if said.as_ref() != Some(&why) {
            said = Some(why.clone());
            if tx.send(Internal::ContractsUnknown(why)).is_err() {
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

impl Conn {
    /// The private stream and the first reconciliation (SWAP: once the contracts are
    /// known).
    fn start_stream(&mut self) {
        if let Some(p) = self.stream_setup.take() {
            tokio::spawn(private::run(p));
            self.start_reconcile("start".into());
        }
    }

    /// SWAP: the contracts read; the balances' assets follow from them.
    fn on_contracts(&mut self, contracts: BTreeMap<String, Contract>) {
        if let Ok(mut h) = self.s.health.lock() {
            h.holds.clear();
        }
        let assets: BTreeMap<String, (String, String)> = contracts
            .iter()
            .filter(|(_, c)| !c.coin.is_empty() && !c.settle.is_empty())
            .map(|(s, c)| (s.clone(), (c.coin.clone(), c.settle.clone())))
            .collect();
        self.balances.set_assets(assets);
        self.contracts = contracts;
        // The stream's setup taken first: the answers that waited are handled now, not
        // put back to wait (the wait lasts while the setup is there).
        let setup = self.stream_setup.take();
        for i in std::mem::take(&mut self.before_contracts) {
            self.on_internal(i);
        }
        self.stream_setup = setup;
        self.start_stream();
    }

    /// An order as OKX gave it, its sizes in coins (SWAP: contracts × `ctVal`).
    fn order_in_coins(&self, o: Order) -> Order {
        match self.contracts.get(&o.inst_id) {
            Some(c) => c.order_in_coins(o),
            None => o,
        }
    }

    /// A fill as OKX gave it, its size in coins.
    fn fill_in_coins(&self, f: Fill) -> Fill {
        match self.contracts.get(&f.inst_id) {
            Some(c) => c.fill_in_coins(f),
            None => f,
        }
    }

    /// SWAP: the venue's positions (contracts) of pit's symbols, in coins.
    fn venue_positions(&self, list: &BTreeMap<String, Decimal>) -> BTreeMap<String, Decimal> {
        self.contracts
            .iter()
            .map(|(sym, c)| {
                (
                    sym.clone(),
                    c.coins(list.get(sym).copied().unwrap_or_default()),
                )
            })
            .collect()
    }

    /// SWAP: pit's positions against the venue's (coins), as status lines (a line that
    /// differs holds new orders, see the port) and the differences.
    fn compare_positions(
        &self,
        venue: &BTreeMap<String, Decimal>,
    ) -> (
        Vec<crate::engine::view::BalanceLine>,
        Vec<crate::venue::live::reconcile::Finding>,
    ) {
        let ours: BTreeMap<String, Decimal> = self
            .contracts
            .keys()
            .map(|s| (s.clone(), self.own_pos.get(s).copied().unwrap_or_default()))
            .collect();
        let lines = self
            .contracts
            .keys()
            .map(|s| {
                let o = ours.get(s).copied().unwrap_or_default();
                crate::engine::view::BalanceLine {
                    asset: format!("{s} position"),
                    start: Decimal::ZERO,
                    traded: o,
                    expected: o,
                    venue: venue.get(s).copied().unwrap_or_default(),
                }
            })
            .collect();
        (
            lines,
            crate::venue::live::reconcile::compare_positions(&ours, venue),
        )
    }

    /// `positions` pushes: one that differs from pit's position asks for a
    /// reconciliation, which reads the fills and the positions together and decides.
    fn on_positions(&mut self, list: Vec<Position>) {
        let pushed: BTreeMap<String, Decimal> = list
            .into_iter()
            .filter(|p| self.contracts.contains_key(&p.inst_id))
            .map(|p| (p.inst_id, p.pos.unwrap_or_default()))
            .collect();
        let venue: BTreeMap<String, Decimal> = self
            .venue_positions(&pushed)
            .into_iter()
            .filter(|(s, _)| pushed.contains_key(s))
            .collect();
        let differs = venue
            .iter()
            .any(|(s, q)| self.own_pos.get(s).copied().unwrap_or_default() != *q);
        // A difference shown now that the push no longer bears out: a reconciliation
        // finds them agreeing (new orders are held until one does).
        let shown = self
            .s
            .health
            .lock()
            .map(|h| h.balances.iter().any(|b| !b.agrees()))
            .unwrap_or(false);
        if shown && !differs {
            self.start_reconcile("the positions channel agrees with pit's position again".into());
        } else if differs {
            tracing::warn!(?venue, ours = ?self.own_pos, "okx: the positions channel differs from pit's position; reconciling");
            self.start_reconcile("the positions channel differs from pit's position".into());
        }
    }

    fn twin_store(&mut self, venue_id: &str) {
        let text = format!(
            "okx: open order {venue_id} carries this data folder's ids but this run never sent it: another pit shares this store's id prefix (a copied or restored data folder?); trading halted, the order left alone: stop the other pit, or start this one from a fresh data folder"
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
                let contract = if self.s.rest.swap() {
                    match self.contracts.get(&symbol) {
                        Some(c) => Ok(Some(c)),
                        None => Err(format!("{symbol}: its swap contract is not known yet")),
                    }
                } else {
                    Ok(None)
                };
                let o = contract.and_then(|c| {
                    place_order(
                        &symbol,
                        &venue_id,
                        side,
                        kind,
                        tif,
                        price,
                        qty,
                        c,
                        reduce_only,
                    )
                });
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
                                Ok(()) => rest.place_resolving(&o, PATIENCE).await,
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
                tracing::info!(%venue_id, "okx: cancel held until the order's create is answered");
                crate::venue::live::gate::withdraw(&self.withdrawn, &venue_id);
                self.cancel_after_create.insert(venue_id, symbol);
            }
            ToVenue::Cancel { venue_id, symbol } => {
                let Some(cl) = to_cl_ord_id(&venue_id) else {
                    // Not an id pit could have sent to OKX: nothing there to cancel.
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: wall(),
                        reason: "not an OKX clOrdId".into(),
                    });
                    return;
                };
                let rest = self.s.rest.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    match rest.cancel(&symbol, &cl, PATIENCE).await {
                        // Either way the order's end is asked for.
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
                    let result = rest.pending(&symbol, PATIENCE).await;
                    let _ = tx.send(Internal::CancelAllListed { symbol, result });
                });
            }
            ToVenue::Reconcile { reason } if self.s.rest.swap() && self.stream_setup.is_some() => {
                // A hold stands (the account or the contracts do not fit): answered with
                // it, not compared (`pit reconcile` says why, exit 1). Else the contracts
                // are being read and the start's reconciliation answers once they are.
                let mut answered = false;
                if let Ok(mut h) = self.s.health.lock()
                    && let Some(hold) = h.holds.first().cloned()
                {
                    h.last_reconcile = Some(format!("{reason}: not reconciled: {hold}"));
                    h.last_reconcile_agrees = false;
                    h.reconciles += 1;
                    answered = true;
                }
                if !answered {
                    tracing::info!(%reason, "okx: a reconciliation asked before the swap contracts are known: the start's runs once they are");
                }
            }
            ToVenue::Reconcile { reason } => self.start_reconcile(reason),
        }
    }

    fn on_internal(&mut self, i: Internal) {
        let now = wall();
        // SWAP: an order's or its fills' sizes are contracts until the contracts are
        // known; such answers wait (a kill's cancels still went out).
        if self.s.rest.swap()
            && self.stream_setup.is_some()
            && matches!(i, Internal::Resolved { .. } | Internal::HeldFills { .. })
        {
            self.before_contracts.push(i);
            return;
        }
        match i {
            Internal::Contracts(c) => self.on_contracts(c),
            Internal::ContractsUnknown(why) => {
                // A hold while it stands (HELD in the status bar, `exec.holds`), lifted
                // when OKX's answers fit ([`Conn::on_contracts`]).
                self.set_reconciling(None);
                if let Ok(mut h) = self.s.health.lock() {
                    h.holds = vec![format!("okx: not trading the swaps: {why}")];
                }
                self.alert(
                    AlertLevel::Critical,
                    format!("okx: not trading the swaps ({why}): nothing is traded until this is resolved; asking OKX again"),
                )
            }
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
                            format!("okx: order {venue_id}: the answer was lost; OKX has it ({:?}), not sent again", order.state),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, "answer lost, order found".into());
                    }
                    Placed::NotFound { cause } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("okx: order {venue_id}: {cause}; OKX has no such order yet: its outcome stays unknown and new orders refused while pit keeps asking (never re-sent)"),
                        );
                        self.unresolved += 1;
                        self.resolve(venue_id, symbol, "unknown outcome".into());
                    }
                    Placed::Unresolved { cause, query } => {
                        self.alert(
                            AlertLevel::Warn,
                            format!("okx: order {venue_id}: {cause}; asking failed too ({query}); asking until OKX answers (never re-sent)"),
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
            } => {
                let order = order.map(|o| self.order_in_coins(*o));
                let fills = fills.into_iter().map(|f| self.fill_in_coins(f)).collect();
                self.on_resolved(venue_id, order, fills, why, counted, cancel_unsure)
            }
            Internal::CancelFailed { venue_id, error } => {
                tracing::warn!(%venue_id, error = %error, "okx: cancel refused");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason: error.to_string(),
                })
            }
            Internal::CancelUnsure { venue_id, reason } => {
                tracing::warn!(%venue_id, %reason, "okx: cancel unconfirmed");
                self.emit(VenueUpdate::CancelRejected {
                    venue_id,
                    ts: now,
                    reason,
                })
            }
            Internal::CancelAllFailed {
                symbol,
                order,
                error,
            } => self.alert(
                AlertLevel::Critical,
                format!("okx: cancel-all on {symbol}: the cancel of {order} failed: {error}; it may still be open at OKX"),
            ),
            Internal::CancelAllListed { symbol, result } => match result {
                Ok(list) => {
                    tracing::info!(%symbol, pending = list.len(), "okx: cancel-all: cancelling each pending order");
                    for o in list {
                        let v = o.venue_id();
                        if o.cl_ord_id.is_empty() {
                            // Not pit's (no clOrdId): cancelled by its ordId all the
                            // same, as Bybit's cancel-all takes every order of the symbol.
                            let rest = self.s.rest.clone();
                            let tx = self.internal.clone();
                            let symbol = symbol.clone();
                            tokio::spawn(async move {
                                if let Err(e) =
                                    rest.cancel_by_ord_id(&symbol, &o.ord_id, PATIENCE).await
                                {
                                    let _ = tx.send(Internal::CancelAllFailed {
                                        symbol,
                                        order: format!("ordId {}", o.ord_id),
                                        error: e.to_string(),
                                    });
                                }
                            });
                            continue;
                        }
                        if self.in_flight.contains(&v) {
                            // Its create is unanswered: the cancel follows the answer.
                            self.on_request(ToVenue::Cancel {
                                venue_id: v,
                                symbol: symbol.clone(),
                            });
                            continue;
                        }
                        let rest = self.s.rest.clone();
                        let tx = self.internal.clone();
                        let symbol = symbol.clone();
                        tokio::spawn(async move {
                            match rest.cancel(&symbol, &o.cl_ord_id, PATIENCE).await {
                                Ok(_) => {
                                    query_order(&rest, v, symbol, "cancelled by a cancel-all", false, &tx)
                                        .await
                                }
                                Err(e) => {
                                    let _ = tx.send(Internal::CancelAllFailed {
                                        symbol,
                                        order: v,
                                        error: e.to_string(),
                                    });
                                }
                            }
                        });
                    }
                }
                Err(e) => self.alert(
                    AlertLevel::Critical,
                    format!(
                        "okx: cancel-all on {symbol}: the pending orders could not be listed: {e}; per-order cancels still go"
                    ),
                ),
            },
            Internal::Stream(StreamMsg::Orders(list)) => {
                let list = list.into_iter().map(|o| self.order_in_coins(o)).collect();
                self.on_orders(list)
            }
            Internal::Stream(StreamMsg::Positions(list)) => self.on_positions(list),
            Internal::Stream(StreamMsg::DeadManNotDisarmed(why)) => self.alert(
                AlertLevel::Critical,
                format!("okx: dead_man_secs = 0, but a Cancel All After countdown an earlier run may have left is not confirmed off ({why}): OKX may cancel every order of the account when it ends"),
            ),
            Internal::Stream(StreamMsg::DeadManNotArmed(why)) => self.alert(
                AlertLevel::Critical,
                format!("okx: the dead-man switch (Cancel All After) is not armed ({why}): OKX will not cancel pit's orders if pit hangs or loses the network"),
            ),
            Internal::Stream(StreamMsg::DeadManArmed { again }) => {
                if again {
                    self.alert(
                        AlertLevel::Info,
                        "okx: the dead-man switch (Cancel All After) is armed again".into(),
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
                    format!("okx: private stream lost ({why}); reconnecting, then reconciling"),
                );
            }
            Internal::HoldDue { venue_id } => self.on_hold_due(venue_id),
            Internal::Unlisted { venue_id, why } => self.alert(
                AlertLevel::Critical,
                format!(
                    "okx: order {venue_id} ({why}): OKX has no such order; it may still have been placed (its lists can lag): outcome unknown, new orders refused, pit keeps asking. A restart asks again and settles it as not placed if OKX still has none"
                ),
            ),
            Internal::HeldFills { venue_id, result } => self.on_held_fills(venue_id, result),
            Internal::Reconciled(r) => {
                match r {
                    Ok(snap) => {
                        // Swaps whose positions were not read (fills came in while the
                        // lists were read): read again shortly, new orders still held;
                        // else the comparison waits for the next position push.
                        let unread = self.s.rest.swap() && snap.positions.is_none();
                        self.positions_unread = if unread { self.positions_unread + 1 } else { 0 };
                        let reason = snap.reason.clone();
                        self.finish_reconcile(*snap);
                        if unread && self.positions_unread > POSITIONS_REREADS {
                            self.positions_unread = 0;
                            self.alert(
                                AlertLevel::Warn,
                                format!("okx: the positions were not read in {} reconciliations in a row (fills kept coming in while the lists were read); the positions channel compares them", POSITIONS_REREADS + 1),
                            );
                        } else if unread {
                            tracing::info!(
                                "okx: positions not read (fills came in while the lists were read); reading again in 2 s"
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
                            format!("okx: reconciliation failed ({e}); new orders stay refused, retrying in 5 s"),
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
                        // cancel of an order gone meanwhile is answered 51400/51401).
                        self.emit(VenueUpdate::CancelRejected {
                            venue_id: venue_id.clone(),
                            ts: now,
                            reason: format!("{why}; OKX still has the order open"),
                        });
                    }
                }
                tracing::info!(%venue_id, state = ?o.state, %why, "okx: order resolved by query");
            }
            None => {
                if let Some((run, id, _)) = self.earlier.remove(&venue_id) {
                    self.settle(
                        run,
                        id,
                        crate::domain::OrderStatus::Rejected,
                        Decimal::ZERO,
                        format!("not placed: after the restart OKX has no such order ({why})"),
                    );
                    return;
                }
                if !counted {
                    self.emit(VenueUpdate::CancelRejected {
                        venue_id,
                        ts: now,
                        reason: "OKX does not have the order".into(),
                    });
                    return;
                }
                if matches!(
                    self.s.tracker.ids().owner(&venue_id),
                    IdOwner::EarlierRun { .. }
                ) {
                    // An earlier run's order already settled (its start-up cancel's
                    // answer came first): nothing of this run's is unknown.
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
            let inst_type = if self.s.rest.swap() { "SWAP" } else { "SPOT" };
            if o.cl_ord_id.is_empty() || (!o.inst_type.is_empty() && o.inst_type != inst_type) {
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
            let k = (f.inst_id.clone(), f.trade_id.clone());
            if !self.fill_seq.contains_key(&k) {
                self.next_seq += 1;
                self.fill_seq.insert(k.clone(), self.next_seq);
                if self.reconciling {
                    self.during_fetch.insert(k);
                }
                // SWAP: a fill moves a position, not the coin's balance (not compared).
                if !self.s.rest.swap() {
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
            }
            let v = f.venue_id();
            if let IdOwner::External = self.s.tracker.ids().owner(&v) {
                continue;
            }
            if self.s.rest.swap() && !self.contracts.contains_key(&f.inst_id) {
                tracing::warn!(inst = %f.inst_id, "okx: a fill of a swap whose contract is not known: not booked");
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
            if let VenueUpdate::Trade {
                symbol, side, qty, ..
            } = &u
            {
                let signed = if *side == Side::Buy { *qty } else { -*qty };
                *self.own_pos.entry(symbol.clone()).or_default() += signed;
            }
            self.emit(u);
            self.release_held(&v);
        }
        applied
    }

    /// An order's state for this run, a close held until the fills reach `accFillSz`.
    fn on_order(&mut self, o: &Order, now: Timestamp) {
        let u = order_update(o, now);
        let closing = matches!(u, VenueUpdate::Closed { .. }) || o.state == OrderState::Filled;
        if !closing {
            self.emit(u);
            return;
        }
        let v = o.venue_id();
        let acc = o.acc_fill_sz.unwrap_or_default();
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
                tracing::info!(venue_id = %v, %acc, "okx: closed before its fills arrived; holding its close");
                self.held.insert(
                    v.clone(),
                    Held {
                        acc_fill_sz: acc,
                        symbol: o.inst_id.clone(),
                        ord_id: o.ord_id.clone(),
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
                    format!("okx: order {venue_id}: its last fill arrived; closed"),
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
        let (symbol, ord_id) = (h.symbol.clone(), h.ord_id.clone());
        let rest = self.s.rest.clone();
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let result = rest.fills(&symbol, Some(&ord_id), None, PATIENCE).await;
            let _ = tx.send(Internal::HeldFills { venue_id, result });
        });
    }

    fn on_held_fills(&mut self, venue_id: String, result: Result<Vec<Fill>, RestError>) {
        let result: Result<Vec<Fill>, RestError> =
            result.map(|l| l.into_iter().map(|f| self.fill_in_coins(f)).collect());
        match result {
            Ok(list) => {
                self.apply_fills(&list);
            }
            Err(e) => tracing::warn!(%venue_id, error = %e, "okx: a held order's fills not read"),
        }
        let Some(h) = self.held.get(&venue_id) else {
            return;
        };
        let have = self.s.tracker.filled(&venue_id);
        if h.asked == 1 {
            self.alert(
                AlertLevel::Warn,
                format!(
                    "okx: order {venue_id} closed at OKX with {} filled, pit has {have} of its fills: kept open until they arrive (asking OKX's fills)",
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
            OrderState::Canceled | OrderState::MmpCanceled => Ours::Cancelled,
            _ => return,
        };
        let Some((run, id, _)) = self.earlier.remove(venue_id) else {
            return;
        };
        let note = format!("{} at OKX after the restart ({why})", ours.as_str());
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
        tracing::info!(run, %id, status = status.as_str(), %filled, "okx: an earlier run's order settled");
        if let Some(settle) = self.s.settle.clone() {
            tokio::task::spawn_blocking(move || settle(run, &id, status, filled, &note));
        }
    }

    fn note_external(&mut self, venue_id: &str, symbol: &str) {
        if self.external_seen.insert(venue_id.to_string()) {
            self.alert(
                AlertLevel::Info,
                format!("okx: external order {venue_id} on {symbol} (not placed by pit): shown, never touched"),
            );
        }
    }

    /// Ask OKX for an order until it has it. This run's orders are never settled on
    /// absence: said unknown once after a while ([`Internal::Unlisted`]) and asked for
    /// again, less often. An earlier run's order OKX does not have is answered `None` and
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
                        tracing::warn!(%venue_id, error = %e, "okx: order query failed; asking again")
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

    fn finish_reconcile(&mut self, mut snap: Snapshot) {
        let now = wall();
        let mut notes = Vec::new();
        snap.open = std::mem::take(&mut snap.open)
            .into_iter()
            .map(|o| self.order_in_coins(o))
            .collect();
        snap.fills = std::mem::take(&mut snap.fills)
            .into_iter()
            .map(|f| self.fill_in_coins(f))
            .collect();
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
                        "order {v} of run {run} was still open at OKX: cancelling it"
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
                "order {v} was open at the restart, not now: asking OKX for its end"
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
                notes.push(format!("order {v} is not open at OKX: asking for its end"));
                self.unresolved += 1;
                self.resolve(v, symbol, "reconciliation".into());
            }
        }
        if !snap.assets.is_empty() {
            self.balances.set_assets(snap.assets.clone());
        }
        let mut balances_unread = None;
        let mut balance_lines = None;
        let swap = self.s.rest.swap();
        let mut position_lines = None;
        if swap {
            match (&snap.positions, unlisted) {
                (Some(listed), false) => {
                    let venue = self.venue_positions(listed);
                    let (lines, findings) = self.compare_positions(&venue);
                    for f in &findings {
                        let text = format!(
                            "okx: the {} position differs: {}; new orders refused until they agree",
                            f.symbol, f.text
                        );
                        self.alert(AlertLevel::Critical, text.clone());
                        notes.push(format!("{} position: {}", f.symbol, f.text));
                    }
                    position_lines = Some(lines);
                }
                (Some(_), true) | (None, _) => {
                    balances_unread = Some("fills came in while the positions were read")
                }
            }
        }
        match (&snap.balances, unlisted) {
            _ if swap => {}
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
                "{}: OKX and the store agree ({} open order(s) of pit, {} external; {})",
                snap.reason,
                snap.open.len() - self.external_seen.len().min(snap.open.len()),
                self.external_seen.len(),
                match (balances_unread, swap) {
                    (None, false) => "balances agree".to_string(),
                    (None, true) => "positions agree".to_string(),
                    (Some(why), false) => format!("balances not compared this time: {why}"),
                    (Some(why), true) => format!("positions not compared this time: {why}"),
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
        self.alert(level, format!("okx reconciliation ({summary})"));
        if let Ok(mut h) = self.s.health.lock() {
            h.last_reconcile = Some(summary);
            h.last_reconcile_agrees = notes.is_empty();
            h.reconciles += 1;
            if let Some(lines) = balance_lines.or(position_lines) {
                h.balances = lines;
            }
        }
    }
}

/// Ask for one order and send what OKX said (after a cancel: its end). `cancel_unsure`:
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
            tracing::warn!(%venue_id, error = %e, "okx: cannot ask for the order after a cancel; the stream will tell");
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
    match rest
        .fills(&o.inst_id, Some(&o.ord_id), None, PATIENCE)
        .await
    {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(ord_id = %o.ord_id, error = %e, "okx: an order's fills not read");
            None
        }
    }
}

/// Pending orders and fills since `since`, the balances, the fills again (they must not
/// have moved for the balances to be compared).
async fn fetch_snapshot(
    rest: &Rest,
    symbols: &[String],
    since: BTreeMap<String, u64>,
    need_assets: bool,
    reason: String,
) -> Result<Snapshot, String> {
    let begun_ms = rest.server_now_ms();
    // Within the list's 3 days (a little inside, so the request is never refused).
    let floor = begun_ms.saturating_sub(FILLS_WINDOW_MS - 60_000);
    let mut assets = BTreeMap::new();
    if need_assets {
        for s in symbols {
            let i = rest
                .instrument(s)
                .await
                .map_err(|e| format!("instrument {s}: {e}"))?;
            if !i.base_ccy.is_empty() && !i.quote_ccy.is_empty() {
                assets.insert(s.clone(), (i.base_ccy, i.quote_ccy));
            } else if !i.ct_val_ccy.is_empty() && !i.settle_ccy.is_empty() {
                // A SWAP: its coin and its settlement coin (fees).
                assets.insert(s.clone(), (i.ct_val_ccy, i.settle_ccy));
            }
        }
    }
    let mut open = Vec::new();
    let mut fills = Vec::new();
    for s in symbols {
        open.extend(
            rest.pending(s, PATIENCE)
                .await
                .map_err(|e| format!("pending orders of {s}: {e}"))?,
        );
        let begin = since.get(s).copied().unwrap_or(floor).max(floor);
        fills.extend(
            rest.fills(s, None, Some(begin), PATIENCE)
                .await
                .map_err(|e| format!("fills of {s}: {e}"))?,
        );
    }
    // SWAP: the positions, not the balances (a position's margin and PnL move them).
    let (balances, positions) = if rest.swap() {
        let p = rest
            .positions(PATIENCE)
            .await
            .map_err(|e| format!("positions: {e}"))?;
        (BTreeMap::new(), Some(p))
    } else {
        let b = rest
            .balance(PATIENCE)
            .await
            .map_err(|e| format!("balance: {e}"))?;
        (b, None)
    };
    let mut after = Vec::new();
    for s in symbols {
        after.extend(
            rest.fills(
                s,
                None,
                Some(begun_ms.saturating_sub(LIST_LAG_MS).max(floor)),
                PATIENCE,
            )
            .await
            .map_err(|e| format!("fills of {s}: {e}"))?,
        );
    }
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
        balances: (!moved && !rest.swap()).then_some(balances),
        positions: positions.filter(|_| !moved),
        assets,
        reason,
        begun_ms,
    })
}

/// The "Place order" body of an engine order (trade mode `cash`): `limit` (GTC),
/// `post_only`, `ioc` with a price; `market` without, sized in the base currency
/// (`tgtCcy=base_ccy`), so `sz` means the same for every order. On a SWAP (`contract`):
/// trade mode `cross`, `sz` in contracts (a quantity that is not a whole number of lots
/// of contracts, or below the minimum, is refused unsent), no `tgtCcy` ("Only applicable
/// to SPOT Market Orders"), and `reduceOnly: true` for a reduce-only order (OKX's own
/// flag: "Only applicable to MARGIN orders, and FUTURES/SWAP orders in net mode"; never
/// on cash spot). `Err` when the client id cannot be spelled as a `clOrdId` (never sent).
#[allow(clippy::too_many_arguments)]
pub fn place_order(
    inst_id: &str,
    venue_id: &str,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: Option<Decimal>,
    qty: Decimal,
    contract: Option<&Contract>,
    reduce_only: bool,
) -> Result<PlaceOrder, String> {
    let cl = to_cl_ord_id(venue_id).ok_or_else(|| {
        format!("client order id {venue_id} cannot be an OKX clOrdId (alphanumerics, up to 32)")
    })?;
    let ord_type = match (kind, tif) {
        (OrderKind::Market, _) => "market",
        (OrderKind::Limit, TimeInForce::PostOnly) => "post_only",
        (OrderKind::Limit, TimeInForce::Ioc) => "ioc",
        (OrderKind::Limit, _) => "limit",
    };
    let market = kind == OrderKind::Market;
    let px = if market {
        None
    } else {
        Some(
            price
                .ok_or_else(|| "a limit order without a price".to_string())?
                .normalize()
                .to_string(),
        )
    };
    let sz = match contract {
        Some(c) => c.contracts(inst_id, qty)?,
        None => qty,
    };
    let swap = contract.is_some();
    Ok(PlaceOrder {
        inst_id: inst_id.to_string(),
        td_mode: if swap { "cross" } else { "cash" }.into(),
        side: match side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
        .into(),
        ord_type: ord_type.into(),
        sz: sz.normalize().to_string(),
        px,
        cl_ord_id: cl,
        tgt_ccy: (market && !swap).then(|| "base_ccy".to_string()),
        reduce_only: (swap && reduce_only).then_some(true),
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

    #[test]
    fn engine_orders_become_okx_orders_as_documented() {
        let v = VenueIds::new(3, IdPrefix::for_tests()).to_venue(&ClientOrderId::new("S1-7"));
        let o = place_order(
            "BTC-USDT",
            &v,
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::PostOnly,
            Some(dec!(60000.10)),
            dec!(0.00100),
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"post_only","sz":"0.001","px":"60000.1","clOrdId":"t3st0013S117"}"#
        );
        let m = place_order(
            "BTC-USDT",
            &v,
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
            None,
            false,
        )
        .unwrap();
        assert_eq!((m.ord_type.as_str(), m.px.as_deref()), ("market", None));
        assert_eq!(m.tgt_ccy.as_deref(), Some("base_ccy"));
        let ioc = place_order(
            "BTC-USDT",
            &v,
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Ioc,
            Some(dec!(59990)),
            dec!(0.002),
            None,
            false,
        )
        .unwrap();
        assert_eq!(ioc.ord_type, "ioc");
        let gtc = place_order(
            "BTC-USDT",
            &v,
            Side::Sell,
            OrderKind::Limit,
            TimeInForce::Gtc,
            Some(dec!(59990)),
            dec!(0.002),
            None,
            false,
        )
        .unwrap();
        assert_eq!(gtc.ord_type, "limit");
        // SWAP: sz in contracts of 0.01 BTC, trade mode cross, no tgtCcy; reduce-only
        // with OKX's own flag, never on spot.
        let swap = super::super::wire::Instrument {
            inst_id: "BTC-USDT-SWAP".into(),
            inst_type: "SWAP".into(),
            ct_val: Some(dec!(0.01)),
            ct_val_ccy: "BTC".into(),
            ct_type: "linear".into(),
            settle_ccy: "USDT".into(),
            base_ccy: String::new(),
            quote_ccy: String::new(),
            tick_sz: Some(dec!(0.1)),
            lot_sz: Some(dec!(1)),
            min_sz: Some(dec!(1)),
            state: "live".into(),
        };
        let ct = swap.contract().unwrap().unwrap();
        let s = place_order(
            "BTC-USDT-SWAP",
            &v,
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            None,
            dec!(0.03),
            Some(&ct),
            true,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"sell","ordType":"market","sz":"3","clOrdId":"t3st0013S117","reduceOnly":true}"#
        );
        let plain = place_order(
            "BTC-USDT-SWAP",
            &v,
            Side::Buy,
            OrderKind::Limit,
            TimeInForce::Gtc,
            Some(dec!(60000)),
            dec!(0.01),
            Some(&ct),
            false,
        )
        .unwrap();
        assert_eq!((plain.sz.as_str(), plain.reduce_only), ("1", None));
        // Half a contract, or under the minimum: refused unsent, saying why.
        let e = place_order(
            "BTC-USDT-SWAP",
            &v,
            Side::Buy,
            OrderKind::Market,
            TimeInForce::Ioc,
            None,
            dec!(0.015),
            Some(&ct),
            false,
        )
        .unwrap_err();
        assert!(e.contains("1.5 contracts") && e.contains("not sent"), "{e}");
        let spot_ro = place_order(
            "BTC-USDT",
            &v,
            Side::Sell,
            OrderKind::Market,
            TimeInForce::Ioc,
            None,
            dec!(0.002),
            None,
            true,
        )
        .unwrap();
        assert_eq!(spot_ro.reduce_only, None, "no reduceOnly on cash spot");
        // Sizes OKX gives in contracts come back in coins.
        let f = ct.fill_in_coins(
            serde_json::from_str(r#"{"side":"sell","fillSz":"3","fillPx":"60000","fee":"-0.9","feeCcy":"USDT","instId":"BTC-USDT-SWAP","tradeId":"7"}"#)
                .unwrap(),
        );
        assert_eq!(f.fill_sz, dec!(0.03));
        // The engine's rules: lot and minimum in coins.
        let r = super::super::rules::venue_rules(&swap).unwrap();
        assert!(r.summary().contains("0.01"), "{}", r.summary());
        // An id OKX would refuse is never sent.
        assert!(
            place_order(
                "BTC-USDT",
                "free_text-id",
                Side::Buy,
                OrderKind::Market,
                TimeInForce::Ioc,
                None,
                dec!(1),
                None,
                false
            )
            .is_err()
        );
    }
}
