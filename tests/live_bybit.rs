//! The live Bybit v5 path end to end: the real `pit emulate bybit` and the real
//! `pit run --headless --live` pointed at it (`[live.bybit]` endpoints, an owner-only key
//! file with a known fake secret), never the internet. What a trader would check: the
//! strategies' orders reach the venue and their fills come back; `pit status` agrees with
//! the venue's account and shows the dead-man switch armed; `pit kill` leaves nothing
//! open at the venue; a `kill -9` mid-trading restarts HALTED and reconciles with no lost
//! or doubled fill; a lost answer is resolved by asking (the log says so) with no fill lost
//! or doubled (that the order is never re-sent is the REST client's rule, checked with an
//! exact order count in `tests/emulate_bybit.rs`: the emulator refuses a reused
//! `orderLinkId`, which would hide a re-send here); the secret is nowhere on disk or in any
//! message. Linear perpetuals (`[live] category = "linear"`) likewise: both sides traded
//! (a short is a position), fees in USDT, the kill, a HALTED restart with pit's position
//! equal to the venue's (after a clean stop and after `kill -9`), the flatten sent with
//! Bybit's native `reduceOnly`, and a position moved at the venue behind pit's back
//! alerted, never traded to fix. Modelled on `tests/live_binance.rs`.

mod run_dir;

use run_dir::{logs, wait};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

const API_KEY: &str = "liveTestKey0000000000000000000000000000000000000000000000000042";
/// A fake secret nobody else would write: grepped for everywhere after the runs.
const SECRET: &str = "S3cr3t-liveTest-4f1c9a7e-NEVER-ON-DISK";

#[path = "common/emulator.rs"]
mod emulator;
use emulator::{Emulator, pit};

impl Emulator {
    /// `pit emulate bybit` on an ephemeral port, with this file's key and `extra`.
    fn started(extra: &[&str]) -> Emulator {
        Emulator::start_venue("bybit", API_KEY, SECRET, extra)
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    /// `GET /emulator/state`: balances, orders, trades, faults.
    fn state(&self) -> Value {
        let mut r = Self::agent()
            .get(format!("{}/emulator/state", self.base))
            .call()
            .expect("emulator state");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Inject faults at run time (`POST /emulator/faults`).
    fn faults(&self, spec: &str) {
        let r = Self::agent()
            .post(format!("{}/emulator/faults", self.base))
            .send(spec)
            .expect("post faults");
        assert_eq!(r.status(), 200, "faults {spec}");
    }

    fn open_orders(&self) -> Vec<Value> {
        orders(&self.state())
            .into_iter()
            .filter(|o| matches!(o["status"].as_str(), Some("NEW" | "PARTIALLY_FILLED")))
            .collect()
    }
}

fn orders(state: &Value) -> Vec<Value> {
    state["orders"].as_array().cloned().unwrap_or_default()
}

/// The "Place Order" requests the emulator received per `orderLinkId` that were sent more
/// than once (the emulator refuses a duplicate itself, so its order list alone cannot
/// show pit sending twice; its count of requests can).
fn sent_twice(state: &Value) -> Vec<(String, u64)> {
    let creates = state["bybit_creates"]
        .as_object()
        .expect("the emulator counts creates");
    assert!(!creates.is_empty(), "no creates counted: {state}");
    creates
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, n)| *n != 1)
        .collect()
}

fn trades(state: &Value) -> Vec<Value> {
    state["trades"].as_array().cloned().unwrap_or_default()
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}")),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        _ => panic!("not a decimal: {v}"),
    }
}

/// What pit's orders moved the account's BTC by, from the venue's own trade list: the
/// net BTC traded less the commissions charged in BTC (a buy's fee is taken in the coin
/// bought). pit's position must be this, not the gross traded size.
fn venue_net_btc(state: &Value) -> Decimal {
    trades(state)
        .iter()
        .map(|t| {
            let q = dec(&t["qty"]);
            let fee = if t["commissionAsset"] == "BTC" {
                dec(&t["commission"])
            } else {
                Decimal::ZERO
            };
            if t["isBuyer"].as_bool().unwrap() {
                q - fee
            } else {
                -q - fee
            }
        })
        .sum()
}

