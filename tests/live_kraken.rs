//! The live Kraken spot path end to end: the real `pit emulate kraken` and the real `pit
//! run --headless --live` pointed at it (`[live.kraken]` endpoints, an owner-only key file
//! with a known fake secret), never the internet. What a trader would check: the
//! strategies' orders reach Kraken and their fills come back into the store; `pit status`
//! shows the dead-man switch armed once Kraken confirmed it; the kill switch (with
//! Kraken's Cancel All Orders) leaves nothing open and no new order leaves; a `kill -9`
//! mid-trading restarts HALTED and reconciles (the store and Kraken's account agree);
//! lost answers, 5xx, rate limits and dropped private streams double no order and lose no
//! fill (the emulator counts the "Add Order" requests per `cl_ord_id`); a pit frozen by
//! SIGSTOP has every order cancelled by Kraken's CancelAllOrdersAfter, which pit arms
//! again after SIGCONT; the secret is nowhere on disk; real money is refused. Modelled on
//! `tests/live_kraken.rs` (its run helpers copied: they live in that test's file).

mod run_dir;

use run_dir::{logs, wait};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::str::FromStr;
use std::time::Duration;

const API_KEY: &str = "krakenLiveTestKey-0000-0042";
/// A fake secret nobody else would write (Kraken's private keys are base64): grepped for
/// after the runs.
const SECRET: &str = "UzNjcjN0LWtyYWtlbkxpdmVUZXN0LTllOGQ3YzZiLU5FVkVSLU9OLURJU0s=";

#[path = "common/emulator.rs"]
mod emulator;
use emulator::{Emulator, pit};

impl Emulator {
    fn kraken(extra: &[&str]) -> Emulator {
        Emulator::start_venue("kraken", API_KEY, SECRET, extra)
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    fn state(&self) -> Value {
        let mut r = Self::agent()
            .get(format!("{}/emulator/state", self.base))
            .call()
            .expect("emulator state");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

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

fn trades(state: &Value) -> Vec<Value> {
    state["trades"].as_array().cloned().unwrap_or_default()
}

/// "Add Order" requests per `cl_ord_id` received more than once.
fn sent_twice(state: &Value) -> Vec<(String, u64)> {
    let places = state["kraken_places"]
        .as_object()
        .expect("the emulator counts places");
    assert!(!places.is_empty(), "no place counted: {state}");
    places
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, n)| *n != 1)
        .collect()
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}")),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        _ => panic!("not a decimal: {v}"),
    }
}

