//! Modify through the live execution path (issue 15, item 4): the console of a
//! `pit run --live` on the real `pit emulate binance` (never the internet). A manual
//! limit order rests at the venue; `e` moves it: the venue sees the old order cancelled
//! and one new order at the new price (cancel/replace, the replacement only after the
//! cancel), and the console's orders pane shows the replacement naming the old order.
//! (The emulator set-up is a few lines of tests/live_binance.rs, kept apart so the two
//! files move independently.)

mod pty;
mod run_dir;

use run_dir::wait;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const API_KEY: &str = "liveModifyKey000000000000000000000000000000000000000000000000042";
const SECRET: &str = "S3cr3t-liveModify-NEVER-ON-DISK";

#[path = "common/emulator.rs"]
mod emulator;
use emulator::{Emulator, pit};

impl Emulator {
    /// `pit emulate binance` on an ephemeral port, with this file's key.
    fn started() -> Emulator {
        Emulator::start(API_KEY, SECRET, &[])
    }

    /// The emulator's orders (`GET /emulator/state`).
    fn orders(&self) -> Vec<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut r = agent
            .get(format!("http://{}/emulator/state", self.addr))
            .call()
            .expect("emulator state");
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["orders"].as_array().cloned().unwrap_or_default()
    }

    fn open_orders(&self) -> Vec<Value> {
        self.orders()
            .into_iter()
            .filter(|o| matches!(o["status"].as_str(), Some("NEW" | "PARTIALLY_FILLED")))
            .collect()
    }
}

/// A live folder on the emulator, strategies off: only the person trades.
fn folder(emu: &Emulator) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("binance.keys");
    std::fs::write(
        &keys,
        format!("api_key = \"{API_KEY}\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = &emu.addr;
    let config = format!(
        r#"venue = "binance"
[[instruments]]
symbol = "BTCUSDT"
tick_size = 0.1
lot_size = 0.001
[strategies.market_maker]
enabled = false
symbol = "BTCUSDT"
[strategies.imbalance]
enabled = false
symbol = "BTCUSDT"
[strategies.exit_manager]
enabled = false
[strategies.vwap_revert]
symbol = "BTCUSDT"
[strategies.orb]
symbol = "BTCUSDT"
[live.binance]
mode = "live"
rest_url = "http://{a}"
ws_url = "ws://{a}"
ws_api_url = "ws://{a}/ws-api/v3"
key_file = "{keys}"
request_timeout_ms = 1500
"#,
        keys = keys.display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

/// `pit status --json` of the run in `dir`, once it answers.
fn status(dir: &Path) -> Value {
    for _ in 0..500 {
        let out = pit()
            .current_dir(dir)
            .args(["status", "--json"])
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .output()
            .unwrap();
        if out.status.success()
            && let Ok(v) = serde_json::from_slice::<Value>(&out.stdout)
        {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no status from the run in {}", dir.display());
}

/// The form's limit price as the screen shows it (`price  60001.0 LIMIT`).
fn form_price(text: &str) -> rust_decimal::Decimal {
    let line = text
        .lines()
        .find(|l| l.contains(" price ") && l.contains(" LIMIT"))
        .unwrap_or_else(|| panic!("no price in the form:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "LIMIT").expect("LIMIT");
    words[at - 1]
        .trim_end_matches('▏')
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn price_of(o: &Value) -> rust_decimal::Decimal {
    o["price"]
        .as_str()
        .expect("a price")
        .parse::<rust_decimal::Decimal>()
        .expect("a decimal price")
        .normalize()
}

#[test]
fn modify_in_the_console_of_a_live_run_is_a_cancel_then_one_new_order_at_the_venue() {
    let emu = Emulator::started();
    let dir = folder(&emu);
    let d = dir.path();
    let mut console = pty::Pty::spawn(&["run", "--live"], d, 100, 30);
    let wait_s = Duration::from_secs(20);
    console.wait_for(&["TESTNET", "bid ", "ask "], Duration::from_secs(30));
    wait(
        "the start's reconciliation",
        Duration::from_secs(30),
        || {
            let s = status(d);
            s["exec"]["reconciling"].is_null() && s["exec"]["last_reconcile"].is_string()
        },
    );
    // A manual buy 30.0 under the bid: it rests at the venue.
    console.press(b"b");
    console.wait_for(&["Manual BUY", "LIMIT"], wait_s);
    let bid = form_price(&console.text());
    let first = bid - rust_decimal::Decimal::from(30);
    console.press(b"\t");
    console.press(&[0x7f; 12]);
    console.press(format!("{first:.1}").as_bytes());
    console.wait_for(
        &[&format!("{first:.1} LIMIT"), "risk engine: approved"],
        wait_s,
    );
    console.press(b"\r");
    wait("the order rests at the venue", wait_s, || {
        emu.open_orders().len() == 1
    });
    let old = emu.open_orders().remove(0);
    assert_eq!(price_of(&old), first.normalize(), "{old}");
    // Focus the Orders pane; `e`, 10.0 lower; Enter.
    for _ in 0..8 {
        if console.text().contains("▶ Orders") {
            break;
        }
        console.press(b"\t");
        std::thread::sleep(Duration::from_millis(150));
    }
    console.wait_for(&["▶ Orders"], wait_s);
    console.press(b"e");
    console.wait_for(&["Modify M-"], wait_s);
    let moved = first - rust_decimal::Decimal::from(10);
    console.press(&[0x7f; 12]);
    console.press(format!("{moved:.1}").as_bytes());
    console.wait_for(
        &[&format!("{moved:.1} LIMIT"), "risk engine: approved"],
        wait_s,
    );
    console.press(b"\r");
    // At the venue: the old order cancelled, then exactly one new one at the new price.
    wait("the replacement rests at the venue", wait_s, || {
        let open = emu.open_orders();
        open.len() == 1 && open[0]["clientOrderId"] != old["clientOrderId"]
    });
    let orders = emu.orders();
    let old_now = orders
        .iter()
        .find(|o| o["clientOrderId"] == old["clientOrderId"])
        .expect("the old order at the venue");
    assert_eq!(old_now["status"], "CANCELED", "{old_now}");
    assert_eq!(orders.len(), 2, "one cancel, one new order: {orders:?}");
    let new = emu.open_orders().remove(0);
    assert_eq!(price_of(&new), moved.normalize(), "{new}");
    assert_eq!(new["origQty"], old["origQty"], "{new}");
    // The console: the replacement at its price, naming the order it replaced.
    console.wait_for(&[&format!("{moved:.1}"), "←M-"], wait_s);
    console.press(b"K");
    console.wait_for(&["HALTED"], wait_s);
    wait("nothing open after the kill", wait_s, || {
        emu.open_orders().is_empty()
    });
    console.quit();
}
