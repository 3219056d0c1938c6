//! A strategy's parameters as a table of its section's keys: what the console's strategies
//! view edits, what the store keeps across a restart and what `w` writes back to the
//! config file; and `[[strategies.instance]]`, a second (third …) copy of a built-in
//! strategy, on another instrument or with other parameters.
//!
//! A table is checked exactly as the config file is: the same serde types (unknown keys
//! refused), the same `validate`, the same construction against the instruments, and an
//! error names the key.

use super::{BUILTINS, Builtin, Strategy, StrategySlot};
use crate::domain::{Instrument, Invalid};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A strategy's section: key → value, as in config.toml.
pub type ParamTable = toml::Table;

/// One built-in's parameters: the section's serde type and its own checks.
pub trait Params: Serialize + DeserializeOwned {
    /// The checks that need no instrument (keys relative to the section).
    fn check(&self) -> Result<(), Invalid>;
    /// Its `enabled` key: switched on at start.
    fn on(&self) -> bool;
}

/// `[[strategies.instance]]`: one more copy of a built-in strategy.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct InstanceConfig {
    /// Which built-in strategy: its section's name (`market_maker`, `imbalance`,
    /// `exit_manager`, `vwap_revert`, `orb`).
    pub kind: String,
    /// Its name in the console, the store and the audit. Default: the strategy's name and
    /// its symbol, e.g. `market-maker@ETH-USD`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The section's keys (the built-in's defaults for the keys not given).
    #[serde(flatten)]
    pub params: ParamTable,
    /// Removed from the console (the store says so; never in the file): built switched
    /// off for good, so the strategies after it keep their numbers.
    #[serde(skip)]
    pub removed: bool,
    /// Added from the console (the store says so; never in the file): built switched
    /// off, the store's switch decides.
    #[serde(skip)]
    pub added: bool,
}

/// `p` as a table of its keys.
pub fn to_table<P: Serialize>(p: &P) -> ParamTable {
    // The parameter types are plain structs of numbers, strings and booleans: a table
    // always. An empty table would be refused by `parse` of the same type below only if
    // a key had no default, and the unit test of every built-in catches that.
    ParamTable::try_from(p).unwrap_or_default()
}

/// A table read as `P`, exactly as the config file reads the section: unknown keys and
/// values of the wrong type are refused, with the key named.
pub fn parse<P: DeserializeOwned>(t: &ParamTable) -> Result<P, Invalid> {
    let text = toml::to_string(t).map_err(|e| Invalid::new("", e.to_string()))?;
    toml::from_str::<P>(&text).map_err(|e| {
        let key = e
            .span()
            .and_then(|s| key_at(&text, s.start))
            .unwrap_or_default();
        Invalid::new(key, e.message().trim().to_string())
    })
}

/// Parsed and checked (no instrument needed).
pub fn checked<P: Params>(t: &ParamTable) -> Result<P, Invalid> {
    let p: P = parse(t)?;
    p.check()?;
    Ok(p)
}

/// The key written on the line holding byte `offset` of a `key = value` text.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    Some(key.trim().trim_matches('"').to_string())
}

/// The built-in whose section is `kind`, with its index (key `kind` otherwise).
pub fn builtin(kind: &str) -> Result<(usize, &'static Builtin), Invalid> {
    BUILTINS
        .iter()
        .enumerate()
        .find(|(_, b)| b.section == kind)
        .ok_or_else(|| {
            let known: Vec<&str> = BUILTINS.iter().map(|b| b.section).collect();
            Invalid::new(
                "kind",
                format!("unknown strategy {kind:?} (known: {})", known.join(", ")),
            )
        })
}

/// The name an instance gets when none is given: `market-maker@ETH-USD`, or
/// `exit-manager#2` for a strategy that trades no one instrument (`n` counts from 2).
pub fn default_name(b: &Builtin, params: &ParamTable, n: usize) -> String {
    match params.get("symbol").and_then(|v| v.as_str()) {
        Some(symbol) => format!("{}@{symbol}", b.name),
        None => format!("{}#{n}", b.name),
    }
}

/// Check an instance without instruments (the config's own check; keys relative to the
/// instance).
pub fn check_instance(inst: &InstanceConfig) -> Result<(), Invalid> {
    let (_, b) = builtin(&inst.kind)?;
    (b.check_table)(&inst.params)
}

