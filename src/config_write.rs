//! `w` in the strategies view: the strategies as they run (parameters and switches),
//! written back into the config file.
//!
//! `toml_edit` keeps the file's comments, order and layout: only the keys whose value
//! differs from what the file says now are written (a key the file leaves at its default
//! is added only when it changes), and `[[strategies.instance]]` is written again only
//! when the instances differ. The new text must read back (the whole config checked, as
//! at start) to exactly the strategies that run, or nothing is written. Then it replaces
//! the file atomically (a temporary file, synced, renamed over it) and the previous file
//! is kept beside it as `<name>.bak`.

use crate::app::strategies::SavedStrategy;
use crate::config::Config;
use crate::strategy::StrategiesConfig;
use crate::strategy::edit::{self, ParamTable};
use std::path::{Path, PathBuf};

/// The config file `w` writes: the file the run read, and its text as the run read it.
#[derive(Clone, Debug)]
pub struct Target {
    pub path: PathBuf,
    /// The text the run started from: a file changed since is not written over (its
    /// edits would be undone by the run's values).
    pub loaded: String,
}

impl Target {
    /// The file a run read, as it is now (at the run's start).
    pub fn read(path: &Path) -> Result<Target, String> {
        std::fs::read_to_string(path)
            .map(|loaded| Target {
                path: path.to_path_buf(),
                loaded,
            })
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

/// Write `list` (every strategy of the run, in order) into the run's config file. Returns
/// what was done, or why nothing was; after a write, `target.loaded` is the new text.
pub fn write_strategies(target: &mut Target, list: &[SavedStrategy]) -> Result<String, String> {
    let path = target.path.clone();
    let path = path.as_path();
    let name = path.display().to_string();
    let old = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    if old != target.loaded {
        return Err(format!(
            "{name} changed since this run read it: writing would undo those edits (restart to take them, or edit the file by hand)"
        ));
    }
    let now = Config::parse(&old, path)
        .map_err(|e| format!("{e} (the file does not read as it is: fix it first)"))?;
    let wanted = wanted(list)?;
    let mut doc: toml_edit::DocumentMut = old
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{name}: {}", e.message()))?;
    let mut changes = 0;
    for (kind, table) in &wanted.sections {
        let (_, b) = edit::builtin(kind).map_err(|e| e.message)?;
        let file = (b.table)(&now.strategies);
        // A switched-off section's symbol the run's instruments lack is parked on the
        // first instrument when read (`Config::park_switched_off_strategies`): for a
        // section switched on, what the file says is its own text, else the default.
        let written_symbol = doc
            .get("strategies")
            .and_then(|t| t.get(b.section))
            .and_then(|t| t.get("symbol"))
            .and_then(|v| v.as_str())
            .map(|v| toml::Value::String(v.to_string()))
            .or_else(|| defaults_of(b).get("symbol").cloned());
        for (key, value) in table {
            let on = table.get("enabled").and_then(toml::Value::as_bool) == Some(true);
            let file_value = if key == "symbol" && on {
                written_symbol.as_ref()
            } else {
                file.get(key)
            };
            if file_value.is_some_and(|f| same_value(f, value)) {
                continue;
            }
            let section = section_mut(&mut doc, b.section)?;
            let mut new = literal(value, defaults_of(b).get(key))?;
            // The comment after the old value (`spread_bps = 3 # wide`) stays with it.
            if let Some(old) = section.get(key).and_then(|i| i.as_value()) {
                *new.decor_mut() = old.decor().clone();
            }
            section[key.as_str()] = toml_edit::Item::Value(new);
            changes += 1;
        }
    }
    let instances_now: Vec<(String, String, ParamTable)> = edit::instance_names(&now.strategies)
        .into_iter()
        .zip(&now.strategies.instance)
        .map(|(n, x)| (n, x.kind.clone(), x.params.clone()))
        .collect();
    if !same_instances(&instances_now, &wanted.instances) {
        let mut array = toml_edit::ArrayOfTables::new();
        for (name, kind, table) in &wanted.instances {
            array.push(instance_table(name, kind, table)?);
        }
        let strategies = strategies_mut(&mut doc)?;
        strategies.insert("instance", toml_edit::Item::ArrayOfTables(array));
        changes += 1;
    }
    if changes == 0 {
        return Ok(format!("{name} already says this: nothing written"));
    }
    let text = doc.to_string();
    let back = Config::parse(&text, path)
        .map_err(|e| format!("the new file would not read ({e}); {name} left as it was"))?;
    let back_instances: Vec<(String, String, ParamTable)> = edit::instance_names(&back.strategies)
        .into_iter()
        .zip(&back.strategies.instance)
        .map(|(n, x)| (n, x.kind.clone(), x.params.clone()))
        .collect();
    let sections_back = wanted.sections.iter().all(|(kind, table)| {
        edit::builtin(kind)
            .is_ok_and(|(k, b)| edit::same_params(k, &(b.table)(&back.strategies), table))
    });
    if !sections_back || !same_instances(&back_instances, &wanted.instances) {
        return Err(format!(
            "the new file would not read back as the strategies that run; {name} left as it was"
        ));
    }
    replace_file(path, &text, &old)?;
    target.loaded = text;
    Ok(format!(
        "{name} written: {changes} change(s); the previous file is {name}.bak"
    ))
}

/// A built-in's keys at their defaults.
fn defaults_of(b: &crate::strategy::Builtin) -> ParamTable {
    (b.table)(&StrategiesConfig::default())
}

/// What should be written: each section's table and the instances, with each switch as
/// it is now in `enabled`.
struct Wanted {
    sections: Vec<(String, ParamTable)>,
    instances: Vec<(String, String, ParamTable)>,
}

fn wanted(list: &[SavedStrategy]) -> Result<Wanted, String> {
    let mut w = Wanted {
        sections: Vec::new(),
        instances: Vec::new(),
    };
    for s in list {
        let mut table = edit::table_from_text(&s.params)
            .map_err(|e| format!("strategy {}: {}", s.name, e.message))?;
        table.insert("enabled".into(), toml::Value::Boolean(s.enabled));
        if s.instance {
            w.instances.push((s.name.clone(), s.kind.clone(), table));
        } else {
            w.sections.push((s.kind.clone(), table));
        }
    }
    Ok(w)
}

fn same_instances(a: &[(String, String, ParamTable)], b: &[(String, String, ParamTable)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((n1, k1, t1), (n2, k2, t2))| {
            n1 == n2
                && k1 == k2
                && edit::builtin(k1).is_ok_and(|(k, _)| edit::same_params(k, t1, t2))
        })
}

/// Two values of one key: equal, or the same number written two ways (`3` and `3.0`).
fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    if a == b {
        return true;
    }
    let dec = |v: &toml::Value| edit::show_value(v).parse::<rust_decimal::Decimal>().ok();
    matches!((dec(a), dec(b)), (Some(x), Some(y)) if x == y)
}

/// A value as the file should hold it: a decimal parameter (kept as text so it stays
/// exact) as the number it is, written as typed; a text key (`symbol`, `entry`: its
/// default is text that is no number) as text even when it looks like one (`"7203"`);
/// anything else as TOML writes it.
fn literal(v: &toml::Value, default: Option<&toml::Value>) -> Result<toml_edit::Value, String> {
    let text_key = matches!(default, Some(toml::Value::String(d)) if d.parse::<rust_decimal::Decimal>().is_err());
    if let toml::Value::String(s) = v
        && !text_key
        && s.parse::<rust_decimal::Decimal>().is_ok()
        && let Ok(n) = s.parse::<toml_edit::Value>()
        && (n.is_integer() || n.is_float())
    {
        return Ok(n);
    }
    let text = match v {
        toml::Value::String(s) => toml_edit::Value::from(s.as_str()).to_string(),
        other => other.to_string(),
    };
    text.trim()
        .parse::<toml_edit::Value>()
        .map_err(|e| format!("cannot write {text}: {e}"))
}

/// An `[[strategies.instance]]` entry: its kind and name, then the keys that differ from
/// the built-in's defaults (the symbol and the switch always).
fn instance_table(name: &str, kind: &str, table: &ParamTable) -> Result<toml_edit::Table, String> {
    let (_, b) = edit::builtin(kind).map_err(|e| e.message)?;
    let defaults = defaults_of(b);
    let mut t = toml_edit::Table::new();
    t["kind"] = toml_edit::value(kind);
    t["name"] = toml_edit::value(name);
    for (key, value) in table {
        let always = key == "symbol" || key == "enabled";
        if !always && defaults.get(key).is_some_and(|d| same_value(d, value)) {
            continue;
        }
        t[key.as_str()] = toml_edit::value(literal(value, defaults.get(key))?);
    }
    Ok(t)
}

/// `[strategies]` in the document (made when absent).
fn strategies_mut(doc: &mut toml_edit::DocumentMut) -> Result<&mut toml_edit::Table, String> {
    let item = doc.entry("strategies").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    item.as_table_mut()
        .ok_or_else(|| "strategies is not a table in the file".to_string())
}

/// `[strategies.<section>]` in the document (made when absent).
fn section_mut<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    section: &str,
) -> Result<&'a mut toml_edit::Table, String> {
    let strategies = strategies_mut(doc)?;
    let item = strategies
        .entry(section)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    item.as_table_mut()
        .ok_or_else(|| format!("strategies.{section} is not a table in the file"))
}

