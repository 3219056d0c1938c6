//! The store: everything a trader wants to find again, in one redb database.
//!
//! * [`schema`]: tables, rows, the schema version and forward migrations.
//! * [`Store`]: opening with clear errors (a newer schema, a corrupt file, a database in
//!   use by another pit), the run record, recovery, reads.
//! * [`writer`]: the store task. The engine thread hands it records made from the engine's
//!   effects over a channel; it commits them in batches, one write transaction per batch
//!   (a fill and the position it leaves always in the same one), and publishes a durable
//!   watermark that the runner checks before it shows anything.
//! * [`report`] and [`export`]: `pit report` and `pit export`.
//!
//! Exclusivity: redb locks the file, so a second pit on the same database fails at open
//! with "database in use by another pit (pid N)" (the pid is kept in `<path>.pid`) and
//! never trades.

pub mod backup;
pub mod export;
pub mod report;
pub mod schema;
pub mod writer;

use crate::domain::{Instrument, OrderStatus, Position, TradingState};
use crate::engine::{DayFigures, Recovered, RecoveredCounts};

/// The end of a live run's `mode` in its run record (`binance/paper headless live`).
pub const LIVE_RUN_SUFFIX: &str = " live";
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use schema::*;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[store]` in config.toml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database file (relative to the working directory).
    pub path: PathBuf,
    /// What happens to paper orders that were open when pit stopped: `cancel` marks them
    /// cancelled; `restore` places manual ones again (strategies re-quote by themselves).
    pub open_orders_on_restart: String,
    /// Most records committed in one write transaction.
    pub batch_max: usize,
    /// redb's page cache, MiB (its default is 1 GiB, so memory followed the store's size).
    pub cache_mb: usize,
}

/// The page cache of a store opened without a config (`pit report`, `pit export`).
pub const DEFAULT_CACHE_MB: usize = 32;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data/pit.redb"),
            open_orders_on_restart: "cancel".into(),
            batch_max: 4096,
            cache_mb: DEFAULT_CACHE_MB,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        use crate::domain::Invalid;
        if self.path.as_os_str().is_empty() {
            return Err(Invalid::new("path", "must not be empty"));
        }
        if !matches!(self.open_orders_on_restart.as_str(), "cancel" | "restore") {
            return Err(Invalid::new(
                "open_orders_on_restart",
                format!(
                    "'{}': must be \"cancel\" or \"restore\"",
                    self.open_orders_on_restart
                ),
            ));
        }
        if self.batch_max == 0 {
            return Err(Invalid::new("batch_max", "must be at least 1"));
        }
        if !(1..=65_536).contains(&self.cache_mb) {
            return Err(Invalid::new(
                "cache_mb",
                format!("must be between 1 and 65536 (MiB), got {}", self.cache_mb),
            ));
        }
        Ok(())
    }
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: in use by another pit{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error(
        "database {path}: written by a newer pit (schema version {found}; this pit reads up to {supported}); upgrade pit or use another store.path"
    )]
    Newer {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("database corrupt: {0}; move it away or restore a backup")]
    Corrupt(String),
    #[error(
        "database {0}: the file is empty (0 bytes), so its history and halt state are gone; restore a backup, or delete the file to start a new store"
    )]
    Empty(PathBuf),
    #[error(
        "no store at {0}: nothing has been recorded in this folder (a run writes it; see store.path, or pass --config)"
    )]
    Missing(PathBuf),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("database I/O: {0}")]
    Io(String),
    #[error("database: {0}")]
    Db(String),
    #[error("database panicked: {0}")]
    Panicked(String),
}

/// Run `f` on the database at `path`: a panic inside the database library (a damaged
/// file: redb unwraps what it reads) becomes [`StoreError::Corrupt`] naming the file, and
/// so does any corrupt-data error that does not name it yet. The panic is logged, not
/// printed.
pub fn guard<T>(path: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("store: panic inside the database: {info}");
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    let shown = path.display().to_string();
    match result {
        Ok(Err(StoreError::Corrupt(d))) if !d.starts_with(&shown) => {
            Err(StoreError::Corrupt(format!("{shown} ({d})")))
        }
        Ok(r) => r,
        Err(p) => Err(StoreError::Corrupt(format!(
            "{shown} ({})",
            writer::panic_text(&*p)
        ))),
    }
}

impl StoreError {
    pub(crate) fn encode(e: serde_json::Error) -> StoreError {
        StoreError::Db(format!("cannot encode a row: {e}"))
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(m) => StoreError::Corrupt(m),
            redb::Error::Io(io) => StoreError::Io(io.to_string()),
            other => StoreError::Db(other.to_string()),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// Parse a row, naming the table when it is unreadable.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    table: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("unreadable row in {table}: {e}")))
}

/// An open store. Cloning shares the database.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn pid_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pid");
    PathBuf::from(p)
}

impl Store {
    /// Open (or create) the database at `path`: migrate an older schema, refuse a newer
    /// one, a corrupt file or one in use by another process.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_MB)
    }

    /// [`Store::open`] with a page cache of `cache_mb` MiB (`store.cache_mb`).
    pub fn open_with_cache(path: &Path, cache_mb: usize) -> Result<Store, StoreError> {
        guard(path, || Store::open_inner(path, cache_mb))
    }

    /// Give the file's free pages back (`pit store compact`); the store must not be in
    /// use. Returns whether anything was compacted.
    pub fn compact(mut self) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let db = Arc::get_mut(&mut self.db)
            .ok_or_else(|| StoreError::Db("the store is shared; cannot compact".into()))?;
        guard(&path, || {
            db.compact()
                .map_err(|e| StoreError::Db(format!("cannot compact {}: {e}", path.display())))
        })
    }

    /// Open a store that must already exist (`pit report`, `pit export`): reading one
    /// never creates an empty one.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        Store::open(path)
    }

    fn open_inner(path: &Path, cache_mb: usize) -> Result<Store, StoreError> {
        // An empty file is not a new store: it was one (history, the halt state) until
        // something truncated it. Only a person starts over, by deleting it.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(StoreError::Empty(path.to_path_buf()));
        }
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = match Database::builder()
            .set_cache_size(cache_mb.max(1).saturating_mul(1024 * 1024))
            .create(path)
        {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                let pid = std::fs::read_to_string(pid_path(path))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                    pid,
                });
            }
            Err(redb::DatabaseError::UpgradeRequired(v)) => {
                return Err(StoreError::Schema(format!(
                    "{}: redb file format {v} needs a manual upgrade",
                    path.display()
                )));
            }
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                if e.kind() == std::io::ErrorKind::InvalidData =>
            {
                return Err(StoreError::Corrupt(format!("{}: {e}", path.display())));
            }
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))) => {
                return Err(StoreError::Io(format!("{}: {e}", path.display())));
            }
            Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(m))) => {
                return Err(StoreError::Corrupt(format!("{}: {m}", path.display())));
            }
            Err(other) => {
                return Err(StoreError::Corrupt(format!("{}: {other}", path.display())));
            }
        };
        // Tell a second pit who holds the lock (best effort: the lock is redb's).
        let _ = std::fs::write(pid_path(path), std::process::id().to_string());
        let store = Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared database (the writer task and report readers use it).
    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    /// A read-only handle for reports while this process keeps the store open (and its
    /// writer task keeps committing). See [`StoreReader`].
    pub fn reader(&self) -> StoreReader {
        StoreReader {
            store: self.clone(),
        }
    }

    /// Every closed trade and every fill, read in **one** read transaction, so the two
    /// agree (a fill and its trade are never half seen).
    pub fn trades_and_fills(&self) -> Result<(Vec<TradeRow>, Vec<FillRow>), StoreError> {
        let rx = self.db.begin_read()?;
        let mut trades = Vec::new();
        for item in rx.open_table(TRADES)?.iter()? {
            let (_, v) = item?;
            trades.push(parse("trades", v.value())?);
        }
        let mut fills = Vec::new();
        for item in rx.open_table(FILLS)?.iter()? {
            let (_, v) = item?;
            fills.push(parse("fills", v.value())?);
        }
        Ok((trades, fills))
    }

    /// The schema version written in the file.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let rx = self.db.begin_read()?;
        match rx.open_table(SCHEMA) {
            Ok(t) => Ok(t.get("version")?.map_or(0, |v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        if found == 0 {
            create_tables(&tx)?;
            tx.open_table(SCHEMA)?.insert("version", SCHEMA_VERSION)?;
        } else {
            tracing::info!(from = found, to = SCHEMA_VERSION, "migrating the store");
            migrate(&tx, found)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Record a new run; returns its id.
    pub fn begin_run(&self, mut row: RunRow) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        let id = {
            let mut runs = tx.open_table(RUNS)?;
            let id = next_key(&runs)?;
            row.id = id;
            let text = serde_json::to_string(&row).map_err(StoreError::encode)?;
            runs.insert(id, text.as_str())?;
            id
        };
        tx.commit()?;
        Ok(id)
    }

    /// Write the strategies' parameters as a run starts (each row's enable flag and
    /// console number are kept as persisted; a new strategy takes the row's). Rows not
    /// given stay as they are.
    pub fn note_strategies(&self, rows: &[StrategyRow]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(STRATEGIES)?;
            for row in rows {
                let (enabled, slot) = match t.get(row.name.as_str())? {
                    Some(g) => {
                        let old = parse::<StrategyRow>("strategies", g.value())?;
                        (old.enabled, row.slot.or(old.slot))
                    }
                    None => (row.enabled, row.slot),
                };
                let row = StrategyRow {
                    enabled,
                    slot,
                    ..row.clone()
                };
                let text = serde_json::to_string(&row).map_err(StoreError::encode)?;
                t.insert(row.name.as_str(), text.as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The strategies' rows (switches and parameters as the last run left them), by name.
    pub fn strategy_rows(&self) -> Result<Vec<StrategyRow>, StoreError> {
        let tx = self.db.begin_read()?;
        let mut rows = Vec::new();
        for item in tx.open_table(STRATEGIES)?.iter()? {
            let (_, v) = item?;
            rows.push(parse::<StrategyRow>("strategies", v.value())?);
        }
        Ok(rows)
    }

    /// Read back what the engine needs after a restart. Orders still open are marked
    /// cancelled (in both modes: the paper venue starts empty); with `restore_orders`, the
    /// manual ones are handed back to be placed again.
    pub fn recover(
        &self,
        instruments: &[Instrument],
        restore_orders: bool,
    ) -> Result<Recovered, StoreError> {
        self.recover_with(instruments, restore_orders, None)
    }

    /// [`Store::recover`], asking `venue` (the paper venue's own log, read at start) what
    /// became of each order an earlier paper run left open, instead of marking it
    /// cancelled without asking: filled, cancelled or rejected there (the venue's filled
    /// size is written), or open when that run ended (the restarted paper venue no longer
    /// holds it: cancelled, or placed again with `restore_orders`). An order the log does
    /// not know never reached the venue. Live runs' orders are the live venue's to settle,
    /// as before.
    pub fn recover_with(
        &self,
        instruments: &[Instrument],
        restore_orders: bool,
        venue: Option<&VenueAnswers>,
    ) -> Result<Recovered, StoreError> {
        let mut rec = Recovered::default();
        let tx = self.db.begin_write()?;
        {
            let runs = tx.open_table(RUNS)?;
            let fills = tx.open_table(FILLS)?;
            let trades = tx.open_table(TRADES)?;
            rec.counts = RecoveredCounts {
                runs: runs.len()?,
                fills: fills.len()?,
                trades: trades.len()?,
                ..RecoveredCounts::default()
            };
            for item in tx.open_table(POSITIONS)?.iter()? {
                let (k, v) = item?;
                let row: PositionRow = parse("positions", v.value())?;
                if !row.qty.is_zero() {
                    rec.counts.positions += 1;
                }
                if let Some(trip) = row.trip.clone().filter(|_| !row.qty.is_zero()) {
                    rec.trips.push((k.value().to_string(), trip));
                }
                rec.positions.push((
                    k.value().to_string(),
                    Position {
                        instrument: crate::domain::InstrumentId(0),
                        qty: row.qty,
                        avg_price: row.avg_price,
                        realized: row.realized,
                        fees: row.fees,
                    },
                ));
            }
            // Brackets and algorithms working at the crash: named to the engine, then
            // forgotten (their orders are cancelled below with every open order; a
            // bracket's stop is not held, an algorithm's schedule not resumed).
            {
                let mut meta = tx.open_table(META)?;
                let mut keys = Vec::new();
                for prefix in [schema::BRACKET_KEY, schema::ALGO_KEY] {
                    for item in meta.range(prefix..)? {
                        let (k, v) = item?;
                        if !k.value().starts_with(prefix) {
                            break;
                        }
                        keys.push(k.value().to_string());
                        if prefix == schema::BRACKET_KEY {
                            if let Ok(b) = serde_json::from_str(v.value()) {
                                rec.brackets.push(b);
                            }
                        } else if let Ok(a) = serde_json::from_str(v.value()) {
                            rec.algos.push(a);
                        }
                    }
                }
                for k in keys {
                    meta.remove(k.as_str())?;
                }
            }
            if let Some(v) = tx.open_table(META)?.get("equity_peak")? {
                rec.equity_peak = v.value().parse().ok();
            }
            let trading_day = match tx.open_table(META)?.get("trading_day")? {
                Some(v) => Some(parse::<TradingDayRow>("meta", v.value())?),
                None => None,
            };
            if let Some(td) = trading_day {
                rec.day = Some(DayFigures {
                    day: td.day,
                    boundary: crate::domain::TimeOfDay::new(
                        td.boundary_minutes / 60,
                        td.boundary_minutes % 60,
                    ),
                    realized: td.realized,
                    fees: td.fees,
                });
            } else if let Some((k, v)) = tx.open_table(DAILY)?.last()? {
                let row: DailyRow = parse("daily_stats", v.value())?;
                if let Ok(d) = chrono::NaiveDate::parse_from_str(k.value(), "%Y-%m-%d") {
                    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                    rec.day = Some(DayFigures {
                        day: (d - epoch).num_days(),
                        boundary: None,
                        realized: row.realized,
                        fees: row.fees,
                    });
                }
            }
            for item in tx.open_table(AGED)?.iter()? {
                let (_, v) = item?;
                rec.aged
                    .push(parse::<AgedRow>("aged_positions", v.value())?);
            }
            for item in tx.open_table(STRATEGIES)?.iter()? {
                let (_, v) = item?;
                let row: StrategyRow = parse("strategies", v.value())?;
                rec.strategies.push((row.name, row.enabled));
            }
            if let Some(v) = tx.open_table(STATE)?.get("trading")? {
                let row: StateRow = parse("state", v.value())?;
                rec.trading_state = if row.kill_latched {
                    TradingState::Halted
                } else {
                    row.state
                };
                rec.halt_reason = row.halt_reason;
            }
            // Orders left open: close them in the store, except a live run's: only the
            // venue knows what became of those (working, filled, cancelled); they stay
            // open here until the live venue's reconciliation settles them
            // ([`Store::settle_order`]). Read through the open-order index: the cost
            // follows the orders left open, not the length of the history.
            let mut open_orders = tx.open_table(OPEN_ORDERS)?;
            let mut keys = Vec::new();
            for item in open_orders.iter()? {
                let (k, _) = item?;
                let (run, id) = k.value();
                keys.push((run, id.to_string()));
            }
            let mut live_runs = std::collections::BTreeMap::new();
            let mut orders = tx.open_table(ORDERS)?;
            let mut open = Vec::new();
            for (run, id) in keys {
                let live = match live_runs.get(&run) {
                    Some(&live) => live,
                    None => {
                        let live = match runs.get(run)? {
                            Some(v) => parse::<RunRow>("runs", v.value())?
                                .mode
                                .ends_with(LIVE_RUN_SUFFIX),
                            None => false,
                        };
                        live_runs.insert(run, live);
                        live
                    }
                };
                let row = match orders.get((run, id.as_str()))? {
                    Some(v) => parse::<OrderRow>("orders", v.value())?,
                    None => {
                        // An index entry without its order: nothing to settle.
                        open_orders.remove((run, id.as_str()))?;
                        continue;
                    }
                };
                if !row.is_open() {
                    open_orders.remove((run, id.as_str()))?;
                    continue;
                }
                if live {
                    rec.at_venue.push((run, id, row.symbol.clone()));
                    continue;
                }
                open.push(((run, id), row));
            }
            let mut events = tx.open_table(ORDER_EVENTS)?;
            for ((run, id), mut row) in open {
                let answer = venue
                    .filter(|v| v.runs.contains(&run))
                    .map(|v| v.orders.get(&(run, id.clone())));
                if let Some(a) = answer.flatten() {
                    row.filled = row.filled.max(a.filled);
                }
                // Filled in full with no end line: a filled order gets none.
                let full = filled_lots(&row, instruments) >= row.request.spec.qty.0;
                let ended = match answer.flatten().map(|a| a.word) {
                    Some(VenueWord::Filled) => Some(FILLED_AT_VENUE),
                    Some(VenueWord::Open) if full => Some(FILLED_AT_VENUE),
                    Some(VenueWord::Cancelled) => Some((
                        OrderStatus::Cancelled,
                        "cancelled at the paper venue (its log)",
                    )),
                    Some(VenueWord::Rejected) => Some((
                        OrderStatus::Rejected,
                        "rejected by the paper venue (its log)",
                    )),
                    _ => None,
                };
                if let Some((status, note)) = ended {
                    rec.counts.orders_settled += 1;
                    row.status = status.as_str().to_string();
                    close_order(&mut orders, &mut events, run, &id, &row, note)?;
                    open_orders.remove((run, id.as_str()))?;
                    continue;
                }
                let restore = restore_orders
                    && row.group.is_none()
                    && row.request.owner == crate::domain::Owner::Manual
                    && row.request.spec.kind == crate::domain::OrderKind::Limit
                    && instruments.iter().any(|i| i.symbol == row.symbol);
                let remaining = row.request.spec.qty.0 - filled_lots(&row, instruments);
                let note = if restore && remaining > 0 {
                    let mut req = row.request.clone();
                    req.spec.qty = crate::domain::Qty(remaining);
                    rec.restore_orders.push(req);
                    rec.counts.orders_restored += 1;
                    "cancelled on restart; placed again"
                } else {
                    rec.counts.orders_cancelled += 1;
                    match answer {
                        None => "cancelled on restart",
                        Some(Some(_)) => {
                            "open at the paper venue when its run ended; the restarted venue no longer holds it: cancelled"
                        }
                        Some(None) => "never reached the paper venue (not in its log): cancelled",
                    }
                };
                row.status = OrderStatus::Cancelled.as_str().to_string();
                close_order(&mut orders, &mut events, run, &id, &row, note)?;
                open_orders.remove((run, id.as_str()))?;
            }
        }
        tx.commit()?;
        Ok(rec)
    }

    /// What a live venue said became of an order an earlier live run left open (see
    /// [`Store::recover`]): its final status (`FILLED`, `CANCELLED`, `REJECTED`), the size
    /// the venue filled, and a note, with an order event. An order already closed is left
    /// as it is (returns false).
    pub fn settle_order(
        &self,
        run: u64,
        client_id: &str,
        status: OrderStatus,
        filled: rust_decimal::Decimal,
        note: &str,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let done = {
            let mut orders = tx.open_table(ORDERS)?;
            let row = match orders.get((run, client_id))? {
                Some(v) => Some(parse::<OrderRow>("orders", v.value())?),
                None => None,
            };
            match row.filter(OrderRow::is_open) {
                None => false,
                Some(mut row) => {
                    row.status = status.as_str().to_string();
                    row.filled = filled;
                    let mut events = tx.open_table(ORDER_EVENTS)?;
                    close_order(&mut orders, &mut events, run, client_id, &row, note)?;
                    tx.open_table(OPEN_ORDERS)?.remove((run, client_id))?;
                    true
                }
            }
        };
        tx.commit()?;
        Ok(done)
    }

    /// Every fill, in `(run, seq)` order.
    pub fn fills(&self) -> Result<Vec<FillRow>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(FILLS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(parse("fills", v.value())?);
        }
        Ok(out)
    }

    /// Every position row.
    pub fn positions(&self) -> Result<Vec<PositionRow>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(POSITIONS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(parse("positions", v.value())?);
        }
        Ok(out)
    }

    /// Every closed trade, oldest first.
    pub fn trades(&self) -> Result<Vec<TradeRow>, StoreError> {
        self.log_rows(TRADES, "trades")
    }

    /// Every order's latest state, by run then client id.
    pub fn orders(&self) -> Result<Vec<OrderRow>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(ORDERS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(parse("orders", v.value())?);
        }
        Ok(out)
    }

    /// Every run.
    pub fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        self.log_rows(RUNS, "runs")
    }

    /// The fills stored for these orders (`(run, client id)`), read run by run: the cost
    /// follows the runs that left orders open, not the whole history.
    pub fn fills_of_orders(&self, orders: &[(u64, String)]) -> Result<Vec<FillRow>, StoreError> {
        let mut wanted: std::collections::BTreeMap<u64, std::collections::BTreeSet<&str>> =
            std::collections::BTreeMap::new();
        for (run, id) in orders {
            wanted.entry(*run).or_default().insert(id.as_str());
        }
        let rx = self.db.begin_read()?;
        let t = rx.open_table(FILLS)?;
        let mut out = Vec::new();
        for (run, ids) in wanted {
            for item in t.range((run, 0)..=(run, u64::MAX))? {
                let (_, v) = item?;
                let row: FillRow = parse("fills_v2", v.value())?;
                if ids.contains(row.client_id.as_str()) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    /// Which of the fill keys `(run, seq)` are stored.
    pub fn fills_present(
        &self,
        keys: &[(u64, u64)],
    ) -> Result<std::collections::BTreeSet<(u64, u64)>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(FILLS)?;
        let mut out = std::collections::BTreeSet::new();
        for &k in keys {
            if t.get(k)?.is_some() {
                out.insert(k);
            }
        }
        Ok(out)
    }

    /// The highest fill seq stored per (run, symbol), as `(run, symbol, seq)`: one row
    /// per run and symbol traded, however many fills there are.
    pub fn last_fills(&self) -> Result<Vec<(u64, String, u64)>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(LAST_FILLS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            let (run, symbol) = k.value();
            out.push((run, symbol.to_string(), v.value()));
        }
        Ok(out)
    }

    /// The audit log, oldest first.
    pub fn audit(&self) -> Result<Vec<AuditRow>, StoreError> {
        self.log_rows(AUDIT, "audit")
    }

    /// Alerts, oldest first.
    pub fn alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.log_rows(ALERTS, "alerts")
    }

    /// Daily stats, by date.
    pub fn daily(&self) -> Result<Vec<DailyRow>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(DAILY)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(parse("daily_stats", v.value())?);
        }
        Ok(out)
    }

    /// A value of the `meta` table, if there is one.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value().to_string()))
    }

    /// The `meta` value under `key`, written from `make` the first time it is asked for:
    /// read and written in one transaction, so two callers cannot both write one.
    pub fn meta_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let tx = self.db.begin_write()?;
        let value = {
            let mut t = tx.open_table(META)?;
            let found = t.get(key)?.map(|v| v.value().to_string());
            match found {
                Some(v) => v,
                None => {
                    let v = make();
                    t.insert(key, v.as_str())?;
                    v
                }
            }
        };
        tx.commit()?;
        Ok(value)
    }

    /// The persisted trading state.
    pub fn trading_state(&self) -> Result<Option<StateRow>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(STATE)?;
        match t.get("trading")? {
            Some(v) => Ok(Some(parse("state", v.value())?)),
            None => Ok(None),
        }
    }

    fn log_rows<T: serde::de::DeserializeOwned>(
        &self,
        def: redb::TableDefinition<u64, &str>,
        name: &str,
    ) -> Result<Vec<T>, StoreError> {
        let rx = self.db.begin_read()?;
        let t = rx.open_table(def)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(parse(name, v.value())?);
        }
        Ok(out)
    }
}

/// A cloneable, read-only handle on the store that this process holds open.
///
/// redb lets one process open a file (a second `pit`, `pit report` or `pit export` on a
/// database in use is refused with "in use by another pit (pid N)"), but inside the
/// process the [`Database`] is `Sync` and its readers never wait for the writer: a read
/// transaction sees the last committed snapshot while the store task goes on committing.
/// The console uses this handle to compute a fresh [`report::Report`] on a blocking
/// thread, off the console and the engine threads.
#[derive(Clone, Debug)]
pub struct StoreReader {
    store: Store,
}

impl StoreReader {
    /// The report over everything committed so far (one consistent snapshot).
    pub fn report(&self, since: Option<chrono::NaiveDate>) -> Result<report::Report, StoreError> {
        report::Report::build(&self.store, since)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// A verified copy of everything committed so far (`pit store backup` while running).
    pub fn backup(&self, dest: &Path) -> Result<backup::BackupSummary, StoreError> {
        guard(self.path(), || self.store.backup(dest))
    }
}

/// Write an order's final state (`row.status` set by the caller) with `note` as its
/// reason, and the order event that records it, in the caller's transaction.
fn close_order(
    orders: &mut redb::Table<(u64, &str), &str>,
    events: &mut redb::Table<u64, &str>,
    run: u64,
    client_id: &str,
    row: &OrderRow,
    note: &str,
) -> Result<(), StoreError> {
    let mut row = row.clone();
    row.reason = Some(note.to_string());
    let text = serde_json::to_string(&row).map_err(StoreError::encode)?;
    orders.insert((run, client_id), text.as_str())?;
    let ev = OrderEventRow {
        run,
        client_id: client_id.to_string(),
        status: row.status.clone(),
        ts: row.updated,
        note: Some(note.to_string()),
    };
    let text = serde_json::to_string(&ev).map_err(StoreError::encode)?;
    let k = next_key(events)?;
    events.insert(k, text.as_str())?;
    Ok(())
}

/// Lots already filled on an order row (from its decimal `filled`).
const FILLED_AT_VENUE: (OrderStatus, &str) =
    (OrderStatus::Filled, "filled at the paper venue (its log)");

/// What a venue's own record says of the orders of the runs it covers.
#[derive(Clone, Debug, Default)]
pub struct VenueAnswers {
    /// The runs the record covers: an order of another run is not asked about.
    pub runs: std::collections::BTreeSet<u64>,
    /// By (run, client id); an order of a covered run missing here never reached it.
    pub orders: std::collections::BTreeMap<(u64, String), VenueAnswer>,
}

/// What a venue's own record says of one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueAnswer {
    pub word: VenueWord,
    /// Base units the venue filled.
    pub filled: rust_decimal::Decimal,
}

/// How an order stands at the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueWord {
    Filled,
    Cancelled,
    Rejected,
    /// Still open when the run ended.
    Open,
}

fn filled_lots(row: &OrderRow, instruments: &[Instrument]) -> i64 {
    instruments
        .iter()
        .find(|i| i.symbol == row.symbol)
        .and_then(|i| {
            use rust_decimal::prelude::ToPrimitive;
            (row.filled / i.lot_size).round().to_i64()
        })
        .unwrap_or(0)
}
