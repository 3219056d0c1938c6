//! The live Binance path end to end: the real `pit emulate binance` and the real
//! `pit run --headless --live` pointed at it (`[live.binance]` endpoints, an owner-only key
//! file with a known fake secret), never the internet. What a trader would check:
//! the strategy's orders reach the venue and its fills come back; `pit status` agrees with
//! the venue's account; `pit kill` leaves nothing open at the venue and says so; a
//! `kill -9` at any moment restarts HALTED and reconciles without a lost or doubled
//! order or fill; injected faults (user stream dropped, 429, 418, clock skew, a lost
//! answer) are survived as Binance's docs say; the secret is nowhere on disk or in any
//! message.

mod pty;
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
    /// `pit emulate binance` on an ephemeral port, with this file's key and `extra`.
    fn started(extra: &[&str]) -> Emulator {
        Emulator::start(API_KEY, SECRET, extra)
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
    let keys = dir.path().join("binance.keys");
    std::fs::write(
        &keys,
        format!("api_key = \"{API_KEY}\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    set_mode(&keys, 0o600);
    let a = &emu.addr;
    let config = format!(
        r#"venue = "binance"
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
# The tests wait for orders resting at the venue: a strategy's loss cooldown (on the
# emulator's market the strategies lose) would hold its quotes for a minute.
[risk]
loss_cooldown_secs = 0
[log]
level = "debug"
[live.binance]
mode = "live"
rest_url = "http://{a}"
ws_url = "ws://{a}"
ws_api_url = "ws://{a}/ws-api/v3"
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
        let child = pit()
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

/// The engine's id of one of pit's venue ids (whatever the store's prefix), while the run
/// holds the store.
fn engine_id_of(venue_id: &str) -> Option<String> {
    use pit::venue::live::ids::{IdOwner, IdPrefix, VenueIds};
    let prefix = IdPrefix {
        prefix: venue_id.get(..6)?.to_string(),
        legacy_before: 0,
    };
    match VenueIds::new(0, prefix).owner(venue_id) {
        IdOwner::ThisRun(id) | IdOwner::EarlierRun { id, .. } => Some(id.as_str().to_string()),
        IdOwner::External => None,
    }
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
            .is_some_and(|n| n == "binance.keys" || n == "config.toml")
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

#[test]
fn a_live_run_trades_on_the_emulator_and_agrees_with_it_then_pit_kill_cancels_at_the_venue() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "ACTIVE", "{s}");
    assert_eq!(s["exec"]["network"], "TESTNET");
    assert_eq!(s["exec"]["connection"], "connected", "{s}");
    assert!(s["exec"]["account"].is_string(), "{s}");

    // The strategies trade at the venue: orders with pit's client ids, fills back.
    wait_trades(&emu, 6, Duration::from_secs(60));
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

    // Wait for resting orders, then the kill.
    wait(
        "an order resting at the venue",
        Duration::from_secs(30),
        || !emu.open_orders().is_empty(),
    );
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    assert_eq!(k["outcome"], "ok", "{k}");
    let data = &k;
    assert_eq!(data["gate_open"], false, "{k}");
    assert!(data["cancels_sent"].as_u64().unwrap() >= 1, "{k}");
    assert!(
        data["unresolved"].as_array().unwrap().is_empty(),
        "every cancel resolved by the venue: {k}"
    );
    // Nothing open at the venue.
    assert!(emu.open_orders().is_empty(), "{:?}", emu.open_orders());
    let confirmed = data["cancelled"].as_u64().unwrap() + data["filled"].as_u64().unwrap();
    assert!(confirmed >= 1, "{k}");

    // Halted: nothing more leaves; pit's books agree with the venue's.
    std::thread::sleep(Duration::from_millis(500));
    let n_orders = orders(&emu.state()).len();
    let s = run.status();
    assert_eq!(s["trading_state"], "HALTED");
    assert!(s["open_orders"].as_array().unwrap().is_empty(), "{s}");
    let st = emu.state();
    assert_eq!(orders(&st).len(), n_orders, "no order after the kill");
    assert_eq!(
        position(&s, "BTCUSDT"),
        venue_net_btc(&st),
        "pit's position is the venue's net traded BTC"
    );
    assert_eq!(
        s["fills"].as_u64().unwrap() as usize,
        trades(&st).len(),
        "one fill per venue trade"
    );
    // Fees: the venue's commissions, in quote (BTC commissions at the trade price).
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
    // The balances moved by exactly what pit traded (net of commissions in BTC), and
    // pit's position is that move.
    let btc = &st["balances"]["BTC"];
    assert_eq!(
        dec(&btc["free"]) + dec(&btc["locked"]),
        Decimal::ONE + venue_net_btc(&st)
    );
    let latency = &s["exec"]["send_to_ack"];
    assert!(latency["samples"].as_u64().unwrap() > 0, "{s}");

    // `pit reconcile` while the run holds the store: the run reconciles and answers.
    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["outcome"], "ok", "{r}");
    assert_eq!(r["agree"], true, "{r}");
    assert_eq!(r["via"], "run", "{r}");
    assert_eq!(r["pid"], s["pid"], "{r}");
    assert!(
        r["summary"]
            .as_str()
            .unwrap_or("")
            .starts_with("pit reconcile: Binance and the store agree"),
        "{r}"
    );
    assert_eq!(
        run.status()["exec"]["reconciles"].as_u64(),
        Some(2),
        "at start, then on demand"
    );

    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
    assert_secret_nowhere(dir.path());
    let text = logs(dir.path());
    assert!(
        text.contains("binance reconciliation"),
        "reconciled at start"
    );
}

/// Wait until no order of pit's is open at the venue.
fn wait_nothing_open(emu: &Emulator, what: &str) {
    wait(what, Duration::from_secs(30), || {
        emu.open_orders().is_empty()
    });
}

#[test]
fn kill_9_at_random_moments_restarts_halted_and_reconciles_nothing_lost_nothing_doubled() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let rounds = 20;
    let mut restarted_halted = 0;
    for round in 0..rounds {
        let run = Run::start(dir.path());
        let s = run.reconciled();
        if round > 0 {
            // A crash restarts HALTED; the reconciliation has asked the venue about
            // every order an earlier run left open (cancelled there, or its fills taken).
            assert_eq!(s["trading_state"], "HALTED", "round {round}: {s}");
            restarted_halted += 1;
            wait_nothing_open(&emu, "earlier runs' orders closed at the venue");
            let (r, code) = pit_cmd(dir.path(), &["rearm", "--yes", "--json"]);
            assert_eq!(code, Some(0), "rearm: {r}");
        }
        // Trading (this run's orders reach the venue; the first round also fills), then
        // kill -9 after a random while, mid-flight.
        let before = orders(&emu.state()).len();
        wait(
            "this run's orders at the venue",
            Duration::from_secs(60),
            || orders(&emu.state()).len() > before,
        );
        if round == 0 {
            wait_trades(&emu, 2, Duration::from_secs(60));
        }
        let ms = rng.random_range(0..1500);
        std::thread::sleep(Duration::from_millis(ms));
        run.kill9();
    }
    assert_eq!(restarted_halted, rounds - 1);
    let traded = trades(&emu.state()).len();
    assert!(traded >= 2, "the rounds traded: {traded} trades");

    // The last restart: reconciled, nothing open, pit and the venue agree exactly.
    let run = Run::start(dir.path());
    let s = run.reconciled();
    assert_eq!(s["trading_state"], "HALTED");
    wait_nothing_open(&emu, "every order closed at the venue");
    // The reconciliation's missed fills arrive through the engine; give them a moment.
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
    // Every earlier order asked about and settled before the stop.
    wait("nothing unresolved", Duration::from_secs(20), || {
        run.status()["exec"]["unresolved"] == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");

    // The store: one fill per venue trade, none twice, none missing.
    let fills = exported(dir.path(), "fills");
    let venue_trades = trades(&emu.state());
    assert_eq!(
        fills.len(),
        venue_trades.len(),
        "one stored fill per venue trade"
    );
    let keys: BTreeSet<&String> = fills.iter().map(|f| &f["seq"]).collect();
    assert_eq!(keys.len(), fills.len(), "no trade stored twice");
    // The venue: every order has a client id pit made, each used once, and each is in
    // pit's store (it left only once recorded).
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
    let unknown: Vec<&String> = ids.iter().filter(|i| !stored.contains_key(*i)).collect();
    assert!(
        unknown.is_empty(),
        "orders at the venue pit never stored: {unknown:?}"
    );
    // No order is marked cancelled in the store that the venue filled, nor with another
    // filled size than the venue's.
    let mut wrong = Vec::new();
    for o in &venue_orders {
        let id = o["clientOrderId"].as_str().unwrap();
        let row = stored[id];
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
fn user_stream_drop_reconnects_and_reconciles() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = Run::start(dir.path());
    run.reconciled();
    wait_trades(&emu, 2, Duration::from_secs(60));
    emu.faults("drop-user-stream");
    wait(
        "the reconnect's reconciliation",
        Duration::from_secs(30),
        || {
            let s = run.status();
            s["exec"]["connection"] == "connected"
                && s["exec"]["reconciling"].is_null()
                && s["exec"]["last_reconcile"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("user data stream reconnected"))
        },
    );
    let text = logs(dir.path());
    assert!(
        text.contains("user data stream lost"),
        "the drop is an alert"
    );
    // Trading goes on, and pit still agrees with the venue.
    let before = trades(&emu.state()).len();
    wait_trades(&emu, before + 2, Duration::from_secs(60));
    let (k, _) = pit_kill(dir.path());
    assert_eq!(k["outcome"], "ok", "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    let st = emu.state();
    let mut s = Value::Null;
    wait(
        "pit's position = the venue's",
        Duration::from_secs(10),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == venue_net_btc(&st)
        },
    );
    assert_eq!(s["fills"].as_u64().unwrap() as usize, trades(&st).len());
    run.stop();
}

#[test]
fn a_429_backs_off_for_retry_after_then_trading_resumes() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    emu.faults("retry-after=4,429=2");
    // Both 429s taken: once pit has read them it holds every request for Retry-After
    // (requests already on their way when the 429 came back may still land: allow
    // them a moment, then watch most of the 4 s).
    wait("the 429s answered", Duration::from_secs(20), || {
        emu.state()["faults"]["rate_limited"] == 0
    });
    std::thread::sleep(Duration::from_millis(800));
    let n0 = orders(&emu.state()).len();
    std::thread::sleep(Duration::from_millis(2000));
    let n1 = orders(&emu.state()).len();
    assert_eq!(n1, n0, "no order sent during the back-off");
    wait(
        "orders again after the back-off",
        Duration::from_secs(20),
        || orders(&emu.state()).len() > n1,
    );
    let text = logs(dir.path());
    assert!(text.contains("HTTP 429"), "the 429 is in the log");
    let s = run.status();
    assert_eq!(s["trading_state"], "ACTIVE", "a 429 does not halt: {s}");
    run.stop();
}

#[test]
fn a_418_stops_every_request_and_halts_with_a_critical_alert() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    emu.faults("418=120");
    let mut s = Value::Null;
    wait("halted for the ban", Duration::from_secs(20), || {
        s = run.status();
        s["trading_state"] == "HALTED"
    });
    assert!(
        s["halt_reason"].as_str().unwrap_or("").contains("418"),
        "{s}"
    );
    assert!(s["exec"]["stopped"].as_str().unwrap_or("").contains("418"));
    let text = logs(dir.path());
    assert!(
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("HTTP 418")),
        "a CRITICAL alert"
    );
    // Nothing more is sent: the venue sees no new order.
    let n0 = orders(&emu.state()).len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(orders(&emu.state()).len(), n0);
    // What the ban left working at the venue is listed as unresolved (pit cannot cancel
    // it), not as cancelled or refused by the venue.
    let s = run.status();
    let unresolved: Vec<String> = s["kill"]["unresolved"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for o in emu.open_orders() {
        let venue_id = o["clientOrderId"].as_str().unwrap_or_default().to_string();
        let engine_id = engine_id_of(&venue_id);
        assert!(
            unresolved.iter().any(|u| Some(u) == engine_id.as_ref()),
            "{venue_id} still open at the venue is listed unresolved: {s}"
        );
    }
    let text = logs(dir.path());
    assert!(
        !text.contains("refused by the venue"),
        "nothing reached the venue"
    );
    run.stop();
}

#[test]
fn a_timestamp_error_measures_the_server_time_again_and_orders_go_on() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    // The venue's clock jumps 8 s ahead: pit's timestamps fall outside recvWindow (5 s).
    emu.faults("clock=8000");
    wait(
        "-1021, then the offset measured again",
        Duration::from_secs(20),
        || logs(dir.path()).contains("-1021, server time measured again"),
    );
    let n0 = orders(&emu.state()).len();
    wait("orders accepted again", Duration::from_secs(20), || {
        orders(&emu.state()).len() > n0 + 2
    });
    let s = run.status();
    assert_eq!(s["trading_state"], "ACTIVE", "{s}");
    run.stop();
}

#[test]
fn a_lost_answer_is_resolved_by_asking_the_venue_never_by_sending_again() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    // The next order's answer is lost; every answer is slow for a while, so the query
    // that resolves it takes a second: meanwhile pit fails closed.
    emu.faults("lose-response=1,slow=1000ms");
    wait("the answer lost", Duration::from_secs(20), || {
        emu.state()["faults"]["lose_response"] == 0
    });
    wait("resolved by query", Duration::from_secs(20), || {
        logs(dir.path()).contains("order resolved by query")
    });
    emu.faults("slow=0");
    let text = logs(dir.path());
    assert!(text.contains("outcome unknown, asking Binance (never re-sent)"));
    assert!(
        text.contains("of unknown outcome: new orders refused"),
        "no new order while the outcome was unknown"
    );
    let mut s = Value::Null;
    wait("nothing unresolved", Duration::from_secs(10), || {
        s = run.status();
        s["exec"]["unresolved"] == 0
    });
    let (k, _) = pit_kill(dir.path());
    assert_eq!(k["outcome"], "ok", "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    let st = emu.state();
    let ids: Vec<String> = orders(&st)
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "exactly one order per client id");
    wait(
        "pit's position = the venue's",
        Duration::from_secs(10),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == venue_net_btc(&st)
        },
    );
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0);
    // Every order pit stored is at the venue, or was rejected (the rejections fold into one
    // counted alert, so the log has a line for the 1st, 2nd, 4th ... only).
    let stored = exported(dir.path(), "orders");
    let _ = rejected_before_sending(dir.path());
    let rejected = stored
        .iter()
        .filter(|o| !ids.contains(&o["client_id"]) && o["status"] == "REJECTED")
        .count();
    assert_eq!(stored.len(), ids.len() + rejected, "{stored:?}");
}