/// Put `text` in place of `path` (a symlink's target): a new temporary file beside it
/// (its own name, so two writes never share one), with the old file's permissions,
/// synced; the old file copied to `<name>.bak` and synced; then renamed over it (a crash
/// leaves the old file or the new, never half of one).
///
/// The file is read once more just before the rename and must still be `expected`: an
/// edit saved while the new text was made is not overwritten (editors take no lock that
/// pit could share, so this narrows the window to the rename itself).
fn replace_file(path: &Path, text: &str, expected: &str) -> Result<(), String> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.display();
    let path = std::fs::canonicalize(path).map_err(|e| format!("cannot write {name}: {e}"))?;
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.set_permissions(std::fs::metadata(&path)?.permissions())?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        let bak = dir.join(format!("{file_name}.bak"));
        std::fs::copy(&path, &bak)?;
        std::fs::File::open(&bak)?.sync_all()?;
        if std::fs::read_to_string(&path)? != expected {
            return Err(std::io::Error::other(
                "it changed while the new text was made: writing would undo that edit",
            ));
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {name}: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(cfg: &Config) -> Vec<SavedStrategy> {
        let slots = crate::strategy::build(&cfg.strategies, &cfg.instrument_list()).unwrap();
        slots
            .iter()
            .enumerate()
            .map(|(i, s)| SavedStrategy {
                name: s.name.clone(),
                kind: crate::strategy::BUILTINS[s.kind].section.to_string(),
                params: edit::table_text(&s.params),
                instance: !s.is_section(i),
                enabled: s.enabled,
            })
            .collect()
    }

    const FILE: &str = "# my settings\n[[instruments]]\nsymbol = \"BTC-USD\"\ntick_size = 0.1\nlot_size = 0.001\nstart_price = 60000\n\n[[instruments]]\nsymbol = \"ETH-USD\"\ntick_size = 0.01\nlot_size = 0.01\nstart_price = 3000\n\n[strategies.market_maker]\n# wide enough for the fees\nspread_bps = 3\n";

    #[test]
    fn only_the_changed_keys_are_written_and_the_comments_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, FILE).unwrap();
        let cfg = Config::load(&path).unwrap();
        let mut list = saved(&cfg);
        let mut target = Target::read(&path).unwrap();
        // Nothing changed: nothing written.
        let said = write_strategies(&mut target, &list).unwrap();
        assert!(said.contains("nothing written"), "{said}");
        // The spread changed, and a second market maker on ETH-USD, switched off.
        let mut t = edit::table_from_text(&list[0].params).unwrap();
        t.insert("spread_bps".into(), toml::Value::String("4.5".into()));
        list[0].params = edit::table_text(&t);
        let mut eth = t.clone();
        eth.insert("symbol".into(), toml::Value::String("ETH-USD".into()));
        eth.insert("size".into(), toml::Value::String("0.01".into()));
        list.push(SavedStrategy {
            name: "market-maker@ETH-USD".into(),
            kind: "market_maker".into(),
            params: edit::table_text(&eth),
            instance: true,
            enabled: false,
        });
        let said = write_strategies(&mut target, &list).unwrap();
        assert!(said.contains("2 change(s)"), "{said}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my settings\n"), "{text}");
        assert!(
            text.contains("# wide enough for the fees\nspread_bps = 4.5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "[[strategies.instance]]\nkind = \"market_maker\"\nname = \"market-maker@ETH-USD\""
            ),
            "{text}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.toml.bak")).unwrap(),
            FILE
        );
        // It reads back as what runs.
        let back = Config::load(&path).unwrap();
        assert_eq!(
            back.strategies.market_maker.spread_bps,
            rust_decimal::Decimal::new(45, 1)
        );
        let slots = crate::strategy::build(&back.strategies, &back.instrument_list()).unwrap();
        assert_eq!(slots[5].name, "market-maker@ETH-USD");
        assert!(!slots[5].enabled);
        assert_eq!(
            slots[5].strategy.instrument(),
            Some(crate::domain::InstrumentId(1))
        );
        // Written again: nothing to do.
        let said = write_strategies(&mut target, &list).unwrap();
        assert!(said.contains("nothing written"), "{said}");
        // Edited by hand since: not written over.
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("# my settings", "# mine");
        std::fs::write(&path, &edited).unwrap();
        list[0].params = list[0].params.replace("\"4.5\"", "\"5\"");
        let e = write_strategies(&mut target, &list).unwrap_err();
        assert!(e.contains("changed since this run read it"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    }

    #[test]
    fn a_parked_section_switched_on_is_written_with_its_symbol() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        // One instrument, ETH-USD: the off sections (default symbol BTC-USD) are parked on it.
        let text = "[[instruments]]\nsymbol = \"ETH-USD\"\ntick_size = 0.01\nlot_size = 0.001\nstart_price = 3000\n\n[strategies.market_maker]\nsymbol = \"ETH-USD\"\nsize = 0.01\n\n[strategies.imbalance]\nenabled = false\n\n[strategies.exit_manager]\nenabled = false\n";
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(&path).unwrap();
        let mut list = saved(&cfg);
        let orb = list.iter().position(|x| x.kind == "orb").unwrap();
        list[orb].enabled = true;
        let mut t = edit::table_from_text(&list[orb].params).unwrap();
        t.insert("size".into(), toml::Value::String("0.01".into()));
        list[orb].params = edit::table_text(&t);
        let mut target = Target::read(&path).unwrap();
        let said = write_strategies(&mut target, &list).unwrap();
        assert!(said.contains("written"), "{said}");
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.contains("symbol = \"ETH-USD\""), "{written}");
        let back = Config::load(&path).unwrap();
        assert!(back.strategies.orb.enabled);
        assert_eq!(back.strategies.orb.symbol, "ETH-USD");
    }

    #[test]
    fn a_symbol_that_looks_like_a_number_stays_text_and_a_symlink_keeps_pointing() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        let text = "[[instruments]]\nsymbol = \"7203\"\ntick_size = 1\nlot_size = 0.001\nstart_price = 3000\n\n[strategies.market_maker]\nsymbol = \"7203\"\nsize = 1\n\n[strategies.imbalance]\nenabled = false\n[strategies.vwap_revert]\nenabled = false\n[strategies.orb]\nenabled = false\n";
        std::fs::write(&real, text).unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let cfg = Config::load(&link).unwrap();
        let mut list = saved(&cfg);
        let mut t = edit::table_from_text(&list[0].params).unwrap();
        t.insert("spread_bps".into(), toml::Value::String("2".into()));
        list[0].params = edit::table_text(&t);
        list.push(SavedStrategy {
            name: "second".into(),
            kind: "market_maker".into(),
            params: list[0].params.clone(),
            instance: true,
            enabled: false,
        });
        let mut target = Target::read(&link).unwrap();
        let said = write_strategies(&mut target, &list).unwrap();
        assert!(said.contains("2 change(s)"), "{said}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let written = std::fs::read_to_string(&real).unwrap();
        assert!(
            written.contains("symbol = \"7203\"\nsize = 1\nspread_bps = 2"),
            "{written}"
        );
        assert!(
            written.contains(
                "name = \"second\"\nenabled = false\nsize = 1\nspread_bps = 2\nsymbol = \"7203\""
            ),
            "{written}"
        );
    }

    #[test]
    fn a_file_that_does_not_read_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, FILE).unwrap();
        let list = saved(&Config::load(&path).unwrap());
        let broken = format!("{FILE}\n[risk]\nmax_order_qty = \"lots\"\n");
        std::fs::write(&path, &broken).unwrap();
        let mut target = Target::read(&path).unwrap();
        let e = write_strategies(&mut target, &list).unwrap_err();
        assert!(
            e.contains("max_order_qty") && e.contains("fix it first"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }
}
