//! `config.toml` -> typed [`Config`]. Unknown keys and bad values are refused with the key
//! and the line: every section is `deny_unknown_fields`, and values that parse but make no
//! sense are found by each section's `validate()` and located in the file.

use crate::app::ConsoleConfig;
use crate::domain::{Instrument, InstrumentId, Invalid, Qty};
use crate::engine::risk::RiskLimits;
use crate::engine::{EngineConfig, KillSwitchConfig};
use crate::strategy::StrategiesConfig;
use crate::venue::paper::PaperParams;
use crate::venue::sim::params::SimParams;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Syntax errors, unknown keys, wrong types, bad values.
    #[error("{path}:{line}: {key}: {message}", line = line.map_or("?".to_string(), |l| l.to_string()), key = if key.is_empty() { "(document)" } else { key })]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// A mistake found after loading (e.g. the theme file `console.theme` names is missing),
    /// located like every other: the file, the key's line (read again from `path`), the key.
    pub fn at_key(path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
        let line = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| line_of_key(&text, key));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// One instrument, `[[instruments]]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Venue symbol, e.g. "BTC-USD".
    pub symbol: String,
    /// Smallest price increment.
    pub tick_size: Decimal,
    /// Smallest size increment.
    pub lot_size: Decimal,
    /// Smallest order size (base units); defaults to one lot.
    #[serde(default)]
    pub min_qty: Option<Decimal>,
    /// The simulated market's opening mid price (sim only).
    #[serde(default)]
    pub start_price: Option<Decimal>,
    /// This instrument's own sanity band, percent from the last trusted mid (replaces
    /// `[book] sanity_band_pct` for it; 0 turns its band off): a volatile pair wants a
    /// wider band than a stable one.
    #[serde(default)]
    pub sanity_band_pct: Option<u32>,
    /// Coins per contract where the venue writes a linear contract's book and trade sizes
    /// in contracts (OKX swaps: "Get instruments" `ctVal`, e.g. 0.01 for BTC-USDT-SWAP);
    /// `lot_size` and every size in pit stay in coins.
    #[serde(default)]
    pub contract_value: Option<Decimal>,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Market data source: "sim" (the built-in simulated market).
    pub venue: String,
    /// Order execution: "paper" (the built-in paper venue).
    pub execution: String,
    /// Seed of the simulated market (the same seed and config give the same fills).
    pub seed: u64,
    pub instruments: Vec<InstrumentConfig>,
    pub engine: EngineConfig,
    pub sim: SimParams,
    pub paper: PaperParams,
    pub risk: RiskLimits,
    pub kill_switch: KillSwitchConfig,
    /// `[brackets]`: entry orders with take-profit and stop-loss legs.
    pub brackets: crate::engine::BracketConfig,
    /// `[algos]`: execution algorithms (TWAP, VWAP split) for large orders.
    pub algos: crate::engine::AlgoConfig,
    pub strategies: StrategiesConfig,
    /// `[sizing]`: capital and risk per trade for orders sized in risk units.
    pub sizing: crate::strategy::sizing::SizingParams,
    pub log: crate::logging::LogConfig,
    pub console: ConsoleConfig,
    /// `[store]`: the redb database.
    pub store: crate::store::StoreConfig,
    /// Record the raw frames of every market-data connection under `recording.dir`.
    pub record: bool,
    /// `[recording]`: where recordings go and how files rotate.
    pub recording: crate::record::RecordConfig,
    /// `[live]`: the live market-data connection (real venues).
    pub live: crate::venue::exchanges::entry::LiveSettings,
    /// `[book]`: how far the books trust a venue's data (sanity band, sequence jumps).
    pub book: crate::venue::exchanges::decode::BookLimits,
    /// `[metrics]`: the Prometheus endpoint (off unless `listen` is set).
    pub metrics: crate::metrics::MetricsConfig,
    /// `[notify]`: messages for CRITICAL alerts, the kill switch, big fills, the day's end.
    pub notify: crate::notify::NotifyConfig,
    /// `[[sessions]]`: trading windows per instrument (none: trade always).
    pub sessions: Vec<crate::engine::session::SessionConfig>,
    /// `[aged_positions]`: closing positions left open too long.
    pub aged_positions: crate::engine::aged::AgedParams,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            venue: "sim".into(),
            execution: "paper".into(),
            seed: 42,
            instruments: default_instruments(),
            engine: EngineConfig::default(),
            sim: SimParams::default(),
            paper: PaperParams::default(),
            risk: RiskLimits::default(),
            kill_switch: KillSwitchConfig::default(),
            brackets: crate::engine::BracketConfig::default(),
            algos: crate::engine::AlgoConfig::default(),
            strategies: StrategiesConfig::default(),
            sizing: crate::strategy::sizing::SizingParams::default(),
            log: crate::logging::LogConfig::default(),
            console: ConsoleConfig::default(),
            store: crate::store::StoreConfig::default(),
            record: false,
            recording: crate::record::RecordConfig::default(),
            live: crate::venue::exchanges::entry::LiveSettings::default(),
            book: crate::venue::exchanges::decode::BookLimits::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            notify: crate::notify::NotifyConfig::default(),
            sessions: Vec::new(),
            aged_positions: crate::engine::aged::AgedParams::default(),
        }
    }
}