/// Orders the engine recorded that the venue does not list: refused by pit's port
/// (reconciling, an unknown outcome pending, a rate-limit back-off) or by Binance (a
/// LIMIT_MAKER that would take), from the log. None may be a duplicate client id.
fn rejected_before_sending(dir: &Path) -> usize {
    let text = logs(dir);
    assert!(!text.contains("Duplicate order"), "a client id sent twice");
    text.lines()
        .filter(|l| l.contains("rejected by venue"))
        .count()
}

#[test]
fn wrong_keys_are_refused_by_the_venue_and_no_text_shows_them() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    // A group-readable key file is refused before anything starts, naming the file.
    let keys = dir.path().join("binance.keys");
    set_mode(&keys, 0o640);
    let out = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--live", "--for", "2s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("binance.keys") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    // A wrong secret: Binance's -1022 for every signed request; pit trades nothing,
    // says why, and neither the wrong secret nor the right one shows anywhere.
    const WRONG: &str = "Wr0ng-secret-7c2d-NEVER-ON-DISK";
    std::fs::write(
        &keys,
        format!("api_key = \"{API_KEY}\"\nsecret = \"{WRONG}\"\n"),
    )
    .unwrap();
    set_mode(&keys, 0o600);
    let run = Run::start(dir.path());
    let mut s = Value::Null;
    wait(
        "the reconciliation refused",
        Duration::from_secs(30),
        || {
            s = run.status();
            s["exec"]["reconciling"].is_string() && logs(dir.path()).contains("-1022")
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        orders(&emu.state()).is_empty(),
        "nothing placed with a bad key"
    );
    let help = pit().args(["run", "--help"]).output().unwrap();
    run.stop();
    std::fs::remove_file(&keys).unwrap();
    for (name, text) in [
        ("logs", logs(dir.path())),
        (
            "stderr",
            std::fs::read_to_string(dir.path().join("run.err")).unwrap(),
        ),
        ("status", s.to_string()),
        ("help", String::from_utf8_lossy(&help.stdout).to_string()),
    ] {
        assert!(
            !text.contains(WRONG) && !text.contains(SECRET),
            "a secret in {name}"
        );
    }
    assert_secret_nowhere(dir.path());
    let walk = std::process::Command::new("grep")
        .args(["-r", "-l", "-a", WRONG])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        walk.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&walk.stdout)
    );
}