/// Build an instance (`n`: its position among the instances, for a default name).
pub fn build_instance(
    inst: &InstanceConfig,
    instruments: &[Instrument],
    n: usize,
) -> Result<StrategySlot, Invalid> {
    let (kind, b) = builtin(&inst.kind)?;
    let (strategy, enabled) = (b.from_table)(&inst.params, instruments)?;
    let name = instance_name(inst, n);
    Ok(StrategySlot {
        strategy,
        enabled: enabled && !inst.removed && !inst.added,
        name,
        kind,
        params: inst.params.clone(),
        removed: inst.removed,
        added: inst.added,
    })
}

/// Build a strategy of built-in `kind` from a table (the console's edit): the strategy and
/// whether its table switches it on.
pub fn build_from(
    kind: usize,
    params: &ParamTable,
    instruments: &[Instrument],
) -> Result<(Box<dyn Strategy>, bool), Invalid> {
    let b = BUILTINS
        .get(kind)
        .ok_or_else(|| Invalid::new("kind", format!("no built-in strategy {kind}")))?;
    (b.from_table)(params, instruments)
        .map_err(|e| Invalid::new(format!("{}.{}", b.section, e.key), e.message))
}

/// A table as TOML text (`key = value` lines), for the view, the store and commands.
pub fn table_text(t: &ParamTable) -> String {
    toml::to_string(t).unwrap_or_default()
}

/// TOML text back to a table (key `params` when it is not one).
pub fn table_from_text(text: &str) -> Result<ParamTable, Invalid> {
    toml::from_str(text).map_err(|e| Invalid::new("params", e.message().trim().to_string()))
}

