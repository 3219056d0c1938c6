//! The store task: a thread that commits what the engine did, in batches.
//!
//! The engine thread turns its effects into [`StoreRecord`]s with a [`StoreSink`] (cheap:
//! a channel send, no I/O) and numbers them. The writer takes everything waiting on the
//! channel (up to `batch_max` records), commits it in **one** write transaction with
//! `Durability::Immediate` (fsync), and then raises the durable watermark to the number of
//! the last record committed. The runner shows a view only once the watermark has reached
//! every record emitted before it was built, so nothing the console shows as done can be
//! lost to a `kill -9`. A fill and the position it leaves are one record: one transaction.

use super::schema::*;
use super::{Store, StoreError, parse};
use crate::domain::{Fill, Instrument, Order, Position, Timestamp, TradingGate, TradingState};
use crate::engine::execstats::LatencyHist;
use crate::engine::{Alert, AuditEntry, ClosedTrade, Effect, Trip};
use redb::{Database, ReadableTable};
use rust_decimal::Decimal;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One thing to persist.
#[derive(Clone, Debug)]
pub enum StoreRecord {
    /// An order's latest state (one per transition).
    Order(Order),
    /// A fill and the position it left: committed together.
    Fill {
        fill: Fill,
        position: Position,
        /// The round trip still open on the position (`None` once flat).
        trip: Option<Box<Trip>>,
    },
    Trade(ClosedTrade),
    /// The equity peak rose.
    Peak(Decimal),
    Alert(Alert),
    State {
        state: TradingState,
        reason: Option<String>,
        ts: Timestamp,
    },
    Strategy {
        name: String,
        enabled: bool,
    },
    /// Parameters set from the console, a strategy added or removed there.
    StrategyParams(StrategyRow),
    Audit(AuditEntry),
    /// The aged-position manager's state of the position on `symbol` (`None`: gone).
    Aged {
        symbol: String,
        state: Option<Box<crate::engine::aged::AgedState>>,
    },
    /// A bracket started (`Some`) or ended (`None`): kept in `meta` as
    /// `bracket:<run>:<n>` while it works, so a restart can name it.
    Bracket {
        id: u64,
        bracket: Option<Box<crate::engine::Bracket>>,
    },
    /// An execution algorithm working (`Some`) or ended (`None`): `meta`
    /// `algo:<run>:<n>`.
    Algo {
        id: u64,
        algo: Option<Box<crate::engine::Algo>>,
    },
}

enum Msg {
    Record(u64, StoreRecord),
    /// Answer once everything sent before is committed.
    Flush(Sender<()>),
}

/// The engine thread's end of the store task.
pub struct StoreSink {
    tx: Option<Sender<Msg>>,
    next_seq: u64,
    durable: Arc<AtomicU64>,
    failure: Arc<Failure>,
    join: Option<JoinHandle<()>>,
    /// A fill waiting for its position (the next effect).
    stash: Option<Fill>,
    /// Wall time of each commit, kept by the store task.
    commit_latency: Arc<Mutex<LatencyHist>>,
}

/// A store that can no longer write: the first error, and the run's trading gate, closed
/// the moment a write fails (on the thread that saw it, before anyone is told).
#[derive(Debug, Default)]
pub struct Failure {
    failed: AtomicBool,
    error: Mutex<Option<String>>,
    gate: Option<TradingGate>,
}

impl Failure {
    fn new(gate: Option<TradingGate>) -> Self {
        Failure {
            gate,
            ..Failure::default()
        }
    }

    /// Record a write failure: the gate closes first (no new exposure leaves after this
    /// returns; cancels and reduce-only exits still pass), then the error is kept (the
    /// first one wins).
    fn fail(&self, e: String) {
        if let Some(g) = &self.gate {
            g.close();
        }
        if let Ok(mut g) = self.error.lock()
            && g.is_none()
        {
            tracing::error!("store: {e}; trading gate closed");
            *g = Some(e);
        }
        self.failed.store(true, Ordering::Release);
    }

    fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }
}