/// The console on a live run, as the trader sees it: the status bar says LIVE and TESTNET; K
/// closes the gate, the cancels reach the emulator (nothing of pit's stays open there)
/// and the HALTED banner says every target was resolved.
#[test]
fn k_in_the_console_of_a_live_run_cancels_at_the_venue_and_the_screen_says_so() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let d = dir.path();
    let xdg_config = d.join("xdg-config");
    let xdg_data = d.join("xdg-data");
    let mut console = pty::Pty::spawn_env(
        &["run", "--live"],
        d,
        120,
        40,
        &[
            ("XDG_CONFIG_HOME", xdg_config.to_str().unwrap()),
            ("XDG_DATA_HOME", xdg_data.to_str().unwrap()),
        ],
    );
    console.wait_for(&["TESTNET"], Duration::from_secs(30));
    // Real orders: the status bar's first word is LIVE (the network follows), never PAPER.
    let screen = console.text();
    let top = screen.lines().next().unwrap_or("");
    assert!(
        top.trim_start().starts_with("LIVE") && !screen.contains("PAPER"),
        "{screen}"
    );
    wait(
        "an order of pit's resting at the venue",
        Duration::from_secs(60),
        || !emu.open_orders().is_empty(),
    );
    console.press(b"K");
    console.wait_for(&["HALTED"], Duration::from_secs(10));
    wait_nothing_open(&emu, "every order cancelled at the venue");
    console.wait_for(&["resolved:"], Duration::from_secs(10));
    // The terminal is redrawn by changed cells: a read in the middle of a redraw can mix
    // the banner's old line with its new one. Read again once the next frame is in.
    std::thread::sleep(Duration::from_millis(300));
    let screen = console.text();
    assert!(screen.contains("trading gate CLOSED"), "{screen}");
    assert!(
        !screen.contains(" open ("),
        "nothing listed unresolved: {screen}"
    );
    let n = orders(&emu.state()).len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(orders(&emu.state()).len(), n, "nothing new after K");
    console.quit();
}