/// A test folder: config pointing every endpoint at the emulator, the strategies on
/// BTCUSDT, and the owner-only key file.
fn folder(emu: &Emulator, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("bybit.keys");
    std::fs::write(
        &keys,
        format!("api_key = \"{API_KEY}\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    set_mode(&keys, 0o600);
    let a = &emu.addr;
    let config = format!(
        r#"venue = "bybit"
record = true
[[instruments]]
symbol = "BTCUSDT"
tick_size = 0.1
lot_size = 0.001
[strategies.market_maker]
enabled = true
symbol = "BTCUSDT"
size = 0.001
min_requote_ms = 200
[strategies.imbalance]
enabled = true
symbol = "BTCUSDT"
size = 0.001
min_interval_ms = 500
[strategies.vwap_revert]
symbol = "BTCUSDT"
[strategies.orb]
symbol = "BTCUSDT"
[log]
level = "debug"
[live]
category = "spot"
[live.bybit]
mode = "live"
rest_url = "http://{a}"
ws_private_url = "ws://{a}/v5/private"
key_file = "{keys}"
request_timeout_ms = 1500
{extra}
"#,
        keys = keys.display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A live headless run in `dir`.
struct Run {
    child: Child,
    dir: PathBuf,
}

impl Run {
    fn start(dir: &Path) -> Run {
        Run::start_env(dir, &[])
    }

    fn start_env(dir: &Path, env: &[(&str, String)]) -> Run {
        let child = pit()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .args(["run", "--headless", "--live", "--json"])
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .stdout(std::fs::File::create(dir.join("run.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("run.err")).unwrap())
            .spawn()
            .expect("pit run starts");
        Run {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// `pit status --json`, once the run answers.
    fn status(&self) -> Value {
        let mut last = String::new();
        for _ in 0..500 {
            let out = pit()
                .current_dir(&self.dir)
                .args(["status", "--json"])
                .output()
                .unwrap();
            if out.status.success()
                && let Ok(v) = serde_json::from_slice::<Value>(&out.stdout)
            {
                return v;
            }
            last = format!(
                "{} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if let Ok(Some(st)) = self.child_status() {
                panic!("pit run ended ({st}): {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no status: {last}; {}", self.stderr());
    }

    fn child_status(&self) -> std::io::Result<Option<std::process::ExitStatus>> {
        // `try_wait` needs `&mut`; a zero-signal probe does not reap.
        let alive = unsafe { libc::kill(self.child.id() as i32, 0) } == 0;
        Ok(if alive {
            None
        } else {
            Some(std::process::ExitStatus::default())
        })
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.err")).unwrap_or_default()
    }

    /// Wait for the start's reconciliation to end (new orders allowed again).
    fn reconciled(&self) -> Value {
        let mut s = Value::Null;
        wait(
            "the start's reconciliation",
            Duration::from_secs(30),
            || {
                s = self.status();
                s["exec"]["reconciling"].is_null() && s["exec"]["last_reconcile"].is_string()
            },
        );
        s
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a clean stop (cancels on exit); the JSON summary.
    fn stop(mut self) -> Value {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let st = self.child.wait().unwrap();
        let out = std::fs::read_to_string(self.dir.join("run.out")).unwrap();
        let last = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{e}: exit {st:?}; stdout {out}; stderr {}", self.stderr()))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pit kill --json`: the last JSON reply and the exit code.
fn pit_kill(dir: &Path) -> (Value, Option<i32>) {
    let out = pit()
        .current_dir(dir)
        .args([
            "kill",
            "--json",
            "--timeout",
            "10s",
            "--reason",
            "test kill",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let last = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| panic!("no JSON from pit kill: {text}"));
    (last, out.status.code())
}

fn pit_cmd(dir: &Path, args: &[&str]) -> (Value, Option<i32>) {
    let out = pit().current_dir(dir).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    (v, out.status.code())
}

/// Whether `id` is a client order id of the store whose prefix is `prefix` (6 characters
/// of `[0-9a-z]`), followed by `then` (the run in base 62, `_`, the engine id's head).
fn is_store_id(id: &str, prefix: &str, then: &str) -> bool {
    prefix.len() == 6
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        && id.strip_prefix(prefix).is_some_and(|r| r.starts_with(then))
}

/// The client order ids of the store in `dir` (read once pit has stopped).
fn store_ids(dir: &Path) -> pit::venue::live::ids::VenueIds {
    let store = pit::store::Store::open_existing(&dir.join("data").join("pit.redb")).unwrap();
    pit::venue::live::ids::VenueIds::new(0, pit::setup::stored_id_prefix(&store).unwrap())
}

fn position(status: &Value, symbol: &str) -> Decimal {
    status["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == symbol)
        .map_or(Decimal::ZERO, |p| dec(&p["qty"]))
}

/// Wait until the venue has seen at least `n` of pit's trades.
fn wait_trades(emu: &Emulator, n: usize, limit: Duration) {
    wait(&format!("{n} trades at the venue"), limit, || {
        trades(&emu.state()).len() >= n
    });
}

/// The store's fills and orders, read after the run (CSV export).
fn exported(dir: &Path, what: &str) -> Vec<BTreeMap<String, String>> {
    let out = pit()
        .current_dir(dir)
        .args(["export", &format!("--{what}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pit export {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            head.iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

/// Every file under `dir` (data, logs, recordings, the store, the outputs) searched for
/// the secret, as bytes.
fn assert_secret_nowhere(dir: &Path) {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    let needles: Vec<&[u8]> = vec![SECRET.as_bytes(), &SECRET.as_bytes()[..16]];
    let mut searched = 0;
    for f in files {
        if f.file_name()
            .is_some_and(|n| n == "bybit.keys" || n == "config.toml")
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        searched += 1;
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == *n),
                "the secret is in {}",
                f.display()
            );
        }
    }
    assert!(searched >= 3, "only {searched} files searched");
}

/// Wait until no order of pit's is open at the venue.
fn wait_nothing_open(emu: &Emulator, what: &str) {
    wait(what, Duration::from_secs(30), || {
        emu.open_orders().is_empty()
    });
}

#[test]
fn a_live_run_trades_on_bybit_agrees_with_it_and_pit_kill_cancels_there() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "ACTIVE", "{s}");
    assert_eq!(s["exec"]["venue"], "bybit", "{s}");
    assert_eq!(s["exec"]["network"], "TESTNET");
    wait("connected, DCP armed", Duration::from_secs(20), || {
        let s = run.status();
        s["exec"]["connection"] == "connected" && s["exec"]["dead_man"] == "dead-man 10s armed"
    });
    let dcp = emu.state()["bybit_dcp"].clone();
    assert!(
        dcp.as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| k.ends_with("/dcp.spot") && v["time_window"] == 10 && v["alive"] == 1),
        "{dcp}"
    );
    // `pit status` (text) says it too.
    let out = pit()
        .current_dir(dir.path())
        .args(["status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dead-man 10s armed"), "{text}");

    wait_trades(&emu, 4, Duration::from_secs(60));
    let st = emu.state();
    let ids: Vec<String> = orders(&st)
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.iter().all(|i| is_store_id(i, &ids[0][..6], "1_S")),
        "every order is pit's, this store's prefix, run 1: {ids:?}"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no client id twice");
    assert_eq!(sent_twice(&st), [], "no order sent twice");

    wait(
        "an order resting at the venue",
        Duration::from_secs(30),
        || !emu.open_orders().is_empty(),
    );
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    assert_eq!(k["outcome"], "ok", "{k}");
    assert_eq!(k["gate_open"], false, "{k}");
    assert!(
        k["unresolved"].as_array().unwrap().is_empty(),
        "every cancel resolved by the venue: {k}"
    );
    wait_nothing_open(&emu, "nothing open at Bybit after the kill");

    std::thread::sleep(Duration::from_millis(500));
    let n_orders = orders(&emu.state()).len();
    let st = emu.state();
    let mut s = run.status();
    wait(
        "pit's fills = the venue's trades",
        Duration::from_secs(15),
        || {
            s = run.status();
            s["fills"].as_u64().unwrap() as usize == trades(&st).len()
        },
    );
    assert_eq!(s["trading_state"], "HALTED");
    assert!(s["open_orders"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(
        orders(&emu.state()).len(),
        n_orders,
        "no order after the kill"
    );
    assert_eq!(
        position(&s, "BTCUSDT"),
        venue_net_btc(&st),
        "pit's position is the venue's net traded BTC"
    );
    let venue_fees: Decimal = trades(&st)
        .iter()
        .map(|t| {
            let c = dec(&t["commission"]);
            if t["commissionAsset"] == "BTC" {
                c * dec(&t["price"])
            } else {
                c
            }
        })
        .sum();
    assert_eq!(dec(&s["pnl"]["fees"]), venue_fees, "{s}");

    // `pit reconcile` while the run holds the store: the run reconciles and answers.
    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["agree"], true, "{r}");
    assert_eq!(r["via"], "run", "{r}");
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");

    // With no engine: pit reads Bybit itself and compares it with the store.
    assert!(
        dir.path().join("data/bybit-start.json").exists(),
        "the first live run kept the balances it found"
    );
    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["agree"], true, "{r}");
    let n = trades(&st).len() as u64;
    assert_eq!(r["store_fills"].as_u64(), Some(n), "{r}");
    assert_eq!(r["venue_trades"].as_u64(), Some(n), "{r}");
    assert_eq!(r["venue_open_orders"], 0, "{r}");
    let btc = r["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "BTC")
        .cloned()
        .unwrap_or_else(|| panic!("BTC checked: {r}"));
    assert_eq!(dec(&btc["venue"]), dec(&btc["expected"]), "{r}");
    assert_eq!(
        dec(&btc["position"]),
        venue_net_btc(&st) + dec(&btc["commissions"]),
        "{r}"
    );

    // BTC moved behind pit's back: said, exit 1.
    emu.faults("deposit=BTC:0.5");
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("DIFFERS   balance BTCUSDT") && l.contains("off by 0.5")),
        "{text}"
    );
    assert!(text.contains("bybit TESTNET (http://"), "{text}");
    assert_secret_nowhere(dir.path());
}

/// The emulator's DCP entry of the spot product.
fn spot_dcp(st: &Value) -> Value {
    st["bybit_dcp"]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.ends_with("/dcp.spot")))
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null)
}

/// "Place Order" requests the emulator received, all `orderLinkId`s together.
fn creates(st: &Value) -> u64 {
    st["bybit_creates"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// The engine loop alone hangs (pit's connections to Bybit healthy): Bybit's DCP fires
/// only on a disconnect, so pit closes its private stream while the loop stands still
/// (looked at every third of the window, as the OKX and Kraken refreshers look) and
/// Bybit cancels every order one window later, while the loop is still stuck; nothing new
/// is sent meanwhile; once the loop turns the stream reconnects, DCP is armed again, and
/// pit reconciles (the orders Bybit cancelled closed in pit too), HALTED by the
/// watchdog's kill.
#[test]
fn an_engine_loop_that_hangs_closes_the_private_stream_and_bybits_dcp_cancels_every_order() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let trigger = dir.path().join("stall-now");
    let run = Run::start_env(
        dir.path(),
        &[(
            "PIT_TEST_STALL",
            format!("engine:25000:{}", trigger.display()),
        )],
    );
    run.reconciled();
    wait("connected, DCP armed", Duration::from_secs(20), || {
        let s = run.status();
        s["exec"]["connection"] == "connected" && s["exec"]["dead_man"] == "dead-man 10s armed"
    });
    wait("orders resting at Bybit", Duration::from_secs(60), || {
        !emu.open_orders().is_empty()
    });
    assert_eq!(spot_dcp(&emu.state())["fired_total"], 0);
    std::fs::write(&trigger, "").unwrap();
    wait("the loop stuck", Duration::from_secs(5), || {
        logs(dir.path()).contains("injected stall")
    });
    let stalled = std::time::Instant::now();
    wait(
        "the private stream closed for the stalled loop",
        Duration::from_secs(8),
        || {
            logs(dir.path())
                .lines()
                .any(|l| l.contains("ERROR") && l.contains("engine loop has not turned"))
        },
    );
    let sent = creates(&emu.state());
    wait("Bybit's DCP fired", Duration::from_secs(15), || {
        spot_dcp(&emu.state())["fired_total"] == 1
    });
    assert!(
        stalled.elapsed() < Duration::from_secs(24),
        "while the loop was still stuck: {:?}",
        stalled.elapsed()
    );
    let st = emu.state();
    assert!(
        emu.open_orders().is_empty(),
        "every order cancelled by Bybit"
    );
    assert_eq!(
        creates(&st),
        sent,
        "nothing sent while the loop stood still"
    );
    assert_eq!(spot_dcp(&st)["alive"], 0, "no reconnection meanwhile: {st}");
    assert_eq!(
        unsafe { libc::kill(run.child.id() as i32, 0) },
        0,
        "pit itself is alive: {}",
        run.stderr()
    );
    wait(
        "reconnected, DCP armed again",
        Duration::from_secs(40),
        || {
            let d = spot_dcp(&emu.state());
            d["alive"] == 1 && d["fired"] == false
        },
    );
    let mut s = run.status();
    wait(
        "pit says so, reconciled after the reconnection",
        Duration::from_secs(20),
        || {
            s = run.status();
            s["exec"]["dead_man"] == "dead-man 10s armed"
                && s["exec"]["connection"] == "connected"
                && s["exec"]["reconciling"].is_null()
                && s["exec"]["last_reconcile"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("private stream reconnected"))
        },
    );
    assert_eq!(s["trading_state"], "HALTED", "the watchdog's kill: {s}");
    wait_nothing_open(&emu, "nothing open after the stall");
    let st = emu.state();
    wait(
        "pit's orders closed, its fills = the venue's trades",
        Duration::from_secs(15),
        || {
            s = run.status();
            s["open_orders"].as_array().is_some_and(|o| o.is_empty())
                && s["fills"].as_u64() == Some(trades(&st).len() as u64)
                && position(&s, "BTCUSDT") == venue_net_btc(&st)
        },
    );
    assert_eq!(sent_twice(&st), [], "no order sent twice");
    let text = logs(dir.path());
    assert!(
        text.contains("the engine loop turns again: private stream reconnecting"),
        "the alert that it is back"
    );
    run.stop();
}

#[test]
fn kill_9_mid_trading_restarts_halted_and_reconciles_nothing_lost_nothing_doubled() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    // The issue asks 10 rounds per venue; each round is short (its first order at the
    // venue, then up to 0.8 s of trading) so that ten fit.
    let rounds = 10;
    for round in 0..rounds {
        let run = Run::start(dir.path());
        let s = run.reconciled();
        if round > 0 {
            assert_eq!(s["trading_state"], "HALTED", "round {round}: {s}");
            wait_nothing_open(&emu, "earlier runs' orders closed at the venue");
            let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
            assert_eq!(code, Some(0), "rearm: {r}");
        }
        let before = orders(&emu.state()).len();
        wait(
            "this run's orders at the venue",
            Duration::from_secs(60),
            || orders(&emu.state()).len() > before,
        );
        if round == 0 {
            wait_trades(&emu, 2, Duration::from_secs(60));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..800)));
        run.kill9();
    }
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "HALTED");
    wait_nothing_open(&emu, "every order closed at the venue");
    let st = emu.state();
    let mut s = s;
    wait(
        "pit's position = the venue's",
        Duration::from_secs(15),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == venue_net_btc(&st)
        },
    );
    wait("nothing unresolved", Duration::from_secs(20), || {
        run.status()["exec"]["unresolved"] == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");

    let fills = exported(dir.path(), "fills");
    let venue_trades = trades(&emu.state());
    assert!(venue_trades.len() >= 2);
    assert_eq!(
        fills.len(),
        venue_trades.len(),
        "one stored fill per venue trade"
    );
    let keys: BTreeSet<&String> = fills.iter().map(|f| &f["seq"]).collect();
    assert_eq!(keys.len(), fills.len(), "no trade stored twice");
    let venue_orders = orders(&emu.state());
    let ids: Vec<String> = venue_orders
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "no client order id twice at the venue"
    );
    assert_eq!(sent_twice(&emu.state()), [], "no order sent twice");
    let stored_orders = exported(dir.path(), "orders");
    let ids_of = store_ids(dir.path());
    let stored: BTreeMap<String, &BTreeMap<String, String>> = stored_orders
        .iter()
        .map(|o| {
            let run: u64 = o["run"].parse().unwrap();
            let id = pit::domain::ClientOrderId::new(o["client_id"].as_str());
            (ids_of.of_run(run, &id), o)
        })
        .collect();
    let mut wrong = Vec::new();
    for o in &venue_orders {
        let id = o["clientOrderId"].as_str().unwrap();
        let Some(row) = stored.get(id) else {
            wrong.push(format!("{id}: at the venue, never stored"));
            continue;
        };
        let executed = dec(&o["executedQty"]);
        let filled = Decimal::from_str(&row["filled"]).unwrap();
        if filled != executed || (o["status"] == "FILLED" && row["status"] != "FILLED") {
            wrong.push(format!(
                "{id}: venue {} {executed}, store {} {filled} ({})",
                o["status"], row["status"], row["reason"]
            ));
        }
    }
    assert!(wrong.is_empty(), "store and venue disagree: {wrong:#?}");
    assert_secret_nowhere(dir.path());
}

#[test]
fn a_lost_answer_is_resolved_by_asking_with_no_fill_lost_or_doubled() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    run.reconciled();
    let before = orders(&emu.state()).len();
    wait("orders at the venue", Duration::from_secs(60), || {
        orders(&emu.state()).len() > before
    });
    emu.faults("lose-response=2");
    wait("the lost answers used", Duration::from_secs(60), || {
        emu.state()["faults"]["lose_response"]
            .as_u64()
            .is_none_or(|n| n == 0)
    });
    wait_trades(&emu, 2, Duration::from_secs(60));
    wait("nothing unresolved", Duration::from_secs(30), || {
        run.status()["exec"]["unresolved"] == 0
    });
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    let st = emu.state();
    let ids: Vec<String> = orders(&st)
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "one venue order per client id: {ids:?}"
    );
    assert_eq!(
        sent_twice(&st),
        [],
        "no order sent twice, lost answer or not"
    );
    let mut s = run.status();
    wait(
        "pit's fills = the venue's trades",
        Duration::from_secs(15),
        || {
            s = run.status();
            s["fills"].as_u64().unwrap() as usize == trades(&st).len()
        },
    );
    assert_eq!(position(&s, "BTCUSDT"), venue_net_btc(&st));
    let log = logs(dir.path());
    assert!(
        log.contains("the answer was lost") || log.contains("outcome unknown"),
        "a lost answer was met"
    );
    run.stop();
    assert_secret_nowhere(dir.path());
}

/// `--live` on Bybit runs on its testnet or against the emulator on this machine; real
/// money (spot or linear) is refused before anything connects, with the reason, unless
/// `[live.bybit] real_money = true` says otherwise.
#[test]
fn live_on_bybit_is_refused_on_real_money_spot_and_linear() {
    for (extra, want) in [
        (
            "[live]\ncategory = \"spot\"\n[live.bybit]\nmode = \"live\"\nrest_url = \"https://api-testnet.bybit.com\"\nws_private_url = \"ws://127.0.0.1:1/v5/private\"\n",
            "pit emulate bybit",
        ),
        // Linear on a real host given by hand: refused as spot is (linear runs on the
        // testnet, the default hosts, and on the emulator).
        (
            "[live]\ncategory = \"linear\"\n[live.bybit]\nmode = \"live\"\nrest_url = \"https://api.bybit.com\"\nws_private_url = \"wss://stream.bybit.com/v5/private\"\n",
            "real_money = true",
        ),
        (
            "[live]\ncategory = \"spot\"\n[live.bybit]\nmode = \"live\"\ntestnet = false\n",
            "real_money = true",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let live = if extra.contains("[live.bybit]") {
            ""
        } else {
            "[live.bybit]\nmode = \"live\"\n"
        };
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "venue = \"bybit\"\n[[instruments]]\nsymbol = \"BTCUSDT\"\ntick_size = 0.1\nlot_size = 0.001\n{}{extra}{live}",
                ["market_maker", "imbalance", "vwap_revert", "orb"]
                    .map(|s| format!("[strategies.{s}]\nsymbol = \"BTCUSDT\"\n"))
                    .concat()
            ),
        )
        .unwrap();
        let out = pit()
            .current_dir(dir.path())
            .args(["run", "--headless", "--live", "--for", "1s"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(want), "{extra}: {err}");
    }
}

/// Issue 12, "kill -STOP the process": a whole pit frozen keeps its socket open and sends
/// no ping; Bybit cuts it after the alive time pit asked for (`max_active_time=30s` with a
/// 10 s window) and DCP cancels every order one window later. After SIGCONT pit
/// reconnects and DCP is armed again.
#[test]
fn a_frozen_pit_is_cut_after_its_alive_time_and_bybits_dcp_cancels() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "[risk]\nprice_band_bps = 0\n");
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("enabled = true", "enabled = false");
    std::fs::write(&p, text).unwrap();
    let run = Run::start(dir.path());
    run.reconciled();
    wait("DCP armed", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    // A bid far below the market: it rests, and nothing fills meanwhile.
    manual_limit_buy(dir.path(), 500_000);
    wait("the bid resting at Bybit", Duration::from_secs(20), || {
        !emu.open_orders().is_empty()
    });
    let pid = run.child.id() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let t0 = std::time::Instant::now();
    wait("Bybit's DCP fired", Duration::from_secs(70), || {
        spot_dcp(&emu.state())["fired_total"] == 1
    });
    let took = t0.elapsed();
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(
        took >= Duration::from_secs(30),
        "cut by the alive time (30 s), then the window: {took:?}"
    );
    assert!(
        emu.open_orders().is_empty(),
        "every order cancelled by Bybit"
    );
    wait("DCP armed again", Duration::from_secs(30), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    run.stop();
}

/// A manual GTC limit buy of one lot at `ticks` (0.1 USDT each) on BTCUSDT through the
/// run's control socket.
fn manual_limit_buy(dir: &Path, ticks: i64) {
    use pit::control::client::Client;
    use pit::control::protocol::{Outcome, Request, Role};
    use pit::domain::{InstrumentId, OrderKind, OrderSpec, Price, Qty, Side, TimeInForce};
    use pit::engine::{Command as EngineCommand, ManualOrder};
    let mut admin = Client::connect(&dir.join("data"), Role::Admin).expect("control socket");
    let order = EngineCommand::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Limit,
            price: Some(Price(ticks)),
            qty: Qty(1),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        },
        client_id: None,
    });
    let r = admin
        .call(
            &Request::Command { command: order },
            Duration::from_secs(5),
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.text);
}

/// A folder as [`folder`] with every strategy off: the test trades by hand.
fn quiet_folder(emu: &Emulator) -> tempfile::TempDir {
    let dir = folder(emu, "");
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("enabled = true", "enabled = false");
    std::fs::write(&p, text).unwrap();
    dir
}

/// A manual market buy of `lots` (0.001 BTC each) on BTCUSDT through the run's control
/// socket, as the console's order form sends it.
fn manual_buy(dir: &Path, lots: i64) {
    use pit::control::client::Client;
    use pit::control::protocol::{Outcome, Request, Role};
    use pit::domain::{InstrumentId, OrderKind, OrderSpec, Qty, Side, TimeInForce};
    use pit::engine::{Command as EngineCommand, ManualOrder};
    let mut admin = Client::connect(&dir.join("data"), Role::Admin).expect("control socket");
    let order = EngineCommand::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Market,
            price: None,
            qty: Qty(lots),
            tif: TimeInForce::Ioc,
            reduce_only: false,
        },
        client_id: None,
    });
    let r = admin
        .call(
            &Request::Command { command: order },
            Duration::from_secs(5),
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.text);
}