impl StoreSink {
    /// Queue one record; returns its number. Never blocks.
    pub fn record(&mut self, rec: StoreRecord) -> u64 {
        self.next_seq += 1;
        if let Some(tx) = &self.tx
            && tx.send(Msg::Record(self.next_seq, rec)).is_err()
        {
            self.set_error("the store task has stopped".into());
        }
        self.next_seq
    }

    /// Turn one engine effect into a record, if it is one the store keeps.
    pub fn on_effect(&mut self, e: &Effect, now: Timestamp) {
        match e {
            Effect::Fill(f) => {
                if let Some(prev) = self.stash.replace(f.clone()) {
                    tracing::error!(seq = prev.seq, "store: a fill came without its position");
                }
            }
            Effect::PositionChanged {
                fill_seq,
                position,
                trip,
            } => match self.stash.take() {
                Some(fill) if fill.seq == *fill_seq => {
                    self.record(StoreRecord::Fill {
                        fill,
                        position: position.clone(),
                        trip: trip.clone().map(Box::new),
                    });
                }
                other => {
                    tracing::error!(?other, fill_seq, "store: a position without its fill");
                }
            },
            Effect::OrderUpdate(o) => {
                self.record(StoreRecord::Order(o.clone()));
            }
            Effect::TradeClosed(t) => {
                self.record(StoreRecord::Trade(t.clone()));
            }
            Effect::Alert(a) => {
                self.record(StoreRecord::Alert(a.clone()));
            }
            Effect::StateChanged { state, reason } => {
                self.record(StoreRecord::State {
                    state: *state,
                    reason: reason.clone(),
                    ts: now,
                });
            }
            Effect::StrategyToggled { name, enabled, .. } => {
                self.record(StoreRecord::Strategy {
                    name: name.clone(),
                    enabled: *enabled,
                });
            }
            Effect::StrategyConfigured {
                id,
                name,
                kind,
                params,
                enabled,
                removed,
                added,
            } => {
                self.record(StoreRecord::StrategyParams(StrategyRow {
                    name: name.clone(),
                    enabled: *enabled,
                    params: params.clone(),
                    kind: kind.clone(),
                    console: true,
                    removed: *removed,
                    slot: Some(u32::from(*id)),
                    added: *added,
                }));
            }
            Effect::Audit(a) => {
                self.record(StoreRecord::Audit(a.clone()));
            }
            Effect::EquityPeak(p) => {
                self.record(StoreRecord::Peak(*p));
            }
            Effect::AgedPosition { symbol, state } => {
                self.record(StoreRecord::Aged {
                    symbol: symbol.clone(),
                    state: state.clone(),
                });
            }
            Effect::Bracket { id, bracket } => {
                self.record(StoreRecord::Bracket {
                    id: *id,
                    bracket: bracket.clone(),
                });
            }
            Effect::Algo { id, algo } => {
                self.record(StoreRecord::Algo {
                    id: *id,
                    algo: algo.clone(),
                });
            }
            Effect::Submit(_) | Effect::Cancel(_) => {}
        }
    }

    /// Number of the last record queued.
    pub fn emitted(&self) -> u64 {
        self.next_seq
    }

    /// The wall time of the store's commits so far (one write transaction each).
    pub fn commit_latency(&self) -> LatencyHist {
        self.commit_latency.lock().map(|h| *h).unwrap_or_default()
    }

    /// Number of the last record committed durably.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The durable watermark itself, for a thread that must wait on it (a live venue's
    /// connection task sends an order only once the order's record is durable).
    pub fn durable_watch(&self) -> Arc<AtomicU64> {
        self.durable.clone()
    }

    /// Whether record `seq` (and every one before it) is durable.
    pub fn is_durable(&self, seq: u64) -> bool {
        self.durable() >= seq
    }

    /// The writer's first error, if it failed.
    pub fn error(&self) -> Option<String> {
        self.failure.error()
    }

    /// Whether a write has failed: nothing more becomes durable in this run. Cheap (one
    /// atomic load): the runner asks every turn.
    pub fn has_failed(&self) -> bool {
        self.failure.is_failed()
    }