/// The checks every injected fault ends with: nothing of pit's open at the venue after a
/// kill, one order per client id, pit's position the venue's net traded BTC, every fill
/// booked once, and a clean stop.
fn after_the_fault_pit_and_the_venue_agree(emu: &Emulator, dir: &Path, run: Run) {
    let mut s = Value::Null;
    wait("nothing unresolved", Duration::from_secs(20), || {
        s = run.status();
        s["exec"]["unresolved"] == 0
    });
    let (k, _) = pit_kill(dir);
    assert_eq!(k["outcome"], "ok", "{k}");
    wait_nothing_open(emu, "nothing open after the kill");
    let st = emu.state();
    let ids: Vec<String> = orders(&st)
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "exactly one order per client id");
    wait_pit_agrees(&run, &st);
    // The run's own reconciliation agrees, every balance included.
    let (r, code) = pit_cmd(dir, &["reconcile", "--json"]);
    assert_eq!((code, &r["agree"]), (Some(0), &Value::Bool(true)), "{r}");
    assert!(
        balance_lines(&r)
            .values()
            .all(|b| dec(&b["venue"]) == dec(&b["expected"])),
        "{r}"
    );
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
}

/// HTTP 5xx: Binance's docs say the execution status is then UNKNOWN (the emulator
/// executes a new order first, as can happen): pit asks, never re-sends, and the run
/// goes on ACTIVE.
#[test]
fn a_5xx_of_unknown_status_is_resolved_by_asking_never_by_sending_again() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    emu.faults("5xx=3");
    wait("the 5xx answered", Duration::from_secs(20), || {
        emu.state()["faults"]["server_error"] == 0
    });
    wait("orders go on after it", Duration::from_secs(20), || {
        logs(dir.path()).contains("HTTP 503")
    });
    let n = orders(&emu.state()).len();
    wait("trading goes on", Duration::from_secs(30), || {
        orders(&emu.state()).len() > n
    });
    assert_eq!(run.status()["trading_state"], "ACTIVE");
    after_the_fault_pit_and_the_venue_agree(&emu, dir.path(), run);
}

