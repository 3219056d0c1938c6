//! Tables, rows and the schema version, with forward migrations.
//!
//! Rows are JSON text (money as decimal strings, never floats): readable by any tool,
//! and a new optional field needs no migration. Keys are typed so ranges and ordering are
//! cheap: fills by `(run, venue fill seq)`, orders by `(run, client id)` (client ids
//! restart with every run), append-only logs by a global counter.

use crate::domain::{OrderRequest, OrderTag, Timestamp, TradingState};
use crate::engine::{Alert, AuditEntry, ClosedTrade, Trip};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The schema this pit writes. Older databases are migrated forward on open; newer ones
/// are refused.
pub const SCHEMA_VERSION: u64 = 4;

/// `"version" -> schema version`.
pub const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema_version");
/// Run id -> [`RunRow`].
pub const RUNS: TableDefinition<u64, &str> = TableDefinition::new("runs");
/// (run, client id) -> [`OrderRow`], the latest state of each order.
pub const ORDERS: TableDefinition<(u64, &str), &str> = TableDefinition::new("orders");
/// (run, client id) of every order still open in [`ORDERS`]: what a restart must settle,
/// read without walking the whole order history (start-up costs the same after a day or a
/// year of trading). Kept in step with `ORDERS` in the same transactions.
pub const OPEN_ORDERS: TableDefinition<(u64, &str), ()> = TableDefinition::new("open_orders");
/// (run, symbol) -> the highest fill seq stored for it: where a live venue's trade
/// history picks up after a restart, read without walking every fill.
pub const LAST_FILLS: TableDefinition<(u64, &str), u64> = TableDefinition::new("last_fills");
/// Counter -> [`OrderEventRow`], every state transition.
pub const ORDER_EVENTS: TableDefinition<u64, &str> = TableDefinition::new("order_events");
/// (run, venue fill seq) -> [`FillRow`].
pub const FILLS: TableDefinition<(u64, u64), &str> = TableDefinition::new("fills_v2");
/// Symbol -> [`PositionRow`].
pub const POSITIONS: TableDefinition<&str, &str> = TableDefinition::new("positions");
/// Counter -> [`TradeRow`], closed round trips.
pub const TRADES: TableDefinition<u64, &str> = TableDefinition::new("trades");
/// Counter -> [`AlertRow`].
pub const ALERTS: TableDefinition<u64, &str> = TableDefinition::new("alerts");
/// `YYYY-MM-DD` -> [`DailyRow`].
pub const DAILY: TableDefinition<&str, &str> = TableDefinition::new("daily_stats");
/// Strategy name -> [`StrategyRow`].
pub const STRATEGIES: TableDefinition<&str, &str> = TableDefinition::new("strategies");
/// `"trading"` -> [`StateRow`] (the trading state and the kill-switch latch).
pub const STATE: TableDefinition<&str, &str> = TableDefinition::new("state");
/// Counter -> [`AuditRow`], every operator command and its outcome.
pub const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");
/// Running totals: `net_realized` (realized minus fees, all time), `equity_peak` (the
/// highest equity reached, for the drawdown limit).
pub const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Symbol -> [`AgedRow`]: the aged-position manager's state for the position open on it
/// (schema 4). A row goes when the manager no longer follows a position there.
pub const AGED: TableDefinition<&str, &str> = TableDefinition::new("aged_positions");

/// Version 1 kept fills by a global counter, without the run.
pub const FILLS_V1: TableDefinition<u64, &str> = TableDefinition::new("fills");

/// One start of pit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: u64,
    /// Wall-clock start, RFC 3339.
    pub started: String,
    /// Engine time at start.
    pub engine_start: Timestamp,
    /// `sim/paper`, `headless` or `console`.
    pub mode: String,
    /// pit's version.
    pub version: String,
    pub seed: u64,
    /// The effective configuration (Debug rendering of the typed config).
    pub config: String,
    pub pid: u32,
}

/// An order's latest state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub run: u64,
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub price: Option<Decimal>,
    pub qty: Decimal,
    pub filled: Decimal,
    pub avg_price: Option<Decimal>,
    /// `NEW`, `ACKED`, `PARTIAL`, `FILLED`, `CANCELLED`, `REJECTED`.
    pub status: String,
    pub reduce_only: bool,
    pub owner: String,
    pub tag: OrderTag,
    pub created: Timestamp,
    pub updated: Timestamp,
    #[serde(default)]
    pub reason: Option<String>,
    /// The request as sent, so an open order can be placed again after a restart.
    pub request: OrderRequest,
    /// A bracket's entry or leg, an algorithm's child: never placed again on its own
    /// after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<crate::domain::OrderGroup>,
}

/// The prefix of a working bracket's key in `meta` (`bracket:<run>:<n>`, the bracket as
/// JSON), removed when it ends: what a restart finds there was live at the crash.
pub const BRACKET_KEY: &str = "bracket:";