/// The account's BTC moved by pit's trades as Kraken lists them: net traded, less fees
/// charged in BTC.
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

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A test folder: every endpoint at the emulator, the strategies on BTC/USDT, the key
/// file (owner-only).
fn folder(emu: &Emulator, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("kraken.keys");
    std::fs::write(
        &keys,
        format!("api_key = \"{API_KEY}\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    set_mode(&keys, 0o600);
    let a = &emu.addr;
    let config = format!(
        r#"venue = "kraken"
[[instruments]]
symbol = "BTC/USDT"
tick_size = 0.1
lot_size = 0.001
[strategies.market_maker]
enabled = true
symbol = "BTC/USDT"
size = 0.001
min_requote_ms = 200
[strategies.imbalance]
enabled = true
symbol = "BTC/USDT"
size = 0.001
min_interval_ms = 500
[strategies.vwap_revert]
symbol = "BTC/USDT"
[strategies.orb]
symbol = "BTC/USDT"
[log]
level = "debug"
[live.kraken]
mode = "live"
rest_url = "http://{a}"
ws_private_url = "ws://{a}/ws-auth/v2"
key_file = "{keys}"
request_timeout_ms = 1500
dead_man_secs = 10
# The emulator keeps the Pro tier's call counter.
tier = "pro"
{extra}
"#,
        keys = keys.display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

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

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

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
            let alive = unsafe { libc::kill(self.pid(), 0) } == 0;
            if !alive {
                panic!("pit run ended: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no status: {last}; {}", self.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.err")).unwrap_or_default()
    }

    fn reconciled(&self) -> Value {
        let t0 = std::time::Instant::now();
        loop {
            let s = self.status();
            if s["exec"]["reconciling"].is_null() && s["exec"]["last_reconcile"].is_string() {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let log = logs(&self.dir);
                let tail: String = log
                    .lines()
                    .filter(|l| l.contains("kraken"))
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!("the start's reconciliation: not within 30 s: {s}\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn stop(mut self) -> Value {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let st = self.child.wait().unwrap();
        let out = std::fs::read_to_string(self.dir.join("run.out")).unwrap();
        let last = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{e}: exit {st:?}; stdout {out}; stderr {}", self.stderr()))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        unsafe { libc::kill(self.pid(), libc::SIGCONT) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

fn position(status: &Value, symbol: &str) -> Decimal {
    status["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == symbol)
        .map_or(Decimal::ZERO, |p| dec(&p["qty"]))
}

fn wait_trades(emu: &Emulator, n: usize, limit: Duration) {
    wait(&format!("{n} trades at Kraken"), limit, || {
        trades(&emu.state()).len() >= n
    });
}

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

fn assert_secrets_nowhere(dir: &Path) {
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
    let mut searched = 0;
    for f in files {
        if f.file_name()
            .is_some_and(|n| n == "kraken.keys" || n == "config.toml")
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        searched += 1;
        let n = SECRET.as_bytes();
        assert!(
            !bytes.windows(n.len()).any(|w| w == n),
            "the secret is in {}",
            f.display()
        );
    }
    assert!(searched >= 3, "only {searched} files searched");
}

fn wait_nothing_open(emu: &Emulator, what: &str) {
    wait(what, Duration::from_secs(30), || {
        emu.open_orders().is_empty()
    });
}

/// Every order Kraken has is one `clOrdId` sent once, and pit's position is what Kraken's
/// trades moved; with `this_run_only`, the run's fills are Kraken's trades too (after a
/// restart the status counts the new run's fills only: the store is compared instead).
fn assert_agrees(emu: &Emulator, run: &Run, this_run_only: bool) -> Value {
    let st = emu.state();
    let ids: Vec<String> = orders(&st)
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "one order per clOrdId: {ids:?}");
    assert_eq!(sent_twice(&st), [], "no order sent twice");
    let mut s = run.status();
    wait(
        "pit's fills = Kraken's trades",
        Duration::from_secs(20),
        || {
            s = run.status();
            (!this_run_only || s["fills"].as_u64().unwrap() as usize == trades(&st).len())
                && position(&s, "BTC/USDT") == venue_net_btc(&st)
        },
    );
    s
}

#[test]
fn a_live_run_trades_on_kraken_with_the_dead_man_armed_and_the_kill_cancels_there() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "ACTIVE", "{s}");
    assert_eq!(s["exec"]["venue"], "kraken", "{s}");
    assert_eq!(s["exec"]["network"], "LIVE");
    wait("connected, dead-man armed", Duration::from_secs(20), || {
        let s = run.status();
        s["exec"]["connection"] == "connected" && s["exec"]["dead_man"] == "dead-man 10s armed"
    });
    assert_eq!(emu.state()["kraken_cancel_all_after"]["armed"], true);
    let out = pit()
        .current_dir(dir.path())
        .args(["status"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dead-man 10s armed"),
        "pit status says it"
    );

    wait_trades(&emu, 4, Duration::from_secs(60));
    wait(
        "an order resting at Kraken",
        Duration::from_secs(30),
        || !emu.open_orders().is_empty(),
    );
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    assert_eq!(k["outcome"], "ok", "{k}");
    assert_eq!(k["gate_open"], false, "{k}");
    assert!(
        k["unresolved"].as_array().unwrap().is_empty(),
        "every cancel resolved by Kraken: {k}"
    );
    wait_nothing_open(&emu, "nothing open at Kraken after the kill");
    assert!(
        emu.state()["kraken_cancel_all"].as_u64().unwrap() >= 1,
        "the kill sent Kraken's Cancel All Orders"
    );
    let n_orders = orders(&emu.state()).len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        orders(&emu.state()).len(),
        n_orders,
        "no order after the kill"
    );
    let s = assert_agrees(&emu, &run, true);
    assert_eq!(s["trading_state"], "HALTED");
    assert!(s["open_orders"].as_array().unwrap().is_empty(), "{s}");
    // `pit reconcile` asks the running pit, which reconciles with Kraken and agrees.
    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_eq!((code, &r["agree"]), (Some(0), &Value::Bool(true)), "{r}");
    let st = emu.state();
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
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
    // With no run, Kraken cannot be reconciled yet: said, exit 2.
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("on Kraken it asks a running pit"), "{text}");
    let fills = exported(dir.path(), "fills");
    assert_eq!(fills.len(), trades(&st).len(), "every fill in the store");
    assert_secrets_nowhere(dir.path());
}

#[test]
fn kill_9_mid_trading_restarts_halted_and_the_store_and_kraken_agree() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    // The dead-man off: the earlier runs' orders must be closed by pit's restart, not by
    // Kraken's countdown running out meanwhile.
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("dead_man_secs = 10", "dead_man_secs = 0");
    std::fs::write(&p, text).unwrap();
    // The issue's ten rounds, each killed at another moment of its trading.
    for round in 0..10u64 {
        let run = Run::start(dir.path());
        let s = run.reconciled();
        if round > 0 {
            assert_eq!(s["trading_state"], "HALTED", "round {round}: {s}");
            wait_nothing_open(&emu, "earlier runs' orders closed at Kraken");
            let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
            assert_eq!(code, Some(0), "rearm: {r}");
        }
        let before = orders(&emu.state()).len();
        wait(
            "this run's orders at Kraken",
            Duration::from_secs(60),
            || orders(&emu.state()).len() > before + 1,
        );
        if round == 0 {
            wait_trades(&emu, 2, Duration::from_secs(60));
        }
        std::thread::sleep(Duration::from_millis(200 + 170 * (round % 8)));
        run.kill9();
        // Kraken's call counter, as if the restart came after it decayed: a run trading
        // keeps it near its top, and each restart's reconciliation would wait ~8 s for it
        // (that wait is tested on its own; this test is about what a crash leaves).
        let r = Emulator::agent()
            .post(format!("{}/emulator/kraken/counter", emu.base))
            .send("0")
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "HALTED");
    wait_nothing_open(&emu, "every order closed at Kraken");
    wait("nothing unresolved", Duration::from_secs(20), || {
        run.status()["exec"]["unresolved"] == 0
    });
    assert_agrees(&emu, &run, false);
    assert_eq!(
        emu.state()["kraken_cancel_all_after"]["fired"],
        0,
        "pit closed the orders, not Kraken's countdown"
    );
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
    let fills = exported(dir.path(), "fills");
    let venue_trades = trades(&emu.state());
    assert!(venue_trades.len() >= 2);
    assert_eq!(
        fills.len(),
        venue_trades.len(),
        "one stored fill per Kraken trade"
    );
    let keys: BTreeSet<&String> = fills.iter().map(|f| &f["seq"]).collect();
    assert_eq!(keys.len(), fills.len(), "no trade stored twice");
    // Every order Kraken has is in the store with what Kraken says it filled.
    let stored = exported(dir.path(), "orders");
    let store =
        pit::store::Store::open_existing(&dir.path().join("data").join("pit.redb")).unwrap();
    let ids =
        pit::venue::live::ids::VenueIds::new(0, pit::setup::stored_id_prefix(&store).unwrap());
    drop(store);
    let by_cl: BTreeMap<String, &BTreeMap<String, String>> = stored
        .iter()
        .map(|o| {
            let run: u64 = o["run"].parse().unwrap();
            let v = ids.of_run(
                run,
                &pit::domain::ClientOrderId::new(o["client_id"].as_str()),
            );
            (
                pit::venue::exchanges::kraken::trade::wire::to_cl_ord_id(&v).unwrap_or(v),
                o,
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for o in orders(&emu.state()) {
        let cl = o["clientOrderId"].as_str().unwrap();
        let Some(row) = by_cl.get(cl) else {
            wrong.push(format!("{cl}: at Kraken, never stored"));
            continue;
        };
        let executed = dec(&o["executedQty"]);
        let filled = Decimal::from_str(&row["filled"]).unwrap();
        if filled != executed || (o["status"] == "FILLED" && row["status"] != "FILLED") {
            wrong.push(format!(
                "{cl}: Kraken {} {executed}, store {} {filled} ({})",
                o["status"], row["status"], row["reason"]
            ));
        }
    }
    assert!(wrong.is_empty(), "store and Kraken disagree: {wrong:#?}");
    assert_secrets_nowhere(dir.path());
}

#[test]
fn lost_answers_5xx_429_and_dropped_streams_double_no_order_and_lose_no_fill() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    run.reconciled();
    let before = orders(&emu.state()).len();
    wait("orders at Kraken", Duration::from_secs(60), || {
        orders(&emu.state()).len() > before
    });
    for spec in ["lose-response=2", "5xx=3", "429=4", "drop-user-stream"] {
        let trades_before = trades(&emu.state()).len();
        emu.faults(spec);
        if spec != "drop-user-stream" {
            let key = spec.split('=').next().unwrap().replace('-', "_");
            let key = match key.as_str() {
                "5xx" => "server_error".to_string(),
                "429" => "rate_limited".to_string(),
                k => k.to_string(),
            };
            wait(
                &format!("the {spec} fault used"),
                Duration::from_secs(60),
                || emu.state()["faults"][&key].as_u64().is_none_or(|n| n == 0),
            );
        }
        wait_trades(&emu, trades_before + 1, Duration::from_secs(60));
        wait("nothing unresolved", Duration::from_secs(30), || {
            run.status()["exec"]["unresolved"] == 0
        });
    }
    wait(
        "the stream back, reconciled",
        Duration::from_secs(30),
        || {
            let s = run.status();
            s["exec"]["connection"] == "connected" && s["exec"]["reconciling"].is_null()
        },
    );
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    assert_agrees(&emu, &run, true);
    let log = logs(dir.path());
    assert!(
        log.contains("the answer was lost") || log.contains("outcome unknown"),
        "a lost answer was met"
    );
    assert!(
        log.contains("private stream lost"),
        "the dropped stream was met"
    );
    run.stop();
    assert_secrets_nowhere(dir.path());
}

/// A cancel answered 500 that Kraken did not carry out, and the question after it failing
/// too: the order is still live, so the cancel is said refused and the kill sends its
/// cancels again until Kraken has cancelled it (the dead-man is off: only pit's cancels
/// count). The emulator's 5xx hits every endpoint alike, so this cannot tell whether the
/// order's own cancel or the kill's Cancel All (also sent again) closed it; either is the
/// kill doing its job.
#[test]
fn a_kill_cancel_lost_to_5xx_is_sent_again_until_the_order_is_gone() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("dead_man_secs = 10", "dead_man_secs = 0");
    std::fs::write(&p, text).unwrap();
    let run = Run::start(dir.path());
    run.reconciled();
    wait(
        "an order resting at Kraken",
        Duration::from_secs(60),
        || !emu.open_orders().is_empty(),
    );
    // Enough for the kill's cancels, their questions and the pending-order listing.
    emu.faults("5xx=20");
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    assert!(
        k["unresolved"].as_array().unwrap().is_empty(),
        "every cancel resolved within the kill's wait: {k}"
    );
    wait_nothing_open(&emu, "every order cancelled at Kraken after the 5xx");
    assert_eq!(
        emu.state()["kraken_cancel_all_after"]["fired"]
            .as_u64()
            .unwrap_or(0),
        0,
        "Kraken's countdown did not do it"
    );
    let s = run.status();
    assert!(s["open_orders"].as_array().unwrap().is_empty(), "{s}");
    run.stop();
    assert!(
        logs(dir.path()).contains("cancel unconfirmed"),
        "a kill cancel met the 5xx and its question failed too"
    );
}

/// `dead_man_secs = 0` after a run that armed the countdown and died: the countdown it
/// left is disarmed at start (Kraken would otherwise cancel the new run's orders).
#[test]
fn dead_man_off_disarms_a_countdown_an_earlier_run_left() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    run.reconciled();
    wait("dead-man armed", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    run.kill9();
    assert_eq!(emu.state()["kraken_cancel_all_after"]["armed"], true);
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("dead_man_secs = 10", "dead_man_secs = 0");
    std::fs::write(&p, text).unwrap();
    let run = Run::start(dir.path());
    run.reconciled();
    wait(
        "the earlier countdown disarmed",
        Duration::from_secs(8),
        || emu.state()["kraken_cancel_all_after"]["armed"] == false,
    );
    assert_eq!(
        emu.state()["kraken_cancel_all_after"]["fired"],
        0,
        "disarmed, not run out"
    );
    assert_eq!(
        run.status()["exec"]["dead_man"],
        "dead-man off ([live.kraken] dead_man_secs = 0)"
    );
    run.stop();
}

/// Issue 12, "freeze the engine thread": the engine loop alone hangs (pit's connections to
/// Kraken go on, unlike SIGSTOP). The refresher stops refreshing, so Kraken's countdown
/// runs out and Kraken cancels every order while the loop is stuck; once the loop turns
/// again the countdown is armed again, and pit is HALTED by the watchdog.
#[test]
fn an_engine_loop_that_hangs_stops_the_refresh_and_kraken_cancels_every_order() {
    let emu = Emulator::kraken(&[]);
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
    wait("dead-man armed", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    wait("orders resting at Kraken", Duration::from_secs(60), || {
        !emu.open_orders().is_empty()
    });
    assert_eq!(emu.state()["kraken_cancel_all_after"]["fired"], 0);
    std::fs::write(&trigger, "").unwrap();
    let stalled = std::time::Instant::now();
    wait(
        "Kraken's Cancel All After fired",
        Duration::from_secs(22),
        || emu.state()["kraken_cancel_all_after"]["fired"] == 1,
    );
    assert!(
        stalled.elapsed() < Duration::from_secs(24),
        "while the loop was still stuck"
    );
    assert!(
        emu.open_orders().is_empty(),
        "every order cancelled by Kraken"
    );
    assert_eq!(
        unsafe { libc::kill(run.pid(), 0) },
        0,
        "pit itself is alive: {}",
        run.stderr()
    );
    wait("armed again", Duration::from_secs(40), || {
        emu.state()["kraken_cancel_all_after"]["armed"] == true
    });
    wait("pit says so", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    let s = run.status();
    assert_eq!(s["trading_state"], "HALTED", "the watchdog's kill: {s}");
    wait_nothing_open(&emu, "nothing open after the stall");
    assert_agrees(&emu, &run, true);
    run.stop();
}

#[test]
fn a_frozen_pit_has_its_orders_cancelled_by_kraken_and_rearms_after_sigcont() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "[kill_switch]\nengine_stall_ms = 0\n");
    let run = Run::start(dir.path());
    run.reconciled();
    wait("dead-man armed", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    wait("orders resting at Kraken", Duration::from_secs(60), || {
        !emu.open_orders().is_empty()
    });
    assert_eq!(emu.state()["kraken_cancel_all_after"]["fired"], 0);
    unsafe { libc::kill(run.pid(), libc::SIGSTOP) };
    wait(
        "Kraken's Cancel All After fired",
        Duration::from_secs(25),
        || emu.state()["kraken_cancel_all_after"]["fired"] == 1,
    );
    assert!(
        emu.open_orders().is_empty(),
        "every order cancelled by Kraken"
    );
    assert_eq!(emu.state()["kraken_cancel_all_after"]["armed"], false);
    unsafe { libc::kill(run.pid(), libc::SIGCONT) };
    wait("armed again", Duration::from_secs(20), || {
        emu.state()["kraken_cancel_all_after"]["armed"] == true
    });
    wait("pit says so", Duration::from_secs(20), || {
        run.status()["exec"]["dead_man"] == "dead-man 10s armed"
    });
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    assert_agrees(&emu, &run, true);
    run.stop();
}

/// Real money on Kraken (Kraken spot has no test network) is the operator's explicit
/// choice: Kraken's own hosts (no rest_url / ws_private_url) without `real_money = true`
/// are refused before anything connects, with the reason; the emulator is fine.
#[test]
fn live_on_kraken_is_refused_on_real_money() {
    let emu = Emulator::kraken(&[]);
    let dir = folder(&emu, "");
    let p = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(&format!("rest_url = \"http://{}\"\n", emu.addr), "")
        .replace(
            &format!("ws_private_url = \"ws://{}/ws-auth/v2\"\n", emu.addr),
            "",
        );
    std::fs::write(&p, text).unwrap();
    let out = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--live", "--for", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("would trade real money")
            && err.contains("not yet against Kraken's live API")
            && err.contains("real_money = true"),
        "{err}"
    );
}