/// Slow answers (1.2 s, inside the 1.5 s request timeout): trading goes on (the acks come
/// first from the user data stream) and no order is sent twice.
#[test]
fn slow_answers_delay_orders_without_doubling_any() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    emu.faults("slow=1200ms");
    let n = orders(&emu.state()).len();
    wait("orders while slow", Duration::from_secs(30), || {
        orders(&emu.state()).len() >= n + 2
    });
    emu.faults("slow=0");
    after_the_fault_pit_and_the_venue_agree(&emu, dir.path(), run);
}

/// Cancels (the market maker's requotes) meet orders half filled just before (the
/// emulator fills half the rest at the order's price, then cancels the remainder): each
/// partial fill is booked once, the order ends cancelled, and pit's position stays the
/// venue's.
#[test]
fn a_partial_fill_during_a_cancel_is_booked_once() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    two_lot_quotes(dir.path());
    let run = trading_run(&emu, dir.path());
    let trades_before = trades(&emu.state()).len();
    emu.faults("partial-fill-on-cancel=3");
    wait(
        "three cancels met a partial fill",
        Duration::from_secs(60),
        || emu.state()["faults"]["partial_fill_on_cancel"] == 0,
    );
    assert!(
        trades(&emu.state()).len() >= trades_before + 3,
        "each of those cancels came after a fill"
    );
    assert_eq!(run.status()["trading_state"], "ACTIVE");
    after_the_fault_pit_and_the_venue_agree(&emu, dir.path(), run);
}