    fn set_error(&self, e: String) {
        self.failure.fail(e);
    }

    /// Wait until everything queued so far is committed (at most `timeout`). True when it
    /// is.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.tx else {
            return self.is_durable(self.next_seq);
        };
        let (ack_tx, ack_rx) = mpsc::channel();
        if tx.send(Msg::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok() && self.is_durable(self.next_seq)
    }

    /// Drain and stop the writer.
    pub fn close(mut self) -> Option<String> {
        self.tx.take();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
        self.error()
    }
}

impl Drop for StoreSink {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// How the writer runs.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    pub run: u64,
    pub instruments: Vec<Instrument>,
    pub batch_max: usize,
    /// Append `run seq symbol side qty` per fill to this file once it is durable.
    pub fills_out: Option<PathBuf>,
    /// The run's trading gate: a failed write closes it at once (fail closed).
    pub gate: Option<TradingGate>,
    /// Where one trading day ends and the next begins (`engine.day_boundary`), for the
    /// trading day's figures a restart reads back.
    pub day_boundary: crate::domain::TimeOfDay,
}

/// Start the store task on its own thread.
pub fn spawn(store: &Store, opts: WriterOptions) -> std::io::Result<StoreSink> {
    let (tx, rx) = mpsc::channel();
    let durable = Arc::new(AtomicU64::new(0));
    let failure = Arc::new(Failure::new(opts.gate.clone()));
    let mut fills_out = match &opts.fills_out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let db = store.db().clone();
    let (d, e) = (durable.clone(), failure.clone());
    let commit_latency = Arc::new(Mutex::new(LatencyHist::default()));
    let lat = commit_latency.clone();
    let join = std::thread::Builder::new()
        .name("pit-store".into())
        .spawn(move || {
            let mut w = Writer::new(db, opts);
            w.run(rx, &d, &e, &lat, fills_out.as_mut());
        })?;
    Ok(StoreSink {
        tx: Some(tx),
        next_seq: 0,
        durable,
        failure,
        join: Some(join),
        stash: None,
        commit_latency,
    })
}

/// The writer's state: the database and what it needs to turn records into rows.
pub struct Writer {
    db: Arc<Database>,
    opts: WriterOptions,
    /// All-time realized minus fees (the next day's starting equity).
    net_realized: Option<Decimal>,
    line: String,
}

impl Writer {
    pub fn new(db: Arc<Database>, opts: WriterOptions) -> Self {
        Writer {
            db,
            opts,
            net_realized: None,
            line: String::new(),
        }
    }