/// A value as the console shows it and lets it be typed: strings that are numbers (the
/// decimal parameters, kept as text so they stay exact) without quotes, other strings as
/// they are, the rest as TOML writes them.
pub fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What was typed for a key whose value is now `current`, as a value of the same kind:
/// text for a string (decimals stay exact), TOML for a number, a boolean or a list.
pub fn typed_value(current: Option<&toml::Value>, text: &str) -> toml::Value {
    let text = text.trim();
    match current {
        Some(toml::Value::String(_)) | None => toml::Value::String(text.to_string()),
        Some(_) => format!("v = {text}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(text.to_string())),
    }
}

/// A strategy as the console left it (the store keeps it across a restart).
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleEdit {
    pub name: String,
    /// Its built-in's section.
    pub kind: String,
    /// Its section's keys as TOML text.
    pub params: String,
    /// An instance removed from the console.
    pub removed: bool,
    /// Its number when the console set it (0-based), so a restart gives it the same.
    pub slot: Option<usize>,
    /// An instance the console added (not an edit of the file's): only these are built
    /// again when the file does not list them.
    pub added: bool,
}

/// What the console's edits did to the config file's strategies at a start.
#[derive(Debug, Default)]
pub struct ConsoleApplied {
    /// The strategies whose parameters are the console's (they differ from the file's).
    pub console: Vec<String>,
    /// Instances removed from the console that the file still lists (not built).
    pub removed: Vec<String>,
    /// The strategies whose console edits could not be used this time (kept for later).
    pub refused: Vec<String>,
    /// Edits of file instances the file no longer lists: dropped, their rows forgotten.
    pub gone: Vec<String>,
    /// One line per edit used or refused, for the start-up warnings.
    pub notes: Vec<String>,
}

/// Whether two tables of built-in `kind` give the same parameters (`3` and `3.0` are the
/// same spread).
pub fn same_params(kind: usize, a: &ParamTable, b: &ParamTable) -> bool {
    let Some(builtin) = BUILTINS.get(kind) else {
        return false;
    };
    let mut x = super::StrategiesConfig::default();
    let mut y = super::StrategiesConfig::default();
    (builtin.set_section)(&mut x, a).is_ok() && (builtin.set_section)(&mut y, b).is_ok() && x == y
}

/// Put the console's edits over the config file's strategies, as a start reads them back
/// from the store: new parameters for a section or an instance, instances added and
/// removed. An edit the file already matches is no longer the console's; an edit that no
/// longer builds (an instrument gone from the config, a key renamed) is not used, and a
/// note says why.
pub fn apply_console(
    cfg: &mut super::StrategiesConfig,
    edits: &[ConsoleEdit],
    instruments: &[Instrument],
    max_order_qty: rust_decimal::Decimal,
) -> ConsoleApplied {
    let mut done = ConsoleApplied::default();
    // Every instance keeps the name it has now, whatever is removed before it.
    let names: Vec<String> = instance_names(cfg);
    for (x, name) in cfg.instance.iter_mut().zip(&names) {
        x.name = name.clone();
    }
    // Instances added from the console come back in the order of their numbers.
    let mut edits: Vec<&ConsoleEdit> = edits.iter().collect();
    edits.sort_by_key(|e| e.slot.unwrap_or(usize::MAX));
    for e in edits {
        let (kind, b) = match builtin(&e.kind) {
            Ok(k) => k,
            Err(err) => {
                done.notes.push(format!(
                    "strategy {}: the console's parameters are not used: {}",
                    e.name, err.message
                ));
                continue;
            }
        };
        let table = match table_from_text(&e.params) {
            Ok(t) => t,
            Err(err) => {
                done.notes.push(format!(
                    "strategy {}: the console's parameters are not used: {}",
                    e.name, err.message
                ));
                continue;
            }
        };
        let section = b.name == e.name;
        let at = names.iter().position(|n| *n == e.name);
        if e.removed {
            if let (false, Some(i)) = (section, at) {
                cfg.instance[i].removed = true;
                done.removed.push(e.name.clone());
                done.notes.push(format!(
                    "strategy {}: removed from the console, so not started, though config.toml lists it (w in the strategies view writes the file)",
                    e.name
                ));
            } else if !section && e.added && (b.from_table)(&table, instruments).is_ok() {
                // Kept in its place, switched off for good, so the instances the console
                // added after it keep their numbers (and the keys that switch them).
                cfg.instance.push(InstanceConfig {
                    kind: e.kind.clone(),
                    name: e.name.clone(),
                    params: table,
                    removed: true,
                    added: true,
                });
                done.removed.push(e.name.clone());
            }
            continue;
        }
        let file = if section {
            Some((b.table)(cfg))
        } else {
            at.map(|i| cfg.instance[i].params.clone())
        };
        // The switch is kept apart (the store's enable flag, `w` writes it as it is):
        // only the parameters count here.
        let unswitched = |t: &ParamTable| {
            let mut t = t.clone();
            t.remove("enabled");
            t
        };
        if file
            .as_ref()
            .is_some_and(|f| same_params(kind, &unswitched(f), &unswitched(&table)))
        {
            continue;
        }
        if let Err(err) = (b.from_table)(&table, instruments) {
            done.refused.push(e.name.clone());
            done.notes.push(format!(
                "strategy {}: the console's parameters are not used ({}: {}); config.toml's are",
                e.name, err.key, err.message
            ));
            continue;
        }
        // As the config file is checked: a size above the limit would have every order
        // refused (the limit may have been lowered in the file since).
        if let Some(size) = table_size(&table)
            .filter(|s| max_order_qty > rust_decimal::Decimal::ZERO && *s > max_order_qty)
        {
            done.refused.push(e.name.clone());
            done.notes.push(format!(
                "strategy {}: the console's parameters are not used (size: {} exceeds risk.max_order_qty {}); config.toml's are",
                e.name,
                size.normalize(),
                max_order_qty.normalize()
            ));
            continue;
        }
        if !section && at.is_none() && BUILTINS.len() + cfg.instance.len() >= super::MAX_STRATEGIES
        {
            done.refused.push(e.name.clone());
            done.notes.push(format!(
                "strategy {}: added from the console, not started: the file's instances fill the {} strategies a run holds",
                e.name,
                super::MAX_STRATEGIES
            ));
            continue;
        }
        let used = if section {
            (b.set_section)(cfg, &table).is_ok()
        } else if let Some(i) = at {
            cfg.instance[i].params = table;
            true
        } else if e.added {
            cfg.instance.push(InstanceConfig {
                kind: e.kind.clone(),
                name: e.name.clone(),
                params: table,
                removed: false,
                added: true,
            });
            true
        } else {
            // An edit of an instance the file no longer lists (deleted, or renamed by a
            // new symbol): the trader took it out of the file; it must not come back.
            done.gone.push(e.name.clone());
            done.notes.push(format!(
                "strategy {}: its parameters were set from the console, but config.toml no longer lists it: not started, the console's parameters forgotten",
                e.name
            ));
            false
        };
        if used {
            done.console.push(e.name.clone());
        }
    }
    // Removed instances the console added with none after them hold no number for
    // anybody: forgotten.
    while cfg.instance.last().is_some_and(|x| x.removed && x.added) {
        if let Some(x) = cfg.instance.pop() {
            done.removed.retain(|n| *n != x.name);
        }
    }
    if !done.console.is_empty() {
        done.notes.push(format!(
            "strategies {}: the parameters set from the console are used, not config.toml's (w in the strategies view writes them)",
            done.console.join(", ")
        ));
    }
    done
}

/// Leave out the instances that trade a symbol not in `symbols` (a replay of another
/// recording, `pit run --symbol`): one note each.
pub fn drop_instances_without(cfg: &mut super::StrategiesConfig, symbols: &[&str]) -> Vec<String> {
    // Names first: a default name counts the instance's place, which a drop would move.
    let names = instance_names(cfg);
    for (x, name) in cfg.instance.iter_mut().zip(names) {
        x.name = name;
    }
    let mut notes = Vec::new();
    cfg.instance
        .retain(|x| match x.params.get("symbol").and_then(|v| v.as_str()) {
            Some(symbol) if !symbols.contains(&symbol) => {
                notes.push(format!(
                    "strategy {}: trades {symbol:?}, which is not here ({}): not started",
                    x.name,
                    symbols.join(", ")
                ));
                false
            }
            _ => true,
        });
    notes
}

/// The names of the config's instances, in order (given or defaulted).
pub fn instance_names(cfg: &super::StrategiesConfig) -> Vec<String> {
    cfg.instance
        .iter()
        .enumerate()
        .map(|(n, x)| instance_name(x, n))
        .collect()
}

/// An instance's name: the one given, else [`default_name`] (`n`: its place among the
/// instances; empty for an unknown kind, which the config refuses by its `kind` key).
pub fn instance_name(x: &InstanceConfig, n: usize) -> String {
    match x.name.trim() {
        "" => builtin(&x.kind)
            .map(|(_, b)| default_name(b, &x.params, n + 2))
            .unwrap_or_default(),
        given => given.to_string(),
    }
}

/// A table's `size` key as a decimal (text or number), when it has one.
pub fn table_size(t: &ParamTable) -> Option<rust_decimal::Decimal> {
    t.get("size").map(show_value).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::StrategiesConfig;
    use crate::strategy::test_util::{btc, eth};

    #[test]
    fn every_builtins_section_goes_to_a_table_and_back_unchanged() {
        let cfg = StrategiesConfig::default();
        let instruments = [btc(0)];
        for b in &BUILTINS {
            let t = (b.table)(&cfg);
            assert!(t.contains_key("enabled"), "{}: {t:?}", b.section);
            (b.check_table)(&t).unwrap_or_else(|e| panic!("{}: {e:?}", b.section));
            let mut back = cfg.clone();
            (b.set_section)(&mut back, &t).unwrap();
            assert_eq!(back, cfg, "{}", b.section);
            (b.from_table)(&t, &instruments).unwrap_or_else(|e| panic!("{}: {e:?}", b.section));
        }
    }

    #[test]
    fn a_bad_value_is_refused_with_its_key_as_the_config_file_would() {
        let mut t = (BUILTINS[0].table)(&StrategiesConfig::default());
        t.insert("requote_ticks".into(), toml::Value::String("soon".into()));
        let e = (BUILTINS[0].check_table)(&t).unwrap_err();
        assert_eq!(e.key, "requote_ticks", "{e:?}");
        let mut t = (BUILTINS[0].table)(&StrategiesConfig::default());
        t.insert("spread_bps".into(), toml::Value::String("0".into()));
        let e = (BUILTINS[0].check_table)(&t).unwrap_err();
        assert_eq!(e.key, "spread_bps", "{e:?}");
        let mut t = (BUILTINS[0].table)(&StrategiesConfig::default());
        t.insert("sprad_bps".into(), toml::Value::Integer(3));
        let e = (BUILTINS[0].check_table)(&t).unwrap_err();
        assert_eq!(e.key, "sprad_bps", "{e:?}");
        assert!(e.message.contains("unknown field"), "{e:?}");
    }

    #[test]
    fn an_instance_on_another_instrument_is_named_after_it() {
        let mut params = (BUILTINS[0].table)(&StrategiesConfig::default());
        params.insert("symbol".into(), toml::Value::String("ETH-USD".into()));
        params.insert("size".into(), toml::Value::String("0.01".into()));
        let inst = InstanceConfig {
            kind: "market_maker".into(),
            name: String::new(),
            params,
            removed: false,
            added: false,
        };
        let slot = build_instance(&inst, &[btc(0), eth(1)], 0).unwrap();
        assert_eq!(slot.name, "market-maker@ETH-USD");
        assert_eq!(
            slot.strategy.instrument(),
            Some(crate::domain::InstrumentId(1))
        );
        let bad = InstanceConfig {
            kind: "market_makr".into(),
            ..inst.clone()
        };
        assert_eq!(
            build_instance(&bad, &[btc(0)], 0).err().unwrap().key,
            "kind"
        );
        let e = build_instance(&inst, &[btc(0)], 0).err().unwrap();
        assert_eq!(e.key, "symbol", "{e:?}");
        // Checked against the instrument it trades, as the config file's section is.
        let mut small = inst.clone();
        small
            .params
            .insert("size".into(), toml::Value::String("0.001".into()));
        let e = build_instance(&small, &[btc(0), eth(1)], 0).err().unwrap();
        assert_eq!(e.key, "size", "{e:?}");
    }

    #[test]
    fn typed_text_keeps_the_kind_of_the_value_it_replaces() {
        let s = toml::Value::String("1".into());
        assert_eq!(
            typed_value(Some(&s), " 2.50 "),
            toml::Value::String("2.50".into())
        );
        let n = toml::Value::Integer(3);
        assert_eq!(typed_value(Some(&n), "7"), toml::Value::Integer(7));
        let b = toml::Value::Boolean(true);
        assert_eq!(typed_value(Some(&b), "false"), toml::Value::Boolean(false));
        // Not a number where one was: kept as text, and the check names the key.
        assert_eq!(typed_value(Some(&n), "x"), toml::Value::String("x".into()));
        assert_eq!(show_value(&toml::Value::String("0.001".into())), "0.001");
        assert_eq!(show_value(&toml::Value::Integer(5)), "5");
    }
}

#[cfg(test)]
mod console_tests {
    use super::*;
    use crate::strategy::StrategiesConfig;
    use crate::strategy::test_util::{btc, eth};

    fn edit_of(name: &str, cfg: &StrategiesConfig, sets: &[(&str, &str)]) -> ConsoleEdit {
        let mut t = (BUILTINS[0].table)(cfg);
        for (k, v) in sets {
            t.insert(k.to_string(), toml::Value::String(v.to_string()));
        }
        ConsoleEdit {
            name: name.into(),
            kind: "market_maker".into(),
            params: table_text(&t),
            removed: false,
            slot: None,
            added: true,
        }
    }

    #[test]
    fn the_consoles_edits_go_over_the_files_and_say_so_once() {
        let mut cfg = StrategiesConfig::default();
        cfg.market_maker.spread_bps = rust_decimal::Decimal::from(3);
        let edits = [
            edit_of("market-maker", &cfg, &[("spread_bps", "5")]),
            edit_of(
                "market-maker@ETH-USD",
                &cfg,
                &[("symbol", "ETH-USD"), ("size", "0.01")],
            ),
        ];
        let done = apply_console(
            &mut cfg,
            &edits,
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        assert_eq!(
            done.console,
            ["market-maker", "market-maker@ETH-USD"],
            "{done:?}"
        );
        assert_eq!(cfg.market_maker.spread_bps, rust_decimal::Decimal::from(5));
        assert_eq!(cfg.instance.len(), 1);
        assert_eq!(done.notes.len(), 1, "{:?}", done.notes);
        // The file says the same now: the edits are no longer the console's.
        let again = apply_console(
            &mut cfg,
            &edits,
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        assert!(
            again.console.is_empty() && again.notes.is_empty(),
            "{again:?}"
        );
        // An edit that no longer builds (ETH-USD gone) is not used, and said so.
        let mut fresh = StrategiesConfig::default();
        let gone = apply_console(
            &mut fresh,
            &edits[1..],
            &[btc(0)],
            rust_decimal::Decimal::ONE,
        );
        assert!(fresh.instance.is_empty());
        assert!(
            gone.notes[0].contains("not used (symbol: unknown instrument"),
            "{gone:?}"
        );
        assert_eq!(gone.refused, ["market-maker@ETH-USD"]);
    }

    #[test]
    fn an_edited_file_instance_the_file_no_longer_lists_is_not_started() {
        let base = StrategiesConfig::default();
        // S6 was the file's instance on ETH-USD; its spread was set from the console;
        // then the trader deleted it from the file.
        let mut e = edit_of(
            "market-maker@ETH-USD",
            &base,
            &[("symbol", "ETH-USD"), ("size", "0.01"), ("spread_bps", "9")],
        );
        e.slot = Some(5);
        e.added = false;
        let mut cfg = base.clone();
        let done = apply_console(
            &mut cfg,
            std::slice::from_ref(&e),
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        assert!(cfg.instance.is_empty(), "came back: {done:?}");
        assert_eq!(done.gone, ["market-maker@ETH-USD"]);
        assert!(
            done.notes[0].contains("config.toml no longer lists it: not started"),
            "{done:?}"
        );
        // One the console added comes back, switched off until the store's switch says.
        e.added = true;
        let done = apply_console(
            &mut cfg,
            std::slice::from_ref(&e),
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        assert_eq!(cfg.instance.len(), 1, "{done:?}");
        let slot = build_instance(&cfg.instance[0], &[btc(0), eth(1)], 0).unwrap();
        assert!(slot.added && !slot.enabled);
    }

    #[test]
    fn an_edit_above_a_max_order_qty_lowered_since_is_not_used() {
        let mut cfg = StrategiesConfig::default();
        let e = edit_of(
            "market-maker@ETH-USD",
            &cfg,
            &[("symbol", "ETH-USD"), ("size", "0.5")],
        );
        let done = apply_console(
            &mut cfg,
            std::slice::from_ref(&e),
            &[btc(0), eth(1)],
            rust_decimal::Decimal::new(1, 1),
        );
        assert!(cfg.instance.is_empty(), "{done:?}");
        assert_eq!(done.refused, ["market-maker@ETH-USD"]);
        assert!(
            done.notes[0].contains("size: 0.5 exceeds risk.max_order_qty 0.1"),
            "{done:?}"
        );
    }

    #[test]
    fn instances_come_back_with_their_numbers() {
        let base = StrategiesConfig::default();
        let mut cfg = base.clone();
        let mut from_file = (BUILTINS[0].table)(&base);
        from_file.insert("symbol".into(), toml::Value::String("ETH-USD".into()));
        from_file.insert("size".into(), toml::Value::String("0.01".into()));
        cfg.instance.push(InstanceConfig {
            kind: "market_maker".into(),
            name: "file-one".into(),
            params: from_file,
            removed: false,
            added: false,
        });
        // Added from the console as S8 then S7 (their names in the other order).
        let mut a = edit_of(
            "a-added-second",
            &base,
            &[("symbol", "ETH-USD"), ("size", "0.01")],
        );
        a.slot = Some(7);
        let mut b = edit_of(
            "b-added-first",
            &base,
            &[("symbol", "ETH-USD"), ("size", "0.01")],
        );
        b.slot = Some(6);
        // The file's instance was removed from the console: kept, switched off, as S6.
        let mut gone = edit_of("file-one", &base, &[]);
        gone.removed = true;
        let file_cfg = cfg.clone();
        let done = apply_console(
            &mut cfg,
            &[a.clone(), b.clone(), gone],
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        assert_eq!(done.removed, ["file-one"]);
        let slots = crate::strategy::build(&cfg, &[btc(0), eth(1)]).unwrap();
        let names: Vec<(&str, bool, bool)> = slots[5..]
            .iter()
            .map(|s| (s.name.as_str(), s.removed, s.enabled))
            .collect();
        // A console-added instance removed before another keeps its place.
        let mut c = edit_of("c-added", &base, &[("symbol", "ETH-USD"), ("size", "0.01")]);
        c.slot = Some(8);
        let mut d = edit_of("d-added", &base, &[("symbol", "ETH-USD"), ("size", "0.01")]);
        d.slot = Some(9);
        d.removed = true;
        let mut cfg2 = file_cfg.clone();
        let mut b2 = b.clone();
        b2.removed = true;
        let done2 = apply_console(
            &mut cfg2,
            &[a.clone(), b2, c, d],
            &[btc(0), eth(1)],
            rust_decimal::Decimal::ONE,
        );
        let kept: Vec<(&str, bool)> = cfg2
            .instance
            .iter()
            .map(|x| (x.name.as_str(), x.removed))
            .collect();
        assert_eq!(
            kept,
            [
                ("file-one", false),
                ("b-added-first", true),
                ("a-added-second", false),
                ("c-added", false)
            ],
            "the trailing removed one is forgotten: {done2:?}"
        );
        assert_eq!(done2.removed, ["b-added-first"]);
        // Built switched off: the store's switch for each (restored by the engine) decides.
        assert_eq!(
            names,
            [
                ("file-one", true, false),
                ("b-added-first", false, false),
                ("a-added-second", false, false)
            ]
        );
    }
}