/// Bybit takes a spot buy's fee in the coin bought ("Spot Fee Currency Instruction"): after
/// a market buy of 0.005 BTC the wallet holds 0.005 less the fee. pit's position is that;
/// the flatten sells it rounded down to the 0.001 step and Bybit accepts it (no 170131,
/// insufficient balance); what is left is dust below the step, and a second flatten sends
/// nothing. The account starts with no BTC, so a sell of the gross 0.005 would be refused.
#[test]
fn a_buys_fee_in_the_coin_bought_is_netted_and_the_flatten_sells_what_the_wallet_holds() {
    let emu = Emulator::started(&["--balances", "BTC=0,USDT=10000"]);
    let dir = quiet_folder(&emu);
    let run = Run::start(dir.path());
    run.reconciled();
    let btc = |st: &Value| {
        let b = &st["balances"]["BTC"];
        dec(&b["free"]) + dec(&b["locked"])
    };

    buy_once_the_book_is_there(&emu, &run, || manual_buy(dir.path(), 5));
    let st = emu.state();
    assert_eq!(trades(&st)[0]["commissionAsset"], "BTC", "{st}");
    let fee = dec(&trades(&st)[0]["commission"]);
    assert!(fee > Decimal::ZERO);
    let held = btc(&st);
    assert_eq!(held, Decimal::new(5, 3) - fee, "the wallet got qty - fee");
    let mut s = run.status();
    wait(
        "pit's position = the wallet",
        Duration::from_secs(10),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == held
        },
    );

    let (f, code) = pit_cmd(dir.path(), &["flatten", "--json"]);
    assert_eq!(code, Some(0), "{f}");
    wait_trades(&emu, 2, Duration::from_secs(20));
    let st = emu.state();
    let sells: Vec<Value> = orders(&st)
        .into_iter()
        .filter(|o| o["side"] == "SELL")
        .collect();
    assert_eq!(sells.len(), 1, "one sell: {sells:?}");
    assert_eq!(sells[0]["status"], "FILLED", "{sells:?}");
    assert_eq!(dec(&sells[0]["executedQty"]), Decimal::new(4, 3));
    let left = btc(&st);
    assert_eq!(left, held - Decimal::new(4, 3));
    assert!(left > Decimal::ZERO && left < Decimal::new(1, 3), "{left}");
    wait(
        "pit's position = the wallet",
        Duration::from_secs(10),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == left
        },
    );
    assert_eq!(position(&s, "BTCUSDT"), venue_net_btc(&st));
    let row = s["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "BTCUSDT")
        .cloned()
        .unwrap();
    assert_eq!(row["dust"], true, "pit status says it is dust: {row}");
    let (f, code) = pit_cmd(dir.path(), &["flatten", "--json"]);
    assert_eq!(code, Some(0), "{f}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(orders(&emu.state()).len(), 2, "no order for the dust");
    run.stop();
    let text = logs(dir.path());
    assert!(text.contains("is dust"), "the dust is said");
    for refused in ["170131", "Insufficient balance", "rejected by"] {
        assert!(!text.contains(refused), "nothing refused: {refused}");
    }
}

/// Send a manual buy until the venue has it: a market order is refused by pit's risk
/// checks (never sent) while the book or the venue's filters are not there yet, so it is
/// sent again only while neither the venue nor pit has any order or fill (no double buy).
fn buy_once_the_book_is_there(emu: &Emulator, run: &Run, buy: impl Fn()) {
    let dir = run.dir.as_path();
    let t0 = std::time::Instant::now();
    let idle = || {
        let s = run.status();
        orders(&emu.state()).is_empty()
            && s["open_orders"].as_array().is_none_or(|o| o.is_empty())
            && s["fills"] == 0
    };
    while idle() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the buy never reached the venue: {}",
            logs(dir)
        );
        buy();
        std::thread::sleep(Duration::from_millis(1000));
    }
    wait_trades(emu, 1, Duration::from_secs(20));
}