/// The market maker quotes two lots (half of one lot cannot fill).
fn two_lot_quotes(dir: &Path) {
    let config = dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "size = 0.001\nmin_requote_ms",
        "size = 0.002\nmin_requote_ms",
        1,
    );
    assert!(text.contains("size = 0.002"));
    std::fs::write(&config, text).unwrap();
}

/// The kill's cancel-all meets orders half filled just before (the emulator fills half
/// each one's rest, then cancels the remainder): the kill still resolves every target,
/// the fills are booked once, and pit's position is the venue's.
#[test]
fn the_kills_cancel_all_meeting_partial_fills_resolves_and_books_them() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    two_lot_quotes(dir.path());
    let run = trading_run(&emu, dir.path());
    wait(
        "two orders resting at the venue",
        Duration::from_secs(30),
        || emu.open_orders().len() >= 2,
    );
    let trades_before = trades(&emu.state()).len();
    emu.faults("partial-fill-on-cancel=1000");
    let (k, code) = pit_kill(dir.path());
    assert_eq!(code, Some(0), "{k}");
    assert!(
        k["unresolved"].as_array().unwrap().is_empty(),
        "every target resolved: {k}"
    );
    wait_nothing_open(&emu, "nothing open after the kill");
    let st = emu.state();
    assert!(
        trades(&st).len() > trades_before,
        "the cancels met partial fills"
    );
    let s = wait_pit_agrees(&run, &st);
    assert_eq!(s["trading_state"], "HALTED", "{s}");
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
}

/// A live run in `dir`, reconciled, with a first trade at the venue.
fn trading_run(emu: &Emulator, dir: &Path) -> Run {
    let run = Run::start(dir);
    run.reconciled();
    wait_trades(emu, 1, Duration::from_secs(60));
    run
}

/// Wait until pit's position is the venue's net traded BTC and it has one fill per venue
/// trade (`st`: the venue's state); the last status.
fn wait_pit_agrees(run: &Run, st: &Value) -> Value {
    let mut s = Value::Null;
    wait(
        "pit's position = the venue's, one fill per trade",
        Duration::from_secs(10),
        || {
            s = run.status();
            position(&s, "BTCUSDT") == venue_net_btc(st)
                && s["fills"].as_u64() == Some(trades(st).len() as u64)
        },
    );
    s
}

/// The balance lines of a `pit reconcile --json` answer or a status's `exec`, by asset.
fn balance_lines(v: &Value) -> BTreeMap<String, Value> {
    v["balances"]
        .as_array()
        .unwrap_or_else(|| panic!("no balances in {v}"))
        .iter()
        .map(|b| (b["asset"].as_str().unwrap().to_string(), b.clone()))
        .collect()
}

