//! `pit attach`, as a trader uses it: the full console on an engine that runs without
//! one (headless, or a console whose terminal hung up), several at once; a viewer's
//! commands are refused by the engine with a message on its screen; the operator's `K`
//! halts through the kill path; `q` detaches and the engine goes on; `--ssh` runs the
//! same protocol through the system's `ssh` (here a stand-in that runs the command on
//! this box, so no network is needed).

mod pty;
mod run_dir;

use pty::Pty;
use run_dir::{logs, wait};
use rust_decimal::Decimal;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Each test drives several real processes; one at a time keeps a small, busy machine
/// within the waits below.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn pit(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    c.current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .env_remove("PIT_CONFIG");
    c
}

/// The repo's config in `dir`, with `edit` applied.
fn config_in(dir: &Path, edit: impl Fn(String) -> String) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    std::fs::write(dir.join("config.toml"), edit(text)).unwrap();
}

fn json_of(out: &Output) -> serde_json::Value {
    let s = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {s}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn status(dir: &Path) -> serde_json::Value {
    json_of(&pit(dir).args(["status", "--json"]).output().unwrap())
}

/// A headless run at live pace, stopped (SIGTERM) and reaped on drop.
struct Headless(Child);

impl Headless {
    fn start(dir: &Path) -> Headless {
        let child = pit(dir)
            .args(["run", "--headless", "--for", "1h", "--speed", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let run = Headless(child);
        wait("the engine answers", Duration::from_secs(30), || {
            pit(dir)
                .args(["status", "--json"])
                .output()
                .unwrap()
                .status
                .success()
        });
        run
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pit attach ARGS` in `dir`, up and showing the engine's book.
fn attach(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
    let mut all = vec!["attach"];
    all.extend_from_slice(args);
    let screen = Pty::spawn_env(&all, dir, 120, 40, env);
    screen.wait_for(&["Book BTC-USD", "bid ", "ask "], Duration::from_secs(30));
    screen
}

/// `q`, and the attached console ends with success (no question: it only detaches).
fn detach(screen: &mut Pty) {
    screen.press(b"q");
    let st = screen
        .wait_exit(Duration::from_secs(10))
        .expect("q detaches at once");
    assert!(st.success(), "{st:?}");
}

/// The signed size the Positions pane shows for `symbol` (`BTC-USD +0.001  59996.90 ...`):
/// the word after the symbol, when it is a signed number.
fn shown_qty(screen: &str, symbol: &str) -> Option<Decimal> {
    screen.lines().find_map(|l| {
        let words: Vec<&str> = l
            .split(|c: char| c.is_whitespace() || c == '│' || c == '┃')
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(2).find_map(|w| {
            let n = w[1];
            if w[0] != symbol || !(n.starts_with('+') || n.starts_with('-')) {
                return None;
            }
            Decimal::from_str(n.trim_start_matches('+')).ok()
        })
    })
}

/// The attached console shows the positions `pit status` reports (after a halt, when
/// they no longer move).
fn assert_same_positions(screen: &Pty, dir: &Path) {
    let st = status(dir);
    let text = screen.text();
    let mut seen = 0;
    for p in st["positions"].as_array().unwrap() {
        let qty = Decimal::from_str(p["qty"].as_str().unwrap()).unwrap();
        if qty.is_zero() {
            continue;
        }
        let sym = p["symbol"].as_str().unwrap();
        assert_eq!(
            shown_qty(&text, sym).map(|q| q.normalize()),
            Some(qty.normalize()),
            "{sym} {qty} in pit status; the attached console shows:\n{text}"
        );
        seen += 1;
    }
    eprintln!("{seen} open positions shown as pit status reports them");
}

#[test]
fn a_viewer_is_refused_with_a_message_and_the_operator_halts_with_k() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config_in(d, |t| t);
    let _engine = Headless::start(d);
    let mut viewer = attach(d, &["--view"], &[]);
    viewer.wait_for(&["VIEWER (read-only)", "ACTIVE"], Duration::from_secs(5));
    let mut admin = attach(d, &[], &[]);
    admin.wait_for(&["ATTACHED", "ACTIVE"], Duration::from_secs(5));
    wait("open orders to cancel", Duration::from_secs(20), || {
        !status(d)["open_orders"].as_array().unwrap().is_empty()
    });

    // The viewer's K: refused by the engine, said on the viewer's screen; the gate stays open.
    viewer.press(b"K");
    viewer.wait_for(
        &["kill refused: this connection is a read-only viewer"],
        Duration::from_secs(5),
    );
    // b: the order form's risk preview is a command too.
    viewer.press(b"b");
    viewer.wait_for(
        &["preview refused: this connection is a read-only viewer"],
        Duration::from_secs(5),
    );
    viewer.press(b"\x1b");
    std::thread::sleep(Duration::from_millis(300));
    // c, then y: cancel all, refused.
    wait(
        "the viewer shows open orders",
        Duration::from_secs(10),
        || !status(d)["open_orders"].as_array().unwrap().is_empty(),
    );
    viewer.press(b"c");
    std::thread::sleep(Duration::from_millis(300));
    viewer.press(b"y");
    viewer.wait_for(
        &["cancel-all refused: this connection is a read-only viewer"],
        Duration::from_secs(5),
    );
    let st = status(d);
    assert_eq!(st["trading_state"], "ACTIVE", "{st}");
    assert_eq!(st["gate_open"], true, "{st}");
    assert!(
        logs(d).contains("a viewer's command refused"),
        "the refusals in the engine's log"
    );

    // The operator's K: the kill path, as pit kill takes it.
    admin.press(b"K");
    wait("HALTED in pit status", Duration::from_secs(5), || {
        status(d)["trading_state"] == "HALTED"
    });
    let st = status(d);
    assert_eq!(st["gate_open"], false, "{st}");
    assert_eq!(
        st["halt_reason"], "kill switch pressed (pit attach)",
        "{st}"
    );
    admin.wait_for(
        &["HALTED", "every target resolved"],
        Duration::from_secs(10),
    );
    viewer.wait_for(&["HALTED"], Duration::from_secs(5));
    wait("every order cancelled", Duration::from_secs(10), || {
        status(d)["open_orders"].as_array().unwrap().is_empty()
    });
    assert_same_positions(&admin, d);
    assert_same_positions(&viewer, d);

    // q detaches both; the engine goes on.
    detach(&mut admin);
    detach(&mut viewer);
    let st = status(d);
    assert_eq!(st["trading_state"], "HALTED", "{st}");
}

/// A console run, up and trading, whose terminal then hangs up.
fn console_then_hang_up(d: &Path) -> (Pty, u32) {
    let mut screen = Pty::spawn(&[], d, 120, 40);
    screen.wait_for(
        &["Book BTC-USD", "ACTIVE", "bid ", "ask "],
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(1500)); // the strategies trade a little
    let pid = screen.pid();
    screen.hang_up();
    (screen, pid)
}

#[test]
fn after_a_hang_up_attach_shows_the_running_engine_and_its_k_halts() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config_in(d, |t| t);
    let (mut console, pid) = console_then_hang_up(d);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!console.exited(), "the engine goes on without its terminal");
    let before = status(d);
    assert_eq!(before["pid"], pid, "{before}");
    assert_eq!(before["trading_state"], "ACTIVE", "{before}");

    let mut attached = attach(d, &[], &[]);
    attached.wait_for(&["ATTACHED", "ACTIVE"], Duration::from_secs(5));
    // The orders the engine reports are on the attached screen (the market maker's
    // quotes live long enough to be seen by both within a few tries).
    let t0 = Instant::now();
    loop {
        let ids: Vec<String> = status(d)["open_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        let text = attached.text();
        if !ids.is_empty() && ids.iter().all(|id| text.contains(id.as_str())) {
            eprintln!(
                "the attached console shows the {} open orders pit status reports",
                ids.len()
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the attached console never showed the open orders {ids:?}:\n{text}"
        );
    }
    // The engine's clock goes on under the attached console.
    let t1 = status(d)["engine_time"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1200));
    let t2 = status(d)["engine_time"].as_str().unwrap().to_string();
    assert!(t2 > t1, "{t1} -> {t2}");

    attached.press(b"K");
    wait("HALTED", Duration::from_secs(5), || {
        status(d)["trading_state"] == "HALTED"
    });
    attached.wait_for(&["HALTED"], Duration::from_secs(5));
    wait("every order cancelled", Duration::from_secs(10), || {
        status(d)["open_orders"].as_array().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_same_positions(&attached, d);
    detach(&mut attached);

    // Detached: still running, still halted; SIGTERM stops it in order.
    assert!(!console.exited());
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let st = console
        .wait_exit(Duration::from_secs(20))
        .expect("stops on SIGTERM");
    assert!(st.success(), "{st:?}");
    assert!(d.join("data/clean-exit").exists());
}

#[test]
fn with_on_hangup_pause_a_hang_up_pauses_the_engine_which_goes_on() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config_in(d, |t| {
        t.replace("on_hangup = \"keep-running\"", "on_hangup = \"pause\"")
    });
    let (mut console, pid) = console_then_hang_up(d);
    let t0 = Instant::now();
    while status(d)["trading_state"] != "PAUSED" {
        if t0.elapsed() > Duration::from_secs(10) {
            let log = logs(d);
            panic!(
                "not PAUSED within 10 s of the hang-up; {}\nthe log ends:\n{}",
                console.threads(),
                &log[log.len().saturating_sub(4000)..]
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!console.exited(), "the engine goes on, paused");
    let t1 = status(d)["engine_time"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1200));
    let t2 = status(d)["engine_time"].as_str().unwrap().to_string();
    assert!(t2 > t1, "the engine's clock goes on: {t1} -> {t2}");
    wait(
        "the pause alert in the log",
        Duration::from_secs(10),
        || logs(d).contains("paused (console.on_hangup = pause)"),
    );
    let mut attached = attach(d, &[], &[]);
    attached.wait_for(&["PAUSED"], Duration::from_secs(5));
    attached.press(b"K");
    wait("HALTED", Duration::from_secs(5), || {
        status(d)["trading_state"] == "HALTED"
    });
    detach(&mut attached);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    assert!(console.wait_exit(Duration::from_secs(20)).is_some());
}

#[test]
fn attach_over_ssh_runs_the_system_ssh_with_the_remote_proxy() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // The engine runs in a folder whose name needs quoting for the remote shell.
    let run = dir.path().join("the run");
    std::fs::create_dir(&run).unwrap();
    config_in(&run, |t| t);
    let _engine = Headless::start(&run);

    // A stand-in for ssh: records its arguments, then runs the remote command here, as
    // the remote shell would (the command is the last argument).
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let argv = dir.path().join("ssh-argv");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\nfor a in \"$@\"; do last=\"$a\"; done\nexec sh -c \"$last\"\n",
        argv.display()
    );
    let ssh = bin.join("ssh");
    std::fs::write(&ssh, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pit"), bin.join("pit")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Attach from another folder (no engine there).
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run_s = run.to_str().unwrap();
    let mut remote = attach(
        &elsewhere,
        &["--ssh", "trader@far-box", "--dir", run_s],
        &[("PATH", &path)],
    );
    remote.wait_for(&["ATTACHED", "ACTIVE"], Duration::from_secs(5));
    let args: Vec<String> = std::fs::read_to_string(&argv)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        args,
        [
            "-T".to_string(),
            "-e".into(),
            "none".into(),
            "trader@far-box".into(),
            format!("pit control-proxy --dir '{run_s}'"),
        ]
    );
    remote.press(b"K");
    wait("HALTED through ssh", Duration::from_secs(5), || {
        status(&run)["trading_state"] == "HALTED"
    });
    remote.wait_for(&["HALTED"], Duration::from_secs(5));
    detach(&mut remote);
    assert_eq!(status(&run)["trading_state"], "HALTED");

    // No engine at the far end: a clear message, exit 2, before the terminal is taken.
    let none = dir.path().join("no engine here");
    std::fs::create_dir(&none).unwrap();
    let out = pit(&elsewhere)
        .args(["control-proxy", "--dir", none.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No engine running in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The report view of an attached console (a viewer too: reading is no command) comes
/// from the engine, which holds the store: the same figures `pit report` gives once the
/// run has stopped, never "run it later".
#[test]
fn an_attached_viewer_opens_the_report_the_engine_reads_from_its_store() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config_in(d, |t| t);
    let _engine = Headless::start(d);
    let mut viewer = attach(d, &["--view"], &[]);
    viewer.wait_for(&["VIEWER (read-only)", "ACTIVE"], Duration::from_secs(5));
    viewer.press(b"r");
    viewer.wait_for(
        &["PnL report", "net PnL", "win rate", "PnL by day"],
        Duration::from_secs(10),
    );
    let text = viewer.text();
    assert!(
        !text.contains("pit report"),
        "no 'run pit report later': {text}"
    );
    viewer.press(b"\x1b");
    std::thread::sleep(Duration::from_millis(300)); // a lone Esc, not Alt-q
    detach(&mut viewer);
}