/// The prefix of a working execution algorithm's key in `meta` (`algo:<run>:<n>`), as
/// [`BRACKET_KEY`] for brackets.
pub const ALGO_KEY: &str = "algo:";

impl OrderRow {
    /// Still working at the venue when last heard of.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "NEW" | "ACKED" | "PARTIAL")
    }
}

/// One order state transition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderEventRow {
    pub run: u64,
    pub client_id: String,
    pub status: String,
    pub ts: Timestamp,
    #[serde(default)]
    pub note: Option<String>,
}

/// One fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FillRow {
    #[serde(default)]
    pub run: u64,
    pub seq: u64,
    pub ts: Timestamp,
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub price: Decimal,
    pub qty: Decimal,
    pub fee: Decimal,
    pub liquidity: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tag: Option<OrderTag>,
    /// The part of the fee taken in the base coin (base units; see
    /// [`crate::domain::Fill::fee_base`]): the position moved by `qty` less this on a buy.
    /// Absent (zero) on paper and in stores written before it.
    #[serde(default, skip_serializing_if = "Decimal::is_zero")]
    pub fee_base: Decimal,
}

impl FillRow {
    /// Signed size: positive for a buy.
    pub fn signed_qty(&self) -> Decimal {
        if self.side.eq_ignore_ascii_case("BUY") {
            self.qty
        } else {
            -self.qty
        }
    }
}

/// A net position, written in the same transaction as the fill that changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionRow {
    pub symbol: String,
    pub qty: Decimal,
    pub avg_price: Decimal,
    /// All-time realized PnL, gross of fees.
    pub realized: Decimal,
    pub fees: Decimal,
    pub updated: Timestamp,
    /// `(run, fill seq)` of the last fill applied.
    #[serde(default)]
    pub last_fill: (u64, u64),
    /// The round trip open on it: when it opened, who opened it, its fees and realized
    /// PnL so far (absent when flat, and in rows written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip: Option<Trip>,
}

/// A closed round trip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeRow {
    pub run: u64,
    #[serde(flatten)]
    pub trade: ClosedTrade,
}

/// An alert as raised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub run: u64,
    #[serde(flatten)]
    pub alert: Alert,
}

/// The trading day's figures so far (`meta.trading_day`): the day as the engine counts
/// it from `engine.day_boundary`, which may not be midnight, so a restart restores the
/// day's loss from the day's own fills rather than from a calendar date's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TradingDayRow {
    /// The day boundary the day was counted with, minutes after 00:00 UTC.
    pub boundary_minutes: u32,
    /// The day number ([`crate::domain::TimeOfDay::day_of`]).
    pub day: i64,
    /// Realized PnL of the day, gross of fees.
    pub realized: Decimal,
    pub fees: Decimal,
}

/// One day's figures (UTC days of engine time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyRow {
    pub date: String,
    /// Realized equity (realized - fees, all time) when the day's first fill came.
    pub starting_equity: Decimal,
    /// Realized PnL, gross of fees.
    pub realized: Decimal,
    pub fees: Decimal,
    /// Closed round trips, and how many won and lost (net of fees).
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    /// Traded notional, quote currency.
    pub volume: Decimal,
}

/// A strategy's persisted switch and parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    pub name: String,
    pub enabled: bool,
    /// Its parameters: its section's keys as TOML text (as the last run started, or as
    /// the console set them).
    #[serde(default)]
    pub params: String,
    /// Its built-in's section (`market_maker`, …); empty in rows of older versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The parameters were set from the console (or the strategy added there) and are
    /// used over the config file's at the next start, until the file says the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub console: bool,
    /// An instance removed from the console: not built at the next start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// Its number (0-based) when the console set it: instances added there come back in
    /// this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// An instance added from the console: built again at the next start though the file
    /// does not list it (an edit of the file's instance is not: the file took it out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub added: bool,
}

/// The trading state and the kill-switch latch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateRow {
    pub state: TradingState,
    pub halt_reason: Option<String>,
    /// Set while halted: a restart comes up HALTED until a person re-arms.
    pub kill_latched: bool,
    pub ts: Timestamp,
}

/// An operator command and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub run: u64,
    /// Wall-clock time it was written, RFC 3339.
    pub wall: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The aged-position manager's state for one position, as the engine emitted it.
pub type AgedRow = crate::engine::aged::AgedState;

/// `YYYY-MM-DD` of a timestamp (UTC).
pub fn date_of(ts: Timestamp) -> String {
    let rfc = ts.to_rfc3339();
    rfc.get(..10).unwrap_or(&rfc).to_string()
}

/// The next counter key of an append-only table.
pub fn next_key(t: &redb::Table<u64, &str>) -> Result<u64, redb::StorageError> {
    Ok(t.last()?.map_or(1, |(k, _)| k.value() + 1))
}