/// The emulator's linear position of BTCUSDT (signed), flat when it lists none.
fn venue_position(state: &Value) -> Decimal {
    match &state["positions"]["BTCUSDT"]["size"] {
        Value::Null => Decimal::ZERO,
        v => dec(v),
    }
}

/// pit's position line for BTCUSDT in `pit status` (the linear comparison): (pit's, the
/// venue's).
fn position_line(status: &Value) -> Option<(Decimal, Decimal)> {
    status["exec"]["balances"]
        .as_array()?
        .iter()
        .find(|b| b["asset"] == "BTCUSDT position")
        .map(|b| (dec(&b["expected"]), dec(&b["venue"])))
}

/// [`folder`] trading BTCUSDT linear perpetuals; `quiet`: every strategy off.
fn linear_folder(emu: &Emulator, quiet: bool) -> tempfile::TempDir {
    let dir = folder(emu, "");
    let p = dir.path().join("config.toml");
    let mut text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("category = \"spot\"", "category = \"linear\"");
    if quiet {
        text = text.replace("enabled = true", "enabled = false");
    }
    std::fs::write(&p, text).unwrap();
    dir
}

/// Every strategy switched off through the run's control socket (the store keeps the
/// switches across restarts, so the config alone would not do).
fn strategies_off(dir: &Path) {
    use pit::control::client::Client;
    use pit::control::protocol::{Request, Role};
    use pit::engine::Command as EngineCommand;
    let mut admin = Client::connect(&dir.join("data"), Role::Admin).expect("control socket");
    for id in 0..8u8 {
        // An id with no strategy is refused; every one that exists goes off.
        let _ = admin.call(
            &Request::Command {
                command: EngineCommand::SetStrategy(id, false),
            },
            Duration::from_secs(5),
            |_, _, _| {},
        );
    }
}

