//! `--set key=value` overrides and `--sweep key=a,b,c` grids.
//!
//! Overrides edit the TOML text (keeping its layout, comments and line numbers where the
//! key already exists) before [`Config::parse`], so a bad value is still reported with
//! its key and line.

use crate::config::Config;
use std::path::Path;

/// Parse `key=value`.
pub fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected key=value, got '{s}'")),
    }
}

/// Set dotted `key` to `value` in TOML text. The value is taken as TOML (`2`, `true`,
/// `"x"`, `[1, 2]`) and, when it is not valid TOML, as a string.
pub fn apply_override(text: &str, key: &str, value: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("the config is not valid TOML: {e}"))?;
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("bad key '{key}'"));
    }
    let v: toml_edit::Value = value
        .parse()
        .unwrap_or_else(|_| toml_edit::Value::from(value));
    let (last, path) = parts
        .split_last()
        .ok_or_else(|| format!("bad key '{key}'"))?;
    let mut table = doc.as_table_mut();
    for p in path {
        let item = table.entry(p).or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        });
        table = item
            .as_table_mut()
            .ok_or_else(|| format!("{key}: '{p}' is not a table"))?;
    }
    match table.get_mut(last) {
        Some(item) if item.is_value() => {
            // Keep the comment around the old value.
            let decor = item.as_value().map(|old| old.decor().clone());
            let mut v = v;
            if let Some(d) = decor {
                *v.decor_mut() = d;
            }
            *item = toml_edit::Item::Value(v);
        }
        Some(_) => return Err(format!("{key} is a table, not a value")),
        None => {
            table.insert(last, toml_edit::Item::Value(v));
        }
    }
    Ok(doc.to_string())
}

/// Apply every override, then parse and check the config.
pub fn config_with(
    text: &str,
    path: &Path,
    overrides: &[(String, String)],
) -> anyhow::Result<Config> {
    let mut t = text.to_string();
    for (k, v) in overrides {
        t = apply_override(&t, k, v).map_err(|e| anyhow::anyhow!("--set {k}={v}: {e}"))?;
    }
    Ok(Config::parse(&t, path)?)
}

/// Parse `key=a,b,c` into the key and its values.
pub fn parse_sweep(s: &str) -> Result<(String, Vec<String>), String> {
    let (k, v) = parse_assignment(s)?;
    let vals: Vec<String> = v
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    if vals.is_empty() {
        return Err(format!("--sweep {k}: no values"));
    }
    Ok((k, vals))
}

/// Every combination of the sweeps' values, first key slowest.
pub fn grid(sweeps: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, vals) in sweeps {
        out = out
            .into_iter()
            .flat_map(|combo| {
                vals.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((k.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

/// Run `f` over `items` on every core (std threads pulling from a shared index); results
/// come back in the items' order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_keep_lines_and_report_bad_values_with_key_and_line() {
        let text = "seed = 1\n\n[paper]\n# latency\nlatency_in_ms = 5 # ms\n";
        let t = apply_override(text, "paper.latency_in_ms", "7").unwrap();
        assert_eq!(
            t,
            "seed = 1\n\n[paper]\n# latency\nlatency_in_ms = 7 # ms\n"
        );
        let t = apply_override(&t, "strategies.market_maker.enabled", "false").unwrap();
        let cfg = Config::parse(&t, Path::new("c.toml")).unwrap();
        assert_eq!(cfg.paper.latency_in_ms, 7);
        assert!(!cfg.strategies.market_maker.enabled);
        let e = config_with(
            text,
            Path::new("c.toml"),
            &[("paper.latency_in_ms".into(), "\"soon\"".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.toml:5") && e.contains("latency_in_ms"), "{e}");
        assert!(apply_override(text, "paper.latency_in_ms.x", "1").is_err());
    }

    #[test]
    fn grids_and_parallel_maps_keep_order() {
        let g = grid(&[
            parse_sweep("a=1,2").unwrap(),
            parse_sweep("b=x, y ,z").unwrap(),
        ]);
        assert_eq!(g.len(), 6);
        assert_eq!(
            g[0],
            vec![("a".into(), "1".into()), ("b".into(), "x".into())]
        );
        assert_eq!(
            g[5],
            vec![("a".into(), "2".into()), ("b".into(), "z".into())]
        );
        let v: Vec<u32> = (0..100).collect();
        assert_eq!(
            par_map(&v, |x| x * 2),
            (0..100).map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(parse_sweep("a=").is_err());
        assert!(parse_assignment("=1").is_err());
    }
}