    fn run(
        &mut self,
        rx: Receiver<Msg>,
        durable: &AtomicU64,
        failure: &Failure,
        commit_latency: &Mutex<LatencyHist>,
        mut fills_out: Option<&mut std::fs::File>,
    ) {
        let max = self.opts.batch_max.max(1);
        let mut batch: Vec<StoreRecord> = Vec::with_capacity(max);
        let mut acks: Vec<Sender<()>> = Vec::new();
        let mut failed = false;
        while let Ok(first) = rx.recv() {
            let mut last = 0;
            let mut take =
                |m: Msg, batch: &mut Vec<StoreRecord>, acks: &mut Vec<Sender<()>>| match m {
                    Msg::Record(seq, r) => {
                        last = seq;
                        batch.push(r);
                    }
                    Msg::Flush(a) => acks.push(a),
                };
            take(first, &mut batch, &mut acks);
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut batch, &mut acks),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() && !failed {
                // A panic inside the database (a damaged file, say) is a failed write
                // too: it must close the gate, not end the thread silently.
                let t0 = std::time::Instant::now();
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit(&batch)))
                        .unwrap_or_else(|p| Err(StoreError::Panicked(panic_text(&p))));
                if result.is_ok()
                    && let Ok(mut h) = commit_latency.lock()
                {
                    let ns = i64::try_from(t0.elapsed().as_nanos()).unwrap_or(i64::MAX);
                    h.observe_ns(ns);
                }
                match result {
                    Ok(fills) => {
                        if last > 0 {
                            durable.store(last, Ordering::Release);
                        }
                        if let Some(f) = fills_out.as_deref_mut() {
                            self.line.clear();
                            for (run, seq, sym, side, qty) in fills {
                                self.line
                                    .push_str(&format!("{run} {seq} {sym} {side} {qty}\n"));
                            }
                            if let Err(e) = f.write_all(self.line.as_bytes()) {
                                tracing::warn!("store: cannot write the fills-out file: {e}");
                            }
                        }
                    }
                    Err(e) => {
                        // Stop advancing the watermark; close the gate at once; the
                        // runner halts the engine and says so everywhere.
                        failed = true;
                        failure.fail(format!("commit failed: {e}"));
                    }
                }
            }
            batch.clear();
            for a in acks.drain(..) {
                let _ = a.send(());
            }
        }
    }

    /// Commit `batch` in one write transaction. Returns `(run, seq, symbol, side, qty)`
    /// of the fills it holds.
    #[allow(clippy::type_complexity)]
    pub fn commit(
        &mut self,
        batch: &[StoreRecord],
    ) -> Result<Vec<(u64, u64, String, &'static str, Decimal)>, StoreError> {
        crate::panics::inject("store");
        let run = self.opts.run;
        let mut fills_done = Vec::new();
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let mut net = match self.net_realized {
                Some(n) => n,
                None => match meta.get("net_realized")? {
                    Some(g) => g.value().parse().unwrap_or(Decimal::ZERO),
                    None => Decimal::ZERO,
                },
            };
            let net_before = net;
            let mut orders = tx.open_table(ORDERS)?;
            let mut open_orders = tx.open_table(OPEN_ORDERS)?;
            let mut last_fills = tx.open_table(LAST_FILLS)?;
            let mut events = tx.open_table(ORDER_EVENTS)?;
            let mut fills = tx.open_table(FILLS)?;
            let mut positions = tx.open_table(POSITIONS)?;
            let mut trades = tx.open_table(TRADES)?;
            let mut alerts = tx.open_table(ALERTS)?;
            let mut daily = tx.open_table(DAILY)?;
            let mut strategies = tx.open_table(STRATEGIES)?;
            let mut state = tx.open_table(STATE)?;
            let mut audit = tx.open_table(AUDIT)?;
            let mut aged = tx.open_table(AGED)?;
            let mut next_event = next_key(&events)?;
            let mut next_trade = next_key(&trades)?;
            let mut next_alert = next_key(&alerts)?;
            let mut next_audit = next_key(&audit)?;
            for rec in batch {
                match rec {
                    StoreRecord::Order(o) => {
                        let row = self.order_row(o);
                        let key = (run, o.req.client_id.as_str());
                        let changed = match orders.get(key)? {
                            Some(g) => parse::<OrderRow>("orders", g.value())?.status != row.status,
                            None => true,
                        };
                        let text = json(&row)?;
                        orders.insert(key, text.as_str())?;
                        if row.is_open() {
                            open_orders.insert(key, ())?;
                        } else {
                            open_orders.remove(key)?;
                        }
                        if changed {
                            let ev = OrderEventRow {
                                run,
                                client_id: row.client_id.clone(),
                                status: row.status.clone(),
                                ts: o.updated,
                                note: row.reason.clone(),
                            };
                            events.insert(next_event, json(&ev)?.as_str())?;
                            next_event += 1;
                        }
                    }
                    StoreRecord::Peak(p) => {
                        meta.insert("equity_peak", p.to_string().as_str())?;
                    }
                    StoreRecord::Fill {
                        fill,
                        position,
                        trip,
                    } => {
                        let Some(inst) = self.opts.instruments.get(fill.instrument.index()) else {
                            continue;
                        };
                        let (owner, tag) = match orders.get((run, fill.client_id.as_str()))? {
                            Some(g) => {
                                let o: OrderRow = parse("orders", g.value())?;
                                (o.owner, Some(o.tag))
                            }
                            None => (String::new(), None),
                        };
                        let row = FillRow {
                            run,
                            seq: fill.seq,
                            ts: fill.ts,
                            client_id: fill.client_id.to_string(),
                            symbol: inst.symbol.clone(),
                            side: fill.side.as_str().to_string(),
                            price: inst.price(fill.price),
                            qty: inst.qty(fill.qty),
                            fee: fill.fee,
                            liquidity: format!("{:?}", fill.liquidity).to_lowercase(),
                            owner,
                            tag,
                            fee_base: fill.fee_base,
                        };
                        fills.insert((run, fill.seq), json(&row)?.as_str())?;
                        let last = (run, inst.symbol.as_str());
                        if last_fills.get(last)?.is_none_or(|g| fill.seq > g.value()) {
                            last_fills.insert(last, fill.seq)?;
                        }
                        let prev_realized = match positions.get(inst.symbol.as_str())? {
                            Some(g) => parse::<PositionRow>("positions", g.value())?.realized,
                            None => Decimal::ZERO,
                        };
                        let prow = PositionRow {
                            symbol: inst.symbol.clone(),
                            qty: position.qty,
                            avg_price: position.avg_price,
                            realized: position.realized,
                            fees: position.fees,
                            updated: fill.ts,
                            last_fill: (run, fill.seq),
                            trip: trip.as_deref().cloned(),
                        };
                        positions.insert(inst.symbol.as_str(), json(&prow)?.as_str())?;
                        let realized = position.realized - prev_realized;
                        let boundary = self.opts.day_boundary;
                        let day = boundary.day_of(fill.ts);
                        let mut td = match meta.get("trading_day")? {
                            Some(g) => parse::<TradingDayRow>("meta", g.value())?,
                            None => TradingDayRow::default(),
                        };
                        // The row only goes forward: a late fill of an earlier day (found
                        // by a reconciliation, stamped with the venue's time) stays out of
                        // today's figures and never wipes them.
                        let same_count = td.boundary_minutes == boundary.minutes();
                        if !same_count || day > td.day {
                            td = TradingDayRow {
                                boundary_minutes: boundary.minutes(),
                                day,
                                ..TradingDayRow::default()
                            };
                        }
                        if td.day == day {
                            td.realized += realized;
                            td.fees += fill.fee;
                            meta.insert("trading_day", json(&td)?.as_str())?;
                        }
                        let date = date_of(fill.ts);
                        let mut d = day_row(&daily, &date, net)?;
                        d.realized += realized;
                        d.fees += fill.fee;
                        d.volume += row.price * row.qty;
                        daily.insert(date.as_str(), json(&d)?.as_str())?;
                        net += realized - fill.fee;
                        fills_done.push((run, fill.seq, row.symbol, fill.side.as_str(), row.qty));
                    }
                    StoreRecord::Trade(t) => {
                        let row = TradeRow {
                            run,
                            trade: t.clone(),
                        };
                        trades.insert(next_trade, json(&row)?.as_str())?;
                        next_trade += 1;
                        let date = date_of(t.closed);
                        let mut d = day_row(&daily, &date, net)?;
                        d.trades += 1;
                        if t.pnl > Decimal::ZERO {
                            d.wins += 1;
                        } else if t.pnl < Decimal::ZERO {
                            d.losses += 1;
                        }
                        daily.insert(date.as_str(), json(&d)?.as_str())?;
                    }
                    StoreRecord::Alert(a) => {
                        let row = AlertRow {
                            run,
                            alert: a.clone(),
                        };
                        alerts.insert(next_alert, json(&row)?.as_str())?;
                        next_alert += 1;
                    }
                    StoreRecord::State {
                        state: s,
                        reason,
                        ts,
                    } => {
                        let row = StateRow {
                            state: *s,
                            halt_reason: if *s == TradingState::Halted {
                                reason.clone()
                            } else {
                                None
                            },
                            kill_latched: *s == TradingState::Halted,
                            ts: *ts,
                        };
                        state.insert("trading", json(&row)?.as_str())?;
                    }
                    StoreRecord::Strategy { name, enabled } => {
                        // The switch only: the parameters and where they came from stay.
                        let row = match strategies.get(name.as_str())? {
                            Some(g) => StrategyRow {
                                enabled: *enabled,
                                ..parse::<StrategyRow>("strategies", g.value())?
                            },
                            None => StrategyRow {
                                name: name.clone(),
                                enabled: *enabled,
                                params: String::new(),
                                kind: String::new(),
                                console: false,
                                removed: false,
                                slot: None,
                                added: false,
                            },
                        };
                        strategies.insert(name.as_str(), json(&row)?.as_str())?;
                    }
                    StoreRecord::StrategyParams(row) => {
                        strategies.insert(row.name.as_str(), json(row)?.as_str())?;
                    }
                    StoreRecord::Aged { symbol, state } => match state {
                        Some(st) => {
                            aged.insert(symbol.as_str(), json(st.as_ref())?.as_str())?;
                        }
                        None => {
                            aged.remove(symbol.as_str())?;
                        }
                    },
                    StoreRecord::Bracket { id, bracket } => {
                        let key = format!("{}{run}:{id}", super::schema::BRACKET_KEY);
                        match bracket {
                            Some(b) => {
                                meta.insert(key.as_str(), json(b.as_ref())?.as_str())?;
                            }
                            None => {
                                meta.remove(key.as_str())?;
                            }
                        }
                    }
                    StoreRecord::Algo { id, algo } => {
                        let key = format!("{}{run}:{id}", super::schema::ALGO_KEY);
                        match algo {
                            Some(a) => {
                                meta.insert(key.as_str(), json(a.as_ref())?.as_str())?;
                            }
                            None => {
                                meta.remove(key.as_str())?;
                            }
                        }
                    }
                    StoreRecord::Audit(a) => {
                        let row = AuditRow {
                            run,
                            wall: chrono::Utc::now().to_rfc3339(),
                            entry: a.clone(),
                        };
                        audit.insert(next_audit, json(&row)?.as_str())?;
                        next_audit += 1;
                    }
                }
            }
            if net != net_before {
                meta.insert("net_realized", net.to_string().as_str())?;
            }
            self.net_realized = Some(net);
        }
        if let Err(e) = tx.commit() {
            // The cached total may be ahead of the file now: read it again next time.
            self.net_realized = None;
            return Err(e.into());
        }
        Ok(fills_done)
    }

    fn order_row(&self, o: &Order) -> OrderRow {
        let req = &o.req;
        let inst = self.opts.instruments.get(req.spec.instrument.index());
        let symbol = inst.map_or_else(
            || format!("#{}", req.spec.instrument.0),
            |i| i.symbol.clone(),
        );
        let dec = |f: &dyn Fn(&Instrument) -> Decimal| inst.map_or(Decimal::ZERO, f);
        OrderRow {
            run: self.opts.run,
            client_id: req.client_id.to_string(),
            symbol,
            side: req.spec.side.as_str().to_string(),
            kind: format!("{:?}", req.spec.kind).to_lowercase(),
            price: req.spec.price.and_then(|p| inst.map(|i| i.price(p))),
            qty: dec(&|i| i.qty(req.spec.qty)),
            filled: dec(&|i| i.qty(o.filled)),
            avg_price: o
                .avg_fill_ticks()
                .and_then(|t| inst.map(|i| (t * i.tick_size).normalize())),
            status: o.status.as_str().to_string(),
            reduce_only: req.spec.reduce_only,
            owner: req.owner.to_string(),
            tag: req.tag,
            created: o.created,
            updated: o.updated,
            reason: o.reject_reason.clone(),
            request: req.clone(),
            group: o.group,
        }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(StoreError::encode)
}

fn day_row(
    daily: &redb::Table<&str, &str>,
    date: &str,
    net: Decimal,
) -> Result<DailyRow, StoreError> {
    Ok(match daily.get(date)? {
        Some(g) => parse("daily_stats", g.value())?,
        None => DailyRow {
            date: date.to_string(),
            starting_equity: net,
            ..DailyRow::default()
        },
    })
}