/// Linear perpetuals end to end against `pit emulate bybit`: the strategies trade both
/// sides (no BTC is needed to sell: a short is a position, not a balance), the fees are
/// booked in USDT as the venue charged them, `pit kill` leaves nothing open at the venue,
/// a restart comes up HALTED and reconciled with pit's position equal to the venue's;
/// the flatten goes with Bybit's native `reduceOnly` (the emulator's record of what it
/// received); a position moved at the venue behind pit's back raises a critical alert,
/// refuses new orders, and pit sends no order to fix it.
#[test]
fn linear_trades_both_sides_restarts_halted_agrees_flattens_reduce_only_and_alerts_on_a_difference()
{
    let emu = Emulator::started(&[]);
    let dir = linear_folder(&emu, false);
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "ACTIVE", "{s}");
    wait("connected, DCP armed", Duration::from_secs(20), || {
        let s = run.status();
        s["exec"]["connection"] == "connected" && s["exec"]["dead_man"] == "dead-man 10s armed"
    });
    let dcp = emu.state()["bybit_dcp"].clone();
    assert!(
        dcp.as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| k.ends_with("/dcp.future") && v["alive"] == 1),
        "derivatives DCP armed: {dcp}"
    );
    wait_trades(&emu, 6, Duration::from_secs(90));
    wait(
        "an order resting at the venue",
        Duration::from_secs(30),
        || !emu.open_orders().is_empty(),
    );
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    wait_nothing_open(&emu, "nothing open at Bybit after the kill");
    std::thread::sleep(Duration::from_millis(500));
    let st = emu.state();
    assert!(
        trades(&st).iter().any(|t| t["isBuyer"] == true)
            && trades(&st).iter().any(|t| t["isBuyer"] == false),
        "both sides traded: {st}"
    );
    assert!(
        trades(&st).iter().all(|t| t["commissionAsset"] == "USDT"),
        "linear fees in USDT"
    );
    assert_eq!(
        dec(&st["balances"]["BTC"]["free"]) + dec(&st["balances"]["BTC"]["locked"]),
        Decimal::ONE,
        "a linear account's BTC is never touched"
    );
    let mut s = run.status();
    wait(
        "pit's fills = the venue's trades, its position = the venue's",
        Duration::from_secs(15),
        || {
            s = run.status();
            s["fills"].as_u64().unwrap() as usize == trades(&st).len()
                && position(&s, "BTCUSDT") == venue_position(&st)
        },
    );
    assert_eq!(s["trading_state"], "HALTED");
    let venue_fees: Decimal = trades(&st).iter().map(|t| dec(&t["commission"])).sum();
    assert_eq!(dec(&s["pnl"]["fees"]), venue_fees, "{s}");
    assert_eq!(sent_twice(&st), [], "no order sent twice");
    let n_orders = orders(&st).len();
    run.stop();

    // Restart: HALTED, reconciled, positions compared and agreeing; the strategies then
    // switched off, the test trades by hand.
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "HALTED", "{s}");
    strategies_off(dir.path());
    let mut s = s;
    wait("the positions compared", Duration::from_secs(15), || {
        s = run.status();
        position_line(&s).is_some()
    });
    let held = venue_position(&emu.state());
    assert_eq!(position(&s, "BTCUSDT"), held, "store = venue: {s}");
    assert_eq!(position_line(&s), Some((held, held)), "{s}");
    let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
    assert_eq!(code, Some(0), "rearm: {r}");
    // A long to close (a short of exactly 5 lots would be flattened by the buy itself).
    let lots = if held == Decimal::new(-5, 3) { 7 } else { 5 };
    let before = trades(&emu.state()).len();
    manual_buy(dir.path(), lots);
    wait_trades(&emu, before + 1, Duration::from_secs(20));
    wait(
        "pit's position = the venue's",
        Duration::from_secs(10),
        || {
            s = run.status();
            let v = venue_position(&emu.state());
            !v.is_zero() && position(&s, "BTCUSDT") == v
        },
    );
    let (f, code) = pit_cmd(dir.path(), &["flatten", "--json"]);
    assert_eq!(code, Some(0), "{f}");
    wait("flat at the venue", Duration::from_secs(20), || {
        venue_position(&emu.state()).is_zero()
    });
    let st = emu.state();
    let ro = st["bybit_reduce_only"].as_object().unwrap().clone();
    assert_eq!(ro.len(), 1, "the flatten alone is reduce-only: {st}");
    let (link, flag) = ro.iter().next().unwrap();
    assert_eq!(flag["reduceOnly"], true);
    assert_eq!(flag["category"], "linear");
    let o = orders(&st)
        .into_iter()
        .find(|o| o["clientOrderId"] == *link)
        .expect("the flatten's order");
    assert_eq!(o["status"], "FILLED", "{o}");
    wait("pit flat too", Duration::from_secs(10), || {
        s = run.status();
        position(&s, "BTCUSDT").is_zero()
    });
    assert!(orders(&st).len() > n_orders);

    // The venue's position moves behind pit's back: a critical alert, the line differs,
    // new orders refused, and no order is sent to fix it.
    let n_orders = orders(&emu.state()).len();
    let r = Emulator::agent()
        .post(format!("{}/emulator/bybit/position", emu.base))
        .send("BTCUSDT=0.003")
        .unwrap();
    assert_eq!(r.status(), 200);
    let t0 = std::time::Instant::now();
    while position_line(&s) != Some((Decimal::ZERO, Decimal::new(3, 3))) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the difference not shown: {}; {}",
            s["exec"],
            logs(dir.path())
                .lines()
                .filter(|l| l.contains("position"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
        s = run.status();
    }
    wait("a critical alert", Duration::from_secs(5), || {
        logs(dir.path())
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("bybit position BTCUSDT differs"))
    });
    manual_buy(dir.path(), 1);
    std::thread::sleep(Duration::from_millis(3000));
    let after = orders(&emu.state());
    assert_eq!(
        after.len(),
        n_orders,
        "no order sent: neither to fix the difference nor a new one while it stands: {:?}",
        &after[n_orders.min(after.len())..]
    );
    assert_eq!(position(&run.status(), "BTCUSDT"), Decimal::ZERO);
    run.stop();
    // `pit reconcile` with no run reads Bybit itself: the same difference, exit 1.
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("DIFFERS")
            && l.contains("position BTCUSDT")
            && l.contains("the venue holds 0.003")),
        "{text}"
    );
    assert_secret_nowhere(dir.path());
}