/// Balances while running: after trading, `pit reconcile` through the run compares every
/// asset of BTCUSDT with the balances at the run's start plus its fills (commissions
/// included) and agrees; then 25 USDT leave the account behind pit's back (the emulator's
/// withdrawal, with Binance's `balanceUpdate`): the run reconciles, names USDT and off by
/// how much, in the health figures, an alert and `pit reconcile` (text and JSON, exit 1),
/// and refuses new orders as it does for an order of unknown outcome; once the 25 USDT
/// come back, a reconciliation agrees and trading resumes.
#[test]
fn a_running_reconciliation_compares_balances_and_names_one_moved_behind_pits_back() {
    let emu = Emulator::started(&[]);
    let dir = folder(&emu, "");
    let run = trading_run(&emu, dir.path());
    wait_trades(&emu, 3, Duration::from_secs(60));

    // While trading, a reconciliation can meet an order closing at Binance whose end the
    // stream has not told yet ("not open at Binance: asking for its end"): no agreement
    // that time. Asked again, it agrees.
    let mut r = Value::Null;
    let mut code = None;
    for _ in 0..10 {
        (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
        if code == Some(0)
            || !r["summary"]
                .as_str()
                .unwrap_or("")
                .contains("asking for its end")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["agree"], true, "{r}");
    assert_eq!(r["via"], "run", "{r}");
    let lines = balance_lines(&r);
    for asset in ["BTC", "USDT"] {
        let b = &lines[asset];
        assert_eq!(dec(&b["venue"]), dec(&b["expected"]), "{asset}: {r}");
    }
    assert_ne!(
        dec(&lines["USDT"]["traded"]),
        Decimal::ZERO,
        "the fills moved USDT: {r}"
    );

    emu.faults("withdraw=USDT:25");
    let mut s = Value::Null;
    wait(
        "the run names USDT after the withdrawal",
        Duration::from_secs(30),
        || {
            s = run.status();
            s["exec"]["balances"].as_array().is_some_and(|b| {
                b.iter()
                    .any(|b| b["asset"] == "USDT" && dec(&b["venue"]) != dec(&b["expected"]))
            })
        },
    );
    let usdt = &balance_lines(&s["exec"])["USDT"];
    assert_eq!(
        dec(&usdt["venue"]) - dec(&usdt["expected"]),
        Decimal::from(-25),
        "{s}"
    );
    assert_eq!(s["exec"]["last_reconcile_agrees"], false, "{s}");
    wait("the alert", Duration::from_secs(10), || {
        logs(dir.path()).contains("USDT balance at the venue is")
    });

    // New orders are refused (the market maker's requotes stop), cancels still go.
    let n = orders(&emu.state()).len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        orders(&emu.state()).len(),
        n,
        "no new order while USDT differs"
    );

    let (r, code) = pit_cmd(dir.path(), &["reconcile", "--json"]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["agree"], false, "{r}");
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .contains("USDT balance at the venue is"),
        "{r}"
    );
    assert_eq!(
        dec(&balance_lines(&r)["BTC"]["venue"]),
        dec(&balance_lines(&r)["BTC"]["expected"]),
        "only USDT differs: {r}"
    );
    let out = pit()
        .current_dir(dir.path())
        .args(["reconcile"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("balance   USDT venue") && l.contains(" != ")),
        "{text}"
    );

    // The 25 USDT come back: a reconciliation agrees, and orders leave again.
    emu.faults("deposit=USDT:25");
    wait("the balances agree again", Duration::from_secs(30), || {
        let s = run.status();
        s["exec"]["last_reconcile_agrees"] == true
            && s["exec"]["balances"]
                .as_array()
                .is_some_and(|b| b.iter().all(|b| dec(&b["venue"]) == dec(&b["expected"])))
    });
    wait("trading resumes", Duration::from_secs(30), || {
        orders(&emu.state()).len() > n
    });
    let (k, _) = pit_kill(dir.path());
    assert_eq!(k["outcome"], "ok", "{k}");
    wait_nothing_open(&emu, "nothing open after the kill");
    let summary = run.stop();
    assert_eq!(summary["open_orders_left"], 0, "{summary}");
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

