//! The VWAP mean-reversion and opening-range breakout strategies through the real binary:
//! switched on alone in a backtest of the demo recording and of the shared Binance
//! capture, they place entries and exits, and the same file and config give the same
//! fills every time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `pit backtest FILE --json` with the built-in strategies off and `sets` on top.
fn backtest(file: &Path, sets: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pit"));
    cmd.current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .env_remove("PIT_CONFIG")
        .arg("backtest")
        .arg(file)
        .arg("--json");
    for s in [
        "strategies.market_maker.enabled=false",
        "strategies.imbalance.enabled=false",
        "strategies.exit_manager.enabled=false",
    ]
    .iter()
    .chain(sets)
    {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run pit");
    assert!(
        out.status.success(),
        "pit backtest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

const VWAP: &[&str] = &[
    "strategies.vwap_revert.enabled=true",
    "strategies.vwap_revert.bar_secs=5",
    "strategies.vwap_revert.atr_bars=6",
    "strategies.vwap_revert.max_hold_secs=60",
    "strategies.vwap_revert.cooldown_secs=10",
];

#[test]
fn vwap_reversion_trades_the_demo_and_does_so_the_same_way_twice() {
    let demo = repo("recordings/demo-sim-3m.jsonl.zst");
    let a = backtest(&demo, VWAP);
    let b = backtest(&demo, VWAP);
    // Entries and their exits: an even number of fills at least 2, every position closed.
    assert!(a["orders"].as_u64().unwrap() >= 2, "{a}");
    assert!(a["fills"].as_u64().unwrap() >= 2, "{a}");
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    // Off (the default), nothing trades at all.
    let off = backtest(&demo, &[]);
    assert_eq!(off["orders"], 0, "{off}");
}

#[test]
fn vwap_reversion_sized_from_capital_trades_and_a_budget_below_a_lot_places_nothing() {
    let demo = repo("recordings/demo-sim-3m.jsonl.zst");
    let sized: Vec<&str> = VWAP
        .iter()
        .copied()
        .chain(["strategies.vwap_revert.risk_units=1"])
        .collect();
    let a = backtest(&demo, &sized);
    let b = backtest(&demo, &sized);
    assert!(a["orders"].as_u64().unwrap() >= 2, "{a}");
    assert!(a["fills"].as_u64().unwrap() >= 2, "{a}");
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    // Not the fixed `size` run: the entries are another size.
    let fixed = backtest(&demo, VWAP);
    assert_ne!(a["fill_log_sha256"], fixed["fill_log_sha256"]);
    // A capital of 1: 0.002 of risk over a stop of dollars is far below a lot of 0.001
    // BTC, so every entry is refused before it is placed.
    let tiny: Vec<&str> = sized
        .iter()
        .copied()
        .chain(["sizing.capital_base=1"])
        .collect();
    let t = backtest(&demo, &tiny);
    assert_eq!(
        (t["orders"].as_u64(), t["fills"].as_u64()),
        (Some(0), Some(0)),
        "{t}"
    );
}

#[test]
fn the_opening_range_breakout_takes_one_breakout_and_exits_it() {
    let demo = repo("recordings/demo-sim-3m.jsonl.zst");
    let orb = [
        "strategies.orb.enabled=true",
        "strategies.orb.range_minutes=1",
    ];
    let a = backtest(&demo, &orb);
    // The entry and its exit, nothing more: one attempt a side per session.
    assert_eq!(
        (a["orders"].as_u64(), a["fills"].as_u64()),
        (Some(2), Some(2)),
        "{a}"
    );
    let b = backtest(&demo, &orb);
    assert_eq!(a["fill_log_sha256"], b["fill_log_sha256"]);
    // A session that began two minutes before the recording (joined late, its range
    // would end a minute in): no range, no trade.
    let late = backtest(
        &demo,
        &[
            "strategies.orb.enabled=true",
            "strategies.orb.range_minutes=3",
            "strategies.orb.session_start=\"23:58\"",
        ],
    );
    assert_eq!(late["orders"], 0, "{late}");
}

#[test]
fn both_trade_the_binance_capture_on_its_own_instrument() {
    let dir = match std::env::var_os("PIT_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo("../shared/captures"),
    };
    let c = dir.join("binance-spot-btcusdt-2024-08-08.jsonl");
    if !c.exists() {
        eprintln!("skipped: {} is absent", c.display());
        return;
    }
    let v = backtest(&c, VWAP);
    assert!(v["fills"].as_u64().unwrap() >= 2, "{v}");
    let o = backtest(
        &c,
        &[
            "strategies.orb.enabled=true",
            "strategies.orb.range_minutes=1",
            "strategies.orb.session_start=\"23:55\"",
        ],
    );
    assert_eq!(
        (o["orders"].as_u64(), o["fills"].as_u64()),
        (Some(2), Some(2)),
        "{o}"
    );
}