/// Linear, `kill -9` mid-trading: every restart comes up HALTED and reconciled, the fills
/// the crash left unstored are applied once, and pit's position (the store's plus those)
/// agrees with the venue's: no false difference is raised.
#[test]
fn linear_kill_9_mid_trading_restarts_with_the_venues_position_and_no_false_difference() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let emu = Emulator::started(&[]);
    let dir = linear_folder(&emu, false);
    for round in 0..4 {
        let run = Run::start(dir.path());
        let s = run.reconciled();
        if round > 0 {
            assert_eq!(s["trading_state"], "HALTED", "round {round}: {s}");
            wait_nothing_open(&emu, "earlier runs' orders closed at the venue");
            let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
            assert_eq!(code, Some(0), "rearm: {r}");
        }
        let before = trades(&emu.state()).len();
        wait_trades(&emu, before + 1, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(rng.random_range(0..800)));
        run.kill9();
    }
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "HALTED");
    wait_nothing_open(&emu, "every order closed at the venue");
    let st = emu.state();
    let v = venue_position(&st);
    let t0 = std::time::Instant::now();
    loop {
        let s = run.status();
        if position(&s, "BTCUSDT") == v && position_line(&s) == Some((v, v)) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "pit's position = the venue's ({v}), compared: not within 20 s. pit's: {}, \
             line: {:?}; exec: {}; venue trades: {}; position logs:\n{}",
            position(&s, "BTCUSDT"),
            position_line(&s),
            s["exec"],
            trades(&st).len(),
            logs(dir.path())
                .lines()
                .filter(|l| l.contains("position") || l.contains("reconcil"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.stop();
    let fills = exported(dir.path(), "fills");
    assert_eq!(
        fills.len(),
        trades(&st).len(),
        "one stored fill per venue trade"
    );
    assert!(
        !logs(dir.path()).contains("bybit position BTCUSDT differs"),
        "no difference raised"
    );
}

/// Linear, strategies re-quoting every 200 ms: Bybit pushes a position message on every
/// create, amend and cancel, not only on fills (the emulator too), which must not put the
/// comparison off: pit's position line follows the venue's within seconds while the
/// strategies keep quoting and filling, with no false difference; a position moved at the
/// venue behind pit's back is still alerted within seconds.
#[test]
fn linear_re_quoting_fast_still_compares_positions_and_alerts_a_real_difference() {
    let emu = Emulator::started(&[]);
    let dir = linear_folder(&emu, false);
    let run = Run::start(dir.path());
    run.reconciled();
    wait_trades(&emu, 3, Duration::from_secs(60));
    // Compared while trading: twice, each time the line catching up with the venue's
    // position within a few seconds.
    for round in 0..2 {
        let before = trades(&emu.state()).len();
        wait_trades(&emu, before + 1, Duration::from_secs(30));
        let t0 = std::time::Instant::now();
        loop {
            let s = run.status();
            let v = venue_position(&emu.state());
            if position_line(&s) == Some((v, v)) && position(&s, "BTCUSDT") == v {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(6),
                "round {round}: the position line not compared within 6 s: {:?} (venue {v}); {}",
                position_line(&s),
                s["exec"]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let st = emu.state();
    assert!(
        orders(&st).len() >= 10,
        "re-quoting: {} orders",
        orders(&st).len()
    );
    assert!(
        !logs(dir.path()).contains("bybit position BTCUSDT differs"),
        "no false difference"
    );
    // Moved behind pit's back while the strategies quote: alerted within seconds.
    let v = venue_position(&emu.state());
    let r = Emulator::agent()
        .post(format!("{}/emulator/bybit/position", emu.base))
        .send(format!("BTCUSDT={}", v + Decimal::new(5, 3)))
        .unwrap();
    assert_eq!(r.status(), 200);
    wait("a critical alert", Duration::from_secs(8), || {
        logs(dir.path())
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("bybit position BTCUSDT differs"))
    });
    // `pit status` shows the line differing (the run's view is published on its own
    // beat: polled).
    wait(
        "the line differs in pit status",
        Duration::from_secs(3),
        || position_line(&run.status()).is_some_and(|(ours, venue)| ours != venue),
    );
    run.stop();
}

/// The hold pit puts on a hedge-mode symbol, word for word.
const HEDGE_HOLD: &str = "Bybit BTCUSDT is in hedge mode; pit trades one-way mode only: switch it in Bybit (Switch Position Mode) and restart";

/// A manual bid far below the market, resting at Bybit: asked again only while pit's
/// checks refuse it before the book is there (never sent then).
fn rest_a_far_bid(emu: &Emulator, dir: &Path) {
    let t0 = std::time::Instant::now();
    while orders(&emu.state()).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", logs(dir));
        manual_limit_buy(dir, 500_000);
        std::thread::sleep(Duration::from_millis(1000));
    }
}

/// A linear symbol in hedge mode at Bybit ("Get Position Info" lists `positionIdx` 1 and
/// 2): pit trades one-way mode only, so the start's reconciliation raises a critical
/// alert and holds new orders with the reason (`pit status`, JSON and text), and nothing
/// new is sent even re-armed; pit never switches the mode. Cancels still go (an earlier
/// run's order left open is cancelled) and the kill switch works.
#[test]
fn a_linear_symbol_in_hedge_mode_holds_new_orders_while_cancels_and_the_kill_still_go() {
    let emu = Emulator::started(&[]);
    let dir = linear_folder(&emu, true);
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p).unwrap() + "[risk]\nprice_band_bps = 0\n";
    std::fs::write(&p, text).unwrap();
    // A first run, one-way, leaves a bid far below the market open (kill -9); sent again
    // only while refused by pit's checks before the book is there (never sent then).
    let run = Run::start(dir.path());
    run.reconciled();
    rest_a_far_bid(&emu, dir.path());
    assert_eq!(emu.open_orders().len(), 1);
    run.kill9();
    // The symbol switched to hedge mode meanwhile (behind the account's back here: Bybit
    // itself refuses the switch while an order is open, 110028).
    let r = Emulator::agent()
        .post(format!("{}/emulator/bybit/position-mode", emu.base))
        .send("BTCUSDT=hedge")
        .unwrap();
    assert_eq!(r.status(), 200);
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["exec"]["holds"], serde_json::json!([HEDGE_HOLD]), "{s}");
    assert!(
        logs(dir.path())
            .lines()
            .any(|l| l.contains("ERROR") && l.contains(HEDGE_HOLD)),
        "a critical alert"
    );
    wait_nothing_open(&emu, "the earlier run's order cancelled: cancels still go");
    let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
    assert_eq!(code, Some(0), "rearm: {r}");
    let sent = creates(&emu.state());
    manual_buy(dir.path(), 1);
    wait("the manual order refused", Duration::from_secs(10), || {
        logs(dir.path()).contains(&format!(
            "rejected by venue: new orders refused: {HEDGE_HOLD}"
        ))
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        creates(&emu.state()),
        sent,
        "nothing sent to a hedge-mode symbol"
    );
    let out = pit()
        .current_dir(dir.path())
        .args(["status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("HELD: {HEDGE_HOLD}")), "{text}");
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "the kill switch still works: {k}");
    assert_eq!(run.status()["trading_state"], "HALTED");
    // A reconciliation (pit reconcile) reads the mode again: it does not agree, still held.
    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_ne!(code, Some(0), "{r}");
    assert!(r.to_string().contains("BTCUSDT is in hedge mode"), "{r}");
    assert_eq!(
        run.status()["exec"]["holds"],
        serde_json::json!([HEDGE_HOLD])
    );
    run.stop();
    // With no run, `pit reconcile` reads the positions itself: the same, a difference.
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("DIFFERS") && l.contains("BTCUSDT is in hedge mode")),
        "{text}"
    );
}

/// `pit run --headless --live` in `dir` that must end by itself within `limit`: its exit
/// code and stderr (killed and failed if it still runs).
fn run_refused(dir: &Path, limit: Duration) -> (Option<i32>, String) {
    let mut child = pit()
        .current_dir(dir)
        .args(["run", "--headless", "--live", "--json"])
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("refused.err")).unwrap())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let err = std::fs::read_to_string(dir.join("refused.err")).unwrap();
            return (st.code(), err);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the run was not refused: it still ran after {limit:?}: {}",
                logs(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A data folder keeps one Bybit category: a linear run leaves an order open (kill -9),
/// then a spot run on the same folder is refused before it asks Bybit anything, with an
/// error naming the folder, both categories and the way out; `pit reconcile` (no run)
/// likewise; the linear order is still open at Bybit (a spot run would have asked the
/// spot lists about it and settled it as not placed). Back on linear, the folder runs and
/// the earlier run's order is cancelled as usual.
#[test]
fn a_folder_that_traded_linear_refuses_a_spot_run_and_its_linear_order_stays_open() {
    let emu = Emulator::started(&[]);
    let dir = linear_folder(&emu, true);
    let p = dir.path().join("config.toml");
    let linear = std::fs::read_to_string(&p).unwrap() + "[risk]\nprice_band_bps = 0\n";
    std::fs::write(&p, &linear).unwrap();
    let run = Run::start(dir.path());
    run.reconciled();
    rest_a_far_bid(&emu, dir.path());
    let link = emu.open_orders()[0]["clientOrderId"].clone();
    run.kill9();

    let spot = linear.replace("category = \"linear\"", "category = \"spot\"");
    assert_ne!(spot, linear);
    std::fs::write(&p, &spot).unwrap();
    let (code, err) = run_refused(dir.path(), Duration::from_secs(30));
    assert_ne!(code, Some(0), "{err}");
    let data = dir.path().join("data");
    for want in [
        format!("data folder {}", data.display()),
        "its store holds Bybit linear orders, fills and positions".to_string(),
        "this run trades Bybit spot".to_string(),
        "Trade spot from a fresh data folder".to_string(),
        "set [live] category = \"linear\" back".to_string(),
    ] {
        assert!(err.contains(&want), "{want}: {err}");
    }
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("this run trades Bybit spot"), "{text}");
    let open = emu.open_orders();
    assert_eq!(open.len(), 1, "the linear order still open at Bybit");
    assert_eq!(open[0]["clientOrderId"], link);

    // Back on linear: the folder runs, and the earlier run's order is cancelled.
    std::fs::write(&p, &linear).unwrap();
    let run = Run::start(dir.path());
    run.reconciled();
    wait_nothing_open(&emu, "the earlier run's linear order cancelled");
    run.stop();
}