fn default_instruments() -> Vec<InstrumentConfig> {
    vec![
        InstrumentConfig {
            symbol: "BTC-USD".into(),
            tick_size: Decimal::new(1, 1),
            lot_size: Decimal::new(1, 3),
            min_qty: None,
            start_price: Some(Decimal::from(60_000)),
            sanity_band_pct: None,
            contract_value: None,
        },
        InstrumentConfig {
            symbol: "ETH-USD".into(),
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::new(1, 2),
            min_qty: None,
            start_price: Some(Decimal::from(3_000)),
            sanity_band_pct: None,
            contract_value: None,
        },
    ]
}

/// Market-data sources: the simulated market, then every exchange of the venue registry.
pub fn venues() -> Vec<&'static str> {
    std::iter::once(crate::venue::sim::wire::VENUE)
        .chain(crate::venue::exchanges::registry::names())
        .collect()
}

pub const EXECUTIONS: &[&str] = &["paper"];

impl Config {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse and check config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let line = span.as_ref().map(|s| line_of(text, s.start));
            let key = span
                .as_ref()
                .and_then(|s| key_at(text, s.start))
                .unwrap_or_default();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        if let Some((offset, key, message)) = unrepresentable_number(text) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: Some(line_of(text, offset)),
                key,
                message,
            });
        }
        cfg.park_switched_off_strategies();
        cfg.validate().map_err(|inv| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of_key(text, &inv.key),
            key: inv.key,
            message: inv.message,
        })?;
        Ok(cfg)
    }

    /// A strategy switched off whose `symbol` is not a configured instrument (the
    /// defaults name `BTC-USD`; a config for another market need not mention every
    /// strategy) is built on the first instrument instead, as `pit run --symbol` and a
    /// replay do: its symbol matters only if it is switched on, and the strategies pane
    /// shows the instrument it trades. A strategy switched on keeps its symbol, and an
    /// unknown one is refused with its key.
    pub fn park_switched_off_strategies(&mut self) {
        let Some(first) = self.instruments.first().map(|i| i.symbol.clone()) else {
            return;
        };
        for b in &crate::strategy::BUILTINS {
            let Some(symbol_of) = b.symbol else {
                continue;
            };
            if (b.enabled)(&self.strategies) {
                continue;
            }
            let symbol = symbol_of(&mut self.strategies);
            if !self.instruments.iter().any(|i| &i.symbol == symbol) {
                tracing::info!(
                    strategy = b.section,
                    configured = %symbol,
                    trades = %first,
                    "a switched-off strategy's symbol is not configured: it is built on the first instrument"
                );
                *symbol = first.clone();
            }
        }
    }

    /// Settings that are valid but cannot work as meant, said at start (printed, and
    /// raised as WARN alerts once the engine runs): a paper market maker whose quoted
    /// spread cannot pay the maker fees of a round trip (both sides) loses on every one.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mm = &self.strategies.market_maker;
        let fees = self.paper.maker_fee_bps * Decimal::TWO;
        if mm.enabled && self.execution == "paper" && mm.spread_bps <= fees {
            out.push(format!(
                "warning: strategies.market_maker.spread_bps {} is not above twice \
                 paper.maker_fee_bps ({} for a round trip): its maker fees take at least the \
                 spread it quotes, so it cannot earn; quote wider or set the fee tier you \
                 really pay (a negative maker fee is a rebate)",
                mm.spread_bps.normalize(),
                fees.normalize()
            ));
        }
        out
    }

    /// Cross-checks and per-section checks; keys are full dotted paths.
    pub fn validate(&self) -> Result<(), Invalid> {
        fn within(section: &str, r: Result<(), Invalid>) -> Result<(), Invalid> {
            r.map_err(|i| Invalid::new(format!("{section}.{}", i.key), i.message))
        }
        within("book", self.book.validate())?;
        within("metrics", self.metrics.validate())?;
        within("notify", self.notify.validate())?;
        let venues = venues();
        if !venues.contains(&self.venue.as_str()) {
            return Err(Invalid::new(
                "venue",
                format!(
                    "unknown venue '{}'; known: {}",
                    self.venue,
                    venues.join(", ")
                ),
            ));
        }
        if !EXECUTIONS.contains(&self.execution.as_str()) {
            return Err(Invalid::new(
                "execution",
                format!(
                    "unknown execution '{}'; known: {}",
                    self.execution,
                    EXECUTIONS.join(", ")
                ),
            ));
        }
        if self.instruments.is_empty() {
            return Err(Invalid::new(
                "instruments",
                "at least one instrument is needed",
            ));
        }
        if self.instruments.len() > usize::from(u16::MAX) {
            return Err(Invalid::new("instruments", "too many instruments"));
        }
        for (n, ic) in self.instruments.iter().enumerate() {
            let key = |k: &str| format!("instruments[{n}].{k}");
            if ic.symbol.trim().is_empty() {
                return Err(Invalid::new(key("symbol"), "must not be empty"));
            }
            if self.instruments[..n].iter().any(|o| o.symbol == ic.symbol) {
                return Err(Invalid::new(
                    key("symbol"),
                    format!("'{}' is listed twice", ic.symbol),
                ));
            }
            if ic.tick_size <= Decimal::ZERO {
                return Err(Invalid::new(key("tick_size"), "must be greater than 0"));
            }
            if ic.lot_size <= Decimal::ZERO {
                return Err(Invalid::new(key("lot_size"), "must be greater than 0"));
            }
            if let Some(pct) = ic.sanity_band_pct
                && pct > 1000
            {
                return Err(Invalid::new(
                    key("sanity_band_pct"),
                    format!(
                        "{pct}: at most 1000 (percent from the last trusted mid; 0 turns the band off)"
                    ),
                ));
            }
            if let Some(ct) = ic.contract_value {
                let contract_lot = (ct > Decimal::ZERO)
                    .then(|| ic.lot_size.checked_div(ct))
                    .flatten()
                    .map(|l| l.normalize());
                if !contract_lot.is_some_and(|l| l > Decimal::ZERO && l.scale() <= 18) {
                    return Err(Invalid::new(
                        key("contract_value"),
                        format!(
                            "{}: must be greater than 0, with lot_size {} a whole or decimal number of contracts",
                            ct.normalize(),
                            ic.lot_size.normalize()
                        ),
                    ));
                }
            } else if self.venue == "okx" && okx_contract(&ic.symbol) && !okx_inverse(&ic.symbol) {
                return Err(Invalid::new(
                    key("symbol"),
                    format!(
                        "'{}' is an OKX linear swap or future, whose book and trade sizes OKX writes in contracts: set contract_value (its ctVal from \"Get instruments\", e.g. 0.01 for BTC-USDT-SWAP)",
                        ic.symbol
                    ),
                ));
            }
            if let Some(m) = ic.min_qty
                && (m <= Decimal::ZERO || (m / ic.lot_size).fract() != Decimal::ZERO)
            {
                return Err(Invalid::new(
                    key("min_qty"),
                    format!("must be a positive multiple of lot_size {}", ic.lot_size),
                ));
            }
            if self.venue == "sim" {
                match ic.start_price {
                    Some(p) if p > ic.tick_size * Decimal::from(100) => {}
                    Some(_) => {
                        return Err(Invalid::new(
                            key("start_price"),
                            "must be at least 100 ticks (the simulated book needs room below the mid)",
                        ));
                    }
                    None => {
                        return Err(Invalid::new(
                            key("start_price"),
                            "the simulated market needs a start_price for every instrument",
                        ));
                    }
                }
            }
        }
        self.size_limits_on_the_grid()?;
        within("engine", self.engine.validate())?;
        within("kill_switch", self.kill_switch.validate())?;
        within("brackets", self.brackets.validate())?;
        within("algos", self.algos.validate())?;
        within("sim", self.sim.validate())?;
        within("paper", self.paper.validate())?;
        within("risk", self.risk.validate())?;
        within("strategies", self.strategies_check())?;
        within("sizing", self.sizing.validate())?;
        within("console", self.console.validate())?;
        within("store", self.store.validate())?;
        within("recording", self.recording.validate())?;
        within("live", self.live.validate())?;
        within("log", self.log.validate())?;
        within("aged_positions", self.aged_positions.validate())?;
        crate::engine::session::build_sessions(&self.sessions, &self.instrument_list())?;
        Ok(())
    }

    fn strategies_check(&self) -> Result<(), Invalid> {
        crate::strategy::build(&self.strategies, &self.instrument_list())?;
        // A strategy whose orders are larger than `risk.max_order_qty` would start and have
        // every order refused: say so now, naming both keys.
        let max = self.risk.max_order_qty;
        if max > Decimal::ZERO {
            for b in &crate::strategy::BUILTINS {
                if let Some(size) = b.size
                    && size(&self.strategies) > max
                {
                    return Err(Invalid::new(
                        format!("{}.size", b.section),
                        format!(
                            "{} exceeds risk.max_order_qty {}: every order of strategy '{}' would be refused; lower the size or raise the limit",
                            size(&self.strategies).normalize(),
                            max.normalize(),
                            b.name
                        ),
                    ));
                }
            }
            let names = crate::strategy::edit::instance_names(&self.strategies);
            for (n, (inst, name)) in self.strategies.instance.iter().zip(&names).enumerate() {
                let size = crate::strategy::edit::table_size(&inst.params);
                if let Some(size) = size.filter(|s| *s > max) {
                    return Err(Invalid::new(
                        format!("instance[{n}].size"),
                        format!(
                            "{} exceeds risk.max_order_qty {}: every order of strategy '{name}' would be refused; lower the size or raise the limit",
                            size.normalize(),
                            max.normalize(),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `risk.max_order_qty` and `risk.max_position` are sizes in base units: a positive
    /// value below an instrument's smallest order rounds to zero lots on its grid, so no
    /// order of that instrument could ever pass. (A value that reads as exactly 0 is "off".)
    fn size_limits_on_the_grid(&self) -> Result<(), Invalid> {
        let limits = [
            ("max_order_qty", self.risk.max_order_qty),
            ("max_position", self.risk.max_position),
        ];
        for inst in self.instrument_list() {
            let smallest = inst.qty(Qty(inst.min_qty.0.max(1)));
            for (key, value) in limits {
                if value > Decimal::ZERO && value < smallest {
                    return Err(Invalid::new(
                        format!("risk.{key}"),
                        format!(
                            "{} is below the smallest order of {} ({}, lot {}): it rounds to 0 lots on the grid and no order could pass; use 0 to turn the check off",
                            value.normalize(),
                            inst.symbol,
                            smallest.normalize(),
                            inst.lot_size.normalize()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The instruments whose venue writes sizes in contracts: coins per contract, by symbol.
    pub fn contract_values(&self) -> std::collections::BTreeMap<String, Decimal> {
        self.instruments
            .iter()
            .filter_map(|ic| Some((ic.symbol.clone(), ic.contract_value?)))
            .collect()
    }

    /// The instruments that set a sanity band of their own, by symbol.
    pub fn sanity_bands(&self) -> std::collections::BTreeMap<String, u32> {
        self.instruments
            .iter()
            .filter_map(|ic| Some((ic.symbol.clone(), ic.sanity_band_pct?)))
            .collect()
    }

    /// The configured instruments, with ids in file order.
    pub fn instrument_list(&self) -> Vec<Instrument> {
        self.instruments
            .iter()
            .enumerate()
            .map(|(n, ic)| {
                let min_lots = ic
                    .min_qty
                    .map(|m| (m / ic.lot_size).trunc())
                    .and_then(|d| i64::try_from(d).ok())
                    .unwrap_or(1)
                    .max(1);
                Instrument::new(
                    InstrumentId(n as u16),
                    ic.symbol.clone(),
                    self.venue.clone(),
                    ic.tick_size,
                    ic.lot_size,
                    Qty(min_lots),
                )
            })
            .collect()
    }

    /// Start prices for the simulated market, in instrument order.
    pub fn start_prices(&self) -> Vec<Decimal> {
        self.instruments
            .iter()
            .map(|i| i.start_price.unwrap_or(Decimal::ONE_HUNDRED))
            .collect()
    }
}

/// The first number written as non-zero that the decimal type would read as 0 (it keeps
/// 28 decimal places): `max_order_qty = 1e-29` would silently mean "off". Returns the
/// value's offset, its dotted key and the message.
fn unrepresentable_number(text: &str) -> Option<(usize, String, String)> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    tiny_in_table(doc.get_ref(), &mut path)
}

fn tiny_in_table(
    table: &toml::de::DeTable<'_>,
    path: &mut Vec<String>,
) -> Option<(usize, String, String)> {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if let Some(found) = tiny_in_value(v, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

fn tiny_in_value(
    v: &toml::Spanned<toml::de::DeValue<'_>>,
    path: &mut Vec<String>,
) -> Option<(usize, String, String)> {
    match v.get_ref() {
        toml::de::DeValue::Table(t) => tiny_in_table(t, path),
        toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(n, item)| {
            let mut sub = path.clone();
            if let Some(last) = sub.last_mut() {
                last.push_str(&format!("[{n}]"));
            }
            tiny_in_value(item, &mut sub)
        }),
        toml::de::DeValue::Float(f) => {
            let x: f64 = f.as_str().replace('_', "").parse().ok()?;
            (x != 0.0 && x.is_finite() && x.abs() < 1e-28).then(|| {
                (
                    v.span().start,
                    path.join("."),
                    format!(
                        "{} is too small to hold (28 decimal places): it would read as 0, which means \"off\"; write 0 to turn it off, or a value on the instrument's grid",
                        f.as_str()
                    ),
                )
            })
        }
        _ => None,
    }
}

/// 1-based line of a byte offset.
/// An OKX swap (`-SWAP`) or future (`BTC-USD-220527`: two dashes and more): OKX writes
/// their sizes in contracts ("Get instruments": `lotSz` "If it is a derivatives contract,
/// the value is the number of contracts"; the `books` and `trades` channels' `sz` alike).
pub fn okx_contract(symbol: &str) -> bool {
    symbol.ends_with("-SWAP") || symbol.matches('-').count() >= 2
}

/// An OKX inverse contract (`BTC-USD-SWAP`, `BTC-USD-220527`: margined in the coin, its
/// contract value in USD): its sizes are shown in contracts, there being no fixed number
/// of coins per contract.
pub fn okx_inverse(symbol: &str) -> bool {
    okx_contract(symbol) && symbol.split('-').nth(1) == Some("USD")
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The dotted key path whose key or value contains `offset`, if any.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_path(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

/// Depth-first search for the key or value at `offset`. Table headers' spans cover only the
/// header, so every sub-table is searched whatever its span.
fn find_path(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if k.span().contains(&offset) || find_in_value(v, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(
    v: &toml::Spanned<toml::de::DeValue<'_>>,
    offset: usize,
    path: &mut Vec<String>,
) -> bool {
    match v.get_ref() {
        toml::de::DeValue::Table(t) => find_path(t, offset, path) || v.span().contains(&offset),
        toml::de::DeValue::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                let mut sub = Vec::new();
                if find_in_value(item, offset, &mut sub) {
                    if let Some(last) = path.last_mut() {
                        last.push_str(&format!("[{n}]"));
                    }
                    path.extend(sub);
                    return true;
                }
            }
            v.span().contains(&offset)
        }
        _ => v.span().contains(&offset),
    }
}

/// The line where a dotted key (like `risk.max_order_qty` or `instruments[1].tick_size`)
/// is written; the line of its nearest written parent when the key itself is absent.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut best: Option<usize> = None;
    let parts: Vec<&str> = dotted.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name) else {
            return best;
        };
        best = Some(line_of(text, k.span().start));
        let mut value = v;
        if let (Some(i), toml::de::DeValue::Array(items)) = (index, v.get_ref()) {
            match items.get(i) {
                Some(item) => {
                    best = Some(line_of(text, item.span().start));
                    value = item;
                }
                None => return best,
            }
        }
        match value.get_ref() {
            toml::de::DeValue::Table(t) if n + 1 < parts.len() => table = t,
            _ => return best,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (Option<usize>, String, String) {
        match Config::parse(text, Path::new("test.toml")) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = Config::parse("", Path::new("x")).unwrap();
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let (line, key, msg) =
            err("venue = \"sim\"\n\n[risk]\nmax_order_qty = 1\nmax_ordr_notional = 5\n");
        assert_eq!(line, Some(5));
        assert_eq!(key, "risk.max_ordr_notional");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn wrong_type_is_named_with_line() {
        let (line, key, msg) = err("[engine]\ntimer_ms = \"fast\"\n");
        assert_eq!(line, Some(2));
        assert_eq!(key, "engine.timer_ms");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn brackets_and_algos_keys_are_checked_and_named() {
        let (line, key, msg) = err("[algos]\nslices = 10\nparticipation_cap = 1.5\n");
        assert_eq!((line, key.as_str()), (Some(3), "algos.participation_cap"));
        assert!(msg.contains("0 (off) to 1"), "{msg}");
        let (_, key, _) = err("[algos]\nsplit_ioc_pct = 120\n");
        assert_eq!(key, "algos.split_ioc_pct");
        let (_, key, msg) = err("[brackets]\nstop_trigger = \"bid\"\n");
        assert_eq!(key, "brackets.stop_trigger");
        assert!(msg.contains("either"), "{msg}");
        let (_, key, _) = err("[brackets]\nstop_retry_ms = 0\n");
        assert_eq!(key, "brackets.stop_retry_ms");
        // The shipped file's values are the defaults.
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
                .expect("config.toml");
        let cfg = Config::parse(&shipped, Path::new("config.toml")).expect("shipped config");
        assert_eq!(cfg.brackets, crate::engine::BracketConfig::default());
        assert_eq!(cfg.algos, crate::engine::AlgoConfig::default());
    }

    #[test]
    fn bad_value_is_named_with_line() {
        let (line, key, msg) = err("seed = 1\n[engine]\ntimer_ms = 0\n");
        assert_eq!(line, Some(3));
        assert_eq!(key, "engine.timer_ms");
        assert!(msg.contains("at least 1"), "{msg}");
    }

    #[test]
    fn bad_instrument_value_points_into_the_array() {
        let text = "[[instruments]]\nsymbol = \"A\"\ntick_size = 0.1\nlot_size = 1\nstart_price = 100\n\n[[instruments]]\nsymbol = \"B\"\ntick_size = 0\nlot_size = 1\nstart_price = 100\n";
        let (line, key, _) = err(text);
        assert_eq!(key, "instruments[1].tick_size");
        assert_eq!(line, Some(9));
    }

    #[test]
    fn an_instruments_own_sanity_band_is_read_and_checked_with_key_and_line() {
        let inst = |sym: &str, band: &str| {
            format!(
                "[[instruments]]\nsymbol = \"{sym}\"\ntick_size = 0.1\nlot_size = 0.001\nstart_price = 100\n{band}"
            )
        };
        let text = format!(
            "{}\n{}",
            inst("BTC-USD", ""),
            inst("ETH-USD", "sanity_band_pct = 5\n")
        );
        let c = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(
            c.sanity_bands().into_iter().collect::<Vec<_>>(),
            vec![("ETH-USD".to_string(), 5)]
        );
        let text = format!(
            "{}\n{}",
            inst("BTC-USD", ""),
            inst("ETH-USD", "sanity_band_pct = 5000\n")
        );
        let (line, key, msg) = err(&text);
        assert_eq!(
            (line, key.as_str()),
            (Some(12), "instruments[1].sanity_band_pct")
        );
        assert!(msg.contains("at most 1000"), "{msg}");
    }

    #[test]
    fn book_limits_are_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[book]\nsanity_band_pct = 5\nmax_seq_jump = 10\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!((c.book.sanity_band_pct, c.book.max_seq_jump), (5, 10));
        let (line, key, msg) = err("seed = 1\n[book]\nsanity_band_pct = 5000\n");
        assert_eq!((line, key.as_str()), (Some(3), "book.sanity_band_pct"));
        assert!(msg.contains("at most 1000"), "{msg}");
        let (line, key, _) = err("[book]\nmax_seq_jump = -1\n");
        assert_eq!((line, key.as_str()), (Some(2), "book.max_seq_jump"));
        let (_, key, _) = err("[book]\nband = 3\n");
        assert!(key.starts_with("book"), "{key}");
    }

    #[test]
    fn a_limit_that_rounds_to_zero_is_refused_with_key_and_line() {
        // Read as a decimal, 1e-29 is 0: "off". pit traded on with no size limit.
        let (line, key, msg) = err("seed = 1\n[risk]\nmax_order_qty = 1e-29\n");
        assert_eq!((line, key.as_str()), (Some(3), "risk.max_order_qty"));
        assert!(msg.contains("1e-29") && msg.contains("read as 0"), "{msg}");
        let (line, key, _) = err("[risk]\nmax_position = 0.00000000000000000000000000001\n");
        assert_eq!((line, key.as_str()), (Some(2), "risk.max_position"));
        // Positive but below one lot of BTC-USD (0.001): 0 lots on the grid.
        let (line, key, msg) = err("[risk]\nmax_drawdown = 5\nmax_order_qty = 0.0004\n");
        assert_eq!((line, key.as_str()), (Some(3), "risk.max_order_qty"));
        assert!(msg.contains("BTC-USD") && msg.contains("0.001"), "{msg}");
        // ETH-USD's lot is 0.01: 0.005 fits BTC but no ETH order.
        let (_, key, msg) = err("[risk]\nmax_position = 0.005\n");
        assert_eq!(key, "risk.max_position");
        assert!(msg.contains("ETH-USD"), "{msg}");
        // 0 is still "off", and a value on the grid is fine.
        let c = Config::parse(
            "[risk]\nmax_order_qty = 0\nmax_position = 0.01\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.risk.max_order_qty, Decimal::ZERO);
    }

    #[test]
    fn a_market_maker_that_cannot_pay_its_maker_fees_is_warned_about() {
        // The shipped defaults (1.5 bps quoted, a 0 bp maker tier) earn: no warning.
        assert!(Config::default().warnings().is_empty());
        // 1 bp quoted against 2 x 1 bp of maker fees.
        let mut cfg = Config::default();
        cfg.strategies.market_maker.spread_bps = Decimal::ONE;
        cfg.paper.maker_fee_bps = Decimal::ONE;
        let w = cfg.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(
                "strategies.market_maker.spread_bps 1 is not above twice paper.maker_fee_bps (2"
            ),
            "{w:?}"
        );
        let mut wide = cfg.clone();
        wide.strategies.market_maker.spread_bps = Decimal::from(3);
        assert!(wide.warnings().is_empty());
        let mut rebate = cfg.clone();
        rebate.paper.maker_fee_bps = Decimal::new(-5, 1);
        assert!(rebate.warnings().is_empty());
        let mut off = cfg.clone();
        off.strategies.market_maker.enabled = false;
        assert!(off.warnings().is_empty());
    }

    #[test]
    fn a_strategy_size_above_max_order_qty_names_both_keys() {
        let text = "[risk]\nmax_order_qty = 0.01\n\n[strategies.imbalance]\nsize = 0.02\n";
        let (line, key, msg) = err(text);
        assert_eq!((line, key.as_str()), (Some(5), "strategies.imbalance.size"));
        assert!(
            msg.contains("0.02") && msg.contains("risk.max_order_qty 0.01"),
            "{msg}"
        );
        let (_, key, _) =
            err("[risk]\nmax_order_qty = 0.01\n[strategies.market_maker]\nsize = 0.02\n");
        assert_eq!(key, "strategies.market_maker.size");
        // Equal is fine.
        Config::parse(
            "[risk]\nmax_order_qty = 0.02\n[strategies.imbalance]\nsize = 0.02\n",
            Path::new("x"),
        )
        .unwrap();
    }

    /// A config for another market need not mention the strategies it leaves off: one
    /// switched off that names an unknown symbol is built on the first instrument; one
    /// switched on is refused, naming its key and line.
    #[test]
    fn a_switched_off_strategy_on_an_unlisted_symbol_is_no_error() {
        let inst = "[[instruments]]\nsymbol = \"ETH-USD\"\ntick_size = 0.01\nlot_size = 0.001\nstart_price = 3000\n";
        let text = format!(
            "{inst}\n[strategies.market_maker]\nsymbol = \"ETH-USD\"\n[strategies.imbalance]\nsymbol = \"ETH-USD\"\n"
        );
        let c = Config::parse(&text, Path::new("x")).unwrap();
        assert!(!c.strategies.vwap_revert.enabled && !c.strategies.orb.enabled);
        assert_eq!(c.strategies.vwap_revert.symbol, "ETH-USD");
        assert_eq!(c.strategies.orb.symbol, "ETH-USD");
        assert_eq!(c.strategies.market_maker.symbol, "ETH-USD");
        let text = format!(
            "{inst}\n[strategies.market_maker]\nsymbol = \"ETH-USD\"\n[strategies.imbalance]\nsymbol = \"ETH-USD\"\n[strategies.orb]\nenabled = true\nsymbol = \"SOL-USD\"\n"
        );
        let (line, key, msg) = err(&text);
        assert_eq!((line, key.as_str()), (Some(13), "strategies.orb.symbol"));
        assert!(msg.contains("SOL-USD"), "{msg}");
    }

    #[test]
    fn a_keymap_without_a_kill_key_is_refused() {
        let (line, key, msg) = err("[console]\nfps = 30\n\n[console.keys]\nkill = []\n");
        assert_eq!((line, key.as_str()), (Some(5), "console.keys.kill"));
        assert!(msg.contains("kill switch"), "{msg}");
    }

    #[test]
    fn live_trading_settings_are_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[live.binance]\nmode = \"live\"\ntestnet = false\nrest_url = \"http://127.0.0.1:9\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert!(c.live.binance.wants_live() && !c.live.binance.testnet);
        assert_eq!(Config::default().live.binance.mode, "paper");
        assert!(Config::default().live.binance.testnet);
        let (line, key, msg) = err("seed = 1\n[live.binance]\ntestnet = true\nmode = \"real\"\n");
        assert_eq!((line, key.as_str()), (Some(4), "live.binance.mode"));
        assert!(msg.contains("\"paper\" or \"live\""), "{msg}");
        let (line, key, _) = err("[live.binance]\nrecv_window_ms = 90000\n");
        assert_eq!(
            (line, key.as_str()),
            (Some(2), "live.binance.recv_window_ms")
        );
        // Keys never come from the config: there is no place for them.
        let (line, key, msg) = err("[live.binance]\napi_secret = \"x\"\n");
        assert_eq!((line, key.as_str()), (Some(2), "live.binance.api_secret"));
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn bybit_live_settings_are_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[live.bybit]\nmode = \"live\"\ndead_man_secs = 30\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert!(c.live.bybit.wants_live() && c.live.bybit.testnet);
        assert_eq!(c.live.bybit.dead_man_secs, 30);
        assert_eq!(Config::default().live.bybit.dead_man_secs, 10);
        let (line, key, msg) = err("[live.bybit]\ndead_man_secs = 2\n");
        assert_eq!((line, key.as_str()), (Some(2), "live.bybit.dead_man_secs"));
        assert!(msg.contains("3 and 300"), "{msg}");
        let (_, key, _) = err("[live.bybit]\nsecret = \"x\"\n");
        assert_eq!(key, "live.bybit.secret");
    }

    #[test]
    fn okx_live_settings_are_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[live.okx]\nmode = \"live\"\ndead_man_secs = 60\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert!(c.live.okx.wants_live() && c.live.okx.demo);
        assert_eq!(c.live.okx.dead_man_secs, 60);
        assert_eq!(Config::default().live.okx.dead_man_secs, 30);
        let (line, key, msg) = err("[live.okx]\nmode = \"live\"\ndead_man_secs = 5\n");
        assert_eq!((line, key.as_str()), (Some(3), "live.okx.dead_man_secs"));
        assert!(msg.contains("10 and 120"), "{msg}");
        // The passphrase belongs in the key file, never here.
        let (_, key, _) = err("[live.okx]\npassphrase = \"x\"\n");
        assert_eq!(key, "live.okx.passphrase");
        // The instrument type: SPOT by default, SWAP, nothing else.
        assert_eq!(c.live.okx.inst_type, "SPOT");
        let swap =
            Config::parse("[live.okx]\ninst_type = \"SWAP\"\n", Path::new("c.toml")).unwrap();
        assert!(swap.live.okx.swap());
        let (line, key, msg) = err("[live.okx]\nmode = \"live\"\ninst_type = \"FUTURES\"\n");
        assert_eq!((line, key.as_str()), (Some(3), "live.okx.inst_type"));
        assert!(msg.contains("\"SWAP\""), "{msg}");
    }

    #[test]
    fn kraken_live_settings_are_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[live.kraken]\nmode = \"live\"\ndead_man_secs = 120\ntier = \"pro\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert!(c.live.kraken.wants_live());
        assert_eq!(
            (c.live.kraken.dead_man_secs, c.live.kraken.tier.as_str()),
            (120, "pro")
        );
        assert_eq!(Config::default().live.kraken.dead_man_secs, 60);
        let (line, key, msg) = err("[live.kraken]\nmode = \"live\"\ndead_man_secs = 86400\n");
        assert_eq!((line, key.as_str()), (Some(3), "live.kraken.dead_man_secs"));
        assert!(msg.contains("86399"), "{msg}");
        let (_, key, _) = err("[live.kraken]\ntier = \"gold\"\n");
        assert_eq!(key, "live.kraken.tier");
        // The secret belongs in the key file, never here.
        let (_, key, _) = err("[live.kraken]\nsecret = \"x\"\n");
        assert_eq!(key, "live.kraken.secret");
    }

    #[test]
    fn notify_settings_are_read_and_checked_with_key_and_line() {
        use crate::notify::NotifyKind;
        let c = Config::parse(
            "[notify]\ncommand = [\"notify-send\", \"pit\"]\non = [\"kill\", \"fill\"]\nfill_min_notional = 1000.50\nrate_limit = 5\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.notify.on, [NotifyKind::Kill, NotifyKind::Fill]);
        assert_eq!(c.notify.fill_min_notional, Decimal::new(100050, 2));
        assert!(c.notify.enabled() && !Config::default().notify.enabled());
        let (line, key, msg) = err("seed = 1\n[notify]\non = [\"kill\", \"sms\"]\n");
        assert_eq!((line, key.as_str()), (Some(3), "notify.on[1]"));
        assert!(msg.contains("sms"), "{msg}");
        let (line, key, msg) =
            err("[notify]\nrate_limit = 3\nwebhook = \"ftp://api.example.org/botSECRET/x\"\n");
        assert_eq!((line, key.as_str()), (Some(3), "notify.webhook"));
        assert!(!msg.contains("SECRET") && msg.contains("http"), "{msg}");
        let (line, key, _) = err("[notify]\nrate_limit = 0\n");
        assert_eq!((line, key.as_str()), (Some(2), "notify.rate_limit"));
        let (line, key, _) = err("[notify]\nsound = true\n");
        assert_eq!((line, key.as_str()), (Some(2), "notify.sound"));
    }

    #[test]
    fn sizing_is_read_and_checked_with_key_and_line() {
        let c = Config::parse(
            "[sizing]\ncapital_base = 25000\nrisk_per_trade = 0.01\nstop_atr = 2\nstop_spread = 0\n\n[strategies.vwap_revert]\nrisk_units = 1.5\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.sizing.capital_base, Decimal::from(25_000));
        assert_eq!(c.sizing.risk_per_trade, Decimal::new(1, 2));
        assert_eq!(c.sizing.stop_atr, Decimal::TWO);
        assert_eq!(c.sizing.stop_spread, Decimal::ZERO);
        assert_eq!(c.strategies.vwap_revert.risk_units, Decimal::new(15, 1));
        let (line, key, msg) = err("seed = 1\n[sizing]\ncapital_base = 100\nrisk_per_trade = 2\n");
        assert_eq!((line, key.as_str()), (Some(4), "sizing.risk_per_trade"));
        assert!(msg.contains("(0, 1]"), "{msg}");
        let (line, key, _) = err("[sizing]\ncapital_base = -5\n");
        assert_eq!((line, key.as_str()), (Some(2), "sizing.capital_base"));
        let (line, key, msg) = err("[sizing]\nstop_atr = 0\nstop_spread = 0\n");
        assert_eq!((line, key.as_str()), (Some(2), "sizing.stop_atr"));
        assert!(msg.contains("stop_spread"), "{msg}");
        let (line, key, msg) = err("[sizing]\n\nrisk_per_trad = 0.01\n");
        assert_eq!((line, key.as_str()), (Some(3), "sizing.risk_per_trad"));
        assert!(msg.contains("unknown field"), "{msg}");
        let (line, key, _) = err("[strategies.vwap_revert]\nrisk_units = -1\n");
        assert_eq!(
            (line, key.as_str()),
            (Some(2), "strategies.vwap_revert.risk_units")
        );
    }

    #[test]
    fn sessions_are_read_and_bad_ones_named_with_key_and_line() {
        let c = Config::parse(
            "[[sessions]]\nsymbol = \"BTC-USD\"\ntimezone = \"America/New_York\"\nstart = \"09:30\"\nend = \"16:00\"\nallowed_weekdays = [\"Mon\", \"Fri\"]\nflat_before_close_minutes = 5\n",
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.sessions.len(), 1);
        assert_eq!(c.sessions[0].flat_before_close_minutes, 5);
        let base = "seed = 1\n[[sessions]]\nsymbol = \"BTC-USD\"\n";
        let (line, key, msg) = err(&format!(
            "{base}timezone = \"Mars/Base\"\nstart = \"09:30\"\nend = \"16:00\"\n"
        ));
        assert_eq!((line, key.as_str()), (Some(4), "sessions[0].timezone"));
        assert!(msg.contains("unknown time zone"), "{msg}");
        let (line, key, msg) = err(&format!(
            "{base}timezone = \"UTC\"\nstart = \"9:30\"\nend = \"16:00\"\n"
        ));
        assert_eq!((line, key.as_str()), (Some(5), "sessions[0].start"));
        assert!(msg.contains("HH:MM"), "{msg}");
        let (line, key, msg) = err(&format!(
            "{base}timezone = \"UTC\"\nstart = \"09:30\"\nend = \"16:00\"\nallowed_weekdays = [\"Mon\", \"Caturday\"]\n"
        ));
        assert_eq!(
            (line, key.as_str()),
            (Some(7), "sessions[0].allowed_weekdays")
        );
        assert!(msg.contains("Caturday"), "{msg}");
        let (line, key, _) = err(&format!(
            "{base}timezone = \"UTC\"\nstart = \"09:30\"\nend = \"16:00\"\nopen_minutes = 3\n"
        ));
        assert_eq!((line, key.as_str()), (Some(7), "sessions[0].open_minutes"));
    }

    #[test]
    fn syntax_error_has_line() {
        let (line, _, _) = err("venue = \"sim\"\nseed = = 3\n");
        assert_eq!(line, Some(2));
    }

    /// An OKX linear swap needs its contract value (OKX writes its sizes in contracts);
    /// an inverse one and spot do not; a contract value the lot is no number of is named.
    #[test]
    fn an_okx_linear_swap_needs_its_contract_value() {
        let okx = |sym: &str, extra: &str| {
            format!(
                "venue = \"okx\"\n[[instruments]]\nsymbol = \"{sym}\"\ntick_size = 0.1\nlot_size = 0.0001\n{extra}[[instruments]]\nsymbol = \"BTC-USD\"\ntick_size = 0.1\nlot_size = 0.0001\n"
            )
        };
        let (line, key, msg) = err(&okx("BTC-USDT-SWAP", ""));
        assert_eq!((line, key.as_str()), (Some(3), "instruments[0].symbol"));
        assert!(
            msg.contains("in contracts") && msg.contains("contract_value"),
            "{msg}"
        );
        let cfg = Config::parse(
            &okx("BTC-USDT-SWAP", "contract_value = 0.01\n"),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(
            cfg.contract_values().get("BTC-USDT-SWAP"),
            Some(&Decimal::new(1, 2))
        );
        for ok in ["BTC-USD-SWAP", "BTC-USD-220527", "BTC-USDT"] {
            Config::parse(&okx(ok, ""), Path::new("c.toml")).unwrap();
        }
        let (line, key, msg) = err(&okx("BTC-USDT-SWAP", "contract_value = -1\n"));
        assert_eq!(
            (line, key.as_str()),
            (Some(6), "instruments[0].contract_value")
        );
        assert!(msg.contains("greater than 0"), "{msg}");
    }

    #[test]
    fn unknown_venue_refused() {
        let (line, key, msg) = err("venue = \"moon\"\n");
        assert_eq!((line, key.as_str()), (Some(1), "venue"));
        assert!(msg.contains("unknown venue 'moon'"), "{msg}");
    }

    #[test]
    fn every_registry_venue_is_accepted_with_its_decoder_and_a_public_endpoint() {
        use crate::venue::exchanges::entry::LiveSettings;
        use crate::venue::exchanges::registry::EXCHANGES;
        assert_eq!(venues()[0], "sim");
        assert_eq!(venues().len(), EXCHANGES.len() + 1);
        for e in EXCHANGES {
            assert_eq!((e.decoder)(Vec::new()).venue(), e.name);
            let url = (e.live.ws_url)(&LiveSettings::default());
            assert!(url.starts_with("wss://"), "{}: {url}", e.name);
            let text = format!("venue = \"{}\"\n", e.name);
            let cfg = Config::parse(&text, Path::new("x")).unwrap();
            assert_eq!(cfg.venue, e.name);
        }
    }
}