/// A manual market order of `lots` (0.001 BTC each) on BTCUSDT through the run's control
/// socket, as the console's order form sends it.
fn manual_market(dir: &Path, side: pit::domain::Side, lots: i64) {
    use pit::control::client::Client;
    use pit::control::protocol::{Outcome, Request, Role};
    use pit::domain::{InstrumentId, OrderKind, OrderSpec, Qty, TimeInForce};
    use pit::engine::{Command as EngineCommand, ManualOrder};
    let mut admin = Client::connect(&dir.join("data"), Role::Admin).expect("control socket");
    let order = EngineCommand::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side,
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

/// A spot buy's commission is taken in the coin bought (0.1% of 0.005 BTC = 0.000005 BTC):
/// the wallet holds 0.004995. pit's position is that, so the flatten sells what the wallet
/// has, rounded down to the 0.001 step (0.004), Binance accepts it (no -2010), and the
/// 0.000995 left is dust below the step: said, not sent, and a second flatten sends
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

    buy_once_the_book_is_there(&emu, &run, || {
        manual_market(dir.path(), pit::domain::Side::Buy, 5)
    });
    let st = emu.state();
    let fee = dec(&trades(&st)[0]["commission"]);
    assert_eq!(trades(&st)[0]["commissionAsset"], "BTC", "{st}");
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
    // Afterwards pit's position is the account's BTC, and only dust below the step is left.
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
    // A second flatten: nothing to send, the dust stays.
    let (f, code) = pit_cmd(dir.path(), &["flatten", "--json"]);
    assert_eq!(code, Some(0), "{f}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(orders(&emu.state()).len(), 2, "no order for the dust");
    assert_eq!(rejected_before_sending(dir.path()), 0);
    run.stop();
    let text = logs(dir.path());
    assert!(text.contains("is dust"), "the dust is said");
    for refused in ["-2010", "insufficient balance", "REJECTED"] {
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

/// Two data folders on one account (a second pit, or a fresh folder after the old one was
/// lost): both start at run 1, and their engines both number orders from 1. Each store's
/// client ids carry its own random prefix, so the second pit neither takes the first's
/// open orders for its own (run 1) nor cancels them as an earlier run's on its restart
/// (run 2): it says they are not pit's and leaves them. The first pit, restarted, still
/// knows its orders and settles them.
#[test]
fn a_second_data_folder_on_the_same_account_never_adopts_the_firsts_orders() {
    let emu = Emulator::started(&[]);
    let first = folder(&emu, "");
    let run = Run::start(first.path());
    run.reconciled();
    wait(
        "the first pit's quotes open at the venue",
        Duration::from_secs(60),
        || emu.open_orders().len() >= 2,
    );
    run.kill9();
    let theirs: BTreeSet<String> = emu
        .open_orders()
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    assert!(!theirs.is_empty());
    let first_ids = store_ids(first.path());
    for id in &theirs {
        assert!(
            !matches!(
                first_ids.owner(id),
                pit::venue::live::ids::IdOwner::External
            ),
            "{id} is the first store's"
        );
    }
    let status_of = |id: &str| {
        orders(&emu.state())
            .iter()
            .find(|o| o["clientOrderId"] == id)
            .map(|o| o["status"].as_str().unwrap().to_string())
            .unwrap()
    };

    // The second folder, no strategies: its run 1, then a crash and its run 2.
    let second = quiet_folder(&emu);
    let run = Run::start(second.path());
    run.reconciled();
    let open_at_start: Vec<String> = emu
        .open_orders()
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .filter(|id| theirs.contains(id))
        .collect();
    run.kill9();
    let run = Run::start(second.path());
    let s = run.reconciled();
    std::thread::sleep(Duration::from_millis(500));
    let text = logs(second.path());
    assert!(
        !open_at_start.is_empty(),
        "the first pit's orders were open when the second started"
    );
    for id in &open_at_start {
        assert!(
            text.contains(&format!(
                "external order {id} on BTCUSDT (not placed by pit)"
            )),
            "the second pit says {id} is not its own: {text}"
        );
    }
    for id in &theirs {
        assert_ne!(
            status_of(id),
            "CANCELED",
            "the second pit never cancels the first's {id}"
        );
    }
    assert_eq!(s["exec"]["unresolved"], 0, "{s}");
    run.kill9();

    // The first pit's restart knows its run 1's orders and cancels what is still open.
    let run = Run::start(first.path());
    run.reconciled();
    wait(
        "the first pit's earlier orders closed",
        Duration::from_secs(30),
        || {
            emu.open_orders()
                .iter()
                .all(|o| !theirs.contains(o["clientOrderId"].as_str().unwrap()))
        },
    );
    for id in &open_at_start {
        assert!(
            matches!(status_of(id).as_str(), "CANCELED" | "FILLED"),
            "{id}: {}",
            status_of(id)
        );
    }
    run.kill9();
}