/// Create every table of the current schema (no-op for existing ones).
pub fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(SCHEMA)?;
    tx.open_table(RUNS)?;
    tx.open_table(ORDERS)?;
    tx.open_table(OPEN_ORDERS)?;
    tx.open_table(LAST_FILLS)?;
    tx.open_table(ORDER_EVENTS)?;
    tx.open_table(FILLS)?;
    tx.open_table(POSITIONS)?;
    tx.open_table(TRADES)?;
    tx.open_table(ALERTS)?;
    tx.open_table(DAILY)?;
    tx.open_table(STRATEGIES)?;
    tx.open_table(STATE)?;
    tx.open_table(AUDIT)?;
    tx.open_table(META)?;
    tx.open_table(AGED)?;
    Ok(())
}

/// Migrate from `from` to [`SCHEMA_VERSION`], one step at a time, in `tx`.
pub fn migrate(tx: &WriteTransaction, from: u64) -> Result<(), super::StoreError> {
    let mut v = from;
    while v < SCHEMA_VERSION {
        match v {
            1 => migrate_1_to_2(tx)?,
            2 => migrate_2_to_3(tx)?,
            3 => migrate_3_to_4(tx)?,
            other => {
                return Err(super::StoreError::Schema(format!(
                    "no migration from schema version {other}"
                )));
            }
        }
        v += 1;
    }
    create_tables(tx)?;
    tx.open_table(SCHEMA)?.insert("version", SCHEMA_VERSION)?;
    Ok(())
}

/// Version 3 -> 4: the aged-position manager's table ([`AGED`]), empty: no position of
/// an older pit was followed by it (their ages still count from the round trip kept with
/// each position).
fn migrate_3_to_4(tx: &WriteTransaction) -> Result<(), super::StoreError> {
    tx.open_table(AGED)?;
    Ok(())
}

/// Version 2 -> 3: the open-order index ([`OPEN_ORDERS`]) and the last fill per run and
/// symbol ([`LAST_FILLS`]) are built from the orders and the fills (the one walk over the
/// history; restarts after it read only these).
fn migrate_2_to_3(tx: &WriteTransaction) -> Result<(), super::StoreError> {
    {
        let fills = tx.open_table(FILLS)?;
        let mut last = tx.open_table(LAST_FILLS)?;
        for item in fills.iter()? {
            let (k, v) = item?;
            let row: FillRow = serde_json::from_str(v.value()).map_err(|e| {
                super::StoreError::Corrupt(format!("unreadable row in fills_v2: {e}"))
            })?;
            let (run, seq) = k.value();
            let key = (run, row.symbol.as_str());
            let known = last.get(key)?.map(|g| g.value());
            if known.is_none_or(|k| seq > k) {
                last.insert(key, seq)?;
            }
        }
    }
    let orders = tx.open_table(ORDERS)?;
    let mut open = tx.open_table(OPEN_ORDERS)?;
    for item in orders.iter()? {
        let (k, v) = item?;
        let row: OrderRow = serde_json::from_str(v.value())
            .map_err(|e| super::StoreError::Corrupt(format!("unreadable row in orders: {e}")))?;
        if row.is_open() {
            let (run, id) = k.value();
            open.insert((run, id), ())?;
        }
    }
    Ok(())
}

/// Version 1 -> 2: fills move from a global counter to `(run, seq)` keys (version 1 had
/// no runs: its fills become run 0); daily stats are rebuilt from them.
fn migrate_1_to_2(tx: &WriteTransaction) -> Result<(), super::StoreError> {
    let mut rows = Vec::new();
    {
        let old = tx.open_table(FILLS_V1)?;
        for item in old.iter()? {
            let (_, v) = item?;
            let row: FillRow = serde_json::from_str(v.value()).map_err(|e| {
                super::StoreError::Corrupt(format!("version-1 fill row unreadable: {e}"))
            })?;
            rows.push(row);
        }
    }
    {
        let mut fills = tx.open_table(FILLS)?;
        let mut daily = tx.open_table(DAILY)?;
        for mut row in rows {
            row.run = 0;
            let text = serde_json::to_string(&row).map_err(super::StoreError::encode)?;
            fills.insert((0, row.seq), text.as_str())?;
            let date = date_of(row.ts);
            let mut d: DailyRow = match daily.get(date.as_str())? {
                Some(g) => serde_json::from_str(g.value()).unwrap_or_default(),
                None => DailyRow {
                    date: date.clone(),
                    ..DailyRow::default()
                },
            };
            d.fees += row.fee;
            d.volume += row.price * row.qty;
            let text = serde_json::to_string(&d).map_err(super::StoreError::encode)?;
            daily.insert(date.as_str(), text.as_str())?;
        }
    }
    tx.delete_table(FILLS_V1)?;
    Ok(())
}
